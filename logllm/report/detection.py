"""Scored windows -> what people read: the terminal table, JSONL/CSV rows, a summary dict."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from logllm.logs.errors import DetectionInputError
from logllm.report.safe_text import csv_cell, terminal_line, terminal_text
from logllm.scoring.detector import DetectionReport, WindowResult

logger = logging.getLogger(__name__)

# Above this share of unfamiliar windows the whole input is called unfamiliar (docs/detect.md; measured by
# bench/familiarity.py: held-out windows of a model's own kind of logs vs 13 systems it never saw).
UNFAMILIAR_INPUT_SHARE = 0.5
# What to do about logs the model does not know: train a detector on a quiet period of them (docs/own-logs.md). The
# windows are detect's default for plain logs (sliding 50/50) and the config name is the one `data build` gives them;
# --no-evaluate-test because unlabeled logs have no labeled test split to score (tests/test_familiarity.py runs them).
OWN_LOGS_COMMANDS = (
    "logllm data build --dataset plain --input YOUR.log --window-size 50 --step 50 --output mine/",
    "logllm train --config quickstart --dataset_name mine/ --dataset_config plain_sliding_50_50 --normal-only "
    "--no-evaluate-test --output_dir runs/mine",
    "logllm detect YOUR.log --model runs/mine/final_model",
)
# Said once when the model carries no index of its training logs (so familiarity cannot be measured).
NO_INDEX_NOTE = ("the model carries no index of the logs it was trained on, so it cannot tell whether these logs are "
                 "like them; on logs unlike its training logs its scores mean nothing (docs/detect.md)")


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
            {"line": number, "score": round(score, 6), "evidence": _source(result, number, novelty_threshold), "text": text,
             **_template(result, number)}
            for number, score, text in result.suspicious_lines(top_k, novelty_threshold)
        ],
    }


def _template(result: WindowResult, line_number: int) -> dict[str, str]:
    """{"template": ...} for a line with a template part (what `logllm accept --template` takes), else {}."""
    if not result.line_templates or line_number not in result.line_numbers:
        return {}
    template = result.line_templates[result.line_numbers.index(line_number)]
    return {"template": template} if template else {}


def _source(result: WindowResult, line_number: int, novelty_threshold: float | None) -> str | None:
    index = result.line_numbers.index(line_number) if line_number in result.line_numbers else None
    return None if index is None else result.evidence_source(index, novelty_threshold)


class ResultWriter:
    """Rows written to ``.jsonl`` or ``.csv`` as windows are scored, atomically: into a temporary sibling of
    ``path``, renamed over it by ``commit``; ``abort`` (or an exception inside ``with``) removes it and leaves an
    earlier result file as it was. ``mark``/``rollback`` take back the rows of a file whose reading failed part way.
    """

    def __init__(self, path: str | Path, top_k: int = 3, novelty_threshold: float | None = None) -> None:
        from logllm.atomic import temporary_sibling

        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in {".csv", ".jsonl", ".json"}:
            raise DetectionInputError(f"--output {self.path}: use a .jsonl or .csv file name")
        self.top_k, self.novelty_threshold = top_k, novelty_threshold
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temporary_sibling(self.path)
        self.handle = open(self.tmp, "w", newline="" if self.suffix == ".csv" else None, encoding="utf-8")  # noqa: SIM115
        self.rows = 0
        self.writer = None
        if self.suffix == ".csv":
            self.writer = csv.DictWriter(self.handle, fieldnames=list(result_row_fields()))
            self.writer.writeheader()

    def write(self, result: WindowResult) -> None:
        row = result_row(result, self.top_k, self.novelty_threshold)
        if self.writer is not None:
            row["suspicious_lines"] = " | ".join(
                f"{row['source']}:{s['line']} ({s['evidence']}, {s['score']:.3f}) {s['text']}" for s in row["suspicious_lines"]
            )
            self.writer.writerow({key: csv_cell(value) for key, value in row.items()})  # no formulas, no raw ESC
        else:  # the raw text: JSON escapes control characters itself
            try:
                self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            except UnicodeEncodeError:  # a file name with undecodable bytes (lone surrogates): as \\udcXX escapes
                self.handle.write(json.dumps(row) + "\n")
        self.rows += 1

    def mark(self) -> tuple[int, int]:
        self.handle.flush()
        return self.handle.tell(), self.rows

    def rollback(self, mark: tuple[int, int]) -> None:
        position, self.rows = mark
        self.handle.seek(position)
        self.handle.truncate()

    def commit(self) -> Path:
        import os

        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Remove the temporary file, also when closing it fails (a full disk fails the flush of what is left)."""
        import contextlib
        import os

        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if not self.handle.closed:
            self.abort()


