"""The live AU bridge: every kind of bad input counted and ignored; a loopback round trip."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osc_support import (
    SMILE_RIG,
    Flood,
    FrameCounter,
    OscRecorder,
    RecordingTransport,
    linear_mixer,
)

from facs_rig.core.channels import Channel
from facs_rig.errors import OscError
from facs_rig.io.osc.bridge import AUBridge
from facs_rig.io.osc.encoding import OscMessage, decode_packet, encode_bundle, encode_message


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
    (encode_message("/facs/au/46", 0.5), "unknown_address"),   # a wink of no eye (check_channel)
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
    (encode_message("/facs/code", "46"), "bad_code"),
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


# ------------------------------------------------------------------------------ python-osc's parser

def test_parse_packet_is_python_osc_behind_a_front():
    from facs_rig.io.osc.bridge import parse_packet
    assert parse_packet(encode_message("/facs/au/12", 0.5)) == [
        OscMessage("/facs/au/12", "f", (0.5,))]
    assert parse_packet(encode_bundle([encode_message("/a", 1), encode_message("/b", "x", True)])) \
        == [OscMessage("/a", "i", (1,)), OscMessage("/b", "sT", ("x", True))]
    assert parse_packet(b"/facs/reset\x00") == [OscMessage("/facs/reset", "", ())]


def _nested(depth):
    packet = encode_message("/facs/au/12", 0.5)
    for _ in range(depth):
        packet = encode_bundle([packet])
    return packet


@pytest.mark.parametrize(("packet", "why"), [
    (b"/facs/au/12\x00,f\x00\x00", "a float cut short: python-osc would pad it to 0.0"),
    (b"/facs/au/12\x00,cf\x00\x00\x00\x00\x00A\x3f\x00\x00\x00",
     "a tag python-osc skips, then misreads the float"),
    (encode_message("/facs/code", "x" * 4080), "over 4,096 bytes"),
    (encode_bundle([encode_message("/facs/au/1", 0.5)] * 161), "over 160 messages"),
    (_nested(9), "bundles nested 9 deep"),
    (b"/facs/code\x00\x00,s\x00\x00\xff\xfe\x00\x00", "a string that is not UTF-8"),
    (b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"\x00\x00\x00\x08/ab\x00,f\x00\x00",
     "an element size past the end"),
    (b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"\x00\x00\x00\x04xyz\x00",
     "an element that is neither a message nor a bundle"),
    (b"", "empty"), (b"/ab", "not a multiple of 4 bytes"),
])
def test_parse_packet_refuses_what_python_osc_would_misread(packet, why):
    from facs_rig.io.osc.bridge import parse_packet
    assert parse_packet(packet) is None, why


def test_eight_levels_of_bundles_are_still_accepted():
    from facs_rig.io.osc.bridge import parse_packet
    assert parse_packet(_nested(8)) == [OscMessage("/facs/au/12", "f", (0.5,))]


_ARGUMENTS = st.one_of(st.floats(width=32, allow_nan=False), st.integers(-2**31, 2**31 - 1),
                       st.booleans(), st.none(),
                       st.text(st.characters(blacklist_characters="\x00",
                                             blacklist_categories=("Cs",)), max_size=12))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"/[a-z0-9/]{0,12}", fullmatch=True),
                          st.lists(_ARGUMENTS, max_size=4)), min_size=1, max_size=6),
       st.booleans())
def test_python_osc_parses_what_our_decoder_parses(messages, bundled):
    from facs_rig.io.osc.bridge import parse_packet
    encoded = [encode_message(address, *args) for address, args in messages]
    packet = encode_bundle(encoded) if bundled else encoded[0]
    expected = decode_packet(packet)
    assert parse_packet(packet) == expected


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.builds(lambda head, tail: head + tail,
                           st.sampled_from([b"#bundle\x00" + b"\x00" * 8, b"/facs/au/12\x00,",
                                            encode_bundle([encode_message("/a", 1.0)])[:20]]),
                           st.binary(max_size=64))))
def test_parse_packet_never_raises(data):
    from facs_rig.io.osc.bridge import parse_packet
    result = parse_packet(data)
    assert result is None or all(isinstance(m, OscMessage) for m in result)


# ------------------------------------------------------------------------------------ input budget

def test_packets_over_the_frame_budget_are_dropped_and_counted(vocabulary):
    bridge = AUBridge(SMILE_RIG, "127.0.0.1:0", "127.0.0.1:9", vocabulary=vocabulary,
                      transport=RecordingTransport(), mixer=linear_mixer, max_packets=5)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for value in range(1, 21):
                sender.sendto(encode_message("/facs/au/12", value / 20),
                              (bridge.address.host, bridge.address.port))
        time.sleep(0.2)
        bridge._drain(time.monotonic() + 5.0)
        assert (bridge.counters.packets, bridge.counters.applied, bridge.counters.dropped) == (
            20, 5, 15)
        assert bridge.values == {Channel(12): 0.25}  # the fifth packet, the last one parsed
        assert "dropped 15 packets over the per-frame input budget" in bridge.counters.line()
        bridge.send_frame()  # a new frame: a new budget
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(encode_message("/facs/au/12", 1.0),
                          (bridge.address.host, bridge.address.port))
        time.sleep(0.2)
        bridge._drain(time.monotonic() + 5.0)
        assert bridge.values == {Channel(12): 1.0} and bridge.counters.applied == 6
    finally:
        bridge.close()


def test_the_input_budget_is_time_boxed_too(vocabulary):
    ticks = iter(range(1000))
    bridge = AUBridge(SMILE_RIG, "127.0.0.1:0", "127.0.0.1:9", vocabulary=vocabulary, fps=50,
                      transport=RecordingTransport(), mixer=linear_mixer, input_share=0.5,
                      monotonic=lambda: next(ticks) * 0.004)  # every reading 4 ms later
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(10):
                sender.sendto(encode_message("/facs/au/12", 0.5),
                              (bridge.address.host, bridge.address.port))
        time.sleep(0.2)
        bridge._drain(1e9)
        # 10 ms of input per 20 ms frame; each packet "takes" 4 ms: three fit, seven drop.
        assert (bridge.counters.applied, bridge.counters.dropped) == (3, 7)
    finally:
        bridge.close()


@pytest.mark.parametrize("kwargs", [{"input_share": 0.0}, {"input_share": 1.5},
                                    {"max_packets": 0}])
def test_bad_budgets_are_reported(kwargs):
    with pytest.raises(OscError):
        AUBridge(SMILE_RIG, "127.0.0.1:0", "127.0.0.1:9", transport=RecordingTransport(),
                 mixer=linear_mixer, **kwargs)


@pytest.mark.parametrize("kind", ["garbage", "valid"])
def test_output_keeps_its_rate_while_a_loopback_sender_floods_the_input(kind):
    # Issue 11 point 13: 10,000 costly garbage packets/s, or 1,000 valid bundles/s, stopped the
    # output for the whole flood. A 1.5 s flood from another process, bounded in count and time.
    seconds, fps = 1.5, 60
    counter = FrameCounter()
    bridge = AUBridge(SMILE_RIG, "127.0.0.1:0", f"127.0.0.1:{counter.port}", fps=fps,
                      mixer=linear_mixer)
    thread = threading.Thread(target=bridge.run, kwargs={"duration": 30.0}, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        if kind == "garbage":
            packets, rate = [b"/x\x00\x00,s\x00\x00" + b"y" * 4060 + b"\x00\x00\x00\x00",
                             bytes(range(256)) * 4, encode_bundle(
                                 [encode_message(f"/nowhere/{i}", 0.5) for i in range(150)])], 10_000
        else:
            packets, rate = [encode_bundle([encode_message(f"/facs/au/{au}", 0.5)
                                            for au in (1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 17, 20, 23,
                                                       24, 25, 26, 27)] * 8)], 1_000
        start = time.monotonic()
        flood = Flood(bridge.address.port, packets, rate=rate, seconds=seconds)
        sent, _ = flood.wait()
        stop = time.monotonic()
        # Valid input afterwards works (re-sent: the kernel drops what arrives while the
        # socket buffer is still full of the flood's tail).
        resent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and bridge.values.get(Channel(26)) != 1.0:
                sender.sendto(encode_message("/facs/au/26", 1.0),
                              (bridge.address.host, bridge.address.port))
                resent += 1
                time.sleep(0.05)
    finally:
        bridge.stop()
        thread.join(10)
        counter.close()
    frames = counter.between(start, stop)
    gaps = [b - a for a, b in zip([start, *frames], [*frames, stop])]
    assert sent >= 0.5 * rate * seconds  # the flood really ran
    # The budget ran out: packets were read and dropped (the kernel drops more when its socket
    # buffer is full, uncounted here).
    assert bridge.counters.dropped > 0 and bridge.counters.packets <= sent + resent
    # Loose bounds for a shared, loaded CI machine (the rate itself is measured by
    # benchmarks/run.py); without the budget, no frame left for the flood's whole duration.
    assert len(frames) >= 0.25 * fps * (stop - start), (len(frames), bridge.counters)
    assert max(gaps) < 0.5, (max(gaps), bridge.counters)
    assert bridge.values.get(Channel(26)) == 1.0, bridge.counters


def test_python_osc_is_used_pinned_and_tested_at_its_lowest_pin():
    import re

    from conftest import REPO
    from pythonosc.osc_packet import OscPacket

    import facs_rig.io.osc.bridge as bridge_module
    assert bridge_module.OscPacket is OscPacket  # the bridge's parser is python-osc's
    pins = re.findall(r'"python-osc([<>=!~]=?[^"]*)"', (REPO / "pyproject.toml").read_text())
    assert pins == [">=1.10.2"]  # Dispatcher(strict_timing=False) first appears in 1.10.2
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index('pip install -q "python-osc==1.10.2"') < ci.index('pip install ".[test]"')


def test_a_wink_is_taken_on_one_side_only(bridge):
    bridge.handle_packet(encode_message("/facs/au/46/L", 1.0))
    bridge.handle_packet(encode_message("/facs/au/46", 1.0))
    assert bridge.values == {Channel(46, "L"): 1.0}
    assert bridge.counters.applied == 1 and bridge.counters.unknown_address == 1
