"""``json.loads`` with limits, for every JSON file facs-rig reads from a user.

The standard parser accepts inputs that later break their reader with an exception that is no
:class:`~facs_rig.errors.FacsRigError`:

* an integer of more than 4,300 digits raises ``ValueError: Exceeds the limit (4300 digits) for
  integer string conversion`` (CPython's integer string conversion limit, since 3.11);
* arrays or objects nested deeper than the interpreter's recursion limit raise
  ``RecursionError``, and shallower nesting can still exhaust the stack of a recursive reader
  further on (freezing rig metadata, comparing timelines).

It also accepts a key repeated in one object and keeps only the last value, silently: a pasted
second ``"AU12"`` block in a rig profile replaced the smile with a dimple, and an event's second
``"start"`` moved it, with no word. RFC 8259 section 4 says the names in an object SHOULD be
unique and that software receiving repeats behaves unpredictably; facs-rig refuses them.

:func:`loads` refuses all three as a :class:`json.JSONDecodeError` at the offending line and
column, so every reader's existing handling of invalid JSON reports it with the file name; a
repeated key is named by its JSON path (``action_units.AU12``) with the line of the first one.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

__all__ = ["loads", "unique_keys", "MAX_NUMBER_DIGITS", "MAX_DEPTH"]

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


class _RepeatedKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads` that refuses a key repeated in one object.

    Raises a private ``ValueError`` subclass naming the key; :func:`loads` turns it into a
    :class:`json.JSONDecodeError` at the repeated key.
    """
    result = dict(pairs)
    if len(result) != len(pairs):  # the common case costs one length comparison
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return result


_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four whitespace characters (RFC 8259 section 2)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child_path(path: str, key: str) -> str:
    from facs_rig.errors import quoted

    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{quoted(key)}]"


class _Found(Exception):
    def __init__(self, path: str, position: int, first: int):
        super().__init__(path)
        self.path, self.position, self.first = path, position, first


def _first_repeat(text: str) -> _Found | None:
    """The first repeated key in document order: its JSON path and the positions of both keys.

    Run only once :func:`unique_keys` has refused the text, so it costs nothing on valid files.
    The standard parser read everything up to the end of the object holding the repeat, so the
    walk below meets no invalid text before it finds one; any surprise gives None.
    """
    scan_scalar = json.JSONDecoder().scan_once
    scan_string = json.decoder.scanstring

    def skip(index: int) -> int:
        return _WHITESPACE.match(text, index).end()

    def walk(index: int, path: str) -> int:
        index = skip(index)
        opening = text[index]
        if opening == "{":
            index = skip(index + 1)
            if text[index] == "}":
                return index + 1
            seen: dict[str, int] = {}
            while True:
                index = skip(index)
                at = index
                key, index = scan_string(text, index + 1)
                child = _child_path(path, key)
                if key in seen:
                    raise _Found(child, at, seen[key])
                seen[key] = at
                index = skip(walk(skip(index) + 1, child))  # + 1: past the ':'
                if text[index] == "}":
                    return index + 1
                index += 1  # past the ','
        if opening == "[":
            index = skip(index + 1)
            if text[index] == "]":
                return index + 1
            count = 0
            while True:
                index = skip(walk(index, f"{path}[{count}]"))
                if text[index] == "]":
                    return index + 1
                index, count = index + 1, count + 1
        return scan_scalar(text, index)[1]

    try:
        walk(0, "")
    except _Found as found:
        return found
    except (ValueError, IndexError, StopIteration, RecursionError):
        return None
    return None


def _repeated_key_error(text: str, key: str) -> json.JSONDecodeError:
    from facs_rig.errors import quoted

    found = _first_repeat(text)
    if found is None:
        return json.JSONDecodeError(f"the key {quoted(key)} appears twice in one object; keys "
                                    "must be unique (the later one would silently replace the "
                                    "earlier)", text, 0)
    first_line = text.count("\n", 0, found.first) + 1
    return json.JSONDecodeError(
        f"duplicate key {found.path} (first at line {first_line}); keys must be unique in a "
        "JSON object (the later one would silently replace the earlier)", text, found.position)


def loads(text: str, *, max_depth: int = MAX_DEPTH, parse_constant: Any = None) -> Any:
    """Parse JSON text like :func:`json.loads`, refusing numbers and nesting beyond the limits
    and keys repeated in one object.

    Parameters
    ----------
    text : str
        The JSON text.
    max_depth : int
        Deepest nesting of arrays and objects accepted.
    parse_constant : callable, optional
        Called for ``NaN``, ``Infinity`` and ``-Infinity``, as in :func:`json.loads`.

    Raises
    ------
    json.JSONDecodeError
        For invalid JSON, a number longer than :data:`MAX_NUMBER_DIGITS` characters, arrays
        and objects nested deeper than ``max_depth``, or a key repeated in one object (named by
        its JSON path, with the line of the first); ``lineno`` and ``colno`` locate it.

    Examples
    --------
    >>> try:
    ...     loads('{"AU12": 1,\\n "AU12": 2}')
    ... except json.JSONDecodeError as error:
    ...     print(error.msg.split(";")[0], "at line", error.lineno)
    duplicate key AU12 (first at line 1) at line 2
    """
    too_deep = _too_deep_at(text, max_depth)
    if too_deep is not None:
        raise json.JSONDecodeError(f"arrays or objects nested deeper than {max_depth} levels",
                                   text, too_deep)
    try:
        return json.loads(text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT,
                          parse_constant=parse_constant, object_pairs_hook=unique_keys)
    except _RepeatedKey as exc:
        raise _repeated_key_error(text, exc.key) from None
    except _NumberTooLong as exc:
        shown = exc.text[:20] + "..."
        raise json.JSONDecodeError(
            f"a number of {len(exc.text)} characters ({shown}); facs-rig reads numbers of at most "
            f"{MAX_NUMBER_DIGITS}", text, max(0, text.find(exc.text))) from None
