"""Burnt-in captions for clips: each frame's timecode and the FACS code playing on it.

Dailies carry a burn-in so that whoever watches a clip can name the frame they talk about
(an animator matching a frame to a director's note); ``facs-rig preview NOTES -o clip.gif
--burn-in`` writes one into every frame, in a dark band along the bottom.
"""

from __future__ import annotations

import numpy as np

from facs_rig.core.notation import format_code
from facs_rig.core.timecode import format_timecode
from facs_rig.core.timeline import Timeline, code_of_events
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.render.font import GLYPH_HEIGHT, draw_text
from facs_rig.render.sheet import fit_text

__all__ = ["frame_captions", "burn_in"]


def frame_captions(timeline: Timeline, times: np.ndarray, vocabulary: Vocabulary, *,
                   origin: float = 0.0) -> list[str]:
    """The caption of each frame: ``"00:00:12:05  R12C+R14C"``.

    Parameters
    ----------
    timeline : Timeline
    times : (n_frames,) float
        The frames' times, seconds from the timeline's 0.
    vocabulary : Vocabulary
    origin : float
        Seconds of the timecode the timeline's 0 stands for (a notes file's ``start`` header:
        :func:`facs_rig.io.au_notes.notes_origin`).

    Returns
    -------
    list of str
        Timecode at the timeline's fps, then the code of every event under way on the frame
        (from its start to its end, ramps included), as
        :func:`~facs_rig.core.timeline.code_of_events` writes them; ``0`` when none is.
    """
    times = np.asarray(times, np.float64)
    if times.size == 0:
        return []
    events = timeline.events
    # The code changes only where an event starts or ends: one code per stretch between them,
    # so a clip's captions cost O(events x stretches), not O(events x frames).
    edges = np.unique(np.array([0.0] + [t for event in events for t in (event.start, event.end)],
                               np.float64))
    codes = []
    for left in edges:
        playing = [event for event in events if event.start <= left < event.end]
        codes.append(format_code(code_of_events(playing, vocabulary)))
    stretch = np.searchsorted(edges, times, side="right") - 1
    return [f"{format_timecode(origin + float(time), timeline.fps)}  {codes[max(0, index)]}"
            for time, index in zip(times, stretch)]


def burn_in(image: np.ndarray, caption: str, *, scale: int | None = None) -> np.ndarray:
    """A copy of ``image`` (height, width, 3) uint8 with ``caption`` in a dark band at its foot.

    The text is 5x7 glyphs at ``scale`` (default: 1 per 256 pixels of width, at least 1), cut
    with ``..`` where it would not fit.
    """
    height, width = image.shape[:2]
    scale = scale or max(1, width // 256)
    padding = 2 * scale
    band = GLYPH_HEIGHT * scale + 2 * padding
    framed = image.copy()
    if band >= height:
        return framed
    # Darkened, not blacked out: the chin stays visible under the band.
    framed[height - band:] = (framed[height - band:].astype(np.uint16) // 4).astype(np.uint8)
    text = fit_text(caption, width - 2 * padding, scale)
    draw_text(framed, text, padding, height - band + padding, scale=scale)
    return framed

