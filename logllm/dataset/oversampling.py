"""Minority oversampling to proportion β (LogLLM, Section III-D), for the training split only.

If the minority class has proportion α < β among N samples, it is resampled (with replacement,
seeded) up to β(1−α)/(1−β) × N samples, so it makes up β of the result. β = 0 disables it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["oversample", "oversample_indices", "minority_target"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def minority_target(n_total: int, n_minority: int, beta: float) -> int:
    """Minority count after oversampling: ⌈β(1−α)/(1−β) × N⌉, or unchanged when α ≥ β."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if beta == 0.0 or n_total == 0 or n_minority == 0:
        return n_minority
    alpha = n_minority / n_total
    if alpha >= beta:
        return n_minority
    return math.ceil(round(beta * (1 - alpha) / (1 - beta) * n_total, 9))


def oversample_indices(labels: Sequence[int], beta: float = 0.3, seed: int = 42) -> list[int]:
    """Indices of the oversampled set: all originals plus seeded minority duplicates, shuffled.

    Unknown labels (-1) are not allowed: oversampling needs labeled training data.
    """
    labels = list(labels)
    if any(label not in (0, 1) for label in labels):
        raise ValueError("oversampling needs labels 0/1 only; found unknown (-1) or other labels")
    positives = [i for i, label in enumerate(labels) if label == 1]
    negatives = [i for i, label in enumerate(labels) if label == 0]
    minority = positives if len(positives) <= len(negatives) else negatives
    target = minority_target(len(labels), len(minority), beta)
    if target == len(minority):
        return list(range(len(labels)))
    rng = random.Random(seed)
    extra = rng.choices(minority, k=target - len(minority))
    indices = list(range(len(labels))) + extra
    rng.shuffle(indices)
    logger.info("oversampled minority from %d to %d of %d samples (beta=%.2f)", len(minority), target, len(indices), beta)
    return indices


def oversample(data: Any, beta: float = 0.3, seed: int = 42, label_column: str = "label") -> Any:
    """Oversample a ``datasets.Dataset`` (via ``select``) or a list of row dicts."""
    if beta == 0.0:
        return data
    if hasattr(data, "select") and hasattr(data, "column_names"):
        indices = oversample_indices(data[label_column], beta, seed)
        return data if indices == list(range(len(data))) else data.select(indices)
    rows = list(data)
    return [rows[i] for i in oversample_indices([row[label_column] for row in rows], beta, seed)]
