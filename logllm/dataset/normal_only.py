"""Normal-only training for a user's own logs: anomalies synthesised from the user's own lines.

A user usually has plenty of logs, nearly all normal, and no labels. We treat their windows as
normal and make the anomalous class from copies of those same windows, changed the ways real
failures change logs (``SYNTHESIZED_KINDS``; names and meanings in ``logllm.logs.anomaly_kinds``):

* ``unseen_template`` – a line the system never printed, spliced from the front of one of its
  line shapes and the back of another, replaces a line;
* ``error_level`` – a line's level word turns severe (``INFO`` → ``ERROR``/``FATAL``...), or the
  line gains a failure prefix when it has no level word;
* ``missing_step`` – every line of one step (template) of the window disappears;
* ``out_of_order`` – a run of lines with different templates is reversed;
* ``abnormal_value`` – a number in a line becomes extreme (×1000, negative). With the
  default ``re`` masking numbers become ``<*>``, so this change is invisible to the model; the
  synthesiser checks every change against the preprocessing and redraws invisible ones (it logs
  how many), so such kinds only count where the preprocessing keeps numbers (``raw``).

Session logs (HDFS-style) suit every kind; for sliding windows over interleaved logs the step
kinds are weak signals, so :data:`SLIDING_KINDS` leaves them out.

The model then trains with the ordinary three stages (``train/train_logllm.py``) on normal
windows (label 0) and synthesised ones (label 1, category ``synthetic:<kind>``), optionally
starting from a Loghub-trained model. Every choice is seeded; validation anomalies are made
from validation normals only, so nothing leaks.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from logllm.logs.anomaly_kinds import parse_kinds
from logllm.windows.preprocessing import make_preprocessor

logger = logging.getLogger(__name__)

SYNTHESIZED_KINDS = ("unseen_template", "error_level", "missing_step", "out_of_order", "abnormal_value")
SLIDING_KINDS = ("unseen_template", "error_level", "abnormal_value")

_LEVELS = re.compile(r"\b(INFO|DEBUG|NOTICE|TRACE|WARN|WARNING|info|debug|notice|trace|warn|warning|Info|Debug|Notice|Warning)\b")
_SEVERE = ("ERROR", "FATAL", "SEVERE", "CRITICAL")
_FAILURE_PREFIXES = ("ERROR: ", "FATAL: ", "error: ", "failed: ")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def _default_preprocess() -> Callable[[str], str]:
    """The project's ``re`` masking (shipped with the model), so visibility is judged as trained."""
    return make_preprocessor("re")


@dataclass
class SynthesisReport:
    """What the synthesiser made, and what it had to redraw because the model could not see it."""

    made: Counter = field(default_factory=Counter)
    invisible_redrawn: Counter = field(default_factory=Counter)
    impossible: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "made": dict(self.made),
            "invisible_redrawn": dict(self.invisible_redrawn),
            "impossible": dict(self.impossible),
        }


