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
from dataclasses import field
from typing import Any

import datasets

from logllm.logs.errors import BuildReport
from logllm.dataset.features import WINDOW_FEATURES
from logllm.dataset.hub import LOGHUB_CITATION, LOGLLM_CITATION
from logllm.dataset.build import BuildSettings, build_splits

__all__ = ["LogWindowsConfig", "LogWindows"]


def _config_fields() -> list[tuple[str, Any, Any]]:
    """``BuildSettings``' fields, same names, types and defaults (the builder defaults to synthetic data)."""
    out = []
    for setting in dataclasses.fields(BuildSettings):
        if setting.name == "dataset":
            spec = field(default="synthetic-hdfs")
        elif setting.default_factory is not dataclasses.MISSING:
            spec = field(default_factory=setting.default_factory)
        else:
            spec = field(default=setting.default)
        out.append((setting.name, setting.type, spec))
    return out


def _post_init(self) -> None:
    datasets.BuilderConfig.__post_init__(self)
    self.inputs = [str(p) for p in self.inputs]
    self.settings()  # validate early


def _settings(self) -> BuildSettings:
    """These fields as the ``BuildSettings`` they mirror."""
    return BuildSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(BuildSettings)})


# Build settings as a ``BuilderConfig``: the fields are generated from ``BuildSettings``, so the two cannot drift.
LogWindowsConfig = dataclasses.make_dataclass(
    "LogWindowsConfig", _config_fields(), bases=(datasets.BuilderConfig,),
    namespace={"__post_init__": _post_init, "settings": _settings, "__module__": __name__,
               "__doc__": "``BuildSettings`` as a ``datasets.BuilderConfig`` (same fields, generated from it)."},
)


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
