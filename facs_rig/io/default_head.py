"""Write and find the bundled default head, ``rigs/default_head.glb``.

The head is the ICT FaceKit full head (USC ICT, MIT; ``rigs/LICENSE-ICT-FaceKit``) with one
morph target per target of the bundled ``facs`` rig profile. This adapter reads the ICT GLB
(``../shared/assets/rigs/ict_facekit/ict_facekit_full_head.glb`` in a checkout, or a path), the
recipe ``facs_rig/data/default_head_recipe.json``, lets :mod:`facs_rig.core.headgen.ict` compute
the targets, and writes them with the glTF bridge's document builder: the face mesh (skin, teeth,
gums, tongue, sockets merged in one primitive) with the morph targets, and the two eyeballs as
their own meshes on nodes ``eyeball_L``/``eyeball_R`` whose origin is the eye centre, so gaze is a
node rotation (the ``facs`` profile's ``node_motion``; ``bake`` writes rotation channels);
``COLOR_0`` vertex colours, sparse targets, ``asset.copyright`` carrying ICT's notice. Nothing
depends on the clock, the machine or dictionary order: the same inputs give the same bytes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from facs_rig.core.curves import TargetWeights
from facs_rig.core.headgen.actions import FaceModel
from facs_rig.core.headgen.ict import IctHead, RecipeError, build_ict_targets, paint_colours, relax_neutral
from facs_rig.core.mesh import MorphMesh
from facs_rig.errors import GltfError, RigError
from facs_rig.io.rig_files import load_rig
from facs_rig.resources import read_bundled_json, rigs_dir

__all__ = [
    "DEFAULT_HEAD_FILE",
    "ICT_HEAD_FILE",
    "ICT_COPYRIGHT",
    "default_head_path",
    "default_ict_path",
    "default_head_target_names",
    "read_ict_head",
    "source_units_to_metres",
    "head_recipe",
    "DefaultHead",
    "EyeNode",
    "build_head",
    "write_head_glb",
    "write_default_head",
]

DEFAULT_HEAD_FILE = "default_head.glb"
ICT_HEAD_FILE = "ict_facekit_full_head.glb"
#: ICT FaceKit's MIT notice, as its LICENSE file gives it (kept in every GLB built from it).
ICT_COPYRIGHT = (
    "Mesh and expression scans: ICT FaceKit, Copyright (c) 2020 USC Institute for Creative "
    "Technologies, MIT License (see LICENSE-ICT-FaceKit next to rigs/default_head.glb); "
    "FACS targets: facs-rig, MIT License."
)
#: The material: white base colour times the vertex colours, a dielectric with soft highlights.
_MATERIAL = {
    "name": "skin_vertex_colour",
    "pbrMetallicRoughness": {
        "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
        "metallicFactor": 0.0,
        "roughnessFactor": 0.6,
    },
    "doubleSided": False,
}


def default_head_path() -> Path:
    """Where the bundled default head lives (``rigs/default_head.glb`` or the wheel's copy)."""
    return rigs_dir() / DEFAULT_HEAD_FILE


def default_ict_path() -> Path:
    """Where a checkout finds the ICT FaceKit head (``../shared/assets/rigs/ict_facekit/``)."""
    return Path(__file__).resolve().parents[3] / "shared" / "assets" / "rigs" / "ict_facekit" / ICT_HEAD_FILE


def default_head_target_names() -> tuple[str, ...]:
    """The default head's targets: exactly the ``facs`` profile's, in its order."""
    return tuple(load_rig("facs").targets)


def head_recipe() -> dict:
    """The per-target recipe (scan, muscle or blend, with the reason): bundled data."""
    return read_bundled_json("default_head_recipe.json")


def source_units_to_metres(recipe: dict) -> float:
    """The recipe's ``source.units_to_metres``: metres per unit of the ICT head's file (0.01:
    ICT FaceKit models in centimetres), a positive finite number.

    Raises
    ------
    RigError
        When the recipe lacks it or it is not a positive finite number.
    """
    source = recipe.get("source")
    value = source.get("units_to_metres") if isinstance(source, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise RigError(f"default head recipe: source.units_to_metres must be a positive number "
                       f"(metres per unit of the ICT head), not {value!r}")
    return float(value)


def read_ict_head(path: str | os.PathLike[str] | None = None,
                  units_to_metres: float | None = None) -> IctHead:
    """Read the ICT FaceKit full head: every primitive merged, metres, node translations applied.

    ``units_to_metres`` scales the file's positions, morph deltas and node translations to
    metres; default: the recipe's ``source.units_to_metres`` (:func:`source_units_to_metres`).

    Raises
    ------
    GltfError
        When the file is missing or is not the ICT head (no ``_ICT_VERTEX`` or target names).
    """
    if units_to_metres is None:
        units_to_metres = source_units_to_metres(head_recipe())
    from facs_rig.io.gltf.accessors import read_accessor, read_accessor_float
    from facs_rig.io.gltf.container import read_gltf_source

    source = read_gltf_source(default_ict_path() if path is None else path)
    meshes = source.array("meshes")
    names: list[str] | None = None
    positions, faces, colours, parts, ict, deltas = [], [], [], [], [], []
    pivots: dict[str, np.ndarray] = {}
    offset = 0
    try:
        for node in source.array("nodes"):
            if "mesh" not in node:
                continue
            shift = np.asarray(node.get("translation", (0.0, 0.0, 0.0)), np.float64)
            if "translation" in node:  # the eyeballs' pivots (their centres)
                pivots[str(node.get("name"))] = shift * units_to_metres
            mesh = meshes[node["mesh"]]
            if mesh.get("extras", {}).get("targetNames"):
                names = names or list(mesh["extras"]["targetNames"])
            for primitive in mesh["primitives"]:
                attributes = primitive["attributes"]
                points = read_accessor_float(source, attributes["POSITION"]).astype(np.float64) + shift
                n = points.shape[0]
                positions.append(points)
                triangles = read_accessor(source, primitive["indices"]).reshape(-1, 3).astype(np.int64)
                faces.append(triangles + offset)
                colours.append(read_accessor_float(source, attributes["COLOR_0"])[:, :3])
                ict.append(read_accessor(source, attributes["_ICT_VERTEX"]).reshape(-1).astype(np.int64))
                parts.append(np.full(n, primitive["extras"]["part"], dtype=object))
                targets = primitive.get("targets") or []
                deltas.append([read_accessor_float(source, t["POSITION"]).astype(np.float64)
                               for t in targets])
                offset += n
    except (KeyError, TypeError, IndexError) as exc:
        raise GltfError(f"{source.path}: not the ICT FaceKit full head ({exc!r} missing)") from None
    if names is None:
        raise GltfError(f"{source.path}: no mesh names its targets (extras.targetNames)")
    scans = {}
    for k, name in enumerate(names):
        scans[name] = np.concatenate(
            [d[k] if d else np.zeros((p.shape[0], 3)) for d, p in zip(deltas, positions)]
        ) * units_to_metres
    return IctHead(
        positions=np.concatenate(positions) * units_to_metres,
        faces=np.concatenate(faces),
        colours=np.concatenate(colours).astype(np.float32),
        part_names=np.concatenate(parts),
        ict_vertex=np.concatenate(ict),
        scans=MappingProxyType(scans),
        pivots=MappingProxyType(pivots),
    )


#: The eyeball nodes: node name, the ICT parts they show, the ICT node whose translation is the
#: eye centre (ICT: least-squares sphere through the sclera).
EYES = (
    ("eyeball_L", ("sclera_L", "iris_L"), "eyeball_L"),
    ("eyeball_R", ("sclera_R", "iris_R"), "eyeball_R"),
)


@dataclass(frozen=True)
class EyeNode:
    """One eyeball: a mesh in eye-centred coordinates on a node at the eye centre.

    Attributes
    ----------
    mesh : MorphMesh
        No targets; positions relative to ``centre`` (metres).
    colours : (n_vertices, 3) float32
    centre : (3,) float64
        The node's translation (the eye centre, metres).
    """

    mesh: MorphMesh
    colours: np.ndarray
    centre: np.ndarray


@dataclass(frozen=True)
class DefaultHead:
    """The built default head.

    Attributes
    ----------
    mesh : MorphMesh
        The face mesh (everything but the eyeballs): metres, the ``facs`` profile's targets in
        its order.
    colours : (n_vertices, 3) float32
        Linear albedo per vertex (``COLOR_0``).
    parts : (n_vertices,) uint8
        Part per vertex, numbered as the muscle model's ``FaceModel`` (0 skin, 1/2 eyes, 3 upper
        teeth and gums, 4 lower teeth and gums, 5 mouth and eye sockets, 6 tongue).
    model : FaceModel
        The muscle model's view of the head (landmarks from ICT vertex indices).
    skipped : tuple of str
        Always empty: a target without a recipe is an error (kept for the old head's API).
    eyes : tuple of EyeNode
        The eyeballs (turned by the ``facs`` profile's ``node_motion``).
    kept : (n_vertices,) int64
        Index of each face-mesh vertex in the ICT head's merged arrays (``model.positions``).
    """

    mesh: MorphMesh
    colours: np.ndarray
    parts: np.ndarray
    model: FaceModel
    skipped: tuple[str, ...] = ()
    eyes: tuple[EyeNode, ...] = ()
    kept: np.ndarray | None = None


def build_head(ict_path: str | os.PathLike[str] | None = None) -> DefaultHead:
    """The default head mesh (metres, ``facs`` profile targets), its colours, parts and landmarks.

    Raises
    ------
    RigError
        When the recipe lacks a target the ``facs`` profile names, or names a missing scan.
    """
    recipe = head_recipe()
    head = read_ict_head(ict_path, source_units_to_metres(recipe))
    profile = load_rig("facs")
    names = tuple(profile.targets)
    try:
        head = relax_neutral(head, recipe)
        deltas, model = build_ict_targets(head, recipe, names)
        colours = paint_colours(head, model, recipe["paint"])
    except RecipeError as exc:
        raise RigError(f"default head recipe: {exc}") from None
    eyes = []
    is_eye = np.zeros(head.positions.shape[0], bool)
    for node, parts, pivot in EYES:
        members = np.isin(head.part_names, parts)
        if pivot not in head.pivots or not members.any():
            raise GltfError(f"the ICT head has no eyeball node {pivot!r} with parts {parts}")
        # The head movements carry the eyeballs through node_motion too; any other target that
        # moved an eyeball would be lost when it becomes a node.
        carried = {m.target for m in profile.node_motions if m.node == node}
        moving = [n for n, d in zip(names, deltas) if n not in carried and np.abs(d[members]).max() > 0]
        if moving:
            raise RigError(f"default head recipe: targets {moving} move {node}, which turns as a node")
        is_eye |= members
        centre = np.asarray(head.pivots[pivot], np.float64)
        eyes.append(EyeNode(_submesh(head, members, node, centre), colours[members], centre))
    kept = np.flatnonzero(~is_eye)
    face = _submesh(head, ~is_eye, "facs_rig_default_head", np.zeros(3), names, deltas[:, kept])
    return DefaultHead(face, colours[kept], np.asarray(model.parts, np.uint8)[kept], model,
                       eyes=tuple(eyes), kept=kept)


def _submesh(head: IctHead, members: np.ndarray, name: str, origin: np.ndarray,
             names: tuple[str, ...] = (), deltas: np.ndarray | None = None) -> MorphMesh:
    """The vertices ``members`` (and the triangles among them) as a mesh, relative to ``origin``."""
    index = np.full(members.shape[0], -1, np.int64)
    index[members] = np.arange(int(members.sum()))
    inside = members[head.faces].all(axis=1)
    if (members[head.faces].any(axis=1) & ~inside).any():
        raise GltfError(f"{name}: triangles cross between it and the rest of the ICT head")
    n = int(members.sum())
    return MorphMesh(
        name=name,
        positions=(head.positions[members] - origin).astype(np.float32),
        faces=index[head.faces[inside]].astype(np.uint32),
        target_names=names,
        deltas=deltas if deltas is not None else np.zeros((0, n, 3), np.float32),
        normals=None,
        metadata=MappingProxyType({"generator": "facs_rig.core.headgen.ict", "units": "metres"}),
    )


def write_head_glb(
    mesh: MorphMesh, colours, path: str | os.PathLike[str], *, animation: TargetWeights | None = None,
    eyes: tuple[EyeNode, ...] = (),
) -> None:
    """Write a head mesh with vertex colours (and optionally a weights animation) as GLB, atomically.

    ``eyes`` become meshes on nodes at their centres after the head. The document carries ICT's
    notice in ``asset.copyright``.
    """
    from facs_rig.io.gltf.writer import glb_document, write_gltf_document

    document, binary = glb_document(
        [mesh, *(eye.mesh for eye in eyes)],
        animation=animation,
        materials=[_MATERIAL] * (1 + len(eyes)),
        vertex_colors=[colours, *(eye.colours for eye in eyes)],
        node_translations=[None, *([float(v) for v in eye.centre] for eye in eyes)],
        extras={
            "generator": "facs-rig default head (tools/build_default_head.py, facs_rig.core.headgen.ict)",
            "source": "ICT FaceKit (https://github.com/ICT-VGL/ICT-FaceKit @ da5f95a), MIT",
            "units": "metres",
            "up": "+Y",
            "forward": "+Z",
            "target_naming": "facs rig profile (rigs/facs.json) + AU51-AU58 head movements",
            "recipe": "facs_rig/data/default_head_recipe.json",
        },
    )
    document["asset"]["copyright"] = ICT_COPYRIGHT
    write_gltf_document(document, binary, Path(path))


def write_default_head(
    path: str | os.PathLike[str] | None = None, *, ict_path: str | os.PathLike[str] | None = None
) -> Path:
    """Regenerate the default head GLB (default: the bundled ``rigs/default_head.glb``)."""
    target = (
        Path(path) if path is not None else Path(__file__).resolve().parents[2] / "rigs" / DEFAULT_HEAD_FILE
    )
    head = build_head(ict_path)
    write_head_glb(head.mesh, head.colours, target, eyes=head.eyes)
    return target
