"""Per-frame AU intensities as CSV: a ``time`` column and one column per AU channel.

Layout (written by :func:`write_curves_csv`, comma-separated, UTF-8, ``\\n`` line ends)::

    time,AU06,AU12,AU12_L
    0.0,0,0,0
    0.03333333333333333,0.012345679,0.02,0

* ``time`` is in seconds, strictly increasing. Readers also accept the names ``time_s``,
  ``seconds``, ``timestamp`` and ``t`` (any case) and ignore a ``frame`` column.
* Every other column is an AU channel: ``AU12``, ``AU12_L``, ``AU12_R`` as written, read in any
  spelling :func:`~facs_rig.core.channels.parse_channel` accepts (``au12``, ``AU12L``,
  ``L AU12``) or the FACS term form (``12``, ``L12``), except OpenFace's ``AU12_r``/``AU12_c``
  (a lower-case ``r`` is its intensity, not the right side). As a timeline, each channel must be
  one the vocabulary allows (no side on a bilateral-only AU such as ``AU26``).
* Values are 0-1. An empty cell reads as 0 (spreadsheets leave untouched cells empty).
* Readers also accept what spreadsheets save (:mod:`facs_rig.io.csv_dialect`): ``;`` or tab as
  the separator (whichever the header line uses most), and then a comma in a number as its
  decimal mark (``0,55``); UTF-16 with its byte-order mark (Excel's "Unicode Text"); a
  separator after the last field of every line (an unnamed last column that stays empty).
* Numbers are written in the shortest form that reads back to the same float32 value (and float64
  for times), so write -> read is exact.

As a *timeline* format (``read_timeline``/``write_timeline`` with ``.csv``) the writer samples
the timeline at its fps and the reader rebuilds events from the curves with
:func:`~facs_rig.core.timeline.timeline_from_curves`.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.timeline import (
    VALUES_PER_BLOCK,
    Timeline,
    check_channel,
    sample,
    sample_blocks,
    timeline_from_curves,
)
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import TimelineError, TimelineFormatError, quoted, shown
from facs_rig.io.csv_dialect import number_text, split_header_cells
from facs_rig.io.timeline_json import read_channel_name

__all__ = ["curves_to_csv_text", "curves_from_csv_text", "read_curves_csv", "write_curves_csv",
           "read_timeline_csv", "write_timeline_csv", "infer_fps", "curves_to_json", "write_curves",
           "write_sampled"]

_TIME_NAMES = ("time", "time_s", "seconds", "timestamp", "t")
_IGNORED_NAMES = ("frame",)


def _shortest_float32(values: np.ndarray) -> np.ndarray:
    """Text of each float32 value in the shortest form that reads back exactly (``0.55``, ``0``)."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    unique, inverse = np.unique(flat, return_inverse=True)
    texts = np.array([np.format_float_positional(v, unique=True, trim="-") for v in unique],
                     dtype=object)
    return texts[inverse].reshape(np.shape(values))


def _csv_header(channels: tuple[Channel, ...]) -> str:
    return ",".join(["time"] + [channel.name for channel in channels]) + "\n"


def _csv_rows(curves: AUCurves) -> str:
    """The data lines of dense AU curves, each ending in a newline."""
    times = curves.times.tolist()
    if not curves.channels:
        return "".join(f"{t!r}\n" for t in times)
    # Python lists, not object-array rows: iterating numpy rows made this 5x slower.
    cells = _shortest_float32(curves.values).tolist()
    return "".join([f"{t!r},{','.join(row)}\n" for t, row in zip(times, cells)])


def curves_to_csv_text(curves: AUCurves) -> str:
    """The CSV text of dense AU curves (``time`` + one column per channel, in their order)."""
    return _csv_header(curves.channels) + _csv_rows(curves)


def infer_fps(times: np.ndarray) -> float | None:
    """Frames per second of evenly spaced times (to 1e-6 relative), else None.

    The rate is rounded to 6 decimals, so ``i / 30`` written as text reads back as 30.
    """
    if times.shape[0] < 2:
        return None
    steps = np.diff(times)
    step = float(np.median(steps))
    if step <= 0 or not np.allclose(steps, step, rtol=1e-6, atol=1e-9):
        return None
    return round(1.0 / step, 6)


