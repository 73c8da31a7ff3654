"""Combination-aware mixing: AU curves + rig profile -> blendshape weights.

The pipeline, applied to every frame (see ``rigs/README.md`` §Evaluation for the contract):

1. **Inputs** are clipped to [0, 1]. Each mapping entry reads its AU through its side: a
   ``side: "L"`` entry reads ``max(AU, AU_L)``, an unsided entry ``max(AU, AU_L, AU_R)``.
2. **Response**: an entry's optional piecewise-linear curve, then its weight, then its
   ``without`` AUs: ``c = weight * curve(x) * prod(1 - min(1, b / full_at))``, ``full_at``
   the entry's ``without_full_at`` (default 1: ``1 - b``). ARKit's 26 closes the lips with
   ``mouthClose`` without 25, gone at 25's trace (``full_at`` 0.1): FACS 2002 scores 25
   whenever the lips part.
3. **Exclusive chains**: where several members of one chain drive the same target, only the
   largest of their contributions counts: the movements do not add (the larger contains the
   smaller; the AUs are still both scored, as FACS scores 25+26).
4. **Combine** the remaining contributions per target: ``sum`` (then clamp to [0, 1]), ``max``
   or ``soft`` (``1 - prod(1 - c)``).
5. **Correctives**, in dependency order: ``clamp(weight * prod(drivers), 0, 1)``, combined into
   their target with the target's mode.
6. **Suppress** rules, all reading the values after step 5: ``a *= clamp(1 - k * b, 0, 1)``.
7. **Clamp** rules, all reading the values after step 6: ``a = min(a, b)``.
8. **Range**: each target's [0, 1] is mapped linearly onto its declared range.

Everything is vectorised over frames. A profile is compiled once into index arrays (cached per
profile object); the arrays are channel-major while mixing, ``(n_rows, n_frames)``, because each
step then works on contiguous rows (measured 5x faster than frame-major for this step), and the
result is transposed once into the time-first :class:`~facs_rig.core.curves.TargetWeights`.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.channels import Channel, parse_channel, read_channel_values, sort_channels
from facs_rig.core.curves import UNSAMPLED_KEY, AUCurves, TargetWeights
from facs_rig.core.rig import (
    AUMapping,
    ClampRule,
    CorrectiveRule,
    ExclusiveRule,
    RigProfile,
    SuppressRule,
)
from facs_rig.errors import RigError

__all__ = [
    "mix",
    "mix_frame",
    "mix_array",
    "explain",
    "Explanation",
    "TargetExplanation",
    "Contribution",
    "RuleEffect",
]

_SIDE_SLOT = {None: 0, "L": 1, "R": 2}
#: Frames mixed per block by :func:`mix_array` (see there).
_BLOCK_FRAMES = 2048
_MODES = ("sum", "max", "soft")


# --------------------------------------------------------------------------------------------
# compiling a profile


@dataclass(frozen=True)
class _Groups:
    """Rows of a source array reduced group by group, one result row per group.

    A single frame (1-D rows) is reduced with one ``np.<ufunc>.reduceat`` call over
    ``source[order]``: few numpy calls matter most there. Blocks of frames (2-D rows) are folded
    member by member instead (``steps``), because ``reduceat`` along the first axis of a 2-D
    array is several times slower than whole-row operations.
    """

    order: np.ndarray   # source rows, grouped
    starts: np.ndarray  # offset of each group in ``order``
    keys: np.ndarray    # the key (a target, a lead row) of each group, in group order
    first: np.ndarray   # source row of each group's first member
    steps: tuple[tuple[np.ndarray, np.ndarray], ...]  # (groups, source rows) of the k-th members


def _groups(pairs: list[tuple[int, int]]) -> _Groups:
    """Group (key, row) pairs by key, keys ascending, rows in their given order."""
    by_key: dict[int, list[int]] = {}
    for key, row in pairs:
        by_key.setdefault(key, []).append(row)
    keys = sorted(by_key)
    order, starts = [], []
    for key in keys:
        starts.append(len(order))
        order.extend(by_key[key])
    depth = max((len(rows) for rows in by_key.values()), default=0)
    steps = []
    for k in range(1, depth):
        which = [g for g, key in enumerate(keys) if len(by_key[key]) > k]
        steps.append((np.array(which, dtype=np.intp),
                       np.array([by_key[keys[g]][k] for g in which], dtype=np.intp)))
    return _Groups(np.array(order, dtype=np.intp), np.array(starts, dtype=np.intp),
                   np.array(keys, dtype=np.intp),
                   np.array([by_key[key][0] for key in keys], dtype=np.intp), tuple(steps))


def _reduce(operation: str, source: np.ndarray, groups: _Groups) -> np.ndarray:
    """Reduce ``source`` rows per group: ``sum``, ``max``, ``min``, ``product`` or ``soft``.

    ``soft`` is the probabilistic or, 1 - prod(1 - x) = fold of a + b - a b.
    """
    if source.ndim == 1:
        if operation == "soft":
            return 1.0 - np.multiply.reduceat(1.0 - source[groups.order], groups.starts)
        return _UFUNCS[operation].reduceat(source[groups.order], groups.starts)
    result = source[groups.first]
    for which, rows in groups.steps:
        a, b = result[which], source[rows]
        if operation == "soft":
            result[which] = a + b - a * b
        else:
            result[which] = _UFUNCS[operation](a, b)
    return result


_UFUNCS = {"sum": np.add, "max": np.maximum, "min": np.minimum, "product": np.multiply}


@dataclass
class _Entry:
    """One row of the contribution array: a mapping entry, or a bare AU signal a rule reads."""

    au_index: int
    side: str | None
    weight: float
    target: int  # -1 for AU signals read by rules
    curve: tuple[tuple[float, float], ...] = ()
    mapping: AUMapping | None = None


class _Plan:
    """A profile compiled into index arrays for vectorised mixing."""

    def __init__(self, rig: RigProfile):
        self.rig = rig
        self.n_targets = len(rig.targets)
        target_index = {name: i for i, name in enumerate(rig.targets)}
        self.aus = rig.aus
        au_index = {au: i for i, au in enumerate(self.aus)}
        self.au_index = au_index
        #: canonical input slots: 3 per AU (bilateral, left, right)
        self.slot_of: dict[Channel, int] = {}
        for i, au in enumerate(self.aus):
            for side, offset in _SIDE_SLOT.items():
                self.slot_of[Channel(au, side)] = 3 * i + offset
        self.n_slots = 3 * len(self.aus)

        entries = [_Entry(au_index[m.au], m.side, m.weight, target_index[m.target], m.curve, m)
                   for m in rig.mappings]
        signal_row: dict[Channel, int] = {}

        def signal(channel: Channel) -> int:
            if channel not in signal_row:
                signal_row[channel] = len(entries)
                entries.append(_Entry(au_index[channel.au], channel.side, 1.0, -1))
            return signal_row[channel]

        # Entries faded out by other AUs (``without``): (entry, AU signal) row pairs, the k-th
        # AU of every such entry in one pair of arrays so each product is one numpy call.
        # Each pair has the scale 1 / without_full_at by which the AU's value is its fade.
        gate_pairs: dict[int, list[tuple[int, int, float]]] = {}
        for row, m in enumerate(rig.mappings):
            for k, channel in enumerate(m.without):
                gate_pairs.setdefault(k, []).append((row, signal(channel),
                                                     1.0 / m.without_full_at))
        self.gates = [(np.array([e for e, _, _ in pairs], dtype=np.intp),
                       np.array([g for _, g, _ in pairs], dtype=np.intp),
                       np.array([f for _, _, f in pairs], dtype=np.float32))
                      for _, pairs in sorted(gate_pairs.items())]
        # Rule operands, resolved to rows now so the entry list is complete.
        correctives = [r for r in rig.rules if isinstance(r, CorrectiveRule)]
        self.corrective_rules = correctives
        corrective_au_rows = [[signal(c) for c in r.aus] for r in correctives]
        suppress = [r for r in rig.rules if isinstance(r, SuppressRule)]
        self.suppress_rules = suppress
        suppress_au_rows = [signal(r.by_au) if r.by_au is not None else -1 for r in suppress]
        self.entries = entries
        self.signal_row = signal_row
        self.n_entries = len(entries)
        self.weights = np.array([e.weight for e in entries], dtype=np.float32)
        # Most weights are 1: only the other rows are multiplied.
        self.weighted_rows = np.flatnonzero(self.weights != 1.0)
        self.row_weights = self.weights[self.weighted_rows]
        self.curves = [(i, np.array([p[0] for p in e.curve], dtype=np.float32),
                        np.array([p[1] for p in e.curve], dtype=np.float32))
                       for i, e in enumerate(entries) if e.curve]
        # Sources of each entry in the canonical slots (it reads their maximum), and the row of
        # its side's "view" in a frame built by _frame_rows (the maximum already taken).
        self.entry_sources = []
        for e in entries:
            base = 3 * e.au_index
            if e.side is None:
                self.entry_sources.append((base, base + 1, base + 2))
            else:
                self.entry_sources.append((base, base + _SIDE_SLOT[e.side]))
        self.frame_layout = (np.array([3 * e.au_index + _SIDE_SLOT[e.side] for e in entries],
                                      dtype=np.intp), [])

        # Exclusive chains: per target, keep the largest contribution of the chain's members.
        self.chains = [r for r in rig.rules if isinstance(r, ExclusiveRule)]
        self.chain_groups: list[tuple[ExclusiveRule, int, tuple[int, ...]]] = []
        group_rows: list[list[int]] = []
        for rule in self.chains:
            members = set(rule.members)
            by_target: dict[int, list[int]] = {}
            for row, e in enumerate(entries):
                if e.target >= 0 and self.aus[e.au_index] in members:
                    by_target.setdefault(e.target, []).append(row)
            for target, rows in by_target.items():
                if len(rows) > 1:
                    group_rows.append(rows)
                    self.chain_groups.append((rule, target, tuple(rows)))
        # Each chain group is reduced into its first row (the "lead"); its other rows drop out.
        self.chain = _groups([(rows[0], row) for rows in group_rows for row in rows])
        dropped = {row for rows in group_rows for row in rows[1:]}

        # Combine: per mode, targets with one contribution are copied; the others reduced.
        modes = rig.combine
        self.combine = {}
        for mode in _MODES:
            per_target: dict[int, list[int]] = {}
            for row, e in enumerate(entries):
                if e.target >= 0 and row not in dropped and modes[e.target] == mode:
                    per_target.setdefault(e.target, []).append(row)
            if not per_target:
                continue
            singles = sorted((t, rows[0]) for t, rows in per_target.items() if len(rows) == 1)
            multi = _groups([(t, row) for t, rows in per_target.items() if len(rows) > 1
                             for row in rows])
            self.combine[mode] = (np.array([t for t, _ in singles], dtype=np.intp),
                                  np.array([r for _, r in singles], dtype=np.intp), multi)
        self.clip_sum = "sum" in self.combine

        # Correctives in dependency levels (one reading another's target comes later).
        corrective_target = {r.target: i for i, r in enumerate(correctives)}
        level = [0] * len(correctives)
        changed = True
        while changed:  # the validator has ruled out cycles
            changed = False
            for i, rule in enumerate(correctives):
                new = max((level[corrective_target[t]] + 1 for t in rule.targets
                           if t in corrective_target), default=0)
                if new != level[i]:
                    level[i], changed = new, True
        self.corrective_levels = []
        for lv in range(max(level, default=-1) + 1):
            members = [i for i in range(len(correctives)) if level[i] == lv]
            au_rows = [row for i in members for row in corrective_au_rows[i]]
            target_rows = [target_index[t] for i in members for t in correctives[i].targets]
            # drivers are concatenated: AU signal rows first, then target rows
            owner = [local for local, i in enumerate(members) for _ in corrective_au_rows[i]]
            owner += [local for local, i in enumerate(members) for _ in correctives[i].targets]
            drivers = _groups([(local, k) for k, local in enumerate(owner)])
            targets = np.array([target_index[correctives[i].target] for i in members], dtype=np.intp)
            weights = np.array([correctives[i].weight for i in members], dtype=np.float32)
            by_mode = {mode: np.array([j for j, t in enumerate(targets) if modes[t] == mode],
                                      dtype=np.intp) for mode in _MODES}
            self.corrective_levels.append((members, np.array(au_rows, dtype=np.intp),
                                           np.array(target_rows, dtype=np.intp), drivers,
                                           targets, weights,
                                           {m: w for m, w in by_mode.items() if w.size}))

        # Suppress: operands read simultaneously; factors of one target multiply.
        self.suppress_k = np.array([r.k for r in suppress], dtype=np.float32)
        self.suppress_by_au = np.array([i for i, r in enumerate(suppress) if r.by_au is not None],
                                       dtype=np.intp)
        self.suppress_au_rows = np.array([row for row in suppress_au_rows if row >= 0], dtype=np.intp)
        self.suppress_by_target = np.array([i for i, r in enumerate(suppress) if r.by_au is None],
                                           dtype=np.intp)
        self.suppress_target_rows = np.array([target_index[r.by_target] for r in suppress
                                              if r.by_au is None], dtype=np.intp)
        self.suppress = _groups([(target_index[r.target], i) for i, r in enumerate(suppress)])

        clamps = [r for r in rig.rules if isinstance(r, ClampRule)]
        self.clamp_rules = clamps
        self.clamp_limits = np.array([target_index[r.max_target] for r in clamps], dtype=np.intp)
        self.clamp = _groups([(target_index[r.target], i) for i, r in enumerate(clamps)])

        ranges = np.array(rig.ranges or [(0.0, 1.0)] * self.n_targets, dtype=np.float32)
        self.range_low = ranges[:, 0].copy()
        self.range_span = (ranges[:, 1] - ranges[:, 0]).copy()
        self.unit_range = bool(np.all(self.range_low == 0) and np.all(self.range_span == 1))
        self.layouts: dict[tuple[Channel, ...], tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}
        for array in (self.weights, self.row_weights, self.range_low, self.range_span):
            array.flags.writeable = False

    def layout(self, channels: tuple[Channel, ...]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Gather indices reading entry inputs from channel-major rows in ``channels`` order.

        Returns the first source row of every entry (the zero row ``len(channels)`` when none
        is present) and, for entries with several present sources, extra (entries, rows)
        pairs to take the maximum with.
        """
        cached = self.layouts.get(channels)
        if cached is not None:
            return cached
        row_of = {}
        for row, channel in enumerate(channels):
            row_of.setdefault(channel, row)
        canonical = {slot: row_of[c] for c, slot in self.slot_of.items() if c in row_of}
        zero = len(channels)
        first = np.full(self.n_entries, zero, dtype=np.intp)
        extra: dict[int, list[tuple[int, int]]] = {}
        for e, sources in enumerate(self.entry_sources):
            present = [canonical[s] for s in sources if s in canonical]
            if present:
                first[e] = present[0]
                for k, row in enumerate(present[1:], start=1):
                    extra.setdefault(k, []).append((e, row))
        extras = [(np.array([e for e, _ in pairs], dtype=np.intp),
                   np.array([r for _, r in pairs], dtype=np.intp)) for _, pairs in sorted(extra.items())]
        if len(self.layouts) > 64:  # inputs with ever-new channel sets: keep memory bounded
            self.layouts.clear()
        self.layouts[channels] = (first, extras)
        return first, extras

    # ----------------------------------------------------------------------------------------

    def evaluate(self, rows: np.ndarray, layout, trace: dict[str, Any] | None = None) -> np.ndarray:
        """Mix channel-major inputs.

        Parameters
        ----------
        rows : (n_rows, ...) float32
            Input rows in the layout's order, then a zero row; the trailing axis (if any) is
            frames. Values must already be within [0, 1].
        layout
            From :meth:`layout`, or :attr:`frame_layout` for rows from :func:`_frame_rows`.
        trace : dict, optional
            Filled with intermediate arrays (for :func:`explain`).

        Returns
        -------
        (n_targets, ...) float32
        """
        first, extras = layout
        tail = rows.shape[1:]
        column = (slice(None),) + (None,) * len(tail)
        c = rows[first]
        for entries, sources in extras:
            c[entries] = np.maximum(c[entries], rows[sources])
        for e, xs, ys in self.curves:
            c[e] = np.interp(c[e], xs, ys)
        if trace is not None:
            trace["inputs"] = c.copy()
        if self.weighted_rows.size:
            c[self.weighted_rows] *= self.row_weights[column]
        for entries, gates, scale in self.gates:
            c[entries] *= 1.0 - np.minimum(c[gates] * scale[column], 1.0)
        if trace is not None:
            trace["contributions"] = c.copy()
        if self.chain.keys.size:
            c[self.chain.keys] = _reduce("max", c, self.chain)
        out = np.zeros((self.n_targets,) + tail, dtype=np.float32)
        for mode, (single_targets, single_rows, multi) in self.combine.items():
            if single_targets.size:
                out[single_targets] = c[single_rows]
            if multi.keys.size:
                out[multi.keys] = _reduce(mode, c, multi)
        if trace is not None:
            trace["combined"] = out.copy()
        if self.clip_sum:
            np.minimum(out, 1.0, out=out)
        for members, au_rows, target_rows, drivers, targets, weights, by_mode in self.corrective_levels:
            values = (np.concatenate((c[au_rows], out[target_rows])) if target_rows.size
                      else c[au_rows]) if au_rows.size else out[target_rows]
            value = _reduce("product", values, drivers)
            value *= weights[column]
            np.clip(value, 0.0, 1.0, out=value)
            if trace is not None:
                trace.setdefault("correctives", {}).update(
                    {m: value[j].copy() for j, m in enumerate(members)})
            for mode, which in by_mode.items():
                t = targets[which]
                if mode == "sum":
                    out[t] = np.minimum(out[t] + value[which], 1.0)
                elif mode == "max":
                    out[t] = np.maximum(out[t], value[which])
                else:
                    out[t] = 1.0 - (1.0 - out[t]) * (1.0 - value[which])
        if trace is not None:
            trace["after_correctives"] = out.copy()
        if self.suppress.keys.size:
            operand = np.zeros((self.suppress_k.size,) + tail, dtype=np.float32)
            if self.suppress_by_au.size:
                operand[self.suppress_by_au] = c[self.suppress_au_rows]
            if self.suppress_by_target.size:
                operand[self.suppress_by_target] = out[self.suppress_target_rows]
            factor = 1.0 - self.suppress_k[column] * operand
            np.clip(factor, 0.0, 1.0, out=factor)
            if trace is not None:
                trace["suppress_factors"] = factor.copy()
            out[self.suppress.keys] *= _reduce("product", factor, self.suppress)
        if trace is not None:
            trace["after_suppress"] = out.copy()
        if self.clamp.keys.size:
            limit = _reduce("min", out[self.clamp_limits], self.clamp)
            np.minimum(out[self.clamp.keys], limit, out=limit)
            out[self.clamp.keys] = limit
        if trace is not None:
            trace["after_clamp"] = out.copy()
        if not self.unit_range:
            out *= self.range_span[column]
            out += self.range_low[column]
        return out


