"""``facs-rig preview`` and ``facs-rig sheet``: see a code or a timeline on a face, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facs_rig.cli import UsageError
from facs_rig.cli._output import (
    add_fps_argument,
    bounded,
    check_frame_count,
    check_output,
    file_input,
    hold_type,
    naming,
    note_unshown,
    played_channels,
    refuse_a_rate_that_misses_every_event,
)
from facs_rig.resources import load_vocabulary

_STILL = (".png",)
_CLIPS = (".gif", ".mp4")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preview`` and ``sheet``."""
    preview = subparsers.add_parser(
        "preview",
        help="render a FACS code (PNG) or a timeline (GIF/MP4) on a face",
        description="Render a FACS code or expression as a PNG, or a timeline file or code as a "
        "GIF or MP4 clip at the timeline's fps, on the bundled default head or any "
        "glTF rig (--mesh). Software rendering: no GPU, no display.",
        epilog="examples: facs-rig preview surprise -o surprise.png; "
        "facs-rig preview beats.json -o clip.gif; "
        "facs-rig preview 1+4+15 --side-by-side -o sad.png",
    )
    preview.add_argument(
        "source",
        metavar="TIMELINE|CODE",
        help="FACS code or expression name (6+12D, surprise), or a timeline file",
    )
    preview.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="output: .png (one pose), .gif or .mp4 (a clip; MP4 needs pip install 'facs-rig[video]')",
    )
    preview.add_argument(
        "--at",
        metavar="TIME",
        help="for a PNG of a timeline: the moment to show, as a notes file writes a time: "
        "seconds (12, 12s), frames (288f) or timecode HH:MM:SS:FF at the timeline's fps, "
        "timecode counted from its start header (default: its most active frame without a "
        "blink or wink closing the eyes)",
    )
    add_fps_argument(preview, "clip frame rate (default: the timeline's)")
    preview.add_argument(
        "--burn-in",
        action="store_true",
        help="caption each frame of a clip with its timecode (from the notes' start header, at "
        "the timeline's fps), the code playing (after the expression name typed while the face "
        "plays exactly it) and, below, the beat's comment, as dailies carry",
    )
    preview.add_argument(
        "--hold",
        type=hold_type,
        default=None,
        metavar="SECONDS",
        help=f"apex hold when a clip is made from a code (default {DEFAULT_HOLD:g})",
    )
    _add_common(preview)
    preview.set_defaults(handler=run_preview)

    sheet = subparsers.add_parser(
        "sheet",
        help="render a labelled contact sheet of several codes or expressions",
        description="Render each comma-separated code or expression name and lay them out in a "
        "grid with the name and the AU code under each face.",
        epilog='example: facs-rig sheet "happiness,sadness,surprise,fear,anger,disgust,contempt" '
        "-o sheet.png",
    )
    sheet.add_argument("codes", metavar="CODES|TIMELINE",
                       help="comma-separated codes or expression names, or a timeline file "
                       "(one face per beat at its apex, labelled with its time, the "
                       "expression name typed, its code and comment)")
    sheet.add_argument("-o", "--output", required=True, metavar="FILE", help="output .png")
    sheet.add_argument("--columns", type=bounded(int, low=1), metavar="N",
                       help="faces per row (default up to 4)")
    _add_common(sheet, default_size=320)
    sheet.set_defaults(handler=run_sheet)


def _add_common(parser: argparse.ArgumentParser, *, default_size: int = 512) -> None:
    parser.add_argument(
        "--mesh", metavar="FACE.glb", help="render this glTF/GLB rig instead of the bundled default head"
    )
    parser.add_argument(
        "--rig",
        metavar="NAME|FILE",
        help="rig profile driving the mesh (default: facs for the default head, "
        "the best-fitting bundled profile for --mesh)",
    )
    parser.add_argument(
        "--size",
        type=bounded(int, low=16, high=4096, unit="pixels"),
        default=default_size,
        metavar="PIXELS",
        help=f"image size of each face (default {default_size})",
    )
    parser.add_argument("--side-by-side", action="store_true", help="show the neutral face next to the pose")
    parser.add_argument(
        "--intensity",
        type=bounded(float, low=0, high=1),
        metavar="0-1",
        help="value of AUs coded without a letter (default: the scale's C); an unlettered blink or "
        "wink stays closed",
    )
    parser.add_argument(
        "--yaw",
        # inf broke the camera maths; NaN rendered an empty image
        type=bounded(float, low=-360, high=360, unit="degrees"),
        default=12.0,
        metavar="DEG",
        help="camera turned towards the subject's left, degrees (default 12)",
    )


