"""ELAN ``.eaf`` annotation files, the FACS coder's hand-off, read and written through pympi-ling.

There is no official FACS-in-ELAN standard (the EAF 3.0 schema, EAFv3.0.xsd, defines tiers, not
what FACS coders put in them); this
adapter reads the three shapes in common lab use, and what facs-rig adds to them:

1. **A tier per AU**, named ``AU12``, ``AU1``, ``L12``, ``R12``, ``AU12_L``, ``AU12 L``
   (an ``AU`` or side prefix is required, so a tier named ``12`` is not taken for an AU; a
   trailing ``#2`` marks a second lane of the same AU). Each annotation is one event; its
   value is an intensity letter ``A``-``E``, empty (present, intensity not scored: the
   scale's unscored value), a number 0-1, or the tier's own AU with or without a letter
   (``12C`` or ``12`` on tier ``AU12``, ``L12B`` on tier ``L12``); on a tier of both sides
   (``AU12``) it may name a side (``L12B``: the left side's event), as a coder who keeps one
   tier per AU writes a unilateral action.
2. **A tier of whole codes**, named ``FACS``, ``AUs``, ``AU``, ``code``, ``codes`` or
   ``FACS codes`` (any case): each annotation's value is a code string or expression name
   (``1+2+5B+26``, ``happiness``) expanding into one event per AU.
3. **Phase annotations** on a child tier of either (any tier whose ``PARENT_REF`` is the AU or
   code tier) with values ``onset``, ``apex``, ``offset``, optionally followed by an easing
   (``onset linear``). They place the phase boundaries inside the parent annotation.
4. **Exact intensities** on an AU tier's child ``<tier> intensity`` (what the writer makes): a
   number 0-1 referring to one lettered annotation, read as that letter measured finely when
   it lies in the letter's band (``12C`` with ``0.43688032``); outside it (a coder changed the
   letter) the letter's own value is read, as AU notes read ``12D intensity 0.3``.

5. **The director's words**, once per beat, on the top-level tiers ``expression``, ``note`` and
   ``comment`` of linguistic type ``facs-beat-words`` (what the writer makes; lanes ``note #2``
   where beats overlap): each annotation's text goes to the AU and code annotations that start
   where it starts, as their events' :attr:`~facs_rig.core.timeline.AUEvent.expression`,
   ``note`` and ``comment``; words no annotation starts with are kept in
   ``metadata["unplaced_words"]``. Files written before hold them on each AU tier's children
   ``<tier> expression``, ``<tier> note`` and ``<tier> comment`` (Symbolic Association, as the
   intensities), still read (an event's own words there win over its beat's), and written so
   for events starting together with other words. A code tier's expression name
   (``happiness``) is kept as its events' expression.

An annotation span ``[t0, t1]`` without phase annotations is split by
:data:`DEFAULT_PHASE_PROPORTIONS`: onset 25 %, apex 50 %, offset 25 % of the span. A symmetric
rise and fall around a held apex; a coder who needs other timing marks the phases.

Every other tier is ignored and listed in the timeline's ``metadata["ignored_tiers"]`` (real
files hold words, gestures, translations...). Annotations on unaligned time slots cannot be
placed and are skipped, counted in ``metadata["unaligned_annotations"]``.

The writer makes shapes 1, 3, 4 and 5 (the words once per beat): one tier per channel (``AU12``,
``AU12_L``; overlapping events of one channel go to extra lanes ``AU12 #2``, ..., since an ELAN
tier cannot hold overlapping annotations: see docs/timeline-formats.md, "Why this layout") whose
values are what a FACS coder writes, the FACS term with its letter (``12C``, ``L12B``;
:func:`_value_texts`), a child ``<tier> phases`` tier holding each event's onset/apex/offset (with
non-default easings), a child ``<tier> intensity`` tier where an event's intensity is not its
letter's value (a capture's), and ``PROPERTY`` entries ``facs_rig.fps``, ``facs_rig.duration`` and
``facs_rig.metadata`` (JSON) in the header, so that reading the file back gives the same timeline
(times are whole milliseconds in EAF; others are rounded to the nearest millisecond).
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.notation import names_expression
from facs_rig.core.timeline import (
    DEFAULT_EASING,
    EASINGS,
    AUEvent,
    CodeMark,
    Timeline,
    check_channel,
    coding_problem,
    events_from_code,
    marks_from_code,
)
from facs_rig.core.vocabulary import INTENSITY_LETTERS, Vocabulary
from facs_rig.errors import (
    FacsRigError,
    MissingDependencyError,
    TimelineError,
    TimelineFormatError,
    shown,
)
from facs_rig.io import bounded_json

__all__ = ["read_eaf", "write_eaf", "eaf_to_string", "timeline_from_eaf",
           "DEFAULT_PHASE_PROPORTIONS", "CODE_TIER_NAMES", "channel_of_tier"]

#: Fractions of an annotation's span given to onset, apex and offset when no phases are marked.
DEFAULT_PHASE_PROPORTIONS = (0.25, 0.5, 0.25)
#: Tier names (compared case-insensitively) whose annotations are whole FACS code strings.
CODE_TIER_NAMES = ("facs", "aus", "au", "code", "codes", "facs code", "facs codes")
# Both patterns are fullmatched on stripped, length-bounded text, and each run of spaces sits
# between literals so no two quantifiers compete for the same spaces: matching is linear. (The
# former ``^\s*(pre)?\s*(AU)?\s*...`` took over a minute on a tier name of spaces.)
_AU_TIER = re.compile(
    r"(?P<pre>[LR])?\s*(?:(?P<prefix>AU)\s*)?0*(?P<number>\d{1,3})(?:\s*[_\s]?(?P<post>[LR]))?"
    r"(?:\s*#\s*\d{1,6})?", re.IGNORECASE)
#: Longest tier name or annotation value read as an AU (``R AU012 #99`` with room to spare).
_MAX_AU_TEXT = 40
_PHASES = ("onset", "apex", "offset")
_PROPERTY_FPS = "facs_rig.fps"
_PROPERTY_DURATION = "facs_rig.duration"
_PROPERTY_METADATA = "facs_rig.metadata"
_AU_TYPE = "facs-au"
_PHASE_TYPE = "facs-phase"
_INTENSITY_TYPE = "facs-intensity"
#: The child tier of an AU tier holding each annotation's exact intensity (``AU12 intensity``).
_INTENSITY_SUFFIX = " intensity"
# The director's words (AUEvent.expression, note, comment), each on a child tier of the AU
# tier ("AU12 comment"), one value per annotation of its parent as the exact intensities:
# ELAN tiers hold free text, and a Symbolic Association child moves and goes with its AU
# annotation (EAF 3.0 annotation format, "Symbolic_Association" constraint).
_WORDS = ("expression", "note", "comment")
_WORDS_TYPE = "facs-words"
# What the writer makes instead: the words once per beat, on top-level time-aligned tiers named
# after them ("note", lanes "note #2" where beats overlap), each annotation from the beat's
# start to the end of its last event, as an ELAN user keeps a tier of comments beside the
# coding (a child of each AU tier repeated them under every AU of the beat). Read by this
# linguistic type and name, so a lab's own "comment" tier stays its own (ignored_tiers).
_BEAT_WORDS_TYPE = "facs-beat-words"
_BEAT_WORDS_TIER = re.compile(r"(?P<word>expression|note|comment)(?:\s*#\s*\d{1,6})?")


def _pympi():
    try:
        import pympi.Elan
    except ImportError as exc:  # pympi-ling is a runtime dependency; this guards broken installs
        raise MissingDependencyError("reading and writing ELAN files needs pympi-ling: "
                                     "pip install pympi-ling") from exc
    return pympi.Elan


def channel_of_tier(name: str) -> Channel | None:
    """The AU channel an AU tier name stands for (``AU12``, ``L12``, ``AU12_R``), else None."""
    name = name.strip()
    match = _AU_TIER.fullmatch(name) if len(name) <= _MAX_AU_TEXT else None
    if match is None or not (match["prefix"] or match["pre"]) or (match["pre"] and match["post"]):
        return None
    side = match["pre"] or match["post"]
    return Channel(int(match["number"]), side.upper() if side else None)


def _seconds(milliseconds: int) -> float:
    return milliseconds / 1000.0


class _Context:
    def __init__(self, source: str, vocabulary: Vocabulary):
        self.source = source
        self.vocabulary = vocabulary

    def fail(self, tier: str, message: str, span: tuple[int, int] | None = None) -> TimelineFormatError:
        where = f"tier {shown(tier)}"
        if span is not None:
            where += f", annotation {_seconds(span[0]):g}-{_seconds(span[1]):g} s"
        return TimelineFormatError(f"{self.source}: {where}: {message}")


def _phase_annotations(eaf: Any, tier: str) -> list[tuple[int, int, str, str]]:
    """(start ms, end ms, phase, easing) of every phase annotation on the children of ``tier``."""
    phases = []
    for child in eaf.get_child_tiers_for(tier):
        for start, end, value, *_ in eaf.get_annotation_data_for_tier(child):
            words = str(value).strip().lower().split()
            if (start is None or end is None or not words or words[0] not in _PHASES
                    or len(words) > 2 or (len(words) == 2 and words[1] not in EASINGS)):
                continue
            phases.append((start, end, words[0], words[1] if len(words) == 2 else DEFAULT_EASING))
    return phases


class _PhasesByStart:
    """Phase annotations indexed by start time, so each annotation finds its own in log time.

    (Scanning every phase annotation for every annotation was quadratic: 4,000 coded events,
    a 5 MB file, took 6 s to read.)
    """

    def __init__(self, phases: list[tuple[int, int, str, str]]):
        self.phases = phases
        self.order = sorted(range(len(phases)), key=lambda i: phases[i][0])
        self.starts = [phases[i][0] for i in self.order]

    def within(self, start: int, end: int) -> list[tuple[int, int, str, str]]:
        """The phase annotations inside ``[start, end]``, in their original order."""
        first = bisect.bisect_left(self.starts, start)
        last = bisect.bisect_right(self.starts, end)
        return [self.phases[i] for i in sorted(self.order[first:last]) if self.phases[i][1] <= end]


def _phase_durations(start: int, end: int, phases: list[tuple[int, int, str, str]]
                     ) -> tuple[float, float, float, str, str]:
    """Onset, apex and offset durations (seconds) and easings of one annotation ``[start, end]`` ms.

    Durations are computed from the integer milliseconds, so ``400`` ms reads as exactly 0.4 s.
    """
    inside = {phase: (s, e, easing) for s, e, phase, easing in phases if s >= start and e <= end}
    if not inside:
        onset, apex, _ = DEFAULT_PHASE_PROPORTIONS
        span = end - start
        apex_start, apex_end = start + onset * span, start + (onset + apex) * span
        return ((apex_start - start) / 1000, (apex_end - apex_start) / 1000, (end - apex_end) / 1000,
                DEFAULT_EASING, DEFAULT_EASING)
    # Missing phases are zero-length: see docs/timeline-formats.md, "ELAN".
    if "apex" in inside:
        apex_start, apex_end = inside["apex"][0], inside["apex"][1]
    else:
        apex_start = inside["onset"][1] if "onset" in inside else start
        apex_end = inside["offset"][0] if "offset" in inside else end
    if apex_end < apex_start:
        raise ValueError(f"phase annotations overlap: the apex would end at {apex_end / 1000:g} s, "
                         f"before it starts at {apex_start / 1000:g} s")
    ease_in = inside["onset"][2] if "onset" in inside else DEFAULT_EASING
    ease_out = inside["offset"][2] if "offset" in inside else DEFAULT_EASING
    return ((apex_start - start) / 1000, (apex_end - apex_start) / 1000, (end - apex_end) / 1000,
            ease_in, ease_out)


_TERM_VALUE = re.compile(r"(?P<side>[LR])?\s*(?:AU\s*)?0*(?P<number>\d{1,3})\s*(?P<letter>[A-E])?",
                         re.IGNORECASE)


def _intensity(value: str, context: _Context, tier: str, span: tuple[int, int],
               channel: Channel) -> tuple[float, str | None, Channel]:
    """The intensity, letter and channel of one annotation on the AU tier of ``channel``.

    The channel is the tier's, or on a tier of both sides (``AU12``) the side its value names
    (``L12B``): coders who keep one tier per AU write a unilateral action as FACS writes it.
    """
    text = value.strip()
    scale = context.vocabulary.scale()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if 0 <= number <= 1:  # a number 0-1 first, so "1" on tier AU1 is full intensity
        return number, None, channel
    term = _TERM_VALUE.fullmatch(text) if len(text) <= _MAX_AU_TEXT else None
    side = term["side"].upper() if term is not None and term["side"] else None
    if term is not None and int(term["number"]) == channel.au and (
            side is None or channel.side in (None, side)):
        # Some coders repeat the AU in each annotation ("12C" on tier AU12): keep the letter.
        text = term["letter"] or ""
        if side is not None:
            channel = Channel(channel.au, side)
    if not text:  # unlettered: C, or full closure for a blink or wink (AU45, AU46)
        return scale.letter_to_value(context.vocabulary.unlettered_letter(channel.au)), None, channel
    if text.upper() in INTENSITY_LETTERS:
        return scale.letter_to_value(text.upper()), text.upper(), channel
    raise context.fail(tier, f"value {shown(value.strip())} is not an intensity letter A-E, empty, the "
                             f"tier's AU ({channel.side or ''}{channel.au}C"
                             f"{'' if channel.side else f', L{channel.au}C or R{channel.au}C'}), "
                             f"or a number 0-1", span)


def _annotations(eaf: Any, tier: str) -> list[tuple[str | None, int | None, int | None, Any]]:
    """``(annotation id, start ms, end ms, value)`` of every annotation on ``tier``: its
    aligned annotations with their ids (an exact intensity refers to one), or a reference
    tier's as pympi gives them (no id)."""
    aligned, references, *_ = eaf.tiers[tier]
    if references:
        return [(None, start, end, value)
                for start, end, value, *_ in eaf.get_annotation_data_for_tier(tier)]
    return [(annotation, eaf.timeslots[first], eaf.timeslots[second], value)
            for annotation, (first, second, value, *_) in aligned.items()]


