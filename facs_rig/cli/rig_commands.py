"""``facs-rig rigs``, ``mix``, ``explain``, ``rig show`` and ``rig validate``: rig profiles and mixing.

The ``rig`` command group is shared: other modules add subcommands to it with
:func:`rig_subcommand` (``rig detect`` comes from :mod:`facs_rig.cli.gltf_commands`), in whichever
order the modules register.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from facs_rig.cli._output import note_unshown, print_json, print_table, scale_type
from facs_rig.core.channels import Channel
from facs_rig.core.mixing import explain, mix_frame
from facs_rig.core.notation import format_code
from facs_rig.core.rig import RigProfile, describe_rig
from facs_rig.core.solve import read_back_facts
from facs_rig.errors import FacsRigError
from facs_rig.io.rig_files import check_rig_file, list_rigs, load_rig
from facs_rig.resources import load_vocabulary

__all__ = ["register", "rig_subcommand"]

_RIG_HELP = "rig profile: a bundled name (arkit, metahuman, facs, unified, vrm) or a profile .json"


def rig_subcommand(subparsers: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    """Add ``facs-rig rig NAME``, creating the ``rig`` group if no module has yet.

    Parameters
    ----------
    subparsers
        The top-level subparsers given to a command module's ``register``.
    name : str
        Subcommand name (``show``, ``validate``, ``detect``).
    **kwargs
        Passed to ``add_parser`` (``help``, ``description``, ...).
    """
    group = subparsers.choices.get("rig")
    if group is None:
        group = subparsers.add_parser(
            "rig", help="inspect and check rig profiles and rigs",
            description="Rig profile commands: show a profile, validate a profile file, detect "
            "which profile a glTF rig fits.")
        group.set_defaults(handler=lambda args: _missing_subcommand(group))
    commands = next((action for action in group._actions
                     if isinstance(action, argparse._SubParsersAction)), None)
    if commands is None:
        commands = group.add_subparsers(dest="rig_command", metavar="SUBCOMMAND",
                                        parser_class=type(group))
    return commands.add_parser(name, **kwargs)


def _missing_subcommand(group: argparse.ArgumentParser) -> int:
    from facs_rig.cli import missing_subcommand

    return missing_subcommand(group)


def _add_held_code_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", metavar="CODE", help="FACS code or expression name, e.g. '6+12D'")
    parser.add_argument("--rig", default="arkit", metavar="NAME|FILE",
                        help=_RIG_HELP + " (default arkit)")
    parser.add_argument("--scale", type=scale_type, default=None, metavar="SCALE",
                        help="intensity scale for A-E (default: facshuman)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rigs``, ``mix``, ``explain`` and the ``rig show`` / ``rig validate`` subcommands."""
    rigs = subparsers.add_parser("rigs", help="list the bundled rig profiles",
                                 description="The rig profiles bundled with facs-rig (rigs/*.json).")
    rigs.add_argument("--json", action="store_true", help="print the list as JSON")
    rigs.set_defaults(handler=run_rigs)

    mix = subparsers.add_parser(
        "mix", help="mix a held FACS code into a rig's target weights",
        description="Parse a FACS code or expression name, hold it at its intensities and print "
        "the rig's target weights after combination-aware mixing. AUs the rig cannot show are "
        "named (on stderr with --json), and so is a coded side the rig shows on both sides.")
    _add_held_code_arguments(mix)
    mix.add_argument("--json", action="store_true",
                     help="print one JSON object: every target of the rig -> weight")
    mix.add_argument("--all", action="store_true", help="list zero weights too (text output)")
    mix.set_defaults(handler=run_mix)

    why = subparsers.add_parser(
        "explain", help="show how each target's weight of a held code is reached",
        description="For every non-zero target: each AU's contribution (input x weight), the "
        "combine mode, and each rule that fired (exclusive chains, correctives, suppression, "
        "clamps).")
    _add_held_code_arguments(why)
    why.add_argument("--json", action="store_true", help="print the explanation as JSON")
    why.set_defaults(handler=run_explain)

    # `rig list` is what a user of `rig show` types first; it is `rigs` under the group's name.
    listing = rig_subcommand(subparsers, "list", help="list the bundled rig profiles (as 'rigs')",
                             description="The rig profiles bundled with facs-rig (rigs/*.json).")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(handler=run_rigs)

    show = rig_subcommand(subparsers, "show", help="show a rig profile: targets, mappings, rules, "
                          "AUs it cannot show",
                          description="Describe a bundled or user rig profile. Every FACS code "
                          "that moves the face but that the profile cannot show is listed, with "
                          "the reason.")
    show.add_argument("rig", metavar="NAME|FILE", help=_RIG_HELP)
    show.add_argument("--json", action="store_true", help="print the description as JSON")
    show.add_argument("--tracker", metavar="NAME|FILE", default=None,
                      help="also list the AUs a capture from this tracker profile cannot show "
                      "through the rig (every shape expressing them is not live on the tracker)")
    show.set_defaults(handler=run_show)

    copy = rig_subcommand(
        subparsers, "copy", help="write a bundled rig profile's file, to start your own from",
        description="Write the bundled profile's .json file as it is (the start of a profile "
        "for your own rig; see 'Adding a rig' in the rig profile format: rigs/README.md). An "
        "existing file is never replaced.",
        epilog="example: facs-rig rig copy arkit -o my_rig.json")
    copy.add_argument("rig", metavar="NAME", help="a bundled profile: arkit, metahuman, facs, "
                      "unified or vrm (facs-rig rigs lists them)")
    copy.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="the new profile .json file (must not exist)")
    copy.set_defaults(handler=run_copy)

    validate = rig_subcommand(subparsers, "validate", help="check rig profile files; list every problem",
                              description="Validate rig profile files against the format of "
                              "rigs/README.md. Every problem is listed with its JSON path; the "
                              "exit status is 1 when any file has a problem.")
    validate.add_argument("files", nargs="+", metavar="FILE", help="profile .json files")
    validate.add_argument("--json", action="store_true",
                          help="print one JSON list: per file whether it is valid and each "
                               "problem with its JSON path")
    validate.set_defaults(handler=run_validate)


