# /// script
# dependencies = ["logllm", "transformers>=5", "trl>=1.0", "peft", "datasets", "accelerate", "tensorboard"]
# ///
"""Train LogLLM in stages with `transformers.Trainer`: 1 decoder, 2a projector, 2b encoder + projector, 3 everything.

The recipe's `stages:` list says what each stage trains and how (name, trains, learning_rate, epochs, max_samples);
every stage is its own Trainer run under `<output_dir>/stage<name>/` that ends on its best checkpoint on validation.
The trained model lands in `<output_dir>/final_model/`, its test evaluation in `<output_dir>/eval/`, the run's
record in `<output_dir>/training_summary.json`. Recipes: train/recipes/ (docs/training.md).

Full fine-tuning, offline on a CPU (synthetic HDFS-like logs, MiniLM encoder + small random Llama decoder):

    logllm train --config quickstart --output_dir runs/quickstart

QLoRA, the paper's setup (bert-base-uncased + Meta-Llama-3-8B in 4-bit, LoRA r=8 on the decoder, r=4 on the
encoder) on windows built first by `logllm data build --dataset bgl --input BGL.log --output data/loghub`:

    python train/train_logllm.py --config paper/bgl --output_dir runs/bgl

LoRA on an unquantised decoder, and on several GPUs (DDP; FSDP/DeepSpeed configs in train/recipes/accelerate/):

    logllm train --config bgl --load_in_4bit false --lora_r 16 --lora_alpha 32
    accelerate launch --config_file train/recipes/accelerate/ddp.yaml train/train_logllm.py --config bgl

Table V ablation: `--stages 3` or `--stages 2a,2b,3` (of the recipe's stages). Resume after a kill: add
`--resume_from_checkpoint true`; finished stages are not rerun.
"""

from __future__ import annotations

import logging
import sys


def main(script_args, training_args, model_args):
    """Data -> model -> stages -> final model -> test evaluation -> training_summary.json (+ Hub push)."""
    from logllm.training.stages import run_training

    result = run_training(script_args, training_args, model_args)
    print(result.summary())
    return result


def make_parser():
    """TrlParser over (ScriptArguments, TrainingArguments, LogLLMModelConfig) that also reads recipe `base:` chains,
    the `stages:` list and the earlier flags."""
    from logllm.training.recipes import RecipeParser

    return RecipeParser()


def cli(argv: list[str] | None = None) -> int:
    """`logllm train ...`: a recipe or flag the parser refuses is one line on stderr, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        argv = init_as_model_path(list(sys.argv[1:] if argv is None else argv))
        script_args, training_args, model_args = make_parser().parse_args_and_config(argv)
    except ValueError as err:
        print(f"logllm train: error: {err}", file=sys.stderr)
        return 2
    try:
        main(script_args, training_args, model_args)
    except KeyboardInterrupt:
        print(f"logllm train: interrupted; {resume_hint(argv, training_args)}", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - predictable failures become one line; anything else is re-raised
        message = predictable_failure(err, script_args, training_args)
        if message is None:
            raise
        print(f"logllm train: error: {message}", file=sys.stderr)
        return 2
    return 0


def resume_hint(argv: list[str] | None, training_args) -> str:
    """How to go on after Ctrl-C: the same command with --resume_from_checkpoint true (finished stages are replayed
    from their final/ snapshots, the interrupted one resumes from its last complete checkpoint)."""
    import shlex
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    if not any(Path(training_args.output_dir).glob("stage*")):
        return f"no stage had started; run `{shlex.join(['logllm', 'train', *args])}` again"
    if not any(a == "--resume_from_checkpoint" or a.startswith("--resume_from_checkpoint=") for a in args):
        args += ["--resume_from_checkpoint", "true"]
    return f"resume with `{shlex.join(['logllm', 'train', *args])}`"


def init_as_model_path(argv: list[str]) -> list[str]:
    """`--init DIR` (a `logllm learn` folder or any saved LogLLM) is `--model_name_or_path DIR`: training starts from
    its weights and keeps its template index and ledger of accepted lines (logllm.training.stages)."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--init" or arg.startswith("--init="):
            if arg == "--init":
                if i + 1 >= len(argv):
                    raise ValueError("--init needs a model folder (e.g. one made by `logllm learn`)")
                value, i = argv[i + 1], i + 2
            else:
                value, i = arg.split("=", 1)[1], i + 1
            from pathlib import Path

            if not (Path(value) / "config.json").is_file():
                raise ValueError(f"--init {value}: not a saved model folder (no config.json in it)")
            out += ["--model_name_or_path", value]
            continue
        out.append(arg)
        i += 1
    return out


def predictable_failure(err: Exception, script_args, training_args) -> str | None:
    """One line with what to do for failures a user can cause (missing data, offline push, Hub refusal); None for a
    bug, which keeps its traceback."""
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from logllm.training.data import TrainingDataError
    from logllm.training.stages import ResumeError, RunExistsError

    if isinstance(err, (ResumeError, RunExistsError)):
        return str(err)
    saved = script_args.final_model_dir or f"{training_args.output_dir}/final_model"
    push_again = f"`python -m logllm.training.hub --model_dir {saved} --repo_id {training_args.hub_model_id}`"
    if isinstance(err, OfflineModeIsEnabled):
        return f"cannot push: HF_HUB_OFFLINE is set. The trained model is saved in {saved}; push it later with {push_again}"
    if isinstance(err, HfHubHTTPError):
        return (f"the Hub refused the push of {training_args.hub_model_id} ({str(err).splitlines()[0]}). The trained "
                f"model is saved in {saved}; check the repo id and token (`hf auth login`), then {push_again}")
    if isinstance(err, DatasetNotFoundError) or (isinstance(err, FileNotFoundError)
                                                 and str(script_args.dataset_name) in str(err)):
        return (f"{err} (--dataset_name is a folder written by `logllm data build`, a Hub dataset id, or 'synthetic'; "
                "--dataset_config one of its configs)")
    if isinstance(err, TrainingDataError):
        return str(err)
    return None


if __name__ == "__main__":
    sys.exit(cli())
