"""Issue 8 CLI wiring: `logllm data build --split unseen-type` and `logllm train --normal-only`."""

from __future__ import annotations

import json

import pytest

from logllm.commands.data import main as data_main
from logllm.dataset.build import build_synthetic_dataset
from logllm.training.stages import apply_normal_only
from logllm.training.recipes import parse_arguments

BUILD = ["build", "--dataset", "synthetic-bgl", "--n-lines", "3000", "--window-size", "20", "--step", "20",
         "--split", "unseen-type", "--seed", "3", "--no-difficulty"]


def _read_split(folder):
    from datasets import load_dataset

    return load_dataset("parquet", data_files={s: str(folder / f"{s}.parquet") for s in ("train", "validation", "test")})


def test_data_build_unseen_type_holds_categories_out_of_train(tmp_path):
    out = tmp_path / "ds"
    assert data_main([*BUILD, "--output", str(out)]) == 0
    folder = out / "synthetic_bgl_sliding_20_20_unseen_type"
    described = json.loads((folder / "dataset_info.json").read_text())["unseen_type_split"]
    held = set(described["test_categories"])
    assert held and not held & set(described["train_categories"])
    ds = _read_split(folder)
    test_cats = {c for row in ds["test"] if row["label"] == 1 for c in row["categories"]}
    train_cats = {c for name in ("train", "validation") for row in ds[name] if row["label"] == 1 for c in row["categories"]}
    assert test_cats and test_cats <= held and not train_cats & held
    assert "unseen-type split: train categories" in (out / "README.md").read_text()


def test_data_build_unseen_type_errors_are_clear(tmp_path, capsys):
    assert data_main([*BUILD, "--holdout-categories", "no_such_kind", "--output", str(tmp_path / "a")]) == 2
    assert "no_such_kind" in capsys.readouterr().err
    chronological = [("chronological" if a == "unseen-type" else a) for a in BUILD]
    assert data_main([*chronological, "--holdout-categories", "x", "--output", str(tmp_path / "b")]) == 2
    assert "only applies with --split unseen-type" in capsys.readouterr().err


def test_train_normal_only_flags_reach_the_dataset(tmp_path):
    script_args, _, _ = parse_arguments(
        ["--config", "quickstart", "--output_dir", str(tmp_path), "--normal-only", "--normal_only_kinds", "unseen_template,error_level",
         "--normal_only_anomaly_ratio", "0.25", "--seed", "1"])
    assert script_args.normal_only and script_args.normal_only_anomaly_ratio == 0.25
    dataset = build_synthetic_dataset("hdfs", n_sessions=120, seed=1, anomaly_ratio=0.1)
    before_test = dataset["test"]["window_id"]
    prepared = apply_normal_only(dataset, script_args, seed=1)
    assert prepared["test"]["window_id"] == before_test  # evaluation data untouched
    original_anomalies = {w for s in ("train", "validation") for w, y in zip(dataset[s]["window_id"], dataset[s]["label"]) if y == 1}
    train_ids = set(prepared["train"]["window_id"])
    assert original_anomalies and not original_anomalies & train_ids  # known anomalies are not taught as normal
    share = sum(prepared["train"]["label"]) / len(prepared["train"])
    assert 0.15 < share < 0.35
    script_args.normal_only = False
    assert apply_normal_only(dataset, script_args, seed=1) is dataset


def test_train_normal_only_rejects_unknown_kinds(tmp_path):
    with pytest.raises(ValueError, match="unknown kind"):
        parse_arguments(["--config", "quickstart", "--output_dir", str(tmp_path), "--normal_only", "--normal_only_kinds", "typo"])
