"""The ``facs-rig`` command line: argument parsing only; the work is done by the library.

Each command group lives in its own module under ``facs_rig.cli`` with a ``register(subparsers)``
function; :data:`COMMAND_MODULES` lists them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import re
import sys
from collections.abc import Sequence

from facs_rig import __version__
from facs_rig.errors import FacsRigError, OptionValueError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Command modules, each with ``register(subparsers)``; a handler returns the exit status.
COMMAND_MODULES = (
    "facs_rig.cli.vocabulary_commands",
    "facs_rig.cli.demo_command",
    "facs_rig.cli.preview_commands",
    "facs_rig.cli.timeline_commands",
    "facs_rig.cli.rig_commands",
    "facs_rig.cli.osc_commands",
    "facs_rig.cli.capture_commands",
    "facs_rig.cli.batch_command",
    "facs_rig.cli.gltf_commands",
    "facs_rig.cli.studio_command",
)

#: The commands each module of :data:`COMMAND_MODULES` registers (``rig`` is a group both
#: ``rig_commands`` and ``gltf_commands`` add to). :func:`main` imports only the modules of the
#: command it runs: the others pull in glTF, OSC and mixing code, 0.2 s of every start of a
#: one-hour ``code`` run. ``tests/test_cli_startup.py`` checks this table against the modules.
COMMANDS_OF_MODULE = {
    "facs_rig.cli.vocabulary_commands": ("aus", "parse", "scales", "expressions"),
    "facs_rig.cli.demo_command": ("demo",),
    "facs_rig.cli.preview_commands": ("preview", "sheet"),
    "facs_rig.cli.timeline_commands": ("timeline",),
    "facs_rig.cli.rig_commands": ("rigs", "mix", "explain", "rig"),
    "facs_rig.cli.osc_commands": ("stream", "bridge"),
    "facs_rig.cli.capture_commands": ("retarget", "code", "calibrate"),
    "facs_rig.cli.batch_command": ("batch",),
    "facs_rig.cli.gltf_commands": ("bake", "pose", "rig"),
    "facs_rig.cli.studio_command": ("studio",),
}


class UsageError(Exception):
    """A mistake in the command line itself: :func:`main` prints one line and returns 2.

    argparse's own errors (an unknown option, a value of the wrong type or out of its range) are
    raised as this; a handler raises it for what argparse cannot see (options that contradict
    each other, a malformed ``--neutral``), and :func:`main` adds the same ``--help`` hint.
    Errors found in files or data are :class:`~facs_rig.errors.FacsRigError` (exit 1).
    """


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # noqa: D102 (argparse API)
        raise UsageError(f"{_did_you_mean(message)} (see '{self.prog} --help')")


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>.*)' \(choose from (?P<choices>.*)\)$")


def _did_you_mean(message: str) -> str:
    """argparse's "invalid choice" message with difflib's nearest choice, when one is near."""
    match = _INVALID_CHOICE.search(message)
    if match is None:
        return message
    choices = [choice.strip().strip("'") for choice in match["choices"].split(",")]
    close = difflib.get_close_matches(match["given"], choices, n=1, cutoff=0.6)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def missing_subcommand(group: argparse.ArgumentParser) -> int:
    """Handler of a command group run without its subcommand (``facs-rig rig``): a usage error."""
    action = next(a for a in group._actions if isinstance(a, argparse._SubParsersAction))
    names = list(action.choices)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    raise UsageError(f"{group.prog}: choose a subcommand: {listed} (see '{group.prog} --help')")


_DEBUG_HELP = "show the full traceback on errors (for bug reports)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``facs-rig`` argument parser: every command, or only ``command`` when it is one
    (the modules of the other commands are then not imported)."""
    parser = _Parser(
        prog="facs-rig",
        description="Turn FACS Action Unit codes and timelines into animation for 3D face rigs.",
        epilog="Run 'facs-rig COMMAND --help' for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"facs-rig {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = [name for name in COMMAND_MODULES if command in COMMANDS_OF_MODULE.get(name, ())]
    for module_name in wanted or COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    _record_progs(parser)
    return parser


def _record_progs(parser: argparse.ArgumentParser, *, top: bool = True) -> None:
    """Give each (sub)command's namespace its ``prog``, for the hint of a handler's usage error,
    and each subcommand ``--debug``: `facs-rig preview 12 -o a.png --debug` was "unrecognized
    arguments", only the top level had it. Its default there is "not given", so that it does
    not undo a ``--debug`` before the command."""
    parser.set_defaults(usage_prog=parser.prog)
    if not top:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help=_DEBUG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                _record_progs(subparser, top=False)


def _command_in(arguments: list[str]) -> str | None:
    """The command of a ``facs-rig`` command line: its first argument that is not an option
    (the top-level options take no value)."""
    return next((argument for argument in arguments if not argument.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``facs-rig`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    0 on success, 1 for bad input found in files or data or for running out of memory (one
    ``facs-rig: error: ...`` line on stderr, no traceback), 2 for a mistake in the command line
    itself (see :class:`UsageError`), 130 when interrupted.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(arguments))
    extras: list[str] = []
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:
            # argparse would blame the top-level parser; the hint names the command that was run.
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} "
                             f"(see '{args.usage_prog} --help')")
    except UsageError as exc:
        message = str(exc)
        if message.startswith("unrecognized arguments") and _pieces_of_a_code(extras):
            # `facs-rig parse 6 + 12`: the shell split the code at its spaces.
            hint = "a FACS code with spaces must be quoted, e.g. '6 + 12' (or written 6+12)"
            message = message.replace(" (see '", f"; {hint} (see '", 1)
        print(f"facs-rig: error: {message}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version exit through argparse
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with _terminate_as_interrupt(), _warnings_as_notes():
            return int(args.handler(args) or 0)
    except FacsRigError as exc:
        if args.debug:
            raise
        print(f"facs-rig: error: {_one_line(str(exc))}", file=sys.stderr)
        # An option's value the input cannot take (--fps too low for the take) is a mistake
        # in the command line, found once the input was read.
        return 2 if isinstance(exc, OptionValueError) else 1
    except MemoryError:
        # numpy's _ArrayMemoryError included: one line, as for any bad input, not a traceback.
        if args.debug:
            raise
        print("facs-rig: error: out of memory: the input needs more memory than is available "
              "(a much shorter take, or a lower --fps, needs less)", file=sys.stderr)
        return 1
    except UsageError as exc:
        message = str(exc)
        if "--help')" not in message:
            message += f" (see '{args.usage_prog} --help')"
        print(f"facs-rig: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`facs-rig aus | head`): not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silences the flush at exit)
        return 0
    except OSError as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"facs-rig: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        from facs_rig.errors import Terminated

        if isinstance(exc, Terminated):
            print("facs-rig: terminated", file=sys.stderr)
            return 143
        print("facs-rig: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _warnings_as_notes():
    """Inside, a :class:`~facs_rig.errors.FacsRigWarning` (valid input that loses something,
    such as a notes ``duration`` cutting a beat off) is printed as one ``facs-rig: note:`` line
    on stderr, each time it is raised, as the commands' own notes are."""
    import warnings

    from facs_rig.errors import FacsRigWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, FacsRigWarning):
            print(f"facs-rig: note: {_one_line(str(message))}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", FacsRigWarning)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Inside, SIGTERM raises :class:`~facs_rig.errors.Terminated` in the main thread.

    SIGTERM is how ``kill``, ``timeout``, job schedulers and service managers stop a command, and
    its default action ends Python at once, running no ``finally``: a file being written
    atomically then stayed behind as its hidden ``.part`` file (``timeline sample`` of a long
    timeline left 139 MB after 8 s). Raised like Ctrl-C, it runs the same clean-up, and
    :func:`main` reports it as ``facs-rig: terminated``, exit 143 (128 + 15). Commands with their
    own handling (``batch``, ``stream``, ``bridge``) install theirs inside this one.
    """
    import signal
    import threading

    from facs_rig.errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def terminate(signum, frame) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pieces_of_a_code(extras: list[str]) -> bool:
    """Whether the arguments argparse did not take look like a FACS code the shell split at its
    spaces (``6 + 12`` leaves ``+ 12``), not like an option this command lacks (``--at 2``: a
    reviewer was told to quote a code for it, because ``6+12`` was elsewhere in the line)."""
    return (bool(extras) and any("+" in extra for extra in extras)
            and not any(extra.startswith("-") and not extra[1:2].isdigit() for extra in extras))


def _one_line(message: str) -> str:
    return " ".join(message.split()) if "\n" in message else message
