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


def _generalization_run(variant: str, method: str, family: str, seed: int, f1: float) -> dict:
    return {"setting": "known_kind", "variant": variant, "seed": seed, "method": method, "family": family,
            "seconds": 60.0, "n_train": 80, "n_train_anomalous": 16, "n_test": 60, "n_test_anomalous": 12,
            "precision": f1, "recall": f1, "f1": f1, "roc_auc": 0.9}


def test_pretrained_vs_random_quotes_known_kind_runs_of_every_family(tmp_path):
    bench = load_bench_script("pretrained_vs_random")
    runs = [_generalization_run(variant, method, family, seed, f1 + seed / 10)
            for variant in ("bgl_random", "hdfs_deeplog_random")
            for method, family, f1 in (("logllm", "logllm", 0.5), ("logllm_small_qlora", "logllm_small_qlora", 0.6),
                                       ("logllm_small_qlora_novelty", "logllm_small_qlora", 0.7),
                                       ("decision_tree", "count", 0.4))
            for seed in (0, 1, 2)]
    source = tmp_path / "generalization.json"
    source.write_text(json.dumps({"arguments": {"window_size": 10, "max_train_windows": 80, "torch_threads": 1,
                                                "deeplog_sessions": [400, 100], "deeplog_max_lines": 50},
                                  "families": {"logllm": {"preset": "default", "recipe": "default/generalization"},
                                               "logllm_small_qlora": {"preset": "small",
                                                                      "recipe": "small/generalization_qlora"}},
                                  "hardware": "test host", "runs": runs}))
    args = bench.PretrainedVsRandomArguments(sections=["known_kinds"], generalization=str(source),
                                             output=str(tmp_path / "pvr"), keep_other_sections=False)
    payload = bench.run(args)
    rows = payload["sections"]["bgl_2k"]["rows"]
    assert set(rows) == {"default", "small_qlora", "small_qlora_novelty", "decision_tree"}
    assert rows["small_qlora"]["mean"]["f1"] == pytest.approx(0.7)  # 0.6, 0.7, 0.8 over seeds
    assert rows["small_qlora"]["recipe"] == "small/generalization_qlora"
    markdown = (tmp_path / "pvr.md").read_text()
    assert "one window per session (first 50 lines), 400/100" in markdown
    assert "recipe small/generalization_qlora" in markdown and "decision_tree (event counts)" in markdown
    # a report without the known-kind runs is refused with the file named, never an empty section
    source.write_text(json.dumps({"arguments": {}, "runs": [r for r in runs if r["variant"] == "bgl_random"]}))
    with pytest.raises(ValueError, match="hdfs_deeplog_random"):
        bench.run(args)
