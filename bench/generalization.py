"""Generalization benchmark: unseen anomaly types, few labels, other systems, normal-only training, known kinds.

For every setting, LogLLM (decoder alone and novelty-aware), the novelty baselines (new masked line, new Drain
template, embedding kNN), the event-count baselines and the BERT classifier are trained and scored on exactly the
same windows; every threshold comes from the validation split (never test): best F1 for the scored models, the
saved operating point for novelty-aware LogLLM, "at least one unseen line" for the new-line rules and a quantile of
the normal validation windows for kNN. Each number is a mean ± sample std over seeds. Writes
``bench/results/generalization.json`` and ``.md`` plus PNG plots (F1 vs label fraction,
per-category recall).

    python bench/generalization.py                      # everything, ~12 min on 2 CPU cores
    python bench/generalization.py --methods count novelty bert # skip LogLLM (fast)
    python bench/generalization.py --settings unseen_type few_labels --seeds 0 1 2

Sizes are deliberately small (CPU only): short sliding windows over the real Loghub samples in
../shared/loghub, lines cut to ``max_line_chars``, the default offline model (MiniLM encoder +
small random Llama decoder) with short stages. A part whose code is not importable (e.g. the
LogLLM trainer) is skipped and reported as missing, never faked.
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logllm.dataset.generalization import (
    alert_lines,
    insert_alert_lines,
    categorize_by_anomaly_templates,
    category_counts,
    combine_systems,
    cross_system_split,
    subsample_labels,
    unseen_type_split,
)
from logllm.report.metrics import per_category_recall
from logllm.report.summary import format_spread, mean_std

ROOT = Path(__file__).resolve().parents[1]

logger = logging.getLogger("bench.generalization")

SETTINGS = ("unseen_type", "few_labels", "cross_system", "normal_only", "known_kind")
# run in this order: cheap first; LogLLM with the random decoder (default preset), then with the pretrained SmolLM2
# (small preset, LoRA; then QLoRA); the BERT classifier last
METHODS = ("count", "novelty", "logllm", "logllm_small", "logllm_small_qlora", "bert")
LOGLLM_FAMILIES = ("logllm", "logllm_small", "logllm_small_qlora")
BGL_APP = ("APPCHILD", "APPOUT", "APPREAD", "APPRES", "APPSEV", "APPTO")
# synthetic kinds held out: train on structural anomalies, test on textual ones never seen labeled
HDFS_HELD_OUT_KINDS = ("error_burst", "unseen_template")


@dataclass
class GeneralizationArguments:
    """Sizes and switches of the generalization benchmark (defaults sized for ~12 min on 2 cores)."""

    output_dir: str = field(default=str(ROOT / "bench" / "results"), metadata={"help": "where generalization.* go"})
    loghub_dir: str = field(default=str(ROOT.parent / "shared" / "loghub"), metadata={"help": "real Loghub samples"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "split + training seeds"})
    settings: list[str] = field(default_factory=lambda: list(SETTINGS), metadata={"help": f"of {SETTINGS}"})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"of {METHODS}"})
    window_size: int = field(default=10, metadata={"help": "sliding window size = step (lines)"})
    max_line_chars: int = field(default=120, metadata={"help": "cut each line to this many characters"})
    thunderbird_lines: int = field(default=3000, metadata={"help": "first N lines of the Thunderbird subset"})
    synthetic_sessions: int = field(default=240, metadata={"help": "synthetic HDFS-like sessions"})
    deeplog_sessions: list[int] = field(default_factory=lambda: [400, 100], metadata={
        "help": "normal, anomalous DeepLog HDFS sessions sampled (seed 0) for the known-kind HDFS task"})
    deeplog_max_lines: int = field(default=50, metadata={"help": "lines per DeepLog session kept (p99 length is 42)"})
    label_fractions: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1, 1.0])
    finetune_fraction: float = field(default=0.05, metadata={"help": "target windows used for the small fine-tune"})
    max_train_windows: int = field(default=80, metadata={"help": "cap on training windows per run (seeded)"})
    # LogLLM (kept short: CPU)
    logllm_variants: list[str] = field(default_factory=list,
                                       metadata={"help": "run LogLLM only on these variants, in this order, all seeds of "
                                                         "one before the next (empty: all, seed by seed)"})
    bert_variants: list[str] = field(default_factory=list,
                                     metadata={"help": "run the BERT classifier only on these variants (empty: all)"})
    logllm_preset: str = field(default="default", metadata={"help": "model preset for the `logllm` runs"})
    logllm_recipe: str = field(default="default/generalization", metadata={"help": "training recipe (stages, rates, epochs) for the `logllm` runs"})
    small_recipe: str = field(default="small/generalization", metadata={"help": "recipe of the `logllm_small` runs (small preset, LoRA)"})
    small_qlora_recipe: str = field(default="small/generalization_qlora", metadata={"help": "recipe of the `logllm_small_qlora` runs"})
    line_top_k: int = field(default=3, metadata={"help": "suspicious lines highlighted per flagged window (line-level metrics)"})
    logllm_max_tokens_per_line: int = field(default=32)
    torch_threads: int = field(default=1, metadata={"help": "torch CPU threads: on a shared 2-core machine 2 threads "
                                                            "made a LogLLM run ~4.5x slower than 1 (381 s vs 84 s)"})
    # BERT classifier
    merge: list[str] = field(default_factory=list, metadata={
        "help": "instead of running, merge the runs of these generalization.json files (e.g. seeds run in parallel)"})
    bert_epochs: float = field(default=2.0)
    bert_max_length: int = field(default=128)

    def family_recipes(self) -> dict[str, dict[str, str]]:
        """Preset and training recipe of each LogLLM family (also written into generalization.json)."""
        return {"logllm": {"preset": self.logllm_preset, "recipe": self.logllm_recipe},
                "logllm_small": {"preset": "small", "recipe": self.small_recipe},
                "logllm_small_qlora": {"preset": "small", "recipe": self.small_qlora_recipe}}


# ============================================================================ data
def _preprocess() -> Callable[[str], str]:
    from logllm.dataset.normal_only import _default_preprocess

    return _default_preprocess()


def _cut(rows: list[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    for row in rows:
        row["lines"] = [x[:max_chars] for x in row["lines"]]
        row["raw_lines"] = [x[:max_chars] for x in row["raw_lines"]]
    return rows


def load_loghub_windows(path: Path, fmt: str, window_size: int, max_lines: int | None, max_chars: int) -> list[dict[str, Any]]:
    """Sliding windows (size = step) over a labeled Loghub file, through the project's parser."""
    from itertools import islice

    from logllm.logs.formats import parse_file  # DATA's streaming parsers
    from logllm.windows.windowing import sliding_windows

    records = islice(parse_file(str(path), fmt), max_lines)
    rows = [w for w in sliding_windows(records, window_size, window_size, _preprocess()) if len(w["lines"]) == window_size]
    return _cut(rows, max_chars)


