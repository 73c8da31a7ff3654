"""``facs-rig demo``: the main job on the bundled default, with no arguments and no network."""

from __future__ import annotations

import argparse

from facs_rig.cli._output import print_table
from facs_rig.core.notation import format_code
from facs_rig.resources import load_vocabulary

BASIC_EXPRESSIONS = ("happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    demo = subparsers.add_parser("demo", help="run the bundled demo (the seven basic expressions)",
                                 description="Parse and show the seven basic expressions.")
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Print the seven basic expressions with their canonical codes and AU names."""
    vocabulary = load_vocabulary()
    rows = []
    for name in BASIC_EXPRESSIONS:
        code = vocabulary.parse(name)
        names = ", ".join(vocabulary.action_units[t.au].name for t in code)
        rows.append((name, format_code(code), names))
    print_table(("expression", "code", "action units"), rows)
    return 0
