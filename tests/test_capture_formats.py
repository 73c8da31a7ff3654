"""Capture importers: real files of every format, variants, repairs and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.curves import TargetWeights
from facs_rig.errors import CaptureFormatError, FacsRigError, UnsupportedFormatError
from facs_rig.io.captures import (
    ARKIT_NAMES,
    detect_format,
    read_capture,
    read_live_link_face,
    write_live_link_face,
)
from facs_rig.io.captures._table import read_header
from facs_rig.io.captures.arkit_names import canonical_arkit_name, pascal_case
from facs_rig.io.captures.arkit_tables import parse_timecodes
from facs_rig.io.captures.openface import openface_intensity
from facs_rig.resources import load_vocabulary

HYPOTHESIS = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(tmp_path: Path, text: str, name: str = "capture.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    """The message of the CaptureFormatError reading ``path`` raises."""
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(path)
    return str(caught.value)


# --- real files -----------------------------------------------------------------------------

@pytest.mark.parametrize("relative, fmt, frames, fps", [
    ("captures/openface/facsvatar_demo_full.csv", "openface", 490, 25.0),
    ("captures/openface/facsvatar_head_test_clean.csv", "openface", 715, 30.0),
    ("captures/openface/pyfeat_OpenFace_Test.csv", "openface", 100, 1000.0),
    ("captures/pyfeat/001.csv", "pyfeat", 20, 15.0),
    ("captures/pyfeat/fex_test_001.csv", "pyfeat", 40, 30.0),
    # Rows plus the frames Live Link Face dropped (3 and 2), restored as gaps.
    ("captures/livelinkface/alex_rom_3.csv", "livelinkface", 4033, 30.0),
    ("captures/livelinkface/S07-001.csv", "livelinkface", 2030, 30.0),
    ("captures/facecap/facecap_animation_weights.csv", "facecap", 335, 30.0),
])
def test_real_files_read_with_detected_format(relative, fmt, frames, fps):
    path = shared_asset(relative)
    assert detect_format(read_header(path)) == fmt
    capture = read_capture(path)
    assert (capture.format, capture.n_frames, capture.fps) == (fmt, frames, fps)
    assert np.all(np.diff(capture.times) > 0)
    for block in (capture.aus and capture.aus.values, capture.blendshapes and capture.blendshapes.weights):
        if block is not None:
            finite = block[np.isfinite(block)]
            assert finite.min() >= 0.0 and finite.max() <= 1.0


def test_openface_full_values_go_through_the_openface_scale():
    path = shared_asset("captures/openface/facsvatar_demo_full.csv")
    capture = read_capture(path)
    # Line 2 of the file: AU45_r is its 17th AU_r column; read it independently.
    header = [c.strip() for c in path.read_text().splitlines()[0].split(",")]
    row = [c.strip() for c in path.read_text().splitlines()[1].split(",")]
    raw = float(row[header.index("AU45_r")])
    vocabulary = load_vocabulary()
    expected = openface_intensity(np.array([raw]), vocabulary.scale("openface"), vocabulary.scale())[0]
    assert capture.aus.column(Channel(45))[0] == pytest.approx(expected)
    assert capture.faces == (0,)
    # Head and gaze AUs are present: pose_R*, pose_Tz and gaze_angle_* were read.
    assert {51, 52, 53, 54, 55, 56, 57, 58, 61, 62, 63, 64} <= {c.au for c in capture.aus.channels}


def test_openface_scale_maps_bands_onto_bands():
    vocabulary = load_vocabulary()
    source, target = vocabulary.scale("openface"), vocabulary.scale("facshuman")
    # Band edges onto band edges (0.5 -> 0.03, 1.5 -> 0.10, ...), so the letters 1..5 land
    # inside the facshuman bands A..E, not on their top edges.
    raw = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0])
    mapped = openface_intensity(raw, source, target)
    assert mapped.tolist() == pytest.approx([0.0, 0.03, 0.065, 0.10, 0.15, 0.375, 0.725, 1.0,
                                             1.0])
    assert [target.value_to_letter(float(v)) for v in mapped] == [
        None, None, "A", "A", "B", "C", "D", "E", "E"]


def test_live_link_face_timecode_and_columns_by_name():
    path = shared_asset("captures/livelinkface/S07-001.csv")
    capture = read_live_link_face(path)
    # 12:27:47:47.169 then 12:27:47:49.169 at a 60 fps timecode: 2/60 s apart.
    assert capture.times[1] == pytest.approx(2 / 60)
    assert capture.metadata["timecode_rate"] == 60.0
    lines = path.read_text().splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    names = capture.blendshapes.names
    for column in ("JawLeft", "JawRight", "MouthLeft", "MouthRight", "EyeLookOutLeft"):
        k = names.index(canonical_arkit_name(column))
        assert capture.blendshapes.weights[0, k] == pytest.approx(float(first[header.index(column)]))
    assert capture.aus is not None and {c.au for c in capture.aus.channels} == {61, 62, 63, 64}


def test_live_link_face_round_trip(tmp_path):
    path = shared_asset("captures/livelinkface/alex_rom_3.csv")
    capture = read_live_link_face(path)
    out = tmp_path / "take.csv"
    write_live_link_face(capture.blendshapes, out, start_timecode=capture.metadata["start_timecode"])
    again = read_live_link_face(out)
    assert again.blendshapes.names == capture.blendshapes.names
    recorded = ~capture.gaps  # the 3 frames the app dropped are gaps, written as 0
    assert int(capture.gaps.sum()) == 3
    np.testing.assert_allclose(again.blendshapes.weights[recorded],
                               capture.blendshapes.weights[recorded], atol=1e-9)
    assert np.all(again.blendshapes.weights[capture.gaps] == 0)
    np.testing.assert_allclose(again.times[recorded], capture.times[recorded], atol=1e-6)
    # A restored frame's time is written rounded to a thousandth of a timecode frame.
    np.testing.assert_allclose(again.times, capture.times, atol=0.5e-3 / 60)
    assert out.read_text().splitlines()[1].startswith("13:13:04:31.652,61,")


def test_pyfeat_has_aus_and_mediapipe_blendshapes():
    capture = read_capture(shared_asset("captures/pyfeat/001.csv"))
    assert len(capture.aus.channels) == 20 and capture.aus.channels[0] == Channel(1)
    assert len(capture.blendshapes.names) == 51 and "tongueOut" not in capture.blendshapes.names
    assert capture.times[:3].tolist() == pytest.approx([0.0, 2 / 30, 4 / 30])


# --- synthetic variants ---------------------------------------------------------------------

OPENFACE_HEADER = "frame, face_id, timestamp, confidence, success, AU01_r, AU12_r, AU12_c, AU28_c"


def test_openface_comma_variants_and_faces(tmp_path):
    rows = ["1, 0, 0.00, 0.98, 1, 1.0, 3.0, 1, 0", "1, 1, 0.00, 0.98, 1, 5.0, 0.0, 0, 1",
            "2, 0, 0.04, 0.98, 1, 2.0, 4.0, 0, 1", "2, 1, 0.04, 0.10, 1, 5.0, 0.0, 0, 1"]
    spaced = write(tmp_path, OPENFACE_HEADER + "\n" + "\n".join(rows) + "\n", "spaced.csv")
    tight = write(tmp_path, (OPENFACE_HEADER + "\n" + "\n".join(rows)).replace(", ", ","), "tight.csv")
    a, b = read_capture(spaced), read_capture(tight)
    np.testing.assert_array_equal(a.aus.values, b.aus.values)
    assert a.faces == (0, 1)
    assert a.aus.column(Channel(12)).tolist() == pytest.approx([0.375, 0.725])  # OpenFace C, D
    face1 = read_capture(spaced, face=1)
    assert face1.aus.column(Channel(1))[0] == pytest.approx(1.0)
    assert np.isnan(face1.aus.values[1]).all() and face1.gaps.tolist() == [False, True]
    assert any("confidence" in note for note in face1.repairs)
    gated = read_capture(spaced, gate_presence=True)
    assert gated.aus.column(Channel(12)).tolist() == pytest.approx([0.375, 0.0])
    assert gated.aus.column(Channel(28)).tolist() == pytest.approx([0.0, 0.55])
    with pytest.raises(CaptureFormatError, match="no face 7 .* faces present: 0, 1"):
        read_capture(spaced, face=7)


def test_openface_repairs_repeated_timestamps_and_counts_them(tmp_path):
    text = "timestamp,success,confidence,AU01_r\n0.0,1,1,1\n0.04,1,1,2\n0.04,1,1,3\n0.08,1,1,\n"
    capture = read_capture(write(tmp_path, text))
    assert capture.n_frames == 3
    assert "1 rows with a repeated timestamp dropped" in capture.repairs
    assert "1 empty or NaN cells treated as gaps" in capture.repairs
    assert math.isnan(capture.aus.column(Channel(1))[2])


def test_mediapipe_table_without_time_column_is_read_at_30_fps(tmp_path):
    names = ["_neutral"] + sorted(n for n in ARKIT_NAMES if n != "tongueOut")
    text = ",".join(names) + "\n" + "\n".join(",".join(["0.5"] * len(names)) for _ in range(3)) + "\n"
    capture = read_capture(write(tmp_path, text))
    assert capture.format == "mediapipe"
    assert capture.times.tolist() == pytest.approx([0, 1 / 30, 2 / 30])
    assert "3 rows without a time column read at 30 fps" in capture.repairs


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("timestamp,AU01_r\n", "header but no data rows"),
    ("timestamp,AU01_r,AU01_r\n0,1,1\n", "line 1: column 'AU01_r' appears twice"),
    ("timestamp,AU01_r\n0,1\n0.1,abc\n", r"line 3, column 2 \(AU01_r\): 'abc' is not a number"),
    ("timestamp,AU01_r\n0,1\n0.1\n0.2,1\n", "line 3: 1 cells, but the header has 2 columns"),
    ("timestamp,AU01_r\n0.2,1\n0.1,1\n", "line 3, column timestamp: .* out of order"),
    ("timestamp,AU01_r\n0.2,1\nnan,1\n", "line 3, column timestamp: missing"),
    ("name,age\nbob,3\n", "not a capture format facs-rig knows"),
    ("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:01.0,61,0\n", "missing Live Link Face column"),
])
def test_bad_input_names_file_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CaptureFormatError, match=message) as info:
        read_capture(path)
    assert str(path) in str(info.value)


def test_other_format_forced_with_from_is_refused(tmp_path):
    path = shared_asset("captures/facecap/facecap_animation_weights.csv")
    with pytest.raises(CaptureFormatError, match="not an OpenFace CSV"):
        read_capture(path, format="openface")
    with pytest.raises(UnsupportedFormatError, match="unknown capture format 'xyz'"):
        read_capture(path, format="xyz")


def test_binary_and_folder_are_refused(tmp_path):
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"glTF\x00\x00\x01\x02")
    with pytest.raises(CaptureFormatError, match="binary file"):
        read_capture(binary)
    with pytest.raises(CaptureFormatError, match="is a folder"):
        read_capture(tmp_path)


def test_timecode_parsing():
    seconds, rate = parse_timecodes(("01:00:00:00.000", "01:00:00:30.500", "01:00:01:59.000"))
    assert rate == 60
    assert seconds.tolist() == pytest.approx([0.0, 30.5 / 60, 1 + 59 / 60])
    # Shorter than a second and inside one: the rate cannot be told (29 frames is 0.97 s at
    # 30 fps or 0.48 s at 60); it is read at Live Link Face's usual 60, not guessed from 29.
    _, rate_short = parse_timecodes(("00:00:00:00.000", "00:00:00:29.000"))
    assert rate_short == 60
    with pytest.raises(CaptureFormatError, match="not a HH:MM:SS:FF.fff timecode"):
        parse_timecodes(("12:00:00",))
    # 10 rows a second on a 50 fps timecode: the field tops out at 45, below 48, but read at 48
    # every step across a second would be 3 frames against 5 within one.
    cells = tuple(f"00:00:{s:02d}:{f:02d}.000" for s in range(3) for f in range(0, 50, 5))
    seconds, rate = parse_timecodes(cells)
    assert rate == 50
    np.testing.assert_allclose(seconds, np.arange(30) / 10)


def _retimed_take(tmp_path: Path, rate: int, rows: slice = slice(None)) -> Path:
    """S07-001.csv with each row's own instant written as a ``rate`` fps timecode
    (``HH:MM:SS:FF.fff``, the frame field counting 0 to rate - 1), keeping its 30 rows a second
    and the two frames the app dropped."""
    lines = shared_asset("captures/livelinkface/S07-001.csv").read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:][rows]:
        cell, rest = line.split(",", 1)
        h, m, s, f = cell.split(":")
        milliframes = round(float(f) / 60 * rate * 1000)  # the same instant, in 1/1000 frames
        out.append(f"{h}:{m}:{s}:{milliframes // 1000:02d}.{milliframes % 1000:03d},{rest}")
    path = tmp_path / f"tc{rate}.csv"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize("rate", [24, 25, 30, 48, 50])
def test_live_link_face_timecode_rate_from_whole_seconds(tmp_path, rate):
    """A 24 fps timecode's frame field tops out at 23: it was read at 60 fps, making the
    68 s take 5090 frames at 75 fps with 3062 invented dropped frames. Over whole seconds the
    frame field's maximum and the rows' spacing tell each rate; the take reads as the original
    does (2030 frames at 30 fps, its own 2 dropped frames)."""
    original = read_live_link_face(shared_asset("captures/livelinkface/S07-001.csv"))
    capture = read_live_link_face(_retimed_take(tmp_path, rate))
    assert capture.metadata["timecode_rate"] == rate
    assert capture.n_frames == 2030 and capture.fps == 30.0
    assert capture.repairs == ("2 dropped frames (missing rows) filled as gaps",)
    np.testing.assert_allclose(capture.times, original.times, atol=1e-3 / rate + 1e-9)


def test_live_link_face_timecode_rate_of_a_take_shorter_than_a_second(tmp_path):
    """Two rows of S07-001.csv (frame fields 47.169 and 49.169 at 60 fps): read at 50 fps (the
    smallest rate above 49), 25 rows a second, with no word of the guess. A take that holds no
    whole second cannot tell its rate: it is read at 60 and the repairs say so; one that
    crosses a second boundary is told it by the spacing of its rows."""
    two = _retimed_take(tmp_path, 60, slice(0, 2))
    capture = read_live_link_face(two)
    assert capture.metadata["timecode_rate"] == 60.0 and capture.fps == 30.0
    assert capture.repairs == ("take shorter than a whole timecode second: its timecode rate "
                               "cannot be told, read at 60 fps (Live Link Face's usual rate)",)
    # Frame fields 23.820, 24.653 | 00.486, 01.320: only 25 makes the step across the second
    # one usual step (0.833 frames); at 30 it would hide 6 missing frames.
    across = _retimed_take(tmp_path, 25, slice(5, 9))
    capture = read_live_link_face(across)
    assert capture.metadata["timecode_rate"] == 25.0 and capture.fps == 30.0
    assert capture.repairs == ("take shorter than a whole timecode second: timecode rate 25 fps "
                               "told by the spacing of its rows across a second",)


def _drop_frame_label(frame: int) -> str:
    """29.97 fps drop-frame timecode of frame number ``frame`` (frame numbers 00 and 01 skipped
    at the start of every minute but each tenth: 17982 frames per ten minutes, 1798 per
    minute after the tenth's first)."""
    tens, rest = divmod(frame, 17982)
    label = frame + 18 * tens + (2 * ((rest - 2) // 1798) if rest > 1 else 0)
    return (f"{label // 108000:02d}:{label // 1800 % 60:02d}:{label // 30 % 60:02d};"
            f"{label % 30:02d}.000")


def test_live_link_face_drop_frame_timecode(tmp_path):
    """S07-001.csv's rows relabelled as consecutive 29.97 fps drop-frame timecodes from
    00:00:30;00 (00:00:59;29 is followed by 00:01:00;02): read as 30 fps non-drop, the skipped
    numbers were 2 dropped frames put back as gaps and the take ran 0.1 % fast. Drop-frame
    timecode (';') is read at 29.97 fps, every row one frame after the one before."""
    lines = shared_asset("captures/livelinkface/S07-001.csv").read_text().splitlines()
    body = [f"{_drop_frame_label(900 + k)},{line.split(',', 1)[1]}"
            for k, line in enumerate(lines[1:])]
    assert "00:00:59;29.000" in body[899] and "00:01:00;02.000" in body[900]
    path = write(tmp_path, "\n".join([lines[0], *body]) + "\n")
    capture = read_live_link_face(path)
    assert capture.metadata["timecode_rate"] == pytest.approx(30000 / 1001)
    assert capture.n_frames == 2028 and capture.fps == 29.97 and capture.repairs == ()
    np.testing.assert_allclose(capture.times, np.arange(2028) * 1001 / 30000, atol=1e-9)
    # 00:01:00;00 and ;01 do not exist; one take is all drop-frame or all non-drop.
    with pytest.raises(CaptureFormatError, match="'00:01:00;01.000' is out of range at 29.97 "
                                                 "fps drop-frame"):
        parse_timecodes(("00:00:59;29.000", "00:01:00;01.000"))
    with pytest.raises(CaptureFormatError, match="mixes drop-frame"):
        parse_timecodes(("00:00:59;29.000", "00:01:00:02.000"))


def test_arkit_name_variants():
    for variant in ("eyeBlinkLeft", "EyeBlinkLeft", "eyeBlink_L", "ARBlendShapeLocationEyeBlinkLeft"):
        assert canonical_arkit_name(variant) == "eyeBlinkLeft"
    assert canonical_arkit_name("_neutral") is None
    assert pascal_case("mouthSmileLeft") == "MouthSmileLeft"


# --- hypothesis: every parser either parses or raises the project's error ------------------

cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                 st.sampled_from(["", "nan", "abc", "1e-3", " 0.5", "-0", "1,2", '"x"', "\t"]),
                 st.text(max_size=6))


@HYPOTHESIS
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=5), max_size=6),
       header=st.sampled_from(["timestamp, confidence, success, AU01_r, AU12_c",
                               "frame,timestamp,success,AU04_r,pose_Rx",
                               "frame,face_id,timestamp,AU12_r,gaze_angle_x"]))
