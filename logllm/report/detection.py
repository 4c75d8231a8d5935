"""Scored windows -> what people read: the terminal table, JSONL/CSV rows, a summary dict."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from logllm.logs.errors import DetectionInputError
from logllm.scoring.detector import DetectionReport, WindowResult

logger = logging.getLogger(__name__)

# Above this share of unfamiliar windows the whole input is called unfamiliar (docs/detect.md).
UNFAMILIAR_INPUT_SHARE = 0.5
# What to do about logs the model does not know: train a detector on them (docs/own-logs.md).
OWN_LOGS_COMMANDS = (
    "logllm data build --dataset plain --input YOUR.log --output mine/",
    "logllm train --config quickstart --dataset_name mine/ --normal-only --output_dir runs/mine",
)


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------
def result_row(result: WindowResult, top_k: int = 3, novelty_threshold: float | None = None) -> dict[str, Any]:
    """One window as a flat JSON-able dict (the JSONL row; CSV joins the list fields)."""
    return {
        "window_id": result.window_id,
        "source": result.source,
        "first_line": result.first_line,
        "last_line": result.last_line,
        "n_lines": len(result.lines),
        "score": round(result.score, 6),
        "status": result.status,
        "anomalous": result.anomalous,
        "reason": result.reason,
        "novelty": None if result.novelty is None else round(result.novelty, 6),
        "unseen_share": None if result.unseen_share is None else round(result.unseen_share, 4),
        "label": result.label,
        "suspicious_lines": [
            {"line": number, "score": round(score, 6), "evidence": _source(result, number, novelty_threshold), "text": text}
            for number, score, text in result.suspicious_lines(top_k, novelty_threshold)
        ],
    }


def _source(result: WindowResult, line_number: int, novelty_threshold: float | None) -> str | None:
    index = result.line_numbers.index(line_number) if line_number in result.line_numbers else None
    return None if index is None else result.evidence_source(index, novelty_threshold)


def write_results(results: Iterable[WindowResult], path: str | Path, top_k: int = 3,
                  novelty_threshold: float | None = None) -> Path:
    """Write every window's result to ``.jsonl`` (one object a line) or ``.csv``."""
    path = Path(path)
    rows = [result_row(r, top_k, novelty_threshold) for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(result_row_fields()))
            writer.writeheader()
            for row in rows:
                row["suspicious_lines"] = " | ".join(
                    f"{row['source']}:{s['line']} ({s['evidence']}, {s['score']:.3f}) {s['text']}" for s in row["suspicious_lines"]
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
    return ("window_id", "source", "first_line", "last_line", "n_lines", "score", "status", "anomalous", "reason",
            "novelty", "unseen_share", "label", "suspicious_lines")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def familiarity(report: DetectionReport) -> dict[str, Any]:
    """How much of the input the model knows: unfamiliar windows and unseen distinct lines (None without an index)."""
    tau = report.novelty_threshold
    if tau is None or not report.results:
        return {"unfamiliar_windows": 0, "unfamiliar_share": None, "unseen_line_share": None, "unfamiliar_input": False}
    novelty_of: dict[str, float] = {}
    for r in report.results:
        novelty_of.update(zip(r.lines, r.line_novelty or []))
    unseen = sum(1 for v in novelty_of.values() if v > tau)
    share = len(report.unfamiliar) / len(report.results)
    return {
        "unfamiliar_windows": len(report.unfamiliar),
        "unfamiliar_share": round(share, 4),
        "unseen_line_share": round(unseen / max(len(novelty_of), 1), 4),
        "unfamiliar_input": share > UNFAMILIAR_INPUT_SHARE,
    }


def unfamiliar_message(report: DetectionReport) -> str | None:
    """A plain warning when the model does not know these logs, with what to do next; None otherwise."""
    facts = familiarity(report)
    if not facts["unfamiliar_windows"]:
        return None
    share, lines = facts["unfamiliar_share"], facts["unseen_line_share"]
    if facts["unfamiliar_input"]:
        head = (f"These logs are unfamiliar to the model: {share:.0%} of the windows ({lines:.0%} of the distinct lines) "
                "are unlike the logs it was trained on, so its scores say nothing about them. They are marked "
                "'unfamiliar', not 'anomalous'.")
    else:
        head = (f"{facts['unfamiliar_windows']} window(s) ({share:.0%}) are unfamiliar: most of their lines are unlike "
                "the model's training logs, so they are marked 'unfamiliar' rather than scored.")
    return head + " To detect anomalies in logs like these, train a detector on a quiet period of them:\n    " + \
        "\n    ".join(OWN_LOGS_COMMANDS)


def format_table(report: DetectionReport, top_k: int = 3, max_rows: int = 50, width: int = 100) -> str:
    """Plain-text summary + flagged windows (most anomalous first) with their top lines and where the evidence
    comes from ("unseen line": unlike anything in training; "the model": the decoder's evidence)."""
    flagged = report.flagged
    tau = report.novelty_threshold
    unfamiliar = len(report.unfamiliar)
    head = (
        f"{len(report.results)} windows ({report.window}) from {report.n_lines} lines, format {report.fmt}, "
        f"model {report.model}; {len(flagged)} anomalous"
        + (f", {unfamiliar} unfamiliar" if unfamiliar else "")
        + f" at threshold {report.threshold:g}"
        + (f" ({report.threshold_source})" if report.threshold_source else "")
        + (f", novelty > {tau:.3g}" if tau is not None else "")
        + f"; {report.seconds:.1f}s"
    )
    lines = [head]
    message = unfamiliar_message(report)
    if message:
        lines.append(message)
    if not flagged:
        lines.append("No anomalous windows.")
        return "\n".join(lines)
    lines.append(f"{'prob':>6}  {'window':<32} {'lines':<13} why")
    for result in flagged[:max_rows]:
        window = _clip(result.window_id, 32)
        lines.append(f"{result.score:6.3f}  {window:<32} {f'{result.first_line}-{result.last_line}':<13} {result.reason or ''}")
        for number, score, text in result.suspicious_lines(top_k, tau):
            where = f"{result.source}:{number}"
            source = _source(result, number, tau) or ""
            lines.append(f"{'':8}{score:6.3f}  {source:<11} {where}  {_clip(text, max(20, width - len(where) - 30))}")
    if len(flagged) > max_rows:
        lines.append(f"... and {len(flagged) - max_rows} more (see --output)")
    return "\n".join(lines)


def report_summary(report: DetectionReport) -> dict[str, Any]:
    """Counts and timing as a dict (the Space's summary, the benchmark's numbers)."""
    return {
        "windows": len(report.results),
        "anomalous_windows": len(report.flagged),
        **familiarity(report),
        "lines": report.n_lines,
        "format": report.fmt,
        "window": str(report.window),
        "threshold": report.threshold,
        "threshold_source": report.threshold_source,
        "novelty_threshold": report.novelty_threshold,
        "seconds": round(report.seconds, 3),
        "model": report.model,
        "notes": list(report.notes),
    }