def load_synthetic_hdfs(n_sessions: int, seed: int, max_chars: int, anomaly_rate: float = 0.25) -> list[dict[str, Any]]:
    """Synthetic HDFS-like sessions (DATA's generator, categories = injected anomaly kinds), by block id."""
    from logllm.logs.synthetic import generate_hdfs_like
    from logllm.windows.windowing import session_windows

    records = generate_hdfs_like(n_sessions=n_sessions, seed=seed, anomaly_rate=anomaly_rate)
    return _cut([dict(w) for w in session_windows(records, preprocess=_preprocess())], max_chars)


def load_deeplog_hdfs(loghub: Path, n_normal: int, n_anomalous: int, max_lines: int) -> list[dict[str, Any]]:
    """A seeded sample of DeepLog's real HDFS sessions (event keys as lines ``E<k>``; one session = one window).

    The two files hold 3,855 normal and 12,000 anomalous sessions; the sample keeps anomalies a minority as in HDFS.
    Sessions longer than ``max_lines`` keep their first lines (the same windows for every method)."""
    import random

    rows = []
    for name, label, n in (("hdfs_train_normal_3855", 0, n_normal), ("hdfs_abnormal_12000", 1, n_anomalous)):
        sessions = [line.split() for line in (loghub / "deeplog_hdfs" / name).read_text(encoding="utf-8").splitlines()]
        numbered = [(i, keys) for i, keys in enumerate(sessions, start=1) if keys]
        for number, keys in sorted(random.Random(0).sample(numbered, min(n, len(numbered)))):
            keys = keys[:max_lines]
            rows.append({"window_id": f"{name}:{number}", "source": name, "lines": [f"E{k}" for k in keys],
                         "raw_lines": list(keys), "line_numbers": [number] * len(keys), "line_labels": [label] * len(keys),
                         "label": label, "categories": ["hdfs_anomaly"] if label else [], "start_time": None,
                         "end_time": None})
    return rows


# ============================================================================ tasks
@dataclass
class Task:
    """One (setting, variant, seed): the exact windows every method trains and is scored on."""

    setting: str
    variant: str
    seed: int
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    test: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    test_systems: list[str] | None = None  # per-system results for the multi-system model
    label_fraction: float | None = None
    max_lines: int | None = None  # lines per window LogLLM reads (None: the sliding window size)


