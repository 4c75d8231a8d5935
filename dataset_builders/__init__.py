"""Loghub and user logs -> parsed records -> labeled windows -> Hub datasets.

Light to import: heavy dependencies (``datasets``, drain3) load only when a function needs them.
"""

from __future__ import annotations

from .errors import BuildReport, LogFormatError
from .records import LogRecord

__all__ = ["LogRecord", "LogFormatError", "BuildReport", "build_synthetic_dataset", "build_dataset",
           "BuildSettings", "parse_file", "detect_format", "export_dataset_repo"]


def __getattr__(name: str):
    if name in {"build_synthetic_dataset", "build_dataset", "BuildSettings"}:
        from . import pipeline

        return getattr(pipeline, name)
    if name in {"parse_file", "detect_format"}:
        from . import loghub

        return getattr(loghub, name)
    if name == "export_dataset_repo":
        from .hub import export_dataset_repo

        return export_dataset_repo
    raise AttributeError(f"module 'dataset_builders' has no attribute {name!r}")
