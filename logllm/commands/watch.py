"""``logllm watch``: follow a growing log like ``tail -F`` and alert on anomalous windows.

Examples::

    logllm watch /var/log/app.log                      # sliding 50/50 windows of new lines
    logllm watch BGL.log --format bgl --window sliding:100:100 --from-start --threshold 0.8
    logllm watch app.log --flush-after 5 --alerts alerts.jsonl --duration 3600

Each window is scored as soon as it completes (or, with ``--flush-after``, when no new line
arrived for that many seconds). An alert prints the window, its probability, the latency from
the window's last line being read to its score, and the most suspicious lines. Memory holds one
window plus one read chunk, however long it runs; a backlog waits on disk.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from logllm.windows.windowing import Window

logger = logging.getLogger(__name__)

LATENCY_SAMPLES = 10_000  # latencies kept for percentiles (bounded)


@dataclass
class PendingWindow:
    """A completed window waiting to be scored, with when its last line was read."""

    window: Window
    completed_at: float
    partial: bool = False


@dataclass
class WatchStats:
    lines: int = 0
    windows: int = 0
    alerts: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    follow: object = None  # the follower's FollowStats at the end

    def summary(self) -> dict:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None

        return {
            "lines": self.lines, "windows": self.windows, "alerts": self.alerts,
            "seconds": round(elapsed, 2), "lines_per_s": round(self.lines / elapsed, 1),
            "latency_ms_p50": pct(0.5), "latency_ms_p95": pct(0.95),
            "latency_ms_mean": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            **({"follow": vars(self.follow)} if self.follow is not None else {}),
        }


def format_alert(result, latency: float, top_k: int) -> str:
    """One alert: time, window, probability, latency, then the top lines as file:line."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    head = (f"{stamp} ALERT {result.window_id} p={result.score:.3f} "
            f"lines {result.first_line}-{result.last_line} latency {latency * 1000:.0f} ms")
    rows = [head]
    for number, score, text in result.suspicious_lines(top_k):
        rows.append(f"    {score:.3f}  {Path(result.source).name}:{number}  {' '.join(text.split())[:160]}")
    return "\n".join(rows)


def watch(
    path: str | Path,
    detector,
    *,
    fmt: str = "plain",
    size: int = 50,
    step: int = 50,
    threshold: float = 0.5,
    flush_after: float | None = None,
    from_start: bool = False,
    duration: float | None = None,
    poll_interval: float = 0.1,
    top_k: int = 3,
    out: TextIO | None = None,
    alerts_file: TextIO | None = None,
    show_all: bool = False,
    on_result: Callable[[object, float], None] | None = None,
) -> WatchStats:
    """Follow ``path``, score each completed window, print alerts; returns the run's statistics."""
    from logllm.logs.errors import BuildReport
    from logllm.logs.follow import LogFollower
    from logllm.logs.formats import lenient_parser
    from logllm.windows.windowing import SlidingWindower

    out = sys.stdout if out is None else out

    follower = LogFollower(path, from_start=from_start)
    report = BuildReport()
    parse = lenient_parser(fmt, report)
    windower = SlidingWindower(size, step, report=report)
    source = str(path)
    stats = WatchStats()
    stop = None if duration is None else time.monotonic() + duration
    line_number = 0
    last_arrival = time.monotonic()
    rotations = truncations = 0
    pending: list[PendingWindow] = []

    def score_pending() -> None:
        if not pending:
            return
        results = detector.score([p.window for p in pending], threshold=threshold)
        done = time.monotonic()
        for item, result in zip(pending, results, strict=True):
            latency = done - item.completed_at
            stats.windows += 1
            stats.latencies.append(latency)
            if on_result is not None:
                on_result(result, latency)
            if result.anomalous:
                stats.alerts += 1
                print(format_alert(result, latency, top_k), file=out, flush=True)
                if alerts_file is not None:
                    from logllm.report.detection import result_row

                    row = {**result_row(result, top_k), "latency_ms": round(latency * 1000, 1)}
                    alerts_file.write(json.dumps(row) + "\n")
                    alerts_file.flush()
            elif show_all:
                print(f"ok    {result.window_id} p={result.score:.3f} latency {latency * 1000:.0f} ms",
                      file=out, flush=True)
        pending.clear()

    def follow_loop() -> None:
        nonlocal line_number, rotations, truncations, last_arrival
        for lines in follower.follow(poll_interval=poll_interval, stop=stop):
            if (follower.stats.rotations, follower.stats.truncations) != (rotations, truncations):
                rotations, truncations = follower.stats.rotations, follower.stats.truncations
                windower.discard()  # line numbers restart: never mix two files in one window
                line_number = 0
            arrival = time.monotonic()
            for text in lines:
                line_number += 1
                stats.lines += 1
                if not text.strip():
                    continue
                last_arrival = arrival
                window = windower.add(parse(text, source, line_number))
                if window is not None:
                    pending.append(PendingWindow(window, completed_at=arrival))
                    if len(pending) >= detector.batch_size:
                        score_pending()
                        if stop is not None and time.monotonic() >= stop:
                            return  # --duration is over: do not finish a large backlog chunk
            if flush_after is not None and windower.uncovered and time.monotonic() - last_arrival >= flush_after:
                idle = windower.flush(end=False)
                if idle is not None:
                    pending.append(PendingWindow(idle, completed_at=last_arrival, partial=True))
            score_pending()

    try:
        follow_loop()
    except KeyboardInterrupt:
        logger.info("interrupted; %d windows scored", stats.windows)
    stats.follow = follower.stats
    return stats


