"""``logllm accept``: mark lines or templates as normal for a model, without retraining.

Examples::

    logllm accept --model runs/learned --template "session opened for user <*>" --note "new cron job"
    logllm accept --model runs/learned --line "Nov 15 kernel: eth1 link up" --until 2026-12-31
    logllm accept --model runs/learned --from flagged.jsonl --window app.log:1001-2000
    logllm accept --model runs/learned --list
    logllm accept --model runs/learned --undo 3

Entries go to the ledger ``accepted.json`` in the model folder (what, when, note, expiry), written atomically.
``detect`` and ``serve`` read it when they load the model; ``watch`` re-reads it when it changes. ``--from`` takes
the templates of the suspicious lines (new template, rare template, unusual line) of a ``detect --output`` JSONL
file: of its flagged rows, or of the rows named with ``--window``. Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logllm accept",
        description="Accept lines or templates as normal for a model folder (a ledger beside its weights).",
        epilog="Exit status: 0 done, 2 bad input (the message says which).",
    )
    parser.add_argument("--model", required=True, help="local model folder with a template index (learn or train)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--template", action="append", help="a template (`<*>` matches any one word); repeatable")
    what.add_argument("--line", action="append", help="a raw log line, masked as the model masks it; repeatable")
    what.add_argument("--from", dest="from_output", metavar="OUTPUT.jsonl",
                      help="the suspicious lines' templates of a `logllm detect --output` file")
    what.add_argument("--list", action="store_true", help="show the ledger")
    what.add_argument("--undo", type=int, nargs="+", metavar="ID", help="remove entries by id (see --list)")
    parser.add_argument("--window", action="append", default=[], help="with --from: only this window id (repeatable)")
    parser.add_argument("--until", default=None, help="the entries expire then (YYYY-MM-DD[THH:MM[:SS]][Z], UTC)")
    parser.add_argument("--note", default=None, help="why (kept in the ledger)")
    return parser


def run(args: argparse.Namespace) -> int:
    from logllm.logs.errors import DetectionInputError
    from logllm.modeling.templates_logllm import parse_time
    from logllm.scoring.feedback import Ledger, check_template, texts_from_output

    ledger = Ledger(args.model)
    if args.list:
        print(ledger.format())
        return 0
    if args.undo:
        removed = ledger.undo(args.undo)
        ledger.save()
        for entry in removed:
            print(f"removed {entry.id}: {entry.kind} {entry.text}")
        return 0
    if args.window and not args.from_output:
        raise DetectionInputError("--window goes with --from OUTPUT.jsonl")
    until = None
    if args.until:
        try:
            until = parse_time(args.until)
        except ValueError as err:
            raise DetectionInputError(f"--until: {err}") from None
    if args.line:
        from logllm.modeling import LogLLMProcessor

        processor = LogLLMProcessor.from_pretrained(args.model)
        texts = [t for t in processor.preprocess_lines(args.line)]
        if not any(t.strip() for t in texts):
            raise DetectionInputError("--line: the line is empty")
        kind, source = "line", "--line"
    elif args.template:
        texts, kind, source = [check_template(t) for t in args.template], "template", "--template"
    else:
        texts = [check_template(t) for t in texts_from_output(args.from_output, args.window)]
        kind, source = "template", f"--from {args.from_output}"
    added = ledger.add(kind, texts, until=until, note=args.note, source=source)
    ledger.save()
    for entry in added:
        print(f"accepted {entry.id}: {entry.kind} {entry.text}")
    if len(added) < len(set(texts)):
        print(f"{len(set(texts)) - len(added)} already accepted", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from logllm.logs.errors import DetectionInputError

    try:
        return run(args)
    except DetectionInputError as err:
        print(f"logllm accept: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"logllm accept: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
