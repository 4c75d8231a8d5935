"""A tiny LogLLM trained for a few seconds to spot one planted line, shared by the detect tests.

Untrained models give random line scores, so a test that checks "the planted line ranks
first" would pass or fail by luck. This model learns the planted line in ~100 CPU steps, so
such a test means something. Cached on disk once per test session (process).
"""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

PLANTED = "disk failure on node 7"
NORMAL_TEMPLATES = ("job {n} started", "job {n} finished", "heartbeat ok")


def normal_line(rng: random.Random) -> str:
    return rng.choice(NORMAL_TEMPLATES).format(n=rng.randint(1, 999), m=rng.randint(1, 9999))


def planted_log(n_lines: int = 40, planted_at: tuple[int, ...] = (27,), seed: int = 0) -> str:
    """Plain log text; 1-based line numbers in ``planted_at`` hold the planted anomaly."""
    rng = random.Random(seed)
    return "".join((PLANTED if i in planted_at else normal_line(rng)) + "\n" for i in range(1, n_lines + 1))


def _training_windows(seed: int, n: int = 6, size: int = 3) -> tuple[list[list[str]], list[int]]:
    rng = random.Random(seed)
    windows, labels = [], []
    for i in range(n):
        window = [normal_line(rng) for _ in range(size)]
        if i % 2:
            window[rng.randrange(size)] = PLANTED
        windows.append(window)
        labels.append(i % 2)
    return windows, labels


@functools.lru_cache(maxsize=1)
def trained_tiny_model_dir(seed: int = 4, steps: int = 30) -> Path:
    """Save a tiny model trained to flag windows holding PLANTED; returns its folder."""
    import torch

    from modeling_logllm.presets import build_tiny

    torch.manual_seed(seed)
    model, processor = build_tiny(seed=seed)
    model.set_training_stage(3)
    windows, labels = _training_windows(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    batch = processor(windows, labels=labels)
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    out = Path(tempfile.mkdtemp(prefix="logllm-test-model-"))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def untrained_tiny_model_dir(seed: int = 0) -> Path:
    from modeling_logllm.presets import build_tiny

    model, processor = build_tiny(seed=seed)
    out = Path(tempfile.mkdtemp(prefix="logllm-test-untrained-"))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