def _channel_columns(header: list[str], source: str, vocabulary: Vocabulary | None = None
                     ) -> tuple[int, list[tuple[int, Channel]]]:
    time_column = None
    channels: list[tuple[int, Channel]] = []
    seen: dict[Channel, str] = {}
    for index, raw in enumerate(header):
        name = raw.strip()
        if name.lower() in _TIME_NAMES:
            if time_column is not None:
                raise TimelineFormatError(f"{source}, line 1: two time columns "
                                          f"({shown(header[time_column])} and {shown(name)})")
            time_column = index
            continue
        if name.lower() in _IGNORED_NAMES:
            continue
        _refuse_an_openface_column(header, index, source)
        channel = read_channel_name(name)
        if channel is None:
            _refuse_a_capture(header, source)
            raise TimelineFormatError(
                f"{source}, line 1, column {index + 1}: {quoted(name)} is neither a time column nor an "
                f"AU channel such as AU12 or AU12_L")
        # The rule the JSON reader and --channels apply: a side on a bilateral-only AU (AU26_R)
        # or an AU that drives nothing would be a column no rig reads, dropped without a word.
        problem = check_channel(channel, vocabulary) if vocabulary is not None else None
        if problem:
            raise TimelineFormatError(f"{source}, line 1, column {index + 1}: {quoted(name)}: {problem}")
        if channel in seen:
            raise TimelineFormatError(f"{source}, line 1: columns {shown(seen[channel])} and {shown(name)} "
                                      f"are both {channel.name}")
        seen[channel] = name
        channels.append((index, channel))
    if time_column is None:
        raise TimelineFormatError(f"{source}, line 1: no time column (expected one named "
                                  f"{', '.join(_TIME_NAMES)})")
    return time_column, channels


def _refuse_an_openface_column(header: list[str], index: int, source: str) -> None:
    """Refuse OpenFace's ``AU12_r`` (intensity 0-5) and ``AU12_c`` (presence): the lower-case
    ``r`` is no right side, and those values are no 0-1 curves. A whole OpenFace header gets the
    capture hint of :func:`_refuse_a_capture`."""
    # Imported here: the capture readers import this module.
    from facs_rig.io.captures.openface import is_openface_au_column

    name = header[index].strip()
    if not is_openface_au_column(name):
        return
    _refuse_a_capture(header, source)
    intensity = name.endswith("_r")
    kind = "intensity (0-5)" if intensity else "presence (0/1)"
    raise TimelineFormatError(
        f"{source}, line 1, column {index + 1}: {quoted(name)} is how OpenFace names its AU{name[2:4]} "
        f"{kind} column (a lower-case _{name[-1]}, no side), not a 0-1 AU channel: read an OpenFace "
        f"capture (with its 'timestamp' column) with 'facs-rig retarget {source} -o aus.json' or "
        f"'facs-rig code {source}'" + (f"; a right side is written {name[:-2]}_R" if intensity else ""))


def _refuse_a_capture(header: list[str], source: str) -> None:
    """Raise a hint to retarget first when ``header`` is a face tracker's capture, not AU curves
    (a user who gives ``preview`` or ``timeline show`` a Live Link Face take meant its AUs)."""
    # Imported here: the capture readers import this module.
    from facs_rig.io.captures import CAPTURE_FORMATS, detect_format

    capture_format = detect_format(tuple(name.strip() for name in header))
    if capture_format is not None:
        raise TimelineFormatError(
            f"{source} is a face tracker's capture "
            f"({CAPTURE_FORMATS[capture_format].split(' (')[0]}), not AU curves: solve it to AUs "
            f"with 'facs-rig retarget {source} -o aus.json' (or 'facs-rig code {source}' for its "
            f"FACS code)")


