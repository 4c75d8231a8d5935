"""Fill a Hub model card from real ``metrics.json`` files written by ``train/evaluate.py``.

Nothing here invents a number: every result in the card's ``model-index`` comes from a metrics
file, and the card's metadata is checked offline with ``huggingface_hub``'s own card classes
(:func:`validate_model_card`) before anyone pushes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).with_name("model_card_template.md")

# metrics.json key -> (model-index metric type, display name)
CARD_METRICS: dict[str, tuple[str, str]] = {
    "precision": ("precision", "Precision"),
    "recall": ("recall", "Recall"),
    "f1": ("f1", "F1"),
    "roc_auc": ("roc_auc", "ROC-AUC"),
    "pr_auc": ("pr_auc", "PR-AUC"),
    "accuracy": ("accuracy", "Accuracy"),
}

DATASET_TEXT: dict[str, str] = {
    "hdfs": "HDFS (Loghub): sessions grouped by block id, labels per block, random 8:2 split (seeded).",
    "bgl": "BGL (Loghub): sliding windows of 100 lines, step 100, chronological 8:2 split.",
    "thunderbird": "Thunderbird (Loghub): sliding windows 100/100, chronological 8:2 split.",
    "liberty": "Liberty (Loghub): sliding windows 100/100, chronological 8:2 split.",
    "synthetic": (
        "Synthetic HDFS-like and BGL-like logs generated offline by `logllm.logs.synthetic` "
        "(seeded); planted anomalies of known kinds. No real log data."
    ),
}

OFFLINE_LIMITATION = (
    "This is the offline model: a tiny encoder and decoder trained on synthetic logs on a CPU to "
    "show the whole pipeline end to end. It is not a detector for real production logs and its "
    "numbers are on synthetic test windows; train on Loghub data (`logllm train`) for real use."
)

BASE_LIMITATIONS = (
    "Labels are per window: line scores are evidence (how much each line moves the score), not "
    "line-level ground truth.",
    "Scores are calibrated on the training distribution; re-tune the threshold on validation data "
    "from your own system before alerting on it.",
    "Regex masking replaces numbers, ids, IPs and paths with `<*>`; anomalies that live only in "
    "those values are invisible to the model.",
    "Windows longer than the model's `max_lines_per_window` are cut; very long lines are truncated "
    "to `max_tokens_per_line` tokens.",
    "Simple baselines (event-count vectors with a decision tree or k-NN) are strong on HDFS and BGL; "
    "compare on the same split before choosing this model.",
)


@dataclass(frozen=True)
class DatasetResult:
    """One row of the card's results: metrics of one dataset split, read from one file."""

    dataset: str
    split: str
    metrics: dict[str, float]
    windows: int | None
    threshold: float | None
    source: Path


def _dataset_key(name: str) -> str:
    lowered = name.lower()
    if "synthetic" in lowered or "quickstart" in lowered:
        return "synthetic"
    for key in ("hdfs", "bgl", "thunderbird", "liberty"):
        if key in lowered:
            return key
    return lowered


