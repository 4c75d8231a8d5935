"""How unlike its training logs is a log? The share of unseen lines on the model's own kind of logs vs 13 other systems.

A window is *unfamiliar* when more than `unfamiliar_line_share` (0.5) of its distinct lines (as the model reads them,
masked) are farther from every training-normal line than the novelty threshold; an input is unfamiliar when more
than `UNFAMILIAR_INPUT_SHARE` (0.5) of its windows are (logllm/scoring/operating_point.py,
logllm/report/detection.py). This benchmark measures both shares where the answer is known:

- **own kind, held out**: the test windows of the logs the index was built from (their train split) and the
  operating point chosen on (their validation split), never seen: synthetic HDFS-like sessions (the quickstart's
  kind) and, for real logs with new lines in them, BGL_2k's chronological test split;
- **foreign**: the 13 unlabeled Loghub systems (`<S>/<S>_2k.log`, read as `logllm detect` reads them, sliding 50/50
  windows), which neither index has seen;
- for reference, the other Loghub samples (real HDFS, BGL, Thunderbird): other logs again, reported, not judged.

The limits are good when own-kind windows stay under the window limit and every foreign system is over the input
limit; the report gives both distributions, so the margin is visible, not assumed.

Line-level evidence on BGL_2k (its lines carry labels): on the test windows of the BGL_2k model, top-1 hit (the first
suspicious line of an anomalous window is an anomalous line) and precision/recall/F1 of the highlighted lines (the
top-k suspicious lines of flagged windows) against the line labels.

The model: the offline default (`logllm.modeling.presets.build_default`: the pretrained all-MiniLM-L6-v2 encoder that
novelty is measured with) with an untrained decoder: familiarity depends only on the encoder and the index, but the
decoder's own line evidence is noise, so the line-level numbers are those of the novelty evidence ("unseen line").

    python bench/familiarity.py                      # a few minutes on 2 CPU cores
    python bench/familiarity.py --lines 500          # quicker, first 500 lines of each system
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import logging
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from logllm.dataset.user_logs import read_input
from logllm.report.detection import UNFAMILIAR_INPUT_SHARE
from logllm.report.summary import write_report

logger = logging.getLogger(__name__)

FOREIGN_SYSTEMS = ("Android", "Apache", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH", "OpenStack",
                   "Proxifier", "Spark", "Windows", "Zookeeper")
REFERENCE_SYSTEMS = ("HDFS", "BGL", "Thunderbird")


@dataclass
class FamiliarityArguments:
    output: str = field(default="bench/results/familiarity", metadata={"help": "writes OUTPUT.json and OUTPUT.md"})
    loghub_dir: str = field(default="../shared/loghub", metadata={"help": "the shared Loghub samples"})
    sessions: int = field(default=600, metadata={"help": "synthetic HDFS-like sessions (windows) of the own kind"})
    lines: int = field(default=2000, metadata={"help": "lines read from each Loghub sample (2000: all)"})
    window: str = field(default="sliding:50:50", metadata={"help": "window for the plain-text Loghub systems"})
    seed: int = field(default=0, metadata={"help": "seed of the synthetic logs, the split and the model"})
    top_k: int = field(default=3, metadata={"help": "suspicious lines highlighted per flagged window (line level)"})
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's)"})


def with_index(model: Any, processor: Any, splits: Any, name: str, **facts: Any) -> Any:
    """A `Detector` for `model` after giving it a novelty index of the train split's normal lines and the operating
    point chosen on the validation split (what a trained model folder carries)."""
    from logllm.scoring.detector import Detector
    from logllm.scoring.novelty import build_novelty_index, normal_lines
    from logllm.scoring.operating_point import choose_operating_point

    build_novelty_index(model, processor, normal_lines(splits["train"]["lines"], splits["train"]["label"]))
    signals = Detector(model, processor, name).signals(splits["validation"]["lines"], preprocessed=True, novelty=True)
    choose_operating_point(signals["score"], splits["validation"]["label"], signals["novelty"], **facts).save_to(model)
    return Detector(model, processor, name, batch_size=16)


def distribution(values: list[float]) -> dict[str, Any]:
    values = sorted(values)
    if not values:
        return {"n": 0}

    def q(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 4)

    return {"n": len(values), "min": round(values[0], 4), "p05": q(0.05), "median": round(statistics.median(values), 4),
            "p95": q(0.95), "max": round(values[-1], 4)}


def measure(detector: Any, windows: list[dict], preprocessed: bool) -> dict[str, Any]:
    """Per-window unseen shares and statuses, the input's unfamiliar-window share and unseen distinct-line share."""
    from logllm.report.detection import UNFAMILIAR_INPUT_SHARE, DetectionTally

    results = detector.score(windows, line_scores=False, preprocessed=preprocessed)
    tally = DetectionTally(max_rows=0, novelty_threshold=detector.novelty_threshold)
    for result in results:
        tally.add(result)
    facts = tally.familiarity()
    return {
        "windows": len(results),
        "unfamiliar_windows": facts["unfamiliar_windows"],
        "unfamiliar_window_share": facts["unfamiliar_share"],
        "unseen_line_share": facts["unseen_line_share"],
        "anomalous_windows": sum(r.status == "anomalous" for r in results),
        "unfamiliar_input": facts["unfamiliar_input"],
        "input_limit": UNFAMILIAR_INPUT_SHARE,
        "window_unseen_share": distribution([r.unseen_share for r in results if r.unseen_share is not None]),
        "_shares": [r.unseen_share for r in results],
    }


