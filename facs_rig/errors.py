"""The facs-rig exception hierarchy.

Every error facs-rig raises on purpose derives from :class:`FacsRigError`, so a caller can catch
one class. Each subclass also derives from the builtin it refines (``ValueError``, ``KeyError``,
``OSError``), so ``except ValueError`` keeps working. Messages name the offending value and where
it came from (file, line, column, JSON path), because the CLI prints them as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "FacsRigError",
    "CodeParseError",
    "VocabularyError",
    "TimelineError",
    "TimelineFormatError",
    "FacsRuleError",
    "RigValidationError",
    "RigError",
    "UnknownRigError",
    "GltfError",
    "UnsupportedGltfError",
    "CaptureFormatError",
    "OscError",
    "UnsupportedFormatError",
    "CalibrationError",
    "MissingDependencyError",
    "OutputError",
    "OptionValueError",
    "FacsRigWarning",
    "naming",
    "QUOTE_LIMIT",
    "cut",
    "quoted",
    "shown",
]


class FacsRigError(Exception):
    """Root of every exception raised by facs-rig on purpose."""


class CodeParseError(FacsRigError, ValueError):
    """A FACS code string such as ``1+2+5B+26`` could not be parsed.

    Attributes
    ----------
    text : str
        The whole string that was being parsed.
    column : int
        1-based column of the offending token (0 when the problem concerns the whole string).
    """

    def __init__(self, message: str, *, text: str = "", column: int = 0):
        self.text = text
        self.column = column
        super().__init__(message)


class VocabularyError(FacsRigError, ValueError):
    """A bundled or user-supplied FACS data file (catalogue, scales, expressions) is malformed."""


class TimelineError(FacsRigError, ValueError):
    """An AU timeline or event is inconsistent (negative duration, apex before onset, ...)."""


class TimelineFormatError(TimelineError):
    """A timeline file could not be read; the message names the file and line or JSON path."""


class FacsRuleError(TimelineError):
    """A timeline built in Python breaks a FACS rule its file readers apply
    (:func:`facs_rig.core.timeline.check_timeline`): an event on an AU FACS codes on one side
    only without a side (an unsided ``AU46``), or separate events FACS cannot score at one
    moment (``51`` beside ``52``); the message names them and the rule. Also a live pose (the
    studio's sliders, ``FaceStream.push``) on a channel no reader takes, in the readers' words
    (:func:`facs_rig.core.timeline.check_channel`)."""


class RigError(FacsRigError, ValueError):
    """A rig profile cannot be used as asked (unknown target, wrong channel count, ...)."""


class UnknownRigError(RigError, KeyError):
    """No bundled rig profile has this name and no file exists at this path."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it a plain sentence.
        return str(self.args[0]) if self.args else ""


class RigValidationError(RigError):
    """A rig profile is malformed. ``issues`` lists every problem found, each with its path."""

    #: Problems the message quotes; the rest are counted ("... and 12 more"). A profile
    #: without targets once gave a 3,747-character line of 52 problems.
    SHOWN = 5

    def __init__(self, issues, *, source: str = "rig profile"):
        self.issues = list(issues)
        self.source = source
        if len(self.issues) == 1:
            super().__init__(f"{source}: {self.issues[0]}")
            return
        lines = "; ".join(str(issue) for issue in self.issues[:self.SHOWN])
        more = len(self.issues) - self.SHOWN
        if more > 0:
            lines += f"; ... and {more} more (facs-rig rig validate FILE lists them all)"
        super().__init__(f"{source}: {len(self.issues)} problems: {lines}")


class GltfError(FacsRigError, ValueError):
    """A glTF or GLB file is malformed, truncated or hostile."""


class UnsupportedGltfError(GltfError):
    """A glTF file needs an extension facs-rig does not decode (meshopt, Draco, ...)."""


class CaptureFormatError(FacsRigError, ValueError):
    """A capture file (OpenFace, Py-Feat, Live Link Face, MediaPipe, Face Cap) is malformed."""


class OscError(FacsRigError, ValueError):
    """An OSC address, packet or endpoint is malformed."""


class UnsupportedFormatError(FacsRigError, ValueError):
    """No reader or writer exists for a file's extension or the requested format."""


class CalibrationError(FacsRigError, ValueError):
    """Coded takes that cannot be calibrated on (too few, nothing in common)."""


class MissingDependencyError(FacsRigError, ImportError):
    """An optional dependency is needed; the message names the pip extra to install."""


class OutputError(FacsRigError, OSError):
    """An output file could not be written (the previous file, if any, is left untouched)."""


class OptionValueError(FacsRigError, ValueError):
    """An option's value that the input cannot take, seen only once the input is read
    (``--fps 0.001`` for a 24 s take: not one frame after the first). The CLI exits 2 for it,
    as for any other mistake in the command line."""


class Terminated(KeyboardInterrupt):
    """A SIGTERM stopped a command, which cleans up as after Ctrl-C: reported as
    ``facs-rig: terminated`` with exit 143 (128 + 15), not as a Ctrl-C."""


class FacsRigWarning(UserWarning):
    """Lossy but valid situations, such as weights clipped to their range."""


@contextlib.contextmanager
def naming(source: str | None) -> Iterator[None]:
    """Put ``source`` (a file) before a timeline error (such as the frame limit) that lacks it."""
    try:
        yield
    except TimelineError as exc:
        if source is None or source in str(exc):
            raise
        raise TimelineError(f"{source}: {exc}") from None


#: Longest text quoted whole in an error message; longer text is cut, so the message stays one
#: readable line whatever the input (a 150 KB key once made a 300 KB report).
QUOTE_LIMIT = 60


def cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text``, cut to ``limit`` characters with the full length said when longer."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quoted(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr(text)``, cut to ``limit`` characters with the full length said when longer."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def shown(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A value of any type for an error message: :func:`quoted` text, a cut ``repr`` otherwise."""
    if isinstance(value, str):
        return quoted(value, limit)
    try:
        text = repr(value)
    except ValueError:  # an int over 4,300 digits (CPython's int-to-text limit); in lists too
        return "a number of over 4300 digits"
    return cut(text, limit)
