"""Group parsed records into labeled windows (rows of ``WINDOW_FEATURES``).

Three groupings, as in the paper and its baselines:

* ``session_windows`` — one window per HDFS block id; a line naming two blocks belongs to both.
  Lines are kept as compact per-line arrays (line number, interned preprocessed text, label,
  timestamp) with one ``array('I')`` of line indices per block, never as record objects.
* ``sliding_windows`` — fixed line count ``size`` moved by ``step`` (default 100/100), streaming
  in constant memory. ``SlidingWindower`` is the one implementation: it takes records one at a
  time, so ``logllm watch`` feeds it lines from a followed file and ``sliding_windows`` wraps it
  for files (same windows, same counters).
* ``time_windows`` — fixed time ``length`` moved by ``step`` seconds, streaming; records up to
  ``lateness`` seconds out of order are still placed.

A window's label is 1 when any line is anomalous (or the HDFS block label when given), 0 when
all lines are normal, -1 when any line is unknown and none is anomalous.
"""

from __future__ import annotations

import logging
import math
import os
import re
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypedDict

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.records import LogRecord

__all__ = ["Window", "SlidingWindower", "session_windows", "group_sessions", "emit_sessions", "sliding_windows",
           "sliding_windows_of", "time_windows", "window_from_records", "window_label"]

logger = logging.getLogger(__name__)

Preprocess = Callable[[str], str]


class Window(TypedDict):
    """One window: a row of the window dataset (contract 2, ``logllm/dataset/features.py``).

    Training reads ``lines`` (preprocessed); detection builds its windows with preprocessing
    ``raw``, so there ``lines`` are the lines as written and the model's processor masks them.
    """

    window_id: str
    source: str
    lines: list[str]
    raw_lines: list[str]
    line_numbers: list[int]
    line_labels: list[int]
    label: int
    categories: list[str]
    start_time: float | None
    end_time: float | None


def _identity(text: str) -> str:
    return text


def _line_label(label: int | None) -> int:
    return -1 if label is None else int(label)


def window_label(line_labels: Iterable[int]) -> int:
    """1 if any line is anomalous, else -1 if any is unknown, else 0."""
    labels = set(line_labels)
    if 1 in labels:
        return 1
    return -1 if -1 in labels else 0


_ARCHIVE_MEMBER = re.compile(r"\.(?:tar|tar\.gz|tgz|tar\.bz2|zip):(?=[^/\\])")


def _short_source(source: str) -> str:
    """``/data/BGL_2k.log`` -> ``BGL_2k.log``; ``BGL.tar.gz:BGL.log`` -> ``BGL.log``."""
    match = _ARCHIVE_MEMBER.search(source)
    return os.path.basename(source[match.end():] if match else source)


def window_from_records(window_id: str, records: list[LogRecord], texts: list[str]) -> Window:
    """Build one window row from records and their preprocessed texts."""
    line_labels = [_line_label(r.label) for r in records]
    times = [r.timestamp for r in records if r.timestamp is not None]
    return {
        "window_id": window_id,
        "source": records[0].source if records else "",
        "lines": list(texts),
        "raw_lines": [r.content for r in records],
        "line_numbers": [r.line_number for r in records],
        "line_labels": line_labels,
        "label": window_label(line_labels),
        "categories": sorted({r.category for r in records if r.category}),
        "start_time": min(times) if times else None,
        "end_time": max(times) if times else None,
    }


# ---------------------------------------------------------------------------------------------
# sliding windows


