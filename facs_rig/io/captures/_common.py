"""What every capture importer returns, and the checks they share (times, ranges, gaps)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.errors import CaptureFormatError
from facs_rig.io.captures._table import Table

__all__ = ["Capture", "RepairLog", "clean_times", "estimate_fps", "unit_range", "dropped_frames",
           "restore_dropped_frames", "with_constant_columns"]


@dataclass(frozen=True)
class Capture:
    """One face's recording from a tracker, as timestamped dense arrays.

    Rows are frames at :attr:`times`; a row where the tracker lost the face (OpenFace
    ``success`` 0, low ``confidence``, empty cells) is a *gap*: its values are NaN and
    :attr:`gaps` is True there. :func:`facs_rig.core.filters.fill_gaps` fills them.

    Attributes
    ----------
    path : str
        Source file.
    format : str
        ``openface``, ``pyfeat``, ``livelinkface``, ``mediapipe`` or ``facecap``.
    aus : AUCurves or None
        AU intensities, 0-1 (the AU detector's own AUs, and head and eye AUs from angles).
    blendshapes : TargetWeights or None
        ARKit blendshape weights, 0-1, canonical names (``eyeBlinkLeft``), for ARKit-style
        captures; solve them to AUs with :func:`facs_rig.io.captures.capture_to_aus`.
    gaps : (n_frames,) bool
        Frames where the whole face was lost.
    repairs : tuple of str
        What was repaired on reading, each with a count (empty when nothing was).
    faces : tuple of int
        Face ids present in the file (OpenFace multi-face output), else ``()``.
    metadata : mapping
        What the reader found (``source``, ``format``, ...), and ``constant_columns``: the
        file's input columns that never change over the take (:func:`with_constant_columns`).
    rotations : TargetWeights or None
        A Live Link Face take's nine rotation columns as recorded (``HeadYaw`` ...
        ``RightEyeRoll``, :data:`LIVE_LINK_FACE_ROTATIONS` order), on the same rows: written
        back when the take is retargeted to a Live Link Face CSV.
    """

    path: str
    format: str
    aus: AUCurves | None
    blendshapes: TargetWeights | None
    gaps: np.ndarray
    repairs: tuple[str, ...] = ()
    faces: tuple[int, ...] = ()
    metadata: Any = field(default_factory=lambda: MappingProxyType({}))
    rotations: TargetWeights | None = None

    @property
    def times(self) -> np.ndarray:
        """``(n_frames,)`` seconds of every row."""
        source = self.aus if self.aus is not None else self.blendshapes
        return source.times

    @property
    def n_frames(self) -> int:
        """Number of rows."""
        return int(self.times.shape[0])

    @property
    def fps(self) -> float | None:
        """Frame rate when the rows are evenly spaced."""
        source = self.aus if self.aus is not None else self.blendshapes
        return source.fps


class RepairLog:
    """Counts of the documented repairs an importer made, for :attr:`Capture.repairs`."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, what: str, count: int) -> None:
        """Record ``count`` occurrences of one kind of repair (zero counts are dropped)."""
        if count:
            self._counts[what] = self._counts.get(what, 0) + int(count)

    def notes(self) -> tuple[str, ...]:
        """``'3 rows with a repeated timestamp dropped'``-style lines."""
        return tuple(f"{count} {what}" for what, count in self._counts.items())


def clean_times(table: Table, times: np.ndarray, column: str, log: RepairLog) -> np.ndarray:
    """Check a capture's timestamps; return the mask of rows to keep.

    Missing or non-finite times and times that go backwards are errors naming the line (a take
    spliced out of order cannot be repaired safely). A row whose time repeats the previous kept
    row's exactly is dropped and counted: trackers write such rows when they stall.
    """
    log.add("last row cut short (the tracker stopped mid-write) dropped", table.cut_short)
    bad = ~np.isfinite(times)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CaptureFormatError(f"{table.where(row)}, column {column}: missing or non-numeric time")
    steps = np.diff(times)
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        row = int(backwards[0]) + 1
        raise CaptureFormatError(
            f"{table.where(row)}, column {column}: time {times[row]:.6g} s is earlier than "
            f"{times[row - 1]:.6g} s on line {int(table.lines[row - 1])} (timestamps out of order)")
    keep = np.ones(times.shape[0], dtype=bool)
    keep[1:] = steps > 0
    log.add("rows with a repeated timestamp dropped", int((~keep).sum()))
    return keep


