"""Write files so that a failure never leaves a half-written or truncated output.

Every writer in facs-rig goes through :func:`atomic_write`: the data goes to a temporary file in
the destination folder, is flushed to disk, and replaces the destination with ``os.replace``,
which is atomic on POSIX and Windows when both are on one file system.

The temporary file is called ``.<name>.<pid>.<random>.part``. A run that is killed (SIGKILL, power
loss) cannot remove its own; the first write of a later run into the same folder removes every
such file whose process is gone (:func:`remove_stale_parts`), and leaves those of a live writer
alone. The folder is listed once per process, so a batch writing thousands of files into one
folder does not list it thousands of times.

Every file written here is marked as facs-rig's own output with the extended attribute
:data:`OWN_OUTPUT_ATTRIBUTE` (:func:`is_own_output`), where the file system keeps extended
attributes. The file's bytes stay those of its format: a Live Link Face CSV that facs-rig
writes has the columns and the ``%.10f`` numbers of the app's own takes, and a comment line
would break Unreal's importer, so the mark is all that tells the two apart. Commands refuse to
replace a raw capture (:func:`facs_rig.io.captures.refuse_replacing_capture`) but replace a
marked file of their own as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from facs_rig.errors import OutputError

__all__ = ["atomic_write", "write_bytes_atomic", "write_text_atomic", "refuse_input_as_output",
           "remove_stale_parts", "is_own_output", "OWN_OUTPUT_ATTRIBUTE"]

#: Extended attribute (``user.`` namespace: any user may set it on a file of theirs) on every
#: file :func:`atomic_write` writes. A copy made without its attributes (``cp`` without ``-a``,
#: a file system without extended attributes) loses it, and is then taken for a user's file.
OWN_OUTPUT_ATTRIBUTE = "user.facs-rig.output"


def _mark_own_output(path: str) -> None:
    """Mark ``path`` as facs-rig's output (:data:`OWN_OUTPUT_ATTRIBUTE`), when the platform and
    the file system can; where they cannot, the file is simply unmarked."""
    setxattr = getattr(os, "setxattr", None)
    if setxattr is None:
        return
    with contextlib.suppress(OSError):
        setxattr(path, OWN_OUTPUT_ATTRIBUTE, b"1")


def is_own_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` carries the mark of a file facs-rig wrote (:data:`OWN_OUTPUT_ATTRIBUTE`).

    False when it does not exist, has no such attribute, or the platform or file system keeps
    no extended attributes.
    """
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return False
    try:
        return getxattr(os.fspath(path), OWN_OUTPUT_ATTRIBUTE) == b"1"
    except OSError:
        return False


def _process_is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists under another user, or cannot tell: keep its file
    return True


#: Folders already cleaned of stale ``.part`` files by this process.
_CLEANED_FOLDERS: set[str] = set()


def remove_stale_parts(folder: str | os.PathLike[str], name_pattern: str = ".+") -> list[Path]:
    """Remove our own temporary files ``.<name>.<pid>.<random>.part`` left in ``folder`` by a
    killed run, for every ``name`` fully matching the regular expression ``name_pattern``.

    Only files whose writing process no longer exists on this machine are removed; errors are
    ignored (another run may be cleaning up at the same moment). Returns the files removed.
    """
    # mkstemp's random part is 8 characters of [a-z0-9_].
    pattern = re.compile(r"\.(" + name_pattern + r")\.(\d{1,10})\.[a-z0-9_]{8}\.part")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found is None or _process_is_alive(int(found.group(2))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *,
                 encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed.

    Raises
    ------
    OutputError
        When the folder does not exist or cannot be written; the previous file is untouched.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: cannot write, folder {folder} does not exist")
    if target.is_dir():
        raise OutputError(f"{target}: cannot write, it is a folder")
    folder_key = os.path.realpath(folder)
    if folder_key not in _CLEANED_FOLDERS:
        _CLEANED_FOLDERS.add(folder_key)
        remove_stale_parts(folder)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.",
                                             suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, mode, encoding=encoding, newline=newline) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file owner-only (0600); give it the mode a plain open() would,
        # so that a baked .glb can be served or shared like any other file.
        os.chmod(temporary, 0o666 & ~_current_umask())
        _mark_own_output(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    try:
        with atomic_write(path, "wb") as stream:
            stream.write(data)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (``\\n`` line ends)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def refuse_input_as_output(output: str | os.PathLike[str],
                           *inputs: str | os.PathLike[str] | None) -> None:
    """Raise :class:`OutputError` when ``output`` names the same file as one of ``inputs``.

    Commands write a *derived* file (a baked copy, a posed mesh, a converted timeline): written
    over its own input it would silently replace what the user had, so it is refused before
    anything is read or written. ``None`` inputs (a code given instead of a file) are skipped.
    """
    target = Path(output)
    for source in inputs:
        if source is None:
            continue
        source_path = Path(source)
        try:
            same = target.exists() and source_path.exists() and os.path.samefile(target,
                                                                                 source_path)
        except OSError:
            same = False
        if same or target.resolve() == source_path.resolve():
            raise OutputError(f"{target}: output is the input file {source_path}; "
                              f"choose another output name (the input is left untouched)")
