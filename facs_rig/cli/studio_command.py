"""``facs-rig studio``: serve the live browser workspace (facs_rig.studio) until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys

from facs_rig.cli._output import bounded
from facs_rig.errors import Terminated


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``studio``."""
    studio = subparsers.add_parser(
        "studio", help="a live browser workspace: AU notes, sliders, the face moving",
        description="Serve a local web page that shows the rig in 3-D, edits AU notes with live "
        "errors, poses the face by AU sliders, plays the timeline, explains targets and writes "
        "notes/JSON/ELAN/GLB/PNG/GIF/MP4 into the notes file's folder. Stop with Ctrl-C (exit 0); "
        "SIGTERM stops it the same way and exits 143. Unsaved edits are kept beside the notes.",
        epilog="examples: facs-rig studio; facs-rig studio beats.notes --open; "
        "facs-rig studio happiness --mesh face.glb --rig arkit")
    studio.add_argument("source", nargs="?", metavar="TIMELINE|CODE",
                        help="AU notes file to edit (created on save), another timeline file "
                        "(converted to NAME.notes), or a code; default: studio.notes here")
    studio.add_argument("--mesh", metavar="FACE.glb", help="glTF/GLB rig (default: the bundled head)")
    studio.add_argument("--rig", metavar="NAME|FILE",
                        help="rig profile (default: facs for the bundled head, else the best fit)")
    studio.add_argument("--compare", metavar="FACE.glb|default",
                        help="a second rig beside the first, driven by the same AUs "
                        "('default': the bundled head)")
    studio.add_argument("--compare-rig", metavar="NAME|FILE",
                        help="profile of the second rig (alone: the first mesh through this profile)")
    studio.add_argument("--port", type=bounded(int, low=0, high=65535), default=8765, metavar="PORT",
                        help="port (default 8765; 0 picks a free one)")
    studio.add_argument("--host", default="127.0.0.1", metavar="HOST",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    studio.add_argument("--open", action="store_true", help="open the page in the web browser")
    studio.set_defaults(handler=run_studio)


def run_studio(args: argparse.Namespace) -> int:
    """Serve the studio (:func:`facs_rig.studio.serve.serve_studio`), print the URL; Ctrl-C stops."""
    from facs_rig.studio.serve import is_loopback, serve_studio

    if not is_loopback(args.host):
        print(f"facs-rig: warning: listening on {args.host}: the studio page (which can write "
              f"files in the notes folder) will be reachable from other machines", file=sys.stderr)

    def ready(url: str) -> None:
        print(f"facs-rig studio: {url}  (Ctrl-C to stop)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    def loaded(session) -> None:
        beside = (f"; beside it {session.compare.rig.source}, rig {session.compare.driver.profile.name}"
                  if session.compare is not None else "")
        print(f"facs-rig studio: notes {session.notes_path}, {session.setup.rig.source}, "
              f"rig {session.profile.name}{beside}", flush=True)

    def stopped(server) -> None:
        # Called with further Ctrl-C/SIGTERM held: the edits are kept before the process can end.
        # Kept before anything is printed: after a hang-up (the terminal closed) printing can fail.
        kept = server.session.keep_unsaved() if server.session is not None else None
        print(f"facs-rig studio: stopped ({server.refused} malformed message(s) refused)",
              flush=True)
        if kept is not None:
            notes = server.session.notes_path
            elsewhere = ("" if kept.parent == notes.parent else
                         f"; the notes folder {notes.parent} could not be written any more")
            print(f"facs-rig studio: the notes had unsaved edits: kept in {kept} "
                  f"({notes.name} is as last saved{elsewhere})", flush=True)

    server = serve_studio(args.source, mesh=args.mesh, rig=args.rig, compare=args.compare,
                          compare_rig=args.compare_rig, host=args.host, port=args.port,
                          on_ready=ready, on_loaded=loaded, on_stopped=stopped)
    if server.stopped_by == signal.SIGTERM:
        # As every command stopped by SIGTERM (kill, timeout, a service manager): one line on
        # stderr, exit 143 (facs_rig.cli.main); Ctrl-C is the studio's usual stop, exit 0.
        raise Terminated
    return 0
