"""ARKit-style blendshape tables: Live Link Face takes, MediaPipe blendshape CSVs, Face Cap tracks.

All three are a time column plus ARKit blendshape columns, read **by name** (the column order
differs between apps and versions, see :mod:`~facs_rig.io.captures.arkit_names`), into
:class:`TargetWeights` with the canonical names of :data:`ARKIT_NAMES`. The writer of Live Link
Face CSVs is here too.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np

from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.core.solve import DEFAULT_POSE_SCALE, PoseScale, pose_to_aus
from facs_rig.errors import CaptureFormatError
from facs_rig.io.atomic import atomic_write
from facs_rig.io.captures._common import (
    Capture,
    RepairLog,
    clean_times,
    estimate_fps,
    restore_dropped_frames,
    to_float32,
    unit_range,
    with_constant_columns,
)
from facs_rig.io.captures._table import name_list, read_header, read_table
from facs_rig.io.captures.arkit_names import (
    ARKIT_NAMES,
    LIVE_LINK_FACE_ROTATIONS,
    canonical_arkit_name,
    pascal_case,
)

__all__ = ["read_live_link_face", "read_blendshape_table", "write_live_link_face",
           "parse_timecodes", "infer_timecode_rate", "arkit_columns", "TIME_COLUMNS",
           "live_link_face_columns"]

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;])(\d{1,3}(?:\.\d*)?)$")
#: Timecode rates Live Link Face can run at; the base is inferred from the largest frame field.
_TIMECODE_RATES = (24, 25, 30, 48, 50, 60, 120)

#: Time columns a generic blendshape table may have, with their unit in seconds (None: frames).
TIME_COLUMNS = {"time_s": 1.0, "time": 1.0, "seconds": 1.0, "timestamp": 1.0,
                "timestamp_ms": 1e-3, "time_ms": 1e-3, "frame": None, "frame_index": None}


def arkit_columns(header: tuple[str, ...], name: str) -> dict[str, str]:
    """Canonical ARKit name -> header column, for every ARKit column of the header of file
    ``name``.

    Raises
    ------
    CaptureFormatError
        When two columns spell the same shape (``eyeBlinkLeft`` and ``EyeBlink_L``), naming
        the file and line 1.
    """
    found: dict[str, str] = {}
    for column in header:
        canonical = canonical_arkit_name(column)
        if canonical is None:
            continue
        if canonical in found:
            raise CaptureFormatError(
                f"{name}: line 1: columns {found[canonical]!r} and {column!r} are the same ARKit shape "
                f"{canonical}")
        found[canonical] = column
    return found


def live_link_face_columns(header: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The header's own spelling of Live Link Face's ``Timecode`` and ``BlendShapeCount``
    columns (None for one it lacks), matched in any case.

    The app writes ``Timecode`` and ``BlendShapeCount`` (``BlendshapeCount`` in some versions);
    a take whose header was retyped or exported by a tool as ``TimeCode`` is still that take
    (it was read as a MediaPipe table at a guessed 30 fps, its timecode thrown away).
    """
    timecode = next((c for c in header if c.lower() == "timecode"), None)
    count = next((c for c in header if c.lower() == "blendshapecount"), None)
    return timecode, count


def parse_timecodes(cells: tuple[str, ...], *, rate: float | None = None,
                    where=lambda row: f"row {row + 1}") -> tuple[np.ndarray, float]:
    """Seconds of ``HH:MM:SS:FF.fff`` timecodes, relative to the first one.

    Parameters
    ----------
    cells : tuple of str
    rate : float, optional
        Timecode frame rate. When None it is inferred (:func:`infer_timecode_rate`: over a
        whole second, the common rate above the largest frame field that the rows' spacing
        agrees with; Live Link Face counts frames at 60 even when it records 30 rows a second,
        as the real take S07-001.csv shows).
    where : callable
        Row index -> location text for messages.

    Returns
    -------
    seconds : (n,) float64
    rate : float
    """
    parts, drop = _timecode_parts(cells, where)
    seconds, rate, _ = _timecode_seconds(parts, rate, where, lambda row: cells[row], drop=drop)
    return seconds, rate


