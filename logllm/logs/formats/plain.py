"""A user's own logs: one message per line, no labels needed.

Without a pattern the whole line is the content. With a regex, its named groups ``content``
(required), ``timestamp`` and ``level`` (optional) are used; a timestamp may be POSIX seconds or
an ISO-8601-like date-time. A few common timestamp prefixes are also recognised without a
pattern, so time windows work on ordinary syslog / ISO logs.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from logllm.logs.errors import LogFormatError
from logllm.logs.records import LogRecord

__all__ = ["make_plain_parser", "parse_timestamp"]

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?")
_LEADING_ISO = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?)(?:Z|[+-]\d\d:?\d\d)?[\s,|-]*(?:\[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b\]?[\s:|-]*)?(.*)\Z", re.DOTALL)


def parse_timestamp(value: str) -> float | None:
    """POSIX seconds, or an ISO-like date-time (taken as UTC) -> float; None if unreadable."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc).timestamp()
    return stamp + (float(f"0.{fraction}") if fraction else 0.0)


def make_plain_parser(pattern: str | None = None):
    """A ``(text, source, line_number) -> LogRecord`` function for plain logs."""
    if pattern is None:
        return _parse_plain_line
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid --pattern regex: {error}") from None
    if "content" not in regex.groupindex:
        raise ValueError("--pattern needs a named group (?P<content>...); timestamp and level groups are optional")

    def parse(text: str, source: str, line_number: int) -> LogRecord:
        match = regex.match(text)
        if match is None:
            raise LogFormatError("line does not match --pattern", path=source, line_number=line_number, expected=pattern)
        groups = match.groupdict()
        stamp = groups.get("timestamp")
        return LogRecord(source=source, line_number=line_number, content=groups["content"] or "",
                         timestamp=parse_timestamp(stamp) if stamp else None, level=groups.get("level"))

    return parse


def _parse_plain_line(text: str, source: str, line_number: int) -> LogRecord:
    match = _LEADING_ISO.match(text)
    if match is not None:
        stamp, level, content = match.groups()
        return LogRecord(source=source, line_number=line_number, content=content, timestamp=parse_timestamp(stamp), level=level)
    return LogRecord(source=source, line_number=line_number, content=text)
