"""A broken model is an error everywhere, never a clean result (issue 17, case 1 and the model files of case 7).

A model whose score is NaN used to read as "No anomalous windows" with exit status 0 (`max(0.0, nan)` -> 0.0), also
with `--fail-on-anomaly`; a truncated, empty or garbage `model.safetensors` gave a traceback. Here each of `logllm
detect`, `logllm watch` and the Space's analyze API (what `logllm serve` answers) gets such a model and must say so in
one line, without a traceback, and detect/watch must exit non-zero.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from detect_support import _session_temp_dir, planted_log  # noqa: E402

BROKEN_FILES = ("truncated", "header-only", "garbage", "empty")


@functools.lru_cache(maxsize=None)
def _nan_score_model_dir() -> Path:
    """A tiny model with finite weights whose score overflows to NaN: the decoder's final norm scaled to 3e38.

    Loading checks weights for NaN/infinity, so this is the fault that gets past loading: the forward pass itself
    produces inf - inf. Saved once per test process (tests must not modify it).
    """
    import torch

    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0)
    with torch.no_grad():
        model.model.decoder.norm.weight.fill_(3e38)
    out = _session_temp_dir("logllm-test-nan-score-")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def nan_model() -> str:
    return str(_nan_score_model_dir())


@pytest.fixture
def log_file(tmp_path) -> Path:
    path = tmp_path / "app.log"
    path.write_text(planted_log(12))
    return path


def _one_line_error(err: str, prefix: str) -> str:
    """The error a command printed: exactly one line starting with `prefix`, and no traceback anywhere."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    return lines[0]


def _broken_copy(tmp_path: Path, kind: str) -> Path:
    """A copy of an untrained tiny model folder whose model.safetensors is `kind` of broken."""
    from detect_support import untrained_tiny_model_dir

    folder = tmp_path / f"model-{kind}"
    shutil.copytree(untrained_tiny_model_dir(), folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    broken = {
        "truncated": data[: len(data) // 2],       # a download cut short: header fine, tensors missing
        "header-only": data[:100],                  # cut inside the header
        "garbage": os.urandom(4096),                # not safetensors at all
        "empty": b"",
    }[kind]
    weights.write_bytes(broken)
    return folder


# ------------------------------------------------------------------------------------------------- NaN scores
def test_nan_scores_are_an_error_in_detect_not_a_clean_run(nan_model, log_file, capsys):
    """Case 1: 'No anomalous windows', exit 0 (also with --fail-on-anomaly). Now exit 2 and one line naming where."""
    from logllm.commands.detect import EXIT_ERROR, main

    for extra in ([], ["--fail-on-anomaly"]):
        assert main([str(log_file), "--model", nan_model, "--no-progress", *extra]) == EXIT_ERROR
        captured = capsys.readouterr()
        line = _one_line_error(captured.err, "logllm detect: error:")
        assert "nan" in line and f"{log_file.name}:1-" in line, line   # names the window by file:lines
        assert "No anomalous windows" not in captured.out


def test_nan_scores_never_reach_the_output_file(nan_model, log_file, tmp_path, capsys):
    """Nothing is written as if the run had succeeded: an earlier --output file stays as it was."""
    from logllm.commands.detect import main

    output = tmp_path / "results.jsonl"
    output.write_text('{"earlier": true}\n')
    assert main([str(log_file), "--model", nan_model, "--no-progress", "--output", str(output)]) == 2
    assert output.read_text() == '{"earlier": true}\n'
    assert not list(tmp_path.glob("*.tmp*")), list(tmp_path.iterdir())
    capsys.readouterr()


def test_nan_scores_are_an_error_in_watch(nan_model, log_file, capsys):
    """watch from the start of a small file: the first scored batch fails; the error is reported, exit 2."""
    from logllm.commands.watch import main

    assert main([str(log_file), "--model", nan_model, "--from-start", "--window", "sliding:5",
                 "--duration", "60"]) == 2
    captured = capsys.readouterr()
    line = _one_line_error(captured.err, "logllm watch: error:")
    assert "nan" in line and "app.log:1-5" in line, line
    assert "ALERT" not in captured.out and "ok " not in captured.out


def test_nan_scores_are_an_error_in_the_space_api(nan_model):
    """The Space's analyze (the /analyze API of `logllm serve`) answers with an error, never a 'normal' table."""
    from logllm.space.app import analyze

    outputs = analyze(None, planted_log(12), None, nan_model, "auto", "sliding:5", None,
                      progress=lambda *args, **kwargs: None)
    summary, table = outputs[0], outputs[1]
    assert summary.startswith("**Cannot analyse this input.**") and "nan" in summary, summary
    assert "internal error" not in summary
    assert len(table) == 0 and outputs[-1] is None      # no rows, no state: nothing reads as 'normal'


def test_nan_weights_are_refused_when_loading_with_the_tensor_named(tmp_path, log_file, capsys):
    """Deliver 2: loading checks weights for non-finite values and names the tensor (case 1's repro: a NaN norm)."""
    import torch

    from logllm.commands.detect import main
    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0)
    with torch.no_grad():
        model.model.decoder.norm.weight[3] = float("nan")
    model.save_pretrained(tmp_path / "nan-weights")
    processor.save_pretrained(tmp_path / "nan-weights")
    assert main([str(log_file), "--model", str(tmp_path / "nan-weights"), "--no-progress"]) == 2
    line = _one_line_error(capsys.readouterr().err, "logllm detect: error:")
    assert "weight model.decoder.norm.weight holds 1 NaN/infinite value(s)" in line, line


# ------------------------------------------------------------------------------------- broken model.safetensors
@pytest.mark.parametrize("kind", BROKEN_FILES)
def test_broken_safetensors_is_a_one_line_error_naming_the_file_in_detect(kind, tmp_path, log_file, capsys):
    """Case 7: a truncated, empty or garbage model.safetensors gave a traceback."""
    from logllm.commands.detect import main

    folder = _broken_copy(tmp_path, kind)
    assert main([str(log_file), "--model", str(folder), "--no-progress"]) == 2
    line = _one_line_error(capsys.readouterr().err, "logllm detect: error:")
    assert f"{folder / 'model.safetensors'}: not a readable safetensors file" in line, line
    assert "truncated or corrupt" in line


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_broken_safetensors_is_a_one_line_error_in_watch(kind, tmp_path, log_file, capsys):
    from logllm.commands.watch import main

    folder = _broken_copy(tmp_path, kind)
    assert main([str(log_file), "--model", str(folder), "--from-start", "--duration", "60"]) == 2
    line = _one_line_error(capsys.readouterr().err, "logllm watch: error:")
    assert f"{folder / 'model.safetensors'}: not a readable safetensors file" in line, line


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_broken_safetensors_is_an_error_in_the_space_api(kind, tmp_path):
    from logllm.space.app import analyze

    folder = _broken_copy(tmp_path, kind)
    outputs = analyze(None, planted_log(12), None, str(folder), "auto", "", None, progress=lambda *a, **k: None)
    assert outputs[0].startswith("**Cannot analyse this input.**"), outputs[0]
    assert "not a readable safetensors file" in outputs[0] and "internal error" not in outputs[0]
