"""A procedural neutral human head: skin with eye and mouth slits, eyeballs, teeth, mouth interior.

The skin is a star-shaped surface around a centre in the skull, ``p(d) = centre + R(d) d``, sampled
on a latitude-longitude grid that is denser over the face. ``R`` is a smooth union of an egg-shaped
cranium-and-face and a neck cylinder, plus smooth anatomical bumps and hollows (brow ridge,
cheekbones, nose, lips, chin, eye sockets, ears). Everything is a closed-form function of the
direction, so the head is deterministic to the last bit for a given numpy.

The eye and mouth openings are *slits* along grid rows: the vertices of the slit row are doubled
between the corners (canthi, lip commissures), one copy for the upper lid or lip and one for the
lower. The rows near a slit are warped so the slit follows the anatomical line, and for the eyes
the lids are then spread apart to an almond opening and wrapped around the eyeball. A closed
mouth is how FACS defines the neutral face (Ekman, Friesen & Hager 2002, ch. 1: code 0), and a
slit lets AU25/26/27 open it without any hole to patch.

Units are metres; +Y up, the face looks along +Z, +X is the subject's left (glTF 2.0 §3.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["NeutralHead", "PART_NAMES", "build_neutral_head"]

#: Part label of each vertex (``NeutralHead.parts`` holds the index into this tuple).
PART_NAMES = ("skin", "eye_L", "eye_R", "teeth_upper", "teeth_lower", "mouth", "tongue")
SKIN, EYE_L, EYE_R, TEETH_UPPER, TEETH_LOWER, MOUTH, TONGUE = range(len(PART_NAMES))

#: Centre of the radial parameterisation (inside the skull, a little below eye level).
_CENTRE = np.array([0.0, -0.012, 0.0])

# Anatomical proportions (metres) of an average adult, after Farkas (1994), Anthropometry of the
# Head and Face: head breadth ~155 mm, length ~195 mm, vertex-menton ~230 mm, intercanthal
# width ~32 mm, palpebral fissure ~30 mm, mouth width ~50 mm, eyeball diameter ~24 mm.
EYE_RADIUS = 0.0120
_EYE_X = 0.0315
_EYE_Y = 0.0
_MOUTH_Y = -0.066
_MOUTH_HALF_WIDTH = 0.0245


@dataclass(frozen=True)
class NeutralHead:
    """The neutral head before rigging.

    Attributes
    ----------
    positions : (n_vertices, 3) float64
        Rest positions.
    faces : (n_faces, 3) uint32
        Triangles, counter-clockwise seen from outside (inward for the mouth cavity).
    parts : (n_vertices,) uint8
        Index into :data:`PART_NAMES`.
    colours : (n_vertices, 3) float32
        Linear RGB albedo (skin, lips, brows, hair, sclera, iris, teeth, mouth).
    landmarks : Mapping[str, tuple[float, float, float]]
        Named anatomical points the muscle model is built from (see ``docs/default-head.md``).
    grid : Mapping[str, Any]
        Skin grid bookkeeping (row and column counts, slit rows), for tests and diagnostics.
    """

    positions: np.ndarray
    faces: np.ndarray
    parts: np.ndarray
    colours: np.ndarray
    landmarks: Any
    grid: Any

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.positions.shape[0])


# ----------------------------------------------------------------------------- shape functions


def _smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _bump(points: np.ndarray, centre, radii, height: float) -> np.ndarray:
    """An anisotropic Gaussian of ``height`` at ``centre`` with per-axis ``radii`` (1/e widths)."""
    q = (points - np.asarray(centre)) / np.asarray(radii)
    return height * np.exp(-np.sum(q * q, axis=-1))


def _directions(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors from polar angle (0 = up) and azimuth (0 = +Z, pi/2 = +X)."""
    s = np.sin(theta)
    return np.stack([s * np.sin(phi), np.cos(theta), s * np.cos(phi)], axis=-1)


