"""Timeline file formats: JSON, AU notes, per-frame CSV, ELAN; dispatch and load_timeline_argument."""

from __future__ import annotations

import json
import re
import string
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.timecode import format_timecode, parse_timecode
from facs_rig.core.timeline import EASINGS, AUEvent, Timeline, overlap_problem, sample
from facs_rig.errors import (
    FacsRigError,
    TimelineError,
    TimelineFormatError,
    UnsupportedFormatError,
)
from facs_rig.io.au_notes import beat_start, format_au_notes, parse_au_notes
from facs_rig.io.curves_csv import (
    curves_from_csv_text,
    curves_to_csv_text,
    curves_to_json,
    infer_fps,
    read_curves_csv,
    write_curves_csv,
)
from facs_rig.io.eaf import channel_of_tier, eaf_to_string, read_eaf
from facs_rig.io.timeline_files import (
    available_formats,
    load_timeline_argument,
    read_timeline,
    write_timeline,
)
from facs_rig.io.timeline_json import timeline_from_dict, timeline_from_json, timeline_to_json

REPO = Path(__file__).resolve().parents[1]
SUSPICION = REPO / "examples" / "suspicion_beat.notes"

# Channels the bundled vocabulary accepts (12 and 14 may be unilateral, 1, 6, 26 are bilateral).
VALID_CHANNELS = [Channel(1), Channel(6), Channel(12), Channel(12, "L"), Channel(12, "R"),
                  Channel(14, "R"), Channel(26), Channel(45)]
LETTER_VALUES = {"A": 0.1, "B": 0.2, "C": 0.55, "D": 0.9, "E": 1.0}  # facshuman scale


TIMES = st.floats(0, 100)
DURATIONS = st.floats(0, 10)


#: One line of a director's words as a comment holds it: no line break, no spaces at either
#: end (a comment's are not kept), nothing XML 1.0 cannot carry (ELAN).
WORD_LINES = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")),
                     max_size=12).map(str.strip)
NOTES = st.none() | st.lists(WORD_LINES, min_size=1, max_size=3).map("\n".join)
COMMENTS = st.none() | WORD_LINES
# Expression text any format but AU notes keeps as it is (AU notes write it only where it still
# reads back as the line's events: test_notes_keep_the_expression_name_typed).
EXPRESSIONS = st.none() | st.sampled_from(["surprise", "happiness + 25", "wonder"])


@st.composite
def events(draw, times=TIMES, durations=DURATIONS, words=False):
    """AU events on valid channels, with a letter and its value or a free 0-1 intensity (a
    blink, AU45, has no letter: FACS scores no intensity for it and no writer writes one);
    with ``words``, a director's note and comment (and, ``words="all"``, an expression)."""
    channel = draw(st.sampled_from(VALID_CHANNELS))
    letter = None if channel.au == 45 else draw(st.sampled_from([None, "A", "B", "C", "D", "E"]))
    intensity = LETTER_VALUES[letter] if letter else draw(st.floats(0, 1))
    said = {}
    if words:
        said = {"note": draw(NOTES), "comment": draw(COMMENTS)}
        if words == "all":
            said["expression"] = draw(EXPRESSIONS)
    return AUEvent(channel, intensity, draw(times), draw(durations),
                   draw(durations), draw(durations), draw(st.sampled_from(EASINGS)),
                   draw(st.sampled_from(EASINGS)), letter, **said)


def timelines(event_strategy=None, metadata=None):
    event_strategy = events() if event_strategy is None else event_strategy
    metadata = st.just({}) if metadata is None else metadata
    return st.builds(
        Timeline, st.lists(event_strategy, max_size=8).map(tuple),
        st.one_of(st.none(), st.floats(0, 200)),
        st.sampled_from([24.0, 25.0, 29.97, 30.0, 60.0]), metadata)


# --- dispatch -------------------------------------------------------------------------------

def test_every_format_is_registered():
    assert available_formats() == {".json": "json", ".notes": "notes", ".txt": "notes",
                                   ".eaf": "eaf", ".csv": "csv"}


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"no timeline format for extension '\.xml'"):
        read_timeline(tmp_path / "beats.xml")
    with pytest.raises(UnsupportedFormatError):
        write_timeline(Timeline(), tmp_path / "beats.xml")
    assert not (tmp_path / "beats.xml").exists()


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(TimelineFormatError, match=r"beats\.json: cannot read: no such file"):
        read_timeline(tmp_path / "beats.json")
    binary = tmp_path / "beats.notes"
    binary.write_bytes(b"\xff\x00garbage")  # (FF FE would be UTF-16's byte-order mark, read)
    with pytest.raises(TimelineFormatError, match=r"beats\.notes, line 1, column 1: not UTF-8 text"):
        read_timeline(binary)
    # A director's Latin-1 'é' in a comment: the line and column, not only a byte offset.
    latin = tmp_path / "latin.notes"
    latin.write_bytes("fps 24\n0 12D  # café\n".encode("latin-1"))
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(latin)
    assert str(caught.value) == (f"{latin}, line 2, column 13: not UTF-8 text (byte 0xe9 at "
                                 f"offset 19): save it as UTF-8 (is this a timeline file?)")


@pytest.mark.parametrize("extension", [".json", ".notes", ".txt", ".eaf"])
def test_write_then_read_every_event_format(tmp_path, vocabulary, extension):
    timeline = read_timeline(SUSPICION, vocabulary)
    path = tmp_path / f"beats{extension}"
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    assert back.duration == timeline.duration and back.fps == timeline.fps
    assert len(back.events) == len(timeline.events) == 7
    for ours, theirs in zip(timeline.events, back.events):
        assert (theirs.channel, theirs.intensity, theirs.letter) == (
            ours.channel, ours.intensity, ours.letter)
        # ELAN stores whole milliseconds; the others are exact.
        tolerance = 5e-4 if extension == ".eaf" else 0
        assert theirs.start == pytest.approx(ours.start, abs=tolerance)
        assert theirs.apex_start == pytest.approx(ours.apex_start, abs=tolerance)
        assert theirs.end == pytest.approx(ours.end, abs=tolerance)


def test_failed_write_leaves_the_previous_file(tmp_path, vocabulary):
    path = tmp_path / "beats.notes"
    path.write_text("fps 24\n1 12\n")
    unknown = Timeline((AUEvent(Channel(99), 0.5, 0.0),))
    with pytest.raises(TimelineFormatError, match="unknown action unit 99"):
        write_timeline(unknown, path, vocabulary)
    assert path.read_text() == "fps 24\n1 12\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beats.notes"]


def test_a_notes_file_that_cannot_be_written_is_named(vocabulary, tmp_path):
    # New-user review: 'cannot write AU26_R as AU notes: ...' named no file.
    path = tmp_path / "r26.notes"
    with pytest.raises(TimelineFormatError) as caught:
        write_timeline(Timeline((AUEvent(Channel(26, "R"), 1.0, 0.0),)), path, vocabulary)
    assert str(caught.value) == (f"{path}: cannot write AU26_R as AU notes: AU26 (Jaw Drop) cannot be "
                                 f"unilateral")
    assert not path.exists()


@pytest.mark.parametrize("name", ["suspicion_beat.notes", "surprise_then_smile.json"])
def test_example_timelines_read_and_round_trip(vocabulary, name, tmp_path):
    timeline = read_timeline(REPO / "examples" / name, vocabulary)
    assert timeline.events and timeline.metadata["title"]
    write_timeline(timeline, tmp_path / "copy.json", vocabulary)
    assert read_timeline(tmp_path / "copy.json", vocabulary) == timeline


def test_surprise_then_smile_example(vocabulary):
    timeline = read_timeline(REPO / "examples" / "surprise_then_smile.json", vocabulary)
    assert [c.name for c in timeline.channels] == [
        "AU01", "AU02", "AU05", "AU06", "AU12", "AU25", "AU26", "AU46_L"]
    late_smile = [e for e in timeline.events if e.start == 4.6][0]
    assert (late_smile.onset, late_smile.apex, late_smile.offset) == (0.3, 0.5, 0.5)
    assert timeline.duration == 6.0


# --- load_timeline_argument ----------------------------------------------------------------

def test_argument_may_be_a_file(vocabulary):
    assert load_timeline_argument(str(SUSPICION), vocabulary) == read_timeline(SUSPICION, vocabulary)


def test_argument_may_be_a_code_or_expression(vocabulary):
    held = load_timeline_argument("6+12D", vocabulary, hold=1.5, fps=60)
    assert [(e.channel.name, e.intensity, e.apex) for e in held.events] == [
        ("AU06", 0.55, 1.5), ("AU12", 0.9, 1.5)]
    assert held.fps == 60.0
    assert load_timeline_argument("surprise", vocabulary).channels == (
        Channel(1), Channel(2), Channel(5), Channel(25), Channel(26))


def test_a_code_wins_over_a_file_without_a_timeline_extension(vocabulary, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "happiness").write_text("not a timeline")
    assert load_timeline_argument("happiness", vocabulary).metadata["code"] == "6+12"
    (tmp_path / "beats.xml").write_text("<beats/>")
    with pytest.raises(UnsupportedFormatError, match="no timeline format for extension '.xml'"):
        load_timeline_argument("beats.xml", vocabulary)
    (tmp_path / "folder").mkdir()
    with pytest.raises(TimelineFormatError, match="folder: is a folder, not a timeline file"):
        load_timeline_argument("folder", vocabulary)


@pytest.mark.parametrize(("argument", "message"), [
    ("missing.json", "missing.json: no such timeline file"),
    ("beats/missing", "no such timeline file"),
    ("6+99", "'6+99' is neither a timeline file nor a FACS code: unknown action unit 99"),
    ("smirk", "'smirk' is neither a timeline file nor a FACS code"),
])
def test_argument_errors(vocabulary, argument, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TimelineError, match=re.escape(message)):
        load_timeline_argument(argument, vocabulary)


# --- JSON ----------------------------------------------------------------------------------

def test_json_layout_is_exact(vocabulary):
    timeline = Timeline((AUEvent(Channel(12, "L"), 0.9, 1.0, 0.5, 1.0, 0.25, letter="D"),),
                        fps=24, metadata={"title": "smile"})
    assert timeline_to_json(timeline) == (
        '{\n'
        '  "schema": "facs_rig.timeline/1",\n'
        '  "fps": 24.0,\n'
        '  "duration": 2.75,\n'
        '  "metadata": {\n'
        '    "title": "smile"\n'
        '  },\n'
        '  "events": [\n'
        '    {"channel": "AU12_L", "intensity": 0.9, "letter": "D", "start": 1.0, "onset": 0.5, '
        '"apex": 1.0, "offset": 0.25, "ease_in": "smooth", "ease_out": "smooth"}\n'
        '  ]\n'
        '}\n')
    assert json.loads(timeline_to_json(Timeline()))["events"] == []


