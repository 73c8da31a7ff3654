"""FaceStream and UDP sending: loopback to python-osc, interop with liblo's oscdump, refusing
receivers, neutral frames, clip playback on a simulated clock."""

from __future__ import annotations

import errno
import os
import socket

import numpy as np
import pytest
from conftest import require_tool
from hypothesis import given, settings
from hypothesis import strategies as st
from osc_support import (
    SMILE_RIG,
    FakeClock,
    OscDump,
    OscRecorder,
    RecordingTransport,
    blend_frames,
    free_udp_port,
    linear_mixer,
    read_until,
)

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves, TargetWeights
from facs_rig.errors import FacsRigError, FacsRuleError, OscError
from facs_rig.io.osc.encoding import decode_packet, encode_message, format_message
from facs_rig.io.osc.protocols import ProtocolOptions
from facs_rig.io.osc.stream import Endpoint, FaceStream, PacketPrinter, UdpSender, parse_endpoint

PERFECT_SYNC_SMILE = ("MouthSmileLeft", "MouthSmileRight", "CheekSquintLeft", "CheekSquintRight",
                      "JawOpen")


def fake_stream(transport=None, **kwargs):
    fake = FakeClock()
    return FaceStream(SMILE_RIG, "127.0.0.1:9", transport=transport or RecordingTransport(),
                      clock=fake, sleep=fake.sleep, mixer=linear_mixer, **kwargs)


# --------------------------------------------------------------------------------------- endpoints

@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:39539", Endpoint("127.0.0.1", 39539)),
    ("localhost:9000", Endpoint("localhost", 9000)),
    ("[::1]:9001", Endpoint("::1", 9001)),
    ("9000", Endpoint("127.0.0.1", 9000)),
    (("127.0.0.1", 5), Endpoint("127.0.0.1", 5)),
])
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_endpoint_text_parses_or_raises_osc_error(text):
    try:
        endpoint = parse_endpoint(text)
    except OscError:
        return
    assert 1 <= endpoint.port <= 65535 and endpoint.host
    assert parse_endpoint(str(endpoint)) == endpoint  # round trip


@pytest.mark.parametrize("text", ["127.0.0.1", "host:0", "host:70000", ":9000", "a:b", "[::1]"])
def test_bad_endpoints_name_the_text(text):
    with pytest.raises(OscError, match="endpoint"):
        parse_endpoint(text)


# -------------------------------------------------------------------------------- python-osc server

def test_pushed_frames_arrive_at_a_python_osc_server_then_the_neutral_frame():
    with OscRecorder() as server:
        stream = FaceStream(SMILE_RIG, f"127.0.0.1:{server.port}", mixer=linear_mixer)
        with stream:
            stream.push({"AU12": 0.5, Channel(6): 1.0})
            stream.push({"AU12_L": 0.25})
        received = server.wait_for(lambda m: len(blend_frames(m)) == 3)
    frames = blend_frames(received)
    assert list(frames[0]) == list(PERFECT_SYNC_SMILE)  # names in Perfect Sync, rig order
    assert frames[0] == pytest.approx({"MouthSmileLeft": 0.5, "MouthSmileRight": 0.5,
                                       "CheekSquintLeft": 0.8, "CheekSquintRight": 0.8,
                                       "JawOpen": 0.0})
    assert frames[1]["MouthSmileLeft"] == 0.25 and frames[1]["MouthSmileRight"] == 0.0
    assert set(frames[2].values()) == {0.0}  # neutral frame on close
    assert all(isinstance(v, float) for f in frames for v in f.values())
    assert received[-1] == ("/VMC/Ext/Blend/Apply", ())


def test_push_accepts_code_strings_and_returns_the_weights(vocabulary):
    transport = RecordingTransport()
    stream = fake_stream(transport, vocabulary=vocabulary)
    weights = stream.push("6+12C")
    scale = vocabulary.scale()
    assert weights == pytest.approx([scale.letter_to_value("C")] * 2
                                     + [0.8 * scale.letter_to_value(None)] * 2 + [0.0])
    with pytest.raises(OscError, match="not an AU channel"):
        stream.push({"smile": 1.0})
    with pytest.raises(OscError, match="finite"):
        stream.push({"AU12": float("nan")})


