"""Shared detection code for ``logllm detect``, ``logllm watch`` and the Space.

One path for everyone: resolve and load a trained model once (:class:`Detector`), turn user
input into windows with the same parsers and windowing the training data used
(:func:`read_windows`), score them in batches (:meth:`Detector.score`), and present the result
(:func:`format_table`, :func:`write_results`).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMATS = ("auto", "hdfs", "bgl", "thunderbird", "liberty", "plain")
DEFAULT_MODEL_DIR = Path("runs") / "quickstart" / "model"
MODEL_ENV = "LOGLLM_MODEL"
# Paper defaults for Loghub; plain user logs get shorter windows so evidence stays readable.
DEFAULT_WINDOWS = {
    "hdfs": "session",
    "bgl": "sliding:100:100",
    "thunderbird": "sliding:100:100",
    "liberty": "sliding:100:100",
    "plain": "sliding:50:50",
    "spirit": "sliding:100:100",  # auto-detected only
    "hdfs_traces": "session",  # Event_traces.csv, auto-detected only
}
BINARY_SNIFF_BYTES = 8192

ProgressFn = Callable[[int, int], None]


class DetectionInputError(ValueError):
    """User input that cannot be scored; the message is meant for the user, as is."""


class ModelNotFoundError(DetectionInputError):
    """No trained model where one was expected."""


# ---------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSpec:
    """How to group lines: ``session`` (HDFS block ids), ``sliding:SIZE:STEP``, ``time:SECONDS``."""

    kind: str
    size: int = 100
    step: int = 100
    seconds: float = 60.0

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        parts = text.strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        try:
            if kind == "session" and not args:
                return cls("session")
            if kind == "sliding" and len(args) <= 2:
                size = int(args[0]) if args else 100
                step = int(args[1]) if len(args) > 1 else size
                if size < 1 or step < 1:
                    raise ValueError
                return cls("sliding", size=size, step=step)
            if kind == "time" and len(args) <= 1:
                seconds = float(args[0]) if args else 60.0
                if seconds <= 0:
                    raise ValueError
                return cls("time", seconds=seconds)
        except ValueError:
            pass
        raise DetectionInputError(
            f"--window {text!r} not understood; use 'session', 'sliding:SIZE[:STEP]' or 'time:SECONDS'"
        )

    def __str__(self) -> str:
        if self.kind == "sliding":
            return f"sliding:{self.size}:{self.step}"
        if self.kind == "time":
            return f"time:{self.seconds:g}"
        return self.kind


@dataclass
class Window:
    """A group of lines to score (the fields of the window dataset rows that detection needs)."""

    window_id: str
    source: str
    lines: list[str]  # what the model reads (raw; the processor masks them)
    line_numbers: list[int]
    line_labels: list[int] = field(default_factory=list)  # 1/0/-1 per line, empty if unknown
    label: int = -1


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
                [w.lines for w in batch], self.processor, threshold=threshold,
                batch_size=self.batch_size, line_scores=line_scores is True,
            )
            for window, out in zip(batch, outputs, strict=True):
                scores = out.get("line_scores")
                results.append(
                    WindowResult(
                        window_id=window.window_id, source=window.source,
                        line_numbers=list(window.line_numbers), lines=list(window.lines),
                        score=float(out["score"]), anomalous=bool(out["anomalous"]),
                        line_scores=[float(s) for s in scores] if scores else None,
                        label=window.label, line_labels=list(window.line_labels),
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


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def check_readable_log(path: Path, max_bytes: int | None = None) -> None:
    """Refuse what cannot be a log before parsing: missing, empty, too big or binary files."""
    if not path.exists():
        raise DetectionInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return
    size = path.stat().st_size
    if size == 0:
        raise DetectionInputError(f"{path}: the file is empty; nothing to score")
    if max_bytes is not None and size > max_bytes:
        raise DetectionInputError(
            f"{path}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB; "
            "split the file or raise the limit (--max-mb)"
        )
    with open(path, "rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
    if path.suffix == ".gz" or head[:2] == b"\x1f\x8b":
        return
    if b"\x00" in head:
        raise DetectionInputError(
            f"{path}: looks like a binary file (NUL bytes in the first {len(head)} bytes), not a text log"
        )


def expand_inputs(path: Path) -> list[Path]:
    """A file, or every regular non-hidden file under a folder, sorted for a stable order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DetectionInputError(f"{path}: the folder holds no files")
        return files
    return [path]


def window_label(line_labels: Sequence[int]) -> int:
    """1 if any line is anomalous, -1 if any is unknown, else 0 (the dataset rule)."""
    from logllm.windows.windowing import window_label as rule

    return rule(line_labels)


