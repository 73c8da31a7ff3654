"""A triangle mesh with morph targets, the exchange type between glTF, deformation and rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["MorphMesh"]


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
