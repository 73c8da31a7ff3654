"""Retarget one capture file to one output file: the work behind ``facs-rig retarget``.

The output's kind follows its extension (see :func:`output_kind`):

========================  ==================================================================
``.glb`` / ``.gltf``      the mesh (``mesh``, default: the bundled head) with a weights
                          animation of the rig's targets
``.csv`` with an ARKit    a Live Link Face CSV take (Unreal, MotionBuilder importers)
rig
``.csv`` with another     per-frame target weights: ``time`` + one column per target
rig
``.csv`` without a rig    per-frame AU curves (the timeline area's AU CSV format)
``.json`` / ``.txt`` /    an editable AU timeline of events (hysteresis extraction)
``.notes`` / ``.eaf``
========================  ==================================================================

Lives in a module of its own so that worker processes of ``--jobs`` can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.core.events import EventOptions
from facs_rig.errors import CaptureFormatError, UnsupportedFormatError
from facs_rig.io.atomic import refuse_input_as_output
from facs_rig.io.blas import on_one_blas_thread
from facs_rig.io.captures import Capture, read_capture
from facs_rig.io.captures.arkit_names import canonical_arkit_name
from facs_rig.io.captures.arkit_tables import write_live_link_face
from facs_rig.io.captures.pipeline import (
    CleaningOptions,
    SolvedAUs,
    check_rate_holds_take,
    choose_tracker,
    copies_arkit_weights,
    direct_arkit_weights,
    resample_weights,
    take_curves,
    take_events,
)
from facs_rig.io.weights_csv import write_weights_csv
from facs_rig.resources import load_vocabulary

__all__ = ["RetargetOptions", "RetargetRequest", "RetargetReport", "retarget_file", "output_kind",
           "copy_ignores", "solve_unused",
           "write_weights_csv", "TIMELINE_EXTENSIONS"]

TIMELINE_EXTENSIONS = (".json", ".txt", ".notes", ".eaf")


@dataclass(frozen=True, kw_only=True)
class RetargetOptions:
    """How ``retarget`` treats a capture: everything but which capture and output.

    The one declaration of these options: :class:`RetargetRequest` adds the capture and the
    output, ``facs_rig.cluster.BatchSettings`` adds a batch's outputs and code cleaning.
    """

    rig: str | None = None
    mesh: str | None = None
    format: str | None = None
    face: int | None = None
    source: str = "auto"
    solve: bool = False
    tracker: str | None = None  # tracker profile name or file; default from the capture format
    cleaning: CleaningOptions = field(default_factory=CleaningOptions)
    events: EventOptions = field(default_factory=EventOptions)
    #: Which of ``events.on`` and ``events.off`` the user gave (``--on``, ``--off``), sorted:
    #: those apply to every AU as they are, a rise above its rest, instead of the tracker
    #: profile's per-AU fractions (:func:`~facs_rig.io.captures.pipeline.event_thresholds`),
    #: as in ``facs-rig code``. A tuple, not a set, so that a batch manifest records it as JSON.
    thresholds_given: tuple[str, ...] = ()

    def request(self, capture: str, output: str, **changes) -> RetargetRequest:
        """These options (with ``changes``) for one ``capture`` written to ``output``."""
        options = {f.name: getattr(self, f.name) for f in fields(RetargetOptions)}
        return RetargetRequest(capture, output, **{**options, **changes})


@dataclass(frozen=True)
class RetargetRequest(RetargetOptions):
    """Everything ``retarget`` needs for one capture (picklable, for worker processes).

    ``RetargetRequest(capture, output, rig=..., ...)``: the options are keyword-only.
    """

    capture: str
    output: str


@dataclass(frozen=True)
class RetargetReport:
    """What was done, for the CLI's one-line summary."""

    capture: str
    output: str
    format: str
    kind: str
    frames: int
    fps: float | None
    repairs: tuple[str, ...]
    via: str
    residual_mean: float | None = None
    residual_max: float | None = None
    events: int | None = None
    #: The rig profile the weights went through (None for AU outputs); ``rig_detected`` when it
    #: was chosen by matching the mesh's target names, not given with ``--rig``.
    rig: str | None = None
    rig_detected: bool = False

    def to_dict(self) -> dict:
        """The report as JSON-ready values (``retarget --json``)."""
        return {"capture": self.capture, "output": self.output, "format": self.format,
                "kind": self.kind, "frames": self.frames, "fps": self.fps, "via": self.via,
                "rig": self.rig, "rig_detected": self.rig_detected,
                "residual_mean": self.residual_mean, "residual_max": self.residual_max,
                "events": self.events, "repairs": list(self.repairs)}

    def summary(self) -> str:
        """``capture -> output: 4030 frames at 30 fps (livelinkface, solved; residual ...)``."""
        parts = [f"{self.frames} frames" + (f" at {self.fps:g} fps" if self.fps else ""),
                 f"{self.format}, {self.via}"]
        if self.rig is not None:
            parts.append(f"rig {self.rig}" + (" (detected from the mesh)" if self.rig_detected
                                              else ""))
        if self.residual_mean is not None:
            parts.append(f"solve residual mean {self.residual_mean:.3f} max {self.residual_max:.3f}")
        if self.events is not None:
            parts.append(f"{self.events} events")
        if self.repairs:
            parts.append("repaired: " + "; ".join(self.repairs))
        return f"{self.capture} -> {self.output}: " + ", ".join(parts)