def head_file(path: Path, lines: int, out_dir: Path) -> Path:
    """The first `lines` lines of a sample (the whole file when it has no more)."""
    with open(path, "rb") as handle:
        data = b"".join(line for _, line in zip(range(lines), handle))
    out = out_dir / path.name
    out.write_bytes(data)
    return out


def windows_of(split: Any) -> list[dict]:
    return [dict(zip(split.column_names, values)) for values in zip(*(split[c] for c in split.column_names))]


def bgl_splits(loghub: Path, seed: int) -> Any:
    """BGL_2k as a model trained on it would see it: sliding 20/20 windows, chronological 7:1:2 split."""
    from logllm.dataset.build import BuildSettings, build_dataset

    return build_dataset(BuildSettings(dataset="bgl", inputs=[str(loghub / "loghub" / "BGL" / "BGL_2k.log")],
                                       window_size=20, step=20, seed=seed))


def line_level(detector: Any, test: list[dict], top_k: int) -> dict[str, Any]:
    """Top-1 hit and line P/R/F1 of the highlighted lines (top-k suspicious lines of flagged windows)."""
    from logllm.report.metrics import line_level_metrics

    results = detector.score(test, preprocessed=True, line_scores="flagged")
    found = line_level_metrics(results, [r.anomalous for r in results], top_k, detector.novelty_threshold)
    return {
        "dataset": "BGL_2k, sliding 20/20, chronological split (test windows)",
        "test_windows": found["windows"], "anomalous_test_windows": found["windows_with_anomalous_lines"],
        "flagged_windows": found["flagged_windows"],
        "top1_hit_rate": None if found["top1_hit_rate"] is None else round(found["top1_hit_rate"], 4),
        **{k: round(found[k], 4) for k in ("line_precision", "line_recall", "line_f1")},
        "top_k": top_k, "novelty_threshold": detector.novelty_threshold, "threshold": detector.threshold,
    }


