"""facs-rig studio without a browser: the session, the server's routes and messages, safety."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from facs_rig.cli import main
from facs_rig.core.mixing import mix
from facs_rig.core.timeline import sample
from facs_rig.errors import OutputError
from facs_rig.io.timeline_files import read_timeline
from facs_rig.studio import open_session
from facs_rig.studio.server import ServerThread, decode_state

REPO = Path(__file__).resolve().parents[1]
SMILE = "fps 24\n0  6+12D  onset 0.5 apex 1 offset 0.5\n"


@pytest.fixture
def notes_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def session(notes_dir):
    (notes_dir / "take.notes").write_text(SMILE)
    return open_session("take.notes")


@pytest.fixture
def running(session):
    with ServerThread(session, watch_interval=0.05) as running:
        yield running


def _ws(running, **kwargs):
    return connect(running.url.replace("http", "ws") + "ws", **kwargs)


_ARRAYS: dict[int, dict] = {}  # each test connection's copy of the timeline's arrays


def _receive(ws, kind, *, timeout=10.0):
    """The next message of type ``kind``; binary state frames are read as the page reads them,
    into the connection's arrays (:func:`_arrays`)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        message = decode_state(frame, _ARRAYS.setdefault(id(ws), {}))
        if message["type"] == kind:
            return message


def _arrays(ws) -> dict:
    """``weights``, ``weights2``, ``curves`` as the connection has them from its state frames."""
    return _ARRAYS[id(ws)]


# ---------------------------------------------------------------------------- the session

def test_a_duration_that_cuts_a_beat_short_is_in_the_status_not_on_stderr(session, capfd):
    """The page shows the session's status; the warning went to the server's stderr only."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned, it would raise here
        status = session.set_notes("fps 24\nduration 1\n0  12 apex 1\n")
    assert status.error is None
    assert status.warnings == (
        "take.notes, line 2: duration 1 (1 s) cuts off the beat on line 3 (12), which runs to "
        "1.8 s: it plays only to 1 s (a longer duration, or none, plays it whole)",)
    assert session.set_notes("fps 24\nduration 2\n0  12 apex 1\n").warnings == ()
    assert capfd.readouterr().err == ""


def test_session_weights_are_mix_of_the_notes(session, vocabulary):
    timeline = read_timeline("take.notes", vocabulary)
    expected = mix(sample(timeline, channels=session.profile.channels), session.profile).weights
    assert session.status.error is None
    np.testing.assert_array_equal(session.weights, expected)
    assert session.weights.shape == (49, len(session.profile.targets))  # 2 s at 24 fps


def test_notes_error_has_the_cli_words_and_position(session, capsys):
    bad = "fps 24\n0  6+12D\n1  6+99\n"
    status = session.set_notes(bad)
    Path("bad.notes").write_text(bad)
    assert main(["timeline", "show", "bad.notes"]) == 1
    cli = capsys.readouterr().err.strip()
    assert cli == f"facs-rig: error: {status.error}".replace("take.notes", "bad.notes")
    assert (status.line, status.column) == (3, 6)
    # The last good timeline stays (the face does not jump while typing).
    assert session.weights.shape[0] == 49


def test_pose_code_both_ways(session):
    weights = session.pose_from_code("6C+R12D")
    assert session.pose_code() == "6C+R12D"
    index = session.profile.targets.index("AU12_R")
    assert weights[index] == pytest.approx(0.9)
    session.pose_from_values({"AU12_L": 0.2, "AU06": 0.55})
    assert session.pose_code() == "6C+L12B"


def test_insert_beat_goes_in_time_order(session):
    session.set_notes("fps 24\n0  6\n2  12\n")
    session.insert_beat("R14A", 1.0)
    assert session.text.splitlines()[2] == "00:00:01:00  R14A"
    assert session.status.error is None
    # Beat times in every form the notes take (frames, seconds with s, timecode), comments and
    # a header line in between: the beat goes before the first that starts later.
    session.set_notes("fps 24\n# intro\n12f  6\n0.75s  7\ntitle x\n00:00:01:12  12\n")
    session.insert_beat("R14A", 1.0)
    assert session.text.splitlines()[5] == "00:00:01:00  R14A"


def test_held_notes_play_and_take_inserted_beats(session):
    """The 'apex next' header holds each beat until the next one (docs/timeline-formats.md,
    "Holding until the next beat"): the studio plays it, and a beat inserted at the playhead
    goes among the beats below the header and cuts the hold there."""
    session.set_notes("fps 24\napex next\n0  12\n3  4\n")
    assert session.status.error is None
    held = {channel.name: value for channel, value in session.frame_values(2.5).items()}
    assert held["AU12"] == float(np.float32(0.55))  # without the header: 0 from 1.8 s
    session.insert_beat("R14A", 2.0)
    assert session.text.splitlines()[3] == "00:00:02:00  R14A"
    after = {channel.name: value for channel, value in session.frame_values(2.5).items()}
    assert "AU12" not in after and after["AU14_R"] == float(np.float32(0.10))  # 12 fell by 2.5 s


def test_inserting_the_slider_pose_plays_the_pose_not_its_rounded_code(session):
    """Sliders at 0.3 show as C (the band), but C plays 0.55: 'insert at playhead' wrote the
    code, so the timeline smiled harder than the pose the animator made. The lines now carry
    the pose's own values; a 'both' and an L slider on one AU (an error before: no code holds
    12 and L12) get a code and lines of their own."""
    session.set_notes("fps 24\n")
    session.pose_from_values({"AU06": 0.55, "AU12_L": 0.3, "AU12_R": 0.3})
    assert session.pose_code() == "6C+L12C+R12C"
    session.insert_beat(session.pose_code(), 1.0)
    assert session.text == ("fps 24\n00:00:01:00  6C\n"
                            "00:00:01:00  L12C+R12C  intensity 0.3\n")
    assert session.status.error is None
    apex = {channel.name: value for channel, value in session.frame_values(1.5).items()}
    assert apex == {"AU06": float(np.float32(0.55)), "AU12_L": float(np.float32(0.3)),
                    "AU12_R": float(np.float32(0.3))}

    session.set_notes("fps 24\n")
    session.pose_from_values({"AU12": 0.3, "AU12_L": 0.9})
    assert session.pose_code() == "L12D+R12C"
    session.insert_beat("L12D+R12C", 1.0)
    assert session.text == "fps 24\n00:00:01:00  12C  intensity 0.3\n00:00:01:00  L12D\n"
    apex = {channel.name: value for channel, value in session.frame_values(1.5).items()}
    assert apex == {"AU12": float(np.float32(0.3)), "AU12_L": float(np.float32(0.9))}
    session.insert_beat("R14A", 2.0)  # a typed code that is not the pose's: as typed
    assert session.text.splitlines()[-1] == "00:00:02:00  R14A"


def test_inserting_a_wink_writes_no_letter_as_the_notes_writer(session, vocabulary):
    """FACS scores AU45 (blink) and AU46 (wink) present only: the notes writer never letters
    them (docs/timeline-formats.md), yet 'insert at playhead' wrote the slider pose's band
    letter (``L12D+R46E``). The pose lines now letter each AU as format_au_notes does."""
    from facs_rig.io.au_notes import format_au_notes

    session.set_notes("fps 24\n")
    session.pose_from_code("L12D+R46")
    assert session.pose_code() == "L12D+R46"
    session.insert_beat(session.pose_code(), 6.5)
    assert session.text == "fps 24\n00:00:06:12  L12D+R46\n"
    assert session.status.error is None
    assert {c.name: v for c, v in session.frame_values(7.5).items()} == {
        "AU12_L": float(np.float32(0.9)), "AU46_R": 1.0}
    # A blink slider short of closure keeps its band's letter ('45' alone would close the eye,
    # whatever a line's intensity), as the writer writes the timeline it parses to.
    session.set_notes("fps 24\n")
    session.pose_from_values({"AU45": 0.2, "AU06": 0.55})
    assert session.pose_code() == "6C+45B"  # the slider's band, so the code reads back to 0.2
    session.insert_beat(session.pose_code(), 1.0)
    assert session.text == "fps 24\n00:00:01:00  6C+45B\n"
    assert {c.name: v for c, v in session.frame_values(1.5).items()} == {
        "AU06": float(np.float32(0.55)), "AU45": float(np.float32(0.2))}
    written = format_au_notes(session.timeline, vocabulary, timecode=True)
    assert written.splitlines()[-1] == "00:00:01:00  6C+45B  onset 0.3  apex 1  offset 0.5"


def test_inserting_a_faint_blink_pose_keeps_its_depth(session):
    """An unlettered blink (45) plays closed whatever the line's intensity (FACS scores it only
    present), so a blink slider below A's band is written with A and its value."""
    session.set_notes("fps 24\n")
    session.pose_from_values({"AU06": 0.55, "AU45": 0.02, "AU12": 0.02})
    session.insert_beat(session.pose_code(), 1.0)
    assert session.text == "fps 24\n00:00:01:00  6C\n00:00:01:00  12+45A  intensity 0.02\n"
    assert session.status.error is None
    apex = {channel.name: value for channel, value in session.frame_values(1.5).items()}
    assert apex == {"AU06": float(np.float32(0.55)), "AU12": float(np.float32(0.02)),
                    "AU45": float(np.float32(0.02))}


