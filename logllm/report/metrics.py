"""Window-level detection metrics (scikit-learn) and the validation-chosen decision threshold."""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np

from logllm.report.metrics_file import MetricValues

logger = logging.getLogger(__name__)

METRIC_KEYS = tuple(MetricValues.__annotations__)  # what compute_metrics returns (metrics.json schema)


def validate_labels_and_scores(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Check that labels are 0/1 and scores finite, aligned one to one; say exactly what is wrong."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"{len(y)} labels but {len(s)} scores: they must align one to one")
    if len(y) == 0:
        raise ValueError("no windows to score: labels and scores are empty")
    bad = [i for i, v in enumerate(y.tolist()) if v not in (0, 1)]
    if bad:
        raise ValueError(
            f"labels must be 0 (normal) or 1 (anomalous); window {bad[0]} has {y.tolist()[bad[0]]!r} "
            f"({len(bad)} such windows; unlabeled windows (-1) cannot be scored)"
        )
    nonfinite = np.flatnonzero(~np.isfinite(s))
    if len(nonfinite):
        raise ValueError(f"score of window {nonfinite[0]} is {s[nonfinite[0]]}; scores must be finite")
    return y.astype(int), s


def compute_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> MetricValues:
    """Precision, recall, F1, accuracy, specificity at `threshold` (score >= threshold is anomalous),
    ROC-AUC and PR-AUC (None when only one class is present), and the confusion counts."""
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    from sklearn.metrics import (
        accuracy_score, average_precision_score, confusion_matrix, f1_score, precision_score, recall_score,
        roc_auc_score,
    )

    y, s = validate_labels_and_scores(labels, scores)
    predicted = (s >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[0, 1]).ravel())
    both_classes = len(np.unique(y)) == 2
    return {
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(y, predicted)),
        "specificity": float(recall_score(y, predicted, pos_label=0, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, s)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, s)) if both_classes else None,
        "threshold": float(threshold),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(len(y)),
    }


def best_f1_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The threshold with the best F1 on these (validation) windows, placed halfway to the next
    lower score so that it separates the same windows with the widest margin.

    Call it on the validation split only: choosing on test inflates every reported number.
    """
    from sklearn.metrics import precision_recall_curve

    y, s = validate_labels_and_scores(labels, scores)
    if y.sum() == 0:
        raise ValueError("cannot choose a best-F1 threshold: the split has no anomalous windows")
    precision, recall, thresholds = precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    chosen = float(thresholds[int(np.argmax(f1))])
    lower = s[s < chosen]
    threshold = (chosen + float(lower.max())) / 2 if len(lower) else chosen
    logger.info("best-F1 threshold %.6g (F1 %.4f on %d windows)", threshold, float(f1.max()), len(y))
    return threshold


def per_category_recall(rows: Sequence[dict[str, Any]], predicted: Sequence[bool]) -> dict[str, float]:
    """Recall of each anomaly category: the share of anomalous windows of that category flagged in ``predicted``.

    ``rows`` are windows (contract 2: ``label``, ``categories``); an anomalous window without a category counts
    under ``(none)``; a window with several categories counts for each.
    """
    hits: dict[str, list[int]] = {}
    for row, flag in zip(rows, predicted, strict=True):
        if int(row["label"]) == 1:
            for category in row["categories"] or ["(none)"]:
                hits.setdefault(category, []).append(int(flag))
    return {category: float(np.mean(flags)) for category, flags in sorted(hits.items())}

