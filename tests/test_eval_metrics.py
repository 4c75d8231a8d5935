"""Metrics against scikit-learn and hand counts; thresholds; plots."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score, average_precision_score, f1_score, precision_score, recall_score, roc_auc_score,
)

from logllm.report.metrics import best_f1_threshold, compute_metrics
from logllm.report.plots import PLOT_FILES, save_plots

LABELS = [0, 0, 0, 0, 1, 1, 1, 0, 1, 0]
SCORES = [0.05, 0.2, 0.7, 0.1, 0.9, 0.4, 0.8, 0.3, 0.65, 0.55]


def test_counts_by_hand():
    m = compute_metrics(LABELS, SCORES, threshold=0.5)
    # >= 0.5: indices 2 (0), 4 (1), 6 (1), 8 (1), 9 (0) -> tp 3, fp 2; index 5 (1, 0.4) missed
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["n"]) == (3, 2, 4, 1, 10)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["threshold"] == 0.5


@pytest.mark.parametrize("threshold", [0.0, 0.35, 0.5, 0.75, 0.95])
def test_matches_sklearn(threshold):
    m = compute_metrics(LABELS, SCORES, threshold)
    pred = (np.asarray(SCORES) >= threshold).astype(int)
    assert m["precision"] == pytest.approx(precision_score(LABELS, pred, zero_division=0))
    assert m["recall"] == pytest.approx(recall_score(LABELS, pred, zero_division=0))
    assert m["f1"] == pytest.approx(f1_score(LABELS, pred, zero_division=0))
    assert m["accuracy"] == pytest.approx(accuracy_score(LABELS, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(LABELS, SCORES))
    assert m["pr_auc"] == pytest.approx(average_precision_score(LABELS, SCORES))


def test_single_class_has_no_ranking_metrics():
    m = compute_metrics([0, 0, 0], [0.1, 0.6, 0.2], 0.5)
    assert m["roc_auc"] is None and m["pr_auc"] is None
    assert (m["fp"], m["tn"], m["precision"], m["recall"]) == (1, 2, 0.0, 0.0)


@pytest.mark.parametrize(
    "labels, scores, message",
    [([0, 1], [0.1], "2 labels but 1 scores"), ([0, -1], [0.1, 0.2], "window 1 has -1"),
     ([0, 1], [0.1, float("nan")], "window 1 is nan"), ([], [], "empty")],
)
def test_bad_input_is_named(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        compute_metrics(labels, scores)


def test_best_f1_threshold_maximises_f1_and_sits_between_scores():
    t = best_f1_threshold(LABELS, SCORES)
    best = compute_metrics(LABELS, SCORES, t)["f1"]
    for candidate in np.linspace(0, 1, 101):
        assert compute_metrics(LABELS, SCORES, candidate)["f1"] <= best + 1e-12
    assert t not in SCORES  # halfway between two scores, not on one
    assert best_f1_threshold([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == pytest.approx(0.5)


def test_best_f1_threshold_takes_the_middle_of_the_plateau_not_its_edge():
    # every cut in (0.10, 0.60] separates perfectly: the middle in logit space, far from the normal windows' top
    labels, scores = [0, 0, 0, 1, 1], [0.01, 0.02, 0.10, 0.60, 0.90]
    t = best_f1_threshold(labels, scores)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(t) == pytest.approx((logit(0.10) + logit(0.60)) / 2)
    assert 0.10 < t < 0.60 and t != pytest.approx(0.35)  # not the edge-anchored halfway point of a plain argmax
    # a plateau of several cuts: one missed anomaly either way (0.3 or 0.5 gives the same F1); the wider one wins
    labels, scores = [0, 0, 1, 0, 1, 1], [0.05, 0.2, 0.3, 0.4, 0.8, 0.95]
    t = best_f1_threshold(labels, scores)
    f1 = compute_metrics(labels, scores, t)["f1"]
    assert f1 == max(compute_metrics(labels, scores, c)["f1"] for c in np.linspace(0, 1, 201))
    # scores that are not probabilities: the middle in score space
    assert best_f1_threshold([0, 1], [-4.0, 2.0]) == pytest.approx(-1.0)


def test_best_f1_threshold_needs_anomalies():
    with pytest.raises(ValueError, match="no anomalous windows"):
        best_f1_threshold([0, 0], [0.1, 0.2])


def test_plots_written_and_non_empty(tmp_path):
    paths = save_plots(LABELS, SCORES, tmp_path, 0.5)
    assert [p.name for p in paths] == list(PLOT_FILES)
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_plots_survive_one_class(tmp_path):
    paths = save_plots([0, 0, 0], [0.1, 0.2, 0.3], tmp_path, 0.5)
    assert all(p.stat().st_size > 0 for p in paths)


def test_per_category_recall_counts_each_category_of_anomalous_windows_only():
    from logllm.report.metrics import per_category_recall

    rows = [{"label": 1, "categories": ["disk"]}, {"label": 1, "categories": ["disk", "net"]},
            {"label": 1, "categories": []}, {"label": 0, "categories": []}]
    assert per_category_recall(rows, [True, False, True, True]) == {"(none)": 1.0, "disk": 0.5, "net": 0.0}
    with pytest.raises(ValueError):
        per_category_recall(rows, [True])  # predictions must align with the windows


def test_line_level_metrics_count_highlighted_lines_against_line_labels():
    """Highlighted = top-k suspicious lines of flagged windows: unseen lines first, then positive model evidence;
    misses of unflagged windows count; top-1 hit is judged on every window holding an anomalous line."""
    from logllm.report.metrics import line_level_metrics
    from logllm.scoring.detector import WindowResult

    def window(labels, evidence, novelty=None):
        n = len(labels)
        return WindowResult(window_id="w", source="s", line_numbers=list(range(1, n + 1)),
                            lines=[f"line {i}" for i in range(n)], score=0.9, anomalous=True, line_scores=evidence,
                            line_labels=labels, line_novelty=novelty)

    hit = window([0, 1, 0, 0], [0.1, 2.0, -0.5, 0.0])          # the anomalous line ranks first
    miss = window([1, 0, 0, 0], [-1.0, 0.5, 0.2, -0.1])        # two normal lines carry positive evidence
    unseen = window([0, 0, 1, 0], [0.3, -0.2, -0.4, -0.1], novelty=[0.0, 0.0, 0.9, 0.0])
    normal = window([0, 0, 0, 0], [0.2, -0.1, -0.1, -0.1])
    results = [hit, miss, unseen, normal]

    decoder = line_level_metrics(results, [True, True, True, False], top_k=2)
    # highlighted: hit {2, 1}, miss {2, 3}, unseen {1} (only positive evidence); anomalous lines: 2, 1, 3
    assert decoder["highlighted_lines"] == 5 and decoder["anomalous_lines"] == 3
    assert decoder["line_precision"] == 1 / 5 and decoder["line_recall"] == 1 / 3
    assert decoder["top1_hit_rate"] == 1 / 3 and decoder["windows_with_anomalous_lines"] == 3
    with_novelty = line_level_metrics(results, [True, True, True, False], top_k=2, novelty_threshold=0.5)
    assert with_novelty["top1_hit_rate"] == 2 / 3  # the unseen line comes first
    assert with_novelty["line_recall"] == 2 / 3
    nothing_flagged = line_level_metrics(results, [False] * 4, top_k=2)
    assert nothing_flagged["line_recall"] == 0.0 and nothing_flagged["line_f1"] == 0.0
    assert nothing_flagged["top1_hit_rate"] == 1 / 3  # ranking is judged whether or not the window was reported
