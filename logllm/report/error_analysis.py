"""False positives and false negatives, grouped by the templates they contain.

The dataset's preprocessed `lines` are the templates (variable parts already masked), so a
template is simply a distinct preprocessed line. For every mistake the report lists the lines
that drove the decision (highest per-line scores from `model.detect(..., line_scores=True)`),
and across mistakes it counts which templates they contain compared with the correctly
classified windows, so over-represented templates stand out.
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

TOP_LINES = 3
TOP_TEMPLATES = 15


@dataclass
class Mistake:
    kind: str  # "false positive" | "false negative"
    index: int
    window_id: str
    score: float
    categories: list[str]
    n_lines: int
    driving_lines: list[dict[str, Any]]  # template, raw, line_number, line_score, line_label
    key_template: str


@dataclass
class ErrorReport:
    title: str
    threshold: float
    counts: dict[str, int]
    templates: list[dict[str, Any]] = field(default_factory=list)  # per template: counts in fp/fn/tp/tn
    groups: dict[str, list[tuple[str, list[Mistake]]]] = field(default_factory=dict)  # kind -> [(template, mistakes)]


def _row_value(row: dict[str, Any], key: str, n: int, default: Any) -> list[Any]:
    values = row.get(key)
    return list(values) if values is not None and len(values) == n else [default] * n


def driving_lines(row: dict[str, Any], line_scores: Sequence[float] | None, top: int = TOP_LINES) -> list[dict[str, Any]]:
    """The `top` distinct templates with the highest line scores, each shown by its first line and
    its number of occurrences (line scores are leave-one-out over distinct lines, so repeats tie).
    Without scores: none, we do not guess."""
    lines = list(row["lines"])
    if line_scores is None:
        return []
    if len(line_scores) != len(lines):
        raise ValueError(f"window {row.get('window_id')!r}: {len(line_scores)} line scores for {len(lines)} lines")
    raw = _row_value(row, "raw_lines", len(lines), None)
    numbers = _row_value(row, "line_numbers", len(lines), None)
    line_labels = _row_value(row, "line_labels", len(lines), -1)
    occurrences = Counter(lines)
    first: dict[str, int] = {}
    for i in np.argsort(-np.asarray(line_scores, dtype=float), kind="stable"):
        first.setdefault(lines[i], int(i))
    chosen = list(first.values())[:top]
    return [
        {"template": lines[i], "raw": raw[i], "line_number": numbers[i], "line_score": float(line_scores[i]),
         "line_label": int(line_labels[i]), "occurrences": occurrences[lines[i]]}
        for i in chosen
    ]


def template_table(windows: Sequence[Sequence[str]], outcome: np.ndarray, top: int = TOP_TEMPLATES) -> list[dict[str, Any]]:
    """For templates found in mistakes: in how many FP/FN/TP/TN windows each occurs (windows, not lines)."""
    per_outcome = {kind: Counter() for kind in ("fp", "fn", "tp", "tn")}
    for lines, kind in zip(windows, outcome):
        per_outcome[kind].update(set(lines))
    totals = {kind: int((outcome == kind).sum()) for kind in per_outcome}
    mistaken = per_outcome["fp"] + per_outcome["fn"]
    rows = []
    for template, in_mistakes in mistaken.most_common():
        correct = per_outcome["tp"][template] + per_outcome["tn"][template]
        rows.append({
            "template": template,
            **{kind: per_outcome[kind][template] for kind in per_outcome},
            "share_of_mistakes": in_mistakes / max(1, totals["fp"] + totals["fn"]),
            "share_of_correct": correct / max(1, totals["tp"] + totals["tn"]),
        })
    rows.sort(key=lambda r: (-(r["share_of_mistakes"] - r["share_of_correct"]), -(r["fp"] + r["fn"]), r["template"]))
    return rows[:top]


def build_error_report(
    data: Any, scores: Sequence[float], threshold: float, line_scores: dict[int, Sequence[float]], title: str = ""
) -> ErrorReport:
    """Classify every window as tp/fp/tn/fn and group the mistakes by their key template: the
    line with the highest line score, or "(no line attribution)" when none was computed."""
    labels = np.asarray(data["label"], dtype=int)
    scores = np.asarray(scores, dtype=float)
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} windows but {len(scores)} scores")
    predicted = scores >= threshold
    outcome = np.where(predicted, np.where(labels == 1, "tp", "fp"), np.where(labels == 1, "fn", "tn"))
    windows = data["lines"]
    report = ErrorReport(
        title=title, threshold=float(threshold),
        counts={kind: int((outcome == kind).sum()) for kind in ("tp", "fp", "tn", "fn")},
        templates=template_table(windows, outcome),
    )
    for code, kind in (("fp", "false positive"), ("fn", "false negative")):
        grouped: dict[str, list[Mistake]] = {}
        for i in np.flatnonzero(outcome == code):
            row = data[int(i)]
            lines = driving_lines(row, line_scores.get(int(i)))
            key = lines[0]["template"] if lines else "(no line attribution)"
            grouped.setdefault(key, []).append(Mistake(
                kind=kind, index=int(i), window_id=str(row.get("window_id", i)), score=float(scores[i]),
                categories=list(row.get("categories") or []), n_lines=len(row["lines"]), driving_lines=lines, key_template=key,
            ))
        for mistakes in grouped.values():
            mistakes.sort(key=lambda m: -m.score if code == "fp" else m.score)
        report.groups[kind] = sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return report


# ----------------------------------------------------------------------------- rendering


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ErrorReport, max_examples: int = 5) -> str:
    c = report.counts
    out = [
        f"# Error analysis: {report.title}".rstrip(": "),
        "",
        f"Threshold {report.threshold:.4g}. Windows: {c['tp']} true positives, {c['fp']} false positives, "
        f"{c['tn']} true negatives, {c['fn']} false negatives.",
        "",
        "## Templates over-represented in mistakes",
        "",
        "Windows containing each template, by outcome (a template is a preprocessed line).",
        "",
        "| template | FP | FN | TP | TN | share of mistakes | share of correct |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| `{_md_cell(t['template'])}` | {t['fp']} | {t['fn']} | {t['tp']} | {t['tn']} | "
        f"{t['share_of_mistakes']:.2f} | {t['share_of_correct']:.2f} |"
        for t in report.templates
    ] or ["| (no mistakes) | | | | | | |"]
    for kind, groups in report.groups.items():
        total = sum(len(m) for _, m in groups)
        out += ["", f"## {kind.capitalize()}s ({total}), grouped by the line that drove each decision", ""]
        if not groups:
            out.append("None.")
        for template, mistakes in groups:
            out += [f"### `{_md_cell(template)}` ({len(mistakes)} windows)", ""]
            for m in mistakes[:max_examples]:
                cats = f", categories {', '.join(m.categories)}" if m.categories else ""
                out.append(f"- window `{_md_cell(m.window_id)}`: score {m.score:.4f}, {m.n_lines} lines{cats}")
                for line in m.driving_lines:
                    where = f"line {line['line_number']}" if line["line_number"] is not None else "line ?"
                    label = {1: "anomalous", 0: "normal"}.get(line["line_label"], "unlabeled")
                    raw = f" — raw: `{_md_cell(line['raw'])}`" if line["raw"] is not None else ""
                    times = f", {line['occurrences']}× in window" if line.get("occurrences", 1) > 1 else ""
                    out.append(f"  - {where} (line score {line['line_score']:.3f}, {label}{times}): `{_md_cell(line['template'])}`{raw}")
            if len(mistakes) > max_examples:
                out.append(f"- … and {len(mistakes) - max_examples} more")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_html(report: ErrorReport, max_examples: int = 5) -> str:
    e = html.escape
    c = report.counts
    rows = "".join(
        f"<tr><td><code>{e(t['template'])}</code></td><td>{t['fp']}</td><td>{t['fn']}</td><td>{t['tp']}</td>"
        f"<td>{t['tn']}</td><td>{t['share_of_mistakes']:.2f}</td><td>{t['share_of_correct']:.2f}</td></tr>"
        for t in report.templates
    )
    sections = []
    for kind, groups in report.groups.items():
        total = sum(len(m) for _, m in groups)
        body = [f"<h2>{e(kind.capitalize())}s ({total}), grouped by the line that drove each decision</h2>"]
        if not groups:
            body.append("<p>None.</p>")
        for template, mistakes in groups:
            items = []
            for m in mistakes[:max_examples]:
                lines = "".join(
                    f"<li>line {e(str(l['line_number']))} (score {l['line_score']:.3f}): <code>{e(l['template'])}</code>"
                    + (f"<br><small>raw: <code>{e(str(l['raw']))}</code></small>" if l["raw"] is not None else "") + "</li>"
                    for l in m.driving_lines
                )
                cats = f", categories {e(', '.join(m.categories))}" if m.categories else ""
                items.append(f"<li>window <code>{e(m.window_id)}</code>: score {m.score:.4f}, {m.n_lines} lines{cats}<ul>{lines}</ul></li>")
            more = f"<li>… and {len(mistakes) - max_examples} more</li>" if len(mistakes) > max_examples else ""
            body.append(f"<details open><summary><code>{e(template)}</code> ({len(mistakes)} windows)</summary><ul>{''.join(items)}{more}</ul></details>")
        sections.append("\n".join(body))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Error analysis</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}code{font-size:90%}</style></head><body>"
        f"<h1>Error analysis: {e(report.title)}</h1><p>Threshold {report.threshold:.4g}. Windows: {c['tp']} TP, "
        f"{c['fp']} FP, {c['tn']} TN, {c['fn']} FN.</p><h2>Templates over-represented in mistakes</h2>"
        "<table><tr><th>template</th><th>FP</th><th>FN</th><th>TP</th><th>TN</th><th>share of mistakes</th>"
        f"<th>share of correct</th></tr>{rows}</table>{''.join(sections)}</body></html>\n"
    )


def write_error_report(
    data: Any, scores: Sequence[float], threshold: float, line_scores: dict[int, Sequence[float]], out_dir: str | Path, title: str = ""
) -> tuple[Path, Path]:
    """Write error_analysis.md and error_analysis.html to `out_dir`."""
    report = build_error_report(data, scores, threshold, line_scores, title)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "error_analysis.md", out / "error_analysis.html"
    md.write_text(render_markdown(report), encoding="utf-8")
    page.write_text(render_html(report), encoding="utf-8")
    logger.info("error analysis: %d FP, %d FN -> %s", report.counts["fp"], report.counts["fn"], md)
    return md, page
