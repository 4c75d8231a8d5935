"""The staged Trainer pipeline on a tiny model and a handful of short windows: outputs, best model, resume, faults,
push."""

from __future__ import annotations

import json
import logging
import math
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import TrainerCallback

from logllm.modeling.presets import build_tiny
from logllm.training.data import TrainingDataError
from logllm.training.recipes import RECIPES_DIR, parse_arguments
from logllm.training.stages import run_training
from logllm.training.trainer import NonFiniteLossError

NORMAL = ["Receiving block <*> src: /<*> dest: /<*>", "PacketResponder <*> for block <*> terminating",
          "Received block <*> of size <*> from /<*>", "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to <*> size <*>"]
ANOMALY = "writeBlock <*> received exception java.io.IOException: Could not read from stream"


def window_rows(n: int, anomalous_every: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        lines = [NORMAL[(i + j) % len(NORMAL)] for j in range(4 + i % 3)]  # 4..6 lines
        label = int(anomalous_every > 0 and (i + offset) % anomalous_every == 0)
        if label:
            lines.insert(2, ANOMALY)
        rows.append({"window_id": f"w{offset + i}", "lines": lines, "label": label})
    return rows


def tiny_dataset(train_anomalous_every: int = 4) -> DatasetDict:
    return DatasetDict(
        train=Dataset.from_list(window_rows(12, train_anomalous_every)),
        validation=Dataset.from_list(window_rows(4, 2, offset=100)),
        test=Dataset.from_list(window_rows(6, 2, offset=200)),
    )


# The quickstart's training with the tiny model, all four stages training what the paper's do, and validation plus a
# checkpoint after every step (so that resuming and the best-model choice have something to work with).
TINY_RECIPE = f"""
base: {RECIPES_DIR / "default" / "synthetic.yaml"}
model_preset: tiny
stages:
  - {{name: "1",  learning_rate: 5.0e-4, epochs: 1, max_samples: 8}}
  - {{name: "2a", learning_rate: 1.0e-3, epochs: 1, max_samples: 480}}
  - {{name: "2b", learning_rate: 5.0e-5, epochs: 1, max_samples: 160}}
  - {{name: "3",  learning_rate: 5.0e-4, epochs: 2}}
eval_strategy: steps
eval_steps: 1
save_strategy: steps
save_steps: 1
"""
# The same run with only stage 3, which trains projector + decoder (encoder frozen): a recipe based on the one above.
FROZEN_ENCODER_RECIPE = """
base: tiny.yaml
stages:
  - {name: "3", trains: projector + decoder, learning_rate: 5.0e-4, epochs: 2}
"""


def tiny_args(output_dir: Path, *extra: str, recipe: str = "tiny.yaml"):
    recipes = output_dir.parent / f"{output_dir.name}_recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "tiny.yaml").write_text(TINY_RECIPE, encoding="utf-8")
    (recipes / "frozen.yaml").write_text(FROZEN_ENCODER_RECIPE, encoding="utf-8")
    return parse_arguments(
        [
            "--config", str(recipes / recipe), "--dataset_name", "planted_pairs", "--output_dir", str(output_dir),
            "--per_device_train_batch_size", "4", "--effective_batch_size", "8", "--per_device_eval_batch_size", "4",
            "--oversample_beta", "0.3", "--report_to", "tensorboard", "--disable_tqdm", "true", "--seed", "7",
            *extra,
        ]
    )


class Crash(RuntimeError):
    pass


class CrashAt(TrainerCallback):
    """Simulates a kill: raise in `stage` after `step` optimizer steps (after that step's checkpoint)."""

    def __init__(self, stage_dir_name: str, step: int):
        self.stage_dir_name, self.step = stage_dir_name, step

    def on_save(self, args, state, control, **kwargs):
        if Path(args.output_dir).name == self.stage_dir_name and state.global_step == self.step:
            raise Crash(f"killed in {self.stage_dir_name} at step {self.step}")


def final_state(result) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("run_full")
    result = run_training(*tiny_args(out), dataset=tiny_dataset())
    return out, result, final_state(result)


def test_run_writes_every_stage_model_eval_and_logs(uninterrupted):
    out, result, _ = uninterrupted
    assert [s["stage"] for s in result.stages] == ["1", "2a", "2b", "3"]
    assert result.stages[0]["windows"] == 8  # stage 1 sample cap
    for name, record in zip(("stage1", "stage2a", "stage2b", "stage3"), result.stages):
        assert (out / name / "final" / "trainable.safetensors").is_file()
        assert record["best"]["metric"] == "eval_loss" and Path(record["best"]["checkpoint"]).parent == out / name
        assert len(list((out / name).glob("checkpoint-*"))) == 1, f"save_total_limit 1 keeps the best in {name}"
        assert list((out / name).rglob("events.out.tfevents.*")), f"no TensorBoard events in {name}"
        assert (out / name / "trainer_state.json").is_file()
    records = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in records} == {"1", "2a", "2b", "3"}
    assert any("eval_loss" in r for r in records) and any("train_loss" in r for r in records)
    assert (out / "final_model" / "config.json").is_file() and list((out / "final_model").glob("*.safetensors"))
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_windows"] == 6
    assert metrics["dataset"] == "planted_pairs"  # the data passed in, not the recipe's synthetic 'hdfs'
    for plot in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png"):
        assert (out / "eval" / plot).is_file()
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["gradient_accumulation_steps"] == 2 and summary["seed"] == 7
    assert [s["name"] for s in summary["script_args"]["stages"]] == ["1", "2a", "2b", "3"]
    assert summary["model_args"]["model_preset"] == "tiny"
    assert summary["data"]["train_windows_after_oversampling"] > summary["data"]["train_windows"]  # beta oversampling


