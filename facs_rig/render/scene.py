"""What the renderer draws: a rig's meshes merged in world space, with colours and a face to frame.

:func:`load_render_rig` reads any glTF/GLB face rig through the glTF bridge
(:func:`facs_rig.io.gltf.read_gltf`), applies each node's world transform to positions and morph
deltas (so a Z-up export or a head parented under a body renders upright), merges all meshes into
one :class:`~facs_rig.core.mesh.MorphMesh` whose targets are the union of their names, and reads
``COLOR_0`` where the file has it (the default head does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facs_rig.core.mesh import MorphMesh
from facs_rig.errors import GltfError

__all__ = ["RenderRig", "RenderPart", "load_render_rig", "render_rig_from_mesh", "SKIN_TONE"]

#: Albedo of meshes without vertex colours: a neutral clay, so shape reads before colour.
SKIN_TONE = (0.62, 0.47, 0.40)
#: Targets that move the whole head are left out when finding the face to frame.
_WHOLE_HEAD = frozenset(f"AU{au}" for au in range(51, 59))


@dataclass(frozen=True)
class RenderPart:
    """Where one glTF primitive lies in the merged mesh (for viewers that draw its material).

    Attributes
    ----------
    mesh_index, primitive_index : int
        ``/meshes/{mesh_index}/primitives/{primitive_index}`` of the source file.
    first_vertex, n_vertices : int
        Its vertices in :attr:`RenderRig.mesh` (the primitive's vertex order).
    first_face, n_faces : int
        Its triangles in ``mesh.faces``.
    """

    mesh_index: int
    primitive_index: int
    first_vertex: int
    n_vertices: int
    first_face: int
    n_faces: int


@dataclass(frozen=True)
class RenderRig:
    """A rig ready to render.

    Attributes
    ----------
    mesh : MorphMesh
        All meshes merged, in world space; targets are the union of the meshes' names.
    colours : (n_vertices, 3) float32
        Linear albedo per vertex.
    source : str
        Where it came from (a path or ``"default head"``).
    focus : (n, 3) float32
        Points the camera frames: the vertices the targets move (the face), or all vertices.
    parts : tuple of RenderPart
        The source primitives in merged order (empty for a mesh not read from a file).
    """

    mesh: MorphMesh
    colours: np.ndarray
    source: str
    focus: np.ndarray
    parts: tuple[RenderPart, ...] = ()


def _focus_points(mesh: MorphMesh) -> np.ndarray:
    """The face: vertices moved by the expression targets, grown to take in the whole head.

    Head-movement targets move everything and are ignored. The moved region's bounding box is
    widened (brows to chin is ~60% of a head's height) so the frame shows forehead and jaw.
    """
    keep = [i for i, name in enumerate(mesh.target_names) if name not in _WHOLE_HEAD]
    points = mesh.positions
    if keep:
        moved = np.zeros(mesh.n_vertices, bool)
        for index in keep:
            # Each target by its own peak: a jaw that moves 4 cm must not hide a brow that moves
            # 5 mm (the face would be framed nose to chin). The faint far tails of smooth
            # falloffs are ignored: frame where each target moves skin visibly.
            movement = np.abs(mesh.deltas[index]).max(axis=1)
            peak = float(movement.max())
            if peak > 0:
                moved |= movement > 0.2 * peak
        if moved.sum() >= 3:
            face = points[moved]
            # Percentiles, not extremes: a jaw target's far tail down the throat is not the face.
            low, high = np.percentile(face, 3, axis=0), np.percentile(face, 97, axis=0)
            centre, half = (low + high) / 2, (high - low) / 2
            half = np.maximum(half, half.max() * 0.75)  # a face is about as wide as tall
            # Room for the forehead and crown above the brows, a little below the chin.
            box = np.stack(
                [centre - half * np.array([1.2, 1.1, 1.0]), centre + half * np.array([1.2, 1.3, 1.0])]
            )
            return box.astype(np.float32)
    return np.stack([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


def render_rig_from_mesh(
    mesh: MorphMesh, colours: np.ndarray | None = None, *, source: str = "mesh",
    parts: tuple[RenderPart, ...] = (),
) -> RenderRig:
    """Wrap one mesh (vertex colours optional) for rendering."""
    if colours is None:
        colours = np.broadcast_to(np.float32(SKIN_TONE), (mesh.n_vertices, 3))
    colours = np.ascontiguousarray(colours, np.float32)[:, :3]
    return RenderRig(mesh, colours, source, _focus_points(mesh), tuple(parts))


def load_render_rig(path: str | os.PathLike[str] | None = None) -> RenderRig:
    """Read a glTF/GLB rig for rendering (default: the bundled default head).

    Raises
    ------
    GltfError
        When the file is not a readable glTF or has no triangle meshes.
    """
    from facs_rig.io.default_head import default_head_path
    from facs_rig.io.gltf import read_gltf, world_matrices
    from facs_rig.io.gltf.accessors import read_accessor_float

    target = Path(path) if path is not None else default_head_path()
    rig = read_gltf(target)
    if not rig.meshes:
        raise GltfError(f"{target}: the file has no meshes with morph targets to render")
    source = rig.source
    matrices = world_matrices(source)
    documents = source.array("meshes")
    names: list[str] = list(dict.fromkeys(n for mesh in rig.meshes for n in mesh.target_names))
    column = {name: i for i, name in enumerate(names)}
    positions, faces, colours, deltas_parts = [], [], [], []
    parts: list[RenderPart] = []
    offset = face_offset = 0
    for mesh_targets, mesh in zip(rig.targets, rig.meshes):
        node = mesh_targets.nodes[0] if mesh_targets.nodes else None
        matrix = matrices.get(node, np.eye(4)) if node is not None else np.eye(4)
        linear, shift = matrix[:3, :3], matrix[:3, 3]
        with np.errstate(over="ignore", invalid="ignore"):  # checked after the loop
            world = (mesh.positions.astype(np.float64) @ linear.T + shift).astype(np.float32)
        positions.append(world)
        faces.append(mesh.faces.astype(np.int64) + offset)
        # Charged to the file's decode budget: every mesh gets a row per name of EVERY mesh.
        source.budget.charge(len(names) * mesh.n_vertices * 12, f"mesh {mesh.name!r} for the preview",
                             target)
        delta = np.zeros((len(names), mesh.n_vertices, 3), np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # checked after the loop
            for index, name in enumerate(mesh.target_names):
                delta[column[name]] += (mesh.deltas[index].astype(np.float64) @ linear.T
                                        ).astype(np.float32)
        if not np.isfinite(delta).all():
            raise GltfError(f"{target}: mesh {mesh.name!r}: its morph targets leave float32 range "
                            f"after the node transform; nothing to render")
        deltas_parts.append(delta)
        colours.append(
            _vertex_colours(source, documents[mesh_targets.mesh_index], mesh.n_vertices, read_accessor_float)
        )
        # The reader concatenates primitives in order: a triangle belongs to the primitive
        # whose vertex range holds its first corner.
        counts = np.asarray(mesh.metadata.get("primitive_vertex_counts", (mesh.n_vertices,)), np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        owner = np.searchsorted(starts, mesh.faces[:, 0].astype(np.int64), side="right") - 1
        face_counts = np.bincount(owner, minlength=counts.size) if owner.size else np.zeros(counts.size, int)
        first_face = face_offset
        for primitive_index, (start, count) in enumerate(zip(starts, counts)):
            parts.append(RenderPart(mesh_targets.mesh_index, primitive_index, offset + int(start), int(count),
                                    first_face, int(face_counts[primitive_index])))
            first_face += int(face_counts[primitive_index])
        offset += mesh.n_vertices
        face_offset += mesh.faces.shape[0]
    # Meshes without morph targets (eyeballs, teeth, hair in many rigs) are drawn too, still.
    animated = {info.mesh_index for info in rig.targets}
    for node_index, node in enumerate(source.array("nodes")):
        mesh_index = node.get("mesh") if isinstance(node, dict) else None
        if not isinstance(mesh_index, int) or mesh_index in animated or not 0 <= mesh_index < len(documents):
            continue
        for primitive_index, points, triangles, colour in _static_primitives(
            source, documents[mesh_index], mesh_index, read_accessor_float
        ):
            matrix = matrices.get(node_index, np.eye(4))
            with np.errstate(over="ignore", invalid="ignore"):  # checked after the loop
                world = (points.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
            positions.append(world)
            faces.append(triangles + offset)
            source.budget.charge(len(names) * points.shape[0] * 12,
                                 f"/meshes/{mesh_index} for the preview", target)
            deltas_parts.append(np.zeros((len(names), points.shape[0], 3), np.float32))
            colours.append(colour)
            parts.append(RenderPart(mesh_index, primitive_index, offset, points.shape[0], face_offset,
                                    triangles.shape[0]))
            offset += points.shape[0]
            face_offset += triangles.shape[0]
    all_positions = np.concatenate(positions)
    # A node transform of 1e308 (or a zero scale) leaves nothing the camera can frame: say so
    # here rather than render NaN through RuntimeWarnings.
    finite = bool(np.isfinite(all_positions).all())
    extent = np.ptp(all_positions, axis=0) if finite and all_positions.size else np.zeros(3)
    if not finite or not np.isfinite(extent).all() or extent.max() <= 0:
        raise GltfError(f"{target}: the posed meshes are empty, flat to a point or beyond float32 "
                        f"range after their node transforms; nothing to render")
    merged = MorphMesh(
        name=target.stem,
        positions=all_positions,
        faces=np.concatenate(faces).astype(np.uint32),
        target_names=tuple(names),
        deltas=np.concatenate(deltas_parts, axis=1),
    )
    label = "default head" if path is None else str(target)
    return render_rig_from_mesh(merged, np.concatenate(colours), source=label, parts=tuple(parts))


def _vertex_colours(source, mesh_document: dict, n_vertices: int, read_accessor_float) -> np.ndarray:
    """``COLOR_0`` of a mesh's triangle primitives in primitive order, or the clay tone."""
    parts = []
    for index, primitive in enumerate(mesh_document.get("primitives", [])):
        if primitive.get("mode", 4) not in (4, 5, 6):
            continue
        attributes = primitive.get("attributes", {})
        count = None
        if "COLOR_0" in attributes:
            try:
                values = read_accessor_float(source, attributes["COLOR_0"], f"primitives[{index}].COLOR_0")
                parts.append(np.asarray(values, np.float32).reshape(-1, values.shape[-1])[:, :3])
                continue
            except (GltfError, ValueError):
                pass
        if "POSITION" in attributes:
            from facs_rig.io.gltf.accessors import accessor_count

            count = accessor_count(source, attributes["POSITION"])
        parts.append(np.broadcast_to(np.float32(SKIN_TONE), (count or 0, 3)))
    colours = np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)
    if colours.shape[0] != n_vertices:  # primitives merged differently: fall back to clay
        return np.broadcast_to(np.float32(SKIN_TONE), (n_vertices, 3)).astype(np.float32)
    return colours.astype(np.float32)


def _static_primitives(source, mesh_document: dict, mesh_index: int, read_accessor_float):
    """Triangle-list primitives of a mesh without morph targets:
    ``(primitive_index, positions, faces, colours)``.

    Only what a preview needs: ``TRIANGLES`` mode with or without indices; other modes and
    malformed primitives are skipped (the morph-target meshes were already validated by the reader).
    """
    from facs_rig.io.gltf.accessors import read_accessor

    for index, primitive in enumerate(mesh_document.get("primitives", [])):
        attributes = primitive.get("attributes", {}) if isinstance(primitive, dict) else {}
        if primitive.get("mode", 4) != 4 or "POSITION" not in attributes:
            continue
        pointer = f"/meshes/{mesh_index}/primitives/{index}"
        try:
            points = np.asarray(
                read_accessor_float(source, attributes["POSITION"], f"{pointer}/POSITION"), np.float32
            )
            if "indices" in primitive:
                triangles = np.asarray(
                    read_accessor(source, primitive["indices"], f"{pointer}/indices"), np.int64
                ).reshape(-1)
            else:
                triangles = np.arange(points.shape[0], dtype=np.int64)
        except (GltfError, ValueError):
            continue
        triangles = triangles[: triangles.size - triangles.size % 3].reshape(-1, 3)
        if (
            points.ndim != 2
            or points.shape[1] != 3
            or (triangles.size and triangles.max() >= points.shape[0])
        ):
            continue
        colour = np.broadcast_to(np.float32(SKIN_TONE), points.shape).astype(np.float32)
        if "COLOR_0" in attributes:
            try:
                values = np.asarray(
                    read_accessor_float(source, attributes["COLOR_0"], f"{pointer}/COLOR_0"), np.float32
                )
                if values.shape[0] == points.shape[0]:
                    colour = values[:, :3]
            except (GltfError, ValueError):
                pass
        yield index, points, triangles, colour
