"""Helpers shared by the OSC tests: a tiny linear rig, a simulated clock, receivers on loopback."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from facs_rig.core.channels import Channel


@dataclass(frozen=True)
class LinearRig:
    """A stand-in rig profile: each channel drives some targets linearly (clipped to 0-1)."""

    name: str
    targets: tuple[str, ...]
    mapping: dict = field(default_factory=dict)  # Channel -> ((target index, gain), ...)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self.mapping)


def linear_mixer(values, rig: LinearRig) -> np.ndarray:
    weights = np.zeros(len(rig.targets), dtype=np.float32)
    for channel, value in values.items():
        for target, gain in rig.mapping.get(channel, ()):
            weights[target] += gain * value
    return np.clip(weights, 0.0, 1.0)


SMILE_RIG = LinearRig(
    "arkit",
    ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight", "jawOpen"),
    {Channel(12): ((0, 1.0), (1, 1.0)), Channel(12, "L"): ((0, 1.0),),
     Channel(12, "R"): ((1, 1.0),), Channel(6): ((2, 0.8), (3, 0.8)), Channel(26): ((4, 1.0),)},
)


class FakeClock:
    """Simulated monotonic time: ``sleep`` advances it (plus a fixed oversleep), reads tick by
    ``read_step`` so a busy-wait terminates."""

    def __init__(self, *, oversleep: float = 0.0, read_step: float = 1e-6, start: float = 1000.0):
        self.now = start
        self.oversleep = oversleep
        self.read_step = read_step
        self.sleeps: list[float] = []
        self.stall_at: dict[int, float] = {}

    def __call__(self) -> float:
        self.now += self.read_step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.oversleep


class RecordingTransport:
    """Keeps copies of every frame's packets instead of sending them."""

    def __init__(self):
        self.frames: list[list[bytes]] = []
        self.stats: list = []

    def send(self, packets) -> None:
        self.frames.append([bytes(p) for p in packets])

    def close(self) -> None:
        pass


class OscRecorder:
    """A python-osc ThreadingOSCUDPServer on 127.0.0.1:0 recording (address, args) in order."""

    def __init__(self):
        self.messages: list[tuple[str, tuple]] = []
        self.lock = threading.Lock()
        dispatcher = Dispatcher(strict_timing=False)
        dispatcher.set_default_handler(self._record)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, address, *args):
        with self.lock:
            self.messages.append((address, args))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[tuple[str, tuple]]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 10.0) -> list[tuple[str, tuple]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.snapshot()
            if predicate(messages):
                return messages
            time.sleep(0.01)
        raise AssertionError(f"timed out; received {len(self.snapshot())} messages")


def blend_frames(messages):
    """Split received (address, args) pairs into VMC frames at each Apply: [{name: value}, ...]."""
    frames, current = [], {}
    for address, args in messages:
        if address == "/VMC/Ext/Blend/Val":
            current[args[0]] = args[1]
        elif address == "/VMC/Ext/Blend/Apply":
            frames.append(current)
            current = {}
    return frames


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_OSCDUMP_TIMESTAMP = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8} ")


class OscDump:
    """liblo's ``oscdump`` on a free loopback port, its lines collected by a reader thread."""

    def __init__(self, executable: str):
        self.port = free_udp_port()
        self.process = subprocess.Popen([executable, "-L", str(self.port)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, bufsize=1)
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self._wait_ready()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # Strip the time tag oscdump prints before bundled messages, and its trailing space.
            self.lines.append(_OSCDUMP_TIMESTAMP.sub("", line.rstrip("\n")).rstrip())

    def _wait_ready(self, timeout: float = 10.0) -> None:
        from facs_rig.io.osc.encoding import encode_message
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                probe.sendto(encode_message("/probe"), ("127.0.0.1", self.port))
                time.sleep(0.05)
                if "/probe" in self.lines:
                    return
        finally:
            probe.close()
        self.close()
        raise AssertionError("oscdump did not start")

    def wait_lines(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages()) < count:
            time.sleep(0.02)
        return self.messages()

    def messages(self) -> list[str]:
        return [line for line in list(self.lines) if line != "/probe"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def read_until(sock: socket.socket, timeout: float) -> list[bytes]:
    packets, deadline = [], time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], remaining)
        if not ready:
            break
        packets.append(sock.recv(65536))
    return packets


_FLOOD_SCRIPT = """
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[5]
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
data, packets = open(path, "rb").read(), []
while data:
    size = int.from_bytes(data[:4], "big")
    packets.append(data[4:4 + size])
    data = data[4 + size:]
sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
sock.setblocking(False)
start, sent, dropped = time.monotonic(), 0, 0
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate) + 1
    while sent < due:
        try:
            sock.sendto(packets[sent % len(packets)], (host, port))
        except (BlockingIOError, ConnectionRefusedError):
            dropped += 1
        sent += 1
    time.sleep(0.0005)
print(sent, dropped)
"""


class Flood:
    """A loopback sender in its own process: ``packets`` in turn at ``rate`` per second for
    ``seconds`` (so at most ``rate * seconds`` datagrams, then it exits)."""

    def __init__(self, port: int, packets: list[bytes], *, rate: float, seconds: float,
                 host: str = "127.0.0.1"):
        import os
        import sys
        import tempfile
        handle, self._path = tempfile.mkstemp(suffix=".flood")
        with os.fdopen(handle, "wb") as file:
            file.write(b"".join(len(packet).to_bytes(4, "big") + packet for packet in packets))
        self.seconds = seconds
        self.process = subprocess.Popen(
            [sys.executable, "-c", _FLOOD_SCRIPT, host, str(port), str(rate), str(seconds),
             self._path], stdout=subprocess.PIPE, text=True)

    def wait(self) -> tuple[int, int]:
        """(datagrams sent, datagrams the sender's own buffer refused)."""
        import os
        try:
            out, _ = self.process.communicate(timeout=self.seconds + 30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.unlink(self._path)
        sent, dropped = out.split()
        return int(sent), int(dropped)


class FrameCounter:
    """A raw UDP socket on loopback that records the arrival time of every datagram."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.times: list[float] = []
        self.last: bytes = b""
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                self.last = self.sock.recv(65536)
                self.times.append(time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()

    def between(self, start: float, stop: float) -> list[float]:
        return [t for t in self.times if start <= t <= stop]