def with_constant_columns(metadata, table: Table, columns, rows: np.ndarray) -> MappingProxyType:
    """A capture's ``metadata`` plus ``"constant_columns"``: the input ``columns`` whose values
    never change over ``rows`` (the rows kept, with the face tracked), in file order.

    They are channels the tracker did not record (Live Link Face writes ``HeadYaw`` 0
    throughout when head rotation is off) or lost; the batch QC lists them as
    ``flat_channels``. Empty and NaN cells are ignored; a column with no value at all (or no
    tracked row) is constant too. Only the :class:`Capture` carries them, not its curves (whose metadata goes
    into written timelines).
    """
    every = rows.dtype == bool and bool(rows.all())
    ranges: dict[str, tuple[float, float]] = {}
    block = table.single_block
    if every and block is not None and block.shape[0]:
        # The fast path's float32 block (52 blendshapes), reduced along its rows at once: a
        # strided pass per column took 0.25 s on a 60 fps hour.
        lows, highs = np.fmin.reduce(block, axis=0), np.fmax.reduce(block, axis=0)
        ranges = dict(zip(table.single_columns, zip(lows.tolist(), highs.tolist())))
    constant = []
    for column in columns:
        if column not in ranges:
            values = np.asarray(table.numeric[column])
            if not every:
                values = values[rows]
            # fmin/fmax skip NaN (an all-NaN column gives NaN), without copying finite cells.
            ranges[column] = ((float(np.fmin.reduce(values)), float(np.fmax.reduce(values)))
                              if values.size else (0.0, 0.0))
        low, high = ranges[column]
        if low == high or np.isnan(low):
            constant.append(column)
    return MappingProxyType({**metadata, "constant_columns": tuple(constant)})


def estimate_fps(times: np.ndarray) -> float | None:
    """Nominal frame rate of (mostly) evenly spaced times, or None when they are irregular.

    A take with a few dropped frames still has a rate: at least 95 % of the steps must lie
    within 25 % of the median step. The rate is the median step's, refined by the mean of the
    regular steps (millisecond-rounded stamps step 0.017, 0.017, 0.018 at 60 fps) and snapped
    to a common rate within 1 %.
    """
    if times.shape[0] < 2:
        return None
    steps = np.diff(times)
    median = float(np.median(steps))
    if median <= 0:
        return None
    regular = np.abs(steps - median) <= 0.25 * median
    if regular.mean() < 0.95:
        return None
    fps = 1.0 / float(steps[regular].mean())
    for common in (24.0, 25.0, 30.0, 50.0, 60.0, 120.0, 23.976, 29.97, 59.94, 15.0, 12.5):
        if abs(fps - common) / common < 0.01:
            return common
    return round(fps, 3)


#: A step within this fraction of the median step is one frame; within it of ``k`` median steps
#: it is ``k`` frames, ``k - 1`` of them dropped (the tolerance of :func:`estimate_fps`).
_STEP_TOLERANCE = 0.25
#: A take has a nominal rate with dropped frames when at least half of its steps are one frame
#: and at least this fraction are whole frames (one or several).
_ON_GRID_FRACTION = 0.95
#: Most frames per row read that restoring dropped frames may make (a take 90 % missing; a
#: face out of view for two minutes between two 10 s stretches is 7 per row).
MAX_RESTORED_PER_ROW = 10


def dropped_frames(times: np.ndarray) -> np.ndarray | None:
    """Frames missing after each row of a take with a nominal rate, or None when there is none.

    A take has a nominal rate when its steps are mostly one step (the median step: at least
    half of them within 25 % of it) and nearly all (95 %) are whole numbers of it. A step of
    about ``k`` median steps then means ``k - 1`` frames the tracker dropped. A take without
    such a dominant step (genuinely irregular rows) has none.

    Parameters
    ----------
    times : (n,) float64
        Increasing seconds.

    Returns
    -------
    (n - 1,) int64 or None
        Dropped frames after each row (mostly 0); None when the take is irregular or no frame
        was dropped.
    """
    if times.shape[0] < 3:
        return None
    steps = np.diff(times)
    median = float(np.median(steps))
    if not median > 0:
        return None
    frames = np.rint(steps / median)
    on_grid = (frames >= 1) & (np.abs(steps - frames * median) <= _STEP_TOLERANCE * median)
    single = on_grid & (frames == 1)
    if single.mean() < 0.5 or on_grid.mean() < _ON_GRID_FRACTION:
        return None
    missing = np.where(on_grid, frames - 1, 0).astype(np.int64)
    return missing if missing.any() else None


