"""logllm/scoring"""
