"""Cleaning captured curves: gap filling, smoothing, neutral calibration and resampling.

Every function works on time-first arrays ``values (n_frames, n_channels)`` with their
``times (n_frames,)`` in seconds, so it applies equally to AU curves and to blendshape weights;
:func:`clean_curves` runs the usual chain on an :class:`~facs_rig.core.curves.AUCurves`.

* Gaps (NaN, where a tracker lost the face) are filled by linear interpolation between the
  neighbouring good frames, or by holding the last good value (:func:`fill_gaps`).
* Live use: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012), adaptive low-pass whose
  cutoff rises with speed, so it smooths jitter at rest without lagging fast moves
  (:class:`OneEuroFilter`, :func:`one_euro`).
* Offline use: a zero-phase Gaussian low-pass (:func:`smooth_zero_phase`): symmetric kernel,
  so no delay, and no ringing (a Gaussian's impulse response is positive everywhere, unlike a
  forward-backward Butterworth's, which overshoots on AU onsets).
* Neutral calibration: trackers are biased (MediaPipe's cheekPuff, eyeWide and noseSneer stay
  near zero, issue 8; OpenFace's head and gaze angles are relative to the camera, not to the
  performer's rest), so each channel's resting level is subtracted and its gain rescaled
  (:class:`NeutralCalibration`). When no neutral stretch was marked, :func:`resting_window`
  finds the second closest to every channel's resting level (:func:`resting_levels`), and
  :func:`off_rest` says whether that second is at rest at all (a take that never rests has a
  calmest second that is still an expression).
* Resampling to an output frame rate by linear interpolation (:func:`resample`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from facs_rig.core.curves import AUCurves
from facs_rig.core.limits import resampled_count_problem
from facs_rig.errors import TimelineError

__all__ = [
    "fill_gaps",
    "LostStretch",
    "lost_stretches",
    "BRIDGED_GAP",
    "OneEuroFilter",
    "one_euro",
    "smooth_zero_phase",
    "NeutralCalibration",
    "quietest_window",
    "RestingLevels",
    "resting_levels",
    "resting_window",
    "OffRest",
    "off_rest",
    "REST_CEILING",
    "REST_TOLERANCE",
    "stillest_at_rest",
    "resample",
    "clean_curves",
    "GAP_METHODS",
    "SMOOTHING",
]

GAP_METHODS = ("interpolate", "hold")
#: Rows processed at once by the whole-take filters, so their float64 temporaries stay small.
_BLOCK_ROWS = 32_768
SMOOTHING = ("none", "one-euro", "zero-phase")


def _as_2d(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"values must be (n_frames, n_channels), got shape {array.shape}")
    return array


def fill_gaps(times: np.ndarray, values: np.ndarray, *, method: str = "interpolate",
              max_gap: float | None = None) -> tuple[np.ndarray, int]:
    """Fill NaN cells of every channel.

    Parameters
    ----------
    times : (n_frames,) float
        Increasing seconds.
    values : (n_frames, n_channels) float
        Curves with NaN where tracking was lost.
    method : {'interpolate', 'hold'}
        Linear interpolation between the good frames on either side, or the last good value.
        Before the first good frame both use the first good value; a channel with no good
        frame at all becomes 0 (at rest).
    max_gap : float, optional
        Gaps longer than this many seconds are set to 0 (face gone: back to rest) instead.

    Returns
    -------
    filled : (n_frames, n_channels) float32
    count : int
        Number of cells filled.
    """
    if method not in GAP_METHODS:
        raise ValueError(f"gap method {method!r} is not one of {', '.join(GAP_METHODS)}")
    source = np.asarray(values)
    if source.ndim != 2:
        raise ValueError(f"values must be (n_frames, n_channels), got shape {source.shape}")
    missing = np.isnan(source)
    count = int(missing.sum())
    if not count:  # the common case: no copy beyond the float32 the caller gets anyway
        return source.astype(np.float32, copy=source.dtype != np.float32), 0
    data = source.astype(np.float64)
    t = np.asarray(times, dtype=np.float64)
    n = data.shape[0]
    index = np.arange(n)
    for column in np.flatnonzero(missing.any(axis=0)):
        bad = missing[:, column]
        good = ~bad
        if not good.any():
            data[:, column] = 0.0
            continue
        if method == "interpolate":
            data[bad, column] = np.interp(t[bad], t[good], data[good, column])
        else:
            last_good = np.maximum.accumulate(np.where(good, index, -1))
            first = int(np.argmax(good))
            last_good[last_good < 0] = first
            data[:, column] = data[last_good, column]
        if max_gap is not None:
            _zero_long_gaps(t, bad, data[:, column], max_gap)
    return data.astype(np.float32), count


#: Longest stretch of lost tracking (seconds, from the last tracked frame before it to the first
#: after it) that events are read across: a momentary action, a blink, lasts at most this long
#: (``core.events.EventOptions.blink_max``, 0.5 s: the closure that reopens at once), so a
#: lost stretch no longer than one can hide no action but one, and filling it is a guess a
#: coder would make too. Longer, the face is unscorable there (FACS Manual, Ekman, Friesen &
#: Hager 2002: an action that cannot be seen is not scored) and no event is read inside.
BRIDGED_GAP = 0.5


@dataclass(frozen=True)
class LostStretch:
    """A run of frames where the tracker lost the face, too long to bridge.

    Attributes
    ----------
    start, end : float
        Seconds of its first and last lost frame.
    before, after : float
        Seconds of the last tracked frame before it and the first after it (-inf / inf when
        the take starts or ends lost): no frame strictly between them was seen.
    """

    start: float
    end: float
    before: float
    after: float


def lost_stretches(times: np.ndarray, lost: np.ndarray, max_gap: float = BRIDGED_GAP
                   ) -> tuple[LostStretch, ...]:
    """The runs of lost frames spanning more than ``max_gap`` seconds, measured as
    :func:`fill_gaps` measures its ``max_gap``: from the tracked frame before the run to the one
    after it (or the run's own first / last frame at the take's start / end).

    Parameters
    ----------
    times : (n_frames,) float
        Increasing seconds.
    lost : (n_frames,) bool
        Frames where the tracker lost the face (``Capture.gaps``).
    max_gap : float
        Longest stretch bridged (default :data:`BRIDGED_GAP`).
    """
    t = np.asarray(times, dtype=np.float64)
    bad = np.asarray(lost, dtype=bool)
    if bad.shape != t.shape or not bad.any():
        return ()
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    found = []
    for first, end in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
        before = float(t[first - 1]) if first > 0 else float(t[first])
        after = float(t[end]) if end < t.shape[0] else float(t[end - 1])
        if after - before > max_gap:
            found.append(LostStretch(float(t[first]), float(t[end - 1]),
                                     before if first > 0 else -math.inf,
                                     after if end < t.shape[0] else math.inf))
    return tuple(found)


def _zero_long_gaps(t: np.ndarray, bad: np.ndarray, column: np.ndarray, max_gap: float) -> None:
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    for first, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        before = t[first - 1] if first > 0 else t[first]
        after = t[end] if end < t.shape[0] else t[end - 1]
        if after - before > max_gap:
            column[first:end] = 0.0


def _alpha(cutoff: np.ndarray | float, step: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / step)


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel & Vogel 2012) over a vector of channels, frame by frame.

    Parameters
    ----------
    min_cutoff : float
        Hz. Cutoff at rest: lower smooths more jitter but lags slow moves.
    beta : float
        Speed coefficient: higher cuts lag on fast moves.
    derivative_cutoff : float
        Hz. Cutoff of the speed estimate (1 Hz in the paper).

    Examples
    --------
    >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    >>> [round(float(f(t / 60, np.array([1.0]))[0]), 3) for t in range(3)]
    [1.0, 1.0, 1.0]
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5,
                 derivative_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or derivative_cutoff <= 0 or beta < 0:
            raise ValueError("One Euro filter: cutoffs must be positive and beta non-negative")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past (start of a new take)."""
        self._time: float | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def __call__(self, time: float, value: np.ndarray) -> np.ndarray:
        """Filter one frame: ``value (n_channels,)`` at ``time`` seconds -> filtered copy.

        NaN inputs hold the previous output (a gap in a live stream).
        """
        x = np.asarray(value, dtype=np.float64)
        if self._value is None or self._time is None:
            self._time = float(time)
            self._value = np.where(np.isnan(x), 0.0, x)
            self._speed = np.zeros_like(self._value)
            return self._value.copy()
        step = float(time) - self._time
        if step <= 0:
            return self._value.copy()
        x = np.where(np.isnan(x), self._value, x)
        speed = (x - self._value) / step
        a_d = _alpha(self.derivative_cutoff, step)
        self._speed = self._speed + a_d * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        a = _alpha(cutoff, step)
        self._value = self._value + a * (x - self._value)
        self._time = float(time)
        return self._value.copy()


