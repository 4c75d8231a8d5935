"""bench/hdfs_real.py on a small stratified subset of the shared real HDFS sample: every row family is measured on
the same windows, with F1 on the test sessions never seen verbatim in training and the line-level top-1 hit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset

from tests.bench_support import load_bench_script

bench = load_bench_script("hdfs_real")


def test_unseen_mask_compares_whole_sessions_whatever_the_label():
    train = Dataset.from_list([{"lines": ["a", "b"], "label": 0}, {"lines": ["a", "x"], "label": 1}])
    test = Dataset.from_list([{"lines": ["a", "b"], "label": 1}, {"lines": ["b", "a"], "label": 0},
                              {"lines": ["a", "x"], "label": 1}])
    assert bench.unseen_mask(train, test).tolist() == [False, True, False]


def test_responsible_lines_are_new_templates_or_error_lines():
    normal = {"Receiving block <*>", "PacketResponder <*> terminating"}
    window = ["Receiving block <*>", "writeBlock <*> received exception java.io.IOException", "Deleting block <*>"]
    assert bench.responsible_lines(window, normal | {"Deleting block <*>"}) == {window[1]}
    assert bench.responsible_lines(window, normal) == {window[1], window[2]}


def test_metrics_row_reports_the_never_seen_subset():
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.2, 0.8])
    row = bench.metrics_row(labels, scores, 0.5, np.array([True, True, False, False]), seed=0)
    assert row["f1"] == pytest.approx(0.5) and row["f1_unseen"] == pytest.approx(1.0) and row["seed"] == 0


def test_bench_runs_every_family_on_a_subset(loghub_dir, tmp_path):
    out = tmp_path / "hdfs_real"
    payload = bench.main([
        "--splits", "random", "chronological", "--rows", "count", "novelty", "logllm_default", "--seeds", "0",
        "--max_sessions", "240", "--isolate", "false", "--torch_threads", "1", "--output", str(out),
        "--loghub_dir", str(loghub_dir),
        "--recipe_overrides=--model_preset tiny --per_device_train_batch_size 8",
    ])
    for split in ("random", "chronological"):
        entry = payload["splits"][split]
        assert entry["data"]["test"]["anomalous"] >= 2 and entry["data"]["train_distinct"] <= entry["data"]["train"]["windows"]
        rows = entry["rows"]
        assert {"decision_tree", "new_drain_template", "embedding_knn", "LogLLM default (decoder)",
                "LogLLM default (operating point)"} <= set(rows)
        run = rows["LogLLM default (decoder)"]["runs"][0]
        assert run["distinct_windows"] < run["windows"] and 0 <= run["f1"] <= 1 and run["train_minutes"] > 0
        assert run["line_top1_sessions"] >= 1 and 0 <= run["line_top1_hit"] <= 1
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["splits"].keys() == {"random", "chronological"}
    assert "F1 unseen" in out.with_suffix(".md").read_text() and "LogLLM (paper, Table II)" in out.with_suffix(".md").read_text()
    # --update keeps the rows a later run does not make
    again = bench.main(["--splits", "random", "--rows", "count", "--seeds", "0", "--max_sessions", "240", "--update",
                        "true", "--output", str(out), "--loghub_dir", str(loghub_dir)])
    assert "LogLLM default (decoder)" in again["splits"]["random"]["rows"] and "chronological" in again["splits"]
