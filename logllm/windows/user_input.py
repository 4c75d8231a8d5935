"""User input (files, folders, archives, stdin) -> windows to score: format sniffing, parsing, windowing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


FORMATS = ("auto", "hdfs", "bgl", "thunderbird", "liberty", "plain")


# Paper defaults for Loghub; plain user logs get shorter windows so evidence stays readable.
DEFAULT_WINDOWS = {
    "hdfs": "session",
    "bgl": "sliding:100:100",
    "thunderbird": "sliding:100:100",
    "liberty": "sliding:100:100",
    "plain": "sliding:50:50",
    "spirit": "sliding:100:100",  # auto-detected only
    "hdfs_traces": "session",  # Event_traces.csv, auto-detected only
}


BINARY_SNIFF_BYTES = 8192


class DetectionInputError(ValueError):
    """User input that cannot be scored; the message is meant for the user, as is."""


# ---------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSpec:
    """How to group lines: ``session`` (HDFS block ids), ``sliding:SIZE:STEP``, ``time:SECONDS``."""

    kind: str
    size: int = 100
    step: int = 100
    seconds: float = 60.0

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        parts = text.strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        try:
            if kind == "session" and not args:
                return cls("session")
            if kind == "sliding" and len(args) <= 2:
                size = int(args[0]) if args else 100
                step = int(args[1]) if len(args) > 1 else size
                if size < 1 or step < 1:
                    raise ValueError
                return cls("sliding", size=size, step=step)
            if kind == "time" and len(args) <= 1:
                seconds = float(args[0]) if args else 60.0
                if seconds <= 0:
                    raise ValueError
                return cls("time", seconds=seconds)
        except ValueError:
            pass
        raise DetectionInputError(
            f"--window {text!r} not understood; use 'session', 'sliding:SIZE[:STEP]' or 'time:SECONDS'"
        )

    def __str__(self) -> str:
        if self.kind == "sliding":
            return f"sliding:{self.size}:{self.step}"
        if self.kind == "time":
            return f"time:{self.seconds:g}"
        return self.kind


@dataclass
class Window:
    """A group of lines to score (the fields of the window dataset rows that detection needs)."""

    window_id: str
    source: str
    lines: list[str]  # what the model reads (raw; the processor masks them)
    line_numbers: list[int]
    line_labels: list[int] = field(default_factory=list)  # 1/0/-1 per line, empty if unknown
    label: int = -1


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def check_readable_log(path: Path, max_bytes: int | None = None) -> None:
    """Refuse what cannot be a log before parsing: missing, empty, too big or binary files."""
    if not path.exists():
        raise DetectionInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return
    size = path.stat().st_size
    if size == 0:
        raise DetectionInputError(f"{path}: the file is empty; nothing to score")
    if max_bytes is not None and size > max_bytes:
        raise DetectionInputError(
            f"{path}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB; "
            "split the file or raise the limit (--max-mb)"
        )
    with open(path, "rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
    if path.suffix == ".gz" or head[:2] == b"\x1f\x8b":
        return
    if b"\x00" in head:
        raise DetectionInputError(
            f"{path}: looks like a binary file (NUL bytes in the first {len(head)} bytes), not a text log"
        )


def expand_inputs(path: Path) -> list[Path]:
    """A file, or every regular non-hidden file under a folder, sorted for a stable order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DetectionInputError(f"{path}: the folder holds no files")
        return files
    return [path]


def window_label(line_labels: Sequence[int]) -> int:
    """1 if any line is anomalous, -1 if any is unknown, else 0 (the dataset rule)."""
    from logllm.windows.windowing import window_label as rule

    return rule(line_labels)


def line_parser(fmt: str, source: str) -> Callable[[str, int], Any]:
    """A per-line parser for streaming: (text, line number) -> LogRecord, or None for a blank line.

    A line that does not fit the format is kept as plain text (its content is the whole line,
    label unknown), counted in ``parse.unparsed`` and logged for the first few, so a stray
    line never stops a watcher and is never dropped silently.
    """
    from logllm.logs.errors import LogFormatError
    from logllm.logs.formats import line_parser as data_line_parser
    from logllm.logs.records import LogRecord

    if fmt == "auto":
        raise DetectionInputError("a followed file needs an explicit --format (default plain)")
    try:
        strict = data_line_parser(fmt)
    except ValueError as err:
        raise DetectionInputError(str(err)) from None

    def parse(text: str, line_number: int) -> LogRecord | None:
        if not text.strip():
            return None
        try:
            return strict(text, source, line_number)
        except LogFormatError as err:
            parse.unparsed += 1
            if parse.unparsed <= 5:
                logger.warning("%s; kept as a plain line", err)
        return LogRecord(source, line_number, text)

    parse.unparsed = 0
    return parse


