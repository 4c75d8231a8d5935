"""Score a LogLLM model on a window dataset split: metrics, plots, error analysis and cost.

    logllm evaluate --model runs/hdfs --dataset data/loghub_windows --config hdfs_session
    logllm evaluate --model runs/quickstart --dataset data/synthetic --split test --output runs/quickstart/eval

The decision threshold is the best-F1 threshold on the *validation* split unless `--threshold`
is given; the test split is never used to choose anything. Everything lands in `--output`:
metrics.json, predictions.jsonl, the four PNG plots, error_analysis.{md,html} and cost.{json,md}.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from logllm.report.metrics import best_f1_threshold, compute_metrics
from logllm.report.plots import save_plots

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5


# ----------------------------------------------------------------------------- scoring


def score_windows(detector: Any, windows: Sequence[Sequence[str]], *, desc: str = "scoring") -> np.ndarray:
    """P(anomalous) per dataset window (already preprocessed `lines`) through the one scoring call, with progress."""
    from tqdm.auto import tqdm

    with tqdm(total=len(windows), desc=desc, unit="win", disable=len(windows) <= 4 * detector.batch_size) as bar:
        return detector.scores(windows, preprocessed=True, progress=lambda done, _total: bar.update(done - bar.n))


def split_labels(dataset: Any, split: str) -> np.ndarray:
    """Window labels of a split; unlabeled windows (-1) cannot be evaluated and are refused."""
    labels = np.asarray(dataset["label"], dtype=int)
    unknown = np.flatnonzero(~np.isin(labels, (0, 1)))
    if len(unknown):
        window_id = dataset[int(unknown[0])].get("window_id", unknown[0])
        raise ValueError(
            f"split {split!r}: {len(unknown)} windows have no 0/1 label (first: {window_id!r}, label "
            f"{labels[unknown[0]]}); evaluation needs labeled windows (use `logllm detect` for unlabeled logs)"
        )
    return labels


def choose_threshold(val_labels: np.ndarray | None, val_scores: np.ndarray | None) -> tuple[float, str]:
    """Best-F1 threshold on validation; 0.5 (said so in metrics.json) when validation cannot decide."""
    if val_labels is None or val_scores is None or len(val_labels) == 0:
        logger.warning("no validation split: using the default threshold %.2f", DEFAULT_THRESHOLD)
        return DEFAULT_THRESHOLD, "default 0.5 (no validation split)"
    if val_labels.sum() == 0:
        logger.warning("validation split has no anomalous windows: using the default threshold %.2f", DEFAULT_THRESHOLD)
        return DEFAULT_THRESHOLD, "default 0.5 (validation split has no anomalous windows)"
    return best_f1_threshold(val_labels, val_scores), f"best F1 on validation ({len(val_labels)} windows)"


# ----------------------------------------------------------------------------- run facts


def hardware_info() -> dict[str, Any]:
    """What the numbers were measured on, for every result row."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    info["summary"] = f"{info['usable_cpus']}-core CPU" + (f", {info['gpu']}" if info["gpu"] else ", no GPU")
    return info


def peak_memory_mb() -> dict[str, float | None]:
    """Peak resident CPU memory of this process (lifetime) and peak GPU memory allocated, in MiB."""
    import resource

    peak_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    peak_gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            peak_gpu = torch.cuda.max_memory_allocated() / 2**20
    except ImportError:  # pragma: no cover
        pass
    return {"peak_cpu_memory_mb": round(peak_cpu, 1), "peak_gpu_memory_mb": None if peak_gpu is None else round(peak_gpu, 1)}


# ----------------------------------------------------------------------------- writing


