"""Property: whatever a writer does to a followed log, every line is read once and scored in exactly one window.

A writer appends lines (some blank, some over the line limit, some unterminated), rotates the file
(rename + create), copies and truncates it (logrotate ``copytruncate``), truncates it in place, or
keeps writing at its old offset after a truncation (a NUL-filled gap), in a random order with
``logllm watch``'s loop (``Watcher.step``) polling in between. An oracle that knows only what was
written and when it was polled says which lines can be read (a line written and truncated away
before any poll cannot be) and their numbers in their file; the scored windows (and those counted
as left over at exit) must hold exactly those lines, with those numbers, never two files in one window.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logllm.commands.watch import Watcher
from logllm.scoring.detector import WindowResult

MAX_LINE = 64


class RecordingScorer:
    """Stands in for the model: scores nothing, remembers every window it was given."""

    batch_size = 3

    def __init__(self) -> None:
        self.windows: list[dict] = []

    def score(self, windows, threshold=0.5, progress=None, line_scores="flagged"):
        self.windows.extend(windows)
        return [WindowResult(w["window_id"], w["source"], w["line_numbers"], w["lines"], 0.0, False, None, w["label"],
                             w["line_labels"]) for w in windows]

    def explain(self, results):
        pass


class Oracle:
    """What was written to the followed file, and which of it a follower can read."""

    def __init__(self) -> None:
        self.gen = 0
        self.lines: list[tuple[str | None, int]] = []   # this file's lines: (expected text or None if blank, written at op)
        self.partial: tuple[str, int] | None = None      # an unterminated last line: (text, written at op)
        self.polled_at = -1                              # op index of the last poll
        self.read_text = False                           # a poll read some text of this file (not only blank lines)
        self.emitted = 0                                 # this file's lines already accounted for
        self.expected: dict[str, tuple[int, int]] = {}   # text -> (file generation, line number)
        self.physical = 0                                # lines the follower counts (blank ones too)

    def _emit(self, upto: int) -> None:
        for number in range(self.emitted + 1, upto + 1):
            text, _ = self.lines[number - 1]
            self.physical += 1
            if text is not None:
                self.expected[text] = (self.gen, number)
        self.emitted = max(self.emitted, upto)

    def poll(self, op: int) -> None:
        self._emit(len(self.lines))
        self.polled_at = op
        self.read_text = self.read_text or any(t is not None for t, _ in self.lines) or self.partial is not None

    def _partial_as_line(self) -> None:
        if self.partial is not None:
            self.lines.append((self.partial[0], self.partial[1]))
            self.partial = None

    def end_file(self, readable: str) -> None:
        """The file is rotated away or truncated: ``all`` of it is still readable, ``seen`` only what a poll read."""
        if readable == "all":
            self._partial_as_line()
            self._emit(len(self.lines))
        else:
            seen_partial = self.partial is not None and self.partial[1] < self.polled_at
            self._emit(max(self.emitted, sum(1 for _, at in self.lines if at < self.polled_at)))
            if seen_partial:
                text = self.partial[0]
                self.lines.insert(self.emitted, (text, 0))
                self._emit(self.emitted + 1)
        self.gen += 1
        self.lines, self.partial, self.emitted, self.read_text = [], None, 0, False


operations = st.lists(
    st.one_of(
        st.tuples(st.just("lines"), st.lists(st.tuples(st.integers(0, 90), st.booleans()), min_size=1, max_size=6)),
        st.tuples(st.just("partial"), st.integers(0, 20)),
        st.just(("poll",)),
        st.just(("rotate",)),
        st.tuples(st.just("copytruncate"), st.booleans()),
        st.tuples(st.just("truncate"), st.booleans()),
    ),
    max_size=30,
)


def run_writer(folder, ops, size: int, score_at_exit: bool) -> None:
    """Play ``ops`` against a followed file and check the windows against the oracle."""
    log = folder / "app.log"
    log.write_bytes(b"")
    scorer = RecordingScorer()
    watcher = Watcher(log, scorer, size=size, step=size, max_line_bytes=MAX_LINE, chunk_bytes=1 << 16)
    oracle = Oracle()
    ids = iter(range(10_000))
    hole_at: int | None = None        # the writer kept its offset after a truncation
    rotated_since_poll = False

    def poll(op: int) -> None:
        nonlocal rotated_since_poll
        for _ in range(20):   # until a poll changes nothing (a rotation or a copy takes a few)
            state = lambda: (watcher.follower.file_index, watcher.follower.stats.lines, watcher.follower.stats.bytes)  # noqa: E731
            before = state()
            watcher.step()
            if state() == before:
                break
        oracle.poll(op)
        rotated_since_poll = False

    for op, (kind, *args) in enumerate(ops):
        if kind in ("rotate", "copytruncate", "truncate") and rotated_since_poll:
            poll(op)   # one rotation at a time: two renames between polls lose a file for any tail -F
        if kind == "lines":
            data = b""
            if oracle.partial is not None:
                data += b"\n"
                oracle._partial_as_line()
            for pad, blank in args[0]:
                # a file never starts with a blank line: a truncated file refilled with the very bytes
                # that were read cannot be told from an untouched one (by any tail -F)
                if blank and (oracle.lines or oracle.partial is not None):
                    data += b"\n"
                    oracle.lines.append((None, op))
                else:
                    text = f"L{next(ids):04d} " + "x" * pad
                    data += text.encode() + b"\n"
                    oracle.lines.append((text[:MAX_LINE], op))
            if hole_at is not None:
                with open(log, "r+b") as handle:   # not O_APPEND: lands at the old offset, NULs before it
                    handle.seek(hole_at)
                    handle.write(data)
                hole_at = None
            else:
                with open(log, "ab") as handle:
                    handle.write(data)
        elif kind == "partial" and oracle.partial is None and hole_at is None:
            text = f"P{next(ids):04d}" + "y" * args[0]
            with open(log, "ab") as handle:
                handle.write(text.encode())
            oracle.partial = (text, op)
        elif kind == "poll":
            poll(op)
        elif kind == "rotate":
            os.replace(log, folder / "app.log.1")
            log.write_bytes(b"")
            oracle.end_file("all")
            rotated_since_poll, hole_at = True, None
        elif kind in ("copytruncate", "truncate"):
            old_size = log.stat().st_size
            if kind == "copytruncate":
                shutil.copyfile(log, folder / "app.log.1")
            with open(log, "r+b") as handle:
                handle.truncate(0)
            # a copy is recognised by the text read of the file; without one only what was read survives
            oracle.end_file("all" if kind == "copytruncate" and oracle.read_text else "seen")
            rotated_since_poll = True
            hole_at = old_size if args[0] and old_size else None
    poll(len(ops))
    stats = watcher.finish(score=score_at_exit)

    got = [(text, number, window["window_id"]) for window in scorer.windows + [p.window for p in watcher.pending]
           for text, number in zip(window["lines"], window["line_numbers"])]
    counts = Counter(text for text, _, _ in got)
    assert set(counts) == set(oracle.expected), "lines missing or invented"
    assert all(n == 1 for n in counts.values()), "a line was read twice"
    for text, number, _ in got:
        assert number == oracle.expected[text][1], f"{text!r} numbered {number}, its line is {oracle.expected[text][1]}"
    for window in scorer.windows + [p.window for p in watcher.pending]:
        assert len({oracle.expected[t][0] for t in window["lines"]}) == 1, "a window mixes two files"
        assert len(window["lines"]) <= size
    assert stats.lines == oracle.physical
    scored = sum(len(w["lines"]) for w in scorer.windows)
    assert scored + stats.lines_not_scored == len(oracle.expected)
    if score_at_exit:
        assert stats.lines_not_scored == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, size=st.integers(1, 5), score_at_exit=st.booleans())
def test_every_written_line_is_read_once_and_in_exactly_one_window(tmp_path_factory, ops, size, score_at_exit):
    run_writer(tmp_path_factory.mktemp("follow"), ops, size, score_at_exit)


def _lines(n: int, pad: int = 5) -> tuple:
    return ("lines", [(pad, False)] * n)


def test_refill_after_truncation_between_polls(tmp_path):
    """Issue 17 (2): truncated and refilled with more than was read, between two polls."""
    run_writer(tmp_path, [_lines(3), ("poll",), ("truncate", False), _lines(6), ("poll",)], size=2, score_at_exit=True)


def test_copytruncate_keeps_the_lines_written_before_it(tmp_path):
    run_writer(tmp_path, [_lines(3), ("poll",), _lines(2), ("partial", 3), ("copytruncate", False), _lines(1), ("poll",)],
               size=2, score_at_exit=True)


def test_writer_keeping_its_offset_after_copytruncate(tmp_path):
    """Issue 17 (11): the NUL-filled gap a writer without O_APPEND leaves is removed and counted, the lines kept."""
    run_writer(tmp_path, [_lines(4), ("poll",), ("copytruncate", True), _lines(2), ("poll",)], size=3, score_at_exit=True)


def test_rotation_with_an_unterminated_last_line_and_left_over_at_exit(tmp_path):
    run_writer(tmp_path, [_lines(3), ("partial", 2), ("poll",), ("rotate",), _lines(4), ("poll",), _lines(1)],
               size=2, score_at_exit=False)
