"""The one scoring call: a loaded model + its operating point, scoring windows for detect, watch, the Space,
evaluation and the benchmarks.

`Detector.scores` returns P(anomalous) per window (evaluation, baselines, benches); `Detector.score` returns
`WindowResult`s with per-line evidence for people (detect, watch, the Space). Both go through
`logllm.modeling.detection_logllm.score_windows` — one batching, caching, chunking and progress layer — with a
window-score cache that lives as long as the detector, so a stream of repeating windows is scored once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    status: str = "normal"  # normal | anomalous | unfamiliar (most lines unlike anything in training)
    reason: str | None = None  # why anomalous: "the model", "unseen line" or "both"
    novelty: float | None = None  # the window's highest line novelty (distance to the nearest training-normal line)
    line_novelty: list[float] | None = None
    unseen_share: float | None = None  # share of distinct lines above the novelty threshold
    ranking: float | None = None  # one score agreeing with the decision (>= 0.5 flagged), for curves
    model_lines: list[str] | None = None  # the lines as the model read them (masked), when scored by `Detector.score`
    # With a template index: each line's part ("new template", "rare template", "unusual line" or None) and, for
    # lines with a part, the template to accept it by (`logllm accept --template`)
    line_parts: list[str | None] | None = None
    line_templates: list[str | None] | None = None

    def unseen_lines(self, threshold: float) -> set[int]:
        """Indices of lines whose novelty is above `threshold`."""
        return {i for i, v in enumerate(self.line_novelty or []) if v > threshold}

    @property
    def first_line(self) -> int:
        return self.line_numbers[0] if self.line_numbers else 0

    @property
    def last_line(self) -> int:
        return self.line_numbers[-1] if self.line_numbers else 0

    def suspicious_lines(self, k: int = 3, novelty_threshold: float | None = None) -> list[tuple[int, float, str]]:
        """Up to k lines that pushed the window towards "anomalous" most, as (line number, evidence, text).

        Lines above `novelty_threshold` (unseen in training) come first, by novelty; then lines by the model's
        evidence. Only positive model evidence counts: a line whose removal does not lower the window's log-odds is
        not suspicious, however the window scored.
        """
        picked, seen = [], set()

        def take(i: int, value: float) -> bool:
            if self.lines[i] in seen:  # repeated identical lines score the same: show each text once
                return False
            seen.add(self.lines[i])
            picked.append((self.line_numbers[i], float(value), self.lines[i]))
            return len(picked) == k

        if self.line_parts is not None:  # template index: new templates, then rare ones, then unusual lines
            novelty = self.line_novelty or [1.0] * len(self.lines)
            for part in ("new template", "rare template", "unusual line"):
                for i in sorted((i for i, p in enumerate(self.line_parts) if p == part), key=lambda i: (-novelty[i], i)):
                    if take(i, novelty[i]):
                        return picked
            novelty_threshold = None  # unusual lines were taken above
        if novelty_threshold is not None and self.line_novelty:
            for i in sorted(self.unseen_lines(novelty_threshold), key=lambda i: (-self.line_novelty[i], i)):
                if take(i, self.line_novelty[i]):
                    return picked
        if self.line_scores:
            for i in sorted(range(len(self.lines)), key=lambda i: (-self.line_scores[i], i)):
                if self.line_scores[i] <= 0:
                    break
                if take(i, self.line_scores[i]):
                    break
        return picked

    def evidence_source(self, line: int, novelty_threshold: float | None) -> str | None:
        """'unseen line' when line `line` (an index) is unlike training, 'the model' when it carries positive model
        evidence, else None. With a template index: the line's part ('new template', 'rare template', 'unusual
        line') first."""
        if self.line_parts is not None and self.line_parts[line]:
            return self.line_parts[line]
        if self.line_parts is None and novelty_threshold is not None and self.line_novelty and self.line_novelty[line] > novelty_threshold:
            return "unseen line"
        if self.line_scores and self.line_scores[line] > 0:
            return "the model"
        return None


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

    novelty_threshold: float | None = None

    @property
    def flagged(self) -> list[WindowResult]:
        return sorted((r for r in self.results if r.anomalous), key=lambda r: (r.ranking or r.score), reverse=True)

    @property
    def unfamiliar(self) -> list[WindowResult]:
        return [r for r in self.results if r.status == "unfamiliar"]

    @property
    def has_labels(self) -> bool:
        return bool(self.results) and all(r.label in (0, 1) for r in self.results)


def _field(window: Window, name: str, default: Any = None) -> Any:
    return window.get(name, default)


