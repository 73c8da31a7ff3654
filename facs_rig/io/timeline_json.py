"""The native timeline file: JSON with the schema ``facs_rig.timeline/1``.

Layout (see ``docs/timeline-formats.md``)::

    {
      "schema": "facs_rig.timeline/1",
      "fps": 30.0,
      "duration": 4.0,
      "metadata": {"title": "surprise then smile"},
      "events": [
        {"channel": "AU12_L", "intensity": 0.9, "letter": "D", "start": 1.0,
         "onset": 0.3, "apex": 1.0, "offset": 0.5, "ease_in": "smooth", "ease_out": "smooth"}
      ],
      "beats": [
        {"at": 2.5, "code": "6+12D", "onset": 0.4, "apex": 1.2, "offset": 0.6}
      ],
      "marks": [
        {"code": 50, "start": 6.5, "end": 7.0}
      ]
    }

``events`` is what the writer produces: one object per event, times in seconds. A reader also
accepts, for hand-written files: absolute phase times (``start``, ``apex_start``, ``apex_end``,
``end``) instead of durations, a ``letter`` instead of a numeric ``intensity``, ``ease`` for both
easings, and ``beats``, each a code string or expression expanded into one event per AU. ``marks``
(written only when there are some) are the codes that drive nothing (visibility 70-74, speech 50
and the other behaviour codes), each over a span: kept, never played; a beat's such codes become
marks over the beat. A beat's ``"apex": "next"`` holds it until the next beat, and a later beat
takes over the channels it names from earlier beats, as in AU notes (``events`` are kept as they
are). Unknown keys are errors (they are usually typos), except ``description`` and ``notes``.

The director's words, optional on an event: ``expression`` (the code typed when it names an
expression, ``"surprise"``), ``note`` (comment lines above the beat in AU notes, joined with
``\n``) and ``comment`` (the comment on the beat's line); a beat takes ``note`` and ``comment``
and keeps its code as the expression when it names one. Written only where there are words, so
files without them are as before (docs/timeline-formats.md, "The director's words").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from facs_rig.core.channels import Channel, parse_channel
from facs_rig.core.notation import names_expression
from facs_rig.core.timeline import (
    DEFAULT_APEX,
    DEFAULT_EASING,
    DEFAULT_FPS,
    DEFAULT_OFFSET,
    DEFAULT_ONSET,
    HOLD_LAYERS,
    MEASURED_KEY,
    AUEvent,
    CodeMark,
    Rest,
    Timeline,
    check_channel,
    check_words,
    coding_problem,
    default_phases,
    events_from_code,
    face_rest,
    hold_layers,
    hold_until,
    marks_from_code,
    meeting_next,
    momentary_hold_problem,
    next_beat_times,
    take_over_indexed,
)
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import (
    FacsRigError,
    TimelineError,
    TimelineFormatError,
    VocabularyError,
    quoted,
    shown,
)
from facs_rig.io import bounded_json

__all__ = ["SCHEMA", "timeline_to_dict", "timeline_from_dict", "timeline_to_json",
           "timeline_from_json", "check_channel", "read_channel_name", "parse_channel_list",
           "quoted", "shown"]

SCHEMA = "facs_rig.timeline/1"
_TOP_KEYS = {"schema", "fps", "duration", "metadata", "events", "beats", "marks", "description",
             "notes"}
_MARK_KEYS = {"code", "start", "end"}
# The director's words (AUEvent.expression, note, comment): optional, drive nothing.
_WORD_KEYS = ("expression", "note", "comment")
_EVENT_KEYS = {"channel", "intensity", "letter", "start", "onset", "apex", "offset", "apex_start",
               "apex_end", "end", "ease", "ease_in", "ease_out", *_WORD_KEYS}
_NEXT = "next"  # "apex": "next" holds a beat's apex until the next beat, as in AU notes
_BEAT_KEYS = {"at", "code", "onset", "apex", "offset", "ease", "ease_in", "ease_out", "intensity",
              "scale", "note", "comment"}


def read_channel_name(text: str) -> Channel | None:
    """A channel from any usual spelling: ``AU12``, ``AU12_L``, ``au12l`` or the FACS term form
    ``12``, ``L12``, ``R12`` (:func:`~facs_rig.core.channels.parse_channel`, which reads them all)."""
    return parse_channel(text)


def parse_channel_list(text: str, vocabulary: Vocabulary | None = None) -> tuple[Channel, ...]:
    """Channels from a comma-separated list such as ``AU01,AU12_L, R12``.

    With a ``vocabulary``, each channel must also be one it knows (see :func:`check_channel`),
    as timeline files require: ``AU999`` or ``AU25_L`` would otherwise become a column that no
    event can ever drive.

    Raises
    ------
    TimelineError
        Naming the item that is not a channel, or a channel listed twice.
    """
    channels: dict[Channel, None] = {}
    for item in text.split(","):
        channel = read_channel_name(item)
        if channel is None:
            raise TimelineError(f"channel list {quoted(text)}: {quoted(item.strip())} is not an AU "
                                f"channel such as AU12 or AU12_L")
        problem = check_channel(channel, vocabulary) if vocabulary is not None else None
        if problem:
            raise TimelineError(f"channel list {quoted(text)}: {quoted(item.strip())}: {problem}")
        if channel in channels:
            raise TimelineError(f"channel list {quoted(text)}: {channel.name} is listed twice")
        channels[channel] = None
    return tuple(channels)


def _event_to_dict(event: AUEvent, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"channel": event.channel.name, "intensity": event.intensity}
    # With a vocabulary, no letter where FACS scores no intensity (AU45, a blink).
    letter = event.letter if vocabulary is None else vocabulary.letter_of(event.channel.au,
                                                                           event.letter)
    if letter is not None:
        entry["letter"] = letter
    entry.update(start=event.start, onset=event.onset, apex=event.apex, offset=event.offset,
                 ease_in=event.ease_in, ease_out=event.ease_out)
    for key in _WORD_KEYS:  # only where there are words: files without any are as before
        if getattr(event, key) is not None:
            entry[key] = getattr(event, key)
    return entry


def timeline_to_dict(timeline: Timeline, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    """The JSON-shaped form of a timeline (``events``, and ``marks`` when it has some; times in
    seconds). With a ``vocabulary``, codes whose intensity FACS does not score (AU45) carry no
    ``letter``."""
    data = {"schema": SCHEMA, "fps": timeline.fps, "duration": timeline.duration,
            "metadata": dict(timeline.metadata),
            "events": [_event_to_dict(event, vocabulary) for event in timeline.events]}
    if timeline.marks:
        data["marks"] = [{"code": mark.code, "start": mark.start, "end": mark.end}
                         for mark in timeline.marks]
    return data


def timeline_to_json(timeline: Timeline, vocabulary: Vocabulary | None = None) -> str:
    """The file text: two-space indented, one event per line (readable diffs), ending in a newline.

    Raises
    ------
    TimelineFormatError
        When the metadata holds values JSON cannot carry (NaN, objects).
    """
    data = timeline_to_dict(timeline, vocabulary)
    try:
        head = {key: value for key, value in data.items() if key not in ("events", "marks")}
        head_text = json.dumps(head, indent=2, ensure_ascii=False, allow_nan=False)
        lists = {key: [json.dumps(entry, ensure_ascii=False, allow_nan=False)
                       for entry in data[key]] for key in ("events", "marks") if key in data}
    except (TypeError, ValueError) as exc:
        raise TimelineFormatError(f"timeline cannot be written as JSON: {exc}") from None
    text = head_text[:-2]
    for key, lines in lists.items():
        text += (f',\n  "{key}": '
                 + ("[\n" + ",\n".join("    " + line for line in lines) + "\n  ]" if lines else "[]"))
    return text + "\n}\n"


def _json_shown(value: Any) -> str:
    """A JSON value for a message, as JSON spells it where Python would not (``null``, ``true``)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return shown(value)