def line_parser(fmt: str, source: str) -> Callable[[str, int], Any]:
    """A per-line parser for streaming: (text, line number) -> LogRecord, or None for a blank line.

    A line that does not fit the format is kept as plain text (its content is the whole line,
    label unknown), counted in ``parse.unparsed`` and logged for the first few, so a stray
    line never stops a watcher and is never dropped silently.
    """
    from logllm.logs.errors import LogFormatError
    from logllm.logs.formats import line_parser as data_line_parser
    from logllm.logs.records import LogRecord

    if fmt == "auto":
        raise DetectionInputError("a followed file needs an explicit --format (default plain)")
    try:
        strict = data_line_parser(fmt)
    except ValueError as err:
        raise DetectionInputError(str(err)) from None

    def parse(text: str, line_number: int) -> LogRecord | None:
        if not text.strip():
            return None
        try:
            return strict(text, source, line_number)
        except LogFormatError as err:
            parse.unparsed += 1
            if parse.unparsed <= 5:
                logger.warning("%s; kept as a plain line", err)
        return LogRecord(source, line_number, text)

    parse.unparsed = 0
    return parse


# BuildReport counters worth telling the user about, with how to say it.
REPORT_NOTES = {
    "non_utf8_lines_repaired": "{n} line(s) were not valid UTF-8; undecodable bytes were replaced",
    "lines_cut_at_max_length": "{n} line(s) were longer than 1 MiB and were cut",
    "lines_with_nul_bytes": "{n} line(s) held NUL bytes, which were removed",
    "lines_without_session_id": "{n} line(s) name no HDFS block id and are in no session window",
    "lines_without_timestamp": "{n} line(s) have no timestamp and are in no time window",
    "late_lines_skipped": "{n} line(s) arrived too far out of time order for their time window",
    "lines_between_windows": "{n} line(s) fall between windows (step > size)",
    "unparsed_lines": "{n} line(s) did not match the format and were skipped",
}


def sniff_format(path: Path) -> str:
    """DATA's format detector (first lines vs. the strict parsers); anything unknown is plain."""
    from logllm.logs.formats import detect_format

    return detect_format(str(path))


def iter_records(path: Path, fmt: str, report: Any, source_name: str | None = None) -> Iterable[Any]:
    """Parsed records of one file (DATA's parsers: unparsable lines skipped and counted)."""
    from logllm.logs.formats import parse_file

    for record in parse_file(str(path), fmt, report):
        if source_name:
            record.source = source_name
        yield record


def windows_of(records: Iterable[Any], spec: WindowSpec, report: Any) -> Iterable[dict]:
    from logllm.windows.windowing import session_windows, sliding_windows, time_windows

    if spec.kind == "session":
        return session_windows(records, report=report)
    if spec.kind == "time":
        return time_windows(records, spec.seconds, report=report)
    return sliding_windows(records, spec.size, spec.step, report=report)


