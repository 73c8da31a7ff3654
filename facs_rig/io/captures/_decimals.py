"""Vectorised reading of fixed-point decimal cells (``-0.0312639736``), bit-exact with ``float()``.

Live Link Face (Epic Games' iOS app) writes every blendshape value with one integer digit and ten
decimals (measured: every cell of the two real takes the tests read, S07-001.csv and
alex_rom_3.csv). :func:`numpy.loadtxt` converts each
cell through Python's float parser, which was most of the time of reading an hour-long take
(about 13 million cells). Cells of this one shape are converted in bulk instead:

* the 16 bytes that end each cell are read as two little-endian 64-bit words, and the eight
  ASCII digits of a word become their value in three multiply-and-shift steps (the SWAR method
  of simdjson's ``parse_eight_digits_unrolled``: Langdale & Lemire, "Parsing Gigabytes of JSON
  per Second", VLDB Journal 28, 2019), after a SWAR range test that all eight bytes are digits;
* the cell is then its integer mantissa ``m`` (at most 13 digits: below 2**53, exact in a
  float64) divided by ``10**F`` (exact for ``F <= 22``). One IEEE division of two exact values
  is correctly rounded, the double any correctly rounding ``strtod`` returns for the text
  (Clinger, "How to Read Floating Point Numbers Accurately", PLDI 1990: its fast path).
  Python's float parser, which ``loadtxt`` uses, rounds correctly, so the values are the same
  bit for bit, ``-0.0`` included.

Any other cell (another width, an exponent, ``nan``, a blank, a space, a plus sign, two integer
digits) makes :func:`fixed_point_cells` return None, and the caller parses the block as before.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fixed_point_cells", "MAX_DECIMALS"]

#: Most decimals read here: a negative cell's separator must lie in the 16-byte window
#: (``F + 4 <= 16``).
MAX_DECIMALS = 12
#: Cells converted per step, so that the step's few working arrays stay in the CPU cache (over
#: all 630,000 cells of a block at once the same arithmetic took 1.6 times as long).
_STEP = 32_768

_U = np.uint64
_BYTE = _U(0xFF)
_MINUS, _DOT, _ZERO = _U(ord("-")), _U(ord(".")), _U(ord("0"))
_COMMA, _NEWLINE = _U(ord(",")), _U(ord("\n"))
_ZEROS = _U(0x3030_3030_3030_3030)
_NOT_DIGIT_PROBE = _U(0x7676_7676_7676_7676)
_HIGH_BITS = _U(0x8080_8080_8080_8080)
_PAIR_MASK = _U(0x0000_00FF_0000_00FF)
_PAIR_MUL_LOW = _U(100 + (1_000_000 << 32))
_PAIR_MUL_HIGH = _U(1 + (10_000 << 32))
_TEN, _EIGHT, _SIXTEEN, _THIRTY_TWO = _U(10), _U(8), _U(16), _U(32)
_HUNDRED_MILLION = _U(10**8)


def _position(window_index: int) -> tuple[int, _U]:
    """``(word, shift)`` of byte ``window_index`` of a cell's 16-byte window (15 = its last
    byte): word 0 holds the bytes 16 to 9 before the cell's end, word 1 the last eight."""
    return window_index // 8, _U(8 * (window_index % 8))


def _masks(decimals: int) -> tuple[list[np.uint64], list[np.uint64]]:
    """Per word, the bits kept (the integer digit and the decimals) and the bits then set to
    ASCII ``0`` (bytes before the digits, and the dot), so that each word is eight digits."""
    keep, force = [0, 0], [0, 0]
    integer_digit, dot = 14 - decimals, 15 - decimals
    for index in range(16):
        word, shift = index // 8, 8 * (index % 8)
        if index >= integer_digit and index != dot:
            keep[word] |= 0xFF << shift
        else:
            force[word] |= 0x30 << shift
    return [_U(mask) for mask in keep], [_U(mask) for mask in force]


