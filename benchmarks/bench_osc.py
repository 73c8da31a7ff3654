"""Benchmarks of live OSC output (issue 6 point 7).

* encode + send one 52-target VMC frame (Perfect Sync names, three bundles) on loopback: CPU µs;
  python-osc's builder doing the same, for comparison;
* 1,000 frames/s of that frame to liblo's ``oscdump`` on loopback: messages lost (lines counted);
* frame clock lateness p99 at 60 Hz with ``--precise`` (sleep then spin) and without;
* the AU bridge under a flood (issue 11 point 13): output frames per second at 60 fps while a
  loopback sender floods its input with costly garbage at 10,000 packets/s or with valid
  135-message bundles at 1,000/s, the longest gap between output frames, input packets parsed
  and dropped per second, and memory growth;
* VRChat datagrams per second playing ``examples/suspicion_beat.notes`` at 60 fps on the
  ``unified`` and ``arkit`` rigs, every value every frame against changed values only (issue 11
  point 3), and how many a python-osc receiver on the same machine loses in real time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from run import HERE, Benchmark, every_core

sys.path.insert(0, str(HERE.parent / "tests"))  # the loopback flood sender and frame counter

from facs_rig.core.channels import Channel
from facs_rig.io.osc.clock import FrameClock
from facs_rig.io.osc.encoding import MAX_PACKET_BYTES, encode_message
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
            if size + 4 + message.size > MAX_PACKET_BYTES:
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
                                       stderr=subprocess.DEVNULL, preexec_fn=every_core)
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


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def flood_packets(kind: str) -> tuple[list[bytes], float]:
    """The flood's datagrams and rate: ``garbage`` (10,000/s, each as costly as the bridge lets
    in: a 4 KB string python-osc walks byte by byte, a bundle of 150 unknown addresses, 1 KB of
    noise) or ``valid`` (1,000/s bundles setting 135 AU channels)."""
    from facs_rig.io.osc.encoding import encode_bundle
    if kind == "garbage":
        noise = np.random.default_rng(0).integers(0, 256, 1024, dtype=np.uint8).tobytes()
        return [encode_message("/x", "y" * 4080), noise,
                encode_bundle([encode_message(f"/nowhere/{i}", 0.5) for i in range(150)])], 10_000.0
    channels = [f"/facs/au/{au}{side}" for au in (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16,
                                                 17, 18, 20, 22, 23, 24, 25, 26, 27, 28, 38, 39,
                                                 41, 42, 43, 44, 45, 46, 61, 62, 63)
                for side in ("", "/L", "/R")][:135]
    return [encode_bundle([encode_message(address, (i % 10) / 10) for address in channels])
            for i in range(10)], 1_000.0


_FLOOD_RESULTS: dict[tuple[bool, str], dict[str, float]] = {}


def bridge_flood(quick: bool, kind: str) -> dict[str, float]:
    """Run a 60 fps arkit/VMC bridge while a loopback process floods it; measured once."""
    if (quick, kind) not in _FLOOD_RESULTS:
        _FLOOD_RESULTS[quick, kind] = _bridge_flood(quick, kind)
    return _FLOOD_RESULTS[quick, kind]


def _bridge_flood(quick: bool, kind: str) -> dict[str, float]:
    import re

    from osc_support import Flood, FrameCounter, free_udp_port

    seconds = 2.0 if quick else 10.0
    counter = FrameCounter()
    listen = free_udp_port()
    # `facs-rig bridge` in its own process (pinned to run.py's core), as a user runs it.
    bridge = subprocess.Popen(
        [sys.executable, "-m", "facs_rig", "bridge", "--listen", f"127.0.0.1:{listen}", "--rig",
         "arkit", "--to", f"127.0.0.1:{counter.port}", "--fps", "60", "--bones", "off",
         "--duration", str(seconds + 3)], cwd=HERE.parent, stderr=subprocess.PIPE, text=True)
    try:
        assert bridge.stderr is not None
        while "listening on" not in bridge.stderr.readline():
            pass
        time.sleep(1.0)
        rss_before = _rss_mb(bridge.pid)
        per_frame = 3  # arkit in VMC without bones: three bundles of at most 1,232 bytes
        packets, rate = flood_packets(kind)
        start = time.monotonic()
        flood = Flood(listen, packets, rate=rate, seconds=seconds)
        every_core(flood.process.pid)  # run.py pins this process; the sender is a peer
        sent, _ = flood.wait()
        stop = time.monotonic()
        rss_after = _rss_mb(bridge.pid)
        _, stderr = bridge.communicate(timeout=60)
    finally:
        if bridge.poll() is None:
            bridge.kill()
        counter.close()
    received = int(re.search(r"received (\d+) packets", stderr).group(1))
    dropped_match = re.search(r"dropped (\d+) packets", stderr)
    dropped = int(dropped_match.group(1)) if dropped_match else 0  # before the input budget
    during = counter.between(start + 0.2, stop)
    gaps = np.diff([start + 0.2, *during, stop])
    result = {"frames/s": len(during) / per_frame / (stop - start - 0.2),
              "longest gap ms": float(gaps.max()) * 1e3,
              "parsed/s": (received - dropped) / (stop - start),
              "dropped/s": dropped / (stop - start),
              "sent/s": sent / (stop - start),
              "rss growth MB": rss_after - rss_before}
    print(f"    flood {kind}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
    print("    " + "\n    ".join(stderr.strip().splitlines()))
    return result


def _suspicion_beat():
    from facs_rig.io.timeline_files import load_timeline_argument
    from facs_rig.resources import load_vocabulary
    vocabulary = load_vocabulary()
    path = HERE.parent / "examples" / "suspicion_beat.notes"
    return load_timeline_argument(str(path), vocabulary, hold=2.0, fps=60), vocabulary


def vrchat_rate(rig_name: str, changes_only: bool) -> float:
    """Datagrams per second of the beat sheet on a simulated clock (exact, machine-independent)."""
    from osc_support import FakeClock, RecordingTransport

    from facs_rig.io.osc.stream import FaceStream
    from facs_rig.io.rig_files import load_rig

    timeline, vocabulary = _suspicion_beat()
    fake = FakeClock()
    stream = FaceStream(load_rig(rig_name), "127.0.0.1:9", fps=60, clock=fake, sleep=fake.sleep,
                        transport=RecordingTransport(), vocabulary=vocabulary,
                        protocol=ProtocolOptions(protocol="vrchat", changes_only=changes_only))
    summary = stream.play(timeline)
    rate = stream.datagrams / (summary.clock.frames / 60)
    print(f"    vrchat {rig_name} {'changes only' if changes_only else 'every frame'}: "
          f"{stream.datagrams} datagrams in {summary.clock.frames} frames + neutral")
    return rate


_LOSS_RESULTS: dict[tuple[bool, bool], float] = {}


def vrchat_loss(quick: bool, changes_only: bool) -> float:
    """Messages a python-osc server on this machine loses while the unified rig's beat sheet
    plays in real time at 60 fps (the receiver issue 11 point 3 measured)."""
    if (quick, changes_only) in _LOSS_RESULTS:
        return _LOSS_RESULTS[quick, changes_only]
    from osc_support import OscRecorder

    from facs_rig.io.osc.stream import FaceStream
    from facs_rig.io.rig_files import load_rig

    timeline, vocabulary = _suspicion_beat()
    with OscRecorder() as receiver:
        stream = FaceStream(load_rig("unified"), f"127.0.0.1:{receiver.port}", fps=60,
                            vocabulary=vocabulary,
                            protocol=ProtocolOptions(protocol="vrchat", changes_only=changes_only))
        with stream:
            stream.play(timeline, duration=2.0 if quick else None)
        sent = stream.datagrams
        time.sleep(1.0)
        received = len(receiver.snapshot())
    print(f"    vrchat unified {'changes only' if changes_only else 'every frame'} to python-osc: "
          f"{received} of {sent} received")
    _LOSS_RESULTS[quick, changes_only] = float(sent - received)
    return _LOSS_RESULTS[quick, changes_only]


def _flood_benchmarks(quick: bool, kind: str, label: str) -> list[Benchmark]:
    def measure(key: str):
        return lambda: bridge_flood(quick, kind)[key]

    # Targets: the 60 fps output survives (57 allows the clock's skips on a busy machine), the
    # budget parses at least one packet a frame, and memory stays flat.
    return [
        Benchmark(f"OSC: bridge output under {label} flood", "frames/s", 57.0, "higher",
                  measure("frames/s")),
        Benchmark(f"OSC: bridge longest output gap, {kind} flood", "ms", 50.0, "lower",
                  measure("longest gap ms")),
        Benchmark(f"OSC: bridge input parsed under {kind} flood", "packets/s", 60.0, "higher",
                  measure("parsed/s")),
        Benchmark(f"OSC: bridge memory growth, {kind} flood", "MB", 20.0, "lower",
                  measure("rss growth MB")),
    ]


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
        Benchmark("OSC: VRChat unified, every value every frame (before)", "datagrams/s", 1e4,
                  "lower",
                  lambda: vrchat_rate("unified", False)),
        Benchmark("OSC: VRChat unified, changed values only", "datagrams/s", 600.0, "lower",
                  lambda: vrchat_rate("unified", True)),
        Benchmark("OSC: VRChat arkit, every value every frame (before)", "datagrams/s", 1e4,
                  "lower",
                  lambda: vrchat_rate("arkit", False)),
        Benchmark("OSC: VRChat arkit, changed values only", "datagrams/s", 600.0, "lower",
                  lambda: vrchat_rate("arkit", True)),
        Benchmark("OSC: VRChat unified every frame, lost by python-osc (before)", "messages",
                  1e5, "lower", lambda: vrchat_loss(quick, False)),
        Benchmark("OSC: VRChat unified changes only, lost by python-osc", "messages", 0.0,
                  "lower", lambda: vrchat_loss(quick, True)),
    ] + _flood_benchmarks(quick, "garbage", "10k garbage/s") + _flood_benchmarks(
        quick, "valid", "1k valid bundles/s")
