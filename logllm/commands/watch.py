"""``logllm watch``: follow a growing log like ``tail -F`` and alert on anomalous windows.

Examples::

    logllm watch /var/log/app.log                      # sliding 50/50 windows of new lines
    logllm watch BGL.log --format bgl --window sliding:100:100 --from-start --threshold 0.8
    logllm watch app.log --flush-after 5 --alerts alerts.jsonl --duration 3600

Each window is scored as soon as it completes (or, with ``--flush-after``, when no new line
arrived for that many seconds). An alert prints the window, its probability, the latency from
the window's last line being read to its score, and the most suspicious lines. Memory holds one
window plus one read chunk, however long it runs; a backlog waits on disk.

Line evidence (which lines made a window anomalous) costs one extra forward pass per distinct line
of a window, several times what scoring it costs, so it never holds the stream back: an alert is
printed when its window is scored, and each scored batch explains at most its
``--evidence-per-batch`` most anomalous alerts (default 1), and only while the watcher keeps up
(fewer than a batch of windows waiting). Other alerts name their window and score without line
evidence and are counted as ``alerts_without_evidence``.

Nothing is lost or silent: a rotation or truncation closes the old file's half-filled window
(it is scored, never mixed with the new file's lines); at exit (``--duration`` over, Ctrl-C,
SIGTERM) the half-filled window is closed and one last batch is scored, and whatever could not
be scored any more is counted in the summary as ``windows_not_scored``/``lines_not_scored``.

Logs unlike the model's training logs are said once on stderr (when more than half of the windows scored so far are
unfamiliar, judged from the fifth window on, or at exit), those windows are shown as ``unfamiliar``, never alerted, and
the summary's ``familiarity`` counts them (docs/detect.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logllm.commands import add_decision_arguments, check_threshold
from logllm.report.safe_text import escape_log_records, terminal_line, terminal_text
from typing import Any, TextIO

from logllm.windows.windowing import Window

logger = logging.getLogger(__name__)

LATENCY_SAMPLES = 10_000  # latencies kept for percentiles (bounded)
FAMILIARITY_MIN_WINDOWS = 5  # windows scored before the input is judged unfamiliar (at exit: however many there were)


@dataclass
class PendingWindow:
    """A completed window waiting to be scored, with when its last line was read."""

    window: Window
    completed_at: float
    partial: bool = False


@dataclass
class WatchStats:
    lines: int = 0                 # every line read (blank ones too)
    windows: int = 0               # windows scored
    alerts: int = 0
    alerts_without_evidence: int = 0  # explained only while keeping up, the most anomalous of a batch first
    windows_not_scored: int = 0    # left over at exit
    lines_not_scored: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    follow: object = None          # the follower's FollowStats at the end
    counts: dict = field(default_factory=dict)   # the reader's and windower's counters
    notes: list = field(default_factory=list)    # the counters a person should read about
    familiarity: dict = field(default_factory=dict)  # unfamiliar windows / unseen lines (logllm.report.detection)

    def summary(self) -> dict:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None

        return {
            "lines": self.lines, "windows": self.windows, "alerts": self.alerts,
            "alerts_without_evidence": self.alerts_without_evidence,
            "windows_not_scored": self.windows_not_scored, "lines_not_scored": self.lines_not_scored,
            "seconds": round(elapsed, 2), "lines_per_s": round(self.lines / elapsed, 1),
            "latency_ms_p50": pct(0.5), "latency_ms_p95": pct(0.95),
            "latency_ms_mean": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            **({"familiarity": self.familiarity} if self.familiarity else {}),
            **({"follow": vars(self.follow)} if self.follow is not None else {}),
            "counts": self.counts,
        }


def format_alert(result, latency: float, top_k: int) -> str:
    """One alert: time, window, probability, latency, then the top lines as file:line (log text and file names
    with terminal-steering characters shown escaped, `terminal_text`)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    head = (f"{stamp} ALERT {terminal_text(result.window_id)} p={result.score:.3f} "
            f"lines {result.first_line}-{result.last_line} latency {latency * 1000:.0f} ms")
    rows = [head]
    for number, score, text in result.suspicious_lines(top_k):
        text = terminal_line(text)[:160]
        rows.append(f"    {score:.3f}  {terminal_text(Path(result.source).name)}:{number}  {text}")
    return "\n".join(rows)