def test_json_accepts_absolute_times_letters_and_beats(vocabulary):
    data = {"schema": "facs_rig.timeline/1", "fps": 25,
            "events": [{"channel": "L12", "letter": "B", "start": 1, "apex_start": 1.5,
                        "apex_end": 2, "end": 3, "ease": "linear"}],
            "beats": [{"at": 4, "code": "surprise", "apex": 0.5, "intensity": 0.4}]}
    timeline = timeline_from_dict(data, vocabulary)
    first = timeline.events[0]
    assert (first.channel, first.intensity, first.onset, first.apex, first.offset, first.ease_out) \
        == (Channel(12, "L"), 0.2, 0.5, 0.5, 1.0, "linear")
    assert [(e.channel.name, e.intensity) for e in timeline.events[1:]] == [
        ("AU01", 0.4), ("AU02", 0.4), ("AU05", 0.2), ("AU25", 0.4), ("AU26", 0.4)]
    assert timeline.duration == 5.3


@pytest.mark.parametrize(("patch", "message"), [
    ({"schema": "facs_rig.timeline/2"}, "schema: expected 'facs_rig.timeline/1'"),
    ({"fps": 0}, "fps: frame rate must be positive"),
    ({"events": {}}, "events: expected a list"),
    ({"colour": 1}, r"\$: unknown key 'colour'"),
    ({"events": [{"channel": "AU99", "start": 0}]}, r"events\[0\]\.channel: unknown action unit 99"),
    ({"events": [{"channel": "L26", "start": 0}]}, "AU26 .* cannot be unilateral"),
    ({"events": [{"channel": "AU50", "start": 0}]}, "drives nothing"),
    ({"events": [{"channel": "mouthSmile", "start": 0}]}, "expected an AU channel"),
    ({"events": [{"channel": "AU12", "start": 0, "onset": -0.2}]},
     r"events\[0\]\.onset: negative duration \(-0\.2 s\)"),
    ({"events": [{"channel": "AU12", "start": 1, "apex_start": 0.5, "apex_end": 2, "end": 3}]},
     r"events\[0\]: AU12 event: apex starts at 0\.5 s, before the onset at 1 s"),
    ({"events": [{"channel": "AU12", "start": 1, "onset": 1, "end": 3}]}, "not both"),
    ({"events": [{"channel": "AU12", "start": 0, "intensity": 2}]}, "outside 0-1"),
    ({"events": [{"channel": "AU12", "start": 0, "ease": "wobble"}]}, "easing 'wobble'"),
    ({"events": [{"channel": "AU12", "start": 0, "strat": 1}]}, "unknown key 'strat'"),
    ({"beats": [{"at": 1, "code": "6+99"}]}, r"beats\[0\]\.code: unknown action unit 99 at column 3"),
])
def test_json_errors_name_the_file_and_json_path(vocabulary, patch, message):
    data = {"schema": "facs_rig.timeline/1", "events": []}
    data.update(patch)
    with pytest.raises(TimelineFormatError, match=f"^beats.json: .*{message}"):
        timeline_from_dict(data, vocabulary, source="beats.json")


@pytest.mark.parametrize(("data", "message"), [
    # New-user review: a file without "schema" said "got None", as if it held a Python None.
    ({"events": []}, "schema: missing (expected 'facs_rig.timeline/1')"),
    ({"schema": None}, "schema: expected 'facs_rig.timeline/1', got null"),
    ({"schema": True}, "schema: expected 'facs_rig.timeline/1', got true"),
    ({"schema": "facs_rig.timeline/1", "events": [{"start": 0}]},
     "events[0].channel: missing (expected an AU channel such as 'AU12' or 'AU12_L')"),
    ({"schema": "facs_rig.timeline/1", "events": [{"channel": None, "start": 0}]},
     "events[0].channel: expected an AU channel such as 'AU12' or 'AU12_L', got null"),
    ({"schema": "facs_rig.timeline/1", "beats": [{"at": 0}]},
     "beats[0].code: missing (expected a FACS code string or expression name, such as '6+12D' or "
     "'happiness')"),
    ({"schema": "facs_rig.timeline/1", "beats": [{"at": 0, "code": None}]},
     "beats[0].code: expected a FACS code string, got null"),
    ({"schema": "facs_rig.timeline/1", "events": [{"channel": "AU12", "start": None}]},
     "events[0].start: expected a number, got null"),
    ({"schema": "facs_rig.timeline/1", "events": [{"channel": "AU12", "start": 0, "ease": None}]},
     "events[0].ease: easing null is not one of linear, smooth, step"),
    ({"schema": "facs_rig.timeline/1", "events": [{"channel": "AU12", "start": 0, "letter": False}]},
     "events[0].letter: intensity letter false is not one of A-E"),
    ({"schema": "facs_rig.timeline/1", "beats": [{"at": 0, "code": "12", "scale": False}]},
     "beats[0].scale: expected a scale name, got false"),
])
def test_json_errors_say_missing_and_spell_json_values(vocabulary, tmp_path, data, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(path, vocabulary)
    assert str(caught.value) == f"{path}: {message}"


def test_json_syntax_errors_name_line_and_column(vocabulary):
    with pytest.raises(TimelineFormatError, match="beats.json: line 2 column 1: invalid JSON"):
        timeline_from_json('{"schema": \n}', vocabulary, source="beats.json")


@settings(max_examples=100, deadline=None)
@given(timeline=timelines(events(words="all"),
                          metadata=st.dictionaries(st.text(max_size=5), st.integers() | st.text())))
def test_json_round_trip_is_exact(vocabulary, timeline):
    assert timeline_from_json(timeline_to_json(timeline), vocabulary) == timeline


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["schema", "events", "beats", "channel", "start", "onset",
                                       "apex", "offset", "end", "apex_start", "apex_end", "code",
                                       "at", "letter", "intensity", "fps", "duration", "ease",
                                       "expression", "note", "comment"]),
                      children, max_size=6),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data=json_values, events_data=st.lists(st.dictionaries(
    st.sampled_from(["channel", "start", "onset", "apex", "offset", "end", "apex_start",
                     "apex_end", "letter", "intensity", "ease", "expression", "note", "comment"]),
    st.floats(-5, 5) | st.sampled_from(["AU12", "L12", "AU99", "C", "Q", "linear", "", "a#b",
                                        "a\nb", "a\rb", "surprise"]), max_size=8),
    max_size=3))
def test_json_reader_never_fails_with_another_exception(vocabulary, data, events_data):
    for candidate in (data, {"schema": "facs_rig.timeline/1", "events": events_data}):
        try:
            timeline_from_dict(candidate, vocabulary)
        except TimelineFormatError:
            pass


# --- AU notes ------------------------------------------------------------------------------

def test_the_issue_example_reads_as_written(vocabulary):
    text = ("fps 24\n"
            "00:00:01:00  4C+7B      onset 0.4 apex 1.2 offset 0.6   # the suspicion beat\n"
            "00:00:03:12  happiness  onset 8f apex 2s offset 1s\n"
            "5.0          R12A+R14A\n")
    timeline = parse_au_notes(text, vocabulary)
    rows = [(e.channel.name, e.intensity, e.start, e.onset, e.apex, e.offset)
            for e in timeline.events]
    assert rows == [
        ("AU04", 0.55, 1.0, 0.4, 1.2, 0.6), ("AU07", 0.2, 1.0, 0.4, 1.2, 0.6),
        ("AU06", 0.55, 3.5, 8 / 24, 2.0, 1.0), ("AU12", 0.55, 3.5, 8 / 24, 2.0, 1.0),
        ("AU12_R", 0.1, 5.0, 0.3, 1.0, 0.5), ("AU14_R", 0.1, 5.0, 0.3, 1.0, 0.5)]
    assert timeline.fps == 24.0
    assert timeline.duration == 3.5 + 8 / 24 + 2.0 + 1.0  # the end of the last event to finish


def test_notes_options_headers_and_units(vocabulary):
    text = ("# comment line\n\ntitle  The   long take\nfps 30\nduration 00:00:10:00\n"
            "36f  12  ease linear  intensity 0.37  apex 15f   # a comment\n"
            "2s   L12B+26  ease_in step ease_out smooth\n")
    timeline = parse_au_notes(text, vocabulary)
    assert timeline.metadata == {"title": "The   long take"}
    assert timeline.duration == 10.0
    first, *rest = timeline.events
    assert (first.start, first.intensity, first.apex, first.ease_in, first.ease_out) == (
        1.2, 0.37, 0.5, "linear", "linear")
    assert [(e.channel.name, e.intensity, e.ease_in, e.ease_out) for e in rest] == [
        ("AU12_L", 0.2, "step", "smooth"), ("AU26", 0.55, "step", "smooth")]


def test_notes_duration_is_read_at_the_files_fps_wherever_fps_stands(vocabulary):
    """'duration 48f' above 'fps 24' is 48 frames at 24 fps (it was read at the default 30: 1.6 s)."""
    for text in ("duration 48f\nfps 24\n0 12\n", "fps 24\nduration 48f\n0 12\n",
                 "fps 24\n0 12\nduration 48f\n", "duration 00:00:02:00\nfps 24\n0 12\n"):
        timeline = parse_au_notes(text, vocabulary)
        assert (timeline.duration, timeline.fps) == (2.0, 24.0), text
    assert parse_au_notes("duration 00:00:01:12\nfps 24\n0 12\n", vocabulary).duration == 1.5


