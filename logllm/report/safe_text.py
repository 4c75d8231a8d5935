"""Log text and file names made safe to show: on a terminal (`terminal_text`) and in a spreadsheet (`csv_cell`).

Logs and file names are hostile input. Printed as they are, ``ESC[2J`` clears the screen, an OSC 8 sequence hides
a link, backspaces and carriage returns overwrite what was printed, and a bidi override (U+202E) reorders the rest
of the line; in a CSV cell, text starting with ``=`` is run as a formula by spreadsheets. So every character that
steers a terminal instead of showing itself is shown escaped, as Python writes it (``\\x1b``, ``\\u202e``): the C0
and C1 controls and DEL (``\\n``, ``\\r`` and ``\\t`` too), the bidi embeddings, overrides, isolates and marks, the
line and paragraph separators, and lone surrogates (undecodable bytes kept by ``surrogateescape``, which a UTF-8
terminal cannot even encode). Backslashes are kept as they are: Windows paths and regular expressions stay readable.

JSONL output keeps the raw text: JSON escapes control characters itself, and a program reading it gets the lines
exactly as they were logged.
"""

from __future__ import annotations

import logging
import re

__all__ = ["CSV_FORMULA_STARTS", "TerminalSafeFilter", "csv_cell", "escape_log_records", "terminal_line",
           "terminal_text"]

# C0, DEL, C1; Arabic letter mark; LRM/RLM; line/paragraph separators; bidi embeddings/overrides (202A-202E);
# bidi isolates (2066-2069); lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What spreadsheets read as a formula (or, for tab and CR, as a formula after the whitespace they strip).
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BLANKS = re.compile("[ \t]+")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: object) -> str:
    """``text`` with every terminal-steering character shown escaped (``\\x1b``, ``\\u202e``); one printable line."""
    return _UNSAFE.sub(_escape, str(text))


def terminal_line(text: object) -> str:
    """`terminal_text` for a table cell: runs of spaces and tabs become one space (tabs are layout, not content)."""
    return terminal_text(_BLANKS.sub(" ", str(text)).strip(" "))


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: control characters escaped as in `terminal_text`, and a leading
    ``' `` before text starting with ``= + - @`` (OWASP's advice against CSV injection). Numbers, booleans and None
    are left as they are."""
    if not isinstance(value, str):
        return value
    if value.startswith(CSV_FORMULA_STARTS):
        value = "'" + value
    return terminal_text(value)


class TerminalSafeFilter(logging.Filter):
    """Escapes logllm's own log records (`terminal_text`) before a handler prints them: their warnings quote file
    names and log lines (`app.log:7: not a BGL log line`). Other libraries' records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("logllm"):
            message = record.getMessage()
            safe = terminal_text(message)
            if safe != message:
                record.msg, record.args = safe, None
        return True


def escape_log_records() -> None:
    """Put `TerminalSafeFilter` on the root logger's handlers (call after `logging.basicConfig`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TerminalSafeFilter) for f in handler.filters):
            handler.addFilter(TerminalSafeFilter())
