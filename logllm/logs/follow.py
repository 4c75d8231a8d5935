"""Follow a growing log file like ``tail -F``: survives rotation, truncation and a missing file.

Only complete lines are returned (a line still being written waits for its newline), and the
only state kept is one open file plus one partial line capped at ``max_line_bytes``, so memory
stays bounded however long the follower runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)


@dataclass
class FollowStats:
    """What happened to the followed file; reported by ``logllm watch`` at exit."""

    lines: int = 0
    rotations: int = 0
    truncations: int = 0
    split_long_lines: int = 0
    undecodable_lines: int = 0
    missing_since: float | None = field(default=None, repr=False)


class LogFollower:
    """Read complete lines appended to ``path``; reopen it when rotated, rewind when truncated.

    Args:
        path (`str | Path`): the log file; it may not exist yet.
        from_start (`bool`, *optional*, defaults to `False`): read existing content first
            (default: start at the end, as ``tail -F -n0``).
        max_line_bytes (`int`, *optional*, defaults to 1 MiB): longer lines are split (counted
            in ``stats.split_long_lines``) so one runaway line cannot exhaust memory.
        encoding (`str`, *optional*, defaults to `"utf-8"`): undecodable bytes become U+FFFD
            and the line is counted in ``stats.undecodable_lines``.
        chunk_bytes (`int`, *optional*, defaults to 1 MiB): most bytes read per poll; a backlog
            waits on disk, not in memory.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        from_start: bool = False,
        max_line_bytes: int = 1 << 20,
        encoding: str = "utf-8",
        chunk_bytes: int = 1 << 20,
    ) -> None:
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.encoding = encoding
        self.chunk_bytes = chunk_bytes
        self.stats = FollowStats()
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._partial = b""
        self._open(seek_end=not from_start)

    # -- file handling -------------------------------------------------------------------
    def _open(self, *, seek_end: bool) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            if self.stats.missing_since is None:
                self.stats.missing_since = time.monotonic()
                logger.warning("%s does not exist (yet); waiting for it", self.path)
            return False
        stat = os.fstat(handle.fileno())
        self._file, self._inode = handle, (stat.st_dev, stat.st_ino)
        if seek_end:
            handle.seek(0, os.SEEK_END)
        self.stats.missing_since = None
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _path_identity(self) -> tuple[tuple[int, int], int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino), stat.st_size

    # -- reading -------------------------------------------------------------------------
    def _read_available(self) -> list[str]:
        assert self._file is not None
        chunk = self._file.read(self.chunk_bytes)
        if not chunk:
            return []
        data = self._partial + chunk
        pieces = data.split(b"\n")
        self._partial = pieces.pop()
        lines = [self._decode(part) for piece in pieces for part in self._split_long(piece)]
        if len(self._partial) > self.max_line_bytes:  # keep only the unfinished tail in memory
            *done, self._partial = self._split_long(self._partial)
            lines += [self._decode(part) for part in done]
        return lines

    def _split_long(self, raw: bytes) -> list[bytes]:
        """Cut a runaway line into max_line_bytes pieces (counted), never dropping bytes."""
        if len(raw) <= self.max_line_bytes:
            return [raw]
        step = self.max_line_bytes
        parts = [raw[i : i + step] for i in range(0, len(raw), step)]
        self.stats.split_long_lines += len(parts) - 1
        return parts

    def _decode(self, raw: bytes) -> str:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError:
            self.stats.undecodable_lines += 1
            text = raw.decode(self.encoding, errors="replace")
        self.stats.lines += 1
        return text.rstrip("\r")

    def _flush_partial(self) -> list[str]:
        """A rotated-away file's last line may lack a newline; it is still a line."""
        if not self._partial:
            return []
        raw, self._partial = self._partial, b""
        return [self._decode(raw)]

    def poll(self) -> list[str]:
        """Return complete lines that arrived since the last call (at most ``chunk_bytes``; never blocks).

        Like ``tail -F``, the old file is read to its end before a rotation is acted on.
        """
        if self._file is None and not self._open(seek_end=False):
            return []
        assert self._file is not None
        position = self._file.tell()
        lines = self._read_available()
        if self._file.tell() != position:
            return lines
        identity = self._path_identity()
        if identity is None:  # deleted or moved away, nothing new yet: wait for a new file
            return lines
        inode, size = identity
        if inode != self._inode:  # rotated and drained: start the new file from its beginning
            lines += self._flush_partial()
            self.close()
            self.stats.rotations += 1
            logger.info("%s was rotated; following the new file", self.path)
            if self._open(seek_end=False):
                lines += self._read_available()
        elif size < position:  # truncated in place (copytruncate, `> file`)
            self.stats.truncations += 1
            logger.info("%s was truncated; reading from its start", self.path)
            self._partial = b""
            self._file.seek(0)
            lines += self._read_available()
        return lines

    def follow(self, poll_interval: float = 0.1, stop: float | None = None) -> Iterator[list[str]]:
        """Yield batches of new lines (possibly empty, so callers can flush on timeouts).

        ``stop`` is a ``time.monotonic()`` deadline; None follows forever.
        """
        try:
            while stop is None or time.monotonic() < stop:
                lines = self.poll()
                yield lines
                if not lines:
                    time.sleep(poll_interval)
        finally:
            self.close()
