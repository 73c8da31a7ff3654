"""Puppet a face live from your own script: push one frame of AU values per tick of the clock.

Run: python examples/stream_puppet.py [HOST:PORT]

Without an argument the frames go to a tiny receiver started here on loopback, which counts
what arrives; give the address of a VMC receiver (VSeeFace, VNyan, Warudo, EVMC4U, VMC4B:
usually 127.0.0.1:39539) to watch the character smile, turn its head and look around.
"""

import math
import socket
import sys
import threading

from facs_rig.io.osc import FaceStream, decode_packet
from facs_rig.io.rig_files import load_rig

names, frames = set(), []


def receive(sock: socket.socket) -> None:
    """Count the frames that arrive (a VMC frame ends with /VMC/Ext/Blend/Apply)."""
    try:
        while True:
            for message in decode_packet(sock.recv(65536)):
                if message.address == "/VMC/Ext/Blend/Val":
                    names.add(message.args[0])
                elif message.address == "/VMC/Ext/Blend/Apply":
                    frames.append(1)
    except TimeoutError:
        pass


listener = None
if len(sys.argv) > 1:
    destination = sys.argv[1]
else:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    destination = f"127.0.0.1:{receiver.getsockname()[1]}"
    listener = threading.Thread(target=receive, args=(receiver,))
    listener.start()

rig = load_rig("arkit")
with FaceStream(rig, destination, fps=60) as stream:
    for tick in stream.ticks(duration=1.5):
        phase = 2 * math.pi * tick.time / 1.5
        stream.push({
            "AU12": 0.5 - 0.5 * math.cos(phase),          # smile in and out
            "AU6": 0.3 - 0.3 * math.cos(phase),           # with the cheeks
            "AU52": max(0.0, math.sin(phase)) * 0.5,      # head turns right, then back
            "AU61": max(0.0, -math.sin(phase)),           # eyes glance left
        })
summary = stream.summary()
print(f"sent to {destination}: {summary.clock.line()}")

if listener is not None:
    listener.join()
    print(f"the local receiver got {len(frames)} frames (the last one neutral) of "
          f"{len(names)} blendshapes, e.g. {', '.join(sorted(names)[:4])}")