def test_stage_freezing_matches_the_paper(uninterrupted):
    _, result, _ = uninterrupted
    by_stage = {s["stage"]: s["trainable_parameters"] for s in result.stages}
    total = sum(p.numel() for p in result.model.parameters())
    assert by_stage["2a"] < by_stage["2b"] < by_stage["3"] == total
    assert by_stage["1"] + by_stage["2b"] == total  # decoder + (encoder, projector) = everything


def test_stage_3_with_frozen_encoder_leaves_the_encoder_untouched(tmp_path):
    before = {k: v.clone() for k, v in build_tiny(seed=7)[0].state_dict().items()}  # the run's own initial weights
    # no test evaluation: scoring afterwards keeps a line cache of its own (logllm.scoring.detector)
    result = run_training(*tiny_args(tmp_path, "--evaluate_test", "false", recipe="frozen.yaml"), dataset=tiny_dataset())
    after = result.model.state_dict()
    record = result.stages[0]
    assert record["stage"] == "3" and record["trains"] == "projector + decoder"
    assert record["trainable_parameters"] == sum(p.numel() for n, p in result.model.named_parameters() if result.model.part_of(n) != "encoder")
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("model.encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model.decoder."))
    assert result.model.line_cache is None  # the stage's line cache does not outlive the stage


class ForceBestAt(TrainerCallback):
    """Makes the validation at `step` look best by far, so the stage must end on that checkpoint, not on its last
    step; keeps the weights of the last step to compare with."""

    def __init__(self, step: int):
        self.step, self.last_step_weights = step, {}

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        if state.global_step == self.step:
            metrics["eval_loss"] = -1.0
        if state.global_step == state.max_steps:
            self.last_step_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_stage_ends_on_its_best_checkpoint_not_its_last(tmp_path):
    from safetensors.torch import load_file

    force = ForceBestAt(2)
    result = run_training(*tiny_args(tmp_path, "--stages", "3"), dataset=tiny_dataset(), callbacks=[force])
    record = result.stages[0]
    assert record["steps"] > 2 and (record["best"]["step"], record["best"]["value"]) == (2, -1.0)
    assert [p.name for p in (tmp_path / "stage3").glob("checkpoint-*")] == ["checkpoint-2"]  # save_total_limit 1
    best = load_file(str(tmp_path / "stage3" / "checkpoint-2" / "model.safetensors"))
    state = result.model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in best.items())
    assert any(not torch.equal(state[name], tensor) for name, tensor in force.last_step_weights.items())
    final = load_file(str(tmp_path / "stage3" / "final" / "trainable.safetensors"))  # what a resumed run replays
    assert all(torch.equal(best[name], tensor) for name, tensor in final.items() if name in best)


