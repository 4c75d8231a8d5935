"""`logllm detect` as a user runs it: files, folders, .gz, stdin, outputs, exit codes, bad input."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logllm.commands.detect import main

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import PLANTED, planted_log, trained_tiny_model_dir, untrained_tiny_model_dir  # noqa: E402

BGL_LINE = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
            "RAS KERNEL INFO instruction cache parity error corrected {n}\n")
BGL_ALERT = ("KERNDTLB 1117838571 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.51.675872 R02-M1-N0-C:J12-U11 "
             "RAS KERNEL FATAL data TLB error interrupt\n")


@pytest.fixture(scope="module")
def model_dir():
    return str(untrained_tiny_model_dir())


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_plain_file_table_and_outputs(tmp_path, capsys, model_dir):
    log = tmp_path / "app.log"
    log.write_text(planted_log(30, (17,)))
    jsonl, csv_path = tmp_path / "r.jsonl", tmp_path / "r.csv"
    code, out, err = run_cli(capsys, log, "--model", model_dir, "--window", "sliding:10:10", "--threshold", "0",
                             "--output", jsonl, "--no-progress")
    assert code == 0
    assert "3 windows (sliding:10:10) from 30 lines, format plain" in out and "3 anomalous at threshold 0" in out
    assert f"{log}:11" in out or f"{log}:1" in out  # suspicious lines as file:line
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["first_line"], r["last_line"]) for r in rows] == [(1, 10), (11, 20), (21, 30)]
    assert all(r["anomalous"] and len(r["suspicious_lines"]) <= 3 for r in rows)
    # only lines that pushed the window towards "anomalous" are called suspicious (evidence in log-odds > 0)
    assert all(s["score"] > 0 for r in rows for s in r["suspicious_lines"])
    code, *_ = run_cli(capsys, log, "--model", model_dir, "--window", "sliding:10:10", "--output", csv_path, "--no-progress")
    with open(csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 3 and 0.0 <= float(table[0]["score"]) <= 1.0


def test_trained_model_reports_the_planted_line_as_most_suspicious(tmp_path, capsys):
    """With the tiny model trained to flag `PLANTED`, only its window is anomalous and it names the line."""
    log, jsonl = tmp_path / "app.log", tmp_path / "r.jsonl"
    log.write_text(planted_log(30, (17,)))
    code, out, _ = run_cli(capsys, log, "--model", trained_tiny_model_dir(), "--window", "sliding:10:10",
                           "--threshold", "0.5", "--output", jsonl, "--no-progress")
    assert code == 0 and "1 anomalous at threshold 0.5" in out and f"{log}:17" in out
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    flagged = [r for r in rows if r["anomalous"]]
    assert [r["first_line"] for r in flagged] == [11]
    assert flagged[0]["score"] > max(r["score"] for r in rows if not r["anomalous"])
    assert flagged[0]["suspicious_lines"][0]["line"] == 17 and flagged[0]["suspicious_lines"][0]["text"] == PLANTED


def test_fail_on_anomaly_exit_status(tmp_path, capsys, model_dir):
    log = tmp_path / "app.log"
    log.write_text(planted_log(20))
    assert run_cli(capsys, log, "--model", model_dir, "--threshold", "0", "--fail-on-anomaly")[0] == 1
    assert run_cli(capsys, log, "--model", model_dir, "--threshold", "1", "--fail-on-anomaly")[0] == 0
    assert run_cli(capsys, log, "--model", model_dir, "--threshold", "0")[0] == 0  # flagged, but not asked to fail


def test_bgl_format_is_detected_with_labels(tmp_path, capsys, model_dir):
    log = tmp_path / "bgl.log"
    log.write_text("".join(BGL_LINE.format(n=i) for i in range(150)) + BGL_ALERT)
    jsonl = tmp_path / "r.jsonl"
    code, out, _ = run_cli(capsys, log, "--model", model_dir, "--output", jsonl)
    assert code == 0 and "format bgl" in out and "(sliding:100:100)" in out
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["label"] for r in rows] == [0, 1]  # label column read, the alert is in the 2nd window
    assert "KERNDTLB" not in json.dumps(rows)  # the label token never reaches the model's text


def test_folder_gz_and_stdin(tmp_path, capsys, model_dir):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_text(planted_log(12, seed=1))
    with gzip.open(folder / "b.log.gz", "wt") as handle:
        handle.write(planted_log(12, seed=2))
    code, out, _ = run_cli(capsys, folder, "--model", model_dir, "--window", "sliding:6", "--threshold", "0")
    assert code == 0 and "4 windows" in out and "b.log.gz" in out
    proc = subprocess.run(
        [sys.executable, "-m", "logllm", "detect", "-", "--model", model_dir, "--threshold", "0", "--window", "sliding:5"],
        input=planted_log(10), capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 windows" in proc.stdout and "<stdin>:" in proc.stdout


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4, [], "binary"),
        (b"", [], "empty"),
        (b"line\n" * 400, ["--max-mb", "0.001"], "over the limit"),
        (b"hello world\n" * 10, ["--format", "bgl"], "not bgl lines"),
        (b"x\n", ["--window", "sliding:zero"], "--window"),
        (b"x\n", ["--window", "session"], "session windows need HDFS block ids"),
        (b"x\n", ["--threshold", "1.5"], "between 0 and 1"),
        (b"x\n", ["--output", "results.txt"], ".jsonl or .csv"),
    ],
    ids=["binary", "empty", "huge", "wrong-format", "bad-window", "session-on-plain", "threshold", "output-suffix"],
)
def test_bad_input_gives_a_readable_error(tmp_path, capsys, model_dir, content, extra, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "input.log"
    log.write_bytes(content)
    code, out, err = run_cli(capsys, log, "--model", model_dir, *extra)
    assert code == 2
    assert err.startswith("logllm detect: error:") and message in err


def test_non_utf8_and_unknown_format_run_with_notes(tmp_path, capsys, model_dir):
    log = tmp_path / "latin1.log"
    log.write_bytes("café au lait served\n".encode("latin-1") * 5 + b'{"json": "line"}\n')
    code, out, err = run_cli(capsys, log, "--model", model_dir)
    assert code == 0 and "5 line(s) were not valid UTF-8" in err and "format not recognised" in err


def test_missing_model_says_how_to_get_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGLLM_MODEL", raising=False)
    log = tmp_path / "a.log"
    log.write_text("x\n")
    code, _, err = run_cli(capsys, log)
    assert code == 2 and "logllm quickstart" in err and "--model" in err
    code, _, err = run_cli(capsys, log, "--model", tmp_path)
    assert code == 2 and "no config.json" in err
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    code, _, err = run_cli(capsys, log, "--model", other)
    assert code == 2 and "is not 'logllm'" in err and str(other) in err


@pytest.mark.shared
def test_real_bgl_sample_windows_and_labels(loghub_dir, tmp_path, capsys, model_dir):
    """Loghub BGL_2k (real, CRLF): auto-detected, 20 windows of 100, 12 labeled anomalous (MANIFEST)."""
    out = tmp_path / "bgl.jsonl"
    code, text, _ = run_cli(capsys, loghub_dir / "loghub" / "BGL" / "BGL_2k.log", "--model", model_dir,
                            "--threshold", "1", "--output", out, "--no-progress")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and "format bgl" in text and len(rows) == 20
    assert sum(r["label"] == 1 for r in rows) == 12 and rows[0]["first_line"] == 1 and rows[-1]["last_line"] == 2000