def _timecode_parts(cells: tuple[str, ...], where) -> tuple[np.ndarray, bool]:
    """``(n, 4)`` hours, minutes, seconds and frame field of ``HH:MM:SS:FF.fff`` cells, and
    whether they are drop-frame timecodes (``HH:MM:SS;FF``: the semicolon marks drop-frame
    timecode by convention; every cell of a take must agree)."""
    parts = np.empty((len(cells), 4), dtype=np.float64)
    separators = set()
    for row, cell in enumerate(cells):
        match = _TIMECODE.match(cell)
        if not match:
            shown = cell if len(cell) <= 30 else cell[:27] + "..."
            raise CaptureFormatError(f"{where(row)}, column Timecode: {shown!r} is not a "
                                     f"HH:MM:SS:FF.fff timecode")
        hours, minutes, seconds, separator, frames = match.groups()
        separators.add(separator)
        if len(separators) > 1:
            raise CaptureFormatError(f"{where(row)}, column Timecode: {cell!r} mixes drop-frame "
                                     f"(';') and non-drop (':') timecodes in one take")
        parts[row] = [float(hours), float(minutes), float(seconds), float(frames)]
    return parts, separators == {";"}


#: Byte layout of Live Link Face's fixed-width timecode cell ``HH:MM:SS:FF.fff,``.
_DIGITS = np.array([0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 14])
_PLACES = np.array([[36000, 3600, 0, 0, 0, 0, 0, 0, 0, 0, 0],      # hours
                    [0, 0, 600, 60, 0, 0, 0, 0, 0, 0, 0],          # minutes -> seconds
                    [0, 0, 0, 0, 10, 1, 0, 0, 0, 0, 0],            # seconds
                    [0, 0, 0, 0, 0, 0, 10, 1, 0.1, 0.01, 0.001]],  # frames
                   dtype=np.float64)


def _fixed_timecodes(fields: np.ndarray) -> np.ndarray | None:
    """``(n, 4)`` hours, minutes*60, seconds, frames from ``(n, 16)`` bytes, or None if any row
    is not exactly ``DD:DD:DD:DD.DDD,``."""
    digits = fields[:, _DIGITS].astype(np.int16) - 48
    layout_ok = (np.all((digits >= 0) & (digits <= 9))
                 and np.all(fields[:, [2, 5, 8]] == ord(":")) and np.all(fields[:, 11] == ord("."))
                 and np.all(fields[:, 15] == ord(",")))
    if not layout_ok:
        return None
    parts = digits.astype(np.float64) @ _PLACES.T
    parts[:, 0] /= 3600.0  # hours column holds seconds of hours; keep units as parse_timecodes
    parts[:, 1] /= 60.0
    return parts


#: Drop-frame timecode exists for the NTSC rates 29.97 and 59.94 only (counted as 30 and 60):
#: it skips the first frame numbers of every minute except each tenth (Epic's ``FTimecode``
#: documentation, ``FromFrameNumber``: "drop the first two frames on every minute (except when
#: Minute % 10 == 0) ... only valid for NTSC framerates (29.97, 59.94)"), 2 numbers at 29.97 and
#: 4 at 59.94 (a fifteenth of the nominal rate; SMPTE ST 12-1, as the ``tank``/sgtk timecode
#: module of Autodesk's toolkit computes it).
_DROP_FRAME_RATES = (30, 60)


#: The NTSC rate of each whole rate, for the rows of a drop-frame take.
_NTSC_OF = {30.0: 29.97, 60.0: 59.94}


