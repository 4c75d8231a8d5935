"""The model card written into every saved model folder: facts of *that* run, nothing invented.

`render_model_card(facts)` fills `model_card_template.md` from a `CardFacts`: the evaluation of that very model
(its metrics.json payload: decisions, decoder-only numbers, PR-AUC, the operating point), the stages the run
actually ran (what each trained, with its learning rate, epochs and windows), the data it was trained on (and so
its licence: Loghub's for Loghub data, none for synthetic logs), the warnings the run raised, and the command that
reproduces it. The metadata (model-index) is checked offline with huggingface_hub's own card classes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from logllm.report.metrics_file import EvaluationRecord
from logllm.report.metrics_file import read_evaluation as read_metrics  # the card's input: metrics.json, validated

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).with_name("model_card_template.md")

# metrics key -> (model-index metric type, display name)
CARD_METRICS: dict[str, tuple[str, str]] = {
    "precision": ("precision", "Precision"),
    "recall": ("recall", "Recall"),
    "f1": ("f1", "F1"),
    "roc_auc": ("roc_auc", "ROC-AUC"),
    "pr_auc": ("pr_auc", "PR-AUC"),
    "accuracy": ("accuracy", "Accuracy"),
}
LOGHUB_SYSTEMS = ("hdfs", "bgl", "thunderbird", "liberty", "spirit")
ORIGINS = ("synthetic", "loghub", "user")

BASE_LIMITATIONS = (
    "Labels are per window: line evidence says how much each line moved the decision (or that the line is unlike "
    "anything in training), not line-level ground truth.",
    "The operating point was chosen on the training run's validation split; on another system re-check it on "
    "validation data from that system (`logllm evaluate --choose-on-validation`).",
    "Regex masking replaces numbers, ids, IPs and paths with `<*>`; anomalies that live only in those values are "
    "invisible to the model.",
    "Windows longer than `max_lines_per_window` are scored as consecutive chunks (window score = highest chunk); "
    "lines longer than `max_tokens_per_line` tokens are truncated.",
    "Simple baselines (event counts with a decision tree, a never-seen-line rule) are strong on Loghub data; "
    "compare on the same split before choosing this model.",
)
SYNTHETIC_LIMITATION = (
    "Trained and evaluated on synthetic logs generated offline: the numbers describe those logs, not production "
    "systems. On other logs it reports them as unfamiliar; train on your own logs (`logllm train --normal-only`)."
)


def data_origin(dataset_name: str) -> str:
    """'synthetic', 'loghub' or 'user' from what the run called its data (e.g. `synthetic`, `bgl_sliding_100_100`)."""
    lowered = (dataset_name or "").lower()
    if "synthetic" in lowered or lowered in {"quickstart", "hdfs_like", "bgl_like"}:
        return "synthetic"
    if any(lowered.startswith(system) or f"/{system}" in lowered for system in LOGHUB_SYSTEMS):
        return "loghub"
    return "user"


@dataclass
class CardFacts:
    """What a card says about one saved model (see the module docstring)."""

    model_name: str
    evaluation: EvaluationRecord | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    dataset_name: str = ""
    data_description: str = ""
    data_origin: str | None = None
    repo_id: str | None = None
    base_models: list[str] = field(default_factory=list)
    architecture: str = ""
    command: str | None = None
    novelty_index: str | None = None
    warnings: list[str] = field(default_factory=list)
    license: str = "apache-2.0"

    @property
    def origin(self) -> str:
        origin = self.data_origin or data_origin(self.dataset_name)
        if origin not in ORIGINS:
            raise ValueError(f"data_origin must be one of {ORIGINS}, got {origin!r}")
        return origin


def _fmt(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.3f}"


def _eval_results(facts: CardFacts) -> list[EvalResult]:
    evaluation = facts.evaluation or {}
    metrics = evaluation.get("metrics") or {}
    rows = []
    for key, (metric_type, metric_name) in CARD_METRICS.items():
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append(EvalResult(
                task_type="text-classification", task_name="Log anomaly detection",
                dataset_type=evaluation.get("dataset") or facts.dataset_name or "logs",
                dataset_name=evaluation.get("dataset") or facts.dataset_name or "logs",
                dataset_split=evaluation.get("split", "test"), metric_type=metric_type, metric_name=metric_name,
                metric_value=round(float(value), 4),
            ))
    return rows


def _verbatim(verbatim: dict[str, Any] | None) -> dict[str, Any] | None:
    """The share of test windows trained on verbatim and the metrics on the others, for the card."""
    if not verbatim or verbatim.get("share_seen_in_training") is None:
        return None
    unseen = verbatim.get("metrics_unseen") or {}
    return {"share": f"{verbatim['share_seen_in_training']:.0%}", "unseen": verbatim.get("unseen_windows"),
            "unseen_anomalous": verbatim.get("unseen_anomalous"),
            **{k: _fmt(unseen.get(k)) for k in ("precision", "recall", "f1")}}


def _stage_rows(stages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for record in stages:
        keys = ("learning_rate", "epochs", "windows", "steps", "seconds")
        text = ", ".join(f"{k}={record[k]:g}" if isinstance(record.get(k), float) else f"{k}={record[k]}"
                         for k in keys if record.get(k) is not None)
        rows.append({"name": str(record.get("stage", "?")), "trains": str(record.get("trains", "?")),
                     "hyperparameters": text or "not recorded"})
    return rows


def architecture_of(config: Any) -> str:
    """One line from a LogLLMConfig (or its dict): encoder and decoder types, sizes, projector."""
    if config is None:
        return ""
    as_dict = config if isinstance(config, dict) else config.to_dict()
    enc, dec = as_dict.get("encoder_config") or {}, as_dict.get("decoder_config") or {}

    def describe(sub: dict[str, Any]) -> str:
        return f"{sub.get('model_type', '?')} ({sub.get('num_hidden_layers', '?')} layers, hidden {sub.get('hidden_size', '?')})"

    return f"encoder {describe(enc)}, decoder {describe(dec)}, {as_dict.get('projector_type', 'linear')} projector."


def _window_text(window: Any) -> str | None:
    if not window:
        return None
    if isinstance(window, dict):
        kind = window.get("kind")
        if kind == "sliding":
            return f"sliding:{window.get('size')}:{window.get('step', window.get('size'))}"
        if kind == "time":
            return f"time:{window.get('seconds')}"
        return str(kind)
    return str(window)


def render_model_card(facts: CardFacts) -> str:
    """The card (YAML metadata + Markdown) for one saved model; validated with `validate_model_card`."""
    evaluation = facts.evaluation or {}
    metrics = evaluation.get("metrics") or {}
    decoder = evaluation.get("decoder_metrics") or {}
    point = evaluation.get("operating_point") or {}
    origin = facts.origin
    repo = facts.repo_id or f"path/to/{facts.model_name}"
    card_data = ModelCardData(
        model_name=facts.model_name,
        license=facts.license,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["log-anomaly-detection", "logllm", "custom_code", *(["synthetic-data"] if origin == "synthetic" else [])],
        base_model=list(facts.base_models) or None,
        datasets=None,
        metrics=sorted({CARD_METRICS[k][0] for k in CARD_METRICS if isinstance(metrics.get(k), (int, float))}) or None,
        eval_results=_eval_results(facts) or None,
    )
    result = None
    if metrics:
        windows = evaluation.get("n_windows")
        result = {
            "dataset": evaluation.get("dataset") or facts.dataset_name or "?",
            "split": evaluation.get("split", "test"),
            "windows": windows if windows is not None else "n/a",
            "anomalous": evaluation.get("n_anomalous", "n/a"),
            "decision": evaluation.get("decision", "P(anomalous) >= threshold"),
            **{k: _fmt(metrics.get(k)) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc")},
            "decoder": {k: _fmt(decoder.get(k)) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc")} if decoder else None,
            "confusion": {k: metrics.get(k) for k in ("tp", "fp", "tn", "fn")},
            "verbatim": _verbatim(evaluation.get("verbatim")),
        }
    limitations = ([SYNTHETIC_LIMITATION] if origin == "synthetic" else []) + list(BASE_LIMITATIONS)
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        repo_id=repo,
        title=facts.model_name,
        summary=(f"`{facts.model_name}` flags anomalous windows of system logs with LogLLM"
                 + (" — trained on synthetic logs generated offline (a demonstration of the method, not a "
                    "production detector)." if origin == "synthetic" else ".")),
        origin=origin,
        training_data=facts.data_description or facts.dataset_name or "not recorded",
        stages=_stage_rows(facts.stages),
        architecture=facts.architecture,
        result=result,
        threshold=round(float(point.get("threshold", evaluation.get("threshold", 0.5))), 4),
        threshold_source=point.get("threshold_source") or evaluation.get("threshold_source") or "not recorded",
        novelty_threshold=point.get("novelty_threshold"),
        novelty_source=point.get("novelty_source"),
        unfamiliar_share=point.get("unfamiliar_line_share"),
        window=_window_text(point.get("window")),
        novelty_index=facts.novelty_index,
        warnings=list(facts.warnings),
        command=facts.command,
        limitations=limitations,
    )
    logger.info("rendered the model card of %s", facts.model_name)
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


__all__ = ["CardFacts", "architecture_of", "data_origin", "read_metrics", "render_model_card", "validate_model_card"]