def test_insert_beat_between_frames_is_placed_by_the_frame_it_is_written_at(session):
    """The playhead at 1.495 s is written as frame 36 (00:00:01:12, 1.5 s): it goes after a beat
    at 1.497 s, not before it (the notes then went backwards: an error on the inserted line)."""
    session.set_notes("fps 24\n1.49  6\n1.497  7\n2  9\n")
    session.insert_beat("R14A", 1.495)
    assert session.text == "fps 24\n1.49  6\n1.497  7\n00:00:01:12  R14A\n2  9\n"
    assert session.status.error is None


def test_insert_beat_writes_timecode_from_the_start_header(session):
    session.set_notes("fps 24\nstart 01:00:00:00\n01:00:01:00  6\n01:00:03:00  4C\n")
    session.insert_beat("R14A", 2.0)
    assert session.text.splitlines()[3] == "01:00:02:00  R14A"
    assert session.status.error is None
    assert [e.start for e in session.timeline.events] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ["../x.json", "/etc/x.json", "sub/x.json", ".x.json", "x.py",
                                  "x", "..", "a\\b.json", "x.json\x00.png", ""])
def test_outputs_stay_in_the_notes_folder(session, name):
    with pytest.raises(OutputError):
        session.output_path(name)


def test_exports_use_the_library_writers(session, notes_dir, vocabulary):
    for name in ("out.json", "out.eaf", "out.notes", "out.png"):
        assert session.export(name, at=1.0).parent == notes_dir
    assert read_timeline(notes_dir / "out.json", vocabulary) == read_timeline("take.notes", vocabulary)
    assert (notes_dir / "out.notes").read_text() == SMILE
    assert (notes_dir / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    session.set_notes("fps 24\n0  6+12D  onset 3f apex 2f offset 3f\n")
    session.export("out.gif")
    with Image.open(notes_dir / "out.gif") as clip:  # every frame at the timeline's fps
        # 9 frames at 24 fps; Pillow merges identical frames (the apex hold) into longer ones.
        durations = []
        for index in range(clip.n_frames):
            clip.seek(index)
            durations.append(clip.info["duration"])
        assert clip.size == (512, 512) and clip.n_frames <= 9
        assert abs(sum(durations) - 9 * 1000 / 24) <= 10


# ---------------------------------------------------------------------------- the server

def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_routes_are_a_fixed_table(running):
    assert _get(running.url)[0] == 200
    status, three = _get(running.url + "three.js")
    assert status == 200 and b"REVISION" in three[:2000] or b"Three.js" in three[:200]
    for path in ("../etc/passwd", "..%2f..%2fetc%2fpasswd", "take.notes", "static/studio.js",
                 "rig.bin/../take.notes"):
        assert _get(running.url + path)[0] == 404, path
    rig = json.loads(_get(running.url + "rig.json")[1])
    blob = _get(running.url + "rig.bin")[1]
    assert len(blob) == rig["layout"]["targets"][-1]["deltas"] + 12 * rig["layout"]["targets"][-1]["count"]


def _unpacked(rig: dict, blob: bytes) -> dict:
    """The page's view of ``/rig.bin``: arrays by name, targets as (indices, deltas)."""
    layout = rig["layout"]
    V, F = layout["vertices"], layout["triangles"]
    array = lambda start, dtype, count: np.frombuffer(blob, dtype, count, start)  # noqa: E731
    return {"positions": array(layout["positions"], "<f4", 3 * V).reshape(V, 3),
            "faces": array(layout["faces"], "<u4", 3 * F).reshape(F, 3),
            "targets": [(array(t["indices"], "<u4", t["count"]),
                         array(t["deltas"], "<f4", 3 * t["count"]).reshape(-1, 3))
                        for t in layout["targets"]]}


def test_rig_payload_is_the_mesh_reordered(session):
    """Moving vertices first and triangles grouped by material: the same surface, and the
    page's sparse sum equals the library's deform for any weights."""
    from facs_rig.core.deform import deform
    from facs_rig.studio.server import rig_payload

    rig, blob, images = rig_payload(session)
    data = _unpacked(rig, blob)
    mesh = session.setup.rig.motion_as_targets().mesh  # what the page blends: gaze as eye deltas
    assert images == [] and all(look["vertexColors"] is True for look in rig["looks"])
    # One group per primitive of the bundled head (the face, eyeball_L, eyeball_R), back to back
    # over every triangle.
    groups = rig["layout"]["groups"]
    assert [group["look"] for group in groups] == [0, 1, 2]
    assert [group["start"] for group in groups] == [0, *np.cumsum([g["count"] for g in groups])[:-1]]
    assert sum(group["count"] for group in groups) == 3 * mesh.faces.shape[0]
    triangles = lambda positions, faces: sorted(map(tuple, positions[faces].reshape(-1, 9).tolist()))  # noqa: E731
    assert triangles(data["positions"], data["faces"]) == triangles(mesh.positions, mesh.faces)
    moving = rig["layout"]["moving"]
    assert all(indices.size == 0 or indices.max() < moving for indices, _ in data["targets"])
    weights = np.random.default_rng(3).random(len(mesh.target_names)).astype(np.float32)
    columns = rig["columns"]
    shown = data["positions"].astype(np.float64).copy()
    for (indices, deltas), column, weight in zip(data["targets"], columns, weights):
        if column >= 0:
            shown[indices] += weight * deltas
    driven = np.where(np.array(columns) >= 0, weights, 0)
    # The order promised: vertices a driven target moves first, in the mesh's order, then the rest.
    moves = (np.abs(mesh.deltas[np.array(columns) >= 0]).max(axis=2) > 0).any(axis=0)
    order = np.concatenate([np.flatnonzero(moves), np.flatnonzero(~moves)])
    assert moving == moves.sum() and np.array_equal(data["positions"], mesh.positions[order])
    assert np.allclose(shown, deform(mesh, driven)[order], atol=1e-6)


def test_textures_are_served_from_memory(notes_dir):
    """An external image of the glTF is read when the rig loads and answered at a fixed route."""
    gltf = REPO.parent / "shared/assets/rigs/khronos/MorphPrimitivesTest/glTF/MorphPrimitivesTest.gltf"
    if not gltf.exists():
        pytest.skip("../shared/assets is not beside the repository")
    (notes_dir / "p.json").write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "primitives", "description": "test",
        "targets": ["target_0"], "action_units": {"AU26": [{"target": "target_0", "weight": 1.0}]}}))
    session = open_session("take.notes", mesh=str(gltf), rig="p.json")
    with ServerThread(session) as running:
        rig = json.loads(_get(running.url + "rig.json")[1])
        assert rig["images"] == 1 and rig["textures"] == [
            {"image": 0, "texCoord": 0, "wrapS": "repeat", "wrapT": "repeat"}]
        assert [g["look"] for g in rig["layout"]["groups"]] == [0, 1]
        data = _unpacked(rig, _get(running.url + "rig.bin")[1])
        uvs = np.frombuffer(_get(running.url + "rig.bin")[1], "<f4", 2 * rig["layout"]["vertices"],
                            rig["layout"]["uvs"])
        assert data["faces"].shape == (32, 3) and 0 < uvs.min() + 1 and uvs.max() <= 1
        assert _get(running.url + "rig-image-0")[1] == (gltf.parent / "uv_texture.jpg").read_bytes()
        for path in ("rig-image-1", "rig-image-0/../take.notes", "uv_texture.jpg", "rig-image--1"):
            assert _get(running.url + path)[0] == 404, path


