"""``logllm data build --streaming``: per-split parquet written as windows are built, no leakage."""

from __future__ import annotations

import datasets

from logllm.commands.data import main


def _keys(split):
    return {(s, n) for s, numbers in zip(split["source"], split["line_numbers"]) for n in numbers}


def test_streaming_session_build_is_a_leak_free_seeded_partition(tmp_path):
    args = ["build", "--dataset", "synthetic-hdfs", "--n-sessions", "400", "--seed", "5", "--streaming"]
    assert main(args + ["--output", str(tmp_path / "a")]) == 0
    assert main(args + ["--output", str(tmp_path / "b")]) == 0
    a = datasets.load_dataset(str(tmp_path / "a"), "synthetic_hdfs_session")
    b = datasets.load_dataset(str(tmp_path / "b"), "synthetic_hdfs_session")
    assert a["test"]["window_id"] == b["test"]["window_id"]                      # seeded
    ids = [i for s in a for i in a[s]["window_id"]]
    assert len(ids) == len(set(ids)) == 400
    assert 40 <= a["test"].num_rows <= 120                                        # 20% in expectation
    assert not _keys(a["train"]) & _keys(a["test"]) and not _keys(a["validation"]) & _keys(a["test"])


def test_streaming_chronological_matches_in_memory_on_window_boundaries(tmp_path):
    common = ["build", "--dataset", "synthetic-bgl", "--n-lines", "3000", "--window-size", "50", "--step", "50",
              "--no-difficulty"]
    assert main(common + ["--streaming", "--output", str(tmp_path / "s")]) == 0
    assert main(common + ["--output", str(tmp_path / "m")]) == 0
    s = datasets.load_dataset(str(tmp_path / "s"), "synthetic_bgl_sliding_50_50")
    m = datasets.load_dataset(str(tmp_path / "m"), "synthetic_bgl_sliding_50_50")
    for split in ("train", "validation", "test"):
        assert s[split]["window_id"] == m[split]["window_id"], split
    assert max(max(n) for n in s["train"]["line_numbers"]) < min(min(n) for n in s["test"]["line_numbers"])


def test_streaming_refuses_oversampling(tmp_path, capsys):
    rc = main(["build", "--dataset", "synthetic-hdfs", "--n-sessions", "50", "--streaming", "--beta", "0.3",
               "--output", str(tmp_path / "x")])
    assert rc == 2 and "--beta needs the in-memory build" in capsys.readouterr().err


def test_blocks_named_in_one_line_share_a_streaming_split():
    from logllm.dataset.build import BuildSettings
    from logllm.logs.records import LogRecord
    from logllm.dataset.streaming import _random_assigner
    from logllm.windows.windowing import session_windows

    records = [LogRecord("h.log", i + 1, "x", session_ids=(f"blk_{i}",)) for i in range(200)]
    records += [LogRecord("h.log", 201, "replicate", session_ids=("blk_7", "blk_150")),
                LogRecord("h.log", 202, "replicate", session_ids=("blk_150", "blk_99"))]
    windows = {w["window_id"]: w for w in session_windows(records, with_groups=True)}
    assert windows["blk_7"]["_group"] == windows["blk_150"]["_group"] == windows["blk_99"]["_group"] == "blk_150"
    assign = _random_assigner(BuildSettings(dataset="synthetic-hdfs", seed=3))
    assert len({assign(windows[b]) for b in ("blk_7", "blk_150", "blk_99")}) == 1


def test_cli_build_auto_detects_format(tmp_path, loghub_dir):
    assert main(["build", "--dataset", "auto", "--input", str(loghub_dir / "loghub/BGL/BGL_2k.log"),
                 "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "bgl_sliding_100_100" / "test.parquet").exists()
