"""Live output over OSC: exact encoding, receiver protocols, the frame clock, streams, the AU bridge.

* :mod:`~facs_rig.io.osc.encoding`: OSC messages and bundles to the byte, precompiled frame packets
  patched in place, and a tolerant decoder.
* :mod:`~facs_rig.io.osc.protocols`: VMC, address-template, Face Cap and VRChat layouts; receiver
  naming conventions; head and eye AUs as Unity bone rotations.
* :mod:`~facs_rig.io.osc.clock`: the drift-free frame clock.
* :mod:`~facs_rig.io.osc.stream`: UDP senders and :class:`FaceStream`, the Python streaming API.
* :mod:`~facs_rig.io.osc.bridge`: the live AU bridge (OSC AU values in, mixed rig frames out).

See ``docs/osc.md``.
"""

from facs_rig.io.osc.bridge import AUBridge, BridgeCounters
from facs_rig.io.osc.clock import ClockSummary, FrameClock, Tick
from facs_rig.io.osc.encoding import (
    OscMessage,
    compile_frame,
    decode_packet,
    encode_bundle,
    encode_message,
    pack_bundles,
)
from facs_rig.io.osc.protocols import BoneLimits, FrameLayout, ProtocolOptions, receiver_names
from facs_rig.io.osc.stream import FaceStream, StreamSummary, UdpSender, parse_endpoint

__all__ = [
    "AUBridge",
    "BoneLimits",
    "BridgeCounters",
    "ClockSummary",
    "FaceStream",
    "FrameClock",
    "FrameLayout",
    "OscMessage",
    "ProtocolOptions",
    "StreamSummary",
    "Tick",
    "UdpSender",
    "compile_frame",
    "decode_packet",
    "encode_bundle",
    "encode_message",
    "pack_bundles",
    "parse_endpoint",
    "receiver_names",
]
