"""A 5x7 bitmap font for labels on contact sheets and captions on clips (ASCII letters, digits,
code punctuation and the punctuation of typed words; an accented letter is drawn as its base
letter).

Glyphs are drawn for this project: each is seven rows of five bits, most significant bit on the
left. Lower-case letters are drawn as small capitals (the upper-case glyph in rows 2-7) so that
expression names and FACS codes (``happiness``, ``1+2+5B+26``, ``R12A``) both read clearly at
small sizes.
"""

from __future__ import annotations

import unicodedata

import numpy as np

__all__ = ["GLYPH_WIDTH", "GLYPH_HEIGHT", "text_bitmap", "draw_text", "text_width"]

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 7

_GLYPHS: dict[str, tuple[int, ...]] = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "A": (0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001),
    "B": (0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110),
    "C": (0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110),
    "D": (0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100),
    "E": (0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111),
    "F": (0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000),
    "G": (0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111),
    "H": (0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001),
    "I": (0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110),
    "J": (0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100),
    "K": (0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001),
    "L": (0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111),
    "M": (0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001),
    "N": (0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001),
    "O": (0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110),
    "P": (0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000),
    "Q": (0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101),
    "R": (0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001),
    "S": (0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110),
    "T": (0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100),
    "U": (0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110),
    "V": (0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100),
    "W": (0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010),
    "X": (0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001),
    "Y": (0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100),
    "Z": (0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111),
    "0": (0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110),
    "1": (0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110),
    "2": (0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111),
    "3": (0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110),
    "4": (0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010),
    "5": (0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110),
    "6": (0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110),
    "7": (0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000),
    "8": (0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110),
    "9": (0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100),
    "+": (0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000),
    "-": (0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000),
    "_": (0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111),
    ".": (0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100),
    ",": (0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000),
    ":": (0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000),
    "/": (0b00001, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b10000),
    "(": (0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010),
    ")": (0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000),
    "=": (0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000),
    "%": (0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011),
    "'": (0b00100, 0b00100, 0b01000, 0b00000, 0b00000, 0b00000, 0b00000),
    "#": (0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010),
    "?": (0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100),
    "!": (0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100),
    # Punctuation of the director's words (a comment burnt into dailies: "objects; she").
    ";": (0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000),
    '"': (0b01010, 0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000),
    "*": (0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000),
    "&": (0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101),
    "[": (0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110),
    "]": (0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110),
    "\u2026": (0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b10101),  # ellipsis
}

#: Typographic characters a word processor puts in typed notes, drawn as their plain glyph.
_PLAIN = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"'}


def _glyph(character: str) -> np.ndarray:
    character = _PLAIN.get(character, character)
    if character not in _GLYPHS and not character.isascii():
        # An accented letter as its base letter (e with an acute accent is e, then accent).
        character = unicodedata.normalize("NFKD", character)[:1] or character
    rows = _GLYPHS.get(character)
    if rows is None and character.isalpha() and character.upper() in _GLYPHS and character.islower():
        upper = _GLYPHS[character.upper()]
        # Small capital: the capital squeezed into the lower five rows (rows 0, 3, 6 kept).
        rows = (0, 0) + (upper[0], upper[2], upper[3], upper[4], upper[6])
    if rows is None:
        rows = _GLYPHS["?"]
    bits = np.array(
        [[(row >> (GLYPH_WIDTH - 1 - column)) & 1 for column in range(GLYPH_WIDTH)] for row in rows],
        dtype=bool,
    )
    return bits


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` drawn at ``scale`` (one blank column between glyphs)."""
    return max(0, len(text) * (GLYPH_WIDTH + 1) - 1) * scale


def text_bitmap(text: str, scale: int = 1) -> np.ndarray:
    """A ``(7 * scale, text_width)`` boolean mask of ``text``."""
    if not text:
        return np.zeros((GLYPH_HEIGHT * scale, 0), bool)
    columns = []
    for index, character in enumerate(text):
        if index:
            columns.append(np.zeros((GLYPH_HEIGHT, 1), bool))
        columns.append(_glyph(character))
    mask = np.concatenate(columns, axis=1)
    return np.kron(mask, np.ones((scale, scale), bool)).astype(bool)


def draw_text(
    image: np.ndarray, text: str, x: int, y: int, *, colour=(235, 235, 235), scale: int = 2
) -> None:
    """Draw ``text`` into an RGB uint8 ``image`` in place with its top-left at ``(x, y)`` (clipped)."""
    mask = text_bitmap(text, scale)
    height, width = image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + mask.shape[1], width), min(y + mask.shape[0], height)
    if x1 <= x0 or y1 <= y0:
        return
    region = mask[y0 - y : y1 - y, x0 - x : x1 - x]
    image[y0:y1, x0:x1][region] = np.asarray(colour, np.uint8)
