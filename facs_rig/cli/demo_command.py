"""``facs-rig demo``: the main job on the bundled default, with no arguments and no network."""

from __future__ import annotations

import argparse
import sys

from facs_rig.cli._output import (
    add_fps_argument,
    bounded,
    check_frame_count,
    check_output_folder,
    refuse_a_rate_that_misses_every_event,
)
from facs_rig.resources import load_vocabulary

DEMO_FOLDER = "facs-rig-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    demo = subparsers.add_parser(
        "demo",
        help="bake the seven basic expressions onto the default head (GLB, PNG, GIF)",
        description=f"Build a timeline of the seven basic expressions, mix it with the facs rig "
        f"profile, bake it onto the bundled default head and render it: writes "
        f"{DEMO_FOLDER}/ with an animated GLB, a contact sheet PNG, a GIF and the "
        f"timeline. No arguments, no network.",
    )
    demo.add_argument(
        "-o", "--output", default=DEMO_FOLDER, metavar="FOLDER",
        help=f"output folder, made with any missing parents (default {DEMO_FOLDER})",
    )
    demo.add_argument(
        "--size",
        type=bounded(int, low=16, high=2048, unit="pixels"),
        default=360,
        metavar="PIXELS",
        help="size of each face in the GIF and the sheet (default 360)",
    )
    add_fps_argument(demo, "GIF frame rate (default 15)", default=15.0)
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Write the demo files and say what they are and what to do next."""
    from facs_rig.cli._progress import ProgressBar
    from facs_rig.render.demo import demo_timeline
    from facs_rig.render.demo import run_demo as write_demo
    from facs_rig.render.encoders import check_clip

    bars: dict[str, ProgressBar] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = ProgressBar(total, sys.stderr, label=stage)
        bar(done)

    vocabulary = load_vocabulary()
    timeline = demo_timeline(vocabulary)
    n_frames = check_frame_count(timeline.duration, args.fps, None)
    # Before the folder is made: --fps 0.002 wrote a one-frame GIF of the neutral face.
    refuse_a_rate_that_misses_every_event(timeline, args.fps, n_frames, None, given=True,
                                          result="the clip would show the neutral face only")
    folder = check_output_folder(args.output)
    check_clip(folder / "expressions.gif", args.fps, width=args.size, height=args.size,
               n_frames=n_frames)
    files = write_demo(args.output, vocabulary, size=args.size, fps=args.fps, progress=progress)
    for bar in bars.values():
        bar.finish()
    print(f"facs-rig demo: the seven basic expressions on the default head ({files.duration:.1f} s timeline)")
    for name, code in files.beats:
        print(f"  {name:<10} {code}")
    print("wrote:")
    print(
        f"  {files.glb}   animated glTF (open in any glTF viewer, e.g. Blender or gltf-viewer.donmccurdy.com)"
    )
    print(f"  {files.sheet}   contact sheet, AU code under each face")
    print(f"  {files.gif}   the clip")
    print(f"  {files.timeline}   the timeline (edit it and re-run facs-rig preview)")
    if files.kept is not None:
        print(f"  {files.kept}   your edited timeline, kept (it was {files.timeline.name})")
    print("stream the same timeline live to a game engine (VMC, e.g. VSeeFace / Warudo / Unity EVMC4U):")
    print(f"  facs-rig stream {files.timeline} --rig arkit --to 127.0.0.1:39539")
    return 0