def curves_from_csv_text(text: str, *, source: str = "CSV", vocabulary: Vocabulary | None = None
                         ) -> AUCurves:
    """Parse per-frame AU CSV text.

    With a ``vocabulary``, each column's channel must also be one it knows, as timeline files
    require (:func:`~facs_rig.core.timeline.check_channel`): ``AU26_R`` (FACS codes no side
    for a jaw drop) or ``AU99`` is refused, where a rig would drop it silently.

    Returns
    -------
    AUCurves
        Channels in the file's column order; ``fps`` inferred from evenly spaced times (else
        None); ``metadata`` empty.

    Raises
    ------
    TimelineFormatError
        Naming the source, line and column: no time column, a column that is not a channel
        (OpenFace's ``AU12_r`` included), one the ``vocabulary`` refuses, a duplicate channel,
        a row of the wrong length, a value that is not a number or is outside 0-1, a time that
        does not increase.
    """
    header_line = text.split("\n", 1)[0]
    # Spreadsheets in many locales export ';'-separated CSV, others export tabs: follow the
    # header; a line ending in a separator has an unnamed last column, which must stay empty.
    _, delimiter, trailing = split_header_cells(header_line.rstrip("\r"))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise TimelineFormatError(f"{source}: malformed CSV: {exc}") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise TimelineFormatError(f"{source}: empty file, expected a header line "
                                  f"'time,AU01,AU12,...'")
    header, body = rows[0], rows[1:]
    if trailing:
        header = header[:-1]
    time_column, channels = _channel_columns(header, source, vocabulary)
    width = len(header) + trailing
    for number, row in enumerate(body, start=2):
        if len(row) != width:
            cells = (f"{width} ({width - 1} columns and the empty one after its last "
                     f"{delimiter!r})" if trailing else f"{width}")
            raise TimelineFormatError(f"{source}, line {number}: {len(row)} cells, the header "
                                      f"has {cells}")
        if trailing and row[-1].strip():
            raise TimelineFormatError(
                f"{source}, line {number}, column {width}: {shown(row[-1].strip())} in the "
                f"unnamed last column (the header ends with a {delimiter!r}: an empty column, "
                f"which must stay empty)")
    times = np.zeros(len(body), dtype=np.float64)
    values = np.zeros((len(body), len(channels)), dtype=np.float32)
    if body:
        columns = [time_column] + [index for index, _ in channels]
        table = np.array([[number_text(row[c].strip(), delimiter) for c in columns]
                          for row in body], dtype=object)
        table[table == ""] = "0"
        try:
            numbers = table.astype(np.float64)
        except ValueError:
            numbers = None
        if numbers is None or not np.isfinite(numbers).all():
            for row_index, row in enumerate(table):
                for column_index, cell in enumerate(row):
                    try:
                        ok = math.isfinite(float(cell))
                    except ValueError:
                        ok = False
                    if not ok:
                        name = header[columns[column_index]].strip()
                        written = body[row_index][columns[column_index]].strip()  # as in the file
                        raise TimelineFormatError(
                            f"{source}, line {row_index + 2}, column {shown(name)}: "
                            f"{shown(written)} is not a finite number")
        times = numbers[:, 0]
        data = numbers[:, 1:]
        bad = np.argwhere((data < 0) | (data > 1))
        if bad.size:
            row_index, column_index = bad[0]
            name = header[channels[column_index][0]].strip()
            raise TimelineFormatError(
                f"{source}, line {row_index + 2}, column {shown(name)}: intensity "
                f"{data[row_index, column_index]:g} is outside 0-1")
        if times[0] < 0:
            raise TimelineFormatError(f"{source}, line 2: negative time {times[0]:g}")
        backwards = np.flatnonzero(np.diff(times) <= 0)
        if backwards.size:
            row_index = int(backwards[0]) + 1
            raise TimelineFormatError(
                f"{source}, line {row_index + 2}: time {times[row_index]:g} does not come after "
                f"the previous row's {times[row_index - 1]:g} (times must increase)")
        values = data.astype(np.float32)
    return AUCurves(times, values, tuple(channel for _, channel in channels), infer_fps(times),
                    MappingProxyType({}))


def read_curves_csv(path: str | os.PathLike[str], vocabulary: Vocabulary | None = None) -> AUCurves:
    """Read a per-frame AU CSV file into :class:`AUCurves` (see :func:`curves_from_csv_text`;
    with a ``vocabulary``, every channel must be one it knows)."""
    from facs_rig.io.timeline_files import read_text_file

    return curves_from_csv_text(read_text_file(path), source=str(Path(path)), vocabulary=vocabulary)


def write_curves_csv(curves: AUCurves, path: str | os.PathLike[str]) -> None:
    """Write dense AU curves as CSV, atomically."""
    from facs_rig.io.atomic import write_text_atomic

    write_text_atomic(path, curves_to_csv_text(curves))


def _json_head(channels: tuple[Channel, ...], fps: float | None) -> str:
    import json

    return json.dumps({"schema": "facs_rig.curves/1", "fps": fps,
                       "channels": [channel.name for channel in channels]})[:-1]


def curves_to_json(curves: AUCurves) -> str:
    """JSON text of dense AU curves, schema ``facs_rig.curves/1``: ``fps``, ``channels`` (names),
    ``times`` (seconds) and ``values`` (one list per frame, shortest float32 text)."""
    rows = _shortest_float32(curves.values)
    times = "[" + ", ".join(repr(float(t)) for t in curves.times) + "]"
    values = ",\n    ".join("[" + ", ".join(row) + "]" for row in rows)
    return (_json_head(curves.channels, curves.fps)
            + f', "times": {times},\n  "values": [\n    {values}\n  ]}}\n')