def _exact_intensities(eaf: Any, tier: str) -> dict[str, str]:
    """Annotation id -> the text on the ``<tier> intensity`` child tier that refers to it
    (what facs-rig writes for a lettered event whose intensity is not its letter's value)."""
    return _child_values(eaf, tier, _INTENSITY_SUFFIX)


def _child_values(eaf: Any, tier: str, suffix: str) -> dict[str, str]:
    """Annotation id -> the text on the ``<tier><suffix>`` child tier that refers to it."""
    child = f"{tier}{suffix}"
    if child not in eaf.tiers or eaf.tiers[child][2].get("PARENT_REF") != tier:
        return {}
    return {reference: "" if value is None else str(value)
            for reference, value, *_ in eaf.tiers[child][1].values()}


def _words(eaf: Any, tier: str) -> dict[str, dict[str, str]]:
    """The director's words on ``tier``'s ``<tier> expression``, ``<tier> note`` and
    ``<tier> comment`` child tiers: word -> annotation id -> text (only the tiers present)."""
    found = {word: _child_values(eaf, tier, f" {word}") for word in _WORDS}
    return {word: values for word, values in found.items() if f"{tier} {word}" in eaf.tiers
            and eaf.tiers[f"{tier} {word}"][2].get("PARENT_REF") == tier}


