"""From log files (or synthetic logs) to split, optionally oversampled window datasets.

``build_windows`` and ``build_dataset`` are what ``logllm data build``, the ``datasets``
builder class and other packages call; ``build_synthetic_dataset`` is the one-call path from
generated logs to a ``DatasetDict`` (used by the quickstart and the tests of other packages).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from logllm.logs.errors import BuildReport, LogFormatError
from logllm.dataset.labels import session_labels
from logllm.logs.records import LogRecord
from logllm.windows.spec import DEFAULT_TIME, PAPER_SLIDING, WINDOWINGS, WindowSpec, default_window
from logllm.windows.windowing import Window

__all__ = ["BuildSettings", "DATASETS", "WINDOWINGS", "iter_records", "build_windows", "build_splits",
           "build_dataset", "build_synthetic_dataset", "config_name_for", "window_fields"]

logger = logging.getLogger(__name__)

DATASETS = ("hdfs", "hdfs_traces", "bgl", "thunderbird", "liberty", "spirit", "plain", "synthetic-hdfs", "synthetic-bgl", "auto")


@dataclass
class BuildSettings:
    """Everything that decides a build; saved into the dataset card."""

    dataset: str = "bgl"
    inputs: list[str] = field(default_factory=list)
    labels: str | None = None              # HDFS anomaly_label.csv
    templates: str | None = None           # HDFS templates for Event_traces.csv
    pattern: str | None = None             # plain logs: regex with named groups
    windowing: str | None = None           # the format's default (logllm.windows.spec.DEFAULT_WINDOWS)
    window_size: int = PAPER_SLIDING.size
    step: int = PAPER_SLIDING.step
    time_length: float = DEFAULT_TIME.seconds
    time_step: float | None = None
    preprocessing: str = "re"
    split_method: str | None = None        # random (HDFS) | chronological (others) by default
    test_size: float = 0.2
    validation_size: float = 0.1
    seed: int = 42
    beta: float = 0.0                      # minority oversampling of train; 0 disables
    missing_labels: str = "error"          # HDFS blocks without a label, label fields that cannot be decoded
    max_lines: int | None = None           # read at most this many records (quick looks at huge logs)
    keep_raw: bool = True
    # synthetic logs
    n_sessions: int = 2000
    n_lines: int = 20000
    anomaly_rate: float | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.dataset == "auto":
            if not self.inputs:
                raise ValueError("--dataset auto needs --input files to look at")
            from logllm.logs.formats import detect_format

            self.dataset = detect_format(self.inputs[0])
            logger.info("detected format %s for %s", self.dataset, self.inputs[0])
        self.windowing = self.windowing or default_window(self.dataset, "build").kind
        if self.windowing not in WINDOWINGS:
            raise ValueError(f"unknown windowing {self.windowing!r}; choose one of {', '.join(WINDOWINGS)}")
        self.split_method = self.split_method or ("random" if self.windowing == "session" else "chronological")

    @property
    def family(self) -> str:
        return self.dataset.replace("synthetic-", "synthetic_")

    @property
    def window_spec(self) -> WindowSpec:
        """The windowing fields as one ``WindowSpec`` (what the card and reports print)."""
        return WindowSpec(self.windowing, size=self.window_size, step=self.step, seconds=self.time_length,
                          time_step=self.time_step)


def window_fields(spec: WindowSpec) -> dict[str, Any]:
    """``BuildSettings`` keyword arguments for ``spec`` (detect builds its windows from a ``--window`` text)."""
    return {"windowing": spec.kind, "window_size": spec.size, "step": spec.step, "time_length": spec.seconds,
            "time_step": spec.time_step}


def config_name_for(settings: BuildSettings) -> str:
    """``hdfs_session``, ``bgl_sliding_100_100``, ``plain_time_60_60`` (contract 2)."""
    if settings.windowing == "session":
        suffix = "session"
    elif settings.windowing == "sliding":
        suffix = f"sliding_{settings.window_size}_{settings.step}"
    else:
        suffix = f"time_{settings.time_length:g}_{(settings.time_step or settings.time_length):g}"
    name = f"{settings.family}_{suffix}"
    return name if settings.preprocessing == "re" else f"{name}_{settings.preprocessing}"


def iter_records(settings: BuildSettings, report: BuildReport,
                 records: Iterable[LogRecord] | None = None) -> Iterator[LogRecord]:
    """Stream the records of every input (or of the synthetic generator, or ``records`` already opened)."""
    if records is None:
        records = _generate(settings) if settings.dataset.startswith("synthetic") else _parse_inputs(settings, report)
    for count, record in enumerate(records, start=1):
        if settings.max_lines is not None and count > settings.max_lines:
            report.note(f"stopped after --max-lines {settings.max_lines:,} records")
            break
        report.add("log_lines")
        yield record


def _generate(settings: BuildSettings) -> Iterator[LogRecord]:
    from logllm.logs.synthetic import generate_bgl_like, generate_hdfs_like

    if settings.dataset == "synthetic-hdfs":
        rate = 0.03 if settings.anomaly_rate is None else settings.anomaly_rate
        return generate_hdfs_like(settings.n_sessions, settings.seed, rate)
    rate = 0.002 if settings.anomaly_rate is None else settings.anomaly_rate
    return generate_bgl_like(settings.n_lines, settings.seed, rate)


def _parse_inputs(settings: BuildSettings, report: BuildReport) -> Iterator[LogRecord]:
    from logllm.logs.formats import parse_file

    if not settings.inputs:
        raise ValueError(f"dataset {settings.dataset!r} needs --input files")
    for path in settings.inputs:
        logger.info("parsing %s as %s", path, settings.dataset)
        yield from parse_file(path, settings.dataset, report, pattern=settings.pattern, templates=settings.templates,
                              bad_labels=settings.missing_labels)


def build_windows(settings: BuildSettings, report: BuildReport | None = None, *, with_groups: bool = False,
                  records: Iterable[LogRecord] | None = None, num_proc: int = 1) -> Iterator[Window]:
    """Parse -> preprocess -> window, streaming (sessions are grouped in compact arrays first).

    ``records``: the input's records when the caller has opened it already (``logllm detect``
    opens each file once, deciding its format from the head of that same opening).
    ``num_proc`` > 1 parses on that many processes (``logllm.dataset.parallel``: the same windows,
    order and counters; time windows, synthetic data and ``max_lines`` build in one process).
    """
    from logllm.windows.preprocessing import make_preprocessor
    from logllm.windows.windowing import session_windows, sliding_windows, time_windows

    report = report if report is not None else BuildReport()
    if num_proc > 1 and records is None:
        from logllm.dataset.parallel import parallel_windows

        windows = parallel_windows(settings, report, num_proc, with_groups=with_groups)
        if windows is not None:
            return windows
    preprocess = make_preprocessor(settings.preprocessing)
    records = iter_records(settings, report, records)
    if settings.windowing == "session":
        labels, missing = session_labels(settings, report)
        return session_windows(records, preprocess, block_labels=labels, missing_labels=missing, report=report,
                               keep_raw=settings.keep_raw, with_groups=with_groups)
    if settings.windowing == "sliding":
        return sliding_windows(records, settings.window_size, settings.step, preprocess, report=report)
    return time_windows(records, settings.time_length, settings.time_step, preprocess, report=report)


def build_window_list(settings: BuildSettings, report: BuildReport, num_proc: int = 1) -> list[Window]:
    """All windows of a build, in memory (for splitting); input that forms none is an error naming it."""
    windows = list(build_windows(settings, report, num_proc=num_proc))
    if not windows:
        raise LogFormatError("no windows were built", path=", ".join(settings.inputs) or settings.dataset,
                             expected="log lines that form at least one window (see the build report)")
    return windows


def oversample_train(splits: dict[str, list[dict[str, Any]]], settings: BuildSettings,
                     report: BuildReport) -> dict[str, list[dict[str, Any]]]:
    """Oversample the training split to ``settings.beta`` (no-op at 0) and count the windows added."""
    from logllm.dataset.oversampling import oversample

    if settings.beta:
        before = len(splits["train"])
        splits["train"] = oversample(splits["train"], settings.beta, settings.seed)
        report.add("train_windows_added_by_oversampling", len(splits["train"]) - before)
    return splits


def build_splits(settings: BuildSettings, report: BuildReport | None = None,
                 num_proc: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Windows split into train/validation/test, train oversampled when ``beta > 0``; ``num_proc``: see
    ``build_windows`` (the same splits)."""
    from logllm.dataset.splits import split_windows

    report = report if report is not None else BuildReport()
    windows = build_window_list(settings, report, num_proc)
    splits = split_windows(windows, settings.split_method, test_size=settings.test_size,
                           validation_size=settings.validation_size, seed=settings.seed, report=report)
    return oversample_train(splits, settings, report)


