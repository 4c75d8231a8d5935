"""Computational cost: parameters, training time per stage, inference speed and memory,
next to the paper's Table III.

Training time per stage is read from the `trainer_state.json` files that `transformers.Trainer`
writes (the last `log_history` entry holds `train_runtime`); the stage is the name of the folder
holding the file (e.g. `stage1/`, `stage2a/`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Published numbers, Guan et al. 2024 (arXiv 2411.08561), Table III: minutes, averaged over HDFS,
# BGL, Liberty and Thunderbird, one GPU. Typed from the paper; nothing else here is typed by hand.
PAPER_TABLE_III_MINUTES: dict[str, tuple[float, float]] = {
    "DeepLog": (72.17, 3.42),
    "LogAnomaly": (156.16, 7.25),
    "PLELog": (315.47, 33.59),
    "LogRobust": (108.42, 2.48),
    "CNN": (98.16, 2.16),
    "FastLogAD": (254.17, 0.29),
    "LogBERT": (429.04, 43.77),
    "NeuralLog": (267.46, 21.44),
    "RAPID": (63.98, 38.43),
    "LogLLM": (1065.15, 64.48),
}


def training_times(training_dir: str | Path | None) -> list[dict[str, Any]]:
    """One row per trainer_state.json below `training_dir`: stage, seconds, steps, epochs, samples/s."""
    if training_dir is None:
        return []
    root = Path(training_dir)
    if not root.exists():
        raise FileNotFoundError(f"training output {root} does not exist")
    rows = []
    for state_file in sorted(root.rglob("trainer_state.json")):
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{state_file}: not valid JSON ({err})") from err
        summary = next((e for e in reversed(state.get("log_history", [])) if "train_runtime" in e), None)
        if summary is None and state_file.parent.name.startswith("checkpoint-"):
            continue  # a checkpoint saved mid-stage; the stage's own trainer_state.json has the totals
        if summary is None:
            logger.warning("%s has no train_runtime entry (training unfinished?); skipped in the cost report", state_file)
            continue
        stage_dir = state_file.parent
        if stage_dir.name.startswith("checkpoint-"):
            stage_dir = stage_dir.parent
        rows.append({
            "stage": str(stage_dir.relative_to(root)) if stage_dir != root else root.name,
            "train_runtime_s": float(summary["train_runtime"]),
            "train_samples_per_second": summary.get("train_samples_per_second"),
            "global_step": state.get("global_step"),
            "epochs": state.get("epoch"),
            "source": str(state_file.relative_to(root)),  # no local path in a file that is pushed
        })
    # a stage's final state and its checkpoints both carry the summary: keep one per stage, the longest run
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["stage"] not in best or row["train_runtime_s"] > best[row["stage"]]["train_runtime_s"]:
            best[row["stage"]] = row
    return [best[k] for k in sorted(best)]


def training_throughput(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """Training seconds, window passes (windows x epochs) and windows per second of a run's stage records
    (`TrainingResult.stages`), as the benchmarks report them."""
    seconds = sum(float(s.get("seconds", 0)) for s in stages)
    passes = sum(float(s.get("windows", 0)) * float(s.get("epochs", 0)) for s in stages)
    return {"train_seconds": round(seconds, 1), "training_window_passes": int(passes),
            "windows_per_second": round(passes / seconds, 2) if seconds else None}


def count_parameters(model: Any) -> dict[str, int]:
    """Total and trainable parameters (4-bit weights count as stored elements x 2, as bitsandbytes packs two per byte)."""
    total = trainable = 0
    for param in model.parameters():
        n = param.numel()
        if getattr(param, "quant_state", None) is not None or param.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        trainable += n if param.requires_grad else 0
    return {"total": total, "trainable": trainable}


def build_cost_report(model: Any, evaluation: dict[str, Any], training_dir: str | Path | None = None) -> dict[str, Any]:
    """Cost facts for one evaluated model: parameters, stage times, inference speed, memory."""
    stages = training_times(training_dir)
    total_train_s = sum(r["train_runtime_s"] for r in stages) if stages else None
    return {
        "dataset": evaluation.get("dataset"),
        "split": evaluation.get("split"),
        "model": evaluation.get("model"),
        "hardware": evaluation.get("hardware"),
        "parameters": count_parameters(model) if model is not None and hasattr(model, "parameters") else None,
        "training_stages": stages,
        "training_time_min": None if total_train_s is None else round(total_train_s / 60, 3),
        "inference_time_min": round(evaluation["inference_time_s"] / 60, 4),
        "n_windows": evaluation["n_windows"],
        "n_lines": evaluation["n_lines"],
        "windows_per_s": evaluation.get("windows_per_s"),
        "lines_per_s": evaluation.get("lines_per_s"),
        "peak_cpu_memory_mb": evaluation.get("peak_cpu_memory_mb"),
        "peak_gpu_memory_mb": evaluation.get("peak_gpu_memory_mb"),
        "paper_table_iii_minutes": {k: {"training": v[0], "testing": v[1]} for k, v in PAPER_TABLE_III_MINUTES.items()},
    }


def render_cost_markdown(cost: dict[str, Any]) -> str:
    params = cost.get("parameters") or {}
    hw = (cost.get("hardware") or {}).get("summary", "?")
    lines = [
        f"# Cost: {cost.get('model') or 'model'} on {cost.get('dataset') or 'dataset'} ({cost.get('split')})",
        "",
        f"Measured on {hw}.",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| parameters (total) | {params.get('total', 'n/a'):,} |" if params else "| parameters (total) | n/a |",
        f"| parameters (trainable) | {params.get('trainable', 'n/a'):,} |" if params else "| parameters (trainable) | n/a |",
        f"| windows scored | {cost['n_windows']:,} ({cost['n_lines']:,} lines) |",
        f"| inference time | {cost['inference_time_min'] * 60:.2f} s |",
        f"| windows/s | {cost['windows_per_s']} |",
        f"| lines/s | {cost['lines_per_s']} |",
        f"| peak CPU memory (process RSS) | {cost['peak_cpu_memory_mb']} MiB |",
        f"| peak GPU memory | {cost['peak_gpu_memory_mb'] if cost['peak_gpu_memory_mb'] is not None else 'no GPU'} |",
        "",
        "## Training time per stage",
        "",
    ]
    if cost["training_stages"]:
        lines += ["| stage | time (min) | steps | epochs |", "|---|---:|---:|---:|"]
        lines += [
            f"| {r['stage']} | {r['train_runtime_s'] / 60:.2f} | {r['global_step']} | {r['epochs']} |"
            for r in cost["training_stages"]
        ]
        lines.append(f"| **total** | {cost['training_time_min']:.2f} | | |")
    else:
        lines.append("Not measured here (no training output with trainer_state.json was given).")
    lines += [
        "",
        "## Next to the paper's Table III",
        "",
        "Paper rows are published numbers (Guan et al. 2024, Table III: minutes averaged over four full",
        "datasets on one GPU); our row is this run. Different data sizes and hardware: compare orders of",
        "magnitude, not ratios.",
        "",
        "| method | training (min) | testing (min) | source |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {k} | {v[0]:,.2f} | {v[1]:,.2f} | paper |" for k, v in PAPER_TABLE_III_MINUTES.items()]
    train = "n/a" if cost["training_time_min"] is None else f"{cost['training_time_min']:.2f}"
    lines.append(f"| this run ({cost.get('model')}) | {train} | {cost['inference_time_min']:.3f} | measured, {cost['n_windows']} windows, {hw} |")
    return "\n".join(lines) + "\n"


def write_cost_report(model: Any, evaluation: dict[str, Any], out_dir: str | Path, training_dir: str | Path | None = None) -> dict[str, Any]:
    """Write cost.json and cost.md next to metrics.json; returns the cost facts."""
    cost = build_cost_report(model, evaluation, training_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost.json").write_text(json.dumps(cost, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "cost.md").write_text(render_cost_markdown(cost), encoding="utf-8")
    return cost


class LoadSampler:
    """The 1-minute load average every `every` seconds while a run goes (the cores are shared with other jobs)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.samples, self._stop = every, [os.getloadavg()[0]], threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {"mean": round(float(sum(self.samples) / len(self.samples)), 2), "max": round(max(self.samples), 2),
                "start": self.samples[0], "end": self.samples[-1]}
