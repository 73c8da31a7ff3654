"""Sending frames over UDP: endpoints, transports and :class:`FaceStream`, the Python streaming API.

A stream never stops because of a receiver (issue 6 point 3): UDP is connectionless, but a
*connected* UDP socket learns of an ICMP "port unreachable" reply and reports it as
``ConnectionRefusedError`` on the next ``send`` (Linux ``udp(7)``, "ERRORS"; Windows reports
``WSAECONNRESET``). Those errors, and any other ``OSError`` of one send, are counted per receiver
and the frame goes on to the other receivers. At the end, on Ctrl-C and on SIGTERM a neutral frame
(every weight 0, bones at rest) is sent so the character does not freeze mid-expression.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from facs_rig.core.channels import Channel, parse_channel, sort_channels
from facs_rig.errors import FacsRigError, FacsRuleError, OscError
from facs_rig.io.osc.clock import ClockSummary, FrameClock
from facs_rig.io.osc.encoding import decode_packet, format_message
from facs_rig.io.osc.protocols import HEAD_EYE_AUS, FrameLayout, ProtocolOptions

__all__ = [
    "ChangeFilter",
    "Endpoint",
    "FaceStream",
    "PacketPrinter",
    "StreamSummary",
    "StreamTerminated",
    "UdpSender",
    "parse_endpoint",
    "terminate_on_sigterm",
]


# --------------------------------------------------------------------------------------- endpoints

@dataclass(frozen=True, slots=True)
class Endpoint:
    """A UDP host and port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_PORT = re.compile(r"[0-9]{1,5}")


def parse_endpoint(text: str | tuple[str, int] | Endpoint, *, default_host: str = "127.0.0.1",
                   allow_any_port: bool = False) -> Endpoint:
    """Read ``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on ``default_host``).

    ``allow_any_port`` accepts port 0 (for listening: the system picks a free port).

    Raises
    ------
    OscError
        Naming the text, when the port is missing or not in 1-65535.
    """
    if isinstance(text, Endpoint):
        return text
    if isinstance(text, tuple):
        host, port_text = text[0], str(text[1])
    else:
        value = str(text).strip()
        if value.startswith("["):
            host, _, rest = value[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif value.count(":") == 1:
            host, port_text = value.split(":")
        elif _PORT.fullmatch(value):
            host, port_text = default_host, value
        else:
            raise OscError(f"endpoint {text!r}: expected HOST:PORT, e.g. 127.0.0.1:39539")
    if not host:
        raise OscError(f"endpoint {text!r}: the host is empty")
    lowest = 0 if allow_any_port else 1
    if not _PORT.fullmatch(port_text) or not lowest <= int(port_text) <= 65535:
        raise OscError(f"endpoint {text!r}: the port must be a number from {lowest} to 65535")
    return Endpoint(host, int(port_text))


def resolve_udp(endpoint: Endpoint) -> tuple[int, int, int, tuple]:
    """``(family, type, proto, sockaddr)`` of an endpoint, IPv4 first.

    ``localhost`` often resolves to ``::1`` first, while most OSC receivers listen on IPv4 only.

    Raises
    ------
    socket.gaierror
        When the host does not resolve.
    """
    results = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_DGRAM)
    family, kind, proto, _, address = min(results, key=lambda r: r[0] != socket.AF_INET)
    return family, kind, proto, address


# -------------------------------------------------------------------------------------- transports

@dataclass
class DestinationStats:
    """Per-receiver send counters."""

    endpoint: Endpoint
    packets: int = 0
    refused: int = 0
    failed: int = 0
    last_error: str = ""


