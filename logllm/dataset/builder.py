"""A ``datasets`` builder for log windows, usable from code (``download_and_prepare`` / ``as_dataset``).

``datasets`` no longer runs loading scripts from the Hub, so this class is for local use and CI;
publish the result as Parquet (``logllm data build`` + ``logllm data push``)::

    from logllm.dataset.builder import LogWindows

    builder = LogWindows(name="bgl_sliding_100_100", dataset="bgl", inputs=["BGL_2k.log"], cache_dir="cache")
    builder.download_and_prepare()
    ds = builder.as_dataset()          # DatasetDict: train / validation / test
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import datasets

from logllm.logs.errors import BuildReport
from logllm.dataset.features import WINDOW_FEATURES
from logllm.dataset.hub import LOGHUB_CITATION, LOGLLM_CITATION
from logllm.dataset.build import BuildSettings, build_splits

__all__ = ["LogWindowsConfig", "LogWindows"]


@dataclass
class LogWindowsConfig(datasets.BuilderConfig):
    """Build settings (see ``BuildSettings``) as a ``BuilderConfig``; the fields mirror it (a test keeps them equal)."""

    dataset: str = "synthetic-hdfs"
    inputs: list[str] = field(default_factory=list)
    labels: str | None = None
    templates: str | None = None
    pattern: str | None = None
    windowing: str | None = None
    window_size: int = 100
    step: int = 100
    time_length: float = 60.0
    time_step: float | None = None
    preprocessing: str = "re"
    split_method: str | None = None
    test_size: float = 0.2
    validation_size: float = 0.1
    seed: int = 42
    beta: float = 0.0
    missing_labels: str = "error"
    max_lines: int | None = None
    keep_raw: bool = True
    n_sessions: int = 2000
    n_lines: int = 20000
    anomaly_rate: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.inputs = [str(p) for p in self.inputs]
        self.settings()  # validate early

    def settings(self) -> BuildSettings:
        names = {f.name for f in dataclasses.fields(BuildSettings)}
        return BuildSettings(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})


class LogWindows(datasets.GeneratorBasedBuilder):
    """Parse, window and split logs into ``WINDOW_FEATURES`` rows."""

    BUILDER_CONFIG_CLASS = LogWindowsConfig
    BUILDER_CONFIGS = [LogWindowsConfig(name="synthetic_hdfs_session", dataset="synthetic-hdfs", n_sessions=500)]
    DEFAULT_CONFIG_NAME = "synthetic_hdfs_session"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="Labeled windows of log lines for log-based anomaly detection (LogLLM format).",
            features=WINDOW_FEATURES,
            homepage="https://github.com/logpai/loghub",
            citation=LOGHUB_CITATION + "\n" + LOGLLM_CITATION,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        self.build_report = BuildReport()
        splits = build_splits(self.config.settings(), self.build_report)
        names = {"train": datasets.Split.TRAIN, "validation": datasets.Split.VALIDATION, "test": datasets.Split.TEST}
        return [datasets.SplitGenerator(name=names[name], gen_kwargs={"rows": rows}) for name, rows in splits.items()]

    def _generate_examples(self, rows: list[dict]):
        for row in rows:
            yield row["window_id"] + "|" + str(row["line_numbers"][0] if row["line_numbers"] else ""), row
