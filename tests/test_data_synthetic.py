"""Synthetic HDFS-like / BGL-like logs: real formats, seeded, streaming, all anomaly kinds, not trivial."""

from __future__ import annotations

import csv
import itertools
from collections import Counter

import pytest

from logllm.logs.formats import detect_format, parse_file, read_block_labels
from logllm.logs.formats.bgl import parse_bgl_line
from logllm.logs.formats.hdfs import parse_hdfs_line
from logllm.logs.synthetic import GENERATED_KINDS, bgl_like_lines, hdfs_like_lines, write_synthetic


def test_hdfs_like_is_seeded_and_parses_with_the_real_parser():
    a = [l.text for l in hdfs_like_lines(40, seed=3, anomaly_rate=0.5)]
    assert a == [l.text for l in hdfs_like_lines(40, seed=3, anomaly_rate=0.5)]
    assert a != [l.text for l in hdfs_like_lines(40, seed=4, anomaly_rate=0.5)]
    records = [parse_hdfs_line(t, "s.log", i) for i, t in enumerate(a, 1)]
    assert all(len(r.session_ids) >= 1 and r.session_ids[0].startswith("blk_") for r in records)
    assert len({r.session_ids[0] for r in records}) == 40
    times = [r.timestamp for r in records]
    assert times == sorted(times)


def test_bgl_like_has_label_column_and_every_kind():
    lines = list(bgl_like_lines(4000, seed=1, anomaly_rate=0.02))
    records = [parse_bgl_line(l.text, "b.log", i) for i, l in enumerate(lines, 1)]
    assert [r.label for r in records] == [l.label for l in lines]
    assert {r.category for r in records if r.label} == set(GENERATED_KINDS)
    assert any("error corrected" in r.content for r in records if r.label == 0)  # keyword trap in normal data


def test_hdfs_like_has_every_kind_and_block_labels():
    lines = list(hdfs_like_lines(400, seed=2, anomaly_rate=0.3))
    kinds = {l.session_id: l.category for l in lines}
    assert set(kinds.values()) - {None} == set(GENERATED_KINDS)
    assert all(l.label == int(l.category is not None) for l in lines)
    normal_exceptions = {l.session_id for l in lines if l.label == 0 and "exception" in l.text}
    assert normal_exceptions, "normal sessions must also contain exception warnings"


def test_generation_streams_lazily():
    first = list(itertools.islice(hdfs_like_lines(10_000_000, seed=0), 500))
    assert len(first) == 500
    first = list(itertools.islice(bgl_like_lines(10_000_000, seed=0), 500))
    assert len(first) == 500


def test_write_synthetic_then_build_from_files(tmp_path):
    log = tmp_path / "synthetic_hdfs.log"
    counts = write_synthetic("hdfs", str(log), n_sessions=150, seed=5, anomaly_rate=0.2)
    assert detect_format(str(log)) == "hdfs"
    labels = read_block_labels(str(tmp_path / "anomaly_label.csv"))
    assert len(labels) == counts["blocks"] == 150 and sum(labels.values()) == counts["anomalous_blocks"] > 0
    categories = {row["BlockId"]: row["Category"] for row in csv.DictReader(open(tmp_path / "anomaly_category.csv"))}
    assert set(categories) == {b for b, y in labels.items() if y}
    assert sum(1 for _ in parse_file(str(log), "hdfs")) == counts["lines"]
    bgl = tmp_path / "synthetic_bgl.log"
    counts = write_synthetic("bgl", str(bgl), n_lines=3000, seed=5)
    assert detect_format(str(bgl)) == "bgl"
    assert Counter(r.label for r in parse_file(str(bgl), "bgl"))[1] == counts["anomalous_lines"]


def test_build_synthetic_dataset_hdfs_and_bgl():
    from logllm.dataset.build import build_synthetic_dataset

    ds = build_synthetic_dataset("hdfs", n_sessions=300, seed=1, anomaly_rate=0.1)
    assert set(ds) == {"train", "validation", "test"}
    assert sum(ds[s].num_rows for s in ds) == 300 and ds["test"].num_rows == 60
    row = ds["train"][0]
    assert row["window_id"].startswith("blk_") and row["lines"][0].startswith("BLOCK* NameSystem.allocateBlock: <*>")
    assert len(row["lines"]) == len(row["raw_lines"]) == len(row["line_numbers"]) == len(row["line_labels"])
    bgl = build_synthetic_dataset("bgl", n_lines=2000, seed=1, window_size=20)
    assert sum(bgl[s].num_rows for s in bgl) == 100
    assert max(max(n) for n in bgl["train"]["line_numbers"]) < min(min(n) for n in bgl["test"]["line_numbers"])
    again = build_synthetic_dataset("bgl", n_lines=2000, seed=1, window_size=20)
    assert again["test"]["lines"] == bgl["test"]["lines"]


@pytest.mark.parametrize("kind", ["hdfs", "bgl"])
def test_synthetic_data_is_not_separable_by_one_token(kind):
    from logllm.dataset.build import build_synthetic_dataset
    from logllm.dataset.difficulty import measure_difficulty

    ds = (build_synthetic_dataset("hdfs", n_sessions=800, seed=0, anomaly_rate=0.08) if kind == "hdfs"
          else build_synthetic_dataset("bgl", n_lines=12000, seed=0, window_size=50, anomaly_rate=0.003))
    result = measure_difficulty(ds)
    scores = {name.split(" (")[0]: m["f1"] for name, m in result["methods"].items()}
    assert scores["keyword rule"] < 0.8 and scores["best single token"] < 0.8, scores
    assert result["best_token_train_f1"] < 0.8


def test_one_call_api_by_windows_and_anomaly_ratio():
    from logllm.dataset.build import build_synthetic_dataset

    ds = build_synthetic_dataset(kind="hdfs", n_windows=400, anomaly_ratio=0.25, seed=7)
    labels = [y for s in ds for y in ds[s]["label"]]
    assert len(labels) == 400 and 0.15 < sum(labels) / 400 < 0.35
    bgl = build_synthetic_dataset(kind="bgl", n_windows=60, anomaly_ratio=0.3, seed=7, window_size=10)
    labels = [y for s in bgl for y in bgl[s]["label"]]
    assert len(labels) == 60 and 0.1 < sum(labels) / 60 < 0.6


def test_synth_cli_writes_logs(tmp_path):
    from logllm.commands.data import main

    out = tmp_path / "s.log"
    assert main(["synth", "--kind", "bgl", "--n-lines", "300", "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 300
    assert main(["synth", "--kind", "hdfs", "--n-sessions", "20", "--output", str(tmp_path / "h.log")]) == 0
    assert (tmp_path / "anomaly_label.csv").read_text().count("\n") == 21
