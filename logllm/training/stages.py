"""Run LogLLM's training stages one after another, each as its own `Trainer` run, resumable after a kill.

Layout of `<output_dir>`:

    stage1/ stage2a/ ...      one Trainer output_dir per stage: checkpoint-N/ (the Trainer's; with
                              load_best_model_at_end the stage ends on its best-on-validation one), runs/ (TensorBoard),
        final/                the trainable parameters the stage ended with: its "done" marker
    train_log.jsonl           every log record of every stage
    final_model/              save_pretrained model + processor (loads with AutoModel, trust_remote_code)
    eval/                     test-split metrics.json and plots (logllm.report.evaluate.evaluate_model)
    training_summary.json     stages, hyperparameters, times, data sizes, seed

Resuming replays finished stages from their `final/` snapshots (in order, so the model is exactly where
the interrupted stage started), then lets the Trainer resume the interrupted stage from its last checkpoint
(optimizer, scheduler, RNG, data position and best-so-far included). `final/` is kept although the Trainer
checkpoints: checkpoints are rotated (`save_total_limit`) or not written at all (`save_strategy: no`), while
`final/` always marks a stage as done and holds exactly the weights the next stage started from.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from logllm.modeling.processing_logllm import truncation_note
from logllm.training.arguments import StageConfig
from logllm.training.data import (
    check_trainable_labels,
    check_window_dataset,
    label_counts,
    limit_split,
    oversample_minority,
    stage_subset,
)
from logllm.training.trainer import (
    JsonlLoggingCallback,
    LogLLMTrainer,
    WindowCollator,
    load_trainable_snapshot,
    save_trainable_snapshot,
    window_metrics,
)

logger = logging.getLogger(__name__)

TRUTHY = {"true", "1", "yes", "last", "latest", "auto"}


@dataclass
class TrainResult:
    """What a training run produced, for callers (quickstart, benchmarks) and the CLI summary."""

    output_dir: Path
    model: Any
    processor: Any
    stages: list[dict[str, Any]] = field(default_factory=list)
    eval_metrics: dict[str, Any] | None = None
    final_model_dir: Path | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        width = max([30, *(len(s["trains"]) for s in self.stages)])
        rows = [f"{'stage':<6} {'trains':<{width}} {'lr':>8} {'epochs':>6} {'steps':>6} {'loss':>8} {'seconds':>8}"]
        for s in self.stages:
            loss = s.get("train_loss")
            rows.append(
                f"{s['stage']:<6} {s['trains']:<{width}} {s['learning_rate']:>8.1e} {s['epochs']:>6g} {s.get('steps', 0):>6} "
                f"{(f'{loss:.4f}' if isinstance(loss, float) else '-'):>8} {s.get('seconds', 0):>8.1f}"
            )
        if self.eval_metrics:
            m = self.eval_metrics.get("metrics", self.eval_metrics)
            rows.append(
                "test: " + "  ".join(f"{k} {m[k]:.4f}" for k in ("precision", "recall", "f1", "roc_auc") if _num(m.get(k)))
            )
        rows.append(f"model: {self.final_model_dir}   total {self.seconds:.1f} s")
        return "\n".join(rows)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def gradient_accumulation_for(effective_batch_size: int | None, training_args: Any) -> int:
    """Accumulation steps so that per-device batch x devices x accumulation = the effective batch (16 in the paper)."""
    if not effective_batch_size:
        return int(training_args.gradient_accumulation_steps)
    per_step = int(training_args.per_device_train_batch_size) * max(1, int(training_args.world_size))
    if effective_batch_size % per_step:
        raise ValueError(
            f"effective_batch_size {effective_batch_size} is not a multiple of per_device_train_batch_size x devices "
            f"= {per_step}; change one of them"
        )
    return effective_batch_size // per_step


def stage_training_args(training_args: Any, stage: StageConfig, output_dir: Path, accumulation: int, has_eval: bool):
    """A copy of the user's TrainingArguments for one stage: its own output_dir, learning rate and epochs; the best
    model on validation is the Trainer's own (`load_best_model_at_end`); no validation without validation data."""
    from transformers.trainer_utils import IntervalStrategy

    args = copy.deepcopy(training_args)
    args.output_dir = str(stage.directory(output_dir))
    args.learning_rate = stage.learning_rate
    args.num_train_epochs = stage.epochs
    args.max_steps = -1
    args.gradient_accumulation_steps = accumulation
    args.remove_unused_columns = False
    args.push_to_hub = False  # the whole model is pushed once, after the last stage
    args.resume_from_checkpoint = None
    if not has_eval:
        args.eval_strategy = IntervalStrategy.NO
        args.load_best_model_at_end = False
    return args