#: Send errors that a live network can recover from: counted per receiver, the stream goes on.
#: Anything else (``EACCES`` for a broadcast address, ``EMSGSIZE``, ``EINVAL``, ...) will fail
#: the same way on every frame, so it is an error naming the receiver.
_TRANSIENT_SEND_ERRORS = frozenset(
    getattr(errno, name) for name in ("ENOBUFS", "EAGAIN", "EWOULDBLOCK", "EINTR", "EHOSTUNREACH",
                                      "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "ECONNRESET")
    if hasattr(errno, name))


class UdpSender:
    """Sends datagrams to one or more receivers; never raises for a receiver's absence.

    One connected UDP socket per receiver, so each ``send`` is one syscall and ICMP errors are
    reported (and counted) per receiver. A receiver that is absent ("port unreachable") or a
    network that hiccups (see ``_TRANSIENT_SEND_ERRORS``) is counted and the stream goes on; an
    endpoint no datagram can ever reach (a broadcast address: "Permission denied") raises
    :class:`OscError` naming it, once, and is skipped afterwards so the other receivers still
    get the neutral frame.

    Broadcast is never asked for (no ``SO_BROADCAST``): the limited broadcast address
    255.255.255.255 is refused before any socket is opened, and a subnet's broadcast address
    is refused by the kernel's ``connect`` (``EACCES``), which names it the same way.
    """

    def __init__(self, destinations: Sequence[str | Endpoint | tuple[str, int]]):
        if not destinations:
            raise OscError("no destination to send to (give at least one HOST:PORT)")
        self.stats: list[DestinationStats] = []
        self._sockets: list[socket.socket] = []
        try:
            for destination in destinations:
                endpoint = parse_endpoint(destination)
                try:
                    family, kind, proto, address = resolve_udp(endpoint)
                except socket.gaierror as exc:
                    raise OscError(f"endpoint {endpoint}: cannot resolve host ({exc.strerror})"
                                   ) from None
                if address[0] == _LIMITED_BROADCAST:
                    raise OscError(f"cannot send to {endpoint}: {_BROADCAST_REFUSED}")
                sock = socket.socket(family, kind, proto)
                self._sockets.append(sock)
                try:
                    sock.connect(address)
                except OSError as exc:
                    raise OscError(_send_error(endpoint, exc)) from None
                self.stats.append(DestinationStats(endpoint))
        except BaseException:
            self.close()
            raise
        self._broken = [False] * len(self._sockets)

    def send(self, packets: Sequence[bytes | memoryview]) -> None:
        """Send every packet to every receiver, counting (not raising) per-receiver errors."""
        fatal = None
        for number, (sock, stats) in enumerate(zip(self._sockets, self.stats)):
            if self._broken[number]:
                continue
            for packet in packets:
                try:
                    sock.send(packet)
                    stats.packets += 1
                except ConnectionRefusedError:
                    # ICMP port unreachable from an earlier datagram: nobody listens (yet).
                    stats.refused += 1
                except OSError as exc:
                    stats.failed += 1
                    stats.last_error = exc.strerror or str(exc)
                    if exc.errno not in _TRANSIENT_SEND_ERRORS:
                        self._broken[number] = True
                        fatal = fatal or _send_error(stats.endpoint, exc)
                        break
        if fatal is not None:
            raise OscError(fatal)

    def close(self) -> None:
        """Close the sockets."""
        for sock in self._sockets:
            sock.close()
        self._sockets = []


#: RFC 919's "limited broadcast" address: every host on the local network.
_LIMITED_BROADCAST = "255.255.255.255"
_BROADCAST_REFUSED = ("a broadcast address (facs-rig sends to one receiver per --to: give each "
                      "receiver's own address)")


def _send_error(endpoint: Endpoint, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EACCES:
        reason += " (a broadcast address? facs-rig sends to one receiver per --to)"
    return f"cannot send to {endpoint}: {reason}"


class PacketPrinter:
    """A transport that prints each message, one line each, instead of sending (``--dry-run``)."""

    def __init__(self, destinations: Sequence[str | Endpoint | tuple[str, int]] = (),
                 file: TextIO | None = None):
        self.stats = [DestinationStats(parse_endpoint(d)) for d in destinations]
        self._file = file
        self.frame = 0

    def send(self, packets: Sequence[bytes | memoryview]) -> None:
        """Decode ``packets`` and write one line per message."""
        out = self._file or sys.stdout
        for packet in packets:
            for message in decode_packet(packet):
                out.write(format_message(message) + "\n")
            for stats in self.stats:
                stats.packets += 1
        out.write(f"# end of frame {self.frame}\n")
        self.frame += 1

    def close(self) -> None:
        """Flush the output."""
        (self._file or sys.stdout).flush()


# ----------------------------------------------------------------------------------------- signals

class StreamTerminated(KeyboardInterrupt):
    """SIGTERM arrived during a stream (raised like Ctrl-C so ``finally`` blocks run)."""

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`StreamTerminated` in the main thread.

    Python's default SIGTERM action kills the process without running ``finally`` blocks, so no
    neutral frame would be sent. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise StreamTerminated(signum)

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------- changes-only frames

class ChangeFilter:
    """Picks the datagrams of a frame worth sending: those whose values changed.

    A datagram goes out when any of its values differs by more than ``tolerance`` from the
    value last *sent* in it (not last computed, so a slow drift is sent once it adds up), or
    has just reached exactly 0 or 1 (so a face comes fully back to rest); every datagram goes
    out on the first frame of a layout and every ``refresh`` seconds, so a receiver that missed
    a datagram or started late catches up (issue 11 point 3: 102 datagrams per frame at 60 fps
    overload receivers; a python-osc one on the same machine lost 494 of 6,936).
    """

    def __init__(self, tolerance: float, refresh: float):
        self.tolerance = float(tolerance)
        self.refresh = float(refresh)
        self._layout: FrameLayout | None = None
        self._sent: np.ndarray | None = None
        self._last_full = -math.inf

    def select(self, layout: FrameLayout, vector: np.ndarray, now: float,
               packets: Sequence[memoryview]) -> list[memoryview]:
        """The packets of this frame to send (all of them on a full refresh)."""
        frame = layout.packets
        if self._layout is not layout or self._sent is None \
                or now - self._last_full >= self.refresh:
            return self.full(layout, vector, now, packets)
        values = vector[frame.slot_indices]  # one per float argument on the wire
        sent = self._sent
        changed = (np.abs(values - sent) > self.tolerance) | (
            ((values == 0.0) | (values == 1.0)) & (values != sent))
        touched = np.zeros(len(packets), dtype=bool)
        touched[frame.slot_packets[changed]] = True
        send = touched[frame.slot_packets]
        sent[send] = values[send]
        return [packet for packet, chosen in zip(packets, touched) if chosen]

    def full(self, layout: FrameLayout, vector: np.ndarray, now: float,
             packets: Sequence[memoryview]) -> list[memoryview]:
        """Every packet, remembering the values as sent."""
        self._layout = layout
        self._sent = np.array(vector[layout.packets.slot_indices], dtype=np.float32)
        self._last_full = now
        return list(packets)


# ------------------------------------------------------------------------------------------ stream

@dataclass(frozen=True)
class StreamSummary:
    """The end-of-stream report: clock figures plus what each receiver got."""

    clock: ClockSummary
    destinations: tuple[DestinationStats, ...]
    neutral_sent: bool
    interrupted: bool = False
    skipped_targets: tuple[str, ...] = field(default=())
    #: True when the transport printed the packets instead of sending them (``--dry-run``).
    printed: bool = False

    def line(self) -> str:
        """One line: frames, lateness, per-receiver packets and errors."""
        parts = [self.clock.line()]
        for stats in self.destinations:
            text = f"{stats.endpoint}: {stats.packets} packets" + (
                " printed, none sent (dry run)" if self.printed else "")
            if stats.refused:
                text += f", {stats.refused} refused (nobody listening?)"
            if stats.failed:
                text += f", {stats.failed} failed ({stats.last_error})"
            parts.append(text)
        neutral = "printed" if self.printed else "sent"
        parts.append(f"neutral frame {neutral}" if self.neutral_sent else "no neutral frame")
        return "; ".join(parts)


def _import_mixing():
    try:
        from facs_rig.core import mixing
    except ImportError as exc:  # the rigs area has not landed in this checkout
        raise FacsRigError(f"mixing is unavailable ({exc})") from None
    return mixing


class FaceStream:
    """Stream a face rig live over OSC: push frames of AU values, or play a timeline.

    Parameters
    ----------
    rig : RigProfile
        The rig profile (``.name``, ``.targets``, ``.channels``); AU values are mixed into its
        targets with :func:`facs_rig.core.mixing.mix_frame` / :func:`~facs_rig.core.mixing.mix`.
    to : str or sequence of str
        Receivers, ``HOST:PORT`` each (default ``127.0.0.1:39539``, a VMC Marionette).
    fps : float
        Frame rate of :meth:`play` and :meth:`ticks`.
    protocol : str or ProtocolOptions
        ``vmc``, ``template``, ``facecap``, ``vrchat``, or full options.
    precise : bool
        Sleep-then-spin frame clock (see :class:`FrameClock`).
    reset : bool
        Send a neutral frame when stopping (default True).
    vocabulary : Vocabulary, optional
        For code strings in :meth:`push` (default: the bundled one).
    transport : object with ``send(packets)``, ``close()`` and ``stats``, optional
        Default: a :class:`UdpSender` to ``to``.
    clock, sleep : callable, optional
        Injected into the :class:`FrameClock` (tests).
    mixer : callable ``(Mapping[Channel, float], rig) -> (T,) array``, optional
        Mixes one frame; default :func:`facs_rig.core.mixing.mix_frame`. When given, clips are
        mixed frame by frame with it too (instead of :func:`~facs_rig.core.mixing.mix`).

    Examples
    --------
    >>> with FaceStream(load_rig("arkit"), "127.0.0.1:39539") as stream:  # doctest: +SKIP
    ...     for tick in stream.ticks(duration=2.0):
    ...         stream.push({"AU12": min(1.0, tick.time)})
    """

    def __init__(self, rig: Any, to: str | Sequence[str] = "127.0.0.1:39539", *,
                 fps: float = 60.0, protocol: str | ProtocolOptions = "vmc",
                 precise: bool = False, reset: bool = True, vocabulary: Any = None,
                 transport: Any = None, clock: Any = None, sleep: Any = None,
                 mixer: Any = None):
        self.rig = rig
        self.mixer = mixer
        self.options = protocol if isinstance(protocol, ProtocolOptions) \
            else ProtocolOptions(protocol=protocol)
        single = isinstance(to, (str, Endpoint)) or (
            isinstance(to, tuple) and len(to) == 2 and isinstance(to[1], int))
        destinations = [to] if single else list(to)
        self.transport = transport if transport is not None else UdpSender(destinations)
        clock_kwargs = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
        self.clock = FrameClock(fps, precise=precise, **clock_kwargs)
        self.reset = reset
        self._vocabulary = vocabulary
        self._channels_checked: set[Channel] = set()  # pushed channels check_channel passed
        self.targets = tuple(rig.targets)
        head_eye = [Channel(au) for au in HEAD_EYE_AUS]
        #: The AU channels of pushed frames: the rig's own plus head and eye codes.
        self.channels = sort_channels([*getattr(rig, "channels", ()), *head_eye])
        self._layouts: dict[tuple, FrameLayout] = {}
        self._current: FrameLayout | None = None
        self._bones_seen = False
        self._push_layout: FrameLayout | None = None
        self._push_bones = False
        self._clip_rate = self.clock.fps
        self._dirty = False
        self._closed = False
        self.neutral_sent = False
        self.interrupted = False
        self._changes = ChangeFilter(self.options.tolerance, self.options.refresh) \
            if self.options.sends_changes_only else None
        #: Datagrams per receiver handed to the transport so far (all frames, neutral included).
        self.datagrams = 0

    # -- layouts and sending
    def layout(self, channels: Sequence[Channel] | None = None, *, bones: bool | None = None
               ) -> FrameLayout:
        """The compiled layout for a channel set (default: :attr:`channels`), cached."""
        channels = self.channels if channels is None else tuple(channels)
        options = self.options
        if bones is not None and options.bones == "auto":
            options = dataclasses.replace(options, bones="on" if bones else "off")
        key = (channels, options.bones)
        if key not in self._layouts:
            self._layouts[key] = FrameLayout(self.targets, channels, options,
                                             rig_name=getattr(self.rig, "name", None))
        return self._layouts[key]

    def send_vector(self, layout: FrameLayout, vector: np.ndarray) -> None:
        """Encode one frame vector with ``layout`` and send it to every receiver."""
        if self._closed:
            raise OscError("the stream is closed")
        packets = layout.encode(vector)
        if self._changes is not None:
            packets = self._changes.select(layout, vector, self.clock.elapsed(), packets)
        self.datagrams += len(packets)
        self.transport.send(packets)
        self._current = layout
        self._dirty = True
        self.neutral_sent = False

    def send_neutral(self) -> None:
        """Send the neutral frame (all weights and AUs 0, bones at rest) in the last layout,
        every datagram of it, also when only changes are sent."""
        layout = self._current or self.layout(bones=False)
        vector = layout.neutral_vector(self.clock.elapsed())
        packets = layout.encode(vector)
        if self._changes is not None:
            packets = self._changes.full(layout, vector, self.clock.elapsed(), packets)
        self.datagrams += len(packets)
        self.transport.send(packets)
        self._dirty = False
        self.neutral_sent = True

    # -- pushing frames
    def _vocabulary_in_use(self) -> Any:
        if self._vocabulary is None:
            from facs_rig.resources import load_vocabulary
            self._vocabulary = load_vocabulary()
        return self._vocabulary

    def _channel_values(self, values: Mapping[Any, float] | str) -> dict[Channel, float]:
        if isinstance(values, str):
            vocabulary = self._vocabulary_in_use()
            return vocabulary.channel_values(vocabulary.parse(values))
        result: dict[Channel, float] = {}
        for key, value in values.items():
            if isinstance(key, Channel):
                channel = key
            elif isinstance(key, int) and not isinstance(key, bool):
                channel = Channel(key)
            else:
                channel = parse_channel(str(key)) if isinstance(key, str) else None
                if channel is None:
                    raise OscError(f"{key!r} is not an AU channel (use AU12, AU12_L or 12)")
            number = float(value)
            if not math.isfinite(number):
                raise OscError(f"{channel}: value {value!r} is not a finite number")
            if channel not in self._channels_checked:
                # As the timeline readers refuse it (an unsided AU46 is a wink of no eye), once
                # per channel: a push is one frame of many.
                from facs_rig.core.timeline import check_channel
                problem = check_channel(channel, self._vocabulary_in_use())
                if problem:
                    raise FacsRuleError(problem)
                self._channels_checked.add(channel)
            result[channel] = number
        return result

    def push(self, values: Mapping[Any, float] | str, *, time: float | None = None) -> np.ndarray:
        """Mix one frame of AU values and send it now.

        Parameters
        ----------
        values : mapping or str
            AU values 0-1 keyed by :class:`Channel`, channel name (``"AU12_L"``) or AU number,
            or a FACS code string (``"6+12C"``). Each channel must be one a timeline may hold
            (:func:`~facs_rig.core.timeline.check_channel`): ``AU46`` without a side, a wink of
            no eye, raises :class:`~facs_rig.errors.FacsRuleError`, as ``"46"`` does not parse.
        time : float, optional
            ``/VMC/Ext/T`` value (default: seconds since the clock started).

        Returns
        -------
        (T,) float32
            The target weights sent.
        """
        channel_values = self._channel_values(values)
        weights = self.mix_frame(channel_values)
        self.send_frame(weights, channel_values, time=time)
        return weights

    def mix_frame(self, channel_values: Mapping[Channel, float]) -> np.ndarray:
        """Target weights ``(T,)`` float32 of one frame of AU values, with the stream's mixer."""
        mixer = self.mixer or _import_mixing().mix_frame
        return np.asarray(mixer(channel_values, self.rig), dtype=np.float32)

    def send_frame(self, weights: np.ndarray, channel_values: Mapping[Channel, float] | None = None,
                   *, time: float | None = None) -> None:
        """Send already-mixed target weights, with AU values for the head and eye bones."""
        channel_values = channel_values or {}
        if not self._bones_seen and any(
                channel.au in HEAD_EYE_AUS and value for channel, value in channel_values.items()):
            self._bones_seen = True  # sticky: once bones were sent, they return to rest too
        layout = self._push_layout
        if layout is None or self._push_bones != self._bones_seen:
            layout = self.layout(bones=self._bones_seen)
        index = layout.channel_index
        extra = [c for c in channel_values if c not in index]
        if extra:  # channels beyond the rig's (raw-AU templates send them): widen the layout once
            layout = self.layout(sort_channels([*layout.channels, *extra]), bones=self._bones_seen)
            index = layout.channel_index
        self._push_layout, self._push_bones = layout, self._bones_seen
        vector = np.zeros(len(layout.channels), dtype=np.float32)
        for channel, value in channel_values.items():
            vector[index[channel]] = value
        if time is None and not self.clock.started:
            self.clock.start()  # /VMC/Ext/T counts from the first frame
        when = self.clock.elapsed() if time is None else time
        self.send_vector(layout, layout.frame_vector(weights, vector, when))

    def ticks(self, count: int | None = None, *, duration: float | None = None):
        """The stream's frame clock (see :meth:`FrameClock.ticks`), for scripts that push."""
        return self.clock.ticks(count, duration=duration)

    # -- playing clips
    def prepare(self, source: Any) -> tuple[FrameLayout, np.ndarray]:
        """Sample and mix a clip into frame vectors once.

        Parameters
        ----------
        source : Timeline, AUCurves or TargetWeights
            A timeline is sampled at the stream's fps; AU curves are mixed with the rig;
            target weights are sent as they are (their columns must be the rig's targets).
            Curves or weights at another rate play by their own times (sample and hold).

        Returns
        -------
        layout : FrameLayout
        frames : (F, n_slots) float32
        """
        from facs_rig.core.curves import AUCurves, TargetWeights
        if not isinstance(source, (AUCurves, TargetWeights)):
            try:
                from facs_rig.core.timeline import sample
            except ImportError as exc:
                raise FacsRigError(f"timeline sampling is unavailable ({exc})") from None
            source = sample(source, fps=self.clock.fps)
        if isinstance(source, TargetWeights):
            if tuple(source.names) != self.targets:
                raise OscError(f"target weights have {len(source.names)} columns that are not "
                               f"the {len(self.targets)} targets of rig "
                               f"{getattr(self.rig, 'name', '?')!r}")
            weights, curves = source.weights, None
        else:
            curves = source
            if self.mixer is None:
                weights = _import_mixing().mix(curves, self.rig).weights
            else:
                weights = np.stack([self.mix_frame(dict(zip(curves.channels, row.tolist())))
                                    for row in curves.values]) if curves.n_frames else \
                    np.zeros((0, len(self.targets)), dtype=np.float32)
        if weights.shape[0] == 0:
            raise OscError("the clip has no frames to stream")
        channels = curves.channels if curves is not None else ()
        has_head_eye = curves is not None and any(
            channel.au in HEAD_EYE_AUS and np.any(curves.values[:, i])
            for i, channel in enumerate(channels))
        layout = self.layout(channels, bones=has_head_eye)
        values = None if curves is None else curves.values
        n_frames = weights.shape[0]
        rate = float(source.fps) if source.fps else self.clock.fps
        frames = layout.frame_matrix(weights, values, np.arange(n_frames) / rate)
        self._clip_rate = rate
        return layout, frames

    def play(self, source: Any, *, loop: bool = False, duration: float | None = None
             ) -> StreamSummary:
        """Play a clip in real time on the frame clock, then send the neutral frame.

        Frame ``k`` of the clip goes out at ``start + k / fps`` (looping modulo its length when
        ``loop``); when the clock skips late frames, the clip skips with it, so it stays in time.
        Stops at the clip's end (unless ``loop``), at ``duration`` seconds, or on Ctrl-C /
        SIGTERM (the exception propagates after the neutral frame; the summary is in
        :attr:`summary`).
        """
        layout, frames = self.prepare(source)
        n_frames = frames.shape[0]
        # A clip sampled at another rate is played by its own times (sample and hold).
        rate = self._clip_rate
        if not loop and duration is None:
            duration = n_frames / rate
        vector = np.zeros(layout.n_slots, dtype=np.float32)
        self.clock.start()
        try:
            for tick in self.clock.ticks(duration=duration):
                clip_frame = tick.index if rate == self.clock.fps \
                    else int(tick.time * rate + 1e-9)
                row = clip_frame % n_frames if loop else min(clip_frame, n_frames - 1)
                vector[:] = frames[row]
                vector[-1] = tick.time
                self.send_vector(layout, vector)
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        finally:
            if self.reset and self._dirty:
                self.send_neutral()
        return self.summary()

    # -- ending
    def summary(self) -> StreamSummary:
        """The clock and receiver figures so far."""
        skipped = self._current.skipped if self._current is not None else ()
        return StreamSummary(self.clock.summary(), tuple(self.transport.stats),
                             self.neutral_sent, self.interrupted, skipped,
                             printed=isinstance(self.transport, PacketPrinter))

    def close(self) -> StreamSummary:
        """Send the neutral frame (unless ``reset=False`` or already sent) and close the sockets."""
        if self._closed:
            return self.summary()
        try:
            if self.reset and self._dirty:
                self.send_neutral()
        finally:
            self._closed = True
            self.transport.close()
        return self.summary()

    def __enter__(self) -> FaceStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
