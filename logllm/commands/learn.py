"""``logllm learn``: a detector from a quiet period of your own logs, in seconds, without labels or training.

Examples::

    logllm learn /var/log/app/2026-11-*.log --output runs/learned
    zcat quiet.log.gz | logllm learn - --output runs/learned
    logllm detect today.log --model runs/learned

Reads the logs as ``logllm detect`` does (formats, folders, archives, ``-`` for standard input), counts their
masked lines and Drain templates, encodes the distinct lines with the pretrained MiniLM encoder of the ``default``
preset, and saves a model folder whose operating point flags windows holding a template never seen in the quiet
period. No gradient step is taken: the folder's decoder is untrained and never decides (see its README.md).
Exit status: 0 learned, 2 bad input (the message says which), also when some files could not be read (the rest
were learned from; notes name each).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 2
LEARN_WINDOW = "sliding:1000:1000"  # each line read once (no overlap), streamed; windows only carry lines here

logger = logging.getLogger(__name__)


class QuietLogs:
    """The windows of several inputs (files, folders, archives, ``-``) through detect's reader, with its notes."""

    def __init__(self, paths: Sequence[str], fmt: str = "auto", max_bytes: int | None = None, num_proc: int = 1) -> None:
        self.paths, self.fmt, self.max_bytes, self.num_proc = list(paths), fmt, max_bytes, num_proc
        self.notes: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.lines = 0
        self.formats: set[str] = set()
        self._spool: Path | None = None

    def __enter__(self) -> QuietLogs:
        self._spool = Path(tempfile.mkdtemp(prefix="logllm-learn-"))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)

    def windows(self) -> Iterator[dict[str, Any]]:
        from logllm.commands import _guarded, _ReadFailed, _stdin_to_file
        from logllm.dataset.user_logs import InputReader

        if self.paths.count("-") > 1:
            from logllm.logs.errors import DetectionInputError

            raise DetectionInputError("standard input (-) can be given once")
        for path in self.paths:
            source = _stdin_to_file(self.max_bytes, self._spool) if path == "-" else Path(path)
            reader = InputReader(source, fmt=self.fmt, window=LEARN_WINDOW, max_bytes=self.max_bytes,
                                 source_name="<stdin>" if path == "-" else None, num_proc=self.num_proc)
            any_windows = False
            for unit in reader.units():
                rows: list[dict[str, Any]] = []
                try:
                    for window in _guarded(unit.windows):
                        any_windows = True
                        rows.append(window)
                        if len(rows) >= 64:
                            yield from rows
                            rows = []
                except _ReadFailed as failed:
                    reader.failed(unit, failed.error)  # rows already yielded stay learned: counted in the note
                    continue
                yield from rows
                reader.finished(unit)
            fmt, _spec, n_lines, notes, skipped = reader.summary(any_windows=any_windows)
            self.formats.add(fmt)
            self.lines += n_lines
            self.notes += notes
            self.skipped += skipped


