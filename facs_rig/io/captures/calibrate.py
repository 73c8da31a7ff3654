"""Calibration from coded takes: fit a tracker -> AU mapping, checked on takes left out.

A studio records takes with its tracker and has them FACS-coded (an ELAN file from a coder, or
an AU detector's CSV such as Py-Feat's or OpenFace's). :func:`fit_mapping` fits, for each coded
AU, ``AU = intercept + sum(w_j * shape_j)`` over the AU's own live shapes only (its FACS
structure, :func:`au_structure`: the ``arkit`` rig profile's ``action_units`` and the tracker
profile's sourced ``relations``) with every ``w_j >= 0`` (a blendshape's activation is evidence
for the AU it expresses; ``<= 0`` only on a declared antagonist), scaled so that the rig's pose
of the AU reads 1, by bounded ridge least squares,
solved from its normal equations (per-take sums of the shapes' Gram matrix, so the cost is one
pass over the frames whatever the folds; :func:`scipy.optimize.nnls` on the small system gives
the minimum :func:`scipy.optimize.lsq_linear` gives on the stacked frames); the non-negativity
bound leaves most weights at exactly zero (sparse), and weights under ``1e-4`` are dropped. The
mapping's quality is Pearson r per AU on frames of takes **left out of the fit**: k-fold by
take (leave-one-take-out up to ten takes), predictions pooled over the held-out takes. The
final mapping is then fitted on every take; its r on the takes it was fitted on is never
reported. A coding must cover at least half of its take, and the take half of its coding
(:func:`check_coverage`); a take or a coding given twice is refused (:func:`duplicated_takes`);
a mapping whose held-out mean r is below 0 should not be written (:func:`check_held_out`).

Two things are chosen from the data, each by k-fold by take on the takes being fitted only
(:data:`MIN_TAKES_TO_CHOOSE` or more; fewer keep the defaults): the ridge penalty
(:data:`REGULARISATIONS`, by the mapping's mean r on the takes each fit leaves out) and where in
each AU's typical range ``code``'s events start and end (:data:`EVENT_FRACTIONS`, by the mean r
of ``code``'s events against the coding on the takes left out). The held-out figures redo the
choice inside each fold without the takes it scores (nested cross-validation), so choosing
does not flatter them.

scipy lives here, in an adapter: :mod:`facs_rig.core` stays numpy and the standard library.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.errors import CalibrationError, CaptureFormatError
from facs_rig.io.blas import on_one_blas_thread
from facs_rig.io.captures.arkit_names import canonical_arkit_name
from facs_rig.io.captures.trackers import AUMapping, shape_gain

__all__ = ["CodedTake", "Calibration", "Regularisation", "REGULARISATIONS", "EVENT_FRACTIONS",
           "fit_mapping", "choose_event_fractions", "fold_count", "coded_take", "pearson",
           "au_ranges", "au_structure", "Structure", "uncoded_aus", "check_coverage",
           "check_held_out", "calibrate_mapping", "calibrate_tracker", "duplicated_takes",
           "held_out_penalty", "write_tracker_profile", "read_beyond_rest", "REST_QUANTILE"]


@dataclass(frozen=True)
class Regularisation:
    """The ridge penalty of the fit.

    Attributes
    ----------
    strength : float
        Ridge per frame on centred shapes.
    scaled : bool
        False: the penalty is on each weight as it is. True: on each weight times its shape's
        spread (standard deviation over the fitted frames, at least :data:`SPREAD_FLOOR`), i.e.
        ridge on standardised shapes, so that a shape which moves little (MediaPipe's
        mouthShrugLower, 0.06 at most on the Py-Feat clips) can carry an AU as cheaply as one
        that moves a lot.
    """

    strength: float
    scaled: bool = False

    def __str__(self) -> str:
        return f"ridge {self.strength:g}" + (" on standardised shapes" if self.scaled else "")


#: Ridge strength (on centred shapes) when there are too few takes to choose one.
DEFAULT_RIDGE = 0.002
#: The penalties :func:`fit_mapping` chooses among (by k-fold by take on the takes it fits):
#: the default and a decade around it on the shapes as they are, and on standardised shapes.
REGULARISATIONS = (tuple(Regularisation(r) for r in (0.0003, 0.001, DEFAULT_RIDGE, 0.005))
                   + tuple(Regularisation(r, scaled=True) for r in (0.01, 0.03, 0.1, 0.3)))
#: The least spread a standardised shape is taken to have: a shape whose 1st-99th percentile
#: range is 0.05 (the tracker profiles' former ``live`` limit) has a standard deviation of about
#: 0.01; below that its movement is weighed as if it were 0.01, so that a shape which barely
#: moves on the fitted takes cannot get a weight that its first larger movement turns into a
#: spurious AU.
SPREAD_FLOOR = 0.01
#: The ``(on, off)`` event fractions (:attr:`AUMapping.event_fractions`) chosen among: events
#: start 0.2-0.5 of the way up an AU's typical range (0.5 was the fixed default) and end at
#: 0.55-0.85 of that rise above the low (0.55 is about the global 0.08 / 0.15).
EVENT_FRACTIONS = tuple((on, off) for on in (0.2, 0.3, 0.4, 0.5) for off in (0.55, 0.7, 0.85))
#: The fewest takes a choice is made on: each fit of its k-fold then still has two takes.
MIN_TAKES_TO_CHOOSE = 3


def _side_of_shape(name: str) -> str | None:
    """``'L'``/``'R'`` for an ARKit shape of one side (``mouthSmileLeft``), else None."""
    return "L" if name.endswith("Left") else "R" if name.endswith("Right") else None


def _same_side(side: str | None, channel: Channel) -> bool:
    """Whether a shape of ``side`` belongs to ``channel`` (an unsided one takes both sides)."""
    return side is None or channel.side is None or side == channel.side


@dataclass(frozen=True)
class Structure:
    """The FACS structure of ``calibrate``'s fit (:func:`au_structure`).

    Attributes
    ----------
    support : (n_shapes, n_channels) int8
        +1 where a shape may carry an AU with a weight ``>= 0`` (one of the AU's own shapes),
        -1 with a weight ``<= 0`` (an antagonist), 0 not at all.
    pose : (n_shapes, n_channels) float64
        Each AU's own shapes at full intensity as this tracker reads them: the ``arkit`` rig's
        weights (a ``drives`` relation's ``weight``), on ARKit's scale, divided by the shape's
        ``gain`` in the tracker profile, when it gives one (measured on a range-of-motion take;
        the bundled profiles give none). The fitted weights are scaled so that this pose reads 1.
    tied : (n_shapes, n_channels) int
        Shapes with the same number in a column share one weight (the Left and Right of one
        shape for an unsided AU); -1 where the shape is not in the support.
    """

    support: np.ndarray
    pose: np.ndarray
    tied: np.ndarray


def au_structure(tracker, shapes: tuple[str, ...], channels: tuple[Channel, ...],
                 rig=None) -> Structure:
    """Which shapes may carry which AU in ``calibrate``'s fit, and on what scale.

    An AU's own shapes are those the ``arkit`` rig profile's ``action_units`` drive with it
    (``rigs/arkit.json``: AU12 -> mouthSmileLeft/Right and, softly, cheekSquint; AU6 ->
    cheekSquint and eyeSquint), plus the tracker profile's ``relations`` of kind ``drives``;
    the shapes of its ``against`` relations are antagonists. The pose an AU is scaled by is
    the rig's, each shape divided by its ``gain`` in the profile (the tracker's shape at its
    typical high reads as ARKit's at 1). Of those, only shapes the tracker
    profile marks live count (a shape that barely moves on the tracker is no evidence of
    anything: its spread on a few takes is noise a fit turns into spurious AUs). A sided
    channel (``AU12_L``) uses its side's shapes and unsided ones; an unsided channel uses both
    sides with one weight per shape pair (an unsided AU is the same action on both sides, as
    the rig's sided entries of equal weight say).

    Parameters
    ----------
    tracker : TrackerProfile
    shapes : tuple of str
        Canonical ARKit names, the fit's rows.
    channels : tuple of Channel
        The fit's AUs.
    rig : RigProfile, optional
        Default: the bundled ``arkit`` profile.
    """
    if rig is None:
        from facs_rig.io.rig_files import load_rig

        rig = load_rig("arkit")
    facts = getattr(tracker, "shapes", {}) or {}
    live = {name for name in shapes if facts.get(name, {}).get("live", True)}
    row = {name: k for k, name in enumerate(shapes)}
    support = np.zeros((len(shapes), len(channels)), dtype=np.int8)
    pose = np.zeros((len(shapes), len(channels)))
    tied = np.full((len(shapes), len(channels)), -1, dtype=np.intp)
    for column, channel in enumerate(channels):
        own: dict[str, float] = {}
        for m in rig.mappings:
            # An entry other AUs fade out is no own shape (arkit's 26 closes the lips only
            # without 25, and a coder's 26 is mostly 25+26): the AU's own shapes define it.
            if m.au == channel.au and _same_side(m.side, channel) and not m.without:
                own[m.target] = max(own.get(m.target, 0.0), m.weight)
        against = set()
        for relation in getattr(tracker, "relations", ()):
            if relation.au == channel.au:
                chosen = [s for s in relation.shapes if _same_side(_side_of_shape(s), channel)]
                if relation.kind == "drives":
                    own.update({s: relation.weight for s in chosen})
                else:
                    against.update(chosen)
        groups: dict[str, int] = {}
        for name in (*own, *sorted(against)):
            if name not in row or name not in live or support[row[name], column]:
                continue
            support[row[name], column] = -1 if name in against and name not in own else 1
            if support[row[name], column] > 0:
                # The rig's weight is on ARKit's scale; the tracker reaches it at 1 / gain.
                pose[row[name], column] = own[name] / shape_gain(facts, name)
            base = name.removesuffix("Left").removesuffix("Right")
            tied[row[name], column] = groups.setdefault(base, len(groups))
    return Structure(support, pose, tied)


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
    coding : str
        The coding's file, for messages ("" when the take was not read from files).
    capture_format : str
        The capture's format (``read_capture``'s), "" when unknown.
    capture : Capture or None
        The capture read (to run ``code``'s events on it when choosing their thresholds;
        None when the take was not read from a file).
    notes : tuple of str
        What :func:`check_coverage` found doubtful in the pairing, one line each.
    """

    name: str
    shapes: tuple[str, ...]
    blendshapes: np.ndarray
    channels: tuple[Channel, ...]
    coded: np.ndarray
    coding: str = ""
    capture_format: str = ""
    capture: object = field(default=None, compare=False, repr=False)
    notes: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Calibration:
    """The fitted mapping and its held-out quality.

    Attributes
    ----------
    mapping : AUMapping
        Fitted on every take; ``mapping.held_out_r`` holds the k-fold figures.
    held_out_r : mapping of Channel to float
        Pearson r per AU over the pooled held-out predictions (NaN when the AU or its
        prediction never varies: :attr:`unscored` says which).
    folds : int
    predictions : (n_frames_total, n_channels) float64
        The held-out predictions, takes in input order (for pooled figures elsewhere).
    unscored : mapping of Channel to str
        For each AU whose held-out r is NaN, why (e.g. "not coded in any take").
    regularisation : Regularisation
        The penalty of the final fit (chosen on every take, or the default).
    fold_regularisations : tuple of Regularisation
        The penalty each fold's fit used (chosen without the fold's takes).
    beyond_rest : tuple of str
        The AUs the final mapping reads beyond their rest (:func:`read_beyond_rest`), one line
        each, as ``calibrate`` prints them.
    notes : tuple of str
        The takes' doubtful pairings (:attr:`CodedTake.notes`), as ``calibrate`` prints them.
    """

    mapping: AUMapping
    held_out_r: MappingProxyType
    folds: int
    predictions: np.ndarray
    unscored: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    regularisation: Regularisation = Regularisation(DEFAULT_RIDGE)
    fold_regularisations: tuple = ()
    #: The AUs the mapping reads beyond their rest (:func:`read_beyond_rest`), one line each.
    beyond_rest: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def scored(self) -> int:
        """The number of AUs with a held-out r (the others are in :attr:`unscored`)."""
        return sum(1 for r in self.held_out_r.values() if np.isfinite(r))

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


class _PooledR:
    """Pearson r per column over frames pooled from several takes, added one take at a time.

    Each take's frames are centred on their own means and combined with the others' by the
    pairwise update of Chan, Golub & LeVeque (1979), so nothing of the takes is kept and no
    sum of squares cancels. Frames where the truth is NaN are left out, as :func:`pearson`
    leaves them out.
    """

    def __init__(self, n_columns: int):
        self.count = np.zeros(n_columns)
        self.mean_x = np.zeros(n_columns)
        self.mean_y = np.zeros(n_columns)
        self.xx = np.zeros(n_columns)
        self.yy = np.zeros(n_columns)
        self.xy = np.zeros(n_columns)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add one take: prediction and truth, each ``(n_frames, n_columns)``."""
        ok = np.isfinite(x) & np.isfinite(y)
        count = ok.sum(axis=0).astype(np.float64)
        seen = np.maximum(count, 1.0)
        mean_x = np.where(ok, x, 0.0).sum(axis=0) / seen
        mean_y = np.where(ok, y, 0.0).sum(axis=0) / seen
        dx = np.where(ok, x - mean_x, 0.0)
        dy = np.where(ok, y - mean_y, 0.0)
        total = self.count + count
        weight = np.divide(self.count * count, total, out=np.zeros_like(total), where=total > 0)
        step_x, step_y = mean_x - self.mean_x, mean_y - self.mean_y
        self.xx += (dx * dx).sum(axis=0) + weight * step_x * step_x
        self.yy += (dy * dy).sum(axis=0) + weight * step_y * step_y
        self.xy += (dx * dy).sum(axis=0) + weight * step_x * step_y
        share = np.divide(count, total, out=np.zeros_like(total), where=total > 0)
        self.mean_x += share * step_x
        self.mean_y += share * step_y
        self.count = total

    def r(self) -> np.ndarray:
        """``(n_columns,)`` r, NaN where either side is flat or fewer than 3 frames count."""
        scale = np.sqrt(self.xx * self.yy)
        r = np.divide(self.xy, scale, out=np.full_like(scale, np.nan), where=scale > 1e-12)
        return np.where(self.count >= 3, r, np.nan)

    def mean_r(self) -> float:
        """Mean over columns, a column without r counting 0."""
        r = self.r()
        return float(np.mean(np.where(np.isfinite(r), r, 0.0)))


class _TakeSums:
    """One take's sums for the normal equations of every AU, about a fixed shift.

    The frames an AU is fitted on are those its coding has a value at, so the sums depend on
    the AU only through that frame mask; AUs with the same mask share one Gram matrix
    (a take usually has one or two masks: every frame, or every frame but the gaps).

    Attributes
    ----------
    group : (n_channels,) int
        The mask group of each AU.
    count : (n_groups,) float
        Frames in each group.
    shape_sum : (n_groups, n_shapes)
        Sum of the shifted shapes over each group's frames.
    gram : (n_groups, n_shapes, n_shapes)
        Sum of the shifted shapes' outer products over each group's frames.
    target_sum : (n_channels,)
        Sum of each AU's shifted coding over its frames.
    cross : (n_channels, n_shapes)
        Sum of shifted shapes times each AU's shifted coding over its frames.
    """

    def __init__(self, shapes: np.ndarray, targets: np.ndarray):
        finite = np.isfinite(targets)
        groups: dict[bytes, int] = {}
        self.group = np.asarray([groups.setdefault(finite[:, k].tobytes(), len(groups))
                                 for k in range(finite.shape[1])], dtype=np.intp)
        masks = [np.frombuffer(key, dtype=bool) for key in groups]
        self.count = np.asarray([mask.sum() for mask in masks], dtype=np.float64)
        framed = [shapes[mask] for mask in masks]
        self.shape_sum = np.stack([frames.sum(axis=0) for frames in framed])
        # One operand transposed (a.T @ a) is BLAS's symmetric product; two copies are not.
        self.gram = np.stack([frames.T @ frames for frames in framed])
        zeroed = np.where(finite, targets, 0.0)
        self.target_sum = zeroed.sum(axis=0)
        self.cross = zeroed.T @ shapes


class _Sums:
    """Per-AU sums (count, shapes, Gram, coding, cross products) over a set of takes.

    Shifted sums add and subtract exactly enough in float64 that a fold's sums are the total
    minus its held-out takes': the fit then costs one pass over the frames, whatever the folds.
    """

    def __init__(self, n_channels: int, n_shapes: int):
        self.count = np.zeros(n_channels)
        self.shape_sum = np.zeros((n_channels, n_shapes))
        self.gram = np.zeros((n_channels, n_shapes, n_shapes))
        self.target_sum = np.zeros(n_channels)
        self.cross = np.zeros((n_channels, n_shapes))

    def add(self, take: _TakeSums, sign: float = 1.0) -> None:
        self.count += sign * take.count[take.group]
        self.shape_sum += sign * take.shape_sum[take.group]
        self.gram += sign * take.gram[take.group]
        self.target_sum += sign * take.target_sum
        self.cross += sign * take.cross

    def without(self, takes: list[_TakeSums]) -> _Sums:
        rest = _Sums(*self.cross.shape)
        for name in ("count", "shape_sum", "gram", "target_sum", "cross"):
            setattr(rest, name, getattr(self, name).copy())
        for take in takes:
            rest.add(take, -1.0)
        return rest


def _nonnegative_quadratic(matrix: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """``argmin_{w >= 0} w' A w - 2 b' w`` for a symmetric positive (semi)definite ``A``.

    With ``A = L L'`` (Cholesky) this is ``min ||L' w - L^-1 b||^2``, a non-negative least
    squares problem on the small (n_shapes x n_shapes) system (:func:`scipy.optimize.nnls`,
    Lawson-Hanson, an exact active-set method like the ``bvls`` it replaces). A singular ``A``
    (no ridge, dependent shapes) is factored by its eigenvalues instead.
    """
    from scipy.linalg import LinAlgError, cholesky, eigh, solve_triangular
    from scipy.optimize import nnls

    try:
        lower = cholesky(matrix, lower=True)
        factor, rhs = lower.T, solve_triangular(lower, linear, lower=True)
    except LinAlgError:
        values, vectors = eigh(matrix)
        keep = values > values.max() * 1e-12
        roots = np.sqrt(values[keep])
        factor = roots[:, None] * vectors[:, keep].T
        rhs = (vectors[:, keep].T @ linear) / roots
    return nnls(factor, rhs, maxiter=50 * matrix.shape[0])[0]


def _solve(sums: _Sums, shift: np.ndarray, target_shift: np.ndarray,
           regularisation: Regularisation, structure: Structure | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative ridge fit of every AU from its sums: ``(weights (n_shapes, n_channels),
    intercept (n_channels,))``.

    Per AU the same problem as bounded least squares on the centred frames stacked over
    ``sqrt(ridge * n) * D`` (the ridge scales with the frames the AU is fitted on): its normal
    equations are the centred Gram ``G = S_xx - s_x s_x' / n`` plus ``ridge * n * D^2``, and
    ``b = S_xy - s_x s_y / n``; ``D`` is the identity, or for a scaled penalty each shape's
    spread over those frames (at least :data:`SPREAD_FLOOR`).

    With a ``structure`` (:func:`au_structure`) each AU is fitted on its own shapes only (tied
    shapes summed into one column, an antagonist's column negated so its weight is ``<= 0``),
    then scaled so that the AU's pose on the rig reads 1: the fit says how the AU's evidence is
    shared among its shapes, the rig says what intensity 1 is (a detector's probability is no
    FACS intensity). The intercept is then the part below 0 only, as
    :meth:`AUMapping.apply` uses it (a positive intercept is the coding's floor). An AU without
    a live shape gets no weight; one whose own shapes get no weight from the fit keeps the
    rig's reading of them (``pose / |pose|^2``, intercept 0).
    """
    ridge = regularisation.strength
    n_channels, n_shapes = sums.cross.shape
    weights = np.zeros((n_shapes, n_channels))
    intercept = np.zeros(n_channels)
    for k in range(n_channels):
        count = sums.count[k]
        if count < 0.5:  # the AU is coded on none of these frames
            continue
        mean_shapes = sums.shape_sum[k] / count
        mean_target = sums.target_sum[k] / count
        gram = sums.gram[k] - count * np.outer(mean_shapes, mean_shapes)
        cross = sums.cross[k] - mean_shapes * sums.target_sum[k]
        gram = 0.5 * (gram + gram.T)
        penalty = (np.maximum(np.diag(gram) / count, SPREAD_FLOOR ** 2)
                   if regularisation.scaled else np.ones(n_shapes))
        if structure is None:
            w = _nonnegative_quadratic(gram + ridge * count * np.diag(penalty), cross)
            w[w < 1e-4] = 0.0
            weights[:, k] = w
            intercept[k] = (mean_target + target_shift[k]) - float((mean_shapes + shift) @ w)
            continue
        used = np.flatnonzero(structure.support[:, k])
        if not used.size:
            continue
        # One column per tied group: the sum of its shapes, negated for an antagonist.
        group = structure.tied[used, k]
        combine = np.zeros((used.size, int(group.max()) + 1))
        combine[np.arange(used.size), group] = structure.support[used, k]
        inner = combine.T @ gram[np.ix_(used, used)] @ combine
        inner += ridge * count * np.diag(combine.T ** 2 @ penalty[used])
        w = np.zeros(n_shapes)
        w[used] = combine @ _nonnegative_quadratic(inner, combine.T @ cross[used])
        w[np.abs(w) < 1e-4] = 0.0
        full = float(w @ structure.pose[:, k])
        if full <= 1e-9:
            # The coding does not move with the AU's own shapes on these takes: that is no
            # evidence that the shapes mean something else, so the AU keeps the rig's reading
            # of them (its pose read as 1, as :func:`uncoded_aus`), not fitted.
            pose = structure.pose[:, k]
            if pose.any():
                weights[:, k] = pose / float(pose @ pose)
            continue
        weights[:, k] = w / full
        rest = (mean_target + target_shift[k]) - float((mean_shapes + shift) @ w)
        intercept[k] = min(rest / full, 0.0)
    return weights, intercept


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


def fold_count(n_takes: int, folds: int | None = None) -> int:
    """Folds of the cross-validation: ``folds``, default one take per fold up to ten."""
    return min(folds or min(n_takes, 10), n_takes)


def _common(takes: list[CodedTake]) -> tuple[tuple[str, ...], tuple[Channel, ...]]:
    """The shapes every take has and the facial AUs any take codes, or an error naming files."""
    shapes = takes[0].shapes
    for take in takes[1:]:
        kept = tuple(name for name in shapes if name in take.shapes)
        if not kept:
            before = ", ".join(t.name for t in takes[:takes.index(take)])
            raise CalibrationError(f"{take.name}: shares no blendshape with {before} (are they "
                                   f"captures of the same tracker?)")
        shapes = kept
    channels = tuple(sorted({c for t in takes for c in t.channels if c.au < 50},
                            key=lambda c: c.sort_key))
    if not channels:
        raise CalibrationError(f"no coding has a facial AU (1-49) to calibrate on: "
                               f"{', '.join(t.coding or t.name for t in takes)}")
    return shapes, channels


def _unscored_reason(prediction: np.ndarray, truth: np.ndarray, takes_coding: int) -> str:
    """Why an AU has no held-out r (its Pearson r is NaN).

    ``prediction`` and ``truth`` are its pooled held-out and coded frames, ``takes_coding`` the
    number of takes whose coding has a value for it.
    """
    ok = np.isfinite(prediction) & np.isfinite(truth)
    if takes_coding == 0:
        return "not coded in any take"
    if takes_coding == 1:
        return "coded in one take only (held out, no take is left to fit it on)"
    if ok.sum() < 3:
        return "coded on fewer than 3 frames"
    if np.ptp(truth[ok]) <= 1e-12:
        return f"the coding is constant ({float(truth[ok][0]):g}) in every take"
    return "the held-out prediction is constant (no blendshape moves with it)"


class _Problem:
    """The takes of one calibration as sums, to fit and score any subset of them cheaply.

    A fit without some takes is the total sums minus theirs (:class:`_Sums`), so fits for
    nested cross-validation cost a small solve each, not a pass over the frames.
    """

    def __init__(self, takes: list[CodedTake], tracker=None):
        self.shapes, self.channels = _common(takes)
        # The FACS structure of the fit: which shapes may carry which AU (None: any shape).
        self.structure = None if tracker is None else au_structure(tracker, self.shapes,
                                                                   self.channels)
        self.columns = [_columns(take, self.shapes) for take in takes]
        self.truths = [_coded(take, self.channels) for take in takes]
        # Shifting by the means over every frame keeps the sums small, so that subtracting a
        # held-out take's sums from the total loses nothing to cancellation.
        frames = sum(x.shape[0] for x in self.columns)
        self.shift = sum(x.sum(axis=0) for x in self.columns) / frames
        coded_frames = sum(np.isfinite(y).sum(axis=0) for y in self.truths)
        coded_sum = sum(np.nansum(y, axis=0) for y in self.truths)
        self.target_shift = np.divide(coded_sum, coded_frames,
                                      out=np.zeros(len(self.channels)), where=coded_frames > 0)
        self.per_take = [_TakeSums(x - self.shift, y - self.target_shift)
                         for x, y in zip(self.columns, self.truths)]
        self.total = _Sums(len(self.channels), len(self.shapes))
        for sums in self.per_take:
            self.total.add(sums)

    def fit(self, left_out, regularisation: Regularisation) -> tuple[np.ndarray, np.ndarray]:
        """``(weights, intercept)`` fitted on every take but those indexed by ``left_out``."""
        sums = self.total.without([self.per_take[k] for k in left_out])
        return _solve(sums, self.shift, self.target_shift, regularisation, self.structure)

    def predict(self, take: int, weights: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        return np.clip(intercept + self.columns[take] @ weights, 0.0, 1.0)

    def choose(self, takes, left_out=()) -> Regularisation:
        """The penalty of :data:`REGULARISATIONS` whose fits predict the takes they leave out
        best, k-fold by take over ``takes`` (fits never see ``left_out``); the default with
        fewer than :data:`MIN_TAKES_TO_CHOOSE` takes."""
        takes = list(takes)
        if len(takes) < MIN_TAKES_TO_CHOOSE:
            return Regularisation(DEFAULT_RIDGE)
        folds = _folds(takes)
        scores = []
        for regularisation in REGULARISATIONS:
            pooled = _PooledR(len(self.channels))
            for held in folds:
                weights, intercept = self.fit([*left_out, *held], regularisation)
                for k in held:
                    pooled.add(self.predict(k, weights, intercept), self.truths[k])
            scores.append(pooled.mean_r())
        return REGULARISATIONS[int(np.argmax(scores))]

    def mapping(self, weights: np.ndarray, intercept: np.ndarray, takes: list[CodedTake],
                held_out_r=None) -> AUMapping:
        """The :class:`AUMapping` of a fit, with its AU ranges on ``takes`` (those it was
        fitted on)."""
        used = np.flatnonzero(np.any(weights != 0.0, axis=1))
        mapping = AUMapping(self.channels, tuple(self.shapes[k] for k in used), weights[used],
                            intercept, MappingProxyType(dict(held_out_r or {})))
        return replace(mapping, ranges=au_ranges(mapping, takes))


#: An AU's antagonists count as at rest in the frames where each of their shapes is in its
#: lowest quarter over the takes (``tools/build_mediapipe_profile.py``, which first applied the
#: rule to MediaPipe's brows: 41 frames of the ten Py-Feat clips).
REST_QUANTILE = 25.0


def read_beyond_rest(mapping: AUMapping, takes: list[CodedTake], tracker, *,
                     channels=None) -> tuple[AUMapping, tuple[str, ...]]:
    """``mapping`` reading each AU of the tracker profile's ``against`` relations from its level
    with the antagonists at rest, when the takes hold no action of it; and a line per AU changed.

    An antagonist holds an AU's shapes below their rest (a raised brow pulls MediaPipe's
    browDown to 0, as a smile holds mouthFrown at 0), so the AU's typical low over the takes is
    no rest, and its 1st-99th percentile can span nothing but antagonist-to-rest: on the Py-Feat
    clips browDown reads 0.054 with the brows at rest and never passes 0.079, and its range
    (0-0.073) made the brows' return to rest a 4A on smiling readers. Where no frame of the
    takes passes the AU's highest value with its antagonists at rest, the AU is read beyond its
    rest (the median there, subtracted: a negative intercept, clipped at 0 as
    :meth:`AUMapping.apply` reads it) and gets no measured range, so ``code`` applies its
    thresholds above that rest as on ARKit's scale. FACS scores AU4 from the brows lowered and
    drawn together (FACS Manual, Ekman, Friesen & Hager 2002, AU4), not from their return to
    rest. Measured on the blendshapes alone (no coding is read).

    ``calibrate`` applies it to the mapping it writes and to every fold's mapping before
    scoring the takes that fold leaves out, so its held-out figures are those of the reading
    ``retarget`` and ``code`` make with the profile. ``channels`` limits it to those AUs.

    Parameters
    ----------
    mapping : AUMapping
    takes : list of CodedTake
        The takes ``mapping`` was fitted on.
    tracker : TrackerProfile or None
        Its ``relations`` name the antagonists (none: ``mapping`` unchanged).
    """
    relations = [r for r in getattr(tracker, "relations", ()) if r.kind == "against"]
    if not relations or not takes:
        return mapping, ()
    shapes, _ = _common(takes)
    frames = np.concatenate([_columns(take, shapes) for take in takes])
    values = mapping.apply(shapes, frames)
    column_of = {name: k for k, name in enumerate(shapes)}
    intercept = np.array(mapping.intercept, dtype=np.float64)
    ranges = dict(mapping.ranges)
    changed = []
    for relation in relations:
        columns = [column_of[name] for name in relation.shapes if name in column_of]
        targets = [k for k, channel in enumerate(mapping.channels) if channel.au == relation.au
                   and (channels is None or channel in channels)]
        if not columns or not targets:
            continue
        antagonists = frames[:, columns]
        at_rest = np.all(antagonists <= np.percentile(antagonists, REST_QUANTILE, axis=0), axis=1)
        for k in targets:
            if not at_rest.any() or np.max(values[:, k]) > np.max(values[at_rest, k]):
                continue  # the takes hold the action itself: its range is measured
            rest = round(float(np.median(values[at_rest, k])), 3)
            intercept[k] = round(min(float(intercept[k]), 0.0) - rest, 6)
            ranges.pop(mapping.channels[k], None)
            changed.append(f"{mapping.channels[k].name}: read beyond its rest {rest} "
                           f"({int(at_rest.sum())} frames with {', '.join(relation.shapes)} "
                           f"at rest)")
    if not changed:
        return mapping, ()
    return replace(mapping, intercept=intercept, ranges=MappingProxyType(ranges)), tuple(changed)


def held_out_penalty(n_takes: int, folds: int | None = None) -> str:
    """How the penalty of the held-out fits was set, in words, as :func:`fit_mapping` sets it.

    Each fold's fit chooses its penalty again on its own training takes (nested
    cross-validation) only when they are :data:`MIN_TAKES_TO_CHOOSE` or more; with fewer (3
    takes: each fold fits 2) it falls back to the default, which the profile's method and
    ``calibrate``'s output say instead of a choice that was not made.
    """
    count = fold_count(n_takes, folds)
    training = [n_takes - len(held) for held in _folds(list(range(n_takes)), count)]
    short = sorted({n for n in training if n < MIN_TAKES_TO_CHOOSE})
    if not short:
        return "the penalty chosen again inside each fold"
    fallen = sum(1 for n in training if n < MIN_TAKES_TO_CHOOSE)
    default = f"{Regularisation(DEFAULT_RIDGE)}, the default,"
    why = (f"fitted on {' or '.join(map(str, short))} take{'s' if short != [1] else ''}, too few "
           f"to choose on: {MIN_TAKES_TO_CHOOSE} are needed")
    if fallen == count:
        return f"{default} in every fold ({'each' if count > 1 else 'it'} {why})"
    return (f"the penalty chosen again inside {count - fallen} of {count} folds; {default} in "
            f"the other {fallen} ({why})")


def _folds(takes: list[int], folds: int | None = None) -> list[list[int]]:
    """``takes`` dealt round-robin into :func:`fold_count` folds."""
    count = fold_count(len(takes), folds)
    return [takes[fold::count] for fold in range(count)]


def fit_mapping(takes: list[CodedTake], *, ridge: float | Regularisation | None = None,
                folds: int | None = None, progress=None, score: bool = True,
                tracker=None) -> Calibration:
    """Fit a tracker -> AU mapping and score it k-fold by take.

    Parameters
    ----------
    takes : list of CodedTake
        At least two (one to fit, one to hold out).
    ridge : float, Regularisation or None
        The penalty (a float: ridge per frame on the shapes as they are). None (default):
        chosen among :data:`REGULARISATIONS` by k-fold by take on the takes fitted, inside each
        fold for the held-out figures (:data:`DEFAULT_RIDGE` with fewer than
        :data:`MIN_TAKES_TO_CHOOSE` takes to choose on).
    folds : int, optional
        Number of folds (takes are dealt round-robin); default one take per fold up to ten.
    progress : callable, optional
        Called with the number of fits done (``folds + 1`` in all: each fold, then every take).
    score : bool
        False skips the held-out figures (only the final fit; ``held_out_r`` empty,
        ``predictions`` None), for callers that score the mapping themselves.
    tracker : TrackerProfile, optional
        The tracker's profile: each AU is then fitted on its own live shapes only
        (:func:`au_structure`, the FACS structure). None: on every shape (no structure known,
        e.g. shapes that are not ARKit's).

    Raises
    ------
    CalibrationError
        Fewer than two takes, no shape common to every take (naming the take), or no coding
        with a facial AU (naming the codings).

    Notes
    -----
    Each AU's fit is bounded least squares on centred frames, solved from its normal
    equations: one pass over the frames sums each take's Gram matrix (shapes x shapes) and
    cross products, a fold's are the total minus its held-out takes', and the bounded solve
    is on the small system (:func:`_nonnegative_quadratic`). The cost is linear in frames and
    in folds; the result is the stacked ``lsq_linear`` fit's (tests compare the two).
    """
    if len(takes) < 2:
        raise CalibrationError("calibration needs at least two coded takes (one is held out in turn)")
    problem = _Problem(takes, tracker)
    count = fold_count(len(takes), folds)
    if count < 2:
        raise CalibrationError("k-fold needs at least two folds")
    fixed = (None if ridge is None else
             ridge if isinstance(ridge, Regularisation) else Regularisation(float(ridge)))
    everything = list(range(len(takes)))
    channels = problem.channels
    held_r: dict[Channel, float] = {}
    unscored: dict[Channel, str] = {}
    pooled = None
    chosen: list[Regularisation] = []
    if score:
        predictions: list[np.ndarray] = [np.zeros(0)] * len(takes)
        for fold, held in enumerate(_folds(everything, count)):
            training = [k for k in everything if k not in held]
            regularisation = fixed or problem.choose(training, left_out=held)
            chosen.append(regularisation)
            weights, intercept = problem.fit(held, regularisation)
            # Scored as retarget and code read the profile: from the rest (read_beyond_rest),
            # measured on the fold's own training takes.
            fold_mapping, _ = read_beyond_rest(
                AUMapping(channels, problem.shapes, weights, intercept),
                [takes[k] for k in training], tracker)
            for k in held:
                predictions[k] = problem.predict(k, weights, fold_mapping.intercept)
            if progress is not None:
                progress(fold + 1)
        pooled = np.concatenate(predictions)
        truth = np.concatenate(problem.truths)
        held_r = {channel: pearson(pooled[:, k], truth[:, k]) for k, channel in enumerate(channels)}
        takes_coding = sum(np.isfinite(y).any(axis=0) for y in problem.truths)
        unscored = {channel: _unscored_reason(pooled[:, k], truth[:, k], int(takes_coding[k]))
                    for k, channel in enumerate(channels) if not np.isfinite(held_r[channel])}
        if problem.structure is not None:
            for k, channel in enumerate(channels):
                if not problem.structure.support[:, k].any():
                    held_r[channel] = float("nan")
                    unscored[channel] = ("no live shape of this tracker expresses it (the arkit "
                                         "rig's action_units and the profile's relations)")
    regularisation = fixed or problem.choose(everything)
    weights, intercept = problem.fit((), regularisation)
    if progress is not None:
        progress(count + 1)
    mapping, beyond_rest = read_beyond_rest(
        problem.mapping(weights, intercept, takes,
                        {c: r for c, r in held_r.items() if np.isfinite(r)}), takes, tracker)
    return Calibration(mapping, MappingProxyType(held_r), count, pooled,
                       MappingProxyType(unscored), regularisation, tuple(chosen), beyond_rest)


def _code_cleaning():
    """``code``'s cleaning (its defaults: the automatic neutral, zero-phase smoothing), with
    which the event fractions are chosen."""
    from facs_rig.io.captures.pipeline import CleaningOptions

    return CleaningOptions(neutral="auto", smoothing="zero-phase")


def choose_event_fractions(takes: list[CodedTake], regularisation: Regularisation, tracker,
                           vocabulary, folds: int | None = None) -> tuple[float, float] | None:
    """The ``(on, off)`` of :data:`EVENT_FRACTIONS` whose ``code`` events follow the coding best
    on takes left out, k-fold by take over ``takes``.

    Each fold fits the mapping (with ``regularisation``) and its AU ranges on the other takes,
    runs ``code``'s defaults (automatic neutral, zero-phase smoothing, events following the
    intensity, per-AU thresholds) on the held-out takes through ``tracker`` with that mapping,
    and samples the events back onto the take's frames
    (:func:`facs_rig.io.captures.pipeline.sampled_code_events`); the score is the mean over AUs
    of Pearson r against the coding, frames pooled (an AU never coded by an event counts 0).

    Returns
    -------
    (on, off) or None
        None with fewer than :data:`MIN_TAKES_TO_CHOOSE` takes or a take not read from a file.
    """
    from facs_rig.io.captures.pipeline import capture_curves, sampled_code_events

    if len(takes) < MIN_TAKES_TO_CHOOSE or any(take.capture is None for take in takes):
        return None
    problem = _Problem(takes, tracker)
    cleaning = _code_cleaning()
    everything = list(range(len(takes)))
    pooled = {fractions: _PooledR(len(problem.channels)) for fractions in EVENT_FRACTIONS}
    for held in _folds(everything, folds):
        weights, intercept = problem.fit(held, regularisation)
        training = [t for k, t in enumerate(takes) if k not in held]
        mapping, _ = read_beyond_rest(problem.mapping(weights, intercept, training), training,
                                      tracker)
        for k in held:
            capture = takes[k].capture
            solved = capture_curves(capture, cleaning, source="blendshapes",
                                    tracker=replace(tracker, mapping=mapping))
            curves, rested = solved.curves, solved.neutral_window is not None
            frame_times = np.asarray(capture.blendshapes.times, dtype=np.float64)
            for fractions in EVENT_FRACTIONS:
                profile = replace(tracker, mapping=replace(mapping, event_fractions=fractions))
                events = sampled_code_events(curves, profile, vocabulary, rest_at_zero=rested,
                                             closed_levels=solved.closed_levels,
                                             closure_depths=solved.closure_depths)
                columns = np.stack([np.interp(frame_times, events.times, events.values[:, j])
                                    for j in range(len(events.channels))], axis=1)
                index = {c: j for j, c in enumerate(events.channels)}
                pooled[fractions].add(np.stack(
                    [columns[:, index[c]] if c in index else np.zeros(len(frame_times))
                     for c in problem.channels], axis=1), problem.truths[k])
    scores = [pooled[fractions].mean_r() for fractions in EVENT_FRACTIONS]
    return EVENT_FRACTIONS[int(np.argmax(scores))]


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

    Frames outside the coding's time span (a timeline's is 0 to its duration) are left
    uncoded (NaN).

    Raises
    ------
    CaptureFormatError
        The capture has no blendshapes, or the coding has no AU.
    CalibrationError
        The coding covers less than half of the take, or the take less than half of the
        coding (:func:`check_coverage`).
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
        if not timeline.events:
            # Else the coverage check below reports "its codes span 0.00-0.00 s, 0% of the take",
            # which sends the user looking for a wrong pairing rather than for the AU tiers.
            ignored = timeline.metadata.get("ignored_tiers")
            tiers = f" (no AU or FACS tier; its tiers: {', '.join(ignored)})" if ignored else ""
            raise CalibrationError(f"{coding}: holds no AU codes to calibrate against{tiers}")
        curves = sample(timeline, fps=max(timeline.fps, 1.0), duration=max(float(times[-1]),
                                                                           timeline.duration))
        span = (0.0, timeline.duration)  # a timeline's times count from the take's start
    else:
        coded_capture = capture if os.path.samefile(coding, capture_path) else read_capture(coding)
        curves = coded_capture.aus
        if curves is None or not any(c.au < 50 for c in curves.channels):
            raise CaptureFormatError(f"{coding}: no facial AU columns to calibrate against")
        span = (float(curves.times[0]), float(curves.times[-1])) if len(curves.times) else (0, -1)
    note = check_coverage(coding, span, os.fspath(capture_path),
                          (float(times[0]), float(times[-1])))
    source_times = np.asarray(curves.times, dtype=np.float64)
    channels = tuple(c for c in curves.channels if c.au < 50)
    coded = np.full((times.shape[0], len(channels)), np.nan)
    # Frames outside the coding's span are not coded (not held at the coding's edge values).
    inside = (times >= span[0]) & (times <= span[1])
    for k, channel in enumerate(channels):
        column = np.asarray(curves.values[:, curves.channels.index(channel)], dtype=np.float64)
        ok = np.isfinite(column)
        if ok.sum() >= 2:
            coded[inside, k] = np.interp(times[inside], source_times[ok], column[ok])
    coded[np.asarray(capture.gaps, dtype=bool)] = np.nan
    return CodedTake(os.fspath(capture_path), names, np.asarray(filled, dtype=np.float64),
                     channels, coded, coding=coding, capture_format=capture.format,
                     capture=capture, notes=() if note is None else (note,))


#: The least share of a take's time span its coding must cover, and of a coding's its take.
MIN_COVERAGE = 0.5
#: Below this share of its coding's span covered by the take, the pairing is said in a note.
NOTED_COVERAGE = 0.9


def check_coverage(coding: str, coding_span: tuple[float, float], take: str,
                   take_span: tuple[float, float]) -> str | None:
    """Refuse a coding that covers less than :data:`MIN_COVERAGE` of its take's time span, or
    whose take covers less than that of the coding's; note one the take covers less than
    :data:`NOTED_COVERAGE` of.

    A coding of the same take spans the take (up to a frame or two at the ends); one covering
    less than half of it is another take's, a fragment, or a file given out of order, and
    fitting on it would pair the take's frames with codes of other moments. Half is the
    rule because it is the least that still makes most of the take's frames evidence. The
    same holds the other way: a coding much longer than its take (a reviewer's 19.6 s OpenFace
    coding of another take, given for an 11.1 s Face Cap take, was fitted without a word) is
    another, longer take's; half of it outside the take is refused, a tenth or more noted.

    Returns
    -------
    str or None
        The note (naming both files and both durations), or None for a coding that fits.

    Raises
    ------
    CalibrationError
        Naming both files and both spans.
    """
    start, end = max(coding_span[0], take_span[0]), min(coding_span[1], take_span[1])
    overlap = max(end - start, 0.0)
    length = take_span[1] - take_span[0]
    covered = overlap / length if length > 0 else float(start <= end)
    codes = f"{coding_span[0]:.2f}-{max(coding_span[1], coding_span[0]):.2f} s"
    if covered < MIN_COVERAGE:
        raise CalibrationError(
            f"{coding}: its codes span {codes}, "
            f"{covered:.0%} of the take {take} ({take_span[0]:.2f}-{take_span[1]:.2f} s); a "
            f"coding must cover at least {MIN_COVERAGE:.0%} of its take (is it another take's, "
            f"or are the --coded files out of order?)")
    coding_length = coding_span[1] - coding_span[0]
    of_coding = overlap / coding_length if coding_length > 0 else 1.0
    if of_coding >= NOTED_COVERAGE:
        return None
    said = (f"{coding}: its codes span {codes} ({coding_length:.1f} s), and the take {take} "
            f"({take_span[0]:.2f}-{take_span[1]:.2f} s, {length:.1f} s) covers {of_coding:.0%} "
            f"of them")
    if of_coding < MIN_COVERAGE:
        raise CalibrationError(
            f"{said}; a take must cover at least {MIN_COVERAGE:.0%} of its coding (is it another "
            f"take's, or are the --coded files out of order?)")
    return (f"{said}; a coding of the same take spans it to a frame or two: is it another, "
            f"longer take's? (codes outside the take are not used)")


def calibrate_mapping(takes: list[CodedTake], tracker, *, vocabulary=None,
                      folds: int | None = None, progress=None, score: bool = True) -> Calibration:
    """The whole calibration of a mapping on coded takes: :func:`fit_mapping` (its penalty
    chosen by k-fold by take), then the event fractions (:func:`choose_event_fractions`, with
    the penalty chosen) and the mapping's method in words.

    ``progress`` is called with the number of steps done: each fold, the final fit, then the
    event fractions when they are chosen (``folds + 2`` steps; ``folds + 1`` without).
    """
    if vocabulary is None:
        from facs_rig.resources import load_vocabulary

        vocabulary = load_vocabulary()
    calibration = fit_mapping(takes, folds=folds, progress=progress, score=score,
                              tracker=tracker)
    fractions = choose_event_fractions(takes, calibration.regularisation, tracker, vocabulary,
                                       folds)
    if fractions is not None and progress is not None:
        progress(calibration.folds + 2)
    count = fold_count(len(takes), folds)
    # The penalty is chosen with one take per fold (up to ten) whatever --folds says: the
    # folds of _Problem.choose, not those of the held-out figures.
    chosen = (f"chosen among {len(REGULARISATIONS)} by {fold_count(len(takes))}-fold by take"
              if len(takes) >= MIN_TAKES_TO_CHOOSE else "the default: too few takes to choose")
    events = ("" if fractions is None else
              f"; events: code's events start {fractions[0]:g} of the way from an AU's low to "
              f"its high (a rise of at most --on) and end {fractions[1]:g} of the way from the "
              f"low to that start (chosen among {len(EVENT_FRACTIONS)} by {count}-fold by take, "
              f"code's events against the coding)")
    held = (f"held_out_r: {calibration.folds}-fold by take, frames pooled, "
            f"{held_out_penalty(len(takes), folds)}" if score else "held_out_r: not computed")
    method = (f"non-negative ridge least squares per AU (facs-rig calibrate, "
              f"{calibration.regularisation}, {chosen}), fitted on {len(takes)} takes; {held}; "
              f"range: 1st-99th percentile of the mapping's output on the takes{events}")
    mapping, uncoded_from_rest = _with_uncoded_aus(
        replace(calibration.mapping, event_fractions=fractions, method=method), takes, tracker)
    return replace(calibration, mapping=mapping,
                   beyond_rest=calibration.beyond_rest + uncoded_from_rest)


def uncoded_aus(tracker, shapes: tuple[str, ...], coded: tuple[Channel, ...],
                rig=None) -> dict[Channel, np.ndarray]:
    """AUs the codings do not code that the tracker still shows, on the rig's scale.

    A coding covers only some AUs (Py-Feat's detector has no AU18; an ELAN coder codes what
    happened), yet a pucker on the tracker is AU18 to any coder. For each facial AU of the
    ``arkit`` rig profile (and the profile's ``drives`` relations) that no coding codes, whose
    live own shapes (:func:`au_structure`) exist and are none of a coded AU's own shapes (a
    jaw drop coded as AU26 is not read as AU27 too), the weights are the AU's rig pose scaled
    to read 1 at full pose (``pose / |pose|^2``: a lone shape of weight 1 maps as it is, a
    Left/Right pair at half each), intercept 0.

    Returns
    -------
    dict of Channel to (n_shapes,) float64
        Unsided channels, in AU order.
    """
    if rig is None:
        from facs_rig.io.rig_files import load_rig

        rig = load_rig("arkit")
    coded_aus = {c.au for c in coded}
    taken = au_structure(tracker, shapes, coded, rig).support.max(axis=1, initial=0) > 0 \
        if coded else np.zeros(len(shapes), dtype=bool)
    candidates = sorted({m.au for m in rig.mappings if m.au < 50}
                        | {r.au for r in getattr(tracker, "relations", ()) if r.kind == "drives"})
    rows: dict[Channel, np.ndarray] = {}
    for au in candidates:
        if au in coded_aus:
            continue
        structure = au_structure(tracker, shapes, (Channel(au),), rig)
        pose = np.where(structure.support[:, 0] > 0, structure.pose[:, 0], 0.0)
        if not pose.any() or (taken & (pose > 0)).any():
            continue
        rows[Channel(au)] = pose / float(pose @ pose)
    return rows


def _with_uncoded_aus(mapping: AUMapping, takes: list[CodedTake], tracker
                      ) -> tuple[AUMapping, tuple[str, ...]]:
    """``mapping`` with :func:`uncoded_aus`' rows added (no held-out r: nothing codes them),
    their ranges measured on ``takes`` as the fitted AUs' are, each read beyond its rest where
    :func:`read_beyond_rest` says; and its lines for them."""
    shapes, _ = _common(takes)
    rows = uncoded_aus(tracker, shapes, mapping.channels)
    if not rows:
        return mapping, ()
    used = tuple(dict.fromkeys((*mapping.shapes,
                                *(shapes[k] for row in rows.values() for k in np.flatnonzero(row)))))
    channels = tuple(sorted((*mapping.channels, *rows), key=lambda c: c.sort_key))
    weights = np.zeros((len(used), len(channels)))
    intercept = np.zeros(len(channels))
    for column, channel in enumerate(channels):
        if channel in rows:
            for k in np.flatnonzero(rows[channel]):
                weights[used.index(shapes[k]), column] = rows[channel][k]
        else:
            old = mapping.channels.index(channel)
            weights[:len(mapping.shapes), column] = mapping.weights[:, old]
            intercept[column] = mapping.intercept[old]
    extended = replace(mapping, channels=channels, shapes=used, weights=weights,
                       intercept=intercept)
    ranges = au_ranges(extended, takes)
    # The fitted AUs keep their ranges, and an AU read beyond its rest keeps having none.
    extended = replace(extended, ranges=MappingProxyType(
        {c: mapping.ranges[c] if c in mapping.ranges else ranges[c] for c in channels
         if c in mapping.ranges or c in rows}),
        method=mapping.method + "; AUs no coding codes (" + ", ".join(
            c.name for c in rows) + "): the arkit rig's own shapes at its scale, not fitted")
    return read_beyond_rest(extended, takes, tracker, channels=frozenset(rows))


@on_one_blas_thread
def _content_key(path: str) -> str | None:
    """SHA-256 of the file's bytes, read in 1 MiB pieces; None when it cannot be read (its
    reader then says why, in its own words)."""
    from facs_rig.io.bounded_read import special_file_kind

    if special_file_kind(path) is not None:
        return None  # a named pipe would block here; its reader refuses it in one line
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def duplicated_takes(captures: list[str], codings: list[str], *,
                     by_content: bool = True) -> str | None:
    """Why these takes cannot be calibrated on together, or None: a capture given twice, or one
    coding given for two takes.

    Each take is held out in turn; a take given twice is fitted on its copy and then scored as
    if unseen (a reviewer's ``calibrate 001.csv 001.csv --coded 001.csv 001.csv`` printed a
    "held-out" r of a fit on the take it scored). One coding for two takes is that, or a wrong
    pairing. Two arguments are the same when their paths name one file (as ``batch`` and
    ``retarget`` do a capture named twice once) or, with ``by_content``, when their bytes are
    the same (a copy under another name).
    """
    for what, option, paths in (("capture", "CAPTURE", captures), ("coding", "--coded", codings)):
        first: dict[str, tuple[int, str]] = {}
        for number, path in enumerate(map(os.fspath, paths), 1):
            keys = [os.path.abspath(path)]
            if by_content and (content := _content_key(path)) is not None:
                keys.append(content)
            earlier = next((first[key] for key in keys if key in first), None)
            if earlier is not None:
                same = ("the same file" if os.path.abspath(earlier[1]) == keys[0]
                        else "copies (the same bytes)")
                uses = ("each take is held out in turn, and one given twice would be scored by a "
                        "fit on its copy; give each take once" if what == "capture" else
                        "two takes coded alike are one take twice or a wrong pairing; give each "
                        "take its own coding")
                return (f"{option} {earlier[0]} ({earlier[1]}) and {option} {number} ({path}) are "
                        f"{same}: {uses}")
            for key in keys:
                first.setdefault(key, (number, path))
    return None


def calibrate_tracker(captures: list[str], codings: list[str], *, name: str,
                      tracker: str | None = None, folds: int | None = None,
                      vocabulary=None, progress=None):
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
    progress : callable, optional
        ``progress(done, total, item)`` after each step: each take read (``item`` its file
        name), each fold's fit (``"fold 1/6"``), the final fit (``"final fit"``) and, with
        :data:`MIN_TAKES_TO_CHOOSE` takes or more, the choice of event thresholds
        (``"event thresholds"``).

    Returns
    -------
    profile : TrackerProfile
        ``tracker`` with the fitted mapping, a description and a source naming the takes.
    calibration : Calibration
        The fit and its held-out figures (check them with :func:`check_held_out` before
        writing the profile).

    Raises
    ------
    CalibrationError
        A take or a coding given twice (:func:`duplicated_takes`), a coding that does not go
        with its take (:func:`check_coverage`), takes that cannot be fitted together.
    CaptureFormatError
    """
    from facs_rig.io.captures.pipeline import choose_tracker

    problem = duplicated_takes(captures, codings)
    if problem is not None:
        raise CalibrationError(problem)
    count = fold_count(len(captures), folds)
    total = len(captures) + count + 1 + (len(captures) >= MIN_TAKES_TO_CHOOSE)
    takes = []
    for capture, coding in zip(captures, codings):
        takes.append(coded_take(capture, coding, vocabulary))
        if progress is not None:
            progress(len(takes), total, Path(capture).name)
    names = {count + 1: "final fit", count + 2: "event thresholds"}
    fitted = None if progress is None else (lambda done: progress(
        len(takes) + done, total, names.get(done, f"fold {done}/{count}")))
    base = choose_tracker(tracker, takes[0].capture_format)
    calibration = calibrate_mapping(takes, base, vocabulary=vocabulary, folds=folds,
                                    progress=fitted)
    calibration = replace(calibration, notes=tuple(note for take in takes for note in take.notes))
    profile = replace(
        base, name=name, mapping=calibration.mapping,
        description=f"{base.name} calibrated on {len(takes)} coded takes by facs-rig calibrate",
        sources=base.sources + (f"mapping fitted on {', '.join(Path(c).name for c in captures)}"
                                f" coded by {', '.join(Path(k).name for k in codings)}; "
                                f"held_out_r is {calibration.folds}-fold by take",))
    return profile, calibration


def check_held_out(calibration: Calibration) -> None:
    """Refuse a mapping that predicts the takes held out worse than chance.

    A held-out mean r below 0 (or no AU scored at all) means the codings do not go with their
    takes (swapped or out of order), or the tracker does not see the coded AUs: such a
    profile would make every later take worse than no profile.

    Raises
    ------
    CalibrationError
        One line with the figure and what to check.
    """
    mean_r = calibration.mean_r
    if mean_r >= 0.0:
        return
    if mean_r != mean_r:
        figure = "no AU has a held-out r (see the n/a reasons)"
    else:
        figure = f"held-out mean r {mean_r:.3f} over {calibration.scored} AUs is below 0"
    raise CalibrationError(
        f"{figure}: the mapping predicts the held-out takes no better than chance, so the "
        f"profile was not written (are the --coded files in the captures' order? --force "
        f"writes it anyway)")


def write_tracker_profile(profile, path: str | os.PathLike[str]) -> None:
    """Write ``profile`` as a tracker profile ``.json`` (atomically: a failed write leaves the
    old file)."""
    import json

    from facs_rig.errors import FacsRigError
    from facs_rig.io.atomic import write_text_atomic
    from facs_rig.io.captures.trackers import parse_tracker, tracker_document

    text = json.dumps(tracker_document(profile), indent=1) + "\n"
    try:
        # What facs-rig would refuse to load is never written (a base profile's extreme gain or
        # relation weight can scale a fitted weight past the profile limits).
        parse_tracker(json.loads(text), str(path))
    except FacsRigError as exc:
        raise CalibrationError(f"the fitted profile would not load, so it was not written: "
                               f"{exc}") from None
    write_text_atomic(path, text)
