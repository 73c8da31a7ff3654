"""Gaze as node rotation (issue 12 point 2): AU61-AU66 turn the default head's eyeball nodes.

The ``facs`` profile's ``node_motion`` says which node a target turns about which axis by how many
degrees (FACS 2002: 61 eyes left, 62 right, the subject's own; 63 up, 64 down; 65 walleye, each
eye outward; 66 cross-eye, each eye inward). ``bake`` writes rotation channels next to the weights,
``pose`` and the previews turn the eyes; rigs whose profile names no such node are unchanged.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require_tool, shared_asset
from gltf_validator import errors_and_warnings, validate_gltf
from interop_tools import bpy_python, node_modules

from facs_rig.cli import main
from facs_rig.core.mesh import MorphMesh
from facs_rig.core.nodes import NodeMotion, node_poses, quaternion_from_rotvec, rotation_matrices
from facs_rig.core.rig import rig_from_dict, validate_rig
from facs_rig.errors import RigValidationError
from facs_rig.io.gltf import write_glb
from facs_rig.io.gltf.accessors import read_accessor_float
from facs_rig.io.gltf.container import read_gltf_source
from facs_rig.io.rig_files import load_rig

HERE = Path(__file__).resolve().parent
HEAD = REPO / "rigs" / "default_head.glb"
#: A held code rises from 0 s, holds its apex from 0.3 s to 2.3 s, and falls by 2.8 s.
APEX_SECONDS = 1.0


def _quaternion(axis, degrees) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a right-handed turn about ``axis``."""
    half = math.radians(degrees) / 2
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.array([*(axis * math.sin(half)), math.cos(half)])


#: The apex quaternions (E = full intensity) the profile declares: glTF +Y up, +Z forward (the
#: face looks along +Z), +X the subject's left, so +Y by a positive angle looks to the left.
EXPECTED = {
    "61E": {"eyeball_L": _quaternion([0, 1, 0], 28.0), "eyeball_R": _quaternion([0, 1, 0], 28.0)},
    "63E": {"eyeball_L": _quaternion([1, 0, 0], -22.0), "eyeball_R": _quaternion([1, 0, 0], -22.0)},
    # Walleye: the left eye turns to the subject's left, the right eye to the right.
    "65E": {"eyeball_L": _quaternion([0, 1, 0], 20.0), "eyeball_R": _quaternion([0, 1, 0], -20.0)},
}


def _gaze_direction(quaternion) -> np.ndarray:
    """Where an eye looking along +Z at rest looks after the turn."""
    return rotation_matrices(np.asarray(quaternion))[:, 2]


# ------------------------------------------------------------------------------------- core


def test_ancestry_lists_the_nodes_that_carry_a_node_nearest_first_and_stops_on_a_cycle():
    from facs_rig.core.nodes import ancestry

    assert ancestry({0: 4, 4: 5, 5: 10}, 0) == (0, 4, 5, 10)
    assert ancestry({}, 3) == (3,)
    assert ancestry({1: 2, 2: 1}, 1) == (1, 2)  # invalid glTF: a cycle ends the chain


