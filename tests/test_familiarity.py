"""First contact with unfamiliar logs (issue 20): say when the model does not know them, instead of flagging everything.

The model: the offline default (pretrained MiniLM encoder) with a novelty index of synthetic HDFS-like normal lines
(the quickstart's kind of logs) and its operating point (`detect_support.indexed_default_model_dir`). On the 13
unlabeled Loghub systems it must report the input as unfamiliar, windows as 'unfamiliar' (not 'anomalous'), once,
with the commands that train a detector on one's own logs; on its own kind of logs it must not.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import indexed_default_model_dir  # noqa: E402

FOREIGN_SYSTEMS = ("Android", "Apache", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH", "OpenStack",
                   "Proxifier", "Spark", "Windows", "Zookeeper")
SAMPLE_LINES = 200
HEADLINE = "The model has never seen logs like these"


@pytest.fixture(scope="module")
def model_dir() -> str:
    return str(indexed_default_model_dir())


@pytest.fixture(scope="module")
def detector(model_dir):
    from logllm.scoring.detector import Detector

    return Detector.load(model_dir, batch_size=16)


def _head(path: Path, out: Path, lines: int = SAMPLE_LINES) -> Path:
    with open(path, "rb") as handle:
        out.write_bytes(b"".join(line for _, line in zip(range(lines), handle)))
    return out


def _own_kind_log(path: Path, sessions: int = 60, seed: int = 123) -> Path:
    """Held-out synthetic HDFS-like logs (another seed than the index's), anomalies included, raw text."""
    from logllm.logs.synthetic import hdfs_like_lines

    path.write_text("".join(line.text + "\n" for line in hdfs_like_lines(sessions, seed=seed, anomaly_rate=0.1)))
    return path


def _web_log(path: Path, n: int = 120, seed: int = 0) -> Path:
    """A system the model never saw (made up here, so the CLI test runs without ../shared)."""
    rng = random.Random(seed)
    rows = [f'10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)} - - "GET /static/{rng.choice(["app.js", "logo.png", "main.css"])}'
            f' HTTP/1.1" {rng.choice([200, 200, 304, 404])} {rng.randint(100, 90000)} "Mozilla/5.0"' for _ in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _familiarity(detector, path: Path, window: str | None = None):
    from logllm.dataset.user_logs import read_input
    from logllm.report.detection import DetectionTally

    read = read_input(path, window=window)
    results = detector.score(read.windows, line_scores=False)
    tally = DetectionTally(max_rows=0, novelty_threshold=detector.novelty_threshold)
    for result in results:
        tally.add(result)
    return tally, results


# ------------------------------------------------------------------------------------ the 13 Loghub systems
@pytest.mark.parametrize("system", FOREIGN_SYSTEMS)
def test_each_unlabeled_loghub_system_is_reported_unfamiliar_not_anomalous(system, loghub_dir, detector, tmp_path):
    """Done-when of issue 20: on each foreign system the input is unfamiliar and no window reads as 'anomalous'."""
    from logllm.report.detection import unfamiliar_message

    sample = _head(loghub_dir / "loghub" / system / f"{system}_2k.log", tmp_path / f"{system}.log")
    tally, results = _familiarity(detector, sample)
    facts = tally.familiarity()
    assert facts["unfamiliar_input"], facts
    assert facts["unfamiliar_share"] > 0.5 and facts["unseen_line_share"] > 0.5, facts
    unfamiliar = [r for r in results if r.status == "unfamiliar"]
    assert all(not r.anomalous for r in unfamiliar)      # unfamiliar windows are never called anomalous
    assert unfamiliar_message(None, tally).startswith(HEADLINE)


def test_own_kind_of_logs_is_not_unfamiliar(detector, tmp_path):
    """Held-out synthetic HDFS-like logs (the index's kind, another seed): every window familiar, no message."""
    from logllm.report.detection import unfamiliar_message

    tally, results = _familiarity(detector, _own_kind_log(tmp_path / "hdfs_like.log"))
    facts = tally.familiarity()
    assert len(results) == 60 and facts["unfamiliar_windows"] == 0 and not facts["unfamiliar_input"], facts
    assert unfamiliar_message(None, tally) is None


def test_real_hdfs_lines_are_the_models_kind(detector, loghub_dir, tmp_path):
    """Real HDFS (Loghub HDFS_2k) is what the synthetic HDFS-like logs imitate: familiar, unlike the 13 systems."""
    sample = _head(loghub_dir / "loghub" / "HDFS" / "HDFS_2k.log", tmp_path / "HDFS.log")
    facts = _familiarity(detector, sample)[0].familiarity()
    assert not facts["unfamiliar_input"] and facts["unfamiliar_share"] < 0.25, facts


# ------------------------------------------------------------------------------------------ what people see
def test_detect_says_it_once_and_fail_on_anomaly_exits_3(model_dir, tmp_path, capsys):
    """detect on logs the model never saw: one message with the commands to run, windows counted as unfamiliar, no
    anomalous rows; --fail-on-anomaly exits 3 (not 0: it did not pass; not 1: nothing anomalous was found)."""
    from logllm.commands.detect import EXIT_OK, EXIT_UNFAMILIAR, main
    from logllm.report.detection import OWN_LOGS_COMMANDS

    log = _web_log(tmp_path / "access.log")
    assert main([str(log), "--model", model_dir, "--no-progress"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.count(HEADLINE) == 1, out
    assert all(out.count(command) == 1 for command in OWN_LOGS_COMMANDS), out
    assert "0 anomalous, 3 unfamiliar" in out.splitlines()[0], out
    assert "No window could be judged: every window is unfamiliar." in out
    assert main([str(log), "--model", model_dir, "--no-progress", "--fail-on-anomaly"]) == EXIT_UNFAMILIAR
    assert "exit status 3" in capsys.readouterr().err


def test_detect_on_own_kind_says_nothing_about_familiarity(model_dir, tmp_path, capsys):
    from logllm.commands.detect import EXIT_UNFAMILIAR, main

    code = main([str(_own_kind_log(tmp_path / "hdfs_like.log")), "--model", model_dir, "--no-progress",
                 "--fail-on-anomaly"])
    captured = capsys.readouterr()
    assert code != EXIT_UNFAMILIAR and code in (0, 1), captured.err
    assert HEADLINE not in captured.out and "unfamiliar" not in captured.out.splitlines()[0]
    assert "carries no index" not in captured.err


def test_detect_notes_a_model_without_an_index(tmp_path, capsys):
    """A model that cannot measure familiarity says so instead of staying silent."""
    from detect_support import untrained_tiny_model_dir

    from logllm.commands.detect import main
    from logllm.report.detection import NO_INDEX_NOTE

    assert main([str(_web_log(tmp_path / "access.log")), "--model", str(untrained_tiny_model_dir()),
                 "--no-progress"]) == 0
    assert capsys.readouterr().err.count(NO_INDEX_NOTE) == 1


def test_watch_warns_once_and_reports_familiarity(detector, tmp_path, capsys):
    """watch from the start of a foreign log, one pass: one warning on stderr, the summary counts unfamiliar windows,
    and no window alerts."""
    import io

    from logllm.commands.watch import Watcher

    log = _web_log(tmp_path / "access.log", n=200)
    out = io.StringIO()
    watcher = Watcher(log, detector, size=20, step=20, from_start=True, out=out)
    while watcher.step():
        pass
    stats = watcher.finish()
    err = capsys.readouterr().err
    assert err.count("logllm watch: warning: " + HEADLINE) == 1, err
    assert stats.windows == 10 and stats.alerts == 0 and "ALERT" not in out.getvalue()
    assert stats.summary()["familiarity"]["unfamiliar_windows"] == 10


def test_watch_stays_quiet_on_own_kind(detector, tmp_path, capsys):
    from logllm.commands.watch import Watcher

    watcher = Watcher(_own_kind_log(tmp_path / "hdfs_like.log", sessions=20), detector, fmt="hdfs", size=20, step=20,
                      from_start=True, threshold=1.0)
    while watcher.step():
        pass
    stats = watcher.finish()
    assert "warning" not in capsys.readouterr().err
    assert stats.windows > 5 and stats.summary()["familiarity"]["unfamiliar_windows"] == 0


def test_space_shows_the_banner_on_foreign_logs(model_dir, tmp_path):
    from logllm.space.app import analyze

    text = _web_log(tmp_path / "access.log").read_text()
    outputs = analyze(None, text, None, model_dir, "auto", "", None, progress=lambda *a, **k: None)
    summary, table = outputs[0], outputs[1]
    assert summary.startswith(f"> ⚠️ {HEADLINE}"), summary
    assert "**0 anomalous**, **3 unfamiliar**" in summary
    assert set(table["status"]) == {"unfamiliar"}


# ------------------------------------------------------------------------- the advice is a real command
def test_own_logs_commands_run_as_written(tmp_path, monkeypatch):
    """The commands the message gives: `data build` writes the config `train` is told to read, `train` parses them
    (normal-only, no test evaluation of unlabeled logs) and the model lands where `detect --model` looks."""
    import shlex

    from logllm.cli import main as cli
    from logllm.report.detection import OWN_LOGS_COMMANDS
    from logllm.training.recipes import parse_arguments

    build, train, detect = (shlex.split(c) for c in OWN_LOGS_COMMANDS)
    monkeypatch.chdir(tmp_path)
    _web_log(tmp_path / "YOUR.log", n=400)
    assert build[:3] == ["logllm", "data", "build"]
    assert cli(build[1:]) in (0, None)
    script, training, _ = parse_arguments(train[2:])
    assert (tmp_path / script.dataset_name / script.dataset_config).is_dir(), list((tmp_path / "mine").iterdir())
    assert script.normal_only and not script.evaluate_test
    assert detect[detect.index("--model") + 1] == str(Path(training.output_dir) / "final_model")