_PLANS: weakref.WeakKeyDictionary[RigProfile, _Plan] = weakref.WeakKeyDictionary()


def _plan(rig: RigProfile) -> _Plan:
    if not isinstance(rig, RigProfile):
        raise RigError(f"expected a RigProfile (see facs_rig.load_rig), got {type(rig).__name__}")
    plan = _PLANS.get(rig)
    if plan is None:
        plan = _PLANS[rig] = _Plan(rig)
    return plan


# --------------------------------------------------------------------------------------------
# public API


def mix_array(values: np.ndarray, channels: tuple[Channel, ...], rig: RigProfile) -> np.ndarray:
    """Mix a dense time-first AU array; the array-level core of :func:`mix`.

    Parameters
    ----------
    values : (n_frames, n_channels) float
        AU intensities, 0-1 (values outside are clipped; NaN reads as 0).
    channels : tuple of Channel
        Column labels of ``values``. Channels the rig does not read are ignored.
    rig : RigProfile

    Returns
    -------
    weights : (n_frames, n_targets) float32
        Columns in ``rig.targets`` order, within each target's range.
    """
    plan = _plan(rig)
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(channels):
        raise RigError(f"AU values must have shape (n_frames, {len(channels)}), got {values.shape}")
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise RigError(f"AU values must be real numbers, got dtype {values.dtype}")
    n_frames = values.shape[0]
    layout = plan.layout(tuple(channels))
    weights = np.zeros((n_frames, plan.n_targets), dtype=np.float32)
    # Blocks of frames small enough for the CPU cache: every step of the pipeline then reads and
    # writes cached rows instead of main memory. Measured on an hour at 60 fps (bench_mixing.py):
    # one block 0.2 s, 4096-frame blocks 0.2 s, 2048-frame blocks 0.08 s.
    block = np.zeros((len(channels) + 1, min(_BLOCK_FRAMES, max(n_frames, 1))), dtype=np.float32)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(start + _BLOCK_FRAMES, n_frames)
        rows = block[:, : stop - start]
        inputs = rows[:-1]
        # fmax/fmin rather than clip: NaN reads as absent (0) instead of propagating.
        np.fmax(values[start:stop].T, 0.0, out=inputs, casting="unsafe")
        np.fmin(inputs, 1.0, out=inputs)
        weights[start:stop] = plan.evaluate(rows, layout).T
    return weights


