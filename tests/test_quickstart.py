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
    payload = run(QuickstartSeedsArguments(seeds=[3, 4], threads=1, fast=True, output=str(out)))
    assert [r["seed"] for r in payload["runs"]] == [3, 4] and not payload["failed"]
    saved = json.loads(out.with_suffix(".json").read_text())
    for run_ in saved["runs"]:
        assert set(run_["metrics"]) == {"precision", "recall", "f1", "roc_auc", "accuracy"}
        assert run_["kind_recall"] and all(0.0 <= v <= 1.0 for v in run_["kind_recall"].values())
        assert set(run_["stage_seconds"]) == {"1", "2a", "2b", "3"}
    text = out.with_suffix(".md").read_text()
    assert "| 3 |" in text and "| 4 |" in text and "missing_step" in text
