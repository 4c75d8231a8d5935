"""LogLLM as a transformers model: config, processor, model, ready-made presets.

Imported lazily: `logllm.modeling.masking_logllm` (the regex masker) is pure standard library, so the
data tools can use it without loading torch; the model classes load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "LogLLMConfig": "configuration_logllm",
    "LogLLMForAnomalyDetection": "modeling_logllm",
    "LogLLMModel": "modeling_logllm",
    "LogLLMOutput": "modeling_logllm",
    "LogLLMPreTrainedModel": "modeling_logllm",
    "LogLLMProjector": "modeling_logllm",
    "LogLLMProcessor": "processing_logllm",
}
_registered = False

if TYPE_CHECKING:  # pragma: no cover
    from .configuration_logllm import LogLLMConfig
    from .modeling_logllm import LogLLMForAnomalyDetection, LogLLMOutput, LogLLMPreTrainedModel, LogLLMProjector
    from .processing_logllm import LogLLMProcessor


def _register() -> None:
    """With this package imported, the Auto classes know "logllm" without remote code."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel, AutoProcessor

    from .configuration_logllm import LogLLMConfig
    from .modeling_logllm import LogLLMForAnomalyDetection
    from .processing_logllm import LogLLMProcessor

    AutoConfig.register("logllm", LogLLMConfig, exist_ok=True)
    AutoModel.register(LogLLMConfig, LogLLMForAnomalyDetection, exist_ok=True)
    AutoProcessor.register(LogLLMConfig, LogLLMProcessor, exist_ok=True)
    _registered = True


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        _register()
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
