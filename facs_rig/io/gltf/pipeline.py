"""The glTF jobs end to end: bake a timeline onto a rig file, pose a rig with a code.

``bake``: timeline → :func:`~facs_rig.core.timeline.sample` (on the profile's channels) →
:func:`~facs_rig.core.mixing.mix` → weights animation on every matched node (or a weights CSV).
``pose``: code → AU values → :func:`~facs_rig.core.mixing.mix_frame` → :class:`Deformer` → a
posed mesh file (glTF, OBJ or PLY). The CLI commands only call these functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facs_rig.core.curves import TargetWeights
from facs_rig.core.deform import Deformer, vertex_normals
from facs_rig.core.mesh import MorphMesh, mirrors
from facs_rig.core.mixing import mix, mix_frame
from facs_rig.core.nodes import ancestry
from facs_rig.core.rig import RigProfile
from facs_rig.core.timeline import Timeline, sample
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import GltfError, UnsupportedFormatError
from facs_rig.io.atomic import refuse_input_as_output
from facs_rig.io.default_head import default_head_path
from facs_rig.io.gltf.matching import TargetMatch, resolve_rig
from facs_rig.io.gltf.reader import GltfRig, node_mesh, read_gltf, world_matrices
from facs_rig.io.gltf.writer import (
    DEFAULT_TOLERANCE,
    BakeResult,
    _external_files,
    refuse_sidecar_inputs,
    write_animated_gltf,
    write_glb,
)
from facs_rig.io.meshes import MESH_FORMATS, write_mesh
from facs_rig.io.weights_csv import write_weights_csv

__all__ = ["BakeReport", "bake_timeline", "default_animation_name", "file_weights",
           "write_weights_csv", "pose_code", "posed_meshes", "write_posed"]

_GLTF_FORMATS = (".glb", ".gltf")


@dataclass(frozen=True)
class BakeReport:
    """What :func:`bake_timeline` did.

    Attributes
    ----------
    output : Path
    match : TargetMatch
        The profile used (named or detected) and the name matching.
    detected : bool
        Whether the profile was detected (no ``rig`` given).
    n_frames : int
        Frames sampled.
    fps : float
    result : BakeResult or None
        Animation details for glTF outputs (keys before/after reduction, bytes saved).
    """

    output: Path
    match: TargetMatch
    detected: bool
    n_frames: int
    fps: float
    result: BakeResult | None


def _rig_weights(timeline: Timeline, profile: RigProfile, fps: float | None) -> TargetWeights:
    curves = sample(timeline, fps=fps, channels=profile.channels)
    return mix(curves, profile)


def file_weights(weights: TargetWeights, match: TargetMatch, names: tuple[str, ...]) -> TargetWeights:
    """Profile weights re-ordered into the file's target ``names`` (undriven targets are 0)."""
    table = np.zeros((weights.n_frames, len(names)), dtype=np.float32)
    for k, name in enumerate(names):
        column = match.column_of_target.get(name)
        if column is not None:
            table[:, k] = weights.weights[:, column]
    return TargetWeights(times=weights.times, weights=table, names=names, fps=weights.fps,
                         metadata=weights.metadata)


