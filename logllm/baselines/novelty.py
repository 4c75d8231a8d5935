"""Novelty baselines: flag a window for holding a line unlike anything in the training-normal windows.

On Loghub most anomalies are new event types or counts (Landauer et al. 2024; Yu et al., ICSE 2024), so "this line
was never seen" is the baseline that new kinds of failure must be measured against. Three rules, all fitted on the
normal windows of the training split only, all reading the same masked lines as LogLLM:

* `new_masked_line`: the window holds a masked line that no normal training window holds (score = number of such
  distinct lines; flagged at >= 1).
* `new_drain_template`: the same with Drain templates (drain3, fitted on the normal training lines; a test line
  matching no cluster is new), which groups near-identical masked lines.
* `embedding_knn`: each line's cosine distance to its k nearest normal training lines in the encoder's space
  (all-MiniLM-L6-v2 mean-pooled, as the offline LogLLM encoder); window score = the largest. Its threshold is set
  as LogLLM's novelty threshold is: a high quantile of the scores of the *normal* validation windows (with a
  floor), so it never learns from the anomaly kinds validation happens to hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from logllm.baselines.protocol import SplitData, result, skipped, split_data
from logllm.report.metrics import compute_metrics
from logllm.scoring.novelty import normal_lines

logger = logging.getLogger(__name__)

NOVELTY_BASELINES = ("new_masked_line", "new_drain_template", "embedding_knn")


class NewLineRule:
    """Counts a window's distinct lines absent from the normal training lines."""

    name = "new_masked_line"

    def fit(self, lines: Sequence[str]) -> NewLineRule:
        self.known_ = set(lines)
        return self

    def score(self, windows: Sequence[Sequence[str]]) -> np.ndarray:
        return np.asarray([sum(1 for line in set(w) if line not in self.known_) for w in windows], dtype=float)


class NewDrainTemplateRule:
    """Counts a window's distinct lines that match no Drain cluster mined from the normal training lines."""

    name = "new_drain_template"

    def __init__(self, sim_th: float = 0.4, depth: int = 4) -> None:
        self.sim_th, self.depth = sim_th, depth

    def fit(self, lines: Sequence[str]) -> NewDrainTemplateRule:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig

        config = TemplateMinerConfig()
        config.drain_sim_th, config.drain_depth, config.profiling_enabled = self.sim_th, self.depth, False
        self.miner_ = TemplateMiner(config=config)
        for line in lines:
            self.miner_.add_log_message(line)
        return self

    def score(self, windows: Sequence[Sequence[str]]) -> np.ndarray:
        verdict: dict[str, bool] = {}
        out = []
        for w in windows:
            count = 0
            for line in set(w):
                if line not in verdict:
                    verdict[line] = self.miner_.match(line) is None
                count += verdict[line]
            out.append(count)
        return np.asarray(out, dtype=float)


@dataclass
class EmbeddingKNNConfig:
    k: int = 1
    quantile: float = 0.99
    floor: float = 0.05
    max_index_lines: int = 20_000
    max_tokens_per_line: int = 64
    batch_size: int = 128
    encoder: str | None = None  # None: the offline all-MiniLM-L6-v2


class EmbeddingKNN:
    """Window score = the largest cosine distance of a line to its k nearest normal training lines."""

    name = "embedding_knn"

    def __init__(self, config: EmbeddingKNNConfig | None = None, seed: int = 0) -> None:
        self.config = config or EmbeddingKNNConfig()
        self.seed = seed
        self._vectors: dict[str, np.ndarray] = {}

    def _encoder(self):
        if not hasattr(self, "model_"):
            from transformers import AutoModel, AutoTokenizer

            from logllm.modeling.presets import minilm_path

            path = self.config.encoder or str(minilm_path())
            self.tokenizer_ = AutoTokenizer.from_pretrained(path)
            self.model_ = AutoModel.from_pretrained(path).eval()
        return self.tokenizer_, self.model_

    def _embed(self, lines: Sequence[str]) -> np.ndarray:
        import torch

        todo = [line for line in dict.fromkeys(lines) if line not in self._vectors]
        tokenizer, model = self._encoder()
        for start in range(0, len(todo), self.config.batch_size):
            part = todo[start : start + self.config.batch_size]
            enc = tokenizer(part, truncation=True, max_length=self.config.max_tokens_per_line, padding=True,
                            return_tensors="pt")
            with torch.no_grad():
                states = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1).clamp(min=1.0), dim=-1)
            self._vectors.update(zip(part, pooled.numpy()))
        return np.stack([self._vectors[line] for line in lines]) if lines else np.zeros((0, 1))

    def fit(self, lines: Sequence[str]) -> EmbeddingKNN:
        import random

        lines = list(dict.fromkeys(lines))
        if len(lines) > self.config.max_index_lines:
            lines = random.Random(self.seed).sample(lines, self.config.max_index_lines)
        self.index_ = self._embed(lines)
        return self

    def line_distances(self, lines: Sequence[str]) -> dict[str, float]:
        distinct = list(dict.fromkeys(lines))
        if not distinct:
            return {}
        sims = self._embed(distinct) @ self.index_.T  # (n, index)
        k = min(self.config.k, sims.shape[1])
        top = -np.sort(-sims, axis=1)[:, :k]
        return dict(zip(distinct, np.clip(1.0 - top.mean(axis=1), 0.0, None).tolist()))

    def score(self, windows: Sequence[Sequence[str]]) -> np.ndarray:
        distances = self.line_distances([line for w in windows for line in w])
        return np.asarray([max(distances[line] for line in w) for w in windows], dtype=float)


