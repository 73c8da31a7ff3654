"""Py-Feat ``Fex`` CSV (``cosanlab/py-feat`` 2.0.3, ``Detectorv1.forward()``): AU columns
``AU01`` ... ``AU43`` and, from the MediaPipe-based detectors, ``_neutral`` plus 51 ARKit
blendshapes for the same frames."""

from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.errors import CaptureFormatError
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
from facs_rig.io.captures._table import read_header, read_table
from facs_rig.io.captures.arkit_names import ARKIT_NAMES
from facs_rig.io.captures.arkit_tables import arkit_columns

__all__ = ["read_pyfeat", "is_pyfeat_header", "blendshape_columns", "DEFAULT_VIDEO_FPS"]

_AU = re.compile(r"^AU(\d\d)$")
#: Py-Feat writes the video frame index but not the video's rate; assumed unless given.
DEFAULT_VIDEO_FPS = 30.0


def is_pyfeat_header(header: tuple[str, ...]) -> bool:
    """True for a Py-Feat Fex header: bare ``AUxx`` columns with Py-Feat's face box or ``frame``."""
    names = set(header)
    return (sum(1 for n in header if _AU.match(n)) >= 5
            and bool({"FaceRectX", "frame", "input", "approx_time"} & names))


def blendshape_columns(header: tuple[str, ...], name: str) -> dict[str, str]:
    """Canonical ARKit name -> column of a Py-Feat header's MediaPipe blendshapes; empty when the
    file has none (fewer than 40 ARKit names: Py-Feat's other detectors write no blendshapes)."""
    mapping = arkit_columns(header, name)
    return mapping if len(mapping) >= 40 else {}


def read_pyfeat(path, *, fps: float | None = None) -> Capture:
    """Read a Py-Feat Fex CSV.

    Parameters
    ----------
    path : path-like
    fps : float, optional
        Video frame rate for turning ``frame`` into seconds (default
        :data:`DEFAULT_VIDEO_FPS`; Py-Feat's ``approx_time`` is rounded to whole seconds).

    Returns
    -------
    Capture
        ``aus``: Py-Feat's AU probabilities 0-1 used as intensities; ``blendshapes`` when the
        file has the MediaPipe blendshape columns. Rows with every AU empty (no face found)
        are gaps. Several faces in one frame: the first row of each frame is kept (counted).
    """
    name = str(path)
    header = read_header(path)
    if not is_pyfeat_header(header):
        raise CaptureFormatError(f"{name}: line 1: not a Py-Feat Fex CSV (no AU01-style columns "
                                 f"with FaceRectX or frame)")
    aus = sorted(n for n in header if _AU.match(n))
    mapping = blendshape_columns(header, name)
    shapes = tuple(n for n in ARKIT_NAMES if n in mapping)
    time_column = "frame" if "frame" in header else None
    text = ("input",) if "input" in header else ()
    table = read_table(path, tuple(aus) + tuple(mapping[n] for n in shapes)
                       + ((time_column,) if time_column else ()), text)
    log = RepairLog()
    rate = fps or DEFAULT_VIDEO_FPS
    if "input" in table.text:
        inputs = sorted(set(table.text["input"]))
        if len(inputs) > 1:
            raise CaptureFormatError(f"{name}: holds detections of {len(inputs)} inputs "
                                     f"({', '.join(inputs[:3])}{', ...' if len(inputs) > 3 else ''}); "
                                     f"split it into one file per video")
    if time_column:
        seconds = table.numeric[time_column] / rate
    else:
        seconds = np.arange(table.n_rows, dtype=np.float64) / rate
        log.add(f"rows without a frame column read at {rate:g} fps", table.n_rows)
    keep = clean_times(table, seconds, time_column or "row", log)
    times = seconds[keep].astype(np.float64)
    values = to_float32(np.stack([table.numeric[c][keep] for c in aus], axis=1))
    unit_range(values, log, "AU values")
    gaps = np.all(np.isnan(values), axis=1)
    log.add("rows with no face (every AU empty) treated as gaps", int(gaps.sum()))
    log.add("empty or NaN cells treated as gaps", int(np.isnan(values[~gaps]).sum()))
    fps_found = estimate_fps(times)
    inputs = tuple(aus) + tuple(mapping[n] for n in shapes)
    meta = MappingProxyType({"source": name, "format": "pyfeat", "video_fps": rate})
    curves = AUCurves(times, values, tuple(Channel(int(c[2:])) for c in aus), fps_found, meta)
    blend = None
    if shapes:
        weights = to_float32(np.stack([table.numeric[mapping[n]][keep] for n in shapes], axis=1))
        unit_range(weights, log, "blendshape weights")
        weights[gaps] = np.nan
        blend = TargetWeights(times, weights, shapes, fps_found, meta)
    metadata = with_constant_columns(meta, table, inputs, np.flatnonzero(keep)[~gaps])
    return restore_dropped_frames(Capture(name, "pyfeat", curves, blend, gaps, log.notes(), (),
                                          metadata))