def test_foreign_origin_is_refused(running):
    with pytest.raises(InvalidStatus):
        _ws(running, origin="http://evil.example").close()
    with _ws(running, origin=f"http://127.0.0.1:{running.server.port}") as ws:
        assert _receive(ws, "state")["error"] is None


def test_origins_on_all_interfaces(session):
    from facs_rig.studio.server import StudioServer

    server = StudioServer(session, host="0.0.0.0", port=8765)
    assert server._origin_allowed("http://192.168.1.5:8765", "192.168.1.5:8765")
    assert server._origin_allowed("http://localhost:8765", "localhost:8765")
    # A DNS name (possibly rebound to this machine by another site), another port, a mismatch.
    assert not server._origin_allowed("http://evil.example:8765", "evil.example:8765")
    assert not server._origin_allowed("http://192.168.1.5:9999", "192.168.1.5:9999")
    assert not server._origin_allowed("http://192.168.1.5:8765", "10.0.0.1:8765")
    loopback = StudioServer(session, host="127.0.0.1", port=8765)
    assert not loopback._origin_allowed("http://192.168.1.5:8765", "192.168.1.5:8765")


def test_malformed_messages_are_refused_and_counted(running):
    junk = ["not json", "[1,2]", '{"type": 5}', '{"type": "nope"}', '{"type": "__class__"}',
            '{"type": "notes"}', '{"type": "notes", "text": 7}', '{"type": "pose", "values": 3}',
            '{"type": "insert", "code": "6", "time": NaN}', '{"type": "export", "name": null}',
            '{"type": "osc", "on": true, "protocol": "x", "to": "a"}', "[" * 100_000]
    with _ws(running) as ws:
        _receive(ws, "pose")
        for text in junk:
            ws.send(text)
            assert _receive(ws, "refused")["refused"] >= 1, text
        ws.send(b"\x00\x01")
        _receive(ws, "refused")
        ws.send('{"type": "ping"}')
        assert _receive(ws, "pong")["refused"] == len(junk) + 1
        # Well-formed requests the library refuses get its error words, not a crash.
        ws.send(json.dumps({"type": "export", "name": "../escape.json"}))
        assert "plain file name" in _receive(ws, "error")["message"]
        ws.send(json.dumps({"type": "pose", "values": {"AU99": 0.5}}))
        assert "99" in _receive(ws, "error")["message"]
    assert not list(Path(running.server.session.folder.parent).glob("escape.json"))


WINK = "AU46 is a wink of one eye: write L46 or R46 (both eyes: 45 or 43)"


def test_a_slider_wink_of_no_eye_is_refused_in_the_readers_words(session):
    """The page's 'both' slider of AU46 was taken (both eyes closed, as a blink), and the pose's
    code, 46C, then failed to parse on every later pose: refused now, the pose left as it was."""
    from facs_rig.core.channels import Channel
    from facs_rig.errors import FacsRuleError

    session.pose_from_values({"AU46_L": 1.0})
    weights = session.pose_weights.copy()
    with pytest.raises(FacsRuleError) as caught:
        session.pose_from_values({"AU12": 0.5, "AU46": 1.0})
    assert str(caught.value) == WINK
    assert session.pose_values == {Channel(46, "L"): 1.0}
    assert np.array_equal(session.pose_weights, weights)
    assert session.pose_code() == "L46"


def test_a_wink_of_no_eye_sent_by_a_page_gets_an_error(running):
    with _ws(running) as ws:
        _receive(ws, "pose")
        ws.send(json.dumps({"type": "pose", "values": {"AU46_R": 1.0}}))
        assert _receive(ws, "pose")["code"] == "R46"
        ws.send(json.dumps({"type": "pose", "values": {"AU46": 1.0}}))
        assert _receive(ws, "error") == {"type": "error", "request": "pose", "message": WINK}
        ws.send(json.dumps({"type": "pose", "code": "46"}))
        assert _receive(ws, "error")["message"] == (
            "46 is a wink of one eye: write L46 or R46 (both eyes: 45 or 43) at column 1 of '46'")


def test_two_pages_see_the_same_state(running):
    with _ws(running) as first, _ws(running) as second:
        _receive(first, "pose"), _receive(second, "pose")
        first.send(json.dumps({"type": "notes", "text": "0  26E\n"}))
        a, b = _receive(first, "state"), _receive(second, "state")
        assert a["text"] == b["text"] == "0  26E\n" and a["blocks"] == b["blocks"]
        session = running.server.session
        np.testing.assert_array_equal(_arrays(first)["weights"], session.weights)
        np.testing.assert_array_equal(_arrays(second)["weights"], session.weights)
        np.testing.assert_array_equal(_arrays(second)["curves"], session.curves)
        second.send(json.dumps({"type": "pose", "code": "R12A+R14A"}))
        assert _receive(first, "pose")["code"] == _receive(second, "pose")["code"] == "R12A+R14A"


HOUR = "fps 24\n00:00:01:00  happiness\n3600  sadness\n"  # 86,444 frames


def test_session_mixes_only_changed_frames_and_matches_mix(session):
    """Edits mix only the frames whose AU values changed; the weights stay mix()'s exactly
    (a beat changed, added past the end, the end cut, the rate changed, a compare rig)."""
    versions = []
    for text in [HOUR, HOUR.replace("happiness", "surprise"), HOUR + "3601  fear\n",
                 "fps 24\n1  happiness\n", "fps 30\n1  happiness\n", "fps 30\n1  happiness  # hi\n",
                 "fps 30\n0  L12B\n1  happiness\n", "fps 30\n"]:
        assert session.set_notes(text).error is None, text
        expected = mix(sample(session.timeline, channels=session.profile.channels), session.profile)
        np.testing.assert_array_equal(session.weights, expected.weights)
        np.testing.assert_array_equal(session.curves, sample(session.timeline).values)
        versions.append(session.timeline_version)
    # The comment changed nothing: the same version (the page is sent no arrays).
    assert versions[5] == versions[4] and len(set(versions)) == len(versions) - 1


