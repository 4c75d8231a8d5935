"""Line attribution: leave-one-out line scores put a planted anomalous line first."""

from __future__ import annotations

import pytest
import torch

from modeling_logllm.presets import build_tiny

NORMAL = ["job started", "heartbeat ok", "job finished", "cache refreshed"]
PLANTED = "disk failure on node"


def _training_windows():
    windows, labels = [], []
    for shift in range(4):
        base = NORMAL[shift:] + NORMAL[:shift]
        windows.append(base[:3])
        labels.append(0)
        anomalous = base[:3]
        anomalous.insert(shift % 3, PLANTED)
        windows.append(anomalous)
        labels.append(1)
    return windows, labels


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained for a few dozen steps on P(anomalous) until the two kinds separate."""
    torch.manual_seed(0)
    model, processor = build_tiny(seed=0, preprocessing="none")
    model.set_training_stage(3)
    model.train()
    windows, labels = _training_windows()
    batch = processor(windows, preprocessed=True)
    target = torch.tensor(labels, dtype=torch.float)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(120):
        optim.zero_grad()
        score = model(**batch, only_score_logits=True).anomaly_score
        loss = torch.nn.functional.binary_cross_entropy(score, target)
        loss.backward()
        optim.step()
        if loss.item() < 0.05:
            break
    model.eval()
    return model, processor


def test_planted_line_ranks_first(trained):
    model, processor = trained
    window = ["cache refreshed", "job started", PLANTED, "heartbeat ok", "job finished", "heartbeat ok"]
    normal = ["cache refreshed", "job started", "heartbeat ok", "job finished", "heartbeat ok"]
    result, reference = model.detect([window, normal], processor, line_scores=True, preprocessed=True)
    assert result["score"] > reference["score"]
    scores = result["line_scores"]
    assert len(scores) == len(window)
    assert max(range(len(window)), key=scores.__getitem__) == window.index(PLANTED)
    assert scores[3] == scores[5]  # repeated lines share their distinct line's score


def test_line_scores_are_leave_one_out_differences(trained):
    model, processor = trained
    window = ["job started", PLANTED, "job finished"]
    result = model.detect([window], processor, line_scores=True, preprocessed=True)[0]
    without = model.detect([["job started", "job finished"]], processor, preprocessed=True)[0]["score"]
    assert result["line_scores"][1] == pytest.approx(result["score"] - without, abs=1e-5)


def test_single_line_window_carries_the_whole_score(trained):
    model, processor = trained
    result = model.detect([[PLANTED, PLANTED]], processor, line_scores=True, preprocessed=True)[0]
    assert result["line_scores"] == pytest.approx([result["score"]] * 2)