def _beat_words(eaf: Any) -> tuple[dict[int, dict[str, str]], set[str]]:
    """The director's words the writer puts once per beat: beat start (ms) -> word -> text,
    from the top-level tiers of linguistic type ``facs-beat-words`` named ``expression``,
    ``note`` or ``comment`` (lanes ``note #2``), and the names of those tiers. An AU or code
    annotation that starts where a words annotation starts takes its words."""
    found: dict[int, dict[str, str]] = {}
    tiers: set[str] = set()
    for tier in eaf.get_tier_names():
        match = _BEAT_WORDS_TIER.fullmatch(tier.strip()) if len(tier) <= _MAX_AU_TEXT else None
        attributes = eaf.tiers[tier][2]
        if (match is None or attributes.get("PARENT_REF")
                or attributes.get("LINGUISTIC_TYPE_REF") != _BEAT_WORDS_TYPE):
            continue
        tiers.add(tier)
        for _, start, end, value in _annotations(eaf, tier):
            if start is not None and end is not None:
                found.setdefault(start, {}).setdefault(match["word"],
                                                       "" if value is None else str(value))
    return found, tiers


def _exact_in_band(text: str, letter: str, channel: Channel, lettered: float, context: _Context,
                   tier: str, span: tuple[int, int]) -> float:
    """The exact intensity of a lettered annotation: ``text``, a number 0-1, when it lies in the
    letter's band (the letter measured finely, as AU notes read ``7E intensity 0.907``); the
    letter's own value ``lettered`` when it does not (a coder changed ``12C`` to ``12D`` in
    ELAN: the letter written wins)."""
    from facs_rig.io.au_notes import _band

    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise context.fail(f"{tier}{_INTENSITY_SUFFIX}",
                           f"value {shown(text.strip())} is not an intensity 0-1", span)
    band = _band(context.vocabulary.scale().value_to_letter(value), channel.au,
                 context.vocabulary)
    return value if band == letter else lettered