def run_preview(args: argparse.Namespace) -> int:
    """Render one pose or a clip."""
    from facs_rig.cli._progress import ProgressBar
    from facs_rig.io.au_notes import read_au_notes
    from facs_rig.io.timeline_files import load_timeline_argument, timeline_file_argument
    from facs_rig.render.encoders import check_clip, write_clip, write_png
    from facs_rig.render.preview import (
        preview_setup,
        render_still,
        render_timeline_still,
        timeline_clip,
    )

    output = check_output(args.output, inputs=(file_input(args.source), args.mesh),
                          suffixes=_STILL + _CLIPS, what="a preview")
    suffix = output.suffix.lower()
    _check_preview_options(args, still=suffix in _STILL)
    hold = DEFAULT_HOLD if args.hold is None else args.hold
    vocabulary = load_vocabulary()
    # Code or timeline file: the rule bake, stream and timeline use (a missing file is named as
    # one, not parsed as a code), decided before the options that depend on it are checked.
    timeline_file = timeline_file_argument(args.source, vocabulary)
    _check_source_options(args, still=suffix in _STILL, timeline_file=timeline_file is not None)
    if args.intensity is not None and timeline_file is None:
        _check_intensity_reaches([args.source], args.intensity, vocabulary)
    if suffix in _STILL:
        moment = ""
        if timeline_file:
            timeline = load_timeline_argument(args.source, vocabulary, hold=hold)
            at = None if args.at is None else _at_seconds(args.at, timeline)
            setup = preview_setup(args.mesh, args.rig, size=args.size, supersample=2, yaw=args.yaw)
            note_unshown(setup.driver.profile, played_channels(timeline))
            with naming(args.source):  # a timeline's moment: the frame limit names it
                shown_at, image = render_timeline_still(setup, timeline, at=at,
                                                        side_by_side_neutral=args.side_by_side)
            moment = f", at {_moment(shown_at, timeline)}"
        else:
            setup = preview_setup(args.mesh, args.rig, size=args.size, supersample=2, yaw=args.yaw)
            note_unshown(setup.driver.profile,
                         vocabulary.channel_values(vocabulary.parse(args.source)))
            image = render_still(setup, args.source, vocabulary,
                                 side_by_side_neutral=args.side_by_side, intensity=args.intensity)
        write_png(output, image)
        print(
            f"wrote {output} ({image.shape[1]}x{image.shape[0]}, {setup.rig.source}, "
            f"rig {setup.driver.profile.name}{moment})"
        )
        return 0
    neutral: list = []  # the notes' neutral lines, whose words the burn-in shows
    if args.burn_in and timeline_file is not None and timeline_file.suffix.lower() in (
            ".notes", ".txt"):
        timeline = read_au_notes(timeline_file, vocabulary, neutral_out=neutral)
    else:
        timeline = load_timeline_argument(args.source, vocabulary, hold=hold)
    if args.intensity is not None and timeline_file is None:
        from facs_rig.core.timeline import timeline_from_code

        # The code held at the asked intensity (unlettered AUs otherwise take the scale's C).
        timeline = timeline_from_code(args.source, vocabulary, hold=hold, intensity=args.intensity)
    rate = args.fps or timeline.fps
    n_frames = check_frame_count(timeline.duration, rate, timeline_file and str(timeline_file))
    width = args.size * 2 + 4 if args.side_by_side else args.size
    check_clip(output, rate, n_frames=n_frames, width=width, height=args.size)
    # After the encoder's own limits (a GIF frame lasts at most 655.35 s), which say more.
    refuse_a_rate_that_misses_every_event(timeline, rate, n_frames,
                                          timeline_file and str(timeline_file),
                                          given=args.fps is not None,
                                          result="the clip would show the neutral face only")
    setup = preview_setup(args.mesh, args.rig, size=args.size, supersample=1, yaw=args.yaw)
    note_unshown(setup.driver.profile, played_channels(timeline))
    # Frames are rendered as the encoder takes them: one bar covers rendering and encoding.
    if args.burn_in:
        from facs_rig.io.au_notes import notes_origin
    clip = timeline_clip(setup, timeline, fps=args.fps, side_by_side_neutral=args.side_by_side,
                         burn_in_origin=notes_origin(timeline) if args.burn_in else None,
                         vocabulary=vocabulary, neutral_beats=neutral)
    bar = ProgressBar(clip.n_frames, sys.stderr, label=f"rendering {suffix[1:].upper()}")
    write_clip(output, clip.frames, fps=clip.fps, palette=clip.palette, progress=bar)
    bar.finish()
    width = setup.renderer.camera.width * (2 if args.side_by_side else 1) + (4 if args.side_by_side else 0)
    print(
        f"wrote {output} ({clip.n_frames} frames at {clip.fps:g} fps, {clip.n_frames / clip.fps:.2f} s, "
        f"{width}x{setup.renderer.camera.height})"
    )
    return 0


