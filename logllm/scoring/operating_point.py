"""How a saved model decides: the operating point, chosen on validation only and stored in the model's config.

Two signals make the decision (`decide`):
- the decoder's P(anomalous), against `threshold` = the best-F1 threshold on the validation windows;
- line novelty (distance to the nearest training-normal line), against `novelty_threshold` = a high quantile of
  the novelty of the *normal* validation windows (default 0.99, floor 0.05).
A window is anomalous when either signal crosses its threshold. Why not a calibrator fitted on labels (e.g. a
logistic regression on both signals)? Validation holds only the anomaly kinds training showed; a calibrator fitted
there learns that the decoder alone separates them and gives novelty no weight — exactly the failure new kinds
bring. Setting the novelty threshold from normal windows only keeps normal traffic quiet without assuming anything
about the anomalies to come.

A window is *unfamiliar* when more than `unfamiliar_line_share` of its distinct lines are unseen: the model does
not know this log, so its score says nothing (see docs/detect.md for how the limit was chosen).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
NOVELTY_QUANTILE = 0.99
NOVELTY_FLOOR = 0.05
# Held-out windows of a model's own kind of logs had at most 0.50 of their distinct lines unseen (real BGL_2k; 0.14 on
# synthetic HDFS-like logs), windows of 13 systems it never saw at least 0.98 (bench/results/familiarity.md): 0.75
# is the middle of that gap, and a burst of new lines in a familiar log (an incident) is still scored, not hidden.
UNFAMILIAR_LINE_SHARE = 0.75
STATUSES = ("normal", "anomalous", "unfamiliar")
# The numbers `decide` compares with: field -> (lowest, highest, may be null).
_NUMBER_FIELDS = {"threshold": (0.0, 1.0, False), "novelty_threshold": (0.0, math.inf, True),
                  "unfamiliar_line_share": (0.0, 1.0, True)}


@dataclass
class OperatingPoint:
    """The decision rule a model was saved with (see the module docstring); `config.operating_point` as a dict."""

    threshold: float = DEFAULT_THRESHOLD
    threshold_source: str = "default 0.5 (no validation split)"
    novelty_threshold: float | None = None
    novelty_source: str | None = None
    novelty_k: int = 1
    unfamiliar_line_share: float | None = None
    unfamiliar_source: str | None = None
    window: dict[str, Any] | None = None
    preprocessing: str | None = None
    max_lines_per_window: int | None = None
    dataset: str | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    # The template rule (logllm.modeling.templates_logllm): a window holding a line of a template never seen in the
    # normal logs is anomalous ("new template"). None: on when the model carries a template index.
    new_template_flags: bool | None = None
    rare_template_flags: bool = False  # also flag windows holding a template seen fewer than `rare_below` times
    decoder_decides: bool = True  # False for a folder made by `logllm learn`: its decoder was never trained
    novelty_decides: bool = True  # whether an embedding distance above `novelty_threshold` flags on its own

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> OperatingPoint | None:
        """The point from `config.operating_point`; a value of the wrong type is a `ValueError` naming the field
        (`operating_point.threshold: expected a number between 0 and 1, got 'high'`), never a later TypeError."""
        if not values:
            return None
        if not isinstance(values, dict):
            raise ValueError(f"operating_point: expected an object with a threshold, got {values!r}")
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for name, (low, high, optional) in _NUMBER_FIELDS.items():
            value = known.get(name)
            if value is None and (optional or name not in known):
                continue
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or not low <= value <= high):
                limits = "a number >= 0" if high == math.inf else f"a number between {low:g} and {high:g}"
                raise ValueError(f"operating_point.{name}: expected {limits}{' or null' if optional else ''}, "
                                 f"got {value!r}")
        k = known.get("novelty_k", 1)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"operating_point.novelty_k: expected an integer >= 1, got {k!r}")
        return cls(**known)

    @classmethod
    def of(cls, model: Any) -> OperatingPoint | None:
        """The operating point a model carries (None for a model saved without one)."""
        return cls.from_dict(getattr(model.config, "operating_point", None))

    def save_to(self, model: Any) -> None:
        model.config.operating_point = self.to_dict()


def unseen_share(line_novelty: Sequence[float], lines: Sequence[str], novelty_threshold: float) -> float:
    """Share of a window's distinct lines whose novelty is above the threshold."""
    novelty_of = dict(zip(lines, line_novelty))
    if not novelty_of:
        return 0.0
    return sum(1 for v in novelty_of.values() if v > novelty_threshold) / len(novelty_of)


def template_reasons(point: OperatingPoint, new_templates: int = 0, rare_templates: int = 0,
                     template_rule: bool = False) -> list[str]:
    """The template parts that flag a window under `point` ("new template", "rare template")."""
    if not template_rule:
        return []
    return (["new template"] if new_templates else []) + (
        ["rare template"] if rare_templates and point.rare_template_flags else [])


