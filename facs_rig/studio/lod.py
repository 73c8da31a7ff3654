"""A coarser set of triangles for the studio page's playback (a level of detail over the same vertices).

On software WebGL (SwiftShader: headless Chromium, machines without a GPU) most of a frame of a
48k-triangle head is vertex processing and triangle setup, which grows with the triangles
drawn whatever the resolution (docs/studio.md, "Speed"). While the timeline plays and frames
fall behind, the page draws these fewer triangles instead; paused, scrubbed or posed, it draws
the rig's own.

The triangles come from meshoptimizer's simplifier (``meshopt_simplifyWithAttributes``): edge
collapses onto existing vertices, ordered by a quadric error of the positions, the vertex
colours (where the eyebrows and lips of a vertex-coloured head are) and the vertices' motion in
the morph targets (so what a smile or a blink moves apart stays apart), that never flip a
triangle and keep open borders where they are (lip, eyelid and neck edges:
``SimplifyLockBorder``). One look (material group) is simplified at a time. The result
indexes the rig's own vertices, so the page morphs one vertex buffer for both sets, and every
vertex a coarse frame draws is where the full mesh has it.
"""

from __future__ import annotations

import ctypes

import meshoptimizer
import meshoptimizer._loader
import numpy as np

__all__ = ["MIN_TRIANGLES", "PLAYBACK_KEEP", "PLAYBACK_ERROR", "SMALL_KEEP", "coarse_triangles"]

#: Fraction of a look's triangles the playback set aims at (chosen by measurement: docs/studio.md).
PLAYBACK_KEEP = 0.25
#: ... unless that would move the surface more than this fraction of the look's extent.
PLAYBACK_ERROR = 0.01
#: Looks with fewer triangles than this keep SMALL_KEEP of them: small, round parts whose
#: outline shows (the bundled head's eyes have 2,588 triangles each, ICT FaceKit's irises 1,596).
MIN_TRIANGLES = 3000
SMALL_KEEP = 0.5
#: Principal directions of the targets' motion the simplification keeps (see ``_attributes``).
MOTION_COMPONENTS = 8
#: Every how many vertices the motion's main directions are estimated from.
MOTION_SAMPLE = 8
#: Weight of a motion difference (relative to the extent) against a position error.
MOTION_WEIGHT = 1.0
#: Weight of a colour difference (linear RGB, 0-1) against a position error (relative to the
#: look's extent) in the simplifier's metric.
COLOUR_WEIGHT = 1.0


