"""Line evidence: leave-one-out differences in log-odds put a planted anomalous line first."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import PLANTED, trained_tiny  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """The tiny model trained on P(anomalous) over windows with and without `PLANTED` (shared, cached)."""
    return trained_tiny()


def test_planted_line_ranks_first(trained):
    model, processor = trained
    window = ["job 4 started", "job 9 started", PLANTED, "heartbeat ok", "job 4 finished", "heartbeat ok"]
    normal = ["job 4 started", "job 9 started", "heartbeat ok", "job 4 finished", "heartbeat ok"]
    result, reference = model.detect([window, normal], processor, line_scores=True)
    assert result["score"] > reference["score"]
    scores = result["line_scores"]
    assert len(scores) == len(window)
    assert max(range(len(window)), key=scores.__getitem__) == window.index(PLANTED)
    assert scores[3] == scores[5]  # repeated lines share their distinct line's score
    assert scores[0] == scores[1]  # ... also when they are equal only after preprocessing (numbers masked)


def _log_odds(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_line_scores_are_leave_one_out_differences_in_log_odds(trained):
    model, processor = trained
    window = ["job 3 started", PLANTED, "job 3 finished"]
    result = model.detect([window], processor, line_scores=True)[0]
    without = model.detect([["job 3 started", "job 3 finished"]], processor)[0]["score"]
    assert result["line_scores"][1] == pytest.approx(_log_odds(result["score"]) - _log_odds(without), abs=1e-3)


def test_single_line_window_carries_the_whole_log_odds(trained):
    model, processor = trained
    result = model.detect([[PLANTED, PLANTED]], processor, line_scores=True)[0]
    assert result["line_scores"] == pytest.approx([_log_odds(result["score"])] * 2, abs=1e-3)