def timeline_from_eaf(eaf: Any, vocabulary: Vocabulary, *, source: str = "ELAN file") -> Timeline:
    """Build a timeline from a parsed ``pympi.Elan.Eaf`` document (see the module notes)."""
    # pympi parses these without complaint and fails later with bare KeyError/OverflowError.
    _check_time_slots(eaf, source)
    _check_time_slot_references(eaf, source)
    _check_annotation_references(eaf, source)
    context = _Context(source, vocabulary)
    events: list[AUEvent] = []
    marks: list[CodeMark] = []  # codes that drive nothing (50 speech, 74 unscorable)
    event_tiers: list[str] = []  # the tier of each event and mark, for the overlap check
    mark_tiers: list[str] = []
    ignored: list[str] = []
    unaligned = 0
    phase_tiers: set[str] = set()
    tiers = list(eaf.get_tier_names())
    beat_words, words_tiers = _beat_words(eaf)
    placed_words: set[int] = set()  # the starts (ms) of beat words some event took
    for tier in tiers:
        channel = channel_of_tier(tier)
        is_code_tier = " ".join(tier.lower().split()) in CODE_TIER_NAMES
        if channel is None and not is_code_tier:
            continue
        unit = vocabulary.action_units.get(channel.au) if channel is not None else None
        marking = unit is not None and not unit.drives and channel.side is None
        if channel is not None and not marking:
            # A tier AU46 may still give each annotation its side (L46): checked per annotation.
            problem = check_channel(channel, vocabulary, side_given_later=True)
            if problem:
                raise context.fail(tier, problem)
        phases = _phase_annotations(eaf, tier)
        phase_tiers.update(eaf.get_child_tiers_for(tier) if phases else ())
        phases_by_start = _PhasesByStart(phases)
        exact = _exact_intensities(eaf, tier) if channel is not None else {}
        if exact:
            phase_tiers.add(f"{tier}{_INTENSITY_SUFFIX}")
        words = _words(eaf, tier)
        phase_tiers.update(f"{tier} {word}" for word in words)
        for annotation, start, end, value in sorted(_annotations(eaf, tier),
                                                    key=lambda row: (row[1] is None, row[1] or 0)):
            if start is None or end is None:
                unaligned += 1
                continue
            span = (start, end)
            if end <= start:
                raise context.fail(tier, "annotation has no length or ends before it starts", span)
            try:
                onset, apex, offset, ease_in, ease_out = _phase_durations(
                    start, end, phases_by_start.within(start, end))
            except ValueError as exc:
                raise context.fail(tier, str(exc), span) from None
            said = {word: values[annotation] for word, values in words.items()
                    if annotation in values}
            if start in beat_words and not marking:  # the beat's words, for all its AUs (an
                # AU's own win; a mark carries none)
                placed_words.add(start)
                for word, text in beat_words[start].items():
                    said.setdefault(word, text)
            try:
                if marking:
                    # A tier of a code that drives nothing (AU50, AU74): each annotation is a
                    # mark over its span; FACS scores these codes present, so no letter.
                    if str(value).strip() not in ("", str(channel.au)):
                        raise context.fail(tier, f"value {shown(str(value).strip())}: "
                                                 f"AU{channel.au} ({unit.name}) is a {unit.kind} "
                                                 f"code, scored present: leave the annotation "
                                                 f"empty", span)
                    marks.append(CodeMark(channel.au, _seconds(start), _seconds(end)))
                    mark_tiers.append(tier)
                elif channel is not None:
                    intensity, letter, sided = _intensity(str(value), context, tier, span, channel)
                    if letter is not None and annotation in exact:
                        intensity = _exact_in_band(exact[annotation], letter, sided, intensity,
                                                   context, tier, span)
                    if sided != channel or sided.side is None:
                        problem = check_channel(sided, vocabulary)
                        if problem:
                            written = str(value).strip()
                            raise context.fail(tier, f"value {shown(written)}: {problem}"
                                               if written else problem, span)
                    events.append(AUEvent(sided, intensity, _seconds(start), onset, apex, offset,
                                          ease_in=ease_in, ease_out=ease_out, letter=letter,
                                          **said))
                    event_tiers.append(tier)
                elif str(value).strip():
                    code = vocabulary.parse(str(value))
                    if names_expression(str(value), vocabulary):  # happiness: keep the name
                        said.setdefault("expression", str(value).strip())
                    coded = [replace(event, **said) for event in events_from_code(
                        code, vocabulary, at=_seconds(start), onset=onset, apex=apex,
                        offset=offset, ease_in=ease_in, ease_out=ease_out)]
                    events.extend(coded)
                    event_tiers.extend([tier] * len(coded))
                    coded_marks = marks_from_code(code, vocabulary, at=_seconds(start),
                                                  end=_seconds(end))
                    marks.extend(coded_marks)
                    mark_tiers.extend([tier] * len(coded_marks))
            except TimelineFormatError:
                raise
            except (TimelineError, FacsRigError) as exc:
                raise context.fail(tier, str(exc), span) from None
    used = {tier for tier in tiers
            if channel_of_tier(tier) is not None
            or " ".join(tier.lower().split()) in CODE_TIER_NAMES} | phase_tiers | words_tiers
    ignored = [tier for tier in tiers if tier not in used]
    properties = dict(eaf.properties)
    metadata: dict[str, Any] = {}
    if _PROPERTY_METADATA in properties:
        try:
            loaded = bounded_json.loads(properties[_PROPERTY_METADATA])
        except ValueError as exc:
            raise TimelineFormatError(f"{source}: property {_PROPERTY_METADATA}: invalid JSON: "
                                      f"{exc}") from None
        if not isinstance(loaded, Mapping):
            raise TimelineFormatError(f"{source}: property {_PROPERTY_METADATA}: expected a JSON "
                                      f"object")
        metadata.update(loaded)
    if ignored:
        metadata["ignored_tiers"] = ignored
    if unaligned:
        metadata["unaligned_annotations"] = unaligned
    unplaced = [{"start": _seconds(start), **words} for start, words in sorted(beat_words.items())
                if start not in placed_words]
    if unplaced:
        # Words whose beat no AU annotation starts at any more (moved in ELAN): kept, not lost.
        metadata["unplaced_words"] = unplaced
    fps = _number_property(properties, _PROPERTY_FPS, source)
    duration = _number_property(properties, _PROPERTY_DURATION, source)
    try:
        timeline = Timeline(tuple(events), duration, fps if fps is not None else 30.0, metadata,
                            tuple(marks))
    except TimelineError as exc:
        raise TimelineFormatError(f"{source}: {exc}") from None
    # Separate events on at one moment are one code (FACS's rules for one code apply), except
    # on a timeline measured from a capture (MEASURED_KEY: not a coding).
    problem = coding_problem(events, vocabulary, fps=timeline.fps, marks=marks,
                             labels=[f"tier {shown(tier)}" for tier in event_tiers + mark_tiers],
                             metadata=metadata)
    if problem:
        raise TimelineFormatError(f"{source}: {problem}")
    return timeline


