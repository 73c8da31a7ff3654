"""Solving captured blendshape weights back to AU intensities, and head/eye angles to AUs.

An ARKit-style capture gives, per frame, the weights ``y`` of a rig's targets. A rig profile
says how AUs drive those targets; its linear part is a basis ``A`` of shape
``(n_targets, n_channels)`` whose column ``j`` is the target weights that channel ``j`` at 1
produces. Solving is the bounded least-squares problem, per frame::

    minimise 1/2 ||A x - y||^2 + sum_k lambda ||a_k|| x_k + 1/2 x^T P x   subject to   0 <= x <= 1

The two prior terms are what a FACS coder knows beyond the shapes (:class:`SolvePriors`, data in
the tracker profiles):

* **sparsity**: an L1 penalty on each AU, weighted by the length of its column ``a_k`` (the
  amount of shape the AU makes at full intensity). With ``x >= 0`` it is linear, so it only
  lowers ``A^T y`` by ``lambda ||a_k||``. Weighting by ``||a_k||`` makes it tell apart AUs the
  rig makes linearly dependent: when one AU's column is a non-negative mix of others' (ARKit's
  AU27 = jawOpen + mouthStretch is AU26/0.7 + 0.3 AU20; AU25 = 0.2 jawOpen + 0.3 lowerDown is a
  mix of AU26 and AU16), the triangle inequality ``||sum x_j a_j|| <= sum x_j ||a_j||`` makes
  the single AU the cheaper explanation of the same shapes, so the solve reads 27, not 20+26
  (the same argument as the atomic norm of Chandrasekaran, Recht, Parrilo & Willsky 2012);
  it also keeps AUs that only fit noise at zero (Tibshirani 1996: the lasso).
* **pair priors**: ``P`` couples two AUs that FACS says go together (6 with 12 in a felt smile:
  a negative entry, the solve prefers both) or against each other (1 against 4 on the inner
  brow: a positive entry). ``P`` is kept small enough that the problem stays convex (checked).

The problem is small (tens of channels) but there are many frames (216,000 in a 60 fps hour),
so the solver works on all frames at once in numpy: the normal equations ``Q = A^T A`` and
``B = Y A`` are formed once, the channels are split into independent groups (the connected
components of ``Q``: brows never interact with the jaw), and each group is solved by projected
Gauss-Seidel coordinate descent, which for this convex box-constrained quadratic converges to the
exact minimiser (Luo & Tseng 1992) and needs only a few sweeps because each ARKit shape is driven
by few AUs. Frames stop being updated once their largest change falls below the tolerance
(each frame on its own: they are independent problems).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facs_rig.core.channels import Channel, parse_channel

__all__ = [
    "SolveResult",
    "SolvePriors",
    "PairPrior",
    "AUPrior",
    "ShapeCrosstalk",
    "remove_crosstalk",
    "NO_PRIORS",
    "solve_bounded",
    "basis_from_rig",
    "folded_channels",
    "dependent_channels",
    "silent_channels",
    "read_back_facts",
    "BlendshapeSolver",
    "prior_terms",
    "PoseScale",
    "pose_to_aus",
    "pose_relative_to",
    "POSE_CHANNELS",
    "DEFAULT_POSE_SCALE",
]


@dataclass(frozen=True)
class SolveResult:
    """Solved AU values with the fit quality of every frame.

    Attributes
    ----------
    values : (n_frames, n_channels) float32
        The solution, each in ``[lower, upper]``.
    residual : (n_frames,) float32
        Root-mean-square misfit over targets, ``sqrt(mean((A x - y)^2))``, in weight units.
    sweeps : int
        Coordinate-descent sweeps used by the slowest channel group.
    """

    values: np.ndarray
    residual: np.ndarray
    sweeps: int


@dataclass(frozen=True)
class PairPrior:
    """A prior on two AUs solved together (a tracker profile's ``solve.pairs`` entry).

    Attributes
    ----------
    first, second : int
        AU numbers; sided channels are coupled side with side, a bilateral channel with both.
    kind : {'together', 'against'}
        ``together`` rewards both active (6 with 12), ``against`` penalises it (1 with 4).
    weight : float
        Strength, in units of the product of the two AUs' column lengths (0-1).
    source : str
        Where the FACS fact comes from.
    """

    first: int
    second: int
    kind: str
    weight: float
    source: str = ""


@dataclass(frozen=True)
class AUPrior:
    """A prior on one AU (a tracker profile's ``solve.aus`` entry): an extra L1 weight on it
    and, with ``beyond``, the AU read only where the opening exceeds another AU's reach.

    Where a tracker cannot tell an AU from a mix of others, the sparsity prior alone reads the
    single AU. ARKit's AU27 (jawOpen 1 with mouthStretch 0.3 on the arkit rig) is
    AU26 x 1.43 + AU20 x 0.3, and ARKit raises mouthStretch with any jaw opening, so every
    opening read as 27 (``facs-rig code S07-001.csv``: 27 in 10 segments, 26 in none). FACS
    scores the relaxed jaw drop 26 and the mouth stretched open, the jaw pulled far down, 27
    (Ekman, Friesen & Hager 2002, AU26 and AU27); ``weight`` makes the solve read the
    alternative (26, and 20 for a stretch beyond what the jaw brings), and ``beyond`` names the
    AU whose full extent the opening must pass to be this one: a frame whose observed value of
    the target the two share most (jawOpen) exceeds ``beyond``'s full weight on it (0.7) is
    read as this AU alone at ``observed / its own weight`` and ``beyond`` at 0 (27 subsumes
    26: the rig's exclusive chain 25/26/27).

    Attributes
    ----------
    au : int
    weight : float
        Extra ``lambda`` (0-1), per unit of the AU's column length.
    beyond : int or None
        The AU it is read beyond (None: the weight only).
    source : str
        Where the fact comes from.
    from_fade : bool
        Read the AU also from what its ``without`` fade takes away (ARKit's AU25: the lips
        parted, read from the closure ``mouthClose`` lacks under an open jaw), see
        :meth:`BlendshapeSolver.solve`. The gap is evidence of this AU, not of another AU the
        same entry fades by (27 also fades 26's closed lips, but is read from its jaw).
    """

    au: int
    weight: float
    beyond: int | None = None
    source: str = ""
    from_fade: bool = False


@dataclass(frozen=True)
class ShapeCrosstalk:
    """A tracker's crosstalk into one shape (a tracker profile's ``solve.crosstalk`` entry):
    how much of ``shape`` other shapes' movement raises, measured, not a movement of its own.

    ARKit's jawForward rises with every jaw opening and smile (``livelinkface/S07-001.csv``:
    r = 0.97 with jawOpen; 0.23 during the laughs against 0.05 at rest), which the solve read
    as a jaw thrust (AU29) in every laugh. Before the solve, ``shape`` is lowered by
    ``sum(weight * max(source, 0))`` over ``sources``, but never below ``min(shape, 0)``: the
    crosstalk removes at most what the shape shows (:func:`remove_crosstalk`).

    Attributes
    ----------
    shape : str
        The target it raises.
    sources : tuple of (str, float)
        Each shape that raises it and by how much per unit (0-1).
    source : str
        Where the measurement comes from.
    """

    shape: str
    sources: tuple[tuple[str, float], ...]
    source: str = ""


def remove_crosstalk(weights: np.ndarray, targets: Sequence[str],
                     crosstalk: Sequence[ShapeCrosstalk], *, overwrite: bool = False
                     ) -> np.ndarray:
    """Shape weights with a tracker's measured crosstalk taken out (:class:`ShapeCrosstalk`).

    Every correction is computed from the weights as given (a shape that is both corrected and
    a source of another's crosstalk counts with its own value), then written.

    Parameters
    ----------
    weights : (n_frames, n_targets) array
    targets : sequence of str
        The columns' shape names.
    crosstalk : sequence of ShapeCrosstalk
        Entries whose shape, or all of whose sources, are not among ``targets`` are skipped.
    overwrite : bool
        Correct ``weights`` in place (no copy of a whole take) instead of a copy.

    Returns
    -------
    (n_frames, n_targets) array
        ``weights`` itself when nothing applies (or with ``overwrite``), else a corrected copy.
    """
    weights = np.asarray(weights)
    column = {name: k for k, name in enumerate(targets)}
    rules = []
    for entry in crosstalk:
        sources = [(column[name], weight) for name, weight in entry.sources
                   if name in column and weight != 0.0]
        if entry.shape in column and sources:
            rules.append((column[entry.shape], sources))
    if not rules:
        return weights
    corrected = []
    for target, sources in rules:
        own = weights[:, target]
        explained = np.zeros(own.shape, dtype=weights.dtype)
        for source, weight in sources:
            explained += weight * np.maximum(weights[:, source], 0)
        corrected.append((target, np.maximum(own - explained, np.minimum(own, 0))))
    out = weights if overwrite else weights.copy()
    for target, values in corrected:
        out[:, target] = values
    return out


@dataclass(frozen=True)
class SolvePriors:
    """The priors of a blendshape solve (see the module docstring).

    Attributes
    ----------
    sparsity : float
        ``lambda``: the L1 weight per unit of column length (0 = plain least squares).
    pairs : tuple of PairPrior
    temporal_hz : float
        Temporal prior (0 = off): each frame is pulled toward a zero-phase low-pass (-3 dB at
        this frequency) of a first solve of the whole take, see :meth:`BlendshapeSolver.solve`.
    temporal_weight : float
        ``mu``: the pull's strength relative to each AU's own data term (1 = as strong as the
        shapes: an isolated AU lands halfway between its per-frame fit and the smoothed one).
    aus : tuple of AUPrior
        Extra per-AU L1 weights (base-rate priors), added to ``sparsity`` for those AUs.
    crosstalk : tuple of ShapeCrosstalk
        The tracker's measured crosstalk between shapes, taken out of the weights before the
        solve (:func:`remove_crosstalk`).
    """

    sparsity: float = 0.0
    pairs: tuple[PairPrior, ...] = ()
    temporal_hz: float = 0.0
    temporal_weight: float = 1.0
    aus: tuple[AUPrior, ...] = ()
    crosstalk: tuple[ShapeCrosstalk, ...] = ()


#: Plain bounded least squares.
NO_PRIORS = SolvePriors()


#: Frames solved together by :func:`solve_bounded` (larger inputs are solved block by block).
SOLVE_BLOCK_FRAMES = 32_768


def _components(gram: np.ndarray) -> list[np.ndarray]:
    """Connected components of the channels that share a target (non-zero off-diagonal Q)."""
    n = gram.shape[0]
    linked = np.abs(gram) > 1e-12
    label = -np.ones(n, dtype=np.int64)
    groups = []
    for start in range(n):
        if label[start] >= 0:
            continue
        stack, members = [start], []
        label[start] = len(groups)
        while stack:
            node = stack.pop()
            members.append(node)
            for neighbour in np.flatnonzero(linked[node]):
                if label[neighbour] < 0:
                    label[neighbour] = len(groups)
                    stack.append(int(neighbour))
        groups.append(np.asarray(sorted(members), dtype=np.int64))
    return groups


def solve_bounded(basis: np.ndarray, observed: np.ndarray, *, lower: float = 0.0,
                  upper: float = 1.0, tolerance: float = 1e-5, max_sweeps: int = 200,
                  initial: np.ndarray | None = None, penalty: np.ndarray | None = None,
                  coupling: np.ndarray | None = None) -> SolveResult:
    """Bounded (penalised) least squares for every frame at once.

    Parameters
    ----------
    basis : (n_targets, n_channels) array
        Target weights produced by each channel at 1 (the rig's linear mapping).
    observed : (n_frames, n_targets) array
        Captured weights. NaN is not allowed (fill gaps first).
    lower, upper : float
        Bounds on every solved value.
    tolerance : float
        Converged when no value of any frame moved more than this in a sweep.
    max_sweeps : int
        Upper limit of coordinate-descent sweeps per channel group.
    initial : (n_frames, n_channels) array, optional
        Warm start (for instance the previous solve of a live stream).
    penalty : (n_channels,) or (n_frames, n_channels) array, optional
        Linear (L1, as ``x >= 0``) penalty of each channel, ``lambda ||a_k||``; per frame for a
        prior whose linear part changes over time (the temporal prior).
    coupling : (n_channels, n_channels) symmetric array, optional
        Quadratic prior ``P`` added to ``A^T A``; ``A^T A + P`` must be positive semidefinite.

    Returns
    -------
    SolveResult
    """
    basis = np.asarray(basis, dtype=np.float64)
    observed = np.asarray(observed)
    if observed.dtype not in (np.float32, np.float64):
        observed = observed.astype(np.float64)
    if basis.ndim != 2 or observed.ndim != 2 or observed.shape[1] != basis.shape[0]:
        raise ValueError(f"solve_bounded: basis {basis.shape} does not fit observed "
                         f"{observed.shape} (need (T, C) and (F, T))")
    if not np.all(np.isfinite(observed)):
        raise ValueError("solve_bounded: observed weights contain NaN or infinity; fill gaps first")
    n_frames, n_channels = observed.shape[0], basis.shape[1]
    if n_frames > SOLVE_BLOCK_FRAMES:
        # Frames are independent problems: solving them in blocks bounds the float64 working
        # arrays (a 60 fps hour in one block held about 400 MB of them) at the same speed.
        solved = np.empty((n_frames, n_channels), dtype=np.float32)
        residual = np.empty(n_frames, dtype=np.float32)
        slowest = 0
        for first in range(0, n_frames, SOLVE_BLOCK_FRAMES):
            block = slice(first, first + SOLVE_BLOCK_FRAMES)
            part = solve_bounded(basis, observed[block], lower=lower, upper=upper,
                                 tolerance=tolerance, max_sweeps=max_sweeps,
                                 initial=None if initial is None else np.asarray(initial)[block],
                                 penalty=penalty if penalty is None or np.ndim(penalty) < 2
                                 else np.asarray(penalty)[block],
                                 coupling=coupling)
            solved[block], residual[block] = part.values, part.residual
            slowest = max(slowest, part.sweeps)
        return SolveResult(solved, residual, slowest)
    gram = basis.T @ basis
    if coupling is not None:
        gram = gram + np.asarray(coupling, dtype=np.float64)
    # A^T y of every frame, in the capture's own precision (float32 captures stay float32:
    # half the memory traffic, and 1e-7 is far below any tracker's noise).
    projected = (observed @ basis.astype(observed.dtype)).astype(np.float64)
    if penalty is not None:
        projected -= np.asarray(penalty, dtype=np.float64)  # d/dx of lambda x for x >= 0
    if initial is None:
        values = np.zeros((n_frames, n_channels), dtype=np.float64)
    else:
        values = np.clip(np.asarray(initial, dtype=np.float64), lower, upper).copy()
    slowest = 0
    singles = []
    for group in _components(gram):
        diagonal = gram[group, group]
        if np.all(diagonal <= 1e-12):
            values[:, group] = np.clip(0.0, lower, upper)
            continue
        if group.size == 1:
            singles.append(int(group[0]))
            continue
        sweeps = _coordinate_descent(values, gram[np.ix_(group, group)], projected[:, group],
                                     group, lower, upper, tolerance, max_sweeps)
        slowest = max(slowest, sweeps)
    if singles:
        # A channel sharing no target with another has the closed form clip(b / q).
        index = np.asarray(singles)
        single = projected[:, index] / gram[index, index]
        values[:, index] = _clip(single, lower, upper)
        slowest = max(slowest, 1)
    solved = values.astype(np.float32)
    if basis.shape[0]:
        misfit = solved @ basis.T.astype(np.float32) - observed
        residual = np.sqrt(np.mean(misfit * misfit, axis=1))
    else:
        residual = np.zeros(n_frames)
    return SolveResult(solved, residual.astype(np.float32), slowest)


def _clip(array: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Clip in place (``np.clip`` has a large fixed cost per call; this is two ufuncs)."""
    np.maximum(array, lower, out=array)
    np.minimum(array, upper, out=array)
    return array


def _coordinate_descent(values: np.ndarray, gram: np.ndarray, projected: np.ndarray,
                        group: np.ndarray, lower: float, upper: float, tolerance: float,
                        max_sweeps: int) -> int:
    """Projected Gauss-Seidel on one channel group, in place on ``values[:, group]``.

    Each channel is kept as its own contiguous ``(n_frames,)`` column so that one coordinate
    update is a handful of fused vector operations over all frames (groups have at most a few
    channels, so this beats a matrix product per update). Frames are independent problems: a
    frame whose values all moved less than ``tolerance`` in a sweep is done and leaves the
    working set, so the few frames near a tie of dependent AUs (27 against 26+20, which the
    sparsity prior settles slowly) do not keep every frame sweeping.
    """
    size = group.size
    done = [np.ascontiguousarray(values[:, j]) for j in group]  # every frame, written at the end
    b_all = [np.ascontiguousarray(projected[:, k]) for k in range(size)]
    rows = None  # None: all frames are still working
    x, b = [column.copy() for column in done], b_all
    # Per channel k: 1 / Q_kk and the (j, Q_kj) it reads, Q_kj != 0 (None: a channel no frame moves).
    updates = [None if gram[k, k] <= 1e-12 else
               (1.0 / gram[k, k], [(j, gram[k, j]) for j in range(size) if gram[k, j] != 0.0])
               for k in range(size)]
    step, term, moved = (np.empty(x[0].shape[0]) for _ in range(3))
    sweeps = 0
    while sweeps < max_sweeps and x[0].size:
        sweeps += 1
        moved.fill(0.0)
        for k, update in enumerate(updates):
            if update is None:
                continue
            inverse, row = update
            # x_k <- clip(x_k - (Q_k . x - b_k) / Q_kk): the exact minimiser along coordinate k,
            # summed term by term in the same order as ever (results stay bit for bit the same),
            # into reused buffers instead of a fresh array per operation.
            np.negative(b[k], out=step)
            for j, q in row:
                np.multiply(x[j], q, out=term)
                np.add(step, term, out=step)
            np.multiply(step, inverse, out=step)
            np.subtract(x[k], step, out=step)
            _clip(step, lower, upper)
            np.subtract(step, x[k], out=term)
            np.abs(term, out=term)
            np.maximum(moved, term, out=moved)
            x[k], step = step, x[k]  # the new values; the old array is the next scratch buffer
        settled = moved <= tolerance
        if settled.all():
            break
        if settled.sum() * 4 >= settled.size:  # compact when a quarter or more has settled
            keep = np.flatnonzero(~settled)
            finished = np.flatnonzero(settled) if rows is None else rows[settled]
            for k in range(size):
                done[k][finished] = x[k][settled]
            rows = keep if rows is None else rows[keep]
            x = [column[keep] for column in x]
            b = [column[rows] for column in b_all]
            step, term, moved = (np.empty(keep.shape[0]) for _ in range(3))
    for k in range(size):
        if rows is None:
            done[k] = x[k]
        else:
            done[k][rows] = x[k]
    for k, j in enumerate(group):
        values[:, j] = done[k]
    return sweeps


def basis_from_rig(rig, targets: Sequence[str] | None = None
                   ) -> tuple[np.ndarray, tuple[Channel, ...]]:
    """The linear basis of a rig profile: what each AU channel at 1 does to each target.

    Channels are chosen so that the solve can tell the sides apart exactly where the profile
    can: an AU whose every mapping is sided (``AU12`` -> ``mouthSmileLeft`` for ``L``,
    ``mouthSmileRight`` for ``R``) is solved as ``AU12_L`` and ``AU12_R``; an AU with an
    unsided mapping (``AU01`` -> ``browInnerUp``, one shape for both brows) as one bilateral
    channel. In-between curves, correctives and rules of the profile are not linear and are
    left out: each mapping contributes its full-intensity weight. Entries another AU fades out
    (``without``: ARKit's 26 on mouthClose without 25) are not linear either and are left out
    here; the solve models them with the soft targets (:func:`combined_targets`).

    Parameters
    ----------
    rig : RigProfile
        A rig profile (``facs_rig.core.rig``): its ``targets`` and ``mappings`` are used.
    targets : sequence of str, optional
        Keep only these targets, in this order (default: all of the rig's).

    Returns
    -------
    basis : (n_targets, n_channels) float64
    channels : tuple of Channel
        In stable channel order.
    """
    names = tuple(rig.targets) if targets is None else tuple(targets)
    columns = _channel_columns(rig, names)
    kept = _independent(columns)
    channels = tuple(sorted(kept, key=lambda c: c.sort_key))
    basis = (np.stack([columns[c] for c in channels], axis=1) if channels
             else np.zeros((len(names), 0)))
    return basis, channels


def _channel_columns(rig, names: tuple[str, ...]) -> dict[Channel, np.ndarray]:
    """Each AU channel's column over ``names``: sided channels where every mapping is sided."""
    row_of = {name: k for k, name in enumerate(names)}
    by_au: dict[int, list] = {}
    for mapping in rig.mappings:
        if not mapping.without:  # faded by another AU: not linear (see basis_from_rig)
            by_au.setdefault(mapping.au, []).append(mapping)
    columns: dict[Channel, np.ndarray] = {}
    for au, mappings in by_au.items():
        sided = all(m.side in ("L", "R") for m in mappings)
        for side in (("L", "R") if sided else (None,)):
            column = np.zeros(len(names))
            for m in mappings:
                if (side is None or m.side == side) and m.target in row_of:
                    column[row_of[m.target]] = max(column[row_of[m.target]], float(m.weight))
            if np.any(column):
                columns[Channel(au, side)] = column
    return columns


def folded_channels(rig) -> list[tuple[Channel, Channel]]:
    """``(channel, read_as)`` for every AU channel the solve cannot tell from another.

    These are the channels :func:`basis_from_rig` drops because they drive exactly the same
    targets in the same proportions as a kept channel (``read_as``): any capture of them is
    solved, and so coded, as ``read_as`` (ARKit's eyeBlink: AU41/42/45/46 read as AU43).
    """
    columns = _channel_columns(rig, tuple(rig.targets))
    kept = _independent(columns)
    folded = []
    for channel in sorted(set(columns) - set(kept), key=lambda c: c.sort_key):
        unit = columns[channel] / np.linalg.norm(columns[channel])
        read_as = next(k for k in kept
                       if float(unit @ (columns[k] / np.linalg.norm(columns[k]))) > 1 - 1e-9)
        folded.append((channel, read_as))
    return folded


def dependent_channels(rig) -> list[tuple[Channel, tuple[tuple[Channel, float], ...]]]:
    """Solved channels whose shapes are a non-negative mix of other channels' shapes.

    For ARKit's ``AU27`` (jawOpen 1 + mouthStretch 0.3) this is ``AU26 x 1.43 + AU20_L x 0.3 +
    AU20_R x 0.3``: no capture can tell 27 from that mix of 26 and 20 (at those proportions);
    the sparsity prior reads the single AU (see the module docstring), so 26+20 captured in
    exactly those proportions reads back as 27. Returned as ``(channel, ((other, coefficient),
    ...))`` in channel order, coefficients above 1e-3.
    """
    basis, channels = basis_from_rig(rig)
    dependent = []
    for k, channel in enumerate(channels):
        terms = _nonnegative_mix(basis, channels, k, basis[:, k])
        if terms:
            dependent.append((channel, terms))
    return dependent


def _nonnegative_mix(basis: np.ndarray, channels: Sequence[Channel], k: int,
                     column: np.ndarray) -> tuple[tuple[Channel, float], ...]:
    """``column`` ``(n_targets,)`` as a non-negative mix of the columns of ``basis``
    ``(n_targets, n_channels)`` other than ``k``: ``((channel, coefficient), ...)`` with the
    coefficients above 1e-3, or ``()`` where no such mix reproduces it."""
    others = [j for j in range(len(channels)) if j != k]
    if not others or not np.any(column):
        return ()
    limit = 1e-4 * np.linalg.norm(column)
    # Outside the span of the others even with any signs: independent (the common case,
    # settled by one least-squares call instead of a long bounded solve).
    free, *_ = np.linalg.lstsq(basis[:, others], column, rcond=None)
    if np.linalg.norm(basis[:, others] @ free - column) > limit:
        return ()
    fit = solve_bounded(basis[:, others], column[None, :], upper=10.0, tolerance=1e-10,
                        max_sweeps=20_000)
    if float(fit.residual[0]) * np.sqrt(basis.shape[0]) >= limit:
        return ()
    return tuple((channels[others[j]], round(float(x), 3))
                 for j, x in enumerate(fit.values[0]) if x > 1e-3)


def below_knee_mixes(rig) -> list[tuple[Channel, float, tuple[tuple[Channel, float], ...]]]:
    """Solved channels whose shapes, below their in-between curves' knee, are a non-negative
    mix of other channels' shapes.

    An in-between curve that stays at 0 up to a knee (MetaHuman's ``AU27`` drives
    ``jawOpenExtreme`` through ``[[0, 0], [0.5, 0], [1, 1]]``) leaves the AU, up to that
    intensity, with only its other targets. Where those are a mix of other AUs' (27's jawOpen 1
    + mouthStretch 0.3 is ``AU26 x 1.43 + AU20 x 0.3``, as on ARKit), a capture of the AU there
    cannot be told from that mix, and the linear solve, which gives the AU its curved targets
    at full weight, reads the mix (27C as 20+26, with a little 27 for the curved target's first
    tenth). Returned as ``(channel, knee, ((other, coefficient), ...))`` in channel order; the
    knee is the AU value up to which every curved target of the channel stays at 0.
    """
    basis, channels = basis_from_rig(rig)
    row_of = {name: k for k, name in enumerate(rig.targets)}
    mixes = []
    for k, channel in enumerate(channels):
        mappings = [m for m in rig.mappings if m.au == channel.au and m.target in row_of
                    and (channel.side is None or m.side in (None, channel.side))]
        curved = [m for m in mappings if m.curve]
        if not curved:
            continue
        knee = min(_flat_until(m.curve) for m in curved)
        if knee <= 0:
            continue
        column = np.zeros(len(rig.targets))
        for m in mappings:
            if not m.curve:
                column[row_of[m.target]] = max(column[row_of[m.target]], float(m.weight))
        terms = _nonnegative_mix(basis, channels, k, column)
        if terms:
            mixes.append((channel, knee, terms))
    return mixes


def _flat_until(curve: Sequence[tuple[float, float]]) -> float:
    """The AU value up to which an in-between curve stays at 0 (its last leading zero point;
    every curve starts at ``(0, 0)``, so at least 0)."""
    knee = 0.0
    for x, y in curve:
        if y != 0:
            break
        knee = float(x)
    return knee


def silent_channels(rig) -> list[Channel]:
    """Mapped AU channels that, alone, move no target: the profile's rules show them only with
    other AUs (ARKit's AU8 drives mouthClose, which the rig keeps at or below jawOpen), so a
    capture can never show them alone and a solve reads them only beside those AUs."""
    from facs_rig.core.curves import AUCurves
    from facs_rig.core.mixing import mix

    channels = tuple(sorted(_channel_columns(rig, tuple(rig.targets)), key=lambda c: c.sort_key))
    if not channels:
        return []
    # Frame k holds channel k alone at full intensity: one mix call for all of them.
    alone = np.eye(len(channels), dtype=np.float32)
    curves = AUCurves(np.arange(len(channels), dtype=np.float64), alone, channels, 1.0)
    moved = np.any(np.abs(mix(curves, rig).weights) > 1e-6, axis=1)
    return [channel for channel, any_target in zip(channels, moved) if not any_target]


def read_back_facts(rig) -> dict[str, list[dict]]:
    """What a capture solved through ``rig`` reads back as, JSON-able (``rig show``'s part).

    Returns
    -------
    dict
        ``read_back_as``: AUs read as another (:func:`folded_channels`) or as nothing
        (:func:`silent_channels`); ``told_apart_by_prior``: AUs whose targets are a mix of
        other AUs' (:func:`dependent_channels`); ``nonlinear_in_solve``: AUs that drive targets
        through in-between curves, which the linear solve reads at full weight;
        ``faded_in_solve``: AUs with entries other AUs fade out (``without``), which the
        linear solve leaves out, with the AUs those targets read back as where the solve reads
        the AU as another (:func:`faded_read_as`). Each entry names the AU(s) and gives the
        reason.
    """
    folded = folded_channels(rig)
    read_back_as = [
        {"au": channel.name, "read_as": read_as.name,
         "reason": f"drives the same targets in the same proportions as {read_as.name}: a "
                   f"capture solved through this profile cannot tell them apart"}
        for channel, read_as in folded]
    read_back_as += _sides_read_as_both(rig, dict(folded))
    read_back_as.sort(key=lambda entry: parse_channel(entry["au"]).sort_key)
    read_back_as += [
        {"au": channel.name, "read_as": "nothing",
         "reason": "alone it moves no target: the profile's rules show it only with other AUs "
                   "(see rules), so a capture of it alone reads back as nothing"}
        for channel in silent_channels(rig)]
    told_apart_by_prior = [
        {"au": channel.name, "mix": [{"au": other.name, "times": x} for other, x in terms],
         "reason": "its targets are a non-negative mix of these AUs' targets: the data cannot "
                   "tell them apart; the solve's sparsity prior reads the single AU, so these "
                   "AUs together in exactly these proportions read back as " + channel.name}
        for channel, terms in dependent_channels(rig)]
    curved: dict[str, list[str]] = {}
    for mapping in rig.mappings:
        if mapping.curve:
            curved.setdefault(f"AU{mapping.au:02d}", []).append(mapping.target)
    below_knee = {channel.name: (knee, terms) for channel, knee, terms in below_knee_mixes(rig)}
    nonlinear_in_solve = []
    for au, targets in sorted(curved.items()):
        entry = {"au": au, "targets": sorted(set(targets)),
                 "reason": "drives these targets through an in-between curve; the solve is "
                           "linear and reads them at full weight, so the AU reads low (or as "
                           "another) below the curve's knee"}
        if au in below_knee:
            knee, terms = below_knee[au]
            entry["knee"] = knee
            entry["below_knee_mix"] = [{"au": other.name, "times": x} for other, x in terms]
            entry["reason"] += (f"; up to {knee:g} its other targets are those of this mix, "
                                f"which a capture there reads back as")
        nonlinear_in_solve.append(entry)
    faded_in_solve = []
    for channel, targets, without, read_as in faded_read_as(rig):
        shown = " and ".join(c.name for c in without)
        faded_in_solve.append({
            "au": channel.name, "targets": list(targets), "without": [c.name for c in without],
            "read_as": [c.name for c in read_as],
            "reason": f"drives these targets only while {shown} are absent; the linear solve "
                      f"leaves them out of its shapes and takes them off what the AUs driving "
                      f"them linearly explain, so a capture of {channel.name} alone reads "
                      f"{channel.name}; where the solve reads {channel.name} as another AU (a "
                      f"mix read as a single AU), these targets read back as "
                      + (" + ".join(c.name for c in read_as) or "nothing")})
    return {"read_back_as": read_back_as, "told_apart_by_prior": told_apart_by_prior,
            "nonlinear_in_solve": nonlinear_in_solve, "faded_in_solve": faded_in_solve}


def faded_read_as(rig) -> list[tuple[Channel, tuple[str, ...], tuple[Channel, ...], tuple[Channel, ...]]]:
    """``(channel, targets, without, read_as)`` for every AU with entries other AUs fade out.

    ``targets`` are what its faded entries drive (ARKit's AU26: mouthClose, without AU25 and
    AU27); ``read_as`` the solved channels that drive those targets linearly (AU08): where a
    solve reads the AU as another (20+26 as 27, a mix told apart by the sparsity prior), the
    faded targets are left for these to explain. Empty ``read_as``: they read as nothing.
    """
    columns = _channel_columns(rig, tuple(rig.targets))
    kept = _independent(columns)
    by_au: dict[int, tuple[list[str], list[Channel]]] = {}
    for mapping in rig.mappings:
        if mapping.without:
            targets, without = by_au.setdefault(mapping.au, ([], []))
            targets.extend(t for t in [mapping.target] if t not in targets)
            without.extend(c for c in mapping.without if c not in without)
    facts = []
    for au, (targets, without) in sorted(by_au.items()):
        rows = [rig.targets.index(t) for t in targets]
        read_as = tuple(sorted((c for c in kept if np.any(columns[c][rows] > 0)),
                               key=lambda c: c.sort_key))
        facts.append((Channel(au), tuple(targets), tuple(without), read_as))
    return facts


def _sides_read_as_both(rig, folded: dict[Channel, Channel]) -> list[dict]:
    """``read_back_as`` entries of the sides a capture reads as both: ``AU01_L`` -> ``AU01``.

    An AU FACS codes on one side but with an unsided mapping is solved as one bilateral
    channel (:func:`basis_from_rig`): ARKit's ``AU01`` drives ``browInnerUp``, one shape for
    both brows, so a left brow raise reads back as ``AU01`` (or as what ``AU01`` itself folds
    into). The shapes named are the AU's unsided ones.
    """
    columns = _channel_columns(rig, tuple(rig.targets))
    entries = []
    for channel in columns:
        if channel.side is not None or (rig.sided_aus is not None
                                        and channel.au not in rig.sided_aus):
            continue
        read_as = folded.get(channel, channel)
        shapes = list(dict.fromkeys(m.target for m in rig.mappings_of(channel.au)
                                    if m.side is None))
        for side in ("L", "R"):
            entries.append({
                "au": Channel(channel.au, side).name, "read_as": read_as.name, "shapes": shapes,
                "reason": f"{channel.name} drives {'one shape' if len(shapes) == 1 else 'the same shapes'} "
                          f"for both sides ({', '.join(shapes)}): a capture of one side is "
                          f"solved, and coded, as both"})
    return entries


def _independent(columns: dict[Channel, np.ndarray]) -> list[Channel]:
    """Drop channels that drive exactly the same shapes as a stronger channel.

    Several AUs can drive the very same shape (ARKit's eyeBlink is AU41 at 0.3, AU42 at 0.7,
    AU43, AU45 and AU46 at 1; eyeSquint is AU7 and AU44): no capture can tell them apart, and a
    solve over all of them would split the weight arbitrarily. Of columns that are positive
    multiples of each other, the longest is kept (the AU that reaches the shape fully), then the
    lowest AU number, so eyeBlink is solved as AU43 (closure), eyeSquint as AU7, jawOpen as
    AU26. Columns that are only jointly dependent (AU61+AU62 = AU65+AU66 on the eyeLook shapes)
    are all kept; the solve then prefers the earlier channel.
    """
    order = sorted(columns, key=lambda c: (-round(float(np.linalg.norm(columns[c])), 6),
                                           c.sort_key))
    kept: list[Channel] = []
    for channel in order:
        column = columns[channel]
        unit = column / np.linalg.norm(column)
        if not any(float(unit @ (columns[k] / np.linalg.norm(columns[k]))) > 1 - 1e-9
                   for k in kept):
            kept.append(channel)
    return kept


#: An entry other AUs fade out, as :func:`combined_targets` lists it: ``(columns, weight,
#: gates, full_at)``, the columns of its AU, its weight, each ``without`` AU's columns and its
#: ``without_full_at``.
_FadedEntry = tuple[tuple[int, ...], float, tuple[tuple[int, ...], ...], float]

#: Passes of :meth:`BlendshapeSolver.solve` on targets whose contributions do not add, at most.
COMBINED_PASSES = 30


def combined_targets(
    rig, basis: np.ndarray, targets: Sequence[str], channels: Sequence[Channel]
) -> tuple[tuple[int, tuple[int, ...], tuple[_FadedEntry, ...]], ...]:
    """The rows of ``basis`` whose target the rig combines softly (``1 - prod(1 - c)``, mixing
    step 4) from two or more channels, or that an entry faded out by other AUs drives
    (``without``), as ``(row, columns, faded)``.

    ``faded`` lists each such entry as ``(columns, weight, gates, full_at)``: it contributes
    ``weight * x * prod(1 - min(1, g / full_at))``, ``x`` the largest of its AU's ``columns``
    (both sides for an unsided entry, as mixing reads it), each ``g`` the largest of one gate
    AU's columns and ``full_at`` the entry's ``without_full_at`` (mixing step 2), beside the
    basis's linear contributions of ``columns`` (ARKit's mouthClose: 8 linearly, 26 faded out
    by 25 and 27). The basis leaves these entries out (:func:`basis_from_rig`), so the solve
    reads them only through this correction, which takes them off what the linear AUs explain:
    a face with the jaw dropped behind closed lips reads 26, not 8+26, while one with the lips
    parted reads as without the entry (the basis's 26 is the jaw drop alone, so parted lips
    never count against it).

    Only the soft combination is modelled. The other non-linear steps stay linear, as the
    basis has them: an exclusive chain's members (25/26/27 on jawOpen) are summed, since with
    only the largest counting a weaker member is free beside a stronger one and the solve has
    no single answer (metahuman's 27D read 26 at 1.0 beside it); ``max`` targets (the eyeLook
    shapes) are driven by one eye AU at a time; a ``sum`` is the basis up to its clamp at 1.
    """
    mode_of = dict(zip(rig.targets, rig.combine))
    chains = [set(rule.members) for rule in rig.rules if getattr(rule, "kind", "") == "exclusive"]
    row_of = {name: row for row, name in enumerate(targets)}

    def columns_of(channel: Channel) -> list[int]:
        # The solved channels a mixing read of ``channel`` sees (an unsided read: either side).
        return [k for k, c in enumerate(channels) if c.au == channel.au
                and (channel.side is None or c.side in (None, channel.side))]

    faded: dict[int, list[tuple[tuple[int, ...], float, tuple[tuple[int, ...], ...]]]] = {}
    for mapping in rig.mappings:
        row = row_of.get(mapping.target)
        if not mapping.without or row is None or mode_of.get(mapping.target) != "soft":
            continue  # only soft targets are modelled (every bundled faded entry's)
        columns = tuple(columns_of(Channel(mapping.au, mapping.side)))
        gates = tuple(g for g in (tuple(columns_of(gate)) for gate in mapping.without) if g)
        if columns:
            faded.setdefault(row, []).append((columns, float(mapping.weight), gates,
                                              float(mapping.without_full_at)))
    combined = []
    for row, name in enumerate(targets):
        if mode_of.get(name) != "soft":
            continue
        columns = np.flatnonzero(basis[row] > 0)
        aus = {channels[c].au for c in columns.tolist()}
        # Two or more contributions that the rig combines softly: not all of one chain.
        if row not in faded and (columns.size < 2 or any(aus <= chain for chain in chains)):
            continue
        combined.append((row, tuple(columns.tolist()), tuple(faded.get(row, ()))))
    return tuple(combined)


def _soft_excess(values: np.ndarray, terms: Sequence[tuple]) -> np.ndarray:
    """``(n_frames, len(terms))`` float64: for each soft target, given as the columns of
    ``values`` that drive it and their weights ``a_i`` (and optionally its faded entries,
    ``(columns, weight, gates, full_at)``, as :func:`combined_targets` gives them), the sum of
    the linear contributions minus the soft combination of all of them, ``sum_i c_i - (1 -
    prod_i (1 - c_i) prod_j (1 - f_j))``, ``c_i = clip(a_i x_i, 0, 1)``, ``f_j = clip(w_j x_j
    prod_g (1 - min(1, x_g / full_at_j)), 0, 1)`` (``x_j``, ``x_g``: the largest of their
    columns): what the linear basis over-predicts (0 with one contribution, ``c_1 c_2`` with
    two; negative where a faded entry adds what the basis leaves out, ``-0.7 x_26`` on ARKit's
    mouthClose under 26 alone)."""
    excess = np.empty((values.shape[0], len(terms)))
    for k, term in enumerate(terms):
        columns, weights = term[0], term[1]
        contribution = np.clip(np.asarray(values[:, columns], dtype=np.float64) * weights,
                               0.0, 1.0)
        kept = np.prod(1.0 - contribution, axis=1)
        for columns_read, weight, gates, full_at in (term[2] if len(term) > 2 else ()):
            shown = weight * np.max(np.asarray(values[:, list(columns_read)], dtype=np.float64),
                                    axis=1)
            for gate in gates:
                shown = shown * (1.0 - np.minimum(np.max(values[:, list(gate)], axis=1)
                                                  / full_at, 1.0))
            kept = kept * (1.0 - np.clip(shown, 0.0, 1.0))
        excess[:, k] = contribution.sum(axis=1) - 1.0 + kept
    return excess


#: Frames per block in :meth:`BlendshapeSolver._read_from_fade` (bounded memory on long takes).
_FADE_BLOCK = 16384


@dataclass(frozen=True)
class BlendshapeSolver:
    """Blendshape weights -> AU values for one rig's targets.

    Attributes
    ----------
    basis : (n_targets, n_channels) float64
    targets : tuple of str
        Target names, the rows of ``basis``.
    channels : tuple of Channel
        The solved channels, the columns of ``basis``.
    """

    basis: np.ndarray
    targets: tuple[str, ...]
    channels: tuple[Channel, ...]
    priors: SolvePriors = NO_PRIORS
    #: The targets the rig combines softly from several channels or drives through entries
    #: other AUs fade out (:func:`combined_targets`), as ``(row, columns, faded)``. Empty: the
    #: plain linear solve.
    combined: tuple[tuple[int, tuple[int, ...], tuple[_FadedEntry, ...]], ...] = ()

    @classmethod
    def from_rig(cls, rig, targets: Sequence[str] | None = None,
                 priors: SolvePriors = NO_PRIORS) -> BlendshapeSolver:
        """Build the solver of a rig profile (optionally restricted to some of its targets)."""
        names = tuple(targets) if targets is not None else tuple(rig.targets)
        basis, channels = basis_from_rig(rig, names)
        return cls(basis, names, channels, priors, combined_targets(rig, basis, names, channels))

    def prior_terms(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(penalty, coupling)`` of :attr:`priors` for :func:`solve_bounded`.

        Raises
        ------
        ValueError
            The pair priors are so strong that the problem is no longer convex.
        """
        return prior_terms(self.basis, self.channels, self.priors)

    def solve(self, weights: np.ndarray, *, times: np.ndarray | None = None,
              overwrite_weights: bool = False, **options) -> SolveResult:
        """Solve ``(n_frames, n_targets)`` weights in :attr:`targets` order; see :func:`solve_bounded`.

        The priors' measured crosstalk (:class:`ShapeCrosstalk`) is taken out of the weights
        first, in place with ``overwrite_weights`` (a caller that owns its copy of an hour's
        weights spares another), and the residual is that of the corrected weights.

        With a temporal prior (``priors.temporal_hz > 0``) and the frames' ``times`` (seconds,
        ``(n_frames,)``), the take is solved twice. The first solve's AU curves, low-passed
        without delay (:func:`facs_rig.core.filters.smooth_zero_phase`), are the prior mean
        ``m``; the second solve adds ``mu/2 sum_k Q_kk (x_k - m_k)^2`` (``Q_kk = ||a_k||^2``, so
        the pull weighs each AU as much as its own shapes do), warm-started from the first.
        This is the MAP estimate under a Gaussian prior centred on the take's own slow
        movement (an empirical-Bayes prior): it keeps a tracker's frame-to-frame jitter out of
        the AUs before the bounds and the sparsity act on them, where a filter after the solve
        smooths values already clipped at 0. Muscles do not change state between two frames
        of a 60 fps camera; the fastest FACS action, a blink (AU45), lasts 100-400 ms with the
        lid closing in under 100 ms (Stern, Walrath & Goldstein 1984), and a 6 Hz prior keeps
        such a blink's closure within 10 % (tests/test_solve_temporal.py).
        """
        weights = remove_crosstalk(weights, self.targets, self.priors.crosstalk,
                                   overwrite=overwrite_weights)
        penalty, coupling = self.prior_terms()
        options.setdefault("penalty", penalty)
        options.setdefault("coupling", coupling)
        result = self._solve_linear(weights, times, dict(options))
        if not self.combined or not result.values.shape[0]:
            return result
        result = self._solve_combined(weights, times, options, result)
        return self._read_from_fade(result, weights, options.get("penalty"))

    def _read_from_fade(self, result: SolveResult, weights: np.ndarray,
                        penalty: np.ndarray | None) -> SolveResult:
        """Raise each ``from_fade`` AU (:class:`AUPrior`) where the shapes its ``without`` fade
        takes away are missing from the capture.

        The linear solve cannot see this evidence: the faded entries are left out of its basis
        and the soft passes hold their fade at the current values. ARKit's ``mouthClose`` is
        the lips held together while the jaw is open (Apple, ARFaceAnchor.BlendShapeLocation
        .mouthClose: 'closure of the lips independent of jaw position'), so jawOpen high with
        mouthClose near jawOpen is 26 alone, and with mouthClose near 0 the lips are apart:
        25+26 (FACS 2002 scores 25 whenever the lips part). For each frame the AU's value
        ``t`` is set to the exact minimiser, over ``t`` at or above its solved value with every
        other AU held, of the solve's own objective: ``1/2`` the squared misfit of the faded
        targets, which fall linearly in ``t`` until the entry's ``without_full_at`` and stay
        flat beyond (mixing step 2), plus that of the targets the AU drives linearly, plus its
        L1 price. One step, after the soft passes, not iterated with them: the other AUs were
        solved with the AU at its linear value, and what the AU adds to a shared chain target
        (25's 0.2 on jawOpen beside 26's 0.7) is contained in the larger member when the rig
        mixes it. Gates solved on two sides (a sided ``without`` AU) are not read this way.
        """
        rules = [p.au for p in self.priors.aus if p.from_fade]
        if not rules:
            return result
        values = result.values
        changed = np.zeros(values.shape[0], dtype=bool)
        for au in rules:
            own = [k for k, c in enumerate(self.channels) if c.au == au]
            if len(own) != 1:
                continue
            j = own[0]
            faded_rows: list[int] = []
            read: set[int] = set()
            full_at = 1.0
            for row, _, faded in self.combined:
                for columns, _, gates, full in faded:
                    if (j,) in gates:
                        faded_rows += [row] if row not in faded_rows else []
                        read.update(columns)
                        full_at = min(full_at, full)
            if not faded_rows:
                continue
            # Only frames where the faded shapes are shown and not yet faded out can move.
            frames = np.flatnonzero((values[:, j] < full_at)
                                    & np.any(values[:, sorted(read)] > 0, axis=1))
            if not frames.size:
                continue
            column = self.basis[:, j]
            linear_rows = [r for r in np.flatnonzero(column).tolist() if r not in faded_rows]
            a = column[linear_rows]
            # In blocks of frames: float64 copies of every target of an hour at 60 fps would be
            # 90 MB each (code's 300 MB budget).
            for first in range(0, frames.size, _FADE_BLOCK):
                self._raise_block(values, weights, penalty, frames[first:first + _FADE_BLOCK],
                                  j, full_at, faded_rows, linear_rows, a, changed)
        changed_frames = np.flatnonzero(changed)
        for first in range(0, changed_frames.size, _FADE_BLOCK):
            rows = changed_frames[first:first + _FADE_BLOCK]
            misfit = self.combine_values(values[rows]) - np.asarray(weights[rows], np.float64)
            result.residual[rows] = np.sqrt(np.mean(misfit * misfit, axis=1))
        return result

    def _raise_block(self, values: np.ndarray, weights: np.ndarray, penalty: np.ndarray | None,
                     frames: np.ndarray, j: int, full_at: float, faded_rows: list[int],
                     linear_rows: list[int], a: np.ndarray, changed: np.ndarray) -> None:
        """:meth:`_read_from_fade` on one block of ``frames`` for AU column ``j``, in place."""
        x0 = values[frames, j].astype(np.float64)
        at = values[frames].astype(np.float64)
        at[:, j] = 0.0
        shut = self.combine_values(at)  # the faded shapes with the AU at 0 ...
        at[:, j] = full_at
        parted = self.combine_values(at)  # ... and faded out
        seen = np.asarray(weights[frames], dtype=np.float64)
        # Misfits at t = 0: faded rows m0 + slope t (t <= full_at), linear rows l0 + a t.
        m0 = shut[:, faded_rows] - seen[:, faded_rows]
        slope = (parted[:, faded_rows] - shut[:, faded_rows]) / full_at
        l0 = shut[:, linear_rows] - seen[:, linear_rows]
        price = (0.0 if penalty is None else np.broadcast_to(
            np.asarray(penalty, dtype=np.float64)[..., j], values.shape[:1])[frames])
        aa = float(a @ a)
        la = l0 @ a

        def objective(t: np.ndarray, m0=m0, slope=slope, full_at=full_at, l0=l0, a=a,
                      price=price) -> np.ndarray:  # bound now: called in this pass only
            faded_misfit = m0 + slope * np.minimum(t, full_at)[:, None]
            linear_misfit = l0 + np.outer(t, a)
            return (0.5 * np.sum(faded_misfit ** 2, axis=1)
                    + 0.5 * np.sum(linear_misfit ** 2, axis=1) + price * t)

        curvature = np.sum(slope ** 2, axis=1) + aa
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = np.where(curvature > 0, -(np.sum(m0 * slope, axis=1) + la + price)
                              / curvature, 0.0)
            beyond = -(la + price) / aa if aa > 0 else np.full(frames.size, full_at)
        inside = np.clip(inside, 0.0, full_at)
        beyond = np.clip(beyond, full_at, 1.0)
        best = np.where(objective(inside) <= objective(beyond), inside, beyond)
        raise_ = (best > x0 + 1e-6) & (objective(best) < objective(x0) - 1e-12)
        if raise_.any():
            values[frames[raise_], j] = best[raise_].astype(values.dtype)
            changed[frames[raise_]] = True

    def _solve_combined(self, weights: np.ndarray, times: np.ndarray | None, options: dict,
                        result: SolveResult) -> SolveResult:
        """The solve of the targets the rig combines softly (:attr:`combined`).

        The basis is linear: it predicts ``sum_i c_i`` for a target that AUs drive with
        contributions ``c_i = a_i x_i``, while the rig combines them softly, ``1 - prod(1 -
        c_i)``. Read linearly, a face the rig mixed reads low in the AUs that share such a
        target: ``6C+12C`` on ``arkit`` makes cheekSquint 0.624 where the basis predicts 0.715,
        and AU6 read 0.46. Each pass adds the basis's excess at the current solution, ``d(x) =
        sum_i c_i - (1 - prod_i (1 - c_i))``, to the observed weights and solves again
        (warm-started), until no value moves more than ten times the tolerance (or
        :data:`COMBINED_PASSES`): at the fixed point ``A x = y + d(x)``, the rig's own
        combination of ``x`` fits ``y`` (a defect correction; ``d`` grows with each ``c_i`` at
        a rate below 1, ``1 - prod_{j != i}(1 - c_j)``). Only the channels linked to the soft
        targets (through a shared target or a prior) can move, as the correction changes those
        targets alone: they are solved on their own, on the targets they drive (the same
        column lengths, so the same priors), and only on the frames that moved (frames are
        independent problems, unless a temporal prior couples them: then every pass solves
        the take). The residual is that of the rig's combination.
        """
        tolerance = float(options.get("tolerance", 1e-5))
        values = result.values  # the linear solve's own new array: corrected in place
        coupled = times is not None and self.priors.temporal_hz > 0
        penalty, coupling = options.get("penalty"), options.get("coupling")
        gram = self.basis.T @ self.basis + (0.0 if coupling is None else np.asarray(coupling))
        soft_columns = {c for _, cols, _ in self.combined for c in cols}
        soft_columns |= {c for _, _, faded in self.combined for read, _, gates, _ in faded
                         for c in (*read, *(k for gate in gates for k in gate))}
        columns = np.sort(np.concatenate([group for group in _components(gram)
                                          if soft_columns & set(group.tolist())]))
        # The targets these channels drive, and those only a faded entry drives (MetaHuman's
        # mouthLipsTogether: the 8+26 corrective and 26 without 25, no linear column).
        rows = np.union1d(np.flatnonzero(np.any(self.basis[:, columns] != 0, axis=1)),
                          [row for row, _, _ in self.combined]).astype(np.intp)
        part = BlendshapeSolver(self.basis[np.ix_(rows, columns)],
                                tuple(self.targets[k] for k in rows),
                                tuple(self.channels[k] for k in columns), self.priors)
        soft_rows = np.searchsorted(rows, [row for row, _, _ in self.combined])
        position = {int(c): k for k, c in enumerate(columns)}
        terms = [([position[c] for c in cols], self.basis[row, list(cols)],
                  [(tuple(position[c] for c in read), weight,
                    tuple(tuple(position[k] for k in gate) for gate in gates), full_at)
                   for read, weight, gates, full_at in faded])
                 for row, cols, faded in self.combined]
        passed = dict(options)
        if penalty is not None:
            passed["penalty"] = np.asarray(penalty)[..., columns]
        if coupling is not None:
            passed["coupling"] = np.asarray(coupling)[np.ix_(columns, columns)]
        residual = result.residual  # also the linear solve's own: written in place
        basis = self.basis.T.astype(np.float32)
        soft = [row for row, _, _ in self.combined]
        # Frames are independent problems: the passes run block by block (every working array
        # a block's, as the linear solve's), unless a temporal prior couples the take.
        step = values.shape[0] if coupled else SOLVE_BLOCK_FRAMES
        for first in range(0, values.shape[0], step):
            block = slice(first, first + step)
            # The part's own contiguous arrays: a pass gathers and scatters frames of these.
            observed = np.ascontiguousarray(weights[block][:, rows])
            solved = np.ascontiguousarray(values[block][:, columns])
            excess = _soft_excess(solved, terms)
            # |excess|: a faded entry's is negative (the basis leaves it out).
            working = (np.arange(solved.shape[0]) if coupled
                       else np.flatnonzero(np.any(np.abs(excess) > tolerance, axis=1)))
            touched = working
            for _ in range(COMBINED_PASSES):
                if not working.size:
                    break
                corrected = observed[working].astype(np.float64)
                corrected[:, soft_rows] += excess[working]
                passed["initial"] = solved[working]
                if np.ndim(penalty) == 2:
                    passed["penalty"] = np.asarray(penalty)[np.ix_(working + first, columns)]
                again = part._solve_linear(corrected, times if coupled else None,
                                           dict(passed)).values
                moved = np.max(np.abs(again - solved[working]), axis=1)
                solved[working] = again
                if coupled:
                    if not np.any(moved > tolerance):
                        break
                    excess = _soft_excess(solved, terms)
                    continue
                # Ten times the solve's tolerance: a warm-started solve moves values by about
                # its tolerance with no correction, and those frames would keep passes going.
                working = working[moved > 10 * tolerance]
                excess[working] = _soft_excess(solved[working], terms)
            values[block, columns] = solved
            if touched.size:
                # The residual of the rig's combination, on the frames the passes changed.
                frames = touched + first
                misfit = values[frames] @ basis - np.asarray(weights[frames], dtype=np.float32)
                misfit[:, soft] -= _soft_excess(solved[touched], terms).astype(np.float32)
                residual[frames] = np.sqrt(np.mean(misfit * misfit, axis=1))
        return SolveResult(values, residual, result.sweeps)

    def _excess(self, values: np.ndarray) -> np.ndarray:
        """``(n_frames, len(combined))`` float64: on each of :attr:`combined`'s targets, the
        basis's prediction minus the rig's soft combination (:func:`_soft_excess`)."""
        return _soft_excess(values, [(list(cols), self.basis[row, list(cols)], faded)
                                     for row, cols, faded in self.combined])

    def combine_values(self, values: np.ndarray) -> np.ndarray:
        """``(n_frames, n_targets)`` float64: the targets ``values`` make, combined as the rig
        does on :attr:`combined`'s targets, linearly elsewhere (in-between curves, clamps and
        rules left out, as in the basis)."""
        targets = np.asarray(values, dtype=np.float64) @ self.basis.T
        if self.combined:
            targets[:, [row for row, _, _ in self.combined]] -= self._excess(values)
        return targets

    def _solve_linear(self, weights: np.ndarray, times: np.ndarray | None,
                      options: dict) -> SolveResult:
        """The linear solve (with the temporal prior and the ``beyond`` readings)."""
        first = solve_bounded(self.basis, weights, **options)
        if self.priors.temporal_hz <= 0 or times is None or first.values.shape[0] < 3:
            return self._read_beyond(first, weights)
        from facs_rig.core.filters import smooth_zero_phase

        mean = smooth_zero_phase(times, first.values, cutoff_hz=self.priors.temporal_hz)
        pull = self.priors.temporal_weight * np.einsum("ij,ij->j", self.basis, self.basis)
        # On top of the first solve's own terms (the priors', or the caller's).
        coupling, penalty = options["coupling"], options["penalty"]
        options["coupling"] = np.diag(pull) if coupling is None else coupling + np.diag(pull)
        linear = -(mean * pull.astype(np.float32))  # -mu Q_kk m_k: the pull's linear part
        options["penalty"] = (linear if penalty is None
                              else linear + np.asarray(penalty, dtype=np.float32))
        options["initial"] = first.values
        second = solve_bounded(self.basis, weights, **options)
        return self._read_beyond(SolveResult(second.values, second.residual,
                                             first.sweeps + second.sweeps), weights)

    def _read_beyond(self, result: SolveResult, weights: np.ndarray) -> SolveResult:
        """Apply the priors' ``beyond`` readings (:class:`AUPrior`) to a solve.

        For each such prior: frames whose observed value of the target both AUs drive most
        (jawOpen for 27 beyond 26) exceeds ``beyond``'s full weight there read the AU alone,
        at ``observed / its weight`` (clipped to 1), and ``beyond`` at 0. The residual is that
        of the values returned.
        """
        rules = [p for p in self.priors.aus if p.beyond is not None]
        if not rules or not result.values.shape[0]:
            return result
        values = None
        for rule in rules:
            upper = [k for k, c in enumerate(self.channels) if c.au == rule.au]
            lower = [k for k, c in enumerate(self.channels) if c.au == rule.beyond]
            if not upper or not lower:
                continue
            # The shared target: driven by both, where the lower AU drives most.
            shared = (self.basis[:, upper].min(axis=1) > 0) & (self.basis[:, lower].min(axis=1) > 0)
            if not shared.any():
                continue
            row = int(np.argmax(np.where(shared, self.basis[:, lower].min(axis=1), -1.0)))
            reach = float(self.basis[row, lower].min())
            full = float(self.basis[row, upper].max())
            if full <= reach:
                continue
            observed = np.asarray(weights[:, row], dtype=np.float64)
            beyond = observed > reach
            if not beyond.any():
                continue
            if values is None:
                # The solve's own new arrays (nobody else holds them): changed in place, and
                # only the frames read beyond get a new residual. A copy and a whole-take
                # misfit cost an hour's `code` 110 MB of peak memory (268 -> 378 MB).
                values, residual = result.values, result.residual
                changed = np.zeros(values.shape[0], dtype=bool)
            read = np.minimum(observed[beyond] / full, 1.0).astype(np.float32)
            for k in upper:
                values[beyond, k] = read
            for k in lower:
                values[beyond, k] = 0.0
            changed |= beyond
        if values is None:
            return result
        basis = self.basis.T.astype(np.float32)
        frames = np.flatnonzero(changed)
        for first in range(0, frames.size, SOLVE_BLOCK_FRAMES):
            block = frames[first:first + SOLVE_BLOCK_FRAMES]
            misfit = values[block] @ basis - np.asarray(weights[block], dtype=np.float32)
            residual[block] = np.sqrt(np.mean(misfit * misfit, axis=1))
        return SolveResult(values, residual, result.sweeps)


def prior_terms(basis: np.ndarray, channels: Sequence[Channel], priors: SolvePriors
                ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The linear penalty ``(n_channels,)`` and the coupling ``(n_channels, n_channels)`` of
    ``priors`` over a basis's channels (None where the prior is off)."""
    lengths = np.linalg.norm(np.asarray(basis, dtype=np.float64), axis=0)
    weights = np.full(len(channels), priors.sparsity)
    for prior in priors.aus:
        weights += np.fromiter((prior.weight if c.au == prior.au else 0.0 for c in channels),
                               np.float64, len(channels))
    penalty = weights * lengths if np.any(weights > 0) else None
    if not priors.pairs:
        return penalty, None
    coupling = np.zeros((len(channels), len(channels)))
    for pair in priors.pairs:
        sign = -1.0 if pair.kind == "together" else 1.0
        for i, a in enumerate(channels):
            for j, b in enumerate(channels):
                if a.au == pair.first and b.au == pair.second and (
                        a.side is None or b.side is None or a.side == b.side):
                    value = sign * pair.weight * lengths[i] * lengths[j]
                    coupling[i, j] = coupling[j, i] = value
    # A `together` prior says which AUs occur together, not how strongly: it is a reward for
    # both (-w x_i x_j), which raised an AU above what its shapes say (6 together with 12 at
    # 0.05 read AU12 of a 6C+12C face 0.567, over C's top, 0.55: 12D; benchmarks/
    # bench_fidelity.py's round trip, letters). So each AU's `together` couplings are capped,
    # all of them together, at its sparsity price (lambda_k ||a_k||; a bilateral AU couples
    # with both sides of its partner): with its partners at full intensity they at most waive
    # the price, the priors' term p.x + x'Px/2 stays >= 0 on [0, 1], and without a sparsity
    # there is nothing to waive. An `against` prior is a price, like the sparsity: not capped.
    price = np.zeros(len(channels)) if penalty is None else penalty
    reward = np.maximum(-coupling, 0.0).sum(axis=1)
    scale = np.divide(price, reward, out=np.ones(len(channels)), where=reward > price)
    coupling = np.where(coupling < 0, coupling * np.minimum.outer(scale, scale), coupling)
    if not np.any(coupling):
        return penalty, None
    lowest = float(np.linalg.eigvalsh(basis.T @ basis + coupling).min()) if len(channels) else 0.0
    if lowest < -1e-9:
        raise ValueError(f"solve priors: the pair priors make the solve non-convex (lowest "
                         f"eigenvalue {lowest:.3g}); lower their weights")
    return penalty, coupling


# --- head and eye angles -------------------------------------------------------------------

#: The channels :func:`pose_to_aus` returns, in column order (FACS 2002 head and eye codes).
POSE_CHANNELS: tuple[Channel, ...] = tuple(Channel(au) for au in (51, 52, 53, 54, 55, 56, 57, 58,
                                                                  61, 62, 63, 64))


@dataclass(frozen=True)
class PoseScale:
    """Angles (radians) and distance (mm) read as full intensity (1.0) of the head and eye AUs.

    FACS scores head and eye positions by how far they move but gives no angles; these are
    calibration choices: a 40 degree turn, a 30 degree nod or tilt, 30 degrees of horizontal and
    20 degrees of vertical gaze, and 50 mm of forward or backward head travel read as E.
    """

    yaw: float = np.deg2rad(40.0)
    pitch: float = np.deg2rad(30.0)
    roll: float = np.deg2rad(30.0)
    gaze_yaw: float = np.deg2rad(30.0)
    gaze_pitch: float = np.deg2rad(20.0)
    forward_mm: float = 50.0


#: The default full-scale angles.
DEFAULT_POSE_SCALE = PoseScale()


def pose_to_aus(*, yaw=None, pitch=None, roll=None, forward=None, gaze_yaw=None,
                gaze_pitch=None, n_frames: int, scale: PoseScale | None = None
                ) -> tuple[np.ndarray, tuple[Channel, ...]]:
    """Head and eye angles to the FACS head (51-58) and eye (61-64) AUs.

    All inputs are ``(n_frames,)`` arrays in the subject-centred convention below, or None when
    the capture does not have them (those channels are left out). Each importer converts its
    tracker's own signs to this convention.

    ====================  =========================================  ===========
    input                 positive means                             AU (neg.)
    ====================  =========================================  ===========
    ``yaw``               head turns to the subject's left           51 (52)
    ``pitch``             head tilts up                              53 (54)
    ``roll``              head tilts toward the subject's left side  55 (56)
    ``forward`` (mm)      head moves forward                         57 (58)
    ``gaze_yaw``          eyes turn to the subject's left            61 (62)
    ``gaze_pitch``        eyes turn up                               63 (64)
    ====================  =========================================  ===========

    Returns
    -------
    values : (n_frames, n_channels) float32
        0-1 intensities (``|angle| / full scale``, clipped); NaN where the input is NaN.
    channels : tuple of Channel
    """
    scale = DEFAULT_POSE_SCALE if scale is None else scale
    pairs = ((yaw, scale.yaw, 51), (pitch, scale.pitch, 53), (roll, scale.roll, 55),
             (forward, scale.forward_mm, 57), (gaze_yaw, scale.gaze_yaw, 61),
             (gaze_pitch, scale.gaze_pitch, 63))
    columns, channels = [], []
    for signal, full, positive_au in pairs:
        if signal is None:
            continue
        data = np.asarray(signal, dtype=np.float64).reshape(n_frames)
        with np.errstate(invalid="ignore", over="ignore"):  # 1e308 rad overflows to inf: clipped
            normalised = data / full
            columns.append(np.clip(normalised, 0.0, 1.0))
            columns.append(np.clip(-normalised, 0.0, 1.0))
        channels.extend((Channel(positive_au), Channel(positive_au + 1)))
    if not columns:
        return np.zeros((n_frames, 0), dtype=np.float32), ()
    return np.stack(columns, axis=1).astype(np.float32), tuple(channels)


#: The opposed head and eye position AUs (FACS 2002, Table 9-1, alternative rules: the head
#: cannot be turned left and right at once, ...): each pair is one signed angle.
OPPOSED_POSITIONS: tuple[tuple[int, int], ...] = ((51, 52), (53, 54), (55, 56), (57, 58),
                                                 (61, 62), (63, 64))


def pose_relative_to(values: np.ndarray, channels: Sequence[Channel], rest: np.ndarray
                     ) -> np.ndarray:
    """Head and eye position AUs measured from the pose held over the ``rest`` frames.

    FACS scores a head or eye position against the person's neutral, not against the camera
    ("you must evaluate this against a neutral example"; "the neutral is broad, including minor
    variations": FACS Manual, Ekman, Friesen & Hager 2002, ch. 9, Head and Eye Positions). Each
    opposed pair (51/52, 53/54, ...; :data:`OPPOSED_POSITIONS`) is one signed angle
    ``AU_a - AU_b``; its median over ``rest`` is subtracted from it and the result split again,
    so a head held turned 5 degrees left reads as the rest and a turn back to the camera reads
    as a turn right (a per-channel subtraction would read it as nothing).

    Parameters
    ----------
    values : (n_frames, n_channels) array
        AU values (0-1), NaN where not tracked.
    channels : sequence of Channel
        The columns' channels; channels outside the pairs are returned unchanged.
    rest : (n_frames,) bool array
        The frames whose pose is the neutral.

    Returns
    -------
    (n_frames, n_channels) float32
    """
    out = np.array(values, dtype=np.float32)
    column = {(c.au, c.side): k for k, c in enumerate(channels)}
    rest = np.asarray(rest, dtype=bool)
    for first, second in OPPOSED_POSITIONS:
        a, b = column.get((first, None)), column.get((second, None))
        if a is None or b is None:
            continue
        signed = out[:, a].astype(np.float64) - out[:, b]
        kept = signed[rest & np.isfinite(signed)]
        if not kept.size:
            continue
        signed -= float(np.median(kept))
        with np.errstate(invalid="ignore"):
            out[:, a] = np.clip(signed, 0.0, 1.0)
            out[:, b] = np.clip(-signed, 0.0, 1.0)
    return out
