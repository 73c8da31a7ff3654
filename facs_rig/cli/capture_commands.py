"""``facs-rig retarget`` and ``facs-rig code``: face-tracker captures onto rigs and into FACS codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from facs_rig.cli._output import add_fps_argument, check_output, naming, print_json
from facs_rig.cli._progress import ProgressBar
from facs_rig.core.events import EventOptions, code_segments, extract_events, format_summary
from facs_rig.core.filters import GAP_METHODS, SMOOTHING
from facs_rig.errors import FacsRigError
from facs_rig.io.captures import CAPTURE_FORMATS, read_capture
from facs_rig.io.captures.pipeline import (
    CleaningOptions,
    auto_neutral_note,
    capture_curves,
    event_thresholds,
)
from facs_rig.io.captures.retarget import (
    RetargetReport,
    RetargetRequest,
    capture_source,
    choose_tracker,
    output_kind,
    retarget_file,
)
from facs_rig.resources import load_vocabulary


def _usage_error(message: str):
    from facs_rig.cli import UsageError

    return UsageError(message)


def _add_capture_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="format", choices=sorted(CAPTURE_FORMATS),
                        help="capture format (default: detected from the header)")
    parser.add_argument("--face", type=int, default=None, metavar="ID",
                        help="OpenFace face_id to use when the file holds several faces "
                             "(default: the lowest)")
    parser.add_argument("--source", choices=("auto", "aus", "blendshapes"), default="auto",
                        help="AUs from the tracker's own AU columns or solved from its blendshapes "
                             "(default auto: the tracker's AUs when it has any)")
    parser.add_argument("--tracker", default=None, metavar="NAME|FILE",
                        help="tracker profile (arkit, mediapipe, facecap, generic or a .json from "
                             "'facs-rig calibrate'; default: chosen from the capture format)")
    parser.add_argument("--gaps", choices=GAP_METHODS, default="interpolate",
                        help="how lost-tracking frames are filled (default interpolate)")
    parser.add_argument("--max-gap", type=float, default=None, metavar="SECONDS",
                        help="gaps longer than this return to rest instead of being filled")
    parser.add_argument("--smooth", choices=SMOOTHING, default=None,
                        help="none, one-euro (causal, as live) or zero-phase (offline); default "
                             "none for retarget, zero-phase for code")
    parser.add_argument("--cutoff", type=float, default=6.0, metavar="HZ",
                        help="zero-phase smoothing cutoff (default 6 Hz)")
    parser.add_argument("--neutral", default=None, metavar="none|auto|START-END",
                        help="subtract the resting pose: auto (the quietest second of the take) "
                             "or the median of a neutral stretch START-END seconds; default none "
                             "for retarget, auto for code")
    parser.add_argument("--gain", type=float, default=None, metavar="PERCENTILE",
                        help="also rescale each channel so this percentile reads 1 (for trackers "
                             "that never reach full scale)")
    add_fps_argument(parser, "output frame rate (default: the capture's)")
    parser.add_argument("--on", type=float, default=0.15, metavar="0-1",
                        help="event start threshold 0-1 (default 0.15)")
    parser.add_argument("--off", type=float, default=0.08, metavar="0-1",
                        help="event end threshold 0-1 (default 0.08)")
    parser.add_argument("--min-duration", type=float, default=0.10, metavar="SECONDS",
                        help="shortest event kept (default 0.1 s)")
    parser.add_argument("--trace", default="0.5", metavar="SECONDS|none",
                        help="a stretch above --off that never reaches --on is still an event "
                             "(FACS's A, trace) when it lasts this long (default 0.5 s; none: never)")
    parser.add_argument("--whole-events", action="store_true",
                        help="one event per activation at its apex intensity (default: split "
                             "where the FACS letter changes, as a coder scores each apex)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``retarget`` and ``code``."""
    retarget = subparsers.add_parser(
        "retarget", help="put face-tracker captures onto a rig, or turn them into AU timelines",
        description="Read OpenFace, Py-Feat, Live Link Face, MediaPipe or Face Cap captures and "
        "write them onto a rig (.glb, weights .csv, Live Link Face .csv for ARKit rigs) or as AU "
        "data (AU curves .csv without --rig, editable timelines .json/.txt/.notes/.eaf). With "
        "several captures, -o is a template with {stem}, e.g. -o out/{stem}.glb.",
        epilog="Formats: " + "; ".join(f"{k}: {v}" for k, v in CAPTURE_FORMATS.items()))
    retarget.add_argument("captures", nargs="+", metavar="CAPTURE", help="capture file(s)")
    retarget.add_argument("-o", "--output", required=True, metavar="FILE",
                          help="output file (.glb/.gltf/.csv/.json/.txt/.notes/.eaf); {stem} is "
                               "replaced by each capture's name")
    retarget.add_argument("--rig", default=None, metavar="NAME|FILE",
                          help="rig profile name or file (default for .glb: detected from the mesh)")
    retarget.add_argument("--mesh", default=None, metavar="FACE.glb",
                          help="glTF/GLB to animate (default: bundled head)")
    retarget.add_argument("--solve", action="store_true",
                          help="always solve ARKit captures to AUs, even onto an ARKit-named rig "
                               "(default: copy the weights, which is lossless)")
    retarget.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                          help="captures processed in parallel (default 1)")
    retarget.add_argument("--json", action="store_true",
                          help="print one JSON list: per capture its output, frames, fps, rig "
                               "(and whether it was detected), or its error")
    _add_capture_options(retarget)
    retarget.set_defaults(handler=run_retarget)

    code = subparsers.add_parser(
        "code", help="print a FACS-coded summary of a capture, segment by segment",
        description="Extract AU events from a capture and print each stretch of constant AU "
        "activity as a FACS code with the EMFACS emotion it matches and how fully, e.g. "
        "'1.20–2.05 s  6C+12D  happiness 2/2'.")
    code.add_argument("capture", metavar="CAPTURE", help="capture file")
    code.add_argument("--json", action="store_true", help="print segments as JSON")
    _add_capture_options(code)
    code.set_defaults(handler=run_code)

    calibrate = subparsers.add_parser(
        "calibrate", help="fit a tracker -> AU mapping from captures and a FACS coding of them",
        description="Fit, per AU, a non-negative sparse linear map from the tracker's "
        "blendshapes to the coded AUs, score it k-fold by take (each take held out in turn), "
        "print the held-out Pearson r per AU and write a tracker profile usable with "
        "--tracker FILE. Codings: an AU CSV (Py-Feat, OpenFace; a Py-Feat capture may be its own "
        "coding) or an ELAN/timeline file of the same take.")
    calibrate.add_argument("captures", nargs="+", metavar="CAPTURE", help="capture files")
    calibrate.add_argument("--coded", nargs="+", required=True, metavar="CODING",
                           help="one coding per capture, in the same order")
    calibrate.add_argument("-o", "--output", required=True, metavar="FILE",
                           help="tracker profile to write (.json)")
    calibrate.add_argument("--tracker", default=None, metavar="NAME|FILE",
                           help="profile whose facts the new one keeps (default: from the "
                                "first capture's format)")
    calibrate.add_argument("--folds", type=int, default=None, metavar="K",
                           help="folds of the cross-validation (default: one take per fold, "
                                "up to 10)")
    calibrate.set_defaults(handler=run_calibrate)


