"""An interrupted training run can always go on (issue 30, part B 2): incomplete checkpoints are skipped, stage
snapshots and their leftovers are atomic, Ctrl-C and an occupied output folder are one line each."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from logllm.atomic import STALE_AFTER_S, remove_stale_temporaries
from logllm.training.arguments import StageConfig
from logllm.training.stages import ResumeError, completed_stage_record, last_checkpoint, resolve_resume
from logllm.training.trainer import load_trainable_snapshot, save_trainable_snapshot


def checkpoint(stage_dir: Path, step: int, state: str | None) -> Path:
    folder = stage_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    return folder


def test_resume_picks_the_newest_complete_checkpoint(tmp_path, caplog):
    stage = tmp_path / "stage3"
    checkpoint(stage, 2, json.dumps({"global_step": 2}))
    good = checkpoint(stage, 10, json.dumps({"global_step": 10}))  # 10 > 9: by step, not by name
    checkpoint(stage, 9, json.dumps({"global_step": 9}))
    checkpoint(stage, 11, '{"global_step": 1')  # trainer_state.json cut short
    checkpoint(stage, 12, None)  # killed before trainer_state.json
    (stage / "checkpoint-13.txt").write_text("not a checkpoint")
    with caplog.at_level(logging.WARNING, logger="logllm.training.stages"):
        assert last_checkpoint(stage) == str(good)
    notes = [r.getMessage() for r in caplog.records]
    assert any("checkpoint-12 is incomplete (no trainer_state.json" in n for n in notes)
    assert any("checkpoint-11 is incomplete (its trainer_state.json is cut short" in n for n in notes)


def test_no_complete_checkpoint_starts_the_stage_over(tmp_path, caplog):
    stage = tmp_path / "stage1"
    checkpoint(stage, 5, None)
    with caplog.at_level(logging.WARNING, logger="logllm.training.stages"):
        assert last_checkpoint(stage) is None
    assert any("no complete checkpoint; the stage starts over" in r.getMessage() for r in caplog.records)
    assert last_checkpoint(tmp_path / "stage2a") is None  # a stage not started yet


def test_an_explicit_incomplete_checkpoint_is_refused_clearly(tmp_path):
    stages = [StageConfig(name="3", trains=("decoder",), learning_rate=1e-3, epochs=1)]
    partial = checkpoint(tmp_path / "stage3", 4, None)
    with pytest.raises(ResumeError, match="checkpoint-4 is incomplete .*pass true"):
        resolve_resume(str(partial), tmp_path, stages)
    with pytest.raises(ResumeError, match="no such checkpoint folder"):
        resolve_resume(str(tmp_path / "stage3" / "checkpoint-99"), tmp_path, stages)


def test_stage_snapshot_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    final = tmp_path / "stage1" / "final"
    save_trainable_snapshot(model, final, {"stage": "1", "steps": 3})
    before = (final / "trainable.safetensors").read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with torch.no_grad():
        model.weight.add_(1.0)
    monkeypatch.setattr(json, "dumps", killed)  # dies after the weights were written, before their description
    with pytest.raises(KeyboardInterrupt):
        save_trainable_snapshot(model, final, {"stage": "1", "steps": 4})
    monkeypatch.undo()
    assert (final / "trainable.safetensors").read_bytes() == before  # the earlier snapshot, untouched
    assert json.loads((final / "snapshot.json").read_text())["steps"] == 3
    assert sorted(p.name for p in final.parent.iterdir()) == ["final"]  # no half-written folder beside it
    # and a first snapshot killed half way leaves no final/: the stage is redone on resume, not replayed half
    fresh = tmp_path / "stage2a" / "final"
    monkeypatch.setattr(json, "dumps", killed)
    with pytest.raises(KeyboardInterrupt):
        save_trainable_snapshot(model, fresh, {"stage": "2a"})
    monkeypatch.undo()
    assert not fresh.exists()
    assert completed_stage_record(StageConfig(name="2a", trains=("projector",), learning_rate=1e-3, epochs=1), _Staged(model), tmp_path) is None
    assert load_trainable_snapshot(model, final)["steps"] == 3


class _Staged(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def set_training_stage(self, trains):
        pass


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    host = socket.gethostname()
    target = tmp_path / "final_model"
    names = {
        "dead": f".final_model.{dead_pid()}@{host}.a1b2c3d4.tmp",           # a killed save on this host
        "mine": f".final_model.{os.getpid()}@{host}.e5f6g7h8.tmp",          # this process is writing it
        "other_old": ".final_model.1@elsewhere.example.i9j0k1l2.tmp",       # another host, untouched for a day
        "other_new": ".final_model.1@elsewhere.example.m3n4o5p6.tmp",       # another host, written just now
        "legacy_old": ".final_model.q7r8s9t0.tmp",                          # an older logllm's, untouched for a day
        "legacy_new": ".final_model.u1v2w3x4.tmp",
        "unrelated": ".final_model_2.abcdefgh.tmp",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"x")
    day_ago = time.time() - 24 * 3600
    for key in ("other_old", "legacy_old"):
        for path in (tmp_path / names[key], tmp_path / names[key] / "model.safetensors"):
            os.utime(path, (day_ago, day_ago))
    removed = {p.name for p in remove_stale_temporaries(target)}
    assert removed == {names["dead"], names["other_old"], names["legacy_old"]}
    assert all((tmp_path / names[k]).exists() for k in ("mine", "other_new", "legacy_new", "unrelated"))
    later = time.time() + STALE_AFTER_S + 60  # nothing written for an hour: stale whoever wrote it
    assert {p.name for p in remove_stale_temporaries(target, now=later)} == {names["other_new"], names["legacy_new"]}
    assert (tmp_path / names["mine"]).exists()


def test_ctrl_c_during_training_is_one_line_with_the_resume_command(tmp_path, capsys, monkeypatch):
    from logllm.cli import main
    from logllm.training.trainer import LogLLMTrainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(LogLLMTrainer, "training_step", interrupted)
    out = tmp_path / "run"
    argv = ["train", "--config", "tiny/synthetic", "--output_dir", str(out), "--max_train_windows", "20"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1] == (f"logllm train: interrupted; resume with `logllm train --config tiny/synthetic --output_dir "
                       f"{out} --max_train_windows 20 --resume_from_checkpoint true`")
    # rerunning without the flag: one line, exit 2
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith(f"logllm train: error: {out} already holds a training run (stage")
    assert "--resume_from_checkpoint true" in err[-1]


@pytest.mark.parametrize("name", ["evaluate", "data", "quickstart"])
def test_ctrl_c_in_any_command_is_one_line_and_exit_130(capsys, monkeypatch, name):
    import importlib

    from logllm.cli import SUBCOMMANDS, main

    module_name, _, function = SUBCOMMANDS[name][0].partition(":")

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module_name), function or "main", interrupted)
    assert main([name]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"logllm {name}: interrupted; ")
    assert len(captured.err.strip().splitlines()) == 1


def test_ctrl_c_in_detect_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    from logllm.commands import detect

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(detect, "run", interrupted)
    assert detect.main([str(tmp_path / "app.log")]) == 130
    err = capsys.readouterr().err
    assert err == "logllm detect: interrupted; run it again (an --output file is written whole or not at all)\n"


def test_a_bad_resume_path_is_one_line_that_does_not_blame_the_dataset(tmp_path, capsys):
    from logllm.cli import main

    out = tmp_path / "run"
    partial = checkpoint(out / "stage1", 2, None)
    for path, expected in ((partial, "checkpoint-2 is incomplete (no trainer_state.json"),
                           (out / "stage1" / "checkpoint-7", "no such checkpoint folder")):
        code = main(["train", "--config", "tiny/synthetic", "--output_dir", str(out), "--max_train_windows", "20",
                     "--resume_from_checkpoint", str(path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and "Traceback" not in "\n".join(err)
        assert err[-1].startswith(f"logllm train: error: --resume_from_checkpoint {path}: ") and expected in err[-1]
        assert "dataset_name" not in err[-1]
