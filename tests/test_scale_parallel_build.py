"""Building on several cores (issue 19): the same windows, order, build report and dataset files as one process."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

import logllm.dataset.parallel as parallel
from logllm.dataset.build import BuildSettings, build_windows
from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import line_ranges, open_log_lines, read_line_range


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(parallel, "PIECE_BYTES", 4096)  # pieces of ~4 KB (and at least 1 KB): many of them


def hdfs_text(n_blocks: int = 120, seed: int = 0, linked: bool = True) -> bytes:
    """HDFS lines with what a piece boundary could get wrong: blocks spanning pieces, a line naming two blocks,
    lines naming none, blank lines, a CRLF line, a line that is not UTF-8, one that does not parse."""
    rng = random.Random(seed)
    blocks = [f"blk_{rng.choice(['', '-'])}{rng.randint(10**9, 10**12)}" for _ in range(n_blocks)]
    out = []
    for i in range(n_blocks * 8):
        block = blocks[min(len(blocks) - 1, int(rng.expovariate(1.0) * 10 + i / 8)) % len(blocks)]
        text = rng.choice([f"Receiving block {block} src: /10.0.0.{rng.randint(1, 9)}:50010",
                           f"PacketResponder {rng.randint(0, 2)} for block {block} terminating",
                           f"BLOCK* ask 10.0.0.1:50010 to replicate {block} to datanode(s) 10.0.0.2:50010",
                           f"Deleting block {block} and {rng.choice(blocks) if linked else block}",
                           "Verification of nothing"])
        out.append(f"081109 20{i % 60:02d}18 {rng.randint(10, 99)} INFO dfs.DataNode: {text}".encode())
        if i % 97 == 0:
            out.append(b"")
        if i % 131 == 0:
            out[-1] += b"\r"
        if i % 173 == 0:
            out.append(b"081109 203518 12 INFO dfs.DataNode: Receiving block " + block.encode() + b" \xff\xfe odd")
        if i % 211 == 0:
            out.append(b"this line is not an HDFS line")
    return b"\n".join(out) + b"\n"


def bgl_text(n_lines: int = 1500, seed: int = 0) -> bytes:
    from logllm.logs.synthetic import bgl_like_lines

    lines = [line.text.encode() for line in bgl_like_lines(n_lines=n_lines, seed=seed, anomaly_rate=0.02)]
    for i in range(0, n_lines, 157):
        lines[i] = b"garbage that is not BGL"
    for i in range(5, n_lines, 301):
        lines[i] = b""
    return b"\n".join(lines)   # no newline at the end


def both(settings: BuildSettings, **kwargs) -> tuple[tuple[list, dict], tuple[list, dict]]:
    one, two = BuildReport(), BuildReport()
    single = list(build_windows(settings, one, **kwargs))
    assert parallel.plan_pieces(settings, 2) is not None and len(parallel.plan_pieces(settings, 2)) > 3
    shared = list(build_windows(settings, two, num_proc=2, **kwargs))
    return (single, one.to_dict()), (shared, two.to_dict())


@pytest.mark.parametrize("keep_raw", [True, False])
def test_sessions_on_two_processes_are_the_single_process_sessions(tmp_path, keep_raw):
    log = tmp_path / "hdfs.log"
    log.write_bytes(hdfs_text())
    settings = BuildSettings(dataset="hdfs", inputs=[str(log)], missing_labels="unknown", keep_raw=keep_raw)
    (single, report), (shared, shared_report) = both(settings, with_groups=True)
    assert len(single) > 50 and any(w["_group"] != w["window_id"] for w in single)  # linked blocks exist
    assert shared == single and shared_report == report
    assert report["counts"]["unparsed_lines"] and report["counts"]["blank_lines"]


def test_sliding_windows_on_two_processes_over_several_files(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(bgl_text(seed=1))
    second.write_bytes(bgl_text(900, seed=2))
    for size, step in ((7, 5), (10, 10), (4, 6)):   # overlapping, adjacent, with gaps
        settings = BuildSettings(dataset="bgl", inputs=[str(first), str(second)], window_size=size, step=step)
        (single, report), (shared, shared_report) = both(settings)
        assert shared == single and shared_report == report and len({w["source"] for w in single}) == 2


def test_what_cannot_be_split_builds_whole_or_in_one_process(tmp_path):
    big, packed = tmp_path / "big.log", tmp_path / "small.log.gz"
    big.write_bytes(bgl_text(seed=3))
    packed.write_bytes(gzip.compress(bgl_text(300, seed=4)))
    settings = BuildSettings(dataset="bgl", inputs=[str(big), str(packed)], window_size=10, step=10)
    pieces = parallel.plan_pieces(settings, 2)
    assert pieces[-1] == parallel.Piece(str(packed)) and all(p.end is not None for p in pieces[:-1])
    (single, report), (shared, shared_report) = both(settings)
    assert shared == single and shared_report == report
    time_settings = BuildSettings(dataset="bgl", inputs=[str(big)], windowing="time")
    assert parallel.plan_pieces(time_settings, 2) is None
    assert parallel.plan_pieces(BuildSettings(dataset="bgl", inputs=[str(big)], max_lines=10), 2) is None


def test_line_ranges_number_lines_as_the_whole_file(tmp_path):
    log = tmp_path / "x.log"
    log.write_bytes(bgl_text(seed=5))
    ranges = line_ranges(str(log), 6, min_part_bytes=1024)
    assert ranges[0][0] == 0 and ranges[-1][1] == log.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    pieces = [line for start, end, first in ranges for line in read_line_range(str(log), start, end, first)]
    assert pieces == list(open_log_lines(str(log)))
    assert line_ranges(str(log), 6, min_part_bytes=10**9) is None   # too small to be worth it
    packed = tmp_path / "x.log.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert line_ranges(str(packed), 6, min_part_bytes=1024) is None
    wide = tmp_path / "utf16.log"
    wide.write_bytes(log.read_text().encode("utf-16"))
    assert line_ranges(str(wide), 6, min_part_bytes=1024) is None


def test_a_split_file_of_blank_lines_fails_as_one_process_says(tmp_path):
    log = tmp_path / "blank.log"
    log.write_bytes(b"   \n" * 5000)
    settings = BuildSettings(dataset="bgl", inputs=[str(log)], window_size=10, step=10)
    with pytest.raises(LogFormatError) as single:
        list(build_windows(settings, BuildReport()))
    with pytest.raises(LogFormatError) as shared:
        list(build_windows(settings, BuildReport(), num_proc=2))
    assert str(shared.value) == str(single.value)


@pytest.mark.parametrize("streaming", [False, True])
def test_data_build_num_proc_writes_the_same_dataset(tmp_path, streaming):
    from logllm.commands.data import main

    import re

    log, labels = tmp_path / "hdfs.log", tmp_path / "anomaly_label.csv"
    log.write_bytes(hdfs_text(200, seed=7, linked=False))  # one block group per block: all three splits fill
    blocks = dict.fromkeys(re.findall(r"blk_-?\d+", log.read_text(errors="replace")))
    labels.write_text("BlockId,Label\n" + "".join(f"{b},{'Anomaly' if i % 9 == 0 else 'Normal'}\n"
                                                   for i, b in enumerate(blocks)))
    folders = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        argv = ["build", "--dataset", "hdfs", "--input", str(log), "--labels", str(labels), "--output", str(out),
                "--num-proc", str(n)] + (["--streaming"] if streaming else [])
        assert main(argv) == 0
        folders.append(out)
    files = sorted(p.relative_to(folders[0]) for p in folders[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(folders[1]) for p in folders[1].rglob("*") if p.is_file())
    assert any(p.suffix == ".parquet" for p in files)
    for name in files:
        a, b = (folders[0] / name).read_bytes(), (folders[1] / name).read_bytes()
        if name.name == "dataset_info.json":
            a, b = json.loads(a), json.loads(b)
            for info in (a, b):
                info.get("info", {}).pop("command", None)
        assert a == b, name


@pytest.mark.parametrize("kind", ["hdfs", "bgl"])
def test_detect_reads_big_files_on_two_processes_with_the_same_rows(tmp_path, capsys, monkeypatch, kind):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_support import untrained_tiny_model_dir

    from logllm.commands.detect import main

    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 2048)
    used, real = [], parallel.parallel_windows

    def counted(settings, report, num_proc, **kwargs):
        windows = real(settings, report, num_proc, **kwargs)
        used.append(windows is not None)
        return windows

    monkeypatch.setattr(parallel, "parallel_windows", counted)
    log = tmp_path / f"{kind}.log"
    log.write_bytes(hdfs_text(60) if kind == "hdfs" else bgl_text(800))
    rows, tables = [], []
    for n in (1, 2):
        out = tmp_path / f"rows{n}.jsonl"
        assert main([str(log), "--model", str(untrained_tiny_model_dir()), "--num-proc", str(n), "--output", str(out),
                     "--no-progress", "--window", "session" if kind == "hdfs" else "sliding:20"]) == 0
        tables.append(capsys.readouterr().out.split("\n", 1)[0].rsplit(";", 1)[0])
        rows.append([json.loads(line) for line in out.read_text().splitlines()])
    assert used == [True]  # the second run read the file in pieces
    assert len(rows[0]) > 10 and tables[0] == tables[1]
    assert [{k: v for k, v in r.items() if k != "score"} for r in rows[0]] == \
        [{k: v for k, v in r.items() if k != "score"} for r in rows[1]]
    assert [r["score"] for r in rows[0]] == pytest.approx([r["score"] for r in rows[1]], abs=1e-5)


def test_windows_to_dataset_is_from_list_column_by_column(tmp_path):
    """The Arrow build of a split (the serial step after a parallel build) writes what `Dataset.from_list` writes."""
    from datasets import Dataset

    from logllm.dataset.features import WINDOW_FEATURES, windows_to_dataset

    settings = BuildSettings(dataset="hdfs", inputs=[str(tmp_path / "hdfs.log")], missing_labels="unknown")
    (tmp_path / "hdfs.log").write_bytes(hdfs_text(40))
    rows = [{k: v for k, v in w.items() if not k.startswith("_")} for w in build_windows(settings, BuildReport())]
    rows[0].update(raw_lines=[], start_time=None, categories=["a", "b"])   # empty list, null, several values
    for case in (rows, rows[:1]):
        fast, plain = windows_to_dataset(case), Dataset.from_list(case, features=WINDOW_FEATURES)
        assert fast.features == plain.features and fast.to_list() == plain.to_list()
        fast.to_parquet(str(tmp_path / "fast.parquet"))
        plain.to_parquet(str(tmp_path / "plain.parquet"))
        assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()
    assert len(windows_to_dataset([])) == 0 and windows_to_dataset([]).features == WINDOW_FEATURES
    odd = [dict(rows[0], raw_lines=None)]    # not column-wise: the from_list path, same result
    assert windows_to_dataset(odd).to_list() == Dataset.from_list(odd, features=WINDOW_FEATURES).to_list()