def mix(curves: AUCurves, rig: RigProfile) -> TargetWeights:
    """Mix dense AU curves into the rig's target weights, frame by frame (vectorised).

    Parameters
    ----------
    curves : AUCurves
        ``values`` of shape (n_frames, n_channels), 0-1.
    rig : RigProfile

    Returns
    -------
    TargetWeights
        ``weights`` (n_frames, n_targets) float32 in ``rig.targets`` order, on the same
        ``times``. ``metadata`` holds the rig name, ``unshown_channels``: the channels whose AU
        the rig cannot show, those :func:`~facs_rig.core.timeline.sample` left out included,
        and those it shows only in combination when none of their combinations played (they
        were not silently lost: they are listed here); ``unshown_sides``: played one-sided
        channels whose AU the rig shows on both sides (``AU12_L`` on ``vrm``); and
        ``unshown_notes``: the notes the CLI prints for both
        (:meth:`~facs_rig.core.rig.RigProfile.unshown_notes`).

    Examples
    --------
    >>> import numpy as np
    >>> from facs_rig import Channel
    >>> from facs_rig.core.curves import AUCurves
    >>> from facs_rig.io.rig_files import load_rig
    >>> curves = AUCurves(np.array([0.0]), np.array([[1.0]], np.float32), (Channel(12, "R"),))
    >>> weights = mix(curves, load_rig("arkit"))
    >>> float(weights.weights[0, weights.names.index("mouthSmileRight")])
    1.0
    >>> float(weights.weights[0, weights.names.index("mouthSmileLeft")])
    0.0
    """
    weights = mix_array(curves.values, curves.channels, rig)
    # Channels sample() left out (the rig's own columns asked for) are named too.
    unsampled = tuple(parse_channel(name) for name in curves.metadata.get(UNSAMPLED_KEY, ())
                      if isinstance(name, str))
    unsampled = tuple(channel for channel in unsampled if channel is not None)
    lost = rig.lost_in_combination(curves.channels, curves.values)
    unshown = sort_channels({*rig.cannot_show(curves.channels + unsampled), *lost})
    sides = rig.sides_unshown
    sided = [k for k, c in enumerate(curves.channels) if c.side is not None and c.au in sides]
    metadata = {**dict(curves.metadata), "rig": rig.name,
                "unshown_channels": tuple(c.name for c in unshown),
                "unshown_sides": tuple(curves.channels[k].name for k in sided
                                       if np.fmax.reduce(curves.values[:, k], initial=0.0) > 0),
                "unshown_notes": rig.unshown_notes(curves.channels, curves.values,
                                                   unsampled=unsampled, lost=lost)}
    return TargetWeights(curves.times, weights, rig.targets, curves.fps, MappingProxyType(metadata))