def test_notes_start_header_makes_editorial_timecode_the_timelines_zero(vocabulary):
    """Beats typed against an edit's timecode (01:00:00:00 is common) sat after an hour of
    nothing: 'start' names the timecode of 0 s, read at the file's fps wherever 'fps' stands."""
    text = ("start 01:00:00:00\nfps 24\n01:00:01:00  happiness\n"
            "01:00:02:12  12 apex_start 01:00:02:20 apex_end 01:00:03:00 end 01:00:03:12\n")
    timeline = parse_au_notes(text, vocabulary)
    assert timeline.metadata == {"start": "01:00:00:00"}
    assert timeline.duration == 3.5 and timeline.fps == 24.0
    assert [(e.channel.name, e.start) for e in timeline.events] == [
        ("AU06", 1.0), ("AU12", 1.0), ("AU12", 2.5)]
    last = timeline.events[-1]
    assert (last.start, last.onset, last.apex, last.offset) == (2.5, round(1 / 3, 12), round(1 / 6, 12), 0.5)
    written = format_au_notes(timeline, vocabulary, timecode=True)
    assert written.splitlines()[1:5] == ["fps 24", "start 01:00:00:00", "duration 3.5",
                                         "01:00:01:00  happiness  onset 0.3  apex 1  offset 0.5"]
    again = parse_au_notes(written, vocabulary)  # the same to the nanosecond, the written precision
    assert again.metadata == timeline.metadata and again.duration == timeline.duration
    assert [(e.channel, e.start) for e in again.events] == [(e.channel, e.start) for e in timeline.events]
    assert np.allclose([(e.onset, e.apex, e.offset) for e in again.events],
                       [(e.onset, e.apex, e.offset) for e in timeline.events], rtol=0, atol=1e-9)
    assert format_au_notes(again, vocabulary, timecode=True) == written
    # JSON keeps it in the metadata, so notes written from JSON have the header again.
    assert timeline_from_json(timeline_to_json(timeline, vocabulary), vocabulary) == timeline
    for bad, message in (
            ("fps 24\nstart 01:00:00:00\n00:59:59:00  12\n",
             r"line 3, column 1: time 00:59:59:00 \(3599 s\) is before the start \(3600 s\)"),
            ("fps 24\n1 12\nstart 00:00:00:12\n",
             "line 3, column 1: 'start' must come before the first beat"),
            ("start 00:00:01:30\nfps 24\n1 12\n", "line 1, column 7: timecode '00:00:01:30': frame 30"),
            ("start abc\n", "line 1, column 7: start 'abc' is not a time"),  # no beat to read it
            ("fps 24\nstart 01:00:00:00\nduration 01:00:10:00\n01:00:01:00  12\n",
             r"line 3, column 10: duration 01:00:10:00 is a length, not an end timecode: with "
             r"start 01:00:00:00 it would make the timeline 3610 s long; give the length "
             r"\(e.g. duration 10s\)")):
        with pytest.raises(TimelineFormatError, match=f"^beats.notes, {message}"):
            parse_au_notes(bad, vocabulary, source="beats.notes")
    # A timecode length under the start is a length: 10 s of timeline, as 'duration 10s'.
    assert parse_au_notes("fps 24\nstart 01:00:00:00\nduration 00:00:10:00\n01:00:01:00  12\n",
                          vocabulary).duration == 10.0


def test_notes_accept_absolute_phase_times(vocabulary):
    timeline = parse_au_notes("fps 24\n00:00:01:00 12 apex_start 00:00:01:12 apex_end 2.5 end 72f\n",
                              vocabulary)
    event = timeline.events[0]
    assert (event.start, event.onset, event.apex, event.offset) == (1.0, 0.5, 1.0, 0.5)


@pytest.mark.parametrize(("text", "message"), [
    ("1 12 apex_start 2 apex_end 1.5 end 3\n", r"line 1, column 28: apex_end \(1.5 s\) comes before "
                                              r"apex_start \(2 s\)"),
    ("1 12 apex_start 0.5 apex_end 1.5 end 3\n", "apex_start .* comes before the beat"),
    ("1 12 apex_start 2 end 3\n", "need apex_start, apex_end and end; missing apex_end"),
    ("1 12 onset 1 apex_start 2 apex_end 3 end 4\n", "not both"),
    ("fps 24\n00:00:01:24 12\n", "line 2, column 1: timecode '00:00:01:24': frame 24 must be "
                                 "below the frame rate"),
    ("1 6+99\n", r"line 1, column 5: unknown action unit 99 at column 3 of '6\+99'"),
    ("1 smirk\n", "line 1, column 3: unrecognised term 'smirk'"),
    ("2 12\n1 12\n", "line 2, column 1: time 1 .* goes backwards: the beat on line 1 is at 2 s"),
    ("fps 25\n00:00:02:00 12\n00:00:01:10 6\n", "line 3, column 1: time 00:00:01:10 .* goes backwards"),
    ("1 12 onset -0.5\n", "line 1, column 12: negative duration '-0.5'"),
    ("1 12 apex\n", "option 'apex' needs a value"),
    ("1 12 apex 1 apex 2\n", "option 'apex' given twice"),
    ("1 12 onset soon\n", "onset 'soon' is not a number"),
    ("1 12 ease bouncy\n", "easing 'bouncy' is not one of"),
    ("1 12 intensity 3\n", "intensity '3' must be a number 0-1"),
    ("1 12\nfps 30\n", "line 2, column 1: 'fps' must come before the first beat"),
    ("fps -3\n", "negative fps"),
    ("fps 0\n", "must be a positive number"),
    ("fps\n", "'fps' needs a value"),
    ("1.5\n", "missing a FACS code"),
    ("00:00:01;00 12\n", "drop-frame timecode"),
    ("00:61:00:00 12\n", "minutes 61 must be below 60"),
    ("1 L26\n", "AU26 .* cannot be unilateral"),
    # A header given twice used to be taken silently from its last line.
    ("fps 24\nfps 30\n1 12\n", "line 2, column 1: 'fps' given twice: it is already set on line 1"),
    ("duration 2\n1 12\nduration 3\n",
     "line 3, column 1: 'duration' given twice: it is already set on line 1"),
    ("title a\ntitle b\n", "line 2, column 1: 'title' given twice"),
    # An fps that is not a number is not 'a number of seconds'.
    ("fps abc\n",
     r"line 1, column 5: fps 'abc' must be a positive number of frames per second \(24, 29.97\)"),
    ("fps 24f\n", "line 1, column 5: fps '24f' must be a positive number of frames per second"),
    # A misspelled option keyword is named, not quoted as part of the code it was swallowed by.
    ("1 12D onest 8f\n", "line 1, column 7: unknown option 'onest': did you mean 'onset'\\?"),
    ("1 surprise + 25 ofset 2\n", "line 1, column 17: unknown option 'ofset': did you mean 'offset'\\?"),
    ("duration 00:00:02:26\nfps 24\n1 12\n",
     "line 1, column 10: timecode '00:00:02:26': frame 26 must be below"),
    # A time that does not read names every form a time takes, timecode included.
    ("fps 24\n1:00:12 12\n", r"line 2, column 1: time '1:00:12' is not a time: seconds \(1.5 or 1.5s\), "
                            r"frames \(36f\) or timecode HH:MM:SS:FF"),
    ("1 12 end soon apex_start 1 apex_end 2\n", "line 1, column 10: end 'soon' is not a time: seconds"),
    ("1 12 onset soon\n", "line 1, column 12: onset 'soon' is not a number of seconds"),
])
def test_notes_errors_name_file_line_and_problem(vocabulary, text, message):
    with pytest.raises(TimelineFormatError, match=f"^beats.notes, {message}" if "line" in message
                       else f"^beats.notes, line .*{message}"):
        parse_au_notes(text, vocabulary, source="beats.notes")


def test_notes_writer_groups_beats_and_keeps_letters(vocabulary):
    timeline = parse_au_notes("fps 24\n1 4C+7B onset 0.4\n1.5 12 intensity 0.37 ease step\n"
                              "1.5 L14\n", vocabulary)
    assert format_au_notes(timeline, vocabulary) == (
        "# facs-rig AU notes: time  code  phases (see docs/timeline-formats.md)\n"
        "fps 24\n"
        "duration 3.3\n"
        "1    4C+7B  onset 0.4  apex 1  offset 0.5\n"
        "1.5  12     onset 0.3  apex 1  offset 0.5  ease step  intensity 0.37\n"
        "1.5  L14    onset 0.3  apex 1  offset 0.5\n")


def test_notes_writer_splits_lines_that_one_code_cannot_hold(vocabulary):
    # 12 and L12 cannot share a code string; two identical 12 events would merge into one.
    same = AUEvent(Channel(12), 0.55, 1.0)
    timeline = Timeline((same, same, AUEvent(Channel(12, "L"), 0.55, 1.0)))
    assert parse_au_notes(format_au_notes(timeline, vocabulary), vocabulary) == timeline


@settings(max_examples=150, deadline=None)
@given(timeline=timelines(events(words=True),
                          metadata=st.sampled_from([{}, {"title": "take 3"}, {"title": "Take #3"},
                                                    {"title": "a  # b\t#c"},
                                                    {"comment": "the end\n\n# of it"}])),
       timecode=st.booleans())
def test_notes_round_trip_keeps_the_timeline(vocabulary, timeline, timecode):
    # Times are written to the timeline's precision (1 ns, TIME_TOLERANCE), intensities to
    # float32 (what drives a rig): reading back gives the same timeline to those precisions,
    # exactly where the values are already that precise, and writing it again the same text.
    text = format_au_notes(timeline, vocabulary, timecode=timecode)
    back = parse_au_notes(text, vocabulary)
    assert_same_to_notes_precision(back, timeline)
    assert format_au_notes(back, vocabulary, timecode=timecode) == text
    assert parse_au_notes(text, vocabulary) == back


def assert_same_to_notes_precision(back: Timeline, timeline: Timeline) -> None:
    assert (back.fps, dict(back.metadata)) == (timeline.fps, dict(timeline.metadata))
    # The duration to the nanosecond, as every time, exactly where it already is that precise;
    # one written as the events' end to the nanosecond is read as the end of the events read
    # back, whose four times are each to the nanosecond.
    end = max((event.end for event in back.events), default=0.0)
    if back.duration == end:
        assert back.duration == pytest.approx(timeline.duration, rel=1e-15, abs=2.5e-9)
    else:
        assert back.duration == pytest.approx(timeline.duration, rel=1e-15, abs=5e-10)
        if round(timeline.duration, 9) == timeline.duration:
            assert back.duration == timeline.duration
    assert len(back.events) == len(timeline.events)

    def order(event: AUEvent) -> tuple:  # the timeline's own order, on the written precision
        return (round(event.start, 9), event.channel.sort_key, round(event.onset, 9),
                round(event.apex, 9), round(event.offset, 9), float(np.float32(event.intensity)),
                event.ease_in, event.ease_out, event.letter or "", event.expression or "",
                event.note or "", event.comment or "")

    for theirs, ours in zip(sorted(back.events, key=order), sorted(timeline.events, key=order)):
        assert (theirs.channel, theirs.letter, theirs.ease_in, theirs.ease_out) == (
            ours.channel, ours.letter, ours.ease_in, ours.ease_out)
        # The director's words, each on its line (a note above the beat, a comment on it).
        assert (theirs.expression, theirs.note, theirs.comment) == (
            ours.expression, ours.note, ours.comment)
        assert np.float32(theirs.intensity) == np.float32(ours.intensity)
        for name in ("start", "onset", "apex", "offset"):
            value = getattr(ours, name)
            assert getattr(theirs, name) == pytest.approx(value, rel=1e-15, abs=5e-10)
            if round(value, 9) == value:
                assert getattr(theirs, name) == value


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 60), st.integers(0, 120),
                                 st.integers(1, 60), st.sampled_from(["A", "B", "C", "D", "E", None]),
                                 st.floats(0.03125, 1.0, width=32)), max_size=6),
       fps=st.sampled_from([24.0, 30.0, 60.0]))