def build_parser() -> argparse.ArgumentParser:
    from logllm.dataset.user_logs import INPUT_FORMATS
    from logllm.scoring.learn import LearnSettings

    d = LearnSettings()
    parser = argparse.ArgumentParser(
        prog="logllm learn",
        description="Learn what normal looks like from quiet-period logs (no labels, no training) and save a model "
                    "folder that detect, watch, serve and AutoModel load.",
        epilog="Exit status: 0 learned, 2 bad input (also when some files were skipped: the rest were learned from).",
    )
    parser.add_argument("paths", nargs="+", metavar="QUIET_LOGS", help="log files, folders, .gz/.zip/.tar archives, - for stdin")
    parser.add_argument("--output", required=True, help="model folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder (its ledger is lost)")
    parser.add_argument("--format", dest="fmt", default="auto", choices=INPUT_FORMATS, help="log format (default: auto)")
    parser.add_argument("--max-mb", type=float, default=0.0, help="refuse inputs larger than this (default 0 = no limit)")
    parser.add_argument("--num-proc", type=int, default=1, help="processes parsing big plain files (default 1)")
    parser.add_argument("--max-lines", type=int, default=d.max_lines, help="distinct masked lines kept with counts")
    parser.add_argument("--max-templates", type=int, default=d.max_templates, help="Drain templates kept")
    parser.add_argument("--rare-below", type=int, default=d.rare_below,
                        help=f"a template seen fewer times is a rare template (default {d.rare_below})")
    parser.add_argument("--rare-flags", action="store_true", help="rare templates flag windows too (default: evidence only)")
    parser.add_argument("--novelty-flags", action="store_true",
                        help="an unusual line (embedding distance) flags a window on its own (default: evidence only)")
    parser.add_argument("--index-max-lines", type=int, default=d.index_max_lines,
                        help="distinct lines encoded into the novelty index (a seeded sample past it)")
    parser.add_argument("--index-lines-per-template", type=int, default=d.index_lines_per_template,
                        help=f"of each template, the most frequent lines encoded (default {d.index_lines_per_template}; 0: all)")
    parser.add_argument("--max-tokens-per-line", type=int, default=d.max_tokens_per_line,
                        help=f"encoder tokens read per line (default {d.max_tokens_per_line})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for encoding (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return parser


def settings_of(args: argparse.Namespace) -> Any:
    from logllm.logs.errors import DetectionInputError
    from logllm.scoring.learn import LearnSettings

    for name in ("max_lines", "max_templates", "rare_below", "index_max_lines", "max_tokens_per_line"):
        if getattr(args, name) < 1:
            raise DetectionInputError(f"--{name.replace('_', '-')} must be >= 1")
    if args.index_lines_per_template < 0:
        raise DetectionInputError("--index-lines-per-template must be >= 0 (0: every line)")
    return LearnSettings(max_lines=args.max_lines, max_templates=args.max_templates, rare_below=args.rare_below,
                         index_max_lines=args.index_max_lines, index_lines_per_template=args.index_lines_per_template,
                         max_tokens_per_line=args.max_tokens_per_line, novelty_decides=args.novelty_flags,
                         rare_flags=args.rare_flags, seed=args.seed)


def learn_from_inputs(paths: Sequence[str], settings: Any, *, fmt: str = "auto", max_bytes: int | None = None,
                      num_proc: int = 1, progress: bool = True, label: str = "learning") -> tuple[Any, Any, Any, QuietLogs]:
    """(model, processor, LearnResult, QuietLogs) learned from `paths`; shared by `learn` and `detect --baseline`."""
    from tqdm.auto import tqdm

    from logllm.logs.errors import DetectionInputError
    from logllm.scoring.learn import build_learner, learn_detector

    with QuietLogs(paths, fmt, max_bytes, num_proc) as logs:
        windows = logs.windows()
        first = next(windows, None)  # unreadable input fails before the encoder loads
        if first is None:
            raise DetectionInputError(f"{', '.join(paths)}: no log lines to learn from")
        model, processor = build_learner(seed=settings.seed, max_tokens_per_line=settings.max_tokens_per_line)
        with tqdm(unit="line", desc=label, file=sys.stderr, dynamic_ncols=True,
                  disable=True if not progress else None) as bar:
            from itertools import chain

            result = learn_detector(model, processor, chain([first], windows), settings, progress=bar.update,
                                    dataset="learned: " + ", ".join(paths))
    result.sources = list(paths)
    return model, processor, result, logs


def save_learned(model: Any, processor: Any, result: Any, settings: Any, output: Path, command: str | None) -> Path:
    """The learned model folder, written next to its place and renamed into it (complete or untouched)."""
    import json

    from logllm.atomic import atomic_folder
    from logllm.scoring.learn import render_card
    from logllm.training.artifact import normalize_permissions

    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(output) as tmp:
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
        (tmp / "README.md").write_text(render_card(result, result.sources, settings, command), encoding="utf-8")
        (tmp / "learned.json").write_text(json.dumps({
            "facts": result.index.facts, "novelty_index": result.novelty, "profile": result.profile,
            "seconds": {k: round(v, 3) for k, v in result.seconds.items()}, "sources": result.sources,
        }, indent=1) + "\n", encoding="utf-8")
        normalize_permissions(tmp)
    return output


def run(args: argparse.Namespace) -> int:
    import time

    from logllm.logs.errors import DetectionInputError

    settings = settings_of(args)
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not args.overwrite:
        raise DetectionInputError(f"--output {output}: exists and is not empty; pass --overwrite to replace it "
                                  "(its ledger of accepted lines goes with it)")
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    started = time.perf_counter()
    model, processor, result, logs = learn_from_inputs(
        args.paths, settings, fmt=args.fmt, max_bytes=int(args.max_mb * 1e6) if args.max_mb > 0 else None,
        num_proc=max(1, args.num_proc), progress=not args.no_progress)
    for note in logs.notes:
        print(f"logllm learn: note: {note}", file=sys.stderr)
    save_learned(model, processor, result, settings, output, "logllm learn " + " ".join(args.paths))
    seconds = time.perf_counter() - started
    print(f"{result.describe()}; {seconds:.1f}s")
    print(f"saved {output} (decoder not trained; see {output / 'README.md'}); "
          f"use it with `logllm detect LOG --model {output}`")
    if logs.skipped:
        print(f"logllm learn: error: {len(logs.skipped)} file(s) could not be read and were skipped (notes above); "
              "the folder was learned from the rest", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    if not args.verbose:
        for name in ("logllm.modeling", "logllm.dataset", "logllm.logs", "logllm.scoring"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    from logllm.logs.errors import DetectionInputError, LogFormatError

    try:
        return run(args)
    except (DetectionInputError, LogFormatError) as err:
        print(f"logllm learn: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as err:
        print(f"logllm learn: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, UnicodeError) as err:
        print(f"logllm learn: error: cannot read input: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("logllm learn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
