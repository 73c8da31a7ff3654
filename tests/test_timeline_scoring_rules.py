"""FACS's rules for one code, applied where a timeline is read.

Two holes a FACS coder found: an unsided AU46 (a wink is one eye, FACS 2002) got in through the
channel formats (a JSON event's channel, an ELAN tier, a CSV column) though the code parser
refuses ``46``; and separate events on at the same moment were never checked against the rules
(``51`` over 1-3 s beside ``52`` over 2-4 s played the head turning both ways). Both are refused
now, in one line naming the file, the field and the rule (``action_units.json``, ``rules``).
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.notation import Code, CodedAU, combination_rule
from facs_rig.core.timeline import (
    MEASURED_KEY,
    TIME_TOLERANCE,
    AUEvent,
    CodeMark,
    Timeline,
    check_timeline,
    overlap_problem,
    timeline_from_code,
)
from facs_rig.errors import FacsRuleError, TimelineError, TimelineFormatError, VocabularyError
from facs_rig.io.au_notes import format_au_notes, parse_au_notes
from facs_rig.io.curves_csv import curves_from_csv_text
from facs_rig.io.eaf import eaf_to_string, read_eaf
from facs_rig.io.timeline_files import read_timeline
from facs_rig.io.timeline_json import timeline_from_dict, timeline_from_json, timeline_to_json

WINK = "AU46 is a wink of one eye: write L46 or R46 (both eyes: 45 or 43)"
TURNS = "51+52: the head cannot turn left and right at once (FACS 2002, Table 9-1)"


def timeline_json(*events: dict, **top) -> dict:
    return {"schema": "facs_rig.timeline/1", "events": list(events), **top}


def event(channel: str, start: float, end: float, **fields) -> dict:
    """An event with its apex over the whole span (no ramps), so its times are its span."""
    return {"channel": channel, "start": start, "apex_start": start, "apex_end": end, "end": end,
            **fields}


def elan(tiers: dict[str, list[tuple[int, int, str]]]) -> str:
    """A minimal EAF 3.0 document: ``tier -> [(start ms, end ms, value)]``."""
    slots, body, number = [], [], itertools.count(1)
    for tier, annotations in tiers.items():
        body.append(f'<TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="{tier}">')
        for start, end, value in annotations:
            first, second = next(number), next(number)
            slots += [f'<TIME_SLOT TIME_SLOT_ID="ts{first}" TIME_VALUE="{start}"/>',
                      f'<TIME_SLOT TIME_SLOT_ID="ts{second}" TIME_VALUE="{end}"/>']
            body.append(f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{first}" '
                        f'TIME_SLOT_REF1="ts{first}" TIME_SLOT_REF2="ts{second}">'
                        f'<ANNOTATION_VALUE>{value}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION>'
                        f'</ANNOTATION>')
        body.append("</TIER>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT AUTHOR="" '
            'DATE="2026-01-01T00:00:00+00:00" FORMAT="3.0" VERSION="3.0" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">\n'
            '<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"/>\n<TIME_ORDER>\n'
            + "\n".join(slots) + "\n</TIME_ORDER>\n" + "\n".join(body)
            + '\n<LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" '
              'TIME_ALIGNABLE="true"/>\n</ANNOTATION_DOCUMENT>\n')


def cli_error(capsys, path) -> str:
    """``facs-rig timeline show PATH``: exit 1 and the one error line it prints."""
    assert main(["timeline", "show", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("facs-rig: error: "), captured.err
    return lines[0]


# --- 1. an unsided wink in the channel formats ------------------------------------------------

def test_a_json_event_on_an_unsided_wink_channel_is_refused(vocabulary, tmp_path, capsys):
    path = tmp_path / "wink.json"
    path.write_text(json.dumps(timeline_json(event("AU12", 0, 1), event("AU46", 1, 1.3))))
    assert cli_error(capsys, path) == f"facs-rig: error: {path}: events[1].channel: {WINK}"
    # As the code parser words it (the FACS term, not the channel, before 'is').
    with pytest.raises(Exception, match=r"^46 is a wink of one eye: write L46 or R46 \(both "
                                        r"eyes: 45 or 43\) at column 1 of '46'$"):
        vocabulary.parse("46")
    for spelling in ("AU46", "au46", "46", "AU046", "AU 46"):
        with pytest.raises(TimelineFormatError, match=r"events\[0\]\.channel: AU46 is a wink"):
            timeline_from_dict(timeline_json(event(spelling, 0, 1)), vocabulary)
    for sided in ("AU46_L", "L46", "R46", "AU46R"):
        assert timeline_from_dict(timeline_json(event(sided, 0, 1)), vocabulary).events


def test_an_elan_tier_named_au46_is_refused_where_an_annotation_gives_no_side(vocabulary,
                                                                              tmp_path, capsys):
    path = tmp_path / "wink.eaf"
    path.write_text(elan({"AU46": [(1000, 1300, "")]}))
    assert cli_error(capsys, path) == (f"facs-rig: error: {path}: tier 'AU46', annotation 1-1.3 "
                                       f"s: {WINK}")
    path.write_text(elan({"AU46": [(1000, 1300, "L46"), (2000, 2300, "46")]}))
    assert cli_error(capsys, path) == (f"facs-rig: error: {path}: tier 'AU46', annotation 2-2.3 "
                                       f"s: value '46': {WINK}")
    # A coder who keeps one tier per AU writes the side in each annotation: that is a wink.
    path.write_text(elan({"AU46": [(1000, 1300, "L46"), (2000, 2300, "R46")]}))
    assert [e.channel.name for e in read_timeline(path, vocabulary).events] == ["AU46_L",
                                                                                "AU46_R"]


def test_a_csv_column_of_an_unsided_wink_is_refused(vocabulary, tmp_path, capsys):
    path = tmp_path / "weights.csv"
    path.write_text("time,AU12,AU46\n0,0,0\n0.1,0.5,1\n0.2,0,0\n")
    assert cli_error(capsys, path) == (f"facs-rig: error: {path}, line 1, column 3: 'AU46': "
                                       f"{WINK}")
    path.write_text("time,AU12,AU46_L\n0,0,0\n0.1,0.5,1\n0.2,0,0\n")
    assert read_timeline(path, vocabulary).channels == (Channel(12), Channel(46, "L"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(
    st.builds(lambda prefix, side: f"{prefix}46{side}",
              st.sampled_from(["AU", "au", "Au", "AU0", "AU00"]),
              st.sampled_from(["", "_L", "_R", "L", "R", "_l"])),
    st.sampled_from(["46", "046", "L46", "R46", "l46", "LAU46"])))
def test_every_spelling_of_a_wink_column_needs_a_side(vocabulary, name):
    """Hypothesis over the channel spellings the CSV reader takes: refused exactly when no
    side is named."""
    side = name.upper()[0] if name.upper()[0] in "LR" else name.upper()[-1].strip("0123456789")
    text = f"time,{name}\n0,0\n0.1,1\n"
    try:
        curves = curves_from_csv_text(text, source="t.csv", vocabulary=vocabulary)
    except TimelineFormatError as exc:
        assert str(exc) == f"t.csv, line 1, column 2: {name!r}: {WINK}" and side == ""
    else:
        assert side != "" and curves.channels[0].au == 46 and curves.channels[0].side


# --- 2. overlapping events checked against the rules ------------------------------------------

def test_a_json_timeline_with_a_head_turning_both_ways_is_refused(tmp_path, capsys):
    path = tmp_path / "turns.json"
    path.write_text(json.dumps(timeline_json(event("AU51", 1, 3), event("AU52", 2, 4))))
    assert cli_error(capsys, path) == (
        f"facs-rig: error: {path}: events[0] (51 at 1-3 s) and events[1] (52 at 2-4 s) overlap "
        f"at 2-3 s: {TURNS}")


def test_a_beat_and_a_mark_of_a_json_timeline_are_named_by_their_path(vocabulary):
    with pytest.raises(TimelineFormatError) as caught:
        timeline_from_dict(timeline_json(
            event("AU12", 0, 9), beats=[{"at": 1, "code": "1+2", "apex": 1}],
            marks=[{"code": 70, "start": 1.5, "end": 3}]), vocabulary, source="t.json")
    assert str(caught.value) == (
        "t.json: beats[0] (1 at 1-2.8 s) and marks[0] (70 at 1.5-3 s) overlap at 1.5-2.8 s: "
        "70+1: brows and forehead not visible (70), yet AU1 (Inner Brow Raiser) is scored "
        "(FACS 2002, visibility codes 70-74)")


def test_an_au_notes_file_with_beats_that_overlap_is_refused(tmp_path, capsys):
    path = tmp_path / "turns.notes"
    path.write_text("fps 30\n0  51\n1  52\n")
    assert cli_error(capsys, path) == (
        f"facs-rig: error: {path}: line 2 (51 at 0-1.8 s) and line 3 (52 at 1-2.8 s) overlap at "
        f"1-1.8 s: {TURNS}")
    path.write_text("fps 30\n0  51  apex 0.2\n1  52\n")  # 51 ends at 1 s as 52 starts: fine
    assert main(["timeline", "show", str(path)]) == 0


def test_an_elan_file_with_annotations_that_overlap_is_refused(tmp_path, capsys):
    path = tmp_path / "eyes.eaf"
    path.write_text(elan({"L43": [(1000, 3000, "E")], "FACS": [(1500, 1700, "L45+12")]}))
    assert cli_error(capsys, path) == (
        f"facs-rig: error: {path}: tier 'L43' (L43E at 1-3 s) and tier 'FACS' (L45 at 1.5-1.7 s) "
        f"overlap at 1.5-1.7 s: 43E+45: a closed eye does not blink or wink: a closure held past "
        f"half a second is 43E, a shorter one 45 or 46 (FACS 2002, AU45 section)")
    # The other eye may blink beside a closed one (R43E+L45 is one code FACS scores).
    path.write_text(elan({"L43": [(1000, 3000, "E")], "FACS": [(1500, 1700, "R45+12")]}))
    assert main(["timeline", "show", str(path)]) == 0


def test_one_eyes_blink_and_wink_and_a_closed_eye(vocabulary):
    def problem(*events):
        return overlap_problem(events, vocabulary, fps=30.0)

    assert problem(AUEvent(Channel(45), 1.0, 1, 0.1, 0, 0.1),
                   AUEvent(Channel(46, "L"), 1.0, 1.1, 0.1, 0, 0.1)) == (
        "event 45 at 1-1.2 s and event L46 at 1.1-1.3 s overlap at 1.1-1.2 s: 45+46: one closure "
        "of an eye is a blink or a wink, not both (FACS 2002, AU45 section)")
    assert problem(AUEvent(Channel(45, "R"), 1.0, 1, 0.1, 0, 0.1),
                   AUEvent(Channel(46, "L"), 1.0, 1.1, 0.1, 0, 0.1)) is None
    # An eye closed by a measured intensity (no letter) is 43E by its band.
    assert "43E+46" in problem(AUEvent(Channel(43, "L"), 0.97, 0, 0, 3, 0),
                               AUEvent(Channel(46, "L"), 1.0, 1, 0.1, 0, 0.1))
    assert problem(AUEvent(Channel(43, "L"), 0.5, 0, 0, 3, 0),  # 43C: a droop may blink
                   AUEvent(Channel(45, "L"), 1.0, 1, 0.1, 0, 0.1)) is None


def test_events_that_meet_within_one_frame_are_one_after_the_other(vocabulary):
    """rules.meet_within_frames: where one ends as the other begins, up to one frame of overlap
    is the two meeting (a coder's 26 to its last frame, 27 from it; a capture's 61 then 62);
    longer, one inside the other, or starting together is both at once, for every rule."""
    def problem(first, second, fps=30.0):
        a = AUEvent(Channel(first[0]), 0.55, first[1], 0, first[2] - first[1], 0)
        b = AUEvent(Channel(second[0]), 0.55, second[1], 0, second[2] - second[1], 0)
        return overlap_problem([a, b], vocabulary, fps=fps)

    assert vocabulary.rules.meet_frames == 1
    assert problem((26, 1, 2), (27, 2, 3)) is None                   # they touch
    assert problem((26, 1, 2), (27, 2 - 1 / 30, 3)) is None          # one frame
    assert problem((51, 1, 2), (52, 2 - 1 / 30, 3)) is None          # Table 9-1 meets too
    assert problem((51, 1, 2), (52, 1.96, 3), fps=25.0) is None      # at the timeline's fps
    assert problem((26, 1, 2.01), (27, 1.96, 3)) == (
        "event 26 at 1-2.01 s and event 27 at 1.96-3 s overlap at 1.96-2.01 s: 26+27: jaw drop "
        "and mouth stretch are alternative scores of one jaw opening (FACS 2002, AU26/AU27) "
        "(they may meet within 1 frame where one ends as the other begins; this is 1.5 frames "
        "at 30 fps)")
    assert problem((51, 1, 3), (52, 2, 2.02)) is not None           # one inside the other
    assert problem((51, 1, 1.02), (52, 1, 3)) is not None           # starting together


def test_a_timeline_measured_from_a_capture_is_not_a_coding(vocabulary):
    # A solver reads 26 and 27 at once (Live Link Face alex_rom_3: 37 times): retarget's output
    # says where its events came from, and reads back as it was written.
    data = timeline_json(event("AU26", 1, 3, letter="D"), event("AU27", 2, 4, letter="D"),
                         metadata={MEASURED_KEY: "captured curves"})
    timeline = timeline_from_dict(data, vocabulary)
    assert timeline_from_json(timeline_to_json(timeline, vocabulary), vocabulary) == timeline
    text = format_au_notes(timeline, vocabulary)
    assert text.splitlines()[1] == "measured captured curves"
    assert parse_au_notes(text, vocabulary).events == timeline.events
    del data["metadata"]
    with pytest.raises(TimelineFormatError, match=r"26\+27: jaw drop"):
        timeline_from_dict(data, vocabulary)


def test_the_meeting_rule_needs_its_reason(vocabulary):
    from facs_rig.core.vocabulary import _rules_from_dict

    rules = {"sources": {"x": "y"}, "meet_within_frames": {"frames": 1, "source": "z"}}
    with pytest.raises(VocabularyError, match=r"rules\.meet_within_frames\.why: expected the "
                                              r"reason in words"):
        _rules_from_dict(rules, vocabulary.action_units, "t.json")
    rules["meet_within_frames"] = {"frames": -1, "why": "w", "source": "z"}
    with pytest.raises(VocabularyError, match=r"meet_within_frames\.frames: expected a whole"):
        _rules_from_dict(rules, vocabulary.action_units, "t.json")


# --- the sweep against its definition ---------------------------------------------------------

RULED = [Channel(51), Channel(52), Channel(26), Channel(27), Channel(43, "L"), Channel(43, "R"),
         Channel(45), Channel(45, "L"), Channel(46, "L"), Channel(46, "R"), Channel(12),
         Channel(1), Channel(5, "L")]


@st.composite
def ruled_events(draw):
    channel = draw(st.sampled_from(RULED))
    start = draw(st.integers(0, 60)) / 10
    length = draw(st.integers(1, 20)) / 10  # ELAN writes no event under a millisecond
    letter = None if channel.au in (45, 46) else draw(st.sampled_from([None, "C", "E"]))
    value = {None: 0.55, "C": 0.55, "E": 1.0}[letter]
    return AUEvent(channel, value, start, 0, length, 0, letter=letter)


def by_every_pair(events, marks, vocabulary, fps):
    """The rule by its definition, over every pair (quadratic): some two items overlap by more
    than TIME_TOLERANCE, a rule forbids them, and they do not meet within the allowed frames."""
    items = [(e.start, e.end, CodedAU(e.channel.au, e.channel.side, e.letter)) for e in events]
    items += [(m.start, m.end, CodedAU(m.code)) for m in marks]
    meeting = vocabulary.rules.meet_frames / fps
    for (a0, a1, a), (b0, b1, b) in itertools.combinations(items, 2):
        (first0, first1), (second0, second1) = sorted([(a0, a1), (b0, b1)])
        overlap = min(first1, second1) - second0
        if overlap <= TIME_TOLERANCE or combination_rule(a, b, vocabulary) is None:
            continue
        meets = (first0 < second0 - TIME_TOLERANCE and first1 <= second1 + TIME_TOLERANCE
                 and overlap <= meeting + TIME_TOLERANCE)
        if not meets:
            return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(ruled_events(), max_size=8),
       marks=st.lists(st.builds(CodeMark, st.sampled_from([50, 70, 71, 40]),
                                st.integers(0, 60).map(lambda t: t / 10),
                                st.integers(60, 80).map(lambda t: t / 10)), max_size=1),
       fps=st.sampled_from([10.0, 30.0]))
def test_the_sweep_finds_a_conflict_exactly_when_some_pair_has_one(vocabulary, events, marks,
                                                                    fps):
    found = overlap_problem(events, vocabulary, fps=fps, marks=marks)
    assert (found is not None) == by_every_pair(events, marks, vocabulary, fps), found


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(ruled_events(), max_size=6))
def test_every_coded_reader_refuses_what_the_rules_refuse(vocabulary, tmp_path, events):
    """Hypothesis over the three coded readers: a timeline written by each writer reads back
    exactly when no two of its events break a rule, and else names the rule."""
    timeline = Timeline(tuple(events), fps=10.0)
    expected = by_every_pair(timeline.events, (), vocabulary, 10.0)
    as_json = timeline_to_json(timeline, vocabulary)
    as_notes = format_au_notes(timeline, vocabulary)
    path = tmp_path / "t.eaf"
    path.write_text(eaf_to_string(timeline, vocabulary), encoding="utf-8")
    for read in (lambda: timeline_from_json(as_json, vocabulary),
                 lambda: parse_au_notes(as_notes, vocabulary),
                 lambda: read_eaf(path, vocabulary)):
        try:
            back = read()
        except TimelineFormatError as exc:
            assert expected and " overlap at " in str(exc), str(exc)
        else:
            assert not expected
            assert len(back.events) == len(timeline.events)
    # And the same timeline built in Python, with the vocabulary to check it by.
    try:
        Timeline(tuple(events), fps=10.0, vocabulary=vocabulary)
    except FacsRuleError as exc:
        assert expected and " overlap at " in str(exc), str(exc)
    else:
        assert not expected


def test_the_sweep_stays_linear_on_a_long_coded_timeline(vocabulary):
    """10,000 beats of a head turning one way then the other, each ending as the next starts:
    checked in well under a second (a pairwise check compares 50 million pairs)."""
    import time

    events = [AUEvent(Channel(51 + index % 2), 0.55, index * 1.0, 0.3, 0.2, 0.5)
              for index in range(10_000)]
    began = time.perf_counter()
    assert overlap_problem(events, vocabulary, fps=30.0) is None
    assert time.perf_counter() - began < 1.0
    events.append(AUEvent(Channel(52), 0.55, 9_998.5, 0, 0.4, 0))  # inside the last 51
    assert overlap_problem(events, vocabulary, fps=30.0) == (
        "event 51 at 9998-9999 s and event 52 at 9998.5-9998.9 s overlap at 9998.5-9998.9 s: "
        f"{TURNS}")


# --- 3. timelines built in Python follow the same rules ---------------------------------------

def test_a_beat_added_in_python_that_turns_the_head_both_ways_is_refused(vocabulary):
    turned = Timeline().add_code("51", vocabulary, at=1.0)
    with pytest.raises(FacsRuleError) as caught:
        turned.add_code("52", vocabulary, at=2.0)
    assert str(caught.value) == ("event 51 at 1-2.8 s and event 52 at 2-3.8 s overlap at 2-2.8 s: "
                                 f"{TURNS}")
    assert isinstance(caught.value, TimelineError)  # a FacsRigError, as every refusal
    # Meeting within a frame (30 fps) is one after the other; touching too.
    met = turned.add_code("52", vocabulary, at=2.8 - 1 / 30)
    assert [(e.channel.au, e.start) for e in met.events] == [(51, 1.0), (52, 2.8 - 1 / 30)]
    assert len(turned.add_code("52", vocabulary, at=2.8).events) == 2
    # A code built in Python has not met the parser's rules: the timeline's check sees it.
    with pytest.raises(FacsRuleError, match=r"^event 51 at 0-2.3 s and event 52 at 0-2.3 s "
                                            r"overlap at 0-2.3 s: 51\+52: the head cannot"):
        timeline_from_code(Code((CodedAU(51), CodedAU(52))), vocabulary, hold=1.5)


def test_an_unsided_wink_built_in_python_is_refused(vocabulary):
    wink = AUEvent(Channel(46), 1.0, 1.0)
    with pytest.raises(FacsRuleError) as caught:
        Timeline((AUEvent(Channel(12), 0.55, 0.0), wink), vocabulary=vocabulary)
    assert str(caught.value) == f"event 46 at 1-2.8 s: {WINK}"
    with pytest.raises(FacsRuleError, match=rf"^event 46 at 0.5-0.9 s: {WINK}$".replace("(", r"\(")
                       .replace(")", r"\)")):
        Timeline().add_code(Code((CodedAU(46),)), vocabulary, at=0.5)
    with pytest.raises(FacsRuleError, match=r"^event 46 at 0-2.8 s: AU46 is a wink"):
        timeline_from_code(Code((CodedAU(46),)), vocabulary)
    # Measured or not, a wink is one eye (as every reader says); sided, it is a wink.
    with pytest.raises(FacsRuleError, match=r"AU46 is a wink"):
        Timeline((wink,), metadata={MEASURED_KEY: "a capture"}, vocabulary=vocabulary)
    assert Timeline((AUEvent(Channel(46, "L"), 1.0, 1.0),), vocabulary=vocabulary).events
    # Without a vocabulary there is nothing to check by: built as before, checked on demand.
    unchecked = Timeline((wink,))
    with pytest.raises(FacsRuleError, match=r"^event 46 at 1-2.8 s: AU46 is a wink"):
        check_timeline(unchecked, vocabulary)


def test_a_measured_timeline_built_in_python_is_not_a_coding(vocabulary):
    both = (AUEvent(Channel(26), 0.9, 1.0, 0, 2, 0, letter="D"),
            AUEvent(Channel(27), 0.9, 2.0, 0, 2, 0, letter="D"))
    measured = Timeline(both, metadata={MEASURED_KEY: "captured curves"}, vocabulary=vocabulary)
    assert len(measured.events) == 2
    assert len(measured.add_code("51", vocabulary, at=5.0).events) == 3
    with pytest.raises(FacsRuleError, match=r"^event 26D at 1-3 s and event 27D at 2-4 s overlap "
                                            r"at 2-3 s: 26\+27: jaw drop"):
        Timeline(both, vocabulary=vocabulary)


def test_the_timeline_modules_docstring_examples_run():
    """check_timeline's example (and the module's others: timeline_from_code's listed AU25 late)."""
    import doctest

    import facs_rig.core.timeline as timeline_module

    result = doctest.testmod(timeline_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
