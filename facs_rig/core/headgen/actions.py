"""Action units as muscle actions on a landmarked neutral face: the morph targets of the default head.

Each AU is built from the muscles FACS names for it (Ekman, Friesen & Hager 2002, *FACS
Investigator's Guide*, ch. 2-6; the muscle list is ``facs_rig/data/action_units.json``), acting
through the primitives of :mod:`facs_rig.core.headgen.muscles` (Waters 1987). Muscle origins and
insertions are placed relative to landmarks, so the same recipes rig any neutral head that comes
with the same landmarks and a few vertex sets (parts, lid margins).

Target names follow the bundled ``facs`` rig profile (``rigs/facs.json``): ``AU12_L`` is the
subject's own left (+X in glTF), bilateral-only AUs have no suffix (``AU26``), correctives join
their drivers (``AU06_AU12_L``). Head movements ``AU51``-``AU58`` rotate or move the whole head
about the neck pivot, since a morph target is what every glTF pipeline can play.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facs_rig.core.headgen.muscles import (
    LinearMuscle,
    Sphincter,
    linear_muscle,
    rotation,
    slide,
    smoothstep,
    sphincter,
)

__all__ = [
    "FaceModel",
    "ACTIONS",
    "action_displacement",
    "corrective_displacement",
    "build_targets",
    "available_targets",
]

_PART = {"skin": 0, "eye_L": 1, "eye_R": 2, "teeth_upper": 3, "teeth_lower": 4, "mouth": 5, "tongue": 6}
_SIGN = {"L": 1.0, "R": -1.0}


def _normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (positions[faces[:, k]] for k in range(3))
    face_normals = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for axis in range(3):
        normals[:, axis] = np.bincount(
            faces.reshape(-1), np.repeat(face_normals[:, axis], 3), minlength=positions.shape[0]
        )
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class FaceModel:
    """A neutral face ready for the muscle model.

    Attributes
    ----------
    positions : (n, 3) float64
        Neutral positions.
    faces : (m, 3) int
        Triangles.
    parts : (n,) uint8
        Part of each vertex (``skin``, ``eye_L``, ``eye_R``, ``teeth_upper``, ``teeth_lower``,
        ``mouth``, ``tongue``).
    landmarks : Mapping[str, (3,)]
        Named points (see ``docs/default-head.md``).
    lid_margins : Mapping[str, tuple[int, ...]]
        Vertex indices of the slits' margins: upper and lower lid per side (``upper_L``,
        ``lower_L``, ...) and the lips (``mouth_upper``, ``mouth_lower``), pairwise coincident at
        the corners.
    """

    positions: np.ndarray
    faces: np.ndarray
    parts: np.ndarray
    landmarks: Mapping[str, Any]
    lid_margins: Mapping[str, tuple[int, ...]]

    def point(self, name: str) -> np.ndarray:
        """A landmark as a float64 array."""
        return np.asarray(self.landmarks[name], np.float64)

    @property
    def normals(self) -> np.ndarray:
        """Vertex normals of the neutral mesh."""
        cached = self.__dict__.get("_normals")
        if cached is None:
            cached = _normals(self.positions, np.asarray(self.faces, np.int64))
            # The two sides of a slit (lid and lip margins) share one normal, so that skin sliding
            # along it moves both copies alike and the slit does not gape.
            for upper, lower in (
                ("upper_L", "lower_L"),
                ("upper_R", "lower_R"),
                ("mouth_upper", "mouth_lower"),
            ):
                a = np.asarray(self.lid_margins.get(upper, ()), np.int64)
                b = np.asarray(self.lid_margins.get(lower, ()), np.int64)
                if a.size and a.size == b.size and upper.startswith("mouth"):
                    mean = cached[a] + cached[b]
                    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
                    cached[a] = mean
                    cached[b] = mean
            object.__setattr__(self, "_normals", cached)
        return cached

    def part(self, name: str) -> np.ndarray:
        """Boolean mask of one part's vertices."""
        return self.parts == _PART[name]

    def side_weight(self, side: str | None, *, width: float = 0.004) -> np.ndarray:
        """1 on ``side`` of the midline, 0 on the other, a smooth split of ``width`` between."""
        if side is None:
            return np.ones(self.positions.shape[0])
        return smoothstep(-width, width, _SIGN[side] * self.positions[:, 0])

    # -- derived fields, computed from landmarks --------------------------------------------

    def mouth_line(self, x: np.ndarray) -> np.ndarray:
        """Height of the lip line at ``x``: the parabola through both corners and the centre."""
        left, right, centre = (
            self.point("mouth_corner_L"),
            self.point("mouth_corner_R"),
            self.point("mouth_centre"),
        )
        half = 0.5 * (left[0] - right[0])
        corner_y = 0.5 * (left[1] + right[1])
        t = np.clip(x / half, -1.5, 1.5)
        return centre[1] + (corner_y - centre[1]) * t * t

    @property
    def jaw_weight(self) -> np.ndarray:
        """How much each vertex follows the mandible (0-1): the skinning weight of the jaw.

        Below the lip line everything rides on the jaw; the two lips split exactly at the line
        (between corners the slit separates them), lateral to the corners the weight fades over
        the cheek towards the hinge, and under the chin it fades into the neck, which stays.
        """
        cached = self.__dict__.get("_jaw")
        if cached is not None:
            return cached
        p = self.positions
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        corner = self.point("mouth_corner_L")
        hinge = self.point("jaw_hinge_L")
        half = corner[0]
        lateral = smoothstep(0.8 * half, 1.5 * half, np.abs(x))
        # The line rises from the lip line at the corners to the hinge behind the cheek.
        depth = smoothstep(corner[2], hinge[2], z)
        line = self.mouth_line(np.clip(x, -half, half)) * (1 - depth) + (hinge[1] - 0.028) * depth
        blend = 0.00025 + 0.012 * np.maximum(lateral, depth)
        weight = smoothstep(blend, -blend, y - line)
        # Neck and throat stay put; the skin under the chin stretches between them.
        menton = self.point("menton")
        throat = smoothstep(menton[1] - 0.035, menton[1] - 0.002, y + 0.5 * (menton[2] - z) * (z < menton[2]))
        behind = smoothstep(hinge[2] - 0.004, hinge[2] + 0.022, z)  # the ear and nape stay
        weight = weight * throat * behind
        # The lip margins are split by topology, not geometry: they coincide at rest.
        weight[np.asarray(self.lid_margins.get("mouth_lower", ()), np.int64)] = 1.0
        weight[np.asarray(self.lid_margins.get("mouth_upper", ()), np.int64)] = 0.0
        corners = [int(np.argmin(np.linalg.norm(p - self.point(f"mouth_corner_{s}"), axis=1))) for s in "LR"]
        weight[corners] = 0.5
        weight = np.where(self.part("teeth_lower") | self.part("tongue"), 1.0, weight)
        weight = np.where(self.part("teeth_upper") | self.part("eye_L") | self.part("eye_R"), 0.0, weight)
        cavity = smoothstep(0.004, -0.008, y - self.point("mouth_centre")[1])
        weight = np.where(self.part("mouth"), cavity, weight)
        object.__setattr__(self, "_jaw", weight)
        return weight

    def region(self, centre: np.ndarray, radii: Sequence[float]) -> np.ndarray:
        """A smooth ellipsoidal window (1 inside, fading to 0 at the radii) over the skin."""
        q = (self.positions - centre) / np.asarray(radii)
        return smoothstep(1.0, 0.6, np.sqrt(np.sum(q * q, axis=1))) * self.part("skin")

    def lips(self) -> np.ndarray:
        """Weight of the lip vermilion and the skin just around it (0-1)."""
        centre = self.point("mouth_centre")
        half = self.point("mouth_corner_L")[0]
        return self.region(centre, (half * 1.25, 0.016, 0.05))