def test_openface_parser_never_crashes(tmp_path, rows, header):
    _fuzz(tmp_path, header, rows, "openface")


@HYPOTHESIS
@given(rows=st.lists(st.lists(cell, min_size=4, max_size=6), max_size=6))
def test_pyfeat_parser_never_crashes(tmp_path, rows):
    _fuzz(tmp_path, "FaceRectX,AU01,AU02,AU04,AU05,AU06,frame", rows, "pyfeat")


@HYPOTHESIS
@given(rows=st.lists(st.lists(cell, min_size=50, max_size=54), max_size=4),
       stamps=st.lists(st.sampled_from(["00:00:00:00.000", "00:00:00:02.000", "23:59:59:59.999",
                                        "1:2:3", "00:00:61:00.0", "x"]), min_size=4, max_size=4))
def test_live_link_face_parser_never_crashes(tmp_path, rows, stamps):
    header = "Timecode,BlendShapeCount," + ",".join(pascal_case(n) for n in ARKIT_NAMES)
    rows = [[stamp, "61", *row] for stamp, row in zip(stamps, rows)]
    _fuzz(tmp_path, header, rows, "livelinkface")


@HYPOTHESIS
@given(rows=st.lists(st.lists(cell, min_size=51, max_size=54), max_size=4),
       fmt=st.sampled_from(["facecap", "mediapipe"]))
