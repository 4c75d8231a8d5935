"""The model card: the facts of one run (evaluation, stages, data, operating point), metadata that parses offline."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from logllm.report.model_card import CardFacts, data_origin, read_metrics, render_model_card, validate_model_card

EVALUATION = {  # the shape logllm.report.evaluate.evaluate_model writes
    "dataset": "thunderbird_sliding_20_20", "split": "test", "seed": 0, "n_windows": 120, "n_anomalous": 48,
    "threshold": 0.31, "threshold_source": "best F1 on validation (48 windows, F1 0.950)",
    "decision": "P(anomalous) >= threshold or a line's novelty > novelty_threshold",
    "metrics": {"precision": 0.9, "recall": 0.9375, "f1": 0.9184, "accuracy": 0.93, "specificity": 0.93,
                "roc_auc": 0.97, "pr_auc": 0.9906, "threshold": 0.5, "tp": 45, "fp": 5, "tn": 67, "fn": 3},
    "decoder_metrics": {"precision": 0.95, "recall": 0.8, "f1": 0.8686, "roc_auc": 0.95, "pr_auc": 0.93},
    "operating_point": {"threshold": 0.31, "threshold_source": "best F1 on validation (48 windows, F1 0.950)",
                        "novelty_threshold": 0.081, "novelty_source": "0.99 quantile of 30 normal validation windows",
                        "unfamiliar_line_share": 0.5, "window": {"kind": "sliding", "size": 20, "step": 20}},
}
STAGES = [
    {"stage": "1", "trains": "decoder", "learning_rate": 5e-4, "epochs": 1.0, "windows": 480, "steps": 30},
    {"stage": "3", "trains": "projector + decoder", "learning_rate": 5e-4, "epochs": 8.0, "windows": 1296},
]


def test_card_states_what_the_run_did_and_round_trips_through_hub_tools():
    text = render_model_card(CardFacts(
        model_name="logllm-thunderbird", repo_id="org/logllm-thunderbird", evaluation=EVALUATION, stages=STAGES,
        dataset_name="thunderbird_sliding_20_20", data_description="Thunderbird (Loghub), 20-line windows.",
        base_models=["sentence-transformers/all-MiniLM-L6-v2"], command="logllm train --config small/thunderbird --seed 0",
        warnings=["the validation split has only 3 anomalous windows"],
    ))
    card = validate_model_card(text)
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"precision": 0.9, "recall": 0.9375, "f1": 0.9184, "roc_auc": 0.97, "pr_auc": 0.9906, "accuracy": 0.93}
    assert {r.dataset_name for r in card.data.eval_results} == {"thunderbird_sliding_20_20"}
    assert ModelCard(text).data.to_dict()["model-index"][0]["name"] == "logllm-thunderbird"
    body = card.text
    assert "| 3 | projector + decoder | learning_rate=0.0005, epochs=8, windows=1296 |" in body  # what stage 3 trained
    assert "0.31" in body and "best F1 on validation" in body and "0.0810" in body  # the operating point
    assert "| the decoder's P(anomalous) alone | 0.950 | 0.800 | 0.869 |" in body and "0.991" in body  # PR-AUC
    assert "logpai/loghub" in body and "zhu2023loghub" in body  # Loghub data: its licence and citation
    assert "logllm train --config small/thunderbird --seed 0" in body and "only 3 anomalous" in body
    assert "trust_remote_code=True" in body and "synthetic" not in card.data.tags


def test_synthetic_training_data_gets_no_loghub_licence_and_says_so():
    evaluation = {**EVALUATION, "dataset": "synthetic-hdfs"}
    text = render_model_card(CardFacts(model_name="quickstart", evaluation=evaluation, stages=STAGES,
                                       dataset_name="synthetic-hdfs"))
    card = validate_model_card(text)
    assert "synthetic-data" in card.data.tags
    assert "logpai/loghub" not in card.text and "zhu2023loghub" not in card.text
    assert "no real log data" in card.text


def test_card_gives_the_metrics_on_test_windows_never_seen_verbatim_in_training():
    verbatim = {"windows_seen_in_training": 1642, "share_seen_in_training": 1642 / 1840, "unseen_windows": 198,
                "unseen_anomalous": 19, "metrics_unseen": {"precision": 0.8, "recall": 0.9474, "f1": 0.8675}}
    text = render_model_card(CardFacts(model_name="logllm-hdfs", evaluation={**EVALUATION, "verbatim": verbatim},
                                       stages=STAGES, dataset_name="hdfs_session"))
    body = validate_model_card(text).text
    assert "89% of the test windows occur verbatim" in body and "On the other 198 (19 anomalous)" in body
    assert "F1 0.868" in body
    plain = render_model_card(CardFacts(model_name="m", evaluation=EVALUATION, stages=STAGES))
    assert "verbatim" not in plain


def test_a_model_saved_without_evaluation_says_so():
    text = render_model_card(CardFacts(model_name="m", stages=STAGES, dataset_name="my-app"))
    card = validate_model_card(text)
    assert not card.data.eval_results and "saved without a test evaluation" in card.text
    assert "operator's own logs" in card.text


@pytest.mark.parametrize(("name", "origin"), [("synthetic-hdfs", "synthetic"), ("bgl_sliding_100_100", "loghub"),
                                              ("hdfs_session", "loghub"), ("mine/plain_sliding_100_100", "user")])
def test_data_origin(name, origin):
    assert data_origin(name) == origin


@pytest.mark.parametrize("content", ["{not json", json.dumps([1, 2]), json.dumps({"precision": 0.5})])
def test_bad_metrics_files_are_named_in_the_error(tmp_path, content):
    path = tmp_path / "metrics.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="metrics.json"):
        read_metrics(path)


def _record(**changes):
    metrics = {"precision": 0.9, "recall": 0.9375, "f1": 0.9184, "accuracy": 0.93, "specificity": 0.93, "roc_auc": None,
               "pr_auc": None, "threshold": 0.5, "tp": 45, "fp": 5, "tn": 67, "fn": 3, "n": 120}
    record = {"dataset": "d", "split": "test", "model": "m", "threshold": 0.31, "threshold_source": "given",
              "n_windows": 120, "n_lines": 2400, "n_anomalous": 48, "metrics": metrics, "decoder_metrics": None}
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            record[outer] = {k: v for k, v in record[outer].items() if k != inner} if value is ... else {**record[outer], inner: value}
        elif value is ...:
            del record[key]
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_windows": ...}, "missing key 'n_windows'"),
    ({"metrics.f1": ...}, "missing key 'metrics.f1'"),
    ({"metrics.f1": "0.9"}, "'metrics.f1' should be a number"),
    ({"decoder_metrics": {"f1": 0.5}}, "missing key 'decoder_metrics.precision'"),
    ({"threshold": True}, "'threshold' should be int or float"),
    ({"metrics": [0.9]}, "'metrics' should be dict"),
])
def test_a_malformed_metrics_file_is_named_with_the_key_it_lacks(tmp_path, changes, message):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(_record(**changes)), encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}: .*{message}".replace("(", r"\(").replace(")", r"\)")):
        read_metrics(path)


def test_a_metrics_file_with_extra_headline_keys_reads(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**_record(), "f1": 0.9184, "seconds": 12.5}), encoding="utf-8")  # quickstart's flat keys
    assert read_metrics(path)["metrics"]["n"] == 120


def test_validation_rejects_a_card_without_license():
    with pytest.raises(ValueError, match="no license"):
        validate_model_card("---\npipeline_tag: text-classification\n---\nfrom_pretrained(x, trust_remote_code=True)")