def test_one_target_turns_its_node_by_its_degrees_and_adds_with_others():
    motions = (NodeMotion("look_left", "eye", (0.0, 1.0, 0.0), 28.0),
               NodeMotion("look_up", "eye", (1.0, 0.0, 0.0), -22.0))
    weights = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [1.0, 1.0]])
    rest = {"eye": ((0.03, 0.04, 0.08), (0.0, 0.0, 0.0, 1.0)), "other": ((0, 0, 0), (0, 0, 0, 1))}
    (pose,) = node_poses(motions, ("look_left", "look_up"), weights, rest)
    assert pose.node == "eye"
    np.testing.assert_allclose(pose.rotation[0], [0, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(pose.rotation[1], _quaternion([0, 1, 0], 28.0), atol=1e-12)
    np.testing.assert_allclose(pose.rotation[2], _quaternion([0, 1, 0], 14.0), atol=1e-12)
    # Both at once: one turn by the summed rotation vector (looks left AND up).
    both = quaternion_from_rotvec(np.radians([-22.0, 28.0, 0.0]))
    np.testing.assert_allclose(pose.rotation[3], both, atol=1e-12)
    gaze = _gaze_direction(pose.rotation[3])
    assert gaze[0] > 0.4 and gaze[1] > 0.3
    np.testing.assert_allclose(pose.translation, np.tile([0.03, 0.04, 0.08], (4, 1)), atol=1e-15)


def test_a_pivoted_turn_carries_the_node_round_the_pivot_linearly_in_weight():
    pivot = (0.0, -0.09, -0.01)
    motions = (NodeMotion("turn", "eye", (0.0, 1.0, 0.0), 30.0, pivot=pivot),
               NodeMotion("forward", "eye", translation=(0.0, 0.0, 0.015)))
    origin = np.array([0.03, 0.04, 0.08])
    rest = {"eye": (origin, (0.0, 0.0, 0.0, 1.0))}
    (pose,) = node_poses(motions, ("turn", "forward"), np.array([[1.0, 0.0], [0.5, 1.0]]), rest)
    arm = origin - pivot
    full = rotation_matrices(_quaternion([0, 1, 0], 30.0)) @ arm + pivot
    np.testing.assert_allclose(pose.translation[0], full, atol=1e-12)
    # Half way the origin moves as a morph target moves the skin beside it: half the chord.
    np.testing.assert_allclose(pose.translation[1], origin + 0.5 * (full - origin) + [0, 0, 0.015],
                               atol=1e-12)
    np.testing.assert_allclose(pose.rotation[1], _quaternion([0, 1, 0], 15.0), atol=1e-12)


def test_nodes_the_file_lacks_or_no_column_drives_get_no_pose():
    motions = (NodeMotion("look", "eye", (0.0, 1.0, 0.0), 28.0),)
    assert node_poses(motions, ("look",), np.ones((2, 1)), {"head": ((0, 0, 0), (0, 0, 0, 1))}) == []
    assert node_poses(motions, ("other",), np.ones((2, 1)), {"eye": ((0, 0, 0), (0, 0, 0, 1))}) == []


# ------------------------------------------------------------------------------- profile


def test_the_facs_profile_declares_the_gaze_of_both_eyeballs():
    facs = load_rig("facs")
    by_target: dict[str, dict[str, NodeMotion]] = {}
    for motion in facs.node_motions:
        by_target.setdefault(motion.target, {})[motion.node] = motion
    for code, eyes in EXPECTED.items():
        target = f"AU{code[:2]}"
        for node, quaternion in eyes.items():
            motion = by_target[target][node]
            assert motion.pivot is None
            np.testing.assert_allclose(_quaternion(motion.axis, motion.degrees), quaternion, atol=1e-12)
    # 62, 64 and 66 are 61, 63 and 65 the other way.
    for a, b in (("AU61", "AU62"), ("AU63", "AU64"), ("AU65", "AU66")):
        for node in ("eyeball_L", "eyeball_R"):
            assert by_target[a][node].degrees == -by_target[b][node].degrees
    # The head movements carry the eyes about the same neck pivot the head's targets use.
    from facs_rig.core.headgen.ict import ict_face_model
    from facs_rig.io.default_head import default_ict_path, head_recipe, read_ict_head

    if default_ict_path().exists():
        neck = ict_face_model(read_ict_head(), head_recipe()).point("neck_pivot")
        for target in ("AU51", "AU52", "AU53", "AU54", "AU55", "AU56"):
            for motion in by_target[target].values():
                np.testing.assert_allclose(motion.pivot, neck, atol=1e-7)
    assert rig_from_dict(facs.to_dict()).node_motions == facs.node_motions


def test_profiles_without_node_motion_are_unchanged():
    arkit = load_rig("arkit")
    assert arkit.node_motions == () and "node_motion" not in arkit.to_dict()


@pytest.mark.parametrize("entry, message", [
    ({"node": "eye", "axis": [0, 0, 0], "degrees": 10}, "axis must not be zero"),
    ({"node": "eye", "axis": [1e-200, 0, 0], "degrees": 10}, "axis must not be zero"),
    ({"node": "eye", "axis": [0, 1], "degrees": 10}, "expected 3 finite numbers"),
    ({"node": "eye", "axis": [0, 1, 0], "degrees": 200}, "within ±180"),
    ({"node": "", "axis": [0, 1, 0], "degrees": 10}, "expected a node name"),
    ({"node": "eye"}, "an axis and degrees, or a translation"),
    ({"node": "eye", "pivot": [0, 0, 0], "translation": [0, 0, 1]}, "a pivot needs an axis"),
    ({"node": "eye", "axis": [0, 1, 0], "degrees": 10, "speed": 1}, "unknown field"),
])
def test_bad_node_motion_entries_are_named(entry, message):
    data = {"schema": "facs_rig.rig/1", "name": "t", "targets": ["look"],
            "action_units": {"AU61": [{"target": "look"}]}, "node_motion": {"look": [entry]}}
    issues = validate_rig(data)
    assert any(issue.path.startswith("node_motion.look[0]") and message in issue.message
               for issue in issues), issues
    with pytest.raises(RigValidationError):
        rig_from_dict(data)


def test_node_motion_must_name_a_target_of_the_rig():
    data = {"schema": "facs_rig.rig/1", "name": "t", "targets": ["look"],
            "action_units": {"AU61": [{"target": "look"}]},
            "node_motion": {"gaze": [{"node": "eye", "axis": [0, 1, 0], "degrees": 5}]}}
    assert [issue.path for issue in validate_rig(data)] == ["node_motion.gaze"]


# ---------------------------------------------------------------------------- default head


def test_the_default_head_has_eyeball_nodes_at_the_eye_centres():
    source = read_gltf_source(HEAD)
    nodes = {node["name"]: node for node in source.document["nodes"]}
    meshes = source.document["meshes"]
    for side, sign in (("L", 1.0), ("R", -1.0)):
        node = nodes[f"eyeball_{side}"]
        x, y, z = node["translation"]
        assert sign * x > 0.02 and 0.02 < y < 0.05 and z > 0.06  # in front, at eye height
        mesh = meshes[node["mesh"]]
        assert "targets" not in mesh["primitives"][0]
        points = read_accessor_float(source, mesh["primitives"][0]["attributes"]["POSITION"])
        radius = np.linalg.norm(points, axis=1)
        # The sclera is a sphere about the node's origin (ICT: radius 1.5773 cm).
        assert abs(np.percentile(radius, 90) - 0.0158) < 0.001
    assert HEAD.stat().st_size <= 12 * 2**20


# ------------------------------------------------------------------------------------ bake


def _apex_rotations(path: Path, seconds: float = APEX_SECONDS) -> dict[str, np.ndarray]:
    """Each rotated node's quaternion at ``seconds``, interpolated from the file's keys."""
    source = read_gltf_source(path)
    document = source.document
    (animation,) = document["animations"]
    result = {}
    for channel in animation["channels"]:
        if channel["target"]["path"] != "rotation":
            continue
        sampler = animation["samplers"][channel["sampler"]]
        assert sampler["interpolation"] == "LINEAR"
        times = read_accessor_float(source, sampler["input"])[:, 0]
        values = read_accessor_float(source, sampler["output"])
        assert values.shape == (times.size, 4)
        after = int(np.searchsorted(times, seconds))
        s = (seconds - times[after - 1]) / (times[after] - times[after - 1])
        value = (1 - s) * values[after - 1] + s * values[after]
        result[document["nodes"][channel["target"]["node"]]["name"]] = value / np.linalg.norm(value)
    return result


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_bake_turns_the_eyeballs_to_the_expected_quaternion_at_the_apex(tmp_path, code, capsys):
    output = tmp_path / "gaze.glb"
    assert main(["bake", code, "-o", str(output)]) == 0
    assert "rotation of 2 node(s) (eyeball_L, eyeball_R)" in capsys.readouterr().out
    rotations = _apex_rotations(output)
    assert set(rotations) == {"eyeball_L", "eyeball_R"}
    for node, expected in EXPECTED[code].items():
        np.testing.assert_allclose(rotations[node], expected, atol=2e-6)
    if code == "65E":  # walleye: each eye looks outward, away from the nose
        assert _gaze_direction(rotations["eyeball_L"])[0] > 0.3
        assert _gaze_direction(rotations["eyeball_R"])[0] < -0.3
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, \
        errors_and_warnings(report)


def test_bake_keys_rotations_like_the_weights(tmp_path):
    output = tmp_path / "gaze.glb"
    assert main(["bake", "61E", "--step", "-o", str(output)]) == 0
    source = read_gltf_source(output)
    (animation,) = source.document["animations"]
    paths = [channel["target"]["path"] for channel in animation["channels"]]
    assert paths == ["weights", "rotation", "rotation"]  # the head does not move: no translation
    assert {sampler["interpolation"] for sampler in animation["samplers"]} == {"STEP"}
    full = tmp_path / "full.glb"
    assert main(["bake", "61E", "--no-reduce", "-o", str(full)]) == 0
    reduced = tmp_path / "reduced.glb"
    assert main(["bake", "61E", "-o", str(reduced)]) == 0

    def rotation_keys(path):
        source = read_gltf_source(path)
        (animation,) = source.document["animations"]
        sampler = animation["samplers"][animation["channels"][1]["sampler"]]
        return source.document["accessors"][sampler["input"]]["count"]

    assert rotation_keys(reduced) < rotation_keys(full) == 85


def test_a_head_turn_carries_the_eyeballs_with_translation_keys(tmp_path):
    output = tmp_path / "turn.glb"
    assert main(["bake", "51E", "-o", str(output)]) == 0
    source = read_gltf_source(output)
    (animation,) = source.document["animations"]
    paths = sorted(channel["target"]["path"] for channel in animation["channels"])
    assert paths == ["rotation", "rotation", "translation", "translation", "weights"]


def test_rigs_without_the_gaze_nodes_bake_weights_only(tmp_path):
    # The facs profile on a rig without eyeball nodes, and the arkit profile on Face Cap's head.
    mesh = MorphMesh(name="face", positions=np.eye(3, dtype=np.float32),
                     faces=np.array([[0, 1, 2]], np.uint32), target_names=("AU61", "AU12_L"),
                     deltas=np.full((2, 3, 3), 0.01, np.float32))
    rig = tmp_path / "face.glb"
    write_glb([mesh], rig)
    for source_rig, argv in ((rig, ["--rig", "facs"]),
                             (shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb"), [])):
        output = tmp_path / "out.glb"
        assert main(["bake", "61E", "--mesh", str(source_rig), "-o", str(output), *argv]) == 0
        document = read_gltf_source(output).document
        assert {c["target"]["path"] for c in document["animations"][0]["channels"]} == {"weights"}


# ----------------------------------------------------------------------- players and importers


def test_threejs_plays_the_eye_rotation(tmp_path):
    output = tmp_path / "gaze.glb"
    assert main(["bake", "65E", "-o", str(output)]) == 0
    modules = node_modules("three")
    completed = subprocess.run([require_tool("node"), str(HERE / "threejs_mixer_check.mjs"), str(output),
                                str(APEX_SECONDS), str(modules.parent)],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    shown = json.loads(completed.stdout)
    for node, expected in EXPECTED["65E"].items():
        np.testing.assert_allclose(shown["nodes"][node]["quaternion"], expected, atol=2e-6)


def test_blender_imports_the_eye_rotation_as_the_eyeballs_active_action(tmp_path):
    output = tmp_path / "gaze.glb"
    assert main(["bake", "61E", "-o", str(output)]) == 0
    completed = subprocess.run([bpy_python(), str(HERE / "blender_import_check.py"), str(output),
                                str(APEX_SECONDS)], capture_output=True, text=True, timeout=300,
                               check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-2000:]
    transforms = json.loads(lines[-1][len("REPORT "):])["transforms"]
    x, y, z, w = EXPECTED["61E"]["eyeball_L"]
    for node in ("eyeball_L", "eyeball_R"):
        eye = transforms[node]
        assert eye["active_action"] == "61E" and eye["fcurves"] == ["rotation_quaternion"]
        # Blender is Z-up: the importer maps glTF (x, y, z) to (x, -z, y); w first.
        np.testing.assert_allclose(eye["rotation_quaternion"], [w, x, -z, y], atol=2e-6)


# ------------------------------------------------------------------------------ pose, preview


def test_previews_of_gaze_turn_the_eyes_and_only_the_eye_region_changes():
    from facs_rig.render.preview import preview_setup, render_code
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    setup = preview_setup(size=256)
    assert {m.node for m in setup.rig.motions} == {"eyeball_L", "eyeball_R"}
    neutral = render_code(setup, "0", vocabulary).astype(int)
    looking = render_code(setup, "61E", vocabulary).astype(int)
    changed = np.abs(looking - neutral).sum(axis=2) > 30
    rows, columns = np.nonzero(changed)
    assert changed.sum() > 100  # the irises moved
    # Everything that changed is in a band at eye height (lids follow, the rest stays).
    assert np.ptp(rows) < 0.2 * neutral.shape[0]
    # The irises (the darkest pixels of that band) move to the subject's left, the viewer's right.
    band = slice(rows.min(), rows.max() + 1)

    def iris_column(image):
        dark = image[band].sum(axis=2) < 250
        return np.nonzero(dark)[1].mean()

    assert iris_column(looking) > iris_column(neutral) + 2


def test_pose_writes_the_turned_eyeballs(tmp_path):
    from facs_rig.io.meshes import read_mesh

    rest, turned = tmp_path / "rest.ply", tmp_path / "turned.ply"
    assert main(["pose", "0", "--mesh", str(HEAD), "-o", str(rest)]) == 0
    assert main(["pose", "61E", "--mesh", str(HEAD), "-o", str(turned)]) == 0
    a, b = read_mesh(rest)[0], read_mesh(turned)[0]
    assert a.shape == b.shape
    source = read_gltf_source(HEAD)
    face_vertices = source.document["accessors"][
        source.document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]["count"]
    eyes = slice(face_vertices, None)
    moved = np.linalg.norm(b[eyes] - a[eyes], axis=1)
    assert moved.max() > 0.006  # the front of each eyeball swings ~28 degrees about its centre
    # Each eyeball turns rigidly about its centre: every vertex keeps its distance from it.
    nodes = {node["name"]: node for node in source.document["nodes"]}
    centre = np.asarray(nodes["eyeball_L"]["translation"])
    half = (a.shape[0] - face_vertices) // 2
    left_rest, left_turned = a[face_vertices:face_vertices + half], b[face_vertices:face_vertices + half]
    np.testing.assert_allclose(np.linalg.norm(left_turned - centre, axis=1),
                               np.linalg.norm(left_rest - centre, axis=1), atol=2e-6)
    assert (left_turned - left_rest)[left_rest[:, 2] > centre[2] + 0.01, 0].mean() > 0.004


def test_any_rig_whose_profile_declares_gaze_nodes_bakes_and_previews_them(tmp_path):
    """A user rig: a face with one morph target and an eye node without targets; its profile
    turns the eye for AU61 through a target the mesh does not have."""
    from facs_rig.render.preview import preview_setup
    from facs_rig.resources import load_vocabulary

    grid = np.array([[x, y, 0.0] for y in np.linspace(-0.1, 0.1, 9) for x in np.linspace(-0.08, 0.08, 9)],
                    np.float32)
    quads = [(r * 9 + c, r * 9 + c + 1, r * 9 + c + 10) for r in range(8) for c in range(8)]
    quads += [(r * 9 + c, r * 9 + c + 10, r * 9 + c + 9) for r in range(8) for c in range(8)]
    face = MorphMesh(name="face", positions=grid, faces=np.array(quads, np.uint32),
                     target_names=("smile",), deltas=np.full((1, 81, 3), 0.002, np.float32))
    # The "eye": a wedge in front of the face, its node at the eye centre.
    eye = MorphMesh(name="eye", positions=np.array([[-0.01, -0.01, 0.0], [0.01, -0.01, 0.0],
                                                    [0.0, 0.01, 0.0], [0.0, 0.0, 0.02]], np.float32),
                    faces=np.array([[0, 1, 2], [0, 1, 3], [1, 2, 3], [2, 0, 3]], np.uint32),
                    target_names=(), deltas=np.zeros((0, 4, 3), np.float32))
    rig = tmp_path / "user.glb"
    write_glb([face, eye], rig, node_translations=[None, [0.03, 0.03, 0.01]])
    profile = tmp_path / "user.json"
    profile.write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "user", "targets": ["smile", "look_left"],
        "action_units": {"AU12": [{"target": "smile"}], "AU61": [{"target": "look_left"}]},
        "node_motion": {"look_left": [{"node": "eye", "axis": [0, 1, 0], "degrees": 30}]}}))
    output = tmp_path / "baked.glb"
    assert main(["bake", "61E", "--mesh", str(rig), "--rig", str(profile), "-o", str(output)]) == 0
    rotations = _apex_rotations(output)
    assert list(rotations) == ["eye"]
    np.testing.assert_allclose(rotations["eye"], _quaternion([0, 1, 0], 30.0), atol=2e-6)
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)

    setup = preview_setup(str(rig), str(profile), size=96)
    assert [(m.node, m.target) for m in setup.rig.motions] == [("eye", "look_left")]
    vocabulary = load_vocabulary()
    rest = setup.rig.mesh.positions
    weights = setup.driver.frame(vocabulary.channel_values(vocabulary.parse("61E")))
    turned = setup.rig.move_nodes(rest, weights)
    (part,) = [part for part in setup.rig.moving_parts if part.node == "eye"]
    ((start, stop),) = part.ranges
    centre = np.array([0.03, 0.03, 0.01])
    expected = (rest[start:stop] - centre) @ rotation_matrices(_quaternion([0, 1, 0], 30.0)).T
    np.testing.assert_allclose(turned[start:stop], expected + centre, atol=1e-6)
    np.testing.assert_array_equal(turned[:start], rest[:start])  # the face stays
    # AU12 moves the face, not the eye: only node motion turns nodes.
    smile = setup.driver.frame(vocabulary.channel_values(vocabulary.parse("12E")))
    np.testing.assert_array_equal(setup.rig.move_nodes(rest, smile), rest)


def test_node_motion_folds_into_targets_for_clients_that_only_blend():
    from facs_rig.render.preview import preview_setup

    rig = preview_setup(size=64).rig
    folded = rig.motion_as_targets()
    assert folded.motions == () and folded.mesh.target_names == rig.mesh.target_names
    look = rig.mesh.target_names.index("AU61")
    weights = np.zeros(len(rig.mesh.target_names), np.float32)
    weights[look] = 1.0
    turned = rig.move_nodes(rig.mesh.deltas[look] + rig.mesh.positions, weights)
    # At full weight the folded target puts every vertex where the node rotation does.
    np.testing.assert_allclose(folded.mesh.positions + folded.mesh.deltas[look], turned, atol=2e-6)
    moving = {motion.target for motion in rig.motions}
    assert moving == {f"AU{au}" for au in (*range(51, 59), *range(61, 67))}
    untouched = [k for k, name in enumerate(rig.mesh.target_names) if name not in moving]
    np.testing.assert_array_equal(folded.mesh.deltas[untouched], rig.mesh.deltas[untouched])


@pytest.mark.parametrize("node", [
    {"name": ["eye"], "mesh": 1},  # not a string
    {"name": "eye", "mesh": 1, "translation": [1e308, 1e308, 0.0]},  # beyond float32 once moved
    {"name": "eye", "mesh": 1, "matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]},
])
def test_nodes_that_cannot_be_turned_are_left_alone(tmp_path, node):
    face = MorphMesh(name="face", positions=np.eye(3, dtype=np.float32),
                     faces=np.array([[0, 1, 2]], np.uint32), target_names=("AU61",),
                     deltas=np.full((1, 3, 3), 0.01, np.float32))
    eye = MorphMesh(name="eye", positions=np.eye(3, dtype=np.float32) * 0.01,
                    faces=np.array([[0, 1, 2]], np.uint32), target_names=(),
                    deltas=np.zeros((0, 3, 3), np.float32))
    rig = tmp_path / "rig.glb"
    write_glb([face, eye], rig)
    source = read_gltf_source(rig)
    document = dict(source.document, nodes=[source.document["nodes"][0], node])
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "p", "targets": ["AU61"],
        "action_units": {"AU61": [{"target": "AU61"}]},
        "node_motion": {"AU61": [{"node": "eye", "axis": [0, 1, 0], "degrees": 28,
                                  "pivot": [0, 0, -1]}]}}))
    from facs_rig.io.gltf.writer import write_gltf_document

    hostile = tmp_path / "hostile.glb"
    write_gltf_document(document, source.buffers[0], hostile)
    output = tmp_path / "out.glb"
    assert main(["bake", "61E", "--mesh", str(hostile), "--rig", str(profile), "-o", str(output)]) == 0
    paths = {c["target"]["path"] for c in read_gltf_source(output).document["animations"][0]["channels"]}
    assert paths == {"weights"}