def test_blendshape_table_parser_never_crashes(tmp_path, rows, fmt):
    names = ["time_s"] + [n.replace("Left", "_L").replace("Right", "_R") for n in ARKIT_NAMES]
    _fuzz(tmp_path, ",".join(names), rows, fmt)


def _fuzz(tmp_path: Path, header: str, rows: list[list[str]], fmt: str) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    for chosen in (None, fmt):
        try:
            capture = read_capture(path, format=chosen)
        except FacsRigError:
            continue
        assert np.all(np.diff(capture.times) > 0)
        data = capture.aus.values if capture.aus is not None else capture.blendshapes.weights
        finite = data[np.isfinite(data)]
        assert finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)


@HYPOTHESIS
@given(weights=st.lists(st.lists(st.floats(0, 1, width=32), min_size=52, max_size=52),
                        min_size=1, max_size=5),
       step=st.sampled_from([1 / 30, 1 / 60, 0.04]))
def test_live_link_face_writer_round_trips(tmp_path, weights, step):
    values = np.asarray(weights, dtype=np.float32)
    times = np.arange(values.shape[0]) * step
    source = TargetWeights(times, values, ARKIT_NAMES, None)
    path = tmp_path / "rt.csv"
    write_live_link_face(source, path, start_timecode="10:00:00:00.000")
    again = read_live_link_face(path, timecode_rate=60)
    np.testing.assert_allclose(again.blendshapes.weights, values, atol=1e-9)
    np.testing.assert_allclose(again.times, times, atol=2e-6)


