"""The one input reader: log files line by line in constant memory (``logllm data build``, ``detect``,
``watch`` and the Space all read through it, so a file reads the same way, with the same counters).

* Compression and archives are recognised from the first bytes, not the name: plain, ``.gz``,
  ``.bz2``, tar (also compressed) and zip. A member is named ``archive.tar.gz:member`` (as a path
  argument and as the records' ``source``); without a member, README/CSV-like members are left out
  and counted (``archive_members_skipped``). A path is opened once.
* Text is UTF-8; a byte-order mark is removed (UTF-16 and UTF-32 files with one are decoded as
  such); undecodable bytes become U+FFFD and the line is counted (``non_utf8_lines_repaired``).
* NUL bytes are removed and counted (``lines_with_nul_bytes``, ``nul_bytes_removed``): logrotate's
  ``copytruncate`` leaves a run of them where the writer's old offset was, and such a log is text.
  What makes a file binary is its content without them: in its first 8 KiB, more than 5% control
  bytes and, with the bytes that are not UTF-8, more than 25% (executables, images, compressed or
  random data; logs in legacy 8-bit encodings, ANSI colours or FIX ``\\x01`` separators pass).
* A line longer than ``max_line_bytes`` (1 MiB) is one line, cut and counted
  (``lines_cut_at_max_length``); blank lines are skipped and counted (``blank_lines``); line
  numbers count every line, so they match the file.
* Unreadable, truncated, corrupt, binary or empty input raises ``LogFormatError`` naming the file
  and the line reading stopped at.
* Compressed input is bounded by what it decompresses to (a small ``.gz`` can hold a GiB of lines): every
  decompressed stream of one path (its members together, and for a compressed tar the whole tar stream, skipped
  members included) counts against ``decompression_limit`` (default ``DEFAULT_MAX_DECOMPRESSED_BYTES``; each
  command sets its own), and passing it raises ``LogFormatError`` naming the file and the limit.
  ``check_decompressed_size`` tells the same at C speed before any line is parsed (``detect`` and the Space).

``LineSplitter`` and ``LineDecoder`` are the pieces ``logllm.logs.follow`` reuses for a growing file.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import fnmatch
import gzip
import io
import logging
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from itertools import islice
from typing import IO

from logllm.logs.errors import BuildReport, LogFormatError

__all__ = ["open_log_lines", "open_members", "open_binary", "split_member", "looks_binary", "LineSplitter",
           "LineDecoder", "MAX_LINE_BYTES", "line_ranges", "read_line_range", "splittable", "decompression_limit",
           "check_decompressed_size", "DEFAULT_MAX_DECOMPRESSED_BYTES"]

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 22          # plain files: large reads are fast and memory stays bounded
STREAM_CHUNK_BYTES = 1 << 16   # compressed streams: a truncated one loses at most this much before the error
BINARY_PROBE_BYTES = 8192
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".zip")
_READ_ERRORS = (EOFError, OSError, zlib.error, tarfile.TarError, zipfile.BadZipFile)
_SIDE_FILES = (".csv", ".md", ".txt", ".json", ".xlsx", ".npz", ".pkl")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))   # UTF-32 LE before UTF-16 LE
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 << 30   # 64 GiB: the largest Loghub log (Thunderbird) is 29.6 GiB unpacked
_LIMIT: ContextVar[tuple[int | None, str]] = ContextVar(
    "logllm_decompression_limit", default=(DEFAULT_MAX_DECOMPRESSED_BYTES, "the limit"))


@contextlib.contextmanager
def decompression_limit(max_bytes: int | None, how_to_raise: str = "the limit") -> Iterator[None]:
    """Within the block, compressed input read by this thread may decompress to at most ``max_bytes`` per path
    (None: no limit); ``how_to_raise`` (an option name) goes into the error."""
    token = _LIMIT.set((max_bytes, how_to_raise))
    try:
        yield
    finally:
        _LIMIT.reset(token)


def _over_limit(shown: str, limit: int, how_to_raise: str) -> LogFormatError:
    return LogFormatError(f"decompresses to more than {_size(limit)}, the limit for compressed input (a decompression "
                          f"bomb, or a bigger log than this command takes: raise {how_to_raise})", path=shown)


def _size(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 and not n % 2**27 else f"{n / 1e6:g} MB"


class _Budget:
    """Decompressed bytes left for one path (all its streams together)."""

    def __init__(self, shown: str, limit: int | None, how_to_raise: str) -> None:
        self.shown, self.limit, self.how_to_raise, self.used = shown, limit, how_to_raise, 0

    def take(self, n: int) -> None:
        self.used += n
        if self.limit is not None and self.used > self.limit:
            raise _over_limit(self.shown, self.limit, self.how_to_raise)


class _Capped:
    """``read`` over a decompressed stream that stops with an error once its path's ``_Budget`` is spent."""

    def __init__(self, stream: IO[bytes], budget: _Budget) -> None:
        self.stream, self.budget = stream, budget

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            data = self.stream.read(size)
            self.budget.take(len(data))
            return data
        parts = []   # read to the end in chunks, so the budget stops a bomb before it is all in memory
        while chunk := self.read(STREAM_CHUNK_BYTES):
            parts.append(chunk)
        return b"".join(parts)


