"""HDFS (Loghub HDFS_v1): raw lines with block labels, and ``Event_traces.csv`` sequences.

Raw line: ``081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-16 ...``
(date yymmdd, time hhmmss, pid, level, component followed by ``:``, content). Every ``blk_``
id in the content is a session id; labels are per block in ``anomaly_label.csv``.
"""

from __future__ import annotations

import calendar
import csv
import re
from collections.abc import Iterable, Iterator

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.records import LogRecord

__all__ = ["parse_hdfs_line", "read_block_labels", "BLOCK_ID"]

BLOCK_ID = re.compile(r"blk_-?\d+")
_HEADER = re.compile(r"(\d{6}) (\d{6}) (\d+) ([A-Z]+) (\S+?): ?(.*)\Z", re.DOTALL)
_DAY_CACHE: dict[str, int] = {}
_find_blocks = BLOCK_ID.findall
HDFS_LINE_SHAPE = "'yymmdd hhmmss pid LEVEL component: content'"


_TIME_CACHE: dict[str, float] = {}


def _hdfs_time(date: str, clock: str) -> float:
    """``081109`` + ``203518`` -> POSIX seconds (UTC); cached, since many lines share a second."""
    key = date + clock
    stamp = _TIME_CACHE.get(key)
    if stamp is None:
        if len(_TIME_CACHE) > 20_000:
            _TIME_CACHE.clear()
        day = _DAY_CACHE.get(date)
        if day is None:
            day = _DAY_CACHE[date] = calendar.timegm((2000 + int(date[:2]), int(date[2:4]), int(date[4:6]), 0, 0, 0))
        stamp = _TIME_CACHE[key] = float(day + int(clock[:2]) * 3600 + int(clock[2:4]) * 60 + int(clock[4:6]))
    return stamp


def parse_hdfs_line(text: str, source: str, line_number: int) -> LogRecord:
    """Parse one raw HDFS line; raise ``LogFormatError`` if it does not have the HDFS shape."""
    match = _HEADER.match(text)
    if match is None:
        raise LogFormatError("not an HDFS log line", path=source, line_number=line_number, expected=HDFS_LINE_SHAPE)
    date, clock, _pid, level, component, content = match.groups()
    blocks = _find_blocks(content)
    return LogRecord(source, line_number, content, _hdfs_time(date, clock), level, component, None, None,
                     tuple(blocks) if len(blocks) < 2 else tuple(dict.fromkeys(blocks)))


_LABELS = {"normal": 0, "anomaly": 1, "anomalous": 1, "abnormal": 1, "0": 0, "1": 1}


def _csv_columns(reader, path: str, empty_message: str, expected: str) -> tuple[list[str], list[str]]:
    """The header row and its stripped, lower-cased column names; an empty file is an error."""
    header = next(reader, None)
    if header is None:
        raise LogFormatError(empty_message, path=path, expected=expected)
    return header, [c.strip().lower() for c in header]


def read_block_labels(path: str, report: BuildReport | None = None) -> dict[str, int]:
    """``anomaly_label.csv`` (``BlockId,Label`` with Normal/Anomaly) -> {block id: 0/1}."""
    from logllm.logs.reader import open_text

    report = report if report is not None else BuildReport()
    labels: dict[str, int] = {}
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header, columns = _csv_columns(reader, path, "label file is empty", expected="a 'BlockId,Label' header")
        if "blockid" not in columns or "label" not in columns:
            raise LogFormatError(f"label file header is {header}", path=path, line_number=1,
                                 expected="columns BlockId and Label")
        block_col, label_col = columns.index("blockid"), columns.index("label")
        for row in reader:
            line = reader.line_num
            if not row:
                report.add("label_file_blank_lines", where=f"{path}:{line}")
                continue
            try:
                block, value = row[block_col].strip(), _LABELS[row[label_col].strip().lower()]
            except (IndexError, KeyError):
                raise LogFormatError(f"bad label row {row}", path=path, line_number=line,
                                     expected="BlockId,Label with Label Normal or Anomaly") from None
            if block in labels and labels[block] != value:
                raise LogFormatError(f"block {block} is labeled twice with different labels", path=path, line_number=line)
            labels[block] = value
    report.add("labeled_blocks", len(labels))
    return labels


def iter_event_traces(lines: Iterable[tuple[str, int, str]],
                      report: BuildReport | None = None) -> Iterator[tuple[str, int, str, list[str], int | None]]:
    """``Event_traces.csv`` lines (from the reader) -> (source, line, block id, event ids, label or None) rows.

    Each row is one line of the file (the CSV has no quoted line breaks), so a row's line
    number is the file's; blank lines were already counted by the reader.
    """
    report = report if report is not None else BuildReport()
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        raise LogFormatError("event trace file is empty", expected="a header with BlockId and Features/EventSequence")
    source, _, header_text = first
    header = next(csv.reader([header_text]))
    columns = [c.strip().lower() for c in header]
    if "blockid" not in columns:
        raise LogFormatError(f"event trace header is {header}", path=source, line_number=1, expected="a BlockId column")
    seq_col = next((columns.index(c) for c in ("features", "eventsequence", "event_sequence") if c in columns), None)
    if seq_col is None:
        raise LogFormatError(f"event trace header is {header}", path=source, line_number=1,
                             expected="a Features or EventSequence column of event ids")
    label_col = columns.index("label") if "label" in columns else None
    block_col = columns.index("blockid")
    rows = 0
    for source, number, text in lines:
        row = next(csv.reader([text]), [])
        try:
            events = re.findall(r"E\d+", row[seq_col])
            label = None
            if label_col is not None:
                label = {"success": 0, "normal": 0, "fail": 1, "anomaly": 1, "0": 0, "1": 1}[row[label_col].strip().lower()]
        except (IndexError, KeyError):
            raise LogFormatError(f"bad event trace row {row[:3]}...", path=source, line_number=number,
                                 expected="BlockId, Label (Success/Fail or Normal/Anomaly), Features [E5,E22,...]") from None
        rows += 1
        yield source, number, row[block_col].strip(), events, label
    if rows == 0:
        raise LogFormatError("event trace file has no rows", path=source, expected="one row per block")


def read_templates(path: str) -> dict[str, str]:
    """``HDFS.log_templates.csv`` / ``HDFS_templates.csv`` (``EventId,EventTemplate``) -> {id: text}."""
    from logllm.logs.reader import open_text

    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [c.strip().lower() for c in next(reader, [])]
        if "eventid" not in header or "eventtemplate" not in header:
            raise LogFormatError(f"template file header is {header}", path=path, line_number=1,
                                 expected="columns EventId and EventTemplate")
        id_col, text_col = header.index("eventid"), header.index("eventtemplate")
        return {row[id_col].strip(): row[text_col] for row in reader if row}
