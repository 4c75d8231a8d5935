"""Push a trained LogLLM model to the Hugging Face Hub: weights (or adapters), config, remote code, processor,
a model card filled from the test evaluation, and the evaluation files themselves.

    python -m logllm.training.hub --model_dir runs/bgl/final_model --repo_id me/logllm-bgl --eval_dir runs/bgl/eval

`logllm train ... --push_to_hub --hub_model_id me/logllm-bgl` calls the same function after training.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

logger = logging.getLogger(__name__)

# What a model folder may hold (save_pretrained of model + processor, remote code, adapters).
MODEL_FILE_PATTERNS = (
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "adapter_config.json",
    "*.py",
    "processor_config.json",
    "preprocessor_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.*",
    "encoder_tokenizer/*",
    "decoder_tokenizer/*",
)
EVAL_FILE_PATTERNS = ("metrics.json", "*.png", "cost.json", "cost.md")


def stage_upload_folder(model_dir: Path, staging: Path, eval_dir: Path | None) -> list[str]:
    """Copy the files that belong on the Hub into `staging` (model at the root, evaluation under eval/)."""
    if not (model_dir / "config.json").is_file() and not (model_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json or adapter_config.json; is this a saved model folder?")
    if not list(model_dir.glob("*.safetensors")):
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights to upload (safetensors only, no pickles)")
    copied = []
    for pattern in MODEL_FILE_PATTERNS:
        for path in sorted(model_dir.glob(pattern)):
            if path.is_file():
                target = staging / path.relative_to(model_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied.append(str(path.relative_to(model_dir)))
    if eval_dir is not None and eval_dir.is_dir():
        for pattern in EVAL_FILE_PATTERNS:
            for path in sorted(eval_dir.glob(pattern)):
                (staging / "eval").mkdir(exist_ok=True)
                shutil.copy2(path, staging / "eval" / path.name)
                copied.append(f"eval/{path.name}")
    return sorted(set(copied))


def write_model_card(
    staging: Path,
    repo_id: str,
    *,
    model_dir: Path,
    eval_dir: Path | None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None,
    base_models: tuple[str, ...] = (),
) -> Path:
    """README.md from logllm.report.model_card.render_model_card and the test metrics.json (validated offline)."""
    from logllm.report.model_card import render_model_card, validate_model_card

    metrics_file = eval_dir / "metrics.json" if eval_dir is not None else None
    if metrics_file is None or not metrics_file.is_file():
        raise FileNotFoundError(
            f"no evaluation metrics at {metrics_file}: the model card reports measured test results only. "
            "Train with evaluate_test (default) or run `logllm evaluate` first, then pass --eval_dir."
        )
    text = render_model_card(
        [metrics_file], repo_id=repo_id, model_dir=model_dir, hyperparameters=hyperparameters,
        base_models=base_models,
    )
    validate_model_card(text)
    path = staging / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def push_trained_model(
    model_dir: str | Path,
    repo_id: str | None,
    *,
    eval_dir: str | Path | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    base_models: tuple[str, ...] = (),
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload LogLLM model",
    api: Any | None = None,
) -> Any:
    """Create `repo_id` if needed and upload the model folder, processor, remote code, card and eval files.

    Returns the `CommitInfo` of the upload.
    """
    from huggingface_hub import HfApi

    if not repo_id:
        raise ValueError("--push_to_hub needs --hub_model_id <user-or-org>/<name>")
    model_dir = Path(model_dir)
    eval_dir = Path(eval_dir) if eval_dir is not None else None
    api = api or HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="logllm-push-") as tmp:
        staging = Path(tmp)
        files = stage_upload_folder(model_dir, staging, eval_dir)
        if hyperparameters is None:
            hyperparameters = hyperparameters_from_summary(model_dir.parent / "training_summary.json")
        write_model_card(
            staging, repo_id, model_dir=model_dir, eval_dir=eval_dir, hyperparameters=hyperparameters,
            base_models=base_models,
        )
        logger.info("pushing %d files + README.md to %s", len(files), repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        from huggingface_hub import CommitOperationAdd

        operations = [
            CommitOperationAdd(path_in_repo=path.relative_to(staging).as_posix(), path_or_fileobj=str(path))
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        ]
        # one explicit commit of exactly the staged files (what transformers' own push_to_hub does)
        return api.create_commit(repo_id, operations=operations, commit_message=commit_message, repo_type="model")


def hyperparameters_from_summary(path: Path) -> dict[str, dict[str, Any]] | None:
    """Per-stage settings from a run's training_summary.json, if there is one."""
    if not path.is_file():
        return None
    from logllm.training.stages import stage_hyperparameters

    return stage_hyperparameters(json.loads(path.read_text(encoding="utf-8")).get("stages") or [])


@dataclass
class PushArguments:
    model_dir: str = field(metadata={"help": "folder written by save_pretrained (model + processor), e.g. runs/x/final_model"})
    repo_id: str = field(metadata={"help": "Hub model id, e.g. me/logllm-bgl"})
    eval_dir: str | None = field(default=None, metadata={"help": "folder with the test metrics.json and plots (default: <model_dir>/../eval)"})
    private: bool = field(default=False, metadata={"help": "create the repository as private"})
    commit_message: str = field(default="Upload LogLLM model", metadata={"help": "commit message"})


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(PushArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    eval_dir = args.eval_dir or str(Path(args.model_dir).parent / "eval")
    info = push_trained_model(
        args.model_dir, args.repo_id, eval_dir=eval_dir, private=args.private, commit_message=args.commit_message
    )
    print(getattr(info, "commit_url", info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
