"""The software renderer and the image encoders: coverage, depth order, culling, exact PNG/GIF bytes."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facs_rig.cli._progress import ProgressBar
from facs_rig.core.mesh import MorphMesh
from facs_rig.errors import MissingDependencyError, UnsupportedFormatError
from facs_rig.render.camera import Camera, frame_camera
from facs_rig.render.encoders import (
    decode_png,
    encode_gif,
    encode_png,
    palette_for,
    quantize,
    write_clip,
    write_mp4,
)
from facs_rig.render.font import GLYPH_HEIGHT, text_bitmap, text_width
from facs_rig.render.raster import DEFAULT_SHADING, rasterize, render, vertex_normals
from facs_rig.render.scene import load_render_rig, render_rig_from_mesh
from facs_rig.render.sheet import contact_sheet, wrap_text

Image = pytest.importorskip("PIL.Image")


# ----------------------------------------------------------------------------- rasteriser


def _square(z: float, size: float = 1.0, counter_clockwise: bool = True):
    """Two triangles covering a square in the plane at depth ``z``, facing +Z."""
    points = np.array([[-size, -size, z], [size, -size, z], [size, size, z], [-size, size, z]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int64)
    return points, faces if counter_clockwise else faces[:, ::-1].copy()


def _camera(size: int = 64) -> Camera:
    return Camera((0.0, 0.0, 10.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), 20.0, size, size)


def test_triangle_coverage_matches_its_area():
    camera = _camera(128)
    points = np.array([[-1, -1, 0], [1, -1, 0], [-1, 1, 0]], np.float32)
    x, y, depth = camera.project(points)
    visible = rasterize(x, y, depth, np.array([[0, 1, 2]]), 128, 128)
    area = 0.5 * abs((x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]))
    covered = int((visible == 0).sum())
    assert abs(covered - area) < 0.03 * area + 2 * (x.max() - x.min())  # edge pixels only


def test_nearest_surface_wins_whatever_the_order():
    camera = _camera()
    near, faces = _square(1.0, 0.5)
    far, _ = _square(-1.0, 1.0)
    for first, second in ((near, far), (far, near)):
        points = np.concatenate([first, second])
        all_faces = np.concatenate([faces, faces + 4])
        x, y, depth = camera.project(points)
        visible = rasterize(x, y, depth, all_faces, 64, 64)
        centre = visible[32 * 64 + 32]
        near_ids = (0, 1) if first is near else (2, 3)
        assert centre in near_ids


def test_back_faces_are_culled():
    camera = _camera()
    points, faces = _square(0.0, counter_clockwise=False)
    x, y, depth = camera.project(points)
    assert (rasterize(x, y, depth, faces, 64, 64) == -1).all()
    assert (rasterize(x, y, depth, faces, 64, 64, cull_back_faces=False) >= 0).any()


def test_shared_edges_leave_no_holes():
    camera = _camera()
    points, faces = _square(0.0, 0.6)
    x, y, depth = camera.project(points)
    visible = rasterize(x, y, depth, faces, 64, 64).reshape(64, 64)
    rows, cols = np.nonzero(visible >= 0)
    block = visible[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert (block >= 0).all()  # the diagonal is covered by one triangle or the other


def _layered_scene(seed: int):
    """Random triangles in depth layers over a camera: small ones under a large occluder and
    slivers, so the occlusion test sees hidden, half-hidden and visible triangles."""
    rng = np.random.default_rng(seed)
    points, faces = [], []
    for _ in range(60):
        centre = rng.uniform(-1.2, 1.2, 2)
        size = rng.choice([0.02, 0.1, 0.4])
        corners = centre + rng.uniform(-size, size, (3, 2))
        if rng.random() < 0.3:  # a sliver: nearly collinear corners
            corners[2] = corners[0] + (corners[1] - corners[0]) * rng.random() + rng.normal(0, 1e-4, 2)
        if rng.random() < 0.5:  # anywhere in depth, tilted
            z = np.full(3, rng.uniform(-2.0, 2.0)) + rng.uniform(-0.2, 0.2, 3)
        else:  # under the occluder, a hair's breadth behind (or in front of) its plane z = 1
            corners = corners - centre + rng.uniform(-0.5, 0.5, 2)
            z = 1.0 - 10 ** rng.uniform(-7, -2, 3) * rng.choice([1, 1, 1, -1])
        points.append(np.column_stack([corners, z]))
        faces.append(np.arange(3) + 3 * len(faces))
    occluder, occluder_faces = _square(1.0, 0.9)
    all_points = np.concatenate(points + [occluder]).astype(np.float32)
    all_faces = np.concatenate([np.array(faces), occluder_faces + 3 * len(faces)])
    # Both windings: only the counter-clockwise half is front-facing.
    return all_points, all_faces


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_drawing_likely_visible_triangles_first_changes_no_pixel(scene_seed, hint_seed):
    points, faces = _layered_scene(scene_seed)
    x, y, depth = _camera(96).project(points)
    plain = rasterize(x, y, depth, faces, 96, 96, cull_back_faces=False)
    hint = np.random.default_rng(hint_seed).random(faces.shape[0]) < 0.5
    hint[-2:] = True  # the occluder first: the triangles behind it are skipped
    assert np.array_equal(rasterize(x, y, depth, faces, 96, 96, cull_back_faces=False, first=hint), plain)
    seen = np.zeros(faces.shape[0], bool)
    seen[plain[plain >= 0]] = True
    assert np.array_equal(rasterize(x, y, depth, faces, 96, 96, cull_back_faces=False, first=seen), plain)


def test_a_face_renderers_frames_equal_single_renders_of_the_same_poses():
    from facs_rig.render.preview import code_values, preview_setup
    from facs_rig.resources import load_vocabulary

    setup = preview_setup(size=128)
    vocabulary = load_vocabulary()
    renderer = setup.renderer
    for name in ("happiness", "surprise", "anger", "happiness"):
        weights = setup.driver.frame(code_values(name, vocabulary, intensity=1.0))
        positions = renderer.rig.move_nodes(renderer._deformer(weights), weights)
        alone = render(positions, renderer.rig.mesh.faces, renderer.camera, colours=renderer.rig.colours)
        assert np.array_equal(renderer.render(weights), alone)  # drawn with the last frame's triangles first


def test_render_is_shaded_and_not_blank():
    points, faces = _square(0.0, 1.0)
    image = render(points, faces, _camera())
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    background = render(points[:0], faces[:0], _camera())
    differs = np.any(image != background, axis=2)
    assert 0.1 < differs.mean() < 0.9


def test_a_shading_given_as_lists_or_arrays_renders_like_the_same_tuples():
    """Shading's fields are documented as (3,) floats: lists and arrays must work (the cached
    background is keyed by the colours' values, not by the unhashable Shading itself)."""
    from facs_rig.render.raster import Shading

    points, faces = _square(0.0, 1.0)
    as_tuples = Shading(ambient=(0.3, 0.3, 0.3), background_top=(0.5, 0.2, 0.2))
    as_lists = Shading(ambient=[0.3, 0.3, 0.3], background_top=np.array([0.5, 0.2, 0.2]))
    expected = render(points, faces, _camera(), shading=as_tuples)
    assert np.array_equal(render(points, faces, _camera(), shading=as_lists), expected)
    assert tuple(expected[0, 0]) != tuple(render(points, faces, _camera())[0, 0])


