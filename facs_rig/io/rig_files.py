"""Read rig profiles: the bundled ``rigs/*.json`` by name, or any profile file by path.

The format is specified in ``rigs/README.md``; validation and the profile object live in
:mod:`facs_rig.core.rig`. This adapter only finds, reads and parses the files, and turns every
problem into a :class:`~facs_rig.errors.FacsRigError` that names the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facs_rig.core.rig import GLTF_NOT_A_PROFILE, RigIssue, RigProfile, rig_from_dict, validate_rig
from facs_rig.errors import RigError, RigValidationError, UnknownRigError
from facs_rig.io import bounded_json
from facs_rig.resources import load_vocabulary, rigs_dir

__all__ = ["BundledRig", "list_rigs", "load_rig", "read_rig_json", "check_rig_file",
           "copy_bundled_rig"]

#: Bundled profiles are cached by name: they are immutable and their compiled mixing plan is
#: reused by every later call.
_BUNDLED_CACHE: dict[str, RigProfile] = {}


@dataclass(frozen=True, slots=True)
class BundledRig:
    """One bundled profile, as listed by :func:`list_rigs`."""

    name: str
    path: Path
    description: str
    n_targets: int


def _bundled_paths() -> dict[str, Path]:
    return {path.stem: path for path in sorted(rigs_dir().glob("*.json"))}


def list_rigs() -> list[BundledRig]:
    """The bundled rig profiles, by name (each file is read and validated)."""
    return [BundledRig(name, path, profile.description, len(profile.targets))
            for name, path in _bundled_paths().items()
            for profile in (load_rig(name),)]


def copy_bundled_rig(name: str, output: str | os.PathLike[str]) -> Path:
    """Write the bundled profile ``name``'s file to ``output``, byte for byte: the start of a
    profile for one's own rig (rigs/README.md, "Adding a rig"), for users who installed facs-rig
    with pip and have no ``rigs/`` folder to copy from.

    An existing ``output`` is never replaced (the file is created exclusively), and a copy that
    fails part-way is removed.

    Raises
    ------
    UnknownRigError
        ``name`` is not a bundled profile (the message lists them).
    OutputError
        ``output`` exists, or cannot be written.
    """
    from facs_rig.errors import OutputError

    bundled = _bundled_paths()
    key = name if name in bundled else name.lower()
    if key not in bundled:
        raise UnknownRigError(f"unknown rig {name!r}: not a bundled profile "
                              f"({', '.join(bundled) or 'none'})")
    data = bundled[key].read_bytes()
    target = Path(output)
    try:
        with open(target, "xb") as file:
            try:
                file.write(data)
            except BaseException:
                file.close()
                target.unlink(missing_ok=True)
                raise
    except FileExistsError:
        raise OutputError(f"{target}: already exists; facs-rig rig copy never replaces a file "
                          f"(choose another name, or remove it first)") from None
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


def read_rig_json(path: str | os.PathLike[str]) -> Any:
    """Parse a profile file's JSON; raise :class:`RigError` naming the file, line and column."""
    file = Path(path)
    try:
        # utf-8-sig: Windows editors save JSON with a BOM, which json.loads refuses; timeline and
        # capture files accept it too.
        raw = file.read_bytes()
        if raw[:4] == b"glTF":  # the GLB header's magic (glTF 2.0 section 4.4.2.1)
            raise RigError(f"{file}: {GLTF_NOT_A_PROFILE}")
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise UnknownRigError(f"{file}: no such rig profile file") from None
    except UnicodeDecodeError as exc:
        raise RigError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise RigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        return bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise RigError(f"{file}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise RigError(f"{file}: JSON nested too deeply") from None


def check_rig_file(path: str | os.PathLike[str]) -> list[RigIssue]:
    """Every problem of a profile file (empty: valid); unreadable JSON raises :class:`RigError`."""
    return validate_rig(read_rig_json(path), vocabulary=load_vocabulary())


def _looks_like_path(text: str) -> bool:
    return text.endswith(".json") or os.sep in text or "/" in text


def load_rig(name_or_path: str | os.PathLike[str] | RigProfile) -> RigProfile:
    """A rig profile: a bundled name (``arkit``) or the path of a profile file.

    A bundled name wins over a file of the same name in the current folder unless the argument
    looks like a path (contains a separator or ends with ``.json``). A :class:`RigProfile` is
    returned as is.

    Raises
    ------
    UnknownRigError
        No bundled profile has that name and no such file exists (the message lists the
        bundled names).
    RigValidationError
        The file is not a valid profile; ``.issues`` lists every problem with its path.
    RigError
        The file is not readable JSON.
    """
    if isinstance(name_or_path, RigProfile):
        return name_or_path
    text = os.fspath(name_or_path)
    bundled = _bundled_paths()
    if not isinstance(name_or_path, os.PathLike) and not _looks_like_path(text) \
            and text not in bundled and text.lower() in bundled and not Path(text).is_file():
        text = text.lower()  # --rig ARKit, like parse Happiness: names are case-insensitive
    if not isinstance(name_or_path, os.PathLike) and text in bundled and not _looks_like_path(text):
        if text not in _BUNDLED_CACHE:
            _BUNDLED_CACHE[text] = _load_file(bundled[text], f"bundled rig {text!r} ({bundled[text]})")
        return _BUNDLED_CACHE[text]
    path = Path(text)
    if not path.is_file():
        from difflib import get_close_matches

        known = ", ".join(bundled) or "none"
        close = get_close_matches(text.lower(), list(bundled), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close and len(text) <= 64 else ""
        raise UnknownRigError(f"unknown rig {text!r}: not a bundled profile ({known}) and no "
                              f"such file{hint}")
    return _load_file(path, str(path))


def _load_file(path: Path, source: str) -> RigProfile:
    data = read_rig_json(path)
    try:
        return rig_from_dict(data, vocabulary=load_vocabulary(), source=source)
    except RigValidationError:
        raise
    except (TypeError, ValueError, KeyError) as exc:  # defensive: the validator should catch all
        raise RigError(f"{source}: malformed rig profile: {exc}") from None
