"""A model folder is read as one version while training saves a new one (issue 30, part B 3).

`detect` once ran with the threshold of one save and the weights of the next (the folder was replaced between the
config read and the weights read), and a folder overwritten in place gave Bus errors (mmap'd safetensors). Now each
save is a new version behind an atomically swapped link, and loading resolves the link once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from logllm.atomic import VERSIONS_SUFFIX
from logllm.modeling.loading import ModelLoadError, load_model
from logllm.scoring.operating_point import OperatingPoint
from logllm.training.artifact import save_model_artifact


@pytest.fixture(scope="module")
def tiny():
    from logllm.modeling.presets import build_tiny

    return build_tiny(seed=0)


def save_version(tiny, folder: Path, threshold: float, shift: float) -> dict[str, torch.Tensor]:
    """Save `tiny` with its projector moved by `shift` and the given threshold; return the saved weights."""
    model, processor = tiny
    with torch.no_grad():
        for p in model.model.projector.parameters():
            p.fill_(shift)
    OperatingPoint(threshold=threshold, threshold_source=f"version {threshold}").save_to(model)
    save_model_artifact(model, processor, folder)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def projector(model) -> torch.Tensor:
    return next(model.model.projector.parameters()).detach()


def test_each_save_is_a_new_version_and_no_file_is_written_twice(tmp_path, tiny):
    folder = tmp_path / "final_model"
    versions = tmp_path / f"final_model{VERSIONS_SUFFIX}"
    save_version(tiny, folder, 0.2, 0.1)
    first = folder.resolve()
    save_version(tiny, folder, 0.8, 0.2)
    second = folder.resolve()
    assert folder.is_symlink() and first != second and first.parent == second.parent == versions
    assert sorted(versions.iterdir()) == sorted([first, second])  # the one just replaced is kept for late readers
    weights = second / "model.safetensors"
    inode, data = weights.stat().st_ino, weights.read_bytes()
    save_version(tiny, folder, 0.5, 0.3)
    assert not first.exists() and sorted(versions.iterdir()) == sorted([second, folder.resolve()])
    assert weights.stat().st_ino == inode and weights.read_bytes() == data  # never rewritten in place
    assert not list(tmp_path.glob(".final_model.*"))  # no temporary folder or link left
    model, _, _ = load_model(folder)
    assert OperatingPoint.of(model).threshold == 0.5 and torch.all(projector(model) == 0.3)


def test_versions_of_a_relative_folder_name(tmp_path, tiny, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = Path("runs") / "final_model"
    folder.parent.mkdir()
    save_version(tiny, folder, 0.2, 0.1)
    first = folder.resolve()
    save_version(tiny, folder, 0.8, 0.2)
    assert first.is_dir() and len(list(Path("runs", f"final_model{VERSIONS_SUFFIX}").iterdir())) == 2
    model, _, name = load_model(str(folder))
    assert name == str(folder) and OperatingPoint.of(model).threshold == 0.8


def test_a_save_between_the_config_read_and_the_weights_read_is_not_mixed_in(tmp_path, tiny, monkeypatch):
    from logllm.modeling.configuration_logllm import LogLLMConfig
    from logllm.scoring.detector import Detector

    folder = tmp_path / "final_model"
    save_version(tiny, folder, 0.2, 0.1)
    original = LogLLMConfig.from_pretrained.__func__
    swaps = []

    def config_then_a_new_save(cls, *args, **kwargs):
        config = original(cls, *args, **kwargs)
        if not swaps:  # `train` saves the next version right after the config was read
            swaps.append(save_version(tiny, folder, 0.8, 0.2))
        return config

    monkeypatch.setattr(LogLLMConfig, "from_pretrained", classmethod(config_then_a_new_save))
    detector = Detector.load(str(folder))
    assert swaps, "the save did not happen between the reads"
    assert detector.threshold == 0.2 and torch.all(projector(detector.model) == 0.1)  # version 1, whole
    monkeypatch.undo()
    detector = Detector.load(str(folder))
    assert detector.threshold == 0.8 and torch.all(projector(detector.model) == 0.2)  # the next load: version 2


def test_a_version_removed_while_it_is_read_fails_clearly(tmp_path, tiny, monkeypatch, capsys):
    from logllm.commands.detect import main
    from logllm.modeling.configuration_logllm import LogLLMConfig

    folder = tmp_path / "final_model"
    save_version(tiny, folder, 0.2, 0.1)
    original = LogLLMConfig.from_pretrained.__func__
    saves = []

    def config_then_two_saves(cls, *args, **kwargs):
        config = original(cls, *args, **kwargs)
        if not saves:  # two saves: the version being read is two saves old, and removed
            saves.extend([save_version(tiny, folder, 0.8, 0.2), save_version(tiny, folder, 0.5, 0.3)])
        return config

    monkeypatch.setattr(LogLLMConfig, "from_pretrained", classmethod(config_then_two_saves))
    log = tmp_path / "app.log"
    log.write_text("".join(f"job {i} started\n" for i in range(8)))
    code = main([str(log), "--model", str(folder), "--window", "sliding:4:4", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "the model was saved again while it was being read" in err and "run again" in err
    with pytest.raises(ModelLoadError, match="saved again while it was being read"):
        monkeypatch.setattr(LogLLMConfig, "from_pretrained", classmethod(config_then_two_saves))
        saves.clear()
        load_model(folder)


def test_a_folder_saved_before_versions_becomes_the_kept_previous_version(tmp_path, tiny):
    model, processor = tiny
    folder = tmp_path / "final_model"
    model.save_pretrained(folder)  # the old layout: a real folder
    processor.save_pretrained(folder)
    save_version(tiny, folder, 0.8, 0.2)
    versions = sorted((tmp_path / f"final_model{VERSIONS_SUFFIX}").iterdir())
    assert folder.is_symlink() and len(versions) == 2
    assert [v.name.endswith("-earlier") for v in versions].count(True) == 1
    assert all((v / "config.json").is_file() for v in versions)


def test_without_symbolic_links_the_folder_is_replaced_whole(tmp_path, tiny, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError("symbolic links are not available")

    monkeypatch.setattr(os, "symlink", no_links)
    folder = tmp_path / "final_model"
    save_version(tiny, folder, 0.2, 0.1)
    save_version(tiny, folder, 0.8, 0.2)
    assert folder.is_dir() and not folder.is_symlink() and not (tmp_path / f"final_model{VERSIONS_SUFFIX}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model"]
    model, _, _ = load_model(folder)
    assert OperatingPoint.of(model).threshold == 0.8