def test_vertex_normals_of_a_plane_face_the_viewer():
    points, faces = _square(0.0)
    assert np.allclose(vertex_normals(points, faces), [[0, 0, 1]] * 4)


def test_supersampling_keeps_the_size_and_softens_edges():
    points = np.array([[-0.7, -0.5, 0.0], [0.6, -0.3, 0.0], [0.1, 0.7, 0.0]], np.float32)  # slanted edges
    faces = np.array([[0, 1, 2]])
    hard = render(points, faces, _camera()).astype(int)
    soft = render(points, faces, _camera(), supersample=2).astype(int)
    assert soft.shape == hard.shape
    assert np.abs(soft[32, 30] - hard[32, 30]).max() <= 2  # the inside is the same
    assert np.abs(soft - hard).max() > 20  # edge pixels are blended


def test_frame_camera_puts_the_object_in_view():
    points = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32) * 0.1
    camera = frame_camera(points, width=100, height=100)
    x, y, depth = camera.project(points)
    assert (depth > 0).all() and 0 <= x.min() and x.max() <= 100 and 0 <= y.min() and y.max() <= 100


def test_renders_of_the_default_head_differ_between_poses():
    from facs_rig.render.preview import code_values, preview_setup
    from facs_rig.resources import load_vocabulary

    setup = preview_setup(size=96)
    vocabulary = load_vocabulary()
    neutral = setup.renderer.render(None)
    surprise = setup.renderer.render(setup.driver.frame(code_values("surprise", vocabulary)))
    smile = setup.renderer.render(setup.driver.frame(code_values("12E", vocabulary)))
    background = np.broadcast_to(neutral[0, 0], neutral.shape)
    assert np.any(neutral != background, axis=2).mean() > 0.3  # a face fills the frame
    for a, b in ((neutral, surprise), (neutral, smile), (surprise, smile)):
        assert np.abs(a.astype(int) - b.astype(int)).sum(axis=2).astype(bool).mean() > 0.01


