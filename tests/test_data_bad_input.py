"""`logllm data build` and the reader under bad input (issue 17): nothing lost, nothing silent, nothing half-written."""

from __future__ import annotations

import builtins
import gzip
import json

import datasets
import pytest

from logllm.commands.data import main
from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.formats import parse_file
from logllm.logs.reader import open_log_lines

BGL_LINE = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
            "RAS KERNEL INFO instruction cache parity error corrected\n").encode()


def build(capsys, *argv):
    code = main(["build", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_failed_rebuild_leaves_the_previous_dataset_loadable(tmp_path, capsys, monkeypatch):
    """Case 4: a build that fails while writing must not destroy the dataset already in the folder."""
    log, out = tmp_path / "app.log", tmp_path / "ds"
    log.write_text("".join(f"request {i} served\n" for i in range(2000)))
    assert build(capsys, "--dataset", "plain", "--input", log, "--output", out)[0] == 0
    before = datasets.load_dataset(str(out), "plain_sliding_100_100")
    card = (out / "README.md").read_text()

    calls = []

    def failing_to_parquet(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(self, *args, **kwargs)

    original = datasets.Dataset.to_parquet
    monkeypatch.setattr(datasets.Dataset, "to_parquet", failing_to_parquet)
    code, _, err = build(capsys, "--dataset", "plain", "--input", log, "--output", out, "--seed", "7", "--overwrite")
    assert code == 2 and "No space left on device" in err
    monkeypatch.undo()
    after = datasets.load_dataset(str(out), "plain_sliding_100_100")
    assert {s: after[s]["window_id"] for s in after} == {s: before[s]["window_id"] for s in before}
    assert (out / "README.md").read_text() == card
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "plain_sliding_100_100"]   # no temporary left


@pytest.mark.parametrize("content", [b"just one line\n", b"x" * (5 << 20) + b"\n"], ids=["one-line", "one-5MB-line"])
def test_small_inputs_build_with_a_note_and_load(tmp_path, capsys, content):
    """Case 5: a split left empty is not written (with a note), instead of a `datasets` 'Keys mismatch'."""
    log, out = tmp_path / "small.log", tmp_path / "ds"
    log.write_bytes(content)
    code, _, err = build(capsys, "--dataset", "plain", "--input", log, "--output", out)
    assert code == 0
    ds = datasets.load_dataset(str(out), "plain_sliding_100_100")
    assert set(ds) == {"train"} and ds["train"].num_rows == 1
    report = json.loads((out / "plain_sliding_100_100" / "dataset_info.json").read_text())["build_report"]
    assert any("validation split has no windows" in n for n in report["notes"])
    assert any("test split has no windows" in n for n in report["notes"])


def test_output_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    """Case 7: `--output` an existing file."""
    log, taken = tmp_path / "app.log", tmp_path / "taken"
    log.write_text("a line\n")
    taken.write_text("not a folder")
    code, _, err = build(capsys, "--dataset", "plain", "--input", log, "--output", taken)
    assert code == 2 and "is a file" in err and taken.read_text() == "not a folder"


def test_unreadable_input_and_labels_are_errors_not_tracebacks(tmp_path, capsys, monkeypatch):
    """Case 7: a file the user may not read (simulated, so the test also runs as root)."""
    log, labels = tmp_path / "HDFS.log", tmp_path / "anomaly_label.csv"
    log.write_text("081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /10.0.0.1\n")
    labels.write_text("BlockId,Label\nblk_1,Normal\n")
    real_open = builtins.open
    denied: set[str] = set()

    def guarded_open(file, *args, **kwargs):
        if str(file) in denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    for target in (labels, log):
        denied.clear()
        denied.add(str(target))
        code, _, err = build(capsys, "--dataset", "hdfs", "--input", log, "--labels", labels, "--output", tmp_path / "o")
        assert code == 2 and "Permission denied" in err and target.name in err


def test_undecodable_label_field_is_an_error_with_file_and_line(tmp_path, capsys):
    """Case 6: one bad byte in BGL's label column must not become the label 'anomalous'."""
    log = tmp_path / "bgl.log"
    log.write_bytes(BGL_LINE * 5 + b"\xe9" + BGL_LINE + BGL_LINE * 3)
    code, _, err = build(capsys, "--dataset", "bgl", "--input", log, "--output", tmp_path / "a", "--window-size", "3",
                         "--step", "3")
    assert code == 2 and f"{log}:6: the label field" in err and "--missing-labels" in err
    code, _, err = build(capsys, "--dataset", "bgl", "--input", log, "--output", tmp_path / "b", "--window-size", "3",
                         "--step", "3", "--missing-labels", "unknown")
    assert code == 0 and "label field with undecodable bytes" in err
    ds = datasets.load_dataset(str(tmp_path / "b"), "bgl_sliding_3_3")
    rows = [row for split in ds.values() for row in split]
    assert [row["label"] for row in rows if 6 in row["line_numbers"]] == [-1]   # unknown, not anomalous
    assert all(row["label"] == 0 for row in rows if 6 not in row["line_numbers"])
    records = list(parse_file(str(log), "bgl", BuildReport(), bad_labels="skip"))
    assert [r.line_number for r in records] == [1, 2, 3, 4, 5, 7, 8, 9]


def test_labels_csv_with_a_byte_order_mark(tmp_path, capsys):
    """Case 12: a labels CSV saved by a spreadsheet (UTF-8 BOM) is read."""
    log, labels = tmp_path / "HDFS.log", tmp_path / "anomaly_label.csv"
    log.write_text("".join(f"081109 2035{i:02d} 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_{i % 3} "
                           "src: /10.0.0.1\n" for i in range(12)))
    labels.write_bytes("\ufeffBlockId,Label\nblk_0,Normal\nblk_1,Anomaly\nblk_2,Normal\n".encode())
    code, _, _ = build(capsys, "--dataset", "hdfs", "--input", log, "--labels", labels, "--output", tmp_path / "o")
    assert code == 0
    ds = datasets.load_dataset(str(tmp_path / "o"), "hdfs_session")
    assert sorted((r["window_id"], r["label"]) for s in ds.values() for r in s) == [("blk_0", 0), ("blk_1", 1), ("blk_2", 0)]


def test_truncated_small_gzip_names_the_line_it_stopped_at(tmp_path):
    """Case 13: a truncated .gz under 4 MiB said 'line 0'."""
    data = gzip.compress(b"".join(b"line %d of the log\n" % i for i in range(20_000)))
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogFormatError) as caught:
        list(open_log_lines(str(path)))
    assert caught.value.line_number > 1000 and f"could not read past line {caught.value.line_number - 1}" in str(caught.value)


def test_nul_run_from_copytruncate_is_read_and_counted(tmp_path):
    """Case 11: logrotate's copytruncate leaves a run of NUL bytes at the start; the log is text."""
    path = tmp_path / "app.log"
    path.write_bytes(b"\0" * 30_000 + b"after rotation 1\nafter rotation 2\n")
    report = BuildReport()
    assert [(n, t) for _, n, t in open_log_lines(str(path), report)] == [(1, "after rotation 1"), (2, "after rotation 2")]
    assert report["lines_with_nul_bytes"] == 1 and report["nul_bytes_removed"] == 30_000
    assert any("NUL bytes (30,000 in all" in note for note in report.user_notes())


def test_byte_order_marks_and_utf16(tmp_path):
    for encoding in ("utf-8-sig", "utf-16", "utf-32"):
        path = tmp_path / f"{encoding}.log"
        path.write_bytes("première ligne\nzweite Zeile\n".encode(encoding))
        assert [t for _, _, t in open_log_lines(str(path))] == ["première ligne", "zweite Zeile"], encoding


def test_blank_lines_and_skipped_archive_members_are_noted(tmp_path, capsys):
    import zipfile

    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.log", "one\n\n\ntwo\n")
        zf.writestr("README.md", "# notes\n")
    code, _, err = build(capsys, "--dataset", "plain", "--input", archive, "--output", tmp_path / "o")
    assert code == 0 and "2 blank line(s) were skipped" in err and "1 archive member(s) were not read" in err


def test_an_archive_member_of_another_format_is_an_error_naming_it(tmp_path, capsys):
    """Case 9 (data side): every member is probed for the format on its own; none is dropped silently."""
    import io
    import tarfile

    archive = tmp_path / "logs.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (("bgl.log", BGL_LINE * 20), ("app.log", b"hello there\n" * 20)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    code, _, err = build(capsys, "--dataset", "bgl", "--input", archive, "--output", tmp_path / "o")
    assert code == 2 and f"{archive}:app.log:1: 20 of the first 20 lines are not bgl lines" in err


def test_failed_streaming_rebuild_leaves_the_previous_dataset_loadable(tmp_path, capsys, monkeypatch):
    """Case 4 with --streaming: the parquet files are written beside the dataset and swapped in at the end."""
    import logllm.dataset.streaming as streaming

    out = tmp_path / "ds"
    argv = ["--dataset", "synthetic-bgl", "--n-lines", "600", "--window-size", "20", "--step", "20", "--streaming",
            "--output", out]
    assert build(capsys, *argv)[0] == 0
    before = datasets.load_dataset(str(out), "synthetic_bgl_sliding_20_20")
    original = streaming.build_windows

    def interrupted(*args, **kwargs):
        for i, window in enumerate(original(*args, **kwargs)):
            if i == 20:
                raise OSError(5, "Input/output error")
            yield window

    monkeypatch.setattr(streaming, "build_windows", interrupted)
    code, _, err = build(capsys, *argv, "--overwrite")
    assert code == 2 and "Input/output error" in err
    after = datasets.load_dataset(str(out), "synthetic_bgl_sliding_20_20")
    assert {s: after[s]["window_id"] for s in after} == {s: before[s]["window_id"] for s in before}
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "synthetic_bgl_sliding_20_20"]


