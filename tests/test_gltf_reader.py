"""Reading glTF morph-target rigs: names, sparse and normalized accessors, layouts, real rigs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import shared_asset
from gltf_samples import DocumentBuilder, quad_rig

from facs_rig.errors import GltfError, UnsupportedGltfError
from facs_rig.io.gltf import parse_gltf_bytes, read_gltf
from facs_rig.io.gltf.accessors import read_accessor_float
from facs_rig.io.gltf.container import read_gltf_source

QUAD = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)


def write(tmp_path, data: bytes, name: str = "rig.glb"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_glb_with_mesh_level_names(tmp_path):
    builder, deltas = quad_rig()
    rig = read_gltf(write(tmp_path, builder.glb()))
    assert rig.target_names == ("jawOpen", "mouthSmile_L")
    (info,) = rig.targets
    assert (info.mesh_index, info.nodes, info.names_source) == (0, (0,), "mesh.extras.targetNames")
    (mesh,) = rig.meshes
    assert np.array_equal(mesh.positions, QUAD)
    assert mesh.faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    assert np.array_equal(mesh.deltas, deltas)
    assert mesh.normals is None


def test_primitive_level_names_as_vrm_0x_writes_them(tmp_path):
    builder, _ = quad_rig(names=("Blink_L", "A"), where="primitive")
    rig = read_gltf(write(tmp_path, builder.glb()))
    assert rig.target_names == ("Blink_L", "A")
    assert rig.targets[0].names_source == "primitive.extras.targetNames"


def test_unnamed_targets_get_generated_names(tmp_path):
    builder, _ = quad_rig(names=("a", "b", "c"), where="none")
    rig = read_gltf(write(tmp_path, builder.glb()))
    assert rig.target_names == ("target_0", "target_1", "target_2")
    assert rig.targets[0].names_source == "generated"


def test_names_of_the_wrong_length_are_ignored(tmp_path):
    builder, _ = quad_rig(names=("a", "b"))
    builder.json["meshes"][0]["extras"]["targetNames"] = ["only one"]
    rig = read_gltf(write(tmp_path, builder.glb()))
    assert rig.target_names == ("target_0", "target_1")


def test_sparse_targets_equal_dense_ones(tmp_path):
    dense_builder, deltas = quad_rig(names=("a", "b", "c"))
    sparse_builder, sparse_deltas = quad_rig(names=("a", "b", "c"), sparse=True)
    dense = read_gltf(write(tmp_path, dense_builder.glb(), "dense.glb")).meshes[0]
    sparse = read_gltf(write(tmp_path, sparse_builder.glb(), "sparse.glb")).meshes[0]
    assert np.array_equal(sparse.deltas, dense.deltas)
    assert np.array_equal(sparse.deltas, deltas)


def test_sparse_substitution_over_a_buffer_view(tmp_path):
    builder = DocumentBuilder()
    base = builder.accessor(np.ones((5, 3), dtype=np.float32))
    index = builder.sparse_accessor(5, [1, 4], [[7, 8, 9], [-1, -2, -3]], index_dtype="uint32",
                                    base=base)
    source = parse_gltf_bytes(builder.glb(), path=tmp_path / "x.glb")
    values = read_accessor_float(source, index)
    expected = np.ones((5, 3), dtype=np.float32)
    expected[1], expected[4] = [7, 8, 9], [-1, -2, -3]
    assert np.array_equal(values, expected)


@pytest.mark.parametrize(("dtype", "raw", "expected"), [
    ("uint8", [0, 51, 255], [0.0, 0.2, 1.0]),
    ("int8", [-128, -127, 0, 127], [-1.0, -1.0, 0.0, 1.0]),
    ("uint16", [0, 13107, 65535], [0.0, 0.2, 1.0]),
    ("int16", [-32768, -32767, 16384, 32767], [-1.0, -1.0, 16384 / 32767, 1.0]),
])
def test_normalized_integers_decode_as_the_spec_says(tmp_path, dtype, raw, expected):
    builder = DocumentBuilder()
    index = builder.accessor(np.array(raw, dtype=dtype), normalized=True)
    source = parse_gltf_bytes(builder.glb(), path=tmp_path / "x.glb")
    values = read_accessor_float(source, index)[:, 0]
    assert values.dtype == np.float32
    assert np.allclose(values, np.array(expected, dtype=np.float32), rtol=0, atol=1e-7)


def test_normalized_short_morph_targets_as_mesh_quantization_stores_them(tmp_path):
    builder = DocumentBuilder()
    position = builder.accessor(QUAD, bounds=True)
    raw = np.array([[0, 0, 32767], [0, 0, -32767], [16384, 0, 0], [0, 0, 0]], dtype=np.int16)
    target = builder.accessor(raw, normalized=True, bounds=True)
    builder.mesh_node({"primitives": [{"attributes": {"POSITION": position},
                                       "targets": [{"POSITION": target}]}],
                       "extras": {"targetNames": ["up"]}})
    mesh = read_gltf(write(tmp_path, builder.glb())).meshes[0]
    assert np.allclose(mesh.deltas[0], raw / 32767.0, atol=1e-7)
    assert mesh.faces.tolist() == [[0, 1, 2]]  # no indices: vertices taken in order, a 4th is left over


def test_interleaved_positions_and_normals(tmp_path):
    builder = DocumentBuilder()
    interleaved = np.zeros((4, 6), dtype=np.float32)
    interleaved[:, :3] = QUAD
    interleaved[:, 5] = 1.0
    view = builder.view(interleaved.tobytes(), byteStride=24)
    builder.json["accessors"] += [
        {"bufferView": view, "componentType": 5126, "count": 4, "type": "VEC3",
         "min": [0, 0, 0], "max": [1, 1, 0]},
        {"bufferView": view, "byteOffset": 12, "componentType": 5126, "count": 4, "type": "VEC3"},
    ]
    delta = builder.accessor(np.full((4, 3), 0.5, dtype=np.float32), bounds=True)
    builder.mesh_node({"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1},
                                       "targets": [{"POSITION": delta}], "mode": 5}]})
    mesh = read_gltf(write(tmp_path, builder.glb())).meshes[0]
    assert np.array_equal(mesh.positions, QUAD)
    assert np.array_equal(mesh.normals, np.tile([0, 0, 1], (4, 1)))
    # Triangle strip 0 1 2 3 -> (0 1 2), (2 1 3) (spec §3.7.2.1: odd triangles swap the first two).
    assert mesh.faces.tolist() == [[0, 1, 2], [2, 1, 3]]


def test_triangle_fan(tmp_path):
    builder = DocumentBuilder()
    position = builder.accessor(QUAD, bounds=True)
    delta = builder.accessor(np.zeros((4, 3), dtype=np.float32), bounds=True)
    builder.mesh_node({"primitives": [{"attributes": {"POSITION": position},
                                       "targets": [{"POSITION": delta}], "mode": 6}]})
    assert read_gltf(write(tmp_path, builder.glb())).meshes[0].faces.tolist() == [[0, 1, 2],
                                                                                  [0, 2, 3]]


def test_primitives_sharing_one_weight_list_are_concatenated(tmp_path):
    builder = DocumentBuilder()
    primitives = []
    for shift in (0.0, 10.0):
        position = builder.accessor(QUAD + shift, bounds=True)
        indices = builder.accessor(np.array([0, 1, 2], dtype=np.uint8))
        delta = builder.accessor(np.full((4, 3), shift + 1, dtype=np.float32), bounds=True)
        primitives.append({"attributes": {"POSITION": position}, "indices": indices,
                           "targets": [{"POSITION": delta}]})
    builder.mesh_node({"primitives": primitives, "extras": {"targetNames": ["x"]}})
    mesh = read_gltf(write(tmp_path, builder.glb())).meshes[0]
    assert mesh.n_vertices == 8
    assert mesh.faces.tolist() == [[0, 1, 2], [4, 5, 6]]
    assert np.array_equal(mesh.deltas[0, :4], np.ones((4, 3)))
    assert np.array_equal(mesh.deltas[0, 4:], np.full((4, 3), 11.0))
    assert mesh.metadata["primitive_vertex_counts"] == (4, 4)


def test_primitives_with_different_target_counts_are_refused(tmp_path):
    builder, _ = quad_rig(names=("a", "b"))
    primitive = dict(builder.json["meshes"][0]["primitives"][0])
    primitive["targets"] = primitive["targets"][:1]
    builder.json["meshes"][0]["primitives"].append(primitive)
    with pytest.raises(GltfError, match=r"/meshes/0: .*different numbers of morph targets \[2, 1\]"):
        read_gltf(write(tmp_path, builder.glb()))


def test_several_meshes_with_the_same_names_and_meshes_without_targets(tmp_path):
    builder, _ = quad_rig(names=("jawOpen",))
    quad_rig(builder, names=("jawOpen",))
    plain = builder.accessor(QUAD, bounds=True)
    builder.mesh_node({"primitives": [{"attributes": {"POSITION": plain}}]})
    rig = read_gltf(write(tmp_path, builder.glb()))
    assert [t.mesh_index for t in rig.targets] == [0, 1]
    assert [t.nodes for t in rig.targets] == [(0,), (1,)]
    assert rig.target_names == ("jawOpen",)


def test_external_bin_and_data_uri_give_the_same_rig(tmp_path):
    builder, deltas = quad_rig()
    external = read_gltf(builder.write_gltf_external(tmp_path))
    embedded = read_gltf(write(tmp_path, builder.gltf_data_uri(), "embedded.gltf"))
    for rig in (external, embedded):
        assert np.array_equal(rig.meshes[0].deltas, deltas)
    assert not external.source.is_glb


def test_geometry_false_reads_names_only(tmp_path):
    builder, _ = quad_rig()
    rig = read_gltf(write(tmp_path, builder.glb()), geometry=False)
    assert rig.meshes == () and rig.target_names == ("jawOpen", "mouthSmile_L")


def test_pygltflib_document_view(tmp_path):
    builder, _ = quad_rig()
    document = read_gltf(write(tmp_path, builder.glb())).document()
    assert document.meshes[0].extras == {"targetNames": ["jawOpen", "mouthSmile_L"]}


@pytest.mark.parametrize("extension", ["EXT_meshopt_compression", "KHR_draco_mesh_compression"])
def test_compressed_geometry_is_refused_with_advice(tmp_path, extension):
    builder, _ = quad_rig()
    builder.json["extensionsUsed"] = [extension]
    builder.json["extensionsRequired"] = [extension]
    with pytest.raises(UnsupportedGltfError, match=rf"{extension}.*decompress it first"):
        read_gltf(write(tmp_path, builder.glb()))


# ------------------------------------------------------------------------ real rigs

def test_ict_facekit_sparse_rig():
    path = shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb")
    rig = read_gltf(path)
    (mesh,) = rig.meshes
    assert (mesh.n_vertices, len(mesh.faces), len(mesh.target_names)) == (26719, 52220, 53)
    assert mesh.target_names[:3] == ("browDown_L", "browDown_R", "browInnerUp_L")
    moved = np.count_nonzero(np.any(mesh.deltas != 0, axis=2), axis=1)
    # The README: 2,511 to 17,927 moved vertices per target.
    assert (moved.min(), moved.max()) == (2511, 17927)
    # Every target's declared bounds equal the decoded deltas' bounds.
    document = rig.source.document
    target_accessors = [t["POSITION"] for t in document["meshes"][0]["primitives"][0]["targets"]]
    for k, index in enumerate(target_accessors):
        accessor = document["accessors"][index]
        assert "sparse" in accessor
        assert np.allclose(mesh.deltas[k].min(axis=0), accessor["min"], atol=1e-6)
        assert np.allclose(mesh.deltas[k].max(axis=0), accessor["max"], atol=1e-6)


def test_facecap_meshopt_is_refused():
    path = shared_asset("rigs/facecap/facecap.glb")
    with pytest.raises(UnsupportedGltfError) as error:
        read_gltf(path)
    message = str(error.value)
    assert "EXT_meshopt_compression" in message and "facecap.glb" in message
    assert "gltfpack" in message


def test_facecap_decoded_rig_and_its_ubyte_normalized_animation():
    path = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    rig = read_gltf(path)
    (info,) = rig.targets
    assert len(info.target_names) == 52 and info.target_names[0] == "browInnerUp"
    (mesh,) = rig.meshes
    assert mesh.n_vertices == 2694
    # The capture animation's weights output is UNSIGNED_BYTE normalized (c / 255): decoded, it
    # must equal the CSV export of the same track.
    table_path = shared_asset("captures/facecap/facecap_animation_weights.csv")
    document = rig.source.document
    animation, channel = next((a, c) for a in document["animations"] for c in a["channels"]
                              if c["target"]["path"] == "weights")
    sampler = animation["samplers"][channel["sampler"]]
    output_accessor = document["accessors"][sampler["output"]]
    assert output_accessor["componentType"] == 5121 and output_accessor["normalized"] is True
    times = read_accessor_float(rig.source, sampler["input"])[:, 0]
    weights = read_accessor_float(rig.source, sampler["output"]).reshape(times.size, 52)
    with open(table_path, newline="") as stream:
        rows = list(csv.reader(stream))
    header, values = rows[0], np.array(rows[1:], dtype=np.float64)
    assert header[1:] == list(info.target_names)
    assert values.shape == (335, 53) and times.size == 335
    assert np.allclose(values[:, 0], times, atol=1e-4)
    assert np.max(np.abs(values[:, 1:] - weights)) < 0.5 / 255 + 1e-6


@pytest.mark.parametrize(("name", "targets", "names_source"), [
    ("AnimatedMorphCube", 2, "generated"),
    ("AnimatedMorphSphere", 2, "generated"),
    ("MorphPrimitivesTest", 1, "generated"),
    ("MorphStressTest", 8, "mesh.extras.targetNames"),
    ("SimpleMorph", 2, "generated"),
])
def test_khronos_samples(name, targets, names_source):
    path = shared_asset(f"rigs/khronos/{name}/glTF/{name}.gltf")
    rig = read_gltf(path)
    (info,) = rig.targets
    assert len(info.target_names) == targets and info.names_source == names_source
    (mesh,) = rig.meshes
    assert mesh.deltas.shape == (targets, mesh.n_vertices, 3)
    assert np.isfinite(mesh.deltas).all() and np.abs(mesh.deltas).max() > 0


def test_simple_morph_values():
    rig = read_gltf(shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf"))
    mesh = rig.meshes[0]
    document = json.loads(
        shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf").read_text())
    assert mesh.n_vertices == 3 and document["meshes"][0]["weights"] == [0.5, 0.5]
    # Target accessor bounds in the file bracket the decoded deltas.
    for k, target in enumerate(document["meshes"][0]["primitives"][0]["targets"]):
        accessor = document["accessors"][target["POSITION"]]
        assert np.allclose(mesh.deltas[k].min(axis=0), accessor["min"])
        assert np.allclose(mesh.deltas[k].max(axis=0), accessor["max"])


def test_morph_primitives_test_two_primitives_one_weight():
    path = shared_asset("rigs/khronos/MorphPrimitivesTest/glTF/MorphPrimitivesTest.gltf")
    source = read_gltf_source(path)
    primitives = source.document["meshes"][0]["primitives"]
    rig = read_gltf(path)
    assert len(primitives) == 2
    assert len(rig.meshes[0].metadata["primitive_vertex_counts"]) == 2
