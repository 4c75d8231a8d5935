"""`logllm quickstart --fast`: the whole offline pipeline with a tiny model writes every promised file."""

from __future__ import annotations

import json

from logllm.commands.quickstart import main


def test_quickstart_fast_writes_model_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["--output", str(out), "--fast", "--seed", "3"]) == 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    for key in ("precision", "recall", "f1", "roc_auc", "accuracy", "threshold", "n_test_windows", "seconds"):
        assert key in metrics, key
    assert metrics["n_test_windows"] == metrics["n_windows"] > 0
    assert metrics["f1"] == metrics["metrics"]["f1"] and metrics["seconds"] > 0
    for plot in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png"):
        assert (out / "eval" / plot).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "f1" in printed and str(out / "model") in printed

    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(out / "model"), trust_remote_code=True)
    assert model.config.model_type == "logllm"


def test_quickstart_seeds_bench_records_each_seed_and_the_recall_of_each_anomaly_kind(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from quickstart_seeds import QuickstartSeedsArguments, run

    out = tmp_path / "qs_seeds"
    payload = run(QuickstartSeedsArguments(seeds=[3, 4], threads=1, fast=True, output=str(out), real_hdfs=None))
    assert [r["seed"] for r in payload["runs"]] == [3, 4] and not payload["failed"]
    saved = json.loads(out.with_suffix(".json").read_text())
    for run_ in saved["runs"]:
        assert set(run_["metrics"]) == {"precision", "recall", "f1", "roc_auc", "accuracy"}
        assert run_["kind_recall"] and all(0.0 <= v <= 1.0 for v in run_["kind_recall"].values())
        assert set(run_["stage_seconds"]) == {"1", "2a", "2b", "3"}
    text = out.with_suffix(".md").read_text()
    assert "| 3 |" in text and "| 4 |" in text and "missing_step" in text


def test_quickstart_reports_the_test_windows_seen_verbatim_in_training(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["--output", str(out), "--fast", "--seed", "5"]) == 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    verbatim = metrics["verbatim"]
    assert 0 <= verbatim["windows_seen_in_training"] <= metrics["n_windows"]
    assert metrics["test_seen_in_training"] == verbatim["share_seen_in_training"]
    assert verbatim["unseen_windows"] == metrics["n_windows"] - verbatim["windows_seen_in_training"]
    assert metrics["torch_threads"] == 2
    assert "occur verbatim in training" in capsys.readouterr().out


def test_the_same_seed_trains_the_same_model_in_two_processes(tmp_path):
    """Run to run, with another hash seed (set/dict orders of strings) each time: the saved weights are identical."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    weights = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "logllm", "quickstart", "--fast", "--seed", "11", "--output", str(out)],
                       check=True, env=env, capture_output=True)
        (path,) = (out / "model").glob("*.safetensors")
        weights.append(load_file(str(path)))
    first, second = weights
    assert first.keys() == second.keys() and first
    different = [name for name in first if not bool((first[name] == second[name]).all())]
    assert not different, different[:5]
    m1, m2 = (json.loads((tmp_path / f"run{h}" / "eval" / "metrics.json").read_text()) for h in ("1", "2"))
    assert m1["metrics"] == m2["metrics"] and m1["threshold"] == m2["threshold"]


def test_quickstart_seeds_repeats_a_seed_and_meets_real_hdfs(tmp_path, loghub_dir):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from quickstart_seeds import QuickstartSeedsArguments, run

    out = tmp_path / "qs_repeat"
    payload = run(QuickstartSeedsArguments(seeds=[3], repeat=2, threads=1, fast=True, output=str(out),
                                           real_hdfs=str(loghub_dir / "hdfs_2percent")))
    assert [(r["seed"], r["repeat"]) for r in payload["runs"]] == [(3, 0), (3, 1)] and not payload["failed"]
    assert payload["identical_repeats"] == {"3": True}
    real = payload["runs"][0]["real_hdfs"]
    assert real["labelled"] == 9201 and real["anomalous"] == 280 and payload["runs"][1]["real_hdfs"] is None
    assert real["flagged"] + real["unfamiliar"] <= real["labelled"] and 0 <= real["f1"] <= 1
    text = out.with_suffix(".md").read_text()
    assert "identical metrics and threshold for 1 of 1 seeds" in text and "on real HDFS" in text
