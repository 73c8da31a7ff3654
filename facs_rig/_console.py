"""The ``facs-rig`` command's entry point (``[project.scripts]``, ``python -m facs_rig``).

It imports the command-line tool itself, so that a Ctrl-C pressed while numpy and the rest
import (a few tenths of a second) ends the command with one line and status 130, as a Ctrl-C
later does (:func:`facs_rig.cli.main`), not with a traceback of the import. ``facs_rig``'s own
``__init__`` imports nothing (its names load when first used), so this module is reached at
once.

SIGTERM is treated the same way around :func:`~facs_rig.cli.main`, which handles it inside a
command and restores the handler it found when the command returns: a SIGTERM while the tool
imports, or after the command has stopped and reported (a second ``kill`` 0.1 s after the first
reached a batch that had already written its report), ends the command with status 143, not
with Python's default action (killed by the signal: status -15, what a CI run saw once).
"""

from __future__ import annotations

import signal
import sys


def _terminated(signum, frame) -> None:
    from facs_rig.errors import Terminated

    raise Terminated


def run() -> int:
    """Import and run :func:`facs_rig.cli.main` on ``sys.argv``; its exit status."""
    status = None
    try:
        try:
            signal.signal(signal.SIGTERM, _terminated)
            from facs_rig.cli import main

            # main() handles a Ctrl-C in a command; this one also covers the parser's own imports
            # of the command modules, which come first.
            status = main()
        finally:
            # The command has ended: a stop signal from here to the exit changes nothing.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except KeyboardInterrupt as exc:
        if status is not None:  # the command had ended and said so: its status stands
            return status
        from facs_rig.errors import Terminated

        if isinstance(exc, Terminated):
            sys.stderr.write("facs-rig: terminated\n")
            return 143
        sys.stderr.write("facs-rig: interrupted\n")
        return 130
    return status
