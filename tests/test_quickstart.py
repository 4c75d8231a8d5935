"""`logllm quickstart --fast`: the whole offline pipeline with a tiny model writes every promised file."""

from __future__ import annotations

import json

from logllm.quickstart import main


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
