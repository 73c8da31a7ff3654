"""The default head looks right: the open mouth, the brows and lids of surprise and fear, in numbers.

These measure what a person sees in ``facs-rig sheet``: the faces are posed through the ``facs``
profile exactly as the previews pose them, and rasterised (the previews' own rasteriser) from the
front and at 30 degrees of yaw either way, slightly from above like the previews; each pixel is
classed by the ICT part of the triangle that wins it (skin, upper or lower teeth, gums, tongue,
mouth socket, eyeball). The thresholds sit between what the head showed before these checks
existed (the numbers in the comments: the lower incisors hidden behind the lower lip, the back
teeth as bright as the front ones, the brows 5 mm up at C) and what it shows now; see
``docs/default-head.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from facs_rig.core.mixing import mix_frame
from facs_rig.io.default_head import build_head, default_ict_path, read_ict_head
from facs_rig.io.rig_files import load_rig
from facs_rig.render.camera import Camera, frame_camera
from facs_rig.render.raster import rasterize, render

#: Pixel classes (index into ``_Scene.kinds``).
SKIN, TEETH_UPPER, TEETH_LOWER, GUMS, TONGUE, SOCKET, EYE, EYE_SOCKET = range(8)
#: The mouth's inside: what must never show through the lips or cheeks.
MOUTH_INSIDE = (TEETH_UPPER, TEETH_LOWER, GUMS, TONGUE, SOCKET)
SIZE = 320
YAWS = (-30.0, 0.0, 30.0)
EMFACS = ("happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt")


@dataclass(frozen=True)
class _Scene:
    """The face mesh and the eyeballs at rest, merged, with a class per vertex."""

    positions: np.ndarray  # (n, 3) the face mesh's neutral
    deltas: np.ndarray  # (n_targets, n, 3)
    eyes: np.ndarray  # (m, 3) both eyeballs, world positions
    faces: np.ndarray  # (f, 3) into the face mesh then the eyes
    kinds: np.ndarray  # (n + m,) class per vertex
    colours: np.ndarray  # (n + m, 3)
    names: tuple[str, ...]


def scene_from_head(head, ict_parts: np.ndarray) -> _Scene:
    """A scene from a built head and the ICT part name of each face-mesh vertex."""
    kinds = np.full(len(ict_parts), SKIN, np.int64)
    kinds[ict_parts == "teeth_upper"] = TEETH_UPPER
    kinds[ict_parts == "teeth_lower"] = TEETH_LOWER
    kinds[ict_parts == "gums_tongue"] = GUMS
    kinds[(ict_parts == "gums_tongue") & (np.asarray(head.parts) == 6)] = TONGUE
    kinds[ict_parts == "mouth_socket"] = SOCKET
    kinds[np.char.startswith(ict_parts.astype(str), "eye_socket")] = EYE_SOCKET
    n = len(kinds)
    faces = [head.mesh.faces.astype(np.int64)]
    eyes, eye_colours, offset = [], [], n
    for eye in head.eyes:
        faces.append(eye.mesh.faces.astype(np.int64) + offset)
        eyes.append(eye.mesh.positions.astype(np.float64) + eye.centre)
        eye_colours.append(eye.colours)
        offset += eye.mesh.n_vertices
    eye_points = np.concatenate(eyes)
    return _Scene(
        positions=head.mesh.positions.astype(np.float64),
        deltas=head.mesh.deltas,
        eyes=eye_points,
        faces=np.concatenate(faces),
        kinds=np.concatenate([kinds, np.full(len(eye_points), EYE)]),
        colours=np.concatenate([head.colours, *eye_colours]),
        names=tuple(head.mesh.target_names),
    )


@pytest.fixture(scope="module")
def built():
    if not default_ict_path().exists():
        pytest.skip(f"the ICT FaceKit head is not at {default_ict_path()} (../shared absent)")
    return build_head()


@pytest.fixture(scope="module")
def scene(built):
    return scene_from_head(built, read_ict_head().part_names[built.kept])


@pytest.fixture(scope="module")
def model(built):
    return built.model


def posed(scene: _Scene, code: str, vocabulary) -> np.ndarray:
    """World positions ``(n + m, 3)`` of the face posed by a code as the previews pose it."""
    profile = load_rig("facs")
    assert tuple(profile.targets) == scene.names
    weights = mix_frame(vocabulary.channel_values(vocabulary.parse(code)), profile).astype(np.float64)
    face = scene.positions + np.tensordot(weights, scene.deltas, axes=1)
    return np.concatenate([face, scene.eyes])


def camera(scene: _Scene, yaw: float, size: int = SIZE) -> Camera:
    """The previews' view of the face: framed on the front of the skin, 4 degrees from above."""
    skin = scene.positions[(scene.kinds[: len(scene.positions)] == SKIN) & (scene.positions[:, 2] > 0.06)]
    return frame_camera(skin, width=size, height=size, yaw=yaw, pitch=4.0)