def load_metrics_file(path: str | Path, dataset: str | None = None) -> DatasetResult:
    """Read one metrics.json (flat, or nested under ``metrics``/``test``) into a result row.

    The dataset name is, in order: the ``dataset`` argument, the file's ``dataset``,
    ``dataset_name`` or ``config_name`` field, or the name of the folder holding the file.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read metrics JSON ({err})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object of metrics, got {type(raw).__name__}")
    values = raw
    for key in ("metrics", "test"):
        if isinstance(values.get(key), dict) and "f1" not in values:
            values = {**{k: v for k, v in values.items() if not isinstance(v, dict)}, **values[key]}
    metrics = {k: float(values[k]) for k in CARD_METRICS if isinstance(values.get(k), (int, float))}
    if "f1" not in metrics:
        raise ValueError(f"{path}: no numeric 'f1' found; keys are {sorted(values)}")
    name = dataset or values.get("dataset") or values.get("dataset_name") or values.get("config_name")
    name = str(name or path.parent.name)
    windows = values.get("n_windows") or values.get("num_windows") or values.get("windows")
    if windows is None and all(isinstance(values.get(k), int) for k in ("tp", "fp", "tn", "fn")):
        windows = sum(values[k] for k in ("tp", "fp", "tn", "fn"))
    threshold = values.get("threshold")
    return DatasetResult(
        dataset=name,
        split=str(values.get("split", "test")),
        metrics=metrics,
        windows=int(windows) if isinstance(windows, (int, float)) else None,
        threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
        source=path,
    )


def _eval_results(results: Sequence[DatasetResult], model_name: str) -> list[EvalResult]:
    rows = []
    for result in results:
        for key, value in result.metrics.items():
            metric_type, metric_name = CARD_METRICS[key]
            rows.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="Log anomaly detection",
                    dataset_type=result.dataset,
                    dataset_name=result.dataset,
                    dataset_split=result.split,
                    metric_type=metric_type,
                    metric_name=metric_name,
                    metric_value=round(value, 4),
                )
            )
    return rows


def _stage_rows(hyperparameters: Mapping[str, Mapping[str, Any]] | None) -> list[dict[str, str]]:
    """One row per stage the run recorded (what it trained: the record's `trains`, else the model's stage table);
    without records, the stage table with "not recorded"."""
    from logllm.modeling.modeling_logllm import TRAINING_STAGES

    recorded = {str(name).removeprefix("stage"): dict(values or {}) for name, values in (hyperparameters or {}).items()}
    rows = []
    for name, values in (recorded or {stage: {} for stage in TRAINING_STAGES}).items():
        trains = values.pop("trains", None) or " + ".join(TRAINING_STAGES.get(name, ("see hyperparameters",)))
        text = ", ".join(f"{k}={v}" for k, v in values.items()) if values else "not recorded"
        rows.append({"name": name, "trains": trains, "hyperparameters": text})
    return rows


def _architecture(model_dir: Path | None) -> str:
    if model_dir is None or not (model_dir / "config.json").is_file():
        return ""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    enc, dec = config.get("encoder_config") or {}, config.get("decoder_config") or {}

    def describe(sub: Mapping[str, Any]) -> str:
        return (
            f"{sub.get('model_type', '?')} ({sub.get('num_hidden_layers', '?')} layers, "
            f"hidden {sub.get('hidden_size', '?')})"
        )

    return f"encoder {describe(enc)}, decoder {describe(dec)}, one linear projector."


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_model_card(
    metrics_files: Sequence[str | Path] | Mapping[str, str | Path],
    *,
    repo_id: str,
    model_dir: str | Path | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    base_models: Sequence[str] = (),
    offline: bool | None = None,
    license: str = "apache-2.0",
    extra_limitations: Sequence[str] = (),
) -> str:
    """Return a complete model card (YAML metadata + Markdown) for a trained LogLLM model.

    Args:
        metrics_files: metrics.json paths, or a mapping dataset name -> path.
        repo_id: the Hub id the card will live under (used in the loading example).
        model_dir: saved model folder; its config.json gives the architecture line.
        hyperparameters: per-stage settings, keys "1", "2a", "2b", "3" (or "stage1", ...), optionally with
            "trains" (what the stage trained when it is not the stage's usual parts).
        base_models: Hub ids of the encoder/decoder the model started from (metadata ``base_model``).
        offline: True for the synthetic-data offline model; None infers it from the dataset names.
        license: licence of the weights.
        extra_limitations: more limitation bullet points.
    """
    if isinstance(metrics_files, Mapping):
        results = [load_metrics_file(p, dataset=name) for name, p in metrics_files.items()]
    else:
        results = [load_metrics_file(p) for p in metrics_files]
    keys = sorted({_dataset_key(r.dataset) for r in results})
    if offline is None:
        offline = keys == ["synthetic"]
    model_name = repo_id.split("/")[-1]
    card_data = ModelCardData(
        model_name=model_name,
        license=license,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["log-anomaly-detection", "logllm", "custom_code", *(["synthetic-data"] if offline else [])],
        base_model=list(base_models) or None,
        metrics=sorted({CARD_METRICS[k][0] for r in results for k in r.metrics}),
        eval_results=_eval_results(results, model_name) or None,
    )
    training_data = "\n".join(f"- {DATASET_TEXT.get(k, f'{k}: user-supplied logs.')}" for k in keys)
    limitations = ([OFFLINE_LIMITATION] if offline else []) + list(BASE_LIMITATIONS) + list(extra_limitations)
    thresholds = [r.threshold for r in results if r.threshold is not None]
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        repo_id=repo_id,
        title=model_name,
        summary=(
            f"`{model_name}` flags anomalous windows of system logs with LogLLM"
            + (" (offline demonstration model trained on synthetic logs)." if offline else ".")
        ),
        training_data=training_data or "Not recorded.",
        stages=_stage_rows(hyperparameters),
        architecture=_architecture(Path(model_dir) if model_dir else None),
        results=[
            {
                "dataset": r.dataset,
                "split": r.split,
                "windows": r.windows if r.windows is not None else "n/a",
                "threshold": _fmt(r.threshold),
                **{k: _fmt(r.metrics.get(k)) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc")},
            }
            for r in results
        ],
        threshold=round(thresholds[0], 4) if thresholds else 0.5,
        limitations=limitations,
    )
    logger.info("rendered model card for %s from %d metrics file(s)", repo_id, len(results))
    return str(card)


def validate_model_card(text: str) -> ModelCard:
    """Parse a card offline with huggingface_hub and check the metadata a Hub page relies on.

    Raises ValueError naming what is wrong; returns the parsed card.
    """
    card = ModelCard(text, ignore_metadata_errors=False)
    data = card.data
    problems = []
    if not data.license:
        problems.append("no license")
    if data.pipeline_tag != "text-classification":
        problems.append(f"pipeline_tag is {data.pipeline_tag!r}")
    if data.eval_results:
        if not data.model_name:
            problems.append("model-index needs model_name")
        for result in data.eval_results:
            if not isinstance(result.metric_value, (int, float)):
                problems.append(f"{result.dataset_name}/{result.metric_type}: non-numeric value")
    if "trust_remote_code=True" not in card.text:
        problems.append("no loading example with trust_remote_code=True")
    if problems:
        raise ValueError("model card metadata invalid: " + "; ".join(problems))
    return card
