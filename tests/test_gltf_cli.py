"""The glTF commands end to end: bake, pose, rig detect (real rigs where present)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, shared_asset
from gltf_samples import quad_rig
from gltf_validator import errors_and_warnings, validate_gltf

from facs_rig.cli import main
from facs_rig.core.deform import Deformer
from facs_rig.core.keyframes import interpolate_keys
from facs_rig.core.mixing import mix, mix_frame
from facs_rig.core.timeline import sample
from facs_rig.io.gltf import read_gltf, read_gltf_source, world_matrices
from facs_rig.io.gltf.accessors import read_accessor_float
from facs_rig.io.gltf.matching import match_rig
from facs_rig.io.meshes import read_mesh
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_files import load_timeline_argument

ICT = "rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb"
FACECAP = "rigs/facecap/facecap_decoded_float_notextures.glb"


def first_weights_animation(path):
    source = read_gltf_source(path)
    animation = source.document["animations"][0]
    sampler = animation["samplers"][animation["channels"][0]["sampler"]]
    times = read_accessor_float(source, sampler["input"])[:, 0]
    values = read_accessor_float(source, sampler["output"])[:, 0].reshape(times.size, -1)
    return animation, sampler, times, values


def test_rig_detect_names_arkit_for_ict(capsys):
    path = shared_asset(ICT)
    assert main(["rig", "detect", str(path)]) == 0
    out = capsys.readouterr().out
    # "matches", and how many are driven: ARKit maps no FACS code to mouthLeft/mouthRight.
    assert out.splitlines()[:3] == [
        "best fit: arkit (matches 53/53 file targets, 51 of them driven; 98% of the profile)",
        "rig        file targets matched  driven  profile targets found",
        "---------  --------------------  ------  ---------------------"]
    assert out.splitlines()[3].split() == ["arkit", "53/53", "51", "51/52", "(98%)"]
    assert main(["rig", "detect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["best"] == "arkit"
    arkit = report["profiles"][0]
    assert arkit["missing"] == ["tongueOut"]
    assert (arkit["matched_file_targets"], arkit["driven_file_targets"]) == (53, 51)
    assert arkit["undriven_file_targets"] == ["mouthRight", "mouthLeft"]
    assert arkit["matched"]["browInnerUp"] == ["browInnerUp_L", "browInnerUp_R"]


def test_rig_detect_with_a_profile_reports_unmatched(capsys):
    path = shared_asset("rigs/khronos/MorphStressTest/glTF/MorphStressTest.gltf")
    assert main(["rig", "detect", str(path), "--rig", "arkit"]) == 0
    out = capsys.readouterr().out
    assert "matches 0 of the file's 8 targets, 0 of them driven by FACS codes" in out
    assert "file targets left at 0: Key 1, Key 2" in out


def test_bake_code_onto_ict_detects_arkit_and_validates(tmp_path, capsys, vocabulary):
    path = shared_asset(ICT)
    output = tmp_path / "happy.glb"
    assert main(["bake", "6+12D", "--mesh", str(path), "--fps", "24", "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert ("detected rig profile arkit: matches 53 of the file's 53 targets, 51 of them driven "
            "by FACS codes;") in out
    assert ("file targets matched but driven by no FACS code of the profile (left at 0): "
            "mouthRight, mouthLeft") in out
    assert "profile targets not in the file: tongueOut" in out
    assert "keyframe reduction:" in out and "smaller)" in out
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)
    # The animation replays the mixed weights within the reduction tolerance, in mesh order.
    rig = load_rig("arkit")
    weights = mix(sample(load_timeline_argument("6+12D", vocabulary), fps=24,
                         channels=rig.channels), rig)
    animation, sampler, times, values = first_weights_animation(output)
    assert sampler["interpolation"] == "LINEAR" and values.shape[1] == 53
    file_names = read_gltf(path, geometry=False).target_names
    smile = file_names.index("mouthSmile_L")
    replay = interpolate_keys(times, values, weights.times)
    expected = weights.weights[:, rig.target_index("mouthSmileLeft")]
    assert expected.max() > 0.5
    assert np.max(np.abs(replay[:, smile] - expected)) <= 1e-3 + 1e-6
    inner = [file_names.index("browInnerUp_L"), file_names.index("browInnerUp_R")]
    assert np.array_equal(values[:, inner[0]], values[:, inner[1]])


def test_bake_step_no_reduce_and_gltf_output(tmp_path, capsys):
    path = shared_asset(FACECAP)
    output = tmp_path / "surprise.gltf"
    assert main(["bake", "surprise", "--mesh", str(path), "--rig", "arkit", "--step",
                 "--no-reduce", "-o", str(output)]) == 0
    assert "(given)" in capsys.readouterr().out
    assert (tmp_path / "surprise.bin").exists()
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)
    _, sampler, times, values = first_weights_animation(output)
    assert sampler["interpolation"] == "STEP"
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-5) and values.shape[1] == 52


def test_bake_weights_csv(tmp_path, vocabulary):
    path = shared_asset(FACECAP)
    output = tmp_path / "weights.csv"
    assert main(["bake", "12", "--mesh", str(path), "-o", str(output)]) == 0
    lines = output.read_text().splitlines()
    names = read_gltf(path, geometry=False).target_names
    assert lines[0].split(",") == ["time", *names]
    table = np.array([line.split(",") for line in lines[1:]], dtype=np.float64)
    rig = load_rig("arkit")
    weights = mix(sample(load_timeline_argument("12", vocabulary), channels=rig.channels), rig)
    column = 1 + names.index("mouthSmile_L")  # after time
    assert np.array_equal(table[:, column].astype(np.float32),
                          weights.weights[:, rig.target_index("mouthSmileLeft")])


def test_bake_onto_a_small_rig_with_a_profile_file(tmp_path, capsys):
    builder, _ = quad_rig(names=("AU12_L", "AU26", "blink"))
    (tmp_path / "quad.glb").write_bytes(builder.glb())
    assert main(["bake", "L12+26", "--mesh", str(tmp_path / "quad.glb"), "--rig", "facs",
                 "-o", str(tmp_path / "out.glb")]) == 0
    out = capsys.readouterr().out
    assert "file targets left at 0: blink" in out
    _, _, _, values = first_weights_animation(tmp_path / "out.glb")
    assert values[:, 0].max() > 0 and values[:, 1].max() > 0 and not values[:, 2].any()


def test_bake_without_a_matching_profile_says_so(tmp_path, capsys):
    path = shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf")
    assert main(["bake", "12", "--mesh", str(path), "-o", str(tmp_path / "x.glb")]) == 1
    error = capsys.readouterr().err
    assert "no bundled rig profile matches any of its targets" in error
    assert not (tmp_path / "x.glb").exists()


def test_bake_refuses_meshopt_with_advice(tmp_path, capsys):
    path = shared_asset("rigs/facecap/facecap.glb")
    assert main(["bake", "12", "--mesh", str(path), "-o", str(tmp_path / "x.glb")]) == 1
    assert "EXT_meshopt_compression" in capsys.readouterr().err
    assert not (tmp_path / "x.glb").exists()


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_pose_keeps_vertex_order(tmp_path, suffix, vocabulary):
    path = shared_asset(ICT)
    output = tmp_path / f"smile{suffix}"
    assert main(["pose", "6+12D", "--mesh", str(path), "-o", str(output)]) == 0
    positions, faces = read_mesh(output)
    mesh = read_gltf(path).meshes[0]
    rig = load_rig("arkit")
    weights = mix_frame(vocabulary.channel_values(vocabulary.parse("6+12D")), rig)
    columns = match_rig(rig, read_gltf(path, geometry=False)).column_of_target
    mesh_weights = np.array([weights[columns[name]] for name in mesh.target_names],
                            dtype=np.float32)
    smile = mesh.target_names.index("mouthSmile_L")
    assert mesh_weights[smile] == weights[rig.target_index("mouthSmileLeft")] > 0.5
    expected = Deformer(mesh)(mesh_weights)
    assert positions.shape == (26719, 3) and np.array_equal(faces, mesh.faces)
    # OBJ stores 8 decimals; PLY float32 (after the float64 node transform: identity here).
    assert np.max(np.abs(positions - expected)) < 1e-4
    assert np.max(np.abs(positions - mesh.positions)) > 0.1  # the smile moved something


def test_pose_glb_applies_the_node_transform_and_validates(tmp_path):
    path = shared_asset(FACECAP)
    output = tmp_path / "surprise.glb"
    assert main(["pose", "surprise", "--mesh", str(path), "-o", str(output)]) == 0
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)
    posed = read_gltf(output)
    assert posed.targets == ()  # posed geometry, no targets
    document = read_gltf_source(output).document
    positions = read_accessor_float(read_gltf_source(output),
                                    document["meshes"][0]["primitives"][0]["attributes"]["POSITION"])
    # The head node's world matrix (its own dequantization scale 0.00194938 and its parents'
    # rotations and scales) is applied: the rest mesh through it spans the same box, give or
    # take the expression.
    rig = read_gltf(path)
    matrix = world_matrices(rig.source)[rig.targets[0].nodes[0]]
    rest = rig.meshes[0].positions @ matrix[:3, :3].T + matrix[:3, 3]
    extent = rest.max(axis=0) - rest.min(axis=0)
    assert np.allclose(positions.max(axis=0) - positions.min(axis=0), extent, rtol=0.1)
    assert np.allclose(positions.mean(axis=0), rest.mean(axis=0), atol=0.05 * extent.max())
    assert extent.max() > 1000 * 0.00194938 * 0.01 * 10  # not the quantized units


def test_bake_a_timeline_file_with_two_events(tmp_path, capsys, vocabulary):
    from facs_rig.core.channels import Channel
    from facs_rig.core.timeline import AUEvent, Timeline
    from facs_rig.io.timeline_files import write_timeline

    timeline = Timeline(events=(
        AUEvent(channel=Channel(12, "L"), intensity=0.8, start=0.0, onset=0.2, apex=0.5, offset=0.2),
        AUEvent(channel=Channel(26), intensity=1.0, start=1.0, onset=0.1, apex=0.3, offset=0.1),
    ), duration=2.0, fps=30.0)
    write_timeline(timeline, tmp_path / "take.json", vocabulary)
    builder, _ = quad_rig(names=("mouthSmileLeft", "jawOpen"))
    (tmp_path / "quad.glb").write_bytes(builder.glb())
    output = tmp_path / "take.glb"
    assert main(["bake", str(tmp_path / "take.json"), "--mesh", str(tmp_path / "quad.glb"),
                 "-o", str(output)]) == 0
    assert "detected rig profile arkit" in capsys.readouterr().out
    _, _, times, keys = first_weights_animation(output)
    grid = np.arange(61) / 30.0
    values = interpolate_keys(times, keys, grid)
    # The smile holds during its apex (0.2-0.7 s); the jaw stays shut until it opens at 1.0 s.
    during_smile = (grid > 0.25) & (grid < 0.65)
    assert np.all(values[during_smile, 0] > 0.3) and np.ptp(values[during_smile, 0]) < 1e-3
    assert np.all(values[grid < 1.0, 1] == 0) and values[:, 1].max() > 0.3
    assert times[-1] == pytest.approx(2.0, abs=1 / 30)
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)


# ------------------------------------------------ animation naming, order, default mesh (issue 11)


def _animation_names(path) -> list[str]:
    return [animation["name"] for animation in read_gltf_source(path).document["animations"]]


@pytest.mark.parametrize(("argument", "extra", "expected"), [
    ("happiness", [], "happiness"),                               # the code as typed
    ("{examples}/surprise_then_smile.json", [], "surprise, then a smile"),  # the title
    ("{examples}/surprise_then_smile.json", ["--name", "  take   7 "], "take 7"),
])
def test_bake_names_the_animation_and_puts_it_first(tmp_path, capsys, argument, extra, expected):
    examples = REPO / "examples"
    output = tmp_path / "out.glb"
    assert main(["bake", argument.format(examples=examples), "--mesh", str(shared_asset(FACECAP)),
                 *extra, "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert _animation_names(output) == [expected]
    assert (f"animation {expected!r} is the file's first (tools play it first); left out the "
            f"file's 4 other animation(s) (--keep-animations keeps them)") in out


def test_bake_name_defaults_to_the_file_stem_without_a_title(tmp_path, vocabulary):
    from facs_rig.io.timeline_files import write_timeline

    timeline = load_timeline_argument("12", vocabulary)
    write_timeline(timeline.__class__(events=timeline.events, duration=timeline.duration,
                                      fps=timeline.fps), tmp_path / "my take.json", vocabulary)
    output = tmp_path / "out.glb"
    assert main(["bake", str(tmp_path / "my take.json"), "-o", str(output)]) == 0
    assert _animation_names(output) == ["my take"]


def test_rebake_replaces_and_keep_animations_keeps_the_others(tmp_path, capsys):
    first, second = tmp_path / "first.glb", tmp_path / "second.glb"
    assert main(["bake", "12", "--mesh", str(shared_asset(FACECAP)), "--keep-animations",
                 "-o", str(first)]) == 0
    assert _animation_names(first) == ["12", "Key|Take 001|BaseLayer",
                                       "grp_eyeLeft|Take 001|BaseLayer",
                                       "grp_eyeRight|Take 001|BaseLayer",
                                       "grp_transform|Take 001|BaseLayer"]
    capsys.readouterr()
    assert main(["bake", "26", "--mesh", str(first), "--keep-animations", "-o", str(second)]) == 0
    assert _animation_names(second)[0] == "26" and len(_animation_names(second)) == 5
    assert ("replaced 1 earlier facs-rig animation(s); kept 4 other animation(s) after it"
            in capsys.readouterr().out)
    report = validate_gltf(second)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)


def test_bake_name_must_not_be_blank(capsys):
    assert main(["bake", "12", "--name", "  ", "-o", "x.glb"]) == 2
    assert capsys.readouterr().err == ("facs-rig: error: argument --name: must not be empty "
                                       "(see 'facs-rig bake --help')\n")


def test_bake_without_mesh_uses_the_bundled_default_head(tmp_path, capsys):
    output = tmp_path / "head.glb"
    assert main(["bake", "6+12", "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rig file: the bundled default head (--mesh FACE.glb for another)\n"
                          "detected rig profile facs: matches 92 of the file's 92 targets, 92 "
                          "of them driven by FACS codes")
    baked = read_gltf(output, geometry=False)
    assert baked.target_names == read_gltf(REPO / "rigs" / "default_head.glb",
                                           geometry=False).target_names
    report = validate_gltf(output)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)


def test_pose_says_which_profile_it_detected(tmp_path, capsys):
    assert main(["pose", "12", "--mesh", str(shared_asset(ICT)), "-o",
                 str(tmp_path / "p.obj")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "detected rig profile arkit: matches 53 of the file's 53 targets, 51 of them driven by "
        "FACS codes; 51 of its 52 targets found (98%) (--rig NAME to choose another)")
    assert main(["pose", "12", "--mesh", str(shared_asset(ICT)), "--rig", "arkit", "-o",
                 str(tmp_path / "p.obj")]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("(given)")


def test_pose_without_mesh_poses_the_default_head_as_bake_does(tmp_path, capsys, vocabulary):
    """'pose surprise -o surprise.obj' (no --mesh) used to be a usage error, though bake and
    preview take the bundled head by default: the same bytes as naming the head."""
    from facs_rig.io.default_head import default_head_path
    from facs_rig.io.gltf.pipeline import pose_code

    assert main(["pose", "1+2+5B+26", "-o", str(tmp_path / "surprise.obj")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rig file: the bundled default head (--mesh FACE.glb for another)",
        "detected rig profile facs: matches 92 of the file's 92 targets, 92 of them driven by "
        "FACS codes; 92 of its 92 targets found (100%) (--rig NAME to choose another)",
        f"wrote {tmp_path / 'surprise.obj'}",
    ]
    pose_code("1+2+5B+26", default_head_path(), tmp_path / "named.obj", vocabulary)
    assert (tmp_path / "surprise.obj").read_bytes() == (tmp_path / "named.obj").read_bytes()


def _box_glb(tmp_path):
    """A mesh with no morph targets (a new-user reviewer's box.glb)."""
    builder, _ = quad_rig(names=())
    document = builder.finish()
    for mesh in document["meshes"]:
        for primitive in mesh["primitives"]:
            primitive.pop("targets", None)
        mesh.pop("extras", None)
    path = tmp_path / "box.glb"
    from gltf_samples import glb_from

    path.write_bytes(glb_from(document, bytes(builder.binary)))
    return path


@pytest.mark.parametrize("argv", [
    ["rig", "detect", "{box}"],
    ["rig", "detect", "{box}", "--rig", "arkit", "--json"],
    ["bake", "12", "--mesh", "{box}", "-o", "{tmp}/out.glb"],
    ["bake", "12", "--mesh", "{box}", "--rig", "arkit", "-o", "{tmp}/out.glb"],
    ["pose", "12", "--mesh", "{box}", "-o", "{tmp}/out.obj"],
])
def test_a_mesh_without_morph_targets_is_one_line_saying_so(argv, tmp_path, capsys):
    """`rig detect box.glb` exited 0 with an empty table, and `bake` advised "pass --rig with a
    profile", which cannot help."""
    box = _box_glb(tmp_path)
    assert main([part.format(box=box, tmp=tmp_path) for part in argv]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"facs-rig: error: {box}: no morph targets (blend shapes), so "
                              f"nothing to drive: a face rig for facs-rig needs morph targets\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.glb"]
