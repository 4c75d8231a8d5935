"""Issue 31: the template index in the model folder, `logllm learn` (no labels), `detect --baseline`, `logllm accept`
(ledger: list, undo, expiry, atomic writes, bad input) and `train --init` keeping the index and ledger.

The learned folders here use the tiny preset (`build_learner` patched) so each command takes about a second; the
MiniLM path of `build_learner` is what the benchmark (bench/learn.py) runs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logllm.modeling.templates_logllm import (
    LEDGER_FILE,
    TEMPLATE_INDEX_FILE,
    TemplateIndex,
    TemplateIndexBuilder,
    TemplateIndexError,
)

NEW_LINE = "kernel: EXT3-fs error on device sda1 reading directory failed"


def quiet_log(n: int = 300, seed: int = 0) -> str:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.random()
        if k < 0.5:
            rows.append(f"sshd[{rng.randint(100, 999)}]: session opened for user u{rng.randint(1, 30)}")
        elif k < 0.9:
            rows.append(f"kernel: eth0 link up speed {rng.choice([100, 1000])} Mbps")
        else:
            rows.append(f"crond[{rng.randint(100, 999)}]: job {rng.randint(1, 5)} finished ok")
    return "\n".join(rows) + "\n"


def new_log() -> str:
    lines = quiet_log(60, seed=1).splitlines()
    lines.insert(25, NEW_LINE)  # window 21-40 of sliding:20
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_learner(monkeypatch):
    from logllm.modeling.presets import build_tiny

    monkeypatch.setattr("logllm.scoring.learn.build_learner", lambda seed=0, **_: build_tiny(seed=seed))


def run_cli(module: str, argv: list, capsys) -> tuple[int, str, str]:
    import importlib

    code = importlib.import_module(f"logllm.commands.{module}").main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def learned(tmp_path, tiny_learner, capsys) -> Path:
    (tmp_path / "quiet.log").write_text(quiet_log(), encoding="utf-8")
    code, out, err = run_cli("learn", [tmp_path / "quiet.log", "--output", tmp_path / "learned", "--no-progress"], capsys)
    assert code == 0, err
    assert "learned 300 lines" in out
    return tmp_path / "learned"


# ------------------------------------------------------------------------------------------ template index
def test_builder_counts_templates_and_stays_bounded():
    builder = TemplateIndexBuilder(max_lines=5)
    for i in range(50):
        builder.add(f"job {i} finished ok")
    builder.add("heartbeat ok", count=3)
    index = builder.build()
    assert len(index.lines) == 5 and index.facts["distinct_lines_left_out"] == 46
    assert index.facts["lines_read"] == 53
    assert index.templates == {"job <*> finished ok": 50, "heartbeat ok": 3}
    assert index.part("job 999 finished ok") is None  # past the line cap, still known by its template
    assert index.part("job 1 failed") == "new template"
    rare = TemplateIndex({"disk warn": 1}, {"disk warn": 1}, rare_below=3)
    assert rare.part("disk warn") == "rare template"


def test_template_index_round_trips_through_save_load_and_a_fresh_automodel(tmp_path):
    from logllm.modeling.loading import load_model
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny()
    builder = TemplateIndexBuilder()
    builder.add_lines(["job 1 started", "job 2 started", "job 3 started", "heartbeat ok"])
    index = builder.build()
    model.set_template_index(index)
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    assert {TEMPLATE_INDEX_FILE, "templates_logllm.py"} <= set(os.listdir(tmp_path / "m"))
    loaded, _, _ = load_model(tmp_path / "m")
    assert loaded.template_index.templates == index.templates and loaded.template_index.model_id == index.model_id
    script = ("import sys; from transformers import AutoModel; "
              "m = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True); "
              "assert 'logllm' not in sys.modules; "
              "print(m.template_index.part('job 9 started'), m.template_index.part('disk on fire'))")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH="")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "None new template"


@pytest.mark.parametrize("damage, message", [
    ("corrupt", "not a readable template index"),
    ("foreign", "belongs to another model"),
    ("missing", "missing"),
])
def test_corrupt_foreign_or_missing_index_is_an_error_naming_the_file(tmp_path, damage, message):
    from logllm.modeling.loading import ModelLoadError, load_model
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny()
    builder = TemplateIndexBuilder()
    builder.add("heartbeat ok")
    model.set_template_index(builder.build())
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / TEMPLATE_INDEX_FILE
    if damage == "corrupt":
        path.write_text('{"format": "logllm-template-ind', encoding="utf-8")
    elif damage == "foreign":
        builder.build().save(tmp_path / "other")  # another model id
        path.write_bytes((tmp_path / "other" / TEMPLATE_INDEX_FILE).read_bytes())
    else:
        path.unlink()
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "m")
    assert str(path) in str(err.value) and message in str(err.value)


def test_new_template_with_an_embedding_close_to_training_is_flagged(tmp_path):
    """The window's only unusual line is of a new template, but the embedding distance does not see it."""
    from logllm.modeling.presets import build_tiny
    from logllm.scoring.detector import Detector
    from logllm.scoring.learn import LearnSettings, learn_detector

    model, processor = build_tiny()
    rows = [{"lines": quiet_log(20, seed=s).splitlines()} for s in range(5)]
    learn_detector(model, processor, rows, LearnSettings(novelty_decides=True))
    detector = Detector(model, processor)
    detector.point.novelty_threshold = 1.99  # no embedding distance flags: only the template rule can
    near = "kernel: eth0 link down speed 1000 Mbps"  # one word from a known line
    lines = quiet_log(9, seed=7).splitlines() + [near]
    [result] = detector.score([{"lines": lines, "window_id": "w", "line_numbers": list(range(1, 11))}])
    assert result.line_novelty[-1] < detector.point.novelty_threshold
    assert result.status == "anomalous" and result.reason == "new template"
    assert result.line_parts == [None] * 9 + ["new template"]
    assert result.suspicious_lines(3)[0][2] == near
    # a trained-model folder (decoder decides) with an index flags it the same way
    detector.point.decoder_decides = True
    [again] = detector.score([{"lines": lines, "window_id": "w", "line_numbers": list(range(1, 11))}])
    assert again.anomalous and "new template" in again.reason


