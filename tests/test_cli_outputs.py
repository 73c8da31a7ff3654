"""Every writing command checks its output before the work, and every command shares one fps
range and one frame-count limit (issue 11, points 6 and 7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facs_rig.cli import main
from facs_rig.core.limits import MAX_FPS, MAX_FRAMES, fps_problem, frame_count_problem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BEAT = str(EXAMPLES / "suspicion_beat.notes")


def _one_error(capsys, argv, status=1) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("facs-rig: error: "), err
    return err.strip()


@pytest.fixture
def no_work(monkeypatch):
    """Make every heavy step raise: a command that reaches one did not check its output first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    import facs_rig.io.captures.parallel as parallel
    import facs_rig.io.captures.retarget as retarget
    import facs_rig.io.timeline_files as timeline_files
    import facs_rig.render.demo as demo
    import facs_rig.render.preview as preview
    from facs_rig.cli import gltf_commands, timeline_commands

    for module, name in [(preview, "preview_setup"), (preview, "timeline_clip"),
                         (timeline_files, "read_timeline"), (demo, "run_demo"),
                         (gltf_commands, "bake_timeline"), (gltf_commands, "pose_code"),
                         (gltf_commands, "load_timeline_argument"),
                         (timeline_commands, "load_timeline_argument"),
                         (parallel, "retarget_file"), (retarget, "retarget_file")]:
        monkeypatch.setattr(module, name, forbidden)


def _writers(out: str, rig_input: str) -> list[list[str]]:
    capture = out + "-take.csv"  # never read: the output check comes first
    return [
        ["preview", BEAT, "-o", out + ".gif"],
        ["preview", BEAT, "-o", out + ".mp4"],
        ["preview", "happiness", "-o", out + ".png"],
        ["sheet", "happiness,surprise", "-o", out + ".png"],
        ["bake", BEAT, "--mesh", rig_input, "-o", out + ".glb"],
        ["pose", "12", "--mesh", rig_input, "-o", out + ".obj"],
        ["retarget", capture, "-o", out + ".json"],
        ["timeline", "convert", BEAT, "-o", out + ".json"],
        ["timeline", "convert", BEAT, out + ".eaf"],
        ["timeline", "sample", BEAT, "-o", out + ".csv"],
    ]


HEAD = str(Path(__file__).resolve().parent.parent / "rigs" / "default_head.glb")


@pytest.mark.parametrize("index", range(10))
def test_missing_folder_fails_before_any_work(tmp_path, capsys, no_work, index):
    out = str(tmp_path / "nofolder" / "x")
    argv = _writers(out, HEAD)[index]
    message = _one_error(capsys, argv)
    assert f"folder {tmp_path / 'nofolder'} does not exist" in message


@pytest.mark.parametrize("index", range(10))
def test_a_parent_that_is_a_file_fails_before_any_work(tmp_path, capsys, no_work, index):
    # Root may write into a read-only folder, so the portable "cannot write here" is a file.
    (tmp_path / "file").write_text("x")
    argv = _writers(str(tmp_path / "file" / "x"), HEAD)[index]
    assert "is a file, not a folder" in _one_error(capsys, argv)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders; the file-parent test covers it")
def test_read_only_folder_fails_before_any_work(tmp_path, capsys, no_work):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        message = _one_error(capsys, ["preview", BEAT, "-o", str(folder / "x.gif")])
    finally:
        folder.chmod(0o755)
    assert "is not writable" in message


def test_demo_folder_under_a_file_fails_before_any_work(tmp_path, capsys, no_work):
    (tmp_path / "file").write_text("x")
    assert "is a file" in _one_error(capsys, ["demo", "-o", str(tmp_path / "file" / "demo")])


@pytest.mark.parametrize("argv", [
    ["preview", "{beat}", "-o", "{beat}"],
    ["timeline", "convert", "{beat}", "-o", "{beat}"],
    ["timeline", "sample", "{copy}", "-o", "{copy}"],
    ["bake", "12", "--mesh", "{head}", "-o", "{head}"],
    ["pose", "12", "--mesh", "{head}", "-o", "{head}"],
    ["preview", "12", "--mesh", "{head}", "-o", "{head}"],
])
def test_output_equal_to_an_input_fails_before_any_work(tmp_path, capsys, no_work, argv):
    beat = tmp_path / "beat.notes"
    beat.write_bytes(Path(BEAT).read_bytes())
    copy = tmp_path / "beat.csv"
    copy.write_text("time,AU12\n0,0\n")
    head = tmp_path / "head.glb"
    head.write_bytes(Path(HEAD).read_bytes())
    before = {p: p.read_bytes() for p in (beat, copy, head)}
    argv = [a.format(beat=beat, copy=copy, head=head) for a in argv]
    message = _one_error(capsys, argv)
    assert "is the input file" in message or "cannot write" in message
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize(("argv", "extension"), [
    (["preview", BEAT, "-o", "x.avi"], ".avi"),
    (["sheet", "12", "-o", "x.gif"], ".gif"),
    (["bake", BEAT, "--mesh", HEAD, "-o", "x.fbx"], ".fbx"),
    (["pose", "12", "--mesh", HEAD, "-o", "x.stl"], ".stl"),
    (["timeline", "sample", BEAT, "-o", "x.npy"], ".npy"),
])
def test_unsupported_extension_fails_before_any_work(tmp_path, capsys, monkeypatch, no_work,
                                                      argv, extension):
    monkeypatch.chdir(tmp_path)
    assert f"cannot write {extension} as" in _one_error(capsys, argv)


# ---------------------------------------------------------------------------- limits