def write_json(path: Path, payload: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def write_predictions(path: Path, dataset: Any, scores: np.ndarray, threshold: float, line_scores: dict[int, list[float]]) -> Path:
    """One JSON line per window: id, label, score, decision, and line scores where computed."""
    with path.open("w", encoding="utf-8") as handle:
        for i, (window_id, label, score) in enumerate(zip(dataset["window_id"], dataset["label"], scores)):
            row = {
                "index": i, "window_id": window_id, "label": int(label), "score": float(score),
                "predicted": int(score >= threshold), "line_scores": line_scores.get(i),
            }
            handle.write(json.dumps(row) + "\n")
    return path


# ----------------------------------------------------------------------------- the evaluation


def evaluate_model(
    model: Any,
    processor: Any,
    dataset_dict: Any,
    output_dir: str | Path,
    *,
    split: str = "test",
    threshold: float | None = None,
    choose_on_validation: bool | None = None,
    use_novelty: bool = True,
    batch_size: int = 8,
    seed: int | None = None,
    dataset_name: str = "",
    model_name: str = "",
    error_analysis: bool = True,
    max_attributed_mistakes: int = 50,
    training_dir: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    window: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score `split` the way `logllm detect` decides, write metrics.json + plots; return the metrics.json payload.

    The decision rule is the model's operating point (`logllm.scoring.operating_point`): by default the one it was
    saved with; chosen afresh on the *validation* split when the model has none or `choose_on_validation=True`
    (training does this, then saves the point into the model); or a fixed decoder `threshold`. The test split never
    chooses anything. `metrics` are the decisions (novelty-aware when the model has a novelty index and
    `use_novelty`), `decoder_metrics` the decoder's P(anomalous) alone at the same threshold.

    `model` is a LogLLM model (with its `processor`) or anything that scores like `logllm.scoring.Detector`
    (`scores(windows, preprocessed=True, progress=...)`, `line_evidence(...)`, `batch_size`), e.g. a stand-in in tests.
    With `error_analysis`, false positives/negatives (at most `max_attributed_mistakes` of each get per-line evidence)
    go to error_analysis.md/.html; a cost report to cost.json/.md. `window` (the window kind/size/step the data was
    cut with, as a dict) is recorded in an operating point chosen here.
    """
    from logllm.modeling.processing_logllm import truncation_note
    from logllm.scoring.detector import Detector

    if split not in dataset_dict:
        raise KeyError(f"split {split!r} not in dataset; it has {sorted(dataset_dict.keys())}")
    if seed is not None:
        from transformers import set_seed

        set_seed(seed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    detector = model if hasattr(model, "scores") else Detector(
        model, processor, name=model_name, batch_size=batch_size, use_novelty=use_novelty)
    full = isinstance(detector, Detector)
    processor = getattr(detector, "processor", None) or processor
    stats_before = dict(getattr(processor, "stats", {}))  # the processor counts truncated lines per batch
    started = time.perf_counter()

    has_validation = "validation" in dataset_dict and split != "validation" and len(dataset_dict["validation"])
    own_point = full and getattr(detector.model.config, "operating_point", None)
    choose = threshold is None and has_validation and (choose_on_validation or (choose_on_validation is None and not own_point))
    val_metrics = None
    if threshold is not None:
        threshold_source = "given"
        if full:
            detector.point.threshold, detector.point.threshold_source = float(threshold), "given"
    elif choose:
        val = dataset_dict["validation"]
        val_labels = split_labels(val, "validation")
        if full:
            choose_on_validation_split(detector, val, use_novelty=use_novelty, dataset=dataset_name or None,
                                       window=window)
            threshold, threshold_source = detector.point.threshold, detector.point.threshold_source
        else:
            val_scores = score_windows(detector, val["lines"], desc="validation")
            threshold, threshold_source = choose_threshold(val_labels, val_scores)
    elif full:
        threshold, threshold_source = detector.point.threshold, (
            f"the model's operating point: {detector.point.threshold_source}" if own_point else detector.point.threshold_source)
    else:
        threshold, threshold_source = choose_threshold(None, None)

    data = dataset_dict[split]
    labels = split_labels(data, split)
    windows = data["lines"]
    test_started = time.perf_counter()
    if full:
        signals = _signals(detector, windows, split, novelty=detector.use_novelty)
        scores, decision_threshold = signals["ranking"], (0.5 if detector.use_novelty else threshold)
    else:
        signals, scores, decision_threshold = None, score_windows(detector, windows, desc=split), threshold
    inference_s = time.perf_counter() - test_started
    n_lines = int(sum(len(w) for w in windows))

    metrics = compute_metrics(labels, scores, decision_threshold)
    decoder_metrics = compute_metrics(labels, signals["score"], threshold) if full else None
    verbatim = seen_in_training(dataset_dict, split, labels, scores, decision_threshold)
    if full and has_validation and choose:
        val_signals = _signals(detector, dataset_dict["validation"]["lines"], "validation", novelty=detector.use_novelty)
        val_metrics = compute_metrics(val_labels, val_signals["ranking"], 0.5 if detector.use_novelty else threshold)
    note = truncation_note(processor, stats_before)
    if note:  # once per evaluation, validation included (the processor counts per batch)
        logger.warning("evaluation on %s: %s", split, note)
    plots = save_plots(labels, scores, out, decision_threshold, title=model_name or "LogLLM")

    attributed: dict[int, list[float]] = {}
    if error_analysis:
        attributed = attribute_mistakes(detector, windows, labels, scores, decision_threshold, max_attributed_mistakes)
    write_predictions(out / "predictions.jsonl", data, scores, decision_threshold, attributed)

    point = detector.point.to_dict() if full else None
    payload: dict[str, Any] = {
        "dataset": dataset_name,
        "split": split,
        "seed": seed,
        "model": model_name,
        "hardware": hardware_info(),
        "threshold": float(threshold),
        "threshold_source": threshold_source,
        "novelty": bool(full and detector.use_novelty),
        "decision": ("P(anomalous) >= threshold or a line's novelty > novelty_threshold"
                     if full and detector.use_novelty else "P(anomalous) >= threshold"),
        "operating_point": point,
        "n_windows": int(len(labels)),
        "n_lines": n_lines,
        "n_anomalous": int(labels.sum()),
        "metrics": metrics,
        "decoder_metrics": decoder_metrics,
        "validation_metrics": val_metrics,
        "verbatim": verbatim,
        "inference_time_s": round(inference_s, 3),
        "windows_per_s": round(len(labels) / inference_s, 3) if inference_s > 0 else None,
        "lines_per_s": round(n_lines / inference_s, 3) if inference_s > 0 else None,
        "wall_time_s": round(time.perf_counter() - started, 3),
        **peak_memory_mb(),
        "plots": [p.name for p in plots],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    write_json(out / "metrics.json", payload)

    if error_analysis:
        from logllm.report.error_analysis import write_error_report

        write_error_report(data, scores, decision_threshold, attributed, out,
                           title=f"{model_name or 'model'} on {dataset_name or 'dataset'} ({split})")
    from logllm.report.cost import write_cost_report

    write_cost_report(getattr(detector, "model", model), payload, out, training_dir=training_dir)
    logger.info(
        "%s/%s: F1 %.4f P %.4f R %.4f (%s; threshold %.4g, %s) -> %s",
        dataset_name, split, metrics["f1"], metrics["precision"], metrics["recall"], payload["decision"], threshold,
        threshold_source, out,
    )
    return payload


def seen_in_training(dataset_dict: Any, split: str, labels: np.ndarray, scores: np.ndarray,
                     threshold: float) -> dict[str, Any] | None:
    """How many `split` windows occur verbatim (same preprocessed lines, same order) in the training split, and the
    metrics on the others: on repetitive logs (HDFS) most test windows were trained on, so F1 over all of them says
    more about memory than about detection. None without a training split."""
    if split == "train" or "train" not in dataset_dict:
        return None
    seen = {tuple(lines) for lines in dataset_dict["train"]["lines"]}
    mask = np.asarray([tuple(lines) in seen for lines in dataset_dict[split]["lines"]], dtype=bool)
    unseen = ~mask
    return {
        "windows_seen_in_training": int(mask.sum()),
        "share_seen_in_training": float(mask.mean()) if len(mask) else None,
        "unseen_windows": int(unseen.sum()),
        "unseen_anomalous": int(labels[unseen].sum()),
        "metrics_unseen": compute_metrics(labels[unseen], scores[unseen], threshold) if unseen.any() else None,
    }


def choose_on_validation_split(detector: Any, validation: Any, *, use_novelty: bool = True, **facts: Any) -> Any:
    """Choose `detector`'s operating point on the labeled `validation` windows and switch novelty on when the model
    has an index (`logllm.scoring.operating_point.choose_operating_point`); returns the point, also set on the detector.

    `facts` (dataset, window) are recorded in the point with the processor's preprocessing and max lines per window.
    """
    from logllm.scoring.operating_point import choose_operating_point

    labels = split_labels(validation, "validation")
    with_index = bool(use_novelty and getattr(detector.model, "novelty_index", None) is not None)
    signals = _signals(detector, validation["lines"], "validation", novelty=with_index)
    detector.point = choose_operating_point(
        signals["score"], labels, signals["novelty"] if with_index else None,
        preprocessing=getattr(detector.processor, "preprocessing", None),
        max_lines_per_window=getattr(detector.processor, "max_lines_per_window", None), **facts)
    detector.use_novelty = with_index and detector.point.novelty_threshold is not None
    return detector.point


def _signals(detector: Any, windows: Sequence[Sequence[str]], desc: str, novelty: bool) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    with tqdm(total=len(windows), desc=desc, unit="win", disable=len(windows) <= 4 * detector.batch_size) as bar:
        return detector.signals(windows, preprocessed=True, novelty=novelty,
                                progress=lambda done, _total: bar.update(done - bar.n))


def attribute_mistakes(
    detector: Any, windows: Sequence[Sequence[str]], labels: np.ndarray, scores: np.ndarray, threshold: float, limit: int,
) -> dict[int, list[float]]:
    """Per-line evidence for up to `limit` false positives and `limit` false negatives (most confident first)."""
    predicted = scores >= threshold
    fp = np.flatnonzero(predicted & (labels == 0))
    fn = np.flatnonzero(~predicted & (labels == 1))
    chosen = [*fp[np.argsort(-scores[fp])][:limit], *fn[np.argsort(scores[fn])][:limit]]
    if not chosen:
        return {}
    per_line = detector.line_evidence([windows[i] for i in chosen], preprocessed=True)
    return {int(i): list(map(float, ls)) for i, ls in zip(chosen, per_line)}


# ----------------------------------------------------------------------------- loading + CLI


def load_window_dataset(dataset: str, config: str | None = None) -> Any:
    """A window DatasetDict from a dataset repo folder (README `configs:`) or a Hub id.

    A local folder is read from its parquet files as they are now (``read_dataset_folder``): through
    ``load_dataset`` a folder rebuilt with other input came back with the old windows from the ``datasets`` cache.
    """
    from datasets import DatasetDict, load_dataset

    if os.path.isdir(dataset):
        from logllm.dataset.hub import read_dataset_folder

        loaded = read_dataset_folder(dataset, config)
    else:
        loaded = load_dataset(dataset, name=config) if config else load_dataset(dataset)
    if not isinstance(loaded, DatasetDict):
        raise TypeError(f"{dataset}: expected train/validation/test splits, got {type(loaded).__name__}")
    missing = {"lines", "label"} - set(next(iter(loaded.values())).column_names)
    if missing:
        raise ValueError(f"{dataset} ({config or 'default'}): not a window dataset, missing columns {sorted(missing)}")
    return loaded