@dataclass(frozen=True)
class _View:
    kind: np.ndarray  # (size * size,) class of the visible surface, -1 background
    x: np.ndarray  # (size * size,) the visible surface's x (metres; + is the subject's left), nan
    y: np.ndarray  # (size * size,) the visible surface's height (metres), nan
    skin_only: np.ndarray  # (size * size,) bool: the skin alone covers the pixel
    midline: float  # image column of the mouth's midline


def view(scene: _Scene, points: np.ndarray, yaw: float, size: int = SIZE) -> _View:
    """What the camera sees of ``points`` (the posed scene) at ``yaw``, pixel by pixel."""
    cam = camera(scene, yaw, size)
    px, py, depth = cam.project(points)
    visible = rasterize(px, py, depth, scene.faces, size, size)
    hit = visible >= 0
    first = scene.faces[np.where(hit, visible, 0), 0]
    kind = np.where(hit, scene.kinds[first], -1)
    x = np.where(hit, points[first, 0], np.nan)
    y = np.where(hit, points[first, 1], np.nan)
    skin_faces = scene.faces[scene.kinds[scene.faces[:, 0]] == SKIN]
    skin_only = rasterize(px, py, depth, skin_faces, size, size) >= 0
    mouth = points[: len(scene.positions)][scene.kinds[: len(scene.positions)] == TEETH_UPPER].mean(axis=0)
    column, _, _ = cam.project(np.array([[0.0, mouth[1], mouth[2] + 0.01]]))
    return _View(kind, x, y, skin_only, float(column[0]))


def incisor_pixels(v: _View, kind: int, side: int) -> int:
    """Visible pixels of one row's incisors (within 12 mm of the midline) on one side (+1: the
    subject's left)."""
    return int(((v.kind == kind) & (side * v.x > 0) & (np.abs(v.x) < 0.012)).sum())


# ----------------------------------------------------------------------------- the open mouth


@pytest.mark.parametrize("code", ["25E+26", "27", "1+2+5B+25E+26", "1+2+4+5+7+20+25E+26", "scream"])
@pytest.mark.parametrize("yaw", YAWS)
def test_a_dropped_jaw_shows_both_rows_of_incisors_on_both_sides(scene, vocabulary, code, yaw):
    """FACS 25+26 parts the lips with the jaw: the upper and the lower incisors both show, left
    and right of the midline, from the front and three-quarter views. At 320 px, per side: at
    least 14 pixels of each row and 27 of the lower one (before: 8 at 30 degrees for 26, surprise
    and fear, the lower incisors' edges only, 15-26 pixels; 0 for 27's far side. Now 15-98, lower
    29-54). 26 without 25 keeps the lips together (FACS 2002 scores 25 whenever they part), and
    a weaker 25 parts them less (25C+26 keeps 0.45 of the closure): surprise and fear are here
    with 25E, as EMFACS's prototypes allow; 26 alone is tested below."""
    v = view(scene, posed(scene, code, vocabulary), yaw)
    rows = (TEETH_UPPER, TEETH_LOWER)
    counts = {(row, side): incisor_pixels(v, row, side) for row in rows for side in (1, -1)}
    assert min(counts.values()) >= 14, counts
    assert min(counts[TEETH_LOWER, 1], counts[TEETH_LOWER, -1]) >= 27, counts


@pytest.mark.parametrize("code", ["26", "1+2+5B+26", "1+2+4+5+7+20+26"])
@pytest.mark.parametrize("yaw", YAWS)
def test_a_jaw_dropped_without_25_hides_the_lower_incisors(scene, vocabulary, code, yaw):
    """26 without 25 (and the EMFACS codes of surprise 1+2+5B+26 and fear 1+2+4+5+7+20+26, whose
    names play 25 with it: expressions.json) keeps the lips together (FACS 2002): the facs
    profile closes them with the AU08 target,
    so no lower incisor shows (before: 29-54 pixels a side). The upper incisors' edges still show
    in a narrow gap (19-29 pixels): the AU26 sculpt parts the lips more than AU08's closure undoes
    (rigs/facs.json metadata.choices)."""
    v = view(scene, posed(scene, code, vocabulary), yaw)
    assert incisor_pixels(v, TEETH_LOWER, 1) == incisor_pixels(v, TEETH_LOWER, -1) == 0


