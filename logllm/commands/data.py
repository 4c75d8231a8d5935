"""``logllm data``: build, synthesize, download and publish log window datasets.

Examples::

    logllm data build --dataset bgl --input BGL_2k.log --output out/
    logllm data build --dataset hdfs --input HDFS.log --labels anomaly_label.csv --output out/
    logllm data build --dataset synthetic-hdfs --n-sessions 5000 --output out/
    logllm data build --dataset plain --input app.log --windowing time --time-length 60 --output out/
    logllm data build --dataset synthetic-bgl --split unseen-type --holdout-categories KERNDTLB --output out/
    logllm data synth --kind bgl --n-lines 100000 --output synthetic_bgl.log
    logllm data download bgl --output downloads/
    logllm data push out/ my-user/loghub-bgl-windows
    logllm data detect-format some.log
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.report.safe_text import escape_log_records, terminal_text

__all__ = ["main", "make_parser"]

logger = logging.getLogger(__name__)

UNSEEN_TYPE = "unseen-type"
UNSEEN_ONLY_ARGS = ("holdout_categories", "holdout_fraction")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_build(sub: argparse._SubParsersAction) -> None:
    from logllm.dataset.build import DATASETS, WINDOWINGS
    from logllm.windows.preprocessing import PREPROCESSORS

    p = sub.add_parser("build", help="parse, window, split and write a Hub dataset folder",
                       description="Parse logs, group them into labeled windows, split, and write a Hub dataset repo folder.")
    p.add_argument("--dataset", required=True, choices=DATASETS, help="input format / synthetic generator")
    p.add_argument("--input", nargs="+", default=[], metavar="PATH",
                   help="log files (plain, .gz, .bz2, .tar.gz, .zip; 'archive.zip:member' picks a member)")
    p.add_argument("--output", required=True, help="dataset repo folder to write (configs accumulate)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the config if --output already holds it (default: refuse, before any work)")
    p.add_argument("--labels", help="HDFS anomaly_label.csv (BlockId,Label)")
    p.add_argument("--templates", help="HDFS templates CSV for --dataset hdfs_traces")
    p.add_argument("--pattern", help="plain logs: regex with named groups content (required), timestamp, level")
    p.add_argument("--windowing", choices=WINDOWINGS, help="default: session for HDFS, sliding otherwise")
    p.add_argument("--window-size", type=int, default=100, help="sliding window size in lines (default 100)")
    p.add_argument("--step", type=int, default=100, help="sliding window step in lines (default 100)")
    p.add_argument("--time-length", type=float, default=60.0, help="time window length in seconds")
    p.add_argument("--time-step", type=float, help="time window step in seconds (default: the length)")
    p.add_argument("--preprocessing", choices=PREPROCESSORS, default="re", help="line preprocessing (default re)")
    p.add_argument("--split", dest="split_method", choices=("random", "chronological", UNSEEN_TYPE),
                   help="default: random for sessions, chronological otherwise; unseen-type: test anomalies are "
                        "only of held-out categories (HDFS sessions get categories from anomaly-only templates)")
    p.add_argument("--holdout-categories", type=_comma_list, metavar="A,B",
                   help="unseen-type: categories to hold out for test (default: seeded pick covering --holdout-fraction)")
    p.add_argument("--holdout-fraction", type=float, default=0.5,
                   help="unseen-type: share of anomalies the default held-out categories cover (default 0.5)")
    p.add_argument("--test-size", type=float, default=0.2, help="test fraction (default 0.2: the paper's 8:2)")
    p.add_argument("--validation-size", type=float, default=0.1, help="fraction of the training part for validation")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--beta", type=float, default=0.0,
                   help="oversample the minority class of train to this proportion (paper: 0.3; 0 = off, "
                        "the default, since training applies it)")
    p.add_argument("--missing-labels", choices=("error", "unknown", "skip"), default="error",
                   help="HDFS blocks absent from --labels, and label fields that cannot be decoded (bytes that are "
                        "not UTF-8): stop with the file and line (default), label -1, or leave out (counted)")
    p.add_argument("--max-lines", type=int, help="read at most this many lines (a quick look at a huge log)")
    p.add_argument("--max-decompressed-gb", type=float, default=64.0, metavar="GB",
                   help="refuse a compressed input (or archive) that decompresses to more than this (default 64 GiB: "
                        "the largest Loghub log is 29.6 GiB; 0 = no limit)")
    p.add_argument("--no-raw-lines", dest="keep_raw", action="store_false", help="leave raw_lines empty (saves memory)")
    p.add_argument("--config-name", help="config name (default: <dataset>_<windowing>)")
    p.add_argument("--streaming", action="store_true",
                   help="write windows to per-split parquet as they are built (bounded memory for huge logs; "
                        "random splits by seeded hash, chronological by line position; no --beta, no difficulty)")
    p.add_argument("--num-proc", type=int, default=0, metavar="N",
                   help="processes that parse and preprocess (0, the default: one per core when the inputs hold "
                        "32 MB or more, else 1); the dataset is the same whatever N (sessions and sliding windows of "
                        "plain files are shared out; time windows, archives' members and synthetic data are not)")
    p.add_argument("--n-sessions", type=int, default=2000, help="synthetic-hdfs: number of blocks")
    p.add_argument("--n-lines", type=int, default=20000, help="synthetic-bgl: number of lines")
    p.add_argument("--anomaly-rate", type=float, help="synthetic: anomalous block fraction / episodes per line")
    p.add_argument("--difficulty", action=argparse.BooleanOptionalAction, default=None,
                   help="measure keyword / single-token / event-count baselines for the card (default: on for synthetic)")


def _add_other(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write synthetic HDFS-like or BGL-like logs to a file")
    p.add_argument("--kind", choices=("hdfs", "bgl"), required=True)
    p.add_argument("--output", required=True, help="log file to write (HDFS: anomaly_label.csv goes next to it)")
    p.add_argument("--n-sessions", type=int, default=1000)
    p.add_argument("--n-lines", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anomaly-rate", type=float)

    p = sub.add_parser("push", help="upload a dataset folder to the Hugging Face Hub")
    p.add_argument("folder")
    p.add_argument("repo_id", help="user-or-org/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", help="defaults to HF_TOKEN / the saved login")
    p.add_argument("--revision")

    from logllm.logs.download import SOURCES

    p = sub.add_parser("download", help="download an official full dataset (resumable, checksum-verified)")
    p.add_argument("name", choices=sorted(SOURCES))
    p.add_argument("--output", default="downloads", help="folder to save into (default ./downloads)")
    p.add_argument("--base-url", default="https://zenodo.org", help="Zenodo (or a mirror of its URL layout)")
    p.add_argument("--url", help="download from this URL instead")
    p.add_argument("--md5", help="expected MD5 (default: from the Zenodo record)")
    p.add_argument("--sha256", help="expected SHA-256")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the checksum check")

    p = sub.add_parser("detect-format", help="print the detected format of a log file")
    p.add_argument("path")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logllm data", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_build(sub)
    _add_other(sub)
    return parser


def _run_build(args: argparse.Namespace) -> int:
    from logllm.dataset.hub import check_config_free, export_dataset_repo, split_statistics
    from logllm.dataset.build import BuildSettings, build_splits, config_name_for, settings_info

    unseen = args.split_method == UNSEEN_TYPE
    if unseen and args.streaming:
        raise ValueError("--split unseen-type needs all windows in memory; leave out --streaming")
    if args.holdout_categories and not unseen:
        raise ValueError("--holdout-categories only applies with --split unseen-type")
    skip = {"command", "verbose", "output", "overwrite", "max_decompressed_gb", "config_name", "difficulty", "input", "streaming", "num_proc",
            *UNSEEN_ONLY_ARGS}
    fields = {k: v for k, v in vars(args).items() if k not in skip}
    if unseen:
        fields["split_method"] = None
    settings = BuildSettings(inputs=list(args.input), **fields)
    if args.num_proc < 0:
        raise ValueError(f"--num-proc must be >= 0 (0: one per core for big inputs), got {args.num_proc}")
    from logllm.dataset.parallel import auto_num_proc

    num_proc = args.num_proc or auto_num_proc(settings.inputs)
    report = BuildReport()
    name = args.config_name or config_name_for(settings) + ("_unseen_type" if unseen else "")
    info = settings_info(settings)
    info["command"] = _command_line(sys.argv[2:]) if sys.argv[1:2] == ["data"] else None
    check_config_free(args.output, name, args.overwrite)   # before any work
    if args.streaming:
        return _run_streaming(settings, args.output, name, report, info, num_proc, args.overwrite)
    if unseen:
        info["split_method"] = UNSEEN_TYPE
        splits = build_unseen_type_splits(settings, report, info, args.holdout_categories, args.holdout_fraction,
                                          num_proc=num_proc)
    else:
        splits = build_splits(settings, report, num_proc)
    info["log_lines"] = report["log_lines"]
    if args.difficulty if args.difficulty is not None else info["synthetic"]:
        from logllm.dataset.difficulty import measure_difficulty

        try:
            info["difficulty"] = measure_difficulty(splits, seed=settings.seed)
        except ValueError as error:
            report.note(f"difficulty not measured: {error}")
    export_dataset_repo(splits, args.output, config_name=name, info=info, report=report, overwrite=args.overwrite)
    _print_summary(args.output, name, split_statistics(splits), report)
    return 0


def build_unseen_type_splits(settings, report: BuildReport, info: dict, holdout_categories: list[str] | None,
                             holdout_fraction: float, num_proc: int = 1) -> dict[str, list[dict]]:
    """Window, then split so that test anomalies are only of held-out categories (issue 8).

    Sessions without per-line categories (HDFS) are categorised by their anomaly-only templates
    first. The split's ``describe()`` goes into ``info`` (dataset_info.json) and a readable line into
    the build report notes of the card. ``beta`` oversampling is applied to train afterwards.
    """
    from logllm.dataset.generalization import categorize_by_anomaly_templates, unseen_type_split
    from logllm.dataset.build import build_window_list, oversample_train

    windows = build_window_list(settings, report, num_proc)
    if settings.windowing == "session" and any(w["label"] == 1 and not w.get("categories") for w in windows):
        windows, templates = categorize_by_anomaly_templates(windows)
        info["category_templates"] = templates
        report.note(f"unseen-type: {len(templates)} anomaly-only templates became categories T1..T{len(templates)}")
    split = unseen_type_split(windows, holdout_categories or None, holdout_fraction=holdout_fraction,
                              test_normal_fraction=settings.test_size, validation_fraction=settings.validation_size,
                              seed=settings.seed)
    described = split.describe()
    info["unseen_type_split"] = described
    report.note(f"unseen-type split: train categories {', '.join(described['train_categories'])}; test (held out) "
                f"categories {', '.join(described['test_categories'])}; "
                f"{len(described['excluded_mixed_windows'])} mixed windows excluded")
    splits = {"train": list(split.train), "validation": list(split.validation), "test": list(split.test)}
    return oversample_train(splits, settings, report)


def _run_streaming(settings, output: str, name: str, report: BuildReport, info: dict, num_proc: int = 1,
                   overwrite: bool = False) -> int:
    from logllm.dataset.streaming import build_streaming

    stats = build_streaming(settings, output, name, report, info, num_proc=num_proc, overwrite=overwrite)
    _print_summary(output, name, stats, report)
    return 0


def _print_summary(output: str, name: str, stats: dict, report: BuildReport) -> None:
    print(f"wrote {output}/{name}/ and {output}/README.md")
    for split, s in stats.items():
        print(f"  {split:<10} {s['windows']:>8,} windows  {s['anomalous_windows']:>7,} anomalous  {s['lines']:>10,} lines")
    print("build report:\n  " + "\n  ".join(map(terminal_text, report.summary().split("\n"))))  # names files
    for note in report.user_notes():
        print(f"logllm data build: note: {terminal_text(note)}", file=sys.stderr)


def _command_line(argv: list[str]) -> str:
    """The command for the card, with local paths shortened to file names."""
    return "logllm data " + " ".join(os.path.basename(a) if os.path.sep in a and os.path.exists(a) else a for a in argv)


def _run_synth(args: argparse.Namespace) -> int:
    from logllm.logs.synthetic import write_synthetic

    counts = write_synthetic(args.kind, args.output, n_sessions=args.n_sessions, n_lines=args.n_lines,
                             seed=args.seed, anomaly_rate=args.anomaly_rate)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def _run_push(args: argparse.Namespace) -> int:
    from logllm.dataset.hub import push_dataset_repo

    url = push_dataset_repo(args.folder, args.repo_id, token=args.token, private=args.private, revision=args.revision)
    print(f"pushed {args.folder} to {args.repo_id}: {url}")
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from logllm.logs.download import download

    path = download(args.name, args.output, base_url=args.base_url, url=args.url, md5=args.md5, sha256=args.sha256,
                    verify=args.verify)
    print(f"downloaded {path}")
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    from logllm.logs.formats import detect_format

    print(detect_format(args.path))
    return 0


def _decompression_limit(args: argparse.Namespace):
    """``--max-decompressed-gb`` for the reader (``logllm.logs.reader.decompression_limit``) while a build runs."""
    import contextlib

    from logllm.logs.reader import decompression_limit

    if args.command != "build":
        return contextlib.nullcontext()
    limit = args.max_decompressed_gb
    return decompression_limit(int(limit * 2**30) if limit > 0 else None, "--max-decompressed-gb")


COMMANDS = {"build": _run_build, "synth": _run_synth, "push": _run_push, "download": _run_download,
            "detect-format": _run_detect}


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    escape_log_records()  # warnings quote file names and lines
    try:
        with _decompression_limit(args):
            return COMMANDS[args.command](args)
    except (LogFormatError, ValueError) as error:  # may quote a log line or a file name: shown escaped
        print(f"logllm data {args.command}: error: {terminal_text(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # unreadable or unwritable paths
        where = f" {error.filename}" if error.filename else ""
        print(f"logllm data {args.command}: error: cannot access{terminal_text(where)}: {error.strerror or error}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
