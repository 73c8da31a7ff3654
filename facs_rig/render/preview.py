"""Previews: FACS codes and timelines as images and clips of a rig, end to end.

The chain is the project's own: a code goes through ``Vocabulary.channel_values`` (or a timeline
through :func:`~facs_rig.core.timeline.sample`), the rig profile mixes AU values into target
weights (:func:`~facs_rig.core.mixing.mix`), :class:`~facs_rig.core.deform.Deformer` poses the
mesh and :func:`~facs_rig.render.raster.render` draws it. Profile targets are paired with the
mesh's morph targets by the naming rules of :func:`~facs_rig.core.naming.match_names`, so any
rig a profile fits can be previewed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.deform import Deformer
from facs_rig.core.mixing import mix, mix_frame
from facs_rig.core.naming import match_names
from facs_rig.core.rig import RigProfile
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import RigError, TimelineError
from facs_rig.render.camera import Camera, frame_camera
from facs_rig.render.raster import Occluders, Topology, render
from facs_rig.render.scene import RenderRig

__all__ = [
    "Driver",
    "make_driver",
    "bind_node_motion",
    "FaceRenderer",
    "code_values",
    "side_by_side",
    "choose_profile",
    "PreviewSetup",
    "preview_setup",
    "render_code",
    "timeline_weights",
    "peak_frame",
    "poster_index",
    "still_moment",
    "render_timeline_still",
    "render_sheet",
    "timeline_beats",
    "render_timeline_sheet",
    "beat_labels",
    "Clip",
    "timeline_clip",
]


@dataclass(frozen=True)
class Driver:
    """Maps AU values to the weights of one mesh's morph targets through a rig profile.

    Attributes
    ----------
    profile : RigProfile
        The profile that mixes AUs into its targets.
    columns : (n_mesh_targets,) int64
        Profile column driving each mesh target, -1 when none does.
    n_targets : int
        Number of mesh targets.
    """

    profile: RigProfile
    columns: np.ndarray
    n_targets: int

    def _apply(self, profile_weights: np.ndarray) -> np.ndarray:
        padded = np.concatenate(
            [profile_weights, np.zeros(profile_weights.shape[:-1] + (1,), np.float32)], -1
        )
        return padded[..., self.columns].astype(np.float32)

    def frame(self, values: Mapping[Channel, float]) -> np.ndarray:
        """Mesh target weights ``(n_mesh_targets,)`` float32 for one frame of AU values."""
        return self._apply(mix_frame(values, self.profile))

    def curves(self, curves: AUCurves) -> np.ndarray:
        """Mesh target weights ``(n_frames, n_mesh_targets)`` float32 for AU curves."""
        return self._apply(mix(curves, self.profile).weights)


def make_driver(profile: RigProfile, mesh_target_names: Sequence[str]) -> Driver:
    """Pair a profile's targets with a mesh's target names (exact, then convention-insensitive).

    Raises
    ------
    RigError
        When the profile drives none of the mesh's targets.
    """
    matched = match_names(profile.targets, mesh_target_names)
    position = {name: i for i, name in enumerate(mesh_target_names)}
    columns = np.full(len(mesh_target_names), len(profile.targets), np.int64)  # last = zero column
    for target, found in matched.matched.items():
        for name in found:
            if columns[position[name]] == len(profile.targets):
                columns[position[name]] = profile.targets.index(target)
    if not (columns < len(profile.targets)).any():
        sample = ", ".join(list(mesh_target_names)[:5]) or "none"
        raise RigError(
            f"rig profile {profile.name!r} drives none of the mesh's morph targets "
            f"(it has: {sample}); choose another with --rig"
        )
    return Driver(profile, columns, len(mesh_target_names))


def bind_node_motion(rig: RenderRig, driver: Driver) -> tuple[RenderRig, Driver]:
    """Give ``rig`` the profile's node motion (gaze) for the nodes it has, named by mesh target.

    A motion's profile target drives the mesh target the driver maps it to; a target the mesh
    lacks is added as a target that moves no vertex, so its weight still reaches the renderer.
    Rigs without the named nodes are returned unchanged.
    """
    from dataclasses import replace

    from facs_rig.core.mesh import MorphMesh

    profile = driver.profile
    nodes = {part.node for part in rig.moving_parts}
    motions = [m for m in profile.node_motions if m.node in nodes]
    if not motions:
        return rig, driver
    names = list(rig.mesh.target_names)
    extra = []
    bound = []
    for motion in motions:
        column = profile.targets.index(motion.target)
        found = [names[k] for k in np.flatnonzero(driver.columns == column)]
        if not found:
            if motion.target not in names and motion.target not in extra:
                extra.append(motion.target)
            found = [motion.target]
        bound.append(replace(motion, target=found[0]))
    mesh = rig.mesh
    if extra:
        n = mesh.n_vertices
        mesh = MorphMesh(name=mesh.name, positions=mesh.positions, faces=mesh.faces,
                         target_names=tuple(names + extra),
                         deltas=np.concatenate([mesh.deltas, np.zeros((len(extra), n, 3), np.float32)]),
                         normals=mesh.normals, metadata=mesh.metadata)
        columns = np.concatenate([driver.columns, [profile.targets.index(t) for t in extra]])
        driver = Driver(profile, columns.astype(np.int64), len(columns))
    return replace(rig, mesh=mesh, motions=tuple(bound)), driver


def code_values(
    text: str, vocabulary: Vocabulary, *, scale: str | None = None, intensity: float | None = None
) -> dict[Channel, float]:
    """AU channel values of a FACS code or expression name (``6+12D``, ``surprise``).

    ``intensity`` (0-1), when given, is the value of AUs coded without a letter; by default they
    take the scale's unscored letter (C). A blink or wink written without a letter (``45``) plays
    at E either way, as everywhere in facs-rig (FACS scores it only present).
    """
    code = vocabulary.parse(text)
    values = vocabulary.channel_values(code, scale)
    if intensity is not None:
        for term in code:
            if (term.intensity is None and term.channel in values
                    and vocabulary.scores_intensity(term.au)):
                values[term.channel] = float(intensity)
    return values


class FaceRenderer:
    """Renders poses of one rig from one fixed camera.

    Parameters
    ----------
    rig : RenderRig
        What to draw.
    width, height : int
        Image size in pixels.
    supersample : int
        Anti-aliasing factor (2 renders four samples per pixel; stills use 2, clips 1).
    yaw, pitch : float
        Camera orbit in degrees: a slight three-quarter view reads depth better than a frontal one.
    """

    def __init__(
        self,
        rig: RenderRig,
        *,
        width: int = 512,
        height: int = 512,
        supersample: int = 1,
        yaw: float = 12.0,
        pitch: float = 4.0,
    ):
        self.rig = rig
        self.supersample = supersample
        focus = np.asarray(rig.focus, np.float64)
        low, high = focus.min(axis=0), focus.max(axis=0)
        # The focus box's eight corners, so a turned camera sees the box's true extent.
        corners = np.array([[(low, high)[i >> k & 1][k] for k in range(3)] for i in range(8)])
        self.camera: Camera = frame_camera(
            corners, width=width, height=height, yaw=yaw, pitch=pitch, margin=1.0
        )
        self._deformer = Deformer(rig.mesh)
        self._faces = Topology.of(rig.mesh.faces)  # laid out once, not per frame
        self._occluders = Occluders()  # each frame draws the last one's visible triangles first

    @property
    def n_targets(self) -> int:
        """Number of morph targets the weights address."""
        return len(self.rig.mesh.target_names)

    def render(self, weights: np.ndarray | None = None) -> np.ndarray:
        """One ``(height, width, 3)`` uint8 image of the mesh posed by ``weights`` ``(n_targets,)``."""
        if weights is None:
            positions = self.rig.mesh.positions
        else:
            weights = np.asarray(weights, np.float32)
            positions = self.rig.move_nodes(self._deformer(weights), weights)
        return render(
            positions, self._faces, self.camera, colours=self.rig.colours, supersample=self.supersample,
            occluders=self._occluders,
        )

    def frames(
        self, weights: np.ndarray, *, progress: Callable[[int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """Images of successive poses ``(n_frames, n_targets)``; ``progress(k)`` after each."""
        for index, row in enumerate(np.asarray(weights, np.float32)):
            yield self.render(row)
            if progress is not None:
                progress(index + 1)


def side_by_side(left: np.ndarray, right: np.ndarray, *, gap: int = 4) -> np.ndarray:
    """Two images next to each other with a dark gap (neutral | pose)."""
    height = max(left.shape[0], right.shape[0])
    spacer = np.full((height, gap, 3), 20, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


# ----------------------------------------------------------------------------- high-level API


def choose_profile(
    name_or_path: str | None, mesh_target_names: Sequence[str], *, default: str | None = None
) -> RigProfile:
    """The rig profile to drive a mesh: the one named, else ``default``, else the best bundled fit.

    The best fit drives the most of the mesh's target names (ties: the bundled order).
    """
    from facs_rig.io.rig_files import list_rigs, load_rig

    if name_or_path is not None:
        return load_rig(name_or_path)
    if default is not None:
        return load_rig(default)
    best, best_count = None, 0
    for bundled in list_rigs():
        profile = load_rig(bundled.name)
        count = sum(len(found) for found in match_names(profile.targets, mesh_target_names).matched.values())
        if count > best_count:
            best, best_count = profile, count
    if best is None:
        sample = ", ".join(list(mesh_target_names)[:5]) or "none"
        raise RigError(
            f"no bundled rig profile fits the mesh's morph targets ({sample}); pass a profile file with --rig"
        )
    return best


@dataclass(frozen=True)
class PreviewSetup:
    """A rig, its profile driver and a renderer, ready for codes and timelines."""

    rig: RenderRig
    driver: Driver
    renderer: FaceRenderer


def preview_setup(
    mesh: str | None = None,
    rig: str | None = None,
    *,
    size: int = 512,
    supersample: int = 1,
    yaw: float = 12.0,
    pitch: float = 4.0,
) -> PreviewSetup:
    """Load a rig for previews: ``mesh`` (default: the bundled head) driven by ``rig``.

    The default head is driven by the ``facs`` profile; a user mesh by ``rig`` or, when omitted,
    the bundled profile that fits its target names best.
    """
    from facs_rig.render.scene import load_render_rig

    render_rig = load_render_rig(mesh)
    profile = choose_profile(rig, render_rig.mesh.target_names, default="facs" if mesh is None else None)
    driver = make_driver(profile, render_rig.mesh.target_names)
    render_rig, driver = bind_node_motion(render_rig, driver)
    renderer = FaceRenderer(
        render_rig, width=size, height=size, supersample=supersample, yaw=yaw, pitch=pitch
    )
    return PreviewSetup(render_rig, driver, renderer)


def render_code(
    setup: PreviewSetup,
    code: str,
    vocabulary: Vocabulary,
    *,
    side_by_side_neutral: bool = False,
    scale: str | None = None,
    intensity: float | None = None,
) -> np.ndarray:
    """One image of a FACS code or expression (neutral beside it when asked)."""
    values = code_values(code, vocabulary, scale=scale, intensity=intensity)
    image = setup.renderer.render(setup.driver.frame(values))
    if side_by_side_neutral:
        return side_by_side(setup.renderer.render(None), image)
    return image


def timeline_weights(
    setup: PreviewSetup, timeline, *, fps: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sample a timeline and mix it: ``(times (F,), weights (F, n_mesh_targets), fps)``."""
    from facs_rig.core.timeline import sample

    rate = float(fps or timeline.fps)
    curves = sample(timeline, fps=rate, channels=setup.driver.profile.channels)
    return curves.times, setup.driver.curves(curves), rate


