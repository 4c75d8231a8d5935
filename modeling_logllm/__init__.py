"""LogLLM as a transformers model: config, processor, model, ready-made presets."""

from transformers import AutoConfig, AutoModel, AutoProcessor

from .configuration_logllm import LogLLMConfig
from .modeling_logllm import LogLLMForAnomalyDetection, LogLLMOutput, LogLLMPreTrainedModel, LogLLMProjector
from .processing_logllm import LogLLMProcessor

# Local registration: with this package imported, the Auto classes know "logllm" without remote code.
AutoConfig.register("logllm", LogLLMConfig, exist_ok=True)
AutoModel.register(LogLLMConfig, LogLLMForAnomalyDetection, exist_ok=True)
AutoProcessor.register(LogLLMConfig, LogLLMProcessor, exist_ok=True)

__all__ = [
    "LogLLMConfig",
    "LogLLMForAnomalyDetection",
    "LogLLMOutput",
    "LogLLMPreTrainedModel",
    "LogLLMProcessor",
    "LogLLMProjector",
]
