"""How reliable is `logllm quickstart`? The same command over several seeds, with per-kind recall.

    python bench/quickstart_seeds.py --repeat 2           # seeds 42-46, each twice (are runs identical?)
    python bench/quickstart_seeds.py --seeds 42 43 --threads 1

Each seed runs `logllm.commands.quickstart.run_quickstart` exactly as README command 1 does (seed 42 is the
command's default), in a fresh process (its peak RSS is the seed's own): new synthetic data, split, initialisation
and training per seed; `--repeat N` runs each seed N times and says whether the runs gave identical metrics. The first
run of each seed also meets real logs (`--real_hdfs`): its model scores the shared real HDFS sample
(../shared/loghub/hdfs_2percent: 9,201 real sessions, 280 anomalous) at its own operating point, and the report says
how many sessions it flagged, how many it called unfamiliar and its F1 there (unfamiliar sessions count as not
flagged). For every run the test metrics, the wall and training time, the peak RSS, the machine's load
(1-minute load average sampled every 10 s while it ran; the cores are shared) and the recall of each injected anomaly
kind (`logllm.logs.synthetic.GENERATED_KINDS`; names in `logllm.logs.anomaly_kinds`) are recorded. `--recipe` runs
another recipe the same way (e.g. `default/synthetic`, the random-decoder baseline). Writes <output>.json and .md.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `logllm quickstart` does (logllm/cli.py): before torch loads

from logllm.report.cost import LoadSampler  # noqa: E402
from logllm.report.metrics import per_category_recall  # noqa: E402
from logllm.report.summary import write_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

logger = logging.getLogger("bench.quickstart_seeds")
RESULTS = ROOT / "bench" / "results"
METRICS = ("precision", "recall", "f1", "roc_auc", "accuracy")
F1_GOAL = 0.9


@dataclass
class QuickstartSeedsArguments:
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44, 45, 46], metadata={"help": "quickstart seeds"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    fast: bool = field(default=False, metadata={"help": "quickstart --fast (tiny model; checks this script, numbers mean nothing)"})
    recipe: str | None = field(default=None, metadata={"help": "another recipe than the quickstart's (train/recipes/ name)"})
    in_process: bool = field(default=False, metadata={"help": "run seeds in this process (no per-seed peak RSS)"})
    repeat: int = field(default=1, metadata={"help": "runs per seed (2: is the same seed the same result?)"})
    real_hdfs: str | None = field(default=str(ROOT.parent / "shared" / "loghub" / "hdfs_2percent"), metadata={
        "help": "folder with HDFS_2percent.log.gz + anomaly_label.csv scored by each seed's first model ('' skips)"})
    output: str = field(default=str(RESULTS / "quickstart_seeds"), metadata={"help": "writes <output>.json and <output>.md"})


def kind_recall(run_dir: Path, script_args: Any, seed: int) -> dict[str, float]:
    """Recall per injected anomaly kind on the test split, from the run's predictions.jsonl."""
    from logllm.training.data import load_training_dataset

    test = load_training_dataset(script_args, seed)["test"]
    predictions = [json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    by_id = {p["window_id"]: int(p["predicted"]) for p in predictions}
    rows = [row for row in test if row["window_id"] in by_id]
    return per_category_recall(rows, np.array([by_id[row["window_id"]] for row in rows]))


def metrics_at(run_dir: Path, threshold: float = 0.5) -> dict[str, Any]:
    """Test metrics at a fixed threshold (0.5: the model's own rule, P(anomalous) >= P(normal)), from the run's
    predictions.jsonl: shows how much of a seed's F1 the validation-chosen threshold costs or gains. Not the
    headline, which keeps the threshold chosen on validation."""
    from logllm.report.metrics import compute_metrics

    rows = [json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    metrics = compute_metrics([int(r["label"]) for r in rows], [float(r["score"]) for r in rows], threshold)
    return {k: metrics[k] for k in ("precision", "recall", "f1", "threshold")}


def real_hdfs_contact(model_dir: Path, folder: Path) -> dict[str, Any]:
    """The trained model on real HDFS sessions, as `logllm detect` decides (no line evidence: only the decisions)."""
    import csv
    import time

    from logllm.dataset.user_logs import read_input
    from logllm.report.metrics import compute_metrics
    from logllm.scoring.detector import Detector

    started = time.perf_counter()
    detector = Detector.load(str(model_dir))
    read = read_input(folder / "HDFS_2percent.log.gz", "hdfs")
    results = detector.score(read.windows, line_scores=False)
    with (folder / "anomaly_label.csv").open(encoding="utf-8") as handle:
        labels = {row["BlockId"]: int(row["Label"] == "Anomaly") for row in csv.DictReader(handle)}
    known = [r for r in results if r.window_id in labels]
    y = [labels[r.window_id] for r in known]
    flagged = [int(r.status == "anomalous") for r in known]
    metrics = compute_metrics(y, flagged, 0.5)
    return {
        "sessions": len(results), "labelled": len(known), "anomalous": int(sum(y)),
        "flagged": int(sum(flagged)), "unfamiliar": sum(r.status == "unfamiliar" for r in known),
        "precision": metrics["precision"], "recall": metrics["recall"], "f1": metrics["f1"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_seed(seed: int, threads: int, workdir: Path, fast: bool = False, recipe: str | None = None,
             real_hdfs: str | None = None) -> dict[str, Any]:
    import resource

    from logllm.commands import quickstart
    from logllm.training.recipes import parse_arguments

    if recipe:
        quickstart.QUICKSTART_RECIPE = recipe  # this process only (a fresh one per seed)
    args = quickstart.QuickstartArguments(output=str(workdir / f"seed{seed}"), seed=seed, threads=threads, fast=fast)
    metrics, result = quickstart.run_quickstart(args)
    script_args, _, _ = parse_arguments(quickstart.recipe_arguments(args))
    stage_seconds = {s["stage"]: s.get("seconds") for s in result.stages}
    real = real_hdfs_contact(Path(args.output) / "model", Path(real_hdfs)) if real_hdfs else None
    return {
        "real_hdfs": real,
        "test_seen_in_training": metrics.get("test_seen_in_training"),
        "f1_unseen": metrics.get("f1_unseen"),
        "seed": seed,
        "metrics": {k: metrics.get(k) for k in METRICS},
        "threshold": metrics.get("threshold"),
        "n_test_windows": metrics.get("n_test_windows"),
        "seconds": metrics.get("seconds"),
        "train_seconds": round(sum(v or 0 for v in stage_seconds.values()), 2),
        "stage_seconds": stage_seconds,
        "stage_windows": {s["stage"]: s.get("windows") for s in result.stages},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # Linux: KiB
        # CPU seconds of the whole run (all threads): / threads ~ its wall time on free cores (passive OpenMP waits)
        "cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 1),
        "kind_recall": kind_recall(Path(args.output), script_args, seed),
        "at_threshold_0.5": metrics_at(Path(args.output)),
    }


def run_seed_measured(seed: int, args: "QuickstartSeedsArguments", workdir: Path, repeat: int = 0) -> dict[str, Any]:
    """One seed in a fresh process (spawned: its own peak RSS, nothing shared with the previous seed)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    real = args.real_hdfs if repeat == 0 and args.real_hdfs and Path(args.real_hdfs).is_dir() else None
    call = (seed, args.threads, workdir / f"repeat{repeat}", args.fast, args.recipe, real)
    with LoadSampler() as load:
        if args.in_process:
            row = run_seed(*call)
        else:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                row = pool.submit(run_seed, *call).result()
    row["load_1min"] = load.summary()
    row["repeat"] = repeat
    return row


def run(args: QuickstartSeedsArguments) -> dict[str, Any]:
    from logllm.baselines import summarize
    from logllm.commands.quickstart import FAST_RECIPE, QUICKSTART_RECIPE
    from logllm.report.evaluate import hardware_info

    recipe = FAST_RECIPE if args.fast else (args.recipe or QUICKSTART_RECIPE)
    payload: dict[str, Any] = {
        "benchmark": "quickstart_seeds", "hardware": hardware_info(), "torch_threads": args.threads, "fast": args.fast,
        "recipe": f"train/recipes/{recipe}.yaml", "command": "python bench/quickstart_seeds.py " + " ".join(sys.argv[1:]),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "seeds": args.seeds, "runs": [], "failed": [],
    }
    with tempfile.TemporaryDirectory(prefix="logllm_quickstart_seeds_") as tmp:
        for seed in args.seeds:
            for repeat in range(max(1, args.repeat)):
                try:
                    payload["runs"].append(run_seed_measured(seed, args, Path(tmp), repeat))
                except Exception as err:  # reported, never dropped silently
                    logger.exception("seed %d failed", seed)
                    payload["failed"].append({"seed": seed, "repeat": repeat, "reason": str(err)})
                payload["summary"] = summarize([r["metrics"] for r in payload["runs"] if r.get("repeat", 0) == 0])
                payload["identical_repeats"] = identical_repeats(payload["runs"])
                write_report(payload, args.output, render_markdown)
    return payload


def identical_repeats(runs: list[dict[str, Any]]) -> dict[str, bool]:
    """Per seed run more than once: did every run give the same test metrics and threshold?"""
    by_seed: dict[int, list[dict[str, Any]]] = {}
    for r in runs:
        by_seed.setdefault(r["seed"], []).append(r)
    return {str(seed): all(r["metrics"] == rs[0]["metrics"] and r["threshold"] == rs[0]["threshold"] for r in rs)
            for seed, rs in by_seed.items() if len(rs) > 1}


def render_markdown(payload: dict[str, Any]) -> str:
    from logllm.logs.synthetic import GENERATED_KINDS
    from logllm.report.summary import format_mean_std as mean_std_text

    hw, runs = payload["hardware"], payload["runs"]
    reached = sum(1 for r in runs if (r["metrics"].get("f1") or 0) >= F1_GOAL)
    seconds = [r["seconds"] for r in runs if r.get("seconds") is not None]
    lines = [
        "# `logllm quickstart` over seeds", "",
        f"README command 1 (`{payload['recipe']}`) once per seed: synthetic HDFS-like data, split, model "
        "initialisation and training all follow the seed. Threshold chosen on validation, applied to the held-out "
        f"test windows. Hardware: {hw.get('usable_cpus')}-core CPU ({hw.get('cpu')}), no GPU, torch "
        f"{hw.get('torch')}, {payload['torch_threads']} threads. Created {payload.get('created')}.", "",
        f"F1 ≥ {F1_GOAL}: **{reached} of {len(runs)} seeds**; F1 {mean_std_text(r['metrics'].get('f1') for r in runs)}, "
        f"ROC-AUC {mean_std_text(r['metrics'].get('roc_auc') for r in runs)} (mean ± sample std); wall time {min(seconds, default=0):.0f}-"
        f"{max(seconds, default=0):.0f} s per run. The 2 cores were shared with other work: `load` is the 1-minute "
        "load average sampled every 10 s during the run (mean / max); above 2, the run waited for a core.", "",
        "| seed | run | precision | recall | F1 | ROC-AUC | threshold | F1 at 0.5 | test seen in train | F1 unseen | "
        "seconds | train s | CPU s / thread | peak RSS MB | load | " + " | ".join(GENERATED_KINDS) + " |",
        "|---" * (16 + len(GENERATED_KINDS)) + "|",
    ]
    for r in runs:
        m, kinds = r["metrics"], r["kind_recall"]
        cells = [f"{m[k]:.3f}" for k in ("precision", "recall", "f1", "roc_auc")]
        lines.append(
            f"| {r['seed']} | {r.get('repeat', 0) + 1} | " + " | ".join(cells) + f" | {r['threshold']:.3f} | "
            + f"{_number((r.get('at_threshold_0.5') or {}).get('f1'), '.3f')} | "
            + f"{_number(r.get('test_seen_in_training'), '.0%')} | {_number(r.get('f1_unseen'), '.3f')} | {r['seconds']:.0f} | "
            + f"{_number(r.get('train_seconds'), '.0f')} | {_per_thread(r, payload)} | {_number(r.get('peak_rss_mb'), '.0f')} | "
            + f"{_load(r)} | "
            + " | ".join(f"{kinds[k]:.2f}" if k in kinds else "—" for k in GENERATED_KINDS) + " |"
        )
    at_half = [r["at_threshold_0.5"]["f1"] for r in runs if r.get("at_threshold_0.5")]
    if at_half:
        lines += ["", f"`F1 at 0.5`: the same test scores at the model's own rule, P(anomalous) ≥ 0.5, instead of the "
                  f"threshold chosen on the validation windows: {mean_std_text(at_half)}, "
                  f"≥ {F1_GOAL} in {sum(f >= F1_GOAL for f in at_half)} of {len(at_half)} seeds. Shown to say where the "
                  "misses come from (ranking vs threshold); the headline keeps the validation-chosen threshold, since "
                  "picking the rule after seeing test would inflate it."]
    identical = payload.get("identical_repeats") or {}
    if identical:
        same = [seed for seed, ok in identical.items() if ok]
        lines += ["", f"Repeated runs: identical metrics and threshold for {len(same)} of {len(identical)} seeds"
                  + (f" (differ: {', '.join(s for s, ok in identical.items() if not ok)})" if len(same) < len(identical) else "")
                  + "."]
    real = [r for r in runs if r.get("real_hdfs")]
    if real:
        lines += ["", "## The quickstart model on real HDFS", "",
                  "Each seed's first model scores the 9,201 real sessions of ../shared/loghub/hdfs_2percent as `logllm "
                  "detect` decides (its own operating point; `unfamiliar` sessions are not flagged and say the model "
                  "does not know these logs).", "",
                  "| seed | sessions | anomalous | flagged | unfamiliar | precision | recall | F1 | seconds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in real:
            h = r["real_hdfs"]
            lines.append(f"| {r['seed']} | {h['labelled']:,} | {h['anomalous']} | {h['flagged']:,} | {h['unfamiliar']:,} | "
                         f"{h['precision']:.3f} | {h['recall']:.3f} | {h['f1']:.3f} | {h['seconds']:.0f} |")
    lines += ["", "Kind columns: recall of the test windows with that injected anomaly kind. `CPU s / thread`: the run's "
              "CPU time (all threads) divided by the torch threads, about its wall time on free cores (OpenMP threads "
              "wait passively, so waiting costs no CPU time)."]
    lines += [f"- Note: {note}" for note in payload.get("notes", [])]
    for item in payload["failed"]:
        lines.append(f"- Failed: seed {item['seed']}: {item['reason']}")
    lines += ["", f"Command: `{payload['command']}`", ""]
    return "\n".join(lines)


def _number(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _per_thread(row: dict[str, Any], payload: dict[str, Any]) -> str:
    cpu = row.get("cpu_seconds")
    return "—" if cpu is None else f"{cpu / max(1, payload['torch_threads']):.0f}"


def _load(row: dict[str, Any]) -> str:
    load = row.get("load_1min")
    return "—" if not load else f"{load['mean']:.1f} / {load['max']:.1f}"


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(QuickstartSeedsArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    payload = run(args)
    print(render_markdown(payload))
    return 0 if not payload["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
