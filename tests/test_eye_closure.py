"""A blink or a wink closes the eye: AU45 and AU46 written without a letter play at E.

FACS 2002 scores them only present (its AU45 section: the eye "must close or nearly close for
a moment"); an unlettered AU it scores A-E plays at the scale's unscored letter C (0.55 on the
default scale), which left every `blink` and `wink_left` half-closed.
"""

from __future__ import annotations

import numpy as np
import pytest

from facs_rig.core.mixing import mix_frame
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_files import read_timeline, write_timeline


def arkit_frame(vocabulary, code: str) -> dict[str, float]:
    rig = load_rig("arkit")
    weights = mix_frame(vocabulary.channel_values(vocabulary.parse(code)), rig)
    return {name: round(float(w), 3) for name, w in zip(rig.targets, weights) if w > 0}


@pytest.mark.parametrize("code, expected", [
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),      # was 0.55 each
    ("45", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("wink_left", {"eyeBlinkLeft": 1.0}),                         # was 0.55
    ("L46", {"eyeBlinkLeft": 1.0}),
    ("wink_right", {"eyeBlinkRight": 1.0}),
    ("45B", {"eyeBlinkLeft": 0.2, "eyeBlinkRight": 0.2}),        # a letter written is kept
    ("R46C", {"eyeBlinkRight": 0.55}),
    ("43", {"eyeBlinkLeft": 0.55, "eyeBlinkRight": 0.55}),        # 43 is scored A-E: C
])
def test_blinks_and_winks_close_the_eye_on_arkit(vocabulary, code, expected):
    assert arkit_frame(vocabulary, code) == expected


@pytest.mark.parametrize("scale, full", [("facshuman", 1.0), ("hapfacs", 1.0), ("openface", 1.0)])
def test_an_unlettered_blink_takes_each_scales_E(vocabulary, scale, full):
    values = vocabulary.channel_values(vocabulary.parse("12+L45+R46"), scale)
    assert [round(v, 6) for v in values.values()] == [
        round(vocabulary.scale(scale).letter_to_value("C"), 6), full, full]
    assert vocabulary.unlettered_letter(45) == vocabulary.unlettered_letter(46) == "E"
    assert vocabulary.unlettered_letter(43) == vocabulary.unlettered_letter(12) == "C"


def test_a_blink_beat_plays_closed_and_writes_no_intensity(vocabulary, tmp_path):
    notes = tmp_path / "blink.notes"
    notes.write_text("fps 24\n1.0 blink onset 0.1 apex 0 offset 0.1\n1.5 L46\n")
    timeline = read_timeline(notes, vocabulary)
    assert sorted((e.channel.name, e.intensity) for e in timeline.events) == [
        ("AU45", 1.0), ("AU46_L", 1.0)]
    for suffix in (".notes", ".eaf", ".json"):
        copy = tmp_path / f"copy{suffix}"
        write_timeline(timeline, copy, vocabulary)
        assert read_timeline(copy, vocabulary).events == timeline.events
    written = (tmp_path / "copy.notes").read_text()
    # The name typed stays (it reads back as the same 45), and no intensity is written.
    assert "intensity" not in written and "1    blink  onset 0.1" in written


def test_an_eaf_annotation_with_no_value_on_a_blink_tier_closes_the_eye(vocabulary, tmp_path):
    write_timeline(read_timeline_from(vocabulary, tmp_path, "1.0 45\n2.0 43\n"),
                   tmp_path / "t.eaf", vocabulary)
    text = (tmp_path / "t.eaf").read_text()
    assert text.count("<ANNOTATION_VALUE />") == 2  # both AU values left blank: unlettered
    events = {e.channel.name: e.intensity for e in read_timeline(tmp_path / "t.eaf", vocabulary).events}
    assert events == {"AU45": 1.0, "AU43": pytest.approx(0.55)}


def read_timeline_from(vocabulary, folder, beats: str):
    path = folder / "beats.notes"
    path.write_text("fps 24\n" + beats)
    return read_timeline(path, vocabulary)


