"""Shared by the detect/watch/space tests: planted-anomaly logs, a tiny saved model, a server.

The tiny model is untrained (random weights, `presets.build_tiny`): tests check the plumbing
(windows, scores, the lines the model itself ranks highest, messages), never its judgement.
A few-step trained tiny model did not separate planted windows on this 2-core CPU in test time
(scores stayed equal after 70 steps), so no test claims the planted line is found by skill.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLANTED = "disk failure on node 7"
NORMAL_TEMPLATES = ("job {n} started", "job {n} finished", "heartbeat ok")


def normal_line(rng: random.Random) -> str:
    return rng.choice(NORMAL_TEMPLATES).format(n=rng.randint(1, 999), m=rng.randint(1, 9999))


def planted_log(n_lines: int = 40, planted_at: tuple[int, ...] = (27,), seed: int = 0) -> str:
    """Plain log text; 1-based line numbers in ``planted_at`` hold the planted anomaly."""
    rng = random.Random(seed)
    return "".join((PLANTED if i in planted_at else normal_line(rng)) + "\n" for i in range(1, n_lines + 1))


@functools.lru_cache(maxsize=None)
def untrained_tiny_model_dir(seed: int = 0) -> Path:
    """An untrained `build_tiny` saved once per test process (tests must not modify it)."""
    from modeling_logllm.presets import build_tiny

    model, processor = build_tiny(seed=seed)
    out = Path(tempfile.mkdtemp(prefix="logllm-test-untrained-"))
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


def start_server(model_dir: str, log_path: Path, max_mb: float = 20.0) -> tuple[subprocess.Popen, str]:
    """`logllm serve` in a subprocess on a free 127.0.0.1 port; returns it once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logllm", "serve", "--model", model_dir, "--host", "127.0.0.1", "--port", str(port),
         "--max-mb", str(max_mb), "--concurrency", "1"],
        cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, log_path)
    except Exception:
        proc.kill()
        raise
    return proc, url