# ----------------------------------------------------------------------------- the lids


def _elevation(model: FaceModel, side: str, points: np.ndarray) -> np.ndarray:
    """Angle (degrees) of points above the eye's horizontal plane, seen along +X from the eye centre."""
    rel = points - model.point(f"eye_centre_{side}")
    return np.degrees(np.arctan2(rel[:, 1], rel[:, 2]))


def _margin_profile(model: FaceModel, side: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    indices = np.asarray(model.lid_margins[f"{which}_{side}"], np.int64)
    points = model.positions[indices]
    order = np.argsort(points[:, 0])
    return points[order, 0], _elevation(model, side, points[order])


def lid_rotation(model: FaceModel, side: str, *, upper: float = 0.0, lower: float = 0.0) -> np.ndarray:
    """Turn the lids about the eyeball's centre (the lids slide over the globe).

    ``upper``/``lower`` are fractions of the fissure's height by which the upper lid comes down
    and the lower lid comes up (negative ``upper`` raises it, as AU5 does). ``upper=0.9,
    lower=0.1`` closes the eye: the margins meet below the middle, as in a real blink
    (the upper lid does most of the travel; Evinger et al. 1991).
    """
    p = model.positions
    centre = model.point(f"eye_centre_{side}")
    xs_u, elev_u = _margin_profile(model, side, "upper")
    xs_l, elev_l = _margin_profile(model, side, "lower")
    x = np.clip(p[:, 0], min(xs_u[0], xs_l[0]), max(xs_u[-1], xs_l[-1]))
    top = np.interp(x, xs_u, elev_u)
    bottom = np.interp(x, xs_l, elev_l)
    fissure = np.maximum(top - bottom, 0.0)
    elevation = _elevation(model, side, p)
    distance = np.linalg.norm(p - centre, axis=1)
    skin = model.part("skin")
    near = smoothstep(0.038, 0.022, distance) * skin  # the inner canthus lies ~25 mm from the centre
    # Within the fissure's width; the canthi are fixed points of the lids.
    inner_outer = smoothstep(
        0.0, 0.0015, np.minimum(p[:, 0] - min(xs_u[0], xs_l[0]), max(xs_u[-1], xs_l[-1]) - p[:, 0])
    )
    width_gain = 0.6 + 0.4 * inner_outer
    above = elevation >= 0.5 * (top + bottom)
    # The tarsal plate (~10 mm of lid above the margin) turns whole; the skin above it less.
    upper_gain = smoothstep(top + 45.0, top + 8.0, elevation) * above
    lower_gain = smoothstep(bottom - 35.0, bottom - 6.0, elevation) * ~above
    angle = np.zeros(p.shape[0])
    angle -= upper * fissure * upper_gain
    angle += lower * fissure * lower_gain
    displacement = rotation(p, centre, (1.0, 0.0, 0.0), -angle, near * width_gain)
    return displacement


# ----------------------------------------------------------------------------- AU recipes


def _muscle(
    model: FaceModel,
    name: str,
    attachment,
    insertion,
    angle: float,
    spread: float,
    contraction: float,
    *,
    mask=None,
    bulge: float = 0.0,
    slide_on: bool = True,
) -> np.ndarray:
    muscle = LinearMuscle(name, tuple(attachment), tuple(insertion), angle, spread, contraction)
    skin = model.part("skin").astype(np.float64)
    weight = skin if mask is None else skin * mask
    displacement = linear_muscle(model.positions, muscle, mask=weight)
    return slide(displacement, model.normals, bulge=bulge) if slide_on else displacement


def _off(point: np.ndarray, side: str, dx: float, dy: float, dz: float) -> np.ndarray:
    """``point`` moved by (dx, dy, dz) with dx measured away from the midline on ``side``."""
    return point + np.array([_SIGN[side] * dx, dy, dz])


def _modiolus(m: FaceModel, side: str, displacement: np.ndarray, *, power: float = 1.6) -> np.ndarray:
    """Carry a corner-pulling muscle's motion along the lips.

    The lip-corner muscles meet in the modiolus, which drags the orbicularis oris fibres of both
    lips with it: a lip point moves as the corner does, scaled by how far out towards the corner
    it lies (``(x / x_corner) ** power``), instead of only where the muscle's own cone reaches.
    """
    corner = m.point(f"mouth_corner_{side}")
    corner_motion = displacement[int(np.argmin(np.linalg.norm(m.positions - corner, axis=1)))]
    along = np.clip(_SIGN[side] * m.positions[:, 0] / abs(corner[0]), 0.0, 1.0) ** power
    lips = m.lips() * m.side_weight(side)
    return displacement * (1 - lips)[:, None] + np.outer(lips * along, corner_motion)


def au01(m: FaceModel, side: str) -> np.ndarray:
    # Frontalis, pars medialis: inserts in the skin of the inner brow, rises into the galea.
    inner = m.point(f"brow_inner_{side}")
    return _muscle(
        m,
        "frontalis medialis",
        _off(inner, side, -0.002, 0.062, -0.022),
        _off(inner, side, 0.0, -0.003, 0.0),
        34.0,
        0.014,
        0.0140,
        mask=m.side_weight(side),
        bulge=0.0,
    )


def au02(m: FaceModel, side: str) -> np.ndarray:
    # Frontalis, pars lateralis: the outer brow.
    outer = m.point(f"brow_outer_{side}")
    return _muscle(
        m,
        "frontalis lateralis",
        _off(outer, side, -0.010, 0.060, -0.020),
        _off(outer, side, 0.0, -0.003, 0.0),
        30.0,
        0.014,
        0.0130,
        mask=m.side_weight(side),
        bulge=0.0,
    )


def au04(m: FaceModel, side: str) -> np.ndarray:
    # Corrugator supercilii (origin: medial superciliary arch) draws the brow medially and down;
    # depressor supercilii and procerus pull the inner brow down towards the nasal bones.
    mid = m.point(f"brow_mid_{side}")
    inner = m.point(f"brow_inner_{side}")
    nasion = m.point("nasion")
    corrugator = _muscle(
        m,
        "corrugator supercilii",
        _off(nasion, side, 0.004, -0.002, -0.010),
        _off(mid, side, 0.004, 0.0, 0.0),
        34.0,
        0.012,
        0.0100,
        mask=m.side_weight(side),
        bulge=0.20,
    )
    depressor = _muscle(
        m,
        "depressor supercilii",
        _off(nasion, side, 0.005, -0.020, -0.006),
        _off(inner, side, 0.002, 0.002, 0.0),
        30.0,
        0.014,
        0.0070,
        mask=m.side_weight(side),
        bulge=0.1,
    )
    return corrugator + depressor


def au05(m: FaceModel, side: str) -> np.ndarray:
    # Levator palpebrae superioris: the upper lid retracts, showing sclera above the iris.
    return lid_rotation(m, side, upper=-0.55)


def au06(m: FaceModel, side: str) -> np.ndarray:
    # Orbicularis oculi, pars orbitalis: the ring around the orbit tightens; the cheek and the
    # skin below the eye are lifted, the lateral brow is pulled down a little (crow's feet).
    centre = m.point(f"eye_centre_{side}")
    ring = Sphincter(
        "orbicularis oculi orbitalis",
        tuple(centre + np.array([0, -0.002, 0.0])),
        (0.024, 0.021),
        0.65,
        0.0085,
    )
    displacement = sphincter(
        m.positions, ring, mask=m.part("skin") * m.side_weight(side), lower_gain=1.0, upper_gain=0.35
    )
    cheek = m.region(m.point(f"cheek_{side}"), (0.026, 0.024, 0.05)) * m.side_weight(side)
    displacement += np.array([0.0, 0.0025, 0.0]) * cheek[:, None]
    displacement = slide(displacement, m.normals, bulge=0.30)
    return displacement + lid_rotation(m, side, lower=0.22, upper=0.06)


def au07(m: FaceModel, side: str) -> np.ndarray:
    # Orbicularis oculi, pars palpebralis: the lower lid rises and straightens, the fissure narrows.
    centre = m.point(f"eye_centre_{side}")
    ring = Sphincter("orbicularis oculi palpebralis", tuple(centre), (0.016, 0.011), 0.6, 0.0018)
    tighten = sphincter(
        m.positions, ring, mask=m.part("skin") * m.side_weight(side), lower_gain=1.0, upper_gain=0.3
    )
    return slide(tighten, m.normals, bulge=0.2) + lid_rotation(m, side, lower=0.40, upper=0.12)


def au09(m: FaceModel, side: str) -> np.ndarray:
    # Levator labii superioris alaeque nasi: from the frontal process of the maxilla to the ala
    # and upper lip; the nose wrinkles, the ala and upper lip rise, the inner brow is lowered.
    nasion = m.point("nasion")
    ala = m.point(f"ala_{side}")
    upper = 1 - m.jaw_weight
    lift = _muscle(
        m,
        "levator labii superioris alaeque nasi",
        _off(nasion, side, 0.006, -0.004, -0.004),
        _off(ala, side, 0.0, -0.006, 0.0),
        32.0,
        0.014,
        0.0070,
        mask=upper * m.side_weight(side),
        bulge=0.6,
    )
    brow = _muscle(
        m,
        "procerus",
        _off(nasion, side, 0.003, -0.022, -0.004),
        _off(m.point(f"brow_inner_{side}"), side, -0.002, 0.0, 0.0),
        28.0,
        0.012,
        0.0035,
        mask=m.side_weight(side),
        bulge=0.3,
    )
    # The skin bunched between the rising ala and the nasal bones buckles into transverse folds.
    folds = _wrinkles(m, lift + brow, origin=ala, direction=nasion - ala, wavelength=0.0032, depth=0.0006)
    return lift + brow + folds


def _wrinkles(m: FaceModel, displacement: np.ndarray, *, origin: np.ndarray, direction: np.ndarray,
              wavelength: float, depth: float) -> np.ndarray:
    """Folds where a muscle compresses the skin: a stiff sheet on soft tissue buckles into
    parallel ridges across the compression, with a wavelength set by its thickness. Ridges
    (``cos^2`` of the distance along ``direction``) rise along the normal in proportion to how far
    the skin there is pushed, so they appear and grow with the action."""
    axis = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    along = (m.positions - np.asarray(origin)) @ axis
    pushed = np.linalg.norm(displacement, axis=1)
    strength = pushed / max(float(pushed.max()), 1e-12)
    ridges = np.cos(np.pi * along / wavelength) ** 2
    return m.normals * (depth * strength * ridges * m.part("skin"))[:, None]


def au10(m: FaceModel, side: str) -> np.ndarray:
    # Levator labii superioris (infraorbital head): the upper lip rises, the upper teeth show.
    eye = m.point(f"eye_centre_{side}")
    lip = m.point("mouth_centre") + np.array([_SIGN[side] * 0.010, 0.004, 0.0])
    upper = 1 - m.jaw_weight
    return _muscle(
        m,
        "levator labii superioris",
        _off(eye, side, -0.012, -0.018, 0.006),
        lip,
        26.0,
        0.008,
        0.0060,
        mask=upper * m.side_weight(side),
        bulge=0.25,
    )


def au11(m: FaceModel, side: str) -> np.ndarray:
    # Zygomaticus minor: upper lip drawn up and out; the nasolabial furrow deepens.
    cheek = m.point(f"cheek_{side}")
    lip = m.point("mouth_centre") + np.array([_SIGN[side] * 0.015, 0.004, -0.002])
    upper = 1 - m.jaw_weight
    return _muscle(
        m,
        "zygomaticus minor",
        _off(cheek, side, -0.002, 0.006, -0.006),
        lip,
        24.0,
        0.008,
        0.0040,
        mask=upper * m.side_weight(side),
        bulge=-0.2,
    )


def au12(m: FaceModel, side: str) -> np.ndarray:
    # Zygomaticus major: from the zygomatic bone in front of the ear to the corner of the mouth;
    # pulls the corner up and back, bunching the cheek (which rises and bulges).
    corner = m.point(f"mouth_corner_{side}")
    temple = m.point(f"temple_{side}")
    attachment = np.array([_SIGN[side] * (abs(temple[0]) - 0.010), corner[1] + 0.058, corner[2] - 0.048])
    return _modiolus(
        m,
        side,
        _muscle(
            m,
            "zygomaticus major",
            attachment,
            corner,
            30.0,
            0.020,
            0.0180,
            mask=m.side_weight(side),
            bulge=0.22,
        ),
    )


def au13(m: FaceModel, side: str) -> np.ndarray:
    # Levator anguli oris (caninus): from the canine fossa, lifts the corner steeply, puffs the cheek.
    corner = m.point(f"mouth_corner_{side}")
    return _modiolus(
        m,
        side,
        _muscle(
            m,
            "levator anguli oris",
            _off(corner, side, -0.004, 0.026, -0.010),
            corner,
            30.0,
            0.012,
            0.0060,
            mask=m.side_weight(side),
            bulge=0.45,
        ),
    )


def au14(m: FaceModel, side: str) -> np.ndarray:
    # Buccinator: pulls the corners back against the teeth; a dimple forms lateral to the corner.
    corner = m.point(f"mouth_corner_{side}")
    pull = _muscle(
        m,
        "buccinator",
        _off(corner, side, 0.018, 0.0, -0.032),
        corner,
        32.0,
        0.012,
        0.0060,
        mask=m.side_weight(side),
        bulge=0.0,
    )
    dimple = m.region(_off(corner, side, 0.007, -0.001, -0.003), (0.005, 0.007, 0.05)) * m.side_weight(side)
    return pull - m.normals * (0.0018 * dimple)[:, None]


def au15(m: FaceModel, side: str) -> np.ndarray:
    # Depressor anguli oris (triangularis): from the mandible's lower border, pulls the corner down.
    corner = m.point(f"mouth_corner_{side}")
    menton = m.point("menton")
    attachment = np.array([_SIGN[side] * 0.036, menton[1] + 0.004, corner[2] - 0.018])
    return _modiolus(
        m,
        side,
        _muscle(
            m,
            "depressor anguli oris",
            attachment,
            corner,
            26.0,
            0.010,
            0.0110,
            mask=m.side_weight(side),
            bulge=0.15,
        ),
    )


def au16(m: FaceModel, side: str) -> np.ndarray:
    # Depressor labii inferioris: pulls the lower lip down and slightly out; the lower teeth show.
    centre = m.point("mouth_centre")
    lip = centre + np.array([_SIGN[side] * 0.011, -0.006, 0.0])
    menton = m.point("menton")
    attachment = np.array([_SIGN[side] * 0.020, menton[1] + 0.006, lip[2] - 0.012])
    displacement = _muscle(
        m,
        "depressor labii inferioris",
        attachment,
        lip,
        30.0,
        0.008,
        0.0065,
        mask=m.jaw_weight * m.side_weight(side),
        bulge=0.1,
    )
    evert = m.region(centre + np.array([_SIGN[side] * 0.010, -0.005, 0.0]), (0.016, 0.010, 0.05))
    return displacement + np.array([0.0, 0.0, 0.0022]) * (evert * m.jaw_weight * m.side_weight(side))[:, None]


def au17(m: FaceModel, side: str | None) -> np.ndarray:
    # Mentalis: the chin boss is pushed up and wrinkles, the lower lip is pushed up and out.
    chin = m.point("chin")
    centre = m.point("mouth_centre")
    push = _muscle(
        m,
        "mentalis",
        centre + np.array([0.0, -0.016, -0.012]),
        chin + np.array([0, -0.004, 0]),
        40.0,
        0.010,
        0.0045,
        mask=m.jaw_weight * m.side_weight(side),
        bulge=0.35,
    )
    lower_lip = m.region(centre + np.array([0, -0.006, 0]), (0.024, 0.012, 0.05)) * m.jaw_weight
    pout = np.array([0.0, 0.0022, 0.0016]) * (lower_lip * m.side_weight(side))[:, None]
    return push + pout


def au18(m: FaceModel, side: str | None) -> np.ndarray:
    # Incisivii labii: the lips are pulled medially and pushed forward (pucker).
    centre = m.point("mouth_centre")
    half = m.point("mouth_corner_L")[0]
    ring = Sphincter("incisivii labii", tuple(centre), (half, 0.010), 0.9, 0.0085)
    pull = sphincter(
        m.positions, ring, mask=m.part("skin") * m.side_weight(side), lower_gain=0.35, upper_gain=0.35
    )
    forward = m.region(centre, (half * 1.5, 0.022, 0.06)) * m.side_weight(side)
    return pull + np.array([0.0, 0.0, 0.0065]) * forward[:, None]


def au19(m: FaceModel, side: str | None) -> np.ndarray:
    # Tongue show: the tongue comes forward between the parted lips (jaw a little open).
    tongue = m.part("tongue")
    shift = np.zeros_like(m.positions)
    shift[tongue] = (0.0, -0.001, 0.022)
    return shift + au25(m, None) * 0.8 + jaw_rotation(m, 7.0)


def au20(m: FaceModel, side: str) -> np.ndarray:
    # Risorius and platysma: the corners are pulled laterally, the lips stretch flat.
    corner = m.point(f"mouth_corner_{side}")
    return _modiolus(
        m,
        side,
        _muscle(
            m,
            "risorius",
            _off(corner, side, 0.042, -0.010, -0.030),
            corner,
            28.0,
            0.016,
            0.0110,
            mask=m.side_weight(side),
            bulge=0.0,
        ),
    )


def au22(m: FaceModel, side: str | None) -> np.ndarray:
    # Orbicularis oris (funneler): the lips flare out and forward into a funnel.
    centre = m.point("mouth_centre")
    half = m.point("mouth_corner_L")[0]
    lips = m.lips()
    ring = Sphincter("orbicularis oris", tuple(centre), (half, 0.012), 0.9, 0.0055)
    narrow = sphincter(m.positions, ring, mask=m.part("skin"), lower_gain=0.0, upper_gain=0.0)
    flare = np.zeros_like(m.positions)
    near_centre = smoothstep(half, 0.2 * half, np.abs(m.positions[:, 0]))
    flare[:, 1] = np.where(m.jaw_weight > 0.5, -0.0035, 0.0025) * lips * near_centre
    flare[:, 2] = 0.0075 * lips
    return narrow + flare


def au23(m: FaceModel, side: str) -> np.ndarray:
    # Orbicularis oris (tightener): the red of the lips narrows and the lips tighten towards the line.
    centre = m.point("mouth_centre")
    lips = m.lips() * m.side_weight(side)
    y = m.positions[:, 1] - m.mouth_line(m.positions[:, 0])
    squeeze = np.zeros_like(m.positions)
    squeeze[:, 1] = -np.clip(y, -0.008, 0.008) * 0.45 * lips
    squeeze[:, 2] = -0.0018 * lips
    half = m.point("mouth_corner_L")[0]
    ring = Sphincter("orbicularis oris", tuple(centre), (half, 0.010), 0.8, 0.0022)
    narrow = sphincter(
        m.positions, ring, mask=m.part("skin") * m.side_weight(side), lower_gain=0.0, upper_gain=0.0
    )
    return squeeze + narrow


def au24(m: FaceModel, side: str | None) -> np.ndarray:
    # Orbicularis oris (pressor): the lips press together, flatten and bulge slightly above/below.
    lips = m.lips() * m.side_weight(side)
    y = m.positions[:, 1] - m.mouth_line(m.positions[:, 0])
    press = np.zeros_like(m.positions)
    press[:, 1] = -np.clip(y, -0.009, 0.009) * 0.35 * lips
    press[:, 2] = -0.0022 * lips
    return press


def au25(m: FaceModel, side: str | None) -> np.ndarray:
    # Lips part: depressor labii inferioris with mentalis relaxed lower the lower lip; the upper
    # lip lifts a little. The opening is widest in the middle and closes at the corners.
    p = m.positions
    half = m.point("mouth_corner_L")[0]
    across = np.clip(1 - (p[:, 0] / half) ** 2, 0.0, 1.0) ** 0.7
    lips = m.region(m.point("mouth_centre"), (half * 1.3, 0.022, 0.06)) * m.side_weight(side)
    move = np.zeros_like(p)
    move[:, 1] = np.where(m.jaw_weight > 0.5, -0.0048, 0.0014) * across * lips
    move[:, 2] = np.where(m.jaw_weight > 0.5, -0.0008, 0.0) * across * lips
    return move


def jaw_rotation(m: FaceModel, degrees: float) -> np.ndarray:
    """The mandible turns about the axis through both temporomandibular joints."""
    left, right = m.point("jaw_hinge_L"), m.point("jaw_hinge_R")
    return rotation(m.positions, 0.5 * (left + right), left - right, degrees, m.jaw_weight)


def au26(m: FaceModel, side: str | None) -> np.ndarray:
    # Jaw drop: masseter, temporalis and internal pterygoid relax; the jaw hangs ~13 degrees.
    return jaw_rotation(m, 13.0)


def au27_full(m: FaceModel) -> np.ndarray:
    # Mouth stretch: pterygoids and digastric pull the jaw wide open (~28 degrees) and the lips
    # stretch around the opening (corners drawn in, lips thinned).
    centre = m.point("mouth_centre")
    half = m.point("mouth_corner_L")[0]
    ring = Sphincter("orbicularis oris (stretched)", tuple(centre), (half, 0.010), 0.9, 0.0035)
    corners = sphincter(m.positions, ring, mask=m.part("skin"), lower_gain=0.0, upper_gain=0.0)
    return jaw_rotation(m, 28.0) + au25(m, None) * 1.3 + corners


def au27(m: FaceModel, side: str | None) -> np.ndarray:
    # The facs profile drives AU25 and AU26 with AU27, so AU27's target is the rest of the shape.
    return au27_full(m) - au25(m, None) - au26(m, None)


def au28(m: FaceModel, side: str) -> np.ndarray:
    # Orbicularis oris (lip suck): the lips roll in over the teeth.
    lips = m.lips() * m.side_weight(side)
    y = m.positions[:, 1] - m.mouth_line(m.positions[:, 0])
    suck = np.zeros_like(m.positions)
    suck[:, 1] = -np.clip(y, -0.010, 0.010) * 0.35 * lips
    # The lips roll in over the teeth: their full parts sink, the margins (already at the teeth)
    # stay in front of them.
    suck[:, 2] = -0.0035 * lips * smoothstep(0.003, 0.008, np.abs(y))
    return suck


def au29(m: FaceModel, side: str | None) -> np.ndarray:
    # Jaw thrust: the mandible slides forward.
    return np.array([0.0, 0.0, 0.0065]) * m.jaw_weight[:, None]


def au30(m: FaceModel, side: str) -> np.ndarray:
    # Jaw sideways, towards the coded side.
    return np.array([_SIGN[side] * 0.0060, 0.0, 0.0]) * m.jaw_weight[:, None]


def _cheek_volume(m: FaceModel, side: str, amount: float, *, lateral: float = 0.017) -> np.ndarray:
    corner = m.point(f"mouth_corner_{side}")
    # The buccal wall inflates like a membrane: a smooth dome, no rim.
    q = (m.positions - _off(corner, side, lateral, 0.008, -0.012)) / np.array([0.017, 0.019, 0.03])
    cheek = np.exp(-np.sum(q * q, axis=1)) * m.part("skin") * m.side_weight(side)
    cheek = np.where(cheek > 0.02, cheek, 0.0)  # a bounded region: nothing beyond ~2 radii
    # Outwards from inside the mouth, a smooth direction field (vertex normals converge in the
    # skin's small folds and would crumple it).
    outward = m.positions - np.array([0.0, corner[1], corner[2] - 0.045])
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-12)
    return outward * (amount * cheek)[:, None]


