"""The schema of window dataset rows (contract 2 in docs/ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate, chain
from typing import Any

from datasets import Dataset, Features, List, Value

__all__ = ["WINDOW_FEATURES", "WINDOW_COLUMNS", "SPLITS", "windows_to_dataset"]

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


def windows_to_dataset(rows: Sequence[Mapping[str, Any]]) -> Dataset:
    """A ``WINDOW_FEATURES`` dataset of window rows, built column by column in Arrow.

    Same table as ``Dataset.from_list(rows, features=WINDOW_FEATURES)`` (same schema, rows and parquet bytes;
    tested) at about a third of its cost, which matters on full-size logs: it runs in the main process after a
    parallel build (bench/results/data_pipeline.md). Rows it cannot take column-wise (a missing field, ``None``
    for a list, a value Arrow will not convert) go through ``from_list`` unchanged.
    """
    import pyarrow as pa

    schema = WINDOW_FEATURES.arrow_schema
    try:
        arrays = []
        for field in schema:
            name = field.name
            if pa.types.is_list(field.type):
                parts = [row[name] for row in rows]
                offsets = pa.array(list(accumulate(map(len, parts), initial=0)), pa.int32())
                values = pa.array(list(chain.from_iterable(parts)), field.type.value_type)
                arrays.append(pa.ListArray.from_arrays(offsets, values, type=field.type))
            else:
                arrays.append(pa.array([row[name] for row in rows], field.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
    except (KeyError, TypeError, pa.ArrowException):
        return Dataset.from_list(list(rows), features=WINDOW_FEATURES)
    return Dataset(table)