def _finite(value: int | float) -> bool:
    # JSON integers are unbounded: 1e400 written out as digits overflows math.isfinite.
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class _Reader:
    """Collects the source name for messages and converts one JSON path at a time."""

    def __init__(self, source: str, vocabulary: Vocabulary):
        self.source = source
        self.vocabulary = vocabulary

    def fail(self, path: str, message: str) -> TimelineFormatError:
        return TimelineFormatError(f"{self.source}: {path}: {message}")

    def number(self, entry: Mapping[str, Any], key: str, path: str, default: float | None = None,
               *, minimum: float | None = 0.0) -> float:
        if key not in entry:
            if default is None:
                raise self.fail(path, f"missing {key!r}")
            return default
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            huge = isinstance(value, int) and not isinstance(value, bool)
            got = "an integer beyond float range" if huge else _json_shown(value)
            raise self.fail(f"{path}.{key}", f"expected a number, got {got}")
        if minimum is not None and value < minimum:
            what = "negative duration" if key in ("onset", "apex", "offset") else "negative time"
            raise self.fail(f"{path}.{key}", f"{what} ({value:g} s)")
        return float(value)

    def easings(self, entry: Mapping[str, Any], path: str) -> dict[str, str]:
        both = entry.get("ease", DEFAULT_EASING)
        options = {"ease_in": entry.get("ease_in", both), "ease_out": entry.get("ease_out", both)}
        for key, value in options.items():
            if value not in ("linear", "smooth", "step"):
                raise self.fail(f"{path}.{key if key in entry else 'ease'}",
                                f"easing {_json_shown(value)} is not one of linear, smooth, step")
        return options

    def unknown_keys(self, entry: Mapping[str, Any], allowed: set[str], path: str) -> None:
        extra = sorted(set(entry) - allowed)
        if extra:
            raise self.fail(path, f"unknown key {shown(extra[0])} (expected {', '.join(sorted(allowed))})")

    def words(self, entry: Mapping[str, Any], path: str, keys: tuple[str, ...] = _WORD_KEYS
              ) -> dict[str, str | None]:
        """The director's words of an event or beat, each checked as AU notes can hold it."""
        words = {key: entry.get(key) for key in keys}
        for key, value in words.items():
            if value is not None and not isinstance(value, str):
                raise self.fail(f"{path}.{key}", f"expected text, got {_json_shown(value)}")
            try:
                check_words(f"{path}.{key}", **{name: value if name == key else None
                                                for name in _WORD_KEYS})
            except TimelineError as exc:
                raise TimelineFormatError(f"{self.source}: {exc}") from None
        return words

    def event(self, entry: Any, path: str) -> AUEvent:
        if not isinstance(entry, Mapping):
            raise self.fail(path, "expected an object")
        self.unknown_keys(entry, _EVENT_KEYS, path)
        words = self.words(entry, path)
        if "channel" not in entry:
            raise self.fail(f"{path}.channel", "missing (expected an AU channel such as 'AU12' or "
                            "'AU12_L')")
        name = entry["channel"]
        channel = read_channel_name(name) if isinstance(name, str) else None
        if channel is None:
            raise self.fail(f"{path}.channel", f"expected an AU channel such as 'AU12' or "
                            f"'AU12_L', got {_json_shown(name)}")
        problem = check_channel(channel, self.vocabulary)
        if problem:
            raise self.fail(f"{path}.channel", problem)
        letter = entry.get("letter")
        if letter is not None and letter not in ("A", "B", "C", "D", "E"):
            raise self.fail(f"{path}.letter", f"intensity letter {_json_shown(letter)} is not one of A-E")
        if "intensity" in entry:
            intensity = self.number(entry, "intensity", path)
            if intensity > 1:
                raise self.fail(f"{path}.intensity", f"intensity {intensity:g} is outside 0-1")
        elif letter is not None:
            intensity = self.vocabulary.scale().letter_to_value(letter)
        else:  # unlettered: C, or full closure for a blink or wink (AU45, AU46)
            intensity = self.vocabulary.scale().letter_to_value(
                self.vocabulary.unlettered_letter(channel.au))
        options = self.easings(entry, path)
        start = self.number(entry, "start", path)
        absolute = [key for key in ("apex_start", "apex_end", "end") if key in entry]
        durations = [key for key in ("onset", "apex", "offset") if key in entry]
        try:
            if absolute:
                if durations:
                    raise self.fail(path, f"give phase durations ({', '.join(durations)}) or "
                                    f"absolute times ({', '.join(absolute)}), not both")
                missing = [key for key in ("apex_start", "apex_end", "end") if key not in entry]
                if missing:
                    raise self.fail(path, f"absolute phase times need apex_start, apex_end and "
                                    f"end; missing {', '.join(missing)}")
                times = [self.number(entry, key, path) for key in ("apex_start", "apex_end", "end")]
                return AUEvent.from_times(channel, intensity, start, *times, letter=letter,
                                          **options, **words)
            return AUEvent(channel, intensity, start,
                           self.number(entry, "onset", path, DEFAULT_ONSET),
                           self.number(entry, "apex", path, DEFAULT_APEX),
                           self.number(entry, "offset", path, DEFAULT_OFFSET),
                           letter=letter, **options, **words)
        except TimelineFormatError:
            raise
        except FacsRigError as exc:
            raise self.fail(path, str(exc)) from None

    def mark(self, entry: Any, path: str) -> CodeMark:
        if not isinstance(entry, Mapping):
            raise self.fail(path, "expected an object")
        self.unknown_keys(entry, _MARK_KEYS, path)
        code = entry.get("code")
        if isinstance(code, bool) or not isinstance(code, int):
            raise self.fail(f"{path}.code", f"expected a FACS number such as 50 (speech) or 74 "
                            f"(unscorable), got {_json_shown(code)}")
        unit = self.vocabulary.action_units.get(code)
        if unit is None:
            raise self.fail(f"{path}.code", f"unknown action unit {code}")
        if unit.drives:
            raise self.fail(f"{path}.code", f"AU{code} ({unit.name}) moves the face: it is an "
                            f"event (events or beats), not a mark")
        start, end = self.number(entry, "start", path), self.number(entry, "end", path)
        try:
            return CodeMark(code, start, end)
        except FacsRigError as exc:
            raise self.fail(path, str(exc)) from None

    def beat_time(self, entry: Any, path: str) -> float:
        """A beat's ``at``, read first: ``"apex": "next"`` holds until the next beat's."""
        if not isinstance(entry, Mapping):
            raise self.fail(path, "expected an object")
        self.unknown_keys(entry, _BEAT_KEYS, path)
        return self.number(entry, "at", path)

    def beat_layers(self, entry: Mapping[str, Any]) -> frozenset[str]:
        """What a beat's ``"apex": "next"`` holds within (:func:`hold_layers`); every layer for
        a code that does not parse (:meth:`beat` then says why, naming its path)."""
        try:
            return hold_layers(self.vocabulary.parse(entry["code"]), self.vocabulary)
        except (KeyError, TypeError, FacsRigError, VocabularyError):
            return frozenset(HOLD_LAYERS)

    def beat(self, entry: Mapping[str, Any], path: str, until: float | None
             ) -> tuple[AUEvent | CodeMark | Rest, ...]:
        """A beat's events and marks (its keys checked by :meth:`beat_time`); ``until``: when
        its ``"apex": "next"`` ends (the next beat's time, else the duration; None: the default
        apex)."""
        words = self.words(entry, path, ("note", "comment"))
        if "code" not in entry:
            raise self.fail(f"{path}.code", "missing (expected a FACS code string or expression "
                            "name, such as '6+12D' or 'happiness')")
        code = entry["code"]
        if not isinstance(code, str):
            raise self.fail(f"{path}.code", f"expected a FACS code string, got {_json_shown(code)}")
        intensity = None
        if "intensity" in entry:
            intensity = self.number(entry, "intensity", path)
            if intensity > 1:
                raise self.fail(f"{path}.intensity", f"intensity {intensity:g} is outside 0-1")
        scale = entry.get("scale")
        if scale is not None and not isinstance(scale, str):
            raise self.fail(f"{path}.scale", f"expected a scale name, got {_json_shown(scale)}")
        try:
            at = self.number(entry, "at", path)
            parsed = self.vocabulary.parse(code)
            default_onset, default_apex, default_offset = default_phases(parsed)
            onset = self.number(entry, "onset", path, default_onset)
            if entry.get("apex") == _NEXT:
                if hold_layers(parsed, self.vocabulary) == {"momentary"}:
                    raise self.fail(f"{path}.apex", momentary_hold_problem(parsed, code))
                apex = default_apex if until is None else hold_until(at, onset, until)
            else:
                apex = self.number(entry, "apex", path, default_apex)
            offset = self.number(entry, "offset", path, default_offset)
            if not parsed.aus:  # 0, neutral: the face returns to rest (core.timeline.Rest)
                return (face_rest(self.vocabulary, at,
                                  onset if "onset" in entry else None),)
            events = events_from_code(
                code, self.vocabulary, at=at, onset=onset, apex=apex, offset=offset,
                intensity=intensity, scale=scale, **self.easings(entry, path))
            if names_expression(code, self.vocabulary):  # as AU notes keep a typed name
                words["expression"] = code.strip()
            if any(value is not None for value in words.values()):
                events = tuple(replace(event, **words) for event in events)
            return events + marks_from_code(code, self.vocabulary, at=at,
                                            end=at + onset + apex + offset)
        except TimelineFormatError:
            raise
        except (FacsRigError, VocabularyError) as exc:
            raise self.fail(f"{path}.code", str(exc)) from None


