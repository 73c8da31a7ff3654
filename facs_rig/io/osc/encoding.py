"""OSC 1.0 encoding and decoding, exact to the byte, plus precompiled frame packets.

Wire format (OSC 1.0 specification, opensoundcontrol.stanford.edu/spec-1_0, as python-osc
implements it): numbers are big-endian; strings are UTF-8, NUL-terminated
and padded with NULs to a multiple of 4 bytes; a message is the address, the type-tag string
(starting with ``,``) and the arguments; a bundle is ``#bundle\\0``, an 8-byte NTP time tag and
elements, each an int32 size followed by a message or a bundle.

Three layers:

* :func:`encode_message` / :func:`encode_bundle` build packets from Python values. Unlike
  python-osc, every real number (``float``, ``numpy.float32``, ``numpy.float64``) becomes an OSC
  float32 ``f``: receivers such as EVMC4U silently drop a blendshape value sent as an int
  (EVMC4U ``ExternalReceiver.cs`` accepts only ``string, float``), and python-osc rejects
  ``numpy.float32`` outright (its ``osc_message_builder`` type checks).
* :class:`FramePackets` is the live path: the packets of one frame are laid out once, and each
  frame only the float32 slots are overwritten in place through a numpy byte view, so a 52-target
  VMC frame costs a few microseconds instead of python-osc's 400-700 µs (issue 6 point 7;
  ``benchmarks/run.py --only OSC``: 7.4 µs against 553 µs, 75 times faster). That is why sending
  keeps this encoder, while the bridge *receives* with python-osc's parser
  (:func:`facs_rig.io.osc.bridge.parse_packet`).
* :func:`decode_packet` is a strict decoder of every OSC 1.0 type, used to print ``--dry-run``
  frames and by the tests as the byte-exact oracle: any bytes either decode to messages or
  raise :class:`~facs_rig.errors.OscError`, never another exception.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from facs_rig.errors import OscError

__all__ = [
    "BUNDLE_HEADER",
    "IMMEDIATELY",
    "MAX_PACKET_BYTES",
    "FramePackets",
    "MessageTemplate",
    "OscMessage",
    "Slot",
    "compile_frame",
    "decode_packet",
    "encode_bundle",
    "encode_message",
    "encode_string",
    "format_message",
    "pack_bundles",
]

#: NTP time tag 1: "immediately" (OSC 1.0, Time Tags); python-osc writes its IMMEDIATELY this way.
IMMEDIATELY = 1
#: The 8-byte bundle marker ``#bundle`` plus its NUL terminator.
BUNDLE_HEADER = b"#bundle\x00"
#: The default bundle limit: a UDP payload that never fragments. VMC asks for bundles "within an
#: appropriate size (1500 bytes or less)" (VMC marionette spec), but 1,500 is the Ethernet/Wi-Fi link
#: MTU, not a UDP payload: IPv4 leaves 1500 - 20 - 8 = 1,472 bytes and IPv6 1,452, and a larger
#: datagram is fragmented (one lost fragment loses the whole bundle). IPv6 guarantees every link
#: carries 1,280-byte packets (RFC 8200 §5), so 1280 - 40 (IPv6) - 8 (UDP) = 1,232 bytes cross
#: any IPv6 path unfragmented, and any IPv4 link of MTU >= 1,260: Ethernet and Wi-Fi (1500),
#: PPPoE (1492), WireGuard (1420) and Tailscale (1280, a common way to reach a remote VRChat
#: or VMC machine). DNS chose the same 1,232 for the same reason (DNS Flag Day 2020). The price
#: is one more datagram per frame for the larger rigs (52 ARKit shapes: 3 bundles, not 2).
MAX_PACKET_BYTES = 1232
#: Nesting limit of bundles when decoding, so a hostile packet cannot recurse without bound.
MAX_BUNDLE_DEPTH = 8

_INT32 = struct.Struct(">i")
_UINT64 = struct.Struct(">Q")
_FLOAT32 = struct.Struct(">f")
_FLOAT64 = struct.Struct(">d")
_INT64 = struct.Struct(">q")
_FLOAT32_MAX = 3.4028234663852886e38


# ---------------------------------------------------------------------------------------- encoding

def encode_string(text: str) -> bytes:
    """An OSC string: UTF-8, one NUL, then NULs up to a multiple of 4 bytes.

    >>> encode_string("/W")
    b'/W\\x00\\x00'
    >>> encode_string("abcd")
    b'abcd\\x00\\x00\\x00\\x00'
    """
    raw = text.encode("utf-8")
    if b"\x00" in raw:
        raise OscError(f"OSC string {text!r} contains a NUL character")
    return raw + b"\x00" * (4 - len(raw) % 4)


def _encode_blob(data: bytes) -> bytes:
    return _INT32.pack(len(data)) + data + b"\x00" * (-len(data) % 4)


def _argument(value: object, where: str) -> tuple[str, bytes]:
    """Type tag and payload of one argument. Real numbers are always float32 ``f``."""
    if value is None:
        return "N", b""
    if value is True:
        return "T", b""
    if value is False:
        return "F", b""
    if isinstance(value, str):
        return "s", encode_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b", _encode_blob(bytes(value))
    if isinstance(value, (Integral, np.integer)) and not isinstance(value, np.bool_):
        number = int(value)
        if -(2**31) <= number < 2**31:
            return "i", _INT32.pack(number)
        if -(2**63) <= number < 2**63:
            return "h", _INT64.pack(number)
        raise OscError(f"{where}: integer {number} does not fit in 64 bits")
    if isinstance(value, (Real, np.floating)):
        number = float(value)
        # struct refuses finite values beyond float32's range; infinities and NaN encode as is.
        if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
            raise OscError(f"{where}: {number!r} is outside the float32 range")
        return "f", _FLOAT32.pack(number)
    raise OscError(f"{where}: cannot encode {type(value).__name__} {value!r} as an OSC argument")


def encode_message(address: str, *args: object) -> bytes:
    """Encode one OSC message.

    Parameters
    ----------
    address : str
        OSC address; must start with ``/``.
    *args
        ``str`` → ``s``; ``int`` → ``i`` (``h`` beyond 32 bits); any real number, including
        ``numpy.float32`` → ``f``; ``True``/``False``/``None`` → ``T``/``F``/``N``; bytes → ``b``.

    Returns
    -------
    bytes
        The packet; its length is a multiple of 4.

    >>> encode_message("/VMC/Ext/Blend/Apply")
    b'/VMC/Ext/Blend/Apply\\x00\\x00\\x00\\x00,\\x00\\x00\\x00'
    """
    if not isinstance(address, str) or not address.startswith("/"):
        raise OscError(f"OSC address {address!r} must be a string starting with '/'")
    tags, payload = [","], []
    for position, value in enumerate(args):
        tag, data = _argument(value, f"{address} argument {position + 1}")
        tags.append(tag)
        payload.append(data)
    return encode_string(address) + encode_string("".join(tags)) + b"".join(payload)


def encode_bundle(elements: Iterable[bytes], *, time_tag: int = IMMEDIATELY) -> bytes:
    """Encode an OSC bundle of already-encoded messages or bundles.

    Parameters
    ----------
    elements : iterable of bytes
        Encoded messages (or nested bundles), in order.
    time_tag : int
        64-bit NTP time tag; the default 1 means "immediately".
    """
    parts = [BUNDLE_HEADER, _UINT64.pack(time_tag)]
    for element in elements:
        parts.append(_INT32.pack(len(element)))
        parts.append(bytes(element))
    return b"".join(parts)


def pack_bundles(messages: Sequence[bytes], *, max_bytes: int = MAX_PACKET_BYTES) -> list[bytes]:
    """Split encoded messages, in order, into as few bundles of at most ``max_bytes`` as possible.

    Greedy and order-preserving, so a VMC ``/VMC/Ext/Blend/Apply`` given last stays last, in the
    last bundle (python-osc never splits bundles for you).

    Raises
    ------
    OscError
        When one message alone does not fit in a bundle of ``max_bytes``.
    """
    return [encode_bundle(messages[start:stop]) for start, stop in _bundle_ranges(
        [len(message) for message in messages], max_bytes)]


def _bundle_ranges(sizes: Sequence[int], max_bytes: int) -> list[tuple[int, int]]:
    header = len(BUNDLE_HEADER) + 8
    ranges, start, used = [], 0, header
    for index, size in enumerate(sizes):
        if header + 4 + size > max_bytes:
            raise OscError(f"an OSC message of {size} bytes does not fit in a bundle of "
                           f"{max_bytes} bytes")
        if used + 4 + size > max_bytes:
            ranges.append((start, index))
            start, used = index, header
        used += 4 + size
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


# ------------------------------------------------------------------------- precompiled frame packets

@dataclass(frozen=True, slots=True)
class Slot:
    """A float32 argument rewritten every frame: ``index`` into the frame vector."""

    index: int


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """One message of a frame layout: fixed arguments and :class:`Slot` placeholders."""

    address: str
    args: tuple = ()


class FramePackets:
    """The packets of one frame, laid out once; each frame only the float32 slots change.

    All packets share one ``bytearray``. :meth:`encode` converts the frame vector to big-endian
    float32 and scatters its bytes into the slot positions with one numpy fancy assignment, so
    the cost is a few microseconds whatever the number of targets.

    Attributes
    ----------
    packets : tuple of memoryview
        The datagrams to send, in order (views: they change on every :meth:`encode`).
    n_slots : int
        Length of the frame vector :meth:`encode` expects.
    slot_packets, slot_indices : (n_occurrences,) intp arrays
        For every slot occurrence, the packet that carries it and its frame-vector index (so
        a sender can tell which packets a change of the frame vector touches).
    """

    def __init__(self, buffer: bytearray, bounds: Sequence[tuple[int, int]],
                 slot_offsets: Sequence[int], slot_indices: Sequence[int], n_slots: int):
        self._buffer = buffer
        view = memoryview(buffer)
        self.packets = tuple(view[start:stop] for start, stop in bounds)
        self.n_slots = int(n_slots)
        self._bytes = np.frombuffer(buffer, dtype=np.uint8)
        offsets = np.asarray(slot_offsets, dtype=np.intp)
        starts = np.asarray([start for start, _ in bounds], dtype=np.intp)
        self.slot_packets = np.searchsorted(starts, offsets, side="right") - 1
        self.slot_indices = np.asarray(slot_indices, dtype=np.intp)
        #: (4 * n_occurrences,) positions of every slot byte, in slot-occurrence order.
        self._byte_index = (offsets[:, None] + np.arange(4)).ravel()
        self._gather = np.asarray(slot_indices, dtype=np.intp)
        if self._gather.size and (self._gather.min() < 0 or self._gather.max() >= self.n_slots):
            raise OscError("frame layout refers to a slot outside the frame vector")
        self._scratch = np.zeros(self._gather.size, dtype=">f4")
        self._scratch_bytes = self._scratch.view(np.uint8)

    @property
    def n_bytes(self) -> int:
        """Total bytes of all packets of one frame."""
        return len(self._buffer)

    def encode(self, values: np.ndarray) -> tuple[memoryview, ...]:
        """Write one frame vector into the packets and return them.

        Parameters
        ----------
        values : (n_slots,) array_like of float
            The frame vector; converted to float32 (non-finite values are sent as they are, so
            callers sanitise first).

        Returns
        -------
        tuple of memoryview
            :attr:`packets`, now holding this frame.
        """
        values = np.asarray(values)
        if values.shape != (self.n_slots,):
            raise OscError(f"frame vector has shape {values.shape}, expected ({self.n_slots},)")
        self._scratch[:] = values[self._gather]
        self._bytes[self._byte_index] = self._scratch_bytes
        return self.packets

    def to_bytes(self) -> list[bytes]:
        """Copies of the current packets (for tests and printing)."""
        return [bytes(packet) for packet in self.packets]


def _encode_template(template: MessageTemplate) -> tuple[bytes, list[tuple[int, int]]]:
    """Message bytes with zeros in the slots, and ``(offset in message, slot index)`` pairs."""
    args = [0.0 if isinstance(arg, Slot) else arg for arg in template.args]
    message = encode_message(template.address, *args)
    slots = [(position, arg.index) for position, arg in enumerate(template.args)
             if isinstance(arg, Slot)]
    if not slots:
        return message, []
    # Walk the payload to find each argument's offset from the encoded size of each argument.
    offset = len(encode_string(template.address))
    tags = message[offset + 1:message.index(b"\x00", offset)].decode("ascii")
    offset += len(encode_string("," + tags))
    starts = []
    for arg in args:
        starts.append(offset)
        offset += len(_argument(arg, template.address)[1])
    return message, [(starts[position], index) for position, index in slots]


def compile_frame(templates: Sequence[MessageTemplate], n_slots: int, *, bundle: bool = True,
                  max_bytes: int = MAX_PACKET_BYTES) -> FramePackets:
    """Lay out the packets of a frame once.

    Parameters
    ----------
    templates : sequence of MessageTemplate
        The frame's messages in sending order.
    n_slots : int
        Length of the frame vector; every :class:`Slot` index must be below it.
    bundle : bool
        Pack the messages greedily into bundles of at most ``max_bytes`` (order kept, so the
        last message stays last); otherwise send each message as its own datagram.
    max_bytes : int
        Bundle size limit (default :data:`MAX_PACKET_BYTES`, 1,232: never fragmented).
    """
    encoded = [_encode_template(template) for template in templates]
    messages = [message for message, _ in encoded]
    buffer = bytearray()
    bounds: list[tuple[int, int]] = []
    slot_offsets: list[int] = []
    slot_indices: list[int] = []

    def add_message(message_index: int) -> None:
        message, slots = encoded[message_index]
        base = len(buffer)
        buffer.extend(message)
        for offset, index in slots:
            slot_offsets.append(base + offset)
            slot_indices.append(index)

    if bundle:
        for start, stop in _bundle_ranges([len(m) for m in messages], max_bytes):
            packet_start = len(buffer)
            buffer.extend(BUNDLE_HEADER + _UINT64.pack(IMMEDIATELY))
            for message_index in range(start, stop):
                buffer.extend(_INT32.pack(len(messages[message_index])))
                add_message(message_index)
            bounds.append((packet_start, len(buffer)))
    else:
        for message_index, message in enumerate(messages):
            if len(message) > max_bytes:
                raise OscError(f"OSC message {templates[message_index].address} is "
                               f"{len(message)} bytes, over the {max_bytes}-byte limit")
            packet_start = len(buffer)
            add_message(message_index)
            bounds.append((packet_start, len(buffer)))
    return FramePackets(buffer, bounds, slot_offsets, slot_indices, n_slots)


# ---------------------------------------------------------------------------------------- decoding

@dataclass(frozen=True, slots=True)
class OscMessage:
    """A decoded OSC message.

    Attributes
    ----------
    address : str
        The address pattern.
    type_tags : str
        Type tags without the leading comma (``"sf"``); ``[``/``]`` delimit arrays.
    args : tuple
        Python values: ``i``/``h`` int, ``f``/``d`` float, ``s``/``S``/``c`` str, ``b`` bytes,
        ``T``/``F`` bool, ``N``/``I`` None, ``t`` int (NTP), ``r``/``m`` int, arrays as tuples.
    """

    address: str
    type_tags: str
    args: tuple = ()


def _read_string(data: bytes, offset: int, what: str) -> tuple[str, int]:
    end = data.find(b"\x00", offset)
    if end < 0:
        raise OscError(f"{what} at byte {offset} is not NUL-terminated")
    stop = offset + ((end - offset) // 4 + 1) * 4
    if stop > len(data):
        raise OscError(f"{what} at byte {offset} is not padded to a multiple of 4 bytes")
    try:
        text = data[offset:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscError(f"{what} at byte {offset} is not valid UTF-8 ({exc.reason})") from None
    return text, stop


def _read_fixed(data: bytes, offset: int, size: int, tag: str) -> int:
    if offset + size > len(data):
        raise OscError(f"argument '{tag}' at byte {offset} runs past the end of the packet "
                       f"({len(data)} bytes)")
    return offset + size


def _decode_message(data: bytes) -> OscMessage:
    address, offset = _read_string(data, 0, "OSC address")
    if not address.startswith("/"):
        raise OscError(f"OSC address {address[:40]!r} does not start with '/'")
    if offset == len(data):
        # OSC 1.0 asks receivers to accept messages from old senders without a type-tag string.
        return OscMessage(address, "", ())
    tags, offset = _read_string(data, offset, "type-tag string")
    if not tags.startswith(","):
        raise OscError(f"type-tag string {tags[:40]!r} of {address} does not start with ','")
    tags = tags[1:]
    stack: list[list] = [[]]
    for tag in tags:
        value: object
        if tag in "if":
            stop = _read_fixed(data, offset, 4, tag)
            value = (_INT32 if tag == "i" else _FLOAT32).unpack_from(data, offset)[0]
        elif tag in "hdt":
            stop = _read_fixed(data, offset, 8, tag)
            value = {"h": _INT64, "d": _FLOAT64, "t": _UINT64}[tag].unpack_from(data, offset)[0]
        elif tag in "rm":
            stop = _read_fixed(data, offset, 4, tag)
            value = int.from_bytes(data[offset:stop], "big")
        elif tag == "c":
            stop = _read_fixed(data, offset, 4, tag)
            code = _INT32.unpack_from(data, offset)[0]
            if not 0 <= code <= 0x10FFFF:
                raise OscError(f"char argument {code} of {address} is not a code point")
            value = chr(code)
        elif tag in "sS":
            value, stop = _read_string(data, offset, f"string argument of {address}")
        elif tag == "b":
            _read_fixed(data, offset, 4, tag)
            size = _INT32.unpack_from(data, offset)[0]
            if size < 0:
                raise OscError(f"blob argument of {address} has a negative size {size}")
            stop = offset + 4 + size + (-size % 4)
            _read_fixed(data, offset, stop - offset, tag)
            value = bytes(data[offset + 4:offset + 4 + size])
        elif tag in "TFNI":
            stop, value = offset, {"T": True, "F": False, "N": None, "I": None}[tag]
        elif tag == "[":
            stack.append([])
            continue
        elif tag == "]":
            if len(stack) == 1:
                raise OscError(f"type tags ,{tags} of {address} close an array never opened")
            closed = tuple(stack.pop())
            stack[-1].append(closed)
            continue
        else:
            raise OscError(f"unknown OSC type tag {tag!r} in ,{tags} of {address}")
        stack[-1].append(value)
        offset = stop
    if len(stack) != 1:
        raise OscError(f"type tags ,{tags} of {address} leave an array open")
    if offset != len(data):
        raise OscError(f"{len(data) - offset} unexpected byte(s) after the arguments of {address}")
    return OscMessage(address, tags, tuple(stack[0]))


def _decode(data: bytes, depth: int, out: list[OscMessage]) -> None:
    if not data:
        raise OscError("empty OSC packet")
    if len(data) % 4:
        raise OscError(f"OSC packet of {len(data)} bytes is not a multiple of 4 bytes")
    if data[:1] == b"/":
        out.append(_decode_message(data))
        return
    if data[:8] != BUNDLE_HEADER:
        raise OscError(f"OSC packet starts with {bytes(data[:8])!r}: neither '/' nor '#bundle'")
    if depth >= MAX_BUNDLE_DEPTH:
        raise OscError(f"OSC bundles nested deeper than {MAX_BUNDLE_DEPTH} levels")
    if len(data) < 16:
        raise OscError("OSC bundle is shorter than its 16-byte header")
    # The time tag is read past on purpose: frames are applied on arrival, never scheduled.
    offset = 16
    while offset < len(data):
        _read_fixed(data, offset, 4, "bundle element size")
        size = _INT32.unpack_from(data, offset)[0]
        offset += 4
        if size <= 0 or size % 4 or offset + size > len(data):
            raise OscError(f"OSC bundle element at byte {offset - 4} has an invalid size {size}")
        _decode(data[offset:offset + size], depth + 1, out)
        offset += size


def decode_packet(data: bytes | bytearray | memoryview) -> list[OscMessage]:
    """Decode one datagram: a message or a (possibly nested) bundle, flattened in order.

    Raises
    ------
    OscError
        For every malformed packet (and only that): truncation, bad padding, bad sizes, unknown
        type tags, invalid UTF-8, too deep nesting. A bundle with any bad element is rejected
        whole, so a frame is never half-applied.
    """
    messages: list[OscMessage] = []
    _decode(bytes(data), 0, messages)
    return messages


def format_message(message: OscMessage) -> str:
    """One line for a message, in the spirit of liblo's ``oscdump``: address, tags, arguments.

    >>> format_message(OscMessage("/VMC/Ext/Blend/Val", "sf", ("Joy", 0.5)))
    '/VMC/Ext/Blend/Val sf "Joy" 0.500000'
    """
    parts = [message.address, message.type_tags]
    for value in message.args:
        parts.append(_format_value(value))
    return " ".join(part for part in parts if part != "")


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "nil"}[value]
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, tuple):
        return "[" + " ".join(_format_value(item) for item in value) + "]"
    if isinstance(value, bytes):
        return "blob:" + value.hex()
    return str(value)
