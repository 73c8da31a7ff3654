"""Serve the studio until Ctrl-C: the library call behind ``facs-rig studio``.

:func:`serve_studio` checks what the command line names (typos fail before the port opens),
opens the port at once and reads the rig meanwhile, so the page answers immediately.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from facs_rig.errors import FacsRigError, UnsupportedFormatError
from facs_rig.studio.server import StudioServer
from facs_rig.studio.session import StudioSession

__all__ = ["serve_studio", "is_loopback"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (the studio page can write files)."""
    return host in _LOOPBACK


def serve_studio(source: str | None = None, *, mesh: str | None = None, rig: str | None = None,
                 compare: str | None = None, compare_rig: str | None = None,
                 host: str = "127.0.0.1", port: int = 0,
                 on_ready: Callable[[str], None] | None = None,
                 on_loaded: Callable[[StudioSession], None] | None = None,
                 on_stopped: Callable[[StudioServer], None] | None = None) -> StudioServer:
    """Serve a studio session (see :func:`facs_rig.studio.open_session`) until SIGINT/SIGTERM/SIGHUP.

    ``on_ready(url)`` is called once the port is open, ``on_loaded(session)`` once the rig is
    read, ``on_stopped(server)`` once it stopped, with further signals still held (see
    :meth:`StudioServer.serve_until_stopped`): the place to keep unsaved notes. Returns the
    stopped server (its ``refused`` count of malformed messages, the ``stopped_by`` signal).

    Raises
    ------
    UnsupportedFormatError
        A ``mesh``/``compare`` file that does not exist, or a port that cannot be opened.
    FacsRigError
        A rig profile that cannot be loaded (before the port opens), or a session that cannot
        be read (after).
    """
    from facs_rig.io.rig_files import load_rig
    from facs_rig.resources import load_vocabulary
    from facs_rig.studio import open_session, studio_notes
    from facs_rig.studio.cache import payload_key

    for option, path in (("--mesh", mesh), ("--compare", compare)):
        if path is not None and path != "default" and not Path(path).is_file():
            raise UnsupportedFormatError(f"{option} {path}: no such file")
    for profile in (rig, compare_rig):
        if profile is not None:
            load_rig(profile)
    # The notes or timeline too: a bad file is one error line before the port opens (read
    # after it, the error came with the URL already printed and an asyncio traceback).
    studio_notes(source, load_vocabulary())
    server = StudioServer(lambda: open_session(source, mesh=mesh, rig=rig, compare=compare,
                                               compare_rig=compare_rig),
                          host=host, port=port,
                          cache_key=payload_key(mesh, rig, compare, compare_rig))
    try:
        asyncio.run(server.serve_until_stopped(on_ready, on_loaded=on_loaded,
                                                on_stopped=on_stopped))
    except FacsRigError:
        raise  # OutputError is an OSError too, but not a port that cannot be opened
    except OSError as exc:
        raise UnsupportedFormatError(f"cannot listen on {host}:{port}: "
                                     f"{exc.strerror or exc}") from None
    return server
