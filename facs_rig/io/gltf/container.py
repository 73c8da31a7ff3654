"""Safe loading of a glTF 2.0 file (``.gltf`` JSON or ``.glb`` binary) and its buffers.

pygltflib's own loader follows any buffer URI it finds, including ``../../etc/passwd`` and absolute
paths, and trusts the GLB header. A face rig downloaded from the web is untrusted input, so facs-rig
parses the container itself and checks every size and URI before any byte is used:

* GLB header and chunk lengths must fit the file (glTF 2.0 spec §4.4 "Binary glTF Layout":
  12-byte header ``magic, version, length``; chunks ``length, type, data``; the first chunk is
  JSON ``0x4E4F534A``, an optional second one BIN ``0x004E4942``).
* A buffer ``uri`` is either a ``data:`` URI (base64) or a relative path that stays inside the
  glTF file's folder once resolved (symlinks included); any other scheme or an absolute path is
  refused, and nothing outside the folder is opened.
* A buffer's declared ``byteLength`` must not exceed the bytes actually available (spec §5.10:
  the buffer data is at least ``byteLength`` bytes), so a header cannot make us allocate gigabytes.

The result, :class:`GltfSource`, is the parsed JSON document (a plain ``dict``, so properties
pygltflib does not model survive a round trip) and one ``bytes`` object per buffer.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import os
import struct
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facs_rig.errors import GltfError, UnsupportedGltfError
from facs_rig.io.bounded_read import refuse_special_file

__all__ = [
    "GltfSource",
    "read_gltf_source",
    "parse_gltf_bytes",
    "glb_bytes",
    "check_geometry_extensions",
    "GLB_MAGIC",
    "DecodeBudget",
    "DECODE_FLOOR",
    "DECODE_FACTOR",
    "read_uri_image",
    "sniff_image",
]

GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942

#: Extensions that change how geometry bytes are stored; facs-rig has no decoder for them.
#: (``KHR_mesh_quantization`` is fine: it only allows integer attributes, which we decode.)
_UNDECODED_GEOMETRY = {
    "EXT_meshopt_compression": (
        "decompress it first, for example with gltfpack "
        "(`gltfpack -i IN.glb -o OUT.glb -noq`, without -c) or by re-exporting it from Blender"),
    "KHR_meshopt_compression": (
        "decompress it first, for example with gltfpack "
        "(`gltfpack -i IN.glb -o OUT.glb -noq`, without -c) or by re-exporting it from Blender"),
    "KHR_draco_mesh_compression": (
        "decompress it first with glTF-Transform (`npx @gltf-transform/cli copy IN.glb OUT.glb` "
        "decodes Draco) or by re-exporting it from Blender"),
}


#: Bytes decoding a file may allocate in all: :data:`DECODE_FACTOR` times the bytes the file (and
#: its external buffers) holds, and never less than :data:`DECODE_FLOOR`. Real rigs decode to at
#: most 5.2 times their size (the bundled default head, sparse targets made dense; ICT FaceKit
#: 2.3, Face Cap 0.5, the Khronos morph samples under 0.5), so 64 leaves room for far sparser
#: rigs, while a 5 KB file whose one zero accessor is shared by 200 targets (fuzz-repros
#: ``repro_mem_zero_accessor.gltf``: 3.2 GB of deltas) is refused before anything is allocated.
DECODE_FLOOR = 64 << 20
DECODE_FACTOR = 64


class DecodeBudget:
    """What decoding one :class:`GltfSource` has allocated so far, against its limit.

    Every array the reader makes out of the file's bytes is charged here *before* it is
    allocated: accessors (with or without a buffer view, sparse or not), each time they are used,
    and the dense per-mesh arrays built from them. An accessor shared by many targets is charged
    once per use, because each use costs its own copy.

    Parameters
    ----------
    limit : int
        Bytes allowed in all.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.spent = 0

    def charge(self, n_bytes: int, what: str, where: Any) -> None:
        """Count ``n_bytes`` about to be allocated for ``what``; :class:`GltfError` past the limit."""
        if self.spent + n_bytes > self.limit:
            # JSON counts are unbounded integers: say "more than 10^15" rather than print 400 digits.
            size = f"{n_bytes:,} bytes" if n_bytes < 10**15 else "more than 10^15 bytes"
            raise GltfError(
                f"{where}: {what} would need {size} of memory, beyond what the file's size "
                f"justifies ({self.limit:,} bytes in all for this file, {self.spent:,} already "
                f"used); the file declares far more data than it holds")
        self.spent += n_bytes