# ------------------------------------------------------------------------------------------ learn / detect / accept
def test_learn_detect_accept_list_undo_end_to_end(tmp_path, learned, capsys):
    readme = (learned / "README.md").read_text()
    assert "The decoder is not trained" in readme and "| lines read | 300 |" in readme
    config = json.loads((learned / "config.json").read_text())
    assert config["operating_point"]["decoder_decides"] is False and config["template_index"]["templates"] == 3
    (tmp_path / "new.log").write_text(new_log(), encoding="utf-8")
    out_file = tmp_path / "out.jsonl"
    args = [tmp_path / "new.log", "--model", learned, "--window", "sliding:20", "--no-progress"]
    code, out, err = run_cli("detect", [*args, "--output", out_file], capsys)
    assert code == 0, err
    assert "1 anomalous" in out and "new template: 1 template(s), 1 line(s)" in out
    rows = [json.loads(x) for x in out_file.read_text().splitlines()]
    flagged = [r for r in rows if r["anomalous"]]
    assert [r["reason"] for r in flagged] == ["new template"]
    assert flagged[0]["suspicious_lines"][0]["evidence"] == "new template"

    code, out, err = run_cli("accept", ["--model", learned, "--from", out_file, "--note", "known disk noise",
                                        "--until", "2999-01-01"], capsys)
    assert code == 0 and out.startswith("accepted 1: template"), err
    code, out, _ = run_cli("detect", args, capsys)
    assert "0 anomalous" in out
    code, out, _ = run_cli("accept", ["--model", learned, "--list"], capsys)
    assert "known disk noise" in out and "2999-01-01T00:00:00Z" in out and "active" in out
    code, out, _ = run_cli("accept", ["--model", learned, "--undo", "1"], capsys)
    assert code == 0 and "removed 1" in out
    code, out, _ = run_cli("detect", args, capsys)
    assert "1 anomalous" in out


def test_accept_a_raw_line_masks_it_and_expired_entries_stop_applying(tmp_path, learned, capsys):
    from logllm.modeling.loading import load_model
    from logllm.scoring.detector import Detector

    code, _, err = run_cli("accept", ["--model", learned, "--line", NEW_LINE, "--until", "2999-01-01"], capsys)
    assert code == 0, err
    model, processor, name = load_model(learned)
    detector = Detector(model, processor, name)
    window = {"lines": [NEW_LINE, "kernel: eth0 link up speed 100 Mbps"], "window_id": "w", "line_numbers": [1, 2]}
    assert not detector.score([window])[0].anomalous
    entry = json.loads((learned / LEDGER_FILE).read_text())["entries"][0]
    assert entry["kind"] == "line" and entry["until"] == "2999-01-01T00:00:00Z"
    index = detector.templates
    assert index.refresh_ledger(now=time.time() + 1e12)  # past the expiry: re-applied without the entry
    assert detector.score([window])[0].anomalous


