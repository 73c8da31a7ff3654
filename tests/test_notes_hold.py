"""Holding a beat until the next one (``apex next``) and a later beat taking over a channel.

A director reviewing AU notes found that a note lasts 1.8 s (onset 0.3 + apex 1 + offset 0.5)
and the face then goes back to neutral, where a pose in animation holds until the next key; and
that a later note could not tone an AU down (``1.0 12E apex 6`` then ``3.0 12A``: AU12 stayed at
1.0, overlapping events of one channel combining by maximum). docs/timeline-formats.md, "Holding
until the next beat" and "Overlaps".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.timeline import (
    TAKEOVER_TOLERANCE,
    AUEvent,
    Timeline,
    ended_at,
    sample,
    take_over,
)
from facs_rig.errors import TimelineFormatError
from facs_rig.io.au_notes import format_au_notes, parse_au_notes
from facs_rig.io.timeline_json import timeline_from_json, timeline_to_json

# Timecode needs the file's fps (whole seconds here, so any rate reads the same times).
DIRECTOR = ("fps 24\n"
            "00:00:01:00  surprise      apex next\n"
            "00:00:05:00  polite_smile  apex next\n"
            "00:00:10:00  contempt      apex next\n")


def values_at(timeline: Timeline, channel: str, fps: float) -> dict[float, float]:
    curves = sample(timeline, fps=fps)
    column = [c.name for c in curves.channels].index(channel)
    return {round(index / fps, 6): float(value)
            for index, value in enumerate(curves.values[:, column])}


def test_apex_next_holds_each_expression_until_the_next_note(vocabulary):
    timeline = parse_au_notes(DIRECTOR, vocabulary)
    au01 = values_at(timeline, "AU01", 4)
    # Surprise (1+2+5B+25+26) rises over 0.3 s and holds until polite_smile at 5 s, then falls over
    # its 0.5 s offset (smoothstep: half-way at 5.25 s). Before: back to 0 at 2.8 s.
    assert [au01[t] for t in (1.0, 1.5, 2.75, 3.0, 4.75, 5.0, 5.25, 5.5)] == pytest.approx(
        [0.0, 0.55, 0.55, 0.55, 0.55, 0.55, 0.275, 0.0], abs=1e-7)
    au12 = values_at(timeline, "AU12", 4)  # polite_smile, 12C, held from 5.3 s to 10 s
    assert [au12[t] for t in (5.0, 5.5, 9.75, 10.0, 10.25, 10.5)] == pytest.approx(
        [0.0, 0.55, 0.55, 0.55, 0.275, 0.0], abs=1e-7)
    # The last note has no next one and no duration header: its own default apex (1 s).
    assert timeline.duration == pytest.approx(11.8)


def test_the_apex_next_header_holds_every_beat_and_the_last_to_the_duration(vocabulary):
    text = "apex next\nduration 12\n" + DIRECTOR.replace("apex next", "")
    timeline = parse_au_notes(text, vocabulary)
    assert timeline == parse_au_notes("duration 12\n" + DIRECTOR, vocabulary)
    contempt = [e for e in timeline.events if e.channel == Channel(14, "R")]
    assert [(e.start, e.apex_start, e.apex_end, e.end) for e in contempt] == [
        (10.0, 10.3, 12.0, 12.5)]  # held to the duration, the fall past the end
    assert values_at(timeline, "AU14_R", 2)[12.0] == pytest.approx(0.55)
    # A beat's own apex still wins over the header, and absolute phase times are not held.
    own = parse_au_notes("apex next\n1 12 apex 0.5\n2 4\n3 6 apex_start 3.1 apex_end 3.2 end 3.4\n"
                         "5 7\n", vocabulary)
    assert [(e.channel.au, e.apex) for e in own.events] == [
        (12, 0.5), (4, 0.7), (6, pytest.approx(0.1)), (7, 1.0)]


def test_a_later_note_tones_an_au_down(vocabulary):
    timeline = parse_au_notes("1.0 12E apex 6\n3.0 12A apex 2  # let it fade to a trace\n",
                              vocabulary)
    au12 = values_at(timeline, "AU12", 4)
    # From 3 s the smile falls from E over its offset while the trace rises to A (0.10); the
    # curves combine by maximum while they cross. Before: 1.0 until 7.3 s.
    assert [au12[t] for t in (2.75, 3.0, 3.25, 3.5, 4.0, 5.0, 5.5)] == pytest.approx(
        [1.0, 1.0, 0.5, 0.1, 0.1, 0.1, 0.0648], abs=1e-7)
    # 'overlap max' keeps what such files did before this rule.
    kept = parse_au_notes("overlap max\n1.0 12E apex 6\n3.0 12A apex 2\n", vocabulary)
    assert values_at(kept, "AU12", 4)[5.0] == 1.0


def test_takeover_is_per_channel_and_within_a_beat_never(vocabulary):
    timeline = parse_au_notes("1 12E+L14 apex 6\n2 L12A+L14B\n", vocabulary)
    ends = {(e.channel.name, e.start): e.apex_end for e in timeline.events}
    # L12A does not end the bilateral AU12 (another channel); L14B ends L14 at 2 s.
    assert ends == {("AU12", 1.0): 7.3, ("AU14_L", 1.0): 2.0, ("AU12_L", 2.0): 3.3,
                    ("AU14_L", 2.0): 3.3}


def test_a_later_note_at_the_same_time_replaces_and_one_during_the_onset_cuts_it(vocabulary):
    same = parse_au_notes("1 12E\n1 12B\n", vocabulary)
    assert [(e.channel.name, e.intensity, e.start) for e in same.events] == [("AU12", 0.2, 1.0)]
    # Taken over during its onset (0.2 s into a 0.4 s linear rise to 1.0): the rise stops at
    # the value reached, 0.5, which falls from there over the offset; no jump.
    onset = parse_au_notes("1 12E onset 0.4 ease linear\n1.2 12A\n", vocabulary)
    first = onset.events[0]
    assert (first.intensity, first.onset, first.apex, first.offset, first.letter) == (
        pytest.approx(0.5), 0.2, 0.0, 0.5, None)
    au12 = values_at(onset, "AU12", 20)
    assert [au12[t] for t in (1.1, 1.2, 1.45, 1.7)] == pytest.approx([0.25, 0.5, 0.25, 0.1])
    # A stepped rise has reached nothing: the earlier event is gone.
    stepped = parse_au_notes("1 12E onset 0.4 ease step\n1.2 12A\n", vocabulary)
    assert [e.letter for e in stepped.events] == ["A"]


def test_json_beats_hold_and_take_over(vocabulary):
    text = json.dumps({"schema": "facs_rig.timeline/1", "duration": 8, "beats": [
        {"at": 3, "code": "12A", "apex": "next"},  # listed out of order: read in time order
        {"at": 1, "code": "12E", "apex": "next"},
        {"at": 0.5, "code": "1", "apex": "next"}]})
    timeline = timeline_from_json(text, vocabulary)
    assert [(e.channel.au, e.start, e.apex_end) for e in timeline.events] == [
        (1, 0.5, 1.0), (12, 1.0, 3.0), (12, 3.0, 8.0)]
    assert values_at(timeline, "AU12", 4)[4.0] == pytest.approx(0.1)
    # Events are what the writer writes: kept as they are, overlapping by maximum.
    events = timeline_from_json(json.dumps({"schema": "facs_rig.timeline/1", "events": [
        {"channel": "AU12", "letter": "E", "start": 1, "apex": 6},
        {"channel": "AU12", "letter": "A", "start": 3}]}), vocabulary)
    assert [e.apex for e in events.events] == [6.0, 1.0]


def test_held_notes_round_trip_as_notes_and_through_json(vocabulary):
    text = "apex next\nduration 12\n" + DIRECTOR.replace("apex next", "") + \
        "00:00:11:00 12A\n"
    written = format_au_notes(parse_au_notes(text, vocabulary), vocabulary, timecode=True)
    assert "overlap max" not in written  # the takeovers are in the times written
    assert format_au_notes(parse_au_notes(written, vocabulary), vocabulary,
                           timecode=True) == written
    through_json = timeline_from_json(timeline_to_json(parse_au_notes(written, vocabulary)),
                                      vocabulary)
    assert format_au_notes(through_json, vocabulary, timecode=True) == written


def test_the_writer_keeps_overlapping_events_with_overlap_max(vocabulary):
    timeline = Timeline((AUEvent(Channel(12), 1.0, 1.0, apex=6.0, letter="E"),
                         AUEvent(Channel(12), 0.1, 3.0, letter="A")))
    text = format_au_notes(timeline, vocabulary)
    assert text.splitlines()[1:] == [
        "fps 30", "duration 7.8", "overlap max",
        "1  12E  onset 0.3  apex 6  offset 0.5",
        "3  12A  onset 0.3  apex 1  offset 0.5"]
    assert parse_au_notes(text, vocabulary) == timeline
    # Events that only cross in their ramps need no header: nothing is cut.
    ramps = Timeline((AUEvent(Channel(12), 1.0, 1.0), AUEvent(Channel(12), 0.1, 2.3)))
    assert "overlap" not in format_au_notes(ramps, vocabulary)


def test_timeline_sample_writes_the_held_values(capsys, tmp_path, vocabulary):
    notes = tmp_path / "beats.notes"
    notes.write_text("1.0 12E apex 6\n3.0 12A apex 2\n")
    assert main(["timeline", "sample", str(notes), "--fps", "2", "-o", str(tmp_path / "c.csv")]) == 0
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == "time,AU12"
    assert rows[7:13] == ["3.0,1", "3.5,0.1", "4.0,0.1", "4.5,0.1", "5.0,0.1", "5.5,0.0648"]


@pytest.mark.parametrize(("text", "message"), [
    ("apex 2\n1 12\n", "line 1, column 6: the header 'apex' takes only 'next'"),
    ("overlap maxi\n", "line 1, column 9: overlap 'maxi' is not one of replace, max: did you mean "
                       "'max'\\?"),
    ("1 12\napex next\n", "line 2, column 1: 'apex' must come before the first beat"),
    ("apex next\napex next\n", "line 2, column 1: 'apex' given twice"),
    ("1 12 apex next apex_start 1 apex_end 2 end 3\n",
     "line 1, column 27: give phase durations \\(apex\\) or absolute times"),
    ("1 12 onset next\n", "line 1, column 12: onset 'next' is not a number"),
])
def test_hold_errors_name_line_and_column(vocabulary, text, message):
    with pytest.raises(TimelineFormatError, match=f"^beats.notes, {message}"):
        parse_au_notes(text, vocabulary, source="beats.notes")


def test_ended_at_leaves_a_falling_event_alone():
    event = AUEvent(Channel(12), 1.0, 1.0)  # apex 1.3-2.3, falls to 2.8
    assert ended_at(event, 2.3) is event and ended_at(event, 2.5) is event
    assert ended_at(event, 2.3 - TAKEOVER_TOLERANCE / 2) is event
    assert ended_at(event, 1.0) is None
    # A zero-length event is replaced by a beat at its own time, not left as a spike.
    assert ended_at(AUEvent(Channel(12), 1.0, 1.0, 0.0, 0.0), 1.0) is None
    assert ended_at(event, 2.0).apex == pytest.approx(0.7)


# --- properties ----------------------------------------------------------------------------

CODES = ["12", "12E", "L12A", "6+12D", "4C+7B", "happiness", "R12A+R14A", "1+2", "45", "53B",
         "neutral"]
#: The beats that hold ('apex next'): a blink or wink is momentary and cannot.
HELD_CODES = [code for code in CODES if code != "45"]


@st.composite
def beat_sheets(draw):
    lines = []
    if draw(st.booleans()):
        lines.append("apex next")
    if draw(st.booleans()):
        lines.append(f"duration {draw(st.integers(0, 40)) / 4:g}")
    at = 0.0
    for _ in range(draw(st.integers(0, 8))):
        at += draw(st.sampled_from([0.0, 0.05, 0.25, 0.5, 1.0, 2.0, 3.3]))
        code = draw(st.sampled_from(CODES))
        options = draw(st.sampled_from(["", "apex next", "apex 2", "onset 0.4 ease linear",
                                        "onset 0 apex next", "apex next offset 8f"]
                                       if code in HELD_CODES else ["", "apex 0.2", "onset 2f"]))
        lines.append(f"{at:g} {code} {options}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(text=beat_sheets(), timecode=st.booleans())
def test_beat_sheets_never_overlap_a_channel_at_its_apex_and_round_trip(vocabulary, text,
                                                                         timecode):
    timeline = parse_au_notes(text, vocabulary)
    by_channel: dict[Channel, list[AUEvent]] = {}
    for event in timeline.events:
        by_channel.setdefault(event.channel, []).append(event)
    for events in by_channel.values():
        events.sort(key=lambda e: e.start)
        for earlier, later in zip(events, events[1:]):
            # A later note takes the channel over: the earlier one is falling by then.
            assert later.start > earlier.start  # one at the same time is replaced
            assert earlier.apex_end <= later.start + TAKEOVER_TOLERANCE
    written = format_au_notes(timeline, vocabulary, timecode=timecode)
    back = parse_au_notes(written, vocabulary)
    assert format_au_notes(back, vocabulary, timecode=timecode) == written
    assert format_au_notes(timeline_from_json(timeline_to_json(back), vocabulary), vocabulary,
                           timecode=timecode) == written
    np.testing.assert_allclose(sample(back, fps=10, duration=timeline.duration).values,
                               sample(timeline, fps=10).values, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.sampled_from([0.0, 0.1, 0.25, 1.0, 2.5]), min_size=1, max_size=8),
       codes=st.lists(st.sampled_from([code for code in HELD_CODES if code != "neutral"]),
                      min_size=8, max_size=8),
       onset=st.sampled_from(["0", "0.3", "8f"]), duration=st.sampled_from([None, 0.5, 30.0]))
def test_apex_next_ends_the_apex_where_the_next_later_beat_starts(vocabulary, steps, codes, onset,
                                                                  duration):
    times = np.cumsum(steps).tolist()
    text = ("overlap max\n" + ("" if duration is None else f"duration {duration:g}\n")
            + "".join(f"{at!r} {code} onset {onset} apex next\n" for at, code in zip(times, codes)))
    timeline = parse_au_notes(text, vocabulary)  # 'overlap max': nothing is taken over
    beats = [(at, code == "53B") for at, code in zip(times, codes)]  # held within its layer
    for event in timeline.events:
        later = [at for at, head in beats if at > event.start and head == (event.channel.au == 53)]
        until = later[0] if later else duration
        if until is None:
            assert event.apex == 1.0
        else:
            assert event.apex_end == pytest.approx(max(until, event.apex_start), abs=1e-9)


def test_take_over_keeps_untouched_events_as_they_are():
    a = AUEvent(Channel(4), 0.5, 0.0)
    b = AUEvent(Channel(12), 0.5, 0.5)
    kept = take_over([[a], [b]])
    assert kept[0] is a and kept[1] is b


def test_the_readme_held_example_reads_as_it_says(vocabulary):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```\napex next\n", 1)[1].split("```", 1)[0]
    timeline = parse_au_notes("apex next\n" + block, vocabulary)
    by_channel = {(e.channel.name, e.start): e for e in timeline.events}
    assert by_channel[("AU01", 1.0)].apex_end == 5.0  # surprise falls from 5 s
    assert by_channel[("AU12", 5.0)].apex_end == 10.0
    assert by_channel[("AU14_R", 10.0)].apex_end == 12.0  # held to the end
    assert timeline.duration == 12.0


# --- with the director's words and FACS's rules across events (merged from main) ------------

def test_take_over_indexed_names_each_kept_event_by_its_input_index():
    from facs_rig.core.timeline import take_over_indexed

    smile = AUEvent(Channel(12), 1.0, 0.0, letter="E")
    trace = AUEvent(Channel(12), 0.1, 0.0, letter="A")  # same time: replaces the smile
    brow = AUEvent(Channel(4), 0.5, 1.0)
    assert take_over_indexed([[smile], [trace, brow]]) == [(1, trace), (2, brow)]


def test_the_overlap_check_names_the_lines_of_the_events_left_after_a_takeover(vocabulary):
    # Line 2 replaces line 1's AU12 (same time): the events left are lines 2, 3 and 4, and the
    # head turning both ways is named by its own lines, not shifted by the one taken over.
    with pytest.raises(TimelineFormatError) as caught:
        parse_au_notes("0 12E\n0 12B\n1 51\n2 52\n", vocabulary, source="turns.notes")
    assert str(caught.value).startswith(
        "turns.notes: line 3 (51 at 1-2.8 s) and line 4 (52 at 2-3.8 s) overlap at 2-2.8 s: 51+52")
    beats = [{"at": 0, "code": "12E"}, {"at": 0, "code": "12B"}, {"at": 1, "code": "51"},
             {"at": 2, "code": "52"}]
    with pytest.raises(TimelineFormatError) as caught:
        timeline_from_json(json.dumps({"schema": "facs_rig.timeline/1", "beats": beats}),
                           vocabulary, source="turns.json")
    assert str(caught.value).startswith(
        "turns.json: beats[2] (51 at 1-2.8 s) and beats[3] (52 at 2-3.8 s) overlap at 2-2.8 s")


def test_the_overlap_check_sees_the_held_apex(vocabulary):
    # Held until the head's next beat, 53 at 3 s, 51 falls from 3 s to 3.5 s while 52 rises
    # from 3.2 s: one moment of the head turning both ways (52 is not the next beat of the
    # head, so 51 does not meet it).
    with pytest.raises(TimelineFormatError, match=r"^AU notes: line 2 \(51 at 1-3.5 s\) and "
                                                  r"line 4 \(52 at 3.2-5 s\) overlap at 3.2-3.5 s"):
        parse_au_notes("apex next\n1 51\n3 53\n3.2 52\n", vocabulary)
    # A smile between them is another layer: the turn holds to the 52 and meets it.
    met = parse_au_notes("apex next\n1 51\n3 12\n3.2 52\n", vocabulary)
    assert [(e.channel.au, e.end) for e in met.events if e.channel.au in (51, 52)] == [
        (51, 3.2), (52, 5.0)]
    # With no offset the held turn ends as the next one starts: they touch.
    touching = parse_au_notes("1 51 apex next offset 0\n3 52\n", vocabulary)
    assert [(e.channel.au, e.end) for e in touching.events] == [(51, 3.0), (52, 4.8)]


def events_of(timeline: Timeline) -> list[tuple[str, float, float, float, float]]:
    return [(e.channel.name, e.start, e.apex_start, e.apex_end, e.end) for e in timeline.events]


def test_a_held_turn_ends_as_the_next_beat_turns_the_other_way(vocabulary):
    """'Turn left, then turn right': FACS cannot score 51 beside 52 (Table 9-1), so a held 51's
    fall ends where the 52 beat starts rising (they meet) instead of crossing it, which the
    overlap check refused; the held AUs FACS scores beside the next beat still cross-fade."""
    turns = [("AU12", 1.0, 1.3, 3.0, 3.5),          # the smile holds to 3 s and falls across
             ("AU51", 1.0, 1.3, 2.5, 3.0),          # the turn falls from 2.5 s, at rest at 3 s
             ("AU52", 3.0, 3.3, 4.3, 4.8)]
    assert events_of(parse_au_notes("1 51+12 apex next\n3 52\n", vocabulary)) == turns
    assert events_of(parse_au_notes("apex next\n1 51+12\n3 52\n", vocabulary))[:2] == turns[:2]
    beats = [{"at": 1, "code": "51+12", "apex": "next"}, {"at": 3, "code": "52"}]
    assert events_of(timeline_from_json(json.dumps(
        {"schema": "facs_rig.timeline/1", "beats": beats}), vocabulary)) == turns
    # A fall longer than the room after the onset is shortened: apex 0, falling 1.3-1.5 s.
    assert events_of(parse_au_notes("1 51 apex next offset 1\n1.5 52\n", vocabulary))[0] == (
        "AU51", 1.0, 1.3, 1.3, 1.5)
    # The next beat is every beat at its time: a mark 70 at 3 s hides the held brows (70+1).
    brows = parse_au_notes("1 1+2 apex next\n3 12\n3 70\n", vocabulary)
    assert events_of(brows)[:2] == [("AU01", 1.0, 1.3, 2.5, 3.0), ("AU02", 1.0, 1.3, 2.5, 3.0)]
    beats = [{"at": 1, "code": "1+2", "apex": "next"}, {"at": 3, "code": "12"},
             {"at": 3, "code": "70"}, {"at": 5, "code": "4"}]
    assert events_of(timeline_from_json(json.dumps(
        {"schema": "facs_rig.timeline/1", "beats": beats}), vocabulary))[:2] == events_of(brows)[:2]
    # An onset that passes the next beat cannot meet it: refused, naming both.
    with pytest.raises(TimelineFormatError, match=r"^AU notes: line 1 \(51 at 1-1.7 s\) and "
                                                  r"line 2 \(52 at 1.2-3 s\) overlap"):
        parse_au_notes("1 51 onset 0.5 apex next offset 0.2\n1.2 52\n", vocabulary)


def test_a_measured_timeline_holds_as_before(vocabulary):
    # Measured: FACS's rules are not applied, so the held turn keeps its fall across the next.
    text = "measured a capture\n1 51 apex next\n3 52\n"
    assert events_of(parse_au_notes(text, vocabulary))[0] == ("AU51", 1.0, 1.3, 3.0, 3.5)
    beats = [{"at": 1, "code": "51", "apex": "next"}, {"at": 3, "code": "52"}]
    data = {"schema": "facs_rig.timeline/1", "beats": beats,
            "metadata": {"events_from": "a capture"}}
    assert events_of(timeline_from_json(json.dumps(data), vocabulary))[0] == (
        "AU51", 1.0, 1.3, 3.0, 3.5)


def test_a_beat_held_to_the_duration_is_not_noted_as_cut_off(vocabulary):
    import warnings

    from facs_rig.errors import FacsRigWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        held = parse_au_notes("apex next\nduration 12\n" + DIRECTOR.replace("apex next", ""),
                              vocabulary)
    assert max(e.end for e in held.events) == 12.5  # its fall past the end, asked for
    # A beat that starts after the duration is still noted, as one past it: to its apex's end
    # (held to the duration, an apex of 0), 5.3 s, not its fall's, 5.8 s.
    with pytest.warns(FacsRigWarning, match=r"^AU notes, line 2: duration 4 \(4 s\) cuts off the "
                                            r"beat on line 4 \(6\), which runs to 5.3 s:"):
        parse_au_notes("apex next\nduration 4\n1 12 apex 1\n5 6\n", vocabulary)


def test_held_beats_keep_the_directors_words(vocabulary):
    timeline = parse_au_notes("fps 24\napex next\n# the reveal\n00:00:01:00 surprise  # wide\n"
                              "00:00:05:00 12A\n", vocabulary)
    surprise = [e for e in timeline.events if e.start == 1.0]
    assert {(e.expression, e.note, e.comment, e.apex_end) for e in surprise} == {
        ("surprise", "the reveal", "wide", 5.0)}
    written = format_au_notes(timeline, vocabulary, timecode=True)
    assert "# the reveal\n00:00:01:00  surprise  onset 0.3  apex 3.7  offset 0.5  # wide\n" in written


def test_the_docs_held_turns_read_as_they_say(vocabulary):
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "timeline-formats.md").read_text(
        encoding="utf-8")
    block = page.split("(`facs_rig.core.timeline.meeting_next`):\n\n```\n", 1)[1].split("```", 1)[0]
    assert events_of(parse_au_notes(block, vocabulary)) == [
        ("AU12", 1.0, 1.3, 3.0, 3.5), ("AU51", 1.0, 1.3, 2.5, 3.0), ("AU52", 3.0, 3.3, 4.3, 4.8)]