@dataclass(frozen=True)
class Clip:
    """A clip ready to encode: frames rendered lazily, so a long timeline never sits in memory.

    Attributes
    ----------
    frames : iterator of (height, width, 3) uint8
        Rendered one at a time as the encoder asks for them (iterate once).
    n_frames : int
        How many ``frames`` yields.
    fps : float
        Frame rate.
    palette : (256, 3) uint8
        A GIF colour table from a sample of the clip's frames (neutral, evenly spaced, peak).
    """

    frames: Iterator[np.ndarray]
    n_frames: int
    fps: float
    palette: np.ndarray


def timeline_clip(
    setup: PreviewSetup,
    timeline,
    *,
    fps: float | None = None,
    side_by_side_neutral: bool = False,
    samples: int = 8,
    burn_in_origin: float | None = None,
    vocabulary: Vocabulary | None = None,
    neutral_beats: Sequence = (),
) -> Clip:
    """A timeline as a lazily rendered :class:`Clip` at ``fps`` (default: the timeline's).

    ``burn_in_origin``: caption every frame with its timecode (the timeline's 0 standing for
    that many seconds of timecode) and the code playing in ``vocabulary``'s terms
    (:mod:`facs_rig.render.captions`; the bundled vocabulary when None), with the words of the
    notes' ``neutral`` lines (``neutral_beats``, :class:`facs_rig.io.au_notes.NeutralBeat`)
    while the face relaxes.
    """
    from facs_rig.render.captions import band_lines, burn_in, frame_captions
    from facs_rig.render.encoders import palette_for

    times, weights, rate = timeline_weights(setup, timeline, fps=fps)
    if weights.shape[0] == 0:
        times, weights = np.zeros(1), np.zeros((1, setup.renderer.n_targets), np.float32)
    neutral = setup.renderer.render(None) if side_by_side_neutral else None
    captions = None
    if burn_in_origin is not None:
        if vocabulary is None:
            from facs_rig.resources import load_vocabulary

            vocabulary = load_vocabulary()
        captions = frame_captions(timeline, times, vocabulary, origin=burn_in_origin,
                                  neutral=neutral_beats)

    band: list[int] = []  # the caption band's lines, one height for the whole clip

    def compose(image: np.ndarray, frame: int = 0) -> np.ndarray:
        shown = side_by_side(neutral, image) if neutral is not None else image
        if captions is None:
            return shown
        if not band:
            band.append(band_lines(captions, shown.shape[1], shown.shape[0]))
        return burn_in(shown, captions[frame], lines=band[0])

    picks = np.unique(
        np.concatenate(
            [
                np.linspace(0, weights.shape[0] - 1, min(samples, weights.shape[0])).round().astype(int),
                [int(np.argmax(np.abs(weights).sum(axis=1)))],
            ]
        )
    )
    palette = palette_for(
        [compose(setup.renderer.render(weights[i]), i) for i in picks]
        + [compose(setup.renderer.render(None))]
    )
    frames = (compose(image, index) for index, image in enumerate(setup.renderer.frames(weights)))
    return Clip(frames, int(weights.shape[0]), rate, palette)


