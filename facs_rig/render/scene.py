"""What the renderer draws: a rig's meshes merged in world space, with colours and a face to frame.

:func:`load_render_rig` reads any glTF/GLB face rig through the glTF bridge
(:func:`facs_rig.io.gltf.read_gltf`), applies each node's world transform to positions and morph
deltas (so a Z-up export or a head parented under a body renders upright), merges all meshes into
one :class:`~facs_rig.core.mesh.MorphMesh` whose targets are the union of their names, and reads
``COLOR_0`` where the file has it (the default head does). Named nodes are remembered as
:class:`MovingPart` s, so the previews can turn them as the rig profile's node motion says (gaze:
the eyeball nodes rotate about the eye centres).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from facs_rig.core.mesh import MorphMesh, mirrors
from facs_rig.core.nodes import NodeMotion, ancestry, carried_points_matrix, node_poses
from facs_rig.errors import GltfError

__all__ = ["RenderRig", "RenderPart", "MovingPart", "load_render_rig", "render_rig_from_mesh",
           "SKIN_TONE"]

#: Albedo of meshes without vertex colours: a neutral clay, so shape reads before colour.
SKIN_TONE = (0.62, 0.47, 0.40)
#: Targets that move the whole head are left out when finding the face to frame.
_WHOLE_HEAD = frozenset(f"AU{au}" for au in range(51, 59))


@dataclass(frozen=True)
class MovingPart:
    """The vertices one named node carries, and what it takes to move them with the node.

    A node carries the meshes it shows and those of every node below it (Face Cap's ``eyeLeft``
    shows no mesh; its eyeball sits on a child node).

    Attributes
    ----------
    node : str
        The node's name.
    ranges : tuple of (start, stop)
        Its vertices and its descendants' in the merged mesh, as half-open index ranges.
    depth : int
        How many nodes lie above it (the previews turn deeper nodes first, so a turned eye
        carried by a turned head ends up where the file's node hierarchy puts it).
    parent : (4, 4) float64
        World matrix of the node's parent.
    rest_inverse : (4, 4) float64
        Inverse of the node's rest world matrix (merged vertices are in world space).
    translation : (3,) float64
    rotation : (4,) float64
        The node's rest translation and rotation (x, y, z, w).
    scale : (3,) float64
    """

    node: str
    ranges: tuple[tuple[int, int], ...]
    depth: int
    parent: np.ndarray
    rest_inverse: np.ndarray
    translation: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray

    @property
    def vertices(self) -> np.ndarray:
        """``(n,)`` int64: the merged-mesh indices of every vertex the node carries."""
        if not self.ranges:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(start, stop, dtype=np.int64) for start, stop in self.ranges])


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
    moving_parts : tuple of MovingPart
        Named TRS nodes' vertices (what node motion can turn).
    motions : tuple of NodeMotion
        The node motion to play, its targets named as ``mesh.target_names`` (bound by
        :func:`facs_rig.render.preview.preview_setup` from the rig profile; empty: none).
    """

    mesh: MorphMesh
    colours: np.ndarray
    source: str
    focus: np.ndarray
    parts: tuple[RenderPart, ...] = ()
    moving_parts: tuple[MovingPart, ...] = ()
    motions: tuple[NodeMotion, ...] = field(default=())

    def move_nodes(self, positions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``positions`` (n_vertices, 3) posed by ``weights`` (n_targets,) with every moving
        node turned as :attr:`motions` says (a copy; ``positions`` when nothing moves)."""
        moving = {motion.node for motion in self.motions}
        parts = [part for part in self.moving_parts if part.node in moving]
        if not parts:
            return positions
        moved = np.array(positions, dtype=np.float32, copy=True)
        frame = np.asarray(weights)[None, :]
        # Deepest first: an eye turned in its socket, then carried by a turned head, lands where
        # the posed hierarchy puts it (each matrix maps rest world space to its posed world space,
        # and a descendant's rest world space is what its ancestor's matrix expects).
        for part in sorted(parts, key=lambda part: -part.depth):
            # Each part from its own rest transform (two nodes may share a name).
            for pose in node_poses(self.motions, self.mesh.target_names, frame,
                                   {part.node: (part.translation, part.rotation)}):
                matrix = carried_points_matrix(part.parent, part.rest_inverse, pose.rotation[0],
                                               pose.translation[0], part.scale)
                index = part.vertices
                points = moved[index].astype(np.float64)
                moved[index] = (points @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
        return moved

    def motion_as_targets(self) -> RenderRig:
        """This rig with its node motion folded into the morph targets, for clients that can only
        blend targets (the studio page): each motion's node turned at full weight becomes that
        target's delta on the node's vertices. Exact at weights 0 and 1; in between the vertices
        move along the chord (a 28° eye turn shrinks the eye by at most 3% half way), which is why
        bake and the previews rotate the nodes instead."""
        if not self.motions or not self.moving_parts:
            return self
        deltas = np.array(self.mesh.deltas, dtype=np.float32, copy=True)
        rest = self.mesh.positions
        for index, name in enumerate(self.mesh.target_names):
            if not any(motion.target == name for motion in self.motions):
                continue
            weights = np.zeros(len(self.mesh.target_names), np.float32)
            weights[index] = 1.0
            deltas[index] += self.move_nodes(rest, weights) - rest
        mesh = MorphMesh(name=self.mesh.name, positions=rest, faces=self.mesh.faces,
                         target_names=self.mesh.target_names, deltas=deltas,
                         normals=self.mesh.normals, metadata=self.mesh.metadata)
        return RenderRig(mesh, self.colours, self.source, self.focus, self.parts, self.moving_parts, ())


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
    moving_parts: list[MovingPart] = []
    parent_of = {child: index for index, node in enumerate(source.array("nodes")) if isinstance(node, dict)
                 for child in (node.get("children") if isinstance(node.get("children"), list) else ())
                 if isinstance(child, int)}
    drawn: dict[int, list[tuple[int, int]]] = {}  # node -> the vertex ranges it shows
    offset = face_offset = 0
    for mesh_targets, mesh in zip(rig.targets, rig.meshes):
        node = mesh_targets.nodes[0] if mesh_targets.nodes else None
        if node is not None:
            drawn.setdefault(node, []).append((offset, offset + mesh.n_vertices))
        matrix = matrices.get(node, np.eye(4)) if node is not None else np.eye(4)
        linear, shift = matrix[:3, :3], matrix[:3, 3]
        with np.errstate(over="ignore", invalid="ignore"):  # checked after the loop
            world = (mesh.positions.astype(np.float64) @ linear.T + shift).astype(np.float32)
        positions.append(world)
        # A mirroring node has its triangles taken clockwise (glTF 2.0, 3.7.2.1): baked into
        # world positions they are reversed, or they would be shaded as facing inwards.
        faces.append((mesh.faces[:, ::-1] if mirrors(matrix) else mesh.faces).astype(np.int64) + offset)
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
        start = offset
        for primitive_index, points, triangles, colour in _static_primitives(
            source, documents[mesh_index], mesh_index, read_accessor_float
        ):
            matrix = matrices.get(node_index, np.eye(4))
            with np.errstate(over="ignore", invalid="ignore"):  # checked after the loop
                world = (points.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
            positions.append(world)
            faces.append((triangles[:, ::-1] if mirrors(matrix) else triangles) + offset)
            source.budget.charge(len(names) * points.shape[0] * 12,
                                 f"/meshes/{mesh_index} for the preview", target)
            deltas_parts.append(np.zeros((len(names), points.shape[0], 3), np.float32))
            colours.append(colour)
            parts.append(RenderPart(mesh_index, primitive_index, offset, points.shape[0], face_offset,
                                    triangles.shape[0]))
            offset += points.shape[0]
            face_offset += triangles.shape[0]
        if offset > start:
            drawn.setdefault(node_index, []).append((start, offset))
    # Every named node carries what it shows and what the nodes below it show.
    carried: dict[int, list[tuple[int, int]]] = {}
    for node_index, ranges in drawn.items():
        for above in ancestry(parent_of, node_index):
            carried.setdefault(above, []).extend(ranges)
    for node_index in sorted(carried):
        moving_parts.extend(_moving_part(source, node_index, matrices, parent_of,
                                         tuple(sorted(carried[node_index]))))
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
    rendered = render_rig_from_mesh(merged, np.concatenate(colours), source=label, parts=tuple(parts))
    return replace(rendered, moving_parts=tuple(moving_parts))


def _moving_part(source, node_index: int, matrices, parent_of: dict[int, int],
                 ranges: tuple[tuple[int, int], ...]) -> list[MovingPart]:
    """The node as a :class:`MovingPart` carrying the vertex ``ranges`` (its own and its
    descendants' meshes) when it is named and has TRS properties (glTF 2.0 §3.5.3: only those
    can be animated), else nothing."""
    node = source.array("nodes")[node_index]
    name = node.get("name")
    if not isinstance(name, str) or not name or "matrix" in node:
        return []
    parent = matrices.get(parent_of[node_index], np.eye(4)) if node_index in parent_of else np.eye(4)
    try:
        translation = np.asarray(node.get("translation", [0.0, 0.0, 0.0]), np.float64).reshape(3)
        rotation = np.asarray(node.get("rotation", [0.0, 0.0, 0.0, 1.0]), np.float64).reshape(4)
        scale = np.asarray(node.get("scale", [1.0, 1.0, 1.0]), np.float64).reshape(3)
        rest_inverse = np.linalg.inv(matrices.get(node_index, np.eye(4)))
    except (ValueError, TypeError, OverflowError, np.linalg.LinAlgError):
        return []
    if not (np.isfinite(rest_inverse).all() and np.isfinite(parent).all()):
        return []
    depth = len(ancestry(parent_of, node_index)) - 1
    return [MovingPart(name, ranges, depth, parent, rest_inverse, translation, rotation, scale)]


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
