"""Calibration from coded takes: fit a tracker -> AU mapping, checked on takes left out.

A studio records takes with its tracker and has them FACS-coded (an ELAN file from a coder, or
an AU detector's CSV such as Py-Feat's or OpenFace's). :func:`fit_mapping` fits, for each coded
AU, ``AU = intercept + sum(w_j * shape_j)`` with every ``w_j >= 0`` (a blendshape's activation
is evidence for an AU, never against it: sign-constrained) by bounded ridge least squares
(:func:`scipy.optimize.lsq_linear` on the ridge-augmented system); the non-negativity bound
leaves most weights at exactly zero (sparse), and weights under ``1e-4`` are dropped. The
mapping's quality is Pearson r per AU on frames of takes **left out of the fit**: k-fold by
take (leave-one-take-out up to ten takes), predictions pooled over the held-out takes. The
final mapping is then fitted on every take; its r on the takes it was fitted on is never
reported.

scipy lives here, in an adapter: :mod:`facs_rig.core` stays numpy and the standard library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.errors import CalibrationError, CaptureFormatError
from facs_rig.io.captures.arkit_names import canonical_arkit_name
from facs_rig.io.captures.trackers import AUMapping

__all__ = ["CodedTake", "Calibration", "fit_mapping", "coded_take", "pearson", "au_ranges",
           "calibrate_tracker", "write_tracker_profile"]

#: Ridge strength (on centred shapes; fixed a priori, not tuned on the data it is scored on).
DEFAULT_RIDGE = 0.002


@dataclass(frozen=True)
class CodedTake:
    """One take: the tracker's blendshapes and the coded AUs on the same frames.

    Attributes
    ----------
    name : str
    shapes : tuple of str
        Canonical ARKit names of the columns of ``blendshapes``.
    blendshapes : (n_frames, n_shapes) float64, no NaN
    channels : tuple of Channel
    coded : (n_frames, n_channels) float64, 0-1; NaN where the coding has no value
    """

    name: str
    shapes: tuple[str, ...]
    blendshapes: np.ndarray
    channels: tuple[Channel, ...]
    coded: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """The fitted mapping and its held-out quality.

    Attributes
    ----------
    mapping : AUMapping
        Fitted on every take; ``mapping.held_out_r`` holds the k-fold figures.
    held_out_r : mapping of Channel to float
        Pearson r per AU over the pooled held-out predictions (NaN when the AU never varies).
    folds : int
    predictions : (n_frames_total, n_channels) float64
        The held-out predictions, takes in input order (for pooled figures elsewhere).
    """

    mapping: AUMapping
    held_out_r: MappingProxyType
    folds: int
    predictions: np.ndarray

    @property
    def mean_r(self) -> float:
        values = [r for r in self.held_out_r.values() if np.isfinite(r)]
        return float(np.mean(values)) if values else float("nan")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two series over the frames where both are finite (NaN if either is flat)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    a, b = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 1e-12 else float("nan")


def _fit_one(shapes: np.ndarray, target: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Non-negative ridge fit of one AU: ``(weights (n_shapes,), intercept)``."""
    from scipy.optimize import lsq_linear

    ok = np.isfinite(target)
    x, y = shapes[ok], target[ok]
    if y.size == 0:
        return np.zeros(shapes.shape[1]), 0.0
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    centred = x - x_mean
    augmented = np.vstack([centred, np.sqrt(ridge * x.shape[0]) * np.eye(x.shape[1])])
    rhs = np.concatenate([y - y_mean, np.zeros(x.shape[1])])
    weights = lsq_linear(augmented, rhs, bounds=(0.0, np.inf), method="bvls").x
    weights[weights < 1e-4] = 0.0
    return weights, y_mean - float(x_mean @ weights)