# -------------------------------------------- eye nodes whose meshes sit on child nodes (Face Cap)

#: Face Cap's ``eyeLeft``/``eyeRight`` show no mesh: each eyeball mesh sits on an unnamed child
#: node (nodes 0 and 1), as in many real exports. ``eyeLeft`` is at world -X: the subject's RIGHT
#: eye (the face looks along +Z, +X is the subject's left). Their parent is turned ~98 degrees
#: about +X (grp_scale's 90 plus grp_eyeLeft's tilt), so the parent's -Z is about world +Y and
#: +25 degrees about [0, 0, -1] turns an eye to the subject's left.
FACECAP_GAZE = {
    "schema": "facs_rig.rig/1", "name": "facecap_gaze",
    "targets": ["eyeLookOut_L", "eyeLookIn_R", "jawOpen"],
    "action_units": {"AU61": [{"target": "eyeLookOut_L"}, {"target": "eyeLookIn_R"}],
                     "AU26": [{"target": "jawOpen"}]},
    "node_motion": {"eyeLookOut_L": [{"node": "eyeRight", "axis": [0, 0, -1], "degrees": 25}],
                    "eyeLookIn_R": [{"node": "eyeLeft", "axis": [0, 0, -1], "degrees": 25}]},
}
FACECAP_EYE_MESH_NODES = {"eyeLeft": 0, "eyeRight": 1}


