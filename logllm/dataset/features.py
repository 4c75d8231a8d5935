"""The schema of window dataset rows (contract 2 in docs/ARCHITECTURE.md)."""

from __future__ import annotations

from datasets import Features, List, Value

__all__ = ["WINDOW_FEATURES", "WINDOW_COLUMNS", "SPLITS"]

WINDOW_FEATURES = Features(
    {
        "window_id": Value("string"),
        "source": Value("string"),
        "lines": List(Value("string")),
        "raw_lines": List(Value("string")),
        "line_numbers": List(Value("int64")),
        "line_labels": List(Value("int64")),
        "label": Value("int64"),
        "categories": List(Value("string")),
        "start_time": Value("float64"),
        "end_time": Value("float64"),
    }
)

WINDOW_COLUMNS: tuple[str, ...] = tuple(WINDOW_FEATURES)
SPLITS: tuple[str, ...] = ("train", "validation", "test")