def output_kind(path: str, rig_name: str | None) -> str:
    """``glb``, ``livelinkface``, ``weights``, ``curves`` or ``timeline`` for an output path."""
    extension = Path(path).suffix.lower()
    if extension in (".glb", ".gltf"):
        return "glb"
    if extension == ".csv":
        if rig_name is None:
            return "curves"
        return "livelinkface" if _is_arkit_rig_name(rig_name) else "weights"
    if extension in TIMELINE_EXTENSIONS:
        return "timeline"
    raise UnsupportedFormatError(
        f"{path}: cannot write {extension or 'a file without extension'}; retarget writes .glb, "
        f".gltf, .csv, .json, .txt, .notes or .eaf")


def _is_arkit_rig_name(rig_name: str) -> bool:
    from facs_rig.io.rig_files import load_rig

    rig = load_rig(rig_name)
    return bool(rig.targets) and all(canonical_arkit_name(t) for t in rig.targets)


def _default_mesh() -> str:
    from facs_rig.resources import rigs_dir

    candidate = rigs_dir() / "default_head.glb"
    if not candidate.exists():
        raise UnsupportedFormatError("glTF output needs --mesh face.glb (the bundled default head "
                                     "is not available in this build)")
    return str(candidate)


def mesh_and_rig(rig: str | None, mesh: str | None):
    """The glTF a ``.glb`` output is baked into (``mesh``, or the bundled default head) and the
    rig profile matched to its targets (``rig``, or detected): ``(gltf, RigMatch)``.

    Raises
    ------
    FacsRigError
        A mesh that cannot be read, an unknown rig, a rig that drives none of its targets.
    """
    from facs_rig.io.gltf import read_gltf
    from facs_rig.io.gltf.matching import resolve_rig

    gltf = read_gltf(mesh or _default_mesh(), geometry=False)
    return gltf, resolve_rig(rig, gltf)


