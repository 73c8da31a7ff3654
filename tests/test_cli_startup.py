"""The CLI imports only the modules of the command it runs (issue 11 point 8: start-up time)."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facs_rig.cli import COMMAND_MODULES, COMMANDS_OF_MODULE, _Parser, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _registered(module_name: str) -> tuple[str, ...]:
    parser = _Parser(prog="facs-rig")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser)
    importlib.import_module(module_name).register(subparsers)
    return tuple(subparsers.choices)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_table_lists_every_module_and_exactly_the_commands_it_registers():
    assert tuple(COMMANDS_OF_MODULE) == COMMAND_MODULES
    for module_name in COMMAND_MODULES:
        assert _registered(module_name) == COMMANDS_OF_MODULE[module_name], module_name


@pytest.mark.parametrize("command", sorted({c for cs in COMMANDS_OF_MODULE.values() for c in cs}))
def test_a_command_parsed_alone_has_the_same_help_as_in_the_full_parser(command):
    alone = _subcommands(build_parser(command))
    full = _subcommands(build_parser())
    assert set(alone) <= set(full)
    assert alone[command].format_help() == full[command].format_help()
    for name, sub in _subcommands(full[command]).items() if command == "rig" else ():
        assert _subcommands(alone[command])[name].format_help() == sub.format_help()


def test_an_unknown_or_missing_command_builds_the_full_parser_for_its_message(capsys):
    assert main(["cod"]) == 2
    assert "did you mean 'code'?" in capsys.readouterr().err
    assert list(_subcommands(build_parser(None))) == list(_subcommands(build_parser("nope")))


def test_code_does_not_import_the_gltf_osc_or_mixing_commands():
    probe = ("import sys\nfrom facs_rig.cli import main\nmain(['--debug', 'code', '--help'])\n"
             "print(' '.join(sorted(sys.modules)))\n")
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=environment,
                          capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split("\n")[-2].split())
    assert "facs_rig.cli.capture_commands" in loaded
    for module in ("facs_rig.io.gltf.pipeline", "facs_rig.io.osc", "facs_rig.cli.rig_commands",
                   "facs_rig.cli.studio_command", "pythonosc"):
        assert module not in loaded
