"""Train the offline default LogLLM model on REAL labeled Loghub windows and compare with the paper.

    python bench/train_real.py                                   # Thunderbird 12k, 3 seeds, ~10 min on a free 2-core CPU
    python bench/train_real.py --datasets thunderbird_12k bgl_2k # + BGL_2k (100 windows: far too few)

Each dataset is built by `logllm.dataset.benchmarks.loghub_dataset` (the project's Loghub parser, `re`
preprocessing, sliding windows) with smaller windows than the other benches (20 lines, step 20) so the
12,000-line Thunderbird slice gives ~600 windows. The split is random 7.2:0.8:2 with the benchmarks'
split seed, as in bench/ablations.py and bench/baselines.py: the slice is not in time order and a
chronological split leaves no anomaly in test. Training is the quickstart's (`--recipe default/bench`:
train/recipes/default/synthetic.yaml on windows passed in: all-MiniLM-L6-v2 encoder + small random Llama decoder,
stages 1, 2a, 2b, 3 with the encoder frozen in stage 3; another recipe changes the stages), via
`logllm.training.stages.run_training`, once per seed; the threshold is chosen on validation and applied to test by
`logllm.report.evaluate.evaluate_model`.
Writes bench/results/train_real.json and .md, with the paper's Table II numbers next to ours.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logllm.dataset.benchmarks import SPLIT_SEED, loghub_dataset
from logllm.report.results import PAPER_TABLE_II
from logllm.report.summary import write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGHUB = ROOT.parent / "shared" / "loghub"

logger = logging.getLogger("bench.train_real")
METRICS = ("precision", "recall", "f1", "roc_auc", "accuracy")

# Paper Table II (precision / recall / F1) for the dataset each sample comes from.
PAPER = {name: {"paper_dataset": family, **dict(zip(("precision", "recall", "f1"), PAPER_TABLE_II["LogLLM"][family]))}
         for name, family in (("thunderbird_12k", "Thunderbird"), ("bgl_2k", "BGL"))}
SOURCES = {
    "thunderbird_12k": ("thunderbird", LOGHUB / "thunderbird_subset" / "Thunderbird_part1_12000lines.log",
                        "Thunderbird_part1_12000lines.log (12,000 real labeled lines)"),
    "bgl_2k": ("bgl", LOGHUB / "loghub" / "BGL" / "BGL_2k.log", "loghub BGL_2k.log (2,000 real labeled lines)"),
}
# Measured with build_real_dataset("bgl_2k", 20): why BGL_2k is not in the default run.
BGL_2K_SIZES = "train 72 (22 anomalous), validation 8 (0 anomalous), test 20 (6 anomalous)"
DIFFERENCES = [
    "Data: 12,000-line Thunderbird slice / 2,000-line BGL sample instead of the paper's millions of lines "
    "(Thunderbird: first 10M lines; BGL: 4.7M lines); a few hundred windows, so one window moves F1 by points.",
    "Windows: sliding 20 lines / step 20 (the paper uses 100 / 100) so the small samples give enough windows.",
    "Split: random 7.2:0.8:2 (seed 42), not the paper's chronological split: a time-ordered split of this "
    "slice leaves no anomaly in test (same choice as bench/ablations.py and bench/baselines.py).",
    "Model: all-MiniLM-L6-v2 encoder (22M) + a small randomly initialised Llama decoder, trained without LoRA, "
    "instead of BERT-base + Llama-3-8B with QLoRA; the decoder has no language pretraining.",
    "Training: the quickstart recipe (stage 3 trains projector + decoder with the MiniLM encoder frozen after "
    "stage 2b; the paper trains everything in stage 3), minutes on a 2-core CPU, no GPU (the paper: 1,065 "
    "GPU-minutes for four datasets).",
]


@dataclass
class TrainRealArguments:
    datasets: list[str] = field(default_factory=lambda: ["thunderbird_12k"], metadata={"help": f"of {', '.join(SOURCES)}"})
    window_size: int = field(default=20, metadata={"help": "sliding window size = step (lines)"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "training seeds (model init, sampling, oversampling)"})
    recipe: str = field(default="default/bench", metadata={"help": "training recipe (train/recipes/): stages, rates, epochs"})
    max_eval_windows: int = field(default=200, metadata={"help": "validation windows (threshold choice)"})
    max_test_windows: int = field(default=400, metadata={"help": "test windows"})
    torch_threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    output: str = field(default=str(RESULTS / "train_real"), metadata={"help": "writes <output>.json and <output>.md"})


def build_real_dataset(name: str, window_size: int) -> tuple[Any, dict[str, Any]]:
    """Real Loghub windows through the benchmarks' builder; random split (see module docstring)."""
    kind, path, source = SOURCES[name]
    dataset = loghub_dataset(kind, [str(path)], "re", window_size=window_size, step=window_size, split_method="random")
    info = {
        "source": source, "windowing": f"sliding {window_size}/{window_size}", "preprocessing": "re",
        "split": f"random 7.2:0.8:2 (split seed {SPLIT_SEED})",
        "sizes": {k: {"windows": len(v), "anomalous": int(sum(v["label"]))} for k, v in dataset.items()},
    }
    return dataset, info


