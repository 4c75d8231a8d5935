"""`logllm evaluate` on a saved tiny model and a dataset repo folder; bench/report.py on fixture JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench_support import load_bench_script


@pytest.fixture(scope="module")
def dataset_repo(tmp_path_factory):
    from logllm.dataset.hub import export_dataset_repo
    from logllm.dataset.build import build_synthetic_dataset

    splits = build_synthetic_dataset("hdfs", n_sessions=120, seed=1, anomaly_rate=0.2)
    def three_of_each(split):
        labels = split["label"]
        picked = [i for i, y in enumerate(labels) if y == 0][:3] + [i for i, y in enumerate(labels) if y == 1][:3]
        return split.select(sorted(picked))

    small = {k: three_of_each(v) for k, v in splits.items()}
    for name, split in small.items():
        assert sorted(split["label"]) == [0, 0, 0, 1, 1, 1], f"fixture {name} split needs both classes"
    out = tmp_path_factory.mktemp("data")
    export_dataset_repo(small, out, config_name="synthetic_hdfs_session", info={"dataset": "synthetic_hdfs", "synthetic": True})
    return out


@pytest.fixture(scope="module")
def saved_tiny_model(tmp_path_factory):
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0, max_lines_per_window=8)  # untrained: tests the plumbing, not quality
    out = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_logllm_evaluate_cli(dataset_repo, saved_tiny_model, tmp_path, capsys):
    from logllm.cli import main

    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(saved_tiny_model), "--dataset", str(dataset_repo),
                 "--config", "synthetic_hdfs_session", "--output", str(out), "--batch_size", "4", "--seed", "7"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["seed"] == 7 and metrics["n_windows"] == 6
    assert metrics["dataset"] == "synthetic_hdfs_session" and metrics["threshold_source"].startswith("best F1 on validation")
    assert metrics["metrics"]["tp"] + metrics["metrics"]["fn"] == metrics["n_anomalous"]
    for name in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png", "score_histogram.png", "error_analysis.md", "cost.md"):
        assert (out / name).stat().st_size > 0
    cost = json.loads((out / "cost.json").read_text())
    assert cost["parameters"]["total"] > cost["parameters"]["trainable"] * 0  # counted, non-negative
    assert cost["parameters"]["total"] > 0
    assert "F1" in capsys.readouterr().out


def test_evaluate_cli_names_missing_model(dataset_repo, tmp_path):
    from logllm.commands.evaluate import main

    with pytest.raises(FileNotFoundError, match="no such folder"):
        main(["--model", str(tmp_path / "nope"), "--dataset", str(dataset_repo), "--config", "synthetic_hdfs_session"])


def _fixture_results(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    results.mkdir()
    sizes = {"train": {"windows": 10, "anomalous": 3}, "test": {"windows": 4, "anomalous": 2}}
    info = {"source": "toy.log", "real_data": False, "windowing": "session", "split": "random (seed 42)", "sizes": sizes}
    run = lambda seed, f1: {"seed": seed, "precision": 1.0, "recall": f1, "f1": f1, "roc_auc": 0.9}  # noqa: E731
    baselines = {"hardware": {"summary": "2-core CPU, no GPU"}, "seeds": [0, 1], "created": "T0",
                 "datasets": {"synthetic_hdfs": {**info, "results": {
                     "decision_tree": {"runs": [run(0, 0.5), run(1, 0.7)]},
                     "bert_classifier": {"runs": [], "skipped": "not run: CPU budget"}}}}}
    metrics = {"precision": 0.9, "recall": 0.8, "f1": 0.8125, "roc_auc": 0.95}
    ablations = {"hardware": {"summary": "2-core CPU, no GPU"}, "seeds": [0], "model_preset": "tiny", "settings": {}, "created": "T1",
                 "datasets": {"synthetic_hdfs": {**info, "runs": [
                     {"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.3, "seed": 0, "metrics": metrics, "train_time_s": 60.0,
                      "inference_time_s": 3.0, "windows_per_s": 10.0},
                     {"preprocessing": "raw", "stages": "1,2a,2b,3", "beta": 0.3, "seed": 0, "metrics": {**metrics, "f1": 0.25}},
                     {"preprocessing": "re", "stages": "3", "beta": 0.3, "seed": 0, "metrics": {**metrics, "f1": 0.125}}]}},
                 "not_run": [{"dataset": "synthetic_hdfs", "what": "beta 0.8", "reason": "CPU budget"}], "plots": [],
                 "planned": {"synthetic_hdfs": [{"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.3, "seed": 0},
                                                {"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.6, "seed": 0}]}}
    (results / "baselines.json").write_text(json.dumps(baselines))
    (results / "ablations.json").write_text(json.dumps(ablations))
    return results


def test_report_renders_only_measured_and_published_numbers(tmp_path):
    report = load_bench_script("report")
    text = report.render(_fixture_results(tmp_path))
    # recall/F1 0.5 and 0.7 over two seeds: sample std 0.141 (the population std would be 0.100)
    assert "| decision_tree | 1.000 ± 0.000 | 0.600 ± 0.141 | 0.600 ± 0.141 | 0.900 ± 0.000 | 0,1 |" in text
    assert "| bert_classifier | not run: CPU budget |" in text
    assert "**LogLLM** (tiny preset, re, stages 1-2a-2b-3, β=0.3) | 0.900 | 0.800 | 0.812 | 0.950 | 0 |" in text
    assert "| LogLLM (paper) | 0.994 | 1.000 | 0.997 |" in text          # HDFS family row, published
    assert "| DeepLog | 0.835 / 0.994 / 0.908 |" in text                 # Table II once
    assert "| raw | 0.250 / 0.950 |" in text and "| 3 | W/O stages 1&2 | 0.125 / 0.950 |" in text
    assert "| 2a,2b,3 | W/O stage 1 | n/a |" in text                      # not run stays "n/a", never invented
    assert "- synthetic_hdfs: beta 0.8 — CPU budget" in text
    assert '"beta": 0.6, "seed": 0} — planned, not reached' in text and '"beta": 0.3, "seed": 0} — planned' not in text
    assert "| LogLLM | 1,065.15 | 64.48 |" in text and "| LogLLM tiny on synthetic_hdfs (seed 0) | 1.00 |" in text
    assert "measured, 10 train windows," in text


def test_report_without_results_says_so(tmp_path):
    report = load_bench_script("report")
    out = tmp_path / "RESULTS.md"
    assert report.main(["--results", str(tmp_path), "--output", str(out)]) == 0
    assert "No results yet" in out.read_text()


def test_evaluate_cli_regenerates_synthetic_data(saved_tiny_model, tmp_path):
    from logllm.commands.evaluate import main

    out = tmp_path / "eval"
    assert main(["--model", str(saved_tiny_model), "--dataset", "synthetic", "--config", "hdfs", "--synthetic_sessions", "40",
                 "--seed", "3", "--no_error_analysis", "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset_path"] == "synthetic" and metrics["seed"] == 3 and metrics["n_windows"] > 0
    assert not (out / "error_analysis.md").exists()


def test_report_adds_other_presets_main_rows(tmp_path):
    report = load_bench_script("report")
    results = _fixture_results(tmp_path)
    other = {"hardware": {"summary": "2-core CPU, no GPU"}, "model_preset": "default", "settings": {"max_train_windows": 5},
             "datasets": {"synthetic_hdfs": {"sizes": {"train": {"windows": 10, "anomalous": 3}}, "runs": [
                 {"preprocessing": "re", "stages": "1,2a,2b,3", "beta": 0.3, "seed": 0, "train_time_s": 120.0, "n_test": 4,
                  "metrics": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "roc_auc": 0.75}}]}}}
    (results / "ablations.default.json").write_text(json.dumps(other))
    text = report.render(results)
    assert "| **LogLLM** (default preset, re, stages 1-2a-2b-3, β=0.3) | 0.500 | 0.500 | 0.500 | 0.750 | 0 | measured, first 5 of 10 train windows," in text
    assert "| LogLLM default on synthetic_hdfs (seed 0) | 2.00 |" in text and "`ablations.default.json`" in text
    assert "## Ablations with ablations.default.json" not in text  # main configuration only: no ablation tables


def test_report_renders_ablation_tables_of_a_recipe_results_file(tmp_path):
    report = load_bench_script("report")
    results = _fixture_results(tmp_path)
    metrics = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "roc_auc": 0.75}
    runs = [{"preprocessing": "re", "stages": stages, "beta": 0.3, "seed": 0, "metrics": {**metrics, "f1": f1}}
            for stages, f1 in (("1,2a,2b,3", 0.5), ("3", 0.625))]
    other = {"hardware": {"summary": "2-core CPU, no GPU"}, "model_preset": "default", "settings": {"recipe": "quickstart"},
             "datasets": {"thunderbird_12k_w20": {"sizes": {"train": {"windows": 10, "anomalous": 3}}, "runs": runs}}}
    (results / "ablations.quickstart.json").write_text(json.dumps(other))
    text = report.render(results)
    section = text[text.index("## Ablations with ablations.quickstart.json"):]
    assert '"recipe": "quickstart"' in section and "| 3 | W/O stages 1&2 | 0.625 / 0.750 |" in section


def test_baselines_update_keeps_the_datasets_it_did_not_rerun(tmp_path):
    baselines = load_bench_script("baselines")
    out = tmp_path / "baselines"
    kept = {"source": "earlier run", "results": {}, "sizes": {}, "windowing": "w", "split": "s"}
    (tmp_path / "baselines.json").write_text(json.dumps({"seeds": [0, 1, 2], "datasets": {"earlier": kept}}))
    assert baselines.main(["--datasets", "synthetic_hdfs", "--neural", "false", "--capped_train_windows", "0",
                           "--update", "true", "--output", str(out)]) == 0
    saved = json.loads((tmp_path / "baselines.json").read_text())
    assert saved["datasets"]["earlier"] == kept
    assert saved["datasets"]["synthetic_hdfs"]["results"]["decision_tree"]["runs"]
    with pytest.raises(SystemExit, match="seeds"):
        baselines.main(["--datasets", "synthetic_hdfs", "--seeds", "0", "--update", "true", "--output", str(out)])
