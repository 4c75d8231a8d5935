"""Streaming windows and the watch loop: windows complete on time, alerts carry latency."""

from __future__ import annotations

import io
import threading
import time

from logllm.logs.errors import BuildReport
from logllm.logs.records import LogRecord
from logllm.scoring.detector import WindowResult
from logllm.commands.watch import watch


def _record(i: int) -> LogRecord:
    return LogRecord("app.log", i, f"l{i}")


def test_windower_emits_every_step_with_bounded_buffer():
    from logllm.windows.windowing import SlidingWindower

    w = SlidingWindower(size=4, step=2)
    emitted = [w.add(_record(i)) for i in range(1, 11)]
    windows = [x for x in emitted if x is not None]
    assert [x["line_numbers"] for x in windows] == [[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10]]
    assert len(w.buffer) <= 4


def test_windower_flushes_a_quiet_partial_window_once():
    from logllm.windows.windowing import SlidingWindower

    w = SlidingWindower(size=10, step=10)
    for i in range(1, 4):
        w.add(_record(i))
    partial = w.flush(end=False)
    assert partial["line_numbers"] == [1, 2, 3] and w.report["partial_windows"] == 1
    assert w.flush(end=False) is None  # nothing new since


def test_watch_and_files_share_one_windower():
    """`sliding_windows` (files) is the windower `watch` feeds: same windows, same counters."""
    from logllm.windows.windowing import SlidingWindower, sliding_windows

    records = [_record(i) for i in range(1, 24)]
    fed, by_file = BuildReport(), BuildReport()
    w = SlidingWindower(5, 7, report=fed)
    windows = [x for x in map(w.add, records) if x is not None] + [w.flush()]
    assert windows == list(sliding_windows(records, 5, 7, report=by_file))
    assert fed.counts == by_file.counts and fed["lines_between_windows"] == 6


class KeywordDetector:
    """Scores a window by whether it contains 'FATAL' (stands in for a model in loop tests)."""

    batch_size = 4

    def score(self, windows, threshold=0.5, progress=None, line_scores="flagged"):
        out = []
        for w in windows:
            line_scores = [1.0 if "FATAL" in t else 0.0 for t in w["lines"]]
            score = max(line_scores)
            out.append(WindowResult(w["window_id"], w["source"], w["line_numbers"], w["lines"], score,
                                    score >= threshold, line_scores, w["label"], w["line_labels"]))
        return out

    def explain(self, results):  # line scores are already there
        pass


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
    # the writer is done after ~0.6 s; the watch runs well past that, so a busy machine still sees both files
    stats = watch(log, KeywordDetector(), size=5, step=5, duration=3.0, poll_interval=0.02, out=out)
    thread.join()
    text = out.getvalue()
    assert stats.lines == 15 and stats.windows == 3 and stats.alerts == 2
    assert "ALERT app.log:6-10" in text and "app.log:7  FATAL disk gone" in text
    assert "ALERT app.log:1-5" in text and "app.log:4  FATAL again" in text  # new file, numbering restarted
    assert "latency" in text and stats.follow.rotations == 1
    summary = stats.summary()
    assert summary["latency_ms_p50"] is not None and summary["latency_ms_p50"] >= 0  # measured; no timing bound


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


# --------------------------------------------------------------------------------------------- issue 17


class RecordingDetector(KeywordDetector):
    """KeywordDetector that remembers the windows it scored and how."""

    def __init__(self):
        self.scored, self.calls, self.explained = [], [], []

    def score(self, windows, threshold=0.5, progress=None, line_scores="flagged"):
        self.scored.extend(windows)
        self.calls.append(len(windows))
        return super().score(windows, threshold, progress, line_scores)

    def explain(self, results):
        self.explained.extend(results)


