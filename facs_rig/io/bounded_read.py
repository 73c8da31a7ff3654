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
    """The bytes of ``path``, or ``error_type`` naming the file when it holds more than ``limit``.

    Parameters
    ----------
    path : path-like
    limit : int
        Most bytes accepted.
    error_type : exception class
        Raised (with a one-line message naming ``path``) for a file over the limit.
    what : str
        What the file should be, for the message ("a capture file").

    Raises
    ------
    OSError
        As :func:`open` and ``read`` raise it; the caller words it.
    """
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise error_type(f"{os.fspath(path)}: more than {limit:,} bytes is too large for {what}")
    return data
