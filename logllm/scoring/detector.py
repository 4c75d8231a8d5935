"""Load a trained model once and score windows: the detection path shared by ``logllm detect``, ``watch`` and the Space."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

from logllm.dataset.user_logs import ReadResult, now, read_input
from logllm.logs.errors import DetectionInputError
from logllm.windows.spec import WindowSpec
from logllm.windows.windowing import Window

ProgressFn = Callable[[int, int], None]


logger = logging.getLogger(__name__)


DEFAULT_MODEL_DIR = Path("runs") / "quickstart" / "model"


MODEL_ENV = "LOGLLM_MODEL"


class ModelNotFoundError(DetectionInputError):
    """No trained model where one was expected."""


@dataclass
class WindowResult:
    """A scored window with per-line evidence."""

    window_id: str
    source: str
    line_numbers: list[int]
    lines: list[str]
    score: float
    anomalous: bool
    line_scores: list[float] | None
    label: int = -1
    line_labels: list[int] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        return self.line_numbers[0] if self.line_numbers else 0

    @property
    def last_line(self) -> int:
        return self.line_numbers[-1] if self.line_numbers else 0

    def suspicious_lines(self, k: int = 3) -> list[tuple[int, float, str]]:
        """The k lines that moved the score most, as (line number, line score, text), best first."""
        if not self.line_scores:
            return []
        order = sorted(range(len(self.lines)), key=lambda i: (-self.line_scores[i], i))
        picked, seen = [], set()
        for i in order:  # repeated identical lines score the same: show each text once
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

    @property
    def flagged(self) -> list[WindowResult]:
        return sorted((r for r in self.results if r.anomalous), key=lambda r: r.score, reverse=True)

    @property
    def has_labels(self) -> bool:
        return bool(self.results) and all(r.label in (0, 1) for r in self.results)


# ---------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------
def resolve_model(model: str | None) -> str:
    """The model to load: the argument, else $LOGLLM_MODEL, else the quickstart model.

    Never falls back to an untrained model: when nothing trained is found, say how to get one.
    """
    chosen = model or os.environ.get(MODEL_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise ModelNotFoundError(f"{path} is not a saved model folder (no config.json in it)")
            return str(path)
        if chosen.count("/") == 1 and not chosen.startswith((".", "/", "~")):
            return chosen  # a Hub id; loading says if it cannot be reached
        raise ModelNotFoundError(f"model {chosen!r} not found: not a folder and not a Hub id (owner/name)")
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR)
    raise ModelNotFoundError(
        f"no trained model found at {DEFAULT_MODEL_DIR}. Train the offline model with "
        "`logllm quickstart --output runs/quickstart`, or pass --model DIR_OR_HUB_ID "
        f"(or set ${MODEL_ENV})."
    )


class Detector:
    """A loaded model + processor; load once, score many windows."""

    def __init__(self, model: Any, processor: Any, name: str, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def load(cls, model: str | None = None, batch_size: int = 8) -> Detector:
        """Load a saved model folder or Hub id (see :func:`resolve_model`)."""
        name = resolve_model(model)
        from logllm.modeling import LogLLMForAnomalyDetection, LogLLMProcessor

        try:
            loaded = LogLLMForAnomalyDetection.from_pretrained(name)
            processor = LogLLMProcessor.from_pretrained(name)
        except (OSError, ValueError, KeyError, TypeError) as err:  # missing files, wrong model type, bad config
            raise ModelNotFoundError(f"cannot load model {name!r} as a LogLLM model: {err}") from err
        logger.info("loaded model %s", name)
        return cls(loaded, processor, name, batch_size)

    def score(
        self,
        windows: Sequence[Window],
        threshold: float = 0.5,
        progress: ProgressFn | None = None,
        line_scores: bool | str = "flagged",
    ) -> list[WindowResult]:
        """Score windows in batches; ``progress(done, total)`` after each batch.

        Line scores are leave-one-out (one extra forward pass per distinct line), so by default
        (``"flagged"``) they are computed only for windows at or above the threshold; ``True``
        computes them for all windows, ``False`` for none. :meth:`explain` adds them later.
        """
        results: list[WindowResult] = []
        total = len(windows)
        for start in range(0, total, self.batch_size):
            batch = windows[start : start + self.batch_size]
            outputs = self.model.detect(
                [w["lines"] for w in batch], self.processor, threshold=threshold,
                batch_size=self.batch_size, line_scores=line_scores is True,
            )
            for window, out in zip(batch, outputs, strict=True):
                scores = out.get("line_scores")
                results.append(
                    WindowResult(
                        window_id=window["window_id"], source=window["source"],
                        line_numbers=list(window["line_numbers"]), lines=list(window["lines"]),
                        score=float(out["score"]), anomalous=bool(out["anomalous"]),
                        line_scores=[float(s) for s in scores] if scores else None,
                        label=window["label"], line_labels=list(window["line_labels"]),
                    )
                )
            if progress is not None:
                progress(min(start + len(batch), total), total)
        if line_scores == "flagged":
            self.explain([r for r in results if r.anomalous])
        return results

    def explain(self, results: Sequence[WindowResult]) -> None:
        """Fill in leave-one-out line scores for results that have none yet (in place)."""
        todo = [r for r in results if r.line_scores is None]
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            outputs = self.model.detect([r.lines for r in batch], self.processor, batch_size=self.batch_size,
                                        line_scores=True)
            for result, out in zip(batch, outputs, strict=True):
                result.line_scores = [float(s) for s in out["line_scores"]]


def processor_notes(before: dict, after: dict, processor: Any) -> list[str]:
    """What the model had to cut, summed over a run (the processor warns per batch)."""
    notes = []
    cut = after.get("lines_truncated", 0) - before.get("lines_truncated", 0)
    if cut:
        limit = getattr(processor, "max_tokens_per_line", "?")
        notes.append(f"{cut} distinct line(s) were longer than the model's {limit} tokens per line and were truncated")
    return notes


def score_input(detector: Detector, read: ReadResult, threshold: float = 0.5,
                progress: ProgressFn | None = None) -> DetectionReport:
    started = now()
    before = dict(getattr(detector.processor, "stats", {}))
    results = detector.score(read.windows, threshold=threshold, progress=progress)
    notes = read.notes + processor_notes(before, dict(getattr(detector.processor, "stats", {})), detector.processor)
    return DetectionReport(results=results, fmt=read.fmt, window=read.window, threshold=threshold,
                           n_lines=read.n_lines, seconds=read.seconds + now() - started, notes=notes,
                           model=detector.name)


def detect_path(
    detector: Detector,
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    threshold: float = 0.5,
    progress: ProgressFn | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> DetectionReport:
    """Read, window and score one file or folder; the function behind CLI and Space."""
    return score_input(detector, read_input(path, fmt, window, max_bytes, source_name), threshold, progress)