def test_a_running_detector_picks_up_ledger_changes(tmp_path, learned):
    """What `watch` relies on: the ledger is re-read by the next scored block when the file changed."""
    from logllm.modeling.loading import load_model
    from logllm.scoring.detector import Detector
    from logllm.scoring.feedback import Ledger

    detector = Detector(*load_model(learned))
    window = {"lines": [NEW_LINE], "window_id": "w", "line_numbers": [1]}
    assert detector.score([window])[0].anomalous
    ledger = Ledger(learned)
    ledger.add("template", [detector.templates.template_of(detector.processor.preprocess_lines([NEW_LINE])[0])])
    ledger.save()
    assert not detector.score([window])[0].anomalous


def test_detect_baseline_learns_the_good_log_and_lists_what_is_new(tmp_path, tiny_learner, capsys):
    (tmp_path / "good.log").write_text(quiet_log(), encoding="utf-8")
    (tmp_path / "new.log").write_text(new_log(), encoding="utf-8")
    code, out, err = run_cli("detect", [tmp_path / "new.log", "--baseline", tmp_path / "good.log", "--window",
                                        "sliding:20", "--no-progress"], capsys)
    assert code == 0, err
    assert "baseline: learned 300 lines" in err
    assert "1 anomalous" in out and "new template: 1 template(s), 1 line(s)" in out and "error on device" in out
    code, _, err = run_cli("detect", [tmp_path / "new.log", "--baseline", tmp_path / "good.log", "--model", "x"], capsys)
    assert code == 2 and "leave out --model" in err


def test_ledger_write_is_atomic_a_crash_keeps_the_previous_ledger(learned, monkeypatch):
    from logllm.scoring import feedback
    from logllm.scoring.feedback import Ledger

    ledger = Ledger(learned)
    ledger.add("template", ["crond[<*>]: job <*> started"], note="first")
    ledger.save()
    before = (learned / LEDGER_FILE).read_bytes()

    def crash(data, handle, **kwargs):
        handle.write(json.dumps(data)[:40])  # part of the new ledger is on disk when the crash comes
        raise KeyboardInterrupt

    monkeypatch.setattr(feedback.json, "dump", crash)
    ledger = Ledger(learned)
    ledger.add("template", ["backupd[<*>]: nightly backup started"])
    with pytest.raises(KeyboardInterrupt):
        ledger.save()
    assert (learned / LEDGER_FILE).read_bytes() == before
    assert not [p for p in os.listdir(learned) if p.startswith(f".{LEDGER_FILE}")]


def test_bad_feedback_input_gets_one_clear_line(tmp_path, learned, capsys, tiny_learner):
    # a template that can match nothing specific, an unknown id, a detect output with nothing to accept
    code, _, err = run_cli("accept", ["--model", learned, "--template", "<*> <*>"], capsys)
    assert code == 2 and "no literal word" in err
    code, _, err = run_cli("accept", ["--model", learned, "--template", "   "], capsys)
    assert code == 2 and "empty" in err
    code, _, err = run_cli("accept", ["--model", learned, "--undo", "7"], capsys)
    assert code == 2 and "no entry 7" in err
    code, _, err = run_cli("accept", ["--model", learned, "--template", "x y", "--until", "2001-01-01"], capsys)
    assert code == 2 and "not in the future" in err
    (tmp_path / "quiet_out.jsonl").write_text(json.dumps(
        {"window_id": "w", "anomalous": False, "suspicious_lines": []}) + "\n", encoding="utf-8")
    code, _, err = run_cli("accept", ["--model", learned, "--from", tmp_path / "quiet_out.jsonl"], capsys)
    assert code == 2 and "hold no line" in err
    (tmp_path / "junk.jsonl").write_text("not json\n", encoding="utf-8")
    code, _, err = run_cli("accept", ["--model", learned, "--from", tmp_path / "junk.jsonl"], capsys)
    assert code == 2 and "junk.jsonl:1" in err
    # a ledger copied from another model is refused by accept and by detect, naming the file
    (tmp_path / "q2.log").write_text(quiet_log(50), encoding="utf-8")
    code, _, _ = run_cli("learn", [tmp_path / "q2.log", "--output", tmp_path / "other", "--no-progress"], capsys)
    run_cli("accept", ["--model", tmp_path / "other", "--template", "x y"], capsys)
    (learned / LEDGER_FILE).write_bytes((tmp_path / "other" / LEDGER_FILE).read_bytes())
    code, _, err = run_cli("accept", ["--model", learned, "--list"], capsys)
    assert code == 2 and str(learned / LEDGER_FILE) in err and "another model" in err
    (tmp_path / "new.log").write_text(new_log(), encoding="utf-8")
    code, _, err = run_cli("detect", [tmp_path / "new.log", "--model", learned, "--no-progress"], capsys)
    assert code == 2 and str(learned / LEDGER_FILE) in err and "another model" in err
    # a model folder without a template index
    from tests.detect_support import untrained_tiny_model_dir

    code, _, err = run_cli("accept", ["--model", untrained_tiny_model_dir(), "--template", "x y"], capsys)
    assert code == 2 and "no template index" in err
    # learn: nothing to learn from, output in the way
    (tmp_path / "empty.log").write_text("", encoding="utf-8")
    code, _, err = run_cli("learn", [tmp_path / "empty.log", "--output", tmp_path / "e"], capsys)
    assert code == 2 and "empty.log" in err
    code, _, err = run_cli("learn", [tmp_path / "q2.log", "--output", learned], capsys)
    assert code == 2 and "--overwrite" in err


