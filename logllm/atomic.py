"""Writes that are complete or untouched: a file or a folder is written next to its target, then renamed.

A run that fails (bad input, a full disk, Ctrl-C) leaves the previous result as it was, loadable,
and no half-written file or folder behind. Used for dataset folders and for ``--output`` files;
the same helpers serve any other result folder.

A kill (SIGKILL, power loss) leaves no cleanup to run, so the temporary siblings ``.NAME.<pid>@<host>.*.tmp`` say
who wrote them, and `remove_stale_temporaries` removes those that belong to no live writer (see its rule).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["VERSIONS_SUFFIX", "atomic_file", "atomic_folder", "current_version", "remove_stale_temporaries",
           "temporary_sibling", "versioned_folder"]

# A temporary sibling nobody has written to for this long belongs to no live writer, whoever made it: saving even a
# large model takes minutes. Used where the writer's process cannot be asked (another host, an older logllm).
STALE_AFTER_S = 3600.0

logger = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _owner() -> str:
    """``<pid>@<host>``: whose temporary sibling this is (`remove_stale_temporaries`)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
    return f"{os.getpid()}@{host}"


def _prefix(path: Path) -> str:
    return f".{path.name}.{_owner()}."


def temporary_sibling(path: str | Path) -> Path:
    """An empty new file ``.NAME.<pid>@<host>.*.tmp`` next to ``path``, with the permissions a plain open() would
    give it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # not mkstemp's 0600
    return Path(tmp)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; it replaces ``path`` only when the block succeeds."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary sibling folder to fill; it takes the place of ``path`` only when the block succeeds.

    The old folder is moved aside, the new one renamed into place, then the old one removed: two
    renames, so at worst (a crash between them) the old copy survives as ``.NAME.old-*`` next to it.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


VERSIONS_SUFFIX = ".versions"


@contextlib.contextmanager
def versioned_folder(path: str | Path) -> Iterator[Path]:
    """A new version of the folder ``path`` to fill; when the block succeeds it is published in one atomic step.

    Layout: ``path`` is a symbolic link to ``NAME.versions/<id>`` (``<id>`` = save time + random suffix). The new
    version is filled in a temporary sibling, renamed to ``NAME.versions/<id>``, and a new link renamed over
    ``path``: a single ``rename(2)``, so a reader sees the old version or the new one, never a mix, and never no
    folder. No file of a published version is ever written again (a reader may have it mmap'd: safetensors
    weights are, and a file rewritten under a mapping gives a Bus error). A reader must resolve ``path`` once
    (`current_version`) and read everything from there. The version that was current before the swap is kept until
    the next publish, so a reader that resolved ``path`` just before the swap still finds its files; older ones are
    removed. A real folder at ``path`` (written before this layout) becomes that kept previous version.

    Where symbolic links cannot be made (some Windows setups) the folder is replaced as `atomic_folder` does.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def current_version(path: str | Path) -> Path:
    """The real folder ``path`` is now (the version a `versioned_folder` link points to; any other folder as it
    is): resolve once, then read config and weights from it, and they belong together."""
    return Path(os.path.realpath(path))


def _publish(tmp: Path, path: Path) -> None:
    link = path.parent / f"{_prefix(path)}{secrets.token_hex(4)}.tmp"
    try:
        os.symlink(tmp.name, link, target_is_directory=True)
    except (OSError, NotImplementedError):  # no symbolic links here: replace the folder by two renames
        _replace_folder(tmp, path)
        return
    link.unlink()
    versions = path.parent / f"{path.name}{VERSIONS_SUFFIX}"
    versions.mkdir(exist_ok=True)
    version = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    previous = None
    if path.is_symlink():
        previous = current_version(path)
    elif path.is_dir():  # the layout before versions: the old folder becomes the kept previous version
        previous = versions / f"{time.strftime('%Y%m%dT%H%M%S', time.localtime(path.stat().st_mtime))}-earlier"
        os.rename(path, previous)
    os.rename(tmp, version)
    os.symlink(os.path.join(versions.name, version.name), link, target_is_directory=True)
    try:
        os.replace(link, path)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    keep = {version.resolve(), previous.resolve() if previous is not None else None}
    for old in versions.iterdir():
        if old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)
            logger.debug("removed the model version %s (two saves old)", old)


def _replace_folder(tmp: Path, path: Path) -> None:
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old / path.name)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old / path.name, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def _last_written(path: Path) -> float:
    """The newest modification time in ``path`` (a file, or a folder and everything in it)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def remove_stale_temporaries(path: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary siblings ``.NAME.*.tmp`` of ``path`` that an interrupted write left; return them.

    The rule (a live writer's folder is never taken from under it):
    - ``.NAME.<pid>@<host>.*.tmp`` of this host: stale when process ``pid`` is not running (a kill leaves it, a
      later run with the same pid is this process and keeps its own);
    - of another host (a shared disk), or without an owner (written by an older logllm): stale when nothing in it
      changed for `STALE_AFTER_S` (an hour), as whether its writer is alive cannot be asked.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<pid>\d+)@(?P<host>[^/]+?)\.)?[^.]+\.tmp")
    host = _owner().partition("@")[2]
    now = time.time() if now is None else now
    removed = []
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        try:
            if match["pid"] and match["host"] == host:
                stale = not _pid_alive(int(match["pid"]))
            else:
                stale = now - _last_written(candidate) > STALE_AFTER_S
        except OSError:  # gone already (another run cleaning up)
            continue
        if not stale:
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                candidate.unlink()
        logger.info("removed %s, left by an interrupted write", candidate)
        removed.append(candidate)
    return removed