# The read-back is the writer's own timeline: no "duration cuts off a beat" note (the phases'
# nanosecond rounding had read a capture's last beat as a few nanoseconds past its duration).
@pytest.mark.filterwarnings("error::facs_rig.errors.FacsRigWarning")
def test_notes_of_captured_events_read_back_the_same(vocabulary, frames, fps):
    # What `retarget -o x.notes` writes: events on frame times whose durations were rounded to a
    # picosecond, float32 intensities widened to doubles, each with the letter of its band.
    scale = vocabulary.scale()
    events = []
    for start, onset, apex, offset, letter, value in frames:
        value = float(np.float32(value))
        letter = scale.value_to_letter(value) if letter else None
        times = [start / fps, (start + onset) / fps, (start + onset + apex) / fps,
                 (start + onset + apex + offset) / fps]
        events.append(AUEvent.from_times(Channel(12), value, *times, ease_in="linear",
                                         ease_out="linear", letter=letter))
    timeline = Timeline(tuple(events), fps=fps)
    text = format_au_notes(timeline, vocabulary)
    back = parse_au_notes(text, vocabulary)
    assert_same_to_notes_precision(back, timeline)
    assert format_au_notes(back, vocabulary) == text
    for line in text.splitlines()[3:]:
        # No float noise: intensities in at most 9 significant digits (float32's shortest),
        # times in at most 9 decimals; a letter on every line whose value lies in its band.
        for key in ("intensity", "onset", "apex", "offset"):
            words = line.split()
            if key in words:
                number = words[words.index(key) + 1].rstrip("f")
                assert len(number.replace(".", "").lstrip("0")) <= 9 or key != "intensity"
                assert "." not in number or len(number.split(".")[1]) <= 9


def test_retargeted_notes_have_no_float_noise(vocabulary, tmp_path):
    # New-user review: `retarget -o take.notes` wrote `intensity 0.17100000381469727` and
    # `offset 0.287936539023`, and `7 ... intensity 0.907` without its letter next to `64E`.
    from facs_rig.cli import main

    out = tmp_path / "take.notes"
    source = shared_asset("captures/openface/facsvatar_demo_full.csv")
    assert main(["retarget", str(source), "-o", str(out)]) == 0
    text = out.read_text()
    numbers = re.findall(r"(?:intensity|onset|apex|offset) (\S+)", text)
    assert numbers and max(len(n) for n in numbers) <= 11  # 0.287936539 is 11 characters
    for line in text.splitlines()[3:]:
        code, options = line.split()[1], line.split()[2:]
        if "intensity" in options:
            value = float(options[options.index("intensity") + 1])
            letter = vocabulary.scale().value_to_letter(value)
            # Every term that is not a blink shows the letter of the value it carries.
            for term in code.split("+"):
                assert term.endswith(letter) or term.rstrip("ABCDE").lstrip("LR") == "45", line
    back = read_timeline(out, vocabulary)
    assert format_au_notes(back, vocabulary) == text


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 100)), max_size=5),
       fps=st.sampled_from([24.0, 25.0, 29.97, 30.0, 60.0]))
def test_notes_timecode_round_trip_on_frames(vocabulary, frames, fps):
    timeline = Timeline(tuple(AUEvent(Channel(12), 0.55, start / fps, onset / fps)
                              for start, onset in frames), fps=fps)
    text = format_au_notes(timeline, vocabulary, timecode=True)
    assert parse_au_notes(text, vocabulary) == timeline


@pytest.mark.parametrize("timecode, duration", [(False, "12.310510511"), (True, "12.310510511")])
def test_notes_writer_rounds_the_duration_to_the_nanosecond(vocabulary, timecode, duration):
    # New-user review: a beat at 00:00:10:15 at 29.97 fps ends at 10.5105105... + 1.8 s, and the
    # header said 'duration 12.310510510510511'; times are written to the nanosecond.
    timeline = parse_au_notes("fps 29.97\n00:00:10:15 12\n", vocabulary)
    text = format_au_notes(timeline, vocabulary, timecode=timecode)
    assert text.splitlines()[2] == f"duration {duration}"
    back = parse_au_notes(text, vocabulary)
    assert_same_to_notes_precision(back, timeline)
    assert format_au_notes(back, vocabulary, timecode=timecode) == text
    # A frame-exact duration long in decimal is written in frames with --timecode, as phases are.
    frames = Timeline((AUEvent(Channel(12), 0.55, 0.0, 0.0, 0.0, 0.0),), 368 / 29.97, 29.97)
    assert format_au_notes(frames, vocabulary, timecode=True).splitlines()[2] == "duration 368f"
    assert parse_au_notes(format_au_notes(frames, vocabulary, timecode=True), vocabulary) == frames
    assert format_au_notes(frames, vocabulary).splitlines()[2] == "duration 368f"


def test_notes_writer_timecode_layout(vocabulary):
    # The two AU12 events overlap at their apex: 'overlap max' keeps both (by default the
    # later line takes AU12 over at 3.51 s), and the writer says so in its header.
    timeline = parse_au_notes("fps 24\noverlap max\n00:00:03:12 happiness onset 8f apex 2s "
                              "offset 1s\n3.51 12\n", vocabulary)
    assert format_au_notes(timeline, vocabulary, timecode=True).splitlines()[3:] == [
        "overlap max",
        "00:00:03:12  happiness  onset 8f  apex 2  offset 1",  # the name typed, kept
        "3.51         12         onset 0.3  apex 1  offset 0.5"]


notes_tokens = st.sampled_from(
    ["fps", "24", "30", "duration", "title", "1.5", "1.5s", "36f", "-2", "00:00:01:12", "00:00:01:30",
     "00:00:01;12", "12", "6+12D", "R12A+R14A", "happiness", "L26", "99", "+", "onset", "apex",
     "offset", "ease", "ease_in", "linear", "step", "intensity", "0.4", "8f", "1e400", "nan", "#",
     "apex_start", "apex_end", "end", "next", "overlap", "max", "replace",
     "x", "\n", "\n", "\n"])


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=80),
                      st.lists(notes_tokens, max_size=25).map(" ".join)))
def test_notes_parser_either_parses_or_raises_its_error(vocabulary, text):
    try:
        parse_au_notes(text, vocabulary)
    except TimelineFormatError:
        pass


# --- timecode ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "fps", "seconds"), [
    ("00:00:01:12", 24, 1.5), ("00:00:00:00", 30, 0.0), ("01:02:03:04", 25, 3723.16),
    ("00:00:01:00", 29.97, 30 / 29.97)])
def test_timecode_values(text, fps, seconds):
    assert parse_timecode(text, fps) == pytest.approx(seconds, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(frames=st.integers(0, 10**7), fps=st.sampled_from([24, 25, 30, 50, 60]))
def test_timecode_round_trip(frames, fps):
    assert parse_timecode(format_timecode(frames / fps, fps), fps) == pytest.approx(frames / fps)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=string.digits + ":;. x", max_size=14), fps=st.sampled_from([24, 30]))
def test_timecode_parser_raises_only_value_error(text, fps):
    try:
        assert parse_timecode(text, fps) >= 0
    except ValueError:
        pass


# --- per-frame CSV -------------------------------------------------------------------------

def test_csv_layout_is_exact():
    curves = AUCurves(np.array([0.0, 0.5]), np.array([[0, 0.55], [1 / 3, 1]], dtype=np.float32),
                      (Channel(6), Channel(12, "L")), 2.0)
    assert curves_to_csv_text(curves) == "time,AU06,AU12_L\n0.0,0,0.55\n0.5,0.33333334,1\n"


def test_csv_reads_other_spellings_empty_cells_and_frame_columns():
    curves = curves_from_csv_text("frame,Time,au12l,L AU14,1\n0,0,0.5,,1\n1,0.04,0.25,0.1,0\n")
    assert curves.channels == (Channel(12, "L"), Channel(14, "L"), Channel(1))
    assert curves.values.tolist() == [[0.5, 0.0, 1.0], [0.25, np.float32(0.1), 0.0]]
    assert curves.fps == 25.0


@pytest.mark.parametrize("separator", [";", "\t"])
def test_csv_reads_semicolon_and_tab_separated_files(separator):
    text = f"time{separator}AU12\n0{separator}0.5\n0.5{separator}1\n"
    curves = curves_from_csv_text(text)
    assert curves.values[:, 0].tolist() == [0.5, 1.0] and curves.fps == 2.0


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty file"),
    ("AU12\n0.5\n", "line 1: no time column"),
    ("time,confidence\n", "line 1, column 2: 'confidence' is neither a time column nor an AU"),
    ("time,AU12,12\n", "columns 'AU12' and '12' are both AU12"),
    ("time,AU12\n0,0.5,1\n", "line 2: 3 cells, the header has 2"),
    ("time,AU12\n0,high\n", "line 2, column 'AU12': 'high' is not a finite number"),
    ("time,AU12\n0,0.5\n0.1,1.5\n", "line 3, column 'AU12': intensity 1.5 is outside 0-1"),
    ("time,AU12\n0,0.5\n0.2,0\n0.1,0\n", "line 4: time 0.1 does not come after"),
    ("time,AU12\n-1,0.5\n", "line 2: negative time"),
    ("time,AU12\nnan,0.5\n", "not a finite number"),
])
def test_csv_errors_name_line_and_column(text, message):
    with pytest.raises(TimelineFormatError, match=f"^curves.csv.*{message}"):
        curves_from_csv_text(text, source="curves.csv")


@pytest.mark.parametrize("column", ["AU26_R", "R26", "AU26R", "L AU26", "l26"])
def test_csv_timeline_refuses_a_side_facs_forbids(vocabulary, tmp_path, column):
    # New-user review: `time,AU26_R` read as a right-side jaw drop that every rig then dropped
    # (bake wrote zeros); the JSON reader and --channels refuse it, so does the CSV reader now.
    path = tmp_path / "r26.csv"
    path.write_text(f"time,AU12_R,{column}\n0,0,0\n0.1,1,1\n0.2,0,0\n")
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(path, vocabulary)
    assert str(caught.value) == (f"{path}, line 1, column 3: '{column}': AU26 (Jaw Drop) cannot be "
                                 f"unilateral")