@HYPOTHESIS
@given(data=st.binary(max_size=300),
       prefix=st.sampled_from([b"", b"timestamp,AU01_r\n", b"\xef\xbb\xbfframe,timestamp,AU12_r\r\n",
                               b"Timecode,BlendShapeCount\n"]))
def test_arbitrary_bytes_never_crash(tmp_path, data, prefix):
    path = tmp_path / "bytes.csv"
    path.write_bytes(prefix + data)
    for chosen in (None, "openface", "pyfeat", "livelinkface", "mediapipe", "facecap"):
        try:
            read_capture(path, format=chosen)
        except FacsRigError:
            pass


@HYPOTHESIS
@given(cells=st.lists(st.one_of(st.text(max_size=18),
                                st.from_regex(r"\d\d:\d\d:\d\d:\d\d\.\d{3}", fullmatch=True)),
                      min_size=1, max_size=5))
def test_timecode_parser_parses_or_refuses(cells):
    try:
        seconds, rate = parse_timecodes(tuple(cells))
    except CaptureFormatError:
        return
    assert rate in (24, 25, 30, 48, 50, 60, 120) and seconds[0] == 0.0


@HYPOTHESIS
@given(frames=st.integers(0, 24 * 3600 * 60 - 1), fraction=st.integers(0, 999))
def test_timecode_writer_round_trips(frames, fraction):
    from facs_rig.io.captures.arkit_tables import _format_timecode

    seconds = (frames + fraction / 1000) / 60
    text = _format_timecode(seconds, 60)
    hours, minutes, secs, rest = text.split(":")
    assert (int(hours) * 3600 + int(minutes) * 60 + int(secs)) * 60 + float(rest) == \
        pytest.approx(frames + fraction / 1000, abs=1e-6)


