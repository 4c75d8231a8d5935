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
