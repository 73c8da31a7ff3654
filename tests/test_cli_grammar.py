"""One grammar for the CLI (issue 11, point 10): names case-insensitive, "did you mean" for typos,
the same metavar for the same thing, --json where a command reports, one-line usage errors."""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import shared_asset

from facs_rig.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
BEAT = str(REPO / "examples" / "suspicion_beat.notes")


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _options():
    """(command, option or positional dest, metavar) of every argument of every command."""
    found = []

    def walk(parser, command):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{command} {name}".strip())
            elif action.help != argparse.SUPPRESS and not isinstance(
                    action, (argparse._HelpAction, argparse._StoreTrueAction,
                             argparse._VersionAction)):
                key = action.option_strings[-1] if action.option_strings else f"<{action.dest}>"
                found.append((command, key, action.metavar, action.choices is not None))

    walk(build_parser(), "")
    return found


#: The few arguments whose name means a different thing in one command.
_DIFFERENT_BY_DESIGN = {("demo", "--output"): "FOLDER", ("batch", "--output"): "TEMPLATE",
                        # copies a bundled profile: a name, never a file
                        ("rig copy", "<rig>"): "NAME"}


def test_the_same_option_has_the_same_metavar_everywhere():
    by_option = defaultdict(set)
    for command, key, metavar, has_choices in _options():
        if has_choices or (command, key) in _DIFFERENT_BY_DESIGN:
            continue
        assert metavar is not None, f"facs-rig {command} {key} has no metavar"
        by_option[key].add(metavar)
    mixed = {key: sorted(metavars) for key, metavars in by_option.items() if len(metavars) > 1}
    assert mixed == {}
    assert by_option["--output"] == {"FILE"} and by_option["--rig"] == {"NAME|FILE"}
    assert by_option["--fps"] == {"FPS"} and by_option["--hold"] == {"SECONDS"}
    assert by_option["--mesh"] == {"FACE.glb"}


def test_timeline_or_code_positionals_share_one_metavar():
    positional = {metavar for command, key, metavar, _ in _options()
                  if key in ("<source>", "<timeline>", "<input>")}
    assert positional == {"TIMELINE|CODE"}


def _without_date(eaf: str) -> str:
    return re.sub(r'DATE="[^"]*"', 'DATE=""', eaf)


def test_timeline_convert_takes_dash_o_and_keeps_the_positional_form(tmp_path, capsys):
    first, second = tmp_path / "a.eaf", tmp_path / "b.eaf"
    assert run(capsys, "timeline", "convert", BEAT, "-o", str(first))[0] == 0
    assert run(capsys, "timeline", "convert", BEAT, str(second))[0] == 0
    # The same file but for the header's DATE, which moves on when a second passes between them.
    assert _without_date(first.read_text(encoding="utf-8")) == _without_date(
        second.read_text(encoding="utf-8"))
    status, _, err = run(capsys, "timeline", "convert", BEAT, str(second), "-o", str(first))
    assert status == 2 and "give the output once" in err and err.count("\n") == 1
    status, _, err = run(capsys, "timeline", "convert", BEAT)
    assert status == 2 and "the output is missing: add -o FILE" in err


@pytest.mark.parametrize("name", ["ARKit", "ARKIT", "MetaHuman", "Facs"])
def test_rig_names_are_case_insensitive(capsys, name):
    status, out, _ = run(capsys, "mix", "happiness", "--rig", name, "--json")
    assert status == 0
    status, expected, _ = run(capsys, "mix", "happiness", "--rig", name.lower(), "--json")
    assert json.loads(out) == json.loads(expected)


@pytest.mark.parametrize(("argv", "suggestion"), [
    (["parse", "hapiness"], "did you mean 'happiness'?"),
    (["parse", "Suprise+25"], "did you mean 'surprise'?"),
    # Word forms, not misspellings, had no suggestion.
    (["parse", "happy"], "did you mean 'happiness'?"),
    (["parse", "sad+25"], "did you mean 'sadness'?"),
    (["mix", "smile"], "did you mean 'duchenne_smile' or 'polite_smile'?"),
    (["parse", "wink"], "did you mean 'wink_left' or 'wink_right'?"),
    # Everyday words for a named face (a director's review: 'scared', 'forced smile' and
    # 'smirk' had no suggestion; expressions.json everyday_words cites each family).
    (["parse", "scared"], "did you mean 'fear'?"),
    (["mix", "forced smile"], "did you mean 'polite_smile'?"),
    (["parse", "Smirk"], "did you mean 'contempt'?"),
    (["parse", "1+2+shocked"], "did you mean 'surprise'?"),
    (["mix", "happiness", "--rig", "arkt"], "did you mean 'arkit'?"),
    (["mix", "happiness", "--rig", "MetaHumn"], "did you mean 'metahuman'?"),
    (["previw", "12"], "did you mean 'preview'?"),
    (["timeline", "sampel", "12"], "did you mean 'sample'?"),
    (["rig", "valdate", "x.json"], "did you mean 'validate'?"),
    (["code", "x.csv", "--from", "openfase"], "did you mean 'openface'?"),
])
def test_did_you_mean_for_names_rigs_and_subcommands(capsys, argv, suggestion):
    status, out, err = run(capsys, *argv)
    assert status in (1, 2) and out == ""
    assert err.startswith("facs-rig: error: ") and err.count("\n") == 1 and suggestion in err