def _cleaning(args: argparse.Namespace, *, neutral_default: str, smooth_default: str) -> CleaningOptions:
    try:
        return CleaningOptions(gaps=args.gaps, max_gap=args.max_gap,
                               smoothing=args.smooth or smooth_default, cutoff_hz=args.cutoff,
                               neutral=args.neutral or neutral_default, gain_percentile=args.gain,
                               fps=args.fps)
    except ValueError as exc:  # CleaningOptions checks each option's range
        raise _usage_error(f"{exc} (see --max-gap, --cutoff, --gain, --fps, --neutral)") from None


def _events(args: argparse.Namespace) -> EventOptions:
    try:
        trace = None if args.trace.strip().lower() == "none" else float(args.trace)
    except ValueError:
        raise _usage_error(f"--trace {args.trace!r} is not a number of seconds or none") from None
    try:
        return EventOptions(on=args.on, off=args.off, min_duration=args.min_duration,
                            follow_intensity=not args.whole_events, trace_duration=trace)
    except ValueError as exc:
        raise _usage_error(str(exc)) from None


def _check_neutral(text: str | None) -> None:
    if text in (None, "none", "auto"):
        return
    try:
        start, end = (float(x) for x in text.split("-", 1))
    except ValueError:
        raise _usage_error(f"--neutral {text!r} is not none, auto or START-END seconds") from None
    if not start < end:
        raise _usage_error(f"--neutral {text!r}: the start must be before the end")