def _at_seconds(text: str, timeline) -> float:
    """Seconds on ``timeline`` of ``--at``, read by the notes reader's time parser (every form
    a notes file takes for a time); a value that does not read, or falls outside 0 to the
    duration, is a usage error.

    Raises
    ------
    UsageError
    """
    from facs_rig.core.timeline import TIME_TOLERANCE
    from facs_rig.errors import TimelineFormatError
    from facs_rig.io.au_notes import timeline_time

    try:
        seconds = timeline_time(text, timeline, "--at")
    except TimelineFormatError as exc:
        message = str(exc)
        raise UsageError(message if "--at" in message else f"--at {text}: {message}") from None
    if not -TIME_TOLERANCE <= seconds <= timeline.duration + TIME_TOLERANCE:
        raise UsageError(f"--at {text} ({seconds:g} s) is outside the timeline "
                         f"(0-{timeline.duration:g} s)")
    return seconds


def _moment(seconds: float, timeline) -> str:
    """``3.5 s`` and, when the timeline has a stated frame rate (any file but AU notes without
    an ``fps`` line: ``metadata[FPS_STATED_KEY]`` False), its timecode from the ``start``
    header: ``3.5 s, 00:00:03:12``."""
    from facs_rig.core.timecode import format_timecode
    from facs_rig.core.timeline import FPS_STATED_KEY
    from facs_rig.io.au_notes import notes_origin

    text = f"{seconds:g} s"
    if timeline.metadata.get(FPS_STATED_KEY) is False:
        return text
    try:
        return f"{text}, {format_timecode(seconds + notes_origin(timeline), timeline.fps)}"
    except ValueError:  # no HH:MM:SS:FF spelling (1000 hours): seconds alone
        return text


#: The apex hold of a clip made from a code, seconds.
DEFAULT_HOLD = 2.0


def _check_preview_options(args: argparse.Namespace, *, still: bool) -> None:
    """Refuse options that the asked preview would ignore whatever its source (a reviewer's
    ``--fps 10`` and ``--hold 3`` on a PNG gave byte-identical files, silently).

    Raises
    ------
    UsageError
    """
    what = _an_output(args.output)
    if still:
        if args.fps is not None:
            raise UsageError(f"--fps applies to a GIF or MP4 clip, not to {what} (one pose)")
        if args.hold is not None:
            raise UsageError(f"--hold applies to a GIF or MP4 clip made from a code, not to "
                             f"{what} (one pose)")
        if args.burn_in:
            raise UsageError(f"--burn-in captions the frames of a GIF or MP4 clip, not "
                             f"{what} (one pose)")
    elif args.at is not None:
        raise UsageError(f"--at picks the moment a PNG shows; {what} clip shows the whole "
                         f"timeline (or code)")


