"""``logllm detect``: score your own log files and say which windows look anomalous, and why.

Examples::

    logllm detect /var/log/hdfs/ --output flagged.jsonl
    zcat BGL.log.gz | logllm detect - --format bgl --threshold 0.7 --fail-on-anomaly
    logllm detect app.log --window sliding:20:10 --model my-org/logllm-bgl

Exit status: 0 when it ran (anomalies or not), 1 when ``--fail-on-anomaly`` is set and a window
was flagged, 2 for bad input, usage or a missing model (the message on stderr says which), and 2
as well when a file of a folder (or a member of an archive) could not be read: the others are
still scored and reported, and a note names each skipped file and why. 3 when ``--fail-on-anomaly``
is set and the input is unfamiliar (most windows unlike the model's training logs): its scores say
nothing there, so a CI gate neither passes nor reports an anomaly (docs/detect.md).

A full-size log streams: windows are scored in blocks as they are read and every row goes to the
``--output`` file's temporary sibling at once (renamed into place at the end); only counts and the
``--max-rows`` most anomalous windows are kept for the table, so memory does not grow with the
number of windows. Session windows (HDFS) need the whole file grouped first, in compact per-line
arrays; their scoring and output stream the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from logllm.commands import _guarded, _ReadFailed, _stdin_to_file, add_decision_arguments, check_threshold
from logllm.report.safe_text import escape_log_records, terminal_text

EXIT_OK, EXIT_ANOMALY, EXIT_ERROR, EXIT_UNFAMILIAR = 0, 1, 2, 3
DEFAULT_MAX_MB = 500.0
STREAM_BLOCK = 1024  # windows scored per block: results held at once, besides the table's top rows

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from logllm.dataset.user_logs import INPUT_FORMATS
    from logllm.windows.spec import DEFAULT_WINDOWS

    defaults = ", ".join(f"{k}: {v.detect}" for k, v in DEFAULT_WINDOWS.items() if not k.startswith("synthetic"))
    parser = argparse.ArgumentParser(
        prog="logllm detect",
        description="Find anomalous windows and their most suspicious lines in log files.",
        epilog="Exit status: 0 ran fine, 1 anomalies found with --fail-on-anomaly, 2 bad input or missing model "
               "(also when some files of a folder were skipped: the rest are still scored), 3 with --fail-on-anomaly "
               "when the input is unfamiliar to the model (most windows unlike its training logs).",
    )
    parser.add_argument("path", help="log file, folder of logs, .gz file, or - for standard input")
    parser.add_argument("--model", default=None,
                        help="saved model folder or Hub id (default: $LOGLLM_MODEL, else runs/quickstart/model)")
    parser.add_argument("--baseline", action="append", default=None, metavar="GOOD_LOG",
                        help="instead of a model: learn from this known-good log on the fly (as `logllm learn`) and "
                             "report what in PATH is unlike it; repeatable")
    parser.add_argument("--format", dest="fmt", default="auto", choices=INPUT_FORMATS, help="log format (default: auto)")
    parser.add_argument("--window", default=None,
                        help=f"session | sliding:SIZE[:STEP] | time:SECONDS (defaults: {defaults})")
    add_decision_arguments(parser, "is flagged", "flag a window")
    parser.add_argument("--top-k", type=int, default=3, help="suspicious lines shown per flagged window")
    parser.add_argument("--batch-size", type=int, default=8, help="windows scored per forward pass")
    parser.add_argument("--output", default=None, help="write every window's result to a .jsonl or .csv file")
    parser.add_argument("--fail-on-anomaly", action="store_true",
                        help="exit 1 if any window is flagged; 3 if the input is unfamiliar to the model")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                        help=f"refuse inputs larger than this, compressed files by what they decompress to "
                             f"(default {DEFAULT_MAX_MB:g}; 0 = no limit)")
    parser.add_argument("--max-rows", type=int, default=50, help="flagged windows printed (all go to --output)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--num-proc", type=int, default=0, metavar="N",
                        help="processes that read and parse big plain files (default 0: one per core for a file of "
                             "32 MB or more, else 1); the windows are the same whatever N")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for scoring (default: torch's, one per core)")
    parser.add_argument("--no-window-cache", dest="window_cache", action="store_false",
                        help="score every window through the model, repeats too (to measure the cache; same scores)")
    parser.add_argument("--no-line-cache", dest="line_cache", action="store_false",
                        help="encode every batch's lines again (to measure the cache; same scores)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return parser


def _estimated_windows(unit, sessions: int) -> int | None:
    """About how many windows this file holds, for the progress bar's ETA (None when it cannot be told cheaply):
    the sessions grouped (HDFS), or for sliding windows of a plain file its size over the bytes per line of its
    first MiB."""
    if unit.spec.kind == "session":
        return sessions or None
    if unit.spec.kind != "sliding" or ":" in unit.source.replace(str(unit.file), "", 1):
        return None
    try:
        with open(unit.file, "rb") as handle:
            head = handle.read(1 << 20)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    if head[:2] in (b"\x1f\x8b", b"BZ", b"PK") or not head.count(b"\n"):
        return None
    return int(size * head.count(b"\n") / len(head) / unit.spec.step) + 1


def run(args: argparse.Namespace) -> int:
    """Score the input; compressed input is held to --max-mb decompressed (``logllm.logs.reader``)."""
    from logllm.logs.reader import decompression_limit

    max_bytes = int(args.max_mb * 1e6) if args.max_mb > 0 else None
    with decompression_limit(max_bytes, "--max-mb"):   # a small .gz may hold a GiB of lines
        return _run(args, max_bytes)


def _run(args: argparse.Namespace, max_bytes: int | None) -> int:
    from itertools import chain

    from tqdm.auto import tqdm

    from logllm.dataset.user_logs import InputReader, now
    from logllm.logs.errors import DetectionInputError
    from logllm.modeling.detection_logllm import LineVectorCache, WindowScoreCache
    from logllm.report.detection import NO_INDEX_NOTE, DetectionTally, ResultWriter, format_table
    from logllm.scoring.detector import DetectionReport, Detector, processor_notes

    check_threshold(args.threshold)
    if args.top_k < 0 or args.batch_size < 1:
        raise DetectionInputError("--top-k must be >= 0 and --batch-size >= 1")
    if args.threads is not None and args.threads < 1:
        raise DetectionInputError("--threads must be >= 1")
    if args.num_proc < 0:
        raise DetectionInputError("--num-proc must be >= 0 (0: one per core for big files)")
    if args.output:
        _check_output(Path(args.output))
    spool = Path(tempfile.mkdtemp(prefix="logllm-detect-"))
    writer = None
    try:
        path = _stdin_to_file(max_bytes, spool) if args.path == "-" else Path(args.path)
        num_proc = args.num_proc or (os.cpu_count() or 1)  # only files of 32 MB or more are read in pieces
        reader = InputReader(path, fmt=args.fmt, window=args.window, max_bytes=max_bytes,
                             source_name="<stdin>" if args.path == "-" else None, num_proc=num_proc)
        units = reader.units()
        first = next(units, None)  # opens the first file: unreadable input fails before the model loads
        if first is None:
            reader.summary(any_windows=False)  # raises the reason nothing could be read
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        if args.baseline:
            detector = _baseline_detector(args, max_bytes, num_proc)
        else:
            detector = Detector.load(args.model, batch_size=args.batch_size, threshold=args.threshold,
                                     use_novelty=args.novelty)
        templates = None
        if detector.templates is not None:
            from logllm.report.templates import TemplateTally

            templates = TemplateTally()
        if not args.window_cache:
            detector.cache = WindowScoreCache(max_entries=0)
        if not args.line_cache:
            detector.line_cache = LineVectorCache(max_entries=0)
        # "given" as the Space's and detect_path's reports say it
        threshold, source = detector.threshold, "given" if args.threshold is not None else detector.threshold_source
        if args.output:
            try:
                writer = ResultWriter(args.output, top_k=args.top_k, novelty_threshold=detector.novelty_threshold)
            except OSError as err:
                raise DetectionInputError(f"cannot write --output {args.output}: {err.strerror or err}") from None
        tally = DetectionTally(max_rows=args.max_rows, novelty_threshold=detector.novelty_threshold)
        before = dict(getattr(detector.processor, "stats", {}))
        with tqdm(total=None, unit="win", desc="scoring", file=sys.stderr, dynamic_ncols=True,
                  disable=True if args.no_progress else None) as bar:
            for unit in chain([first], units):
                part = DetectionTally(max_rows=args.max_rows, novelty_threshold=detector.novelty_threshold)
                with _output_errors(args.output):
                    mark = writer.mark() if writer is not None else None
                base, sessions_before, estimate = bar.n, reader.report["sessions_grouped"], {}

                def advance(done: int, _taken: int, unit=unit, base=base, sessions_before=sessions_before,
                            estimate=estimate) -> None:
                    if "windows" not in estimate:
                        estimate["windows"] = _estimated_windows(unit, reader.report["sessions_grouped"] - sessions_before)
                    if estimate["windows"] is not None:
                        bar.total = base + max(estimate["windows"], done)
                    bar.update(base + done - bar.n)

                try:
                    for result in detector.score_stream(_guarded(unit.windows), block=STREAM_BLOCK, threshold=threshold,
                                                        progress=advance if not args.no_progress else None):
                        part.add(result)
                        if templates is not None:
                            templates.add(result)
                        if writer is not None:
                            try:
                                writer.write(result)
                            except OSError as err:
                                raise DetectionInputError(
                                    f"cannot write --output {args.output}: {err.strerror or err}") from None
                except _ReadFailed as failed:
                    reader.failed(unit, failed.error)
                    if writer is not None:
                        with _output_errors(args.output):
                            writer.rollback(mark)
                    continue
                reader.finished(unit)
                tally.merge(part)
            bar.total = bar.n
        fmt, spec, n_lines, notes, skipped = reader.summary(any_windows=tally.windows > 0)
        notes = notes + processor_notes(before, dict(getattr(detector.processor, "stats", {})), detector.processor)
        if getattr(detector.model, "novelty_index", None) is None:
            notes.append(NO_INDEX_NOTE)
        report = DetectionReport(results=[], fmt=fmt, window=spec, threshold=threshold, n_lines=n_lines,
                                 seconds=now() - reader.started, notes=notes, model=detector.name,
                                 threshold_source=source, novelty_threshold=detector.novelty_threshold)
        for note in report.notes:  # notes name files: shown escaped like the log lines
            print(f"logllm detect: note: {terminal_text(note)}", file=sys.stderr)
        print(format_table(report, top_k=args.top_k, max_rows=args.max_rows, tally=tally))
        if templates is not None:
            print(templates.format())
        if writer is not None:
            try:
                written = writer.commit()
            except OSError as err:
                raise DetectionInputError(f"cannot write --output {args.output}: {err.strerror or err}") from None
            print(f"wrote {writer.rows} windows to {terminal_text(written)}", file=sys.stderr)
    finally:
        if writer is not None and not writer.handle.closed:
            writer.abort()
        shutil.rmtree(spool, ignore_errors=True)
    if skipped:
        print(f"logllm detect: error: {len(skipped)} file(s) could not be read and were skipped (notes above); "
              "the results cover the rest", file=sys.stderr)
        return EXIT_ERROR
    if args.fail_on_anomaly and tally.familiarity()["unfamiliar_input"]:
        print("logllm detect: the input is unfamiliar to the model (see above); exit status 3", file=sys.stderr)
        return EXIT_UNFAMILIAR
    return EXIT_ANOMALY if args.fail_on_anomaly and tally.flagged_count else EXIT_OK


@contextlib.contextmanager
def _output_errors(output: str):
    """An OSError of the --output file (a full disk) is the output's, never 'cannot read input'."""
    from logllm.logs.errors import DetectionInputError

    try:
        yield
    except OSError as err:
        raise DetectionInputError(f"cannot write --output {output}: {err.strerror or err}") from None