def _compressed(path, kind, members):
    """`members` (name -> bytes) as a gz/bz2 file (one member) or a zip / tar.gz / tar.bz2 archive."""
    import bz2
    import io
    import tarfile
    import zipfile

    if kind in ("gz", "bz2"):
        (data,) = members.values()
        path.write_bytes(gzip.compress(data, 1) if kind == "gz" else bz2.compress(data, 1))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(path, "w:" + kind.split(".")[1]) as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


LOG_MB = b"request served in 3 ms\n" * 45_000   # ~1 MB of lines


@pytest.mark.parametrize("kind", ["gz", "bz2", "zip", "tar.gz", "tar.bz2"])
def test_the_reader_stops_at_the_decompression_limit_naming_file_and_limit(tmp_path, kind):
    """Issue 30 (2): every stream the reader decompresses counts against one limit per path (members together)."""
    from logllm.logs.reader import check_decompressed_size, decompression_limit

    members = {"a.log": LOG_MB * 2} if kind in ("gz", "bz2") else {"a.log": LOG_MB, "b.log": LOG_MB}  # each < limit
    path = _compressed(tmp_path / f"x.{kind}", kind, members)
    with decompression_limit(1_500_000, "--some-flag"):
        with pytest.raises(LogFormatError) as refused:
            for _ in open_log_lines(str(path)):
                pass
        with pytest.raises(LogFormatError, match="more than 1.5 MB"):   # the same, told before any line is parsed
            check_decompressed_size(str(path))
    message = str(refused.value)
    assert message.startswith(f"{path}: decompresses to more than 1.5 MB, the limit for compressed input") and \
        "--some-flag" in message
    with decompression_limit(3_000_000):
        assert sum(1 for _ in open_log_lines(str(path))) == 90_000
        counted = check_decompressed_size(str(path))
        assert 2 * len(LOG_MB) <= counted < 2 * len(LOG_MB) + 20_000   # tar: plus headers and padding


