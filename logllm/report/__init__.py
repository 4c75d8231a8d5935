"""logllm/report"""
