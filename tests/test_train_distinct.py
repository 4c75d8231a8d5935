"""Training on distinct windows: each distinct (window, label) once per epoch, its loss weighted by its count, with
the epoch objective of the repeated windows (oversampling included)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from datasets import Dataset
from transformers import TrainingArguments

from logllm.modeling.presets import build_tiny
from logllm.training.data import WEIGHT_COLUMN, answer_token_weight, distinct_windows, oversample_minority
from logllm.training.trainer import LogLLMTrainer, WindowCollator

A = ["Receiving block <*> src <*>", "PacketResponder <*> terminating"]
B = ["Exception in receiveBlock for block <*>", "PacketResponder <*> terminating"]
C = ["Verification succeeded for <*>"]
D = ["Deleting block <*> file <*>", "Receiving block <*> src <*>", "PacketResponder <*> terminating"]
# 13 rows, 5 distinct (window, label): A x5 normal, B x3 anomalous, C x2 normal, D x2 normal, A x1 anomalous
ROWS = [
    *[{"lines": A, "label": 0}] * 5, *[{"lines": B, "label": 1}] * 3, *[{"lines": C, "label": 0}] * 2,
    *[{"lines": D, "label": 0}] * 1, {"lines": A, "label": 1}, {"lines": D, "label": 0},
]


def _rows(data: Dataset) -> list[dict]:
    return [dict(row) for row in data]


def _trainer(model, tmp_path, token_weight: float | None) -> LogLLMTrainer:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", remove_unused_columns=False)
    return LogLLMTrainer(model=model, args=args, data_collator=None, answer_token_weight=token_weight)


@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny(seed=0)
    model.eval()  # no dropout: a window's copies are the same computation
    model.set_training_stage(3)
    return model, processor


def test_distinct_windows_counts_every_copy_and_keeps_labels_apart():
    data = Dataset.from_list([{**row, "window_id": f"w{i}"} for i, row in enumerate(ROWS)])
    distinct, counts = distinct_windows(data)
    assert counts == {"windows": 13, "distinct_windows": 5, "weight_total": 13}
    got = {(tuple(r["lines"]), r["label"]): r[WEIGHT_COLUMN] for r in distinct}
    assert got == {(tuple(A), 0): 5.0, (tuple(B), 1): 3.0, (tuple(C), 0): 2.0, (tuple(D), 0): 2.0, (tuple(A), 1): 1.0}
    assert distinct["window_id"] == ["w0", "w5", "w8", "w10", "w11"]  # first occurrence kept, in order
    # collapsing again sums the weights already there
    again, counts2 = distinct_windows(distinct)
    assert again[WEIGHT_COLUMN] == distinct[WEIGHT_COLUMN] and counts2["weight_total"] == 13


def test_distinct_windows_count_oversampled_copies():
    data = Dataset.from_list(ROWS)
    oversampled = oversample_minority(data, beta=0.5, seed=3)
    assert len(oversampled) > len(data)
    expected = Counter((tuple(r["lines"]), r["label"]) for r in oversampled)
    distinct, counts = distinct_windows(oversampled)
    assert counts["weight_total"] == len(oversampled) and counts["distinct_windows"] == len(expected)
    assert {(tuple(r["lines"]), r["label"]): r[WEIGHT_COLUMN] for r in distinct} == expected


def test_distinct_windows_compare_lines_after_the_window_cut():
    data = Dataset.from_list([{"lines": D, "label": 0}, {"lines": D[:2] + ["other tail"], "label": 0}])
    assert len(distinct_windows(data)[0]) == 2
    assert distinct_windows(data, max_lines_per_window=2)[0][WEIGHT_COLUMN] == [2.0]


def test_weighted_distinct_loss_equals_the_mean_loss_over_the_repeated_windows(tiny, tmp_path):
    model, processor = tiny
    full = WindowCollator(processor)(ROWS)
    full.pop("window_labels")
    with torch.no_grad():
        repeated_loss = model(**full, logits_to_keep=1).loss  # token mean over the 13 repeated windows

    distinct, _ = distinct_windows(Dataset.from_list(ROWS))
    token_weight = answer_token_weight(distinct, processor)
    trainer = _trainer(model, tmp_path, token_weight)
    rows = _rows(distinct)
    with torch.no_grad():
        one_batch = trainer.compute_loss(model, WindowCollator(processor)(rows))
        assert torch.allclose(one_batch, repeated_loss, atol=1e-6)
        # unscaled, the weighted batch mean is the same here; over several batches only the scaled one adds up
        batches = [rows[:1], rows[1:2], rows[2:3], rows[3:4], rows[4:5]]
        epoch = sum(trainer.compute_loss(model, WindowCollator(processor)(b)) for b in batches) / len(batches)
        assert torch.allclose(epoch, repeated_loss, atol=1e-6)
        unscaled = _trainer(model, tmp_path, None)
        naive = sum(unscaled.compute_loss(model, WindowCollator(processor)(b)) for b in batches) / len(batches)
        assert abs(float(naive - repeated_loss)) > 1e-4  # the weights and the scale are what makes it exact


def test_gradients_of_the_distinct_epoch_equal_those_of_the_repeated_windows(tiny, tmp_path):
    model, processor = tiny
    full = WindowCollator(processor)(ROWS)
    full.pop("window_labels")
    model.zero_grad()
    model(**full, logits_to_keep=1).loss.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    distinct, _ = distinct_windows(Dataset.from_list(ROWS))
    trainer = _trainer(model, tmp_path, answer_token_weight(distinct, processor))
    model.zero_grad()
    rows = _rows(distinct)
    for batch in (rows[:2], rows[2:4], rows[4:]):  # the loss of each batch carries its own share of the epoch
        (trainer.compute_loss(model, WindowCollator(processor)(batch)) * len(batch) / len(rows)).backward()
    assert expected
    for name, grad in expected.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-6), name


def test_a_batch_that_mixes_repeats_of_weighted_rows_sums_their_weights(tiny, tmp_path):
    model, processor = tiny
    distinct, _ = distinct_windows(Dataset.from_list(ROWS))
    rows = _rows(distinct)
    mixed = [rows[0], rows[1], rows[0], rows[2]]  # the first row twice (as a shuffled oversampled split can give)
    batch = WindowCollator(processor, dedup=True)(mixed)
    assert batch["window_weights"].tolist() == [10.0, 3.0, 2.0] and int(batch["window_rows"]) == 4
    plain = WindowCollator(processor)(mixed)
    assert plain["window_weights"].tolist() == [5.0, 3.0, 5.0, 2.0]
    trainer = _trainer(model, tmp_path, answer_token_weight(distinct, processor))
    with torch.no_grad():
        assert torch.allclose(trainer.compute_loss(model, batch), trainer.compute_loss(model, plain), atol=1e-6)


def test_evaluation_rows_carry_no_weights(tiny):
    _, processor = tiny
    batch = WindowCollator(processor)([dict(r) for r in ROWS[:3]])
    assert "window_weights" not in batch and "window_rows" not in batch


def test_a_run_on_distinct_windows_makes_fewer_forward_passes(tmp_path):
    from tests.test_train_pipeline import tiny_args
    from logllm.training.stages import run_training
    from datasets import DatasetDict

    repeated = [{**row, "window_id": f"w{i}"} for i, row in enumerate(ROWS * 2)]
    dataset = DatasetDict(train=Dataset.from_list(repeated), validation=Dataset.from_list(repeated[:4]),
                          test=Dataset.from_list(repeated[:6]))
    out = tmp_path / "run"
    result = run_training(*tiny_args(out, "--distinct_windows", "true", "--evaluate_test", "false",
                                     recipe="frozen.yaml"), dataset=dataset)
    (stage,) = result.stages
    assert stage["windows"] > 24 and stage["distinct_windows"] == 5  # oversampled copies collapse too
    assert stage["forward_passes"] == 5 * stage["epochs"]
    assert (out / "final_model" / "config.json").is_file()


def test_evaluation_on_distinct_windows_gives_every_row_its_score_and_the_same_loss(tiny, tmp_path):
    model, processor = tiny
    data = Dataset.from_list([{**row, "window_id": f"w{i}"} for i, row in enumerate(ROWS)])
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=8, use_cpu=True, report_to="none",
                             remove_unused_columns=False)
    plain = LogLLMTrainer(model=model, args=args, eval_dataset=data, data_collator=WindowCollator(processor))
    dedup = LogLLMTrainer(model=model, args=args, eval_dataset=data, data_collator=WindowCollator(processor),
                          dedup_eval=True)
    batch = next(iter(dedup.get_eval_dataloader()))
    assert len(batch["window_labels"]) == 8 and batch["input_ids"].shape[0] < 8  # 8 rows, fewer model rows
    expected, got = plain.predict(data), dedup.predict(data)
    assert got.predictions.shape == expected.predictions.shape == (13,)
    assert torch.allclose(torch.as_tensor(got.predictions), torch.as_tensor(expected.predictions), atol=1e-6)
    assert (got.label_ids == expected.label_ids).all()
    assert abs(got.metrics["test_loss"] - expected.metrics["test_loss"]) < 1e-5


def test_length_grouped_batches_get_a_length_column(tmp_path):
    from tests.test_train_pipeline import tiny_args
    from logllm.training.stages import run_training
    from datasets import DatasetDict

    rows = [{**row, "window_id": f"w{i}"} for i, row in enumerate(ROWS)]
    dataset = DatasetDict(train=Dataset.from_list(rows), validation=Dataset.from_list(rows[:4]))
    out = tmp_path / "run"
    result = run_training(*tiny_args(out, "--distinct_windows", "true", "--evaluate_test", "false",
                                     "--train_sampling_strategy", "group_by_length", recipe="frozen.yaml"),
                          dataset=dataset)
    assert result.stages[0]["distinct_windows"] == 5 and result.stages[0]["steps"] > 0


@pytest.mark.parametrize("weighting", ["batch", "none"])
def test_other_weightings_of_distinct_windows(tmp_path, weighting):
    from tests.test_train_pipeline import tiny_args
    from logllm.training.stages import run_training
    from datasets import DatasetDict

    rows = [{**row, "window_id": f"w{i}"} for i, row in enumerate(ROWS)]
    dataset = DatasetDict(train=Dataset.from_list(rows), validation=Dataset.from_list(rows[:4]))
    out = tmp_path / "run"
    result = run_training(*tiny_args(out, "--distinct_windows", "true", "--distinct_weighting", weighting,
                                     "--evaluate_test", "false", recipe="frozen.yaml"), dataset=dataset)
    (stage,) = result.stages
    assert stage["distinct_windows"] == 5 and stage["distinct_weighting"] == weighting


def test_an_unknown_weighting_is_refused():
    from logllm.training.recipes import parse_arguments

    with pytest.raises(ValueError, match="distinct_weighting must be one of"):
        parse_arguments(["--config", "fast", "--distinct_weighting", "sqrt"])