def _timecode_seconds(parts: np.ndarray, rate: float | None, where, cell_of, *,
                      drop: bool = False) -> tuple[np.ndarray, float, str | None]:
    """Seconds of ``(n, 4)`` timecode parts, relative to the first row, the rate they were read
    at, and a note when the take could not tell its rate (see :func:`infer_timecode_rate`).
    ``drop``: drop-frame timecodes (:data:`_DROP_FRAME_RATES`), read at 29.97 or 59.94 fps."""
    note = None
    if rate is None:
        rate, note = infer_timecode_rate(parts, where, drop=drop)
    # A given drop-frame rate may be nominal (30) or real (29.97); either counts 30 numbers.
    nominal = float(round(rate)) if drop else float(rate)
    if drop and nominal not in _DROP_FRAME_RATES:
        raise CaptureFormatError(f"{where(0)}, column Timecode: {cell_of(0)!r} is a drop-frame "
                                 f"timecode (';'), which exists at 29.97 and 59.94 fps only, "
                                 f"not {rate:g}")
    bad = (parts[:, 1] >= 60) | (parts[:, 2] >= 60) | (parts[:, 3] >= nominal)
    skipped = nominal // 15  # frame numbers a drop-frame minute starts without
    if drop:
        # A number drop-frame timecode never shows: the minute's first ones, but each tenth's.
        bad |= ((parts[:, 2] == 0) & (parts[:, 1] % 10 != 0)
                & (np.floor(parts[:, 3]) < skipped))
    bad = np.flatnonzero(bad)
    if bad.size:
        raise CaptureFormatError(f"{where(int(bad[0]))}, column Timecode: {cell_of(int(bad[0]))!r} "
                                 f"is out of range at {_rate_text(nominal, drop)}")
    if drop:
        minutes = parts[:, 0] * 60 + parts[:, 1]
        frames = ((parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2]) * nominal + parts[:, 3]
                  - skipped * (minutes - minutes // 10))
        frame_seconds = 1001.0 / (nominal * 1000.0)  # 30000/1001 or 60000/1001 frames a second
        seconds = frames * frame_seconds
        day = (_DAY * nominal - skipped * (24 * 60 - 24 * 6)) * frame_seconds
        rate = nominal / 1.001
    else:
        seconds = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + parts[:, 3] / rate
        day = _DAY
    seconds = seconds + _midnight_wraps(seconds, rate, where, cell_of, day=day)
    return seconds - (seconds[0] if seconds.size else 0.0), float(rate), note


#: The rate a take too short to tell its own is read at: Unreal's importer of Live Link Face
#: CSVs reads every take's frame field at 60 fps (``Frames / 60.0`` in
#: ``LiveLinkFaceImporterFactory.cpp``, Epic's LiveLinkFaceImporter plugin), and both sample
#: takes count at 60.
DEFAULT_TIMECODE_RATE = 60
#: A step across a second boundary is a whole number of the take's usual step within a second
#: when it lies within this fraction of it (the tolerance of ``_common.dropped_frames``).
_BOUNDARY_TOLERANCE = 0.25


def infer_timecode_rate(parts: np.ndarray, where=lambda row: f"row {row + 1}", *,
                        drop: bool = False) -> tuple[float, str | None]:
    """The frame rate of a take's timecodes, and a note when the take could not tell it.

    The frame field counts 0 to rate - 1 within each second, so over one whole second its
    maximum is within one row's step of the rate, and the rate is among the common rates
    (:data:`_TIMECODE_RATES`) above the largest frame field. Among those, the rate is the one
    under which each step across a second boundary is a whole number of the take's usual step
    within a second, with the fewest frames missing there (a 25 fps timecode read at 24 would
    make every boundary step short; one read at 50 would put 25 missing frames at each); a take
    whose rows are too irregular for that takes the smallest rate above its largest field.

    A take that never holds a whole second (the rows of one second label between two others)
    shows no maximum. When it crosses a second boundary with rows within a second, the spacing
    of its rows still tells the rate if exactly one candidate makes the boundary step one usual
    step (no frame missing there); otherwise it is read at :data:`DEFAULT_TIMECODE_RATE`.
    Either way the returned note says so (a 2-row take with frame fields 47 and 49 was read at
    50 fps, and one whose fields stayed below 24 at 60, with no word of either).

    Parameters
    ----------
    parts : (n, 4) float
        Hours, minutes, seconds and frame field (with its sub-frame fraction) of each row.
    where : callable
        Row index -> location text for messages.
    drop : bool
        Drop-frame timecodes: the rate is 30 or 60 (29.97 or 59.94 counted as drop-frame
        timecode counts them), the numbers each minute skips are no missing frames, and a take
        that cannot tell its rate is read at 30 (29.97 fps, the rate drop-frame timecode was
        made for).

    Returns
    -------
    rate : float
        The nominal rate (30 or 60 for drop-frame timecodes).
    note : str or None
        Set when the take was shorter than a whole timecode second.
    """
    frames = parts[:, 3]
    largest = float(frames.max()) if frames.size else 0.0
    candidates = [r for r in (_DROP_FRAME_RATES if drop else _TIMECODE_RATES) if largest < r]
    if not candidates:
        row = int(frames.argmax())
        raise CaptureFormatError(f"{where(row)}, column Timecode: frame field {largest:g} is "
                                 f"above every timecode rate")
    label = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2]
    seconds_apart = np.diff(label)
    seconds_apart[seconds_apart < 0] += 86400.0  # across midnight
    crossing = seconds_apart > 0
    frame_steps = np.diff(frames)
    within = frame_steps[~crossing & (frame_steps > 0)]
    skipping_minutes = np.zeros(frame_steps.shape[0])
    if drop:  # minutes whose first frame numbers the timecode skips, between two rows
        minutes = parts[:, 0] * 60 + parts[:, 1]
        skipping_minutes = np.diff(minutes - minutes // 10)
        skipping_minutes[skipping_minutes < 0] += 24 * 60 - 24 * 6  # across midnight
    costs: list[tuple[float, int]] = []
    if crossing.any() and within.size:
        usual = float(np.median(within))
        for rate in candidates:
            boundary = (seconds_apart[crossing] * rate + frame_steps[crossing]
                        - (rate // 15) * skipping_minutes[crossing])
            whole = np.rint(boundary / usual)
            if np.all((whole >= 1) & (np.abs(boundary - whole * usual)
                                      <= _BOUNDARY_TOLERANCE * usual)):
                costs.append((float((whole - 1).sum()), rate))
    if int(crossing.sum()) >= 2:  # a whole labelled second lies between the first and last
        return float(min(costs)[1] if costs else candidates[0]), None
    # Without a whole second the largest field bounds nothing: frames missing at the boundary
    # fit any rate (two seconds lost at midnight fit 24, 25, ... alike), so the spacing tells
    # the rate only when one rate alone needs no missing frame there.
    exact = [rate for cost, rate in costs if cost == 0]
    spaced = exact[0] if len(exact) == 1 else None
    if spaced is not None:
        return float(spaced), (f"take shorter than a whole timecode second: timecode rate "
                               f"{_rate_text(spaced, drop)} told by the spacing of its rows "
                               f"across a second")
    default = _DROP_FRAME_RATES[0] if drop else DEFAULT_TIMECODE_RATE
    rate = default if default in candidates else candidates[0]
    usual = "drop-frame timecode's usual rate" if drop else "Live Link Face's usual rate"
    return float(rate), (f"take shorter than a whole timecode second: its timecode rate cannot "
                         f"be told, read at {_rate_text(rate, drop)} ({usual})")


def _rate_text(rate: float, drop: bool) -> str:
    """``60 fps``, or ``29.97 fps drop-frame`` for a drop-frame timecode's nominal 30."""
    return f"{rate / 1.001:.2f} fps drop-frame" if drop else f"{rate:g} fps"


#: Seconds in a day: the time-of-day clock of a timecode restarts at 00:00:00:00 after 24 h.
_DAY = 86400.0
#: A take crosses midnight where a timecode in the last minute before 24:00 is followed by one in
#: the first minute after 00:00: whatever was lost between them (frames a tracker dropped right
#: at midnight) is a gap of the take, as the same gap at noon is, not a reason to refuse it.
_NEAR_MIDNIGHT = 60.0


def _midnight_wraps(seconds: np.ndarray, rate: float, where, cell_of, *,
                    day: float = _DAY) -> np.ndarray:
    """``(n,)`` seconds to add to each row of a take recorded across midnight (0 before it,
    86400 after it), or a :class:`CaptureFormatError` for a timecode that goes backwards.

    A real midnight crossing is a timecode within :data:`_NEAR_MIDNIGHT` of 24:00 followed by one
    within it of 00:00, once in a take (a take is shorter than a day). Any other backward step
    (one stray ``00:00:00:00.000`` row in a take at 12:27) is an error naming the line: read as
    a crossing it made a 5-row take 24 hours long. So is a row more than :data:`_LONGEST_STEP`
    after the one before it once unwrapped (a stray first row, a stray 23:59:30 row in a take
    just after midnight, two takes joined).
    """
    steps = np.diff(seconds)
    backwards = np.flatnonzero(steps < 0)
    wraps = np.zeros(seconds.shape[0], dtype=np.float64)
    if not backwards.size:
        _refuse_leaps(seconds, where, cell_of)  # a stray first row is a leap forward
        return wraps
    crossing = ((seconds[backwards] >= day - _NEAR_MIDNIGHT)
                & (seconds[backwards + 1] < _NEAR_MIDNIGHT))
    bad = backwards[~crossing]
    if not bad.size and backwards.size > 1:
        bad = backwards[1:]  # a second crossing would make the take longer than a day
    if bad.size:
        row = int(bad[0]) + 1
        raise CaptureFormatError(
            f"{where(row)}, column Timecode: {cell_of(row)!r} is earlier than the previous row's "
            f"{cell_of(row - 1)!r} (timestamps out of order; a take across midnight steps from "
            f"near 24:00 to near 00:00)")
    wraps[backwards + 1] = day
    wraps = np.cumsum(wraps)
    _refuse_leaps(seconds + wraps, where, cell_of)
    return wraps


#: The longest step between two rows of one take: Live Link Face writes one file per recording,
#: so rows ten minutes apart are two recordings joined (or a stray row), not frames of one.
_LONGEST_STEP = 600.0


def _refuse_leaps(seconds: np.ndarray, where, cell_of) -> None:
    """A :class:`CaptureFormatError` naming the first row more than :data:`_LONGEST_STEP`
    after the one before it (``seconds``: unwrapped, ``(n,)``)."""
    leaps = np.flatnonzero(np.diff(seconds) > _LONGEST_STEP)
    if leaps.size:
        row = int(leaps[0]) + 1
        gap = float(seconds[row] - seconds[row - 1])
        raise CaptureFormatError(
            f"{where(row)}, column Timecode: {cell_of(row)!r} is {gap:.0f} s after the previous "
            f"row's {cell_of(row - 1)!r}: more than {_LONGEST_STEP:.0f} s between two frames is "
            f"two recordings joined or a stray row, not one take (split the file there)")


def _weights(table, mapping: dict[str, str], log: RepairLog,
             keep: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(name for name in ARKIT_NAMES if name in mapping)
    every = bool(keep.all())
    if table.single_block is not None and table.single_columns == tuple(mapping[n] for n in names):
        # The table's own float32 block, in this order: taken as it is (clipped below in place;
        # the table is not used for weights again) instead of 52 strided column copies.
        values = table.single_block if every else table.single_block[keep]
    else:
        values = np.empty((int(keep.sum()), len(names)), dtype=np.float32)
        for k, name in enumerate(names):
            column = table.numeric[mapping[name]]
            values[:, k] = to_float32(column if every else column[keep])
    unit_range(values, log, "blendshape weights")
    nan_cells = int(np.isnan(values).sum())
    log.add("empty or NaN cells treated as gaps", nan_cells)
    return values, names


def read_live_link_face(path, *, timecode_rate: float | None = None,
                        pose_scale: PoseScale = DEFAULT_POSE_SCALE) -> Capture:
    """Read a Live Link Face CSV take.

    Parameters
    ----------
    path : path-like
    timecode_rate : float, optional
        Frame rate of the ``Timecode`` column (default: inferred, see :func:`parse_timecodes`).
    pose_scale : PoseScale
        Full-scale angles for head (51-56) and eye (61-64) AUs.

    Returns
    -------
    Capture
        ``blendshapes`` with the 52 shapes; ``aus`` with the head AUs (when the take recorded
        head rotation) and eye AUs from the eye rotation columns.
    """
    name = str(path)
    header = read_header(path)
    timecode, count = live_link_face_columns(header)
    if timecode is not None and count is None:
        raise CaptureFormatError(f"{name}: line 1: missing Live Link Face column BlendShapeCount "
                                 f"(the header has {timecode})")
    if timecode is None or count is None:
        raise CaptureFormatError(f"{name}: line 1: not a Live Link Face CSV (needs Timecode and "
                                 f"BlendShapeCount columns)")
    mapping = arkit_columns(header, name)
    missing = [pascal_case(n) for n in ARKIT_NAMES if n not in mapping]
    if missing:
        raise CaptureFormatError(f"{name}: line 1: missing Live Link Face column(s) "
                                 f"{name_list(missing)}")
    rotations = tuple(c for c in LIVE_LINK_FACE_ROTATIONS if c in header)
    numeric = tuple(mapping[n] for n in ARKIT_NAMES) + rotations
    fixed = None
    drop = False  # the fixed-width fast path reads non-drop ':' timecodes only
    if header[0] == timecode:
        table = read_table(path, numeric, leading_width=16,
                           single=tuple(mapping[n] for n in ARKIT_NAMES))
        fields = table.leading_field(16)
        fixed = _fixed_timecodes(fields) if fields is not None else None
    if fixed is not None:
        first = bytes(fields[0, :15]).decode("ascii")
        seconds, rate, rate_note = _timecode_seconds(
            fixed, timecode_rate, table.where, lambda row: bytes(fields[row, :15]).decode("ascii"))
    else:
        table = read_table(path, numeric, (timecode,))
        first = table.text[timecode][0]
        cells = table.text[timecode]
        parts, drop = _timecode_parts(cells, table.where)
        seconds, rate, rate_note = _timecode_seconds(parts, timecode_rate, table.where,
                                                     lambda row: cells[row], drop=drop)
    log = RepairLog()
    keep = clean_times(table, seconds, "Timecode", log)
    times = seconds[keep]
    weights, names = _weights(table, mapping, log, keep)
    notes = log.notes() + ((rate_note,) if rate_note else ())
    n = times.shape[0]
    rot = {c: table.numeric[c][keep] for c in rotations}
    # Eye angles: on the real takes LeftEyeYaw rises as EyeLookInLeft rises (r = -0.999 with
    # EyeLookOutLeft - EyeLookInLeft) and the pitches rise as EyeLookDown rises (r = -0.996 with
    # up - down), i.e. positive yaw looks to the subject's right and positive pitch looks down.
    # The head angles are assumed to share that handedness; the sample takes recorded none.
    gaze_yaw = gaze_pitch = None
    if {"LeftEyeYaw", "RightEyeYaw"} <= rot.keys():
        gaze_yaw = -0.5 * (rot["LeftEyeYaw"] + rot["RightEyeYaw"])
    if {"LeftEyePitch", "RightEyePitch"} <= rot.keys():
        gaze_pitch = -0.5 * (rot["LeftEyePitch"] + rot["RightEyePitch"])
    head = {k: rot.get(k) for k in ("HeadYaw", "HeadPitch", "HeadRoll")}
    recorded = any(v is not None and np.any(v != 0) for v in head.values())
    pose_values, pose_channels = pose_to_aus(
        yaw=-head["HeadYaw"] if recorded and head["HeadYaw"] is not None else None,
        pitch=-head["HeadPitch"] if recorded and head["HeadPitch"] is not None else None,
        roll=-head["HeadRoll"] if recorded and head["HeadRoll"] is not None else None,
        gaze_yaw=gaze_yaw, gaze_pitch=gaze_pitch, n_frames=n, scale=pose_scale)
    gaps = np.all(np.isnan(weights), axis=1) if weights.size else np.zeros(n, bool)
    fps = estimate_fps(times)
    if drop and fps in _NTSC_OF:
        # Rows 1001/30000 s apart are within 1 % of 30 fps, which estimate_fps prefers (rounded
        # stamps cannot tell the two apart); a drop-frame timecode says which it is.
        fps = _NTSC_OF[fps]
    meta = MappingProxyType({"source": name, "format": "livelinkface",
                             "start_timecode": first,
                             "timecode_rate": rate, "head_recorded": recorded})
    blend = TargetWeights(times, weights, names, fps, meta)
    aus = AUCurves(times, pose_values, pose_channels, fps, meta) if pose_channels else None
    rotations = None
    if len(rot) == len(LIVE_LINK_FACE_ROTATIONS):  # kept as recorded, for a Live Link Face copy
        rotations = TargetWeights(times, np.column_stack(
            [rot[c] for c in LIVE_LINK_FACE_ROTATIONS]).astype(np.float32),
            LIVE_LINK_FACE_ROTATIONS, fps, meta)
    return restore_dropped_frames(Capture(name, "livelinkface", aus, blend, gaps, notes, (),
                                          with_constant_columns(meta, table, numeric, keep),
                                          rotations=rotations))


def read_blendshape_table(path, *, format: str, fps: float | None = None) -> Capture:
    """Read a MediaPipe blendshape CSV or a Face Cap weight track (time column + ARKit names).

    Parameters
    ----------
    path : path-like
    format : {'mediapipe', 'facecap'}
        Recorded in the result; both share this layout.
    fps : float, optional
        Rate for a ``frame`` column or for a table with no time column (default 30).

    Notes
    -----
    The time column is the first of :data:`TIME_COLUMNS` present; without one, rows are read
    at ``fps`` and the repair is reported. MediaPipe's ``_neutral`` score is ignored
    (``face_blendshapes_graph.cc``: index 0 is not a shape).

    Raises
    ------
    CaptureFormatError
        Fewer than 40 ARKit columns; or the file is a Live Link Face take (a ``Timecode``
        column, in any case) or a Py-Feat Fex CSV (its ``AUxx`` columns), which hold ARKit
        names too but would lose their timecode (read at a guessed 30 fps) or their own AUs
        here: refused naming what the file is, as the other readers refuse a wrong file.
    """
    name = str(path)
    header = read_header(path)
    _refuse_another_format(header, name, format)
    mapping = arkit_columns(header, name)
    if len(mapping) < 40:
        raise CaptureFormatError(f"{name}: line 1: only {len(mapping)} ARKit blendshape columns; "
                                 f"a {format} table has 51 or 52")
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    columns = tuple(mapping[n] for n in ARKIT_NAMES if n in mapping)
    table = read_table(path, columns + ((time_column,) if time_column else ()))
    log = RepairLog()
    rate = fps or 30.0
    if time_column is None:
        seconds = np.arange(table.n_rows, dtype=np.float64) / rate
        log.add(f"rows without a time column read at {rate:g} fps", table.n_rows)
    elif TIME_COLUMNS[time_column] is None:
        seconds = table.numeric[time_column] / rate
    else:
        seconds = table.numeric[time_column] * TIME_COLUMNS[time_column]
    keep = clean_times(table, seconds, time_column or "row", log)
    times = seconds[keep]
    weights, names = _weights(table, mapping, log, keep)
    gaps = np.all(np.isnan(weights), axis=1)
    meta = MappingProxyType({"source": name, "format": format, "time_column": time_column})
    blend = TargetWeights(times.astype(np.float64), weights, names, estimate_fps(times), meta)
    return restore_dropped_frames(Capture(name, format, None, blend, gaps, log.notes(), (),
                                          with_constant_columns(meta, table, columns, keep)))


def _refuse_another_format(header: tuple[str, ...], name: str, format: str) -> None:
    """Refuse, for ``--from mediapipe``/``facecap``, a header of a format with a reader of its
    own that also holds ARKit names: Live Link Face (its ``Timecode``, the take's only clock:
    read here it became rows at a guessed 30 fps, a 60 fps take twice as long, and the written
    copy restarted at 00:00:00:00) and Py-Feat (its own AU columns and ``frame``)."""
    from facs_rig.io.captures.pyfeat import is_pyfeat_header

    timecode, count = live_link_face_columns(header)
    if timecode is not None:
        columns = f"{timecode}, {count} columns" if count else f"{timecode} column"
        raise CaptureFormatError(f"{name}: line 1: this is a Live Link Face CSV ({columns}): "
                                 f"drop --from {format} or use --from livelinkface")
    if is_pyfeat_header(header):
        raise CaptureFormatError(f"{name}: line 1: this is a Py-Feat Fex CSV (AU01-style columns "
                                 f"with FaceRectX or frame): drop --from {format} or use "
                                 f"--from pyfeat")


def write_live_link_face(weights: TargetWeights, path, *, start_timecode: str = "00:00:00:00.000",
                         timecode_rate: float = 60.0, head: np.ndarray | None = None) -> None:
    """Write ARKit weights as a Live Link Face CSV take (for Unreal and MotionBuilder importers).

    Parameters
    ----------
    weights : TargetWeights
        Columns are matched to the 52 ARKit names in any spelling; missing shapes are written
        as 0. Values are clipped to 0-1.
    path : path-like
        Output file, written atomically.
    start_timecode : str
        Timecode of the first row.
    timecode_rate : float
        Frame rate of the ``Timecode`` column (Live Link Face uses 60).
    head : (n_frames, 9) array, optional
        The nine rotation columns (head yaw/pitch/roll, left and right eye yaw/pitch/roll);
        zeros when None, as in takes recorded without head rotation.
    """
    mapping = {}
    for index, column in enumerate(weights.names):
        canonical = canonical_arkit_name(column)
        if canonical is not None and canonical not in mapping:
            mapping[canonical] = index
    n = weights.n_frames
    table = np.zeros((n, 61), dtype=np.float64)
    source = np.nan_to_num(np.asarray(weights.weights, dtype=np.float64), nan=0.0)
    for k, name in enumerate(_LLF_CSV_ORDER):
        if name in mapping:
            table[:, k] = np.clip(source[:, mapping[name]], 0.0, 1.0)
    if head is not None:
        table[:, 52:] = np.asarray(head, dtype=np.float64).reshape(n, 9)
    rate = float(timecode_rate)
    match = _TIMECODE.match(start_timecode)
    if not match:
        raise CaptureFormatError(f"start timecode {start_timecode!r} is not HH:MM:SS:FF.fff")
    # A drop-frame start (';') is written on as the same label, counted non-drop at ``rate``.
    h, m, s, f = (float(match.group(k)) for k in (1, 2, 3, 5))
    origin = h * 3600 + m * 60 + s + f / rate
    stamps = origin + np.asarray(weights.times, dtype=np.float64) - float(weights.times[0] if n else 0)
    header = ",".join(["Timecode", "BlendShapeCount", *(pascal_case(x) for x in _LLF_CSV_ORDER),
                       *LIVE_LINK_FACE_ROTATIONS])
    lines = [header]
    body = np.char.mod("%.10f", table)
    for row in range(n):
        lines.append(_format_timecode(stamps[row], rate) + ",61," + ",".join(body[row]))
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as stream:
        stream.write("\n".join(lines) + "\n")


def _format_timecode(seconds: float, rate: float) -> str:
    # Round once, in thousandths of a frame, so 59.9996 frames carries into the next second
    # instead of printing an impossible frame 60.000.
    rate_int = int(round(rate))
    milliframes = int(round((seconds % 86400.0) * rate * 1000.0))
    whole_seconds, rest = divmod(milliframes, rate_int * 1000)
    whole_seconds %= 86400
    h, remainder = divmod(whole_seconds, 3600)
    m, s = divmod(remainder, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


#: Column order of Live Link Face's CSV export: the UDP order with JawRight/JawLeft and
#: MouthRight/MouthLeft swapped (the real S07-001.csv header).
_LLF_CSV_ORDER: tuple[str, ...] = tuple(
    {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight",
     "mouthRight": "mouthLeft"}.get(n, n) for n in ARKIT_NAMES)