#: Momentary eye closures: AU45 blink and AU46 wink (FACS 2002, Ekman, Friesen & Hager: both
#: are brief closures scored present only). AU43 eyes closed is held, a pose the notes ask
#: for, so it is not among them.
MOMENTARY_CLOSURES = (45, 46)


def poster_index(times: np.ndarray, weights: np.ndarray, timeline, fps: float) -> int:
    """The frame a still of a whole timeline shows: its most active frame (largest sum of mesh
    weights) among those where no blink or wink (:data:`MOMENTARY_CLOSURES`) is closing the
    eyes; a blink mid-apex added its weight and won, showing the face with its eyes shut. When
    nothing moves outside the closures (notes of blinks only), the most active frame of all.

    Parameters
    ----------
    times : (F,) float
        Frame times, seconds.
    weights : (F, n_targets) float32
        Mesh weights of each frame.
    timeline : Timeline
        The timeline sampled into them (its blink and wink events are looked up).
    fps : float
        The rate it was sampled at.
    """
    from facs_rig.core.timeline import sample

    activity = weights.sum(axis=1)
    closures = sorted({event.channel for event in timeline.events
                       if event.channel.au in MOMENTARY_CLOSURES}, key=lambda c: c.sort_key)
    if closures:
        closing = sample(timeline, fps=fps, channels=closures).values[:times.shape[0]].max(axis=1) > 0
        open_frames = ~closing & (activity > 0)
        if open_frames.any():
            return int(np.argmax(np.where(open_frames, activity, -np.inf)))
    return int(np.argmax(activity))


