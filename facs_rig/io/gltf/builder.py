"""Append binary data, buffer views and accessors to a glTF document being written.

One :class:`BufferBuilder` collects every new byte for the single output buffer (the GLB BIN chunk
or the ``.bin`` beside a ``.gltf``). Views start on 4-byte boundaries, which satisfies every
component type and the rule that vertex attribute offsets be multiples of 4 (spec §3.6.2.4,
"Data Alignment").
"""

from __future__ import annotations

import numpy as np

__all__ = ["BufferBuilder", "ARRAY_BUFFER", "ELEMENT_ARRAY_BUFFER"]

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
_COMPONENT_TYPES = {np.dtype("<i1"): 5120, np.dtype("<u1"): 5121, np.dtype("<i2"): 5122,
                    np.dtype("<u2"): 5123, np.dtype("<u4"): 5125, np.dtype("<f4"): 5126}
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}


class BufferBuilder:
    """Accumulates bytes for buffer ``buffer_index`` and registers views/accessors in ``document``.

    Parameters
    ----------
    document : dict
        The glTF JSON being built; ``bufferViews`` and ``accessors`` are appended to.
    buffer_index : int
        Index of the buffer the new views point into.
    start : int
        Bytes already in that buffer (new data is appended after them).
    """

    def __init__(self, document: dict, buffer_index: int = 0, start: int = 0):
        self.document = document
        self.buffer_index = buffer_index
        self.parts: list[bytes] = []
        self.length = start

    def add_view(self, data: bytes, *, target: int | None = None) -> int:
        """Append ``data`` (4-byte aligned) as a new buffer view; returns its index."""
        padding = -self.length % 4
        if padding:
            self.parts.append(b"\x00" * padding)
            self.length += padding
        view = {"buffer": self.buffer_index, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.parts.append(data)
        self.length += len(data)
        views = self.document.setdefault("bufferViews", [])
        views.append(view)
        return len(views) - 1

    def add_accessor(self, array: np.ndarray, *, target: int | None = None, bounds: bool = False,
                     normalized: bool = False) -> int:
        """Append ``array`` ``(count,)`` or ``(count, n)`` as a tightly packed accessor.

        ``bounds`` writes ``min``/``max`` computed from the stored values (the validator requires
        them to equal the data exactly, and they are mandatory for POSITION and animation input).
        """
        values = np.ascontiguousarray(array)
        values = values.astype(values.dtype.newbyteorder("<"), copy=False)
        columns = 1 if values.ndim == 1 else values.shape[1]
        view = self.add_view(values.tobytes(), target=target)
        accessor = {"bufferView": view, "componentType": _COMPONENT_TYPES[values.dtype],
                    "count": int(values.shape[0]), "type": _TYPES[columns]}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            accessor.update(_bounds(values.reshape(values.shape[0], columns)))
        return self._append_accessor(accessor)

    def add_sparse_vec3(self, deltas: np.ndarray) -> int:
        """Append ``(count, 3)`` float32 deltas as a sparse accessor over zeros (with bounds).

        Only rows that are not all zero are stored (spec §3.6.2.3); a target that moves nothing
        stores one zero row, since a sparse ``count`` must be at least 1.
        """
        deltas = np.ascontiguousarray(deltas, dtype="<f4")
        moved = np.flatnonzero(np.any(deltas != 0, axis=1))
        if moved.size == 0:
            moved = np.zeros(1, dtype=np.int64)
        index_dtype = "<u2" if deltas.shape[0] <= 65535 else "<u4"
        indices_view = self.add_view(moved.astype(index_dtype).tobytes())
        values_view = self.add_view(deltas[moved].tobytes())
        accessor = {
            "componentType": 5126, "count": int(deltas.shape[0]), "type": "VEC3",
            "sparse": {"count": int(moved.size),
                       "indices": {"bufferView": indices_view,
                                   "componentType": 5123 if index_dtype == "<u2" else 5125},
                       "values": {"bufferView": values_view}},
        }
        accessor.update(_bounds(deltas))
        return self._append_accessor(accessor)

    def _append_accessor(self, accessor: dict) -> int:
        accessors = self.document.setdefault("accessors", [])
        accessors.append(accessor)
        return len(accessors) - 1

    def data(self) -> bytes:
        """Every byte appended so far (without the ``start`` bytes that were already there)."""
        return b"".join(self.parts)


def _bounds(values: np.ndarray) -> dict:
    if values.dtype.kind == "f":
        # float32 -> Python float is exact, and JSON prints the shortest repr that round-trips.
        return {"min": [float(v) for v in values.min(axis=0)],
                "max": [float(v) for v in values.max(axis=0)]}
    return {"min": [int(v) for v in values.min(axis=0)], "max": [int(v) for v in values.max(axis=0)]}
