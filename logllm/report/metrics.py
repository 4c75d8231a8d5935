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
    """The threshold in the middle of the best-F1 plateau on these (validation) windows.

    Every threshold between the score just below the lowest best-F1 cut and the highest best-F1 cut gives the same
    (best) validation F1. Taking the plateau's lower edge, as a plain argmax does, puts the decision next to the
    highest-scoring normal windows, so a test window a little above them flips it (the quickstart's test F1 moved
    0.79-0.99 between runs that way). The middle keeps the widest margin on both sides: in logit space for
    probabilities (scores in [0, 1]), else in score space.

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
    best = f1.max()
    probabilities = bool(((s >= 0) & (s <= 1)).all())
    eps = 1e-7
    to_space = (lambda p: math.log(min(max(p, eps), 1 - eps) / (1 - min(max(p, eps), 1 - eps)))) if probabilities \
        else (lambda v: v)  # noqa: E731
    from_space = (lambda z: 1 / (1 + math.exp(-z))) if probabilities else (lambda v: v)  # noqa: E731
    on = np.flatnonzero(f1 >= best - 1e-12)  # cuts (score >= cut, ascending) that reach the best F1
    runs = np.split(on, np.flatnonzero(np.diff(on) > 1) + 1)  # contiguous plateaus (F1 may dip between two)
    spans = []
    for run in runs:
        low, high = float(thresholds[run[0]]), float(thresholds[run[-1]])
        below = s[s < low]
        edge = float(below.max()) if len(below) else low  # any cut in (edge, high] keeps the best F1
        spans.append((to_space(high) - to_space(edge), edge, high))
    _, edge, high = max(spans)
    if edge == high:
        threshold = high
    else:
        threshold = from_space((to_space(edge) + to_space(high)) / 2)
        threshold = min(max(threshold, float(np.nextafter(edge, np.inf))), high)  # inside (edge, high]
    logger.info("best-F1 threshold %.6g, middle of the plateau (%.6g, %.6g] (F1 %.4f on %d windows)",
                threshold, edge, high, float(best), len(y))
    return float(threshold)


def line_level_metrics(results: Sequence[Any], flagged: Sequence[bool], top_k: int = 3,
                       novelty_threshold: float | None = None) -> dict[str, Any]:
    """How well the highlighted lines point at the anomalous ones, against per-line labels.

    `results` are scored windows (`scoring.detector.WindowResult`: `line_numbers`, `line_labels`, line evidence);
    `flagged[i]` says whether window i was reported. Highlighted lines are the `top_k` suspicious lines of flagged
    windows (`WindowResult.suspicious_lines`: unseen lines first when `novelty_threshold` is given, then positive model
    evidence). Line precision/recall/F1 count highlighted vs anomalous lines over all windows (an anomalous line of an
    unreported window is a miss); top-1 hit is the share of windows holding an anomalous line whose first suspicious
    line is one (reported or not: it measures the ranking of lines, as a reader of any window would see it).
    """
    tp = fp = fn = hits = anomalous_windows = 0
    for result, reported in zip(results, flagged, strict=True):
        labels = dict(zip(result.line_numbers, result.line_labels or [0] * len(result.line_numbers)))
        positives = {n for n, y in labels.items() if int(y) == 1}
        highlighted = {n for n, _, _ in result.suspicious_lines(top_k, novelty_threshold)} if reported else set()
        tp += len(highlighted & positives)
        fp += len(highlighted - positives)
        fn += len(positives - highlighted)
        if positives:
            anomalous_windows += 1
            first = result.suspicious_lines(1, novelty_threshold)
            hits += bool(first and first[0][0] in positives)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "windows": len(results), "windows_with_anomalous_lines": anomalous_windows,
        "flagged_windows": int(sum(bool(f) for f in flagged)),
        "top1_hit_rate": hits / anomalous_windows if anomalous_windows else None,
        "line_precision": precision, "line_recall": recall,
        "line_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "highlighted_lines": tp + fp, "anomalous_lines": tp + fn, "top_k": top_k,
    }


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

