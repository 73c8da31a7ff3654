"""Small glTF files built byte by byte for the glTF tests (independent of facs-rig's writer).

:class:`DocumentBuilder` lays out buffer views and accessors by hand (numpy + struct), so the
reader is tested against bytes the test controls: sparse accessors, normalized integers,
interleaved views, several primitives, primitive-level target names, external and data-URI
buffers.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np

COMPONENT = {np.dtype("int8"): 5120, np.dtype("uint8"): 5121, np.dtype("int16"): 5122,
             np.dtype("uint16"): 5123, np.dtype("uint32"): 5125, np.dtype("float32"): 5126}
TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}


class DocumentBuilder:
    """Build a glTF JSON document and its single binary buffer."""

    def __init__(self) -> None:
        self.json: dict = {"asset": {"version": "2.0"}, "bufferViews": [], "accessors": []}
        self.binary = bytearray()

    def view(self, data: bytes, **extra) -> int:
        self.binary += b"\x00" * (-len(self.binary) % 4)
        self.json["bufferViews"].append({"buffer": 0, "byteOffset": len(self.binary),
                                         "byteLength": len(data), **extra})
        self.binary += data
        return len(self.json["bufferViews"]) - 1

    def accessor(self, array, *, normalized: bool = False, bounds: bool = False, **extra) -> int:
        array = np.ascontiguousarray(array)
        columns = 1 if array.ndim == 1 else array.shape[1]
        accessor = {"bufferView": self.view(array.astype(array.dtype.newbyteorder("<")).tobytes()),
                    "componentType": COMPONENT[array.dtype], "count": int(array.shape[0]),
                    "type": TYPE[columns], **extra}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            flat = array.reshape(array.shape[0], columns)
            accessor["min"] = [float(v) for v in flat.min(axis=0)]
            accessor["max"] = [float(v) for v in flat.max(axis=0)]
        self.json["accessors"].append(accessor)
        return len(self.json["accessors"]) - 1

    def sparse_accessor(self, count: int, indices, values, *, index_dtype="uint16",
                        base: int | None = None) -> int:
        """A VEC3 float sparse accessor over zeros (or over the bytes of accessor ``base``)."""
        indices = np.asarray(indices, dtype=index_dtype)
        values = np.asarray(values, dtype=np.float32).reshape(-1, 3)
        accessor = {"componentType": 5126, "count": count, "type": "VEC3",
                    "sparse": {"count": int(indices.size),
                               "indices": {"bufferView": self.view(indices.tobytes()),
                                           "componentType": COMPONENT[indices.dtype]},
                               "values": {"bufferView": self.view(values.tobytes())}}}
        if base is not None:
            accessor["bufferView"] = self.json["accessors"][base]["bufferView"]
        self.json["accessors"].append(accessor)
        return len(self.json["accessors"]) - 1

    def mesh_node(self, mesh: dict, **node) -> int:
        self.json.setdefault("meshes", []).append(mesh)
        self.json.setdefault("nodes", []).append({"mesh": len(self.json["meshes"]) - 1, **node})
        self.json.setdefault("scenes", [{"nodes": []}])[0]["nodes"].append(
            len(self.json["nodes"]) - 1)
        self.json["scene"] = 0
        return len(self.json["nodes"]) - 1

    def finish(self) -> dict:
        document = json.loads(json.dumps(self.json))
        document["buffers"] = [{"byteLength": len(self.binary)}]
        return document

    def glb(self) -> bytes:
        text = json.dumps(self.finish()).encode()
        text += b" " * (-len(text) % 4)
        binary = bytes(self.binary) + b"\x00" * (-len(self.binary) % 4)
        body = (struct.pack("<II", len(text), 0x4E4F534A) + text
                + struct.pack("<II", len(binary), 0x004E4942) + binary)
        return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body

    def gltf_data_uri(self) -> bytes:
        document = self.finish()
        document["buffers"][0]["uri"] = ("data:application/octet-stream;base64,"
                                         + base64.b64encode(bytes(self.binary)).decode())
        return json.dumps(document).encode()

    def write_gltf_external(self, folder: Path, name: str = "rig") -> Path:
        document = self.finish()
        document["buffers"][0]["uri"] = f"{name}.bin"
        (folder / f"{name}.bin").write_bytes(bytes(self.binary))
        path = folder / f"{name}.gltf"
        path.write_text(json.dumps(document))
        return path


def glb_from(document: dict, binary: bytes = b"") -> bytes:
    """A GLB container of ``document`` and ``binary`` (padded), built without facs-rig."""
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        binary += b"\x00" * (-len(binary) % 4)
        body += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def quad_rig(builder: DocumentBuilder | None = None, *, names=("jawOpen", "mouthSmile_L"),
             sparse: bool = False, where: str = "mesh") -> tuple[DocumentBuilder, np.ndarray]:
    """A 4-vertex quad with len(names) POSITION targets; returns the builder and the deltas."""
    builder = builder or DocumentBuilder()
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    deltas = np.zeros((len(names), 4, 3), dtype=np.float32)
    for k in range(len(names)):
        deltas[k, k % 4] = [0.0, 0.0, 0.25 * (k + 1)]
        deltas[k, 3] += [0.1 * k, 0.0, 0.0]
    position = builder.accessor(positions, bounds=True)
    indices = builder.accessor(np.array([0, 1, 2, 1, 3, 2], dtype=np.uint16))
    targets = []
    for k in range(len(names)):
        if sparse:
            moved = np.flatnonzero(np.any(deltas[k] != 0, axis=1))
            targets.append({"POSITION": builder.sparse_accessor(4, moved, deltas[k][moved])})
        else:
            targets.append({"POSITION": builder.accessor(deltas[k], bounds=True)})
    primitive = {"attributes": {"POSITION": position}, "indices": indices, "targets": targets}
    mesh: dict = {"name": "quad", "primitives": [primitive]}
    if where == "mesh":
        mesh["extras"] = {"targetNames": list(names)}
    elif where == "primitive":
        primitive["extras"] = {"targetNames": list(names)}
    builder.mesh_node(mesh, name="Quad")
    return builder, deltas
