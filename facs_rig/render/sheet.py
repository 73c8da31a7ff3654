"""Contact sheets: a labelled grid of renders (expression name and FACS code under each face)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facs_rig.render.font import GLYPH_HEIGHT, draw_text, text_width

__all__ = ["contact_sheet"]


def fit_text(text: str, width: int, scale: int) -> str:
    """Cut ``text`` with an ellipsis so it fits ``width`` pixels."""
    if text_width(text, scale) <= width:
        return text
    while text and text_width(text + "..", scale) > width:
        text = text[:-1]
    return text + ".."


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
        colour, the others in the second.
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
    lines = max((len(lab) for lab in labels), default=0)
    line_h = GLYPH_HEIGHT * scale + 4 * scale // 2 + 2
    cell_w, cell_h = tile_w + padding, tile_h + padding + lines * line_h + padding // 2
    sheet = np.empty((rows * cell_h + padding, columns * cell_w + padding, 3), np.uint8)
    sheet[:] = np.asarray(background, np.uint8)
    for index, (tile, label) in enumerate(zip(tiles, labels)):
        if tile.shape[:2] != (tile_h, tile_w):
            raise ValueError("all tiles of a contact sheet must have the same size")
        row, column = divmod(index, columns)
        x, y = padding + column * cell_w, padding + row * cell_h
        sheet[y : y + tile_h, x : x + tile_w] = tile[:, :, :3]
        for number, text in enumerate(label):
            text = fit_text(str(text), tile_w, scale)
            tx = x + (tile_w - text_width(text, scale)) // 2
            ty = y + tile_h + padding // 2 + number * line_h
            draw_text(sheet, text, tx, ty, colour=colours[min(number, len(colours) - 1)], scale=scale)
    return sheet
