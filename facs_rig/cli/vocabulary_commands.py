"""``facs-rig aus``, ``facs-rig parse`` and ``facs-rig expressions``: the FACS vocabulary."""

from __future__ import annotations

import argparse
import re

from facs_rig.cli._output import print_json, print_table, scale_type
from facs_rig.core.notation import format_code
from facs_rig.resources import load_vocabulary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the vocabulary commands."""
    aus = subparsers.add_parser("aus", help="list every FACS code with its name, region and muscles",
                                description="The FACS 2002 catalogue: action units, action "
                                "descriptors, head and eye positions, visibility and behaviour codes.")
    aus.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    aus.set_defaults(handler=run_aus)

    parse = subparsers.add_parser("parse", help="parse a FACS code or expression name",
                                  description="Parse a FACS code string such as '1+2+5B+26' or a "
                                  "named expression such as 'surprise+25', and print its canonical "
                                  "form with each AU's name, side and intensity.")
    parse.add_argument("code", metavar="CODE", help="FACS code string or expression name")
    parse.add_argument("--scale", type=scale_type, default=None, metavar="SCALE",
                       help="intensity scale for letter values (default: the vocabulary's default, "
                            "facshuman)")
    parse.add_argument("--json", action="store_true", help="print the result as JSON")
    parse.set_defaults(handler=run_parse)

    scales = subparsers.add_parser("scales", help="list the intensity scales (letters A-E as numbers)",
                                   description="The intensity scales that turn FACS letters A-E "
                                   "into numbers and back; the default is marked.")
    scales.add_argument("--json", action="store_true", help="print them as JSON")
    scales.set_defaults(handler=run_scales)

    expressions = subparsers.add_parser("expressions", help="list the named expressions",
                                        description="Named expressions accepted wherever a code is.")
    expressions.add_argument("--json", action="store_true", help="print them as JSON")
    expressions.set_defaults(handler=run_expressions)


def run_aus(args: argparse.Namespace) -> int:
    """Print the FACS catalogue."""
    vocabulary = load_vocabulary()
    units = sorted(vocabulary.action_units.values(), key=lambda unit: unit.code)
    if args.json:
        print_json([{"au": u.code, "name": u.name, "kind": u.kind, "region": u.region,
                     "unilateral": u.unilateral, "muscles": list(u.muscles)} for u in units])
        return 0
    print_table(("AU", "name", "kind", "region", "L/R", "muscles"),
                [(u.code, u.name, u.kind.replace("_", " "), u.region or "-",
                  "yes" if u.unilateral else "no", "; ".join(u.muscles) or "-") for u in units])
    return 0


def run_parse(args: argparse.Namespace) -> int:
    """Print the canonical form of a code and a table of its AUs."""
    vocabulary = load_vocabulary()
    scale = vocabulary.scale(args.scale)
    code = vocabulary.parse(args.code)
    rows = [(term, vocabulary.action_units[term.au]) for term in code]
    if args.json:
        print_json({"code": format_code(code), "aus": [
            {"au": term.au, "name": unit.name, "side": term.side, "intensity": term.intensity,
             "value": round(vocabulary.term_value(term, scale.name), 6)} for term, unit in rows]})
        return 0
    print(f"{format_code(code)}")
    if rows:
        print()
        print_table(("AU", "name", "side", "intensity", "value"),
                    [(term.au, unit.name, term.side or "both", term.intensity or "-",
                      f"{vocabulary.term_value(term, scale.name):.2f}" if unit.drives else "-")
                     for term, unit in rows])
        print(f"\nvalues on the {scale.name} scale; an AU without a letter counts as "
              f"{scale.unscored} ({scale.letter_to_value(None):.2f})"
              + ("" if all(vocabulary.scores_intensity(term.au) for term in code) else
                 f", a blink or wink (AU45, AU46) as E ({scale.letter_to_value('E'):.2f}): "
                 "FACS scores them only present"))
    return 0


def run_expressions(args: argparse.Namespace) -> int:
    """Print the named expressions."""
    vocabulary = load_vocabulary()
    expressions = list(vocabulary.expressions.values())
    if args.json:
        print_json([{"name": e.name, "code": format_code(vocabulary.parse(e.code)),
                     "source": e.source} for e in expressions])
        return 0
    print_table(("name", "code", "source"),
                [(e.name, format_code(vocabulary.parse(e.code)), e.source) for e in expressions])
    return 0


def run_scales(args: argparse.Namespace) -> int:
    """Print each intensity scale's letter values and band edges."""
    vocabulary = load_vocabulary()
    scales = [vocabulary.scale(name) for name in vocabulary.scales]
    if args.json:
        print_json([{"name": s.name, "default": s.name == vocabulary.default_scale,
                     "maximum": s.maximum, "minimum": s.minimum, "values": dict(s.values),
                     "upper": dict(s.upper), "unscored": s.unscored, "source": s.source}
                    for s in scales])
        return 0
    letters = ("A", "B", "C", "D", "E")
    print_table(("scale", *letters, "absent at or below", "no letter", "source"),
                [(s.name + (" (default)" if s.name == vocabulary.default_scale else ""),
                  *(f"{s.values[k]:g} (<= {s.upper[k]:g})" for k in letters),
                  f"{s.minimum:g}", s.unscored, re.split(r"[:.] ", s.source)[0])
                 for s in scales])
    return 0
