"""What a batch is made of: the takes named by ``facs-rig batch`` INPUTS and the files each writes.

INPUTS are capture files, folders (searched recursively for ``.csv`` files, the extension in any
case, whose header is a capture format facs-rig knows), glob patterns (matched as written), or
manifests: a ``.json`` file (a list of objects, or ``{"takes": [...]}``) or a ``.csv`` file whose
first column is ``capture``, one take per row with optional per-take overrides
(:data:`OVERRIDE_FIELDS`). Relative paths in a manifest are relative to the manifest's folder.

Everything here runs on the client and is cheap: a folder search reads one header line per
file; captures themselves are only read by workers. Inputs may also be fsspec URLs
(``s3://bucket/day1/``, ``s3://bucket/day1/*.csv``): see :mod:`facs_rig.cluster.remote`.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from facs_rig.cluster import remote
from facs_rig.core.limits import fps_problem
from facs_rig.errors import CaptureFormatError, FacsRigError, UnsupportedFormatError
from facs_rig.io import bounded_json
from facs_rig.io.captures import CAPTURE_FORMATS, is_capture_or_lost_header
from facs_rig.io.captures._table import _HEADER_SAMPLE, header_from_sample, read_header

__all__ = ["Take", "BatchInputError", "BatchUsageError", "OVERRIDE_FIELDS", "expand_inputs", "OutputNames",
           "report_folder"]

#: Per-take fields a manifest may set, with what each overrides.
OVERRIDE_FIELDS = {
    "rig": "rig profile name or file (--rig)",
    "mesh": "glTF/GLB to animate (--mesh)",
    "fps": "output frame rate (--fps)",
    "neutral": "neutral window none, auto or START-END seconds (--neutral)",
    "from": "capture format (--from)",
    "face": "OpenFace face_id (--face)",
    "stem": "name used for {stem} in -o instead of the capture's file name",
}


class BatchInputError(FacsRigError, ValueError):
    """A batch's INPUTS or manifest cannot be used (names the file, line and field)."""


class BatchUsageError(BatchInputError):
    """A mistake in the batch's options themselves (``-o`` and ``--formats`` that contradict,
    an ``-o`` that names two takes' outputs alike, ``--scheduler``): the CLI reports it as a
    usage error (exit 2), as ``retarget`` does the same mistakes."""


@dataclass(frozen=True)
class Take:
    """One capture of a batch with its per-take overrides.

    Attributes
    ----------
    capture : str
        Path of the capture file (as workers will open it).
    stem : str
        ``{stem}`` of the output template.
    parent : str
        ``{parent}``: the name of the capture's folder.
    overrides : dict
        Manifest fields among :data:`OVERRIDE_FIELDS` (``fps`` a float, ``face`` an int).
    origin : str
        Where a manifest named the take (``takes.csv: line 3``, ``takes.json: take 2``), for
        errors in its overrides; empty for a take named on the command line or found in a folder.
    """

    capture: str
    stem: str
    parent: str
    overrides: dict = field(default_factory=dict)
    origin: str = field(default="", compare=False)


def _take(path: str, overrides: dict | None = None, origin: str = "") -> Take:
    overrides = dict(overrides or {})
    if remote.is_url(path):
        stem = overrides.pop("stem", None) or remote.url_stem(path)
        return Take(path, stem, remote.url_parent(path), overrides, origin)
    stem = overrides.pop("stem", None) or Path(path).stem
    return Take(path, stem, Path(path).resolve().parent.name, overrides, origin)


