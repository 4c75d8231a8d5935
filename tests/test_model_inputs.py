"""Bad input to the processor and detect: clear errors, warnings and counts."""

from __future__ import annotations

import copy
import logging

import pytest

from logllm.modeling import LogLLMProcessor
from logllm.modeling.processing_logllm import truncation_note
from logllm.modeling.presets import build_tiny


@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny(seed=0)
    return model.eval(), processor


@pytest.mark.parametrize(
    "windows, error, message",
    [
        ([], ValueError, "windows is empty"),
        ([["ok"], []], ValueError, "window 1 is empty"),
        ([["ok", "  "]], ValueError, "window 0, line 1 is empty"),
        ([["ok", 3]], TypeError, "window 0, line 1: expected str"),
        (["a line"], TypeError, "window 0 is a string"),
        ("a line", TypeError, "list of windows"),
    ],
)
def test_bad_windows_raise_clear_errors(tiny, windows, error, message):
    model, processor = tiny
    with pytest.raises(error, match=message):
        processor(windows)
    with pytest.raises(error, match=message):
        model.detect(windows, processor)


def test_bad_labels(tiny):
    _, processor = tiny
    with pytest.raises(ValueError, match="got 1 labels for 2 windows"):
        processor([["a"], ["b"]], labels=[1])
    with pytest.raises(ValueError, match="label 1 is -1"):
        processor([["a"], ["b"]], labels=[0, -1])


def test_long_window_truncated_with_warning_and_count(tiny, caplog):
    _, processor = tiny
    small = LogLLMProcessor(processor.encoder_tokenizer, processor.decoder_tokenizer, max_lines_per_window=3)
    with caplog.at_level(logging.WARNING, logger="logllm.modeling"):
        batch = small([["a", "b", "c", "d", "e"]])
    assert (batch["input_ids"] == small.log_token_id).sum() == 3
    assert small.stats["windows_truncated"] == 1 and small.stats["lines_dropped"] == 2
    assert "dropping 2" in caplog.text


def test_long_line_truncated_and_counted(tiny, caplog):
    """Counted in `stats` and logged at debug level per batch; callers report the total once (truncation_note)."""
    _, processor = tiny
    before = dict(processor.stats)
    with caplog.at_level(logging.DEBUG, logger="logllm.modeling"):
        batch = processor([["word " * 200, "short line"]], preprocessed=True)
    assert batch["line_input_ids"].shape[1] == processor.max_tokens_per_line
    assert processor.stats["lines_truncated"] == before.get("lines_truncated", 0) + 1
    assert [r.levelno for r in caplog.records if "truncated" in r.getMessage()] == [logging.DEBUG]
    assert truncation_note(processor, before).startswith(f"1 line(s) longer than max_tokens_per_line={processor.max_tokens_per_line}")
    assert truncation_note(processor, dict(processor.stats)) is None


def test_mismatched_processor_and_model(tiny):
    model, processor = tiny
    # a copy: adding "<line>" must not touch the shared fixture's tokenizer
    other = LogLLMProcessor(processor.encoder_tokenizer, copy.deepcopy(processor.decoder_tokenizer), log_token="<line>")
    with pytest.raises(ValueError, match="log_token_id"):
        model.detect([["a"]], other)
    wrong_answers = LogLLMProcessor(
        processor.encoder_tokenizer, processor.decoder_tokenizer, anomalous_answer="The sequence is broken."
    )
    with pytest.raises(ValueError, match="anomalous_token_id"):
        model.detect([["a"]], wrong_answers)


def test_bad_detect_arguments(tiny):
    model, processor = tiny
    with pytest.raises(ValueError, match="threshold"):
        model.detect([["a"]], processor, threshold=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        model.detect([["a"]], processor, batch_size=0)


def test_answers_that_do_not_differ_are_rejected(tiny):
    _, processor = tiny
    bad = LogLLMProcessor(processor.encoder_tokenizer, processor.decoder_tokenizer, normal_answer="yes", anomalous_answer="yes")
    with pytest.raises(ValueError, match="prefix of the other"):
        bad.prompt_ids
