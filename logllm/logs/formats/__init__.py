"""Parsers for the Loghub formats and a user's own logs, plus a format auto-detector.

``open_records(path, fmt)`` opens a plain, gzip, bz2, tar or zip file once and streams its
``LogRecord``s; with ``fmt="auto"`` the format is decided from the first lines of that same
opening, so a file (or a spooled stdin) is never read twice. A line that does not fit the
format is skipped and counted (``unparsed_lines``, with the first locations kept as examples);
if most of the first lines do not fit, the file is not in that format and a ``LogFormatError``
names the first bad line. ``lenient_parser`` is the per-line variant for a followed file, where
a stray line must not stop the watcher: it keeps the line whole as a plain message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import open_log_lines, open_members
from logllm.logs.records import LogRecord
from logllm.logs.formats.bgl import parse_bgl_line, parse_syslog_labeled_line
from logllm.logs.formats.hdfs import iter_event_traces, parse_hdfs_line, read_block_labels, read_templates
from logllm.logs.formats.plain import make_plain_parser

__all__ = ["FORMATS", "LINE_FORMATS", "LABELED_FORMATS", "open_records", "parse_file", "parse_lines", "detect_format",
           "line_parser", "lenient_parser", "read_block_labels", "parse_event_traces"]

logger = logging.getLogger(__name__)

FORMATS = ("hdfs", "hdfs_traces", "bgl", "thunderbird", "liberty", "spirit", "plain")
LINE_FORMATS = tuple(f for f in FORMATS if f != "hdfs_traces")   # one record per line (what a follower can parse)
LABELED_FORMATS = ("bgl", "thunderbird", "liberty", "spirit")   # label column in every line
PROBE_LINES = 100          # lines looked at to decide that a file is not in the format
MAX_BAD_FRACTION = 0.5     # ... when more than this fraction of them fail
DETECT_LINES = 50          # first lines the auto-detector looks at

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


def lenient_parser(fmt: str, report: BuildReport, pattern: str | None = None) -> LineParser:
    """``line_parser(fmt)`` for a followed file: a line that does not fit is kept whole as a plain message.

    Such lines are counted (``unparsed_lines_kept``, first locations kept) and the first few
    logged, so a stray line never stops a watcher and is never dropped silently. A label field
    that cannot be decoded is read as unknown and counted (``lines_with_undecodable_label``).
    """
    strict = line_parser(fmt, pattern)
    labeled = fmt in LABELED_FORMATS

    def parse(text: str, source: str, line_number: int) -> LogRecord:
        try:
            record = strict(text, source, line_number)
            if labeled and record.label is None:
                report.add("lines_with_undecodable_label", where=f"{source}:{line_number}")
            return record
        except LogFormatError as error:
            report.add("unparsed_lines_kept", where=f"{source}:{line_number}")
            if report["unparsed_lines_kept"] <= 5:
                logger.warning("%s; kept as a plain line", error)
        return LogRecord(source, line_number, text)

    return parse


def open_records(path: str, fmt: str = "auto", report: BuildReport | None = None, *, pattern: str | None = None,
                 templates: str | None = None, name: str | None = None,
                 bad_labels: str = "error") -> Iterator[tuple[str, str, Iterator[LogRecord]]]:
    """Open ``path`` once; per file in it (each archive member): ``(source, format, records)``.

    With ``auto`` each file's format is decided from its first ``DETECT_LINES`` lines, read right
    away (so an unreadable, binary or empty file fails before any work); parsing continues on the
    same stream. ``name`` is what sources and errors call the file (see ``open_log_lines``).
    ``bad_labels``: what a label field that cannot be decoded becomes (see ``_parse_lines``).
    Consume each file's records before asking for the next (tar archives are streamed).
    """
    report = report if report is not None else BuildReport()
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; choose one of {', '.join(FORMATS)} (or 'auto')")
    for source, lines in open_members(path, report, name=name):
        found = fmt
        if fmt == "auto":
            head = list(islice(lines, DETECT_LINES))
            found = _detect(head)
            lines = chain(head, lines)
        if found == "hdfs_traces":
            yield source, found, parse_event_traces(lines, templates, report)
        else:
            yield source, found, _parse_lines(lines, found, report, pattern, bad_labels)


def parse_file(path: str, fmt: str, report: BuildReport | None = None, *, pattern: str | None = None,
               templates: str | None = None, name: str | None = None, bad_labels: str = "error") -> Iterator[LogRecord]:
    """Stream the records of ``path`` in format ``fmt`` (``auto`` detects it per file and notes the result)."""
    report = report if report is not None else BuildReport()
    for source, found, records in open_records(path, fmt, report, pattern=pattern, templates=templates, name=name,
                                               bad_labels=bad_labels):
        if fmt == "auto":
            report.note(f"{source}: detected format {found}")
        yield from records


def parse_lines(lines: Iterable[tuple[str, int, str]], fmt: str, report: BuildReport,
                pattern: str | None, bad_labels: str = "error", *, probe: bool = True) -> Iterator[LogRecord]:
    """Parse one file's lines; a file whose first lines mostly do not fit is refused.

    In the labeled formats a label field that could not be decoded (it holds U+FFFD) is never
    read as a label: ``bad_labels="error"`` stops with its file and line, ``"unknown"`` keeps the
    line with label -1 and ``"skip"`` leaves it out, both counted as ``lines_with_undecodable_label``.
    ``probe=False``: the lines are a later piece of a file (a parallel build), whose head was judged elsewhere.
    """
    if bad_labels not in {"error", "unknown", "skip"}:
        raise ValueError(f"bad_labels must be 'error', 'unknown' or 'skip', got {bad_labels!r}")
    parse = line_parser(fmt, pattern)
    labeled = fmt in LABELED_FORMATS
    seen = bad = 0
    first_error: LogFormatError | None = None
    try:
        for source, number, text in lines:
            seen += 1
            try:
                record = parse(text, source, number)
            except LogFormatError as error:
                bad += 1
                first_error = first_error or error
                report.add("unparsed_lines", where=f"{source}:{number}")
                if probe and seen == PROBE_LINES and bad > MAX_BAD_FRACTION * seen:
                    raise _not_this_format(fmt, bad, seen, first_error) from None
                continue
            if labeled and record.label is None:
                if bad_labels == "error":
                    raise LogFormatError(f"the label field {text.split(' ', 1)[0]!r} holds bytes that are not UTF-8, "
                                         "so the line's label is unknown", path=source, line_number=number,
                                         expected="'-' or an alert category (or --missing-labels unknown|skip)")
                report.add("lines_with_undecodable_label", where=f"{source}:{number}")
                if bad_labels == "skip":
                    bad += 1
                    continue
            yield record
    finally:
        report.add("records", seen - bad)
    if probe and seen and seen < PROBE_LINES and bad > MAX_BAD_FRACTION * seen:
        raise _not_this_format(fmt, bad, seen, first_error)


_parse_lines = parse_lines


def _not_this_format(fmt: str, bad: int, seen: int, first: LogFormatError) -> LogFormatError:
    return LogFormatError(f"{bad} of the first {seen} lines are not {fmt} lines, so the file is not a {fmt} log "
                          f"(first bad line: {first.reason}, expected {first.expected}); pick the right format, "
                          "let it be detected ('auto'), or read any text with 'plain'",
                          path=first.path, line_number=first.line_number)


def parse_event_traces(lines: str | Iterable[tuple[str, int, str]], templates: str | None,
                       report: BuildReport) -> Iterator[LogRecord]:
    """HDFS ``Event_traces.csv``: one record per event of each block, content = template text.

    ``lines`` is the file's path or its lines from the reader. Without a templates file the
    content is the event id (the ``template_id`` view). All records of a block carry the CSV
    row's line number.
    """
    if isinstance(lines, str):
        lines = open_log_lines(lines, report)
    names = read_templates(templates) if templates else {}
    missing: set[str] = set()
    for source, number, block, events, label in iter_event_traces(lines, report):
        for event in events:
            text = names.get(event)
            if text is None:
                if names and event not in missing:
                    missing.add(event)
                    report.add("events_without_template", where=f"{source}:{number}")
                text = event
            yield LogRecord(source=source, line_number=number, content=text, label=label, session_ids=(block,))
        report.add("records", len(events))


# ---------------------------------------------------------------------------------------------
# auto-detection

_TRACE_HEADER = re.compile(r"\ufeff?\"?BlockId\"?,", re.IGNORECASE)
_SYSTEM_BY_NODE = (("liberty", re.compile(r"^l(n|admin)\d*")), ("spirit", re.compile(r"^s(n|admin)\d*")),
                   ("thunderbird", re.compile(r"^(bn|dn|cn|en|tbird)")))


def detect_format(path: str, max_lines: int = DETECT_LINES) -> str:
    """Guess the format of ``path`` (its first file, for an archive) from its first lines: one of ``FORMATS``.

    Tries the strict parsers (HDFS, BGL, Thunderbird-style) and the Event_traces header; a file
    none of them fits is ``plain``. Thunderbird, Liberty and Spirit share one layout and are told
    apart by their node names. Raises ``LogFormatError`` for binary, empty or unreadable files.
    """
    return _detect(list(islice(open_log_lines(path, BuildReport()), max_lines)))


def _detect(lines: list[tuple[str, int, str]]) -> str:
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