def _clip01(value: float) -> float:
    """Clip to [0, 1]; NaN reads as 0 (absent), as in :func:`mix_array`."""
    value = float(value)
    return 0.0 if not value > 0.0 else (1.0 if value > 1.0 else value)


def _frame_rows(values: Mapping[Channel, float], plan: _Plan):
    """One frame as the side views of each AU the rig reads, with the layout that reads them.

    Row ``3 i`` holds the strongest of AU ``i``'s bilateral, left and right values, ``3 i + 1``
    the stronger of bilateral and left, ``3 i + 2`` of bilateral and right: the values unsided,
    left and right entries read. Built in Python because a frame has few channels.
    """
    views = [0.0] * (plan.n_slots + 1)
    au_index = plan.au_index
    for channel, value in values.items():
        i = au_index.get(channel.au)
        if i is None:
            continue
        value = _clip01(value)
        base = 3 * i
        sides = (0, 1, 2) if channel.side is None else (0, _SIDE_SLOT[channel.side])
        for offset in sides:
            if value > views[base + offset]:
                views[base + offset] = value
    return np.array(views, dtype=np.float32), plan.frame_layout


def mix_frame(values: Mapping[Channel, float], rig: RigProfile) -> np.ndarray:
    """Mix one frame of AU values (real-time use).

    Parameters
    ----------
    values : Mapping[Channel | str | int, float]
        AU channel -> intensity 0-1 (as from ``Vocabulary.channel_values``), keyed as
        ``FaceStream.push`` takes them: :class:`Channel`, channel name (``"AU12_L"``,
        ``"L12"``) or AU number (``12``). Channels the rig does not read are ignored; see
        :meth:`RigProfile.cannot_show`. NaN reads as 0.
    rig : RigProfile

    Returns
    -------
    (n_targets,) float32
        Weights in ``rig.targets`` order.

    Raises
    ------
    CodeParseError
        For a key that is no channel or a value that is no number
        (:func:`~facs_rig.core.channels.read_channel_values`).

    Examples
    --------
    >>> from facs_rig import load_vocabulary
    >>> from facs_rig.io.rig_files import load_rig
    >>> vocabulary, rig = load_vocabulary(), load_rig("arkit")
    >>> both = (vocabulary.channel_values(vocabulary.parse("26E"))  # as a solver may read them
    ...         | vocabulary.channel_values(vocabulary.parse("27C")))
    >>> w = mix_frame(both, rig)
    >>> round(float(w[rig.target_index("jawOpen")]), 2)  # the jaw chain takes the larger, no sum
    0.7
    """
    plan = _plan(rig)
    rows, layout = _frame_rows(read_channel_values(values), plan)
    return plan.evaluate(rows, layout)