class SlidingWindower:
    """Windows of ``size`` consecutive lines every ``step`` lines, from records fed one at a time.

    Memory is bounded by ``size``. ``add`` returns a window when one completes; ``flush`` returns
    the lines no window holds yet as a shorter, partial window (end of a file, or a watched file
    gone quiet), so no line is left out silently. Lines skipped because ``step > size`` are
    counted as ``lines_between_windows``; windows as ``windows`` (and ``partial_windows``).
    """

    def __init__(self, size: int = 100, step: int = 100, preprocess: Preprocess | None = None,
                 report: BuildReport | None = None) -> None:
        if size < 1 or step < 1:
            raise ValueError(f"window size and step must be >= 1, got size={size}, step={step}")
        self.size, self.step = size, step
        self.preprocess = preprocess or _identity
        self.report = report if report is not None else BuildReport()
        self.buffer: deque[tuple[LogRecord, str]] = deque()
        self.skip = 0        # lines still to skip before the next window starts (step > size)
        self.uncovered = 0   # buffered lines no emitted window contains yet

    def _emit(self) -> Window:
        recs = [r for r, _ in self.buffer]
        first, last = recs[0].line_number, recs[-1].line_number
        self.report.add("windows")
        self.uncovered = 0
        return window_from_records(f"{_short_source(recs[0].source)}:{first}-{last}", recs, [t for _, t in self.buffer])

    def add(self, record: LogRecord, text: str | None = None) -> Window | None:
        """Take the next record (``text``: its preprocessed content, when already computed); the window it
        completes, if any."""
        if self.skip:
            self.skip -= 1
            self.report.add("lines_between_windows", where=f"{record.source}:{record.line_number}")
            return None
        self.buffer.append((record, self.preprocess(record.content) if text is None else text))
        self.uncovered += 1
        if len(self.buffer) < self.size:
            return None
        window = self._emit()
        if self.step >= self.size:
            self.buffer.clear()
            self.skip = self.step - self.size
        else:
            for _ in range(self.step):
                self.buffer.popleft()
        return window

    def flush(self, *, end: bool = True) -> Window | None:
        """The lines no window holds yet, as a partial window (None if there are none).

        ``end=True`` (end of a file): the next record starts afresh. ``end=False`` (a quiet
        watched file): overlapping windows (``step < size``) keep their earlier lines.
        """
        window = None
        if self.buffer and self.uncovered:
            self.report.add("partial_windows")
            window = self._emit()
        if end or self.step >= self.size:
            self.buffer.clear()
        if end:
            self.skip = 0
        return window

    def discard(self) -> int:
        """Forget the buffered lines no window holds (counted as ``lines_in_dropped_partial_window``)."""
        dropped = self.uncovered if self.buffer else 0
        if dropped:
            self.report.add("lines_in_dropped_partial_window", dropped)
        self.buffer.clear()
        self.uncovered = self.skip = 0
        return dropped


def sliding_windows(
    records: Iterable[LogRecord],
    size: int = 100,
    step: int = 100,
    preprocess: Preprocess | None = None,
    *,
    report: BuildReport | None = None,
    keep_partial: bool = True,
) -> Iterator[Window]:
    """``SlidingWindower`` over a stream of records, per source file.

    The last, shorter window of a file is kept when it holds lines no earlier window covered
    (``keep_partial``); otherwise those lines are counted as ``lines_in_dropped_partial_window``.
    """
    return sliding_windows_of(((record, None) for record in records), size, step, preprocess, report=report,
                              keep_partial=keep_partial)


def sliding_windows_of(
    pairs: Iterable[tuple[LogRecord, str | None]],
    size: int = 100,
    step: int = 100,
    preprocess: Preprocess | None = None,
    *,
    report: BuildReport | None = None,
    keep_partial: bool = True,
) -> Iterator[Window]:
    """``sliding_windows`` over ``(record, preprocessed text)`` pairs (text None: ``preprocess`` makes it), for
    records whose text was preprocessed elsewhere (a worker of a parallel build)."""
    windower = SlidingWindower(size, step, preprocess, report)
    source: str | None = None

    def end_of_file() -> Iterator[Window]:
        if keep_partial:
            window = windower.flush()
            if window is not None:
                yield window
        else:
            windower.discard()

    add = windower.add
    for record, text in pairs:
        if record.source != source:
            yield from end_of_file()
            source = record.source
        window = add(record, text)
        if window is not None:
            yield window
    yield from end_of_file()


