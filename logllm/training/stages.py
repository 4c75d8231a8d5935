"""Run LogLLM's training stages one after another, each as its own `Trainer` run, resumable after a kill.

Layout of `<output_dir>`:

    stage1/ stage2a/ ...      one Trainer output_dir per stage: checkpoint-N/ (the Trainer's; with
                              load_best_model_at_end the stage ends on its best-on-validation one), runs/ (TensorBoard),
        final/                the trainable parameters the stage ended with: its "done" marker
    train_log.jsonl           every log record of every stage
    final_model/              the model folder (logllm.training.artifact): weights with the novelty index, config with
                              the operating point chosen on validation, processor, remote code, README.md (card),
                              eval/ (a copy of the test evaluation); loads with AutoModel, trust_remote_code
    eval/                     test-split metrics.json and plots (logllm.report.evaluate.evaluate_model)
    training_summary.json     stages, hyperparameters, times, data sizes, seed, novelty index, operating point, warnings

After the stages: the novelty index is built from the distinct lines of the normal training windows (before
oversampling), then the operating point is chosen on validation (by the test evaluation when there is one) and saved
in the model's config, so `logllm detect` decides as the evaluation did.

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
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from logllm.modeling.processing_logllm import truncation_note
from logllm.training.arguments import StageConfig
from logllm.training.data import (
    WEIGHT_COLUMN,
    answer_token_weight,
    check_trainable_labels,
    distinct_windows,
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


class ResumeError(ValueError):
    """--resume_from_checkpoint names something that cannot be resumed from; the message says what to pass."""


class RunExistsError(FileExistsError):
    """The output folder holds an earlier run and neither resuming nor overwriting was asked for."""


def resolve_resume(value: str | None, output_dir: Path, stages: list[StageConfig]) -> tuple[bool, dict[str, str]]:
    """Interpret --resume_from_checkpoint: (resume?, {stage name: checkpoint path to resume that stage from})."""
    if value is None or str(value).strip().lower() in {"", "false", "0", "no", "none"}:
        return False, {}
    if str(value).strip().lower() in TRUTHY:
        return True, {}
    path = Path(value)
    if not path.is_dir():
        raise ResumeError(f"--resume_from_checkpoint {value}: no such checkpoint folder (pass true to resume from the "
                          "last complete checkpoint of each stage)")
    stage = path.resolve().parent.name.removeprefix("stage")
    names = [s.name for s in stages]
    if stage not in names or path.resolve().parent.parent != output_dir.resolve():
        raise ResumeError(
            f"--resume_from_checkpoint {value}: expected <output_dir>/stage<name>/checkpoint-N inside {output_dir} "
            f"for one of the stages {names}"
        )
    problem = checkpoint_problem(path)
    if problem:
        raise ResumeError(f"--resume_from_checkpoint {value}: {problem}; pass true to resume from the last complete one")
    return True, {stage: str(path)}


def guard_existing_run(output_dir: Path, stages: list[StageConfig], resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to resume or overwrite."""
    existing = [s.directory(output_dir) for s in stages if s.directory(output_dir).exists()]
    if existing and not resume and not overwrite:
        raise RunExistsError(
            f"{output_dir} already holds a training run ({', '.join(d.name for d in existing)}). Pass "
            "--resume_from_checkpoint true to continue it, --overwrite_output_dir to start over, or another --output_dir."
        )
    if existing and overwrite and not resume:
        import shutil

        for directory in existing:
            shutil.rmtree(directory)
        for name in ("train_log.jsonl", "training_summary.json"):
            (output_dir / name).unlink(missing_ok=True)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from, or None when it is complete.

    The Trainer writes trainer_state.json last (after the weights, optimizer, scheduler and RNG states), so a folder
    without it, or with it cut short, is one whose writing was killed.
    """
    state = folder / "trainer_state.json"
    if not state.is_file():
        return f"{folder.name} is incomplete (no trainer_state.json: the run was stopped while writing it)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return f"{folder.name} is incomplete (its trainer_state.json is cut short: the run was stopped while writing it)"
    return None


def last_checkpoint(stage_dir: Path) -> str | None:
    """The newest complete checkpoint-N of a stage (see `checkpoint_problem`); incomplete newer ones are skipped with
    a logged note (the Trainer writes over such a folder when it reaches that step again)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not stage_dir.is_dir():
        return None
    steps = []
    for folder in stage_dir.iterdir():
        name, _, step = folder.name.rpartition("-")
        if name == PREFIX_CHECKPOINT_DIR and step.isdigit() and folder.is_dir():
            steps.append((int(step), folder))
    for _, folder in sorted(steps, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning("%s: skipping %s; resuming from the newest complete checkpoint before it", stage_dir.name, problem)
    if steps:
        logger.warning("%s: no complete checkpoint; the stage starts over", stage_dir.name)
    return None


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
    distinct: bool = False,
    weighting: str = "epoch",
) -> dict[str, Any]:
    """Train one stage with a fresh Trainer (its own optimizer and schedule); return its record. With `distinct`,
    the stage's windows (after its sample) are collapsed to distinct ones weighted by their counts."""
    model.set_training_stage(stage.trains)
    train_data = stage_subset(train_split, stage.max_samples, stage_seed(seed, stage))
    windows, token_weight = len(train_data), None
    if distinct:
        train_data, _ = distinct_windows(train_data, max_lines_per_window)
        if weighting == "epoch":
            token_weight = answer_token_weight(train_data, processor)
        elif weighting == "none":
            train_data = train_data.remove_columns(WEIGHT_COLUMN)
    if distinct and eval_split is not None:  # copies side by side, so that each batch runs its distinct windows once
        eval_lines = eval_split["lines"]
        eval_split = eval_split.select(sorted(range(len(eval_lines)), key=lambda i: tuple(eval_lines[i])))
    if getattr(args, "train_sampling_strategy", None) == "group_by_length":  # similar line counts pad less
        train_data, eval_split = (with_length_column(part, args.length_column_name) for part in (train_data, eval_split))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "stage %s: trains %s (%s parameters), %d windows%s x %g epoch(s), lr %.1e, effective batch %d%s",
        stage.name, stage.trains_text, f"{trainable:,}", windows,
        f" ({len(train_data)} distinct, weighting {weighting})" if distinct else "", stage.epochs, stage.learning_rate,
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
        answer_token_weight=token_weight,
        dedup_eval=distinct,
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
        "windows": windows,
        "distinct_windows": len(train_data) if distinct else None,
        "distinct_weighting": weighting if distinct else None,
        "forward_passes": len(train_data) * stage.epochs,
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