# BuildReport counters worth telling the user about, with how to say it.
REPORT_NOTES = {
    "non_utf8_lines_repaired": "{n} line(s) were not valid UTF-8; undecodable bytes were replaced",
    "lines_cut_at_max_length": "{n} line(s) were longer than 1 MiB and were cut",
    "lines_with_nul_bytes": "{n} line(s) held NUL bytes, which were removed",
    "lines_without_session_id": "{n} line(s) name no HDFS block id and are in no session window",
    "lines_without_timestamp": "{n} line(s) have no timestamp and are in no time window",
    "late_lines_skipped": "{n} line(s) arrived too far out of time order for their time window",
    "lines_between_windows": "{n} line(s) fall between windows (step > size)",
    "unparsed_lines": "{n} line(s) did not match the format and were skipped",
}


def sniff_format(path: Path) -> str:
    """DATA's format detector (first lines vs. the strict parsers); anything unknown is plain."""
    from logllm.logs.formats import detect_format

    return detect_format(str(path))


def iter_records(path: Path, fmt: str, report: Any, source_name: str | None = None) -> Iterable[Any]:
    """Parsed records of one file (DATA's parsers: unparsable lines skipped and counted)."""
    from logllm.logs.formats import parse_file

    for record in parse_file(str(path), fmt, report):
        if source_name:
            record.source = source_name
        yield record


def windows_of(records: Iterable[Any], spec: WindowSpec, report: Any) -> Iterable[dict]:
    from logllm.windows.windowing import session_windows, sliding_windows, time_windows

    if spec.kind == "session":
        return session_windows(records, report=report)
    if spec.kind == "time":
        return time_windows(records, spec.seconds, report=report)
    return sliding_windows(records, spec.size, spec.step, report=report)


def read_windows(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> tuple[list[Window], str, WindowSpec, int, list[str]]:
    """User input -> windows ready to score, the format and windowing used, lines read, notes."""
    from logllm.logs.errors import BuildReport

    if fmt not in FORMATS:
        raise DetectionInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    check_readable_log(path, max_bytes)
    files = expand_inputs(path)
    report, notes, formats = BuildReport(), [], set()
    windows: list[Window] = []
    spec = None
    for file in files:
        check_readable_log(file, max_bytes)
        file_fmt = sniff_format(file) if fmt == "auto" else fmt
        if fmt == "auto" and file_fmt == "plain":
            notes.append(f"{source_name or file}: format not recognised as HDFS/BGL/Thunderbird/Liberty; "
                         "every line is read as a plain message")
        formats.add(file_fmt)
        spec = WindowSpec.parse(window or DEFAULT_WINDOWS.get(file_fmt, "sliding:100:100"))
        if spec.kind == "session" and not file_fmt.startswith("hdfs"):
            raise DetectionInputError(f"session windows need HDFS block ids; {file} is {file_fmt}: use sliding or time")
        for row in windows_of(iter_records(file, file_fmt, report, source_name), spec, report):
            windows.append(Window(
                window_id=row["window_id"], source=row["source"], lines=list(row["raw_lines"] or row["lines"]),
                line_numbers=list(row["line_numbers"]), line_labels=list(row["line_labels"]), label=int(row["label"]),
            ))
    for name, template in REPORT_NOTES.items():
        if report[name]:
            first = report.examples.get(name, [""])[0]
            notes.append(template.format(n=report[name]) + (f" (first at {first})" if first else ""))
    notes.extend(report.notes)
    if not windows:
        if report["lines_without_timestamp"]:
            raise DetectionInputError(f"{source_name or path}: time windows need timestamps and "
                                      f"{report['lines_without_timestamp']} line(s) have none; use sliding windows")
        raise DetectionInputError(f"{source_name or path}: no log lines could be grouped into windows")
    used = formats.pop() if len(formats) == 1 else "mixed"
    return windows, used, spec or WindowSpec("sliding"), report["lines_read"], notes


@dataclass
class ReadResult:
    """Windows read from user input, before scoring (so bad input fails before a model loads)."""

    windows: list[Window]
    fmt: str
    window: WindowSpec
    n_lines: int
    notes: list[str]
    seconds: float


def read_input(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> ReadResult:
    started = now()
    windows, used, spec, n_lines, notes = read_windows(path, fmt, window, max_bytes, source_name)
    return ReadResult(windows, used, spec, n_lines, notes, now() - started)


def now() -> float:
    return time.perf_counter()

