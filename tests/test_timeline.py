"""The AU timeline model and its sampling (facs_rig.core.timeline)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.timeline import (
    EASINGS,
    AUEvent,
    Timeline,
    ease,
    envelope,
    events_from_code,
    frame_times,
    sample,
    timeline_from_code,
    timeline_from_curves,
)
from facs_rig.errors import TimelineError

AU12 = Channel(12)
AU12_L = Channel(12, "L")


# --- easing ---------------------------------------------------------------------------------

def test_easings_hit_zero_and_one_at_the_ends():
    for name in EASINGS:
        assert ease(name, [0.0, 1.0]).tolist() == [0.0 if name != "step" else 0.0, 1.0]


def test_smooth_is_the_cubic_hermite_ease_in_out():
    u = np.array([0.25, 0.5, 0.75])
    np.testing.assert_allclose(ease("smooth", u), [0.15625, 0.5, 0.84375])
    assert ease("linear", u).tolist() == [0.25, 0.5, 0.75]
    assert ease("step", u).tolist() == [0.0, 0.0, 0.0]


def test_unknown_easing_is_a_timeline_error():
    with pytest.raises(TimelineError, match="unknown easing 'bouncy'"):
        ease("bouncy", 0.5)


# --- events ---------------------------------------------------------------------------------

def test_event_phase_times():
    event = AUEvent(AU12, 0.5, start=1.0, onset=0.25, apex=1.0, offset=0.5)
    assert (event.apex_start, event.apex_end, event.end) == (1.25, 2.25, 2.75)


def test_event_from_absolute_times_equals_durations():
    event = AUEvent.from_times(AU12, 0.5, 1.0, 1.25, 2.25, 2.75, ease_in="linear")
    assert event == AUEvent(AU12, 0.5, 1.0, 0.25, 1.0, 0.5, ease_in="linear")


@pytest.mark.parametrize(("times", "message"), [
    ((1.0, 0.5, 2.0, 3.0), "apex starts at 0.5 s, before the onset at 1 s"),
    ((1.0, 2.0, 1.5, 3.0), "apex ends at 1.5 s, before it starts at 2 s"),
    ((1.0, 2.0, 3.0, 2.5), "event ends at 2.5 s, before its apex ends at 3 s"),
])
def test_absolute_times_going_backwards_are_refused(times, message):
    with pytest.raises(TimelineError, match=message):
        AUEvent.from_times(AU12, 0.5, *times)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("onset", -0.1, "AU12 event: onset duration is negative"),
    ("apex", -1.0, "apex duration is negative"),
    ("offset", math.nan, "offset duration must be finite"),
    ("start", -2.0, "start is negative"),
    ("intensity", 1.5, "intensity 1.5 is outside 0-1"),
    ("ease_in", "bouncy", "ease_in 'bouncy' is not one of"),
    ("letter", "F", "intensity letter 'F'"),
])
def test_bad_event_fields_are_refused(field, value, message):
    fields = {"channel": AU12, "intensity": 0.5, "start": 0.0}
    fields[field] = value
    with pytest.raises(TimelineError, match=message):
        AUEvent(**fields)


def test_events_are_immutable():
    event = AUEvent(AU12, 0.5, 0.0)
    with pytest.raises(AttributeError):
        event.intensity = 1.0  # type: ignore[misc]


# --- beats from codes ---------------------------------------------------------------------

def test_code_expands_to_one_event_per_au_with_scale_values(vocabulary):
    events = events_from_code("4C+7B+R12A", vocabulary, at=1.0, onset=0.4, apex=1.2, offset=0.6)
    assert [(e.channel.name, e.intensity, e.letter) for e in events] == [
        ("AU04", 0.55, "C"), ("AU07", 0.2, "B"), ("AU12_R", 0.1, "A")]
    assert {(e.start, e.onset, e.apex, e.offset) for e in events} == {(1.0, 0.4, 1.2, 0.6)}


def test_expression_names_expand_and_unscored_aus_take_the_default_or_given_value(vocabulary):
    events = events_from_code("happiness", vocabulary, at=0.0)
    assert [(e.channel.name, e.intensity, e.letter) for e in events] == [
        ("AU06", 0.55, None), ("AU12", 0.55, None)]
    events = events_from_code("6+12D", vocabulary, at=0.0, intensity=0.3)
    assert [(e.channel.name, e.intensity) for e in events] == [("AU06", 0.3), ("AU12", 0.9)]


def test_visibility_and_behaviour_codes_give_no_event(vocabulary):
    # 50 = speech (behaviour), 70 = brows not visible (visibility): they drive nothing.
    events = events_from_code("12+50+70", vocabulary, at=0.0)
    assert [e.channel.name for e in events] == ["AU12"]


def test_bad_code_is_a_timeline_error_with_the_column(vocabulary):
    from facs_rig.core.timeline import timeline_from_code

    with pytest.raises(TimelineError, match="unknown action unit 99 at column 3"):
        events_from_code("6+99", vocabulary, at=0.0)
    with pytest.raises(TimelineError, match="unknown action unit 99 at column 3"):
        timeline_from_code("6+99", vocabulary)


def test_add_code_returns_a_longer_timeline(vocabulary):
    timeline = Timeline(fps=24).add_code("1+2", vocabulary, at=2.0, onset=0.5, apex=1, offset=0.5)
    assert timeline.duration == 4.0
    assert timeline.fps == 24.0
    assert timeline.channels == (Channel(1), Channel(2))


def test_timeline_from_code_is_one_held_expression(vocabulary):
    held = timeline_from_code("R12A+R14A", vocabulary, hold=2.0)
    assert held.duration == pytest.approx(2.8)
    assert [(e.channel.name, e.apex) for e in held.events] == [("AU12_R", 2.0), ("AU14_R", 2.0)]
    assert held.metadata["code"] == "R12A+R14A"


def test_timeline_sorts_events_and_defaults_duration_to_the_last_end():
    late = AUEvent(AU12, 0.5, 3.0, 0.5, 0.5, 0.5)
    early = AUEvent(Channel(6), 0.5, 1.0, 0.5, 0.5, 0.5)
    timeline = Timeline((late, early))
    assert timeline.events == (early, late)
    assert timeline.duration == 4.5
    assert Timeline().duration == 0.0


@pytest.mark.parametrize("fps", [0, -30, math.inf, "30"])
def test_timeline_refuses_bad_fps(fps):
    with pytest.raises(TimelineError, match="fps must be a positive number"):
        Timeline(fps=fps)


# --- sampling -------------------------------------------------------------------------------

def test_sampling_is_exact_at_phase_boundaries():
    # 0.1 + 0.2 is 0.30000000000000004 in binary, frame 9 at 30 fps is 0.3: still the apex.
    event = AUEvent(AU12, 0.5, start=0.1, onset=0.2, apex=0.3, offset=0.4, ease_in="linear",
                    ease_out="linear")
    curves = sample(Timeline((event,)), fps=30)
    column = curves.values[:, 0]
    assert curves.values.dtype == np.float32
    assert curves.times.tolist() == (np.arange(31) / 30).tolist()
    assert column[3] == 0.0          # onset start
    assert column[6] == np.float32(0.25)  # half-way up, linear
    assert column[9] == np.float32(0.5)   # apex start: the apex value exactly
    assert column[18] == np.float32(0.5)  # apex end
    assert column[24] == np.float32(0.25) # half-way down
    assert column[30] == 0.0         # end


def test_step_easing_holds_then_jumps():
    event = AUEvent(AU12, 1.0, start=0.0, onset=0.5, apex=0.5, offset=0.5, ease_in="step",
                    ease_out="step")
    column = sample(Timeline((event,)), fps=4).values[:, 0]
    # times 0, .25, .5, .75, 1, 1.25, 1.5
    assert column.tolist() == [0, 0, 1, 1, 1, 1, 0]


def test_instant_phases_include_their_boundary():
    event = AUEvent(AU12, 0.8, start=1.0, onset=0.0, apex=1.0, offset=0.0)
    column = sample(Timeline((event,), duration=3.0), fps=2).values[:, 0]
    assert column.tolist() == [0, 0, np.float32(0.8), np.float32(0.8), np.float32(0.8), 0, 0]


def test_zero_outside_events_and_overlap_takes_the_maximum():
    first = AUEvent(AU12, 0.5, 0.0, 0.5, 1.0, 0.5, ease_in="linear", ease_out="linear")
    second = AUEvent(AU12, 0.9, 1.0, 0.5, 0.5, 0.5, ease_in="linear", ease_out="linear")
    other = AUEvent(Channel(6), 0.3, 3.0, 0.0, 1.0, 0.0)
    curves = sample(Timeline((first, second, other), duration=5.0), fps=10)
    assert curves.channels == (Channel(6), AU12)
    expected_12 = np.maximum(envelope(first, curves.times), envelope(second, curves.times))
    np.testing.assert_array_equal(curves.column(AU12), expected_12.astype(np.float32))
    assert curves.column(AU12)[26:].tolist() == [0.0] * 25
    assert curves.column(Channel(6))[:30].tolist() == [0.0] * 30
    assert curves.column(Channel(6))[30:41].tolist() == [np.float32(0.3)] * 11


def test_channels_follow_the_stable_order_or_the_given_one():
    events = tuple(AUEvent(channel, 0.5, 0.0) for channel in
                   (Channel(12, "R"), Channel(1), Channel(12), Channel(12, "L")))
    timeline = Timeline(events)
    assert [c.name for c in sample(timeline).channels] == ["AU01", "AU12", "AU12_L", "AU12_R"]
    picked = sample(timeline, channels=[Channel(12, "L"), Channel(45)])
    assert [c.name for c in picked.channels] == ["AU12_L", "AU45"]
    assert picked.column(Channel(45)).max() == 0.0
    assert picked.column(Channel(12, "L")).max() == np.float32(0.5)


def test_frame_count_includes_the_last_frame():
    assert frame_times(1.0, 30).shape == (31,)
    assert frame_times(0.0, 30).tolist() == [0.0]
    assert frame_times(1.01, 10).tolist()[-1] == 1.0


def test_sampling_an_empty_timeline():
    curves = sample(Timeline(), fps=30)
    assert curves.values.shape == (1, 0)


def test_huge_durations_are_refused_before_allocating():
    with pytest.raises(TimelineError, match="more than the"):
        sample(Timeline(duration=1e9), fps=60)
    many = [Channel(au, side) for au in range(1, 100) for side in (None, "L", "R")]
    with pytest.raises(TimelineError, match="frames x 297 channels is more than"):
        sample(Timeline(duration=30 * 3600), fps=60, channels=many)


events_strategy = st.builds(
    AUEvent,
    channel=st.sampled_from([Channel(1), Channel(12), Channel(12, "L"), Channel(26)]),
    intensity=st.floats(0, 1),
    start=st.floats(0, 5),
    onset=st.floats(0, 2),
    apex=st.floats(0, 2),
    offset=st.floats(0, 2),
    ease_in=st.sampled_from(EASINGS),
    ease_out=st.sampled_from(EASINGS),
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(events_strategy, max_size=8), fps=st.sampled_from([10, 24, 30, 60]))
def test_sampling_matches_the_envelopes_and_stays_in_range(events, fps):
    timeline = Timeline(tuple(events))
    curves = sample(timeline, fps=fps)
    assert curves.values.dtype == np.float32
    assert curves.values.shape == (curves.times.shape[0], len(timeline.channels))
    assert np.all((curves.values >= 0) & (curves.values <= 1))
    for column, channel in enumerate(curves.channels):
        expected = np.zeros(curves.times.shape)
        for event in events:
            if event.channel == channel:
                expected = np.maximum(expected, envelope(event, curves.times))
        np.testing.assert_array_equal(curves.values[:, column], expected.astype(np.float32))
    for event in events:
        column = curves.channels.index(event.channel)
        outside = (curves.times < event.start - 1e-6) | (curves.times > event.end + 1e-6)
        others = [e for e in events if e.channel == event.channel and e is not event]
        if not others:
            assert not curves.values[outside, column].any()


# --- curves back to events ------------------------------------------------------------------

def test_curves_to_timeline_reproduces_frame_aligned_events(vocabulary):
    timeline = Timeline((
        AUEvent(AU12, 0.9, 1.0, 0.5, 1.0, 0.5, letter="D"),
        AUEvent(Channel(6), 0.37, 0.5, 0.4, 0.0, 1.0, ease_in="linear", ease_out="step"),
        AUEvent(AU12_L, 0.2, 3.0, 0.0, 0.5, 0.0, letter="B"),
    ), duration=4.0)
    curves = sample(timeline, fps=10)
    rebuilt = timeline_from_curves(curves, scale=vocabulary.scale())
    np.testing.assert_array_equal(sample(rebuilt, fps=10).values, curves.values)
    au12 = [e for e in rebuilt.events if e.channel == AU12][0]
    assert (au12.letter, au12.intensity, au12.ease_in) == ("D", 0.9, "smooth")
    assert au12.apex_start == pytest.approx(1.5) and au12.end == pytest.approx(3.0)
    au6 = [e for e in rebuilt.events if e.channel == Channel(6)][0]
    assert (au6.letter, au6.ease_in) == (None, "linear")
    assert au6.intensity == pytest.approx(0.37, abs=1e-7)
    assert rebuilt.duration == 4.0


@settings(max_examples=150, deadline=None)
@given(event=events_strategy, fps=st.sampled_from([24, 29.97, 60]))
def test_envelope_rises_holds_and_falls_monotonically(event, fps):
    times = frame_times(event.end + 0.5, fps)
    values = sample(Timeline((event,)), fps=fps, duration=event.end + 0.5).values[:, 0]
    rise = values[(times >= event.start) & (times < event.apex_start - 1e-9)]
    hold = values[(times >= event.apex_start - 1e-9) & (times <= event.apex_end + 1e-9)]
    fall = values[(times > event.apex_end + 1e-9) & (times <= event.end + 1e-9)]
    assert np.all(np.diff(rise) >= 0) and np.all(np.diff(fall) <= 0)
    assert np.all(hold == np.float32(event.intensity))
    assert np.all(rise <= np.float32(event.intensity)) and np.all(fall <= np.float32(event.intensity))


def test_explicit_durations_cut_events_off_and_sampling_can_choose_its_span():
    event = AUEvent(AU12, 1.0, 1.0, 0.0, 5.0, 0.0)
    timeline = Timeline((event,), duration=2.0)
    assert sample(timeline, fps=2).values[:, 0].tolist() == [0, 0, 1, 1, 1]
    assert sample(timeline, fps=2, duration=0.5).values.shape == (2, 1)
    assert sample(timeline, fps=2, duration=7).values[:, 0].tolist() == [0, 0] + [1] * 11 + [0, 0]
