"""Building windows on several cores: exactly the windows, in the same order and with the same build report, as one
process builds (``logllm data build --num-proc N``, ``logllm detect --num-proc N``).

Big plain log files are cut into byte ranges on line boundaries (``logllm.logs.reader.line_ranges``: one pass
counting newlines, so every range knows its first line number); compressed files, archives and small files are
one piece each. Worker processes read, parse and preprocess the pieces, the main process joins them in input order:

* **session windows** (HDFS): a worker groups its lines by block id into the compact session store
  (``logllm.windows.windowing.group_sessions``); stores are joined in file order (a block whose lines fall in
  several pieces gets them in order), then windows are cut from the joined store as in one process. Sharding by
  block id instead would have every worker read every line; by byte range each line is parsed once.
* **sliding windows**: a worker returns its records as compact columns with their preprocessed text; the main
  process windows them in order. The window grid counts parsed records from the start of the file, which a worker
  cannot know before the earlier pieces are parsed, so the cutting (cheap) stays in one place and the parsing and
  masking (most of the time) is shared out. Windows never cross files, so the pieces of a file are windowed
  together and a new file starts a new grid, as in one process.

Time windows, ``--max-lines``, synthetic logs and HDFS ``Event_traces.csv`` build in one process. At most
``num_proc + 2`` pieces are in flight, so memory stays bounded for sliding windows; sessions hold the compact store
as the single-process build does.
"""

from __future__ import annotations

import logging
import math
import os
from array import array
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from logllm.dataset.labels import session_labels
from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.records import LogRecord
from logllm.windows.windowing import Window

__all__ = ["PIECE_BYTES", "Piece", "auto_num_proc", "parallel_windows", "plan_pieces"]

logger = logging.getLogger(__name__)

PIECE_BYTES = 64 * 2**20        # a big file is cut into pieces of about this size (at least num_proc pieces)
MIN_PARALLEL_BYTES = 32 * 2**20  # inputs smaller than this in all are built in one process by `auto_num_proc`
_LINE_FORMATS = ("hdfs", "bgl", "thunderbird", "liberty", "spirit", "plain")


@dataclass(frozen=True)
class Piece:
    """One unit of work: a byte range of a plain file (``end`` None: the whole file, read as one process reads it)."""

    path: str
    start: int = 0
    end: int | None = None
    first_line: int = 1


def auto_num_proc(inputs: list[str]) -> int:
    """``--num-proc 0``: one process per core when the inputs hold at least ``MIN_PARALLEL_BYTES``, else one."""
    size = sum(os.path.getsize(p) for p in inputs if os.path.isfile(p))
    return max(1, os.cpu_count() or 1) if size >= MIN_PARALLEL_BYTES else 1


def plan_pieces(settings, num_proc: int) -> list[Piece] | None:
    """The pieces of a parallel build of ``settings``, or None when it builds in one process (see the module doc)."""
    from logllm.logs.reader import line_ranges

    if (num_proc < 2 or settings.dataset not in _LINE_FORMATS or settings.windowing not in ("session", "sliding")
            or settings.max_lines is not None or not settings.inputs):
        return None
    pieces: list[Piece] = []
    for path in settings.inputs:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        ranges = line_ranges(path, max(num_proc, math.ceil(size / PIECE_BYTES)), min_part_bytes=PIECE_BYTES // 4)
        if ranges is None:
            pieces.append(Piece(path))
        else:
            pieces.extend(Piece(path, start, end, first) for start, end, first in ranges)
    return pieces if len(pieces) > 1 else None


# ---------------------------------------------------------------------------------------------------------------
# in a worker process


@dataclass
class _Columns:
    """A piece's records, compactly: what sliding windows read of a record, plus its preprocessed text."""

    source: str
    contents: list[str]
    texts: list[str]
    numbers: array
    labels: array
    categories: list[str | None]
    times: array

    def records(self) -> Iterator[tuple[LogRecord, str]]:
        source, nan = self.source, math.isnan
        for content, text, number, label, category, stamp in zip(self.contents, self.texts, self.numbers, self.labels,
                                                                 self.categories, self.times):
            yield LogRecord(source, number, content, None if nan(stamp) else stamp, None, None,
                            None if label < 0 else label, category), text


def _work(piece: Piece, settings: dict[str, Any]) -> tuple[Any, BuildReport, int]:
    """Read, parse and preprocess one piece; (session store and links | columns, its report, non-blank lines)."""
    from logllm.logs.formats import parse_file, parse_lines
    from logllm.logs.reader import read_line_range
    from logllm.windows.preprocessing import make_preprocessor
    from logllm.windows.windowing import group_sessions

    report = BuildReport()
    yielded = [0]
    if piece.end is None:
        records = parse_file(piece.path, settings["dataset"], report, pattern=settings["pattern"],
                             bad_labels=settings["missing_labels"])
    else:
        def counted(lines):
            for line in lines:
                yielded[0] += 1
                yield line

        lines = counted(read_line_range(piece.path, piece.start, piece.end, piece.first_line, report))
        records = parse_lines(lines, settings["dataset"], report, settings["pattern"], settings["missing_labels"],
                              probe=piece.first_line == 1)
    preprocess = make_preprocessor(settings["preprocessing"])
    if settings["windowing"] == "session":
        return group_sessions(records, preprocess, report=report, keep_raw=settings["keep_raw"]), report, yielded[0]
    columns = _Columns(piece.path, [], [], array("q"), array("b"), [], array("d"))
    shared: dict[str, str] = {}
    for record in records:
        columns.source = record.source
        columns.contents.append(record.content)
        text = preprocess(record.content)
        columns.texts.append(shared.setdefault(text, text))
        columns.numbers.append(record.line_number)
        columns.labels.append(-1 if record.label is None else record.label)
        columns.categories.append(record.category)
        columns.times.append(math.nan if record.timestamp is None else record.timestamp)
    return columns, report, yielded[0]


# ---------------------------------------------------------------------------------------------------------------
# in the main process


def _results(pieces: list[Piece], settings: dict[str, Any], num_proc: int) -> Iterator[tuple[Piece, Any, BuildReport, int]]:
    """The pieces' results in order, at most ``num_proc + 2`` in flight."""
    import multiprocessing

    # fork where there is one (as `datasets` does): no re-import of the caller's __main__, fast start; the workers
    # only parse text, so the parent's threads (torch, tokenizers) are never touched in them
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=num_proc, mp_context=multiprocessing.get_context(method)) as pool:
        queue: list[tuple[Piece, Future]] = []
        todo = iter(pieces)
        try:
            while True:
                while len(queue) < num_proc + 2 and (piece := next(todo, None)) is not None:
                    queue.append((piece, pool.submit(_work, piece, settings)))
                if not queue:
                    return
                piece, future = queue.pop(0)
                result, report, yielded = future.result()
                yield piece, result, report, yielded
        finally:
            for _, future in queue:
                future.cancel()


