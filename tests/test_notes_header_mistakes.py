"""Mistakes a director makes at the top of a notes file, and two beats named at one time.

From a director's review: ``fsp 24`` was reported as "'fsp' is not a time"; an ``fps`` line
below the first beat got "add an 'fps N' line" though one was there; beats typed against an
edit's timecode (01:00:01:00) without a ``start`` line made a timeline of an hour of rest;
``anger`` and ``happiness`` on one timecode played as one face without a word; ``grin`` and
``big smile`` had no suggestion.
"""

from __future__ import annotations

import warnings

import pytest

from facs_rig.errors import CodeParseError, FacsRigWarning, TimelineFormatError
from facs_rig.io.au_notes import parse_au_notes


def _error(text, vocabulary):
    with pytest.raises(TimelineFormatError) as caught:
        parse_au_notes(text, vocabulary)
    return str(caught.value)


def test_a_misspelled_header_is_named(vocabulary):
    assert _error("fsp 24\n00:00:01:00 surprise\n", vocabulary) == (
        "AU notes, line 1, column 1: 'fsp' is neither a time nor a header line: did you mean "
        "'fps'?")
    assert "did you mean 'duration'" in _error("durtion 4\n1 12\n", vocabulary)
    # A word far from every header keeps the time's own message.
    assert "'happy' is not a time" in _error("happy 2\n", vocabulary)


def test_an_fps_line_below_the_first_beat_is_named(vocabulary):
    assert _error("00:00:01:00 surprise\nfps 24\n", vocabulary) == (
        "AU notes, line 1, column 1: timecode needs the file's frame rate first: the 'fps' line "
        "(line 2) must come before the first beat")
    # Without any fps line the message asks for one, as before.
    assert "add an 'fps N' line" in _error("00:00:01:00 surprise\n", vocabulary)


def test_edit_timecode_without_start_is_refused_with_the_line_to_add(vocabulary):
    assert _error("fps 24\n01:00:01:00 surprise\n", vocabulary) == (
        "AU notes, line 2, column 1: timecode 01:00:01:00 is 1 h in and the notes have no "
        "'start' line, so the timeline would begin with 1 h of rest: add 'start "
        "01:00:00:00' (the timecode of the first frame) above the first beat, or 'start "
        "00:00:00:00' to keep the rest")
    assert parse_au_notes("fps 24\nstart 01:00:00:00\n01:00:01:00 12\n",
                          vocabulary).events[0].start == 1.0
    # Asked for: the hour of rest is kept.
    assert parse_au_notes("fps 24\nstart 00:00:00:00\n01:00:01:00 12\n",
                          vocabulary).events[0].start == 3601.0
    # Seconds are taken as written.
    assert parse_au_notes("3601 12\n", vocabulary).events[0].start == 3601.0


def test_two_names_at_one_time_are_noted(vocabulary):
    with pytest.warns(FacsRigWarning, match=r"lines 2 and 3: anger and happiness are at the "
                      r"same time \(5 s\), so they play as one face; write them on one line "
                      r"\(anger \+ happiness\) if that is meant"):
        timeline = parse_au_notes("fps 24\n00:00:05:00 anger\n00:00:05:00 happiness\n",
                                  vocabulary)
    assert {e.channel.au for e in timeline.events} == {4, 5, 6, 7, 12, 23}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_au_notes("5 anger + happiness\n5 53\n6 happiness\n", vocabulary)  # no note


@pytest.mark.parametrize("word, name", [("grin", "happiness"), ("big smile", "happiness"),
                                        ("beaming", "happiness"), ("crying", "sadness"),
                                        ("grimace", "pain")])
def test_everyday_words_suggest_the_name(vocabulary, word, name):
    with pytest.raises(CodeParseError, match=f"did you mean '{name}'"):
        vocabulary.parse(word)
