"""The deformation engine: every path equals base + Σ w·delta; the planner picks by cost."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from facs_rig.core.deform import Deformer, deform, vertex_normals
from facs_rig.core.mesh import MorphMesh


def local_rig(n_vertices=2000, n_targets=40, region=0.1, seed=0) -> MorphMesh:
    """Targets that each move one contiguous region, as scanned heads' vertex order gives."""
    rng = np.random.default_rng(seed)
    positions = rng.normal(size=(n_vertices, 3)).astype(np.float32)
    deltas = np.zeros((n_targets, n_vertices, 3), dtype=np.float32)
    width = max(1, int(n_vertices * region))
    for k in range(n_targets):
        start = rng.integers(0, n_vertices - width + 1)
        deltas[k, start:start + width] = rng.normal(0, 0.01, size=(width, 3))
    return MorphMesh("local", positions, np.zeros((0, 3), np.uint32),
                     tuple(f"t{k}" for k in range(n_targets)), deltas)


def reference(mesh: MorphMesh, weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    return (mesh.positions.astype(np.float64)
            + np.einsum("...t,tvc->...vc", weights, mesh.deltas.astype(np.float64)))


@pytest.mark.parametrize("strategy", ["auto", "dense", "sparse"])
def test_every_strategy_matches_the_definition(strategy):
    mesh = local_rig()
    rng = np.random.default_rng(1)
    deformer = Deformer(mesh, strategy=strategy)
    frames = rng.random((7, 40)).astype(np.float32)
    frames[2] = 0
    frames[3, 5:] = 0
    frames[4, :] = 0
    frames[4, [3, 30]] = [-0.5, 1.5]  # glTF does not clamp weights
    batch = deformer(frames)
    assert batch.shape == (7, 2000, 3) and batch.dtype == np.float32
    assert np.allclose(batch, reference(mesh, frames), atol=2e-6)
    for row in range(7):
        single = deformer(frames[row])
        assert single.shape == (2000, 3)
        assert np.allclose(single, reference(mesh, frames[row]), atol=2e-6)


def test_planner_choices():
    mesh = local_rig(n_vertices=20000, n_targets=52, region=0.1)
    deformer = Deformer(mesh)
    dense = np.full(52, 0.3, dtype=np.float32)
    assert deformer.plan(dense)[0] == "gemv"
    assert deformer.plan(np.zeros(52, np.float32))[0] == "zero"
    few = np.zeros(52, np.float32)
    few[[3, 40]] = 0.7
    path, targets = deformer.plan(few)
    assert path == "ranges" and targets.tolist() == [3, 40]
    block = np.zeros(52, np.float32)
    block[10:40] = 0.5
    assert deformer.plan(block)[0] == "ranges"  # 30 local targets: cheaper one by one
    # Targets that move every vertex: a product over targets 10..39 beats 30 scaled adds.
    dense_rig = Deformer(local_rig(n_vertices=20000, n_targets=52, region=1.0))
    assert dense_rig.plan(block)[0] == "block"
    assert dense_rig.plan(few)[0] == "ranges"
    assert deformer.plan(np.tile(dense, (100, 1)))[0] == "gemm"
    assert Deformer(mesh, strategy="dense").plan(few)[0] == "gemv"


def test_zero_weight_targets_are_not_read():
    mesh = local_rig(n_vertices=500, n_targets=10)
    deltas = mesh.deltas.copy()
    deltas[7] = np.nan  # a target never read cannot poison the result
    poisoned = MorphMesh(mesh.name, mesh.positions, mesh.faces, mesh.target_names, deltas)
    weights = np.zeros(10, np.float32)
    weights[2] = 1.0
    result = Deformer(poisoned, strategy="sparse")(weights)
    assert np.isfinite(result).all()
    assert np.allclose(result, reference(mesh, weights), atol=1e-6)


def test_out_parameter_is_filled_in_place():
    mesh = local_rig(n_vertices=300, n_targets=5)
    deformer = Deformer(mesh)
    out = np.zeros((300, 3), np.float32)
    weights = np.array([0, 1, 0, 0.5, 0], np.float32)
    assert deformer(weights, out=out) is not None
    assert np.allclose(out, reference(mesh, weights), atol=1e-6)
    with pytest.raises(ValueError, match="out must be"):
        deformer(weights, out=np.zeros((300, 3), np.float64))
    with pytest.raises(ValueError, match="n_targets = 5"):
        deformer(np.zeros(4, np.float32))


def test_deform_function_and_degenerate_rigs():
    mesh = local_rig(n_vertices=50, n_targets=3)
    weights = np.eye(3, dtype=np.float32)
    assert np.allclose(deform(mesh, weights), reference(mesh, weights), atol=1e-6)
    empty = MorphMesh("none", mesh.positions, mesh.faces, (), np.zeros((0, 50, 3), np.float32))
    assert np.array_equal(Deformer(empty)(np.zeros((4, 0), np.float32)),
                          np.broadcast_to(mesh.positions, (4, 50, 3)))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 8), st.data())
def test_property_all_paths_agree(n_vertices, n_targets, data):
    deltas = data.draw(hnp.arrays(np.float32, (n_targets, n_vertices, 3),
                                  elements=st.sampled_from([0.0, 0.0, 1.0, -0.25, 3.5])))
    positions = data.draw(hnp.arrays(np.float32, (n_vertices, 3),
                                     elements=st.floats(-10, 10, width=32)))
    weights = data.draw(hnp.arrays(np.float32, (data.draw(st.integers(1, 4)), n_targets),
                                   elements=st.sampled_from([0.0, 0.0, 0.5, 1.0, -1.0])))
    mesh = MorphMesh("p", positions, np.zeros((0, 3), np.uint32),
                     tuple(map(str, range(n_targets))), deltas)
    expected = reference(mesh, weights)
    for strategy in ("auto", "dense", "sparse"):
        deformer = Deformer(mesh, strategy=strategy)
        assert np.allclose(deformer(weights), expected, atol=1e-4)
        assert np.allclose(deformer(weights[0]), expected[0], atol=1e-4)


def test_vertex_normals_of_a_flat_quad():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [5, 5, 5]], np.float32)
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    normals = vertex_normals(positions, faces)
    assert np.allclose(normals[:4], [0, 0, 1]) and np.allclose(normals[4], [0, 0, 1])


def test_ict_rig_all_paths_agree():
    from facs_rig.io.gltf import read_gltf

    mesh = read_gltf(shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb")).meshes[0]
    rng = np.random.default_rng(3)
    weights = np.zeros((3, 53), np.float32)
    weights[0] = rng.random(53)
    weights[1, [5, 20, 33]] = [0.2, 0.9, 0.4]
    results = [Deformer(mesh, strategy=s)(weights) for s in ("auto", "dense", "sparse")]
    expected = reference(mesh, weights)
    for result in results:
        assert np.allclose(result, expected, atol=1e-4)
    assert np.array_equal(results[0][2], mesh.positions)
