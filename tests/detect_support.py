"""Shared by the detect/watch/space/attribution tests: planted-anomaly logs, tiny saved models, a server.

Two tiny models (`presets.build_tiny`): an untrained one, for tests of the plumbing (windows, scores,
messages), and one trained for at most 120 full-batch steps (seconds on a 2-core CPU) on the anomaly
score over windows of `NORMAL_TEMPLATES` lines with and without `PLANTED`, for tests that claim the
planted line is found: it learns "this line means anomalous", so leave-one-out line scores put it first.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]

PLANTED = "disk failure on node 7"
NORMAL_TEMPLATES = ("job {n} started", "job {n} finished", "heartbeat ok")


def normal_line(rng: random.Random) -> str:
    return rng.choice(NORMAL_TEMPLATES).format(n=rng.randint(1, 999), m=rng.randint(1, 9999))


def planted_log(n_lines: int = 40, planted_at: tuple[int, ...] = (27,), seed: int = 0) -> str:
    """Plain log text; 1-based line numbers in ``planted_at`` hold the planted anomaly."""
    rng = random.Random(seed)
    return "".join((PLANTED if i in planted_at else normal_line(rng)) + "\n" for i in range(1, n_lines + 1))


def _session_temp_dir(prefix: str) -> Path:
    """A folder that lives as long as the test process (the models saved once per session go there)."""
    out = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return out


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a `start_server` process: terminate, then kill if it has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@functools.lru_cache(maxsize=None)
def untrained_tiny_model_dir(seed: int = 0) -> Path:
    """An untrained `build_tiny` saved once per test process (tests must not modify it)."""
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=seed)
    out = _session_temp_dir("logllm-test-untrained-")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def training_windows(n_pairs: int = 8, seed: int = 0) -> tuple[list[list[str]], list[int]]:
    """Pairs of windows: normal lines (label 0), and the same with one line replaced by `PLANTED` (label 1).

    Pairs differ only in the planted line, so neither length nor which templates occur predicts the
    label; windows draw from random subsets of the templates so "a template is missing" does not either.
    """
    rng = random.Random(seed)
    windows, labels = [], []
    for _ in range(n_pairs):
        templates = rng.sample(NORMAL_TEMPLATES, rng.randint(1, len(NORMAL_TEMPLATES)))
        normal = [rng.choice(templates).format(n=rng.randint(1, 999)) for _ in range(rng.randint(3, 10))]
        planted = list(normal)
        planted[rng.randrange(len(planted))] = PLANTED
        windows += [normal, planted]
        labels += [0, 1]
    return windows, labels


def trained_tiny(seed: int = 0, max_steps: int = 120):
    """`build_tiny` trained on P(anomalous) until the planted windows separate; once per test process.

    Returns ``(model, processor)`` in eval mode (tests must not modify them). Full-batch AdamW on the
    stage-3 trainable parameters, stopping early once the BCE loss is below 0.05.
    """
    return _trained_tiny(seed, max_steps)  # positional, so every caller hits the same cache entry


@functools.lru_cache(maxsize=None)
def _trained_tiny(seed: int, max_steps: int):
    import torch

    from logllm.modeling.presets import build_tiny

    torch.manual_seed(seed)
    model, processor = build_tiny(seed=seed)
    model.set_training_stage(3)
    model.train()
    windows, labels = training_windows(seed=seed)
    batch = processor(windows)
    target = torch.tensor(labels, dtype=torch.float)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(max_steps):
        optim.zero_grad()
        score = model(**batch, logits_to_keep=1).anomaly_score
        loss = torch.nn.functional.binary_cross_entropy(score, target)
        loss.backward()
        optim.step()
        if loss.item() < 0.05:
            break
    logger.info("trained tiny model: %d steps, final loss %.4f", step + 1, loss.item())
    model.eval()
    return model, processor


@functools.lru_cache(maxsize=None)
def trained_tiny_model_dir(seed: int = 0) -> Path:
    """`trained_tiny` saved once per test process, for the CLI and the Space (tests must not modify it)."""
    model, processor = trained_tiny(seed)
    out = _session_temp_dir("logllm-test-trained-")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def start_server(model_dir: str, log_path: Path, max_mb: float = 20.0,
                 tmpdir: Path | None = None, extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`logllm serve` in a subprocess on a free 127.0.0.1 port; returns it once it answers.

    ``tmpdir`` becomes the server's TMPDIR, so a test can look at the folders it leaves there; ``extra_args`` go to
    `logllm serve`.
    """
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "logllm", "serve", "--model", model_dir, "--host", "127.0.0.1", "--port", str(port),
         "--max-mb", str(max_mb), "--concurrency", "1", *extra_args],
        cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, log_path)
    except Exception:
        proc.kill()
        raise
    return proc, url


@functools.lru_cache(maxsize=None)
def indexed_default_model_dir(seed: int = 0, sessions: int = 200) -> Path:
    """The offline default model (pretrained MiniLM encoder, untrained decoder) with what a trained model folder
    carries for familiarity: a novelty index of the synthetic HDFS-like train split's normal lines (the quickstart's
    kind of logs) and the operating point chosen on its validation split. Saved once per test process (read only).

    Familiarity depends only on the encoder and the index, so the untrained decoder does not matter for it.
    """
    from logllm.dataset.build import build_synthetic_dataset
    from logllm.modeling.presets import build_default
    from logllm.scoring.detector import Detector
    from logllm.scoring.novelty import build_novelty_index, normal_lines
    from logllm.scoring.operating_point import choose_operating_point

    splits = build_synthetic_dataset(kind="hdfs", n_windows=sessions, anomaly_ratio=0.1, seed=seed)
    model, processor = build_default(seed=seed)
    build_novelty_index(model, processor, normal_lines(splits["train"]["lines"], splits["train"]["label"]))
    signals = Detector(model, processor).signals(splits["validation"]["lines"], preprocessed=True, novelty=True)
    choose_operating_point(signals["score"], splits["validation"]["label"], signals["novelty"],
                           dataset="synthetic-hdfs", preprocessing="re").save_to(model)
    out = _session_temp_dir("logllm-test-indexed-default-")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
