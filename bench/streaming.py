"""Streaming benchmark for ``logllm watch``: sustained lines/s and write->score latency on CPU, alerts on.

A writer thread appends synthetic BGL-like lines (``logllm.logs.synthetic``, seeded) to a log file at a fixed rate
while ``logllm.commands.watch.watch`` follows it in the same process (sliding 50/50 windows, torch on
``--threads`` threads). For each rate and alert setting we report lines the watcher consumed per second, the
backlog at the end, alerts, alerts that got line evidence, and the latency from the writer appending a window's
last line to that window's score being printed (write->score) or from the watcher reading it (read->score).

Alert settings: ``none`` (threshold 1: scoring only), ``often`` (the median score of a sample of these windows:
about half the windows alert) and ``all`` (threshold 0). Speed does not depend on what the model learned: the
untrained offline default runs the same arithmetic as a trained one; the thresholds make it alert as often as asked.

    python bench/streaming.py                               # offline default model (MiniLM + 4-layer Llama)
    python bench/streaming.py --model tiny --rates 100,1000 # the tiny test model
    python bench/streaming.py --model runs/quickstart/model
"""

from __future__ import annotations

import bisect
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `logllm watch` does (logllm/cli.py): set before torch loads
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from logllm.report.summary import write_report


@dataclass
class StreamingArguments:
    model: str = field(default="default", metadata={
        "help": "default (untrained offline default, built here), tiny (untrained test model) or a model folder"})
    rates: str = field(default="100,400,1000,1600", metadata={"help": "writer rates in lines/s, comma separated"})
    alerts: str = field(default="none,often,all", metadata={"help": "alert settings to run: none, often, all"})
    seconds_per_rate: float = 20.0
    window: int = 50
    batch_size: int = 8
    evidence_per_batch: int = 1
    threads: int = 2
    seed: int = 0
    output: str = "bench/results/streaming"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def writer(path: Path, rate: float, seconds: float, seed: int, written: list[int], ticks: list) -> None:
    """Append BGL-like lines at ``rate`` lines/s in 20 ms ticks; ``ticks`` gets (lines so far, time)."""
    from logllm.logs.synthetic import bgl_like_lines

    lines = bgl_like_lines(n_lines=int(rate * seconds) + 10, seed=seed, anomaly_rate=0.01)
    start, sent = time.monotonic(), 0
    with open(path, "a", encoding="utf-8") as handle:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed) - sent
            if due > 0:
                handle.write("".join(next(lines).text + "\n" for _ in range(due)))
                handle.flush()
                sent += due
                ticks.append((sent, time.monotonic()))
            time.sleep(0.02)
    written.append(sent)


