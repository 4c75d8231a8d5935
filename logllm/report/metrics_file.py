"""The metrics.json schema: what `logllm.report.evaluate.evaluate_model` writes and what the model card reads.

`EvaluationRecord` types the payload (one evaluated split); `MetricValues` the numbers of
`logllm.report.metrics.compute_metrics` inside it. `read_evaluation` reads a file and checks it against the
schema, so a malformed or foreign file fails with its name and the first missing or wrong key instead of a card
with holes. Keys beyond the schema are kept (`logllm quickstart` adds its headline numbers at the top level).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict


class MetricValues(TypedDict):
    """`compute_metrics` at one threshold: score >= threshold is anomalous; AUCs are None with one class only."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    specificity: float
    roc_auc: float | None
    pr_auc: float | None
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    n: int


class _EvaluationRequired(TypedDict):
    dataset: str | None
    split: str
    model: str | None
    threshold: float             # the decoder threshold (P(anomalous))
    threshold_source: str        # how it was chosen ("best F1 on validation (...)", "given", ...)
    n_windows: int
    n_lines: int
    n_anomalous: int
    metrics: MetricValues        # the decisions as `logllm detect` makes them (decoder and, if on, novelty)


class EvaluationRecord(_EvaluationRequired, total=False):
    """One metrics.json. Required keys above; these are written by `evaluate_model` too, and may be absent in files
    from before they existed."""

    seed: int | None
    hardware: dict[str, Any]                 # `evaluate.hardware_info()`
    novelty: bool                            # whether the novelty signal took part in the decisions
    decision: str                            # the rule in words
    operating_point: dict[str, Any] | None   # `OperatingPoint.to_dict()` (None: no full Detector)
    decoder_metrics: MetricValues | None     # the decoder alone, at `threshold`
    validation_metrics: MetricValues | None  # the same decisions on validation (when chosen there)
    verbatim: dict[str, Any] | None          # test windows seen verbatim in training, metrics on the others
    inference_time_s: float
    windows_per_s: float | None
    lines_per_s: float | None
    wall_time_s: float
    peak_cpu_memory_mb: float
    peak_gpu_memory_mb: float | None
    plots: list[str]
    created: str


_NUMBER = (int, float)
_TYPES: dict[str, tuple[type, ...]] = {
    "split": (str,), "threshold": _NUMBER, "threshold_source": (str,), "n_windows": (int,), "n_lines": (int,),
    "n_anomalous": (int,), "metrics": (dict,), "novelty": (bool,), "decision": (str,), "plots": (list,),
}
_OPTIONAL_METRICS = ("decoder_metrics", "validation_metrics")
_NULLABLE_METRICS = ("roc_auc", "pr_auc")


class MetricsFileError(ValueError):
    """A metrics.json that does not follow `EvaluationRecord` (the message names the file and the key)."""


def validate_evaluation(payload: Any, source: str | Path = "metrics.json") -> EvaluationRecord:
    """`payload` as an `EvaluationRecord`, or `MetricsFileError` naming `source` and the first missing/wrong key."""
    expected = "a metrics.json written by `logllm evaluate` / evaluate_model"
    if not isinstance(payload, Mapping):
        raise MetricsFileError(f"{source}: expected a JSON object ({expected}), got {type(payload).__name__}")
    for key in sorted(_EvaluationRequired.__required_keys__):
        if key not in payload:
            raise MetricsFileError(f"{source}: missing key {key!r} ({expected})")
    for key, types in _TYPES.items():
        value = payload.get(key)
        if key in payload and not (isinstance(value, types) and not (types == _NUMBER and isinstance(value, bool))):
            raise MetricsFileError(f"{source}: {key!r} should be {' or '.join(t.__name__ for t in types)}, "
                                   f"got {type(value).__name__} ({expected})")
    _check_metric_values(payload["metrics"], "metrics", source)
    for key in _OPTIONAL_METRICS:
        if payload.get(key) is not None:
            _check_metric_values(payload[key], key, source)
    return payload  # type: ignore[return-value]


def _check_metric_values(values: Any, where: str, source: str | Path) -> None:
    if not isinstance(values, Mapping):
        raise MetricsFileError(f"{source}: {where!r} should be an object of metric values, got {type(values).__name__}")
    for key in MetricValues.__annotations__:
        if key not in values:
            raise MetricsFileError(f"{source}: missing key '{where}.{key}' (compute_metrics writes all of "
                                   f"{', '.join(MetricValues.__annotations__)})")
        value = values[key]
        if value is None and key in _NULLABLE_METRICS:
            continue
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise MetricsFileError(f"{source}: '{where}.{key}' should be a number, got {value!r}")


def read_evaluation(path: str | Path) -> EvaluationRecord:
    """Read and validate one metrics.json (`MetricsFileError`, a ValueError, names the file and what is wrong)."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MetricsFileError(f"{path}: cannot read metrics JSON ({err})") from err
    return validate_evaluation(payload, path)


__all__ = ["EvaluationRecord", "MetricValues", "MetricsFileError", "read_evaluation", "validate_evaluation"]