# ---------------------------------------------------------------------------------------------
# time windows


def time_windows(
    records: Iterable[LogRecord],
    length: float,
    step: float | None = None,
    preprocess: Preprocess | None = None,
    *,
    lateness: float | None = None,
    report: BuildReport | None = None,
) -> Iterator[Window]:
    """Windows covering ``[start, start + length)`` seconds, starting every ``step`` seconds.

    Window starts are aligned to multiples of ``step`` from the first timestamp. Streams:
    records may arrive out of time order by up to ``lateness`` seconds (default ``length``). A
    record further back in time (concatenated or rotated files) closes every open window and
    starts a new time segment, counted as ``time_order_resets``, so no line is dropped. Records
    without a timestamp are counted as ``lines_without_timestamp``. Lines keep log order.
    """
    step = length if step is None else step
    if length <= 0 or step <= 0:
        raise ValueError(f"time window length and step must be > 0, got length={length}, step={step}")
    lateness = length if lateness is None else lateness
    preprocess = preprocess or _identity
    report = report if report is not None else BuildReport()
    origin = newest = 0.0
    started = False
    open_windows: dict[int, list[tuple[LogRecord, str]]] = {}
    closed_below = -math.inf   # window indices below this were emitted

    def emit(k: int) -> Window:
        items = open_windows.pop(k)
        recs = [r for r, _ in items]
        report.add("windows")
        window_id = f"{_short_source(recs[0].source)}:{recs[0].line_number}-{recs[-1].line_number}@t{origin + k * step:.3f}"
        return window_from_records(window_id, recs, [t for _, t in items])

    for record in records:
        t = record.timestamp
        if t is None:
            report.add("lines_without_timestamp", where=f"{record.source}:{record.line_number}")
            continue
        # further back than the lateness allows, or only into windows already emitted (a time just before the
        # first one, within the lateness): a new time segment, never a dropped line
        behind = started and (t < newest - lateness or math.floor((t - origin) / step) < closed_below)
        if not started or behind:
            if started:
                report.add("time_order_resets", where=f"{record.source}:{record.line_number}")
                for k in sorted(open_windows):
                    yield emit(k)
            origin, newest, closed_below, started = t, t, -math.inf, True
        offset = t - origin
        last_k = math.floor(offset / step)
        first_k = min(last_k, math.floor((offset - length) / step) + 1)   # min(): float rounding near 0
        text = preprocess(record.content)
        for k in range(max(first_k, closed_below), last_k + 1):
            open_windows.setdefault(k, []).append((record, text))
        if t > newest:
            newest = t
            # windows ending before (newest - lateness) can receive no more records
            closable = math.floor((newest - lateness - origin - length) / step) + 1
            for k in sorted(k for k in open_windows if k < closable):
                yield emit(k)
            closed_below = max(closed_below, closable)
    for k in sorted(open_windows):
        yield emit(k)


# ---------------------------------------------------------------------------------------------
# session windows


