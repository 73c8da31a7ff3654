"""Issue 11 point 1: every bundled rig, in every protocol, fits one unfragmented UDP datagram.

The default bundle limit is 1,232 bytes (IPv6's 1,280-byte minimum link MTU less the IPv6 and
UDP headers, see ``MAX_PACKET_BYTES``). The packet sizes below are exact: a layout change that
moves a byte shows here.
"""

from __future__ import annotations

import pytest
from conftest import REPO

from facs_rig.core.channels import Channel, sort_channels
from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import MAX_PACKET_BYTES, decode_packet
from facs_rig.io.osc.protocols import HEAD_EYE_AUS, FrameLayout, ProtocolOptions
from facs_rig.io.rig_files import load_rig

#: Protocol variants: VMC with each of its options, both template kinds, Face Cap, VRChat.
VARIANTS = {
    "vmc": {"bones": "off"},
    "vmc-bones": {"bones": "on"},
    "vmc-ok-time-bones": {"send_ok": True, "send_time": True, "bones": "on"},
    "vmc-as-is": {"names": "as-is", "bones": "off"},
    "vmc-arkit-names": {"names": "arkit", "bones": "off"},
    "template": {"protocol": "template"},
    "template-au": {"protocol": "template", "address_template": "/facs/au/{au}"},
    "facecap": {"protocol": "facecap"},
    "vrchat": {"protocol": "vrchat"},
}

#: Datagram sizes of one frame; for VRChat (one datagram per message): (count, largest).
#: None: the protocol cannot address the rig (Face Cap needs ARKit shapes).
EXPECTED = {
    ("arkit", "vmc"): [1220, 1196, 140],
    ("arkit", "vmc-bones"): [1208, 1184, 384],
    ("arkit", "vmc-ok-time-bones"): [1212, 1228, 384],
    ("arkit", "vmc-as-is"): [1220, 1196, 140],
    ("arkit", "vmc-arkit-names"): [1220, 1196, 140],
    ("arkit", "template"): [1232, 568],
    ("arkit", "template-au"): [1224, 1224],
    ("arkit", "facecap"): [1056],
    ("arkit", "vrchat"): (52, 48),
    ("facs", "vmc"): [1216, 1216, 1196, 224],
    ("facs", "vmc-bones"): [1196, 1216, 1216, 444],
    ("facs", "vmc-ok-time-bones"): [1204, 1216, 1204, 496],
    ("facs", "vmc-as-is"): [1216, 1216, 1196, 224],
    ("facs", "vmc-arkit-names"): [1216, 1216, 1196, 224],
    ("facs", "template"): [1212, 1204, 172],
    ("facs", "template-au"): [1232, 1224, 752],
    ("facs", "facecap"): None,
    ("facs", "vrchat"): (92, 44),
    ("metahuman", "vmc"): [1220, 1220, 1184, 1216, 1228, 848],
    ("metahuman", "vmc-bones"): [1188, 1184, 1200, 1216, 1188, 1160],
    ("metahuman", "vmc-ok-time-bones"): [1172, 1176, 1208, 1216, 1184, 1228],
    ("metahuman", "vmc-as-is"): [1220, 1220, 1184, 1216, 1228, 848],
    ("metahuman", "vmc-arkit-names"): [1220, 1220, 1184, 1216, 1228, 848],
    ("metahuman", "template"): [1192, 1224, 1192, 1220, 596],
    ("metahuman", "template-au"): [1232, 1224, 672],
    ("metahuman", "facecap"): None,
    ("metahuman", "vrchat"): (103, 68),
    ("unified", "vmc"): [1188, 1228, 1200, 1184, 340],
    ("unified", "vmc-bones"): [1208, 1220, 1204, 1200, 528],
    ("unified", "vmc-ok-time-bones"): [1208, 1216, 1208, 1204, 572],
    ("unified", "vmc-as-is"): [1188, 1228, 1200, 1184, 340],
    ("unified", "vmc-arkit-names"): [1188, 1228, 1200, 1184, 340],
    ("unified", "template"): [1220, 1204, 1212, 48],
    ("unified", "template-au"): [1232, 1224, 592],
    ("unified", "facecap"): [716],
    ("unified", "vrchat"): (102, 52),
    ("vrm", "vmc"): [496],
    ("vrm", "vmc-bones"): [716],
    ("vrm", "vmc-ok-time-bones"): [764],
    ("vrm", "vmc-as-is"): [508],
    ("vrm", "vmc-arkit-names"): [508],
    ("vrm", "template"): [312],
    ("vrm", "template-au"): [1232, 280],
    ("vrm", "facecap"): None,
    ("vrm", "vrchat"): (11, 40),
}
RIGS = sorted(path.stem for path in (REPO / "rigs").glob("*.json"))


def frame_sizes(rig_name: str, variant: str):
    rig = load_rig(rig_name)
    channels = sort_channels([*rig.channels, *(Channel(au) for au in HEAD_EYE_AUS)])
    layout = FrameLayout(rig.targets, channels, ProtocolOptions(**VARIANTS[variant]),
                         rig_name=rig.name)
    return layout, [len(packet) for packet in layout.packets.packets]


def test_the_default_limit_is_the_ipv6_minimum_mtu_payload():
    assert MAX_PACKET_BYTES == 1280 - 40 - 8 == 1232
    assert ProtocolOptions().max_bytes == MAX_PACKET_BYTES


def test_every_bundled_rig_is_covered():
    assert RIGS == ["arkit", "facs", "metahuman", "unified", "vrm"]
    assert set(EXPECTED) == {(rig, variant) for rig in RIGS for variant in VARIANTS}


@pytest.mark.parametrize(("rig_name", "variant"), sorted(EXPECTED))
def test_frame_datagrams_fit_the_limit_exactly_as_measured(rig_name, variant):
    expected = EXPECTED[rig_name, variant]
    if expected is None:
        with pytest.raises(OscError, match="Face Cap"):
            frame_sizes(rig_name, variant)
        return
    layout, sizes = frame_sizes(rig_name, variant)
    assert max(sizes) <= MAX_PACKET_BYTES
    if variant == "vrchat":
        assert (len(sizes), max(sizes)) == expected
    else:
        assert sizes == expected
    # Every datagram decodes, and VMC's Apply is the very last message of the frame.
    messages = [m for packet in layout.packets.packets for m in decode_packet(packet)]
    assert len(messages) == layout.n_messages
    if variant.startswith("vmc"):
        assert messages[-1].address == "/VMC/Ext/Blend/Apply"