def test_half_filled_window_is_scored_at_exit_with_notes(tmp_path):
    """Case 3: 77 lines written, 60 scored, no note; now the last 7 are a scored partial window."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\0" * 100 + b"".join(b"info %d\n" % i for i in range(1, 71)) + b"\n" +
                    b"".join(b"info %d\n" % i for i in range(71, 78)))
    detector = RecordingDetector()
    stats = watch(log, detector, size=10, step=10, from_start=True, duration=0.5, poll_interval=0.01, out=io.StringIO())
    numbers = [n for w in detector.scored for n in w["line_numbers"]]
    assert numbers == [n for n in range(1, 79) if n != 71]            # every line once, blank line 71 counted
    assert stats.windows == 8 and stats.lines == 78 and stats.lines_not_scored == 0
    assert any("1 blank line(s) were skipped" in n for n in stats.notes)
    assert any("NUL bytes (100 in all" in n for n in stats.notes)
    assert all("\x00" not in t for w in detector.scored for t in w["lines"])   # NULs never reach the model


def test_truncation_and_rotation_close_the_old_files_half_window(tmp_path):
    """Case 3: the half window of the old file is scored, never dropped and never mixed with the new file."""
    from logllm.commands.watch import Watcher

    log = tmp_path / "app.log"
    log.write_text("".join(f"old {i}\n" for i in range(1, 36)))
    detector = RecordingDetector()
    watcher = Watcher(log, detector, size=10, step=10, from_start=True, out=io.StringIO())
    watcher.step()
    log.write_text("".join(f"new {i}\n" for i in range(1, 61)))      # truncated and refilled before the next poll
    while watcher.step():
        pass
    stats = watcher.finish()
    assert [(w["lines"][0], w["line_numbers"][0], w["line_numbers"][-1]) for w in detector.scored] == (
        [("old 1", 1, 10), ("old 11", 11, 20), ("old 21", 21, 30), ("old 31", 31, 35)]
        + [(f"new {n}", n, n + 9) for n in range(1, 61, 10)])
    assert stats.follow.truncations == 1 and stats.lines == 95


def test_duration_stops_scoring_a_backlog_and_counts_what_is_left(tmp_path, monkeypatch):
    """Case 13: `--duration` must hold while a backlog is scored; every line read is scored or counted left over.

    A fake clock moves 10 s per scored batch, so the test does not depend on the machine's speed.
    """
    import time as time_module

    log = tmp_path / "app.log"
    log.write_text("".join(f"FATAL {i}\n" for i in range(1000)))     # every window flagged: evidence is asked for
    clock = [0.0]
    monkeypatch.setattr(time_module, "monotonic", lambda: clock[0])
    detector = RecordingDetector()
    original = detector.score

    def slow_score(windows, threshold=0.5, progress=None, line_scores="flagged"):
        clock[0] += 10.0
        return original(windows, threshold, progress, line_scores)

    detector.score = slow_score
    stats = watch(log, detector, size=5, step=5, from_start=True, duration=25, poll_interval=0.0, out=io.StringIO())
    assert detector.calls == [4, 4, 4, 4]           # three batches until the deadline, one last at exit
    assert detector.explained == []                 # a backlog waits: evidence only while keeping up
    scored = sum(len(w["lines"]) for w in detector.scored)
    assert scored == 4 * 4 * 5 and stats.lines == 1000 and scored + stats.lines_not_scored == 1000
    assert any("were read but not scored" in note for note in stats.notes)


def test_watch_folder_and_alerts_in_a_missing_folder_are_errors(tmp_path, capsys):
    """Case 7: both raised tracebacks."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_support import untrained_tiny_model_dir

    from logllm.commands.watch import main

    model = str(untrained_tiny_model_dir())
    assert main([str(tmp_path), "--model", model, "--duration", "1"]) == 2
    assert "is a folder; logllm watch follows one log file" in capsys.readouterr().err
    (tmp_path / "app.log").write_text("x\n")
    assert main([str(tmp_path / "app.log"), "--model", model, "--alerts", str(tmp_path / "no" / "a.jsonl"),
                 "--duration", "1"]) == 2
    assert "cannot write --alerts" in capsys.readouterr().err
    assert main([str(tmp_path / "app.log"), "--model", model, "--window", "sliding:nan"]) == 2