class _SessionStore:
    """Compact per-line columns plus one array of line indices per session id."""

    def __init__(self, keep_raw: bool) -> None:
        self.line_numbers = array("I")    # widened to "q" if a file ever passes 2**32 lines
        self.text_ids = array("I")
        self.labels = array("b")
        self.times = array("d")
        self.source_ids = array("I")
        self.category_ids = array("H")
        self.raw: list[str] | None = [] if keep_raw else None
        self.texts: list[str] = []
        self._text_index: dict[str, int] = {}
        self.sources: list[str] = []
        self._source_index: dict[str, int] = {}
        self.categories: list[str | None] = [None]
        self._category_index: dict[str | None, int] = {None: 0}
        self.sessions: dict[str, array] = {}
        self._last_source: str | None = None
        self._last_source_id = 0

    @staticmethod
    def _intern(value, table: list, index: dict) -> int:
        found = index.get(value)
        if found is None:
            found = index[value] = len(table)
            table.append(value)
        return found

    def add(self, record: LogRecord, text: str) -> int:
        i = len(self.line_numbers)
        try:
            self.line_numbers.append(record.line_number)
        except OverflowError:
            self.line_numbers = array("q", self.line_numbers)
            self.line_numbers.append(record.line_number)
        text_id = self._text_index.get(text)
        if text_id is None:
            text_id = self._intern(text, self.texts, self._text_index)
        self.text_ids.append(text_id)
        label = record.label
        self.labels.append(-1 if label is None else label)
        stamp = record.timestamp
        self.times.append(math.nan if stamp is None else stamp)
        source = record.source
        if source != self._last_source:
            self._last_source_id = self._intern(source, self.sources, self._source_index)
            self._last_source = source
        self.source_ids.append(self._last_source_id)
        category = record.category
        self.category_ids.append(0 if category is None else self._intern(category, self.categories, self._category_index))
        if self.raw is not None:
            self.raw.append(record.content)
        sessions = self.sessions
        for sid in record.session_ids:
            ids = sessions.get(sid)
            if ids is None:
                ids = sessions[sid] = array("I")
            ids.append(i)
        return i

    def extend(self, other: _SessionStore) -> None:
        """Append the lines and sessions of a store built over the next part of the same input (a shard of a
        parallel build): the result is the store one pass over both parts would have built."""
        base = len(self.line_numbers)
        if self.line_numbers.typecode != other.line_numbers.typecode:
            self.line_numbers = array("q", self.line_numbers)
        self.line_numbers.extend(other.line_numbers if other.line_numbers.typecode == self.line_numbers.typecode
                                 else array(self.line_numbers.typecode, other.line_numbers))
        texts = [self._intern(t, self.texts, self._text_index) for t in other.texts]
        self.text_ids.extend(array("I", map(texts.__getitem__, other.text_ids)))
        self.labels.extend(other.labels)
        self.times.extend(other.times)
        sources = [self._intern(t, self.sources, self._source_index) for t in other.sources]
        self.source_ids.extend(array("I", map(sources.__getitem__, other.source_ids)))
        categories = [self._intern(t, self.categories, self._category_index) for t in other.categories]
        self.category_ids.extend(array("H", map(categories.__getitem__, other.category_ids)))
        if self.raw is not None:
            self.raw.extend(other.raw or [])
        for sid, ids in other.sessions.items():
            moved = array("I", [i + base for i in ids]) if base else ids
            mine = self.sessions.get(sid)
            if mine is None:
                self.sessions[sid] = moved
            else:
                mine.extend(moved)


def session_windows(
    records: Iterable[LogRecord],
    preprocess: Preprocess | None = None,
    *,
    block_labels: Mapping[str, int] | None = None,
    missing_labels: str = "error",
    report: BuildReport | None = None,
    keep_raw: bool = True,
    with_groups: bool = False,
) -> Iterator[Window]:
    """One window per session id (HDFS block), in order of each block's first line.

    ``block_labels`` maps block id -> 0/1 (HDFS ``anomaly_label.csv``); every line of a block
    gets its block's label. Without it, labels come from the records. A block missing from
    ``block_labels`` raises ``LogFormatError`` (``missing_labels="error"``), gets label -1
    (``"unknown"``) or is left out (``"skip"``); both are counted in the report. Lines naming
    no block are counted as ``lines_without_session_id``. ``keep_raw=False`` leaves
    ``raw_lines`` empty to save memory on very large logs. ``with_groups=True`` adds a private
    ``_group`` key: the same for blocks linked by a line naming both (they must share a split).
    """
    if missing_labels not in {"error", "unknown", "skip"}:
        raise ValueError(f"missing_labels must be 'error', 'unknown' or 'skip', got {missing_labels!r}")
    report = report if report is not None else BuildReport()
    store, links = group_sessions(records, preprocess, report=report, keep_raw=keep_raw)
    yield from emit_sessions(store, links, block_labels=block_labels, missing_labels=missing_labels, report=report,
                             with_groups=with_groups)