def build_dataset(settings: BuildSettings, report: BuildReport | None = None, num_proc: int = 1):
    """A ``DatasetDict`` with ``WINDOW_FEATURES`` rows for ``settings``."""
    from datasets import DatasetDict

    from logllm.dataset.features import windows_to_dataset

    splits = build_splits(settings, report, num_proc)
    return DatasetDict({name: windows_to_dataset(rows) for name, rows in splits.items()})


def build_synthetic_dataset(
    kind: str = "hdfs",
    n_sessions: int = 2000,
    n_lines: int = 20000,
    seed: int = 0,
    *,
    n_windows: int | None = None,
    anomaly_ratio: float | None = None,
    preprocessing: str = "re",
    window_size: int = 100,
    step: int | None = None,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    beta: float = 0.0,
    anomaly_rate: float | None = None,
    report: BuildReport | None = None,
):
    """Generate synthetic logs and return their windows as a ``DatasetDict`` (train/validation/test).

    ``kind="hdfs"``: ``n_sessions`` blocks, one session window each, random split.
    ``kind="bgl"``: ``n_lines`` lines, sliding windows of ``window_size`` (step defaults to the
    size), chronological split. Deterministic from ``seed``.

    Size and anomaly share can also be given per window: ``n_windows`` (HDFS: blocks; BGL:
    ``n_windows * window_size`` lines) and ``anomaly_ratio``, the wanted share of anomalous
    windows (HDFS: exact in expectation; BGL: converted to an episode rate per line, approximate
    because episodes span several lines and windows).
    """
    if kind not in {"hdfs", "bgl"}:
        raise ValueError(f"kind must be 'hdfs' or 'bgl', got {kind!r}")
    step = step or window_size
    if n_windows is not None:
        n_sessions, n_lines = n_windows, n_windows * step
    if anomaly_ratio is not None:
        if not 0.0 <= anomaly_ratio < 1.0:
            raise ValueError(f"anomaly_ratio must be in [0, 1), got {anomaly_ratio}")
        anomaly_rate = anomaly_ratio if kind == "hdfs" else 1.0 - (1.0 - anomaly_ratio) ** (1.0 / window_size)
    settings = BuildSettings(dataset=f"synthetic-{kind}", n_sessions=n_sessions, n_lines=n_lines, seed=seed,
                             preprocessing=preprocessing, window_size=window_size, step=step,
                             test_size=test_size, validation_size=validation_size, beta=beta, anomaly_rate=anomaly_rate)
    return build_dataset(settings, report)


def settings_info(settings: BuildSettings) -> dict[str, Any]:
    """The settings as card metadata (inputs shortened to file names)."""
    info = asdict(settings)
    info["inputs"] = [os.path.basename(p) for p in settings.inputs]
    info["source"] = ", ".join(info["inputs"]) or settings.dataset
    info["windowing"] = settings.window_spec.describe()
    info["synthetic"] = settings.dataset.startswith("synthetic")
    return info
