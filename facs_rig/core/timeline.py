"""AU timelines: events shaped by the FACS temporal phases, and dense sampling.

An :class:`AUEvent` is one action unit on one side at one intensity, shaped by the temporal
phases FACS coders mark (onset, apex, offset; Ekman, Friesen & Hager 2002, FACS Investigator's
Guide, on timing) between a neutral start and a neutral end::

    intensity                  apex
        I |          ______________________
          |        /|                      |\\
          |      /  |                      |  \\
        0 |____/    |                      |    \\____
              start  apex_start    apex_end     end
              |onset|<-------- apex ------>|offset|

The rise (onset) and fall (offset) follow an easing curve from :data:`EASINGS`:

* ``linear``: straight ramp (FACSHuman's ``.fani`` clips, ``montybot/FACSHuman``
  ``8_FACSAnim.py``, and HapFACS interpolate linearly);
* ``smooth`` (default): the cubic ease-in-out ``3u² - 2u³`` (the cubic Hermite "smoothstep"),
  zero slope at both ends so a muscle starts and settles gently (Py-Feat's ``animate_face`` also
  eases with a cubic in-out);
* ``step``: hold, then jump at the phase's end, as a glTF ``STEP`` sampler does (the rise stays at
  0 until the apex starts; the fall stays at the apex value until the event ends).

Boundary rules (documented in ``docs/timeline-formats.md``): an event is zero before ``start``
and after ``end``; the apex value is reached exactly at ``apex_start`` and held through
``apex_end`` inclusive; at ``end`` a fall with a non-zero duration has reached 0. Overlapping
events on the same channel combine by their maximum; different channels are independent.

A :class:`Timeline` is a tuple of events with a duration, a default sampling rate and free
metadata. :func:`sample` turns it into :class:`~facs_rig.core.curves.AUCurves`, looping over
events (never over frames). This module is pure: numpy and the standard library only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from facs_rig.core import limits as _limits
from facs_rig.core.channels import Channel, sort_channels
from facs_rig.core.curves import UNSAMPLED_KEY, AUCurves
from facs_rig.core.notation import Code, CodedAU, combination_rule
from facs_rig.errors import CodeParseError, FacsRuleError, TimelineError, VocabularyError

if TYPE_CHECKING:
    from facs_rig.core.vocabulary import IntensityScale, Vocabulary

__all__ = [
    "AUEvent",
    "code_of_events",
    "check_words",
    "without_words",
    "CodeMark",
    "marks_from_code",
    "intensity_reaches",
    "intensity_band_letter",
    "Timeline",
    "EASINGS",
    "DEFAULT_EASING",
    "DEFAULT_FPS",
    "DEFAULT_ONSET",
    "DEFAULT_APEX",
    "DEFAULT_OFFSET",
    "ease",
    "envelope",
    "events_from_code",
    "ended_at",
    "take_over",
    "take_over_indexed",
    "Rest",
    "face_rest",
    "at_rest",
    "hold_until",
    "hold_layers",
    "next_beat_times",
    "momentary_hold_problem",
    "default_phases",
    "MOMENTARY_AUS",
    "BLINK_PHASES",
    "WINK_PHASES",
    "TAKEOVER_TOLERANCE",
    "timeline_from_code",
    "timeline_from_curves",
    "sample",
    "sample_blocks",
    "frame_times",
    "timeline_summary",
    "overlap_problem",
    "check_channel",
    "coding_problem",
    "check_timeline",
    "meeting_next",
    "MEASURED_KEY",
    "FPS_STATED_KEY",
]

#: Easing names accepted for the rise and the fall.
EASINGS = ("linear", "smooth", "step")
DEFAULT_EASING = "smooth"
#: Default sampling rate of a timeline, frames per second.
DEFAULT_FPS = 30.0
# Default phase durations in seconds for a beat written without phases. They are facs-rig's
# animation defaults (a brisk rise, a one-second hold, a slower release), not FACS measurements.
DEFAULT_ONSET = 0.3
DEFAULT_APEX = 1.0
DEFAULT_OFFSET = 0.5
#: Times closer than this (seconds) to a phase boundary count as on it, so that a frame time
#: such as ``9 / 30`` and a boundary such as ``0.1 + 0.2`` agree despite binary rounding.
TIME_TOLERANCE = 1e-9

#: A later beat that starts within this (seconds) of an earlier event's apex end does not cut it
#: (:func:`ended_at`): AU notes write times to the nanosecond, and a timeline read back must not
#: be cut again by that rounding (a microsecond is a thousandth of a frame at 1,000 fps).
TAKEOVER_TOLERANCE = 1e-6

#: Largest frame count :func:`frame_times` produces: the one limit of :mod:`facs_rig.core.limits`.
MAX_FRAMES = _limits.MAX_FRAMES
#: Largest ``n_frames * n_channels`` :func:`sample` allocates (1.6 GB of float32).
MAX_VALUES = 400_000_000

_LETTERS = ("A", "B", "C", "D", "E")


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)


def _step(u: np.ndarray) -> np.ndarray:
    return (u >= 1.0).astype(np.float64)


_EASE_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda u: u,
    "smooth": _smoothstep,
    "step": _step,
}


def ease(name: str, u: np.ndarray | float) -> np.ndarray:
    """Progress ``0..1`` of an easing curve at phase fraction ``u`` (clipped to ``[0, 1]``).

    Parameters
    ----------
    name : {'linear', 'smooth', 'step'}
    u : (n,) float array or float
        Fraction of the phase elapsed.

    Returns
    -------
    (n,) float64
        0 at ``u = 0`` and 1 at ``u = 1`` for every easing.
    """
    try:
        function = _EASE_FUNCTIONS[name]
    except KeyError:
        raise TimelineError(f"unknown easing {name!r}; expected one of {', '.join(EASINGS)}") from None
    return function(np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0))


def _check_time(value: Any, what: str, *, allow_negative: bool = False) -> float:
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, checked cheaply
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TimelineError(f"{what} must be a number of seconds, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise TimelineError(f"{what} must be finite, not {number!r}")
    if number < 0 and not allow_negative:
        raise TimelineError(f"{what} is negative ({number:g} s)")
    return number


@dataclass(frozen=True, slots=True)
class AUEvent:
    """One AU activation shaped by onset, apex and offset.

    Parameters
    ----------
    channel : Channel
        The AU and side (``Channel(12, 'L')``).
    intensity : float
        Apex value, 0-1.
    start : float
        Seconds when the onset begins (non-negative).
    onset, apex, offset : float
        Durations in seconds of the rise, the hold and the fall (non-negative).
    ease_in, ease_out : {'smooth', 'linear', 'step'}
        Easing of the rise and of the fall.
    letter : {None, 'A', 'B', 'C', 'D', 'E'}
        The FACS intensity letter the event was coded with, kept so that formats that speak in
        letters (AU notes, ELAN) write it back as it was; ``intensity`` is what drives the rig.
    expression : str or None
        The code as the director typed it when it names an expression (``surprise``,
        ``surprise+25``): the intent behind the AUs, written back where the events are still
        exactly what it expands to. One line, no ``#``.
    note : str or None
        The director's words on lines of their own above the beat (AU notes comment lines),
        one line each, joined with ``"\\n"``.
    comment : str or None
        The director's words at the end of the beat's own line (``# she opens the letter``),
        one line.
    None of the three drives anything: they are carried so that no format that can hold them
    loses them (docs/timeline-formats.md, "The director's words").

    Raises
    ------
    TimelineError
        For a negative or non-finite time, an intensity outside 0-1, an unknown easing or letter.
    """

    channel: Channel
    intensity: float
    start: float
    onset: float = DEFAULT_ONSET
    apex: float = DEFAULT_APEX
    offset: float = DEFAULT_OFFSET
    ease_in: str = DEFAULT_EASING
    ease_out: str = DEFAULT_EASING
    letter: str | None = None
    expression: str | None = None
    note: str | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.channel, Channel):
            raise TimelineError(f"event channel must be a Channel, not {self.channel!r}")
        label = f"{self.channel.name} event"
        intensity = self.intensity
        if isinstance(intensity, bool) or not isinstance(intensity, (int, float, np.floating, np.integer)):
            raise TimelineError(f"{label}: intensity must be a number 0-1, not {intensity!r}")
        if not (math.isfinite(float(intensity)) and 0.0 <= float(intensity) <= 1.0):
            raise TimelineError(f"{label}: intensity {float(intensity)!r} is outside 0-1")
        object.__setattr__(self, "intensity", float(intensity))
        object.__setattr__(self, "start", _check_time(self.start, f"{label}: start"))
        for phase in ("onset", "apex", "offset"):
            value = _check_time(getattr(self, phase), f"{label}: {phase} duration")
            object.__setattr__(self, phase, value)
        for attribute in ("ease_in", "ease_out"):
            if getattr(self, attribute) not in EASINGS:
                raise TimelineError(f"{label}: {attribute} {getattr(self, attribute)!r} is not one "
                                    f"of {', '.join(EASINGS)}")
        if not math.isfinite(self.start + self.onset + self.apex + self.offset):
            raise TimelineError(f"{label}: end time overflows")
        if self.letter is not None and self.letter not in _LETTERS:
            raise TimelineError(f"{label}: intensity letter {self.letter!r} is not one of A-E")
        if self.expression is not None or self.note is not None or self.comment is not None:
            check_words(label, self.expression, self.note, self.comment)

    @classmethod
    def _trusted(cls, channel: Channel, intensity: float, start: float, onset: float,
                 apex: float, offset: float, letter: str | None) -> AUEvent:
        """A linear-eased event built WITHOUT :meth:`__post_init__`'s checks (private).

        Only for core code that guarantees what those checks test: ``channel`` a
        :class:`Channel`, ``intensity`` a Python float in 0-1, ``start``, ``onset``, ``apex`` and
        ``offset`` finite non-negative Python floats, ``letter`` None or one of A-E. The checks
        cost ~5 us per event: ~0.7 s when :func:`facs_rig.core.events.extract_events` reads an
        hour of capture (68,000 events, 133,000 checked constructions before). A value built
        here equals the one the public constructor builds from the same arguments
        (tests/test_events.py).
        """
        event = object.__new__(cls)
        set_field = object.__setattr__  # the dataclass is frozen
        set_field(event, "channel", channel)
        set_field(event, "intensity", intensity)
        set_field(event, "start", start)
        set_field(event, "onset", onset)
        set_field(event, "apex", apex)
        set_field(event, "offset", offset)
        set_field(event, "ease_in", "linear")
        set_field(event, "ease_out", "linear")
        set_field(event, "letter", letter)
        set_field(event, "expression", None)
        set_field(event, "note", None)
        set_field(event, "comment", None)
        return event

    @classmethod
    def from_times(cls, channel: Channel, intensity: float, start: float, apex_start: float,
                   apex_end: float, end: float, **options: Any) -> AUEvent:
        """Build an event from the absolute times of its four phase boundaries (seconds).

        Raises
        ------
        TimelineError
            When the times go backwards: apex starting before the onset, the apex ending before
            it starts, or the event ending before its apex ends.
        """
        label = f"{channel.name} event" if isinstance(channel, Channel) else "event"
        times = {name: _check_time(value, f"{label}: {name}", allow_negative=True)
                 for name, value in (("start", start), ("apex_start", apex_start),
                                     ("apex_end", apex_end), ("end", end))}
        if times["apex_start"] < times["start"]:
            raise TimelineError(f"{label}: apex starts at {times['apex_start']:g} s, before the "
                                f"onset at {times['start']:g} s")
        if times["apex_end"] < times["apex_start"]:
            raise TimelineError(f"{label}: apex ends at {times['apex_end']:g} s, before it starts "
                                f"at {times['apex_start']:g} s")
        if times["end"] < times["apex_end"]:
            raise TimelineError(f"{label}: event ends at {times['end']:g} s, before its apex ends "
                                f"at {times['apex_end']:g} s")
        # Differences of binary floats carry noise (2.68 - 2.6 = 0.08000000000000007); rounding
        # to a picosecond gives the durations a person meant, far below any frame period.
        return cls(channel, intensity, times["start"],
                   round(times["apex_start"] - times["start"], 12),
                   round(times["apex_end"] - times["apex_start"], 12),
                   round(times["end"] - times["apex_end"], 12), **options)

    @property
    def apex_start(self) -> float:
        """Seconds when the apex value is reached."""
        return self.start + self.onset

    @property
    def apex_end(self) -> float:
        """Seconds when the fall begins."""
        return self.start + self.onset + self.apex

    @property
    def end(self) -> float:
        """Seconds when the event is back to neutral."""
        return self.start + self.onset + self.apex + self.offset

    def shifted(self, seconds: float) -> AUEvent:
        """The same event moved ``seconds`` later (earlier when negative)."""
        return replace(self, start=self.start + seconds)


def _one_line(text: str) -> bool:
    return text == "" or text.splitlines() == [text]


def check_words(label: str, expression: Any, note: Any, comment: Any) -> None:
    """Refuse words an AU notes line could not hold (:class:`AUEvent`'s ``expression``,
    ``note`` and ``comment``).

    Raises
    ------
    TimelineError
        For a value that is not a string, an expression that is empty, spans lines or holds
        ``#`` (it would start a comment), a comment over more than one line, a note line
        broken by a character other than ``"\\n"``.
    """
    for what, value in (("expression", expression), ("note", note), ("comment", comment)):
        if value is not None and not isinstance(value, str):
            raise TimelineError(f"{label}: {what} must be text, not {value!r}")
    if expression is not None and (not expression.strip() or not _one_line(expression)
                                   or "#" in expression):
        raise TimelineError(f"{label}: expression {expression!r} must be one line of text "
                            f"without '#'")
    if comment is not None and not _one_line(comment):
        raise TimelineError(f"{label}: comment {comment!r} must be one line")
    if note is not None and not all(_one_line(line) for line in note.split("\n")):
        raise TimelineError(f"{label}: note {note!r}: its lines are separated by \\n only")


def without_words(event: AUEvent) -> AUEvent:
    """The event without its director's words (what drives the rig, and its letter)."""
    if event.expression is None and event.note is None and event.comment is None:
        return event
    return replace(event, expression=None, note=None, comment=None)


_EASE_CODES = {name: code for code, name in enumerate(EASINGS)}


def _ease_coded(codes: np.ndarray | int, u: np.ndarray) -> np.ndarray:
    """:func:`ease` with one easing code per element (``EASINGS`` index), same arithmetic."""
    u = np.clip(u, 0.0, 1.0)
    linear, smooth, step = (_EASE_CODES[name] for name in ("linear", "smooth", "step"))
    return np.where(codes == linear, u,
                    np.where(codes == smooth, _smoothstep(u), _step(u)))


def _pick(value: np.ndarray | float, mask: np.ndarray) -> np.ndarray | float:
    return value[mask] if isinstance(value, np.ndarray) else value


def _shapes(t: np.ndarray, start, apex_start, apex_end, end, onset, offset, ease_in, ease_out
            ) -> np.ndarray:
    """Envelope shape (0-1, before scaling by intensity) at times ``t``.

    Every parameter is either a scalar (one event) or an array aligned with ``t`` (one event per
    element), so a single event and a batch of (event, frame) pairs share the arithmetic and
    give bit-identical results.
    """
    tolerance = TIME_TOLERANCE
    shape = np.ones(t.shape, dtype=np.float64)
    inside = (t >= start - tolerance) & (t <= end + tolerance)
    rising = inside & (t < apex_start - tolerance)
    falling = inside & (t > apex_end + tolerance)
    if rising.any():
        u = (t[rising] - _pick(start, rising)) / _pick(onset, rising)
        shape[rising] = _ease_coded(_pick(ease_in, rising), u)
    if falling.any():
        u = (t[falling] - _pick(apex_end, falling)) / _pick(offset, falling)
        shape[falling] = 1.0 - _ease_coded(_pick(ease_out, falling), u)
        # At the end of a fall with a duration the event is back to neutral: exactly 0, also
        # for step easing and for a frame that lands on ``end`` within the tolerance.
        shape[falling & (t >= end - tolerance) & (offset > 0)] = 0.0
    shape[~inside] = 0.0
    return shape


def envelope(event: AUEvent, times: np.ndarray) -> np.ndarray:
    """Value of one event at ``times``.

    Parameters
    ----------
    event : AUEvent
    times : (n,) float64
        Seconds.

    Returns
    -------
    (n,) float64
        In ``[0, event.intensity]``; zero outside ``[start, end]``.
    """
    times = np.asarray(times, dtype=np.float64)
    shape = _shapes(times, event.start, event.apex_start, event.apex_end, event.end, event.onset,
                    event.offset, np.int8(_EASE_CODES[event.ease_in]),
                    np.int8(_EASE_CODES[event.ease_out]))
    return np.clip(event.intensity * shape, 0.0, 1.0)


def _event_order(event: AUEvent) -> tuple:
    # A total order, so that two timelines holding the same events compare equal whatever
    # order a file listed them in: by start, then channel, then the remaining fields.
    return (event.start, event.channel.sort_key, event.onset, event.apex, event.offset,
            event.intensity, event.ease_in, event.ease_out, event.letter or "",
            event.expression or "", event.note or "", event.comment or "")


@dataclass(frozen=True, slots=True)
class CodeMark:
    """A FACS code that drives nothing, held over a span: a visibility code (70-74, ``74``:
    unscorable) or a gross behaviour code (40, 50, 80-98, ``50``: speech).

    ``action_units.json`` says these codes are parsed and kept: a timeline keeps them as marks
    beside its events, every timeline format writes them back, ``timeline show`` lists them, and
    nothing plays them (no rig target; :func:`sample` ignores them).

    Parameters
    ----------
    code : int
        The FACS number (50).
    start, end : float
        Seconds; ``end`` not before ``start``.

    Raises
    ------
    TimelineError
        For a negative, non-finite or backwards time, or a code that is not a whole number.
    """

    code: int
    start: float
    end: float

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, (int, np.integer)) \
                or not 0 <= int(self.code) < 100:
            raise TimelineError(f"a mark's code must be a FACS number 0-99, not {self.code!r}")
        object.__setattr__(self, "code", int(self.code))
        label = f"code {self.code} mark"
        object.__setattr__(self, "start", _check_time(self.start, f"{label}: start"))
        object.__setattr__(self, "end", _check_time(self.end, f"{label}: end"))
        if self.end < self.start:
            raise TimelineError(f"{label}: ends at {self.end:g} s, before it starts at "
                                f"{self.start:g} s")

    def shifted(self, seconds: float) -> CodeMark:
        """The same mark moved ``seconds`` later (earlier when negative)."""
        return CodeMark(self.code, self.start + seconds, self.end + seconds)


