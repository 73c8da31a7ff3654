"""The studio's web server: a few static files and one WebSocket, over a :class:`StudioSession`.

One port serves everything (the ``websockets`` library's asyncio server answers plain HTTP GETs
through its ``process_request`` hook and upgrades ``/ws``):

==============  ==================================================================
``/``           the page (``facs_rig/studio/static/index.html``, our own code)
``/studio.js``  the page's script; ``/studio.css`` its style
``/three.js``   three.js r130 with OrbitControls, from the PyPI package
                ``jupyter-threejs-sage`` (installed with facs-rig; not in this repository)
``/rig.json``   the rig: target names, profile columns, AU panel, offsets into ``/rig.bin``
``/rig.bin``    positions, triangles, colours and sparse morph deltas (little-endian)
``/rig-image-N`` the images of the rig's textures (PNG/JPEG read when the rig was loaded)
``/rig-coarse.bin`` the playback's coarser triangles (made after the rest answers)
``/rig2*``      the same for the comparison rig (``--compare``), when there is one
``/ws``         JSON messages both ways, and binary ``state`` frames (see ``docs/studio.md``)
==============  ==================================================================

No request path is ever used to open a file: the routes are a fixed table. Messages from the
page are checked field by field; a malformed one is refused with a reason and counted
(:attr:`StudioServer.refused`), never raised. Every page sees the same state: each change is
broadcast. Blocking library calls (exports, baking, rendering) run in worker threads so the
server keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from facs_rig.errors import FacsRigError
from facs_rig.io.au_notes import notes_origin
from facs_rig.io.osc.protocols import PROTOCOLS
from facs_rig.studio.session import OutputExistsError, StudioSession

__all__ = ["StudioServer", "rig_payload", "coarse_payload", "three_js_path", "OSC_PROTOCOLS",
           "encode_state", "decode_state"]

STATIC = Path(__file__).resolve().parent / "static"
OSC_PROTOCOLS = PROTOCOLS  # the stream command's protocols (facs_rig.io.osc.protocols)
#: Largest message a page may send (notes text included): 1 MiB.
MAX_MESSAGE = 2**20
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".json": "application/json",
          ".bin": "application/octet-stream"}


def three_js_path() -> Path:
    """three.js r130 (UMD build with OrbitControls) inside the ``jupyter-threejs-sage`` wheel."""
    import jupyter_threejs_sage

    return Path(jupyter_threejs_sage.__file__).resolve().parent / "static" / "r130" / "three.min.js"


def _block(name: str, old: np.ndarray | None, new: np.ndarray) -> tuple[dict, np.ndarray] | None:
    """What the page must write into its copy of ``old`` to hold ``new`` (``(frames, width)``).

    Returns ``(description, values)``: ``values`` ``(rows, len(columns))`` go to frames
    ``first .. first + rows`` of the listed ``columns``; with ``reset`` the page starts from
    zeros of ``(frames, width)`` (the first state, or a width that changed), else from its
    copy cut or padded with zeros to the new frame count. None when nothing differs. Only the
    span of frames that changed and the columns that changed in it are sent: most of an
    hour-long timeline and most targets of a rig stay as they were on a keystroke."""
    reset = old is None or old.shape[1] != new.shape[1]
    base = np.zeros((0, new.shape[1]), new.dtype) if reset else old
    common = min(base.shape[0], new.shape[0])
    differ = np.flatnonzero(np.concatenate([np.any(base[:common] != new[:common], axis=1),
                                            np.any(new[common:] != 0, axis=1)]))
    if not differ.size:
        return ({"array": name, "reset": True, "width": new.shape[1], "first": 0, "rows": 0,
                 "columns": []},
                new[:0, :0]) if reset else None
    first, stop = int(differ[0]), int(differ[-1]) + 1
    before = np.zeros((stop - first, new.shape[1]), new.dtype)
    kept = base[first:min(stop, common)]
    before[:kept.shape[0]] = kept
    columns = np.flatnonzero(np.any(before != new[first:stop], axis=0))
    return ({"array": name, "reset": reset, "width": new.shape[1], "first": first,
             "rows": stop - first, "columns": columns.tolist()}, new[first:stop][:, columns])


def _by_channel(values: np.ndarray, channels: list[str], new_channels: list[str]) -> np.ndarray:
    """``(frames, channels)`` curves with their columns moved to ``new_channels`` (zeros for a
    channel they did not have): a beat that brings in a new AU adds a column, and only the
    frames that changed are sent, not every curve again."""
    if channels == new_channels:
        return values
    aligned = np.zeros((values.shape[0], len(new_channels)), values.dtype)
    for column, name in enumerate(new_channels):
        if name in channels:
            aligned[:, column] = values[:, channels.index(name)]
    return aligned


def encode_state(header: dict, blocks: list[tuple[dict, np.ndarray]] | None) -> bytes | str:
    """A ``state`` message: JSON text when the timeline did not change (``blocks`` None), else
    one binary frame (its blocks may be none: a timeline cut shorter changes no frame it keeps).

    The binary frame is: the header's length N (uint32, little-endian), the header as UTF-8 JSON
    padded with spaces to a multiple of 4 bytes (its ``blocks`` describe the arrays), then each
    block's values as little-endian float32, rows first, in the header's order. Binary float32
    instead of numbers in JSON (or base64): a quarter of the bytes of JSON text, and the page
    reads them as a ``Float32Array`` without parsing."""
    if blocks is None:
        return json.dumps(header)
    head = json.dumps({**header, "blocks": [description for description, _ in blocks]}).encode()
    head += b" " * (-len(head) % 4)
    return b"".join([struct.pack("<I", len(head)), head,
                     *(np.ascontiguousarray(values, "<f4").tobytes() for _, values in blocks)])


def decode_state(frame: bytes | str, arrays: dict[str, np.ndarray] | None = None) -> dict:
    """Read a ``state`` message as the page does (for Python clients and tests).

    ``arrays`` holds the client's copies (``weights``, ``weights2``, ``curves``): the blocks
    are written into them, as the page writes its ``Float32Array`` copies. Returns the header;
    ``arrays`` is updated in place.
    """
    if isinstance(frame, str):
        return json.loads(frame)
    (length,) = struct.unpack_from("<I", frame)
    header = json.loads(frame[4:4 + length])
    offset = 4 + length
    arrays = {} if arrays is None else arrays
    if "curves" in arrays:  # the curves' columns follow the channels, by name
        arrays["curves"] = _by_channel(arrays["curves"], arrays.pop("channels", []), header["channels"])
    arrays["channels"] = header["channels"]
    for block in header["blocks"]:
        name, columns = block["array"], block["columns"]
        count = block["rows"] * len(columns)
        values = np.frombuffer(frame, "<f4", count, offset).reshape(block["rows"], len(columns))
        offset += 4 * count
        old = arrays.get(name)
        if block["reset"] or old is None:
            old = np.zeros((0, block["width"]), np.float32)
        copy = np.zeros((header["frames"], old.shape[1]), np.float32)
        copy[:min(old.shape[0], header["frames"])] = old[:header["frames"]]
        copy[block["first"]:block["first"] + block["rows"], columns] = values
        arrays[name] = copy
    for name, old in arrays.items():  # arrays without a block keep their values, cut or padded
        if name != "channels" and old.shape[0] != header["frames"]:
            copy = np.zeros((header["frames"], old.shape[1]), np.float32)
            copy[:min(old.shape[0], header["frames"])] = old[:header["frames"]]
            arrays[name] = copy
    return header


def rig_payload(session: StudioSession, setup=None) -> tuple[dict, bytes, list]:
    """The rig for the page: ``(description, binary blob)`` (``setup``: the session's own, or
    its comparison rig).

    The blob holds, little-endian and 4-byte aligned: positions ``(V, 3)`` float32, triangles
    ``(F, 3)`` uint32 (grouped by material: ``layout.groups``), colours ``(V, 3)`` float32
    (linear), texture coordinates ``(V, 2)`` float32 when a material has a texture, then per
    mesh target the indices of the vertices it moves (uint32) and their deltas ``(n, 3)``
    float32. Only moved vertices are sent: the page adds ``weight x delta`` for the active
    targets (send weights, not vertices). The third item is the textures' images
    (:mod:`facs_rig.studio.materials`), each ``(content type, bytes)``.
    """
    from facs_rig.studio.materials import rig_looks

    setup = setup or session.setup
    render_rig = setup.rig.motion_as_targets()  # the page blends targets: gaze as eye deltas
    mesh = render_rig.mesh
    looks = rig_looks(render_rig)
    parts: list[bytes] = []
    offset = 0

    def add(array: np.ndarray, dtype: str) -> int:
        nonlocal offset
        data = np.ascontiguousarray(array, dtype).tobytes()
        start = offset
        parts.append(data)
        offset += len(data)
        return start

    profile, columns = setup.driver.profile, setup.driver.columns
    driven, moves, moving, order, new_index = _vertex_order(setup, mesh)
    layout: dict[str, Any] = {
        "vertices": int(mesh.n_vertices), "triangles": int(mesh.faces.shape[0]),
        "moving": int(moving.sum()),
        "positions": add(mesh.positions[order], "<f4"),
        "faces": add(new_index[mesh.faces[looks.face_order]], "<u4"),
        "colours": add(render_rig.colours[order], "<f4"),
        "uvs": -1 if looks.uvs is None else add(looks.uvs[order], "<f4"),
        "groups": looks.groups, "targets": []}
    for index, name in enumerate(mesh.target_names):
        # A target no profile column drives never moves on the page: its deltas are not sent.
        moved = np.flatnonzero(moves[index][order]) if index in driven else np.zeros(0, np.int64)
        layout["targets"].append({
            "name": name, "count": int(moved.size), "indices": add(moved, "<u4"),
            "deltas": add(mesh.deltas[index][order[moved]], "<f4")})
    vocabulary = session.vocabulary
    aus = []
    for au in profile.mapped_aus:
        unit = vocabulary.action_unit(au)
        # L and R sliders only where FACS scores the AU on one side and the profile can show it.
        sided = unit.unilateral and (profile.sided_aus is None or au in profile.sided_aus)
        aus.append({"au": au, "name": unit.name, "region": unit.region, "muscles": list(unit.muscles),
                    "sided": bool(sided)})
    scale = vocabulary.scale()
    description = {
        "source": render_rig.source, "profile": profile.name, "profile_targets": list(profile.targets),
        "mesh_targets": list(mesh.target_names),
        # Profile column driving each mesh target; -1 for none.
        "columns": [int(c) if c < len(profile.targets) else -1 for c in columns],
        "aus": aus, "letters": dict(scale.values), "scale": scale.name,
        # The letter bands on 0-1 (as Scale.value_to_letter reads a value): a value above
        # `band_floor` is the first letter whose upper bound holds it (0.3 is C, up to 0.55).
        "bands": {letter: upper / scale.maximum for letter, upper in scale.upper.items()},
        "band_floor": scale.minimum / scale.maximum,
        "focus": np.asarray(render_rig.focus, float).tolist(),
        "bounds": [mesh.positions.min(axis=0).tolist(), mesh.positions.max(axis=0).tolist()],
        "layout": layout, "looks": looks.looks, "textures": looks.textures,
        "images": len(looks.images),
        "osc_protocols": list(OSC_PROTOCOLS), "compare": session.compare is not None,
    }
    return description, b"".join(parts), looks.images


def _vertex_order(setup, mesh) -> tuple:
    """``(driven, moves, moving, order, new_index)``: the mesh targets a profile column drives,
    which vertices each target moves ``(targets, vertices)``, which any driven one moves, and
    the page's vertex order (``order[k]`` is the mesh vertex at page index k) and its inverse.

    Vertices some driven target moves come first (in their order), the still rest after: the
    page uploads only the vertices a frame changed, a short range at the buffer's start."""
    profile, columns = setup.driver.profile, setup.driver.columns
    driven = {index for index in range(len(mesh.target_names)) if columns[index] < len(profile.targets)}
    moves = np.abs(mesh.deltas).max(axis=2) > 0
    moving = np.zeros(mesh.n_vertices, bool)
    if driven:
        moving = moves[sorted(driven)].any(axis=0)
    order = np.concatenate([np.flatnonzero(moving), np.flatnonzero(~moving)])
    new_index = np.empty_like(order)
    new_index[order] = np.arange(order.size)
    return driven, moves, moving, order, new_index


