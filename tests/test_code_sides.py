"""Left and right in ``facs-rig code``: an action is one-sided only where the other side shows no
trace of it (FACS 2002 manual, ch. 10, Scoring Step V: "If there is no trace of evidence for the
AU on one side, score the action as unilateral using 'L' or 'R'"; an action different on the two
sides gets one score, the higher).

Before, a side that stayed under the event threshold while the other side acted had no event,
and ``code`` wrote the action on one side: a smile of 0.6 on the left with 0.12 on the right read
``L12D``, a smirk (facs_rig/core/events.py, ``_with_mirror_traces`` and
``_with_acting_mirrors``; docs/captures.md, "What `code` says on real takes", round 10).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.events import EventOptions, code_segments, extract_events, format_summary
from facs_rig.core.timeline import AUEvent, Timeline

FPS = 100.0


def _hold(n: int, start: float, end: float, level: float, ramp: float = 0.05) -> np.ndarray:
    """0 outside ``start..end`` seconds, ``level`` inside, linear ramps ``ramp`` s long."""
    times = np.arange(n) / FPS
    return np.clip(np.minimum(times - start, end - times) / ramp, 0.0, 1.0) * level


def _code(columns: dict[Channel, np.ndarray], vocabulary) -> str:
    channels = tuple(columns)
    values = np.stack([columns[c] for c in channels], axis=1).astype(np.float32)
    curves = AUCurves(np.arange(values.shape[0]) / FPS, values, channels, FPS)
    timeline = extract_events(curves, vocabulary.scale(),
                              options=EventOptions(follow_intensity=True))
    return format_summary(code_segments(timeline, vocabulary))


def test_a_smile_weaker_on_one_side_is_a_smile_not_a_smirk(vocabulary):
    # Left lip corner 0.6 for 0.7 s; the right one 0.12 for 0.5 s of it: above `off` (0.08),
    # never at `on` (0.15), and held under `trace_duration` (0.5 s), so it had no event.
    # Before: "0.50–1.20 s  L12D".
    n = 200
    left, right = _hold(n, 0.5, 1.2, 0.6), _hold(n, 0.6, 1.1, 0.12)
    assert _code({Channel(12, "L"): left, Channel(12, "R"): right}, vocabulary) == \
        "0.50–1.20 s  12D  happiness 1/1\n"


def test_a_weak_action_weaker_still_on_the_other_side_is_bilateral(vocabulary):
    # A felt smile whose cheek raise is a held trace on the left (0.10) and half as much on the
    # right (0.06, under `off` but a trace on the scale, above its absent level 0.03), as on
    # Face Cap's smile at 4.08 s. Before: "L6A+12D  happiness 1/1" (a one-sided 6 is no 6+12).
    n = 300
    smile = _hold(n, 0.5, 2.5, 0.6)
    assert _code({Channel(6, "L"): _hold(n, 0.5, 2.5, 0.10), Channel(6, "R"): _hold(n, 0.5, 2.5, 0.06),
                  Channel(12): smile}, vocabulary) == "0.50–2.50 s  6A+12D  happiness 2/2\n"


@pytest.mark.parametrize("right, why", [
    (0.0, "the other side at rest"),
    # A trace on the scale (above its absent level, 0.03) but under `off` and a tenth of the
    # acting side: within the tracker's resting noise, not moving with the action.
    (0.06, "the other side at a tenth, under off"),
])
def test_a_one_sided_action_stays_one_sided(vocabulary, right, why):
    n = 200
    assert _code({Channel(12, "L"): _hold(n, 0.5, 1.2, 0.6),
                  Channel(12, "R"): _hold(n, 0.6, 1.1, right)}, vocabulary) == \
        "0.50–1.20 s  L12D\n", why


def test_the_other_side_counts_only_inside_the_acting_sides_action(vocabulary):
    # The right side's 0.12 lies after the left side's action has ended: no evidence of that
    # action, and too short and weak for one of its own.
    n = 300
    assert _code({Channel(12, "L"): _hold(n, 0.5, 1.2, 0.6),
                  Channel(12, "R"): _hold(n, 1.6, 2.0, 0.12)}, vocabulary) == \
        "0.50–1.20 s  L12D\n"


def _held(channel: Channel, start: float, end: float, letter: str = "C") -> AUEvent:
    return AUEvent.from_times(channel, {"B": 0.2, "C": 0.55}[letter], start, start, end, end,
                              letter=letter)


def test_both_sides_dipping_together_read_alike(vocabulary):
    # Both sides of 10 dip to rest together; the right side's gap (0.20 s) is bridged as
    # flicker, the left side's (0.28 s) is not, so the right side alone was present across the
    # dip (alex_rom_3 47.49 s: 0.234 and 0.267 s). Before: "0.90–1.28 s  R10C+17C".
    events = [_held(Channel(4), 0.0, 0.9), _held(Channel(17), 0.0, 2.0),
              _held(Channel(10, "R"), 0.0, 1.0), _held(Channel(10, "R"), 1.2, 2.0),
              _held(Channel(10, "L"), 0.0, 1.0), _held(Channel(10, "L"), 1.28, 2.0)]
    summary = format_summary(code_segments(Timeline(tuple(events)), vocabulary))
    assert summary == ("0.00–0.90 s  4C+10C+17C  disgust 2/2\n"
                       "0.90–2.00 s  10C+17C  disgust 2/2\n")


def test_a_side_whose_mirror_acts_for_less_than_half_of_its_time_stays_one_sided(vocabulary):
    # The other side's event covers 0.1 s of the 0.6 s this side's events fill the segment.
    events = [_held(Channel(17), 0.0, 2.0), _held(Channel(10, "R"), 0.0, 2.0),
              _held(Channel(10, "L"), 0.5, 0.6, "B")]
    assert format_summary(code_segments(Timeline(tuple(events)), vocabulary)) == \
        "0.00–2.00 s  R10C+17C\n"


def _code_lines(capsys, path) -> list[str]:
    assert main(["code", str(path)]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]


def test_real_takes_code_both_sides_of_an_asymmetric_action(capsys):
    # Face Cap's smile: cheeks raised 0.08 and 0.05 (mean) read L6B and named disgust by a near
    # tie (a one-sided 6 is not the row 6+12).
    lines = _code_lines(capsys, shared_asset("captures/facecap/facecap_animation_weights.csv"))
    assert "4.08–4.88 s  6B+9B+10B+12D+14C+17C+24B+64C  happiness 2/2" in lines
    # ... and its mouth pulled to the right stays one-sided (the left side's 20 at rest).
    assert "8.01–8.68 s  1D+2D+5D+15C+17C+18C+R20C+22B+R30C+33B+61C+64C  surprise 3/4" in lines
    lines = _code_lines(capsys, shared_asset("captures/livelinkface/alex_rom_3.csv"))
    # 9 and 10 moving on both sides (0.15 and 0.16; 0.17 and 0.18) read R9C+R10C.
    # (The lids lowered to 0.30 of closed at 47.83 s were a blink, 45, cut out of 47.49-48.09
    # s; a lowering short of nearly closed is 43 at its letter: R43C here, 43B after.)
    assert "47.49–47.79 s  4C+9C+10C+17D+18C+22C+24C+R43C  disgust 2/2" in lines
    # A held trace of 10 on both sides (0.076 and 0.083) read R10A. With 17 a companion of
    # disgust (it weighs nothing), the trace 10A no longer outweighs the smile's 12C.
    assert "39.83–40.59 s  10A+12C+14B+17C+18B+24C+33C+64B  happiness 1/1" in lines
    # The lip pulled to the right stays one-sided where the left side's 10 stays under `off`
    # (0.06 against 0.20); at 70.79 s, where it reads 0.10 against 0.23, 10 is on both sides.
    assert "66.99–67.32 s  R10C+17C+R20C+22C+25D+26B+61C" in lines
    assert "70.79–71.12 s  10C+17C+R20C+22C+25D+61C  disgust 2/2" in lines