def _radius(d: np.ndarray) -> np.ndarray:
    """Distance from the centre to the skin along unit directions ``d`` (..., 3)."""
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    down = _smoothstep(-0.05, -0.85, dy)  # 0 above the eyes, 1 under the chin
    front = _smoothstep(-0.2, 0.6, dz)  # 0 at the back, 1 at the face
    # Cranium: wider above, tapering to the jaw (bigonial breadth ~100 mm, Farkas 1994).
    ax = 0.082 - 0.010 * down * (0.4 + 0.6 * front)
    ay = np.where(dy > 0, 0.130, 0.090 + 0.045 * front)
    az = np.where(dz > 0, 0.094 + 0.010 * down, 0.104)
    # A superellipsoid over the cranium (exponent > 2 rounds the vault out), an ellipsoid below.
    n = 2.0 + 0.5 * _smoothstep(0.0, 0.6, dy)
    head = (np.abs(dx / ax) ** n + np.abs(dy / ay) ** n + np.abs(dz / az) ** n) ** (-1.0 / n)
    # Neck: an elliptic cylinder behind the chin, cut flat at y = -0.20.
    neck_z, rx, rz = -0.022, 0.056, 0.060
    a = dx * dx / rx**2 + dz * dz / rz**2
    b = -2 * dz * (neck_z) / rz**2
    c = neck_z**2 / rz**2 - 1
    cylinder = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * np.maximum(a, 1e-12))
    cap = np.where(dy < -1e-6, (-0.20 - _CENTRE[1]) / np.minimum(dy, -1e-6), np.inf)
    neck = np.minimum(cylinder, cap) * _smoothstep(0.0, -0.35, dy)  # no neck above the jaw
    k = 0.012  # smooth union: the jaw line blends into the neck
    radius = 0.5 * (head + neck + np.sqrt((head - neck) ** 2 + k * k)) - 0.5 * k
    base = radius[..., None] * d + _CENTRE
    return radius + _features(base)


def _features(p: np.ndarray) -> np.ndarray:
    """Radial offsets of the facial features at base-surface points ``p`` (..., 3), metres."""
    x, ax = p[..., 0], np.abs(p[..., 0])
    sym = np.stack([ax, p[..., 1], p[..., 2]], axis=-1)  # mirror-symmetric features use |x|
    r = np.zeros(p.shape[:-1])
    # Lower face mass: maxilla and mandible project in front of the cranium's ellipse.
    r += _bump(p, (0.0, -0.070, 0.080), (0.040, 0.045, 0.040), 0.009)
    r += _bump(p, (0.0, -0.104, 0.070), (0.024, 0.016, 0.030), 0.011)  # chin (pogonion)
    r += _bump(sym, (0.042, -0.088, 0.045), (0.020, 0.016, 0.030), 0.005)  # mandible body
    # Brow ridge (supraorbital torus) and glabella.
    r += _bump(sym, (0.030, 0.024, 0.085), (0.028, 0.010, 0.03), 0.006)
    r += _bump(p, (0.0, 0.018, 0.090), (0.012, 0.012, 0.03), 0.003)
    # Eye sockets: hollows the eyeballs sit in (deepest just under the brow).
    r -= _bump(sym, (_EYE_X, _EYE_Y + 0.002, 0.080), (0.019, 0.014, 0.03), 0.012)
    # Cheekbones (malar eminence) and the hollow below them.
    r += _bump(sym, (0.045, -0.024, 0.062), (0.020, 0.015, 0.030), 0.005)
    # Nose: bridge ridge, tip, alae (nostril wings), columella.
    bridge_t = np.clip((0.010 - p[..., 1]) / 0.045, 0.0, 1.0)
    bridge_width = 0.0055 + 0.004 * bridge_t
    bridge = (
        np.exp(-((x / bridge_width) ** 2))
        * _smoothstep(0.016, 0.004, p[..., 1])
        * _smoothstep(-0.048, -0.030, p[..., 1])
        * (0.004 + 0.019 * bridge_t)
    )
    r += bridge * _smoothstep(0.02, 0.07, p[..., 2])
    r += _bump(p, (0.0, -0.034, 0.100), (0.009, 0.008, 0.03), 0.009)  # tip (pronasale)
    r += _bump(sym, (0.013, -0.039, 0.090), (0.006, 0.006, 0.03), 0.006)  # ala
    r += _bump(p, (0.0, -0.043, 0.097), (0.004, 0.004, 0.03), 0.003)  # columella
    # Upper lip: philtrum columns, vermilion, and the lip line; lower lip; mentolabial sulcus.
    r += _bump(sym, (0.004, -0.053, 0.096), (0.003, 0.007, 0.03), 0.0012)
    r += _bump(p, (0.0, _MOUTH_Y + 0.004, 0.095), (0.019, 0.0045, 0.03), 0.0036)
    r += _bump(p, (0.0, _MOUTH_Y - 0.0062, 0.093), (0.0175, 0.0058, 0.03), 0.0042)
    r -= _bump(p, (0.0, _MOUTH_Y, 0.095), (0.017, 0.0011, 0.03), 0.0025)  # lip line
    r -= _bump(p, (0.0, -0.088, 0.090), (0.016, 0.005, 0.03), 0.0012)  # mentolabial sulcus
    r -= _bump(sym, (0.029, _MOUTH_Y, 0.080), (0.004, 0.005, 0.03), 0.0015)  # commissure pits
    # Nasolabial region fullness, temples, ears.
    r += _bump(sym, (0.030, -0.052, 0.078), (0.010, 0.014, 0.03), 0.003)
    r -= _bump(sym, (0.066, 0.030, 0.040), (0.016, 0.020, 0.03), 0.002)
    r += _bump(sym, (0.078, -0.005, -0.002), (0.006, 0.026, 0.012), 0.011)
    return r


