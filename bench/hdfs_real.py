"""Real HDFS at 1/60 scale: LogLLM and every baseline on 9,201 real block sessions (the paper's HDFS row).

    python bench/hdfs_real.py                                       # both splits, seeds 0 1 2, every row
    python bench/hdfs_real.py --splits random --rows count novelty  # the cheap rows only
    python bench/hdfs_real.py --rows logllm_small --seeds 0 --update # one more LogLLM run, other rows kept

Data: ../shared/loghub/hdfs_2percent (every line of 9,201 blocks drawn at random from HDFS_v1, Loghub labels), built
by the project's own data build (`logllm data build --dataset hdfs`: sessions by block id, `re` masking), split
two ways with the benchmark split seed: **random** (the paper's protocol: 20% of sessions for test, 10% of the rest
for validation) and **chronological** (sessions ordered by their first timestamp, the same fractions). Every row
sees the same windows; thresholds come from validation only.

HDFS repeats itself: most test sessions occur verbatim (same masked lines, same order) in training, so F1 there
measures recall of memorised sessions as much as detection. Every row therefore also reports F1 on the test sessions
that never occur verbatim in training (`f1_unseen`).

Rows: LogLLM `small` (MiniLM + pretrained SmolLM2-135M, LoRA; train/recipes/small/hdfs.yaml) and `default` (MiniLM +
random 4-layer Llama; train/recipes/default/hdfs.yaml), each as the decoder alone (its validation threshold) and as
saved (its operating point: decoder or unseen line); event-count models; the BERT classifier; the never-seen
masked line / Drain template rules and embedding kNN. LogLLM rows also give the line-level top-1 hit: on anomalous
test sessions, is the first suspicious line one that makes the session anomalous (a template absent from
training-normal sessions, or an exception/error line)? Each LogLLM run trains in a fresh process, so its peak RSS
is its own. Writes bench/results/hdfs_real.{json,md}.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logllm.report.results import PAPER_TABLE_II
from logllm.report.summary import format_spread, mean_std, write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGHUB = ROOT.parent / "shared" / "loghub"
logger = logging.getLogger("bench.hdfs_real")

SPLITS = ("random", "chronological")
ROWS = ("count", "novelty", "bert", "logllm_default", "logllm_small")  # cheap first
LOGLLM_RECIPES = {"logllm_small": "small/hdfs", "logllm_default": "default/hdfs"}
METRICS = ("precision", "recall", "f1", "roc_auc", "pr_auc", "f1_unseen", "precision_unseen", "recall_unseen")
PROPOSAL_TARGETS = {"precision": 0.9, "recall": 0.95, "f1": 0.85}  # the project proposal (reference/000_*.txt)
# Lines that make an HDFS session anomalous by their own text (besides templates training-normal sessions lack).
ERROR_LINE = re.compile(r"exception|error|fail|interrupt", re.IGNORECASE)


@dataclass
class HdfsRealArguments:
    splits: list[str] = field(default_factory=lambda: list(SPLITS), metadata={"help": "random and/or chronological"})
    rows: list[str] = field(default_factory=lambda: list(ROWS), metadata={"help": f"row families: {', '.join(ROWS)}"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "model seeds (>= 3 for mean ± std)"})
    loghub_dir: str = field(default=str(LOGHUB), metadata={"help": "the real Loghub samples (../shared/loghub)"})
    max_sessions: int = field(default=0, metadata={"help": "use the first N sessions of the log only (0: all; tests)"})
    recipe_overrides: str = field(default="", metadata={
        "help": "extra `logllm train` arguments for every LogLLM run, one string (tests: "
                "--recipe_overrides='--model_preset tiny')"})
    isolate: bool = field(default=True, metadata={
        "help": "train each LogLLM run in a fresh process (its own peak RSS); false runs it here (tests)"})
    bert_epochs: float = field(default=1.0, metadata={"help": "BERT classifier epochs"})
    torch_threads: int = field(default=2, metadata={"help": "torch threads per run"})
    output: str = field(default=str(RESULTS / "hdfs_real"), metadata={"help": "writes <output>.json and <output>.md"})
    update: bool = field(default=False, metadata={"help": "keep the rows of <output>.json that this run does not make"})
    merge_from: list[str] = field(default_factory=list, metadata={
        "help": "JSON reports of other runs (e.g. one per split run side by side) whose splits join this report"})


# ----------------------------------------------------------------------------- data


def build_split(loghub_dir: str | Path, split: str, max_sessions: int = 0) -> Any:
    """The 2% sample as session windows with the benchmark split seed, split `random` or `chronological`."""
    from logllm.dataset.benchmarks import loghub_dataset

    folder = Path(loghub_dir) / "hdfs_2percent"
    log, labels = folder / "HDFS_2percent.log.gz", folder / "anomaly_label.csv"
    dataset = loghub_dataset("hdfs", [str(log)], "re", labels=str(labels), split_method=split)
    if max_sessions:  # a stratified head of each split, so that every split keeps both classes
        total = sum(len(part) for part in dataset.values())
        picked = {}
        for name, part in dataset.items():
            labels = part["label"]
            keep = max(4, len(part) * max_sessions // total)
            anomalous = [i for i, y in enumerate(labels) if y == 1][: max(2, keep * sum(labels) // len(part))]
            normal = [i for i, y in enumerate(labels) if y == 0][: keep - len(anomalous)]
            picked[name] = part.select(sorted(anomalous + normal))
        dataset = type(dataset)(picked)
    return dataset


def unseen_mask(train: Any, test: Any) -> np.ndarray:
    """True for test windows whose masked lines (in order) never occur as a training window, whatever its label."""
    seen = {tuple(lines) for lines in train["lines"]}
    return np.asarray([tuple(lines) not in seen for lines in test["lines"]])


def responsible_lines(window: Sequence[str], normal_templates: set[str]) -> set[str]:
    """Masked lines that make an HDFS session anomalous: absent from training-normal sessions, or an error line."""
    return {line for line in window if line not in normal_templates or ERROR_LINE.search(line)}


# ----------------------------------------------------------------------------- metrics


def metrics_row(labels: np.ndarray, scores: np.ndarray, threshold: float, unseen: np.ndarray, **facts: Any) -> dict[str, Any]:
    """P/R/F1/ROC-AUC/PR-AUC on all test windows, and P/R/F1 on those never seen verbatim in training."""
    from logllm.report.metrics import compute_metrics

    full = compute_metrics(labels, scores, threshold)
    row = {key: full[key] for key in ("precision", "recall", "f1", "roc_auc", "pr_auc")}
    if unseen.any():
        sub = compute_metrics(labels[unseen], scores[unseen], threshold)
        row.update(f1_unseen=sub["f1"], precision_unseen=sub["precision"], recall_unseen=sub["recall"])
    return {**row, "threshold": float(threshold), **facts}


def baseline_rows(family: str, dataset: Any, seeds: Sequence[int], unseen: np.ndarray, args: HdfsRealArguments
                  ) -> dict[str, list[dict[str, Any]]]:
    """Per-seed metric rows of one baseline family, every threshold from validation (protocol.choose_threshold)."""
    from logllm.baselines.protocol import choose_threshold, split_data
    from logllm.scoring.novelty import normal_lines

    data = split_data(dataset["train"], dataset["test"], dataset["validation"])
    (train_w, train_y), (test_w, test_y), (val_w, val_y) = data.train, data.test, data.validation
    rows: dict[str, list[dict[str, Any]]] = {}
    if family == "count":
        from logllm.baselines.count import UNSUPERVISED, anomaly_scores, count_model_factories

        for name, factory in count_model_factories().items():
            for seed in seeds:
                started = time.perf_counter()
                model = factory(seed).fit(train_w, None if name in UNSUPERVISED else train_y)
                fit_s = time.perf_counter() - started
                scores, default = anomaly_scores(model, test_w)
                threshold, _ = choose_threshold(anomaly_scores(model, val_w)[0], val_y, default, name not in UNSUPERVISED)
                rows.setdefault(name, []).append(metrics_row(test_y, scores, threshold, unseen, seed=seed,
                                                             train_minutes=fit_s / 60))
    elif family == "novelty":
        from logllm.baselines.novelty import EmbeddingKNN, EmbeddingKNNConfig, NewDrainTemplateRule, NewLineRule

        normal = normal_lines(train_w, train_y)
        config = EmbeddingKNNConfig()
        for name, make in (("new_masked_line", NewLineRule), ("new_drain_template", NewDrainTemplateRule),
                           ("embedding_knn", lambda: EmbeddingKNN(config))):
            rule = make()
            started = time.perf_counter()
            rule.fit(normal)
            fit_s = time.perf_counter() - started
            scores = rule.score(test_w)
            threshold = 0.5  # the rules: at least one unseen line
            if name == "embedding_knn":  # a high quantile of the normal validation windows (floor)
                val_normal = [w for w, y in zip(val_w, val_y) if y == 0]
                threshold = max(float(np.quantile(rule.score(val_normal), config.quantile)), config.floor)
            for seed in seeds:  # deterministic: one row per seed keeps the table's shape
                rows.setdefault(name, []).append(metrics_row(test_y, scores, threshold, unseen, seed=seed,
                                                             train_minutes=fit_s / 60))
    elif family == "bert":
        from logllm.baselines.neural import BertBaselineConfig, score_bert_classifier, train_bert_classifier

        config = BertBaselineConfig(epochs=args.bert_epochs, max_length=64)
        for seed in seeds:
            started = time.perf_counter()
            model, tokenizer = train_bert_classifier(dataset["train"], seed, config)
            fit_s = time.perf_counter() - started
            threshold, _ = choose_threshold(score_bert_classifier(model, tokenizer, dataset["validation"], config),
                                            val_y, 0.5, True)
            scores = score_bert_classifier(model, tokenizer, dataset["test"], config)
            rows.setdefault("bert_classifier", []).append(metrics_row(test_y, scores, threshold, unseen, seed=seed,
                                                                      train_minutes=fit_s / 60))
    else:
        raise ValueError(f"unknown baseline family {family!r}")
    return rows


# ----------------------------------------------------------------------------- LogLLM (one process per run)


def logllm_run(recipe: str, args: HdfsRealArguments, split: str, seed: int, work: str) -> dict[str, Any]:
    """Train with `recipe` on the split (rebuilt here: 3 s), then score validation/test; runs in a fresh process."""
    import resource

    import torch

    from logllm.scoring.detector import Detector
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    torch.set_num_threads(args.torch_threads)
    dataset = build_split(args.loghub_dir, split, args.max_sessions)
    script_args, training_args, model_args = parse_arguments([
        "--config", recipe, "--dataset_name", f"hdfs_2percent ({split} split)", "--output_dir", work,
        "--seed", str(seed), "--evaluate_test", "false", "--disable_tqdm", "true", "--report_to", "none",
        "--overwrite_output_dir", "true", *shlex.split(args.recipe_overrides)])
    started = time.perf_counter()
    result = run_training(script_args, training_args, model_args, dataset=dataset)
    train_s = time.perf_counter() - started
    detector = Detector.load(str(result.final_model_dir))
    signals = {}
    for split in ("validation", "test"):
        started = time.perf_counter()
        signals[split] = detector.signals(dataset[split]["lines"], preprocessed=True)
        signals[f"{split}_seconds"] = time.perf_counter() - started
    test = dataset["test"]
    anomalous = [i for i, y in enumerate(test["label"]) if y == 1]
    windows = [{"lines": test[i]["lines"], "window_id": test[i]["window_id"], "label": 1,
                "line_numbers": list(range(1, len(test[i]["lines"]) + 1))} for i in anomalous]
    results = detector.score(windows, line_scores=True, preprocessed=True)
    top = [r.suspicious_lines(k=1, novelty_threshold=detector.novelty_threshold) for r in results]
    stage = result.stages[-1]
    return {
        "score": signals["test"]["score"].tolist(), "ranking": signals["test"]["ranking"].tolist(),
        "threshold": detector.point.threshold, "use_novelty": detector.use_novelty,
        "top_line": [t[0][2] if t else None for t in top], "anomalous_index": anomalous,
        "train_minutes": train_s / 60, "test_windows_per_s": len(test) / signals["test_seconds"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "windows": stage.get("windows"), "distinct_windows": stage.get("distinct_windows"),
        "forward_passes": sum(s.get("forward_passes") or 0 for s in result.stages),
        "operating_point": detector.point.to_dict(),
    }


def logllm_rows(family: str, dataset: Any, split: str, seeds: Sequence[int], unseen: np.ndarray,
                args: HdfsRealArguments) -> dict[str, list[dict[str, Any]]]:
    """Decoder-alone and operating-point rows of one LogLLM family, one fresh process per seed."""
    test_y = np.asarray(dataset["test"]["label"])
    normal_templates = {line for w, y in zip(dataset["train"]["lines"], dataset["train"]["label"]) if y == 0 for line in w}
    context = multiprocessing.get_context("spawn")
    rows: dict[str, list[dict[str, Any]]] = {}
    name = family.removeprefix("logllm_")
    for seed in seeds:
        with tempfile.TemporaryDirectory() as work:
            if args.isolate:
                with context.Pool(1) as pool:
                    run = pool.apply(logllm_run, (LOGLLM_RECIPES[family], args, split, seed, work))
            else:
                run = logllm_run(LOGLLM_RECIPES[family], args, split, seed, work)
        hits = [line in responsible_lines(dataset["test"][i]["lines"], normal_templates)
                for i, line in zip(run["anomalous_index"], run["top_line"]) if line is not None]
        facts = {key: run[key] for key in ("train_minutes", "test_windows_per_s", "peak_rss_mb", "windows",
                                           "distinct_windows", "forward_passes")}
        facts.update(seed=seed, line_top1_hit=float(np.mean(hits)) if hits else None,
                     line_top1_sessions=len(hits))
        score, ranking = np.asarray(run["score"]), np.asarray(run["ranking"])
        rows.setdefault(f"LogLLM {name} (decoder)", []).append(metrics_row(test_y, score, run["threshold"], unseen, **facts))
        decision = (ranking, 0.5) if run["use_novelty"] else (score, run["threshold"])
        rows.setdefault(f"LogLLM {name} (operating point)", []).append(
            metrics_row(test_y, *decision, unseen, **facts, novelty_on=run["use_novelty"]))
        logger.info("%s seed %d: F1 %.4f (decoder), %.1f min", family, seed, rows[f"LogLLM {name} (decoder)"][-1]["f1"],
                    run["train_minutes"])
    return rows


# ----------------------------------------------------------------------------- the run and its report


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (*METRICS, "train_minutes", "test_windows_per_s", "peak_rss_mb", "line_top1_hit")
    mean, std = {}, {}
    for key in keys:
        mean[key], std[key] = mean_std(r.get(key) for r in runs)
    return {"runs": runs, "mean": mean, "std": std}


def run(args: HdfsRealArguments) -> dict[str, Any]:
    import torch

    from logllm.report.evaluate import hardware_info

    torch.set_num_threads(args.torch_threads)
    unknown = set(args.rows) - set(ROWS) or set(args.splits) - set(SPLITS)
    if unknown:
        raise SystemExit(f"unknown rows/splits {sorted(unknown)}; rows: {ROWS}, splits: {SPLITS}")
    out = Path(args.output)
    payload: dict[str, Any] = {"benchmark": "hdfs_real", "arguments": asdict(args), "hardware": hardware_info(),
                               "splits": {}}
    if args.update and out.with_suffix(".json").is_file():
        payload["splits"] = json.loads(out.with_suffix(".json").read_text(encoding="utf-8")).get("splits", {})
    for other in args.merge_from:
        merged = json.loads(Path(other).read_text(encoding="utf-8"))
        for split, entry in merged.get("splits", {}).items():
            mine = payload["splits"].setdefault(split, {"rows": {}})
            mine["data"] = entry.get("data", mine.get("data"))
            mine["rows"].update(entry.get("rows", {}))
        payload.setdefault("merged_hardware", []).append(merged.get("hardware"))
    for split in args.splits:
        dataset = build_split(args.loghub_dir, split, args.max_sessions)
        unseen = unseen_mask(dataset["train"], dataset["test"])
        entry = payload["splits"].setdefault(split, {"rows": {}})
        entry["data"] = {name: {"windows": len(part), "anomalous": int(sum(part["label"]))} for name, part in dataset.items()}
        entry["data"]["test_unseen"] = {"windows": int(unseen.sum()),
                                        "anomalous": int(np.asarray(dataset["test"]["label"])[unseen].sum())}
        entry["data"]["train_distinct"] = len({(tuple(w), y) for w, y in zip(dataset["train"]["lines"], dataset["train"]["label"])})
        for family in args.rows:
            started = time.perf_counter()
            if family.startswith("logllm"):
                rows = logllm_rows(family, dataset, split, args.seeds, unseen, args)
            else:
                rows = baseline_rows(family, dataset, args.seeds, unseen, args)
            for name, runs in rows.items():
                entry["rows"][name] = {"family": family, **summarise(runs)}
            logger.info("%s / %s: %.1f min", split, family, (time.perf_counter() - started) / 60)
            write_report(payload, out, render)
    write_report(payload, out, render)
    return payload


def render(payload: dict[str, Any]) -> str:
    hw = payload["hardware"]
    lines = ["# Real HDFS at 1/60 scale (bench/hdfs_real.py)", "",
             "Data: ../shared/loghub/hdfs_2percent, 9,201 real HDFS_v1 block sessions (280 anomalous) drawn at random "
             "from the whole log, Loghub labels; sessions by block id, `re` masking; split seed 42. Seeds: "
             f"{payload['arguments']['seeds']}. Hardware: {hw.get('summary')} ({hw.get('cpu')}), torch "
             f"{hw.get('torch')}, {payload['arguments']['torch_threads']} torch thread(s) per run. Thresholds from "
             "validation only. `F1 unseen`: F1 on the test sessions that never occur verbatim in training. Mean ± "
             "sample std over seeds; rules are deterministic (std 0).", ""]
    for split, entry in payload["splits"].items():
        d = entry["data"]
        lines += [f"## {split} split", "",
                  f"train {d['train']['windows']:,} sessions ({d['train']['anomalous']} anomalous; "
                  f"{d.get('train_distinct', '?'):,} distinct (window, label)), validation {d['validation']['windows']:,} "
                  f"({d['validation']['anomalous']}), test {d['test']['windows']:,} ({d['test']['anomalous']}); "
                  f"test sessions never seen verbatim in training: {d['test_unseen']['windows']:,} "
                  f"({d['test_unseen']['anomalous']} anomalous).", "",
                  "| row | precision | recall | F1 | ROC-AUC | PR-AUC | F1 unseen | train min | test windows/s | peak RSS MB | line top-1 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        ordered = sorted(entry["rows"].items(), key=lambda kv: -(kv[1]["mean"].get("f1") or 0))
        for name, row in ordered:
            m, s = row["mean"], row["std"]
            cell = lambda k, digits=3: format_spread(m.get(k), s.get(k), digits) if m.get(k) is not None else "-"  # noqa: E731
            lines.append(f"| {name} | {cell('precision')} | {cell('recall')} | {cell('f1')} | {cell('roc_auc')} | "
                         f"{cell('pr_auc')} | {cell('f1_unseen')} | {cell('train_minutes', 1)} | "
                         f"{cell('test_windows_per_s', 0)} | {cell('peak_rss_mb', 0)} | {cell('line_top1_hit', 2)} |")
        lines.append("")
    p, r, f = PAPER_TABLE_II["LogLLM"]["HDFS"]
    lines += ["## Published (full HDFS, the paper's random 8:2 split) and targets", "",
              "| method | precision | recall | F1 |", "|---|---|---|---|",
              f"| LogLLM (paper, Table II) | {p:.3f} | {r:.3f} | {f:.3f} |"]
    for method in ("NeuralLog", "CNN", "LogRobust", "DeepLog"):
        p, r, f = PAPER_TABLE_II[method]["HDFS"]
        lines.append(f"| {method} (paper, Table II) | {p:.3f} | {r:.3f} | {f:.3f} |")
    t = PROPOSAL_TARGETS
    lines += [f"| project proposal targets | > {t['precision']} | > {t['recall']} | > {t['f1']} |", "",
              "Line top-1: share of anomalous test sessions whose first suspicious line (as `logllm detect` shows it) is "
              "a template absent from training-normal sessions or an exception/error line.", ""]
    if payload.get("notes"):
        lines += ["## Goals, what was not run, notes", ""] + [f"- {note}" for note in payload["notes"]] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(HdfsRealArguments).parse_args_into_dataclasses(args=argv)
    return run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
