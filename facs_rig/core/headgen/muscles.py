"""Muscle primitives acting on a neutral mesh, after Keith Waters (1987).

Waters, K. (1987). *A muscle model for animating three-dimensional facial expression.*
SIGGRAPH '87, Computer Graphics 21(4), 17-24. The model has two kinds of muscle:

- **Linear muscles** (zygomaticus, frontalis, levators, depressors ...): a vector from a bony
  *attachment* ``A`` to a skin *insertion* ``I``. A skin point ``p`` within the cone of half-angle
  ``Omega`` about ``I - A`` and within the fall-off radius ``Rf`` of ``A`` moves towards ``A`` by
  ``k * a * r``, where ``a`` is the angular fall-off and ``r`` the radial fall-off: it rises as
  ``cos((1 - D/Rs) pi/2)`` from the attachment to ``Rs`` and falls as ``cos((D - Rs)/(Rf - Rs) pi/2)``
  from ``Rs`` to ``Rf`` (Waters 1987, eq. 1-3). Waters' angular term is ``cos(mu)``; here it is
  ``cos(mu / Omega * pi/2)`` so that it reaches zero exactly at the cone's edge and a muscle
  never moves skin outside its zone.
- **Sphincters** (orbicularis oris, orbicularis oculi): an elliptical muscle that contracts
  towards its centre, the displacement falling off with the elliptical distance.

Two further primitives complete a face: **rotations** of weighted vertices about an axis (the jaw
about the temporomandibular hinge, the eyelids about the eyeball's centre, the eyeballs, the
head about the neck), and **translations** (jaw thrust, tongue show).

Skin slides over the tissue beneath it, so muscle displacements may be made tangent to the skin
(``slide``) and given a bulge along the normal where the tissue bunches (``bulge``).
All functions are pure: arrays in, ``(n_vertices, 3)`` displacement arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LinearMuscle",
    "Sphincter",
    "linear_muscle",
    "sphincter",
    "rotation",
    "rotation_matrix",
    "slide",
    "smoothstep",
]


def smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``low`` to 1 at ``high`` (``low > high`` steps down)."""
    t = np.clip((np.asarray(x, np.float64) - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class LinearMuscle:
    """A Waters linear muscle.

    Attributes
    ----------
    name : str
        Anatomical name (for documentation and diagnostics).
    attachment : (3,) float
        Bony origin ``A``; skin is pulled towards it.
    insertion : (3,) float
        Skin insertion ``I``; the displacement peaks at distance ``|I - A|`` from ``A``.
    angle : float
        Half-angle ``Omega`` of the zone of influence, degrees.
    spread : float
        ``Rf - Rs``: how far past the insertion the pull fades out, metres.
    contraction : float
        Peak displacement ``k`` at full contraction, metres.
    """

    name: str
    attachment: tuple[float, float, float]
    insertion: tuple[float, float, float]
    angle: float
    spread: float
    contraction: float


def linear_muscle(points: np.ndarray, muscle: LinearMuscle, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Displacement of ``points`` (n, 3) by a fully contracted linear muscle (Waters 1987, eq. 1-3)."""
    attachment = np.asarray(muscle.attachment, np.float64)
    axis = np.asarray(muscle.insertion, np.float64) - attachment
    rest = float(np.linalg.norm(axis))  # Rs
    axis /= rest
    offset = points - attachment
    distance = np.linalg.norm(offset, axis=1)
    safe = np.maximum(distance, 1e-12)
    cosine = np.clip(offset @ axis / safe, -1.0, 1.0)
    mu = np.arccos(cosine)
    omega = math.radians(muscle.angle)
    angular = np.where(mu < omega, np.cos(mu / omega * (math.pi / 2)), 0.0)
    far = rest + muscle.spread  # Rf
    radial = np.where(
        distance <= rest,
        np.cos((1 - distance / rest) * (math.pi / 2)),
        np.where(distance <= far, np.cos((distance - rest) / muscle.spread * (math.pi / 2)), 0.0),
    )
    amount = muscle.contraction * angular * radial
    if mask is not None:
        amount = amount * mask
    return -offset / safe[:, None] * amount[:, None]


@dataclass(frozen=True)
class Sphincter:
    """An elliptical sphincter muscle (orbicularis oris or oculi).

    Attributes
    ----------
    name : str
        Anatomical name.
    centre : (3,) float
        Centre the ring contracts towards.
    semi_axes : (2,) float
        Horizontal and vertical semi-axes of the ring of strongest pull, metres.
    width : float
        Elliptical distance (in units of the semi-axes) over which the pull fades on each side.
    contraction : float
        Peak displacement towards the centre, metres.
    depth : float
        How far behind the centre the muscle reaches (it lies in the face, not through the head).
    """

    name: str
    centre: tuple[float, float, float]
    semi_axes: tuple[float, float]
    width: float
    contraction: float
    depth: float = 0.025


def sphincter(
    points: np.ndarray,
    muscle: Sphincter,
    *,
    mask: np.ndarray | None = None,
    lower_gain: float = 1.0,
    upper_gain: float = 1.0,
) -> np.ndarray:
    """Displacement of ``points`` (n, 3) by a fully contracted sphincter, in the face's x-y plane.

    The pull falls off as a raised cosine of the elliptical distance from the ring;
    ``lower_gain`` and ``upper_gain`` weight the half below and above the centre (orbicularis
    oculi's orbital part lifts the cheek more than it lowers the brow).
    """
    centre = np.asarray(muscle.centre, np.float64)
    rel = points - centre
    a, b = muscle.semi_axes
    elliptic = np.sqrt((rel[:, 0] / a) ** 2 + (rel[:, 1] / b) ** 2)
    ring = np.clip(np.abs(elliptic - 1.0) / muscle.width, 0.0, 1.0)
    falloff = 0.5 * (1 + np.cos(np.pi * ring))
    inside = np.clip(elliptic, 0.0, 1.0)  # fades to nothing at the very centre
    # Blend the halves over a few millimetres: a step would tear the skin along the centre line.
    gain = upper_gain + (lower_gain - upper_gain) * smoothstep(0.004, -0.004, rel[:, 1])
    in_face = smoothstep(-muscle.depth, -0.6 * muscle.depth, rel[:, 2])
    amount = muscle.contraction * falloff * inside * gain * in_face
    if mask is not None:
        amount = amount * mask
    planar = rel.copy()
    planar[:, 2] = 0.0
    length = np.maximum(np.linalg.norm(planar, axis=1), 1e-12)
    return -planar / length[:, None] * amount[:, None]


def rotation_matrix(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Right-handed rotation ``(3, 3)`` by ``degrees`` about a unit ``axis`` (Rodrigues)."""
    axis = np.asarray(axis, np.float64)
    axis = axis / np.linalg.norm(axis)
    angle = math.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def rotation(
    points: np.ndarray,
    pivot: np.ndarray,
    axis: np.ndarray,
    degrees: np.ndarray | float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Displacement of ``points`` (n, 3) rotated about ``axis`` through ``pivot``.

    ``degrees`` may be one angle or one per point; ``weights`` (n,) scale the angle per point,
    so skin between a moving and a still part turns partway (the jaw's soft tissue).
    """
    angles = np.broadcast_to(np.asarray(degrees, np.float64), points.shape[:1])
    if weights is not None:
        angles = angles * weights
    axis = np.asarray(axis, np.float64)
    axis = axis / np.linalg.norm(axis)
    rel = points - np.asarray(pivot, np.float64)
    theta = np.radians(angles)[:, None]
    cross = np.cross(axis, rel)
    dot = rel @ axis
    rotated = rel * np.cos(theta) + cross * np.sin(theta) + np.outer(dot, axis) * (1 - np.cos(theta))
    return rotated - rel


def slide(displacement: np.ndarray, normals: np.ndarray, *, bulge: float = 0.0) -> np.ndarray:
    """Make a displacement tangent to the skin and add ``bulge`` times its length along the normal.

    Skin slides over fat and muscle instead of sinking into them; where a muscle bunches
    tissue (the cheek under a smile) the surface rises.
    """
    normal_part = np.sum(displacement * normals, axis=1, keepdims=True)
    tangent = displacement - normal_part * normals
    length = np.linalg.norm(displacement, axis=1, keepdims=True)
    return tangent + bulge * length * normals
