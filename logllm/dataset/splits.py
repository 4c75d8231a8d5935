"""Train / validation / test splits without leakage.

* ``random`` (HDFS, the paper's protocol): seeded shuffle. Windows that share a line (an HDFS
  line naming two blocks, overlapping sliding windows) are kept together in one split, so no
  line ends up in two splits.
* ``chronological`` (BGL, Thunderbird, Liberty, Spirit): the first part of the log trains, the
  last part tests; validation is the end of the training part. Windows are taken in log order
  (the order they were produced). A window at a boundary that shares lines with the other side
  (only possible when ``step < size``) is purged and counted, so test lines all come after
  training lines.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from logllm.logs.errors import BuildReport

__all__ = ["split_windows", "SPLIT_METHODS", "line_keys"]

logger = logging.getLogger(__name__)

SPLIT_METHODS = ("random", "chronological")

Window = dict[str, Any]


def line_keys(window: Window) -> list[tuple[str, int]]:
    """The (source, line number) pairs a window covers; two windows share a line iff keys meet."""
    source = window["source"]
    return [(source, n) for n in window["line_numbers"]]


def _check_fractions(test_size: float, validation_size: float) -> None:
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size must be in [0, 1), got {test_size}")
    if not 0.0 <= validation_size < 1.0:
        raise ValueError(f"validation_size (a fraction of the training part) must be in [0, 1), got {validation_size}")


def split_windows(
    windows: Sequence[Window],
    method: str = "random",
    *,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 42,
    report: BuildReport | None = None,
) -> dict[str, list[Window]]:
    """Split windows into ``train``/``validation``/``test``.

    ``test_size`` is the test fraction of all windows (0.2 gives the paper's 8:2);
    ``validation_size`` is the fraction of the training part carved out for validation.
    """
    _check_fractions(test_size, validation_size)
    report = report if report is not None else BuildReport()
    if method == "random":
        splits = _random_split(windows, test_size, validation_size, seed)
    elif method == "chronological":
        splits = _chronological_split(windows, test_size, validation_size, report)
    else:
        raise ValueError(f"unknown split method {method!r}; choose one of {SPLIT_METHODS}")
    for name, rows in splits.items():
        report.add(f"{name}_windows", len(rows))
    return splits


def _groups_sharing_lines(windows: Sequence[Window]) -> list[list[int]]:
    """Connected components of windows linked by a shared line (union-find), in first-index order."""
    parent = list(range(len(windows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, int], int] = {}
    for i, window in enumerate(windows):
        for key in line_keys(window):
            j = owner.setdefault(key, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(windows)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _take_groups(groups: list[list[int]], target: int) -> tuple[list[list[int]], list[list[int]]]:
    """First groups until ``target`` windows are taken; the rest."""
    taken, count = 0, 0
    while taken < len(groups) and count < target:
        count += len(groups[taken])
        taken += 1
    return groups[:taken], groups[taken:]


def _random_split(windows: Sequence[Window], test_size: float, validation_size: float, seed: int) -> dict[str, list[Window]]:
    groups = _groups_sharing_lines(windows)
    if len(groups) == 1 and len(windows) > 1:
        raise ValueError("all windows share lines with each other (overlapping sliding windows?): a random "
                         "split would leak lines; use method='chronological' or step >= size")
    random.Random(seed).shuffle(groups)
    test_groups, train_groups = _take_groups(groups, round(len(windows) * test_size))
    n_train = sum(map(len, train_groups))
    val_groups, train_groups = _take_groups(train_groups, round(n_train * validation_size))

    def rows(chosen: list[list[int]]) -> list[Window]:
        return [windows[i] for i in sorted(i for group in chosen for i in group)]

    return {"train": rows(train_groups), "validation": rows(val_groups), "test": rows(test_groups)}


def _purge_shared(earlier: list[Window], later: list[Window], report: BuildReport, name: str) -> list[Window]:
    """Drop windows of ``earlier`` that share a line with ``later`` (boundary overlap)."""
    later_keys = {key for window in later[:_overlap_horizon(earlier, later)] for key in line_keys(window)}
    kept = [w for w in earlier if not later_keys.intersection(line_keys(w))]
    if len(kept) != len(earlier):
        report.add(f"windows_purged_at_{name}_boundary", len(earlier) - len(kept))
    return kept


def _overlap_horizon(earlier: list[Window], later: list[Window]) -> int:
    # only the first few later windows can overlap the earlier part; bound the work
    longest = max((len(w["line_numbers"]) for w in earlier[-1:] + later[:1]), default=0)
    return min(len(later), max(1, longest + 1))


def _chronological_split(windows: Sequence[Window], test_size: float, validation_size: float,
                         report: BuildReport) -> dict[str, list[Window]]:
    ordered = list(windows)
    n_test = round(len(ordered) * test_size)
    train_part, test = ordered[: len(ordered) - n_test], ordered[len(ordered) - n_test:]
    train_part = _purge_shared(train_part, test, report, "test")
    n_val = round(len(train_part) * validation_size)
    train, validation = train_part[: len(train_part) - n_val], train_part[len(train_part) - n_val:]
    train = _purge_shared(train, validation, report, "validation")
    return {"train": train, "validation": validation, "test": test}