def test_a_closed_neutral_mouth_shows_no_incisors(scene, vocabulary):
    """The counterpart of the test above (it can fail): neutral shows at most the hairline between
    ICT's scanned lips (8 pixels)."""
    v = view(scene, posed(scene, "0", vocabulary), 0.0)
    assert max(incisor_pixels(v, row, side) for row in (TEETH_UPPER, TEETH_LOWER) for side in (1, -1)) <= 10


@pytest.mark.parametrize("code", ["surprise", "fear", "26", "happiness+25"])
def test_the_visible_teeth_are_symmetric_about_the_midline_from_the_front(scene, vocabulary, code):
    """From the front, each row of visible teeth spans as far left of the midline as right of it
    (the mouth is symmetric; a clump on one side is a defect)."""
    v = view(scene, posed(scene, code, vocabulary), 0.0)
    columns = np.arange(SIZE * SIZE) % SIZE + 0.5 - v.midline
    for row in (TEETH_UPPER, TEETH_LOWER):
        shown = columns[v.kind == row]
        if shown.size == 0:
            continue
        left, right = -shown.min(), shown.max()
        assert abs(left - right) <= 0.12 * max(left, right) + 1.5, (code, row, left, right)
        assert abs(int((shown < 0).sum()) - int((shown > 0).sum())) <= 0.2 * shown.size + 4, (code, row)


@pytest.mark.parametrize("code", ["surprise", "fear", "27"])
@pytest.mark.parametrize("yaw", (-30.0, 12.0, 30.0))
def test_the_back_teeth_are_in_the_mouths_shade(scene, vocabulary, code, yaw):
    """The lips and cheeks shade the inside of a real mouth: the teeth more than 16 mm from the
    midline (canines back) render at most 60 % as bright as the incisors, so the far side's teeth do
    not stand as a pale clump in the mouth corner. (Before: 88-104 %; now 26-38 %.)"""
    points = posed(scene, code, vocabulary)
    v = view(scene, points, yaw)
    image = render(points, scene.faces, camera(scene, yaw), colours=scene.colours).reshape(-1, 3)
    luminance = image.astype(np.float64) @ [0.2126, 0.7152, 0.0722]
    teeth = np.isin(v.kind, [TEETH_UPPER, TEETH_LOWER])
    front = luminance[teeth & (np.abs(v.x) < 0.008)]
    back = luminance[teeth & (np.abs(v.x) > 0.016)]
    assert front.size >= 20
    if back.size >= 5:
        assert back.mean() <= 0.6 * front.mean(), (back.mean(), front.mean())


@pytest.mark.parametrize("code", [*EMFACS, "26", "27", "25+26", "10+25", "12E+25"])
def test_nothing_inside_the_mouth_shows_where_the_skin_covers(scene, vocabulary, code):
    """No poke-through: where the skin alone would cover a pixel, no tooth, gum, tongue or mouth
    socket wins it (they would have come through the lips or cheeks), from the front and at
    30 degrees of yaw either way. The lips may open; they may not be pierced."""
    points = posed(scene, code, vocabulary)
    for yaw in YAWS:
        v = view(scene, points, yaw)
        through = np.isin(v.kind, MOUTH_INSIDE) & v.skin_only
        assert int(through.sum()) <= 1, (code, yaw, int(through.sum()))


# ----------------------------------------------------------------------------- brows and lids


def _landmark_lift(scene: _Scene, points: np.ndarray, model, name: str) -> float:
    index = int(np.argmin(np.linalg.norm(scene.positions - model.point(name), axis=1)))
    return float(points[index, 1] - scene.positions[index, 1])


@pytest.mark.parametrize(("code", "least_mm"), [("1+2", 5.5), ("surprise", 5.5), ("fear", 3.8)])
def test_surprise_and_fear_raise_the_brows(scene, model, vocabulary, code, least_mm):
    """AU1+2 at C raise the inner and middle brow a marked amount on both sides (before: 4.9 and
    5.0 mm in surprise, 3.2 and 2.6 mm in fear, where 4 pulls against them; then 6.3 and 6.3, 4.7
    and 4.1; now, a corrective never shortening a single pull, 6.3 and 6.8, 4.9 and 4.7)."""
    points = posed(scene, code, vocabulary)
    for side in "LR":
        for where in ("brow_inner", "brow_mid"):
            lift_mm = _landmark_lift(scene, points, model, f"{where}_{side}") * 1000
            assert lift_mm >= least_mm, (code, side, where, lift_mm)


