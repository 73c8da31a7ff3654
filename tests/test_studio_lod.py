"""The studio's playback level of detail (facs_rig/studio/lod.py) and its route /rig-coarse.bin."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from facs_rig.studio import open_session
from facs_rig.studio.lod import MIN_TRIANGLES, PLAYBACK_KEEP, SMALL_KEEP, coarse_triangles
from facs_rig.studio.server import ServerThread, coarse_payload, rig_payload

SMILE = "fps 24\n0  6+12D  onset 0.5 apex 1 offset 0.5\n"


@pytest.fixture(scope="module")
def head():
    """The bundled head as the page draws it: triangles grouped by look, colours, deltas."""
    from facs_rig.studio.materials import rig_looks

    session = open_session(None)
    render_rig = session.setup.rig.motion_as_targets()
    looks = rig_looks(render_rig)
    return session, render_rig, render_rig.mesh.faces[looks.face_order], looks.groups


def _edges(triangles: np.ndarray) -> dict:
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.sort(edges, axis=1)
    keys, counts = np.unique(edges, axis=0, return_counts=True)
    return dict(zip(map(tuple, keys.tolist()), counts.tolist()))


def _group(triangles: np.ndarray, group: dict) -> np.ndarray:
    return triangles.reshape(-1)[group["start"]:group["start"] + group["count"]].reshape(-1, 3)


def test_coarse_triangles_index_each_looks_own_vertices_and_keep_its_borders(head):
    _, render_rig, triangles, groups = head
    mesh = render_rig.mesh
    coarse, coarse_groups = coarse_triangles(mesh.positions, triangles, groups,
                                             colours=render_rig.colours, deltas=mesh.deltas)
    assert coarse.dtype == np.uint32 and [g["look"] for g in coarse_groups] == [g["look"] for g in groups]
    assert [g["start"] for g in coarse_groups] == [0, *np.cumsum([g["count"] for g in coarse_groups])[:-1]]
    assert sum(g["count"] for g in coarse_groups) == coarse.size
    for group, coarse_group in zip(groups, coarse_groups):
        full, fewer = _group(triangles, group), _group(coarse, coarse_group)
        # The face: about PLAYBACK_KEEP of its triangles, the eyes (small looks) SMALL_KEEP; none
        # degenerate, over the look's own vertices.
        keep = PLAYBACK_KEEP if full.shape[0] >= MIN_TRIANGLES else SMALL_KEEP
        assert 0.8 * keep * full.shape[0] <= fewer.shape[0] <= 1.05 * keep * full.shape[0]
        assert np.all((fewer[:, 0] != fewer[:, 1]) & (fewer[:, 1] != fewer[:, 2])
                      & (fewer[:, 0] != fewer[:, 2]))
        assert set(np.unique(fewer)) <= set(np.unique(full))
        # Every border point of the look's surface (lips, eyelids, neck: edges of one triangle
        # once vertices at one position, split for a UV or colour seam, count as one) is drawn.
        _, welded = np.unique(mesh.positions, axis=0, return_inverse=True)
        welded = welded.reshape(-1)
        border = {v for edge, count in _edges(welded[full]).items() if count == 1 for v in edge}
        assert border and border <= set(np.unique(welded[fewer]).tolist())


def test_keep_one_is_the_triangles_themselves(head):
    _, render_rig, triangles, groups = head
    coarse, coarse_groups = coarse_triangles(render_rig.mesh.positions, triangles, groups, keep=1.0)
    assert np.array_equal(coarse, triangles) and coarse_groups == groups
    with pytest.raises(ValueError, match="keep"):
        coarse_triangles(render_rig.mesh.positions, triangles, groups, keep=0.0)


def test_coarse_payload_is_in_the_pages_vertex_order(head):
    """/rig-coarse.bin: G, G x (start, count, look), then triangles over /rig.bin's vertices: the
    same surface points as the mesh's coarse triangles."""
    session, render_rig, triangles, groups = head
    description, blob, _ = rig_payload(session)
    layout = description["layout"]
    words = np.frombuffer(coarse_payload(session), "<u4")
    count = int(words[0])
    header = words[1:1 + 3 * count].reshape(count, 3)
    page_triangles = words[1 + 3 * count:].reshape(-1, 3)
    assert [int(look) for look in header[:, 2]] == [g["look"] for g in layout["groups"]]
    assert int(header[:, 1].sum()) == page_triangles.size and page_triangles.max() < layout["vertices"]
    page_positions = np.frombuffer(blob, "<f4", 3 * layout["vertices"], layout["positions"]).reshape(-1, 3)
    mesh = render_rig.mesh
    driven = [k for k, column in enumerate(description["columns"]) if column >= 0]
    coarse, _ = coarse_triangles(mesh.positions, triangles, groups, colours=render_rig.colours,
                                 deltas=mesh.deltas[driven])
    assert np.array_equal(page_positions[page_triangles], mesh.positions[coarse])


def test_the_coarse_route_answers_after_the_rig(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "take.notes").write_text(SMILE)
    session = open_session("take.notes")
    with ServerThread(session) as running:
        with urllib.request.urlopen(running.url + "rig-coarse.bin", timeout=60) as response:
            body = response.read()
        with urllib.request.urlopen(running.url + "rig.json", timeout=60) as response:
            assert json.loads(response.read())["layout"]["triangles"] > 3 * (len(body) // 12) // 4
    assert body == coarse_payload(session)


def test_without_the_lod_extra_the_coarse_route_is_404_and_the_rig_is_served(tmp_path, monkeypatch):
    """meshoptimizer is the optional 'lod' extra: without it the page plays the full mesh."""
    import sys
    import urllib.error

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACS_RIG_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached before
    monkeypatch.setitem(sys.modules, "facs_rig.studio.lod", None)  # import raises ImportError
    (tmp_path / "take.notes").write_text(SMILE)
    with ServerThread(open_session("take.notes")) as running:
        with urllib.request.urlopen(running.url + "rig.json", timeout=60) as response:
            assert json.loads(response.read())["layout"]["triangles"] > 0
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(running.url + "rig-coarse.bin", timeout=60)
        assert refused.value.code == 404