# ----------------------------------------------------------------------------- the skin grid


def _density_mapping(
    count: int, low: float, high: float, dense_low: float, dense_high: float, gain: float
) -> np.ndarray:
    """``count`` angles from ``low`` to ``high``, ``1 + gain`` times denser in the dense band."""
    fine = np.linspace(low, high, 4097)
    density = 1.0 + gain * _smoothstep(dense_low - 0.15, dense_low, fine) * _smoothstep(
        dense_high + 0.15, dense_high, fine
    )
    cumulative = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(fine))])
    targets = np.linspace(0.0, cumulative[-1], count)
    return np.interp(targets, cumulative, fine)


def _surface(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    d = _directions(theta, phi)
    return _CENTRE + _radius(d)[..., None] * d


def _theta_for_height(target_y: float, phi: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """Polar angles at which the skin reaches height ``target_y`` along each azimuth (Newton)."""
    theta = guess.copy()
    for _ in range(12):
        y = _surface(theta, phi)[..., 1]
        slope = (_surface(theta + 1e-5, phi)[..., 1] - y) / 1e-5
        theta = theta - (y - target_y) / np.where(np.abs(slope) > 1e-9, slope, -1e-9)
    return theta


@dataclass(frozen=True)
class _Slit:
    row: int
    first: int  # corner column (shared)
    last: int  # corner column (shared)
    upper_open: np.ndarray  # per column first..last: polar-angle opening of the upper side
    lower_open: np.ndarray


def build_neutral_head(*, columns: int = 136, rows: int = 120) -> NeutralHead:
    """Build the neutral head (deterministic).

    Parameters
    ----------
    columns, rows : int
        Skin grid resolution (the defaults give about 16,000 vertices in all).
    """
    phi = _density_mapping(columns + 1, -math.pi, math.pi, -0.95, 0.95, 3.2)[:-1]
    theta = _density_mapping(rows + 2, 0.0, math.pi, 0.80, 2.45, 3.0)[1:-1]
    grid_theta = np.repeat(theta[:, None], columns, axis=1)
    grid_phi = np.repeat(phi[None, :], rows, axis=0)

    slits = []
    # Mouth: the lip line is a horizontal curve at _MOUTH_Y; corners at +-_MOUTH_HALF_WIDTH.
    mouth_row = int(np.argmin(np.abs(_surface(theta, np.zeros_like(theta))[:, 1] - _MOUTH_Y)))
    # Eyes: the palpebral fissure, its corners at the canthi.
    eye_row = int(np.argmin(np.abs(_surface(theta, np.zeros_like(theta))[:, 1] - (_EYE_Y - 0.001))))
    for row, target_y, band in ((mouth_row, _MOUTH_Y, 7), (eye_row, _EYE_Y - 0.001, 5)):
        wanted = _theta_for_height(target_y, phi, grid_theta[row])
        shift = wanted - grid_theta[row]
        front = _smoothstep(1.6, 1.0, np.abs(phi))  # only warp the face, not the back of the head
        for offset in range(-band, band + 1):
            weight = 0.5 * (1 + math.cos(math.pi * offset / (band + 1)))
            grid_theta[row + offset] += shift * weight * front

    def columns_between(x_low: float, x_high: float, row: int) -> tuple[int, int]:
        xs = _surface(grid_theta[row], grid_phi[row])[:, 0]
        zs = _surface(grid_theta[row], grid_phi[row])[:, 2]
        candidates = np.flatnonzero(zs > 0)
        first = candidates[np.argmin(np.abs(xs[candidates] - x_low))]
        last = candidates[np.argmin(np.abs(xs[candidates] - x_high))]
        return int(min(first, last)), int(max(first, last))

    m0, m1 = columns_between(-_MOUTH_HALF_WIDTH, _MOUTH_HALF_WIDTH, mouth_row)
    t = np.linspace(0, 1, m1 - m0 + 1)
    lips = np.zeros_like(t)  # the lips meet along the line (FACS neutral: lips together)
    slits.append(_Slit(mouth_row, m0, m1, lips, lips))
    for sign in (1, -1):  # eye_L at +x, eye_R at -x
        inner, outer = sign * (_EYE_X - 0.0145), sign * (_EYE_X + 0.0150)
        e0, e1 = columns_between(min(inner, outer), max(inner, outer), eye_row)
        t = np.linspace(0, 1, e1 - e0 + 1)
        if sign < 0:
            t = 1 - t  # t runs from the inner canthus outwards on both sides
        # Almond opening (palpebral fissure height ~10 mm): the upper lid's peak sits medial of
        # centre and the lower lid's lowest point lateral (Farkas 1994; Whitnall 1932).
        upper = 0.076 * np.sin(np.pi * t**1.15) ** 0.8
        lower = 0.044 * np.sin(np.pi * t**0.85) ** 0.9
        slits.append(_Slit(eye_row, e0, e1, upper, lower))

    # Open the eyes: spread the rows above and below each eye slit (lids), fading over a band.
    for slit in slits[1:]:
        band = 6
        cols = np.arange(slit.first, slit.last + 1)
        for offset in range(1, band + 1):
            fade = 1 - (offset - 1) / band
            grid_theta[slit.row - offset, cols] -= slit.upper_open * fade
            grid_theta[slit.row + offset, cols] += slit.lower_open * fade * 0.85

    skin_theta = grid_theta.reshape(-1).tolist()
    skin_phi = grid_phi.reshape(-1).tolist()
    index = np.arange(rows * columns).reshape(rows, columns)
    lower_index = index.copy()  # vertex ids used by faces *below* each row (differs on slits)
    next_id = rows * columns
    slit_upper, slit_lower = [], []
    for slit in slits:
        for k, col in enumerate(range(slit.first, slit.last + 1)):
            th, ph = grid_theta[slit.row, col], grid_phi[slit.row, col]
            if slit.first < col < slit.last:
                skin_theta[index[slit.row, col]] = th - slit.upper_open[k]
                skin_theta.append(th + slit.lower_open[k])
                skin_phi.append(ph)
                lower_index[slit.row, col] = next_id
                next_id += 1
            slit_upper.append(int(index[slit.row, col]))
            slit_lower.append(int(lower_index[slit.row, col]))
    skin_theta = np.asarray(skin_theta)
    skin_phi = np.asarray(skin_phi)
    skin = _surface(skin_theta, skin_phi)
    top = _surface(np.array([0.0]), np.array([0.0]))
    bottom = _surface(np.array([math.pi]), np.array([0.0]))
    top_id, bottom_id = next_id, next_id + 1
    skin = np.concatenate([skin, top, bottom])

    faces = []
    cols = np.arange(columns)
    nxt = (cols + 1) % columns
    for r in range(rows - 1):
        a = lower_index[r, cols]
        b = lower_index[r, nxt]
        c = index[r + 1, nxt]
        d = index[r + 1, cols]
        # Mirror-symmetric diagonals (a-c on the right half, b-d on the left), so that both
        # halves of the face shade and deform alike.
        right = grid_phi[r] < 0
        faces.append(np.where(right[:, None], np.stack([a, d, c], 1), np.stack([a, d, b], 1)))
        faces.append(np.where(right[:, None], np.stack([a, c, b], 1), np.stack([b, d, c], 1)))
    faces.append(np.stack([np.full(columns, top_id), index[0, cols], index[0, nxt]], 1))
    faces.append(np.stack([np.full(columns, bottom_id), lower_index[-1, nxt], lower_index[-1, cols]], 1))
    skin_faces = np.concatenate(faces)

    # Landmarks (surface points and interior pivots) the muscle model is built from.
    def surface_point(x: float, y: float, z_hint: float = 1.0) -> np.ndarray:
        """The skin point in front at (x, y): nearest skin vertex, then its exact position."""
        front = skin[:, 2] > 0.0
        distance = (skin[:, 0] - x) ** 2 + (skin[:, 1] - y) ** 2 - 1e-9 * skin[:, 2] * z_hint
        distance = np.where(front, distance, np.inf)
        return skin[int(np.argmin(distance))]

    mouth_slit = skin[[index[mouth_row, m0], index[mouth_row, m1]]]
    landmarks: dict[str, np.ndarray] = {}
    for side, sign in (("L", 1.0), ("R", -1.0)):
        corner = mouth_slit[1] if sign > 0 else mouth_slit[0]
        landmarks[f"mouth_corner_{side}"] = corner
        slit = slits[1] if sign > 0 else slits[2]
        inner_col, outer_col = (slit.first, slit.last) if sign > 0 else (slit.last, slit.first)
        canthus_inner = skin[index[eye_row, inner_col]]
        canthus_outer = skin[index[eye_row, outer_col]]
        landmarks[f"canthus_inner_{side}"] = canthus_inner
        landmarks[f"canthus_outer_{side}"] = canthus_outer
        landmarks[f"brow_inner_{side}"] = surface_point(sign * 0.013, 0.022)
        landmarks[f"brow_mid_{side}"] = surface_point(sign * 0.031, 0.027)
        landmarks[f"brow_outer_{side}"] = surface_point(sign * 0.050, 0.022)
        landmarks[f"cheek_{side}"] = surface_point(sign * 0.040, -0.028)
        landmarks[f"ala_{side}"] = surface_point(sign * 0.014, -0.040)
        landmarks[f"temple_{side}"] = surface_point(sign * 0.066, 0.030)
        # Interior points (bone): centre of the eyeball, jaw hinge, muscle origins.
        landmarks[f"eye_centre_{side}"] = np.array([sign * _EYE_X, _EYE_Y, 0.0])  # z set below
        landmarks[f"jaw_hinge_{side}"] = np.array([sign * 0.052, -0.020, -0.004])
    landmarks["nasion"] = surface_point(0.0, 0.012)
    landmarks["nose_tip"] = surface_point(0.0, -0.034)
    landmarks["subnasale"] = surface_point(0.0, -0.046)
    landmarks["upper_lip"] = surface_point(0.0, _MOUTH_Y + 0.006)
    landmarks["lower_lip"] = surface_point(0.0, _MOUTH_Y - 0.008)
    landmarks["chin"] = surface_point(0.0, -0.102)
    landmarks["menton"] = surface_point(0.0, -0.118)
    landmarks["forehead"] = surface_point(0.0, 0.062)
    landmarks["mouth_centre"] = 0.5 * (
        skin[index[mouth_row, (m0 + m1) // 2]] + skin[lower_index[mouth_row, (m0 + m1) // 2]]
    )
    landmarks["neck_pivot"] = np.array([0.0, -0.095, -0.025])

    # Eyeballs: the cornea's apex a little in front of the lid margins' mid-point.
    parts = [np.full(skin.shape[0], SKIN, np.uint8)]
    positions = [skin]
    face_blocks = [skin_faces]
    colours = [_skin_colours(skin, landmarks)]
    for side, part in (("L", EYE_L), ("R", EYE_R)):
        slit = slits[1] if side == "L" else slits[2]
        middle = (slit.first + slit.last) // 2
        margin = 0.5 * (skin[index[eye_row, middle]] + skin[lower_index[eye_row, middle]])
        centre = landmarks[f"eye_centre_{side}"].copy()
        centre[1] = margin[1] + 0.0005
        centre[2] = margin[2] - EYE_RADIUS + 0.0012
        landmarks[f"eye_centre_{side}"] = centre
        eye_points, eye_faces, eye_colours = _eyeball(centre)
        face_blocks.append(eye_faces + sum(p.shape[0] for p in positions))
        positions.append(eye_points)
        parts.append(np.full(eye_points.shape[0], part, np.uint8))
        colours.append(eye_colours)

    skin_vertices = positions[0]
    _wrap_lids(skin_vertices, landmarks)
    # The lip line is a crease in shadow, the lid margins carry the lashes: darken the slit rows.
    n_mouth = m1 - m0 + 1
    skin_colours = colours[0]
    # Not the corners themselves: stretched by a smile, a dark corner would streak the cheek.
    skin_colours[slit_upper[1 : n_mouth - 1] + slit_lower[1 : n_mouth - 1]] = [0.22, 0.07, 0.07]
    skin_colours[slit_upper[n_mouth:]] = [0.04, 0.025, 0.02]
    skin_colours[slit_lower[n_mouth:]] = [0.22, 0.12, 0.10]

    mouth_parts = _mouth_interior(landmarks)
    for points, faces_part, part, colour in mouth_parts:
        face_blocks.append(faces_part + sum(p.shape[0] for p in positions))
        positions.append(points)
        parts.append(np.full(points.shape[0], part, np.uint8))
        colours.append(colour)

    all_positions = np.concatenate(positions)
    frozen = MappingProxyType({k: tuple(float(c) for c in v) for k, v in sorted(landmarks.items())})
    grid = MappingProxyType(
        {
            "rows": rows,
            "columns": columns,
            "mouth_row": mouth_row,
            "eye_row": eye_row,
            "mouth_upper": tuple(slit_upper[: m1 - m0 + 1]),
            "mouth_lower": tuple(slit_lower[: m1 - m0 + 1]),
            "eye_upper": tuple(slit_upper[m1 - m0 + 1 :]),
            "eye_lower": tuple(slit_lower[m1 - m0 + 1 :]),
            "n_skin": int(skin.shape[0]),
        }
    )
    return NeutralHead(
        all_positions,
        np.concatenate(face_blocks).astype(np.uint32),
        np.concatenate(parts),
        np.concatenate(colours).astype(np.float32),
        frozen,
        grid,
    )


def _wrap_lids(skin: np.ndarray, landmarks: dict[str, np.ndarray]) -> None:
    """Lay the lids on the eyeball (with the lid's thickness) and keep all skin outside it."""
    for side in ("L", "R"):
        centre = landmarks[f"eye_centre_{side}"]
        offset = skin - centre
        distance = np.linalg.norm(offset, axis=1)
        near = distance < EYE_RADIUS + 0.006
        lid_radius = EYE_RADIUS + 0.0012
        # Within ~6 mm of the eyeball the lid follows its sphere; the blend keeps the skin smooth.
        blend = _smoothstep(EYE_RADIUS + 0.006, EYE_RADIUS + 0.001, distance)
        target = np.maximum(distance, lid_radius)
        target = np.where(near, (1 - blend) * distance + blend * lid_radius, target)
        target = np.maximum(target, lid_radius)
        skin[:] = centre + offset * (target / np.maximum(distance, 1e-12))[:, None]


def _skin_colours(skin: np.ndarray, landmarks: dict[str, np.ndarray]) -> np.ndarray:
    """Albedo of the skin: base tone, lips, eyebrows, hair, a little cheek colour."""
    x, y, z = skin[:, 0], skin[:, 1], skin[:, 2]
    base = np.float32([0.56, 0.36, 0.27])
    colour = np.broadcast_to(base, skin.shape).astype(np.float64).copy()
    cheeks = _bump(np.stack([np.abs(x), y, z], 1), (0.040, -0.035, 0.07), (0.018, 0.016, 0.05), 1.0)
    colour += cheeks[:, None] * np.array([0.05, -0.03, -0.02])
    # Vermilion of the lips: an ellipse around the mouth line, upper lip thinner than the lower.
    mouth_y = _MOUTH_Y
    height = np.where(y >= mouth_y, 0.0075, 0.0105)
    reach = np.where(y >= mouth_y, 0.0262, 0.0245)
    ellipse = np.sqrt((x / reach) ** 2 + ((y - mouth_y) / height) ** 2)
    lips = _smoothstep(1.12, 0.86, ellipse) * (z > 0.06)
    colour += lips[:, None] * (np.array([0.50, 0.17, 0.16]) - colour)
    # Eyebrows: an arched band over each brow ridge, thicker medially (hair, painted).
    for sign in (1.0, -1.0):
        t = np.clip((sign * x - 0.011) / 0.045, 0.0, 1.0)
        centre_line = 0.020 + 0.012 * np.sin(np.pi * np.clip(t * 0.85, 0, 1)) - 0.004 * t**2
        half_height = 0.0046 - 0.0022 * t
        span = _smoothstep(0.008, 0.013, sign * x) * _smoothstep(0.060, 0.054, sign * x) * (z > 0.04)
        amount = span * _smoothstep(half_height + 0.0020, half_height - 0.0012, np.abs(y - centre_line))
        colour += amount[:, None] * (np.array([0.10, 0.065, 0.045]) - colour)
    # Hair: above a hairline that rises over the forehead and drops behind the ears.
    hairline = np.where(
        z > 0,
        0.080 - 0.045 * _smoothstep(0.0, 0.07, np.abs(x)) * _smoothstep(0.09, 0.02, z),
        0.025 - 0.05 * _smoothstep(0.0, -0.08, z),
    )
    hair = _smoothstep(-0.005, 0.007, y - hairline)
    hair = hair * (
        1
        - _smoothstep(0.068, 0.074, np.abs(x)) * _smoothstep(0.022, 0.016, y) * _smoothstep(-0.024, -0.016, z)
    )  # ears stay bare
    colour += hair[:, None] * (np.array([0.09, 0.055, 0.035]) - colour)
    return colour.astype(np.float32)


def _uv_sphere(
    centre: np.ndarray, radius: float, rings: np.ndarray, segments: int, axis_forward: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sphere with its poles on the z axis: ``rings`` are polar angles from +Z (0 < a < pi)."""
    angle = np.repeat(rings[:, None], segments, 1)
    around = np.repeat(np.linspace(0, 2 * np.pi, segments, endpoint=False)[None, :], rings.size, 0)
    points = np.stack([np.sin(angle) * np.cos(around), np.sin(angle) * np.sin(around), np.cos(angle)], -1)
    points = points.reshape(-1, 3)
    front_pole, back_pole = np.array([[0, 0, 1.0]]), np.array([[0, 0, -1.0]])
    unit = np.concatenate([points, front_pole, back_pole])
    n = rings.size * segments
    idx = np.arange(n).reshape(rings.size, segments)
    cols = np.arange(segments)
    nxt = (cols + 1) % segments
    faces = []
    for r in range(rings.size - 1):
        faces.append(np.stack([idx[r, cols], idx[r + 1, nxt], idx[r, nxt]], 1))
        faces.append(np.stack([idx[r, cols], idx[r + 1, cols], idx[r + 1, nxt]], 1))
    faces.append(np.stack([np.full(segments, n), idx[0, cols], idx[0, nxt]], 1))
    faces.append(np.stack([np.full(segments, n + 1), idx[-1, nxt], idx[-1, cols]], 1))
    faces = np.concatenate(faces)
    polar = np.concatenate([angle.reshape(-1), [0.0, np.pi]])
    return centre + radius * unit, faces, polar


def _eyeball(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An eyeball with sclera, iris, pupil and a slight corneal bulge, facing +Z."""
    rings = np.concatenate(
        [np.linspace(0.05, 0.20, 4), np.linspace(0.24, 0.56, 7), np.linspace(0.62, 3.05, 14)]
    )
    points, faces, polar = _uv_sphere(centre, EYE_RADIUS, rings, 28)
    # Cornea: the front cap bulges ~0.7 mm (corneal radius ~7.8 mm on a 12 mm globe).
    bulge = 0.0007 * _smoothstep(0.60, 0.0, polar)
    direction = (points - centre) / EYE_RADIUS
    points = points + direction * bulge[:, None]
    colour = np.tile(np.float32([0.80, 0.78, 0.75]), (points.shape[0], 1))  # sclera
    colour[polar < 0.58] = [0.20, 0.13, 0.07]  # iris (brown)
    colour[polar < 0.50] = [0.28, 0.17, 0.08]
    colour[polar < 0.22] = [0.015, 0.012, 0.01]  # pupil
    return points, faces, colour


def _arch(
    centre_y: float,
    front_z: float,
    half_width: float,
    depth: float,
    height: float,
    thickness: float,
    segments: int = 48,
) -> tuple[np.ndarray, np.ndarray]:
    """A closed horseshoe slab (a dental arch): ``height`` tall, ``thickness`` thick, outward faces."""
    angles = np.linspace(-1.55, 1.55, segments)
    rings = []
    for inset in (0.0, thickness):
        x = (half_width - inset) * np.sin(angles)
        z = front_z - depth + (depth - inset) * np.cos(angles)
        for dy in (height / 2, -height / 2):
            rings.append(np.stack([x, np.full_like(x, centre_y + dy), z], 1))
    # ring order: outer-top 0, outer-bottom 1, inner-top 2, inner-bottom 3
    points = np.concatenate(rings)
    k = np.arange(segments - 1)
    ring = [k + i * segments for i in range(4)]
    faces = []

    def strip(a: int, b: int) -> None:  # quad strip between rings a and b, outward
        faces.append(np.stack([ring[a], ring[b], ring[b] + 1], 1))
        faces.append(np.stack([ring[a], ring[b] + 1, ring[a] + 1], 1))

    strip(1, 0)  # outer (front) surface
    strip(2, 3)  # inner (tongue side)
    strip(0, 2)  # top
    strip(3, 1)  # bottom
    ends = []
    for s, flip in ((0, True), (segments - 1, False)):
        quad = [s, s + segments, s + 3 * segments, s + 2 * segments]
        tri = [[quad[0], quad[1], quad[2]], [quad[0], quad[2], quad[3]]]
        ends.extend([t[::-1] for t in tri] if flip else tri)
    faces.append(np.asarray(ends))
    return points, np.concatenate(faces)[:, ::-1].copy()


def _mouth_interior(landmarks: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, int, np.ndarray]]:
    """Upper and lower teeth, the oral cavity (a dark inward-facing shell) and a tongue."""
    centre = landmarks["mouth_centre"]
    front = centre[2] - 0.0060
    # Incisal edges: the upper 1.8 mm below the lip line (they show as soon as the lips part), the
    # lower 2 mm below it and 1.2 mm behind (overjet), hidden by the lower lip at rest.
    upper_points, upper_faces = _arch(centre[1] + 0.0025, front, 0.024, 0.030, 0.0085, 0.0040)
    lower_points, lower_faces = _arch(centre[1] - 0.0062, front - 0.0012, 0.0225, 0.028, 0.0085, 0.0030)
    teeth_colour = np.float32([0.72, 0.68, 0.58])

    def teeth_colours(points: np.ndarray, upper: bool) -> np.ndarray:
        # Gaps between incisors and canines: darker lines every ~7.5 mm along the arch front.
        colour = np.tile(teeth_colour, (points.shape[0], 1))
        edge = points[:, 1] > centre[1] + 0.008 if upper else points[:, 1] < centre[1] - 0.007
        colour[edge] = [0.55, 0.22, 0.22]  # gum line
        return colour

    cavity_centre = np.array([0.0, centre[1] - 0.004, centre[2] - 0.024])
    rings = np.linspace(0.15, np.pi - 0.15, 14)
    cavity_unit, cavity_faces, _ = _uv_sphere(np.zeros(3), 1.0, rings, 24)
    cavity = cavity_centre + cavity_unit * np.array([0.034, 0.022, 0.032])
    # A flat front just behind the lips: a full-size opening behind the lips that never pokes out
    # in front of them (the flat part faces inwards, so it is culled from every outside view).
    # The lips curve back towards the corners (a parabola through the centre and the corners).
    corner = landmarks["mouth_corner_L"]
    recess = (centre[2] - corner[2]) * (cavity[:, 0] / corner[0]) ** 2
    # ... and the chin recedes below the lower lip.
    below = np.maximum(centre[1] - 0.008 - cavity[:, 1], 0.0)
    cavity[:, 2] = np.minimum(cavity[:, 2], centre[2] - 0.0030 - 1.15 * recess - 0.6 * below)
    cavity_faces = cavity_faces[:, ::-1].copy()  # inward: seen from inside through the lips
    depth_shade = np.clip((cavity[:, 2] - cavity_centre[2]) / 0.032, -1, 1)
    cavity_colour = np.float32([0.22, 0.045, 0.05]) * (0.55 + 0.45 * depth_shade[:, None]).astype(np.float32)
    tongue_centre = np.array([0.0, centre[1] - 0.010, centre[2] - 0.031])
    tongue_unit, tongue_faces, _ = _uv_sphere(np.zeros(3), 1.0, np.linspace(0.2, np.pi - 0.2, 10), 20)
    tongue = tongue_centre + tongue_unit * np.array([0.018, 0.0060, 0.022])  # tip 9 mm behind the lips
    tongue_colour = np.tile(np.float32([0.48, 0.16, 0.16]), (tongue.shape[0], 1))
    return [
        (upper_points, upper_faces, TEETH_UPPER, teeth_colours(upper_points, True)),
        (lower_points, lower_faces, TEETH_LOWER, teeth_colours(lower_points, False)),
        (cavity, cavity_faces, MOUTH, cavity_colour),
        (tongue, tongue_faces, TONGUE, tongue_colour),
    ]