def _eye_pixels(scene: _Scene, points: np.ndarray) -> int:
    return int((view(scene, points, 0.0, size=640).kind == EYE).sum())


@pytest.mark.parametrize(("code", "least_ratio"), [("5", 1.235), ("1+2+5", 1.27), ("fear", 1.11)])
def test_au5_widens_the_eyes(scene, vocabulary, code, least_ratio):
    """AU5 at C shows more of the eyeball between the lids: the visible eyeball area (from the
    front, 640 px) grows by at least the ratio (before: 1.222 for 5, 1.251 for 1+2+5, 1.094 for
    fear, where 7 tightens the lids; now 1.251, 1.291, 1.131: ICT's widening at 1.4x is the most
    the benchmark's magnitude band allows, and 5C is 0.55 of it)."""
    neutral = _eye_pixels(scene, posed(scene, "0", vocabulary))
    assert _eye_pixels(scene, posed(scene, code, vocabulary)) >= least_ratio * neutral


def lip_ripple(scene: _Scene, points: np.ndarray, below_lip_y: float, size: int = 640) -> float:
    """How much the lit skin under the lower lip ripples from side to side (sRGB levels, RMS).

    Rows of skin pixels 2-9 mm below the lower lip's contact point, within 12 mm of the midline,
    seen from the front: each row's luminance minus its own 9-pixel running mean (the smooth
    shading across the chin stays, the ripple from pixel to pixel goes into the number).
    """
    v = view(scene, points, 0.0, size=size)
    image = render(points, scene.faces, camera(scene, 0.0, size), colours=scene.colours).reshape(-1, 3)
    luminance = (image.astype(np.float64) @ [0.2126, 0.7152, 0.0722]).reshape(size, size)
    band = ((v.kind == SKIN) & (np.abs(v.x) < 0.012) & (v.y < below_lip_y - 0.002)
            & (v.y > below_lip_y - 0.009)).reshape(size, size)
    residuals = []
    kernel = np.ones(9) / 9
    for row in np.flatnonzero(band.any(axis=1)):
        columns = np.flatnonzero(band[row])
        if columns.size < 20 or columns[-1] - columns[0] + 1 != columns.size:
            continue
        values = luminance[row, columns]
        residuals.append((values - np.convolve(values, kernel, mode="same"))[4:-4])
    return float(np.sqrt(np.mean(np.concatenate(residuals) ** 2)))


@pytest.mark.parametrize("code", ["0", "surprise", "fear", "sadness"])
def test_the_skin_under_the_lower_lip_is_smooth(scene, model, vocabulary, code):
    """No tooth-like scallops under the lower lip (ICT's neutral mesh ripples by ~0.1 mm there,
    and lit it read as the lower teeth showing through the lip at 1024 px; the recipe's ``relax``
    smooths it). Before: RMS ripple 1.7-1.9 sRGB levels; now 0.56-0.86."""
    points = posed(scene, code, vocabulary)
    lip = int(np.argmin(np.linalg.norm(scene.positions - model.point("lower_lip"), axis=1)))
    assert lip_ripple(scene, points, float(points[lip, 1])) <= 1.15


def test_relax_names_a_landmark_the_recipe_has():
    """A ``relax`` region anchored on a landmark the recipe lacks is a recipe error, not a KeyError."""
    from facs_rig.core.headgen.ict import RecipeError, relax_neutral
    from facs_rig.io.default_head import head_recipe

    if not default_ict_path().exists():
        pytest.skip("../shared absent")
    recipe = head_recipe()
    region = dict(recipe["relax"]["regions"][0], below="lower_lipp")
    with pytest.raises(RecipeError, match="lower_lipp"):
        relax_neutral(read_ict_head(), dict(recipe, relax={"regions": [region]}))
    head = read_ict_head()
    relaxed = relax_neutral(head, recipe)
    moved = np.linalg.norm(relaxed.positions - head.positions, axis=1)
    # The ripple goes, the shape stays: at most ~1 mm, and only the skin from the lower lip's
    # lower half (its front point is the landmark) to the chin moves.
    assert 0.0002 < moved.max() < 0.0015
    lip_y = head.positions[np.isin(head.ict_vertex, [5514]), 1].mean()
    assert (head.positions[moved > 0, 1] < lip_y + 0.0016).all()
    assert (head.positions[moved > 0, 1] > lip_y - 0.014).all()
    assert set(head.part_names[moved > 0]) <= {"face", "head_neck"}
