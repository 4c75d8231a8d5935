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


def test_long_lines_are_summed_into_one_note(tmp_path, capsys, model_dir):
    """Lines longer than the model's max_tokens_per_line, over several batches: one note with the total."""
    log = tmp_path / "long.log"
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    log.write_text("".join(f"request {word} " + "payload " * 60 + "\n" for word in words))  # 12 distinct lines
    code, _, err = run_cli(capsys, log, "--model", model_dir, "--window", "sliding:4:4", "--batch-size", "1",
                           "--threshold", "1", "--no-progress")  # 3 batches; nothing flagged, so no line scoring
    notes = [line for line in err.splitlines() if "longer than max_tokens_per_line" in line]
    assert code == 0 and notes == [
        "logllm detect: note: 12 line(s) longer than max_tokens_per_line=32 were truncated "
        "(each distinct line counted once per batch it was in)"
    ]


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


# --------------------------------------------------------------------------------------------- issue 17


def _tar(path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    import io
    import tarfile

    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_archives_are_read_like_data_build_reads_them(tmp_path, capsys, model_dir):
    """Case 8: .zip, .tar, .bz2 and archive:member were refused as binary or 'no such file'."""
    import bz2
    import zipfile

    text = planted_log(12).encode()
    with zipfile.ZipFile(tmp_path / "logs.zip", "w") as zf:
        zf.writestr("a.log", text)
    _tar(tmp_path / "logs.tar", {"a.log": text}, mode="w")
    (tmp_path / "a.log.bz2").write_bytes(bz2.compress(text))
    for name, source in (("logs.zip", "logs.zip:a.log"), ("logs.tar", "logs.tar:a.log"), ("a.log.bz2", "a.log.bz2"),
                         ("logs.zip:a.log", "logs.zip:a.log")):
        jsonl = tmp_path / "r.jsonl"
        code, out, err = run_cli(capsys, f"{tmp_path / name}", "--model", model_dir, "--window", "sliding:6",
                                 "--output", jsonl, "--no-progress")
        assert code == 0, err
        rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
        assert [(r["source"], r["first_line"], r["last_line"]) for r in rows] == [
            (f"{tmp_path / source}", 1, 6), (f"{tmp_path / source}", 7, 12)], name


def test_folder_with_a_bad_file_scores_the_rest_and_says_why(tmp_path, capsys, model_dir):
    """Case 9: one bad file stopped the whole folder; now it is skipped, named, and the exit status is 2."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_text(planted_log(12, seed=1))
    (folder / "b.bin").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8)
    (folder / "c.log").write_bytes(b"")
    jsonl = tmp_path / "r.jsonl"
    code, out, err = run_cli(capsys, folder, "--model", model_dir, "--window", "sliding:6", "--output", jsonl,
                             "--no-progress")
    assert code == 2 and "2 windows" in out
    assert f"skipped {folder / 'b.bin'}: looks like a binary file" in err
    assert f"skipped {folder / 'c.log'}: file is empty" in err and "2 file(s) could not be read" in err
    assert len(jsonl.read_text().splitlines()) == 2


def test_archive_members_get_their_own_format_and_window_in_the_header(tmp_path, capsys, model_dir):
    """Case 9: a tar.gz member of another format was dropped with rc 0; the header named one window kind for all."""
    hdfs = "".join(f"081109 20351{i} 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_{i % 2} src: /10.0.0.1\n"
                   for i in range(6)).encode()
    bgl = b"".join(BGL_LINE.format(n=i).encode() for i in range(120))
    _tar(tmp_path / "mixed.tar.gz", {"hdfs.log": hdfs, "bgl.log": bgl, "app.log": planted_log(60).encode()})
    code, out, err = run_cli(capsys, tmp_path / "mixed.tar.gz", "--model", model_dir, "--threshold", "1", "--no-progress")
    assert code == 0, err
    assert "6 windows (session for hdfs.log; sliding:100:100 for bgl.log; sliding:50:50 for app.log)" in out
    assert "format mixed" in out
    code, out, err = run_cli(capsys, tmp_path / "mixed.tar.gz", "--model", model_dir, "--format", "bgl",
                             "--threshold", "1", "--no-progress")
    assert code == 2 and "2 windows" in out
    assert f"skipped {tmp_path / 'mixed.tar.gz'}:hdfs.log: line 1: 6 of the first 6 lines are not bgl lines" in err
    assert f"skipped {tmp_path / 'mixed.tar.gz'}:app.log" in err


def test_nul_run_in_the_first_8kib_is_read_with_a_note(tmp_path, capsys, model_dir):
    """Case 11: the NUL gap logrotate's copytruncate leaves rejected the file as binary."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\0" * 6000 + planted_log(10).encode())
    code, out, err = run_cli(capsys, log, "--model", model_dir, "--window", "sliding:5", "--no-progress")
    assert code == 0 and "2 windows" in out and "NUL bytes (6,000 in all" in err


def test_stdin_errors_and_notes_say_stdin(tmp_path, capsys, model_dir, monkeypatch):
    """Case 13: errors on stdin named the temporary spool file."""
    import io
    import types

    for data, message in ((b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4, "<stdin>: looks like a binary file"),
                          (b"", "<stdin>: file is empty")):
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
        code, _, err = run_cli(capsys, "-", "--model", model_dir)
        assert code == 2 and message in err and "stdin.log" not in err and "logllm-detect-" not in err
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(b"caf\xe9 ok\n\nnext\n")))
    code, _, err = run_cli(capsys, "-", "--model", model_dir, "--no-progress")
    assert code == 0 and "(first at <stdin>:1)" in err and "1 blank line(s) were skipped" in err