def expand_inputs(inputs: list[str], *, exclude: Path | None = None,
                  outputs: frozenset[str] = frozenset()) -> tuple[list[Take], list[str]]:
    """The takes named by ``inputs``, in order, without repeats; and notes on skipped files.

    Parameters
    ----------
    inputs : list of str
        Capture files, folders, glob patterns or manifests.
    exclude : Path, optional
        A folder never searched (the batch's output folder, which holds CSV outputs).
    outputs : frozenset of str
        Files a folder search or a glob does not take (resolved paths): the outputs the batch's
        results manifest records. A batch writing Live Link Face CSVs into the folder it reads
        took its own outputs as new takes on every rerun (``S07-001_w_w.csv``...). A file named
        as it is stays a take.

    Returns
    -------
    takes : list of Take
        A file that does not exist or cannot be read is still a take: its worker reports the
        error, and the rest of the batch goes on.
    notes : list of str
        One line per folder in which CSV files were skipped because they are not captures.
    """
    takes: list[Take] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()

    def add(take: Take) -> None:
        # The same file named twice (a glob, a folder, a manifest row) is one take, the first;
        # two manifest rows of one capture under other stems (face 0 as a, face 1 as b) are two.
        key = (remote.capture_identity(take.capture), take.stem)
        if key not in seen:
            seen.add(key)
            takes.append(take)

    for argument in inputs:
        if remote.is_url(argument):
            urls, searched = remote.expand_url(argument)
            skipped = []
            for url in urls:
                if searched and not _url_is_capture(url):
                    skipped.append(url.rstrip("/").rsplit("/", 1)[-1])
                    continue
                add(_take(url))
            if skipped:
                notes.append(_skipped_note(argument, skipped))
            continue
        own: list[str] = []  # outputs of this batch met by a search or a glob
        if any(ch in argument for ch in "*?[") and not os.path.exists(argument):
            matches = sorted(glob.glob(argument, recursive=True))
            own = [m for m in matches if os.path.isfile(m) and os.path.realpath(m) in outputs]
            matches = [m for m in matches if m not in own]
            paths = matches or ([] if own else [argument])  # no match: a missing file, like a typo
        else:
            paths = [argument]
        for path in paths:
            if os.path.isdir(path):
                found, skipped = _search_folder(Path(path), exclude)
                own += [f for f in found if os.path.realpath(f) in outputs]
                for capture in found:
                    if os.path.realpath(capture) not in outputs:
                        add(_take(capture))
                if skipped:
                    notes.append(_skipped_note(path, skipped))
            elif _is_manifest(path):
                for capture, overrides, origin in _manifest_rows(path):
                    add(_take(capture, overrides, origin))
            else:
                add(_take(path))
        if own:
            names = ", ".join(Path(p).name for p in own[:SKIPPED_NAMED])
            more = f" and {len(own) - SKIPPED_NAMED} more" if len(own) > SKIPPED_NAMED else ""
            notes.append(f"{argument}: {len(own)} file(s) skipped, outputs of this batch "
                         f"(its results manifest lists them): {names}{more}")
    return takes, notes


def _url_is_capture(url: str) -> bool:
    """Whether a CSV file found in a URL folder has a capture header (read: its first bytes)."""
    try:
        fs, path = remote.url_filesystem(url)
        with fs.open(path, "rb") as stream:
            sample = stream.read(_HEADER_SAMPLE)
        return is_capture_or_lost_header(header_from_sample(url, sample))
    except (FacsRigError, OSError):
        return True  # unreadable or empty: a take whose error the report shows


#: Skipped files a note names before it only counts the rest.
SKIPPED_NAMED = 5


def _skipped_note(folder: str, names: list[str]) -> str:
    """The note on CSV files of ``folder`` that are not captures, naming the first few (in a
    folder of hundreds of takes, a count alone leaves the user to find them)."""
    shown = ", ".join(names[:SKIPPED_NAMED])
    if len(names) > SKIPPED_NAMED:
        shown += f" and {len(names) - SKIPPED_NAMED} more"
    return (f"{folder}: {len(names)} CSV file(s) skipped, not a capture format facs-rig knows: "
            f"{shown}")


def _search_folder(folder: Path, exclude: Path | None) -> tuple[list[str], list[str]]:
    # Only an output folder *inside* the searched one is left out: when the outputs go to the
    # searched folder itself or beside it, every capture in it is still a take.
    excluded = exclude.resolve() if exclude is not None else None
    if excluded is not None and folder.resolve() not in excluded.parents:
        excluded = None
    found: list[str] = []
    skipped: list[str] = []  # paths relative to the folder
    # The extension in any case: devices and Windows tools export ``TAKE.CSV``, which
    # ``rglob("*.csv")`` left out without a note on Linux (its match is case-sensitive there).
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() != ".csv":
            continue
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if excluded is not None and excluded in path.resolve().parents:
            continue
        try:
            # A first line of data is a take whose header was lost: a failed take (in the
            # count, the report and the exit status), not a file skipped with a note.
            known = is_capture_or_lost_header(read_header(str(path)))
        except (FacsRigError, OSError):
            known = True  # unreadable or empty: a take whose error the report shows
        if known:
            found.append(str(path))
        else:
            skipped.append(path.relative_to(folder).as_posix())
    return found, skipped


def _is_manifest(path: str) -> bool:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return True
    if suffix != ".csv" or not os.path.isfile(path):
        return False
    try:
        header = read_header(path)
    except (CaptureFormatError, OSError):
        return False
    return bool(header) and header[0].strip().lower() == "capture"


def read_manifest(path: str) -> list[tuple[str, dict]]:
    """``(capture path, overrides)`` per row of a JSON or CSV manifest.

    Raises
    ------
    BatchInputError
        Not valid JSON/CSV, a row without ``capture``, an unknown field, a bad value (the
        message names the file, the row or line, and the field).
    """
    return [(capture, overrides) for capture, overrides, _ in _manifest_rows(path)]


