"""The protocol every baseline follows: windows and 0/1 labels of each split, a threshold chosen on validation
(best F1) for supervised models or the model's own rule otherwise, per-seed runs and their mean ± sample std."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from logllm.report.metrics import best_f1_threshold

logger = logging.getLogger(__name__)

SUMMARY_KEYS = ("precision", "recall", "f1", "accuracy", "specificity", "roc_auc", "pr_auc")


def windows_and_labels(ds: Any, name: str = "split") -> tuple[list[list[str]], np.ndarray]:
    """`lines` and 0/1 `label` columns of a datasets.Dataset (or a dict of columns)."""
    lines = [list(w) for w in ds["lines"]]
    labels = np.asarray(ds["label"], dtype=int)
    if len(lines) != len(labels):
        raise ValueError(f"{name}: {len(lines)} windows but {len(labels)} labels")
    if len(lines) == 0:
        raise ValueError(f"{name}: no windows")
    unknown = np.flatnonzero(~np.isin(labels, (0, 1)))
    if len(unknown):
        raise ValueError(f"{name}: window {int(unknown[0])} has label {labels[unknown[0]]}; baselines need 0/1 labels")
    return lines, labels


@dataclass
class SplitData:
    train: tuple[list[list[str]], np.ndarray]
    test: tuple[list[list[str]], np.ndarray]
    validation: tuple[list[list[str]], np.ndarray] | None


def split_data(train_ds: Any, test_ds: Any, validation_ds: Any | None) -> SplitData:
    return SplitData(
        train=windows_and_labels(train_ds, "train"),
        test=windows_and_labels(test_ds, "test"),
        validation=None if validation_ds is None or len(validation_ds["label"]) == 0 else windows_and_labels(validation_ds, "validation"),
    )


def choose_threshold(val_scores: np.ndarray | None, val_labels: np.ndarray | None, default: float, supervised: bool) -> tuple[float, str]:
    if supervised and val_scores is not None and val_labels is not None and val_labels.sum() > 0:
        return best_f1_threshold(val_labels, val_scores), "best F1 on validation"
    return default, "model default"


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds for each summary metric (`logllm.report.summary`)."""
    from logllm.report.summary import summarize_runs

    return summarize_runs(runs, SUMMARY_KEYS)


def result(name: str, runs: list[dict[str, Any]], seeds: Sequence[int], data: SplitData, **facts: Any) -> dict[str, Any]:
    return {
        "model": name,
        "seeds": list(seeds),
        "runs": runs,
        **summarize(runs),
        "n_train": len(data.train[1]),
        "n_validation": 0 if data.validation is None else len(data.validation[1]),
        "n_test": len(data.test[1]),
        **facts,
    }


def skipped(name: str, reason: str, seeds: Sequence[int]) -> dict[str, Any]:
    logger.warning("%s skipped: %s", name, reason)
    return {"model": name, "seeds": list(seeds), "runs": [], "skipped": reason}


def format_mean_std(result: dict[str, Any], key: str = "f1") -> str:
    """A baseline result's `key` over its seeds as `mean ± std` (sample std; `logllm.report.summary`)."""
    from logllm.report.summary import format_mean_std as fmt

    return fmt(run.get(key) for run in result.get("runs", []))
