"""Synthetic HDFS-like and BGL-like logs with injected anomalies (the offline default data).

The project ships no downloaded data, so tests, the quickstart and the demo run on these. The
lines use the real formats (HDFS ``yymmdd hhmmss pid LEVEL component: content`` with ``blk_``
ids; BGL with its label column) and are parsed back with the real parsers. Generation streams
and is deterministic from ``seed``; sizes from a few sessions to 10M+ lines.

Anomaly kinds (the record's ``category``; names and meanings in ``logllm.logs.anomaly_kinds``),
chosen so that no single token separates the classes: ``GENERATED_KINDS``. Here an
``unseen_template`` sometimes carries words such as ``Exception`` and sometimes not, a
``missing_step`` has no keyword at all, an ``out_of_order`` session has a normal session's event
counts, and an ``abnormal_value`` is a replication to many datanodes (HDFS) or a job ending in an
unusual state (BGL).

Normal data contains the keyword traps real logs have: benign ``exception`` warnings in HDFS,
``error corrected`` lines in BGL.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from logllm.logs.anomaly_kinds import parse_kinds
from logllm.logs.records import LogRecord

__all__ = ["GENERATED_KINDS", "SyntheticLine", "hdfs_like_lines", "bgl_like_lines", "generate_hdfs_like",
           "generate_bgl_like", "write_synthetic"]

logger = logging.getLogger(__name__)

GENERATED_KINDS = ("unseen_template", "error_burst", "missing_step", "out_of_order", "abnormal_value")
HDFS_START = 1226262918.0   # 2008-11-09 20:35:18 UTC, the real HDFS_v1 start
BGL_START = 1117838570.0    # 2005-06-03 15:42:50 UTC, the real BGL start


@dataclass(slots=True)
class SyntheticLine:
    """One generated raw line with its ground truth (for HDFS the block's)."""

    text: str
    label: int
    category: str | None
    session_id: str | None = None


def _generated_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds to inject (old names mapped); none means no anomalies."""
    return parse_kinds(kinds, GENERATED_KINDS, what="the synthetic generator's kinds") if kinds else ()


def _ip(rng: random.Random) -> str:
    return f"10.250.{rng.randint(0, 19)}.{rng.randint(2, 254)}"


def _block_id(rng: random.Random) -> str:
    return f"blk_{rng.randint(-(2**63) + 1, 2**63 - 1)}"


# ---------------------------------------------------------------------------------------------
# HDFS-like sessions: (relative seconds, pid, level, component, content) steps per block


Step = tuple[float, int, str, str, str]


def _hdfs_normal_steps(rng: random.Random, blk: str) -> list[Step]:
    task = f"task_200811092030_{rng.randint(1, 9999):04d}_m_{rng.randint(0, 99999):06d}_0"
    client, nodes = _ip(rng), [_ip(rng) for _ in range(3)]
    size = rng.choice((67108864, 67108864, 67108864, rng.randint(1024, 67108864)))
    steps: list[Step] = [(0.0, rng.randint(20, 40), "INFO", "dfs.FSNamesystem",
                          f"BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_{task}/part-{rng.randint(0, 999):05d}. {blk}")]
    for node in nodes:
        steps.append((rng.uniform(0, 1), rng.randint(100, 999), "INFO", "dfs.DataNode$DataXceiver",
                      f"Receiving block {blk} src: /{client}:{rng.randint(30000, 60000)} dest: /{node}:50010"))
    for k, node in enumerate(nodes):
        steps.append((rng.uniform(1, 30), rng.randint(100, 999), "INFO", "dfs.DataNode$PacketResponder",
                      f"PacketResponder {2 - k} for block {blk} terminating"))
        steps.append((rng.uniform(0, 1), rng.randint(100, 999), "INFO", "dfs.DataNode$PacketResponder",
                      f"Received block {blk} of size {size} from /{client}"))
    for node in nodes:
        steps.append((rng.uniform(0, 2), rng.randint(20, 40), "INFO", "dfs.FSNamesystem",
                      f"BLOCK* NameSystem.addStoredBlock: blockMap updated: {node}:50010 is added to {blk} size {size}"))
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        steps.append((rng.uniform(5, 600), rng.randint(100, 999), "INFO", "dfs.DataNode$DataXceiver",
                      f"{rng.choice(nodes)}:50010 Served block {blk} to /{_ip(rng)}"))
    if rng.random() < 0.04:  # benign warning: normal sessions contain "exception" too
        steps.append((rng.uniform(1, 60), rng.randint(100, 999), "WARN", "dfs.DataNode$DataXceiver",
                      f"{rng.choice(nodes)}:50010:Got exception while serving {blk} to /{_ip(rng)}:"))
    if rng.random() < 0.3:
        steps.append((rng.uniform(60, 3600), rng.randint(100, 999), "INFO", "dfs.DataBlockScanner",
                      f"Verification succeeded for {blk}"))
    if rng.random() < 0.06:
        source, target = rng.choice(nodes), _ip(rng)
        steps.append((rng.uniform(60, 600), rng.randint(20, 40), "INFO", "dfs.FSNamesystem",
                      f"BLOCK* ask {source}:50010 to replicate {blk} to datanode(s) {target}:50010"))
        steps.append((rng.uniform(0, 2), rng.randint(100, 999), "INFO", "dfs.DataNode",
                      f"{source}:50010 Starting thread to transfer block {blk} to {target}:50010"))
    if rng.random() < 0.5:
        steps.append((rng.uniform(600, 7200), rng.randint(20, 40), "INFO", "dfs.FSNamesystem",
                      f"BLOCK* NameSystem.delete: {blk} is added to invalidSet of {nodes[0]}:50010"))
        for node in nodes:
            steps.append((rng.uniform(0, 5), rng.randint(100, 999), "INFO", "dfs.FSDataset",
                          f"Deleting block {blk} file /mnt/hadoop/dfs/data/current/subdir{rng.randint(0, 63)}/{blk}"))
    return steps


_HDFS_UNSEEN = (
    ("WARN", "dfs.DataNode$DataXceiver", "writeBlock {blk} received exception java.io.IOException: Could not read from stream"),
    ("INFO", "dfs.DataNode$PacketResponder", "PacketResponder {blk} 1 Exception java.io.InterruptedIOException: Interruped while waiting for IO on channel"),
    ("INFO", "dfs.DataNode$BlockReceiver", "Receiving empty packet for block {blk}"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request received for {blk} on {ip}:50010 size {size}"),
    ("INFO", "dfs.DataNode$BlockReceiver", "Changing block file offset of block {blk} from 0 to {size} meta file offset to 7"),
)


def _inject_hdfs_anomaly(rng: random.Random, blk: str, steps: list[Step], kind: str) -> list[Step]:
    if kind == "unseen_template":
        level, component, template = rng.choice(_HDFS_UNSEEN)
        at = rng.randint(2, len(steps))
        steps.insert(at, (rng.uniform(0, 5), rng.randint(100, 999), level, component,
                          template.format(blk=blk, ip=_ip(rng), size=rng.randint(1, 67108864))))
    elif kind == "error_burst":
        at = rng.randint(4, len(steps))
        node = _ip(rng)
        for _ in range(rng.randint(6, 15)):
            steps.insert(at, (rng.uniform(0, 2), rng.randint(100, 999), "WARN", "dfs.DataNode$DataXceiver",
                              f"{node}:50010:Got exception while serving {blk} to /{_ip(rng)}:"))
    elif kind == "missing_step":
        pattern = rng.choice(("addStoredBlock", "terminating", "Received block"))
        keep_one = pattern != "addStoredBlock"   # otherwise leave one of the three: a partial pipeline
        kept: list[Step] = []
        for step in steps:
            if pattern in step[4]:
                if keep_one:
                    kept.append(step)
                    keep_one = False
                continue
            kept.append(step)
        steps = kept
    elif kind == "out_of_order":
        first_recv = next(i for i, s in enumerate(steps) if s[4].startswith("Receiving block"))
        term = [s for s in steps if "terminating" in s[4] or "addStoredBlock" in s[4]][: rng.randint(1, 3)]
        steps = [s for s in steps if s not in term]
        for s in reversed(term):
            steps.insert(first_recv, s)
    elif kind == "abnormal_value":
        targets = " ".join(f"{_ip(rng)}:50010" for _ in range(rng.randint(4, 7)))
        source = _ip(rng)
        steps.insert(rng.randint(len(steps) // 2, len(steps)), (rng.uniform(60, 600), rng.randint(20, 40), "INFO",
                     "dfs.FSNamesystem", f"BLOCK* ask {source}:50010 to replicate {blk} to datanode(s) {targets}"))
    else:  # pragma: no cover - kinds are checked by _generated_kinds first
        raise ValueError(f"unknown anomaly kind {kind!r}; choose from {GENERATED_KINDS}")
    return steps


def _hdfs_format(t: float, pid: int, level: str, component: str, content: str) -> str:
    return time.strftime("%y%m%d %H%M%S", time.gmtime(t)) + f" {pid} {level} {component}: {content}"


def hdfs_like_lines(
    n_sessions: int = 1000,
    seed: int = 0,
    anomaly_rate: float = 0.03,
    kinds: Sequence[str] = GENERATED_KINDS,
    concurrency: int = 64,
) -> Iterator[SyntheticLine]:
    """Stream HDFS-like lines: ``n_sessions`` blocks interleaved in time order.

    ``anomaly_rate`` is the fraction of anomalous blocks (real HDFS: 2.9%); ``concurrency`` how
    many blocks are written at once (memory is bounded by it, not by ``n_sessions``).
    """
    kinds = _generated_kinds(kinds)
    rng = random.Random(seed)
    heap: list[tuple[float, int, int]] = []     # (time, session seq, step index)
    sessions: dict[int, tuple[str, list[tuple[float, Step]], int, str | None]] = {}
    started, clock = 0, HDFS_START

    def start_session(now: float) -> None:
        nonlocal started
        blk = _block_id(rng)
        steps = _hdfs_normal_steps(rng, blk)
        kind = rng.choice(kinds) if kinds and rng.random() < anomaly_rate else None
        if kind is not None:
            steps = _inject_hdfs_anomaly(rng, blk, steps, kind)
        timeline, t = [], now
        for step in steps:
            t += step[0]
            timeline.append((t, step))
        sessions[started] = (blk, timeline, int(kind is not None), kind)
        heapq.heappush(heap, (timeline[0][0], started, 0))
        started += 1

    while started < min(concurrency, n_sessions):
        clock += rng.expovariate(2.0)
        start_session(clock)
    last = HDFS_START
    while heap:
        t, seq, index = heapq.heappop(heap)
        blk, timeline, label, kind = sessions[seq]
        _, (_, pid, level, component, content) = timeline[index]
        last = max(last, t)   # keep printed time monotone
        yield SyntheticLine(_hdfs_format(last, pid, level, component, content), label, kind, blk)
        if index + 1 < len(timeline):
            heapq.heappush(heap, (timeline[index + 1][0], seq, index + 1))
        else:
            del sessions[seq]
            if started < n_sessions:
                clock = max(clock, last) + rng.expovariate(2.0)
                start_session(clock)


def generate_hdfs_like(n_sessions: int = 1000, seed: int = 0, anomaly_rate: float = 0.03,
                       kinds: Sequence[str] = GENERATED_KINDS, source: str = "synthetic_hdfs.log") -> Iterator[LogRecord]:
    """HDFS-like records, parsed from the generated lines by the real HDFS parser, block labels attached."""
    from logllm.logs.formats.hdfs import parse_hdfs_line

    for number, line in enumerate(hdfs_like_lines(n_sessions, seed, anomaly_rate, kinds), start=1):
        record = parse_hdfs_line(line.text, source, number)
        record.label, record.category = line.label, line.category
        yield record


# ---------------------------------------------------------------------------------------------
# BGL-like: background RAS events, job lifecycles, anomaly episodes; label column first


_BGL_NORMAL = (  # (weight, type component level, template)
    (30, "RAS KERNEL INFO", "instruction cache parity error corrected"),
    (12, "RAS KERNEL INFO", "generating core.{n}"),
    (10, "RAS KERNEL INFO", "CE sym {s}, at 0x{hex8}, mask 0x{hex2}"),
    (8, "RAS KERNEL INFO", "{n} double-hummer alignment exceptions"),
    (6, "RAS KERNEL INFO", "total of {s} ddr error(s) detected and corrected"),
    (5, "RAS KERNEL INFO", "ciod: Received signal {s}, code={s}, errno={s}, address=0x{hex8}"),
    (5, "RAS KERNEL INFO", "data cache flush parity error corrected"),
    (4, "RAS MMCS INFO", "idoproxydb hit ASSERT condition: ASSERT expression=0 Source file=idotransportmgr.cpp Source line={n}"),
    (3, "RAS KERNEL WARNING", "ddr: activating redundant bit steering: rank={s} symbol={s}"),
    (2, "RAS APP INFO", "ciod: Error loading /p/gb1/user{s}/run/app.rts: invalid or missing program image, No such file or directory"),
)
_BGL_UNSEEN = (
    ("RAS KERNEL FATAL", "data TLB error interrupt"),
    ("RAS KERNEL FATAL", "data storage interrupt"),
    ("RAS APP FATAL", "ciod: Error reading message prefix after LOAD_MESSAGE on CioStream socket to 172.16.96.{s}:{n}: Link has been severed"),
    ("RAS KERNEL FATAL", "Lustre mount FAILED : bglio{s} : block_id : location"),
    ("RAS KERNEL INFO", "rts: kernel terminated for reason {n}"),
    ("RAS KERNEL INFO", "machine check interrupt (bit=0x{hex2}): L2 dcache unit data parity error"),
)
_BGL_WEIGHTS = [w for w, _, _ in _BGL_NORMAL]


def _bgl_node(rng: random.Random) -> str:
    return f"R{rng.randint(0, 7):02d}-M{rng.randint(0, 1)}-N{rng.randint(0, 15):X}-C:J{rng.randint(2, 17):02d}-U{rng.choice((1, 11))}"


def _fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1, 9999), s=rng.randint(0, 63), hex8=f"{rng.getrandbits(32):08x}",
                           hex2=f"{rng.getrandbits(8):02x}")


def _bgl_format(label: str, t: float, node: str, kind: str, content: str) -> str:
    stamp = time.strftime("%Y-%m-%d-%H.%M.%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}"
    return f"{label} {int(t)} {time.strftime('%Y.%m.%d', time.gmtime(t))} {node} {stamp} {node} {kind} {content}"


def _bgl_job(rng: random.Random, kind: str | None) -> list[tuple[str, str]]:
    """A job lifecycle as (type component level, content) events; anomalies alter it."""
    job, part = rng.randint(10000, 99999), f"R{rng.randint(0, 7):02d}-M{rng.randint(0, 1)}"
    state = "COMPLETED" if rng.random() > 0.03 else "CANCELLED"   # cancelled is benign
    events = [("RAS MMCS INFO", f"ciod: job {job} loaded on partition {part}"),
              ("RAS MMCS INFO", f"ciod: job {job} started on {rng.choice((32, 64, 128, 512))} nodes"),
              ("RAS MMCS INFO", f"ciod: job {job} finished, state {state}")]
    if kind == "missing_step":
        del events[rng.randint(0, 1)]
    elif kind == "out_of_order":
        events[1], events[2] = events[2], events[1]
    elif kind == "abnormal_value":
        events[2] = ("RAS MMCS INFO", f"ciod: job {job} finished, state {rng.choice(('NODE_FAIL', 'KILLED', 'TIMEOUT'))}")
    return events


def bgl_like_lines(
    n_lines: int = 10000,
    seed: int = 0,
    anomaly_rate: float = 0.002,
    kinds: Sequence[str] = GENERATED_KINDS,
    job_rate: float = 0.02,
) -> Iterator[SyntheticLine]:
    """Stream ``n_lines`` BGL-like lines; an anomaly episode starts with probability ``anomaly_rate`` per line.

    Anomalous lines carry their kind in the label column (BGL style: ``-`` normal).
    """
    kinds = _generated_kinds(kinds)
    rng = random.Random(seed)
    t = BGL_START
    pending: list[tuple[str, str, str | None]] = []   # queued (kind text, content, category)
    emitted = 0
    while emitted < n_lines:
        if not pending:
            if kinds and rng.random() < anomaly_rate:
                pending = _bgl_episode(rng, rng.choice(kinds))
            elif rng.random() < job_rate:
                pending = [(k, c, None) for k, c in _bgl_job(rng, None)]
            else:
                _, kind_text, template = rng.choices(_BGL_NORMAL, weights=_BGL_WEIGHTS)[0]
                pending = [(kind_text, _fill(template, rng), None)]
        kind_text, content, category = pending.pop(0)
        t += rng.expovariate(0.05) if category != "error_burst" else rng.uniform(0, 0.5)
        label_token = category or "-"
        yield SyntheticLine(_bgl_format(label_token, t, _bgl_node(rng), kind_text, content),
                            int(category is not None), category)
        emitted += 1


def _bgl_episode(rng: random.Random, kind: str) -> list[tuple[str, str, str | None]]:
    if kind == "unseen_template":
        kind_text, template = rng.choice(_BGL_UNSEEN)
        return [(kind_text, _fill(template, rng), kind) for _ in range(rng.randint(1, 3))]
    if kind == "error_burst":
        _, kind_text, template = _BGL_NORMAL[rng.choice((0, 2, 4))]
        return [(kind_text, _fill(template, rng), kind) for _ in range(rng.randint(15, 30))]
    if kind in {"missing_step", "out_of_order", "abnormal_value"}:
        return [(k, c, kind) for k, c in _bgl_job(rng, kind)]
    raise ValueError(f"unknown anomaly kind {kind!r}; choose from {GENERATED_KINDS}")  # pragma: no cover


def generate_bgl_like(n_lines: int = 10000, seed: int = 0, anomaly_rate: float = 0.002,
                      kinds: Sequence[str] = GENERATED_KINDS, source: str = "synthetic_bgl.log") -> Iterator[LogRecord]:
    """BGL-like records, parsed from the generated lines by the real BGL parser."""
    from logllm.logs.formats.bgl import parse_bgl_line

    for number, line in enumerate(bgl_like_lines(n_lines, seed, anomaly_rate, kinds), start=1):
        yield parse_bgl_line(line.text, source, number)


# ---------------------------------------------------------------------------------------------
# files


def write_synthetic(kind: str, log_path: str, *, n_sessions: int = 1000, n_lines: int = 10000, seed: int = 0,
                    anomaly_rate: float | None = None, label_path: str | None = None) -> dict[str, int]:
    """Write a synthetic log (and for HDFS its ``anomaly_label.csv``); return line/label counts.

    HDFS-like: ``n_sessions`` blocks, labels written to ``label_path`` (default:
    ``anomaly_label.csv`` next to the log) plus the kind per block in ``anomaly_category.csv``.
    BGL-like: ``n_lines`` lines with the label column.
    """
    import csv
    import os

    counts = {"lines": 0, "anomalous_lines": 0}
    if kind == "hdfs":
        rate = 0.03 if anomaly_rate is None else anomaly_rate
        label_path = label_path or os.path.join(os.path.dirname(os.path.abspath(log_path)), "anomaly_label.csv")
        blocks: dict[str, tuple[int, str | None]] = {}
        with open(log_path, "w", encoding="utf-8") as out:
            for line in hdfs_like_lines(n_sessions, seed, rate):
                out.write(line.text + "\n")
                blocks[line.session_id] = (line.label, line.category)
                counts["lines"] += 1
                counts["anomalous_lines"] += line.label
        with open(label_path, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["BlockId", "Label"])
            writer.writerows((blk, "Anomaly" if label else "Normal") for blk, (label, _) in blocks.items())
        with open(os.path.join(os.path.dirname(label_path), "anomaly_category.csv"), "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["BlockId", "Category"])
            writer.writerows((blk, category) for blk, (_, category) in blocks.items() if category)
        counts["blocks"] = len(blocks)
        counts["anomalous_blocks"] = sum(label for label, _ in blocks.values())
    elif kind == "bgl":
        rate = 0.002 if anomaly_rate is None else anomaly_rate
        with open(log_path, "w", encoding="utf-8") as out:
            for line in bgl_like_lines(n_lines, seed, rate):
                out.write(line.text + "\n")
                counts["lines"] += 1
                counts["anomalous_lines"] += line.label
    else:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose 'hdfs' or 'bgl'")
    return counts

