"""One exit-status rule across the CLI (README "Errors"): a mistake in the command line itself
(a value out of its range or malformed, options that contradict each other) is a usage error,
exit 2, one line ending in the ``--help`` hint, found before any file is read; what is wrong in
files or data (a missing or malformed file, a code or rig the library refuses) is exit 1."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
from conftest import shared_asset
from hypothesis import given
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.cli._output import bounded

REPO = Path(__file__).resolve().parent.parent
CAPTURE = "captures/openface/facsvatar_head_test_clean.csv"


def _one_line(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("facs-rig: error: "), captured.err
    return lines[0]


USAGE = [
    # (argv, the command's prog in the hint, words of the message)
    (["preview", "12", "-o", "x.png", "--yaw", "400"], "facs-rig preview",
     "argument --yaw: 400: must lie between -360 and 360 degrees"),
    (["preview", "12", "-o", "x.png", "--fps", "0"], "facs-rig preview", "argument --fps: 0:"),
    (["sheet", "12", "-o", "x.png", "--columns", "0"], "facs-rig sheet",
     "argument --columns: 0: must be at least 1"),
    (["bake", "12", "-o", "x.glb", "--hold", "-1"], "facs-rig bake",
     "argument --hold: -1: must be at least 0 seconds"),
    (["timeline", "sample", "12", "-o", "x.csv", "--hold", "nan"], "facs-rig timeline sample",
     "argument --hold: nan:"),
    (["timeline", "convert", "12"], "facs-rig timeline convert", "the output is missing"),
    (["stream", "12", "--dry-run", "--refresh", "0"], "facs-rig stream",
     "argument --refresh: 0: must be a positive number of seconds"),
    (["stream", "12", "--dry-run", "--eye-max", "1"], "facs-rig stream",
     "argument --eye-max: '1': expected 2 comma-separated numbers"),
    (["studio", "--port", "70000"], "facs-rig studio",
     "argument --port: 70000: must lie between 0 and 65535"),
    (["retarget", "take.csv", "-o", "x.csv", "--jobs", "0"], "facs-rig retarget",
     "argument --jobs/-j: 0: must be at least 1"),
    (["retarget", "take.csv", "-o", "x.csv", "--gain", "101"], "facs-rig retarget",
     "argument --gain: 101: must be more than 0 and at most 100"),
    (["code", "take.csv", "--on", "0.1", "--off", "0.2"], "facs-rig code", "off (0.2) <= on (0.1)"),
    (["code", "take.csv", "--neutral", "3-1"], "facs-rig code", "the start must be before the end"),
    (["batch", "take.csv", "-o", "o/{stem}.csv", "--workers", "2", "--scheduler", "tcp://x:1"],
     "facs-rig batch", "--workers applies to the local cluster"),
    (["batch", "take.csv", "-o", "o/{stem}.csv", "--scheduler", "http://x:1"], "facs-rig batch",
     "--scheduler http://x:1: unknown address scheme 'http'"),
    (["batch", "a.csv", "b.csv", "-o", "o/x.csv"], "facs-rig batch",
     "with several takes, -o must contain {stem}"),
    (["calibrate", "a.csv", "--coded", "a.csv", "-o", "t.json"], "facs-rig calibrate",
     "at least two coded takes"),
    # "happiness,,sadness" was rendered as 2 faces, the empty item dropped.
    (["sheet", "happiness,,sadness", "-o", "s.png"], "facs-rig sheet",
     "item 2 of 3 in 'happiness,,sadness' is empty: give a code or expression name between each "
     "pair of commas"),
    (["sheet", "12,", "-o", "s.png"], "facs-rig sheet", "item 2 of 2 in '12,' is empty"),
    (["sheet", " , ", "-o", "s.png"], "facs-rig sheet", "no codes given"),
    # A misspelled scale was exit 1 with only the list; a malformed --address exit 1.
    (["mix", "12A", "--scale", "hapfax"], "facs-rig mix",
     "argument --scale: unknown intensity scale 'hapfax'; known: facshuman, hapfacs, openface; "
     "did you mean 'hapfacs'?"),
    (["parse", "12A", "--scale", "opnface"], "facs-rig parse", "did you mean 'openface'?"),
    (["stream", "12", "--protocol", "template", "--address", "/x/{nope}"], "facs-rig stream",
     "argument --address: '/x/{nope}': unknown field(s) {nope}; use {target}, {au}, {side} or "
     "{channel}"),
    (["stream", "12", "--protocol", "template", "--address", "x/{target}"], "facs-rig stream",
     "argument --address: 'x/{target}' must start with '/'"),
    # An option that changes nothing is refused (vmc ignored --address silently).
    (["stream", "12", "--address", "/x/{target}"], "facs-rig stream",
     "--address applies to --protocol template, not vmc"),
    (["bridge", "--protocol", "vrchat", "--address", "/x/{target}"], "facs-rig bridge",
     "--address applies to --protocol template, not vrchat"),
]


@pytest.mark.parametrize(("argv", "prog", "message"), USAGE, ids=[" ".join(u[0][:1] + u[0][-2:])
                                                                  for u in USAGE])
def test_command_line_mistakes_are_exit_2_with_the_help_hint(tmp_path, capsys, monkeypatch,
                                                               argv, prog, message):
    monkeypatch.chdir(tmp_path)  # take.csv and a.csv do not exist: no file is read before
    line = _one_line(capsys, argv, 2)
    assert message in line, line
    assert line.endswith(f"(see '{prog} --help')"), line
    assert not list(tmp_path.iterdir())


def test_errors_in_files_and_data_are_exit_1_without_the_hint(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,capture\n1,2,3\n", encoding="utf-8")
    take = str(shared_asset(CAPTURE))
    for argv, words in [
        (["preview", str(missing), "-o", str(tmp_path / "x.png")], str(missing)),
        (["preview", "12+zz", "-o", str(tmp_path / "x.png")], "12+zz"),
        (["retarget", str(bad), "-o", str(tmp_path / "x.csv")], str(bad)),
        (["retarget", take, "-o", str(tmp_path / "x.csv"), "--rig", "no-such-rig"], "no-such-rig"),
        (["preview", "12", "-o", str(tmp_path / "x.bmp")], ".bmp"),
    ]:
        line = _one_line(capsys, argv, 1)
        assert words in line and "--help" not in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_retarget_and_batch_give_one_status_for_the_same_mistake(tmp_path, capsys, monkeypatch):
    """The README's rule for both: an extension the command does not write is exit 1 (batch
    said 2); two takes of one name that -o does not tell apart are exit 2 (batch said 1)."""
    monkeypatch.chdir(tmp_path)
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "t.csv").write_bytes(shared_asset(CAPTURE).read_bytes())
    for command, template in (("retarget", "{stem}.json"), ("batch", "out/{stem}.json")):
        line = _one_line(capsys, [command, "d1/t.csv", "d2/t.csv", "-o", template], 2)
        assert "d1/t.csv and d2/t.csv would both write" in line, line
        assert line.endswith(f"(see 'facs-rig {command} --help')"), line
        line = _one_line(capsys, [command, "d1/t.csv", "-o", "out/{stem}.xyz"], 1)
        assert "cannot write .xyz;" in line and "--help" not in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d1", "d2"]


def test_every_fps_and_range_option_is_checked_while_parsing(capsys):
    # --fps 0 and --yaw 400 were 2 and 1: both are now refused by argparse, before the handler.
    for argv in (["preview", "12", "-o", "/nonexistent/x.png", "--fps", "0"],
                 ["preview", "12", "-o", "/nonexistent/x.png", "--yaw", "400"]):
        line = _one_line(capsys, argv, 2)
        assert "/nonexistent" not in line  # the output folder was never looked at


_FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(low=_FINITE, high=_FINITE, value=st.one_of(_FINITE, st.sampled_from(["nan", "inf", "-inf"])))
def test_bounded_accepts_exactly_the_finite_numbers_in_range(low, high, value):
    parse = bounded(float, low=min(low, high), high=max(low, high))
    text = repr(value) if isinstance(value, float) else value
    number = float(text)
    if math.isfinite(number) and min(low, high) <= number <= max(low, high):
        assert parse(text) == number
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="must lie between"):
            parse(text)


@given(st.text(max_size=12))
def test_bounded_int_refuses_what_int_cannot_read_as_argparse_does(text):
    parse = bounded(int, low=1)
    try:
        expected = int(text)
    except ValueError:
        with pytest.raises(ValueError):  # argparse turns it into "invalid int value: '...'"
            parse(text)
        return
    if expected >= 1:
        assert parse(text) == expected
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="must be at least 1"):
            parse(text)


def test_running_out_of_memory_is_one_line_exit_1(capsys, monkeypatch):
    """numpy's _ArrayMemoryError (a MemoryError) anywhere in a command: one line, no traceback."""
    import facs_rig.cli.capture_commands as commands

    def exhausted(*args, **kwargs):
        import numpy as np

        return np.empty((1 << 50,), dtype=np.uint8)  # 1 PiB: numpy raises _ArrayMemoryError

    monkeypatch.setattr(commands, "read_capture", exhausted)
    line = _one_line(capsys, ["code", str(shared_asset(CAPTURE))], 1)
    assert line == ("facs-rig: error: out of memory: the input needs more memory than is "
                    "available (a much shorter take, or a lower --fps, needs less)")


