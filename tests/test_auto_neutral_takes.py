"""``--neutral auto`` on real Live Link Face takes: the stretch it picks is one a coder would
judge at rest, and ``code`` then reads the performer's resting face as no action.

The resting stretches were judged from the per-channel curves (every channel at its usual
level, the summed frame-to-frame change of the 52 blendshapes at most about 0.1): on
``S07-001.csv`` 42.2-44.3 s and 59.2-62.0 s, on ``alex_rom_3.csv`` the performer's neutral
before the range of motion starts, 0-4.0 s (blinks at 1.2 and 2.4 s), and 52.3-54.0 s. The
quietest second (the former choice) was 41.43-42.43 s on S07-001, with the lids lowered and
the eyes down (eyeWide 0.14 against its usual 0.39), and 64.22-65.22 s on alex_rom_3, as a
mouth movement starts, the lids more open and the eyes less lowered than usual.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.filters import fill_gaps, resting_window
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.pipeline import CleaningOptions, _calibration, capture_curves

RESTING = {"S07-001": [(42.2, 44.3), (59.2, 62.0)],
           "alex_rom_3": [(0.0, 4.0), (52.3, 54.0)]}
#: `code`'s cleaning defaults.
CODE_DEFAULTS = CleaningOptions(smoothing="zero-phase", neutral="auto")


def _take(name):
    return read_capture(shared_asset(f"captures/livelinkface/{name}.csv"))


def _share_at_least(curves, au: int, level: float) -> float:
    """Share of frames where either side of ``au`` reads at least ``level``."""
    columns = [k for k, channel in enumerate(curves.channels) if channel.au == au]
    return float((np.asarray(curves.values)[:, columns].max(axis=1) >= level).mean())


@pytest.mark.parametrize("name", sorted(RESTING))
def test_the_automatic_window_is_a_stretch_judged_at_rest(name):
    capture = _take(name)
    shapes = capture.blendshapes
    observed, _ = fill_gaps(shapes.times, shapes.weights)
    start, end = resting_window(shapes.times, observed)
    assert end - start == pytest.approx(1.0, abs=0.05)
    assert any(first <= start and end <= last for first, last in RESTING[name]), (start, end)


def test_s07_no_longer_reads_raised_lids_a_frown_or_raised_eyes_through_the_take():
    # Before: AU5 >= 0.15 in 83 % of the frames (5C in every segment), AU15 held at a trace in
    # 64 % (15B in nearly every segment), AU63 >= 0.15 in 68 %. AU5 is left where the performer
    # widens the eyes looking aside (10-12 s, 29-30 s, 61-63 s).
    curves = capture_curves(_take("S07-001"), CODE_DEFAULTS).curves
    assert _share_at_least(curves, 5, 0.15) < 0.05
    assert _share_at_least(curves, 15, 0.08) < 0.02
    assert _share_at_least(curves, 63, 0.15) < 0.02
    # The smiles are kept (12 in 14 % of the frames before and after).
    assert _share_at_least(curves, 12, 0.15) > 0.12


def test_alex_rom_3_no_longer_reads_15_64_and_43_through_the_take():
    # Before: AU15 >= 0.15 in 54 % of the frames, AU43 in 56 %, AU64 in 94 %.
    curves = capture_curves(_take("alex_rom_3"), CODE_DEFAULTS).curves
    assert _share_at_least(curves, 15, 0.15) < 0.12
    assert _share_at_least(curves, 43, 0.15) < 0.25
    assert _share_at_least(curves, 64, 0.15) < 0.12
    assert _share_at_least(curves, 12, 0.15) > 0.2  # the range of motion's smiles are kept


def _segments(path, *extra):
    return json.loads(_run(path, "--json", *extra))["segments"]


def _run(path, *extra):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["code", str(path), *extra]) == 0
    return out.getvalue()


def _seconds_coding(segments, au: int) -> float:
    pattern = re.compile(rf"(^|\+)[LR]?{au}[A-E]")
    return sum(s["end"] - s["start"] for s in segments if pattern.search(s["code"]))


def test_code_reads_the_opening_rest_of_alex_rom_3_as_no_action():
    # Before: the take opened with `0.00-2.73 s  15C+17A+45D+64D`. The performer is at rest
    # until the brows rise at 4 s: only the two blinks are coded.
    segments = _segments(shared_asset("captures/livelinkface/alex_rom_3.csv"))
    opening = [s["code"] for s in segments if s["start"] < 4.0]
    assert opening == ["45", "45"]  # FACS scores no intensity for a blink
    assert segments[0]["start"] > 1.0


def test_code_of_s07_matches_a_hand_picked_neutral():
    # `code` with its defaults codes 5 and 15 about as long as with a neutral picked by hand in
    # the other resting stretch (42.5-43.5 s), not through the whole take as before.
    path = shared_asset("captures/livelinkface/S07-001.csv")
    auto, hand = _segments(path), _segments(path, "--neutral", "42.5-43.5")
    length = auto[-1]["end"]
    for au in (5, 15, 12, 25):
        assert abs(_seconds_coding(auto, au) - _seconds_coding(hand, au)) < 0.1 * length, au
    assert _seconds_coding(auto, 15) == 0.0 and _seconds_coding(auto, 5) < 0.2 * length


@pytest.mark.parametrize("name", sorted(RESTING))
def test_the_automatic_neutral_removes_no_expression(name):
    # Issue 13 point 4 on long takes: wherever a shape rises an event's worth (0.15, `on`)
    # above the rest of a stretch judged at rest by hand, the automatic neutral keeps it.
    capture = _take(name)
    raw, _ = fill_gaps(capture.times, capture.blendshapes.weights)
    automatic = _calibration(capture.times, raw, "auto", None).apply(raw)
    first, last = RESTING[name][0]  # the judged stretch the automatic window is not in
    by_hand = _calibration(capture.times, raw, f"{first}-{last}", None)
    expression = raw >= by_hand.rest + 0.15
    assert expression.any() and np.all(automatic[expression] > 0)


def _blanked(tmp_path, first_line: int, last_line: int):
    """S07-001.csv with every value of lines ``first_line``-``last_line`` blanked (the tracker
    lost the face there; the timecodes stay)."""
    lines = shared_asset("captures/livelinkface/S07-001.csv").read_text().splitlines()
    for index in range(first_line - 1, last_line):
        cells = lines[index].split(",")
        lines[index] = ",".join(cells[:2] + [""] * (len(cells) - 2))
    path = tmp_path / "blanked.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_automatic_neutral_is_never_a_lost_stretch(tmp_path):
    # Lines 400-700 blanked: 10 s (13.2-23.2 s) with no face. Its interpolated line is the
    # stillest stretch of the take, and it was picked ("neutral: 18.46–19.46 s"), which coded a
    # 12 s blink (12.50-24.86 s 45+63C) and 63C/63D far from the gap (30-37 s).
    path = _blanked(tmp_path, 400, 700)
    document = json.loads(_run(path, "--json"))
    start, end = document["neutral"]["start"], document["neutral"]["end"]
    assert any(first <= start and end <= last for first, last in RESTING["S07-001"]), (start, end)
    # Far from the gap the take codes as the original does (the resting second moved by
    # 0.13 s, the rest measured without the lost frames: onsets move by at most 0.1 s).
    original = _segments(shared_asset("captures/livelinkface/S07-001.csv"))
    late = [s for s in original if 30.0 <= s["start"] < 37.0]
    again = [s for s in document["segments"] if 30.0 <= s["start"] < 37.0]
    assert [s["code"] for s in again] == [s["code"] for s in late]
    assert np.allclose([s["start"] for s in again], [s["start"] for s in late], atol=0.1)


def test_code_codes_nothing_across_a_lost_stretch_of_a_real_take(tmp_path):
    # With no neutral, the 10 s with no face were coded
    # `14.20–18.80 s  1C+5C+7B+R15B+20B+25C+63C  fear 4/6` from interpolated frames.
    document = json.loads(_run(_blanked(tmp_path, 400, 700), "--json", "--neutral", "none"))
    assert document["untracked"] == [{"start": 13.2648, "end": 23.2968}]
    for segment in document["segments"]:
        assert segment["end"] <= 13.2648 or segment["start"] >= 23.2968, segment
    # A take whose gaps are all single dropped frames has no untracked stretch.
    original = json.loads(_run(shared_asset("captures/livelinkface/S07-001.csv"), "--json"))
    assert original["untracked"] == []
