"""Regex masking of variable parts of a log line (the paper's ``re`` preprocessing).

LogLLM replaces variable fields — numbers, hex values, IP addresses with ports, paths, HDFS
block ids, accounts, node names — with ``<*>`` instead of running a log parser. This module
ships with the model (it is copied to the Hub flat next to the modeling files), so a Hub user's
raw logs are masked exactly as the training data was. It therefore imports only the standard
library.

The patterns are tried in the order of ``MASK_PATTERNS``: at each position of the line the
first pattern that matches wins, so specific shapes (a block id, an IP with its port) are
masked whole before the generic number rule could split them. All patterns are combined into
one compiled alternation, so a line is scanned once.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "MASK_PATTERNS", "MASK_REGEX", "mask_line", "mask_lines"]

MASK = "<*>"

# (name, regex), most specific first. Named so tests and docs can say which rule fired.
MASK_PATTERNS: list[tuple[str, str]] = [
    ("url", r"(?<![\w+.-])[A-Za-z][\w+.-]*://[^\s\"'<>]+"),
    ("email", r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    ("hdfs_block", r"blk_-?\d+"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("ipv4_port", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\w.])"),
    ("datetime", r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[-T ]\d{1,2}[.:]\d{2}[.:]\d{2}(?:[.,]\d+)?)?\b"),
    ("clock", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"),
    ("account", r"\b[A-Za-z_][\w.-]*@[A-Za-z][\w.-]*"),
    ("path", r"(?:(?<=\s)|(?<=^)|(?<=[=:(\[\"']))(?:[A-Za-z]:)?(?:[/\\](?!\d{1,3}(?:\.\d{1,3}){3}\b)[^\s/\\:,;()\[\]\"'<>]+)+[/\\]?"),
    ("bgl_node", r"\bR\d{2}(?:-[A-Z]\w*)+(?::J\d{2}-U\d{2})?\b"),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    ("node_name", r"\b[A-Za-z]+(?:-[A-Za-z]+)*\d+(?:-\w+)*\b"),
    ("number", r"(?<![A-Za-z])[-+]?\d+(?:\.\d+)*"),
]

MASK_REGEX: re.Pattern[str] = re.compile("|".join(f"(?:{pattern})" for _, pattern in MASK_PATTERNS))


# No pattern cares which digit it sees, except that "0x" starts a hex number. So a line without
# "0x" and its copy with every digit replaced by "1" match at the same positions (with "0x", only
# the digits 2-9 are replaced): results are cached under that key. HDFS has few line shapes but almost no repeated lines (block ids, IPs), so this turns
# a regex scan per line into a dictionary lookup. When the unmasked text has no digits, the
# masked line itself is cached; otherwise the match spans are, and applied to the real line.
_DIGIT_KEY = bytes.maketrans(b"0123456789", b"1111111111")
_DIGIT_KEY_KEEP_ZERO = bytes.maketrans(b"23456789", b"11111111")
_CACHE: dict[bytes, str | tuple[int, ...]] = {}
_CACHE_SIZE = 100_000
_MAX_CACHED_LENGTH = 1024
_HAS_DIGIT = re.compile(r"\d")


def _apply_spans(text: str, spans: tuple[int, ...]) -> str:
    parts, previous = [], 0
    for i in range(0, len(spans), 2):
        parts.append(text[previous:spans[i]])
        parts.append(MASK)
        previous = spans[i + 1]
    parts.append(text[previous:])
    return "".join(parts)


def _cache_entry(text: str) -> str | tuple[int, ...]:
    spans = tuple(position for match in MASK_REGEX.finditer(text) for position in match.span())
    masked = _apply_spans(text, spans)
    return spans if _HAS_DIGIT.search(masked.replace(MASK, "")) else masked


def mask_line(text: str) -> str:
    """Replace every variable field of ``text`` with ``<*>`` (patterns in priority order)."""
    if len(text) > _MAX_CACHED_LENGTH:
        return MASK_REGEX.sub(MASK, text)
    raw = text.encode("utf-8", "surrogatepass")
    key = raw.translate(_DIGIT_KEY_KEEP_ZERO if b"0x" in raw or b"0X" in raw else _DIGIT_KEY)
    entry = _CACHE.get(key)
    if entry is None:
        entry = _cache_entry(text)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = entry
    return entry if isinstance(entry, str) else _apply_spans(text, entry)


def mask_lines(texts: list[str]) -> list[str]:
    """Mask a batch of lines."""
    return [mask_line(text) for text in texts]
