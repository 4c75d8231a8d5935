"""evaluate_model end to end with a transparent stand-in model; error and cost reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from logllm.report.error_analysis import build_error_report, render_html, render_markdown
from logllm.report.evaluate import evaluate_model


class KeywordModel:
    """Scores a window by its share of lines containing 'error': line evidence is exact, so the error report's
    attribution can be checked. Scores like `logllm.scoring.Detector` (what `evaluate_model` accepts besides a model)."""

    batch_size = 8

    def __init__(self):
        self.calls: list[int] = []

    def parameters(self):
        return iter(())

    def scores(self, windows, preprocessed=True, progress=None):
        assert preprocessed, "dataset lines are preprocessed already; evaluation must say so"
        self.calls.append(len(windows))
        return np.asarray([float(np.mean([1.0 if "error" in line else 0.0 for line in lines])) for lines in windows])

    def line_evidence(self, windows, preprocessed=True):
        assert preprocessed
        return [[1.0 if "error" in line else 0.0 for line in lines] for lines in windows]


def _split(rows):
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return Dataset.from_dict(cols)


def _window(i, lines, label):
    return {
        "window_id": f"w{i}", "source": "synthetic.log", "lines": lines,
        "raw_lines": [f"raw {line} {i}" for line in lines], "line_numbers": list(range(1, len(lines) + 1)),
        "line_labels": [label] * len(lines), "label": label, "categories": ["disk"] if label else [],
    }


@pytest.fixture()
def windows():
    ok, bad = "block <*> served", "disk error on <*>"
    validation = [_window(i, [ok, ok, ok, ok], 0) for i in range(4)] + [
        _window(10, [bad, bad, ok, ok], 1), _window(11, [bad, ok, ok, ok], 1), _window(12, ["error retry", ok, ok, ok], 0)]
    test = [_window(20, [ok, ok], 0), _window(21, ["error retry", "error retry"], 0),   # false positive
            _window(22, [bad, ok], 1), _window(23, ["timeout <*>", ok], 1), _window(24, [ok, ok], 0)]  # 23: false negative
    return DatasetDict({"train": _split(validation), "validation": _split(validation), "test": _split(test)})


def test_threshold_chosen_on_validation_not_test(windows, tmp_path):
    model = KeywordModel()
    payload = evaluate_model(model, None, windows, tmp_path, seed=3, dataset_name="toy", model_name="keyword")
    # validation scores: normal 0,0,0,0,0.25 ; anomalous 0.5, 0.25 -> a cut in (0, 0.25] gives P=2/3 R=1 F1=0.8,
    # one in (0.25, 0.5] P=1 R=0.5 F1=0.667 -> inside (0, 0.25] (its middle in logit space: near 0, as one edge is 0)
    assert 0 < payload["threshold"] <= 0.25
    assert payload["threshold_source"].startswith("best F1 on validation")
    m = payload["metrics"]
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 2, 1)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("dataset", "split", "seed", "model", "hardware", "wall_time_s", "n_windows"):
        assert on_disk[key] not in (None, "")
    assert on_disk["n_windows"] == 5 and on_disk["seed"] == 3 and on_disk["hardware"]["cpu_count"] >= 1
    from logllm.report.metrics_file import EvaluationRecord, read_evaluation

    assert read_evaluation(tmp_path / "metrics.json") == on_disk  # what is written follows the schema it is read with
    assert set(on_disk) <= set(EvaluationRecord.__annotations__)  # and the schema names every key written
    for name in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png", "score_histogram.png", "cost.md", "error_analysis.html"):
        assert (tmp_path / name).stat().st_size > 0


def test_fixed_threshold_never_scores_validation(windows, tmp_path):
    model = KeywordModel()
    payload = evaluate_model(model, None, windows, tmp_path, threshold=0.6, error_analysis=False)
    assert payload["threshold_source"] == "given" and payload["validation_metrics"] is None
    assert sum(model.calls) == len(windows["test"])


def test_error_report_groups_mistakes_by_driving_template(windows, tmp_path):
    evaluate_model(KeywordModel(), None, windows, tmp_path)
    md = (tmp_path / "error_analysis.md").read_text()
    assert "1 false positives" in md and "1 false negatives" in md
    assert "### `error retry` (1 windows)" in md           # FP driven by its 'error' lines
    assert "window `w21`" in md and "raw: `raw error retry 21`" in md
    assert md.count("`error retry` — raw") == 1 and "2× in window" in md  # repeats of one template shown once
    assert "window `w23`" in md
    predictions = [json.loads(l) for l in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [p["window_id"] for p in predictions if p["line_scores"]] == ["w21", "w23"]


def test_error_report_template_table_counts_windows(windows):
    test = windows["test"]
    scores = [0.0, 1.0, 0.5, 0.0, 0.0]
    report = build_error_report(test, scores, 0.4, {}, "t")
    row = {t["template"]: t for t in report.templates}["error retry"]
    assert (row["fp"], row["fn"], row["tp"], row["tn"]) == (1, 0, 0, 0)
    assert report.groups["false negative"][0][0] == "(no line attribution)"
    assert "<code>error retry</code>" in render_html(report) and "| `timeout <*>` |" in render_markdown(report)


def test_unlabeled_split_is_refused(windows, tmp_path):
    test = windows["test"].map(lambda r: {"label": -1})
    with pytest.raises(ValueError, match="5 windows have no 0/1 label"):
        evaluate_model(KeywordModel(), None, DatasetDict({"test": test}), tmp_path, threshold=0.5)


def test_cost_report_reads_trainer_state(windows, tmp_path):
    run = tmp_path / "run"
    for stage, seconds in (("stage1", 12.0), ("stage3", 30.0)):
        (run / stage).mkdir(parents=True)
        state = {"global_step": 5, "epoch": 1.0, "log_history": [{"loss": 1.0}, {"train_runtime": seconds, "train_samples_per_second": 2.0}]}
        (run / stage / "trainer_state.json").write_text(json.dumps(state))
    evaluate_model(KeywordModel(), None, windows, tmp_path / "eval", threshold=0.5, training_dir=run, error_analysis=False)
    cost = json.loads((tmp_path / "eval" / "cost.json").read_text())
    assert [r["stage"] for r in cost["training_stages"]] == ["stage1", "stage3"]
    assert cost["training_time_min"] == pytest.approx(0.7)
    assert "| LogLLM | 1,065.15 | 64.48 | paper |" in (tmp_path / "eval" / "cost.md").read_text()
