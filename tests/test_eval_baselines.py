"""Baselines on a tiny synthetic window dataset: shapes, seeds, the "other" bucket, skips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from logllm.baselines import (
    OTHER, BertBaselineConfig, DecoderBaselineConfig, EventCountVectorizer, format_mean_std,
    run_bert_baseline, run_count_baselines, run_decoder_baseline,
)

NORMAL = ["open <*>", "read block <*>", "close <*>", "ack <*>"]
ANOMALOUS = ["disk error on <*>", "timeout talking to <*>"]


def make_split(n: int, seed: int, anomaly_rate: float = 0.3) -> Dataset:
    rng = random.Random(seed)
    rows = {"window_id": [], "lines": [], "label": []}
    for i in range(n):
        label = int(rng.random() < anomaly_rate)
        lines = [rng.choice(NORMAL) for _ in range(6)]
        if label:
            lines[rng.randrange(6)] = rng.choice(ANOMALOUS)
        rows["window_id"].append(f"s{seed}-{i}")
        rows["lines"].append(lines)
        rows["label"].append(label)
    return Dataset.from_dict(rows)


@pytest.fixture(scope="module")
def splits():
    return make_split(60, 0), make_split(20, 1), make_split(30, 2)


@pytest.fixture()
def one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_event_counts_use_train_vocabulary_and_other_bucket():
    vec = EventCountVectorizer().fit([["a", "b", "a"], ["c"]])
    assert list(vec.get_feature_names_out()) == [OTHER, "a", "b", "c"]
    matrix = vec.transform([["a", "a", "zzz", "c", "yyy"]]).toarray()
    assert matrix.tolist() == [[2, 2, 0, 1]]


def test_count_baselines_over_seeds(splits):
    train, validation, test = splits
    results = run_count_baselines(train, test, seeds=[0, 1, 2], validation_ds=validation)
    assert set(results) == {"logistic_regression", "decision_tree", "random_forest", "knn", "svm", "isolation_forest"}
    for name, result in results.items():
        assert [r["seed"] for r in result["runs"]] == [0, 1, 2]
        assert result["n_test"] == 30 and result["n_train"] == 60
        f1s = [r["f1"] for r in result["runs"]]
        assert result["mean"]["f1"] == pytest.approx(np.mean(f1s)) and result["std"]["f1"] == pytest.approx(np.std(f1s, ddof=1))  # sample std over seeds
        assert all(r["tp"] + r["fp"] + r["tn"] + r["fn"] == 30 for r in result["runs"])
    # the anomalous lines are perfectly separable by counts: supervised models must find them
    assert results["decision_tree"]["mean"]["f1"] == 1.0
    assert results["logistic_regression"]["runs"][0]["threshold_source"] == "best F1 on validation"
    assert results["isolation_forest"]["runs"][0]["threshold_source"] == "model default"
    # a different seed changes the random forest, never the rest of the protocol
    assert format_mean_std(results["knn"]).count("±") == 1


def test_one_class_train_skips_supervised_models(splits):
    _, _, test = splits
    normal_only = make_split(30, 5, anomaly_rate=0.0)
    results = run_count_baselines(normal_only, test, seeds=[0])
    assert results["svm"]["skipped"].startswith("train split has only label 0")
    assert results["isolation_forest"]["runs"], "the unsupervised model still runs on normal-only train"
    with pytest.raises(ValueError, match="unknown count baselines"):
        run_count_baselines(normal_only, test, seeds=[0], models=["xgboost"])


def test_knn_with_fewer_training_windows_than_neighbours(splits):
    _, _, test = splits
    tiny = Dataset.from_dict({"window_id": ["a", "b", "c"], "label": [0, 1, 0],
                              "lines": [["open <*>", "close <*>"], ["disk error on <*>"], ["read block <*>"]]})
    result = run_count_baselines(tiny, test, seeds=[0], models=["knn"])["knn"]
    assert result["n_train"] == 3 and result["runs"][0]["tp"] + result["runs"][0]["fn"] > 0
    assert result["runs"][0]["tp"] + result["runs"][0]["fp"] + result["runs"][0]["tn"] + result["runs"][0]["fn"] == 30


def test_bad_labels_are_named(splits):
    train, _, test = splits
    bad = test.map(lambda r, i: {"label": -1 if i == 3 else r["label"]}, with_indices=True)
    with pytest.raises(ValueError, match="test: window 3 has label -1"):
        run_count_baselines(train, bad, seeds=[0])


def test_bert_classifier_runs_offline(splits, one_thread):
    train, validation, test = splits
    result = run_bert_baseline(train, test, seeds=[0], validation_ds=validation,
                               config=BertBaselineConfig(max_length=32, epochs=1, batch_size=16))
    run = result["runs"][0]
    assert run["n"] == 30 and 0.0 <= run["f1"] <= 1.0 and run["roc_auc"] is not None
    assert "MiniLM" in result["backbone"]


def test_decoder_prompt_completion_learns_the_answer(splits, one_thread):
    train, validation, test = splits
    config = DecoderBaselineConfig(hidden_size=32, num_layers=1, max_length=48, epochs=6, batch_size=8, learning_rate=3e-3)
    result = run_decoder_baseline(train, test, seeds=[0], validation_ds=validation, config=config)
    run = result["runs"][0]
    assert run["n"] == 30 and "from scratch" in result["backbone"]
    assert run["roc_auc"] > 0.5  # it learned something from 60 windows, above chance ranking


def test_decoder_prompt_completion_on_a_pretrained_decoder_trains_lora_adapters_only(splits, one_thread):
    """The seed-002 baseline with a pretrained decoder (here the tiny GGUF converted as SmolLM2 is) and LoRA: only the
    adapters learn, the pretrained weights stay as loaded."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from gguf_support import tiny_decoder_dir
    from transformers import AutoModelForCausalLM

    from logllm.baselines.neural import train_decoder_classifier

    train, validation, test = splits
    folder = str(tiny_decoder_dir())
    config = DecoderBaselineConfig(decoder=folder, max_length=48, epochs=2, batch_size=8, learning_rate=3e-3, lora_r=4)
    model, _ = train_decoder_classifier(train, 0, config)
    assert "LoRA r=4" in model.baseline_description
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    assert any(p.abs().sum() > 0 for n, p in trained.items() if "lora_B" in n)  # B starts at zero: it moved
    original = AutoModelForCausalLM.from_pretrained(folder, dtype="float32").state_dict()
    base = model.get_base_model().state_dict()
    for name, weight in original.items():
        key = next(k for k in base if k.replace(".base_layer", "") == name)
        assert torch.equal(base[key], weight), name
    result = run_decoder_baseline(train, test, seeds=[0], validation_ds=validation, config=config)
    assert result["runs"][0]["n"] == 30 and folder in result["backbone"]


def test_novelty_baselines_flag_windows_with_lines_unseen_in_normal_training(splits):
    from logllm.baselines.novelty import EmbeddingKNN, NewDrainTemplateRule, NewLineRule, run_novelty_baselines

    train, validation, test = splits
    normal = ["open <*>", "read block <*>", "close <*>"]
    rules = [NewLineRule().fit(normal), NewDrainTemplateRule().fit(normal), EmbeddingKNN().fit(normal)]
    windows = [normal, normal + ["kernel panic: cpu <*> stuck"]]
    for rule in rules:
        seen, unseen = rule.score(windows)
        assert seen < unseen, rule.name
    assert list(rules[0].score(windows)) == [0.0, 1.0]
    results = run_novelty_baselines(train, test, seeds=[0, 1], validation_ds=validation)
    assert set(results) == {"new_masked_line", "new_drain_template", "embedding_knn"}
    for name, result in results.items():
        assert [r["seed"] for r in result["runs"]] == [0, 1] and result["n_test"] == 30
    # every anomalous test window of these splits holds a line that no normal training window holds
    assert results["new_masked_line"]["mean"]["recall"] == 1.0
    assert "normal validation windows" in results["embedding_knn"]["runs"][0]["threshold_source"]
