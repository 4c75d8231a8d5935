"""The novelty index: pooled encoder vectors of the distinct lines a model saw in training-normal windows.

Operators care most about failures training never showed, and those mostly arrive as lines of a new kind. The
decoder cannot score what it was never trained to call anomalous, but the encoder can say how far a line is from
every line of the normal training windows. The index is stored in the model (the `novelty_index` buffer, saved in
model.safetensors), bounded in size, and queried by `detection_logllm.line_novelty`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MAX_LINES = 20_000


@dataclass
class IndexReport:
    """What went into the index: distinct lines seen, kept (bounded by `max_lines`), and its size in the model."""

    distinct_lines: int
    kept_lines: int
    dim: int
    bytes: int

    def describe(self) -> str:
        dropped = self.distinct_lines - self.kept_lines
        extra = f", {dropped:,} left out at random (max_lines)" if dropped else ""
        return (f"novelty index: {self.kept_lines:,} training-normal distinct lines{extra}, {self.dim}-d, "
                f"{self.bytes / 2**20:.1f} MiB")


def normal_lines(windows: Iterable[Sequence[str]], labels: Iterable[int]) -> list[str]:
    """Distinct lines (model text) of the windows labelled normal (0), in first-seen order."""
    seen: dict[str, None] = {}
    for lines, label in zip(windows, labels):
        if int(label) == 0:
            seen.update(dict.fromkeys(lines))
    return list(seen)


def build_novelty_index(
    model: Any,
    processor: Any,
    lines: Sequence[str],
    *,
    max_lines: int = DEFAULT_MAX_LINES,
    seed: int = 0,
    batch_size: int = 256,
) -> IndexReport:
    """Encode the distinct training-normal `lines` (model text) and store them as the model's novelty index.

    More than `max_lines` distinct lines are subsampled with `seed` (said in the report). The encoder is the model's
    own, after training, so novelty is measured in the space the model reads.
    """
    import torch

    distinct = list(dict.fromkeys(lines))
    kept = distinct
    if len(distinct) > max_lines:
        kept = random.Random(seed).sample(distinct, max_lines)
    if not kept:
        model.set_novelty_index(None)
        return IndexReport(len(distinct), 0, 0, 0)
    kept = sorted(kept, key=len)  # similar lengths share a batch: little padding (row order does not matter)
    was_training = model.training
    model.eval()
    vectors = []
    try:
        with torch.no_grad():
            for start in range(0, len(kept), batch_size):
                enc = processor.encode_lines(kept[start : start + batch_size])
                vectors.append(model.get_line_vectors(enc["line_input_ids"].to(model.device),
                                                      enc["line_attention_mask"].to(model.device)).float().cpu())
    finally:
        model.train(was_training)
    matrix = torch.cat(vectors)
    model.set_novelty_index(matrix)
    report = IndexReport(len(distinct), len(kept), int(matrix.shape[1]), int(matrix.numel() * 4))
    logger.info(report.describe())
    return report


__all__ = ["DEFAULT_MAX_LINES", "IndexReport", "build_novelty_index", "normal_lines"]
