"""Supercomputer logs with a label column: BGL, Thunderbird, Liberty, Spirit.

The first token is the label: ``-`` for normal, otherwise the alert category (anomalous).

* BGL: ``- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872
  R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected``
* Thunderbird / Liberty / Spirit (syslog style): ``- 1132065266 2005.11.15 bn179 Nov 15
  06:34:26 bn179/bn179 snmpd[1989]: Got trap from peer on fd 13``
"""

from __future__ import annotations

import re

from logllm.logs.errors import LogFormatError
from logllm.logs.records import LogRecord

__all__ = ["parse_bgl_line", "parse_syslog_labeled_line", "BGL_LINE_SHAPE", "SYSLOG_LINE_SHAPE"]

BGL_LINE_SHAPE = "'label epoch yyyy.mm.dd node yyyy-mm-dd-hh.mm.ss.ffffff node type component level content'"
SYSLOG_LINE_SHAPE = "'label epoch yyyy.mm.dd node Mon dd hh:mm:ss location [component[pid]:] content'"

_BGL = re.compile(r"(\S+) (-?\d+) (\d{4}\.\d\d\.\d\d) (\S+) (\d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d\.\d+) (\S+) (\S+) (\S+) (\S+)(?: (.*))?\Z", re.DOTALL)
_SYSLOG = re.compile(r"(\S+) (-?\d+) (\d{4}\.\d\d\.\d\d) (\S*) +([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\S+) ?(.*)\Z", re.DOTALL)
_COMPONENT = re.compile(r"([^\s:\[]+(?:\([^)]*\))?)(?:\[(\d+)\])?: (.*)\Z", re.DOTALL)


def _label(token: str) -> tuple[int | None, str | None]:
    """``-`` is normal, anything else an alert category; a token with undecodable bytes (U+FFFD) is no label."""
    if token == "-":
        return 0, None
    return (None, None) if "\ufffd" in token else (1, token)


def parse_bgl_line(text: str, source: str, line_number: int) -> LogRecord:
    """Parse one BGL line (label first); the content may be empty."""
    match = _BGL.match(text)
    if match is None:
        raise LogFormatError("not a BGL log line", path=source, line_number=line_number, expected=BGL_LINE_SHAPE)
    label_token, epoch, _date, _node, _time, _node2, _type, component, level, content = match.groups()
    label, category = _label(label_token)
    return LogRecord(source=source, line_number=line_number, content=content or "", timestamp=float(epoch),
                     level=level, component=component, label=label, category=category)


def parse_syslog_labeled_line(text: str, source: str, line_number: int) -> LogRecord:
    """Parse one Thunderbird/Liberty/Spirit line (label first, then a syslog header)."""
    match = _SYSLOG.match(text)
    if match is None:
        raise LogFormatError("not a Thunderbird/Liberty/Spirit log line", path=source, line_number=line_number,
                             expected=SYSLOG_LINE_SHAPE)
    label_token, epoch, _date, _node, _month, _day, _clock, _location, rest = match.groups()
    label, category = _label(label_token)
    component = None
    content = rest
    parts = _COMPONENT.match(rest)
    if parts is not None:
        component, _pid, content = parts.groups()
    return LogRecord(source=source, line_number=line_number, content=content, timestamp=float(epoch),
                     component=component, label=label, category=category)