def _number_property(properties: Mapping[str, Any], key: str, source: str) -> float | None:
    if key not in properties:
        return None
    try:
        value = float(properties[key])
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise TimelineFormatError(f"{source}: property {key}: {shown(properties[key])} is not a "
                                  f"non-negative number")
    return value


def read_eaf(path: str | os.PathLike[str], vocabulary: Vocabulary) -> Timeline:
    """Read an ELAN ``.eaf`` file as a timeline.

    Files without AU or code tiers read as an empty timeline whose ``metadata["ignored_tiers"]``
    names the tiers found.

    Raises
    ------
    TimelineFormatError
        For a file pympi cannot parse (not XML, not EAF), and for bad AU annotations, naming
        the tier and the annotation's time span.
    """
    elan = _pympi()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pympi warns about EAF versions it was not built for
            eaf = elan.Eaf(str(path))
    except Exception as exc:  # noqa: BLE001 -- pympi raises bare Exception, KeyError, ParseError...
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError):  # pympi indexes XML attributes: a KeyError names one
            detail = f"missing attribute or reference {detail}"
        elif isinstance(exc, ValueError) and "integer string conversion" in detail:
            # pympi reads TIME_VALUE with int(): CPython refuses more than 4,300 digits.
            detail = "a TIME_VALUE of more than 4300 digits"
        raise TimelineFormatError(f"{path}: not a readable ELAN file: {detail}") from None
    return timeline_from_eaf(eaf, vocabulary, source=str(path))


