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
    values = vocabulary.channel_values(vocabulary.parse("12+45+R46"), scale)
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
    assert "intensity" not in written and "1    45   onset 0.1" in written


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
