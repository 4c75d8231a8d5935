"""Bad and compressed input: every problem is an error naming file and line, or a counted repair."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
import zipfile

import pytest

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import open_log_lines
from logllm.logs.formats import detect_format, parse_file

BGL_LINE = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
            "RAS KERNEL INFO instruction cache parity error corrected")
BGL_ALERT = BGL_LINE.replace("- ", "KERNDTLB ", 1).replace("instruction cache parity error corrected", "data TLB error interrupt")


def _lines(path, report=None):
    return list(open_log_lines(str(path), report if report is not None else BuildReport()))


def test_compressed_and_archived_inputs_read_the_same(tmp_path):
    text = "\n".join([BGL_LINE, BGL_ALERT, BGL_LINE]) + "\n"
    plain = tmp_path / "a.log"
    plain.write_text(text)
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "a.log.bz2").write_bytes(bz2.compress(text.encode()))
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("BGL/BGL.log")
        info.size = len(text.encode())
        tf.addfile(info, io.BytesIO(text.encode()))
        readme = tarfile.TarInfo("BGL/README.md")
        readme.size = 5
        tf.addfile(readme, io.BytesIO(b"hello"))
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("BGL.log", text)
        zf.writestr("anomaly_label.csv", "BlockId,Label\n")
    expected = [(2, "KERNDTLB")]
    for name in ("a.log", "a.log.gz", "a.log.bz2", "a.tar.gz", "a.zip", "a.zip:BGL.log"):
        records = list(parse_file(str(tmp_path / name), "bgl"))
        assert [(r.line_number, r.category) for r in records if r.label] == expected, name
    tar_records = list(parse_file(str(tmp_path / "a.tar.gz"), "bgl"))
    assert tar_records[0].source == f"{tmp_path / 'a.tar.gz'}:BGL/BGL.log"
    assert detect_format(str(tmp_path / "a.log.gz")) == "bgl"


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path):
    path = tmp_path / "latin.log"
    path.write_bytes(b"ok line\ncaf\xe9 au lait\n\xff\xfe broken\n")
    report = BuildReport()
    lines = _lines(path, report)
    assert [t for _, _, t in lines] == ["ok line", "caf\ufffd au lait", "\ufffd\ufffd broken"]
    assert report["non_utf8_lines_repaired"] == 2
    assert report.examples["non_utf8_lines_repaired"] == [f"{path}:2", f"{path}:3"]


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(LogFormatError, match=r"image.bin: looks like a binary file"):
        _lines(path)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    with pytest.raises(LogFormatError, match=r"empty.log: file is empty"):
        _lines(path)
    (tmp_path / "blank.log").write_text("\n\n  \n")
    with pytest.raises(LogFormatError, match="file is empty"):
        list(parse_file(str(tmp_path / "blank.log"), "plain"))


def test_long_lines_are_cut_and_counted(tmp_path):
    path = tmp_path / "long.log"
    path.write_bytes(b"short\n" + b"x" * (3 << 20) + b"\nafter\n")
    report = BuildReport()
    lines = _lines(path, report)
    assert [(n, len(t)) for _, n, t in lines] == [(1, 5), (2, 1 << 20), (3, 5)]
    assert report["lines_cut_at_max_length"] == 1 and report.examples["lines_cut_at_max_length"] == [f"{path}:2"]


def test_truncated_gzip_names_file_and_line(tmp_path):
    data = gzip.compress(("\n".join([BGL_LINE] * 5000) + "\n").encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogFormatError, match=r"cut.log.gz:\d+: could not read past line \d+ .*truncated"):
        _lines(path)


def test_wrong_format_is_an_error_with_line(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("hello world\n" * 10)
    with pytest.raises(LogFormatError, match=r"app.log:1: 10 of the first 10 lines are not bgl lines"):
        list(parse_file(str(path), "bgl"))
    with pytest.raises(ValueError, match="unknown log format"):
        list(parse_file(str(path), "nope"))


def test_a_few_bad_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.log"
    path.write_text("\n".join([BGL_LINE] * 10 + ["garbage here"] + [BGL_ALERT] + ["", BGL_LINE]) + "\r\n")
    report = BuildReport()
    records = list(parse_file(str(path), "bgl", report))
    assert len(records) == 12 and report["unparsed_lines"] == 1 and report["blank_lines"] == 1
    assert report.examples["unparsed_lines"] == [f"{path}:11"]
    assert [r.line_number for r in records][-2:] == [12, 14]


def test_missing_file_and_member(tmp_path):
    with pytest.raises(LogFormatError, match="file not found"):
        _lines(tmp_path / "nope.log")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("x.log", "a\n")
    with pytest.raises(LogFormatError, match="no member matching missing.log"):
        _lines(f"{tmp_path / 'a.zip'}:missing.log")


def test_plain_pattern_named_groups(tmp_path):
    path = tmp_path / "own.log"
    path.write_text("1700000000 WARN disk almost full\n1700000060 INFO ok\n")
    pattern = r"(?P<timestamp>\d+) (?P<level>\w+) (?P<content>.*)"
    records = list(parse_file(str(path), "plain", pattern=pattern))
    assert [(r.timestamp, r.level, r.content, r.label) for r in records] == [
        (1700000000.0, "WARN", "disk almost full", None), (1700000060.0, "INFO", "ok", None)]
    with pytest.raises(ValueError, match="named group"):
        list(parse_file(str(path), "plain", pattern=r"(\d+) (.*)"))


def test_hdfs_event_traces(tmp_path):
    traces = tmp_path / "Event_traces.csv"
    traces.write_text('BlockId,Label,Type,Features,TimeInterval,Latency\n'
                      'blk_1,Success,,"[E5,E22,E5]",[0.0],1\nblk_2,Fail,21,"[E5,E7]",[0.0],2\n')
    templates = tmp_path / "templates.csv"
    templates.write_text("EventId,EventTemplate\nE5,Receiving block <*> src: <*> dest: <*>\nE22,BLOCK* NameSystem.allocateBlock:<*>\n")
    report = BuildReport()
    records = list(parse_file(str(traces), "hdfs_traces", report, templates=str(templates)))
    assert [(r.session_ids, r.label, r.line_number) for r in records][3:] == [(("blk_2",), 1, 3), (("blk_2",), 1, 3)]
    assert records[1].content == "BLOCK* NameSystem.allocateBlock:<*>" and records[4].content == "E7"
    assert report["events_without_template"] == 1
    assert detect_format(str(traces)) == "hdfs_traces"


def test_hdfs_zip_as_published_finds_its_labels(tmp_path):
    from logllm.logs.errors import BuildReport
    from logllm.dataset.build import BuildSettings, build_splits
    from logllm.logs.synthetic import write_synthetic

    write_synthetic("hdfs", str(tmp_path / "HDFS.log"), n_sessions=40, seed=1, anomaly_rate=0.3)
    with zipfile.ZipFile(tmp_path / "HDFS_v1.zip", "w") as zf:
        zf.write(tmp_path / "HDFS.log", "HDFS.log")
        zf.write(tmp_path / "anomaly_label.csv", "preprocessed/anomaly_label.csv")
    report = BuildReport()
    splits = build_splits(BuildSettings(dataset="hdfs", inputs=[str(tmp_path / "HDFS_v1.zip")]), report)
    assert sum(len(rows) for rows in splits.values()) == 40
    assert any("preprocessed/anomaly_label.csv" in note for note in report.notes)
