"""From a capture file to AU curves, to any rig, to events: the retarget pipeline.

:func:`capture_to_aus` gives one set of AU curves for any capture (solving ARKit blendshapes
through the ``arkit`` profile where the tracker gave no AUs); :func:`prepare_curves` cleans them;
:func:`take_curves` does both with the tracker profile a command chose, and :func:`take_events`
goes on to the take's AU events and FACS segments: the one capture -> events pipeline behind
``facs-rig code``, ``retarget``'s timeline outputs and ``batch``'s summaries.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from facs_rig.core.channels import Channel, sort_channels
from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.core.filters import (
    BRIDGED_GAP,
    REST_CEILING,
    LostStretch,
    NeutralCalibration,
    clean_curves,
    fill_gaps,
    lost_stretches,
    off_rest,
    resting_window,
    stillest_at_rest,
)
from facs_rig.core.solve import NO_PRIORS, BlendshapeSolver, SolvePriors, pose_relative_to
from facs_rig.io.blas import on_one_blas_thread
from facs_rig.io.captures._common import Capture
from facs_rig.io.captures.arkit_names import arkit_key, canonical_arkit_name

if TYPE_CHECKING:
    from facs_rig.core.events import CodedSegment
    from facs_rig.core.timeline import Timeline
    from facs_rig.io.captures.trackers import TrackerProfile

__all__ = ["SolvedAUs", "capture_to_aus", "capture_curves", "solver_for", "prepare_curves",
           "event_thresholds", "auto_neutral_note", "neutral_description", "code_summary_text",
           "direct_arkit_weights", "CleaningOptions", "choose_tracker", "capture_source",
           "take_curves", "TakeEvents", "take_events", "CODE_STEPS", "sampled_code_events",
           "AUS_RELATIVE_TO_NEUTRAL", "tracker_unused", "presence_ignores",
           "copies_arkit_weights"]


@dataclass(frozen=True)
class SolvedAUs:
    """AU curves from a capture, with the per-frame fit of the blendshape solve (if any).

    Attributes
    ----------
    curves : AUCurves
        NaN where the capture has gaps.
    residual : (n_frames,) float32 or None
        RMS misfit of the solve per frame (None when the capture carried AUs itself).
    source : str
        ``'aus'`` (the tracker's own AUs) or ``'blendshapes'`` (solved).
    neutral_window : (start, end) seconds or None
        The stretch whose median was subtracted as the neutral (``--neutral auto``'s resting
        second, or the ``START-END`` given); None when no neutral was subtracted.
    neutral_note : str or None
        Why ``--neutral auto`` subtracted no neutral, when it did not for a reason of the take
        (no resting second in it, AUs already relative to the person's neutral); None otherwise.
    closed_levels : mapping of AU number to float, or None
        What the eyes closed read on the curves' AU43 (:func:`_closed_levels`), for
        :func:`~facs_rig.core.events.extract_events`: a blink must come near it. None: the
        default (43 closed at 1).
    closure_depths : AUCurves or None
        The eye-closure channels (43, 45, 46) of ``curves`` cleaned as they are but not
        smoothed (:func:`capture_curves`), where a closure's depth is read; None when nothing
        was smoothed or there are none.
    """

    curves: AUCurves
    residual: np.ndarray | None
    source: str
    neutral_window: tuple[float, float] | None = None
    neutral_note: str | None = None
    closed_levels: Mapping[int, float] | None = None
    closure_depths: AUCurves | None = None


def solver_for(names: tuple[str, ...], rig=None, priors: SolvePriors = NO_PRIORS
               ) -> tuple[BlendshapeSolver, np.ndarray]:
    """The solver of the ``arkit`` profile (or ``rig``) for a capture's shape names, with the
    tracker profile's solve ``priors``.

    Returns the solver and, for each of its targets, the column of ``names`` that feeds it.
    Rig targets the capture lacks (MediaPipe has no ``tongueOut``) are left out of the solve.
    """
    if rig is None:
        from facs_rig.io.rig_files import load_rig

        rig = load_rig("arkit")
    solver, columns = _solver_for(tuple(names), rig, priors)
    return solver, columns.copy()


@functools.lru_cache(maxsize=32)
def _solver_for(names: tuple[str, ...], rig, priors: SolvePriors
                ) -> tuple[BlendshapeSolver, np.ndarray]:
    """:func:`solver_for`, once per capture layout, rig and priors in a process.

    Building the basis (:func:`facs_rig.core.solve.basis_from_rig`) costs ~5 ms, and a batch
    take built it three times (the retarget outputs, the FACS summary, the QC's unused
    channels): a tenth of a one-minute take's work, the same every take. A rig profile
    compares by identity (``load_rig`` returns one object per profile), so a rig object is
    never mistaken for another one; the basis is made read-only, as every caller shares it.
    """
    column_of = {arkit_key(name): k for k, name in enumerate(names)}
    targets = tuple(t for t in rig.targets if arkit_key(t) in column_of)
    solver = BlendshapeSolver.from_rig(rig, targets, priors)
    solver.basis.setflags(write=False)
    columns = np.asarray([column_of[arkit_key(t)] for t in targets], dtype=np.int64)
    return solver, columns


def capture_to_aus(capture: Capture, *, source: str = "auto", rig=None,
                   neutral: str = "none", gain_percentile: float | None = None,
                   tracker=None) -> SolvedAUs:
    """One set of AU curves for any capture.

    Parameters
    ----------
    capture : Capture
    source : {'auto', 'aus', 'blendshapes'}
        ``auto`` uses the tracker's own AUs when it has facial AUs (OpenFace, Py-Feat) and
        solves the blendshapes otherwise (Live Link Face, MediaPipe, Face Cap). Head and eye
        AUs measured from angles are added either way and win over solved ones.
    rig : RigProfile, optional
        Profile whose mapping the blendshapes are solved against (default ``arkit``).
    tracker : TrackerProfile, optional
        Its ``solve_priors`` (sparsity, pair priors) shape the solve. With a fitted ``mapping``
        (``facs-rig calibrate``), blendshapes are mapped to AUs by it instead of solved through
        ``rig`` (the residual is then NaN: there is no fit to report).
    neutral, gain_percentile :
        Neutral calibration (see :class:`CleaningOptions`) applied in the tracker's own space
        *before* solving: a tracker's bias is per blendshape (MediaPipe's noseSneer barely
        moves), so it is removed from the blendshapes, and from the measured angle AUs. When
        the tracker's own AUs are used, the calibration is applied to them; ``'auto'`` then
        subtracts nothing from AUs already relative to the person's neutral
        (:data:`AUS_RELATIVE_TO_NEUTRAL`). ``'auto'`` subtracts nothing either when the take's
        stillest second is not at rest (:func:`facs_rig.core.filters.off_rest`).
    """
    _check_neutral_covers(capture, neutral)
    facial = capture.aus is not None and any(c.au < 50 for c in capture.aus.channels)
    if source not in ("auto", "aus", "blendshapes"):
        raise ValueError(f"source {source!r} is not auto, aus or blendshapes")
    use_blendshapes = capture.blendshapes is not None and (
        source == "blendshapes" or (source == "auto" and not facial))
    if source == "blendshapes" and capture.blendshapes is None:
        from facs_rig.errors import CaptureFormatError

        raise CaptureFormatError(f"{capture.path}: this {capture.format} capture has no blendshapes")
    if source == "aus" and not facial:
        from facs_rig.errors import CaptureFormatError

        # A blendshape capture has no AU columns of its own (Face Cap: none, a traceback once;
        # Live Link Face: only the head and eye AUs measured from its angles, so every facial
        # AU was silently dropped).
        raise CaptureFormatError(f"{capture.path}: this {capture.format} capture has no facial "
                                 f"AU columns of its own (--source aus); its AUs are solved "
                                 f"from its blendshapes: --source auto or blendshapes")
    if not use_blendshapes:
        relative = AUS_RELATIVE_TO_NEUTRAL.get(capture.format) if facial else None
        if neutral == "auto" and relative is not None \
                and auto_neutral_note(capture.aus.times) is None:
            return _angles_only_neutral(capture, relative, gain_percentile)
        calibration, window, note = _calibration_and_window(
            capture.aus.times, capture.aus.values, neutral, gain_percentile,
            names=tuple(c.name for c in capture.aus.channels),
            checked=np.array([c.au < 50 for c in capture.aus.channels], dtype=bool))
        curves = capture.aus if calibration is None else \
            replace(capture.aus, values=calibration.apply(capture.aus.values))
        return SolvedAUs(curves, None, "aus", window, note)
    shapes = capture.blendshapes
    observed, _ = fill_gaps(shapes.times, shapes.weights)
    # A face never tracked has no resting second: the gaps were filled with 0, and a second
    # of those was printed as "neutral: 0.00-0.97 s (automatic)".
    never_tracked = neutral == "auto" and bool(np.all(np.asarray(capture.gaps, dtype=bool)))
    calibration, window, note = _calibration_and_window(
        shapes.times, observed, "none" if never_tracked else neutral, gain_percentile,
        names=shapes.names,
        checked=np.array([not arkit_key(n).startswith("eyelook") for n in shapes.names],
                         dtype=bool),
        lost=np.asarray(capture.gaps, dtype=bool))  # ``observed`` is filled there
    # The automatic neutral's stretch, shared with the angle AUs below.
    rest_window = window if neutral == "auto" else None
    if calibration is not None:
        observed = calibration.apply(observed)
    mapping = getattr(tracker, "mapping", None)
    if mapping is not None and rig is None:
        # A tracker profile calibrated on coded takes maps its blendshapes to AUs directly.
        values = mapping.apply(shapes.names, observed)
        del observed
        residual = np.full(values.shape[0], np.nan, dtype=np.float32)
        channels = mapping.channels
    else:
        solver, columns = solver_for(shapes.names, rig,
                                     getattr(tracker, "solve_priors", NO_PRIORS))
        observed = observed[:, columns]  # drop each whole-take array once used: an hour is 45 MB
        # ``observed`` is this function's own copy: the tracker's crosstalk comes out in place.
        result = solver.solve(observed, times=shapes.times, overwrite_weights=True)
        del observed
        values = result.values
        residual = result.residual.copy()
        del result
        channels = solver.channels
    values[capture.gaps] = np.nan
    residual[capture.gaps] = np.nan
    angle_columns = slice(0, 0)  # the measured head and eye AUs' columns in ``values``
    if capture.aus is not None:
        # Head and eye AUs measured from angles beat solved ones; a detector's facial AUs
        # (Py-Feat) are a different estimate and are not mixed into the solve.
        angles = [k for k, c in enumerate(capture.aus.channels) if c.au >= 51]
        measured = {capture.aus.channels[k] for k in angles}
        keep = [k for k, c in enumerate(channels) if c not in measured]
        angle_values = capture.aus.values[:, angles]
        if rest_window is not None and angle_values.shape[1]:
            # One resting stretch per take, as a coder picks it: the face's. Head and gaze
            # angles are relative to the camera, so the calmer frames of the angles alone
            # (looking into the lens) need not be the performer's resting gaze.
            angle_calibration, _ = _resting_calibration(capture.aus.times, angle_values,
                                                        gain_percentile, rest_window)
        elif neutral == "auto":
            # The face had no resting second (or the take is too short): nothing is subtracted
            # from the angles here either, as `code` says ("neutral: none"). --gain applies to
            # them as to the blendshapes: from 0 on a take too short for a neutral, and from
            # the take's median pose on one with no resting second, once it is subtracted
            # (below). It was left out of both, while every other path gained the angles.
            angle_calibration = None
            if note is None and gain_percentile is not None \
                    and np.isfinite(angle_values).any():
                angle_calibration = NeutralCalibration.gain_only(angle_values, gain_percentile)
        else:
            angle_calibration = _calibration(capture.aus.times, angle_values, neutral,
                                             gain_percentile)
        if angle_calibration is not None:
            angle_values = angle_calibration.apply(angle_values)
        angle_columns = slice(len(keep), len(keep) + len(angles))
        values = np.concatenate([values[:, keep], angle_values], axis=1, dtype=np.float32)
        channels = tuple(channels[k] for k in keep) + tuple(capture.aus.channels[k] for k in angles)
    if neutral == "auto" and window is None and note is not None:
        # No resting second (``note`` says why): the face is coded as measured, but head and
        # eye positions are read against the take's median pose, the position the person holds
        # most, as FACS scores them against the person's neutral (see _angles_only_neutral).
        # Read against 0, Face Cap's eyeLookDown coded 64C in every line of its take.
        values = pose_relative_to(values, channels, np.ones(values.shape[0], dtype=bool))
        measured = values[:, angle_columns]
        if gain_percentile is not None and np.isfinite(measured).any():
            # As on OpenFace's angles (_angles_only_neutral): each measured position's
            # percentile of its departure from the median pose reads 1.0.
            values[:, angle_columns] = NeutralCalibration.gain_only(
                measured, gain_percentile).apply(measured)
        note = note.replace("; give --neutral START-END",
                            "; the head and eyes against their median over the take; give "
                            "--neutral START-END")
    order = sorted(range(len(channels)), key=lambda k: channels[k].sort_key)
    metadata = dict(shapes.metadata)
    metadata["solved_from"] = "blendshapes"
    values = np.ascontiguousarray(values[:, order], dtype=np.float32)
    curves = AUCurves(shapes.times, values,
                      tuple(channels[k] for k in order), shapes.fps, MappingProxyType(metadata))
    levels = _closed_levels(tracker, shapes.names, calibration,
                            mapping if rig is None else None, rig is None)
    return SolvedAUs(curves, residual, "blendshapes", window, note, levels)


#: The blendshapes that measure each eye's closure, read as AU43 one to one by the ``arkit``
#: rig profile's solve (rigs/arkit.json: AU43 drives eyeBlinkLeft/Right at weight 1.0;
#: trackers/arkit.json: "eyeBlink cannot tell a blink (AU45) from a held closure (AU43)").
EYE_CLOSURE_SHAPES = ("eyeBlinkLeft", "eyeBlinkRight")


def _closed_levels(tracker, names: tuple[str, ...], calibration, mapping, arkit_solve: bool
                   ) -> Mapping[int, float] | None:
    """What a face at rest with its eyes closed reads on AU43 after this take's calibration
    and solve or mapping (``arkit_solve``: the ``arkit`` rig profile's solve, AU43 = eyeBlink),
    or None when the tracker profile gives no eyeBlink range (the default: closed at 1).

    The eyes closed are each eyeBlink shape at the profile's typical high (its 99th percentile
    on takes that blink: ARKit's 0.958, Face Cap's left 0.722, MediaPipe's 0.628), the other
    shapes at the take's rest (its neutral, 0 once subtracted); the higher of the two eyes.
    Face Cap's and MediaPipe's eyes close well short of 1, and read against 1 their blinks
    would be no nearer closed than a lid lowered by half; a take whose resting eyeBlink is 0.28
    (Live Link Face ``alex_rom_3.csv``) has that much less left to close once its neutral is
    subtracted.
    """
    shapes = getattr(tracker, "shapes", None) or {}
    columns = {}
    for k, name in enumerate(names):
        canonical = canonical_arkit_name(name) or name
        if canonical in EYE_CLOSURE_SHAPES and "range" in shapes.get(canonical, {}):
            columns[k] = float(shapes[canonical]["range"][1])
    if not columns or (mapping is None and not arkit_solve):
        return None
    row = (np.array(calibration.rest, dtype=np.float64).reshape(1, -1).copy()
           if calibration is not None else np.zeros((1, len(names))))
    for k, high in columns.items():
        row[0, k] = high
    closed = calibration.apply(row) if calibration is not None else row
    closed = np.nan_to_num(closed, nan=0.0)
    if mapping is not None:
        values = mapping.apply(names, closed.astype(np.float32))[0]
        levels = [float(values[j]) for j, c in enumerate(mapping.channels) if c.au == 43]
    else:
        levels = [float(closed[0, k]) for k in columns]
    levels = [level for level in levels if level > 0]
    if not levels:
        return None
    # The higher eye: both eyes close alike, and a profile's range is what its sample takes
    # did (Face Cap's one take closes the left eye to 0.722, its right never past 0.152).
    return MappingProxyType({43: min(1.0, max(levels)), 46: 1.0})


@dataclass(frozen=True)
class CleaningOptions:
    """Options of :func:`prepare_curves` (the CLI's cleaning flags)."""

    gaps: str = "interpolate"
    max_gap: float | None = None
    smoothing: str = "none"
    cutoff_hz: float = 6.0
    neutral: str = "none"  # 'none', 'auto' (the resting second) or 'START-END' seconds
    gain_percentile: float | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        # NaN passes every `<` test, so each check is written to fail for NaN too.
        if self.max_gap is not None and not (0.0 <= self.max_gap < math.inf):
            raise ValueError(f"max_gap must be a number of seconds >= 0, not {self.max_gap!r}")
        if not (0.0 < self.cutoff_hz < math.inf):
            raise ValueError(f"cutoff must be a positive number of Hz, not {self.cutoff_hz!r}")
        # Above 0: the 0th percentile is each channel's lowest value, so every channel that
        # returns to rest got the largest stretch (5x), the opposite of "no gain" (the CLI's
        # --gain says so in its own words).
        if self.gain_percentile is not None and not 0.0 < self.gain_percentile <= 100.0:
            raise ValueError(f"gain percentile must be more than 0 and at most 100, not "
                             f"{self.gain_percentile!r}")
        if self.fps is not None and not (0.0 < self.fps < math.inf):
            raise ValueError(f"fps must be a positive number, not {self.fps!r}")
        if self.neutral not in ("none", "auto"):
            _neutral_window(self.neutral)


def _neutral_window(spec: str) -> tuple[float, float]:
    """``(start, end)`` seconds of a ``'START-END'`` neutral spec, start < end, both finite."""
    try:
        start_text, end_text = spec.split("-", 1)
        window = (float(start_text), float(end_text))
    except ValueError:
        raise ValueError(f"neutral {spec!r} is not none, auto or START-END seconds") from None
    if not (math.isfinite(window[0]) and math.isfinite(window[1]) and window[0] < window[1]):
        raise ValueError(f"neutral {spec!r}: the start must be before the end")
    return window


def _check_neutral_covers(capture: Capture, spec: str) -> None:
    """A START-END neutral window must hold at least one frame of the capture."""
    if spec in ("none", "auto"):
        return
    start, end = _neutral_window(spec)
    data = capture.blendshapes if capture.blendshapes is not None else capture.aus
    times = np.asarray(data.times) if data is not None else np.zeros(0)
    inside = (times >= start) & (times <= end)
    if times.size and not np.any(inside):
        from facs_rig.errors import CaptureFormatError

        raise CaptureFormatError(f"{capture.path}: neutral window {start:g}-{end:g} s holds no "
                                 f"frame (the capture spans {times[0]:g}-{times[-1]:g} s)")
    gaps = np.asarray(capture.gaps, dtype=bool)
    if times.size and gaps.shape == times.shape and np.all(gaps[inside]):
        # Its median would be NaN and nothing would be subtracted, while `code` said
        # "neutral: START-END s (given)" over segments coded against no neutral at all.
        from facs_rig.errors import CaptureFormatError

        raise CaptureFormatError(f"{capture.path}: neutral window {start:g}-{end:g} s holds no "
                                 f"frame with a tracked face (all {int(inside.sum())} are gaps "
                                 f"where the tracker lost it); give a window where the face "
                                 f"was tracked")


#: Why ``--neutral auto`` subtracts nothing from a capture format's own AU columns: they are
#: already measured from the person's neutral (OpenFace) or are no measure from a neutral at
#: all (Py-Feat's presence probabilities), so a second subtracted from them removes real
#: actions. OpenFace 2.x's AU intensity models for video are dynamic:
#: each frame is predicted against the person's running median appearance (their neutral) and,
#: once the video is read, each AU is shifted so that its learned share of the frames reads 0
#: and clipped there (FaceAnalyser::PredictCurrentAUs with ``hog_desc_median``,
#: ExtractAllPredictionsOfflineReg's ``cutoff`` offsets, lib/local/FaceAnalyser/src/
#: FaceAnalyser.cpp; Baltrušaitis, Mahmoud & Robinson 2015, "Cross-dataset learning and
#: person-specific normalisation for automatic Action Unit detection", FG 2015; the OpenFace
#: wiki, "Action Units": AUxx_r reads 0 when the AU is not present). On
#: ``facsvatar_demo_full.csv`` the stillest second (9.88–10.84 s) was a brow and lid raise
#: (AU01_r 2.0–2.3) and subtracting it left 31 of the 91 frames with AU01_r > 2 coded 1.
#: Py-Feat's AU detectors predict each AU's presence from one frame alone (py-feat/xgb_au and
#: svm_au model cards: "predict facial action units from single frame images"): a
#: probability, 0 when absent, with no neutral to subtract.
AUS_RELATIVE_TO_NEUTRAL = MappingProxyType({
    "openface": "OpenFace AU intensities are already relative to the person's neutral",
    "pyfeat": "Py-Feat AU detections are presence probabilities, 0 when absent",
})

#: Shortest take the automatic neutral is used on: its one-second resting stretch must be at
#: most a fifth of the take, else on a 1-2.5 s clip "the resting second" is most of the clip
#: and subtracting it removes the expression itself (Py-Feat clips: mean r 0.27 -> 0.25).
AUTO_NEUTRAL_MIN_TAKE = 5.0


def code_summary_text(repairs, neutral: str, times: np.ndarray | None, segments,
                      n_events: int = 0, window: tuple[float, float] | None = None,
                      note: str | None = None, untracked: tuple[LostStretch, ...] = ()) -> str:
    """What ``facs-rig code`` prints for a take (and ``batch`` writes as ``.facs.txt``): its
    repairs and the neutral subtracted (:func:`neutral_description`) as ``#`` lines, then the
    segments.

    Parameters
    ----------
    repairs : sequence of str
        The capture's repair notes.
    neutral : str
        The cleaning's neutral spec (``'none'``, ``'auto'`` or ``'START-END'``).
    times : (n_frames,) array or None
        The take's frame times (None when the capture has no data).
    segments : sequence of CodedSegment
    n_events : int
        How many AU events the take has: with no segment, the summary says whether there were
        none or all were too brief to code.
    window : (start, end) seconds, optional
        The neutral window used (:attr:`SolvedAUs.neutral_window`); None when none was
        subtracted.
    note : str, optional
        Why none was (:attr:`SolvedAUs.neutral_note`).
    untracked : tuple of LostStretch
        Stretches where the tracker lost the face, coded as nothing
        (:attr:`TakeEvents.untracked`): ``# untracked: 13.23–23.23 s`` when there are any.
    """
    from facs_rig.core.events import format_summary

    text = "".join(f"# repaired: {repair}\n" for repair in repairs)
    text += f"# {neutral_description(neutral, times, window, note)}\n"
    if untracked:
        text += "# untracked: " + ", ".join(f"{u.start:.2f}–{u.end:.2f} s" for u in untracked) \
            + " (the face was lost: nothing coded there)\n"
    if segments:
        return text + format_summary(segments)
    if n_events:
        return text + (f"no AU coded: {n_events} AU event{'s' if n_events != 1 else ''}, "
                       f"all too brief to code\n")
    return text + "no AU events\n"


def auto_neutral_note(times: np.ndarray) -> str | None:
    """Why ``--neutral auto`` falls back to no neutral on this take, or None when it applies."""
    t = np.asarray(times, dtype=np.float64)
    span = float(t[-1] - t[0]) if t.size else 0.0
    if span >= AUTO_NEUTRAL_MIN_TAKE:
        return None
    return (f"take too short: {span:.2f} s, the automatic neutral needs "
            f"{AUTO_NEUTRAL_MIN_TAKE:g} s")


def neutral_description(neutral: str, times: np.ndarray | None,
                        window: tuple[float, float] | None, note: str | None = None) -> str:
    """The neutral a take was coded against, for a coder to check against the video:
    ``neutral: 52.49–53.49 s (automatic)``, ``neutral: 42.50–43.50 s (given)``,
    ``neutral: none (take too short: 1.27 s, the automatic neutral needs 5 s; give --neutral
    START-END)`` or ``neutral: none``.

    Parameters
    ----------
    neutral : str
        The cleaning's neutral spec (``'none'``, ``'auto'`` or ``'START-END'``).
    times : (n_frames,) array or None
        The take's frame times (the automatic neutral's fallback is measured on them).
    window : (start, end) seconds or None
        The window subtracted (:attr:`SolvedAUs.neutral_window`).
    note : str, optional
        Why ``--neutral auto`` subtracted nothing (:attr:`SolvedAUs.neutral_note`):
        ``neutral: none (no resting second found: ...)``.
    """
    if window is not None:
        how = "automatic" if neutral == "auto" else "given"
        if note is not None and neutral == "auto":
            how += f", {note}"
        return f"neutral: {window[0]:.2f}–{window[1]:.2f} s ({how})"
    if note is not None and neutral == "auto":
        return f"neutral: none ({note})"
    note = auto_neutral_note(times) if neutral == "auto" and times is not None else None
    if note is not None:
        return f"neutral: none ({note}; give --neutral START-END)"
    return "neutral: none"


#: At rest no facial AU reads as much as the event threshold ``on`` (0.15, ``core.events``):
#: none would be coded there. Used on AUs already relative to the person's neutral
#: (:data:`AUS_RELATIVE_TO_NEUTRAL`), where 0 is the person's rest.
AU_REST_CEILING = 0.15


def _angles_only_neutral(capture: Capture, relative: str,
                         gain_percentile: float | None) -> SolvedAUs:
    """``--neutral auto`` on a capture whose facial AUs are already relative to the person's
    neutral: the facial AUs are kept as measured; the head and eye position AUs (relative to
    the camera, not to the performer's rest) are measured from the pose over the stillest
    second in which no facial AU reaches :data:`AU_REST_CEILING` or, when there is none, from
    the take's median pose (:func:`facs_rig.core.solve.pose_relative_to`).

    FACS scores head and eye positions against the person's neutral (FACS Manual, Ekman, Friesen
    & Hager 2002, ch. 9: "you must evaluate this against a neutral example"), and the FACS
    Final Test tells coders to "assume that subjects are in their neutral position when they
    are facing towards the person they are talking to or facing towards the camera": the pose
    a person holds most of a take, its median. Read against 0 rad, a face that looks slightly
    down at its screen all through coded 64 (eyes down) in every line
    (``facsvatar_demo_full.csv``: 30 of 30 lines, ``64E`` in 21).
    """
    aus = capture.aus
    angles = np.array([c.au >= 51 for c in aus.channels], dtype=bool)
    if not angles.any() or not np.isfinite(aus.values).any():
        return SolvedAUs(aus, None, "aus", None, relative)
    with np.errstate(invalid="ignore"):
        active = np.any(np.asarray(aus.values)[:, ~angles] >= AU_REST_CEILING, axis=1)
    window = resting_window(aus.times, aus.values, active=active)
    inside = (aus.times >= window[0]) & (aus.times <= window[1])
    at_rest = not active[inside].any()
    values = pose_relative_to(aus.values, aus.channels,
                              inside if at_rest else np.ones(len(aus.times), dtype=bool))
    if gain_percentile is not None:
        # --gain as on any neutral (NeutralCalibration): the percentile of each channel's
        # departure from the neutral reads 1.0, stretched at most 1 / 0.2 times: the positions'
        # from the neutral pose just subtracted, the facial AUs' from their own (they are
        # relative to the person's neutral already). The facial AUs were left out, so
        # `code --gain` on OpenFace changed nothing but the head and eyes.
        tracked = np.isfinite(values).any(axis=0)
        values[:, tracked] = NeutralCalibration.gain_only(
            values[:, tracked], gain_percentile).apply(values[:, tracked])
    if not at_rest:
        return SolvedAUs(replace(aus, values=values), None, "aus", None,
                         f"{relative}; the head and eyes against their median over the take: "
                         f"no second with every facial AU below {AU_REST_CEILING:g}")
    return SolvedAUs(replace(aus, values=values), None, "aus", window,
                     f"head and eyes only: {relative}")


def _calibration(times: np.ndarray, values: np.ndarray, spec: str,
                 gain_percentile: float | None) -> NeutralCalibration | None:
    """The neutral calibration ``spec`` asks for (None: no neutral subtracted)."""
    return _calibration_and_window(times, values, spec, gain_percentile)[0]


def _calibration_and_window(times: np.ndarray, values: np.ndarray, spec: str,
                            gain_percentile: float | None, *,
                            names: tuple[str, ...] | None = None,
                            checked: np.ndarray | None = None,
                            lost: np.ndarray | None = None
                            ) -> tuple[NeutralCalibration | None, tuple[float, float] | None,
                                       str | None]:
    """The neutral calibration ``spec`` asks for, the window it was fitted on (both None when
    no neutral is subtracted) and, for ``'auto'`` on a take with no resting second, why not.

    ``names`` label the channels in that note; ``checked`` marks the ones that must be at rest
    in the automatic window (:func:`facs_rig.core.filters.off_rest`; default all); ``lost``
    marks frames where the tracker lost the face (filled in ``values``), never chosen as the
    automatic window (:func:`facs_rig.core.filters.resting_window`).

    With ``gain_percentile`` and no neutral subtracted (``'none'``, or ``'auto'`` finding no
    resting second), the calibration is the gain alone, from rest 0
    (:meth:`~facs_rig.core.filters.NeutralCalibration.gain_only`).
    """
    calibration, window, note = _neutral_and_window(times, values, spec, gain_percentile,
                                                    names=names, checked=checked, lost=lost)
    if calibration is None and gain_percentile is not None and values.shape[1] > 0 \
            and np.isfinite(values).any():
        calibration = NeutralCalibration.gain_only(values, gain_percentile)
    return calibration, window, note


def _neutral_and_window(times: np.ndarray, values: np.ndarray, spec: str,
                        gain_percentile: float | None, *,
                        names: tuple[str, ...] | None = None,
                        checked: np.ndarray | None = None,
                        lost: np.ndarray | None = None
                        ) -> tuple[NeutralCalibration | None, tuple[float, float] | None,
                                   str | None]:
    """:func:`_calibration_and_window` when a neutral is subtracted (None otherwise)."""
    if spec == "none" or values.shape[1] == 0:
        return None, None, None
    if spec == "auto":
        if auto_neutral_note(times) is not None:
            return None, None, None
        if not np.isfinite(values).any():
            # The face was never tracked: there is no resting second to choose (one of lost
            # frames was printed as "neutral: 0.00-0.97 s (automatic)").
            return None, None, None
        window = resting_window(times, values, lost=lost)
        problem = off_rest(times, values, window, checked=checked)
        if problem is not None:
            # The stillest second holds an expression (Face Cap's held smile): a second at
            # rest elsewhere in the take is still the neutral a coder would pick.
            at_rest = stillest_at_rest(times, values, checked=checked, lost=lost)
            if at_rest is None:
                return None, None, _no_rest_note(window, problem, names)
            window = at_rest
        return (*_resting_calibration(times, values, gain_percentile, window), None)
    window = _neutral_window(spec)
    return (NeutralCalibration.fit(times, values, window=window, gain_percentile=gain_percentile),
            window, None)


def _no_rest_note(window: tuple[float, float], problem, names: tuple[str, ...] | None) -> str:
    """``no resting second found: the stillest, 1.31–2.28 s, reads mouthSmileLeft 0.74, against
    its median 0.00 over the take; give --neutral START-END``: why the automatic neutral was
    refused."""
    name = names[problem.channel] if names is not None else f"channel {problem.channel}"
    if problem.limit >= REST_CEILING:
        why = "more than halfway to its maximum"
    else:
        why = f"against its median {problem.usual:.2f} over the take"
    return (f"no resting second found: the stillest, {window[0]:.2f}–{window[1]:.2f} s, reads "
            f"{name} {problem.value:.2f}, {why}; give --neutral START-END")


def _resting_calibration(times: np.ndarray, values: np.ndarray, gain_percentile: float | None,
                         window: tuple[float, float] | None = None
                         ) -> tuple[NeutralCalibration, tuple[float, float]]:
    """The automatic neutral and its stretch: each channel's median over ``window`` (default:
    the second closest to every channel's resting level, ``core.filters.resting_window``).

    The rest is not capped at a low percentile of the take any more: a channel whose
    antagonist holds it below rest for much of a take (mouthFrown reads 0 while a smile lifts
    the corners) had its rest pulled to 0 by the cap, and its resting value then coded all
    through the take (``S07-001.csv``: 15B; ``alex_rom_3.csv``: 15C). A resting stretch is what
    the window is chosen for, so its median is the rest, as for a hand-picked
    ``--neutral START-END``.
    """
    if window is None:
        window = resting_window(times, values)
    fitted = NeutralCalibration.fit(times, values, window=window, gain_percentile=gain_percentile)
    return fitted, window


def check_rate_holds_take(capture: Capture, fps: float | None) -> None:
    """Refuse an output rate (``--fps``) whose frame interval is longer than the whole take
    (:func:`~facs_rig.core.limits.take_rate_problem`): it kept the first frame alone, and
    ``code`` printed "no AU events" for a take full of them.

    Raises
    ------
    OptionValueError
        Naming the capture, the option and the lowest rate that holds the take.
    """
    from facs_rig.core.limits import take_rate_problem
    from facs_rig.errors import OptionValueError

    if fps is None or capture.n_frames < 2:
        return
    times = capture.times
    problem = take_rate_problem(float(times[-1] - times[0]), fps)
    if problem:
        raise OptionValueError(f"{capture.path}: {problem}")


def capture_curves(capture: Capture, options: CleaningOptions = CleaningOptions(), *,
                   source: str = "auto", rig=None, tracker=None) -> SolvedAUs:
    """AU curves of a capture, calibrated in the tracker's own space, solved if needed, then
    gap-filled, smoothed and resampled per ``options``: what ``retarget`` and ``code`` use.

    Raises
    ------
    OptionValueError
        When ``options.fps`` cannot hold the take (:func:`check_rate_holds_take`), before any
        work.
    """
    check_rate_holds_take(capture, options.fps)
    solved = capture_to_aus(capture, source=source, rig=rig, neutral=options.neutral,
                            gain_percentile=options.gain_percentile, tracker=tracker)
    cleaned = prepare_curves(solved.curves, replace(options, neutral="none",
                                                    gain_percentile=None))
    closures = np.array([c.au in CLOSURE_AUS for c in solved.curves.channels], dtype=bool)
    depths = None
    if options.smoothing != "none" and closures.any():
        # A blink's depth as measured: smoothing takes most off the shortest peaks.
        depths = prepare_curves(_channel_subset(solved.curves, closures),
                                replace(options, neutral="none", gain_percentile=None,
                                        smoothing="none"))
    return SolvedAUs(cleaned, solved.residual, solved.source, solved.neutral_window,
                     solved.neutral_note, solved.closed_levels, depths)


#: The channels that measure an eye's closure (:data:`SolvedAUs.closure_depths`): 43, 45
#: (OpenFace's AU45_r) and a rig's wink channel, 46.
CLOSURE_AUS = frozenset({43, 45, 46})


def _depths_on(depths: AUCurves | None, curves: AUCurves) -> AUCurves | None:
    """``depths`` on the frames of ``curves``, a run of the frames they were made on (a tracked
    part of the take, :func:`tracked_events`), or None."""
    if depths is None:
        return None
    times = np.asarray(curves.times, dtype=np.float64)
    all_times = np.asarray(depths.times, dtype=np.float64)
    if times.size == 0:
        return None
    first = int(np.searchsorted(all_times, times[0]))
    rows = slice(first, first + times.size)
    if first + times.size > all_times.size or not np.array_equal(all_times[rows], times):
        return None
    return replace(depths, times=all_times[rows], values=np.asarray(depths.values)[rows])


def prepare_curves(curves: AUCurves, options: CleaningOptions = CleaningOptions()) -> AUCurves:
    """Fill gaps, calibrate the neutral, smooth and resample, per ``options``."""
    neutral = _calibration(curves.times, curves.values, options.neutral, options.gain_percentile)
    return clean_curves(curves, gaps=options.gaps, max_gap=options.max_gap,
                        smoothing=options.smoothing, cutoff_hz=options.cutoff_hz,
                        neutral=neutral, fps=options.fps)


def copies_arkit_weights(capture: Capture, rig) -> bool:
    """Whether :func:`direct_arkit_weights` copies the capture's weights onto ``rig`` (every
    target of the rig is an ARKit shape the capture recorded; MediaPipe's missing tongueOut
    reads 0): the only case ``--solve`` changes."""
    shapes = capture.blendshapes
    if shapes is None or not rig.targets:
        return False
    names = {arkit_key(name) for name in shapes.names}
    return all(arkit_key(t) in names for t in rig.targets if arkit_key(t) != "tongueout")


def direct_arkit_weights(capture: Capture, rig) -> TargetWeights | None:
    """The capture's own blendshapes renamed to an ARKit-named rig's targets, or None.

    Used when the rig speaks ARKit itself (every one of its targets is an ARKit shape the
    capture recorded): copying weights is lossless, solving to AUs and mixing back is not.
    Gaps are filled by interpolation.
    """
    if not copies_arkit_weights(capture, rig):
        return None
    shapes = capture.blendshapes
    column_of = {arkit_key(name): k for k, name in enumerate(shapes.names)}
    filled, _ = fill_gaps(shapes.times, shapes.weights)
    out = np.zeros((shapes.n_frames, len(rig.targets)), dtype=np.float32)
    for k, target in enumerate(rig.targets):
        if arkit_key(target) in column_of:
            out[:, k] = filled[:, column_of[arkit_key(target)]]
    metadata = dict(shapes.metadata)
    metadata["rig"] = rig.name
    return TargetWeights(shapes.times, out, tuple(rig.targets), shapes.fps, MappingProxyType(metadata))


def resample_weights(weights: TargetWeights, fps: float | None) -> TargetWeights:
    """Weights on a regular grid at ``fps`` (unchanged when None and already regular)."""
    from facs_rig.core.filters import resample

    target = fps or weights.fps
    if target is None:
        span = float(weights.times[-1] - weights.times[0]) if weights.n_frames > 1 else 0.0
        target = float(max(1, round((weights.n_frames - 1) / span))) if span > 0 else 30.0
    if fps is None and weights.fps is not None:
        return weights
    grid, values = resample(weights.times, weights.weights, target)
    return replace(weights, times=grid, weights=values, fps=target)


def _channel_subset(curves: AUCurves, keep: np.ndarray) -> AUCurves:
    """The curves of the channels where ``keep`` (a boolean mask over ``curves.channels``)."""
    index = np.flatnonzero(keep)
    return replace(curves, values=np.ascontiguousarray(curves.values[:, index]),
                   channels=tuple(curves.channels[k] for k in index))


def au_channels(curves: AUCurves) -> tuple[Channel, ...]:
    """The channels of the curves in stable order (helper for callers building rigs)."""
    return sort_channels(curves.channels)


#: Where between an AU's typical low and high (its tracker profile range) its events start when
#: the profile does not say (``mapping.events``, which ``facs-rig calibrate`` chooses): halfway,
#: set before measuring (docs/captures.md, "Fidelity").
EVENT_ON_FRACTION = 0.5
#: No event threshold goes below the FACS trace floor of the intensity scale (A starts above
#: 0.03 on the bundled FACSHuman scale), so an AU the tracker barely moves stays uncoded.
EVENT_ON_FLOOR = 0.03


#: The AUs a profile's own-scale ``events`` set the thresholds of: the facial AUs (FACS 2002:
#: 1-46, none numbered 47-49) but the eye closures. The head and eye positions keep
#: :func:`position_thresholds`; 43 and 45 keep the global ones, because their events are blinks
#: (45) or held closures (43) by how long the eyes stay closed ("if bilateral and the eyes
#: remain closed more than 1/2 second ... 43E", FACS 2002, AU45), which is measured where the
#: lids are closed, not at a trace: with OpenFace's 0.5 as the end, the lid lowering of a squint
#: around a blink (AU45_r 0.6-1.4 beside 7E, ``facsvatar_demo_full.csv`` 11.3-12.4 s) lengthened
#: three blinks of 0.3-0.5 s into 43C closures of 0.4-1.0 s.
OWN_SCALE_AUS = tuple(au for au in range(1, 50) if au not in (43, 45))


def own_scale_thresholds(tracker, options, scale, given: frozenset[str] = frozenset()
                         ) -> dict[int, tuple[float, ...]] | None:
    """Per-AU ``(on, off[, trace])`` from the profile's ``events`` (thresholds on the tracker's
    own intensity scale, :class:`~facs_rig.io.captures.trackers.EventThresholds`) for
    :data:`OWN_SCALE_AUS`, or None.

    ``on`` and ``off`` are carried onto ``scale`` (the scale the curves are on) band by band,
    as the tracker's AU values are (:func:`facs_rig.io.captures.openface.openface_intensity`):
    OpenFace's on 1.0 and off 0.5 read 0.065 and 0.03 on the bundled FACSHuman scale, so an
    OpenFace A (0.5-1.5) is an event where the global 0.15/0.08 (OpenFace 2.0/1.21) kept
    AU10 1.47 out. ``given`` (``--on``, ``--off``, ``--trace``) wins, value by value, as for
    any AU. The trace is the third value only where the profile sets one (``trace``).
    """
    import numpy as np

    from facs_rig.io.captures.openface import openface_intensity
    from facs_rig.io.captures.trackers import TRACE_UNSET
    from facs_rig.resources import load_vocabulary

    events = getattr(tracker, "events", None)
    if events is None:
        return None
    own = load_vocabulary().scale(events.scale)
    on, off = (float(v) for v in openface_intensity(np.array([events.on, events.off]), own,
                                                     scale))
    if "on" in given:
        on = options.on
    if "off" in given:
        off = options.off
    off = min(on, off)
    limits: tuple[float, ...] = (on, off)
    if events.trace != TRACE_UNSET and "trace" not in given:
        limits = (on, off, events.trace)
    return {au: limits for au in OWN_SCALE_AUS}


def event_thresholds(tracker, options, *, rest_at_zero: bool = False,
                     given: frozenset[str] = frozenset(), scale=None
                     ) -> dict[int, tuple[float, ...]] | None:
    """Per-AU ``(on, off)`` event thresholds from a tracker profile's typical AU ranges, and
    its own-scale ``events`` (:func:`own_scale_thresholds`, on ``scale``, default the
    vocabulary's) for the facial AUs the ranges do not cover.

    An AU's typical low on a tracker is its rest there (MediaPipe's resting squint maps to AU6
    0.28, above the global ``on`` 0.15, so at rest AU6 read as always on), and its typical high
    may be well below ``options.on`` (MediaPipe's AU4, AU15 and AU20 reach 0.11-0.15, so they
    never started an event). So thresholds are measured from the low: an event starts at
    ``low + min(options.on, on_fraction (high - low))`` (a rise of at most ``--on`` above rest,
    never below :data:`EVENT_ON_FLOOR`) and ends at ``low + off_fraction (on - low)``. The
    fractions are the profile mapping's ``event_fractions`` (chosen by ``facs-rig calibrate``),
    else :data:`EVENT_ON_FRACTION` and ``options.off / options.on``. None when the profile has
    no AU ranges (solved captures, Live Link Face): the global thresholds apply to every AU.

    Parameters
    ----------
    tracker : TrackerProfile
    options : EventOptions
    rest_at_zero : bool
        A neutral was subtracted (``code``'s automatic neutral on a take of 5 s or more, or
        ``--neutral START-END``): the rest is then at 0, not at the typical low the ranges were
        measured with (on raw output), so thresholds are measured from 0 over the range's span
        ``high - low``. Measured from the raw low, a 10 s MediaPipe take's smile lost its AU6:
        its rest 0.27 above the neutralised rest stood between it and its events.
    given : frozenset of {'on', 'off', 'trace'}
        The thresholds the user gave (``--on``, ``--off``, ``--trace``): each then applies as
        it is, a rise above the AU's rest, instead of the profile's fraction or own value.
    scale : IntensityScale, optional
        The scale the curves are on (default: the vocabulary's default).
    """
    if scale is None:
        from facs_rig.resources import load_vocabulary

        scale = load_vocabulary().scale()
    own = own_scale_thresholds(tracker, options, scale, given)
    ranged = _range_thresholds(tracker, options, rest_at_zero, given)
    if own is None or ranged is None:
        return own or ranged
    return {**own, **ranged}


def _range_thresholds(tracker, options, rest_at_zero: bool, given: frozenset[str]
                      ) -> dict[int, tuple[float, float]] | None:
    """:func:`event_thresholds` from the profile mapping's AU ranges alone."""
    mapping = getattr(tracker, "mapping", None)
    ranges = getattr(mapping, "ranges", None)
    if not ranges or options.on <= 0:
        return None
    on_fraction, off_fraction = (getattr(mapping, "event_fractions", None)
                                 or (EVENT_ON_FRACTION, options.off / options.on))
    thresholds: dict[int, tuple[float, float]] = {}
    for channel, (low, high) in ranges.items():
        if rest_at_zero:
            low, high = 0.0, max(high - low, 0.0)
        if "on" in given:
            on = min(1.0, low + options.on)
        else:
            on = min(1.0, max(EVENT_ON_FLOOR, low + min(options.on, on_fraction * (high - low))))
        off = low + (options.off if "off" in given else (on - low) * off_fraction)
        off = min(on, max(0.0, off))
        previous = thresholds.get(channel.au)
        thresholds[channel.au] = (on, off) if previous is None else min(previous, (on, off))
    return thresholds


#: Capture formats whose own AU columns are a detector's probability that the AU is present, not
#: its intensity: Py-Feat's AU detectors (``xgb_au``, ``svm_au``) are classifiers that "predict
#: facial action units from single frame images" (py-feat model cards on Hugging Face; Cheong et
#: al. 2023, "Py-Feat: Python Facial Expression Analysis Toolbox", Affective Science 4:781-796),
#: and ``Detector.detect`` writes each classifier's probability of the AU's presence. A 0.9 is
#: "very likely present", not "E, maximum intensity".
PRESENCE_FORMATS = MappingProxyType({
    "pyfeat": "Py-Feat AU columns are presence probabilities",
})


def presence_ignores(name: str, capture_format: str, own_aus: bool, events_given,
                     has_blendshapes: bool = False) -> str | None:
    """Why ``--trace`` or ``--whole-events`` (``events_given``, as typed) change nothing on a
    take whose AUs are coded as presence (:data:`PRESENCE_FORMATS`, :func:`presence_events`:
    no trace, no letter to follow), or None. ``own_aus``: the take's AUs are its own AU
    columns, not solved from its blendshapes (which it has, with ``has_blendshapes``)."""
    if not own_aus or capture_format not in PRESENCE_FORMATS:
        return None
    ignored = [option for option in events_given if option.split()[0] in ("--trace",
                                                                           "--whole-events")]
    if not ignored:
        return None
    return (f"{', '.join(ignored)}: {name} is a {capture_format} capture whose AU columns are "
            f"presence probabilities, coded present or absent, with no trace and no intensity "
            f"to follow" + ("; --source blendshapes codes its blendshapes" if has_blendshapes
                            else ""))


#: A presence probability codes the AU from one half: the classifier's own decision (the more
#: probable of present and absent).
PRESENCE_PROBABILITY = 0.5


def presence_events(curves: AUCurves, vocabulary, events, given: frozenset[str] = frozenset()
                    ) -> Timeline:
    """AU events of presence probabilities (:data:`PRESENCE_FORMATS`), coded without a letter.

    An AU is present while its probability is at least :data:`PRESENCE_PROBABILITY` (``--on``
    and ``--off`` when given, as probabilities); its events carry no intensity letter, which
    FACS allows (FACS Manual, Ekman, Friesen & Hager 2002: intensity scoring is optional per
    AU; ``12`` rather than ``12C``), and drive the vocabulary scale's unscored letter's value
    (C on the bundled scale) on a rig. Blinks, splits and the shortest event are as for any AU;
    the intensity is not followed (a probability rising from 0.6 to 0.9 is no stronger action).
    """
    import dataclasses

    from facs_rig.core.events import extract_events

    on = events.on if "on" in given else PRESENCE_PROBABILITY
    off = events.off if "off" in given else min(on, PRESENCE_PROBABILITY)
    options = dataclasses.replace(events, on=on, off=min(off, on), follow_intensity=False,
                                  trace_duration=None)
    scale = vocabulary.scale()
    # A probability is no depth of closure: a closure is told by its length alone.
    found = extract_events(curves, scale, options=options,
                           thresholds={c.au: (options.on, options.off) for c in curves.channels},
                           closed_levels={})
    unscored = scale.letter_to_value(scale.unscored) / scale.maximum
    return found.with_events(dataclasses.replace(e, intensity=unscored, letter=None)
                             for e in found.events)


#: FACS AU numbers of the head and eye positions (FACS Manual 2002, ch. 9: 51-58, 61-66).
POSITION_AUS = frozenset((*range(51, 59), *range(61, 67)))


def position_thresholds(options, given: frozenset[str] = frozenset()
                        ) -> dict[int, tuple[float, float]]:
    """Event thresholds ``(on, off)`` of the head and eye position AUs: ``on`` as for any AU,
    ``off`` at the top of the intensity scale's A band (0.10 on the bundled FACSHuman scale),
    so a position is coded only where it reaches B.

    FACS scores head and eye positions from B: its guideline images show the smaller
    deviations as "unscorable" and the first scorable ones as B (54B, 54C), and "the neutral
    is broad, including minor variations" (FACS Manual, Ekman, Friesen & Hager 2002, ch. 9).
    A facial AU held at A for ``trace_duration`` is a codable trace; a head or gaze held within
    the A band of the person's neutral is that neutral. On the default pose scale
    (:data:`facs_rig.core.solve.DEFAULT_POSE_SCALE`) 0.10 is a head turn of 4 degrees, a nod or
    tilt of 3, a gaze 3 degrees aside or 2 up or down. ``given`` (``--on``/``--off``) wins.
    """
    on = options.on
    off = options.off if "off" in given else max(options.off, min(on, POSITION_OFF))
    return {au: (on, off) for au in POSITION_AUS}


#: The top of the A band of the bundled (FACSHuman) scale: position events end below it.
POSITION_OFF = 0.10


def sampled_code_events(curves: AUCurves, tracker, vocabulary, options=None, *,
                        rest_at_zero: bool = False,
                        closed_levels: Mapping[int, float] | None = None,
                        closure_depths: AUCurves | None = None) -> AUCurves:
    """``code``'s events of ``curves`` sampled back onto their own frame times.

    What a coding of the take says frame by frame, to score against another coding: the events
    ``code`` finds (``options``, default ``code``'s: events follow the intensity; the tracker's
    per-AU thresholds, :func:`event_thresholds`, from a rest of 0 with ``rest_at_zero``: a
    neutral was subtracted from ``curves``), sampled at 240 fps and interpolated onto
    ``curves.times``. A short closure ``code`` writes as AU45 (a blink, bilateral when both
    eyes close) counts on the AU43 channel(s) it was read from when the curves have no AU45 of
    their own (an AU detector's AU43, Py-Feat's, scores any closure), and a long one written as
    AU43 on the AU45 channel it was read from (OpenFace's AU45_r). ``closed_levels``: what
    the eyes closed read on the curves (:attr:`SolvedAUs.closed_levels`), and
    ``closure_depths`` where a closure's depth is read (:attr:`SolvedAUs.closure_depths`).

    Returns
    -------
    AUCurves
        Same times and channels as ``curves``; values (n_frames, n_channels) float32.
    """
    import dataclasses

    from facs_rig.core.events import EventOptions, extract_events
    from facs_rig.core.timeline import sample

    if options is None:
        options = EventOptions(follow_intensity=True)
    thresholds = {**position_thresholds(options),
                  **(event_thresholds(tracker, options, rest_at_zero=rest_at_zero,
                                      scale=vocabulary.scale()) or {})}
    timeline = extract_events(curves, vocabulary.scale(), options=options,
                              thresholds=thresholds,
                              closed_levels=closed_levels,
                              closure_depths=_depths_on(closure_depths, curves))
    own = set(curves.channels)
    closures = [c for c in curves.channels if c.au in (43, 45)]

    def on_own_channels(event):
        """A blink (45) or held closure (43) back on the closure channel(s) it was read from
        (:func:`~facs_rig.core.events.extract_events` names them by length, and writes a blink
        of both eyes as one bilateral 45)."""
        if event.channel in own or event.channel.au not in (43, 45):
            return [event]
        return [dataclasses.replace(event, channel=c) for c in closures
                if event.channel.side is None or c.side == event.channel.side]

    timeline = timeline.with_events(
        [mapped for e in timeline.events for mapped in on_own_channels(e)])
    times = np.asarray(curves.times, dtype=np.float64)
    dense = sample(timeline, fps=240.0, channels=curves.channels,
                   duration=float(times[-1]) + 0.01 if len(times) else 0.0)
    values = np.stack([np.interp(times, dense.times, dense.values[:, k])
                       for k in range(len(curves.channels))], axis=1) if len(times) else \
        np.zeros((0, len(curves.channels)))
    return replace(curves, values=values.reshape(len(times), len(curves.channels))
                   .astype(np.float32))


def choose_tracker(name_or_file: str | None, capture_format: str):
    """The tracker profile ``--tracker`` names, or the bundled one for the capture's format."""
    from facs_rig.io.captures.trackers import load_tracker, tracker_for_format

    return load_tracker(name_or_file) if name_or_file else tracker_for_format(capture_format)


def tracker_mismatch(tracker_given: str | None, capture_format: str) -> str | None:
    """A note when the profile ``--tracker`` names is for other trackers than the capture's
    format implies (:func:`~facs_rig.io.captures.trackers.tracker_for_format`), else None.

    A profile is a tracker's facts (its shapes' gains, rest levels, event thresholds): MediaPipe's
    eyeWide gain on an iPhone take, whose eyeWide rests at 0.34-0.48, coded a resting face
    ``5A``/``5B`` all take long (26 segments with AU5 instead of 6 on S07-001.csv), without a
    word. It still applies, as asked (a studio may calibrate its own profile and reuse it on
    a tracker it has not listed); a profile that lists no format (``generic``, a profile of
    one's own) is no mismatch.

    Returns
    -------
    str or None
        ``--tracker mediapipe is the profile of MediaPipe and Py-Feat captures; this Live Link
        Face capture's is arkit (mediapipe's gains and thresholds are applied as asked)``.
    """
    if not tracker_given:
        return None
    from facs_rig.io.captures import FORMAT_NAMES
    from facs_rig.io.captures.trackers import load_tracker, tracker_for_format

    given = load_tracker(tracker_given)
    if not given.capture_formats or capture_format in given.capture_formats:
        return None
    implied = tracker_for_format(capture_format)
    formats = " and ".join(FORMAT_NAMES.get(f, f) for f in given.capture_formats)
    return (f"--tracker {tracker_given} is the profile of {formats} captures; this "
            f"{FORMAT_NAMES.get(capture_format, capture_format)} capture's is {implied.name} "
            f"({given.name}'s gains and thresholds are applied as asked)")


def capture_source(source: str, tracker_given: str | None, capture: Capture) -> str:
    """The AU source to use: ``--source`` as given, except that a tracker profile named with
    ``--tracker`` on a capture that carries both its own AUs and blendshapes (Py-Feat) means the
    blendshapes, since the profile maps blendshapes; ``auto`` would otherwise take the
    detector's AUs and leave the profile unused without a word."""
    if source == "auto" and tracker_given and capture.blendshapes is not None:
        return "blendshapes"
    return source


def tracker_unused(name: str, capture_format: str, has_blendshapes: bool, source: str,
                   has_events: bool = False) -> str | None:
    """Why a tracker profile named with ``--tracker`` has nothing to apply to on a take (the
    text after ``--tracker NAME: ``), or None when it applies.

    A tracker profile maps or solves a capture's blendshapes to AUs, and its mapping's AU
    ranges set the event thresholds of the AUs it mapped. A take whose AUs are the capture's
    own AU columns (OpenFace's intensities, the detections of a Py-Feat file without
    blendshapes, ``--source aus``) goes through neither: the profile was ignored without a
    word, or its ranges, measured on another tracker's mapped AUs, set the thresholds of
    OpenFace's AUs (``code --tracker mediapipe`` on an OpenFace take changed its lines).

    Parameters
    ----------
    name : str
        The capture's path, for the message.
    capture_format : str
        One of ``CAPTURE_FORMATS``.
    has_blendshapes : bool
        The capture carries blendshapes (Live Link Face, MediaPipe, Face Cap, a Py-Feat file
        with MediaPipe's).
    source : {'auto', 'aus', 'blendshapes'}
        ``--source``.
    has_events : bool
        The profile has its own-scale event thresholds (``events``): they set the events of
        any take's AUs, its own AU columns too (an OpenFace take's, from ``--tracker FILE``).
    """
    if has_events:
        return None
    if source == "aus":
        return ("--source aus reads the capture's own AU columns, not blendshapes for a "
                "tracker profile to map")
    if not has_blendshapes:
        return (f"{name} is {'an' if capture_format[0] in 'aeiou' else 'a'} {capture_format} "
                f"capture with no blendshapes for a tracker profile to map (its AUs are its own "
                f"AU columns)")
    return None


@on_one_blas_thread
def take_curves(capture: Capture, cleaning: CleaningOptions, *, source: str = "auto",
                tracker: str | None = None, profile: TrackerProfile | None = None
                ) -> tuple[SolvedAUs, TrackerProfile]:
    """A take's cleaned AU curves through the tracker profile ``tracker`` names (``--tracker``;
    default: the bundled one for the capture's format).

    ``profile``, when given, is that profile already loaded (:func:`choose_tracker`).

    Raises
    ------
    CaptureFormatError
        ``tracker`` named on a take whose AUs are the capture's own AU columns
        (:func:`tracker_unused`): it would change nothing, or the wrong thing.

    Returns
    -------
    solved : SolvedAUs
    profile : TrackerProfile
        The tracker profile used (its mapping and AU ranges also set the event thresholds).
    """
    if profile is None:
        profile = choose_tracker(tracker, capture.format)
    if tracker:
        unused = tracker_unused(capture.path, capture.format, capture.blendshapes is not None,
                                source, profile.events is not None)
        if unused is not None:
            from facs_rig.errors import CaptureFormatError

            raise CaptureFormatError(f"--tracker {tracker}: {unused}")
    solved = capture_curves(capture, cleaning, tracker=profile,
                            source=capture_source(source, tracker, capture))
    return solved, profile


#: The steps of ``facs-rig code``, in order: :func:`take_events` reports each of them (from
#: ``solving`` on; the caller reads the capture) and then ``len(CODE_STEPS)`` when done.
CODE_STEPS = ("reading", "solving", "finding events", "coding")


@dataclass(frozen=True)
class TakeEvents:
    """What :func:`take_events` found in one take.

    Attributes
    ----------
    solved : SolvedAUs or None
        The cleaned AU curves and the solve's residual (None when ``keep_curves=False``).
    timeline : AUTimeline
        The AU events (hysteresis extraction with the tracker profile's thresholds).
    segments : list of CodedSegment or None
        The FACS-coded segments in time order (None unless ``code=True``).
    tracker : TrackerProfile
        The tracker profile used.
    repairs : tuple of str
        The capture's repair notes.
    times : (n_frames,) array or None
        The capture's own frame times (None when it has no data): what the automatic
        neutral's note measures the take by.
    neutral_window : (start, end) seconds or None
        The neutral window subtracted (:attr:`SolvedAUs.neutral_window`), kept when the curves
        are not.
    neutral_note : str or None
        Why ``--neutral auto`` subtracted none (:attr:`SolvedAUs.neutral_note`).
    untracked : tuple of LostStretch
        Stretches where the tracker lost the face for longer than the events bridge
        (:func:`untracked_stretches`): no event is read inside them.
    """

    solved: SolvedAUs | None
    timeline: Timeline
    segments: list[CodedSegment] | None
    tracker: TrackerProfile
    repairs: tuple[str, ...]
    times: np.ndarray | None
    neutral_window: tuple[float, float] | None = None
    neutral_note: str | None = None
    untracked: tuple[LostStretch, ...] = ()

    def summary_text(self, neutral: str) -> str:
        """The take's ``code`` summary (:func:`code_summary_text`); needs ``code=True``."""
        return code_summary_text(self.repairs, neutral, self.times, self.segments,
                                 len(self.timeline.events), self.neutral_window,
                                 self.neutral_note, self.untracked)

    def summary_document(self, neutral: str) -> dict:
        """The take's ``code --json`` document; needs ``code=True``.

        ``{"neutral": {...}, "repairs": [...], "untracked": [...], "segments": [...]}``: the
        neutral the segments were coded against (``start``/``end`` seconds or null, ``kind``
        ``automatic``, ``given`` or ``none``, and ``text``, the line ``code`` prints without
        its ``# ``), the capture's repair notes, the stretches where the face was lost and
        nothing was coded (``start``, ``end``: first and last lost frame), and the segments
        (``start``, ``end``, ``code``, ``emotion``, ``matched``, ``of``).
        """
        window = self.neutral_window
        kind = "none" if window is None else ("automatic" if neutral == "auto" else "given")
        return {
            "neutral": {"start": None if window is None else round(window[0], 4),
                        "end": None if window is None else round(window[1], 4),
                        "kind": kind,
                        "text": neutral_description(neutral, self.times, window,
                                                    self.neutral_note)},
            "repairs": list(self.repairs),
            "untracked": [{"start": round(u.start, 4), "end": round(u.end, 4)}
                          for u in self.untracked],
            "segments": [{"start": round(s.start, 4), "end": round(s.end, 4),
                          "code": str(s.code), "emotion": s.emotion, "matched": s.matched,
                          "of": s.total} for s in self.segments],
        }


def take_events(capture: Capture, cleaning: CleaningOptions, events, *, source: str = "auto",
                tracker: str | None = None, profile: TrackerProfile | None = None,
                vocabulary=None, code: bool = False, keep_curves: bool = True,
                progress=None, thresholds_given: frozenset[str] = frozenset()) -> TakeEvents:
    """The capture -> events pipeline: a take's AU curves (:func:`take_curves`), their events
    and, with ``code``, their FACS-coded segments.

    Parameters
    ----------
    capture : Capture
        The take as read. This function drops its own reference once the curves are made: a
        caller that passes a capture it does not keep lets an hour of blendshapes (45 MB) go
        before events and coding.
    cleaning : CleaningOptions
    events : EventOptions
    source, tracker :
        ``--source`` and ``--tracker`` (see :func:`capture_source`, :func:`choose_tracker`).
    profile : TrackerProfile, optional
        The profile ``tracker`` names, when the caller has already loaded it.
    vocabulary : Vocabulary, optional
        Default: the bundled one.
    code : bool
        Also code the events into segments (``facs-rig code``, batch summaries).
    keep_curves : bool
        Keep the curves in the result (False drops them once the events are found).
    progress : callable, optional
        Called with the index in :data:`CODE_STEPS` of each step as it starts, then with
        ``len(CODE_STEPS)``.
    thresholds_given : frozenset of {'on', 'off', 'trace'}
        The thresholds of ``events`` the user gave: they override the profile's per-AU
        fractions and own-scale thresholds (:func:`event_thresholds`).
    """
    from facs_rig.core.events import code_segments, extract_events

    def step(index: int) -> None:
        if progress is not None:
            progress(index)

    if vocabulary is None:
        from facs_rig.resources import load_vocabulary

        vocabulary = load_vocabulary()
    take = capture.blendshapes if capture.blendshapes is not None else capture.aus
    times = take.times if take is not None else None
    untracked = untracked_stretches(capture, cleaning) if times is not None else ()
    repairs = capture.repairs
    capture_format = capture.format
    del take
    step(1)
    solved, profile = take_curves(capture, cleaning, source=source, tracker=tracker,
                                  profile=profile)
    del capture
    step(2)
    # Thresholds from a rest of 0 when a neutral was subtracted (the ranges are of raw output).
    thresholds = {**position_thresholds(events, thresholds_given),
                  **(event_thresholds(profile, events,
                                      rest_at_zero=solved.neutral_window is not None,
                                      given=thresholds_given, scale=vocabulary.scale()) or {})}
    levels, depths = solved.closed_levels, solved.closure_depths
    curves = solved.curves
    presence = (np.array([c.au < 50 for c in curves.channels], dtype=bool)
                if solved.source == "aus" and capture_format in PRESENCE_FORMATS
                else np.zeros(len(curves.channels), dtype=bool))

    def read_events(curves: AUCurves) -> Timeline:
        if presence.any():
            # A detector's presence probabilities are coded as present or not, with no letter.
            found = presence_events(_channel_subset(curves, presence), vocabulary, events,
                                    thresholds_given)
            rest = extract_events(_channel_subset(curves, ~presence), vocabulary.scale(),
                                  options=events, thresholds=thresholds, closed_levels=levels,
                                  closure_depths=_depths_on(depths, curves))
            from facs_rig.core.timeline import Timeline

            metadata = dict(rest.metadata)
            metadata["events_from"] = (
                f"{PRESENCE_FORMATS[capture_format]}, coded present without a letter: "
                f"{found.metadata.get('events_from', '')}"
                + ("" if presence.all() else f"; other AUs: {rest.metadata.get('events_from', '')}"))
            return Timeline((*rest.events, *found.events),
                            max(found.duration, rest.duration), rest.fps, metadata)
        return extract_events(curves, vocabulary.scale(), options=events, thresholds=thresholds,
                              closed_levels=levels, closure_depths=_depths_on(depths, curves))

    timeline = (tracked_events(curves, untracked, read_events) if untracked
                else read_events(curves))
    timeline = _noting_own_thresholds(timeline, profile, thresholds_given)
    del curves
    neutral_window, neutral_note = solved.neutral_window, solved.neutral_note
    if not keep_curves:
        solved = None
    step(3)
    segments = (code_segments(timeline, vocabulary, min_duration=events.min_duration)
                if code else None)
    step(4)
    return TakeEvents(solved, timeline, segments, profile, repairs, times, neutral_window,
                      neutral_note, untracked)


def _noting_own_thresholds(timeline: Timeline, profile, given: frozenset[str]) -> Timeline:
    """``timeline`` with its ``events_from`` naming the profile's own-scale thresholds where
    they were used: :func:`~facs_rig.core.events.extract_events` names only the global
    ``on``/``off``, which on an OpenFace take are not what its facial AUs started at."""
    own = getattr(profile, "events", None)
    if own is None or {"on", "off"} <= given:
        return timeline
    import dataclasses

    metadata = dict(timeline.metadata)
    own_values = " and ".join(f"{name} {getattr(own, name):g}" for name in ("on", "off")
                              if name not in given)
    metadata["events_from"] = (f"{metadata.get('events_from', '')}; AUs 1-49 but 43 and 45: "
                               f"{own_values} on the {own.scale} scale (tracker profile "
                               f"{profile.name})")
    return dataclasses.replace(timeline, metadata=metadata)


def untracked_stretches(capture: Capture, cleaning: CleaningOptions) -> tuple[LostStretch, ...]:
    """The stretches of ``capture`` where the tracker lost the face for longer than events
    are read across: ``cleaning.max_gap`` (``--max-gap``) when given, else
    :data:`~facs_rig.core.filters.BRIDGED_GAP` (a blink's length, 0.5 s)."""
    bridge = cleaning.max_gap if cleaning.max_gap is not None else BRIDGED_GAP
    return lost_stretches(capture.times, capture.gaps, bridge)


def tracked_events(curves: AUCurves, untracked: tuple[LostStretch, ...], read_events
                   ) -> Timeline:
    """Events read by ``read_events`` (curves -> Timeline) from each tracked part of
    ``curves`` on its own, as if each were a take: none inside an ``untracked`` stretch, and
    an action under way where the face is lost ends there without an offset, as at a take's
    end, instead of being read across seconds of interpolated (invented) frames.

    The curves' frames stay as they are (``retarget`` writes weights for every frame, filled
    across the gaps for animation); only the events leave the lost stretches out.
    """
    from facs_rig.core.timeline import Timeline

    times = np.asarray(curves.times, dtype=np.float64)
    lost = np.zeros(times.shape[0], dtype=bool)
    for stretch in untracked:
        lost |= (times > stretch.before) & (times < stretch.after)
    edges = np.diff(np.concatenate(([0], (~lost).astype(np.int8), [0])))
    found, metadata = [], None
    for first, end in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
        part = read_events(replace(curves, times=times[first:end],
                                   values=np.asarray(curves.values)[first:end]))
        found.extend(part.events)
        metadata = metadata if metadata is not None else dict(part.metadata)
    metadata = dict(curves.metadata) if metadata is None else metadata
    metadata["untracked"] = [[round(u.start, 4), round(u.end, 4)] for u in untracked]
    return Timeline(tuple(found), float(times[-1]) if times.size else 0.0, curves.fps or 30.0,
                    metadata)
