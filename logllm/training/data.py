"""Getting window datasets ready for training: load, check, oversample (β) and cut per-stage subsets.

Every check raises with the split, the count and what was expected; nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("lines", "label")


class TrainingDataError(ValueError):
    """A dataset that cannot train a detector (one class only, unknown labels, missing split/column)."""


def check_window_dataset(dataset: Any, *, name: str = "dataset", splits: tuple[str, ...] = ("train",)) -> None:
    """Fail early and clearly on splits or columns a LogLLM training run needs."""
    missing_splits = [s for s in splits if s not in dataset]
    if missing_splits:
        raise TrainingDataError(f"{name}: missing split(s) {missing_splits}; it has {sorted(dataset.keys())}")
    for split in splits:
        columns = set(dataset[split].column_names)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise TrainingDataError(f"{name}[{split}]: missing column(s) {missing}; window rows need {REQUIRED_COLUMNS}")
        if len(dataset[split]) == 0:
            raise TrainingDataError(f"{name}[{split}]: the split is empty")


def label_counts(split: Any) -> Counter:
    """How many windows carry each label (1 anomalous, 0 normal, -1 unknown)."""
    return Counter(int(v) for v in split["label"])


def check_trainable_labels(split: Any, *, name: str = "train") -> Counter:
    """A supervised detector needs labeled windows of both classes; say exactly what is there instead."""
    counts = label_counts(split)
    unknown = counts.get(-1, 0)
    other = sorted(set(counts) - {0, 1, -1})
    if unknown or other:
        raise TrainingDataError(
            f"{name}: {unknown} unlabeled (-1) window(s){f' and labels {other}' if other else ''}; every training "
            "window needs label 0 (normal) or 1 (anomalous). Drop unlabeled windows when building the dataset."
        )
    if counts.get(0, 0) == 0 or counts.get(1, 0) == 0:
        present = "normal" if counts.get(0, 0) else "anomalous"
        raise TrainingDataError(
            f"{name}: all {sum(counts.values())} windows are {present}; LogLLM is trained supervised and needs both "
            "normal (0) and anomalous (1) windows. Add labeled anomalies, or for normal-only logs see "
            "train/normal_only.py (synthesised anomalies)."
        )
    return counts


def oversample_minority(split: Any, beta: float, seed: int) -> Any:
    """Oversample the minority class to proportion β (paper §III-D) with the dataset builders' `oversample`."""
    if beta <= 0:
        return split
    from logllm.dataset.oversampling import oversample

    before = label_counts(split)
    result = oversample(split, beta=beta, seed=seed)
    after = label_counts(result)
    logger.info("oversampling to beta=%.2f: %s -> %s", beta, dict(before), dict(after))
    return result


def stage_subset(split: Any, max_samples: int | None, seed: int) -> Any:
    """A seeded random subset of at most `max_samples` windows (stage 1 uses 1,000 in the paper)."""
    if max_samples is None or max_samples <= 0 or max_samples >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(max_samples))


WEIGHT_COLUMN = "weight"


def distinct_windows(split: Any, max_lines_per_window: int | None = None) -> tuple[Any, dict[str, int]]:
    """One row per distinct (window lines, label), with the number of rows it stands for in `weight`.

    Real logs repeat themselves: 6,625 real HDFS training sessions hold 1,065 distinct masked windows, and β
    oversampling adds exact copies. Training on the distinct rows with each row's loss weighted by its count
    (`LogLLMTrainer` scales the loss so that an epoch's objective is that of the repeated rows) visits each window
    once. Lines are compared after the `max_lines_per_window` cut the collator applies. Rows keep the first
    occurrence's other columns and order; an existing `weight` column is summed. Returns (dataset, counts).
    """
    cut = max_lines_per_window if max_lines_per_window and max_lines_per_window > 0 else None
    weights = split[WEIGHT_COLUMN] if WEIGHT_COLUMN in split.column_names else [1.0] * len(split)
    first: dict[tuple[tuple[str, ...], int], int] = {}
    totals: list[float] = []
    keep: list[int] = []
    for i, (lines, label, weight) in enumerate(zip(split["lines"], split["label"], weights)):
        key = (tuple(lines[:cut] if cut else lines), int(label))
        slot = first.get(key)
        if slot is None:
            first[key] = len(keep)
            keep.append(i)
            totals.append(float(weight))
        else:
            totals[slot] += float(weight)
    result = split.select(keep)
    if WEIGHT_COLUMN in result.column_names:
        result = result.remove_columns(WEIGHT_COLUMN)
    result = result.add_column(WEIGHT_COLUMN, totals)
    counts = {"windows": len(split), "distinct_windows": len(keep), "weight_total": int(round(sum(totals)))}
    logger.info("distinct windows: %d rows -> %d distinct (weights sum to %d)", len(split), len(keep),
                counts["weight_total"])
    return result, counts


def answer_token_weight(split: Any, processor: Any) -> float:
    """Mean of weight x answer tokens over the rows of a distinct-window split: the loss normaliser that makes an
    epoch over distinct windows equal to an epoch over the repeated ones (`LogLLMTrainer`)."""
    ids = processor.prompt_ids
    tokens = {0: len(ids.normal_answer), 1: len(ids.anomalous_answer)}
    weights = split[WEIGHT_COLUMN] if WEIGHT_COLUMN in split.column_names else [1.0] * len(split)
    total = sum(float(w) * tokens[int(label)] for w, label in zip(weights, split["label"]))
    return total / max(1, len(split))


def limit_split(split: Any, max_windows: int | None) -> Any:
    """The first `max_windows` windows (kept in order: splits may be chronological)."""
    if max_windows is None or max_windows <= 0 or max_windows >= len(split):
        return split
    return split.select(range(max_windows))


def load_training_dataset(script_args: Any, seed: int) -> Any:
    """The DatasetDict named by `dataset_name`/`dataset_config`: generated offline for 'synthetic'."""
    if script_args.dataset_name == "synthetic":
        from logllm.dataset.build import build_synthetic_dataset

        kind = script_args.dataset_config or "hdfs"
        logger.info("generating synthetic %s-like windows (%d, seed %d)", kind, script_args.synthetic_sessions, seed)
        return build_synthetic_dataset(
            kind=kind,
            n_windows=script_args.synthetic_sessions,
            anomaly_ratio=script_args.synthetic_anomaly_ratio,
            validation_size=getattr(script_args, "synthetic_validation_size", 0.1),
            seed=seed,
        )
    from logllm.report.evaluate import load_window_dataset

    try:
        return load_window_dataset(script_args.dataset_name, script_args.dataset_config)
    except ValueError as error:  # a local folder without the config asked for, or unreadable parquet
        raise TrainingDataError(str(error)) from error
