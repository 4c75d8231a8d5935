"""The one scoring call: a loaded model + its operating point, scoring windows for detect, watch, the Space,
evaluation and the benchmarks.

`Detector.scores` returns P(anomalous) per window (evaluation, baselines, benches); `Detector.score` returns
`WindowResult`s with per-line evidence for people (detect, watch, the Space). Both go through
`logllm.modeling.detection_logllm.score_windows` — one batching, caching, chunking and progress layer — with a
window-score cache that lives as long as the detector, so a stream of repeating windows is scored once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logllm.modeling.loading import ModelLoadError, load_model, resolve_model
from logllm.dataset.user_logs import ReadResult, now, read_input
from logllm.logs.errors import DetectionInputError
from logllm.windows.spec import WindowSpec
from logllm.windows.windowing import Window

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
DEFAULT_THRESHOLD = 0.5


class ModelNotFoundError(DetectionInputError):
    """No usable trained model where one was expected (the CLI prints the message as is)."""


@dataclass
class WindowResult:
    """A scored window with per-line evidence (log-odds a line adds to "anomalous"; see detection_logllm)."""

    window_id: str
    source: str
    line_numbers: list[int]
    lines: list[str]
    score: float
    anomalous: bool
    line_scores: list[float] | None
    label: int = -1
    line_labels: list[int] = field(default_factory=list)
    log_odds: float | None = None

    @property
    def first_line(self) -> int:
        return self.line_numbers[0] if self.line_numbers else 0

    @property
    def last_line(self) -> int:
        return self.line_numbers[-1] if self.line_numbers else 0

    def suspicious_lines(self, k: int = 3) -> list[tuple[int, float, str]]:
        """Up to k lines that pushed the window towards "anomalous" most, as (line number, evidence, text).

        Only positive evidence counts: a line whose removal does not lower the window's log-odds is not suspicious,
        however the window scored.
        """
        if not self.line_scores:
            return []
        order = sorted(range(len(self.lines)), key=lambda i: (-self.line_scores[i], i))
        picked, seen = [], set()
        for i in order:  # repeated identical lines score the same: show each text once
            if self.line_scores[i] <= 0:
                break
            if self.lines[i] in seen:
                continue
            seen.add(self.lines[i])
            picked.append((self.line_numbers[i], float(self.line_scores[i]), self.lines[i]))
            if len(picked) == k:
                break
        return picked


@dataclass
class DetectionReport:
    """Everything one detection run produced; what the CLI prints and the Space shows."""

    results: list[WindowResult]
    fmt: str
    window: WindowSpec
    threshold: float
    n_lines: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    model: str = ""
    threshold_source: str = ""

    @property
    def flagged(self) -> list[WindowResult]:
        return sorted((r for r in self.results if r.anomalous), key=lambda r: r.score, reverse=True)

    @property
    def has_labels(self) -> bool:
        return bool(self.results) and all(r.label in (0, 1) for r in self.results)


def _field(window: Window, name: str, default: Any = None) -> Any:
    return window.get(name, default)


class Detector:
    """A loaded model + processor + operating point; load once, score many windows.

    Args:
        model, processor: a `LogLLMForAnomalyDetection` and its `LogLLMProcessor`.
        name (`str`): what reports call the model (folder or Hub id).
        batch_size (`int`): windows per forward pass.
        threshold (`float`, *optional*): decision threshold; defaults to the operating point the model was saved
            with (`config.operating_point`), else 0.5 — `threshold_source` says which.
    """

    def __init__(self, model: Any, processor: Any, name: str = "", batch_size: int = 16, threshold: float | None = None) -> None:
        from logllm.modeling.detection_logllm import WindowScoreCache

        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.batch_size = batch_size
        point = getattr(model.config, "operating_point", None) or {}
        if threshold is not None:
            self.threshold, self.threshold_source = float(threshold), "given (--threshold)"
        elif point.get("threshold") is not None:
            self.threshold = float(point["threshold"])
            self.threshold_source = point.get("chosen_on") or "the model's operating point"
        else:
            self.threshold, self.threshold_source = DEFAULT_THRESHOLD, "default 0.5 (the model carries no operating point)"
        if not 0.0 <= self.threshold <= 1.0:
            raise DetectionInputError(f"threshold {self.threshold} must be between 0 and 1")
        self.cache = WindowScoreCache()

    @classmethod
    def load(cls, model: str | None = None, batch_size: int = 16, threshold: float | None = None) -> Detector:
        """Load a saved model folder, adapter folder or Hub id (see `logllm.modeling.loading.resolve_model`)."""
        try:
            loaded, processor, name = load_model(model)
        except ModelLoadError as err:
            raise ModelNotFoundError(str(err)) from err
        return cls(loaded, processor, name, batch_size, threshold)

    def _score(self, texts: Sequence[Sequence[str]], *, preprocessed: bool, line_evidence: bool,
               progress: ProgressFn | None = None) -> list[Any]:
        from logllm.modeling.detection_logllm import NonFiniteScoreError, score_windows

        try:
            return score_windows(
                self.model, self.processor, texts, batch_size=self.batch_size, line_evidence=line_evidence,
                preprocessed=preprocessed, cache=self.cache, progress=progress,
            )
        except NonFiniteScoreError as err:
            raise DetectionInputError(f"model {self.name or '(in memory)'}: {err}") from err

    def scores(self, windows: Sequence[Sequence[str]], *, preprocessed: bool = True,
               progress: ProgressFn | None = None) -> np.ndarray:
        """P(anomalous) per window (lists of lines; dataset `lines` are already preprocessed)."""
        if len(windows) == 0:
            return np.zeros(0, dtype=float)
        results = self._score([list(w) for w in windows], preprocessed=preprocessed, line_evidence=False, progress=progress)
        return np.asarray([r.score for r in results], dtype=float)

    def line_evidence(self, windows: Sequence[Sequence[str]], *, preprocessed: bool = True) -> list[list[float]]:
        """Per-line evidence (log-odds) for each window."""
        if len(windows) == 0:
            return []
        results = self._score([list(w) for w in windows], preprocessed=preprocessed, line_evidence=True)
        return [list(r.line_evidence) for r in results]

    def score(
        self,
        windows: Sequence[Window],
        threshold: float | None = None,
        progress: ProgressFn | None = None,
        line_scores: bool | str = "flagged",
        preprocessed: bool = False,
    ) -> list[WindowResult]:
        """Score windows (dataset rows: `lines`, `window_id`, `source`, `line_numbers`, ...) into `WindowResult`s.

        Line evidence costs one extra forward pass per distinct line of a window, so by default (`"flagged"`) it is
        computed only for windows at or above the threshold; `True` computes it for all windows, `False` for none.
        """
        threshold = self.threshold if threshold is None else threshold
        windows = list(windows)
        if not windows:
            return []
        texts = [list(_field(w, "lines")) for w in windows]
        scored = self._score(texts, preprocessed=preprocessed, line_evidence=line_scores is True, progress=progress)
        results = [
            WindowResult(
                window_id=_field(w, "window_id", ""), source=_field(w, "source", ""),
                line_numbers=list(_field(w, "line_numbers", []) or []), lines=text,
                score=float(s.score), anomalous=bool(s.score >= threshold),
                line_scores=list(s.line_evidence) if s.line_evidence is not None else None,
                label=int(_field(w, "label", -1)), line_labels=list(_field(w, "line_labels", []) or []),
                log_odds=float(s.log_odds),
            )
            for w, text, s in zip(windows, texts, scored, strict=True)
        ]
        if line_scores == "flagged":
            self.explain([r for r in results if r.anomalous], preprocessed=preprocessed)
        return results

    def explain(self, results: Sequence[WindowResult], preprocessed: bool = False) -> None:
        """Fill in per-line evidence for results that have none yet (in place)."""
        todo = [r for r in results if r.line_scores is None]
        if not todo:
            return
        evidence = self._score([r.lines for r in todo], preprocessed=preprocessed, line_evidence=True)
        for result, scored in zip(todo, evidence, strict=True):
            result.line_scores = [float(v) for v in scored.line_evidence]


def processor_notes(before: dict, after: dict, processor: Any) -> list[str]:
    """What the model had to cut or split, summed over a run (the processor counts per batch)."""
    notes = []
    cut = after.get("lines_truncated", 0) - before.get("lines_truncated", 0)
    if cut:
        limit = getattr(processor, "max_tokens_per_line", "?")
        notes.append(f"{cut} distinct line(s) were longer than the model's {limit} tokens per line and were truncated")
    chunked = after.get("windows_chunked", 0) - before.get("windows_chunked", 0)
    if chunked:
        limit = getattr(processor, "max_lines_per_window", "?")
        notes.append(f"{chunked} window(s) had more than the model's {limit} lines and were scored in chunks "
                     "(window score = highest chunk)")
    return notes


def score_input(detector: Detector, read: ReadResult, threshold: float | None = None,
                progress: ProgressFn | None = None) -> DetectionReport:
    started = now()
    threshold = detector.threshold if threshold is None else threshold
    source = detector.threshold_source if threshold == detector.threshold else "given"
    before = dict(getattr(detector.processor, "stats", {}))
    results = detector.score(read.windows, threshold=threshold, progress=progress)
    notes = read.notes + processor_notes(before, dict(getattr(detector.processor, "stats", {})), detector.processor)
    return DetectionReport(results=results, fmt=read.fmt, window=read.window, threshold=threshold,
                           n_lines=read.n_lines, seconds=read.seconds + now() - started, notes=notes,
                           model=detector.name, threshold_source=source)


def detect_path(
    detector: Detector,
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    threshold: float | None = None,
    progress: ProgressFn | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> DetectionReport:
    """Read, window and score one file or folder; the function behind CLI and Space."""
    return score_input(detector, read_input(path, fmt, window, max_bytes, source_name), threshold, progress)


__all__ = ["Detector", "DetectionReport", "ModelNotFoundError", "WindowResult", "detect_path", "processor_notes",
           "resolve_model", "score_input", "DEFAULT_THRESHOLD"]