def test_render_rig_from_a_plain_mesh_uses_clay_and_frames_the_moving_part():
    points, faces = _square(0.0)
    deltas = np.zeros((1, 4, 3), np.float32)
    deltas[0, 0] = (0.0, 0.0, 0.1)
    rig = render_rig_from_mesh(MorphMesh("plane", points, faces.astype(np.uint32), ("bulge",), deltas))
    assert rig.colours.shape == (4, 3) and rig.focus.shape == (2, 3)


def test_framing_takes_in_brows_and_chin_when_the_jaw_moves_far():
    """Each target is judged by its own largest movement: a jaw target moving 4 cm must not hide a
    brow target moving 5 mm (such rigs used to be framed nose to chin)."""
    ys, xs = np.meshgrid(np.linspace(-0.12, 0.12, 25), np.linspace(-0.08, 0.08, 17), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1).astype(np.float32)
    grid = np.arange(xs.size).reshape(xs.shape)
    quads = np.stack([grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]], axis=-1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.uint32)
    deltas = np.zeros((2, xs.size, 3), np.float32)
    jaw = points[:, 1] < -0.06
    deltas[0, jaw, 1] = -0.04  # jawOpen: far
    brow = (points[:, 1] > 0.05) & (points[:, 1] < 0.08)
    deltas[1, brow, 1] = 0.005  # brow raise: 5 mm
    rig = render_rig_from_mesh(MorphMesh("face", points, faces, ("jawOpen", "browUp"), deltas))
    low, high = rig.focus
    assert low[1] <= -0.1 and high[1] >= 0.08, rig.focus


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 30.0])
def test_the_face_stays_whole_when_the_camera_turns(yaw):
    """The whole focus box (the face) is inside the frame from the front and at +-30 degrees
    (framing on the box's two corners let a turned head's face run out of the frame)."""
    from facs_rig.render.preview import preview_setup

    setup = preview_setup(size=128, yaw=yaw)
    low, high = setup.rig.focus
    corners = np.array([[(low, high)[i >> k & 1][k] for k in range(3)] for i in range(8)])
    x, y, _ = setup.renderer.camera.project(corners)
    assert x.min() >= 0 and x.max() <= 128 and y.min() >= 0 and y.max() <= 128, (yaw, x, y)


