"""The live AU bridge: every kind of bad input counted and ignored; a loopback round trip."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osc_support import SMILE_RIG, OscRecorder, RecordingTransport, linear_mixer

from facs_rig.core.channels import Channel
from facs_rig.errors import OscError
from facs_rig.io.osc.bridge import AUBridge
from facs_rig.io.osc.encoding import encode_bundle, encode_message


@pytest.fixture
def bridge(vocabulary):
    instance = AUBridge(SMILE_RIG, "127.0.0.1:0", "127.0.0.1:9", vocabulary=vocabulary,
                        transport=RecordingTransport(), mixer=linear_mixer)
    yield instance
    instance.close()


def test_au_values_sides_codes_and_reset(bridge, vocabulary):
    bridge.handle_packet(encode_message("/facs/au/12", 0.5))
    bridge.handle_packet(encode_message("/facs/au/06/L", 0.25))
    bridge.handle_packet(encode_bundle([encode_message("/facs/au/26", 1), encode_message(
        "/facs/au/12/r", 0.75)]))
    assert bridge.values == {Channel(12): 0.5, Channel(6, "L"): 0.25, Channel(26): 1.0,
                             Channel(12, "R"): 0.75}
    bridge.handle_packet(encode_message("/facs/au/26", 0.0))
    assert Channel(26) not in bridge.values
    bridge.handle_packet(encode_message("/facs/code", "6+12C"))
    assert bridge.values == vocabulary.channel_values(vocabulary.parse("6+12C"))
    bridge.handle_packet(encode_message("/facs/reset"))
    assert bridge.values == {}
    assert bridge.counters.applied == 7 and bridge.counters.ignored == 0


@pytest.mark.parametrize(("packet", "counter"), [
    (b"\x00\x01\x02", "malformed"),
    (b"/facs/au/12\x00,f\x00\x00", "malformed"),  # truncated float
    (encode_message("/facs/au/12/X", 0.5), "unknown_address"),
    (encode_message("/facs/au/999", 0.5), "unknown_address"),
    (encode_message("/facs/au/51/L", 0.5), "unknown_address"),  # head AUs are not sided
    (encode_message("/facs/au/70", 0.5), "unknown_address"),   # a visibility code moves nothing
    (encode_message("/other", 0.5), "unknown_address"),
    (encode_message("/facs/au/12", "high"), "wrong_type"),
    (encode_message("/facs/au/12", 0.5, 0.5), "wrong_type"),
    (encode_message("/facs/au/12"), "wrong_type"),
    (encode_message("/facs/au/12", True), "wrong_type"),
    (encode_message("/facs/code", 12), "wrong_type"),
    (encode_message("/facs/au/12", float("nan")), "not_finite"),
    (encode_message("/facs/au/12", float("inf")), "not_finite"),
    (encode_message("/facs/au/12", 1.5), "out_of_range"),
    (encode_message("/facs/au/12", -0.1), "out_of_range"),
    (encode_message("/facs/code", "12+zz"), "bad_code"),
    (encode_message("/facs/code", "999"), "bad_code"),
])
def test_bad_input_is_counted_and_ignored(bridge, packet, counter):
    bridge.handle_packet(encode_message("/facs/au/12", 0.5))
    bridge.handle_packet(packet)
    assert getattr(bridge.counters, counter) == 1
    assert bridge.counters.ignored == 1
    assert bridge.values == {Channel(12): 0.5}
    phrase = {"malformed": "1 malformed", "unknown_address": "1 unknown addresses",
              "wrong_type": "1 wrong argument types", "not_finite": "1 NaN/inf",
              "out_of_range": "1 out of range", "bad_code": "1 bad codes"}[counter]
    assert phrase in bridge.counters.line()


def test_integer_values_are_accepted_as_numbers(bridge):
    bridge.handle_packet(encode_message("/facs/au/12", 1))
    assert bridge.values == {Channel(12): 1.0}


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=120),
    st.builds(lambda tail: b"/facs/au/12\x00,f\x00\x00" + tail, st.binary(max_size=12)),
    st.builds(lambda n, v: encode_message(f"/facs/au/{n}", v), st.integers(0, 1000),
              st.floats(width=32)),
    st.builds(lambda s: encode_message("/facs/code", s),
              st.text(alphabet=st.characters(blacklist_characters="\x00",
                                             blacklist_categories=("Cs",)), max_size=20)),
))
def test_no_packet_ever_raises(packet):
    bridge = AUBridge.__new__(AUBridge)  # handle_packet only needs the vocabulary and state
    from facs_rig.io.osc.bridge import BridgeCounters
    from facs_rig.resources import load_vocabulary
    bridge.vocabulary = load_vocabulary()
    bridge.counters = BridgeCounters()
    bridge.values = {}
    bridge._version = 0
    bridge.handle_packet(packet)
    counters = bridge.counters
    assert counters.packets == 1
    assert counters.applied + counters.ignored >= 1
    assert all(0.0 <= v <= 1.0 for v in bridge.values.values())


def test_listen_errors_are_reported():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(OscError, match="cannot listen"):
            AUBridge(SMILE_RIG, f"127.0.0.1:{port}", "127.0.0.1:9", mixer=linear_mixer,
                     transport=RecordingTransport())


def test_loopback_round_trip_through_the_bridge():
    with OscRecorder() as receiver:
        bridge = AUBridge(SMILE_RIG, "127.0.0.1:0", f"127.0.0.1:{receiver.port}", fps=100,
                          mixer=linear_mixer)
        thread = threading.Thread(target=bridge.run, kwargs={"duration": 30.0}, daemon=True)
        thread.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            target = (bridge.address.host, bridge.address.port)
            sender.sendto(encode_message("/facs/au/12/L", 0.75), target)
            sender.sendto(b"garbage!", target)
            receiver.wait_for(lambda m: ("/VMC/Ext/Blend/Val", ("MouthSmileLeft", 0.75)) in m)
            sender.sendto(encode_message("/facs/code", "26"), target)
            receiver.wait_for(lambda m: any(a == "/VMC/Ext/Blend/Val" and args[0] == "JawOpen"
                                            and args[1] > 0 for a, args in m))
        bridge.stop()
        thread.join(10)
        assert not thread.is_alive()
        messages = receiver.wait_for(
            lambda m: len(m) >= 6 and m[-1][0] == "/VMC/Ext/Blend/Apply"
            and all(args[1] == 0.0 for _, args in m[-6:-1]))
    assert bridge.counters.malformed == 1 and bridge.counters.applied == 2
    assert messages[-1] == ("/VMC/Ext/Blend/Apply", ())
    assert [args[0] for _, args in messages[-6:-1]] == [
        "MouthSmileLeft", "MouthSmileRight", "CheekSquintLeft", "CheekSquintRight", "JawOpen"]
