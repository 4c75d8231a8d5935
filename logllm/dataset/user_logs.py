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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from logllm.logs.errors import BuildReport, DetectionInputError, LogFormatError
from logllm.logs.formats import FORMATS
from logllm.windows.spec import WindowSpec, default_window
from logllm.windows.windowing import Window

__all__ = ["INPUT_FORMATS", "InputReader", "InputUnit", "ReadResult", "UNREADABLE", "WindowsUsed", "read_input",
           "input_files"]

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
    """Refuse a file over ``max_bytes``, and compressed input whose content is over the thread's
    ``decompression_limit`` (counted before any line is parsed or scored)."""
    from logllm.logs.reader import check_decompressed_size, split_member

    size = os.path.getsize(split_member(str(file))[0])
    if max_bytes is not None and size > max_bytes:
        raise DetectionInputError(f"{shown}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB; "
                                  "split the file or raise the limit (--max-mb)")
    check_decompressed_size(str(file), shown)


_UNREADABLE = (LogFormatError, DetectionInputError, OSError)


@dataclass
class InputUnit:
    """One file (or archive member) of a user's input, its windows not read yet.

    ``windows`` is lazy: session windows group the whole file first (compact per-line arrays, see
    ``logllm.windows.windowing``), sliding and time windows stream. Consume it fully, then tell the
    reader ``finished(unit)``; if it raises one of ``UNREADABLE``, ``failed(unit, error)``.
    """

    source: str
    fmt: str
    spec: WindowSpec
    windows: Iterator[Window]
    file: Path


UNREADABLE = _UNREADABLE


class InputReader:
    """A user's input (a file, a folder, an archive) read lazily, file by file, with the notes read_input gives.

    ``logllm detect`` streams a full-size log through it (windows are scored and written as they are read); the
    Space and ``read_input`` collect it. Every file of a folder and every member of an archive gets its own
    format and default window; one that cannot be read is skipped and named, the rest are read.
    """

    def __init__(self, path: str | Path, fmt: str = "auto", window: str | None = None, max_bytes: int | None = None,
                 source_name: str | None = None, num_proc: int = 1) -> None:
        if fmt not in INPUT_FORMATS:
            raise DetectionInputError(f"unknown format {fmt!r}; choose one of {', '.join(INPUT_FORMATS)}")
        self.path, self.fmt, self.max_bytes, self.source_name = Path(path), fmt, max_bytes, source_name
        self.num_proc = num_proc  # > 1: big plain files are parsed on that many processes (same windows)
        self.asked = WindowSpec.parse(window) if window else None
        self.report, self.notes, self.formats = BuildReport(), [], set()
        self.used: list[tuple[str, WindowSpec]] = []
        self.failures: list[tuple[str, Exception]] = []
        self.started = now()

    def units(self) -> Iterator[InputUnit]:
        """The input's files and archive members, in a stable order, each opened when the previous is done."""
        from logllm.dataset.build import BuildSettings, build_windows, window_fields

        fmt, report = self.fmt, self.report
        for file in input_files(self.path):
            shown = self.source_name or str(file)
            current = shown
            try:
                _check_size(file, shown, self.max_bytes)
                for source, unit_fmt, records in self._open(file, report):
                    current = source
                    if fmt == "auto" and unit_fmt == "plain":
                        self.notes.append(f"{source}: format not recognised as HDFS/BGL/Thunderbird/Liberty; "
                                          "every line is read as a plain message")
                    spec = self.asked or default_window(unit_fmt, "detect")
                    if spec.kind == "session" and not unit_fmt.startswith("hdfs"):
                        self.failures.append((source, DetectionInputError(
                            f"session windows need HDFS block ids; {source} is {unit_fmt}: use sliding or time")))
                        continue
                    settings = BuildSettings(dataset=unit_fmt, inputs=[str(file)], preprocessing="raw",
                                             missing_labels="unknown", **window_fields(spec))
                    windows = (build_windows(settings, report, records=records) if records is not None
                               else build_windows(settings, report, num_proc=self.num_proc))
                    yield InputUnit(source, unit_fmt, spec, windows, file)
                    current = shown
            except _UNREADABLE as error:
                self.failures.append((current, error))

    def _open(self, file: Path, report: BuildReport):
        """``open_records`` of one file; or, for a big plain file with several processes at hand, its format only
        (records None: ``build_windows`` then reads it in pieces, each line once)."""
        from logllm.dataset.parallel import MIN_PARALLEL_BYTES
        from logllm.logs.formats import detect_format, open_records
        from logllm.logs.reader import splittable

        if (self.num_proc > 1 and self.source_name is None and file.is_file()
                and file.stat().st_size >= MIN_PARALLEL_BYTES and splittable(str(file))):
            found = detect_format(str(file)) if self.fmt == "auto" else self.fmt
            if found != "hdfs_traces":
                return [(str(file), found, None)]
        return open_records(str(file), self.fmt, report, name=self.source_name, bad_labels="unknown")

    def finished(self, unit: InputUnit) -> None:
        """All of ``unit``'s windows were read."""
        self.formats.add(unit.fmt)
        self.used.append((unit.source, unit.spec))

    def failed(self, unit: InputUnit, error: Exception) -> None:
        """Reading ``unit`` failed part way: it is skipped (its windows must not be used) and named."""
        self.failures.append((unit.source, error))

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(where, _reason(where, error)) for where, error in self.failures]

    def summary(self, any_windows: bool) -> tuple[str, WindowSpec | WindowsUsed, int, list[str], list[tuple[str, str]]]:
        """After all units: (format, window spec(s), lines read, notes, skipped); raises when nothing could be read."""
        skipped = self.skipped
        if not any_windows and len(self.failures) == 1 and not self.used:
            raise self.failures[0][1]
        notes = list(self.notes)
        notes.extend(f"skipped {where}: {reason}" for where, reason in skipped)
        notes.extend(self.report.user_notes())
        notes.extend(self.report.notes)
        shown = self.source_name or self.path
        if not any_windows:
            if self.failures:
                raise DetectionInputError(f"{shown}: no file could be read: " + "; ".join(
                    f"{where}: {reason}" for where, reason in skipped))
            if self.report["lines_without_timestamp"]:
                raise DetectionInputError(f"{shown}: time windows need timestamps and "
                                          f"{self.report['lines_without_timestamp']} line(s) have none; use sliding windows")
            raise DetectionInputError(f"{shown}: no log lines could be grouped into windows")
        used_fmt = next(iter(self.formats)) if len(self.formats) == 1 else "mixed"
        spec = self.used[0][1] if len({str(s) for _, s in self.used}) == 1 else WindowsUsed(self.used)
        return used_fmt, spec, self.report["lines_read"], notes, skipped