def one_euro(times: np.ndarray, values: np.ndarray, *, min_cutoff: float = 1.0,
             beta: float = 0.5, derivative_cutoff: float = 1.0) -> np.ndarray:
    """Run :class:`OneEuroFilter` over a whole take (causal, as it would run live).

    Returns
    -------
    (n_frames, n_channels) float32
    """
    data = _as_2d(values)
    flt = OneEuroFilter(min_cutoff, beta, derivative_cutoff)
    out = np.empty_like(data)
    for row, time in enumerate(np.asarray(times, dtype=np.float64)):
        out[row] = flt(time, data[row])
    return out.astype(np.float32)


def smooth_zero_phase(times: np.ndarray, values: np.ndarray, *, cutoff_hz: float = 6.0
                      ) -> np.ndarray:
    """Zero-phase Gaussian low-pass with a -3 dB cutoff of ``cutoff_hz``.

    The Gaussian's gain is ``exp(-2 pi^2 sigma^2 f^2)``, which is 1/sqrt(2) at
    ``f = sqrt(ln 2) / (2 pi sigma) = 0.1325 / sigma``. The kernel is applied on the rows'
    own spacing (the median step), with reflected ends so the first and last frames keep
    their level. NaN is not allowed (fill gaps first).

    Returns
    -------
    (n_frames, n_channels) float32
    """
    data = np.asarray(values)
    if data.ndim != 2:
        raise ValueError(f"values must be (n_frames, n_channels), got shape {data.shape}")
    t = np.asarray(times, dtype=np.float64)
    if cutoff_hz <= 0:
        raise ValueError("cutoff_hz must be positive")
    if data.shape[0] < 3:
        return data.astype(np.float32)
    step = float(np.median(np.diff(t)))
    sigma = math.sqrt(math.log(2.0)) / (2.0 * math.pi * cutoff_hz) / step  # in frames
    if sigma < 0.3:
        return data.astype(np.float32)
    radius = min(int(math.ceil(3.0 * sigma)), data.shape[0] - 1)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.empty(data.shape, dtype=np.float32)
    # A few channels at a time: the working arrays are a few columns, not several copies of the
    # whole take (a 60 fps hour of 47 channels: 80 MB each), and each group is read and written
    # in one pass over the rows (a strided pass per channel cost a cache miss per value). The
    # kernel is symmetric, so convolution equals the correlation of the shifted-copies sum it
    # replaces.
    n_frames = data.shape[0]
    for first in range(0, data.shape[1], _SMOOTH_COLUMNS):
        columns = data[:, first:first + _SMOOTH_COLUMNS].T
        # Reflected ends as np.pad(mode="reflect") makes them (the edge frame not repeated),
        # written into one float64 buffer.
        padded = np.empty((columns.shape[0], n_frames + 2 * radius))
        padded[:, radius:radius + n_frames] = columns
        padded[:, :radius] = padded[:, 2 * radius:radius:-1]
        padded[:, radius + n_frames:] = padded[:, radius + n_frames - 2:n_frames - 2:-1]
        smoothed = np.empty(columns.shape, dtype=np.float32)
        for row, channel in enumerate(padded):
            smoothed[row] = np.convolve(channel, kernel, mode="valid")
        del padded
        out[:, first:first + _SMOOTH_COLUMNS] = smoothed.T
    return out