# --------------------------------------------------------------------------------------------


def run_rigs(args: argparse.Namespace) -> int:
    """List the bundled profiles."""
    vocabulary = load_vocabulary()
    rows = []
    for bundled in list_rigs():
        rig = load_rig(bundled.name)
        rows.append({"name": rig.name, "targets": len(rig.targets), "aus": len(rig.aus),
                     "rules": len(rig.rules), "cannot_show": len(rig.unshown_aus(vocabulary)),
                     "description": rig.description, "path": str(bundled.path)})
    if args.json:
        print_json(rows)
        return 0
    print_table(("rig", "targets", "AUs", "rules", "description"),
                [(r["name"], r["targets"], r["aus"], r["rules"], _first_sentence(r["description"]))
                 for r in rows])
    return 0


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].rstrip(".")
    return head if len(head) <= 90 else head[:87] + "..."


def _held_values(code_text: str, scale: str | None, command: str) -> tuple[str, dict[Channel, float]]:
    from facs_rig.cli._output import code_argument

    vocabulary = load_vocabulary()
    code = code_argument(code_text, command, "a timeline's per-frame weights: facs-rig bake {file} "
                         "-o weights.csv", vocabulary)
    return format_code(code), vocabulary.channel_values(code, scale)


def _unshown_note(rig: RigProfile, values: Mapping[Channel, float]) -> str | None:
    """``mix``'s and ``explain``'s notes (one per line), or None: the same notes
    :func:`~facs_rig.cli._output.note_unshown` gives the commands that play a code on a rig."""
    return "\n".join(rig.unshown_notes(values)) or None


def run_mix(args: argparse.Namespace) -> int:
    """Print the weights of a held code."""
    rig = load_rig(args.rig)
    canonical, values = _held_values(args.code, args.scale, "mix")
    weights = mix_frame(values, rig)
    note = _unshown_note(rig, values)
    if args.json:
        print_json({name: round(float(w), 6) for name, w in zip(rig.targets, weights)})
        if note:
            note_unshown(rig, values)
        return 0
    print(f"{canonical} on {rig.name}")
    rows = [(name, _shown(w)) for name, w in zip(rig.targets, weights) if args.all or w != 0]
    if rows:
        print()
        print_table(("target", "weight"), rows)
    else:
        print("(every target is 0)")
    if note:
        print(f"\n{note}")
    return 0


def _shown(value: float) -> str:
    """A number of ``explain`` to three decimals, from its value to six as ``--json`` gives it.

    The mixer's weights are float32 and its terms float64, so one number reached two ways
    read apart on a half: ``happiness`` on ``arkit`` printed ``eyeSquintLeft = 0.137`` above
    its one term ``0.550 x 0.25 = 0.138`` (0.1374999881 and 0.1375000030, both 0.1375 to six
    decimals).
    """
    return f"{round(float(value), 6):.3f}"


def _unrounded_sum(target, kept: list) -> str:
    """For a ``sum`` whose printed terms do not add up to its printed total (0.122375 three
    times prints 0.122 thrice under 0.367), the terms to six decimals, so the reader sees why.

    Each term keeps its own rounding: shifting a thousandth onto one of them (largest
    remainder) printed ``0.550 x 0.2225 = 0.123``, a product that is false on its face (a
    second reader's).
    """
    if target.combine != "sum" or len(kept) < 2:
        return ""
    printed = sum(round(float(_shown(c.value)) * 1000) for c in kept)
    if printed == round(float(_shown(target.combined)) * 1000):
        return ""
    terms = " + ".join(f"{round(float(c.value), 6):g}" for c in kept)
    return f"   (the terms unrounded: {terms})"