def _fit_and_score(rule: Any, data: SplitData, seed: int, config: EmbeddingKNNConfig) -> dict[str, Any]:
    (train_w, train_y), (test_w, test_y) = data.train, data.test
    started = time.perf_counter()
    rule.fit(normal_lines(train_w, train_y))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = rule.score(test_w)
    score_s = time.perf_counter() - started
    if isinstance(rule, EmbeddingKNN):
        threshold, source = config.floor, f"floor {config.floor} (no normal validation windows)"
        if data.validation is not None:
            val_w, val_y = data.validation
            normal = [w for w, y in zip(val_w, val_y) if y == 0]
            if normal:
                q = float(np.quantile(rule.score(normal), config.quantile))
                threshold = max(q, config.floor)
                source = f"{config.quantile:.2f} quantile of {len(normal)} normal validation windows (floor {config.floor})"
    else:
        threshold, source = 0.5, "rule: at least one unseen line"
    return {**compute_metrics(test_y, scores, threshold), "seed": seed, "threshold_source": source,
            "fit_time_s": round(fit_s, 4), "score_time_s": round(score_s, 4)}


def run_novelty_baselines(
    train_ds: Any,
    test_ds: Any,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    validation_ds: Any | None = None,
    models: Sequence[str] | None = None,
    knn: EmbeddingKNNConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """The novelty rules on the same windows as every other baseline; one run per seed (they are deterministic
    unless the kNN index is subsampled, so the table keeps the same shape as the trained models')."""
    if len(seeds) == 0:
        raise ValueError("give at least one seed")
    data = split_data(train_ds, test_ds, validation_ds)
    config = knn or EmbeddingKNNConfig()
    unknown = set(models or ()) - set(NOVELTY_BASELINES)
    if unknown:
        raise ValueError(f"unknown novelty baselines {sorted(unknown)}; choose from {NOVELTY_BASELINES}")
    if not (data.train[1] == 0).any():
        return {name: skipped(name, "the train split has no normal windows", seeds) for name in models or NOVELTY_BASELINES}
    factories = {
        "new_masked_line": lambda seed: NewLineRule(),
        "new_drain_template": lambda seed: NewDrainTemplateRule(),
        "embedding_knn": lambda seed: EmbeddingKNN(config, seed),
    }
    results: dict[str, dict[str, Any]] = {}
    shared_knn: EmbeddingKNN | None = None
    for name in models or NOVELTY_BASELINES:
        runs = []
        for seed in seeds:
            rule = factories[name](seed)
            if isinstance(rule, EmbeddingKNN):  # reuse line vectors across seeds: the encoder is fixed
                if shared_knn is not None:
                    rule._vectors = shared_knn._vectors
                shared_knn = rule
            runs.append(_fit_and_score(rule, data, seed, config))
        results[name] = result(name, runs, seeds, data, features="masked lines of the training-normal windows")
        logger.info("%s: F1 %.4f", name, results[name]["mean"]["f1"])
    return results


__all__ = ["NOVELTY_BASELINES", "EmbeddingKNN", "EmbeddingKNNConfig", "NewDrainTemplateRule", "NewLineRule",
           "run_novelty_baselines"]
