"""The Gradio demo / Hugging Face Space (`logllm serve`; installed as `logllm.space`); see space/README.md."""
