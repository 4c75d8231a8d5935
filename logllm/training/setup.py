"""Build the model to train from the script arguments, and save the trained one for `from_pretrained`.

Presets come from `logllm.modeling.presets`; this module only picks one, checks user-named components
before downloading anything heavy (an unknown or wrong model type fails with the path and the reason),
and applies LoRA/QLoRA when asked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PAPER_ENCODER = "google-bert/bert-base-uncased"
PAPER_DECODER = "meta-llama/Meta-Llama-3-8B"


class ModelSetupError(ValueError):
    """A model preset or component that cannot become (part of) a LogLLM."""


def check_component(name_or_path: str, role: str) -> Any:
    """Load a component's config and check that its model type fits the role ("encoder" or "decoder")."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_MAPPING

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (ValueError, KeyError, OSError) as err:
        raise ModelSetupError(f"{role} {name_or_path!r}: cannot read its config ({err})") from err
    mapping, wanted = (
        (MODEL_FOR_CAUSAL_LM_MAPPING, "a causal language model (Llama, Qwen2, Mistral, GPT-2, ...)")
        if role == "decoder"
        else (MODEL_MAPPING, "an encoder transformers can build with AutoModel (BERT, RoBERTa, MiniLM, ...)")
    )
    if type(config) not in mapping:
        raise ModelSetupError(f"{role} {name_or_path!r}: model type {config.model_type!r} is not {wanted}")
    return config


def load_saved_logllm(path: str) -> tuple[Any, Any]:
    """A LogLLM saved with save_pretrained (to continue training it)."""
    import json

    from logllm.modeling import LogLLMForAnomalyDetection, LogLLMProcessor

    config_file = Path(path) / "config.json"
    if config_file.is_file():
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        if model_type != "logllm":
            raise ModelSetupError(
                f"model_name_or_path {path!r}: model type {model_type!r} is not 'logllm'; to build a LogLLM from "
                "an encoder and a decoder use encoder_name_or_path/decoder_name_or_path"
            )
    return LogLLMForAnomalyDetection.from_pretrained(path), LogLLMProcessor.from_pretrained(path)


def build_model_and_processor(args: Any, seed: int) -> tuple[Any, Any]:
    """The (model, processor) to train: a saved LogLLM, a preset, or named encoder/decoder components."""
    from logllm.modeling import presets

    processor_kwargs: dict[str, Any] = {}
    if args.max_tokens_per_line:
        processor_kwargs["max_tokens_per_line"] = args.max_tokens_per_line
    if args.model_name_or_path:
        model, processor = load_saved_logllm(args.model_name_or_path)
    elif args.model_preset == "paper" or args.encoder_name_or_path or args.decoder_name_or_path:
        encoder = args.encoder_name_or_path or (PAPER_ENCODER if args.model_preset == "paper" else str(presets.minilm_path()))
        decoder = args.decoder_name_or_path or PAPER_DECODER
        check_component(encoder, "encoder")
        check_component(decoder, "decoder")
        from transformers import set_seed

        set_seed(seed)
        model, processor = presets.build_from_components(
            encoder, decoder, decoder_kwargs=quantization_kwargs(args), **processor_kwargs
        )
    elif args.model_preset == "tiny":
        model, processor = presets.build_tiny(seed=seed, **processor_kwargs)
    elif args.model_preset == "default":
        model, processor = presets.build_default(seed=seed, **processor_kwargs)
    else:
        raise ModelSetupError(f"unknown model_preset {args.model_preset!r}; choose tiny, default or paper")
    if args.load_in_4bit and not (args.model_preset == "paper" or args.decoder_name_or_path):
        raise ModelSetupError("load_in_4bit quantizes a pretrained decoder: use model_preset paper or decoder_name_or_path")
    if args.use_lora or args.load_in_4bit:
        model = apply_lora(model, args)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s parameters (%s)", f"{n_params:,}", args.model_name_or_path or args.model_preset)
    return model, processor


def quantization_kwargs(args: Any) -> dict[str, Any]:
    """`from_pretrained` kwargs for a 4-bit NF4 decoder (QLoRA); empty unless asked for."""
    if not args.load_in_4bit:
        return {}
    from logllm.modeling.adapters import quantization_config

    return {"quantization_config": quantization_config(bits=4)}


def apply_lora(model: Any, args: Any) -> Any:
    """LoRA adapters on decoder (and encoder) with the model package's helper (paper ranks by default)."""
    from logllm.modeling.adapters import apply_lora as add_adapters

    # target modules are the model package's (decoder q/v projections, encoder query/value), as in the paper
    return add_adapters(
        model,
        decoder_r=args.lora_r,
        decoder_alpha=args.lora_alpha,
        encoder_r=max(args.encoder_lora_r, 1),
        encoder_alpha=args.encoder_lora_alpha,
        dropout=args.lora_dropout,
        lora_encoder=args.encoder_lora_r > 0,
    )


def save_final_model(model: Any, processor: Any, directory: Path, args: Any) -> Path:
    """save_pretrained model (merged LoRA unless told otherwise or 4-bit) + processor, safetensors only."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    to_save = model
    if hasattr(model, "merge_and_unload") and args.merge_lora and not args.load_in_4bit:
        to_save = model.merge_and_unload()
    to_save.save_pretrained(str(directory))
    processor.save_pretrained(str(directory))
    logger.info("saved the trained model and processor to %s", directory)
    return directory
