"""OBJ/PLY through trimesh with process=False: vertex order survives; bad files are clean errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from facs_rig.errors import FacsRigError, UnsupportedFormatError
from facs_rig.io.meshes import read_mesh, write_mesh

# Duplicate and unused vertices: exactly what trimesh's processing would merge or drop.
POSITIONS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [9, 9, 9], [0, 0, 1]],
                     dtype=np.float32)
FACES = np.array([[0, 1, 2], [3, 5, 2]], dtype=np.uint32)


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_round_trip_keeps_duplicates_and_unused_vertices(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    write_mesh(path, POSITIONS, FACES)
    positions, faces = read_mesh(path)
    assert np.array_equal(positions, POSITIONS) and np.array_equal(faces, FACES)


def test_unsupported_extension(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.obj or \.ply"):
        write_mesh(tmp_path / "m.stl", POSITIONS, FACES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(np.float32, st.tuples(st.integers(3, 40), st.just(3)),
                  elements=st.floats(-1e3, 1e3, width=32)), st.sampled_from([".obj", ".ply"]),
       st.data())
def test_property_round_trip(tmp_path, positions, suffix, data):
    n = positions.shape[0]
    faces = data.draw(hnp.arrays(np.uint32, st.tuples(st.integers(1, 20), st.just(3)),
                                 elements=st.integers(0, n - 1)))
    path = tmp_path / f"p{suffix}"
    write_mesh(path, positions, faces)
    read_positions, read_faces = read_mesh(path)
    assert np.array_equal(read_faces, faces)
    # PLY stores the values bit for bit; OBJ prints 8 decimals.
    atol = 0 if suffix == ".ply" else 1e-5 * (1 + np.abs(positions).max())
    assert np.allclose(read_positions, positions, rtol=0, atol=atol)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
       st.sampled_from([".obj", ".ply"]))
def test_garbage_reads_or_raises_our_error(tmp_path, data, suffix):
    path = tmp_path / f"g{suffix}"
    path.write_bytes(data)
    try:
        positions, faces = read_mesh(path)
    except FacsRigError:
        return
    assert positions.ndim == 2 and positions.shape[1] == 3 and faces.shape[1] == 3
