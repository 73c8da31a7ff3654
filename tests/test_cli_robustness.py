"""Adversarial input for every command: one ``facs-rig: error:`` line, no traceback, no output.

Each test here is a regression for a bad input that once escaped as a traceback (or a misleading
message). Commands run in-process through :func:`facs_rig.cli.main`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from facs_rig.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_failing(capsys: pytest.CaptureFixture[str], argv: list[str], *, status: int = 1,
                names: tuple[str, ...] = ()) -> str:
    """Run ``facs-rig argv``, assert one error line naming ``names``, and return it."""
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("facs-rig: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def example_timeline(**changes: object) -> dict:
    data = json.loads((EXAMPLES / "surprise_then_smile.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


# --- timeline files ---------------------------------------------------------------------------

def test_timeline_json_integer_beyond_float_range(tmp_path, capsys):
    path = tmp_path / "big.json"
    # 10**400 as JSON digits: Python's json reads it as an int that math.isfinite cannot take.
    path.write_text(json.dumps(example_timeline(fps=10**400)), encoding="utf-8")
    out = tmp_path / "out.csv"
    run_failing(capsys, ["timeline", "sample", str(path), "-o", str(out)],
                names=(str(path), "$.fps"))
    assert not out.exists()


def test_sampling_beyond_float_range_is_refused_not_overflowed(tmp_path, capsys):
    out = tmp_path / "out.csv"
    message = run_failing(capsys, ["timeline", "sample", "12", "--fps", "10000", "--hold", "1e308",
                                   "-o", str(out)])
    assert "frames, more than the limit" in message
    assert not out.exists()


def test_timeline_show_counts_frames_without_sampling_them(tmp_path, capsys):
    path = tmp_path / "long.notes"
    path.write_text("fps 1e300\n1e300 12\n", encoding="utf-8")
    assert main(["timeline", "show", str(path)]) == 0
    assert "(too many frames)" in capsys.readouterr().out
    path.write_text("1e12 12\n", encoding="utf-8")
    assert main(["timeline", "show", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] > 10**13


def test_absurd_sample_duration_message_is_short(tmp_path, capsys):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(example_timeline(duration=1e300)), encoding="utf-8")
    out = tmp_path / "out.csv"
    message = run_failing(capsys, ["timeline", "sample", str(path), "-o", str(out)])
    # The file is named, then one short sentence.
    assert message.startswith(f"facs-rig: error: {path}: 1e+300 s at 30 fps is 3e+301 frames")
    assert "more than the limit of 24,000,000" in message and len(message) < 160 + len(str(path))
    assert not out.exists()


# --- output == input --------------------------------------------------------------------------

HEAD = Path(__file__).resolve().parent.parent / "rigs" / "default_head.glb"


@pytest.mark.parametrize("command", [
    ["bake", "12", "--mesh", "{rig}", "-o", "{rig}"],
    ["pose", "12", "--mesh", "{rig}", "-o", "{rig}"],
    ["bake", "12", "--mesh", "{rig}", "-o", "{link}"],
])
def test_bake_and_pose_refuse_to_write_over_their_rig(tmp_path, capsys, command):
    rig = tmp_path / "face.glb"
    rig.write_bytes(HEAD.read_bytes())
    (tmp_path / "link.glb").symlink_to(rig)
    before = rig.read_bytes()
    argv = [a.format(rig=rig, link=tmp_path / "link.glb") for a in command]
    run_failing(capsys, argv, names=("output is the input file", str(rig)))
    assert rig.read_bytes() == before


@pytest.mark.parametrize("command", [
    ["timeline", "convert", "{t}", "{t}"],
    ["timeline", "sample", "{t}", "-o", "{t}"],
])
def test_timeline_commands_refuse_to_write_over_their_input(tmp_path, capsys, command):
    timeline = tmp_path / "beats.json"
    # Hand-written beats would be expanded into events: the user's file must survive.
    timeline.write_bytes((EXAMPLES / "surprise_then_smile.json").read_bytes())
    before = timeline.read_bytes()
    run_failing(capsys, [a.format(t=timeline) for a in command],
                names=("output is the input file", str(timeline)))
    assert timeline.read_bytes() == before


def test_retarget_refuses_to_write_over_its_capture(tmp_path, capsys):
    capture = tmp_path / "take.csv"
    capture.write_text("timestamp,confidence,success,AU12_r\n0.0,0.9,1,1.0\n0.1,0.9,1,2.0\n",
                       encoding="utf-8")
    before = capture.read_bytes()
    run_failing(capsys, ["retarget", str(capture), "-o", str(capture)],
                names=("output is the input file", str(capture)))
    assert capture.read_bytes() == before


# --- bake options -----------------------------------------------------------------------------

@pytest.mark.parametrize("tolerance", ["-1", "nan", "inf", "abc"])
def test_bake_tolerance_must_be_a_finite_non_negative_number(tmp_path, capsys, tolerance):
    out = tmp_path / "out.glb"
    # -1 escaped as a ValueError traceback from keyframe reduction; nan silently kept every key.
    run_failing(capsys, ["bake", "12", "--mesh", str(HEAD), "-o", str(out),
                         "--tolerance", tolerance], status=2, names=("--tolerance", tolerance))
    assert not out.exists()


# --- capture cleaning options -----------------------------------------------------------------

def _openface_capture(tmp_path: Path) -> Path:
    capture = tmp_path / "take.csv"
    rows = "".join(f"{k / 30:.4f},0.95,1,{k % 5 * 0.5:.2f},1.0\n" for k in range(60))
    capture.write_text("timestamp,confidence,success,AU12_r,AU06_r\n" + rows, encoding="utf-8")
    return capture


@pytest.mark.parametrize("option", [
    ["--gain", "200"], ["--gain", "nan"], ["--cutoff", "0"], ["--cutoff", "nan"],
    ["--fps", "0"], ["--fps", "nan"], ["--max-gap", "-1"], ["--max-gap", "nan"],
    ["--min-duration", "nan"],
])
@pytest.mark.parametrize("command", ["code", "retarget"])
def test_capture_options_out_of_range_are_usage_errors(tmp_path, capsys, option, command):
    # code escaped with ValueError tracebacks (numpy percentiles, cutoff_hz, fps); retarget
    # silently accepted them (or NaN) and wrote a file.
    capture = _openface_capture(tmp_path)
    out = tmp_path / "out.csv"
    argv = [command, str(capture), *option] + (["-o", str(out)] if command == "retarget" else [])
    run_failing(capsys, argv, status=2)
    assert not out.exists()


@pytest.mark.parametrize("command", ["code", "retarget"])
def test_capture_neutral_window_outside_the_take_names_the_file(tmp_path, capsys, command):
    capture = _openface_capture(tmp_path)
    out = tmp_path / "out.csv"
    argv = [command, str(capture), "--neutral", "1e12-2e12"]
    argv += ["-o", str(out)] if command == "retarget" else []
    run_failing(capsys, argv, names=(str(capture), "holds no frame"))
    assert not out.exists()


@pytest.mark.parametrize("command", ["code", "retarget"])
def test_capture_resampling_at_absurd_fps_is_refused_before_allocating(tmp_path, capsys, command):
    capture = _openface_capture(tmp_path)
    out = tmp_path / "out.csv"
    argv = [command, str(capture), "--fps", "1e12"]
    argv += ["-o", str(out)] if command == "retarget" else []
    run_failing(capsys, argv, status=2, names=("--fps", "1e12: fps must be a number in (0, 10000]"))
    assert not out.exists()


# --- preview ----------------------------------------------------------------------------------

@pytest.mark.parametrize("yaw", ["inf", "nan", "1e308"])
@pytest.mark.parametrize("command", ["preview", "sheet"])
def test_preview_yaw_must_be_a_finite_angle(tmp_path, capsys, yaw, command):
    # inf escaped as "ValueError: math domain error"; nan rendered an empty image.
    out = tmp_path / "out.png"
    run_failing(capsys, [command, "12", "-o", str(out), "--size", "16", "--yaw", yaw], status=2,
                names=("--yaw", "must lie between -360 and 360 degrees"))
    assert not out.exists()


@pytest.mark.parametrize("at, name", [("nan", "is not a time"), ("-1", "negative --at"),
                                      ("1e12", "outside the timeline")])
def test_preview_at_outside_the_timeline_is_refused(tmp_path, capsys, at, name):
    # nan silently showed frame 0, 1e12 the last frame; a bad --at is a usage error.
    out = tmp_path / "out.png"
    run_failing(capsys, ["preview", str(EXAMPLES / "surprise_then_smile.json"), "-o", str(out),
                         "--size", "16", "--at", at], status=2, names=(name,))
    assert not out.exists()


def test_preview_gif_slower_than_a_gif_frame_can_hold(tmp_path, capsys):
    # A GIF delay is 16 bits of 1/100 s: 1e-9 fps escaped as struct.error.
    out = tmp_path / "out.gif"
    run_failing(capsys, ["preview", "12", "-o", str(out), "--size", "16", "--fps", "1e-9"],
                names=(str(out), "fps"))
    assert not out.exists()


def test_mp4_rate_below_ffmpeg_resolution(tmp_path, capsys):
    # ffmpeg printed its own log and facs-rig named a temporary file; now one line, before ffmpeg.
    from facs_rig.render.encoders import write_mp4

    out = tmp_path / "out.mp4"
    from facs_rig.errors import UnsupportedFormatError

    with pytest.raises(UnsupportedFormatError, match="out.mp4"):
        write_mp4(out, [np.zeros((16, 16, 3), np.uint8)], fps=1e-9)
    assert not out.exists()


# --- rig profiles -----------------------------------------------------------------------------

RIGS = Path(__file__).resolve().parent.parent / "rigs"


def _broken_arkit(tmp_path: Path) -> Path:
    data = json.loads((RIGS / "arkit.json").read_text(encoding="utf-8"))
    data["action_units"]["AU12"][0]["side"] = ["L"]  # was: TypeError unhashable type: 'list'
    data["action_units"]["AU06"][0]["weight"] = 10**400  # was: OverflowError in isfinite
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_rig_validate_lists_unhashable_side_and_huge_weight(tmp_path, capsys):
    path = _broken_arkit(tmp_path)
    assert main(["rig", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "action_units.AU12[0].side" in captured.out
    assert "action_units.AU06[0].weight" in captured.out


def test_mix_with_a_broken_profile_is_one_line(tmp_path, capsys):
    path = _broken_arkit(tmp_path)
    run_failing(capsys, ["mix", "12", "--rig", str(path)],
                names=(str(path), "action_units.AU12[0].side", "action_units.AU06[0].weight"))


def _mutations():
    """Each bundled profile with one value replaced by a hostile one, at every JSON path."""
    hostile = [None, True, -1, 10**400, float("nan"), "", [], {}, [None], {"a": None}, ["L"],
               [[0, 0], [0, 1]], {"rule": "clamp"}]
    data = json.loads((RIGS / "vrm.json").read_text(encoding="utf-8"))

    def paths(node, prefix=()):
        yield prefix
        items = node.items() if isinstance(node, dict) else enumerate(node) \
            if isinstance(node, list) else ()
        for key, child in items:
            yield from paths(child, prefix + (key,))

    return data, [p for p in paths(data) if p], hostile


def test_validator_never_crashes_on_any_single_hostile_value():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from facs_rig.core.rig import rig_from_dict, validate_rig
    from facs_rig.errors import FacsRigError

    data, paths, hostile = _mutations()

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.sampled_from(paths), st.sampled_from(hostile))
    def check(path, value):
        document = json.loads(json.dumps(data))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        assert isinstance(validate_rig(document), list)
        try:
            rig_from_dict(document)
        except FacsRigError:
            pass

    check()


# --- glTF -------------------------------------------------------------------------------------

def test_gltf_accessor_count_beyond_float_range(tmp_path, capsys):
    # count = 10**400: the memory-limit message divided it into a float (OverflowError).
    document = {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": "data:application/octet-stream;base64,AAAAAAAAAAAAAAAA",
                     "byteLength": 12}],
        "bufferViews": [{"buffer": 0, "byteLength": 12}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 10**400,
                       "type": "VEC3"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "targets": [{"POSITION": 0}]}],
                    "extras": {"targetNames": ["jawOpen"]}}],
        "nodes": [{"mesh": 0}],
    }
    rig = tmp_path / "huge.gltf"
    rig.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "posed.obj"
    run_failing(capsys, ["pose", "26", "--mesh", str(rig), "--rig", "arkit", "-o", str(out)],
                names=(str(rig), "/meshes/0"))
    assert not out.exists()


def test_capture_cell_beyond_float32_is_clipped_without_a_numpy_warning(tmp_path, capsys):
    # 1e308 in a Live Link Face take printed numpy's "overflow encountered in cast" (two lines
    # with a source line) on stderr before the clip was repaired.
    shapes = ["EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
              "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight",
              "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight",
              "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose",
              "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft",
              "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
              "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower",
              "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
              "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
              "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp",
              "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
              "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut"]
    rows = []
    for k in range(30):
        cells = ["0.1"] * len(shapes)
        if k == 5:
            cells[3] = "1e308"
        rows.append(f"12:00:00:{k:02d}.000,{len(shapes)}," + ",".join(cells))
    take = tmp_path / "take.csv"
    take.write_text("Timecode,BlendShapeCount," + ",".join(shapes) + "\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["code", str(take)]) == 0
    assert capsys.readouterr().err == ""


def test_head_angle_beyond_float_range_is_clipped_silently():
    # A capture angle of 1e308 rad divided by the full-scale angle overflowed with a
    # RuntimeWarning on stderr (found by mutating the shared OpenFace captures).
    from facs_rig.core.solve import pose_to_aus

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        values, channels = pose_to_aus(yaw=np.array([1e308, -1e308, 0.0]), n_frames=3)
    assert values[:, :2].tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


# --- ELAN -------------------------------------------------------------------------------------

def test_eaf_annotation_with_an_undeclared_time_slot(tmp_path, capsys):
    # pympi parses a dangling TIME_SLOT_REF2 and raised a bare KeyError ('ts...') later.
    good = tmp_path / "good.eaf"
    assert main(["timeline", "convert", "6+12", str(good)]) == 0
    capsys.readouterr()
    text = good.read_text(encoding="utf-8")
    assert 'TIME_SLOT_REF2="' in text
    eaf = tmp_path / "dangling.eaf"
    eaf.write_text(text.replace('TIME_SLOT_REF2="', 'TIME_SLOT_REF2="gone', 1), encoding="utf-8")
    out = tmp_path / "out.json"
    run_failing(capsys, ["timeline", "convert", str(eaf), str(out)],
                names=(str(eaf), "tier ", "gone", "not declared"))
    assert not out.exists()


@pytest.mark.parametrize("change", [{"start": 1e308}, {"offset": 1e308}])
def test_sampling_an_event_near_float_max_is_silent_and_exact(tmp_path, capsys, change):
    # start * fps overflowed to inf and was cast to int64 (RuntimeWarnings on stderr, and an
    # undefined first frame); the event simply lies beyond (or runs past) the sampled span.
    data = example_timeline()
    data["events"][0].update(change)
    path = tmp_path / "far.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "out.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["timeline", "sample", str(path), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    rows = out.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 181
    column = rows[0].split(",").index("AU46_L")
    values = [float(row.split(",")[column]) for row in rows[1:]]
    if "start" in change:
        assert max(values) == 0.0
    else:  # held at its apex from the end of its onset to the end of the timeline
        assert values[-1] == 1.0


@pytest.mark.parametrize("channels", ["AU999", "AU12,AU25_L", "AU70"])
def test_timeline_sample_channels_must_exist(tmp_path, capsys, channels):
    # Each was accepted and written as an all-zero column no event could ever drive.
    out = tmp_path / "out.csv"
    run_failing(capsys, ["timeline", "sample", "6+12", "-o", str(out), "--channels", channels],
                names=("channel list",))
    assert not out.exists()


def test_capture_with_a_very_wide_header_is_read(tmp_path, capsys):
    # 100,000 unused columns: the column index was built with tuple.index per column
    # (quadratic, tens of seconds here); the AU columns must still be found and read.
    extra = 100_000
    header = "timestamp,confidence,success,AU12_r,AU06_r," + ",".join(f"x{k}" for k in range(extra))
    zeros = ",".join(["0"] * extra)
    rows = "".join(f"{k / 30:.4f},0.95,1,{5.0 if 10 <= k < 40 else 0.0},0.0,{zeros}\n"
                   for k in range(60))
    capture = tmp_path / "wide.csv"
    capture.write_text(header + "\n" + rows, encoding="utf-8")
    assert main(["code", str(capture), "--json", "--neutral", "none"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert [s["code"] for s in segments] == ["12E"]


# --- FACS codes -------------------------------------------------------------------------------

def test_a_code_of_200000_terms_parses(tmp_path, capsys):
    # Each term formatted the error location (the whole code) up front: quadratic, minutes.
    notes = tmp_path / "long.notes"
    notes.write_text("0 " + "+".join(["12E"] * 200_000) + "\n", encoding="utf-8")
    assert main(["timeline", "show", str(notes), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["channels"] == ["AU12"] and summary["events"][0]["letter"] == "E"


def test_an_error_in_a_huge_code_is_one_short_line(capsys):
    code = "12E+" * 10_000 + "12D"
    message = run_failing(capsys, ["parse", code], names=("column 40001", "12D"))
    assert len(message) < 400


@pytest.mark.parametrize("command", [
    ["bake", "6+12", "--mesh", "{rig}", "--rig", "{profile}", "-o", "{out}"],
    ["pose", "6+12", "--mesh", "{rig}", "--rig", "{profile}", "-o", "{out}"],
])
def test_gltf_output_sidecar_must_not_replace_a_buffer_of_the_input(tmp_path, capsys, command):
    # bake SimpleMorph.gltf -o simpleMorphGeometry.gltf wrote simpleMorphGeometry.bin over the
    # input's own geometry buffer, silently corrupting the input file.
    from conftest import shared_asset

    folder = shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf").parent
    for source in folder.iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    profile = tmp_path / "simple.json"
    profile.write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "simple", "targets": ["target_0", "target_1"],
        "action_units": {"AU12": [{"target": "target_0"}], "AU06": [{"target": "target_1"}]}}),
        encoding="utf-8")
    buffer = tmp_path / "simpleMorphGeometry.bin"
    before = buffer.read_bytes()
    out = tmp_path / "simpleMorphGeometry.gltf"
    argv = [a.format(rig=tmp_path / "SimpleMorph.gltf", profile=profile, out=out) for a in command]
    run_failing(capsys, argv, names=(str(buffer), "output is the input file"))
    assert buffer.read_bytes() == before
    assert not out.exists()


def test_rig_profile_saved_with_a_bom_loads(tmp_path, capsys):
    # json.loads refused the BOM ("Unexpected UTF-8 BOM") although timelines accept it.
    profile = tmp_path / "bom.json"
    profile.write_bytes(b"\xef\xbb\xbf" + (RIGS / "vrm.json").read_bytes())
    assert main(["mix", "12", "--rig", str(profile), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["happy"] > 0


# --- properties: any input gives a result or one error line -----------------------------------

def _one_line_or_success(status: int, err: str) -> None:
    assert status in (0, 1, 2), status
    if status:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("facs-rig: error: "), err


def test_any_code_text_parses_or_fails_in_one_line(capsys):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("0123456789+LRABCDEFZau ,.-_") + ["AU", "happiness", "𝟙",
                                                                     "\x00", "é", "12E"])

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=40).map("".join))
    def check(code):
        for command in (["parse", code], ["mix", code, "--rig", "facs"]):
            status = main(command)
            _one_line_or_success(status, capsys.readouterr().err)

    check()


@pytest.mark.parametrize("extension", [".json", ".notes", ".txt", ".eaf", ".csv"])
def test_any_bytes_as_a_timeline_file_read_or_fail_in_one_line(tmp_path, capsys, extension):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    seeds = {
        ".json": (EXAMPLES / "surprise_then_smile.json").read_bytes(),
        ".notes": (EXAMPLES / "suspicion_beat.notes").read_bytes(),
        ".txt": b"fps 24\n0 6+12D onset 6f\n1.5s 0\n",
        ".eaf": b'<?xml version="1.0"?><ANNOTATION_DOCUMENT/>',
        ".csv": b"time,AU12,AU06_L\n0,0.5,0.1\n0.1,1,0.2\n",
    }
    path = tmp_path / f"t{extension}"

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(st.integers(0, 400), st.integers(0, 8), st.binary(max_size=12))
    def check(position, removed, inserted):
        data = seeds[extension]
        position = min(position, len(data))
        path.write_bytes(data[:position] + inserted + data[position + removed:])
        status = main(["timeline", "show", str(path)])
        _one_line_or_success(status, capsys.readouterr().err)

    check()


def _simple_morph_copy(tmp_path: Path, change) -> tuple[Path, Path]:
    """A copy of Khronos SimpleMorph with ``change(document)`` applied, and a profile for it."""
    from conftest import shared_asset

    folder = shared_asset("rigs/khronos/SimpleMorph/glTF/SimpleMorph.gltf").parent
    for source in folder.iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    rig = tmp_path / "SimpleMorph.gltf"
    document = json.loads(rig.read_text(encoding="utf-8"))
    change(document)
    rig.write_text(json.dumps(document), encoding="utf-8")
    profile = tmp_path / "simple.json"
    profile.write_text(json.dumps({
        "schema": "facs_rig.rig/1", "name": "simple", "targets": ["target_0", "target_1"],
        "action_units": {"AU12": [{"target": "target_0"}], "AU06": [{"target": "target_1"}]}}),
        encoding="utf-8")
    return rig, profile


@pytest.mark.parametrize(("change", "pointer"), [
    (lambda d: d.update(animations=None), "/animations"),
    (lambda d: d["bufferViews"][0].update(byteOffset="VEC2"), "/bufferViews/0/byteOffset"),
    (lambda d: d["bufferViews"][0].update(byteOffset=[0]), "/bufferViews/0/byteOffset"),
    (lambda d: d.update(accessors=5), "/accessors"),
])
def test_bake_copy_of_a_malformed_document_names_the_pointer(tmp_path, capsys, change, pointer):
    # Each escaped from the writer as AttributeError / TypeError / ValueError.
    rig, profile = _simple_morph_copy(tmp_path, change)
    out = tmp_path / "baked.glb"
    run_failing(capsys, ["bake", "6+12", "--mesh", str(rig), "--rig", str(profile), "-o", str(out)],
                names=(str(rig), pointer))
    assert not out.exists()


def test_pose_with_a_node_transform_beyond_float_range(tmp_path, capsys):
    # A 1e308 scale overflowed in the transform (RuntimeWarning) and wrote inf coordinates.
    def huge_matrix(document):
        node = document["nodes"][0]
        for key in ("rotation", "translation", "scale"):
            node.pop(key, None)
        node["matrix"] = [1e308, 0, 0, 0, 0, 1e308, 0, 0, 0, 0, 1e308, 0, 0, 0, 0, 1]

    rig, profile = _simple_morph_copy(tmp_path, huge_matrix)
    out = tmp_path / "posed.obj"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_failing(capsys, ["pose", "6+12", "--mesh", str(rig), "--rig", str(profile),
                             "-o", str(out)], names=(str(rig), "float32 range"))
    assert not out.exists()


@pytest.mark.parametrize("matrix", [
    [1e308, 0, 0, 0, 0, 1e308, 0, 0, 0, 0, 1e308, 0, 0, 0, 0, 1],  # overflows to inf
    [0] * 15 + [1],  # every vertex on one point: nothing for the camera to frame
])
def test_preview_of_a_rig_whose_node_transform_leaves_nothing_to_frame(tmp_path, capsys, matrix):
    # Rendered NaN through RuntimeWarnings (overflow in matmul, invalid value in divide).
    def set_matrix(document):
        node = document["nodes"][0]
        for key in ("rotation", "translation", "scale"):
            node.pop(key, None)
        node["matrix"] = matrix

    rig, profile = _simple_morph_copy(tmp_path, set_matrix)
    out = tmp_path / "face.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_failing(capsys, ["preview", "6+12", "--mesh", str(rig), "--rig", str(profile),
                             "--size", "16", "-o", str(out)], names=(str(rig), "nothing to render"))
    assert not out.exists()


@pytest.mark.parametrize(("fps", "start", "expected"), [
    ("1e9", 0.5, "0.5  "),  # the frame field would need 9 digits
    ("24", 4_000_000.0, "4000000  "),  # 1111 hours: HH has at most 3 digits
])
def test_timecode_notes_fall_back_to_seconds_when_no_timecode_spells_the_time(
        tmp_path, capsys, fps, start, expected):
    # format_timecode's output failed its own read-back check with a ValueError traceback.
    timeline = tmp_path / "in.json"
    # The file's own rate: --fps takes at most 10000.
    timeline.write_text(json.dumps({"schema": "facs_rig.timeline/1", "fps": float(fps), "events": [
        {"channel": "AU12", "start": start}]}), encoding="utf-8")
    out = tmp_path / "out.notes"
    assert main(["timeline", "convert", str(timeline), str(out), "--timecode"]) == 0
    assert capsys.readouterr().err == ""
    beats = [line for line in out.read_text(encoding="utf-8").splitlines()
             if line and line[0].isdigit()]
    assert beats[0].startswith(expected)


def test_pose_refuses_a_gaze_node_transform_beyond_float32(tmp_path, capsys):
    """A mesh that only node motion moves (an eyeball) is posed by the same code as the morph
    meshes, with its float32 check: the copy of it wrote 1,463 'inf' coordinates to the OBJ."""
    from facs_rig.io.gltf.container import glb_bytes, read_gltf_source

    source = read_gltf_source(Path(__file__).resolve().parents[1] / "rigs" / "default_head.glb")
    document = json.loads(json.dumps(source.document))
    eye = next(node for node in document["nodes"] if node.get("name") == "eyeball_L")
    eye["scale"] = [1e41, 1e41, 1e41]
    rig = tmp_path / "huge_eye.glb"
    rig.write_bytes(glb_bytes(document, bytes(source.buffers[0])))
    out = tmp_path / "posed.obj"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_failing(capsys, ["pose", "61", "--mesh", str(rig), "-o", str(out)],
                    names=(str(rig), "mesh 'eyeball_L'", "beyond float32 range"))
    assert not out.exists()