class Watcher:
    """The watch loop, one poll at a time: follower -> parser -> windower -> scorer.

    ``watch`` runs it against the clock; tests drive ``step`` and ``finish`` directly with a fake
    scorer (anything with ``batch_size``, ``score(windows, threshold=..., line_scores=False)`` and
    ``explain(results)``, as ``logllm.scoring.detector.Detector``).
    """

    def __init__(
        self,
        path: str | Path,
        detector: Any,
        *,
        fmt: str = "plain",
        size: int = 50,
        step: int = 50,
        threshold: float | None = None,
        flush_after: float | None = None,
        from_start: bool = False,
        top_k: int = 3,
        out: TextIO | None = None,
        alerts_file: TextIO | None = None,
        show_all: bool = False,
        on_result: Callable[[object, float], None] | None = None,
        max_line_bytes: int | None = None,
        chunk_bytes: int = 1 << 20,
        evidence_per_batch: int = 1,
    ) -> None:
        from logllm.logs.errors import BuildReport
        from logllm.logs.follow import LogFollower
        from logllm.logs.formats import lenient_parser
        from logllm.logs.reader import MAX_LINE_BYTES
        from logllm.windows.windowing import SlidingWindower

        self.detector, self.threshold, self.flush_after = detector, threshold, flush_after
        self.evidence_per_batch = evidence_per_batch
        self.top_k, self.out, self.alerts_file, self.show_all, self.on_result = top_k, out, alerts_file, show_all, on_result
        self.report = BuildReport()
        self.follower = LogFollower(path, from_start=from_start, report=self.report, chunk_bytes=chunk_bytes,
                                    max_line_bytes=max_line_bytes or MAX_LINE_BYTES)
        self.parse = lenient_parser(fmt, self.report)
        self.windower = SlidingWindower(size, step, report=self.report)
        self.source = str(path)
        self.stats = WatchStats()
        self.pending: list[PendingWindow] = []
        self.lines_in_hand = 0        # lines of the current poll not windowed yet
        self.file = self.follower.file_index
        self.last_arrival = time.monotonic()
        self.deadline: float | None = None
        self.stop_requested = False   # set by the first Ctrl-C / SIGTERM
        from logllm.report.detection import DetectionTally

        # how much of the stream the model knows; the warning is printed once (`_warn_if_unfamiliar`)
        self.tally = DetectionTally(max_rows=0, novelty_threshold=getattr(detector, "novelty_threshold", None))
        self.warned_unfamiliar = False

    def stopping(self) -> bool:
        """The run should end: ``--duration`` is over or a stop was asked for."""
        return self.stop_requested or (self.deadline is not None and time.monotonic() >= self.deadline)

    def _close_file(self) -> None:
        """The followed file ended (rotated, truncated, or the run ends): its half-filled window is complete."""
        window = self.windower.flush(end=True)
        if window is not None:
            self.pending.append(PendingWindow(window, completed_at=self.last_arrival, partial=True))

    def step(self) -> int:
        """One poll: window the new lines, score what completed (until the deadline); the lines read."""
        lines = self.follower.poll()
        arrival = time.monotonic()
        self.stats.lines = self.follower.stats.lines
        self.lines_in_hand = len(lines)
        for line in lines:
            self.lines_in_hand -= 1
            if line.file != self.file:
                self._close_file()
                self.file = line.file
            self.last_arrival = arrival
            window = self.windower.add(self.parse(line.text, self.source, line.number))
            if window is not None:
                self.pending.append(PendingWindow(window, completed_at=arrival))
                if len(self.pending) >= self.detector.batch_size and not self.stopping():
                    self.score_pending()
        if self.follower.file_index != self.file:   # a new file, nothing read from it yet
            self._close_file()
            self.file = self.follower.file_index
        if (self.flush_after is not None and self.windower.uncovered
                and time.monotonic() - self.last_arrival >= self.flush_after):
            idle = self.windower.flush(end=False)
            if idle is not None:
                self.pending.append(PendingWindow(idle, completed_at=self.last_arrival, partial=True))
        if not self.stopping():
            self.score_pending()
        return len(lines)

    def score_pending(self, limit: int | None = None, evidence: bool = True) -> None:
        """Score pending windows, a batch at a time, oldest first (at most ``limit``), until the run stops.

        A batch is scored in one forward pass. Its most anomalous alerts (at most ``evidence_per_batch``) then get
        leave-one-out line evidence in one more call, if the watcher is keeping up (``behind`` is false) and the run
        is not stopping; the batch is reported after that.
        """
        batch_size = self.detector.batch_size
        done = 0
        while self.pending and (limit is None or done < limit):
            batch = self.pending[: min(batch_size, len(self.pending) if limit is None else limit - done)]
            # threshold None: the detector's own (the model's operating point)
            given = {} if self.threshold is None else {"threshold": self.threshold}
            results = self.detector.score([p.window for p in batch], line_scores=False, **given)
            del self.pending[: len(batch)]
            done += len(batch)
            flagged = [r for r in results if r.anomalous]
            explained = 0
            if flagged and evidence and self.evidence_per_batch > 0 and not self.behind() and not self.stopping():
                chosen = sorted(flagged, key=lambda r: -(r.ranking or r.score))[: self.evidence_per_batch]
                self.detector.explain(chosen)
                explained = len(chosen)
            self.stats.alerts_without_evidence += len(flagged) - explained
            self._report(batch, results)
            if limit is None and self.stopping():
                break

    def behind(self) -> bool:
        """A batch or more is waiting: windows to score, lines read but not windowed, or bytes not read yet."""
        waiting = len(self.pending) + self.lines_in_hand // max(1, self.windower.step)
        return waiting >= self.detector.batch_size or self.follower.unread_bytes > 0

    def _report(self, batch: list[PendingWindow], results: list) -> None:
        done = time.monotonic()
        for item, result in zip(batch, results, strict=True):
            latency = done - item.completed_at
            self.stats.windows += 1
            self.stats.latencies.append(latency)
            self.tally.add(result)
            if self.on_result is not None:
                self.on_result(result, latency)
            if result.anomalous:
                self.stats.alerts += 1
                print(format_alert(result, latency, self.top_k), file=self.out or sys.stdout, flush=True)
                if self.alerts_file is not None:
                    from logllm.report.detection import result_row

                    row = {**result_row(result, self.top_k), "latency_ms": round(latency * 1000, 1)}
                    self.alerts_file.write(json.dumps(row) + "\n")
                    self.alerts_file.flush()
            elif self.show_all:
                status = "ok" if result.status == "normal" else result.status
                print(f"{status:<5} {terminal_text(result.window_id)} p={result.score:.3f} latency {latency * 1000:.0f} ms",
                      file=self.out or sys.stdout, flush=True)
        if self.tally.windows >= FAMILIARITY_MIN_WINDOWS:
            self._warn_if_unfamiliar()

    def _warn_if_unfamiliar(self) -> None:
        """Say once, on stderr, that the model does not know these logs (and what to do), when it does not."""
        from logllm.report.detection import unfamiliar_message

        if not self.warned_unfamiliar and self.tally.familiarity()["unfamiliar_input"]:
            self.warned_unfamiliar = True
            print(f"logllm watch: warning: {unfamiliar_message(None, self.tally)}", file=sys.stderr, flush=True)

    def finish(self, *, score: bool = True) -> WatchStats:
        """Close the half-filled window and score one last batch; count what is left over; return the statistics.

        When the run is stopping (deadline, Ctrl-C, SIGTERM) the last batch is scored without
        leave-one-out line evidence (one forward pass), so stopping stays prompt; a second Ctrl-C
        during it leaves the batch over.
        """
        self._close_file()
        if score and self.pending:
            try:
                self.score_pending(limit=self.detector.batch_size, evidence=not self.stopping())
            except KeyboardInterrupt:
                logger.info("interrupted again; %d windows left unscored", len(self.pending))
        self.stats.windows_not_scored = len(self.pending)
        self.stats.lines_not_scored = sum(len(p.window["lines"]) for p in self.pending)
        self.stats.lines = self.follower.stats.lines
        self.stats.follow = self.follower.stats
        self.stats.counts = dict(sorted(self.report.counts.items()))
        self._warn_if_unfamiliar()
        if self.tally.novelty_threshold is not None:
            self.stats.familiarity = self.tally.familiarity()
        self.stats.notes = self.report.user_notes()
        if self.stats.lines_not_scored:
            self.stats.notes.append(f"{self.stats.lines_not_scored} line(s) in {self.stats.windows_not_scored} "
                                    "window(s) were read but not scored before the run ended")
        if self.follower.unfinished_bytes:
            self.stats.notes.append(f"the file ends with {self.follower.unfinished_bytes} byte(s) of a line whose "
                                    "newline had not arrived; not read as a line")
        self.follower.close()
        return self.stats