def _cap(rows: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """At most n rows, stratified and seeded (all anomalies kept while they fit)."""
    if len(rows) <= n:
        return rows
    capped, _ = subsample_labels(rows, n / len(rows), seed=seed)
    return list(capped)


def _carve(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(a stratified seeded ``fraction`` of rows, the rest)."""
    part, _ = subsample_labels(rows, fraction, seed=seed)
    ids = {r["window_id"] for r in part}
    return list(part), [r for r in rows if r["window_id"] not in ids]


def _random_split(rows: list[dict[str, Any]], seed: int, test: float = 0.3, val: float = 0.15):
    """Seeded stratified train/validation/test (the windows of these samples are not in time order)."""
    test_rows, rest = _carve(rows, test, seed)
    val_rows, train_rows = _carve(rest, val / (1 - test), seed + 1)
    return train_rows, val_rows, test_rows


def _every_other_template(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """Hold out T2, T4, ... (anomaly-only templates by frequency rank); sequence-only anomalies stay in training."""
    from logllm.dataset.generalization import NO_ANOMALY_ONLY_TEMPLATE

    ids = sorted((c for c in category_counts(rows) if c != NO_ANOMALY_ONLY_TEMPLATE), key=lambda c: int(c[1:]))
    return tuple(ids[1::2])


def unseen_type_tasks(data: dict[str, list[dict[str, Any]]], args: GeneralizationArguments, notes: dict[str, str]) -> list[Task]:
    tasks = []
    variants: list[tuple[str, str, Sequence[str] | None]] = []
    if "bgl" in data:
        variants.append(("bgl_app_held_out", "bgl", BGL_APP))  # train on KERN* alerts, test on APP* alerts
        kern = tuple(sorted(c for c in category_counts(data["bgl"]) if c not in BGL_APP))
        variants.append(("bgl_kern_held_out", "bgl", kern))  # the reverse: train on APP*, test on KERN*
    if "hdfs_synthetic" in data:
        variants.append(("hdfs_synthetic_kinds_held_out", "hdfs_synthetic", HDFS_HELD_OUT_KINDS))
    if "hdfs_synthetic_templates" in data:  # categories = templates seen only in anomalous sessions
        variants.append(("hdfs_synthetic_templates_held_out", "hdfs_synthetic_templates", None))
    for name, system, held in variants:
        # held-out categories are fixed per variant (documented); the seed varies the split and training
        held = held or _every_other_template(data[system])
        for seed in args.seeds:
            try:
                split = unseen_type_split(data[system], held, seed=seed, test_normal_fraction=0.3, validation_fraction=0.2)
            except ValueError as err:  # too few anomalies of some kind at this size: say so, run the rest
                notes[f"{name} skipped"] = str(err)
                logger.warning("%s skipped: %s", name, err)
                break
            tasks.append(Task("unseen_type", name, seed, _cap(list(split.train), args.max_train_windows, seed),
                              list(split.validation), list(split.test), info=split.describe()))
    if {"thunderbird", "bgl"} <= set(data):
        tasks += [foreign_alert_task(data, seed, args) for seed in args.seeds]
    return tasks


def foreign_alert_task(data: dict[str, list[dict[str, Any]]], seed: int, args: GeneralizationArguments) -> Task:
    """Real unseen kinds from another system: train and validate on Thunderbird (its anomalies are VAPI alerts); the
    test holds Thunderbird's held-out normal windows, and in a seeded half of them one line is replaced by a real
    BGL alert line (any of its categories) -- the failure kind, and the system it comes from, training never saw."""
    import random

    rng = random.Random(seed)
    train, val, test = _random_split(data["thunderbird"], seed)
    alerts = alert_lines(data["bgl"])
    normals = insert_alert_lines([dict(r) for r in test if r["label"] == 0], alerts, rng, "BGL")
    return Task("unseen_type", "thunderbird_bgl_alerts_inserted", seed, _cap(train, args.max_train_windows, seed), val,
                normals, info={"train_categories": sorted(category_counts(train)),
                               "test_categories": sorted(category_counts(normals)),
                               "bgl_alert_lines": len(alerts)})


def few_label_tasks(data: dict[str, list[dict[str, Any]]], args: GeneralizationArguments, notes: dict[str, str]) -> list[Task]:
    tasks = []
    system = "thunderbird" if "thunderbird" in data else "bgl"
    for seed in args.seeds:
        train, val, test = _random_split(data[system], seed)
        train = _cap(train, args.max_train_windows, seed)
        for fraction in args.label_fractions:
            labeled, _ = subsample_labels(train, fraction, seed=seed)
            tasks.append(Task("few_labels", f"{system}_{fraction:g}", seed, list(labeled), val, test,
                              info={"system": system, "labeled_train_windows": len(labeled),
                                    "anomalous_labeled": sum(r["label"] for r in labeled)},
                              label_fraction=fraction))
    return tasks


def cross_system_tasks(data: dict[str, list[dict[str, Any]]], args: GeneralizationArguments, notes: dict[str, str]) -> list[Task]:
    tasks = []
    if not {"bgl", "thunderbird"} <= set(data):
        return tasks
    for seed in args.seeds:
        src_val, src_train = _carve(data["bgl"], 0.2, seed)
        src_train = _cap(src_train, args.max_train_windows, seed)
        for name, fraction in (("bgl_to_thunderbird_zero_shot", 0.0), ("bgl_to_thunderbird_finetune", args.finetune_fraction)):
            parts = cross_system_split(src_train, data["thunderbird"], finetune_fraction=fraction, seed=seed)
            tasks.append(Task("cross_system", name, seed, list(parts["train"]) + list(parts["finetune"]), src_val,
                              list(parts["test"]), info={"finetune_windows": len(parts["finetune"])}))
        # one model on every system, per-system results
        systems = [s for s in ("bgl", "thunderbird", "hdfs_synthetic") if s in data]
        splits = {s: _random_split(data[s], seed) for s in systems}
        per_cap = max(1, args.max_train_windows // len(systems))
        train, _ = combine_systems({s: _cap(splits[s][0], per_cap, seed) for s in systems})
        val, _ = combine_systems({s: splits[s][1] for s in systems})
        test, test_systems = combine_systems({s: splits[s][2] for s in systems})
        tasks.append(Task("cross_system", "multi_system", seed, train, val, test, test_systems=test_systems,
                          info={"systems": systems}))
    return tasks


def normal_only_tasks(data: dict[str, list[dict[str, Any]]], args: GeneralizationArguments, notes: dict[str, str]) -> list[Task]:
    from logllm.dataset.normal_only import SLIDING_KINDS, normal_only_splits

    tasks = []
    for system in ("thunderbird", "bgl"):
        if system not in data:
            continue
        for seed in args.seeds:
            train, val, test = _random_split(data[system], seed)
            normals = [r for r in train + val if r["label"] == 0]  # the user's quiet period, labels then ignored
            splits, report = normal_only_splits(_cap(normals, args.max_train_windows, seed), kinds=SLIDING_KINDS,
                                                anomaly_ratio=0.3, validation_fraction=0.2, seed=seed)
            tasks.append(Task("normal_only", f"{system}_normal_only", seed, splits["train"], splits["validation"], test,
                              info={"synthesis": report.as_dict(), "normal_windows": len(normals)}))
    return tasks


def known_kind_tasks(data: dict[str, list[dict[str, Any]]], args: GeneralizationArguments, notes: dict[str, str]) -> list[Task]:
    """Random seeded splits of real samples whose test anomalies are of kinds training shows (the check that
    novelty-aware scoring loses nothing where the decoder already works); Thunderbird's is few_labels/thunderbird_1."""
    tasks = []
    for system in ("bgl", "hdfs_deeplog"):
        if system not in data:
            continue
        for seed in args.seeds:
            train, val, test = _random_split(data[system], seed)
            tasks.append(Task("known_kind", f"{system}_random", seed, _cap(train, args.max_train_windows, seed), val,
                              test, max_lines=args.deeplog_max_lines if system == "hdfs_deeplog" else None))
    return tasks


# ============================================================================ methods
def _labels(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.asarray([int(r["label"]) for r in rows], dtype=int)


def _dataset(rows: Sequence[dict[str, Any]]):
    from datasets import Dataset

    from logllm.dataset.features import WINDOW_FEATURES

    return Dataset.from_list([{k: r[k] for k in WINDOW_FEATURES} for r in rows], features=WINDOW_FEATURES)


def count_baselines(task: Task, args: GeneralizationArguments) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """EVAL's event-count models (``train.baselines``): name -> (validation scores, test scores).

    Vocabulary from the training windows only; the unsupervised isolation forest ignores labels.
    """
    from logllm.baselines.count import UNSUPERVISED, anomaly_scores, count_model_factories

    windows = [r["lines"] for r in task.train]
    labels = _labels(task.train)
    out = {}
    for name, factory in count_model_factories().items():
        pipeline = factory(task.seed)
        if hasattr(pipeline[-1], "n_neighbors"):  # k-NN cannot ask for more neighbours than 1%-label runs have
            pipeline[-1].n_neighbors = min(pipeline[-1].n_neighbors, len(windows))
        pipeline.fit(windows, None if name in UNSUPERVISED else labels)
        val, _ = anomaly_scores(pipeline, [r["lines"] for r in task.validation])
        test, _ = anomaly_scores(pipeline, [r["lines"] for r in task.test])
        out[name] = (val, test)
    return out


_LINE_VECTORS: dict[str, np.ndarray] = {}  # the kNN encoder is fixed: each distinct line is encoded once per run


def novelty_baselines(task: Task, args: GeneralizationArguments) -> dict[str, tuple]:
    """`logllm.baselines.novelty`'s rules fitted on the task's normal training lines (the same masked lines and, for
    kNN, the same MiniLM encoder and line length as LogLLM): name -> (validation, test, threshold, rule)."""
    from logllm.baselines.novelty import EmbeddingKNN, EmbeddingKNNConfig, NewDrainTemplateRule, NewLineRule
    from logllm.scoring.novelty import normal_lines

    known = normal_lines([r["lines"] for r in task.train], _labels(task.train))
    val_w, test_w = [r["lines"] for r in task.validation], [r["lines"] for r in task.test]
    out: dict[str, tuple] = {}
    for rule in (NewLineRule(), NewDrainTemplateRule()):
        rule.fit(known)
        out[rule.name] = (rule.score(val_w), rule.score(test_w), 0.5, "rule: at least one unseen line")
    config = EmbeddingKNNConfig(max_tokens_per_line=args.logllm_max_tokens_per_line)
    knn = EmbeddingKNN(config, seed=task.seed)
    knn._vectors = _LINE_VECTORS
    knn.fit(known)
    val, test = knn.score(val_w), knn.score(test_w)
    normal = val[_labels(task.validation) == 0]
    threshold = max(float(np.quantile(normal, config.quantile)), config.floor) if len(normal) else config.floor
    out[knn.name] = (val, test, threshold, f"{config.quantile:.2f} quantile of {len(normal)} normal validation windows "
                                          f"(floor {config.floor})")
    return out


def bert_classifier(task: Task, args: GeneralizationArguments) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """EVAL's BERT sequence classifier (offline all-MiniLM-L6-v2) on the window text."""
    from logllm.baselines.neural import BertBaselineConfig, score_bert_classifier, train_bert_classifier

    config = BertBaselineConfig(max_length=args.bert_max_length, epochs=args.bert_epochs)
    model, tokenizer = train_bert_classifier(_dataset(task.train), task.seed, config)
    val = score_bert_classifier(model, tokenizer, _dataset(task.validation), config)
    test = score_bert_classifier(model, tokenizer, _dataset(task.test), config)
    return {"bert_classifier": (val, test)}


def _has_line_labels(rows: Sequence[dict[str, Any]]) -> bool:
    """Line labels say which lines are anomalous (some anomalous window also holds normal lines); DeepLog's sessions
    label every line with the session's label, which says nothing about lines."""
    return any(r["label"] == 1 and 0 in r["line_labels"] and 1 in r["line_labels"] for r in rows)


def logllm(task: Task, args: GeneralizationArguments, family: str = "logllm") -> dict[str, tuple]:
    """LogLLM trained by `logllm.training.stages.run_training` (the family's preset and recipe) on the task's windows,
    then the saved folder loaded as `logllm detect` loads it: `<family>` = the decoder's P(anomalous) alone (threshold:
    best F1 on validation), `<family>_novelty` = the saved operating point (decoder or unseen line, chosen on
    validation). Where test lines carry labels, each also gets line-level numbers of the lines it highlights."""
    import tempfile

    from datasets import DatasetDict

    from logllm.report.metrics import line_level_metrics
    from logllm.scoring.detector import Detector
    from logllm.training.recipes import parse_arguments
    from logllm.training.stages import run_training

    spec = args.family_recipes()[family]
    dataset = DatasetDict(train=_dataset(task.train), validation=_dataset(task.validation))
    with tempfile.TemporaryDirectory(prefix="logllm-gen-") as tmp:
        arguments = parse_arguments([
            "--config", spec["recipe"], "--dataset_name", f"{task.setting}/{task.variant}",
            "--model_preset", spec["preset"], "--max_tokens_per_line", str(args.logllm_max_tokens_per_line),
            "--max_lines_per_window", str(task.max_lines or args.window_size), "--output_dir", tmp,
            "--seed", str(task.seed), "--evaluate_test", "false",
        ])
        result = run_training(*arguments, dataset=dataset)
        detector = Detector.load(str(result.final_model_dir), batch_size=16)
        val = detector.signals([r["lines"] for r in task.validation])
        scored = detector.score(task.test, preprocessed=True, line_scores=False)
        test_score = np.asarray([r.score for r in scored])
        test_ranking = np.asarray([r.ranking if r.ranking is not None else r.score for r in scored])
        by_decoder = test_score >= detector.threshold
        by_point = test_ranking >= 0.5  # the operating point's decision, as the F1 of `<family>_novelty` counts it
        line_level: dict[str, dict[str, Any]] = {}
        if _has_line_labels(task.test):
            # line evidence (one pass per distinct line) for the windows whose lines are shown or judged
            need = [i for i, r in enumerate(scored) if by_decoder[i] or by_point[i] or r.label == 1]
            for i, evidence in zip(need, detector.line_evidence([scored[i].model_lines for i in need])):
                scored[i].line_scores = evidence
            line_level[family] = line_level_metrics(scored, by_decoder, args.line_top_k, None)
            if detector.use_novelty:
                line_level[f"{family}_novelty"] = line_level_metrics(scored, by_point, args.line_top_k,
                                                                     detector.novelty_threshold)
    out: dict[str, tuple] = {family: (val["score"], test_score, None, None, line_level.get(family))}
    if detector.use_novelty:
        out[f"{family}_novelty"] = (val["ranking"], test_ranking, 0.5,
                                    f"operating point: {detector.threshold_source}; novelty > {detector.novelty_threshold:.4g}",
                                    line_level.get(f"{family}_novelty"))
    return out


RUNNERS: dict[str, Callable[[Task, GeneralizationArguments], dict[str, tuple]]] = {
    "count": count_baselines, "novelty": novelty_baselines, "bert": bert_classifier,
    **{family: (lambda task, args, family=family: logllm(task, args, family)) for family in LOGLLM_FAMILIES},
}


# ============================================================================ scoring
def score_method(task: Task, val: np.ndarray, test: np.ndarray, threshold: float | None = None,
                 how: str | None = None) -> dict[str, Any]:
    """Test metrics at `threshold` (a method's own rule), else at the best-F1 threshold on validation."""
    from logllm.report.evaluate import choose_threshold
    from logllm.report.metrics import compute_metrics

    if threshold is None:
        threshold, how = choose_threshold(_labels(task.validation), val)
    y = _labels(task.test)
    metrics = compute_metrics(y, test, threshold)
    predicted = test >= threshold
    out = {k: metrics[k] for k in ("precision", "recall", "f1", "roc_auc", "pr_auc", "threshold")}
    out["threshold_rule"] = how
    out["per_category_recall"] = per_category_recall(task.test, predicted)
    if task.test_systems:
        by_system = {}
        for system in sorted(set(task.test_systems)):
            idx = [i for i, s in enumerate(task.test_systems) if s == system]
            m = compute_metrics(y[idx], test[idx], threshold)
            by_system[system] = {k: m[k] for k in ("precision", "recall", "f1", "roc_auc")}
        out["per_system"] = by_system
    return out


def run_task(task: Task, args: GeneralizationArguments, missing: dict[str, str],
             methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for method in methods or args.methods:
        if method in missing:
            continue
        only = args.bert_variants if method == "bert" else args.logllm_variants if method in LOGLLM_FAMILIES else None
        if only and task.variant not in only:
            continue
        start = time.perf_counter()
        try:
            results = RUNNERS[method](task, args)
        except (ImportError, AttributeError) as err:  # the part is not written yet: say so, do not fake it
            missing[method] = f"{type(err).__name__}: {err}"
            logger.warning("%s unavailable, skipped: %s", method, err)
            continue
        seconds = time.perf_counter() - start
        for name, (val, test, *rest) in results.items():
            threshold, how, line_level = (*rest, None, None, None)[:3]
            row = {"setting": task.setting, "variant": task.variant, "seed": task.seed, "method": name,
                   "family": method, "label_fraction": task.label_fraction, "seconds": round(seconds, 2),
                   "n_train": len(task.train), "n_train_anomalous": int(_labels(task.train).sum()),
                   "n_test": len(task.test), "n_test_anomalous": int(_labels(task.test).sum())}
            row.update(score_method(task, np.asarray(val, float), np.asarray(test, float), threshold, how))
            if line_level:
                row["line_level"] = line_level
            rows.append(row)
            logger.info("%s/%s seed %d %s: F1 %.3f (%.1fs)", task.setting, task.variant, task.seed, name, row["f1"], seconds)
    return rows


# ============================================================================ report
def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["setting"], r["variant"], r["method"])].append(r)
    out = []
    for (setting, variant, method), rs in groups.items():
        agg = {"setting": setting, "variant": variant, "method": method, "family": rs[0]["family"],
               "label_fraction": rs[0]["label_fraction"], "seeds": sorted(r["seed"] for r in rs),
               "n_train": rs[0]["n_train"], "n_test": rs[0]["n_test"], "n_test_anomalous": rs[0]["n_test_anomalous"],
               "flag_all_f1": statistics.fmean(2 * r["n_test_anomalous"] / (r["n_test"] + r["n_test_anomalous"]) for r in rs)}
        for key in ("f1", "precision", "recall", "roc_auc", "pr_auc", "seconds"):
            agg[f"{key}_mean"], agg[f"{key}_std"] = mean_std([r[key] for r in rs])
        cats = defaultdict(list)
        for r in rs:
            for c, v in r["per_category_recall"].items():
                cats[c].append(v)
        agg["per_category_recall"] = {c: mean_std(v)[0] for c, v in sorted(cats.items())}
        with_lines = [r["line_level"] for r in rs if r.get("line_level")]
        if with_lines:
            agg["line_level"] = {key: mean_std([r[key] for r in with_lines if r[key] is not None])
                                 for key in ("top1_hit_rate", "line_precision", "line_recall", "line_f1")}
            agg["line_level"]["top_k"] = with_lines[0]["top_k"]
            agg["line_level"]["seeds"] = len(with_lines)
        if rs[0].get("per_system"):
            agg["per_system_f1"] = {s: mean_std([r["per_system"][s]["f1"] for r in rs])
                                    for s in rs[0]["per_system"]}
        out.append(agg)
    return sorted(out, key=lambda a: (a["setting"], a["variant"], a["family"], a["method"]))


def _best(aggs: list[dict[str, Any]], family: str) -> dict[str, Any] | None:
    """The method of a family with the best mean test F1 (chosen on test: an upper bound for that family)."""
    found = [a for a in aggs if a["family"] == family and a["f1_mean"] is not None]
    return max(found, key=lambda a: a["f1_mean"]) if found else None


FAMILY_TITLES = {"logllm": "random decoder (default)", "logllm_small": "SmolLM2 LoRA (small)",
                 "logllm_small_qlora": "SmolLM2 QLoRA (small)"}


def headline_table(summary: list[dict[str, Any]]) -> list[str]:
    """Per variant: each LogLLM family alone and novelty-aware, the best novelty and count baselines and the BERT
    classifier, and whether novelty-aware LogLLM reaches the best baseline (the issue's goal), per family run."""
    families = [f for f in LOGLLM_FAMILIES if any(a["family"] == f for a in summary)]
    head = " | ".join(f"LogLLM {FAMILY_TITLES[f]}: decoder | + novelty" for f in families)
    lines = ["## Headline (test F1, mean ± sample std over seeds; n = seeds)", "",
             "\"best\" baselines are the best of their family by mean test F1 on that variant, so they are an upper bound "
             "for the family; the goal column asks whether novelty-aware LogLLM is at least the best of all baselines "
             "(≈: within the sum of the two standard deviations), for each LogLLM family run.", "",
             f"| setting | variant | {head} | best novelty baseline | BERT classifier | best count baseline | flag-all F1 | "
             "+ novelty ≥ best baseline? |",
             "|---|---|" + "---|---|" * len(families) + "---|---|---|---|---|"]
    variants = dict.fromkeys(sorted(((a["setting"], a["variant"]) for a in summary), key=lambda sv: SETTINGS.index(sv[0])))
    for setting, variant in variants:
        aggs = [a for a in summary if a["variant"] == variant]

        def cell(found: dict[str, Any] | None, name: bool = False) -> str:
            if found is None:
                return "not run"
            spread = format_spread(found["f1_mean"], found["f1_std"])
            return f"{spread} ({found['method']})" if name else f"{spread} (n={len(found['seeds'])})"

        def method(name: str) -> dict[str, Any] | None:
            return next((a for a in aggs if a["method"] == name), None)

        baselines = [b for b in (_best(aggs, "novelty"), _best(aggs, "bert"), _best(aggs, "count")) if b]
        top = max(baselines, key=lambda a: a["f1_mean"]) if baselines else None
        goals = []
        for family in families:
            ours = method(f"{family}_novelty")
            if ours and top:
                slack = (ours["f1_std"] or 0.0) + (top["f1_std"] or 0.0)
                goals.append(f"{FAMILY_TITLES[family].split(' (')[0]}: " + (
                    "yes" if ours["f1_mean"] >= top["f1_mean"] else
                    f"≈ ({top['method']})" if ours["f1_mean"] + slack >= top["f1_mean"] else f"no ({top['method']})"))
        ours_cells = " | ".join(f"{cell(method(f))} | {cell(method(f + '_novelty'))}" for f in families)
        lines.append(f"| {setting} | {variant} | {ours_cells} | {cell(_best(aggs, 'novelty'), True)} | "
                     f"{cell(method('bert_classifier'))} | {cell(_best(aggs, 'count'), True)} | "
                     f"{aggs[0]['flag_all_f1']:.3f} | {'; '.join(goals) or 'not run'} |")
    return lines + [""]


def line_level_table(summary: list[dict[str, Any]]) -> list[str]:
    """Line-level quality of the highlighted lines on the variants whose test lines carry labels."""
    rows = [a for a in summary if a.get("line_level")]
    if not rows:
        return []
    k = rows[0]["line_level"]["top_k"]
    lines = ["## Line level: do the highlighted lines point at the anomalous ones?", "",
             f"On the test windows whose lines carry labels (real BGL and Thunderbird alert lines, inserted BGL alerts; "
             f"DeepLog's sessions label every line alike and are left out). Highlighted = the top {k} suspicious lines of "
             "each flagged window (decoder rows: positive leave-one-line-out evidence of windows over the decoder "
             "threshold; `+ novelty` rows: unseen lines first, then the model's evidence, on windows the operating point "
             "flags). Top-1 hit: windows holding an anomalous line whose first suspicious line is one. Mean ± sample std "
             "over seeds. Anchor: line-level detectors report F1 ≈ 0.98 on BGL, on full-size data.", "",
             "| setting | variant | method | top-1 hit | line precision | line recall | line F1 |",
             "|---|---|---|---|---|---|---|"]
    for a in rows:
        ll = a["line_level"]
        lines.append(f"| {a['setting']} | {a['variant']} | {a['method']} | {format_spread(*ll['top1_hit_rate'])} | "
                     f"{format_spread(*ll['line_precision'])} | {format_spread(*ll['line_recall'])} | "
                     f"{format_spread(*ll['line_f1'])} |")
    return lines + [""]


def render_markdown(payload: dict[str, Any]) -> str:
    lines = ["# Generalization benchmark", "",
             f"Generated by `python bench/generalization.py` on {payload['hardware']}; wall time "
             f"{payload['seconds']:.0f} s{' (summed over the merged runs, which ran side by side)' if payload['arguments'].get('merge') else ''}; seeds {payload['arguments']['seeds']}. Thresholds come from each "
             "task's validation split (never test; rules below); mean ± sample std over seeds.", ""]
    if not payload["complete"]:
        lines += ["**Partial results**: the run was stopped before every task finished; rows below are the tasks that did.", ""]
    if payload["missing"]:
        lines += ["**Not run** (code not available when the benchmark ran):", ""]
        lines += [f"- `{m}`: {why}" for m, why in payload["missing"].items()] + [""]
    ran = []
    for family, spec in payload["families"].items():
        seconds = [r["seconds"] for r in payload["runs"] if r["method"] == family and r.get("seconds")]
        if seconds:
            ran.append(f"`{family}` = preset `{spec['preset']}`, recipe `{spec['recipe']}` ({len(seconds)} runs, "
                       f"{sum(seconds) / len(seconds):.0f} s each on average: training + scoring, "
                       f"{payload['arguments']['torch_threads']} torch thread(s))")
    lines += ["LogLLM families: " + "; ".join(ran) + ". Each is "
              "trained by `logllm.training.stages.run_training` and scored from the saved folder through `Detector` "
              "(what `logllm detect` runs). `<family>` = the decoder's P(anomalous) alone; `<family>_novelty` = the saved "
              "operating point: anomalous when the decoder crosses its validation best-F1 threshold or a line's "
              "distance to the nearest training-normal line crosses the 0.99 quantile of the normal validation windows "
              "(floor 0.05); windows `detect` would call unfamiliar count as flagged. Novelty baselines "
              "(`logllm.baselines.novelty`): `new_masked_line` / `new_drain_template` flag a window holding a masked line "
              "/ Drain template absent from the normal training windows; `embedding_knn` = the largest MiniLM cosine "
              "distance of a line to its nearest normal training line, thresholded like the model's novelty.", ""]
    lines += headline_table(payload["summary"])
    lines += line_level_table(payload["summary"])
    lines += ["## Data and sizes", ""] + [f"- {k}: {v}" for k, v in payload["data"].items()] + [""]
    for setting in SETTINGS:
        aggs = [a for a in payload["summary"] if a["setting"] == setting]
        if not aggs:
            continue
        lines += [f"## {setting}", "", "| variant | method | seeds | train | test (anom.) | F1 | precision | recall | ROC-AUC | flag-all F1 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for a in aggs:
            lines.append(f"| {a['variant']} | {a['method']} | {len(a['seeds'])} | {a['n_train']} | {a['n_test']} ({a['n_test_anomalous']}) | "
                         f"{format_spread(a['f1_mean'], a['f1_std'])} | {format_spread(a['precision_mean'], a['precision_std'])} | "
                         f"{format_spread(a['recall_mean'], a['recall_std'])} | {format_spread(a['roc_auc_mean'], a['roc_auc_std'])} | {a['flag_all_f1']:.3f} |")
        lines.append("")
        if setting == "unseen_type":
            for variant, info in payload["splits"].items():
                lines.append(f"- `{variant}`: trained on categories {info['train_categories']}; "
                             f"tested on never-seen {info['test_categories']}.")
            lines.append("")
        multi = [a for a in aggs if a.get("per_system_f1")]
        if multi:
            lines += ["Per-system F1 of the multi-system models:", ""]
            for a in multi:
                lines.append(f"- {a['method']}: " + ", ".join(f"{s} {format_spread(*v)}" for s, v in a["per_system_f1"].items()))
            lines.append("")
    lines += ["## What would move these numbers", "",
              "Every LogLLM row trains on at most 80 ten-line windows on a shared 2-core CPU: the random-initialised "
              "11M-parameter decoder of the offline default, and SmolLM2-135M-Instruct (a pretrained Llama) through "
              "LoRA, and through QLoRA (4-bit NF4), in the small preset. At this size the pretrained decoder did not "
              "generalise better than the random one (compare the families row by row above); the novelty signal "
              "(`+ novelty`) is what moved the unseen-kind rows, and the simple never-seen-template rule stays ahead of it there. The paper's sizes "
              "(BERT-base + Llama-3-8B, QLoRA on a GPU), full-size training data and more labeled categories to "
              "generalise from are what remain untested here; the count baselines cannot use a line never seen in "
              "training, whatever the budget.", ""]
    lines += ["## Plots", "", "![F1 vs label fraction](generalization_f1_vs_labels.png)", "",
              "![Per-category recall](generalization_category_recall.png)", ""]
    return "\n".join(lines)


def save_plots(summary: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    # one colour per method in both plots (the default cycle has 10 colours for ~14 methods)
    color = dict(zip(sorted({a["method"] for a in summary}), plt.get_cmap("tab20").colors * 2))
    few = [a for a in summary if a["setting"] == "few_labels"]
    if few:
        fig, ax = plt.subplots(figsize=(8, 4))
        for method in sorted({a["method"] for a in few}):
            pts = sorted((a["label_fraction"], a["f1_mean"] or 0.0, a["f1_std"] or 0.0) for a in few if a["method"] == method)
            x, y, e = zip(*pts)
            ax.errorbar([v * 100 for v in x], y, yerr=e, marker="o", capsize=3, label=method, color=color[method])
        ax.set_xscale("log")
        ax.set_xlabel("labeled training windows (%)")
        ax.set_ylabel("test F1")
        ax.set_ylim(0, 1.05)
        ax.set_title("F1 vs label fraction")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        paths.append(out / "generalization_f1_vs_labels.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    unseen = [a for a in summary if a["setting"] in ("unseen_type", "normal_only")]
    if unseen:
        variants = sorted({a["variant"] for a in unseen})
        fig, axes = plt.subplots(len(variants), 1, figsize=(10, 3.2 * len(variants)), squeeze=False)
        for ax, variant in zip(axes[:, 0], variants):
            aggs = sorted((a for a in unseen if a["variant"] == variant), key=lambda a: a["method"])
            cats = sorted({c for a in aggs for c in a["per_category_recall"]})
            width = 0.8 / max(1, len(aggs))
            for k, a in enumerate(aggs):
                ax.bar([i + k * width for i in range(len(cats))], [a["per_category_recall"].get(c) or 0 for c in cats],
                       width=width, label=a["method"], color=color[a["method"]])
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cats))])
            ax.set_xticklabels([c[:18] for c in cats], rotation=30, fontsize=7, ha="right")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("recall")
            ax.set_title(f"{variant}: recall per test anomaly category", fontsize=9)
            ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        paths.append(out / "generalization_category_recall.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


# ============================================================================ main
def load_data(args: GeneralizationArguments) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    loghub = Path(args.loghub_dir)
    data: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, str] = {}
    sources = {
        "bgl": (loghub / "loghub" / "BGL" / "BGL_2k.log", "bgl", None),
        "thunderbird": (loghub / "thunderbird_subset" / "Thunderbird_part1_12000lines.log", "thunderbird", args.thunderbird_lines),
    }
    for name, (path, fmt, max_lines) in sources.items():
        if not path.is_file():
            notes[name] = f"missing: {path}"
            continue
        data[name] = load_loghub_windows(path, fmt, args.window_size, max_lines, args.max_line_chars)
    if (loghub / "deeplog_hdfs").is_dir():
        data["hdfs_deeplog"] = load_deeplog_hdfs(loghub, *args.deeplog_sessions, args.deeplog_max_lines)
    else:
        notes["hdfs_deeplog"] = f"missing: {loghub / 'deeplog_hdfs'}"
    try:
        data["hdfs_synthetic"] = load_synthetic_hdfs(args.synthetic_sessions, 0, args.max_line_chars)
        data["hdfs_synthetic_templates"], templates = categorize_by_anomaly_templates(data["hdfs_synthetic"])
        notes["hdfs_synthetic_template_ids"] = json.dumps(templates)
    except (ImportError, AttributeError, TypeError) as err:
        notes["hdfs_synthetic"] = f"not available: {err}"
    for name, rows in data.items():
        labels = _labels(rows)
        notes[name] = (f"{len(rows)} windows ({int(labels.sum())} anomalous), categories "
                       f"{dict(category_counts(rows).most_common(8))}")
    return data, notes


BUILDERS = {"unseen_type": unseen_type_tasks, "few_labels": few_label_tasks,
            "cross_system": cross_system_tasks, "normal_only": normal_only_tasks, "known_kind": known_kind_tasks}


def run(args: GeneralizationArguments) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.torch_threads)
    start = time.perf_counter()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, notes = load_data(args)
    notes["window"] = f"sliding {args.window_size}/{args.window_size} lines, lines cut to {args.max_line_chars} chars"
    notes["training cap"] = f"at most {args.max_train_windows} training windows per run (stratified, seeded)"
    tasks = [t for s in args.settings for t in BUILDERS[s](data, args, notes)]
    missing: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    splits = {t.variant: t.info for t in tasks if t.setting == "unseen_type" and t.seed == args.seeds[0]}
    payload: dict[str, Any] = {}
    # method by method (cheap first), seed-major: a run stopped early still covers every setting
    tasks.sort(key=lambda t: (t.seed, SETTINGS.index(t.setting)))
    jobs = [(m, t) for m in args.methods for t in tasks]
    jobs.sort(key=lambda j: (METHODS.index(j[0]), j[1].seed, SETTINGS.index(j[1].setting)))  # stable: keeps variant order
    if args.logllm_variants:  # a priority order: a run stopped early has all seeds of the first variants
        jobs.sort(key=lambda j: (METHODS.index(j[0]), args.logllm_variants.index(j[1].variant)
                                 if j[0] in LOGLLM_FAMILIES and j[1].variant in args.logllm_variants else -1))
    for k, (method, task) in enumerate(jobs, 1):
        logger.info("job %d/%d: %s on %s/%s seed %d", k, len(jobs), method, task.setting, task.variant, task.seed)
        rows.extend(run_task(task, args, missing, methods=[method]))
        payload = write_results(out, args, notes, missing, splits, rows, time.perf_counter() - start,
                                complete=k == len(jobs))  # after every job: a killed run keeps what it measured
    return payload


