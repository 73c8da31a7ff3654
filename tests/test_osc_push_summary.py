"""``FaceStream.summary()`` counts frames sent with ``push()`` from a script's own loop; it said
"0 frames in 0.00 s" (review: technical animator, finding 8)."""

from __future__ import annotations

import pytest
from osc_support import SMILE_RIG, FakeClock, RecordingTransport, linear_mixer

from facs_rig.io.osc.stream import FaceStream


def _stream(fake: FakeClock) -> FaceStream:
    return FaceStream(SMILE_RIG, "127.0.0.1:9", transport=RecordingTransport(), clock=fake,
                      sleep=fake.sleep, mixer=linear_mixer)


def test_frames_pushed_on_the_scripts_own_clock_are_counted():
    fake = FakeClock(read_step=0.0)
    stream = _stream(fake)
    for frame in range(10):
        stream.push({"AU12": frame / 10})
        fake.now += 1 / 60
    clock = stream.close().clock
    assert (clock.frames, clock.skipped, clock.late) == (10, 0, 0)
    assert clock.elapsed == pytest.approx(9 / 60)  # first to last push, as the clock counts
    assert stream.summary().line().startswith("10 frames in 0.15 s at 60 fps; 0 late")


def test_frames_pushed_on_the_streams_ticks_are_counted_once():
    fake = FakeClock()
    stream = _stream(fake)
    for tick in stream.ticks(5):
        stream.push({"AU12": 0.5})
    assert stream.close().clock.frames == 5