def test_sigterm_scores_the_half_window_and_prints_the_summary(tmp_path):
    """Case 3: under SIGTERM no summary was printed and the half-filled window was lost."""
    import json
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_support import untrained_tiny_model_dir

    log = tmp_path / "app.log"
    log.write_text("".join(f"info {i}\n" for i in range(1, 8)))
    proc = subprocess.Popen([sys.executable, "-m", "logllm", "watch", str(log), "--model", str(untrained_tiny_model_dir()),
                             "--from-start", "--window", "sliding:5", "--threshold", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        first = proc.stdout.readline()          # the first full window's alert: following has started
        assert "ALERT app.log:1-5" in first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "ALERT app.log:6-7" in out                        # the half-filled window, scored at exit
    summary = json.loads(err.strip().splitlines()[-1].split("logllm watch: ", 1)[1])
    assert summary["lines"] == 7 and summary["windows"] == 2 and summary["lines_not_scored"] == 0


def test_evidence_goes_to_the_most_anomalous_alerts_while_keeping_up(tmp_path):
    """Issue 19: line evidence (a forward pass per distinct line) never holds the stream back: a batch explains at
    most `evidence_per_batch` alerts, the most anomalous first, and none while a backlog waits; the rest are
    counted as alerts without evidence."""
    from logllm.commands.watch import Watcher

    class Ranked(RecordingDetector):
        def score(self, windows, threshold=0.5, progress=None, line_scores="flagged"):
            results = super().score(windows, threshold, progress, line_scores)
            for r in results:
                r.ranking = r.score = 0.5 + sum("FATAL" in t for t in r.lines) / 10
            return results

    log = tmp_path / "app.log"
    log.write_text("")
    detector = Ranked()
    watcher = Watcher(log, detector, size=2, step=2, out=io.StringIO(), evidence_per_batch=1)
    with open(log, "a") as handle:   # one batch of 4 windows: the second has two FATAL lines
        handle.write("FATAL a\ninfo\nFATAL b\nFATAL c\nFATAL d\ninfo\nFATAL e\ninfo\n")
    watcher.step()
    assert [r.window_id for r in detector.explained] == ["app.log:3-4"]
    assert watcher.stats.alerts == 4 and watcher.stats.alerts_without_evidence == 3
    with open(log, "a") as handle:   # 3 batches at once: the first two have a backlog behind them
        handle.write("".join(f"FATAL {i}\ninfo\n" for i in range(12)))
    watcher.step()
    assert len(detector.explained) == 2 and watcher.stats.alerts_without_evidence == 3 + 11
    watcher.evidence_per_batch = 0
    with open(log, "a") as handle:
        handle.write("FATAL x\ninfo\n")
    watcher.step()
    assert len(detector.explained) == 2 and watcher.finish().alerts_without_evidence == 3 + 11 + 1


def test_watch_guesses_the_line_format_like_detect(tmp_path):
    """An HDFS or BGL file is read in its own format (as plain text its lines look unfamiliar to a model trained on
    it); an empty or missing file starts plain."""
    from logllm.commands.watch import build_parser, guess_line_format

    hdfs = tmp_path / "hdfs.log"
    hdfs.write_text("".join(f"081109 2035{i:02d} 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_{i} src: "
                            f"/10.250.19.102:54106 dest: /10.250.19.102:50010\n" for i in range(20)))
    bgl = tmp_path / "bgl.log"
    bgl.write_text("".join(f"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.{i:06d} "
                           f"R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected\n"
                           for i in range(20)))
    plain = tmp_path / "app.log"
    plain.write_text("service started\nrequest served in 3 ms\n")
    assert guess_line_format(hdfs)[0] == "hdfs" and guess_line_format(bgl)[0] == "bgl"
    assert guess_line_format(plain)[0] == "plain"
    fmt, why = guess_line_format(tmp_path / "not-yet.log")
    assert fmt == "plain" and "does not exist yet" in why
    assert build_parser().parse_args([str(hdfs)]).fmt == "auto"
