"""The ``facs-rig`` command's entry point (``[project.scripts]``, ``python -m facs_rig``).

It imports the command-line tool itself, so that a Ctrl-C pressed while numpy and the rest
import (a few tenths of a second) ends the command with one line and status 130, as a Ctrl-C
later does (:func:`facs_rig.cli.main`), not with a traceback of the import. ``facs_rig``'s own
``__init__`` imports nothing (its names load when first used), so this module is reached at
once.
"""

from __future__ import annotations

import sys


def run() -> int:
    """Import and run :func:`facs_rig.cli.main` on ``sys.argv``; its exit status."""
    try:
        from facs_rig.cli import main

        # main() handles a Ctrl-C in a command; this one also covers the parser's own imports
        # of the command modules, which come first.
        return main()
    except KeyboardInterrupt:
        sys.stderr.write("facs-rig: interrupted\n")
        return 130
