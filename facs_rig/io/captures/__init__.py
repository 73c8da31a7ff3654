"""Face-tracker captures: OpenFace, Py-Feat, Live Link Face, MediaPipe and Face Cap recordings.

:func:`read_capture` detects the format from the header (``format=`` overrides) and returns a
:class:`Capture`: timestamped dense AU curves (``aus``) and, for ARKit-style captures, ARKit
blendshape weights (``blendshapes``). :func:`capture_to_aus` turns any capture into one set of
AU curves (solving blendshapes through the ``arkit`` profile when needed), ready for cleaning
(:mod:`facs_rig.core.filters`), event extraction (:mod:`facs_rig.core.events`) or mixing onto
any rig. The file formats are described in ``docs/captures.md``.
"""

from __future__ import annotations

import inspect
import os
import re

from facs_rig.errors import CaptureFormatError, UnsupportedFormatError
from facs_rig.io.captures._common import Capture
from facs_rig.io.captures._table import read_head, read_header
from facs_rig.io.captures.arkit_names import ARKIT_NAMES, canonical_arkit_name
from facs_rig.io.captures.arkit_tables import read_blendshape_table, read_live_link_face, write_live_link_face
from facs_rig.io.captures.openface import is_openface_header, read_openface
from facs_rig.io.captures.pyfeat import blendshape_columns, is_pyfeat_header, read_pyfeat

__all__ = [
    "CAPTURE_FORMATS",
    "Capture",
    "ARKIT_NAMES",
    "detect_format",
    "header_has_blendshapes",
    "read_capture",
    "read_header",
    "read_openface",
    "read_pyfeat",
    "read_live_link_face",
    "read_blendshape_table",
    "write_live_link_face",
    "FORMAT_NAMES",
    "existing_capture_format",
    "refuse_replacing_capture",
    "header_is_data",
    "is_capture_or_lost_header",
]

#: Formats :func:`read_capture` knows, with a one-line description each.
CAPTURE_FORMATS = {
    "openface": "OpenFace 2.x FeatureExtraction CSV (AUxx_r 0-5, AUxx_c, pose, gaze)",
    "pyfeat": "Py-Feat Fex CSV (AU01..AU43 0-1, optional MediaPipe blendshapes)",
    "livelinkface": "Live Link Face CSV take (Timecode, BlendShapeCount, 52 ARKit shapes, rotations)",
    "mediapipe": "MediaPipe blendshape CSV (_neutral + 51 ARKit shapes, time column)",
    "facecap": "Face Cap weight track (time column + 52 ARKit shapes named *_L/*_R)",
}


#: Each format's name as its makers spell it, for messages.
FORMAT_NAMES = {"openface": "OpenFace", "pyfeat": "Py-Feat", "livelinkface": "Live Link Face",
                "mediapipe": "MediaPipe", "facecap": "Face Cap"}


def existing_capture_format(path: str | os.PathLike[str]) -> str | None:
    """The capture format of the existing file ``path`` by its header (:func:`detect_format`),
    or None: no such file, not a regular file, not a capture header, or a file facs-rig wrote
    itself (marked by :func:`facs_rig.io.atomic.is_own_output`).

    Only the first line is read, and only of a regular file (a named pipe would block).
    """
    import stat

    from facs_rig.io.atomic import is_own_output

    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or is_own_output(path):
            return None
        return detect_format(read_header(path))
    except (CaptureFormatError, OSError, ValueError):
        return None


def refuse_replacing_capture(output: str | os.PathLike[str],
                             own_outputs: frozenset[str] = frozenset()) -> None:
    """Refuse to write ``output`` over an existing raw capture.

    A capture may be the only copy of a take (iPhone takes are often deleted from the phone once
    offloaded): a ``-o`` naming the wrong folder replaced yesterday's Live Link Face take with a
    derived CSV, without a word. A file whose header is a capture's (:func:`detect_format`) is
    refused, unless facs-rig wrote it (:func:`existing_capture_format`) or its real path is in
    ``own_outputs`` (a batch's outputs its results manifest lists, on a file system that keeps
    no mark). A facs-rig output that lost its mark (copied without its attributes, or written
    by a facs-rig from before the mark) cannot be told from a take, and is refused as one.

    Raises
    ------
    OutputError
        One line naming the file and its format.
    """
    from facs_rig.errors import OutputError

    found = existing_capture_format(output)
    if found is None or os.path.realpath(output) in own_outputs:
        return
    name = FORMAT_NAMES[found]
    article = "an" if name[0] in "AEIOU" else "a"
    raise OutputError(f"{os.fspath(output)}: would replace {article} {name} capture (a file "
                      f"facs-rig did not write); choose another output, or remove the file "
                      f"first if it is to be replaced")


def detect_format(header: tuple[str, ...]) -> str | None:
    """The capture format a CSV header belongs to, or None.

    Rules, in order: ``Timecode`` with ``BlendShapeCount`` (both in any case: ``TimeCode``,
    ``BlendshapeCount``) is Live Link Face, and so is ``Timecode`` with 40 or more ARKit names
    (whose reader then names the missing ``BlendShapeCount``: read as MediaPipe, the take lost
    its timecode); ``timestamp`` with ``AUxx_r``/``AUxx_c``/``pose_R*``/``gaze_angle_*`` is
    OpenFace; bare ``AUxx`` columns with ``FaceRectX``/``frame`` are Py-Feat; 40 or more ARKit
    names are MediaPipe when ``_neutral`` is present or the names are spelled ``...Left``, else
    Face Cap.
    """
    from facs_rig.io.captures.arkit_tables import live_link_face_columns

    names = set(header)
    timecode, count = live_link_face_columns(header)
    if timecode is not None and count is not None:
        return "livelinkface"
    if is_openface_header(header):
        return "openface"
    if is_pyfeat_header(header):
        return "pyfeat"
    shapes = [column for column in header if canonical_arkit_name(column)]
    if len(shapes) >= 40:
        if timecode is not None:
            return "livelinkface"
        if "_neutral" in names:
            return "mediapipe"
        suffixed = sum(column.endswith(("_L", "_R")) for column in shapes)
        return "facecap" if suffixed else "mediapipe"
    return None


