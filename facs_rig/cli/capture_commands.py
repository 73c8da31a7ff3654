"""``facs-rig retarget`` and ``facs-rig code``: face-tracker captures onto rigs and into FACS codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facs_rig.cli import UsageError
from facs_rig.cli._capture_options import (
    add_capture_options,
    add_rig_options,
    check_neutral,
    check_presence_options,
    check_rig_options_used,
    check_tracker_applies,
    cleaning_options,
    event_options,
    event_options_given,
    note_tracker_mismatch,
    retarget_options,
    thresholds_given,
)
from facs_rig.cli._output import bounded, check_output, naming, print_json
from facs_rig.cli._progress import ProgressBar
from facs_rig.cluster.remote import capture_identity
from facs_rig.errors import Terminated
from facs_rig.io.captures import CAPTURE_FORMATS, read_capture
from facs_rig.io.captures.parallel import Outcome, retarget_each, retarget_one
from facs_rig.io.captures.pipeline import CODE_STEPS, take_events
from facs_rig.io.captures.retarget import RetargetOptions, RetargetRequest, output_kind
from facs_rig.resources import load_vocabulary


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
    add_rig_options(retarget)
    retarget.add_argument("--jobs", "-j", type=bounded(int, low=1), default=1, metavar="N",
                          help="captures processed in parallel (default 1)")
    retarget.add_argument("--json", action="store_true",
                          help="print one JSON list: per capture its output, frames, fps, rig "
                               "(and whether it was detected), or its error")
    add_capture_options(retarget)
    retarget.set_defaults(handler=run_retarget)

    code = subparsers.add_parser(
        "code", help="print a FACS-coded summary of a capture, segment by segment",
        description="Extract AU events from a capture, cut the take where the set of facial "
        "actions changes (an AU on or off under 0.25 s next to other activity is flicker; a lone "
        "brief action is kept from --min-duration; head and eye positions cut only where the "
        "face is at rest) and print each segment as a FACS code of the AUs present for half of "
        "it, with the EMFACS emotion (or pain, Prkachin's core pain expression) it matches and "
        "how fully, e.g. "
        "'1.20–2.05 s  6C+12D  happiness 2/2'.")
    code.add_argument("capture", metavar="CAPTURE", help="capture file")
    code.add_argument("--json", action="store_true",
                      help="print a JSON object: the neutral, the repairs and the segments")
    add_capture_options(code)
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
    calibrate.add_argument("--folds", type=bounded(int, low=2), default=None, metavar="K",
                           help="folds of the cross-validation (default: one take per fold, "
                                "up to 10)")
    calibrate.add_argument("--force", action="store_true",
                           help="write the profile even when its held-out mean r is below 0 "
                                "(refused by default: the codings likely do not go with the takes)")
    calibrate.set_defaults(handler=run_calibrate)


def run_retarget(args: argparse.Namespace) -> int:
    """Retarget every capture; one summary line each, a progress bar for several."""
    check_neutral(args.neutral)
    # A capture named twice (overlapping globs: take*.csv take01.csv) is done once, as in batch.
    first_by_path: dict[str, str] = {}
    for capture in args.captures:
        first_by_path.setdefault(capture_identity(capture), capture)
    captures = list(first_by_path.values())
    if len(captures) > 1 and "{stem}" not in args.output:
        raise UsageError("with several captures, -o must contain {stem} (e.g. -o out/{stem}.glb)")
    outputs = [args.output.replace("{stem}", Path(c).stem) for c in captures]
    first_capture: dict[str, str] = {}
    for capture, output in zip(captures, outputs):
        if output in first_capture:
            raise UsageError(f"{first_capture[output]} and {capture} would both write {output}; "
                             f"rename one, or use facs-rig batch with -o .../{{parent}}/{{stem}}")
        first_capture[output] = capture
    # An unknown extension fails before any work; so do event options on an output without
    # events (they would change nothing, and silence would say they did).
    check_rig_options_used(args, [Path(outputs[0]).suffix], f"{outputs[0]} is not one")
    given = event_options_given(args)
    if output_kind(outputs[0], args.rig) != "timeline" and given:
        raise UsageError(f"{', '.join(given)}: {'these options change' if len(given) > 1 else 'it changes'} "
                         f"the events of timeline outputs (.json, .txt, .notes, .eaf); "
                         f"{outputs[0]} holds no events")
    for capture, output in zip(captures, outputs):
        check_output(output, inputs=(capture, args.mesh))
    check_tracker_applies(args, captures)
    check_presence_options(args, captures)
    note_tracker_mismatch(args, captures)
    options = RetargetOptions(**retarget_options(
        args, timeline=output_kind(outputs[0], args.rig) == "timeline"))
    requests = [options.request(c, o) for c, o in zip(captures, outputs)]
    if len(requests) == 1:
        report = retarget_one(requests[0])
        if args.json:
            print_json([report.to_dict()])
        else:
            print(report.summary())
        return 0
    return _run_many(requests, args.jobs, args.json)


def _run_many(requests: list[RetargetRequest], jobs: int, as_json: bool) -> int:
    """Retarget several captures with a progress bar; on Ctrl-C, report the takes that finished.

    The work and its Ctrl-C handling are :func:`facs_rig.io.captures.parallel.retarget_each`.
    """
    progress = ProgressBar(len(requests), sys.stderr, label="retarget", unit="captures",
                           log_steps=True)
    outcomes: dict[int, Outcome] = {}

    def record(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        progress(len(outcomes), Path(requests[index].capture).name)
        if outcome[1] is not None:
            progress.clear()
            print(f"facs-rig: error: {outcome[1]}", file=sys.stderr)

    interrupted = terminated = False
    try:
        retarget_each(requests, jobs, record)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
        interrupted, terminated = True, isinstance(stop, Terminated)
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
        print(f"facs-rig: {'terminated' if terminated else 'interrupted'}: {len(reports)} of "
              f"{len(requests)} captures finished and written; the others were not written",
              file=sys.stderr)
        return 143 if terminated else 130
    if failures:
        print(f"facs-rig: error: {failures} of {len(requests)} captures failed", file=sys.stderr)
        return 1
    return 0


def run_code(args: argparse.Namespace) -> int:
    """Print the FACS-coded segments of one capture."""
    check_neutral(args.neutral)
    cleaning = cleaning_options(args, neutral_default="auto", smooth_default="zero-phase")
    events = event_options(args)
    check_tracker_applies(args, [args.capture])
    check_presence_options(args, [args.capture])
    note_tracker_mismatch(args, [args.capture])
    # A bar on a terminal only: an hour-long take takes seconds, and logs need no redraws.
    progress = ProgressBar(len(CODE_STEPS), sys.stderr, label="code", unit="steps") \
        if sys.stderr.isatty() else None

    def step(done: int) -> None:
        if progress is not None:
            progress(done, CODE_STEPS[done] if done < len(CODE_STEPS) else "")

    step(0)
    with naming(args.capture):
        # The capture is not kept here: the pipeline lets it go once the curves are made.
        take = take_events(read_capture(args.capture, format=args.format, face=args.face),
                           cleaning, events, source=args.source, tracker=args.tracker,
                           code=True, keep_curves=False, progress=step,
                           thresholds_given=thresholds_given(args))
    if args.json:
        print_json(take.summary_document(cleaning.neutral))
        return 0
    sys.stdout.write(take.summary_text(cleaning.neutral))
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Fit a tracker profile from coded takes; print held-out r per AU."""
    from facs_rig.io.captures.calibrate import (
        MIN_TAKES_TO_CHOOSE,
        calibrate_tracker,
        check_held_out,
        duplicated_takes,
        fold_count,
        held_out_penalty,
        write_tracker_profile,
    )

    if len(args.coded) != len(args.captures):
        raise UsageError(f"{len(args.captures)} captures but {len(args.coded)} codings: give "
                           f"one --coded file per capture, in the same order")
    if len(args.captures) < 2:
        raise UsageError("calibrate needs at least two coded takes (each is held out in turn)")
    if args.folds is not None and not 2 <= args.folds <= len(args.captures):
        raise UsageError(f"--folds must lie in 2..{len(args.captures)} (the number of takes)")
    if not args.output.lower().endswith(".json"):
        raise UsageError("-o must be a .json tracker profile")
    # A path given twice is a command-line mistake; a copy under another name is found when
    # the files are read (calibrate_tracker, exit 1).
    problem = duplicated_takes(args.captures, args.coded, by_content=False)
    if problem is not None:
        raise UsageError(problem)
    check_output(args.output, inputs=(*args.captures, *args.coded, args.tracker))
    bars: list[ProgressBar] = []

    def step(done: int, total: int, item: str) -> None:
        if not bars:
            # As retarget and batch show theirs: a bar on a terminal, a line per step in a log.
            bars.append(ProgressBar(total, sys.stderr, label="calibrate", unit="steps",
                                    log_steps=True))
        bars[0](done, item)

    try:
        # CalibrationError and CaptureFormatError are FacsRigErrors: one-line messages.
        profile, calibration = calibrate_tracker(
            args.captures, args.coded, name=Path(args.output).stem, tracker=args.tracker,
            folds=args.folds, vocabulary=load_vocabulary(), progress=step)
    finally:
        if bars:
            bars[0].finish()  # an error is printed below the bar, not over it
    for note in calibration.notes:
        print(f"facs-rig: note: {note}", file=sys.stderr)
    print(f"held-out r per AU ({calibration.folds}-fold by take, frames pooled):")
    for channel, r in calibration.held_out_r.items():
        shown = f"{r:6.3f}" if r == r else f"   n/a: {calibration.unscored[channel]}"
        print(f"  {channel.name:8} {shown}")
    if not args.force:
        sys.stdout.flush()  # the table stays above the error when both go to one terminal
        check_held_out(calibration)
    write_tracker_profile(profile, args.output)
    for line in calibration.beyond_rest:
        # As retarget and code read the profile, and as the held-out figures above were scored.
        print(line)
    fractions = profile.mapping.event_fractions
    takes = len(args.captures)
    # What was done, fold by fold: with 3 takes each held-out fit has 2, too few to choose on.
    print(f"penalty: {calibration.regularisation}"
          + (f" (chosen by {fold_count(takes)}-fold by take); in the held-out fits, "
             f"{held_out_penalty(takes, args.folds)}" if takes >= MIN_TAKES_TO_CHOOSE
             else " (the default: too few takes to choose)")
          + ("" if fractions is None else
             f"; code's events start {fractions[0]:g} of the way from each AU's low to its "
             f"high and end at {fractions[1]:g} of that rise (chosen by {calibration.folds}-fold "
             f"by take)"))
    unscored = len(calibration.unscored)
    print(f"mean r {calibration.mean_r:.3f} over {calibration.scored} AUs"
          + (f" ({unscored} n/a)" if unscored else "") + f"; wrote {args.output}")
    return 0