@dataclass(frozen=True)
class GltfSource:
    """A parsed glTF document and its loaded buffers.

    Attributes
    ----------
    path : Path
        The file that was read.
    document : dict
        The glTF JSON, as parsed (never modified by facs-rig; writers work on a deep copy).
    buffers : tuple of bytes
        The data of ``document["buffers"][i]``, each exactly ``byteLength`` bytes long.
    is_glb : bool
        Whether the file was a binary GLB container.
    file_bytes : int
        Bytes read: the file itself plus its external buffer files.
    budget : DecodeBudget
        The memory decoding this file may still use (see :data:`DECODE_FACTOR`).
    """

    path: Path
    document: dict
    buffers: tuple[bytes, ...]
    is_glb: bool
    file_bytes: int = 0
    budget: DecodeBudget = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.budget is None:
            limit = max(DECODE_FLOOR, DECODE_FACTOR * (self.file_bytes or sum(map(len, self.buffers))))
            object.__setattr__(self, "budget", DecodeBudget(limit))

    def array(self, key: str) -> list:
        """The top-level array ``key`` (``"accessors"``, ``"meshes"``, ...), ``[]`` when absent."""
        return _top_level_array(self.document, key, self.path)


def _top_level_array(document: dict, key: str, where: Any) -> list:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise GltfError(f"{where}: /{key} must be an array of objects")
    return value


def read_gltf_source(path: str | os.PathLike[str]) -> GltfSource:
    """Read a ``.gltf`` or ``.glb`` file and its buffers, refusing malformed or hostile input.

    Raises
    ------
    GltfError
        When the file is missing, not a regular file (a named pipe), not a glTF 2.0 file,
        truncated, or a buffer is out of bounds or points outside the file's folder. Nothing
        outside that folder is read.
    """
    path = Path(path)
    refuse_special_file(path, GltfError)  # a named pipe would block the read forever
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GltfError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GltfError(f"{path}: is a folder, not a glTF file") from None
    except OSError as exc:
        raise GltfError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_gltf_bytes(data, path=path)


def parse_gltf_bytes(data: bytes, *, path: str | os.PathLike[str] = "<bytes>",
                     load_external: bool = True) -> GltfSource:
    """Parse glTF/GLB ``data`` read from ``path``; external buffers resolve beside ``path``.

    With ``load_external=False`` any buffer that is not embedded (GLB BIN chunk or data URI) is an
    error; use it for bytes that have no folder.
    """
    where = Path(path)
    if data[:4] == GLB_MAGIC:
        document, binary_chunk = _parse_glb(data, where)
        is_glb = True
    else:
        document = _parse_json(data, where, "file")
        binary_chunk = None
        is_glb = False
    _check_asset(document, where)
    buffers = _load_buffers(document, binary_chunk, where, load_external)
    external = sum(len(data) for buffer, data in zip(document.get("buffers") or (), buffers)
                   if isinstance(buffer.get("uri"), str) and not buffer["uri"].startswith("data:"))
    return GltfSource(path=where, document=document, buffers=buffers, is_glb=is_glb,
                      file_bytes=len(data) + external)


def _parse_glb(data: bytes, where: Path) -> tuple[dict, bytes | None]:
    if len(data) < 12:
        raise GltfError(f"{where}: truncated GLB: {len(data)} bytes, the header alone is 12")
    _magic, version, length = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise GltfError(f"{where}: GLB container version {version}; only glTF 2.0 is supported")
    if length > len(data):
        raise GltfError(f"{where}: truncated GLB: the header declares {length} bytes, "
                        f"the file has {len(data)}")
    if length < len(data):
        raise GltfError(f"{where}: GLB header declares {length} bytes but the file has "
                        f"{len(data)} (trailing data)")
    offset = 12
    json_chunk: bytes | None = None
    binary_chunk: bytes | None = None
    index = 0
    while offset < length:
        if offset + 8 > length:
            raise GltfError(f"{where}: truncated GLB: chunk {index} header at byte {offset} "
                            f"runs past the end of the file")
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        start, end = offset + 8, offset + 8 + chunk_length
        if end > length:
            raise GltfError(f"{where}: truncated GLB: chunk {index} (bytes {start}..{end}) runs "
                            f"past the end of the file ({length} bytes)")
        if index == 0:
            if chunk_type != _CHUNK_JSON:
                raise GltfError(f"{where}: the first GLB chunk must be JSON (type 0x4E4F534A), "
                                f"found type 0x{chunk_type:08X}")
            json_chunk = data[start:end]
        elif chunk_type == _CHUNK_BIN:
            if index != 1:
                raise GltfError(f"{where}: the GLB BIN chunk must be the second chunk")
            binary_chunk = data[start:end]
        # Other chunk types must be ignored (spec §4.4.3.1).
        offset = end
        index += 1
    if json_chunk is None:
        raise GltfError(f"{where}: GLB has no JSON chunk")
    return _parse_json(json_chunk, where, "GLB JSON chunk"), binary_chunk