def _baseline_detector(args: argparse.Namespace, max_bytes: int | None, num_proc: int):
    """A detector learned on the fly from `--baseline` logs (`logllm learn`'s defaults; nothing saved)."""
    from logllm.commands.learn import learn_from_inputs
    from logllm.logs.errors import DetectionInputError
    from logllm.scoring.detector import Detector
    from logllm.scoring.learn import LearnSettings

    if args.model:
        raise DetectionInputError("--baseline learns a model from the good log: leave out --model")
    if "-" in args.baseline and args.path == "-":
        raise DetectionInputError("standard input (-) cannot be both PATH and --baseline")
    model, processor, result, logs = learn_from_inputs(args.baseline, LearnSettings(), fmt=args.fmt,
                                                      max_bytes=max_bytes, num_proc=num_proc,
                                                      progress=not args.no_progress, label="baseline")
    for note in logs.notes:
        print(f"logllm detect: note: baseline: {note}", file=sys.stderr)
    if logs.skipped:
        raise DetectionInputError(f"--baseline: {len(logs.skipped)} file(s) could not be read: "
                                  + "; ".join(f"{where}: {why}" for where, why in logs.skipped))
    print(f"baseline: {result.describe()}", file=sys.stderr)
    return Detector(model, processor, name="baseline " + ", ".join(args.baseline), batch_size=args.batch_size,
                    threshold=args.threshold, use_novelty=args.novelty)


