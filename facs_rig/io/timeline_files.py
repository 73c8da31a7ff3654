"""Read and write AU timelines in any supported format, chosen by the file's extension.

=================  ============================================================
extension          format
=================  ============================================================
``.json``          native JSON, schema ``facs_rig.timeline/1`` (:mod:`.timeline_json`)
``.notes``/``.txt``  AU notes, one beat per line (:mod:`.au_notes`)
``.eaf``           ELAN annotation file, through pympi-ling (:mod:`.eaf`)
``.csv``           per-frame AU intensities (:mod:`.curves_csv`)
=================  ============================================================

:func:`load_timeline_argument` is what every command that takes a timeline calls: the argument
is a file, or else a FACS code string or expression name for a single held expression;
:func:`timeline_file_argument` is its rule for which of the two, shared by every command.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from facs_rig.core.timeline import DEFAULT_FPS, Timeline, timeline_from_code
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import CodeParseError, TimelineError, TimelineFormatError, UnsupportedFormatError
from facs_rig.resources import load_vocabulary

__all__ = ["read_timeline", "write_timeline", "load_timeline_argument", "timeline_file_argument",
           "available_formats", "read_text_file"]

_FORMATS = {
    ".json": "json",
    ".notes": "notes",
    ".txt": "notes",
    ".eaf": "eaf",
    ".csv": "csv",
}


def available_formats() -> dict[str, str]:
    """Extension -> format name of every timeline format (each is both read and written)."""
    return dict(_FORMATS)


def _format_of(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    try:
        return _FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise UnsupportedFormatError(
            f"{path}: no timeline format for extension {suffix or '(none)'!r}; known: {known}"
        ) from None


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The text of a file: UTF-8 (a leading BOM is dropped), or UTF-16 with its BOM (Excel's
    "Unicode Text", :mod:`facs_rig.io.csv_dialect`); unreadable files raise
    TimelineFormatError."""
    from facs_rig.io.csv_dialect import bom_encoding, decode_text, error_line

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TimelineFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return decode_text(data)
    except UnicodeDecodeError as exc:
        # The line and column, as every other error names them: a notes file typed in an editor
        # that saved Latin-1 has one 'é' in a comment, and a byte offset alone does not find it.
        line, column = error_line(data, exc.start)
        encoding = bom_encoding(data)[0]
        if encoding != "utf-8":
            raise TimelineFormatError(f"{path}, line {line}, column {column}: not UTF-16 text "
                                      f"(its byte-order mark says UTF-16; bytes at offset "
                                      f"{exc.start})") from None
        raise TimelineFormatError(f"{path}, line {line}, column {column}: not UTF-8 text (byte "
                                  f"0x{data[exc.start]:02x} at offset {exc.start}): save it as "
                                  f"UTF-8 (is this a timeline file?)") from None


def _read_json(path: Path, vocabulary: Vocabulary) -> Timeline:
    from facs_rig.io.timeline_json import timeline_from_json

    return timeline_from_json(read_text_file(path), vocabulary, source=str(path))


def _write_json(timeline: Timeline, path: Path, vocabulary: Vocabulary) -> None:
    from facs_rig.io.atomic import write_text_atomic
    from facs_rig.io.timeline_json import timeline_to_json

    write_text_atomic(path, timeline_to_json(timeline, vocabulary))


# Format -> (module, reader, writer). Modules are imported on use, so one format's dependency
# (pympi for ELAN) is only needed when that format is used.
_ADAPTERS = {
    "json": (__name__, "_read_json", "_write_json"),
    "notes": ("facs_rig.io.au_notes", "read_au_notes", "write_au_notes"),
    "eaf": ("facs_rig.io.eaf", "read_eaf", "write_eaf"),
    "csv": ("facs_rig.io.curves_csv", "read_timeline_csv", "write_timeline_csv"),
}


def _adapter(kind: str, role: int) -> Callable[..., object]:
    module_name, *functions = _ADAPTERS[kind]
    return getattr(importlib.import_module(module_name), functions[role])


def read_timeline(path: str | os.PathLike[str], vocabulary: Vocabulary | None = None) -> Timeline:
    """Read a timeline file; the format comes from the extension.

    Parameters
    ----------
    path : str or PathLike
        ``.json``, ``.notes``/``.txt``, ``.eaf`` or ``.csv``.
    vocabulary : Vocabulary or None
        Codes, expressions and intensity scale (default: the bundled vocabulary).

    Raises
    ------
    UnsupportedFormatError
        For an unknown extension.
    TimelineFormatError
        For an unreadable or malformed file; the message names the file, the line (or JSON
        path, ELAN tier) and the problem.
    """
    kind = _format_of(path)
    vocabulary = vocabulary or load_vocabulary()
    path = Path(path)
    if not path.is_file():
        raise TimelineFormatError(f"{path}: cannot read: "
                                  f"{'is a folder' if path.is_dir() else 'no such file'}")
    return _adapter(kind, 0)(path, vocabulary)


