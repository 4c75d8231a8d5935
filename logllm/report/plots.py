"""The four evaluation figures people look at first: confusion matrix, ROC, PR and score histogram."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from logllm.report.metrics import validate_labels_and_scores  # noqa: E402

logger = logging.getLogger(__name__)

PLOT_FILES = ("confusion_matrix.png", "roc_curve.png", "pr_curve.png", "score_histogram.png")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion_matrix(labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path, title: str = "") -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ConfusionMatrixDisplay.from_predictions(
        labels, (scores >= threshold).astype(int), labels=[0, 1],
        display_labels=["normal", "anomalous"], cmap="Blues", colorbar=False, ax=ax,
    )
    ax.set_title(f"{title}\nthreshold {threshold:.3g}".strip())
    return _save(fig, path)


def plot_roc_curve(labels: np.ndarray, scores: np.ndarray, path: Path, title: str = "") -> Path:
    from sklearn.metrics import RocCurveDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4))
    if len(np.unique(labels)) == 2:
        RocCurveDisplay.from_predictions(labels, scores, ax=ax, name="LogLLM" if not title else title)
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    else:
        ax.text(0.5, 0.5, "ROC undefined:\nonly one class present", ha="center", va="center")
    ax.set_title("ROC curve")
    return _save(fig, path)


def plot_pr_curve(labels: np.ndarray, scores: np.ndarray, path: Path, title: str = "") -> Path:
    from sklearn.metrics import PrecisionRecallDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4))
    if labels.sum() > 0:
        PrecisionRecallDisplay.from_predictions(labels, scores, ax=ax, name="LogLLM" if not title else title)
        ax.axhline(labels.mean(), linestyle="--", color="grey", linewidth=0.8, label="chance")
    else:
        ax.text(0.5, 0.5, "PR undefined:\nno anomalous windows", ha="center", va="center")
    ax.set_title("Precision-recall curve")
    return _save(fig, path)


def plot_score_histogram(labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.6))
    bins = np.linspace(min(0.0, scores.min()), max(1.0, scores.max()), 31)
    for value, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        ax.hist(scores[labels == value], bins=bins, alpha=0.6, color=color, label=f"{name} (n={int((labels == value).sum())})")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set_xlabel("anomaly score P(anomalous)")
    ax.set_ylabel("windows")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("Score distribution by true label")
    return _save(fig, path)


def save_plots(
    labels: Sequence[int], scores: Sequence[float], out_dir: str | Path, threshold: float, title: str = ""
) -> list[Path]:
    """Write confusion_matrix.png, roc_curve.png, pr_curve.png and score_histogram.png to `out_dir`."""
    y, s = validate_labels_and_scores(labels, scores)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_confusion_matrix(y, s, threshold, out / PLOT_FILES[0], title),
        plot_roc_curve(y, s, out / PLOT_FILES[1], title),
        plot_pr_curve(y, s, out / PLOT_FILES[2], title),
        plot_score_histogram(y, s, threshold, out / PLOT_FILES[3]),
    ]
    logger.info("wrote %d plots to %s", len(paths), out)
    return paths