#: Latest time slot read, in milliseconds: 2**53 ms (285,000 years) is where integers stop being
#: exact as float64, so every later division by 1000 is exact and finite.
MAX_TIME_MS = 2**53


def _check_time_slots(eaf: Any, path: str) -> None:
    """Every declared time slot is unaligned or a time within :data:`MAX_TIME_MS`.

    pympi converts ``TIME_VALUE`` with ``int()``, so a value of 400 digits arrives as an int that
    no float can hold (an ``OverflowError`` when divided into seconds).
    """
    for slot, value in eaf.timeslots.items():
        if value is not None and not -MAX_TIME_MS <= value <= MAX_TIME_MS:
            digits = str(value) if abs(value) < 10**30 else f"{str(value)[:20]}... ({len(str(value))} digits)"
            raise TimelineFormatError(f"{path}: time slot {slot!r}: TIME_VALUE {digits} ms is beyond "
                                      f"the {MAX_TIME_MS} ms facs-rig reads")


def _check_annotation_references(eaf: Any, path: str) -> None:
    """Every ``REF_ANNOTATION`` leads, through its chain, to an aligned annotation.

    pympi follows a reference chain with unchecked lookups (``get_parent_aligned_annotation``):
    a dangling ``ANNOTATION_REF`` raised a bare ``KeyError``, and a cycle would loop forever.
    This walks every chain the same way, iteratively, and names the first broken link.
    """
    resolved: set[str] = set()
    for tier_name, (_, references, *_) in eaf.tiers.items():
        for annotation, (reference, *_) in references.items():
            chain: list[str] = []
            current = reference
            while current not in resolved:
                owner = eaf.annotations.get(current)
                if owner is None or owner not in eaf.tiers:
                    raise TimelineFormatError(
                        f"{path}: tier {shown(tier_name)}, annotation {shown(annotation)}: ANNOTATION_REF "
                        f"{shown(current)} names no annotation in the file")
                aligned, owner_references, attributes, *_ = eaf.tiers[owner]
                if not attributes.get("PARENT_REF"):  # pympi's rule: a tier without a parent ends the chain
                    if current not in aligned:
                        raise TimelineFormatError(
                            f"{path}: tier {shown(tier_name)}, annotation {shown(annotation)}: reference "
                            f"{shown(current)} on tier {shown(owner)} is not a time-aligned annotation")
                    break
                if current in chain or current not in owner_references:
                    problem = ("the references form a cycle" if current in chain else
                               f"{shown(current)} on tier {shown(owner)} (which has a parent tier) is not a "
                               f"reference annotation")
                    raise TimelineFormatError(
                        f"{path}: tier {shown(tier_name)}, annotation {shown(annotation)}: {problem}")
                chain.append(current)
                current = owner_references[current][0]
            resolved.update(chain)


def _check_time_slot_references(eaf: Any, path: str) -> None:
    """Every aligned annotation must point at time slots the file declares.

    pympi parses a dangling ``TIME_SLOT_REF`` without complaint and raises a bare ``KeyError``
    later, when the tier's annotations are read (EAF 3.0 schema: TIME_SLOT_REF1/2 are IDREFs
    into TIME_ORDER).
    """
    for tier, (aligned, *_) in eaf.tiers.items():
        for annotation, (first, second, *_) in aligned.items():
            for reference in (first, second):
                if reference not in eaf.timeslots:
                    raise TimelineFormatError(
                        f"{path}: tier {shown(tier)}, annotation {shown(annotation)}: time slot "
                        f"{shown(reference)} is not declared in TIME_ORDER")


def _value_texts(event: AUEvent, vocabulary: Vocabulary) -> tuple[str, str | None]:
    """``(annotation value, exact intensity)`` of an event, as a FACS coder writes it.

    A lettered event is its FACS term, side, AU and letter (``12C``, ``L12B``), as AU notes
    write it (:func:`~facs_rig.io.au_notes.written_intensity`); an intensity that is not its
    letter's value but lies in its band (a capture's 0.4369 under ``C``) is the second item, for
    the ``<tier> intensity`` child tier. An unlettered event is empty where its value is the
    unscored one (C; full closure for a blink or wink, AU45/AU46, which FACS scores present
    only), else the number: the shortest text that reads back as the same float32.
    """
    from facs_rig.io.au_notes import float32_text, written_intensity

    au = event.channel.au
    if vocabulary.scores_intensity(au):
        letter, exact = written_intensity(vocabulary, au, event.letter, event.intensity)
        if letter is not None:
            return f"{event.channel.side or ''}{au}{letter}", exact
        return exact or "", None
    # A blink or wink: no letter; a value other than full closure is written as a number.
    closed = vocabulary.scale().letter_to_value(vocabulary.unlettered_letter(au))
    if np.float32(event.intensity) == np.float32(closed):
        return "", None
    return float32_text(event.intensity), None


