"""Cleaning filters: gaps, One Euro, zero-phase smoothing, neutral calibration, resampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.filters import (
    NeutralCalibration,
    OneEuroFilter,
    clean_curves,
    fill_gaps,
    one_euro,
    resample,
    smooth_zero_phase,
)

T = np.arange(6) / 10.0


def test_fill_gaps_interpolates_and_holds():
    values = np.array([[np.nan], [0.2], [np.nan], [np.nan], [0.8], [np.nan]])
    filled, count = fill_gaps(T, values)
    assert count == 4
    assert filled[:, 0].tolist() == pytest.approx([0.2, 0.2, 0.4, 0.6, 0.8, 0.8])
    held, _ = fill_gaps(T, values, method="hold")
    assert held[:, 0].tolist() == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.8, 0.8])
    empty, _ = fill_gaps(T, np.full((6, 1), np.nan))
    assert empty.tolist() == [[0.0]] * 6


def test_long_gaps_return_to_rest():
    values = np.array([[0.5], [np.nan], [np.nan], [np.nan], [0.5], [0.5]])
    filled, _ = fill_gaps(T, values, max_gap=0.3)
    assert filled[:, 0].tolist() == pytest.approx([0.5, 0, 0, 0, 0.5, 0.5])


def test_one_euro_passes_constants_and_follows_steps_without_overshoot():
    times = np.arange(120) / 60
    constant = one_euro(times, np.full((120, 2), 0.3))
    assert np.allclose(constant, 0.3)
    step = np.zeros((120, 1))
    step[30:] = 1.0
    out = one_euro(times, step, min_cutoff=1.0, beta=0.5)[:, 0]
    assert np.all(np.diff(out) >= -1e-7) and out.max() <= 1.0 + 1e-6
    assert out[29] == 0.0 and out[-1] > 0.95
    live = OneEuroFilter()
    live(0.0, np.array([0.0]))
    assert live(1 / 60, np.array([np.nan]))[0] == 0.0  # a gap holds the last output


def test_zero_phase_has_no_delay_and_keeps_ramps():
    times = np.arange(200) / 60
    ramp = times[:, None] * 0.2
    smoothed = smooth_zero_phase(times, ramp, cutoff_hz=4)
    np.testing.assert_allclose(smoothed[20:-20], ramp[20:-20], atol=1e-6)
    pulse = np.zeros((200, 1))
    pulse[100] = 1.0
    out = smooth_zero_phase(times, pulse, cutoff_hz=4)[:, 0]
    assert int(np.argmax(out)) == 100  # symmetric: the peak does not move
    np.testing.assert_allclose(out[90:100], out[101:111][::-1], atol=1e-7)


def test_neutral_calibration_subtracts_rest_and_rescales():
    times = np.arange(100) / 10
    values = np.full((100, 1), 0.1)
    values[50:60] = 0.3
    calibration = NeutralCalibration.fit(times, values, window=(0, 2), gain_percentile=100)
    assert calibration.rest.tolist() == pytest.approx([0.1])
    assert calibration.gain.tolist() == pytest.approx([1 / 0.2])
    out = calibration.apply(values)[:, 0]
    assert out[0] == 0.0 and out[55] == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(slope=st.floats(-1, 1), intercept=st.floats(-1, 1), fps=st.sampled_from([24.0, 30.0, 60.0]))
def test_resample_is_exact_on_linear_signals(slope, intercept, fps):
    times = np.sort(np.random.default_rng(1).uniform(0, 2, 40))
    times[0], times[-1] = 0.0, 2.0
    values = (slope * times + intercept)[:, None]
    grid, out = resample(times, values, fps)
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(out[:, 0], slope * grid + intercept, atol=1e-6)


def test_clean_curves_gives_regular_finite_curves():
    times = np.array([0.0, 0.04, 0.09, 0.12, 0.16])
    values = np.array([[0.1], [np.nan], [0.3], [0.2], [0.9]], dtype=np.float32)
    curves = AUCurves(times, values, (Channel(12),), None)
    cleaned = clean_curves(curves, fps=50)
    assert cleaned.fps == 50 and cleaned.n_frames == 9
    assert np.all(np.isfinite(cleaned.values)) and cleaned.metadata["filled_cells"] == 1


def test_quietest_window_finds_the_resting_second():
    times = np.arange(600) / 60
    values = np.full((600, 2), 0.4)
    values[300:360] = 0.05          # the performer relaxes for one second at 5 s
    values[100] = np.nan            # a lost frame never counts as rest
    rest = NeutralCalibration.fit(times, values, window="quietest").rest
    assert rest.tolist() == pytest.approx([0.05, 0.05])
    from facs_rig.core.filters import quietest_window

    first, last = quietest_window(times, values)
    assert first == pytest.approx(5.0) and last == pytest.approx(5.0 + 59 / 60)


def test_resample_refuses_frames_out_of_proportion_to_the_rows():
    from facs_rig.core.limits import FRAMES_ALWAYS_ALLOWED, MAX_FRAMES_PER_ROW
    from facs_rig.errors import TimelineError

    values = np.zeros((4, 2), dtype=np.float32)
    # 4 rows over a day at 1 fps: 86,401 frames, under the 100,000 any take may have.
    grid, out = resample(np.array([0.0, 1.0, 2.0, 86400.0]), values, 1.0)
    assert grid.shape == (86401,) and out.shape == (86401, 2)
    with pytest.raises(TimelineError, match=r"^resampling 86400 s at 30 fps is 2.59e\+06 frames "
                                            r"from 4 row\(s\), more than 1000 per row"):
        resample(np.array([0.0, 1.0, 2.0, 86400.0]), values, 30.0)
    # Past the floor, 1000 frames per row: 200 rows may make 200,000 frames, not 200,001 + 1.
    rows = 200
    times = np.linspace(0.0, 1.0, rows)
    assert resample(times, np.zeros((rows, 1)), MAX_FRAMES_PER_ROW * rows - 1)[0].shape == (
        MAX_FRAMES_PER_ROW * rows,)
    with pytest.raises(TimelineError, match="more than 1000 per row"):
        resample(times, np.zeros((rows, 1)), MAX_FRAMES_PER_ROW * rows + 1)
    assert FRAMES_ALWAYS_ALLOWED == 100_000


def test_gain_without_a_neutral_rescales_from_rest_zero():
    """`--gain P` was fitted only with a neutral: without one (`--neutral none`, or an automatic
    neutral that found no rest) it changed nothing, silently (a reviewer's retarget outputs were
    byte-identical with and without it)."""
    from facs_rig.io.captures.pipeline import _calibration_and_window

    rng = np.random.default_rng(7)
    times = np.arange(600) / 60.0
    values = np.stack([rng.uniform(0.0, 0.5, 600),      # reaches 0.475 at P95: stretched to 1
                       rng.uniform(0.0, 0.1, 600),      # idle: stretched at most 5 times
                       np.full(600, np.nan)], axis=1)   # never tracked: stays NaN
    calibration, window, note = _calibration_and_window(times, values, "none", 95.0)
    assert window is None and note is None
    assert calibration.rest.tolist() == [0.0, 0.0, 0.0]
    calibrated = calibration.apply(values)
    # (clipped at 1 above it, so the interpolated percentile reads a hair under 1)
    assert np.nanpercentile(calibrated[:, 0], 95) == pytest.approx(1.0, abs=1e-3)
    assert calibrated[:, 0].max() == 1.0
    assert np.allclose(calibrated[:, 1], values[:, 1] * 5.0, atol=1e-6)
    assert np.isnan(calibrated[:, 2]).all()
    # Without --gain, nothing is applied when no neutral is.
    assert _calibration_and_window(times, values, "none", None) == (None, None, None)


def test_gain_reaches_openfaces_facial_aus_under_the_automatic_neutral():
    """OpenFace's AUs are relative to the person's neutral already, so `--neutral auto` (code's
    default) subtracts nothing from them; `--gain` then rescaled only the head and eye
    positions, and `code --gain 95` printed the facial AUs unchanged."""
    from conftest import shared_asset

    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import capture_to_aus

    capture = read_capture(shared_asset("captures/openface/facsvatar_demo_full.csv"))
    plain = capture_to_aus(capture, neutral="auto").curves
    gained = capture_to_aus(capture, neutral="auto", gain_percentile=95.0).curves
    facial = [k for k, c in enumerate(plain.channels) if c.au < 50]
    moving = [k for k in facial if np.nanpercentile(plain.values[:, k], 95) >= 0.2]
    assert len(moving) >= 5
    for k in moving:  # each moving facial AU's 95th percentile now reads 1 (clipped above)
        assert np.nanpercentile(gained.values[:, k], 95) == pytest.approx(1.0, abs=0.01)
        assert np.allclose(gained.values[:, k], np.minimum(
            plain.values[:, k] / np.nanpercentile(plain.values[:, k], 95), 1.0), atol=1e-5)