ICT_FULL_HEAD = (
    Path(__file__).resolve().parents[2] / "shared/assets/rigs/ict_facekit/ict_facekit_full_head.glb"
)


@pytest.mark.skipif(not ICT_FULL_HEAD.exists(), reason="../shared/assets (ICT FaceKit head) absent")
def test_a_user_rigs_meshes_without_targets_are_drawn_with_their_colours():
    """ICT's eyeballs and upper teeth have no morph targets: they are still drawn, coloured."""
    rig = load_render_rig(ICT_FULL_HEAD)
    assert rig.mesh.n_vertices == 26269  # every primitive of every mesh
    colours = np.round(rig.colours, 3)
    sclera = np.round(np.float32([0.8509804, 0.81960785, 0.78039217]), 3)
    teeth = np.round(np.float32([0.81960785, 0.7882353, 0.69803923]), 3)
    assert (np.abs(colours - sclera).max(axis=1) < 2e-3).sum() == 545 * 2
    assert (np.abs(colours - teeth).max(axis=1) < 2e-3).sum() == 2634 + 2718
    # Framed on the whole face, not nose to chin: the eyes are inside the box.
    low, high = rig.focus
    assert low[1] < -5.0 and high[1] > 6.0  # centimetres: chin below, brows above


# ----------------------------------------------------------------------------- PNG


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([3, 4]))))
def test_png_round_trips_exactly(image):
    data = encode_png(image)
    assert np.array_equal(decode_png(data), image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_png_bytes_are_well_formed():
    image = np.zeros((2, 3, 3), np.uint8)
    image[1, 2] = (255, 128, 1)
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert struct.unpack(">IIBBBBB", data[16:29]) == (3, 2, 8, 2, 0, 0, 0)
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])
    assert data.endswith(b"\x00\x00\x00\x00IEND\xaeB`\x82")
    assert encode_png(image) == data  # deterministic


@given(
    st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=40).map(lambda tail: encode_png(np.zeros((2, 2, 3), np.uint8))[:33] + tail),
    )
)
def test_decode_png_rejects_garbage_with_value_error_only(data):
    try:
        decode_png(data)
    except ValueError:
        pass


def test_encoders_reject_wrong_arrays():
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        encode_gif([], fps=10)


# ----------------------------------------------------------------------------- GIF


def _decode_gif(data: bytes) -> list[np.ndarray]:
    gif = Image.open(io.BytesIO(data))
    frames = []
    for index in range(gif.n_frames):
        gif.seek(index)
        frames.append(np.asarray(gif.convert("RGB")))
    return frames


def test_gif_clip_decodes_to_its_frames():
    rng = np.random.default_rng(1)
    base = np.full((40, 50, 3), 90, np.uint8)
    frames = []
    for index in range(5):
        frame = base.copy()
        frame[10 + index : 20 + index, 5:25] = (200, 40, 40)
        frame[30:35, 30:45] = rng.integers(0, 4, size=3) * 60
        frames.append(frame)
    for dither in (False, True):
        data = encode_gif(frames, fps=12.5, dither=dither)
        assert data.startswith(b"GIF89a") and data.endswith(b"\x3b")
        decoded = _decode_gif(data)
        assert len(decoded) == 5
        palette = palette_for(frames)
        for original, got in zip(frames, decoded):
            expected = palette[quantize(original, palette, dither=dither)]
            assert np.array_equal(got, expected)
    gif = Image.open(io.BytesIO(data))
    assert gif.info.get("loop") == 0 and gif.info["duration"] == 80
    assert encode_gif(frames, fps=12.5) == data


def test_gif_delays_keep_the_clip_length():
    frames = [np.zeros((2, 2, 3), np.uint8)] * 30
    data = encode_gif(frames, fps=30)
    gif = Image.open(io.BytesIO(data))
    total = 0
    for index in range(gif.n_frames):
        gif.seek(index)
        total += gif.info["duration"]
    assert abs(total - 1000) <= 10