def still_moment(setup: PreviewSetup, timeline, *, at: float | None = None) -> tuple[float, np.ndarray]:
    """``(time of the frame shown, its mesh weights (n_targets,))`` of a still of a timeline:
    the frame nearest ``at`` seconds, or the poster frame (:func:`poster_index`).

    Raises
    ------
    TimelineError
        For an ``at`` outside 0 to the timeline's duration (the duration ``timeline show``
        gives; its last frame may fall before it, 16.7917 s of 16.8 s at 24 fps).
    """
    from facs_rig.core.timeline import TIME_TOLERANCE

    times, weights, rate = timeline_weights(setup, timeline)
    if at is not None and not (-TIME_TOLERANCE <= at <= timeline.duration + TIME_TOLERANCE):
        # NaN would pick frame 0 silently (argmin of all-NaN); a moment off the timeline is a typo.
        raise TimelineError(f"at {at:g} s is outside the timeline (0-{timeline.duration:g} s)")
    if weights.shape[0] == 0:
        return 0.0, np.zeros(setup.renderer.n_targets, np.float32)
    index = (int(np.argmin(np.abs(times - at))) if at is not None
             else poster_index(times, weights, timeline, rate))
    return float(times[index]), weights[index]


def peak_frame(setup: PreviewSetup, timeline, *, at: float | None = None) -> np.ndarray:
    """Mesh weights of one moment of a timeline: ``at`` seconds, or its poster frame
    (:func:`still_moment`)."""
    return still_moment(setup, timeline, at=at)[1]