def test_no_suggestion_when_nothing_is_close(capsys):
    _, _, err = run(capsys, "parse", "xyz")
    assert "did you mean" not in err and "expected an AU such as 12" in err


@pytest.mark.parametrize("argv", [["parse", "6", "+", "12"], ["mix", "1", "+2"]])
def test_an_unquoted_code_hints_to_quote_it(capsys, argv):
    status, _, err = run(capsys, *argv)
    assert status == 2 and err.count("\n") == 1
    assert "a FACS code with spaces must be quoted, e.g. '6 + 12'" in err


@pytest.mark.parametrize(("argv", "unknown"), [
    (["sheet", "6+12,4", "-o", "d.png", "--at", "2"], "--at 2"),
    (["mix", "6+12", "--intensity", "0.9"], "--intensity 0.9"),
    (["parse", "6+12", "--bogus"], "--bogus")])
def test_an_unknown_option_beside_a_code_gets_no_quoting_hint(capsys, argv, unknown):
    """A reviewer was told to quote a code for `--at 2`: the hint fired on any '+' in the line."""
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err == (f"facs-rig: error: unrecognized arguments: {unknown} "
                   f"(see 'facs-rig {argv[0]} --help')\n")


@pytest.mark.parametrize(("group", "subcommands"), [
    ("rig", "list, show, copy, validate or detect"), ("timeline", "show, convert or sample")])
def test_a_group_without_its_subcommand_is_one_usage_line(capsys, group, subcommands):
    assert run(capsys, group) == (
        2, "", f"facs-rig: error: facs-rig {group}: choose a subcommand: {subcommands} "
               f"(see 'facs-rig {group} --help')\n")


def test_rig_validate_json(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    status, out, err = run(capsys, "rig", "validate", str(REPO / "rigs" / "arkit.json"),
                           str(broken), "--json")
    assert status == 1 and err == ""
    report = json.loads(out)
    assert report[0] == {"file": str(REPO / "rigs" / "arkit.json"), "valid": True, "problems": []}
    assert report[1]["file"] == str(broken) and report[1]["valid"] is False
    assert str(broken) in report[1]["problems"][0]["message"]


def test_retarget_says_which_profile_it_detected_and_has_json(tmp_path, capsys):
    from conftest import shared_asset

    source = shared_asset("captures/livelinkface/S07-001.csv")
    out = tmp_path / "take.glb"
    status, text, _ = run(capsys, "retarget", str(source), "-o", str(out))
    # The bundled default head carries the facs profile's target names.
    assert status == 0 and ", rig facs (detected from the mesh)" in text
    status, text, _ = run(capsys, "retarget", str(source), "-o", str(out), "--mesh",
                          str(REPO / "rigs" / "default_head.glb"), "--json")
    [report] = json.loads(text)
    assert status == 0 and report["rig_detected"] is True
    assert report["rig"] == "facs"
    assert (report["output"], report["frames"], report["fps"]) == (str(out), 2030, 30.0)
    status, text, _ = run(capsys, "retarget", str(source), "-o", str(tmp_path / "w.csv"),
                          "--rig", "ARKit", "--json")
    [report] = json.loads(text)
    assert (report["rig"], report["rig_detected"], report["kind"]) == ("arkit", False,
                                                                       "livelinkface")


@pytest.mark.parametrize(("argv", "hint"), [
    (["code", "a.csv", "b.csv"], "unrecognized arguments: b.csv (see 'facs-rig code --help')"),
    (["rig", "show", "arkit", "extra"],
     "unrecognized arguments: extra (see 'facs-rig rig show --help')"),
    (["--bogus"], "unrecognized arguments: --bogus (see 'facs-rig --help')"),
])
def test_an_extra_argument_points_to_its_own_commands_help(capsys, argv, hint):
    assert run(capsys, *argv) == (2, "", f"facs-rig: error: {hint}\n")


@pytest.mark.parametrize(("capture", "described"), [
    ("captures/livelinkface/S07-001.csv", "Live Link Face CSV take"),
    ("captures/openface/facsvatar_demo_full.csv", "OpenFace 2.x FeatureExtraction CSV"),
    ("captures/pyfeat/001.csv", "Py-Feat Fex CSV"),
])
@pytest.mark.parametrize("command", [["timeline", "show"], ["preview", "-o", "face.gif"]])
def test_a_capture_where_au_curves_are_expected_says_to_solve_it_first(capsys, tmp_path,
                                                                       monkeypatch, capture,
                                                                       described, command):
    monkeypatch.chdir(tmp_path)
    path = str(shared_asset(capture))
    status, out, err = run(capsys, *command, path)
    assert (status, out) == (1, "") and list(tmp_path.iterdir()) == []
    assert err == (f"facs-rig: error: {path} is a face tracker's capture ({described}), not AU "
                   f"curves: solve it to AUs with 'facs-rig retarget {path} -o aus.json' (or "
                   f"'facs-rig code {path}' for its FACS code)\n")
