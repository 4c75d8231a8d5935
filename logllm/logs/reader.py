"""Reading log files line by line in constant memory: plain, ``.gz``, ``.bz2``, tar and zip archives.

Compression is recognised from the file's first bytes, not its name. Lines are split from
4 MiB chunks (fast, bounded memory); a line longer than ``max_line_bytes`` (1 MiB) is cut and
counted; undecodable bytes are replaced and counted; a truncated archive, a binary file or an
empty file raise ``LogFormatError`` naming the file and line. A member of an archive is named
``archive.tar.gz:member`` (as a path argument and as the records' ``source``).
"""

from __future__ import annotations

import bz2
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
from typing import IO

from logllm.logs.errors import BuildReport, LogFormatError

__all__ = ["open_log_lines", "open_text", "open_binary", "split_member", "MAX_LINE_BYTES"]

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 22
BINARY_PROBE_BYTES = 8192
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".zip")
_READ_ERRORS = (EOFError, OSError, zlib.error, tarfile.TarError, zipfile.BadZipFile)


def split_member(path: str) -> tuple[str, str | None]:
    """``"x.tar.gz:BGL.log"`` -> (``"x.tar.gz"``, ``"BGL.log"``); plain paths -> (path, None)."""
    if not os.path.exists(path):
        for suffix in _ARCHIVE_SUFFIXES:
            marker = suffix + ":"
            if marker in path:
                archive, member = path.split(marker, 1)
                return archive + suffix, member
    return path, None


def _magic(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(512)


def _kind(path: str) -> str:
    """'gzip', 'bz2', 'zip', 'tar', or 'plain' from the first bytes."""
    head = _magic(path)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "plain"


def _is_tar_compressed(path: str, kind: str) -> bool:
    if kind not in {"gzip", "bz2"}:
        return False
    lowered = path.lower()
    return lowered.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tbz2"))


def _wanted(name: str, member: str | None) -> bool:
    if member is not None:
        return name == member or fnmatch.fnmatch(name, member) or os.path.basename(name) == member
    return not name.lower().endswith((".csv", ".md", ".txt", ".json", ".xlsx", ".npz", ".pkl"))


@contextlib.contextmanager
def _open_plain_or_compressed(path: str, kind: str):
    opener = {"gzip": gzip.open, "bz2": bz2.open}.get(kind, open)
    with opener(path, "rb") as handle:
        yield handle


def open_binary(path: str, name: str | None = None) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(source, binary stream)`` for a file or each selected member of an archive.

    ``name`` is what sources and errors call the file instead of ``path`` (``<stdin>`` for a
    spooled standard input, the uploaded file's name in the Space).
    """
    archive, member = split_member(path)
    shown = name or archive
    if not os.path.exists(archive):
        raise LogFormatError("file not found", path=shown)
    if os.path.isdir(archive):
        raise LogFormatError("is a directory", path=shown, expected="a log file or archive")
    kind = _kind(archive)
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and _wanted(n, member)]
            if not names:
                raise LogFormatError(f"no member matching {member or 'a log file'} in zip archive", path=shown)
            for inner in names:
                with zf.open(inner) as handle:
                    yield f"{shown}:{inner}", handle
        return
    if kind == "tar" or _is_tar_compressed(archive, kind):
        found = False
        with tarfile.open(archive, "r|*") as tf:
            for info in tf:
                if info.isfile() and _wanted(info.name, member):
                    found = True
                    handle = tf.extractfile(info)
                    yield f"{shown}:{info.name}", handle
        if not found:
            raise LogFormatError(f"no member matching {member or 'a log file'} in tar archive", path=shown)
        return
    if member is not None:
        raise LogFormatError(f"asked for member {member!r} but the file is not an archive", path=shown)
    with _open_plain_or_compressed(archive, kind) as handle:
        yield shown, handle


def _binary_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Split a stream into lines (without ``\\n``), cutting over-long ones: (line, was_cut)."""
    carry = b""       # start of the current, unfinished line (at most max_line_bytes)
    cutting = False   # the current line is already over-long: its rest is discarded
    read = stream.read
    while True:
        chunk = read(CHUNK_BYTES)
        if not chunk:
            break
        parts = chunk.split(b"\n")
        tail = parts.pop()
        if parts:
            first = parts[0]
            if cutting:
                yield carry, True
            else:
                line = carry + first if carry else first
                yield (line[:max_line_bytes], True) if len(line) > max_line_bytes else (line, False)
            for part in parts[1:] if len(parts) > 1 else ():
                yield (part[:max_line_bytes], True) if len(part) > max_line_bytes else (part, False)
            carry, cutting = tail, False
        elif not cutting:
            carry += tail
        if not cutting and len(carry) > max_line_bytes:
            carry, cutting = carry[:max_line_bytes], True
    if carry or cutting:
        yield carry, cutting


def open_log_lines(
    path: str,
    report: BuildReport | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    name: str | None = None,
) -> Iterator[tuple[str, int, str]]:
    """Yield ``(source, 1-based line number, text)`` for every non-blank line of ``path``.

    Blank lines are skipped and counted (``blank_lines``); line numbers still count them, so
    they match the file. CR before LF is removed. ``name``: see ``open_binary``.
    """
    report = report if report is not None else BuildReport()
    any_member = False
    for source, stream in open_binary(path, name):
        any_member = True
        yield from _decoded_lines(source, stream, report, max_line_bytes)
    if not any_member:  # pragma: no cover - open_binary raises instead
        raise LogFormatError("nothing to read", path=path)


def _decoded_lines(source: str, stream: IO[bytes], report: BuildReport, max_line_bytes: int) -> Iterator[tuple[str, int, str]]:
    number = yielded = head_bytes = 0
    try:
        for raw, cut in _binary_lines(stream, max_line_bytes):
            number += 1
            if head_bytes < BINARY_PROBE_BYTES:
                head_bytes += len(raw) + 1
                if b"\x00" in raw:
                    raise LogFormatError(f"looks like a binary file (NUL bytes within its first {BINARY_PROBE_BYTES} bytes)",
                                         path=source, line_number=number, expected="a text log, one message per line")
            if cut:
                report.add("lines_cut_at_max_length", where=f"{source}:{number}")
                logger.warning("%s:%d: line longer than %d bytes was cut", source, number, max_line_bytes)
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            if not raw or raw.isspace():
                report.add("blank_lines", where=f"{source}:{number}")
                continue
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                report.add("non_utf8_lines_repaired", where=f"{source}:{number}")
            if "\x00" in text:
                text = text.replace("\x00", "")
                report.add("lines_with_nul_bytes", where=f"{source}:{number}")
            yielded += 1
            yield source, number, text
    except _READ_ERRORS as error:
        raise LogFormatError(f"could not read past line {number} ({type(error).__name__}: {error}); "
                             "the file may be truncated or corrupt", path=source, line_number=number + 1,
                             expected="a complete plain, gzip, bz2, tar or zip file") from error
    if number == 0:
        raise LogFormatError("file is empty", path=source, expected="at least one log line")
    if yielded == 0:
        raise LogFormatError(f"file is empty (all {number} lines are blank)", path=source, expected="at least one log line")
    report.add("lines_read", number)


@contextlib.contextmanager
def open_text(path: str):
    """A text handle (UTF-8, undecodable bytes replaced) for small side files such as label CSVs."""
    for _, stream in open_binary(path):
        with io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="") as text:
            yield text
        return
