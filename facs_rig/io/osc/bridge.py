"""The live AU bridge: AU values in over OSC, mixed rig frames out at a fixed rate (issue 6 point 4).

Input addresses (any sender: a tracker, TouchDesigner, a script with python-osc)::

    /facs/au/12 f          AU12 (bilateral) = value, 0-1
    /facs/au/12/L f        AU12 on the subject's left (R: right)
    /facs/code s "6+12C"   replace every AU with the values of a FACS code (intensity letters on
                           the vocabulary's default scale; "0" is the neutral face)
    /facs/reset            every AU back to 0

Numbers may arrive as ``f``, ``d``, ``i`` or ``h``. Everything else is counted and ignored, never
fatal: malformed packets (see :func:`~facs_rig.io.osc.encoding.decode_packet`), unknown addresses
(including AU numbers the vocabulary does not know as moving codes, and sides on AUs FACS codes
bilaterally only), wrong argument types or counts, NaN and infinities, values outside 0-1, and
code strings that do not parse. Bundles are applied on arrival whatever their time tag.

Every ``1 / fps`` seconds the current AU values are mixed with the rig and sent with the same
protocols and clock as ``facs-rig stream``; between frames the bridge waits on its socket, so
input is applied within one frame.
"""

from __future__ import annotations

import ipaddress
import math
import re
import select
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.errors import FacsRigError, OscError
from facs_rig.io.osc.encoding import OscMessage, decode_packet
from facs_rig.io.osc.protocols import ProtocolOptions
from facs_rig.io.osc.stream import (
    Endpoint,
    FaceStream,
    StreamSummary,
    parse_endpoint,
    resolve_udp,
)

__all__ = ["AUBridge", "BridgeCounters", "DEFAULT_LISTEN", "listens_beyond_loopback"]

#: Loopback by default: a bridge accepts anyone's packets, so it is not exposed unless asked.
DEFAULT_LISTEN = "127.0.0.1:9000"
_AU_ADDRESS = re.compile(r"^/facs/au/0*(\d{1,3})(?:/([LRlr]))?$")
_NUMERIC_TAGS = frozenset("ifdh")
_MAX_DATAGRAM = 65536


@dataclass
class BridgeCounters:
    """What the bridge received, and why anything was ignored."""

    packets: int = 0
    messages: int = 0
    applied: int = 0
    malformed: int = 0
    unknown_address: int = 0
    wrong_type: int = 0
    not_finite: int = 0
    out_of_range: int = 0
    bad_code: int = 0

    @property
    def ignored(self) -> int:
        """Messages and packets ignored for any reason."""
        return (self.malformed + self.unknown_address + self.wrong_type + self.not_finite
                + self.out_of_range + self.bad_code)

    def line(self) -> str:
        """One line for the exit summary."""
        return (f"received {self.packets} packets, {self.messages} messages, {self.applied} applied; "
                f"ignored {self.malformed} malformed packets, {self.unknown_address} unknown "
                f"addresses, {self.wrong_type} wrong argument types, {self.not_finite} NaN/inf, "
                f"{self.out_of_range} out of range (0-1), {self.bad_code} bad codes")

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def listens_beyond_loopback(host: str) -> bool:
    """Whether a bound address accepts packets from other machines.

    >>> [listens_beyond_loopback(h) for h in ("127.0.0.1", "::1", "0.0.0.0", "::", "10.0.0.2")]
    [False, False, True, True, True]
    """
    try:
        return not ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # not an IP literal (a bound socket always gives one): be cautious
        return True


