"""The batch QC's ``flat_channels``: the capture file's own input columns that never change."""

from __future__ import annotations

import pytest
from conftest import shared_asset

from facs_rig.cluster.work import _flat_channels
from facs_rig.io.captures import read_capture


@pytest.mark.parametrize("relative, flat", [
    # Head rotation not recorded: Live Link Face wrote 0 throughout (was [] before).
    ("captures/livelinkface/S07-001.csv", ["HeadYaw", "HeadPitch", "HeadRoll"]),
    ("captures/livelinkface/alex_rom_3.csv", ["HeadYaw", "HeadPitch", "HeadRoll"]),
    # Every OpenFace column moves: the derived AU51/AU53 that stay 0 are not listed (were).
    ("captures/openface/facsvatar_head_test_clean.csv", []),
    ("captures/openface/facsvatar_demo_full.csv", []),
    ("captures/facecap/facecap_animation_weights.csv", ["eyeLookUp_L", "eyeLookUp_R"]),
    ("captures/pyfeat/007.csv", ["AU09", "AU43"]),
])
def test_flat_channels_of_real_takes(relative, flat):
    assert _flat_channels(read_capture(shared_asset(relative))) == flat


def test_flat_channels_are_input_columns_over_the_tracked_rows(tmp_path):
    # AU04_r is 0 wherever the face was tracked (its 3.0 is on a success-0 row), AU12_r moves,
    # pose_Ry is empty throughout, gaze_angle_x is 0.1 throughout; the AU51/52 and AU61/62
    # derived from them are not channels of the file.
    path = tmp_path / "take.csv"
    path.write_text("timestamp,success,confidence,AU04_r,AU12_r,pose_Ry,gaze_angle_x\n"
                    "0.0,1,0.98,0,1.5,,0.1\n0.04,0,0.1,3.0,2.0,,0.1\n0.08,1,0.98,0,2.5,,0.1\n")
    capture = read_capture(path)
    assert {c.name for c in capture.aus.channels} >= {"AU04", "AU12", "AU61", "AU62"}
    assert _flat_channels(capture) == ["AU04_r", "pose_Ry", "gaze_angle_x"]


def test_capture_without_the_reader_record_has_no_flat_channels():
    from dataclasses import replace

    capture = read_capture(shared_asset("captures/livelinkface/S07-001.csv"))
    assert _flat_channels(replace(capture, metadata={})) == []
