"""Follow a growing log file like ``tail -F``: no line lost or read twice across rotation and truncation.

Lines come out with the file they belong to and their number in it, decoded by the one reader's
rules (``logllm.logs.reader``: NUL bytes removed and counted, undecodable bytes replaced and
counted, blank lines counted, a line over ``max_line_bytes`` cut and counted as one line).

Every poll compares the followed file with what was read of it:

* **rotation** (rename + create): the old file, still open, is read to its end first; its
  unterminated last line is its own last line; then the new file is read from its start.
* **truncation** (``copytruncate``, ``> file``): caught when the file is smaller than what was
  read, *or* when its first bytes differ from what was read (truncated and refilled between two
  polls). A ``copytruncate`` copy beside it (``app.log.1``, ``app.log-2026...``: same first bytes,
  at least as long) is read from where reading stopped before the file is read again from its
  start, so the lines written just before the truncation are not lost; without a copy, bytes
  known to exist but not read are counted (``bytes_lost_to_truncation``).

Line numbers follow the file's own lines (when following starts at the end, the lines already
there are counted). The state is one open file (and a copy being drained) plus one unfinished
line of at most ``max_line_bytes``, so memory stays bounded however long it runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import MAX_LINE_BYTES, LineDecoder, LineSplitter

__all__ = ["LogFollower", "FollowStats", "FollowedLine"]

logger = logging.getLogger(__name__)

HEAD_BYTES = 4096            # first bytes of the file compared on every poll
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


class FollowedLine(NamedTuple):
    """One non-blank line: which file (0 first, +1 at each rotation or truncation), its number there, its text."""

    file: int
    number: int
    text: str


@dataclass
class FollowStats:
    """What happened to the followed file; reported by ``logllm watch`` at exit."""

    lines: int = 0              # every line read, blank ones included
    bytes: int = 0              # bytes read (from the file and from copies)
    rotations: int = 0
    truncations: int = 0
    copies_read: int = 0        # copytruncate copies the end of a truncated file was read from
    missing_since: float | None = field(default=None, repr=False)


class LogFollower:
    """Read complete lines appended to ``path``; reopen it when rotated, start over when truncated.

    Args:
        path (`str | Path`): the log file; it may not exist yet.
        from_start (`bool`, *optional*, defaults to `False`): read existing content first
            (default: start at the end, as ``tail -F -n0``; a line being written is read whole).
        max_line_bytes (`int`, *optional*, defaults to 1 MiB): longer lines are cut (one line, counted).
        chunk_bytes (`int`, *optional*, defaults to 1 MiB): most bytes read per poll; a backlog
            waits on disk, not in memory.
        report (`BuildReport`, *optional*): where the reader's counters go.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        from_start: bool = False,
        max_line_bytes: int = MAX_LINE_BYTES,
        chunk_bytes: int = 1 << 20,
        report: BuildReport | None = None,
    ) -> None:
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self.report = report if report is not None else BuildReport()
        self.stats = FollowStats()
        self.file_index = 0          # which file lines come from now
        self.number = 0              # lines read so far from it
        self._splitter = LineSplitter(max_line_bytes)
        self._decode = LineDecoder(str(self.path), self.report)
        self._file: BinaryIO | None = None
        self._copy: BinaryIO | None = None    # a copytruncate copy being read to its end
        self._inode: tuple[int, int] | None = None
        self._followed: dict[tuple[int, int], tuple[int, int]] = {}   # files read to their end: (size, mtime_ns) then
        self._head = b""             # the file's first bytes as read
        self._tail = b""             # the last bytes read from it (a copytruncate copy has them where reading stopped)
        self._seen_size = 0          # the file size last seen
        if self.path.is_dir():
            raise LogFormatError("is a folder; logllm watch follows one log file", path=str(self.path))
        self._open(at_end=not from_start)

    # -- file handling -------------------------------------------------------------------
    def _open(self, *, at_end: bool) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            if self.stats.missing_since is None:
                self.stats.missing_since = time.monotonic()
                logger.warning("%s does not exist (yet); waiting for it", self.path)
            return False
        except OSError as error:
            raise LogFormatError(f"cannot open it: {error.strerror or error}", path=str(self.path)) from None
        stat = os.fstat(handle.fileno())
        self._file, self._inode = handle, (stat.st_dev, stat.st_ino)
        self._head, self._tail, self._seen_size = b"", b"", stat.st_size
        if at_end:
            self._skip_existing(handle)
            start = max(0, handle.tell() - HEAD_BYTES)
            self._tail = os.pread(handle.fileno(), handle.tell() - start, start)
        self._remember_head()
        self.stats.missing_since = None
        return True

    def _skip_existing(self, handle: BinaryIO) -> None:
        """Start after the last complete line, counting the lines before it (numbers follow the file)."""
        offset = after_newline = 0
        while chunk := handle.read(1 << 20):
            self.number += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                after_newline = offset + last + 1
            offset += len(chunk)
        handle.seek(after_newline)

    def close(self) -> None:
        for handle in (self._file, self._copy):
            if handle is not None:
                handle.close()
        self._file = self._copy = None

    def _path_inode(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _remember_head(self) -> None:
        """Keep the file's first bytes, up to what was read (checked to be this file's before reading)."""
        assert self._file is not None
        if len(self._head) < HEAD_BYTES:
            self._head = os.pread(self._file.fileno(), min(HEAD_BYTES, self._file.tell()), 0)

    def _head_changed(self) -> bool:
        assert self._file is not None
        return bool(self._head) and os.pread(self._file.fileno(), len(self._head), 0) != self._head

    # -- lines ---------------------------------------------------------------------------
    @property
    def unfinished_bytes(self) -> int:
        """Bytes of a last line whose newline has not arrived yet (it may still be being written)."""
        return len(self._splitter.carry)

    @property
    def unread_bytes(self) -> int:
        """Bytes of the followed file seen at the last poll but not read yet (a backlog on disk)."""
        if self._file is None or self._file.closed:
            return 0
        return max(0, self._seen_size - self._file.tell())

    def _feed(self, data: bytes, out: list[FollowedLine]) -> None:
        self.stats.bytes += len(data)
        self._tail = (self._tail + data)[-HEAD_BYTES:] if len(data) < HEAD_BYTES else data[-HEAD_BYTES:]
        for raw, cut, nuls in self._splitter.feed(data):
            self._line(raw, cut, nuls, out)

    def _line(self, raw: bytes, cut: bool, nuls: int, out: list[FollowedLine]) -> None:
        self.number += 1
        self.stats.lines += 1
        text = self._decode(self.number, raw, cut, nuls)
        if text is not None:
            if self.number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            out.append(FollowedLine(self.file_index, self.number, text))

    def _end_of_file(self, out: list[FollowedLine]) -> None:
        """The current file is done: its unterminated last line is its own; the next file starts at line 1."""
        last = self._splitter.flush()
        if last is not None:
            self._line(*last, out)
        self.file_index += 1
        self.number = 0

    def _find_copy(self, offset: int) -> BinaryIO | None:
        """The copytruncate copy of what was read: a sibling starting with the same bytes, at least ``offset`` long.

        Its bytes just before ``offset`` must also be the last ones read, and the first bytes must
        hold some text (a few blank lines say nothing). A file followed before and unchanged since
        (the previous file of a rename rotation) is not a copy, however its bytes look.
        """
        if not self._head.strip() or not self._tail:
            return None
        found = []
        for sibling in self.path.parent.iterdir():
            name = sibling.name
            if name == self.path.name or not name.startswith(self.path.name) or name.endswith(_COMPRESSED):
                continue
            try:
                stat = sibling.stat()
                if not sibling.is_file() or stat.st_size < offset:
                    continue
                if self._followed.get((stat.st_dev, stat.st_ino)) == (stat.st_size, stat.st_mtime_ns):
                    continue
                with open(sibling, "rb") as handle:
                    if handle.read(len(self._head)) != self._head:
                        continue
                    handle.seek(offset - len(self._tail))
                    if handle.read(len(self._tail)) == self._tail:
                        found.append((stat.st_mtime, sibling))
            except OSError:
                continue
        if not found:
            return None
        copy = open(max(found)[1], "rb")  # noqa: SIM115 - read to its end, then closed
        copy.seek(offset)
        return copy

    def _truncated(self, offset: int, out: list[FollowedLine]) -> None:
        assert self._file is not None
        self.stats.truncations += 1
        self._copy = self._find_copy(offset)
        if self._copy is not None:
            self.stats.copies_read += 1
            logger.info("%s was truncated; reading its end from the copy %s first", self.path, self._copy.name)
            return
        if self._seen_size > offset:
            self.report.add("bytes_lost_to_truncation", self._seen_size - offset, where=f"{self.path}:{self.number + 1}")
        logger.info("%s was truncated; reading from its start", self.path)
        self._end_of_file(out)
        self._restart()

    def _restart(self) -> None:
        assert self._file is not None
        self._file.seek(0)
        self._head, self._tail, self._seen_size = b"", b"", 0

    def poll(self) -> list[FollowedLine]:
        """Lines that arrived since the last call (at most ``chunk_bytes`` read; never blocks)."""
        out: list[FollowedLine] = []
        if self._file is None and not self._open(at_end=False):
            return out
        assert self._file is not None
        if self._copy is not None:
            data = self._copy.read(self.chunk_bytes)
            if data:
                self._feed(data, out)
                return out
            self._copy.close()
            self._copy = None
            self._end_of_file(out)
            self._restart()
        offset = self._file.tell()
        size = os.fstat(self._file.fileno()).st_size
        if size < offset or self._head_changed():
            self._truncated(offset, out)
            if self._copy is not None:
                return out + self.poll()
            offset = 0
        data = self._file.read(self.chunk_bytes)
        if data and self._head_changed():  # truncated and refilled while reading: read it again from the start
            self._file.seek(offset)
            self._truncated(offset, out)
            return out
        if data:
            self._feed(data, out)
            self._seen_size = max(size, self._file.tell())
            self._remember_head()
            return out
        inode = self._path_inode()
        if inode is not None and inode != self._inode:  # rotated, and the old file is read to its end
            self._end_of_file(out)
            old = os.fstat(self._file.fileno())
            self._followed[self._inode] = (old.st_size, old.st_mtime_ns)
            while len(self._followed) > 64:
                del self._followed[next(iter(self._followed))]
            self.close()
            self.stats.rotations += 1
            logger.info("%s was rotated; following the new file", self.path)
            if self._open(at_end=False):
                data = self._file.read(self.chunk_bytes)
                self._feed(data, out)
                self._seen_size = max(self._seen_size, self._file.tell())
                self._remember_head()
        return out

    def follow(self, poll_interval: float = 0.1, stop: float | None = None) -> Iterator[list[FollowedLine]]:
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