@on_one_blas_thread
def retarget_file(request: RetargetRequest, capture: Capture | None = None) -> RetargetReport:
    """Read, solve, clean and write one capture per ``request``.

    ``capture``, when given, is ``request.capture`` already read (``facs-rig batch`` writes
    several outputs of one take from a single read); it must have been read with the request's
    ``format`` and ``face``.

    Raises
    ------
    FacsRigError
        Bad input (``CaptureFormatError`` naming file, line and column), unknown rig, unusable
        output path. Nothing is written then.
    """
    kind = output_kind(request.output, request.rig)
    refuse_input_as_output(request.output, request.capture, request.mesh)
    if capture is None:
        capture = read_capture(request.capture, format=request.format, face=request.face)
    via = "tracker AUs"
    residual_mean = residual_max = None
    events = None
    rig_name, detected = None, False
    # Loaded whatever the output, so that a bad --tracker fails even where the weights are copied.
    tracker = choose_tracker(request.tracker, capture.format)

    def note_solve(solved: SolvedAUs) -> AUCurves:
        nonlocal via, residual_mean, residual_max
        if solved.residual is not None:
            via = "solved from blendshapes" if tracker.mapping is None else \
                f"mapped by tracker profile {tracker.name}"
            good = solved.residual[np.isfinite(solved.residual)]
            if good.size:
                residual_mean, residual_max = float(good.mean()), float(good.max())
        return solved.curves

    def solved_curves() -> AUCurves:
        solved, _ = take_curves(capture, request.cleaning, source=request.source,
                                tracker=request.tracker, profile=tracker)
        return note_solve(solved)

    if kind == "timeline":
        from facs_rig.io.timeline_files import write_timeline

        vocabulary = load_vocabulary()
        take = take_events(capture, request.cleaning, request.events, source=request.source,
                           tracker=request.tracker, profile=tracker, vocabulary=vocabulary,
                           thresholds_given=frozenset(request.thresholds_given))
        curves = note_solve(take.solved)
        write_timeline(take.timeline, request.output, vocabulary)
        events = len(take.timeline.events)
        frames, fps = curves.n_frames, curves.fps
    elif kind == "curves":
        from facs_rig.io.curves_csv import write_curves_csv

        curves = solved_curves()
        write_curves_csv(curves, request.output)
        frames, fps = curves.n_frames, curves.fps
    else:
        from facs_rig.io.rig_files import load_rig

        if kind == "glb":
            gltf, match = mesh_and_rig(request.rig, request.mesh)
            rig = match.profile
            detected = request.rig is None
        else:
            rig = load_rig(request.rig)
        rig_name = rig.name
        if request.solve and not copies_arkit_weights(capture, rig):
            raise CaptureFormatError(solve_unused(request.capture, capture.format, rig_name))
        check_rate_holds_take(capture, request.cleaning.fps)
        weights = None if request.solve else direct_arkit_weights(capture, rig)
        if weights is not None:
            _refuse_cleaning_of_a_copy(request, capture, rig.name)
            via = "ARKit weights copied"
            weights = resample_weights(weights, request.cleaning.fps)
        else:
            from facs_rig.core.mixing import mix

            weights = mix(solved_curves(), rig)
        if kind == "glb":
            write_animated_gltf_for(gltf, weights, request.output, match.column_of_target)
        elif kind == "livelinkface":
            # The take's own timecode rate, so that the start label means the same moment (a
            # 24 fps take's 00:00:00:20 is 0.833 s; counted at 60 it was 0.333 s). A drop-frame
            # take (29.97) is labelled non-drop at 30: the start label is the same, the end
            # drifts by drop-frame's 0.1 %.
            rate = float(capture.metadata.get("timecode_rate") or 60.0)
            write_live_link_face(weights, request.output,
                                 start_timecode=capture.metadata.get("start_timecode",
                                                                     "00:00:00:00.000"),
                                 timecode_rate=round(rate),
                                 head=recorded_rotations(capture, weights.times))
        else:
            write_weights_csv(weights, request.output)
        frames, fps = weights.n_frames, weights.fps
    return RetargetReport(request.capture, request.output, capture.format, kind, frames, fps,
                          capture.repairs, via, residual_mean, residual_max, events, rig_name,
                          detected)


