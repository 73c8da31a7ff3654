"""A cache of the page's rig payload, so that ``facs-rig studio`` answers ``/rig.bin`` at once.

Reading a glTF rig, merging its meshes and packing the sparse targets takes about a second
(the bundled head: 0.8 s to read, 0.3 s to pack, 13 MB); the page cannot show a face before.
The packed routes (``/rig.json``, ``/rig.bin``, texture images, the comparison rig's) are kept
in one binary file per set of inputs under the user's cache folder
(``$FACS_RIG_CACHE_DIR``, else ``$XDG_CACHE_HOME/facs-rig/studio``, else
``~/.cache/facs-rig/studio``) and served from it on the next start while the session loads.

The key covers everything the payload is made from: each rig file's path, size and modification
time (for a ``.gltf``, of every file in its folder: buffers and images live beside it), the
profile arguments (a profile file by its size and time), and facs-rig's own code and data (the
size and time of every file of the package and of the bundled rigs): any change is a miss,
never a stale face. A cache that cannot be read or written is ignored.

File layout: ``FRSC`` magic, a little-endian uint32 header length, the header (JSON:
``[[route, content type, length], ...]``), then the routes' bytes one after the other.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

__all__ = ["payload_key", "cache_folder", "read_payload", "write_payload"]

_MAGIC = b"FRSC"
_FORMAT = "facs-rig studio payload 1"
#: At most this many files of a .gltf's folder enter its key (a folder of thousands is a miss).
_MAX_FOLDER_FILES = 256
#: Payloads kept (the most recently written).
_KEEP = 8


def cache_folder() -> Path:
    """Where payloads are cached (see the module's docstring)."""
    explicit = os.environ.get("FACS_RIG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facs-rig" / "studio"


def _stat(path: Path) -> list:
    try:
        info = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), info.st_size, info.st_mtime_ns]


def _file_part(argument: str | None) -> list:
    """A mesh or profile argument: a file by its stat (a glTF's folder too), a name as itself."""
    if argument is None:
        return [None]
    path = Path(argument)
    if not path.is_file():
        return ["name", argument]
    part = ["file", argument, _stat(path.resolve())]  # the argument as typed names the rig on the page
    path = path.resolve()
    if path.suffix.lower() == ".gltf":
        try:
            neighbours = sorted(p for p in path.parent.iterdir() if p.is_file())
        except OSError:
            neighbours = []
        if len(neighbours) > _MAX_FOLDER_FILES:
            return ["uncacheable", os.urandom(8).hex()]
        part.append([_stat(p) for p in neighbours])
    return part


def _code_part() -> list:
    """facs-rig's package files and bundled rigs, by size and modification time."""
    from facs_rig.io.default_head import default_head_path
    from facs_rig.resources import rigs_dir

    package = Path(__file__).resolve().parents[1]
    files = sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json", ".js", ".html"))
    files += sorted(rigs_dir().glob("*.json"))
    return [_stat(p) for p in files] + [_stat(Path(default_head_path()).resolve())]


def payload_key(mesh: str | None, rig: str | None, compare: str | None, compare_rig: str | None) -> str:
    """The cache key of ``facs-rig studio``'s rig arguments (hex SHA-256)."""
    parts = [_FORMAT, _file_part(mesh), _file_part(rig), _file_part(compare), _file_part(compare_rig),
             _code_part()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def read_payload(key: str) -> dict[str, tuple[str, bytes]] | None:
    """The cached routes for ``key``, or None (missing, unreadable or malformed)."""
    try:
        data = (cache_folder() / f"{key}.bin").read_bytes()
        if data[:4] != _MAGIC:
            return None
        (length,) = struct.unpack_from("<I", data, 4)
        header = json.loads(data[8:8 + length])
        offset = 8 + length
        routes = {}
        for route, kind, size in header:
            if not (isinstance(route, str) and route.startswith("/rig") and isinstance(kind, str)
                    and isinstance(size, int) and 0 <= size <= len(data) - offset):
                return None
            routes[route] = (kind, data[offset:offset + size])
            offset += size
        return routes if offset == len(data) else None
    except (OSError, ValueError, TypeError, RecursionError, struct.error):
        return None


def write_payload(key: str, routes: dict[str, tuple[str, bytes]]) -> None:
    """Store ``routes`` for ``key`` (atomically; errors are ignored: a cache is optional)."""
    from facs_rig.errors import FacsRigError
    from facs_rig.io.atomic import write_bytes_atomic

    header = json.dumps([[route, kind, len(body)] for route, (kind, body) in routes.items()]).encode()
    blob = b"".join([_MAGIC, struct.pack("<I", len(header)), header, *(body for _, body in routes.values())])
    try:
        folder = cache_folder()
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(folder / f"{key}.bin", blob)
        # Keep the few most recent rigs (each a few MB).
        kept = sorted(folder.glob("*.bin"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[_KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, FacsRigError):  # a full disk or a read-only home never stops the studio
        pass