def with_length_column(split: Any | None, column: str) -> Any | None:
    """`split` with the line count of each window in `column` (the Trainer's length-grouped samplers read it)."""
    if split is None or column in split.column_names:
        return split
    return split.add_column(column, [len(lines) for lines in split["lines"]])


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
    from accelerate import PartialState

    PartialState().wait_for_everyone()  # every rank checks before any rank makes a stage folder
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
                dedup_batch=script_args.dedup_batch, distinct=script_args.distinct_windows,
                weighting=getattr(script_args, "distinct_weighting", "epoch"),
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
    """The whole run: data -> model -> stages -> novelty index -> operating point on validation (+ test evaluation)
    -> the model folder with its card (logllm.training.artifact) -> summary JSON (+ Hub push)."""
    from transformers import set_seed

    from logllm.training.data import load_training_dataset
    from logllm.training.setup import build_model_and_processor

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
    if training_args.should_save:  # model folders an earlier run was killed while writing (~ the model's size each)
        from logllm.atomic import remove_stale_temporaries

        remove_stale_temporaries(final_model_path(script_args, output_dir))
    records = train_stages(
        model, processor, train_split, eval_split, script_args, training_args, model_args, callbacks=callbacks
    )

    result = TrainResult(output_dir=output_dir, model=model, processor=processor, stages=records)
    if training_args.should_save:
        finished = finish_model(model, processor, dataset, records, script_args, training_args, model_args, label)
        result.eval_metrics, result.final_model_dir = finished["evaluation"], finished["final_model_dir"]
        result.seconds = time.perf_counter() - started
        write_summary(result, script_args, training_args, model_args, sizes, novelty_index=finished["novelty_index"],
                      operating_point=finished["operating_point"], warnings=finished["warnings"],
                      template_index=finished["template_index"])
        if training_args.push_to_hub:
            from logllm.training.artifact import push_model_folder

            push_model_folder(result.final_model_dir, training_args.hub_model_id, token=training_args.hub_token,
                              private=training_args.hub_private_repo)
    result.seconds = time.perf_counter() - started
    return result