def solve_unused(name: str, capture_format: str, rig_name: str) -> str:
    """Why ``--solve`` changes nothing for this capture onto this rig: its AUs go to the rig
    through the AU route anyway (``retarget openface.csv --rig arkit --solve``, a Live Link
    Face take onto ``--rig metahuman`` or onto the bundled head wrote the same bytes)."""
    return (f"{name}: --solve: the {capture_format} take goes onto {rig_name} through its AUs "
            f"anyway; --solve only changes a take whose ARKit weights would be copied onto an "
            f"ARKit-named rig whose targets it recorded")


def copy_ignores(request: RetargetRequest) -> list[str]:
    """The options of ``request`` that an ARKit take's weights copied onto an ARKit-named rig do
    not go through, as typed (``['--neutral auto', '--smooth zero-phase']``).

    The copy (:func:`~facs_rig.io.captures.pipeline.direct_arkit_weights`) takes the recorded
    weights as they are, gaps interpolated, resampled to ``--fps``: the neutral, the gain,
    the smoothing, the gap options and the tracker profile belong to the AU route.
    """
    cleaning = request.cleaning
    return [option for option, given in (
        (f"--neutral {cleaning.neutral}", cleaning.neutral != "none"),
        (f"--gain {cleaning.gain_percentile:g}" if cleaning.gain_percentile is not None else "",
         cleaning.gain_percentile is not None),
        (f"--smooth {cleaning.smoothing}", cleaning.smoothing != "none"),
        (f"--gaps {cleaning.gaps}", cleaning.gaps != "interpolate"),
        (f"--max-gap {cleaning.max_gap:g}" if cleaning.max_gap is not None else "",
         cleaning.max_gap is not None),
        (f"--tracker {request.tracker}", bool(request.tracker)),
        (f"--source {request.source}", request.source == "aus")) if given]


def _refuse_cleaning_of_a_copy(request: RetargetRequest, capture: Capture, rig_name: str) -> None:
    """Refuse options the copy of ARKit weights would not apply (:func:`copy_ignores`): a Live
    Link Face take onto ``--rig arkit`` with ``--neutral auto``, ``--gain 95``, ``--smooth
    zero-phase``, ``--gaps hold`` or ``--tracker`` wrote byte-identical files.

    Raises
    ------
    CaptureFormatError
        Naming the capture, the options and ``--solve``, which applies them.
    """
    ignored = copy_ignores(request)
    if ignored:
        raise CaptureFormatError(
            f"{request.capture}: {', '.join(ignored)}: the {capture.format} take's ARKit weights "
            f"are copied onto {rig_name} as recorded, which "
            f"{'these options do' if len(ignored) > 1 else 'it does'} not change; add --solve "
            f"to solve, clean and mix them")


def recorded_rotations(capture: Capture, times: np.ndarray) -> np.ndarray | None:
    """A Live Link Face take's nine rotation columns at ``times`` (gaps filled, linear between
    rows), for the Live Link Face CSV it is retargeted to; None for other captures.

    They were written as zeros: a take copied "losslessly" to a new Live Link Face CSV (to
    resample it, or after a solve) lost its eye and head rotations, which Unreal's importer
    reads as curves.

    Returns
    -------
    (len(times), 9) float64 array or None
    """
    from facs_rig.core.filters import fill_gaps

    rotations = capture.rotations
    if rotations is None or rotations.n_frames == 0:
        return None
    filled, _ = fill_gaps(rotations.times, rotations.weights)
    source = np.asarray(rotations.times, dtype=np.float64)
    values = np.nan_to_num(np.asarray(filled, dtype=np.float64), nan=0.0)
    at = np.asarray(times, dtype=np.float64)
    return np.column_stack([np.interp(at, source, values[:, k]) for k in range(values.shape[1])])


def write_animated_gltf_for(gltf, weights: TargetWeights, output: str, column_of_target) -> None:
    """Bake ``weights`` into a copy of ``gltf`` (the glTF area's writer)."""
    from facs_rig.io.gltf import write_animated_gltf

    write_animated_gltf(gltf, weights, output, column_of_target=dict(column_of_target))
