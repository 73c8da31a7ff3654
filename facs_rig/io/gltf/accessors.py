"""Decode glTF accessors into numpy arrays, with every offset and count checked against its buffer.

Covers glTF 2.0 spec §3.6 "Buffers, BufferViews, and Accessors": interleaved views
(``byteStride``), accessors without a buffer view (all zeros), sparse accessors (§3.6.2.3: strictly
increasing indices of type ubyte/ushort/uint, tightly packed values), and normalized integers
(§3.11: ``ubyte c/255``, ``byte max(c/127, -1)``, ``ushort c/65535``, ``short max(c/32767, -1)``).
"""

from __future__ import annotations

import numpy as np

from facs_rig.errors import GltfError
from facs_rig.io.gltf.container import GltfSource

__all__ = ["read_accessor", "read_accessor_float", "accessor_count", "COMPONENT_DTYPES",
           "TYPE_SIZES"]

#: componentType -> little-endian numpy dtype (spec §3.6.2.2).
COMPONENT_DTYPES = {
    5120: np.dtype("<i1"), 5121: np.dtype("<u1"), 5122: np.dtype("<i2"),
    5123: np.dtype("<u2"), 5125: np.dtype("<u4"), 5126: np.dtype("<f4"),
}
#: accessor type -> number of components.
TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_NORMALIZE_DIVISOR = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}

def _get(source: GltfSource, key: str, index: object, pointer: str) -> dict:
    items = source.array(key)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(items):
        raise GltfError(f"{source.path}: {pointer} refers to {key}[{index!r}], which does not "
                        f"exist ({len(items)} defined)")
    return items[index]


