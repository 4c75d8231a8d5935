"""The generalization benchmark end to end on the real samples, count baselines only (fast)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_generalization", ROOT / "bench" / "generalization.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared
def test_unseen_type_and_few_label_settings_on_real_samples(loghub_dir, tmp_path):
    bench = load_bench()
    args = bench.GeneralizationArguments(
        output_dir=str(tmp_path), loghub_dir=str(loghub_dir), seeds=[0, 1], methods=["count"],
        settings=["unseen_type", "few_labels"], thunderbird_lines=1000, synthetic_sessions=120,
        label_fractions=[0.05, 1.0],
    )
    payload = bench.run(args)
    saved = json.loads((tmp_path / "generalization.json").read_text())
    assert saved["complete"] and saved["missing"] == {}
    info = payload["splits"]["bgl_app_held_out"]
    assert set(info["test_categories"]) == set(bench.BGL_APP)
    assert not set(info["train"]["categories"]) & set(info["test_categories"])
    assert set(info["test"]["categories"]) <= set(bench.BGL_APP)
    runs = [r for r in payload["runs"] if r["variant"] == "bgl_app_held_out"]
    assert {r["seed"] for r in runs} == {0, 1} and {r["method"] for r in runs} >= {"decision_tree", "logistic_regression"}
    assert all(set(r["per_category_recall"]) <= set(bench.BGL_APP) for r in runs)
    few = {r["label_fraction"]: r["n_train"] for r in payload["runs"] if r["setting"] == "few_labels" and r["seed"] == 0}
    assert few[0.05] < few[1.0]
    md = (tmp_path / "generalization.md").read_text()
    assert "bgl_app_held_out" in md and "never-seen" in md
    assert (tmp_path / "generalization_f1_vs_labels.png").stat().st_size > 1000
    assert (tmp_path / "generalization_category_recall.png").stat().st_size > 1000


@pytest.mark.shared
def test_logllm_rows_come_from_a_recipe_training_run(loghub_dir, tmp_path):
    bench = load_bench()
    args = bench.GeneralizationArguments(
        output_dir=str(tmp_path), loghub_dir=str(loghub_dir), seeds=[0], methods=["logllm"], settings=["few_labels"],
        thunderbird_lines=600, label_fractions=[1.0], logllm_variants=["thunderbird_1"], logllm_preset="tiny",
        max_train_windows=16,
    )
    payload = bench.run(args)
    rows = [r for r in payload["runs"] if r["method"] == "logllm"]
    assert [r["variant"] for r in rows] == ["thunderbird_1"]
    assert payload["missing"] == {} and rows[0]["n_train"] <= 16 and 0.0 <= rows[0]["f1"] <= 1.0
