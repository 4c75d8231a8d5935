"""A broken model folder is named for what is broken (issue 30, part B 4): one line from `logllm detect`, exit 2.

Each case once gave a message about something else: a missing tokenizer folder asked to install sentencepiece or
tiktoken, a `"threshold": "high"` in config.json was a TypeError traceback, and a model whose weights lack the
novelty index was called "NaN/infinite".
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest

from logllm.commands.detect import main
from logllm.modeling.loading import ModelLoadError, load_model
from logllm.scoring.operating_point import OperatingPoint


@functools.lru_cache(maxsize=None)
def _indexed_tiny(folder: str) -> Path:
    import torch

    from logllm.modeling.presets import build_tiny

    model, processor = build_tiny(seed=0)
    model.set_novelty_index(torch.nn.functional.normalize(torch.randn(5, model.config.encoder_config.hidden_size), dim=-1))
    OperatingPoint(threshold=0.4, threshold_source="test", novelty_threshold=0.3).save_to(model)
    out = Path(folder) / "indexed"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture
def model_copy(tmp_path, tmp_path_factory):
    source = _indexed_tiny(str(tmp_path_factory.getbasetemp()))
    target = tmp_path / "model"
    shutil.copytree(source, target)
    return target


def detect_error(tmp_path, capsys, model: Path) -> str:
    log = tmp_path / "app.log"
    log.write_text("".join(f"job {i} started\n" for i in range(8)))
    code = main([str(log), "--model", str(model), "--window", "sliding:4:4", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("logllm detect:")]
    assert len(lines) == 1, err
    return lines[0]


def test_the_intact_copy_loads(model_copy):
    model, _, _ = load_model(model_copy)
    assert model.novelty_index is not None and OperatingPoint.of(model).threshold == 0.4


@pytest.mark.parametrize("sub", ["decoder_tokenizer", "encoder_tokenizer"])
def test_missing_tokenizer_folder_is_named(tmp_path, capsys, model_copy, sub):
    shutil.rmtree(model_copy / sub)
    line = detect_error(tmp_path, capsys, model_copy)
    assert f"{sub}/ folder is missing" in line and str(model_copy) in line
    assert "sentencepiece" not in line and "tiktoken" not in line


def test_empty_tokenizer_folder_names_the_files(tmp_path, capsys, model_copy):
    for file in (model_copy / "encoder_tokenizer").iterdir():
        file.unlink()
    line = detect_error(tmp_path, capsys, model_copy)
    assert "encoder_tokenizer: no tokenizer files" in line and "tokenizer.json" in line


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("threshold", "high", "expected a number between 0 and 1, got 'high'"),
    ("threshold", 1.5, "expected a number between 0 and 1, got 1.5"),
    ("threshold", None, "expected a number between 0 and 1, got None"),
    ("novelty_threshold", "far", "expected a number >= 0 or null, got 'far'"),
    ("novelty_k", 0, "expected an integer >= 1, got 0"),
])
def test_bad_operating_point_names_config_json_and_the_field(tmp_path, capsys, model_copy, field, value, expected):
    config = json.loads((model_copy / "config.json").read_text())
    config["operating_point"][field] = value
    (model_copy / "config.json").write_text(json.dumps(config))
    line = detect_error(tmp_path, capsys, model_copy)
    assert f"{model_copy / 'config.json'}: operating_point.{field}: {expected}" in line


def test_missing_novelty_tensor_is_called_missing_not_nan(model_copy):
    from safetensors.torch import load_file, save_file

    weights = model_copy / "model.safetensors"
    state = load_file(str(weights))
    del state["novelty_index"]
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="novelty_index tensor is missing") as caught:
        load_model(model_copy)
    assert "NaN" not in str(caught.value) and "novelty_index_size" in str(caught.value)


def test_missing_tensor_of_another_part_is_named(model_copy):
    from safetensors.torch import load_file, save_file

    weights = model_copy / "model.safetensors"
    state = load_file(str(weights))
    gone = next(key for key in state if key.startswith("model.projector"))
    del state[gone]
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=f"lack 1 tensor.*{gone}"):
        load_model(model_copy)