@pytest.mark.parametrize("column, problem", [("AU99", "unknown action unit 99"),
                                             ("AU70", "AU70 (Brows and Forehead Not Visible) is a "
                                                      "visibility code and drives nothing")])
def test_csv_timeline_refuses_what_the_json_reader_refuses(vocabulary, tmp_path, column, problem):
    path = tmp_path / "t.csv"
    path.write_text(f"time,{column}\n0,0\n0.1,1\n")
    with pytest.raises(TimelineFormatError, match=re.escape(f"line 1, column 2: '{column}': {problem}")):
        read_timeline(path, vocabulary)
    json_path = tmp_path / "t.json"
    json_path.write_text(json.dumps({"schema": "facs_rig.timeline/1",
                                     "events": [{"channel": column, "start": 0}]}))
    with pytest.raises(TimelineFormatError, match=re.escape(f"events[0].channel: {problem}")):
        read_timeline(json_path, vocabulary)


def test_csv_timeline_keeps_the_documented_side_columns(vocabulary, tmp_path):
    # docs/timeline-formats.md: columns are written AU12, AU12_L, AU12_R and read in any
    # parse_channel spelling or the FACS form (L12); sides stay on the AUs that can have one.
    path = tmp_path / "sides.csv"
    path.write_text("time,AU12_R,au12l,R14,AU45_L\n0,0,0,0,0\n0.1,1,0.2,0.9,1\n0.2,0,0,0,0\n")
    timeline = read_timeline(path, vocabulary)
    assert [(e.channel.name, e.intensity, e.letter) for e in timeline.events] == [
        ("AU12_L", 0.2, "B"), ("AU12_R", 1.0, "E"), ("AU14_R", 0.9, "D"), ("AU45_L", 1.0, "E")]


@pytest.mark.parametrize("column, kind", [("AU12_r", "intensity (0-5)"), ("AU45_c", "presence (0/1)")])
def test_csv_refuses_openfaces_lower_case_r_as_a_side(tmp_path, column, kind):
    # OpenFace names its AU regression intensity AU12_r and its presence AU12_c (OpenFace 2.x
    # wiki, "Output Format"): the lower-case r is no right side, 0-5 no 0-1 curve.
    path = tmp_path / "of.csv"
    path.write_text(f"time,{column}\n0,0\n0.1,1\n")
    with pytest.raises(TimelineFormatError) as caught:
        read_curves_csv(path)
    right = "; a right side is written AU12_R" if column == "AU12_r" else ""
    assert str(caught.value) == (
        f"{path}, line 1, column 2: '{column}' is how OpenFace names its AU{column[2:4]} {kind} "
        f"column (a lower-case _{column[-1]}, no side), not a 0-1 AU channel: read an OpenFace "
        f"capture (with its 'timestamp' column) with 'facs-rig retarget {path} -o aus.json' or "
        f"'facs-rig code {path}'{right}")


def test_csv_of_openface_au_columns_is_an_openface_capture(vocabulary, tmp_path):
    # New-user review: timestamp + the AUxx_r columns of a real OpenFace capture listed
    # AU01_R ... AU26_R in `timeline show`. It is a capture: the hint says so, and the capture
    # reader still reads the same file.
    from facs_rig.io.captures import read_capture

    source = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    rows = source.read_text().splitlines()
    header = rows[0].split(",")
    keep = [i for i, name in enumerate(header) if name == "timestamp" or name.endswith("_r")]
    path = tmp_path / "au_r.csv"
    path.write_text("\n".join(",".join(row.split(",")[i] for i in keep) for row in rows) + "\n")
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(path, vocabulary)
    assert str(caught.value) == (
        f"{path} is a face tracker's capture (OpenFace 2.x FeatureExtraction CSV), not AU curves: "
        f"solve it to AUs with 'facs-rig retarget {path} -o aus.json' (or 'facs-rig code {path}' "
        f"for its FACS code)")
    capture = read_capture(path)
    assert capture.format == "openface" and Channel(12) in capture.aus.channels


CSV_COLUMN_NAMES = st.builds(
    lambda side, au, spelling: spelling.format(au=au, side=side),
    st.sampled_from(["L", "R"]), st.sampled_from([1, 12, 14, 25, 26, 45, 46, 64, 70, 99]),
    st.sampled_from(["AU{au:02d}_{side}", "{side}{au}", "AU{au:02d}{side}", "{side} AU{au}",
                     "AU{au:02d}", "{au}", "au{au}_{side}"]))


@settings(max_examples=200, deadline=None)
@given(names=st.lists(CSV_COLUMN_NAMES, min_size=1, max_size=4, unique=True))
def test_csv_timeline_columns_pass_the_json_readers_channel_rule(vocabulary, names):
    # Every column is either a channel the vocabulary allows (as the JSON reader's check_channel
    # says) or refused at line 1, naming its column number and name.
    from facs_rig.io.timeline_json import check_channel, read_channel_name

    text = "time," + ",".join(names) + "\n0" + ",0" * len(names) + "\n"
    channels = [read_channel_name(name) for name in names]
    problems = [(index, check_channel(channel, vocabulary)) for index, channel in enumerate(channels)]
    duplicate = len(set(channels)) < len(channels)
    try:
        curves = curves_from_csv_text(text, source="t.csv", vocabulary=vocabulary)
    except TimelineFormatError as exc:
        first = next(((index, problem) for index, problem in problems if problem), None)
        if first is None:
            assert duplicate and "are both" in str(exc)
        else:
            index, problem = first
            message = str(exc)
            assert message == f"t.csv, line 1, column {index + 2}: '{names[index]}': {problem}" or (
                duplicate and "are both" in message)
    else:
        assert not any(problem for _, problem in problems) and not duplicate
        assert list(curves.channels) == channels


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.lists(st.floats(0, 1, width=32), min_size=3, max_size=3), min_size=1,
                       max_size=20),
       fps=st.sampled_from([24.0, 30.0, 60.0]))
def test_csv_round_trip_is_exact(values, fps, tmp_path_factory):
    array = np.array(values, dtype=np.float32)
    curves = AUCurves(np.arange(len(values)) / fps, array,
                      (Channel(1), Channel(12, "L"), Channel(12, "R")), fps)
    path = tmp_path_factory.mktemp("csv") / "curves.csv"
    write_curves_csv(curves, path)
    back = read_curves_csv(path)
    np.testing.assert_array_equal(back.values, curves.values)
    np.testing.assert_array_equal(back.times, curves.times)
    assert back.channels == curves.channels
    assert back.fps == (fps if len(values) > 1 else None)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["time", "AU12", "L12", "x", ",", ",", "\n", "0", "0.5", "1.5", "-1", "nan", '"', " "]),
    max_size=30).map("".join)))
def test_csv_parser_either_parses_or_raises_its_error(text):
    try:
        curves_from_csv_text(text)
    except TimelineFormatError:
        pass


@st.composite
def frame_aligned_timelines(draw):
    """Events on distinct channels with every boundary on a 10 fps frame (no overlaps)."""
    channels = draw(st.lists(st.sampled_from(VALID_CHANNELS), unique=True, max_size=4))
    result = []
    for channel in channels:
        start, onset, apex, offset = (draw(st.integers(0, 20)), draw(st.integers(0, 6)),
                                      draw(st.integers(0, 6)), draw(st.integers(0, 6)))
        letter = draw(st.sampled_from([None, "A", "B", "C", "D", "E"]))
        intensity = LETTER_VALUES[letter] if letter else draw(st.floats(0.05, 1))
        result.append(AUEvent.from_times(
            channel, intensity, start / 10, (start + onset) / 10, (start + onset + apex) / 10,
            (start + onset + apex + offset) / 10, ease_in=draw(st.sampled_from(EASINGS)),
            ease_out=draw(st.sampled_from(EASINGS)), letter=letter))
    return Timeline(tuple(result), fps=10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=frame_aligned_timelines())
def test_csv_timeline_round_trip_reproduces_the_samples(vocabulary, timeline, tmp_path):
    path = tmp_path / "curves.csv"
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    # Peaks come back as their float32 value, so a free intensity may differ by one float32 step.
    np.testing.assert_allclose(sample(back, fps=10).values, sample(timeline, fps=10).values,
                               rtol=0, atol=1e-7)
    for event in timeline.events:
        if event.letter and event.end > event.start:
            assert any(e.channel == event.channel and e.letter == event.letter for e in back.events)


def test_curves_json_layout():
    curves = AUCurves(np.array([0.0, 0.5]), np.array([[0.25], [1.0]], dtype=np.float32),
                      (Channel(12),), 2.0)
    text = curves_to_json(curves)
    assert json.loads(text) == {"schema": "facs_rig.curves/1", "fps": 2.0, "channels": ["AU12"],
                                "times": [0.0, 0.5], "values": [[0.25], [1]]}


def test_infer_fps():
    assert infer_fps(np.arange(10) / 30) == 30.0
    assert infer_fps(np.array([0.0, 0.1, 0.3])) is None
    assert infer_fps(np.array([0.0])) is None


# --- ELAN ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["elan/sample_3.0.eaf", "elan/sample_2.7.eaf"])
def test_real_elan_files_without_au_tiers_read_as_empty(vocabulary, name):
    timeline = read_timeline(shared_asset(name), vocabulary)
    assert timeline.events == ()
    assert timeline.metadata["ignored_tiers"] == [
        "text", "words-timesub", "words-symsub", "gestures", "gest_included", "words-pos"]


@pytest.mark.parametrize(("name", "channel"), [
    ("AU12", Channel(12)), ("AU1", Channel(1)), ("L12", Channel(12, "L")), ("R12", Channel(12, "R")),
    ("AU12_L", Channel(12, "L")), ("au12 r", Channel(12, "R")), ("AU12 #2", Channel(12)),
    ("12", None), ("FACS", None), ("AU12 phases", None), ("words", None), ("LAU12R", None)])
def test_au_tier_names(name, channel):
    assert channel_of_tier(name) == channel


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=12) | st.from_regex(r"[LR ]?(AU)?[ _]?\d{1,3}[ _]?[LR]?( #\d)?", fullmatch=True))
def test_channel_name_readers_return_a_channel_or_none(name):
    from facs_rig.io.timeline_json import read_channel_name

    for reader in (channel_of_tier, read_channel_name):
        assert reader(name) is None or isinstance(reader(name), Channel)


