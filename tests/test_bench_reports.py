"""Bench report plumbing: merged generalization runs keep where each ran; the GPU bench says when it has no GPU."""

from __future__ import annotations

import json

import pytest

from tests.bench_support import load_bench_script


@pytest.mark.shared
def test_merged_generalization_runs_keep_each_runs_hardware(loghub_dir, tmp_path):
    bench = load_bench_script("generalization")
    parts = []
    for seed in (0, 1):
        out = tmp_path / f"part{seed}"
        bench.run(bench.GeneralizationArguments(
            output_dir=str(out), loghub_dir=str(loghub_dir), seeds=[seed], methods=["count"],
            settings=["few_labels"], thunderbird_lines=1000, label_fractions=[1.0]))
        parts.append(str(out / "generalization.json"))
    merged = bench.merge_results(parts, bench.GeneralizationArguments(output_dir=str(tmp_path / "merged")))
    assert {r["seed"] for r in merged["runs"]} == {0, 1}
    assert "part0: " in merged["hardware"] and "part1: " in merged["hardware"]
    assert merged["hardware"] in (tmp_path / "merged" / "generalization.md").read_text()


def test_gpu_bench_without_a_gpu_reports_no_number(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the bench would train (minutes)")
    bench = load_bench_script("train_gpu")
    assert bench.main(["--output", str(tmp_path / "train_gpu"), "--note", "no GPU lent"]) == 0
    saved = json.loads((tmp_path / "train_gpu.json").read_text())
    assert saved["runs"] == [] and "no GPU lent" in saved["not_run"]
    assert "Not measured" in (tmp_path / "train_gpu.md").read_text()