#: Latest time facs-rig writes, in milliseconds: the EAF 2.8 schema declares TIME_VALUE an
#: ``xsd:unsignedInt``, whole milliseconds from 0 to 2**32 - 1 (49.7 days).
MAX_WRITTEN_MS = 2**32 - 1


def _milliseconds(seconds: float, event: AUEvent | None, what: str,
                  mark: CodeMark | None = None) -> int:
    """``seconds`` as an ELAN time slot value, or a TimelineFormatError naming the event and why.

    Checked before any rounding: ``int(round(inf))`` raised OverflowError, and times past 2**53 ms
    lost the event's length to float rounding (reported as "lasts under a millisecond").
    """
    milliseconds = seconds * 1000
    if not 0 <= milliseconds <= MAX_WRITTEN_MS:  # also refuses NaN and infinities
        where = "before 0 s" if milliseconds < 0 else (
            f"at {seconds:g} s" if math.isfinite(seconds) else "at no finite time")
        item = (f"{event.channel.name} event that starts at {event.start:g} s" if event is not None
                else f"code {mark.code} mark that starts at {mark.start:g} s")
        raise TimelineFormatError(
            f"cannot write the {item} to "
            f"ELAN: its {what} is {where}, outside the 0 to {MAX_WRITTEN_MS} ms (49.7 days) an "
            f"ELAN time slot holds (TIME_VALUE is whole milliseconds, xsd:unsignedInt)")
    return int(round(milliseconds))