def _coded_eaf(tmp_path: Path, tiers: dict[str, list[tuple[int, int, str]]],
               children: dict[str, tuple[str, list[tuple[int, int, str]]]] | None = None) -> Path:
    """An ELAN file as a coder would make it, written with pympi directly."""
    import pympi

    eaf = pympi.Elan.Eaf(author="coder")
    eaf.add_linguistic_type("included", constraints="Included_In")
    for tier, rows in tiers.items():
        eaf.add_tier(tier)
        for start, end, value in rows:
            eaf.add_annotation(tier, start, end, value)
    for tier, (parent, rows) in (children or {}).items():
        eaf.add_tier(tier, ling="included", parent=parent)
        for start, end, value in rows:
            eaf.add_annotation(tier, start, end, value)
    path = tmp_path / "coded.eaf"
    eaf.to_file(str(path))
    return path


def test_elan_au_tiers_with_letters_and_default_phase_proportions(vocabulary, tmp_path):
    path = _coded_eaf(tmp_path, {"AU12": [(1000, 3000, "D"), (4000, 4400, "")],
                                 "L14": [(2000, 2800, "0.3")], "speaker": [(0, 500, "hello")]})
    timeline = read_eaf(path, vocabulary)
    rows = [(e.channel.name, e.intensity, e.letter, e.start, e.onset, e.apex, e.offset)
            for e in timeline.events]
    assert rows == [("AU12", 0.9, "D", 1.0, 0.5, 1.0, 0.5), ("AU14_L", 0.3, None, 2.0, 0.2, 0.4, 0.2),
                    ("AU12", 0.55, None, 4.0, 0.1, 0.2, 0.1)]
    assert timeline.metadata["ignored_tiers"] == ["default", "speaker"]


def test_elan_au_tier_values_may_repeat_the_au(vocabulary, tmp_path):
    path = _coded_eaf(tmp_path, {"AU12": [(0, 1000, "12C"), (1000, 2000, "AU12d"), (2000, 3000, "12")],
                                 "L12": [(0, 1000, "L12B")], "AU1": [(0, 1000, "1")]})
    timeline = read_eaf(path, vocabulary)
    assert [(e.channel.name, e.intensity, e.letter) for e in timeline.events] == [
        ("AU01", 1.0, None), ("AU12", 0.55, "C"), ("AU12_L", 0.2, "B"), ("AU12", 0.9, "D"),
        ("AU12", 0.55, None)]


def test_elan_code_tier_and_phase_child_tier(vocabulary, tmp_path):
    path = _coded_eaf(tmp_path, {"FACS": [(1000, 4000, "1+2+5B"), (5000, 6000, "happiness")]},
                      {"FACS phases": ("FACS", [(1000, 1200, "onset linear"), (1200, 3000, "apex"),
                                                (3000, 4000, "offset step")])})
    timeline = read_eaf(path, vocabulary)
    brows = [e for e in timeline.events if e.start == 1.0]
    assert [(e.channel.name, e.intensity) for e in brows] == [("AU01", 0.55), ("AU02", 0.55),
                                                              ("AU05", 0.2)]
    assert {(e.onset, e.apex, e.offset, e.ease_in, e.ease_out) for e in brows} == {
        (0.2, 1.8, 1.0, "linear", "step")}
    smile = [e for e in timeline.events if e.start == 5.0]
    assert {(e.onset, e.apex, e.offset) for e in smile} == {(0.25, 0.5, 0.25)}
    assert "ignored_tiers" not in timeline.metadata or timeline.metadata["ignored_tiers"] == ["default"]


@pytest.mark.parametrize(("tiers", "message"), [
    ({"AU12": [(1000, 2000, "Q")]}, r"tier 'AU12', annotation 1-2 s: value 'Q' is not an intensity"),
    ({"L12": [(1000, 2000, "13C")]}, r"tier 'L12', annotation 1-2 s: value '13C' is not an "
                                     r"intensity letter A-E, empty, the tier's AU \(L12C\), or a "
                                     r"number 0-1"),
    ({"L12": [(1000, 2000, "R12C")]}, "tier 'L12', annotation 1-2 s: value 'R12C' is not"),
    ({"AU99": [(1000, 2000, "A")]}, "tier 'AU99': unknown action unit 99"),
    ({"L26": [(1000, 2000, "A")]}, "tier 'L26': AU26 .* cannot be unilateral"),
    ({"FACS": [(0, 1500, "6+99")]}, r"tier 'FACS', annotation 0-1.5 s: .*unknown action unit 99"),
])
def test_elan_errors_name_file_tier_and_annotation(vocabulary, tmp_path, tiers, message):
    path = _coded_eaf(tmp_path, tiers)
    with pytest.raises(TimelineFormatError, match=f"coded.eaf: {message}"):
        read_eaf(path, vocabulary)


@pytest.mark.parametrize("content", [b"", b"not xml", b"<?xml version='1.0'?><root/>",
                                     b"<ANNOTATION_DOCUMENT><TIER/></ANNOTATION_DOCUMENT>"])
def test_unreadable_elan_files(vocabulary, tmp_path, content):
    path = tmp_path / "broken.eaf"
    path.write_bytes(content)
    with pytest.raises(TimelineFormatError, match="broken.eaf: not a readable ELAN file"):
        read_timeline(path, vocabulary)


def test_elan_writer_lanes_overlaps_and_keeps_phases(vocabulary, tmp_path):
    timeline = Timeline((AUEvent(Channel(12), 0.9, 1.0, 0.5, 1.0, 0.5, letter="D"),
                         AUEvent(Channel(12), 0.4, 2.0, 0.25, 0.0, 0.75, "linear", "step")),
                        fps=25, metadata={"take": 3})
    text = eaf_to_string(timeline, vocabulary)
    assert 'TIER_ID="AU12"' in text and 'TIER_ID="AU12 #2"' in text
    assert 'PARENT_REF="AU12 #2"' in text and ">offset step<" in text
    path = tmp_path / "lanes.eaf"
    write_timeline(timeline, path, vocabulary)
    assert read_timeline(path, vocabulary) == timeline


def test_elan_writer_refuses_events_shorter_than_a_millisecond(vocabulary, tmp_path):
    path = tmp_path / "x.eaf"
    with pytest.raises(TimelineFormatError, match="lasts under a millisecond"):
        write_timeline(Timeline((AUEvent(Channel(12), 1.0, 1.0, 0, 0.0001, 0),)), path, vocabulary)
    assert not path.exists()


@st.composite
def millisecond_events(draw):
    """Events whose boundaries are whole milliseconds, built as the ELAN reader builds them."""
    start, onset, apex, offset = (draw(st.integers(0, 10**6)), draw(st.integers(0, 5000)),
                                  draw(st.integers(0, 5000)), draw(st.integers(0, 5000)))
    if onset + apex + offset == 0:
        apex = 1
    event = draw(events(times=st.just(start / 1000), durations=st.just(0.0)))
    ease_in = event.ease_in if onset else "smooth"    # a zero-length phase has no easing
    ease_out = event.ease_out if offset else "smooth"
    return replace(event, onset=onset / 1000, apex=apex / 1000, offset=offset / 1000,
                   ease_in=ease_in, ease_out=ease_out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=timelines(millisecond_events(),
                          st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5))))
def test_elan_round_trip_is_exact_on_milliseconds(vocabulary, timeline, tmp_path):
    # Free intensities are written to the precision rig weights have, float32, in the shortest
    # text that reads back as the same float32 (as AU notes write them); everything else, and
    # that text, reads back exactly, and rewriting what was read gives the same file.
    from facs_rig.io.au_notes import float32_text

    path = tmp_path / "round.eaf"
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    written = [e.intensity if e.letter is not None and e.intensity == LETTER_VALUES[e.letter]
               else float(float32_text(e.intensity)) for e in timeline.events]
    assert back == replace(timeline, events=tuple(
        replace(e, intensity=value) for e, value in zip(timeline.events, written)))
    assert [np.float32(e.intensity) for e in back.events] == \
        [np.float32(e.intensity) for e in timeline.events]
    again = tmp_path / "again.eaf"
    write_timeline(back, again, vocabulary)
    assert _annotations(again) == _annotations(path)


def _annotations(path) -> str:
    """The ELAN file's text without its creation date."""
    return re.sub(r'DATE="[^"]*"', "", path.read_text(encoding="utf-8"))


def test_elan_writes_a_captured_intensity_without_float_noise(vocabulary):
    # An intensity from float32 tracker values was written as 0.16950000077486038; to a rig's
    # float32 weight it is 0.1695.
    value = 0.16950000077486038
    assert np.float32(value) == np.float32(0.1695)
    timeline = Timeline((AUEvent(Channel(12), value, 0.0, 0.1, 0.2, 0.1),))
    text = eaf_to_string(timeline, vocabulary)
    assert "<ANNOTATION_VALUE>0.1695</ANNOTATION_VALUE>" in text
    assert "0.16950000077486038" not in text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tiers=st.dictionaries(
    st.sampled_from(["AU12", "L12", "AU1", "FACS", "AU99", "L26", "words", "AU12 #2", "codes"]),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 3000),
                       st.sampled_from(["", "A", "e", "0.5", "2", "x", "6+12", "happiness", "99",
                                        "onset", "apex"])), max_size=4), max_size=4))
def test_elan_reader_either_reads_or_raises_its_error(vocabulary, tmp_path, tiers):
    path = _coded_eaf(tmp_path, {tier: [(s, s + length, value) for s, length, value in rows]
                                 for tier, rows in tiers.items()})
    try:
        read_eaf(path, vocabulary)
    except TimelineFormatError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_elan_reader_on_arbitrary_bytes(vocabulary, tmp_path, content):
    path = tmp_path / "fuzz.eaf"
    path.write_bytes(content)
    try:
        read_timeline(path, vocabulary)
    except FacsRigError as exc:
        assert isinstance(exc, TimelineFormatError)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([24.0, 25.0, 30.0, 60.0]),
       st.one_of(st.integers(0, 90_000).map(lambda n: f"{n}f"),
                 st.floats(0, 3600, allow_nan=False).map(lambda x: f"{x:.3f}"),
                 st.floats(0, 3600, allow_nan=False).map(lambda x: f"{x:.2f}s"),
                 st.integers(0, 3600 * 24).map(lambda n: f"00:{n // 1440 % 60:02d}:"
                                                         f"{n // 24 % 60:02d}:{n % 24:02d}")))
