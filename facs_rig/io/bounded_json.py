"""``json.loads`` with limits, for every JSON file facs-rig reads from a user.

The standard parser accepts inputs that later break their reader with an exception that is no
:class:`~facs_rig.errors.FacsRigError`:

* an integer of more than 4,300 digits raises ``ValueError: Exceeds the limit (4300 digits) for
  integer string conversion`` (CPython's integer string conversion limit, since 3.11);
* arrays or objects nested deeper than the interpreter's recursion limit raise
  ``RecursionError``, and shallower nesting can still exhaust the stack of a recursive reader
  further on (freezing rig metadata, comparing timelines).

:func:`loads` refuses both before the standard parser builds anything, as a
:class:`json.JSONDecodeError` at the offending line and column, so every reader's existing
handling of invalid JSON reports it with the file name.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["loads", "MAX_NUMBER_DIGITS", "MAX_DEPTH"]

#: Longest JSON number read (characters). A float64 needs at most 17 significant digits and a
#: 3-digit exponent; integers beyond float range (310 digits and more) are still read, so that
#: readers can name the field that holds one.
MAX_NUMBER_DIGITS = 1000
#: Deepest nesting of arrays and objects. facs-rig's files nest 4 levels; free ``metadata`` gets
#: room to spare while every recursive walk stays far from Python's recursion limit (1000).
MAX_DEPTH = 100

class _NumberTooLong(ValueError):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _bounded_number(convert):
    def parse(text: str):
        if len(text) > MAX_NUMBER_DIGITS:
            raise _NumberTooLong(text)
        return convert(text)
    return parse


_PARSE_INT = _bounded_number(int)
_PARSE_FLOAT = _bounded_number(float)


_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENING, _CLOSING = (ord("["), ord("{")), (ord("]"), ord("}"))


def _too_deep_at(text: str, limit: int) -> int | None:
    """Index of the first ``[`` or ``{`` nested deeper than ``limit``, else None.

    Brackets inside strings do not count; a quote preceded by an odd run of backslashes is
    escaped. Vectorised over the structural characters only (a Python loop over them took three
    times as long as parsing the JSON). Malformed text is left to the JSON parser to report.
    """
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    is_open = (raw == _OPENING[0]) | (raw == _OPENING[1])
    if np.count_nonzero(is_open) <= limit:
        return None  # not enough brackets to nest that deep
    structural = np.flatnonzero(is_open | (raw == _QUOTE) | (raw == _BACKSLASH)
                                | (raw == _CLOSING[0]) | (raw == _CLOSING[1]))
    chars = raw[structural]
    backslash = chars == _BACKSLASH
    # follows[k]: entry k sits right after a backslash in the text.
    follows = np.zeros(len(chars), dtype=bool)
    follows[1:] = (structural[1:] == structural[:-1] + 1) & backslash[:-1]
    # Length of the run of backslashes ending at each entry (0 for other characters).
    count = np.cumsum(backslash)
    run_start = backslash & ~follows
    base = np.maximum.accumulate(np.where(run_start, count - 1, 0))
    run = np.where(backslash, count - base, 0)
    escaped = np.zeros(len(chars), dtype=bool)
    escaped[1:] = follows[1:] & (run[:-1] % 2 == 1)
    quote = (chars == _QUOTE) & ~escaped
    inside = np.cumsum(quote) % 2 == 1  # for a bracket: an odd number of quotes before it
    opening = (chars == _OPENING[0]) | (chars == _OPENING[1])
    closing = (chars == _CLOSING[0]) | (chars == _CLOSING[1])
    step = np.where(inside, 0, opening.astype(np.int64) - closing.astype(np.int64))
    too_deep = np.flatnonzero(np.cumsum(step) > limit)
    if too_deep.size == 0:
        return None
    byte_offset = int(structural[too_deep[0]])
    return len(raw[:byte_offset].tobytes().decode("utf-8", "surrogatepass"))


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text like :func:`json.loads`, refusing numbers and nesting beyond the limits.

    Raises
    ------
    json.JSONDecodeError
        For invalid JSON, a number longer than :data:`MAX_NUMBER_DIGITS` characters, or arrays
        and objects nested deeper than ``max_depth``; ``lineno`` and ``colno`` locate it.
    """
    too_deep = _too_deep_at(text, max_depth)
    if too_deep is not None:
        raise json.JSONDecodeError(f"arrays or objects nested deeper than {max_depth} levels",
                                   text, too_deep)
    try:
        return json.loads(text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT)
    except _NumberTooLong as exc:
        shown = exc.text[:20] + "..."
        raise json.JSONDecodeError(
            f"a number of {len(exc.text)} characters ({shown}); facs-rig reads numbers of at most "
            f"{MAX_NUMBER_DIGITS}", text, max(0, text.find(exc.text))) from None