def write_curves(curves: AUCurves, path: str | os.PathLike[str]) -> None:
    """Write dense AU curves as ``.csv`` (see the module notes) or ``.json`` (:func:`curves_to_json`)."""
    from facs_rig.errors import UnsupportedFormatError
    from facs_rig.io.atomic import write_text_atomic

    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        write_text_atomic(path, curves_to_csv_text(curves))
    elif suffix == ".json":
        write_text_atomic(path, curves_to_json(curves))
    else:
        raise UnsupportedFormatError(f"{path}: AU curves are written as .csv or .json, not "
                                     f"{suffix or '(no extension)'!r}")


def write_sampled(timeline: Timeline, path: str | os.PathLike[str], *, fps: float | None = None,
                  channels: Iterable[Channel] | None = None,
                  values_per_block: int = VALUES_PER_BLOCK) -> tuple[int, tuple[Channel, ...], float]:
    """Sample a timeline and write the curves as ``.csv`` or ``.json``, block by block, atomically.

    The bytes are those of :func:`write_curves` of :func:`~facs_rig.core.timeline.sample`, but
    memory stays bounded by ``values_per_block`` whatever the length: a 5-hour take at 1,000 fps
    is written, not refused nor held whole (:func:`~facs_rig.core.timeline.sample_blocks`).

    Returns
    -------
    (n_frames, channels, fps)
        What was written.

    Raises
    ------
    UnsupportedFormatError
        For an extension other than ``.csv`` and ``.json``.
    TimelineError
        For a sampling over :data:`~facs_rig.core.timeline.MAX_FRAMES` frames (before writing).
    OutputError
        When the file cannot be written (any previous file is left as it was).
    """
    from facs_rig.errors import OutputError, UnsupportedFormatError
    from facs_rig.io.atomic import atomic_write

    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise UnsupportedFormatError(f"{path}: AU curves are written as .csv or .json, not "
                                     f"{suffix or '(no extension)'!r}")
    blocks = sample_blocks(timeline, fps=fps, channels=channels, values_per_block=values_per_block)
    first = next(blocks)  # checks the frame count before the output is opened
    columns, rate = first.channels, float(first.fps)
    n_frames = 0
    try:
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as stream:
            if suffix == ".csv":
                stream.write(_csv_header(columns))
                for block in itertools.chain([first], blocks):
                    stream.write(_csv_rows(block))
                    n_frames += block.n_frames
            else:
                # Times first, then values, as curves_to_json lays them out: two passes over
                # the frame grid, the first one cheap (times only).
                stream.write(_json_head(columns, rate) + ', "times": [')
                times = sample_blocks(timeline, fps=fps, channels=(), duration=None,
                                      values_per_block=values_per_block)
                separator = ""
                for block in times:
                    stream.write(separator + ", ".join([repr(t) for t in block.times.tolist()]))
                    separator = ", "
                stream.write('],\n  "values": [\n    ')
                separator = ""
                for block in itertools.chain([first], blocks):
                    rows = _shortest_float32(block.values).tolist()
                    stream.write(separator + ",\n    ".join(["[" + ", ".join(row) + "]"
                                                           for row in rows]))
                    separator = ",\n    "
                    n_frames += block.n_frames
                stream.write("\n  ]}\n")
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return n_frames, columns, rate


def read_timeline_csv(path: str | os.PathLike[str], vocabulary: Vocabulary) -> Timeline:
    """Read a per-frame AU CSV as a timeline: events rebuilt from the curves.

    Peaks equal to a letter's value on the vocabulary's default scale keep that letter. See
    :func:`~facs_rig.core.timeline.timeline_from_curves` for what is exact and what is not.
    """
    curves = read_curves_csv(path, vocabulary)
    try:
        # No check of overlapping events across columns (timeline_json.coded_overlap_problem):
        # a CSV holds samples, not a coder's events, most often a capture's solved channels,
        # where a solver reads 26 and 27 (or 63 and 64) at once and the rig's exclusive chain
        # plays the stronger; each column's channel is checked (an unsided AU46 is refused).
        return timeline_from_curves(curves, scale=vocabulary.scale(), metadata={})
    except TimelineError as exc:  # events rebuilt from valid curves can still be out of range
        raise TimelineFormatError(f"{Path(path)}: {exc}") from None


def write_timeline_csv(timeline: Timeline, path: str | os.PathLike[str],
                       vocabulary: Vocabulary | None = None, *, fps: float | None = None) -> None:
    """Sample a timeline (at ``fps``, default its own) and write the curves as CSV, atomically,
    in bounded memory (see :func:`write_sampled`)."""
    if Path(path).suffix.lower() != ".csv":
        write_curves_csv(sample(timeline, fps=fps), path)
    else:
        write_sampled(timeline, path, fps=fps)
