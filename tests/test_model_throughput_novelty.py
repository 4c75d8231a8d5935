"""bench/model_throughput.py's novelty section on a tiny model: the query sees each distinct masked line once, the
off-run never queries, and the timing wrappers leave the model and module as they were."""

from __future__ import annotations

import pytest

from tests.bench_support import load_bench_script
import torch

WINDOWS = [["job 1 started", "heartbeat ok", "heartbeat ok", "job 2 started"],
           ["heartbeat ok", "disk 7 full", "job 3 started"],
           ["heartbeat ok", "heartbeat ok"]]


@pytest.fixture(scope="module")
def tiny():
    from logllm.modeling.presets import build_tiny
    from logllm.scoring.operating_point import OperatingPoint

    model, processor = build_tiny(seed=0)
    model.eval()
    with torch.no_grad():
        enc = processor.encode_lines(processor.preprocess_lines(["job 1 started", "heartbeat ok"]))
        index = model.get_line_vectors(enc["line_input_ids"], enc["line_attention_mask"])
    OperatingPoint(novelty_threshold=0.05).save_to(model)
    return model, processor, index


def test_query_receives_each_distinct_line_once_and_off_never_queries(tiny):
    from logllm.modeling import detection_logllm

    bench = load_bench_script("model_throughput")
    model, processor, index = tiny
    model.set_novelty_index(index)
    step = detection_logllm.line_novelty
    distinct = len(set(processor.preprocess_lines([line for w in WINDOWS for line in w])))

    _, on = bench.score_once(model, processor, WINDOWS, batch_size=2, use_novelty=True)
    assert on.query_calls == 1 and on.query_rows == distinct == 3  # 9 lines, 3 distinct after masking
    _, off = bench.score_once(model, processor, WINDOWS, batch_size=2, use_novelty=False)
    assert (off.query_calls, off.query_rows, off.step_seconds) == (0, 0, 0.0)
    assert detection_logllm.line_novelty is step and "line_novelty" not in vars(model)  # wrappers removed


def test_measure_novelty_reports_each_index_against_the_same_off_runs(tiny):
    bench = load_bench_script("model_throughput")
    model, processor, index = tiny
    row = bench.measure_novelty("tiny", model, processor, WINDOWS, {2: index, 1: index[:1]}, batch_size=2, repeats=2)
    assert (row["lines"], row["distinct_masked_lines"]) == (9, 3)
    assert len(row["off"]["seconds_each"]) == 2
    assert [on["index_lines"] for on in row["on"]] == [2, 1]
    for on in row["on"]:
        assert on["query_rows"] == 3 and len(on["seconds_each"]) == 2
        assert 0.0 <= on["query_share"] <= on["novelty_step_share"] <= 1.0  # the query runs inside the step


def test_score_once_refuses_novelty_the_detector_cannot_run(tiny):
    bench = load_bench_script("model_throughput")
    model, processor, _ = tiny
    model.set_novelty_index(None)
    with pytest.raises(RuntimeError, match="index or novelty threshold missing"):
        bench.score_once(model, processor, WINDOWS, batch_size=2, use_novelty=True)