def _fit(takes: list[CodedTake], shapes: tuple[str, ...], channels: tuple[Channel, ...],
         ridge: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([_columns(take, shapes) for take in takes])
    y = np.concatenate([_coded(take, channels) for take in takes])
    fitted = [_fit_one(x, y[:, k], ridge) for k in range(len(channels))]
    weights = np.stack([w for w, _ in fitted], axis=1)
    return weights, np.asarray([b for _, b in fitted])


def _columns(take: CodedTake, shapes: tuple[str, ...]) -> np.ndarray:
    index = {name: k for k, name in enumerate(take.shapes)}
    return take.blendshapes[:, [index[name] for name in shapes]]


def _coded(take: CodedTake, channels: tuple[Channel, ...]) -> np.ndarray:
    index = {channel: k for k, channel in enumerate(take.channels)}
    out = np.full((take.coded.shape[0], len(channels)), np.nan)
    for k, channel in enumerate(channels):
        if channel in index:
            out[:, k] = take.coded[:, index[channel]]
    return out


def fit_mapping(takes: list[CodedTake], *, ridge: float = DEFAULT_RIDGE,
                folds: int | None = None) -> Calibration:
    """Fit a tracker -> AU mapping and score it k-fold by take.

    Parameters
    ----------
    takes : list of CodedTake
        At least two (one to fit, one to hold out).
    ridge : float
        Ridge strength per frame on centred shapes.
    folds : int, optional
        Number of folds (takes are dealt round-robin); default one take per fold up to ten.

    Raises
    ------
    CalibrationError
        Fewer than two takes, no shape or no AU common to every take.
    """
    if len(takes) < 2:
        raise CalibrationError("calibration needs at least two coded takes (one is held out in turn)")
    shapes = tuple(name for name in takes[0].shapes if all(name in t.shapes for t in takes[1:]))
    channels = tuple(sorted({c for t in takes for c in t.channels if c.au < 50},
                            key=lambda c: c.sort_key))
    if not shapes or not channels:
        raise CalibrationError("the takes share no blendshape or code no AU")
    count = min(folds or min(len(takes), 10), len(takes))
    if count < 2:
        raise CalibrationError("k-fold needs at least two folds")
    fold_of = np.arange(len(takes)) % count
    predictions = [np.zeros((t.blendshapes.shape[0], len(channels))) for t in takes]
    for fold in range(count):
        training = [t for t, f in zip(takes, fold_of) if f != fold]
        weights, intercept = _fit(training, shapes, channels, ridge)
        for k, take in enumerate(takes):
            if fold_of[k] == fold:
                predictions[k] = np.clip(intercept + _columns(take, shapes) @ weights, 0.0, 1.0)
    pooled = np.concatenate(predictions)
    truth = np.concatenate([_coded(t, channels) for t in takes])
    held = {channel: pearson(pooled[:, k], truth[:, k]) for k, channel in enumerate(channels)}
    weights, intercept = _fit(takes, shapes, channels, ridge)
    used = np.flatnonzero(np.any(weights != 0.0, axis=1))
    mapping = AUMapping(channels, tuple(shapes[k] for k in used), weights[used], intercept,
                        MappingProxyType({c: r for c, r in held.items() if np.isfinite(r)}))
    mapping = replace(mapping, ranges=au_ranges(mapping, takes))
    return Calibration(mapping, MappingProxyType(held), count, pooled)


def au_ranges(mapping: AUMapping, takes: list[CodedTake]) -> MappingProxyType:
    """``{channel: (low, high)}``: the 1st and 99th percentile of each AU the mapping gives on
    ``takes`` (the takes it was fitted on), the AU's typical range on this tracker."""
    output = np.concatenate([mapping.apply(take.shapes, take.blendshapes) for take in takes])
    low, high = np.percentile(output, 1, axis=0), np.percentile(output, 99, axis=0)
    return MappingProxyType({channel: (float(low[k]), float(high[k]))
                             for k, channel in enumerate(mapping.channels)})


def coded_take(capture_path: str | os.PathLike[str], coding_path: str | os.PathLike[str],
               vocabulary=None) -> CodedTake:
    """Pair a capture's blendshapes with a coding of the same take.

    The coding is an AU CSV (Py-Feat, OpenFace: its AU columns, interpolated onto the
    capture's times; the capture itself when it is a Py-Feat file with blendshapes) or an
    ELAN/timeline file (sampled at the capture's times).

    Raises
    ------
    CaptureFormatError
        The capture has no blendshapes, or the coding has no AU or does not overlap the take.
    """
    from facs_rig.core.filters import fill_gaps
    from facs_rig.io.captures import read_capture

    capture = read_capture(capture_path)
    if capture.blendshapes is None:
        raise CaptureFormatError(f"{os.fspath(capture_path)}: a {capture.format} capture has no "
                                 f"blendshapes to calibrate")
    shapes = capture.blendshapes
    names = tuple(canonical_arkit_name(n) or n for n in shapes.names)
    filled, _ = fill_gaps(shapes.times, shapes.weights)
    times = np.asarray(shapes.times, dtype=np.float64)
    coding = os.fspath(coding_path)
    if coding.lower().endswith((".eaf", ".json", ".notes", ".txt")):
        from facs_rig.core.timeline import sample
        from facs_rig.io.timeline_files import read_timeline

        timeline = read_timeline(coding, vocabulary)
        curves = sample(timeline, fps=max(timeline.fps, 1.0), duration=max(float(times[-1]),
                                                                           timeline.duration))
    else:
        coded_capture = capture if os.path.samefile(coding, capture_path) else read_capture(coding)
        curves = coded_capture.aus
        if curves is None or not any(c.au < 50 for c in curves.channels):
            raise CaptureFormatError(f"{coding}: no facial AU columns to calibrate against")
    source_times = np.asarray(curves.times, dtype=np.float64)
    if source_times.size == 0 or source_times[-1] < times[0] or source_times[0] > times[-1]:
        raise CaptureFormatError(f"{coding}: does not overlap the take {os.fspath(capture_path)}")
    channels = tuple(c for c in curves.channels if c.au < 50)
    coded = np.full((times.shape[0], len(channels)), np.nan)
    for k, channel in enumerate(channels):
        column = np.asarray(curves.values[:, curves.channels.index(channel)], dtype=np.float64)
        ok = np.isfinite(column)
        if ok.sum() >= 2:
            coded[:, k] = np.interp(times, source_times[ok], column[ok])
    coded[np.asarray(capture.gaps, dtype=bool)] = np.nan
    return CodedTake(os.fspath(capture_path), names, np.asarray(filled, dtype=np.float64),
                     channels, coded)


def calibrate_tracker(captures: list[str], codings: list[str], *, name: str,
                      tracker: str | None = None, folds: int | None = None,
                      vocabulary=None):
    """``facs-rig calibrate``: fit a tracker profile on coded takes.

    Parameters
    ----------
    captures, codings : list of str
        One coding per capture, in the same order (see :func:`coded_take`).
    name : str
        The new profile's name.
    tracker : str, optional
        The profile (name or file) whose facts the new one keeps; default: the bundled one for
        the first capture's format.
    folds : int, optional
        See :func:`fit_mapping`.

    Returns
    -------
    profile : TrackerProfile
        ``tracker`` with the fitted mapping, a description and a source naming the takes.
    calibration : Calibration
        The fit and its held-out figures.

    Raises
    ------
    CalibrationError, CaptureFormatError
    """
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import choose_tracker

    takes = [coded_take(c, k, vocabulary) for c, k in zip(captures, codings)]
    calibration = fit_mapping(takes, folds=folds)
    base = choose_tracker(tracker, read_capture(captures[0]).format)
    profile = replace(
        base, name=name, mapping=calibration.mapping,
        description=f"{base.name} calibrated on {len(takes)} coded takes by facs-rig calibrate",
        sources=base.sources + (f"mapping fitted on {', '.join(Path(c).name for c in captures)}"
                                f" coded by {', '.join(Path(k).name for k in codings)}; "
                                f"held_out_r is {calibration.folds}-fold by take",))
    return profile, calibration


def write_tracker_profile(profile, path: str | os.PathLike[str]) -> None:
    """Write ``profile`` as a tracker profile ``.json`` (atomically: a failed write leaves the
    old file)."""
    import json

    from facs_rig.io.atomic import write_text_atomic
    from facs_rig.io.captures.trackers import tracker_document

    write_text_atomic(path, json.dumps(tracker_document(profile), indent=1) + "\n")
