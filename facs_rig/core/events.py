"""Continuous AU curves -> editable AU events, and a FACS-coded summary per segment.

:func:`extract_events` finds each channel's activations with hysteresis (an event starts when
the curve rises above ``on`` and lasts until it falls below ``off``, or stays above ``off`` for
``trace_duration``: a held trace, FACS's A), drops blips shorter than
``min_duration`` and bridges dips shorter than ``min_gap``, then reads each activation as an
:class:`~facs_rig.core.timeline.AUEvent`: onset from the last rest-level frame before the rise
to where the curve comes within ``apex_fraction`` of its peak, apex while it stays there,
offset back to rest; the intensity is the apex median and the letter its FACS band on the
vocabulary's scale. An activation with several humps (each above ``split_fraction`` of its peak,
separated by a dip below it) is split at the lowest frame between them. An AU43 (eye closure)
event no longer than ``blink_max`` that comes near closed (D or E of the eyes closed,
:func:`_nearly_closed`) is a blink and is coded AU45, and one short of that the lid lowered
for a moment, AU43 at its letter; a wink channel's (AU46) is a wink, one event, and a longer
one a one-sided AU43. With ``follow_intensity``
(``facs-rig code``'s default) an activation is also cut where its letter changes, and each
onset, offset and change of letter is then placed where the curve moves: the ramp runs
through the curve's 10 % and 90 % crossings of the step between the two levels (IEEE Std 181),
not from the last frame at rest to the first one near the peak. The result is an ordinary
:class:`~facs_rig.core.timeline.Timeline` an animator can edit and re-sample.

:func:`code_segments` then cuts the timeline where the set of AUs present really changes (flicker
shorter than ``min_segment`` removed first) and codes each stretch the way FACS-based emotion
tools read AU combinations (iMotions' AFFDEX, Py-Feat):
``1.20–2.05 s  6C+12D  happiness 2/2``, naming the EMFACS emotion whose prototypes and major
variants (the FACS Investigator's Guide's prediction table) shown in full explain most of its
AUs, weighed by intensity (:func:`_name_emotion`), and how many AUs of that emotion's nearest
prototype are present.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.notation import Code, CodedAU, combination_problem, format_code
from facs_rig.core.timeline import AUEvent, Timeline
from facs_rig.core.vocabulary import INTENSITY_LETTERS, IntensityScale, Vocabulary, emotion_rows

__all__ = ["EventOptions", "extract_events", "CodedSegment", "code_segments", "format_summary",
           "EMFACS_EMOTIONS", "NAMED_FACES"]

#: The seven EMFACS basic emotions, looked up by name in the vocabulary's expressions.
EMFACS_EMOTIONS = ("happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt")

#: What :func:`code_segments` names a segment after by default: the EMFACS emotions and pain,
#: whose core expression (Prkachin 1992; Prkachin & Solomon 2008: 4, 6 or 7, 9 or 10, and 43)
#: is in no EMFACS row, so that without it a face in pain was named after the EMFACS row its
#: actions share: the bundled ``pain`` (4+6+7+9+10+43) read ``disgust 1/1`` for its 9 and 10,
#: and with a chin raise and lip press beside it (Live Link Face ``alex_rom_3.csv``) ``anger 4/5``
#: for anger's 4+5+7+17+24 without 5. Pain is last: on equal evidence an emotion goes first.
NAMED_FACES = (*EMFACS_EMOTIONS, "pain")


@dataclass(frozen=True)
class EventOptions:
    """Thresholds of :func:`extract_events` (0-1 values, seconds).

    The defaults sit above the resting noise of the real captures: in the head-movement test
    ``openface/facsvatar_head_test_clean.csv`` (face at rest, head moving) no facial AU exceeds
    0.10 after the OpenFace scale, and ``on`` stays below the default scale's B band (0.20).
    They are the global ones: a tracker profile may give its AUs their own (its mapping's AU
    ranges, or ``events`` on its own scale: OpenFace's start at its A, 1.0 of 0-5, and end at
    0.5; :func:`facs_rig.io.captures.pipeline.event_thresholds`), passed to
    :func:`extract_events` as ``thresholds``.

    ``trace_duration``: a stretch above ``off`` that never reaches ``on`` is still an event
    when it lasts at least this long (seconds; ``None``: never). FACS scores an AU at A, trace,
    when its evidence is barely there (Ekman, Friesen & Hager 2002, the intensity criteria), so
    a held A (contempt's ``R12A+R14A`` drives 0.10) is codable; what tells a held trace from
    tracker noise is that it is sustained. 0.5 s is above the longest excursion above ``off``
    at rest in the head-movement test (AU15, 0.30 s) and equals ``blink_max``, the longest
    momentary action.
    """

    on: float = 0.15
    off: float = 0.08
    min_duration: float = 0.10
    min_gap: float = 0.10
    apex_fraction: float = 0.9
    split_fraction: float = 0.5
    blink_max: float = 0.5
    follow_intensity: bool = False
    trace_duration: float | None = 0.5

    def __post_init__(self) -> None:
        if not (0.0 <= self.off <= self.on <= 1.0):
            raise ValueError(f"event thresholds need 0 <= off ({self.off}) <= on ({self.on}) <= 1")
        if not (self.min_duration >= 0 and self.min_gap >= 0):  # also refuses NaN
            raise ValueError("min_duration and min_gap must be non-negative")
        if not 0.0 < self.apex_fraction <= 1.0:
            raise ValueError("apex_fraction must lie in (0, 1]")
        if not 0.0 < self.split_fraction <= 1.0:
            raise ValueError("split_fraction must lie in (0, 1]")
        if self.blink_max < 0:
            raise ValueError("blink_max must be non-negative")
        if self.trace_duration is not None and not self.trace_duration >= 0:
            raise ValueError("trace_duration must be non-negative or None")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) inclusive index pairs of the True runs of a boolean array."""
    firsts, lasts = _run_bounds(mask)
    return list(zip(firsts.tolist(), lasts.tolist()))


def _run_bounds(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(firsts, lasts) inclusive index arrays of the True runs of a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _activations(curve: np.ndarray, times: np.ndarray, on: float, off: float,
                 min_gap: float, trace_duration: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(firsts, lasts) of the activations of one curve, in whole-array operations.

    Hysteresis: a run of frames above ``off`` is active when it reaches ``on`` somewhere (the
    curve has risen above ``on`` and not yet fallen to ``off`` or below), or when it lasts at
    least ``trace_duration`` (a sustained trace, FACS's A); then runs less than ``min_gap``
    apart are bridged (a blink of the tracker is not the end of an expression).
    """
    firsts, lasts = _run_bounds(curve > off)
    # Frames at or above `on` before each index: a run reaches `on` if the count grows in it.
    reached = np.concatenate(([0], np.cumsum(curve >= on)))
    keep = reached[lasts + 1] > reached[firsts]
    if trace_duration is not None:
        # A run of k frames lasts k frame intervals (to the frame after it, or one median
        # step past the last frame), as the letter ranges count them.
        step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
        after = np.append(times[1:], times[-1] + step)[lasts]
        keep |= after - times[firsts] >= trace_duration  # a NaN time keeps nothing
    firsts, lasts = firsts[keep], lasts[keep]
    if firsts.size > 1:
        # Run k+1 joins run k when the gap from k's last frame to its first is under min_gap.
        opens = np.concatenate(([True], ~(times[firsts[1:]] - times[lasts[:-1]] < min_gap)))
        firsts = firsts[opens]
        lasts = lasts[np.concatenate((opens[1:], [True]))]
    return firsts, lasts


def _hump_counts(curve: np.ndarray, firsts: np.ndarray, lasts: np.ndarray,
                 fraction: float) -> np.ndarray:
    """How many stretches at or above ``fraction`` of its peak each activation has (what
    :func:`_valleys` splits at), for all activations of a curve at once. They are disjoint
    and in order, so ``reduceat`` over their bounds reads each one."""
    if not firsts.size:
        return np.zeros(0, dtype=np.intp)
    padded = np.concatenate((curve, [0.0]))  # reduceat needs the bound after the last frame
    bounds = np.empty(2 * firsts.size, dtype=np.intp)
    bounds[0::2], bounds[1::2] = firsts, lasts + 1
    peaks = np.maximum.reduceat(padded, bounds)[0::2]
    lengths = lasts - firsts + 1
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    frames = np.repeat(firsts - offsets, lengths) + np.arange(int(lengths.sum()))
    above = curve[frames] >= np.repeat(fraction * peaks, lengths)
    rises = np.empty_like(above)
    rises[0] = above[0]
    rises[1:] = above[1:] > above[:-1]
    rises[offsets] = above[offsets]  # an activation's first frame starts a stretch if above
    return np.add.reduceat(rises.astype(np.intp), offsets)


def _valleys(curve: np.ndarray, times: np.ndarray, first: int, last: int, fraction: float,
             min_gap: float) -> list[int]:
    """Split points inside one activation: the lowest frame between consecutive stretches at or
    above ``fraction`` of its peak, so smile, half-relax, smile again reads as two events. A dip
    shorter than ``min_gap`` (a tracker dropout) does not split. Called only for activations
    with two humps or more (:func:`_hump_counts`): most have one and nothing to split."""
    segment = curve[first:last + 1]
    above = segment >= fraction * float(segment.max())
    high = _runs(above)
    return [first + a_last + 1 + int(np.argmin(segment[a_last + 1:b_first]))
            for (_, a_last), (b_first, _) in zip(high, high[1:])
            if times[first + b_first] - times[first + a_last] >= min_gap]


#: One event's values before it becomes an AUEvent: (intensity, letter, start, onset, apex,
#: offset), the durations rounded to a picosecond as :meth:`AUEvent.from_times` rounds them.
_Piece = tuple[float, str, float, float, float, float]


def _event(times: list[float], segment: np.ndarray, left: int, right: int,
           scale: IntensityScale, apex_fraction: float, *, open_start: bool = False,
           open_end: bool = False, apex_frames: bool = False
           ) -> _Piece | tuple[float, str, int, int]:
    """One event over frames ``left..right`` (``segment`` is the curve there, ``times`` the frame
    times as Python floats): the apex is the stretch around the peak within ``apex_fraction``
    of it, the intensity its median, the letter its band on ``scale``. With ``apex_frames``:
    (intensity, letter, the apex's first and last frame) instead."""
    # Plain Python over the frames: an event spans ~30 frames, where numpy's per-call overhead
    # outweighs its speed (the same doubles, the same comparisons, so the same event).
    values = segment.tolist()
    length = len(values)
    peak = max(values)
    top = values.index(peak)  # the first frame at the peak, as argmax finds it
    # The apex: the run of frames within apex_fraction of the peak that holds the peak.
    # An action already on when the take starts (or still on when it ends) has no onset
    # (offset) in the take: it is at its apex there, not rising from rest (open_start/end).
    near = apex_fraction * peak
    apex_first = top
    if open_start:
        apex_first = 0
    else:
        while apex_first > 0 and values[apex_first - 1] >= near:
            apex_first -= 1
    apex_last = top
    if open_end:
        apex_last = length - 1
    else:
        while apex_last < length - 1 and values[apex_last + 1] >= near:
            apex_last += 1
    count = apex_last - apex_first + 1
    # The median, without np.median's per-call overhead.
    apex = sorted(values[apex_first:apex_last + 1])
    middle = count // 2
    median = apex[middle] if count % 2 else 0.5 * (apex[middle - 1] + apex[middle])
    intensity = min(max(median, 0.0), 1.0)
    letter = scale.value_to_letter(intensity) or INTENSITY_LETTERS[0]
    if apex_frames:  # for _phased_events, which places the ramps and rounds then
        return intensity, letter, left + apex_first, left + apex_last
    start, apex_start = times[left], times[left + apex_first]
    apex_end, end = times[left + apex_last], times[right]
    # What AUEvent.from_times builds (durations rounded to a picosecond), without its checks of
    # the order of the four times: increasing frame indices on increasing times guarantee it.
    return (intensity, letter, start, round(apex_start - start, 12),
            round(apex_end - apex_start, 12), round(end - apex_end, 12))


def _band_uppers(scale: IntensityScale) -> np.ndarray:
    """Upper bounds (0-1) of the scale's letter bands but the last, for ``np.searchsorted``."""
    return (np.asarray([scale.upper[letter] for letter in INTENSITY_LETTERS])
            / scale.maximum)[:-1]


def _letter_changes(curve: np.ndarray, uppers: np.ndarray) -> tuple[list[int], list[int], int]:
    """Where one curve's FACS letter band changes, for :func:`_letter_ranges`: the frames
    ``k`` whose band differs from frame ``k + 1``'s, the band from each such ``k + 1`` on,
    and the band of frame 0. ``uppers`` are the band bounds of :func:`_band_uppers`."""
    band = np.searchsorted(uppers, curve - 1e-6, side="left")
    changes = np.flatnonzero(band[1:] != band[:-1])
    return changes.tolist(), band[changes + 1].tolist(), int(band[0]) if band.size else 0


def _letter_ranges(times: list[float], changes: tuple[list[int], list[int], int], left: int,
                   right: int, min_duration: float,
                   active: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Frames ``left..right`` of one activation cut where the curve's FACS letter changes and
    stays changed for at least ``min_duration`` (shorter stretches join the one before), as a
    coder scores a smile held at B that rises to D and falls back as B, D, B. ``times`` are the
    frame times as Python floats, ``changes`` the curve's :func:`_letter_changes`. ``active``:
    the activation's first and last frame above rest; a stretch is timed within them, so the
    frame at rest before the rise (``left``) or after the fall does not lengthen the letter
    held next to it (a take starting at rest, 0, 0.125, 0.125, 0.5 at 30 fps, held "B" for
    0.1 s with the rest frame and split off a B event that never reached ``on``)."""
    frames, bands, first_band = changes
    low, high = bisect_left(frames, left), bisect_left(frames, right)  # changes in left..right-1
    if low == high:
        return [(left, right)]  # one letter throughout: one range, whatever its length
    starts = [left, *(frame + 1 for frame in frames[low:high])]
    ends = [*frames[low:high], right]
    letters = [bands[low - 1] if low else first_band, *bands[low:high]]
    runs: list[list[int]] = []  # [first, last, band] of constant-letter stretches
    # Each frame stands for the interval up to the next one: frames first..last last until
    # frame last + 1 (one frame at 15 fps is 0.067 s of the take, not 0). Only a stretch
    # ending at the take's last frame needs its interval guessed (the one before it).
    final = len(times) - 1
    take_end = 2.0 * times[final] - times[final - 1] if final > 0 else times[final]
    active_first, active_last = active if active is not None else (left, right)

    def lasting(first: int, last: int) -> float:
        first, last = max(first, active_first), min(last, active_last)
        return (times[last + 1] if last < final else take_end) - times[first]

    for first, last, letter in zip(starts, ends, letters):
        if runs and (lasting(first, last) < min_duration or letter == runs[-1][2]):
            runs[-1][1] = last
        else:
            runs.append([first, last, letter])
    head_first, head_last = runs[0][0], runs[0][1]
    if len(runs) > 1 and lasting(head_first, head_last) < min_duration:
        runs[1][0] = runs[0][0]
        del runs[0]
    return [(first, last) for first, last, _ in runs]


def _joined(levels: list[float], letters: list[str], apex_times: list[tuple[float, float]],
            start: float, end: float, continues: list[bool]) -> list[_Piece]:
    """Consecutive pieces of one activation, each ramp reaching over to its neighbour's apex,
    so that the sampled curve passes from one intensity to the next instead of dropping to
    rest between them (the dip between two humps is no rest: the AU stays on). ``levels``,
    ``letters`` and ``apex_times`` (apex start, apex end) are the pieces', ``start`` and ``end``
    the activation's; the result has rounded durations, as :func:`_event` gives them otherwise.

    ``continues[k]`` is True when piece ``k`` is a change of letter within the same hump as
    piece ``k - 1`` (no valley between them): the AU moves straight from one intensity to the
    other, so the stronger piece's ramp is stretched to pass through the weaker one's
    intensity at the weaker one's apex. Sampled events combine by maximum; two ramps that both
    run to rest between the apexes would cross at ``a·b/(a+b)`` (a smile going from E 0.99 to
    C 0.55 would dip to 0.35 on the way, a drop no coder scored). Between humps (a valley, a
    real dip) the ramps still cross."""
    out = []
    for k, intensity in enumerate(levels):
        apex_start, apex_end = apex_times[k]
        first = apex_times[k - 1][1] if k else start
        last = apex_times[k + 1][0] if k + 1 < len(levels) else end
        if k and continues[k] and intensity > levels[k - 1]:
            # Rising from the previous letter: start early enough that the onset ramp reads
            # the previous intensity where the previous apex ends (similar triangles).
            before = apex_times[k - 1][1]
            first = max(start, apex_start - (apex_start - before) * intensity
                        / (intensity - levels[k - 1]))
        if k + 1 < len(levels) and continues[k + 1] and intensity >= levels[k + 1]:
            # Falling to the next letter: end late enough that the offset ramp reads the next
            # intensity where the next apex starts (equal ones: hold until the activation ends).
            after = apex_times[k + 1][0]
            last = end if intensity == levels[k + 1] else min(
                end, apex_end + (after - apex_end) * intensity / (intensity - levels[k + 1]))
        first, last = min(first, apex_start), max(last, apex_end)
        out.append((intensity, letters[k], first, round(apex_start - first, 12),
                    round(apex_end - apex_start, 12), round(last - apex_end, 12)))
    return out


#: Reference levels of a transition, as fractions of the way from its initial to its final
#: level: IEEE Std 181-2011 (Transitions, pulses and related waveforms) measures a
#: transition's duration between the 10 % and 90 % crossings, where it is clear of the noise
#: on either level.
_LOW_REFERENCE, _HIGH_REFERENCE = 0.1, 0.9


def _transition_times(curve: np.ndarray, times: np.ndarray, firsts: np.ndarray,
                      lasts: np.ndarray, lows: np.ndarray, highs: np.ndarray
                      ) -> tuple[list[float], list[float]]:
    """Where each transition's linear ramp starts and ends, for many transitions at once.

    Transition ``k`` takes the curve from level ``lows[k]`` to ``highs[k]`` somewhere in frames
    ``firsts[k]..lasts[k]`` (rising or falling). Its ramp is the straight line through the
    times where the curve crosses the 10 % and 90 % reference levels (IEEE Std 181: the last
    10 % crossing before and the first 90 % crossing after the curve first passes halfway),
    extended to 0 % and 100 %: the ramp runs as fast as the motion does, and starts and ends
    where the motion does rather than at the last frame at rest and at the first one near the
    peak. Crossing times are interpolated between frames; a curve that never crosses a
    reference level in the frames gives their first (10 %) or last (90 %) frame's time. The
    ramp stays within the frames' times. A transition between equal levels keeps them.

    Parameters
    ----------
    curve : (n_frames,) float64
    times : (n_frames,) float64
    firsts, lasts : (n_transitions,) int, ``firsts <= lasts``
    lows, highs : (n_transitions,) float64
        The levels before and after.

    Returns
    -------
    (starts, ends) : two lists of n_transitions floats, seconds, ``starts <= ends``.
    """
    if not firsts.size:
        return [], []
    lengths = lasts - firsts + 1
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    local = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    frames = np.repeat(firsts, lengths) + local
    spans = highs - lows
    moving = spans != 0
    with np.errstate(over="ignore", invalid="ignore"):  # a level of 1e-320: checked below
        fraction = (np.clip(curve[frames], 0.0, 1.0) - np.repeat(lows, lengths)) \
            / np.repeat(np.where(moving, spans, 1.0), lengths)
    never = int(lengths.max())
    # The first frame at least halfway (the last frame if none), then the last frame at or
    # below 10 % up to it and the first frame at or above 90 % from it (-1 / never: none).
    middle = np.minimum(np.minimum.reduceat(np.where(fraction >= 0.5, local, never), offsets),
                        lengths - 1)
    middles = np.repeat(middle, lengths)
    low = np.maximum.reduceat(np.where((fraction <= _LOW_REFERENCE) & (local <= middles), local,
                                       -1), offsets)
    high = np.minimum.reduceat(np.where((fraction >= _HIGH_REFERENCE) & (local >= middles), local,
                                        never), offsets)

    def crossing(before: np.ndarray, after: np.ndarray, level: float) -> np.ndarray:
        """Time where the curve crosses ``level`` between local frames ``before`` and
        ``after`` of each transition (linear interpolation; ``after``'s time if flat)."""
        f_before, f_after = fraction[offsets + before], fraction[offsets + after]
        t_before, t_after = times[firsts + before], times[firsts + after]
        with np.errstate(over="ignore", invalid="ignore"):
            step = f_after - f_before
            flat = step == 0
            share = np.clip((level - f_before) / np.where(flat, 1.0, step), 0.0, 1.0)
        return np.where(flat, t_after, t_before + share * (t_after - t_before))

    found_low, found_high = low >= 0, high < never
    low = np.where(found_low, low, 0)
    high = np.where(found_high, high, lengths - 1)
    t_first, t_last = times[firsts], times[lasts]
    t_low = np.where(found_low, crossing(low, np.minimum(low + 1, lengths - 1), _LOW_REFERENCE),
                     t_first)
    t_high = np.where(found_high, crossing(np.maximum(high - 1, 0), high, _HIGH_REFERENCE),
                      t_last)
    crossed = t_high < t_low  # never for crossings found in order; a guard for rounding
    halfway = 0.5 * (t_low + t_high)
    t_low, t_high = np.where(crossed, halfway, t_low), np.where(crossed, halfway, t_high)
    # The line through (t_low, 10 %) and (t_high, 90 %) meets 0 % and 100 % a quarter of
    # (t_high - t_low) further out, 1/8 on each side.
    reach = (t_high - t_low) * _LOW_REFERENCE / (_HIGH_REFERENCE - _LOW_REFERENCE)
    starts = np.clip(t_low - reach, t_first, t_last)
    ends = np.clip(t_high + reach, starts, t_last)
    # Levels so close that the fractions overflow keep the frames' times, as equal ones do.
    placed = moving & np.isfinite(starts) & np.isfinite(ends)
    return (np.where(placed, starts, t_first).tolist(), np.where(placed, ends, t_last).tolist())


def _phased_events(curve: np.ndarray, times: np.ndarray, time_list: list[float],
                   activations: list[tuple[list[tuple[int, int]], list[bool], int, int, bool, bool]],
                   scale: IntensityScale, apex_fraction: float) -> list[_Piece]:
    """The events of one channel's activations, cut where the letter changes, with their
    ramps placed where the curve moves.

    Each activation is ``(pieces, continues, start, end, opens, closes)``: its letter pieces
    (first and last frame), whether each continues the previous one's hump (:func:`_joined`),
    the frames it starts and ends at, and whether it is already on at the take's first frame
    (still on at its last). A piece's intensity and letter are its apex's (:func:`_event`); the
    onset from rest, each change of letter within a hump, and the offset back to rest are then
    placed by :func:`_transition_times` (10 %-90 % crossings, for all of the channel's
    transitions at once) between the apexes :func:`_event` finds, so a ramp lasts as long as
    the motion does instead of running from the last frame at rest to the first near the
    peak. An action on when the take starts (ends) has no onset (offset) there; the ramps
    between humps (a valley) keep reaching to the neighbouring apexes.
    """
    final = len(time_list) - 1
    apexes = []
    # The channel's transitions, in order: (first frame, last frame, level before, after).
    transitions: list[tuple[int, int, float, float]] = []
    for pieces, continues, start_index, end_index, opens, closes in activations:
        shapes = [_event(time_list, curve[left:right + 1], left, right, scale, apex_fraction,
                         open_start=opens and left == 0, open_end=closes and right == final,
                         apex_frames=True)
                  for left, right in pieces]
        apexes.append(shapes)
        if not opens:  # onset: rest -> the first apex
            transitions.append((start_index, shapes[0][2], 0.0, shapes[0][0]))
        for k in range(1, len(shapes)):
            if continues[k]:  # one letter to the next within a hump
                before, after = shapes[k - 1], shapes[k]
                transitions.append((before[3], after[2], before[0], after[0]))
        if not closes:  # offset: the last apex -> rest
            transitions.append((shapes[-1][3], end_index, shapes[-1][0], 0.0))
    table = np.array(transitions, dtype=np.float64).reshape(-1, 4)  # frames exact as floats
    placed = zip(*_transition_times(curve, times, table[:, 0].astype(np.intp),
                                    table[:, 1].astype(np.intp), table[:, 2], table[:, 3]))
    out: list[_Piece] = []
    for (_pieces, continues, start_index, end_index, opens, closes), shapes in zip(activations,
                                                                                     apexes):
        start, end = time_list[start_index], time_list[end_index]
        if len(shapes) == 1:  # most activations: one piece, nothing to join
            intensity, letter, first, last = shapes[0]
            apex_start, apex_end = time_list[first], time_list[last]
            if not opens:
                start, apex_start = next(placed)
            if not closes:
                apex_end, end = next(placed)
            out.append((intensity, letter, start, round(apex_start - start, 12),
                        round(apex_end - apex_start, 12), round(end - apex_end, 12)))
            continue
        apex_times = [[time_list[first], time_list[last]] for _, _, first, last in shapes]
        if not opens:
            start, apex_times[0][0] = next(placed)
        for k in range(1, len(shapes)):
            if continues[k]:
                apex_times[k - 1][1], apex_times[k][0] = next(placed)
        if not closes:
            apex_times[-1][1], end = next(placed)
        out.extend(_joined([shape[0] for shape in shapes], [shape[1] for shape in shapes],
                           apex_times, start, end, continues))
    return out


def _checked_event(channel: Channel, intensity: float, start: float, onset: float, apex: float,
                   offset: float, letter: str | None) -> AUEvent:
    return AUEvent(channel, intensity, start, onset, apex, offset, ease_in="linear",
                   ease_out="linear", letter=letter)


def extract_events(curves: AUCurves, scale: IntensityScale, *,
                   options: EventOptions = EventOptions(),
                   thresholds: Mapping[int, tuple[float, ...]] | None = None,
                   closed_levels: Mapping[int, float] | None = None,
                   closure_depths: AUCurves | None = None) -> Timeline:
    """Read AU events off continuous curves.

    Parameters
    ----------
    curves : AUCurves
        Clean curves (no NaN; fill gaps first), values 0-1.
    scale : IntensityScale
        Scale whose bands give each event's intensity letter.
    options : EventOptions
        Hysteresis thresholds and minimum durations.
    thresholds : mapping of AU number to (on, off) or (on, off, trace_duration), optional
        Per-AU thresholds replacing ``options.on`` / ``options.off`` (and, given,
        ``options.trace_duration``) for those AUs (both sides), e.g. from a tracker profile's
        typical AU ranges or its own scale's thresholds
        (:func:`facs_rig.io.captures.pipeline.event_thresholds`).
    closed_levels : mapping of AU number to float, optional
        For the eye-closure channels (43, 45, 46), the value the channel reads with the eye
        closed (0-1): a momentary closure is a blink or wink only when its peak, as a share
        of that value, reaches "nearly closed" on ``scale`` (:func:`_nearly_closed`), else it
        is 43 at its letter, or nothing under the trace. A closure AU not in the mapping is
        told by its length alone. Default :data:`DEFAULT_CLOSED_LEVELS` (43 and 46 closed at
        1.0; 45, OpenFace's ``AU45_r``, by length alone); a tracker profile gives its own
        (:func:`facs_rig.io.captures.pipeline.closed_levels`: Face Cap's eyeBlink tops out at
        0.72).
    closure_depths : AUCurves, optional
        The closure channels as measured, before smoothing, on the same frames as ``curves``:
        a closure's depth (its peak) is read there when given. A zero-phase low-pass takes
        more off a short blink's peak than off a held closure's (a 0.13 s blink of
        ``alex_rom_3.csv`` at 63.76 s, 0.74 of closed as solved, read 0.54 smoothed at 6 Hz),
        so depth read on ``curves`` alone would turn short full blinks into lowerings.

    Returns
    -------
    Timeline
        One event per activation, duration and fps of the curves.
    """
    times = np.asarray(curves.times, dtype=np.float64)
    values = np.asarray(curves.values)
    n = times.shape[0]
    # Every event's times are frame times, its durations differences of increasing ones, its
    # intensity clamped to 0-1 and its letter from the scale: when the frame times are finite
    # (even summed), non-negative and non-decreasing, each event is valid by construction and
    # skips AUEvent's checks (~0.7 s of an hour-long take's 68,000 events); otherwise the
    # checked constructor raises as it always did.
    trusted = n == 0 or bool(np.isfinite(4.0 * times).all() and times[0] >= 0
                             and (n == 1 or (times[1:] >= times[:-1]).all()))
    make = AUEvent._trusted if trusted else _checked_event
    uppers = _band_uppers(scale)
    time_list = times.tolist()  # Python floats: the same differences, cheaper to index
    apex_fraction, min_duration = options.apex_fraction, options.min_duration
    events: list[AUEvent] = []
    levels = DEFAULT_CLOSED_LEVELS if closed_levels is None else closed_levels
    depths: dict[int, float] = {}  # index in `events` of a momentary closure -> its depth
    depth_values = None if closure_depths is None else np.asarray(closure_depths.values)
    depth_column = ({channel: k for k, channel in enumerate(closure_depths.channels)}
                    if depth_values is not None and depth_values.shape[0] == n else {})
    mirrors = _mirror_columns(curves.channels)
    floor = scale.minimum / scale.maximum  # the level the scale reads as absent, 0-1
    # Each sided channel's own activations, for its mirror side (_with_mirror_traces).
    own: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for column in mirrors:
        curve = np.nan_to_num(values[:, column].astype(np.float64), nan=0.0)
        on, off, trace_duration = _limits(curves.channels[column].au, options, thresholds)
        own[column] = _activations(curve, times, on, off, options.min_gap, trace_duration)
    for column, channel in enumerate(curves.channels):
        # One channel in float64 at a time, not a float64 copy of the whole take.
        curve = np.nan_to_num(values[:, column].astype(np.float64), nan=0.0)
        on, off, trace_duration = _limits(channel.au, options, thresholds)
        if column in mirrors:
            mirror = mirrors[column]
            firsts, lasts = _with_mirror_traces(
                curve, np.nan_to_num(values[:, mirror].astype(np.float64), nan=0.0), times,
                own[column], own[mirror], off, floor, options.min_gap)
        else:
            firsts, lasts = _activations(curve, times, on, off, options.min_gap, trace_duration)
        starts = np.maximum(firsts - 1, 0)
        ends = np.minimum(lasts + 1, n - 1)
        long_enough = ~(times[ends] - times[starts] < min_duration)  # NaN-safe as before
        firsts, lasts = firsts[long_enough], lasts[long_enough]
        starts, ends = starts[long_enough], ends[long_enough]
        humps = _hump_counts(curve, firsts, lasts, options.split_fraction)
        letter_changes = _letter_changes(curve, uppers) if options.follow_intensity else None
        following: list[tuple[list[tuple[int, int]], list[bool], int, int, bool, bool]] = []
        for first, last, start_index, end_index, hump_count in zip(
                firsts.tolist(), lasts.tolist(), starts.tolist(), ends.tolist(), humps.tolist()):
            bounds = [start_index, *_valleys(curve, times, first, last, options.split_fraction,
                                             options.min_gap), end_index] if hump_count > 1 \
                else [start_index, end_index]
            if options.follow_intensity and channel.au not in _CLOSURES:
                # An eye closure stays whole: its length tells blink (45) or wink (46) from
                # closure (43).
                pieces: list[tuple[int, int]] = []
                continues: list[bool] = []  # piece k changes letter within piece k-1's hump
                for left, right in zip(bounds, bounds[1:]):
                    if time_list[right] - time_list[left] >= min_duration:
                        letter_pieces = _letter_ranges(time_list, letter_changes, left, right,
                                                       min_duration, (first, last))
                        pieces.extend(letter_pieces)
                        continues.extend([False] + [True] * (len(letter_pieces) - 1))
                if pieces:
                    # On at the take's first (last) frame: no onset (offset) in the take; a
                    # rise from a first frame at rest has one.
                    following.append((pieces, continues, start_index, end_index, first == 0,
                                      last == n - 1))
                continue
            for left, right in zip(bounds, bounds[1:]):
                if time_list[right] - time_list[left] < min_duration:
                    continue
                intensity, letter, start, onset, apex, offset = _event(
                    time_list, curve[left:right + 1], left, right, scale, apex_fraction)
                event_channel = channel
                if channel.au in _CLOSURES:
                    # FACS 2002, AU45: a closure that reopens within half a second is a blink,
                    # 45, scored present without a letter; "if bilateral and the eyes remain
                    # closed more than 1/2 second, then the action should be scored as eyes
                    # closed (43E)": the held closure is 43 at its letter. ARKit's eyeBlink
                    # (read as 43) and OpenFace's AU45_r (a closure's intensity, whatever its
                    # length) cannot tell them apart; timing can. A custom rig's wink channel
                    # (46) is read the same way: "if eye closure is unilateral and does not
                    # exceed 1/2 second, you must consider scoring it as a wink", so a closure
                    # of one eye within half a second is one wink however its depth moves (a
                    # slow one read L46 at D, then L46 at E), and a longer one that eye closed,
                    # L43 or R43 at its letter (it stayed a momentary 46). A wink channel
                    # without a side closes both eyes: a blink, 45 (the needs_side rule of 46
                    # in action_units.json: both eyes are 45 or 43).
                    # (start + onset + apex + offset) - start is AUEvent's end - start.
                    blink = start + onset + apex + offset - start <= options.blink_max
                    closed_level = levels.get(channel.au)
                    measured = depth_column.get(channel)
                    depth = curve[left:right + 1] if measured is None \
                        else depth_values[left:right + 1, measured]
                    peak = float(np.nan_to_num(depth, nan=0.0).max())
                    if blink and closed_level:
                        # Recorded under the index the event appended next takes.
                        depths[len(events)] = peak / closed_level
                    if blink and closed_level is not None and not _nearly_closed(
                            peak, closed_level, scale):
                        # The eyes "must close or nearly close" for a blink (FACS 2002,
                        # AU45): a momentary lowering that stops short of it is no blink
                        # or wink but the lid lowered for a moment, 43 at its letter
                        # (S07-001.csv's 0.23-0.40 s, eyeBlinkLeft peaking at 0.29, was a
                        # blink played closed), and nothing under the trace.
                        if letter is not None:
                            events.append(make(Channel(43, channel.side), intensity, start,
                                               onset, apex, offset, letter))
                        else:
                            depths.pop(len(events), None)
                        continue
                    wink = channel.au == 46 and channel.side is not None
                    event_channel = Channel((46 if wink else 45) if blink else 43, channel.side)
                    if blink:
                        # Present, so closed: FACS 2002 gives a blink no intensity criteria
                        # (the eyes "close or nearly close"), and an unlettered 45 plays at
                        # the scale's E (action_units.json, "intensity"), as '45' read back
                        # from the notes does; a 45D for a smoothed peak was a letter FACS
                        # never scores.
                        intensity, letter = scale.letter_to_value("E"), None
                events.append(make(event_channel, intensity, start, onset, apex, offset, letter))
        if following:
            events.extend(make(channel, intensity, start, onset, apex, offset, letter)
                          for intensity, letter, start, onset, apex, offset in _phased_events(
                              curve, times, time_list, following, scale, apex_fraction))
    events = _bilateral_blinks(_closures_of_both_eyes(events, depths, options.blink_max,
                                                      scale.letter_to_value("E")))
    duration = float(times[-1]) if n else 0.0
    metadata = dict(curves.metadata)
    metadata["events_from"] = "captured curves (hysteresis on/off " \
        f"{options.on:g}/{options.off:g}, min {options.min_duration:g} s)"
    return Timeline(tuple(events), duration, curves.fps or 30.0, metadata)


def _limits(au: int, options: EventOptions,
            thresholds: Mapping[int, tuple[float, ...]] | None) -> tuple[float, float, float | None]:
    """(on, off, trace_duration) of one AU: its own from ``thresholds``, else the options'."""
    limits = (thresholds or {}).get(au, (options.on, options.off))
    return limits[0], limits[1], limits[2] if len(limits) > 2 else options.trace_duration


def _mirror_columns(channels: tuple[Channel, ...]) -> dict[int, int]:
    """Column of each sided channel -> column of the same AU's other side, for the AUs whose
    left and right are both in the curves (but the eye closures and the wink: one eye's
    closure is read by its own timing, and both eyes' blinks are joined by
    :func:`_bilateral_blinks`)."""
    columns = {(channel.au, channel.side): k for k, channel in enumerate(channels)}
    return {k: columns[(channel.au, _OTHER_SIDE[channel.side])]
            for k, channel in enumerate(channels)
            if channel.side is not None and channel.au not in _EYE_CLOSURES | _MOMENTARY_AUS
            and (channel.au, _OTHER_SIDE[channel.side]) in columns}


_OTHER_SIDE = {"L": "R", "R": "L"}

#: How much of the other side's movement a side under its ``off`` must show, frame by frame, to
#: count as acting in the other side's action (:func:`_with_mirror_traces`): under ``off`` a
#: value is within the tracker's resting noise (``EventOptions``), so only moving with the
#: other side tells a trace from noise. Half: on the three ARKit takes in
#: ``shared/assets/captures``, the weaker side of actions made on both sides (Face Cap's cheeks at
#: 4.08 s, 0.05 against 0.08; alex_rom_3's upper lip at 39.83 s, 0.076 against 0.083) reads
#: 0.6 to 0.9 of the stronger side, and the other side of the one-sided ones (Face Cap's left
#: side scrunched at 6.41-7.75 s, the mouth pulled to one side in alex_rom_3's lip exercises)
#: under 0.5 where it stays under ``off`` (docs/captures.md, "What `code` says on real
#: takes", round 10). Measured on the takes it is judged on, not taken from FACS.
_MIRROR_SHARE = 0.5


def _run_mask(n: int, firsts: np.ndarray, lasts: np.ndarray) -> np.ndarray:
    """(n,) bool: True on frames ``firsts[k]..lasts[k]`` (inclusive) of any run ``k``."""
    steps = np.zeros(n + 1, dtype=np.int32)
    np.add.at(steps, firsts, 1)
    np.add.at(steps, lasts + 1, -1)
    return np.cumsum(steps)[:n] > 0


def _with_mirror_traces(curve: np.ndarray, mirror: np.ndarray, times: np.ndarray,
                        own: tuple[np.ndarray, np.ndarray],
                        mirror_own: tuple[np.ndarray, np.ndarray], off: float, floor: float,
                        min_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """(firsts, lasts) of one side's activations, with the frames where it acts in its other
    side's action.

    FACS scores an action unilateral only "if there is no trace of evidence for the AU on one
    side"; an action on both sides at different intensities gets one score, the higher (FACS
    2002 manual, ch. 10, Scoring Step V, "Verifying Intensity Criteria and Unilaterality
    Questions", as transcribed at scribd.com/document/429786635). A side that stayed under
    ``on`` while the other side's action was on had no event, and the action was coded on one
    side: Face Cap's smile at 4.08 s, cheeks raised 0.08 and 0.05 (mean), read ``L6B`` and not
    the row 6+12; alex_rom_3's upper lip raise at 39.83 s, 0.083 and 0.076, ``R10A``.

    Inside the other side's own activations (``mirror_own``, from :func:`_activations`), this
    side acts on the frames where it shows a trace: above its ``off``, the level at which an
    action under way has not ended (a side at 0.12 beside 0.6 is a smile stronger on one side,
    ``12D``); or, in a stretch that touches none of its own activations (``own``), above
    ``floor``, the level the scale reads as absent at or below, while it moves with the other
    side (at least :data:`_MIRROR_SHARE` of it): a weak action's other side is weaker still,
    and its ``off`` would ask more of it than the side it mirrors showed. Next to its own
    activations a side still ends at ``off``, as every action does. A side at rest (at or
    under ``floor``, or under ``off`` and under half the other side) leaves the action
    one-sided. The frames join this side's own activations, dips under ``min_gap`` bridged as
    there.

    Parameters
    ----------
    curve, mirror : (n_frames,) float64
        This side's and the other side's values.
    times : (n_frames,) float64
    own, mirror_own : ((k,) int, (k,) int)
        Each side's own activations (firsts, lasts), from :func:`_activations`.
    off, floor : float
        This AU's end threshold and the scale's absent level, 0-1.
    min_gap : float
        Seconds.
    """
    n = curve.shape[0]
    inside = _run_mask(n, *mirror_own)
    owned = _run_mask(n, *own)
    # Under `off`: stretches apart from this side's own activations that move with the other
    # side, above the scale's absent level.
    firsts, lasts = _run_bounds(inside & (curve > floor) & (curve >= _MIRROR_SHARE * mirror))
    frames_owned = np.concatenate(([0], np.cumsum(owned)))
    apart = frames_owned[lasts + 1] == frames_owned[firsts]
    acting = (inside & (curve > off)) | _run_mask(n, firsts[apart], lasts[apart])
    if not (acting & ~owned).any():
        return own
    firsts, lasts = _run_bounds(owned | acting)
    if firsts.size > 1:
        opens = np.concatenate(([True], ~(times[firsts[1:]] - times[lasts[:-1]] < min_gap)))
        firsts = firsts[opens]
        lasts = lasts[np.concatenate((opens[1:], [True]))]
    return firsts, lasts


#: The channels that measure how far the eyes are closed: 43 (ARKit's eyeBlink, solved) and 45
#: (OpenFace's AU45_r). Their events are blinks (45) or held closures (43) by their length.
_EYE_CLOSURES = frozenset({43, 45})

#: The channels whose events are each one closure, coded by its length (a blink or a wink
#: within ``blink_max``, else 43): the eye closures and a custom rig's wink channel (46).
_CLOSURES = _EYE_CLOSURES | {46}

#: The value each closure channel reads with the eye closed, by default
#: (:func:`extract_events`' ``closed_levels``): 43 (a solved eyeBlink) and a rig's wink channel
#: (46) measure the lid's closure on 0-1, closed at 1. OpenFace's ``AU45_r`` is not there: it
#: is that detector's reading of the blink itself, not of the lid's position (FACS scores a
#: blink no intensity: action_units.json, "intensity"), and the bundled take's blinks peak at
#: 2.5-3.3 of its 5 (``facsvatar_demo_full.csv``, each a separate rise from 0; its lid
#: lowering in a squint reads 0.6-1.4 and starts no event), so its closures are told by their
#: length alone, as before.
DEFAULT_CLOSED_LEVELS: Mapping[int, float] = MappingProxyType({43: 1.0, 46: 1.0})

#: The letters of a closure that is "nearly closed" or closed. FACS 2002's AU45 section scores a
#: blink when the eyes "close or nearly close for a moment, and then return to an open
#: position"; its AU43 section scores the lid lowered short of closed by degree, lid droop
#: (1978's 41) and slit (42) at 43A-D, a droop "e.g. 43B", and closed 43E (action_units.json,
#: sources "FACS 2002, AU43 section" and "AU45 section"). So closed is E and nearly closed the
#: letter next to it, D; C, the middle of the scale ("marked", intensity_scales.json), is a lid
#: half lowered, no blink. On the bundled FACSHuman scale a closure must pass 0.55 of closed.
_NEARLY_CLOSED_LETTERS = frozenset({"D", "E"})


def _nearly_closed(peak: float, closed_level: float, scale: IntensityScale) -> bool:
    """Whether a closure peaking at ``peak`` (0-1) on a channel that reads ``closed_level``
    with the eye closed reaches "nearly closed" (:data:`_NEARLY_CLOSED_LETTERS`) on ``scale``."""
    if not closed_level > 0:
        return True
    return scale.value_to_letter(min(1.0, peak / closed_level)) in _NEARLY_CLOSED_LETTERS


def _closures_of_both_eyes(events: list[AUEvent], depths: Mapping[int, float],
                           blink_max: float, closed: float) -> list[AUEvent]:
    """``events`` with each momentary lowering of one eye's lid (a 43 no longer than
    ``blink_max``, :func:`extract_events`: short of nearly closed) that overlaps a blink of the
    other eye and moves with it read as that eye's blink too, at ``closed``.

    Both eyes closing together are one action, and FACS scores an action on both sides at
    different intensities once, at the higher, and unilateral only "if there is no trace of
    evidence for the AU on one side" (FACS 2002 manual, ch. 10, Scoring Step V, as transcribed
    at scribd.com/document/429786635): judged eye by eye, S07-001.csv's 12.50-12.70 s closure
    (left 0.57 of closed, right 0.51) read ``R43C+L45``. The other eye moves with the blink
    when its ``depths`` (peak over closed, by index in ``events``) is at least
    :data:`_MIRROR_SHARE` of the blink's, as a side acts in the other side's action elsewhere
    (:func:`_with_mirror_traces`); an eye narrowing less beside one eye's closure (the other
    eye of a wink) stays a lowering, and a wink (46, one eye's intentional closure) takes no
    other eye.
    """
    blinks = sorted(((k, e) for k, e in enumerate(events)
                     if e.channel.au == 45 and e.channel.side is not None),
                    key=lambda item: item[1].start)
    if not blinks:
        return events
    starts = [e.start for _, e in blinks]
    out = list(events)
    for k, event in enumerate(events):
        if event.channel.au != 43 or event.channel.side is None or k not in depths \
                or event.end - event.start > blink_max:
            continue
        # A blink lasts at most blink_max: only those starting since then can overlap.
        position = bisect_left(starts, event.end) - 1
        while position >= 0 and starts[position] > event.start - blink_max - 1e-9:
            j, other = blinks[position]
            if other.channel.side != event.channel.side and event.start < other.end \
                    and depths[k] >= _MIRROR_SHARE * depths.get(j, 1.0):
                out[k] = replace(event, channel=Channel(45, event.channel.side),
                                 intensity=closed, letter=None)
                break
            position -= 1
    return out


def _bilateral_blinks(events: list[AUEvent]) -> list[AUEvent]:
    """``events`` with each left blink or wink that overlaps a right one (and so both eyes
    closing at once) written as one bilateral blink, ``45``, as a FACS coder scores it: FACS
    2002, AU45, scores a blink of both eyes as 45 and keeps L45/R45 for a unilateral one, and a
    wink (46) is a closure of one eye (a rig's left and right wink channels closing together,
    ``L46+R46``, close both eyes: a blink). The merged event spans both (earliest start and
    apex, latest apex end and end) at the stronger intensity; it takes the place of the
    earlier of the two."""
    return _joined_sides(_joined_sides(events, 45), 46)


def _joined_sides(events: list[AUEvent], au: int) -> list[AUEvent]:
    """``events`` with each left ``au`` event that overlaps a right one joined into one ``45``
    (:func:`_bilateral_blinks`)."""
    left = [k for k, e in enumerate(events) if e.channel.au == au and e.channel.side == "L"]
    right = [k for k, e in enumerate(events) if e.channel.au == au and e.channel.side == "R"]
    if not left or not right:
        return events
    # One channel's events do not overlap, so the right blinks sorted by start are sorted by
    # end too: the first one ending after a left blink starts is the one that may overlap it.
    right.sort(key=lambda k: events[k].start)
    right_ends = [events[k].end for k in right]
    used: set[int] = set()
    merged: dict[int, AUEvent] = {}
    for k in left:
        blink = events[k]
        for position in range(bisect_right(right_ends, blink.start), len(right)):
            j = right[position]
            other = events[j]
            if other.start >= blink.end:
                break
            if j in used:
                continue
            start = min(blink.start, other.start)
            apex_start = min(blink.start + blink.onset, other.start + other.onset)
            apex_end = max(blink.start + blink.onset + blink.apex,
                           other.start + other.onset + other.apex)
            end = max(blink.end, other.end)
            merged[min(k, j)] = AUEvent.from_times(
                Channel(45), max(blink.intensity, other.intensity), start, apex_start,
                apex_end, end, ease_in=blink.ease_in, ease_out=blink.ease_out, letter=None)
            used.update((k, j))
            break
    return [merged.get(k, event) for k, event in enumerate(events)
            if k in merged or k not in used]


@dataclass(frozen=True)
class CodedSegment:
    """A stretch of time with a constant set of active AUs, FACS-coded.

    Attributes
    ----------
    start, end : float
        Seconds.
    code : Code
        The active AUs, each with its strongest letter in the stretch.
    emotion : str or None
        The EMFACS emotion that explains most of the code (None when the face shows no
        prototype or major variant of any emotion in full; :func:`_name_emotion`).
    matched, total : int
        How many AUs of that emotion's nearest prototype are present, of how many.
    """

    start: float
    end: float
    code: Code
    emotion: str | None = None
    matched: int = 0
    total: int = 0

    def __str__(self) -> str:
        text = f"{self.start:.2f}–{self.end:.2f} s  {format_code(self.code)}"
        if self.emotion:
            text += f"  {self.emotion} {self.matched}/{self.total}"
        return text


#: Rank of each intensity letter (A = 0 ... E = 4); a dictionary, as ranks are looked up per
#: event boundary when coding (twice for each of ~70,000 events in an hour of capture).
_LETTER_RANKS = {letter: rank for rank, letter in enumerate(INTENSITY_LETTERS)}


def _letter_rank(letter: str | None) -> int:
    return _LETTER_RANKS.get(letter, -1)


#: The codes of the mouth's opening, lips parted (25), jaw dropped (26) or stretched open (27):
#: they select the EMFACS rows a face shows but weigh for no emotion (:func:`_name_emotion`).
_MOUTH_OPENING = frozenset({25, 26, 27})

#: A form of an emotion as :func:`_name_emotion` reads it: its terms as (AU, side, lowest letter
#: rank); side None matches either side, rank -1 any intensity.
_Form = tuple[tuple[int, "str | None", int], ...]


@dataclass(frozen=True)
class _Prototype:
    """An emotion's EMFACS forms as :func:`_name_emotion` reads them: its prototypes (what
    ``matched/total`` counts against) and every form that names it (prototypes and major
    variants, the anger rule's omissions written out)."""

    name: str
    prototypes: tuple[_Form, ...]
    forms: tuple[_Form, ...]
    #: Whether a form's unsided term is shown on either side (pain), not only on both.
    either_side: bool = False
    #: The AUs that only support the emotion (``companions`` in expressions.json: disgust's 15,
    #: 16, 17, 25, 26 beside its 9 or 10): they complete its forms and count in matched/total,
    #: but weigh no evidence for it.
    companions: frozenset[int] = frozenset()
    #: Each form's (AU, side) keys, to rule a form out with one set test.
    form_keys: tuple[frozenset[tuple[int, str | None]], ...] = ()
    #: The emotion's alternatives (:func:`_alternatives`): groups of (AU, side) keys of which
    #: the evidence counts only the strongest shown, as the PSPI takes max(AU9, AU10).
    alternatives: tuple[frozenset[tuple[int, str | None]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "form_keys", tuple(
            frozenset((au, side) for au, side, _ in form) for form in self.forms))
        object.__setattr__(self, "alternatives", _alternatives(self.form_keys))


def _alternatives(form_keys: tuple[frozenset[tuple[int, str | None]], ...]
                  ) -> tuple[frozenset[tuple[int, str | None]], ...]:
    """Groups of an emotion's terms that stand for one another in its rows: two (AU, side)
    keys are alternatives when no row holds both and swapping one for the other in some row
    gives another row (disgust's 9 and 10: rows 9 and 10, 9+17 and 10+17; anger's 23 and 24:
    4+5+7+23 and 4+5+7+24; pain's 6 and 7, 9 and 10; fear's 20 and L20 or R20), joined where
    they chain. Each group is one slot of the face's configuration, filled by either action,
    as the PSPI scores pain with max(AU6, AU7) and max(AU9, AU10), not their sum (Prkachin &
    Solomon 2008), and as each row of Table 10-1 (Ekman, Friesen & Hager 2002) names one of
    them: with both shown they are still one row's worth of evidence.

    Parameters
    ----------
    form_keys : tuple of frozenset of (int, str or None)
        Each row's (AU, side) keys.

    Returns
    -------
    tuple of frozenset of (int, str or None)
        The groups of two or more keys, in order of their smallest key.
    """
    rows = set(form_keys)
    keys = sorted({key for row in form_keys for key in row}, key=lambda k: (k[0], k[1] or ""))
    together = {(a, b) for row in form_keys for a in row for b in row}
    group = {key: {key} for key in keys}
    for row in form_keys:
        for a in row:
            for b in keys:
                if b not in row and (a, b) not in together and (row - {a}) | {b} in rows:
                    joined = group[a] | group[b]
                    for key in joined:
                        group[key] = joined
    found = {frozenset(members) for members in group.values() if len(members) > 1}
    return tuple(sorted(found, key=lambda g: min((k[0], k[1] or "") for k in g)))


def _prototypes(vocabulary: Vocabulary, emotions: tuple[str, ...]) -> list[_Prototype]:
    """The EMFACS forms of ``emotions`` (expressions without prototypes are left out)."""
    def form(code: Code) -> _Form:
        return tuple((term.au, term.side, _letter_rank(term.intensity)) for term in code)

    table = []
    for name in emotions:
        expression = vocabulary.expression(name)
        if expression is None or not expression.prototypes:
            continue
        # Prototypes, variants and the anger rule's omissions written out (Table 10-1).
        forms = tuple(dict.fromkeys(form(row) for row in emotion_rows(expression, vocabulary)))
        prototypes = tuple(form(vocabulary.parse(text)) for text in expression.prototypes)
        table.append(_Prototype(name, prototypes, forms, expression.either_side,
                                frozenset(expression.companions)))
    return table


def _name_emotion(code: Code, prototypes: list[_Prototype], scale: IntensityScale,
                  facial: set[int] | frozenset[int],
                  strengths: Mapping[tuple[int, str | None], float]
                  | Callable[[], Mapping[tuple[int, str | None], float]] | None = None
                  ) -> tuple[str | None, int, int]:
    """(emotion, matched, total): the EMFACS emotion that explains most of the segment's
    code, or (None, 0, 0).

    An emotion is a candidate when the face shows one of its forms in full (a prototype or a
    major variant of the FACS Investigator's Guide's emotion prediction table, Ekman, Friesen &
    Hager 2002, Table 10-1; ``prototypes``/``variants`` in expressions.json), each term at least
    at its letter: 4+5+7 without the lips is no anger (every anger row has 23 or 24), 12A alone
    no happiness (6+12, or 12 at C or more), 1+2+4 alone (the fear brow) no emotion. Pain is
    in no EMFACS row; its forms are the core pain expression (Prkachin 1992; Prkachin & Solomon
    2008, PSPI): 4, 6 or 7, 9 or 10, and 43, each present on either side (below), read by the
    same rule.

    Among candidates, the one whose forms shown in full explain the most of the face wins: the
    AUs of all those forms together, each weighing its letter's value on the scale (A, a trace,
    0.10 on the default scale; E 1.0), as a coder's intensity says how much evidence there is;
    of alternatives (:func:`_alternatives`: disgust's 9 and 10, anger's 23 and 24, pain's 6
    and 7, terms no row holds together that stand for one another in its rows) only the
    strongest shown weighs, as the PSPI scores max(AU9, AU10) (Prkachin & Solomon 2008), so a
    broad smile that raises the upper lip and wrinkles the nose, 9C+10C+12D, is happiness
    (0.90 against 0.55; it read disgust by 9C+10C's 1.10). Rows that do not swap for one
    another still add up (fear's 1+2+5B and 5+20: 1+2+5+20 is fear, not surprise).
    Only a form's core weighs: the emotion's ``companions`` (expressions.json; the AUs the table
    adds to a row that is a row without them, as disgust's 15, 16, 17, 25, 26 beside 9 or 10)
    complete its forms and count in ``matched/total`` but weigh nothing, so a chin raise under
    a smile with a slight nose wrinkle, 9B+10B+12D+17C, is happiness (0.90 against 9B+10B's
    0.40; it read disgust by 9B+10B+17C's 0.95).
    A disgust face 9C+10C+17C with a weak smile 6B+12B is disgust (9C's 0.55 against 0.40); a
    felt smile 6E+12E with traces 1A+4A+15A is happiness (2.0 against 0.3); a full fear face is
    fear, not the surprise inside it. Equal evidence goes to the emotion whose prototype the
    face shows more completely (1+2+5B+26 is surprise 4/4 before fear's 1+2+4+5+26 at 4/5),
    then, where ``strengths`` gives the values inside the letters' bands (the tracker's 0-1 apex
    of each term, :func:`code_segments`), to the emotion whose evidence weighs more by them
    (9B+10C+12C+17C with 10 at 0.55 and 12 at 0.39 is disgust: the letters tie, the upper lip is
    the stronger), then to the earlier emotion. The mouth's opening (25, 26, 27) selects rows
    but is no evidence for one emotion over another: the table names it in the rows of surprise,
    fear, anger and disgust alike, FACS scores 25 with 26 or 27 whenever the lips part (so
    1+2+5B+25+26 is surprise, not fear for the 25 that fear's rows name), and laughter and
    speech open the mouth too (a laugh 1+2+6E+12E+25+26 is happiness, not surprise for the brows
    and the jaw). With a smile shown (a happiness row in full) the opening is the smile's,
    laughter's 12+25+26: another emotion's row that needs 25, 26 or 27 does not select it, so
    raised brows with a smile and a dropped jaw (1+2+12+26) are happiness, not surprise by its
    row 1+2+26 (Py-Feat 008.csv read surprise 3/4), and a grin 10C+12D+16C+25E is happiness, not
    disgust by 10+16+25.

    A blend: when the winner is happiness or surprise and the other is a candidate too, each
    shown in full by a row at C or more (marked evidence) in facial AUs the other does not
    explain, both are named, the one with more evidence first (``surprise+happiness``), with
    ``matched/total`` over both nearest prototypes. Only this pair: observers read a blend of
    joy and surprise as both emotions, while blends of one valence read as one emotion and of
    opposite valence as neither (Mäkäräinen, Kätsyri & Takala 2018); Ekman & Friesen (1975,
    Unmasking the Face) show blends with each emotion in its own part of the face.

    Sides: a row's unsided term is a bilateral action, shown by the AU unsided or on both
    sides (at the stronger side's letter, as ``code`` writes ``L12C+R12D`` as ``12D``), never
    by one side alone; the table writes a one-sided action with its side (fear's "L or R 20",
    contempt's R12A+R14A), as FACS scores a unilateral action. So a one-sided 12 (``L12C``, a
    smirk) is no happiness row and names contempt only with 14 on its side (``L12A+L14A``); a
    one-sided 12 or 14 alone names nothing (no source of expressions.json lists either alone).
    A one-sided 6 beside a bilateral 12 is not the row 6+12: felt smiles are the symmetrical
    ones, asymmetry a mark of false and deliberate ones (Ekman & Friesen 1982, Felt, false, and
    miserable smiles; Ekman, Hager & Friesen 1981, The symmetry of emotional and deliberate
    facial actions), so ``L6B+12D`` shows only the row 12C and ``L6B+12B`` no row. A sided
    term of a row is shown on its side only, not by a bilateral AU (``12A+14A`` is a dimpled
    smile, no contempt). Pain's forms are no table rows but the PSPI's terms, which score each
    action's intensity with no side (PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43):
    ``either_side``, each term shown by the AU on either side (``4C+R6B+9C+10C+43C``, a cheek
    raised on the right only, is pain).

    ``matched``/``total``: of the emotion's prototypes, the one with the most AUs present (at
    any letter; then the fewest missing), how many of its AUs the face shows and how many it
    has, each present as the row's term is shown (bilateral or on its side). Only AUs in
    ``facial`` (no head or eye position, no blink) count as evidence.
    """
    values = [scale.letter_to_value(letter) for letter in INTENSITY_LETTERS]
    unscored = _LETTER_RANKS[scale.unscored]
    ranks: dict[tuple[int, str | None], int] = {}
    anywhere: dict[int, int] = {}
    for term in code:
        rank = _letter_rank(term.intensity)
        rank = unscored if rank < 0 else rank
        key = (term.au, term.side)
        ranks[key] = max(ranks.get(key, -1), rank)
        anywhere[term.au] = max(anywhere.get(term.au, -1), rank)
    # A row's unsided term is bilateral: the AU unsided or on both sides, at its stronger letter.
    bilateral = {au: anywhere[au] for au, side in ranks
                 if side is None or ((au, "L") in ranks and (au, "R") in ranks)}
    sided = {key for key in ranks if key[1] is not None}
    # A form's (AU, side) terms the face shows: unsided ones as (au, None), sided ones as such;
    # for an either_side emotion (pain) an unsided term by the AU on any side.
    present = {(au, None) for au in bilateral} | sided
    present_anywhere = {(au, None) for au in anywhere} | sided

    def shown(au: int, side: str | None, either_side: bool = False) -> int:
        if side is not None:
            return ranks.get((au, side), -1)
        return (anywhere if either_side else bilateral).get(au, -1)

    # With a smile shown, an open mouth is the smile's: laughter opens the lips and drops the
    # jaw (12+25+26), so another emotion's row that needs the opening does not select it.
    smiling = any(prototype.name == "happiness" and any(
        keys <= present and all(shown(au, side) >= max(lowest, 0) for au, side, lowest in form)
        for form, keys in zip(prototype.forms, prototype.form_keys)) for prototype in prototypes)
    candidates = []
    for order, prototype in enumerate(prototypes):
        either = prototype.either_side
        shows = present_anywhere if either else present
        explained: set[tuple[int, str | None]] = set()
        marked = False  # a form shown in full at C or more (a blend's criterion)
        for form, keys in zip(prototype.forms, prototype.form_keys):
            if smiling and prototype.name != "happiness" and any(
                    au in _MOUTH_OPENING for au, _, _ in form):
                continue
            if keys <= shows and all(shown(au, side, either) >= max(lowest, 0)
                                       for au, side, lowest in form):
                explained.update((au, side) for au, side, _ in form)
                # Marked: C or more, or the row's own letter where it names a lower one
                # (surprise's 1+2+5B: a B lid raise is that row in full).
                marked = marked or all(
                    shown(au, side, either) >= (min(lowest, _BLEND_RANK) if lowest >= 0 else _BLEND_RANK)
                    for au, side, lowest in form)
        if not explained:
            continue
        weighed = frozenset((au, side) for au, side in explained
                            if au in facial and au not in _MOUTH_OPENING)
        # Only the emotion's core weighs: its companions complete the rows shown but carry
        # none of it (expressions.json ``companions``: a chin raise, 17, is in rows of sadness,
        # anger and disgust, and as disgust's 9+17 weighed as much as a smile's 12 towards
        # disgust, so Face Cap's smile with a slight nose wrinkle, 9B+10B+12D+17C, read it).
        core = {key: values[shown(key[0], key[1], either)] for key in weighed
                if key[0] not in prototype.companions}
        # Of alternatives (disgust's 9 and 10, anger's 23 and 24, pain's 6 and 7), only the
        # strongest shown weighs: no row holds both, so both shown are still one row's worth
        # (PSPI: max(AU9, AU10); a smile 12D with 9C+10C read disgust by their 1.10).
        evidence = _weigh(core, prototype.alternatives)
        # Nor does the smile's opening, where the mouth is open, count towards another
        # emotion's prototype: with it, a surprised smile that parts the lips (1+2+5+12+25)
        # matched fear's 1+2+4+5+25 (4/5) better than surprise's 1+2+5B+26 (3/4), and read fear
        # (a second reader's find). An opening that is not there is still missing.
        owned = smiling and prototype.name != "happiness"
        matched, total = max(
            (sum(shown(au, side, either) >= 0 for au, side in kept), -len(kept))
            for kept in ([(au, side) for au, side, _ in form
                          if not (owned and au in _MOUTH_OPENING and shown(au, side, either) >= 0)]
                         for form in prototype.prototypes) if kept)
        total = -total
        key = (round(evidence, 9), matched / total, 0.0, -order)
        candidates.append((key, prototype.name, matched, total, weighed, marked,
                           core, prototype.alternatives))
    if not candidates:
        return None, 0, 0
    top = max(candidate[0][:2] for candidate in candidates)
    tied = [index for index, candidate in enumerate(candidates) if candidate[0][:2] == top]
    if strengths is not None and len(tied) > 1:
        # Within a tie of letters, the values inside their bands (none given: all tie at 0),
        # read only where a tie at the top needs them (an hour's 8,000 segments rarely do).
        # An unsided term is shown by the AU on either or both sides: its stronger side's value.
        values_in_bands = strengths() if callable(strengths) else strengths
        for index in tied:
            key, *rest = candidates[index]
            core, alternatives = rest[-2], rest[-1]
            by_value = _weigh(
                {term: max(values_in_bands.get((term[0], side), 0.0) for side in (None, "L", "R"))
                 if term[1] is None else values_in_bands.get(term, 0.0) for term in core},
                alternatives)
            candidates[index] = ((key[0], key[1], round(by_value, 9), key[3]), *rest)
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    best = candidates[0]
    names = {candidate[1]: candidate for candidate in candidates}
    if best[1] in _BLENDS:
        other = names.get(_BLENDS[best[1]])
        if other is not None and best[5] and other[5] and not best[4] & other[4]:
            # Both shown in full, each in AUs of its own, each marked: a blend, the one with
            # more evidence first; matched/total over both nearest prototypes.
            return f"{best[1]}+{other[1]}", best[2] + other[2], best[3] + other[3]
    return best[1], best[2], best[3]


def _weigh(weights: Mapping[tuple[int, str | None], float],
           alternatives: tuple[frozenset[tuple[int, str | None]], ...]) -> float:
    """The evidence of an emotion's core terms shown, ``weights`` by (AU, side): their sum, each
    group of ``alternatives`` counting only its strongest (:func:`_alternatives`)."""
    total = sum(weights.values())
    for group in alternatives:
        shown = [weights[key] for key in group if key in weights]
        total -= sum(shown) - max(shown, default=0.0)
    return total


#: The lowest letter rank at which a blend's emotions must each show a form in full (C: FACS's
#: "marked or pronounced" evidence; A and B are a trace and slight evidence).
_BLEND_RANK = 2

#: The blends named (each way round): happiness with surprise, the one pair of basic emotions
#: whose blend observers read as both (Mäkäräinen, Kätsyri & Takala 2018, WSCG: of all
#: pairwise blends only joy+surprise was; blends of one valence read as one emotion, of
#: opposite valence as neither); Ekman & Friesen (1975, Unmasking the Face) show such blends,
#: each emotion in its own part of the face.
_BLENDS = {"happiness": "surprise", "surprise": "happiness"}


def code_segments(timeline: Timeline, vocabulary: Vocabulary, *, min_segment: float = 0.25,
                  min_duration: float = 0.1, emotions: tuple[str, ...] = NAMED_FACES
                  ) -> list[CodedSegment]:
    """Cut a timeline into segments where the set of facial actions changes and code each one.

    Segmented as an event-based FACS coder segments (Ekman, Friesen & Hager 2002, chapter 10,
    scoring procedure: an event is scored with the AUs present at its apex, not every AU that
    moved during it):

    1. Each channel's presence is the union of its events with the tracker's flicker removed:
       a gap shorter than ``min_segment`` is bridged, then a stretch shorter than
       ``min_segment`` is dropped. An AU on or off for less than ``min_segment`` does not start
       or end a segment next to other activity.
    2. A segment is cut where a facial action's presence starts or ends. Cuts closer than
       ``min_segment`` to the previous cut are not made (the AUs that changed within that time
       count for the segment they mostly lie in), so no segment is shorter than
       ``min_segment`` unless its neighbours are rest, and none grows by absorbing others.
    3. A segment's code lists the channels present for at least half of it, each at the
       strongest letter of its events that lie mostly in it; both sides of an AU are one
       bilateral term, and so is a side whose other side's events cover at least half of its
       own time in the segment (:func:`_with_acting_mirrors`: FACS scores an action unilateral
       only with no trace of it on one side); neighbours coding the same AUs join. Segments
       with no AU (rest) are not listed.
    4. A lone action shorter than ``min_segment`` (facial activity with no facial segment
       within ``min_segment`` of it) is a segment of its own when it lasts ``min_duration``:
       brief expressions (1/25 to 1/5 s, Ekman 2003) are what a coder looks for, and
       ``min_duration`` is the shortest event kept (:class:`EventOptions`).

    Head and eye positions (51-66, FACS 2002 chapter 9) never cut a facial segment and are
    listed in those they are held for half of; in the time outside every facial segment they
    make segments of their own, cut and coded by steps 1-3 among themselves.

    A blink (AU45) is momentary (FACS 2002, AU45: the eyes close and reopen with no pause, in
    at most half a second), and so is a wink (AU46, a blink of one eye: :data:`_MOMENTARY_AUS`),
    however short: it is listed over its own time only. The segment it mostly lies in
    is cut around it (before, the blink with that segment's AUs, after; each piece lists those
    of them present for at least half of it, the eyes' own staying across the blink; a piece
    left shorter than ``min_duration`` joins the blink's while the blink still covers half of
    it), as
    step 3's "present for at least half" asks; a blink mostly at rest is a segment of its own
    there (blinks at rest less than ``min_segment`` apart make one, unless a segment lies
    between them: no two segments overlap). None is listed where the segment holds 43, the eyes
    closed: FACS scores one closure at a time (AU45: a closure held over half a second is 43).

    Only AUs of driving kinds are coded; head and eye codes are kept in the code but never
    count against an emotion. ``emotions`` are the expressions that may name a segment (default
    :data:`NAMED_FACES`: the EMFACS emotions and pain): those with ``prototypes`` in the
    vocabulary (:func:`_name_emotion`); others never match.

    Returns
    -------
    list of CodedSegment, in time order.
    """
    spans = [(event.start, event.end, event) for event in timeline.events]
    spans = [span for span in spans if span[1] > span[0]]
    if not spans:
        return []
    prototypes = _prototypes(vocabulary, emotions)
    scale = vocabulary.scale()
    # The AUs whose weight a prototype must account for: facial actions, not head or eye
    # positions nor blinks (which never count against an emotion).
    facial = {au for au in {event.channel.au for _, _, event in spans}
              if vocabulary.action_unit(au).kind in ("action_unit", "action_descriptor")
              and au not in _MOMENTARY_AUS}
    lasting = [span for span in spans if span[2].channel.au not in _MOMENTARY_AUS]
    momentary = [span for span in spans if span[2].channel.au in _MOMENTARY_AUS]
    positions = {au for au in {event.channel.au for _, _, event in lasting}
                 if vocabulary.action_unit(au).kind in _POSITION_KINDS}
    lids = {au for au in {event.channel.au for _, _, event in lasting}
            if vocabulary.action_unit(au).region == "eyes"}
    # Merged once: the left and right blinks overlap, and a gap is checked against one span.
    blinks = _merged_spans([(start, end) for start, end, _ in momentary])
    pieces = _apex_pieces(lasting, min_segment, positions, lids, blinks, min_duration)
    # A blink is listed only over its own time: the segment it mostly lies in is cut around it
    # (a 0.23 s blink was listed in a 2.08 s segment, against "present for at least half");
    # one mostly at rest is a segment of its own there.
    starts = [start for start, _, _ in pieces]
    at_rest: list[tuple[float, float, AUEvent]] = []
    blinks_in: dict[int, list[tuple[float, float, AUEvent]]] = {}
    for start, end, event in momentary:
        overlaps = []
        k = max(bisect_left(starts, start) - 1, 0)
        while k < len(pieces) and pieces[k][0] < end:
            if pieces[k][1] > start:
                overlaps.append((min(end, pieces[k][1]) - max(start, pieces[k][0]), -k))
            k += 1
        covered = sum(overlap for overlap, _ in overlaps)
        if overlaps and covered >= 0.5 * (end - start):
            k = -max(overlaps)[1]
            if any(channel.au == 43 and (channel.side is None or event.channel.side is None
                                         or channel.side == event.channel.side)
                   for channel in pieces[k][2]):
                # That eye is closed through the segment (43): FACS scores one closure of an
                # eye at a time, the held one, not a blink inside it (AU45: a longer closure is
                # 43). A blink of the other eye beside a held R43 is scored (L45+R43E).
                continue
            blinks_in.setdefault(k, []).append(
                (max(start, pieces[k][0]), min(end, pieces[k][1]), event))
        else:
            # Mostly at rest: the blink's time outside the segments it touches.
            for _, k in sorted(overlaps, key=lambda overlap: -overlap[1]):
                first, last = pieces[-k][0], pieces[-k][1]
                if first <= start:
                    start = max(start, last)
                else:
                    end = min(end, first)
            if end > start:
                at_rest.append((start, end, event))
    intervals: dict[Channel, list[tuple[float, float]]] = {}
    for start, end, event in lasting:
        intervals.setdefault(event.channel, []).append((start, end))
    intervals = {channel: _merged_spans(spans) for channel, spans in intervals.items()}
    if blinks_in:
        pieces = [cut for k, piece in enumerate(pieces)
                  for cut in (_cut_around_blinks(piece, blinks_in[k], min_duration, intervals,
                                                 lids) if k in blinks_in else [piece])]
    # The segments are disjoint and in time order (cut around their blinks within each):
    # blinks at rest on either side of one are not joined across it.
    pieces += _closed_spans(at_rest, min_segment, [start for start, _, _ in pieces])
    pieces.sort(key=lambda piece: piece[0])
    segments: list[CodedSegment] = []
    # The same pairs of terms recur in segment after segment (an hour's 8,000 segments asked
    # ~180,000 times): each pair's rule is looked up once.
    problems: dict[tuple[CodedAU, CodedAU], str | None] = {}
    apexes = _channel_apexes(spans)
    for start, end, active in pieces:
        active = _with_acting_mirrors(active, start, end, intervals)
        # FACS scores no intensity for a blink (AU45): it is written without a letter.
        terms = sorted((CodedAU(t.au, t.side, vocabulary.letter_of(t.au, t.intensity))
                        for t in _scorable(_without_alternatives(_bilateral_terms(
                            active, vocabulary)), vocabulary, problems)),
                       key=lambda t: (t.au, {None: 0, "L": 1, "R": 2}[t.side]))
        code = Code(tuple(terms))
        # The values inside the letters' bands, to settle a tie of letters by (a coder's letter
        # is a band; the tracker measured where in it each action was), read when one needs it.
        def strengths(active=active, start=start, end=end) -> dict[tuple[int, str | None], float]:
            values: dict[tuple[int, str | None], float] = {}
            for channel, letter in active.items():
                # A bilateral term (one side's letter the stronger) takes the stronger side's.
                value = _apex_value(apexes[channel], letter, start, end)
                for key in {(channel.au, channel.side), (channel.au, None)}:
                    values[key] = max(values.get(key, 0.0), value)
            return values

        best, best_matched, best_total = _name_emotion(code, prototypes, scale, facial,
                                                       strengths)
        segment = CodedSegment(float(start), float(end), code, best, best_matched, best_total)
        if segments and _same_aus(segments[-1], segment) and segments[-1].end == segment.start:
            # Neighbours that code the same AUs (after both sides merged) read as one stretch.
            previous = segments[-1]
            terms = tuple(CodedAU(a.au, a.side, max(a.intensity, b.intensity, key=_letter_rank))
                          for a, b in zip(previous.code, segment.code))
            segment = CodedSegment(previous.start, segment.end, Code(terms), previous.emotion,
                                   previous.matched, previous.total)
            segments[-1] = segment
        else:
            segments.append(segment)
    return segments


#: A channel's events as :func:`_apex_value` reads them: starts (sorted), the latest end so
#: far at each, ends, apex values and letter ranks.
_Apexes = tuple[list[float], list[float], list[float], list[float], list[int]]


def _channel_apexes(spans: list[tuple[float, float, AUEvent]]) -> dict[Channel, _Apexes]:
    """Each channel's events ``(start, end, event)``, in start order, for :func:`_apex_value`."""
    apexes: dict[Channel, _Apexes] = {}
    for start, end, event in sorted(spans, key=lambda span: span[0]):
        starts, reach, ends, values, ranks = apexes.setdefault(event.channel, ([], [], [], [], []))
        starts.append(start)
        reach.append(max(end, reach[-1]) if reach else end)
        ends.append(end)
        values.append(float(event.intensity))
        ranks.append(_letter_rank(event.letter))
    return apexes


def _apex_value(apexes: _Apexes, letter: str | None, start: float, end: float) -> float:
    """The 0-1 apex of a channel's events overlapping ``start``-``end`` that a segment lists at
    ``letter``: the strongest of those coded at that letter (the letter is the strongest of
    the events that lie mostly in the segment), else of all overlapping (0.0 if none)."""
    starts, reach, ends, values, ranks = apexes
    rank = _letter_rank(letter)
    overlapping = [k for k in range(bisect_right(reach, start), bisect_left(starts, end))
                   if ends[k] > start]
    at_letter = [values[k] for k in overlapping if ranks[k] == rank]
    return max(at_letter or [values[k] for k in overlapping] or [0.0])


#: Kinds of code that are positions, not facial actions: FACS 2002 scores head and eye positions
#: (51-66, chapter 9) alongside the face, but a glance or a head turn is not a new expression,
#: so they are listed where held for half a segment and never cut one.
_POSITION_KINDS = frozenset({"head", "eye"})

#: Codes that are momentary by definition and so never cut a segment, and are listed over their
#: own time however short (no flicker filter): AU45, the blink (FACS 2002, AU45: "eyes close and
#: open very quickly with no pause", closed at most half a second), and AU46, the wink, a blink
#: of one eye: the AU45 section scores a closure of one eye under half a second "either a blink
#: or a wink" (AU46 the intentional one; action_units.json, the 46 entry of ``needs_side``; the
#: AU46 section itself is not among the stored pages). Only custom rigs give 46 a channel (the
#: bundled solves fold it into 43); a 0.2 s wink in a smile was dropped as flicker. A wink
#: channel's closure held over half a second is read as that eye closed, L43 or R43
#: (:func:`extract_events`), so a 46 event never lasts longer than ``blink_max``.
_MOMENTARY_AUS = frozenset({45, 46})


def _stretches(intervals: list[tuple[float, float]], min_segment: float,
               blinks: list[tuple[float, float]] = ()) -> list[tuple[float, float]]:
    """One channel's activity: the union of its events' ``(start, end)``, gaps shorter than
    ``min_segment`` bridged (a tracker's flicker does not end an action). A gap within a blink
    (``blinks``, :func:`_merged_spans`, widened by ``min_segment``; given for the eyes' AUs) is
    bridged too: the closing lids hide a lid raiser for the blink's time, it has not ended.
    Stretches of at least ``min_segment`` are the channel's presence; shorter ones start no
    segment next to other activity (:func:`_apex_pieces`)."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and (start - merged[-1][1] < min_segment
                       or _within_a_blink(blinks, merged[-1][1], start, min_segment)):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _merged_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted ``(start, end)`` spans with the overlapping ones merged: disjoint, so their ends
    are sorted too (the left and right eyes' blinks overlap)."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _within_a_blink(blinks: list[tuple[float, float]], first: float, last: float,
                    margin: float) -> bool:
    """Whether the gap ``first..last`` lies within one blink of ``blinks`` (disjoint sorted
    ``(start, end)``, :func:`_merged_spans`), widened by ``margin`` on both sides (the lids
    close and reopen around it). Of the disjoint blinks starting early enough, the last one
    ends latest, so it is the only one to check."""
    k = bisect_right(blinks, (first + margin, math.inf))
    return k > 0 and blinks[k - 1][1] + margin >= last


def _cuts(boundaries: list[float], min_segment: float) -> list[float]:
    """Sorted presence boundaries thinned so that consecutive cuts are at least
    ``min_segment`` apart: a boundary closer than that to the last cut kept is not a cut; the
    last boundary (where activity ends) always is, replacing a kept cut too close before it."""
    kept = [boundaries[0]]
    for time in boundaries[1:-1]:
        if time - kept[-1] >= min_segment:
            kept.append(time)
    if len(boundaries) > 1:
        if len(kept) > 1 and boundaries[-1] - kept[-1] < min_segment:
            kept[-1] = boundaries[-1]
        else:
            kept.append(boundaries[-1])
    return kept


def _overlapping(starts: np.ndarray, ends: np.ndarray, first: np.ndarray, last: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (item, segment) pair where item ``first[i]..last[i]`` overlaps segment
    ``starts[k]..ends[k]`` (sorted, disjoint segments): item indices, segment indices and the
    overlaps in seconds, all positive."""
    if not starts.size or not first.size:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    low = np.maximum(np.searchsorted(starts, first, side="right") - 1, 0)
    high = np.searchsorted(starts, last, side="left")  # the first segment starting at or after
    counts = np.maximum(high - low, 0)
    item = np.repeat(np.arange(first.size), counts)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    segment = np.arange(int(counts.sum())) - np.repeat(offsets - low, counts)
    overlap = np.minimum(last[item], ends[segment]) - np.maximum(first[item], starts[segment])
    keep = overlap > 0
    return item[keep], segment[keep], overlap[keep]


def _apex_pieces(spans: list[tuple[float, float, AUEvent]], min_segment: float,
                 positions: set[int] | frozenset[int] = frozenset(),
                 lids: set[int] | frozenset[int] = frozenset(),
                 blinks: list[tuple[float, float]] = (), min_duration: float = 0.1
                 ) -> list[tuple[float, float, dict[Channel, str | None]]]:
    """``(start, end, {channel: letter})`` of the segments of :func:`code_segments` (before
    blinks are placed and neighbours join), rest left out, in time order.

    Three kinds of segment, each coded by :func:`_coded`:

    * facial segments, cut at the facial channels' presence boundaries (:func:`_cuts`) and
      listing at least one facial channel (positions held there are listed too);
    * lone short actions: facial activity shorter than ``min_segment`` (chained by gaps under
      ``min_segment``) with no facial segment within ``min_segment``, at least
      ``min_duration`` long, as one segment;
    * held positions at rest: in the time outside those two, cut at the presence boundaries of
      the channels of ``positions`` (head and eye positions, which never cut a facial segment).

    Channels of the AUs in ``lids`` (the eyes' actions) are not interrupted by the ``blinks``.
    Each event and stretch is matched only to the segments it overlaps, in whole-array
    operations (an hour of capture has ~85,000 events): O(E log E + S·C) for E events, S
    segments and C channels.
    """
    if not spans:
        return []
    channels = sorted({event.channel for _, _, event in spans}, key=lambda c: c.sort_key)
    number = {channel: k for k, channel in enumerate(channels)}
    event_channel = np.fromiter((number[event.channel] for _, _, event in spans), np.intp,
                                len(spans))
    event_rank = np.fromiter((_LETTER_RANKS.get(event.letter, -1) for _, _, event in spans),
                             np.intp, len(spans))
    event_start = np.fromiter((start for start, _, _ in spans), np.float64, len(spans))
    event_end = np.fromiter((end for _, end, _ in spans), np.float64, len(spans))
    events = (event_channel, event_start, event_end, event_rank)
    by_channel: list[list[tuple[float, float]]] = [[] for _ in channels]
    for start, end, channel in zip(event_start.tolist(), event_end.tolist(),
                                   event_channel.tolist()):
        by_channel[channel].append((start, end))
    stretches = [_stretches(intervals, min_segment, blinks if channel.au in lids else [])
                 for channel, intervals in zip(channels, by_channel)]
    stretch_channel = np.fromiter((c for c, found in enumerate(stretches) for _ in found),
                                  np.intp)
    stretch_first = np.fromiter((a for found in stretches for a, _ in found), np.float64)
    stretch_last = np.fromiter((b for found in stretches for _, b in found), np.float64)
    is_position = np.fromiter((channel.au in positions for channel in channels), bool,
                              len(channels))
    position = is_position[stretch_channel]
    held = stretch_last - stretch_first >= min_segment
    facial_held = held & ~position

    # Facial segments: cut where a facial channel's presence starts or ends.
    pieces: list[tuple[float, float, dict[Channel, str | None]]] = []
    boundaries = np.unique(np.concatenate((stretch_first[facial_held],
                                           stretch_last[facial_held])))
    facial_starts = facial_ends = np.zeros(0)
    if boundaries.size >= 2:
        cuts = np.asarray(_cuts(boundaries.tolist(), min_segment))
        starts, ends = cuts[:-1], cuts[1:]
        present = _coded(starts, ends, (stretch_channel[held], stretch_first[held],
                                        stretch_last[held]), events, len(channels), min_segment)
        facial = np.zeros(starts.size, dtype=bool)
        facial[present[0][~is_position[present[1]]]] = True
        keep = facial[present[0]]
        pieces += _listed(starts, ends, [found[keep] for found in present], channels)
        facial_starts, facial_ends = starts[facial], ends[facial]

    # Lone short actions: flicker next to other activity starts nothing, but an action shorter
    # than min_segment with the face at rest around it is what a coder looks for (brief
    # expressions last 1/25-1/5 s, Ekman 2003): it is a segment of its own.
    short = ~held & ~position
    if short.any():
        order = np.argsort(stretch_first[short], kind="stable")
        first, last = stretch_first[short][order], stretch_last[short][order]
        reach = np.maximum.accumulate(last)
        opens = np.ones(first.size, dtype=bool)
        opens[1:] = first[1:] - reach[:-1] >= min_segment
        lone_first = first[opens]
        lone_last = np.maximum.reduceat(last, np.flatnonzero(opens))
        after = np.searchsorted(facial_starts, lone_first, side="right")
        gap_before = np.where(after > 0, lone_first - facial_ends[np.maximum(after - 1, 0)]
                              if facial_ends.size else np.inf, np.inf)
        gap_after = np.where(after < facial_starts.size,
                             facial_starts[np.minimum(after, facial_starts.size - 1)] - lone_last
                             if facial_starts.size else np.inf, np.inf)
        lone = ((gap_before >= min_segment - 1e-12) & (gap_after >= min_segment - 1e-12)
                & (lone_last - lone_first >= min_duration - 1e-12))
        lone_first, lone_last = lone_first[lone], lone_last[lone]
        counted = short | (held & position)
        present = _coded(lone_first, lone_last, (stretch_channel[counted],
                                                 stretch_first[counted], stretch_last[counted]),
                         events, len(channels), min_segment)
        coded = np.zeros(lone_first.size, dtype=bool)
        coded[present[0][~is_position[present[1]]]] = True
        keep = coded[present[0]]
        pieces += _listed(lone_first, lone_last, [found[keep] for found in present], channels)
        facial_first = np.concatenate((facial_starts, lone_first[coded]))
        order = np.argsort(facial_first, kind="stable")
        facial_starts = facial_first[order]
        facial_ends = np.concatenate((facial_ends, lone_last[coded]))[order]

    # Held positions at rest: the time outside every facial segment, cut where a position's
    # presence (clipped to it) starts or ends.
    position_held = held & position
    if position_held.any():
        rest_first = np.concatenate(([-np.inf], facial_ends))
        rest_last = np.concatenate((facial_starts, [np.inf]))
        open_rest = rest_last > rest_first
        rest_first, rest_last = rest_first[open_rest], rest_last[open_rest]
        item, rest, _ = _overlapping(rest_first, rest_last, stretch_first[position_held],
                                     stretch_last[position_held])
        first = np.maximum(stretch_first[position_held][item], rest_first[rest])
        last = np.minimum(stretch_last[position_held][item], rest_last[rest])
        long_enough = last - first >= min_segment - 1e-12
        item, rest, first, last = (item[long_enough], rest[long_enough], first[long_enough],
                                   last[long_enough])
        if item.size:
            starts, ends = _rest_cuts(rest, first, last, min_segment)
            present = _coded(starts, ends, (stretch_channel[position_held][item], first, last),
                             events, len(channels), min_segment)
            keep = is_position[present[1]]
            pieces += _listed(starts, ends, [found[keep] for found in present], channels)
    pieces.sort(key=lambda piece: piece[0])
    return pieces


def _rest_cuts(rest: np.ndarray, first: np.ndarray, last: np.ndarray, min_segment: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Segments (starts, ends) within each stretch of rest: clipped presence stretches
    ``first..last`` of rest stretch ``rest[i]``, each rest stretch cut at its own boundaries
    (:func:`_cuts`); the segments of different rest stretches are not joined."""
    rest_of = np.concatenate((rest, rest))
    times = np.concatenate((first, last))
    order = np.lexsort((times, rest_of))
    rest_of, times = rest_of[order], times[order]
    group_starts = np.flatnonzero(np.append(True, rest_of[1:] != rest_of[:-1]))
    starts: list[float] = []
    ends: list[float] = []
    for group in np.split(times, group_starts[1:]):
        cuts = _cuts(sorted(set(group.tolist())), min_segment)
        starts += cuts[:-1]
        ends += cuts[1:]
    return np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)


def _coded(starts: np.ndarray, ends: np.ndarray,
           stretches: tuple[np.ndarray, np.ndarray, np.ndarray],
           events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], n_channels: int,
           min_segment: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which channels a segment lists, and at which letter.

    Parameters
    ----------
    starts, ends : (n_segments,) float arrays
        Sorted disjoint segments.
    stretches : ((n,) int, (n,) float, (n,) float)
        Channel, first and last second of the presence stretches that count.
    events : ((E,) int, (E,) float, (E,) float, (E,) int)
        Channel, start, end and letter rank (-1: no letter) of the events.

    Returns
    -------
    (k,) segment indices, (k,) channel indices and (k,) letter ranks of the channels present
    for at least half of a segment and seen in it (not only bridged across a blink), by
    segment then channel.
    """
    n_segments = starts.size
    if not n_segments:
        nothing = np.zeros(0, dtype=np.intp)
        return nothing, nothing, nothing
    stretch_channel, stretch_first, stretch_last = stretches
    event_channel, event_start, event_end, event_rank = events
    item, segment, overlap = _overlapping(starts, ends, stretch_first, stretch_last)
    covered = np.bincount(segment * n_channels + stretch_channel[item], weights=overlap,
                          minlength=n_segments * n_channels).reshape(n_segments, n_channels)
    # The letter: the strongest among the channel's events that lie mostly in the segment (half
    # of the event, or min_segment of it), so the tail of the neighbour's apex does not raise it;
    # failing that (a flickering channel), the letter of the event overlapping it longest.
    item, segment, overlap = _overlapping(starts, ends, event_start, event_end)
    key = segment * n_channels + event_channel[item]
    rank = event_rank[item]
    needed = np.minimum(0.5 * (event_end - event_start), min_segment)[item] - 1e-12
    letters = np.full(n_segments * n_channels, -2, dtype=np.intp)
    np.maximum.at(letters, key[overlap >= needed], rank[overlap >= needed])
    order = np.lexsort((rank, overlap, key))  # by key, then overlap, then rank: last wins
    last_of_key = order[np.append(key[order][1:] != key[order][:-1], True)]
    fallback = np.full(n_segments * n_channels, -2, dtype=np.intp)  # -2: no event in it
    fallback[key[last_of_key]] = rank[last_of_key]
    letters = np.where(letters > -2, letters, fallback)
    present_segment, present_channel = np.nonzero(
        (covered >= (0.5 * (ends - starts) - 1e-12)[:, None])
        & (letters.reshape(n_segments, n_channels) > -2))
    return (present_segment, present_channel,
            letters[present_segment * n_channels + present_channel])


def _listed(starts: np.ndarray, ends: np.ndarray,
            present: list[np.ndarray], channels: list[Channel]
            ) -> list[tuple[float, float, dict[Channel, str | None]]]:
    """The segments that list a channel as ``(start, end, {channel: letter})``, from
    :func:`_coded`'s (segment, channel, letter rank) arrays."""
    pieces: list[tuple[float, float, dict[Channel, str | None]]] = []
    start_list, end_list = starts.tolist(), ends.tolist()
    previous = -1
    for k, channel, letter in zip(*(found.tolist() for found in present)):
        if k != previous:
            pieces.append((start_list[k], end_list[k], {}))
            previous = k
        pieces[-1][2][channels[channel]] = INTENSITY_LETTERS[letter] if letter >= 0 else None
    return pieces


def _cut_around_blinks(piece: tuple[float, float, dict[Channel, str | None]],
                       blinks: list[tuple[float, float, AUEvent]], min_duration: float,
                       intervals: Mapping[Channel, list[tuple[float, float]]],
                       lids: set[int]) -> list[tuple[float, float, dict[Channel, str | None]]]:
    """A segment ``(start, end, {channel: letter})`` cut around the blinks that lie mostly in
    it (``(first, last, event)``, clipped to it): each stretch lists the segment's channels
    that its events (``intervals``: per channel, their ``(start, end)`` merged into disjoint
    sorted spans by :func:`_merged_spans`) cover for at least half of
    it, as the segment does (the eyes' own AUs, ``lids``, stay: the closing lids hide a lid
    raiser for the blink's time, it has not ended), and each blink's stretch adds the blink.
    A stretch without a blink shorter than ``min_duration`` (the shortest event kept) joins
    the blink next to it as long as the blink still covers at least half of the result, so no
    sliver of a segment is listed alone."""
    start, end, active = piece
    spans: list[list] = []  # [first, last, blink channels, blink's own seconds]
    for first, last, event in sorted(blinks, key=lambda blink: blink[:2]):
        if spans and first <= spans[-1][1]:  # the other eye's blink: one stretch
            spans[-1][1] = max(spans[-1][1], last)
            spans[-1][3] = spans[-1][1] - spans[-1][0]
        else:
            spans.append([first, last, {}, last - first])
        channels = spans[-1][2]
        channels[event.channel] = max(channels.get(event.channel, event.letter), event.letter,
                                      key=_letter_rank)
    cuts: list[list] = []
    cursor = start
    for first, last, channels, own in spans:
        if first > cursor:
            cuts.append([cursor, first, None, 0.0])
        cuts.append([first, last, channels, own])
        cursor = last
    if end > cursor:
        cuts.append([cursor, end, None, 0.0])
    for k, cut in enumerate(cuts):
        if cut[2] is not None or cut[1] - cut[0] >= min_duration:
            continue
        for j in (k - 1, k + 1):  # the blink before, else the one after
            if 0 <= j < len(cuts) and cuts[j][2] is not None and cuts[j][3] >= 0.5 * (
                    max(cuts[j][1], cut[1]) - min(cuts[j][0], cut[0])):
                cuts[j][0], cuts[j][1] = min(cuts[j][0], cut[0]), max(cuts[j][1], cut[1])
                cut[2] = "joined"
                break
    def present(channel: Channel, first: float, last: float) -> bool:
        if channel.au in lids:
            return True
        # The channel's spans are disjoint and sorted (ends too): only those from the last one
        # starting at or before ``first`` up to ``last`` can overlap the stretch. Merging and
        # summing the whole take's spans per call took an hour's `code` 15 s.
        spans = intervals.get(channel, [])
        k = max(bisect_right(spans, (first, math.inf)) - 1, 0)
        covered = 0.0
        while k < len(spans) and spans[k][0] < last:
            a, b = spans[k]
            covered += max(0.0, min(b, last) - max(a, first))
            k += 1
        return covered >= 0.5 * (last - first) - 1e-12

    out = []
    for first, last, channels, _ in cuts:
        if channels == "joined":
            continue
        listed = {channel: letter for channel, letter in active.items()
                  if present(channel, first, last)}
        if channels is not None:
            listed.update(channels)
        if listed:
            out.append((first, last, listed))
    return out


def _closed_spans(spans: list[tuple[float, float, AUEvent]], gap: float,
                  segment_starts: list[float] = ()
                  ) -> list[tuple[float, float, dict[Channel, str | None]]]:
    """Events (blinks at rest) as segments: overlapping ones, or ones less than ``gap`` apart,
    make one segment with each channel's strongest letter, unless a segment lies between them.

    ``segment_starts`` are the sorted starts of the segments already coded (disjoint, each
    outside every span here): two blinks at rest 0.2 s apart on either side of a 0.15 s lone
    action were one segment over it, so ``code`` listed two overlapping segments (a second
    reader's find)."""
    out: list[tuple[float, float, dict[Channel, str | None]]] = []
    for start, end, event in sorted(spans, key=lambda span: span[:2]):
        # The first segment starting at or after the previous blink's end: between the two
        # blinks when it starts before this one does.
        between = False
        if out and segment_starts:
            k = bisect_left(segment_starts, out[-1][1])
            between = k < len(segment_starts) and segment_starts[k] < start
        if out and start - out[-1][1] < gap and not between:
            first, last, active = out[-1]
            out[-1] = (first, max(last, end), active)
        else:
            active = {}
            out.append((start, end, active))
        active[event.channel] = max(active.get(event.channel, event.letter), event.letter,
                                    key=_letter_rank)
    return out


def _covered(spans: list[tuple[float, float]], first: float, last: float) -> list[tuple[float, float]]:
    """The parts of disjoint sorted ``spans`` (:func:`_merged_spans`) within ``first..last``."""
    k = max(bisect_right(spans, (first, math.inf)) - 1, 0)
    out = []
    while k < len(spans) and spans[k][0] < last:
        a, b = max(spans[k][0], first), min(spans[k][1], last)
        if b > a:
            out.append((a, b))
        k += 1
    return out


def _with_acting_mirrors(active: dict[Channel, str | None], start: float, end: float,
                         intervals: Mapping[Channel, list[tuple[float, float]]]
                         ) -> dict[Channel, str | None]:
    """A segment's channels with the other side of a one-sided AU added (at its letter) where
    that side acts for at least half of the time this side's events do in the segment.

    FACS scores an action unilateral only "if there is no trace of evidence for the AU on one
    side" (FACS 2002 manual, ch. 10, Scoring Step V; :func:`_with_mirror_traces`). A side is
    listed in a segment when present for half of it, with gaps under ``min_segment`` bridged;
    the other side of the same action, its gap a frame longer, was not, and the segment read
    one-sided: alex_rom_3's ``4C+R9C+R10C+17D+...`` at 47.49 s, both sides' 9 and 10 dipping
    to rest together, the right's 0.234 s gap bridged and the left's 0.267 s not. ``intervals``
    are each channel's event spans (:func:`_merged_spans`)."""
    added: dict[Channel, str | None] = {}
    for channel, letter in active.items():
        if channel.side is None or channel.au in _EYE_CLOSURES | _MOMENTARY_AUS:
            continue
        other = Channel(channel.au, _OTHER_SIDE[channel.side])
        if other in active or Channel(channel.au) in active or other not in intervals:
            continue
        own = _covered(intervals.get(channel, []), start, end)
        acting = sum(max(0.0, min(b, d) - max(a, c)) for a, b in own
                     for c, d in _covered(intervals[other], a, b))
        if own and acting >= 0.5 * sum(b - a for a, b in own) - 1e-12:
            added[other] = letter
    return {**active, **added} if added else active


def _same_aus(a: CodedSegment, b: CodedSegment) -> bool:
    return [(t.au, t.side) for t in a.code] == [(t.au, t.side) for t in b.code]


def _bilateral_terms(active: dict[Channel, str | None],
                     vocabulary: Vocabulary | None = None) -> list[CodedAU]:
    """Code terms of the active channels: both sides of an AU read as one bilateral term (with
    the stronger letter), as a FACS coder writes ``12D`` rather than ``L12D+R12D``; not an AU
    FACS codes on one side only (``vocabulary.rules.needs_side``: two winks stay
    ``L46+R46``, since ``46`` is refused)."""
    by_au: dict[int, dict[str | None, str | None]] = {}
    for channel, letter in active.items():
        by_au.setdefault(channel.au, {})[channel.side] = letter
    one_sided = vocabulary.rules.needs_side if vocabulary is not None else {}
    terms = []
    for au, sides in by_au.items():
        if au in one_sided and None not in sides:
            terms.extend(CodedAU(au, side, letter) for side, letter in sides.items())
        elif None in sides or {"L", "R"} <= sides.keys():
            letter = max(sides.values(), key=_letter_rank)
            terms.append(CodedAU(au, None, letter))
        else:
            terms.extend(CodedAU(au, side, letter) for side, letter in sides.items())
    return terms


#: FACS alternatives a segment lists once: ``(kept, dropped)``. 26 (jaw drop) and 27 (mouth
#: stretch) are alternative scores of one jaw opening, 27 the wider; where a segment holds both
#: (a jaw crossing the rig's 26 reach within it) the coder writes 27 (FACS Manual,
#: Ekman, Friesen & Hager 2002, AU26/AU27: score one or the other; the rig profiles' exclusive
#: chain 25/26/27).
_ALTERNATIVES = ((27, 26),)


def _without_alternatives(terms: list[CodedAU]) -> list[CodedAU]:
    """The terms without the ones a kept FACS alternative subsumes (:data:`_ALTERNATIVES`); the
    kept term takes the stronger letter of the two (26E with 27B is an opening as wide as 26E
    at least: 27E)."""
    for kept, lower in _ALTERNATIVES:
        wide = [t for t in terms if t.au == kept]
        narrow = [t for t in terms if t.au == lower]
        if not wide or not narrow:
            continue
        letter = max((t.intensity for t in wide + narrow), key=_letter_rank)
        terms = [CodedAU(t.au, t.side, letter) if t.au == kept else t
                 for t in terms if t.au != lower]
    return terms


def _scorable(terms: list[CodedAU], vocabulary: Vocabulary,
              problems: dict[tuple[CodedAU, CodedAU], str | None] | None = None
              ) -> list[CodedAU]:
    """The terms without those FACS does not score with a stronger one in one code
    (:func:`~facs_rig.core.notation.combination_problem`: ``51+52``, a head turning one way
    for half a segment and the other for the other half; ``5+43`` from a tracker reading a
    raised and a lowered lid at once), so a segment's code always parses. Of two such terms
    the stronger letter stays; on a tie, the lower AU.

    A blink or wink (:data:`_MOMENTARY_AUS`, placed by the blink rules) never removes a term
    held through the segment; it is itself left out where it breaks a rule with a kept term,
    and of a blink and a wink of one eye (``45+46``, "one closure of an eye is a blink or a
    wink, not both", action_units.json) one stays: a blink of both eyes (``45``) over a wink,
    since a closure of both eyes is a blink (the ``needs_side`` rule of 46: both eyes are
    45 or 43), and on one eye the wink (``L46`` over ``L45``): the AU45 section scores a
    one-eyed closure "either a blink or a wink", and a rig with its own wink shape that
    solved it says which. Custom rigs with both a 43 and a 46 channel wrote ``12C+L45+L46``,
    which the notation refuses.
    """
    known = problems if problems is not None else {}

    def clashes(term: CodedAU, other: CodedAU) -> bool:
        pair = (term, other)
        if pair not in known:
            known[pair] = combination_problem(term, other, vocabulary)
        return known[pair] is not None

    ranked = sorted((t for t in terms if t.au not in _MOMENTARY_AUS), key=lambda t: (
        -_letter_rank(t.intensity or vocabulary.unlettered_letter(t.au)), t.au))
    kept: list[CodedAU] = []
    for term in ranked:
        if not any(clashes(term, other) for other in kept):
            kept.append(term)
    # Both eyes' blink, then winks, then one eye's blink: the first of a clashing pair stays.
    closures = sorted((t for t in terms if t.au in _MOMENTARY_AUS), key=lambda t: (
        0 if t.au == 45 and t.side is None else 1 if t.au == 46 else 2))
    for term in closures:
        if not any(clashes(term, other) for other in kept):
            kept.append(term)
    return kept


def format_summary(segments: list[CodedSegment]) -> str:
    """One line per segment, as ``facs-rig code`` prints it."""
    return "\n".join(str(segment) for segment in segments) + ("\n" if segments else "")