def test_rows_hours_apart_are_not_resampled_into_millions_of_frames(tmp_path, capsys):
    """Four rows, the last a day later: resampling them at 30 fps would be 2.6 million frames
    (the review's take ate 929 MiB); refused in one line before allocating."""
    from facs_rig.io.captures.arkit_names import ARKIT_NAMES

    path = tmp_path / "far.csv"
    rows = [f"{t}," + ",".join(["0.1"] * 52) for t in (0, 1, 2, 86400)]
    path.write_text("time_s," + ",".join(ARKIT_NAMES) + "\n" + "\n".join(rows) + "\n")
    line = _one_line(capsys, ["code", str(path), "--fps", "30"], 1)
    assert line == (f"facs-rig: error: {path}: resampling 86400 s at 30 fps is 2.59e+06 frames "
                    f"from 4 row(s), more than 1000 per row: the rows' times are far apart for "
                    f"their number (a wrong time column or timecode?)")


#: Every command that takes TIMELINE|CODE, with a missing timeline file (the review's three
#: preview/pose lines and the paths that were already right).
_MISSING_TIMELINE = [
    ["preview", "missing.json", "-o", "m.png"],
    ["preview", "missing.notes", "--at", "1", "-o", "x.png"],
    ["preview", "missing.json", "-o", "m.gif"],
    ["timeline", "show", "missing.json"],
    ["bake", "missing.json", "-o", "m.glb"],
    ["stream", "missing.json", "--dry-run"],
    ["studio", "missing.json"],
]