def _eight_digits(words: np.ndarray) -> np.ndarray | None:
    """In place: words of eight ASCII digits (lowest byte the leading digit) -> their values,
    or None when a byte is not a digit."""
    words -= _ZEROS
    # A byte 0-9 stays below 0x80 after adding 0x76; any other byte sets its high bit here.
    if np.any(((words + _NOT_DIGIT_PROBE) | words) & _HIGH_BITS):
        return None
    pairs = words >> _EIGHT
    words *= _TEN
    words += pairs  # every second byte: a two-digit value
    pairs = words >> _SIXTEEN
    pairs &= _PAIR_MASK
    pairs *= _PAIR_MUL_HIGH
    words &= _PAIR_MASK
    words *= _PAIR_MUL_LOW
    words += pairs
    words >>= _THIRTY_TWO
    return words


def fixed_point_cells(buffer: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """Float64 values of cells all written ``[-]D.DDD`` with the same number of decimals.

    Parameters
    ----------
    buffer : (n_bytes,) uint8
        The text (read only).
    ends : (n_rows, n_cells) int64
        Offset in ``buffer`` just past each cell (its comma or line end). Cells hold no comma
        or line end (the caller splits the lines at them).

    Returns
    -------
    (n_rows, n_cells) float64 or None
        The values, equal bit for bit to ``float(cell)``; None unless every cell is an optional
        ``-``, one digit, a dot and the same number of digits (1 to :data:`MAX_DECIMALS`) as the
        first cell, right after a comma or line end, and ends 16 bytes or more into ``buffer``.
    """
    if ends.size == 0 or int(ends.min()) < 16:
        return None
    first_end = int(ends.flat[0])
    dot = buffer[first_end - MAX_DECIMALS - 1:first_end].tobytes().rfind(b".")
    decimals = MAX_DECIMALS - dot
    if dot < 0 or decimals < 1:
        return None
    keep, force = _masks(decimals)
    before_sign_word, before_sign_shift = _position(12 - decimals)
    sign_word, sign_shift = _position(13 - decimals)
    digit_word, digit_shift = _position(14 - decimals)
    dot_word, dot_shift = _position(15 - decimals)
    integer_scale = _U(9 * 10**decimals)
    scale = float(10**decimals)
    # 64-bit words starting at every byte of the text (overlapping, unaligned views).
    words = np.ndarray((buffer.shape[0] - 7,), dtype="<u8", buffer=buffer, strides=(1,))
    flat_ends = np.ascontiguousarray(ends).reshape(-1)
    out = np.empty(flat_ends.shape[0], dtype=np.float64)
    for first in range(0, flat_ends.shape[0], _STEP):
        cell_ends = flat_ends[first:first + _STEP]
        window = [words[cell_ends - 16], words[cell_ends - 8]]
        sign = (window[sign_word] >> sign_shift) & _BYTE
        negative = sign == _MINUS
        # The cell starts at its sign or digit: the byte before is the separator (cells hold
        # none, so the cell is exactly these bytes).
        before = np.where(negative, (window[before_sign_word] >> before_sign_shift) & _BYTE, sign)
        if not np.all((before == _COMMA) | (before == _NEWLINE)):
            return None
        if not np.all(((window[dot_word] >> dot_shift) & _BYTE) == _DOT):
            return None
        integer = ((window[digit_word] >> digit_shift) & _BYTE) - _ZERO
        for k in (0, 1):
            window[k] &= keep[k]
            window[k] |= force[k]
            if _eight_digits(window[k]) is None:
                return None
        # The dot read as a 0 made the digits I*10**(F+1) + decimals; the mantissa has I*10**F.
        mantissa = window[0] * _HUNDRED_MILLION
        mantissa += window[1]
        integer *= integer_scale
        mantissa -= integer
        values = out[first:first + _STEP]
        np.divide(mantissa, scale, out=values)
        np.negative(values, out=values, where=negative)
    return out.reshape(ends.shape)
