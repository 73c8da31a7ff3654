"""The director's words on a timeline sheet (director2's review, findings 5 and 6): each beat's
face labelled with the expression name typed (while the beat still means it), its code and its
comment; a ``neutral`` beat has its face and label too."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facs_rig import load_vocabulary
from facs_rig.cli import main
from facs_rig.core.timeline import face_rest
from facs_rig.io.au_notes import NeutralBeat, parse_au_notes
from facs_rig.render.preview import Beat, beat_labels, timeline_beats

VOCABULARY = load_vocabulary()

# The end of director2's scene.notes: a held contempt, sadness, and the face composed again.
SCENE = """title The Reading of the Will
fps 24
duration 00:00:12:00
00:00:01:00  4B+7B      onset 12f apex next     # suspicion: brows down a touch
00:00:03:00  contempt   onset 12f apex next     # the brother objects; she is not impressed
00:00:04:00  L46        onset 3f apex 4f offset 3f
00:00:06:00  sadness    onset 1.0 apex next     # slow, let it land
00:00:10:00  neutral    onset 1.0               # composes herself
"""


def read(text=SCENE):
    neutral: list[NeutralBeat] = []
    return parse_au_notes(text, VOCABULARY, neutral_out=neutral), neutral


def test_the_reader_hands_out_the_neutral_lines_it_does_not_keep():
    timeline, neutral = read()
    assert neutral == [NeutralBeat(8, face_rest(VOCABULARY, 10.0, 1.0), "neutral",
                                   "composes herself")]
    assert timeline == parse_au_notes(SCENE, VOCABULARY)  # the same timeline either way
    assert read("1 12\n2 0\n")[1] == [NeutralBeat(2, face_rest(VOCABULARY, 2.0))]


def test_each_beat_has_its_name_while_it_means_it_its_code_and_comment():
    timeline, neutral = read()
    beats = timeline_beats(timeline, VOCABULARY, neutral=neutral)
    assert beats == [
        Beat(1.0, 1.5, "4B+7B", None, "suspicion: brows down a touch"),
        Beat(3.0, 3.5, "R12C+R14C", "contempt", "the brother objects; she is not impressed"),
        Beat(4.0, 4.125, "L46"),
        Beat(6.0, 7.0, "1+4+15", "sadness", "slow, let it land"),
        # The sadness relaxes over the neutral's onset: its face is the face at rest, at 11 s.
        Beat(10.0, 11.0, "0", "neutral", "composes herself"),
    ]
    # Without the neutral lines (a JSON file keeps none), the beats of events alone.
    assert [beat.code for beat in timeline_beats(timeline, VOCABULARY)] == [
        "4B+7B", "R12C+R14C", "L46", "1+4+15"]


def test_a_beat_changed_from_what_its_name_means_is_labelled_by_code():
    timeline, _ = read()
    # An animator took the sadness's AU1 out: the notes writer writes codes, the sheet too.
    edited = timeline.with_events(e for e in timeline.events if e.channel.name != "AU01")
    beats = timeline_beats(edited, VOCABULARY)
    assert [(beat.code, beat.name) for beat in beats][-1] == ("4+15", None)
    assert beats[1].name == "contempt"


def test_labels_line_up_and_cut_the_comment_to_the_face():
    timeline, neutral = read()
    beats = timeline_beats(timeline, VOCABULARY, neutral=neutral)
    labels = beat_labels(beats, [f"{beat.start:g} s" for beat in beats], 128, 1)
    assert labels == [
        ("1 s", "", "4B+7B", "suspicion: brows do.."),
        ("3 s", "contempt", "R12C+R14C", "the brother objects.."),
        ("4 s", "", "L46", ""),
        ("6 s", "sadness", "1+4+15", "slow, let it land"),
        ("10 s", "neutral", "0", "composes herself"),
    ]
    # Nothing typed but codes: the label is the moment and the code, as it was.
    assert beat_labels([Beat(1.0, 1.3, "4B+7B")], ["1 s"], 128, 1) == [("1 s", "4B+7B")]


def test_sheet_of_notes_lays_out_the_neutral_beat_at_rest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scene.notes").write_text(SCENE)
    assert main(["sheet", "scene.notes", "-o", "sheet.png", "--size", "32", "--columns", "5"]) == 0
    out = capsys.readouterr().out
    # 5 faces of 32 px and 8 px padding; 9 lines of 7 + 4 px under each (the longest label,
    # the contempt's, wraps to fit 32 pixels: '3 s, 00:00:03:00' on 4 lines, 'contempt' and
    # 'R12C+R14C' on 2 each, the comment cut to 1): 10 beats in director2's scene said
    # "9 beats", the neutral one left out.
    assert out == "wrote sheet.png (5 beats of scene.notes, 5 faces, 208x151)\n"
    sheet = np.asarray(Image.open("sheet.png"))
    # The neutral beat's face is the timeline at 11 s, the face at rest: the default head's
    # neutral face (the neutral's fall over, no head turn held).
    assert main(["preview", "scene.notes", "--at", "11", "-o", "rest.png", "--size", "32"]) == 0
    assert main(["preview", "0", "-o", "zero.png", "--size", "32"]) == 0
    rest = np.asarray(Image.open("rest.png"))
    assert np.array_equal(sheet[8:40, 168:200], rest)
    assert np.array_equal(rest, np.asarray(Image.open("zero.png")))
    # ... and unlike the sadness's face before it.
    assert not np.array_equal(sheet[8:40, 128:160], rest)


@pytest.mark.parametrize("size", [128, 320])
def test_sheet_labels_are_drawn_on_their_lines(tmp_path, monkeypatch, capsys, size):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scene.notes").write_text(SCENE)
    assert main(["sheet", "scene.notes", "-o", "sheet.png", "--size", str(size),
                 "--columns", "5"]) == 0
    sheet = np.asarray(Image.open("sheet.png")).astype(int)
    scale = 2 if size >= 256 else 1
    line = 7 * scale + 2 * scale + 2
    top = 8 + size + 4  # padding, the face, half the padding
    text = (sheet != (24, 25, 28)).any(axis=2)  # anything but the background
    for column, expected in enumerate([(True, False, True, True), (True, True, True, True),
                                       (True, False, True, False), (True, True, True, True),
                                       (True, True, True, True)]):
        x = 8 + column * (size + 8)
        drawn = tuple(bool(text[top + n * line:top + n * line + 7 * scale, x:x + size].any())
                      for n in range(4))
        assert drawn == expected, (column, drawn)
