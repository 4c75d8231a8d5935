"""Scoring at scale (issue 19): the window and line caches, `Detector.score_stream` and the streaming `logllm detect`
change no score and no output, and the streaming path holds a bounded number of results."""

from __future__ import annotations

import gzip
import json
import random
import sys
import weakref
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import untrained_tiny_model_dir  # noqa: E402

from logllm.modeling.detection_logllm import LineVectorCache, WindowScoreCache  # noqa: E402
from logllm.scoring.detector import Detector  # noqa: E402

TEMPLATES = ("job {n} started on node{m}", "job {n} finished", "heartbeat ok", "disk {m} at {n}% full",
             "user{m} logged in from 10.0.{m}.{n}")


def windows_with_repeats(n: int = 24, seed: int = 0) -> list[list[str]]:
    """Windows whose masked text repeats (numbers differ, shapes recur), a few of them longer than 4 lines."""
    rng = random.Random(seed)
    shapes = [[rng.choice(TEMPLATES) for _ in range(rng.randint(1, 7))] for _ in range(5)]
    return [[t.format(n=rng.randint(1, 99), m=rng.randint(1, 9)) for t in rng.choice(shapes)] for _ in range(n)]


@pytest.fixture(scope="module")
def tiny():
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0, max_lines_per_window=4)  # long windows are scored in chunks
    model.eval()
    lines = [t.format(n=1, m=1) for t in TEMPLATES[:3]]
    with torch.no_grad():
        enc = processor.encode_lines(processor.preprocess_lines(lines))
        model.set_novelty_index(model.get_line_vectors(enc["line_input_ids"], enc["line_attention_mask"]))
    return model, processor


def detector(tiny, window_cache: bool = True, line_cache: bool = True, batch_size: int = 3) -> Detector:
    model, processor = tiny
    found = Detector(model, processor, batch_size=batch_size, threshold=0.5)
    found.point.novelty_threshold, found.use_novelty = 0.05, True  # novelty on: the per-line path runs too
    if not window_cache:
        found.cache = WindowScoreCache(max_entries=0)
    if not line_cache:
        found.line_cache = LineVectorCache(max_entries=0)
    return found


def as_rows(results) -> list[dict]:
    return [{"window_id": r.window_id, "status": r.status, "anomalous": r.anomalous, "reason": r.reason,
             "model_lines": r.model_lines} for r in results]