WINK = "AU46 is a wink of one eye: write L46 or R46 (both eyes: 45 or 43)"


def test_push_refuses_a_wink_of_no_eye_as_the_readers_do(vocabulary):
    transport = RecordingTransport()
    stream = fake_stream(transport, vocabulary=vocabulary)
    for unsided in ({"AU46": 1.0}, {Channel(46): 1.0}, {46: 1.0}):
        with pytest.raises(FacsRuleError) as caught:
            stream.push(unsided)
        assert str(caught.value) == WINK
    with pytest.raises(FacsRigError, match=r"^46 is a wink of one eye: write L46 or R46 \(both "
                                           r"eyes: 45 or 43\) at column 1 of '46'$"):
        stream.push("46")
    assert transport.frames == []  # nothing was sent
    stream.push({"AU46_L": 1.0})
    stream.push("R46")
    assert len(transport.frames) == 2


def test_head_aus_switch_on_bones_and_they_return_to_rest():
    transport = RecordingTransport()
    stream = fake_stream(transport)
    stream.push({"AU12": 1.0})
    stream.push({"AU51": 1.0})
    stream.close()
    decoded = [[m for p in frame for m in decode_packet(p)] for frame in transport.frames]
    assert "/VMC/Ext/Bone/Pos" not in [m.address for m in decoded[0]]
    head = [m for m in decoded[1] if m.address == "/VMC/Ext/Bone/Pos"][0]
    assert head.args[0] == "Head" and head.args[5] < -0.3  # turned left: negative yaw
    rest = [m for m in decoded[2] if m.address == "/VMC/Ext/Bone/Pos"][0]
    assert rest.args[4:] == (0.0, 0.0, 0.0, 1.0)


# ---------------------------------------------------------------------------------- clip playback

def _curves(n_frames=12, fps=60.0):
    times = np.arange(n_frames) / fps
    values = np.stack([np.linspace(0, 1, n_frames), np.linspace(1, 0, n_frames)],
                      axis=1).astype(np.float32)
    return AUCurves(times, values, (Channel(12), Channel(26)), fps)


def test_play_sends_every_frame_in_order_then_neutral():
    transport = RecordingTransport()
    stream = fake_stream(transport)
    summary = stream.play(_curves())
    assert len(transport.frames) == 13 and summary.clock.frames == 12 and summary.neutral_sent
    decoded = [[m for p in frame for m in decode_packet(p)] for frame in transport.frames]
    smile = [next(m.args[1] for m in frame if m.args and m.args[0] == "MouthSmileLeft")
             for frame in decoded]
    assert smile == pytest.approx(list(np.linspace(0, 1, 12)) + [0.0], abs=1e-6)
    assert all(frame[-1].address == "/VMC/Ext/Blend/Apply" for frame in decoded)


def test_clips_at_another_rate_play_by_their_own_times():
    transport = RecordingTransport()
    stream = fake_stream(transport, reset=False)
    stream.play(_curves(n_frames=7, fps=30.0))  # 7 frames at 30 fps on a 60 fps stream
    assert len(transport.frames) == 14
    assert transport.frames[0] == transport.frames[1] != transport.frames[2]
    assert transport.frames[12] == transport.frames[13]


@pytest.mark.parametrize("n_frames", [1, 3, 12, 49, 600])
def test_a_clip_plays_exactly_its_frames(n_frames):
    transport = RecordingTransport()
    fake_stream(transport, reset=False).play(_curves(n_frames=n_frames))
    assert len(transport.frames) == n_frames


