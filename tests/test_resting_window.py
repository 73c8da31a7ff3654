"""The automatic neutral's choice of a resting stretch (``core.filters.resting_window``) on
synthetic takes: what a FACS coder would pick as the face at rest, not the quietest second."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.core.filters import (
    RESTING_SCALE_FLOOR,
    NeutralCalibration,
    quietest_window,
    resting_levels,
    resting_window,
)

FPS = 30
#: A small ARKit-like face: (name, biased resting level). eyeWide and eyeLookUp rest well
#: above 0 on a real Live Link Face take (S07-001: about 0.39 and 0.37).
CHANNELS = (("eyeWide_L", 0.40), ("eyeWide_R", 0.40), ("eyeLookUp_L", 0.35),
            ("eyeLookUp_R", 0.35), ("eyeBlink_L", 0.02), ("eyeBlink_R", 0.02),
            ("mouthSmile_L", 0.0), ("mouthSmile_R", 0.0), ("cheekSquint_L", 0.02),
            ("cheekSquint_R", 0.02), ("jawOpen", 0.03), ("mouthFrown_L", 0.10),
            ("mouthFrown_R", 0.10), ("browInnerUp", 0.14))
INDEX = {name: k for k, (name, _) in enumerate(CHANNELS)}


def _resting_take(seconds: float, seed: int = 0, jitter: float = 0.01
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A take of a face at rest: every channel at its level plus small tracker jitter."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * FPS))
    levels = np.array([level for _, level in CHANNELS])
    values = levels + rng.normal(0.0, jitter, (n, len(CHANNELS)))
    return np.arange(n) / FPS, np.clip(values, 0.0, 1.0)


def _set(values, times, start, end, **channels):
    inside = (times >= start) & (times < end)
    for name, value in channels.items():
        values[inside, INDEX[name]] = value


def _inside(window, start, end):
    return start - 1e-9 <= window[0] and window[1] <= end + 1e-9


def test_a_quieter_second_with_lowered_lids_is_not_rest():
    # S07-001's failure: the least summed activation was a second with the lids lowered and the
    # eyes down (eyeWide 0.14 against its 0.39 rest), so every normal frame read AU5.
    times, values = _resting_take(20.0)
    _set(values, times, 8.0, 10.0, eyeWide_L=0.05, eyeWide_R=0.05, eyeLookUp_L=0.1,
         eyeLookUp_R=0.1)
    _set(values, times, 14.0, 16.0, mouthSmile_L=0.6, mouthSmile_R=0.6, cheekSquint_L=0.3,
         cheekSquint_R=0.3, jawOpen=0.3, mouthFrown_L=0.0, mouthFrown_R=0.0)
    assert _inside(quietest_window(times, values), 8.0, 10.0)  # the old choice
    window = resting_window(times, values)
    assert not (window[1] > 8.0 and window[0] < 10.0) and not (window[1] > 14.0 and window[0] < 16.0)
    rest = NeutralCalibration.fit(times, values, window="resting").rest
    assert rest[INDEX["eyeWide_L"]] == pytest.approx(0.40, abs=0.02)


@pytest.mark.parametrize("smile_share", [0.4, 0.6, 0.7])
def test_a_long_smile_is_not_rest(smile_share):
    # A happy take smiling for most of its length: the rest is still the face without the smile
    # (the calmer half of the frames holds the resting face), and the smile frames are not
    # chosen even though they are the "typical" frames when the smile lasts over half the take.
    times, values = _resting_take(30.0, seed=1)
    smile_end = 2.0 + 30.0 * smile_share
    _set(values, times, 2.0, smile_end, mouthSmile_L=0.55, mouthSmile_R=0.55, cheekSquint_L=0.25,
         cheekSquint_R=0.25, mouthFrown_L=0.0, mouthFrown_R=0.0, eyeWide_L=0.3, eyeWide_R=0.3)
    window = resting_window(times, values)
    assert window[1] <= 2.0 or window[0] >= smile_end
    assert NeutralCalibration.fit(times, values, window=window).rest[INDEX["mouthSmile_L"]] < 0.05


def test_a_still_stretch_beats_one_trembling_around_the_rest():
    # A noisy stretch anchors the levels and is never rest; of the two calm stretches, the first
    # sits closer to the levels but a brow trembles there (frame to frame, +-0.02), the second
    # is still with two channels 0.025 off. The distance alone prefers the first (0.16 vs 0.5
    # squared scales); the stillness term turns it, as a coder would pick the still one.
    times, values = _resting_take(30.0, seed=2, jitter=0.03)
    levels = np.array([level for _, level in CHANNELS])
    first = (times >= 20.0) & (times < 24.0)
    second = (times >= 25.0) & (times < 30.0)
    values[first | second] = levels
    tremble = np.where(np.arange(times.size) % 2 == 0, 0.02, -0.02)
    values[first, INDEX["browInnerUp"]] += tremble[first]
    values[second, INDEX["jawOpen"]] += 0.025
    values[second, INDEX["mouthFrown_L"]] += 0.025
    window = resting_window(times, values)
    assert _inside(window, 25.0, 30.0)


def test_frames_with_nan_are_never_chosen():
    # The one stretch exactly at rest has a lost frame in its middle: a lost face is no
    # evidence of rest, so no window holding it is chosen.
    times, values = _resting_take(10.0, seed=3, jitter=0.02)
    exact = (times >= 6.0) & (times < 7.5)
    values[exact] = np.array([level for _, level in CHANNELS])
    values[int(6.5 * FPS), 3] = np.nan
    window = resting_window(times, values)
    assert not window[0] <= 6.5 <= window[1]


def test_resting_levels_are_robust_per_channel_scales():
    times, values = _resting_take(20.0, seed=4, jitter=0.03)
    values[:40, INDEX["jawOpen"]] = 0.9  # a short action is outvoted
    levels = resting_levels(values)
    expected = np.array([level for _, level in CHANNELS])
    np.testing.assert_allclose(levels.level, expected, atol=0.02)
    # 1.4826 x MAD estimates the jitter's standard deviation (0.03) where it is above the floor.
    assert np.all(levels.scale >= RESTING_SCALE_FLOOR)
    assert levels.scale.shape == (len(CHANNELS),)


def test_an_unknown_window_name_is_refused():
    times, values = _resting_take(6.0)
    with pytest.raises(ValueError, match="'resting', 'quietest' or"):
        NeutralCalibration.fit(times, values, window="calmest")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       actions=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.2, 2.0),
                                  st.lists(st.integers(0, len(CHANNELS) - 1), min_size=1,
                                           max_size=4, unique=True),
                                  st.sampled_from([-1.0, 1.0]), st.floats(0.2, 0.5)),
                        min_size=1, max_size=6))
def test_the_window_lies_where_the_face_is_at_rest(seed, actions):
    """Whatever actions (raising or lowering a few channels, like a smile or lowered lids) cover
    at most a fifth of a take with a resting second left, the chosen second holds no action."""
    times, values = _resting_take(40.0, seed=seed % 1000)
    active = np.zeros(times.size, dtype=bool)
    for start_share, length, channels, sign, size in actions:
        start = start_share * (40.0 - length)
        inside = (times >= start) & (times < start + length)
        if (active | inside).mean() > 0.2:
            continue
        moved = [c for c in channels if abs(np.clip(CHANNELS[c][1] + sign * size, 0, 1)
                                            - CHANNELS[c][1]) >= 0.15]
        if not moved:  # lowering a channel resting at 0 changes nothing: no action
            continue
        active |= inside
        for channel in moved:
            values[inside, channel] = np.clip(CHANNELS[channel][1] + sign * size, 0.0, 1.0)
    window = resting_window(times, values)
    assert not active[(times >= window[0]) & (times <= window[1])].any()


def test_the_choice_does_not_depend_on_the_row_blocks(monkeypatch):
    # The frame scores are computed in blocks of rows (bounded memory on an hour's take); the
    # stillness term reaches back across a block's start, so blocks of 7 rows must give the
    # same scores as one block.
    import facs_rig.core.filters as filters

    times, values = _resting_take(12.0, seed=5, jitter=0.03)
    values[200:260] = np.array([level for _, level in CHANNELS])  # the one still stretch
    captured = {}

    def spy(t, costs, seconds):
        captured.setdefault("costs", []).append(costs.copy())
        return original(t, costs, seconds)

    original = filters._best_window
    monkeypatch.setattr(filters, "_best_window", spy)
    whole = resting_window(times, values)
    monkeypatch.setattr(filters, "_BLOCK_ROWS", 7)
    blocked = resting_window(times, values)
    assert whole == blocked and _inside(whole, 200 / FPS, 260 / FPS)
    np.testing.assert_allclose(captured["costs"][0], captured["costs"][1], rtol=1e-6)
