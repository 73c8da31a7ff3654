"""A software rasteriser in numpy: z-buffered triangles, per-pixel Lambert and Blinn-Phong shading.

No GPU and no loop over pixels or triangles: triangles are grouped by the size of their screen
bounding box, each group is tested against all pixel centres of its boxes in one array operation,
and the nearest surface per pixel is chosen with one ``np.minimum.at`` on packed (depth, triangle)
keys. Only the winning triangle of each pixel is then shaded (deferred shading), with
perspective-correct interpolation of normals, positions and vertex colours.

Animation keeps per-mesh index arrays in a :class:`Topology` and hands each frame's visible
triangles to the next (:class:`Occluders`): those are drawn first, and triangles that lie behind
them everywhere on screen (mouth interior, eye sockets, the far cheek: a third of the front-facing
triangles of the default head) are skipped untested. Neither changes a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from facs_rig.render.camera import Camera

__all__ = ["Light", "Shading", "DEFAULT_SHADING", "Topology", "Occluders", "vertex_normals", "rasterize",
           "render"]

#: Largest number of candidate pixel samples tested in one array operation (bounds memory).
_CHUNK_SAMPLES = 1 << 21
#: Triangles whose screen box spans more pixels than this are filled by scanlines instead.
_BOX_LIMIT = 4
#: Pixel centres this close outside an edge (in pixel-area units) count as inside, so float
#: rounding never leaves a crack between two triangles that share the edge.
_EDGE_SLACK = np.float32(1e-3)
_NO_HIT = np.iinfo(np.int64).max
#: Occlusion culling: z-buffer tiles of this many pixels a side keep their farthest depth, and
#: triangles whose box spans more than this many tiles are always drawn.
_OCCLUSION_TILE = 8
_OCCLUSION_WINDOW = 8


@dataclass(frozen=True)
class Light:
    """A directional light: ``direction`` points from the surface towards the light (world space)."""

    direction: tuple[float, float, float]
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    specular: float = 0.0


@dataclass(frozen=True)
class Shading:
    """Lighting of a render: a portrait three-point setup by default.

    Attributes
    ----------
    ambient : (3,) float
        Light added everywhere (a cheap stand-in for sky and bounce light).
    lights : tuple of Light
        Directional lights, in world space.
    shininess : float
        Blinn-Phong exponent of the specular highlight.
    background_top, background_bottom : (3,) float
        Vertical background gradient, linear 0-1 RGB.
    """

    ambient: tuple[float, float, float] = (0.20, 0.20, 0.22)
    lights: tuple[Light, ...] = (
        Light((0.45, 0.55, 0.75), (0.85, 0.82, 0.78), specular=0.22),  # key: high, camera left
        Light((-0.65, 0.05, 0.55), (0.30, 0.33, 0.38), specular=0.0),  # fill: low, opposite side
        Light((0.0, 0.45, -0.9), (0.25, 0.25, 0.25), specular=0.05),  # rim: behind, separates from background
    )
    shininess: float = 24.0
    background_top: tuple[float, float, float] = (0.30, 0.32, 0.36)
    background_bottom: tuple[float, float, float] = (0.13, 0.14, 0.16)


DEFAULT_SHADING = Shading()


@dataclass(frozen=True, eq=False)
class Topology:
    """The triangle index arrays a render needs, laid out once per mesh (not per frame).

    A mesh's triangles do not change while it animates; a renderer that draws many poses of one
    mesh (:class:`~facs_rig.render.preview.FaceRenderer`) builds this once and passes it as
    ``faces``. Gathering through contiguous one-dimensional index arrays is several times faster
    than through columns of an ``(n_faces, 3)`` array.

    Attributes
    ----------
    faces : (n_faces, 3) int64
        The triangles.
    corners : tuple of three (n_faces,) int64
        First, second and third corner of every triangle, each contiguous.
    corner_sums : scipy.sparse.csr_matrix, (n_vertices, n_faces)
        One entry 1.0 per triangle corner, row = its vertex, a row's triangles in ascending
        order: ``corner_sums @ face_values`` adds up, per vertex, the values of the triangles
        that use it (duplicate corners kept, so a degenerate triangle counts twice, as in a
        ``np.bincount`` over the corner list).
    """

    faces: np.ndarray
    corners: tuple[np.ndarray, np.ndarray, np.ndarray]
    corner_sums: object

    @classmethod
    def of(cls, faces: np.ndarray | Topology) -> Topology:
        """``faces`` ``(n_faces, 3)`` int as a :class:`Topology` (returned as is when it is one)."""
        if isinstance(faces, Topology):
            return faces
        faces = np.ascontiguousarray(np.asarray(faces, np.int64).reshape(-1, 3))
        from scipy.sparse import csr_matrix  # imported here: only renders need it

        corners = tuple(np.ascontiguousarray(faces[:, k]) for k in range(3))
        for array in (faces, *corners):
            array.flags.writeable = False
        flat = faces.reshape(-1)
        n_rows = int(flat.max()) + 1 if flat.size else 0
        by_vertex = np.argsort(flat, kind="stable")  # a vertex's corners in face order
        row_starts = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=n_rows))])
        corner_sums = csr_matrix(
            (np.ones(flat.size), by_vertex // 3, row_starts), shape=(n_rows, faces.shape[0])
        )
        return cls(faces, corners, corner_sums)


class Occluders:
    """The triangles the last frame showed, handed on to the next frame of the same view.

    :func:`render` draws them first and then skips what they hide (see ``first`` in
    :func:`rasterize`): successive poses of a face show nearly the same triangles. What is drawn
    never depends on it, only how fast. One per sequence of frames; not shared between threads.

    Attributes
    ----------
    faces : (n_faces,) bool or None
        Triangles visible in the last frame (``None`` before the first).
    """

    def __init__(self) -> None:
        self.faces: np.ndarray | None = None

    def remember(self, visible: np.ndarray, n_faces: int) -> None:
        """Keep the triangles of ``visible`` ((n_pixels,) triangle per pixel, -1 for none)."""
        faces = np.zeros(n_faces, bool)
        faces[visible[visible >= 0]] = True
        self.faces = faces


def vertex_normals(positions: np.ndarray, faces: np.ndarray | Topology) -> np.ndarray:
    """Area-weighted vertex normals.

    Parameters
    ----------
    positions : (n_vertices, 3) float
    faces : (n_faces, 3) int or Topology

    Returns
    -------
    (n_vertices, 3) float32
        Unit normals (zero for vertices used by no face).
    """
    points = np.asarray(positions, np.float32)
    topology = Topology.of(faces)
    a, b, c = (np.take(points, corner, axis=0) for corner in topology.corners)
    face_normals = np.cross(b - a, c - a)  # length = twice the area: area weighting for free
    n = points.shape[0]
    # Summed per vertex in float64 in face order: one sparse product (scipy's CSR loop adds
    # each row's entries in stored order) gives the sums a bincount over the corner list gives,
    # in half the time of repeating the face normals for it.
    sums = topology.corner_sums @ face_normals.astype(np.float64)
    normals = np.zeros((n, 3), np.float32)
    normals[: sums.shape[0]] = sums
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.where(length > 0, length, 1.0)


def rasterize(
    x: np.ndarray,
    y: np.ndarray,
    depth: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    *,
    cull_back_faces: bool = True,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """Visibility pass: the nearest front-facing triangle at every pixel centre.

    Parameters
    ----------
    x, y : (n_vertices,) float32
        Pixel coordinates of the vertices (y grows downwards).
    depth : (n_vertices,) float32
        View depth of the vertices (positive in front of the camera).
    faces : (n_faces, 3) int or Topology
        Triangles; counter-clockwise seen from their front, as glTF requires (glTF 2.0 §3.7.2.1).
    width, height : int
        Image size.
    cull_back_faces : bool
        Skip triangles seen from behind (closed meshes: the inside is never visible).
    first : (n_faces,) bool, optional
        Triangles likely to be visible (say, those the previous frame of a clip showed). They
        are drawn first; then every other triangle whose nearest possible depth lies behind all
        that is already drawn over its screen box is skipped without testing its pixels (mouth
        interior, eye sockets, the far cheek). The result is the same with or without it: the
        z-buffer keeps the minimum of the packed (depth, triangle) keys, which no drawing
        order changes, and a skipped triangle's keys could not have been the minimum.

    Returns
    -------
    (height * width,) int64
        Index of the visible triangle per pixel (row-major), ``-1`` for background.
    """
    corners = Topology.of(faces).corners
    x0, x1, x2 = (x[corner] for corner in corners)
    y0, y1, y2 = (y[corner] for corner in corners)
    z0, z1, z2 = (depth[corner] for corner in corners)
    # Signed double area; with y pointing down a counter-clockwise (front) face comes out negative.
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    near = np.float32(1e-4)
    keep = (z0 > near) & (z1 > near) & (z2 > near) & (np.abs(area) > 1e-12)
    keep &= (area < 0) if cull_back_faces else True
    x_min = np.ceil(np.minimum(np.minimum(x0, x1), x2) - 0.5)
    x_max = np.floor(np.maximum(np.maximum(x0, x1), x2) - 0.5)
    y_min = np.ceil(np.minimum(np.minimum(y0, y1), y2) - 0.5)
    y_max = np.floor(np.maximum(np.maximum(y0, y1), y2) - 0.5)
    x_min, y_min = np.maximum(x_min, 0), np.maximum(y_min, 0)
    x_max, y_max = np.minimum(x_max, width - 1), np.minimum(y_max, height - 1)
    keep &= (x_max >= x_min) & (y_max >= y_min)
    span = np.maximum(x_max - x_min, y_max - y_min) + 1
    depth_low = float(min(z0[keep].min(), z1[keep].min(), z2[keep].min())) if keep.any() else 0.0
    depth_high = float(max(z0[keep].max(), z1[keep].max(), z2[keep].max())) if keep.any() else 1.0
    # Depth is quantised to 30 bits (float32 holds 24 anyway) and packed above the triangle index;
    # staying below 2**31 keeps the shifted key clear of the int64 sign bit.
    depth_scale = np.float32((2**30 - 256) / max(depth_high - depth_low, 1e-9))
    zbuffer = np.full(width * height, _NO_HIT, np.int64)

    def splat(face_ids: np.ndarray, px: np.ndarray, py: np.ndarray) -> None:
        """Depth-test candidate pixels (inside their triangles) into the z-buffer."""
        cx, cy = px.astype(np.float32) + 0.5, py.astype(np.float32) + 0.5
        ax, ay, bx, by = x0[face_ids], y0[face_ids], x1[face_ids], y1[face_ids]
        qx, qy = x2[face_ids], y2[face_ids]
        w0 = (qx - bx) * (cy - by) - (qy - by) * (cx - bx)
        w1 = (ax - qx) * (cy - qy) - (ay - qy) * (cx - qx)
        w2 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        # Perspective: 1/depth is linear in screen space.
        inv_depth = (w0 / z0[face_ids] + w1 / z1[face_ids] + w2 / z2[face_ids]) / area[face_ids]
        pixel_depth = 1.0 / np.maximum(inv_depth, 1e-12)
        quantised = (
            ((pixel_depth - np.float32(depth_low)) * depth_scale).clip(0, 2**30 - 256).astype(np.int64)
        )
        np.minimum.at(
            zbuffer, py.astype(np.int64) * width + px.astype(np.int64), (quantised << 32) | face_ids
        )

    def draw(indices: np.ndarray) -> None:
        """Depth-test the pixels of triangles ``indices`` into the z-buffer."""
        small = indices[span[indices] <= _BOX_LIMIT]
        large = indices[span[indices] > _BOX_LIMIT]
        # Small triangles: test every pixel centre of the bounding box at once, grouped by box size.
        size_class = np.ceil(np.log2(span[small])).astype(np.int64)
        for level in np.unique(size_class):
            members = small[size_class == level]
            side = 1 << int(level)
            per_chunk = max(1, _CHUNK_SAMPLES // (side * side))
            offset_x = np.tile(np.arange(side, dtype=np.float32), side)
            offset_y = np.repeat(np.arange(side, dtype=np.float32), side)
            for start in range(0, members.size, per_chunk):
                f = members[start : start + per_chunk]
                px = x_min[f, None] + offset_x
                py = y_min[f, None] + offset_y
                cx, cy = px + 0.5, py + 0.5
                ax, ay, bx, by, qx, qy = (
                    x0[f, None],
                    y0[f, None],
                    x1[f, None],
                    y1[f, None],
                    x2[f, None],
                    y2[f, None],
                )
                sign = np.sign(area[f, None])
                inside = (px <= x_max[f, None]) & (py <= y_max[f, None])
                inside &= ((qx - bx) * (cy - by) - (qy - by) * (cx - bx)) * sign >= -_EDGE_SLACK
                inside &= ((ax - qx) * (cy - qy) - (ay - qy) * (cx - qx)) * sign >= -_EDGE_SLACK
                inside &= ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) * sign >= -_EDGE_SLACK
                rows, cols = np.nonzero(inside)
                if rows.size:
                    splat(f[rows], px[rows, cols], py[rows, cols])
        # Large or long thin triangles: scanlines, so the work is the covered pixels, not the box.
        if large.size:
            heights = (y_max[large] - y_min[large] + 1).astype(np.int64)
            pair_face = np.repeat(large, heights)
            row_start = np.repeat(np.cumsum(heights) - heights, heights)
            pair_y = y_min[pair_face] + (np.arange(pair_face.size) - row_start).astype(np.float32)
            cy = pair_y + 0.5
            left = np.full(pair_face.size, np.inf, np.float32)
            right = np.full(pair_face.size, -np.inf, np.float32)
            corners = ((x0, y0), (x1, y1), (x2, y2))
            for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
                ea, eb = ya[pair_face], yb[pair_face]
                crosses = (cy >= np.minimum(ea, eb)) & (cy <= np.maximum(ea, eb)) & (ea != eb)
                t = (cy - ea) / np.where(ea != eb, eb - ea, 1.0)
                xc = xa[pair_face] + t * (xb[pair_face] - xa[pair_face])
                left = np.where(crosses, np.minimum(left, xc), left)
                right = np.where(crosses, np.maximum(right, xc), right)
            valid = np.isfinite(left) & np.isfinite(right)
            col_start = np.maximum(np.ceil(np.where(valid, left, 0) - 0.5 - 1e-4), x_min[pair_face])
            col_end = np.minimum(np.floor(np.where(valid, right, -1) - 0.5 + 1e-4), x_max[pair_face])
            count = np.where(valid, np.maximum(col_end - col_start + 1, 0), 0).astype(np.int64)
            pixel_face = np.repeat(pair_face, count)
            offsets = np.arange(pixel_face.size) - np.repeat(np.cumsum(count) - count, count)
            px = np.repeat(col_start, count) + offsets.astype(np.float32)
            py = np.repeat(pair_y, count)
            for start in range(0, pixel_face.size, _CHUNK_SAMPLES):
                stop = start + _CHUNK_SAMPLES
                splat(pixel_face[start:stop], px[start:stop], py[start:stop])

    def hidden(indices: np.ndarray) -> np.ndarray:
        """Which of triangles ``indices`` lie behind everything the z-buffer holds over their box.

        Conservative: tiles of the z-buffer keep their farthest depth, and a triangle's nearest
        possible depth is bounded from below with margins wider than the inside tests' slack
        (a pixel centre a little outside an edge extrapolates the depth) and float32 rounding.
        """
        tile = _OCCLUSION_TILE
        tiles_y, tiles_x = -(-height // tile), -(-width // tile)
        empty = _NO_HIT >> 32
        stored = zbuffer.reshape(height, width)
        if (tiles_y * tile, tiles_x * tile) != stored.shape:
            stored = np.pad(stored, ((0, tiles_y * tile - height), (0, tiles_x * tile - width)),
                            constant_values=_NO_HIT)
        # Keys order by depth first: the largest key of a tile holds its farthest depth. One
        # np.maximum per row, then per column of a tile: several times faster than .max(axis=...)
        # over the short axes of a 4-D view.
        blocks = stored.reshape(tiles_y, tile, tiles_x * tile)
        rows = blocks[:, 0].copy()
        for k in range(1, tile):
            np.maximum(rows, blocks[:, k], out=rows)
        columns = rows.reshape(tiles_y, tiles_x, tile)
        farthest_key = columns[..., 0].copy()
        for k in range(1, tile):
            np.maximum(farthest_key, columns[..., k], out=farthest_key)
        windows = [farthest_key >> 32]
        tile_x0 = (x_min[indices] // tile).astype(np.int64)
        tile_y0 = (y_min[indices] // tile).astype(np.int64)
        tile_x1 = (x_max[indices] // tile).astype(np.int64)
        tile_y1 = (y_max[indices] // tile).astype(np.int64)
        side = np.maximum(tile_x1 - tile_x0, tile_y1 - tile_y0) + 1
        largest = int(min(side.max(initial=1), _OCCLUSION_WINDOW))
        for _ in range(largest - 1):
            # The farthest depth over square windows of tiles one wider: four smaller windows.
            padded = np.pad(windows[-1], ((0, 1), (0, 1)), constant_values=empty)
            windows.append(np.maximum(np.maximum(padded[:-1, :-1], padded[1:, :-1]),
                                      np.maximum(padded[:-1, 1:], padded[1:, 1:])))
        farthest = np.full(indices.size, empty, np.int64)
        testable = side <= largest
        farthest[testable] = np.stack(windows)[side[testable] - 1, tile_y0[testable], tile_x0[testable]]
        # 1/depth inside a triangle is a convex combination of its corners' 1/depth. Two things
        # can push a computed sample beyond it, each bounded here with room to spare:
        # - a pixel centre within the slack of an edge extrapolates (barycentric >= -outside):
        #   edge-function slack 1e-3 (box test) or 2e-4 px along a scanline of height <= span;
        # - float32 edge functions do not sum exactly to the area: each errs by at most about
        #   3.6e-7 * span * (largest coordinate + span), i.e. weights summing to 1 + rounding.
        inverse = 1.0 / np.stack([z0[indices], z1[indices], z2[indices]]).astype(np.float64)
        high, low = inverse.max(axis=0), inverse.min(axis=0)
        extent = span[indices].astype(np.float64) + 1
        size = np.abs(area[indices].astype(np.float64))
        outside = (10 * float(_EDGE_SLACK) + 1e-3 * extent) / size
        rounding = 1e-5 + 1e-6 * extent * (max(width, height) + extent) / size
        nearest_inverse = high * (1 + rounding) + 2 * outside * (high - low)
        # Then 1/x, the float32 quantisation (6e-8 of 2**30: 64 steps) and a wide safety margin.
        nearest = np.floor((1.0 / nearest_inverse - depth_low) * float(depth_scale)) - 4096
        return nearest > farthest

    if first is None:
        draw(np.flatnonzero(keep))
    else:
        early = np.asarray(first, bool) & keep
        draw(np.flatnonzero(early))
        rest = np.flatnonzero(keep & ~early)
        if rest.size:
            draw(rest[~hidden(rest)])
    hit = zbuffer != _NO_HIT
    result = np.full(width * height, -1, np.int64)
    result[hit] = zbuffer[hit] & 0xFFFFFFFF
    return result


def render(
    positions: np.ndarray,
    faces: np.ndarray,
    camera: Camera,
    *,
    colours: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    shading: Shading = DEFAULT_SHADING,
    supersample: int = 1,
    occluders: Occluders | None = None,
) -> np.ndarray:
    """Render a triangle mesh to an RGB image.

    Parameters
    ----------
    positions : (n_vertices, 3) float
        World positions (already deformed).
    faces : (n_faces, 3) int or Topology
        Triangles, counter-clockwise from the front.
    camera : Camera
        View and image size.
    colours : (n_vertices, 3) float, optional
        Linear 0-1 albedo per vertex (default: a neutral skin tone).
    normals : (n_vertices, 3) float, optional
        Vertex normals (default: computed from the deformed positions, so wrinkles and folds shade).
    shading : Shading
        Lights and background.
    supersample : int
        Render at this many times the size per axis and average down (anti-aliasing).
    occluders : Occluders, optional
        The previous frame's visible triangles, drawn first so that what they hide is skipped
        (updated with this frame's); the image is the same with or without.

    Returns
    -------
    (height, width, 3) uint8
        sRGB image.
    """
    points = np.asarray(positions, np.float32)
    topology = Topology.of(faces)
    n_vertices = points.shape[0]
    if colours is None:
        colours = np.broadcast_to(np.float32([0.80, 0.62, 0.52]), (n_vertices, 3))
    colours = np.asarray(colours, np.float32)
    if normals is None:
        normals = vertex_normals(points, topology)
    factor = max(1, int(supersample))
    width, height = camera.width * factor, camera.height * factor
    view = camera.resized(width, height) if factor > 1 else camera
    x, y, depth = view.project(points)
    first = occluders.faces if occluders is not None else None
    if first is not None and first.shape != (topology.faces.shape[0],):
        first = None  # another mesh
    visible = rasterize(x, y, depth, topology, width, height, first=first)
    if occluders is not None:
        occluders.remember(visible, topology.faces.shape[0])

    pixels = np.flatnonzero(visible >= 0)
    # Per colour channel, on one-dimensional arrays: gathers from (n, 3) rows cost several times
    # more than from contiguous vectors, and the arithmetic per element is unchanged.
    channels: list[np.ndarray] = []
    if pixels.size:
        face = visible[pixels]
        i0, i1, i2 = (corner[face] for corner in topology.corners)
        cx = (pixels % width).astype(np.float32) + 0.5
        cy = (pixels // width).astype(np.float32) + 0.5
        ax, ay, bx, by, qx, qy = x[i0], y[i0], x[i1], y[i1], x[i2], y[i2]
        # Perspective-correct barycentrics: screen-space weights divided by each vertex's depth.
        w0 = ((qx - bx) * (cy - by) - (qy - by) * (cx - bx)) / depth[i0]
        w1 = ((ax - qx) * (cy - qy) - (ay - qy) * (cx - qx)) / depth[i1]
        w2 = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) / depth[i2]
        total = w0 + w1 + w2
        total = np.where(np.abs(total) > 1e-20, total, np.float32(1e-20))
        w0, w1, w2 = w0 / total, w1 / total, w2 / total
        # Lit per vertex (Gouraud), interpolated per pixel: a face mesh has a vertex every few
        # pixels at preview sizes, and lighting 26k vertices costs a fraction of lighting every
        # covered pixel (the renderer's largest cost before).
        lit = _vertex_lighting(np.asarray(normals, np.float32), colours, view, shading)
        for channel in lit:
            shaded = channel[i0] * w0
            shaded += channel[i1] * w1
            shaded += channel[i2] * w2
            channels.append(shaded)
    if factor == 1:
        # sRGB is per pixel: the background's is converted once per size, the surface's here.
        image = _background_srgb_of(shading, width, height).reshape(-1, 3).copy()
        for index, shaded in enumerate(channels):
            image[pixels, index] = linear_to_srgb(shaded)
        return image.reshape(height, width, 3)
    image = _background(shading, width, height).reshape(-1, 3).copy()
    for index, shaded in enumerate(channels):
        image[pixels, index] = shaded
    image = image.reshape(camera.height, factor, camera.width, factor, 3).mean(axis=(1, 3))
    return linear_to_srgb(image)


def _vertex_lighting(normals: np.ndarray, colours: np.ndarray, view: Camera, shading: Shading) -> np.ndarray:
    """Linear RGB of each vertex under ``shading``: Lambert diffuse plus Blinn-Phong highlights.

    One view direction for the whole image: a portrait lens (20 degrees) barely varies it.

    Returns
    -------
    (3, n_vertices) float32
        Red, green and blue rows (contiguous, for per-channel gathers).
    """
    to_eye = view.basis()[2].astype(np.float32)
    normal = np.array(normals, np.float32)
    facing = normal @ to_eye
    # Normals turned slightly away at silhouettes are mirrored towards the eye (no black rims).
    normal -= (2 * np.minimum(facing, 0.0))[:, None] * to_eye
    light_sum = np.empty((3, normal.shape[0]), np.float32)
    light_sum[:] = np.float32(shading.ambient)[:, None]
    specular = np.zeros(normal.shape[0], np.float32)
    for light in shading.lights:
        direction = np.float32(light.direction) / np.float32(np.linalg.norm(light.direction))
        lambert = np.maximum(normal @ direction, 0.0)
        for row, colour in zip(light_sum, np.float32(light.colour)):
            row += lambert * colour
        if light.specular:
            half = direction + to_eye
            half /= np.linalg.norm(half)
            highlight = np.maximum(normal @ half, 0.0)
            specular += np.float32(light.specular) * highlight ** np.float32(shading.shininess)
    lit = light_sum
    for row, albedo in zip(lit, np.asarray(colours, np.float32).T):
        row *= albedo
        row += specular
    return lit


def linear_to_srgb(image: np.ndarray) -> np.ndarray:
    """Linear 0-1 RGB to 8-bit sRGB (IEC 61966-2-1 transfer curve, simplified to a 1/2.2 power)."""
    return (np.clip(image, 0.0, 1.0) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def _background_srgb_of(shading: Shading, width: int, height: int) -> np.ndarray:
    """:func:`linear_to_srgb` of :func:`_background`, cached by the two gradient colours (a
    ``Shading`` built with lists or arrays is not hashable, and only those colours matter)."""
    top = tuple(float(v) for v in np.ravel(shading.background_top))
    bottom = tuple(float(v) for v in np.ravel(shading.background_bottom))
    return _background_srgb(top, bottom, width, height)


@lru_cache(maxsize=8)
def _background_srgb(top: tuple, bottom: tuple, width: int, height: int) -> np.ndarray:
    """:func:`linear_to_srgb` of the gradient (read-only; a clip asks for it every frame)."""
    image = linear_to_srgb(_gradient(top, bottom, width, height))
    image.flags.writeable = False
    return image


def _background(shading: Shading, width: int, height: int) -> np.ndarray:
    return _gradient(shading.background_top, shading.background_bottom, width, height)


def _gradient(top, bottom, width: int, height: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.float32(top), np.float32(bottom)
    column = top * (1 - t) + bottom * t
    return np.broadcast_to(column, (height, width, 3)).astype(np.float32)
