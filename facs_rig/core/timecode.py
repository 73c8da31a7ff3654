"""SMPTE timecode and frame-count durations: parse and format, pure.

Timecode is ``HH:MM:SS:FF`` (SMPTE ST 12-1 non-drop-frame notation): hours, minutes, seconds and a
frame number counted at the *nominal* rate, the frame rate rounded to a whole number (30 for
29.97). The time in seconds is the total frame count divided by the real rate, so at 24 fps
``00:00:01:12`` is 36 frames, 1.5 s, and at 29.97 fps ``00:00:01:00`` is 30 frames, 1.001 s.
Drop-frame timecode (``;`` before the frames) is refused with a clear message rather than
misread.

Functions raise :class:`ValueError` with a message that describes the problem; callers that read
files wrap it in an error naming the file and line.
"""

from __future__ import annotations

import math
import re

__all__ = ["nominal_rate", "parse_timecode", "format_timecode", "is_timecode", "frames_to_seconds"]

_TIMECODE = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})([:;])(\d{2,3})$")


def nominal_rate(fps: float) -> int:
    """Whole frames per second counted by timecode at ``fps`` (30 for 29.97, 24 for 23.976)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"frame rate must be a positive number, not {fps!r}")
    return max(1, round(fps))


def is_timecode(text: str) -> bool:
    """True when ``text`` has the shape of ``HH:MM:SS:FF`` (values are not checked)."""
    return _TIMECODE.match(text.strip()) is not None


def parse_timecode(text: str, fps: float) -> float:
    """Seconds of an ``HH:MM:SS:FF`` timecode at ``fps``.

    Raises
    ------
    ValueError
        When the text is not a timecode, minutes or seconds are 60 or more, the frame number is
        not below the nominal rate (``00:00:01:24`` at 24 fps), the timecode is drop-frame, or
        its time overflows a float (at an absurd rate such as 1e308 fps).
    """
    match = _TIMECODE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a timecode HH:MM:SS:FF")
    hours, minutes, seconds, separator, frames = match.groups()
    if separator == ";":
        raise ValueError(f"drop-frame timecode {text!r} is not supported; write HH:MM:SS:FF "
                         f"(non-drop) or seconds")
    rate = nominal_rate(fps)
    if int(minutes) >= 60:
        raise ValueError(f"timecode {text!r}: minutes {minutes} must be below 60")
    if int(seconds) >= 60:
        raise ValueError(f"timecode {text!r}: seconds {seconds} must be below 60")
    if int(frames) >= rate:
        raise ValueError(f"timecode {text!r}: frame {int(frames)} must be below the frame rate "
                         f"({rate} frames per second, so 0-{rate - 1})")
    total_frames = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * rate + int(frames)
    try:
        return frames_to_seconds(total_frames, fps)
    except OverflowError:  # the nominal rate of fps 1e308 is a 309-digit int: no float divides it
        raise ValueError(f"timecode {text!r} at {fps:g} fps is beyond the range of a time in "
                         f"seconds") from None


def frames_to_seconds(frames: float, fps: float) -> float:
    """Seconds of ``frames`` frames at ``fps``; exact for whole rates (``36 / 24 == 1.5``)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"frame rate must be a positive number, not {fps!r}")
    return frames / fps


def format_timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF`` of the frame nearest to ``seconds`` at ``fps``.

    Raises
    ------
    ValueError
        For negative or non-finite times, and times whose frame number at ``fps`` overflows.
    """
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"cannot write time {seconds!r} as a timecode")
    rate = nominal_rate(fps)
    position = seconds * fps
    if not math.isfinite(position):
        raise ValueError(f"cannot write time {seconds!r} at {fps:g} fps as a timecode: the frame "
                         f"number is beyond float range")
    total = round(position)
    frames = total % rate
    whole_seconds = total // rate
    return (f"{whole_seconds // 3600:02d}:{whole_seconds // 60 % 60:02d}:"
            f"{whole_seconds % 60:02d}:{frames:02d}")