def _check_output(path: Path) -> None:
    """Refuse an --output that cannot be written before any work is done."""
    from logllm.logs.errors import DetectionInputError

    if path.suffix.lower() not in {".jsonl", ".json", ".csv"}:
        raise DetectionInputError(f"--output {path}: use a .jsonl or .csv file name")
    if path.is_dir():
        raise DetectionInputError(f"--output {path}: is a folder; name a .jsonl or .csv file")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DetectionInputError(f"--output {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise DetectionInputError(f"--output {path}: cannot write in {parent}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    escape_log_records()  # warnings quote file names and lines
    if not args.verbose:  # per-batch truncation warnings are summed into one note instead
        logging.getLogger("logllm.modeling").setLevel(logging.ERROR)
        logging.getLogger("logllm.dataset").setLevel(logging.ERROR)
        logging.getLogger("logllm.logs").setLevel(logging.ERROR)  # counted in the notes instead
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    from logllm.logs.errors import DetectionInputError, LogFormatError

    try:
        return run(args)
    except (DetectionInputError, LogFormatError) as err:  # messages quote file names and lines: shown escaped
        print(f"logllm detect: error: {terminal_text(err)}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, UnicodeError) as err:
        print(f"logllm detect: error: cannot read input: {terminal_text(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("logllm detect: interrupted; run it again (an --output file is written whole or not at all)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