def test_the_limits_live_in_core_with_one_wording():
    assert (MAX_FPS, MAX_FRAMES) == (10_000, 24_000_000)
    for bad in (0, -1, 10_000.5, float("nan"), float("inf"), "x", True):
        assert fps_problem(bad) == "fps must be a number in (0, 10000]"
    assert fps_problem(10_000) is None and fps_problem(1e-6) is None
    assert frame_count_problem(MAX_FRAMES, what="x") is None
    assert "more than the limit of 24,000,000" in frame_count_problem(float("inf"), what="x")


@pytest.mark.parametrize("argv", [
    ["preview", "happiness", "-o", "x.gif"],
    ["demo"],
    ["bake", "12", "--mesh", HEAD, "-o", "x.glb"],
    ["stream", "12", "--dry-run"],
    ["bridge", "--dry-run"],
    ["timeline", "sample", "12", "-o", "x.csv"],
    ["timeline", "convert", "12", "-o", "x.json"],
    ["retarget", "x.csv", "-o", "x.json"],
    ["code", "x.csv"],
])
@pytest.mark.parametrize("fps", ["100000", "0", "-5", "nan", "inf"])
def test_every_fps_option_has_one_range_and_one_wording(tmp_path, capsys, monkeypatch, no_work,
                                                         argv, fps):
    monkeypatch.chdir(tmp_path)
    message = _one_error(capsys, [*argv, "--fps", fps], status=2)
    assert f"argument --fps: {fps}: fps must be a number in (0, 10000]" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["preview", "{file}", "-o", "x.mp4", "--fps", "10000"],
    ["timeline", "sample", "{file}", "-o", "x.csv", "--fps", "10000"],
    ["bake", "{file}", "--mesh", HEAD, "-o", "x.glb", "--fps", "10000"],
    ["stream", "{file}", "--dry-run", "--fps", "10000"],
])
def test_too_many_frames_names_the_file_before_any_work(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    long = tmp_path / "long.notes"
    long.write_text("3000 12\n", encoding="utf-8")  # the beat ends at 3001.8 s: 3e7 frames
    message = _one_error(capsys, [a.format(file=long) for a in argv])
    assert message == (f"facs-rig: error: {long}: 3001.8 s at 10000 fps is 3e+07 frames, more than "
                       f"the limit of 24,000,000; lower the fps or use a shorter span")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.notes"]


def test_a_gif_too_long_to_hold_is_refused_before_rendering(tmp_path, capsys, no_work):
    out = tmp_path / "x.gif"
    message = _one_error(capsys, ["preview", "happiness", "--hold", "600", "--fps", "30",
                                  "-o", str(out)])
    assert "write an .mp4" in message and not out.exists()


@pytest.mark.parametrize("command", ["code", "retarget"])
def test_resampling_a_capture_past_the_frame_limit_names_the_capture(tmp_path, capsys, command):
    capture = tmp_path / "take.csv"
    rows = "".join(f"{t},0.95,1,0.5,1.0\n" for t in (0.0, 1.0, 3000.0))  # 3000 s at 10000 fps
    capture.write_text("timestamp,confidence,success,AU12_r,AU06_r\n" + rows, encoding="utf-8")
    argv = [command, str(capture), "--fps", "10000", "--neutral", "none"]
    argv += ["-o", str(tmp_path / "out.csv")] if command == "retarget" else []
    message = _one_error(capsys, argv)
    assert message.startswith(f"facs-rig: error: {capture}: ")
    assert "frames, more than the limit of 24,000,000" in message
    assert not (tmp_path / "out.csv").exists()


def test_a_still_of_a_timeline_past_the_frame_limit_names_the_file(tmp_path, capsys):
    long = tmp_path / "long.notes"
    long.write_text("fps 10000\n3000 12\n", encoding="utf-8")
    message = _one_error(capsys, ["preview", str(long), "--size", "16", "-o",
                                  str(tmp_path / "x.png")])
    assert message.startswith(f"facs-rig: error: {long}: 3001.8 s at 10000 fps is 3e+07 frames")


@pytest.mark.parametrize(("arguments", "message"), [
    (["6+12", "-o", "a.png", "--fps", "10"],
     "--fps applies to a GIF or MP4 clip, not to a PNG (one pose)"),
    (["6+12", "-o", "a.png", "--hold", "3"],
     "--hold applies to a GIF or MP4 clip made from a code, not to a PNG (one pose)"),
    (["6+12", "-o", "a.png", "--at", "5"],
     "--at picks a moment of a timeline file; a code is one pose (its apex): leave --at out, "
     "or give a timeline"),
    (["6+12", "-o", "a.gif", "--at", "1"],
     "--at picks the moment a PNG shows; a GIF clip shows the whole timeline (or code)"),
    (["6+12", "-o", "a.mp4", "--at", "1"],
     "--at picks the moment a PNG shows; an MP4 clip shows the whole timeline (or code)"),
    (["examples/suspicion_beat.notes", "-o", "a.gif", "--hold", "3"],
     "--hold applies to a clip made from a code; a timeline file has its own timing"),
])
def test_preview_refuses_options_the_picture_would_ignore(arguments, message, capsys, tmp_path,
                                                          monkeypatch):
    """A reviewer's --fps, --hold and --at on a PNG of a code gave byte-identical files."""
    from facs_rig.cli import main

    repo = Path(__file__).resolve().parent.parent
    arguments = [str(repo / a) if a.startswith("examples/") else a for a in arguments]
    monkeypatch.chdir(tmp_path)
    assert main(["preview", *arguments]) == 2
    assert capsys.readouterr().err == (f"facs-rig: error: {message} "
                                       f"(see 'facs-rig preview --help')\n")
    assert list(tmp_path.iterdir()) == []