def test_beat_start_reads_a_beat_time_as_the_notes_parser_does(vocabulary, fps, time_text):
    """One reading of a beat's time (the studio had its own twin of it)."""
    line = f"{time_text}  6C   # a note"
    parsed = parse_au_notes(f"fps {fps:g}\n{line}\n", vocabulary)
    assert beat_start(line, fps) == parsed.events[0].start


@pytest.mark.parametrize("line", ["", "   # only a comment", "fps 24", "duration 3", "title a b",
                                  "soon  6C", "-1  6C", "nan  6C", "00:00:01:99  6C"])
def test_beat_start_is_none_where_no_beat_time_reads(line):
    assert beat_start(line, 24.0) is None


def test_a_free_peak_a_few_float32_steps_from_a_letter_stays_free(vocabulary, tmp_path):
    # Hypothesis found it: 0.8999995 was read back as D (0.9), 4e-7 away, because the letter
    # match allowed 1e-6; a letter is matched only when equal as float32.
    path = tmp_path / "curves.csv"
    event = AUEvent.from_times(Channel(1), 0.8999995378196535, 0.0, 0.0, 0.0, 0.0)
    write_timeline(Timeline((event,), fps=10), path, vocabulary)
    (back,) = read_timeline(path, vocabulary).events
    assert back.letter is None and back.intensity == float(np.float32(0.8999995378196535))
    write_timeline(Timeline((replace(event, intensity=0.9, letter="D"),), fps=10), path, vocabulary)
    (back,) = read_timeline(path, vocabulary).events
    assert (back.letter, back.intensity) == ("D", 0.9)


def test_a_blink_is_written_without_a_letter(vocabulary, tmp_path):
    # FACS 2002 scores no intensity for AU45 (a blink is there or not): events read off a
    # capture carry the band letter of their depth (45D), JSON and ELAN do not show it. AU notes
    # write the band letter of a blink below full closure (45D): `45` alone closes the eye,
    # whatever the line's intensity, so `45 intensity 0.9` would read back at 1.
    blink = AUEvent(Channel(45), 0.9, 1.0, 0.05, 0.1, 0.05, ease_in="linear", ease_out="linear",
                    letter="D")
    smile = AUEvent(Channel(12), 0.9, 1.0, 0.05, 0.1, 0.05, ease_in="linear", ease_out="linear",
                    letter="D")
    timeline = Timeline((blink, smile), 2.0)
    notes = format_au_notes(timeline, vocabulary)
    assert notes.splitlines()[-1:] == ["1  12D+45D  onset 0.05  apex 0.1  offset 0.05  ease linear"]
    back = parse_au_notes(notes, vocabulary)
    assert {(e.channel.au, e.letter, e.intensity) for e in back.events} == {(45, None, 0.9),
                                                                           (12, "D", 0.9)}
    write_timeline(timeline, tmp_path / "t.json", vocabulary)
    entries = json.loads((tmp_path / "t.json").read_text())["events"]
    assert {entry["channel"]: entry.get("letter") for entry in entries} == {"AU45": None,
                                                                             "AU12": "D"}
    eaf = eaf_to_string(timeline, vocabulary)
    assert "<ANNOTATION_VALUE>0.9</ANNOTATION_VALUE>" in eaf
    assert "<ANNOTATION_VALUE>12D</ANNOTATION_VALUE>" in eaf  # the FACS term, as a coder writes
    assert vocabulary.scores_intensity(45) is False and vocabulary.scores_intensity(12) is True


def test_notes_intensity_in_a_letters_band_keeps_the_letter(vocabulary):
    # `7E intensity 0.907` is 7 at E measured finely; `6+12D intensity 0.3` is 6 at 0.3 with 12
    # still at D (0.3 is no D), as before.
    (seven,) = parse_au_notes("1 7E intensity 0.907\n", vocabulary).events
    assert (seven.letter, seven.intensity) == ("E", 0.907)
    six, twelve = parse_au_notes("1 6+12D intensity 0.3\n", vocabulary).events
    assert (six.letter, six.intensity, twelve.letter, twelve.intensity) == (None, 0.3, "D", 0.9)


@pytest.mark.parametrize("line, title", [
    ("title Take #3", "Take #3"),
    ("  TITLE   Take #3 #4  ", "Take #3 #4"),  # a title line carries no comment
    ("title #3", "#3"),
    ("title a\t#\tb", "a\t#\tb"),
])
def test_a_title_keeps_its_hash(vocabulary, line, title):
    """``title Take #3`` was read as ``Take``: the ``#`` began a comment. Comments still end
    every other line, and a line that starts with ``#`` is still a comment."""
    text = f"# title not this one\n{line}\nfps 24\n1  12C  # a smile # twice\n"
    timeline = parse_au_notes(text, vocabulary)
    assert timeline.metadata == {"title": title}
    assert [(e.channel.name, e.start) for e in timeline.events] == [("AU12", 1.0)]
    assert format_au_notes(timeline, vocabulary).splitlines()[1] == f"title {title}"


@settings(max_examples=300, deadline=None)
@given(title=st.text(st.characters(codec="utf-8"), max_size=30))
def test_any_title_is_written_so_that_it_reads_back(vocabulary, title):
    """A title on one line without whitespace at its ends comes back exactly, ``#`` and all;
    any other (line breaks would end the header line, reading strips the ends) comes back with
    its whitespace runs as single spaces, and a blank one is not written ('title' needs a
    value, and the text written was unreadable)."""
    timeline = Timeline((AUEvent(Channel(12), 0.55, 1.0),), metadata={"title": title})
    text = format_au_notes(timeline, vocabulary)
    back = parse_au_notes(text, vocabulary)
    one_line = title == title.strip() and title.splitlines() == [title]
    expected = title if one_line else " ".join(title.split())
    assert dict(back.metadata) == ({"title": expected} if expected else {})
    assert format_au_notes(back, vocabulary) == text


def test_elan_one_tier_per_au_may_name_each_annotations_side(vocabulary, tmp_path):
    """A coder who keeps one tier per AU writes a unilateral action as FACS writes it, ``L12B``
    on tier ``AU12``: it is the left side's event (it was refused: 'value 'L12B' is not an
    intensity letter'). A side the AU cannot have is refused, naming tier and annotation."""
    path = _coded_eaf(tmp_path, {"AU12": [(0, 1000, "L12B"), (1000, 2000, "C"),
                                          (2000, 3000, "R12"), (3000, 4000, "r 12 d")]})
    timeline = read_eaf(path, vocabulary)
    assert [(e.channel.name, e.start, e.intensity, e.letter) for e in timeline.events] == [
        ("AU12_L", 0.0, 0.2, "B"), ("AU12", 1.0, 0.55, "C"), ("AU12_R", 2.0, 0.55, None),
        ("AU12_R", 3.0, 0.9, "D")]
    path = _coded_eaf(tmp_path, {"AU26": [(1000, 2000, "L26B")]})
    with pytest.raises(TimelineFormatError, match=r"coded.eaf: tier 'AU26', annotation 1-2 s: "
                                                  r"value 'L26B': AU26 \(Jaw Drop\) cannot be "
                                                  r"unilateral"):
        read_eaf(path, vocabulary)
    path = _coded_eaf(tmp_path, {"AU12": [(1000, 2000, "L13B")]})
    with pytest.raises(TimelineFormatError, match=r"value 'L13B' is not an intensity letter A-E, "
                                                  r"empty, the tier's AU \(12C, L12C or R12C\)"):
        read_eaf(path, vocabulary)


def _tier_layout(path) -> dict[str, list[tuple[int, int]]]:
    """Each AU tier's annotation spans (ms), read by pympi, phases and intensity tiers left out."""
    import pympi.Elan

    eaf = pympi.Elan.Eaf(str(path))
    return {tier: sorted((start, end) for start, end, *_ in eaf.get_annotation_data_for_tier(tier))
            for tier in eaf.get_tier_names() if not tier.endswith((" phases", " intensity"))}


def test_elan_layout_a_tier_per_channel_lanes_only_for_overlaps(vocabulary, tmp_path):
    """Why more than one tier per AU (docs/timeline-formats.md, "Why this layout"): ELAN cannot
    hold overlapping annotations on one tier, and a take's events overlap (both sides of a smile
    at once; pieces that follow the intensity reach over to their neighbours' apexes). A coded
    timeline whose events do not overlap has one tier per channel, each with its phases tier."""
    coded = Timeline((AUEvent(Channel(12, "L"), 0.2, 1.0, letter="B"),
                      AUEvent(Channel(12, "L"), 0.55, 3.0, letter="C"),
                      AUEvent(Channel(12), 0.9, 5.0, letter="D"),
                      AUEvent(Channel(1), 0.55, 1.0, letter="C")), fps=30)
    path = tmp_path / "coded.eaf"
    write_timeline(coded, path, vocabulary)
    assert _tier_layout(path) == {"AU01": [(1000, 2800)], "AU12": [(5000, 6800)],
                                  "AU12_L": [(1000, 2800), (3000, 4800)]}
    assert read_timeline(path, vocabulary) == coded
    # A real take: 228 events in 37 lanes (74 tiers with their phases), with code's automatic
    # neutral and smoothing, as a timeline output now has them, and the soft targets solved as
    # the rig combines them (216 before the left brow's trace during the right brow's raise at
    # 51.0 s was an event, core.events._with_mirror_traces; 227 in 36 before the soft targets; 709 in 79 lanes without the neutral: the
    # tracker's resting bias read as events; 750 in 83 before the arkit profile's crosstalk took
    # the laughs' 20 and 29 out); no tier has two annotations that overlap, so ELAN opens and
    # keeps every one of them. (217 in 35 before a blink had to come near closed: 11 of the
    # take's AU45 events were lids lowered short of it, now AU43_L and AU43_R, two lanes more.)
    take = tmp_path / "S07-001.eaf"
    from facs_rig.cli import main

    assert main(["retarget", str(shared_asset("captures/livelinkface/S07-001.csv")), "-o",
                 str(take)]) == 0
    layout = _tier_layout(take)
    assert len(layout) == 37 and sum(map(len, layout.values())) == 228
    for spans in layout.values():
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert {name for name in layout if name.startswith("AU12")} == {
        "AU12_L", "AU12_L #2", "AU12_L #3", "AU12_L #4", "AU12_R", "AU12_R #2", "AU12_R #3"}


# --- codes that drive nothing (visibility 70-74, behaviour 40, 50, 80-98) are kept ---------
# action_units.json: these codes "are parsed and kept". A coder's ELAN FACS tier holding 50
# (speech) or 74 (unscorable), or a notes beat '6+12+50', lost them without a word.