def group_sessions(records: Iterable[LogRecord], preprocess: Preprocess | None = None, *,
                   report: BuildReport | None = None, keep_raw: bool = True) -> tuple[_SessionStore, list[tuple[str, ...]]]:
    """The grouping half of ``session_windows``: every line into the compact store, and the lines naming several
    blocks. Stores of consecutive parts of an input are joined with ``_SessionStore.extend``."""
    preprocess = preprocess or _identity
    report = report if report is not None else BuildReport()
    store = _SessionStore(keep_raw)
    add = store.add
    links: list[tuple[str, ...]] = []
    for record in records:
        ids = record.session_ids
        if len(ids) != 1:
            if not ids:
                report.add("lines_without_session_id", where=f"{record.source}:{record.line_number}")
                continue
            report.add("lines_in_several_sessions", where=f"{record.source}:{record.line_number}")
            links.append(ids)
        add(record, preprocess(record.content))
    return store, links


def emit_sessions(store: _SessionStore, links: list[tuple[str, ...]], *, block_labels: Mapping[str, int] | None = None,
                  missing_labels: str = "error", report: BuildReport | None = None,
                  with_groups: bool = False) -> Iterator[Window]:
    """The emitting half of ``session_windows``: one window per session of a complete store."""
    report = report if report is not None else BuildReport()
    logger.info("grouped %s lines into %s sessions", f"{len(store.line_numbers):,}", f"{len(store.sessions):,}")
    report.add("sessions_grouped", len(store.sessions))  # known before the first window: progress bars use it
    group_of = _linked_groups(links) if with_groups else {}
    for sid, ids in store.sessions.items():
        window = _session_window(sid, ids, store, block_labels, missing_labels, report)
        if window is not None:
            report.add("windows")
            if with_groups:
                window["_group"] = group_of.get(sid, sid)
            yield window


def _linked_groups(links: list[tuple[str, ...]]) -> dict[str, str]:
    """Union-find over session ids named together in a line -> {id: smallest id of its group}."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ids in links:
        roots = sorted({find(i) for i in ids})
        for other in roots[1:]:
            parent[other] = roots[0]
    return {x: find(x) for x in list(parent)}


def _session_window(sid: str, ids: array, store: _SessionStore, block_labels: Mapping[str, int] | None,
                    missing_labels: str, report: BuildReport) -> Window | None:
    if block_labels is not None:
        block_label = block_labels.get(sid)
        if block_label is None:
            first = ids[0]
            where = f"{store.sources[store.source_ids[first]]}:{store.line_numbers[first]}"
            if missing_labels == "error":
                raise LogFormatError(f"block {sid} has no label in the label file", path=where.rsplit(":", 1)[0],
                                     line_number=store.line_numbers[first],
                                     expected="every block id of the log to appear in anomaly_label.csv "
                                              "(use --missing-labels unknown|skip to continue)")
            report.add("sessions_without_label", where=where)
            if missing_labels == "skip":
                report.add("lines_in_skipped_sessions", len(ids))
                return None
            block_label = -1
        line_labels = [int(block_label)] * len(ids)
    else:
        line_labels = [store.labels[i] for i in ids]
    times = [store.times[i] for i in ids if not math.isnan(store.times[i])]
    texts = store.texts
    return {
        "window_id": sid,
        "source": store.sources[store.source_ids[ids[0]]],
        "lines": [texts[store.text_ids[i]] for i in ids],
        "raw_lines": [store.raw[i] for i in ids] if store.raw is not None else [],
        "line_numbers": [store.line_numbers[i] for i in ids],
        "line_labels": line_labels,
        "label": window_label(line_labels),
        "categories": sorted({c for c in (store.categories[store.category_ids[i]] for i in ids) if c}),
        "start_time": min(times) if times else None,
        "end_time": max(times) if times else None,
    }