def measure_model(detector: Any, own_name: str, own: list[dict], loghub: Path, args: FamiliarityArguments,
                  references: tuple[str, ...], tmp: Path) -> dict[str, Any]:
    """Own-kind held-out windows vs the 13 foreign systems (and reference samples) for one model."""
    point = detector.point
    rows: dict[str, Any] = {
        "novelty_threshold": point.novelty_threshold, "novelty_source": point.novelty_source,
        "index_lines": int(detector.model.config.novelty_index_size),
        "unfamiliar_line_share": point.unfamiliar_line_share,
        "own_kind": {own_name: measure(detector, own, preprocessed=True)}, "foreign": {}, "reference": {},
    }
    for group, systems in (("foreign", FOREIGN_SYSTEMS), ("reference", references)):
        for system in systems:
            sample = head_file(loghub / "loghub" / system / f"{system}_2k.log", args.lines, tmp)
            read = read_input(sample, window=None if system in REFERENCE_SYSTEMS else args.window)
            row = measure(detector, read.windows, preprocessed=False)
            row.update(format=read.fmt, window=str(read.window), lines=read.n_lines)
            rows[group][system] = row
            logger.info("%s: %s", system, {k: v for k, v in row.items() if not k.startswith("_")})
    own_shares = [s for row in rows["own_kind"].values() for s in row.pop("_shares") if s is not None]
    foreign_shares = [s for row in rows["foreign"].values() for s in row.pop("_shares") if s is not None]
    for row in rows["reference"].values():
        row.pop("_shares")
    foreign_inputs = [row["unfamiliar_window_share"] for row in rows["foreign"].values()]
    rows["separation"] = {
        "own_kind_window_unseen_share": distribution(own_shares),
        "own_kind_windows_over_limit": sum(s > point.unfamiliar_line_share for s in own_shares),
        "foreign_window_unseen_share": distribution(foreign_shares),
        "foreign_windows_at_or_under_limit": sum(s <= point.unfamiliar_line_share for s in foreign_shares),
        "own_kind_input_unfamiliar_share": rows["own_kind"][own_name]["unfamiliar_window_share"],
        "foreign_input_unfamiliar_share_min": min(foreign_inputs),
        "foreign_systems_reported_unfamiliar": sum(row["unfamiliar_input"] for row in rows["foreign"].values()),
    }
    return rows


def run(args: FamiliarityArguments) -> dict[str, Any]:
    import tempfile

    import torch

    from logllm.dataset.build import build_synthetic_dataset
    from logllm.modeling.presets import build_default

    if args.threads:
        torch.set_num_threads(args.threads)
    loghub = Path(args.loghub_dir)
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "args": asdict(args), "models": {},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        splits = build_synthetic_dataset(kind="hdfs", n_windows=args.sessions, anomaly_ratio=0.1, seed=args.seed)
        model, processor = build_default(seed=args.seed)
        detector = with_index(model, processor, splits, "offline default + synthetic HDFS index",
                              dataset="synthetic-hdfs", preprocessing="re")
        payload["models"]["synthetic HDFS-like (the quickstart's kind)"] = measure_model(
            detector, "synthetic HDFS-like, held-out test split", windows_of(splits["test"]), loghub, args,
            REFERENCE_SYSTEMS, Path(tmp))
        bgl = bgl_splits(loghub, args.seed)
        model, processor = build_default(seed=args.seed)
        detector = with_index(model, processor, bgl, "offline default + BGL_2k train index", dataset="BGL_2k")
        test = windows_of(bgl["test"])
        payload["models"]["BGL_2k train split (real logs)"] = measure_model(
            detector, "BGL_2k, held-out test split", test, loghub, args, ("HDFS", "Thunderbird"), Path(tmp))
        payload["line_level"] = line_level(detector, test, args.top_k)
    payload["seconds"] = round(time.perf_counter() - started, 1)
    return payload