def test_play_loops_and_stops_at_the_duration():
    transport = RecordingTransport()
    stream = fake_stream(transport)
    stream.play(_curves(n_frames=10), loop=True, duration=0.5)  # 30 frames at 60 fps
    assert len(transport.frames) == 31
    assert transport.frames[10] == transport.frames[0]  # frame 10 is the clip's frame 0 again
    assert transport.frames[11] == transport.frames[1] != transport.frames[0]


def test_play_target_weights_directly_and_reject_other_columns():
    transport = RecordingTransport()
    stream = fake_stream(transport, reset=False)
    weights = np.full((3, 5), 0.5, dtype=np.float32)
    stream.play(TargetWeights(np.arange(3) / 60, weights, SMILE_RIG.targets, 60.0))
    assert len(transport.frames) == 3  # no neutral frame with reset=False
    with pytest.raises(OscError, match="targets"):
        stream.play(TargetWeights(np.arange(3) / 60, weights[:, :2], ("a", "b"), 60.0))


def test_interrupted_play_sends_the_neutral_frame_and_reraises():
    class InterruptingTransport(RecordingTransport):
        def send(self, packets):
            super().send(packets)
            if len(self.frames) == 5:
                raise KeyboardInterrupt

    transport = InterruptingTransport()
    stream = fake_stream(transport)
    with pytest.raises(KeyboardInterrupt):
        stream.play(_curves(), loop=True)
    assert len(transport.frames) == 6 and stream.neutral_sent and stream.summary().interrupted
    last = [m for p in transport.frames[-1] for m in decode_packet(p)]
    assert [m.args[1] for m in last if m.address == "/VMC/Ext/Blend/Val"] == [0.0] * 5


def test_dry_run_printer_prints_one_line_per_message(capsys):
    stream = fake_stream(PacketPrinter(["127.0.0.1:9"]),
                         protocol=ProtocolOptions(protocol="vrchat", names="as-is"))
    stream.push({"AU26": 1.0})
    stream.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == ['/avatar/parameters/mouthSmileLeft f 0.000000',
                         '/avatar/parameters/mouthSmileRight f 0.000000',
                         '/avatar/parameters/cheekSquintLeft f 0.000000',
                         '/avatar/parameters/cheekSquintRight f 0.000000',
                         '/avatar/parameters/jawOpen f 1.000000',
                         '# end of frame 0']
    assert lines[10] == '/avatar/parameters/jawOpen f 0.000000'


# ---------------------------------------------------------------------------- refusing receivers

def test_a_refusing_receiver_never_stops_the_stream():
    closed_port = free_udp_port()  # nobody listens: the kernel answers ICMP port unreachable
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as live:
        live.bind(("127.0.0.1", 0))
        sender = UdpSender([f"127.0.0.1:{closed_port}", f"127.0.0.1:{live.getsockname()[1]}"])
        packet = encode_message("/facs/test", 1.0)
        for _ in range(20):
            sender.send([packet])
        received = read_until(live, 1.0)
        sender.close()
    refused, alive = sender.stats
    assert refused.refused > 0 and refused.packets + refused.refused == 20
    assert alive.packets == 20 and alive.refused == 0 and len(received) == 20


def test_unresolvable_hosts_are_reported():
    with pytest.raises(OscError, match="cannot resolve"):
        UdpSender(["no-such-host.invalid:9000"])
    with pytest.raises(OscError, match="no destination"):
        UdpSender([])


# ---------------------------------------------------------------------------- interop: oscdump

def test_every_message_reaches_oscdump_with_its_address_and_type_tags():
    dump = OscDump(require_tool("oscdump"))
    try:
        options = ProtocolOptions(send_ok=True, send_time=True, bones="on")
        stream = FaceStream(SMILE_RIG, f"127.0.0.1:{dump.port}", protocol=options,
                            mixer=linear_mixer)
        expected = []
        sent_frames = [{"AU12": 0.5}, {"AU6": 1.0, "AU52": 0.5}, {"AU12_R": 1.0, "AU64": 1.0}]
        transport = stream.transport
        original_send = transport.send

        def capture(packets):
            expected.extend(format_message(m) for p in packets for m in decode_packet(p))
            original_send(packets)

        transport.send = capture
        for values in sent_frames:
            stream.push(values, time=1.25)
        stream.close()
        lines = dump.wait_lines(len(expected))
    finally:
        dump.close()
    assert len(expected) == 4 * (2 + 3 + 5 + 1)
    assert lines == expected
    assert sum(line.startswith("/VMC/Ext/Bone/Pos sfffffff ") for line in lines) == 12
    assert sum(line.startswith("/VMC/Ext/Blend/Val sf ") for line in lines) == 20
    assert lines.count("/VMC/Ext/OK i 1") == 4


