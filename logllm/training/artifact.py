"""The trained model folder as a complete, shareable artifact, and its push to the Hub.

A saved folder holds everything `logllm detect`, `watch`, `serve`, `AutoModel` and the Hub need, and nothing of the
machine it was made on: weights (safetensors, including the novelty index), `config.json` with the operating point,
the remote code, the processor, a model card (README.md) written from the run's own facts, and, for LoRA runs on a
pretrained base, the adapters alone under `adapters/`. Files get the usual permissions (transformers writes
safetensors through a private temporary file).

Each save is a new version, published by one atomic swap (`logllm.atomic.versioned_folder`): `final_model` is a
symbolic link to `final_model.versions/<id>/`. A failed save leaves the previous model loadable, a `detect` running
while `train` saves reads one version whole (config, weights and processor of the same save: `load_model` resolves
the link once), and no file a reader may have mapped is ever overwritten.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# What a model folder may hold (save_pretrained of model + processor, remote code, card, adapters).
MODEL_FILE_PATTERNS = [
    "README.md", "config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "adapter_config.json", "*.py", "processor_config.json", "preprocessor_config.json", "tokenizer*",
    "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.*",
    "encoder_tokenizer/*", "decoder_tokenizer/*", "adapters/*", "adapters/*/*", "eval/*", "template_index.json", "learned.json",
]  # not accepted.json: a ledger of accepted lines belongs to one deployment (logllm accept)
# The evaluation files copied into the folder's eval/ (the numbers the card reports, and their plots).
EVAL_FILE_PATTERNS = ("metrics.json", "*.png", "cost.json", "cost.md")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def normalize_permissions(folder: Path) -> None:
    """Files 0666 & ~umask, folders 0777 & ~umask: what a plain `open`/`mkdir` would have made."""
    mask = _umask()
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def save_model_artifact(
    model: Any,
    processor: Any,
    directory: str | Path,
    *,
    card: Any | None = None,
    merge_lora: bool = True,
    eval_dir: str | Path | None = None,
) -> Path:
    """Save `model` + `processor` (+ the card from `card`, a `CardFacts`) into `directory`, atomically.

    LoRA/QLoRA: the adapters merged into full-precision weights (a QLoRA base is de-quantised first) so
    `AutoModel.from_pretrained(directory, trust_remote_code=True)` loads it; on a pretrained base the adapters alone
    also go to `directory/adapters` (`logllm.modeling.adapters.load_adapters` and `logllm detect --model` read them).
    With `merge_lora` false the folder holds the adapters alone. `eval_dir`: the evaluation of this model, whose
    metrics.json, plots and cost report are copied under `directory/eval/`. `directory` becomes a link to the new
    version (module docstring).
    """
    from logllm.atomic import versioned_folder

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with versioned_folder(directory) as tmp:
        to_save, config = model, model.config
        if hasattr(model, "merge_and_unload"):
            from logllm.modeling.adapters import merge_to_full_precision, save_adapters

            config = model.get_base_model().config
            on_pretrained_base = bool(config.base_components)
            if not merge_lora and on_pretrained_base:
                save_adapters(model, processor, tmp)
                to_save = None
            else:
                if on_pretrained_base:
                    save_adapters(model, processor, tmp / "adapters")  # before merging: merging changes the modules
                to_save = merge_to_full_precision(model)
        if to_save is not None:
            to_save.save_pretrained(str(tmp))
            processor.save_pretrained(str(tmp))
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            index = getattr(base, "template_index", None)  # a merged copy of a LoRA model does not carry it
            if index is not None and not (tmp / "template_index.json").is_file():
                index.save(tmp)
        if card is not None:
            from logllm.report.model_card import architecture_of, render_model_card, validate_model_card

            if not card.architecture:
                card.architecture = architecture_of(config)
            text = render_model_card(card)
            validate_model_card(text)
            (tmp / "README.md").write_text(text, encoding="utf-8")
        if eval_dir is not None:
            copy_evaluation(Path(eval_dir), tmp / "eval")
        normalize_permissions(tmp)
    logger.info("saved the model folder %s", directory)
    return directory


def copy_evaluation(eval_dir: Path, target: Path) -> list[Path]:
    """Copy an evaluation's metrics.json, plots and cost report into `target` (nothing if `eval_dir` is absent)."""
    import shutil

    copied = []
    for pattern in EVAL_FILE_PATTERNS:
        for path in sorted(eval_dir.glob(pattern)) if eval_dir.is_dir() else []:
            target.mkdir(parents=True, exist_ok=True)
            copied.append(Path(shutil.copyfile(path, target / path.name)))
    return copied


def push_model_folder(
    directory: str | Path,
    repo_id: str | None,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload LogLLM model",
    api: Any | None = None,
) -> Any:
    """Create `repo_id` if needed and upload the saved folder as it is (card included) with `upload_folder`."""
    from huggingface_hub import HfApi

    from logllm.atomic import current_version

    if not repo_id:
        raise ValueError("pushing needs a Hub id: --hub_model_id <user-or-org>/<name>")
    directory = current_version(directory)  # one version, even if a new one is saved while uploading
    if not (directory / "config.json").is_file() and not (directory / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{directory}: no config.json or adapter_config.json; is this a saved model folder?")
    if not list(directory.glob("*.safetensors")):
        raise FileNotFoundError(f"{directory}: no *.safetensors weights to upload (safetensors only, no pickles)")
    api = api or HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    logger.info("pushing %s to %s", directory, repo_id)
    return api.upload_folder(
        folder_path=str(directory), repo_id=repo_id, repo_type="model", commit_message=commit_message,
        allow_patterns=MODEL_FILE_PATTERNS,
    )


__all__ = ["EVAL_FILE_PATTERNS", "MODEL_FILE_PATTERNS", "copy_evaluation", "normalize_permissions", "push_model_folder",
           "save_model_artifact"]
