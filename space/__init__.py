"""The Gradio demo / Hugging Face Space (`logllm serve`); see space/README.md."""
