"""An ``--fps`` too low to hold the take (captures) or any event (timelines) is refused: one
line naming the option and the lowest rate that works, exit 2, nothing written.

``facs-rig code TAKE --fps 0.001`` resampled a 23.8 s take to its first frame and printed "no
AU events"; ``retarget`` wrote one pose; ``timeline sample 12C --fps 0.001`` wrote one row of
zeros; ``bake`` a neutral animation, ``preview`` a still clip.
"""

from __future__ import annotations

import math

from conftest import shared_asset, write_openface_smile_lost_midway
from hypothesis import given
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.limits import take_rate_problem

TAKE = "captures/openface/facsvatar_head_test_clean.csv"  # 0 to 23.8 s at 30 fps
LIVE_LINK_TAKE = "captures/livelinkface/S07-001.csv"


def _error(capsys, argv: list[str], status: int) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("facs-rig: error: "), captured.err
    return lines[0]


def test_code_refuses_a_rate_whose_frame_interval_is_longer_than_the_take(capsys):
    take = shared_asset(TAKE)
    line = _error(capsys, ["code", str(take), "--fps", "0.001"], 2)
    assert line == (f"facs-rig: error: {take}: --fps 0.001 is one frame every 1000 s, longer "
                    f"than the whole 23.8 s take: it would keep only the take's first frame (no "
                    f"event, one pose); --fps must be at least 0.0421 for this take")
    assert capsys.readouterr().out == ""
    # The bound named holds the take (two frames), and finds its events again.
    assert main(["code", str(take), "--fps", "0.0421"]) == 0
    assert "no AU events" not in capsys.readouterr().out


def test_retarget_refuses_it_before_writing_anything(tmp_path, capsys):
    take = shared_asset(LIVE_LINK_TAKE)
    for output, extra in (("x.json", []), ("weights.csv", ["--rig", "arkit"])):
        line = _error(capsys, ["retarget", str(take), *extra, "--fps", "0.01",
                               "-o", str(tmp_path / output)], 2)
        assert line.startswith(f"facs-rig: error: {take}: --fps 0.01 is one frame every 100 s, "
                               f"longer than the whole 67.6241 s take")
        assert line.endswith("--fps must be at least 0.0148 for this take")
        assert not (tmp_path / output).exists()


def test_a_short_take_names_its_own_bound(tmp_path, capsys):
    take = write_openface_smile_lost_midway(tmp_path / "smile.csv")  # 29.9667 s
    line = _error(capsys, ["code", str(take), "--fps", "0.02"], 2)
    assert line.endswith("--fps must be at least 0.0334 for this take")
    assert main(["code", str(take), "--fps", "0.0334"]) == 0


@given(duration=st.floats(1e-3, 1e6), fps=st.floats(1e-6, 1e4))
def test_the_bound_named_is_the_lowest_rate_that_keeps_two_frames(duration, fps):
    problem = take_rate_problem(duration, fps)
    assert (problem is None) == (fps * duration >= 1.0)
    if problem is not None:
        bound = float(problem.rsplit("at least ", 1)[1].split()[0])
        assert bound * duration >= 1.0  # the rate named holds the take
        assert bound <= (1 / duration) * 1.01  # and is no more than 1 % above the true bound
        assert not math.isnan(bound)


def test_timeline_commands_refuse_a_rate_that_shows_no_event(tmp_path, capsys):
    for argv, result in (
            (["timeline", "sample", "12C", "-o", str(tmp_path / "s.csv")], "the curves would be all 0"),
            (["bake", "12C", "-o", str(tmp_path / "b.glb")],
             "the animation would hold the neutral face"),
            (["preview", "12C", "-o", str(tmp_path / "p.gif")],
             "the clip would show the neutral face only")):
        # (0.1 fps: a GIF frame holds 10 s; at 0.001 the GIF's own limit is said first.)
        line = _error(capsys, [*argv, "--fps", "0.1"], 2)
        command = " ".join(argv[:2]) if argv[0] == "timeline" else argv[0]
        assert line == (f"facs-rig: error: --fps 0.1 samples one frame every 10 s: none of the "
                        f"1 frame(s) of the 2.8 s clip shows its expression ({result}); use --fps "
                        f"0.714 or more (see 'facs-rig {command} --help')")
        assert list(tmp_path.iterdir()) == []
    # A timeline file with --fps: the option is still the mistake (exit 2), the file named.
    notes = tmp_path / "beat.notes"
    notes.write_text("0 12C\n", encoding="utf-8")
    line = _error(capsys, ["timeline", "convert", str(notes), "--fps", "0.001", "-o",
                           str(tmp_path / "c.csv")], 2)
    assert line.startswith(f"facs-rig: error: {notes}: --fps 0.001 samples one frame every "
                           f"1000 s")
    assert not (tmp_path / "c.csv").exists()
    # A file's own rate is the file's timing: bad input (exit 1), said as its fps.
    notes.write_text("fps 0.001\n0 12C\n", encoding="utf-8")
    line = _error(capsys, ["timeline", "sample", str(notes), "-o", str(tmp_path / "s.csv")], 1)
    assert line.startswith(f"facs-rig: error: {notes}: its fps 0.001 samples one frame every "
                           f"1000 s")
    assert line.endswith("give --fps 1.11 or more")
    # At the rate named the curves hold the smile.
    assert main(["timeline", "sample", "12C", "--fps", "0.714", "-o", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[2].split(",")[1] != "0"


def test_demo_refuses_a_rate_that_shows_no_expression_before_making_its_folder(tmp_path, capsys):
    folder = tmp_path / "demo"
    line = _error(capsys, ["demo", "-o", str(folder), "--fps", "0.002"], 2)
    assert line == ("facs-rig: error: --fps 0.002 samples one frame every 500 s: none of the 1 "
                    "frame(s) of the 11.6 s clip shows its expression (the clip would show the "
                    "neutral face only); use --fps 8.33 or more (see 'facs-rig demo --help')")
    assert not folder.exists()