#: A Live Link Face timecode cell (``HH:MM:SS:FF.fff``; ``;`` for drop-frame).
_TIMECODE_CELL = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;]\d{1,3}(?:\.\d*)?$")
#: Fewest cells, and the share of them that must be numbers or timecodes, for a first line to
#: be a data row rather than a header (a tracker's rows are all numbers but for a time cell, or
#: Py-Feat's file name and ``approx_time``; a header's names are no numbers).
_DATA_ROW_CELLS = 3
_DATA_ROW_SHARE = 0.8


def header_is_data(header: tuple[str, ...]) -> bool:
    """Whether a file's first line is a row of data, not column names: at least three cells
    that are not empty, four in five of those numbers (a decimal comma read too, as a
    spreadsheet's ``;`` files write it) or ``HH:MM:SS:FF`` timecodes (empty cells are a lost
    face's, and no column name). The header of such a file was lost (a bad copy, an editor,
    ``tail -n +2``); it is a take with a header missing, not "some other CSV"."""
    cells = [cell.strip() for cell in header if cell.strip()]
    if len(cells) < _DATA_ROW_CELLS:
        return False
    data = 0
    for text in cells:
        try:
            float(text.replace(",", "."))
            data += 1
        except ValueError:
            data += bool(_TIMECODE_CELL.match(text))
    return data >= _DATA_ROW_SHARE * len(cells)


def is_capture_or_lost_header(header: tuple[str, ...]) -> bool:
    """Whether a CSV found by a folder search is a take: a capture header
    (:func:`detect_format`), or a first line of data (:func:`header_is_data`: a take whose
    header was lost, which then fails with its one-line reason instead of being skipped)."""
    return detect_format(header) is not None or header_is_data(header)


def header_has_blendshapes(header: tuple[str, ...], capture_format: str, name: str) -> bool:
    """Whether a capture of this header and format carries blendshapes: OpenFace never (AUs,
    pose and gaze), Py-Feat when its MediaPipe detector wrote them, the others always.

    Raises
    ------
    CaptureFormatError
        Two columns of a Py-Feat header spell the same shape (as :func:`read_pyfeat` says).
    """
    if capture_format == "openface":
        return False
    if capture_format == "pyfeat":
        return bool(blendshape_columns(header, name))
    return True


def read_capture(path: str | os.PathLike[str], *, format: str | None = None,
                 face: int | None = None, **options) -> Capture:
    """Read a capture file, detecting its format from the header unless ``format`` is given.

    Parameters
    ----------
    path : path-like
    format : str, optional
        One of :data:`CAPTURE_FORMATS` (the CLI's ``--from``).
    face : int, optional
        OpenFace ``face_id`` to keep (default: the lowest).
    **options
        Passed to the format's reader (``min_confidence``, ``gate_presence``, ``fps``,
        ``timecode_rate``, ...).

    Raises
    ------
    CaptureFormatError
        When the file is not a capture of a known format, or is malformed (the message names
        file, line and column).
    UnsupportedFormatError
        When ``format`` is not a known format name.
    """
    name = os.fspath(path)
    if format is not None and format not in CAPTURE_FORMATS:
        raise UnsupportedFormatError(f"unknown capture format {format!r}; known: "
                                     f"{', '.join(CAPTURE_FORMATS)}")
    header, dialect = read_head(name)
    chosen = format or detect_format(header)
    if chosen is None and header_is_data(header):
        shown = ", ".join(header[:3]) + (", ..." if len(header) > 3 else "")
        raise CaptureFormatError(
            f"{name}: line 1: no header line: the first line is data ({len(header)} cells: "
            f"{shown}); the take's header was lost (copy it back from another take of the "
            f"same tracker, or from the original file)")
    if chosen is None:
        shown = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "")
        found = f"{dialect.note()}; " if dialect.note() else ""
        raise CaptureFormatError(
            f"{name}: line 1: not a capture format facs-rig knows ({found}columns: {shown}); "
            f"expected {', '.join(CAPTURE_FORMATS)} (use --from to choose one)")
    if face is not None and chosen != "openface":
        raise CaptureFormatError(f"{name}: --face applies to OpenFace captures, not {chosen}")
    readers = {"openface": read_openface, "pyfeat": read_pyfeat,
               "livelinkface": read_live_link_face}
    reader = readers.get(chosen, read_blendshape_table)
    accepted = set(inspect.signature(reader).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise CaptureFormatError(f"{name}: option(s) {', '.join(unknown)} do not apply to "
                                 f"{chosen} captures")
    try:
        if chosen == "openface":
            return read_openface(name, face=face, **options)
        if reader is read_blendshape_table:
            return read_blendshape_table(name, format=chosen, **options)
        return reader(name, **options)
    except CaptureFormatError as exc:
        # A header refused by the reader --from chose: say what was found in it.
        message = str(exc)
        if dialect.note() and message.startswith(f"{name}: line 1:") and \
                dialect.note() not in message:
            raise CaptureFormatError(f"{message} ({dialect.note()})") from None
        raise