def test_index_errors_are_value_errors_naming_the_ledger(learned):
    (learned / LEDGER_FILE).write_text("{", encoding="utf-8")
    from logllm.modeling.templates_logllm import read_ledger

    with pytest.raises(TemplateIndexError, match="accepted.json: not a readable ledger"):
        read_ledger(learned / LEDGER_FILE, None)


# ------------------------------------------------------------------------------------------ train --init
def test_train_init_from_a_learned_folder_keeps_its_index_and_ledger(tmp_path, learned, capsys):
    from tests.test_train_pipeline import tiny_args, tiny_dataset

    from logllm.scoring.feedback import Ledger
    from logllm.training.stages import run_training
    from train.train_logllm import init_as_model_path

    ledger = Ledger(learned)
    ledger.add("template", ["crond[<*>]: job <*> started"], note="kept through training")
    ledger.save()
    before = json.loads((learned / TEMPLATE_INDEX_FILE).read_text())
    argv = init_as_model_path(["--init", str(learned), "--stages", "3", "--evaluate_test", "false"])
    assert argv[:2] == ["--model_name_or_path", str(learned)]
    result = run_training(*tiny_args(tmp_path / "run", *argv), dataset=tiny_dataset())
    final = result.final_model_dir
    after = json.loads((final / TEMPLATE_INDEX_FILE).read_text())
    assert after["model_id"] == before["model_id"]
    learned_templates = dict(map(tuple, before["templates"]))
    merged = dict(map(tuple, after["templates"]))
    assert all(merged.get(t, 0) >= n for t, n in learned_templates.items())  # the learned counts are kept
    assert after["facts"]["lines_read"] > before["facts"]["lines_read"]  # and the training normals added
    assert json.loads((final / LEDGER_FILE).read_text())["entries"][0]["note"] == "kept through training"
    config = json.loads((final / "config.json").read_text())
    assert config["operating_point"]["decoder_decides"] is True  # a trained decoder decides again
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert summary["template_index"]["lines_read"] == after["facts"]["lines_read"]  # reported with the run
    with pytest.raises(ValueError, match="not a saved model folder"):
        init_as_model_path(["--init", str(tmp_path / "nowhere")])


def test_watch_honours_an_accept_made_while_it_runs(tmp_path, learned):
    """`logllm watch` alerts on a new template, then (after `accept`, no restart) not on the same template."""
    import io

    from logllm.commands.watch import Watcher
    from logllm.modeling.loading import load_model
    from logllm.scoring.detector import Detector
    from logllm.scoring.feedback import Ledger

    known = quiet_log(8, seed=3).splitlines()
    log = tmp_path / "live.log"
    log.write_text("\n".join(known[:4] + [NEW_LINE]) + "\n", encoding="utf-8")
    out = io.StringIO()
    watcher = Watcher(log, Detector(*load_model(learned)), size=5, step=5, from_start=True, out=out)
    watcher.step()
    assert watcher.stats.alerts == 1 and "ALERT" in out.getvalue()
    ledger = Ledger(learned)
    ledger.add("template", [watcher.detector.templates.template_of(
        watcher.detector.processor.preprocess_lines([NEW_LINE])[0])], note="expected after the upgrade")
    ledger.save()
    with open(log, "a", encoding="utf-8") as handle:
        handle.write("\n".join(known[4:8] + [NEW_LINE]) + "\n")
    watcher.step()
    assert watcher.stats.windows == 2 and watcher.stats.alerts == 1