def read_input(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
    check: Callable[[], None] | None = None,
) -> ReadResult:
    """User input -> windows ready to score, the formats and windows used, lines read, notes.

    Every file of a folder and every member of an archive is read on its own (its own format,
    its own default window). One that cannot be read is skipped and named in ``notes`` and
    ``skipped``; when nothing could be read the first reason is the error. ``source_name`` is
    what sources, notes and errors call a single input (``<stdin>``, an uploaded file's own name)
    instead of its path on this machine. All windows are kept in memory: ``InputReader`` streams. ``check`` is
    called for every window read and may raise to stop (the Space's per-request time limit).
    """
    reader = InputReader(path, fmt, window, max_bytes, source_name)
    windows: list[Window] = []
    for unit in reader.units():
        try:
            built = list(unit.windows if check is None else _checked(unit.windows, check))  # all or nothing per file
        except _UNREADABLE as error:
            reader.failed(unit, error)
            continue
        reader.finished(unit)
        windows.extend(built)
    used_fmt, spec, n_lines, notes, skipped = reader.summary(bool(windows))
    return ReadResult(windows, used_fmt, spec, n_lines, notes, now() - reader.started, skipped)


def _checked(windows: Iterator[Window], check: Callable[[], None]) -> Iterator[Window]:
    for window in windows:
        check()
        yield window


def _reason(where: str, error: Exception) -> str:
    """The error without the file name the note already gives."""
    if isinstance(error, LogFormatError):
        text = (f"line {error.line_number}: " if error.line_number else "") + error.reason
        return text + (f" (expected {error.expected})" if error.expected else "")
    text = str(error)
    return text[len(where) + 1:].lstrip() if text.startswith(where + ":") else text