# --- cut-short takes and oversized cells (issue 13 point 6, issue 11 point 13) ---------------

def test_long_quoted_cell_names_file_and_line():
    path = Path(__file__).resolve().parents[2] / "shared" / "fuzz-repros" / \
        "repro_capture_quoted_field.csv"
    if not path.exists():
        pytest.skip("../shared/fuzz-repros is not beside the repo")
    with pytest.raises(CaptureFormatError, match=r"repro_capture_quoted_field.csv: line 2: "
                                                 r"field larger than field limit"):
        read_capture(path)


def test_long_quoted_cell_on_a_later_line_names_that_line(tmp_path):
    text = "timestamp,AU01_r\n0,1\n0.1,1\n0.2,\"" + "1" * 200_000 + "\"\n0.3,1\n"
    with pytest.raises(CaptureFormatError, match=r"capture.csv: line 4: field larger"):
        read_capture(write(tmp_path, text))


@pytest.mark.parametrize("relative", [
    "captures/openface/facsvatar_head_test_clean.csv",
    "captures/openface/facsvatar_demo_full.csv",
    "captures/livelinkface/S07-001.csv",
    "captures/pyfeat/001.csv",
    "captures/facecap/facecap_animation_weights.csv",
])
def test_last_line_cut_short_is_dropped_and_counted(tmp_path, relative):
    source = shared_asset(relative)
    whole = read_capture(source)
    data = source.read_bytes().rstrip(b"\r\n")
    last = data.rfind(b"\n") + 1
    cut = last + data[last:].find(b",", 20) + 1  # mid-row, after a few cells, as a killed writer
    path = tmp_path / Path(relative).name
    path.write_bytes(data[:cut])
    cut_capture = read_capture(path)
    assert cut_capture.n_frames == whole.n_frames - 1
    assert "1 last row cut short (the tracker stopped mid-write) dropped" in cut_capture.repairs
    np.testing.assert_array_equal(cut_capture.times, whole.times[:-1])


def test_short_line_inside_a_take_is_still_an_error(tmp_path):
    with pytest.raises(CaptureFormatError, match="line 3: 1 cells, but the header has 2"):
        read_capture(write(tmp_path, "timestamp,AU01_r\n0,1\n0.1\n0.2,1\n"))


def test_one_row_cut_short_is_a_file_without_data_rows(tmp_path):
    path = write(tmp_path, "timestamp,AU01_r\n0.1")
    assert _refusal(path) == (f"{path}: has a header but no data rows (its only row, line 2, "
                              f"was cut short: 1 cells, but the header has 2 columns)")


@pytest.mark.parametrize("relative, cells, columns", [
    ("captures/openface/facsvatar_demo_full.csv", 42, 714),
    ("captures/livelinkface/S07-001.csv", 24, 63),
    ("captures/pyfeat/001.csv", 33, 2183),
    ("captures/facecap/facecap_animation_weights.csv", 34, 53),
])
def test_real_header_with_its_first_row_cut_short_has_no_data_rows(tmp_path, relative, cells,
                                                                    columns):
    # The review's repro: the header and the first 300 bytes of the first row.
    lines = shared_asset(relative).read_bytes().split(b"\n")
    path = tmp_path / Path(relative).name
    path.write_bytes(lines[0] + b"\n" + lines[1][:300])
    assert _refusal(path) == (f"{path}: has a header but no data rows (its only row, line 2, "
                              f"was cut short: {cells} cells, but the header has {columns} "
                              f"columns)")


@HYPOTHESIS
@given(rows=st.integers(0, 4), cut=st.integers(1, 10_000), crlf=st.booleans(),
       relative=st.sampled_from(["captures/openface/facsvatar_head_test_clean.csv",
                                 "captures/livelinkface/S07-001.csv",
                                 "captures/facecap/facecap_animation_weights.csv"]))
def test_a_take_cut_anywhere_in_its_last_row_drops_that_row(tmp_path, rows, cut, crlf, relative):
    """A real take's header, ``rows`` whole rows and the next row cut at any byte: a cut before
    the row's last cell drops that row and counts it (no rows left: the no-data-rows error);
    a cut inside its last cell leaves a whole row, read or refused by line."""
    lines = shared_asset(relative).read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    last = lines[rows + 1][:cut % len(lines[rows + 1]) or 1]
    newline = b"\r\n" if crlf else b"\n"
    path = tmp_path / Path(relative).name
    path.write_bytes(newline.join(lines[:rows + 1] + [last]))
    short = last.count(b",") < lines[0].count(b",")
    try:
        capture = read_capture(path)
    except CaptureFormatError as exc:
        if short:
            assert rows == 0 and "has a header but no data rows (its only row, line 2, was cut " \
                "short" in str(exc)
        else:
            assert f"line {rows + 2}, column {last.count(b',') + 1}" in str(exc)
        return
    assert capture.n_frames == rows + (not short)
    cut_note = "1 last row cut short (the tracker stopped mid-write) dropped"
    assert (cut_note in capture.repairs) == short