def test_other_protocols_reach_oscdump_with_float_values():
    dump = OscDump(require_tool("oscdump"))
    try:
        for protocol in ("facecap", "vrchat", "template"):
            stream = FaceStream(SMILE_RIG, f"127.0.0.1:{dump.port}", mixer=linear_mixer,
                                protocol=ProtocolOptions(protocol=protocol), reset=False)
            stream.push({"AU26": 1.0})
            stream.close()
        lines = dump.wait_lines(15)
    finally:
        dump.close()
    assert lines[:5] == ["/W if 37 0.000000", "/W if 38 0.000000", "/W if 20 0.000000",
                         "/W if 21 0.000000", "/W if 24 1.000000"]
    assert lines[9] == "/avatar/parameters/JawOpen f 1.000000"
    assert lines[14] == "/facs/JawOpen f 1.000000"


@pytest.mark.parametrize(("to", "expected"), [
    ("127.0.0.1:9", ["127.0.0.1:9"]),
    (("127.0.0.1", 9), ["127.0.0.1:9"]),
    (("127.0.0.1:9", "127.0.0.1:10"), ["127.0.0.1:9", "127.0.0.1:10"]),
    (["127.0.0.1:9"], ["127.0.0.1:9"]),
])
def test_one_or_several_destinations(to, expected):
    stream = FaceStream(SMILE_RIG, to, mixer=linear_mixer)
    try:
        assert [str(s.endpoint) for s in stream.transport.stats] == expected
    finally:
        stream.close()


def test_localhost_resolves_to_ipv4_first():
    from facs_rig.io.osc.stream import resolve_udp
    family, _, _, address = resolve_udp(Endpoint("localhost", 9000))
    assert family == socket.AF_INET and address == ("127.0.0.1", 9000)


class _FailingSocket:
    """Stands in for a connected socket whose every send fails with ``errno``."""

    def __init__(self, number):
        self.number = number
        self.sends = 0

    def send(self, packet):
        self.sends += 1
        raise OSError(self.number, os.strerror(self.number))

    def close(self):
        pass


def test_a_send_error_that_will_not_recover_names_the_receiver_once():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as live:
        live.bind(("127.0.0.1", 0))
        sender = UdpSender(["127.0.0.1:9", f"127.0.0.1:{live.getsockname()[1]}"])
        failing = _FailingSocket(errno.EACCES)
        sender._sockets[0].close()
        sender._sockets[0] = failing
        packet = encode_message("/facs/test", 1.0)
        with pytest.raises(OscError, match=r"^cannot send to 127\.0\.0\.1:9: Permission denied"):
            sender.send([packet, packet])
        sender.send([packet])  # the broken receiver is skipped; the other still gets it
        received = read_until(live, 1.0)
        sender.close()
    assert failing.sends == 1 and len(received) == 3
    assert sender.stats[0].failed == 1 and sender.stats[1].packets == 3


def test_a_transient_send_error_is_counted_and_the_stream_goes_on():
    sender = UdpSender(["127.0.0.1:9"])
    sender._sockets[0].close()
    sender._sockets[0] = _FailingSocket(errno.ENOBUFS)
    for _ in range(3):
        sender.send([encode_message("/facs/test", 1.0)])
    assert sender.stats[0].failed == 3 and sender.stats[0].last_error == os.strerror(errno.ENOBUFS)