def run_explain(args: argparse.Namespace) -> int:
    """Print how each non-zero target is reached."""
    rig = load_rig(args.rig)
    canonical, values = _held_values(args.code, args.scale, "explain")
    result = explain(values, rig)
    if args.json:
        print_json({"code": canonical, **result.to_dict()})
        note_unshown(rig, values)  # on stderr, as mix --json does
        return 0
    print(f"{canonical} on {rig.name}")
    for target in result.targets:
        print(f"\n{target.target} = {_shown(target.value)}   (combine: {target.combine})")
        shown = {k: _shown(c.value) for k, c in enumerate(target.contributions)}
        kept = [k for k, c in enumerate(target.contributions) if c.kept]
        for k, c in enumerate(target.contributions):
            au = Channel(c.au).name + (f" [{c.side} entry]" if c.side else "")
            shaped = " after curve" if c.curve else ""
            # A chain member whose contribution a larger one contains is still scored (25+26):
            # its movement of this target does not add, it is not "dropped".
            within = "   within the chain's largest (not added)" if not c.kept else ""
            # A fade complete before the AU's full value shows its ratio: 25 at 0.55 with
            # without_full_at 0.1 is "x (1 - min(1, AU25 0.550 / 0.1))", which is 0.
            faded = "".join(f" x (1 - {g.name} {_shown(b)})" if c.without_full_at == 1.0
                            else f" x (1 - min(1, {g.name} {_shown(b)} / {c.without_full_at:g}))"
                            for g, b in c.without)
            print(f"  {au:18} {_shown(c.input)}{shaped} x {c.weight:g}{faded} = {shown[k]}{within}")
        if len(target.contributions) > 1:
            print(f"  combined ({target.combine}) = {_shown(target.combined)}"
                  f"{_unrounded_sum(target, [target.contributions[k] for k in kept])}")
        for rule in target.rules:
            change = (f"   {_shown(rule.before)} -> {_shown(rule.after)}"
                      if rule.before != rule.after else "")
            print(f"  {rule.kind}: {rule.description}{change}")
    if not result.targets:
        print("\n(every target is 0)")
    note = _unshown_note(rig, values)
    if note:
        print(f"\n{note}")
    return 0


def _below_knee(entry: dict) -> str:
    """``rig show``'s cell for an AU with in-between curves: the mix its other targets are
    below the curves' knee (``0.3 AU20_L + ... (up to 0.5)``), or empty."""
    if "below_knee_mix" not in entry:
        return ""
    mix = " + ".join(f"{term['times']:g} {term['au']}" for term in entry["below_knee_mix"])
    return f"{mix} (up to {entry['knee']:g})"


def _read_back_why(entry: dict) -> str:
    """``rig show``'s short why of one ``read_back_as`` entry."""
    if "shapes" in entry:
        shapes = entry["shapes"]
        one = "one shape" if len(shapes) == 1 else "the same shapes"
        return f"{one} for both sides ({', '.join(shapes)})"
    if entry["read_as"] == "nothing":
        return "alone it moves no target (rules)"
    return "same targets, same proportions"


