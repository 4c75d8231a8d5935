"""Anomaly synthesis from a user's own normal lines (train.normal_only)."""

from __future__ import annotations

import re

import pytest

from logllm.dataset.normal_only import SYNTHESIZED_KINDS, AnomalySynthesizer, normal_only_splits


def mask(line: str) -> str:  # a stand-in for the ``re`` masker: numbers become <*>
    return re.sub(r"\d+", "<*>", line)


LINES = [
    "INFO dfs.DataNode: Receiving block blk_1 src 10.0.0.1 dest 10.0.0.2",
    "INFO dfs.DataNode: PacketResponder 1 for block blk_1 terminating",
    "INFO dfs.FSNamesystem: addStoredBlock blockMap updated size 6710",
    "INFO dfs.DataNode: Received block blk_1 of size 67108864 from 10.0.0.1",
]


def windows(n: int = 12) -> list[dict]:
    out = []
    for i in range(n):
        lines = [x.replace("blk_1", f"blk_{i}") for x in LINES]
        out.append({"window_id": f"blk_{i}", "source": "u.log", "lines": [mask(x) for x in lines], "raw_lines": lines,
                    "line_numbers": list(range(4 * i + 1, 4 * i + 5)), "line_labels": [-1] * 4, "label": -1,
                    "categories": [], "start_time": None, "end_time": None})
    return out


@pytest.mark.parametrize("kind", [k for k in SYNTHESIZED_KINDS if k != "abnormal_value"])
def test_each_kind_makes_a_visible_labeled_anomaly(kind):
    synth = AnomalySynthesizer(LINES, kinds=[kind], preprocess=mask, seed=0)
    w = windows(1)[0]
    out = synth.anomalous_window(w)
    assert out is not None and out["label"] == 1 and out["categories"] == [f"synthetic:{kind}"]
    assert out["lines"] != w["lines"] and out["lines"] == [mask(x) for x in out["raw_lines"]]
    assert len(out["line_labels"]) == len(out["lines"]) and 1 in out["line_labels"]
    if kind == "unseen_template":
        new = [x for x, flag in zip(out["lines"], out["line_labels"]) if flag]
        assert new and all(x not in {mask(y) for y in LINES} for x in new)
    if kind == "error_level":
        assert any(s in " ".join(out["raw_lines"]) for s in ("ERROR", "FATAL", "SEVERE", "CRITICAL"))


def test_abnormal_values_erased_by_masking_are_redrawn_and_counted():
    synth = AnomalySynthesizer(LINES, kinds=["abnormal_value"], preprocess=mask, seed=0)
    assert synth.anomalous_window(windows(1)[0]) is None
    assert synth.report.invisible_redrawn["abnormal_value"] == 1
    raw = AnomalySynthesizer(LINES, kinds=["abnormal_value"], preprocess=lambda x: x, seed=0)
    out = raw.anomalous_window(windows(1)[0])
    assert out is not None and out["raw_lines"] != windows(1)[0]["raw_lines"]


def test_normal_only_splits_are_seeded_balanced_and_leak_free():
    data, report = normal_only_splits(windows(20), anomaly_ratio=0.3, validation_fraction=0.2, preprocess=mask, seed=5)
    again, _ = normal_only_splits(windows(20), anomaly_ratio=0.3, validation_fraction=0.2, preprocess=mask, seed=5)
    assert data == again
    for part in data.values():
        labels = [w["label"] for w in part]
        assert set(labels) == {0, 1}
        assert abs(sum(labels) / len(labels) - 0.3) < 0.1
    base = lambda w: w["window_id"].split("#")[0]  # noqa: E731
    train_src = {base(w) for w in data["train"]}
    val_src = {base(w) for w in data["validation"]}
    assert not train_src & val_src  # validation anomalies come from validation normals only
    assert sum(report.made.values()) == sum(w["label"] for p in data.values() for w in p)
    assert all(w["label"] == 0 and set(w["line_labels"]) == {0} for p in data.values() for w in p if "#" not in w["window_id"])


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown kind"):
        AnomalySynthesizer(LINES, kinds=["explode"])
    with pytest.raises(ValueError, match="at least one normal line"):
        AnomalySynthesizer([])
    with pytest.raises(ValueError, match="anomaly_ratio"):
        normal_only_splits(windows(), anomaly_ratio=1.0)


def test_normal_only_dataset_dict_drops_known_anomalies_and_keeps_test():
    from datasets import Dataset, DatasetDict

    from logllm.dataset.normal_only import normal_only_dataset_dict

    rows = windows(20)
    for r in rows[:3]:
        r["label"], r["categories"] = 1, ["VAPI"]
    for r in rows[3:]:
        r["label"] = 0
    test = Dataset.from_list(rows[:5])
    dd = normal_only_dataset_dict(DatasetDict(train=Dataset.from_list(rows), test=test), kinds="unseen_template,error_level", preprocess=mask, seed=1)
    assert set(dd) == {"train", "validation", "test"} and dd["test"] is test
    ids = [w for name in ("train", "validation") for w in dd[name]["window_id"]]
    assert not {"blk_0", "blk_1", "blk_2"} & {i.split("#")[0] for i in ids}
    cats = {c for name in ("train", "validation") for cs in dd[name]["categories"] for c in cs}
    assert cats <= {"synthetic:unseen_template", "synthetic:error_level"} and cats
