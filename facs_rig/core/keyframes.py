"""Keyframe reduction: drop the keys that interpolation between the kept keys reproduces.

A weights animation sampled at 60 fps is mostly holds and smooth ramps; a glTF viewer interpolates
between keys anyway (spec §3.11: LINEAR ``v = (1-s)·v_k + s·v_k+1``, STEP ``v = v_k``), so a key is
redundant when the interpolation of its neighbours reproduces it. Every target of a weights
sampler shares the key times (the output is keys × targets, spec §3.11), so a key is kept
when ANY target needs it.

The guarantee: at every original key time, interpolating the kept keys differs from the original
value by at most ``tolerance`` for every target. The search is greedy (the longest valid segment
from each kept key), with galloping and bisection so long holds cost O(n log n), not O(n²).
"""

from __future__ import annotations

import numpy as np

__all__ = ["reduce_keyframes", "interpolate_keys"]


def reduce_keyframes(times: np.ndarray, values: np.ndarray, *, tolerance: float = 1e-3,
                     step: bool = False) -> np.ndarray:
    """Indices of the keys to keep so that interpolation reproduces the rest within ``tolerance``.

    Parameters
    ----------
    times : (n_keys,) float
        Strictly increasing key times.
    values : (n_keys,) or (n_keys, n_targets) float
        Key values (one column per target).
    tolerance : float
        Largest allowed absolute difference, in value units, at any original key.
    step : bool
        Reproduce with STEP interpolation (hold the previous key) instead of LINEAR.

    Returns
    -------
    (n_kept,) int64
        Increasing indices into ``times``; the first and last keys are always kept.

    Examples
    --------
    >>> reduce_keyframes(np.arange(5.0), np.array([0, 1, 2, 3, 3.0]), tolerance=1e-6).tolist()
    [0, 3, 4]
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = values[:, None]
    n = times.shape[0]
    if values.shape[0] != n:
        raise ValueError(f"values have {values.shape[0]} rows for {n} times")
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    if n <= 2:
        return np.arange(n, dtype=np.int64)
    if n > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing")
    if values.shape[1] == 0:
        return np.array([0, n - 1], dtype=np.int64)
    if step:
        return _reduce_step(values, tolerance)
    return _reduce_linear(times, values, tolerance)


def _reduce_step(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Keep a key only where the held value of the last kept key is off by more than tolerance."""
    n = values.shape[0]
    kept = [0]
    anchor = 0
    while True:
        found = None
        start, width = anchor + 1, 64
        while start < n:  # scan forward in growing windows: long holds cost few numpy calls
            stop = min(n, start + width)
            far = np.flatnonzero(np.max(np.abs(values[start:stop] - values[anchor]), axis=1)
                                 > tolerance)
            if far.size:
                found = start + int(far[0])
                break
            start, width = stop, width * 2
        if found is None:
            break
        anchor = found
        kept.append(anchor)
    if kept[-1] != n - 1:
        kept.append(n - 1)
    return np.asarray(kept, dtype=np.int64)


def _segment_ok(times: np.ndarray, values: np.ndarray, start: int, end: int,
                tolerance: float) -> bool:
    """Whether LINEAR interpolation from key ``start`` to key ``end`` reproduces the keys between."""
    if end - start < 2:
        return True
    fraction = ((times[start + 1:end] - times[start]) / (times[end] - times[start])).astype(np.float32)
    span = values[end] - values[start]
    predicted = values[start] + fraction[:, None] * span
    return bool(np.max(np.abs(predicted - values[start + 1:end])) <= tolerance)


def _reduce_linear(times: np.ndarray, values: np.ndarray, tolerance: float) -> np.ndarray:
    n = values.shape[0]
    # Keys that even their two neighbours cannot reproduce are kept outright: they split the
    # problem into independent runs, and a run of such keys needs no search at all.
    fraction = ((times[1:-1] - times[:-2]) / (times[2:] - times[:-2])).astype(np.float32)
    predicted = values[:-2] + fraction[:, None] * (values[2:] - values[:-2])
    forced = np.flatnonzero(np.max(np.abs(predicted - values[1:-1]), axis=1) > tolerance) + 1
    boundaries = np.concatenate(([0], forced, [n - 1]))
    kept = [boundaries]
    # Runs whose ends are adjacent or two apart are already decided (the middle key is not forced,
    # so its neighbours reproduce it).
    long_runs = np.flatnonzero(np.diff(boundaries) > 2)
    for run in long_runs:
        start, stop = int(boundaries[run]), int(boundaries[run + 1])
        extra = []
        anchor = start
        while anchor < stop:
            if _segment_ok(times, values, anchor, stop, tolerance):
                break
            good, step = anchor + 1, 2
            bad = stop
            probe = anchor + step
            while probe < stop:  # gallop: double the segment while it stays valid
                if _segment_ok(times, values, anchor, probe, tolerance):
                    good = probe
                    step *= 2
                    probe = anchor + step
                else:
                    bad = probe
                    break
            while bad - good > 1:  # bisect between a valid and an invalid end
                middle = (good + bad) // 2
                if _segment_ok(times, values, anchor, middle, tolerance):
                    good = middle
                else:
                    bad = middle
            anchor = good
            extra.append(anchor)
        if extra:
            kept.append(np.asarray(extra, dtype=np.int64))
    return np.unique(np.concatenate(kept)).astype(np.int64)


def interpolate_keys(key_times: np.ndarray, key_values: np.ndarray, times: np.ndarray, *,
                     step: bool = False) -> np.ndarray:
    """Evaluate a keyed track at ``times`` the way a glTF viewer does (clamped at the ends).

    Parameters
    ----------
    key_times : (n_keys,) float
    key_values : (n_keys, n_targets) float
    times : (n,) float

    Returns
    -------
    (n, n_targets) float32
    """
    key_times = np.asarray(key_times, dtype=np.float64)
    key_values = np.asarray(key_values, dtype=np.float32)
    if key_values.ndim == 1:
        key_values = key_values[:, None]
    times = np.asarray(times, dtype=np.float64)
    right = np.clip(np.searchsorted(key_times, times, side="right"), 1, len(key_times) - 1)
    left = right - 1
    if step or len(key_times) == 1:
        index = np.where(times >= key_times[-1], len(key_times) - 1,
                         np.searchsorted(key_times, times, side="right") - 1)
        return key_values[np.clip(index, 0, len(key_times) - 1)]
    span = key_times[right] - key_times[left]
    fraction = np.clip((times - key_times[left]) / span, 0.0, 1.0).astype(np.float32)
    return key_values[left] + fraction[:, None] * (key_values[right] - key_values[left])
