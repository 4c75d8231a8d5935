"""The `logllm` dispatcher: help, version, unknown commands, and that every subcommand resolves."""

import importlib
import subprocess
import sys

import pytest

from logllm.cli import SUBCOMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_resolves_to_its_function(name):
    module_name, _, function = SUBCOMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function or "main", None)), f"{SUBCOMMANDS[name][0]} is not a function(argv)"


def test_console_script_runs_as_module():
    result = subprocess.run([sys.executable, "-m", "logllm", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip()


def test_train_missing_data_folder_is_one_line(tmp_path, capsys):
    code = main(["train", "--config", "tiny/synthetic", "--dataset_name", str(tmp_path / "no-such-folder"),
                 "--dataset_config", "plain_sliding_50_50", "--output_dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("logllm train: error: ") and "no-such-folder" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_train_offline_push_says_where_the_model_is(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["train", "--config", "tiny/synthetic", "--output_dir", str(tmp_path / "run"), "--max_train_windows", "20",
                 "--push_to_hub", "true", "--hub_model_id", "me/x"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("logllm train: error: cannot push: HF_HUB_OFFLINE is set")
    assert str(tmp_path / "run" / "final_model") in last and (tmp_path / "run" / "final_model" / "config.json").is_file()
