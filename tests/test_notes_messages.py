"""The AU notes parser's messages, word for word: each names the real cause and what is accepted.

A reviewer typing notes for the first time met messages that blamed the wrong thing: an
``intensity D`` was "not a number of seconds (1.5 or 1.5s) or frames (36f)", an option word the
notes do not have (``for``, ``hold``) or a duration without its keyword was swallowed into the
code and quoted as an unrecognised term with "did you mean 'happiness'?", and a misspelled
easing got no "did you mean" though the README promises one for misspelled choices.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.errors import TimelineFormatError
from facs_rig.io.au_notes import parse_au_notes

OPTIONS = "(options: onset, apex, offset, apex_start, apex_end, end, ease, ease_in, ease_out, intensity)"


@pytest.mark.parametrize("line, message", [
    # intensity takes a number 0-1 only (docs/timeline-formats.md); a letter goes on the AU.
    ("1.0 happiness intensity D", "column 25: intensity 'D' must be a number 0-1 (such as 0.55); "
                                  "an intensity letter goes on the AU itself (12D)"),
    ("1.0 happiness intensity 90%", "column 25: intensity '90%' must be a number 0-1 (such as 0.55)"),
    ("1.0 happiness intensity nan", "column 25: intensity 'nan' must be a number 0-1 (such as 0.55)"),
    ("1.0 happiness intensity inf", "column 25: intensity 'inf' must be a number 0-1 (such as 0.55)"),
    ("1.0 happiness intensity 1.5", "column 25: intensity '1.5' must be a number 0-1 (such as 0.55)"),
    ("1.0 happiness intensity -0.1", "column 25: intensity '-0.1' must be a number 0-1 (such as 0.55)"),
    ("1.0 happiness intensity 2s", "column 25: intensity '2s' must be a number 0-1 (such as 0.55)"),
    # An option word the notes do not have, after a whole code.
    ("1.0 happiness for 2s", f"column 15: unknown option 'for' after the code 'happiness' {OPTIONS}"),
    ("1.0 6+12 hold 2", f"column 10: unknown option 'hold' after the code '6+12' {OPTIONS}"),
    ("1.0 surprise + 25 hold 2",
     f"column 19: unknown option 'hold' after the code 'surprise + 25' {OPTIONS}"),
    # A misspelled option keeps its did-you-mean.
    ("1.0 happiness intensty 0.5",
     f"column 15: unknown option 'intensty': did you mean 'intensity'? {OPTIONS}"),
    # A bare duration or time with no keyword before it.
    ("1.0 happiness 2s", "column 15: '2s' after the code 'happiness' is a duration with no option "
                         "word: write onset, apex or offset before it (apex 2s)"),
    ("1.0 happiness 0.2", "column 15: '0.2' after the code 'happiness' is a duration with no "
                          "option word: write onset, apex or offset before it (apex 0.2)"),
    ("1.0 happiness 8f", "column 15: '8f' after the code 'happiness' is a duration with no option "
                         "word: write onset, apex or offset before it (apex 8f)"),
    ("1.0 happiness 25", "column 15: '25' after the code 'happiness' is a duration with no option "
                         "word: write onset, apex or offset before it (apex 25); an AU joins the "
                         "code with '+' (happiness+25)"),
    ("1.0 happiness 00:00:02:00", "column 15: '00:00:02:00' after the code 'happiness' is a time "
                                  "with no option word: absolute times go after apex_start, "
                                  "apex_end and end"),
    ("1.0 happiness surprise",
     "column 15: 'surprise' after the code 'happiness': join codes with '+' (happiness+surprise)"),
    # A misspelled choice: did you mean.
    ("1.0 happiness ease smoth",
     "column 20: easing 'smoth' is not one of linear, smooth, step: did you mean 'smooth'?"),
    ("1.0 happiness ease_out lin",
     "column 24: easing 'lin' is not one of linear, smooth, step: did you mean 'linear'?"),
    ("1.0 happiness ease bouncy", "column 20: easing 'bouncy' is not one of linear, smooth, step"),
    # The code's own error where the code itself is wrong (not a stray word after it).
    ("1.0 happiness + sadnes",
     "column 17: unrecognised term 'sadnes' at column 13 of 'happiness + sadnes': did you mean "
     "'sadness'?"),
])
def test_notes_messages_name_the_cause(vocabulary, line, message):
    with pytest.raises(TimelineFormatError) as error:
        parse_au_notes(f"fps 24\n{line}\n", vocabulary, source="beats.notes")
    assert str(error.value) == f"beats.notes, line 2, {message}"


def test_cli_prints_the_message_in_one_line(tmp_path, capsys, monkeypatch):
    from facs_rig.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "beats.notes").write_text("fps 24\n1.0 happiness intensity D\n")
    assert main(["timeline", "show", "beats.notes"]) == 1
    assert capsys.readouterr().err == (
        "facs-rig: error: beats.notes, line 2, column 25: intensity 'D' must be a number 0-1 "
        "(such as 0.55); an intensity letter goes on the AU itself (12D)\n")


def test_intensity_numbers_0_to_1_are_taken(vocabulary):
    timeline = parse_au_notes("1 12 intensity 0.3\n2 12 intensity 1\n3 12 intensity .5\n", vocabulary)
    assert [event.intensity for event in timeline.events] == pytest.approx([0.3, 1.0, 0.5])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["happiness", "6+12", "+", "25", "2s", "for", "hold", "onset",
                                 "0.5", "ease", "smoth", "intensity", "D", "00:00:01:00", "surprise"]),
                min_size=1, max_size=8))
def test_any_beat_words_parse_or_fail_with_one_line_naming_line_and_column(vocabulary, words):
    """Whatever follows the time, the parser returns a timeline or one message with the line
    and column (the stray-word diagnosis never raises anything else)."""
    try:
        parse_au_notes("fps 24\n1 " + " ".join(words) + "\n", vocabulary, source="beats.notes")
    except TimelineFormatError as exc:
        text = str(exc)
        assert text.startswith("beats.notes, line 2") and "\n" not in text
