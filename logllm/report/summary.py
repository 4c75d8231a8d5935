"""Summaries over seeds and benchmark report files: the one definition of "mean ± std" used everywhere.

Spread over seeds is the *sample* standard deviation (n - 1 in the denominator: the seeds are a sample of the
runs one could do); with a single run there is no spread and none is shown.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(float(v))]


def mean_std(values: Iterable[Any]) -> tuple[float | None, float | None]:
    """(mean, sample std) of the numeric values; std is None for fewer than two values, both None for none."""
    numbers = _numbers(values)
    if not numbers:
        return None, None
    return statistics.fmean(numbers), (statistics.stdev(numbers) if len(numbers) > 1 else None)


def format_mean_std(values: Iterable[Any], digits: int = 3) -> str:
    """`0.912 ± 0.034` (sample std over seeds), `0.912` for one value, `n/a` for none."""
    return format_spread(*mean_std(values), digits=digits)


def format_spread(mean: float | None, std: float | None, digits: int = 3) -> str:
    """`format_mean_std` for a mean and std computed earlier (e.g. read back from a results file)."""
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarize_runs(runs: Iterable[dict[str, Any]], keys: Iterable[str]) -> dict[str, dict[str, float | None]]:
    """{"mean": {key: ...}, "std": {key: ...}} over runs (one dict of metrics per seed)."""
    runs = list(runs)
    mean, std = {}, {}
    for key in keys:
        mean[key], std[key] = mean_std(r.get(key) for r in runs)
    return {"mean": mean, "std": std}


def write_report(payload: dict[str, Any], output: str | Path, render: Callable[[dict[str, Any]], str]) -> None:
    """Write `<output>.json` and `<output>.md` (rendered by `render`), stamped with the time of writing.

    Benchmarks call it after every run, so an interrupted benchmark keeps what it measured.
    """
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out.parent / f"{out.name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    (out.parent / f"{out.name}.md").write_text(render(payload), encoding="utf-8")


__all__ = ["format_mean_std", "format_spread", "mean_std", "summarize_runs", "write_report"]