def _sorted_marks(marks: Iterable[CodeMark]) -> tuple[CodeMark, ...]:
    """Marks checked and sorted by start, then code, then end."""
    marks = tuple(marks)
    for index, mark in enumerate(marks):
        if not isinstance(mark, CodeMark):
            raise TimelineError(f"marks[{index}] must be a CodeMark, not {mark!r}")
    return tuple(sorted(marks, key=lambda m: (m.start, m.code, m.end)))


def _canonical_metadata(metadata: Any) -> Mapping[str, Any]:
    if metadata is None:
        return MappingProxyType({})
    if not isinstance(metadata, Mapping):
        raise TimelineError(f"timeline metadata must be a mapping, not {type(metadata).__name__}")
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True)
class Timeline:
    """AU events with a duration, a default sampling rate and free metadata.

    Parameters
    ----------
    events : tuple of AUEvent
        Sorted on construction by start time, then channel (stable order), then the other
        fields, so equal sets of events give equal timelines.
    duration : float or None
        Seconds; ``None`` means the end of the last event or mark (0 for none). Events reaching
        past an explicit duration are cut off when sampled.
    fps : float
        Default frames per second for :func:`sample`.
    metadata : Mapping
        Free provenance: title, source file, coder, ignored tiers, ...
    marks : tuple of CodeMark
        Codes that drive nothing (visibility, speech, ...), kept and written back, never played;
        sorted by start, then code, then end.
    vocabulary : Vocabulary or None
        When given, the timeline is checked against FACS's rules as its file readers check it
        (:func:`check_timeline`); not kept.

    Raises
    ------
    FacsRuleError
        With a ``vocabulary``: for an event on an AU FACS codes on one side only without a side
        (``AU46``), or separate events FACS cannot score at one moment (``51`` beside ``52``),
        naming them.
    """

    events: tuple[AUEvent, ...] = ()
    duration: float | None = None
    fps: float = DEFAULT_FPS
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    marks: tuple[CodeMark, ...] = ()
    vocabulary: InitVar[Vocabulary | None] = None

    def __post_init__(self, vocabulary: Vocabulary | None = None) -> None:
        events = tuple(self.events)
        for index, event in enumerate(events):
            if not isinstance(event, AUEvent):
                raise TimelineError(f"events[{index}] must be an AUEvent, not {event!r}")
        events = tuple(sorted(events, key=_event_order))
        object.__setattr__(self, "events", events)
        # The events' sort keys (made when with_events first adds to this timeline) and end, so
        # that adding a few events to a long timeline does not sort it again (add_code in a
        # loop was quadratic: 4,000 beats took 12 s).
        object.__setattr__(self, "_event_keys", None)
        object.__setattr__(self, "_events_end", max((event.end for event in events), default=0.0))
        marks = _sorted_marks(self.marks)
        object.__setattr__(self, "marks", marks)
        if self.duration is None:
            duration = max(self._events_end, max((mark.end for mark in marks), default=0.0))
        else:
            duration = _check_time(self.duration, "timeline duration")
        object.__setattr__(self, "duration", float(duration))
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.floating, np.integer)) \
                or not (math.isfinite(float(fps)) and float(fps) > 0):
            raise TimelineError(f"timeline fps must be a positive number, not {fps!r}")
        object.__setattr__(self, "fps", float(fps))
        object.__setattr__(self, "metadata", _canonical_metadata(self.metadata))
        if vocabulary is not None:
            check_timeline(self, vocabulary)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeline):
            return NotImplemented
        return (self.events == other.events and self.duration == other.duration
                and self.fps == other.fps and dict(self.metadata) == dict(other.metadata)
                and self.marks == other.marks)

    __hash__ = None  # metadata may hold unhashable values

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels the events drive, in the stable order of :func:`sort_channels`."""
        return sort_channels(event.channel for event in self.events)

    @property
    def end(self) -> float:
        """End of the last event in seconds (0 when there are none)."""
        return max((event.end for event in self.events), default=0.0)

    def with_events(self, events: Iterable[AUEvent], *, duration: float | None = None) -> Timeline:
        """A copy with other events; the duration grows to cover them unless given.

        ``self.events + more`` (the events of this timeline, then others) sorts only the others
        into place, so adding beats one call at a time costs time in the beats added, not in
        the timeline's length.
        """
        events = tuple(events)
        count = len(self.events)
        # Tuple equality compares items by identity first: a prefix check costs no Python call
        # per event when the events are this timeline's own.
        if count and len(events) > count and events[:count] == self.events:
            return self._with_more_events(events[count:], duration)
        if duration is None:
            duration = max(self.duration, max((e.end for e in events), default=0.0))
        return Timeline(events, duration, self.fps, self.metadata, self.marks)

    def _with_more_events(self, more: tuple[AUEvent, ...], duration: float | None) -> Timeline:
        """:meth:`with_events` of ``self.events + more``: the same timeline, each of ``more``
        inserted after the events whose sort key is not greater (as the stable sort of
        ``__post_init__`` places it)."""
        for index, event in enumerate(more, len(self.events)):
            if not isinstance(event, AUEvent):
                raise TimelineError(f"events[{index}] must be an AUEvent, not {event!r}")
        keys = list(self._event_keys) if self._event_keys is not None else [
            _event_order(event) for event in self.events]
        events = list(self.events)
        for key, event in sorted(((_event_order(e), e) for e in more), key=lambda pair: pair[0]):
            at = bisect.bisect_right(keys, key)
            keys.insert(at, key)
            events.insert(at, event)
        end = max(self._events_end, max(event.end for event in more))
        duration = max(self.duration, end) if duration is None \
            else _check_time(duration, "timeline duration")
        return self._presorted(tuple(events), keys, end, float(duration), self.marks)

    def _presorted(self, events: tuple[AUEvent, ...], keys: list[tuple] | None, end: float,
                   duration: float, marks: tuple[CodeMark, ...]) -> Timeline:
        """A timeline with this one's fps and metadata (both checked already) and ``events``
        sorted and checked already (``keys``: their sort keys, or None when not made):
        ``__post_init__`` would only sort them again."""
        timeline = object.__new__(type(self))
        for name, value in (("events", events), ("_event_keys", keys), ("_events_end", end),
                            ("duration", duration), ("fps", self.fps),
                            ("metadata", self.metadata), ("marks", marks)):
            object.__setattr__(timeline, name, value)
        return timeline

    def with_marks(self, marks: Iterable[CodeMark]) -> Timeline:
        """A copy with other marks; the duration grows to cover them."""
        marks = _sorted_marks(marks)
        duration = max(self.duration, max((m.end for m in marks), default=0.0))
        # The events stay as they are: not sorted again (add_code calls this for every beat).
        return self._presorted(self.events, self._event_keys, self._events_end, float(duration),
                               marks)

    def with_fps(self, fps: float) -> Timeline:
        """A copy with another default sampling rate."""
        return Timeline(self.events, self.duration, fps, self.metadata, self.marks)

    def add_code(self, code: str | Code, vocabulary: Vocabulary, *, at: float,
                 onset: float | None = None, apex: float | None = None,
                 offset: float | None = None, ease_in: str = DEFAULT_EASING,
                 ease_out: str = DEFAULT_EASING, intensity: float | None = None,
                 scale: str | None = None) -> Timeline:
        """A copy with one beat added: a code string or expression expanded by :func:`events_from_code`.

        The duration grows to cover the new events when needed. A phase not given takes the
        default of the code (:func:`default_phases`: 0.3, 1 and 0.5 s; a blink's or a wink's
        for a code of only those, so ``add_code("45", ...)`` blinks instead of closing the
        eyes for 1.8 s). The new beat is checked against FACS's rules as a timeline file is,
        with what is on during it (:func:`coding_problem`): a beat ``52`` added while a ``51``
        is still on raises :class:`~facs_rig.errors.FacsRuleError`.

        >>> from facs_rig import load_vocabulary
        >>> beat = Timeline().add_code("6+12D", load_vocabulary(), at=1.0)
        >>> [(e.channel.name, e.intensity, e.apex_start) for e in beat.events]
        [('AU06', 0.55, 1.3), ('AU12', 0.9, 1.3)]
        """
        code = _parsed(code, vocabulary)
        defaults = default_phases(code)
        onset, apex, offset = (default if given is None else given
                               for given, default in zip((onset, apex, offset), defaults))
        new = events_from_code(code, vocabulary, at=at, onset=onset, apex=apex, offset=offset,
                               ease_in=ease_in, ease_out=ease_out, intensity=intensity, scale=scale)
        marks = marks_from_code(code, vocabulary, at=at, end=at + onset + apex + offset)
        added = self.with_events(self.events + new).with_marks(self.marks + marks)
        # The new beat against what is on during it (the rules are about items on at once):
        # checking the whole copy made a loop of add_code quadratic (4,000 beats: 10 s).
        end = at + onset + apex + offset
        problem = coding_problem(
            [e for e in self.events if e.end > at and e.start < end] + list(new), vocabulary,
            fps=added.fps, marks=[m for m in self.marks if m.end > at and m.start < end]
            + list(marks), metadata=added.metadata)
        if problem:
            raise FacsRuleError(problem)
        return added


def events_from_code(code: str | Code, vocabulary: Vocabulary, *, at: float,
                     onset: float = DEFAULT_ONSET, apex: float = DEFAULT_APEX,
                     offset: float = DEFAULT_OFFSET, ease_in: str = DEFAULT_EASING,
                     ease_out: str = DEFAULT_EASING, intensity: float | None = None,
                     scale: str | None = None) -> tuple[AUEvent, ...]:
    """One event per AU of a FACS code or named expression, all with the same phases.

    Parameters
    ----------
    code : str or Code
        ``6+12D``, ``R12A+R14A``, ``happiness``, or a parsed :class:`Code`.
    vocabulary : Vocabulary
        Codes, expressions and intensity scales.
    at : float
        Start (seconds) of every event's onset.
    onset, apex, offset : float
        Phase durations in seconds.
    intensity : float or None
        0-1 value for the AUs coded *without* a letter; ``None`` uses the scale's value of its
        unscored letter (``C`` = 0.55 on the default FACSHuman scale). A blink or wink (AU45,
        AU46), which FACS scores only present, written without a letter plays at ``E`` either
        way. Lettered AUs always take their letter's value (``45B`` too).
    scale : str or None
        Intensity scale name (default: the vocabulary's default).

    Returns
    -------
    tuple of AUEvent
        In the code's canonical order. Visibility and behaviour codes (70-74, 40, 50, 80-98)
        drive nothing and give no event, as :meth:`Vocabulary.channel_values` leaves them out.

    Raises
    ------
    TimelineError
        When the code does not parse (the message carries the parser's column) or a time is bad.
    """
    code = _parsed(code, vocabulary)
    try:
        intensity_scale = vocabulary.scale(scale)
    except VocabularyError as exc:
        raise TimelineError(str(exc)) from None
    events = []
    for term in code:
        if not vocabulary.action_unit(term.au).drives:
            continue
        # FACS 2002 scores a blink or wink only present (vocabulary.unlettered_letter): written
        # without a letter it closes the eye, whatever value the unlettered AUs are given.
        if term.intensity is None and intensity is not None and vocabulary.scores_intensity(term.au):
            value = intensity
        else:
            value = vocabulary.term_value(term, intensity_scale.name)
        events.append(AUEvent(term.channel, value, at, onset, apex, offset, ease_in, ease_out,
                              term.intensity))
    return tuple(events)


#: The momentary actions: AU45, the blink, and AU46, the wink. FACS 2002's AU45 section (as cited
#: in action_units.json, rules.sources): the eye "must close or nearly close for a moment, and then
#: return to an open position", within half a second, else it is 43E (eyes closed); a unilateral
#: closure that short "might be scored either a blink or a wink", AU46 the intentional one.
MOMENTARY_AUS = frozenset({45, 46})
#: Default phases (onset, apex, offset; seconds) of a beat that is only a blink. The lid closes in
#: about 100 ms and reopens more slowly than it closed (Stern, Walrath & Goldstein 1984, "The
#: endogenous eyeblink", Psychophysiology 21(1):22-33: closing about 100 ms, the eye covered at
#: most 300 ms, reopening about 100 ms, 500 ms at the longest; Evinger, Manning & Sibony 1991,
#: "Eyelid movements", Invest. Ophthalmol. Vis. Sci. 32(2):387-400: the upstroke is the slower).
#: The default beat's 1.8 s (:data:`DEFAULT_APEX`) would read as eyes closed, not a blink.
BLINK_PHASES = (0.1, 0.05, 0.15)
#: Default phases of a beat that is only a wink (AU46): intentional, so the closure is held a
#: moment longer than a blink's, still within FACS's half second (0.4 s in all).
WINK_PHASES = (0.1, 0.15, 0.15)
#: The layers ``apex next`` holds within (:func:`hold_layers`).
HOLD_LAYERS = ("face", "head", "gaze", "momentary")


def default_phases(code: Code) -> tuple[float, float, float]:
    """Onset, apex and offset (seconds) of a beat of ``code`` written without phases.

    :data:`BLINK_PHASES` for a code of blinks only (``45``), :data:`WINK_PHASES` for one with a
    wink and no other action (``L46``, ``L46+R45`` is not a code FACS scores), else the
    animation defaults :data:`DEFAULT_ONSET`, :data:`DEFAULT_APEX`, :data:`DEFAULT_OFFSET`
    (``12+L46`` keeps them: the smile sets the beat's pace; give the wink its own beat).

    >>> from facs_rig import load_vocabulary
    >>> default_phases(load_vocabulary().parse("blink")), default_phases(load_vocabulary().parse("6+12"))
    ((0.1, 0.05, 0.15), (0.3, 1.0, 0.5))
    """
    aus = {term.au for term in code}
    if aus and aus <= MOMENTARY_AUS:
        return WINK_PHASES if 46 in aus else BLINK_PHASES
    return (DEFAULT_ONSET, DEFAULT_APEX, DEFAULT_OFFSET)


def hold_layers(code: Code, vocabulary: Vocabulary) -> frozenset[str]:
    """The layers of a beat of ``code`` that ``apex next`` holds within.

    A held beat holds until the next beat that shares one of its layers, so that a blink, a
    wink, a head turn or a glance laid over a held expression does not end it (nor an
    expression a held head turn): ``"head"`` for the head positions (AU51-58, kind ``head``),
    ``"gaze"`` for the eye positions (AU61-69, kind ``eye``), ``"momentary"`` for the blink and
    the wink (:data:`MOMENTARY_AUS`), ``"face"`` for every other action that drives a channel
    and for ``0`` (``neutral``, the face at rest). A code that drives nothing (``50``, speech)
    has no layer.

    >>> from facs_rig import load_vocabulary
    >>> v = load_vocabulary()
    >>> sorted(hold_layers(v.parse("6+12+53"), v)), sorted(hold_layers(v.parse("L46"), v))
    (['face', 'head'], ['momentary'])
    """
    if not code.aus:
        return frozenset({"face"})  # 0, neutral: the face at rest
    layers = set()
    for term in code:
        unit = vocabulary.action_unit(term.au)
        if not unit.drives:
            continue
        layers.add("momentary" if term.au in MOMENTARY_AUS
                   else "head" if unit.kind == "head" else "gaze" if unit.kind == "eye"
                   else "face")
    return frozenset(layers)


def face_rest(vocabulary: Vocabulary, at: float, fall: float | None = None) -> Rest:
    """The :class:`Rest` of a ``neutral`` beat at ``at``: every AU of the face layer
    (:func:`hold_layers`) returns to rest, over ``fall`` seconds (None: each event's offset)."""
    aus = frozenset(number for number, unit in vocabulary.action_units.items()
                    if unit.drives and number not in MOMENTARY_AUS
                    and unit.kind not in ("head", "eye"))
    return Rest(at, aus, fall)


def momentary_hold_problem(code: Code, code_text: str) -> str:
    """Why a beat of only blinks or winks cannot hold (``apex next``; :func:`hold_layers`
    ``{"momentary"}``), and the held closure to write instead: the one message of the notes and
    JSON readers."""
    closure = "+".join(f"{term.side or ''}43E" for term in code) if all(
        term.side for term in code) else "43E"
    return (f"{code_text} is momentary and cannot hold until the next beat ('apex next'): FACS "
            f"2002 scores an eye closed past half a second as 43 (eyes closed): write {closure} "
            f"for a held closure")


def next_beat_times(times: Sequence[float], layers: Sequence[frozenset[str]]
                    ) -> list[float | None]:
    """For beats in time order, the time of the nearest beat at a later time that shares one of
    its layers (:func:`hold_layers`): where ``apex next`` ends its hold. None when no later beat
    does. Beats at the same time are one moment and do not end each other's hold; a beat with
    no layer (a code that drives nothing) holds until the next beat of any layer.

    >>> next_beat_times([0.0, 1.0, 2.0, 3.0],
    ...                 [frozenset({"face"}), frozenset({"momentary"}), frozenset({"head"}),
    ...                  frozenset({"face", "head"})])
    [3.0, None, 3.0, None]
    """
    if len(times) != len(layers):
        raise TimelineError(f"{len(times)} beat times for {len(layers)} beats' layers")
    nearest: dict[str, float] = {}  # layer -> the time of the nearest later beat in it
    untils: list[float | None] = [None] * len(times)
    index = len(times)
    while index:
        first = index - 1
        while first and times[first - 1] == times[index - 1]:
            first -= 1
        for position in range(first, index):  # one moment: read before it updates `nearest`
            own = layers[position] or ("any",)
            found = [nearest[layer] for layer in own if layer in nearest]
            untils[position] = min(found) if found else None
        for position in range(first, index):
            for layer in (*layers[position], "any"):
                nearest[layer] = times[position]
        index = first
    return untils


def hold_until(at: float, onset: float, until: float) -> float:
    """The apex (seconds) of a beat at ``at`` with ``onset`` whose apex lasts until ``until``
    (the next beat's start: ``apex next`` in AU notes), 0 when ``until`` comes during the onset;
    rounded to a picosecond as :meth:`AUEvent.from_times` rounds, to drop binary noise."""
    return max(0.0, round(until - at - onset, 12))


def ended_at(event: AUEvent, at: float) -> AUEvent | None:
    """``event`` taken over at ``at`` by a later beat naming its AU (:func:`take_over`): its
    fall starts there, with its own offset and easing.

    None when ``at`` is its start (within :data:`TAKEOVER_TOLERANCE`): the later beat replaces
    it. Unchanged when ``at`` is at or after its apex end (it is already falling or gone). Cut
    during the apex: the apex ends at ``at``. Cut during the onset: the rise stops at the value
    it has reached there (``intensity * ease(u)``), which becomes the event's intensity (and its
    letter is dropped: the value is no longer the coded letter's), so the curve does not jump;
    None when it has reached nothing by then (a stepped rise).
    """
    if at <= event.start + TAKEOVER_TOLERANCE:  # first: a zero-length one at the same time too
        return None
    if at >= event.apex_end - TAKEOVER_TOLERANCE:
        return event
    if at >= event.apex_start:
        return replace(event, apex=round(at - event.apex_start, 12))
    reached = float(event.intensity * ease(event.ease_in, (at - event.start) / event.onset))
    if reached <= 0.0:
        return None
    return replace(event, intensity=reached, onset=round(at - event.start, 12), apex=0.0,
                   letter=None)


def take_over(beats: Iterable[Sequence[AUEvent]]) -> list[AUEvent]:
    """The events of ``beats`` (each a beat's events, all starting at the beat's time; beats in
    the order of their times) where each beat takes over the AUs it names from the beats
    before it: the earlier events of such an AU on the same channel (AU and side) end at the
    later beat's start with their offset (:func:`ended_at`).

    Why: FACS coders never code two overlapping events of one AU (an AU is at one intensity
    at a time), and a director who writes ``3.0 12A`` under ``1.0 12E apex 6`` means the
    smile to fade to a trace at 3 s, not to stay at E because overlapping events combine by
    maximum. The unit is the channel, as for that maximum (``AU12``, ``AU12_L`` and ``AU12_R``
    are independent channels; how a bilateral AU and a one-sided one combine is the rig
    profile's business): ``L12A`` after ``12E`` does not end the bilateral smile, ``12A`` does.
    Events of one beat never take over each other. The order of the events is kept, and the
    pass is linear: only the latest beat naming a channel can still be at its apex (the ones
    before it were ended at its start or earlier).
    """
    return [event for _, event in take_over_indexed(beats)]


@dataclass(frozen=True)
class Rest:
    """A ``neutral`` beat (FACS code 0, the face at rest) for :func:`take_over`: at ``at`` every
    earlier event on a channel of ``aus`` (the face's AUs: not the head, gaze, blink or wink,
    :func:`hold_layers`) that is still on starts its fall, lasting ``fall`` seconds (the
    neutral beat's onset: the time the face takes to reach rest), or its own offset when None.
    """

    at: float
    aus: frozenset[int]
    fall: float | None = None


def at_rest(rest: Rest, events: Iterable[AUEvent]) -> float:
    """Seconds at which the face is at rest after the ``neutral`` beat ``rest``, among
    ``events`` as they play (taken over): the end of the latest event on one of its AUs that
    started before it and was still on at its time (its fall: the beat's onset, or the event's
    own offset), or the beat's own time when none was.

    >>> from facs_rig import load_vocabulary
    >>> v = load_vocabulary()
    >>> sad = events_from_code("1+4+15", v, at=0.0, apex=10.0)
    >>> rest = face_rest(v, 3.0, 1.0)
    >>> at_rest(rest, [event for _, event in take_over_indexed([sad, rest])])
    4.0
    """
    return max((event.end for event in events if event.channel.au in rest.aus
                and event.start < rest.at - TAKEOVER_TOLERANCE and event.end > rest.at),
               default=rest.at)


def take_over_indexed(beats: Iterable[Sequence[AUEvent] | Rest], *, channels: bool = True
                      ) -> list[tuple[int, AUEvent]]:
    """:func:`take_over`, each kept event with its index in the flattened input (the events of
    ``beats`` one beat after another), so that a reader can keep what it knows per input event
    (the line an event came from) beside the events that remain. A :class:`Rest` among the
    beats has no events of its own and ends every earlier one on its AUs. With ``channels``
    False (``overlap max``: overlapping events of one channel combine by maximum) only the
    rests end events; a beat takes nothing over."""
    kept: list[AUEvent | None] = []
    latest: dict[Channel, int] = {}  # channel -> index in ``kept`` of the latest event on it
    for beat in beats:
        if isinstance(beat, Rest):
            on = latest.values() if channels else range(len(kept))
            for index in on:
                earlier = kept[index]
                if earlier is not None and earlier.channel.au in beat.aus:
                    if beat.fall is not None and earlier.apex_end > beat.at - TAKEOVER_TOLERANCE:
                        earlier = replace(earlier, offset=beat.fall)
                    kept[index] = ended_at(earlier, beat.at)
            continue
        named: dict[Channel, int] = {}
        for event in beat:
            channel = event.channel
            index = latest.get(channel) if channels else None
            if index is not None and channel not in named:
                earlier = kept[index]
                if earlier is not None:
                    kept[index] = ended_at(earlier, event.start)
            named[channel] = len(kept)
            kept.append(event)
        latest.update(named)
    return [(index, event) for index, event in enumerate(kept) if event is not None]


def intensity_band_letter(vocabulary: Vocabulary, au: int, intensity: float,
                          scale: str | None = None) -> str | None:
    """The letter whose band holds ``intensity`` for ``au`` (None below the scale's lowest
    band); on a blink or wink, whose depth FACS does not score, A's band reaches down to 0, so
    that a blink at any depth below full closure has a letter to carry it."""
    letter = vocabulary.scale(scale).value_to_letter(intensity)
    return letter or ("A" if not vocabulary.scores_intensity(au) else None)


def intensity_reaches(code: str | Code, vocabulary: Vocabulary, intensity: float, *,
                      bands: bool = True, scale: str | None = None) -> bool:
    """Whether an explicit ``intensity`` sets the value of at least one AU of ``code``.

    It sets the AUs written without a letter, but not a blink or wink (AU45, AU46: FACS 2002
    scores them only present, so unlettered they stay closed), and, with ``bands`` (the AU notes'
    rule), the lettered AUs whose letter's band holds it (``7E intensity 0.907``). ``R12C+R14C``
    at 0.9 (D's band) has none: the intensity would change nothing.
    """
    code = _parsed(code, vocabulary)
    for term in code:
        if not vocabulary.action_unit(term.au).drives:
            continue
        if term.intensity is None:
            if vocabulary.scores_intensity(term.au):
                return True
        elif bands and term.intensity == intensity_band_letter(vocabulary, term.au, intensity, scale):
            return True
    return False


def marks_from_code(code: str | Code, vocabulary: Vocabulary, *, at: float, end: float
                    ) -> tuple[CodeMark, ...]:
    """One :class:`CodeMark` from ``at`` to ``end`` per code of ``code`` that drives nothing
    (visibility and behaviour codes: ``6+12+50`` gives the mark 50), the complement of
    :func:`events_from_code`."""
    code = _parsed(code, vocabulary)
    return tuple(CodeMark(term.au, at, end) for term in code
                 if not vocabulary.action_unit(term.au).drives)


def code_of_events(events: Iterable[AUEvent], vocabulary: Vocabulary) -> Code:
    """The events as one code, as a caption or a beat's label writes what they play together:
    ascending AUs, each term with its letter as written (none where FACS scores no intensity:
    ``vocabulary.letter_of``), two events of one channel as the stronger, and a left and a
    right of one AU at one letter as the bilateral term (``L12C`` + ``R12C`` is ``12C``;
    ``L12B`` + ``R12C`` stays two terms). Built directly, not parsed: ``12`` beside ``L12``
    (two notes lines) is shown as it plays."""
    terms: dict[tuple[int, str | None], str | None] = {}
    for event in events:
        key = (event.channel.au, event.channel.side)
        letter = vocabulary.letter_of(event.channel.au, event.letter)
        if key in terms and terms[key] is not None and letter is not None:
            letter = max(terms[key], letter)  # two events of one channel overlapping: the stronger
        terms[key] = letter if letter is not None else terms.get(key)
    joined: dict[tuple[int, str | None], str | None] = {}
    for (au, side), letter in terms.items():
        other = "R" if side == "L" else "L"
        if side is not None and (au, other) in terms and terms[(au, other)] == letter:
            joined[(au, None)] = letter
        else:
            joined[(au, side)] = letter
    order = {None: 0, "L": 1, "R": 2}
    return Code(tuple(CodedAU(au, side, letter) for (au, side), letter in
                      sorted(joined.items(), key=lambda item: (item[0][0], order[item[0][1]]))))


def _parsed(code: str | Code, vocabulary: Vocabulary) -> Code:
    """``code`` parsed by ``vocabulary`` (as is when already parsed); a parse error becomes a
    :class:`TimelineError` carrying the parser's column."""
    if not isinstance(code, str):
        return code
    try:
        return vocabulary.parse(code)
    except CodeParseError as exc:
        raise TimelineError(str(exc)) from None


def timeline_from_code(code: str | Code, vocabulary: Vocabulary, *, hold: float = 2.0,
                       onset: float = DEFAULT_ONSET, offset: float = DEFAULT_OFFSET,
                       start: float = 0.0, fps: float = DEFAULT_FPS,
                       intensity: float | None = None, scale: str | None = None) -> Timeline:
    """A single held expression: every AU of ``code`` rises, holds for ``hold`` seconds, falls.

    The timeline lasts ``start + onset + hold + offset`` seconds; its metadata records the code
    (canonical form) so outputs can say where they came from. Commands that accept a code
    string instead of a timeline file use this. It is checked as :meth:`Timeline.add_code`'s
    (a :class:`Code` built in Python has not been through the parser's rules).

    >>> from facs_rig import load_vocabulary
    >>> held = timeline_from_code("surprise", load_vocabulary(), hold=1.0)
    >>> held.duration, [e.channel.name for e in held.events]
    (1.8, ['AU01', 'AU02', 'AU05', 'AU25', 'AU26'])
    """
    code = _parsed(code, vocabulary)
    events = events_from_code(code, vocabulary, at=start, onset=onset, apex=hold, offset=offset,
                              intensity=intensity, scale=scale)
    end = start + onset + hold + offset
    return Timeline(events, end, fps, {"code": str(code)},
                    marks_from_code(code, vocabulary, at=start, end=end), vocabulary)


#: The metadata key :func:`~facs_rig.core.events.extract_events` writes on a timeline whose
#: events were measured from a capture (``retarget``, ``code``): not a coding, so its readers
#: do not apply :func:`overlap_problem` (a solver reads 26 and 27, or 63 and 64, at once where a
#: tracker sees both, and the rig's exclusive chains play the stronger).
MEASURED_KEY = "events_from"

#: The metadata key the AU notes reader sets to ``False`` on a timeline read from notes without
#: an ``fps`` line: its fps is the default (:data:`DEFAULT_FPS`), not a rate anyone stated, so
#: timecode typed against it later (``preview --at 00:00:08:00``) cannot be read (SMPTE
#: timecode counts frames at the edit's rate, SMPTE ST 12-1). Absent when the rate was given.
FPS_STATED_KEY = "fps_stated"


def _time_text(seconds: float) -> str:
    """Seconds for a message: to the microsecond, without binary noise (``0.1 + 0.2`` -> 0.3)."""
    return f"{round(seconds, 6):.15g}"


def overlap_problem(events: Sequence[AUEvent], vocabulary: Vocabulary, *, fps: float,
                    marks: Sequence[CodeMark] = (), labels: Sequence[str] | None = None
                    ) -> str | None:
    """Why FACS cannot score two separate items of a timeline that overlap in time, or None.

    Two events (or an event and a mark) that are on at the same moment are one moment of one
    face: FACS scores them together only where it scores them in one code
    (:func:`~facs_rig.core.notation.combination_rule`: ``51`` over 1-3 s beside ``52`` over
    2-4 s is the head turning left and right at once; ``L43E`` beside ``L45`` a closed eye
    blinking; a mark ``70`` beside a brow event an unseen brow scored). Items that only touch
    (one ends when the other starts, within :data:`TIME_TOLERANCE`) do not overlap, and where
    one ends as the other begins an overlap of up to ``vocabulary.rules.meet_frames`` frames (at
    ``fps``) is the two meeting, one after the other (events are placed on frames, and each is
    at rest at its start and end: ``action_units.json``, ``rules.meet_within_frames``). A longer
    overlap, one inside the other, or two starting together is refused, for every rule.

    Sorted by onset and swept: each item is compared only with the items still on when it
    starts, and only items whose code takes part in a rule are compared at all, so the check
    grows with the events times the actions on at once, not with their square.

    Parameters
    ----------
    events : sequence of AUEvent
    vocabulary : Vocabulary
        Its ``rules`` are what is checked.
    fps : float
        Frame rate the meeting frames are counted at (the timeline's).
    marks : sequence of CodeMark
    labels : sequence of str, optional
        Where each item was read, events then marks (``events[3]``, ``line 7``), named in the
        message before the item.

    Returns
    -------
    str or None
        ``"events[0] (51 at 1-3 s) and events[1] (52 at 2-4 s) overlap at 2-3 s: 51+52: the
        head cannot turn left and right at once (FACS 2002, Table 9-1)"``, for the first such
        pair in time.
    """
    rules = vocabulary.rules
    # Only the codes with a partner in the same timeline take part: most timelines have none
    # (a beat sheet of 1000 smiles and surprises is checked without building one item).
    present = {event.channel.au for event in events}
    present.update(mark.code for mark in marks)
    partners: dict[int, set[int]] = {}
    for first, second in rules.by_pair:
        partners.setdefault(first, set()).add(second)
        partners.setdefault(second, set()).add(first)
    ruled = {code for code in present
             if code in partners and not partners[code].isdisjoint(present)}
    hiders = present.intersection(rules.hides)
    if hiders:
        # A visibility mark: it and every code of the regions it hides take part.
        hidden = set().union(*(rules.hides[code] for code in hiders))
        ruled |= hiders
        ruled.update(code for code in present
                     if vocabulary.action_units.get(code) is not None
                     and vocabulary.action_units[code].region in hidden)
    matching = _RuleTerms(vocabulary)
    # (start, end, index, term as matched, term as written) of the items whose code takes part
    # in a rule (terms: _RuleTerms).
    items: list[tuple[float, float, int, CodedAU, CodedAU]] = []
    for index, event in enumerate(events):
        if event.channel.au not in ruled:
            continue
        items.append((event.start, event.end, index, matching.matched(event),
                      CodedAU(event.channel.au, event.channel.side, event.letter)))
    for index, mark in enumerate(marks, start=len(events)):
        if mark.code in ruled:
            term = CodedAU(mark.code)
            items.append((mark.start, mark.end, index, term, term))
    if len(items) < 2:
        return None
    items.sort(key=lambda item: (item[0], item[2]))
    # Where one ends as the other begins, this much overlap is the two meeting (see
    # action_units.json, rules.meet_within_frames, for why).
    meeting = rules.meet_frames / fps if fps > 0 and math.isfinite(fps) else 0.0
    active: list[tuple[float, float, int, CodedAU, CodedAU]] = []
    for item in items:
        start, end = item[0], item[1]
        active = [other for other in active if other[1] > start + TIME_TOLERANCE]
        for other in active:
            if ((min(other[3].au, item[3].au), max(other[3].au, item[3].au)) not in rules.by_pair
                    and not hiders.intersection((other[3].au, item[3].au))):
                continue  # no rule between these two codes
            found = combination_rule(other[3], item[3], vocabulary)
            if found is None:
                continue
            problem, rule = found
            if rule is not None:  # the rule as the data writes it, not the bands it was read at
                problem = f"{rule}: {rule.reason} ({rule.source})"
            else:  # a visibility rule, blind to letters: the terms as written
                problem = combination_rule(other[4], item[4], vocabulary)[0]
            overlap_end = min(other[1], end)
            if overlap_end <= start + TIME_TOLERANCE:
                continue  # a zero-length item touching another
            # At a shared boundary: the earlier one ends while the later one begins (not one
            # inside the other, nor both starting together).
            at_boundary = other[0] < start - TIME_TOLERANCE and other[1] <= end + TIME_TOLERANCE
            if at_boundary and overlap_end - start <= meeting + TIME_TOLERANCE:
                continue
            note = (f" (they may meet within {rules.meet_frames} frame"
                    f"{'s' if rules.meet_frames != 1 else ''} where one ends as the other begins; "
                    f"this is {_time_text((overlap_end - start) * fps)} frames at {fps:g} fps)"
                    ) if (at_boundary and rules.meet_frames and fps > 0
                          and overlap_end - start <= 3 * meeting) else ""  # a near miss
            return (f"{_item_text(other, events, labels)} and {_item_text(item, events, labels)} "
                    f"overlap at {_time_text(start)}-{_time_text(overlap_end)} s: {problem}{note}")
        if end > start + TIME_TOLERANCE:
            active.append(item)
    return None


class _RuleTerms:
    """The term an item is matched at against FACS's rules (:func:`overlap_problem`,
    :func:`meeting_next`): an event's channel with its letter, or, read without a letter on a
    code whose rules ask for one (43E), at its intensity's band (a JSON intensity 1.0 on 43 is
    43E); a mark's code."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.lettered = {rule.first if rule.first_letter else rule.second
                         for rule in vocabulary.rules.alternatives
                         if rule.first_letter or rule.second_letter}
        self.scale = vocabulary.scale()

    def matched(self, item: AUEvent | CodeMark) -> CodedAU:
        if isinstance(item, CodeMark):
            return CodedAU(item.code)
        au, side = item.channel.au, item.channel.side
        if item.letter is None and au in self.lettered and self.vocabulary.scores_intensity(au):
            return CodedAU(au, side, self.scale.value_to_letter(item.intensity))
        return CodedAU(au, side, item.letter)


def check_channel(channel: Channel, vocabulary: Vocabulary, *, side_given_later: bool = False
                  ) -> str | None:
    """The problem with a channel for this vocabulary, or None: an unknown AU, a side on a
    bilateral-only AU, a code that drives nothing, or no side on an AU FACS codes only on one
    side (``AU46``: a wink is one eye; the parser's ``needs_side`` rule, worded as it words it).

    Every place a channel comes from outside the parser asks this: the timeline readers (a JSON
    event's channel, an ELAN tier, a CSV column), :func:`coding_problem` (timelines built in
    Python), the studio's sliders and the OSC bridge's ``/facs/au`` addresses.

    ``side_given_later``: the side may still come (an ELAN tier ``AU46`` whose annotations say
    ``L46``); the caller checks each sided channel then.
    """
    unit = vocabulary.action_units.get(channel.au)
    if unit is None:
        return f"unknown action unit {channel.au}"
    if channel.side is not None and not unit.unilateral:
        return f"AU{channel.au} ({unit.name}) cannot be unilateral"
    if not unit.drives:
        return f"AU{channel.au} ({unit.name}) is a {unit.kind} code and drives nothing"
    if channel.side is None and not side_given_later and channel.au in vocabulary.rules.needs_side:
        return f"AU{channel.au} is {vocabulary.rules.needs_side[channel.au]}"
    return None


def coding_problem(events: Sequence[AUEvent], vocabulary: Vocabulary, *, fps: float,
                   marks: Sequence[CodeMark] = (), labels: Sequence[str] | None = None,
                   metadata: Mapping[str, Any] | None = None) -> str | None:
    """Why a timeline's events and marks break FACS's rules, or None: the one check of the
    timeline readers (JSON, AU notes, ELAN) and of timelines built in Python
    (:func:`check_timeline`).

    First each event's channel (:func:`check_channel`: an unsided ``AU46`` is a wink of no eye),
    then separate items on at one moment (:func:`overlap_problem`), which a timeline measured
    from a capture (``metadata`` holding :data:`MEASURED_KEY`) is not checked for.

    Parameters are :func:`overlap_problem`'s, with ``metadata`` the timeline's.

    Returns
    -------
    str or None
        ``"event 46 at 1-2.8 s: AU46 is a wink of one eye: ..."`` (``labels[i]`` in place of
        ``event``), or :func:`overlap_problem`'s message.
    """
    checked: dict[Channel, str | None] = {}
    for index, event in enumerate(events):
        channel = event.channel
        if channel not in checked:
            checked[channel] = check_channel(channel, vocabulary)
        if checked[channel]:
            term = CodedAU(channel.au, channel.side, event.letter)
            item = (event.start, event.end, index, term, term)
            return f"{_item_text(item, events, labels)}: {checked[channel]}"
    if metadata is not None and MEASURED_KEY in metadata:
        return None
    return overlap_problem(events, vocabulary, fps=fps, marks=marks, labels=labels)


def check_timeline(timeline: Timeline, vocabulary: Vocabulary) -> None:
    """Refuse a timeline that breaks FACS's rules as its file readers refuse it
    (:func:`coding_problem`); :meth:`Timeline.add_code`, :func:`timeline_from_code` and
    ``Timeline(..., vocabulary=...)`` call it.

    >>> from facs_rig import load_vocabulary
    >>> from facs_rig.errors import FacsRuleError
    >>> vocabulary = load_vocabulary()
    >>> try:
    ...     Timeline().add_code("51", vocabulary, at=1.0).add_code("52", vocabulary, at=2.0)
    ... except FacsRuleError as error:
    ...     message = str(error)
    >>> message[:message.index(": 51+52")]
    'event 51 at 1-2.8 s and event 52 at 2-3.8 s overlap at 2-2.8 s'
    >>> message[message.index("51+52"):]
    '51+52: the head cannot turn left and right at once (FACS 2002, Table 9-1)'

    Raises
    ------
    FacsRuleError
        Naming the events (and marks) and the rule.
    """
    problem = coding_problem(timeline.events, vocabulary, fps=timeline.fps, marks=timeline.marks,
                             metadata=timeline.metadata)
    if problem:
        raise FacsRuleError(problem)


def meeting_next(held: Sequence[AUEvent | CodeMark], until: float,
                 following: Iterable[AUEvent | CodeMark], vocabulary: Vocabulary
                 ) -> list[AUEvent | CodeMark]:
    """The events and marks of a beat held until ``until`` (``apex next``: the next beat's time),
    each that FACS cannot score beside an item of the next beat (``following``; the same rules
    as :func:`overlap_problem`) made to end there, where the next beat starts rising: the two
    meet, one after the other (``51 apex next`` then ``52``: the head turns left, then right).

    An event keeps its onset and its offset and gives up the end of its apex, so that its fall
    ends at ``until``; when the fall does not fit after its onset, the apex is 0 and the fall
    shortened to what is left; an event whose onset itself passes ``until`` is left as it is
    (the overlap check refuses it, naming both). A mark ends at ``until``. Every other item is
    returned as it is (its fall and the next beat's rise cross-fade).
    """
    following = list(following)
    rules = vocabulary.rules

    def code(item: AUEvent | CodeMark) -> int:
        return item.code if isinstance(item, CodeMark) else item.channel.au

    held_codes, next_codes = {code(item) for item in held}, {code(item) for item in following}
    if rules.hides.keys().isdisjoint(held_codes | next_codes) and not any(
            (min(a, b), max(a, b)) in rules.by_pair for a in held_codes for b in next_codes):
        return list(held)  # no rule between them (most beats): nothing to match
    matching = _RuleTerms(vocabulary)
    terms = [matching.matched(item) for item in following]
    met: list[AUEvent | CodeMark] = []
    for item in held:
        if item.end > until + TIME_TOLERANCE and terms and any(
                combination_rule(matching.matched(item), term, vocabulary) is not None
                for term in terms):
            if isinstance(item, CodeMark):
                item = CodeMark(item.code, item.start, max(item.start, until))
            else:
                room = round(until - item.apex_start, 12)
                if room >= item.offset:
                    item = replace(item, apex=round(room - item.offset, 12))
                elif room >= 0:
                    item = replace(item, apex=0.0, offset=room)
        met.append(item)
    return met


def _item_text(item: tuple[float, float, int, Any, Any], events: Sequence[AUEvent],
               labels: Sequence[str] | None) -> str:
    """``events[0] (L43E at 1-3 s)``, or ``event L43E at 1-3 s`` without labels."""
    start, end, index, _, term = item
    what = f"{term} at {_time_text(start)}-{_time_text(end)} s"
    if labels is not None:
        return f"{labels[index]} ({what})"
    return f"{'event' if index < len(events) else 'mark'} {what}"


def timeline_summary(timeline: Timeline) -> dict[str, Any]:
    """JSON-shaped overview of a timeline: duration, fps, frame count, channels, events, metadata.

    Used by ``facs-rig timeline show``; times in seconds, channels by name in stable order.
    """
    frames = frame_count(timeline.duration, timeline.fps)
    return {
        "duration": timeline.duration,
        "fps": timeline.fps,
        "frames": frames if isinstance(frames, int) else None,  # None: beyond float range
        "channels": [channel.name for channel in timeline.channels],
        "metadata": dict(timeline.metadata),
        "events": [{"channel": e.channel.name, "intensity": e.intensity, "letter": e.letter,
                    "start": e.start, "onset": e.onset, "apex": e.apex, "offset": e.offset,
                    "end": e.end, "ease_in": e.ease_in, "ease_out": e.ease_out}
                   for e in timeline.events],
        # Codes that drive nothing (50 speech, 74 unscorable): kept, shown, never played.
        "marks": [{"code": m.code, "start": m.start, "end": m.end} for m in timeline.marks],
    }


def frame_times(duration: float, fps: float) -> np.ndarray:
    """Sample times ``i / fps`` from 0 up to and including ``duration`` (when it is on a frame).

    Returns
    -------
    (n_frames,) float64
        ``n_frames = floor(duration * fps) + 1``, so a 1 s timeline at 30 fps has 31 frames
        and its last frame shows the state at the end.
    """
    n_frames = frame_count(duration, fps)
    problem = _limits.frame_count_problem(n_frames, what=f"{duration:g} s at {fps:g} fps")
    if problem:
        raise TimelineError(problem)
    return np.arange(n_frames, dtype=np.float64) / fps


def frame_count(duration: float, fps: float) -> int | float:
    """How many frames :func:`frame_times` gives, without allocating them.

    ``math.inf`` when ``duration * fps`` overflows a float (1e300 s at 1e300 fps), so callers
    compare it with a limit instead of meeting an ``OverflowError``.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise TimelineError(f"sampling rate must be a positive number, not {fps!r}")
    position = duration * fps + TIME_TOLERANCE * fps + 1e-9
    if not math.isfinite(position):
        return math.inf
    return int(math.floor(position)) + 1


def sample(timeline: Timeline, *, fps: float | None = None,
           channels: Iterable[Channel] | None = None, duration: float | None = None) -> AUCurves:
    """Dense AU curves of a timeline on a regular frame grid.

    Parameters
    ----------
    timeline : Timeline
    fps : float or None
        Frames per second; default the timeline's own ``fps``.
    channels : iterable of Channel or None
        Columns to produce, in this order; default every channel the events drive, in
        :func:`sort_channels` order. Events on channels not listed are left out (and named in
        ``metadata``); listed channels without events are zero.
    duration : float or None
        Seconds to sample; default the timeline's duration.

    Returns
    -------
    AUCurves
        ``times`` (n_frames,) float64 = ``i / fps``; ``values`` (n_frames, n_channels) float32
        in ``[0, 1]``, the maximum over overlapping events of each channel, zero outside
        every event. ``metadata`` is the timeline's metadata, plus ``"unsampled_channels"``
        (:data:`UNSAMPLED_KEY`), the names of played channels ``channels`` left out, when there
        are any: :func:`~facs_rig.core.mixing.mix` names those a rig cannot show.

    Notes
    -----
    Evaluates each event only on the frames its ``[start, end]`` covers, all events' frames at
    once as flat arrays (see :func:`_accumulate`), so the cost is
    ``O(n_frames * n_channels + total event frames)`` with no Python loop over frames.
    """
    rate, n_frames, columns = _sampling_grid(timeline, fps, channels, duration)
    if n_frames * len(columns) > MAX_VALUES:
        raise TimelineError(f"sampling {n_frames} frames x {len(columns)} channels is more "
                            f"than the {MAX_VALUES} values facs-rig samples at once; lower the fps "
                            f"or sample a shorter span (or write them in blocks: sample_blocks)")
    return _sample_frames(timeline, rate, columns, 0, n_frames)


#: Values (frames x channels) in one block of :func:`sample_blocks`: 4 MB of float32.
VALUES_PER_BLOCK = 1 << 20


def sample_blocks(timeline: Timeline, *, fps: float | None = None,
                  channels: Iterable[Channel] | None = None, duration: float | None = None,
                  values_per_block: int = VALUES_PER_BLOCK) -> Iterator[AUCurves]:
    """:func:`sample` in consecutive blocks of frames, for output of any length in bounded memory.

    Parameters are those of :func:`sample`; ``values_per_block`` bounds ``frames x channels``
    of each block (at least one frame per block).

    Yields
    ------
    AUCurves
        Blocks whose ``times`` (n_block,) and ``values`` (n_block, n_channels), concatenated,
        are bit-identical to :func:`sample`'s. There is no :data:`MAX_VALUES` limit;
        :data:`MAX_FRAMES` still applies.
    """
    rate, n_frames, columns = _sampling_grid(timeline, fps, channels, duration)
    block = max(1, values_per_block // max(1, len(columns)))
    for first in range(0, n_frames, block):
        yield _sample_frames(timeline, rate, columns, first, min(block, n_frames - first))


def _sampling_grid(timeline: Timeline, fps: float | None, channels: Iterable[Channel] | None,
                   duration: float | None) -> tuple[float, int, tuple[Channel, ...]]:
    """Rate, frame count and columns of a sampling, checked (frames within :data:`MAX_FRAMES`)."""
    rate = timeline.fps if fps is None else float(fps)
    length = timeline.duration if duration is None else _check_time(duration, "sampling duration")
    n_frames = frame_count(length, rate)
    if n_frames > MAX_FRAMES:
        raise TimelineError(f"{length:g} s at {rate:g} fps is {n_frames:.3g} frames, more than "
                            f"the {MAX_FRAMES} facs-rig samples at once; lower the fps or "
                            f"sample a shorter span")
    columns = sort_channels(e.channel for e in timeline.events) if channels is None else tuple(channels)
    if len(set(columns)) != len(columns):
        raise TimelineError("sample: channels must not repeat")
    return rate, int(n_frames), columns


def _sample_frames(timeline: Timeline, rate: float, columns: tuple[Channel, ...], first: int,
                   count: int) -> AUCurves:
    """Curves of frames ``first .. first + count - 1`` (times ``i / rate``)."""
    times = np.arange(first, first + count, dtype=np.float64) / rate
    index = {channel: column for column, channel in enumerate(columns)}
    values = np.zeros((count, len(columns)), dtype=np.float32)
    events = [e for e in timeline.events if e.channel in index and e.intensity > 0.0]
    if events:
        _accumulate(values, events, index, rate, first)
    metadata = dict(timeline.metadata)
    metadata.pop(UNSAMPLED_KEY, None)  # this sampling's own, never a file's metadata
    # Channels played but not asked for are named, so that mix() still names what a rig cannot
    # show when sampled with the rig's channels (the documented recipe lost the list).
    unsampled = sort_channels({e.channel for e in timeline.events
                               if e.channel not in index and e.intensity > 0.0})
    if unsampled:
        metadata[UNSAMPLED_KEY] = tuple(channel.name for channel in unsampled)
    return AUCurves(times, values, columns, rate, MappingProxyType(metadata))


#: Upper bound of (event, frame) pairs evaluated at once by :func:`sample`, bounding its memory.
_PAIRS_PER_BATCH = 1 << 21


def _accumulate(values: np.ndarray, events: list[AUEvent], index: Mapping[Channel, int],
                rate: float, first_frame: int = 0) -> None:
    """Max-combine every event's envelope into ``values`` (n_frames, n_channels) in place.

    All (event, frame) pairs of a batch of events are evaluated as flat arrays and scattered
    with ``np.maximum.at``; batches keep the pair count under :data:`_PAIRS_PER_BATCH`.
    """
    n_frames, n_columns = values.shape
    columns = np.array([index[e.channel] for e in events], dtype=np.int64)
    start = np.array([e.start for e in events])
    onset = np.array([e.onset for e in events])
    apex = np.array([e.apex for e in events])
    offset = np.array([e.offset for e in events])
    # Same sums, in the same order, as the AUEvent properties: bit-identical boundaries.
    apex_start = start + onset
    apex_end = start + onset + apex
    end = start + onset + apex + offset
    intensity = np.array([e.intensity for e in events])
    ease_in = np.array([_EASE_CODES[e.ease_in] for e in events], dtype=np.int8)
    ease_out = np.array([_EASE_CODES[e.ease_out] for e in events], dtype=np.int8)
    tolerance_frames = TIME_TOLERANCE * rate
    # Clipped in floating point before the integer cast: an event at 1e308 s overflows to inf,
    # and inf cast to int64 is undefined (INT64_MIN on x86), with RuntimeWarnings on stderr.
    with np.errstate(over="ignore"):
        # Frame numbers relative to the block's first frame (exact: below 2**53 as floats).
        first = np.clip(np.ceil(start * rate - tolerance_frames) - first_frame, 0,
                        n_frames).astype(np.int64)
        last = np.clip(np.floor(end * rate + tolerance_frames) - first_frame, -1,
                       n_frames - 1).astype(np.int64)
    counts = np.maximum(0, last - first + 1)
    flat_values = values.reshape(-1)
    batch_start = 0
    cumulative = np.cumsum(counts)
    while batch_start < len(events):
        # Largest batch whose pairs fit the budget (at least one event).
        offset_pairs = cumulative[batch_start - 1] if batch_start else 0
        batch_end = int(np.searchsorted(cumulative, offset_pairs + _PAIRS_PER_BATCH, side="right"))
        batch_end = max(batch_end, batch_start + 1)
        batch = slice(batch_start, batch_end)
        batch_counts = counts[batch]
        total = int(batch_counts.sum())
        batch_start = batch_end
        if total == 0:
            continue
        owner = np.repeat(np.arange(batch.start, batch.stop), batch_counts)
        starts_in_pairs = np.cumsum(batch_counts) - batch_counts
        frames = first[owner] + (np.arange(total) - np.repeat(starts_in_pairs, batch_counts))
        t = (frames + first_frame) / rate  # the same integers as in one whole block: bit-identical
        shape = _shapes(t, start[owner], apex_start[owner], apex_end[owner], end[owner],
                        onset[owner], offset[owner], ease_in[owner], ease_out[owner])
        # Clipping the pairs (not the whole grid afterwards) keeps rounding such as
        # 1 - smoothstep(u) = -1e-17 out of [0, 1] at a fraction of the memory traffic.
        pair_values = np.clip(intensity[owner] * shape, 0.0, 1.0).astype(np.float32)
        np.maximum.at(flat_values, frames * n_columns + columns[owner], pair_values)


def _fit_easing(times: np.ndarray, shape: np.ndarray, phase_start: float, phase_length: float,
                falling: bool) -> str:
    """The easing whose curve best matches interior samples of a rise or fall (``linear`` if none)."""
    if times.size == 0 or phase_length <= 0:
        return "linear"
    u = (times - phase_start) / phase_length
    progress = 1.0 - shape if falling else shape
    errors = {name: float(np.max(np.abs(ease(name, u) - progress))) for name in EASINGS}
    return min(EASINGS, key=lambda name: (errors[name], name != "smooth"))


def timeline_from_curves(curves: AUCurves, *, scale: IntensityScale | None = None,
                         threshold: float = 0.0, metadata: Mapping[str, Any] | None = None
                         ) -> Timeline:
    """Reconstruct events from dense curves: one event per run of frames above ``threshold``.

    Each run becomes a trapezoid: it starts at the last quiet frame before the run (or the
    first frame), reaches its peak at the first frame within 1e-6 of the run's maximum, holds
    until the last such frame, and ends at the first quiet frame after the run (or the last
    frame). The easing of each ramp is the one of :data:`EASINGS` that fits its samples best.

    Sampling the result at the curves' own times reproduces them exactly when every run is a
    single trapezoid with boundaries on frames (as :func:`sample` writes them for events that
    do not overlap on a channel). Other shapes (overlapping events, captured curves with several
    peaks) are approximated: peak and extent are kept, the detail inside is not.

    Parameters
    ----------
    curves : AUCurves
        ``values`` (n_frames, n_channels), ``times`` increasing.
    scale : IntensityScale or None
        When given, a peak equal (within 1e-6) to a letter's value on this scale is recorded
        with that letter and its exact value, so AU notes and ELAN write letters back.
    threshold : float
        Values at or below it count as quiet.
    metadata : Mapping or None
        Metadata of the new timeline (default: the curves' metadata).
    """
    times = np.asarray(curves.times, dtype=np.float64)
    values = np.asarray(curves.values, dtype=np.float64)
    n_frames = times.shape[0]
    events: list[AUEvent] = []
    letter_values = ({letter: scale.letter_to_value(letter) for letter in _LETTERS}
                     if scale is not None else {})
    for column, channel in enumerate(curves.channels):
        curve = values[:, column]
        active = curve > threshold
        if not active.any():
            continue
        edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
        run_starts = np.flatnonzero(edges == 1)
        run_ends = np.flatnonzero(edges == -1) - 1
        for first, last in zip(run_starts.tolist(), run_ends.tolist()):
            run = curve[first:last + 1]
            peak = float(run.max())
            at_peak = np.flatnonzero(run >= peak - 1e-6) + first
            apex_first, apex_last = int(at_peak[0]), int(at_peak[-1])
            start_index = first - 1 if first > 0 else first
            end_index = last + 1 if last + 1 < n_frames else last
            start, end = times[start_index], times[end_index]
            if last == n_frames - 1 and apex_last < last and n_frames > 1:
                # Still falling on the final frame: let the fall end one frame later rather than
                # forcing it to zero on a frame that is not zero.
                # In Python floats: near float max the sum overflows to inf silently (numpy
                # scalars would warn), and then the fall ends on the last frame after all.
                extended = float(times[last]) + (float(times[last]) - float(times[last - 1]))
                if math.isfinite(extended):
                    end, end_index = extended, last + 1
            apex_start, apex_end = times[apex_first], times[apex_last]
            rise = slice(start_index + 1, apex_first)
            fall = slice(apex_last + 1, end_index)
            ease_in = _fit_easing(times[rise], curve[rise] / peak, start, apex_start - start, False)
            ease_out = _fit_easing(times[fall], curve[fall] / peak, apex_end, end - apex_end, True)
            letter = None
            intensity = min(1.0, peak)
            for candidate, value in letter_values.items():
                # Equal as float32 (how curves store a letter's value), not within 1e-6: that
                # is 17 float32 steps at 0.9, and turned a free 0.8999996 into D's 0.9.
                if np.float32(value) == np.float32(peak):
                    letter, intensity = candidate, value
                    break
            events.append(AUEvent.from_times(channel, intensity, start, apex_start, apex_end, end,
                                             ease_in=ease_in, ease_out=ease_out, letter=letter))
    duration = float(times[-1]) if n_frames else 0.0
    fps = curves.fps if curves.fps else DEFAULT_FPS
    return Timeline(tuple(events), duration, fps,
                    curves.metadata if metadata is None else metadata)