def recipe_arguments(args: TrainRealArguments, name: str, output_dir: Path, seed: int) -> list[str]:
    """The recipe plus this benchmark's data name, window caps, seed and output folder."""
    return [
        "--config", args.recipe, "--dataset_name", name, "--output_dir", str(output_dir), "--seed", str(seed),
        "--max_eval_windows", str(args.max_eval_windows), "--max_test_windows", str(args.max_test_windows),
        "--max_lines_per_window", str(args.window_size),
    ]


def train_and_score(name: str, dataset: Any, args: TrainRealArguments, seed: int, workdir: Path) -> dict[str, Any]:
    """One quickstart-recipe training run on the real windows and its test evaluation."""
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    argv = recipe_arguments(args, name, workdir / f"{name}_s{seed}", seed)
    started = time.perf_counter()
    result = run_training(*parse_arguments(argv), dataset=dataset)
    evaluation = result.eval_metrics or {}
    metrics = evaluation.get("metrics") or {}
    return {
        "metrics": {k: metrics.get(k) for k in METRICS if k in metrics},
        "threshold": evaluation.get("threshold"), "threshold_source": evaluation.get("threshold_source"),
        "n_test": evaluation.get("n_windows"), "seed": seed,
        "stages": [{k: s.get(k) for k in ("stage", "trains", "windows", "steps", "learning_rate", "epochs", "seconds", "train_loss") if k in s}
                   for s in result.stages],
        "train_time_s": round(sum(float(s.get("seconds", 0)) for s in result.stages), 1),
        "inference_time_s": evaluation.get("inference_time_s"), "wall_time_s": round(time.perf_counter() - started, 1),
        "argv": " ".join(argv[:2]) + " + overrides: " + " ".join(argv[2:]),
    }


def run(args: TrainRealArguments) -> dict[str, Any]:
    import torch

    from logllm.baselines import summarize
    from logllm.report.evaluate import hardware_info

    torch.set_num_threads(args.torch_threads)
    payload: dict[str, Any] = {
        "benchmark": "train_real", "hardware": hardware_info(), "torch_threads": args.torch_threads,
        "model": "quickstart recipe: model_preset default (all-MiniLM-L6-v2 + small random Llama decoder)",
        "seeds": args.seeds, "command": "python bench/train_real.py " + " ".join(sys.argv[1:]),
        "differences_from_paper": DIFFERENCES, "datasets": {}, "not_run": [],
    }
    with tempfile.TemporaryDirectory(prefix="logllm_train_real_") as tmp:
        for name in args.datasets:
            dataset, info = build_real_dataset(name, args.window_size)
            entry = {**info, "paper": PAPER[name], "runs": []}
            payload["datasets"][name] = entry
            logger.info("%s: %s", name, info["sizes"])
            for seed in args.seeds:
                try:
                    entry["runs"].append(train_and_score(name, dataset, args, seed, Path(tmp)))
                except Exception as err:  # reported, never dropped silently
                    logger.exception("%s seed %d failed", name, seed)
                    payload["not_run"].append({"dataset": name, "reason": f"seed {seed} failed: {err}"})
                entry["summary"] = summarize([r["metrics"] for r in entry["runs"]])
                write_report(payload, args.output, render_markdown)
    return payload


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _stages_line(payload: dict[str, Any]) -> str:
    """The recipe's stage rates and epochs as the first stored run used them (recipes change over time)."""
    for d in payload["datasets"].values():
        for r in d.get("runs", []):
            return ", ".join(f"{s['stage']}: {s.get('learning_rate', 0):.0e} × {s.get('epochs', 0):g}" for s in r["stages"])
    return "no run stored"


