"""The capture options shared by ``retarget``, ``code`` and ``batch``, declared once.

:func:`add_capture_options` (reading and cleaning a capture, finding events) is on all three;
:func:`add_rig_options` (``--rig``, ``--mesh``, ``--solve``) on ``retarget`` and ``batch``.
:func:`retarget_options` turns the parsed options into the keyword values of
:class:`~facs_rig.io.captures.retarget.RetargetOptions` (which ``BatchSettings`` extends).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from facs_rig.cli._output import add_fps_argument, bounded
from facs_rig.core.events import EventOptions
from facs_rig.core.filters import GAP_METHODS, SMOOTHING
from facs_rig.io.captures import CAPTURE_FORMATS
from facs_rig.io.captures.pipeline import CleaningOptions

__all__ = ["add_capture_options", "add_rig_options", "check_neutral", "check_rig_options_used",
           "check_tracker_source", "check_tracker_applies", "check_presence_options",
           "cleaning_options", "event_options", "event_options_given", "retarget_options",
           "thresholds_given"]


def _usage_error(message: str):
    from facs_rig.cli import UsageError

    return UsageError(message)


def _gain_percentile(text: str) -> float:
    """argparse ``type`` of ``--gain``: a percentile above 0 and at most 100.

    ``--gain 0`` was accepted: the 0th percentile is each channel's lowest value, at or below its
    rest wherever the face rests, so every such channel got the largest stretch there is (5
    times, :class:`~facs_rig.core.filters.NeutralCalibration`), whatever the take; a user who
    meant "no gain" got the opposite.
    """
    value = float(text)  # a ValueError: argparse's "invalid float value: 'x'"
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"{text}: would make each channel's lowest value read 1 (every channel that returns "
            f"to rest gets the largest stretch, 5 times); give the percentile that should read 1 "
            f"(such as 95), or leave --gain out to rescale nothing")
    if not 0 < value <= 100:  # NaN included
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0 and at most 100")
    return value


_gain_percentile.__name__ = "float"  # argparse's "invalid float value" for text


def add_capture_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that read and clean a capture and find its events."""
    parser.add_argument("--from", dest="format", choices=sorted(CAPTURE_FORMATS),
                        help="capture format (default: detected from the header)")
    parser.add_argument("--face", type=bounded(int, low=0), default=None, metavar="ID",
                        help="OpenFace face_id to use when the file holds several faces "
                             "(default: the lowest)")
    parser.add_argument("--source", choices=("auto", "aus", "blendshapes"), default="auto",
                        help="AUs from the tracker's own AU columns or solved from its blendshapes "
                             "(default auto: the tracker's AUs when it has any)")
    parser.add_argument("--tracker", default=None, metavar="NAME|FILE",
                        help="tracker profile (arkit, mediapipe, facecap, openface, generic or a "
                             ".json from 'facs-rig calibrate'; default: chosen from the capture "
                             "format)")
    parser.add_argument("--gaps", choices=GAP_METHODS, default="interpolate",
                        help="how lost-tracking frames are filled (default interpolate)")
    parser.add_argument("--max-gap", type=bounded(float, low=0, unit="seconds"), default=None,
                        metavar="SECONDS",
                        help="gaps longer than this return to rest instead of being filled, and "
                             "no event is read inside them (for events, default 0.5: a "
                             "lost stretch longer than a blink is untracked)")
    parser.add_argument("--smooth", choices=SMOOTHING, default=None,
                        help="none, one-euro (causal, as live) or zero-phase (offline); default "
                             "zero-phase for code and timeline outputs (.json, .txt, .notes, "
                             ".eaf), none for retarget's others")
    parser.add_argument("--cutoff", type=bounded(float, positive=True, unit="Hz"), default=None, metavar="HZ",
                        help="zero-phase smoothing cutoff (default 6 Hz; needs --smooth "
                             "zero-phase, code's default)")
    parser.add_argument("--neutral", default=None, metavar="none|auto|START-END",
                        help="subtract the resting pose: auto (the second nearest every channel's "
                             "resting level, when the face is at rest there; none on AUs already "
                             "relative to the person's neutral, such as OpenFace's) or the median "
                             "of a neutral stretch START-END seconds; default auto for code and "
                             "timeline outputs (.json, .txt, .notes, .eaf), none for retarget's "
                             "others")
    parser.add_argument("--gain", type=_gain_percentile, default=None, metavar="PERCENTILE",
                        help="also rescale each channel so this percentile (above 0, at most "
                             "100) reads 1 (for trackers that never reach full scale), from the "
                             "neutral when one is subtracted, from 0 otherwise")
    add_fps_argument(parser, "output frame rate (default: the capture's)")
    parser.add_argument("--on", type=bounded(float, low=0, high=1), default=None, metavar="0-1",
                        help="event start threshold 0-1, a rise above each AU's rest (default "
                             "0.15 at most: a tracker profile with AU ranges starts each AU part "
                             "of the way up its range, one with its own events at its value, "
                             "OpenFace's at 1.0 of 0-5; code: given, it applies to every AU)")
    parser.add_argument("--off", type=bounded(float, low=0, high=1), default=None, metavar="0-1",
                        help="event end threshold 0-1 above each AU's rest (default 0.08, or the "
                             "profile's fraction of the start or its own value, OpenFace's 0.5 of "
                             "0-5; code: given, it applies to every AU)")
    # None by default (the value is EventOptions'), so that retarget can tell them given.
    parser.add_argument("--min-duration", type=bounded(float, low=0, unit="seconds"), default=None,
                        metavar="SECONDS",
                        help="shortest event kept (default 0.1 s)")
    parser.add_argument("--trace", default=None, metavar="SECONDS|none",
                        help="a stretch above --off that never reaches --on is still an event "
                             "(FACS's A, trace) when it lasts this long (default 0.5 s, or the "
                             "tracker profile's: none for OpenFace; none: never)")
    parser.add_argument("--whole-events", action="store_true",
                        help="one event per activation at its apex intensity (default: split "
                             "where the FACS letter changes, as a coder scores each apex)")