@pytest.mark.parametrize("kind", ["gz", "tar.gz", "zip"])
def test_check_decompressed_size_refuses_a_bomb_without_reading_it_all(tmp_path, kind):
    from logllm.logs.reader import check_decompressed_size, decompression_limit

    path = _compressed(tmp_path / f"bomb.{kind}", kind, {"a.log": LOG_MB * 20})
    with decompression_limit(2_000_000, "--max-mb"), pytest.raises(LogFormatError, match="^upload.log.gz: .*2 MB"):
        check_decompressed_size(str(path), name="upload.log.gz")
    with decompression_limit(None):
        assert check_decompressed_size(str(path)) is None   # no limit: nothing to count


def test_members_a_tar_skips_count_against_the_limit(tmp_path):
    """A tar.gz whose big member is a side file (not read) still decompresses it: it counts."""
    from logllm.logs.reader import decompression_limit

    path = _compressed(tmp_path / "x.tar.gz", "tar.gz", {"big.csv": LOG_MB * 3, "a.log": b"one line\n"})
    with decompression_limit(2_000_000), pytest.raises(LogFormatError, match="more than 2 MB"):
        list(open_log_lines(str(path)))


def test_data_build_holds_compressed_input_to_max_decompressed_gb(tmp_path, capsys):
    path = _compressed(tmp_path / "app.log.gz", "gz", {"a": LOG_MB * 2})
    code, _, err = build(capsys, "--dataset", "plain", "--input", path, "--output", tmp_path / "o",
                         "--max-decompressed-gb", "0.001")
    assert code == 2 and f"{path}: decompresses to more than 1.07374 MB" in err and "--max-decompressed-gb" in err
    assert not (tmp_path / "o").exists()
    code, _, err = build(capsys, "--dataset", "plain", "--input", path, "--output", tmp_path / "o", "--no-difficulty")
    assert code == 0, err