def render(p: dict[str, Any]) -> str:
    out = [
        "# Familiarity: the model's own kind of logs vs systems it never saw",
        "",
        "Offline default model (all-MiniLM-L6-v2 encoder, untrained decoder: familiarity depends only on the encoder "
        "and the index) with a novelty index of a training split's normal lines and the operating point chosen on its "
        "validation split. A window is unfamiliar when more than the window limit of its distinct (masked) lines are "
        "over the novelty threshold; an input when more than "
        f"{UNFAMILIAR_INPUT_SHARE:.2f} of its windows are. Foreign systems: the first {p['args']['lines']} lines of "
        f"each Loghub `<S>_2k.log`, windows {p['args']['window']}. {p['machine']}; {p['seconds']} s. "
        f"`python bench/familiarity.py` (written {p.get('created', '?')}).",
    ]
    for title, m in p["models"].items():
        s = m["separation"]
        out += [
            "",
            f"## Index: {title}",
            "",
            f"{m['index_lines']} distinct training-normal lines; novelty threshold {m['novelty_threshold']:.4f} "
            f"({m['novelty_source']}); window limit {m['unfamiliar_line_share']:.2f}.",
            "",
            "| logs | format, window | windows | unseen share per window: min / median / max | unfamiliar windows "
            "| unseen distinct lines | reported unfamiliar |",
            "|---|---|---:|---|---:|---:|---|",
        ]
        for group in ("own_kind", "foreign", "reference"):
            for name, row in m[group].items():
                d = row["window_unseen_share"]
                label = {"own_kind": f"**own kind**: {name}", "foreign": name, "reference": f"{name} (reference)"}[group]
                where = f"{row.get('format', 'dataset')}, {row.get('window', 'as built')}"
                spread = f"{d['min']:.2f} / {d['median']:.2f} / {d['max']:.2f}" if d.get("n") else "n/a"
                out.append(f"| {label} | {where} | {row['windows']} | {spread} | {row['unfamiliar_window_share']:.0%} "
                           f"| {row['unseen_line_share']:.0%} | {'yes' if row['unfamiliar_input'] else 'no'} |")
        ow, fw = s["own_kind_window_unseen_share"], s["foreign_window_unseen_share"]
        out += [
            "",
            f"- Window limit: own-kind held-out windows have unseen shares {ow['min']:.2f}–{ow['max']:.2f} (95th "
            f"percentile {ow['p95']:.2f}; {s['own_kind_windows_over_limit']} of {ow['n']} over the limit); foreign "
            f"windows {fw['min']:.2f}–{fw['max']:.2f} (5th percentile {fw['p05']:.2f}; "
            f"{s['foreign_windows_at_or_under_limit']} of {fw['n']} at or under the limit).",
            f"- Input limit: the own-kind held-out input has {s['own_kind_input_unfamiliar_share']:.0%} unfamiliar "
            f"windows; the least unfamiliar foreign system {s['foreign_input_unfamiliar_share_min']:.0%}; "
            f"{s['foreign_systems_reported_unfamiliar']} of {len(m['foreign'])} foreign systems are reported unfamiliar.",
        ]
    ll = p["line_level"]
    out += [
        "",
        "## Line-level evidence (BGL_2k line labels)",
        "",
        f"{ll['dataset']}, index of the BGL_2k training split above: {ll['test_windows']} test windows, "
        f"{ll['anomalous_test_windows']} with an anomalous line, {ll['flagged_windows']} flagged. The decoder is "
        "untrained, so the highlighted lines that mean something are the \"unseen line\" ones (novelty); a trained "
        "model's numbers belong in its own bench run.",
        "",
        "| top-1 hit (anomalous windows) | line precision | line recall | line F1 | top-k |",
        "|---:|---:|---:|---:|---:|",
        f"| {ll['top1_hit_rate'] if ll['top1_hit_rate'] is not None else 'n/a'} | {ll['line_precision']:.3f} "
        f"| {ll['line_recall']:.3f} | {ll['line_f1']:.3f} | {ll['top_k']} |",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(FamiliarityArguments).parse_args_into_dataclasses(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    payload = run(args)
    write_report(payload, args.output, render)
    print(render(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
