"""Burnt-in captions on preview clips (a director's review: frames of a GIF or MP4 carried no
timecode or note, so an animator could not match a frame to the note it plays)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facs_rig import load_vocabulary
from facs_rig.cli import main
from facs_rig.io.au_notes import notes_origin, parse_au_notes
from facs_rig.render.captions import burn_in, frame_captions
from facs_rig.render.font import GLYPH_HEIGHT

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
        "01:00:01:06  1+2+5B+25+26",  # ramps count: 1.25 s is inside surprise's onset
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
    band = GLYPH_HEIGHT + 4

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
