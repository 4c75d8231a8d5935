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
