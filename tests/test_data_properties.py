"""Property-based invariants of windowing, splitting and oversampling (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from logllm.logs.errors import BuildReport
from logllm.dataset.oversampling import minority_target, oversample_indices
from logllm.logs.records import LogRecord
from logllm.dataset.splits import line_keys, split_windows
from logllm.windows.windowing import session_windows, sliding_windows, time_windows

FAST = settings(max_examples=40, deadline=None)


def _records(labels, source="f.log"):
    return [LogRecord(source=source, line_number=i + 1, content=f"line {i}", timestamp=float(i), label=label)
            for i, label in enumerate(labels)]


labels_st = st.lists(st.sampled_from([0, 1, None]), min_size=1, max_size=300)


@FAST
@given(labels=labels_st, size=st.integers(1, 40), step=st.integers(1, 50))
def test_sliding_windows_cover_lines_in_order(labels, size, step):
    records = _records(labels)
    report = BuildReport()
    windows = list(sliding_windows(records, size, step, report=report))
    covered = set()
    for w in windows:
        assert 1 <= len(w["lines"]) <= size
        assert w["line_numbers"] == list(range(w["line_numbers"][0], w["line_numbers"][-1] + 1))
        expected = 1 if 1 in w["line_labels"] else (-1 if -1 in w["line_labels"] else 0)
        assert w["label"] == expected
        covered.update(w["line_numbers"])
    starts = [w["line_numbers"][0] for w in windows]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # every line is in a window, except the gaps step > size leaves (counted)
    assert len(covered) + report["lines_between_windows"] == len(records)
    if step <= size:
        assert covered == set(range(1, len(records) + 1))


@FAST
@given(blocks=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3), min_size=1, max_size=120),
       bad=st.sets(st.integers(0, 9)))
def test_session_windows_put_each_line_in_every_block_it_names(blocks, bad):
    records = [LogRecord(source="h.log", line_number=i + 1, content="x", session_ids=tuple(dict.fromkeys(f"blk_{b}" for b in bl)))
               for i, bl in enumerate(blocks)]
    labels = {f"blk_{b}": int(b in bad) for b in range(10)}
    windows = {w["window_id"]: w for w in session_windows(records, block_labels=labels)}
    for record in records:
        for sid in record.session_ids:
            assert record.line_number in windows[sid]["line_numbers"]
    assert sum(len(w["line_numbers"]) for w in windows.values()) == sum(len(r.session_ids) for r in records)
    for sid, w in windows.items():
        assert w["label"] == labels[sid] and set(w["line_labels"]) == {labels[sid]}


@FAST
@given(times=st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=150),
       length=st.floats(1, 100), step_ratio=st.sampled_from([0.25, 0.5, 1.0]))
def test_time_windows_keep_every_line_within_its_window(times, length, step_ratio):
    records = [LogRecord(source="t.log", line_number=i + 1, content="x", timestamp=t, label=0) for i, t in enumerate(times)]
    step = length * step_ratio
    report = BuildReport()
    windows = list(time_windows(records, length, step, report=report))
    seen = {n for w in windows for n in w["line_numbers"]}
    assert seen == set(range(1, len(records) + 1))       # nothing dropped, even out of order
    for w in windows:
        assert w["end_time"] - w["start_time"] < length + 1e-6
        assert w["line_numbers"] == sorted(w["line_numbers"])
    assert len({w["window_id"] for w in windows}) == len(windows)


def _session_like(n, seed_labels):
    return [{"window_id": f"blk_{i}", "source": "h.log", "line_numbers": [3 * i + 1, 3 * i + 2], "label": seed_labels[i % len(seed_labels)],
             "line_labels": [0, 0]} for i in range(n)]


def _keys(rows):
    return {k for w in rows for k in line_keys(w)}


@FAST
@given(n=st.integers(2, 300), test_size=st.floats(0.05, 0.5), val=st.floats(0.0, 0.4), seed=st.integers(0, 10_000),
       shared=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), max_size=20))
def test_random_split_is_a_partition_without_shared_lines(n, test_size, val, seed, shared):
    windows = _session_like(n, [0, 1, 0, 0])
    for a, b in shared:  # a line naming two blocks: both windows contain it
        if a < n and b < n and a != b:
            windows[b]["line_numbers"] = windows[b]["line_numbers"] + [windows[a]["line_numbers"][0]]
    splits = split_windows(windows, "random", test_size=test_size, validation_size=val, seed=seed)
    ids = [w["window_id"] for rows in splits.values() for w in rows]
    assert sorted(ids) == sorted(w["window_id"] for w in windows)            # each window exactly once
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not _keys(splits[a]) & _keys(splits[b])                  # no line in two splits
    again = split_windows(windows, "random", test_size=test_size, validation_size=val, seed=seed)
    assert [w["window_id"] for w in again["test"]] == [w["window_id"] for w in splits["test"]]


@FAST
@given(n_lines=st.integers(10, 2000), size=st.integers(1, 60), step_frac=st.sampled_from([0.3, 0.5, 1.0, 1.5]),
       test_size=st.floats(0.05, 0.5), val=st.floats(0.0, 0.4))
def test_chronological_split_puts_test_after_train(n_lines, size, step_frac, test_size, val):
    step = max(1, int(size * step_frac))
    windows = list(sliding_windows(_records([0] * n_lines), size, step))
    report = BuildReport()
    splits = split_windows(windows, "chronological", test_size=test_size, validation_size=val, report=report)
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    if train and test:
        assert max(max(w["line_numbers"]) for w in train) < min(min(w["line_numbers"]) for w in test)
    if train and validation:
        assert max(max(w["line_numbers"]) for w in train) < min(min(w["line_numbers"]) for w in validation)
    if validation and test:
        assert max(max(w["line_numbers"]) for w in validation) < min(min(w["line_numbers"]) for w in test)
    assert not (_keys(train) & _keys(test)) and not (_keys(train) & _keys(validation)) and not (_keys(validation) & _keys(test))
    purged = sum(v for k, v in report.counts.items() if k.startswith("windows_purged"))
    assert len(train) + len(validation) + len(test) + purged == len(windows)


@FAST
@given(n_pos=st.integers(0, 200), n_neg=st.integers(0, 400), beta=st.floats(0.0, 0.9), seed=st.integers(0, 99))
def test_oversampling_reaches_beta_and_keeps_originals(n_pos, n_neg, beta, seed):
    labels = [1] * n_pos + [0] * n_neg
    indices = oversample_indices(labels, beta, seed)
    assert sorted(set(indices)) == list(range(len(labels)))              # every original kept
    assert oversample_indices(labels, beta, seed) == indices             # seeded
    minority = 1 if n_pos <= n_neg else 0
    n_min = labels.count(minority)
    new_min = sum(1 for i in indices if labels[i] == minority)
    assert new_min == minority_target(len(labels), n_min, beta)
    extra = [i for i in indices if labels[i] != minority]
    assert len(extra) == len(labels) - n_min                               # majority untouched
    if beta > 0 and n_min and len(labels) and n_min / len(labels) < beta:
        assert new_min / len(indices) >= beta - 1e-9
        assert (new_min - 1) / (len(indices) - 1) < beta                   # not more than needed
    if beta == 0 or n_min == 0:
        assert indices == list(range(len(labels)))


def test_oversampling_formula_matches_paper():
    # alpha = 0.1, beta = 0.3, N = 1000 -> 0.3 * 0.9 / 0.7 * 1000 = 385.7 -> 386 minority samples
    assert minority_target(1000, 100, 0.3) == math.ceil(0.3 * 0.9 / 0.7 * 1000)
    assert minority_target(1000, 400, 0.3) == 400 and minority_target(1000, 100, 0.0) == 100


def test_a_line_just_before_the_first_window_within_the_lateness_is_kept():
    """Found by the property above: times 1e-138, 1.0, 0.0 (length = step = 1) lost the third line, whose window lay
    before the first one and counted as emitted; it now starts a new time segment."""
    records = [LogRecord(source="t.log", line_number=i + 1, content="x", timestamp=t, label=0)
               for i, t in enumerate([1.595405400556326e-138, 1.0, 0.0])]
    report = BuildReport()
    windows = list(time_windows(records, 1.0, 1.0, report=report))
    assert {n for w in windows for n in w["line_numbers"]} == {1, 2, 3}
    assert report["time_order_resets"] == 1
