"""Streaming windows and the watch loop: windows complete on time, alerts carry latency."""

from __future__ import annotations

import io
import threading
import time

from logllm.logs.errors import BuildReport
from logllm.logs.records import LogRecord
from logllm.scoring.detector import WindowResult
from logllm.commands.watch import watch
from logllm.windows.windowing import SlidingWindower, sliding_windows


def _record(i: int) -> LogRecord:
    return LogRecord("app.log", i, f"l{i}")


def test_windower_emits_every_step_with_bounded_buffer():
    w = SlidingWindower(size=4, step=2)
    emitted = [w.add(_record(i)) for i in range(1, 11)]
    windows = [x for x in emitted if x is not None]
    assert [x["line_numbers"] for x in windows] == [[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10]]
    assert len(w.buffer) <= 4


def test_windower_flushes_a_quiet_partial_window_once():
    w = SlidingWindower(size=10, step=10)
    for i in range(1, 4):
        w.add(_record(i))
    partial = w.flush(end=False)
    assert partial["line_numbers"] == [1, 2, 3] and w.report["partial_windows"] == 1
    assert w.flush(end=False) is None  # nothing new since


def test_watch_and_files_share_one_windower():
    """`sliding_windows` (files) is the windower `watch` feeds: same windows, same counters."""
    records = [_record(i) for i in range(1, 24)]
    fed, by_file = BuildReport(), BuildReport()
    w = SlidingWindower(5, 7, report=fed)
    windows = [x for x in map(w.add, records) if x is not None] + [w.flush()]
    assert windows == list(sliding_windows(records, 5, 7, report=by_file))
    assert fed.counts == by_file.counts and fed["lines_between_windows"] == 6


class KeywordDetector:
    """Scores a window by whether it contains 'FATAL' (stands in for a model in loop tests)."""

    batch_size = 4

    def score(self, windows, threshold=0.5, progress=None):
        out = []
        for w in windows:
            line_scores = [1.0 if "FATAL" in t else 0.0 for t in w["lines"]]
            score = max(line_scores)
            out.append(WindowResult(w["window_id"], w["source"], w["line_numbers"], w["lines"], score,
                                    score >= threshold, line_scores, w["label"], w["line_labels"]))
        return out


def test_watch_alerts_on_appended_window_and_survives_rotation(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("")
    out = io.StringIO()

    def writer():
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write("".join(f"info {i}\n" for i in range(5)))
            f.write("info 5\nFATAL disk gone\ninfo 7\ninfo 8\ninfo 9\n")
        time.sleep(0.3)
        log.rename(tmp_path / "app.log.1")
        log.write_text("".join(f"after {i}\n" for i in range(3)) + "FATAL again\n" + "after 4\n")

    thread = threading.Thread(target=writer)
    thread.start()
    stats = watch(log, KeywordDetector(), size=5, step=5, duration=1.5, poll_interval=0.02, out=out)
    thread.join()
    text = out.getvalue()
    assert stats.lines == 15 and stats.windows == 3 and stats.alerts == 2
    assert "ALERT app.log:6-10" in text and "app.log:7  FATAL disk gone" in text
    assert "ALERT app.log:1-5" in text and "app.log:4  FATAL again" in text  # new file, numbering restarted
    assert "latency" in text and stats.follow.rotations == 1
    summary = stats.summary()
    assert summary["latency_ms_p50"] is not None and summary["latency_ms_p50"] < 1000


def test_watch_cli_with_a_saved_model_writes_alerts(tmp_path, capsys):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_support import planted_log, untrained_tiny_model_dir

    from logllm.commands.watch import main

    log, alerts = tmp_path / "app.log", tmp_path / "alerts.jsonl"
    log.write_text(planted_log(10))
    model = str(untrained_tiny_model_dir())
    code = main([str(log), "--model", model, "--from-start", "--duration", "1.5", "--window", "sliding:5",
                 "--threshold", "0", "--alerts", str(alerts)])
    out, err = capsys.readouterr()
    assert code == 0 and out.count("ALERT") == 2 and "app.log:1-5" in out
    rows = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [r["first_line"] for r in rows] == [1, 6] and all(r["latency_ms"] >= 0 for r in rows)
    summary = json.loads(err.strip().splitlines()[-1].split("logllm watch: ", 1)[1])
    assert summary["lines"] == 10 and summary["windows"] == 2
    assert main([str(log), "--model", model, "--window", "session"]) == 2
    assert "sliding:SIZE[:STEP] windows only" in capsys.readouterr().err
