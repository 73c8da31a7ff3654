"""Blinks and winks are momentary, and ``apex next`` holds within a layer (face, head, gaze,
momentary); ``neutral`` returns the face to rest.

A director's review: typed without timings, ``blink`` and ``wink_left`` closed the eye for
1.8 s (read as falling asleep), and a wink or a head turn written between two expression beats
ended the held expression. These are the numbers the readers now give.
"""

from __future__ import annotations

import json

import pytest

from facs_rig.core.channels import Channel
from facs_rig.core.timeline import (
    BLINK_PHASES,
    WINK_PHASES,
    AUEvent,
    Rest,
    Timeline,
    default_phases,
    face_rest,
    hold_layers,
    next_beat_times,
    sample,
    take_over,
)
from facs_rig.errors import TimelineFormatError
from facs_rig.io.au_notes import format_au_notes, parse_au_notes
from facs_rig.io.timeline_json import timeline_from_json


def _phases(timeline, name):
    return [(e.start, e.onset, e.apex, e.offset) for e in timeline.events if e.channel.name == name]


def test_a_blink_and_a_wink_typed_without_timings_are_momentary(vocabulary):
    timeline = parse_au_notes("fps 24\n1 blink\n2 wink_left\n3 45 offset 0.3\n", vocabulary)
    assert _phases(timeline, "AU45") == [(1.0, 0.1, 0.05, 0.15), (3.0, 0.1, 0.05, 0.3)]
    assert _phases(timeline, "AU46_L") == [(2.0, 0.1, 0.15, 0.15)]
    # Under half a second in all (FACS 2002, AU45 section), where a default beat lasts 1.8 s.
    assert sum(BLINK_PHASES) == pytest.approx(0.3) and sum(WINK_PHASES) == pytest.approx(0.4)
    # A smile beside a wink keeps the smile's pace.
    assert default_phases(vocabulary.parse("12+L46")) == (0.3, 1.0, 0.5)


def test_json_beats_and_add_code_take_the_same_momentary_defaults(vocabulary):
    data = {"schema": "facs_rig.timeline/1", "beats": [{"at": 1, "code": "blink"},
                                                      {"at": 2, "code": "R46"}]}
    timeline = timeline_from_json(json.dumps(data), vocabulary)
    assert _phases(timeline, "AU45") == [(1.0, 0.1, 0.05, 0.15)]
    assert _phases(timeline, "AU46_R") == [(2.0, 0.1, 0.15, 0.15)]
    built = Timeline().add_code("45", vocabulary, at=1.0).add_code("45", vocabulary, at=2.0,
                                                                    apex=0.2)
    assert _phases(built, "AU45") == [(1.0, 0.1, 0.05, 0.15), (2.0, 0.1, 0.2, 0.15)]


def test_a_blink_cannot_hold_and_the_header_does_not_hold_it(vocabulary):
    with pytest.raises(TimelineFormatError, match=r"line 2, column 18: wink_left is momentary "
                       r"and cannot hold .* write L43E for a held closure"):
        parse_au_notes("fps 24\n1 wink_left apex next\n", vocabulary)
    with pytest.raises(TimelineFormatError, match=r"beats\[0\]\.apex: 45 is momentary"):
        timeline_from_json(json.dumps({"schema": "facs_rig.timeline/1",
                                       "beats": [{"at": 1, "code": "45", "apex": "next"}]}),
                           vocabulary)
    timeline = parse_au_notes("apex next\n1 blink\n3 12\n", vocabulary)
    assert _phases(timeline, "AU45") == [(1.0, 0.1, 0.05, 0.15)]


def test_a_wink_a_blink_a_head_turn_or_a_glance_does_not_end_a_held_expression(vocabulary):
    text = ("fps 24\napex next\n1 R12C+R14C\n3 wink_left\n4 51C\n5 61C\n6 blink\n8 1+4+15\n"
            "10 53C\n12 neutral\n")
    timeline = parse_au_notes(text, vocabulary)
    # The contempt holds to the sadness at 8 s, the sadness to neutral at 12 s.
    assert [(e.channel.name, e.apex_end) for e in timeline.events if e.channel.au in (12, 15)] \
        == [("AU12_R", 8.0), ("AU15", 12.0)]
    # The head holds until the next head beat, at 10 s, and the tilt up to the end.
    head = {e.channel.name: e.apex_end for e in timeline.events if e.channel.au in (51, 53)}
    assert head == {"AU51": 10.0, "AU53": 11.3}
    # The glance has no later beat of its layer: it keeps the default apex.
    assert _phases(timeline, "AU61") == [(5.0, 0.3, 1.0, 0.5)]
    values = sample(timeline, fps=24)
    smirk = values.values[:, values.channels.index(Channel(12, "R"))]
    assert smirk[int(3.2 * 24)] == pytest.approx(0.55)  # during the wink: still held