def _build_eaf(timeline: Timeline, vocabulary: Vocabulary) -> Any:
    elan = _pympi()
    eaf = elan.Eaf(author="facs-rig")
    eaf.remove_tier("default")
    eaf.add_linguistic_type(_AU_TYPE)
    eaf.add_linguistic_type(_PHASE_TYPE, constraints="Included_In")
    exact_tiers: set[str] = set()  # child tiers (AU12 intensity, AU12 comment), types: as needed
    eaf.remove_linguistic_type("default-lt")
    lanes: dict[str, list[int]] = {}  # tier name -> end (ms) of its last annotation
    once = _words_once(timeline)
    for channel in timeline.channels:
        problem = check_channel(channel, vocabulary)
        if problem:
            raise TimelineFormatError(f"cannot write {channel.name} to ELAN: {problem}")
        for event in (e for e in timeline.events if e.channel == channel):
            start, end = _milliseconds(event.start, event, "start"), _milliseconds(
                event.end, event, "end")
            if end <= start:
                raise TimelineFormatError(
                    f"cannot write the {channel.name} event at {event.start:g} s to ELAN: it "
                    f"lasts under a millisecond")
            lane = 1
            while True:
                tier = channel.name if lane == 1 else f"{channel.name} #{lane}"
                if tier not in lanes:
                    eaf.add_tier(tier, ling=_AU_TYPE)
                    eaf.add_tier(f"{tier} phases", ling=_PHASE_TYPE, parent=tier)
                    lanes[tier] = [0]
                if lanes[tier][0] <= start:
                    break
                lane += 1
            lanes[tier][0] = end
            value, exact = _value_texts(event, vocabulary)
            eaf.add_annotation(tier, start, end, value)
            parent = f"a{eaf.maxaid}"  # pympi's id of the annotation just added
            if exact is not None:
                _add_exact_intensity(eaf, tier, exact, exact_tiers, parent)
            if start not in once:  # words not the same for every event starting here
                for word in _WORDS:
                    if getattr(event, word) is not None:
                        _add_child_value(eaf, tier, f" {word}", _WORDS_TYPE, getattr(event, word),
                                         exact_tiers, parent)
            apex_start, apex_end = (_milliseconds(event.apex_start, event, "apex start"),
                                    _milliseconds(event.apex_end, event, "apex end"))
            for phase, phase_start, phase_end, easing in (
                    ("onset", start, apex_start, event.ease_in),
                    ("apex", apex_start, apex_end, DEFAULT_EASING),
                    ("offset", apex_end, end, event.ease_out)):
                if phase_end > phase_start:
                    label = phase if easing == DEFAULT_EASING else f"{phase} {easing}"
                    eaf.add_annotation(f"{tier} phases", phase_start, phase_end, label)
    # Marks (codes that drive nothing: 50 speech, 74 unscorable) on a tier of their code, as
    # the AU tiers, an empty value (scored present) and no phases; lanes where they overlap.
    for mark in timeline.marks:
        start, end = (_milliseconds(mark.start, None, "start", mark),
                      _milliseconds(mark.end, None, "end", mark))
        if end <= start:
            raise TimelineFormatError(f"cannot write the code {mark.code} mark at "
                                      f"{mark.start:g} s to ELAN: it lasts under a millisecond")
        name = Channel(mark.code).name
        lane = 1
        while True:
            tier = name if lane == 1 else f"{name} #{lane}"
            if tier not in lanes:
                eaf.add_tier(tier, ling=_AU_TYPE)
                lanes[tier] = [0]
            if lanes[tier][0] <= start:
                break
            lane += 1
        lanes[tier][0] = end
        eaf.add_annotation(tier, start, end, "")
    _add_beat_words(eaf, timeline, once)
    eaf.add_property(_PROPERTY_FPS, repr(timeline.fps))
    eaf.add_property(_PROPERTY_DURATION, repr(timeline.duration))
    try:
        metadata = json.dumps(dict(timeline.metadata), ensure_ascii=False, allow_nan=False,
                              sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TimelineFormatError(f"timeline metadata cannot be written to ELAN: {exc}") from None
    eaf.add_property(_PROPERTY_METADATA, metadata)
    return eaf


def _words_once(timeline: Timeline) -> dict[int, tuple[str | None, str | None, str | None]]:
    """Beat start (ms) -> the words (expression, note, comment) written once for it: where
    every event starting at that millisecond has the same words, and some. Events starting
    together with other words (two lines at one time, one commented) keep theirs on their AU
    tiers' children, as before, so that each reads back with its own."""
    at: dict[int, set[tuple[str | None, str | None, str | None]]] = {}
    for event in timeline.events:
        if 0 <= event.start * 1000 <= MAX_WRITTEN_MS:  # others are refused with their message
            at.setdefault(int(round(event.start * 1000)), set()).add(
                (event.expression, event.note, event.comment))
    return {start: next(iter(words)) for start, words in at.items()
            if len(words) == 1 and words != {(None, None, None)}}


def _add_beat_words(eaf: Any, timeline: Timeline,
                    once: dict[int, tuple[str | None, str | None, str | None]]) -> None:
    """Put each beat's words of ``once`` on the ``expression``, ``note`` and ``comment`` tiers,
    from the beat's start to the end of its last event (lanes ``note #2`` where beats overlap,
    as the AU tiers' lanes)."""
    if not once:
        return
    ends: dict[int, int] = {}
    for event in timeline.events:
        start = int(round(event.start * 1000))
        if start in once:
            ends[start] = max(ends.get(start, 0), _milliseconds(event.end, event, "end"))
    eaf.add_linguistic_type(_BEAT_WORDS_TYPE)
    lanes: dict[str, int] = {}  # tier -> end (ms) of its last annotation
    for start in sorted(once):
        for word, text in zip(_WORDS, once[start]):
            if text is None:
                continue
            lane = 1
            while True:
                tier = word if lane == 1 else f"{word} #{lane}"
                if tier not in lanes:
                    eaf.add_tier(tier, ling=_BEAT_WORDS_TYPE)
                    lanes[tier] = 0
                if lanes[tier] <= start:
                    break
                lane += 1
            lanes[tier] = ends[start]
            eaf.add_annotation(tier, start, ends[start], text)


def _add_exact_intensity(eaf: Any, tier: str, exact: str, exact_tiers: set[str],
                         parent: str) -> None:
    """Put ``exact`` on the ``<tier> intensity`` child tier (Symbolic Association: one value
    per annotation of its parent, which ELAN moves and deletes with it), referring to the
    annotation ``parent`` of ``tier``."""
    _add_child_value(eaf, tier, _INTENSITY_SUFFIX, _INTENSITY_TYPE, exact, exact_tiers, parent)


def _add_child_value(eaf: Any, tier: str, suffix: str, kind: str, value: str, made: set[str],
                     parent: str) -> None:
    """Put ``value`` on the ``<tier><suffix>`` child tier of linguistic type ``kind`` (a
    Symbolic Association), made with its type when first needed (``made`` holds both)."""
    child = f"{tier}{suffix}"
    if kind not in made:
        eaf.add_linguistic_type(kind, constraints="Symbolic_Association", timealignable=False)
        made.add(kind)
    if child not in made:
        eaf.add_tier(child, ling=kind, parent=tier)
        made.add(child)
    annotation = eaf.generate_annotation_id()
    eaf.annotations[annotation] = child
    eaf.tiers[child][1][annotation] = (parent, value, None, None)  # as add_ref_annotation stores it


def eaf_to_string(timeline: Timeline, vocabulary: Vocabulary) -> str:
    """The EAF XML text of a timeline (EAF 2.8 as pympi writes it, readable by ELAN)."""
    elan = _pympi()
    text = elan.to_string(_build_eaf(timeline, vocabulary))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def write_eaf(timeline: Timeline, path: str | os.PathLike[str], vocabulary: Vocabulary) -> None:
    """Write a timeline as an ELAN file, atomically (pympi's own writer renames old files to .bak)."""
    from facs_rig.io.atomic import write_text_atomic

    try:
        text = eaf_to_string(timeline, vocabulary)
    except TimelineFormatError as exc:
        raise TimelineFormatError(f"{os.fspath(path)}: {exc}") from None
    write_text_atomic(path, text)
