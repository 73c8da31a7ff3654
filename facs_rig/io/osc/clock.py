"""The drift-free frame clock of live streams (issue 6 point 2).

Frame ``k``'s deadline is ``start + k / fps``, always counted from one monotonic start, never
from the previous frame: a sleep that overshoots by 0.3 ms makes that one frame late, and the next
deadline is where it always was, so an hour at 60 Hz ends on frame 216,000 to within one frame.

Waiting: plain mode sleeps until the deadline (the OS typically wakes 0.1-1 ms late). Precise
mode sleeps until ``spin`` seconds before the deadline, then polls the clock, which releases the
frame within microseconds of its deadline at the price of one busy core for the last stretch.

When the caller is more than one period behind (a stall, a slow receiver, a suspended laptop),
the clock skips ahead to the current frame instead of releasing the missed frames back to back:
a receiver gets a late frame and then the right one, never a burst. ``clock`` and ``sleep`` are
injectable so tests run instantly on a simulated clock.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from facs_rig.errors import OscError

__all__ = ["ClockSummary", "FrameClock", "LatenessHistogram", "Tick"]

#: Default busy-wait stretch before each deadline in precise mode: covers the 0.1-1 ms wake-up
#: lateness of a sleeping thread on a desktop OS (issue 6 point 7 measured 0.13-0.86 ms p99).
DEFAULT_SPIN = 0.002


@dataclass(frozen=True, slots=True)
class Tick:
    """One released frame.

    Attributes
    ----------
    index : int
        Frame number since the start; its deadline is ``start + index / fps``.
    time : float
        Seconds since the start at the deadline, ``index / fps``.
    lateness : float
        Seconds between the deadline and the release (>= 0).
    skipped : int
        Frames skipped just before this one because the caller fell more than a period behind.
    """

    index: int
    time: float
    lateness: float
    skipped: int = 0


class LatenessHistogram:
    """Bounded record of lateness: 1 µs bins up to 100 ms, exact values beyond.

    Memory stays constant over hours of streaming, and percentiles are exact to 1 µs.
    """

    BIN_SECONDS = 1e-6
    N_BINS = 100_000

    def __init__(self) -> None:
        self._bins = array("L", bytes(array("L").itemsize * self.N_BINS))
        self._overflow: list[float] = []
        self.count = 0
        self.maximum = 0.0

    def add(self, seconds: float) -> None:
        """Record one lateness in seconds (negative values count as 0)."""
        seconds = max(0.0, seconds)
        index = int(seconds / self.BIN_SECONDS)
        if index < self.N_BINS:
            self._bins[index] += 1
        else:
            self._overflow.append(seconds)
        self.count += 1
        self.maximum = max(self.maximum, seconds)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) in seconds, to the upper edge of its 1 µs bin
        (nearest-rank definition); 0 when empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for index, n in enumerate(self._bins):
            if n:
                seen += n
                if seen >= rank:
                    return min((index + 1) * self.BIN_SECONDS, self.maximum)
        overflow = sorted(self._overflow)
        return overflow[min(rank - seen, len(overflow)) - 1]


@dataclass(frozen=True, slots=True)
class ClockSummary:
    """What the clock did, for the end-of-stream summary line.

    Attributes
    ----------
    frames : int
        Frames released.
    late : int
        Released frames whose lateness exceeded ``late_threshold``.
    skipped : int
        Frames never released because the caller fell more than one period behind.
    p50, p99, maximum : float
        Lateness percentiles and maximum, seconds.
    elapsed : float
        Seconds from the start to the last release.
    fps : float
        Nominal rate.
    late_threshold : float
        Seconds of lateness from which a frame counts as late.
    """

    frames: int
    late: int
    skipped: int
    p50: float
    p99: float
    maximum: float
    elapsed: float
    fps: float
    late_threshold: float

    def line(self) -> str:
        """One human-readable line."""
        return (f"{self.frames} frames in {self.elapsed:.2f} s at {self.fps:g} fps; "
                f"{self.late} late (>{self.late_threshold * 1e3:.2g} ms), {self.skipped} skipped; "
                f"lateness p50 {self.p50 * 1e3:.3f} ms, p99 {self.p99 * 1e3:.3f} ms, "
                f"max {self.maximum * 1e3:.3f} ms")


class FrameClock:
    """Releases frames at fixed deadlines from one monotonic start.

    Parameters
    ----------
    fps : float
        Frames per second (> 0, at most 10,000).
    precise : bool
        Sleep to ``spin`` seconds before each deadline, then busy-wait.
    spin : float
        Busy-wait stretch in precise mode, seconds.
    late_threshold : float, optional
        Lateness from which a frame counts as late; default 1 ms, or a tenth of the period if
        that is shorter.
    clock : callable
        Monotonic seconds (default :func:`time.monotonic`).
    sleep : callable
        Sleeps for a number of seconds (default :func:`time.sleep`); the bridge passes one that
        receives packets meanwhile.

    Examples
    --------
    >>> clock = FrameClock(60)
    >>> for tick in clock.ticks(3):
    ...     pass  # send frame tick.index here
    >>> clock.summary().frames
    3
    """

    def __init__(self, fps: float, *, precise: bool = False, spin: float = DEFAULT_SPIN,
                 late_threshold: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep):
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 0 < fps <= 10_000):
            raise OscError(f"frame rate must be a number above 0 and at most 10000, not {fps!r}")
        if not (math.isfinite(spin) and spin >= 0):
            raise OscError(f"spin time must be a finite number >= 0, not {spin!r}")
        self.fps = float(fps)
        self.period = 1.0 / self.fps
        self.precise = precise
        self.spin = spin
        self.late_threshold = (min(1e-3, self.period / 10) if late_threshold is None
                               else float(late_threshold))
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._next_index = 0
        self._last_release = 0.0
        self.frames = 0
        self.late = 0
        self.skipped = 0
        self.histogram = LatenessHistogram()

    @property
    def started(self) -> bool:
        """Whether :meth:`start` (or the first :meth:`wait`) has fixed the start time."""
        return self._start is not None

    def start(self, at: float | None = None) -> None:
        """Fix the start time (default: now); frame 0 is due at once."""
        self._start = self._clock() if at is None else at
        self._next_index = 0

    def elapsed(self) -> float:
        """Seconds since the start (0 before it)."""
        return 0.0 if self._start is None else self._clock() - self._start

    def _wait_until(self, deadline: float) -> float:
        while True:
            now = self._clock()
            remaining = deadline - now
            if remaining <= 0:
                return now
            if not self.precise:
                self._sleep(remaining)
            elif remaining > self.spin:
                self._sleep(remaining - self.spin)
            else:
                while self._clock() < deadline:  # the busy-wait of precise mode
                    pass

    def wait(self) -> Tick:
        """Wait for the next frame's deadline and release it."""
        if self._start is None:
            self.start()
        assert self._start is not None
        index = self._next_index
        now = self._wait_until(self._start + index * self.period)
        lateness = now - (self._start + index * self.period)
        skipped = 0
        if lateness > self.period:
            # More than one period behind: jump to the frame due now instead of bunching.
            current = max(index, int((now - self._start) / self.period))
            skipped = current - index
            index = current
            lateness = now - (self._start + index * self.period)
        self._next_index = index + 1
        self.frames += 1
        self.skipped += skipped
        if lateness > self.late_threshold or skipped:
            self.late += 1
        self.histogram.add(lateness)
        self._last_release = now
        return Tick(index, index * self.period, lateness, skipped)

    def ticks(self, count: int | None = None, *, duration: float | None = None) -> Iterator[Tick]:
        """Release frames until ``count`` were released or a frame's time reaches ``duration``.

        Both ``None`` means forever (until the caller stops iterating).
        """
        released = 0
        # Frame times are index * period: allow for rounding so that duration = n / fps
        # gives exactly n frames.
        limit = None if duration is None else duration - self.period * 1e-6
        while count is None or released < count:
            if limit is not None and self._start is not None and \
                    self._next_index * self.period >= limit:
                return
            tick = self.wait()
            if limit is not None and tick.time >= limit:
                return
            released += 1
            yield tick

    def summary(self) -> ClockSummary:
        """Frames, late frames, skips and lateness percentiles so far."""
        elapsed = 0.0 if self._start is None else max(0.0, self._last_release - self._start)
        return ClockSummary(self.frames, self.late, self.skipped,
                            self.histogram.percentile(50), self.histogram.percentile(99),
                            self.histogram.maximum, elapsed, self.fps, self.late_threshold)
