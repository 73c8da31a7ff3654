"""Receiver protocols: VMC, template, Face Cap and VRChat layouts; names; head and eye bones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facs_rig.core.channels import Channel
from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import OscMessage, decode_packet, encode_message
from facs_rig.io.osc.protocols import (
    FACE_CAP_NAMES,
    PERFECT_SYNC_NAMES,
    BoneLimits,
    FrameLayout,
    ProtocolOptions,
    head_eye_pose,
    receiver_names,
)

ARKIT_LOWER = tuple(name[0].lower() + name[1:] for name in PERFECT_SYNC_NAMES)


def rotate(quaternion, vector):
    x, y, z, w = quaternion
    u = np.array([x, y, z], dtype=np.float64)
    v = np.asarray(vector, dtype=np.float64)
    return v + 2 * np.cross(u, np.cross(u, v) + w * v)


def messages(layout, vector):
    return [m for packet in layout.encode(vector) for m in decode_packet(packet)]


# ---------------------------------------------------------------------------------------- naming

def test_perfect_sync_names_from_any_arkit_spelling():
    assert receiver_names(["eyeBlinkLeft", "eyeBlink_L", "eye_blink_left", "jawOpen"],
                          "perfect-sync") == ("EyeBlinkLeft", "EyeBlinkLeft", "EyeBlinkLeft", "JawOpen")
    assert receiver_names(ARKIT_LOWER, "auto", rig_name="arkit") == PERFECT_SYNC_NAMES
    assert receiver_names(["EyeBlinkLeft"], "arkit") == ("eyeBlinkLeft",)
    assert receiver_names(["custom_thing"], "perfect-sync") == ("Custom_thing",)


def test_vrm_names_both_ways():
    assert receiver_names(["happy", "aa", "blinkLeft", "lookUp", "surprised"], "auto",
                          rig_name="vrm") == ("Joy", "A", "Blink_L", "LookUp", "surprised")
    assert receiver_names(["Joy", "Sorrow", "Blink_R", "Neutral"], "vrm1") == (
        "happy", "sad", "blinkRight", "neutral")


def test_as_is_for_other_rigs_and_unknown_conventions_fail():
    assert receiver_names(["AU12_L"], "auto", rig_name="facs") == ("AU12_L",)
    with pytest.raises(OscError, match="unknown name convention"):
        receiver_names(["x"], "camel")


# ------------------------------------------------------------------------------- head and eye pose

def test_unity_rotation_directions():
    # Unity: left-handed, +X right, +Y up, +Z forward (the character faces +Z).
    pose = head_eye_pose({52: 1.0})  # head turn right, 40 degrees by default
    head_q = pose[9:13]
    assert rotate(head_q, [0, 0, 1]) == pytest.approx([math.sin(math.radians(40)), 0,
                                                       math.cos(math.radians(40))], abs=1e-6)
    assert head_q == pytest.approx([0, math.sin(math.radians(20)), 0, math.cos(math.radians(20))],
                                   abs=1e-6)
    assert rotate(head_eye_pose({51: 1.0})[9:13], [0, 0, 1])[0] < -0.6  # turn left: toward -X
    assert rotate(head_eye_pose({53: 1.0})[9:13], [0, 0, 1])[1] > 0.4   # head up: looks up
    assert rotate(head_eye_pose({54: 1.0})[9:13], [0, 0, 1])[1] < -0.4  # head down
    assert rotate(head_eye_pose({55: 1.0})[9:13], [0, 1, 0])[0] < -0.4  # tilt left: top to -X
    assert rotate(head_eye_pose({56: 1.0})[9:13], [0, 1, 0])[0] > 0.4   # tilt right


def test_head_forward_and_back_move_the_head_along_z():
    limits = BoneLimits(head_forward=0.05)
    assert head_eye_pose({57: 1.0}, limits)[:3] == pytest.approx([0, 0.1, 0.05])
    assert head_eye_pose({58: 0.5}, limits)[:3] == pytest.approx([0, 0.1, -0.025])


def test_eye_rotations_and_configurable_limits():
    limits = BoneLimits(eye_yaw=20.0, eye_pitch=10.0)
    pose = head_eye_pose({61: 1.0, 63: 1.0}, limits)  # eyes left and up
    left_q, right_q = pose[13:17], pose[17:21]
    for q in (left_q, right_q):
        gaze = rotate(q, [0, 0, 1])
        assert math.degrees(math.atan2(gaze[0], gaze[2])) == pytest.approx(-20, abs=1e-4)
        assert gaze[1] == pytest.approx(math.sin(math.radians(10)), abs=1e-6)
    walleye = head_eye_pose({65: 1.0})
    assert rotate(walleye[13:17], [0, 0, 1])[0] < 0 < rotate(walleye[17:21], [0, 0, 1])[0]
    cross = head_eye_pose({66: 1.0})
    assert rotate(cross[13:17], [0, 0, 1])[0] > 0 > rotate(cross[17:21], [0, 0, 1])[0]


def test_rest_pose_is_identity_and_batch_matches_single():
    rest = head_eye_pose({})
    assert rest[9:] == pytest.approx([0, 0, 0, 1] * 3)
    batch = head_eye_pose(np.eye(14))
    assert batch.shape == (14, 21)
    assert batch[0] == pytest.approx(head_eye_pose({51: 1.0}))
    with pytest.raises(OscError):
        BoneLimits(head_yaw=float("nan"))


# ------------------------------------------------------------------------------------------ layout

def test_vmc_layout_messages_in_order_with_apply_last():
    layout = FrameLayout(ARKIT_LOWER, [Channel(12)], ProtocolOptions(), rig_name="arkit")
    weights = np.linspace(0, 1, 52, dtype=np.float32)
    sent = messages(layout, layout.frame_vector(weights, np.array([0.5])))
    assert [m.args[0] for m in sent[:-1]] == list(PERFECT_SYNC_NAMES)
    assert all(m.type_tags == "sf" and m.address == "/VMC/Ext/Blend/Val" for m in sent[:-1])
    assert [m.args[1] for m in sent[:-1]] == pytest.approx(weights.tolist())
    assert sent[-1] == OscMessage("/VMC/Ext/Blend/Apply", "", ())
    assert [len(p) for p in layout.packets.packets] == [1196, 1220, 140]


def test_vmc_bones_appear_with_head_or_eye_channels_and_ok_time_on_request():
    options = ProtocolOptions(send_ok=True, send_time=True)
    layout = FrameLayout(["Joy"], [Channel(12), Channel(52)], options, rig_name="vrm")
    sent = messages(layout, layout.frame_vector(np.array([0.5]), np.array([1.0, 1.0]), time=2.5))
    assert [m.address for m in sent] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Bone/Pos",
                                         "/VMC/Ext/Bone/Pos", "/VMC/Ext/Bone/Pos",
                                         "/VMC/Ext/Blend/Val", "/VMC/Ext/Blend/Apply"]
    assert sent[0].type_tags == "i" and sent[0].args == (1,)
    assert sent[1].args == (2.5,)
    head = sent[2]
    assert head.type_tags == "sfffffff" and head.args[0] == "Head"
    assert head.args[4:] == pytest.approx(tuple(head_eye_pose({52: 1.0})[9:13]), abs=1e-6)
    assert [m.args[0] for m in sent[2:5]] == ["Head", "LeftEye", "RightEye"]
    no_head = FrameLayout(["Joy"], [Channel(12)], ProtocolOptions())
    assert "/VMC/Ext/Bone/Pos" not in [m.address for m in messages(no_head, no_head.neutral_vector())]
    forced_off = FrameLayout(["Joy"], [Channel(52)], ProtocolOptions(bones="off"))
    assert not forced_off.sends_bones


def test_neutral_frame_is_all_zero_weights_and_rest_bones():
    layout = FrameLayout(["a", "b"], [Channel(51), Channel(61)], ProtocolOptions(bones="on"))
    sent = messages(layout, layout.neutral_vector())
    assert [m.args[1] for m in sent if m.address == "/VMC/Ext/Blend/Val"] == [0.0, 0.0]
    for bone in (m for m in sent if m.address == "/VMC/Ext/Bone/Pos"):
        assert bone.args[4:] == (0.0, 0.0, 0.0, 1.0)


def test_non_finite_values_never_reach_the_wire():
    layout = FrameLayout(["a", "b"], [Channel(52)], ProtocolOptions())
    vector = layout.frame_vector(np.array([np.nan, np.inf]), np.array([np.nan]))
    assert np.isfinite(vector).all()
    assert vector[:2].tolist() == [0.0, 0.0]


def test_frame_matrix_matches_frame_vector():
    layout = FrameLayout(["a", "b"], [Channel(12), Channel(53), Channel(62)], ProtocolOptions())
    weights = np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)
    values = np.array([[0.5, 0.2, 0.0], [0.0, 1.0, 0.7]], dtype=np.float32)
    matrix = layout.frame_matrix(weights, values, np.array([0.0, 0.5]))
    for row in range(2):
        assert matrix[row] == pytest.approx(layout.frame_vector(weights[row], values[row], row * 0.5))


def test_face_cap_layout_uses_face_cap_indices():
    layout = FrameLayout(["mouthSmileLeft", "jawOpen", "notAShape", "tongueOut"], [],
                         ProtocolOptions(protocol="facecap"))
    sent = messages(layout, layout.frame_vector(np.array([0.25, 0.5, 0.75, 1.0])))
    assert [(m.address, m.type_tags, m.args) for m in sent] == [
        ("/W", "if", (FACE_CAP_NAMES.index("mouthSmile_L"), 0.25)),
        ("/W", "if", (24, 0.5)),
        ("/W", "if", (51, 1.0)),
    ]
    assert layout.skipped == ("notAShape",)


def test_vrchat_layout_sends_plain_float_messages():
    layout = FrameLayout(["JawOpen", "EyeLidLeft"], [], ProtocolOptions(protocol="vrchat"))
    packets = layout.encode(layout.frame_vector(np.array([0.5, 1.0])))
    assert [bytes(p) for p in packets] == [encode_message("/avatar/parameters/JawOpen", 0.5),
                                           encode_message("/avatar/parameters/EyeLidLeft", 1.0)]


def test_template_layout_for_targets_and_for_raw_aus():
    by_target = FrameLayout(["jawOpen"], [], ProtocolOptions(protocol="template"))
    assert [m.address for m in messages(by_target, by_target.neutral_vector())] == ["/facs/jawOpen"]
    options = ProtocolOptions(protocol="template", address_template="/facs/au/{au}")
    by_au = FrameLayout(["jawOpen"], [Channel(12), Channel(12, "L"), Channel(26)], options)
    sent = messages(by_au, by_au.frame_vector(np.array([0.9]), np.array([0.1, 0.2, 0.3])))
    assert [(m.address, m.type_tags) for m in sent] == [
        ("/facs/au/12", "f"), ("/facs/au/12/L", "f"), ("/facs/au/26", "f")]
    assert [m.args[0] for m in sent] == pytest.approx([0.1, 0.2, 0.3])
    named = FrameLayout([], [Channel(12, "R")],
                        ProtocolOptions(protocol="template", address_template="/x/{channel}"))
    assert [m.address for m in messages(named, named.neutral_vector())] == ["/x/AU12_R"]


@pytest.mark.parametrize("template", ["/facs/{nope}", "/facs/plain", "/{target}/{au}"])
def test_bad_templates_are_reported(template):
    with pytest.raises(OscError, match="template"):
        FrameLayout(["a"], [Channel(1)], ProtocolOptions(protocol="template",
                                                         address_template=template))


@pytest.mark.parametrize("kwargs", [{"protocol": "midi"}, {"names": "x"}, {"bones": "yes"},
                                    {"address_template": "no-slash"}, {"max_bytes": 10},
                                    {"max_bytes": 65508}])
def test_bad_options_are_reported(kwargs):
    with pytest.raises(OscError):
        ProtocolOptions(**kwargs)


def test_face_cap_with_no_arkit_target_is_an_error():
    with pytest.raises(OscError, match="none of the rig's 2 targets"):
        FrameLayout(["AU01_L", "AU12"], [], ProtocolOptions(protocol="facecap"))