def run_show(args: argparse.Namespace) -> int:
    """Describe a profile."""
    rig = load_rig(args.rig)
    info = describe_rig(rig, load_vocabulary())
    info.update(read_back_facts(rig))
    tracker = None
    if getattr(args, "tracker", None):
        from facs_rig.io.captures.trackers import load_tracker, unreadable_aus

        tracker = load_tracker(args.tracker)
        info["not_read_on_tracker"] = {
            "tracker": tracker.name,
            "aus": [{"au": Channel(au).name, "shapes": list(shapes)}
                    for au, shapes in unreadable_aus(tracker, rig).items()]}
    if args.json:
        print_json(info)
        return 0
    print(f"{info['name']}: {info['description']}")
    print(f"\n{len(rig.targets)} targets (default combine: {info['default_combine']}):")
    print_table(("target", "combine", "range"),
                [(t["name"], t["combine"], f"{t['range'][0]:g}..{t['range'][1]:g}")
                 for t in info["targets"]])
    print("\nAU mappings:")
    rows = []
    for entry in info["action_units"]:
        for i, drive in enumerate(entry["drives"]):
            rows.append((entry["au"] if i == 0 else "", entry["name"] if i == 0 else "",
                         drive["target"], f"{drive['weight']:g}", drive["side"] or "any",
                         ", ".join(filter(None, ["curve" if drive["curve"] else "",
                                                 "without " + "+".join(drive["without"])
                                                 + (f" (gone at {drive['without_full_at']:g})"
                                                    if "without_full_at" in drive else "")
                                                 if drive["without"] else ""]))))
    print_table(("AU", "name", "target", "weight", "side", ""), rows)
    if info["rules"]:
        print("\nrules:")
        for i, rule in enumerate(info["rules"]):
            fields = ", ".join(f"{k}={v}" for k, v in rule.items() if k not in ("rule", "notes"))
            print(f"  [{i}] {rule['rule']}: {fields}")
    if rig.node_motions:
        print("\nnode motion (nodes the targets turn; bake writes rotation channels):")
        print_table(("target", "node", "turn", "pivot / translation"), [
            (m.target, m.node,
             f"{m.degrees:+g} deg about {list(m.axis)}" if m.axis is not None else "",
             f"pivot {list(m.pivot)}" if m.pivot is not None else
             (f"moves {list(m.translation)}" if m.translation is not None else "its own origin"))
            for m in rig.node_motions])
    print(f"\nAUs {rig.name} cannot show ({len(info['cannot_show'])}):")
    print_table(("AU", "name", "why"),
                [(c["au"], c["name"], c["reason"]) for c in info["cannot_show"]])
    if info["read_back_as"]:
        print(f"\nAUs a capture solved through {rig.name} reads back as another "
              f"({len(info['read_back_as'])}):")
        print_table(("AU", "read as", "why"),
                    [(f["au"], f["read_as"], _read_back_why(f)) for f in info["read_back_as"]])
    if info["told_apart_by_prior"]:
        print(f"\nAUs whose targets are a mix of other AUs' ({len(info['told_apart_by_prior'])}): "
              f"the solve's sparsity prior reads the single AU, so the mix in these proportions "
              f"reads back as it:")
        print_table(("AU", "same targets as"),
                    [(f["au"], " + ".join(f"{m['times']:g} {m['au']}" for m in f["mix"]))
                     for f in info["told_apart_by_prior"]])
    if info["nonlinear_in_solve"]:
        print(f"\nAUs with in-between curves the linear solve reads at full weight "
              f"({len(info['nonlinear_in_solve'])}):")
        print_table(("AU", "targets", "below the knee, reads as"),
                    [(f["au"], ", ".join(f["targets"]), _below_knee(f))
                     for f in info["nonlinear_in_solve"]])
    if info["faded_in_solve"]:
        print(f"\nAUs with shapes other AUs fade out, which the linear solve leaves out "
              f"({len(info['faded_in_solve'])}): a capture of the AU alone reads it, but where "
              f"the solve reads it as another AU these shapes read back as:")
        print_table(("AU", "targets", "without", "read back as"),
                    [(f["au"], ", ".join(f["targets"]), "+".join(f["without"]),
                      " + ".join(f["read_as"]) or "nothing") for f in info["faded_in_solve"]])
    if tracker is not None:
        unread = info["not_read_on_tracker"]["aus"]
        print(f"\nAUs a {tracker.name} capture cannot show through {rig.name} ({len(unread)}): "
              f"every shape expressing them is not live on the tracker")
        print_table(("AU", "shapes (not live)"), [(u["au"], ", ".join(u["shapes"]))
                                                  for u in unread])
    if info["undriven_targets"]:
        print(f"\ntargets no AU drives: {', '.join(info['undriven_targets'])}")
    sources = info["metadata"].get("sources", [])
    if sources:
        print("\nsources:")
        for source in sources:
            print(f"  - {source}")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    """Write a bundled profile's file to a new file."""
    from facs_rig.cli._output import check_output
    from facs_rig.io.rig_files import copy_bundled_rig

    check_output(args.output, suffixes=(".json",), what="a rig profile")
    target = copy_bundled_rig(args.rig, args.output)
    name = load_rig(args.rig).name
    print(f"wrote {target}: the bundled {name} profile. Give it your own \"name\", list your "
          f"rig's targets and map the AUs to them (rigs/README.md, 'Adding a rig'), then "
          f"facs-rig rig validate {target}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Validate profile files; 1 when any has a problem."""
    status = 0
    results = []
    for file in args.files:
        try:
            issues = check_rig_file(file)
        except FacsRigError as exc:  # unreadable: report it and go on to the next file
            status = 1
            results.append({"file": file, "valid": False,
                            "problems": [{"path": "", "message": str(exc)}]})
            if not args.json:
                print(exc)
            continue
        results.append({"file": file, "valid": not issues,
                        "problems": [{"path": i.path, "message": i.message} for i in issues]})
        if args.json:
            status = status or int(bool(issues))
            continue
        if issues:
            status = 1
            print(f"{file}: {len(issues)} problem(s)")
            for issue in issues:
                print(f"  {issue}")
        else:
            print(f"{file}: valid")
    if args.json:
        print_json(results)
    return status