def split_member(path: str) -> tuple[str, str | None]:
    """``"x.tar.gz:BGL.log"`` -> (``"x.tar.gz"``, ``"BGL.log"``); plain paths -> (path, None)."""
    if not os.path.exists(path):
        for suffix in _ARCHIVE_SUFFIXES:
            marker = suffix + ":"
            if marker in path:
                archive, member = path.split(marker, 1)
                return archive + suffix, member
    return path, None


def _kind(handle: IO[bytes]) -> str:
    """'gzip', 'bz2', 'zip', 'tar', 'tar+gzip', 'tar+bz2' or 'plain' from the first bytes (the handle is rewound)."""
    head = handle.read(512)
    handle.seek(0)
    kind = {b"\x1f\x8b": "gzip", b"BZ": "bz2", b"PK": "zip"}.get(head[:2], "plain")
    if kind == "bz2" and head[2:3] != b"h" or kind == "zip" and head[2:4] not in (b"\x03\x04", b"\x05\x06"):
        kind = "plain"
    if head[257:262] == b"ustar":
        return "tar"
    if kind in ("gzip", "bz2"):
        opener = gzip.GzipFile if kind == "gzip" else bz2.BZ2File
        try:
            inner = opener(fileobj=handle, mode="rb").read(512) if kind == "gzip" else opener(handle).read(512)
        except _READ_ERRORS:
            inner = b""  # reading it again below says what is wrong, with the line
        handle.seek(0)
        if inner[257:262] == b"ustar":
            return "tar+" + kind
    return kind


def _wanted(name: str, member: str | None) -> bool:
    if member is not None:
        return name == member or fnmatch.fnmatch(name, member) or os.path.basename(name) == member
    return not name.lower().endswith(_SIDE_FILES)


