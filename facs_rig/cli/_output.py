"""Helpers shared by the CLI commands: printing, output-path checks and the shared limits."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from facs_rig.core.limits import fps_problem, frame_count_problem
from facs_rig.errors import (
    OutputError,
    TimelineError,
    UnsupportedFormatError,
    naming,  # noqa: F401 (the commands import it from here)
)
from facs_rig.io.atomic import refuse_input_as_output


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a left-aligned text table with a header rule.

    On a terminal, the last column (sources, descriptions) wraps at the terminal's width, its
    continuation lines under its start (`facs-rig expressions` was 546 characters wide); off a
    terminal each row stays one line, for grep and scripts.
    """
    import textwrap

    text_rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    terminal = _terminal_width()
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    last = widths[-1]
    if terminal is not None and indent + widths[-1] > terminal:
        last = max(20, terminal - indent - 1)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, [*widths[:-1], last])).rstrip()
    print(line)
    print("  ".join("-" * w for w in [*widths[:-1], last]))
    for row in text_rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths))
        pieces = (textwrap.wrap(row[-1], last, break_on_hyphens=False, break_long_words=False)
                  if last < widths[-1] and row[-1] else [row[-1]])
        print(f"{head}  {pieces[0]}".rstrip() if len(row) > 1 else pieces[0])
        for piece in pieces[1:]:
            print(" " * indent + piece)


def _terminal_width() -> int | None:
    """Columns of the terminal standard output writes to; None when it is not one."""
    import shutil

    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


# ---------------------------------------------------------------------------- output paths


def check_output(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    suffixes: Sequence[str] | None = None,
    what: str = "output",
) -> Path:
    """Check that ``path`` can be written, before any heavy input is read or anything rendered.

    Every command that writes a file calls this first, so a typo in ``-o`` costs nothing: the
    folder must exist and be writable, ``path`` must not be a folder, must not be one of the
    command's own ``inputs`` (``None`` entries, codes given instead of files, are skipped),
    must not be an existing raw capture (a Live Link Face, OpenFace, Py-Feat, MediaPipe or Face
    Cap CSV that facs-rig did not write: :func:`~facs_rig.io.captures.refuse_replacing_capture`)
    and must end in one of ``suffixes`` (case-insensitive; ``None``: any).

    Writability is what :func:`os.access` says for the folder, so it follows the real rules
    (read-only file systems, and root's right to write anywhere).

    Raises
    ------
    UnsupportedFormatError
        The extension is not one the command writes.
    OutputError
        The folder is missing, not a folder or not writable, or the output is an input or a
        raw capture.
    """
    target = Path(path)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        found = target.suffix or "(no extension)"
        raise UnsupportedFormatError(
            f"{target}: cannot write {found} as {what}; use {_choices(suffixes)}")
    folder = target.parent
    if not folder.exists():
        raise OutputError(f"{target}: cannot write, folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{target}: cannot write, {folder} is a file, not a folder")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write, it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{target}: cannot write, folder {folder} is not writable")
    refuse_input_as_output(target, *inputs)
    if target.is_file():
        from facs_rig.io.captures import refuse_replacing_capture

        refuse_replacing_capture(target)
    return target