def _non_negative(value: object, pointer: str, source: GltfSource, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GltfError(f"{source.path}: {pointer} must be a non-negative integer, got {value!r}")
    return value


def accessor_count(source: GltfSource, index: int, pointer: str = "accessor") -> int:
    """The ``count`` of accessor ``index`` (validated)."""
    accessor = _get(source, "accessors", index, pointer)
    return _non_negative(accessor.get("count"), f"/accessors/{index}/count", source)


def _view_bytes(source: GltfSource, view_index: object, pointer: str) -> tuple[memoryview, int | None]:
    """The bytes of a buffer view (bounds-checked) and its byteStride."""
    view = _get(source, "bufferViews", view_index, pointer)
    view_pointer = f"/bufferViews/{view_index}"
    buffer_index = view.get("buffer")
    _get(source, "buffers", buffer_index, f"{view_pointer}/buffer")
    data = source.buffers[buffer_index]
    offset = _non_negative(view.get("byteOffset"), f"{view_pointer}/byteOffset", source, 0)
    length = _non_negative(view.get("byteLength"), f"{view_pointer}/byteLength", source)
    if offset + length > len(data):
        raise GltfError(f"{source.path}: {view_pointer} (bytes {offset}..{offset + length}) runs "
                        f"past the end of buffer {buffer_index} ({len(data)} bytes)")
    stride = view.get("byteStride")
    if stride is not None:
        stride = _non_negative(stride, f"{view_pointer}/byteStride", source)
        if not 4 <= stride <= 252:
            raise GltfError(f"{source.path}: {view_pointer}/byteStride {stride} is outside 4..252")
    return memoryview(data)[offset:offset + length], stride


def _strided(data: memoryview, offset: int, count: int, n_components: int, dtype: np.dtype,
             stride: int | None, pointer: str, source: GltfSource) -> np.ndarray:
    element = n_components * dtype.itemsize
    step = element if stride is None else stride
    if step < element:
        raise GltfError(f"{source.path}: {pointer}: byteStride {step} is smaller than one element "
                        f"({element} bytes)")
    needed = offset + (step * (count - 1) + element if count else 0)
    if needed > len(data):
        raise GltfError(f"{source.path}: {pointer}: {count} elements from byte {offset} need "
                        f"{needed} bytes but the buffer view has {len(data)}")
    if count == 0:
        return np.zeros((0, n_components), dtype=dtype)
    view = np.ndarray((count, n_components), dtype=dtype, buffer=data, offset=offset,
                      strides=(step, dtype.itemsize))
    return np.array(view, dtype=dtype, copy=True)


def read_accessor(source: GltfSource, index: int, pointer: str = "accessor") -> np.ndarray:
    """The raw ``(count, n_components)`` values of accessor ``index``, sparse substitution applied.

    The component type is kept (no normalization); see :func:`read_accessor_float`.

    Raises
    ------
    GltfError
        Unknown type, out-of-range offsets, counts or sparse indices.
    """
    accessor = _get(source, "accessors", index, pointer)
    where = f"/accessors/{index}"
    component_type = accessor.get("componentType")
    if not isinstance(component_type, int) or component_type not in COMPONENT_DTYPES:
        raise GltfError(f"{source.path}: {where}/componentType {component_type!r} is not a glTF "
                        f"component type")
    kind = accessor.get("type")
    if not isinstance(kind, str) or kind not in TYPE_SIZES:
        raise GltfError(f"{source.path}: {where}/type {kind!r} is not a glTF accessor type")
    dtype = COMPONENT_DTYPES[component_type]
    n_components = TYPE_SIZES[kind]
    if kind.startswith("MAT") and dtype.itemsize < 4:
        raise GltfError(f"{source.path}: {where}: {kind} of {dtype} (column padding) is not "
                        f"supported")
    count = _non_negative(accessor.get("count"), f"{where}/count", source)
    if count < 1:
        raise GltfError(f"{source.path}: {where}/count must be at least 1")
    offset = _non_negative(accessor.get("byteOffset"), f"{where}/byteOffset", source, 0)
    # Charged before allocating, with or without a buffer view: an accessor without one is all
    # zeros of any declared count, and one accessor may be used by any number of targets, so
    # only the file-wide budget bounds what a small file can make us allocate.
    source.budget.charge(count * n_components * dtype.itemsize,
                         f"{pointer} (/accessors/{index}, {kind})", source.path)
    if accessor.get("bufferView") is None:
        values = np.zeros((count, n_components), dtype=dtype)
    else:
        data, stride = _view_bytes(source, accessor["bufferView"], f"{where}/bufferView")
        values = _strided(data, offset, count, n_components, dtype, stride, where, source)
    sparse = accessor.get("sparse")
    if sparse is not None:
        _apply_sparse(source, sparse, values, f"{where}/sparse")
    return values


def _apply_sparse(source: GltfSource, sparse: object, values: np.ndarray, where: str) -> None:
    if not isinstance(sparse, dict):
        raise GltfError(f"{source.path}: {where} must be an object")
    count = _non_negative(sparse.get("count"), f"{where}/count", source)
    if not 1 <= count <= values.shape[0]:
        raise GltfError(f"{source.path}: {where}/count {count} must be between 1 and the "
                        f"accessor's count {values.shape[0]}")
    indices_spec, values_spec = sparse.get("indices"), sparse.get("values")
    if not isinstance(indices_spec, dict) or not isinstance(values_spec, dict):
        raise GltfError(f"{source.path}: {where} needs 'indices' and 'values' objects")
    index_type = indices_spec.get("componentType")
    if index_type not in (5121, 5123, 5125):
        raise GltfError(f"{source.path}: {where}/indices/componentType {index_type!r} must be "
                        f"5121, 5123 or 5125")
    index_data, _ = _view_bytes(source, indices_spec.get("bufferView"),
                                f"{where}/indices/bufferView")
    indices = _strided(index_data, _non_negative(indices_spec.get("byteOffset"),
                                                 f"{where}/indices/byteOffset", source, 0),
                       count, 1, COMPONENT_DTYPES[index_type], None, f"{where}/indices",
                       source)[:, 0].astype(np.int64)
    if indices[-1] >= values.shape[0] or (count > 1 and np.any(np.diff(indices) <= 0)):
        raise GltfError(f"{source.path}: {where}/indices must be strictly increasing and below "
                        f"the accessor's count {values.shape[0]}")
    value_data, _ = _view_bytes(source, values_spec.get("bufferView"), f"{where}/values/bufferView")
    substitutes = _strided(value_data, _non_negative(values_spec.get("byteOffset"),
                                                     f"{where}/values/byteOffset", source, 0),
                           count, values.shape[1], values.dtype, None, f"{where}/values", source)
    values[indices] = substitutes


def read_accessor_float(source: GltfSource, index: int, pointer: str = "accessor") -> np.ndarray:
    """Accessor ``index`` as ``(count, n_components)`` float32, normalized integers decoded.

    Non-normalized integers (allowed by ``KHR_mesh_quantization``) are converted as they are.
    Non-finite floats are refused, since they would poison every frame they touch.
    """
    raw = read_accessor(source, index, pointer)
    accessor = source.array("accessors")[index]
    component_type = accessor["componentType"]
    if component_type != 5126:  # the float32 conversion is a second array
        source.budget.charge(raw.size * 4, f"{pointer} (/accessors/{index}) as float32",
                             source.path)
    if accessor.get("normalized") and component_type in _NORMALIZE_DIVISOR:
        result = raw.astype(np.float32) / np.float32(_NORMALIZE_DIVISOR[component_type])
        if component_type in (5120, 5122):
            np.maximum(result, -1.0, out=result)
        return result
    result = raw.astype(np.float32, copy=False)
    if component_type == 5126 and not np.isfinite(result).all():
        raise GltfError(f"{source.path}: /accessors/{index} contains NaN or infinite values")
    return result
