"""A director's review of the AU notes workflow: timecode needs its rate, ``--at`` takes every
time form, the poster frame, the duration, an intensity that changes nothing, ``sheet`` of a
timeline file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig import load_vocabulary
from facs_rig.core.timecode import parse_timecode
from facs_rig.errors import TimelineFormatError
from facs_rig.io.au_notes import parse_au_notes

VOCABULARY = load_vocabulary()

# --- 1. timecode without an fps line -------------------------------------------------------

TIMECODES = st.builds("{:02d}:{:02d}:{:02d}:{:02d}".format, st.integers(0, 2), st.integers(0, 59),
                      st.integers(0, 59), st.integers(0, 23))


def test_timecode_without_fps_is_an_error_naming_line_and_column():
    with pytest.raises(TimelineFormatError) as caught:
        parse_au_notes("# notes\n00:00:01:12 surprise\n", VOCABULARY, source="x.notes")
    assert str(caught.value) == (
        "x.notes, line 2, column 1: time 00:00:01:12 is timecode, which counts frames at the "
        "file's frame rate: add an 'fps N' line (fps 24, fps 25, fps 29.97) before it")


@pytest.mark.parametrize("text, where", [
    ("start 01:00:00:00\n01:00:01:00 12\n", "line 1, column 7: start 01:00:00:00"),
    ("duration 00:00:04:00\n1 12\n", "line 1, column 10: duration 00:00:04:00"),
    ("1 12 apex_start 00:00:01:12 apex_end 2 end 3\n", "line 1, column 17: apex_start 00:00:01:12"),
    ("1 12\n2 6 end 00:00:04:00 apex_start 2.5 apex_end 3\n", "line 2, column 9: end 00:00:04:00"),
])
def test_every_timecode_field_needs_fps(text, where):
    with pytest.raises(TimelineFormatError, match=f"^x.notes, {where} is timecode, .*add an 'fps N' line"):
        parse_au_notes(text, VOCABULARY, source="x.notes")


def test_seconds_and_frames_without_fps_keep_the_default():
    timeline = parse_au_notes("36f 6\n1.5 12\n", VOCABULARY)
    assert timeline.fps == 30
    assert sorted(event.start for event in timeline.events) == [1.2, 1.5]


def test_a_bad_timecode_says_its_own_fault_first():
    # Frame 26 is wrong at any rate below 27; without fps the rate is unknown, so the fps is asked.
    with pytest.raises(TimelineFormatError, match="minutes 61 must be below 60"):
        parse_au_notes("00:61:00:00 12\n", VOCABULARY)
    with pytest.raises(TimelineFormatError, match="add an 'fps N' line"):
        parse_au_notes("00:00:01:26 12\n", VOCABULARY)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(timecode=TIMECODES, fps=st.sampled_from([24, 25, 30, 29.97, 50]),
       place=st.sampled_from(["beat", "start", "duration", "apex_start"]), seconds=st.floats(0, 5))
def test_timecode_reads_at_the_given_fps_and_only_with_it(timecode, fps, place, seconds):
    """A timecode anywhere in a file reads at the file's fps line; the same file without the
    line is refused at that timecode, whatever the other beats."""
    beat = f"{seconds!r} 12\n"
    if place == "beat":
        body, line = f"{beat}{timecode} 6\n", 2
    elif place == "start":
        body, line = f"start {timecode}\n{timecode} 12\n", 1
    elif place == "duration":
        body, line = f"duration {timecode}\n{beat}", 1
    else:
        body, line = f"0 12 apex_start {timecode} apex_end {timecode} end {timecode}\n", 1
    with pytest.raises(TimelineFormatError, match=f"line {line}, column \\d+: .*{timecode} is "
                                                  f"timecode, .*add an 'fps N' line"):
        parse_au_notes(body, VOCABULARY)
    if place == "duration" and parse_timecode(timecode, fps) < seconds + 1.8:
        return  # a duration shorter than the beat is another error
    if place == "beat" and parse_timecode(timecode, fps) < seconds:
        return  # backwards
    timeline = parse_au_notes(f"fps {fps}\n{body}", VOCABULARY)
    value = parse_timecode(timecode, fps)
    if place == "beat":
        assert max(event.start for event in timeline.events) == value
    elif place == "start":
        assert [event.start for event in timeline.events] == [0.0]
    elif place == "duration":
        assert timeline.duration == value
    else:
        assert timeline.events[0].onset == round(value, 12)


def test_studio_insert_into_notes_without_fps_writes_the_rate(tmp_path, monkeypatch):
    """'Insert at playhead' writes timecode: into notes without an fps line it also writes the
    rate they were read at, so the notes still read (and read the same)."""
    from facs_rig.studio import open_session

    monkeypatch.chdir(tmp_path)
    (tmp_path / "take.notes").write_text("# take\n0  6\n2  12\n")
    session = open_session("take.notes")
    session.insert_beat("R14A", 1.0)
    assert session.text == "# take\nfps 30\n0  6\n00:00:01:00  R14A\n2  12\n"
    assert session.status.error is None
