"""Batch inputs and outputs named by fsspec URLs (``s3://``, ``gs://``, ``abfs://``, ``file://`` ...).

On a Dask cluster the workers, not the client, open the captures and write the outputs, so a
studio whose takes live in an object store names them by URL. fsspec (Dask's own file-system
layer, a dependency of ``dask``) resolves a URL to a file system; the protocol's package must be
installed on the client and on every worker (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``).

The readers and writers of facs-rig work on local files (memory-mapped reading, ``os.replace``
for atomic writes), so a worker **stages** a URL: it copies the capture to a private temporary
folder (streamed in 1 MiB pieces and hashed on the way: its memory does not grow with the take),
writes the outputs beside it, and **publishes** each output by uploading it to
``<target>.<random>.part`` and moving that onto the target: a reader sees the old file or the
whole new one, never half of one (on object stores a move is a copy and a delete, and an object
appears whole when its upload completes). The client writes the results manifest and the batch
report of a URL output folder the same way (:class:`RemoteText`).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import secrets

from facs_rig.errors import FacsRigError

__all__ = ["RemoteError", "is_url", "url_filesystem", "expand_url", "url_parent", "url_stem",
           "url_sha256", "url_exists", "stage_input", "publish", "RemoteText"]

#: A URL scheme (RFC 3986 section 3.1) of two or more characters, so that a Windows drive
#: letter (``C:\\takes``) is a path; fsspec chains (``simplecache::s3://``) count as URLs.
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+::)*[A-Za-z][A-Za-z0-9+.-]+://")

#: Size of one piece of a streamed copy.
CHUNK_BYTES = 1 << 20


class RemoteError(FacsRigError, OSError):
    """A URL cannot be resolved, read or written (the message names the URL)."""



def join(folder: str | object, name: str) -> str:
    """``folder/name`` for a folder URL or path, keeping a URL's root whole: ``memory://`` and
    ``memory://`` + ``/`` are one root, so stripping its slashes named ``memory:/batch-report.html``
    (a second reader's report path, and a take's output the report name check missed)."""
    base = str(folder)
    return f"{base}{name}" if base.endswith("/") else f"{base}/{name}"

def is_url(text: str) -> bool:
    """True for an fsspec URL (``s3://bucket/take.csv``), False for a local path."""
    return bool(_URL.search(str(text)))


def capture_identity(text: str) -> str:
    """What makes two spellings of one capture the same: a URL as given, a local path made
    absolute (``take01.csv`` and ``./take01.csv`` are one file). ``retarget`` and ``batch``
    both do a capture named twice once."""
    return str(text) if is_url(text) else os.path.abspath(text)


def url_filesystem(url: str):
    """``(filesystem, path)`` of an fsspec URL.

    Raises
    ------
    RemoteError
        fsspec does not know the protocol, or its package is not installed.
    """
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise RemoteError(f"{url}: fsspec cannot open this URL ({' '.join(str(exc).split())})"
                          ) from None


def _join(fs, path: str) -> str:
    """The URL of ``path`` on ``fs`` (what workers are given)."""
    return fs.unstrip_protocol(path)


def expand_url(pattern: str) -> tuple[list[str], bool]:
    """The capture URLs a URL input names: itself, a glob's matches or a folder's ``.csv`` files.

    Returns ``(urls, searched)``: ``searched`` is True when a folder was listed (its non-capture
    CSV files are then the caller's to skip). Hidden files and folders (a leading dot) are left
    out of a folder search, as for local folders.
    """
    fs, path = url_filesystem(pattern)
    try:
        if any(ch in path for ch in "*?["):
            matches = sorted(fs.glob(path))
            return ([_join(fs, match) for match in matches] or [pattern]), False
        if fs.isdir(path):
            root = path.rstrip("/")
            found = []
            for match in sorted(fs.find(root)):
                relative = match[len(root):].lstrip("/")
                if match.lower().endswith(".csv") and not any(
                        part.startswith(".") for part in relative.split("/")):
                    found.append(_join(fs, match))
            return found, True
    except OSError as exc:
        raise RemoteError(f"{pattern}: cannot list ({exc})") from None
    return [pattern], False


def url_parent(url: str) -> str:
    """The name of the folder holding ``url`` (``{parent}`` in ``-o``)."""
    _, path = url_filesystem(url)
    return posixpath.basename(posixpath.dirname(path.rstrip("/")))


def url_stem(url: str) -> str:
    """The file name of ``url`` without its extension (``{stem}`` in ``-o``)."""
    _, path = url_filesystem(url)
    name = posixpath.basename(path.rstrip("/"))
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def url_exists(url: str) -> bool:
    fs, path = url_filesystem(url)
    return bool(fs.exists(path))


def url_sha256(url: str) -> str:
    """SHA-256 of the object at ``url``, streamed."""
    fs, path = url_filesystem(url)
    digest = hashlib.sha256()
    try:
        with fs.open(path, "rb") as stream:
            while block := stream.read(CHUNK_BYTES):
                digest.update(block)
    except FileNotFoundError:
        raise RemoteError(f"{url}: no such file") from None
    except OSError as exc:
        raise RemoteError(f"{url}: cannot read ({exc})") from None
    return digest.hexdigest()


def stage_input(url: str, folder: str) -> tuple[str, str]:
    """Copy the capture at ``url`` into the local ``folder``; return ``(local path, sha256)``.

    The local copy keeps the URL's file name (the capture readers name files in their errors,
    and those then read as the user's own name).
    """
    import os

    fs, path = url_filesystem(url)
    name = posixpath.basename(path.rstrip("/")) or "capture"
    local = os.path.join(folder, name)
    digest = hashlib.sha256()
    try:
        with fs.open(path, "rb") as source, open(local, "wb") as target:
            while block := source.read(CHUNK_BYTES):
                digest.update(block)
                target.write(block)
    except FileNotFoundError:
        raise RemoteError(f"{url}: no such file") from None
    except IsADirectoryError:
        raise RemoteError(f"{url}: is a folder, not a capture file") from None
    except OSError as exc:
        raise RemoteError(f"{url}: cannot read ({exc})") from None
    return local, digest.hexdigest()


def publish(local: str, url: str) -> None:
    """Upload the finished local file ``local`` to ``url`` atomically (see the module notes)."""
    fs, path = url_filesystem(url)
    part = f"{path}.{secrets.token_hex(4)}.part"
    try:
        parent = posixpath.dirname(path)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.put_file(local, part)
        fs.mv(part, path)
    except OSError as exc:
        try:
            if fs.exists(part):
                fs.rm(part)
        except OSError:
            pass
        raise RemoteError(f"{url}: cannot write ({exc})") from None


class RemoteText:
    """A small text file at a URL written whole (the results manifest, the report pages).

    :meth:`append` keeps lines and uploads the whole file at most every ``flush_seconds``
    (object stores cannot append): a client killed between two uploads loses at most that much
    of the manifest, which a rerun redoes (the outputs themselves are already published).
    """

    def __init__(self, url: str, *, flush_seconds: float = 2.0, clock=None):
        import time

        self.url = url
        self._fs, self._path = url_filesystem(url)
        self._clock = clock or time.monotonic
        self._flush_seconds = flush_seconds
        self._lines: list[str] = []
        self._dirty = False
        self._flushed_at = self._clock()

    def read(self) -> str | None:
        """The file's text, or None when there is none yet."""
        try:
            if not self._fs.exists(self._path):
                return None
            return self._fs.cat_file(self._path).decode("utf-8", errors="replace")
        except OSError as exc:
            raise RemoteError(f"{self.url}: cannot read ({exc})") from None

    def start(self, text: str | None) -> None:
        """Begin appending after ``text`` (what :meth:`read` returned)."""
        self._lines = text.splitlines(keepends=True) if text else []
        if self._lines and not self._lines[-1].endswith("\n"):
            self._lines.pop()  # a line cut short by an interrupted upload

    def append(self, line: str) -> None:
        self._lines.append(line)
        self._dirty = True
        if self._clock() - self._flushed_at >= self._flush_seconds:
            try:
                self.flush()
            except RemoteError:
                # A failed periodic upload is retried at the next interval and at close(),
                # where a failure is reported: the takes' outputs are already published.
                self._flushed_at = self._clock()

    def flush(self) -> None:
        if self._dirty:
            self.write("".join(self._lines))
            self._dirty = False
        self._flushed_at = self._clock()

    def write(self, text: str) -> None:
        """Replace the whole file with ``text`` (uploaded, then moved into place)."""
        part = f"{self._path}.{secrets.token_hex(4)}.part"
        try:
            parent = posixpath.dirname(self._path)
            if parent:
                self._fs.makedirs(parent, exist_ok=True)
            self._fs.pipe_file(part, text.encode("utf-8"))
            self._fs.mv(part, self._path)
        except OSError as exc:
            raise RemoteError(f"{self.url}: cannot write ({exc})") from None
