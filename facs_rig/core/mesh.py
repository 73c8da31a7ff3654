"""A triangle mesh with morph targets, the exchange type between glTF, deformation and rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["MorphMesh", "mirrors", "transform_mesh"]


@dataclass(frozen=True)
class MorphMesh:
    """One mesh (all its primitives merged) with morph targets stored as position deltas.

    Attributes
    ----------
    name : str
        Mesh name.
    positions : (n_vertices, 3) float32
        Rest (neutral) positions.
    faces : (n_faces, 3) uint32
        Triangle vertex indices.
    target_names : tuple of str
        Morph target names, in the mesh's target order.
    deltas : (n_targets, n_vertices, 3) float32
        Position offset of each target at weight 1 (glTF morph targets are deltas).
    normals : (n_vertices, 3) float32 or None
        Rest normals, when the source has them.
    metadata : Mapping
        Free provenance (source file, node names, units, ...).
    """

    name: str
    positions: np.ndarray
    faces: np.ndarray
    target_names: tuple[str, ...]
    deltas: np.ndarray
    normals: np.ndarray | None = None
    metadata: Any = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        n_vertices = self.positions.shape[0]
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise ValueError(f"MorphMesh {self.name!r}: positions must be (n, 3)")
        if self.deltas.shape != (len(self.target_names), n_vertices, 3):
            raise ValueError(f"MorphMesh {self.name!r}: deltas must have shape "
                             f"({len(self.target_names)}, {n_vertices}, 3), got {self.deltas.shape}")

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.positions.shape[0])


def mirrors(matrix: np.ndarray) -> bool:
    """Whether the affine ``matrix`` (4, 4) (or its linear part, (3, 3)) mirrors: its
    determinant is negative, and the glTF 2.0 specification (3.7.2.1, meshes: "the determinant
    of the node's global transform defines the winding order") then has renderers take a
    mesh's triangles as clockwise. Baking such a matrix into positions must reverse them."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.linalg.det(np.asarray(matrix, np.float64)[:3, :3]) < 0)


def transform_mesh(mesh: MorphMesh, matrix: np.ndarray) -> MorphMesh:
    """``mesh`` moved by the affine ``matrix``: a glTF node's world transform baked into it.

    Positions take the whole matrix; target deltas (offsets, not points) its linear part;
    normals the inverse transpose of the linear part, renormalised (a non-uniform scale tilts
    them). A matrix that mirrors (negative determinant) reverses each triangle's winding, as
    the glTF 2.0 specification (§3.7.2.1, meshes: "the determinant of the node's global
    transform defines the winding order") has renderers do for such nodes, so the faces keep facing outwards.

    Parameters
    ----------
    mesh : MorphMesh
    matrix : (4, 4) float
        Column-vector convention (``matrix @ [x, y, z, 1]``), as ``world_matrices`` returns.

    Returns
    -------
    MorphMesh
        float32 positions, deltas and normals; same names, faces (reversed when mirrored) and
        metadata. Values beyond float32 range become ``inf``: callers check.
    """
    matrix = np.asarray(matrix, np.float64)
    linear, shift = matrix[:3, :3], matrix[:3, 3]
    with np.errstate(over="ignore", invalid="ignore"):
        positions = (mesh.positions.astype(np.float64) @ linear.T + shift).astype(np.float32)
        deltas = (mesh.deltas.astype(np.float64) @ linear.T).astype(np.float32)
        normals = None
        if mesh.normals is not None:
            try:
                normal_matrix = np.linalg.inv(linear).T
            except np.linalg.LinAlgError:  # a zero scale: no direction survives
                normal_matrix = np.zeros((3, 3))
            turned = mesh.normals.astype(np.float64) @ normal_matrix.T
            length = np.linalg.norm(turned, axis=1, keepdims=True)
            normals = np.where(length > 0, turned / np.where(length > 0, length, 1.0), 0.0).astype(np.float32)
    faces = mesh.faces[:, ::-1].copy() if mirrors(linear) else mesh.faces
    return MorphMesh(name=mesh.name, positions=positions, faces=faces,
                     target_names=mesh.target_names, deltas=deltas, normals=normals,
                     metadata=mesh.metadata)
