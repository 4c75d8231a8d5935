"""Parsers for the Loghub formats and a user's own logs, plus a format auto-detector.

``parse_file(path, fmt)`` streams ``LogRecord``s from a plain, gzip, bz2, tar or zip file. A
line that does not fit the format is skipped and counted (``unparsed_lines``, with the first
locations kept as examples); if most of the first lines do not fit, the file is not in that
format and a ``LogFormatError`` names the first bad line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import open_log_lines
from logllm.logs.records import LogRecord
from logllm.logs.formats.bgl import parse_bgl_line, parse_syslog_labeled_line
from logllm.logs.formats.hdfs import iter_event_traces, parse_hdfs_line, read_block_labels, read_templates
from logllm.logs.formats.plain import make_plain_parser

__all__ = ["FORMATS", "LABELED_FORMATS", "parse_file", "detect_format", "line_parser", "read_block_labels",
           "parse_event_traces"]

logger = logging.getLogger(__name__)

FORMATS = ("hdfs", "hdfs_traces", "bgl", "thunderbird", "liberty", "spirit", "plain")
LABELED_FORMATS = ("bgl", "thunderbird", "liberty", "spirit")   # label column in every line
PROBE_LINES = 100          # lines looked at to decide that a file is not in the format
MAX_BAD_FRACTION = 0.5     # ... when more than this fraction of them fail

LineParser = Callable[[str, str, int], LogRecord]


def line_parser(fmt: str, pattern: str | None = None) -> LineParser:
    """The ``(text, source, line_number) -> LogRecord`` function for format ``fmt``."""
    if fmt == "hdfs":
        return parse_hdfs_line
    if fmt == "bgl":
        return parse_bgl_line
    if fmt in {"thunderbird", "liberty", "spirit"}:
        return parse_syslog_labeled_line
    if fmt == "plain":
        return make_plain_parser(pattern)
    raise ValueError(f"unknown log format {fmt!r}; choose one of {', '.join(FORMATS)} (or 'auto')")


def parse_file(path: str, fmt: str, report: BuildReport | None = None, *, pattern: str | None = None,
               templates: str | None = None) -> Iterator[LogRecord]:
    """Stream the records of ``path`` in format ``fmt`` (``auto`` detects it)."""
    report = report if report is not None else BuildReport()
    if fmt == "auto":
        fmt = detect_format(path)
        report.note(f"{path}: detected format {fmt}")
    if fmt == "hdfs_traces":
        yield from parse_event_traces(path, templates, report)
        return
    parse = line_parser(fmt, pattern)
    seen = bad = 0
    first_error: LogFormatError | None = None
    try:
        for source, number, text in open_log_lines(path, report):
            seen += 1
            try:
                record = parse(text, source, number)
            except LogFormatError as error:
                bad += 1
                first_error = first_error or error
                report.add("unparsed_lines", where=f"{source}:{number}")
                if seen == PROBE_LINES and bad > MAX_BAD_FRACTION * seen:
                    raise _not_this_format(fmt, bad, seen, first_error) from None
                continue
            yield record
    finally:
        report.add("records", seen - bad)
    if seen and seen < PROBE_LINES and bad > MAX_BAD_FRACTION * seen:
        raise _not_this_format(fmt, bad, seen, first_error)


def _not_this_format(fmt: str, bad: int, seen: int, first: LogFormatError) -> LogFormatError:
    return LogFormatError(f"{bad} of the first {seen} lines are not {fmt} lines, so the file is not a {fmt} log "
                          f"(first bad line: {first.reason}, expected {first.expected}); pick the right format, "
                          "let it be detected ('auto'), or read any text with 'plain'",
                          path=first.path, line_number=first.line_number)


def parse_event_traces(path: str, templates: str | None, report: BuildReport) -> Iterator[LogRecord]:
    """HDFS ``Event_traces.csv``: one record per event of each block, content = template text.

    Without a templates file the content is the event id (the ``template_id`` view). All
    records of a block carry the CSV row's line number.
    """
    names = read_templates(templates) if templates else {}
    missing: set[str] = set()
    row = 1
    for row, (block, events, label) in enumerate(iter_event_traces(path, report), start=2):
        for event in events:
            text = names.get(event)
            if text is None:
                if names and event not in missing:
                    missing.add(event)
                    report.add("events_without_template", where=f"{path}:{row}")
                text = event
            yield LogRecord(source=path, line_number=row, content=text, label=label, session_ids=(block,))
        report.add("records", len(events))
    if row == 1:
        raise LogFormatError("event trace file has no rows", path=path, expected="one row per block")


# ---------------------------------------------------------------------------------------------
# auto-detection

_TRACE_HEADER = re.compile(r"\ufeff?\"?BlockId\"?,", re.IGNORECASE)
_SYSTEM_BY_NODE = (("liberty", re.compile(r"^l(n|admin)\d*")), ("spirit", re.compile(r"^s(n|admin)\d*")),
                   ("thunderbird", re.compile(r"^(bn|dn|cn|en|tbird)")))


def detect_format(path: str, max_lines: int = 50) -> str:
    """Guess the format of ``path`` from its first lines: one of ``FORMATS``.

    Tries the strict parsers (HDFS, BGL, Thunderbird-style) and the Event_traces header; a file
    none of them fits is ``plain``. Thunderbird, Liberty and Spirit share one layout and are told
    apart by their node names. Raises ``LogFormatError`` for binary, empty or unreadable files.
    """
    lines: list[tuple[str, int, str]] = []
    for item in open_log_lines(path, BuildReport()):
        lines.append(item)
        if len(lines) >= max_lines:
            break
    if _TRACE_HEADER.match(lines[0][2]):
        return "hdfs_traces"
    scores = {fmt: _fit(line_parser(fmt), lines) for fmt in ("hdfs", "bgl", "thunderbird")}
    best = max(scores, key=scores.get)
    if scores[best] < 0.8:
        return "plain"
    if best == "thunderbird":
        node = lines[0][2].split(" ", 4)[3] if len(lines[0][2].split(" ", 4)) > 3 else ""
        return next((name for name, regex in _SYSTEM_BY_NODE if regex.match(node)), "thunderbird")
    return best


def _fit(parse: LineParser, lines: list[tuple[str, int, str]]) -> float:
    ok = 0
    for source, number, text in lines:
        try:
            parse(text, source, number)
            ok += 1
        except LogFormatError:
            pass
    return ok / len(lines)
