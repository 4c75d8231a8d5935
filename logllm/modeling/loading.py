"""Find and load a trained LogLLM: a saved folder, an adapter-only folder or a Hub id, with clear errors.

`logllm detect`, `watch`, `serve`, `evaluate` and training from a saved model all load through `load_model`, so
every one of them says the same thing about a missing folder, a broken `model.safetensors` or weights holding
NaN, and never falls back to an untrained model.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("runs") / "quickstart" / "model"
MODEL_ENV = "LOGLLM_MODEL"
# Folders saved before the LLaVA-style layout (decoder with its head at `decoder.*`) load with these renames.
LEGACY_KEY_MAPPING = {
    r"^decoder\.lm_head\.": "lm_head.",
    r"^decoder\.model\.": "model.decoder.",
    r"^(encoder|projector|line_pooler)\.": r"model.\1.",
}


# The processor's tokenizers, each saved in its own subfolder, and the files one of them must hold.
PROCESSOR_SUBFOLDERS = ("encoder_tokenizer", "decoder_tokenizer")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")


class ModelLoadError(ValueError):
    """No usable trained model where one was expected; the message says what to do."""


def resolve_model(model: str | os.PathLike | None) -> str:
    """The model to load: the argument, else `$LOGLLM_MODEL`, else the quickstart model folder.

    Never falls back to an untrained model: when nothing trained is found, say how to get one.
    """
    chosen = str(model) if model else os.environ.get(MODEL_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if path.exists():
            if not path.is_dir():
                raise ModelLoadError(f"{path} is a file; --model wants a saved model folder or a Hub id (owner/name)")
            if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
                raise ModelLoadError(f"{path} is not a saved model folder (no config.json or adapter_config.json in it)")
            return str(path)
        if chosen.count("/") == 1 and not chosen.startswith((".", "/", "~")):
            return chosen  # a Hub id; loading says if it cannot be reached
        raise ModelLoadError(f"model {chosen!r} not found: not a folder and not a Hub id (owner/name)")
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR)
    raise ModelLoadError(
        f"no trained model found at {DEFAULT_MODEL_DIR}. Train the offline model with "
        "`logllm quickstart --output runs/quickstart`, or pass --model DIR_OR_HUB_ID "
        f"(or set ${MODEL_ENV})."
    )


def _weight_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    keys: list[str] = []
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as handle:
                keys.extend(handle.keys())
        except Exception as err:  # safetensors raises its own error types for truncated/garbage files
            raise ModelLoadError(
                f"{file}: not a readable safetensors file ({type(err).__name__}: {err}); the file is truncated or "
                "corrupt — copy or download the model folder again"
            ) from err
    return keys


def check_finite_weights(model: Any, name: str) -> None:
    """Refuse weights holding NaN or infinity (a model that outputs NaN would read as "no anomaly")."""
    import torch

    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ModelLoadError(f"{name}: weight {key} holds {bad} NaN/infinite value(s); the model is broken")


def check_operating_point(model: Any, name: str) -> None:
    """Refuse an `operating_point` in config.json that `decide` cannot use (`"threshold": "high"`), naming the field."""
    from logllm.scoring.operating_point import OperatingPoint

    try:
        OperatingPoint.of(model)
    except ValueError as err:
        raise ModelLoadError(f"{_config_file(name)}: {err}; fix the value or delete operating_point to use the default "
                             "threshold 0.5") from err


def _config_file(name: str) -> str:
    return str(Path(name) / "config.json") if Path(name).is_dir() else f"config.json of {name}"


def check_processor_files(folder: Path) -> None:
    """Each tokenizer of the processor has its own subfolder; without it transformers falls back to the folder's root
    and blames a missing library ("install sentencepiece or tiktoken"), so name the missing folder instead."""
    for sub in PROCESSOR_SUBFOLDERS:
        tokenizer = folder / sub
        if not tokenizer.is_dir():
            raise ModelLoadError(f"{folder}: the processor's {sub}/ folder is missing (it holds the {sub.split('_')[0]} "
                                 "tokenizer); the model folder is incomplete — copy or download all of it again")
        if not any((tokenizer / file).is_file() for file in TOKENIZER_FILES):
            raise ModelLoadError(f"{tokenizer}: no tokenizer files in it (expected one of {', '.join(TOKENIZER_FILES)}); "
                                 "the model folder is incomplete — copy or download all of it again")


def check_missing_weights(missing: Any, name: str, config: Any) -> None:
    """Refuse weights the folder does not hold: transformers would fill them with new (random or uninitialised)
    values, which then read as a broken model ("NaN/infinite") or, worse, as a working one."""
    missing = sorted(missing or ())
    if not missing:
        return
    if "novelty_index" in missing:
        raise ModelLoadError(
            f"{name}: the novelty_index tensor is missing from the weights (config.json says the model carries an index "
            f"of {getattr(config, 'novelty_index_size', '?')} training lines); the weights file comes from another save "
            "or was rewritten without it — save or download the model again, or set novelty_index_size to 0 in "
            "config.json to use it without novelty"
        )
    raise ModelLoadError(f"{name}: the weights lack {len(missing)} tensor(s) the model needs: {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}; the weights file is incomplete or from another model")


def load_model(model: str | os.PathLike | None = None, **from_pretrained: Any) -> tuple[Any, Any, str]:
    """`(model, processor, name)` for a saved folder, an adapter-only folder or a Hub id (see `resolve_model`).

    Adapter-only folders (LoRA adapters + projector, written by `save_adapters`) are rebuilt on their base model,
    which the adapter config names (a local folder or a Hub id). Weights are checked for NaN/infinity.

    One version: a local folder is resolved once (`logllm.atomic.current_version`: a saved model folder is a link
    to its latest version, swapped atomically by each save) and config, weights and processor are all read from
    that real folder, so a model saved again while this one loads cannot mix the threshold of one save with the
    weights of another. If that version is removed while it is read (two newer saves meanwhile), loading fails
    saying so.
    """
    from logllm.atomic import current_version

    name = resolve_model(model)
    given = Path(name)
    path = current_version(given) if given.is_dir() else given
    try:
        if path.is_dir() and (path / "adapter_config.json").is_file() and not (path / "model.safetensors").is_file():
            loaded, processor = _load_adapters(path, given=given, **from_pretrained)
        else:
            loaded, processor = _load_full(name, path, **from_pretrained)
    except (ModelLoadError, OSError) as err:
        if given.is_dir() and not any((path / file).is_file() for file in ("config.json", "adapter_config.json")):
            raise ModelLoadError(f"{name}: the model was saved again while it was being read and the version read "
                                 f"({path.name}) is gone; run again to load the current one") from err
        raise
    check_finite_weights(loaded, name)
    check_operating_point(loaded, name)
    logger.info("loaded model %s", name)
    return loaded.eval(), processor, name


def _load_full(name: str, path: Path, **from_pretrained: Any) -> tuple[Any, Any]:
    from logllm.modeling import LogLLMForAnomalyDetection, LogLLMProcessor

    if path.is_dir():
        config_file = path / "config.json"
        try:
            model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"{config_file}: not readable JSON ({err})") from err
        if model_type != "logllm":
            raise ModelLoadError(f"{name}: model type {model_type!r} is not 'logllm' (a LogLLM model folder is needed)")
        keys = _weight_keys(path)
        if not keys:
            raise ModelLoadError(f"{name}: no model.safetensors in the folder")
        if any(k.startswith("decoder.model.") for k in keys):
            from_pretrained.setdefault("key_mapping", LEGACY_KEY_MAPPING)
        check_processor_files(path)
    location = str(path) if path.is_dir() else name  # a resolved version folder, or a Hub id
    try:
        loaded, info = LogLLMForAnomalyDetection.from_pretrained(location, output_loading_info=True, **from_pretrained)
        processor = LogLLMProcessor.from_pretrained(location)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:  # missing files, wrong type, bad config
        raise ModelLoadError(f"cannot load {name!r} as a LogLLM model: {err}") from err
    check_missing_weights(info.get("missing_keys"), name, loaded.config)
    return loaded, processor


def _load_adapters(path: Path, given: Path | None = None, **from_pretrained: Any) -> tuple[Any, Any]:
    """`path`: the adapter folder (resolved); `given`: the name it was given as, which a relative base is relative to."""
    from peft import PeftConfig, PeftModel

    try:
        adapter_config = PeftConfig.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{path}/adapter_config.json: not a readable adapter config ({err})") from err
    base = adapter_config.base_model_name_or_path
    if not base and _names_pretrained_base(path):  # adapters.save_adapters: the config says how to rebuild the base
        from logllm.modeling.adapters import load_adapters, merge_to_full_precision

        try:
            peft_model, processor = load_adapters(path)
        except (OSError, ValueError, KeyError, RuntimeError, ImportError) as err:
            raise ModelLoadError(f"{path}: cannot rebuild the adapters' pretrained base ({err})") from err
        return merge_to_full_precision(peft_model), processor
    if not base:
        raise ModelLoadError(
            f"{path}: the adapters do not name their base model (adapter_config.json base_model_name_or_path is empty); "
            "save adapters with logllm's save_adapters, or merge them before saving"
        )
    # lexically: `..` from where the folder is seen, not from its version folder (the OS would follow the link first)
    base_path = Path(base) if Path(base).is_absolute() else Path(os.path.normpath((given or path) / base))
    base_name = str(base_path.resolve()) if base_path.exists() else base
    model, processor = _load_full(base_name, Path(base_name), **from_pretrained)
    try:
        peft_model = PeftModel.from_pretrained(model, str(path))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ModelLoadError(f"{path}: the adapters do not fit their base model {base!r} ({err})") from err
    return peft_model.merge_and_unload(), processor


def _names_pretrained_base(path: Path) -> bool:
    try:
        return bool(json.loads((path / "config.json").read_text(encoding="utf-8")).get("base_components"))
    except (OSError, json.JSONDecodeError):
        return False


__all__ = ["DEFAULT_MODEL_DIR", "MODEL_ENV", "ModelLoadError", "check_finite_weights", "check_missing_weights",
           "check_operating_point", "check_processor_files", "load_model", "resolve_model"]