def check_output_folder(path: str | os.PathLike[str]) -> Path:
    """Check that folder ``path`` exists and is writable, or can be created (for ``demo -o``)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: cannot write there, it is a file, not a folder")
    existing = folder
    while not existing.exists():  # the nearest ancestor that exists is where mkdir starts
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{folder}: cannot create the folder, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: cannot write, folder {existing} is not writable")
    return folder


def file_input(argument: str | None) -> str | None:
    """``argument`` when it names an existing file (a timeline, a rig), else ``None`` (a code).

    A text no file system takes as a name (a long code, past 255 bytes) is not a file.
    """
    try:
        return argument if argument is not None and Path(argument).is_file() else None
    except (OSError, ValueError):
        return None


def code_argument(text: str, command: str, timeline_hint: str, vocabulary=None):
    """The parsed code of a command that takes a code and no timeline (``mix``, ``explain``,
    ``pose``).

    A timeline file given instead, or a path that names nothing, is refused in words that say
    what the command takes and where a timeline goes (``timeline_hint``, e.g. "a timeline on
    the rig: facs-rig bake {file} -o face.glb"), by the rule that decides "code or timeline
    file" for every command (:func:`~facs_rig.io.timeline_files.timeline_file_argument`); the
    parser's words, "unrecognised term 'take.notes'", said neither.

    Raises
    ------
    CodeParseError
    """
    from facs_rig.errors import CodeParseError, TimelineFormatError
    from facs_rig.io.timeline_files import timeline_file_argument
    from facs_rig.resources import load_vocabulary

    vocabulary = vocabulary or load_vocabulary()
    try:
        timeline_file = timeline_file_argument(text, vocabulary) is not None
    except TimelineFormatError:  # looks like a path: a missing file or a folder
        timeline_file = True
    except TimelineError:  # neither: the parser's own message, with its "did you mean"
        timeline_file = False
    if timeline_file and len(text) <= 200:
        raise CodeParseError(f"{text}: {command} takes a FACS code or expression name, not a "
                             f"timeline file; {timeline_hint.format(file=text)}")
    return vocabulary.parse(text)


def _choices(suffixes: Sequence[str]) -> str:
    names = list(dict.fromkeys(s.lower() for s in suffixes))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# ---------------------------------------------------------------------------- shared limits


def bounded(kind: Callable[[str], float] = float, *, low: float | None = None,
            high: float | None = None, positive: bool = False,
            unit: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number of ``kind`` (``int`` or ``float``) in its range.

    Out of range (or NaN, or infinite) is an argparse error, so exit status 2 with the usage hint,
    like every other mistake in an argument's value (the rule: README "Errors"). ``low`` and
    ``high`` are inclusive; ``positive`` asks for more than 0; ``unit`` (e.g. "seconds") is
    named in the message.
    """
    units = f" {unit}" if unit else ""
    if low is not None and high is not None:
        wanted = f"must lie between {low:g} and {high:g}{units}"
    elif low is not None:
        wanted = f"must be at least {low:g}{units}"
    elif positive:
        wanted = f"must be a positive number of {unit}" if unit else "must be positive"
    else:
        wanted = f"must be at most {high:g}{units}" if high is not None else "must be finite"

    def parse(text: str) -> float:
        value = kind(text)  # a ValueError: argparse's "invalid int/float value: 'x'"
        if (not math.isfinite(value) or (low is not None and value < low)
                or (high is not None and value > high) or (positive and not value > 0)):
            raise argparse.ArgumentTypeError(f"{text}: {wanted}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")
    return parse


#: argparse ``type`` of every ``--hold`` (a code's apex hold): seconds, 0 or more.
hold_type = bounded(float, low=0, unit="seconds")

#: The apex hold of a code given where a timeline is expected, when ``--hold`` is not given.
DEFAULT_HOLD = 2.0


def code_hold(argument: str, hold: float | None, vocabulary=None) -> float:
    """The apex hold for ``argument`` (``TIMELINE|CODE``): ``--hold`` (``hold``, ``None`` when
    not given) or :data:`DEFAULT_HOLD`.

    ``--hold`` with a timeline file is a usage error: the file has its own timing, and
    ``timeline show beats.notes --hold 2`` ignored it silently while ``preview`` refused it.
    Deciding "code or file" only looks at the file system (no file is read), by the rule of
    :func:`~facs_rig.io.timeline_files.timeline_file_argument`.

    Raises
    ------
    UsageError
        ``--hold`` given with a timeline file.
    TimelineFormatError
        ``argument`` looks like a timeline file that does not exist.
    """
    if hold is None:
        return DEFAULT_HOLD
    from facs_rig.cli import UsageError
    from facs_rig.io.timeline_files import timeline_file_argument

    if timeline_file_argument(argument, vocabulary) is not None:
        raise UsageError(f"--hold applies to a code given instead of a timeline file; "
                         f"{argument} has its own timing")
    return hold


def fps_type(text: str) -> float:
    """argparse ``type`` of every ``--fps``: a number in ``(0, MAX_FPS]`` (a usage error if not)."""
    problem = fps_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return float(text)


def scale_type(text: str) -> str:
    """argparse ``type`` of every ``--scale``: a bundled intensity scale's name, any case.

    A misspelled name is a usage error with "did you mean" (``--scale hapfax`` was exit 1 with
    only the list), like every other misspelled choice.
    """
    import difflib

    from facs_rig.resources import load_vocabulary

    names = sorted(load_vocabulary().scales)
    by_lower = {name.lower(): name for name in names}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    raise argparse.ArgumentTypeError(f"unknown intensity scale {text!r}; known: "
                                     f"{', '.join(names)}{hint}")


def add_fps_argument(parser: argparse.ArgumentParser, help: str, **kwargs: Any) -> None:
    """Add ``--fps FPS`` with the shared range check, the same everywhere."""
    parser.add_argument("--fps", type=fps_type, metavar="FPS", help=help, **kwargs)


def check_frame_count(duration: float, fps: float, source: str | None) -> int:
    """Refuse ``duration`` seconds at ``fps`` past :data:`MAX_FRAMES` before sampling or rendering.

    ``source`` (a file name, or ``None`` for a code) is named in the message. Returns the frame
    count.
    """
    from facs_rig.core.timeline import frame_count

    n_frames = frame_count(duration, fps)
    problem = frame_count_problem(n_frames, what=f"{duration:g} s at {fps:g} fps")
    if problem:
        raise TimelineError(f"{source}: {problem}" if source else problem)
    return int(n_frames)


def note_unshown(rig, channels: Iterable[Any]) -> None:
    """Name on stderr what of the played channels the rig cannot show: the AUs it does not read
    and the coded sides it shows on both (``L1`` on ARKit's one ``browInnerUp``).

    The README's rule: an AU a rig cannot show is named, never dropped silently. Every command
    that plays codes or timelines on a rig (``bake``, ``pose``, ``preview``, ``sheet``,
    ``stream``) calls this once per run, before its output; ``mix`` and ``explain`` print the
    same notes (:meth:`facs_rig.core.rig.RigProfile.unshown_notes`) after their table.

    Parameters
    ----------
    rig : RigProfile
        The profile the command plays through (named or detected).
    channels : iterable of Channel
        Every channel the command plays (a timeline's :attr:`~facs_rig.core.timeline.Timeline.
        channels`, a code's ``Vocabulary.channel_values`` keys).
    """
    for note in rig.unshown_notes(channels):
        print(f"facs-rig: note: {note}", file=sys.stderr)


def played_channels(timeline) -> list[Any]:
    """The channels a timeline plays: its events' with an intensity above 0."""
    return [event.channel for event in timeline.events if event.intensity > 0]


def refuse_a_rate_that_misses_every_event(timeline, fps: float, n_frames: int,
                                          source: str | None, *, given: bool, result: str) -> None:
    """Refuse a frame rate at which no frame of the clip shows any of its events.

    ``stream 12 --hold 0.1 --fps 0.5`` sent one frame, frame 0 (neutral, before the onset), and
    said "1 frames in 0.00 s": the expression never played; ``timeline sample``, ``bake`` and
    ``preview`` at such a rate wrote all-zero curves, a neutral animation or a still clip without
    a word. Sampling the apex instead would not be the clip at that rate; the user asked for a
    rate that cannot show it, so it is refused with the rate that can. Only short grids are
    looked at: a long clip's frames cannot all miss its events unless they are far shorter
    than the frame interval.

    Parameters
    ----------
    timeline : Timeline
    fps : float
        The sampling rate.
    n_frames : int
        Frames the clip has at ``fps`` (:func:`check_frame_count`).
    source : str or None
        The timeline file, or None for a code.
    given : bool
        Whether ``fps`` is the ``--fps`` given (a usage error, exit 2, naming the file if any)
        rather than the timeline file's own rate (bad input, exit 1).
    result : str
        What the output would be instead ("only neutral would be sent").

    Raises
    ------
    UsageError, OptionValueError, TimelineError
    """
    import numpy as np

    from facs_rig.cli import UsageError
    from facs_rig.core.timeline import sample
    from facs_rig.errors import OptionValueError, TimelineError

    visible = [e for e in timeline.events if e.intensity > 0 and e.end > e.start]
    if not visible or n_frames > 10_000:
        return
    if np.any(sample(timeline, fps=fps).values > 0):
        return
    # An interval at most half the shortest event puts a frame inside each one.
    enough = 2 / min(e.end - e.start for e in visible)
    rate = f"--fps {fps:g}" if given else f"its fps {fps:g}"
    problem = (f"{rate} samples one frame every {1 / fps:g} s: none of the {n_frames} "
               f"frame(s) of the {timeline.duration:g} s clip shows its expression ({result}); "
               f"{'use' if given else 'give'} --fps {enough:.3g} or more")
    if source is None:
        raise UsageError(problem)
    if given:
        raise OptionValueError(f"{source}: {problem}")
    raise TimelineError(f"{source}: {problem}")