def restore_dropped_frames(capture: Capture) -> Capture:
    """``capture`` with the frames its tracker dropped put back as gaps, at the nominal rate.

    Each step of ``k`` frames (:func:`dropped_frames`) is split into ``k`` equal steps and the
    new rows are gaps (NaN, :attr:`Capture.gaps` True), which the cleaning fills like any lost
    face; the repair is counted (``3 dropped frames (missing rows) filled as gaps``). A take
    with dropped frames so keeps its nominal rate and its times stay on whole frames (a Live
    Link Face timecode), where resampling it to its average rate put every frame between two.

    A take that would be mostly restored frames (more than :data:`MAX_RESTORED_PER_ROW`
    frames per row read: rows hours apart) is returned as it is: it is no take with a few
    dropped frames, and its frames would take memory out of proportion to the file (resampling
    it is then refused by :func:`~facs_rig.core.limits.resampled_count_problem` as before).
    """
    times = np.asarray(capture.times, dtype=np.float64)
    missing = dropped_frames(times)
    if missing is None:
        return capture
    n_rows = times.shape[0]
    n_frames = n_rows + int(missing.sum())
    if n_frames > MAX_RESTORED_PER_ROW * n_rows:
        return capture
    # Row i moves to position i + (frames dropped before it); the frames between two rows
    # split their step evenly.
    position = np.concatenate(([0], np.cumsum(missing + 1)))
    full = np.empty(n_frames, dtype=np.float64)
    steps = np.diff(times) / (missing + 1)
    owner = np.repeat(np.arange(n_rows - 1), missing + 1)  # the row each frame follows
    full[:-1] = times[owner] + (np.arange(n_frames - 1) - position[owner]) * steps[owner]
    full[position] = times  # the recorded rows keep their own times exactly

    def spread(values: np.ndarray) -> np.ndarray:
        out = np.full((n_frames,) + values.shape[1:], np.nan, dtype=values.dtype)
        out[position] = values
        return out

    fps = estimate_fps(full)
    if capture.fps in (29.97, 59.94) and fps is not None and abs(fps - capture.fps) < 0.01 * fps:
        fps = capture.fps  # a drop-frame take's NTSC rate, set by its reader (30 is within 1 %)
    aus = capture.aus
    if aus is not None:
        aus = replace(aus, times=full, values=spread(aus.values), fps=fps)
    shapes = capture.blendshapes
    if shapes is not None:
        shapes = replace(shapes, times=full, weights=spread(shapes.weights), fps=fps)
    rotations = capture.rotations
    if rotations is not None:
        rotations = replace(rotations, times=full, weights=spread(rotations.weights), fps=fps)
    gaps = np.ones(n_frames, dtype=bool)
    gaps[position] = capture.gaps
    note = f"{n_frames - n_rows} dropped frames (missing rows) filled as gaps"
    return replace(capture, aus=aus, blendshapes=shapes, gaps=gaps,
                   repairs=capture.repairs + (note,), rotations=rotations)


def to_float32(values: np.ndarray) -> np.ndarray:
    """``values`` as float32; cells beyond float32's range become +-inf without numpy's
    "overflow encountered in cast" RuntimeWarning on stderr (a cell such as 1e308 in a CSV)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def unit_range(values: np.ndarray, log: RepairLog, what: str, lower: float = 0.0,
               upper: float = 1.0) -> np.ndarray:
    """Clip values to ``[lower, upper]`` in place, counting the clipped cells; NaN is kept."""
    with np.errstate(invalid="ignore"):
        outside = (values < lower) | (values > upper)
    log.add(f"{what} outside {lower:g}-{upper:g} clipped", int(outside.sum()))
    np.clip(values, lower, upper, out=values)
    return values