def test_killed_run_resumes_to_the_same_model_and_metrics(uninterrupted, tmp_path):
    _, full, full_state = uninterrupted
    with pytest.raises(Crash):
        run_training(*tiny_args(tmp_path), dataset=tiny_dataset(), callbacks=[CrashAt("stage3", 3)])
    assert not (tmp_path / "stage3" / "final").exists()
    with pytest.raises(FileExistsError, match="resume_from_checkpoint"):
        run_training(*tiny_args(tmp_path), dataset=tiny_dataset())
    # a kill while the Trainer wrote checkpoint-4 (all but trainer_state.json, which it writes last), and the model
    # folder a killed save left behind: resume skips the first and removes the second
    partial = tmp_path / "stage3" / "checkpoint-4"
    shutil.copytree(tmp_path / "stage3" / "checkpoint-3", partial)
    (partial / "trainer_state.json").unlink()
    stale = tmp_path / f".final_model.{dead_pid()}@{socket.gethostname()}.abcd1234.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    resumed = run_training(*tiny_args(tmp_path, "--resume_from_checkpoint", "true"), dataset=tiny_dataset())
    assert [s.get("skipped_on_resume", False) for s in resumed.stages] == [True, True, True, False]
    assert str(tmp_path / "stage3" / "checkpoint-3") == resumed.stages[-1]["resumed_from"]
    assert not stale.exists()
    state = final_state(resumed)
    worst = max((float((state[n] - t).abs().max()), n) for n, t in full_state.items())
    assert worst[0] < 1e-5, f"largest parameter difference after resume: {worst}"
    for key in ("f1", "precision", "recall", "roc_auc", "accuracy"):
        a, b = full.eval_metrics["metrics"][key], resumed.eval_metrics["metrics"][key]
        assert (a is None and b is None) or math.isclose(a, b, abs_tol=1e-6), key


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_truncated_lines_are_reported_once_per_stage_with_a_total(tmp_path, caplog):
    """Lines longer than max_tokens_per_line: one warning per stage and one per evaluation, with the total
    (the processor's per-batch count stays at debug level)."""
    args = tiny_args(tmp_path, "--run_stages", "1,2a", "--max_tokens_per_line", "8")
    # both loggers: CLI tests may have raised logllm.modeling's own level
    with caplog.at_level(logging.DEBUG, logger="logllm"), caplog.at_level(logging.DEBUG, logger="logllm.modeling"):
        result = run_training(*args, dataset=tiny_dataset())
    about_truncation = [r for r in caplog.records if "longer than max_tokens_per_line=8" in r.getMessage()]
    warnings = [r.getMessage() for r in about_truncation if r.levelno >= logging.WARNING]
    per_batch = [int(r.getMessage().split()[0]) for r in about_truncation if r.levelno == logging.DEBUG]
    assert len(per_batch) > len(warnings)  # every training and validation batch cut lines
    assert [m.split(":")[0] for m in warnings] == ["stage 1", "stage 2a", "novelty index", "evaluation on test"]
    for stage, message in zip(result.stages, warnings):
        assert stage["lines_truncated"] > 0
        assert message.startswith(f"stage {stage['stage']}: {stage['lines_truncated']} line(s) longer than")
    index, evaluation = (int(m.split(": ", 1)[1].split()[0]) for m in warnings[2:])
    assert sum(s["lines_truncated"] for s in result.stages) + index + evaluation == sum(per_batch)


def test_one_class_training_set_is_refused(tmp_path):
    with pytest.raises(TrainingDataError, match="all 12 windows are normal"):
        run_training(*tiny_args(tmp_path), dataset=tiny_dataset(train_anomalous_every=0))


def test_nan_loss_stops_training_with_the_stage_and_step(tmp_path):
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0)
    with torch.no_grad():
        model.projector.linear.weight.fill_(float("nan")) if hasattr(model.projector, "linear") else next(
            model.projector.parameters()
        ).fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"stage 2a: loss is nan at step 0"):
        run_training(*tiny_args(tmp_path, "--stages", "2a"), dataset=tiny_dataset(), model_and_processor=(model, processor))


@pytest.mark.parametrize(
    "config, message",
    [({"model_type": "vit"}, "is not a causal language model"), ({"model_type": "no-such-model"}, "cannot read its config")],
)
def test_unknown_or_wrong_model_type_is_refused(tmp_path, config, message):
    from logllm.training.setup import ModelSetupError

    decoder = tmp_path / "decoder"
    decoder.mkdir()
    (decoder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSetupError, match=message):
        run_training(*tiny_args(tmp_path / "out", "--decoder_name_or_path", str(decoder)), dataset=tiny_dataset())


def test_push_to_hub_uploads_the_saved_folder_with_its_card_and_eval(tmp_path, monkeypatch):
    """`--push_to_hub`: the model folder as saved (README.md card naming the repo, config with the operating point,
    safetensors only, eval/ files) goes up in one `upload_folder` commit."""
    from huggingface_hub import HfApi, constants

    calls = {}

    def fake_create_repo(self, repo_id, **kwargs):
        calls["repo"] = (repo_id, kwargs)

    def fake_create_commit(self, repo_id, operations, **kwargs):
        calls["files"] = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        return "commit"

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the one-commit path, no Xet upload
    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "create_commit", fake_create_commit)
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, *args, **kwargs: None)  # the Hub's check; ours is offline
    out = tmp_path / "run"
    run_training(*tiny_args(out, "--stages", "3", "--push_to_hub", "true", "--hub_model_id", "me/logllm-tiny",
                            "--hub_token", "hf_fake"), dataset=tiny_dataset())
    files = set(calls["files"])
    assert calls["repo"][0] == "me/logllm-tiny"
    folder = out / "final_model"
    expected = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert expected == files, expected ^ files
    assert {"config.json", "README.md", "eval/metrics.json", "eval/confusion_matrix.png", "eval/roc_curve.png",
            "eval/pr_curve.png"} <= files
    assert any(f.endswith(".safetensors") for f in files) and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    card = calls["files"]["README.md"].decode()
    metrics = json.loads(calls["files"]["eval/metrics.json"])
    assert f"{metrics['metrics']['f1']:.3f}" in card and "me/logllm-tiny" in card
    config = json.loads(calls["files"]["config.json"])
    assert config["operating_point"]["threshold"] == pytest.approx(metrics["threshold"])
