"""A user's logs (a file, a folder, an archive, a spooled stdin) -> windows to score.

``logllm detect`` and the Space read logs the way ``logllm data build`` does: the same reader and
parsers (``logllm.logs``), the same ``BuildSettings`` -> ``build_windows`` path, the same counted
``BuildReport``. What is particular to scoring someone's logs lives here: every file of a folder
gets its own format (sniffed from the head of the one opening of the file) and its own default
window, lines keep their raw text (preprocessing ``raw``: the model's processor masks them
itself), labels are optional, and the counters become notes a person reads.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from logllm.logs.errors import BuildReport, DetectionInputError
from logllm.logs.formats import FORMATS
from logllm.windows.spec import WindowSpec, default_window
from logllm.windows.windowing import Window

__all__ = ["INPUT_FORMATS", "ReadResult", "read_input", "input_files"]

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("auto", *FORMATS)


@dataclass
class ReadResult:
    """Windows read from user input, before scoring (so bad input fails before a model loads)."""

    windows: list[Window]
    fmt: str
    window: WindowSpec
    n_lines: int
    notes: list[str]
    seconds: float


def now() -> float:
    return time.perf_counter()


def input_files(path: Path, max_bytes: int | None = None) -> list[Path]:
    """A file (or ``archive:member``), or every regular non-hidden file under a folder, sorted for a stable order.

    Sizes are checked from the file system, before anything is read: a file over ``max_bytes``
    is refused with the limit named.
    """
    from logllm.logs.reader import split_member

    archive, _ = split_member(str(path))
    if not os.path.exists(archive):
        raise DetectionInputError(f"{path}: no such file or folder")
    if os.path.isdir(archive):
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DetectionInputError(f"{path}: the folder holds no files")
    else:
        files = [path]
    for file in files:
        size = os.path.getsize(split_member(str(file))[0])
        if max_bytes is not None and size > max_bytes:
            raise DetectionInputError(f"{file}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB; "
                                      "split the file or raise the limit (--max-mb)")
    return files


def read_input(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> ReadResult:
    """User input -> windows ready to score, the format and windowing used, lines read, notes.

    ``source_name`` is what sources, notes and errors call a single input file (``<stdin>``, an
    uploaded file's own name) instead of its path on this machine.
    """
    from logllm.dataset.build import BuildSettings, build_windows, window_fields
    from logllm.logs.formats import open_records

    started = now()
    if fmt not in INPUT_FORMATS:
        raise DetectionInputError(f"unknown format {fmt!r}; choose one of {', '.join(INPUT_FORMATS)}")
    asked = WindowSpec.parse(window) if window else None
    path = Path(path)
    report, notes, formats = BuildReport(), [], set()
    windows: list[Window] = []
    spec = None
    for file in input_files(path, max_bytes):
        shown = source_name or str(file)
        file_fmt, records = open_records(str(file), fmt, report, name=source_name)
        if fmt == "auto" and file_fmt == "plain":
            notes.append(f"{shown}: format not recognised as HDFS/BGL/Thunderbird/Liberty; "
                         "every line is read as a plain message")
        formats.add(file_fmt)
        spec = asked or default_window(file_fmt, "detect")
        if spec.kind == "session" and not file_fmt.startswith("hdfs"):
            raise DetectionInputError(f"session windows need HDFS block ids; {shown} is {file_fmt}: use sliding or time")
        settings = BuildSettings(dataset=file_fmt, inputs=[str(file)], preprocessing="raw", missing_labels="unknown",
                                 **window_fields(spec))
        windows.extend(build_windows(settings, report, records=records))
    notes.extend(report.user_notes())
    notes.extend(report.notes)
    if not windows:
        if report["lines_without_timestamp"]:
            raise DetectionInputError(f"{source_name or path}: time windows need timestamps and "
                                      f"{report['lines_without_timestamp']} line(s) have none; use sliding windows")
        raise DetectionInputError(f"{source_name or path}: no log lines could be grouped into windows")
    used = formats.pop() if len(formats) == 1 else "mixed"
    return ReadResult(windows, used, spec or default_window("plain"), report["lines_read"], notes, now() - started)
