"""Benchmarks of live OSC output (issue 6 point 7).

* encode + send one 52-target VMC frame (Perfect Sync names, two bundles) on loopback: CPU µs;
  python-osc's builder doing the same, for comparison;
* 1,000 frames/s of that frame to liblo's ``oscdump`` on loopback: messages lost (lines counted);
* frame clock lateness p99 at 60 Hz with ``--precise`` (sleep then spin) and without.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
from run import Benchmark

from facs_rig.core.channels import Channel
from facs_rig.io.osc.clock import FrameClock
from facs_rig.io.osc.encoding import encode_message
from facs_rig.io.osc.protocols import PERFECT_SYNC_NAMES, FrameLayout, ProtocolOptions
from facs_rig.io.osc.stream import UdpSender


def _layout() -> FrameLayout:
    return FrameLayout(PERFECT_SYNC_NAMES, (Channel(12),), ProtocolOptions(), rig_name="arkit")


def _sink() -> socket.socket:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink


def _drain(sink: socket.socket) -> None:
    sink.setblocking(False)
    try:
        while True:
            sink.recv(65536)
    except BlockingIOError:
        pass


def encode_and_send_us(quick: bool) -> float:
    """CPU microseconds to patch a frame vector into the packets and send them (best of runs)."""
    layout = _layout()
    sink = _sink()
    sender = UdpSender([f"127.0.0.1:{sink.getsockname()[1]}"])
    rng = np.random.default_rng(0)
    vectors = [layout.frame_vector(rng.random(52, dtype=np.float32), np.zeros(1)) for _ in range(64)]
    n_frames = 2_000 if quick else 20_000
    best = float("inf")
    try:
        for _ in range(1 if quick else 5):
            start = time.process_time()
            for i in range(n_frames):
                sender.send(layout.encode(vectors[i & 63]))
            best = min(best, (time.process_time() - start) / n_frames)
            _drain(sink)
    finally:
        sender.close()
        sink.close()
    return best * 1e6


def push_us(quick: bool) -> float:
    """FaceStream.push of one frame of AU values: mix with the arkit rig, encode, send (CPU µs)."""
    from facs_rig.io.osc.stream import FaceStream
    from facs_rig.io.rig_files import load_rig

    sink = _sink()
    stream = FaceStream(load_rig("arkit"), f"127.0.0.1:{sink.getsockname()[1]}", reset=False)
    frames = [{Channel(12): 0.5 + i / 200, Channel(6): 0.3, Channel(52): 0.2, Channel(1): 0.1}
              for i in range(64)]
    stream.push(frames[0])
    n_frames = 500 if quick else 5_000
    try:
        start = time.process_time()
        for i in range(n_frames):
            stream.push(frames[i & 63])
        return (time.process_time() - start) / n_frames * 1e6
    finally:
        stream.close()
        sink.close()


def python_osc_us(quick: bool) -> float:
    """The same frame built with python-osc's message and bundle builders (for comparison)."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    sink = _sink()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = sink.getsockname()
    values = np.random.default_rng(0).random(52, dtype=np.float32)

    def frame() -> None:
        messages = []
        for name, value in zip(PERFECT_SYNC_NAMES, values):
            builder = OscMessageBuilder("/VMC/Ext/Blend/Val")
            builder.add_arg(name)
            builder.add_arg(float(value))  # numpy.float32 is rejected by python-osc
            messages.append(builder.build())
        messages.append(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
        bundle, size = OscBundleBuilder(IMMEDIATELY), 16
        for message in messages:
            if size + 4 + message.size > 1500:
                client.sendto(bundle.build().dgram, address)
                bundle, size = OscBundleBuilder(IMMEDIATELY), 16
            bundle.add_content(message)
            size += 4 + message.size
        client.sendto(bundle.build().dgram, address)

    n_frames = 200 if quick else 2_000
    try:
        start = time.process_time()
        for _ in range(n_frames):
            frame()
        return (time.process_time() - start) / n_frames * 1e6
    finally:
        client.close()
        sink.close()


def _all_cores() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


_OSCDUMP_RESULTS: dict[bool, tuple[float, float]] = {}


def oscdump_run(quick: bool) -> tuple[float, float]:
    """(messages lost, frames per second sustained), measured once per mode."""
    if quick not in _OSCDUMP_RESULTS:
        _OSCDUMP_RESULTS[quick] = _oscdump_run(quick)
    return _OSCDUMP_RESULTS[quick]


def _oscdump_run(quick: bool) -> tuple[float, float]:
    """Messages lost sending 1,000 52-target VMC frames per second to oscdump (lines counted)."""
    executable = shutil.which("oscdump")
    if executable is None:
        raise RuntimeError("oscdump is not installed (Debian package liblo-tools)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seconds = 1.0 if quick else 3.0
    layout = _layout()
    with tempfile.TemporaryDirectory() as folder:
        output = os.path.join(folder, "dump.txt")
        with open(output, "w") as handle:
            # run.py pins this process to one core; let oscdump use the others, as a receiver
            # on the same machine would.
            process = subprocess.Popen([executable, "-L", str(port)], stdout=handle,
                                       stderr=subprocess.DEVNULL, preexec_fn=_all_cores)
        sender = UdpSender([f"127.0.0.1:{port}"])
        try:
            # Wait until oscdump prints a probe, so nothing is sent before it listens.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sender.send([encode_message("/probe")])
                time.sleep(0.05)
                with open(output) as dump:
                    if "/probe" in dump.read():
                        break
            clock = FrameClock(1000, precise=True)
            vector = layout.neutral_vector()
            sent = 0
            for tick in clock.ticks(duration=seconds):
                vector[:52] = (tick.index % 100) / 100
                sender.send(layout.encode(vector))
                sent += layout.n_messages
            time.sleep(1.0)  # let oscdump print the tail
        finally:
            sender.close()
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        with open(output) as dump:
            received = sum(1 for line in dump if "/probe" not in line)
    summary = clock.summary()
    print(f"    oscdump: {sent} messages sent in {summary.frames} frames "
          f"({summary.frames / max(summary.elapsed, 1e-9):.0f} frames/s, {summary.skipped} "
          f"skipped), {received} lines received")
    return float(sent - received), summary.frames / max(summary.elapsed, 1e-9)


def lateness_p99_ms(quick: bool, *, precise: bool) -> float:
    """p99 frame-clock lateness at 60 Hz while sending a VMC frame each tick, milliseconds."""
    layout = _layout()
    sink = _sink()
    sender = UdpSender([f"127.0.0.1:{sink.getsockname()[1]}"])
    clock = FrameClock(60, precise=precise)
    vector = layout.neutral_vector()
    try:
        for _ in clock.ticks(duration=2.0 if quick else 10.0):
            sender.send(layout.encode(vector))
            _drain(sink)
    finally:
        sender.close()
        sink.close()
    summary = clock.summary()
    print(f"    {'precise' if precise else 'sleep-only'}: {summary.line()}")
    return summary.p99 * 1e3


def benchmarks(quick: bool) -> list[Benchmark]:
    return [
        Benchmark("OSC: encode+send one 52-target VMC frame (CPU)", "µs", 50.0, "lower",
                  lambda: encode_and_send_us(quick)),
        Benchmark("OSC: same frame with python-osc's builders (reference)", "µs", 700.0, "lower",
                  lambda: python_osc_us(quick)),
        Benchmark("OSC: FaceStream.push, mix+encode+send one arkit frame (CPU)", "µs", 1000.0,
                  "lower", lambda: push_us(quick)),
        Benchmark("OSC: 1000 frames/s to oscdump, messages lost", "messages", 0.0, "lower",
                  lambda: oscdump_run(quick)[0]),
        Benchmark("OSC: 1000 frames/s to oscdump, frames/s sustained", "frames/s", 1000.0,
                  "higher", lambda: oscdump_run(quick)[1]),
        Benchmark("OSC: frame clock p99 lateness at 60 Hz, --precise", "ms", 0.25, "lower",
                  lambda: lateness_p99_ms(quick, precise=True)),
        Benchmark("OSC: frame clock p99 lateness at 60 Hz, sleep only", "ms", 1.0, "lower",
                  lambda: lateness_p99_ms(quick, precise=False)),
    ]
