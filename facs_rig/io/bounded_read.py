"""Read a whole file with a size limit that holds for any kind of file.

``os.path.getsize`` says 0 for a FIFO, ``/dev/stdin`` or ``/dev/zero``, so a size check before an
unbounded ``read()`` lets such a path fill memory. Reading at most one byte more than the limit
bounds memory by the limit whatever the path names.
"""

from __future__ import annotations

import os

__all__ = ["read_bounded"]


def read_bounded(path: str | os.PathLike[str], limit: int, error_type: type[Exception],
                 what: str) -> bytes:
    """The bytes of ``path``, or ``error_type`` naming the file when it cannot be read whole.

    Parameters
    ----------
    path : path-like
    limit : int
        Most bytes accepted.
    error_type : exception class
        Raised with a one-line message naming ``path``: for a file over the limit, a folder, or
        any error :func:`open` and ``read`` raise (missing, unreadable).
    what : str
        What the file should be, for the message ("a capture file").
    """
    name = os.fspath(path)
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
