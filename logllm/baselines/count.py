"""Event-count baselines (scikit-learn): logistic regression, decision tree, random forest, k-NN, SVM and the
unsupervised isolation forest. A window becomes a vector of counts over the distinct preprocessed lines of the
*training* split; lines never seen in training fall into one extra "other" column, so test data cannot reshape the
features."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from logllm.baselines.protocol import SplitData, choose_threshold, result, skipped, split_data
from logllm.report.metrics import compute_metrics

logger = logging.getLogger(__name__)

OTHER = "<other>"


class EventCountVectorizer(TransformerMixin, BaseEstimator):
    """Window (list of preprocessed lines) -> sparse count vector over the training vocabulary.

    Column 0 is "other": every line not seen at fit time. `min_count` drops rare training lines
    into "other" too (1 keeps all).
    """

    def __init__(self, min_count: int = 1):
        self.min_count = min_count

    def fit(self, windows: Sequence[Sequence[str]], y: Any = None) -> "EventCountVectorizer":
        counts = Counter(line for window in windows for line in window)
        kept = sorted(line for line, c in counts.items() if c >= self.min_count)
        self.vocabulary_ = {OTHER: 0, **{line: i + 1 for i, line in enumerate(kept)}}
        return self

    def transform(self, windows: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        rows, cols = [], []
        for r, window in enumerate(windows):
            for line in window:
                rows.append(r)
                cols.append(self.vocabulary_.get(line, 0))
        data = np.ones(len(rows), dtype=np.float64)
        matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(windows), len(self.vocabulary_)))
        matrix.sum_duplicates()
        return matrix

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)


def count_model_factories() -> dict[str, Callable[[int], Any]]:
    """name -> seed -> unfitted sklearn pipeline. Linear/distance models read TF-IDF-weighted,
    L2-normalised counts (as in loglizer); trees and isolation forest read raw counts."""
    from sklearn.ensemble import IsolationForest, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    def counts() -> EventCountVectorizer:
        return EventCountVectorizer()

    return {
        "logistic_regression": lambda seed: make_pipeline(counts(), TfidfTransformer(), LogisticRegression(max_iter=2000, random_state=seed)),
        "decision_tree": lambda seed: make_pipeline(counts(), DecisionTreeClassifier(random_state=seed)),
        "random_forest": lambda seed: make_pipeline(counts(), RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)),
        "knn": lambda seed: make_pipeline(counts(), TfidfTransformer(), KNeighborsClassifier(n_neighbors=5)),
        "svm": lambda seed: make_pipeline(counts(), TfidfTransformer(), LinearSVC(random_state=seed)),
        "isolation_forest": lambda seed: make_pipeline(counts(), IsolationForest(n_estimators=100, random_state=seed)),
    }


UNSUPERVISED = {"isolation_forest"}


def anomaly_scores(pipeline: Any, windows: Sequence[Sequence[str]]) -> tuple[np.ndarray, float]:
    """Higher = more anomalous, plus the model's own default threshold on that scale."""
    final = pipeline[-1]
    if hasattr(final, "predict_proba"):
        return pipeline.predict_proba(windows)[:, list(final.classes_).index(1)], 0.5
    if final.__class__.__name__ == "IsolationForest":
        # score_samples: lower = more abnormal; sklearn predicts outlier when score < offset_
        return -pipeline.score_samples(windows), float(-final.offset_)
    return pipeline.decision_function(windows), 0.0


def run_count_baselines(
    train_ds: Any,
    test_ds: Any,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    validation_ds: Any | None = None,
    models: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit every event-count model on `train_ds` once per seed and score `test_ds`.

    Returns {model: {"runs": [metrics per seed], "mean", "std", "seeds", "n_train", ...}}.
    Supervised models need both classes in train; otherwise they are reported as skipped.
    Deterministic models (k-NN) still run per seed so every row has the same shape.
    """
    if len(seeds) == 0:
        raise ValueError("give at least one seed")
    data = split_data(train_ds, test_ds, validation_ds)
    factories = count_model_factories()
    unknown = set(models or ()) - set(factories)
    if unknown:
        raise ValueError(f"unknown count baselines {sorted(unknown)}; choose from {sorted(factories)}")
    one_class = len(np.unique(data.train[1])) < 2
    results: dict[str, dict[str, Any]] = {}
    for name in models or factories:
        supervised = name not in UNSUPERVISED
        if supervised and one_class:
            results[name] = skipped(name, f"train split has only label {int(data.train[1][0])}", seeds)
            continue
        runs = []
        for seed in seeds:
            runs.append(_fit_and_score(factories[name](seed), data, seed, supervised))
        results[name] = result(name, runs, seeds, data, features="event counts", vocabulary=runs[-1].pop("vocabulary"))
        for run in runs:
            run.pop("vocabulary", None)
        logger.info("%s: F1 %.4f ± %.4f", name, results[name]["mean"]["f1"], results[name]["std"]["f1"])
    return results


def _cap_neighbours(pipeline: Any, n_train: int) -> None:
    """k-NN cannot ask for more neighbours than there are training windows: use min(k, n_train)."""
    final = pipeline[-1]
    if hasattr(final, "n_neighbors") and final.n_neighbors > n_train:
        logger.warning("k-NN: %d training windows < %d neighbours; using k=%d", n_train, final.n_neighbors, n_train)
        final.set_params(n_neighbors=n_train)


def _fit_and_score(pipeline: Any, data: SplitData, seed: int, supervised: bool) -> dict[str, Any]:
    (train_w, train_y), (test_w, test_y) = data.train, data.test
    _cap_neighbours(pipeline, len(train_y))
    started = time.perf_counter()
    pipeline.fit(train_w, train_y if supervised else None)
    fit_s = time.perf_counter() - started
    val_scores = val_labels = None
    if data.validation is not None:
        val_scores, _ = anomaly_scores(pipeline, data.validation[0])
        val_labels = data.validation[1]
    started = time.perf_counter()
    scores, default = anomaly_scores(pipeline, test_w)
    score_s = time.perf_counter() - started
    threshold, source = choose_threshold(val_scores, val_labels, default, supervised)
    return {
        **compute_metrics(test_y, scores, threshold),
        "seed": seed, "threshold_source": source, "fit_time_s": round(fit_s, 4), "score_time_s": round(score_s, 4),
        "vocabulary": len(pipeline[0].vocabulary_),
    }
