"""logllm/windows"""