def write_results(out: Path, args: GeneralizationArguments, notes: dict[str, str], missing: dict[str, str],
                  splits: dict[str, Any], rows: list[dict[str, Any]], seconds: float, complete: bool,
                  hardware: str | None = None) -> dict[str, Any]:
    import os

    payload = {
        "arguments": asdict(args),
        "families": args.family_recipes(),
        "hardware": hardware or (f"{platform.machine()} CPU ({os.cpu_count()} cores visible, shared with other jobs; "
                                 f"load average {os.getloadavg()[0]:.1f} when written), torch threads {_torch_threads()}, no GPU"),
        "complete": complete,
        "data": notes,
        "missing": missing,
        "splits": splits,
        "runs": rows,
        "summary": aggregate(rows),
        "seconds": seconds,
    }
    (out / "generalization.json").write_text(json.dumps(payload, indent=2, default=str))
    save_plots(payload["summary"], out)
    (out / "generalization.md").write_text(render_markdown(payload))
    return payload


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def merge_results(paths: Sequence[str], args: GeneralizationArguments) -> dict[str, Any]:
    """One report from several runs' JSON (later files win for the same setting/variant/seed/method)."""
    runs: dict[tuple, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    missing: dict[str, str] = {}
    seconds = 0.0
    complete = True
    hardware: list[str] = []
    for path in paths:
        payload = json.loads(Path(path).read_text())
        first = first or payload
        hardware.append(f"{Path(path).parent.name}: {payload['hardware']}")
        missing.update(payload["missing"])
        seconds += payload["seconds"]
        complete = complete and payload["complete"]
        for r in payload["runs"]:
            runs[(r["setting"], r["variant"], r["seed"], r["method"])] = r
    merged_args = GeneralizationArguments(**{**first["arguments"], "merge": list(paths), "output_dir": args.output_dir})
    merged_args.seeds = sorted({r["seed"] for r in runs.values()})
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_results(out, merged_args, first["data"], missing, first["splits"], list(runs.values()), seconds, complete,
                         hardware="merged runs, each on " + "; ".join(hardware))


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    (args,) = HfArgumentParser(GeneralizationArguments).parse_args_into_dataclasses(args=argv)
    payload = merge_results(args.merge, args) if args.merge else run(args)
    print(f"wrote {args.output_dir}/generalization.json and .md ({payload['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