def test_state_frames_send_only_what_changed(running):
    """On an hour-long timeline a keystroke sent ~9 MB of weights (base64 in JSON), also for a
    comment or an error; now those send none, and a changed beat its frames only."""
    session = running.server.session
    with _ws(running, max_size=None) as ws, _ws(running, max_size=None) as other:
        _receive(ws, "pose"), _receive(other, "pose")
        ws.send(json.dumps({"type": "notes", "text": HOUR}))  # the hour itself: every frame
        _receive(ws, "state"), _receive(other, "state")
        for edit in (HOUR + "# a comment\n", HOUR + "  \n", HOUR + "3601  happy\n"):
            ws.send(json.dumps({"type": "notes", "text": edit}))
            raw = ws.recv(timeout=10)
            assert isinstance(raw, str) and len(raw) < 1000, edit  # JSON, no arrays
            state = json.loads(raw)
            assert "blocks" not in state and state["timeline"] == state["base"]
        assert state["error"].startswith("take.notes, line 4, column 7: ")
        ws.send(json.dumps({"type": "notes", "text": HOUR.replace("happiness", "surprise")}))
        raw = ws.recv(timeout=10)
        assert isinstance(raw, bytes) and len(raw) < 10_000
        state = decode_state(raw, _arrays(ws))
        spans = {block["array"]: (block["first"], block["rows"]) for block in state["blocks"]}
        assert set(spans) == {"weights", "curves"} and spans["weights"][1] < 100
        for client in (ws, other):  # both pages hold the session's arrays exactly
            if client is other:  # the three edits without arrays, then the changed beat
                for _ in range(4):
                    _receive(other, "state")
            np.testing.assert_array_equal(_arrays(client)["weights"], session.weights)
            np.testing.assert_array_equal(_arrays(client)["curves"], session.curves)
        assert _arrays(ws)["channels"] == [c.name for c in session.curve_channels]
        ws.send(json.dumps({"type": "resync"}))  # a page that missed a change: everything again
        full = _receive(ws, "state")
        assert full["base"] is None and all(block["reset"] for block in full["blocks"])
        np.testing.assert_array_equal(_arrays(ws)["weights"], session.weights)


def test_save_is_atomic_and_file_changes_are_picked_up(running, notes_dir):
    with _ws(running) as ws:
        _receive(ws, "pose")
        ws.send(json.dumps({"type": "notes", "text": "0  4C\n"}))
        _receive(ws, "state")
        ws.send(json.dumps({"type": "save"}))
        assert _receive(ws, "saved")["path"] == str(notes_dir / "take.notes")
        assert (notes_dir / "take.notes").read_text() == "0  4C\n"
        assert [p.name for p in notes_dir.iterdir() if p.name.startswith(".")] == []
        (notes_dir / "take.notes").write_text("fps 24\n0  1+2\n")  # the director's own editor
        state = _receive(ws, "state")
        assert state["reloaded"] and state["text"] == "fps 24\n0  1+2\n"
        assert state["channels"] == ["AU01", "AU02"]


def test_a_file_changed_on_disk_never_replaces_unsaved_edits(running, notes_dir):
    """The director typed and has not saved; another editor (or a checkout) changes the file:
    the typing stays, the pages are told; it used to be replaced by the file's text, lost."""
    notes = notes_dir / "take.notes"
    with _ws(running) as ws:
        _receive(ws, "pose")
        ws.send(json.dumps({"type": "notes", "text": SMILE + "1  surprise\n"}))
        assert _receive(ws, "state")["unsaved"] is True
        notes.write_text("fps 24\n0  1+2\n")
        changed = _receive(ws, "disk_changed")
        assert changed["message"] == CONFLICT
        session = running.server.session
        assert session.text == SMILE + "1  surprise\n" and session.unsaved
        ws.send(json.dumps({"type": "save", "overwrite": True}))  # the warning's Overwrite
        _receive(ws, "saved")
        assert notes.read_text() == SMILE + "1  surprise\n" and not session.unsaved
        notes.write_text("fps 24\n0  9\n")  # nothing unsaved now: the page follows the file
        state = _receive(ws, "state")
        assert state["reloaded"] and state["text"] == "fps 24\n0  9\n" and state["unsaved"] is False


CONFLICT = ("take.notes changed on disk; your unsaved edits are kept here (Overwrite writes them "
            "over the file, Reload from disk takes the file's text)")
SAVE_REFUSED = ("take.notes changed on disk since it was read or saved; Save would write over that "
                "change: Overwrite writes your edits over it, Reload from disk takes the file's text")


def test_a_change_on_disk_is_the_servers_state_and_save_does_not_write_over_it(running, notes_dir):
    """The warning that the file changed on disk under unsaved edits went once, to the pages
    open then: a page opened (or reloaded) after showed only "unsaved edits", and its Save wrote
    over the other editor's change (their '7.0  45' line was lost) without a word. Now every
    state carries the conflict, and Save refuses until asked to overwrite."""
    notes = notes_dir / "take.notes"
    edits, theirs = SMILE + "1  surprise\n", SMILE + "7.0  45\n"
    with _ws(running) as first:
        _receive(first, "pose")
        first.send(json.dumps({"type": "notes", "text": edits}))
        assert _receive(first, "state")["conflict"] is None
        notes.write_text(theirs)
        assert _receive(first, "disk_changed")["message"] == CONFLICT
    with _ws(running) as later:  # opened after the change
        state = _receive(later, "state")
        assert (state["conflict"], state["text"], state["unsaved"]) == (CONFLICT, edits, True)
        later.send(json.dumps({"type": "save"}))
        assert _receive(later, "error") == {"type": "error", "request": "save", "message": SAVE_REFUSED}
        assert notes.read_text() == theirs
        later.send(json.dumps({"type": "notes", "text": edits + "2  9\n"}))  # typing keeps it
        assert _receive(later, "state")["conflict"] == CONFLICT
        later.send(json.dumps({"type": "save", "overwrite": True}))
        assert _receive(later, "saved")["path"] == str(notes)
        assert notes.read_text() == edits + "2  9\n"
    with _ws(running) as after:
        state = _receive(after, "state")
        assert state["conflict"] is None and state["unsaved"] is False


def test_reload_from_disk_takes_the_file_and_ends_the_conflict(running, notes_dir):
    notes = notes_dir / "take.notes"
    theirs = SMILE + "7.0  45\n"
    with _ws(running) as ws, _ws(running) as other:
        _receive(ws, "pose"), _receive(other, "pose")
        ws.send(json.dumps({"type": "notes", "text": SMILE + "1  surprise\n"}))
        _receive(ws, "state"), _receive(other, "state")
        notes.write_text(theirs)
        _receive(ws, "disk_changed"), _receive(other, "disk_changed")
        other.send(json.dumps({"type": "reload"}))
        for page in (ws, other):
            state = _receive(page, "state")
            assert (state["text"], state["reloaded"], state["unsaved"], state["conflict"]) == (
                theirs, True, False, None)
        assert [e.channel.name for e in running.server.session.timeline.events][-1] == "AU45"
        notes.write_text(SMILE)  # no edits now: the page follows the file again
        assert _receive(ws, "state")["text"] == SMILE


def test_save_finds_a_change_on_disk_the_watch_has_not_seen(session, notes_dir):
    """The file watch polls; a Save between another editor's write and the next poll wrote
    over it. Save reads the file again: a change is refused, and becomes the conflict."""
    notes = notes_dir / "take.notes"
    session.set_notes(SMILE + "1  surprise\n")
    notes.write_text(SMILE + "7.0  45\n")
    with pytest.raises(OutputError) as refused:
        session.save()
    assert str(refused.value) == SAVE_REFUSED and session.conflict == CONFLICT
    assert notes.read_text() == SMILE + "7.0  45\n"
    notes.write_bytes(b"fps 24\n# caf\xe9\n")  # not UTF-8: a change all the same
    with pytest.raises(OutputError):
        session.save()
    notes.write_text(SMILE)  # back to the text last read: writing over it loses nothing
    assert session.save() == notes.absolute() and session.conflict is None
    assert notes.read_text() == SMILE + "1  surprise\n"
    notes.write_text(SMILE + "7.0  45\n")
    session.set_notes(SMILE + "2  9\n")
    assert session.reload(SMILE + "7.0  45\n") is False and session.conflict == CONFLICT
    session.set_notes(SMILE + "7.0  45\n")  # typed what the file holds: nothing to warn of
    assert session.conflict is None and not session.unsaved
    session.set_notes(SMILE + "3  9\n")
    notes.write_text(SMILE + "8  45\n")
    with pytest.raises(OutputError):
        session.save()
    assert session.save(overwrite=True) == notes.absolute()
    assert notes.read_text() == SMILE + "3  9\n" and session.conflict is None


