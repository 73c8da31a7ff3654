"""Write glTF 2.0: new files with morph targets, and animated copies of existing rigs.

Two writers:

* :func:`write_glb` builds a NEW file from :class:`MorphMesh` objects (positions, normals, faces,
  target deltas as sparse accessors where that is smaller, ``extras.targetNames`` at mesh and
  primitive level, an optional weights animation).
* :func:`write_animated_gltf` copies an existing file's JSON untouched (materials, textures, skins,
  existing animations, extras and unknown properties all survive, since the document is a plain
  dict, not a re-serialised pygltflib model) and appends one animation of the ``weights`` of every
  node whose mesh has matched targets.

Both choose the container by extension: ``.glb`` (one binary file) or ``.gltf`` (JSON plus a
``.bin`` of the same stem beside it). Every byte goes through :mod:`facs_rig.io.atomic`, so an
existing output is replaced whole or not at all; a ``.gltf`` and its buffer are replaced as a pair
(see :func:`write_gltf_document`).

The weights animation follows spec §3.11 (Animations): the sampler input is the key times
(float, strictly increasing, with ``min``/``max``); the output holds ``n_keys × n_targets`` floats,
one key's weights for every target of the mesh after another (spec §3.11, "Animations").
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facs_rig.core.curves import TargetWeights
from facs_rig.core.keyframes import reduce_keyframes
from facs_rig.core.mesh import MorphMesh
from facs_rig.core.nodes import NodeMotion, NodePose, node_poses
from facs_rig.errors import GltfError, UnsupportedFormatError
from facs_rig.io.atomic import refuse_input_as_output, write_bytes_atomic
from facs_rig.io.gltf.builder import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, BufferBuilder
from facs_rig.io.gltf.container import (
    glb_bytes,
    read_uri_image,
    resolve_relative_uri,
    sniff_image,
)
from facs_rig.io.gltf.reader import GltfRig

__all__ = [
    "write_glb",
    "write_gltf_document",
    "write_animated_gltf",
    "WeightTrack",
    "BakeResult",
    "weight_tracks",
    "DEFAULT_TOLERANCE",
    "ANIMATION_MARK",
    "is_facs_rig_animation",
]

#: ``extras`` of every animation facs-rig writes: how a later bake recognises (and replaces) it.
#: glTF has no "generator" per animation; extras are the spec's place for application data
#: (glTF 2.0 §3.13 "Extras"), and importers keep them (Blender as custom properties).
ANIMATION_MARK = {"generator": "facs-rig"}

#: Default keyframe-reduction tolerance in weight units (0-1): 1/1000 of full activation, below
#: what a viewer can show on a face (a 1 cm smile moves 0.01 mm).
DEFAULT_TOLERANCE = 1e-3
_GENERATOR = "facs-rig"


def _container_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise UnsupportedFormatError(f"{path}: a glTF output must end in .glb or .gltf")
    return suffix[1:]


def write_gltf_document(document: dict, binary: bytes, path: str | os.PathLike[str]) -> None:
    """Write ``document`` with ``binary`` as its only buffer to ``path`` (``.glb`` or ``.gltf``).

    ``document["buffers"]`` must already be ``[{"byteLength": len(binary)}]`` (or absent when
    ``binary`` is empty). A ``.glb`` is one atomic file. A ``.gltf`` and its buffer are two files,
    written so that a run killed at any moment leaves either the old pair or the new one:

    1. the buffer goes to whichever of the output's two buffer names (:func:`sidecar_names`:
       ``<stem>.bin``, ``<stem>.gltf.bin``) the existing ``.gltf`` does not use, so it never
       replaces a file the old ``.gltf`` reads;
    2. the ``.gltf`` pointing to it replaces the old one (one atomic rename: the switch);
    3. the other buffer name is removed (the old pair's buffer, or one a run killed before its
       switch left behind).

    Alternating between two fixed names (rather than, say, a content hash) means a killed run
    can never leave a buffer file that a later run would not reuse or remove, and no folder
    listing is needed. Temporary ``.part`` files of killed runs are removed by
    :mod:`facs_rig.io.atomic`.
    """
    path = Path(path)
    container = _container_of(path)
    if container == "glb":
        write_bytes_atomic(path, glb_bytes(document, binary))
        return
    document = dict(document)
    folder = path.parent
    primary, alternate = sidecar_names(path)
    bin_name = alternate if primary in _buffers_in_use(path) else primary
    if binary:
        # RFC 3986 percent-encoding: a stem with spaces or '#' is still one relative URI.
        document["buffers"] = [dict(document["buffers"][0], uri=urllib.parse.quote(bin_name))]
        write_bytes_atomic(folder / bin_name, binary)
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))
    for name in (primary, alternate):
        if name != bin_name or not binary:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(folder / name)


def sidecar_names(path: Path) -> tuple[str, str]:
    """The two buffer file names a ``.gltf`` output takes in turn: ``<stem>.bin`` (what tools and
    users expect) and ``<stem>.gltf.bin`` (a name no other ``.gltf`` output's first choice can
    have short of ``<stem>.gltf.gltf``)."""
    return f"{path.stem}.bin", f"{path.name}.bin"


#: An existing .gltf larger than this is not opened to see which buffer it uses (ours are JSON
#: without geometry: a few MB at most); its buffer name is then treated as in use.
_MAX_OLD_GLTF_BYTES = 64 << 20


def _buffers_in_use(path: Path) -> set[str]:
    """The relative buffer file names the existing ``path`` (if any) reads."""
    try:
        if path.stat().st_size > _MAX_OLD_GLTF_BYTES:
            return set(sidecar_names(path)[:1])
        document = json.loads(path.read_bytes())
        buffers = document.get("buffers") or []
        uris = [buffer.get("uri") for buffer in buffers if isinstance(buffer, dict)]
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, RecursionError, AttributeError, TypeError):
        return set(sidecar_names(path)[:1])  # unreadable: assume the usual name is in use
    return {urllib.parse.unquote(uri) for uri in uris if isinstance(uri, str)}


# --------------------------------------------------------------------------------------------
# New files
# --------------------------------------------------------------------------------------------

def write_glb(meshes: Sequence[MorphMesh], path: str | os.PathLike[str], *,
              animation: TargetWeights | None = None,
              animation_name: str = "facs-rig",
              interpolation: str = "LINEAR",
              node_rotations: Sequence[Sequence[float] | None] | None = None,
              node_translations: Sequence[Sequence[float] | None] | None = None,
              materials: Sequence[Mapping | None] | None = None,
              vertex_colors: Sequence[np.ndarray | None] | None = None,
              sparse: bool | None = None,
              extras: Mapping | None = None) -> None:
    """Write a NEW glTF file holding ``meshes`` with their morph targets.

    Stable API (the default head, ``rigs/default_head.glb``, is written with it): new parameters
    will only ever be added as keyword arguments with defaults. Import it as
    ``from facs_rig.io.gltf import write_glb``.

    Each mesh becomes one glTF mesh with one triangle primitive and one node (named after the
    mesh) at the root of the scene. Targets are stored as POSITION deltas with exact
    ``min``/``max``; their names go to both ``mesh.extras.targetNames`` (three.js, Blender) and
    the primitive's ``extras.targetNames`` (VRM 0.x), so every reader finds them
    (the glTF 2.0 specification has no field for target names; ``extras.targetNames`` is the
    readers' convention). ``mesh.weights`` is written as zeros. The output passes the Khronos
    glTF-Validator with no errors or warnings.

    Parameters
    ----------
    meshes : sequence of MorphMesh
        The meshes; ``normals`` are written when present (normalised to unit length).
    path : path-like
        ``.glb`` (one file) or ``.gltf`` (JSON + ``<stem>.bin``). Written atomically.
    animation : TargetWeights, optional
        Weights over time; each mesh gets one channel whose columns are looked up by exact target
        name (targets absent from ``animation.names`` stay 0).
    animation_name : str
        Name of that animation.
    interpolation : {"LINEAR", "STEP"}
        Sampler interpolation.
    node_rotations, node_translations : sequence, optional
        Per mesh, a unit quaternion ``(x, y, z, w)`` / a translation ``(x, y, z)`` for its node,
        or None for none (e.g. to turn a Z-up head to glTF's +Y up, +Z forward).
    materials : sequence of Mapping or None, optional
        Per mesh, a glTF material object (``{"pbrMetallicRoughness": {"baseColorFactor":
        [r, g, b, 1]}, "name": "skin"}``) copied as given, or None for the default material.
    vertex_colors : sequence of (n_vertices, 3 or 4) float arrays or None, optional
        Per mesh ``COLOR_0`` values in 0-1 (linear), or None.
    sparse : bool, optional
        Store targets as sparse accessors (True), dense (False) or whichever is smaller per
        target (None, the default).
    extras : Mapping, optional
        JSON-serialisable ``asset.extras`` (provenance).

    Raises
    ------
    OutputError, UnsupportedFormatError
        The file cannot be written or the extension is not .glb/.gltf.
    """
    path = Path(path)
    _container_of(path)
    document, binary = glb_document(
        meshes, animation=animation, animation_name=animation_name, interpolation=interpolation,
        node_rotations=node_rotations, node_translations=node_translations, materials=materials,
        vertex_colors=vertex_colors, sparse=sparse, extras=extras)
    write_gltf_document(document, binary, path)


def _per_mesh(values: Sequence | None, n: int, what: str) -> list:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what}: expected one entry per mesh ({n}), got {len(values)}")
    return values


def glb_document(meshes: Sequence[MorphMesh], *, animation: TargetWeights | None = None,
                 animation_name: str = "facs-rig", interpolation: str = "LINEAR",
                 node_rotations=None, node_translations=None, materials=None,
                 vertex_colors=None, sparse: bool | None = None,
                 extras: Mapping | None = None) -> tuple[dict, bytes]:
    """The JSON document and binary buffer :func:`write_glb` writes (for tests and embedding)."""
    meshes = list(meshes)
    if not meshes:
        raise ValueError("write_glb needs at least one mesh")
    n = len(meshes)
    rotations = _per_mesh(node_rotations, n, "node_rotations")
    translations = _per_mesh(node_translations, n, "node_translations")
    material_list = _per_mesh(materials, n, "materials")
    colors = _per_mesh(vertex_colors, n, "vertex_colors")
    asset: dict = {"version": "2.0", "generator": _GENERATOR}
    if extras:
        asset["extras"] = json.loads(json.dumps(dict(extras)))
    document: dict = {"asset": asset, "scene": 0, "scenes": [{"nodes": list(range(n))}],
                      "nodes": [], "meshes": []}
    builder = BufferBuilder(document)
    for index, mesh in enumerate(meshes):
        primitive = _primitive(builder, mesh, colors[index], sparse)
        if material_list[index] is not None:
            materials_json = document.setdefault("materials", [])
            materials_json.append(json.loads(json.dumps(dict(material_list[index]))))
            primitive["material"] = len(materials_json) - 1
        names = list(mesh.target_names)
        mesh_json: dict = {"name": mesh.name, "primitives": [primitive]}
        if names:
            primitive["extras"] = {"targetNames": names}
            mesh_json["weights"] = [0.0] * len(names)
            mesh_json["extras"] = {"targetNames": names}
        document["meshes"].append(mesh_json)
        node: dict = {"name": mesh.name, "mesh": index}
        if rotations[index] is not None:
            node["rotation"] = [float(v) for v in rotations[index]]
        if translations[index] is not None:
            node["translation"] = [float(v) for v in translations[index]]
        document["nodes"].append(node)
    if animation is not None:
        tracks = []
        for index, mesh in enumerate(meshes):
            if not mesh.target_names:
                continue
            column_of = {name: k for k, name in enumerate(animation.names)}
            columns = tuple(column_of.get(name, -1) for name in mesh.target_names)
            tracks.append(WeightTrack(nodes=(index,), columns=columns))
        _add_animation(builder, tracks, animation, name=animation_name,
                       interpolation=interpolation, tolerance=None)
    binary = builder.data()
    if binary:
        document["buffers"] = [{"byteLength": len(binary)}]
    return document, binary


def _primitive(builder: BufferBuilder, mesh: MorphMesh, colors: np.ndarray | None,
               sparse: bool | None) -> dict:
    positions = np.ascontiguousarray(mesh.positions, dtype=np.float32)
    if not np.isfinite(positions).all() or not np.isfinite(mesh.deltas).all():
        raise GltfError(f"mesh {mesh.name!r}: positions and deltas must be finite")
    attributes = {"POSITION": builder.add_accessor(positions, target=ARRAY_BUFFER, bounds=True)}
    if mesh.normals is not None:
        attributes["NORMAL"] = builder.add_accessor(_unit(mesh.normals), target=ARRAY_BUFFER)
    if colors is not None:
        colors = np.clip(np.asarray(colors, dtype=np.float32), 0.0, 1.0)
        if colors.shape not in ((mesh.n_vertices, 3), (mesh.n_vertices, 4)):
            raise GltfError(f"mesh {mesh.name!r}: vertex colours must be (n_vertices, 3 or 4)")
        attributes["COLOR_0"] = builder.add_accessor(colors, target=ARRAY_BUFFER)
    faces = np.asarray(mesh.faces).reshape(-1)
    # A mesh without triangles is written as points (mode 0), which any vertex count satisfies.
    primitive: dict = {"attributes": attributes, "mode": 4 if faces.size else 0}
    if faces.size:
        index_dtype = np.uint16 if mesh.n_vertices <= 65535 else np.uint32
        primitive["indices"] = builder.add_accessor(faces.astype(index_dtype),
                                                    target=ELEMENT_ARRAY_BUFFER)
    targets = []
    for delta in mesh.deltas:
        moved = int(np.count_nonzero(np.any(delta != 0, axis=1)))
        # Sparse costs 12 + (2 or 4) bytes per moved vertex against 12 per vertex dense.
        use_sparse = sparse if sparse is not None else moved * 16 < mesh.n_vertices * 12
        if use_sparse:
            targets.append({"POSITION": builder.add_sparse_vec3(delta)})
        else:
            targets.append({"POSITION": builder.add_accessor(
                np.ascontiguousarray(delta, dtype=np.float32), target=ARRAY_BUFFER, bounds=True)})
    if targets:
        primitive["targets"] = targets
    return primitive


def _unit(normals: np.ndarray) -> np.ndarray:
    """Unit-length normals; zero normals become +Z (the validator rejects non-unit NORMAL)."""
    normals = np.asarray(normals, dtype=np.float64)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    result = np.where(length > 1e-12, normals / np.where(length > 1e-12, length, 1.0),
                      np.array([0.0, 0.0, 1.0]))
    return np.ascontiguousarray(result, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Weights animation (shared by both writers)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightTrack:
    """One weights sampler: which columns of a :class:`TargetWeights` feed a mesh's targets.

    Attributes
    ----------
    nodes : tuple of int
        Nodes animated by this sampler (nodes sharing a mesh share the sampler).
    columns : tuple of int
        For each of the mesh's targets, in mesh order, the weights column driving it, or -1 for
        none (the target stays at 0).
    """

    nodes: tuple[int, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class _SamplerStats:
    keys_in: int
    keys_out: int
    bytes_in: int
    bytes_out: int


#: Keyframe tolerance of node translations per unit of the weights' tolerance: 1e-3 of a weight
#: keeps translations within 1e-5 file units (0.01 mm in a metre-scaled rig).
_TRANSLATION_TOLERANCE_SCALE = 1e-2


def moved_node_poses(document: Mapping, motions: Sequence[NodeMotion],
                     weights: TargetWeights) -> list[tuple[int, NodePose]]:
    """``(node index, pose over weights.times)`` of every node of ``document`` a motion names.

    Nodes are found by ``name``; nodes with a ``matrix`` are skipped (glTF 2.0 §3.5.3: an
    animated node must use TRS properties). A file without the named nodes gets none.
    """
    wanted = {m.node for m in motions}
    result = []
    for index, node in enumerate(document.get("nodes") or ()):
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str) or name not in wanted or "matrix" in node:
            continue
        translation = node.get("translation", [0.0, 0.0, 0.0])
        rotation = node.get("rotation", [0.0, 0.0, 0.0, 1.0])
        if not (_numbers(translation, 3) and _numbers(rotation, 4)):
            continue
        # Each node from its own rest transform (two nodes may share a name).
        with np.errstate(over="ignore", invalid="ignore"):  # a 1e308 translation: checked here
            poses = node_poses(motions, weights.names, weights.weights, {name: (translation, rotation)})
            finite = [pose for pose in poses if np.isfinite(pose.rotation).all()
                      and np.isfinite(pose.translation.astype(np.float32)).all()]
        result.extend((index, pose) for pose in finite)
    return result


def _numbers(value: object, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)


def _add_animation(builder: BufferBuilder, tracks: Sequence[WeightTrack], weights: TargetWeights,
                   *, name: str, interpolation: str, tolerance: float | None,
                   poses: Sequence[tuple[int, NodePose]] = ()) -> list[_SamplerStats]:
    """Append one animation with a channel per node of every track, and ``rotation`` /
    ``translation`` channels for the moved nodes ``poses``; returns per-sampler stats of the
    weights samplers."""
    if interpolation not in ("LINEAR", "STEP"):
        raise GltfError(f"interpolation must be LINEAR or STEP, got {interpolation!r}")
    times = np.asarray(weights.times, dtype=np.float64)
    if times.size == 0:
        raise GltfError("the weights have no frames to animate")
    times32 = times.astype(np.float32)
    if times32[0] < 0 or (times32.size > 1 and np.any(np.diff(times32) <= 0)):
        raise GltfError("animation times must be non-negative and strictly increasing "
                         "(also after rounding to float32)")
    values = np.asarray(weights.weights, dtype=np.float32)
    if not np.isfinite(values).all():
        raise GltfError("weights contain NaN or infinite values")
    document = builder.document
    animation: dict = {"name": name, "channels": [], "samplers": [], "extras": dict(ANIMATION_MARK)}
    stats: list[_SamplerStats] = []
    input_cache: dict[bytes, int] = {}
    sampler_cache: dict[tuple[int, ...], int] = {}
    for track in tracks:
        sampler_index = sampler_cache.get(track.columns)
        if sampler_index is None:
            table = np.zeros((times.size, len(track.columns)), dtype=np.float32)
            for target, column in enumerate(track.columns):
                if column >= 0:
                    table[:, target] = values[:, column]
            keep = np.arange(times.size)
            if tolerance is not None and times.size > 2:
                keep = reduce_keyframes(times, table, tolerance=tolerance,
                                        step=interpolation == "STEP")
            key_times, key_values = times32[keep], table[keep]
            input_bytes = key_times.tobytes()
            input_index = input_cache.get(input_bytes)
            if input_index is None:
                input_index = builder.add_accessor(key_times, bounds=True)
                input_cache[input_bytes] = input_index
            output_index = builder.add_accessor(key_values.reshape(-1))
            animation["samplers"].append({"input": input_index, "output": output_index,
                                          "interpolation": interpolation})
            sampler_index = len(animation["samplers"]) - 1
            sampler_cache[track.columns] = sampler_index
            stats.append(_SamplerStats(keys_in=int(times.size), keys_out=int(keep.size),
                                       bytes_in=int(times.size * (1 + table.shape[1]) * 4),
                                       bytes_out=int(keep.size * (1 + table.shape[1]) * 4)))
        for node in track.nodes:
            animation["channels"].append({"sampler": sampler_index,
                                          "target": {"node": node, "path": "weights"}})

    def sampler(table: np.ndarray, key_tolerance: float | None) -> int:
        keep = np.arange(times.size)
        if key_tolerance is not None and times.size > 2:
            keep = reduce_keyframes(times, table, tolerance=key_tolerance, step=interpolation == "STEP")
        key_times = times32[keep]
        input_index = input_cache.get(key_times.tobytes())
        if input_index is None:
            input_index = builder.add_accessor(key_times, bounds=True)
            input_cache[key_times.tobytes()] = input_index
        output_index = builder.add_accessor(np.ascontiguousarray(table[keep], np.float32))
        animation["samplers"].append({"input": input_index, "output": output_index,
                                      "interpolation": interpolation})
        return len(animation["samplers"]) - 1

    for node, pose in poses:
        # glTF 2.0 §3.11: rotation output is VEC4 float unit quaternions (x, y, z, w); LINEAR
        # means spherical linear interpolation, which the rotation-vector blend's keys follow.
        rotation = pose.rotation.astype(np.float32)
        animation["channels"].append({"sampler": sampler(rotation, tolerance),
                                      "target": {"node": node, "path": "rotation"}})
        if np.ptp(pose.translation, axis=0).max() > 0:
            translation = pose.translation.astype(np.float32)
            scaled = None if tolerance is None else tolerance * _TRANSLATION_TOLERANCE_SCALE
            animation["channels"].append({"sampler": sampler(translation, scaled),
                                          "target": {"node": node, "path": "translation"}})
    if animation["channels"]:
        document.setdefault("animations", []).append(animation)
    return stats


# --------------------------------------------------------------------------------------------
# Animated copies of existing files
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BakeResult:
    """What :func:`write_animated_gltf` wrote.

    Attributes
    ----------
    path : Path
        The output file.
    nodes : tuple of int
        Nodes given a weights channel.
    meshes : tuple of str
        Names of the meshes those nodes show.
    keys_in, keys_out : int
        Keyframes per sampler before and after keyframe reduction (summed over samplers).
    animation_bytes_in, animation_bytes_out : int
        Bytes of sampler data (times + weights) without and with reduction.
    animation_name : str
        The name of the new animation (``animations[0]`` of the output).
    animations_replaced : int
        Earlier facs-rig animations (or animations of the same name) the new one replaced.
    animations_dropped, animations_kept : int
        The file's other animations left out (the default) or kept after the new one.
    moved_nodes : tuple of int
        Nodes given rotation (and translation) channels by the profile's node motion (gaze).
    moved_node_names : tuple of str
        Their names.
    unmatched_targets : tuple of str
        The file's morph target names no weights column drives (their weights stay 0).
    unmatched_columns : tuple of str
        Names of the weights columns that drive no target of the file (their values were
        dropped).
    """

    path: Path
    nodes: tuple[int, ...]
    meshes: tuple[str, ...]
    keys_in: int
    keys_out: int
    animation_bytes_in: int
    animation_bytes_out: int
    metadata: Mapping = field(default_factory=dict)
    animation_name: str = "facs-rig"
    animations_replaced: int = 0
    animations_dropped: int = 0
    animations_kept: int = 0
    moved_nodes: tuple[int, ...] = ()
    moved_node_names: tuple[str, ...] = ()
    unmatched_targets: tuple[str, ...] = ()
    unmatched_columns: tuple[str, ...] = ()

    @property
    def saving(self) -> float:
        """Fraction of animation bytes keyframe reduction saved (0-1)."""
        if not self.animation_bytes_in:
            return 0.0
        return 1.0 - self.animation_bytes_out / self.animation_bytes_in


def weight_tracks(rig: GltfRig, column_of_target: Mapping[str, int]) -> list[WeightTrack]:
    """One :class:`WeightTrack` per mesh with at least one target in ``column_of_target``.

    ``column_of_target`` maps a file target name to the weights column that drives it (see
    :func:`facs_rig.io.gltf.matching.column_map`). Meshes shown by no node are skipped (nothing
    to animate).
    """
    tracks = []
    for mesh in rig.targets:
        columns = tuple(column_of_target.get(name, -1) for name in mesh.target_names)
        if mesh.nodes and any(column >= 0 for column in columns):
            tracks.append(WeightTrack(nodes=mesh.nodes, columns=columns))
    return tracks


def refuse_sidecar_inputs(path: Path, inputs: Sequence[Path]) -> None:
    """Refuse a ``.gltf`` output whose buffer file, new or old, could be one the input reads.

    Writing ``path`` writes one of :func:`sidecar_names` and removes the other: the input would
    be left pointing at the new buffer, or at nothing (``bake face.gltf -o geometry.gltf`` where
    face.gltf reads geometry.bin).
    """
    for name in sidecar_names(path):
        refuse_input_as_output(path.parent / name, *inputs)


def _external_files(rig: GltfRig) -> list[Path]:
    """The rig's file and every buffer or image file it refers to by a relative URI."""
    files = [Path(rig.path)]
    document = rig.source.document
    for kind in ("buffers", "images"):
        for index, item in enumerate(document.get(kind) or ()):
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and not uri.startswith("data:"):
                files.append(resolve_relative_uri(uri, f"/{kind}/{index}/uri", Path(rig.path)))
    return files


def write_animated_gltf(rig: GltfRig, weights: TargetWeights, path: str | os.PathLike[str], *,
                        column_of_target: Mapping[str, int] | None = None,
                        interpolation: str = "LINEAR",
                        tolerance: float | None = DEFAULT_TOLERANCE,
                        animation_name: str = "facs-rig",
                        keep_animations: bool = False,
                        node_motion: Sequence[NodeMotion] = ()) -> BakeResult:
    """Write a copy of ``rig``'s file with a new animation of morph-target weights.

    The new animation is ``animations[0]``, the one tools play or make active first: glTF has
    no "active animation" flag, and Blender's importer (``io_scene_gltf2``, ``blender/imp/
    scene.py``: "Restore first animation") makes ``animations[0]`` each object's active action
    and stashes the others in NLA tracks; three.js loaders and viewers take ``animations[0]``
    by convention. An earlier facs-rig animation (marked with :data:`ANIMATION_MARK`) or one of
    the same name is replaced, never duplicated.

    Parameters
    ----------
    rig : GltfRig
        The input file (read with :func:`read_gltf`; ``geometry=False`` is enough).
    weights : TargetWeights
        ``(n_frames, n_columns)`` weights over time.
    path : path-like
        ``.glb`` or ``.gltf`` (+ ``<stem>.bin``). Buffers of the input are merged into one, and
        images stored as files or data URIs are embedded, so the output stands alone.
    column_of_target : Mapping[str, int], optional
        File target name -> weights column. Default: ``weights.names`` matched to the file's
        names as ``bake`` matches them (:func:`facs_rig.io.gltf.matching.column_map`: case,
        ``Left``/``_L``/``.L`` and separators do not matter, so ARKit's ``mouthSmileLeft``
        drives Face Cap's ``mouthSmile_L``). The result lists what stayed unmatched.
    interpolation : {"LINEAR", "STEP"}
        Sampler interpolation.
    tolerance : float or None
        Keyframe reduction tolerance in weight units; None keeps every frame.
    animation_name : str
        Name of the new animation.
    keep_animations : bool
        Keep the file's other animations after the new one (default: leave them out, so the
        copy holds one animation and no tool can pick another; their bytes stay in the buffer,
        unreferenced).
    node_motion : sequence of NodeMotion
        The profile's node motion (gaze: ``RigProfile.node_motions``); ``weights.names`` must
        name the columns it reads. Every node of the file it names gets ``rotation`` (and, when
        it moves, ``translation``) channels in the same animation, sampled at the weights' times
        with the same interpolation and keyframe reduction; files without those nodes get none.

    Raises
    ------
    GltfError
        No node shows a mesh with a matched target, or an image cannot be embedded.
    """
    path = Path(path)
    if _container_of(path) == "gltf":
        # The .gltf output's <stem>.bin sidecar must not replace a file the input rig reads: the
        # input would be left pointing at the new buffer (bake face.gltf -o geometry.gltf).
        refuse_sidecar_inputs(path, _external_files(rig))
    if column_of_target is None:
        from facs_rig.io.gltf.matching import column_map

        column_of_target = column_map(weights.names, rig.target_names)
    tracks = weight_tracks(rig, column_of_target)
    if not tracks:
        raise GltfError(f"{rig.path}: no node shows a mesh with a target the weights drive "
                        f"(file targets: {', '.join(rig.target_names[:8]) or 'none'}...)")
    document, builder = _merged_copy(rig)
    existing = document.pop("animations", None) or []
    ours = [a for a in existing if is_facs_rig_animation(a) or a.get("name") == animation_name]
    others = [a for a in existing if not any(a is mine for mine in ours)]
    poses = moved_node_poses(document, node_motion, weights) if node_motion else []
    stats = _add_animation(builder, tracks, weights, name=animation_name,
                           interpolation=interpolation, tolerance=tolerance, poses=poses)
    if keep_animations:
        document["animations"] += others
    binary = builder.data()
    document["buffers"] = [{"byteLength": len(binary)}]
    write_gltf_document(document, binary, path)
    mesh_names = {node: mesh.name for mesh in rig.targets for node in mesh.nodes}
    nodes = tuple(node for track in tracks for node in track.nodes)
    return BakeResult(path=path, nodes=nodes, meshes=tuple(mesh_names[n] for n in nodes),
                      keys_in=sum(s.keys_in for s in stats), keys_out=sum(s.keys_out for s in stats),
                      animation_bytes_in=sum(s.bytes_in for s in stats),
                      animation_bytes_out=sum(s.bytes_out for s in stats),
                      animation_name=animation_name, animations_replaced=len(ours),
                      animations_dropped=0 if keep_animations else len(others),
                      animations_kept=len(others) if keep_animations else 0,
                      moved_nodes=tuple(node for node, _ in poses),
                      moved_node_names=tuple(pose.node for _, pose in poses),
                      unmatched_targets=tuple(name for name in rig.target_names
                                              if name not in column_of_target),
                      unmatched_columns=_unmatched_columns(weights.names, column_of_target,
                                                           node_motion, poses))


def _unmatched_columns(names: Sequence[str], column_of_target: Mapping[str, int],
                       node_motion: Sequence[NodeMotion],
                       poses: Sequence[tuple[int, NodePose]]) -> tuple[str, ...]:
    """The weights columns that went nowhere: they drive no file target and turn no node the
    file has."""
    used = {names[column] for column in column_of_target.values() if 0 <= column < len(names)}
    moved = {pose.node for _, pose in poses}
    used.update(motion.target for motion in node_motion if motion.node in moved)
    return tuple(name for name in names if name not in used)


def is_facs_rig_animation(animation: object) -> bool:
    """Whether a glTF animation object was written by facs-rig (its ``extras`` carry
    :data:`ANIMATION_MARK`)."""
    extras = animation.get("extras") if isinstance(animation, dict) else None
    return isinstance(extras, dict) and all(extras.get(k) == v for k, v in ANIMATION_MARK.items())


def _check_appendable(document: dict, path: Path) -> None:
    """The parts of an input document the bake copy appends to or rewrites must have their
    spec shape (glTF 2.0 §5: top-level arrays of objects; ``byteOffset`` a non-negative
    integer). A rig read without geometry is not checked that far, and a malformed value here
    used to escape as an AttributeError or TypeError."""
    for name in ("accessors", "bufferViews", "animations", "images", "buffers"):
        if name not in document:
            continue
        items = document[name]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise GltfError(f"{path}: /{name} must be an array of objects")
    for index, view in enumerate(document.get("bufferViews") or ()):
        offset = view.get("byteOffset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise GltfError(f"{path}: /bufferViews/{index}/byteOffset must be an integer >= 0, "
                            f"not {offset!r}")


def _merged_copy(rig: GltfRig) -> tuple[dict, BufferBuilder]:
    """A deep copy of the document with every buffer merged into buffer 0 and images embedded.

    A GLB holds one binary buffer (spec §4.4.3.3), so buffers are laid end to end (8-byte
    aligned) and every buffer view's ``buffer``/``byteOffset`` is rewritten.
    """
    source = rig.source
    document = copy.deepcopy(source.document)
    _check_appendable(document, source.path)
    builder = BufferBuilder(document)
    starts = []
    for data in source.buffers:
        padding = -builder.length % 8
        if padding:
            builder.parts.append(b"\x00" * padding)
            builder.length += padding
        starts.append(builder.length)
        builder.parts.append(data)
        builder.length += len(data)
    for index, view in enumerate(document.get("bufferViews", [])):
        buffer_index = view.get("buffer")
        if not isinstance(buffer_index, int) or not 0 <= buffer_index < len(starts):
            raise GltfError(f"{source.path}: /bufferViews/{index}/buffer is invalid")
        view["buffer"] = 0
        view["byteOffset"] = starts[buffer_index] + int(view.get("byteOffset", 0))
    for index, image in enumerate(document.get("images", [])):
        uri = image.get("uri") if isinstance(image, dict) else None
        if not isinstance(uri, str):
            continue
        pointer = f"/images/{index}/uri"
        data, mime = read_uri_image(uri, pointer, source.path)
        mime = image.get("mimeType") or mime or sniff_image(data)
        if mime is None:
            raise GltfError(f"{source.path}: {pointer}: cannot tell the image's type to embed it")
        del image["uri"]
        image["bufferView"] = builder.add_view(data)
        image["mimeType"] = mime
    return document, builder