def _beats(reader: _Reader, entries: list, duration: float | None, *, rules_apply: bool = True
           ) -> tuple[list[tuple[str, AUEvent]], list[tuple[str, CodeMark]]]:
    """The events and marks of the ``beats`` list, each with its beat's JSON path, as AU notes
    read their beats (in the order of their ``at``, the list's order among equal times):
    ``"apex": "next"`` holds the apex until the next beat with a later ``at`` (the last one:
    until ``duration``, else the default apex), a held item FACS cannot score beside an item of
    that next beat ending its fall there (:func:`facs_rig.core.timeline.meeting_next`; when
    ``rules_apply``: not on a measured timeline), and each beat takes over the channels it names
    from the beats before it (:func:`facs_rig.core.timeline.take_over`; ``events`` are kept as
    they are)."""
    times = [reader.beat_time(entry, f"beats[{index}]") for index, entry in enumerate(entries)]
    order = sorted(range(len(entries)), key=times.__getitem__)
    events_by_beat: list[list[AUEvent] | Rest] = []
    event_paths: list[str] = []  # of each event of events_by_beat, flattened
    marks: list[tuple[str, CodeMark]] = []
    # Each beat holds within its layers (core.timeline.hold_layers): untils[p] is the time of
    # the next later beat sharing one, where 'apex next' ends (the last one: the duration).
    untils = next_beat_times([times[index] for index in order],
                             [reader.beat_layers(entries[index]) for index in order])
    converted = [reader.beat(entries[index], f"beats[{index}]",
                             untils[position] if untils[position] is not None else duration)
                 for position, index in enumerate(order)]
    if rules_apply:
        for position, index in enumerate(order):
            until = untils[position]
            if (until is None or entries[index].get("apex") != _NEXT
                    or any(isinstance(item, Rest) for item in converted[position])):
                continue  # a neutral beat has no events to meet the next beat with
            following: list[AUEvent | CodeMark] = []
            for later in range(position + 1, len(order)):  # the next beat: every beat at its time
                if times[order[later]] > until:
                    break
                if times[order[later]] == until:
                    following.extend(item for item in converted[later]
                                     if not isinstance(item, Rest))
            converted[position] = tuple(meeting_next(converted[position], until, following,
                                                     reader.vocabulary))
    for position, index in enumerate(order):
        path = f"beats[{index}]"
        rests = [item for item in converted[position] if isinstance(item, Rest)]
        events_by_beat.append(rests[0] if rests else
                              [item for item in converted[position] if isinstance(item, AUEvent)])
        event_paths.extend([path] * (0 if rests else len(events_by_beat[-1])))
        marks.extend((path, item) for item in converted[position] if isinstance(item, CodeMark))
    return [(event_paths[flat], event) for flat, event in take_over_indexed(events_by_beat)], marks


