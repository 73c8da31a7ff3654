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
        return  # a duration shorter than the beat cuts it off (a warning, tested below)
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


# --- 2-4. preview --at, the poster frame, the duration ------------------------------------

SCENE = "fps 24\nstart 01:00:00:00\n01:00:01:00 surprise apex 2\n01:00:01:12 45 onset 0.1 apex 1 offset 0.1\n"


def preview(capsys, tmp_path, *arguments):
    from facs_rig.cli import main

    status = main(["preview", *arguments])
    captured = capsys.readouterr()
    return status, captured.out.replace(str(tmp_path) + "/", ""), captured.err


@pytest.fixture
def scene(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scene.notes").write_text(SCENE)
    return tmp_path


@pytest.mark.parametrize("at, shown", [
    ("1.5", "1.5 s, 01:00:01:12"), ("1.5s", "1.5 s, 01:00:01:12"), ("36f", "1.5 s, 01:00:01:12"),
    ("01:00:01:12", "1.5 s, 01:00:01:12"), ("3.8", "3.79167 s, 01:00:03:19"),
])
def test_at_takes_every_time_form_of_the_notes(capsys, scene, at, shown):
    status, out, err = preview(capsys, scene, "scene.notes", "-o", "s.png", "--size", "32", "--at", at)
    assert (status, err) == (0, "")
    assert out == f"wrote s.png (32x32, default head, rig facs, at {shown})\n"


@pytest.mark.parametrize("at, message", [
    ("soon", "--at 'soon' is not a time: seconds (1.5 or 1.5s), frames (36f) or timecode HH:MM:SS:FF"),
    ("-1", "negative --at '-1'"),
    ("01:00:01:30", "--at 01:00:01:30: timecode '01:00:01:30': frame 30 must be below the frame "
                    "rate (24 frames per second, so 0-23)"),
    ("00:00:01:00", "--at 00:00:01:00 (1 s) is before the start (3600 s): times are timecode "
                    "from the 'start' line on"),
    # The timeline lasts 3.8 s (timeline show); its last frame at 24 fps is 3.79167 s.
    ("3.9", "--at 3.9 (3.9 s) is outside the timeline (0-3.8 s)"),
])
def test_a_bad_at_is_one_usage_line(capsys, scene, at, message):
    status, out, err = preview(capsys, scene, "scene.notes", "-o", "s.png", "--size", "32", "--at", at)
    assert (status, out) == (2, "")
    assert err == f"facs-rig: error: {message} (see 'facs-rig preview --help')\n"
    assert not (scene / "s.png").exists()


def test_the_poster_frame_avoids_a_blink_and_is_named(capsys, scene):
    """Surprise holds from 1.3 s to 3.3 s; a blink closes the eyes from 1.5 s to 2.7 s. The most
    active frame was in the blink (its weight adds to the apex's): now the first apex frame."""
    status, out, err = preview(capsys, scene, "scene.notes", "-o", "s.png", "--size", "32")
    assert (status, err) == (0, "")
    assert out == "wrote s.png (32x32, default head, rig facs, at 1.33333 s, 01:00:01:08)\n"


def test_the_poster_frame_of_blinks_alone_is_a_blink(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.notes").write_text("1 45 onset 0.1 apex 0.2 offset 0.1\n")  # no fps: no timecode
    status, out, _ = preview(capsys, tmp_path, "b.notes", "-o", "s.png", "--size", "32")
    assert out == "wrote s.png (32x32, default head, rig facs, at 1.1 s)\n"


def test_at_within_the_duration_between_the_last_frame_and_the_end(capsys, tmp_path, monkeypatch):
    """16.8 s at 24 fps: the last frame is 16.7917 s; 'timeline show' says 16.8 s, and --at
    16.8 shows that last frame."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "long.notes").write_text("fps 24\n1 12 apex 15\n")
    status, out, err = preview(capsys, tmp_path, "long.notes", "-o", "s.png", "--size", "32", "--at", "16.8")
    assert (status, err) == (0, "")
    assert out == "wrote s.png (32x32, default head, rig facs, at 16.7917 s, 00:00:16:19)\n"
    status, out, err = preview(capsys, tmp_path, "long.notes", "-o", "s.png", "--size", "32", "--at", "17")
    assert err == ("facs-rig: error: --at 17 (17 s) is outside the timeline (0-16.8 s) "
                   "(see 'facs-rig preview --help')\n")


NO_FPS = "# a take typed without a rate\n1 surprise apex 8\n"


def test_at_timecode_on_notes_without_fps_is_refused(capsys, tmp_path, monkeypatch):
    """The notes reader refuses timecode in a file without an fps line; --at took it at the
    default 30 fps (00:00:08:12 was 8.4 s where a 24 fps edit meant 8.5 s), silently."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.notes").write_text(NO_FPS)
    status, out, err = preview(capsys, tmp_path, "n.notes", "-o", "s.png", "--size", "32",
                               "--at", "00:00:08:12")
    assert (status, out) == (2, "")
    assert err == (
        "facs-rig: error: --at 00:00:08:12 is timecode, which counts frames at the timeline's "
        "frame rate, but its notes have no 'fps' line (they are read at the default 30 fps): add "
        "an 'fps N' line to the notes (fps 24, fps 25, fps 29.97), or give --at in seconds (12s) "
        "or frames (288f, at 30 fps) (see 'facs-rig preview --help')\n")
    assert not (tmp_path / "s.png").exists()
    # A timecode's own fault is said first, as in the notes.
    status, _, err = preview(capsys, tmp_path, "n.notes", "-o", "s.png", "--size", "32",
                             "--at", "00:61:00:00")
    assert status == 2 and "minutes 61 must be below 60" in err


@pytest.mark.parametrize("at, shown", [("8.5s", "8.5 s"), ("8.5", "8.5 s"), ("255f", "8.5 s")])
def test_at_seconds_and_frames_on_notes_without_fps_still_work(capsys, tmp_path, monkeypatch,
                                                                at, shown):
    """Seconds need no rate; frames are the timeline's own, at the 30 fps it is read and
    played at (as '36f' in the notes themselves)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.notes").write_text(NO_FPS)
    status, out, err = preview(capsys, tmp_path, "n.notes", "-o", "s.png", "--size", "32",
                               "--at", at)
    assert (status, err) == (0, "")
    assert out == f"wrote s.png (32x32, default head, rig facs, at {shown})\n"


def test_the_loaded_timeline_says_whether_its_fps_was_stated():
    from facs_rig.core.timeline import FPS_STATED_KEY
    from facs_rig.io.au_notes import format_au_notes, timeline_time

    unstated = parse_au_notes(NO_FPS, VOCABULARY)
    assert dict(unstated.metadata) == {FPS_STATED_KEY: False}
    stated = parse_au_notes("fps 30\n" + NO_FPS, VOCABULARY)
    assert dict(stated.metadata) == {}
    assert timeline_time("00:00:08:15", stated, "--at") == 8.5
    with pytest.raises(TimelineFormatError, match="^--at 00:00:08:15 is timecode, .* no 'fps' line"):
        timeline_time("00:00:08:15", unstated, "--at")
    # Written back without an fps line (and read back the same), unless written as timecode.
    text = format_au_notes(unstated, VOCABULARY)
    assert text == ("# facs-rig AU notes: time  code  phases (see docs/timeline-formats.md)\n"
                    "duration 9.8\n# a take typed without a rate\n"
                    "1  surprise  onset 0.3  apex 8  offset 0.5\n")
    assert parse_au_notes(text, VOCABULARY) == unstated
    assert "\nfps 30\n" in format_au_notes(unstated, VOCABULARY, timecode=True)


# --- 5. a duration shorter than the notes ---------------------------------------------------

def test_a_duration_that_cuts_a_beat_off_is_said(capsys, tmp_path, monkeypatch):
    """Kept (the timeline model cuts events off at an explicit duration, and a trimmed timeline
    from another format is written as notes so), but no longer silently: the CLI says which
    line's duration cuts which beat off, and where that beat ends."""
    from facs_rig.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.notes").write_text("# take\nduration 2\n0.1 12 apex 0.5\n1.0 surprise apex 3\n3 6\n")
    assert main(["timeline", "show", "d.notes"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == ("duration  2 s at 30 fps (61 frames), the default "
                                            "rate: no fps line")
    assert captured.err == (
        "facs-rig: note: d.notes, line 2: duration 2 (2 s) cuts off the beat on line 4 "
        "(surprise), which runs to 4.8 s (and 1 other beat): it plays only to 2 s (a longer "
        "duration, or none, plays it whole)\n")


def test_the_reader_warns_only_when_something_is_cut_off():
    import warnings

    from facs_rig.errors import FacsRigWarning

    with pytest.warns(FacsRigWarning, match=r"^AU notes, line 2: duration 60f \(2 s\) cuts off "
                                            r"the beat on line 3 \(12\), which runs to 2.1 s:"):
        parse_au_notes("fps 30\nduration 60f\n0.3 12\n", VOCABULARY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_au_notes("duration 1.8\n0 12\n", VOCABULARY).duration == 1.8  # ends on it
        assert parse_au_notes("duration 5\n0 12\n", VOCABULARY).duration == 5


# --- 6. an intensity that changes nothing ---------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("1 polite_smile intensity 0.9", "column 26: intensity 0.9 changes no AU of polite_smile (12C)"
                                     ": {rule}; write 12D instead"),
    ("4 contempt intensity 0.9", "column 22: intensity 0.9 changes no AU of contempt (R12C+R14C)"
                                 ": {rule}; write R12D+R14D instead"),
    ("4 contempt intensity 0.95", "column 22: intensity 0.95 changes no AU of contempt "
                                  "(R12C+R14C): {rule}; write R12E+R14E intensity 0.95 instead"),
    ("1 45 intensity 0.3", "column 16: intensity 0.3 changes no AU of 45: {rule}; write 45C "
                           "intensity 0.3 instead"),
])
def test_an_intensity_that_changes_no_au_is_refused(line, message):
    rule = ("it sets the AUs written without a letter (but a blink or wink, which stays closed) "
            "and the lettered ones whose letter's band holds it")
    with pytest.raises(TimelineFormatError) as caught:
        parse_au_notes(f"fps 24\n{line}\n", VOCABULARY, source="i.notes")
    assert str(caught.value) == "i.notes, line 2, " + message.format(rule=rule)


@pytest.mark.parametrize("line, values", [
    # Surprise is 1+2+5B+25+26 (EMFACS's prototype, lips parted): 0.9 sets 1, 2, 25 and 26,
    # and 5 stays B, as a strong 5 reads as fear.
    ("1 surprise intensity 0.9", {"AU01": 0.9, "AU02": 0.9, "AU05": 0.2, "AU25": 0.9,
                                  "AU26": 0.9}),
    ("1 12D intensity 0.7", {"AU12": 0.7}),  # in D's band
    ("1 6+12D intensity 0.3", {"AU06": 0.3, "AU12": 0.9}),
    ("1 45+12 intensity 0.2", {"AU12": 0.2, "AU45": 1.0}),
])
def test_an_intensity_that_changes_some_au_is_kept(line, values):
    timeline = parse_au_notes(line + "\n", VOCABULARY)
    assert {event.channel.name: round(event.intensity, 6) for event in timeline.events} == values


@pytest.mark.parametrize("arguments, message", [
    (["preview", "contempt", "--intensity", "0.9"], "--intensity 0.9 changes no AU of contempt "
     "(R12C+R14C): {rule}; write R12D+R14D instead (see 'facs-rig preview --help')"),
    (["preview", "polite_smile", "--intensity", "0.95"], "--intensity 0.95 changes no AU of "
     "polite_smile (12C): {rule}; write 12 --intensity 0.95 instead (see 'facs-rig preview --help')"),
    (["preview", "L45", "--intensity", "0.3"], "--intensity 0.3 changes no AU of L45: {rule}; "
     "write L45C (the letter of its band) instead (see 'facs-rig preview --help')"),
    (["sheet", "contempt,polite_smile", "--intensity", "0.9"], "--intensity 0.9 changes no AU of "
     "any of the 2 codes, the first contempt (R12C+R14C): {rule}; write R12D+R14D instead "
     "(see 'facs-rig sheet --help')"),
    (["preview", "scene.notes", "--intensity", "0.9"], "--intensity sets the AUs of a code "
     "written without a letter; a timeline file's beats set their own (the intensity option of "
     "a notes line): leave --intensity out, or give a code (see 'facs-rig preview --help')"),
])
def test_a_command_intensity_that_changes_nothing_is_refused(capsys, scene, arguments, message):
    from facs_rig.cli import main

    rule = "it sets the AUs written without a letter (but a blink or wink, which stays closed)"
    assert main([*arguments, "-o", "out.png", "--size", "32"]) == 2
    assert capsys.readouterr().err == "facs-rig: error: " + message.format(rule=rule) + "\n"
    assert not (scene / "out.png").exists()


def test_a_command_intensity_that_changes_an_au_is_kept(capsys, scene):
    from facs_rig.cli import main

    assert main(["sheet", "contempt,happiness", "--intensity", "0.9", "-o", "out.png", "--size", "32"]) == 0
    assert main(["preview", "surprise", "--intensity", "0.9", "-o", "out.png", "--size", "32"]) == 0


# --- 7. sheet of a timeline file ------------------------------------------------------------

def test_sheet_of_a_timeline_lays_out_one_face_per_beat_at_its_apex(capsys, scene):
    """It read the file name as a code (`unrecognised term 'scene.notes' at column 1`)."""
    import numpy as np
    from PIL import Image

    from facs_rig.cli import main

    assert main(["sheet", "scene.notes", "-o", "sheet.png", "--size", "32"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    # 9 lines of labels under 32-pixel faces: '1 s, 01:00:01:00' and '1+2+5B+25+26' wrap
    # (they were cut with '..' on 2 lines, 88x74), and so does the name, 'surprise'.
    assert captured.out.replace(str(scene) + "/", "") == (
        "wrote sheet.png (2 beats of scene.notes, 2 faces, 88x151)\n")
    sheet = np.asarray(Image.open(scene / "sheet.png"))
    # The surprise beat (1 s, onset 0.3) at its apex, 1.3 s, and the blink at its apex, 1.6 s:
    # each tile is the preview of that moment.
    for left, at in ((8, "1.3"), (48, "1.6")):
        assert main(["preview", "scene.notes", "--at", at, "-o", "p.png", "--size", "32"]) == 0
        tile = np.asarray(Image.open(scene / "p.png"))
        assert np.array_equal(sheet[8:40, left:left + 32], tile)
    assert not np.array_equal(sheet[8:40, 8:40], sheet[8:40, 48:80])


def test_sheet_of_a_timeline_labels_and_refusals(capsys, scene):
    from facs_rig.io.timeline_files import read_timeline
    from facs_rig.render.preview import timeline_beats

    beats = timeline_beats(read_timeline(scene / "scene.notes", VOCABULARY), VOCABULARY)
    assert [(beat.start, beat.apex_start, beat.code, beat.name) for beat in beats] == [
        (1.0, 1.3, "1+2+5B+25+26", "surprise"), (1.5, 1.6, "45", None)]
    from facs_rig.cli import main

    assert main(["sheet", "scene.notes", "--intensity", "0.9", "-o", "s.png"]) == 2
    assert "--intensity sets the AUs of a code written without a letter" in capsys.readouterr().err
    (scene / "marks.notes").write_text("1 50\n")
    assert main(["sheet", "marks.notes", "-o", "s.png"]) == 2
    assert capsys.readouterr().err.endswith(
        "marks.notes has no beat that moves the face: nothing to lay out (see 'facs-rig sheet --help')\n")
