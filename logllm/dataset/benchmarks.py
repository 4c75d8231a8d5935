"""The benchmark datasets: the windows and splits every method sees (LogLLM, baselines, generalization runs).

Each is built once with a fixed split seed (``SPLIT_SEED``); model seeds vary per run. Real ones read the Loghub
samples under ``loghub_dir`` (the benchmarks pass ``../shared/loghub`` next to the repository); a missing sample is a
``FileNotFoundError`` naming the file, never a silently smaller benchmark.

    from logllm.dataset.benchmarks import load_bench_dataset
    dataset, info = load_bench_dataset("bgl_2k", loghub_dir="../shared/loghub")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPLIT_SEED = 42


@dataclass
class BenchDataset:
    """How one benchmark dataset is built; `describe` goes into every result row."""

    name: str
    build: Callable[[str], Any]  # preprocessing -> DatasetDict
    source: str
    windowing: str
    split: str
    real: bool
    preprocessings: tuple[str, ...] = ("re", "raw", "template", "template_id")
    notes: str = ""

    def describe(self, dataset: Any, preprocessing: str = "re") -> dict[str, Any]:
        return {
            "dataset": self.name, "source": self.source, "real_data": self.real, "windowing": self.windowing,
            "split": self.split, "split_seed": SPLIT_SEED, "preprocessing": preprocessing, "notes": self.notes,
            "sizes": {k: {"windows": len(v), "anomalous": int(sum(v["label"]))} for k, v in dataset.items()},
        }


def loghub_dataset(kind: str, inputs: list[str], preprocessing: str, **settings: Any) -> Any:
    """A Loghub sample through the data build (``BuildSettings``) with the benchmark split seed."""
    from logllm.dataset.build import BuildSettings, build_dataset

    missing = [p for p in inputs + ([settings["labels"]] if settings.get("labels") else []) if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"real Loghub sample missing: {missing[0]} (expected ../shared/loghub next to the repo)")
    return build_dataset(BuildSettings(dataset=kind, inputs=inputs, preprocessing=preprocessing, seed=SPLIT_SEED, **settings))


def _synthetic(kind: str, preprocessing: str, **sizes: Any) -> Any:
    from logllm.dataset.build import build_synthetic_dataset

    return build_synthetic_dataset(kind, seed=0, preprocessing=preprocessing, **sizes)


def _deeplog_hdfs(loghub: Path, preprocessing: str) -> Any:
    """DeepLog's HDFS sessions (event keys, no text) as template-id windows, seeded random split."""
    from datasets import DatasetDict

    from logllm.dataset.features import windows_to_dataset
    from logllm.dataset.splits import split_windows

    if preprocessing != "template_id":
        raise ValueError("deeplog_hdfs holds event keys only: preprocessing must be template_id")
    windows = []
    for name, label in (("hdfs_train_normal_3855", 0), ("hdfs_abnormal_12000", 1)):
        path = loghub / "deeplog_hdfs" / name
        if not path.is_file():
            raise FileNotFoundError(f"real Loghub sample missing: {path}")
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            keys = text.split()
            if not keys:
                continue
            windows.append({
                "window_id": f"{name}:{number}", "source": name, "lines": [f"E{k}" for k in keys], "raw_lines": keys,
                "line_numbers": [number] * len(keys), "line_labels": [label] * len(keys), "label": label,
                "categories": [], "start_time": None, "end_time": None,
            })
    splits = split_windows(windows, "random", test_size=0.2, validation_size=0.1, seed=SPLIT_SEED)
    return DatasetDict({k: windows_to_dataset(v) for k, v in splits.items()})


def bench_datasets(loghub_dir: str | Path) -> dict[str, BenchDataset]:
    """Every benchmark dataset by name (nothing is built until its ``build`` is called)."""
    loghub = Path(loghub_dir)
    bgl = str(loghub / "loghub" / "BGL" / "BGL_2k.log")
    thunderbird = str(loghub / "thunderbird_subset" / "Thunderbird_part1_12000lines.log")
    hdfs = str(loghub / "hdfs_raw_head" / "HDFS_head_2000lines.log")
    hdfs_labels = str(loghub / "hdfs_raw_head" / "block_labels_in_sample.csv")
    return {d.name: d for d in (
        BenchDataset("synthetic_hdfs", lambda p: _synthetic("hdfs", p, n_sessions=1000), "generate_hdfs_like(1000 sessions, seed 0)",
                     "session", "random 7.2:0.8:2 (seed 42)", False),
        BenchDataset("synthetic_bgl", lambda p: _synthetic("bgl", p, n_lines=20000, window_size=100), "generate_bgl_like(20,000 lines, seed 0)",
                     "sliding 100/100", "chronological 7.2:0.8:2", False),
        BenchDataset("bgl_2k", lambda p: loghub_dataset("bgl", [bgl], p), "loghub BGL_2k.log (2,000 real lines)",
                     "sliding 100/100", "chronological 7.2:0.8:2", True, notes="20 windows: far too few for stable numbers"),
        BenchDataset("thunderbird_12k", lambda p: loghub_dataset("thunderbird", [thunderbird], p, split_method="random"),
                     "Thunderbird_part1_12000lines.log (12,000 real lines)", "sliding 100/100", "random 7.2:0.8:2 (seed 42)", True,
                     notes="random split: the slice is not in time order, and a chronological split leaves no anomaly in test"),
        BenchDataset("thunderbird_12k_w20", lambda p: loghub_dataset("thunderbird", [thunderbird], p, window_size=20, step=20, split_method="random"),
                     "Thunderbird_part1_12000lines.log (12,000 real lines)", "sliding 20/20", "random 7.2:0.8:2 (seed 42)", True,
                     notes="20-line windows give ~600 windows (bench/train_real.py's windows); ~40% are anomalous"),
        BenchDataset("hdfs_head", lambda p: loghub_dataset("hdfs", [hdfs], p, labels=hdfs_labels), "HDFS_head_2000lines.log + block labels",
                     "session", "random 7.2:0.8:2 (seed 42)", True, notes="head of the log: sessions cut short, 8 anomalous blocks"),
        BenchDataset("hdfs_deeplog", lambda p: _deeplog_hdfs(loghub, p), "DeepLog HDFS sessions (3,855 normal + 12,000 abnormal, event keys)",
                     "session", "random 7.2:0.8:2 (seed 42)", True, preprocessings=("template_id",),
                     notes="event keys only; anomalous sessions are the majority, unlike full HDFS (2.9%)"),
    )}


def load_bench_dataset(name: str, loghub_dir: str | Path, preprocessing: str = "re") -> tuple[Any, dict[str, Any]]:
    """(DatasetDict, description) of one benchmark dataset; a preprocessing it cannot take falls back to its first."""
    spec = bench_datasets(loghub_dir)[name]
    if preprocessing not in spec.preprocessings:
        preprocessing = spec.preprocessings[0]
    dataset = spec.build(preprocessing)
    return dataset, spec.describe(dataset, preprocessing)


__all__ = ["SPLIT_SEED", "BenchDataset", "bench_datasets", "load_bench_dataset", "loghub_dataset"]