def _check_not_empty(path: str, lines: int, yielded: int) -> None:
    """What the whole-file reader says of a file without a non-blank line (its pieces cannot tell on their own)."""
    if yielded == 0:
        raise LogFormatError(f"file is empty (all {lines} lines are blank)", path=path, expected="at least one log line")


def parallel_windows(settings, report: BuildReport, num_proc: int, *, with_groups: bool = False) -> Iterator[Window] | None:
    """``build_windows(settings, report)`` on ``num_proc`` processes, or None when it builds in one (see the module
    doc). The windows, their order and the report's counters are those of the single-process build."""
    pieces = plan_pieces(settings, num_proc)
    if pieces is None:
        return None
    logger.info("building from %d pieces on %d processes", len(pieces), num_proc)
    work = {"dataset": settings.dataset, "pattern": settings.pattern, "missing_labels": settings.missing_labels,
            "preprocessing": settings.preprocessing, "windowing": settings.windowing, "keep_raw": settings.keep_raw}
    if settings.windowing == "session":
        return _session_windows(pieces, work, settings, report, num_proc, with_groups)
    return _sliding_windows(pieces, work, settings, report, num_proc)


def _per_file(results, report: BuildReport) -> Iterator[tuple[Piece, Any]]:
    """Merge each piece's report in order; check every split file had a non-blank line once its last piece is in."""
    counts: dict[str, list[int]] = {}
    for piece, result, piece_report, yielded in results:
        if piece.end is not None:
            lines_before = report["lines_read"]
        report.merge(piece_report)
        if piece.end is not None:
            seen = counts.setdefault(piece.path, [0, 0])
            seen[0] += report["lines_read"] - lines_before
            seen[1] += yielded
            if piece.end == os.path.getsize(piece.path):
                _check_not_empty(piece.path, *seen)
        yield piece, result


def _session_windows(pieces, work, settings, report: BuildReport, num_proc: int, with_groups: bool) -> Iterator[Window]:
    from logllm.windows.windowing import emit_sessions

    labels, missing = session_labels(settings, report)
    store, links = None, []
    for _, (piece_store, piece_links) in _per_file(_results(pieces, work, num_proc), report):
        if store is None:
            store = piece_store
        else:
            store.extend(piece_store)
        links.extend(piece_links)
    report.add("log_lines", len(store.line_numbers) + report["lines_without_session_id"])
    yield from emit_sessions(store, links, block_labels=labels, missing_labels=missing, report=report,
                             with_groups=with_groups)


def _sliding_windows(pieces, work, settings, report: BuildReport, num_proc: int) -> Iterator[Window]:
    from logllm.windows.windowing import sliding_windows_of

    def records() -> Iterator[tuple[LogRecord, str]]:
        for _, columns in _per_file(_results(pieces, work, num_proc), report):
            report.add("log_lines", len(columns.contents))
            yield from columns.records()

    yield from sliding_windows_of(records(), settings.window_size, settings.step, report=report)