def coarse_payload(session: StudioSession, setup=None) -> bytes:
    """The playback's coarser triangles for ``/rig-coarse.bin`` (:mod:`facs_rig.studio.lod`).

    Little-endian uint32: the number of groups G, then G x (first index, index count, look),
    then the triangles ``(C, 3)`` in the page's vertex order (those of :func:`rig_payload`).
    Made after the rig's own routes answer: the page draws the full mesh until it has them.
    """
    from facs_rig.studio.lod import coarse_triangles
    from facs_rig.studio.materials import rig_looks

    setup = setup or session.setup
    render_rig = setup.rig.motion_as_targets()
    mesh = render_rig.mesh
    looks = rig_looks(render_rig)
    driven, _, _, _, new_index = _vertex_order(setup, mesh)
    coarse, groups = coarse_triangles(mesh.positions, mesh.faces[looks.face_order], looks.groups,
                                      colours=render_rig.colours, deltas=mesh.deltas[sorted(driven)])
    header = [len(groups)] + [value for g in groups for value in (g["start"], g["count"], g["look"])]
    return np.asarray(header, "<u4").tobytes() + np.ascontiguousarray(new_index[coarse], "<u4").tobytes()


class StudioServer:
    """Serve one :class:`StudioSession` to any number of pages on ``host:port``.

    Attributes
    ----------
    refused : int
        Messages refused as malformed (bad JSON, unknown type, wrong field types or values).
    url : str
        Where the page is, once :meth:`start` returned.
    """

    def __init__(self, session: StudioSession | Callable[[], StudioSession], *,
                 host: str = "127.0.0.1", port: int = 0, watch_interval: float = 0.25,
                 cache_key: str | None = None):
        # A loader (a callable) runs in a worker thread after the port is open: the page and
        # three.js are served at once, the rig when it has been read.
        self._loader = session if callable(session) else None
        self.session: StudioSession = None if callable(session) else session  # type: ignore[assignment]
        self._loaded: asyncio.Future | None = None
        # With a cache key (facs_rig.studio.cache), the rig's routes are served from the cache
        # while the session loads; on a miss they are cached once made.
        self._cache_key = cache_key
        self._cached: asyncio.Future | None = None
        self._cache_hit = False
        # The playback's coarser triangles (/rig-coarse.bin), made once the rig's routes answer.
        self._coarse: asyncio.Future | None = None
        self._lod_available: bool | None = None  # whether facs_rig.studio.lod imports
        self.host = host
        self.port = port
        self.watch_interval = watch_interval
        self.refused = 0
        self.url = ""
        # The signal that stopped serve_until_stopped (None: stopped by its ``stop`` event).
        self.stopped_by: int | None = None
        self.clients: set[ServerConnection] = set()
        self._next_id = 1
        self._server = None
        self._watch_task: asyncio.Task | None = None
        self._disk: bytes | None = None
        # The timeline as last broadcast ({version, weights, weights2, curves}): the next
        # broadcast sends what changed since (state_message).
        self._sent: dict[str, Any] | None = None
        self._pending: bytes | None = None
        # Per page: the session's disk_version at its last notes message (or its connection),
        # the base of a notes message that names none (_on_notes).
        self._page_disk: dict[int, int] = {}
        self._osc = None
        self._osc_info: dict[str, Any] = {"on": False}
        self._osc_lock = threading.Lock()
        self._files: dict[str, tuple[str, bytes | Path]] = {
            "/": (_TYPES[".html"], STATIC / "index.html"),
            "/index.html": (_TYPES[".html"], STATIC / "index.html"),
            "/studio.js": (_TYPES[".js"], STATIC / "studio.js"),
            "/studio.css": (_TYPES[".css"], STATIC / "studio.css"),
            "/three.js": (_TYPES[".js"], three_js_path()),
            "/favicon.ico": ("image/x-icon", b""),
        }

    def _load(self) -> None:
        """Read the rig (worker thread): the session when given a loader, and the page's payload."""
        if self.session is None:
            self.session = self._loader()
        if self._cache_hit:  # read (from a few MB) long before the rig (seconds)
            self._disk = self._read_disk()
            return
        self._add_rig("rig", *rig_payload(self.session))
        if self.session.compare is not None:
            self._add_rig("rig2", *rig_payload(self.session, self.session.compare))
        self._disk = self._read_disk()
        self._write_cache()

    def _load_coarse(self) -> None:
        """Make ``/rig-coarse.bin`` (and ``/rig2-coarse.bin``) unless the cache had them
        (worker thread, after :meth:`_load`), then cache them with the rig's routes."""
        if "/rig-coarse.bin" in self._files:
            return
        try:
            import facs_rig.studio.lod  # noqa: F401 (the optional 'lod' extra: meshoptimizer)
        except ImportError:
            return  # no coarse set: the page answers 404 and plays the full mesh
        self._files["/rig-coarse.bin"] = (_TYPES[".bin"], coarse_payload(self.session))
        if self.session.compare is not None:
            self._files["/rig2-coarse.bin"] = (_TYPES[".bin"],
                                               coarse_payload(self.session, self.session.compare))
        self._write_cache()

    def _coarse_offered(self) -> bool:
        """Whether the playback's coarser triangles are served, or will be once made."""
        if "/rig-coarse.bin" in self._files:
            return True
        if self._lod_available is None:
            try:
                import facs_rig.studio.lod  # noqa: F401 (the optional 'lod' extra: meshoptimizer)
            except ImportError:
                self._lod_available = False
            else:
                self._lod_available = True
        return self._lod_available

    def _write_cache(self) -> None:
        if self._cache_key is not None:
            from facs_rig.studio.cache import write_payload

            write_payload(self._cache_key, {route: entry for route, entry in self._files.items()
                                            if route.startswith("/rig")})

    def _read_cache(self) -> bool:
        """Put the cached rig routes in place (worker thread); whether there were any."""
        from facs_rig.studio.cache import read_payload

        routes = read_payload(self._cache_key) if self._cache_key is not None else None
        if not routes or "/rig.bin" not in routes:
            return False
        self._files.update(routes)
        self._cache_hit = True
        return True

    def _add_rig(self, name: str, description: dict, blob: bytes, images: list) -> None:
        """Routes ``/NAME.json``, ``/NAME.bin`` and ``/NAME-image-K`` (answered from memory)."""
        self._files[f"/{name}.json"] = (_TYPES[".json"], json.dumps(description).encode())
        self._files[f"/{name}.bin"] = (_TYPES[".bin"], blob)
        for index, (kind, data) in enumerate(images):
            self._files[f"/{name}-image-{index}"] = (kind, data)

    # ------------------------------------------------------------------ HTTP

    def _allowed_origins(self) -> set[str]:
        names = {self.host, "127.0.0.1", "localhost", "[::1]"}
        return {f"http://{name}:{self.port}" for name in names}

    def _origin_allowed(self, origin: str, host_header: str | None) -> bool:
        """The page's own origin only. Listening on all interfaces (``--host 0.0.0.0``), a page
        opened at the machine's address is its own origin too, when that address is an IP
        literal: a DNS name could be rebound to this machine by another site."""
        if origin in self._allowed_origins():
            return True
        if self.host not in ("0.0.0.0", "::", "") or host_header is None:
            return False
        import ipaddress
        from urllib.parse import urlsplit

        parts = urlsplit(origin)
        try:
            ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            return False
        return parts.scheme == "http" and parts.port == self.port and parts.netloc == host_header

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path.startswith("/rig") and self._cached is not None and await asyncio.shield(self._cached):
            pass  # answered from the cache while the session loads
        elif path.startswith(("/rig", "/ws")):
            await asyncio.shield(self._loaded)
        if path.endswith("-coarse.bin") and path not in self._files:
            with contextlib.suppress(Exception):  # not made: 404, the page plays the full mesh
                await asyncio.shield(self._coarse)
        if path == "/ws":
            origin = request.headers.get("Origin")
            # A page from another site must not drive the studio (cross-site WebSocket use).
            if origin is not None and not self._origin_allowed(origin, request.headers.get("Host")):
                self.refused += 1
                return self._response(403, "text/plain", b"origin not allowed\n")
            return None
        entry = self._files.get(path)
        if entry is None:
            return self._response(404, "text/plain", b"not found\n")
        kind, body = entry
        if isinstance(body, Path):
            body = body.read_bytes()
        return self._response(200, kind, body)

    @staticmethod
    def _response(status: int, kind: str, body: bytes) -> Response:
        reason = {200: "OK", 403: "Forbidden", 404: "Not Found"}[status]
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        return Response(status, reason, headers, body)

    # ------------------------------------------------------------------ state messages

    def state_message(self, *, origin: int = 0, reloaded: bool = False,
                      full: bool = False) -> bytes | str:
        """The notes, their parse status, and what changed in the timeline's curves and weights
        (:func:`encode_state`), for every page: since the last state broadcast, or everything
        (``full``: a page that connects or asks to ``resync``; the broadcasts' base is then
        left as it is).

        An edit that leaves the timeline as it was (a comment, spaces, an error: the face keeps
        the last timeline that parsed) sends no arrays at all; one that changes it sends the
        frames and columns that changed, as float32 (an hour-long timeline was resent whole as
        base64 in JSON, ~9 MB per keystroke)."""
        s = self.session
        with s._lock:
            status = s.status
            header = {
                "type": "state", "version": s.version, "origin": origin, "reloaded": reloaded,
                "unsaved": s.text != s.saved_text,
                # The file changed on disk under unsaved edits: every page shows it, one opened
                # or reloaded after the change too, until Save overwrites or Reload from disk.
                "conflict": s.conflict,
                # How many times the notes took the file's text: the page's notes messages
                # name the one their text was built on (their base).
                "disk": s.disk_version,
                "path": str(s.notes_path), "stem": s.notes_path.stem,
                "text": s.text, "error": status.error,
                "line": status.line, "column": status.column,
                "warnings": list(status.warnings),
                "fps": s.timeline.fps, "duration": s.timeline.duration,
                "start": notes_origin(s.timeline),
                "frames": int(s.weights.shape[0]), "timeline": s.timeline_version,
                "channels": [c.name for c in s.curve_channels],
                "title": str(s.timeline.metadata.get("title", "")),
                "osc": self._osc_info, "refused": self.refused,
            }
            current = {"version": s.timeline_version, "weights": s.weights,
                       "weights2": s.compare_weights, "curves": s.curves,
                       "channels": header["channels"]}
            sent = None if full else self._sent
            header["base"] = None if sent is None else sent["version"]
            blocks = None
            if sent is None or sent["version"] != current["version"]:
                blocks = []
                for name in ("weights", "weights2", "curves"):
                    old = None if sent is None else sent[name]
                    if name == "curves" and old is not None:  # the page lines its columns up too
                        old = _by_channel(old, sent["channels"], current["channels"])
                    block = _block(name, old, current[name])
                    if block is not None:
                        blocks.append(block)
            if not full:
                self._sent = current
        return encode_state(header, blocks)

    def pose_message(self) -> dict:
        s = self.session
        with s._lock:
            return {"type": "pose", "values": {c.name: v for c, v in s.pose_values.items()},
                    "code": s.pose_code(), "weights": [float(w) for w in s.pose_weights],
                    "weights2": [float(w) for w in s.compare_pose_weights]}

    async def broadcast(self, message: dict | str | bytes) -> None:
        data = message if isinstance(message, (str, bytes)) else json.dumps(message)
        for client in list(self.clients):
            with contextlib.suppress(ConnectionClosed):
                await client.send(data)

    # ------------------------------------------------------------------ WebSocket

    async def _handler(self, connection: ServerConnection) -> None:
        await asyncio.shield(self._loaded)
        client_id = self._next_id
        self._next_id += 1
        self.clients.add(connection)
        try:
            # ``coarse``: whether /rig-coarse.bin is or will be made; the page asks for it only
            # then (without the 'lod' extra it would answer 404, logged by the browser).
            await connection.send(json.dumps({"type": "hello", "client": client_id,
                                              "coarse": self._coarse_offered()}))
            with self.session._lock:
                self._page_disk[client_id] = self.session.disk_version
                state = self.state_message(full=True)
            await connection.send(state)
            await connection.send(json.dumps(self.pose_message()))
            async for raw in connection:
                reply = await self._dispatch(raw, client_id)
                if reply is not None:
                    await connection.send(reply if isinstance(reply, (str, bytes))
                                          else json.dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(connection)
            self._page_disk.pop(client_id, None)

    def _refuse(self, reason: str) -> dict:
        self.refused += 1
        return {"type": "refused", "reason": reason, "refused": self.refused}

    async def _dispatch(self, raw: str | bytes, client_id: int) -> dict | None:
        """Handle one message; returns the reply to its sender (broadcasts go to everyone)."""
        if not isinstance(raw, str):
            return self._refuse("binary messages are not accepted")
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):
            return self._refuse("not JSON")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return self._refuse("a message is an object with a string 'type'")
        kind = message["type"]
        handler: Callable | None = getattr(self, f"_on_{kind}", None) if kind.isidentifier() else None
        if handler is None:
            return self._refuse(f"unknown message type {kind[:40]!r}")
        try:
            return await handler(message, client_id)
        except _Malformed as exc:
            return self._refuse(str(exc))
        except FacsRigError as exc:
            return {"type": "error", "request": kind, "message": " ".join(str(exc).split())}
        except OSError as exc:
            return {"type": "error", "request": kind, "message": f"{exc.filename or ''}: "
                    f"{exc.strerror or exc}"}

    async def _on_notes(self, message: dict, client_id: int) -> None:
        """New notes text, with the ``disk`` version of the state its text was built on
        (``base``): an edit sent before a reload from disk reached the page is a conflict
        (:meth:`StudioSession.set_notes`). A page without ``base`` (one loaded before it was
        sent) is taken as built on what the session had at its previous notes message (or at
        its connection): safe, though a page that took the reloaded text and typed on it is
        shown the conflict too."""
        text = _field(message, "text", str)
        base = _field(message, "base", int) if "base" in message else self._page_disk.get(client_id)

        def take() -> int:
            with self.session._lock:
                self.session.set_notes(text, base)
                return self.session.disk_version

        self._page_disk[client_id] = await asyncio.to_thread(take)
        await self.broadcast(self.state_message(origin=client_id))

    async def _on_resync(self, message: dict, client_id: int) -> bytes | str:
        """The whole state again, to this page (one that missed a change it was sent)."""
        return self.state_message(full=True)

    async def _on_save(self, message: dict, client_id: int) -> dict:
        """Save; refused (an ``error`` to the sender, the conflict to every page) when the file
        changed on disk, unless the page asks to ``overwrite`` (its Overwrite button)."""
        overwrite = _field(message, "overwrite", bool) if "overwrite" in message else False
        try:
            path = await asyncio.to_thread(self.session.save, overwrite=overwrite)
        except FacsRigError:
            if self.session.conflict is not None:  # found on saving, before the watch saw it
                await self.broadcast(self._disk_changed_message())
            raise
        self._disk = self._read_disk()
        await self.broadcast({"type": "saved", "path": str(path)})
        return None

    async def _on_reload(self, message: dict, client_id: int) -> None:
        """Reload from disk: the file's text replaces the notes, unsaved edits and all."""
        await asyncio.to_thread(self.session.reload_from_disk)
        self._disk = self._read_disk()
        await self.broadcast(self.state_message(reloaded=True))

    def _disk_changed_message(self) -> dict:
        return {"type": "disk_changed", "path": str(self.session.notes_path),
                "message": self.session.conflict}

    async def _on_pose(self, message: dict, client_id: int) -> None:
        if "code" in message:
            await asyncio.to_thread(self.session.pose_from_code, _field(message, "code", str))
        else:
            values = _field(message, "values", dict)
            if len(values) > 512:
                raise _Malformed("too many channels")
            await asyncio.to_thread(self.session.pose_from_values, values)
        await self.broadcast(self.pose_message())
        self._osc_pose()

    async def _on_insert(self, message: dict, client_id: int) -> None:
        code = _field(message, "code", str)
        at = _number(message, "time")
        await asyncio.to_thread(self.session.insert_beat, code, at)
        await self.broadcast(self.state_message())

    async def _on_explain(self, message: dict, client_id: int) -> dict:
        target = message.get("target")
        if target is not None and not isinstance(target, str):
            raise _Malformed("'target' must be a string or null")
        at = None if message.get("time") is None else _number(message, "time")
        result = await asyncio.to_thread(self.session.explain, target, at=at)
        return {"type": "explain", **result}

    async def _on_export(self, message: dict, client_id: int) -> dict:
        """Write an export; an existing file is replaced only when the page says ``overwrite``
        (its confirm step): otherwise the reply is ``export_exists`` with a free name."""
        name = _field(message, "name", str)
        at = _number(message, "time") if "time" in message else 0.0
        overwrite = _field(message, "overwrite", bool) if "overwrite" in message else False
        try:
            path = await asyncio.to_thread(self.session.export, name, at=at, overwrite=overwrite)
        except OutputExistsError as exc:
            return {"type": "export_exists", "name": exc.name, "free": exc.free,
                    "message": " ".join(str(exc).split())}
        return {"type": "exported", "name": path.name, "path": str(path),
                "bytes": path.stat().st_size}

    async def _on_shown(self, message: dict, client_id: int) -> None:
        """The page's playhead: what is shown goes out over OSC when streaming is on."""
        at = _number(message, "time")
        if self._osc is not None:
            weights, values = self.session.frame(at)
            await asyncio.to_thread(self._osc_send, weights, values)
        return None

    async def _on_osc(self, message: dict, client_id: int) -> dict:
        on = _field(message, "on", bool)
        if on:
            protocol = _field(message, "protocol", str)
            if protocol not in OSC_PROTOCOLS:
                raise _Malformed(f"protocol must be one of {', '.join(OSC_PROTOCOLS)}")
            to = _field(message, "to", str)
            await asyncio.to_thread(self.start_osc, protocol, to)
        else:
            await asyncio.to_thread(self.stop_osc)
        await self.broadcast({"type": "osc", **self._osc_info})
        return None

    async def _on_ping(self, message: dict, client_id: int) -> dict:
        return {"type": "pong", "refused": self.refused, "clients": len(self.clients)}

    # ------------------------------------------------------------------ OSC

    def start_osc(self, protocol: str, to: str) -> None:
        """Stream what the page shows to ``to`` (``HOST:PORT``) with ``protocol``."""
        from facs_rig.io.osc import FaceStream
        from facs_rig.io.osc.stream import parse_endpoint

        endpoint = parse_endpoint(to)
        with self._osc_lock:
            if self._osc is not None:
                self._osc.close()
            self._osc = FaceStream(self.session.profile, str(endpoint), protocol=protocol, reset=True)
            self._osc_info = {"on": True, "protocol": protocol, "to": str(endpoint)}

    def stop_osc(self) -> None:
        """Stop streaming; the stream's close sends the neutral frame."""
        with self._osc_lock:
            if self._osc is not None:
                self._osc.close()
            self._osc = None
            self._osc_info = {"on": False}

    def _osc_send(self, weights: np.ndarray, values: dict) -> None:
        with self._osc_lock:
            if self._osc is not None:
                self._osc.send_frame(np.asarray(weights, np.float32), values)

    def _osc_pose(self) -> None:
        if self._osc is not None:
            self._osc_send(self.session.pose_weights, dict(self.session.pose_values))

    # ------------------------------------------------------------------ file watch

    def _read_disk(self) -> bytes | None:
        try:
            return self.session.notes_path.read_bytes()
        except OSError:
            return None

    async def _watch(self) -> None:
        """Pick up edits made to the notes file in another editor (polling: portable, no deps)."""
        await asyncio.shield(self._loaded)
        while True:
            await asyncio.sleep(self.watch_interval)
            data = await asyncio.to_thread(self._read_disk)
            if data is None or data == self._disk:
                self._pending = None
                continue
            # Take a change once it reads the same on two polls: an editor that truncates and
            # then writes must not flash an empty (or half) file onto the page.
            if data != self._pending:
                self._pending = data
                continue
            self._disk, self._pending = data, None
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                continue
            if await asyncio.to_thread(self.session.reload, text):
                await self.broadcast(self.state_message(reloaded=True))
            else:
                # The pages open now are told at once (a state here could replace text a page
                # typed since); the conflict is in every later state, for pages opened after.
                await self.broadcast(self._disk_changed_message())

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> str:
        """Listen; returns the page's URL."""
        self._server = await serve(self._handler, self.host, self.port,
                                   process_request=self._process_request, max_size=MAX_MESSAGE,
                                   ping_interval=None)
        sockname = next(iter(self._server.sockets)).getsockname()
        self.port = sockname[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/"
        if self._cache_key is not None:
            self._cached = asyncio.ensure_future(asyncio.to_thread(self._read_cache))
        self._loaded = asyncio.ensure_future(asyncio.to_thread(self._load))
        self._coarse = asyncio.ensure_future(self._after_load(self._load_coarse))
        self._watch_task = asyncio.create_task(self._watch())
        return self.url

    async def _after_load(self, work: Callable[[], None]) -> None:
        try:
            await asyncio.shield(self._loaded)
        except Exception:  # noqa: BLE001 - loading's own error is raised by serve_until_stopped
            return          # (here it printed "Task exception was never retrieved" and a traceback)
        await asyncio.to_thread(work)

    async def wait_loaded(self) -> StudioSession:
        """The session, once the rig is read (raises what loading raised)."""
        await asyncio.shield(self._loaded)
        return self.session

    async def stop(self) -> None:
        """Close every page, stop the watcher and end a running OSC stream on the neutral frame.

        A request in progress ends first: a save or an export already writing finishes (every
        file is written atomically), a GIF/MP4 export still rendering stops at its next frame
        and writes nothing (:meth:`StudioSession.abandon_clips`); a message not yet taken is
        not started, its page being closed.
        """
        if self.session is not None:
            self.session.abandon_clips()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for work in (self._loaded, self._coarse):
            if work is not None and not work.done():
                with contextlib.suppress(Exception):
                    await work
        await asyncio.to_thread(self.stop_osc)

    async def serve_until_stopped(self, on_ready: Callable[[str], None] | None = None,
                                  stop: asyncio.Event | None = None,
                                  on_loaded: Callable[[StudioSession], None] | None = None,
                                  on_stopped: Callable[[StudioServer], None] | None = None) -> None:
        """Run until SIGINT/SIGTERM/SIGHUP (or ``stop`` is set), then stop cleanly.

        ``on_ready(url)`` is called once the port is open, ``on_loaded(session)`` once the rig is
        read, ``on_stopped(server)`` once it stopped (:meth:`stop`), when it was not by an error.
        When reading the rig fails, the server stops and the error is raised.

        The first signal stops it (:attr:`stopped_by` records which); later ones, until
        ``on_stopped`` has returned, are held and do nothing: a second Ctrl-C or SIGTERM must not
        end the process while a file is being written or unsaved notes are being kept (their
        default action ended it at once: the notes' edits were lost). The stop is bounded: a
        clip export stops at its next frame, and everything else in progress is a save, a bake
        or a still frame. The handlers found are restored on return.
        """
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: dict[int, Any] = {}

        def signalled(signum: int) -> None:
            if self.stopped_by is None:
                self.stopped_by = signum
                stop.set()

        if threading.current_thread() is threading.main_thread():
            # SIGHUP: the terminal was closed; stopping cleanly keeps unsaved notes as Ctrl-C does.
            hangup = getattr(signal, "SIGHUP", None)  # POSIX only
            for signum in (signal.SIGINT, signal.SIGTERM, *([hangup] if hangup else [])):
                previous = signal.getsignal(signum)
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(signum, signalled, signum)
                    installed[signum] = previous
        stopping = asyncio.ensure_future(stop.wait())
        failed = True
        try:
            url = await self.start()
            if on_ready is not None:
                on_ready(url)
            await asyncio.wait({stopping, self._loaded}, return_when=asyncio.FIRST_COMPLETED)
            if not stopping.done():
                self._loaded.result()  # raises a loading error
                if on_loaded is not None:
                    on_loaded(self.session)
                await stopping
            failed = False
        finally:
            stopping.cancel()
            try:
                await self.stop()
                if on_stopped is not None and not failed:
                    on_stopped(self)
            finally:
                for signum, previous in installed.items():
                    # asyncio puts back the default action (SIG_DFL), not the handler it found
                    # (the CLI's, which turns SIGTERM into a clean exit 143).
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


class _Malformed(Exception):
    """A message field of the wrong type or value."""


def _field(message: dict, name: str, kind: type) -> Any:
    value = message.get(name)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _Malformed(f"{message.get('type')!s:.40}: field {name!r} must be a {kind.__name__}")
    return value


def _number(message: dict, name: str) -> float:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Malformed(f"{message.get('type')!s:.40}: field {name!r} must be a finite number")
    return float(value)


class ServerThread:
    """A :class:`StudioServer` on its own event loop in a daemon thread (tests, benchmarks,
    embedding in another program). ``with ServerThread(session) as running: running.url``."""

    def __init__(self, session: StudioSession, *, host: str = "127.0.0.1", port: int = 0,
                 watch_interval: float = 0.25):
        self.server = StudioServer(session, host=host, port=port, watch_interval=watch_interval)
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="facs-rig-studio", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(session: StudioSession) -> None:
                self.url = self.server.url
                self._ready.set()

            await self.server.serve_until_stopped(None, self._stop, ready)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            self.stop()
            raise TimeoutError("the studio server did not start listening within 30 s")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