def run_retarget(args: argparse.Namespace) -> int:
    """Retarget every capture; one summary line each, a progress bar for several."""
    _check_neutral(args.neutral)
    if args.jobs < 1:
        raise _usage_error("--jobs must be at least 1")
    captures = args.captures
    if len(captures) > 1 and "{stem}" not in args.output:
        raise _usage_error("with several captures, -o must contain {stem} (e.g. -o out/{stem}.glb)")
    outputs = [args.output.replace("{stem}", Path(c).stem) for c in captures]
    if len(set(outputs)) != len(outputs):
        raise _usage_error("two captures would write the same output; rename them or change -o")
    output_kind(outputs[0], args.rig)  # an unknown extension fails before any work
    for capture, output in zip(captures, outputs):
        check_output(output, inputs=(capture, args.mesh))
    cleaning = _cleaning(args, neutral_default="none", smooth_default="none")
    requests = [RetargetRequest(c, o, rig=args.rig, mesh=args.mesh, format=args.format,
                                face=args.face, source=args.source, solve=args.solve,
                                tracker=args.tracker,
                                cleaning=cleaning, events=_events(args))
                for c, o in zip(captures, outputs)]
    if len(requests) == 1:
        report = _retarget(requests[0])
        if args.json:
            print_json([report.to_dict()])
        else:
            print(report.summary())
        return 0
    return _run_many(requests, args.jobs, args.json)


def _run_many(requests: list[RetargetRequest], jobs: int, as_json: bool) -> int:
    """Retarget several captures; on Ctrl-C, stop quietly and report the takes that finished.

    Nothing is half-written: every output goes through an atomic write, which removes its
    temporary file when interrupted, and a take interrupted in a worker is simply not reported.
    """
    progress = ProgressBar(len(requests), sys.stderr, label="retarget", unit="captures",
                           log_steps=True)
    outcomes: dict[int, tuple[RetargetReport | None, str | None]] = {}

    def record(index: int, outcome: tuple[RetargetReport | None, str | None]) -> None:
        outcomes[index] = outcome
        progress(len(outcomes), Path(requests[index].capture).name)
        if outcome[1] is not None:
            progress.clear()
            print(f"facs-rig: error: {outcome[1]}", file=sys.stderr)

    interrupted = False
    try:
        if jobs == 1:
            for index, request in enumerate(requests):
                record(index, _safe(request))
        else:
            _run_pool(requests, jobs, record)
    except KeyboardInterrupt:
        interrupted = True
    progress.finish()
    reports = [outcomes[i][0] for i in sorted(outcomes) if outcomes[i][0] is not None]
    failures = sum(1 for report, error in outcomes.values() if error is not None)
    if as_json:
        print_json([report.to_dict() if report is not None else
                    {"capture": requests[i].capture, "error": error}
                    for i, (report, error) in sorted(outcomes.items())])
    else:
        for report in reports:
            print(report.summary())
    if interrupted:
        print(f"facs-rig: interrupted: {len(reports)} of {len(requests)} captures finished and "
              f"written; the others were not written", file=sys.stderr)
        return 130
    if failures:
        print(f"facs-rig: error: {failures} of {len(requests)} captures failed", file=sys.stderr)
        return 1
    return 0