def read_windows(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> tuple[list[Window], str, WindowSpec, int, list[str]]:
    """User input -> windows ready to score, the format and windowing used, lines read, notes."""
    from logllm.logs.errors import BuildReport

    if fmt not in FORMATS:
        raise DetectionInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    check_readable_log(path, max_bytes)
    files = expand_inputs(path)
    report, notes, formats = BuildReport(), [], set()
    windows: list[Window] = []
    spec = None
    for file in files:
        check_readable_log(file, max_bytes)
        file_fmt = sniff_format(file) if fmt == "auto" else fmt
        if fmt == "auto" and file_fmt == "plain":
            notes.append(f"{source_name or file}: format not recognised as HDFS/BGL/Thunderbird/Liberty; "
                         "every line is read as a plain message")
        formats.add(file_fmt)
        spec = WindowSpec.parse(window or DEFAULT_WINDOWS.get(file_fmt, "sliding:100:100"))
        if spec.kind == "session" and not file_fmt.startswith("hdfs"):
            raise DetectionInputError(f"session windows need HDFS block ids; {file} is {file_fmt}: use sliding or time")
        for row in windows_of(iter_records(file, file_fmt, report, source_name), spec, report):
            windows.append(Window(
                window_id=row["window_id"], source=row["source"], lines=list(row["raw_lines"] or row["lines"]),
                line_numbers=list(row["line_numbers"]), line_labels=list(row["line_labels"]), label=int(row["label"]),
            ))
    for name, template in REPORT_NOTES.items():
        if report[name]:
            first = report.examples.get(name, [""])[0]
            notes.append(template.format(n=report[name]) + (f" (first at {first})" if first else ""))
    notes.extend(report.notes)
    if not windows:
        if report["lines_without_timestamp"]:
            raise DetectionInputError(f"{source_name or path}: time windows need timestamps and "
                                      f"{report['lines_without_timestamp']} line(s) have none; use sliding windows")
        raise DetectionInputError(f"{source_name or path}: no log lines could be grouped into windows")
    used = formats.pop() if len(formats) == 1 else "mixed"
    return windows, used, spec or WindowSpec("sliding"), report["lines_read"], notes


def processor_notes(before: dict, after: dict, processor: Any) -> list[str]:
    """What the model had to cut, summed over a run (the processor warns per batch)."""
    notes = []
    cut = after.get("lines_truncated", 0) - before.get("lines_truncated", 0)
    if cut:
        limit = getattr(processor, "max_tokens_per_line", "?")
        notes.append(f"{cut} distinct line(s) were longer than the model's {limit} tokens per line and were truncated")
    return notes


@dataclass
class ReadResult:
    """Windows read from user input, before scoring (so bad input fails before a model loads)."""

    windows: list[Window]
    fmt: str
    window: WindowSpec
    n_lines: int
    notes: list[str]
    seconds: float


def read_input(
    path: str | Path,
    fmt: str = "auto",
    window: str | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> ReadResult:
    started = now()
    windows, used, spec, n_lines, notes = read_windows(path, fmt, window, max_bytes, source_name)
    return ReadResult(windows, used, spec, n_lines, notes, now() - started)


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


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------
def result_row(result: WindowResult, top_k: int = 3) -> dict[str, Any]:
    """One window as a flat JSON-able dict (the JSONL row; CSV joins the list fields)."""
    return {
        "window_id": result.window_id,
        "source": result.source,
        "first_line": result.first_line,
        "last_line": result.last_line,
        "n_lines": len(result.lines),
        "score": round(result.score, 6),
        "anomalous": result.anomalous,
        "label": result.label,
        "suspicious_lines": [
            {"line": number, "score": round(score, 6), "text": text}
            for number, score, text in result.suspicious_lines(top_k)
        ],
    }


def write_results(results: Iterable[WindowResult], path: str | Path, top_k: int = 3) -> Path:
    """Write every window's result to ``.jsonl`` (one object a line) or ``.csv``."""
    path = Path(path)
    rows = [result_row(r, top_k) for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(result_row_fields()))
            writer.writeheader()
            for row in rows:
                row["suspicious_lines"] = " | ".join(
                    f"{row['source']}:{s['line']} ({s['score']:.3f}) {s['text']}" for s in row["suspicious_lines"]
                )
                writer.writerow(row)
    elif path.suffix.lower() in {".jsonl", ".json"}:
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise DetectionInputError(f"--output {path}: use a .jsonl or .csv file name")
    return path


def result_row_fields() -> tuple[str, ...]:
    return ("window_id", "source", "first_line", "last_line", "n_lines", "score", "anomalous", "label", "suspicious_lines")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(report: DetectionReport, top_k: int = 3, max_rows: int = 50, width: int = 100) -> str:
    """Plain-text summary + flagged windows (highest probability first) with their top lines."""
    flagged = report.flagged
    head = (
        f"{len(report.results)} windows ({report.window}) from {report.n_lines} lines, format {report.fmt}, "
        f"model {report.model}; {len(flagged)} anomalous at threshold {report.threshold:g}; "
        f"{report.seconds:.1f}s"
    )
    lines = [head]
    if not flagged:
        lines.append("No anomalous windows.")
        return "\n".join(lines)
    lines.append(f"{'prob':>6}  {'window':<32} lines")
    for result in flagged[:max_rows]:
        window = _clip(result.window_id, 32)
        lines.append(f"{result.score:6.3f}  {window:<32} {result.first_line}-{result.last_line}")
        for number, score, text in result.suspicious_lines(top_k):
            where = f"{result.source}:{number}"
            lines.append(f"{'':8}{score:6.3f}  {where}  {_clip(text, max(20, width - len(where) - 18))}")
    if len(flagged) > max_rows:
        lines.append(f"... and {len(flagged) - max_rows} more (see --output)")
    return "\n".join(lines)


def report_summary(report: DetectionReport) -> dict[str, Any]:
    """Counts and timing as a dict (the Space's summary, the benchmark's numbers)."""
    return {
        "windows": len(report.results),
        "anomalous_windows": len(report.flagged),
        "lines": report.n_lines,
        "format": report.fmt,
        "window": str(report.window),
        "threshold": report.threshold,
        "seconds": round(report.seconds, 3),
        "model": report.model,
        "notes": list(report.notes),
    }


def now() -> float:
    return time.perf_counter()


__all__ = [
    "DEFAULT_WINDOWS", "FORMATS", "DetectionInputError", "DetectionReport", "Detector", "ModelNotFoundError",
    "Window", "WindowResult", "WindowSpec", "asdict", "format_table", "report_summary", "resolve_model",
    "write_results",
]