class AnomalySynthesizer:
    """Turns normal windows of raw lines into plausible anomalous ones, from the same log's lines.

    Args:
        normal_lines (`Sequence[str]`): raw lines of the user's (normal) log; the vocabulary of
            line shapes the synthetic "unseen" lines must avoid and are spliced from.
        kinds (`Sequence[str]`, *optional*, defaults to `SYNTHESIZED_KINDS`): which changes to draw from.
        preprocess (`Callable[[str], str]`, *optional*): the model's preprocessing; a change the
            preprocessing erases is redrawn. Defaults to the project's ``re`` masking.
        seed (`int`, *optional*, defaults to 0).
    """

    def __init__(
        self,
        normal_lines: Sequence[str],
        kinds: Sequence[str] = SYNTHESIZED_KINDS,
        preprocess: Callable[[str], str] | None = None,
        seed: int = 0,
    ) -> None:
        self.kinds = parse_kinds(kinds, SYNTHESIZED_KINDS, what="normal-only kinds")
        if not normal_lines:
            raise ValueError("need at least one normal line to synthesise anomalies from")
        self.preprocess = preprocess or _default_preprocess()
        self.rng = random.Random(seed)
        self.templates: dict[str, str] = {}  # preprocessed shape -> one raw example
        for line in normal_lines:
            self.templates.setdefault(self.preprocess(line), line)
        self.report = SynthesisReport()

    # ------------------------------------------------------------------ single changes
    def unseen_line(self) -> str | None:
        """A raw line whose preprocessed shape is not among the log's: front of one + back of another."""
        shapes = list(self.templates)
        for _ in range(20):
            a, b = self.rng.sample(shapes, 2) if len(shapes) > 1 else (shapes[0], shapes[0])
            ta, tb = self.templates[a].split(), self.templates[b].split()
            if not ta or not tb:
                continue
            cut_a = self.rng.randint(1, max(1, len(ta) - 1)) if len(ta) > 1 else 1
            cut_b = self.rng.randint(0, len(tb) - 1)
            words = ta[:cut_a] + tb[cut_b:]
            if len(shapes) == 1 or a == b:
                self.rng.shuffle(words)
            line = " ".join(words)
            if self.preprocess(line) not in self.templates:
                return line
        return None

    def unseen_template(self, lines: list[str]) -> tuple[list[str], list[int]] | None:
        new = self.unseen_line()
        if new is None:
            return None
        pos = self.rng.randrange(len(lines))
        out = list(lines)
        out[pos] = new
        return out, [int(i == pos) for i in range(len(out))]

    def error_level(self, lines: list[str]) -> tuple[list[str], list[int]] | None:
        order = list(range(len(lines)))
        self.rng.shuffle(order)
        for pos in order:
            line = lines[pos]
            severe = self.rng.choice(_SEVERE)
            if _LEVELS.search(line):
                mutated = _LEVELS.sub(lambda m: severe if m.group(0).isupper() else severe.lower(), line, count=1)
            elif not any(s in line for s in _SEVERE):
                mutated = self.rng.choice(_FAILURE_PREFIXES) + line
            else:
                continue
            out = list(lines)
            out[pos] = mutated
            return out, [int(i == pos) for i in range(len(out))]
        return None

    def missing_step(self, lines: list[str]) -> tuple[list[str], list[int]] | None:
        shapes = [self.preprocess(x) for x in lines]
        distinct = sorted(set(shapes))
        if len(distinct) < 2:
            return None
        gone = self.rng.choice(distinct)
        kept = [(i, x) for i, x in enumerate(lines) if shapes[i] != gone]
        first_gap = next(i for i, s in enumerate(shapes) if s == gone)
        out = [x for _, x in kept]
        # the line just after the first missing step carries the evidence
        flag = sum(1 for i, _ in kept if i < first_gap)
        return out, [int(i == min(flag, len(out) - 1)) for i in range(len(out))]

    def out_of_order(self, lines: list[str]) -> tuple[list[str], list[int]] | None:
        shapes = [self.preprocess(x) for x in lines]
        starts = [i for i in range(len(lines) - 1) if shapes[i] != shapes[i + 1]]
        if not starts:
            return None
        start = self.rng.choice(starts)
        end = min(len(lines), start + self.rng.randint(2, 4))
        out = list(lines)
        out[start:end] = reversed(out[start:end])
        if [self.preprocess(x) for x in out] == shapes:
            return None
        return out, [int(start <= i < end) for i in range(len(out))]

    def abnormal_value(self, lines: list[str]) -> tuple[list[str], list[int]] | None:
        candidates = [i for i, x in enumerate(lines) if _NUMBER.search(x)]
        if not candidates:
            return None
        pos = self.rng.choice(candidates)
        matches = list(_NUMBER.finditer(lines[pos]))
        m = self.rng.choice(matches)
        value = float(m.group(0))
        extreme = self.rng.choice([value * 1000 + 999, -(value + 1)])
        text = str(int(extreme)) if "." not in m.group(0) else f"{extreme:.2f}"
        out = list(lines)
        out[pos] = lines[pos][: m.start()] + text + lines[pos][m.end():]
        return out, [int(i == pos) for i in range(len(out))]

    # ------------------------------------------------------------------ windows
    def _visible(self, before: list[str], after: list[str]) -> bool:
        return [self.preprocess(x) for x in before] != [self.preprocess(x) for x in after]

    def anomalous_window(self, window: Mapping[str, Any]) -> dict[str, Any] | None:
        """One synthetic anomalous copy of a normal window (raw lines changed, then preprocessed).

        Kinds are tried in a seeded random order; a kind that cannot apply to this window or
        whose change the preprocessing erases is counted and the next is tried. None when no
        kind applies.
        """
        raw = list(window.get("raw_lines") or window["lines"])
        if not raw:
            return None
        kinds = list(self.kinds)
        self.rng.shuffle(kinds)
        for kind in kinds:
            changed = getattr(self, kind)(raw)
            if changed is None:
                self.report.impossible[kind] += 1
                continue
            lines, line_labels = changed
            if not self._visible(raw, lines):
                self.report.invisible_redrawn[kind] += 1
                continue
            self.report.made[kind] += 1
            n = len(lines)
            numbers = list(window.get("line_numbers") or range(1, len(raw) + 1))
            return {
                "window_id": f"{window.get('window_id', 'window')}#synthetic-{kind}",
                "source": window.get("source", ""),
                "lines": [self.preprocess(x) for x in lines],
                "raw_lines": lines,
                "line_numbers": [int(x) for x in (numbers[:n] + [0] * max(0, n - len(numbers)))],
                "line_labels": line_labels,
                "label": 1,
                "categories": [f"synthetic:{kind}"],
                "start_time": window.get("start_time"),
                "end_time": window.get("end_time"),
            }
        return None


def _as_normal(window: Mapping[str, Any]) -> dict[str, Any]:
    """A user's window taken as normal (its unknown labels become 0)."""
    out = dict(window)
    out["label"] = 0
    out["line_labels"] = [0] * len(out.get("lines", []))
    out["categories"] = []
    return out