def resolve_resume(value: str | None, output_dir: Path, stages: list[StageConfig]) -> tuple[bool, dict[str, str]]:
    """Interpret --resume_from_checkpoint: (resume?, {stage name: checkpoint path to resume that stage from})."""
    if value is None or str(value).strip().lower() in {"", "false", "0", "no", "none"}:
        return False, {}
    if str(value).strip().lower() in TRUTHY:
        return True, {}
    path = Path(value)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    stage = path.resolve().parent.name.removeprefix("stage")
    names = [s.name for s in stages]
    if stage not in names or path.resolve().parent.parent != output_dir.resolve():
        raise ValueError(
            f"--resume_from_checkpoint {value}: expected <output_dir>/stage<name>/checkpoint-N inside {output_dir} "
            f"for one of the stages {names}"
        )
    return True, {stage: str(path)}


def guard_existing_run(output_dir: Path, stages: list[StageConfig], resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to resume or overwrite."""
    existing = [s.directory(output_dir) for s in stages if s.directory(output_dir).exists()]
    if existing and not resume and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds a training run ({', '.join(d.name for d in existing)}). Pass "
            "--resume_from_checkpoint true to continue it, --overwrite_output_dir to start over, or another --output_dir."
        )
    if existing and overwrite and not resume:
        import shutil

        for directory in existing:
            shutil.rmtree(directory)
        for name in ("train_log.jsonl", "training_summary.json"):
            (output_dir / name).unlink(missing_ok=True)


def last_checkpoint(stage_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(stage_dir)) if stage_dir.is_dir() else None


@contextmanager
def line_cache_while_encoder_frozen(model: Any) -> Iterator[None]:
    """Encode each distinct line once per stage when the stage does not train the encoder (stages 1, 2a, a
    frozen-encoder stage 3): the encoder is then the costliest part of a step and its outputs cannot change."""
    if getattr(model, "encoder_trainable", True) or getattr(model, "line_cache", None) is not None:
        yield
        return
    model.enable_line_cache()
    try:
        yield
    finally:
        model.disable_line_cache()


def stage_seed(seed: int, stage: StageConfig) -> int:
    """Each stage draws its own window sample: the run's seed offset by the stage's rank among the stage names
    (1, 2, 2a, 2b, 3), so a stage samples the same windows whichever other stages run."""
    from logllm.modeling.modeling_logllm import TRAINING_STAGES

    return seed + sorted(TRAINING_STAGES).index(stage.name)


def run_stage(
    stage: StageConfig,
    model: Any,
    processor: Any,
    train_split: Any,
    eval_split: Any | None,
    args: Any,
    *,
    output_dir: Path,
    seed: int,
    resume_from: str | None,
    max_lines_per_window: int | None,
    callbacks: Iterable[Any] = (),
    dedup_batch: bool = False,
) -> dict[str, Any]:
    """Train one stage with a fresh Trainer (its own optimizer and schedule); return its record."""
    model.set_training_stage(stage.trains)
    train_data = stage_subset(train_split, stage.max_samples, stage_seed(seed, stage))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "stage %s: trains %s (%s parameters), %d windows x %g epoch(s), lr %.1e, effective batch %d%s",
        stage.name, stage.trains_text, f"{trainable:,}", len(train_data), stage.epochs, stage.learning_rate,
        args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size),
        f", resuming from {resume_from}" if resume_from else "",
    )
    trainer = LogLLMTrainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_split,
        data_collator=WindowCollator(processor, max_lines_per_window),
        # no processing_class: the processor is saved with the final model, and Trainer's special-token
        # alignment expects a processor with a single `tokenizer`, which a two-tokenizer LogLLM processor is not.
        compute_metrics=window_metrics,
        callbacks=[JsonlLoggingCallback(output_dir / "train_log.jsonl", stage.name), *callbacks],
        stage_name=stage.name,
        encoder_learning_rate=stage.encoder_learning_rate,
        dedup_batch=dedup_batch,
    )
    started = time.perf_counter()
    stats_before = dict(processor.stats)
    with line_cache_while_encoder_frozen(model):
        output = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    note = truncation_note(processor, stats_before)
    if note:  # once per stage, not at every step (the processor counts per batch)
        logger.warning("stage %s: %s", stage.name, note)
    trainer.save_state()  # <stage dir>/trainer_state.json: the stage's log history and run time (cost report)
    encoder_trains = getattr(model, "encoder_trainable", False)
    record: dict[str, Any] = {
        "stage": stage.name,
        "trains": stage.trains_text,
        "learning_rate": stage.learning_rate,
        "encoder_learning_rate": (stage.encoder_learning_rate or stage.learning_rate) if encoder_trains else None,
        "epochs": stage.epochs,
        "windows": len(train_data),
        "trainable_parameters": trainable,
        "steps": int(trainer.state.global_step),
        "train_loss": float(output.training_loss),
        "seconds": round(seconds, 2),
        "resumed_from": resume_from,
        "lines_truncated": processor.stats["lines_truncated"] - stats_before.get("lines_truncated", 0),
    }
    if args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        record["best"] = {"metric": _eval_metric(args.metric_for_best_model), "value": trainer.state.best_metric,
                          "step": trainer.state.best_global_step, "checkpoint": trainer.state.best_model_checkpoint}
        logger.info("stage %s: ended on its best %s = %.5f (step %s)", stage.name, record["best"]["metric"],
                    trainer.state.best_metric, trainer.state.best_global_step)
    if hasattr(model, "clear_line_cache"):
        model.clear_line_cache()  # line vectors cached before the best weights were loaded
    if trainer.state.is_world_process_zero:
        save_trainable_snapshot(model, stage.directory(output_dir) / "final", record)
    return record


def _eval_metric(name: str) -> str:
    return name if name.startswith("eval_") else f"eval_{name}"


def completed_stage_record(stage: StageConfig, model: Any, output_dir: Path) -> dict[str, Any] | None:
    """Replay a finished stage from its `final/` snapshot; None if the stage has not finished."""
    final = stage.directory(output_dir) / "final"
    if not (final / "trainable.safetensors").is_file():
        return None
    model.set_training_stage(stage.trains)
    record = load_trainable_snapshot(model, final)
    logger.info("stage %s already finished: loaded its final weights from %s", stage.name, final)
    return {**record, "skipped_on_resume": True}


def train_stages(
    model: Any,
    processor: Any,
    train_split: Any,
    eval_split: Any | None,
    script_args: Any,
    training_args: Any,
    model_args: Any,
    *,
    callbacks: Iterable[Any] = (),
) -> list[dict[str, Any]]:
    """Run (or resume) the recipe's stages in order; return one record per stage."""
    output_dir = Path(training_args.output_dir)
    stages: list[StageConfig] = script_args.stages
    if not stages:
        raise ValueError("no training stages: the recipe's stages: list is empty")
    resume, explicit = resolve_resume(training_args.resume_from_checkpoint, output_dir, stages)
    guard_existing_run(output_dir, stages, resume, script_args.overwrite_output_dir)
    accumulation = gradient_accumulation_for(script_args.effective_batch_size, training_args)
    records = []
    for stage in stages:
        if resume and stage.name not in explicit:
            done = completed_stage_record(stage, model, output_dir)
            if done is not None:
                records.append(done)
                continue
        resume_from = explicit.get(stage.name) or (last_checkpoint(stage.directory(output_dir)) if resume else None)
        args = stage_training_args(training_args, stage, output_dir, accumulation, eval_split is not None)
        records.append(
            run_stage(
                stage, model, processor, train_split, eval_split, args,
                output_dir=output_dir, seed=training_args.seed, resume_from=resume_from,
                max_lines_per_window=model_args.max_lines_per_window, callbacks=callbacks,
                dedup_batch=script_args.dedup_batch,
            )
        )
    return records


def prepare_splits(dataset: Any, script_args: Any, seed: int) -> tuple[Any, Any | None, dict[str, Any]]:
    """Check the dataset, cut it to the requested sizes and oversample the training split (β)."""
    check_window_dataset(dataset, name=script_args.dataset_name, splits=("train",))
    train = limit_split(dataset["train"], script_args.max_train_windows)
    counts = check_trainable_labels(train, name=f"{script_args.dataset_name}[train]")
    train = oversample_minority(train, script_args.oversample_beta, seed)
    eval_split = None
    if "validation" in dataset and len(dataset["validation"]):
        eval_split = limit_split(dataset["validation"], script_args.max_eval_windows)
    sizes = {
        "train_windows": sum(counts.values()),
        "train_anomalous": counts.get(1, 0),
        "train_windows_after_oversampling": len(train),
        "validation_windows": len(eval_split) if eval_split is not None else 0,
        "validation_anomalous": label_counts(eval_split).get(1, 0) if eval_split is not None else 0,
    }
    return train, eval_split, sizes


def apply_normal_only(dataset: Any, script_args: Any, seed: int) -> Any:
    """`--normal-only` (issue 8): train/validation become normal windows plus anomalies synthesised from
    their own lines; `test` is kept unchanged. Without the flag the dataset is returned as is."""
    if not getattr(script_args, "normal_only", False):
        return dataset
    from logllm.dataset.normal_only import normal_only_dataset_dict

    return normal_only_dataset_dict(dataset, kinds=script_args.normal_only_kinds,
                                    anomaly_ratio=script_args.normal_only_anomaly_ratio, seed=seed)


def run_training(
    script_args: Any,
    training_args: Any,
    model_args: Any,
    *,
    dataset: Any | None = None,
    model_and_processor: tuple[Any, Any] | None = None,
    callbacks: Iterable[Any] = (),
) -> TrainResult:
    """The whole run: data -> model -> stages -> final model -> test evaluation -> summary JSON (+ Hub push)."""
    from transformers import set_seed

    from logllm.training.setup import build_model_and_processor, save_final_model
    from logllm.training.data import load_training_dataset

    started = time.perf_counter()
    seed = int(training_args.seed)
    output_dir = Path(training_args.output_dir)
    label = dataset_label(script_args, in_memory=dataset is not None)
    set_seed(seed)
    if dataset is None:
        dataset = load_training_dataset(script_args, seed)
    dataset = apply_normal_only(dataset, script_args, seed)
    train_split, eval_split, sizes = prepare_splits(dataset, script_args, seed)
    set_seed(seed)
    model, processor = model_and_processor or build_model_and_processor(model_args, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    records = train_stages(
        model, processor, train_split, eval_split, script_args, training_args, model_args, callbacks=callbacks
    )

    result = TrainResult(output_dir=output_dir, model=model, processor=processor, stages=records)
    if training_args.should_save:
        final_dir = Path(script_args.final_model_dir or output_dir / "final_model")
        result.final_model_dir = save_final_model(model, processor, final_dir, model_args)
    if script_args.evaluate_test and "test" in dataset and training_args.should_save:
        result.eval_metrics = evaluate_test_split(
            model, processor, dataset, script_args, training_args, output_dir, label, model_args.model_preset
        )
    result.seconds = time.perf_counter() - started
    if training_args.should_save:
        write_summary(result, script_args, training_args, model_args, sizes)
    if training_args.push_to_hub and training_args.should_save:
        from logllm.training.hub import push_trained_model

        push_trained_model(
            result.final_model_dir, training_args.hub_model_id, eval_dir=eval_dir(script_args, output_dir),
            hyperparameters=stage_hyperparameters(records), token=training_args.hub_token,
            private=training_args.hub_private_repo,
        )
    return result


def dataset_label(script_args: Any, in_memory: bool) -> str:
    """What results call the data: the caller's `dataset_name` for a dataset passed in (a recipe's `dataset_config`
    names the data it would load, not this one); otherwise the config (synthetic kind or Hub config) or the name."""
    if in_memory:
        return script_args.dataset_name
    return script_args.dataset_config or script_args.dataset_name


def evaluate_test_split(
    model, processor, dataset, script_args, training_args, output_dir: Path, label: str, model_preset: str | None
) -> dict[str, Any]:
    """Score the held-out test split with logllm.report.evaluate (threshold chosen on validation, never on test)."""
    from logllm.report.evaluate import evaluate_model

    data = dict(dataset)
    data["test"] = limit_split(dataset["test"], script_args.max_test_windows)
    if "validation" in data:
        data["validation"] = limit_split(dataset["validation"], script_args.max_eval_windows)
    return evaluate_model(
        model, processor, data, eval_dir(script_args, output_dir), split="test", seed=int(training_args.seed),
        batch_size=int(training_args.per_device_eval_batch_size),
        dataset_name=label,
        model_name=f"LogLLM ({model_preset} preset)" if model_preset else "LogLLM",
        training_dir=output_dir, error_analysis=False,
    )


def eval_dir(script_args: Any, output_dir: Path) -> Path:
    return Path(script_args.eval_dir or output_dir / "eval")


def stage_hyperparameters(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-stage settings for the model card (what each stage trained, how), from the stage records."""
    keys = ("trains", "learning_rate", "epochs", "windows", "steps")
    return {str(r["stage"]): {k: r[k] for k in keys if k in r} for r in records if "stage" in r}


def write_summary(
    result: TrainResult, script_args: Any, training_args: Any, model_args: Any, sizes: dict[str, Any]
) -> Path:
    """training_summary.json: everything needed to say what was trained, on what, how long."""
    metrics = (result.eval_metrics or {}).get("metrics")
    payload = {
        "seed": int(training_args.seed),
        "script_args": asdict(script_args),
        "model_args": asdict(model_args),
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": gradient_accumulation_for(script_args.effective_batch_size, training_args),
        "data": sizes,
        "stages": result.stages,
        "test_metrics": metrics,
        "final_model": str(result.final_model_dir) if result.final_model_dir else None,
        "seconds": round(result.seconds, 2),
    }
    path = result.output_dir / "training_summary.json"
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path