def _check_source_options(args: argparse.Namespace, *, still: bool, timeline_file: bool) -> None:
    """Refuse options that the source, a code or a timeline file, would ignore (``--at 5`` on a
    PNG of a code, ``--hold`` on a clip of a timeline file).

    Raises
    ------
    UsageError
    """
    if still and args.at is not None and not timeline_file:
        raise UsageError("--at picks a moment of a timeline file; a code is one pose "
                         "(its apex): leave --at out, or give a timeline")
    if args.intensity is not None and timeline_file:
        # It was ignored: a timeline file's beats carry their own intensity.
        raise UsageError("--intensity sets the AUs of a code written without a letter; a "
                         "timeline file's beats set their own (the intensity option of a "
                         "notes line): leave --intensity out, or give a code")
    if not still and args.hold is not None and timeline_file:
        raise UsageError("--hold applies to a clip made from a code; a timeline file has its "
                         "own timing")


def _check_intensity_reaches(codes: list[str], intensity: float, vocabulary) -> None:
    """Refuse an ``--intensity`` that sets no AU of any of ``codes`` (``preview contempt
    --intensity 0.9`` wrote the same bytes as without it: contempt is R12C+R14C, all lettered),
    naming the codes that play it instead.

    Raises
    ------
    UsageError
    """
    import numpy as np

    from facs_rig.core.notation import Code, format_code
    from facs_rig.core.timeline import intensity_band_letter, intensity_reaches

    parsed = [vocabulary.parse(code) for code in codes]
    if any(intensity_reaches(code, vocabulary, intensity, bands=False) for code in parsed):
        return
    code, text = parsed[0], codes[0]
    scale = vocabulary.scale()
    drives = [term for term in code if vocabulary.action_unit(term.au).drives]
    lettered = Code(tuple(term.__class__(term.au, term.side, intensity_band_letter(
        vocabulary, term.au, intensity)) if term in drives else term for term in code))
    # The letter plays the value exactly when it is that letter's: else the AUs unlettered take it.
    letters = {new.intensity for old, new in zip(code, lettered) if old in drives}
    exact = all(letter is not None and float(np.float32(scale.letter_to_value(letter)))
                == float(np.float32(intensity)) for letter in letters)
    unlettered = Code(tuple(term.__class__(term.au, term.side, None)
                            if term in drives and vocabulary.scores_intensity(term.au) else term
                            for term in code))
    if exact:
        instead = format_code(lettered)
    elif any(vocabulary.scores_intensity(term.au) for term in drives):
        instead = f"{format_code(unlettered)} --intensity {intensity:g}"
    else:  # blinks and winks only: a letter is their depth, and --intensity never reaches them
        instead = f"{format_code(lettered)} (the letter of its band)"
    named = text if text == format_code(code) else f"{text} ({format_code(code)})"
    which = f"any of the {len(codes)} codes, the first " if len(codes) > 1 else ""
    raise UsageError(f"--intensity {intensity:g} changes no AU of {which}{named}: it sets the "
                     f"AUs written without a letter (but a blink or wink, which stays closed); "
                     f"write {instead} instead")


def _an_output(output: str) -> str:
    """"a PNG", "an MP4": the output's kind with its article."""
    kind = Path(output).suffix.lower()[1:].upper()
    # "an MP4": the letters whose names start with a vowel sound take "an".
    return f"{'an' if kind[:1] in set('AEFHILMNORSX') else 'a'} {kind}"


