"""The default head: geometry, target names, regions each AU moves, muscle primitives, determinism."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from conftest import REPO
from hypothesis import given
from hypothesis import strategies as st

from facs_rig.core.headgen import (
    HEAD_MOVEMENT_TARGETS,
    PART_NAMES,
    build_default_head,
    build_neutral_head,
    face_model,
)
from facs_rig.core.headgen.actions import (
    ACTIONS,
    action_displacement,
    available_targets,
    build_targets,
    corrective_displacement,
    parse_target_name,
)
from facs_rig.core.headgen.muscles import LinearMuscle, Sphincter, linear_muscle, rotation, slide, sphincter
from facs_rig.io.default_head import (
    build_head,
    default_head_target_names,
    default_ict_path,
    write_default_head,
)
from facs_rig.io.rig_files import load_rig

GLB = REPO / "rigs" / "default_head.glb"


@pytest.fixture(scope="module")
def neutral():
    return build_neutral_head()


@pytest.fixture(scope="module")
def model(neutral):
    return face_model(neutral)


ICT = default_ict_path()
needs_ict = pytest.mark.skipif(
    not ICT.exists(), reason=f"the ICT FaceKit head is not at {ICT} (../shared absent)"
)


@pytest.fixture(scope="module")
def head():
    if not ICT.exists():
        pytest.skip(f"the ICT FaceKit head is not at {ICT} (../shared absent)")
    return build_head()


def _index(head, name):
    return head.mesh.target_names.index(name)


def _nearest(positions, point):
    return int(np.argmin(np.linalg.norm(positions - np.asarray(point), axis=1)))


# ----------------------------------------------------------------------------- the neutral mesh


def test_neutral_head_has_every_part_and_enough_vertices(neutral):
    assert neutral.n_vertices >= 5000
    counts = np.bincount(neutral.parts, minlength=len(PART_NAMES))
    assert all(counts > 0), dict(zip(PART_NAMES, counts))
    assert neutral.faces.max() < neutral.n_vertices
    assert neutral.colours.shape == (neutral.n_vertices, 3)
    assert np.isfinite(neutral.positions).all()


def test_skin_is_closed_and_outward_facing(neutral):
    skin = neutral.parts == 0
    faces = neutral.faces.astype(np.int64)
    skin_faces = faces[skin[faces[:, 0]]]
    p = neutral.positions
    a, b, c = p[skin_faces[:, 0]], p[skin_faces[:, 1]], p[skin_faces[:, 2]]
    normals = np.cross(b - a, c - a)
    outward = np.sum(normals * ((a + b + c) / 3 - p[skin].mean(axis=0)), axis=1) > 0
    assert outward.mean() > 0.9
    # Every skin edge is shared by two faces except along the eye and mouth slits (open by design).
    edges = np.sort(
        np.concatenate([skin_faces[:, [0, 1]], skin_faces[:, [1, 2]], skin_faces[:, [2, 0]]]), axis=1
    )
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() == 2
    boundary = int((counts == 1).sum())
    slits = neutral.grid
    expected = 2 * (len(slits["mouth_upper"]) - 1) + 2 * (len(slits["eye_upper"]) - 2)
    assert boundary == expected


def test_lips_meet_in_the_neutral_face(neutral):
    """FACS neutral (code 0): lips together, so both lip margins coincide."""
    upper = neutral.positions[list(neutral.grid["mouth_upper"])]
    lower = neutral.positions[list(neutral.grid["mouth_lower"])]
    assert np.abs(upper - lower).max() < 1e-9


def test_eyes_are_open_and_lids_lie_on_the_eyeballs(neutral):
    landmarks = neutral.landmarks
    for side in "LR":
        centre = np.asarray(landmarks[f"eye_centre_{side}"])
        eye = neutral.positions[neutral.parts == PART_NAMES.index(f"eye_{side}")]
        radius = np.linalg.norm(eye - centre, axis=1)
        assert 0.0115 < radius.min() and radius.max() < 0.0135
        margins = [
            i
            for i in neutral.grid["eye_upper"]
            if np.sign(neutral.positions[i, 0]) == (1 if side == "L" else -1)
        ]
        lower = [
            i
            for i in neutral.grid["eye_lower"]
            if np.sign(neutral.positions[i, 0]) == (1 if side == "L" else -1)
        ]
        opening = neutral.positions[margins, 1].max() - neutral.positions[lower, 1].min()
        assert 0.007 < opening < 0.014  # palpebral fissure ~10 mm (Farkas 1994)


# ----------------------------------------------------------------------------- targets and names


def test_targets_are_the_facs_profile_including_head_movements(head):
    profile = load_rig("facs")
    assert head.mesh.target_names == tuple(profile.targets)
    assert set(HEAD_MOVEMENT_TARGETS) <= set(profile.targets)
    assert head.skipped == ()
    required = [
        1,
        2,
        4,
        5,
        6,
        7,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        20,
        22,
        23,
        24,
        25,
        26,
        27,
        28,
        38,
        39,
        43,
    ]
    names = set(head.mesh.target_names)
    for au in required:
        assert f"AU{au:02d}" in names or {f"AU{au:02d}_L", f"AU{au:02d}_R"} <= names, au
    for au in range(51, 59):
        assert f"AU{au}" in names
    for au in range(61, 65):
        assert f"AU{au}" in names


def test_every_target_moves_something_and_is_finite(head):
    moved = np.abs(head.mesh.deltas).max(axis=(1, 2))
    assert np.isfinite(head.mesh.deltas).all()
    assert (moved > 1e-4).all(), [n for n, m in zip(head.mesh.target_names, moved) if m <= 1e-4]


def test_unknown_target_names_are_skipped_not_invented(model):
    names, deltas, skipped = build_targets(model, ["AU12_L", "AU99", "mouthSmileLeft", "AU26_L", "AU12"])
    assert names == ("AU12_L",)
    assert deltas.shape == (1, model.positions.shape[0], 3)
    assert skipped == ("AU99", "mouthSmileLeft", "AU26_L", "AU12")


@given(st.text(max_size=24))
def test_parse_target_name_never_raises(text):
    parsed = parse_target_name(text)
    if parsed is not None:
        aus, side = parsed
        assert all(isinstance(au, int) and 0 <= au < 100 for au in aus) and side in (None, "L", "R")


def test_parse_target_name_examples():
    assert parse_target_name("AU06_AU12_L") == ((6, 12), "L")
    assert parse_target_name("AU26") == ((26,), None)
    assert parse_target_name("AU01_AU02_AU04_R") == ((1, 2, 4), "R")
    assert parse_target_name("AU1") is None and parse_target_name("_L") is None


# ----------------------------------------------------------------------------- regions


def _zone(model, au: int) -> np.ndarray:
    """Where FACS says an AU acts, from landmarks only (Ekman, Friesen & Hager 2002, ch. 2-6)."""
    p = model.positions
    eye_y = model.point("eye_centre_L")[1]
    nose_tip_y = model.point("nose_tip")[1]
    mouth_y = model.point("mouth_centre")[1]
    brow_y = model.point("brow_mid_L")[1]
    chin_y = model.point("menton")[1]
    front = p[:, 2] > 0.0
    upper_face = front & (p[:, 1] > eye_y - 0.022)  # brows, forehead, lids
    eyes = front & (np.abs(p[:, 1] - eye_y) < 0.035)  # lids and orbits
    mid_face = front & (p[:, 1] < brow_y + 0.02) & (p[:, 1] > mouth_y - 0.018)
    lower_face = p[:, 1] < nose_tip_y + 0.004  # below the nose tip (and inside the mouth)
    # The mandible: below the nose, and its ramus rising in front of the ear to the hinge (TMJ).
    hinge = model.point("jaw_hinge_L")
    jaw = (p[:, 1] < nose_tip_y - 0.004) | ((np.abs(p[:, 0]) > 0.04) & (p[:, 1] < hinge[1]))
    zones = {
        1: upper_face,
        2: upper_face,
        4: upper_face | (front & (p[:, 1] > eye_y - 0.03)),
        5: eyes,
        7: eyes,
        43: eyes,
        6: front & (p[:, 1] > mouth_y) & (p[:, 1] < brow_y + 0.03),
        9: front & (p[:, 1] > mouth_y - 0.012),  # nose, upper lip, glabella
        10: mid_face,
        11: mid_face,
        38: mid_face,
        39: mid_face,
        13: front & (p[:, 1] < eye_y - 0.005),
        12: front & (p[:, 1] < eye_y - 0.005),
        14: lower_face,
        15: lower_face,
        16: lower_face,
        17: lower_face & (p[:, 1] < mouth_y + 0.01),
        18: lower_face,
        20: lower_face,
        22: lower_face,
        23: lower_face,
        24: lower_face,
        25: lower_face,
        28: lower_face,
        34: lower_face | mid_face,
        35: lower_face | mid_face,
        19: jaw,
        26: jaw,
        27: jaw,
        29: jaw,
        30: jaw,
    }
    zone = zones[au]
    return zone & (p[:, 1] > chin_y - 0.08)


@pytest.mark.parametrize("au", sorted(a for a in ACTIONS if a < 50))
def test_each_au_moves_only_its_region(model, au):
    sides = ("L", "R") if f"AU{au:02d}_L" in available_targets() else (None,)
    for side in sides:
        moved = np.linalg.norm(action_displacement(model, au, side), axis=1) > 2e-5
        outside = moved & ~_zone(model, au)
        assert not outside.any(), (au, side, model.positions[outside][:5])
        if side is not None and au != 30:  # AU30's side is the jaw's direction, the whole jaw moves
            # A one-sided AU leaves the other half of the face alone (a 4 mm midline blend).
            sign = 1 if side == "L" else -1
            assert (sign * model.positions[moved, 0] > -0.0045).all(), (au, side)


def test_eye_and_head_rotations_move_only_what_they_rotate(model):
    eyes = model.part("eye_L") | model.part("eye_R")
    for au in (61, 62):
        moved = np.linalg.norm(action_displacement(model, au, None), axis=1) > 1e-9
        assert (moved == eyes).all()
    for au in (63, 64):  # the upper lids follow the gaze
        moved = np.linalg.norm(action_displacement(model, au, None), axis=1) > 1e-9
        assert eyes[moved].sum() == eyes.sum()
        lids = moved & ~eyes
        assert (np.abs(model.positions[lids, 1] - model.point("eye_centre_L")[1]) < 0.04).all()
    neck_base = model.positions[:, 1] < model.point("neck_pivot")[1] - 0.09
    for au in range(51, 59):
        displacement = action_displacement(model, au, None)
        assert np.abs(displacement[neck_base]).max() < 1e-12  # the neck's cut stays put


# ----------------------------------------------------------------------------- reads at a glance


def test_au4_lowers_the_brows_and_draws_them_together(model):
    for side, sign in (("L", 1), ("R", -1)):
        index = _nearest(model.positions, model.point(f"brow_inner_{side}"))
        move = action_displacement(model, 4, side)[index]
        assert move[1] < -0.002  # down
        assert sign * move[0] < -0.001  # towards the midline


def test_au12_pulls_the_corners_up_and_back(model):
    for side, sign in (("L", 1), ("R", -1)):
        index = _nearest(model.positions, model.point(f"mouth_corner_{side}"))
        move = action_displacement(model, 12, side)[index]
        assert move[1] > 0.006  # up
        assert sign * move[0] > 0.006  # out towards the ear
        assert move[2] < 0.0  # and back


def test_au26_drops_the_jaw_and_the_lower_teeth_with_it(model):
    displacement = action_displacement(model, 26, None)
    chin = _nearest(model.positions, model.point("chin"))
    assert displacement[chin, 1] < -0.012
    lower_teeth, upper_teeth = model.part("teeth_lower"), model.part("teeth_upper")
    assert displacement[lower_teeth, 1].max() < -0.003
    assert np.abs(displacement[upper_teeth]).max() == 0.0
    # A rigid rotation: distances between lower teeth are kept.
    teeth = model.positions[lower_teeth]
    moved = teeth + displacement[lower_teeth]
    assert np.allclose(
        np.linalg.norm(teeth[1:] - teeth[:-1], axis=1),
        np.linalg.norm(moved[1:] - moved[:-1], axis=1),
        atol=1e-9,
    )


def test_au43_closes_the_eye(model):
    margins = model.lid_margins
    for side in "LR":
        upper = np.asarray(margins[f"upper_{side}"])
        lower = np.asarray(margins[f"lower_{side}"])
        closed = model.positions + action_displacement(model, 43, side)
        gap_before = np.abs(model.positions[upper, 1] - model.positions[lower, 1]).max()
        gap_after = np.abs(closed[upper, 1] - closed[lower, 1]).max()
        assert gap_before > 0.007 and gap_after < 0.0015


def test_au25_parts_the_lips_and_au51_turns_the_face_left(model):
    upper = np.asarray(model.lid_margins["mouth_upper"])
    lower = np.asarray(model.lid_margins["mouth_lower"])
    parted = model.positions + action_displacement(model, 25, None)
    assert (parted[upper, 1] - parted[lower, 1]).max() > 0.004
    nose = _nearest(model.positions, model.point("nose_tip"))
    assert action_displacement(model, 51, None)[nose, 0] > 0.02  # towards the subject's left (+X)
    assert action_displacement(model, 61, None)[model.part("eye_L")][:, 0].max() > 0.003


def test_au27_target_completes_25_plus_26(model):
    from facs_rig.core.headgen.actions import au27_full

    total = (
        action_displacement(model, 25, None)
        + action_displacement(model, 26, None)
        + action_displacement(model, 27, None)
    )
    assert np.allclose(total, au27_full(model), atol=1e-12)


def test_correctives_are_the_combination_minus_its_parts(model):
    pair = corrective_displacement(model, (1, 2), "L")
    assert np.abs(pair).max() > 1e-4
    triple_alone = corrective_displacement(model, (1, 2, 4), "L")
    lower = {frozenset({1, 2}): pair, frozenset({1, 4}): corrective_displacement(model, (1, 4), "L")}
    triple = corrective_displacement(model, (1, 2, 4), "L", lower)
    assert np.allclose(triple, triple_alone - lower[frozenset({1, 2})] - lower[frozenset({1, 4})])
    # A left corrective leaves the right half alone.
    moved = np.linalg.norm(pair, axis=1) > 2e-5
    assert (model.positions[moved, 0] > -0.0045).all()


# ----------------------------------------------------------------------------- muscle primitives


def test_linear_muscle_follows_waters_zone_and_falloff():
    muscle = LinearMuscle("test", (0.0, 0.0, 0.0), (0.0, -0.05, 0.0), 30.0, 0.02, 0.01)
    points = np.array(
        [
            [0.0, -0.05, 0.0],  # the insertion: full pull
            [0.0, -0.025, 0.0],  # half way to the attachment: cos(pi/4)
            [0.0, -0.08, 0.0],  # beyond Rf = 0.07: nothing
            [0.05, -0.05, 0.0],  # 45 degrees off the axis, outside the 30-degree cone
            [0.0, 0.02, 0.0],  # behind the attachment
        ]
    )
    moved = linear_muscle(points, muscle)
    assert np.allclose(moved[0], [0.0, 0.01, 0.0])
    assert np.allclose(moved[1], [0.0, 0.01 * math.cos(math.pi / 4), 0.0])
    assert np.abs(moved[2:]).max() == 0.0


def test_sphincter_pulls_towards_its_centre_within_the_face():
    ring = Sphincter("test", (0.0, 0.0, 0.0), (0.02, 0.01), 0.5, 0.004)
    points = np.array([[0.02, 0.0, 0.0], [0.0, -0.01, 0.0], [0.2, 0.0, 0.0], [0.02, 0.0, -0.2]])
    moved = sphincter(points, ring)
    assert np.allclose(moved[0], [-0.004, 0.0, 0.0]) and np.allclose(moved[1], [0.0, 0.004, 0.0])
    assert np.abs(moved[2:]).max() == 0.0


def test_rotation_and_slide():
    points = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = points + rotation(points, np.zeros(3), (0.0, 1.0, 0.0), 90.0)
    assert np.allclose(turned, [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    tangent = slide(np.array([[1.0, 1.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]), bulge=0.5)
    assert np.allclose(tangent, [[1.0, math.sqrt(2) * 0.5, 0.0]])


# ----------------------------------------------------------------------------- the file


@needs_ict
def test_generator_is_deterministic(tmp_path):
    first, second = tmp_path / "a.glb", tmp_path / "b.glb"
    write_default_head(first)
    write_default_head(second)
    assert first.read_bytes() == second.read_bytes()


@needs_ict
def test_the_bundled_file_is_what_the_generator_builds(tmp_path):
    """``rigs/default_head.glb`` is current. Bytes are compared on the machine that built it (the
    generator's own determinism is the test above); elsewhere a libm may round a transcendental
    one ulp differently, so geometry is compared to a micrometre."""
    from facs_rig.io.gltf import read_gltf

    fresh = tmp_path / "fresh.glb"
    write_default_head(fresh)
    if hashlib.sha256(fresh.read_bytes()).digest() == hashlib.sha256(GLB.read_bytes()).digest():
        return
    bundled, built = read_gltf(GLB).meshes[0], read_gltf(fresh).meshes[0]
    assert bundled.target_names == built.target_names, "run python tools/build_default_head.py"
    assert np.array_equal(bundled.faces, built.faces), "run python tools/build_default_head.py"
    assert np.allclose(bundled.positions, built.positions, atol=1e-6), (
        "run python tools/build_default_head.py"
    )
    assert np.allclose(bundled.deltas, built.deltas, atol=1e-6), "run python tools/build_default_head.py"


def test_default_head_passes_the_khronos_validator():
    from gltf_validator import errors_and_warnings, validate_gltf

    report = validate_gltf(GLB)
    assert report["issues"]["numErrors"] == 0
    assert errors_and_warnings(report) == []


def test_default_head_reads_back_with_names_and_colours():
    from facs_rig.render.scene import load_render_rig

    rig = load_render_rig()
    assert rig.mesh.target_names == default_head_target_names()
    assert rig.mesh.n_vertices >= 5000
    assert rig.colours.shape == (rig.mesh.n_vertices, 3)
    assert len(np.unique(np.round(rig.colours, 2), axis=0)) > 20  # skin, lips, brows, eyes, teeth ...


def test_build_default_head_without_names_builds_every_recipe():
    head = build_default_head()
    assert head.mesh.target_names == available_targets()


# ----------------------------------------------------------------------------- nothing pokes through


#: Targets that part the lips or move the jaw (teeth, tongue and the mouth's inside may show):
#: upper-lip raisers 9 (levator labii alaeque nasi lifts the lip too), 10 and 11, lower-lip
#: depressor 16, 19, 22, lips part 25, the jaw's 26, 27, 29 (thrust) and 30 (sideways), and the
#: lip bite 32 (its point is the upper teeth on the lower lip).
#: Correctives are shapes only ever played with their parts.
_OPENING = ("AU09", "AU10", "AU16", "AU19", "AU22", "AU25", "AU26", "AU27", "AU29", "AU30", "AU32")


def test_closed_mouth_poses_show_no_teeth_tongue_or_mouth_inside(head):
    """Rendered from the front and both three-quarter sides, a pose that keeps the lips together
    shows the teeth, tongue or mouth socket at most through a hairline between the lips (ICT's
    scanned neutral has one): at most 2 pixels in any column and a few dozen in all, so nothing
    pierces the lips or cheeks."""
    from facs_rig.render.camera import frame_camera
    from facs_rig.render.raster import rasterize

    mesh = head.mesh
    inner_faces = np.isin(head.parts[mesh.faces[:, 0].astype(np.int64)], [3, 4, 5, 6])
    focus = mesh.positions[(head.parts == 0) & (mesh.positions[:, 2] > 0.06)]
    cameras = [frame_camera(focus, width=200, height=200, yaw=yaw) for yaw in (-35.0, 0.0, 35.0)]

    def inner_pixels(posed, *, per_column=False):
        counts = []
        for camera in cameras:
            x, y, depth = camera.project(posed)
            visible = rasterize(x, y, depth, mesh.faces.astype(np.int64), 200, 200)
            hit = np.flatnonzero(visible >= 0)
            inner = hit[inner_faces[visible[hit]]]
            columns = np.bincount(inner % 200, minlength=200)
            counts.append(int(columns.max()) if per_column else inner.size)
        return np.array(counts)

    rest = inner_pixels(mesh.positions)
    assert rest.max() <= 25  # a hairline, not an open mouth
    for index, name in enumerate(mesh.target_names):
        if name.startswith(_OPENING) or name.count("AU") > 1:
            continue
        posed = mesh.positions + mesh.deltas[index]
        assert (inner_pixels(posed, per_column=True) <= 2).all(), name
        assert (inner_pixels(posed) <= 40).all(), (name, inner_pixels(posed).tolist())
    # ... and the opening ones do open: the jaw drop shows teeth and mouth.
    assert (inner_pixels(mesh.positions + mesh.deltas[mesh.target_names.index("AU26")]) > rest + 100).all()
    # AU8 closes the lips over the dropped jaw (8+26): less of the mouth shows than with 26 alone.
    jaw = mesh.deltas[mesh.target_names.index("AU26")]
    closing = mesh.deltas[mesh.target_names.index("AU08")]
    assert (inner_pixels(mesh.positions + jaw + closing) < 0.5 * inner_pixels(mesh.positions + jaw)).all()


def test_the_muscle_model_rigs_another_head_from_its_landmarks(neutral):
    """Muscles are placed from landmarks, not absolute coordinates: a larger head elsewhere in
    space (a different neutral mesh with its own landmarks) gets the same actions."""
    from types import MappingProxyType

    from facs_rig.core.headgen.actions import FaceModel

    scale, shift = 1.12, np.array([0.03, 1.55, -0.02])  # e.g. a head on a standing body
    base = face_model(neutral)
    moved = FaceModel(
        neutral.positions * scale + shift,
        base.faces,
        neutral.parts,
        MappingProxyType({k: tuple(np.asarray(v) * scale + shift) for k, v in neutral.landmarks.items()}),
        base.lid_margins,
    )
    corner = _nearest(moved.positions, moved.point("mouth_corner_L"))
    smile = action_displacement(moved, 12, "L")[corner]
    assert smile[1] > 0.006 and smile[0] > 0.006 and smile[2] < 0.0
    chin = _nearest(moved.positions, moved.point("chin"))
    assert action_displacement(moved, 26, None)[chin, 1] < -0.012
    upper, lower = np.asarray(moved.lid_margins["upper_L"]), np.asarray(moved.lid_margins["lower_L"])
    closed = moved.positions + action_displacement(moved, 43, "L")
    assert np.abs(closed[upper, 1] - closed[lower, 1]).max() < 0.002


# ----------------------------------------------------------------------------- the ICT-based head


def test_bundled_head_is_small_and_carries_the_ict_notice():
    import json

    from facs_rig.io.gltf.container import read_gltf_source

    assert GLB.stat().st_size <= 12 * 1024 * 1024
    document = read_gltf_source(GLB).document
    assert "USC Institute for Creative Technologies" in document["asset"]["copyright"]
    assert "MIT" in document["asset"]["copyright"]
    licence = (REPO / "rigs" / "LICENSE-ICT-FaceKit").read_text(encoding="utf-8")
    assert "Copyright (c) 2020 USC Institute for Creative Technologies" in licence
    # Targets are sparse where they move little of the head: far fewer stored rows than dense.
    sparse = [a for a in document["accessors"] if "sparse" in a]
    assert len(sparse) >= 60
    json.dumps(document)  # plain JSON


def test_every_recipe_entry_says_how_and_why():
    from facs_rig.io.default_head import head_recipe

    recipe = head_recipe()
    for name, entry in recipe["targets"].items():
        assert entry["method"] in {"scan", "muscle", "blend", "head", "gaze"}, name
        assert len(entry["why"]) > 5, name
    for name, entry in recipe["correctives"].items():
        if isinstance(entry, dict):
            assert len(entry["why"]) > 5, name


def test_the_recipe_says_the_ict_heads_units_and_the_reader_uses_them():
    """source.units_to_metres is read (it was data nothing read): the ICT head's centimetres
    become metres by it, and a recipe without a usable value is refused by name."""
    from facs_rig.errors import RigError
    from facs_rig.io.default_head import head_recipe, read_ict_head, source_units_to_metres

    assert source_units_to_metres(head_recipe()) == 0.01
    for bad in ({}, {"source": {}}, {"source": {"units_to_metres": 0}},
                {"source": {"units_to_metres": True}}, {"source": {"units_to_metres": "0.01"}},
                {"source": {"units_to_metres": float("inf")}}):
        with pytest.raises(RigError, match="source.units_to_metres must be a positive number"):
            source_units_to_metres(bad)
    if not ICT.exists():
        pytest.skip(f"the ICT FaceKit head is not at {ICT} (../shared absent)")
    metres, file_units = read_ict_head(), read_ict_head(units_to_metres=1.0)
    np.testing.assert_array_equal(metres.positions, file_units.positions * 0.01)
    assert set(metres.pivots) == {"eyeball_L", "eyeball_R"}
    for name, pivot in metres.pivots.items():
        np.testing.assert_array_equal(pivot, file_units.pivots[name] * 0.01)
    name = next(iter(metres.scans))
    np.testing.assert_array_equal(metres.scans[name], file_units.scans[name] * 0.01)


def test_ict_head_actions_move_the_right_way(head):
    mesh, model = head.mesh, head.model
    p = mesh.positions

    def delta(name, point):
        return mesh.deltas[mesh.target_names.index(name)][_nearest(p, point)]

    corner = model.point("mouth_corner_L")
    smile = delta("AU12_L", corner)
    assert smile[1] > 0.004 and smile[2] < 0.0  # up and back (zygomaticus major)
    assert np.abs(mesh.deltas[mesh.target_names.index("AU12_L")][p[:, 0] < -0.02]).max() < 1e-3
    frown = delta("AU15_L", corner)
    assert frown[1] < -0.002
    brow = delta("AU04_L", model.point("brow_inner_L"))
    assert brow[1] < -0.002 and brow[0] < 0  # down and towards the midline
    chin = delta("AU26", model.point("chin"))
    assert chin[1] < -0.008
    lower_teeth = mesh.deltas[mesh.target_names.index("AU26")][head.parts == 4]
    assert lower_teeth[:, 1].mean() < -0.006
    upper_teeth = mesh.deltas[mesh.target_names.index("AU26")][head.parts == 3]
    assert np.abs(upper_teeth).max() == 0.0
    # The eyeballs are their own nodes (gaze turns them: tests/test_gaze_nodes.py); the gaze
    # targets keep ICT's scanned lid follow-through: AU61's upper lids move to the subject's left.
    assert [eye.mesh.name for eye in head.eyes] == ["eyeball_L", "eyeball_R"]
    assert not np.isin(head.parts, [1, 2]).any()
    for side in "LR":
        lid = (np.abs(p[:, 0] - model.point(f"eye_centre_{side}")[0]) < 0.015) & (head.parts == 0) & (
            np.abs(p[:, 1] - model.point(f"eye_centre_{side}")[1] - 0.008) < 0.006)
        follow = mesh.deltas[mesh.target_names.index("AU61")][lid]
        assert follow[:, 0].max() > 0.0005 and follow[:, 0].mean() > 0.0
    # AU36 bulges one cheek over the tongue: the left cheek moves out, the right does not.
    bulge = mesh.deltas[mesh.target_names.index("AU36_L")]
    assert bulge[p[:, 0] > 0.02, 2].max() > 0.005
    assert np.abs(bulge[(p[:, 0] < -0.02) & (head.parts == 0)]).max() < 1e-3
    # The muscle-model targets (no ICT scan) move the skin where FACS puts them.
    ala = delta("AU38_L", model.point("ala_L"))
    assert ala[0] > 0.001
    assert np.linalg.norm(delta("AU13_L", corner)) > 0.003


def test_neck_tightener_and_jaw_clencher_move_neck_and_jaw(head):
    mesh, model, p = head.mesh, head.model, head.mesh.positions
    platysma = mesh.deltas[mesh.target_names.index("AU21_L")]
    top, bottom = model.point("platysma_top_L"), model.point("platysma_bottom_L")
    cord = _nearest(p, 0.5 * (top + bottom))
    assert np.linalg.norm(platysma[cord]) > 0.0015  # the cord stands out on the left of the neck
    assert np.abs(platysma[(p[:, 0] < -0.02) & (head.parts == 0)]).max() < 1e-3
    clench = mesh.deltas[mesh.target_names.index("AU31")]
    for side in "LR":
        belly = _nearest(p, model.point(f"masseter_{side}"))
        outward = clench[belly] @ (p[belly] - np.array([0.0, p[belly, 1], 0.0]))
        assert outward > 0 and np.linalg.norm(clench[belly]) > 0.002
    assert np.abs(clench[head.parts == 4]).max() == 0.0  # the teeth stay together


def test_a_duchenne_smile_lifts_the_lip_corners_at_least_as_far_as_the_smile_alone():
    """6+12 (happiness) is 12 with the cheek raised: on the bundled head its mouth corners must
    move at least as far as 12's alone and rise as far to within 0.5 mm (AU6 turns the pull a
    little backwards: at D the lift is 13.1 mm against 13.2). The 6+12 corrective used to
    saturate the whole summed displacement (10 mm tanh), so 12's own 22 mm corner pull was cut
    to 10 mm and 6E+12E read as a flatter smile than 12E (the corner's lift 14.7 mm -> 6.5 mm)."""
    from facs_rig import load_rig, load_vocabulary, mix_frame
    from facs_rig.io.gltf import read_gltf

    mesh = read_gltf(GLB).meshes[0]
    rig, vocabulary = load_rig("facs"), load_vocabulary()
    targets = [mesh.target_names.index(name) for name in rig.targets]

    def displacement(code):
        weights = mix_frame(vocabulary.channel_values(vocabulary.parse(code)), rig)
        return np.tensordot(weights, mesh.deltas[targets], axes=1)

    for side in "LR":
        corner = int(np.argmax(np.linalg.norm(mesh.deltas[mesh.target_names.index(f"AU12_{side}")], axis=1)))
        for letter in "CDE":
            smile = displacement(f"12{letter}")[corner]
            duchenne = displacement(f"6{letter}+12{letter}")[corner]
            assert smile[1] > 0.005, (side, letter, smile)
            assert duchenne[1] >= smile[1] - 0.0005, (side, letter, smile, duchenne)
            assert np.linalg.norm(duchenne) >= np.linalg.norm(smile), (side, letter)
