"""Unseen-type splits, few-label subsampling and cross-system helpers (logllm.dataset.generalization)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logllm.dataset.generalization import (
    NO_ANOMALY_ONLY_TEMPLATE,
    categorize_by_anomaly_templates,
    category_counts,
    choose_holdout_categories,
    combine_systems,
    cross_system_split,
    label_subsample_indices,
    subsample_labels,
    unseen_type_split,
)

CATS = ["KERNDTLB", "KERNSTOR", "APPSEV", "KERNMNTF", "APPRES"]


def window(i: int, label: int, cats: list[str] | None = None, lines: list[str] | None = None) -> dict:
    lines = lines or [f"line {i}"]
    return {
        "window_id": f"w{i}",
        "source": "x.log",
        "lines": lines,
        "raw_lines": lines,
        "line_numbers": list(range(1, len(lines) + 1)),
        "line_labels": [label] * len(lines),
        "label": label,
        "categories": cats or [],
        "start_time": None,
        "end_time": None,
    }


windows_strategy = st.lists(
    st.one_of(
        st.just(None),
        st.lists(st.sampled_from(CATS), min_size=1, max_size=2, unique=True),
    ),
    min_size=4,
    max_size=60,
).map(lambda spec: [window(i, 0 if c is None else 1, c) for i, c in enumerate(spec)])


@settings(max_examples=60, deadline=None)
@given(windows=windows_strategy, seed=st.integers(0, 2**16))
def test_every_test_anomaly_is_of_a_category_absent_from_training(windows, seed):
    if len(category_counts(windows)) < 2:
        with pytest.raises(ValueError, match="at least two"):
            unseen_type_split(windows, seed=seed)
        return
    try:
        split = unseen_type_split(windows, seed=seed)
    except ValueError as err:  # held-out choice can leave one side without anomalies (mixed windows)
        assert "no anomalous window" in str(err)
        return
    seen = set(category_counts(split.train)) | set(category_counts(split.validation))
    test_cats = set(category_counts(split.test))
    assert test_cats and not (test_cats & seen)
    assert test_cats <= set(split.test_categories)
    assert seen == set(split.train_categories)
    # every window used at most once, and the mixed ones nowhere
    ids = [w["window_id"] for part in (split.train, split.validation, split.test) for w in part]
    assert len(ids) == len(set(ids))
    assert set(ids) | set(split.excluded_mixed) == {w["window_id"] for w in windows}
    assert sum(w["label"] for w in split.train) >= 1


def test_unseen_type_split_is_deterministic_and_documented():
    ws = [window(i, 0) for i in range(50)] + [window(50 + i, 1, [CATS[i % 4]]) for i in range(20)]
    a = unseen_type_split(ws, ["APPSEV", "KERNMNTF"], seed=3)
    b = unseen_type_split(ws, ["APPSEV", "KERNMNTF"], seed=3)
    assert [w["window_id"] for w in a.test] == [w["window_id"] for w in b.test]
    info = a.describe()
    assert info["test_categories"] == ["APPSEV", "KERNMNTF"]
    assert info["train_categories"] == ["KERNDTLB", "KERNSTOR"]
    assert info["test"]["anomalous"] == 10 and info["test"]["windows"] == 10 + 10  # 20% of 50 normals
    assert a.as_dataset_dict()["test"].num_rows == 20


def test_unseen_type_split_errors_are_specific():
    ws = [window(0, 0), window(1, 1, ["A"]), window(2, 1, ["B"]), window(3, 1, [])]
    with pytest.raises(ValueError, match="'w3' is anomalous but has no category"):
        unseen_type_split(ws[:4])
    with pytest.raises(ValueError, match=r"\['Z'\] occur in no anomalous window"):
        unseen_type_split(ws[:3], ["Z"])
    with pytest.raises(ValueError, match="not all"):
        unseen_type_split(ws[:3], ["A", "B"])


def test_choose_holdout_keeps_a_training_category():
    ws = [window(i, 1, [c]) for i, c in enumerate(CATS)]
    for seed in range(20):
        held = choose_holdout_categories(ws, 0.9, seed)
        assert 1 <= len(held) < len(CATS)


def test_hdfs_style_categories_are_anomaly_only_templates():
    ws = [
        window(0, 0, lines=["open", "write", "close"]),
        window(1, 1, lines=["open", "Exception in receiveBlock", "close"]),
        window(2, 1, lines=["open", "write"]),  # missing step: no anomaly-only line
        window(3, 1, lines=["open", "Exception in receiveBlock", "PacketResponder exception"]),
    ]
    rows, mapping = categorize_by_anomaly_templates(ws)
    assert mapping == {"T1": "Exception in receiveBlock", "T2": "PacketResponder exception"}
    assert [r["categories"] for r in rows] == [[], ["T1"], [NO_ANOMALY_ONLY_TEMPLATE], ["T1", "T2"]]
    assert ws[1]["categories"] == []  # input untouched


@settings(max_examples=80, deadline=None)
@given(
    n_normal=st.integers(0, 300),
    n_anom=st.integers(0, 60),
    fractions=st.lists(st.sampled_from([0.01, 0.05, 0.1, 0.5, 1.0]), min_size=2, max_size=2, unique=True),
    seed=st.integers(0, 1000),
)
def test_label_subsamples_are_stratified_nested_and_seeded(n_normal, n_anom, fractions, seed):
    labels = [0] * n_normal + [1] * n_anom + [-1] * 5
    small, large = sorted(fractions)
    a = label_subsample_indices(labels, small, seed)
    b = label_subsample_indices(labels, large, seed)
    assert set(a) <= set(b)
    assert a == label_subsample_indices(labels, small, seed)
    for cls, n in ((0, n_normal), (1, n_anom)):
        got = sum(1 for i in a if labels[i] == cls)
        assert got == min(n, max(round(small * n), 1))  # at least one of each class present
    assert all(labels[i] != -1 for i in b)


def test_subsample_labels_returns_rest_unlabeled_for_lists_and_datasets():
    from datasets import Dataset

    ws = [window(i, int(i % 10 == 0), ["A"] if i % 10 == 0 else []) for i in range(100)]
    for data in (ws, Dataset.from_list(ws)):
        labeled, rest = subsample_labels(data, 0.1, seed=1, rest="unlabeled")
        assert len(labeled) == 10 and len(rest) == 90
        assert sorted(int(x) for x in (labeled["label"] if hasattr(labeled, "column_names") else [w["label"] for w in labeled])) == [0] * 9 + [1]
        rest_rows = rest.to_list() if hasattr(rest, "to_list") else rest
        assert all(r["label"] == -1 and r["categories"] == [] and set(r["line_labels"]) == {-1} for r in rest_rows)
    with pytest.raises(ValueError, match="fraction"):
        subsample_labels(ws, 0.0)


def test_cross_system_finetune_windows_never_scored():
    src = [window(i, i % 2, ["A"] if i % 2 else []) for i in range(10)]
    tgt = [window(100 + i, int(i < 8), ["VAPI"] if i < 8 else []) for i in range(40)]
    zero = cross_system_split(src, tgt)
    assert len(zero["finetune"]) == 0 and len(zero["test"]) == 40
    tuned = cross_system_split(src, tgt, finetune_fraction=0.1, seed=2)
    tune_ids = {w["window_id"] for w in tuned["finetune"]}
    assert len(tune_ids) == 4 and not tune_ids & {w["window_id"] for w in tuned["test"]}
    assert {w["label"] for w in tuned["finetune"]} == {0, 1}
    rows, systems = combine_systems({"bgl": src, "tbird": tgt})
    assert len(rows) == 50 and systems.count("tbird") == 40 and rows[0]["window_id"] == "bgl/w0"