def _parse_json(data: bytes, where: Path, what: str) -> dict:
    stripped = data.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not stripped.startswith(b"{"):
        if what == "file":
            raise GltfError(f"{where}: not a glTF file (neither a GLB container nor a JSON object)")
        raise GltfError(f"{where}: the {what} is not a JSON object")
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise GltfError(f"{where}: the {what} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise GltfError(f"{where}: the {what} is not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise GltfError(f"{where}: the {what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise GltfError(f"{where}: the {what} is not a JSON object")
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _check_asset(document: dict, where: Path) -> None:
    asset = document.get("asset")
    if not isinstance(asset, dict) or not isinstance(asset.get("version"), str):
        raise GltfError(f"{where}: not a glTF 2.0 file: /asset/version is missing")
    version = asset["version"]
    if not version.startswith("2."):
        raise GltfError(f"{where}: glTF version {version!r}; only glTF 2.0 is supported")


def _integer(value: Any, pointer: str, where: Path, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GltfError(f"{where}: {pointer} must be an integer >= {minimum}, got {value!r}")
    return value


def _load_buffers(document: dict, binary_chunk: bytes | None, where: Path,
                  load_external: bool) -> tuple[bytes, ...]:
    buffers = _top_level_array(document, "buffers", where)
    loaded = []
    for index, buffer in enumerate(buffers):
        pointer = f"/buffers/{index}"
        length = _integer(buffer.get("byteLength"), f"{pointer}/byteLength", where)
        uri = buffer.get("uri")
        if uri is None:
            if index != 0 or binary_chunk is None:
                # Only the first buffer may refer to the GLB BIN chunk (spec §4.4.3.3).
                if _is_meshopt_fallback(buffer):
                    loaded.append(b"")  # a meshopt fallback buffer has no data; refused later
                    continue
                raise GltfError(f"{where}: {pointer} has no uri and is not the GLB BIN chunk")
            data = binary_chunk
        elif not isinstance(uri, str):
            raise GltfError(f"{where}: {pointer}/uri must be a string")
        elif uri.startswith("data:"):
            data = decode_data_uri(uri, f"{pointer}/uri", where)
        else:
            if not load_external:
                raise GltfError(f"{where}: {pointer} refers to an external file {uri!r}, "
                                f"which in-memory data cannot resolve")
            data = _read_external(uri, length, f"{pointer}/uri", where)
        if len(data) < length:
            raise GltfError(f"{where}: {pointer} declares byteLength {length} but its data has only "
                            f"{len(data)} bytes")
        # The BIN chunk may carry up to 3 padding bytes beyond byteLength (spec §4.4.3.3).
        loaded.append(bytes(data[:length]))
    return tuple(loaded)


def _is_meshopt_fallback(buffer: dict) -> bool:
    extensions = buffer.get("extensions")
    return isinstance(extensions, dict) and any(
        name in extensions for name in ("EXT_meshopt_compression", "KHR_meshopt_compression"))


def decode_data_uri(uri: str, pointer: str, where: Path) -> bytes:
    """The bytes of a ``data:[<mediatype>][;base64],<data>`` URI (RFC 2397)."""
    header, comma, payload = uri.partition(",")
    if not comma:
        raise GltfError(f"{where}: {pointer}: malformed data URI (no comma)")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise GltfError(f"{where}: {pointer}: data URI is not valid base64") from None
    return urllib.parse.unquote_to_bytes(payload)


def resolve_relative_uri(uri: str, pointer: str, where: Path) -> Path:
    """The file a relative URI names inside the glTF file's folder, or a :class:`GltfError`.

    Refuses URI schemes (``http:``, ``file:``, ...), absolute paths, and any path that leaves the
    folder, including through ``..`` or a symbolic link.
    """
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme or parsed.netloc:
        raise GltfError(f"{where}: {pointer}: URI {uri!r} uses the scheme {parsed.scheme!r}; only "
                        f"data: URIs and relative paths inside the file's folder are allowed")
    relative = urllib.parse.unquote(parsed.path)
    if not relative or "\x00" in relative:
        raise GltfError(f"{where}: {pointer}: invalid URI {uri!r}")
    if relative.startswith(("/", "\\")) or os.path.isabs(relative) or (
            len(relative) > 1 and relative[1] == ":"):
        raise GltfError(f"{where}: {pointer}: URI {uri!r} is an absolute path; only paths "
                        f"inside the file's folder are allowed")
    try:
        folder = where.resolve().parent
        candidate = (folder / relative).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # name too long, symlink loop, ...
        raise GltfError(f"{where}: {pointer}: cannot resolve URI {uri!r}: {exc}") from None
    if candidate != folder and folder not in candidate.parents:
        raise GltfError(f"{where}: {pointer}: URI {uri!r} leaves the file's folder; refused")
    return candidate


def _read_external(uri: str, length: int, pointer: str, where: Path) -> bytes:
    target = resolve_relative_uri(uri, pointer, where)
    try:
        size = target.stat().st_size
        if not target.is_file():
            raise GltfError(f"{where}: {pointer}: {uri!r} is not a file")
        if size < length:
            raise GltfError(f"{where}: {pointer} declares byteLength {length} but {uri!r} has only "
                            f"{size} bytes")
        with target.open("rb") as stream:
            return stream.read(length)
    except FileNotFoundError:
        raise GltfError(f"{where}: {pointer}: buffer file {uri!r} not found beside the glTF file") \
            from None
    except OSError as exc:
        raise GltfError(f"{where}: {pointer}: cannot read {uri!r}: {exc.strerror or exc}") from None


def check_geometry_extensions(source: GltfSource) -> None:
    """Refuse a file whose geometry needs an extension facs-rig cannot decode.

    Raises
    ------
    UnsupportedGltfError
        Naming the extension and how to get a plain copy of the file.
    """
    document = source.document
    names: set[str] = set()
    for key in ("extensionsUsed", "extensionsRequired"):
        value = document.get(key, [])
        if isinstance(value, list):
            names.update(item for item in value if isinstance(item, str))
    for view in source.array("bufferViews"):
        if isinstance(view.get("extensions"), dict):
            names.update(view["extensions"])
    for mesh in source.array("meshes"):
        for primitive in mesh.get("primitives", []) if isinstance(mesh.get("primitives"), list) \
                else []:
            if isinstance(primitive, dict) and isinstance(primitive.get("extensions"), dict):
                names.update(primitive["extensions"])
    for name, advice in _UNDECODED_GEOMETRY.items():
        if name in names:
            raise UnsupportedGltfError(
                f"{source.path}: its geometry is compressed with {name}, which facs-rig does not "
                f"decode; {advice.replace('IN.glb', source.path.name)}")


def glb_bytes(document: dict, binary: bytes) -> bytes:
    """A GLB container holding ``document`` (JSON) and ``binary`` (the BIN chunk; may be empty).

    Chunks are padded to 4 bytes, JSON with spaces and BIN with zeros (spec §4.4.3).
    """
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    chunks = [struct.pack("<II", len(text), _CHUNK_JSON), text]
    if binary:
        padded = bytes(binary) + b"\x00" * (-len(binary) % 4)
        chunks += [struct.pack("<II", len(padded), _CHUNK_BIN), padded]
    body = b"".join(chunks)
    return struct.pack("<4sII", GLB_MAGIC, 2, 12 + len(body)) + body


def read_uri_image(uri: str, pointer: str, where: Path, *, max_bytes: int | None = None
                   ) -> tuple[bytes, str | None]:
    """The bytes of an image a glTF file names by ``uri`` (glTF 2.0 §3.7.3.1: a ``data:`` URI
    or a relative path inside the file's folder, :func:`resolve_relative_uri`), and the media
    type the data URI or the file's name gives (None when neither does).

    Raises
    ------
    GltfError
        A URI that is refused or malformed, a file that cannot be read, or one larger than
        ``max_bytes`` (checked before reading it).
    """
    if uri.startswith("data:"):
        data = decode_data_uri(uri, pointer, where)
        mime = uri[5:].split(";", 1)[0].split(",", 1)[0] or None
    else:
        target = resolve_relative_uri(uri, pointer, where)
        try:
            if max_bytes is not None and target.stat().st_size > max_bytes:
                raise GltfError(f"{where}: {pointer}: image {uri!r} is larger than {max_bytes} bytes")
            data = target.read_bytes()
        except OSError as exc:
            raise GltfError(f"{where}: {pointer}: cannot read image {uri!r}: "
                            f"{exc.strerror or exc}") from None
        mime = mimetypes.guess_type(target.name)[0]
    if max_bytes is not None and len(data) > max_bytes:
        raise GltfError(f"{where}: {pointer}: image is larger than {max_bytes} bytes")
    return data, mime


#: Leading bytes of the image formats glTF files carry: PNG's 8-byte signature (PNG spec
#: §5.2), JPEG's start-of-image marker followed by a marker's 0xFF (ITU T.81 B.1.1.2), WebP's
#: RIFF container (EXT_texture_webp), KTX2's identifier (KHR_texture_basisu).
_IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                     (b"\xabKTX 20", "image/ktx2"))


def sniff_image(data: bytes) -> str | None:
    """The media type of an image by its leading bytes (PNG, JPEG, WebP, KTX2), or None."""
    for signature, kind in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
