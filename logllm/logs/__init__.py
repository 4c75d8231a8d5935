"""logllm/logs"""
