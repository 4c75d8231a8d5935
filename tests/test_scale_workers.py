"""Past one machine (issue 19, docs/scale.md "Past one machine"): the documented recipes, run as two concurrent
processes on this machine, give what one run over the whole input gives."""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import untrained_tiny_model_dir  # noqa: E402


def _run_all(commands: list[list[str]], cwd: Path) -> None:
    """Start every command at once (the "machines"), then wait for all; any failure shows its stderr."""
    procs = [subprocess.Popen([sys.executable, "-m", "logllm", *c], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    for command, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{err[-2000:]}"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _bgl_lines(n: int) -> list[str]:
    from logllm.logs.synthetic import bgl_like_lines

    return [line.text for line in bgl_like_lines(n_lines=n, seed=3, anomaly_rate=0.05)]


def test_sliding_log_split_at_the_window_step_scores_like_the_whole_log(tmp_path):
    model, step, part = untrained_tiny_model_dir(), 20, 160    # 160 lines = 8 windows of 20 per part
    lines = _bgl_lines(3 * part)
    (tmp_path / "bgl.log").write_text("\n".join(lines) + "\n")
    for k in range(3):
        (tmp_path / f"bgl_part_{k:02d}.log").write_text("\n".join(lines[k * part:(k + 1) * part]) + "\n")
    common = ["--model", str(model), "--format", "bgl", "--window", f"sliding:{step}", "--no-progress"]
    _run_all([["detect", "bgl.log", "--output", "whole.jsonl", *common]] +
             [["detect", f"bgl_part_{k:02d}.log", "--output", f"bgl_part_{k:02d}.jsonl", *common] for k in range(3)],
             tmp_path)
    whole = _rows(tmp_path / "whole.jsonl")
    parts = [r for k in range(3) for r in _rows(tmp_path / f"bgl_part_{k:02d}.jsonl")]   # cat bgl_part_*.jsonl
    assert len(whole) == len(parts) == 3 * part // step
    by_start = {r["first_line"]: r for r in whole}
    for r in parts:   # part k starts at line k * part + 1 of the whole log
        k = int(re.search(r"bgl_part_(\d+)", r["window_id"]).group(1))
        w = by_start[r["first_line"] + k * part]
        assert w["last_line"] == r["last_line"] + k * part and w["n_lines"] == r["n_lines"]
        assert w["score"] == pytest.approx(r["score"], abs=1e-5)
        assert [s["text"] for s in w["suspicious_lines"]] == [s["text"] for s in r["suspicious_lines"]]


def test_hdfs_routed_by_block_id_scores_like_the_whole_log(tmp_path):
    from logllm.logs.synthetic import write_synthetic

    model = untrained_tiny_model_dir()
    log = tmp_path / "hdfs.log"
    write_synthetic("hdfs", str(log), n_sessions=40, seed=5, anomaly_rate=0.2)
    # the docs' awk router: the part is the first block id's last three digits modulo 2
    parts: dict[int, list[str]] = {0: [], 1: []}
    for line in log.read_text().splitlines():
        found = re.search(r"blk_-?[0-9]+", line)
        parts[int(found.group(0)[4:][-3:]) % 2 if found else 0].append(line)
    assert parts[0] and parts[1]
    for k, part in parts.items():
        (tmp_path / f"hdfs_part{k}.log").write_text("\n".join(part) + "\n")
    common = ["--model", str(model), "--format", "hdfs", "--window", "session", "--no-progress"]
    _run_all([["detect", "hdfs.log", "--output", "whole.jsonl", *common]] +
             [["detect", f"hdfs_part{k}.log", "--output", f"hdfs_part{k}.jsonl", *common] for k in (0, 1)], tmp_path)
    whole = {r["window_id"]: r for r in _rows(tmp_path / "whole.jsonl")}
    joined = {r["window_id"]: r for k in (0, 1) for r in _rows(tmp_path / f"hdfs_part{k}.jsonl")}
    assert len(whole) >= 30 and set(joined) == set(whole)
    for block, r in joined.items():
        assert r["n_lines"] == whole[block]["n_lines"]
        assert r["score"] == pytest.approx(whole[block]["score"], abs=1e-5)


def test_shards_built_by_two_processes_join_into_one_loadable_dataset(tmp_path):
    from datasets import load_dataset

    from logllm.dataset.hub import export_dataset_repo

    lines = _bgl_lines(2000)
    for k in range(2):
        (tmp_path / f"bgl_part_{k:02d}.log").write_text("\n".join(lines[k * 1000:(k + 1) * 1000]) + "\n")
    _run_all([["data", "build", "--dataset", "bgl", "--input", f"bgl_part_{k:02d}.log", "--output", f"shards/{k:02d}",
               "--windowing", "sliding", "--window-size", "50", "--step", "50", "--seed", "42", "--no-difficulty"] for k in range(2)], tmp_path)
    configs = {Path(p).parent.name for p in glob.glob(str(tmp_path / "shards/*/*/train.parquet"))}
    assert len(configs) == 1
    config = configs.pop()
    files = {s: sorted(glob.glob(str(tmp_path / f"shards/*/{config}/{s}.parquet"))) for s in ("train", "validation", "test")}
    merged = load_dataset("parquet", data_files={s: f for s, f in files.items() if f})
    export_dataset_repo(merged, tmp_path / "bgl_all", config_name=config, info={"dataset": "bgl"})
    joined = load_dataset(str(tmp_path / "bgl_all"), config)
    shard_rows = [load_dataset(str(tmp_path / f"shards/{k:02d}"), config) for k in range(2)]
    for split in joined:
        expected = sorted(json.dumps(r, sort_keys=True) for s in shard_rows for r in s[split])
        assert sorted(json.dumps(r, sort_keys=True) for r in joined[split]) == expected
    assert sum(len(joined[s]) for s in joined) == 2000 // 50
