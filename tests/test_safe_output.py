"""Hostile log lines and file names cannot steer a terminal or run as a spreadsheet formula (issue 30, part B 1).

Every printer of log text and file names (detect's table and notes, watch's alerts, the CSV output) goes through
`logllm.report.safe_text`; JSONL keeps the raw text (JSON escapes it).
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logllm.commands.watch import format_alert
from logllm.report.detection import DetectionTally, ResultWriter, format_table
from logllm.report.safe_text import csv_cell, terminal_line, terminal_text
from logllm.scoring.detector import DetectionReport, WindowResult
from logllm.windows.spec import WindowSpec

sys.path.insert(0, str(Path(__file__).parent))

CLEAR_SCREEN = "\x1b[2J\x1b[H"
OSC8_LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = [CLEAR_SCREEN + "error", OSC8_LINK, "ok\b\b\bFAIL", "user \u202egnp.exe", "a\u2066b\u2069c", "x\rOVERWRITE",
           "\x9b31m C1 CSI", "=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\x00nul",
           "line\u2028sep", "bad \udcff byte"]
# What must never reach a terminal or a CSV cell raw: every control character (C0, DEL, C1), the bidi controls,
# the line/paragraph separators and lone surrogates.
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def steering(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cs") or c in BIDI]


hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(codec=None, categories=("Cc", "Cf", "Zl", "Zp", "Cs", "L", "N", "P", "S", "Zs")),
            max_size=40),
    st.lists(st.sampled_from(HOSTILE + ["plain", " ", "=", "\\x1b"]), max_size=5).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_terminal_text_escapes_every_steering_character_and_nothing_else(text):
    safe = terminal_text(text)
    assert not steering(safe)
    # escaped as Python writes it, so a reader sees what was there
    for char in set(steering(text)):
        code = ord(char)
        assert (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") in safe
    if not steering(text):
        assert safe == text
    safe.encode("utf-8")  # printable on a UTF-8 terminal (lone surrogates would raise here)


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile_text, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()))
def test_csv_cell_is_text_never_a_formula(value):
    cell = csv_cell(value)
    if not isinstance(value, str):
        assert cell == value  # numbers stay numbers
        return
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert not steering(cell)
    if value.startswith(("=", "+", "-", "@")):
        assert cell == "'" + terminal_text(value)


def test_examples_from_the_issue():
    assert terminal_text(CLEAR_SCREEN + "x") == "\\x1b[2J\\x1b[Hx"
    assert terminal_text("a\u202eb") == "a\\u202eb"
    assert terminal_text("a\bb\x9bc") == "a\\x08b\\x9bc"
    assert terminal_line("a \t\t b") == "a b"
    assert csv_cell('=HYPERLINK("x")') == "'=HYPERLINK(\"x\")"
    assert csv_cell("\x1b[31mred") == "\\x1b[31mred"
    assert csv_cell("C:\\logs\\app.log") == "C:\\logs\\app.log"  # backslashes are content


def hostile_result(name: str, lines: list[str], number: int = 0) -> WindowResult:
    n = len(lines)
    return WindowResult(window_id=f"{name}:{number * n + 1}-{number * n + n}", source=name,
                        line_numbers=list(range(number * n + 1, number * n + n + 1)), lines=lines, score=0.9,
                        anomalous=True, line_scores=[1.0 + i for i in range(n)], status="anomalous",
                        reason="the model")


names = st.sampled_from(HOSTILE + ["app.log", "dir/x.log"]).map(lambda s: s + ".log")
windows = st.lists(st.tuples(names, st.lists(hostile_text.filter(lambda t: t.strip()), min_size=1, max_size=4)),
                   min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(windows)
def test_table_alerts_and_csv_of_hostile_windows(tmp_path, data):
    results = [hostile_result(name, lines, i) for i, (name, lines) in enumerate(data)]
    report = DetectionReport(results=results, fmt="plain", window=WindowSpec.parse("sliding:4:4"), threshold=0.5,
                             n_lines=sum(len(r.lines) for r in results), seconds=0.1,
                             model="m\x1b]0;title\x07", threshold_source="given")
    table = format_table(report, top_k=4, tally=DetectionTally.of(report))
    # rows are the table's own: a newline in a line or a file name is shown, never printed
    assert not steering(table.replace("\n", ""))
    head, columns, *rows = table.split("\n")
    assert len(rows) == sum(1 + len(r.suspicious_lines(4)) for r in results)
    for result in results:
        alert = format_alert(result, 0.01, top_k=4)
        assert not steering(alert.replace("\n", "")) and alert.count("\n") == len(result.suspicious_lines(4))

    path = tmp_path / "r.csv"
    with ResultWriter(path, top_k=4) as writer:
        for result in results:
            writer.write(result)
        writer.commit()
    with open(path, newline="", encoding="utf-8") as handle:
        table_rows = list(csv.DictReader(handle))
    assert len(table_rows) == len(results)
    for row in table_rows:
        for key in ("window_id", "source", "suspicious_lines"):  # the text cells (numbers such as label -1 stay numbers)
            assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r")) and not steering(row[key])
        assert not any(steering(cell) for cell in row.values())

    jsonl = tmp_path / "r.jsonl"
    with ResultWriter(jsonl, top_k=4) as writer:
        for result in results:
            writer.write(result)
        writer.commit()
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").split("\n")
            if line]
    assert [r["source"] for r in rows] == [r.source for r in results]  # JSONL keeps the raw text
    assert [s["text"] for s in rows[0]["suspicious_lines"]] == [t for _, _, t in results[0].suspicious_lines(4)]


def test_detect_cli_prints_and_writes_hostile_logs_escaped(tmp_path, capsys, monkeypatch):
    """The whole command: a file named like a formula with an ESC sequence in it, holding screen-clearing, OSC 8 and
    bidi-override lines (around the line the tiny trained model flags, so they are shown as suspicious); stdout,
    stderr and the CSV carry none of them raw, JSONL keeps them."""
    from detect_support import PLANTED, trained_tiny_model_dir

    from logllm.commands.detect import main

    monkeypatch.chdir(tmp_path)  # a short file name: the table shows the lines whole
    log = Path("=cmd|' \x1b[2J.log")
    hostile = [CLEAR_SCREEN + PLANTED, OSC8_LINK + " " + PLANTED, PLANTED + " \u202egnp.exe"]
    lines = [f"job {i} started" for i in range(12)]
    lines[1], lines[5], lines[9] = hostile
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv_path, jsonl = Path("r.csv"), Path("r.jsonl")
    model = str(trained_tiny_model_dir())
    capsys.readouterr()
    for output in (csv_path, jsonl):
        code = main([str(log), "--model", model, "--window", "sliding:4:4", "--threshold", "0", "--top-k", "4",
                     "--output", str(output), "--no-progress"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert not steering(out.replace("\n", "")) and not steering(err.replace("\n", ""))
        assert "=cmd|' \\x1b[2J.log:1-4" in out  # the file name, shown escaped in the window column
        assert "\\x1b[2J\\x1b[H" + PLANTED in out and "\\u202egnp.exe" in out  # the lines, shown escaped
    with open(csv_path, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not any(steering(cell) or cell.startswith(("=", "+", "@")) for cell in cells)
    assert any(cell.startswith("'=cmd|") for cell in cells) and any("\\x1b]8;;" in cell for cell in cells)
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["source"] == str(log)
    assert {s["text"] for r in rows for s in r["suspicious_lines"]} >= set(hostile)  # JSONL: the raw text


@pytest.mark.parametrize("note", ["skipped \x1b[2Jevil.log: unreadable", "x\u202ey"])
def test_detect_notes_and_errors_are_escaped(tmp_path, capsys, note, monkeypatch):
    from logllm.commands import detect
    from logllm.logs.errors import DetectionInputError

    def fail(args):
        raise DetectionInputError(note)

    monkeypatch.setattr(detect, "run", fail)
    assert detect.main([str(tmp_path / "x.log")]) == 2
    _, err = capsys.readouterr()
    assert not steering(err.replace("\n", "")) and terminal_text(note) in err



def test_logllm_log_records_are_escaped_others_untouched():
    import io
    import logging

    from logllm.report.safe_text import escape_log_records

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        escape_log_records()
        logging.getLogger("logllm.safe_text_test").warning("%s:3: not a BGL log line", CLEAR_SCREEN + "x.log")
        logging.getLogger("elsewhere").warning("raw \x1b")
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "\\x1b[2J\\x1b[Hx.log:3: not a BGL log line\nraw \x1b\n"
