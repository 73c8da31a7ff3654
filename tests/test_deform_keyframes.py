"""Keyframe reduction: what is dropped is reproduced within tolerance; exact cases are exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from facs_rig.core.keyframes import interpolate_keys, reduce_keyframes


def test_piecewise_linear_keeps_only_the_corners():
    times = np.arange(11, dtype=np.float64)
    values = np.array([0, 1, 2, 3, 4, 5, 5, 5, 5, 2.5, 0], dtype=np.float32)
    assert reduce_keyframes(times, values, tolerance=0.0).tolist() == [0, 5, 8, 10]


def test_constant_track_keeps_the_ends():
    times = np.arange(1000) / 60.0
    values = np.full((1000, 4), 0.25, np.float32)
    assert reduce_keyframes(times, values).tolist() == [0, 999]
    assert reduce_keyframes(times, values, step=True).tolist() == [0, 999]


def test_a_key_is_kept_when_any_target_needs_it():
    times = np.arange(5, dtype=np.float64)
    values = np.zeros((5, 2), np.float32)
    values[2, 1] = 1.0
    assert reduce_keyframes(times, values, tolerance=0.1).tolist() == [0, 1, 2, 3, 4]
    values[2, 1] = 0.05
    assert reduce_keyframes(times, values, tolerance=0.1).tolist() == [0, 4]


def test_step_reduction():
    times = np.arange(8, dtype=np.float64)
    values = np.array([0, 0, 0.001, 1, 1, 1, 0, 0], np.float32)
    kept = reduce_keyframes(times, values, tolerance=0.01, step=True)
    assert kept.tolist() == [0, 3, 6, 7]
    replay = interpolate_keys(times[kept], values[kept], times, step=True)[:, 0]
    assert np.max(np.abs(replay - values)) <= 0.01


def test_invalid_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        reduce_keyframes(np.array([0, 1, 1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        reduce_keyframes(np.arange(3.0), np.zeros(4))
    assert reduce_keyframes(np.arange(2.0), np.zeros(2)).tolist() == [0, 1]


def test_interpolate_clamps_outside_the_keys():
    keys = np.array([1.0, 2.0])
    values = np.array([[0.0], [1.0]], np.float32)
    result = interpolate_keys(keys, values, np.array([0.0, 1.5, 3.0]))[:, 0]
    assert result.tolist() == [0.0, 0.5, 1.0]


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 200), st.integers(1, 5), st.floats(0, 0.2), st.booleans(), st.data())
def test_property_reduction_reproduces_within_tolerance(n, n_targets, tolerance, step, data):
    steps = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0.001, 1.0)))
    times = np.cumsum(steps)
    shape = data.draw(st.sampled_from(["noise", "holds", "smooth"]))
    if shape == "noise":
        values = data.draw(hnp.arrays(np.float32, (n, n_targets), elements=st.floats(0, 1, width=32)))
    elif shape == "holds":
        levels = data.draw(hnp.arrays(np.float32, (n, n_targets),
                                      elements=st.sampled_from([0.0, 0.5, 1.0])))
        values = levels[np.minimum(np.arange(n) // 7 * 7, n - 1)]
    else:
        phase = data.draw(st.floats(0, 3))
        values = (0.5 + 0.5 * np.sin(times[:, None] * np.arange(1, n_targets + 1) + phase)
                  ).astype(np.float32)
    kept = reduce_keyframes(times, values, tolerance=tolerance, step=step)
    assert kept[0] == 0 and kept[-1] == n - 1 and np.all(np.diff(kept) > 0)
    replay = interpolate_keys(times[kept], values[kept], times, step=step)
    assert np.max(np.abs(replay - values)) <= tolerance + 1e-5
