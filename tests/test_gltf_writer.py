"""Writing glTF: new files with morph targets, animated copies, the Khronos validator's verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, shared_asset
from gltf_samples import quad_rig
from gltf_validator import errors_and_warnings, validate_gltf

from facs_rig.core.curves import TargetWeights
from facs_rig.core.keyframes import interpolate_keys
from facs_rig.core.mesh import MorphMesh
from facs_rig.errors import GltfError, UnsupportedFormatError
from facs_rig.io.gltf import read_gltf, read_gltf_source, write_animated_gltf, write_glb
from facs_rig.io.gltf import writer as writer_module
from facs_rig.io.gltf.accessors import read_accessor, read_accessor_float
from facs_rig.io.gltf.writer import glb_document


def small_mesh(name="face", n=30, targets=("jawOpen", "mouthSmile_L", "eyeBlink_R"), seed=0):
    rng = np.random.default_rng(seed)
    positions = rng.normal(size=(n, 3)).astype(np.float32)
    faces = np.array([[i, i + 1, i + 2] for i in range(n - 2)], dtype=np.uint32)
    deltas = np.zeros((len(targets), n, 3), dtype=np.float32)
    for k in range(len(targets)):
        moved = rng.choice(n, size=3 if k % 2 else n, replace=False)  # sparse and dense targets
        deltas[k, moved] = rng.normal(size=(moved.size, 3))
    normals = rng.normal(size=(n, 3)).astype(np.float32)
    return MorphMesh(name, positions, faces, tuple(targets), deltas, normals=normals)


def animation_of(document, source, node):
    """(times, values (n_keys, n_targets), interpolation) of the first weights channel of
    ``node`` (a bake puts its animation first)."""
    for animation in document.get("animations", []):
        for channel in animation["channels"]:
            if channel["target"] == {"node": node, "path": "weights"}:
                sampler = animation["samplers"][channel["sampler"]]
                times = read_accessor_float(source, sampler["input"])[:, 0]
                values = read_accessor_float(source, sampler["output"])[:, 0]
                return times, values.reshape(times.size, -1), sampler.get("interpolation")
    raise AssertionError(f"no weights channel for node {node}")


def assert_valid(path):
    report = validate_gltf(path)
    assert report["issues"]["numErrors"] == 0, errors_and_warnings(report)
    return report


# ------------------------------------------------------------------------ new files

@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_write_glb_round_trip_and_validator(tmp_path, suffix):
    meshes = [small_mesh(), small_mesh("teeth", 8, ("jawOpen",), seed=1)]
    path = tmp_path / f"head{suffix}"
    write_glb(meshes, path, node_rotations=[(0.0, 0.0, 0.0, 1.0), None],
              materials=[{"name": "skin", "pbrMetallicRoughness": {
                  "baseColorFactor": [0.9, 0.7, 0.6, 1.0]}}, None],
              extras={"generator": "test"})
    report = assert_valid(path)
    assert report["issues"]["numWarnings"] == 0
    rig = read_gltf(path)
    assert [m.target_names for m in rig.meshes] == [m.target_names for m in meshes]
    for original, decoded in zip(meshes, rig.meshes):
        assert np.array_equal(decoded.positions, original.positions)
        assert np.array_equal(decoded.faces, original.faces)
        assert np.array_equal(decoded.deltas, original.deltas)
        unit = original.normals / np.linalg.norm(original.normals, axis=1, keepdims=True)
        assert np.allclose(decoded.normals, unit, atol=1e-6)
    document = rig.source.document
    primitive = document["meshes"][0]["primitives"][0]
    assert primitive["extras"]["targetNames"] == list(meshes[0].target_names)
    assert document["meshes"][0]["weights"] == [0.0, 0.0, 0.0]
    # Sparse where smaller: the 3-vertex target is sparse, the all-vertex ones dense.
    kinds = ["sparse" in document["accessors"][t["POSITION"]] for t in primitive["targets"]]
    assert kinds == [False, True, False]
    assert document["materials"][0]["name"] == "skin" and "material" not in \
        document["meshes"][1]["primitives"][0]
    if suffix == ".gltf":
        assert document["buffers"][0]["uri"] == "head.bin" and (tmp_path / "head.bin").exists()


def test_write_glb_with_animation(tmp_path):
    mesh = small_mesh()
    times = np.arange(6) / 30.0
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(6, 2)
    weights = TargetWeights(times, values, ("eyeBlink_R", "notInTheMesh"), 30.0)
    path = tmp_path / "animated.glb"
    write_glb([mesh], path, animation=weights, interpolation="STEP")
    assert_valid(path)
    source = read_gltf_source(path)
    key_times, keys, interpolation = animation_of(source.document, source, 0)
    assert interpolation == "STEP"
    assert np.array_equal(key_times, times.astype(np.float32))
    assert np.array_equal(keys[:, 2], values[:, 0]) and not keys[:, :2].any()


def test_write_glb_rejects_other_extensions(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.glb or \.gltf"):
        write_glb([small_mesh()], tmp_path / "x.fbx")


def test_glb_document_is_deterministic():
    first = glb_document([small_mesh()])
    second = glb_document([small_mesh()])
    assert json.dumps(first[0]) == json.dumps(second[0]) and first[1] == second[1]


def test_transform_mesh_moves_points_turns_offsets_and_keeps_faces_outward():
    from facs_rig.core.mesh import transform_mesh

    mesh = small_mesh()
    # Scale (2, 1, 0.5), mirror X, turn 90 degrees about Z, move by (1, 2, 3).
    linear = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([-2.0, 1.0, 0.5])
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = linear, [1.0, 2.0, 3.0]
    moved = transform_mesh(mesh, matrix)
    np.testing.assert_allclose(moved.positions, mesh.positions @ linear.T + [1, 2, 3], atol=1e-5)
    np.testing.assert_allclose(moved.deltas, mesh.deltas @ linear.T, atol=1e-5)  # no translation
    assert np.array_equal(moved.faces, mesh.faces[:, ::-1])  # mirrored: winding reversed
    # Normals stay perpendicular to moved surface directions (a tangent t moves to linear @ t).
    tangent = np.cross(mesh.normals, [0.3, 0.5, 0.8])
    assert np.abs(np.sum(moved.normals * (tangent @ linear.T), axis=1)).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(moved.normals, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(transform_mesh(mesh, np.eye(4)).faces, mesh.faces)


def test_world_meshes_give_a_copy_that_looks_like_the_file(tmp_path):
    """``read_gltf(...).meshes`` are mesh-local: written as they are, Face Cap's head comes out
    ~5,000 times too big and lying on its back (its nodes scale it by 0.000195 and turn it about
    X). ``world_meshes()`` places them as the file shows them (and as the previews draw them)."""
    from facs_rig.render.scene import load_render_rig

    path = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    rig = read_gltf(path)
    local_height = np.ptp(rig.meshes[0].positions[:, 1])
    (head,) = rig.world_meshes()
    output = tmp_path / "head_copy.glb"
    write_glb([head], output)
    report = assert_valid(output)
    assert report["issues"]["numWarnings"] == 0
    copy = read_gltf(output)
    shown = load_render_rig(path).mesh
    vertices = slice(0, head.n_vertices)  # the head is the first mesh the preview merges
    np.testing.assert_allclose(copy.meshes[0].positions, shown.positions[vertices], atol=1e-6)
    np.testing.assert_allclose(copy.meshes[0].deltas, shown.deltas[:, vertices], atol=1e-6)
    height = np.ptp(copy.meshes[0].positions[:, 1])
    assert 2.2 < height < 2.4 and local_height / height > 5000
    with pytest.raises(GltfError, match="without geometry"):
        read_gltf(path, geometry=False).world_meshes()


# ------------------------------------------------------------------------ animated copies

def quad_file(tmp_path, **kwargs):
    builder, _ = quad_rig(**kwargs)
    path = tmp_path / "quad.glb"
    path.write_bytes(builder.glb())
    return path


def ramp_weights(names, n=61, fps=30.0):
    times = np.arange(n) / fps
    values = np.zeros((n, len(names)), dtype=np.float32)
    for k in range(len(names)):
        values[:, k] = np.clip(np.sin(times * (k + 1)), 0, 1)
    return TargetWeights(times, values, tuple(names), fps)


def test_animated_copy_keeps_every_original_accessor(tmp_path):
    path = shared_asset("rigs/khronos/MorphStressTest/glTF/MorphStressTest.gltf")
    rig = read_gltf(path, geometry=False)
    weights = ramp_weights([f"Key {k}" for k in range(1, 9)])
    output = tmp_path / "stress.glb"
    result = write_animated_gltf(rig, weights, output, tolerance=None, keep_animations=True)
    report = assert_valid(output)
    original = rig.source
    copy = read_gltf_source(output)
    # Everything but buffers, views (offsets moved into one buffer) and images (embedded) is as
    # it was, and the new animation comes before the old ones (kept with keep_animations).
    for key, value in original.document.items():
        if key not in ("buffers", "bufferViews", "images", "animations", "accessors"):
            assert copy.document[key] == value, key
    assert copy.document["animations"][1:] == original.document["animations"]
    assert result.animations_kept == 3 and result.animations_dropped == 0
    assert copy.document["accessors"][:len(original.document["accessors"])] == \
        original.document["accessors"]
    for index in range(len(original.document["accessors"])):
        assert np.array_equal(read_accessor(original, index), read_accessor(copy, index))
    assert all("bufferView" in image and "uri" not in image for image in copy.document["images"])
    assert len(copy.document["buffers"]) == 1
    times, keys, interpolation = animation_of(copy.document, copy, 0)
    assert interpolation == "LINEAR"
    assert np.array_equal(keys, weights.weights) and times.size == 61
    assert result.keys_in == result.keys_out == 61 and result.nodes == (0,)
    assert report["info"]["animationCount"] == len(original.document["animations"]) + 1


def test_keyframe_reduction_stays_within_tolerance(tmp_path):
    rig = read_gltf(quad_file(tmp_path), geometry=False)
    weights = ramp_weights(["mouthSmile_L", "jawOpen"], n=301)
    result = write_animated_gltf(rig, weights, tmp_path / "reduced.glb", tolerance=1e-3)
    assert result.keys_out < result.keys_in == 301
    assert result.animation_bytes_out < result.animation_bytes_in and 0 < result.saving < 1
    copy = read_gltf_source(tmp_path / "reduced.glb")
    times, keys, _ = animation_of(copy.document, copy, 0)
    # Mesh order is (jawOpen, mouthSmile_L): columns swap.
    replay = interpolate_keys(times, keys, weights.times)
    assert np.max(np.abs(replay - weights.weights[:, ::-1])) <= 1e-3 + 1e-6
    assert_valid(tmp_path / "reduced.glb")


def test_unmatched_targets_stay_zero_and_mesh_order_is_kept(tmp_path):
    rig = read_gltf(quad_file(tmp_path, names=("a", "b", "c")), geometry=False)
    weights = ramp_weights(["c", "zzz"])
    write_animated_gltf(rig, weights, tmp_path / "x.glb", tolerance=None)
    copy = read_gltf_source(tmp_path / "x.glb")
    _, keys, _ = animation_of(copy.document, copy, 0)
    assert keys.shape == (61, 3)
    assert not keys[:, :2].any() and np.array_equal(keys[:, 2], weights.weights[:, 0])


def test_the_result_names_file_targets_and_weights_columns_left_unmatched(tmp_path):
    rig = read_gltf(quad_file(tmp_path, names=("a", "b", "c")), geometry=False)
    result = write_animated_gltf(rig, ramp_weights(["c", "zzz"]), tmp_path / "x.glb")
    assert result.unmatched_targets == ("a", "b") and result.unmatched_columns == ("zzz",)
    everything = write_animated_gltf(rig, ramp_weights(["A", "b", "c"]), tmp_path / "y.glb")
    assert everything.unmatched_targets == () and everything.unmatched_columns == ()


def test_python_bake_matches_names_by_convention_as_the_cli_does(tmp_path):
    """The library call without ``column_of_target`` drives Face Cap's ``mouthSmile_L`` from the
    arkit profile's ``mouthSmileLeft`` (it used to drive only the exactly equal names, such as
    ``jawOpen``, and leave the rest at 0 without a word), and writes the keys ``bake`` writes."""
    import facs_rig
    from facs_rig.cli import main
    from facs_rig.core.timeline import sample

    path = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    timeline_file = REPO / "examples" / "surprise_then_smile.json"
    arkit = facs_rig.load_rig("arkit")
    timeline = facs_rig.read_timeline(timeline_file, facs_rig.load_vocabulary())
    weights = facs_rig.mix(sample(timeline, channels=arkit.channels), arkit)
    output = tmp_path / "python.glb"
    result = write_animated_gltf(read_gltf(path, geometry=False), weights, output)
    assert_valid(output)
    cli = tmp_path / "cli.glb"
    assert main(["bake", str(timeline_file), "--mesh", str(path), "--rig", "arkit", "-o", str(cli)]) == 0
    ours, theirs = read_gltf_source(output), read_gltf_source(cli)
    node = result.nodes[0]
    python_times, python_keys, _ = animation_of(ours.document, ours, node)
    cli_times, cli_keys, _ = animation_of(theirs.document, theirs, node)
    np.testing.assert_array_equal(python_times, cli_times)
    np.testing.assert_array_equal(python_keys, cli_keys)
    smile = read_gltf(path, geometry=False).targets[0].target_names.index("mouthSmile_L")
    assert python_keys[:, smile].max() > 0.5
    assert result.unmatched_targets == () and result.unmatched_columns == ()


def test_meshes_with_the_same_names_share_one_sampler(tmp_path):
    builder, _ = quad_rig(names=("jawOpen", "x"))
    quad_rig(builder, names=("jawOpen", "x"))
    quad_rig(builder, names=("other",))
    path = tmp_path / "three.glb"
    path.write_bytes(builder.glb())
    rig = read_gltf(path, geometry=False)
    result = write_animated_gltf(rig, ramp_weights(["jawOpen"]), tmp_path / "out.glb")
    assert result.nodes == (0, 1)
    document = read_gltf_source(tmp_path / "out.glb").document
    (animation,) = document["animations"]
    assert len(animation["samplers"]) == 1
    assert [c["target"]["node"] for c in animation["channels"]] == [0, 1]
    assert_valid(tmp_path / "out.glb")


def test_nothing_to_animate_is_an_error_and_writes_nothing(tmp_path):
    rig = read_gltf(quad_file(tmp_path), geometry=False)
    with pytest.raises(GltfError, match="no node shows a mesh"):
        write_animated_gltf(rig, ramp_weights(["nope"]), tmp_path / "out.glb")
    assert not (tmp_path / "out.glb").exists()


def test_failure_while_writing_keeps_the_previous_output(tmp_path, monkeypatch):
    rig = read_gltf(quad_file(tmp_path), geometry=False)
    output = tmp_path / "out.glb"
    output.write_bytes(b"previous version")

    def failing_glb_bytes(document, binary):
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "glb_bytes", failing_glb_bytes)
    with pytest.raises(OSError):
        write_animated_gltf(rig, ramp_weights(["jawOpen"]), output)
    assert output.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.glb", "quad.glb"]


def test_gltf_output_with_external_bin(tmp_path):
    path = shared_asset("rigs/khronos/AnimatedMorphCube/glTF/AnimatedMorphCube.gltf")
    rig = read_gltf(path, geometry=False)
    output = tmp_path / "cube.gltf"
    result = write_animated_gltf(rig, ramp_weights(["target_1"]), output)
    assert (tmp_path / "cube.bin").exists()
    assert_valid(output)
    # The cube's own animation is left out by default: the copy holds only the new one.
    assert [a["name"] for a in read_gltf_source(output).document["animations"]] == ["facs-rig"]
    assert result.animations_dropped == 1 and result.animations_kept == 0


def test_ict_bake_validates_and_reproduces_the_weights(tmp_path):
    rig = read_gltf(shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb"),
                    geometry=False)
    names = rig.target_names
    weights = ramp_weights(names, n=120)
    output = tmp_path / "ict.glb"
    write_animated_gltf(rig, weights, output)
    assert_valid(output)
    copy = read_gltf_source(output)
    times, keys, _ = animation_of(copy.document, copy, 0)
    assert keys.shape[1] == 53
    replay = interpolate_keys(times, keys, weights.times)
    assert np.max(np.abs(replay - weights.weights)) <= 1e-3 + 1e-6
    # The sparse geometry is carried over byte for byte.
    assert np.array_equal(read_gltf(output).meshes[0].deltas,
                          read_gltf(rig.path).meshes[0].deltas)


def test_facecap_decoded_copy_keeps_its_capture_animation_after_ours(tmp_path):
    path = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    rig = read_gltf(path, geometry=False)
    output = tmp_path / "facecap_baked.glb"
    write_animated_gltf(rig, ramp_weights(["jawOpen", "eyeBlink_L"]), output,
                        animation_name="take 1", keep_animations=True)
    assert_valid(output)
    original = rig.source.document
    document = read_gltf_source(output).document
    assert document["animations"][1:] == original["animations"]
    assert document["animations"][0] == {
        "name": "take 1", "extras": {"generator": "facs-rig"},
        "channels": [{"sampler": 0, "target": {"node": rig.targets[0].nodes[0],
                                               "path": "weights"}}],
        "samplers": document["animations"][0]["samplers"]}


@pytest.mark.parametrize("keep", [False, True])
def test_rebaking_replaces_the_facs_rig_animation_and_one_of_the_same_name(tmp_path, keep):
    path = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    first = tmp_path / "first.glb"
    write_animated_gltf(read_gltf(path, geometry=False), ramp_weights(["jawOpen"]), first,
                        animation_name="take 1", keep_animations=True)
    # Rename one of Face Cap's animations to the name the next bake uses.
    source = read_gltf_source(first)
    document = json.loads(json.dumps(source.document))
    document["animations"][2]["name"] = "take 2"
    from facs_rig.io.gltf.container import glb_bytes
    second_input = tmp_path / "second_input.glb"
    second_input.write_bytes(glb_bytes(document, source.buffers[0]))
    output = tmp_path / "second.glb"
    result = write_animated_gltf(read_gltf(second_input, geometry=False),
                                 ramp_weights(["eyeBlink_L"]), output, animation_name="take 2",
                                 keep_animations=keep)
    assert_valid(output)
    names = [a["name"] for a in read_gltf_source(output).document["animations"]]
    assert result.animations_replaced == 2  # "take 1" (marked) and Face Cap's renamed one
    if keep:
        assert names == ["take 2", "Key|Take 001|BaseLayer", "grp_eyeRight|Take 001|BaseLayer",
                         "grp_transform|Take 001|BaseLayer"]
        assert result.animations_kept == 3
    else:
        assert names == ["take 2"] and result.animations_dropped == 3


def test_bundled_default_head_reads_and_validates():
    from facs_rig.resources import rigs_dir

    path = rigs_dir() / "default_head.glb"
    if not path.exists():
        pytest.skip("rigs/default_head.glb is not built yet")
    rig = read_gltf(path)
    assert rig.meshes and all(len(m.target_names) > 0 for m in rig.meshes)
    report = assert_valid(path)
    assert report["issues"]["numWarnings"] == 0


def test_simple_morph_two_external_buffers_are_merged(tmp_path):
    path = shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf")
    rig = read_gltf(path, geometry=False)
    assert len(rig.source.buffers) == 2
    output = tmp_path / "simple.glb"
    write_animated_gltf(rig, ramp_weights(["target_0", "target_1"]), output)
    assert_valid(output)
    copy = read_gltf_source(output)
    assert len(copy.buffers) == 1
    for index in range(len(rig.source.document["accessors"])):
        assert np.array_equal(read_accessor(rig.source, index), read_accessor(copy, index))


def test_images_outside_the_folder_are_not_embedded(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG fake")
    folder = tmp_path / "rig"
    folder.mkdir()
    builder, _ = quad_rig()
    document = builder.finish()
    document["images"] = [{"uri": "../secret.png"}]
    from gltf_samples import glb_from

    (folder / "rig.glb").write_bytes(glb_from(document, bytes(builder.binary)))
    rig = read_gltf(folder / "rig.glb", geometry=False)
    with pytest.raises(GltfError, match=r"/images/0/uri: URI '../secret.png' leaves the file's"):
        write_animated_gltf(rig, ramp_weights(["jawOpen"]), folder / "out.glb")
    assert not (folder / "out.glb").exists()


def test_data_uri_and_file_images_are_embedded(tmp_path):
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    builder, _ = quad_rig()
    document = builder.finish()
    document["buffers"][0]["uri"] = "quad.bin"
    (tmp_path / "quad.bin").write_bytes(bytes(builder.binary))
    (tmp_path / "skin.png").write_bytes(png)
    document["images"] = [{"uri": "skin.png"},
                          {"uri": "data:image/png;base64," + base64.b64encode(png).decode()}]
    (tmp_path / "quad.gltf").write_text(json.dumps(document))
    rig = read_gltf(tmp_path / "quad.gltf", geometry=False)
    write_animated_gltf(rig, ramp_weights(["jawOpen"]), tmp_path / "out.glb")
    copy = read_gltf_source(tmp_path / "out.glb")
    for image in copy.document["images"]:
        assert image["mimeType"] == "image/png" and "uri" not in image
        view = copy.document["bufferViews"][image["bufferView"]]
        data = copy.buffers[0][view["byteOffset"]:view["byteOffset"] + view["byteLength"]]
        assert data == png


def test_mesh_without_faces_is_written_as_points(tmp_path):
    mesh = small_mesh(n=7)
    points = MorphMesh("cloud", mesh.positions, np.zeros((0, 3), np.uint32), mesh.target_names,
                       mesh.deltas)
    write_glb([points], tmp_path / "points.glb")
    report = assert_valid(tmp_path / "points.glb")
    assert report["issues"]["numWarnings"] == 0
    assert read_gltf_source(tmp_path / "points.glb").document["meshes"][0]["primitives"][0][
        "mode"] == 0


def test_posed_meshes_keep_faces_outward_under_a_mirroring_node(tmp_path):
    """A node scaled by -1 on X mirrors its mesh; glTF 2.0 (3.7.2.1) has renderers take its
    triangles as clockwise then. Baked into world positions, with no node left to mirror them,
    the triangles must be reversed, or the posed copy (pose, preview) faces inwards."""
    from gltf_samples import DocumentBuilder

    from facs_rig.io.gltf.matching import resolve_rig
    from facs_rig.io.gltf.pipeline import posed_meshes

    paths = {}
    for name, scale in (("plain", [1.0, 1.0, 1.0]), ("mirrored", [-1.0, 1.0, 1.0])):
        builder = DocumentBuilder()
        builder, _ = quad_rig(builder)
        builder.json["nodes"][0]["scale"] = scale
        paths[name] = tmp_path / f"{name}.glb"
        paths[name].write_bytes(builder.glb())
    posed = {}
    for name, path in paths.items():
        rig = read_gltf(path)
        match = resolve_rig("arkit", rig)
        [posed[name]] = posed_meshes(rig, match, np.zeros(len(match.profile.targets), np.float32))
    plain, mirrored = posed["plain"], posed["mirrored"]
    np.testing.assert_allclose(mirrored.positions, plain.positions * [-1, 1, 1])
    assert np.array_equal(mirrored.faces, plain.faces[:, ::-1])
    # The quad lies in z = 0 facing +z; a mirror in X leaves it facing +z.
    np.testing.assert_allclose(plain.normals, [[0, 0, 1]] * 4, atol=1e-6)
    np.testing.assert_allclose(mirrored.normals, [[0, 0, 1]] * 4, atol=1e-6)
    # The previews bake node transforms the same way.
    from facs_rig.render.scene import load_render_rig

    shown = {name: load_render_rig(path).mesh for name, path in paths.items()}
    assert np.array_equal(shown["mirrored"].faces, shown["plain"].faces[:, ::-1])
