"""``logllm detect``: score your own log files and say which windows look anomalous, and why.

Examples::

    logllm detect /var/log/hdfs/ --output flagged.jsonl
    zcat BGL.log.gz | logllm detect - --format bgl --threshold 0.7 --fail-on-anomaly
    logllm detect app.log --window sliding:20:10 --model my-org/logllm-bgl

Exit status: 0 when it ran (anomalies or not), 1 when ``--fail-on-anomaly`` is set and a window
was flagged, 2 for bad input, usage or a missing model (the message on stderr says which).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

EXIT_OK, EXIT_ANOMALY, EXIT_ERROR = 0, 1, 2
DEFAULT_MAX_MB = 500.0

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from logllm.dataset.user_logs import INPUT_FORMATS
    from logllm.windows.spec import DEFAULT_WINDOWS

    defaults = ", ".join(f"{k}: {v.detect}" for k, v in DEFAULT_WINDOWS.items() if not k.startswith("synthetic"))
    parser = argparse.ArgumentParser(
        prog="logllm detect",
        description="Find anomalous windows and their most suspicious lines in log files.",
        epilog="Exit status: 0 ran fine, 1 anomalies found with --fail-on-anomaly, 2 bad input or missing model.",
    )
    parser.add_argument("path", help="log file, folder of logs, .gz file, or - for standard input")
    parser.add_argument("--model", default=None,
                        help="saved model folder or Hub id (default: $LOGLLM_MODEL, else runs/quickstart/model)")
    parser.add_argument("--format", dest="fmt", default="auto", choices=INPUT_FORMATS, help="log format (default: auto)")
    parser.add_argument("--window", default=None,
                        help=f"session | sliding:SIZE[:STEP] | time:SECONDS (defaults: {defaults})")
    parser.add_argument("--threshold", type=float, default=0.5, help="P(anomalous) at or above which a window is flagged")
    parser.add_argument("--top-k", type=int, default=3, help="suspicious lines shown per flagged window")
    parser.add_argument("--batch-size", type=int, default=8, help="windows scored per forward pass")
    parser.add_argument("--output", default=None, help="write every window's result to a .jsonl or .csv file")
    parser.add_argument("--fail-on-anomaly", action="store_true", help="exit 1 if any window is flagged")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                        help=f"refuse inputs larger than this (default {DEFAULT_MAX_MB:g}; 0 = no limit)")
    parser.add_argument("--max-rows", type=int, default=50, help="flagged windows printed (all go to --output)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return parser


def _stdin_to_file(max_bytes: int | None, folder: Path) -> Path:
    """Standard input is spooled to a temporary file so format detection can look at it twice."""
    path = folder / "stdin.log"
    written = 0
    with open(path, "wb") as out:
        while chunk := sys.stdin.buffer.read(1 << 20):
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                from logllm.logs.errors import DetectionInputError

                raise DetectionInputError(f"<stdin>: more than {max_bytes / 1e6:.1f} MB; raise --max-mb")
            out.write(chunk)
    return path


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from logllm.report.detection import format_table, write_results
    from logllm.scoring.detector import Detector, score_input
    from logllm.dataset.user_logs import read_input
    from logllm.logs.errors import DetectionInputError

    if not 0.0 <= args.threshold <= 1.0:
        raise DetectionInputError(f"--threshold {args.threshold} must be between 0 and 1")
    if args.top_k < 0 or args.batch_size < 1:
        raise DetectionInputError("--top-k must be >= 0 and --batch-size >= 1")
    max_bytes = int(args.max_mb * 1e6) if args.max_mb > 0 else None
    if args.output and Path(args.output).suffix.lower() not in {".jsonl", ".json", ".csv"}:
        raise DetectionInputError(f"--output {args.output}: use a .jsonl or .csv file name")
    spool = Path(tempfile.mkdtemp(prefix="logllm-detect-"))
    try:
        path = _stdin_to_file(max_bytes, spool) if args.path == "-" else Path(args.path)
        read = read_input(path, fmt=args.fmt, window=args.window, max_bytes=max_bytes,
                                   source_name="<stdin>" if args.path == "-" else None)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    detector = Detector.load(args.model, batch_size=args.batch_size)
    with tqdm(total=len(read.windows), unit="win", desc="scoring", file=sys.stderr,
              disable=True if args.no_progress else None) as bar:
        report = score_input(detector, read, args.threshold, lambda done, _total: bar.update(done - bar.n))
    for note in report.notes:
        print(f"logllm detect: note: {note}", file=sys.stderr)
    print(format_table(report, top_k=args.top_k, max_rows=args.max_rows))
    if args.output:
        written = write_results(report.results, args.output, top_k=args.top_k)
        print(f"wrote {len(report.results)} windows to {written}", file=sys.stderr)
    return EXIT_ANOMALY if args.fail_on_anomaly and report.flagged else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    if not args.verbose:  # per-batch truncation warnings are summed into one note instead
        logging.getLogger("logllm.modeling").setLevel(logging.ERROR)
        logging.getLogger("logllm.dataset").setLevel(logging.ERROR)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    from logllm.logs.errors import DetectionInputError, LogFormatError

    try:
        return run(args)
    except (DetectionInputError, LogFormatError) as err:
        print(f"logllm detect: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, UnicodeError) as err:
        print(f"logllm detect: error: cannot read input: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("logllm detect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
