"""Labels of HDFS sessions for a build: ``--labels anomaly_label.csv``, or the one inside a Zenodo ``HDFS_v1.zip``.

One place for the single-process build (``build.py``) and the parallel one (``parallel.py``), so both label the
same blocks the same way.
"""

from __future__ import annotations

import zipfile
from typing import Any

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.formats import read_block_labels
from logllm.logs.reader import split_member

__all__ = ["block_labels", "labels_in_archive", "session_labels"]


def session_labels(settings: Any, report: BuildReport) -> tuple[dict[str, int] | None, str]:
    """(block labels or None, the missing-label policy for session windows) of a build's ``BuildSettings``.

    Without labels (unlabeled HDFS blocks, ``--missing-labels unknown``) every block is "unknown" (-1).
    """
    labels = block_labels(settings, report)
    missing = settings.missing_labels if labels is not None or settings.dataset != "hdfs" else "unknown"
    return labels, missing


def block_labels(settings: Any, report: BuildReport) -> dict[str, int] | None:
    """The block -> 0/1 labels of an HDFS build (None for other formats or unlabeled blocks).

    Sets ``settings.labels`` when the labels are found inside a ``.zip`` input (noted in ``report``); without
    labels and with ``missing_labels == "error"``, a ``LogFormatError`` says how to give them.
    """
    if settings.dataset != "hdfs":
        return None
    if settings.labels is None:
        settings.labels = labels_in_archive(settings.inputs)
        if settings.labels is not None:
            report.note(f"using block labels from {settings.labels}")
    if settings.labels is None:
        if settings.missing_labels == "error":
            raise LogFormatError("HDFS blocks need labels", path=settings.inputs[0] if settings.inputs else None,
                                 expected="--labels anomaly_label.csv (or --missing-labels unknown for unlabeled logs)")
        return None
    return read_block_labels(settings.labels, report)


def labels_in_archive(inputs: list[str]) -> str | None:
    """``HDFS_v1.zip`` from Zenodo ships ``preprocessed/anomaly_label.csv``: use it when no --labels.

    Only ``.zip`` inputs are looked into, so a plain log is not opened a second time for this.
    """
    for path in inputs:
        archive, _ = split_member(path)
        if archive.lower().endswith(".zip") and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                found = [n for n in zf.namelist() if n.endswith("anomaly_label.csv")]
            if found:
                return f"{archive}:{found[0]}"
    return None