# --------------------------------------------------------------------------------------------
# explain


@dataclass(frozen=True, slots=True)
class Contribution:
    """One mapping entry's part in a target's value.

    Attributes
    ----------
    au : int
    side : {None, 'L', 'R'}
        The entry's side (``None``: read from whichever side is strongest).
    input : float
        The AU value the entry read (after its curve, if any).
    weight : float
    value : float
        ``weight * input * prod(1 - min(1, b / without_full_at))``: what it contributes before
        combining.
    kept : bool
        False when a larger contribution of another member of its exclusive chain to the same
        target contains it: the movements do not add (both AUs are still scored).
    curve : bool
        Whether a response curve shaped ``input``.
    without : tuple of (Channel, float)
        The entry's ``without`` AUs and their values ``b``: each faded it by ``1 - min(1, b /
        without_full_at)``.
    without_full_at : float
        The entry's ``without_full_at``: a ``without`` AU at this value fades it out fully.
    """

    au: int
    side: str | None
    input: float
    weight: float
    value: float
    kept: bool = True
    curve: bool = False
    without: tuple[tuple[Channel, float], ...] = ()
    without_full_at: float = 1.0


@dataclass(frozen=True, slots=True)
class RuleEffect:
    """A rule that changed (or produced) a target's value, in evaluation order."""

    kind: str
    description: str
    before: float
    after: float