def write_results(results: Iterable[WindowResult], path: str | Path, top_k: int = 3,
                  novelty_threshold: float | None = None) -> Path:
    """Write every window's result to ``.jsonl`` (one object a line) or ``.csv``, atomically.

    The file is written next to ``path`` and renamed over it at the end, so a failed run leaves
    an earlier result file as it was.
    """
    with ResultWriter(path, top_k, novelty_threshold) as writer:
        for result in results:
            writer.write(result)
        return writer.commit()


def result_row_fields() -> tuple[str, ...]:
    return ("window_id", "source", "first_line", "last_line", "n_lines", "score", "status", "anomalous", "reason",
            "novelty", "unseen_share", "label", "suspicious_lines")


def _clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters for the table, whatever steers a terminal shown escaped."""
    text = terminal_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


class DetectionTally:
    """What the table and the exit status need from a run, in bounded memory: counts, the top flagged windows, and
    the novelty of the distinct lines (as the model reads them; up to ``MAX_TALLIED_LINES`` of them).

    ``logllm detect`` adds results as they are scored and writes every row to ``--output`` at once, so a full-size
    log never has all its results in memory; ``DetectionTally.of(report)`` gives the same numbers for a report
    that holds them all.
    """

    def __init__(self, max_rows: int = 50, novelty_threshold: float | None = None) -> None:
        self.max_rows, self.novelty_threshold = max_rows, novelty_threshold
        self.windows = self.flagged_count = self.unfamiliar_count = self.labeled = 0
        self._top: list[tuple[float, int, WindowResult]] = []   # min-heap of the max_rows most anomalous
        self.novelty_of: dict[str, float] = {}
        self.lines_not_tallied = False

    @classmethod
    def of(cls, report: DetectionReport, max_rows: int | None = None) -> DetectionTally:
        tally = cls(len(report.results) if max_rows is None else max_rows, report.novelty_threshold)
        for result in report.results:
            tally.add(result)
        return tally

    def add(self, result: WindowResult) -> None:
        seq = self.windows
        self.windows += 1
        self.labeled += result.label in (0, 1)
        if result.status == "unfamiliar":
            self.unfamiliar_count += 1
        if result.anomalous:
            self.flagged_count += 1
            self._keep((result.ranking or result.score, -seq, result))
        if self.novelty_threshold is not None and result.line_novelty:
            self._note_novelty(zip(result.model_lines or result.lines, result.line_novelty))

    def merge(self, other: DetectionTally) -> None:
        """Fold in a later part of the run (e.g. one file, once it was read completely)."""
        base = self.windows
        self.windows += other.windows
        self.labeled += other.labeled
        self.flagged_count += other.flagged_count
        self.unfamiliar_count += other.unfamiliar_count
        for key, seq, result in other._top:
            self._keep((key, seq - base, result))
        self._note_novelty(other.novelty_of.items())
        self.lines_not_tallied |= other.lines_not_tallied

    def _keep(self, item: tuple[float, int, WindowResult]) -> None:
        """Keep ``item`` among the ``max_rows`` highest (key, earlier first) flagged windows (a bounded min-heap)."""
        import heapq

        if len(self._top) < self.max_rows:
            heapq.heappush(self._top, item)
        elif self.max_rows and item[:2] > self._top[0][:2]:
            heapq.heapreplace(self._top, item)

    def _note_novelty(self, pairs: Iterable[tuple[str, float]]) -> None:
        """Remember each new line's novelty, up to ``MAX_TALLIED_LINES`` distinct lines (past that: said so)."""
        novelty_of = self.novelty_of
        for line, value in pairs:
            if line not in novelty_of:
                if len(novelty_of) >= MAX_TALLIED_LINES:
                    self.lines_not_tallied = True
                    break
                novelty_of[line] = value

    @property
    def flagged(self) -> list[WindowResult]:
        """The most anomalous flagged windows (at most ``max_rows``), most anomalous first, ties in input order."""
        return [result for _, _, result in sorted(self._top, key=lambda item: (-item[0], -item[1]))]

    @property
    def has_labels(self) -> bool:
        return self.windows > 0 and self.labeled == self.windows

    def familiarity(self) -> dict[str, Any]:
        tau = self.novelty_threshold
        if tau is None or not self.windows:
            return {"unfamiliar_windows": 0, "unfamiliar_share": None, "unseen_line_share": None, "unfamiliar_input": False}
        unseen = sum(1 for v in self.novelty_of.values() if v > tau)
        share = self.unfamiliar_count / self.windows
        return {
            "unfamiliar_windows": self.unfamiliar_count,
            "unfamiliar_share": round(share, 4),
            "unseen_line_share": round(unseen / max(len(self.novelty_of), 1), 4),
            "unfamiliar_input": share > UNFAMILIAR_INPUT_SHARE,
        }


