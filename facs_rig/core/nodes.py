"""Node motion: rig targets that turn (or move) glTF nodes, such as eyeballs for gaze.

Real rigs and engines turn the eyes by rotating the eyeball nodes (bones) about the eye centre,
not by morph targets: a rotation keeps the eyeball round at every angle, where a blended morph
moves the iris along a chord and shrinks the eye half way. A rig profile declares which node a
target turns about which axis by how many degrees at full weight (``node_motion`` in
``rigs/*.json``); :func:`node_poses` turns target weights over time into each node's rotation
and translation, which ``bake`` writes as glTF ``rotation``/``translation`` channels and the
previews apply to the node's mesh.

Rules (weights ``w`` are the mixed target weights, so the profile's rules apply to them):

- A rotation without a pivot turns the node about its own origin (the eye centre). The rotation
  vectors ``w * degrees * axis`` of all such entries of a node are added (an exponential-map
  blend: commutative, exact for one target, and 61+63 looks left and up at once).
- A rotation with a ``pivot`` turns the node with something else (the head about the neck):
  its rotation vectors add the same way and are applied after the node's own ones; the node's
  origin moves by ``w * (R - I)(origin - pivot)`` (``R`` the full-weight rotation), linearly in
  ``w`` as a morph target moves the skin beside it, so the eye stays in its socket at every weight.
- A ``translation`` moves the node's origin by ``w * translation``.

Axes and pivots are in the node's parent space; the axis points the right-handed way (glTF:
+Y up, the face looks along +Z, +X is the subject's left, so +Y by a positive angle turns the
eyes to the subject's left). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NodeMotion", "NodePose", "node_poses", "quaternion_from_rotvec", "quaternion_multiply",
           "rotation_matrices", "ancestry", "carried_points_matrix"]


@dataclass(frozen=True)
class NodeMotion:
    """One target's motion of one node at full weight.

    Attributes
    ----------
    target : str
        The profile target whose weight drives it.
    node : str
        glTF node name.
    axis : (3,) tuple of float or None
        Rotation axis (parent space; need not be unit length); None for a pure translation.
    degrees : float
        Rotation at full weight (right-handed about ``axis``).
    pivot : (3,) tuple of float or None
        Point (parent space, file units) the rotation turns the node about; None: its own origin.
    translation : (3,) tuple of float or None
        Offset of the node's origin at full weight (parent space, file units).
    """

    target: str
    node: str
    axis: tuple[float, float, float] | None = None
    degrees: float = 0.0
    pivot: tuple[float, float, float] | None = None
    translation: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class NodePose:
    """A node's local transform over time.

    Attributes
    ----------
    node : str
    rotation : (n_frames, 4) float64
        Unit quaternions ``(x, y, z, w)`` (glTF order), ``w >= 0``.
    translation : (n_frames, 3) float64
    """

    node: str
    rotation: np.ndarray
    translation: np.ndarray


def quaternion_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """``(..., 3)`` rotation vectors (radians) -> ``(..., 4)`` unit quaternions ``(x, y, z, w)``."""
    rotvec = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    # sin(a/2)/a -> 1/2 as a -> 0 (no division by zero for the rest pose).
    scale = np.where(angle > 1e-12, np.sin(angle / 2) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.concatenate([rotvec * scale, np.cos(angle / 2)], axis=-1)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``(..., 4)`` quaternions ``(x, y, z, w)`` (b applied first)."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ], axis=-1)


def rotation_matrices(quaternions: np.ndarray) -> np.ndarray:
    """``(..., 4)`` unit quaternions ``(x, y, z, w)`` -> ``(..., 3, 3)`` rotation matrices."""
    x, y, z, w = np.moveaxis(np.asarray(quaternions, np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def _rotvec(motion: NodeMotion) -> np.ndarray:
    axis = np.asarray(motion.axis, np.float64)
    return axis / np.linalg.norm(axis) * np.radians(motion.degrees)


def node_poses(motions: Sequence[NodeMotion], names: Sequence[str], weights: np.ndarray,
               rest: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> list[NodePose]:
    """Each moved node's rotation and translation over time.

    Parameters
    ----------
    motions : sequence of NodeMotion
        The profile's node motion.
    names : sequence of str
        The target name of each column of ``weights``.
    weights : (n_frames, n_columns) float
        Target weights over time (mixed).
    rest : Mapping[str, ((3,) translation, (4,) rotation xyzw)]
        The rest transform of each node the file has; motions of other nodes are skipped.

    Returns
    -------
    list of NodePose
        One per node of ``rest`` that a motion names and a column drives, in first-motion order.
    """
    weights = np.asarray(weights, np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    column = {name: k for k, name in enumerate(names)}
    n_frames = weights.shape[0]
    order = [node for node in dict.fromkeys(m.node for m in motions) if node in rest]
    poses = []
    for node in order:
        origin = np.asarray(rest[node][0], np.float64)
        own = np.zeros((n_frames, 3))
        carried = np.zeros((n_frames, 3))
        offset = np.zeros((n_frames, 3))
        driven = False
        for motion in motions:
            if motion.node != node or motion.target not in column:
                continue
            driven = True
            w = weights[:, column[motion.target]][:, None]
            if motion.translation is not None:
                offset += w * np.asarray(motion.translation, np.float64)
            if motion.axis is None:
                continue
            rotvec = _rotvec(motion)
            if motion.pivot is None:
                own += w * rotvec
            else:
                carried += w * rotvec
                full = rotation_matrices(quaternion_from_rotvec(rotvec))
                arm = origin - np.asarray(motion.pivot, np.float64)
                offset += w * (full @ arm - arm)
        if not driven:
            continue
        rotation = quaternion_multiply(quaternion_from_rotvec(carried), quaternion_from_rotvec(own))
        rotation = quaternion_multiply(rotation, np.asarray(rest[node][1], np.float64))
        rotation /= np.linalg.norm(rotation, axis=-1, keepdims=True)
        rotation *= np.where(rotation[:, 3:] < 0, -1.0, 1.0)
        poses.append(NodePose(node, rotation, origin + offset))
    return poses


def ancestry(parent_of: Mapping[int, int], node: int) -> tuple[int, ...]:
    """``node`` and the nodes above it, nearest first: the nodes whose motion carries it.

    Parameters
    ----------
    parent_of : Mapping[int, int]
        Node index -> index of its parent (roots are absent).
    node : int

    Returns
    -------
    tuple of int
        ``(node, parent, grandparent, ...)``; a cycle (invalid glTF) stops where it closes.
    """
    chain: list[int] = []
    seen: set[int] = set()
    current: int | None = node
    while current is not None and current not in seen:
        seen.add(current)
        chain.append(current)
        current = parent_of.get(current)
    return tuple(chain)


def carried_points_matrix(parent: np.ndarray, rest_inverse: np.ndarray, rotation: np.ndarray,
                          translation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The world-space matrix that takes everything a node carries from its rest pose to a new
    local rotation and translation.

    A mesh anywhere below the node has world matrix ``parent @ local @ below``; with the node's
    local transform changed to ``local'`` it becomes ``parent @ local' @ inv(parent @ local)``
    times the rest one. So one matrix moves the node's own vertices and all its descendants'
    (given in world space), which is how a turned eye node turns an eyeball mesh that sits on
    its child node.

    Parameters
    ----------
    parent : (4, 4) float
        World matrix of the node's parent (identity for a root).
    rest_inverse : (4, 4) float
        Inverse of the node's world matrix at rest.
    rotation : (4,) float
        The node's new local rotation, a unit quaternion (x, y, z, w).
    translation : (3,) float
        Its new local translation.
    scale : (3,) float
        Its local scale (node motion does not change it).

    Returns
    -------
    (4, 4) float64
        Apply as ``points @ M[:3, :3].T + M[:3, 3]`` to world-space points.
    """
    local = np.eye(4)
    local[:3, :3] = rotation_matrices(np.asarray(rotation, np.float64)) * np.asarray(scale, np.float64)
    local[:3, 3] = np.asarray(translation, np.float64)
    return np.asarray(parent, np.float64) @ local @ np.asarray(rest_inverse, np.float64)
