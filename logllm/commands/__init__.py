"""logllm/commands"""