@HYPOTHESIS
@given(cut=st.integers(1, 400), quote=st.integers(0, 3), where=st.integers(0, 10_000))
def test_mutated_real_captures_parse_or_refuse(tmp_path, cut, quote, where):
    """Real takes cut anywhere near their end, or given a long quoted cell anywhere: each reads
    (a cut last row dropped) or raises the project's error, never another exception."""
    source = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    data = source.read_bytes()
    rows = data.count(b"\n") - 1
    mutated = data[:len(data) - cut]
    if quote:
        position = min(where, len(mutated))
        mutated = mutated[:position] + b'"' + b"9" * (40_000 * quote) + mutated[position:]
    path = tmp_path / "mutated.csv"
    path.write_bytes(mutated)
    try:
        capture = read_capture(path)
    except FacsRigError:
        return
    assert rows - 1 - cut // 60 <= capture.n_frames <= rows
    assert np.all(np.diff(capture.times) > 0)


# --- timecodes across midnight (new-user review: one stray row made a take 24 hours) ---------

def _live_link_face_rows(tmp_path: Path, stamps: list[str], name: str = "llf.csv") -> Path:
    """The first rows of the real take S07-001.csv with their timecodes replaced."""
    lines = shared_asset("captures/livelinkface/S07-001.csv").read_text().splitlines()
    body = [stamp + line[line.index(","):] for stamp, line in zip(stamps, lines[1:])]
    path = tmp_path / name
    path.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    return path


def test_a_stray_midnight_timecode_is_an_error_naming_the_line(tmp_path):
    # The review's repro: S07-001.csv's rows 1, 2 and 4 with 00:00:00:00.000 as row 3.
    path = _live_link_face_rows(tmp_path, ["12:27:47:47.169", "12:27:47:49.169",
                                           "00:00:00:00.000", "12:27:47:53.168"])
    assert _refusal(path) == (
        f"{path}: line 4, column Timecode: '00:00:00:00.000' is earlier than the previous "
        f"row's '12:27:47:49.169' (timestamps out of order; a take across midnight steps from "
        f"near 24:00 to near 00:00)")


def test_a_take_across_midnight_is_unwrapped(tmp_path):
    stamps = ["23:59:59:56.000", "23:59:59:58.000", "00:00:00:00.000", "00:00:00:02.000"]
    capture = read_capture(_live_link_face_rows(tmp_path, stamps))
    np.testing.assert_allclose(capture.times, [0, 2 / 60, 4 / 60, 6 / 60], atol=1e-9)
    assert capture.fps == 30.0
    # A few frames dropped right at midnight are still a crossing (4 frames: 8/60 s).
    stamps = ["23:59:59:54.000", "23:59:59:56.000", "00:00:00:04.000", "00:00:00:06.000"]
    capture = read_capture(_live_link_face_rows(tmp_path, stamps))
    np.testing.assert_allclose(capture.times[[0, 1, -2, -1]], [0, 2 / 60, 10 / 60, 12 / 60],
                               atol=1e-9)
    # Two seconds lost right at midnight (second reader): a gap, as the same gap at noon is.
    stamps = ["23:59:58:00.000", "23:59:58:02.000", "00:00:00:02.000", "00:00:00:04.000"]
    capture = read_capture(_live_link_face_rows(tmp_path, stamps))
    np.testing.assert_allclose(capture.times[[0, 1, -2, -1]], [0, 2 / 60, 2 + 2 / 60, 2 + 4 / 60],
                               atol=1e-9)


@pytest.mark.parametrize("stamps, line", [
    # Near 24:00 then 00:00, but an hour's step in a take of 1/30 s steps.
    (["23:00:00:00.000", "23:00:00:02.000", "00:00:00:00.000"], 4),
    # A stray row in the last minute of the day in a take just after midnight: a day's leap.
    (["00:00:00:00.000", "00:00:00:02.000", "23:59:30:00.000", "00:00:00:06.000"], 4),
    # A stray first row (second review: the take read 12.5 hours long).
    (["00:00:00:00.000", "12:27:47:47.169", "12:27:47:49.169"], 3),
    # Two recordings joined two hours apart.
    (["12:00:00:00.000", "12:00:00:02.000", "14:00:00:04.000"], 4),
    # Backwards by a frame: a spliced take, not midnight.
    (["10:00:00:04.000", "10:00:00:06.000", "10:00:00:02.000"], 4),
    # A stray early row first of all, then the take's own clock.
    (["00:00:00:00.000", "12:00:00:00.000", "12:00:00:02.000", "00:00:00:04.000"], 5),
])
def test_backward_timecodes_that_are_no_midnight_are_errors(tmp_path, stamps, line):
    with pytest.raises(CaptureFormatError, match=rf"line {line}, column Timecode: .* (is earlier "
                                                 r"than the previous row's|s after the "
                                                 r"previous row's)"):
        read_capture(_live_link_face_rows(tmp_path, stamps))


@HYPOTHESIS
@given(start=st.integers(0, 24 * 3600 * 30 - 1), rows=st.integers(2, 40),
       stray=st.integers(0, 24 * 3600 * 30 - 1), at=st.integers(1, 39))
def test_timecodes_are_a_steady_take_or_an_error_never_a_day(start, rows, stray, at):
    """A 30 fps take (60 fps timecode) starting anywhere, crossing midnight or not, reads as
    rows 1/30 s apart; with one row replaced by any other time it raises, or every step where
    the clock went back is a short step across midnight (never the rest of a day)."""
    def cell(frame: int) -> str:
        frame %= 24 * 3600 * 30
        seconds, f = divmod(frame, 30)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{2 * f:02d}.000"

    cells = [cell(start + k) for k in range(rows)]
    seconds, rate = parse_timecodes(tuple(cells), rate=60)
    np.testing.assert_allclose(seconds, np.arange(rows) / 30, atol=1e-6)
    cells[min(at, rows - 1)] = cell(stray)
    try:
        seconds, _ = parse_timecodes(tuple(cells), rate=60)
    except CaptureFormatError as exc:
        assert "than the previous row's" in str(exc) or "s after the previous row's" in str(exc)
        return
    clock = np.array([int(c[:2]) * 3600 + int(c[3:5]) * 60 + int(c[6:8]) + int(c[9:11]) / 60
                      for c in cells])
    steps = np.diff(seconds)
    assert np.all(steps >= 0)
    assert np.all(steps[np.diff(clock) < 0] <= 120.0)  # across midnight: at most two minutes
    assert np.all(steps <= 600.0)  # never a leap of more than ten minutes