def coarse_triangles(positions: np.ndarray, triangles: np.ndarray, groups: list[dict], *,
                     colours: np.ndarray | None = None, deltas: np.ndarray | None = None,
                     keep: float = PLAYBACK_KEEP,
                     max_error: float = PLAYBACK_ERROR) -> tuple[np.ndarray, list[dict]]:
    """Fewer triangles over the same vertices, look by look.

    Parameters
    ----------
    positions : (n_vertices, 3) float
        Rest positions (the collapses are chosen on the neutral shape).
    triangles : (n_triangles, 3) int
        Vertex indices, in drawing order (grouped by look).
    groups : list of dict
        ``{"start": first index, "count": indices, "look": k}`` into ``triangles.ravel()``.
    colours : (n_vertices, 3) float, optional
        Vertex colours (linear RGB) that the simplification should keep.
    deltas : (n_targets, n_vertices, 3) float, optional
        The morph targets: the simplification keeps the vertices that move apart from their
        neighbours (the main directions of all targets' motion, :data:`MOTION_COMPONENTS`).
    keep : float
        Fraction of each look's triangles to aim at, in (0, 1].
    max_error : float
        Largest surface error of a look, as a fraction of its extent: the simplifier stops there
        even above ``keep``.

    Returns
    -------
    coarse : (n_coarse, 3) uint32
        Triangles over the same vertices (a subset of them), grouped as the input.
    coarse_groups : list of dict
        The groups of ``coarse``, one per input group, same keys.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], not {keep}")
    positions = np.ascontiguousarray(positions, np.float32)
    attributes = _attributes(positions, colours, deltas)
    all_triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    pieces, coarse_groups, start = [], [], 0
    for group in groups:
        part = all_triangles[group["start"] // 3:(group["start"] + group["count"]) // 3]
        look_keep = keep if part.shape[0] >= MIN_TRIANGLES else max(keep, SMALL_KEEP)
        if look_keep < 1.0:
            part = _collapsed(positions, attributes, part, look_keep, max_error)
        pieces.append(part)
        coarse_groups.append({"start": start, "count": 3 * part.shape[0], "look": group["look"]})
        start += 3 * part.shape[0]
    coarse = np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int64)
    return coarse.astype(np.uint32), coarse_groups


def _attributes(positions: np.ndarray, colours: np.ndarray | None,
                deltas: np.ndarray | None) -> np.ndarray | None:
    """``(n_vertices, k)`` float32 values the simplifier's metric keeps, besides positions.

    The vertex colours, and each vertex's motion along the main directions of all targets'
    deltas (principal components of the ``(n_vertices, 3 x n_targets)`` deltas): a collapse
    that would look right at rest but wrong in a smile or a blink costs as much as one that
    moves the rest surface by the same distance. Motion is relative to the rig's extent, as the
    simplifier's position error is.
    """
    columns = []
    if colours is not None:
        columns.append(COLOUR_WEIGHT * np.asarray(colours, np.float32))
    if deltas is not None and len(deltas):
        deltas = np.asarray(deltas, np.float32)
        n_targets = deltas.shape[0]
        extent = float(np.ptp(positions, axis=0).max()) or 1.0
        # Main directions from the small (3T x 3T) second-moment matrix of every
        # MOTION_SAMPLE-th vertex (not an SVD of the tall matrix: this runs when a rig loads).
        sample = deltas[:, ::MOTION_SAMPLE].transpose(1, 0, 2).reshape(-1, 3 * n_targets)
        _, vectors = np.linalg.eigh((sample.T @ sample).astype(np.float64))
        main = vectors[:, ::-1][:, :MOTION_COMPONENTS].astype(np.float32).reshape(n_targets, 3, -1)
        projected = np.zeros((positions.shape[0], main.shape[2]), np.float32)
        for target_deltas, target_main in zip(deltas, main):  # no (V, 3T) copy of the deltas
            projected += target_deltas @ target_main
        columns.append(MOTION_WEIGHT * projected / extent)
    if not columns:
        return None
    return np.ascontiguousarray(np.hstack(columns), np.float32)


def _collapsed(positions: np.ndarray, attributes: np.ndarray | None, part: np.ndarray, keep: float,
               max_error: float) -> np.ndarray:
    """``part``'s triangles simplified towards ``keep`` of them, over the same vertices."""
    indices = np.ascontiguousarray(part, np.uint32).ravel()
    destination = np.zeros(indices.size, np.uint32)
    target = 3 * max(1, int(round(keep * part.shape[0])))
    options = meshoptimizer.SIMPLIFY_LOCK_BORDER
    if attributes is None:
        count = meshoptimizer.simplify(destination, indices, positions, target_index_count=target,
                                       target_error=max_error, options=options)
    else:
        _declare_attribute_simplifier()
        count = meshoptimizer.simplify_with_attributes(
            destination, indices, positions, attributes, np.ones(attributes.shape[1], np.float32),
            target_index_count=target, target_error=max_error, options=options)
    return destination[:count].reshape(-1, 3).astype(np.int64)


def _declare_attribute_simplifier() -> None:
    """Give ``meshopt_simplifyWithAttributes`` its C signature (meshoptimizer.h).

    The Python binding (0.2.30a0) declares ctypes argument types for ``meshopt_simplify`` but
    not for this function, so its Python ints would go as C ``int`` where ``size_t`` is meant
    and its float not at all; declared once, its own wrapper's call is right.
    """
    function = meshoptimizer._loader.lib.meshopt_simplifyWithAttributes
    if function.argtypes:
        return
    floats, size = ctypes.POINTER(ctypes.c_float), ctypes.c_size_t
    function.argtypes = [
        ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), size,  # destination, indices, count
        floats, size, size,  # positions, vertex count, stride
        floats, size, floats, size,  # attributes, stride, weights, attribute count
        ctypes.POINTER(ctypes.c_ubyte), size, ctypes.c_float, ctypes.c_uint,  # lock, target, error, options
        floats]  # result error
    function.restype = size
