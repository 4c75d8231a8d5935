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
from dataclasses import dataclass, field
from pathlib import Path

from logllm.logs.errors import BuildReport, DetectionInputError, LogFormatError
from logllm.logs.formats import FORMATS
from logllm.windows.spec import WindowSpec, default_window
from logllm.windows.windowing import Window

__all__ = ["INPUT_FORMATS", "ReadResult", "WindowsUsed", "read_input", "input_files"]

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("auto", *FORMATS)


class WindowsUsed:
    """The window spec each file was read with; prints as one spec when all files share it.

    A folder (or archive) of HDFS and BGL logs gets session windows for the one and sliding
    windows for the other: the report header says so instead of naming one for all.
    """

    def __init__(self, used: list[tuple[str, WindowSpec]]) -> None:
        self.used = used

    def __str__(self) -> str:
        groups: dict[str, list[str]] = {}
        for source, spec in self.used:
            groups.setdefault(str(spec), []).append(_short(source))
        if len(groups) == 1:
            return next(iter(groups))
        return "; ".join(f"{spec} for {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                         for spec, names in groups.items())


def _short(source: str) -> str:
    return source.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if ":" in source else Path(source).name


@dataclass
class ReadResult:
    """Windows read from user input, before scoring (so bad input fails before a model loads).

    ``skipped`` lists ``(file, reason)`` for every file of a folder or member of an archive that
    could not be read; the rest were read (``logllm detect`` exits 2 when any was skipped).
    """

    windows: list[Window]
    fmt: str
    window: WindowSpec | WindowsUsed
    n_lines: int
    notes: list[str]
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)


def now() -> float:
    return time.perf_counter()


def input_files(path: Path) -> list[Path]:
    """A file (or ``archive:member``), or every regular non-hidden file under a folder, sorted for a stable order."""
    from logllm.logs.reader import split_member

    archive, _ = split_member(str(path))
    if not os.path.exists(archive):
        raise DetectionInputError(f"{path}: no such file or folder")
    if os.path.isdir(archive):
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DetectionInputError(f"{path}: the folder holds no files")
        return files
    return [path]


def _check_size(file: Path, shown: str, max_bytes: int | None) -> None:
    from logllm.logs.reader import split_member

    size = os.path.getsize(split_member(str(file))[0])
    if max_bytes is not None and size > max_bytes:
        raise DetectionInputError(f"{shown}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB; "
                                  "split the file or raise the limit (--max-mb)")


_UNREADABLE = (LogFormatError, DetectionInputError, OSError)


def read_input(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> ReadResult:
    """User input -> windows ready to score, the formats and windows used, lines read, notes.

    Every file of a folder and every member of an archive is read on its own (its own format,
    its own default window). One that cannot be read is skipped and named in ``notes`` and
    ``skipped``; when nothing could be read the first reason is the error. ``source_name`` is
    what sources, notes and errors call a single input (``<stdin>``, an uploaded file's own name)
    instead of its path on this machine.
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
    used: list[tuple[str, WindowSpec]] = []
    failures: list[tuple[str, Exception]] = []

    def read_unit(file: Path, source: str, unit_fmt: str, records) -> None:
        if fmt == "auto" and unit_fmt == "plain":
            notes.append(f"{source}: format not recognised as HDFS/BGL/Thunderbird/Liberty; "
                         "every line is read as a plain message")
        spec = asked or default_window(unit_fmt, "detect")
        if spec.kind == "session" and not unit_fmt.startswith("hdfs"):
            raise DetectionInputError(f"session windows need HDFS block ids; {source} is {unit_fmt}: use sliding or time")
        settings = BuildSettings(dataset=unit_fmt, inputs=[str(file)], preprocessing="raw", missing_labels="unknown",
                                 **window_fields(spec))
        built = list(build_windows(settings, report, records=records))  # all or nothing per file
        formats.add(unit_fmt)
        used.append((source, spec))
        windows.extend(built)

    for file in input_files(path):
        shown = source_name or str(file)
        current = shown
        try:
            _check_size(file, shown, max_bytes)
            for source, unit_fmt, records in open_records(str(file), fmt, report, name=source_name, bad_labels="unknown"):
                current = source
                try:
                    read_unit(file, source, unit_fmt, records)
                except _UNREADABLE as error:
                    failures.append((source, error))
                current = shown
        except _UNREADABLE as error:
            failures.append((current, error))
    skipped = [(where, _reason(where, error)) for where, error in failures]
    if not windows and len(failures) == 1 and not used:
        raise failures[0][1]
    notes.extend(f"skipped {where}: {reason}" for where, reason in skipped)
    notes.extend(report.user_notes())
    notes.extend(report.notes)
    if not windows:
        if failures:
            raise DetectionInputError(f"{source_name or path}: no file could be read: " + "; ".join(
                f"{where}: {reason}" for where, reason in skipped))
        if report["lines_without_timestamp"]:
            raise DetectionInputError(f"{source_name or path}: time windows need timestamps and "
                                      f"{report['lines_without_timestamp']} line(s) have none; use sliding windows")
        raise DetectionInputError(f"{source_name or path}: no log lines could be grouped into windows")
    used_fmt = formats.pop() if len(formats) == 1 else "mixed"
    spec = used[0][1] if len({str(s) for _, s in used}) == 1 else WindowsUsed(used)
    return ReadResult(windows, used_fmt, spec, report["lines_read"], notes, now() - started, skipped)


def _reason(where: str, error: Exception) -> str:
    """The error without the file name the note already gives."""
    if isinstance(error, LogFormatError):
        text = (f"line {error.line_number}: " if error.line_number else "") + error.reason
        return text + (f" (expected {error.expected})" if error.expected else "")
    text = str(error)
    return text[len(where) + 1:].lstrip() if text.startswith(where + ":") else text
