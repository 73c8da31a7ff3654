"""AU notes: the plain-text timeline a director or animator can type.

One beat per line: a time, a FACS code or named expression, optional phases and options::

    # the suspicion beat, then a smile
    fps 24
    00:00:01:00  4C+7B      onset 0.4 apex 1.2 offset 0.6   # the suspicion beat
    00:00:03:12  happiness  onset 8f apex 2s offset 1s
    5.0          R12A+R14A

Grammar (full reference in ``docs/timeline-formats.md``):

* ``#`` starts a comment, anywhere on a line but a ``title`` line (``title Take #3``: the
  title runs to the end of its line, ``#`` included); blank lines are ignored. Comments are the
  director's words and are kept on the beat's events: lines above a beat as its ``note``, one on
  its line as its ``comment``, those after the last beat as ``metadata["comment"]``; the code as
  typed, when it names an expression, as their ``expression``. Comments on header lines, and
  the words of a beat of marks only, are the timeline's (:data:`HEADER_COMMENTS_KEY`,
  :data:`MARK_COMMENTS_KEY`). The writer puts each back.
* Header lines: ``fps N`` (frames per second, before the first beat; default 30, but a file
  that uses timecode must give it) sets the rate of timecodes, ``f`` durations and sampling;
  ``duration T`` sets the timeline's length (a beat past it is cut off, with a warning);
  ``title TEXT`` goes into the metadata; ``start T`` (before the first beat) is the time of the
  timeline's 0 s (``start 01:00:00:00`` for notes typed against an edit's timecode);
  ``measured TEXT`` (written by ``retarget`` and ``code``) says the events were measured from a
  capture, not coded, so overlapping events are not checked against FACS's rules for one code
  (a solver reads 26 and 27 at once); ``apex next`` holds every beat until the next one of its
  layer (:func:`facs_rig.core.timeline.hold_layers`: a blink, a wink or a head turn does not end
  a held expression), never a blink or wink;
  ``overlap max`` keeps overlapping beats of one channel combined by maximum (default
  ``replace``: a later beat takes over the channels it names,
  :func:`facs_rig.core.timeline.take_over`). Each once.
* Separate beats whose events are on at one moment are one code: FACS's rules for one code apply
  to them (``0 51`` and ``1 52`` with the default 1.8 s phases overlap: refused; see
  :func:`facs_rig.core.timeline.overlap_problem`), checked once holds and take-overs are applied.
* A time is seconds (``1.5`` or ``1.5s``), frames (``36f``) or SMPTE timecode ``HH:MM:SS:FF``
  at the file's fps (:mod:`facs_rig.core.timecode`). Beat times never go backwards.
* The code is everything between the time and the first option keyword: ``6+12D``,
  ``R12A+R14A``, ``happiness``, ``surprise + 25``. It expands into one event per AU.
* Options, each a keyword and a value: ``onset``, ``apex``, ``offset`` (durations in seconds,
  ``s`` seconds or ``f`` frames; defaults 0.3, 1 and 0.5 s; ``apex next`` holds until the next
  beat starts, the last one until the ``duration`` header) or instead the absolute times
  ``apex_start``, ``apex_end`` and ``end`` (all three; any time form), ``ease`` (both ramps), ``ease_in``,
  ``ease_out`` (``smooth``, ``linear``, ``step``; defaults for a beat of only blinks or winks:
  :func:`facs_rig.core.timeline.default_phases`), ``intensity`` (0-1 value for the AUs written
  without a letter, and for those whose letter's band holds it: ``7E intensity 0.907``; default
  the scale's value of an unscored AU). An unlettered blink or wink (``45``, ``L46``) stays at E:
  FACS scores it only present.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facs_rig.core.notation import Code, CodedAU, combination_problem, format_code, names_expression
from facs_rig.core.timecode import format_timecode, is_timecode, parse_timecode
from facs_rig.core.timeline import (
    DEFAULT_EASING,
    DEFAULT_FPS,
    EASINGS,
    FPS_STATED_KEY,
    MEASURED_KEY,
    TIME_TOLERANCE,
    AUEvent,
    CodeMark,
    Rest,
    Timeline,
    check_channel,
    coding_problem,
    default_phases,
    events_from_code,
    face_rest,
    hold_layers,
    hold_until,
    intensity_band_letter,
    intensity_reaches,
    marks_from_code,
    meeting_next,
    momentary_hold_problem,
    next_beat_times,
    take_over,
    take_over_indexed,
)
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import (
    CodeParseError,
    FacsRigError,
    FacsRigWarning,
    TimelineError,
    TimelineFormatError,
    quoted,
    shown,
)

__all__ = ["parse_au_notes", "format_au_notes", "read_au_notes", "write_au_notes", "beat_start",
           "notes_origin", "float32_text", "written_intensity", "timeline_time", "states_fps",
           "HEADER_COMMENTS_KEY", "MARK_COMMENTS_KEY", "named_beats", "NeutralBeat"]

_DURATION_KEYS = ("onset", "apex", "offset")
_EASE_KEYS = ("ease", "ease_in", "ease_out")
_ABSOLUTE_KEYS = ("apex_start", "apex_end", "end")
_OPTION_KEYS = _DURATION_KEYS + _ABSOLUTE_KEYS + _EASE_KEYS + ("intensity",)
_HEADER_KEYS = ("fps", "duration", "title", "start", "measured", "apex", "overlap")
# 'apex next': the apex lasts until the next beat starts (a pose held until the next key).
_NEXT = "next"
# The 'overlap' header's rules for a later beat naming a channel an earlier beat still holds:
# 'replace' (the default) takes the channel over from the later beat's start
# (core.timeline.take_over); 'max' keeps both events, combined by maximum (what the writer says
# for a timeline whose events of one channel overlap that way, a capture's or a JSON file's, so
# that it reads back as it was).
_OVERLAPS = ("replace", "max")
# Fullmatched, and linear: the integer digits and the fraction digits are separated by a
# mandatory '.', so no two runs compete for the same digits (``\d+\.?\d*`` could split a run of
# digits between them in every way: a 40 KB token of digits took 40 s to refuse).
_QUANTITY = re.compile(r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?P<unit>[sSfF]?)")


@dataclass(frozen=True)
class _Token:
    text: str
    column: int  # 1-based


def _tokens(line: str) -> list[_Token]:
    return [_Token(m.group(), m.start() + 1) for m in re.finditer(r"\S+", line)]


class _LineError(Exception):
    def __init__(self, message: str, column: int = 0, line: int | None = None):
        super().__init__(message)
        self.column = column
        self.line = line  # when the error is on another line than the one being read


def _quantity(token: _Token, fps: float, what: str) -> float:
    """Seconds of ``1.5``, ``1.5s``, ``36f``; ``what`` names the field in messages."""
    match = _QUANTITY.fullmatch(token.text)
    if match is None:
        raise _LineError(f"{what} {quoted(token.text)} is not a number of seconds (1.5 or 1.5s) or "
                         f"frames (36f)", token.column)
    value = float(match["number"])
    if not math.isfinite(value):
        raise _LineError(f"{what} {quoted(token.text)} is not finite", token.column)
    if value < 0:
        kind = "negative duration" if what in _DURATION_KEYS else f"negative {what}"
        raise _LineError(f"{kind} {quoted(token.text)}", token.column)
    return value / fps if match["unit"].lower() == "f" else value


def _time(token: _Token, fps: float, what: str = "time", *, rate_given: bool = True) -> float:
    """Seconds of a time in any of its forms; ``rate_given`` False (a file with no ``fps``
    line) refuses timecode: SMPTE timecode counts frames at a rate (SMPTE ST 12-1), and read at
    the default 30 fps ``00:00:01:12`` was 1.4 s where a 24 fps edit meant 1.5 s, silently."""
    if is_timecode(token.text):
        if not rate_given:
            _check_own_faults(token)
            raise _LineError(f"{what} {token.text} is timecode, which counts frames at the file's "
                             f"frame rate: add an 'fps N' line (fps 24, fps 25, fps 29.97) before "
                             f"it", token.column)
        try:
            return parse_timecode(token.text, fps)
        except ValueError as exc:
            raise _LineError(str(exc), token.column) from None
    if _QUANTITY.fullmatch(token.text) is None:
        # Times take timecode too: say so ('1:00:12' is a timecode typed short, not a bad number).
        raise _LineError(f"{what} {quoted(token.text)} is not a time: seconds (1.5 or 1.5s), "
                         f"frames (36f) or timecode HH:MM:SS:FF", token.column)
    return _quantity(token, fps, what)


def _check_own_faults(token: _Token) -> None:
    """Raise for a timecode's own faults (drop-frame, minute 61), whatever the rate: said
    before asking for the rate it lacks."""
    try:
        parse_timecode(token.text, 1000.0)
    except ValueError as exc:
        raise _LineError(str(exc), token.column) from None


def beat_start(line: str, fps: float, origin: float = 0.0) -> float | None:
    """The seconds at which ``line`` starts its beat, read as :func:`parse_au_notes` reads it
    (at the file's ``fps``, less its ``start`` header's ``origin``); None for a blank, comment
    or header line or a time that does not read (the studio places an inserted beat among the
    others by it)."""
    tokens = _tokens(line.split("#", 1)[0])
    if not tokens or tokens[0].text.lower() in _HEADER_KEYS:
        return None
    try:
        return _time(tokens[0], fps) - origin
    except _LineError:
        return None


def notes_origin(timeline: Timeline) -> float:
    """Seconds of the timecode a timeline's 0 s stands for: its ``start`` header
    (``metadata["start"]``, e.g. ``01:00:00:00``, read at the timeline's fps), else 0."""
    text = timeline.metadata.get("start")
    if not isinstance(text, str):
        return 0.0
    tokens = _tokens(text)
    if len(tokens) != 1:
        return 0.0
    try:
        return _time(tokens[0], timeline.fps, "start")
    except _LineError:
        return 0.0


def timeline_time(text: str, timeline: Timeline, what: str = "time") -> float:
    """Seconds on ``timeline`` of a time typed as a notes file types one (``--at``): seconds
    (``12``, ``12s``), frames (``288f``) or timecode ``HH:MM:SS:FF``, both at the timeline's fps;
    timecode counts from the timeline's ``start`` header when it has one, as its beats do.
    Timecode is refused on a timeline read from notes without an ``fps`` line
    (``metadata[FPS_STATED_KEY]`` False), as the notes' own timecode is: its rate is a default.

    Raises
    ------
    TimelineFormatError
        ``--at 'soon' is not a time: seconds (1.5 or 1.5s), frames (36f) or timecode
        HH:MM:SS:FF``, a negative time, a timecode frame not below the fps, a timecode before
        the start, timecode on a timeline whose fps was not stated.
    """
    tokens = _tokens(text)
    if len(tokens) != 1:
        raise TimelineFormatError(f"{what} {shown(text)} is not a time: seconds (1.5 or 1.5s), "
                                  f"frames (36f) or timecode HH:MM:SS:FF")
    try:
        if is_timecode(tokens[0].text) and timeline.metadata.get(FPS_STATED_KEY) is False:
            # Read at the default 30 fps, 00:00:08:12 was 8.4 s where a 24 fps edit meant
            # 8.5 s, silently (the notes' own timecode is refused so: _time).
            _check_own_faults(tokens[0])
            raise _LineError(
                f"{what} {tokens[0].text} is timecode, which counts frames at the timeline's "
                f"frame rate, but its notes have no 'fps' line (they are read at the default "
                f"{_seconds(timeline.fps)} fps): add an 'fps N' line to the notes (fps 24, "
                f"fps 25, fps 29.97), or give {what} in seconds (12s) or frames (288f, at "
                f"{_seconds(timeline.fps)} fps)")
        seconds = _time(tokens[0], timeline.fps, what)
        if is_timecode(tokens[0].text):
            seconds = _since(seconds, notes_origin(timeline), tokens[0], what)
    except _LineError as exc:
        raise TimelineFormatError(str(exc)) from None
    return seconds


def states_fps(text: str) -> bool:
    """Whether AU notes ``text`` has an ``fps`` header line (without one it is read at the
    default 30 fps, and timecode in it is refused)."""
    return _fps_line(text) is not None


def _fps_line(text: str) -> int | None:
    """The number of the first ``fps`` header line of AU notes ``text``, or None."""
    return next((number for number, line, _ in _lines(text)
                 if (tokens := _tokens(line)) and tokens[0].text.lower() == "fps"), None)


#: Timecode at or past this many seconds in a file with no 'start' line: edit timecode starts at
#: 01:00:00:00 by convention (SMPTE ST 12-1 leaves the origin free; the hour-one start is the
#: broadcast and editorial habit, so that pre-roll stays positive), and beats typed against it
#: without 'start' would sit after an hour of rest.
_EDIT_HOUR = 3600.0


def _phases(options: dict, at: float, defaults: tuple[float, float, float]
            ) -> tuple[float, float, float]:
    """Onset, apex and offset durations from duration options or absolute phase times, each
    option not given taken from ``defaults`` (:func:`facs_rig.core.timeline.default_phases`).

    Absolute options are stored as ``(seconds, column of the value)`` for the messages.
    """
    absolute = [key for key in _ABSOLUTE_KEYS if key in options]
    key_columns = {key: options[key][1] for key in absolute}
    if not absolute:
        default_onset, default_apex, default_offset = defaults
        apex = options.get("apex", default_apex)  # 'next': resolved once the next beat is read
        return (float(options.get("onset", default_onset)),
                default_apex if apex == _NEXT else float(apex),
                float(options.get("offset", default_offset)))
    durations = [key for key in _DURATION_KEYS if key in options]
    if durations:
        raise _LineError(f"give phase durations ({', '.join(durations)}) or absolute times "
                         f"({', '.join(absolute)}), not both", key_columns[absolute[0]])
    missing = [key for key in _ABSOLUTE_KEYS if key not in options]
    if missing:
        raise _LineError(f"absolute phase times need apex_start, apex_end and end; missing "
                         f"{', '.join(missing)}", key_columns[absolute[0]])
    apex_start, apex_end, end = (options[key][0] for key in _ABSOLUTE_KEYS)
    for earlier, later, (first, second) in ((at, apex_start, ("the beat", "apex_start")),
                                            (apex_start, apex_end, ("apex_start", "apex_end")),
                                            (apex_end, end, ("apex_end", "end"))):
        if later < earlier:
            column = key_columns[second]
            raise _LineError(f"{second} ({later:g} s) comes before {first} ({earlier:g} s)", column)
    # Rounded to a picosecond, as AUEvent.from_times does, to drop binary noise.
    return (round(apex_start - at, 12), round(apex_end - apex_start, 12), round(end - apex_end, 12))


def _origin(start_line: tuple[int, _Token], fps: float, rate_given: bool) -> float:
    """Seconds of the ``start`` header's time, read at the file's fps (known by the first beat)."""
    line_number, token = start_line
    try:
        return _time(token, fps, "start", rate_given=rate_given)
    except _LineError as exc:
        raise _LineError(str(exc), exc.column, line_number) from None


def _since(seconds: float, origin: float, token: _Token, what: str = "time") -> float:
    """``seconds`` on the timeline: less the ``start`` origin (rounded to a picosecond, as phase
    times are, to drop binary noise); a time before the start is an error."""
    if not origin:
        return seconds
    if seconds < origin:
        raise _LineError(f"{what} {token.text} ({seconds:g} s) is before the start "
                         f"({origin:g} s): times are timecode from the 'start' line on",
                         token.column)
    return round(seconds - origin, 12)


def _misspelled_option(tokens: list[_Token]) -> None:
    """Raise for the first token that reads as a misspelled option keyword (``onest 8f``): the
    code then swallowed it and its value, and the code's own error would quote them all."""
    for token in tokens:
        close = difflib.get_close_matches(token.text.lower(), _OPTION_KEYS, n=1, cutoff=0.75)
        if close:
            raise _LineError(f"unknown option {shown(token.text)}: did you mean {close[0]!r}? "
                             f"(options: {', '.join(_OPTION_KEYS)})", token.column)


def _check_first_beat(token: _Token, text: str, has_start: bool, has_fps: bool,
                      fps: float) -> None:
    """What the first beat's time says about the header lines above it: a misspelled header
    (``fsp 24`` is no time), an ``fps`` line below the first beat, timecode an hour in without a
    ``start`` line (an edit's 01:00:00:00 read as an hour of rest)."""
    if token.text[:1].isalpha():
        close = _did_you_mean(token.text, _HEADER_KEYS)
        if close:
            raise _LineError(f"{shown(token.text)} is neither a time nor a header line{close}",
                             token.column)
    if not is_timecode(token.text):
        return
    if not has_fps:
        later = _fps_line(text)
        if later is not None:
            raise _LineError(f"timecode needs the file's frame rate first: the 'fps' line "
                             f"(line {later}) must come before the first beat", token.column)
        return
    if not has_start:
        try:
            seconds = parse_timecode(token.text, fps)
        except ValueError:
            return  # the beat's own reading says what is wrong with it
        if seconds >= _EDIT_HOUR:
            hour = token.text.split(":", 1)[0]
            raise _LineError(
                f"timecode {token.text} is {seconds / 3600:.2g} h in and the notes have no "
                f"'start' line, so the timeline would begin with {int(seconds // 3600)} h of "
                f"rest: add 'start {hour}:00:00:00' (the timecode of the first frame) above the "
                f"first beat, or 'start 00:00:00:00' to keep the rest", token.column)


def _did_you_mean(text: str, choices: tuple[str, ...]) -> str:
    """``": did you mean 'smooth'?"`` for a misspelled choice (the README promises it), else ''."""
    close = difflib.get_close_matches(text.lower(), choices, n=1, cutoff=0.6)
    return f": did you mean {close[0]!r}?" if close else ""


def _intensity(token: _Token, vocabulary: Vocabulary) -> float:
    """The ``intensity`` option's value: a plain number 0-1 (``0.55``; not ``55%``, ``nan`` or
    a duration). An intensity letter is written on the AU (``12D``): letters are not taken
    here, as the docs promise a number and a letter would give two ways to score one AU."""
    match = _QUANTITY.fullmatch(token.text)
    value = float(match["number"]) if match is not None and not match["unit"] else math.nan
    if 0.0 <= value <= 1.0:
        return value
    letters = vocabulary.scale().values
    hint = (f"; an intensity letter goes on the AU itself (12{token.text.upper()})"
            if token.text.upper() in letters else "")
    raise _LineError(f"intensity {shown(token.text)} must be a number 0-1 (such as 0.55){hint}",
                     token.column)


def _stray_after_code(line: str, code_tokens: list[_Token], vocabulary: Vocabulary) -> None:
    """Raise for the word after a complete code that is no option (``happiness for 2s``,
    ``6+12 hold 2``, ``happiness 2s``): the code swallowed it, and the code's own error quoted
    it as a term (``unrecognised term 'happiness for 2s' ... did you mean 'happiness'?``),
    hiding the cause. Nothing is raised when no leading part of the tokens is a whole code, or
    the next token continues it with ``+`` (then the code's own error is the right one)."""
    def parses(tokens: list[_Token]) -> bool:
        text = line[tokens[0].column - 1:tokens[-1].column - 1 + len(tokens[-1].text)]
        try:
            vocabulary.parse(text)
        except CodeParseError:
            return False
        return True

    # Longest first, and at most 32 tokens: a line of thousands of tokens is not parsed
    # thousands of times (its code's own error is then the message).
    for count in range(min(len(code_tokens) - 1, 32), 0, -1):
        if parses(code_tokens[:count]):
            break
    else:
        return
    last = code_tokens[count - 1]
    code = line[code_tokens[0].column - 1:last.column - 1 + len(last.text)]
    stray = code_tokens[count]
    if stray.text.startswith("+") or code.endswith("+"):
        return
    options = f"(options: {', '.join(_OPTION_KEYS)})"
    if is_timecode(stray.text):
        raise _LineError(f"{shown(stray.text)} after the code {code!r} is a time with no option "
                         f"word: absolute times go after apex_start, apex_end and end", stray.column)
    if _QUANTITY.fullmatch(stray.text):
        joined = f"; an AU joins the code with '+' ({code}+{stray.text})" if parses([stray]) else ""
        raise _LineError(f"{shown(stray.text)} after the code {code!r} is a duration with no "
                         f"option word: write onset, apex or offset before it (apex {stray.text})"
                         f"{joined}", stray.column)
    if parses([stray]):
        raise _LineError(f"{shown(stray.text)} after the code {code!r}: join codes with '+' "
                         f"({code}+{stray.text})", stray.column)
    raise _LineError(f"unknown option {shown(stray.text)} after the code {code!r} {options}",
                     stray.column)


def _unreached(code: Code, code_text: str, value: float, written: str,
               vocabulary: Vocabulary) -> str:
    """The message for an ``intensity`` that sets no AU of ``code`` (``contempt intensity 0.9``
    played R12C+R14C at C, as if it were not there), with the code that plays it: each
    lettered AU given the letter whose band holds the value, and the value itself in
    ``intensity`` when it is not that letter's (``R12D+R14D``; ``R12E+R14E intensity 0.95``)."""
    scale = vocabulary.scale()
    # Every lettered AU, and an unlettered blink or wink (which stays closed, unscored: its depth
    # needs its band's letter, 45C), takes the band's letter.
    terms = [replace(term, intensity=intensity_band_letter(vocabulary, term.au, value))
             if vocabulary.action_unit(term.au).drives and (
                 term.intensity is not None or not vocabulary.scores_intensity(term.au))
             else term for term in code]
    letters = {term.intensity for term in terms if term.intensity is not None
               and vocabulary.action_unit(term.au).drives}
    exact = len(letters) == 1 and np.float32(scale.letter_to_value(next(iter(letters)))) == np.float32(value)
    instead = format_code(Code(tuple(terms))) + ("" if exact else f" intensity {written}")
    named = code_text if code_text == format_code(code) else f"{code_text} ({format_code(code)})"
    return (f"intensity {written} changes no AU of {named}: it sets the AUs written without a "
            f"letter (but a blink or wink, which stays closed) and the lettered ones whose "
            f"letter's band holds it; write {instead} instead")


def _band(letter: str | None, au: int, vocabulary: Vocabulary) -> str | None:
    """The letter whose band holds an intensity, for ``au``: on a blink or wink (a depth FACS
    does not score) A's band reaches down to 0, so that a blink at any depth below full closure
    has a letter to carry it (``45A intensity 0.02``) and reads back as written."""
    return letter or ("A" if not vocabulary.scores_intensity(au) else None)


#: The first line the writer writes: its own, not the director's words (not read as a note).
HEADER_COMMENT = "facs-rig AU notes: time  code  phases (see docs/timeline-formats.md)"
#: Metadata key of the comments on header lines (``fps 24  # the edit's rate``): header keyword
#: -> comment text. The writer puts each back on its header line (one it does not write, such
#: as ``apex next`` or ``title``, on the ``duration`` line); JSON and ELAN carry them in the
#: timeline's metadata, not on a beat.
HEADER_COMMENTS_KEY = "header_comments"
#: Metadata key of the words of beats that hold only marks (``5  50  # she speaks``: codes that
#: drive nothing): a list of ``{"start", "end", "codes", "note", "comment"}`` (seconds of the
#: marks' span, their codes, and the note above the line and comment on it, each only when
#: given). The writer puts them back on the line of those marks.
MARK_COMMENTS_KEY = "mark_comments"


def _lines(text: str) -> Iterator[tuple[int, str, str | None]]:
    """``(number, line, comment)``: the line without its comment, and the comment's text
    (after ``#``, without the spaces around it; None without one), except on a ``title``
    line: there a ``#`` is part of the title (``title Take #3``), so a title line carries no
    comment."""
    for number, raw in enumerate(text.splitlines(), start=1):
        first = raw.split(None, 1)
        if first and first[0].lower() == "title":
            yield number, raw, None
        else:
            line, hash_sign, comment = raw.partition("#")
            yield number, line, comment.strip() if hash_sign else None


def _with_words(beat: tuple, expression: str | None, note: str | None,
                comment: str | None) -> tuple:
    """The beat's events carrying the words typed with it (its marks carry none)."""
    if expression is None and note is None and comment is None:
        return beat
    return tuple(replace(event, expression=expression, note=note, comment=comment)
                 for event in beat)


def _title_line(title: object) -> str | None:
    """The ``title`` header line of a title, or None when nothing of it can be written.

    A title on one line without surrounding whitespace is written as it is, ``#`` and runs of
    spaces included, and reads back the same. Other text (line breaks, which would end the
    header line, or whitespace at either end, which reading strips) is written with its
    whitespace runs as single spaces; a title of whitespace alone has no line ('title' needs a
    value).
    """
    text = str(title)
    if not (text == text.strip() and text.splitlines() == [text]):
        text = " ".join(text.split())
    return f"title {text}" if text else None


@dataclass(frozen=True)
class NeutralBeat:
    """A ``neutral`` (``0``) line of AU notes as read. It has no events of its own (the face
    returns to rest: ``rest``, :func:`facs_rig.core.timeline.take_over`), so the timeline does
    not keep it; a timeline sheet lays out a face for it all the same (the director typed the
    beat), read with ``parse_au_notes(..., neutral_out=[])``.

    Attributes
    ----------
    line : int
        Its line in the notes.
    rest : Rest
        Its time, the AUs it returns to rest and over how long.
    expression : str or None
        The code as typed when it names an expression (``neutral``), as an event keeps it.
    comment : str or None
        The words after ``#`` on its line.
    """

    line: int
    rest: Rest
    expression: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class _Beat:
    """A beat line as read: its timing, and where its events and marks are in the reader's
    lists (``first_event``, ``event_count``; ``first_mark``, ``mark_count``)."""

    line: int
    code_text: str
    at: float
    onset: float
    apex: float
    offset: float
    holds: bool  # 'apex next': its apex is resolved once the next beat is known (_hold)
    layers: frozenset[str]  # what it holds within (core.timeline.hold_layers)
    rest: Rest | None  # a neutral beat's: the face returns to rest (core.timeline.take_over)
    first_event: int
    event_count: int
    first_mark: int
    mark_count: int


def _hold(beats: list[_Beat], events: list[AUEvent], marks: list[CodeMark],
          duration: float | None, source: str, vocabulary: Vocabulary | None
          ) -> list[tuple[int, str, float]]:
    """Give each beat that holds (``apex next``) its apex, in place in ``events`` and
    ``marks``, and return each beat's ``(line, code, end)`` for :func:`_note_cut_off`.

    A beat that holds keeps its apex until the next beat with a later time in one of its layers
    starts (:func:`facs_rig.core.timeline.next_beat_times`: a blink, a wink, a head turn or a
    glance does not end a held expression; beats at the same time are one moment), where its
    offset starts (:func:`facs_rig.core.timeline.hold_until`); the last one of its layers holds
    to the ``duration`` header when there is one, else it keeps the default apex it was built
    with. Held to the duration,
    its fall lies past the end by request, so its end for the cut-off note is its apex's end
    (the note is then only for a beat that starts its hold after the duration).

    With a ``vocabulary`` (FACS's rules apply: not a measured timeline), a held event or mark
    FACS cannot score beside an item of the next beat (``51 apex next`` then ``52``) ends its
    fall where the next beat starts (:func:`facs_rig.core.timeline.meeting_next`).
    """
    ends: list[tuple[int, str, float]] = []
    holds_until = next_beat_times([beat.at for beat in beats], [beat.layers for beat in beats])
    for index, (beat, until) in enumerate(zip(beats, holds_until)):
        at, onset, apex, offset = beat.at, beat.onset, beat.apex, beat.offset
        held_to = until if until is not None else duration
        to_duration = beat.holds and until is None and duration is not None
        end = at + onset + apex + (0.0 if to_duration else offset)
        if beat.holds and held_to is not None:
            apex = hold_until(at, onset, held_to)
            event_span = slice(beat.first_event, beat.first_event + beat.event_count)
            mark_span = slice(beat.first_mark, beat.first_mark + beat.mark_count)
            try:
                events[event_span] = [replace(event, apex=apex) for event in events[event_span]]
                marks[mark_span] = [replace(mark, end=at + onset + apex + offset)
                                    for mark in marks[mark_span]]
            except FacsRigError as exc:  # an end past the largest float
                raise TimelineFormatError(f"{source}, line {beat.line}: {exc}") from None
            end = at + onset + apex + (0.0 if to_duration else offset)
            if vocabulary is not None and until is not None:
                next_items: list[AUEvent | CodeMark] = []
                for later in beats[index + 1:]:  # the next beat: every beat at its time
                    if later.at > until:
                        break
                    if later.at == until:
                        next_items += events[later.first_event:later.first_event + later.event_count]
                        next_items += marks[later.first_mark:later.first_mark + later.mark_count]
                met = meeting_next(events[event_span] + marks[mark_span], until, next_items,
                                   vocabulary)
                events[event_span] = met[:beat.event_count]
                marks[mark_span] = met[beat.event_count:]
                end = max((item.end for item in met), default=end)
        if beat.rest is not None:  # neutral: the face is at rest once its fall is over
            end = at + (beat.rest.fall or 0.0)
        ends.append((beat.line, beat.code_text, end))
    return ends


def _coded_events(code: Code, options: dict, at: float, onset: float, apex: float, offset: float,
                  vocabulary: Vocabulary) -> tuple[AUEvent, ...]:
    """The events of one beat's code with its phases and options."""
    both = options.get("ease", DEFAULT_EASING)
    beat = events_from_code(
        code, vocabulary, at=at, onset=onset, apex=apex, offset=offset,
        ease_in=str(options.get("ease_in", both)), ease_out=str(options.get("ease_out", both)),
        intensity=options.get("intensity"))  # type: ignore[arg-type]
    if "intensity" in options:
        # An explicit intensity in a lettered AU's own band is that letter measured
        # finely (7E intensity 0.907): it keeps the letter and takes the number. One
        # outside the band (6+12D intensity 0.3) is for the unlettered AUs only, but
        # not an unlettered blink or wink (45: present, so closed; events_from_code).
        value = float(options["intensity"])
        band = vocabulary.scale().value_to_letter(value)
        beat = tuple(replace(event, intensity=value)
                     if event.letter is not None and event.letter == _band(
                         band, event.channel.au, vocabulary) else event
                     for event in beat)
    # FACS scores no letter on a blink or wink: on 45B it marks a depth only, and no
    # writer writes it back (Vocabulary.letter_of).
    beat = tuple(replace(event, letter=None) if not vocabulary.scores_intensity(event.channel.au)
                 else event for event in beat)
    return beat


def parse_au_notes(text: str, vocabulary: Vocabulary, *, source: str = "AU notes",
                   warnings_out: list[str] | None = None,
                   neutral_out: list[NeutralBeat] | None = None) -> Timeline:
    """Parse AU notes text into a timeline; given ``neutral_out``, each ``neutral`` line's
    :class:`NeutralBeat` (which the timeline does not keep) is appended to it, in time order.

    What the text keeps but may not mean (a ``duration`` that cuts a beat off) is warned
    (:class:`~facs_rig.errors.FacsRigWarning`, which the CLI prints as a ``facs-rig: note:``
    line); given ``warnings_out``, each message is appended to it instead (the studio shows
    them on its page, and a server's threads do not share the warnings filter).

    Raises
    ------
    TimelineFormatError
        ``"<source>, line 3, column 14: unknown action unit 99 ..."``: the source, the line
        (and column when known) and the problem: unknown AU or expression, negative duration,
        timecode frame not below the fps, a time earlier than the previous beat, an unknown
        option, a header after the first beat.
    """
    fps = DEFAULT_FPS
    duration: float | None = None
    metadata: dict[str, str] = {}
    events: list[AUEvent] = []
    marks: list[CodeMark] = []  # the codes that drive nothing (50, 74): kept over the beat
    event_lines: list[int] = []  # the line of each event and mark, for the overlap check
    mark_lines: list[int] = []
    previous: tuple[float, int] | None = None
    parsed_codes: dict[str, Code] = {}  # beat sheets repeat their codes
    seen_beat = False
    header_lines: dict[str, int] = {}
    duration_line: tuple[int, _Token] | None = None
    start_line: tuple[int, _Token] | None = None
    origin = 0.0
    hold_all = False  # the 'apex next' header: every beat without its own apex holds
    overlap = "replace"
    # Each beat's timing and where its events and marks are in the lists: 'apex next' needs the
    # next beat's time (and the last one the duration), known only once every beat is read.
    beats: list[_Beat] = []
    # The director's words: comment lines above a beat become its note; a comment on a beat's
    # line, its comment; those after the last beat, the timeline's metadata["comment"]. Those
    # on a header line, and a marks-only beat's (its note and comment), stay where they were:
    # metadata[HEADER_COMMENTS_KEY] and [MARK_COMMENTS_KEY], which the writer puts back on
    # their lines (they joined the next beat's note, and moved there on every round trip).
    note_lines: list[str] = []
    header_comments: dict[str, str] = {}
    mark_words: list[tuple[int, str | None, str | None]] = []  # (beat index, note, comment)
    neutral: list[NeutralBeat] = []  # for neutral_out, once the whole text has read
    for line_number, line, comment_text in _lines(text):
        tokens = _tokens(line)
        if not tokens:
            if comment_text is not None and not (comment_text == HEADER_COMMENT
                                                 and line_number == 1):
                note_lines.append(comment_text)
            continue
        if comment_text is not None and tokens[0].text.lower() in _HEADER_KEYS:
            header_comments[tokens[0].text.lower()] = comment_text  # each header is once
        try:
            keyword = tokens[0].text.lower()
            if keyword in _HEADER_KEYS:
                if len(tokens) < 2:
                    raise _LineError(f"'{keyword}' needs a value", tokens[0].column)
                if keyword in header_lines:
                    # The later line would silently win: a second 'fps 30' above a file of
                    # 24 fps timecodes moves every beat.
                    raise _LineError(f"'{keyword}' given twice: it is already set on line "
                                     f"{header_lines[keyword]}", tokens[0].column)
                header_lines[keyword] = line_number
                if keyword == "title":
                    metadata["title"] = line[tokens[1].column - 1:].strip()
                elif keyword == "measured":
                    # Events measured from a capture (retarget, code): not a coding, so the
                    # overlap rule below is not applied (timeline.MEASURED_KEY).
                    metadata[MEASURED_KEY] = line[tokens[1].column - 1:].strip()
                elif len(tokens) > 2:
                    raise _LineError(f"unexpected {shown(tokens[2].text)} after {keyword} value",
                                     tokens[2].column)
                elif keyword == "start":
                    # The timecode of 0 s: editorial timecode often starts at 01:00:00:00, and
                    # beats typed against it would otherwise sit after an hour of nothing.
                    if seen_beat:
                        raise _LineError("'start' must come before the first beat", tokens[0].column)
                    start_line = (line_number, tokens[1])
                    metadata["start"] = tokens[1].text
                elif keyword in ("apex", "overlap"):
                    # Defaults for the beats below, so before them (as 'fps'): a default that
                    # changed half-way would hold some beats and not others without a word.
                    if seen_beat:
                        raise _LineError(f"'{keyword}' must come before the first beat",
                                         tokens[0].column)
                    value = tokens[1].text.lower()
                    if keyword == "apex":
                        if value != _NEXT:
                            raise _LineError(
                                f"the header 'apex' takes only 'next' (every beat holds its apex "
                                f"until the next beat), not {shown(tokens[1].text)}: a beat's own "
                                f"apex goes on its line", tokens[1].column)
                        hold_all = True
                    elif value not in _OVERLAPS:
                        raise _LineError(f"overlap {shown(tokens[1].text)} is not one of "
                                         f"{', '.join(_OVERLAPS)}"
                                         f"{_did_you_mean(tokens[1].text, _OVERLAPS)}",
                                         tokens[1].column)
                    else:
                        overlap = value
                elif keyword == "fps":
                    if seen_beat:
                        raise _LineError("'fps' must come before the first beat", tokens[0].column)
                    if _QUANTITY.fullmatch(tokens[1].text) is None or tokens[1].text[-1:].isalpha():
                        raise _LineError(f"fps {shown(tokens[1].text)} must be a positive number "
                                         f"of frames per second (24, 29.97)", tokens[1].column)
                    fps = _quantity(tokens[1], 1.0, "fps")
                    if fps <= 0:
                        raise _LineError(f"fps {shown(tokens[1].text)} must be a positive number",
                                         tokens[1].column)
                else:
                    # Read at the end, at the file's fps: 'duration 48f' above 'fps 24' is 2 s
                    # (read here it was 48 frames at the default 30 fps, 1.6 s).
                    duration_line = (line_number, tokens[1])
                continue
            if not seen_beat:
                _check_first_beat(tokens[0], text, start_line is not None,
                                  "fps" in header_lines, fps)
            if not seen_beat and start_line is not None:
                origin = _origin(start_line, fps, "fps" in header_lines)
            seen_beat = True
            at = _since(_time(tokens[0], fps, rate_given="fps" in header_lines), origin, tokens[0])
            if previous is not None and at < previous[0]:
                raise _LineError(f"time {tokens[0].text} ({at:g} s) goes backwards: the beat on "
                                 f"line {previous[1]} is at {previous[0]:g} s", tokens[0].column)
            previous = (at, line_number)
            code_tokens: list[_Token] = []
            index = 1
            while index < len(tokens) and tokens[index].text.lower() not in _OPTION_KEYS:
                code_tokens.append(tokens[index])
                index += 1
            if not code_tokens:
                raise _LineError("missing a FACS code or expression name after the time",
                                 tokens[0].column)
            options: dict[str, float | str] = {}
            while index < len(tokens):
                key_token = tokens[index]
                key = key_token.text.lower()
                if key not in _OPTION_KEYS:
                    raise _LineError(f"unknown option {shown(key_token.text)} (expected "
                                     f"{', '.join(_OPTION_KEYS)})", key_token.column)
                if key in options:
                    raise _LineError(f"option {key!r} given twice", key_token.column)
                if index + 1 >= len(tokens):
                    raise _LineError(f"option {key!r} needs a value", key_token.column)
                value_token = tokens[index + 1]
                if key == "apex" and value_token.text.lower() == _NEXT:
                    options[key] = _NEXT
                    apex_next_column = value_token.column
                elif key in _DURATION_KEYS:
                    options[key] = _quantity(value_token, fps, key)
                elif key in _ABSOLUTE_KEYS:
                    options[key] = (_since(_time(value_token, fps, key,
                                                 rate_given="fps" in header_lines),
                                           origin, value_token, key),
                                    value_token.column)
                elif key in _EASE_KEYS:
                    if value_token.text.lower() not in EASINGS:
                        raise _LineError(f"easing {shown(value_token.text)} is not one of "
                                         f"{', '.join(EASINGS)}{_did_you_mean(value_token.text, EASINGS)}",
                                         value_token.column)
                    options[key] = value_token.text.lower()
                else:
                    options[key] = _intensity(value_token, vocabulary)
                    intensity_token = value_token
                index += 2
            code_start = code_tokens[0].column
            code_text = line[code_start - 1:code_tokens[-1].column - 1 + len(code_tokens[-1].text)]
            code = parsed_codes.get(code_text)
            if code is None:
                try:
                    code = parsed_codes[code_text] = vocabulary.parse(code_text)
                except CodeParseError as exc:
                    _misspelled_option(code_tokens[1:])
                    _stray_after_code(line, code_tokens, vocabulary)
                    column = code_start + exc.column - 1 if exc.column else code_start
                    raise _LineError(str(exc), column) from None
            if "intensity" in options and not intensity_reaches(
                    code, vocabulary, float(options["intensity"])):
                raise _LineError(_unreached(code, code_text, float(options["intensity"]),
                                            intensity_token.text, vocabulary),
                                 intensity_token.column)
            onset, apex, offset = _phases(options, at, default_phases(code))
            layers = hold_layers(code, vocabulary)
            momentary = layers == {"momentary"}
            if momentary and options.get("apex") == _NEXT:
                raise _LineError(momentary_hold_problem(code, code_text), apex_next_column)
            # A blink or wink is momentary: the 'apex next' header does not hold it.
            holds = options.get("apex") == _NEXT or (
                hold_all and not momentary and "apex" not in options
                and not any(key in options for key in _ABSOLUTE_KEYS))
            # A beat that holds is built with the default apex, and given its held one below.
            beat = _coded_events(code, options, at, onset, apex, offset, vocabulary)
            beat_marks = marks_from_code(code, vocabulary, at=at, end=at + onset + apex + offset)
            if beat:
                beat = _with_words(beat, code_text if names_expression(code_text, vocabulary)
                                   else None, "\n".join(note_lines) if note_lines else None,
                                   comment_text)
                note_lines = []
            elif beat_marks:  # a marks-only beat (5  50): its words are kept with its marks
                if note_lines or comment_text is not None:
                    mark_words.append((len(beats), "\n".join(note_lines) if note_lines else None,
                                       comment_text))
                note_lines = []
            elif comment_text:  # a beat of nothing (0, neutral): no line is written for it
                note_lines.append(comment_text)
            # 0 (neutral) takes over the face: it returns to rest, over the beat's onset if
            # given ('neutral onset 1': relax in a second), else each event's own offset.
            rest = (face_rest(vocabulary, at, float(options["onset"]) if "onset" in options
                              else None) if not code.aus else None)
            if rest is not None:
                neutral.append(NeutralBeat(line_number, rest, code_text if names_expression(
                    code_text, vocabulary) else None, comment_text))
            beats.append(_Beat(line_number, code_text, at, onset, apex, offset, holds, layers, rest,
                               len(events), len(beat), len(marks), len(beat_marks)))
            events.extend(beat)
            event_lines.extend([line_number] * len(beat))
            marks.extend(beat_marks)
            mark_lines.extend([line_number] * len(beat_marks))
        except _LineError as exc:
            where = f"line {exc.line or line_number}" + (f", column {exc.column}" if exc.column else "")
            raise TimelineFormatError(f"{source}, {where}: {exc}") from None
        except FacsRigError as exc:
            raise TimelineFormatError(f"{source}, line {line_number}: {exc}") from None
    if start_line is not None and not seen_beat:
        try:  # with beats it was read at the first one; without, 'start abc' would pass unread
            origin = _origin(start_line, fps, "fps" in header_lines)
        except _LineError as exc:
            raise TimelineFormatError(f"{source}, line {start_line[0]}, column {exc.column}: "
                                      f"{exc}") from None
    if origin == 0.0:
        # 'start 00:00:00:00' says only that timecode an hour in is meant (_check_first_beat):
        # the timeline is the one without it, and the writer writes it back where it is needed.
        metadata.pop("start", None)
    if duration_line is not None:
        line_number, token = duration_line
        try:
            duration = _time(token, fps, "duration", rate_given="fps" in header_lines)
            if start_line is not None and ":" in token.text and origin > 0 and duration >= origin:
                # A timecode at or past the start reads as the end of the edit, but 'duration' is
                # a length: taken as given it put the hour of nothing back that 'start' removes.
                raise _LineError(
                    f"duration {token.text} is a length, not an end timecode: with start "
                    f"{start_line[1].text} it would make the timeline {duration:g} s long; give "
                    f"the length (e.g. duration {duration - origin:g}s)", token.column)
        except _LineError as exc:
            raise TimelineFormatError(f"{source}, line {line_number}, column {exc.column}: {exc}") from None
    notes = [_names_at_one_time(source, beats, vocabulary)]
    # A held beat meets the next where FACS's rules apply (not on a measured timeline).
    beat_ends = _hold(beats, events, marks, duration, source,
                      None if MEASURED_KEY in metadata else vocabulary)
    if (overlap == "replace" and len(beats) > 1) or any(beat.rest for beat in beats):
        # Each beat takes over the channels it names from the beats before it (with 'overlap
        # max' only a neutral beat ends anything); the lines of the events kept are kept beside
        # them, for the overlap check's message.
        kept = take_over_indexed((beat.rest or events[beat.first_event:beat.first_event
                                                      + beat.event_count] for beat in beats),
                                 channels=overlap == "replace")
        events = [event for _, event in kept]
        event_lines = [event_lines[index] for index, _ in kept]
    if duration_line is not None and duration is not None:
        end = max(max((event.end for event in events), default=0.0),
                  max((mark.end for mark in marks), default=0.0))
        if duration != end and round(end, 9) == duration:
            # The last event's end, written to the nanosecond as every time (the writer's default
            # duration): the same instant (TIME_TOLERANCE), read as that end exactly, so that a
            # timeline on frames at 29.97 fps reads back as it was.
            duration = end
        notes.append(_note_cut_off(source, line_number, token.text, duration, beat_ends))
    for note in notes:
        if note is not None:
            if warnings_out is None:
                warnings.warn(FacsRigWarning(note), stacklevel=2)
            else:
                warnings_out.append(note)
    if note_lines:
        metadata["comment"] = "\n".join(note_lines)
    if header_comments:
        metadata[HEADER_COMMENTS_KEY] = header_comments
    if mark_words:
        # The span the beat's marks have once holds are resolved (apex next), as written back.
        metadata[MARK_COMMENTS_KEY] = [
            _mark_words_entry(marks[beats[index].first_mark:
                                    beats[index].first_mark + beats[index].mark_count], note, comment)
            for index, note, comment in mark_words]
    if "fps" not in header_lines:
        # Read at the default rate, which nobody stated: timecode typed against this timeline
        # later (preview --at) is refused as the file's own timecode is (timeline_time).
        metadata[FPS_STATED_KEY] = False
    if coding_problem(events, vocabulary, fps=fps, marks=marks, metadata=metadata):
        # Again with each item's line, built only now (a beat sheet of 1000 beats pays nothing).
        problem = coding_problem(events, vocabulary, fps=fps, marks=marks, metadata=metadata,
                                 labels=[f"line {number}" for number in event_lines + mark_lines])
        raise TimelineFormatError(f"{source}: {problem}")
    try:
        timeline = Timeline(tuple(events), duration, fps, metadata, tuple(marks))
    except TimelineError as exc:
        raise TimelineFormatError(f"{source}: {exc}") from None
    if neutral_out is not None:
        neutral_out.extend(neutral)
    return timeline


def _names_at_one_time(source: str, beats: list[_Beat], vocabulary: Vocabulary) -> str | None:
    """The note (:class:`FacsRigWarning`) when two beats at one time each name an expression
    (``5 anger`` and ``5
    happiness``): beats at one time are one moment, so their AUs play as one face (a smile under
    a furrowed brow), which a director who typed two names at one timecode rarely meant; one
    line (``anger + happiness``) says it was meant. Only the first such time is named."""
    named = [beat for beat in beats
             if beat.rest is None and names_expression(beat.code_text, vocabulary)]
    for earlier, later in zip(named, named[1:]):
        if later.at == earlier.at:
            return (f"{source}, lines {earlier.line} and {later.line}: {earlier.code_text} and "
                    f"{later.code_text} are at the same time ({earlier.at:g} s), so they play "
                    f"as one face; write them on one line ({earlier.code_text} + "
                    f"{later.code_text}) if that is meant, or move one")
    return None


def _mark_words_entry(beat_marks: list[CodeMark], note: str | None,
                      comment: str | None) -> dict:
    """A marks-only beat's words as :data:`MARK_COMMENTS_KEY` holds them: its marks' span and
    codes, and its note and comment (each only when it has one)."""
    entry: dict = {"start": beat_marks[0].start, "end": beat_marks[0].end,
                   "codes": sorted({mark.code for mark in beat_marks})}
    if note is not None:
        entry["note"] = note
    if comment is not None:
        entry["comment"] = comment
    return entry


def _note_cut_off(source: str, line_number: int, written: str, duration: float,
                  beat_ends: list[tuple[int, str, float]]) -> str | None:
    """The warning (:class:`FacsRigWarning`; the CLI prints it as a ``facs-rig: note:`` line)
    when the ``duration`` header ends the timeline before a beat ends: the timeline model cuts such events
    off when sampled (docs/timeline-formats.md, Timelines), which a trimmed timeline from another
    format needs to keep when written as notes and read back, but a typed ``duration 2`` above
    a beat running to 4.8 s lost the rest silently."""
    # A beat's end is its time plus three phases, each written to the nanosecond
    # (TIME_TOLERANCE): their sum can be a few nanoseconds from the duration written for the
    # same instant (a capture's 34.8333... s read back warned), so ten of them are the same end.
    past = [(line, code, end) for line, code, end in beat_ends
            if end > duration + 10 * TIME_TOLERANCE]
    if not past:
        return None
    line, code, end = max(past, key=lambda beat: beat[2])
    others = f" (and {len(past) - 1} other beat{'s' if len(past) > 2 else ''})" if len(past) > 1 else ""
    return (f"{source}, line {line_number}: duration {written} ({duration:g} s) cuts off the beat "
            f"on line {line} ({code}), which runs to {end:g} s{others}: it plays only to "
            f"{duration:g} s (a longer duration, or none, plays it whole)")


def _seconds(value: float) -> str:
    """Shortest text that reads back as exactly ``value`` (``1``, ``0.3``, ``2.25``), for the
    header's fps and duration."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _time_text(value: float, fps: float) -> str:
    """A beat time or phase duration in the shortest text that keeps it to the timeline's
    precision, the nanosecond (:data:`facs_rig.core.timeline.TIME_TOLERANCE`: times closer
    than that are the same instant): exactly when that is short (``0.3``, ``2.25``); as whole
    frames when it is an exact frame count at ``fps`` (``8f`` for 1/3 s at 24 fps, read back
    exactly); else rounded to the nanosecond (an offset of ``0.287936539023`` s from a capture,
    a difference of frame times rounded to a picosecond, is ``0.287936539``)."""
    exact = _seconds(value)
    rounded = _seconds(round(float(value), 9))
    if rounded == exact:
        return exact
    frames = value * fps
    if math.isfinite(frames) and round(frames) / fps == value:
        return f"{round(frames)}f"
    return rounded


def float32_text(value: float) -> str:
    """The shortest text that reads back as the same float32, the precision rig weights have
    (``0.17100000381469727``, a float32 tracker value widened to a double, is ``0.171``): how
    AU notes and ELAN files write a free intensity."""
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def written_intensity(vocabulary: Vocabulary, au: int, letter: str | None,
                      value: float) -> tuple[str | None, str | None]:
    """How the notes write an AU with ``letter`` (or none) that drives ``value`` (0-1):
    ``(letter written, intensity option text)``, either None when not written.

    No letter where FACS scores no intensity (AU45 blink, AU46 wink: FACS 2002 scores them
    present only; unlettered they play at E, whatever a line's ``intensity``), except on a blink
    below full closure: it carries the letter of its depth's band (``45B``,
    ``45D intensity 0.8``; A's band reaches down to 0 for it, :func:`_band`). A value that is not
    the letter's (nor, unlettered, the unscored value) goes in an ``intensity`` option, in the
    shortest text that reads back as the same float32, with the letter only when the value lies
    in its band (a letter against its value, 12D at 0.3, would read back as D). The writer
    (:func:`format_au_notes`) and the studio's "insert at playhead" both letter an AU with this.
    """
    scale = vocabulary.scale()
    letter = vocabulary.letter_of(au, letter)
    drives = np.float32(value)  # what drives the rig
    if letter is not None and drives == np.float32(scale.letter_to_value(letter)):
        return letter, None
    if letter is None and drives == np.float32(scale.letter_to_value(
            vocabulary.unlettered_letter(au))):  # C, or E for AU45/46
        return None, None
    text = float32_text(value)
    if not vocabulary.scores_intensity(au):
        # A blink below full closure: '45' alone closes the eye whatever the line's intensity.
        letter = _band(scale.value_to_letter(float(text)), au, vocabulary)
        return letter, (None if drives == np.float32(scale.letter_to_value(letter)) else text)
    if letter is not None and scale.value_to_letter(float(text)) != letter:
        letter = None
    return letter, text


def _term(event: AUEvent, letter: str | None) -> str:
    return f"{event.channel.side or ''}{event.channel.au}{letter or ''}"


def _beat_time(seconds: float, fps: float, timecode: bool) -> str:
    """Seconds, or SMPTE timecode when asked and it reads back as the same time (to the
    nanosecond, as seconds are written)."""
    if timecode:
        text = format_timecode(seconds, fps)
        try:
            read = parse_timecode(text, fps)
            if read == seconds or round(read, 9) == round(seconds, 9):
                return text
        except ValueError:  # no HH:MM:SS:FF spelling (1e9 fps, 1000 hours): keep seconds
            pass
    return _time_text(seconds, fps)


def _duration(seconds: float, fps: float, frames: bool) -> str:
    """Seconds, as :func:`_time_text` writes them; or, when asked, a whole number of frames
    (``8f``) for every duration that is an exact frame count but long in decimal."""
    if frames and len(_seconds(seconds)) > 6:
        count = round(seconds * fps)
        if count / fps == seconds:
            return f"{count}f"
    return _time_text(seconds, fps)


def format_au_notes(timeline: Timeline, vocabulary: Vocabulary, *, timecode: bool = False) -> str:
    """AU notes text of a timeline: events sharing a start, phases and easing share a line.

    With ``timecode``, beat times that fall exactly on a frame of the timeline's fps are written
    as ``HH:MM:SS:FF`` and such durations as frames (``8f``); other times stay in seconds (to the
    nanosecond, as below).

    Lettered events write their letter (never AU45's coded letter, whose intensity FACS does not
    score; a blink below full closure is written with its band's letter, ``45B``, since ``45``
    alone reads back closed whatever the line's ``intensity``);
    an intensity that is not its letter's value (nor, unlettered, the unscored value) goes in
    an ``intensity`` option, in the shortest text that reads back as the same float32, with
    the letter when it lies in that letter's band (``7E ... intensity 0.907``). Beat times and
    durations are written to the nanosecond, the timeline's precision, and so is the header's
    duration; its fps exactly (no ``fps`` line for a timeline read from notes without one,
    :data:`~facs_rig.core.timeline.FPS_STATED_KEY`, unless ``timecode``). Reading the text
    back gives the same timeline to those precisions, and writing that again gives the same
    text. Metadata other than ``title``, ``start``,
    ``events_from`` (``measured``), :data:`~facs_rig.core.timeline.FPS_STATED_KEY`, the
    words (``comment``, :data:`HEADER_COMMENTS_KEY`, :data:`MARK_COMMENTS_KEY`) is not carried
    (use JSON for that).

    Raises
    ------
    TimelineFormatError
        When an event's channel is not a FACS code of the vocabulary (AU notes carry codes).
    """
    origin = notes_origin(timeline)  # beat times are written from the 'start' header's time
    lines: list[dict] = []
    lines_by_key: dict[tuple, list[dict]] = {}
    written, context, _, start = _written_events(timeline, vocabulary, timecode)
    named = _named_lines(written, context, vocabulary)
    for index, (event, letter, intensity_text, timing) in enumerate(written):
        if index in named:
            beat = named[index]
            if beat not in lines:
                lines.append(beat)
            continue
        # The director's words: beats with other words are other lines.
        key = (*timing, intensity_text, (None, event.note, event.comment))
        term = CodedAU(event.channel.au, event.channel.side, letter)
        # Same timing, and no AU already on the line in any side (12 and L12 cannot share a
        # code, and 12 twice would collapse into one event), nor one FACS does not score with
        # it in one code (51 and 52 at the same times are two lines: each reads back).
        candidates = lines_by_key.setdefault(key, [])
        for beat in candidates:
            if event.channel.au not in beat["aus"] and not any(
                    combination_problem(term, other, vocabulary) for other in beat["coded"]):
                break
        else:
            beat = {"key": key, "aus": set(), "terms": [], "coded": [],
                    "span": (event.start, event.end), "events": []}
            candidates.append(beat)
            lines.append(beat)
        beat["events"].append(event)
        beat["aus"].add(event.channel.au)
        beat["terms"].append(_term(event, letter))
        beat["coded"].append(term)
    # Marks (50 speech, 74 unscorable: codes that drive nothing) join the line of a beat over the
    # same span, as the coder wrote them (1.0  6+12+50), else a line of their own whose apex is
    # the span; either reads back as the same mark.
    # In the order of the written precision, so that the text read back writes the same.
    mark_words, mark_entries = _mark_words(timeline.metadata.get(MARK_COMMENTS_KEY))
    placed: set[int] = set()  # the entries of mark_words put on a line
    for mark in sorted(timeline.marks, key=lambda m: (round(m.start, 9), m.code, round(m.end, 9))):
        term = CodedAU(mark.code)
        said = mark_words.get((round(mark.start, 9), round(mark.end, 9), mark.code))

        def takes(beat: dict, mark=mark, term=term) -> bool:  # this mark's, bound now
            # Not a named line: 'surprise+50' would read back as another name.
            return "named" not in beat and mark.code not in beat["aus"] and not any(
                combination_problem(term, other, vocabulary) for other in beat["coded"])

        # Marks with words of their own keep a line of their own (on a beat's line, their
        # comment would read back as the beat's).
        beat = None if said is not None else next(
            (beat for beat in lines if beat["span"] == (mark.start, mark.end) and takes(beat)), None)
        if beat is None:
            # A line of its own, keyed by its text as the events' lines: marks whose times
            # agree to the nanosecond share it (and their words: _MARKS keeps them off the
            # events' lines of the same text).
            words = (None, None, None) if said is None else (_MARKS, said[1], said[2])
            if said is not None:
                placed.add(said[0])
            key = (_beat_time(mark.start + origin, timeline.fps, timecode), "0",
                   _duration(mark.end - mark.start, timeline.fps, timecode), "0",
                   DEFAULT_EASING, DEFAULT_EASING, None, words)
            candidates = lines_by_key.setdefault(key, [])
            beat = next((beat for beat in candidates if takes(beat)), None)
            if beat is None:
                beat = {"key": key, "aus": set(), "terms": [], "coded": [],
                        "span": (mark.start, mark.end), "events": []}
                candidates.append(beat)
                lines.append(beat)
        beat["aus"].add(mark.code)
        beat["terms"].append(str(mark.code))
        beat["coded"].append(term)
    if timeline.marks:  # the marks' own lines among the beats, in time (as ``ordered`` keys it)
        lines.sort(key=lambda beat: round(beat["span"][0], 9))
    out = ["# facs-rig AU notes: time  code  phases (see docs/timeline-formats.md)"]
    title = _title_line(timeline.metadata["title"]) if "title" in timeline.metadata else None
    if title is not None:
        out.append(title)
    header_comments = _header_comments(timeline.metadata.get(HEADER_COMMENTS_KEY))
    written_headers: dict[str, int] = {}  # keyword -> index in out, for its comment
    if MEASURED_KEY in timeline.metadata:
        # One line, no comment sign: what the reader reads back (its text is provenance only).
        measured = " ".join(str(timeline.metadata[MEASURED_KEY]).replace("#", " ").split())
        written_headers["measured"] = len(out)
        out.append(f"measured {measured or 'from a capture'}")
    if not (timeline.metadata.get(FPS_STATED_KEY) is False and timeline.fps == DEFAULT_FPS
            and not timecode):
        # Notes read without an fps line are written without one, and read back so: their
        # rate stays one nobody stated (FPS_STATED_KEY), which timecode cannot be typed against.
        written_headers["fps"] = len(out)
        out.append(f"fps {_seconds(timeline.fps)}")
    if start:
        written_headers["start"] = len(out)
        out.append(f"start {start}")
    # To the nanosecond as every other time (its default, the last event's end, is a sum of
    # times: 10.5105105... + 1.8 at 29.97 fps wrote 'duration 12.310510510510511'). The events'
    # end in seconds only: the reader takes it as the end of the events it reads, which may be
    # a frame count where this one was not ('7f' the second time round).
    end = max(max((event.end for event in timeline.events), default=0.0),
              max((mark.end for mark in timeline.marks), default=0.0))
    written_headers["duration"] = len(out)
    out.append("duration " + (_seconds(round(timeline.duration, 9)) if timeline.duration == end
                              else _duration(timeline.duration, timeline.fps, timecode)))
    # Read back, each line takes over the AUs it names from the lines above it (take_over): a
    # timeline whose events of one AU overlap at their apex (a capture's pieces, a JSON file's
    # events, two lanes of ELAN) says that its overlaps combine by maximum, and reads back as it was.
    on_lines = [event for beat in lines for event in beat["events"]]
    kept = take_over(beat["events"] for beat in lines)
    if len(kept) != len(on_lines) or any(a is not b for a, b in zip(kept, on_lines)):
        written_headers["overlap"] = len(out)
        out.append("overlap max")
    # Each header comment back on its line; those of headers not written (title, whose line
    # holds no comment; apex next, resolved into each beat's apex) on the duration line.
    unwritten = [text for keyword, text in header_comments.items()
                 if keyword not in written_headers or keyword == "duration"]
    for keyword, index in written_headers.items():
        words = unwritten if keyword == "duration" else [header_comments.get(keyword)]
        words = [text for text in words if text is not None]
        if words:
            out[index] += "  " + _comment_line("; ".join(words))
    rows = []
    for beat in lines:
        _, note, comment = beat["key"][7]  # the words (the expression is in "terms")
        rows.append((beat["key"][0], "+".join(beat["terms"]), _options_text(beat["key"]), note,
                     comment))
    time_width = max((len(row[0]) for row in rows), default=0)
    code_width = max((len(row[1]) for row in rows), default=0)
    for time, code, options, note, comment in rows:
        if note is not None:
            out.extend(_comment_line(line) for line in note.split("\n"))
        out.append(f"{time:<{time_width}}  {code:<{code_width}}  {options}"
                   + ("" if comment is None else "  " + _comment_line(comment)))
    for index, note, comment in mark_entries:
        if index not in placed:  # no marks of theirs any more: kept, as words after the beats
            out.extend(_comment_line(line) for line in (note or "").splitlines())
            if comment is not None:
                out.append(_comment_line(comment))
    if "comment" in timeline.metadata:  # the words after the last beat
        out.extend(_comment_line(line) for line in str(timeline.metadata["comment"]).splitlines())
    return "\n".join(out) + "\n"


#: The words slot of a marks line's key (``_MARKS``, note, comment): never an expression, so a
#: marks line with words shares no line with events whose words are the same.
_MARKS = object()


def _header_comments(value: object) -> dict[str, str]:
    """:data:`HEADER_COMMENTS_KEY` metadata as the writer uses it: keyword -> one line of text
    (a timeline from JSON may hold anything there: what is not a mapping of text is left out)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(keyword): " ".join(str(text).splitlines()) for keyword, text in value.items()
            if isinstance(text, str)}


def _mark_words(value: object) -> tuple[dict[tuple[float, float, int], tuple[int, str | None,
                                                                          str | None]],
                                         list[tuple[int, str | None, str | None]]]:
    """:data:`MARK_COMMENTS_KEY` metadata by ``(start, end, code)`` (times to the nanosecond,
    the written precision) -> ``(entry index, note, comment)``, and every entry's
    ``(index, note, comment)``. Entries that are not what the reader makes are left out."""
    found: dict[tuple[float, float, int], tuple[int, str | None, str | None]] = {}
    entries: list[tuple[int, str | None, str | None]] = []
    if not isinstance(value, (list, tuple)):
        return found, entries
    for entry in value:
        if not isinstance(entry, Mapping):
            continue
        start, end, codes = entry.get("start"), entry.get("end"), entry.get("codes")
        note, comment = entry.get("note"), entry.get("comment")
        if not (all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (start, end))
                and isinstance(codes, (list, tuple)) and all(isinstance(c, int) for c in codes)
                and isinstance(note, (str, type(None))) and isinstance(comment, (str, type(None)))):
            continue
        index = len(entries)
        comment = None if comment is None else " ".join(comment.splitlines())
        entries.append((index, note, comment))
        for code in codes:
            found[(round(float(start), 9), round(float(end), 9), code)] = (index, note, comment)
    return found, entries


def _comment_line(text: str) -> str:
    return f"# {text}" if text else "#"


def _options_text(key: tuple) -> str:
    """A beat line's options: its phases, easing unless smooth, and intensity option."""
    _, onset, apex, offset, ease_in, ease_out, intensity_text = key[:7]
    options = [f"{name} {value}"
               for name, value in (("onset", onset), ("apex", apex), ("offset", offset))]
    if ease_in == ease_out and ease_in != DEFAULT_EASING:
        options.append(f"ease {ease_in}")
    elif ease_in != ease_out:
        options.append(f"ease_in {ease_in} ease_out {ease_out}")
    if intensity_text is not None:
        options.append(f"intensity {intensity_text}")
    return "  ".join(options)


def _written_events(timeline: Timeline, vocabulary: Vocabulary, timecode: bool
                    ) -> tuple[list[tuple[AUEvent, str | None, str | None, tuple]], str,
                               list[int], str | None]:
    """The events as the writer writes them, in the order it lists them: ``(event, letter
    written, intensity option text, timing text)`` each; the header lines a beat line is read
    under (its fps, and the ``start`` its times are written from); the index in
    ``timeline.events`` of each written event; and the ``start`` header's value (None: none).

    Raises
    ------
    TimelineFormatError
        When an event's channel is not a FACS code of the vocabulary (AU notes carry codes).
    """
    origin = notes_origin(timeline)  # beat times are written from the 'start' header's time
    # The timeline's order on the written precision, so that the text read back and written
    # again lists its lines in the same order.
    events = timeline.events
    order = sorted(range(len(events)), key=lambda i: (
        round(events[i].start, 9), events[i].channel.sort_key, round(events[i].onset, 9),
        round(events[i].apex, 9), round(events[i].offset, 9),
        float(np.float32(events[i].intensity)), events[i].ease_in, events[i].ease_out,
        events[i].letter or "", events[i].expression or "", events[i].note or "",
        events[i].comment or ""))
    written: list[tuple[AUEvent, str | None, str | None, tuple]] = []
    for event in (events[i] for i in order):
        problem = check_channel(event.channel, vocabulary)  # an unsided 46 too: a wink is one eye
        if problem:
            raise TimelineFormatError(f"cannot write {event.channel.name} as AU notes: {problem}")
        # No letter where FACS scores no intensity (AU45, a blink: its value stays a number).
        letter, intensity_text = written_intensity(vocabulary, event.channel.au, event.letter,
                                                   event.intensity)
        # Keyed by the text written, so that events whose times agree to the nanosecond share
        # a line (and the text read back and written again is the same).
        timing = (_beat_time(event.start + origin, timeline.fps, timecode),
                  *(_duration(value, timeline.fps, timecode)
                    for value in (event.onset, event.apex, event.offset)),
                  event.ease_in, event.ease_out)
        written.append((event, letter, intensity_text, timing))
    # What a beat line is read under: the fps and the 'start' its times are written from.
    # Timecode an hour in is refused without a 'start' line (an edit's 01:00:00:00 typed
    # without one): where the times are that late, 'start 00:00:00:00' says they are meant.
    first = min((item.start for item in (*timeline.events, *timeline.marks)), default=0.0)
    start = (timeline.metadata["start"] if origin
             else "00:00:00:00" if timecode and first >= _EDIT_HOUR else None)
    context = f"fps {_seconds(timeline.fps)}\n" + (f"start {start}\n" if start else "")
    return written, context, order, start


def named_beats(timeline: Timeline, vocabulary: Vocabulary) -> list[tuple[str, frozenset[int]]]:
    """The beats that still mean the expression the director typed for them, as the notes
    writer decides it (it writes such a beat back with its name, ``surprise``, and any other
    as codes): ``(expression, indices of its events in timeline.events)`` each, in the order
    the writer lists them.

    A beat keeps its name while its events (sharing a start, phases and words) are exactly what
    a line of that name reads back as: the same AUs, letters and intensities. Taking an AU out,
    changing a letter, or a later beat taking some of its AUs over early (their timing is then
    not the others') leaves AUs that the name no longer means. Captions and timeline sheets
    name a beat by this rule (:mod:`facs_rig.render.captions`).

    >>> from facs_rig import load_vocabulary
    >>> v = load_vocabulary()
    >>> named_beats(parse_au_notes("0 surprise\\n3 contempt apex 2\\n", v), v)
    [('surprise', frozenset({0, 1, 2, 3, 4})), ('contempt', frozenset({5, 6}))]
    >>> t = parse_au_notes("0 surprise\\n", v)
    >>> named_beats(t.with_events(t.events[1:]), v)  # AU1 taken out: no longer surprise
    []
    """
    try:
        written, context, order, _ = _written_events(timeline, vocabulary, False)
    except TimelineFormatError:  # a channel notes cannot carry: no line, so no name written
        return []
    beats: dict[int, tuple[str, set[int]]] = {}  # id of the writer's line -> name, events
    for position, line in _named_lines(written, context, vocabulary).items():
        name, indices = beats.setdefault(id(line), (line["terms"][0], set()))
        indices.add(order[position])
    return [(name, frozenset(indices)) for name, indices in beats.values()]


def _named_lines(written: list[tuple[AUEvent, str | None, str | None, tuple]], context: str,
                 vocabulary: Vocabulary) -> dict[int, dict]:
    """The beat lines written with the expression typed (``surprise``): index in ``written``
    -> its line, for the events that carry an expression and are, among those with the same
    timing and words, exactly what a line with that name reads back as (the same AUs, letters
    and intensity text; with the line's ``intensity`` option if it has one). Events whose AUs
    are no longer what the name means (an animator took one out) are written as codes."""
    groups: dict[tuple, list[int]] = {}
    for index, (event, _, _, timing) in enumerate(written):
        if event.expression is not None:
            groups.setdefault((*timing, event.expression, event.note, event.comment),
                              []).append(index)
    named: dict[int, dict] = {}
    for group_key, indices in groups.items():
        timing, expression = group_key[:6], group_key[6]
        wanted = sorted((written[i][0].channel.sort_key, written[i][1] or "", written[i][2] or "")
                        for i in indices)
        for intensity_text in sorted({written[i][2] for i in indices}, key=lambda t: t or ""):
            key = (*timing, intensity_text, group_key[6:])
            try:
                read = parse_au_notes(f"{context}{timing[0]}  {expression}  "
                                      f"{_options_text(key)}\n", vocabulary)
            except FacsRigError:  # a name this vocabulary does not know
                break
            got = []
            for event in read.events:
                letter, text = written_intensity(vocabulary, event.channel.au, event.letter,
                                                 event.intensity)
                got.append((event.channel.sort_key, letter or "", text or ""))
            if sorted(got) == wanted and not read.marks:
                first = written[indices[0]][0]
                beat = {"key": key, "terms": [expression], "named": True, "span": (first.start, first.end),
                        "aus": {written[i][0].channel.au for i in indices}, "coded": [],
                        "events": [written[i][0] for i in indices]}
                named.update((i, beat) for i in indices)
                break
    return named


def read_au_notes(path: str | os.PathLike[str], vocabulary: Vocabulary, *,
                  neutral_out: list[NeutralBeat] | None = None) -> Timeline:
    """Read an AU notes file (``.notes`` or ``.txt``; ``neutral_out``: :func:`parse_au_notes`)."""
    from facs_rig.io.timeline_files import read_text_file

    return parse_au_notes(read_text_file(path), vocabulary, source=str(Path(path)),
                          neutral_out=neutral_out)


def write_au_notes(timeline: Timeline, path: str | os.PathLike[str], vocabulary: Vocabulary, *,
                   timecode: bool = False) -> None:
    """Write a timeline as AU notes, atomically (``timecode``: see :func:`format_au_notes`)."""
    from facs_rig.io.atomic import write_text_atomic

    try:
        text = format_au_notes(timeline, vocabulary, timecode=timecode)
    except TimelineFormatError as exc:  # 'cannot write AU26_R as AU notes': say which file
        raise TimelineFormatError(f"{Path(path)}: {exc}") from None
    write_text_atomic(path, text)