def base_model_of(model: Any) -> Any:
    """The LogLLM inside a PeftModel (the novelty index and the operating point belong to it), else the model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def build_training_novelty_index(model: Any, processor: Any, dataset: Any, script_args: Any, seed: int,
                                 batch_size: int) -> Any | None:
    """The novelty index from the distinct lines of the normal training windows, before oversampling (with
    --normal-only: its normal windows, so that lines never seen in the quiet period stand out); None when
    `novelty_index_max_lines` is 0. Returns the `IndexReport`."""
    from logllm.scoring.novelty import build_novelty_index, normal_lines

    base = base_model_of(model)
    if script_args.novelty_index_max_lines <= 0:
        base.set_novelty_index(None)
        logger.info("no novelty index (novelty_index_max_lines 0)")
        return None
    train = limit_split(dataset["train"], script_args.max_train_windows)
    lines = normal_lines(train["lines"], train["label"])
    stats_before = dict(processor.stats)
    report = build_novelty_index(base, processor, lines, max_lines=script_args.novelty_index_max_lines, seed=seed,
                                 batch_size=max(1, 8 * int(batch_size)))
    note = truncation_note(processor, stats_before)
    if note:  # once, not per batch (the processor counts per batch)
        logger.warning("novelty index: %s", note)
    return report


def build_training_template_index(model: Any, processor: Any, dataset: Any, script_args: Any) -> Any | None:
    """The template index (logllm.modeling.templates_logllm) from the lines of the normal training windows, with
    their counts, before oversampling; None when `novelty_index_max_lines` is 0 (no novelty evidence at all).

    A model started from a folder that has one (`logllm train --init DIR`, e.g. a `logllm learn` folder) keeps it:
    the training lines are added to its counts and its model id (and so its ledger of accepted lines) is kept."""
    from logllm.modeling.templates_logllm import TemplateIndex, TemplateIndexBuilder

    base = base_model_of(model)
    previous = getattr(base, "template_index", None)
    if script_args.novelty_index_max_lines <= 0:
        return previous
    train = limit_split(dataset["train"], script_args.max_train_windows)
    builder = TemplateIndexBuilder()
    for lines, label in zip(train["lines"], train["label"]):
        if int(label) == 0:
            builder.add_lines(lines)
    index = builder.build(model_id=previous.model_id if previous is not None else None)
    if previous is not None:
        lines, templates = dict(previous.lines), dict(previous.templates)
        for table, extra in ((lines, index.lines), (templates, index.templates)):
            for text, count in extra.items():
                table[text] = table.get(text, 0) + count
        facts = {**index.facts, "lines_read": index.facts["lines_read"] + previous.facts.get("lines_read", 0),
                 "started_from": previous.facts}
        merged = TemplateIndex(lines, templates, model_id=previous.model_id, rare_below=previous.rare_below, facts=facts)
        merged.folder, merged.ledger = previous.folder, previous.ledger
        merged.apply_ledger(previous.ledger)
        index = merged
    base.set_template_index(index)
    logger.info(index.describe())
    return index


def dataset_window(script_args: Any) -> dict[str, Any] | None:
    """How the training windows were cut, when the data says so: the window part of a built dataset's config name
    (`bgl_sliding_100_100`, `hdfs_session`, `plain_time_60_60`) or the synthetic kind (HDFS-like: sessions);
    None when unknown (a dataset passed in memory)."""
    import re
    from dataclasses import asdict

    from logllm.windows.spec import WindowSpec

    if script_args.dataset_name == "synthetic":
        return asdict(WindowSpec.parse("session")) if (script_args.dataset_config or "hdfs") == "hdfs" else None
    match = re.search(r"(?:^|_)(session|sliding_(\d+)_(\d+)|time_([\d.]+)_([\d.]+))(?:_|$)",
                      script_args.dataset_config or "")
    if not match:
        return None
    text = match.group(1)
    if match.group(2):
        text = f"sliding:{match.group(2)}:{match.group(3)}"
    elif match.group(4):
        text = f"time:{match.group(4)}:{match.group(5)}"
    try:
        return asdict(WindowSpec.parse(text))
    except ValueError:
        return None


def choose_operating_point_of(model: Any, processor: Any, dataset: Any, script_args: Any, training_args: Any,
                              label: str, model_preset: str | None, window: dict[str, Any] | None
                              ) -> tuple[Any, dict[str, Any] | None]:
    """(operating point, test evaluation or None): the point is chosen on the validation split — through the test
    evaluation when there is one (`evaluate_model(..., choose_on_validation=True)`), else on validation alone."""
    from logllm.report.evaluate import choose_on_validation_split
    from logllm.scoring.detector import Detector
    from logllm.scoring.operating_point import OperatingPoint

    facts = {"dataset": label or None, "window": window,
             "preprocessing": getattr(processor, "preprocessing", None),
             "max_lines_per_window": getattr(processor, "max_lines_per_window", None)}
    validation = None
    if "validation" in dataset and len(dataset["validation"]):
        validation = limit_split(dataset["validation"], script_args.max_eval_windows)
    if script_args.evaluate_test and "test" in dataset and not unlabeled_windows(dataset["test"]):
        evaluation = evaluate_test_split(model, processor, dataset, script_args, training_args,
                                         Path(training_args.output_dir), label, model_preset, window=window)
        point = OperatingPoint.from_dict(evaluation["operating_point"]) or OperatingPoint()
    else:
        evaluation = None
        if validation is not None:
            detector = Detector(model, processor, name=label, batch_size=int(training_args.per_device_eval_batch_size))
            point = choose_on_validation_split(detector, validation, dataset=facts["dataset"], window=window)
        else:
            point = OperatingPoint()
    for key, value in facts.items():  # also when validation could not choose
        if getattr(point, key) is None:
            setattr(point, key, value)
    return point, evaluation


def finish_model(model: Any, processor: Any, dataset: Any, records: list[dict[str, Any]], script_args: Any,
                 training_args: Any, model_args: Any, label: str) -> dict[str, Any]:
    """After the stages: the novelty index, the operating point (saved in the config), the model folder with its card
    and its evaluation under eval/.

    Returns {"evaluation", "final_model_dir", "novelty_index" (an IndexReport as a dict, or None), "operating_point",
    "warnings"}.
    """
    from logllm.report.model_card import CardFacts
    from logllm.training.artifact import save_model_artifact

    output_dir = Path(training_args.output_dir)
    # the operating point of a folder training started from (`--init`, `model_name_or_path`) judged the old weights,
    # and a `logllm learn` folder's says its decoder is untrained: a new one is chosen below
    base_model_of(model).config.operating_point = None
    index = build_training_novelty_index(model, processor, dataset, script_args, int(training_args.seed),
                                         int(training_args.per_device_eval_batch_size))
    templates = build_training_template_index(model, processor, dataset, script_args)
    window = dataset_window(script_args)
    point, evaluation = choose_operating_point_of(model, processor, dataset, script_args, training_args, label,
                                                  model_args.model_preset, window)
    point.save_to(base_model_of(model))
    logger.info("operating point: threshold %.4g (%s)%s", point.threshold, point.threshold_source,
                f", novelty threshold {point.novelty_threshold:.4g} ({point.novelty_source})"
                if point.novelty_threshold is not None else "")
    warnings = run_warnings(dataset, script_args, evaluation)
    for warning in warnings:
        logger.warning(warning)
    card = CardFacts(
        model_name=model_name_of(training_args, label),
        evaluation=evaluation or {"dataset": label, "operating_point": point.to_dict()},
        stages=stage_hyperparameters(records),
        dataset_name=label,
        data_description=data_description(script_args, label),
        data_origin="synthetic" if script_args.dataset_name == "synthetic" else None,
        repo_id=training_args.hub_model_id if training_args.push_to_hub else None,
        base_models=base_model_ids(base_model_of(model).config),
        command=script_args.command,
        novelty_index=" ".join(x.describe() for x in (index, templates) if x is not None) or None,
        warnings=warnings,
    )
    final_dir = save_model_artifact(
        model, processor, final_model_path(script_args, output_dir), card=card,
        merge_lora=model_args.merge_lora, eval_dir=eval_dir(script_args, output_dir) if evaluation is not None else None,
    )
    return {"evaluation": evaluation, "final_model_dir": final_dir,
            "novelty_index": asdict(index) if index is not None else None,
            "template_index": templates.facts if templates is not None else None,
            "operating_point": point.to_dict(), "warnings": warnings}


def final_model_path(script_args: Any, output_dir: Path) -> Path:
    """Where the model folder goes: --final_model_dir, else <output_dir>/final_model."""
    return Path(script_args.final_model_dir or output_dir / "final_model")


def unlabeled_windows(split: Any) -> int:
    """Windows without a 0/1 label (own logs built without labels carry -1): such a test split cannot be scored."""
    return sum(1 for label in split["label"] if int(label) not in (0, 1)) if "label" in split.column_names else len(split)


def run_warnings(dataset: Any, script_args: Any, evaluation: dict[str, Any] | None) -> list[str]:
    """What a reader of the card must know: validation that could not choose a threshold, a test split without
    anomalies (or without normal windows), a test split that could not be evaluated for want of labels."""
    warnings = []
    if script_args.evaluate_test and "test" in dataset and unlabeled_windows(dataset["test"]):
        warnings.append(f"the test split has {unlabeled_windows(dataset['test'])} of {len(dataset['test'])} windows "
                        "without a 0/1 label: no test evaluation (check the model on labeled logs with "
                        "`logllm evaluate`)")
    validation = dataset["validation"] if "validation" in dataset else None
    if validation is None or not len(validation):
        warnings.append("no validation split: the decision threshold is the default 0.5, not chosen on data")
    else:
        counts = label_counts(limit_split(validation, script_args.max_eval_windows))
        if not counts.get(1):
            warnings.append("the validation split has no anomalous windows: the decision threshold is the default 0.5, "
                            "not chosen on data; build data with anomalies in validation (or check the threshold on "
                            "labeled logs with `logllm evaluate`)")
        if not counts.get(0):
            warnings.append("the validation split has no normal windows: the novelty threshold is its floor, not "
                            "chosen on data")
    if evaluation is not None:
        n, anomalous = int(evaluation.get("n_windows") or 0), int(evaluation.get("n_anomalous") or 0)
        if anomalous == 0:
            warnings.append(f"the test split ({n} windows) has no anomalous windows: recall, F1 and the curves say "
                            "nothing about detection")
        elif anomalous == n:
            warnings.append(f"the test split ({n} windows) has no normal windows: precision says nothing about false "
                            "alarms")
    return warnings


def model_name_of(training_args: Any, label: str) -> str:
    """What the card calls the model: the Hub repository's name when pushing, else logllm-<data>."""
    if getattr(training_args, "hub_model_id", None):
        return str(training_args.hub_model_id).rsplit("/", 1)[-1]
    import re

    return "logllm-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(label).name).strip("-") or "model")


