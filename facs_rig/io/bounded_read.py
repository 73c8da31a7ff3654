"""Read a whole file with a size limit that holds for any kind of file.

``os.path.getsize`` says 0 for a FIFO, ``/dev/stdin`` or ``/dev/zero``, so a size check before an
unbounded ``read()`` lets such a path fill memory. Reading at most one byte more than the limit
bounds memory by the limit whatever the path names. A named pipe, a socket or a device is not
read at all (:func:`refuse_special_file`): opening a pipe waits for a writer, forever when there
is none.
"""

from __future__ import annotations

import os
import stat

__all__ = ["read_bounded", "special_file_kind", "refuse_special_file"]

#: What each kind of file that is neither a regular file nor a folder is called in messages.
_SPECIAL_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_file_kind(path: str | os.PathLike[str]) -> str | None:
    """``"a named pipe"`` (a socket, a device) when ``path`` names such a file, else None (a
    regular file, a folder, or nothing: the caller's own open says why).

    Only the file's status is read (``os.stat`` follows a symbolic link, and never blocks on a
    pipe), so a file opened afterwards only if this says None cannot block its reader.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), None)


def refuse_special_file(path: str | os.PathLike[str], error_type: type[Exception]) -> None:
    """Raise ``error_type`` (``{path}: not a regular file (a named pipe)``) when ``path`` names
    a named pipe, a socket or a device, before anything opens it.

    Opening a named pipe for reading waits for a writer: a FIFO left in a capture folder by a
    streaming setup hung ``batch`` (and ``retarget``, ``code``) forever, with no output.
    """
    kind = special_file_kind(path)
    if kind is not None:
        raise error_type(f"{os.fspath(path)}: not a regular file ({kind})")


def read_bounded(path: str | os.PathLike[str], limit: int, error_type: type[Exception],
                 what: str) -> bytes:
    """The bytes of ``path``, or ``error_type`` naming the file when it cannot be read whole.

    Parameters
    ----------
    path : path-like
    limit : int
        Most bytes accepted.
    error_type : exception class
        Raised with a one-line message naming ``path``: for a file over the limit, a folder, a
        named pipe, socket or device (:func:`refuse_special_file`, before it is opened), or any
        error :func:`open` and ``read`` raise (missing, unreadable).
    what : str
        What the file should be, for the message ("a capture file").
    """
    name = os.fspath(path)
    refuse_special_file(name, error_type)  # a named pipe would block the open
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except IsADirectoryError:
        raise error_type(f"{name}: is a folder, not {what}") from None
    except OSError as exc:
        raise error_type(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error_type(f"{name}: more than {limit:,} bytes is too large for {what}")
    return data