def write_timeline(timeline: Timeline, path: str | os.PathLike[str],
                   vocabulary: Vocabulary | None = None, *, timecode: bool = False) -> None:
    """Write a timeline in the format of the extension, atomically (a temporary file, then rename).

    The CSV format samples the timeline at its own ``fps``; the other formats keep events.
    ``timecode`` writes AU notes beat times as SMPTE timecode where exact (AU notes only).

    Raises
    ------
    UnsupportedFormatError
        For an unknown extension.
    OutputError
        When the file cannot be written (any previous file is left as it was).
    """
    kind = _format_of(path)
    if timecode and kind != "notes":
        raise UnsupportedFormatError(f"{path}: timecode output applies to AU notes (.notes, .txt)")
    options = {"timecode": True} if timecode else {}
    _adapter(kind, 1)(timeline, Path(path), vocabulary or load_vocabulary(), **options)


def _looks_like_path(argument: str) -> bool:
    return (os.sep in argument or "/" in argument
            or Path(argument).suffix.lower() in _FORMATS)


def _is(test: Callable[[Path], bool], path: Path) -> bool:
    """``path.is_file()`` or ``is_dir()``, False for a text no file system takes as a name: a
    long code (``12+12+...``, past 255 bytes) raised "File name too long" in ``timeline show``."""
    try:
        return test(path)
    except (OSError, ValueError):
        return False


def timeline_file_argument(argument: str, vocabulary: Vocabulary | None = None) -> Path | None:
    """The timeline file a command-line argument names, or ``None`` when it is a FACS code.

    The one rule of every command that takes ``TIMELINE|CODE`` (``preview``, ``bake``,
    ``stream``, ``timeline``, ``studio``; ``pose``, ``mix`` and ``explain`` use it to refuse a
    timeline): an existing file with a timeline extension is a file; else text the vocabulary
    parses is a code (a code wins over a stray file of the same name without such an extension);
    else an existing file is a file (reading it names the extensions); else text that looks like
    a path (a ``/``, or a timeline extension) is a missing file. Only the file system's metadata
    is looked at, no file is read.

    Raises
    ------
    TimelineFormatError
        The argument looks like a path, and names a folder or nothing.
    TimelineError
        It is neither a file nor a valid code (the message says both, with the parser's words).
    """
    vocabulary = vocabulary or load_vocabulary()
    path = Path(argument)
    if path.suffix.lower() in _FORMATS and _is(Path.is_file, path):
        return path
    try:
        vocabulary.parse(argument)
    except CodeParseError as exc:
        code_error = exc
    else:
        return None
    if _is(Path.is_file, path):
        return path
    if _is(Path.is_dir, path):
        raise TimelineFormatError(f"{argument}: is a folder, not a timeline file")
    if _looks_like_path(argument):
        raise TimelineFormatError(f"{argument}: no such timeline file")
    raise TimelineError(f"{argument!r} is neither a timeline file nor a FACS code: {code_error}")


def load_timeline_argument(argument: str, vocabulary: Vocabulary | None = None, *,
                           hold: float = 2.0, fps: float = DEFAULT_FPS) -> Timeline:
    """A timeline from a command-line argument: a timeline file, or a code for one held expression.

    Which of the two it is, is :func:`timeline_file_argument`'s rule.

    Parameters
    ----------
    argument : str
        A path to an existing timeline file (any format of :func:`read_timeline`), or a FACS
        code string (``6+12D``) or expression name (``happiness``).
    vocabulary : Vocabulary or None
        Default: the bundled vocabulary.
    hold, fps : float
        Apex hold in seconds and frame rate of the held expression (see
        :func:`~facs_rig.core.timeline.timeline_from_code`).

    Raises
    ------
    TimelineFormatError
        When the argument names a file that does not exist or cannot be read.
    TimelineError
        When it is neither a file nor a valid code (the message says both).
    """
    vocabulary = vocabulary or load_vocabulary()
    path = timeline_file_argument(argument, vocabulary)
    if path is not None:
        return read_timeline(path, vocabulary)  # an unknown extension: the choices are named
    return timeline_from_code(vocabulary.parse(argument), vocabulary, hold=hold, fps=fps)
