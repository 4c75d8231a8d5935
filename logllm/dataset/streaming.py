"""Build straight into per-split parquet files, without holding the windows in memory.

``logllm data build --streaming`` assigns each window to a split as it is produced:

* ``random``: a seeded hash of the window's group (its block id, or the smallest block id of
  blocks linked by a shared line) decides, so proportions are 8:2 in expectation rather than
  exactly, and windows sharing a line still share a split;
* ``chronological``: by line position — the last ``test_size`` of the log's lines test, the last
  ``validation_size`` of the rest validate; a window straddling a cut is purged and counted. The
  positions come from a first, cheap pass that counts the lines of every input.

Oversampling and the difficulty baselines need all windows, so they are only in the in-memory
build. Memory is what the windowing needs (constant for sliding/time windows; compact arrays for
sessions) plus one batch of rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logllm.logs.errors import BuildReport
from logllm.dataset.features import SPLITS, WINDOW_FEATURES
from logllm.dataset.build import BuildSettings, build_windows

__all__ = ["build_streaming"]

logger = logging.getLogger(__name__)

Assign = Callable[[dict[str, Any]], str | None]


def _unit_interval(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _random_assigner(settings: BuildSettings) -> Assign:
    test, validation = settings.test_size, settings.test_size + (1 - settings.test_size) * settings.validation_size

    def assign(window: dict[str, Any]) -> str:
        u = _unit_interval(settings.seed, window.get("_group") or window["window_id"])
        return "test" if u < test else "validation" if u < validation else "train"

    return assign


def _line_offsets(settings: BuildSettings, report: BuildReport) -> tuple[dict[str, int], int]:
    """Global position of each source's line 0, and the total number of lines (first pass)."""
    from logllm.logs.reader import open_log_lines

    if settings.dataset.startswith("synthetic"):
        name = "synthetic_bgl.log" if settings.dataset == "synthetic-bgl" else "synthetic_hdfs.log"
        return {name: 0}, settings.n_lines
    offsets, total = {}, 0
    for path in settings.inputs:
        last: dict[str, int] = {}
        for source, number, _ in open_log_lines(path, BuildReport()):
            last[source] = number
        for source, count in last.items():
            offsets[source] = total
            total += count
    return offsets, total


def _chronological_assigner(settings: BuildSettings, report: BuildReport) -> Assign:
    offsets, total = _line_offsets(settings, report)
    test_cut = total * (1 - settings.test_size)
    val_cut = test_cut * (1 - settings.validation_size)
    if settings.windowing == "sliding":   # cut on window boundaries, as the in-memory split does
        test_cut = round(test_cut / settings.step) * settings.step
        val_cut = round(val_cut / settings.step) * settings.step

    def assign(window: dict[str, Any]) -> str | None:
        base = offsets.get(window["source"], 0)
        first, last = base + window["line_numbers"][0], base + window["line_numbers"][-1]
        if first > test_cut:
            return "test"
        if last <= val_cut:
            return "train"
        if first > val_cut and last <= test_cut:
            return "validation"
        report.add("windows_purged_at_split_boundary")
        return None

    return assign


class _SplitWriter:
    """Batches rows per split into one parquet file each, and counts Table I statistics."""

    def __init__(self, folder: Path, batch_size: int) -> None:
        self.folder, self.batch_size = folder, batch_size
        self.writers: dict[str, Any] = {}
        self.buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
        self.stats = {name: {"windows": 0, "anomalous_windows": 0, "unknown_windows": 0, "lines": 0, "anomalous_lines": 0}
                      for name in SPLITS}

    def add(self, split: str, row: dict[str, Any]) -> None:
        s = self.stats[split]
        s["windows"] += 1
        s["anomalous_windows"] += row["label"] == 1
        s["unknown_windows"] += row["label"] == -1
        s["lines"] += len(row["line_labels"])
        s["anomalous_lines"] += sum(1 for y in row["line_labels"] if y == 1)
        self.buffers[split].append(row)
        if len(self.buffers[split]) >= self.batch_size:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self.buffers[split]
        if not rows:
            return
        schema = WINDOW_FEATURES.arrow_schema
        if split not in self.writers:
            self.writers[split] = pq.ParquetWriter(str(self.folder / f"{split}.parquet"), schema)
        self.writers[split].write_table(pa.Table.from_pylist(rows, schema=schema))
        rows.clear()

    def close(self) -> list[str]:
        written = []
        for split in SPLITS:
            self._flush(split)
            if split in self.writers:
                self.writers[split].close()
                written.append(split)
        return written


def build_streaming(settings: BuildSettings, output_dir: str | Path, config_name: str, report: BuildReport,
                    info: dict[str, Any] | None = None, batch_size: int = 1000, num_proc: int = 1,
                    overwrite: bool = False) -> dict[str, Any]:
    """Window, split and write ``output_dir/config_name/<split>.parquet`` in one pass; return statistics.

    The config folder is filled beside its place and swapped in at the end (``logllm.atomic``), so
    a failed build leaves the previous one loadable; empty splits are left out with a note. A config already in
    ``output_dir`` is replaced only with ``overwrite`` (``logllm.dataset.hub.check_config_free``).
    """
    from logllm.dataset.hub import config_folder, nonempty_splits, write_info

    if settings.beta:
        raise ValueError("--beta needs the in-memory build (oversampling sees all training windows); "
                         "drop --streaming or oversample at training time")
    assign = _random_assigner(settings) if settings.split_method == "random" else _chronological_assigner(settings, report)
    with config_folder(output_dir, config_name, overwrite) as folder:
        writer = _SplitWriter(folder, batch_size)
        try:
            for window in build_windows(settings, report, with_groups=settings.split_method == "random",
                                        num_proc=num_proc):
                split = assign(window)
                window.pop("_group", None)
                if split is not None:
                    writer.add(split, window)
        finally:
            written = writer.close()
        nonempty_splits({name: writer.stats[name]["windows"] for name in SPLITS}, report)
        stats = {name: writer.stats[name] for name in written}
        for name, s in stats.items():
            report.add(f"{name}_windows", s["windows"])
        record = dict(info or {})
        record.update(streaming=True, log_lines=report["log_lines"])
        write_info(folder, config_name, written, stats, info=record, report=report)
    return stats
