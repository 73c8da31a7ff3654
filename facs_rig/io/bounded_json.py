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
import re
from typing import Any

__all__ = ["loads", "MAX_NUMBER_DIGITS", "MAX_DEPTH"]

#: Longest JSON number read (characters). A float64 needs at most 17 significant digits and a
#: 3-digit exponent; integers beyond float range (310 digits and more) are still read, so that
#: readers can name the field that holds one.
MAX_NUMBER_DIGITS = 1000
#: Deepest nesting of arrays and objects. facs-rig's files nest 4 levels; free ``metadata`` gets
#: room to spare while every recursive walk stays far from Python's recursion limit (1000).
MAX_DEPTH = 100

# The characters that change nesting or string state; everything else is skipped by the regex
# engine, so the scan below runs one Python step per structural character.
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


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


def _too_deep_at(text: str, limit: int) -> int | None:
    """Index of the first ``[`` or ``{`` nested deeper than ``limit``, else None (linear time).

    Brackets inside strings do not count; a backslash in a string escapes the next character.
    Malformed text is left to the JSON parser to report.
    """
    depth = 0
    in_string = False
    skip_to = -1
    for match in _STRUCTURE.finditer(text):
        position = match.start()
        if position < skip_to:
            continue
        char = text[position]
        if in_string:
            if char == "\\":
                skip_to = position + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return position
        elif char in "]}":
            depth -= 1
    return None


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
