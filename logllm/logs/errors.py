"""Errors for bad input and the build report that counts every skipped or repaired line.

The rule of the pipeline: a line is never dropped silently. Either it raises a
``LogFormatError`` naming the file, the line and what was expected, or the parser repairs or
skips it and says so in the ``BuildReport``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogFormatError", "DetectionInputError", "BuildReport", "COUNTER_NOTES"]

# How many example locations a report keeps per counter (enough to find the lines, bounded memory).
MAX_EXAMPLES = 5


class LogFormatError(ValueError):
    """Input that cannot be read as the requested format; names file, line and expectation."""

    def __init__(self, message: str, *, path: str | None = None, line_number: int | None = None,
                 expected: str | None = None) -> None:
        self.reason = message
        self.path = path
        self.line_number = line_number
        self.expected = expected
        where = path or "<input>"
        if line_number is not None:
            where = f"{where}:{line_number}"
        text = f"{where}: {message}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class DetectionInputError(ValueError):
    """User input or options that cannot be scored (detect, watch, the Space); the message is meant for the user, as is."""


# Counters worth telling a user about, with how to say it (``BuildReport.user_notes``).
COUNTER_NOTES = {
    "non_utf8_lines_repaired": "{n} line(s) were not valid UTF-8; undecodable bytes were replaced",
    "lines_cut_at_max_length": "{n} line(s) were longer than 1 MiB and were cut",
    "lines_with_nul_bytes": "{n} line(s) held NUL bytes, which were removed",
    "lines_without_session_id": "{n} line(s) name no HDFS block id and are in no session window",
    "lines_without_timestamp": "{n} line(s) have no timestamp and are in no time window",
    "lines_between_windows": "{n} line(s) fall between windows (step > size)",
    "unparsed_lines": "{n} line(s) did not match the format and were skipped",
}


@dataclass
class BuildReport:
    """Counters for everything a build read, repaired, skipped or produced.

    ``counts`` holds named counters (``lines_read``, ``non_utf8_lines``, ...); ``examples``
    keeps the first few ``file:line`` locations for each problem counter so users can look.
    """

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1, *, where: str | None = None) -> None:
        """Increase counter ``name`` by ``n``; remember ``where`` (``file:line``) as an example."""
        self.counts[name] += n
        if where is not None:
            seen = self.examples.setdefault(name, [])
            if len(seen) < MAX_EXAMPLES:
                seen.append(where)

    def note(self, text: str) -> None:
        """Record a free-text remark (e.g. a fallback that was taken)."""
        self.notes.append(text)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def merge(self, other: "BuildReport") -> None:
        """Fold another report's counters, examples and notes into this one."""
        for name, n in other.counts.items():
            self.counts[name] += n
        for name, where in other.examples.items():
            seen = self.examples.setdefault(name, [])
            seen.extend(where[: MAX_EXAMPLES - len(seen)])
        self.notes.extend(other.notes)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "examples": self.examples, "notes": self.notes}

    def to_json(self, path: str | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        return text

    def user_notes(self) -> list[str]:
        """One sentence per counter a user should hear about (``COUNTER_NOTES``), with its first location."""
        notes = []
        for name, template in COUNTER_NOTES.items():
            if self.counts[name]:
                first = self.examples.get(name, [""])[0]
                notes.append(template.format(n=self.counts[name]) + (f" (first at {first})" if first else ""))
        return notes

    def summary(self) -> str:
        """One human-readable line per counter (for CLI output and dataset cards)."""
        rows = [f"{name}: {n:,}" for name, n in sorted(self.counts.items())]
        rows += [f"note: {text}" for text in self.notes]
        return "\n".join(rows)
