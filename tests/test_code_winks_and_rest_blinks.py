"""A second reader's three finds in ``facs-rig code``'s segmenter (facs_rig/core/events.py):

* a wink (AU46) is momentary, as a blink is: a 0.2 s wink in a held smile was dropped as
  flicker (FACS 2002, AU45 section: a closure of one eye under half a second is "either a blink
  or a wink");
* a blink and a wink of one eye are one closure: ``12C+L45+L46`` was written, which the
  notation refuses (action_units.json, ``45+46``), so every code ``code`` writes must parse back;
* blinks at rest are never joined across a coded segment: two blinks 0.23 s apart on either
  side of a lone 0.15 s action were one segment over it, and the segments overlapped.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.events import CodedSegment, EventOptions, code_segments, extract_events
from facs_rig.core.timeline import AUEvent, Timeline

_VALUES = {"A": 0.1, "B": 0.2, "C": 0.55, "D": 0.9, "E": 1.0, None: 1.0}


def _event(au: int, side: str | None, start: float, end: float,
           letter: str | None = "C") -> AUEvent:
    """An event held at ``letter`` from ``start`` to ``end`` (no ramps); a blink or wink
    without a letter plays at E, as ``extract_events`` writes one."""
    return AUEvent.from_times(Channel(au, side), _VALUES[letter], start, start, end, end,
                              letter=letter)


def _spans(segments: list[CodedSegment]) -> list[tuple[float, float, str]]:
    return [(round(s.start, 6), round(s.end, 6), str(s.code)) for s in segments]


def _assert_writable(segments: list[CodedSegment], vocabulary) -> None:
    """What ``code`` writes holds: each code parses back to itself under the notation rules,
    and the segments are in time order without overlapping."""
    for segment in segments:
        assert vocabulary.parse(str(segment.code)) == segment.code, str(segment)
    for before, after in zip(segments, segments[1:]):
        assert before.end <= after.start + 1e-9, (str(before), str(after))


def _curves(columns: dict[Channel, np.ndarray], times: np.ndarray) -> AUCurves:
    channels = tuple(columns)
    return AUCurves(times, np.stack([columns[c] for c in channels], axis=1).astype(np.float32),
                    channels, 60.0)


def _bump(times: np.ndarray, start: float, end: float, peak: float, ramp: float) -> np.ndarray:
    """0 outside ``start..end``, ``peak`` inside, with linear ramps ``ramp`` seconds long."""
    return np.clip(np.minimum(times - start, end - times) / ramp, 0.0, 1.0) * peak


# --- (a) a wink is momentary --------------------------------------------------------------------

def test_a_wink_in_a_held_smile_is_listed_over_its_own_time(vocabulary):
    # Before: [(0.0, 2.0, '12C')], the 0.2 s wink dropped as flicker (shorter than min_segment
    # next to the smile), where a blink of the same length was listed.
    segments = code_segments(Timeline((_event(12, None, 0, 2), _event(46, "L", 0.8, 1.0, "E"))),
                             vocabulary)
    assert _spans(segments) == [(0.0, 0.8, "12C"), (0.8, 1.0, "12C+L46"), (1.0, 2.0, "12C")]
    # Exactly as a blink of that eye is.
    blink = code_segments(Timeline((_event(12, None, 0, 2), _event(45, "L", 0.8, 1.0, None))),
                          vocabulary)
    assert _spans(blink) == [(0.0, 0.8, "12C"), (0.8, 1.0, "12C+L45"), (1.0, 2.0, "12C")]
    _assert_writable(segments, vocabulary)


def test_a_wink_read_off_a_custom_rigs_curves_is_coded(vocabulary):
    # A custom rig's solve with a wink channel: a smile 0.2-2.8 s at 0.6 and a 0.2 s wink of
    # the left eye at 1.2 s. Before: one segment, 0.22-2.78 s 12D, the wink dropped.
    times = np.arange(180) / 60.0
    curves = _curves({Channel(12): _bump(times, 0.2, 2.8, 0.6, 0.2),
                      Channel(46, "L"): _bump(times, 1.2, 1.4, 1.0, 0.06)}, times)
    timeline = extract_events(curves, vocabulary.scale(),
                              options=EventOptions(follow_intensity=True))
    segments = code_segments(timeline, vocabulary)
    assert [str(s.code) for s in segments] == ["12D", "12D+L46", "12D"]
    assert (segments[1].start, segments[1].end) == pytest.approx((1.2, 1.4))
    _assert_writable(segments, vocabulary)


# --- (c) blinks at rest are not joined across a segment ------------------------------------------

@pytest.mark.parametrize(("blinks", "expected"), [
    # Two blinks at rest 0.23 s apart with a lone 0.15 s action between them. Before: one
    # 0.85-1.28 s 45 over the 1.00-1.15 s 12C.
    ([(0.85, 0.95), (1.18, 1.28)],
     [(0.85, 0.95, "45"), (1.0, 1.15, "12C"), (1.18, 1.28, "45")]),
    # Each mostly at rest and clipped to the action's edges. Before: 0.85-1.28 s 45 as well.
    ([(0.85, 1.05), (1.1, 1.28)],
     [(0.85, 1.0, "45"), (1.0, 1.15, "12C"), (1.15, 1.28, "45")]),
])
def test_blinks_at_rest_are_never_joined_across_a_coded_segment(vocabulary, blinks, expected):
    events = [_event(12, None, 1.0, 1.15), *(_event(45, None, a, b, None) for a, b in blinks)]
    segments = code_segments(Timeline(tuple(events)), vocabulary)
    assert _spans(segments) == expected
    _assert_writable(segments, vocabulary)


def test_blinks_at_rest_with_no_segment_between_are_still_one_segment(vocabulary):
    # Both eyes' blinks 0.1 s apart at rest, no action between: one closure stretch, as before.
    events = [_event(12, None, 0, 0.5), _event(45, "L", 1.0, 1.2, None),
              _event(45, "R", 1.3, 1.45, None)]
    assert _spans(code_segments(Timeline(tuple(events)), vocabulary)) == [
        (0.0, 0.5, "12C"), (1.0, 1.45, "45")]