#: Channels :func:`smooth_zero_phase` converts at once (8 of an hour at 60 fps: 14 MB).
_SMOOTH_COLUMNS = 8


@dataclass(frozen=True)
class NeutralCalibration:
    """Per-channel resting level and gain: ``clip((value - rest) * gain, 0, 1)``.

    Attributes
    ----------
    rest : (n_channels,) float64
        The resting pose's value of each channel.
    gain : (n_channels,) float64
        Scale applied after subtracting the rest.
    """

    rest: np.ndarray
    gain: np.ndarray

    @classmethod
    def fit(cls, times: np.ndarray, values: np.ndarray, *,
            window: tuple[float, float] | None = None, rest_percentile: float = 5.0,
            gain_percentile: float | None = None, min_range: float = 0.2
            ) -> NeutralCalibration:
        """Estimate the calibration from a take.

        Parameters
        ----------
        times, values : arrays
            The take (NaN ignored).
        window : (start, end) seconds, ``'resting'`` or ``'quietest'``, optional
            A stretch where the face is at rest (the performer's neutral at the top of a take):
            its per-channel median is the rest. ``'resting'`` finds it: the one-second stretch
            closest to every channel's resting level and stillest (:func:`resting_window`);
            ``'quietest'``, the one with the least total activation (:func:`quietest_window`),
            which can be a face below rest on some channels (lids lowered). Without a window,
            the ``rest_percentile`` of each channel over the whole take is used.
        gain_percentile : float, optional
            When given, each channel's gain makes this percentile of ``value - rest`` read 1.0,
            so a tracker that never reaches full scale on a shape (MediaPipe cheekPuff) is
            stretched. A channel moving less than ``min_range`` is stretched at most
            ``1 / min_range`` times, so noise on an idle channel is not blown up. Without it the
            gain is 1.
        """
        source = np.asarray(values)
        if source.ndim != 2:
            raise ValueError(f"values must be (n_frames, n_channels), got shape {source.shape}")
        t = np.asarray(times, dtype=np.float64)
        if isinstance(window, str):
            if window not in ("resting", "quietest"):
                raise ValueError(f"neutral window {window!r} is not 'resting', 'quietest' or "
                                 f"(start, end)")
            finder = resting_window if window == "resting" else quietest_window
            window = finder(t, source)
        if window is not None and gain_percentile is None:
            data = source  # only the window's rows are needed in float64
        else:
            data = _as_2d(source)
        if window is not None:
            inside = (t >= window[0]) & (t <= window[1])
            if not inside.any():
                raise ValueError(f"neutral window {window[0]:g}-{window[1]:g} s holds no frame")
            rest = _nan_stat(np.nanmedian, np.asarray(data[inside], dtype=np.float64))
        else:
            rest = _nan_stat(lambda a, axis: np.nanpercentile(a, rest_percentile, axis=axis), data)
        gain = np.ones(data.shape[1])
        if gain_percentile is not None:
            reach = _nan_stat(lambda a, axis: np.nanpercentile(a, gain_percentile, axis=axis),
                              data - rest)
            gain = 1.0 / np.maximum(reach, min_range)
        return cls(rest, gain)

    @classmethod
    def gain_only(cls, values: np.ndarray, gain_percentile: float, *, min_range: float = 0.2
                  ) -> NeutralCalibration:
        """A gain with no neutral subtracted (rest 0): each channel's ``gain_percentile`` of
        ``values`` reads 1.0, a channel moving less than ``min_range`` stretched at most
        ``1 / min_range`` times (as in :meth:`fit`).

        For ``--gain`` without a neutral (``--neutral none``, or an automatic neutral that found
        no resting second): the gain was fitted only with a neutral, so ``--gain`` alone changed
        nothing, silently.

        Parameters
        ----------
        values : (n_frames, n_channels) array
            The take (NaN ignored).
        """
        data = _as_2d(np.asarray(values))
        reach = _nan_stat(lambda a, axis: np.nanpercentile(a, gain_percentile, axis=axis), data)
        return cls(np.zeros(data.shape[1]), 1.0 / np.maximum(reach, min_range))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Calibrated ``(n_frames, n_channels)`` float32 values (NaN stays NaN)."""
        source = np.asarray(values)
        if source.ndim != 2:
            raise ValueError(f"values must be (n_frames, n_channels), got shape {source.shape}")
        out = np.empty(source.shape, dtype=np.float32)
        # In blocks of rows: float64 arithmetic as before, without whole-take temporaries.
        for first in range(0, source.shape[0], _BLOCK_ROWS):
            block = source[first:first + _BLOCK_ROWS].astype(np.float64)
            with np.errstate(invalid="ignore"):
                out[first:first + _BLOCK_ROWS] = np.clip((block - self.rest) * self.gain, 0.0, 1.0)
        return out


def quietest_window(times: np.ndarray, values: np.ndarray, seconds: float = 1.0
                    ) -> tuple[float, float]:
    """The ``seconds``-long stretch whose frames have the least summed activation.

    The least active stretch is not always a resting face: a face can read below its rest on
    some channels (lids lowered read a lower eyeWide, eyes down a lower eyeLookUp), and that
    stretch then wins. :func:`resting_window` is what the automatic neutral uses. Frames with
    NaN count as active (a lost face is no evidence of rest).
    """
    t, source = _check_take(times, values)
    return _best_window(t, _frame_activation(source), seconds)


#: Smallest per-channel scale of the resting distance (blendshape / AU units, 0-1). The robust
#: spread of a channel that barely moves is tracker jitter (cheekSquint on the Live Link Face
#: takes: 0.0015), and dividing by it would make a drift of 0.01 count as far off; 0.05 is a
#: third of the event threshold ``on`` (0.15, ``core.events``), so a channel must move by a
#: coding-relevant amount before it counts as away from rest. The windows chosen on the Live
#: Link Face takes were the same for floors 0.02-0.1.
RESTING_SCALE_FLOOR = 0.05
#: A channel's distance from its resting level counts at most this many scales (squared):
#: beyond six robust standard deviations a channel is plainly off rest whatever the exact
#: distance, and a channel gone wild (a tracker glitch, a head turned far from the camera)
#: must not make the others' closeness irrelevant. Clipped harder (3 scales), a second with the
#: head bowed far from its usual pose (58 at 0.43 against 0.00) was taken as OpenFace's
#: ``facsvatar_demo_full.csv`` rest; the Live Link Face takes' windows are the same for 3-100.
RESTING_DISTANCE_CLIP = 6.0
#: The stillness term compares each frame with the one this many seconds earlier: a facial
#: action's onset takes about 0.1 s or more (the fastest, a blink, closes the lid in about
#: 100 ms: Stern, Walrath & Goldstein 1984, "The endogenous eyeblink", Psychophysiology 21),
#: so over 0.1 s a moving channel shows most of its travel, whatever the frame rate.
STILLNESS_LAG_SECONDS = 0.1
#: The robust standard deviation of normally distributed data is 1.4826 times its median
#: absolute deviation (Rousseeuw & Croux 1993, JASA 88).
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class RestingLevels:
    """Where each channel of a take rests and how much it varies there.

    Attributes
    ----------
    level : (n_channels,) float64
        Resting level: the channel's median over the take's calmer half (the frames whose
        summed activation is at most the take's median).
    scale : (n_channels,) float64
        Robust spread around ``level`` over the same frames (1.4826 x the median absolute
        deviation), at least :data:`RESTING_SCALE_FLOOR`.
    """

    level: np.ndarray
    scale: np.ndarray


def resting_levels(values: np.ndarray, *, lost: np.ndarray | None = None) -> RestingLevels:
    """Each channel's resting level and spread, from a take with no marked neutral.

    Why the calmer half: a tracker's blendshapes are activations, 0 for the neutral face and
    rising with the movement (Apple, ``ARFaceAnchor.blendShapes``: each value is the feature's
    position relative to its neutral configuration, 0.0 neutral to 1.0 maximum movement), so
    the frames with the least summed activation are, as a set, the likeliest at rest, even
    when the single least active second is not (lids lowered read a lower eyeWide than the
    performer's rest). Their median is robust both ways: an expression held for up to three
    quarters of the take (a long smile) stays out of the calmer half or is outvoted in it, and
    a stretch below rest shorter than a quarter of the take cannot move it far. A coder judges
    each action against the person's own neutral face (FACS code 0; Ekman, Friesen & Hager
    2002), and a biased tracker's neutral is not 0 (eyeWide reads about 0.39 at rest on
    ``S07-001.csv``), so the level is measured per channel, not assumed.

    Parameters
    ----------
    values : (n_frames, n_channels) float
        NaN frames are left out (a lost face is no evidence of rest).
    lost : (n_frames,) bool, optional
        Frames where the tracker lost the face, filled by interpolation: left out as NaN
        frames are (a straight line across a lost stretch is no evidence of rest either).
    """
    source = _frames(values)
    activation = _frame_activation(source)
    if lost is not None:
        activation[np.asarray(lost, dtype=bool)] = np.inf
    finite = np.isfinite(activation)
    level = np.zeros(source.shape[1])
    spread = np.zeros(source.shape[1])
    if finite.any():
        calm = activation <= np.median(activation[finite])  # NaN frames (inf) never calm
        # Channels as contiguous rows, so each median partitions contiguous memory (half the
        # take, in the capture's own float32 for an hour's blendshapes: 22 MB).
        resting = np.ascontiguousarray(np.asarray(source)[calm].T)
        level = np.median(resting, axis=1).astype(np.float64)
        np.subtract(resting, level.astype(resting.dtype)[:, None], out=resting)
        np.abs(resting, out=resting)
        spread = np.median(resting, axis=1, overwrite_input=True).astype(np.float64)
    scale = np.maximum(_MAD_TO_SIGMA * spread, RESTING_SCALE_FLOOR)
    return RestingLevels(level, scale)


def resting_window(times: np.ndarray, values: np.ndarray, seconds: float = 1.0, *,
                   levels: RestingLevels | None = None,
                   active: np.ndarray | None = None,
                   lost: np.ndarray | None = None) -> tuple[float, float]:
    """The ``seconds``-long stretch where the face is most at rest: every channel close to its
    resting level, and nothing moving.

    A FACS coder (and a tracker operator calibrating a neutral pose) picks a stretch where the
    face is at rest: nothing moves and no channel is far from its usual resting level. Each
    frame scores ``mean_k min(z_k^2, 36) + mean_k min(dz_k^2, 36)`` with
    ``z_k = (x_k - level_k) / scale_k`` (:func:`resting_levels`: per-channel, robust, so a
    channel that varies widely at rest does not dominate) and ``dz_k`` the change of ``z_k``
    over :data:`STILLNESS_LAG_SECONDS`; the window with the lowest mean score wins. A stretch
    below rest on some channels (lowered lids) is as far off as one above it, which the least
    summed activation (:func:`quietest_window`) got wrong.

    Parameters
    ----------
    times : (n_frames,) float
        Increasing seconds.
    values : (n_frames, n_channels) float
        NaN frames are never chosen.
    seconds : float
        Window length.
    levels : RestingLevels, optional
        Precomputed :func:`resting_levels` of ``values``.
    active : (n_frames,) bool, optional
        Frames known not to be at rest (a facial AU coded there): scored as NaN frames are,
        so a window holding one is chosen only when every window does.
    lost : (n_frames,) bool, optional
        Frames where the tracker lost the face (gaps, restored dropped frames), whatever
        their filled values: scored as NaN frames are and left out of the resting levels. A
        lost stretch's interpolated line is the stillest thing in a take, and a 10 s gap in
        ``S07-001.csv`` was picked as its neutral (18.46-19.46 s), recoding the whole take.

    Returns
    -------
    (start, end) : seconds of the first and last frame of the window
    """
    t, source = _check_take(times, values)
    if levels is None:
        levels = resting_levels(source, lost=lost)
    lag = 1
    if t.shape[0] > 1 and t[-1] > t[0]:
        lag = max(1, int(round(STILLNESS_LAG_SECONDS * (t.shape[0] - 1) / (t[-1] - t[0]))))
    clip = np.float32(RESTING_DISTANCE_CLIP ** 2)
    # float32 z-scores (a few hundredths of a scale is far below what decides a window), so a
    # block's temporaries are half the size and the hour's pass is memory-bound half as long.
    level = levels.level.astype(np.float32)
    inverse_scale = (1.0 / levels.scale).astype(np.float32)
    costs = np.empty(source.shape[0], dtype=np.float64)
    for first in range(0, source.shape[0], _BLOCK_ROWS):  # bounded temporaries
        last = min(first + _BLOCK_ROWS, source.shape[0])
        earliest = max(first - lag, 0)
        z = (np.asarray(source[earliest:last], dtype=np.float32) - level) * inverse_scale
        here = z[first - earliest:]
        # The frame `lag` rows earlier (the first rows of the take compare with row 0).
        before = z[np.maximum(np.arange(first, last) - lag, 0) - earliest]
        with np.errstate(invalid="ignore"):
            moved = here - before
            np.multiply(moved, moved, out=moved)
            np.multiply(here, here, out=here)
            costs[first:last] = (np.minimum(here, clip).mean(axis=1, dtype=np.float64)
                                 + np.minimum(moved, clip).mean(axis=1, dtype=np.float64))
    costs[~np.isfinite(costs)] = np.inf  # NaN in the frame (or the one it is compared with)
    if active is not None:
        costs[np.asarray(active, dtype=bool)] = np.inf
    if lost is not None:
        costs[np.asarray(lost, dtype=bool)] = np.inf
    return _best_window(t, costs, seconds)


#: A resting face reads no facial blendshape above this, whatever the tracker's bias. ARKit
#: coefficients run from 0.0 at the neutral configuration to 1.0 at the feature's maximum
#: movement (Apple, ``ARFaceAnchor.BlendShapeLocation``), so a channel more than halfway to its
#: maximum is an action, not a resting face. The highest values measured over the Live Link
#: Face takes' resting stretches (S07-001.csv 0-4, 42.5-43.5 and 59.2-62.0 s; alex_rom_3.csv
#: 0-4 and 52.3-54.0 s) are 0.43 (eyeWide, S07-001 0-1 s), 0.28 (eyeBlink) and 0.23-0.27
#: (mouthFrown, alex_rom_3); smiles read 0.74-0.80 (facecap_animation_weights.csv 1.31-2.28 s,
#: alex_rom_3 59.2-62.0 s). Eye direction (eyeLook*) is not checked: where the eyes rest
#: depends on where the camera is, not on the face.
REST_CEILING = 0.5
#: ... nor one more than this above the channel's median over the whole take: the event
#: threshold ``on`` (0.15, ``core.events``), the rise that starts an action. A second chosen as
#: the take's neutral that reads an action above where the face usually is would erase that
#: action wherever it occurs (Face Cap's 1.31-2.28 s: mouthSmile 0.74 against a median of 0.00).
#: The resting stretches above read at most 0.10 above their medians (alex_rom_3's
#: mouthFrownRight); a brow lowering with a frown there (42.5-43.5 s) reads 0.31 above, a jaw
#: drop in S07-001 (52.3-54.0 s) 0.21.
REST_TOLERANCE = 0.15


@dataclass(frozen=True)
class OffRest:
    """The channel showing that a candidate neutral stretch is not at rest.

    Attributes
    ----------
    channel : int
        Column of the channel.
    value : float
        Its median over the stretch.
    limit : float
        The most it may read at rest: :data:`REST_CEILING`, or its median over the take plus
        :data:`REST_TOLERANCE`, whichever is lower.
    usual : float
        Its median over the whole take.
    """

    channel: int
    value: float
    limit: float
    usual: float


def off_rest(times: np.ndarray, values: np.ndarray, window: tuple[float, float], *,
             checked: np.ndarray | None = None, ceiling: float = REST_CEILING,
             tolerance: float = REST_TOLERANCE) -> OffRest | None:
    """Whether the stretch ``window`` of a take is at rest, in absolute terms.

    :func:`resting_window` finds the stretch *nearest* rest, relative to the take; a take that
    never rests (an expression held throughout, or a performance with no pause) still has a
    nearest stretch, and subtracting it as the neutral erases every action it holds. A FACS
    coder takes as neutral a stretch where the face is at rest (FACS code 0; Ekman, Friesen &
    Hager 2002), not merely the calmest one: here every checked channel's median over the
    stretch must be at most ``ceiling`` and at most ``tolerance`` above its median over the
    whole take.

    Parameters
    ----------
    times : (n_frames,) float
        Increasing seconds.
    values : (n_frames, n_channels) float
        NaN ignored.
    window : (start, end) seconds
    checked : (n_channels,) bool, optional
        The channels to check (default all): facial ones, not eye direction.
    ceiling, tolerance : float
        See :data:`REST_CEILING` and :data:`REST_TOLERANCE`.

    Returns
    -------
    OffRest or None
        The checked channel furthest over its limit, or None when the stretch is at rest.
    """
    t, source = _check_take(times, values)
    inside = (t >= window[0]) & (t <= window[1])
    if not inside.any():
        raise ValueError(f"neutral window {window[0]:g}-{window[1]:g} s holds no frame")
    mask = _checked_channels(checked, source.shape[1])
    if not mask.any():
        return None
    columns = np.flatnonzero(mask)
    rest = _nan_stat(np.nanmedian, np.asarray(source[inside][:, columns], dtype=np.float64))
    # Column by column: an hour's float32 channel is 0.9 MB, the whole take in float64 90 MB.
    usual = np.array([_nan_stat(np.nanmedian, np.asarray(source[:, [k]]))[0] for k in columns])
    limit = _rest_limit(usual, ceiling, tolerance)
    excess = rest - limit
    worst = int(np.argmax(excess))
    if not excess[worst] > 0.0:
        return None
    return OffRest(int(columns[worst]), float(rest[worst]), float(limit[worst]),
                   float(usual[worst]))


def _rest_limit(usual, ceiling: float, tolerance: float):
    """The most a channel may read at rest: ``ceiling``, or its median over the take
    (``usual``) plus ``tolerance``, whichever is lower (see :func:`off_rest`)."""
    return np.minimum(ceiling, usual + tolerance)


def stillest_at_rest(times: np.ndarray, values: np.ndarray, *,
                     checked: np.ndarray | None = None,
                     lost: np.ndarray | None = None) -> tuple[float, float] | None:
    """The stillest second among the frames at rest, or None when it is not at rest either.

    A frame is at rest when every checked channel reads at most the limit :func:`off_rest`
    puts on a neutral stretch (:func:`_rest_limit`); frames that are not are kept out of
    :func:`resting_window`'s choice, and the second it picks must pass :func:`off_rest`
    itself. A take's stillest second can be a held expression (``facecap_animation_weights.csv``:
    a smile at 1.31-2.28 s, mouthSmile 0.74), while its first second, the performer's face
    before the performance, is at rest.

    Parameters
    ----------
    times : (n_frames,) float
        Increasing seconds.
    values : (n_frames, n_channels) float
        NaN ignored.
    checked : (n_channels,) bool, optional
        The channels to check (default all).
    lost : (n_frames,) bool, optional
        Frames where the tracker lost the face: never at rest (see :func:`resting_window`).

    Returns
    -------
    (start, end) seconds or None
    """
    source = _frames(values)
    mask = _checked_channels(checked, source.shape[1])
    off = np.zeros(source.shape[0], dtype=bool)
    for k in np.flatnonzero(mask):  # column by column: an hour's float64 copy would be 90 MB
        column = np.asarray(source[:, k], dtype=np.float64)
        if not np.isfinite(column).any():
            continue
        limit = _rest_limit(float(np.nanmedian(column)), REST_CEILING, REST_TOLERANCE)
        with np.errstate(invalid="ignore"):
            off |= column > limit
    if lost is not None:
        off |= np.asarray(lost, dtype=bool)
    if off.all():
        return None
    window = resting_window(times, source, active=off, lost=lost)
    return window if off_rest(times, source, window, checked=checked) is None else None


def _checked_channels(checked: np.ndarray | None, n_channels: int) -> np.ndarray:
    """The ``(n_channels,)`` bool mask of the channels :func:`off_rest` and
    :func:`stillest_at_rest` check (all when None)."""
    mask = np.ones(n_channels, dtype=bool) if checked is None else np.asarray(checked, dtype=bool)
    if mask.shape != (n_channels,):
        raise ValueError(f"checked must be ({n_channels},) bool, got shape {mask.shape}")
    return mask


def _frames(values: np.ndarray) -> np.ndarray:
    source = np.asarray(values)
    if source.ndim != 2:
        raise ValueError(f"values must be (n_frames, n_channels), got shape {source.shape}")
    return source


def _check_take(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.float64)
    source = _frames(values)
    if t.shape[0] == 0:
        raise ValueError("no frames to find a neutral stretch in")
    return t, source


def _frame_activation(source: np.ndarray) -> np.ndarray:
    """Summed absolute value of each frame, inf where a frame has NaN."""
    totals = np.empty(source.shape[0], dtype=np.float64)
    for first in range(0, source.shape[0], _BLOCK_ROWS):  # bounded temporaries
        totals[first:first + _BLOCK_ROWS] = np.abs(source[first:first + _BLOCK_ROWS]).sum(
            axis=1, dtype=np.float64)
    totals[np.isnan(totals)] = np.inf  # a NaN anywhere in the frame makes its sum NaN
    return totals


def _best_window(t: np.ndarray, costs: np.ndarray, seconds: float) -> tuple[float, float]:
    """First and last time of the ``seconds``-long window with the lowest mean frame cost
    (inf costs count as a huge finite cost, so a window of lost frames is the last resort)."""
    cumulative = np.concatenate(([0.0], np.cumsum(np.where(np.isinf(costs), 1e9, costs))))
    # Window i covers the frames in [t_i, t_i + seconds): frames i..ends[i]-1.
    ends = np.searchsorted(t, t + seconds - 1e-9, side="left")
    counts = ends - np.arange(t.shape[0])
    means = (cumulative[ends] - cumulative[:-1]) / counts
    # Prefer full-length windows; a take shorter than the window uses the whole take.
    full = t + seconds <= t[-1] + 1e-9
    candidates = np.flatnonzero(full) if full.any() else np.array([0])
    best = int(candidates[np.argmin(means[candidates])])
    return float(t[best]), float(t[min(ends[best], t.shape[0]) - 1])


def _nan_stat(function, data: np.ndarray) -> np.ndarray:
    result = np.zeros(data.shape[1])
    usable = ~np.all(np.isnan(data), axis=0)
    if usable.any():
        result[usable] = function(data[:, usable], axis=0)
    return result


def resample(times: np.ndarray, values: np.ndarray, fps: float, *, start: float | None = None,
             end: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation onto a regular grid ``start, start + 1/fps, ...`` up to ``end``.

    Returns
    -------
    grid : (n,) float64
    resampled : (n, n_channels) float32

    Raises
    ------
    TimelineError
        Before allocating, when the grid would hold more frames than the input's rows allow
        (:func:`~facs_rig.core.limits.resampled_count_problem`: a few rows hours apart) or more
        than :data:`~facs_rig.core.limits.MAX_FRAMES`.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    data = _as_2d(values)
    t = np.asarray(times, dtype=np.float64)
    first = float(t[0]) if start is None else float(start)
    last = float(t[-1]) if end is None else float(end)
    frames = (last - first) * fps + 1e-6
    problem = resampled_count_problem(frames, t.shape[0],
                                      what=f"resampling {last - first:g} s at {fps:g} fps")
    if problem:  # also catches an overflow to inf; refuse before allocating
        raise TimelineError(problem)
    count = int(math.floor(frames)) + 1 if last >= first else 0
    grid = first + np.arange(count, dtype=np.float64) / fps
    if t.shape[0] == 1:
        return grid, np.repeat(data[:1], count, axis=0).astype(np.float32)
    right = np.clip(np.searchsorted(t, grid, side="right"), 1, t.shape[0] - 1)
    left = right - 1
    span = t[right] - t[left]
    weight = np.clip((grid - t[left]) / np.where(span > 0, span, 1.0), 0.0, 1.0)[:, None]
    resampled = data[left] * (1.0 - weight) + data[right] * weight
    return grid, resampled.astype(np.float32)


def clean_curves(curves: AUCurves, *, gaps: str = "interpolate", max_gap: float | None = None,
                 smoothing: str = "none", cutoff_hz: float = 6.0, min_cutoff: float = 1.0,
                 beta: float = 0.5, neutral: NeutralCalibration | None = None,
                 fps: float | None = None) -> AUCurves:
    """The usual cleaning chain: fill gaps, calibrate, smooth, resample.

    Parameters
    ----------
    curves : AUCurves
        May contain NaN gaps.
    gaps : {'interpolate', 'hold'}
    max_gap : float, optional
        See :func:`fill_gaps`.
    smoothing : {'none', 'one-euro', 'zero-phase'}
    cutoff_hz : float
        Zero-phase cutoff.
    min_cutoff, beta : float
        One Euro parameters.
    neutral : NeutralCalibration, optional
        Applied after gap filling.
    fps : float, optional
        Output frame rate (default: keep the rows; irregular rows are resampled to the
        nearest whole rate of their mean spacing).

    Returns
    -------
    AUCurves
        On a regular grid, no NaN, values 0-1, ``metadata['filled_cells']`` set.
    """
    if smoothing not in SMOOTHING:
        raise ValueError(f"smoothing {smoothing!r} is not one of {', '.join(SMOOTHING)}")
    times = np.asarray(curves.times, dtype=np.float64)
    values, filled = fill_gaps(times, curves.values, method=gaps, max_gap=max_gap)
    if neutral is not None:
        values = neutral.apply(values)
    if smoothing == "one-euro":
        values = one_euro(times, values, min_cutoff=min_cutoff, beta=beta)
    elif smoothing == "zero-phase":
        values = smooth_zero_phase(times, values, cutoff_hz=cutoff_hz)
    target = fps or curves.fps
    if target is None and times.shape[0] > 1:
        target = float(max(1, round((times.shape[0] - 1) / (times[-1] - times[0]))))
    if target is not None and (fps is not None or curves.fps is None) and times.shape[0] > 1:
        times, values = resample(times, values, target)
    values = np.clip(values, 0.0, 1.0).astype(np.float32, copy=False)
    metadata = dict(curves.metadata)
    metadata["filled_cells"] = filled
    return replace(curves, times=times, values=values, fps=target, metadata=metadata)