# --- dropped frames keep the nominal rate (new-user review) ---------------------------------

def _drop_every_tenth_row(tmp_path: Path, relative: str) -> Path:
    """The real take with its 9th, 19th, ... data rows left out (``awk 'NR==1 || NR%10!=0'``)."""
    lines = shared_asset(relative).read_text().splitlines()
    path = tmp_path / ("dropped-" + Path(relative).name)
    path.write_text("\n".join(line for number, line in enumerate(lines, start=1)
                              if number == 1 or number % 10) + "\n", encoding="utf-8")
    return path


def test_live_link_face_take_with_dropped_rows_keeps_30_fps_and_its_frames(tmp_path):
    whole = read_capture(shared_asset("captures/livelinkface/S07-001.csv"))
    dropped = read_capture(_drop_every_tenth_row(tmp_path, "captures/livelinkface/S07-001.csv"))
    # 2028 rows - 202 left out = 1826 rows; 204 frames restored (the app's own 2 as well).
    assert (dropped.n_frames, dropped.fps, whole.n_frames) == (2030, 30.0, 2030)
    assert dropped.repairs == ("204 dropped frames (missing rows) filled as gaps",)
    assert int(dropped.gaps.sum()) == 204
    recorded = ~dropped.gaps
    # The rows read keep their timecodes exactly; a restored frame lies within 1 ms of a timecode
    # frame (the take's own sub-frame drift: 47.169, 49.169, 51.168, ...).
    np.testing.assert_array_equal(dropped.times[recorded], whole.times[recorded])
    np.testing.assert_allclose(dropped.times, whole.times, atol=1e-3 / 60)
    np.testing.assert_array_equal(dropped.blendshapes.weights[recorded],
                                  whole.blendshapes.weights[recorded])
    assert np.all(np.isnan(dropped.blendshapes.weights[dropped.gaps]))


def test_openface_take_with_dropped_rows_keeps_25_fps(tmp_path):
    whole = read_capture(shared_asset("captures/openface/facsvatar_demo_full.csv"))
    dropped = read_capture(_drop_every_tenth_row(tmp_path, "captures/openface/facsvatar_demo_full.csv"))
    assert (dropped.n_frames, dropped.fps) == (490, 25.0)
    assert dropped.repairs[-1] == "49 dropped frames (missing rows) filled as gaps"
    np.testing.assert_allclose(dropped.times, whole.times, atol=1e-9)
    assert np.all(np.isnan(dropped.aus.values[dropped.gaps]))


def _time_table(tmp_path: Path, times) -> Path:
    names = [n.replace("Left", "_L").replace("Right", "_R") for n in ARKIT_NAMES]
    rows = [f"{float(t)!r}," + ",".join(["0.25"] * 52) for t in times]
    return write(tmp_path, "time_s," + ",".join(names) + "\n" + "\n".join(rows) + "\n")


def test_irregular_take_is_not_given_dropped_frames(tmp_path):
    # Steps of 10-50 ms with no dominant one: resampled at the mean rate as before.
    steps = np.random.default_rng(7).uniform(0.01, 0.05, 60)
    capture = read_capture(_time_table(tmp_path, np.concatenate(([0.0], np.cumsum(steps)))))
    assert capture.fps is None and capture.n_frames == 61 and capture.repairs == ()


def test_rows_hours_apart_are_not_filled_with_dropped_frames(tmp_path):
    # 100 rows at 30 fps and one an hour later: 108,000 frames from 101 rows would be no take
    # with a few dropped frames; the rows are kept as they are (and resampling them at 30 fps
    # is refused, tests/test_cli_exit_codes.py).
    times = [k / 30 for k in range(100)] + [99 / 30 + 3600]
    capture = read_capture(_time_table(tmp_path, times))
    assert (capture.n_frames, capture.fps, capture.repairs) == (101, 30.0, ())
    np.testing.assert_allclose(capture.times, times, atol=1e-12)
    # Ten frames per row read is the most restored: 20 rows may become 200 frames, not 201.
    steady = [k / 30 for k in range(20)]
    filled = read_capture(_time_table(tmp_path, steady[:-1] + [steady[-2] + 163 / 30]))
    assert filled.n_frames == 20 + 162 and filled.repairs[-1].startswith("162 dropped frames")
    kept = read_capture(_time_table(tmp_path, steady[:-1] + [steady[-2] + 182 / 30]))
    assert kept.n_frames == 20 and kept.repairs == ()


@HYPOTHESIS
@given(rate=st.sampled_from([24.0, 25.0, 30.0, 60.0]),
       dropped=st.lists(st.sampled_from([0, 0, 0, 0, 1, 2, 5]), min_size=10, max_size=80),
       start=st.floats(0, 1000))