def test_unsaved_edits_are_kept_beside_the_notes_at_the_end(session, notes_dir):
    assert session.keep_unsaved() is None
    session.set_notes(SMILE + "2  R12A+R14A\n")
    kept = session.keep_unsaved()
    assert kept == notes_dir / "take.unsaved.notes"
    assert kept.read_text() == SMILE + "2  R12A+R14A\n"
    assert (notes_dir / "take.notes").read_text() == SMILE
    session.set_notes(SMILE + "3  9\n")  # an earlier session's copy is not replaced
    assert session.keep_unsaved() == notes_dir / "take.unsaved-2.notes"
    assert kept.read_text() == SMILE + "2  R12A+R14A\n"
    assert session.keep_unsaved() == notes_dir / "take.unsaved-2.notes"  # the same text again
    session.save()
    assert session.keep_unsaved() is None


def test_unsaved_edits_go_to_the_working_folder_when_the_notes_folder_is_gone(tmp_path, monkeypatch):
    """The folder removed while the studio ran: the copy is kept in the working folder, else in
    the temporary folder (it was lost: the rescue wrote only beside the notes)."""
    (tmp_path / "scene").mkdir()
    (tmp_path / "scene" / "take.notes").write_text(SMILE)
    monkeypatch.chdir(tmp_path)
    session = open_session("scene/take.notes")
    session.set_notes(SMILE + "2  9\n")
    (tmp_path / "scene" / "take.notes").unlink()
    (tmp_path / "scene").rmdir()
    assert session.keep_unsaved() == tmp_path / "take.unsaved.notes"
    assert (tmp_path / "take.unsaved.notes").read_text() == SMILE + "2  9\n"
    elsewhere = tmp_path / "kept"
    elsewhere.mkdir()
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(elsewhere))
    (tmp_path / "gone").mkdir()
    monkeypatch.chdir(tmp_path / "gone")
    (tmp_path / "gone").rmdir()  # the working folder is gone too
    session.set_notes(SMILE + "3  9\n")
    assert session.keep_unsaved() == elsewhere / "take.unsaved.notes"
    assert (elsewhere / "take.unsaved.notes").read_text() == SMILE + "3  9\n"


@pytest.mark.parametrize("notes, made, reason", [
    ("nodir/beats.notes", None, "folder nodir does not exist"),
    ("afile/beats.notes", "file", "afile is a file, not a folder"),
    ("studio.notes", "dir", "it is a folder"),  # the default notes file (no argument)
    ("ro/beats.notes", "readonly", "folder ro is not writable"),
])
def test_cli_refuses_notes_it_could_not_save_before_the_port(tmp_path, monkeypatch, capsys, notes,
                                                             made, reason):
    """Save, every export and the unsaved-edits copy write in the notes folder: a studio on a
    notes path there is no writing to is refused in one line before the server starts (it
    started, and everything typed was lost)."""
    monkeypatch.chdir(tmp_path)
    folder = Path(notes).parent
    if made == "file":
        folder.write_text("")
    elif made == "dir":
        Path(notes).mkdir()
    elif made == "readonly":
        folder.mkdir()
        real_access = os.access  # root may write anywhere: the check asks os.access, as the CLI
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder
                            and real_access(path, mode, **kw))
    argv = ["studio", "--port", "0"] if made == "dir" else ["studio", notes, "--port", "0"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"facs-rig: error: {notes}: cannot save the notes there, {reason} (the "
                            f"studio saves the notes, its exports and unsaved edits in the notes "
                            f"file's folder)\n")


def test_osc_stream_ends_on_the_neutral_frame(running):
    from pythonosc.osc_packet import OscPacket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    to = f"127.0.0.1:{receiver.getsockname()[1]}"
    with _ws(running) as ws:
        _receive(ws, "pose")
        ws.send(json.dumps({"type": "osc", "on": True, "protocol": "vmc", "to": to}))
        assert _receive(ws, "osc")["on"]
        ws.send(json.dumps({"type": "shown", "time": 1.0}))  # the apex of 6+12D
        ws.send(json.dumps({"type": "ping"}))
        _receive(ws, "pong")
    running.stop()  # as Ctrl-C does: the stream is closed and sends its neutral frame

    def values(packet: bytes) -> dict:
        found = {}
        for message in OscPacket(packet).messages:
            if message.message.address == "/VMC/Ext/Blend/Val":
                name, value = message.message.params
                found[name] = value
        return found

    frames = []
    while True:
        try:
            frames.append(values(receiver.recv(65536)))
        except TimeoutError:
            break
    receiver.close()
    frames = [f for f in frames if f]
    assert max(frames[0].values()) == pytest.approx(0.9)  # AU12D on the smile targets
    assert frames[-1] and max(frames[-1].values()) == 0.0


# ---------------------------------------------------------------------------- the command

