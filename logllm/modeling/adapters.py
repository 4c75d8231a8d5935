"""LoRA / QLoRA for LogLLM (paper defaults: decoder r=8, alpha=16 on q/v; encoder r=4, alpha=32).

Not a modeling file: it is not shipped to the Hub; it wraps a model with `peft`.
- `apply_lora(model)` -> `PeftModel`; `save_pretrained` on it writes the adapters (+ projector) only.
- `load_quantized(path, bits=4)` loads a saved LogLLM with NF4 (or 8-bit) base weights through
  `BitsAndBytesConfig`; bitsandbytes >= 0.45 runs NF4 on CPU as well as CUDA.
- `merge_lora(peft_model)` folds the adapters in for deployment (`merge_and_unload`).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

DECODER_TARGETS = r"model\.decoder\..*\.(q_proj|v_proj)"
ENCODER_TARGETS = r"model\.encoder\..*\.(query|value)"


def is_bitsandbytes_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def lora_config(
    decoder_r: int = 8,
    decoder_alpha: int = 16,
    encoder_r: int = 4,
    encoder_alpha: int = 32,
    dropout: float = 0.05,
    lora_encoder: bool = True,
    lora_decoder: bool = True,
):
    """A `LoraConfig` with per-part ranks; the projector is trained fully (`modules_to_save`)."""
    from peft import LoraConfig

    targets = [t for t, on in ((DECODER_TARGETS, lora_decoder), (ENCODER_TARGETS, lora_encoder)) if on]
    if not targets:
        raise ValueError("LoRA needs the encoder, the decoder or both")
    return LoraConfig(
        r=decoder_r,
        lora_alpha=decoder_alpha,
        lora_dropout=dropout,
        target_modules="^(" + "|".join(targets) + ")$",
        rank_pattern={ENCODER_TARGETS: encoder_r},
        alpha_pattern={ENCODER_TARGETS: encoder_alpha},
        modules_to_save=["projector"],
    )


def apply_lora(model, config=None, **kwargs: Any):
    """Wrap `model` with LoRA adapters (paper defaults unless `config`/kwargs say otherwise)."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_model = get_peft_model(model, config or lora_config(**kwargs))
    return peft_model


def merge_lora(peft_model):
    """Fold the adapters into the base weights; returns a plain `LogLLMForAnomalyDetection`."""
    return peft_model.merge_and_unload()


def quantization_config(bits: int = 4, compute_dtype: torch.dtype = torch.float32, quantize_encoder: bool = False):
    """`BitsAndBytesConfig` for NF4 (bits=4) or int8; keeps lm_head, projector and pooler unquantised."""
    if not is_bitsandbytes_available():
        raise ImportError("4-/8-bit loading needs bitsandbytes: pip install 'logllm[qlora]' (bitsandbytes>=0.45)")
    from transformers import BitsAndBytesConfig

    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    # llm_int8_skip_modules replaces the default list, so lm_head must be named too
    skip = ["lm_head", "model.projector", "model.line_pooler", "pooler"] + ([] if quantize_encoder else ["model.encoder"])
    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=True,
            llm_int8_skip_modules=skip,
        )
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)


def load_quantized(path: str | Path, bits: int = 4, quantize_encoder: bool = False, **kwargs: Any):
    """Load a saved LogLLM with quantised base weights (decoder; encoder too if asked)."""
    from logllm.modeling.modeling_logllm import LogLLMForAnomalyDetection

    config = quantization_config(bits, quantize_encoder=quantize_encoder)
    return LogLLMForAnomalyDetection.from_pretrained(str(path), quantization_config=config, **kwargs)


__all__ = ["apply_lora", "lora_config", "merge_lora", "quantization_config", "load_quantized", "is_bitsandbytes_available"]
