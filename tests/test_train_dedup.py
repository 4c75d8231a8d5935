"""dedup_batch: a training batch with repeated windows runs each distinct window once, weighted by its count, and
gives the loss and gradients of the full batch; evaluation still scores every row."""

import pytest
import torch
from transformers import TrainingArguments

from logllm.modeling.presets import build_tiny
from logllm.training.trainer import LogLLMTrainer, WindowCollator

ROWS = [
    {"lines": ["Receiving block <*> src <*>", "PacketResponder <*> terminating"], "label": 0},
    {"lines": ["Receiving block <*> src <*>", "PacketResponder <*> terminating"], "label": 0},
    {"lines": ["Exception in receiveBlock for block <*>", "PacketResponder <*> terminating"], "label": 1},
    {"lines": ["Receiving block <*> src <*>", "PacketResponder <*> terminating"], "label": 0},
    {"lines": ["Verification succeeded for <*>"], "label": 0},
    {"lines": ["Exception in receiveBlock for block <*>", "PacketResponder <*> terminating"], "label": 1},
]


def _loss_and_grads(model, batch):
    model.zero_grad()
    batch = dict(batch)
    batch.pop("window_labels")
    loss = model(**batch, logits_to_keep=1).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_deduplicated_batch_has_the_loss_and_gradients_of_the_full_batch():
    model, processor = build_tiny(seed=0)
    model.eval()  # no dropout: the copies of a window are then the same computation
    model.set_training_stage(3)
    full = WindowCollator(processor)(ROWS)
    dedup = WindowCollator(processor, dedup=True)(ROWS)
    assert dedup["window_weights"].tolist() == [3.0, 2.0, 1.0] and dedup["window_labels"].tolist() == [0, 1, 0]
    full_loss, full_grads = _loss_and_grads(model, full)
    dedup_loss, dedup_grads = _loss_and_grads(model, dedup)
    assert torch.allclose(full_loss, dedup_loss, atol=1e-6)
    assert full_grads.keys() == dedup_grads.keys() and full_grads
    for name in full_grads:
        assert torch.allclose(full_grads[name], dedup_grads[name], atol=1e-6), name
    # the weights matter: without them the loss is that of the distinct windows, off by far more than the tolerance
    dedup.pop("window_weights")
    unweighted = model(**{k: v for k, v in dedup.items() if k != "window_labels"}).loss.detach()
    assert abs(unweighted - full_loss) > 1e-5


def test_only_the_training_loader_deduplicates(tmp_path):
    from datasets import Dataset

    model, processor = build_tiny(seed=0)
    data = Dataset.from_list([{**row, "window_id": str(i)} for i, row in enumerate(ROWS)])
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=6, per_device_eval_batch_size=6,
                             use_cpu=True, report_to="none", remove_unused_columns=False)
    trainer = LogLLMTrainer(model=model, args=args, train_dataset=data, eval_dataset=data,
                            data_collator=WindowCollator(processor), dedup_batch=True)
    train_batch = next(iter(trainer.get_train_dataloader()))
    eval_batch = next(iter(trainer.get_eval_dataloader()))
    assert len(train_batch["window_labels"]) == 3 and sorted(train_batch["window_weights"].tolist()) == [1.0, 2.0, 3.0]
    assert len(eval_batch["window_labels"]) == 6 and "window_weights" not in eval_batch
    assert trainer.data_collator.dedup is False


def test_dedup_batch_with_lora_dropout_is_refused():
    from logllm.training.recipes import parse_arguments

    with pytest.raises(ValueError, match="lora_dropout 0"):
        parse_arguments(["--config", "fast", "--dedup_batch", "true", "--use_peft", "true", "--lora_dropout", "0.05"])