@pytest.fixture(scope="module")
def facecap_gaze(tmp_path_factory):
    """Face Cap, the gaze profile, and where three.js puts each eyeball's vertices (world space)
    when it plays ``bake 61E`` at the apex: the reference pose and the previews must match."""
    from facs_rig.io.gltf import read_gltf, world_matrices
    from facs_rig.io.gltf.reader import node_mesh

    folder = tmp_path_factory.mktemp("facecap_gaze")
    rig = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    profile = folder / "facecap_gaze.json"
    profile.write_text(json.dumps(FACECAP_GAZE))
    baked = folder / "eyes61.glb"
    assert main(["bake", "61E", "--mesh", str(rig), "--rig", str(profile), "-o", str(baked)]) == 0
    report = validate_gltf(baked)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, \
        errors_and_warnings(report)
    completed = subprocess.run([require_tool("node"), str(HERE / "threejs_mixer_check.mjs"), str(baked),
                                str(APEX_SECONDS), str(node_modules("three").parent)],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    shown = json.loads(completed.stdout)["nodes"]
    source = read_gltf(rig).source
    nodes = [dict(node) for node in source.document["nodes"]]
    rest_world = world_matrices(source)
    for name in FACECAP_EYE_MESH_NODES:
        np.testing.assert_allclose(shown[name]["quaternion"], _quaternion([0, 0, -1], 25.0), atol=2e-6)
        (index,) = [i for i, node in enumerate(nodes) if node.get("name") == name]
        nodes[index]["rotation"] = shown[name]["quaternion"]
    from dataclasses import replace

    played_world = world_matrices(replace(source, document={**source.document, "nodes": nodes}))
    rest, played = {}, {}
    for name, mesh_node in FACECAP_EYE_MESH_NODES.items():
        local = node_mesh(source, mesh_node).positions.astype(np.float64)
        for table, matrices in ((rest, rest_world), (played, played_world)):
            matrix = matrices[mesh_node]
            table[name] = local @ matrix[:3, :3].T + matrix[:3, 3]
    # Both eyes look to the subject's left (+X): the front of each eyeball swings that way.
    for name in FACECAP_EYE_MESH_NODES:
        front = rest[name][:, 2] > np.percentile(rest[name][:, 2], 90)
        assert (played[name] - rest[name])[front, 0].mean() > 0.02
    return rig, profile, rest, played


def test_pose_writes_and_turns_eyeball_meshes_on_children_of_the_turned_nodes(tmp_path, facecap_gaze):
    from facs_rig.io.gltf import read_gltf
    from facs_rig.io.gltf.reader import node_mesh

    rig, profile, rest, played = facecap_gaze
    output = tmp_path / "pose61.glb"
    assert main(["pose", "61E", "--mesh", str(rig), "--rig", str(profile), "-o", str(output)]) == 0
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, \
        errors_and_warnings(report)
    source = read_gltf(output).source
    # The morph mesh (the head) first, then the meshes the turned nodes carry, in node order.
    assert [node["name"] for node in source.document["nodes"]] == ["mesh_2", "mesh_0", "mesh_1"]
    for index, name in ((1, "eyeLeft"), (2, "eyeRight")):
        np.testing.assert_allclose(node_mesh(source, index).positions, played[name], atol=2e-6)
    neutral = tmp_path / "pose0.glb"
    assert main(["pose", "0", "--mesh", str(rig), "--rig", str(profile), "-o", str(neutral)]) == 0
    np.testing.assert_allclose(node_mesh(read_gltf(neutral).source, 1).positions, rest["eyeLeft"],
                               atol=2e-6)


def test_previews_turn_eyeball_meshes_on_children_of_the_turned_nodes(facecap_gaze):
    from facs_rig.render.preview import preview_setup, render_code
    from facs_rig.resources import load_vocabulary

    rig, profile, rest, played = facecap_gaze
    vocabulary = load_vocabulary()
    setup = preview_setup(str(rig), str(profile), size=128)
    assert {m.node for m in setup.rig.motions} == {"eyeLeft", "eyeRight"}
    positions = setup.rig.mesh.positions
    turned = setup.rig.move_nodes(positions, setup.driver.frame(
        vocabulary.channel_values(vocabulary.parse("61E"))))
    for name, mesh_node in FACECAP_EYE_MESH_NODES.items():
        mesh_index = read_gltf_source(rig).document["nodes"][mesh_node]["mesh"]
        (part,) = [p for p in setup.rig.parts if p.mesh_index == mesh_index]
        eye = slice(part.first_vertex, part.first_vertex + part.n_vertices)
        np.testing.assert_allclose(positions[eye], rest[name], atol=2e-6)
        np.testing.assert_allclose(turned[eye], played[name], atol=2e-6)
    changed = np.linalg.norm(turned - positions, axis=1) > 0
    assert changed.sum() == sum(len(points) for points in rest.values())  # the eyes, nothing else
    # The rendered image changes (it was identical to the profile without node motion).
    assert not np.array_equal(render_code(setup, "61E", vocabulary), render_code(setup, "0", vocabulary))


def test_a_turned_eye_carried_by_a_turned_head_lands_where_the_posed_hierarchy_puts_it(tmp_path):
    """Nested moving nodes: the head node turns (AU51) and carries the eye node, which turns in
    its socket (AU61); the eyeball mesh sits on the eye's child. The preview must put every
    eyeball vertex where ``pose`` (the file's node hierarchy, re-evaluated) does."""
    from facs_rig.io.gltf import read_gltf
    from facs_rig.io.gltf.reader import node_mesh
    from facs_rig.io.gltf.writer import write_gltf_document
    from facs_rig.render.preview import preview_setup
    from facs_rig.resources import load_vocabulary

    face = MorphMesh(name="face", positions=np.array([[-0.1, -0.1, 0], [0.1, -0.1, 0], [0, 0.1, 0]],
                                                     np.float32),
                     faces=np.array([[0, 1, 2]], np.uint32), target_names=("smile",),
                     deltas=np.full((1, 3, 3), 0.002, np.float32))
    eye = MorphMesh(name="eyeball", positions=np.array([[-0.01, -0.01, 0.0], [0.01, -0.01, 0.0],
                                                        [0.0, 0.01, 0.0], [0.0, 0.0, 0.02]], np.float32),
                    faces=np.array([[0, 1, 2], [0, 1, 3], [1, 2, 3], [2, 0, 3]], np.uint32),
                    target_names=(), deltas=np.zeros((0, 4, 3), np.float32))
    flat = tmp_path / "flat.glb"
    write_glb([face, eye], flat)
    source = read_gltf_source(flat)
    document = dict(source.document)
    document["nodes"] = [*document["nodes"],
                         {"name": "eye", "translation": [0.03, 0.03, 0.01], "children": [1]},
                         {"name": "head", "translation": [0.0, 0.0, -0.05],
                          "rotation": [0.0, 0.0, 0.2588190451, 0.9659258263], "children": [2]}]
    document["scenes"] = [{"nodes": [0, 3]}]
    rig = tmp_path / "nested.glb"
    write_gltf_document(document, source.buffers[0], rig)
    profile = tmp_path / "nested.json"
    profile.write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "nested", "targets": ["smile", "turn", "look"],
        "action_units": {"AU12": [{"target": "smile"}], "AU51": [{"target": "turn"}],
                         "AU61": [{"target": "look"}]},
        "node_motion": {"turn": [{"node": "head", "axis": [0, 1, 0], "degrees": 40}],
                        "look": [{"node": "eye", "axis": [1, 0, 0], "degrees": 30}]}}))
    posed = tmp_path / "posed.glb"
    assert main(["pose", "51E+61E", "--mesh", str(rig), "--rig", str(profile), "-o", str(posed)]) == 0
    expected = node_mesh(read_gltf(posed).source, 1).positions

    vocabulary = load_vocabulary()
    setup = preview_setup(str(rig), str(profile), size=64)
    turned = setup.rig.move_nodes(setup.rig.mesh.positions, setup.driver.frame(
        vocabulary.channel_values(vocabulary.parse("51E+61E"))))
    np.testing.assert_allclose(turned[3:], expected, atol=2e-6)
    assert np.abs(turned[3:] - setup.rig.mesh.positions[3:]).max() > 0.01