@pytest.mark.parametrize("argv", _MISSING_TIMELINE, ids=" ".join)
def test_a_missing_timeline_file_is_named_as_one_by_every_command(tmp_path, capsys, monkeypatch,
                                                                   argv):
    """`preview missing.json -o m.png` said "unrecognised term 'missing.json'" (a bad code) and
    with --at a usage error about codes: one rule (timeline_file_argument) decides for all."""
    monkeypatch.chdir(tmp_path)
    line = _one_line(capsys, argv, 1)
    missing = next(argument for argument in argv if argument.startswith("missing"))
    assert line == f"facs-rig: error: {missing}: no such timeline file"
    assert not list(tmp_path.iterdir())


def test_pose_refuses_a_timeline_file_missing_or_not_in_words_that_name_it(tmp_path, capsys,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beat.notes").write_text("0 12C\n", encoding="utf-8")
    for name in ("missing.json", "beat.notes"):
        line = _one_line(capsys, ["pose", name, "-o", "p.obj"], 1)
        assert line == (f"facs-rig: error: {name}: pose takes a FACS code or expression name, not "
                        f"a timeline file; a timeline on the rig: facs-rig bake {name} -o face.glb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beat.notes"]


def test_a_code_longer_than_a_file_name_is_a_code(tmp_path, capsys, monkeypatch):
    """`timeline show 12+12+...` (past 255 bytes) failed with "File name too long": deciding
    "code or file" asked the file system about a name it cannot take."""
    monkeypatch.chdir(tmp_path)
    code = "+".join(["12"] * 200)
    assert main(["timeline", "show", code]) == 0
    assert main(["bake", code, "-o", "face.csv"]) == 0
    assert (tmp_path / "face.csv").is_file()


def test_a_scale_name_is_case_insensitive(capsys):
    assert main(["parse", "12A", "--scale", "OpenFace", "--json"]) == 0
    by_name = capsys.readouterr().out
    assert main(["parse", "12A", "--scale", "openface", "--json"]) == 0
    assert capsys.readouterr().out == by_name


@pytest.mark.parametrize("argv", [
    ["timeline", "show", "beat.notes", "--hold", "2"],
    ["timeline", "sample", "beat.notes", "--hold", "2", "-o", "s.csv"],
    ["timeline", "convert", "beat.notes", "--hold", "2", "-o", "b.json"],
    ["bake", "beat.notes", "--hold", "2", "-o", "w.csv"],
    ["stream", "beat.notes", "--hold", "2", "--dry-run"],
], ids=lambda argv: " ".join(argv[:2]))
def test_hold_with_a_timeline_file_is_refused_as_it_changes_nothing(tmp_path, capsys, monkeypatch,
                                                                     argv):
    """`timeline show file.notes --hold 2` ignored --hold silently (preview refused it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beat.notes").write_text("0 12C\n", encoding="utf-8")
    line = _one_line(capsys, argv, 2)
    prog = " ".join(["facs-rig", *argv[:2 if argv[0] == "timeline" else 1]])
    assert line == (f"facs-rig: error: --hold applies to a code given instead of a timeline file; "
                    f"beat.notes has its own timing (see '{prog} --help')")
    assert [p.name for p in tmp_path.iterdir()] == ["beat.notes"]
    # Without --hold the file is used, with --hold a code is held as asked.
    at = argv.index("--hold")
    assert main(argv[:at] + argv[at + 2:]) == 0
    assert main(["timeline", "show", "12", "--hold", "0.5", "--json"]) == 0
    assert '"duration": 1.3' in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["preview", "12", "-o", "a.bmp", "--debug"],
    ["timeline", "show", "missing.json", "--debug"],
    ["--debug", "preview", "12", "-o", "a.bmp"],
])
def test_debug_works_before_and_after_the_command(tmp_path, monkeypatch, argv):
    """`preview 12 -o a.png --debug` was "unrecognized arguments: --debug"."""
    from facs_rig.errors import FacsRigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FacsRigError):  # the traceback, not the one line
        main(argv)


def test_without_debug_after_the_command_the_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line(capsys, ["preview", "12", "-o", "a.bmp"], 1)
    assert line.endswith("cannot write .bmp as a preview; use .png, .gif or .mp4")


def test_no_command_is_a_usage_error_with_the_help(capsys):
    """As a group without its subcommand (`facs-rig timeline`): exit 2, nothing on stdout."""
    for argv in ([], ["--debug"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith("usage: facs-rig [-h] [--version]")
        assert "Run 'facs-rig COMMAND --help' for each command's options." in captured.err
