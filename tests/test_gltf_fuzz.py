"""Issue 11 point 13, glTF classes: memory from nothing, numbers beyond float range, and a bounded
fuzz test of the reader on mutated real files. Only :class:`FacsRigError` may escape, and nothing
may allocate more than the file's bytes justify."""

from __future__ import annotations

import base64
import copy
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, shared_asset
from gltf_samples import DocumentBuilder, glb_from, quad_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.deform import Deformer
from facs_rig.errors import FacsRigError, GltfError
from facs_rig.io.gltf import parse_gltf_bytes, read_gltf, world_matrices
from facs_rig.io.gltf.container import DECODE_FACTOR, DECODE_FLOOR

FUZZ_REPROS = REPO.parent / "shared" / "fuzz-repros"


def fuzz_repro(name: str) -> Path:
    path = FUZZ_REPROS / name
    if not path.exists():
        pytest.skip(f"{name} not present (../shared/fuzz-repros is not beside the repo)")
    return path


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("facs-rig: error: "), \
        captured.err
    return captured.err


def _peak_bytes(function) -> int:
    """Peak bytes Python and numpy allocated while ``function()`` ran (numpy reports to
    tracemalloc)."""
    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# ------------------------------------------------------------------ the reproducers


@pytest.mark.parametrize("command", ["pose", "preview"])
def test_repro_zero_accessor_shared_by_200_targets_is_refused_in_bounded_memory(
        tmp_path, capsys, command):
    # 5 KB: one accessor without a bufferView, count 1,333,333 VEC3, used by 200 targets. It made
    # pose allocate 6.2 GB and preview 7.0 GB.
    repro = fuzz_repro("repro_mem_zero_accessor.gltf")
    out = tmp_path / ("x.obj" if command == "pose" else "x.png")
    codes = []
    peak = _peak_bytes(lambda: codes.append(main([command, "12", "--mesh", str(repro),
                                                  "-o", str(out)])))
    assert codes == [1]
    error = _one_error_line(capsys)
    assert "/meshes/0: 200 targets × 1333333 vertices" in error
    assert "beyond what the file's size justifies" in error
    assert peak < 32 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert not out.exists()


def test_repro_zero_accessor_library_error():
    repro = fuzz_repro("repro_mem_zero_accessor.gltf")
    with pytest.raises(GltfError, match=r"67,108,864 bytes in all for this file"):
        read_gltf(repro)


@pytest.mark.parametrize("command", ["pose", "preview"])
def test_repro_translation_of_10_to_the_400_is_one_error_line(tmp_path, capsys, command):
    repro = fuzz_repro("repro_overflow_translation.glb")
    out = tmp_path / ("x.obj" if command == "pose" else "x.png")
    assert main([command, "12", "--mesh", str(repro), "-o", str(out)]) == 1
    error = _one_error_line(capsys)
    assert error.endswith("repro_overflow_translation.glb: /nodes/0/translation holds a number "
                          "beyond float range\n")
    assert not out.exists()


# ------------------------------------------------------------------ the classes


def _shared_accessor_rig(n_targets: int, n_vertices: int, *, with_view: bool) -> bytes:
    """One POSITION accessor (zeros without a buffer view, or real bytes) shared by every target."""
    builder = DocumentBuilder()
    if with_view:
        shared = builder.accessor(np.zeros((n_vertices, 3), np.float32))
    else:
        builder.json["accessors"].append({"componentType": 5126, "count": n_vertices,
                                          "type": "VEC3"})
        shared = len(builder.json["accessors"]) - 1
    primitive = {"attributes": {"POSITION": shared}, "mode": 0,
                 "targets": [{"POSITION": shared}] * n_targets}
    builder.mesh_node({"primitives": [primitive],
                       "extras": {"targetNames": [f"t{k}" for k in range(n_targets)]}})
    return builder.glb()


@pytest.mark.parametrize("with_view", [False, True])
def test_a_shared_accessor_is_charged_once_per_use(tmp_path, with_view):
    # 100,000 vertices × 400 targets = 480 MB of dense deltas out of 1.2 MB (with the bytes) or
    # 8 KB (without): both far past 64 × the file's size.
    path = tmp_path / "shared.glb"
    path.write_bytes(_shared_accessor_rig(400, 100_000, with_view=with_view))
    errors = []

    def read() -> None:
        try:
            read_gltf(path)
        except GltfError as exc:
            errors.append(str(exc))

    peak = _peak_bytes(read)
    assert len(errors) == 1 and "/meshes/0: 400 targets × 100000 vertices" in errors[0]
    assert "beyond what the file's size justifies" in errors[0]
    assert peak < 16 << 20


def test_an_accessor_without_a_view_is_charged_even_alone(tmp_path):
    # The base POSITION itself claims 2^40 zero vertices: refused before any allocation, also
    # by read_accessor used directly (the preview's static meshes).
    from facs_rig.io.gltf.accessors import read_accessor

    document = {"asset": {"version": "2.0"},
                "accessors": [{"componentType": 5126, "count": 1 << 40, "type": "VEC3"}]}
    source = parse_gltf_bytes(json.dumps(document).encode(), path=tmp_path / "big.gltf")
    with pytest.raises(GltfError, match=r"/accessors/0, VEC3\) would need 13,194,139,533,312 "
                                        r"bytes"):
        read_accessor(source, 0)
    assert source.budget.spent == 0


