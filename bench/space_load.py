"""Load test for the Space: N concurrent gradio_client users against ``logllm serve`` on 127.0.0.1, one of them
uploading a decompression bomb (a ~1 MB .gz of 1 GiB of lines).

Each normal client uploads its own small synthetic BGL-like log (seeded) and waits for the result. Reported per
scenario (10 and 20 users by default): requests answered / failed, the normal requests' latency (p50/p95/max), how
the bomb was answered, and the server's peak memory. A probe first sends the bomb and, right behind it, one normal
request: the Space must answer that within 10 s while it refuses the bomb. The server runs with its default limits
(``logllm serve --max-decompressed-mb``, ``--request-timeout-s``). Bounded: one request per client, a per-request
timeout, the server killed at the end.

    nice python bench/space_load.py                    # 10 and 20 users
    python bench/space_load.py --clients 20 --bomb_mb 0   # no bomb
"""

from __future__ import annotations

import gzip
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
    clients: list[int] = field(default_factory=lambda: [10, 20],
                               metadata={"help": "concurrent users per scenario (one of them the bomb)"})
    model: str | None = field(default=None, metadata={"help": "model folder; default: an untrained tiny model"})
    lines_per_file: int = 60
    window: str = "sliding:20:20"
    bomb_mb: float = field(default=1024.0, metadata={"help": "what the bomb decompresses to (0: no bomb)"})
    probe_limit_s: float = field(default=10.0, metadata={"help": "a normal request behind the bomb must beat this"})
    request_timeout_s: float = 300.0
    concurrency: int = 1
    seed: int = 0
    output_dir: str = "bench/results"


def one_request(url: str, path: Path, args: LoadArguments) -> dict:
    """Upload ``path`` as the page does (every other field as the page shows it) and wait for the answer."""
    from gradio_client import Client, handle_file

    started = time.monotonic()
    window = "" if path.suffix == ".gz" else args.window
    try:
        client = Client(url, verbose=False)
        job = client.submit(handle_file(str(path)), "", None, None, "auto", window, "", api_name="/analyze")
        summary = job.result(timeout=args.request_timeout_s)[0]
        ok = "windows" in summary and "Cannot analyse" not in summary
        return {"ok": ok, "seconds": time.monotonic() - started, "summary": summary[:160]}
    except Exception as err:  # a lost request is the result we are measuring
        return {"ok": False, "seconds": time.monotonic() - started, "error": f"{type(err).__name__}: {err}"[:200]}