from facs_rig.core.timeline import CodeMark, marks_from_code, timeline_from_code  # noqa: E402

NON_DRIVING = [50, 70, 71, 72, 73, 74, 40, 80, 81, 82, 84, 85, 91, 92, 97, 98]


def test_a_notes_beat_keeps_its_speech_code_and_writes_it_back(vocabulary):
    text = "fps 30\n1.0  6+12+50  apex 1\n3.0  74  apex 1\n"
    timeline = parse_au_notes(text, vocabulary)
    assert [e.channel.name for e in timeline.events] == ["AU06", "AU12"]
    assert timeline.marks == (CodeMark(50, 1.0, 2.8), CodeMark(74, 3.0, 4.8))
    assert timeline.duration == 4.8
    written = format_au_notes(timeline, vocabulary)
    assert written.splitlines()[3:] == ["1  6+12+50  onset 0.3  apex 1  offset 0.5",
                                        "3  74       onset 0  apex 1.8  offset 0"]
    assert parse_au_notes(written, vocabulary) == timeline


def test_an_elan_facs_tier_keeps_speech_and_unscorable(vocabulary, tmp_path):
    # The reviewer's coder.eaf (6.5-7 s: 50) and coder_74.eaf (1-2 s: 74), reduced.
    path = _coded_eaf(tmp_path, {"FACS": [(5000, 6000, "1+2+5B+26"), (6500, 7000, "50"),
                                          (8000, 9000, "74")]})
    timeline = read_eaf(path, vocabulary)
    assert len(timeline.events) == 4
    assert timeline.marks == (CodeMark(50, 6.5, 7.0), CodeMark(74, 8.0, 9.0))
    for extension in (".json", ".notes", ".eaf"):
        copy = tmp_path / f"copy{extension}"
        write_timeline(timeline, copy, vocabulary)
        assert read_timeline(copy, vocabulary).marks == timeline.marks, extension


def test_the_elan_writer_puts_marks_on_a_tier_of_their_code(vocabulary, tmp_path):
    timeline = Timeline((AUEvent(Channel(12), 0.55, 0.0),), marks=(
        CodeMark(50, 0.0, 1.0), CodeMark(50, 0.5, 2.0), CodeMark(74, 3.0, 4.0)))
    text = eaf_to_string(timeline, vocabulary)
    for tier in ("AU50", "AU50 #2", "AU74"):
        assert f'TIER_ID="{tier}"' in text
    assert 'PARENT_REF="AU50' not in text  # no phases: a mark is present, not shaped
    path = tmp_path / "marks.eaf"
    write_timeline(timeline, path, vocabulary)
    assert read_timeline(path, vocabulary) == timeline


@pytest.mark.parametrize(("tiers", "message"), [
    ({"AU50": [(1000, 2000, "C")]}, r"tier 'AU50', annotation 1-2 s: value 'C': AU50 \(Speech\) "
                                    r"is a behaviour code, scored present: leave the annotation "
                                    r"empty"),
    ({"FACS": [(1000, 2000, "74+12")]}, r"tier 'FACS', annotation 1-2 s: 74\+12: unscorable "
                                        r"\(74\), yet AU12"),
    ({"FACS": [(1000, 2000, "50B")]}, r"tier 'FACS', annotation 1-2 s: '50B': AU50 \(Speech\) "
                                      r"is a behaviour code"),
])
def test_elan_marks_errors_name_file_tier_and_annotation(vocabulary, tmp_path, tiers, message):
    path = _coded_eaf(tmp_path, tiers)
    with pytest.raises(TimelineFormatError, match=f"coded.eaf: {message}"):
        read_eaf(path, vocabulary)


def test_json_marks_layout_and_beats(vocabulary):
    timeline = timeline_from_dict({
        "schema": "facs_rig.timeline/1",
        "beats": [{"at": 1.0, "code": "6+12+50", "onset": 0.5, "apex": 1.0, "offset": 0.5}],
        "marks": [{"code": 74, "start": 3.0, "end": 4.0}]}, vocabulary)
    assert timeline.marks == (CodeMark(50, 1.0, 3.0), CodeMark(74, 3.0, 4.0))
    text = timeline_to_json(timeline, vocabulary)
    assert text.endswith('  "marks": [\n    {"code": 50, "start": 1.0, "end": 3.0},\n'
                         '    {"code": 74, "start": 3.0, "end": 4.0}\n  ]\n}\n')
    assert timeline_from_json(text, vocabulary) == timeline
    assert '"marks"' not in timeline_to_json(replace(timeline, marks=()), vocabulary)


@pytest.mark.parametrize(("mark", "message"), [
    ({"code": 12, "start": 0, "end": 1}, r"marks\[0\].code: AU12 \(Lip Corner Puller\) moves the "
                                         r"face: it is an event \(events or beats\), not a mark"),
    ({"code": 99, "start": 0, "end": 1}, r"marks\[0\].code: unknown action unit 99"),
    ({"code": "50", "start": 0, "end": 1}, r"marks\[0\].code: expected a FACS number such as 50"),
    ({"code": 50, "start": 2, "end": 1}, r"marks\[0\]: code 50 mark: ends at 1 s, before it "
                                         r"starts at 2 s"),
    ({"code": 50, "start": 0}, r"marks\[0\]: missing 'end'"),
    ({"code": 50, "start": 0, "end": 1, "letter": "C"}, r"marks\[0\]: unknown key 'letter'"),
])
def test_json_marks_errors_name_the_path(vocabulary, mark, message):
    with pytest.raises(TimelineFormatError, match=f"^t.json: {message}"):
        timeline_from_dict({"schema": "facs_rig.timeline/1", "marks": [mark]}, vocabulary,
                           source="t.json")


def test_marks_play_nothing(vocabulary):
    held = timeline_from_code("50", vocabulary, hold=1.0)
    assert held.events == () and held.marks == (CodeMark(50, 0.0, 1.8),)
    curves = sample(held)
    assert curves.channels == () and held.duration == 1.8
    assert marks_from_code("6+12+50+70", vocabulary, at=1, end=2) == (
        CodeMark(50, 1.0, 2.0), CodeMark(70, 1.0, 2.0))


@st.composite
def marks(draw, grid: float | None = None):
    """A mark of a code that drives nothing; on a grid of ``grid`` seconds when given."""
    code = draw(st.sampled_from(NON_DRIVING))
    if grid:
        start = draw(st.integers(0, 10**6)) * grid
        return CodeMark(code, start, start + draw(st.integers(1, 5000)) * grid)
    start = draw(st.floats(0, 100))
    return CodeMark(code, start, start + draw(st.floats(0, 10)))


@settings(max_examples=100, deadline=None)
@given(timeline=timelines(), extra=st.lists(marks(), max_size=4))
def test_json_round_trip_keeps_marks_exactly(vocabulary, timeline, extra):
    timeline = timeline.with_marks(extra)
    # A mark beside an event FACS does not score with it (70 over a brow raise) is refused.
    assume(overlap_problem(timeline.events, vocabulary, fps=timeline.fps,
                           marks=timeline.marks) is None)
    assert timeline_from_json(timeline_to_json(timeline, vocabulary), vocabulary) == timeline


@settings(max_examples=100, deadline=None)
@given(timeline=timelines(), extra=st.lists(marks(grid=0.001) | marks(), max_size=4),
       timecode=st.booleans())
def test_notes_round_trip_keeps_marks(vocabulary, timeline, extra, timecode):
    """Marks read back to the nanosecond (a line of their own writes the span as its apex),
    and the text written again is the same."""
    timeline = timeline.with_marks(extra)
    # A mark beside an event FACS does not score with it (70 over a brow raise) is refused.
    assume(overlap_problem(timeline.events, vocabulary, fps=timeline.fps,
                           marks=timeline.marks) is None)
    text = format_au_notes(timeline, vocabulary, timecode=timecode)
    back = parse_au_notes(text, vocabulary)

    def order(mark: CodeMark) -> tuple:  # on the written precision
        return (round(mark.start, 9), mark.code, round(mark.end, 9))

    assert [m.code for m in sorted(back.marks, key=order)] == [
        m.code for m in sorted(timeline.marks, key=order)]
    for theirs, ours in zip(sorted(back.marks, key=order), sorted(timeline.marks, key=order)):
        assert theirs.start == pytest.approx(ours.start, rel=1e-15, abs=5e-10)
        assert theirs.end == pytest.approx(ours.end, rel=1e-15, abs=2e-9)
    assert format_au_notes(back, vocabulary, timecode=timecode) == text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(marks(grid=0.001), min_size=1, max_size=5))
def test_elan_round_trip_keeps_marks_on_milliseconds(vocabulary, extra, tmp_path):
    timeline = Timeline(marks=tuple(extra), fps=25.0)
    path = tmp_path / "marks.eaf"
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    assert back.marks == tuple(CodeMark(m.code, round(m.start * 1000) / 1000,
                                        round(m.end * 1000) / 1000) for m in timeline.marks)


def test_notes_writer_puts_facs_alternatives_on_lines_of_their_own(vocabulary):
    # Two events at the same times that no one code scores together (a timeline built in Python
    # can hold them): one line would read back as '51+52', refused at its column. On two lines
    # the reader refuses them too, as the overlap of two events (FACS 2002, Table 9-1).
    timeline = Timeline((AUEvent(Channel(51), 0.55, 1.0), AUEvent(Channel(52), 0.55, 1.0),
                         AUEvent(Channel(12), 0.55, 1.0)))
    text = format_au_notes(timeline, vocabulary)
    assert text.splitlines()[3:] == ["1  12+51  onset 0.3  apex 1  offset 0.5",
                                     "1  52     onset 0.3  apex 1  offset 0.5"]
    with pytest.raises(TimelineFormatError) as caught:
        parse_au_notes(text, vocabulary)
    assert str(caught.value) == (
        "AU notes: line 4 (51 at 1-2.8 s) and line 5 (52 at 1-2.8 s) overlap at 1-2.8 s: 51+52: "
        "the head cannot turn left and right at once (FACS 2002, Table 9-1)")


def test_notes_writer_refuses_an_unsided_wink(vocabulary):
    with pytest.raises(TimelineFormatError, match=r"^cannot write AU46 as AU notes: AU46 is a wink "
                                                  r"of one eye: write L46 or R46 \(both eyes: 45 "
                                                  r"or 43\)$"):
        format_au_notes(Timeline((AUEvent(Channel(46), 1.0, 0.0),)), vocabulary)
