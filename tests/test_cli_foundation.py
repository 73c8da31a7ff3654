"""The command line: vocabulary commands, errors, exit statuses, --help everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facs_rig import __version__
from facs_rig.cli import build_parser, main


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_parse_json_exact(capsys):
    status, out, err = run(capsys, "parse", "R12A+R14A", "--json")
    assert status == 0 and err == ""
    assert json.loads(out) == {"code": "R12A+R14A", "aus": [
        {"au": 12, "name": "Lip Corner Puller", "side": "R", "intensity": "A", "value": 0.1},
        {"au": 14, "name": "Dimpler", "side": "R", "intensity": "A", "value": 0.1}]}


def test_parse_json_nulls_when_absent(capsys):
    status, out, _ = run(capsys, "parse", "26", "--json")
    assert json.loads(out)["aus"] == [
        {"au": 26, "name": "Jaw Drop", "side": None, "intensity": None, "value": 0.55}]


def test_parse_table(capsys):
    status, out, _ = run(capsys, "parse", "surprise+25")
    lines = out.splitlines()
    assert status == 0 and lines[0] == "1+2+5B+25+26"
    assert any(line.split()[:5] == ["5", "Upper", "Lid", "Raiser", "both"] for line in lines)


def test_parse_other_scale(capsys):
    _, out, _ = run(capsys, "parse", "12A", "--scale", "hapfacs", "--json")
    assert json.loads(out)["aus"][0]["value"] == 0.15


def test_bad_code_is_one_line_exit_1(capsys):
    status, out, err = run(capsys, "parse", "1+3")
    assert status == 1 and out == ""
    assert err == "facs-rig: error: unknown action unit 3 at column 3 of '1+3'\n"


def test_unknown_scale_is_a_usage_error(capsys):
    """A scale name is a choice of the command line: exit 2, checked while parsing (README)."""
    status, _, err = run(capsys, "parse", "12", "--scale", "nope")
    assert (status, err) == (2, "facs-rig: error: argument --scale: unknown intensity scale "
                                "'nope'; known: facshuman, hapfacs, openface (see 'facs-rig "
                                "parse --help')\n")


@pytest.mark.parametrize("argv", [["parse"], ["nonsense"], ["aus", "--bogus"], []])
def test_usage_errors_exit_2_with_one_line(capsys, argv):
    status, _, err = run(capsys, *argv)
    assert status == 2
    if argv:
        assert err.startswith("facs-rig: error: ") and err.count("\n") == 1


def test_aus_json_lists_the_catalogue(capsys):
    status, out, _ = run(capsys, "aus", "--json")
    entries = json.loads(out)
    assert status == 0 and len(entries) == 75
    assert entries[0] == {"au": 1, "name": "Inner Brow Raiser", "kind": "action_unit",
                          "region": "brows", "unilateral": True,
                          "muscles": ["frontalis, pars medialis"]}


def test_aus_table(capsys):
    _, out, _ = run(capsys, "aus")
    assert "Lip Corner Puller" in out and "zygomaticus major" in out


def test_expressions(capsys):
    _, out, _ = run(capsys, "expressions", "--json")
    names = {entry["name"]: entry["code"] for entry in json.loads(out)}
    assert names["surprise"] == "1+2+5B+25+26" and names["contempt"] == "R12C+R14C"


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"facs-rig {__version__}"


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_help_on_every_command(capsys, command):
    status, out, _ = run(capsys, command, "--help")
    assert status == 0 and out.startswith("usage: facs-rig " + command)


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "facs_rig", "parse", "AU6C+AU12D"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "6C+12D"


def test_no_traceback_for_bad_input_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "facs_rig", "parse", "12Z"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_scales(capsys):
    status, out, _ = run(capsys, "scales", "--json")
    scales = {entry["name"]: entry for entry in json.loads(out)}
    assert status == 0 and set(scales) == {"facshuman", "hapfacs", "openface"}
    assert scales["facshuman"]["default"] and not scales["hapfacs"]["default"]
    assert scales["hapfacs"]["values"] == {"A": 0.15, "B": 0.3, "C": 0.55, "D": 0.85, "E": 1.0}
    _, table, _ = run(capsys, "scales")
    assert "facshuman (default)" in table and "0.55 (<= 0.55)" in table


def test_tables_wrap_their_last_column_at_a_terminals_width(capsys, monkeypatch):
    """`facs-rig expressions` printed 546-character lines on a terminal; off one, each row stays
    one line (for grep)."""
    import facs_rig.cli._output as output

    status, whole, _ = run(capsys, "expressions")
    assert status == 0 and max(map(len, whole.splitlines())) > 300
    monkeypatch.setattr(output, "_terminal_width", lambda: 100)
    status, wrapped, _ = run(capsys, "expressions")
    lines = wrapped.splitlines()
    assert status == 0 and max(map(len, lines)) <= 100
    indent = lines[1].rindex("  ") + 2  # where the rule's last column starts
    # Every row's source reads whole again from its lines, continuation lines under its start.
    rows = [line.split(None, 2) for line in whole.splitlines()[2:]]
    text = " ".join(line[indent:] for line in lines[2:])
    assert all(row[2] in text for row in rows if len(row) == 3)
    assert all(line.startswith(" " * indent) or line[0] != " " for line in lines[2:])