def timeline_from_dict(data: Any, vocabulary: Vocabulary, *, source: str = "timeline") -> Timeline:
    """Validate the JSON-shaped form and build a :class:`Timeline`.

    Raises
    ------
    TimelineFormatError
        ``"<source>: events[3].onset: negative duration (-0.2 s)"``: the source, the JSON path
        and the problem.
    """
    reader = _Reader(source, vocabulary)
    if not isinstance(data, Mapping):
        raise reader.fail("$", "expected a JSON object")
    if "schema" not in data:
        raise reader.fail("schema", f"missing (expected {SCHEMA!r})")
    if data["schema"] != SCHEMA:
        raise reader.fail("schema", f"expected {SCHEMA!r}, got {_json_shown(data['schema'])}")
    reader.unknown_keys(data, _TOP_KEYS, "$")
    fps = reader.number(data, "fps", "$", DEFAULT_FPS)
    if fps <= 0:
        raise reader.fail("fps", f"frame rate must be positive, got {fps:g}")
    duration = reader.number(data, "duration", "$", -1.0) if "duration" in data else None
    metadata = data.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise reader.fail("metadata", "expected an object")
    events: list[AUEvent] = []
    marks: list[CodeMark] = []
    # The JSON path each event and mark came from, for the overlap check's message.
    event_paths: list[str] = []
    mark_paths: list[str] = []
    for key, convert in (("events", reader.event), ("beats", None), ("marks", reader.mark)):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise reader.fail(key, "expected a list")
        if convert is None:
            beat_events, beat_marks = _beats(reader, entries, duration,
                                             rules_apply=MEASURED_KEY not in metadata)
            for path, event in beat_events:
                events.append(event)
                event_paths.append(path)
            for path, mark in beat_marks:
                marks.append(mark)
                mark_paths.append(path)
            continue
        for index, entry in enumerate(entries):
            path = f"{key}[{index}]"
            converted = convert(entry, path)
            for item in converted if isinstance(converted, tuple) else (converted,):
                if isinstance(item, CodeMark):
                    marks.append(item)
                    mark_paths.append(path)
                else:
                    events.append(item)
                    event_paths.append(path)
    # Separate events on at one moment are one code (FACS's rules for one code apply), except
    # on a timeline measured from a capture (MEASURED_KEY: not a coding): the one check of
    # every reader and of timelines built in Python.
    problem = coding_problem(events, vocabulary, fps=fps, marks=marks,
                             labels=event_paths + mark_paths, metadata=metadata)
    if problem:
        raise TimelineFormatError(f"{source}: {problem}")
    try:
        return Timeline(tuple(events), duration, fps, metadata, tuple(marks))
    except FacsRigError as exc:
        raise reader.fail("$", str(exc)) from None


def timeline_from_json(text: str, vocabulary: Vocabulary, *, source: str = "timeline") -> Timeline:
    """Parse the JSON text of a timeline file; syntax errors name the line and column."""
    try:
        data = bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimelineFormatError(f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON: "
                                  f"{exc.msg}") from None
    except RecursionError:
        raise TimelineFormatError(f"{source}: JSON nested too deeply") from None
    return timeline_from_dict(data, vocabulary, source=source)
