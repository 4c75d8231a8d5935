"""Statistics computed on the real Loghub samples must match ../shared/loghub/MANIFEST.md."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.formats import detect_format, parse_file, read_block_labels
from logllm.windows.windowing import session_windows, sliding_windows

pytestmark = pytest.mark.shared


def test_bgl_2k_labels_and_sliding_windows(loghub_dir):
    report = BuildReport()
    records = list(parse_file(str(loghub_dir / "loghub/BGL/BGL_2k.log"), "bgl", report))
    labels = Counter(r.label for r in records)
    assert (labels[0], labels[1]) == (1857, 143)
    categories = Counter(r.category for r in records if r.label)
    assert categories["KERNDTLB"] == 60 and categories["KERNSTOR"] == 30 and categories["APPSEV"] == 17
    assert len(categories) == 12
    assert records[0].content == "instruction cache parity error corrected"  # CRLF stripped
    assert records[0].timestamp == 1117838570.0 and records[0].level == "INFO" and records[0].component == "KERNEL"
    windows = list(sliding_windows(records, 100, 100))
    assert (len(windows), sum(w["label"] for w in windows)) == (20, 12)
    assert windows[0]["window_id"] == "BGL_2k.log:1-100"
    assert report["unparsed_lines"] == 0 and report["lines_read"] == 2000


def test_thunderbird_subset(loghub_dir):
    records = list(parse_file(str(loghub_dir / "thunderbird_subset/Thunderbird_part1_12000lines.log"), "thunderbird"))
    labels = Counter(r.label for r in records)
    assert (labels[0], labels[1]) == (11522, 478)
    assert {r.category for r in records if r.label} == {"VAPI", "CPU"}
    windows = list(sliding_windows(records, 100, 100))
    assert (len(windows), sum(w["label"] for w in windows)) == (120, 66)


def test_hdfs_head_sessions_match_manifest(loghub_dir):
    head = loghub_dir / "hdfs_raw_head"
    records = list(parse_file(str(head / "HDFS_head_2000lines.log"), "hdfs"))
    assert records[0].session_ids == ("blk_-1608999687919862906",)
    assert records[0].component == "dfs.DataNode$DataXceiver" and records[0].level == "INFO"
    labels = read_block_labels(str(head / "anomaly_label_first999.csv"))
    assert len(labels) == 999 and sum(labels.values()) == 21
    windows = list(session_windows(records, block_labels=labels))
    assert len(windows) == 390
    anomalous = [w for w in windows if w["label"] == 1]
    assert len(anomalous) == 8
    assert sum(len(w["lines"]) for w in anomalous) == 240
    expected = {row["BlockId"]: int(row["NumLinesInSample"]) for row in csv.DictReader(open(head / "block_labels_in_sample.csv"))}
    assert {w["window_id"]: len(w["line_numbers"]) for w in windows} == expected


def test_hdfs_missing_block_labels_named(loghub_dir, tmp_path):
    head = loghub_dir / "hdfs_raw_head"
    partial = tmp_path / "labels.csv"
    rows = open(head / "anomaly_label_first999.csv").read().splitlines()[:11]  # header + 10 blocks
    partial.write_text("\n".join(rows) + "\n")
    records = list(parse_file(str(head / "HDFS_head_2000lines.log"), "hdfs"))
    with pytest.raises(LogFormatError, match=r"HDFS_head_2000lines.log:\d+: block blk_\S+ has no label"):
        list(session_windows(records, block_labels=read_block_labels(str(partial))))
    report = BuildReport()
    windows = list(session_windows(records, block_labels=read_block_labels(str(partial)), missing_labels="unknown", report=report))
    assert len(windows) == 390 and report["sessions_without_label"] == 380
    assert sum(w["label"] == -1 for w in windows) == 380


@pytest.mark.parametrize(("path", "fmt"), [
    ("loghub/BGL/BGL_2k.log", "bgl"),
    ("loghub/HDFS/HDFS_2k.log", "hdfs"),
    ("hdfs_raw_head/HDFS_head_2000lines.log", "hdfs"),
    ("loghub/Thunderbird/Thunderbird_2k.log", "thunderbird"),
    ("thunderbird_subset/Thunderbird_part1_12000lines.log", "thunderbird"),
    ("loghub/Linux/Linux_2k.log", "plain"),
    ("loghub/Zookeeper/Zookeeper_2k.log", "plain"),
    ("loghub/HDFS/HDFS_2k.log_structured.csv", "plain"),
])
def test_detect_format(loghub_dir, path, fmt):
    assert detect_format(str(loghub_dir / path)) == fmt


def test_every_unlabeled_loghub_system_parses_as_plain(loghub_dir):
    for log in sorted((loghub_dir / "loghub").glob("*/*_2k.log")):
        report = BuildReport()
        records = list(parse_file(str(log), "plain", report))
        assert len(records) + report["blank_lines"] == 2000, log.name
        assert all(r.label is None and r.source == str(log) for r in records)
        assert [r.line_number for r in records] == sorted({r.line_number for r in records})


def test_plain_iso_timestamps_enable_time_windows(loghub_dir):
    from logllm.windows.windowing import time_windows

    records = list(parse_file(str(loghub_dir / "loghub/Zookeeper/Zookeeper_2k.log"), "plain"))
    assert records[0].timestamp == 1438191704.747 and records[0].level == "INFO"
    assert records[0].content.startswith("[QuorumPeer[myid=1]")
    windows = list(time_windows(records, 3600))
    assert sum(len(w["lines"]) for w in windows) == len(records)
    assert all(w["label"] == -1 for w in windows)


def test_cli_build_bgl_loads_with_datasets(loghub_dir, tmp_path):
    import datasets

    from logllm.commands.data import main

    out = tmp_path / "repo"
    assert main(["build", "--dataset", "bgl", "--input", str(loghub_dir / "loghub/BGL/BGL_2k.log"), "--output", str(out)]) == 0
    ds = datasets.load_dataset(str(out), "bgl_sliding_100_100")
    assert sum(ds[s].num_rows for s in ds) == 20 and sum(sum(ds[s]["label"]) for s in ds) == 12
    test_first = min(min(n) for n in ds["test"]["line_numbers"])
    assert max(max(n) for n in ds["train"]["line_numbers"]) < test_first
    card = (out / "README.md").read_text()
    assert "config_name: bgl_sliding_100_100" in card and "https://github.com/logpai/loghub" in card
    assert "@inproceedings{Loghub" in card and "The above license notice shall be included" in card
    assert "| bgl_sliding_100_100 | 2,000 | 20 | 14 |" in card
