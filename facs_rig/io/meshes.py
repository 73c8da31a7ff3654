"""Plain triangle meshes as OBJ and PLY files, through trimesh.

trimesh normally "processes" a mesh on load and save (merges duplicate vertices, drops unused
ones), which renumbers vertices; facs-rig always passes ``process=False`` (and for OBJ
``maintain_order=True``), so vertex ``i`` of a posed mesh is vertex ``i`` of the rig and a
pose can be compared or re-targeted vertex by vertex. trimesh has no morph targets, so these
files carry one shape each; morph targets travel in glTF (:mod:`facs_rig.io.gltf`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from facs_rig.errors import FacsRigError, UnsupportedFormatError
from facs_rig.io.atomic import write_bytes_atomic

__all__ = ["MESH_FORMATS", "write_mesh", "read_mesh"]

#: Extensions handled here.
MESH_FORMATS = (".obj", ".ply")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise UnsupportedFormatError(f"{path}: mesh files must be {' or '.join(MESH_FORMATS)}")
    return suffix[1:]


def write_mesh(path: str | os.PathLike[str], positions: np.ndarray, faces: np.ndarray, *,
               normals: np.ndarray | None = None) -> None:
    """Write a triangle mesh to ``.obj`` (text) or ``.ply`` (binary), vertex order preserved.

    Parameters
    ----------
    path : path-like
        Output file; written atomically.
    positions : (V, 3) float
    faces : (n_faces, 3) int
    normals : (V, 3) float, optional
        Vertex normals to store (OBJ ``vn``, PLY ``nx ny nz``); computed by trimesh if None.
    """
    import trimesh

    path = Path(path)
    kind = _format(path)
    mesh = trimesh.Trimesh(vertices=np.asarray(positions, dtype=np.float64),
                           faces=np.asarray(faces, dtype=np.int64).reshape(-1, 3),
                           vertex_normals=None if normals is None else np.asarray(normals),
                           process=False, validate=False)
    exported = mesh.export(file_type=kind)
    write_bytes_atomic(path, exported.encode("utf-8") if isinstance(exported, str) else exported)


def read_mesh(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read ``.obj`` or ``.ply`` as ``(positions (V, 3) float32, faces (n, 3) uint32)``, in file order.

    Raises
    ------
    FacsRigError
        When the file is missing or trimesh cannot read it as one triangle mesh.
    """
    import trimesh

    path = Path(path)
    kind = _format(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnsupportedFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        options = {"maintain_order": True} if kind == "obj" else {}
        loaded = trimesh.load(io.BytesIO(data), file_type=kind, process=False, **options)
    except Exception as exc:  # trimesh raises many types on malformed files
        raise UnsupportedFormatError(f"{path}: not a readable {kind.upper()} mesh: {exc}") from None
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.geometry.values())
        if len(geometries) != 1:
            raise FacsRigError(f"{path}: holds {len(geometries)} meshes; expected one")
        loaded = geometries[0]
    if not isinstance(loaded, trimesh.Trimesh):
        raise UnsupportedFormatError(f"{path}: not a triangle mesh")
    return (np.asarray(loaded.vertices, dtype=np.float32),
            np.asarray(loaded.faces, dtype=np.uint32).reshape(-1, 3))