def test_a_blink_on_the_default_head_looks_like_closed_eyes():
    """The picture: `blink` renders as `eyes_closed` (43E) does, not as the half-closed 43C."""
    from facs_rig.render.preview import code_values, preview_setup
    from facs_rig.resources import load_vocabulary

    setup = preview_setup(size=128)
    vocabulary = load_vocabulary()

    def render(code: str) -> np.ndarray:
        return setup.renderer.render(setup.driver.frame(code_values(code, vocabulary))).astype(int)

    def changed(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).sum(axis=2).astype(bool).mean())

    closed, half = render("eyes_closed"), render("43C")
    assert changed(half, closed) > 0.002  # the two lids differ visibly
    for code in ("blink", "45"):
        assert changed(render(code), closed) < 0.1 * changed(half, closed)


def test_an_intensity_leaves_an_unlettered_blink_closed(vocabulary):
    """New-user review: `1 45+12 intensity 0.2` played the blink at 0.2 and `sheet "45,12"
    --intensity 0.2` drew open eyes. `intensity` is for the AUs FACS scores A-E; a blink or wink
    written without a letter is scored present only (FACS 2002), so it stays at E. A letter
    written on it (45B) is a depth, scaled as any lettered AU: the intensity replaces it only
    when it lies in the letter's band. (A blink and a wink are on different eyes: one eye's
    closure is one or the other, FACS 2002 AU45 section.)"""
    from facs_rig.core.timeline import events_from_code, timeline_from_code
    from facs_rig.io.au_notes import parse_au_notes
    from facs_rig.io.timeline_json import timeline_from_dict
    from facs_rig.render.preview import code_values

    # Each beat ends as the next begins (0.3 + 0.2 + 0.5 s): with the default 1 s apex the blink
    # at 1 s was still closing the left eye while it winked at 2 s (45+46 on one eye, refused).
    # (`3 45B intensity 0.6`, outside B's band, changed no AU and was kept at B silently: it is
    # an error now, test_notes_review.py.)
    notes = parse_au_notes("1 45+12 intensity 0.2 apex 0.2\n2 L46+R45B intensity 0.15 apex 0.2\n",
                           vocabulary)
    assert [(e.start, e.channel.name, e.intensity) for e in notes.events] == [
        (1.0, "AU12", 0.2), (1.0, "AU45", 1.0), (2.0, "AU45_R", 0.15), (2.0, "AU46_L", 1.0)]
    beats = timeline_from_dict({"schema": "facs_rig.timeline/1",
                                "beats": [{"at": 0, "code": "L45+R46+12", "intensity": 0.2}]},
                               vocabulary)
    assert {e.channel.name: e.intensity for e in beats.events} == {
        "AU12": 0.2, "AU45_L": 1.0, "AU46_R": 1.0}
    assert [e.intensity for e in events_from_code("R45+L46B", vocabulary, at=0, intensity=0.3)] == [
        1.0, 0.2]
    held = timeline_from_code("blink", vocabulary, intensity=0.2)  # preview CODE --intensity
    assert [(e.channel.name, e.intensity) for e in held.events] == [("AU45", 1.0)]
    # sheet, preview and the studio's stills: code_values with --intensity
    assert {c.name: v for c, v in code_values("L45+12+R46B", vocabulary, intensity=0.2).items()} == {
        "AU12": 0.2, "AU45_L": 1.0, "AU46_R": 0.2}


@pytest.mark.parametrize("depth, code, option", [
    (1.0, "45", ""), (0.2, "45B", ""), (0.3, "45C", "  intensity 0.3"),
    (0.95, "45E", "  intensity 0.95"), (0.02, "45A", "  intensity 0.02"), (0.0, "45A", "  intensity 0"),
])
def test_notes_write_a_blinks_depth_with_its_band_letter(vocabulary, depth, code, option):
    """`45 intensity 0.3` now closes the eye, so the notes writer gives a blink below full
    closure the letter of its band (A's reaching down to 0 for a blink) and reads it back."""
    from facs_rig.core.channels import Channel
    from facs_rig.core.timeline import AUEvent, Timeline
    from facs_rig.io.au_notes import format_au_notes, parse_au_notes

    timeline = Timeline((AUEvent(Channel(45), depth, 1.0),), 2.0)
    text = format_au_notes(timeline, vocabulary)
    assert text.splitlines()[-1] == f"1  {code}  onset 0.3  apex 1  offset 0.5{option}"
    assert parse_au_notes(text, vocabulary) == timeline
    assert format_au_notes(parse_au_notes(text, vocabulary), vocabulary) == text
