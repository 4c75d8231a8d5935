"""logllm/training"""
