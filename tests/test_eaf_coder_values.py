"""An ELAN file written from a capture carries what a FACS coder writes: the FACS term with its
intensity letter (``12C``, ``L12B``) as each AU annotation's value, as AU notes write it, and the
measured intensity (``0.43688032``, inside C's band) on a ``<tier> intensity`` child tier
(Symbolic Association: one value per annotation, moved and deleted with it by ELAN), so that
reading the file back gives the same timeline.

Before, ``facs-rig retarget TAKE -o take.eaf`` wrote ``0.43688032`` as the value of an AU12
annotation: no letter for the coder, who scores letters. (The ELAN samples in
shared/assets/elan hold words and gestures, no AU tiers: docs/timeline-formats.md, "ELAN", on
the layouts coders use, a tier per AU with the letters as values among them.)
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.timeline import AUEvent, Timeline
from facs_rig.errors import TimelineFormatError
from facs_rig.io.au_notes import float32_text
from facs_rig.io.eaf import eaf_to_string
from facs_rig.io.timeline_files import read_timeline, write_timeline

MEASURED = 0.43688032  # a capture's apex, as float32 text reads back; inside C's band (0.2, 0.55]


def _timeline() -> Timeline:
    return Timeline((
        AUEvent(Channel(12, "L"), MEASURED, 1.0, 0.25, 0.5, 0.25, letter="C"),
        AUEvent(Channel(6), 0.55, 1.0, 0.25, 0.5, 0.25, letter="C"),       # exactly its letter
        AUEvent(Channel(1), 0.3, 2.0, 0.25, 0.5, 0.25),                    # no letter: a number
        AUEvent(Channel(45), 1.0, 3.0, 0.05, 0.1, 0.05)), 4.0, 30.0)       # a blink: empty


def _values(text: str) -> list[str]:
    return re.findall(r"<ANNOTATION_VALUE>([^<]*)</ANNOTATION_VALUE>|<ANNOTATION_VALUE />", text)


def test_a_measured_intensity_is_written_as_its_letter_and_the_exact_value_beside(vocabulary,
                                                                                    tmp_path):
    text = eaf_to_string(_timeline(), vocabulary)
    au12 = text[text.index('<TIER TIER_ID="AU12_L"'):text.index('<TIER TIER_ID="AU12_L phases"')]
    assert "<ANNOTATION_VALUE>L12C</ANNOTATION_VALUE>" in au12
    exact = text[text.index('<TIER TIER_ID="AU12_L intensity"'):]
    exact = exact[:exact.index("</TIER>") + len("</TIER>")]
    annotation = re.search(r'TIER_ID="AU12_L".*?ALIGNABLE_ANNOTATION ANNOTATION_ID="(a\d+)"',
                           text, re.S)[1]
    assert exact == (
        '<TIER TIER_ID="AU12_L intensity" LINGUISTIC_TYPE_REF="facs-intensity" '
        'PARENT_REF="AU12_L">\n'
        '\t\t<ANNOTATION>\n'
        f'\t\t\t<REF_ANNOTATION ANNOTATION_ID="a{int(annotation[1:]) + 1}" '
        f'ANNOTATION_REF="{annotation}">\n'
        '\t\t\t\t<ANNOTATION_VALUE>0.43688032</ANNOTATION_VALUE>\n'
        '\t\t\t\t</REF_ANNOTATION>\n'
        '\t\t\t</ANNOTATION>\n'
        '\t\t</TIER>')
    assert ('<LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="facs-intensity" TIME_ALIGNABLE="false" '
            'GRAPHIC_REFERENCES="false" CONSTRAINTS="Symbolic_Association" />') in text
    # Only the measured event has one: 6C is exactly C, 1 and 45 have no letter.
    assert re.findall(r'TIER_ID="([^"]*) intensity"', text) == ["AU12_L"]
    for tier, value in (("AU06", "6C"), ("AU01", "0.3"), ("AU45", None)):
        block = text[text.index(f'<TIER TIER_ID="{tier}"'):]
        block = block[:block.index("</TIER>")]
        assert _values(block) == [value or ""]
    path = tmp_path / "coded.eaf"
    write_timeline(_timeline(), path, vocabulary)
    assert read_timeline(path, vocabulary) == _timeline()


def test_a_coder_who_changes_the_letter_gets_the_letter(vocabulary, tmp_path):
    """ELAN keeps the intensity child when a coder edits 12C to 12D: the exact value, no D, is
    left aside and the letter written wins (as AU notes read ``12D intensity 0.3``)."""
    path = tmp_path / "coded.eaf"
    path.write_text(eaf_to_string(_timeline(), vocabulary).replace(">L12C<", ">L12D<"),
                    encoding="utf-8")
    twelve = next(e for e in read_timeline(path, vocabulary).events if e.channel.au == 12)
    assert (twelve.letter, twelve.intensity) == ("D", 0.9)
    # A value that is no intensity on that tier is named, tier and annotation span.
    path.write_text(eaf_to_string(_timeline(), vocabulary).replace(">0.43688032<", ">lots<"),
                    encoding="utf-8")
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(path, vocabulary)
    assert str(caught.value) == (f"{path}: tier 'AU12_L intensity', annotation 1-2 s: value "
                                 f"'lots' is not an intensity 0-1")


@st.composite
def measured_events(draw):
    """Lettered events at a measured intensity inside their letter's band (as a capture's events
    are), or at the letter's value, or unlettered; whole milliseconds."""
    channel = draw(st.sampled_from([Channel(1), Channel(12), Channel(12, "L"), Channel(26),
                                    Channel(45), Channel(64)]))
    value = draw(st.floats(0, 1, width=32))
    letter = draw(st.sampled_from(["band", "exact", None])) if channel.au != 45 else None
    scale = {"A": 0.1, "B": 0.2, "C": 0.55, "D": 0.9, "E": 1.0}
    if letter == "exact":
        letter = draw(st.sampled_from(sorted(scale)))
        value = scale[letter]
    elif letter == "band":
        from facs_rig.resources import load_vocabulary

        letter = load_vocabulary().scale().value_to_letter(value)
    start, onset, apex, offset = (draw(st.integers(0, 10**5)), draw(st.integers(1, 2000)),
                                  draw(st.integers(0, 2000)), draw(st.integers(1, 2000)))
    # The director's words, kept on the AU tier's "<tier> expression/note/comment" children.
    line = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")),
                   max_size=10)
    words = {"expression": draw(st.none() | st.sampled_from(["surprise", "happiness+25"])),
             "note": draw(st.none() | st.lists(line, min_size=1, max_size=3).map("\n".join)),
             "comment": draw(st.none() | line)}
    return AUEvent(channel, value, start / 1000, onset / 1000, apex / 1000, offset / 1000,
                   letter=letter, **words)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(measured_events(), max_size=8))