def test_the_layers_of_a_beat(vocabulary):
    def layers(text):
        return sorted(hold_layers(vocabulary.parse(text), vocabulary))
    assert layers("6+12+53") == ["face", "head"]
    assert layers("L46") == ["momentary"] and layers("45") == ["momentary"]
    assert layers("61+64") == ["gaze"]
    assert layers("neutral") == ["face"]
    assert layers("50") == []  # speech drives nothing: it ends no hold...
    # ...and holds until the next beat of any layer.
    assert next_beat_times([0.0, 1.0, 2.0], [frozenset(), frozenset({"head"}),
                                             frozenset({"face"})]) == [1.0, None, None]
    # Beats at the same time are one moment.
    assert next_beat_times([0.0, 0.0, 1.0], [frozenset({"face"})] * 3) == [1.0, 1.0, None]


def test_neutral_returns_the_face_to_rest_over_its_onset(vocabulary):
    timeline = parse_au_notes("1 happiness apex 5\n3 neutral onset 1\n", vocabulary)
    assert [(e.channel.name, e.apex_end, e.offset, e.end) for e in timeline.events] == [
        ("AU06", 3.0, 1.0, 4.0), ("AU12", 3.0, 1.0, 4.0)]
    # Without an onset each event falls with its own offset; the head is not the face.
    timeline = parse_au_notes("1 12+53 apex 5\n3 neutral\n", vocabulary)
    assert [(e.channel.name, e.apex_end, e.end) for e in timeline.events] == [
        ("AU12", 3.0, 3.5), ("AU53", 6.3, 6.8)]
    # 'overlap max' keeps the old rule (beats take nothing over), but neutral still rests.
    timeline = parse_au_notes("overlap max\n1 12 apex 5\n2 12A\n3 neutral\n", vocabulary)
    assert [(e.apex_end, e.end) for e in timeline.events] == [(3.0, 3.5), (3.0, 3.5)]
    # The events read back the same from what the writer writes.
    back = parse_au_notes(format_au_notes(
        parse_au_notes("1 happiness apex 5\n3 neutral onset 1\n", vocabulary), vocabulary),
        vocabulary)
    assert [(e.apex_end, e.end) for e in back.events] == [(3.0, 4.0), (3.0, 4.0)]


def test_a_rest_ends_only_its_aus_and_only_events_still_on(vocabulary):
    smile = AUEvent(Channel(12), 0.5, 0.0, 0.3, 1.0, 0.5)
    nod = AUEvent(Channel(53), 0.5, 0.0, 0.3, 4.0, 0.5)
    rest = face_rest(vocabulary, 1.0, 0.25)
    assert 12 in rest.aus and 53 not in rest.aus and 45 not in rest.aus
    kept = take_over([[smile, nod], rest])
    assert [(e.channel.au, e.apex_end, e.offset) for e in kept] == [(12, 1.0, 0.25), (53, 4.3, 0.5)]
    # Already falling at the rest: its own fall is kept.
    late = take_over([[smile], Rest(1.5, frozenset({12}), 0.1)])
    assert [(e.apex_end, e.offset) for e in late] == [(1.3, 0.5)]


def test_neutral_after_a_held_beat_sets_its_fall(vocabulary):
    # The held apex ends exactly at the neutral beat: its fall is the neutral's onset.
    timeline = parse_au_notes("apex next\n8 sadness\n12 neutral onset 1\n", vocabulary)
    assert {(e.apex_end, e.offset, e.end) for e in timeline.events} == {(12.0, 1.0, 13.0)}


def test_a_held_neutral_json_beat_is_read(vocabulary):
    # It has no events to meet the next beat with (it raised AttributeError).
    data = {"schema": "facs_rig.timeline/1", "beats": [
        {"at": 0, "code": "12", "apex": 5}, {"at": 1, "code": "neutral", "apex": "next"},
        {"at": 2, "code": "12"}]}
    timeline = timeline_from_json(json.dumps(data), vocabulary)
    assert [(e.start, e.apex_end) for e in timeline.events] == [(0.0, 1.0), (2.0, 3.3)]


def test_a_file_metadata_cannot_pose_as_sampled_channels(vocabulary):
    from facs_rig.core.mixing import mix
    from facs_rig.io.rig_files import load_rig

    timeline = Timeline(metadata={"unsampled_channels": [12]}).add_code("12", vocabulary, at=0)
    curves = sample(timeline, fps=10)
    assert "unsampled_channels" not in curves.metadata
    mix(curves, load_rig("arkit"))  # raised AttributeError on the int
