"""Convention-tolerant target names: normalize_target_name and match_names, on real rigs' names."""

from __future__ import annotations

import csv
import json
import struct

import pytest
from conftest import shared_asset
from hypothesis import given
from hypothesis import strategies as st

from facs_rig.core.naming import match_names, normalize_target_name
from facs_rig.io.rig_files import load_rig


@pytest.mark.parametrize("spelling", [
    "mouthSmileLeft",            # Apple (Swift), MediaPipe
    "MouthSmileLeft",            # Unreal, Live Link Face, VMC Perfect Sync
    "mouthSmile_L",              # iFacialMocap, Face Cap, ICT-FaceKit
    "mouthSmile.L",              # Blender
    "mouth_smile_left",          # snake case
    "MOUTH_SMILE_LEFT",
    "mouthSmileL",               # MetaHuman-style bare suffix
    "L_mouthSmile",              # side as prefix
    "Left.MouthSmile",
    "mouthsmileleft",            # no separators at all
    "mouth-smile-left",
    " mouthSmile Left ",
])
def test_every_convention_of_one_name_gives_one_key(spelling):
    assert normalize_target_name(spelling) == "mouthsmile_left"


@pytest.mark.parametrize("a, b", [
    ("mouthSmileLeft", "mouthSmileRight"),
    ("eyeLookInLeft", "eyeLookOutLeft"),
    ("browInnerUp", "browInnerUp_L"),
    ("EyeLeftX", "EyeRightX"),        # an inner 'Left' is not a side
    ("AU12", "AU12_L"),
    ("AU01_AU02_L", "AU01_AU02_R"),
    ("jawOpen", "jawForward"),
])
def test_different_shapes_keep_different_keys(a, b):
    assert normalize_target_name(a) != normalize_target_name(b)


def test_numbers_lose_leading_zeros_and_inner_sides_stay():
    assert normalize_target_name("AU01_L") == normalize_target_name("au1L") == "au1_left"
    assert normalize_target_name("EyeLeftX") == "eyeleftx"
    assert normalize_target_name("CTRL_expressions_browDownL") == "ctrlexpressionsbrowdown_left"
    assert normalize_target_name("Blink_L") == normalize_target_name("blinkLeft") == "blink_left"


@given(st.text(max_size=40))
def test_normalize_never_fails_and_is_idempotent_on_its_keys(text):
    key = normalize_target_name(text)
    assert isinstance(key, str)
    if key and key.replace("_", "").isascii() and key.replace("_", "").isalnum():
        assert normalize_target_name(key) == key


@given(st.sampled_from(["eyeBlink", "mouthSmile", "browOuterUp", "cheekSquint", "noseSneer"]),
       st.sampled_from(["Left", "Right"]),
       st.sampled_from(["{s}{side}", "{S}{side}", "{s}_{side1}", "{s}.{side1}", "{snake}_{lside}"]))
def test_generated_conventions_agree(stem, side, pattern):
    snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in stem)
    name = pattern.format(s=stem, S=stem[0].upper() + stem[1:], side=side, side1=side[0],
                          snake=snake, lside=side.lower())
    assert normalize_target_name(name) == normalize_target_name(stem + side)


def test_match_names_prefers_exact_then_normalized_then_split_sides():
    result = match_names(["mouthSmileLeft", "browInnerUp", "jawOpen", "tongueOut"],
                         ["jawOpen", "JawOpen", "MouthSmile_L", "browInnerUp_L", "browInnerUp_R",
                          "extra"])
    assert dict(result.matched) == {"mouthSmileLeft": ("MouthSmile_L",), "jawOpen": ("jawOpen",),
                                    "browInnerUp": ("browInnerUp_L", "browInnerUp_R")}
    assert result.missing == ("tongueOut",)
    assert result.unused == ("extra",)
    assert result.ambiguous == ("JawOpen",)
    assert result.coverage == pytest.approx(3 / 4)


def _glb_target_names(path) -> list[str]:
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[12:16])
    document = json.loads(data[20:20 + length])
    names = []
    for mesh in document["meshes"]:
        names += mesh.get("extras", {}).get("targetNames", [])
    return names


def test_arkit_profile_matches_the_real_ict_facekit_names():
    names = _glb_target_names(shared_asset("rigs/ict_facekit/ict_facekit_53_expressions_sparse.glb"))
    result = match_names(load_rig("arkit").targets, names)
    # ICT has no tongueOut and splits browInnerUp and cheekPuff into sides (assets README).
    assert result.missing == ("tongueOut",)
    assert result.matched["browInnerUp"] == ("browInnerUp_L", "browInnerUp_R")
    assert result.matched["cheekPuff"] == ("cheekPuff_L", "cheekPuff_R")
    assert result.matched["mouthSmileLeft"] == ("mouthSmile_L",)
    assert result.unused == ()


def test_arkit_profile_matches_the_real_facecap_names():
    names = _glb_target_names(shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb"))
    result = match_names(load_rig("arkit").targets, names)
    assert result.missing == () and result.unused == () and len(result.matched) == 52
    assert result.matched["eyeLookInLeft"] == ("eyeLookIn_L",)


def test_arkit_profile_matches_live_link_face_columns():
    with shared_asset("captures/livelinkface/S07-001.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    result = match_names(load_rig("arkit").targets, header)
    assert result.missing == () and len(result.matched) == 52
    assert result.matched["mouthSmileLeft"] == ("MouthSmileLeft",)
    assert "HeadYaw" in result.unused and "Timecode" in result.unused