def percentile(values: list[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1) if values else None


def run_rate(detector, rate: float, setting: str, threshold: float, args: StreamingArguments, work: Path) -> dict:
    from logllm.commands.watch import watch

    path = work / f"stream_{int(rate)}_{setting}.log"
    path.write_text("")
    written: list[int] = []
    ticks: list[tuple[int, float]] = []
    latencies: list[float] = []
    end_to_end: list[float] = []

    def on_result(result, latency: float) -> None:
        latencies.append(latency)
        i = bisect.bisect_left(ticks, (result.last_line, 0.0))  # when the window's last line was written
        if i < len(ticks):
            end_to_end.append(time.monotonic() - ticks[i][1])

    load_start = load_average()
    thread = threading.Thread(target=writer, args=(path, rate, args.seconds_per_rate, args.seed, written, ticks))
    thread.start()
    with open(os.devnull, "w") as devnull:
        stats = watch(path, detector, fmt="bgl", size=args.window, step=args.window, threshold=threshold,
                      duration=args.seconds_per_rate, poll_interval=0.05, out=devnull, on_result=on_result,
                      evidence_per_batch=args.evidence_per_batch)
    thread.join()
    elapsed = stats.summary()["seconds"]
    return {
        "alerts_setting": setting,
        "threshold": round(threshold, 6),
        "rate_lines_per_s": rate,
        "lines_written": written[0],
        "lines_consumed": stats.lines,
        "seconds": elapsed,
        "consumed_lines_per_s": round(stats.lines / elapsed, 1),
        "backlog_lines": written[0] - stats.lines,
        "windows_scored": stats.windows,
        "windows_not_scored": stats.windows_not_scored,
        "alerts": stats.alerts,
        "alerts_with_evidence": stats.alerts - stats.alerts_without_evidence,
        "read_to_score_ms_p50": percentile(latencies, 0.5),
        "read_to_score_ms_p95": percentile(latencies, 0.95),
        "write_to_score_ms_p50": percentile(end_to_end, 0.5),
        "write_to_score_ms_p95": percentile(end_to_end, 0.95),
        "write_to_score_ms_mean": round(statistics.fmean(end_to_end) * 1000, 1) if end_to_end else None,
        "kept_up": stats.lines >= 0.95 * written[0] and stats.windows_not_scored <= 1,
        "load_start": load_start,
        "load_end": load_average(),
    }


def load_detector(args: StreamingArguments, work: Path):
    from logllm.scoring.detector import Detector

    if args.model not in ("default", "tiny"):
        return Detector.load(args.model, batch_size=args.batch_size), args.model
    from logllm.modeling.presets import build_default, build_tiny

    model, processor = (build_default if args.model == "default" else build_tiny)(seed=args.seed)
    model.save_pretrained(work / args.model)
    processor.save_pretrained(work / args.model)
    name = ("untrained offline default (all-MiniLM-L6-v2 + 4-layer 256-d Llama)" if args.model == "default"
            else "untrained build_tiny (2-layer 32-d BERT + Llama)")
    return Detector.load(str(work / args.model), batch_size=args.batch_size), name


def often_threshold(detector, args: StreamingArguments) -> float:
    """The median score of windows like the benchmark's: about half of them alert."""
    from logllm.logs.synthetic import bgl_like_lines

    lines = [line.text.split(" ", 9)[-1] for line in bgl_like_lines(n_lines=args.window * 40, seed=args.seed + 1)]
    windows = [lines[i : i + args.window] for i in range(0, len(lines), args.window)]
    return float(statistics.median(detector.scores(windows, preprocessed=False)))


def render(payload: dict) -> str:
    meta = payload["meta"]
    rows = ["| alerts | threshold | writer lines/s | consumed lines/s | backlog lines | windows | alerts | with evidence "
            "| write→score p50 / p95 ms | read→score p50 / p95 ms | kept up | load (start/end) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["results"]:
        rows.append(f"| {r['alerts_setting']} | {r['threshold']:.4g} | {r['rate_lines_per_s']:g} | {r['consumed_lines_per_s']:g} "
                    f"| {r['backlog_lines']} | {r['windows_scored']} | {r['alerts']} | {r['alerts_with_evidence']} "
                    f"| {r['write_to_score_ms_p50']} / {r['write_to_score_ms_p95']} "
                    f"| {r['read_to_score_ms_p50']} / {r['read_to_score_ms_p95']} | {'yes' if r['kept_up'] else 'no'} "
                    f"| {r['load_start']} / {r['load_end']} |")
    return (
        "# logllm watch: streaming throughput and latency, alerts on\n\n"
        f"Model: {meta['model']}. Data: synthetic BGL-like lines (seed {meta['seed']}), sliding windows "
        f"{meta['window']}/{meta['window']}, batch {meta['batch_size']}, torch threads {meta['threads']}, "
        f"{meta['seconds_per_rate']:g} s per rate, line evidence for at most {meta['evidence_per_batch']} alert(s) per "
        f"scored batch while keeping up. Hardware: {meta['hardware']}; the 2 cores are shared with other jobs: the "
        "load average (`uptime`, 1 min) at the start and end of each row is in the last column.\n\n"
        + "\n".join(rows)
        + "\n\nwrite→score: from the writer appending a window's last line to the window's result being printed (what "
        "an operator waits). read→score: from the watcher reading that line. `often`: the threshold is the median "
        "score of a sample of these windows, so about half of them alert; `all`: every window alerts. Line evidence "
        "costs one forward pass per distinct line of a window, so it goes to the most anomalous alert of a scored "
        "batch, and only while no batch of windows is waiting; the other alerts are printed at once without it. A "
        "backlog waits on disk; the watcher's memory stays bounded.\n"
    )


def main(argv: list[str] | None = None) -> int:
    import logging

    import torch
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(StreamingArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("logllm.modeling").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="logllm-bench-stream-"))
    detector, model_name = load_detector(args, work)
    thresholds = {"none": 1.0, "all": 0.0}
    if "often" in args.alerts:
        thresholds["often"] = often_threshold(detector, args)
    payload = {"meta": {**asdict(args), "model": model_name, "torch": torch.__version__,
                        "hardware": f"{os.cpu_count()}-core CPU, no GPU ({platform.processor() or platform.machine()})"},
               "results": []}
    for setting in args.alerts.split(","):
        for rate in (float(r) for r in args.rates.split(",")):
            payload["results"].append(run_rate(detector, rate, setting, thresholds[setting], args, work))
            print(payload["results"][-1], flush=True)
            write_report(payload, args.output, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