def open_binary(path: str, name: str | None = None, report: BuildReport | None = None) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(source, binary stream)`` for a file or each selected member of an archive.

    ``name`` is what sources and errors call the file instead of ``path`` (``<stdin>`` for a
    spooled standard input, the uploaded file's name in the Space). Archive members left out
    (README, CSV...) are counted in ``report`` as ``archive_members_skipped``. What the streams decompress to, all
    together, is bounded by the thread's ``decompression_limit``.
    """
    report = report if report is not None else BuildReport()
    archive, member = split_member(path)
    shown = name or archive
    budget = _Budget(shown, *_LIMIT.get())
    if not os.path.exists(archive):
        raise LogFormatError("file not found", path=shown)
    if os.path.isdir(archive):
        raise LogFormatError("is a directory", path=shown, expected="a log file or archive")
    try:
        handle = open(archive, "rb")  # noqa: SIM115 - closed below; the one opening of this path
    except OSError as error:
        raise LogFormatError(f"cannot open it: {error.strerror or error}", path=shown) from None
    try:
        with handle:
            kind = _kind(handle)
            if kind == "zip":
                yield from _zip_members(handle, shown, member, report, budget)
            elif kind.startswith("tar"):
                yield from _tar_members(handle, kind, shown, member, report, budget)
            elif member is not None:
                raise LogFormatError(f"asked for member {member!r} but the file is not an archive", path=shown)
            elif kind == "plain":
                yield shown, handle
            else:
                opened = gzip.GzipFile(fileobj=handle, mode="rb") if kind == "gzip" else bz2.BZ2File(handle)
                with opened:
                    yield shown, _Capped(opened, budget)
    except _READ_ERRORS as error:  # the archive itself (its index, its next member) is unreadable
        raise LogFormatError(f"could not read it ({type(error).__name__}: {error}); the archive may be truncated "
                             "or corrupt", path=shown, expected="a complete plain, gzip, bz2, tar or zip file") from error


def check_decompressed_size(path: str, name: str | None = None) -> int | None:
    """Refuse ``path`` before any line is parsed when its content is over the thread's ``decompression_limit``.

    The decompressed bytes are counted at C speed and the count stops just past the limit (a bomb costs a second,
    not the minutes of parsing and scoring it would); for a zip, the sizes its directory declares for the members that
    would be read (reading still holds the members to the limit, whatever they declare). Returns the count, or None
    for a plain file or tar (as big as the file) and for a file that cannot be read (reading it says why, with the
    line).
    """
    limit, how_to_raise = _LIMIT.get()
    archive, member = split_member(path)
    if limit is None or not os.path.isfile(archive):
        return None
    total = 0
    try:
        with open(archive, "rb") as handle:
            kind = _kind(handle)
            if kind in ("plain", "tar"):
                return None
            if kind == "zip":
                with zipfile.ZipFile(handle) as zf:
                    total = sum(i.file_size for i in zf.infolist() if not i.is_dir() and _wanted(i.filename, member))
            else:
                stream = gzip.GzipFile(fileobj=handle, mode="rb") if kind.endswith("gzip") else bz2.BZ2File(handle)
                with stream:
                    while total <= limit and (chunk := stream.read(CHUNK_BYTES)):
                        total += len(chunk)
    except _READ_ERRORS:
        return None
    if total > limit:
        raise _over_limit(name or archive, limit, how_to_raise)
    return total


def _skipped(report: BuildReport, shown: str, names: list[str]) -> None:
    if names:
        report.add("archive_members_skipped", len(names), where=f"{shown}:{names[0]}")


def _zip_members(handle: IO[bytes], shown: str, member: str | None, report: BuildReport, budget: _Budget):
    with zipfile.ZipFile(handle) as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
        names = [n for n in files if _wanted(n, member)]
        if not names:
            raise LogFormatError(f"no member matching {member or 'a log file'} in zip archive", path=shown)
        if member is None:
            _skipped(report, shown, [n for n in files if n not in names])
        for inner in names:
            with zf.open(inner) as stream:
                yield f"{shown}:{inner}", _Capped(stream, budget)


def _tar_members(handle: IO[bytes], kind: str, shown: str, member: str | None, report: BuildReport,
                 budget: _Budget):
    found = False
    left_out: list[str] = []
    stream: IO[bytes] | _Capped = handle   # a plain tar is as big as its file
    if kind != "tar":   # the whole decompressed tar stream counts: members skipped are decompressed too
        stream = _Capped(gzip.GzipFile(fileobj=handle, mode="rb") if kind == "tar+gzip" else bz2.BZ2File(handle), budget)
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        for info in tf:
            if not info.isfile():
                continue
            if _wanted(info.name, member):
                found = True
                yield f"{shown}:{info.name}", tf.extractfile(info)
            elif member is None:
                left_out.append(info.name)
    if not found:
        raise LogFormatError(f"no member matching {member or 'a log file'} in tar archive", path=shown)
    _skipped(report, shown, left_out)


def looks_binary(probe: bytes) -> str | None:
    """Why ``probe`` (a file's first bytes, NULs removed) is not text, or None when it is.

    Text has almost no control bytes; executables, images, databases and compressed or random
    data have many, and most of their other bytes are not UTF-8 either.
    """
    if not probe:
        return None
    control = (len(probe) - len(probe.translate(None, _CONTROL))) / len(probe)
    not_utf8 = probe.decode("utf-8", errors="replace").count("\ufffd") / len(probe)
    if control > 0.05 and control + not_utf8 > 0.25:
        return (f"looks like a binary file ({control:.0%} control bytes, {not_utf8:.0%} not UTF-8 "
                f"in its first {len(probe):,} bytes)")
    return None


class LineSplitter:
    """Bytes in, lines out: ``(line without \\n and NUL bytes, was cut, NUL bytes removed)``.

    State is one unfinished line of at most ``max_line_bytes``, so chunks may end anywhere. NULs
    are removed before the length is judged, so a long NUL run (copytruncate) cuts no text.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.carry = b""       # start of the current, unfinished line
        self.carry_nuls = 0    # NUL bytes already removed from it
        self.cutting = False   # the current line is already over-long: its rest is discarded

    def _finish(self, line: bytes, nuls: int) -> tuple[bytes, bool, int]:
        if b"\0" in line:
            nuls += line.count(b"\0")
            line = line.replace(b"\0", b"")
        if len(line) > self.max_line_bytes:
            return line[: self.max_line_bytes], True, nuls
        return line, False, nuls

    def _grow(self, piece: bytes) -> None:
        carry = self.carry + piece if self.carry else piece
        if len(carry) > self.max_line_bytes and b"\0" in carry:
            self.carry_nuls += carry.count(b"\0")
            carry = carry.replace(b"\0", b"")
        if len(carry) > self.max_line_bytes:
            carry, self.cutting = carry[: self.max_line_bytes], True
        self.carry = carry

    @property
    def pending(self) -> bool:
        """Whether an unfinished line is held."""
        return bool(self.carry or self.cutting or self.carry_nuls)

    def feed(self, chunk: bytes) -> list[tuple[bytes, bool, int]]:
        """The lines ``chunk`` completes."""
        parts = chunk.split(b"\n")
        tail = parts.pop()
        if not parts:
            if not self.cutting:
                self._grow(tail)
            return []
        cap, finish = self.max_line_bytes, self._finish
        if self.cutting:
            out = [(self.carry, True, self.carry_nuls)]
        else:
            out = [finish(self.carry + parts[0] if self.carry else parts[0], self.carry_nuls)]
        out.extend([(p, False, 0) if len(p) <= cap and b"\0" not in p else finish(p, 0) for p in islice(parts, 1, None)])
        self.carry, self.carry_nuls, self.cutting = b"", 0, False
        self._grow(tail)
        return out

    def flush(self) -> tuple[bytes, bool, int] | None:
        """The unfinished last line (a file need not end with a newline), or None."""
        if not self.pending:
            return None
        line, nuls, cut = self.carry, self.carry_nuls, self.cutting
        self.carry, self.carry_nuls, self.cutting = b"", 0, False
        line, was_cut, nuls = self._finish(line, nuls)
        return line, cut or was_cut, nuls


class LineDecoder:
    """One split line -> its text, or None for a blank line; every repair counted in ``report``."""

    def __init__(self, source: str, report: BuildReport) -> None:
        self.source, self.report = source, report

    def __call__(self, number: int, raw: bytes, cut: bool = False, nuls: int = 0) -> str | None:
        report = self.report
        if cut:
            report.add("lines_cut_at_max_length", where=f"{self.source}:{number}")
            logger.warning("%s:%d: line longer than the limit was cut", self.source, number)
        if nuls:
            report.add("lines_with_nul_bytes", where=f"{self.source}:{number}")
            report.add("nul_bytes_removed", nuls)
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw or raw.isspace():
            report.add("blank_lines", where=f"{self.source}:{number}")
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            report.add("non_utf8_lines_repaired", where=f"{self.source}:{number}")
            return raw.decode("utf-8", errors="replace")


class _ByteRange:
    """``read`` over bytes ``[start, end)`` of an open plain file (one shard of a parallel build)."""

    def __init__(self, handle: IO[bytes], start: int, end: int) -> None:
        handle.seek(start)
        self.handle, self.left = handle, end - start

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


def _chunks(stream: IO[bytes], source: str, report: BuildReport, *, file_start: bool = True) -> Iterator[bytes]:
    """The stream as UTF-8 chunks: a byte-order mark removed (UTF-16/32 transcoded) at the start of a file."""
    size = CHUNK_BYTES if type(stream) in (io.BufferedReader, _ByteRange) else STREAM_CHUNK_BYTES
    read = stream.read
    first = read(size)
    encoding = next((enc for bom, enc in _BOMS if first.startswith(bom)), None) if file_start else None
    if encoding is None:
        yield first
        while chunk := read(size):
            yield chunk
        return
    first = first[len(next(bom for bom, enc in _BOMS if enc == encoding)):]
    if encoding == "utf-8":
        yield first
        while chunk := read(size):
            yield chunk
        return
    report.note(f"{source}: {encoding.upper()[:6]} text (byte-order mark); read as such")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    chunk = first
    while True:
        text = decoder.decode(chunk, final=not chunk)
        if text:
            yield text.encode("utf-8")
        if not chunk:
            return
        chunk = read(size)


def open_members(
    path: str,
    report: BuildReport | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    name: str | None = None,
) -> Iterator[tuple[str, Iterator[tuple[str, int, str]]]]:
    """Per file (a plain file is one, an archive has one per member): ``(source, its lines)``.

    Consume each member's lines before asking for the next member (tar archives are streamed).
    """
    report = report if report is not None else BuildReport()
    for source, stream in open_binary(path, name, report):
        yield source, _decoded_lines(source, stream, report, max_line_bytes)


def open_log_lines(
    path: str,
    report: BuildReport | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    name: str | None = None,
) -> Iterator[tuple[str, int, str]]:
    """Yield ``(source, 1-based line number, text)`` for every non-blank line of ``path`` (all members).

    Blank lines are skipped and counted (``blank_lines``); line numbers still count them, so
    they match the file. CR before LF is removed. ``name``: see ``open_binary``.
    """
    for _, lines in open_members(path, report, max_line_bytes=max_line_bytes, name=name):
        yield from lines


def _decoded_lines(source: str, stream: IO[bytes], report: BuildReport, max_line_bytes: int, *,
                   first_number: int = 1, whole_file: bool = True) -> Iterator[tuple[str, int, str]]:
    """The lines of a file (``whole_file``: its head is judged text, an empty file is an error), or of one shard of
    it whose first line is line ``first_number`` (``read_line_range``)."""
    decode = LineDecoder(source, report)
    splitter = LineSplitter(max_line_bytes)
    number = first_number - 1
    yielded = 0
    held: list[tuple[bytes, bool, int]] | None = [] if whole_file else None   # lines read before the head was judged
    probe = b""
    try:
        for chunk in _chunks(stream, source, report, file_start=whole_file or first_number == 1):
            if held is not None:
                probe += chunk.replace(b"\0", b"")[: BINARY_PROBE_BYTES - len(probe)]
                held.extend(splitter.feed(chunk))
                if len(probe) < BINARY_PROBE_BYTES:
                    continue
                _refuse_binary(probe, source)
                lines, held = held, None
            else:
                lines = splitter.feed(chunk)
            for raw, cut, nuls in lines:
                number += 1
                if cut or nuls or not raw or raw.isspace():
                    text = decode(number, raw, cut, nuls)   # the rare lines: counted repairs, blanks
                    if text is None:
                        continue
                else:
                    if raw[-1] == 13:   # CRLF
                        raw = raw[:-1]
                    try:
                        text = raw.decode()
                    except UnicodeDecodeError:
                        text = decode(number, raw, cut, nuls)
                yielded += 1
                yield source, number, text
        last = splitter.flush()
        if held is not None:
            _refuse_binary(probe, source)
        for raw, cut, nuls in (held or []) + ([last] if last else []):
            number += 1
            text = decode(number, raw, cut, nuls)
            if text is not None:
                yielded += 1
                yield source, number, text
    except _READ_ERRORS as error:
        where = f"past line {number}" if number else "its first line"
        raise LogFormatError(f"could not read {where} ({type(error).__name__}: {error}); the file may be truncated "
                             "or corrupt", path=source, line_number=number + 1,
                             expected="a complete plain, gzip, bz2, tar or zip file") from error
    if not whole_file:
        report.add("lines_read", number - first_number + 1)
        return
    if number == 0:
        raise LogFormatError("file is empty", path=source, expected="at least one log line")
    if yielded == 0:
        what = f"all {number} lines are blank" + (" once NUL bytes are removed" if report["nul_bytes_removed"] else "")
        raise LogFormatError(f"file is empty ({what})", path=source, expected="at least one log line")
    report.add("lines_read", number)


def _refuse_binary(probe: bytes, source: str) -> None:
    reason = looks_binary(probe)
    if reason:
        raise LogFormatError(reason, path=source, expected="a text log, one message per line")


# ---------------------------------------------------------------------------------------------
# shards of one plain file, for building on several cores (``logllm.dataset.parallel``)


def splittable(path: str) -> bool:
    """Whether ``path`` is a plain UTF-8 text file that can be read in pieces as it is read whole (not compressed,
    not an archive, no UTF-16/32 byte-order mark, no NUL bytes in its head, a head that looks like text)."""
    if not os.path.isfile(path) or not os.path.getsize(path):
        return False
    with open(path, "rb") as handle:
        if _kind(handle) != "plain":
            return False
        head = handle.read(BINARY_PROBE_BYTES)
    if b"\0" in head or any(head.startswith(bom) for bom, encoding in _BOMS if encoding != "utf-8"):
        return False   # NUL runs or UTF-16/32 at the start: the whole-file reading judges them
    return looks_binary(head) is None


def line_ranges(path: str, parts: int, min_part_bytes: int = 1 << 24) -> list[tuple[int, int, int]] | None:
    """Cut a plain text file into about ``parts`` byte ranges on line boundaries: ``(start, end, first line number)``.

    None when the file cannot be read in pieces the way ``open_log_lines`` reads it whole: a compressed file or an
    archive, a UTF-16/32 byte-order mark, a head that does not look like text, an empty file, or one too small to be
    worth it (under ``2 * min_part_bytes``); the caller reads it whole then, with the usual errors. Line numbers come
    from one pass counting newlines (fast next to parsing), so every shard numbers its lines as the whole file does.
    """
    if not splittable(path):
        return None
    size = os.path.getsize(path)
    parts = min(parts, size // max(min_part_bytes, 1))
    if parts < 2:
        return None
    with open(path, "rb") as handle:
        cuts = [0]
        for k in range(1, parts):
            handle.seek(max(size * k // parts, cuts[-1]))
            handle.readline()   # to the end of the line the nominal cut falls in
            position = handle.tell()
            if position >= size:
                break
            if position > cuts[-1]:
                cuts.append(position)
        cuts.append(size)
        handle.seek(0)
        ranges, line, done = [], 1, 0
        for start, end in zip(cuts, cuts[1:]):
            ranges.append((start, end, line))
            while done < end:   # count the newlines of this range for the next one's first line number
                block = handle.read(min(CHUNK_BYTES, end - done))
                line += block.count(b"\n")
                done += len(block)
    return ranges


def read_line_range(path: str, start: int, end: int, first_number: int, report: BuildReport | None = None, *,
                    name: str | None = None, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[str, int, str]]:
    """``open_log_lines`` for the bytes ``[start, end)`` of a plain file (a range from ``line_ranges``).

    Lines, numbers, repairs and counters are exactly those the whole-file reading gives for these lines; the checks
    that concern the whole file (text head, not empty) are the caller's.
    """
    report = report if report is not None else BuildReport()
    shown = name or path
    with open(path, "rb") as handle:
        yield from _decoded_lines(shown, _ByteRange(handle, start, end), report, max_line_bytes,
                                  first_number=first_number, whole_file=False)
