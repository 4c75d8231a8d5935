"""The model folder a training run saves is the whole artifact: card, operating point chosen on validation, novelty
index from the normal training windows, eval/; loaded alone (AutoModel, trust_remote_code) it decides as evaluated,
and the novelty index flags a line training never showed where the decoder alone does not.

The runs train the default preset's decoder on top of its pretrained MiniLM encoder, frozen (the pipeline tests'
tiny data and recipe, stage 3 only): novelty is measured in a sentence encoder's space, where a line unlike the
training lines is far from all of them, as in real use (a random tiny encoder maps every line close to every other).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from logllm.scoring.detector import Detector
from logllm.training.stages import run_training
from tests.test_train_pipeline import NORMAL, tiny_args, tiny_dataset

# Nothing like it is in any training window: other words, other shape.
UNSEEN = "kernel: CPU 3 machine check exception bank 5 status 0xdeadbeef thermal trip shutting down"


# the pretrained MiniLM encoder, frozen; no checkpoints (speed)
PRETRAINED_FROZEN = ("--model_preset", "default", "--save_strategy", "no", "--eval_strategy", "no",
                     "--max_tokens_per_line", "24")


def train(out, *extra, dataset=None):
    return run_training(*tiny_args(out, *PRETRAINED_FROZEN, *extra, recipe="frozen.yaml"),
                        dataset=dataset or tiny_dataset())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact") / "run"
    return out, train(out)


def load_folder(folder):
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(str(folder), trust_remote_code=True)
    return model, processor


def test_saved_folder_holds_card_operating_point_index_and_eval(trained):
    from logllm.report.model_card import validate_model_card

    out, result = trained
    folder = out / "final_model"
    assert result.final_model_dir == folder
    card = validate_model_card((folder / "README.md").read_text(encoding="utf-8"))
    config = json.loads((folder / "config.json").read_text())
    point = config["operating_point"]
    metrics = json.loads((folder / "eval" / "metrics.json").read_text())
    assert metrics == json.loads((out / "eval" / "metrics.json").read_text())  # the copy is the evaluation's own
    assert point["threshold_source"].startswith("best F1 on validation")
    assert point["threshold"] == pytest.approx(metrics["threshold"]) and 0 < point["threshold"] < 1
    assert point["novelty_threshold"] is not None and point["dataset"] == "planted_pairs"
    assert point["preprocessing"] and point["max_lines_per_window"]
    train = tiny_dataset()["train"]
    normal_lines = {line for lines, label in zip(train["lines"], train["label"]) if label == 0 for line in lines}
    assert config["novelty_index_size"] == len(normal_lines) > 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["novelty_index"]["kept_lines"] == len(normal_lines)
    assert summary["operating_point"]["threshold"] == point["threshold"] and summary["warnings"] == []
    assert f"{metrics['metrics']['f1']:.3f}" in card.text and str(round(point["threshold"], 4)) in card.text
    assert card.data.eval_results and "projector + decoder" in card.text  # model-index; stage 3 as it ran
    assert "novelty index: " in card.text and "logllm train" in card.text  # the index and the reproduce command
    assert "/tmp/" not in card.text and str(out) not in (folder / "config.json").read_text()


def test_folder_loaded_alone_decides_as_the_evaluation_reported(trained):
    """AutoModel + trust_remote_code on the folder, a Detector with its defaults (the saved operating point, novelty
    on): the test split's decisions and confusion matrix are those of eval/metrics.json and predictions.jsonl."""
    out, _ = trained
    folder = out / "final_model"
    detector = Detector(*load_folder(folder))
    metrics = json.loads((folder / "eval" / "metrics.json").read_text())
    assert detector.use_novelty and detector.threshold == metrics["threshold"]
    test = tiny_dataset()["test"]
    results = detector.score(list(test), preprocessed=True, line_scores=False)
    assert not any(r.status == "unfamiliar" for r in results)
    predicted = np.array([r.anomalous for r in results])
    labels = np.array(test["label"]) == 1
    confusion = {"tp": int((predicted & labels).sum()), "fp": int((predicted & ~labels).sum()),
                 "tn": int((~predicted & ~labels).sum()), "fn": int((~predicted & labels).sum())}
    assert confusion == {k: metrics["metrics"][k] for k in confusion}
    rows = [json.loads(line) for line in (out / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert [bool(row["predicted"]) for row in rows] == predicted.tolist()


def test_novelty_index_round_trips_through_save_and_automodel(trained):
    out, result = trained
    model, _ = load_folder(out / "final_model")
    # in this process AutoModel may resolve to the package's registered class (once logllm.modeling is imported);
    # the folder's own code in a fresh process is tests/test_model_hub.py's
    trained_index = result.model.novelty_index
    assert trained_index is not None and model.novelty_index is not None
    assert torch.equal(model.novelty_index, trained_index)
    assert model.config.novelty_index_size == trained_index.shape[0]


def test_a_line_never_seen_in_training_is_flagged_by_novelty_not_by_the_decoder(trained):
    """By design: both detectors share one decoder threshold set above the decoder's score of both windows, so the
    decoder alone flags neither; the novelty-aware detector flags the window with the unseen line (evidence 'unseen
    line' on that line) and not the same window made of training lines only."""
    out, _ = trained
    model, processor = load_folder(out / "final_model")
    familiar = [NORMAL[0], NORMAL[1], NORMAL[2], NORMAL[3]]
    windows = [{"window_id": "familiar", "lines": familiar, "line_numbers": [1, 2, 3, 4]},
               {"window_id": "unseen", "lines": familiar[:2] + [UNSEEN] + familiar[2:],
                "line_numbers": [1, 2, 3, 4, 5]}]
    decoder_only = Detector(model, processor, use_novelty=False)
    assert not decoder_only.use_novelty
    scores = [r.score for r in decoder_only.score(windows, preprocessed=True, line_scores=False)]
    threshold = float(np.nextafter(max(scores), 1.0))
    assert threshold < 1.0
    decoder_only.point = replace(decoder_only.point, threshold=threshold)
    with_novelty = Detector(model, processor)
    with_novelty.point = replace(with_novelty.point, threshold=threshold)
    assert with_novelty.use_novelty and with_novelty.novelty_threshold is not None

    plain = decoder_only.score(windows, preprocessed=True, line_scores=False)
    assert [r.status for r in plain] == ["normal", "normal"]
    aware = with_novelty.score(windows, preprocessed=True, line_scores=False)
    assert [r.score for r in aware] == pytest.approx([r.score for r in plain])  # the same decoder
    assert aware[0].status == "normal"
    # the model carries a template index (built at the end of training): the unseen line is a new template, and far
    # from every training line (issue 31: named parts)
    assert (aware[1].status, aware[1].reason) == ("anomalous", "new template + unusual line")
    tau = with_novelty.novelty_threshold
    assert aware[1].evidence_source(2, tau) == "new template"
    assert all(aware[1].evidence_source(i, tau) is None for i in (0, 1, 3, 4))
    assert aware[1].suspicious_lines(1, tau)[0][2] == UNSEEN
    # without the template rule, the embedding distance alone flags it, as before the template index
    with_novelty.point = replace(with_novelty.point, new_template_flags=False)
    with_novelty.template_rule, with_novelty.templates = False, None
    aware = with_novelty.score(windows, preprocessed=True, line_scores=False)
    assert (aware[1].status, aware[1].reason) == ("anomalous", "unseen line")
    assert aware[1].evidence_source(2, tau) == "unseen line"
    assert all(aware[1].evidence_source(i, tau) != "unseen line" for i in (0, 1, 3, 4))


def test_normal_only_training_builds_the_index_from_its_normal_windows(tmp_path):
    """--normal-only: the index holds the lines of the windows taken as normal (not the synthesised anomalies), so a
    line the quiet period never showed is unseen."""
    from datasets import Dataset, DatasetDict

    from logllm.dataset.features import WINDOW_FEATURES

    def full(split):  # the columns a built dataset has (normal-only synthesis keeps them)
        rows = [{**row, "source": "quiet.log", "raw_lines": row["lines"], "line_numbers": list(range(1, len(row["lines"]) + 1)),
                 "line_labels": [0] * len(row["lines"]), "categories": [], "start_time": None, "end_time": None}
                for row in split]
        return Dataset.from_list(rows, features=WINDOW_FEATURES)

    dataset = DatasetDict({name: full(split) for name, split in tiny_dataset(train_anomalous_every=0).items()})
    result = train(tmp_path / "run", "--normal_only", "true", "--evaluate_test", "false", dataset=dataset)
    config = json.loads((tmp_path / "run" / "final_model" / "config.json").read_text())
    quiet = {line for lines in dataset["train"]["lines"] for line in lines}
    assert config["novelty_index_size"] == len(quiet)
    assert config["operating_point"]["threshold_source"].startswith("best F1 on validation")
    assert not (tmp_path / "run" / "final_model" / "eval").exists()  # no test evaluation asked for
    detector = Detector(result.model, result.processor)
    novelty = detector.signals([[UNSEEN], sorted(quiet)], preprocessed=True)["novelty"]
    assert novelty[0] > detector.novelty_threshold >= novelty[1]


def test_validation_without_anomalies_is_warned_in_summary_and_card(tmp_path):
    dataset = tiny_dataset()
    dataset["validation"] = dataset["validation"].filter(lambda row: row["label"] == 0)
    run_training(*tiny_args(tmp_path / "run", "--stages", "3", "--evaluate_test", "false"), dataset=dataset)
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert any("validation split has no anomalous windows" in w for w in summary["warnings"])
    config = json.loads((tmp_path / "run" / "final_model" / "config.json").read_text())
    assert config["operating_point"]["threshold"] == 0.5
    assert "no anomalous windows" in config["operating_point"]["threshold_source"]
    card = (tmp_path / "run" / "final_model" / "README.md").read_text()
    assert "validation split has no anomalous windows" in card


def test_no_index_when_asked(tmp_path):
    result = run_training(*tiny_args(tmp_path / "run", "--stages", "3", "--evaluate_test", "false",
                                     "--novelty_index_max_lines", "0"), dataset=tiny_dataset())
    config = json.loads((tmp_path / "run" / "final_model" / "config.json").read_text())
    assert config["novelty_index_size"] == 0 and config["operating_point"]["novelty_threshold"] is None
    assert not Detector(result.model, result.processor).use_novelty


def test_detect_defaults_to_the_saved_operating_point_and_no_novelty_turns_novelty_off(trained, tmp_path, capsys):
    """`logllm detect --model <folder>`: the threshold and its source come from the folder; at `--threshold 1` the
    decoder flags nothing (its P(anomalous) stays below 1), so only novelty can flag the window with the unseen line,
    and `--no-novelty` does not."""
    from logllm.commands.detect import main

    out, _ = trained
    folder = out / "final_model"
    point = json.loads((folder / "config.json").read_text())["operating_point"]
    log = tmp_path / "app.log"
    log.write_text("\n".join([NORMAL[i % 4] for i in range(5)] + [NORMAL[0], NORMAL[1], UNSEEN, NORMAL[2], NORMAL[3]])
                   + "\n")

    def detect(*argv):
        code = main([str(log), "--model", str(folder), "--window", "sliding:5:5", "--no-progress", *map(str, argv)])
        printed = capsys.readouterr()
        assert code == 0 and "Traceback" not in printed.out + printed.err
        return printed.out

    printed = detect()
    assert f"at threshold {point['threshold']:g}" in printed and point["threshold_source"] in printed
    detect("--threshold", 1, "--output", tmp_path / "aware.jsonl")
    detect("--threshold", 1, "--no-novelty", "--output", tmp_path / "plain.jsonl")
    aware, plain = ([json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
                    for name in ("aware.jsonl", "plain.jsonl"))
    assert all(row["score"] < 1 for row in plain) and not any(row["anomalous"] for row in plain)
    assert [row["anomalous"] for row in aware] == [False, True]
    assert {"line": 8, "evidence": "new template", "text": UNSEEN}.items() <= aware[1]["suspicious_lines"][0].items()


def test_watch_threshold_defaults_to_the_model_and_novelty_can_be_turned_off():
    from logllm.commands.watch import build_parser

    args = build_parser().parse_args(["app.log"])
    assert args.threshold is None and args.novelty
    assert not build_parser().parse_args(["app.log", "--no-novelty"]).novelty


def test_unlabeled_test_split_is_not_evaluated_and_says_so(tmp_path):
    """Own logs built without labels carry -1 in test: training saves the model and warns instead of failing at the
    end in the evaluation."""
    dataset = tiny_dataset()
    dataset["test"] = dataset["test"].map(lambda row: {"label": -1})
    run_training(*tiny_args(tmp_path / "run", "--stages", "3"), dataset=dataset)
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert any("without a 0/1 label: no test evaluation" in w for w in summary["warnings"])
    assert (tmp_path / "run" / "final_model" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "final_model" / "eval").exists()
    assert "without a 0/1 label" in (tmp_path / "run" / "final_model" / "README.md").read_text()
