"""The rig's glTF materials for the studio page: base colour, metal/roughness, textures, sides.

The page draws the rig as it is in its file: each primitive of the merged mesh
(:attr:`facs_rig.render.scene.RenderRig.parts`) keeps its material. This module turns the
file's ``materials`` (glTF 2.0 §3.9, ``pbrMetallicRoughness``) into what three.js's
``MeshStandardMaterial`` takes, with the textures' images as bytes the server answers from
memory (``/rig-image-N``): images are read once, when the rig is loaded, from the file itself
(a GLB buffer view or a ``data:`` URI) or from a relative URI inside the glTF file's folder
(:func:`facs_rig.io.gltf.container.resolve_relative_uri` refuses anything else). Only PNG and
JPEG are sent (what a browser decodes everywhere); a texture in another format (KTX2/Basis)
leaves its material's colour factors alone.

Primitives with the same look (material and whether the primitive has ``COLOR_0``) are drawn
in one call: :func:`rig_looks` orders the triangles by look and gives one group per look.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facs_rig.errors import GltfError

__all__ = ["RigLooks", "rig_looks", "CLAY_LOOK"]

#: A primitive without a material: the previews' clay (its vertex colours), a matte surface.
#: (The glTF default material is fully metallic, black without an environment map.)
CLAY_LOOK = {"name": "", "color": [1.0, 1.0, 1.0], "opacity": 1.0, "metalness": 0.0,
             "roughness": 0.6, "emissive": [0.0, 0.0, 0.0], "doubleSided": False,
             "alphaMode": "OPAQUE", "alphaCutoff": 0.5, "vertexColors": True, "map": -1,
             "metalRoughMap": -1}
_WRAPS = {33071: "clamp", 33648: "mirror", 10497: "repeat"}  # glTF §5.26 sampler.wrapS/T
#: The image types sent to the page: what every browser decodes.
_PAGE_IMAGE_TYPES = ("image/png", "image/jpeg")
#: Largest image sent to the page (a 8k x 8k PNG is ~100-200 MB; faces use 4k at most).
MAX_IMAGE_BYTES = 64 << 20


@dataclass(frozen=True)
class RigLooks:
    """What the page needs to draw each part of the rig with its material.

    Attributes
    ----------
    looks : list of dict
        One ``MeshStandardMaterial`` description per look (see :data:`CLAY_LOOK` for the keys;
        ``map`` / ``metalRoughMap`` index :attr:`textures` or are -1).
    textures : list of dict
        ``{"image": k, "wrapS", "wrapT": "repeat"|"clamp"|"mirror", "texCoord": n}``.
    images : list of tuple of (str, bytes)
        Content type and bytes of image ``k`` (served at ``/rig-image-k``).
    face_order : (n_faces,) int64
        The triangles in drawing order (grouped by look).
    groups : list of dict
        ``{"start": first index, "count": indices, "look": k}`` into the reordered triangles.
    uvs : (n_vertices, 2) float32 or None
        ``TEXCOORD_0`` (or the texture's set) of textured parts; None when nothing is textured.
    """

    looks: list
    textures: list
    images: list
    face_order: np.ndarray
    groups: list
    uvs: np.ndarray | None


def _number(value, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and np.isfinite(value) else default


def _numbers(value, default: list[float]) -> list[float]:
    if not isinstance(value, list) or len(value) != len(default):
        return list(default)
    return [min(max(_number(v, d), 0.0), 1.0) for v, d in zip(value, default)]


def _image_bytes(source, image: dict, where: str) -> tuple[str, bytes] | None:
    """An image's bytes when it is a PNG or JPEG the file holds (or names beside itself).

    Raises
    ------
    GltfError
        A URI the glTF reader refuses or cannot read, or an image over
        :data:`MAX_IMAGE_BYTES` named by URI (the caller draws the material without it).
    """
    from facs_rig.io.gltf.accessors import _view_bytes
    from facs_rig.io.gltf.container import read_uri_image, sniff_image

    if "bufferView" in image:
        data = bytes(_view_bytes(source, image["bufferView"], where)[0])
    elif isinstance(image.get("uri"), str):
        data, _ = read_uri_image(image["uri"], where, source.path, max_bytes=MAX_IMAGE_BYTES)
    else:
        return None
    if len(data) > MAX_IMAGE_BYTES:
        return None
    kind = sniff_image(data)
    return (kind, data) if kind in _PAGE_IMAGE_TYPES else None


def rig_looks(render_rig) -> RigLooks:
    """The looks of ``render_rig``'s parts, read from its glTF file.

    A rig without parts (a mesh not read from a file), or whose file no longer reads, is one
    clay look with its vertex colours, as before.
    """
    mesh = render_rig.mesh
    n_faces = mesh.faces.shape[0]
    single = RigLooks([dict(CLAY_LOOK)], [], [], np.arange(n_faces),
                      [{"start": 0, "count": 3 * n_faces, "look": 0}], None)
    if not render_rig.parts:
        return single
    from facs_rig.io.default_head import default_head_path
    from facs_rig.io.gltf.container import read_gltf_source

    path = default_head_path() if render_rig.source == "default head" else render_rig.source
    try:
        source = read_gltf_source(path)
        materials = source.array("materials")
        meshes = source.array("meshes")
        textures_doc = source.array("textures")
        images_doc = source.array("images")
        samplers = source.array("samplers")
    except GltfError:
        return single

    images: list[tuple[str, bytes]] = []
    image_slot: dict[int, int] = {}
    textures: list[dict] = []
    texture_slot: dict[tuple[int, int], int] = {}

    def texture(info) -> int:
        """Index into ``textures`` of a ``textureInfo`` (glTF §5.22), or -1."""
        if not isinstance(info, dict) or not isinstance(info.get("index"), int):
            return -1
        index, tex_coord = info["index"], info.get("texCoord", 0)
        if not isinstance(tex_coord, int) or not 0 <= index < len(textures_doc):
            return -1
        if (index, tex_coord) in texture_slot:
            return texture_slot[(index, tex_coord)]
        doc = textures_doc[index]
        image_index = doc.get("source")
        slot = -1
        if isinstance(image_index, int) and 0 <= image_index < len(images_doc):
            if image_index not in image_slot:
                try:
                    found = _image_bytes(source, images_doc[image_index], f"/images/{image_index}")
                except (GltfError, OSError):
                    found = None
                image_slot[image_index] = -1 if found is None else len(images)
                if found is not None:
                    images.append(found)
            if image_slot[image_index] >= 0:
                sampler = doc.get("sampler")
                sampler = (samplers[sampler] if isinstance(sampler, int)
                           and 0 <= sampler < len(samplers) else {})
                textures.append({"image": image_slot[image_index], "texCoord": tex_coord,
                                 "wrapS": _WRAPS.get(sampler.get("wrapS"), "repeat"),
                                 "wrapT": _WRAPS.get(sampler.get("wrapT"), "repeat")})
                slot = len(textures) - 1
        texture_slot[(index, tex_coord)] = slot
        return slot

    def look_of(material_index, has_colours: bool) -> dict:
        if not isinstance(material_index, int) or not 0 <= material_index < len(materials):
            return dict(CLAY_LOOK)
        doc = materials[material_index]
        pbr = doc.get("pbrMetallicRoughness") if isinstance(doc.get("pbrMetallicRoughness"), dict) else {}
        factor = _numbers(pbr.get("baseColorFactor"), [1.0, 1.0, 1.0, 1.0])
        alpha_mode = doc.get("alphaMode") if doc.get("alphaMode") in ("OPAQUE", "MASK", "BLEND") else "OPAQUE"
        return {"name": str(doc.get("name", ""))[:200], "color": factor[:3], "opacity": factor[3],
                "metalness": min(max(_number(pbr.get("metallicFactor"), 1.0), 0.0), 1.0),
                "roughness": min(max(_number(pbr.get("roughnessFactor"), 1.0), 0.0), 1.0),
                "emissive": _numbers(doc.get("emissiveFactor"), [0.0, 0.0, 0.0]),
                "doubleSided": doc.get("doubleSided") is True, "alphaMode": alpha_mode,
                "alphaCutoff": _number(doc.get("alphaCutoff"), 0.5),
                # COLOR_0 multiplies the base colour (glTF §3.9.2).
                "vertexColors": has_colours, "map": texture(pbr.get("baseColorTexture")),
                "metalRoughMap": texture(pbr.get("metallicRoughnessTexture"))}

    looks: list[dict] = []
    look_index: dict[tuple, int] = {}
    part_look: list[int] = []
    uv_parts: list[tuple] = []
    for part in render_rig.parts:
        try:
            primitive = meshes[part.mesh_index]["primitives"][part.primitive_index]
            attributes = primitive.get("attributes", {})
            material = primitive.get("material")
        except (IndexError, KeyError, TypeError, AttributeError):
            primitive, attributes, material = {}, {}, None
        has_colours = isinstance(attributes, dict) and "COLOR_0" in attributes
        key = (material if isinstance(material, int) else None, has_colours)
        if key not in look_index:
            look = look_of(key[0], has_colours)
            if key[0] is None:
                look["vertexColors"] = True  # the clay tone is in the vertex colours
            look_index[key] = len(looks)
            looks.append(look)
        part_look.append(look_index[key])
        look = looks[look_index[key]]
        if look["map"] >= 0 or look["metalRoughMap"] >= 0:
            slot = look["map"] if look["map"] >= 0 else look["metalRoughMap"]
            uv_parts.append((part, attributes.get(f"TEXCOORD_{textures[slot]['texCoord']}")))

    uvs = None
    if uv_parts:
        from facs_rig.io.gltf.accessors import read_accessor_float

        uvs = np.zeros((mesh.n_vertices, 2), np.float32)
        for part, accessor in uv_parts:
            if not isinstance(accessor, int):
                continue
            try:
                values = np.asarray(read_accessor_float(source, accessor, "TEXCOORD"), np.float32)
            except (GltfError, ValueError):
                continue
            if values.shape == (part.n_vertices, 2):
                uvs[part.first_vertex:part.first_vertex + part.n_vertices] = values

    # Triangles grouped by look, opaque looks first (blended ones draw over them).
    order_parts = sorted(range(len(render_rig.parts)),
                         key=lambda k: (looks[part_look[k]]["alphaMode"] == "BLEND", part_look[k], k))
    pieces, groups, start = [], [], 0
    for k in order_parts:
        part = render_rig.parts[k]
        pieces.append(np.arange(part.first_face, part.first_face + part.n_faces))
        if groups and groups[-1]["look"] == part_look[k]:
            groups[-1]["count"] += 3 * part.n_faces
        else:
            groups.append({"start": start, "count": 3 * part.n_faces, "look": part_look[k]})
        start += 3 * part.n_faces
    face_order = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    if face_order.size != n_faces:  # parts do not cover the mesh: draw it as one clay look
        return single
    return RigLooks(looks, textures, images, face_order, groups, uvs)
