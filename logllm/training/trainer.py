"""The pieces `transformers.Trainer` needs to train LogLLM: a window collator, a Trainer subclass, a JSONL log
callback and the per-stage snapshot of trained parameters.

The composite model cannot go through stock `SFTTrainer` data preparation (its inputs are windows of log lines,
not token sequences), so a `Trainer` subclass computes the loss itself and evaluation returns window-level anomaly
scores (for validation F1 / ROC-AUC). Everything else (optimizer, accumulation, checkpoints, resume, best model on
validation, TensorBoard, accelerate/DDP/FSDP/DeepSpeed) is the Trainer's own.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from logllm.training.data import WEIGHT_COLUMN

logger = logging.getLogger(__name__)

TRAINABLE_SNAPSHOT = "trainable.safetensors"
SNAPSHOT_INFO = "snapshot.json"


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stops instead of silently writing a broken model."""


@dataclass
class WindowCollator:
    """Turn dataset rows (`lines`, `label`, optional `weight`) into model inputs with the model's own processor.

    Datasets hold already-preprocessed `lines` (contract 2), so the processor is called with
    `preprocessed=True`; window labels are kept as `window_labels` for validation metrics. Rows of a distinct-window
    split (`logllm.training.data.distinct_windows`) carry a `weight`: it becomes `window_weights`, and `window_rows`
    (the batch's row count) lets the Trainer put the loss on the scale of the repeated windows. With `dedup`,
    identical (lines, label) rows of a batch go to the model once with their summed weight: the loss is the same.
    With `expand` as well (evaluation), `window_labels` stay one per row and `window_inverse` maps each row to its
    distinct window, so every row still gets its score.
    """

    processor: Any
    max_lines_per_window: int | None = None
    dedup: bool = False
    expand: bool = False

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        windows = [self._lines(row) for row in rows]
        labels = [int(row["label"]) for row in rows]
        weighted = bool(rows) and WEIGHT_COLUMN in rows[0]
        weights = [float(row[WEIGHT_COLUMN]) for row in rows] if weighted else [1.0] * len(rows)
        row_labels, inverse = labels, None
        if self.dedup:  # oversampling and repetitive logs put the same window in a batch several times
            totals: dict[tuple[tuple[str, ...], int], float] = {}
            slot: dict[tuple[tuple[str, ...], int], int] = {}
            inverse = []
            for lines, label, weight in zip(windows, labels, weights):
                key = (tuple(lines), label)
                slot.setdefault(key, len(slot))
                totals[key] = totals.get(key, 0.0) + weight
                inverse.append(slot[key])
            windows, labels, weights = [list(k[0]) for k in totals], [k[1] for k in totals], list(totals.values())
        # window_labels first: the Trainer's evaluation loop takes the batch size from the first tensor (rows)
        batch = {"window_labels": torch.tensor(row_labels if self.expand else labels, dtype=torch.long),
                 **self.processor(windows, labels=labels, preprocessed=True)}
        if self.expand and inverse is not None:
            batch["window_inverse"] = torch.tensor(inverse, dtype=torch.long)
        if weighted or self.dedup:
            batch["window_weights"] = torch.tensor(weights, dtype=torch.float32)
        if weighted:
            batch["window_rows"] = torch.tensor(len(rows), dtype=torch.long)
        return batch

    def _lines(self, row: dict[str, Any]) -> list[str]:
        lines = list(row["lines"])
        if not lines:
            raise ValueError(f"window {row.get('window_id', '?')!r} has no lines; empty windows cannot be scored")
        if self.max_lines_per_window is not None and len(lines) > self.max_lines_per_window:
            # The paper caps a window at its *first* 128 lines (official code); keep the same order.
            lines = lines[: self.max_lines_per_window]
        return lines