def render_still(
    setup: PreviewSetup,
    source: str,
    vocabulary: Vocabulary,
    *,
    at: float | None = None,
    side_by_side_neutral: bool = False,
    intensity: float | None = None,
) -> np.ndarray:
    """One image of a code, or of a timeline file's moment ``at`` (default: its most active frame).

    A code is rendered at exactly its values (``intensity`` replaces the value of AUs coded
    without a letter); a timeline file is read with ``load_timeline_argument``.
    """
    from facs_rig.io.timeline_files import load_timeline_argument, timeline_file_argument

    if timeline_file_argument(source, vocabulary) is None:  # a code (a missing file is refused)
        return render_code(setup, source, vocabulary, side_by_side_neutral=side_by_side_neutral,
                           intensity=intensity)
    return render_timeline_still(setup, load_timeline_argument(source, vocabulary), at=at,
                                 side_by_side_neutral=side_by_side_neutral)[1]


def render_timeline_still(setup: PreviewSetup, timeline, *, at: float | None = None,
                          side_by_side_neutral: bool = False) -> tuple[float, np.ndarray]:
    """``(time shown, (height, width, 3) uint8 image)`` of a timeline's moment ``at`` (default:
    its poster frame, :func:`still_moment`)."""
    time, weights = still_moment(setup, timeline, at=at)
    image = setup.renderer.render(weights)
    if side_by_side_neutral:
        image = side_by_side(setup.renderer.render(None), image)
    return time, image