def _start_cli(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), FACS_RIG_CACHE_DIR=str(Path(cwd) / ".cache"))
    return subprocess.Popen([sys.executable, "-m", "facs_rig", "studio", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_serves_prints_url_and_stops_cleanly_on_ctrl_c(tmp_path):
    process = _start_cli("6+12D", "--port", "0", cwd=tmp_path)
    try:
        line = process.stdout.readline()
        assert line.startswith("facs-rig studio: http://127.0.0.1:"), line
        url = line.split()[2]
        assert _get(url)[0] == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped (0 malformed message(s) refused)" in out
    assert "Traceback" not in err


def _type_then_stop(notes: str, cwd: Path, signum: int, before_stop=lambda: None) -> str:
    """Start ``facs-rig studio NOTES``, type a surprise beat (unsaved), call ``before_stop``,
    send ``signum``; the command's standard output (it must exit 0, or 143 with the one line
    ``facs-rig: terminated`` for SIGTERM, as every command)."""
    process = _start_cli(notes, "--port", "0", cwd=cwd)
    try:
        url = process.stdout.readline().split()[2]
        with connect(url.replace("http", "ws") + "ws") as ws:
            _receive(ws, "pose", timeout=60)
            ws.send(json.dumps({"type": "notes", "text": SMILE + "1  surprise\n"}))
            _receive(ws, "state")
        before_stop()
        process.send_signal(signum)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    if signum == signal.SIGTERM:
        assert (process.returncode, err) == (143, "facs-rig: terminated\n")
    else:
        assert (process.returncode, err) == (0, "")
    return out


@pytest.mark.parametrize("stop", ["SIGINT", "SIGHUP"])  # SIGHUP: the terminal was closed
def test_cli_keeps_unsaved_edits_when_stopped(tmp_path, stop):
    if not hasattr(signal, stop):
        pytest.skip(f"no {stop} on this platform")
    (tmp_path / "take.notes").write_text(SMILE)
    out = _type_then_stop("take.notes", tmp_path, getattr(signal, stop))
    assert out.splitlines()[-1] == (f"facs-rig studio: the notes had unsaved edits: kept in "
                                    f"{tmp_path / 'take.unsaved.notes'} (take.notes is as last saved)")
    assert (tmp_path / "take.unsaved.notes").read_text() == SMILE + "1  surprise\n"
    assert (tmp_path / "take.notes").read_text() == SMILE


def test_cli_keeps_unsaved_edits_elsewhere_when_the_notes_folder_went_away(tmp_path):
    """SIGTERM after the notes folder was removed: the edits are kept in the working folder,
    and the last line says where and why."""
    (tmp_path / "scene").mkdir()
    (tmp_path / "scene" / "take.notes").write_text(SMILE)

    def remove_the_folder() -> None:
        (tmp_path / "scene" / "take.notes").unlink()
        (tmp_path / "scene").rmdir()

    out = _type_then_stop("scene/take.notes", tmp_path, signal.SIGTERM, remove_the_folder)
    assert out.splitlines()[-1] == (
        f"facs-rig studio: the notes had unsaved edits: kept in {tmp_path / 'take.unsaved.notes'} "
        f"(take.notes is as last saved; the notes folder {tmp_path / 'scene'} could not be "
        f"written any more)")
    assert (tmp_path / "take.unsaved.notes").read_text() == SMILE + "1  surprise\n"


def test_cli_stopped_by_sigterm_says_terminated_and_exits_143(tmp_path):
    """SIGTERM (kill, timeout, a service manager) stops the studio cleanly, and, as for every
    other command, with one line on stderr and exit 143: it exited 0, as after Ctrl-C."""
    (tmp_path / "take.notes").write_text(SMILE)
    process = _start_cli("take.notes", "--port", "0", cwd=tmp_path)
    try:
        url = process.stdout.readline().split()[2]
        assert _get(url)[0] == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert (process.returncode, err) == (143, "facs-rig: terminated\n")
    assert out.splitlines()[-1] == "facs-rig studio: stopped (0 malformed message(s) refused)"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".cache", "take.notes"]


def _start_cli_writing_slowly(tmp_path: Path) -> subprocess.Popen:
    """``facs-rig studio take.notes`` in a process whose atomic writes of notes text stop half-way
    (``half a file`` in their ``.part`` file, the file ``writing`` touched) for 3 s."""
    script = f"""
import sys, time
from pathlib import Path
import facs_rig.io.atomic as atomic
from facs_rig.cli import main

def slow(path, text):
    with atomic.atomic_write(path, "w") as stream:
        stream.write("half a file")
        stream.flush()
        Path({str(tmp_path / "writing")!r}).touch()
        for _ in range(60):  # short sleeps: a signal is handled between them
            time.sleep(0.05)
        stream.seek(0)
        stream.truncate()
        stream.write(text)

atomic.write_text_atomic = slow
sys.exit(main(["studio", "take.notes", "--port", "0"]))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO), FACS_RIG_CACHE_DIR=str(tmp_path / ".cache"))
    return subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("second", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("writing", ["a save", "the unsaved edits"])
def test_a_second_signal_while_the_studio_stops_waits_for_the_file_being_written(tmp_path,
                                                                                 writing, second):
    """SIGTERM, then a second SIGTERM or Ctrl-C while a file is being written (a save that was in
    progress, or the unsaved edits being kept at the stop): the second is held until the stop
    ends, so the file is whole and no ``.part`` is left. It ended the process at once (SIGTERM's
    default action once the server's handlers were gone): the unsaved edits were lost."""
    (tmp_path / "take.notes").write_text(SMILE)
    edited = SMILE + "1  surprise\n"
    process = _start_cli_writing_slowly(tmp_path)
    try:
        url = process.stdout.readline().split()[2]
        with connect(url.replace("http", "ws") + "ws") as ws:
            _receive(ws, "pose", timeout=60)
            ws.send(json.dumps({"type": "notes", "text": edited}))
            _receive(ws, "state")
            if writing == "a save":
                ws.send(json.dumps({"type": "save"}))
                deadline = time.monotonic() + 20
                while not (tmp_path / "writing").exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while not (tmp_path / "writing").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(path.name.endswith(".part") for path in tmp_path.iterdir())
        process.send_signal(getattr(signal, second))
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, err) == (143, "facs-rig: terminated\n")
    left = sorted(path.name for path in tmp_path.iterdir())
    if writing == "a save":
        assert left == [".cache", "take.notes", "writing"]
        assert (tmp_path / "take.notes").read_text() == edited
        assert out.splitlines()[-1] == "facs-rig studio: stopped (0 malformed message(s) refused)"
    else:
        assert left == [".cache", "take.notes", "take.unsaved.notes", "writing"]
        assert (tmp_path / "take.unsaved.notes").read_text() == edited
        assert (tmp_path / "take.notes").read_text() == SMILE
        assert out.splitlines()[-1].startswith("facs-rig studio: the notes had unsaved edits: kept")


def test_typing_a_comment_keeps_the_arrays_without_sampling_again(session, monkeypatch):
    """A comment or an expression name typed is the director's words on the events: the face
    moves as before, so a keystroke in a comment does not sample the timeline again (an hour of
    it per keystroke) and the page is sent no arrays."""
    version, weights = session.timeline_version, session.weights

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again for a comment")

    monkeypatch.setattr("facs_rig.studio.session.sample", no_sampling)
    for text in (SMILE.replace("0.5\n", "0.5  # she smiles\n"), "# the letter\n" + SMILE):
        assert session.set_notes(text).error is None
        assert session.timeline_version == version and session.weights is weights
    assert {event.note for event in session.timeline.events} == {"the letter"}


def test_an_export_never_replaces_a_file_unless_asked(session, notes_dir):
    """A second scene's export into the same folder replaced the first's file without a word:
    an existing name is refused (nothing written) with a free name, and replaced only when the
    export says ``overwrite``."""
    from facs_rig.studio.session import OutputExistsError

    (notes_dir / "scene.json").write_bytes(b"the first scene's export")
    (notes_dir / "scene-2.json").write_bytes(b"another")
    with pytest.raises(OutputExistsError) as caught:
        session.export("scene.json")
    assert (caught.value.name, caught.value.free) == ("scene.json", "scene-3.json")
    assert str(caught.value) == ("scene.json: exists in the notes folder; not replaced "
                                 "(overwrite it, or write scene-3.json)")
    assert (notes_dir / "scene.json").read_bytes() == b"the first scene's export"
    assert session.free_name("new.json") == "new.json"
    session.export("scene-3.json")
    assert session.export("scene.json", overwrite=True) == notes_dir / "scene.json"
    assert (notes_dir / "scene.json").read_bytes() == (notes_dir / "scene-3.json").read_bytes()
    assert (notes_dir / "scene-2.json").read_bytes() == b"another"


def test_the_server_refuses_an_overwrite_unless_the_export_says_so(running):
    folder = running.server.session.folder
    (folder / "take.json").write_bytes(b"kept")
    with _ws(running) as ws:
        state = _receive(ws, "state")
        assert state["stem"] == "take"  # the page names exports after the notes file
        ws.send(json.dumps({"type": "export", "name": "take.json"}))
        assert _receive(ws, "export_exists") == {
            "type": "export_exists", "name": "take.json", "free": "take-2.json",
            "message": "take.json: exists in the notes folder; not replaced (overwrite it, "
                       "or write take-2.json)"}
        assert (folder / "take.json").read_bytes() == b"kept"
        ws.send(json.dumps({"type": "export", "name": "take.json", "overwrite": "yes"}))
        _receive(ws, "refused")
        ws.send(json.dumps({"type": "export", "name": "take.json", "overwrite": True}))
        reply = _receive(ws, "exported")
        assert reply["name"] == "take.json"
        assert reply["bytes"] == (folder / "take.json").stat().st_size > 4


def test_hello_says_whether_the_coarse_triangles_are_served(session, monkeypatch):
    with ServerThread(session) as running, _ws(running) as ws:
        assert _receive(ws, "hello")["coarse"] is True
    monkeypatch.setitem(sys.modules, "facs_rig.studio.lod", None)  # the 'lod' extra missing
    with ServerThread(session) as running, _ws(running) as ws:
        assert _receive(ws, "hello")["coarse"] is False


def test_a_clip_being_rendered_when_the_studio_stops_is_not_written(tmp_path):
    """A GIF export still rendering when SIGTERM comes stops at its next frame and writes
    nothing: the stop waited for the whole clip (a minute for a 20 s take on a busy machine)."""
    (tmp_path / "take.notes").write_text("fps 24\n0  6+12D  onset 0.5 apex 1 offset 0.5\n"
                                         "20  1+2  apex 20\n")
    process = _start_cli("take.notes", "--port", "0", cwd=tmp_path)
    try:
        url = process.stdout.readline().split()[2]
        with connect(url.replace("http", "ws") + "ws") as ws:
            _receive(ws, "pose", timeout=60)
            ws.send(json.dumps({"type": "export", "name": "clip.gif"}))
            time.sleep(1.0)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, err) == (143, "facs-rig: terminated\n")
    assert time.monotonic() - started < 10
    assert sorted(path.name for path in tmp_path.iterdir()) == [".cache", "take.notes"]