def _manifest_rows(path: str) -> list[tuple[str, dict, str]]:
    """:func:`read_manifest`'s rows, each with where it is (``m.csv: line 3``)."""
    from facs_rig.io.csv_dialect import decode_text, number_text, split_header_cells

    folder = Path(path).parent
    try:
        # UTF-8 (a BOM dropped) or UTF-16 with its BOM: a manifest saved by a spreadsheet.
        text = decode_text(Path(path).read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"{path}: cannot read the manifest: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    rows: list[tuple[str, dict, str]] = []
    if Path(path).suffix.lower() == ".json":
        try:
            document = bounded_json.loads(text)
        except json.JSONDecodeError as exc:
            raise BatchInputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
        entries = document.get("takes") if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise BatchInputError(f"{path}: a manifest is a list of takes or {{\"takes\": [...]}}")
        for number, entry in enumerate(entries, 1):
            where = f"{path}: take {number}"
            if isinstance(entry, str):
                entry = {"capture": entry}
            if not isinstance(entry, dict):
                raise BatchInputError(f"{where}: expected an object with \"capture\"")
            rows.append((*_manifest_row(entry, where, folder), where))
    else:
        # ';' or tabs as a spreadsheet saves them (facs_rig/io/csv_dialect.py), by the header.
        _, delimiter, _ = split_header_cells(text.split("\n", 1)[0].rstrip("\r"))
        reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
        # A misspelt column is the header's mistake, line 1 (it was said at the first row that
        # had a value in it, line 2 or later, or not at all in a manifest of no rows).
        names = [name.strip().lower() for name in reader.fieldnames or ()]
        unknown = sorted(set(names) - set(OVERRIDE_FIELDS) - {"capture", ""})
        if unknown:
            raise BatchInputError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}; "
                                  f"known: capture, {', '.join(OVERRIDE_FIELDS)}")
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            if None in row:
                raise BatchInputError(f"{where}: more cells than the header has columns")
            entry = {key.strip().lower(): (value or "").strip() for key, value in row.items()}
            if delimiter != "," and "fps" in entry:
                entry["fps"] = number_text(entry["fps"], delimiter)  # a decimal comma: 29,97
            rows.append((*_manifest_row({k: v for k, v in entry.items() if v != ""}, where, folder),
                         where))
    return rows


def _manifest_row(entry: dict, where: str, folder: Path) -> tuple[str, dict]:
    unknown = sorted(set(entry) - set(OVERRIDE_FIELDS) - {"capture"})
    if unknown:
        raise BatchInputError(f"{where}: unknown field(s) {', '.join(unknown)}; known: capture, "
                              f"{', '.join(OVERRIDE_FIELDS)}")
    capture = entry.get("capture")
    if not isinstance(capture, str) or not capture:
        raise BatchInputError(f"{where}: field capture: a capture file path is required")
    overrides: dict = {}
    for key, value in entry.items():
        if key == "capture":
            continue
        overrides[key] = _check_field(key, value, where)
    if "mesh" in overrides:
        overrides["mesh"] = str(folder / overrides["mesh"])
    if "rig" in overrides and ("/" in overrides["rig"] or overrides["rig"].endswith(".json")):
        overrides["rig"] = str(folder / overrides["rig"])  # a profile file, not a bundled name
    if remote.is_url(capture):
        return capture, overrides
    if (folder / capture).is_dir():
        # Read as a take, a folder failed with the OS's words ("../takes: Is a directory")
        # under the name takes.csv in the report; a manifest lists takes, not folders.
        raise BatchInputError(f"{where}: capture {capture} is a folder (list takes one per row, "
                              f"or give the folder itself as an input)")
    return str(folder / capture), overrides


def _check_field(key: str, value, where: str):
    if key == "fps":
        problem = fps_problem(value)  # the one fps rule of every command (core.limits)
        if problem is not None:
            raise BatchInputError(f"{where}: field fps: {value!r}: {problem}")
        return float(value)
    if key == "face":
        try:
            face = int(value)
        except (TypeError, ValueError):
            raise BatchInputError(f"{where}: field face: {value!r} is not a whole number") from None
        if isinstance(value, (bool, float)) or face < 0:
            raise BatchInputError(f"{where}: field face: {value!r} is not a face id >= 0")
        return face
    if not isinstance(value, str) or not value.strip():
        raise BatchInputError(f"{where}: field {key}: expected text, not {value!r}")
    value = value.strip()
    if key == "from" and value not in CAPTURE_FORMATS:
        raise BatchInputError(f"{where}: field from: {value!r} is not one of "
                              f"{', '.join(CAPTURE_FORMATS)}")
    if key == "neutral" and value not in ("none", "auto"):
        from facs_rig.io.captures.pipeline import CleaningOptions

        try:
            CleaningOptions(neutral=value)
        except ValueError as exc:
            raise BatchInputError(f"{where}: field neutral: {exc}") from None
    if key == "stem" and ("/" in value or "\\" in value or value in (".", "..")):
        raise BatchInputError(f"{where}: field stem: {value!r} must be a plain file name")
    return value