def watch(
    path: str | Path,
    detector,
    *,
    fmt: str = "plain",
    size: int = 50,
    step: int = 50,
    threshold: float | None = None,
    flush_after: float | None = None,
    from_start: bool = False,
    duration: float | None = None,
    poll_interval: float = 0.1,
    top_k: int = 3,
    out: TextIO | None = None,
    alerts_file: TextIO | None = None,
    show_all: bool = False,
    on_result: Callable[[object, float], None] | None = None,
    evidence_per_batch: int = 1,
) -> WatchStats:
    """Follow ``path``, score each completed window, print alerts; returns the run's statistics.

    Stops after ``duration`` seconds (scoring stops at the deadline, even with a backlog) or on
    Ctrl-C; either way the half-filled window is closed and the summary counts what was left over.
    """
    watcher = Watcher(path, detector, fmt=fmt, size=size, step=step, threshold=threshold, flush_after=flush_after,
                      from_start=from_start, top_k=top_k, out=out, alerts_file=alerts_file, show_all=show_all,
                      on_result=on_result, evidence_per_batch=evidence_per_batch)
    watcher.deadline = None if duration is None else time.monotonic() + duration

    def request_stop(signum, frame) -> None:
        if watcher.stop_requested:   # asked twice: stop now
            raise KeyboardInterrupt
        watcher.stop_requested = True
        logger.info("stopping after the current step (signal %d); again to stop at once", signum)

    previous = _install({signal.SIGINT: request_stop, signal.SIGTERM: request_stop})
    try:
        while not watcher.stopping():
            if not watcher.step():
                wait = poll_interval if watcher.deadline is None else min(poll_interval, watcher.deadline - time.monotonic())
                time.sleep(max(0.0, wait))
    except KeyboardInterrupt:
        logger.info("interrupted; %d windows scored", watcher.stats.windows)
        watcher.stop_requested = True
    finally:
        _install(previous)
    return watcher.finish()