class AUBridge:
    """Receive AU values over OSC and forward mixed rig frames at a fixed rate.

    Parameters
    ----------
    rig : RigProfile
        Rig to mix into.
    listen : str
        ``HOST:PORT`` to receive on (default ``127.0.0.1:9000``; port 0 picks a free port, see
        :attr:`address`).
    to : str or sequence of str
        Receivers of the mixed frames.
    fps : float
        Output frame rate.
    protocol : str or ProtocolOptions
        Output protocol (see :class:`FaceStream`).
    precise, reset : bool
        As for :class:`FaceStream`.
    vocabulary : Vocabulary, optional
        Known AUs and code strings (default: bundled).
    transport : optional
        Output transport (default: UDP to ``to``).
    mixer : callable, optional
        One-frame mixer (default :func:`facs_rig.core.mixing.mix_frame`).
    """

    def __init__(self, rig: Any, listen: str = DEFAULT_LISTEN,
                 to: str | Sequence[str] = "127.0.0.1:39539", *, fps: float = 60.0,
                 protocol: str | ProtocolOptions = "vmc", precise: bool = False,
                 reset: bool = True, vocabulary: Any = None, transport: Any = None,
                 mixer: Any = None):
        if vocabulary is None:
            from facs_rig.resources import load_vocabulary
            vocabulary = load_vocabulary()
        self.vocabulary = vocabulary
        self.counters = BridgeCounters()
        self.values: dict[Channel, float] = {}
        self._version = 0
        self._mixed_version = -1
        self._weights = np.zeros(len(rig.targets), dtype=np.float32)
        self._stop = threading.Event()
        endpoint = parse_endpoint(listen, allow_any_port=True)
        try:
            family, kind, proto, address = resolve_udp(endpoint)
        except socket.gaierror as exc:
            raise OscError(f"listen address {endpoint}: cannot resolve host ({exc.strerror})"
                           ) from None
        self._socket = socket.socket(family, kind, proto)
        try:
            self._socket.bind(address)
        except OSError as exc:
            self._socket.close()
            raise OscError(f"cannot listen on {endpoint}: {exc.strerror or exc}") from None
        self._socket.setblocking(False)
        host, port = self._socket.getsockname()[:2]
        #: The bound endpoint (with the real port when 0 was asked).
        self.address = Endpoint(host, port)
        try:
            self.stream = FaceStream(rig, to, fps=fps, protocol=protocol, precise=precise,
                                     reset=reset, vocabulary=vocabulary, transport=transport,
                                     sleep=self._receive_for, mixer=mixer)
        except BaseException:
            self._socket.close()
            raise

    @property
    def exposed(self) -> bool:
        """Whether the bridge listens beyond loopback: anyone who can reach it drives the face."""
        return listens_beyond_loopback(self.address.host)

    # -- input
    def handle_packet(self, data: bytes) -> None:
        """Apply one datagram; anything wrong is counted, never raised."""
        self.counters.packets += 1
        try:
            messages = decode_packet(data)
        except OscError:
            self.counters.malformed += 1
            return
        for message in messages:
            self.handle_message(message)

    def handle_message(self, message: OscMessage) -> None:
        """Apply one decoded message (see the module docstring for the addresses)."""
        counters = self.counters
        counters.messages += 1
        address = message.address
        if address == "/facs/code":
            if message.type_tags not in ("s", "S"):
                counters.wrong_type += 1
                return
            try:
                values = self.vocabulary.channel_values(self.vocabulary.parse(message.args[0]))
            except (FacsRigError, ValueError):
                counters.bad_code += 1
                return
            self._set_all(values)
            counters.applied += 1
            return
        if address == "/facs/reset":
            self._set_all({})
            counters.applied += 1
            return
        match = _AU_ADDRESS.match(address)
        if match is None:
            counters.unknown_address += 1
            return
        au, side = int(match.group(1)), match.group(2)
        unit = self.vocabulary.action_units.get(au)
        if unit is None or not unit.drives or (side and not unit.unilateral):
            counters.unknown_address += 1
            return
        if len(message.type_tags) != 1 or message.type_tags not in _NUMERIC_TAGS:
            counters.wrong_type += 1
            return
        value = float(message.args[0])
        if not math.isfinite(value):
            counters.not_finite += 1
            return
        if not 0.0 <= value <= 1.0:
            counters.out_of_range += 1
            return
        channel = Channel(au, side.upper() if side else None)
        if value == 0.0:
            self.values.pop(channel, None)
        else:
            self.values[channel] = value
        self._version += 1
        counters.applied += 1

    def _set_all(self, values: dict[Channel, float]) -> None:
        self.values = {channel: value for channel, value in values.items() if value}
        self._version += 1

    def _drain(self) -> None:
        while True:
            try:
                data = self._socket.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP errors surfacing on the socket: not a packet
                return
            self.handle_packet(data)

    def _receive_for(self, seconds: float) -> None:
        """The frame clock's sleep: wait on the socket, applying packets as they arrive."""
        if self._stop.is_set():
            return
        readable, _, _ = select.select([self._socket], [], [], max(0.0, seconds))
        if readable:
            self._drain()

    # -- output
    def send_frame(self) -> None:
        """Mix the current AU values (only when they changed) and send one frame."""
        self._drain()
        if self._mixed_version != self._version:
            self._weights = self.stream.mix_frame(self.values)
            self._mixed_version = self._version
        self.stream.send_frame(self._weights, self.values)

    def run(self, *, duration: float | None = None) -> StreamSummary:
        """Forward frames until :meth:`stop`, ``duration`` seconds, or Ctrl-C / SIGTERM.

        The neutral frame is sent at the end (unless ``reset=False``) and the sockets closed.
        The counters are in :attr:`counters`.
        """
        try:
            for _ in self.stream.ticks(duration=duration):
                if self._stop.is_set():
                    break
                self.send_frame()
        except KeyboardInterrupt:
            self.stream.interrupted = True
            raise
        finally:
            self.close()
        return self.stream.summary()

    def stop(self) -> None:
        """Ask :meth:`run` (in another thread) to finish within one frame."""
        self._stop.set()

    def close(self) -> None:
        """Send the neutral frame (if due) and close both sockets."""
        try:
            self.stream.close()
        finally:
            self._socket.close()

    def __enter__(self) -> AUBridge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
