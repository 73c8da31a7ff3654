"""Drive a rig live through the AU bridge from any OSC sender (here python-osc's client).

Run: python examples/stream_bridge_client.py

Starts ``AUBridge`` (what ``facs-rig bridge`` runs) on loopback, sends it AU values the way a
tracker, TouchDesigner or a Max patch would (``/facs/au/12 f``, ``/facs/au/12/L f``,
``/facs/code s``), plus one malformed packet, and prints what the bridge forwarded to a receiver.
"""

import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from facs_rig.io.osc.bridge import AUBridge
from facs_rig.io.rig_files import load_rig

# A receiver standing in for VSeeFace & co.: keep the latest value of each blendshape.
latest = {}
dispatcher = Dispatcher(strict_timing=False)  # never sleep on bundle time tags
dispatcher.map("/VMC/Ext/Blend/Val", lambda address, name, value: latest.__setitem__(name, value))
receiver = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
threading.Thread(target=receiver.serve_forever, daemon=True).start()

bridge = AUBridge(load_rig("arkit"), "127.0.0.1:0", f"127.0.0.1:{receiver.server_address[1]}",
                  fps=60)
worker = threading.Thread(target=bridge.run, kwargs={"duration": 10.0})
worker.start()

tracker = SimpleUDPClient(bridge.address.host, bridge.address.port)
for address, value in [("/facs/au/12/L", 0.8), ("/facs/au/26", 0.4),
                       ("/facs/au/12", float("nan")),   # ignored, counted
                       ("/facs/code", "1+2+5B")]:       # surprise brows
    tracker.send_message(address, value)
    time.sleep(0.15)
    shown = {name: round(v, 2) for name, v in sorted(latest.items()) if v > 0.01}
    print(f"after {address} {value!r}: {shown}")
tracker._sock.sendto(b"not OSC", (bridge.address.host, bridge.address.port))
time.sleep(0.1)

bridge.stop()
worker.join()
time.sleep(0.2)  # let the receiver thread handle the neutral frame
receiver.shutdown()
print(f"bridge: {bridge.counters.line()}")
print(f"after stopping (neutral frame): {sum(v > 0 for v in latest.values())} non-zero blendshapes")
