"""Scored windows -> what people read: the terminal table, JSONL/CSV rows, a summary dict."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

from logllm.scoring.detector import DetectionReport, WindowResult
from logllm.logs.errors import DetectionInputError


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
    """Write every window's result to ``.jsonl`` (one object a line) or ``.csv``, atomically.

    The file is written next to ``path`` and renamed over it at the end, so a failed run leaves
    an earlier result file as it was.
    """
    from logllm.atomic import atomic_file

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".jsonl", ".json"}:
        raise DetectionInputError(f"--output {path}: use a .jsonl or .csv file name")
    rows = [result_row(r, top_k) for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", newline="" if suffix == ".csv" else None, encoding="utf-8") as handle:
        if suffix == ".csv":
            writer = csv.DictWriter(handle, fieldnames=list(result_row_fields()))
            writer.writeheader()
            for row in rows:
                row["suspicious_lines"] = " | ".join(
                    f"{row['source']}:{s['line']} ({s['score']:.3f}) {s['text']}" for s in row["suspicious_lines"]
                )
                writer.writerow(row)
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
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

