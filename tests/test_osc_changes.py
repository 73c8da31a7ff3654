"""Issue 11 point 3: VRChat gets only the parameters that changed, plus a full refresh."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from osc_support import SMILE_RIG, FakeClock, RecordingTransport, linear_mixer

from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import decode_packet
from facs_rig.io.osc.protocols import VRCHAT_TOLERANCE, FrameLayout, ProtocolOptions
from facs_rig.io.osc.stream import ChangeFilter, FaceStream


def play(rig, timeline, vocabulary, **options):
    fake = FakeClock()
    transport = RecordingTransport()
    stream = FaceStream(rig, "127.0.0.1:9", fps=60, transport=transport, clock=fake,
                        sleep=fake.sleep, vocabulary=vocabulary,
                        protocol=ProtocolOptions(protocol="vrchat", **options))
    stream.play(timeline)
    return stream, transport.frames


def receiver_states(frames):
    """What a receiver holds after each frame: {address: value}, updated by what arrived."""
    state, states = {}, []
    for frame in frames:
        for packet in frame:
            for message in decode_packet(packet):
                state[message.address] = message.args[0]
        states.append(dict(state))
    return states


@pytest.fixture(scope="module")
def suspicion_beat(vocabulary):
    from facs_rig.io.timeline_files import load_timeline_argument
    return load_timeline_argument(str(REPO / "examples" / "suspicion_beat.notes"), vocabulary,
                                  hold=2.0, fps=60)


@pytest.mark.parametrize(("rig_name", "every_frame", "changed_only"), [
    ("unified", 46_104, 1_720), ("arkit", 23_504, 1_160)])
def test_datagrams_on_a_real_timeline(vocabulary, suspicion_beat, rig_name, every_frame,
                                      changed_only):
    from facs_rig.io.rig_files import load_rig
    rig = load_rig(rig_name)
    full_stream, full = play(rig, suspicion_beat, vocabulary, changes_only=False)
    stream, changes = play(rig, suspicion_beat, vocabulary)
    n_targets = len(rig.targets)
    # 451 frames of the 7.5 s beat sheet at 60 fps, then the neutral frame.
    assert len(full) == len(changes) == 452
    assert sum(map(len, full)) == full_stream.datagrams == every_frame == 452 * n_targets
    assert sum(map(len, changes)) == stream.datagrams == changed_only
    # The neutral frame at the end goes out whole; so does the first frame.
    assert len(changes[0]) == len(changes[-1]) == n_targets
    # What the receiver holds never strays from the true frame by more than the tolerance, and
    # ends exactly at rest.
    truth, held = receiver_states(full), receiver_states(changes)
    for true_state, held_state in zip(truth, held):
        assert held_state.keys() == true_state.keys()
        assert max(abs(held_state[a] - v) for a, v in true_state.items()) <= VRCHAT_TOLERANCE
    assert set(held[-1].values()) == {0.0} and held[-1] == truth[-1]


def test_a_full_refresh_every_second_and_on_request(vocabulary, suspicion_beat):
    from facs_rig.io.rig_files import load_rig
    _, frames = play(load_rig("arkit"), suspicion_beat, vocabulary, refresh=0.5)
    full = [index for index, frame in enumerate(frames) if len(frame) == 52]
    # Frames 0, 30, 60, ... (every 0.5 s at 60 fps) and the neutral frame 451.
    assert [index for index in full if index % 30 == 0] == list(range(0, 451, 30))


def _layout():
    return FrameLayout(["a", "b", "c"], [], ProtocolOptions(protocol="vrchat"))


def test_change_filter_rules():
    layout = _layout()
    changes = ChangeFilter(tolerance=0.01, refresh=1.0)

    def sent(values, now):
        vector = layout.frame_vector(np.array(values, dtype=np.float32))
        packets = changes.select(layout, vector, now, layout.encode(vector))
        return [decode_packet(p)[0].address.rsplit("/", 1)[1] for p in packets]

    assert sent([0.5, 0.5, 0.5], 0.0) == ["a", "b", "c"]     # first frame: everything
    assert sent([0.505, 0.5, 0.52], 0.1) == ["c"]             # under the tolerance: held back
    assert sent([0.509, 0.5, 0.52], 0.2) == []
    assert sent([0.511, 0.5, 0.52], 0.3) == ["a"]             # the drift adds up: sent
    assert sent([0.511, 1.0, 0.0], 0.4) == ["b", "c"]          # big changes
    assert sent([0.511, 1.0, 0.0], 0.5) == []
    small = ChangeFilter(tolerance=0.01, refresh=1.0)
    vector = layout.frame_vector(np.array([0.005, 0.995, 0.5], dtype=np.float32))
    small.select(layout, vector, 0.0, layout.encode(vector))
    vector = layout.frame_vector(np.array([0.0, 1.0, 0.5], dtype=np.float32))
    assert len(small.select(layout, vector, 0.1, layout.encode(vector))) == 2  # exactly 0 and 1
    assert sent([0.511, 1.0, 0.0], 1.0) == ["a", "b", "c"]    # a second since the last full one
    other = _layout()
    vector = other.frame_vector(np.array([0.511, 1.0, 0.0], dtype=np.float32))
    assert len(changes.select(other, vector, 1.1, other.encode(vector))) == 3  # new layout: all


def test_bridge_style_pushes_send_changes_and_the_neutral_frame_whole():
    fake = FakeClock()
    transport = RecordingTransport()
    stream = FaceStream(SMILE_RIG, "127.0.0.1:9", transport=transport, clock=fake,
                        sleep=fake.sleep, mixer=linear_mixer,
                        protocol=ProtocolOptions(protocol="vrchat"))
    stream.push({"AU12": 0.5})
    stream.push({"AU12": 0.5})
    stream.push({"AU12": 0.5, "AU26": 1.0})
    stream.close()
    assert [len(frame) for frame in transport.frames] == [5, 0, 1, 5]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"protocol": "vmc", "changes_only": True}, "not for vmc"),
    ({"protocol": "vrchat", "refresh": 0.0}, "positive number of seconds"),
    ({"protocol": "vrchat", "refresh": float("inf")}, "positive number of seconds"),
    ({"protocol": "vrchat", "tolerance": -0.1}, r"\[0, 1\)"),
])
def test_bad_change_options_are_reported(kwargs, message):
    with pytest.raises(OscError, match=message):
        ProtocolOptions(**kwargs)


def test_only_vrchat_sends_changes_by_default():
    assert [ProtocolOptions(protocol=p).sends_changes_only
            for p in ("vmc", "template", "facecap", "vrchat")] == [False, False, False, True]
    assert ProtocolOptions(protocol="template", changes_only=True).sends_changes_only
    assert VRCHAT_TOLERANCE == pytest.approx(0.5 / 127)