def render_sheet(
    setup: PreviewSetup,
    codes: Sequence[str],
    vocabulary: Vocabulary,
    *,
    columns: int | None = None,
    scale: str | None = None,
    intensity: float | None = None,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """A contact sheet: each code (or expression name) rendered, labelled with its name and AU code."""
    from facs_rig.core.notation import format_code
    from facs_rig.render.sheet import contact_sheet

    tiles, lines = [], []
    for index, text in enumerate(codes):
        canonical = format_code(vocabulary.parse(text))
        name = labels[index] if labels is not None else text
        tiles.append(
            setup.renderer.render(
                setup.driver.frame(code_values(text, vocabulary, scale=scale, intensity=intensity))
            )
        )
        lines.append((name, canonical) if canonical != name else (name,))
    font_scale = 2 if setup.renderer.camera.width >= 256 else 1
    return contact_sheet(tiles, lines, columns=columns, scale=font_scale)


@dataclass(frozen=True)
class Beat:
    """One beat of a timeline: events sharing a start and phases (one line of AU notes).

    Attributes
    ----------
    start, apex_start : float
        Seconds of the beat's start and of its apex (a ``neutral`` beat's: when the face is
        at rest).
    code : str
        The beat's AUs as a FACS code (``4C+7B``), letters as written; ``0`` for ``neutral``.
    name : str or None
        The expression the director typed (``surprise``) while the beat still means it (the
        notes writer's rule, :func:`facs_rig.io.au_notes.named_beats`).
    comment : str or None
        The director's comment on the beat's line (``# she opens the letter``).
    """

    start: float
    apex_start: float
    code: str
    name: str | None = None
    comment: str | None = None


def timeline_beats(timeline, vocabulary: Vocabulary, *, neutral: Sequence = ()) -> list[Beat]:
    """The beats of a timeline in time order: its events grouped by start and phases, as the
    AU notes writer groups them into lines (to the nanosecond, the timeline's precision), each
    with its name and comment; and the ``neutral`` lines of its notes
    (:class:`facs_rig.io.au_notes.NeutralBeat`, which have no events), shown at the moment the
    face is back at rest (:func:`facs_rig.core.timeline.at_rest`)."""
    from facs_rig.core.notation import format_code
    from facs_rig.core.timeline import at_rest, code_of_events
    from facs_rig.io.au_notes import named_beats

    names = {indices: name for name, indices in named_beats(timeline, vocabulary)}
    groups: dict[tuple, list[int]] = {}
    for index, event in enumerate(timeline.events):
        key = tuple(round(value, 9) for value in (event.start, event.onset, event.apex, event.offset))
        groups.setdefault(key, []).append(index)
    beats = []
    for (start, onset, _, _), indices in sorted(groups.items()):
        events = [timeline.events[index] for index in indices]
        # Two lines at one time and phases are one face: their comments together.
        comments = list(dict.fromkeys(event.comment for event in events if event.comment))
        beats.append(Beat(start, round(start + onset, 9),
                          format_code(code_of_events(events, vocabulary)),
                          names.get(frozenset(indices)), " / ".join(comments) or None))
    for beat in neutral:
        beats.append(Beat(beat.rest.at, round(at_rest(beat.rest, timeline.events), 9), "0",
                          beat.expression, beat.comment or None))
    # Stable: a neutral line after the beats at its time, where the notes have it.
    return sorted(beats, key=lambda beat: beat.start)


def render_timeline_sheet(setup: PreviewSetup, timeline, beats: Sequence[Beat],
                          labels: Sequence[str], *, columns: int | None = None,
                          side_by_side_neutral: bool = False) -> np.ndarray:
    """A contact sheet of a timeline: one face per beat, the timeline's frame nearest the beat's
    apex start (so overlapping beats show as the face shows them), labelled with ``labels``
    (the beat's time) and :func:`beat_labels`."""
    from facs_rig.render.sheet import contact_sheet

    times, weights, _ = timeline_weights(setup, timeline)
    tiles, lines = [], []
    neutral = setup.renderer.render(None) if side_by_side_neutral else None
    font_scale = 2 if setup.renderer.camera.width >= 256 else 1
    beat_lines = beat_labels(beats, labels, setup.renderer.camera.width, font_scale)
    for beat, label in zip(beats, beat_lines):
        index = int(np.argmin(np.abs(times - min(beat.apex_start, timeline.duration))))
        if neutral is not None:
            tiles.append(neutral)
            lines.append(("neutral",))
        tiles.append(setup.renderer.render(weights[index]))
        lines.append(label)
    return contact_sheet(tiles, lines, columns=columns, scale=font_scale)


def beat_labels(beats: Sequence[Beat], moments: Sequence[str], width: int, scale: int
                ) -> list[tuple[str, ...]]:
    """The lines under each beat's face on a timeline sheet: its moment (``moments``), the name
    the director typed while the beat still means it, its code, and its comment cut to one line
    of ``width`` pixels at font ``scale`` (a sentence would take a tile's height in lines).
    The same line of every label holds the same thing (a beat without a name has an empty name
    line), and a line no beat has is left out.

    >>> beat_labels([Beat(19.0, 19.5, "R12C+R14C", "contempt",
    ...                   "the brother objects; she is not impressed"),
    ...              Beat(23.0, 24.0, "1+4+15")], ["19 s", "23 s"], 320, 2)
    [('19 s', 'contempt', 'R12C+R14C', 'the brother objects; she..'), ('23 s', '', '1+4+15', '')]
    >>> beat_labels([Beat(1.0, 1.3, "4B+7B")], ["1 s"], 320, 2)
    [('1 s', '4B+7B')]
    """
    from facs_rig.render.sheet import fit_text

    named = any(beat.name is not None for beat in beats)
    worded = any(beat.comment for beat in beats)
    return [(moment, *((beat.name or "",) if named else ()), beat.code,
             *((fit_text(beat.comment or "", width, scale),) if worded else ()))
            for beat, moment in zip(beats, moments)]
