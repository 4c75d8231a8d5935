"""The model card generator: numbers come from metrics files and the metadata parses offline."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from logllm.report.model_card import render_model_card, validate_model_card


def _write_metrics(path, **values):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_card_results_round_trip_through_hub_card_tools(tmp_path):
    hdfs = _write_metrics(
        tmp_path / "hdfs" / "metrics.json",
        dataset="hdfs_session", split="test", precision=0.91, recall=0.97, f1=0.9391,
        roc_auc=0.99, pr_auc=0.95, threshold=0.37, tp=97, fp=10, tn=880, fn=3,
    )
    bgl = _write_metrics(tmp_path / "bgl_sliding_100_100" / "metrics.json", test={"f1": 0.61, "precision": 0.5, "recall": 0.78})
    text = render_model_card(
        [hdfs, bgl], repo_id="org/logllm-hdfs", hyperparameters={"1": {"learning_rate": 5e-4}, "3": {"epochs": 2}},
        base_models=["bert-base-uncased"],
    )
    card = validate_model_card(text)
    values = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values[("hdfs_session", "f1")] == pytest.approx(0.9391)
    assert values[("hdfs_session", "roc_auc")] == pytest.approx(0.99)
    assert values[("bgl_sliding_100_100", "f1")] == pytest.approx(0.61)  # name from the folder
    assert card.data.license == "apache-2.0" and card.data.base_model == ["bert-base-uncased"]
    assert "trust_remote_code=True" in card.text and "logpai/loghub" in card.text
    assert "| 990 |" in card.text  # windows = tp+fp+tn+fn
    assert "| 1 | decoder | learning_rate=0.0005 |" in card.text  # what each stage trains: the model's stage table
    assert "| 3 | encoder + line_pooler + projector + decoder | epochs=2 |" in card.text and "| 2a |" not in card.text
    assert "offline model" not in card.text  # real datasets: not the synthetic disclaimer
    assert ModelCard(text).data.to_dict()["model-index"][0]["name"] == "logllm-hdfs"


def test_synthetic_metrics_mark_the_offline_model(tmp_path):
    path = _write_metrics(tmp_path / "m.json", f1=0.8, precision=0.8, recall=0.8)
    text = render_model_card({"synthetic_quickstart": path}, repo_id="me/tiny")
    assert "This is the offline model" in text and "synthetic-data" in ModelCard(text).data.tags
    assert "| 2b | encoder + line_pooler + projector | not recorded |" in text  # no training record: the stage table, said so


def test_card_says_what_a_stage_trained_when_it_differs_from_the_table(tmp_path):
    path = _write_metrics(tmp_path / "m.json", f1=0.8, precision=0.8, recall=0.8)
    stages = {"3": {"trains": "projector + decoder", "learning_rate": 5e-4, "epochs": 8}}
    text = render_model_card([path], repo_id="me/qs", hyperparameters=stages)
    assert "| 3 | projector + decoder | learning_rate=0.0005, epochs=8 |" in text


@pytest.mark.parametrize("content", ["{not json", json.dumps([1, 2]), json.dumps({"precision": 0.5})])
def test_bad_metrics_files_are_named_in_the_error(tmp_path, content):
    path = tmp_path / "metrics.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="metrics.json"):
        render_model_card([path], repo_id="me/x")


def test_validation_rejects_a_card_without_license():
    with pytest.raises(ValueError, match="no license"):
        validate_model_card("---\npipeline_tag: text-classification\n---\nfrom_pretrained(x, trust_remote_code=True)")


def test_reads_the_metrics_json_that_evaluate_model_writes(tmp_path):
    payload = {  # the shape train/evaluate.py writes: run facts on top, metrics nested
        "dataset": "synthetic_bgl_sliding_100_100", "split": "test", "seed": 0, "model": "runs/quickstart/model",
        "hardware": {"cpu": "2 cores"}, "threshold": 0.31, "threshold_source": "best F1 on validation (40 windows)",
        "n_windows": 60, "n_anomalous": 9,
        "metrics": {"precision": 0.75, "recall": 0.6667, "f1": 0.7059, "accuracy": 0.9, "specificity": 0.96,
                    "roc_auc": 0.88, "pr_auc": None, "threshold": 0.31, "tp": 6, "fp": 2, "tn": 49, "fn": 3},
        "validation_metrics": {"f1": 0.99},
    }
    path = _write_metrics(tmp_path / "eval" / "metrics.json", **payload)
    text = render_model_card([path], repo_id="me/logllm-quickstart")
    card = validate_model_card(text)
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"precision": 0.75, "recall": 0.6667, "f1": 0.7059, "roc_auc": 0.88, "accuracy": 0.9}
    assert {r.dataset_name for r in card.data.eval_results} == {"synthetic_bgl_sliding_100_100"}
    assert "| 60 |" in card.text and "0.310" in card.text and "This is the offline model" in card.text
