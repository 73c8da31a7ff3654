"""OpenFace 2.x FeatureExtraction / FaceLandmarkVidMulti CSV (OpenFace ``RecorderCSV.cpp``; wiki).

Variants handled: ``", "`` (the OpenFace writer) or ``","`` separators (header and rows may
differ), with or without ``face_id`` (several faces: pick one with ``face``), any subset of the
feature groups. Only the columns used here are parsed: time, ``confidence``, ``success``,
``AUxx_r`` / ``AUxx_c``, ``pose_R*`` / ``pose_Tz`` and ``gaze_angle_*``.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.solve import DEFAULT_POSE_SCALE, PoseScale, pose_to_aus
from facs_rig.core.vocabulary import INTENSITY_LETTERS, IntensityScale
from facs_rig.errors import CaptureFormatError
from facs_rig.io.captures._common import (
    Capture,
    RepairLog,
    clean_times,
    estimate_fps,
    restore_dropped_frames,
    with_constant_columns,
)
from facs_rig.io.captures._table import read_header, read_table
from facs_rig.resources import load_vocabulary

__all__ = ["read_openface", "openface_intensity", "is_openface_header", "is_openface_au_column"]

_INTENSITY = re.compile(r"^AU(\d\d)_r$")
_PRESENCE = re.compile(r"^AU(\d\d)_c$")
#: Rows below this confidence are gaps. OpenFace reports 0-1; its own visualiser stops drawing
#: landmarks below 0.2 but AU estimates degrade well before; 0.75 is a conservative choice.
DEFAULT_MIN_CONFIDENCE = 0.75


def is_openface_au_column(name: str) -> bool:
    """True for a column named as OpenFace names its AU outputs: ``AU12_r`` (intensity, 0-5) or
    ``AU12_c`` (presence, 0/1): two digits and a lower-case suffix, as its CSV names them (OpenFace
    2.x wiki, "Output Format", Action Units: ``AU01_r`` ... intensity, ``AU01_c`` ... presence)."""
    return bool(_INTENSITY.match(name) or _PRESENCE.match(name))


def is_openface_header(header: tuple[str, ...]) -> bool:
    """True for an OpenFace header: ``timestamp`` plus ``AUxx_r``/``AUxx_c`` or pose/gaze columns."""
    names = set(header)
    has_aus = any(is_openface_au_column(n) for n in header)
    has_pose = bool({"pose_Rx", "gaze_angle_x"} & names)
    return "timestamp" in names and (has_aus or has_pose)


def openface_intensity(raw: np.ndarray, source: IntensityScale,
                       target: IntensityScale) -> np.ndarray:
    """Map OpenFace's 0-5 ``AUxx_r`` onto a 0-1 intensity scale band by band.

    The ``openface`` scale says raw 1..5 are the letters A..E, each band reaching half-way to
    its neighbours (A up to 1.5, B up to 2.5, ...), and raw 0.5 is the presence threshold
    (``intensity_scales.json``: OpenFace issue #799, the DISFA labelling convention). The
    curve is piecewise linear through the band edges: (0, 0), (source minimum, target
    minimum), then each letter's upper edge on the source onto its upper edge on the target,
    so a raw value reads the same letter on both scales (``value_to_letter``): OpenFace 3.2,
    a C, drives 0.445, inside ``facshuman``'s C band (0.20, 0.55], not 0.62, a D, as the curve
    through the letters' values (1 -> 0.10, 2 -> 0.20, 3 -> 0.55, ...) put it: that curve laid
    each OpenFace integer on the top edge of a ``facshuman`` band (FACSHuman's letters drive
    the top of their bands), so anything just above an integer read one letter too high
    (1.4, an A, read B; 4.4, a D, read E). Values above E stay at E; NaN stays NaN.
    """
    knots_in = [0.0, source.minimum] + [source.upper[k] for k in INTENSITY_LETTERS]
    knots_out = [0.0, target.minimum] + [target.upper[k] for k in INTENSITY_LETTERS]
    knots_out = [value / target.maximum for value in knots_out]
    return np.interp(raw, knots_in, knots_out).astype(np.float32)


def read_openface(path, *, face: int | None = None,
                  min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                  gate_presence: bool = False, scale: str | None = None,
                  pose_scale: PoseScale = DEFAULT_POSE_SCALE) -> Capture:
    """Read an OpenFace 2.x CSV into AU curves.

    Parameters
    ----------
    path : path-like
    face : int, optional
        ``face_id`` to keep when the file holds several faces (default: the lowest id).
    min_confidence : float
        Rows with ``confidence`` below this, or ``success`` 0, become gaps.
    gate_presence : bool
        Zero ``AUxx_r`` wherever ``AUxx_c`` is 0, and read ``AU28_c`` (which has no ``_r``) as
        the scale's unscored letter. OpenFace trains both models separately, so they disagree;
        gating trades recall for fewer false positives.
    scale : str, optional
        Intensity scale of the output (default: the vocabulary's default).
    pose_scale : PoseScale
        Full-scale angles for the head (51-58) and eye (61-64) AUs.

    Returns
    -------
    Capture
        ``aus`` holds the ``AUxx_r`` AUs, then head and gaze AUs when present.
    """
    header = read_header(path)
    name = str(path)
    if not is_openface_header(header):
        raise CaptureFormatError(f"{name}: line 1: not an OpenFace CSV (no 'timestamp' with "
                                 f"AUxx_r, AUxx_c, pose_R* or gaze_angle_* columns)")
    intensity = sorted(n for n in header if _INTENSITY.match(n))
    presence = sorted(n for n in header if _PRESENCE.match(n))
    pose = [n for n in ("pose_Rx", "pose_Ry", "pose_Rz", "pose_Tz") if n in header]
    gaze = [n for n in ("gaze_angle_x", "gaze_angle_y") if n in header]
    optional = [n for n in ("face_id", "confidence", "success") if n in header]
    columns = tuple(["timestamp", *optional, *intensity, *presence, *pose, *gaze])
    table = read_table(path, columns)
    data = table.numeric
    log = RepairLog()
    rows = np.ones(table.n_rows, dtype=bool)
    faces: tuple[int, ...] = ()
    if "face_id" in data:
        ids = data["face_id"]
        if not np.all(np.isfinite(ids)):
            row = int(np.flatnonzero(~np.isfinite(ids))[0])
            raise CaptureFormatError(f"{table.where(row)}, column face_id: missing face id")
        faces = tuple(int(v) for v in np.unique(ids))
        chosen = faces[0] if face is None else face
        if chosen not in faces:
            raise CaptureFormatError(f"{name}: no face {chosen} in this file; faces present: "
                                     f"{', '.join(map(str, faces))}")
        rows = ids == chosen
    elif face not in (None, 0):
        raise CaptureFormatError(f"{name}: has no face_id column (one face, number 0); "
                                 f"face {face} does not exist")
    indices = np.flatnonzero(rows)
    times = data["timestamp"][indices]
    sub = table if indices.size == table.n_rows else _subset_lines(table, indices)
    keep = clean_times(sub, times, "timestamp", log)
    indices = indices[keep]
    times = times[keep]
    n = indices.size

    lost = np.zeros(n, dtype=bool)
    if "success" in data:
        success = data["success"][indices]
        lost |= ~(success > 0.5)
    if "confidence" in data:
        confidence = data["confidence"][indices]
        lost |= ~(confidence >= min_confidence)
    log.add("rows with success 0 or confidence below "
            f"{min_confidence:g} treated as gaps", int(lost.sum()))

    vocabulary = load_vocabulary()
    source_scale, target_scale = vocabulary.scale("openface"), vocabulary.scale(scale)
    columns_out: list[np.ndarray] = []
    channels: list[Channel] = []
    for column in intensity:
        raw = data[column][indices].astype(np.float64)
        _count_bad(raw, column, log, 0.0, source_scale.maximum)
        raw = np.clip(raw, 0.0, source_scale.maximum)
        if gate_presence and f"{column[:4]}_c" in data:
            present = data[f"{column[:4]}_c"][indices]
            raw = np.where(present > 0.5, raw, np.where(np.isnan(present), np.nan, 0.0))
        columns_out.append(openface_intensity(raw, source_scale, target_scale))
        channels.append(Channel(int(column[2:4])))
    if gate_presence:
        for column in presence:
            if f"{column[:4]}_r" in data:
                continue
            present = data[column][indices]
            unscored = target_scale.letter_to_value(None)
            columns_out.append(np.where(present > 0.5, unscored,
                                        np.where(np.isnan(present), np.nan, 0.0)).astype(np.float32))
            channels.append(Channel(int(column[2:4])))
    # Head pose: OpenFace's camera frame has x right, y down, z away from the camera and
    # R = Rx*Ry*Rz (wiki "Output Format"); a positive pose_Rx is head down and a positive
    # pose_Ry a turn to the subject's right (OpenFace issue #966), and a positive pose_Rz
    # moves the top of the head to the image right, the subject's left.
    def column_or_none(key: str, sign: float = 1.0):
        return sign * data[key][indices] if key in data else None

    forward = None
    if "pose_Tz" in data:
        distance = data["pose_Tz"][indices]
        # Forward (57) is toward the camera: less distance than the take's median.
        forward = np.nanmedian(distance) - distance if np.isfinite(distance).any() else distance
    pose_values, pose_channels = pose_to_aus(
        yaw=column_or_none("pose_Ry", -1.0), pitch=column_or_none("pose_Rx", -1.0),
        roll=column_or_none("pose_Rz"), forward=forward,
        # gaze_angle_x is positive looking to the image right (the subject's left) and
        # gaze_angle_y positive looking down (wiki "Output Format").
        gaze_yaw=column_or_none("gaze_angle_x"), gaze_pitch=column_or_none("gaze_angle_y", -1.0),
        n_frames=n, scale=pose_scale)
    if not columns_out and not pose_channels:
        raise CaptureFormatError(f"{name}: line 1: no AU, pose or gaze columns to read")
    values = np.concatenate([np.stack(columns_out, axis=1) if columns_out
                             else np.zeros((n, 0), np.float32), pose_values], axis=1)
    all_channels = tuple(channels) + pose_channels
    nan_cells = int(np.isnan(values[~lost]).sum())
    log.add("empty or NaN cells treated as gaps", nan_cells)
    values[lost] = np.nan
    order = sorted(range(len(all_channels)), key=lambda k: all_channels[k].sort_key)
    values = np.ascontiguousarray(values[:, order], dtype=np.float32)
    all_channels = tuple(all_channels[k] for k in order)
    times = times.astype(np.float64)
    # The tracker's own channels (not success, confidence or the AUxx_c it was not asked to
    # gate with) over the rows where it tracked the face.
    inputs = (*intensity, *(presence if gate_presence else ()), *pose, *gaze)
    meta = MappingProxyType({"source": name, "format": "openface",
                             "face": None if not faces else (faces[0] if face is None else face),
                             "scale": target_scale.name})
    curves = AUCurves(times, values, all_channels, estimate_fps(times), meta)
    metadata = with_constant_columns(meta, table, inputs, indices[~lost])
    return restore_dropped_frames(Capture(name, "openface", curves, None, lost, log.notes(), faces,
                                          metadata))


def _count_bad(raw: np.ndarray, column: str, log: RepairLog, lower: float, upper: float) -> None:
    with np.errstate(invalid="ignore"):
        outside = int(((raw < lower) | (raw > upper)).sum())
    log.add(f"AU values outside {lower:g}-{upper:g} clipped", outside)


def _subset_lines(table, indices):
    from dataclasses import replace

    return replace(table, lines=table.lines[indices])
