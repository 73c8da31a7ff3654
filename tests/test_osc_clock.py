"""The frame clock on a simulated clock: no drift, precise spin, skip-not-bunch, statistics."""

from __future__ import annotations

import pytest
from osc_support import FakeClock

from facs_rig.errors import OscError
from facs_rig.io.osc.clock import FrameClock, LatenessHistogram


def test_deadlines_do_not_drift_when_every_sleep_oversleeps():
    fake = FakeClock(oversleep=0.0004)  # every sleep wakes 0.4 ms late
    clock = FrameClock(60, clock=fake, sleep=fake.sleep)
    clock.start()
    start = fake.now
    ticks = list(clock.ticks(36_000))  # ten minutes at 60 Hz
    assert [t.index for t in ticks] == list(range(36_000))
    # Frame k is released 0.4 ms after start + k/60, however many frames came before it.
    assert fake.now - start == pytest.approx(35_999 / 60 + 0.0004, abs=1e-5)
    assert max(t.lateness for t in ticks[1:]) == pytest.approx(0.0004, abs=1e-5)
    summary = clock.summary()
    assert summary.frames == 36_000 and summary.skipped == 0 and summary.late == 0
    assert summary.p99 == pytest.approx(0.0004, abs=2e-6)


def test_precise_mode_sleeps_short_then_spins_to_the_deadline():
    fake = FakeClock(oversleep=0.0008)
    clock = FrameClock(100, precise=True, spin=0.002, clock=fake, sleep=fake.sleep)
    ticks = list(clock.ticks(200))
    assert max(t.lateness for t in ticks) < 5e-6
    assert all(s == pytest.approx(0.008, abs=1e-4) for s in fake.sleeps)  # 10 ms - 2 ms spin
    assert clock.summary().p99 < 5e-6


def test_more_than_one_period_late_skips_instead_of_bunching():
    fake = FakeClock()
    clock = FrameClock(50, clock=fake, sleep=fake.sleep)  # 20 ms period
    ticks = []
    for tick in clock.ticks(20):
        ticks.append(tick)
        if tick.index == 5:
            fake.now += 0.075  # a 75 ms stall while "sending" frame 5
    indices = [t.index for t in ticks]
    assert indices[:6] == [0, 1, 2, 3, 4, 5]
    # The stall ends at 175 ms: frames 6 and 7 (due 120, 140) are skipped and frame 8, due at
    # 160 ms, goes out at once, 15 ms late; then the clock is back on its grid.
    assert indices[6] == 8 and ticks[6].skipped == 2
    assert ticks[6].lateness == pytest.approx(0.015, abs=1e-4)
    assert indices[7:] == list(range(9, 22))
    summary = clock.summary()
    assert summary.skipped == 2 and summary.late == 1 and summary.frames == 20
    assert all(t.lateness < clock.period for t in ticks)


def test_small_lateness_is_counted_late_without_skipping():
    fake = FakeClock()
    clock = FrameClock(60, clock=fake, sleep=fake.sleep)
    for tick in clock.ticks(10):
        if tick.index == 3:
            fake.now += 1 / 60 + 0.005  # frame 4 released 5 ms late: late, not skipped
    summary = clock.summary()
    assert summary.late == 1 and summary.skipped == 0
    assert summary.maximum == pytest.approx(0.005, abs=1e-5)


def test_duration_bounds_the_ticks():
    fake = FakeClock()
    clock = FrameClock(60, clock=fake, sleep=fake.sleep)
    ticks = list(clock.ticks(duration=0.5))
    assert len(ticks) == 30 and ticks[-1].time == pytest.approx(29 / 60)
    assert "30 frames" in clock.summary().line()


def test_histogram_percentiles():
    histogram = LatenessHistogram()
    for microseconds in range(1, 101):
        histogram.add(microseconds * 1e-6 - 1e-9)
    histogram.add(0.5)  # beyond the 100 ms bins
    assert histogram.percentile(50) == pytest.approx(51e-6)
    assert histogram.percentile(100) == pytest.approx(0.5)
    assert histogram.count == 101
    assert LatenessHistogram().percentile(99) == 0.0


@pytest.mark.parametrize("fps", [0, -1, float("nan"), 1e6])
def test_bad_rates_are_rejected(fps):
    with pytest.raises(OscError):
        FrameClock(fps)