def test_cli_refuses_a_bad_source_before_the_port_and_never_replaces_notes(tmp_path, monkeypatch,
                                                                          capsys):
    """A timeline that does not read is one error line before the URL (it came after the URL,
    with an asyncio traceback); a code or timeline whose notes file exists is refused, as Save
    would replace that file with the converted text."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text('{"schema": "facs_rig.timeline/1", "events": '
                                       '[{"channel": "AU99", "start": 0}]}')
    assert main(["studio", "bad.json", "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "facs-rig: error: bad.json: events[0].channel: unknown action unit 99\n"
    (tmp_path / "studio.notes").write_text(SMILE)
    assert main(["studio", "happiness", "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("facs-rig: error: studio.notes exists and would be replaced on Save by "
                            "notes made from 'happiness': edit it with 'facs-rig studio "
                            "studio.notes', or move it away first\n")
    assert (tmp_path / "studio.notes").read_text() == SMILE


def test_cli_a_rig_that_fails_to_load_is_one_line_without_a_traceback(tmp_path):
    (tmp_path / "bad.glb").write_text("garbage\n")
    process = _start_cli("--mesh", "bad.glb", "--port", "0", cwd=tmp_path)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    assert err == ("facs-rig: error: bad.glb: not a glTF file (neither a GLB container nor a JSON "
                   "object)\n")


def test_cli_warns_for_other_hosts_and_refuses_bad_input(tmp_path, capsys):
    # Tests stay on loopback: 127.0.0.2 is still this machine, but not one of the names the
    # studio takes as loopback-only (127.0.0.1, localhost, ::1), so the warning is printed.
    process = _start_cli("--host", "127.0.0.2", "--port", "0", cwd=tmp_path)
    try:
        assert process.stdout.readline().startswith("facs-rig studio: http://127.0.0.2:")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert "reachable from other machines" in err
    assert main(["studio", "6+99", "--port", "0"]) == 1
    assert capsys.readouterr().err.startswith("facs-rig: error: '6+99' is neither")
    assert main(["studio", "--port", "70000"]) == 2
    capsys.readouterr()
    # Typos in files and profiles fail before the port opens: nothing is printed to stdout.
    assert main(["studio", "--mesh", "nothere.glb", "--port", "0"]) == 1
    assert main(["studio", "--compare-rig", "nope", "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == "facs-rig: error: --mesh nothere.glb: no such file"


def test_an_edit_built_before_a_reload_is_a_conflict_not_a_silent_overwrite(session, notes_dir):
    """A second reader's race: no unsaved edits; another editor writes the file and the watch
    reloads it; a keystroke the page sent before the reloaded text reached it (built on the old
    text) arrives. It was taken as a plain edit, and Save (the file held the text last read)
    wrote it over the other editor's change. Its base (the disk version it was built on) is
    older than the reload: it is edits over a changed file, the conflict."""
    notes = notes_dir / "take.notes"
    theirs = SMILE + "7.0  45\n"
    base = session.disk_version
    notes.write_text(theirs)
    assert session.reload(theirs) is True and session.disk_version == base + 1
    session.set_notes(SMILE + "1  45\n", base=base)
    assert session.conflict == CONFLICT and session.unsaved
    with pytest.raises(OutputError) as refused:
        session.save()
    assert str(refused.value) == SAVE_REFUSED and notes.read_text() == theirs
    session.set_notes(SMILE + "1  45\n2  9\n", base=base)  # typing on keeps it
    assert session.conflict == CONFLICT
    session.set_notes(theirs, base=base)  # typed what the file holds: nothing to warn of
    assert session.conflict is None and not session.unsaved
    session.set_notes(theirs + "3  9\n", base=session.disk_version)  # built on the file's text
    assert session.conflict is None and session.save() == notes.absolute()
    assert notes.read_text() == theirs + "3  9\n"
    session.set_notes(SMILE + "4  9\n", base=base)  # a stale edit after a save: the same
    assert session.conflict == CONFLICT
    assert session.save(overwrite=True) == notes.absolute() and session.conflict is None
    assert notes.read_text() == SMILE + "4  9\n"


def test_a_stale_notes_message_is_a_conflict_every_page_is_shown(running, notes_dir):
    """The race above through the WebSocket: a notes message whose ``base`` is the disk
    version before the file was reloaded; one without a base (a page loaded before bases were
    sent) built on what it had at its last message or connection, the same."""
    notes = notes_dir / "take.notes"
    theirs = SMILE + "7.0  45\n"
    with _ws(running) as page, _ws(running) as old_page:
        assert _receive(page, "state")["disk"] == 0 and _receive(old_page, "state")["disk"] == 0
        notes.write_text(theirs)
        for ws in (page, old_page):
            state = _receive(ws, "state")
            assert (state["reloaded"], state["text"], state["disk"], state["conflict"]) == (
                True, theirs, 1, None)
        page.send(json.dumps({"type": "notes", "text": theirs + "1  9\n", "base": 1}))  # after
        for ws in (page, old_page):
            state = _receive(ws, "state")
            assert (state["conflict"], state["unsaved"]) == (None, True)
        page.send(json.dumps({"type": "notes", "text": SMILE + "1  45\n", "base": 0}))  # before
        for ws in (page, old_page):
            state = _receive(ws, "state")
            assert (state["text"], state["conflict"], state["unsaved"]) == (SMILE + "1  45\n", CONFLICT, True)
        page.send(json.dumps({"type": "save"}))
        assert _receive(page, "error") == {"type": "error", "request": "save", "message": SAVE_REFUSED}
        assert notes.read_text() == theirs
        page.send(json.dumps({"type": "reload"}))
        assert _receive(page, "state")["disk"] == _receive(old_page, "state")["disk"] == 2
        old_page.send(json.dumps({"type": "notes", "text": SMILE + "2  9\n"}))  # no base
        assert _receive(old_page, "state")["conflict"] == CONFLICT
        old_page.send(json.dumps({"type": "save"}))
        assert _receive(old_page, "error")["message"] == SAVE_REFUSED and notes.read_text() == theirs
        page.send(json.dumps({"type": "notes", "text": "0  4\n", "base": True}))
        assert _receive(page, "refused")["reason"] == "notes: field 'base' must be a int"



# ---------------------------------------------------------------------------- fuzz

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                       max_size=4),
    max_leaves=12)
_TYPES = st.sampled_from(["notes", "save", "pose", "insert", "explain", "export", "shown", "osc",
                          "reload", "ping", "nope", "_on_notes", "__init__", ""])


@pytest.mark.parametrize("message", [
    {"type": "pose", "values": {"": None}},       # not a channel name (was AttributeError)
    {"type": "pose", "values": {"12": "x"}},
    {"type": "explain", "time": 1e308},          # beyond any frame (was OverflowError)
    {"type": "explain", "time": -1e308},
])
def test_found_by_fuzzing_messages_are_answered_not_raised(notes_dir, message):
    import asyncio

    from facs_rig.studio.server import StudioServer

    (notes_dir / "take.notes").write_text(SMILE)
    server = StudioServer(open_session("take.notes"))
    server._load()
    reply = asyncio.run(server._dispatch(json.dumps(message), 1))
    assert reply is not None and reply["type"] in ("refused", "error", "explain"), reply


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.one_of(
    _JSON,
    st.builds(lambda kind, fields: {"type": kind, **fields}, _TYPES,
              st.dictionaries(st.sampled_from(["text", "code", "values", "time", "name", "target",
                                               "on", "protocol", "to"]), _JSON, max_size=4)),
    st.text(max_size=60)))
def test_any_message_gets_an_answer_and_never_escapes_the_folder(notes_dir, message):
    """Whatever a page sends, the dispatcher answers or broadcasts; it never raises, and writes
    happen only in the notes folder (refused names never reach the file system)."""
    import asyncio

    from facs_rig.studio.server import StudioServer

    server = _FUZZ_SERVERS.get(notes_dir)
    if server is None:  # one per test run (hypothesis reuses the function's fixtures)
        (notes_dir / "take.notes").write_text(SMILE)
        server = _FUZZ_SERVERS[notes_dir] = StudioServer(open_session("take.notes"))
        server._load()
    if isinstance(message, dict) and message.get("type") in ("osc", "save"):
        return  # sockets and the notes file itself: covered by the tests above
    raw = message if isinstance(message, str) else json.dumps(message)
    reply = asyncio.run(server._dispatch(raw, 1))
    assert reply is None or reply["type"] in ("refused", "error", "pong", "explain", "exported")
    if reply is not None and reply["type"] == "exported":
        assert Path(reply["path"]).parent == server.session.folder


_FUZZ_SERVERS: dict = {}


# ---------------------------------------------------------------------------- payload cache

def test_payload_key_follows_every_input(tmp_path, monkeypatch):
    from facs_rig.studio.cache import payload_key

    monkeypatch.chdir(tmp_path)
    mesh = tmp_path / "face.glb"
    mesh.write_bytes(b"glTF one")
    key = payload_key("face.glb", None, None, None)
    assert key == payload_key("face.glb", None, None, None)
    assert key != payload_key("face.glb", "arkit", None, None)
    assert key != payload_key(None, None, None, None)
    assert key != payload_key("face.glb", None, "default", None)
    os.utime(mesh, ns=(1, 1))
    assert payload_key("face.glb", None, None, None) != key
    # A .gltf's buffers and images live beside it: they are part of its key.
    gltf = tmp_path / "rig.gltf"
    gltf.write_text("{}")
    before = payload_key("rig.gltf", None, None, None)
    (tmp_path / "rig.bin").write_bytes(b"\0" * 8)
    assert payload_key("rig.gltf", None, None, None) != before


def test_payload_cache_round_trip_and_refuses_damage(tmp_path, monkeypatch):
    from facs_rig.studio.cache import read_payload, write_payload

    monkeypatch.setenv("FACS_RIG_CACHE_DIR", str(tmp_path / "cache"))
    routes = {"/rig.json": ("application/json", b"{}"), "/rig.bin": ("application/octet-stream", b"\1\2\3"),
              "/rig-image-0": ("image/png", b"\x89PNG\r\n\x1a\n")}
    write_payload("k", routes)
    assert read_payload("k") == routes
    assert read_payload("other") is None
    path = tmp_path / "cache" / "k.bin"
    data = path.read_bytes()
    for damaged in (data[:-1], b"XXXX" + data[4:], data[:6], data.replace(b"/rig.bin", b"/etc.bin")):
        path.write_bytes(damaged)
        assert read_payload("k") is None


def test_cached_rig_is_served_before_the_session_loads(session, tmp_path, monkeypatch):
    """Second start: /rig.bin answers from the cache while the rig is still being read."""
    import asyncio
    import threading

    from facs_rig.studio.cache import write_payload
    from facs_rig.studio.server import StudioServer, rig_payload

    monkeypatch.setenv("FACS_RIG_CACHE_DIR", str(tmp_path / "cache"))
    description, blob, images = rig_payload(session)
    write_payload("take", {"/rig.json": ("application/json", json.dumps(description).encode()),
                           "/rig.bin": ("application/octet-stream", blob)})
    release = threading.Event()

    def slow_loader():
        release.wait(30)
        return session

    async def scenario():
        server = StudioServer(slow_loader, cache_key="take")
        url = await server.start()
        try:
            status, body = await asyncio.to_thread(_get, url + "rig.bin")
            assert not server._loaded.done()  # noqa: SLF001 - the session is still loading
        finally:
            release.set()
            await server.stop()
        return status, body

    status, body = asyncio.run(scenario())
    assert status == 200 and body == blob


def test_a_cache_miss_writes_the_cache(session, tmp_path, monkeypatch):
    import asyncio

    from facs_rig.studio.cache import read_payload
    from facs_rig.studio.server import StudioServer

    monkeypatch.setenv("FACS_RIG_CACHE_DIR", str(tmp_path / "cache"))

    async def scenario():
        server = StudioServer(lambda: session, cache_key="miss")
        url = await server.start()
        try:
            await server.wait_loaded()
            return await asyncio.to_thread(_get, url + "rig.bin")
        finally:
            await server.stop()

    status, body = asyncio.run(scenario())
    assert status == 200 and read_payload("miss")["/rig.bin"][1] == body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.builds(
    lambda header, tail: b"FRSC" + len(header).to_bytes(4, "little") + header + tail,
    st.text(max_size=80).map(str.encode), st.binary(max_size=40)))
def test_any_cache_file_reads_as_routes_or_nothing(tmp_path, monkeypatch, data):
    from facs_rig.studio.cache import read_payload

    monkeypatch.setenv("FACS_RIG_CACHE_DIR", str(tmp_path))
    (tmp_path / "fuzz.bin").write_bytes(data)
    routes = read_payload("fuzz")
    assert routes is None or all(route.startswith("/rig") for route in routes)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-1e300, 1e300)
                     | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["pbrMetallicRoughness", "baseColorFactor", "baseColorTexture",
                                          "metallicFactor", "roughnessFactor", "index", "texCoord",
                                          "alphaMode", "alphaCutoff", "doubleSided", "emissiveFactor",
                                          "metallicRoughnessTexture", "name"]), inner, max_size=5),
                     max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(materials=st.lists(st.dictionaries(st.sampled_from(
    ["pbrMetallicRoughness", "alphaMode", "alphaCutoff", "doubleSided", "emissiveFactor", "name"]),
    _JSON, max_size=4), max_size=3), samplers=st.lists(st.dictionaries(
        st.sampled_from(["wrapS", "wrapT"]), _JSON, max_size=2), max_size=2))
def test_any_material_json_gives_page_materials(tmp_path_factory, materials, samplers):
    """Whatever a file's materials say, the page gets numbers in range and known modes."""
    import shutil

    from facs_rig.render.scene import load_render_rig
    from facs_rig.studio.materials import rig_looks

    folder = REPO.parent / "shared/assets/rigs/khronos/MorphPrimitivesTest/glTF"
    if not folder.exists():
        pytest.skip("../shared/assets is not beside the repository")
    work = tmp_path_factory.mktemp("materials")
    for name in ("MorphPrimitivesTest.bin", "uv_texture.jpg"):
        shutil.copy(folder / name, work / name)
    document = json.loads((folder / "MorphPrimitivesTest.gltf").read_text())
    document["materials"] = materials
    document["samplers"] = samplers or [{}]
    (work / "rig.gltf").write_text(json.dumps(document))
    looks = rig_looks(load_render_rig(work / "rig.gltf"))
    json.dumps(looks.looks, allow_nan=False)  # the page's JSON: finite numbers only
    for look in looks.looks:
        assert look["alphaMode"] in ("OPAQUE", "MASK", "BLEND")
        assert all(0 <= x <= 1 for x in [*look["color"], *look["emissive"], look["opacity"],
                                          look["metalness"], look["roughness"]])
        assert -1 <= look["map"] < len(looks.textures)
    assert sorted(looks.face_order.tolist()) == list(range(32))
    assert sum(group["count"] for group in looks.groups) == 3 * 32