def test_round_trip_keeps_letters_and_float32_intensities(vocabulary, tmp_path, events):
    timeline = Timeline(tuple(events), None, 30.0)
    path = tmp_path / "round.eaf"
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    scale = vocabulary.scale()
    # The letter is kept where the value written lies in its band (AU notes' rule: a letter
    # against its value would read back as the letter).
    kept = [None if e.letter is not None and e.intensity != scale.letter_to_value(e.letter)
            and scale.value_to_letter(float(float32_text(e.intensity))) != e.letter else e.letter
            for e in timeline.events]
    assert sorted((e.channel.sort_key, e.start, e.letter or "", float(np.float32(e.intensity)),
                   repr((e.expression, e.note, e.comment))) for e in back.events) == sorted(
        (e.channel.sort_key, e.start, letter or "", float(np.float32(e.intensity)),
         repr((e.expression, e.note, e.comment)))
        for e, letter in zip(timeline.events, kept))
    assert "ignored_tiers" not in back.metadata  # the words' tiers are read, not ignored
    text = path.read_text(encoding="utf-8")
    au_tiers = r'<TIER TIER_ID="(AU\d\d(?:_[LR])?(?: #\d+)?)" LINGUISTIC_TYPE_REF="facs-au"'
    for tier in re.findall(au_tiers, text):
        block = text[text.index(f'<TIER TIER_ID="{tier}" '):]
        for value in _values(block[:block.index("</TIER>")]):
            # A FACS term with its letter, empty (unscored, a closed blink) or a bare number
            # (an unlettered event's own value): never a number beside a letter it has.
            assert re.fullmatch(r"[LR]?\d{1,2}[A-E]|(?:0|1|0?\.\d+|1\.0*|\d\.\d+e-\d+)?", value)
    again = tmp_path / "again.eaf"
    write_timeline(back, again, vocabulary)
    assert re.sub(r'DATE="[^"]*"', "", again.read_text(encoding="utf-8")) == \
        re.sub(r'DATE="[^"]*"', "", text)


def test_retarget_to_eaf_writes_letters_and_reads_back_as_its_json(tmp_path, vocabulary):
    take = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    assert main(["retarget", str(take), "-o", str(tmp_path / "take.eaf")]) == 0
    assert main(["retarget", str(take), "-o", str(tmp_path / "take.json")]) == 0
    text = (tmp_path / "take.eaf").read_text(encoding="utf-8")
    values = []
    for tier in re.findall(r'<TIER TIER_ID="([^"]*)" LINGUISTIC_TYPE_REF="facs-au"', text):
        block = text[text.index(f'<TIER TIER_ID="{tier}" '):]
        values += _values(block[:block.index("</TIER>")])
    # 132 events (144 before retarget's timelines took code's neutral and smoothing and
    # OpenFace's letters went band to band, both this session), every one lettered.
    assert len(values) == 132 and all(re.fullmatch(r"\d{2}[A-E]", v) for v in values), values
    assert values.count("64C") == 14
    back = read_timeline(tmp_path / "take.eaf", vocabulary)
    expected = json.loads((tmp_path / "take.json").read_text())["events"]

    # Every event back, to the millisecond, with its letter and its float32 intensity.
    assert sorted((e.channel.name, round(e.start, 3), e.letter, float(np.float32(e.intensity)))
                  for e in back.events) == sorted(
        (e["channel"], round(e["start"], 3), e["letter"], float(np.float32(e["intensity"])))
        for e in expected)
    assert len(expected) == 132
