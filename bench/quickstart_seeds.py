"""How reliable is `logllm quickstart`? The same command over several seeds, with per-kind recall.

    python bench/quickstart_seeds.py                      # seeds 42-46, ~5 min each on a free 2-core CPU
    python bench/quickstart_seeds.py --seeds 42 43 --threads 1

Each seed runs `logllm.quickstart.run_quickstart` exactly as README command 1 does (seed 42 is the command's
default): new synthetic data, split, initialisation and training per seed. For every run the test metrics,
the wall time and the recall of each injected anomaly kind (`logllm.logs.synthetic.GENERATED_KINDS`; names
in `logllm.logs.anomaly_kinds`) are recorded. Writes bench/results/quickstart_seeds.json and .md.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logllm.report.metrics import per_category_recall
from logllm.report.summary import write_report

ROOT = Path(__file__).resolve().parents[1]

logger = logging.getLogger("bench.quickstart_seeds")
RESULTS = ROOT / "bench" / "results"
METRICS = ("precision", "recall", "f1", "roc_auc", "accuracy")
F1_GOAL = 0.9


@dataclass
class QuickstartSeedsArguments:
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44, 45, 46], metadata={"help": "quickstart seeds"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    fast: bool = field(default=False, metadata={"help": "quickstart --fast (tiny model; checks this script, numbers mean nothing)"})
    output: str = field(default=str(RESULTS / "quickstart_seeds"), metadata={"help": "writes <output>.json and <output>.md"})


def kind_recall(run_dir: Path, script_args: Any, seed: int) -> dict[str, float]:
    """Recall per injected anomaly kind on the test split, from the run's predictions.jsonl."""
    from logllm.training.data import load_training_dataset

    test = load_training_dataset(script_args, seed)["test"]
    predictions = [json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    by_id = {p["window_id"]: int(p["predicted"]) for p in predictions}
    rows = [row for row in test if row["window_id"] in by_id]
    return per_category_recall(rows, np.array([by_id[row["window_id"]] for row in rows]))


def run_seed(seed: int, threads: int, workdir: Path, fast: bool = False) -> dict[str, Any]:
    from logllm.commands.quickstart import QuickstartArguments, recipe_arguments, run_quickstart
    from logllm.training.recipes import parse_arguments

    args = QuickstartArguments(output=str(workdir / f"seed{seed}"), seed=seed, threads=threads, fast=fast)
    metrics, result = run_quickstart(args)
    script_args, _, _ = parse_arguments(recipe_arguments(args))
    return {
        "seed": seed,
        "metrics": {k: metrics.get(k) for k in METRICS},
        "threshold": metrics.get("threshold"),
        "n_test_windows": metrics.get("n_test_windows"),
        "seconds": metrics.get("seconds"),
        "stage_seconds": {s["stage"]: s.get("seconds") for s in result.stages},
        "kind_recall": kind_recall(Path(args.output), script_args, seed),
    }


def run(args: QuickstartSeedsArguments) -> dict[str, Any]:
    from logllm.baselines import summarize
    from logllm.report.evaluate import hardware_info

    payload: dict[str, Any] = {
        "benchmark": "quickstart_seeds", "hardware": hardware_info(), "torch_threads": args.threads, "fast": args.fast,
        "recipe": "train/recipes/default/synthetic.yaml", "command": "python bench/quickstart_seeds.py " + " ".join(sys.argv[1:]),
        "seeds": args.seeds, "runs": [], "failed": [],
    }
    with tempfile.TemporaryDirectory(prefix="logllm_quickstart_seeds_") as tmp:
        for seed in args.seeds:
            try:
                payload["runs"].append(run_seed(seed, args.threads, Path(tmp), args.fast))
            except Exception as err:  # reported, never dropped silently
                logger.exception("seed %d failed", seed)
                payload["failed"].append({"seed": seed, "reason": str(err)})
            payload["summary"] = summarize([r["metrics"] for r in payload["runs"]])
            write_report(payload, args.output, render_markdown)
    return payload


def render_markdown(payload: dict[str, Any]) -> str:
    from logllm.logs.synthetic import GENERATED_KINDS
    from logllm.baselines import format_mean_std, summarize

    hw, runs = payload["hardware"], payload["runs"]
    summary = payload.get("summary") or summarize([])
    reached = sum(1 for r in runs if (r["metrics"].get("f1") or 0) >= F1_GOAL)
    seconds = [r["seconds"] for r in runs if r.get("seconds") is not None]
    lines = [
        "# `logllm quickstart` over seeds", "",
        f"README command 1 (`{payload['recipe']}`) once per seed: synthetic HDFS-like data, split, model "
        "initialisation and training all follow the seed. Threshold chosen on validation, applied to the held-out "
        f"test windows. Hardware: {hw.get('usable_cpus')}-core CPU ({hw.get('cpu')}), no GPU, torch "
        f"{hw.get('torch')}, {payload['torch_threads']} threads. Created {payload.get('created')}.", "",
        f"F1 ≥ {F1_GOAL}: **{reached} of {len(runs)} seeds**; F1 {format_mean_std(summary, 'f1')}, "
        f"ROC-AUC {format_mean_std(summary, 'roc_auc')}; wall time {min(seconds, default=0):.0f}-"
        f"{max(seconds, default=0):.0f} s per run.", "",
        "| seed | precision | recall | F1 | ROC-AUC | threshold | seconds | " + " | ".join(GENERATED_KINDS) + " |",
        "|---" * (7 + len(GENERATED_KINDS)) + "|",
    ]
    for r in runs:
        m, kinds = r["metrics"], r["kind_recall"]
        cells = [f"{m[k]:.3f}" for k in ("precision", "recall", "f1", "roc_auc")]
        lines.append(
            f"| {r['seed']} | " + " | ".join(cells) + f" | {r['threshold']:.3f} | {r['seconds']:.0f} | "
            + " | ".join(f"{kinds[k]:.2f}" if k in kinds else "—" for k in GENERATED_KINDS) + " |"
        )
    lines += ["", "Kind columns: recall of the test windows with that injected anomaly kind."]
    for item in payload["failed"]:
        lines.append(f"- Failed: seed {item['seed']}: {item['reason']}")
    lines += ["", f"Command: `{payload['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(QuickstartSeedsArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    payload = run(args)
    print(render_markdown(payload))
    return 0 if not payload["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