# ----------------------------------------------------------------------------- MP4, formats


def test_mp4_without_imageio_ffmpeg_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(MissingDependencyError, match=r"facs-rig\[video\]"):
        write_mp4(tmp_path / "clip.mp4", [np.zeros((8, 8, 3), np.uint8)], fps=10)
    assert not (tmp_path / "clip.mp4").exists()


def test_unknown_clip_format_is_refused(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.avi"):
        write_clip(tmp_path / "clip.avi", [np.zeros((8, 8, 3), np.uint8)], fps=10)


# ----------------------------------------------------------------------------- font, sheet, progress


def test_font_draws_known_glyphs_and_marks_unknown_ones():
    assert text_bitmap("1+2", 2).shape == (GLYPH_HEIGHT * 2, text_width("1+2", 2))
    plus = text_bitmap("+")
    assert plus[3].all() and plus[:, 2].sum() == 5
    assert np.array_equal(text_bitmap("\u20ac"), text_bitmap("?"))  # the euro sign: no glyph
    # The director's words: accents drawn on their base letter, typographic dashes plain.
    assert np.array_equal(text_bitmap("é"), text_bitmap("e"))
    assert np.array_equal(text_bitmap("\u2014"), text_bitmap("-"))
    assert not np.array_equal(text_bitmap(";"), text_bitmap("?"))
    assert text_bitmap("a").sum() > 0 and not np.array_equal(text_bitmap("a"), text_bitmap("A"))


def test_contact_sheet_lays_out_a_labelled_grid():
    tiles = [np.full((20, 30, 3), value, np.uint8) for value in (50, 100, 150)]
    sheet = contact_sheet(tiles, [("a", "1+2"), ("b",), ("c", "4")], columns=2, scale=1, padding=4)
    assert sheet.shape[1] == 2 * (30 + 4) + 4
    assert (sheet[4:24, 4:34] == 50).all() and (sheet[4:24, 38:68] == 100).all()
    below = sheet[26:40, 4:34]
    assert (below == 240).any()  # the label was drawn in the first colour
    with pytest.raises(ValueError):
        contact_sheet(tiles, [("a",)])


FEAR = "1D+2D+4D+5D+7D+20D+25D+26D"  # the demo's fear (its unlettered AUs at D)


def test_a_long_label_wraps_after_a_plus_and_shows_whole():
    """`facs-rig demo --size 280` cut fear's label to 1D+2D+4D+5D+7D+20D+25.. (one line,
    cut with an ellipsis); it now wraps after a '+' onto a second line."""
    assert wrap_text(FEAR, 280, 2) == ["1D+2D+4D+5D+7D+20D+25D+", "26D"]
    assert wrap_text(FEAR, 360, 2) == [FEAR]  # the demo's default size: one line, as before
    assert wrap_text("3.5 s, 00:00:03:12", 100, 1) == ["3.5 s,", "00:00:03:12"]  # at a space
    assert wrap_text(FEAR, 16, 1)[:4] == ["1D", "+", "2D", "+"]  # narrower than a term
    tile = np.full((20, 280, 3), 90, np.uint8)
    sheet = contact_sheet([tile], [("fear", FEAR)], scale=2, padding=8)
    line_h = GLYPH_HEIGHT * 2 + 4 + 2
    assert sheet.shape == (8 + 20 + 8 + 3 * line_h + 4, 280 + 16, 3)  # three lines under it
    expected = {240: np.zeros(sheet.shape[:2], bool), 200: np.zeros(sheet.shape[:2], bool)}
    for row, (text, colour) in enumerate([("fear", 240), ("1D+2D+4D+5D+7D+20D+25D+", 200),
                                          ("26D", 200)]):  # the name's colour, the code's
        top, left = 8 + 20 + 4 + row * line_h, 8 + (280 - text_width(text, 2)) // 2
        mask = text_bitmap(text, 2)
        expected[colour][top:top + mask.shape[0], left:left + mask.shape[1]] = mask
    for colour, mask in expected.items():
        assert np.array_equal(sheet[..., 1] == colour, mask), colour


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(size=st.integers(16, 4096), text=st.sampled_from(
    [FEAR, "happiness", "L1B+R2C+4D+5E+7A+20B+25C+26D+38C+39B", "12.5 s, 01:00:12:12", "neutral"]))
def test_every_label_shows_whole_at_every_size_the_cli_takes(size, text):
    """Every line fits the tile at the font scale the sheet renderers use for it, and the lines
    hold the whole label (less the spaces where it broke)."""
    scale = 2 if size >= 256 else 1  # render_sheet, render_timeline_sheet
    lines = wrap_text(text, size, scale)
    assert all(text_width(line, scale) <= size for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(line == line.strip() and line for line in lines)


def test_progress_bar_writes_one_line_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(4, stream, label="rendering")
    for done in range(1, 5):
        bar(done)
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rendering: 100%|") and "4/4 [" in lines[0]
    assert "\r" not in stream.getvalue()


def test_progress_bar_logs_a_line_every_few_seconds_off_a_terminal(monkeypatch):
    from facs_rig.cli import _progress

    now = [0.0]
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    bar = ProgressBar(10, stream, label="rendering")
    for done, seconds in ((1, 1.0), (2, 6.0), (3, 7.0), (4, 12.5)):  # quiet, line, quiet, line
        now[0] = seconds
        bar(done)
    lines = stream.getvalue().splitlines()
    assert [line.split("|")[0] for line in lines] == ["rendering:  20%", "rendering:  40%"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_tqdm_on_a_terminal():
    stream = _Terminal()
    bar = ProgressBar(3, stream, label="retarget", unit="captures")
    for done, name in enumerate(("a.csv", "b.csv", "c.csv"), start=1):
        bar(done, name)
    bar.finish()
    text = stream.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert "retarget: 100%" in text and "3/3" in text and "c.csv" in text


def test_progress_bar_logs_each_step_off_a_terminal_when_asked():
    stream = io.StringIO()
    bar = ProgressBar(2, stream, label="retarget", unit="captures", log_steps=True)
    bar(1, "a.csv")
    bar.clear()  # not a terminal: nothing to erase
    bar(2, "b.csv")
    bar.finish()
    assert stream.getvalue() == "retarget: 1/2 a.csv\nretarget: 2/2 b.csv\n"


def test_default_shading_has_a_key_light():
    assert DEFAULT_SHADING.lights and DEFAULT_SHADING.lights[0].specular > 0


def test_mp4_clip_when_the_video_extra_is_installed(tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="the optional 'video' extra is not installed")
    frames = [np.full((32, 32, 3), value, np.uint8) for value in range(0, 250, 25)]
    output = tmp_path / "clip.mp4"
    write_clip(output, frames, fps=10)
    data = output.read_bytes()
    assert data[4:8] == b"ftyp" and b"avc1" in data[:64]


def test_gif_streams_frames_from_a_generator_when_given_a_palette():
    frames = [np.full((6, 8, 3), value, np.uint8) for value in (10, 120, 240)]
    palette = palette_for(frames)
    listed = encode_gif(frames, fps=5, palette=palette)
    consumed = []

    def generate():
        for frame in frames:
            consumed.append(1)
            yield frame

    progress = []
    assert encode_gif(generate(), fps=5, palette=palette, progress=progress.append) == listed
    assert consumed == [1, 1, 1] and progress == [1, 2, 3]
    with pytest.raises(ValueError, match="same size"):
        encode_gif([frames[0], np.zeros((3, 3, 3), np.uint8)], fps=5, palette=palette)