def build_parser() -> argparse.ArgumentParser:
    from logllm.logs.formats import LINE_FORMATS
    from logllm.windows.spec import WATCH_WINDOW

    parser = argparse.ArgumentParser(prog="logllm watch", description="Follow a growing log and alert on anomalous windows.")
    parser.add_argument("file", help="log file to follow (may not exist yet; rotation and truncation are handled)")
    parser.add_argument("--model", default=None, help="saved model folder or Hub id (default: the quickstart model)")
    parser.add_argument("--format", dest="fmt", default="plain", choices=LINE_FORMATS,
                        help="line format (default plain: every line is a message)")
    parser.add_argument("--window", default=str(WATCH_WINDOW), help=f"sliding:SIZE[:STEP] (default {WATCH_WINDOW})")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--flush-after", type=float, default=None,
                        help="score a partial window after this many idle seconds")
    parser.add_argument("--from-start", action="store_true", help="score the existing content first")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--alerts", default=None, help="append alerts as JSON lines to this file")
    parser.add_argument("--all", dest="show_all", action="store_true", help="print every window, not only alerts")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    from logllm.logs.errors import DetectionInputError
    from logllm.scoring.detector import Detector
    from logllm.windows.spec import WindowSpec

    alerts_file = None
    try:
        spec = WindowSpec.parse(args.window)
        if spec.kind != "sliding":
            raise DetectionInputError("logllm watch supports sliding:SIZE[:STEP] windows only")
        if not 0.0 <= args.threshold <= 1.0:
            raise DetectionInputError(f"--threshold {args.threshold} must be between 0 and 1")
        detector = Detector.load(args.model, batch_size=args.batch_size)
        alerts_file = open(args.alerts, "a", encoding="utf-8") if args.alerts else None  # noqa: SIM115
        print(f"watching {args.file} ({args.fmt}, {spec}, threshold {args.threshold:g}); Ctrl-C to stop",
              file=sys.stderr)
        stats = watch(
            args.file, detector, fmt=args.fmt, size=spec.size, step=spec.step, threshold=args.threshold,
            flush_after=args.flush_after, from_start=args.from_start, duration=args.duration, top_k=args.top_k,
            alerts_file=alerts_file, show_all=args.show_all,
        )
    except DetectionInputError as err:
        print(f"logllm watch: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("logllm watch: stopped", file=sys.stderr)
        return 0
    finally:
        if alerts_file is not None:
            alerts_file.close()
    print(f"logllm watch: {json.dumps(stats.summary())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