def run_sheet(args: argparse.Namespace) -> int:
    """Render a labelled grid of codes."""
    from facs_rig.io.timeline_files import available_formats, timeline_file_argument
    from facs_rig.render.encoders import write_png
    from facs_rig.render.preview import preview_setup, render_sheet

    vocabulary = load_vocabulary()
    if Path(args.codes).suffix.lower() in available_formats():
        # A timeline file (a missing one is named as a file, not parsed as a code).
        timeline_file = timeline_file_argument(args.codes, vocabulary)
        if timeline_file is not None:
            return _timeline_sheet(args, timeline_file, vocabulary)
    codes = [code.strip() for code in args.codes.split(",")]
    if not any(codes):
        raise UsageError('no codes given: pass a comma-separated list, e.g. "happiness,6+12D"')
    if "" in codes:
        # "happiness,,sadness" printed "2 faces": a dropped item shifts every face after it.
        raise UsageError(f"item {codes.index('') + 1} of {len(codes)} in {args.codes!r} is empty: "
                         f"give a code or expression name between each pair of commas")
    output = check_output(args.output, inputs=(args.mesh,), suffixes=_STILL, what="a contact sheet")
    # Each code is parsed before any rendering, so a bad one is reported first.
    played = [channel for code in codes for channel in
              vocabulary.channel_values(vocabulary.parse(code))]
    if args.intensity is not None:
        _check_intensity_reaches(codes, args.intensity, vocabulary)
    setup = preview_setup(args.mesh, args.rig, size=args.size, supersample=2, yaw=args.yaw)
    note_unshown(setup.driver.profile, played)
    if args.side_by_side:
        codes = [c for code in codes for c in ("0", code)]
    image = render_sheet(
        setup,
        codes,
        vocabulary,
        columns=args.columns or (min(4, len(codes))),
        intensity=args.intensity,
        labels=["neutral" if c == "0" else c for c in codes] if args.side_by_side else None,
    )
    write_png(output, image)
    print(f"wrote {output} ({len(codes)} faces, {image.shape[1]}x{image.shape[0]})")
    return 0


#: Most beats a sheet of a timeline lays out, one face each (a 320-pixel face is 0.3 MB).
MAX_SHEET_BEATS = 100


def _timeline_sheet(args: argparse.Namespace, path: Path, vocabulary) -> int:
    """``sheet TIMELINE``: one face per beat at its apex, labelled with its time, name, code
    and comment; a ``neutral`` line of notes too, once the face is at rest."""
    from facs_rig.io.au_notes import read_au_notes
    from facs_rig.io.timeline_files import read_timeline
    from facs_rig.render.encoders import write_png
    from facs_rig.render.preview import preview_setup, render_timeline_sheet, timeline_beats

    if args.intensity is not None:
        raise UsageError("--intensity sets the AUs of a code written without a letter; a "
                         "timeline file's beats set their own (the intensity option of a "
                         "notes line): leave --intensity out, or give codes")
    output = check_output(args.output, inputs=(str(path), args.mesh), suffixes=_STILL,
                          what="a contact sheet")
    neutral: list = []  # the notes' neutral lines, which the timeline does not keep
    if path.suffix.lower() in (".notes", ".txt"):
        timeline = read_au_notes(path, vocabulary, neutral_out=neutral)
    else:
        timeline = read_timeline(path, vocabulary)
    if not timeline.events:
        raise UsageError(f"{path} has no beat that moves the face: nothing to lay out")
    beats = timeline_beats(timeline, vocabulary, neutral=neutral)
    if len(beats) > MAX_SHEET_BEATS:
        raise UsageError(f"{path} has {len(beats)} beats; a sheet lays out at most "
                         f"{MAX_SHEET_BEATS} (one face each): preview --at TIME shows any moment")
    setup = preview_setup(args.mesh, args.rig, size=args.size, supersample=2, yaw=args.yaw)
    note_unshown(setup.driver.profile, played_channels(timeline))
    labels = [_moment(beat.start, timeline) for beat in beats]
    faces = len(beats) * (2 if args.side_by_side else 1)
    with naming(str(path)):
        image = render_timeline_sheet(setup, timeline, beats, labels,
                                      columns=args.columns or min(4, faces),
                                      side_by_side_neutral=args.side_by_side)
    write_png(output, image)
    print(f"wrote {output} ({len(beats)} beats of {path.name}, {faces} faces, "
          f"{image.shape[1]}x{image.shape[0]})")
    return 0
