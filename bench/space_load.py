"""Load test for the Space: N concurrent gradio_client users against ``logllm serve`` on 127.0.0.1.

Each client uploads its own small synthetic BGL-like log (seeded) and waits for the result.
Reports requests sent / answered / failed and the latency distribution. Bounded: one request per
client, a per-request timeout, the server killed at the end.

    python bench/space_load.py --clients 20
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LoadArguments:
    clients: int = 20
    model: str | None = field(default=None, metadata={"help": "model folder; default: an untrained tiny model"})
    lines_per_file: int = 60
    window: str = "sliding:20:20"
    request_timeout_s: float = 300.0
    concurrency: int = 1
    seed: int = 0
    output_dir: str = "bench/results"


def one_request(url: str, path: Path, model: str, args: LoadArguments) -> dict:
    from gradio_client import Client, handle_file

    started = time.monotonic()
    try:
        client = Client(url, verbose=False)
        job = client.submit(handle_file(str(path)), "", None, model, "auto", args.window, 0.5, 20.0, api_name="/analyze")
        summary = job.result(timeout=args.request_timeout_s)[0]
        ok = "windows" in summary and "Cannot analyse" not in summary
        return {"ok": ok, "seconds": time.monotonic() - started, "summary": summary[:120]}
    except Exception as err:  # a lost request is the result we are measuring
        return {"ok": False, "seconds": time.monotonic() - started, "error": f"{type(err).__name__}: {err}"[:200]}


def untrained_tiny_model(folder: Path, seed: int) -> str:
    """An untrained `build_tiny` saved to ``folder`` (load, not accuracy, is measured)."""
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=seed)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def client_log(path: Path, n_lines: int, seed: int) -> Path:
    """A BGL-like log of ``n_lines`` lines with the synthetic generator's anomalies (one file per client)."""
    from logllm.logs.synthetic import bgl_like_lines

    path.write_text("".join(line.text + "\n" for line in bgl_like_lines(n_lines, seed=seed, anomaly_rate=0.05)))
    return path


def start_server(model: str, log_path: Path, timeout_s: float = 180.0) -> tuple[subprocess.Popen, str]:
    """`logllm serve` on a free 127.0.0.1 port in its own process; returns once the page answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "logllm", "serve", "--model", model, "--host", "127.0.0.1",
                                 "--port", str(port), "--concurrency", "1"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"logllm serve exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError(f"logllm serve did not answer at {url} within {timeout_s:.0f} s (log: {log_path})")


def main(argv: list[str] | None = None) -> int:
    (args,) = HfArgumentParser(LoadArguments).parse_args_into_dataclasses(args=argv)
    work = Path(tempfile.mkdtemp(prefix="logllm-bench-load-"))
    model = args.model or untrained_tiny_model(work / "model", args.seed)
    files = [client_log(work / f"client_{i:02d}.log", args.lines_per_file, args.seed + i) for i in range(args.clients)]
    proc, url = start_server(model, work / "server.log")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            results = list(pool.map(lambda p: one_request(url, p, model, args), files))
        wall = time.monotonic() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    latencies = sorted(r["seconds"] for r in results if r["ok"])
    answered = len(latencies)

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else None

    summary = {
        "clients": args.clients, "answered": answered, "lost_or_failed": args.clients - answered,
        "wall_s": round(wall, 2), "latency_s_min": round(latencies[0], 2) if latencies else None,
        "latency_s_p50": pct(0.5), "latency_s_p95": pct(0.95), "latency_s_max": round(latencies[-1], 2) if latencies else None,
        "latency_s_mean": round(statistics.fmean(latencies), 2) if latencies else None,
        "model": args.model or "untrained build_tiny", "hardware": f"{os.cpu_count()}-core CPU, no GPU",
        "load_average_at_end": round(os.getloadavg()[0], 2), "args": asdict(args),
        "errors": [r.get("error") for r in results if not r["ok"]],
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "space_load.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "space_load.md").write_text(
        "# Space load test\n\n"
        f"{args.clients} concurrent gradio_client users on 127.0.0.1, each uploading its own {args.lines_per_file}-line "
        f"synthetic log (windows {args.window}); server queue with concurrency {args.concurrency}; model: {summary['model']}; "
        f"{summary['hardware']}, shared with other jobs (load average {summary['load_average_at_end']}).\n\n"
        "| clients | answered | lost/failed | wall s | latency s min / p50 / p95 / max |\n|---|---|---|---|---|\n"
        f"| {args.clients} | {answered} | {args.clients - answered} | {summary['wall_s']} | {summary['latency_s_min']} / "
        f"{summary['latency_s_p50']} / {summary['latency_s_p95']} / {summary['latency_s_max']} |\n\n"
        "Requests queue and are scored one at a time, so latency grows with the queue position; none is dropped.\n"
    )
    print(json.dumps(summary))
    return 0 if answered == args.clients else 1


if __name__ == "__main__":
    raise SystemExit(main())