@dataclass(frozen=True)
class OutputNames:
    """The ``-o`` template and the extensions it is expanded with.

    ``{stem}`` (required when there are several takes) and ``{parent}`` name the take;
    ``{ext}`` is replaced by each of ``formats``. Without ``{ext}`` the template's own
    extension is the one output. Each take also gets ``.facs.txt`` (the ``code`` summary) and
    ``.qc.png`` (the AU heat map) beside its outputs.

    Raises
    ------
    BatchUsageError
        ``-o`` and ``formats`` contradict, or list an extension twice.
    UnsupportedFormatError
        An extension ``retarget`` does not write (exit 1, as ``retarget``'s).
    """

    template: str
    formats: tuple[str, ...] = ()

    @property
    def formats_given(self) -> bool:
        """Whether the extensions are ``--formats``' (``{ext}`` in the template), not ``-o``'s."""
        return "{ext}" in self.template

    def __post_init__(self) -> None:
        if "{ext}" in self.template:
            if not self.formats:
                raise BatchUsageError("-o contains {ext}: list the outputs with --formats, "
                                      "e.g. --formats glb,json")
        else:
            if self.formats:
                raise BatchUsageError("--formats needs {ext} in -o (e.g. -o out/{stem}.{ext})")
            suffix = Path(self.template).suffix
            if not suffix:
                raise BatchUsageError(f"-o {self.template}: give an extension or {{ext}}")
            object.__setattr__(self, "formats", (suffix[1:],))
        formats = tuple(f.lstrip(".").lower() for f in self.formats)
        if len(set(formats)) != len(formats):
            raise BatchUsageError(f"--formats lists an extension twice: {','.join(self.formats)}")
        from facs_rig.io.captures.retarget import output_kind

        for extension in formats:
            try:
                output_kind(f"take.{extension}", None)
            except FacsRigError:
                # An extension the command does not write is exit 1, naming the value, as in
                # retarget (the README's "Errors"); it was a usage error here, exit 2.
                given = f"--formats {','.join(self.formats)}" if self.formats_given else \
                    f"-o {self.template}"
                raise UnsupportedFormatError(
                    f"{given}: cannot write .{extension}; batch writes .glb, .gltf, .csv, .json, "
                    f".txt, .notes or .eaf, as retarget does") from None
        if remote.is_url(self.template) and "gltf" in formats:
            raise BatchUsageError(
                f"-o {self.template}: a .gltf is two files (the JSON and its .bin) that an object "
                f"store cannot replace together; write .glb at a URL")
        object.__setattr__(self, "formats", formats)

    def _base(self, take: Take) -> str:
        text = self.template.replace("{stem}", take.stem).replace("{parent}", take.parent)
        if "{ext}" not in text:
            text = text[: -len(Path(text).suffix)] + ".{ext}"
        return text

    def outputs(self, take: Take) -> list[str]:
        """The retarget outputs of ``take``, one per format."""
        base = self._base(take)
        return [base.replace("{ext}", extension) for extension in self.formats]

    def extra(self, take: Take, suffix: str) -> str:
        """A side file of ``take`` such as ``facs.txt`` or ``qc.png``."""
        return self._base(take).replace("{ext}", suffix)


def report_folder(template: str) -> Path | str:
    """The folder of the batch's manifest and report: ``-o``'s folder up to the first part
    holding a placeholder (``out/{parent}/{stem}.glb`` -> ``out``); a URL for a URL template."""
    if remote.is_url(template):
        head, _, rest = template.partition("://")
        fixed_parts = []
        for part in rest.split("/")[:-1]:
            if "{" in part:
                break
            fixed_parts.append(part)
        return f"{head}://{'/'.join(fixed_parts)}"
    parts = Path(template).parent.parts
    fixed = []
    for part in parts:
        if "{" in part:
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def with_overrides(take: Take, **defaults) -> dict:
    """``defaults`` (rig, mesh, fps, neutral, format, face) with the take's overrides applied."""
    merged = dict(defaults)
    for key, value in take.overrides.items():
        merged["format" if key == "from" else key] = value
    return merged