def gzip_bomb(path: Path, mb: float) -> Path:
    """``mb`` MB of one repeated log line in about mb KB of gzip: one compressed 8 MiB member, repeated (a gzip file
    may hold many members; readers decompress them all)."""
    line = b"2026-01-01 00:00:00 INFO the same line again and again\n"
    block = line * ((8 << 20) // len(line))
    member = gzip.compress(block, 9)
    with open(path, "wb") as out:
        for _ in range(max(1, round(mb * 1e6 / len(block)))):
            out.write(member)
    return path


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


def start_server(model: str, log_path: Path, concurrency: int = 1,
                 timeout_s: float = 180.0) -> tuple[subprocess.Popen, str]:
    """`logllm serve` on a free 127.0.0.1 port in its own process; returns once the page answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "logllm", "serve", "--model", model, "--host", "127.0.0.1",
                                 "--port", str(port), "--concurrency", str(concurrency)], cwd=ROOT, env=env, stdout=log,
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


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (Linux ``VmHWM``), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def latency_stats(seconds: list[float]) -> dict:
    """min / p50 / p95 / max / mean of the answered normal requests (nearest-rank percentiles)."""
    ordered = sorted(seconds)
    if not ordered:
        return {"min": None, "p50": None, "p95": None, "max": None, "mean": None}

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, -(-int(q * 100) * len(ordered) // 100) - 1))], 2)

    return {"min": round(ordered[0], 2), "p50": pct(0.5), "p95": pct(0.95), "max": round(ordered[-1], 2),
            "mean": round(statistics.fmean(ordered), 2)}


def run_scenario(url: str, files: list[Path], bomb: Path | None, args: LoadArguments) -> dict:
    """All of ``files`` (plus the bomb, sent first) at once; one request each."""
    sent = ([bomb] if bomb is not None else []) + files
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(sent)) as pool:
        results = list(pool.map(lambda p: one_request(url, p, args), sent))
    wall = time.monotonic() - started
    normal = results[1:] if bomb is not None else results
    answered = [r["seconds"] for r in normal if r["ok"]]
    out = {"users": len(sent), "normal_requests": len(normal), "answered": len(answered),
           "lost_or_failed": len(normal) - len(answered), "wall_s": round(wall, 2), "latency_s": latency_stats(answered),
           "errors": [r.get("error") or r.get("summary") for r in normal if not r["ok"]]}
    if bomb is not None:
        out["bomb"] = {"seconds": round(results[0]["seconds"], 2),
                       "refused": "decompresses to more than" in results[0].get("summary", ""),
                       "answer": results[0].get("summary") or results[0].get("error")}
    return out


def probe(url: str, normal: Path, bomb: Path, args: LoadArguments) -> dict:
    """The bomb, then (0.2 s later) one normal request: how long that one waits while the bomb is refused."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        bombed = pool.submit(one_request, url, bomb, args)
        time.sleep(0.2)
        answered = pool.submit(one_request, url, normal, args).result()
        bombed = bombed.result()
    return {"normal_s": round(answered["seconds"], 2), "normal_ok": answered["ok"],
            "within_limit": answered["ok"] and answered["seconds"] < args.probe_limit_s,
            "limit_s": args.probe_limit_s, "bomb_s": round(bombed["seconds"], 2),
            "bomb_refused": "decompresses to more than" in bombed.get("summary", ""),
            "bomb_answer": bombed.get("summary") or bombed.get("error")}


def render(summary: dict, args: LoadArguments) -> str:
    p = summary.get("probe")
    lines = [
        "# Space load test", "",
        f"Concurrent gradio_client users on 127.0.0.1 against `logllm serve` with its default limits (queue concurrency "
        f"{args.concurrency}); each normal user uploads its own {args.lines_per_file}-line synthetic log (windows "
        f"{args.window}) and leaves every other field as the page shows it (threshold empty: the model's operating "
        f"point); " + (f"one user uploads a decompression bomb ({summary['bomb_file_kb']:.0f} KB of gzip, "
                       f"{args.bomb_mb:g} MB of lines), submitted with the others" if summary.get("bomb_file_kb") else "no bomb")
        + f". Model: {summary['model']}; {summary['hardware']}, shared with other jobs (load average "
        f"{summary['load_average_at_end']}). {summary['date']}.", "",
    ]
    if p:
        verdict = "within" if p["within_limit"] else "NOT within"
        answer = " ".join((p["bomb_answer"] or "").split())[:160]
        lines += [f"**Probe** (the bomb, then one normal request 0.2 s later): the normal request was answered in "
                  f"{p['normal_s']} s, {verdict} the {p['limit_s']:g} s goal; the bomb was "
                  f"{'refused' if p['bomb_refused'] else 'NOT refused'} in {p['bomb_s']} s: {answer}", ""]
    lines += ["| users (one bomb) | normal answered | lost/failed | wall s | normal latency s min / p50 / p95 / max | "
              "bomb answered in s | bomb refused |", "|---|---|---|---|---|---|---|"]
    for sc in summary["scenarios"]:
        lat, bomb = sc["latency_s"], sc.get("bomb", {})
        lines.append(f"| {sc['users']} | {sc['answered']}/{sc['normal_requests']} | {sc['lost_or_failed']} | "
                     f"{sc['wall_s']} | {lat['min']} / {lat['p50']} / {lat['p95']} / {lat['max']} | "
                     f"{bomb.get('seconds', '—')} | {bomb.get('refused', '—')} |")
    lines += ["", f"Server peak memory (VmHWM) over the whole run: {summary['server_peak_rss_mb']} MB.", "",
              "Requests queue and are scored one at a time, so a normal request's latency grows with its queue "
              "position; the bomb is refused when its turn comes, after its content is counted (C speed, stopping "
              "just past the limit), before any line is parsed, so it holds the queue for about a second, not for "
              "the minutes parsing and scoring a GiB would take.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    (args,) = HfArgumentParser(LoadArguments).parse_args_into_dataclasses(args=argv)
    work = Path(tempfile.mkdtemp(prefix="logllm-bench-load-"))
    model = args.model or untrained_tiny_model(work / "model", args.seed)
    most = max(args.clients)
    files = [client_log(work / f"client_{i:02d}.log", args.lines_per_file, args.seed + i) for i in range(most)]
    bomb = gzip_bomb(work / "bomb.log.gz", args.bomb_mb) if args.bomb_mb > 0 else None
    proc, url = start_server(model, work / "server.log", args.concurrency)
    scenarios, probed = [], None
    try:
        one_request(url, files[0], args)   # warm up: the first request pays for imports
        if bomb is not None:
            probed = probe(url, files[0], bomb, args)
        for n in args.clients:
            scenarios.append(run_scenario(url, files[: n - 1 if bomb is not None else n], bomb, args))
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    summary = {
        "scenarios": scenarios, "probe": probed, "server_peak_rss_mb": peak,
        "bomb_file_kb": round(bomb.stat().st_size / 1e3, 1) if bomb is not None else None,
        "model": args.model or "untrained build_tiny", "hardware": f"{os.cpu_count()}-core CPU, no GPU",
        "load_average_at_end": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%d"), "args": asdict(args),
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "space_load.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "space_load.md").write_text(render(summary, args))
    print(json.dumps(summary))
    ok = all(sc["answered"] == sc["normal_requests"] and sc.get("bomb", {}).get("refused", True) for sc in scenarios)
    return 0 if ok and (probed is None or probed["within_limit"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
