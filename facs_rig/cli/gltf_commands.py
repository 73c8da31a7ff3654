"""``facs-rig bake``, ``facs-rig pose`` and ``facs-rig rig detect``: the glTF bridge commands.

``rig detect`` belongs to the ``rig`` command group of :mod:`facs_rig.cli.rig_commands`; it is added
with that module's :func:`~facs_rig.cli.rig_commands.rig_subcommand` hook.
"""

from __future__ import annotations

import argparse
import math

from facs_rig.cli._output import (
    add_fps_argument,
    check_frame_count,
    check_output,
    code_argument,
    code_hold,
    file_input,
    hold_type,
    note_unshown,
    played_channels,
    print_json,
    print_table,
    refuse_a_rate_that_misses_every_event,
)
from facs_rig.io.gltf import read_gltf
from facs_rig.io.gltf.matching import TargetMatch, detect_rigs, match_rig, require_morph_targets
from facs_rig.io.gltf.pipeline import bake_timeline, default_animation_name, pose_code
from facs_rig.io.gltf.writer import DEFAULT_TOLERANCE
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_files import load_timeline_argument
from facs_rig.resources import load_vocabulary

_RIG_HELP = "rig profile: a bundled name (arkit, facs, ...) or a profile .json; default: detected"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bake`` and ``pose``, and ``detect`` to the ``rig`` group."""
    bake = subparsers.add_parser(
        "bake", help="bake a timeline onto a glTF face rig (animated copy, or weights CSV)",
        description="Sample a timeline (or one held code), mix it through a rig profile and write "
        "a copy of the glTF rig whose first animation (the one Blender makes active and three.js "
        "plays) drives the morph-target weights of every node whose mesh has matched targets; "
        "everything else in the file is kept, its other animations only with --keep-animations. "
        "-o weights.csv writes the per-frame weights instead. Keyframes that linear interpolation reproduces "
        "within --tolerance are dropped.")
    bake.add_argument("timeline", metavar="TIMELINE|CODE",
                      help="timeline file (.json, .notes/.txt, .eaf, .csv) or a FACS code / "
                      "expression name, e.g. '6+12D' or happiness")
    bake.add_argument("--mesh", default=None, metavar="FACE.glb",
                      help="the rig: .glb or .gltf (default: the bundled default head)")
    bake.add_argument("--rig", metavar="NAME|FILE", default=None, help=_RIG_HELP)
    add_fps_argument(bake, "frames per second (default: the timeline's own, 30 for codes)")
    bake.add_argument("--hold", type=hold_type, default=None, metavar="SECONDS",
                      help="apex hold of a code given instead of a file (default 2)")
    bake.add_argument("--step", action="store_true", help="STEP interpolation instead of LINEAR")
    bake.add_argument("--tolerance", type=_tolerance, default=DEFAULT_TOLERANCE, metavar="WEIGHT",
                      help=f"keyframe reduction tolerance in weight units (default "
                      f"{DEFAULT_TOLERANCE:g})")
    bake.add_argument("--no-reduce", action="store_true", help="keep a key at every frame")
    bake.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="output .glb, .gltf (+ .bin) or .csv")
    bake.add_argument("--name", type=_animation_name, default=None, metavar="NAME",
                      help="name of the animation (default: the timeline's title, else its file "
                      "name, else the code)")
    bake.add_argument("--keep-animations", action="store_true",
                      help="keep the file's other animations after the new one (default: the "
                      "copy holds only the new one; an earlier facs-rig animation is always "
                      "replaced)")
    bake.set_defaults(handler=run_bake)

    pose = subparsers.add_parser(
        "pose", help="write a glTF face rig posed with a FACS code (.glb, .gltf, .obj, .ply)",
        description="Mix a FACS code (or expression name) through a rig profile, deform every "
        "morph-target mesh of the rig and write the posed meshes. OBJ and PLY keep the vertex "
        "order (meshes one after another, node transforms applied).")
    pose.add_argument("code", metavar="CODE", help="FACS code or expression name, e.g. '6+12D'")
    pose.add_argument("--mesh", default=None, metavar="FACE.glb",
                      help="the rig: .glb or .gltf (default: the bundled default head, as bake)")
    pose.add_argument("--rig", metavar="NAME|FILE", default=None, help=_RIG_HELP)
    pose.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="output .glb, .gltf, .obj or .ply")
    pose.set_defaults(handler=run_pose)

    add_detect_command(subparsers)


def _tolerance(text: str) -> float:
    """``--tolerance``: a finite weight difference >= 0 (NaN would silently keep every key)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _animation_name(text: str) -> str:
    """``--name``: any non-blank text (runs of white space become one space)."""
    name = " ".join(text.split())
    if not name:
        raise argparse.ArgumentTypeError("must not be empty")
    return name


