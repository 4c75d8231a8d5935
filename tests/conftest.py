"""Shared fixtures: where the real Loghub samples are, and an isolated Hugging Face cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_LOGHUB = Path(__file__).resolve().parents[1].parent / "shared" / "loghub"


@pytest.fixture(scope="session")
def loghub_dir() -> Path:
    """The real labeled samples; skip when absent, fail when LOGLLM_REQUIRE_SHARED=1 (CI)."""
    if SHARED_LOGHUB.is_dir():
        return SHARED_LOGHUB
    if os.environ.get("LOGLLM_REQUIRE_SHARED") == "1":
        pytest.fail(f"LOGLLM_REQUIRE_SHARED=1 but {SHARED_LOGHUB} is missing")
    pytest.skip(f"real Loghub samples not found at {SHARED_LOGHUB} (a fresh clone has no ../shared)")


@pytest.fixture(autouse=True)
def isolated_hf_home(tmp_path_factory, monkeypatch):
    """Keep remote-code module caches and Hub state out of the user's home, and stay offline."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    yield