def _run_pool(requests: list[RetargetRequest], jobs: int, record) -> None:
    """Run ``requests`` on ``jobs`` worker processes, recording each outcome as it finishes.

    Ctrl-C reaches the workers too (the terminal signals the whole process group; a SIGINT sent
    to this process alone is passed on): a worker busy with a take stops it (its atomic write
    cleans up), an idle one ignores it, so no worker prints a traceback. The takes that finished
    before the workers stopped are still recorded; the rest are cancelled.
    """
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_setup)
    futures = {pool.submit(_work, request): index for index, request in enumerate(requests)}
    recorded: set[int] = set()
    try:
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:  # a worker was killed (out of memory, SIGKILL)
                outcome = (None, "its worker process died (killed, or out of memory); "
                                 "run it again, or with --jobs 1")
            if outcome[1] == _INTERRUPTED:  # the worker saw the Ctrl-C before we did
                raise KeyboardInterrupt
            record(futures[future], outcome)
            recorded.add(futures[future])
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still clean
        try:
            # ProcessPoolExecutor has no public way to signal its workers; _processes maps
            # pid -> process (CPython 3.8-3.13).
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(process.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
            for future, index in futures.items():
                if (index not in recorded and future.done() and not future.cancelled()
                        and future.exception() is None and future.result()[1] != _INTERRUPTED):
                    record(index, future.result())
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    pool.shutdown(wait=True)


#: What a worker returns for a take stopped by Ctrl-C (nothing was written for it).
_INTERRUPTED = "interrupted"
_busy = False


def _worker_setup() -> None:
    signal.signal(signal.SIGINT, _worker_interrupt)


def _worker_interrupt(signum, frame) -> None:
    global _busy
    if _busy:  # stop the take; an idle worker has nothing to stop and waits to be shut down
        _busy = False
        raise KeyboardInterrupt


def _work(request: RetargetRequest):
    """One take in a worker process (see :func:`_run_pool`)."""
    global _busy
    _busy = True
    try:
        return _safe(request)
    except KeyboardInterrupt:
        return None, _INTERRUPTED
    finally:
        _busy = False


def _retarget(request: RetargetRequest) -> RetargetReport:
    with naming(request.capture):
        return retarget_file(request)


def _safe(request: RetargetRequest):
    """Run one request; bad input comes back as a message, not a traceback."""
    try:
        return _retarget(request), None
    except FacsRigError as exc:
        return None, " ".join(str(exc).split())
    except OSError as exc:
        return None, f"{request.capture}: {exc.strerror or exc}"


def run_code(args: argparse.Namespace) -> int:
    """Print the FACS-coded segments of one capture."""
    _check_neutral(args.neutral)
    cleaning = _cleaning(args, neutral_default="auto", smooth_default="zero-phase")
    events = _events(args)
    vocabulary = load_vocabulary()
    # A bar on a terminal only: an hour-long take takes seconds, and logs need no redraws.
    steps = ("reading", "solving", "finding events", "coding")
    progress = ProgressBar(len(steps), sys.stderr, label="code", unit="steps") \
        if sys.stderr.isatty() else None

    def step(done: int) -> None:
        if progress is not None:
            progress(done, steps[done] if done < len(steps) else "")

    step(0)
    capture = read_capture(args.capture, format=args.format, face=args.face)
    repairs = capture.repairs
    take = capture.blendshapes if capture.blendshapes is not None else capture.aus
    neutral_note = auto_neutral_note(take.times) if take is not None else None
    step(1)
    tracker = choose_tracker(args.tracker, capture.format)
    with naming(args.capture):
        curves = capture_curves(capture, cleaning, tracker=tracker,
                                source=capture_source(args.source, args.tracker, capture)).curves
    del capture  # an hour of blendshapes is 45 MB that events and coding do not need
    step(2)
    timeline = extract_events(curves, vocabulary.scale(), options=events,
                              thresholds=event_thresholds(tracker, events))
    del curves
    step(3)
    segments = code_segments(timeline, vocabulary)
    step(4)
    if args.json:
        print_json([{"start": round(s.start, 4), "end": round(s.end, 4), "code": str(s.code),
                     "emotion": s.emotion, "matched": s.matched, "of": s.total}
                    for s in segments])
        return 0
    for note in repairs:
        print(f"# repaired: {note}")
    if cleaning.neutral == "auto" and neutral_note is not None:
        print(f"# {neutral_note}")
    sys.stdout.write(format_summary(segments) or "no AU events\n")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Fit a tracker profile from coded takes; print held-out r per AU."""
    import dataclasses
    import json

    from facs_rig.io.atomic import write_text_atomic
    from facs_rig.io.captures.calibrate import coded_take, fit_mapping
    from facs_rig.io.captures.trackers import tracker_document

    if len(args.coded) != len(args.captures):
        raise _usage_error(f"{len(args.captures)} captures but {len(args.coded)} codings: give "
                           f"one --coded file per capture, in the same order")
    if len(args.captures) < 2:
        raise _usage_error("calibrate needs at least two coded takes (each is held out in turn)")
    if args.folds is not None and not 2 <= args.folds <= len(args.captures):
        raise _usage_error(f"--folds must lie in 2..{len(args.captures)} (the number of takes)")
    if not args.output.lower().endswith(".json"):
        raise _usage_error("-o must be a .json tracker profile")
    check_output(args.output, inputs=(*args.captures, *args.coded, args.tracker))
    vocabulary = load_vocabulary()
    takes = [coded_take(c, k, vocabulary) for c, k in zip(args.captures, args.coded)]
    calibration = fit_mapping(takes, folds=args.folds)  # CalibrationError is a FacsRigError
    base = choose_tracker(args.tracker, read_capture(args.captures[0]).format)
    profile = dataclasses.replace(
        base, name=Path(args.output).stem, mapping=calibration.mapping,
        description=f"{base.name} calibrated on {len(takes)} coded takes by facs-rig calibrate",
        sources=base.sources + (f"mapping fitted on {', '.join(Path(c).name for c in args.captures)}"
                                f" coded by {', '.join(Path(k).name for k in args.coded)}; "
                                f"held_out_r is {calibration.folds}-fold by take",))
    write_text_atomic(args.output, json.dumps(tracker_document(profile), indent=1) + "\n")
    print(f"held-out r per AU ({calibration.folds}-fold by take, frames pooled):")
    for channel, r in calibration.held_out_r.items():
        print(f"  {channel.name:8} {r:6.3f}")
    scored = sum(1 for r in calibration.held_out_r.values() if r == r)  # NaN: AU never varied
    print(f"mean r {calibration.mean_r:.3f} over {scored} AUs; wrote {args.output}")
    return 0