def render_markdown(payload: dict[str, Any]) -> str:
    from logllm.baselines import format_mean_std, summarize

    hw = payload["hardware"]
    lines = [
        "# LogLLM trained on real Loghub windows vs the paper (Table II)", "",
        f"Model: {payload['model']}. Mean ± std over training seeds {payload['seeds']}. Hardware: "
        f"{hw.get('usable_cpus')}-core CPU ({hw.get('cpu')}), no GPU, {payload['torch_threads']} torch threads. "
        f"Threshold chosen on validation, applied to test. Created {payload.get('created')}.", "",
        f"Stages as run (learning rate × epochs): {_stages_line(payload)}.", "",
        "| data | windows (train/val/test, anomalous) | precision | recall | F1 | ROC-AUC | paper P/R/F1 | train s / run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, d in payload["datasets"].items():
        summary = d.get("summary") or summarize([])
        sizes = " / ".join(f"{v['windows']} ({v['anomalous']})" for v in d["sizes"].values())
        p = d["paper"]
        seconds = [r["train_time_s"] for r in d.get("runs", [])]
        lines.append(
            f"| {name} ({d['windowing']}) | {sizes} | {format_mean_std(summary, 'precision')} | {format_mean_std(summary, 'recall')} | "
            f"{format_mean_std(summary, 'f1')} | {format_mean_std(summary, 'roc_auc')} | "
            f"{p['paper_dataset']}: {p['precision']:.3f}/{p['recall']:.3f}/{p['f1']:.3f} | "
            f"{(sum(seconds) / len(seconds)) if seconds else float('nan'):.0f} |"
        )
    lines += ["", "Per seed (test F1 / ROC-AUC, validation-chosen threshold):", ""]
    for name, d in payload["datasets"].items():
        for r in d.get("runs", []):
            m = r["metrics"]
            lines.append(f"- {name} seed {r['seed']}: F1 {_fmt(m.get('f1'))}, ROC-AUC {_fmt(m.get('roc_auc'))}, "
                         f"threshold {_fmt(r.get('threshold'))}, {r['train_time_s']} s training")
    lines += ["", "## How this differs from the paper", ""] + [f"- {d}" for d in payload["differences_from_paper"]]
    lines.append("- Anomaly share: about 40% of these 20-line Thunderbird windows are anomalous (the slice is dense "
                 "in alerts), so β = 0.3 oversampling changes nothing here; the paper's full logs are far more imbalanced.")
    if "bgl_2k" in payload["datasets"]:
        lines.append("- BGL_2k gives only 100 windows of 20 lines (20 in test): its numbers are anecdotal.")
    else:
        lines.append(f"- BGL_2k not trained here: with 20-line windows it gives {BGL_2K_SIZES}; a validation split "
                     "without anomalies cannot choose a threshold, and 20 test windows say little. "
                     "Run `python bench/train_real.py --datasets thunderbird_12k bgl_2k` to try anyway.")
    for item in payload["not_run"]:
        lines.append(f"- Not run: {item['dataset']}: {item['reason']}")
    lines += ["", f"Command: `{payload.get('command')}`; the training arguments are in the JSON (`argv`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(TrainRealArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    payload = run(args)
    print(render_markdown(payload))
    return 0 if not payload["not_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