def add_detect_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rig detect`` through the rig work's shared-group hook
    (:func:`facs_rig.cli.rig_commands.rig_subcommand`), whatever the registration order."""
    from facs_rig.cli.rig_commands import rig_subcommand

    detect = rig_subcommand(
        subparsers, "detect", help="name the bundled rig profile that fits a glTF file best",
        description="Read a glTF/GLB file's morph-target names and rank the bundled rig profiles "
        "by how many of them they match (names compared whatever their convention) and say how many "
        "of those a FACS code drives. With --rig, "
        "report how that profile matches instead.")
    detect.add_argument("file", metavar="FILE", help="a .glb or .gltf rig")
    detect.add_argument("--rig", metavar="NAME|FILE", default=None,
                        help="report the match of this profile instead of ranking")
    detect.add_argument("--json", action="store_true", help="print the report as JSON")
    detect.set_defaults(handler=run_detect)


def _match_line(match: TargetMatch) -> str:
    # "matches", not "drives": a matched target the profile maps no FACS code to (ARKit's
    # mouthLeft) stays at 0, so the driven ones are counted apart.
    return (f"rig {match.profile.name}: matches {len(match.column_of_target)} of the file's "
            f"{match.n_file_targets} targets, {match.n_driven_file_targets} of them driven by "
            f"FACS codes; {len(match.names.matched)} of its {len(match.profile.targets)} targets "
            f"found ({match.profile_coverage:.0%})")


def _unmatched_lines(match: TargetMatch) -> list[str]:
    lines = []
    if match.names.unused:
        lines.append(f"file targets left at 0: {', '.join(match.names.unused)}")
    if match.undriven_file_targets:
        lines.append(f"file targets matched but driven by no FACS code of the profile (left at "
                     f"0): {', '.join(match.undriven_file_targets)}")
    if match.missing_targets:
        lines.append(f"profile targets not in the file: {', '.join(match.missing_targets)}")
    note = match.node_motion_note()
    if note:
        lines.append(note)
    return lines


def run_bake(args: argparse.Namespace) -> int:
    """Bake a timeline onto a rig file."""
    vocabulary = load_vocabulary()
    hold = code_hold(args.timeline, args.hold, vocabulary)
    check_output(args.output, inputs=(file_input(args.timeline), args.mesh),
                 suffixes=(".glb", ".gltf", ".csv"), what="a bake")
    timeline = load_timeline_argument(args.timeline, vocabulary, hold=hold)
    n_frames = check_frame_count(timeline.duration, args.fps or timeline.fps,
                                 file_input(args.timeline))
    refuse_a_rate_that_misses_every_event(timeline, args.fps or timeline.fps, n_frames,
                                          file_input(args.timeline), given=args.fps is not None,
                                          result="the animation would hold the neutral face")
    name = args.name or default_animation_name(timeline, args.timeline)
    report = bake_timeline(timeline, args.mesh, args.output, rig=args.rig, fps=args.fps,
                           step=args.step, tolerance=None if args.no_reduce else args.tolerance,
                           animation_name=name, keep_animations=args.keep_animations)
    note_unshown(report.match.profile, played_channels(timeline))
    if args.mesh is None:
        print("rig file: the bundled default head (--mesh FACE.glb for another)")
    print(_profile_line(report.match, report.detected))
    for line in _unmatched_lines(report.match):
        print(line)
    result = report.result
    if result is None:
        print(f"wrote {report.output}: {report.n_frames} frames at {report.fps:g} fps")
        return 0
    print(f"wrote {report.output}: weights of {len(result.nodes)} node(s) "
          f"({', '.join(dict.fromkeys(result.meshes))}), {report.n_frames} frames at "
          f"{report.fps:g} fps")
    if result.moved_nodes:
        moved = set(result.moved_node_names)
        # Named by what turns them (it said "gaze" for a profile's head nod).
        targets = list(dict.fromkeys(m.target for m in report.match.profile.node_motions
                                     if m.node in moved))
        named = ", ".join(targets[:4]) + (f", ... ({len(targets)} in all)" if len(targets) > 4
                                          else "")
        print(f"rotation of {len(result.moved_nodes)} node(s) ({', '.join(result.moved_node_names)}): "
              f"the profile's node motion for {named}, in the same animation")
    print(_animations_line(result))
    if args.no_reduce:
        print(f"keyframes: {result.keys_in} (reduction off), {result.animation_bytes_out:,} bytes")
    else:
        print(f"keyframe reduction: {result.keys_in} -> {result.keys_out} keys, animation data "
              f"{result.animation_bytes_in:,} -> {result.animation_bytes_out:,} bytes "
              f"({result.saving:.0%} smaller)")
    return 0


def _profile_line(match: TargetMatch, detected: bool) -> str:
    """The match, saying whether the profile was detected (no --rig) or given."""
    if detected:
        return (f"detected rig profile {_match_line(match).removeprefix('rig ')} "
                f"(--rig NAME to choose another)")
    return f"{_match_line(match)} (given)"


def _animations_line(result) -> str:
    """Which animation the file now starts with, and what became of the others."""
    line = f"animation {result.animation_name!r} is the file's first (tools play it first)"
    if result.animations_replaced:
        line += f"; replaced {result.animations_replaced} earlier facs-rig animation(s)"
    if result.animations_dropped:
        line += (f"; left out the file's {result.animations_dropped} other animation(s) "
                 f"(--keep-animations keeps them)")
    if result.animations_kept:
        line += f"; kept {result.animations_kept} other animation(s) after it"
    return line


def run_pose(args: argparse.Namespace) -> int:
    """Pose a rig with a code."""
    from facs_rig.io.default_head import default_head_path

    mesh = args.mesh if args.mesh is not None else default_head_path()
    check_output(args.output, inputs=(mesh,), suffixes=(".glb", ".gltf", ".obj", ".ply"),
                 what="a posed mesh")
    vocabulary = load_vocabulary()
    # `pose missing.json` said "unrecognised term 'missing.json'".
    code = code_argument(args.code, "pose", "a timeline on the rig: facs-rig bake {file} -o "
                         "face.glb", vocabulary)
    match = pose_code(args.code, mesh, args.output, vocabulary, rig=args.rig)
    note_unshown(match.profile, vocabulary.channel_values(code))
    if args.mesh is None:
        print("rig file: the bundled default head (--mesh FACE.glb for another)")
    print(_profile_line(match, args.rig is None))
    print(f"wrote {args.output}")
    return 0


def run_detect(args: argparse.Namespace) -> int:
    """Rank the bundled profiles against a glTF file (or report one profile's match)."""
    rig = read_gltf(args.file, geometry=False)
    require_morph_targets(rig)
    if args.rig is not None:
        match = match_rig(load_rig(args.rig), rig)
        if args.json:
            print_json(match.to_dict())
            return 0
        print(_match_line(match))
        for line in _unmatched_lines(match):
            print(line)
        return 0
    ranked = detect_rigs(rig)
    if args.json:
        print_json({"file": str(rig.path), "targets": list(rig.target_names),
                    "best": ranked[0].profile.name if ranked and ranked[0].column_of_target
                    else None,
                    "profiles": [m.to_dict() for m in ranked]})
        return 0
    if ranked and ranked[0].column_of_target:
        best = ranked[0]
        print(f"best fit: {best.profile.name} (matches {len(best.column_of_target)}/"
              f"{best.n_file_targets} file targets, {best.n_driven_file_targets} of them driven; "
              f"{best.profile_coverage:.0%} of the profile)")
    else:
        print(f"no bundled profile matches any of the file's {len(rig.target_names)} targets")
    print_table(("rig", "file targets matched", "driven", "profile targets found"),
                [(m.profile.name, f"{len(m.column_of_target)}/{m.n_file_targets}",
                  m.n_driven_file_targets, f"{len(m.names.matched)}/{len(m.profile.targets)} "
                  f"({m.profile_coverage:.0%})") for m in ranked])
    return 0
