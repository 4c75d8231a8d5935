"""``logllm evaluate``: score a saved model on a window dataset split; metrics, plots, error analysis, cost.

    logllm evaluate --model runs/hdfs --dataset data/loghub_windows --config hdfs_session
    logllm evaluate --model runs/quickstart/model --dataset synthetic --synthetic_sessions 1500 --seed 42

The decision threshold is the best-F1 threshold on the *validation* split unless `--threshold` is given.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logllm.report.evaluate import evaluate_model, load_window_dataset
from logllm.report.safe_text import terminal_text


def load_model(model_dir: str) -> tuple[Any, Any]:
    """Model and processor saved with save_pretrained (the training package's loader checks the type)."""
    from logllm.training.setup import load_saved_logllm

    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"--model {model_dir}: no such folder (expected a save_pretrained output)")
    return load_saved_logllm(model_dir)


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "folder written by save_pretrained (model + processor)"})
    dataset: str = field(metadata={"help": "window dataset repo folder, Hub id, or 'synthetic' (regenerated offline, as in training)"})
    config: str | None = field(default=None, metadata={"help": "dataset config, e.g. hdfs_session"})
    split: str = field(default="test", metadata={"help": "split to score"})
    output: str | None = field(default=None, metadata={"help": "output folder (default: <model>/eval/<config>_<split>)"})
    threshold: float | None = field(default=None, metadata={"help": "fixed threshold; default: best F1 on validation"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    seed: int = field(default=42, metadata={"help": "seed for anything random"})
    max_windows: int | None = field(default=None, metadata={"help": "score only the first N windows of each split (recorded)"})
    training_dir: str | None = field(default=None, metadata={"help": "training output with trainer_state.json files, for the cost report"})
    no_error_analysis: bool = field(default=False, metadata={"help": "skip per-line attribution and the error report"})
    synthetic_sessions: int = field(default=2000, metadata={"help": "--dataset synthetic: windows to generate (match the training run)"})
    synthetic_anomaly_ratio: float = field(default=0.1, metadata={"help": "--dataset synthetic: anomaly share (match the training run)"})
    synthetic_validation_size: float = field(default=0.1, metadata={"help": "--dataset synthetic: validation share of the non-test windows (match the training run)"})


def args_for_synthetic(args: EvaluateArguments) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        dataset_name="synthetic", dataset_config=args.config or "hdfs",
        synthetic_sessions=args.synthetic_sessions, synthetic_anomaly_ratio=args.synthetic_anomaly_ratio,
        synthetic_validation_size=args.synthetic_validation_size,
    )


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(EvaluateArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.dataset == "synthetic":  # same generator, sizes and seed as `logllm train` with dataset_name: synthetic
        from logllm.training.data import load_training_dataset

        dataset = load_training_dataset(args_for_synthetic(args), args.seed)
    else:
        dataset = load_window_dataset(args.dataset, args.config)
    if args.max_windows:
        dataset = type(dataset)({k: v.select(range(min(args.max_windows, len(v)))) for k, v in dataset.items()})
    model, processor = load_model(args.model)
    output = Path(args.output or Path(args.model) / "eval" / f"{args.config or 'default'}_{args.split}")
    payload = evaluate_model(
        model, processor, dataset, output, split=args.split, threshold=args.threshold, batch_size=args.batch_size,
        seed=args.seed, dataset_name=args.config or Path(args.dataset).name, model_name=Path(args.model).name,
        error_analysis=not args.no_error_analysis, training_dir=args.training_dir,
        extra={"dataset_path": args.dataset, "config": args.config, "model_path": args.model, "max_windows": args.max_windows},
    )
    m = payload["metrics"]
    print(
        f"{terminal_text(payload['dataset'])} {payload['split']}: precision {m['precision']:.4f} recall {m['recall']:.4f} "
        f"F1 {m['f1']:.4f} ROC-AUC {m['roc_auc'] if m['roc_auc'] is None else round(m['roc_auc'], 4)} "
        f"(threshold {payload['threshold']:.4g}, {payload['threshold_source']}; {payload['n_windows']} windows)\n"
        f"wrote {terminal_text(output)}/metrics.json, plots, error_analysis.md/.html, cost.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
