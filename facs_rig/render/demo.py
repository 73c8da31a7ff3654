"""``facs-rig demo``: the seven basic expressions on the default head, as files to open.

Everything is local and bundled: the timeline is built from the vocabulary's expression codes,
mixed with the ``facs`` profile, baked onto ``rigs/default_head.glb`` and rendered. No network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from facs_rig.core.curves import TargetWeights
from facs_rig.core.notation import Code, format_code
from facs_rig.core.timeline import Timeline
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import OutputError

__all__ = ["BASIC_EXPRESSIONS", "DemoFiles", "demo_beats", "demo_timeline", "run_demo"]

#: The EMFACS-7 basic emotions (facs_rig/data/expressions.json cites the sources).
BASIC_EXPRESSIONS = ("happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt")
#: Seconds per beat: onset, apex hold, offset, then a short rest at neutral.
_ONSET, _APEX, _OFFSET, _REST = 0.35, 0.75, 0.35, 0.15
#: The letter the expressions' unlettered AUs are given, so that each beat reads at preview
#: size (D, marked-to-severe; unlettered would play C). The beats' codes carry it, so the label
#: under a face and ``facs-rig preview CODE`` show what the demo plays (the demo played 0.75 under
#: a label "6+12", which previews at C, 0.55). Contempt's name already plays R12C+R14C (its
#: EMFACS code R12A+R14A is a trace: expressions.json).
_DEMO_LETTER = "D"


@dataclass(frozen=True)
class DemoFiles:
    """What the demo wrote."""

    folder: Path
    timeline: Path
    glb: Path
    sheet: Path
    gif: Path
    duration: float
    beats: tuple[tuple[str, str], ...]
    #: Where an edited ``timeline.json`` found in the folder was moved, or None.
    kept: Path | None = None


def demo_beats(vocabulary: Vocabulary) -> tuple[tuple[str, str], ...]:
    """``(name, canonical code as played)`` of each beat, in order: the expression's code with
    :data:`_DEMO_LETTER` on each AU it left unlettered that FACS scores A-E (``6D+12D``)."""
    beats = []
    for name in BASIC_EXPRESSIONS:
        code = vocabulary.parse(name)
        lettered = Code(tuple(
            replace(term, intensity=_DEMO_LETTER)
            if term.intensity is None and vocabulary.scores_intensity(term.au) else term
            for term in code))
        beats.append((name, format_code(lettered)))
    return tuple(beats)


def demo_timeline(vocabulary: Vocabulary, *, fps: float = 30.0) -> Timeline:
    """The seven basic expressions one after another, with a blink in the middle."""
    timeline = Timeline(fps=fps, metadata={"title": "facs-rig demo: the seven basic expressions"})
    at = 0.2
    for _name, code in demo_beats(vocabulary):
        timeline = timeline.add_code(
            code, vocabulary, at=at, onset=_ONSET, apex=_APEX, offset=_OFFSET
        )
        at = round(at + _ONSET + _APEX + _OFFSET + _REST, 6)
    timeline = timeline.add_code(
        "45",
        vocabulary,
        at=round(3 * (_ONSET + _APEX + _OFFSET + _REST) + 0.05, 6),
        onset=0.08,
        apex=0.04,
        offset=0.12,
        intensity=1.0,
    )
    return timeline.with_events(timeline.events, duration=round(at + 0.2, 6))


def _keep_edited_timeline(path: Path, demo_text: str) -> Path | None:
    """Move a ``timeline.json`` that is not the demo's own (the demo invites editing it) to
    the next free ``timeline.edited.json``, ``timeline.edited-2.json``...; returns where, or None.
    A second run used to write the demo's timeline over the edits."""
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") == demo_text:
            return None
    except (OSError, UnicodeDecodeError):
        pass
    kept, number = path.with_name("timeline.edited.json"), 1
    while kept.exists():
        number += 1
        kept = path.with_name(f"timeline.edited-{number}.json")
    try:
        path.rename(kept)
    except OSError as exc:
        raise OutputError(f"{path}: edited; cannot keep it as {kept.name}: {exc.strerror or exc}") from None
    return kept


def run_demo(
    folder: str | os.PathLike[str],
    vocabulary: Vocabulary,
    *,
    size: int = 360,
    fps: float = 15.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoFiles:
    """Write the demo's files into ``folder`` (created if missing).

    Parameters
    ----------
    folder : path-like
        Output folder (``facs-rig-demo``).
    vocabulary : Vocabulary
    size : int
        Pixel size of the GIF frames and sheet tiles.
    fps : float
        Frame rate of the GIF (the GLB animation keeps the timeline's 30 fps).
    progress : callable, optional
        ``progress(stage, done, total)`` while rendering and encoding.
    """
    from facs_rig.io.default_head import write_head_glb
    from facs_rig.io.timeline_files import write_timeline
    from facs_rig.io.timeline_json import timeline_to_json
    from facs_rig.render.encoders import write_gif, write_png
    from facs_rig.render.preview import preview_setup, render_sheet, timeline_clip, timeline_weights

    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the demo folder: {exc.strerror or exc}") from None
    timeline = demo_timeline(vocabulary)
    files = DemoFiles(
        out,
        out / "timeline.json",
        out / "default_head_animated.glb",
        out / "expressions.png",
        out / "expressions.gif",
        timeline.duration,
        demo_beats(vocabulary),
    )
    kept = _keep_edited_timeline(files.timeline, timeline_to_json(timeline, vocabulary))
    if kept is not None:
        files = replace(files, kept=kept)
    write_timeline(timeline, files.timeline, vocabulary)

    setup = preview_setup(size=size, supersample=1)
    times, weights, rate = timeline_weights(setup, timeline)
    animation = TargetWeights(
        times,
        weights,
        setup.rig.mesh.target_names,
        rate,
        {"title": timeline.metadata.get("title", "facs-rig demo")},
    )
    write_head_glb(setup.rig.mesh, setup.rig.colours, files.glb, animation=animation)

    still = preview_setup(size=size, supersample=2)
    codes = ["0"] + [code for _, code in files.beats]
    names = ["neutral"] + [name for name, _ in files.beats]
    sheet = render_sheet(still, codes, vocabulary, columns=4, labels=names)
    write_png(files.sheet, sheet)

    clip = timeline_clip(setup, timeline, fps=fps)
    report = (lambda done: progress("rendering GIF", done, clip.n_frames)) if progress else None
    write_gif(files.gif, clip.frames, fps=clip.fps, palette=clip.palette, progress=report)
    return files
