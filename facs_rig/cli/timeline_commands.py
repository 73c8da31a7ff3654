"""``facs-rig timeline show|convert|sample``: AU timelines and their file formats."""

from __future__ import annotations

import argparse
from pathlib import Path

from facs_rig.cli._output import (
    add_fps_argument,
    check_frame_count,
    check_output,
    code_hold,
    file_input,
    hold_type,
    print_json,
    print_table,
    refuse_a_rate_that_misses_every_event,
)
from facs_rig.core.timeline import timeline_summary
from facs_rig.io.curves_csv import write_sampled
from facs_rig.io.timeline_files import available_formats, load_timeline_argument, write_timeline
from facs_rig.io.timeline_json import parse_channel_list
from facs_rig.resources import load_vocabulary

_TIMELINE_HELP = ("timeline file (.json, .notes/.txt, .eaf, .csv) or a FACS code / expression "
                  "name for one held expression, e.g. '6+12D' or happiness")


def _add_timeline_argument(parser: argparse.ArgumentParser, name: str = "timeline") -> None:
    parser.add_argument(name, metavar="TIMELINE|CODE", help=_TIMELINE_HELP)
    parser.add_argument("--hold", type=hold_type, default=None, metavar="SECONDS",
                        help="apex hold of a code given instead of a file (default 2)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``timeline`` and its subcommands."""
    timeline = subparsers.add_parser(
        "timeline", help="show, convert and sample AU timelines",
        description="AU timelines: events with onset, apex and offset, read from JSON, AU notes, "
        "ELAN .eaf or per-frame CSV (see docs/timeline-formats.md).")
    commands = timeline.add_subparsers(dest="timeline_command", metavar="SUBCOMMAND")
    timeline.set_defaults(handler=lambda args: _missing_subcommand(timeline))

    show = commands.add_parser("show", help="list a timeline's events, duration and channels",
                               description="Print a timeline's duration, frame rate, channels "
                               "and events.")
    _add_timeline_argument(show)
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(handler=run_show)

    convert = commands.add_parser(
        "convert", help="convert a timeline between formats (by extension)",
        description="Read a timeline and write it in the format of FILE's extension: .json, "
        ".notes/.txt, .eaf or .csv (CSV samples the timeline at its fps, or --fps). "
        "'timeline convert IN OUT' (output as a second argument) works too.",
        epilog="example: facs-rig timeline convert beats.notes -o beats.eaf")
    _add_timeline_argument(convert, "input")
    convert.add_argument("positional_output", nargs="?", metavar="OUT", help=argparse.SUPPRESS)
    convert.add_argument("-o", "--output", metavar="FILE",
                         help="output file; format from its extension")
    add_fps_argument(convert, "set the timeline's frame rate (CSV output is sampled at it)")
    convert.add_argument("--timecode", action="store_true",
                         help="AU notes output: write beat times as SMPTE HH:MM:SS:FF at the "
                              "timeline's fps (where a time falls exactly on a frame)")
    convert.set_defaults(handler=run_convert)

    sample_parser = commands.add_parser(
        "sample", help="sample a timeline into per-frame AU curves",
        description="Sample a timeline at --fps into dense per-frame AU intensities and write "
        "them as CSV (time + one column per AU channel) or JSON.")
    _add_timeline_argument(sample_parser)
    add_fps_argument(sample_parser, "frames per second (default: the timeline's own, 30 for codes)")
    sample_parser.add_argument("--channels", metavar="LIST", default=None,
                               help="comma-separated columns in this order, e.g. AU01,AU12_L,AU12_R "
                                    "(default: the channels the timeline drives)")
    sample_parser.add_argument("-o", "--output", required=True, metavar="FILE",
                               help="output .csv or .json")
    sample_parser.set_defaults(handler=run_sample)


def _missing_subcommand(group: argparse.ArgumentParser) -> int:
    from facs_rig.cli import missing_subcommand

    return missing_subcommand(group)


def run_show(args: argparse.Namespace) -> int:
    """Print the summary of a timeline."""
    vocabulary = load_vocabulary()
    hold = code_hold(args.timeline, args.hold, vocabulary)
    timeline = load_timeline_argument(args.timeline, vocabulary, hold=hold)
    summary = timeline_summary(timeline)
    if args.json:
        print_json(summary)
        return 0
    frames = summary["frames"]
    frames_text = "too many" if frames is None else f"{frames:.3g}" if frames >= 10**9 else frames
    unit = "frame" if frames == 1 else "frames"
    from facs_rig.core.timeline import FPS_STATED_KEY
    from facs_rig.io.au_notes import HEADER_COMMENTS_KEY, MARK_COMMENTS_KEY

    metadata = dict(summary["metadata"])
    # Notes without an fps line: the rate is the default, which timecode cannot be typed against.
    default = (", the default rate: no fps line" if metadata.pop(FPS_STATED_KEY, None) is False
               else "")
    print(f"duration  {summary['duration']:g} s at {summary['fps']:g} fps ({frames_text} {unit})"
          f"{default}")
    print(f"events    {len(summary['events'])}")
    print(f"channels  {' '.join(summary['channels']) or '-'}")
    if summary["marks"]:
        print(f"marks     {len(summary['marks'])} (codes that drive nothing: kept, not played)")
    for key, value in metadata.items():
        if key == HEADER_COMMENTS_KEY and isinstance(value, dict):  # fps: the edit's rate
            text = "; ".join(f"{keyword}: {words}" for keyword, words in value.items())
        elif key == MARK_COMMENTS_KEY and isinstance(value, list) and all(
                isinstance(entry, dict) for entry in value):  # 5 s (50): she speaks
            text = "; ".join(
                f"{entry.get('start', 0):g} s ({'+'.join(map(str, entry.get('codes', ())))}): "
                + " / ".join(str(entry[word]) for word in ("note", "comment") if word in entry)
                for entry in value)
        else:
            text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        print(f"{key.replace('_', ' ')}: {text}")
    if summary["events"]:
        scale = vocabulary.scale()
        print()
        print_table(("start", "channel", "intensity", "onset", "apex", "offset", "end", "easing"),
                    [(f"{e['start']:.3f}", e["channel"],
                      # Enough digits for the value to lie in the letter's band (0.1003 (B)).
                      scale.value_text(e["intensity"], e["letter"])
                      + (f" ({e['letter']})" if e["letter"] else ""),
                      f"{e['onset']:.3f}", f"{e['apex']:.3f}", f"{e['offset']:.3f}",
                      f"{e['end']:.3f}", f"{e['ease_in']}/{e['ease_out']}")
                     for e in summary["events"]])
        _print_cut_events(timeline)
    if summary["marks"]:
        print()
        print_table(("start", "code", "name", "end"),
                    [(f"{m['start']:.3f}", str(m["code"]), vocabulary.action_unit(m["code"]).name,
                      f"{m['end']:.3f}") for m in summary["marks"]])
    return 0


def _print_cut_events(timeline) -> None:
    """Say which events an explicit duration hides or cuts: sampling, previews and bakes stop at
    the duration, so an event starting after it never shows (a 'duration 1' over a beat at 1.5 s
    gave a timeline of still frames and no word)."""
    duration = timeline.duration
    tolerance = 1e-9  # TIME_TOLERANCE: times within a nanosecond are the same instant
    # An event starting on the last frame with no onset shows its apex there.
    unseen = [e for e in timeline.events if e.intensity > 0 and (
        e.start > duration + tolerance or (e.start >= duration - tolerance and e.onset > 0))]
    cut = [e for e in timeline.events if e.start < duration - tolerance and e.end > duration + tolerance]
    if unseen:
        names = ", ".join(f"{e.channel.name} at {e.start:g} s" for e in unseen[:5])
        more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        print(f"note: {len(unseen)} event(s) start at or after the duration ({duration:g} s) and "
              f"never show: {names}{more}")
    if cut:
        print(f"note: {len(cut)} event(s) run past the duration ({duration:g} s) and are cut off there")


def run_convert(args: argparse.Namespace) -> int:
    """Read a timeline and write it in another format."""
    output = _convert_output(args)
    vocabulary = load_vocabulary()
    hold = code_hold(args.input, args.hold, vocabulary)
    source = file_input(args.input)
    check_output(output, inputs=(source,), suffixes=tuple(available_formats()), what="a timeline")
    timeline = load_timeline_argument(args.input, vocabulary, hold=hold)
    if args.fps is not None:
        timeline = timeline.with_fps(args.fps)
    if Path(output).suffix.lower() == ".csv":  # a CSV timeline is sampled per frame
        n_frames = check_frame_count(timeline.duration, timeline.fps, source)
        refuse_a_rate_that_misses_every_event(timeline, timeline.fps, n_frames, source,
                                              given=args.fps is not None,
                                              result="its curves would be all 0")
    write_timeline(timeline, output, vocabulary, timecode=args.timecode)
    marks = (f", {len(timeline.marks)} mark{'' if len(timeline.marks) == 1 else 's'}"
             if timeline.marks else "")
    print(f"wrote {output}: {len(timeline.events)} events{marks}, {timeline.duration:g} s")
    if timeline.marks and Path(output).suffix.lower() == ".csv":
        codes = ", ".join(sorted({str(mark.code) for mark in timeline.marks}, key=int))
        print(f"note: a CSV holds per-frame values: the {len(timeline.marks)} mark(s) of codes "
              f"that drive nothing ({codes}) are not in it; keep them in .json, .notes or .eaf")
    worded = [event for event in timeline.events
              if event.expression is not None or event.note is not None or event.comment is not None]
    from facs_rig.io.au_notes import HEADER_COMMENTS_KEY, MARK_COMMENTS_KEY

    lines_said = [what for key, what in ((HEADER_COMMENTS_KEY, "header lines"),
                                         (MARK_COMMENTS_KEY, "lines of marks"))
                  if timeline.metadata.get(key)]
    if (worded or "comment" in timeline.metadata or lines_said) \
            and Path(output).suffix.lower() == ".csv":
        beats = len({(event.start, event.expression, event.note, event.comment) for event in worded})
        lost = ([f"the words of {beats} beat(s) (expression names, comments)"] if beats else []) \
            + ([f"the comments on {' and '.join(lines_said)}"] if lines_said else []) \
            + (["the comments after the last beat"] if "comment" in timeline.metadata else [])
        print(f"note: a CSV holds per-frame values: {' and '.join(lost)} are not in it; keep "
              f"them in .json, .notes or .eaf")
    return 0


def _convert_output(args: argparse.Namespace) -> str:
    from facs_rig.cli import UsageError

    if args.output is not None and args.positional_output is not None:
        raise UsageError("timeline convert: give the output once, as -o FILE (or as a second "
                         "argument), not both")
    output = args.output if args.output is not None else args.positional_output
    if output is None:
        raise UsageError("timeline convert: the output is missing: add -o FILE")
    return output


def run_sample(args: argparse.Namespace) -> int:
    """Sample a timeline into AU curves and write them."""
    vocabulary = load_vocabulary()
    hold = code_hold(args.timeline, args.hold, vocabulary)
    source = file_input(args.timeline)
    check_output(args.output, inputs=(source,), suffixes=(".csv", ".json"), what="AU curves")
    timeline = load_timeline_argument(args.timeline, vocabulary, hold=hold)
    n_frames = check_frame_count(timeline.duration, args.fps or timeline.fps, source)
    refuse_a_rate_that_misses_every_event(timeline, args.fps or timeline.fps, n_frames, source,
                                          given=args.fps is not None,
                                          result="the curves would be all 0")
    channels = parse_channel_list(args.channels, vocabulary) if args.channels is not None else None
    # Written block by block: memory stays bounded however long the sampling is.
    n_frames, columns, fps = write_sampled(timeline, args.output, fps=args.fps, channels=channels)
    print(f"wrote {args.output}: {n_frames} frames x {len(columns)} channels at {fps:g} fps")
    return 0