def test_window_time_nan_or_inf_is_an_error(tmp_path, capsys, model_dir):
    """Case 7: `--window time:nan|inf` raised a traceback."""
    log = tmp_path / "iso.log"
    log.write_text("2024-01-01 10:00:00 INFO a\n2024-01-01 10:00:05 INFO b\n")
    for spec in ("time:nan", "time:inf", "time:-5", "time:60:nan"):
        code, _, err = run_cli(capsys, log, "--model", model_dir, "--window", spec)
        assert code == 2 and "--window" in err and "not understood" in err, spec


def test_output_is_checked_first_and_written_atomically(tmp_path, capsys, model_dir, monkeypatch):
    """Case 7 / deliver 4: an unwritable --output is refused before any work; a failed write keeps the old file."""
    log = tmp_path / "app.log"
    log.write_text(planted_log(20))
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(capsys, log, "--model", model_dir, "--output", tmp_path / "afile" / "r.jsonl")
    assert code == 2 and "--output" in err and "is a file, not a folder" in err
    out = tmp_path / "r.jsonl"
    out.write_text("previous results\n")
    import logllm.report.detection as detection

    def broken_row(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(detection, "result_row", broken_row)
    code, _, err = run_cli(capsys, log, "--model", model_dir, "--output", out, "--no-progress")
    assert code == 2 and "cannot write --output" in err and "No space left on device" in err
    assert out.read_text() == "previous results\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "afile", "app.log", "r.jsonl"]


def test_undecodable_label_is_unknown_with_a_note_not_a_label(tmp_path, capsys, model_dir):
    """Case 6: a BGL line starting with a bad byte was read as label '\ufffd-' (anomalous)."""
    log, jsonl = tmp_path / "bgl.log", tmp_path / "r.jsonl"
    log.write_bytes(b"".join(BGL_LINE.format(n=i).encode() for i in range(150)) + b"\xe9" + BGL_LINE.format(n=0).encode())
    code, _, err = run_cli(capsys, log, "--model", model_dir, "--output", jsonl, "--threshold", "1", "--no-progress")
    assert code == 0 and "label field with undecodable bytes" in err and f"{log}:151" in err
    assert [json.loads(line)["label"] for line in jsonl.read_text().splitlines()] == [0, -1]


def test_a_full_disk_while_writing_output_says_so_and_leaves_no_temporary(tmp_path, capsys, model_dir, monkeypatch):
    """Issue 30: ENOSPC while --output was flushed said 'cannot read input' (closing the temporary file in `abort`
    failed again and escaped) and left `.r.jsonl.*.tmp` behind."""
    import errno
    import io

    import logllm.report.detection as detection

    class FullDisk(io.RawIOBase):
        """A file on a full disk: it is created, but no byte can be written to it."""

        def __init__(self, path):
            super().__init__()
            self.fd = os.open(path, os.O_WRONLY)

        def writable(self):
            return True

        def seekable(self):
            return True

        def seek(self, offset, whence=0):
            return os.lseek(self.fd, offset, whence)

        def truncate(self, size=None):
            os.ftruncate(self.fd, self.tell() if size is None else size)
            return size

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self):
            if not self.closed:
                os.close(self.fd)
            super().close()

    def full_disk_open(path, mode="r", newline=None, encoding=None):
        return io.TextIOWrapper(io.BufferedWriter(FullDisk(path)), encoding=encoding, newline=newline)

    monkeypatch.setattr(detection, "open", full_disk_open, raising=False)
    log = tmp_path / "app.log"
    log.write_text(planted_log(20))
    for name in ("r.jsonl", "r.csv"):
        code, _, err = run_cli(capsys, log, "--model", model_dir, "--output", tmp_path / name, "--no-progress")
        assert code == 2, err
        assert f"logllm detect: error: cannot write --output {tmp_path / name}: No space left on device" in err, err
        assert "cannot read input" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log"]   # no temporary file left


def _bomb(path: Path, kind: str, mb: float) -> Path:
    """A small compressed file that decompresses to `mb` MB of log lines (`kind`: gz, bz2, zip, tar.gz)."""
    import bz2
    import io
    import tarfile
    import zipfile

    data = b"2026-01-01 00:00:00 INFO the same line again and again\n" * int(mb * 1e6 / 55 + 1)
    if kind == "gz":
        path.write_bytes(gzip.compress(data, compresslevel=1))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(data, 1))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("inner.log", data)
    else:
        with tarfile.open(path, "w:gz") as tf:
            info = tarfile.TarInfo("inner.log")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["gz", "bz2", "zip", "tar.gz"])
def test_a_decompression_bomb_is_refused_before_any_scoring(tmp_path, capsys, model_dir, kind):
    """Issue 30 (2): --max-mb checked only the compressed size, so a small .gz of a GiB of lines ran for minutes.
    The content is counted first (at C speed) and the model never loads."""
    import time

    bomb = _bomb(tmp_path / f"bomb.log.{kind}", kind, 8)
    assert bomb.stat().st_size < 1e6
    started = time.monotonic()
    code, out, err = run_cli(capsys, bomb, "--model", tmp_path / "no-such-model", "--max-mb", "2", "--no-progress")
    assert code == 2 and out == ""
    assert f"{bomb}: decompresses to more than 2 MB, the limit for compressed input" in err and "--max-mb" in err, err
    assert time.monotonic() - started < 20
    # under the limit it is read and scored as before
    small = _bomb(tmp_path / f"small.log.{kind}", kind, 0.05)
    assert run_cli(capsys, small, "--model", model_dir, "--max-mb", "2", "--window", "sliding:100", "--no-progress")[0] == 0