def test_a_take_with_dropped_frames_is_restored_at_its_rate(tmp_path, rate, dropped, start):
    """Rows at a nominal rate, stamped to the millisecond, with any frames left out while most
    steps stay one frame: read back at that rate with every frame, the rows read at their own
    times and the rest gaps."""
    from hypothesis import assume

    assume(sum(d == 0 for d in dropped) >= 0.6 * len(dropped))
    frames = np.concatenate(([0], np.cumsum(np.asarray(dropped) + 1)))
    times = np.round(start + frames / rate, 3)
    capture = read_capture(_time_table(tmp_path, times.tolist()))
    assert capture.n_frames == frames[-1] + 1 and capture.fps == rate
    np.testing.assert_allclose(capture.times[frames], times, atol=1e-9)
    assert int(capture.gaps.sum()) == sum(dropped)
    expected = (f"{sum(dropped)} dropped frames (missing rows) filled as gaps",) if sum(dropped) else ()
    assert capture.repairs == expected


@pytest.mark.parametrize("fmt, header", [
    ("livelinkface", "Timecode,BlendShapeCount,eyeBlinkLeft,EyeBlink_L"),
    ("mediapipe", "time,eyeBlinkLeft,EyeBlink_L"),
    ("pyfeat", "frame,FaceRectX,AU01,AU02,AU04,AU05,AU06,eyeBlinkLeft,EyeBlink_L"),
])
def test_two_columns_of_one_arkit_shape_are_refused_naming_file_and_line_once(tmp_path, fmt,
                                                                               header):
    """arkit_columns names the file itself (each reader wrapped its message in a copy)."""
    path = tmp_path / "take.csv"
    path.write_text(header + "\n")
    with pytest.raises(CaptureFormatError) as refused:
        read_capture(path, format=fmt)
    assert str(refused.value) == (f"{path}: line 1: columns 'eyeBlinkLeft' and 'EyeBlink_L' are "
                                  f"the same ARKit shape eyeBlinkLeft")


def test_a_table_header_with_a_missing_repeated_or_empty_column_is_refused(tmp_path):
    from facs_rig.io.captures._table import read_table

    path = tmp_path / "t.csv"
    for header, message in (("time,a", "line 1: missing column(s) b, name"),
                            ("time,a,b,a,name", "line 1: column 'a' appears twice (columns 2 and 4)"),
                            ("time,,b,name", "line 1, column 2: empty column name")):
        path.write_text(header + "\n0,1,2,3,4\n")
        with pytest.raises(CaptureFormatError) as refused:
            read_table(path, ("time", "a", "b"), ("name",))
        assert str(refused.value) == f"{path}: {message}"


def test_a_header_wider_than_the_first_block_is_read_whole(tmp_path, monkeypatch):
    """The header was read from the first 256 KiB only: the name cut there, 'X389' of
    'X38975', was refused as 'column X389 appears twice (columns 453 and 38975)'."""
    live_link = open(shared_asset("captures/livelinkface/S07-001.csv"), encoding="utf-8")
    header, row = live_link.readline().strip(), live_link.readline().strip()
    live_link.close()
    extra = 60_000
    path = write(tmp_path, header + "," + ",".join(f"X{k}" for k in range(extra)) + "\n"
                 + row + "," + ",".join(["0"] * extra) + "\n")
    assert path.stat().st_size > 2 * 256 * 1024
    assert len(read_header(path)) == header.count(",") + 1 + extra
    capture = read_capture(path)
    assert capture.n_frames == 1 and capture.blendshapes.weights.shape == (1, 52)
    # A first line longer than the limit is refused, not cut.
    import facs_rig.io.captures._table as table
    monkeypatch.setattr(table, "MAX_HEADER_BYTES", 256 * 1024)
    with pytest.raises(CaptureFormatError) as info:
        read_capture(path)
    assert str(info.value) == f"{path}: line 1: the header is longer than 256 KiB, not a capture header"


def test_many_missing_columns_are_counted_not_all_listed(tmp_path):
    path = write(tmp_path, "Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:01.0,61,0\n")
    with pytest.raises(CaptureFormatError) as info:
        read_capture(path)
    assert str(info.value) == (
        f"{path}: line 1: missing Live Link Face column(s) EyeLookDownLeft, EyeLookInLeft, "
        f"EyeLookOutLeft, EyeLookUpLeft, EyeSquintLeft, ... (51 in all)")
    two = write(tmp_path, "time,a\n0,1\n", name="two.csv")
    from facs_rig.io.captures._table import read_table
    with pytest.raises(CaptureFormatError, match=r"line 1: missing column\(s\) b, c$"):
        read_table(two, ("b", "c"))


def test_a_24_fps_take_retargeted_to_live_link_face_keeps_its_timecodes(tmp_path):
    """The Live Link Face output is labelled at the take's own timecode rate: a 24 fps take's
    first label 00:00:00:20 (0.833 s) came out counted at 60 fps (0.333 s), and its end 0.5 s
    early. S07-001 relabelled at 24 fps from frame 20, one row a frame."""
    from facs_rig.cli import main

    rows = shared_asset("captures/livelinkface/S07-001.csv").read_text().splitlines()
    relabelled = [rows[0]]
    for index, row in enumerate(rows[1:]):
        second, frame = divmod(20 + index, 24)
        minute, second = divmod(second, 60)
        relabelled.append(f"00:{minute:02d}:{second:02d}:{frame:02d}.000," + row.split(",", 1)[1])
    take = tmp_path / "r24.csv"
    take.write_text("\n".join(relabelled) + "\n")
    out = tmp_path / "r24.llf.csv"
    assert main(["retarget", str(take), "--rig", "arkit", "-o", str(out)]) == 0
    written = out.read_text().splitlines()
    assert len(written) == len(relabelled) == 2029
    assert [line.split(",")[0] for line in (written[1], written[-1])] == [
        "00:00:00:20.000", "00:01:25:07.000"]
    assert [line.split(",")[0] for line in (relabelled[1], relabelled[-1])] == [
        "00:00:00:20.000", "00:01:25:07.000"]
