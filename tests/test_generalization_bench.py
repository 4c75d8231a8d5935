"""The generalization benchmark end to end on the real samples, count baselines only (fast)."""

from __future__ import annotations

import json

import pytest

from tests.bench_support import load_bench_script


@pytest.mark.shared
def test_unseen_type_and_few_label_settings_on_real_samples(loghub_dir, tmp_path):
    bench = load_bench_script("generalization")
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
    bench = load_bench_script("generalization")
    args = bench.GeneralizationArguments(
        output_dir=str(tmp_path), loghub_dir=str(loghub_dir), seeds=[0], methods=["logllm"], settings=["few_labels"],
        thunderbird_lines=600, label_fractions=[1.0], logllm_variants=["thunderbird_1"], logllm_preset="tiny",
        max_train_windows=16,
    )
    payload = bench.run(args)
    rows = [r for r in payload["runs"] if r["method"] == "logllm"]
    assert [r["variant"] for r in rows] == ["thunderbird_1"]
    novelty = [r for r in payload["runs"] if r["method"] == "logllm_novelty"]  # the saved operating point, not re-tuned
    assert len(novelty) == 1 and novelty[0]["threshold"] == 0.5 and novelty[0]["threshold_rule"].startswith("operating point")
    assert payload["missing"] == {} and rows[0]["n_train"] <= 16 and 0.0 <= rows[0]["f1"] <= 1.0
    # Thunderbird lines carry labels: both rows say how well their highlighted lines point at the alert lines
    for row in rows + novelty:
        lines = row["line_level"]
        assert lines["windows"] == row["n_test"] and lines["windows_with_anomalous_lines"] == row["n_test_anomalous"]
        assert all(0.0 <= lines[k] <= 1.0 for k in ("top1_hit_rate", "line_precision", "line_recall", "line_f1"))
    assert "## Line level" in (tmp_path / "generalization.md").read_text()


@pytest.mark.shared
def test_foreign_alerts_and_novelty_rows_on_real_samples(loghub_dir, tmp_path):
    """The real unseen-kind setting: BGL alert lines placed into held-out Thunderbird windows, scored by the novelty
    rules with their own thresholds beside the count baselines."""
    bench = load_bench_script("generalization")
    args = bench.GeneralizationArguments(
        output_dir=str(tmp_path), loghub_dir=str(loghub_dir), seeds=[0], methods=["count", "novelty"],
        settings=["unseen_type", "known_kind"], thunderbird_lines=1000, synthetic_sessions=120, deeplog_sessions=[60, 20],
    )
    data, _ = bench.load_data(args)
    task = bench.foreign_alert_task(data, 0, args)
    originals = {r["window_id"]: r for r in data["thunderbird"]}
    inserted = [r for r in task.test if r["label"] == 1]
    assert inserted and len(inserted) == len(task.test) // 2
    bgl_lines = {line for r in data["bgl"] for line in r["lines"]}
    for row in inserted:
        before = originals[row["window_id"].split("+bgl@")[0]]
        changed = [i for i, (a, b) in enumerate(zip(before["lines"], row["lines"])) if a != b]
        assert len(changed) <= 1 and row["line_labels"][int(row["window_id"].rsplit("@", 1)[1])] == 1
        assert row["categories"][0].startswith("BGL ") and before["label"] == 0
    placed = {r["lines"][int(r["window_id"].rsplit("@", 1)[1])] for r in inserted}
    assert placed <= bgl_lines and not placed & {line for r in task.train for line in r["lines"]}

    payload = bench.run(args)
    rows = {(r["variant"], r["method"]): r for r in payload["runs"]}
    rule = rows[("thunderbird_bgl_alerts_inserted", "new_masked_line")]
    assert rule["threshold"] == 0.5 and rule["threshold_rule"].startswith("rule")
    assert rule["recall"] == 1.0  # every placed BGL line is a masked line no Thunderbird training window holds
    knn = rows[("thunderbird_bgl_alerts_inserted", "embedding_knn")]
    assert "normal validation windows" in knn["threshold_rule"] and knn["family"] == "novelty"
    assert ("hdfs_deeplog_random", "decision_tree") in rows and ("bgl_kern_held_out", "new_drain_template") in rows
    headline = (tmp_path / "generalization.md").read_text()
    assert "| unseen_type | thunderbird_bgl_alerts_inserted |" in headline and "best novelty baseline" in headline