def au34(m: FaceModel, side: str) -> np.ndarray:
    # Cheek puff: air inflates the cheek.
    return _cheek_volume(m, side, 0.0130) + au24(m, side) * 0.5


def au35(m: FaceModel, side: str) -> np.ndarray:
    # Cheek suck: the cheek is drawn in between the teeth.
    return _cheek_volume(m, side, -0.0040, lateral=0.022)


def au38(m: FaceModel, side: str) -> np.ndarray:
    # Nasalis, pars alaris: the ala flares out.
    ala = m.point(f"ala_{side}")
    window = m.region(ala, (0.010, 0.010, 0.05)) * m.side_weight(side, width=0.002)
    return np.array([_SIGN[side] * 0.0028, 0.0, 0.0]) * window[:, None]


def au39(m: FaceModel, side: str) -> np.ndarray:
    # Nasalis, pars transversa: the ala is pulled in, the nostril narrows.
    ala = m.point(f"ala_{side}")
    window = m.region(ala, (0.010, 0.010, 0.05)) * m.side_weight(side, width=0.002)
    return np.array([-_SIGN[side] * 0.0018, 0.0, 0.0]) * window[:, None]


def au43(m: FaceModel, side: str) -> np.ndarray:
    # Eyes closed (also blink 45 and wink 46): levator relaxes, orbicularis palpebralis closes the
    # upper lid down to the lower, which rises a little.
    return lid_rotation(m, side, upper=0.84, lower=0.16)