def add_rig_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the rig a capture is put on (``retarget``, ``batch``)."""
    parser.add_argument("--rig", default=None, metavar="NAME|FILE",
                        help="rig profile name or file (default for .glb: detected from the mesh)")
    parser.add_argument("--mesh", default=None, metavar="FACE.glb",
                        help="glTF/GLB to animate (default: bundled head)")
    parser.add_argument("--solve", action="store_true",
                        help="always solve ARKit captures to AUs, even onto an ARKit-named rig "
                             "(default: copy the weights, which is lossless)")


def cleaning_options(args: argparse.Namespace, *, neutral_default: str,
                     smooth_default: str, check_cutoff: bool = True) -> CleaningOptions:
    """The cleaning options, with a command's defaults for ``--neutral`` and ``--smooth``
    (``check_cutoff``: refuse a ``--cutoff`` these options would not use)."""
    smoothing = args.smooth or smooth_default
    if check_cutoff and args.cutoff is not None and smoothing != "zero-phase":
        # It only sets the zero-phase filter's cutoff: with another smoothing it changed
        # nothing, silently (a reviewer's `--smooth one-euro --cutoff 1` was byte-identical).
        raise _usage_error(f"--cutoff sets the zero-phase smoothing's cutoff, and the smoothing "
                           f"here is {smoothing}: add --smooth zero-phase")
    try:
        return CleaningOptions(gaps=args.gaps, max_gap=args.max_gap, smoothing=smoothing,
                               cutoff_hz=6.0 if args.cutoff is None else args.cutoff,
                               neutral=args.neutral or neutral_default, gain_percentile=args.gain,
                               fps=args.fps)
    except ValueError as exc:  # CleaningOptions checks what the option types cannot (--neutral)
        raise _usage_error(f"{exc} (see --max-gap, --cutoff, --gain, --fps, --neutral)") from None


def event_options(args: argparse.Namespace) -> EventOptions:
    """The event-finding options."""
    defaults = EventOptions()
    trace = defaults.trace_duration
    if args.trace is not None:
        try:
            trace = None if args.trace.strip().lower() == "none" else float(args.trace)
        except ValueError:
            trace = math.nan
        if trace is not None and not 0.0 <= trace < math.inf:
            raise _usage_error(f"--trace {args.trace!r}: give a number of seconds >= 0, or none")
    try:
        return EventOptions(on=defaults.on if args.on is None else args.on,
                            off=defaults.off if args.off is None else args.off,
                            min_duration=(defaults.min_duration if args.min_duration is None
                                          else args.min_duration),
                            follow_intensity=not args.whole_events, trace_duration=trace)
    except ValueError as exc:  # EventOptions checks what the option types cannot (off <= on)
        raise _usage_error(str(exc)) from None


def thresholds_given(args: argparse.Namespace) -> frozenset[str]:
    """Which of ``--on``, ``--off`` and ``--trace`` the user gave (they override a profile's
    fractions and its own-scale ``events``)."""
    return frozenset(name for name in ("on", "off", "trace")
                     if getattr(args, name, None) is not None)


def event_options_given(args: argparse.Namespace) -> list[str]:
    """The event options the user gave, as typed (``['--on', '--whole-events']``).

    ``retarget`` refuses them for an output that holds no events (a .glb, a .csv): they would
    change nothing, and silence would let the user believe they did.
    """
    given = [f"--{name}" for name in ("on", "off") if name in thresholds_given(args)]
    given += [option for option, value in (("--min-duration", args.min_duration),
                                           ("--trace", args.trace)) if value is not None]
    return given + (["--whole-events"] if args.whole_events else [])


#: Each rig option with the output extensions it changes and those in words.
_RIG_OPTION_USES = {
    "--mesh": (("glb", "gltf"), ".glb/.gltf outputs (the mesh they animate)"),
    "--rig": (("glb", "gltf", "csv"), ".glb/.gltf/.csv outputs (AU timelines hold AUs, not "
                                      "rig weights)"),
    "--solve": (("glb", "gltf", "rig-csv"), "outputs on a rig (.glb, .gltf, .csv with --rig)"),
}


def check_rig_options_used(args: argparse.Namespace, extensions, outputs: str) -> None:
    """Refuse ``--mesh``, ``--rig`` or ``--solve`` when none of the outputs (their
    ``extensions``, without the dot) would change with it: accepted, they were ignored without
    a word. ``outputs`` ends the message (``x.json is not one``, ``--formats json names none``).
    """
    kinds = {extension.lower().lstrip(".") for extension in extensions}
    if "csv" in kinds and args.rig is not None:
        kinds.add("rig-csv")
    given = {"--mesh": args.mesh is not None, "--rig": args.rig is not None,
             "--solve": args.solve}
    for option, (uses, where) in _RIG_OPTION_USES.items():
        if given[option] and not kinds & set(uses):
            raise _usage_error(f"{option} only changes {where}, and {outputs}")


def _tracker_has_events(args: argparse.Namespace) -> bool:
    """``--tracker`` names a profile with its own-scale event thresholds (``events``), which
    apply to a take's own AU columns too. A profile that cannot be loaded fails here, with
    its file and JSON path."""
    from facs_rig.io.captures.trackers import load_tracker

    return args.tracker is not None and load_tracker(args.tracker).events is not None


def check_tracker_source(args: argparse.Namespace) -> None:
    """Refuse ``--tracker`` with ``--source aus``: the tracker's own AU columns go through no
    tracker profile, which would change nothing (unless the profile sets the event thresholds,
    ``events``)."""
    from facs_rig.io.captures.pipeline import tracker_unused

    if args.tracker is not None and args.source == "aus" and not _tracker_has_events(args):
        raise _usage_error(f"--tracker {args.tracker}: "
                           f"{tracker_unused('', '', True, args.source)}")


def _headers(args: argparse.Namespace, captures):
    """``(capture, format, has_blendshapes)`` of each capture, from its header (``--from``
    when given). A header that cannot be read is left out: the reader names the problem."""
    from facs_rig.errors import FacsRigError
    from facs_rig.io.captures import detect_format, header_has_blendshapes, read_header

    for capture in captures:
        try:
            header = read_header(capture)
            chosen = args.format or detect_format(header)
            if chosen is None:
                continue
            yield capture, chosen, header_has_blendshapes(header, chosen, capture)
        except (FacsRigError, OSError):
            continue


def check_tracker_applies(args: argparse.Namespace, captures) -> None:
    """Refuse ``--tracker`` for captures whose AUs are their own AU columns (OpenFace, a Py-Feat
    file without blendshapes; :func:`~facs_rig.io.captures.pipeline.tracker_unused`), from each
    capture's header, before any work.
    """
    check_tracker_source(args)
    if args.tracker is None:
        return
    from facs_rig.io.captures.pipeline import tracker_unused

    has_events = _tracker_has_events(args)
    for capture, chosen, has_blendshapes in _headers(args, captures):
        unused = tracker_unused(capture, chosen, has_blendshapes, args.source, has_events)
        if unused is not None:
            raise _usage_error(f"--tracker {args.tracker}: {unused}")


def note_tracker_mismatch(args: argparse.Namespace, captures) -> None:
    """Print a ``facs-rig: note:`` for each capture format whose implied tracker profile is not
    the one ``--tracker`` names (:func:`~facs_rig.io.captures.pipeline.tracker_mismatch`),
    naming the first capture of that format; the profile still applies."""
    if args.tracker is None:
        return
    import sys

    from facs_rig.io.captures.pipeline import tracker_mismatch

    noted: set[str] = set()
    for capture, chosen, _ in _headers(args, captures):
        if chosen in noted:
            continue
        noted.add(chosen)
        note = tracker_mismatch(args.tracker, chosen)
        if note is not None:
            print(f"facs-rig: note: {capture}: {note}", file=sys.stderr)


def check_presence_options(args: argparse.Namespace, captures) -> None:
    """Refuse ``--trace`` and ``--whole-events`` for captures whose AUs are coded as presence
    (a Py-Feat file's own AU columns: :func:`~facs_rig.io.captures.pipeline.presence_ignores`),
    from each capture's header, before any work."""
    given = ([f"--trace {args.trace}"] if args.trace is not None else []) \
        + (["--whole-events"] if args.whole_events else [])
    if not given:
        return
    from facs_rig.io.captures.pipeline import presence_ignores

    for capture, chosen, has_blendshapes in _headers(args, captures):
        blendshapes = has_blendshapes and (args.source == "blendshapes" or (
            args.source == "auto" and args.tracker is not None))
        ignored = presence_ignores(capture, chosen, not blendshapes, given, has_blendshapes)
        if ignored is not None:
            raise _usage_error(ignored)


def check_neutral(text: str | None) -> None:
    """Refuse a ``--neutral`` that is not none, auto or START-END with START < END."""
    if text in (None, "none", "auto"):
        return
    try:
        start, end = (float(x) for x in text.split("-", 1))
    except ValueError:
        raise _usage_error(f"--neutral {text!r} is not none, auto or START-END seconds") from None
    if not start < end:
        raise _usage_error(f"--neutral {text!r}: the start must be before the end")


def retarget_options(args: argparse.Namespace, *, check_cutoff: bool = True,
                     timeline: bool = False) -> dict[str, Any]:
    """The keyword values of a ``RetargetOptions`` from ``retarget``'s or ``batch``'s options
    (``batch`` checks ``--cutoff`` against its summary's cleaning, which smooths by default).

    ``timeline``: the outputs are AU timelines (``.json``, ``.txt``, ``.notes``, ``.eaf``),
    whose events are ``code``'s, so ``--neutral`` and ``--smooth`` default as ``code``'s do
    (auto, zero-phase). With ``retarget``'s own defaults (none, none) a Live Link Face take's
    resting eyeBlink (0.12-0.16) kept the eye-closure channel above the event threshold from the
    first frame: two 0.17 s blinks that ``code`` writes ``45`` became ``L43E``/``R43E`` events
    from 0 s and 1.77 s."""
    neutral_default, smooth_default = ("auto", "zero-phase") if timeline else ("none", "none")
    return dict(rig=args.rig, mesh=args.mesh, format=args.format, face=args.face,
                source=args.source, solve=args.solve, tracker=args.tracker,
                cleaning=cleaning_options(args, neutral_default=neutral_default,
                                          smooth_default=smooth_default,
                                          check_cutoff=check_cutoff),
                events=event_options(args), thresholds_given=tuple(sorted(thresholds_given(args))))