class LogLLMTrainer(Trainer):
    """`Trainer` with LogLLM's loss, a NaN guard and window-level scores in evaluation.

    `stage_name` only labels messages and logs (e.g. "2b"). `dedup_batch`: training batches run each distinct
    window once, its loss weighted by its count (`WindowCollator.dedup`); the loss and gradients are those of the
    full batch when nothing in a step is random (no dropout), so only the cost changes.

    Training on distinct windows (rows with a `weight`): the model's weighted loss is a mean over the batch's
    weights, which would give a batch of rare windows as much pull as a batch holding a window seen 3,000 times.
    `answer_token_weight` (the mean of weight x answer tokens over the training rows,
    `logllm.training.data.answer_token_weight`) rescales it to sum(w * token losses) / (rows x that mean), so the
    mean over an epoch's batches is the token-mean loss over the repeated windows, as if each copy were trained on.
    """

    # compute_loss returns a per-batch mean: let the Trainer divide it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self, *args: Any, stage_name: str = "?", encoder_learning_rate: float | None = None, dedup_batch: bool = False,
        answer_token_weight: float | None = None, dedup_eval: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.answer_token_weight = answer_token_weight
        self.dedup_eval = dedup_eval
        self.stage_name = stage_name
        self.encoder_learning_rate = encoder_learning_rate
        self.dedup_batch = dedup_batch

    def get_train_dataloader(self):
        if not self.dedup_batch or not isinstance(self.data_collator, WindowCollator):
            return super().get_train_dataloader()
        collator = self.data_collator
        self.data_collator = replace(collator, dedup=True)  # the training loader only; evaluation scores every row
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = collator

    def get_eval_dataloader(self, eval_dataset=None):
        """With `dedup_eval`, each distinct window of a batch runs once and its score goes to every row holding it
        (exact: same loss, same per-row scores); sort the split so that copies share batches."""
        if not self.dedup_eval or not isinstance(self.data_collator, WindowCollator):
            return super().get_eval_dataloader(eval_dataset)
        collator = self.data_collator
        self.data_collator = replace(collator, dedup=True, expand=True)
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = collator

    def _get_eval_sampler(self, eval_dataset):
        if self.dedup_eval and self.args.world_size <= 1:  # keep the copies the stage put side by side together
            from torch.utils.data import SequentialSampler

            return SequentialSampler(eval_dataset)
        return super()._get_eval_sampler(eval_dataset)

    def create_optimizer(self, model=None):
        """Give the pretrained encoder its own (smaller) learning rate: a randomly initialised decoder needs a
        large one, which would wash out what the encoder learned in pre-training."""
        optimizer = super().create_optimizer(model)
        encoder = getattr(self.model, "encoder", None)
        if self.encoder_learning_rate is None or encoder is None:
            return optimizer
        encoder_params = {id(p) for p in encoder.parameters()}
        groups = []
        for group in optimizer.param_groups:
            mine = [p for p in group["params"] if id(p) in encoder_params]
            rest = [p for p in group["params"] if id(p) not in encoder_params]
            if rest:
                groups.append({**group, "params": rest})
            if mine:
                groups.append({**group, "params": mine, "lr": self.encoder_learning_rate})
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        inputs.pop("window_labels", None)
        rows = inputs.pop("window_rows", None)
        outputs = model(**inputs, logits_to_keep=1)  # the loss needs only answer positions
        loss = outputs.loss
        if loss is None:
            raise ValueError("the model returned no loss: the collator must pass `labels` to the processor")
        if rows is not None and self.answer_token_weight:  # distinct windows: the scale of the repeated ones
            loss = loss * epoch_scale(inputs["window_weights"], inputs["labels"], int(rows), self.answer_token_weight)
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLossError(
                f"stage {self.stage_name}: loss is {loss.detach().float().item()} at step "
                f"{self.state.global_step} (learning rate {self._current_lr()}). Lower the stage's learning rate, "
                "check the data for empty/huge windows, or train in float32."
            )
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = dict(inputs)
        window_labels = inputs.pop("window_labels", None)
        inverse = inputs.pop("window_inverse", None)
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        loss = loss.detach().mean()
        if prediction_loss_only:
            return loss, None, None
        scores = outputs.anomaly_score.detach().float()  # (distinct B,) P(anomalous)
        if inverse is not None:
            scores = scores[inverse.to(scores.device)]  # (rows,)
        labels = window_labels.to(scores.device) if window_labels is not None else None
        return loss, scores, labels

    def _current_lr(self) -> float | None:
        if self.lr_scheduler is None:
            return None
        return float(self.lr_scheduler.get_last_lr()[0])


def epoch_scale(weights: torch.Tensor, labels: torch.Tensor, rows: int, answer_token_weight: float) -> torch.Tensor:
    """Factor turning the model's weighted token-mean loss of a distinct-window batch into
    sum(w x token losses) / (rows x answer_token_weight): summed over an epoch's full batches, the token-mean loss
    of the repeated windows (see `LogLLMTrainer`)."""
    from logllm.modeling.processing_logllm import IGNORE_INDEX

    answer_tokens = (labels[:, 1:] != IGNORE_INDEX).sum(dim=1).to(weights.device, torch.float32)  # (B,)
    return (weights.float() * answer_tokens).sum() / (rows * answer_token_weight)


def window_metrics(eval_pred) -> dict[str, float]:
    """`compute_metrics` for the Trainer: threshold-free ROC/PR AUC plus F1 at 0.5 on validation windows."""
    from logllm.report.metrics import compute_metrics

    scores = torch.as_tensor(eval_pred.predictions).float().flatten().tolist()
    labels = torch.as_tensor(eval_pred.label_ids).long().flatten().tolist()
    metrics = compute_metrics(labels, scores, threshold=0.5)
    return {key: float(value) for key, value in metrics.items() if _is_number(value)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(float(value))


class JsonlLoggingCallback(TrainerCallback):
    """Append every Trainer log record (loss, lr, eval metrics) as one JSON line, tagged with the stage."""

    def __init__(self, path: str | Path, stage_name: str) -> None:
        self.path = Path(path)
        self.stage_name = stage_name

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"time": time.time(), "stage": self.stage_name, "step": state.global_step, "epoch": state.epoch}
        record.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str))})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters the current stage trains (names as in `model.named_parameters()`)."""
    return {name: p.detach().cpu().contiguous().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_trainable_snapshot(model: torch.nn.Module, directory: str | Path, info: dict[str, Any]) -> Path:
    """Write the trainable parameters (safetensors) and a small JSON description to `directory`, atomically: the
    folder is filled next to its place and renamed into it, so a kill leaves either no `directory` (the stage is
    redone on resume) or a complete one, never weights without their description. What an earlier killed write
    left next to it is removed first (`logllm.atomic.remove_stale_temporaries`)."""
    from safetensors.torch import save_file

    from logllm.atomic import atomic_folder, remove_stale_temporaries

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    with atomic_folder(directory) as tmp:
        save_file(trainable_state(model), str(tmp / TRAINABLE_SNAPSHOT))
        (tmp / SNAPSHOT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    return directory


def load_trainable_snapshot(model: torch.nn.Module, directory: str | Path) -> dict[str, Any]:
    """Load a snapshot written by `save_trainable_snapshot` into `model`; every saved name must exist."""
    from safetensors.torch import load_file

    directory = Path(directory)
    state = load_file(str(directory / TRAINABLE_SNAPSHOT))
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise KeyError(f"{directory}: snapshot holds parameters the model does not have: {unknown[:5]}")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))
    if hasattr(model, "clear_line_cache"):
        model.clear_line_cache()  # cached line vectors may come from the replaced encoder weights
    return json.loads((directory / SNAPSHOT_INFO).read_text(encoding="utf-8"))
