"""The pretrained preset's QLoRA training on a GPU: time and memory (issue 14, item 5).

    python bench/train_gpu.py                      # every seed, on the CUDA device torch sees
    python bench/train_gpu.py --seeds 0 --note "..."

Trains the `small` preset (SmolLM2-135M-Instruct in 4-bit NF4 + LoRA r=8, recipe small/bench_qlora) on the same
real Thunderbird windows as bench/pretrained_vs_random.py (sliding 20-line windows, random split with the
benchmarks' split seed) and records, per seed: training wall time, peak GPU memory allocated and reserved
(torch.cuda), peak RSS, training windows per second and the test F1 at the validation-chosen threshold.

Without a CUDA device it measures nothing: the report says so, with `--note` (who lent no GPU), instead of a number.
Writes bench/results/train_gpu.json and .md.
"""

from __future__ import annotations

import logging
import resource
import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logllm.report.summary import format_mean_std, write_report

ROOT = Path(__file__).resolve().parents[1]
DATASET = "thunderbird_12k_w20"  # logllm.dataset.benchmarks: the windows of bench/pretrained_vs_random.py
WINDOW_LINES = 20
METRICS = ("precision", "recall", "f1", "roc_auc")
logger = logging.getLogger("bench.train_gpu")


@dataclass
class TrainGpuArguments:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "training seeds"})
    recipe: str = field(default="small/bench_qlora", metadata={"help": "train/recipes/ recipe (QLoRA)"})
    loghub_dir: str = field(default=str(ROOT.parent / "shared" / "loghub"), metadata={"help": "the shared Loghub samples"})
    recipe_overrides: str = field(default="", metadata={"help": "extra `logllm train` flags, one string"})
    note: str = field(default="", metadata={"help": "where no GPU was lent, say so here (printed in the report)"})
    output: str = field(default=str(ROOT / "bench" / "results" / "train_gpu"), metadata={"help": "<output>.json/.md"})


def train_one(seed: int, args: TrainGpuArguments, dataset: Any, workdir: str) -> dict[str, Any]:
    """One QLoRA training + test evaluation on the CUDA device; time and memory of the training."""
    import torch

    from logllm.report.cost import training_throughput
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    torch.cuda.reset_peak_memory_stats()
    argv = ["--config", args.recipe, "--dataset_name", "thunderbird_12k", "--output_dir", f"{workdir}/s{seed}",
            "--seed", str(seed), "--max_lines_per_window", str(WINDOW_LINES), *shlex.split(args.recipe_overrides)]
    started = time.perf_counter()
    result = run_training(*parse_arguments(argv), dataset=dataset)
    evaluation = result.eval_metrics or {}
    metrics = evaluation.get("metrics") or {}
    return {
        "seed": seed, **{k: metrics.get(k) for k in METRICS}, **training_throughput(result.stages),
        "run_seconds": round(time.perf_counter() - started, 1),
        "peak_gpu_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "peak_gpu_reserved_mb": round(torch.cuda.max_memory_reserved() / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "argv": " ".join(argv),
    }


def run(args: TrainGpuArguments) -> dict[str, Any]:
    import torch

    from logllm.dataset.benchmarks import bench_datasets
    from logllm.report.evaluate import hardware_info

    payload: dict[str, Any] = {"benchmark": "train_gpu", "hardware": hardware_info(), "recipe": args.recipe,
                               "seeds": args.seeds, "note": args.note, "runs": []}
    if not torch.cuda.is_available():
        payload["not_run"] = "no CUDA device visible to torch" + (f": {args.note}" if args.note else "")
        write_report(payload, args.output, render_markdown)
        return payload
    payload["gpu"] = {"name": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                      "memory_mb": round(torch.cuda.get_device_properties(0).total_memory / 2**20)}
    spec = bench_datasets(args.loghub_dir)[DATASET]
    dataset = spec.build("re")
    payload["data"] = spec.describe(dataset)
    with tempfile.TemporaryDirectory(prefix="logllm_gpu_") as tmp:
        for seed in args.seeds:
            payload["runs"].append(train_one(seed, args, dataset, tmp))
            write_report(payload, args.output, render_markdown)  # what is measured survives an interruption
    return payload


def render_markdown(payload: dict[str, Any]) -> str:
    hw = payload["hardware"]
    lines = ["# QLoRA training of the pretrained preset on a GPU", "",
             f"Recipe `{payload['recipe']}` (SmolLM2-135M-Instruct in 4-bit NF4 + LoRA r=8, MiniLM frozen), real "
             "Thunderbird 12k slice in sliding 20-line windows (the windows of bench/pretrained_vs_random.py). "
             f"Host: {hw.get('cpu')}, {hw.get('cpu_count')} CPUs, torch {hw.get('torch')}. Created {payload.get('created')}.", ""]
    if payload.get("not_run"):
        return "\n".join(lines + [f"**Not measured**: {payload['not_run']}. No time or memory figure is given "
                                  "rather than a CPU number in its place; the CPU QLoRA row is in "
                                  "bench/results/pretrained_vs_random.md.", ""])
    gpu = payload["gpu"]
    lines += [f"GPU: {gpu['name']} ({gpu['memory_mb']} MiB, CUDA {gpu['cuda']}); data {payload['data']['sizes']}.", "",
              "| seed | F1 | ROC-AUC | train s | windows/s | peak GPU allocated MB | peak GPU reserved MB | peak RSS MB |",
              "|---|---|---|---|---|---|---|---|"]
    for r in payload["runs"]:
        lines.append(f"| {r['seed']} | {r['f1']:.3f} | {r['roc_auc']:.3f} | {r['train_seconds']} | {r['windows_per_second']} "
                     f"| {r['peak_gpu_allocated_mb']} | {r['peak_gpu_reserved_mb']} | {r['peak_rss_mb']} |")
    runs = payload["runs"]
    if runs:
        lines += ["", f"Mean ± sample std: F1 {format_mean_std((r['f1'] for r in runs), 3)}, training "
                      f"{format_mean_std((r['train_seconds'] for r in runs), 1)} s."]
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    (args,) = HfArgumentParser(TrainGpuArguments).parse_args_into_dataclasses(args=argv)
    payload = run(args)
    done = f"not run: {payload['not_run']}" if payload.get("not_run") else f"{len(payload['runs'])} runs"
    print(f"wrote {args.output}.json and .md ({done})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