def data_description(script_args: Any, label: str) -> str:
    """One line on the training data for the card (the name as given, no local path)."""
    name = Path(label).name if os.path.isabs(label) else label
    if script_args.dataset_name == "synthetic":
        text = (f"synthetic {script_args.dataset_config or 'hdfs'}-like logs generated offline "
                f"({script_args.synthetic_sessions} windows, seed-controlled)")
    else:
        text = f"the window dataset `{name}`"
    if getattr(script_args, "normal_only", False):
        text += ("; --normal-only: its windows taken as normal, trained against anomalies synthesised from their own "
                 f"lines ({script_args.normal_only_kinds})")
    return text


def base_model_ids(config: Any) -> list[str]:
    """Hub ids of the pretrained parts (`base_components`, the sub-models' names); local folders are left out."""
    import re

    names = []
    base = getattr(config, "base_components", None) or {}
    names += [base.get("encoder"), base.get("decoder")]
    for sub in (getattr(config, "encoder_config", None), getattr(config, "decoder_config", None)):
        names.append(getattr(sub, "_name_or_path", None))
    ids = []
    for name in names:
        if (isinstance(name, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", name) and not os.path.exists(name)
                and name not in ids):
            ids.append(name)
    return ids


def dataset_label(script_args: Any, in_memory: bool) -> str:
    """What results call the data: the caller's `dataset_name` for a dataset passed in (a recipe's `dataset_config`
    names the data it would load, not this one); otherwise the config (synthetic kind or Hub config) or the name."""
    if in_memory:
        return script_args.dataset_name
    return script_args.dataset_config or script_args.dataset_name


def evaluate_test_split(
    model, processor, dataset, script_args, training_args, output_dir: Path, label: str, model_preset: str | None,
    window: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the held-out test split with logllm.report.evaluate; the operating point is chosen on validation (never
    on test) and comes back in the payload's `operating_point`."""
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
        training_dir=output_dir, error_analysis=False, choose_on_validation=True, window=window,
    )


def eval_dir(script_args: Any, output_dir: Path) -> Path:
    return Path(script_args.eval_dir or output_dir / "eval")


def stage_hyperparameters(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-stage settings for the model card (what each stage trained, how), from the stage records, in order."""
    keys = ("stage", "trains", "learning_rate", "epochs", "windows", "steps")
    return [{k: r[k] for k in keys if k in r} for r in records if "stage" in r]


def write_summary(
    result: TrainResult, script_args: Any, training_args: Any, model_args: Any, sizes: dict[str, Any], *,
    novelty_index: dict[str, Any] | None = None, operating_point: dict[str, Any] | None = None,
    warnings: list[str] | None = None, template_index: dict[str, Any] | None = None,
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
        "novelty_index": novelty_index,
        "template_index": template_index,
        "operating_point": operating_point,
        "warnings": list(warnings or []),
        "final_model": str(result.final_model_dir) if result.final_model_dir else None,
        "seconds": round(result.seconds, 2),
    }
    path = result.output_dir / "training_summary.json"
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path