def synthesize_anomalies(
    normal_windows: Sequence[Mapping[str, Any]],
    n_anomalies: int,
    *,
    synthesizer: AnomalySynthesizer,
) -> list[dict[str, Any]]:
    """``n_anomalies`` synthetic anomalous windows made from copies of ``normal_windows``."""
    if n_anomalies <= 0 or not normal_windows:
        return []
    out: list[dict[str, Any]] = []
    order = list(range(len(normal_windows)))
    attempts = 0
    while len(out) < n_anomalies and attempts < 5 * n_anomalies + len(order):
        if attempts % len(order) == 0:
            synthesizer.rng.shuffle(order)
        window = synthesizer.anomalous_window(normal_windows[order[attempts % len(order)]])
        attempts += 1
        if window is not None:
            out.append(window)
    if len(out) < n_anomalies:
        logger.warning("made only %d of %d synthetic anomalies (kinds: %s)", len(out), n_anomalies, synthesizer.kinds)
    return out


def normal_only_splits(
    windows: Sequence[Mapping[str, Any]],
    *,
    anomaly_ratio: float = 0.3,
    validation_fraction: float = 0.1,
    kinds: Sequence[str] = SYNTHESIZED_KINDS,
    preprocess: Callable[[str], str] | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[dict[str, Any]]], SynthesisReport]:
    """Train/validation windows for normal-only training from a user's (mostly normal) windows.

    The user's windows are all taken as normal (label 0) and split (seeded) into train and
    validation; each part gets synthetic anomalies made only from its own windows, so that
    ``anomaly_ratio`` of it is anomalous. Returns the splits and the synthesis report.
    """
    if not 0.0 < anomaly_ratio < 1.0:
        raise ValueError(f"anomaly_ratio must be in (0, 1), got {anomaly_ratio}")
    if len(windows) < 2:
        raise ValueError(f"need at least 2 windows of normal logs, got {len(windows)}")
    normals = [_as_normal(w) for w in windows]
    order = list(range(len(normals)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(validation_fraction * len(order))) if validation_fraction > 0 else 0
    parts = {"train": [normals[i] for i in sorted(order[n_val:])], "validation": [normals[i] for i in sorted(order[:n_val])]}
    all_lines = [line for w in parts["train"] for line in (w.get("raw_lines") or w["lines"])]
    synth = AnomalySynthesizer(all_lines, kinds=kinds, preprocess=preprocess, seed=seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, normal in parts.items():
        n_anom = round(anomaly_ratio * len(normal) / (1 - anomaly_ratio))
        anomalies = synthesize_anomalies(normal, max(1, n_anom) if normal else 0, synthesizer=synth)
        out[name] = normal + anomalies
        random.Random(seed + len(name)).shuffle(out[name])
    logger.info("normal-only data: %s; synthesis %s", {k: len(v) for k, v in out.items()}, synth.report.as_dict())
    return out, synth.report


def normal_only_dataset_dict(
    dataset: Any,
    *,
    kinds: Sequence[str] | str = SYNTHESIZED_KINDS,
    anomaly_ratio: float = 0.3,
    validation_fraction: float = 0.1,
    drop_known_anomalies: bool = True,
    preprocess: Callable[[str], str] | None = None,
    seed: int = 0,
) -> Any:
    """A ``DatasetDict`` for ``logllm train --normal-only`` from a user's window dataset.

    The user's ``train`` (and ``validation``, if any) windows are pooled and taken as normal;
    windows already labeled anomalous (1) are left out when ``drop_known_anomalies`` (a user
    who knows of incidents should not teach the model they are normal; counted and logged).
    Train and validation are re-split and get synthetic anomalies from their own lines
    (:func:`normal_only_splits`); a ``test`` split is kept unchanged for evaluation.
    """
    from datasets import DatasetDict

    from logllm.dataset.features import windows_to_dataset

    kinds = parse_kinds(kinds, SYNTHESIZED_KINDS, what="normal-only kinds")
    pooled = [row for name in ("train", "validation") if name in dataset for row in dataset[name]]
    if not pooled:
        raise ValueError(f"normal-only training needs a 'train' split with windows; got splits {sorted(dataset)}")
    known = [r for r in pooled if int(r["label"]) == 1]
    if drop_known_anomalies and known:
        logger.info("normal-only: leaving out %d windows already labeled anomalous", len(known))
        pooled = [r for r in pooled if int(r["label"]) != 1]
    splits, report = normal_only_splits(
        pooled, anomaly_ratio=anomaly_ratio, validation_fraction=validation_fraction, kinds=kinds,
        preprocess=preprocess, seed=seed,
    )
    out = DatasetDict({name: windows_to_dataset(rows) for name, rows in splits.items()})
    if "test" in dataset:
        out["test"] = dataset["test"]
    out.synthesis_report = report.as_dict()  # type: ignore[attr-defined]
    return out


__all__ = [
    "SLIDING_KINDS",
    "SYNTHESIZED_KINDS",
    "AnomalySynthesizer",
    "SynthesisReport",
    "normal_only_dataset_dict",
    "normal_only_splits",
    "synthesize_anomalies",
]