def _head(m: FaceModel, axis, degrees: float = 0.0, translate=None) -> np.ndarray:
    """The head about the neck pivot; the neck below the pivot follows less and less."""
    pivot = m.point("neck_pivot")
    # Rigid above the chin (skin, teeth and mouth turn as one); the neck below twists gradually.
    weight = smoothstep(pivot[1] - 0.09, m.point("menton")[1] - 0.004, m.positions[:, 1])
    weight = np.where(m.parts == _PART["skin"], weight, 1.0)
    if translate is not None:
        return np.asarray(translate)[None, :] * weight[:, None]
    return rotation(m.positions, pivot, np.asarray(axis, float), degrees, weight)


def _eyes(m: FaceModel, axis, degrees: float) -> np.ndarray:
    displacement = np.zeros_like(m.positions)
    for side in ("L", "R"):
        mask = m.part(f"eye_{side}")
        displacement[mask] = rotation(
            m.positions[mask], m.point(f"eye_centre_{side}"), np.asarray(axis, float), degrees
        )
    return displacement


#: Directions follow glTF axes: +Y up, the face looks along +Z, +X is the subject's left.
#: Turning left (51) turns the face towards +X: a positive rotation about +Y.
ACTIONS: dict[int, Callable[[FaceModel, str | None], np.ndarray]] = {
    1: au01,
    2: au02,
    4: au04,
    5: au05,
    6: au06,
    7: au07,
    9: au09,
    10: au10,
    11: au11,
    12: au12,
    13: au13,
    14: au14,
    15: au15,
    16: au16,
    17: au17,
    18: au18,
    19: au19,
    20: au20,
    22: au22,
    23: au23,
    24: au24,
    25: au25,
    26: au26,
    27: au27,
    28: au28,
    29: au29,
    30: au30,
    34: au34,
    35: au35,
    38: au38,
    39: au39,
    43: au43,
    51: lambda m, s: _head(m, (0, 1, 0), 30.0),
    52: lambda m, s: _head(m, (0, 1, 0), -30.0),
    53: lambda m, s: _head(m, (1, 0, 0), -20.0),
    54: lambda m, s: _head(m, (1, 0, 0), 20.0),
    55: lambda m, s: _head(m, (0, 0, 1), -20.0),
    56: lambda m, s: _head(m, (0, 0, 1), 20.0),
    57: lambda m, s: _head(m, None, translate=(0.0, 0.0, 0.015)),
    58: lambda m, s: _head(m, None, translate=(0.0, 0.0, -0.015)),
    61: lambda m, s: _eyes(m, (0, 1, 0), 28.0),
    62: lambda m, s: _eyes(m, (0, 1, 0), -28.0),
    63: lambda m, s: _eyes(m, (1, 0, 0), -22.0) + sum(lid_rotation(m, k, upper=-0.35) for k in "LR"),
    64: lambda m, s: _eyes(m, (1, 0, 0), 22.0) + sum(lid_rotation(m, k, upper=0.35) for k in "LR"),
}