def bake_timeline(timeline: Timeline, mesh: str | os.PathLike[str] | GltfRig | None,
                  output: str | os.PathLike[str], *, rig: str | RigProfile | None = None,
                  fps: float | None = None, step: bool = False,
                  tolerance: float | None = DEFAULT_TOLERANCE,
                  animation_name: str | None = None,
                  keep_animations: bool = False) -> BakeReport:
    """Bake ``timeline`` onto the glTF rig ``mesh`` and write ``output``.

    Parameters
    ----------
    timeline : Timeline
    mesh : path-like, GltfRig or None
        The rig file (``.glb``/``.gltf``); None for the bundled default head.
    output : path-like
        ``.glb``/``.gltf``: a copy of ``mesh`` whose first animation is the new weights
        animation; ``.csv``: the per-frame weights in the file's target order.
    rig : str, RigProfile or None
        Profile name or file; None detects the best bundled profile.
    fps : float or None
        Sampling rate (default: the timeline's).
    step : bool
        STEP interpolation instead of LINEAR.
    tolerance : float or None
        Keyframe reduction tolerance (weight units); None keeps every frame.
    animation_name : str or None
        Name of the animation; default :func:`default_animation_name` of the timeline.
    keep_animations : bool
        Keep the file's other animations after the new one (see
        :func:`~facs_rig.io.gltf.writer.write_animated_gltf`).
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in _GLTF_FORMATS + (".csv",):
        raise UnsupportedFormatError(f"{output}: bake writes .glb, .gltf or .csv")
    if mesh is None:
        mesh = default_head_path()
    refuse_input_as_output(output, mesh.path if isinstance(mesh, GltfRig) else mesh)
    gltf = mesh if isinstance(mesh, GltfRig) else read_gltf(mesh, geometry=False)
    match = resolve_rig(rig, gltf)
    weights = _rig_weights(timeline, match.profile, fps)
    if weights.n_frames == 0:
        raise GltfError(f"{output}: the timeline has no frames to bake")
    result = None
    if suffix == ".csv":
        write_weights_csv(file_weights(weights, match, gltf.target_names), output)
    else:
        result = write_animated_gltf(gltf, weights, output,
                                     column_of_target=match.column_of_target,
                                     interpolation="STEP" if step else "LINEAR",
                                     tolerance=tolerance,
                                     animation_name=animation_name or default_animation_name(
                                         timeline),
                                     keep_animations=keep_animations,
                                     node_motion=match.profile.node_motions)
    return BakeReport(output=output, match=match, detected=rig is None, n_frames=weights.n_frames,
                      fps=float(weights.fps or 0.0), result=result)


def default_animation_name(timeline: Timeline, source: str | os.PathLike[str] | None = None) -> str:
    """The name a baked animation gets when none is given.

    The timeline's ``title`` (JSON ``metadata.title``, a notes file's ``title`` line) or
    ``name``; else the stem of the timeline file ``source``, or ``source`` itself when it is the
    code or expression name typed (``happiness``); else the code of a held expression
    (``6+12D``); else ``"facs-rig"``.
    """
    metadata = getattr(timeline, "metadata", None) or {}
    get = metadata.get if hasattr(metadata, "get") else (lambda key: None)
    for key in ("title", "name"):
        if isinstance(get(key), str) and get(key).strip():
            return " ".join(get(key).split())
    if source is not None:
        text = " ".join(str(source).split())
        try:
            is_file = Path(source).is_file()
        except (OSError, ValueError):  # a code longer than a file name can be
            is_file = False
        return Path(source).stem if is_file else text or "facs-rig"
    code = get("code")
    return str(code) if code else "facs-rig"


def pose_code(code: str, mesh: str | os.PathLike[str] | GltfRig, output: str | os.PathLike[str],
              vocabulary: Vocabulary, *, rig: str | RigProfile | None = None) -> TargetMatch:
    """Pose the rig ``mesh`` with a FACS ``code`` (or expression name) and write ``output``.

    ``output`` is ``.glb``/``.gltf`` (posed meshes, no targets), ``.obj`` or ``.ply`` (all posed
    meshes in one, vertex order kept: the meshes' vertices one after another in file order).
    Positions are in world space (node transforms applied). Returns the match used.
    """
    output = Path(output)
    if output.suffix.lower() not in _GLTF_FORMATS + MESH_FORMATS:
        raise UnsupportedFormatError(f"{output}: pose writes .glb, .gltf, .obj or .ply")
    refuse_input_as_output(output, mesh.path if isinstance(mesh, GltfRig) else mesh)
    gltf = mesh if isinstance(mesh, GltfRig) and mesh.meshes else read_gltf(
        mesh.path if isinstance(mesh, GltfRig) else mesh)
    if output.suffix.lower() == ".gltf":  # its <stem>.bin must not replace a buffer the rig reads
        refuse_sidecar_inputs(output, _external_files(gltf))
    match = resolve_rig(rig, gltf)
    values = vocabulary.channel_values(vocabulary.parse(code))
    weights = mix_frame(values, match.profile)
    write_posed(posed_meshes(gltf, match, weights), output)
    return match


def posed_meshes(gltf: GltfRig, match: TargetMatch, weights: np.ndarray) -> list[MorphMesh]:
    """Each morph mesh of ``gltf`` deformed by profile ``weights`` ``(n_profile_targets,)``.

    The result has no targets; positions are transformed by the world matrix of the first node
    showing the mesh, and normals are recomputed from the posed triangles.
    """
    if not gltf.meshes:
        raise GltfError(f"{gltf.path}: read without geometry; cannot pose")
    # Nodes the profile's node motion turns (gaze: the eyeballs) take their posed transform (their
    # children follow), and the meshes they and their descendants show are posed too even
    # without morph targets (Face Cap's eyeball meshes sit on children of the turned nodes).
    matrices, moved = _posed_world_matrices(gltf, match, weights)
    posed = []
    morph_nodes = {node for info in gltf.targets for node in info.nodes[:1]}
    parent_of = _parents(gltf.source)
    carried = [node for node in range(len(gltf.source.array("nodes")))
               if moved and not moved.isdisjoint(ancestry(parent_of, node))]
    for info, mesh in zip(gltf.targets, gltf.meshes):
        mesh_weights = np.zeros(len(mesh.target_names), dtype=np.float32)
        for k, name in enumerate(mesh.target_names):
            column = match.column_of_target.get(name)
            if column is not None:
                mesh_weights[k] = weights[column]
        positions = Deformer(mesh)(mesh_weights).astype(np.float64)
        mirrored = False
        if info.nodes:
            matrix = matrices[info.nodes[0]]
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                positions = positions @ matrix[:3, :3].T + matrix[:3, 3]
            mirrored = mirrors(matrix)
        posed.append(_posed_mesh(mesh, positions, gltf.path, mirrored))
    for node in carried:
        if node in morph_nodes:
            continue
        matrix = matrices[node]
        mesh = node_mesh(gltf.source, node)
        if mesh is None:
            continue
        with np.errstate(over="ignore", invalid="ignore"):  # checked in _posed_mesh
            world = mesh.positions.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
        posed.append(_posed_mesh(mesh, world, gltf.path, mirrors(matrix)))
    return posed


def _posed_mesh(mesh: MorphMesh, positions: np.ndarray, path,
                mirrored: bool = False) -> MorphMesh:
    """``mesh`` at ``positions`` (n_vertices, 3) float64, without targets, normals recomputed.

    ``mirrored``: the positions were moved by a mirroring node transform, so each triangle's
    winding is reversed (as :func:`~facs_rig.core.mesh.transform_mesh` does) to keep the baked
    faces, and the normals computed from them, facing outwards once no node mirrors them.

    Raises
    ------
    GltfError
        When a node transform (or the deltas) put vertices beyond float32 range.
    """
    with np.errstate(over="ignore"):
        positions32 = positions.astype(np.float32)
    if not np.isfinite(positions32).all():
        raise GltfError(f"{path}: mesh {mesh.name!r}: its node transform (or deltas) put "
                        f"vertices beyond float32 range; cannot pose it")
    faces = mesh.faces[:, ::-1].copy() if mirrored and len(mesh.faces) else mesh.faces
    normals = vertex_normals(positions32, faces) if len(faces) else None
    return MorphMesh(name=mesh.name, positions=positions32, faces=faces, target_names=(),
                     deltas=np.zeros((0, mesh.n_vertices, 3), np.float32), normals=normals,
                     metadata=mesh.metadata)


def _parents(source) -> dict[int, int]:
    """Node index -> its parent's index (glTF ``children``; malformed entries are skipped)."""
    nodes = source.array("nodes")
    parent_of: dict[int, int] = {}
    for index, node in enumerate(nodes):
        children = node.get("children") if isinstance(node, dict) else None
        for child in children if isinstance(children, list) else ():
            if isinstance(child, int) and not isinstance(child, bool) and 0 <= child < len(nodes):
                parent_of[child] = index
    return parent_of


def _posed_world_matrices(gltf: GltfRig, match: TargetMatch,
                          weights: np.ndarray) -> tuple[dict[int, np.ndarray], frozenset[int]]:
    """Every node's world matrix with the profile's node motion applied at ``weights``, and the
    nodes it moved."""
    from dataclasses import replace

    from facs_rig.core.curves import TargetWeights
    from facs_rig.io.gltf.writer import moved_node_poses

    source = gltf.source
    profile = match.profile
    if not profile.node_motions:
        return world_matrices(source), frozenset()
    frame = TargetWeights(times=np.zeros(1), weights=np.asarray(weights, np.float32)[None, :],
                          names=profile.targets, fps=None)
    poses = moved_node_poses(source.document, profile.node_motions, frame)
    if not poses:
        return world_matrices(source), frozenset()
    nodes = [dict(node) for node in source.array("nodes")]
    for node, pose in poses:
        nodes[node]["rotation"] = [float(v) for v in pose.rotation[0]]
        nodes[node]["translation"] = [float(v) for v in pose.translation[0]]
    turned = replace(source, document={**source.document, "nodes": nodes}, budget=source.budget)
    return world_matrices(turned), frozenset(node for node, _ in poses)


def write_posed(meshes: list[MorphMesh], output: str | os.PathLike[str]) -> None:
    """Write posed meshes: glTF keeps them separate; OBJ/PLY concatenates them in order."""
    output = Path(output)
    if output.suffix.lower() in _GLTF_FORMATS:
        write_glb(meshes, output)
        return
    offsets = np.cumsum([0] + [m.n_vertices for m in meshes])
    positions = np.concatenate([m.positions for m in meshes])
    faces = np.concatenate([m.faces.astype(np.int64) + offset
                            for m, offset in zip(meshes, offsets[:-1])])
    normals = None
    if all(m.normals is not None for m in meshes):
        normals = np.concatenate([m.normals for m in meshes])
    write_mesh(output, positions, faces, normals=normals)
