"""The preview, sheet and demo commands, end to end through the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import REPO

from facs_rig.cli import main
from facs_rig.render.encoders import decode_png

Image = pytest.importorskip("PIL.Image")


def _png(path) -> np.ndarray:
    return decode_png(path.read_bytes())


def test_preview_code_writes_a_png_of_the_pose(tmp_path, capsys):
    output = tmp_path / "surprise.png"
    assert main(["preview", "surprise", "-o", str(output), "--size", "128"]) == 0
    image = _png(output)
    assert image.shape == (128, 128, 3)
    assert "wrote" in capsys.readouterr().out
    neutral = tmp_path / "neutral.png"
    assert main(["preview", "0", "-o", str(neutral), "--size", "128"]) == 0
    assert np.abs(_png(neutral).astype(int) - image.astype(int)).sum(axis=2).astype(bool).mean() > 0.02


def test_side_by_side_puts_neutral_left_of_the_pose(tmp_path):
    output = tmp_path / "pair.png"
    assert main(["preview", "12E", "-o", str(output), "--size", "64", "--side-by-side"]) == 0
    image = _png(output)
    assert image.shape == (64, 64 * 2 + 4, 3)
    alone = tmp_path / "neutral.png"
    main(["preview", "0", "-o", str(alone), "--size", "64"])
    assert np.array_equal(image[:, :64], _png(alone))


def test_preview_timeline_writes_a_gif_at_the_timeline_fps(tmp_path, capsys):
    timeline = {
        "schema": "facs_rig.timeline/1",
        "fps": 10,
        "events": [
            {"channel": "AU12", "intensity": 0.9, "start": 0.0, "onset": 0.2, "apex": 0.2, "offset": 0.2}
        ],
    }
    path = tmp_path / "beat.json"
    path.write_text(json.dumps(timeline))
    output = tmp_path / "clip.gif"
    assert main(["preview", str(path), "-o", str(output), "--size", "48"]) == 0
    captured = capsys.readouterr()
    gif = Image.open(io.BytesIO(output.read_bytes()))
    assert gif.size == (48, 48)
    from facs_rig.core.timeline import frame_times

    # 0.6 s at 10 fps, both ends; identical frames (the apex hold) are merged into longer ones.
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert sum(durations) == 100 * len(frame_times(0.6, 10.0)) >= 600
    assert set(durations) >= {100} and all(d % 100 == 0 for d in durations)
    assert "rendering GIF: 100%|" in captured.err  # the progress bar


def test_preview_code_as_a_clip_holds_the_expression(tmp_path):
    output = tmp_path / "clip.gif"
    assert (
        main(["preview", "happiness", "-o", str(output), "--size", "32", "--fps", "5", "--hold", "0.2"]) == 0
    )
    gif = Image.open(io.BytesIO(output.read_bytes()))
    assert gif.n_frames >= 3


def test_preview_a_timeline_as_a_png_shows_its_peak(tmp_path):
    from facs_rig.core.timeline import timeline_from_code
    from facs_rig.io.timeline_files import write_timeline
    from facs_rig.resources import load_vocabulary

    path = tmp_path / "beats.json"
    write_timeline(timeline_from_code("1+2+26", load_vocabulary(), hold=0.5), path)
    output, at_start = tmp_path / "peak.png", tmp_path / "start.png"
    assert main(["preview", str(path), "-o", str(output), "--size", "48"]) == 0
    assert main(["preview", str(path), "-o", str(at_start), "--size", "48", "--at", "0"]) == 0
    neutral = tmp_path / "neutral.png"
    assert main(["preview", "0", "-o", str(neutral), "--size", "48"]) == 0
    assert np.array_equal(_png(at_start), _png(neutral))  # the timeline starts at rest
    assert not np.array_equal(_png(output), _png(neutral))  # and peaks with the jaw open


def test_sheet_labels_every_face(tmp_path):
    output = tmp_path / "sheet.png"
    assert main(["sheet", "happiness,sadness,1+2", "-o", str(output), "--size", "64", "--columns", "3"]) == 0
    image = _png(output)
    assert image.shape[1] == 3 * (64 + 8) + 8
    assert image.shape[0] > 64 + 8 + 14  # room for the labels
    text_rows = image[8 + 64 :, :, :]
    assert (text_rows == 240).all(axis=2).any()  # names drawn in white
    assert (np.all(text_rows == (170, 200, 255), axis=2)).any()  # codes drawn in blue


def test_preview_renders_a_user_glb_with_a_named_profile(tmp_path):
    output = tmp_path / "user.png"
    glb = REPO / "rigs" / "default_head.glb"
    assert (
        main(["preview", "4+5+7+23", "-o", str(output), "--size", "48", "--mesh", str(glb), "--rig", "facs"])
        == 0
    )
    assert _png(output).shape == (48, 48, 3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["preview", "12+zz", "-o", "x.png"], "12+zz"),
        (["preview", "happiness", "-o", "x.bmp"], ".bmp"),
        (["sheet", "happiness", "-o", "x.gif"], ".png"),
        (["preview", "happiness", "-o", "x.png", "--mesh", "missing.glb"], "missing.glb"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facs-rig: error:") and message in err[0]
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["preview", "happiness", "-o", "x.png", "--size", "3"],
         "argument --size: 3: must lie between 16 and 4096 pixels (see 'facs-rig preview --help')"),
        (["sheet", " , ", "-o", "x.png"], "no codes given"),
        (["preview", "happiness", "-o", "x.png", "--intensity", "1.5"],
         "argument --intensity: 1.5: must lie between 0 and 1"),
        (["demo", "--size", "4096"], "argument --size: 4096: must lie between 16 and 2048 pixels"),
    ],
)
def test_bad_option_values_are_usage_errors_exit_2(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facs-rig: error:") and message in err[0]
    assert err[0].endswith("--help')")
    assert not list(tmp_path.iterdir())


def test_demo_writes_glb_sheet_gif_and_timeline(tmp_path, capsys):
    # -o names an output folder: it is made with its missing parents (README, docs/default-head.md).
    folder = tmp_path / "new" / "facs-rig-demo"
    assert main(["demo", "-o", str(folder), "--size", "40", "--fps", "4"]) == 0
    out = capsys.readouterr().out
    for name in ("default_head_animated.glb", "expressions.png", "expressions.gif", "timeline.json"):
        assert (folder / name).stat().st_size > 0, name
        assert name in out
    assert "facs-rig stream" in out
    sheet = _png(folder / "expressions.png")
    assert sheet.shape[1] == 4 * (40 + 8) + 8  # neutral + seven expressions, four per row
    gif = Image.open(io.BytesIO((folder / "expressions.gif").read_bytes()))
    assert gif.n_frames > 30
    # The animated GLB plays the timeline on the default head's targets.
    from facs_rig.io.gltf import read_gltf

    rig = read_gltf(folder / "default_head_animated.glb")
    document = rig.source.document
    assert len(document["animations"]) == 1
    channel = document["animations"][0]["channels"][0]
    assert channel["target"]["path"] == "weights"
    assert "AU12_L" in rig.target_names and "AU43_R" in rig.target_names


def test_demo_glb_passes_the_khronos_validator(tmp_path):
    from gltf_validator import errors_and_warnings, validate_gltf

    from facs_rig.render.demo import run_demo
    from facs_rig.resources import load_vocabulary

    files = run_demo(tmp_path / "demo", load_vocabulary(), size=24, fps=2)
    report = validate_gltf(files.glb)
    assert report["issues"]["numErrors"] == 0 and errors_and_warnings(report) == []


def test_demo_timeline_plays_the_seven_expressions_in_order():
    from facs_rig.render.demo import BASIC_EXPRESSIONS, demo_beats, demo_timeline
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    beats = demo_beats(vocabulary)
    assert tuple(name for name, _ in beats) == BASIC_EXPRESSIONS
    timeline = demo_timeline(vocabulary)
    assert 8.0 < timeline.duration < 15.0
    first_au12 = min(e.start for e in timeline.events if e.channel.au == 12)
    first_au26 = min(e.start for e in timeline.events if e.channel.au == 26)
    assert first_au12 < first_au26  # happiness before surprise


# ----------------------------------------------------------------------------- real third-party rigs


def test_preview_the_ict_facekit_head_with_the_detected_arkit_profile(tmp_path, capsys):
    from conftest import shared_asset

    glb = shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb")
    output = tmp_path / "ict.png"
    assert (
        main(["preview", "12E", "-o", str(output), "--mesh", str(glb), "--size", "96", "--side-by-side"]) == 0
    )
    assert "rig arkit" in capsys.readouterr().out
    image = _png(output)
    neutral, smile = image[:, :96].astype(int), image[:, 100:].astype(int)
    assert np.abs(neutral - smile).sum(axis=2).astype(bool).mean() > 0.02


def test_preview_draws_a_rigs_meshes_without_targets_too(tmp_path):
    from conftest import shared_asset

    from facs_rig.io.gltf import read_gltf
    from facs_rig.render.scene import load_render_rig

    glb = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    rig = load_render_rig(glb)
    animated = sum(mesh.n_vertices for mesh in read_gltf(glb).meshes)
    assert rig.mesh.n_vertices > animated  # the eyes carry no targets but are drawn
    assert np.abs(rig.mesh.deltas[:, animated:]).max() == 0.0


def test_a_rig_no_profile_fits_is_a_one_line_error(tmp_path, capsys):
    from conftest import shared_asset

    gltf = shared_asset("rigs/khronos/AnimatedMorphCube/glTF/AnimatedMorphCube.gltf")
    assert main(["preview", "12", "-o", str(tmp_path / "cube.png"), "--mesh", str(gltf)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rig" in err[0]
    assert (
        main(["preview", "12", "-o", str(tmp_path / "cube.png"), "--mesh", str(gltf), "--rig", "facs"]) == 1
    )


def test_head_movements_drive_the_default_heads_au5x_targets_directly():
    from facs_rig.render.preview import code_values, preview_setup
    from facs_rig.resources import load_vocabulary

    setup = preview_setup(size=48)
    vocabulary = load_vocabulary()
    weights = setup.driver.frame(code_values("51E+12", vocabulary))
    names = setup.rig.mesh.target_names
    assert weights[names.index("AU51")] == pytest.approx(1.0)
    assert weights[names.index("AU12_L")] > 0.3 and weights[names.index("AU52")] == 0.0
    assert not np.array_equal(setup.renderer.render(weights), setup.renderer.render(None))


def test_a_driver_pairs_profile_targets_with_other_naming_conventions():
    from facs_rig.io.rig_files import load_rig
    from facs_rig.render.preview import make_driver
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    driver = make_driver(load_rig("arkit"), ["MouthSmile_L", "mouthSmile_R", "jawOpen", "custom"])
    weights = driver.frame(vocabulary.channel_values(vocabulary.parse("12E+26")))
    assert weights.shape == (4,) and weights[3] == 0.0
    assert weights[0] > 0.5 and weights[1] > 0.5 and weights[2] > 0.3


def test_timeline_clips_render_lazily():
    import types

    from facs_rig.core.timeline import frame_times, timeline_from_code
    from facs_rig.render.preview import preview_setup, timeline_clip
    from facs_rig.resources import load_vocabulary

    setup = preview_setup(size=32)
    timeline = timeline_from_code("12E", load_vocabulary(), hold=0.2)
    clip = timeline_clip(setup, timeline, fps=10)
    assert isinstance(clip.frames, types.GeneratorType)
    assert clip.n_frames == len(frame_times(timeline.duration, 10.0)) and clip.fps == 10.0
    assert clip.palette.shape == (256, 3)
    frames = list(clip.frames)
    assert len(frames) == clip.n_frames and frames[0].shape == (32, 32, 3)


def test_intensity_scales_unlettered_aus_in_stills_and_clips(tmp_path):
    images = {}
    for value in ("0.2", "1.0"):
        output = tmp_path / f"smile{value}.png"
        assert main(["preview", "12", "-o", str(output), "--size", "48", "--intensity", value]) == 0
        images[value] = _png(output).astype(int)
    assert np.abs(images["0.2"] - images["1.0"]).sum() > 0
    lettered = tmp_path / "lettered.png"
    # An --intensity that sets no AU (12E is lettered) changed nothing silently: now refused.
    assert main(["preview", "12E", "-o", str(lettered), "--size", "48", "--intensity", "0.2"]) == 2
    assert not lettered.exists()
    assert main(["preview", "12E", "-o", str(lettered), "--size", "48"]) == 0
    assert np.array_equal(_png(lettered).astype(int), images["1.0"])  # letters keep their value
    clips = {}
    for value in ("0.2", "1.0"):
        output = tmp_path / f"clip{value}.gif"
        assert main(["preview", "12", "-o", str(output), "--size", "32", "--fps", "4", "--hold", "0.3",
                     "--intensity", value]) == 0
        clips[value] = output.read_bytes()
    assert clips["0.2"] != clips["1.0"]


def test_demo_run_again_keeps_an_edited_timeline(tmp_path, capsys):
    """The demo says 'edit it and re-run facs-rig preview'; running the demo again wrote its
    own timeline over the edits. An edited timeline.json is now moved aside, once per edit."""
    folder = tmp_path / "facs-rig-demo"
    assert main(["demo", "-o", str(folder), "--size", "24", "--fps", "2"]) == 0
    demo_text = (folder / "timeline.json").read_text()
    edited = demo_text.replace('"title": "', '"title": "my cut of ', 1)
    assert edited != demo_text
    (folder / "timeline.json").write_text(edited)
    capsys.readouterr()
    assert main(["demo", "-o", str(folder), "--size", "24", "--fps", "2"]) == 0
    assert (f"  {folder / 'timeline.edited.json'}   your edited timeline, kept (it was "
            f"timeline.json)") in capsys.readouterr().out.splitlines()
    assert (folder / "timeline.edited.json").read_text() == edited
    assert (folder / "timeline.json").read_text() == demo_text
    assert main(["demo", "-o", str(folder), "--size", "24", "--fps", "2"]) == 0  # unedited now
    assert "kept" not in capsys.readouterr().out
    assert sorted(p.name for p in folder.glob("timeline*")) == ["timeline.edited.json", "timeline.json"]


def test_the_demo_plays_the_letters_its_labels_show():
    """The sheet said `6+12` under a face played at 0.75 (D's band), while `preview 6+12` plays
    C (0.55): the labels now carry the letters played, and each beat's events are that code's."""
    from facs_rig.render.demo import demo_beats, demo_timeline
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    beats = dict(demo_beats(vocabulary))
    assert beats["happiness"] == "6D+12D" and beats["sadness"] == "1D+4D+15D"
    assert beats["surprise"] == "1D+2D+5B+25D+26D" and beats["contempt"] == "R12C+R14C"
    timeline = demo_timeline(vocabulary)
    played = {}
    for event in timeline.events:
        played.setdefault(event.channel.name, []).append(round(event.intensity, 6))
    assert played["AU06"] == [0.9] and played["AU12"] == [0.9]  # facshuman D
    assert played["AU12_R"] == [0.55]  # contempt's C
    assert played["AU05"] == [0.2, 0.9, 0.9]  # surprise's 5B, fear's and anger's 5D