def test_the_budget_is_the_floor_or_64_times_the_file(tmp_path):
    small = parse_gltf_bytes(glb_from({"asset": {"version": "2.0"}}), path=tmp_path / "s.glb")
    assert small.budget.limit == DECODE_FLOOR == 64 << 20
    ict = read_gltf(shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb"))
    assert ict.source.file_bytes == 7_675_096
    assert ict.source.budget.limit == DECODE_FACTOR * 7_675_096
    # ICT decodes to 2.3 × its size (sparse targets made dense, charged twice): well inside.
    assert 0 < ict.source.budget.spent < ict.source.budget.limit // 8


def test_external_buffers_count_towards_the_file_size():
    path = shared_asset("rigs/khronos/MorphStressTest/glTF/MorphStressTest.gltf")
    source = read_gltf(path).source
    assert source.file_bytes == path.stat().st_size + sum(len(b) for b in source.buffers)


def test_real_rigs_still_read_within_their_budget():
    for relative in ("rigs/facecap/facecap_decoded_float_notextures.glb",
                     "rigs/ict_facekit/ict_facekit_full_head.glb",
                     "rigs/khronos/MorphStressTest/glTF/MorphStressTest.gltf"):
        rig = read_gltf(shared_asset(relative))
        assert rig.meshes and rig.source.budget.spent <= rig.source.budget.limit
    head = read_gltf(REPO / "rigs" / "default_head.glb")
    assert head.source.budget.spent < head.source.budget.limit // 4


@pytest.mark.parametrize(("key", "value", "message"), [
    ("translation", [10**400, 0, 0], "/nodes/0/translation holds a number beyond float range"),
    ("translation", [1e400, 0, 0], "/nodes/0/translation holds a number beyond float range"),
    ("scale", [1, -(10**309), 1], "/nodes/0/scale holds a number beyond float range"),
    ("rotation", [0, 0, 0, 10**500], "/nodes/0/rotation holds a number beyond float range"),
    ("matrix", [1] * 15 + [10**400], "/nodes/0/matrix holds a number beyond float range"),
    ("matrix", [1] * 15, "/nodes/0/matrix must be an array of 16 numbers"),
    ("rotation", [0, 0, "1", 1], "/nodes/0/rotation must be an array of 4 numbers"),
    ("translation", [True, 0, 0], "/nodes/0/translation must be an array of 3 numbers"),
])
def test_node_transforms_beyond_float_range_or_malformed(tmp_path, key, value, message):
    builder, _ = quad_rig()
    document = builder.finish()
    document["nodes"][0][key] = value
    document["buffers"][0]["uri"] = "rig.bin"
    (tmp_path / "rig.bin").write_bytes(bytes(builder.binary))
    path = tmp_path / "rig.gltf"
    # json.dumps writes the float 1e400 (inf) as Infinity; the file holds the literal 1e400,
    # which Python's json parses to inf.
    path.write_text(json.dumps(document).replace("Infinity", "1e400"))
    with pytest.raises(GltfError, match=message):
        world_matrices(read_gltf(path).source)


# ------------------------------------------------------------------ fuzzing real files

_SMALL_REAL_FILES = ("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf",
                     "rigs/khronos/AnimatedMorphCube/glTF/AnimatedMorphCube.gltf",
                     "rigs/khronos/MorphPrimitivesTest/glTF/MorphPrimitivesTest.gltf")

_HOSTILE_NUMBERS = st.sampled_from([0, -1, 1, 3, 4, 255, 1 << 31, 1 << 40, 10**400, -(10**400),
                                    1e308, -1e308, 0.5, 5126, 5121, 5123, 34962])


def _paths(value, prefix=()):
    """Every (path, leaf) of a JSON value whose leaf is a number, list or dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,), item
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,), item
            yield from _paths(item, prefix + (index,))


def _set(document, path, value):
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


@pytest.fixture(scope="module")
def small_real_files():
    files = []
    for relative in _SMALL_REAL_FILES:
        path = shared_asset(relative)
        document = json.loads(path.read_text())
        binary = (path.parent / document["buffers"][0]["uri"]).read_bytes()
        files.append((relative, document, binary))
    return files


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_real_files_read_pose_or_raise_facs_rig_errors(tmp_path, small_real_files, data):
    relative, original, binary = data.draw(st.sampled_from(small_real_files))
    document = copy.deepcopy(original)
    paths = [path for path, _ in _paths(document) if path[0] != "buffers"]
    for _ in range(data.draw(st.integers(1, 6))):
        path = data.draw(st.sampled_from(paths))
        kind = data.draw(st.sampled_from(["number", "reference", "drop", "huge list"]))
        try:
            if kind == "number":
                _set(document, path, data.draw(_HOSTILE_NUMBERS))
            elif kind == "reference":  # share one accessor everywhere a reference was
                _set(document, path, 0)
            elif kind == "drop":
                parent = document
                for key in path[:-1]:
                    parent = parent[key]
                if isinstance(parent, dict):
                    del parent[path[-1]]
            else:  # many targets that all name accessor 0
                _set(document, path, [{"POSITION": 0}] * 500)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced that path
    mutated_binary = bytearray(binary)
    for _ in range(data.draw(st.integers(0, 4))):
        mutated_binary[data.draw(st.integers(0, len(binary) - 1))] = data.draw(st.integers(0, 255))
    document["buffers"] = [{"byteLength": len(binary),
                            "uri": "data:application/octet-stream;base64,"
                            + base64.b64encode(bytes(mutated_binary)).decode()}]
    text = json.dumps(document, allow_nan=True).replace("Infinity", "1e400")
    path = tmp_path / "fuzz.gltf"
    path.write_text(text)

    def read_and_pose() -> None:  # what `pose` does with a file: read, transform, deform
        rig = read_gltf(path)
        world_matrices(rig.source)
        for mesh in rig.meshes:
            Deformer(mesh)(np.full(len(mesh.target_names), 0.5, np.float32))

    try:
        peak = _peak_bytes(read_and_pose)
    except FacsRigError:
        return
    assert peak < DECODE_FLOOR + (8 << 20), (relative, peak)
