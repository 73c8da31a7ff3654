"""Contact sheets: a labelled grid of renders (expression name and FACS code under each face)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from facs_rig.render.font import GLYPH_HEIGHT, draw_text, text_width

__all__ = ["contact_sheet", "wrap_text"]

# Where a label may break: after a code's '+' (``1D+2D+`` / ``4D+5D``), or at a space
# (``3.5 s,`` / ``00:00:03:12``, a timeline sheet's moment); the spaces themselves are dropped.
_PIECES = re.compile(r"[^+ ]+\+?|\+| +")


def fit_text(text: str, width: int, scale: int) -> str:
    """Cut ``text`` with an ellipsis so it fits ``width`` pixels."""
    if text_width(text, scale) <= width:
        return text
    while text and text_width(text + "..", scale) > width:
        text = text[:-1]
    return text + ".."


def wrap_text(text: str, width: int, scale: int) -> list[str]:
    """``text`` in lines that each fit ``width`` pixels at ``scale``, broken after a ``+`` or at
    a space where it can be, else within a term (a tile narrower than one term: the ``sheet``
    command takes faces down to 16 pixels), so that all of it shows.

    Fear's code ``1D+2D+4D+5D+7D+20D+25D+26D`` was cut to ``1D+2D+4D+5D+7D+20D+25..`` under a
    280-pixel face (:func:`fit_text`, which captions still use: they have one line).
    """
    def fits(line: str) -> bool:
        return text_width(line, scale) <= width

    lines: list[str] = []
    current = ""
    for piece in _PIECES.findall(text):
        if piece.isspace():
            current += " " if current else ""
            continue
        if fits(current + piece):
            current += piece
            continue
        if current.strip():
            lines.append(current.rstrip())
        current = ""
        while len(piece) > 1 and not fits(piece):  # one term wider than the tile: split it
            cut = max((n for n in range(1, len(piece)) if fits(piece[:n])), default=1)
            lines.append(piece[:cut])
            piece = piece[cut:]
        current = piece
    if current.strip() or not lines:
        lines.append(current.rstrip())
    return lines


def contact_sheet(
    tiles: Sequence[np.ndarray],
    labels: Sequence[Sequence[str]],
    *,
    columns: int | None = None,
    scale: int = 2,
    padding: int = 8,
    background=(24, 25, 28),
    colours=((240, 240, 240), (170, 200, 255)),
) -> np.ndarray:
    """Arrange equally sized RGB tiles in a grid with lines of text under each.

    Parameters
    ----------
    tiles : sequence of (height, width, 3) uint8
        The renders, all the same size.
    labels : sequence of sequence of str
        Lines under each tile (e.g. ``("happiness", "6+12")``); the first line in the first
        colour, the others in the second. A line wider than a tile wraps onto more lines
        (:func:`wrap_text`), so a long code shows whole at any size.
    columns : int, optional
        Tiles per row (default: up to 4).
    scale : int
        Font scale (pixels per font pixel).

    Returns
    -------
    (height, width, 3) uint8
    """
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    if len(labels) != len(tiles):
        raise ValueError(f"{len(tiles)} tiles but {len(labels)} labels")
    tile_h, tile_w = tiles[0].shape[:2]
    columns = columns or min(4, len(tiles))
    rows = -(-len(tiles) // columns)
    tile_w = tiles[0].shape[1]
    wrapped = [[(number, part) for number, text in enumerate(label)
                for part in wrap_text(str(text), tile_w, scale)] for label in labels]
    lines = max((len(label) for label in wrapped), default=0)
    line_h = GLYPH_HEIGHT * scale + 4 * scale // 2 + 2
    cell_w, cell_h = tile_w + padding, tile_h + padding + lines * line_h + padding // 2
    sheet = np.empty((rows * cell_h + padding, columns * cell_w + padding, 3), np.uint8)
    sheet[:] = np.asarray(background, np.uint8)
    for index, (tile, label) in enumerate(zip(tiles, wrapped)):
        if tile.shape[:2] != (tile_h, tile_w):
            raise ValueError("all tiles of a contact sheet must have the same size")
        row, column = divmod(index, columns)
        x, y = padding + column * cell_w, padding + row * cell_h
        sheet[y : y + tile_h, x : x + tile_w] = tile[:, :, :3]
        for row_of_text, (number, text) in enumerate(label):
            tx = x + (tile_w - text_width(text, scale)) // 2
            ty = y + tile_h + padding // 2 + row_of_text * line_h
            draw_text(sheet, text, tx, ty, colour=colours[min(number, len(colours) - 1)], scale=scale)
    return sheet