def decide(point: OperatingPoint, score: float, novelty: float | None, share_unseen: float | None,
           use_novelty: bool = True, new_templates: int = 0, rare_templates: int = 0,
           template_rule: bool = False) -> tuple[str, str | None]:
    """(status, reason): status in `STATUSES`; reason "the model", "unseen line", "both" or None (normal).

    With the template rule on (`template_rule`: the model carries a template index and the point does not turn it
    off), the reason names every part that flagged, joined by " + ": "the model", "new template", "rare template",
    "unusual line" (embedding distance)."""
    if (use_novelty and point.unfamiliar_line_share is not None and share_unseen is not None
            and share_unseen > point.unfamiliar_line_share):
        return "unfamiliar", None
    by_model = point.decoder_decides and score >= point.threshold
    by_novelty = bool(use_novelty and point.novelty_decides and point.novelty_threshold is not None
                      and novelty is not None and novelty > point.novelty_threshold)
    if template_rule or not point.decoder_decides:
        parts = (["the model"] if by_model else []) + template_reasons(point, new_templates, rare_templates,
                                                                       template_rule)
        parts += ["unusual line"] if by_novelty else []
        return ("anomalous", " + ".join(parts)) if parts else ("normal", None)
    if by_model and by_novelty:
        return "anomalous", "both"
    if by_model:
        return "anomalous", "the model"
    if by_novelty:
        return "anomalous", "unseen line"
    return "normal", None


def ranking_score(point: OperatingPoint, score: float, novelty: float | None, use_novelty: bool = True,
                  new_templates: int = 0, rare_templates: int = 0, template_rule: bool = False) -> float:
    """One score for ROC/PR curves that agrees with `decide` (>= 0.5 exactly when a signal crosses its threshold):
    the larger of P / threshold, novelty / novelty_threshold and (template rule) 1 + the flagging template lines,
    mapped by r -> r / (1 + r)."""
    if point.decoder_decides:
        ratio = score / point.threshold if point.threshold > 0 else math.inf
    else:
        ratio = 0.0
    by_novelty = bool(use_novelty and point.novelty_threshold and novelty is not None)
    if by_novelty:
        ratio = max(ratio, novelty / point.novelty_threshold)
    flagged = (point.decoder_decides and score >= point.threshold) or (
        by_novelty and point.novelty_decides and novelty > point.novelty_threshold)
    reasons = template_reasons(point, new_templates, rare_templates, template_rule)
    if reasons:
        flagged = True
        ratio = max(ratio, 1.0 + new_templates + (rare_templates if point.rare_template_flags else 0))
    value = 1.0 if math.isinf(ratio) else ratio / (1.0 + ratio)
    # float rounding must not move a window across 0.5: the decision is the rule above, the value only ranks
    return max(value, 0.5) if flagged else min(value, 0.5 - 1e-12)


def choose_operating_point(
    scores: np.ndarray,
    labels: np.ndarray,
    novelty: np.ndarray | None,
    *,
    quantile: float = NOVELTY_QUANTILE,
    floor: float = NOVELTY_FLOOR,
    unfamiliar_line_share: float | None = UNFAMILIAR_LINE_SHARE,
    **facts: Any,
) -> OperatingPoint:
    """The operating point from validation windows: decoder scores, labels (0/1) and window novelty (or None)."""
    from logllm.report.metrics import best_f1_threshold, compute_metrics

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    point = OperatingPoint(**facts)
    if len(labels) == 0:
        logger.warning("no validation windows: threshold stays at the default %.2f", DEFAULT_THRESHOLD)
    elif labels.sum() == 0:
        point.threshold_source = "default 0.5 (the validation split has no anomalous windows)"
        logger.warning("validation split has no anomalous windows: threshold stays at %.2f", DEFAULT_THRESHOLD)
    else:
        point.threshold = float(best_f1_threshold(labels, scores))
        f1 = compute_metrics(labels, scores, point.threshold)["f1"]
        point.threshold_source = f"best F1 on validation ({len(labels)} windows, F1 {f1:.3f})"
        point.validation["decoder_f1"] = f1
    if novelty is not None:
        novelty = np.asarray(novelty, dtype=float)
        normal = novelty[labels == 0]
        if len(normal):
            point.novelty_threshold = float(max(np.quantile(normal, quantile), floor))
            point.novelty_source = (f"{quantile:.2f} quantile of the novelty of {len(normal)} normal validation windows "
                                    f"(floor {floor})")
        else:
            point.novelty_threshold = floor
            point.novelty_source = f"floor {floor} (no normal validation windows)"
        point.unfamiliar_line_share = unfamiliar_line_share
        point.unfamiliar_source = (None if unfamiliar_line_share is None else
                                   f"{unfamiliar_line_share:.2f}: more than this share of a window's distinct lines unseen "
                                   "(docs/detect.md)")
    return point


__all__ = ["OperatingPoint", "STATUSES", "choose_operating_point", "decide", "ranking_score", "template_reasons",
           "unseen_share",
           "NOVELTY_QUANTILE", "NOVELTY_FLOOR", "UNFAMILIAR_LINE_SHARE"]