def _where(window: Window | WindowResult) -> str:
    """Where a window is, for messages: ``source:first-last`` when its line numbers are known, else its id."""
    if isinstance(window, WindowResult):
        source, numbers, window_id = window.source, window.line_numbers, window.window_id
    else:
        source, numbers = _field(window, "source", ""), _field(window, "line_numbers", []) or []
        window_id = _field(window, "window_id", "")
    if source and numbers:
        return f"{source}:{numbers[0]}-{numbers[-1]}"
    return str(window_id or "(unnamed)")


class Detector:
    """A loaded model + processor + operating point; load once, score many windows.

    Args:
        model, processor: a `LogLLMForAnomalyDetection` and its `LogLLMProcessor`.
        name (`str`): what reports call the model (folder or Hub id).
        batch_size (`int`): windows per forward pass.
        threshold (`float`, *optional*): decision threshold; defaults to the operating point the model was saved
            with (`config.operating_point`), else 0.5 — `threshold_source` says which.
    """

    def __init__(self, model: Any, processor: Any, name: str = "", batch_size: int = 16, threshold: float | None = None,
                 use_novelty: bool = True) -> None:
        from logllm.modeling.detection_logllm import LineVectorCache, WindowScoreCache
        from logllm.scoring.operating_point import OperatingPoint

        self.model = model.eval()
        self.line_cache = LineVectorCache()  # encoded lines kept across calls (attached to the model while scoring)
        self.processor = processor
        self.name = name
        self.batch_size = batch_size
        point = OperatingPoint.of(model)
        self.point = point or OperatingPoint(threshold_source="default 0.5 (the model carries no operating point)")
        if threshold is not None:
            self.point.threshold, self.point.threshold_source = float(threshold), "given (--threshold)"
        if not 0.0 <= self.point.threshold <= 1.0:
            raise DetectionInputError(f"threshold {self.point.threshold} must be between 0 and 1")
        has_index = getattr(model, "novelty_index", None) is not None
        self.use_novelty = bool(use_novelty and has_index and self.point.novelty_threshold is not None)
        self.cache = WindowScoreCache()
        # the template index (logllm.modeling.templates_logllm) and its ledger of accepted lines
        self.templates = getattr(model, "template_index", None)
        self.template_rule = bool(use_novelty and self.templates is not None and self.point.new_template_flags is not False)

    def line_parts(self, model_text: Sequence[str], line_novelty: list[float] | None
                   ) -> tuple[list[str | None], list[str | None], int, int, list[float] | None]:
        """Per line of a window (model text): its part, its template (lines with a part), the window's distinct
        new- and rare-template lines, and the line novelty with accepted lines at 0 (the ledger counts as normal)."""
        index = self.templates
        parts: list[str | None] = []
        templates: list[str | None] = []
        novelty = list(line_novelty) if line_novelty is not None else None
        tau = self.point.novelty_threshold if self.use_novelty else None
        new, rare = set(), set()
        for i, line in enumerate(model_text):
            part = index.part(line)
            if part is None and index.accepted(line):
                if novelty is not None:
                    novelty[i] = 0.0
            elif part is None and tau is not None and novelty is not None and novelty[i] > tau:
                part = "unusual line"
            parts.append(part)
            templates.append(index.template_of(line) if part else None)
            if part == "new template":
                new.add(line)
            elif part == "rare template":
                rare.add(line)
        return parts, templates, len(new), len(rare), novelty

    @property
    def threshold(self) -> float:
        return self.point.threshold

    @property
    def threshold_source(self) -> str:
        return self.point.threshold_source

    @property
    def novelty_threshold(self) -> float | None:
        return self.point.novelty_threshold if self.use_novelty else None

    @classmethod
    def load(cls, model: str | None = None, batch_size: int = 16, threshold: float | None = None,
             use_novelty: bool = True) -> Detector:
        """Load a saved model folder, adapter folder or Hub id (see `logllm.modeling.loading.resolve_model`)."""
        try:
            loaded, processor, name = load_model(model)
        except ModelLoadError as err:
            raise ModelNotFoundError(str(err)) from err
        return cls(loaded, processor, name, batch_size, threshold, use_novelty)

    def _score(self, texts: Sequence[Sequence[str]], *, preprocessed: bool, line_evidence: bool,
               progress: ProgressFn | None = None, novelty: bool | None = None,
               names: Sequence[str] | None = None) -> list[Any]:
        """`score_windows` with this detector's settings; a non-finite score is a `DetectionInputError` naming the
        window (`names[i]`: where window i is, e.g. ``app.log:51-100``)."""
        from logllm.modeling.detection_logllm import NonFiniteScoreError, score_windows

        if not self.point.decoder_decides:  # an untrained decoder (`logllm learn`): its score is never computed
            return self._score_without_decoder(texts, preprocessed=preprocessed, progress=progress,
                                               novelty=self.use_novelty if novelty is None else novelty)
        try:
            return score_windows(
                self.model, self.processor, texts, batch_size=self.batch_size, line_evidence=line_evidence,
                preprocessed=preprocessed, cache=self.cache, progress=progress,
                novelty=self.use_novelty if novelty is None else novelty, line_cache=self.line_cache,
                novelty_k=self.point.novelty_k,
            )
        except NonFiniteScoreError as err:
            where = f"window {err.window + 1} of the batch"
            if names is not None and err.window is not None:
                where = f"window {names[err.window]}"
            elif err.window is None:
                where = "a window"
            raise DetectionInputError(f"model {self.name or '(in memory)'}: {where}: {err}") from err

    def _score_without_decoder(self, texts: Sequence[Sequence[str]], *, preprocessed: bool,
                               progress: ProgressFn | None, novelty: bool) -> list[Any]:
        """`WindowScore`s with P(anomalous) 0 and only the line novelty measured (the encoder alone)."""
        from logllm.modeling.detection_logllm import WindowScore, line_novelty, model_texts

        texts = model_texts(texts, self.processor, preprocessed)
        novel = None
        if novelty and getattr(self.model, "novelty_index", None) is not None:
            previous = self.model.line_cache
            if previous is None:
                self.model._line_cache = self.line_cache
            try:
                novel = line_novelty(self.model, self.processor, [line for w in texts for line in w],
                                     k=self.point.novelty_k)
            finally:
                if previous is None:
                    self.model.disable_line_cache()
        results = []
        for window in texts:
            per_line = [novel[line] for line in window] if novel is not None else None
            results.append(WindowScore(score=0.0, log_odds=-math.inf, novelty=max(per_line) if per_line else None,
                                       line_novelty=per_line))
        if progress is not None:
            progress(len(texts), len(texts))
        return results

    def scores(self, windows: Sequence[Sequence[str]], *, preprocessed: bool = True,
               progress: ProgressFn | None = None) -> np.ndarray:
        """The decision-agreeing score per window (lists of lines; dataset `lines` are already preprocessed): the
        decoder's P(anomalous), or with novelty on, `operating_point.ranking_score` (>= 0.5 exactly when flagged)."""
        return self.signals(windows, preprocessed=preprocessed, progress=progress)["ranking"]

    def signals(self, windows: Sequence[Sequence[str]], *, preprocessed: bool = True,
                progress: ProgressFn | None = None, novelty: bool | None = None) -> dict[str, np.ndarray]:
        """Per window: `score` (decoder P(anomalous)), `novelty` (NaN without an index or with novelty off),
        `unseen_share` and `ranking` (the decision-agreeing score). `novelty=True` measures novelty even before an
        operating point exists (to choose one)."""
        from logllm.scoring.operating_point import ranking_score, unseen_share

        n = len(windows)
        out = {k: np.full(n, np.nan) for k in ("score", "novelty", "unseen_share", "ranking")}
        if n == 0:
            return out
        texts = [list(w) for w in windows]
        with_novelty = self.use_novelty if novelty is None else novelty
        results = self._score(texts, preprocessed=preprocessed, line_evidence=False, progress=progress, novelty=with_novelty)
        tau = self.point.novelty_threshold
        templated = self.templates is not None and self.template_rule
        for i, (text, r) in enumerate(zip(texts, results)):
            out["score"][i] = r.score
            new = rare = 0
            line_nov, window_nov = r.line_novelty, r.novelty
            if templated:
                lines = text if preprocessed else self.processor.preprocess_lines(text)
                _, _, new, rare, line_nov = self.line_parts(lines, r.line_novelty)
                window_nov = max(line_nov) if line_nov else r.novelty
            if window_nov is not None:
                out["novelty"][i] = window_nov
                if tau is not None:
                    lines = text if preprocessed else self.processor.preprocess_lines(text)
                    out["unseen_share"][i] = unseen_share(line_nov, lines, tau)
            if self.use_novelty or templated:
                out["ranking"][i] = ranking_score(self.point, r.score, window_nov, self.use_novelty, new, rare, templated)
            else:
                out["ranking"][i] = r.score
        return out

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
        from dataclasses import replace

        from logllm.modeling.detection_logllm import model_texts
        from logllm.scoring.operating_point import decide, ranking_score, unseen_share

        point = self.point if threshold == self.point.threshold else replace(self.point, threshold=threshold)
        texts = [list(_field(w, "lines")) for w in windows]
        self.processor.validate_windows(texts)
        if self.templates is not None:
            self.templates.refresh_ledger()  # an operator's `logllm accept` applies from the next block on
        model_lines = model_texts(texts, self.processor, preprocessed)  # masked once, for scoring and novelty
        scored = self._score(model_lines, preprocessed=True, line_evidence=line_scores is True, progress=progress,
                             names=[_where(w) for w in windows])
        results = []
        for w, text, model_text, s in zip(windows, texts, model_lines, scored, strict=True):
            share = None
            parts = templates = None
            new = rare = 0
            line_nov, window_nov = s.line_novelty, s.novelty
            if self.templates is not None and self.template_rule:  # off: decide and name evidence as before
                parts, templates, new, rare, line_nov = self.line_parts(model_text, s.line_novelty)
                window_nov = max(line_nov) if line_nov else s.novelty
            if self.use_novelty and line_nov is not None:
                share = unseen_share(line_nov, model_text, point.novelty_threshold)
            status, reason = decide(point, s.score, window_nov, share, self.use_novelty, new, rare, self.template_rule)
            results.append(WindowResult(
                window_id=_field(w, "window_id", ""), source=_field(w, "source", ""),
                line_numbers=list(_field(w, "line_numbers", []) or []), lines=text,
                score=float(s.score), anomalous=status == "anomalous",
                line_scores=list(s.line_evidence) if s.line_evidence is not None else None,
                label=int(_field(w, "label", -1)), line_labels=list(_field(w, "line_labels", []) or []),
                log_odds=float(s.log_odds), status=status, reason=reason, novelty=window_nov,
                line_novelty=line_nov, unseen_share=share,
                ranking=ranking_score(point, s.score, window_nov, self.use_novelty, new, rare, self.template_rule),
                model_lines=model_text, line_parts=parts, line_templates=templates,
            ))
        if line_scores == "flagged":
            self.explain([r for r in results if r.anomalous], preprocessed=preprocessed)
        return results

    def score_stream(
        self,
        windows: Iterable[Window],
        *,
        block: int = 1024,
        threshold: float | None = None,
        progress: ProgressFn | None = None,
        line_scores: bool | str = "flagged",
        preprocessed: bool = False,
    ) -> Iterator[WindowResult]:
        """`score`, block by block, over an iterable of any length: results come out in input order as each block is
        scored, and at most one block of windows and results is held (plus the bounded caches), so memory does not
        grow with the number of windows. The scores are exactly `score`'s: the caches live on the detector, so a
        window repeated in a later block is not scored again. `progress(done, taken)` counts windows scored and
        windows taken from `windows` so far.
        """
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        done = 0
        pending: list[Window] = []

        def score_block() -> list[WindowResult]:
            offset = done
            inner = None if progress is None else (lambda n, _total: progress(offset + n, offset + len(pending)))
            return self.score(pending, threshold=threshold, progress=inner, line_scores=line_scores,
                              preprocessed=preprocessed)

        for window in windows:
            pending.append(window)
            if len(pending) >= block:
                results = score_block()
                done += len(pending)
                pending = []
                yield from results
        if pending:
            results = score_block()
            done += len(pending)
            pending = []
            yield from results

    def explain(self, results: Sequence[WindowResult], preprocessed: bool = False) -> None:
        """Fill in per-line evidence for results that have none yet (in place)."""
        todo = [r for r in results if r.line_scores is None]
        if not todo:
            return
        if not self.point.decoder_decides:  # no trained decoder: no model evidence, only the lines' parts
            for result in todo:
                result.line_scores = [0.0] * len(result.lines)
            return
        if all(r.model_lines is not None for r in todo):  # already masked by `score`
            texts, preprocessed = [r.model_lines for r in todo], True
        else:
            texts = [r.lines for r in todo]
        evidence = self._score(texts, preprocessed=preprocessed, line_evidence=True,
                               names=[_where(r) for r in todo])
        for result, scored in zip(todo, evidence, strict=True):
            result.line_scores = [float(v) for v in scored.line_evidence]


def processor_notes(before: dict, after: dict, processor: Any) -> list[str]:
    """What the model had to cut or split, summed over a run (the processor counts per batch)."""
    from logllm.modeling.processing_logllm import truncation_note

    truncated = truncation_note(processor, before)
    notes = [truncated] if truncated else []
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
                           model=detector.name, threshold_source=source, novelty_threshold=detector.novelty_threshold)


def detect_path(
    detector: Detector,
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    threshold: float | None = None,
    progress: ProgressFn | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
    check: Callable[[], None] | None = None,
) -> DetectionReport:
    """Read, window and score one file or folder; the function behind CLI and Space. ``check`` is called for every
    window read and every batch scored, and may raise to stop (the Space's per-request time limit)."""
    read = read_input(path, fmt, window, max_bytes, source_name, check=check)
    if check is None:
        return score_input(detector, read, threshold, progress)

    def checked_progress(done: int, total: int) -> None:
        check()
        if progress is not None:
            progress(done, total)

    return score_input(detector, read, threshold, checked_progress)


__all__ = ["Detector", "DetectionReport", "ModelNotFoundError", "WindowResult", "detect_path", "processor_notes",
           "resolve_model", "score_input", "DEFAULT_THRESHOLD"]
