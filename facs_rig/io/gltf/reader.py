"""Read the morph-target meshes of any glTF 2.0 / GLB face rig.

glTF gives morph targets no names (spec §3.7.2.2 "Morph Targets"); the tools agree on
``mesh.extras.targetNames`` (three.js GLTFLoader, Blender glTF IO), and VRM 0.x writes the names per
primitive at ``meshes/*/primitives/*/extras/targetNames`` (VRM 0.0 spec). Both are read here; when
neither is present the targets get the names ``target_0``, ``target_1``, ....

All primitives of one mesh share the mesh's weights (spec: "all primitives MUST have the same
number of targets in the same order"), so each glTF mesh becomes one :class:`MorphMesh` with its
primitives' vertices concatenated in primitive order.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.mesh import MorphMesh, transform_mesh
from facs_rig.errors import GltfError
from facs_rig.io.gltf.accessors import accessor_count, read_accessor, read_accessor_float
from facs_rig.io.gltf.container import GltfSource, check_geometry_extensions, read_gltf_source

__all__ = ["GltfRig", "MeshTargets", "read_gltf", "world_matrices", "node_mesh"]

_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN = 4, 5, 6


@dataclass(frozen=True)
class MeshTargets:
    """The morph targets of one glTF mesh and the nodes that show it.

    Attributes
    ----------
    mesh_index : int
        Index into the document's ``meshes``.
    name : str
        Mesh name (``mesh_<index>`` when unnamed).
    target_names : tuple of str
        Target names in the mesh's target order (the order of its weights).
    names_source : str
        Where the names came from: ``"mesh.extras.targetNames"``,
        ``"primitive.extras.targetNames"`` or ``"generated"``.
    nodes : tuple of int
        Nodes whose ``mesh`` is this mesh (each gets its own animation channel).
    """

    mesh_index: int
    name: str
    target_names: tuple[str, ...]
    names_source: str
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class GltfRig:
    """A glTF file's morph-target meshes.

    Attributes
    ----------
    path : Path
        The file read.
    source : GltfSource
        The parsed document (plain JSON ``dict``) and buffers, for writers.
    targets : tuple of MeshTargets
        One entry per mesh that has morph targets, in mesh order.
    meshes : tuple of MorphMesh
        The decoded geometry, aligned with ``targets``; empty when read with ``geometry=False``.
    """

    path: Path
    source: GltfSource
    targets: tuple[MeshTargets, ...]
    meshes: tuple[MorphMesh, ...] = ()
    metadata: Any = field(default_factory=lambda: MappingProxyType({}))

    @property
    def target_names(self) -> tuple[str, ...]:
        """Every target name in the file, first-seen order, without repeats."""
        return tuple(dict.fromkeys(name for mesh in self.targets for name in mesh.target_names))

    def world_meshes(self) -> tuple[MorphMesh, ...]:
        """:attr:`meshes` in world space: each moved by the world transform of the first node
        showing it (a mesh no node shows is returned as it is).

        :attr:`meshes` are in the mesh's own space, as the file stores them: Face Cap's head is
        ~12,000 units tall there and lies on its back (its nodes scale it by 1/5,000 and turn it
        about 90° about X). Write these, not :attr:`meshes`, to get a copy that looks like the
        file.

        Raises
        ------
        GltfError
            When read without geometry, or a node transform puts a mesh beyond float32 range.
        """
        if self.targets and not self.meshes:
            raise GltfError(f"{self.path}: read without geometry; no meshes to place")
        matrices = world_matrices(self.source)
        placed = []
        for info, mesh in zip(self.targets, self.meshes):
            moved = transform_mesh(mesh, matrices[info.nodes[0]]) if info.nodes else mesh
            if not (np.isfinite(moved.positions).all() and np.isfinite(moved.deltas).all()):
                raise GltfError(f"{self.path}: mesh {mesh.name!r}: its node transform puts it "
                                f"beyond float32 range")
            placed.append(moved)
        return tuple(placed)

    def document(self):
        """The document as a :class:`pygltflib.GLTF2` (a typed copy, for inspection)."""
        import pygltflib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pygltflib warns about optional fields left out
            return pygltflib.GLTF2.from_dict(self.source.document)


def read_gltf(path: str | os.PathLike[str], *, geometry: bool = True) -> GltfRig:
    """Read every mesh with morph targets from a ``.gltf`` or ``.glb`` file.

    Parameters
    ----------
    path : path-like
        The file. External ``.bin`` buffers must sit inside its folder.
    geometry : bool
        Decode positions, faces, normals and target deltas (``GltfRig.meshes``). Without it only
        the target names and nodes are read, which is all baking an animation needs.

    Raises
    ------
    GltfError
        Malformed, truncated or hostile files, with the JSON pointer of the problem.
    UnsupportedGltfError
        Geometry compressed with meshopt or Draco (the message says how to decompress it).
    """
    source = read_gltf_source(path)
    check_geometry_extensions(source)
    return rig_from_source(source, geometry=geometry)


def rig_from_source(source: GltfSource, *, geometry: bool = True) -> GltfRig:
    """:func:`read_gltf` on an already loaded :class:`GltfSource`."""
    meshes = source.array("meshes")
    nodes_of_mesh: dict[int, list[int]] = {}
    for node_index, node in enumerate(source.array("nodes")):
        mesh_index = node.get("mesh")
        if mesh_index is None:
            continue
        if isinstance(mesh_index, bool) or not isinstance(mesh_index, int) or \
                not 0 <= mesh_index < len(meshes):
            raise GltfError(f"{source.path}: /nodes/{node_index}/mesh refers to a mesh that does "
                            f"not exist: {mesh_index!r}")
        nodes_of_mesh.setdefault(mesh_index, []).append(node_index)
    targets, decoded = [], []
    for mesh_index, mesh in enumerate(meshes):
        primitives = _primitives(source, mesh, mesh_index)
        n_targets = _target_count(source, primitives, mesh_index)
        if n_targets == 0:
            continue
        names, names_source = _target_names(mesh, primitives, n_targets)
        info = MeshTargets(mesh_index=mesh_index,
                           name=str(mesh.get("name") or f"mesh_{mesh_index}"),
                           target_names=names, names_source=names_source,
                           nodes=tuple(nodes_of_mesh.get(mesh_index, ())))
        targets.append(info)
        if geometry:
            decoded.append(_decode_mesh(source, info, primitives))
    return GltfRig(path=source.path, source=source, targets=tuple(targets), meshes=tuple(decoded))


def node_mesh(source: GltfSource, node_index: int) -> MorphMesh | None:
    """The geometry of the mesh a node shows (its targets left out), or None when it shows none.

    For meshes without morph targets (eyeballs a rig turns as nodes), which :func:`read_gltf`
    does not decode.
    """
    nodes, meshes = source.array("nodes"), source.array("meshes")
    mesh_index = nodes[node_index].get("mesh") if 0 <= node_index < len(nodes) else None
    if isinstance(mesh_index, bool) or not isinstance(mesh_index, int) or not 0 <= mesh_index < len(meshes):
        return None
    mesh = meshes[mesh_index]
    primitives = _primitives(source, mesh, mesh_index)
    info = MeshTargets(mesh_index=mesh_index, name=str(mesh.get("name") or f"mesh_{mesh_index}"),
                       target_names=(), names_source="generated", nodes=(node_index,))
    stripped = [{k: v for k, v in p.items() if k != "targets"} for p in primitives]
    return _decode_mesh(source, info, stripped)


def _primitives(source: GltfSource, mesh: dict, mesh_index: int) -> list[dict]:
    primitives = mesh.get("primitives")
    if not isinstance(primitives, list) or not primitives or \
            not all(isinstance(p, dict) for p in primitives):
        raise GltfError(f"{source.path}: /meshes/{mesh_index}/primitives must be a non-empty "
                        f"array of objects")
    return primitives


def _target_count(source: GltfSource, primitives: list[dict], mesh_index: int) -> int:
    counts = []
    for primitive_index, primitive in enumerate(primitives):
        targets = primitive.get("targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise GltfError(f"{source.path}: /meshes/{mesh_index}/primitives/{primitive_index}/"
                            f"targets must be an array of objects")
        counts.append(len(targets))
    if len(set(counts)) > 1:
        raise GltfError(f"{source.path}: /meshes/{mesh_index}: its primitives have different "
                        f"numbers of morph targets {counts}; glTF requires the same number")
    return counts[0]


def _valid_names(value: object, n_targets: int) -> tuple[str, ...] | None:
    if isinstance(value, list) and len(value) == n_targets and \
            all(isinstance(name, str) for name in value):
        return tuple(value)
    return None


def _target_names(mesh: dict, primitives: list[dict], n_targets: int) -> tuple[tuple[str, ...], str]:
    extras = mesh.get("extras")
    if isinstance(extras, dict):
        names = _valid_names(extras.get("targetNames"), n_targets)
        if names is not None:
            return names, "mesh.extras.targetNames"
    for primitive in primitives:
        extras = primitive.get("extras")
        if isinstance(extras, dict):
            names = _valid_names(extras.get("targetNames"), n_targets)
            if names is not None:
                return names, "primitive.extras.targetNames"
    return tuple(f"target_{k}" for k in range(n_targets)), "generated"


#: Largest dense delta array a file may make us allocate (targets × vertices × 3 float32), whatever
#: its size. A real rig of 100,000 vertices and 250 targets needs 300 MB. Below this, the file's
#: decode budget (:data:`~facs_rig.io.gltf.container.DECODE_FACTOR` times its size) applies.
MAX_DELTA_BYTES = 4 << 30


def _decode_mesh(source: GltfSource, info: MeshTargets, primitives: list[dict]) -> MorphMesh:
    total_vertices = 0
    for primitive_index, primitive in enumerate(primitives):
        attributes = primitive.get("attributes")
        if isinstance(attributes, dict) and "POSITION" in attributes:
            total_vertices += accessor_count(
                source, attributes["POSITION"],
                f"/meshes/{info.mesh_index}/primitives/{primitive_index}/attributes/POSITION")
    needed = total_vertices * len(info.target_names) * 12
    if needed > MAX_DELTA_BYTES:
        # JSON counts are unbounded integers: 10**400 / 2**30 would overflow a float.
        size = f"{needed / 2**30:.1f} GiB" if needed < 2**1000 else "more memory than exists"
        vertices = f"{total_vertices}" if total_vertices < 10**15 else "more than 10^15"
        raise GltfError(f"{source.path}: /meshes/{info.mesh_index}: {len(info.target_names)} "
                        f"targets × {vertices} vertices would need {size} "
                        f"of deltas (limit {MAX_DELTA_BYTES / 2**30:.0f} GiB)")
    # The dense deltas (per primitive, then concatenated: twice) are charged before any of
    # the accessors behind them is read.
    source.budget.charge(2 * needed, f"/meshes/{info.mesh_index}: {len(info.target_names)} "
                         f"targets × {total_vertices} vertices of deltas", source.path)
    positions, normals, faces, deltas = [], [], [], []
    vertex_offset = 0
    for primitive_index, primitive in enumerate(primitives):
        pointer = f"/meshes/{info.mesh_index}/primitives/{primitive_index}"
        attributes = primitive.get("attributes")
        if not isinstance(attributes, dict) or "POSITION" not in attributes:
            raise GltfError(f"{source.path}: {pointer}/attributes has no POSITION")
        base = read_accessor_float(source, attributes["POSITION"], f"{pointer}/attributes/POSITION")
        if base.shape[1] != 3:
            raise GltfError(f"{source.path}: {pointer}/attributes/POSITION must be VEC3")
        n_vertices = base.shape[0]
        positions.append(base)
        if "NORMAL" in attributes:
            normal = read_accessor_float(source, attributes["NORMAL"], f"{pointer}/attributes/NORMAL")
            normals.append(normal if normal.shape == base.shape else None)
        else:
            normals.append(None)
        faces.append(_faces(source, primitive, n_vertices, pointer) + vertex_offset)
        primitive_deltas = np.zeros((len(info.target_names), n_vertices, 3), dtype=np.float32)
        for target_index, target in enumerate(primitive.get("targets", [])):
            if "POSITION" not in target:
                continue  # a target may move only normals or UVs
            target_pointer = f"{pointer}/targets/{target_index}/POSITION"
            if accessor_count(source, target["POSITION"], target_pointer) != n_vertices:
                raise GltfError(f"{source.path}: {target_pointer}: the accessor's count differs "
                                f"from the primitive's POSITION count {n_vertices}")
            delta = read_accessor_float(source, target["POSITION"], target_pointer)
            if delta.shape[1] != 3:
                raise GltfError(f"{source.path}: {target_pointer} must be VEC3")
            primitive_deltas[target_index] = delta
        deltas.append(primitive_deltas)
        vertex_offset += n_vertices
    all_normals = None
    if all(normal is not None for normal in normals):
        all_normals = np.concatenate(normals).astype(np.float32, copy=False)
    return MorphMesh(
        name=info.name,
        positions=np.ascontiguousarray(np.concatenate(positions), dtype=np.float32),
        faces=np.concatenate(faces).astype(np.uint32, copy=False),
        target_names=info.target_names,
        deltas=np.ascontiguousarray(np.concatenate(deltas, axis=1), dtype=np.float32),
        normals=all_normals,
        metadata=MappingProxyType({
            "source": str(source.path), "mesh_index": info.mesh_index, "nodes": info.nodes,
            "names_source": info.names_source,
            "primitive_vertex_counts": tuple(p.shape[0] for p in positions),
        }),
    )


def _faces(source: GltfSource, primitive: dict, n_vertices: int, pointer: str) -> np.ndarray:
    """Triangles of a primitive as ``(n, 3)`` int64; points and lines give none."""
    mode = primitive.get("mode", _TRIANGLES)
    if mode not in (_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN):
        return np.zeros((0, 3), dtype=np.int64)
    if primitive.get("indices") is not None:
        raw = read_accessor(source, primitive["indices"], f"{pointer}/indices")
        if raw.shape[1] != 1 or raw.dtype.kind != "u":
            raise GltfError(f"{source.path}: {pointer}/indices must be SCALAR unsigned integers")
        indices = raw[:, 0].astype(np.int64)
        if indices.size and indices.max() >= n_vertices:
            raise GltfError(f"{source.path}: {pointer}/indices refer to vertex {indices.max()} "
                            f"but the primitive has {n_vertices}")
    else:
        indices = np.arange(n_vertices, dtype=np.int64)
    if mode == _TRIANGLES:
        usable = indices.size - indices.size % 3
        return indices[:usable].reshape(-1, 3)
    if indices.size < 3:
        return np.zeros((0, 3), dtype=np.int64)
    k = np.arange(indices.size - 2)
    if mode == _TRIANGLE_FAN:  # spec §3.7.2.1: (0, i+1, i+2)
        return np.stack([np.full_like(k, indices[0]), indices[k + 1], indices[k + 2]], axis=1)
    # Triangle strip, spec §3.7.2.1: even i -> (i, i+1, i+2), odd i -> (i+1, i, i+2).
    first = np.where(k % 2 == 0, indices[k], indices[k + 1])
    second = np.where(k % 2 == 0, indices[k + 1], indices[k])
    return np.stack([first, second, indices[k + 2]], axis=1)


def _node_numbers(node: dict, key: str, default: list[float], pointer: str,
                  source: GltfSource) -> np.ndarray:
    """``node[key]`` as finite float64s of the default's length (spec §5.25: number arrays).

    JSON integers are unbounded: a translation of 10**400 has no float (OverflowError), and a
    literal such as 1e400 parses as infinity; both are refused here by name.
    """
    value = node.get(key, default)
    if not isinstance(value, list) or len(value) != len(default) or not all(
            isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
        raise GltfError(f"{source.path}: {pointer}/{key} must be an array of {len(default)} "
                        f"numbers")
    try:
        numbers = np.array([float(item) for item in value], dtype=np.float64)
    except OverflowError:
        numbers = np.array([np.inf])
    if not np.isfinite(numbers).all():
        raise GltfError(f"{source.path}: {pointer}/{key} holds a number beyond float range")
    return numbers


def _node_matrix(node: dict, pointer: str, source: GltfSource) -> np.ndarray:
    if "matrix" in node:
        matrix = _node_numbers(node, "matrix", [0.0] * 16, pointer, source)
        return matrix.reshape(4, 4).T  # column-major (spec §3.5.2)
    translation = _node_numbers(node, "translation", [0.0, 0.0, 0.0], pointer, source)
    x, y, z, w = _node_numbers(node, "rotation", [0.0, 0.0, 0.0, 1.0], pointer, source)
    scale = _node_numbers(node, "scale", [1.0, 1.0, 1.0], pointer, source)
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    result = np.eye(4)
    result[:3, :3] = rotation * scale  # T * R * S
    result[:3, 3] = translation
    return result


def world_matrices(source: GltfSource) -> dict[int, np.ndarray]:
    """Each node's 4×4 world matrix (parents' transforms applied), for baking posed meshes."""
    nodes = source.array("nodes")
    parent: dict[int, int] = {}
    for index, node in enumerate(nodes):
        for child in node.get("children", []) if isinstance(node.get("children"), list) else []:
            if isinstance(child, int) and 0 <= child < len(nodes):
                parent[child] = index
    result: dict[int, np.ndarray] = {}
    for index in range(len(nodes)):
        chain, current, seen = [], index, set()
        while current is not None and current not in seen:  # cycles are invalid; stop on them
            seen.add(current)
            chain.append(current)
            current = parent.get(current)
        matrix = np.eye(4)
        for node_index in reversed(chain):
            with np.errstate(over="ignore", invalid="ignore"):  # callers check their results
                matrix = matrix @ _node_matrix(nodes[node_index], f"/nodes/{node_index}", source)
        result[index] = matrix
    return result