@dataclass(frozen=True, slots=True)
class TargetExplanation:
    """How one target's value was reached."""

    target: str
    value: float
    combine: str
    contributions: tuple[Contribution, ...]
    combined: float
    rules: tuple[RuleEffect, ...]


@dataclass(frozen=True)
class Explanation:
    """The mixing of one frame, target by target (non-zero targets only).

    Attributes
    ----------
    rig : str
    inputs : Mapping[Channel, float]
        The AU values mixed, clipped to [0, 1].
    targets : tuple of TargetExplanation
        In rig order, every target whose value is not zero (or that a rule touched).
    unshown : tuple of Channel
        Input channels whose AU this rig cannot show.
    weights : (n_targets,) float32
        The full frame, identical to :func:`mix_frame`.
    """

    rig: str
    inputs: Mapping[Channel, float]
    targets: tuple[TargetExplanation, ...]
    unshown: tuple[Channel, ...]
    weights: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``facs-rig explain --json``)."""
        return {
            "rig": self.rig,
            "inputs": {c.name: round(v, 6) for c, v in self.inputs.items()},
            "unshown": [c.name for c in self.unshown],
            "targets": [{
                "target": t.target, "value": round(t.value, 6), "combine": t.combine,
                "combined": round(t.combined, 6),
                "contributions": [{"au": Channel(c.au).name, "side": c.side, "input": round(c.input, 6),
                                   "weight": c.weight, "value": round(c.value, 6),
                                   "kept": c.kept, "curve": c.curve,
                                   **({"without": {g.name: round(b, 6) for g, b in c.without}}
                                      if c.without else {}),
                                   **({"without_full_at": c.without_full_at}
                                      if c.without_full_at != 1.0 else {})}
                                  for c in t.contributions],
                "rules": [{"rule": r.kind, "description": r.description,
                           "before": round(r.before, 6), "after": round(r.after, 6)}
                          for r in t.rules],
            } for t in self.targets],
        }


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def explain(values: Mapping[Channel, float], rig: RigProfile, *, threshold: float = 0.0) -> Explanation:
    """Explain one frame's mixing: per target, each AU's contribution, the combine, each rule.

    Parameters
    ----------
    values : Mapping[Channel, float]
        AU channel -> intensity 0-1.
    rig : RigProfile
    threshold : float
        Targets whose final value is at or below it (and that no rule changed) are left out.

    Returns
    -------
    Explanation
        Computed by the same code as :func:`mix_frame`, so its numbers are the mixer's.
    """
    plan = _plan(rig)
    rows, layout = _frame_rows(values, plan)
    trace: dict[str, Any] = {}
    weights = plan.evaluate(rows, layout, trace)
    x, c0 = trace["inputs"], trace["contributions"]
    combined = trace["combined"]
    dropped: dict[int, tuple[ExclusiveRule, int]] = {}
    winner_of: dict[tuple[int, int], int] = {}
    for rule, target, group in plan.chain_groups:
        best = max(group, key=lambda row: (c0[row], row))
        winner_of[(id(rule), target)] = best
        for row in group:
            if row != best:
                dropped[row] = (rule, best)
    explanations = []
    corrective_values = trace.get("correctives", {})
    suppress_factors = trace.get("suppress_factors")
    for t, name in enumerate(rig.targets):
        contributions = []
        for row, entry in enumerate(plan.entries):
            if entry.target != t or x[row] == 0:
                continue
            without = tuple((g, float(c0[plan.signal_row[g]]))
                            for g in (entry.mapping.without if entry.mapping else ()))
            contributions.append(Contribution(
                plan.aus[entry.au_index], entry.side, float(x[row]), entry.weight,
                float(c0[row]), row not in dropped, bool(entry.curve), without,
                entry.mapping.without_full_at if entry.mapping else 1.0))
        effects: list[RuleEffect] = []
        current = float(combined[t])
        for row, entry in enumerate(plan.entries):
            if entry.target == t and row in dropped and c0[row] > 0:
                rule, best = dropped[row]
                chain = " < ".join("/".join(str(a) for a in rank) for rank in rule.chain)
                # Not "AU26 is dropped": the AUs are both scored (25+26), only their movements
                # of this target do not add, so the larger contribution contains the smaller.
                effects.append(RuleEffect(
                    "exclusive", f"chain {chain} (their movements do not add): {name} takes the "
                    f"largest, AU{plan.aus[plan.entries[best].au_index]}'s {_fmt(c0[best])}, "
                    f"which contains AU{plan.aus[entry.au_index]}'s {_fmt(c0[row])}",
                    current, current))
        if rig.combine[t] == "sum" and current > 1:
            effects.append(RuleEffect("clip", "sum clipped to 1", current, 1.0))
            current = 1.0
        for i, rule in enumerate(plan.corrective_rules):
            if rule.target != name or i not in corrective_values:
                continue
            value = float(corrective_values[i])
            drivers = [f"{ch.name}={_fmt(float(c0[plan.signal_row[ch]]))}" for ch in rule.aus]
            drivers += [f"{d}={_fmt(float(trace['after_correctives'][rig.target_index(d)]))}"
                        for d in rule.targets]
            after = float(trace["after_correctives"][t])
            if value > 0 or after != current:
                effects.append(RuleEffect(
                    "corrective", f"{_fmt(rule.weight)} x " + " x ".join(drivers)
                    + f" = {_fmt(value)} (combined {rig.combine[t]})", current, after))
            current = after
        for i, rule in enumerate(plan.suppress_rules):
            if rule.target != name or suppress_factors is None:
                continue
            factor = float(suppress_factors[i])
            if factor < 1 and current > 0:
                by = rule.by_au.name if rule.by_au is not None else rule.by_target
                effects.append(RuleEffect("suppress", f"x (1 - {_fmt(rule.k)} x {by}) = x {_fmt(factor)}",
                                          current, current * factor))
                current *= factor
        current = float(trace["after_suppress"][t])
        for rule in plan.clamp_rules:
            if rule.target == name:
                limit = float(trace["after_suppress"][rig.target_index(rule.max_target)])
                if limit < current:
                    effects.append(RuleEffect("clamp", f"<= {rule.max_target} ({_fmt(limit)})",
                                              current, limit))
                    current = limit
        final = float(weights[t])
        # A contribution its ``without`` AUs faded out is shown even at 0: it says why the
        # target is not moved (mouthClose under 25+26: the lips part).
        if final > threshold or effects or any(co.value > 0 or co.without for co in contributions):
            explanations.append(TargetExplanation(name, final, rig.combine[t], tuple(contributions),
                                                  float(combined[t]), tuple(effects)))
    inputs = {channel: _clip01(value) for channel, value in
              sorted(values.items(), key=lambda item: item[0].sort_key)}
    return Explanation(rig.name, MappingProxyType(inputs), tuple(explanations),
                       rig.cannot_show(values), weights)
