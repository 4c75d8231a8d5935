"""Training scripts and YAML recipes (installed as `logllm.train`)."""
