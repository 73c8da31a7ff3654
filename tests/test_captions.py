"""Burnt-in captions on preview clips (a director's review: frames of a GIF or MP4 carried no
timecode or note, so an animator could not match a frame to the note it plays)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facs_rig import load_vocabulary
from facs_rig.cli import main
from facs_rig.io.au_notes import notes_origin, parse_au_notes
from facs_rig.render.captions import band_lines, burn_in, caption_lines, frame_captions
from facs_rig.render.font import GLYPH_HEIGHT, text_bitmap, text_width

SCENE = """fps 24
start 01:00:00:00
01:00:01:00 surprise
01:00:03:00 L12C+R12C+R14B offset 0.5
01:00:04:12 45
"""


def scene():
    return parse_au_notes(SCENE, load_vocabulary())


def test_each_frame_gets_its_timecode_and_the_code_under_way():
    timeline = scene()
    origin = notes_origin(timeline)
    assert origin == 3600.0
    times = np.array([0.0, 1.25, 3.0, 3.5, 4.5, 4.6, 7.0])
    assert frame_captions(timeline, times, load_vocabulary(), origin=origin) == [
        "01:00:00:00  0",
        "01:00:01:06  surprise (1+2+5B+25+26)",  # ramps count: 1.25 s is inside its onset
        "01:00:03:00  12C+R14B",  # surprise ended at 2.8 s; L12C and R12C are one 12C
        "01:00:03:12  12C+R14B",
        "01:00:04:12  12C+R14B+45",
        "01:00:04:14  12C+R14B+45",
        "01:00:07:00  0",
    ]
    assert frame_captions(timeline, np.zeros(0), load_vocabulary()) == []


def test_the_band_darkens_the_foot_and_leaves_the_rest():
    image = np.full((64, 300, 3), 200, np.uint8)
    framed = burn_in(image, "01:00:03:00  12C+R14B")
    band = GLYPH_HEIGHT + 4  # scale 1 at 300 px: glyphs 7 px, 2 px above and below
    assert np.array_equal(framed[:-band], image[:-band])
    foot = framed[-band:]
    assert set(np.unique(foot)) == {50, 235}  # 200 // 4, and the text's colour
    assert np.array_equal(image, np.full((64, 300, 3), 200, np.uint8))  # a copy, not in place
    # Too long for the width: cut with "..", never drawn past the edge.
    narrow = burn_in(np.full((64, 40, 3), 200, np.uint8), "01:00:03:00  12C+R14B")
    assert (narrow[-band:, -1] != 235).all()


def test_preview_burn_in_captions_every_frame_of_the_clip(tmp_path, capsys):
    notes = tmp_path / "scene.notes"
    notes.write_text(SCENE, encoding="utf-8")
    plain, burnt = tmp_path / "plain.gif", tmp_path / "burnt.gif"
    assert main(["preview", str(notes), "-o", str(plain), "--size", "128", "--fps", "4"]) == 0
    assert main(["preview", str(notes), "-o", str(burnt), "--size", "128", "--fps", "4",
                 "--burn-in"]) == 0
    # Two lines at 128 pixels: "01:00:01:06  surprise (1+2+5B+25+26)" breaks after the timecode.
    band = 2 * GLYPH_HEIGHT + 6

    def feet(path):
        with Image.open(path) as clip:
            for frame in range(clip.n_frames):
                clip.seek(frame)
                yield np.asarray(clip.convert("RGB"))[-band:]

    # Text is near-white on all three channels (235); the head and the background never are.
    assert not any((foot.min(axis=2) >= 200).any() for foot in feet(plain))
    burnt_feet = list(feet(burnt))
    assert all((foot.min(axis=2) >= 200).any() for foot in burnt_feet)
    # A GIF merges identical frames: every frame of the burnt clip differs in its caption, so
    # none is merged (4.8 s at 4 fps, the blink at 4.5 s lasting 0.3 s: 20 frames, both ends
    # included).
    assert len(burnt_feet) == 20


def test_burn_in_is_refused_on_a_png(tmp_path, capsys):
    assert main(["preview", "surprise", "-o", str(tmp_path / "x.png"), "--burn-in"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "facs-rig: error: --burn-in captions the frames of a GIF or MP4 clip, not a PNG "
        "(one pose) (see 'facs-rig preview --help')")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("code", ["R12C+L12B", "L12C+R12C"])
def test_sides_join_only_at_one_letter(code):
    timeline = parse_au_notes(f"0 {code}\n", load_vocabulary())
    [caption] = frame_captions(timeline, np.array([0.5]), load_vocabulary())
    assert caption.split("  ")[1] == {"R12C+L12B": "L12B+R12C", "L12C+R12C": "12C"}[code]


# --- the director's words in the burn-in (director2's review, finding 5) -------------------

WORDED = """fps 24
start 01:00:00:00
01:00:01:00  surprise              # she opens the letter
01:00:02:12  contempt  apex 1      # the brother objects; she is not impressed
01:00:03:12  L46       onset 2f apex 2f offset 2f
01:00:06:00  6+12      offset 0.5   # a smile
"""


def test_captions_name_the_expression_while_the_face_plays_exactly_it_and_show_the_comment():
    vocabulary = load_vocabulary()
    timeline = parse_au_notes(WORDED, vocabulary)
    times = np.array([0.0, 1.0, 2.625, 3.0, 3.5, 3.6, 6.1, 9.0])
    assert frame_captions(timeline, times, vocabulary, origin=notes_origin(timeline)) == [
        "01:00:00:00  0",
        "01:00:01:00  surprise (1+2+5B+25+26)\nshe opens the letter",
        # surprise is falling as contempt rises: two beats play, so codes (and the later words)
        "01:00:02:15  1+2+5B+R12C+R14C+25+26\nthe brother objects; she is not impressed",
        "01:00:03:00  contempt (R12C+R14C)\nthe brother objects; she is not impressed",
        # a wink laid over the contempt: the code playing is no longer what 'contempt' means,
        # and the wink has no words, so the contempt's stay
        "01:00:03:12  R12C+R14C+L46\nthe brother objects; she is not impressed",
        "01:00:03:14  R12C+R14C+L46\nthe brother objects; she is not impressed",
        # typed as codes: the name is what the director typed, never looked up from the AUs
        "01:00:06:02  6+12\na smile",
        "01:00:09:00  0",
    ]


def test_a_beat_no_longer_what_its_name_means_is_captioned_by_its_code():
    vocabulary = load_vocabulary()
    timeline = parse_au_notes("0 surprise  # she opens the letter\n", vocabulary)
    # An animator took AU1 out: the notes writer would write the code, and so do captions.
    edited = timeline.with_events(timeline.events[1:])
    assert frame_captions(edited, np.array([0.5]), vocabulary) == [
        "00:00:00:15  2+5B+25+26\nshe opens the letter"]
    assert frame_captions(timeline, np.array([0.5]), vocabulary) == [
        "00:00:00:15  surprise (1+2+5B+25+26)\nshe opens the letter"]


@pytest.mark.parametrize("width, lines, heads", [
    (128, ["01:00:03:08", "contempt (R12C+R14C)", "the brother object.."], 2),
    (256, ["01:00:03:08  contempt (R12C+R14C)", "the brother objects; she is not impressed"], 1),
    (512, ["01:00:03:08  contempt (R12C+R14C)", "the brother objects; she is not impressed"], 1),
])
def test_caption_lines_break_the_head_and_cut_only_the_comment(width, lines, heads):
    caption = "01:00:03:08  contempt (R12C+R14C)\nthe brother objects; she is not impressed"
    assert caption_lines(caption, width) == (lines, heads)
    scale = max(1, width // 256)
    assert all(text_width(line, scale) <= width - 4 * scale for line in lines)


def test_caption_lines_keep_a_long_code_whole_on_a_small_frame():
    # Fear's code is 26 characters; 128 pixels hold 20 at scale 1.
    caption = "00:00:04:00  1D+2D+4D+5D+7D+20D+25D+26D"
    assert caption_lines(caption, 128) == (["00:00:04:00 1D+2D+", "4D+5D+7D+20D+25D+26D"], 2)
    named = "00:00:04:00  fear (1D+2D+4D+5D+7D+20D+25D+26D)\nshe reads the condition"
    assert caption_lines(named, 128) == (
        ["00:00:04:00 fear", "(1D+2D+4D+5D+7D+20D+", "25D+26D)", "she reads the cond.."], 3)
    assert caption_lines(caption, 256) == ([caption], 1)


def test_the_band_draws_each_line_where_it_belongs_and_nothing_past_the_frame():
    image = np.full((128, 128, 3), 200, np.uint8)
    caption = "01:00:03:08  contempt (R12C+R14C)\nthe brother objects; she is not impressed"
    framed = burn_in(image, caption)
    band = 3 * GLYPH_HEIGHT + 8  # three lines at scale 1: 2 px above, between and below
    assert np.array_equal(framed[:-band], image[:-band])
    head = (framed == 235).all(axis=2)  # the timecode and code, near-white
    words = (framed == (170, 200, 255)).all(axis=2)  # the comment, pale blue
    top = 128 - band + 2
    for number, rows in enumerate(head.reshape(-1, 128)[top:top + 2 * (GLYPH_HEIGHT + 2)]
                                  .reshape(2, GLYPH_HEIGHT + 2, 128)):
        assert rows[:GLYPH_HEIGHT].any() and not rows[GLYPH_HEIGHT:].any(), number
    comment_rows = slice(top + 2 * (GLYPH_HEIGHT + 2), top + 3 * (GLYPH_HEIGHT + 2) - 2)
    assert words[comment_rows].any() and not head[comment_rows].any()
    assert not (head | words)[:top].any() and not (head | words)[-2:].any()
    # The 2-pixel margins on either side stay clear: nothing is cut at the frame's edge.
    assert not (head | words)[:, :2].any() and not (head | words)[:, -2:].any()
    # The width each line takes from x = 2: the timecode, then "contempt (R12C+R14C)" (20
    # glyphs, 119 of the 124 pixels between the margins).
    for number, text in enumerate(["01:00:03:08", "contempt (R12C+R14C)"]):
        rows = slice(top + number * (GLYPH_HEIGHT + 2), top + number * (GLYPH_HEIGHT + 2)
                     + GLYPH_HEIGHT)
        drawn = np.zeros_like(head[rows])
        drawn[:, 2:2 + text_width(text)] = text_bitmap(text)
        assert np.array_equal(head[rows], drawn), text


def test_a_clip_keeps_one_band_height_and_drops_words_that_would_cover_the_face():
    captions = ["01:00:00:00  0", "01:00:03:08  contempt (R12C+R14C)\nthe brother objects"]
    assert band_lines(captions, 128, 128) == 3
    assert band_lines(captions, 512, 512) == 2
    # 64 pixels high: three lines would be 29 of them, more than a third: the words go.
    assert band_lines(captions, 128, 64) == 2
    framed = burn_in(np.full((64, 128, 3), 200, np.uint8), captions[1], lines=2)
    assert not (framed == (170, 200, 255)).all(axis=2).any()
    # A caption of one line in a band of three: the band is three lines high all the same.
    framed = burn_in(np.full((128, 128, 3), 200, np.uint8), captions[0], lines=3)
    assert (framed[-(3 * GLYPH_HEIGHT + 8):] <= 50).all(axis=2).sum() > 0
    assert np.array_equal(framed[:-(3 * GLYPH_HEIGHT + 8)], np.full((128 - 29, 128, 3), 200))


def test_preview_burn_in_shows_the_name_and_the_words(tmp_path):
    notes = tmp_path / "scene.notes"
    notes.write_text(WORDED, encoding="utf-8")
    clip = tmp_path / "clip.gif"
    assert main(["preview", str(notes), "-o", str(clip), "--size", "128", "--fps", "2",
                 "--burn-in"]) == 0
    band = 3 * GLYPH_HEIGHT + 8
    with Image.open(clip) as frames:
        frames.seek(2)  # 1 s: surprise, with its comment
        foot = np.asarray(frames.convert("RGB"))[-band:]
    # The comment's line is drawn (pale blue: blue well above red), the head's two lines white.
    comment = foot[2 + 2 * (GLYPH_HEIGHT + 2):][:GLYPH_HEIGHT].astype(int)
    assert ((comment[..., 2] - comment[..., 0]) > 60).any()
    head = foot[2:2 + 2 * (GLYPH_HEIGHT + 2)]
    assert (head.min(axis=2) >= 200).any()


def test_a_neutral_lines_words_show_while_the_face_relaxes():
    vocabulary = load_vocabulary()
    neutral: list = []
    timeline = parse_au_notes("fps 24\n0 sadness apex next  # slow, let it land\n"
                              "5 neutral onset 1  # composes herself\n", vocabulary,
                              neutral_out=neutral)
    times = np.array([4.0, 5.0, 5.5, 6.0])
    assert frame_captions(timeline, times, vocabulary, neutral=neutral) == [
        "00:00:04:00  sadness (1+4+15)\nslow, let it land",
        # The sadness falls over the neutral's onset: still the sadness's AUs, the neutral's words
        "00:00:05:00  sadness (1+4+15)\ncomposes herself",
        "00:00:05:12  sadness (1+4+15)\ncomposes herself",
        "00:00:06:00  0",  # at rest
    ]
    # Without the neutral lines (the timeline alone keeps none), the sadness's words go on.
    assert frame_captions(timeline, times[1:2], vocabulary) == [
        "00:00:05:00  sadness (1+4+15)\nslow, let it land"]