# Distinct (masked) lines whose novelty the tally keeps; past this the unseen-line share is over the first ones.
MAX_TALLIED_LINES = 200_000


def familiarity(report: DetectionReport | None, tally: DetectionTally | None = None) -> dict[str, Any]:
    """How much of the input the model knows: unfamiliar windows and unseen distinct lines (None without an index).

    Distinct lines are counted as the model reads them (masked), as the novelty threshold judges them.
    """
    return (tally or DetectionTally.of(report, max_rows=0)).familiarity()


def unfamiliar_message(report: DetectionReport | None, tally: DetectionTally | None = None) -> str | None:
    """A plain warning when the model does not know these logs, with the commands that train a detector on them;
    None when every window is familiar (or familiarity is not measured)."""
    facts = familiarity(report, tally)
    if not facts["unfamiliar_windows"]:
        return None
    share, lines = facts["unfamiliar_share"], facts["unseen_line_share"]
    if facts["unfamiliar_input"]:
        head = (f"The model has never seen logs like these: {share:.0%} of the windows ({lines:.0%} of the distinct "
                "lines) are unlike the logs it was trained on, so its scores say nothing about them. Those windows are "
                "marked 'unfamiliar', not 'anomalous'.")
    else:
        head = (f"{facts['unfamiliar_windows']} window(s) ({share:.0%}) are unfamiliar: most of their lines are unlike "
                "the model's training logs, so they are marked 'unfamiliar', not 'anomalous'.")
    return head + " To detect anomalies in logs like these, train a detector on a quiet period of them:\n    " + \
        "\n    ".join(OWN_LOGS_COMMANDS)


def format_table(report: DetectionReport, top_k: int = 3, max_rows: int = 50, width: int = 100,
                 tally: DetectionTally | None = None) -> str:
    """Plain-text summary + flagged windows (most anomalous first) with their top lines and where the evidence
    comes from ("unseen line": unlike anything in training; "the model": the decoder's evidence).

    ``tally``: the counts and top windows of a streamed run (``report.results`` is then not used).
    """
    tally = tally or DetectionTally.of(report, max_rows=max_rows)
    flagged = tally.flagged
    n_flagged = tally.flagged_count
    tau = report.novelty_threshold
    unfamiliar = tally.unfamiliar_count
    head = (
        f"{tally.windows} windows ({report.window}) from {report.n_lines} lines, format {report.fmt}, "
        f"model {terminal_text(report.model)}; {n_flagged} anomalous"
        + (f", {unfamiliar} unfamiliar" if unfamiliar else "")
        + f" at threshold {report.threshold:g}"
        + (f" ({report.threshold_source})" if report.threshold_source else "")
        + (f", novelty > {tau:.3g}" if tau is not None else "")
        + f"; {report.seconds:.1f}s"
    )
    lines = [head]
    message = unfamiliar_message(report, tally)
    if message:
        lines.append(message)
    if not n_flagged:
        if unfamiliar and unfamiliar == tally.windows:
            lines.append("No window could be judged: every window is unfamiliar.")
        elif unfamiliar:
            lines.append(f"No anomalous windows among the {tally.windows - unfamiliar} familiar ones.")
        else:
            lines.append("No anomalous windows.")
        return "\n".join(lines)
    lines.append(f"{'prob':>6}  {'window':<32} {'lines':<13} why")
    for result in flagged[:max_rows]:
        window = _clip(result.window_id, 32)
        lines.append(f"{result.score:6.3f}  {window:<32} {f'{result.first_line}-{result.last_line}':<13} {result.reason or ''}")
        for number, score, text in result.suspicious_lines(top_k, tau):
            where = f"{terminal_text(result.source)}:{number}"
            source = _source(result, number, tau) or ""
            lines.append(f"{'':8}{score:6.3f}  {source:<11} {where}  {_clip(text, max(20, width - len(where) - 30))}")
    if n_flagged > max_rows:
        lines.append(f"... and {n_flagged - max_rows} more (see --output)")
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

