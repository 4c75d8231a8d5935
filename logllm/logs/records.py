"""One parsed log line (contract 1 in docs/ARCHITECTURE.md).

Parsers stream ``LogRecord`` objects; nothing else about a line is kept in memory, so the
class uses ``slots`` to stay small when millions of them pass through a window buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogRecord"]


@dataclass(slots=True)
class LogRecord:
    source: str                    # file path as given (inside an archive: "archive.tar.gz:member")
    line_number: int               # 1-based line in that file
    content: str                   # the message text the model reads (before preprocessing)
    timestamp: float | None = None # POSIX seconds, if the format has one
    level: str | None = None
    component: str | None = None
    label: int | None = None       # 1 anomalous, 0 normal, None unknown (unlabeled user logs)
    category: str | None = None    # BGL/Thunderbird alert category, synthetic anomaly kind, None if normal
    session_ids: tuple[str, ...] = ()  # HDFS block ids named in the line (a line may name several)