_BASE = re.compile(r"^AU\d{2}$")


def action_displacement(model: FaceModel, au: int, side: str | None) -> np.ndarray:
    """The ``(n, 3)`` displacement of one AU at full intensity on one side (None: both)."""
    recipe = ACTIONS[au]
    if side is None and au in _SIDED:
        return recipe(model, "L") + recipe(model, "R")
    return recipe(model, side)


#: AUs whose recipes are per side (their muscles are paired).
_SIDED = frozenset({1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 20, 23, 28, 30, 34, 35, 38, 39, 43})

#: Tissue saturation: skin cannot follow two muscles' pulls linearly; combined displacements
#: beyond this length are compressed (tanh), which is what a corrective puts back.
_SATURATION = 0.010


def _saturate(displacement: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(displacement, axis=1, keepdims=True)
    scale = _SATURATION * np.tanh(length / _SATURATION) / np.maximum(length, 1e-12)
    return displacement * np.where(length > 1e-12, scale, 1.0)


def _interaction(model: FaceModel, aus: frozenset[int], side: str | None) -> np.ndarray:
    """Extra movement of a combination beyond its parts (FACS 2002 describes these appearances)."""
    extra = np.zeros_like(model.positions)
    for s in ("L", "R") if side is None else (side,):
        if {1, 2} <= aus:
            # 1+2: the brow arches as one; the middle of the brow, between both bellies, rises too.
            mid = model.point(f"brow_mid_{s}")
            window = model.region(mid + np.array([0, 0.004, 0]), (0.016, 0.020, 0.05)) * model.side_weight(s)
            extra += np.array([0.0, 0.0025, 0.0]) * window[:, None]
        if {1, 4} <= aus:
            # 1+4: the inner corners are pulled up *and* together: the oblique brow of sadness.
            inner = model.point(f"brow_inner_{s}")
            window = model.region(inner, (0.012, 0.016, 0.05)) * model.side_weight(s)
            extra += np.array([-_SIGN[s] * 0.0015, 0.0030, 0.0]) * window[:, None]
        if {6, 12} <= aus:
            # 6+12: the cheek bunches up under the eye and narrows it further.
            cheek = model.point(f"cheek_{s}")
            window = model.region(cheek + np.array([0, 0.008, 0]), (0.022, 0.014, 0.05)) * model.side_weight(
                s
            )
            extra += slide(np.array([0.0, 0.0020, 0.0]) * window[:, None], model.normals, bulge=0.6)
        if {9, 10} <= aus:
            # 9+10 share levator labii: the lip must not lift twice.
            extra -= 0.35 * au10(model, s)
        if {20, 25} <= aus:
            # 20+25: the stretched lower lip is pulled down at the sides (fear mouth).
            corner = model.point(f"mouth_corner_{s}")
            window = model.region(_off(corner, s, -0.010, -0.004, 0.0), (0.012, 0.010, 0.05))
            extra += (
                np.array([0.0, -0.0020, 0.0]) * (window * model.jaw_weight * model.side_weight(s))[:, None]
            )
    if {17, 24} <= aus:
        # 17+24: the lower lip bulges up against the pressed upper lip.
        centre = model.point("mouth_centre")
        window = model.region(centre + np.array([0, -0.008, 0]), (0.022, 0.010, 0.05)) * model.jaw_weight
        extra += slide(np.array([0.0, 0.0015, 0.0]) * window[:, None], model.normals, bulge=1.0)
    return extra


def corrective_displacement(
    model: FaceModel,
    aus: Sequence[int],
    side: str | None,
    lower_order: Mapping[frozenset[int], np.ndarray] | None = None,
) -> np.ndarray:
    """The corrective delta of a combination: its combined shape minus its parts.

    The combined shape is the saturated sum of the single AUs' displacements plus their
    anatomical interaction; the parts are the single AUs and any correctives of smaller
    combinations of the same AUs (``lower_order``), which a rig drives at the same time.
    """
    singles = [action_displacement(model, au, side) for au in aus]
    linear = sum(singles)
    combined = _saturate(linear) + _interaction(model, frozenset(aus), side)
    corrective = combined - linear
    for subset, delta in (lower_order or {}).items():
        if subset < frozenset(aus):
            corrective = corrective - delta
    return corrective


def available_targets() -> tuple[str, ...]:
    """Every base target name the model can build, in the facs profile's naming."""
    names = []
    for au in sorted(ACTIONS):
        if au in _SIDED:
            names += [f"AU{au:02d}_L", f"AU{au:02d}_R"]
        else:
            names.append(f"AU{au:02d}")
    return tuple(names)


def parse_target_name(name: str) -> tuple[tuple[int, ...], str | None] | None:
    """``AU06_AU12_L`` -> ``((6, 12), 'L')``; ``AU26`` -> ``((26,), None)``; None if not a FACS name."""
    tokens = name.split("_")
    side = tokens.pop() if len(tokens) > 1 and tokens[-1] in _SIGN else None
    if not tokens or not all(_BASE.match(token) for token in tokens):
        return None
    return tuple(int(token[2:]) for token in tokens), side


def build_targets(
    model: FaceModel, names: Sequence[str]
) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
    """Build the named targets.

    Returns
    -------
    names : tuple of str
        The targets built, in the order asked.
    deltas : (n_targets, n_vertices, 3) float32
    skipped : tuple of str
        Names the model has no recipe for (the caller reports them).
    """
    built: list[str] = []
    deltas: list[np.ndarray] = []
    skipped: list[str] = []
    correctives: dict[tuple[frozenset[int], str | None], np.ndarray] = {}
    # Build correctives smallest first so larger ones can subtract them.
    order = sorted(range(len(names)), key=lambda i: len((parse_target_name(names[i]) or ((),))[0]))
    results: dict[int, np.ndarray] = {}
    for i in order:
        name = names[i]
        parsed = parse_target_name(name)
        if parsed is None:
            skipped.append(name)
            continue
        aus, side = parsed
        if any(au not in ACTIONS for au in aus) or (
            len(aus) == 1 and (side is not None) != (aus[0] in _SIDED)
        ):
            skipped.append(name)
            continue
        if len(aus) == 1:
            results[i] = action_displacement(model, aus[0], side)
        else:
            lower = {key: value for (key, key_side), value in correctives.items() if key_side == side}
            delta = corrective_displacement(model, aus, side, lower)
            correctives[(frozenset(aus), side)] = delta
            results[i] = delta
    for i, name in enumerate(names):
        if i in results:
            built.append(name)
            deltas.append(results[i])
    stacked = (
        np.stack(deltas).astype(np.float32)
        if deltas
        else np.zeros((0, model.positions.shape[0], 3), np.float32)
    )
    return tuple(built), stacked, tuple(name for name in names if name in skipped)