def _install(handlers: dict) -> dict:
    """Set signal handlers (main thread only: elsewhere Python refuses, and Ctrl-C stays a KeyboardInterrupt)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, signal.SIG_DFL if handler is None else handler)
            for signum, handler in handlers.items()}


def guess_line_format(path: str | Path) -> tuple[str, str]:
    """(format, why) for a followed file: its first lines decide, as for `detect`, so a model trained on HDFS or BGL
    lines reads their message the way training did (read as plain text they look unfamiliar); plain while there is
    nothing to look at yet or no line format fits."""
    from logllm.logs.errors import LogFormatError
    from logllm.logs.formats import LINE_FORMATS, detect_format

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return "plain", "plain: the file is empty or does not exist yet (--format sets it)"
    try:
        fmt = detect_format(str(path))
    except LogFormatError as err:
        return "plain", f"plain: the first lines fit no format ({err})"
    if fmt not in LINE_FORMATS:
        return "plain", f"plain: {fmt} is not a one-record-per-line format"
    return fmt, f"{fmt}, guessed from the first lines (--format sets it)"


def build_parser() -> argparse.ArgumentParser:
    from logllm.logs.formats import LINE_FORMATS
    from logllm.windows.spec import WATCH_WINDOW

    parser = argparse.ArgumentParser(prog="logllm watch", description="Follow a growing log and alert on anomalous windows.")
    parser.add_argument("file", help="log file to follow (may not exist yet; rotation and truncation are handled)")
    parser.add_argument("--model", default=None, help="saved model folder or Hub id (default: the quickstart model)")
    parser.add_argument("--format", dest="fmt", default="auto", choices=("auto", *LINE_FORMATS),
                        help="line format (default auto: guessed from the file's first lines as detect does; plain, "
                             "every line a message, while the file is empty or does not exist yet)")
    parser.add_argument("--window", default=str(WATCH_WINDOW), help=f"sliding:SIZE[:STEP] (default {WATCH_WINDOW})")
    add_decision_arguments(parser, "alerts", "alert")
    parser.add_argument("--flush-after", type=float, default=None,
                        help="score a partial window after this many idle seconds")
    parser.add_argument("--from-start", action="store_true", help="score the existing content first")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (scoring stops then too; what is left is counted)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--evidence-per-batch", type=int, default=1,
                        help="alerts of a scored batch that get line evidence, most anomalous first, while the watcher "
                             "keeps up (0: none; evidence costs a forward pass per distinct line)")
    parser.add_argument("--alerts", default=None, help="append alerts as JSON lines to this file")
    parser.add_argument("--all", dest="show_all", action="store_true", help="print every window, not only alerts")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    escape_log_records()  # warnings quote file names and lines
    from logllm.logs.errors import DetectionInputError, LogFormatError
    from logllm.scoring.detector import Detector
    from logllm.windows.spec import WindowSpec

    alerts_file = None
    previous = _install({signal.SIGTERM: signal.default_int_handler})  # until following starts, SIGTERM = Ctrl-C
    try:
        spec = WindowSpec.parse(args.window)
        if spec.kind != "sliding":
            raise DetectionInputError("logllm watch supports sliding:SIZE[:STEP] windows only")
        check_threshold(args.threshold)
        if args.evidence_per_batch < 0:
            raise DetectionInputError(f"--evidence-per-batch {args.evidence_per_batch} must be >= 0")
        if args.duration is not None and not args.duration > 0:
            raise DetectionInputError(f"--duration {args.duration} must be a number of seconds > 0")
        if Path(args.file).is_dir():
            raise DetectionInputError(f"{args.file} is a folder; logllm watch follows one log file")
        if args.alerts:
            try:
                alerts_file = open(args.alerts, "a", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as err:
                raise DetectionInputError(f"cannot write --alerts {args.alerts}: {err.strerror or err}") from None
        fmt, fmt_note = (args.fmt, args.fmt) if args.fmt != "auto" else guess_line_format(args.file)
        detector = Detector.load(args.model, batch_size=args.batch_size, threshold=args.threshold,
                                 use_novelty=args.novelty)
        novelty = (f", novelty threshold {detector.novelty_threshold:g}" if detector.novelty_threshold is not None
                   else ", novelty off")
        print(f"watching {terminal_text(args.file)} ({fmt_note}; {spec}, threshold {detector.threshold:g} "
              f"({detector.threshold_source}){novelty}); Ctrl-C to stop", file=sys.stderr)
        if getattr(detector.model, "novelty_index", None) is None:
            from logllm.report.detection import NO_INDEX_NOTE

            print(f"logllm watch: note: {NO_INDEX_NOTE}", file=sys.stderr)
        stats = watch(
            args.file, detector, fmt=fmt, size=spec.size, step=spec.step, threshold=None,
            flush_after=args.flush_after, from_start=args.from_start, duration=args.duration, top_k=args.top_k,
            alerts_file=alerts_file, show_all=args.show_all, evidence_per_batch=args.evidence_per_batch,
        )
    except (DetectionInputError, LogFormatError) as err:
        print(f"logllm watch: error: {terminal_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before following started (e.g. while the model loads)
        print("logllm watch: stopped", file=sys.stderr)
        return 0
    finally:
        _install(previous)
        if alerts_file is not None:
            alerts_file.close()
    for note in stats.notes:
        print(f"logllm watch: note: {terminal_text(note)}", file=sys.stderr)
    print(f"logllm watch: {json.dumps(stats.summary())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
