"""The solve's temporal prior (issue 13 point 2): off by default, exact when on, and what it does.

``SolvePriors(temporal_hz=f, temporal_weight=mu)`` solves a take twice: the second solve pulls
each AU toward a zero-phase low-pass of the first (``core.solve.BlendshapeSolver.solve``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from facs_rig.core.filters import smooth_zero_phase
from facs_rig.core.solve import BlendshapeSolver, SolvePriors
from facs_rig.io.captures.trackers import (
    TrackerProfileError,
    load_tracker,
    parse_tracker,
    tracker_document,
)
from facs_rig.io.rig_files import load_rig

FPS = 60.0


@pytest.fixture(scope="module")
def arkit():
    return load_rig("arkit")


def _take(solver, arkit, seconds=2.0, noise=0.04, seed=3):
    """A smile (AU12 both sides) rising and falling, with a tracker's white jitter on every shape."""
    times = np.arange(int(seconds * FPS)) / FPS
    level = 0.7 * np.sin(np.pi * times / seconds) ** 2
    truth = np.zeros((times.size, len(solver.channels)))
    for k, channel in enumerate(solver.channels):
        if channel.au == 12:
            truth[:, k] = level
    rng = np.random.default_rng(seed)
    observed = truth @ solver.basis.T
    observed += rng.normal(0.0, noise, observed.shape) * (observed > 0)
    return times, np.clip(observed, 0, 1).astype(np.float32), truth


def test_off_by_default_and_without_times_it_is_the_plain_solve(arkit):
    plain = BlendshapeSolver.from_rig(arkit)
    times, observed, _ = _take(plain, arkit)
    with_prior = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(temporal_hz=6.0))
    assert SolvePriors().temporal_hz == 0.0
    np.testing.assert_array_equal(plain.solve(observed, times=times).values,
                                  plain.solve(observed).values)
    np.testing.assert_array_equal(with_prior.solve(observed).values, plain.solve(observed).values)


def test_the_second_solve_is_the_exact_minimiser_of_the_stated_objective(arkit):
    # The stated objective is the linear one: the solve without the rig's soft combination
    # (combined=(); with it, each pass solves this objective on corrected weights).
    solver = dataclasses.replace(BlendshapeSolver.from_rig(
        arkit, priors=SolvePriors(temporal_hz=6.0, temporal_weight=0.5)), combined=())
    times, observed, _ = _take(solver, arkit, seconds=0.5)
    result = solver.solve(observed, times=times, tolerance=1e-10, max_sweeps=5000)
    first = dataclasses.replace(BlendshapeSolver.from_rig(arkit), combined=()).solve(
        observed, tolerance=1e-10, max_sweeps=5000)
    mean = smooth_zero_phase(times, first.values, cutoff_hz=6.0).astype(np.float64)
    # min 1/2||Ax - y||^2 + mu/2 sum_k Q_kk (x_k - m_k)^2 on [0, 1] is least squares on the
    # stacked system [A; sqrt(mu Q)] x = [y; sqrt(mu Q) m].
    scale = np.sqrt(0.5 * np.einsum("ij,ij->j", solver.basis, solver.basis))
    stacked = np.vstack([solver.basis, np.diag(scale)])
    for frame in (0, 7, 15, 29):
        expected = lsq_linear(stacked, np.concatenate([observed[frame], scale * mean[frame]]),
                              bounds=(0, 1), tol=1e-12).x
        np.testing.assert_allclose(result.values[frame], expected, atol=2e-4)


def test_it_keeps_jitter_out_of_the_aus_and_keeps_the_smile(arkit):
    plain = BlendshapeSolver.from_rig(arkit)
    prior = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(temporal_hz=6.0))
    times, observed, truth = _take(plain, arkit)
    smile = [k for k, c in enumerate(plain.channels) if c.au == 12]
    raw = plain.solve(observed).values[:, smile]
    smooth = prior.solve(observed, times=times).values[:, smile]
    jitter_raw = np.abs(np.diff(raw, axis=0)).mean()
    jitter_smooth = np.abs(np.diff(smooth, axis=0)).mean()
    assert jitter_smooth < 0.7 * jitter_raw
    error_raw = np.abs(raw - truth[:, smile]).mean()
    error_smooth = np.abs(smooth - truth[:, smile]).mean()
    assert error_smooth < error_raw
    assert abs(float(smooth.max()) - 0.7) < 0.06  # the apex keeps its level


def test_a_blink_keeps_its_closure(arkit):
    """The fastest FACS action (a blink, AU45) must survive a 6 Hz prior: closing in 75 ms,
    closed for 25 ms, opening in 150 ms (a 250 ms blink; Stern, Walrath & Goldstein 1984 measure
    100-400 ms, the lid falling faster than it rises)."""
    solver = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(temporal_hz=6.0))
    times = np.arange(60) / FPS
    observed = np.zeros((60, 52), dtype=np.float32)
    closed = np.interp(times, [0.4, 0.475, 0.5, 0.65], [0, 1, 1, 0], left=0, right=0)
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        observed[:, arkit.targets.index(name)] = closed
    values = solver.solve(observed, times=times).values
    blink = [k for k, c in enumerate(solver.channels) if c.au == 43]
    plain = BlendshapeSolver.from_rig(arkit).solve(observed).values
    assert values[:, blink].max() >= 0.9 * plain[:, blink].max()


def test_tracker_profiles_carry_and_validate_it(tmp_path):
    document = tracker_document(load_tracker("arkit"))
    document["solve"].update(temporal_hz=6.0, temporal_weight=0.5)
    profile = parse_tracker(document, "studio.json")
    assert (profile.solve_priors.temporal_hz, profile.solve_priors.temporal_weight) == (6.0, 0.5)
    assert tracker_document(profile)["solve"]["temporal_hz"] == 6.0
    for key, value, message in (("temporal_hz", -1, r"\$\.solve\.temporal_hz: -1\.0 is outside"),
                                ("temporal_weight", "x", r"\$\.solve\.temporal_weight: expected a number")):
        bad = json.loads(json.dumps(document))
        bad["solve"][key] = value
        with pytest.raises(TrackerProfileError, match="studio.json: " + message):
            parse_tracker(bad, "studio.json")
