"""The work of one take, run on a Dask worker: retarget, FACS summary, QC and heat map.

:func:`process_take` is the only function the client sends to workers. It reads the capture
once, writes every output through the same :func:`~facs_rig.io.captures.retarget.retarget_file`
that ``facs-rig retarget`` uses (so the bytes are the same), and returns a small JSON-able dict:
never a take's arrays, so the client's memory does not grow with the takes' length.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from facs_rig.errors import FacsRigError
from facs_rig.io.blas import on_one_blas_thread

__all__ = ["TakeJob", "process_take", "file_sha256", "heat_map_png", "coded_curves", "take_qc"]

#: Segments kept per take in the report (a long take can have thousands; all are in .facs.txt,
#: and the client keeps every take's entry, so an entry stays a few kilobytes).
MAX_REPORTED_SEGMENTS = 12
#: Width in pixels of a heat map's plot: a long take is binned (the maximum of each bin is drawn).
HEAT_MAP_WIDTH = 480
#: Height of one AU channel's band: room for its label in Pillow's default font (11 px).
HEAT_MAP_ROW = 12
#: Left margin for the channel labels, and bottom margin for the time axis and colour key.
HEAT_MAP_LABELS = 56
HEAT_MAP_AXIS = 34


@dataclass(frozen=True)
class TakeJob:
    """One take's work, as sent to a worker (small and picklable).

    Attributes
    ----------
    key : str
        The take's name in the batch manifest (its first output path).
    capture : str
    requests : tuple of RetargetRequest
        One per output file; they share the capture, format and face.
    summary_path, heat_map_path : str
        Where the ``code`` summary (text) and the AU heat map (PNG) go.
    code_cleaning : CleaningOptions
        Cleaning for the summary and QC (``code``'s defaults unless the batch set them).
    previous_sha256 : str or None
        The input hash recorded by an earlier run with the same settings: when the input still
        has it and every output exists, the take is up to date and nothing is redone.
    settings : dict or None
        :func:`job_settings` of this job, computed once when the batch is planned (it hashes
        rig, mesh and tracker profile files), then compared with the manifest and recorded in
        it; None until then.
    origin : str
        Where a manifest named the take (``takes.csv: line 3``), said before the error of a
        capture that cannot be opened; empty for a take named otherwise.
    """

    key: str
    capture: str
    requests: tuple
    summary_path: str
    heat_map_path: str
    code_cleaning: object
    previous_sha256: str | None = None
    settings: dict | None = field(default=None, compare=False)  # derived: not part of equality
    origin: str = field(default="", compare=False)

    def with_settings(self) -> TakeJob:
        """This job with its :attr:`settings` computed (unchanged if they already are)."""
        if self.settings is not None:
            return self
        return replace(self, settings=_compute_settings(self))

    def output_paths(self) -> list[str]:
        """Every file this take writes (a ``.gltf`` output brings its ``.bin``)."""
        paths = []
        for request in self.requests:
            paths.append(request.output)
            if request.output.lower().endswith(".gltf"):
                paths.append(request.output[:-5] + ".bin")  # string ops: a URL's '//' stays
        return paths + [self.summary_path, self.heat_map_path]


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, read in 1 MiB pieces (memory stays flat).

    Raises
    ------
    CaptureFormatError
        ``path`` is a named pipe, a socket or a device (``take.csv: not a regular file (a named
        pipe)``): opening a pipe without a writer blocked the worker, and the batch, forever.
    """
    from facs_rig.errors import CaptureFormatError
    from facs_rig.io.bounded_read import refuse_special_file

    refuse_special_file(path, CaptureFormatError)
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@on_one_blas_thread
def process_take(job: TakeJob) -> dict:
    """Do one take; return ``{"status": "ok"|"skipped"|"failed", ...}`` (small, JSON-able).

    A bad take never raises: its one-line error comes back as ``{"status": "failed",
    "error": ...}`` so that the other takes go on.
    """
    start = time.perf_counter()
    try:
        if _names_urls(job):
            result = _process_remote(job)
            if result["status"] == "skipped":
                return result
        else:
            sha = file_sha256(job.capture)
            skipped = _skipped(job, sha)
            if skipped is not None:
                return skipped
            result = _run(job)
            result.update(key=job.key, status="ok", input_sha256=sha)
    except FacsRigError as exc:
        return _failed(job, " ".join(str(exc).split()), start)
    except OSError as exc:
        where = exc.filename if getattr(exc, "filename", None) else job.capture
        if job.origin and where == job.capture:
            # A manifest's row names a missing take: the manifest and its line are what to fix.
            where = f"{job.origin}: capture {where}"
        return _failed(job, f"{where}: {exc.strerror or exc}", start)
    except Exception as exc:  # noqa: BLE001 (a bug or MemoryError on one take must not end the batch)
        return _failed(job, f"{job.capture}: unexpected {type(exc).__name__}: "
                            f"{' '.join(str(exc).split())}", start)
    result["seconds"] = round(time.perf_counter() - start, 4)
    return result


def _skipped(job: TakeJob, sha: str) -> dict | None:
    """The "skipped" result when an earlier run made every output from this very input."""
    if job.previous_sha256 == sha and all(_output_exists(path) for path in job.output_paths()):
        return {"key": job.key, "status": "skipped", "input_sha256": sha}
    return None


def _names_urls(job: TakeJob) -> bool:
    from facs_rig.cluster.remote import is_url

    return is_url(job.capture) or any(is_url(path) for path in job.output_paths())


def _process_remote(job: TakeJob) -> dict:
    """:func:`process_take` for a take whose capture or outputs are fsspec URLs.

    The capture is staged into a private temporary folder (hashed while copied), the outputs are
    written there by the same code as local ones, and each is then published to its URL
    (:mod:`facs_rig.cluster.remote`); local paths among them are written in place.
    """
    import tempfile

    from facs_rig.cluster import remote

    with tempfile.TemporaryDirectory(prefix="facs-rig-take-") as staging:
        # One read of the capture: staged (and hashed on the way) before the up-to-date test.
        if remote.is_url(job.capture):
            capture, sha = remote.stage_input(job.capture, staging)
        else:
            capture, sha = job.capture, file_sha256(job.capture)
        skipped = _skipped(job, sha)
        if skipped is not None:
            return skipped
        uploads: list[tuple[str, str]] = []  # (local staged file, URL)

        def local(path: str, index: int) -> str:
            if not remote.is_url(path):
                return path
            # One staging sub-folder per output keeps each output's own file name (a .gltf
            # names its .bin by it).
            folder = os.path.join(staging, f"out{index}")
            os.makedirs(folder, exist_ok=True)
            staged = os.path.join(folder, path.rsplit("/", 1)[-1])
            uploads.append((staged, path))
            if staged.lower().endswith(".gltf"):
                uploads.append((staged[:-5] + ".bin", path[:-5] + ".bin"))
            return staged

        requests = tuple(replace(request, capture=capture, output=local(request.output, n))
                         for n, request in enumerate(job.requests))
        staged_job = replace(job, capture=capture, requests=requests,
                             summary_path=local(job.summary_path, len(requests)),
                             heat_map_path=local(job.heat_map_path, len(requests) + 1))
        renames = [(capture, job.capture)] + [(staged, url) for staged, url in uploads]

        def rename(text: str) -> str:
            for staged, url in renames:
                text = text.replace(staged, url)
            return text

        try:
            result = _run(staged_job, source_name=job.capture)
        except FacsRigError as exc:  # name the user's URL, not the staged copy
            raise FacsRigError(rename(str(exc))) from None
        except OSError as exc:
            where = rename(exc.filename) if getattr(exc, "filename", None) else job.capture
            raise FacsRigError(f"{where}: {exc.strerror or exc}") from None
        for staged, url in uploads:
            remote.publish(staged, url)
    result.update(key=job.key, status="ok", input_sha256=sha, capture=job.capture,
                  outputs=job.output_paths())
    result["lines"] = [rename(line) for line in result["lines"]]
    return result


def _output_exists(path: str) -> bool:
    from facs_rig.cluster import remote

    return remote.url_exists(path) if remote.is_url(path) else os.path.exists(path)


def _failed(job: TakeJob, message: str, start: float) -> dict:
    if job.capture not in message:  # every error line names its take (a mesh's error may not)
        message = f"{job.capture}: {message}"
    return {"key": job.key, "status": "failed", "capture": job.capture, "error": message,
            "seconds": round(time.perf_counter() - start, 4)}


def _named(capture, name: str):
    """``capture`` as if read from ``name`` (a staged copy of a URL records the URL as its
    source, so outputs are the same bytes as from a local file of that name)."""
    from types import MappingProxyType

    def rename(part):
        if part is None or "source" not in part.metadata:
            return part
        return replace(part, metadata=MappingProxyType({**part.metadata, "source": name}))

    metadata = capture.metadata
    if "source" in metadata:
        metadata = MappingProxyType({**metadata, "source": name})
    return replace(capture, path=name, aus=rename(capture.aus),
                   blendshapes=rename(capture.blendshapes), metadata=metadata)


def _run(job: TakeJob, source_name: str | None = None) -> dict:
    from facs_rig.io.atomic import write_bytes_atomic, write_text_atomic
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import take_events, tracker_mismatch
    from facs_rig.io.captures.retarget import retarget_file

    first = job.requests[0]
    for path in job.output_paths():
        # Stale .part files of a killed worker are removed by io.atomic's first write here.
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    capture = read_capture(job.capture, format=first.format, face=first.face)
    if source_name is not None:
        capture = _named(capture, source_name)
    requests, not_applied = _tracker_applied(job.requests, capture)
    requests, solve_notes = _solve_applied(requests, capture)
    not_applied += solve_notes
    requests, copy_notes = _copy_applied(requests, capture)
    not_applied += copy_notes
    first = requests[0]
    reports = [retarget_file(request, capture) for request in requests]
    # The same pipeline and tracker profile as `facs-rig code` (--tracker, else by the
    # capture's format), so that the .facs.txt summary is what `code` prints for the take.
    take = take_events(capture, job.code_cleaning, first.events, source=first.source,
                       tracker=first.tracker, code=True,
                       thresholds_given=frozenset(first.thresholds_given))
    not_applied += _presence_notes(capture, take, first)
    write_text_atomic(job.summary_path, take.summary_text(job.code_cleaning.neutral))
    write_bytes_atomic(job.heat_map_path, heat_map_png(coded_curves(take.solved.curves,
                                                                    take.timeline)))
    qc = take_qc(capture, take.solved, take.timeline, take.segments, take.tracker, not_applied)
    # The profile --tracker names, when it is another tracker's than the take's format implies
    # (applied as asked: the batch's summary line counts the takes, the report shows it).
    qc["tracker_mismatch"] = (tracker_mismatch(first.tracker, capture.format)
                              if take.solved.source == "blendshapes" else None)
    return {"capture": job.capture, "outputs": job.output_paths(),
            "lines": [report.summary() for report in reports], "qc": qc}


def _tracker_applied(requests: tuple, capture) -> tuple[tuple, list[str]]:
    """The take's requests with the batch's ``--tracker`` where it applies, and a note when it
    does not.

    As ``--face`` goes to the OpenFace takes only, ``--tracker`` goes to the takes whose AUs
    are mapped from blendshapes (``retarget`` and ``code`` refuse it on the others,
    :func:`~facs_rig.io.captures.pipeline.tracker_unused`): a mixed folder's OpenFace takes
    are done without it, and their QC says so (``not_applied``) rather than nothing.
    """
    from facs_rig.io.captures.pipeline import tracker_unused

    first = requests[0]
    if not first.tracker:
        return requests, []
    from facs_rig.io.captures.trackers import load_tracker

    unused = tracker_unused(capture.path, capture.format, capture.blendshapes is not None,
                            first.source, load_tracker(first.tracker).events is not None)
    if unused is None:
        return requests, []
    return (tuple(replace(request, tracker=None) for request in requests),
            [f"--tracker {first.tracker} not applied: {unused}"])


def _solve_applied(requests: tuple, capture) -> tuple[tuple, list[str]]:
    """The take's requests with the batch's ``--solve`` where it changes the output (ARKit
    weights that would be copied onto an ARKit-named rig), and a note when it changes none:
    ``retarget`` refuses it there (:func:`~facs_rig.io.captures.retarget.solve_unused`), and an
    OpenFace take of a mixed batch onto ``--rig arkit`` is solved anyway."""
    from facs_rig.io.captures.pipeline import copies_arkit_weights
    from facs_rig.io.captures.retarget import solve_unused

    kept, unused = [], None
    for request in requests:
        rig = _weights_rig(request) if request.solve else None
        if rig is not None and not copies_arkit_weights(capture, rig):
            unused = solve_unused(capture.path, capture.format, rig.name)
            request = replace(request, solve=False)
        kept.append(request)
    if unused is None:
        return requests, []
    return tuple(kept), [f"--solve not applied: {unused.replace(': --solve: ', ': ', 1)}"]


def _copy_applied(requests: tuple, capture) -> tuple[tuple, list[str]]:
    """The take's requests with the AU route's options taken off the outputs that copy ARKit
    weights as recorded, and a note naming them.

    ``retarget`` refuses ``--neutral``, ``--gain``, ``--smooth``, the gap options, ``--tracker``
    and ``--source aus`` there (:func:`~facs_rig.io.captures.retarget.copy_ignores`: the copy
    would be the same bytes), but in a batch they still shape the take's timelines, its FACS
    summary and QC: a second reader's batch of a Live Link Face take to ``{csv,json}`` on
    ``--rig arkit --smooth zero-phase`` failed whole. The copy is written as ``retarget``
    writes it without them, and the note says so.
    """
    from facs_rig.io.captures.pipeline import copies_arkit_weights
    from facs_rig.io.captures.retarget import copy_ignores

    kept, notes = [], []
    for request in requests:
        ignored = copy_ignores(request) if not request.solve else []
        rig = _weights_rig(request) if ignored else None
        if rig is not None and copies_arkit_weights(capture, rig):
            cleaning = replace(request.cleaning, neutral="none", gain_percentile=None,
                               smoothing="none", gaps="interpolate", max_gap=None)
            request = replace(request, cleaning=cleaning, tracker=None, source="auto")
            notes.append(f"{', '.join(ignored)} not applied to {request.output}: the "
                         f"{capture.format} take's ARKit weights are copied onto {rig.name} as "
                         f"recorded (--solve solves, cleans and mixes them)")
        kept.append(request)
    return tuple(kept), notes


def _weights_rig(request):
    """The rig profile a weights output of ``request`` goes through (a weights CSV, a Live Link
    Face CSV, an animated GLB: the mesh's matched profile), or None for an AU output."""
    from facs_rig.io.captures.retarget import mesh_and_rig, output_kind
    from facs_rig.io.rig_files import load_rig

    kind = output_kind(request.output, request.rig)
    if kind == "glb":
        return mesh_and_rig(request.rig, request.mesh)[1].profile
    return load_rig(request.rig) if kind in ("livelinkface", "weights") else None


def _presence_notes(capture, take, request) -> list[str]:
    """A note when the batch's ``--trace`` or ``--whole-events`` did nothing to this take: its
    AUs are a Py-Feat file's own, coded present or absent (``retarget`` and ``code`` refuse
    them there; :func:`~facs_rig.io.captures.pipeline.presence_ignores`). A ``--trace``
    given at its default (0.5 s) cannot be told from none and is not noted."""
    from facs_rig.core.events import EventOptions
    from facs_rig.io.captures.pipeline import presence_ignores

    events, defaults = request.events, EventOptions()
    given = []
    if events.trace_duration != defaults.trace_duration:
        given.append("--trace " + ("none" if events.trace_duration is None
                                   else f"{events.trace_duration:g}"))
    if not events.follow_intensity:
        given.append("--whole-events")
    ignored = presence_ignores(capture.path, capture.format, take.solved.source == "aus", given,
                               capture.blendshapes is not None)
    return [] if ignored is None else [f"{ignored.replace(': ', ' not applied: ', 1)}"]


def take_qc(capture, solved, timeline, segments, tracker=None, not_applied=()) -> dict:
    """The QC figures of one take (JSON-able; see docs/batch.md for each field); ``tracker`` is
    the profile the AUs were solved with (its fitted mapping decides which shapes are used);
    ``not_applied``, the batch's options this take was done without, each with why."""
    from facs_rig.core.channels import Channel
    from facs_rig.io.captures.pipeline import solver_for

    data = capture.blendshapes if capture.blendshapes is not None else capture.aus
    times = np.asarray(data.times)
    frames = int(times.shape[0])
    duration = float(times[-1] - times[0]) if frames > 1 else 0.0
    clipped = sum(_leading_count(note) for note in capture.repairs if "clipped" in note)
    qc: dict = {
        "format": capture.format,
        "frames": frames,
        "duration": round(duration, 4),
        "fps": data.fps,
        "gap_frames": int(np.count_nonzero(capture.gaps)),
        "repairs": list(capture.repairs),
        "clipped_values": clipped,
        "source": solved.source,
    }
    residual = solved.residual
    good = residual[np.isfinite(residual)] if residual is not None else np.zeros(0)
    qc["residual_mean"] = round(float(good.mean()), 5) if good.size else None
    qc["residual_max"] = round(float(good.max()), 5) if good.size else None
    # Unused: blendshape columns that were the solve's input but that it gives no weight
    # (MediaPipe's `_neutral`). When the tracker's own AU columns are the source (OpenFace, and
    # Py-Feat by default) no blendshape is an input, so none is unused; a file's other columns
    # (face box, landmarks, pose, emotions) are never AU inputs and are not counted either.
    unused: list[str] = []
    if capture.blendshapes is not None and solved.source == "blendshapes":
        names = capture.blendshapes.names
        mapping = getattr(tracker, "mapping", None)
        if mapping is not None:  # a fitted tracker profile maps its own shapes
            from facs_rig.io.captures.arkit_names import canonical_arkit_name

            weighted = {shape for shape, row in zip(mapping.shapes, mapping.weights) if row.any()}
            unused = [name for name in names
                      if (canonical_arkit_name(name) or name) not in weighted]
        else:
            _, columns = solver_for(tuple(names))
            used = {int(c) for c in columns}
            unused = [name for k, name in enumerate(names) if k not in used]
    qc["unused_channels"] = unused
    qc["flat_channels"] = _flat_channels(capture)
    # Seconds during which each AU is on: the union of its events' spans (events that follow
    # the intensity overlap where one letter ramps into the next; a sum would count that twice).
    # Both sides of an AU are one AU, as `code` writes 12D rather than L12D+R12D
    # (core.events._bilateral_terms): its seconds are when either side is on, and it keeps a
    # side in its name only when the take never moves the other.
    spans: dict[int, list[tuple[float, float]]] = {}
    sides: dict[int, set[str | None]] = {}
    for event in timeline.events:
        spans.setdefault(event.channel.au, []).append(
            (event.start, event.start + event.onset + event.apex + event.offset))
        sides.setdefault(event.channel.au, set()).add(event.channel.side)
    active: dict[str, float] = {}
    for au, intervals in spans.items():
        total, reach = 0.0, -math.inf
        for start, end in sorted(intervals):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        side = next(iter(sides[au])) if len(sides[au]) == 1 else None
        active[Channel(au, side).name] = total
    dominant = sorted(active.items(), key=lambda item: (-item[1], item[0]))[:5]
    qc["dominant_aus"] = [{"au": name, "seconds": round(seconds, 3),
                           "share": round(seconds / duration, 4) if duration > 0 else None}
                          for name, seconds in dominant]
    qc["events"] = len(timeline.events)
    emotions: dict[str, float] = {}
    for segment in segments:
        if segment.emotion:
            emotions[segment.emotion] = emotions.get(segment.emotion, 0.0) + segment.end - segment.start
    qc["emotions"] = {name: round(seconds, 3) for name, seconds in
                      sorted(emotions.items(), key=lambda item: -item[1])}
    qc["segments"] = [str(segment) for segment in segments[:MAX_REPORTED_SEGMENTS]]
    qc["segment_count"] = len(segments)
    # The profile that mapped or solved the blendshapes; none reads the capture's own AUs.
    qc["tracker"] = getattr(tracker, "name", None) if solved.source == "blendshapes" else None
    qc["not_applied"] = list(not_applied)
    return qc


def _leading_count(note: str) -> int:
    head = note.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def _flat_channels(capture) -> list[str]:
    """The capture file's own input columns that never change over the take (the tracker did
    not record them or lost them: Live Link Face's ``HeadYaw`` 0 throughout), as its reader
    found them (``metadata["constant_columns"]``). AUs derived from them are not listed: an
    AU51 that stays 0 only means the performer never turned that way."""
    return list(capture.metadata.get("constant_columns", ()))


def coded_curves(curves, timeline):
    """``curves`` with their rows named as the take's FACS summary names them.

    The summary codes an AU43 closure no longer than ``blink_max`` as AU45, a blink
    (:func:`facs_rig.core.events.extract_events`; docs/captures.md, Events), while the solved
    curves have one AU43 row for both. Within each AU45 event of the timeline, the AU43 row's
    values move to an AU45 row of the same side (a bilateral blink, ``45``, on both sides);
    AU43 keeps the rest (the closures held longer). On curves that carry AU45 themselves
    (OpenFace's AU45_r), the closures held over half a second, coded AU43 (FACS 2002, AU45:
    "scored as eyes closed (43E)"), move to an AU43 row the same way.

    Parameters
    ----------
    curves : AUCurves
        ``values`` (n_frames x n_channels) at ``times`` (n_frames,) seconds.
    timeline : Timeline
        The events found in ``curves``.

    Returns
    -------
    AUCurves
        One more channel per side that has blinks (or held closures), in channel order.
    """
    from facs_rig.core.channels import Channel

    # Each closure channel's events coded under the other code: blinks (45) read from AU43
    # (ARKit's eyeBlink), closures held over half a second (43) read from AU45 (OpenFace's
    # AU45_r). A bilateral event (a blink of both eyes, written 45) covers either side.
    spans: dict[tuple[int, str | None], list[tuple[float, float]]] = {}
    for event in timeline.events:
        if event.channel.au in (43, 45):
            spans.setdefault((event.channel.au, event.channel.side), []).append(
                (event.start, event.end))
    times = np.asarray(curves.times, dtype=np.float64)
    values = np.asarray(curves.values, dtype=np.float32)
    columns = [values[:, k] for k in range(values.shape[1])]
    channels = list(curves.channels)
    for k, channel in enumerate(curves.channels):
        if channel.au not in (43, 45):
            continue
        other = Channel(88 - channel.au, channel.side)  # 43 <-> 45
        moved = spans.get((other.au, channel.side), []) + (
            spans.get((other.au, None), []) if channel.side is not None else [])
        if not moved or other in curves.channels:
            continue
        inside = np.zeros(times.shape[0], dtype=bool)
        for start, end in moved:
            inside |= (times >= start) & (times <= end)
        columns.append(np.where(inside, values[:, k], np.float32(0.0)))
        columns[k] = np.where(inside, np.float32(0.0), values[:, k])
        channels.append(other)
    if len(channels) == len(curves.channels):
        return curves
    order = sorted(range(len(channels)), key=lambda k: channels[k].sort_key)
    return replace(curves, values=np.stack([columns[k] for k in order], axis=1),
                   channels=tuple(channels[k] for k in order))


# Colour ramp of the heat map: dark (absent) through purple and orange to pale yellow (full):
# a sequential ramp whose brightness rises with the value, readable in grey too.
_RAMP = np.array([[12, 12, 30], [84, 24, 110], [190, 55, 82], [246, 140, 40], [252, 240, 160]],
                 dtype=np.float64)


def _ramp(level: np.ndarray) -> np.ndarray:
    """RGB (uint8, ``level.shape + (3,)``) of values 0-1 on :data:`_RAMP`."""
    scaled = np.clip(level, 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.minimum(np.floor(scaled).astype(np.int64), len(_RAMP) - 2)
    fraction = (scaled - low)[..., None]
    return (_RAMP[low] * (1 - fraction) + _RAMP[low + 1] * fraction).astype(np.uint8)


#: Tick steps of the heat map's time axis, seconds: 1-2-5 below a minute, clock-friendly above.
_TICK_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
               1800.0, 3600.0, 7200.0, 14400.0)


def _tick_step(duration: float, width: int) -> float:
    """The smallest step in :data:`_TICK_STEPS` giving a time label every 60 pixels or more."""
    wanted = duration * 60.0 / max(width, 1)
    return next((step for step in _TICK_STEPS if step >= wanted), _TICK_STEPS[-1] * math.ceil(
        wanted / _TICK_STEPS[-1]))


def _time_label(seconds: float, step: float, duration: float) -> str:
    """``12.5`` (``0 s`` at zero) for a take under ten minutes, ``m:ss`` / ``h:mm:ss`` past it."""
    if step >= 60.0 or duration >= 600.0:
        whole = int(round(seconds))
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 \
            else f"{whole // 60}:{whole % 60:02d}"
    return f"{seconds:g} s" if seconds == 0 else f"{seconds:g}"


def heat_map_png(curves) -> bytes:
    """A PNG of AU intensity over time: one labelled row per AU channel, time left to right on
    an axis in seconds (m:ss past ten minutes), and a colour key from 0 to 1.

    Parameters
    ----------
    curves : AUCurves
        ``values`` (n_frames x n_channels), 0-1, at ``times`` (n_frames,) seconds; a take
        longer than :data:`HEAT_MAP_WIDTH` frames is binned, each pixel showing its bin's
        maximum (a short blink stays visible); a shorter one is stretched to that width.
    """
    from io import BytesIO

    from PIL import Image, ImageDraw

    values = np.nan_to_num(np.asarray(curves.values, dtype=np.float64), nan=0.0)
    n_frames, n_channels = values.shape
    width = HEAT_MAP_WIDTH
    if n_frames and n_channels and n_frames < width:
        # A short take (a 2 s clip) is stretched: each frame a column band of equal width.
        binned = values[(np.arange(width) * n_frames) // width]
    elif n_frames and n_channels:
        edges = np.linspace(0, n_frames, width + 1).astype(np.int64)
        edges[-1] = n_frames
        starts = np.minimum(edges[:-1], n_frames - 1)
        binned = np.maximum.reduceat(values, starts, axis=0)  # (width, n_channels)
    else:
        binned = np.zeros((width, max(n_channels, 1)))
    plot = np.repeat(_ramp(binned.T), HEAT_MAP_ROW, axis=0)  # (rows * HEAT_MAP_ROW, width, 3)
    plot_height = plot.shape[0]
    image = Image.new("RGB", (HEAT_MAP_LABELS + width + 8, plot_height + HEAT_MAP_AXIS),
                      (255, 255, 255))
    image.paste(Image.fromarray(plot, "RGB"), (HEAT_MAP_LABELS, 0))
    draw = ImageDraw.Draw(image)
    for k, channel in enumerate(curves.channels[:n_channels]):
        draw.text((2, k * HEAT_MAP_ROW), channel.name, fill=(0, 0, 0))
    # Time axis: a tick and label at every 1-2-5 step of seconds that fits.
    times = np.asarray(curves.times, dtype=np.float64)
    axis_y = plot_height
    draw.line([(HEAT_MAP_LABELS, axis_y), (HEAT_MAP_LABELS + width - 1, axis_y)], fill=(0, 0, 0))
    if n_frames > 1 and np.isfinite(times[[0, -1]]).all() and times[-1] > times[0]:
        start, duration = float(times[0]), float(times[-1] - times[0])
        step = _tick_step(duration, width)
        first = math.ceil(round(start / step, 9))  # ticks on whole multiples of the step
        for index in range(first, int(math.floor(round((start + duration) / step, 9))) + 1):
            at = index * step
            x = HEAT_MAP_LABELS + int(round((at - start) / duration * (width - 1)))
            draw.line([(x, axis_y), (x, axis_y + 3)], fill=(0, 0, 0))
            label = _time_label(round(at, 6), step, duration)
            if x + 6 * len(label) <= image.width:
                draw.text((x - (0 if x == HEAT_MAP_LABELS else 3 * len(label)), axis_y + 4),
                          label, fill=(0, 0, 0))
    # Colour key: the ramp from 0 to 1 under the labels' column.
    key_y = plot_height + 20
    key = _ramp(np.linspace(0.0, 1.0, 40))[None, :, :].repeat(8, axis=0)
    draw.text((2, key_y - 2), "0", fill=(0, 0, 0))
    image.paste(Image.fromarray(key, "RGB"), (10, key_y))
    draw.text((52, key_y - 2), "1", fill=(0, 0, 0))
    buffer = BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def job_settings(job: TakeJob) -> dict:
    """The settings that decide a take's outputs, as JSON-able data (for the manifest): the
    job's own :attr:`TakeJob.settings` when the plan computed them, else computed now."""
    return job.settings if job.settings is not None else _compute_settings(job)


def _compute_settings(job: TakeJob) -> dict:
    requests = [asdict(request) for request in job.requests]
    for request in requests:
        request.pop("capture", None)
        # A rig profile, mesh or tracker profile given as a file is recorded by its content too:
        # editing it must redo the take, not keep outputs made with the old one.
        for option in ("rig", "mesh", "tracker"):
            value = request.get(option)
            if isinstance(value, str) and os.path.isfile(value):
                request[f"{option}_sha256"] = file_sha256(value)
    return {"requests": requests, "code_cleaning": asdict(job.code_cleaning)}
