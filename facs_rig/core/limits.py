"""The limits every facs-rig command shares: one frame-rate range and one frame-count cap.

Every command that takes ``--fps`` (preview, demo, bake, stream, bridge, timeline convert/sample,
retarget, code) checks it with :func:`fps_problem`, and every command that samples, renders or
resamples frames checks the count with :func:`frame_count_problem` before allocating or rendering
anything, so the same typo gets the same answer everywhere.

Why these numbers: 10,000 fps is far above any display, capture (high-speed face trackers run at
a few hundred fps) or network rate (OSC senders tick at 30-120 Hz), and it keeps a sample time
exactly representable down to 0.1 ms; 24,000,000 frames is about 4.6 days at 60 fps, a guard
against a typo in a duration or rate allocating the whole memory.
"""

from __future__ import annotations

import math

__all__ = ["MAX_FPS", "MAX_FRAMES", "MAX_FRAMES_PER_ROW", "fps_problem", "frame_count_problem",
           "resampled_count_problem", "take_rate_problem"]

#: Highest frame rate any command accepts (frames per second); the range is ``(0, MAX_FPS]``.
MAX_FPS = 10_000.0
#: Most frames any command samples, renders or resamples at once.
MAX_FRAMES = 24_000_000
#: Most frames a take's resampling may make per row it has (120x is a 1 fps tracker at 120 fps),
#: once past :data:`FRAMES_ALWAYS_ALLOWED`: more is no frame rate but a few rows hours apart,
#: whose frames would take memory out of all proportion to the file.
MAX_FRAMES_PER_ROW = 1000
#: Resampled frames any take may have whatever its rows (100,000 frames of 52 float32 weights:
#: 21 MB).
FRAMES_ALWAYS_ALLOWED = 100_000


def fps_problem(value: object, *, name: str = "fps") -> str | None:
    """``None`` when ``value`` is a frame rate in ``(0, MAX_FPS]``, else the sentence saying why not.

    The wording is the same for every command: ``"{name} must be a number in (0, 10000]"``.
    """
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        rate = math.nan
    if isinstance(value, bool) or not (0.0 < rate <= MAX_FPS):  # NaN fails both comparisons
        return f"{name} must be a number in (0, {MAX_FPS:g}]"
    return None


def take_rate_problem(duration: float, fps: float, *, name: str = "--fps") -> str | None:
    """``None`` when a take of ``duration`` seconds resampled at ``fps`` keeps more than its
    first frame, else the sentence saying why not and the lowest rate that does.

    A rate whose frame interval is longer than the take (``--fps 0.001`` on a 24 s take)
    resamples it to its first frame alone: no event can be found in it and every output holds
    one pose, which was written without a word. The bound is one frame interval per take,
    ``fps >= 1 / duration`` (two frames: the first and the last). A take of a single row
    (``duration`` 0) has no bound.
    """
    if not duration > 0 or fps * duration >= 1.0:
        return None
    # Rounded up in its third significant digit, so that the rate named is one that works.
    digits = 2 - math.floor(math.log10(1.0 / duration))
    bound = math.ceil(10**digits / duration) / 10**digits
    return (f"{name} {fps:g} is one frame every {1 / fps:g} s, longer than the whole "
            f"{duration:g} s take: it would keep only the take's first frame (no event, one "
            f"pose); {name} must be at least {bound:g} for this take")


def frame_count_problem(n_frames: float, *, what: str) -> str | None:
    """``None`` when ``n_frames`` (possibly ``inf``) is within :data:`MAX_FRAMES`, else why not.

    ``what`` says where the frames come from, e.g. ``"beats.json: 1e+06 s at 30 fps"``.
    """
    if n_frames > MAX_FRAMES:  # also true for inf
        count = "too many" if math.isinf(n_frames) else f"{n_frames:.3g}"
        return (f"{what} is {count} frames, more than the limit of {MAX_FRAMES:,}; lower the fps "
                f"or use a shorter span")
    return None


def resampled_count_problem(n_frames: float, n_rows: int, *, what: str) -> str | None:
    """``None`` when resampling ``n_rows`` rows to ``n_frames`` frames is in proportion to the
    input (at most :data:`MAX_FRAMES_PER_ROW` frames per row, or :data:`FRAMES_ALWAYS_ALLOWED`
    frames), else why not. ``what`` says what is resampled, e.g. ``"resampling 86400 s at 30 fps"``.
    """
    too_many = frame_count_problem(n_frames, what=what)  # inf too; past it, say that first
    if too_many or n_frames <= max(MAX_FRAMES_PER_ROW * n_rows, FRAMES_ALWAYS_ALLOWED):
        return too_many
    return (f"{what} is {n_frames:.3g} frames from {n_rows} row(s), more than "
            f"{MAX_FRAMES_PER_ROW} per row: the rows' times are far apart for their number (a "
            f"wrong time column or timecode?)")
