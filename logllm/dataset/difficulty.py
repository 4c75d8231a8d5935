"""How hard is a window dataset? Three cheap detectors, fit on train and scored on test.

* ``keyword rule`` — a window is anomalous if a line contains an error word (error, exception,
  fail, fatal, ...): what a grep alert would do;
* ``best single token`` — the one whitespace token whose presence best separates the classes on
  the training split (F1), applied to test: if this scores ~1.0 the data is trivially separable;
* ``decision tree on event counts`` — counts of each distinct preprocessed line per window,
  sklearn ``DecisionTreeClassifier`` (the strong simple baseline of Yu et al., ICSE 2024).

These numbers go into the dataset card so readers know how much a model must do beyond grep.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["KEYWORDS", "keyword_rule", "measure_difficulty"]

logger = logging.getLogger(__name__)

KEYWORDS = ("error", "exception", "fail", "fatal", "severed", "interrupt", "killed", "timeout", "critical", "panic")
_KEYWORD = re.compile("|".join(KEYWORDS), re.IGNORECASE)


def keyword_rule(windows_lines: list[list[str]]) -> np.ndarray:
    """1 for windows with an error keyword in any line."""
    return np.array([int(any(_KEYWORD.search(line) for line in lines)) for lines in windows_lines])


def _column(split: Any, name: str) -> list:
    return list(split[name]) if hasattr(split, "column_names") else [row[name] for row in split]


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    return {"precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)),
            "f1": float(f1_score(y, pred, zero_division=0))}


def _best_token(train_lines: list[list[str]], y: np.ndarray):
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=lambda lines: {tok for line in lines for tok in line.split()}, binary=True)
    x = vectorizer.fit_transform(train_lines)
    tp = np.asarray(x[y == 1].sum(axis=0)).ravel()
    fp = np.asarray(x[y == 0].sum(axis=0)).ravel()
    fn = int(y.sum()) - tp
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp), dtype=float), where=(2 * tp + fp + fn) > 0)
    best = int(f1.argmax())
    token = vectorizer.get_feature_names_out()[best]
    return token, float(f1[best])


def measure_difficulty(splits: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """Keyword rule, best single token and an event-count decision tree: fit on train, scored on test."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.tree import DecisionTreeClassifier

    train_lines, test_lines = _column(splits["train"], "lines"), _column(splits["test"], "lines")
    y_train, y_test = np.array(_column(splits["train"], "label")), np.array(_column(splits["test"], "label"))
    if set(np.unique(y_train)) - {0, 1} or set(np.unique(y_test)) - {0, 1} or y_train.sum() == 0:
        raise ValueError("difficulty needs labeled (0/1) train and test windows with some anomalies in train")
    predictions: dict[str, np.ndarray] = {"keyword rule": keyword_rule(test_lines)}
    token, train_f1 = _best_token(train_lines, y_train)
    predictions[f"best single token ({token!r})"] = np.array([int(any(token in line.split() for line in lines))
                                                              for lines in test_lines])
    counts = CountVectorizer(analyzer=lambda lines: lines, lowercase=False)
    tree = DecisionTreeClassifier(random_state=seed).fit(counts.fit_transform(train_lines), y_train)
    predictions["decision tree on event counts"] = tree.predict(counts.transform(test_lines))
    methods = {name: _scores(y_test, pred) for name, pred in predictions.items()}
    categories = _column(splits["test"], "categories")
    per_category: dict[str, dict[str, Any]] = {}
    for kind in sorted({c for cats in categories for c in cats}):
        mask = np.array([kind in cats for cats in categories])
        per_category[kind] = {"windows": int(mask.sum())}
        per_category[kind].update({name: float(pred[mask].mean()) for name, pred in predictions.items()})
    return {
        "methods": methods,
        "per_category_recall": per_category,
        "best_token_train_f1": train_f1,
        "test_windows": int(len(y_test)),
        "test_anomalous_windows": int(y_test.sum()),
        "seed": seed,
        "notes": (f"Measured by `logllm.dataset.difficulty.measure_difficulty` on this config's splits "
                  f"({len(y_train)} train / {len(y_test)} test windows, {int(y_test.sum())} anomalous in test). "
                  "The best single token was chosen by F1 on the training split."),
    }
