"""Burnt-in captions for clips: each frame's timecode, what plays on it, and the director's words.

Dailies carry a burn-in so that whoever watches a clip can name the frame they talk about
(an animator matching a frame to a director's note); ``facs-rig preview NOTES -o clip.gif
--burn-in`` writes one into every frame, in a dark band along the bottom: the timecode, the
expression the director typed while the face still plays exactly that (``contempt
(R12C+R14C)``), else the FACS code, and on a line below the beat's comment (``# she opens the
letter``), so that someone who does not read FACS can review the clip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from facs_rig.core.notation import format_code
from facs_rig.core.timecode import format_timecode
from facs_rig.core.timeline import Timeline, at_rest, code_of_events
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.render.font import GLYPH_HEIGHT, draw_text, text_width
from facs_rig.render.sheet import fit_text

__all__ = ["frame_captions", "caption_lines", "band_lines", "burn_in"]


def frame_captions(timeline: Timeline, times: np.ndarray, vocabulary: Vocabulary, *,
                   origin: float = 0.0, neutral: Sequence = ()) -> list[str]:
    """The caption of each frame: ``"00:00:12:05  contempt (R12C+R14C)"``, and the comment of
    the beat on a second line (after ``"\\n"``) when it has one.

    Parameters
    ----------
    timeline : Timeline
    times : (n_frames,) float
        The frames' times, seconds from the timeline's 0.
    vocabulary : Vocabulary
    origin : float
        Seconds of the timecode the timeline's 0 stands for (a notes file's ``start`` header:
        :func:`facs_rig.io.au_notes.notes_origin`).
    neutral : sequence of NeutralBeat
        The ``neutral`` lines of the timeline's notes (``parse_au_notes(neutral_out=)``), which
        the timeline does not keep: each one's comment is the words of the face relaxing, from
        its time until the face is at rest (:func:`facs_rig.core.timeline.at_rest`).

    Returns
    -------
    list of str
        Timecode at the timeline's fps, then the code of every event under way on the frame
        (from its start to its end, ramps included), as
        :func:`~facs_rig.core.timeline.code_of_events` writes them; ``0`` when none is. When the
        events under way are exactly one beat that still means the expression typed for it
        (:func:`facs_rig.io.au_notes.named_beats`, the rule by which the notes writer writes
        the name back), the name comes first and the code in brackets: a beat an animator
        changed, or two beats crossing, show codes only. Then, on a line of its own, the
        comment (``# ...`` on the beat's line) of the latest beat under way that has one (a
        ``neutral`` one's while the face relaxes).
    """
    from facs_rig.io.au_notes import named_beats

    times = np.asarray(times, np.float64)
    if times.size == 0:
        return []
    events = timeline.events
    names = {indices: name for name, indices in named_beats(timeline, vocabulary)}
    # The words of each neutral line, from its time until the face is at rest.
    relaxing = [(beat.rest.at, at_rest(beat.rest, events), beat.comment) for beat in neutral
                if beat.comment]
    # The caption changes only where an event starts or ends: one per stretch between them,
    # so a clip's captions cost O(events x stretches), not O(events x frames).
    edges = np.unique(np.array([0.0] + [t for event in events for t in (event.start, event.end)]
                               + [t for start, end, _ in relaxing for t in (start, end)],
                               np.float64))
    heads, comments = [], []
    for left in edges:
        playing = [index for index, event in enumerate(events)
                   if event.start <= left < event.end]
        code = format_code(code_of_events([events[index] for index in playing], vocabulary))
        name = names.get(frozenset(playing))
        heads.append(f"{name} ({code})" if name is not None else code)
        # The latest beat's words: a wink's comment over a held smile's while the wink plays.
        worded = [(events[index].start, events[index].comment) for index in playing
                  if events[index].comment]
        worded += [(start, comment) for start, end, comment in relaxing if start <= left < end]
        latest = max(worded, key=lambda words: words[0], default=None)
        comments.append("" if latest is None else f"\n{latest[1]}")
    stretch = np.maximum(np.searchsorted(edges, times, side="right") - 1, 0)
    return [f"{format_timecode(origin + float(time), timeline.fps)}  {heads[index]}"
            f"{comments[index]}" for time, index in zip(times, stretch)]


#: Where a caption's head may break when no layout of whole parts fits: at a space, or after a
#: code's '+' (the '+' stays at the end of the line, saying the code goes on).
_PIECES = re.compile(r"[^ +]+\+?|\+")


def _scale(width: int) -> int:
    """The font scale of a caption on a frame ``width`` pixels wide: 1 per 256 pixels."""
    return max(1, width // 256)


def caption_lines(caption: str, width: int, scale: int | None = None) -> tuple[list[str], int]:
    """The lines a caption is drawn in on a frame ``width`` pixels wide, each within it, and how
    many of them are the head (timecode and code; the rest is the comment).

    The head (the first line of ``caption``) stays on one line when it fits, else it breaks
    after the timecode, then between the name and its code (``01:00:03:08 contempt`` over
    ``(R12C+R14C)``); a code too long for any of those fills the lines, broken after a ``+``
    (fear's ``1D+...+26D`` on 128 pixels), so that the timecode and the code show whole down
    to 128-pixel frames; only a frame too narrow for one term (or the timecode) cuts a line
    with ``..``. The comment (the second line of ``caption``) is one line, cut with ``..``.
    """
    scale = scale or _scale(width)
    room = width - 4 * scale  # the band's padding, 2 * scale on each side

    def fits(line: str) -> bool:
        return text_width(line, scale) <= room

    head, _, comment = caption.partition("\n")
    timecode, gap, rest = head.partition("  ")
    name, bracket, code = rest.rpartition(" (") if rest.endswith(")") else ("", "", rest)
    candidates = [[head]]
    if gap:
        candidates.append([timecode, rest])
        if bracket:  # one space where two do not fit: 20 characters fill 128 pixels
            candidates += [[f"{timecode} {name}", f"({code}"], [timecode, name, f"({code}"]]
    lines = next((lines for lines in candidates if all(map(fits, lines))), None)
    if lines is None:  # a code wider than the frame: filled line by line, broken after a '+'
        lines, line = [], ""
        for piece in _PIECES.findall(" ".join(head.split())):
            joined = line + ("" if not line or line.endswith("+") else " ") + piece
            if line and not fits(joined):
                lines.append(line)
                joined = piece
            line = joined
        lines = [fit_text(line, room, scale) for line in (*lines, line)]
    head_count = len(lines)
    if comment:
        lines.append(fit_text(comment, room, scale))
    return lines, head_count


def band_lines(captions: Sequence[str], width: int, height: int, scale: int | None = None) -> int:
    """The lines of text a clip's caption band holds on frames ``width`` x ``height``: the
    most any of ``captions`` needs (:func:`caption_lines`), so that the band keeps one height
    through the clip; the comments' lines are left out when the band would then cover more
    than a third of the frame (the face above it must stay the picture)."""
    scale = scale or _scale(width)
    needed = [caption_lines(caption, width, scale) for caption in set(captions)]
    heads = max((count for _, count in needed), default=1)
    every = max((len(lines) for lines, _ in needed), default=1)
    return every if _band_height(every, scale) <= height // 3 else heads


def _band_height(lines: int, scale: int) -> int:
    """Pixels of a band of ``lines`` lines: 2 * scale above, below and between them."""
    return lines * GLYPH_HEIGHT * scale + (lines + 1) * 2 * scale


def burn_in(image: np.ndarray, caption: str, *, scale: int | None = None,
            lines: int | None = None) -> np.ndarray:
    """A copy of ``image`` (height, width, 3) uint8 with ``caption`` in a dark band at its foot.

    The text is 5x7 glyphs at ``scale`` (default: 1 per 256 pixels of width, at least 1), in
    the lines :func:`caption_lines` lays out. The band holds ``lines`` lines (default: this
    caption's; a clip passes :func:`band_lines` so that every frame's band is the same): a
    comment that has no line in it is left out; a band as tall as the frame is not drawn.
    """
    height, width = image.shape[:2]
    scale = scale or _scale(width)
    padding = 2 * scale
    text, heads = caption_lines(caption, width, scale)
    lines = lines or len(text)
    band = _band_height(lines, scale)
    framed = image.copy()
    if band >= height:
        return framed
    # Darkened, not blacked out: the chin stays visible under the band.
    framed[height - band:] = (framed[height - band:].astype(np.uint16) // 4).astype(np.uint8)
    # The head first: a band too short for the comment keeps the timecode and the code.
    for number, line in enumerate(text[:lines]):
        colour = (235, 235, 235) if number < heads else (170, 200, 255)
        draw_text(framed, line, padding,
                  height - band + padding + number * (GLYPH_HEIGHT + 2) * scale,
                  colour=colour, scale=scale)
    return framed