def assert_same_scores(a, b) -> None:
    """Same results; scores equal up to float rounding (a batch of other windows pads differently)."""
    assert as_rows(a) == as_rows(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(torch.tensor([x.log_odds]), torch.tensor([y.log_odds]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.tensor(x.line_scores), torch.tensor(y.line_scores), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.tensor(x.line_novelty), torch.tensor(y.line_novelty), rtol=1e-5, atol=1e-5)


class Alive:
    """How many of the objects seen are still alive (dataclass results are unhashable: no WeakSet)."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.most = 0

    def add(self, item) -> None:
        self.refs = [r for r in self.refs if r() is not None] + [weakref.ref(item)]
        self.most = max(self.most, len(self.refs))


def as_windows(texts: list[list[str]]) -> list[dict]:
    return [{"window_id": f"w{i}", "source": "x.log", "lines": lines, "line_numbers": list(range(1, len(lines) + 1))}
            for i, lines in enumerate(texts)]


def test_caches_change_no_score_and_save_forward_passes(tiny):
    windows = as_windows(windows_with_repeats())
    runs = {}
    for window_cache in (True, False):
        for line_cache in (True, False):
            scorer = detector(tiny, window_cache, line_cache)
            before = tiny[1].stats["windows"]
            results = scorer.score(windows, line_scores=True)
            runs[window_cache, line_cache] = (results, tiny[1].stats["windows"] - before, scorer)
    plain, plain_passes, plain_scorer = runs[False, False]
    assert plain_scorer.cache.hits == 0 and len(plain_scorer.cache) == 0
    for key, (results, passes, scorer) in runs.items():
        assert_same_scores(results, plain)
        if key[0]:  # repeated masked windows (and their leave-one-out variants) went through the model once
            assert passes < plain_passes and scorer.cache.misses == len(scorer.cache) <= passes
    # a second pass over the same windows is answered by the cache alone
    cached = runs[True, True][2]
    again = cached.score(windows, line_scores=True)
    assert_same_scores(again, plain) and cached.cache.hit_rate > 0.5


def test_caches_are_bounded():
    cache = WindowScoreCache(max_entries=3)
    for i in range(10):
        cache.put(WindowScoreCache.key([f"line {i}"]), float(i))
    assert len(cache) == 3 and cache.get(WindowScoreCache.key(["line 9"])) == 9.0
    assert cache.get(WindowScoreCache.key(["line 0"])) is None and cache.hit_rate == 0.5
    assert WindowScoreCache.key(["a", "b"]) != WindowScoreCache.key(["a b"]) != WindowScoreCache.key(["ab"])
    off = WindowScoreCache(max_entries=0)
    off.put(b"k", 1.0)
    assert len(off) == 0 and not off.enabled
    with pytest.raises(ValueError):
        LineVectorCache(max_entries=-1)


def test_score_stream_gives_score_results_holding_one_block(tiny):
    windows = as_windows(windows_with_repeats(40, seed=1))
    plain = detector(tiny).score(windows, line_scores=True)
    pulled = []

    def source():
        for window in windows:
            pulled.append(window["window_id"])
            yield window

    streamed, live = [], Alive()
    scorer = detector(tiny)
    for n, result in enumerate(scorer.score_stream(source(), block=5, line_scores=True), start=1):
        assert len(pulled) - n < 5  # never more than one block read ahead of what was handed out
        live.add(result)
        streamed.append(as_rows([result])[0] | {"log_odds": result.log_odds})
        del result
    assert len(streamed) == len(windows) and live.most <= 10
    assert [r["window_id"] for r in streamed] == [w["window_id"] for w in windows]
    assert [{k: v for k, v in r.items() if k != "log_odds"} for r in streamed] == as_rows(plain)
    torch.testing.assert_close(torch.tensor([r["log_odds"] for r in streamed]), torch.tensor([r.log_odds for r in plain]),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        list(scorer.score_stream(iter(windows), block=0))


# ---------------------------------------------------------------------------------------------------------------
# the CLI: streamed rows = the plain path's rows


def _run(capsys, *argv):
    from logllm.commands.detect import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _plain_rows(path: Path, window: str | None, model_dir: str, threshold: float = 0.5,
                max_rows: int = 3) -> tuple[list[dict], str]:
    """The non-streaming path (read everything, score everything) as the Space runs it."""
    from logllm.report.detection import format_table, result_row
    from logllm.scoring.detector import detect_path

    scorer = Detector.load(model_dir, batch_size=8)
    report = detect_path(scorer, path, window=window, threshold=threshold)
    return [result_row(r, 3) for r in report.results], format_table(report, top_k=3, max_rows=max_rows)


def _hdfs_log(path: Path, n_blocks: int = 30, seed: int = 0) -> None:
    rng = random.Random(seed)
    events = ["Receiving block {b} src: /10.0.0.{i}:5001 dest: /10.0.0.{j}:50010",
              "PacketResponder {i} for block {b} terminating", "Received block {b} of size {s} from /10.0.0.{i}",
              "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.0.0.{i}:50010 is added to {b} size {s}"]
    lines = []
    for k in range(n_blocks):
        block = f"blk_{rng.randint(10**9, 10**10)}"
        for event in rng.sample(events, rng.randint(1, 4)) * rng.randint(1, 2):
            text = event.format(b=block, i=rng.randint(1, 9), j=rng.randint(1, 9), s=rng.randint(1, 10**6))
            lines.append(f"081109 2035{k % 60:02d} {rng.randint(10, 99)} INFO dfs.DataNode: {text}\n")
    path.write_text("".join(lines))


def _compare(rows: list[dict], plain: list[dict]) -> None:
    """Equal rows; floats (scores, evidence) up to 1e-5: a batch of other windows pads differently."""
    def numbers(value, path=""):
        if isinstance(value, float):
            yield path, value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from numbers(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from numbers(v, f"{path}[{i}]")

    def skeleton(value):
        if isinstance(value, float):
            return "<float>"
        if isinstance(value, dict):
            return {k: skeleton(v) for k, v in value.items()}
        if isinstance(value, list):
            return [skeleton(v) for v in value]
        return value

    assert skeleton(rows) == skeleton(plain)
    found, expected = dict(numbers(rows)), dict(numbers(plain))
    assert found.keys() == expected.keys()
    assert [found[k] for k in expected] == pytest.approx(list(expected.values()), abs=1e-5)


@pytest.mark.parametrize("kind", ["sliding", "session"])
def test_detect_streams_the_plain_paths_rows_and_table(tmp_path, capsys, monkeypatch, kind):
    import logllm.commands.detect as detect

    monkeypatch.setattr(detect, "STREAM_BLOCK", 4)  # many blocks
    model_dir = str(untrained_tiny_model_dir())
    log = tmp_path / "app.log"
    if kind == "session":
        _hdfs_log(log)
        window = None
    else:
        rng = random.Random(0)
        log.write_text("".join(rng.choice(TEMPLATES).format(n=rng.randint(1, 9), m=rng.randint(1, 3)) + "\n"
                               for _ in range(90)))
        window = "sliding:5:3"
    # a threshold half way between two scores near the middle: some windows flagged, some not, none on the edge
    scores = sorted({r["score"] for r in _plain_rows(log, window, model_dir)[0]})
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    plain, plain_table = _plain_rows(log, window, model_dir, threshold)
    out = tmp_path / "rows.jsonl"
    argv = [log, "--model", model_dir, "--threshold", repr(threshold), "--output", out, "--no-progress", "--max-rows", "3"]
    code, table, _ = _run(capsys, *argv, *(["--window", window] if window else []))
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) > 8 and any(r["anomalous"] for r in rows) and not all(r["anomalous"] for r in rows)
    _compare(rows, plain)
    # the same table (counts, top rows, "and N more") from the tally as from all results, up to the timing
    assert without_time(table).strip() == without_time(plain_table).strip()
    # and the same with both caches off
    code, _, _ = _run(capsys, *argv, "--no-window-cache", "--no-line-cache", *(["--window", window] if window else []))
    _compare([json.loads(line) for line in out.read_text().splitlines()], plain)


def without_time(table: str) -> str:
    head, _, rest = table.partition("\n")
    return head.rsplit(";", 1)[0] + "\n" + rest


def test_detect_holds_a_bounded_number_of_results(tmp_path, capsys, monkeypatch):
    """Memory does not grow with the windows: at any row written, at most two blocks of results (plus the table's
    top rows) are alive."""
    import logllm.commands.detect as detect
    import logllm.report.detection as detection

    monkeypatch.setattr(detect, "STREAM_BLOCK", 4)
    live = Alive()
    real_write = detection.ResultWriter.write

    def counting_write(self, result):
        live.add(result)
        real_write(self, result)

    monkeypatch.setattr(detection.ResultWriter, "write", counting_write)
    log = tmp_path / "app.log"
    log.write_text("".join(f"{TEMPLATES[i % 5].format(n=i, m=i % 7)}\n" for i in range(400)))
    out = tmp_path / "rows.jsonl"
    code, table, _ = _run(capsys, log, "--model", str(untrained_tiny_model_dir()), "--window", "sliding:4",
                          "--threshold", "0", "--max-rows", "2", "--output", out, "--no-progress")
    assert code == 0 and len(out.read_text().splitlines()) == 100
    assert "100 windows" in table and "100 anomalous" in table and "... and 98 more" in table
    assert live.most <= 2 * 4 + 2


def test_a_file_failing_part_way_is_taken_back_from_the_output(tmp_path, capsys, monkeypatch):
    """All or nothing per file, as before streaming: the rows of a file whose reading fails after some windows were
    scored and written are taken back; the file is named as skipped and the exit status is 2."""
    import logllm.commands.detect as detect
    import logllm.report.detection as detection

    monkeypatch.setattr(detect, "STREAM_BLOCK", 2)
    taken_back = []
    real_rollback = detection.ResultWriter.rollback

    def recording_rollback(self, mark):
        taken_back.append(self.rows - mark[1])
        real_rollback(self, mark)

    monkeypatch.setattr(detection.ResultWriter, "rollback", recording_rollback)
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_text("".join(f"heartbeat ok {i}\n" for i in range(20)))
    data = gzip.compress("".join(f"job {i} started on node{i % 9}\n" for i in range(30000)).encode())
    (folder / "b.log.gz").write_bytes(data[: len(data) * 2 // 3])  # truncated: fails after its first windows
    (folder / "c.log").write_text("".join(f"job {i} finished\n" for i in range(10)))
    out = tmp_path / "rows.jsonl"
    code, table, err = _run(capsys, folder, "--model", str(untrained_tiny_model_dir()), "--window", "sliding:200",
                            "--output", out, "--no-progress")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 2 and f"skipped {folder / 'b.log.gz'}" in err
    assert len(taken_back) == 1 and taken_back[0] > 2  # b's windows had been written, then were taken back
    assert [r["source"] for r in rows] == [str(folder / "a.log"), str(folder / "c.log")]
    assert table.startswith("2 windows")
