"""``facs-rig stream`` and ``facs-rig bridge``: live output over OSC (argument parsing only)."""

from __future__ import annotations

import argparse
import signal
import sys

from facs_rig.cli import UsageError
from facs_rig.cli._output import (
    add_fps_argument,
    bounded,
    check_frame_count,
    code_hold,
    file_input,
    hold_type,
    note_unshown,
    played_channels,
    refuse_a_rate_that_misses_every_event,
)
from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import MAX_PACKET_BYTES
from facs_rig.io.osc.protocols import (
    DEFAULT_PORTS,
    MAX_UDP_PAYLOAD,
    NAME_CONVENTIONS,
    PROTOCOLS,
    BoneLimits,
    ProtocolOptions,
    address_template_problem,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stream`` and ``bridge``."""
    stream = subparsers.add_parser(
        "stream", help="stream a timeline or code live over OSC (VMC, VRChat, Face Cap, ...)",
        description="Play a timeline file or a FACS code in real time to OSC receivers. At the "
                    "end, on Ctrl-C and on SIGTERM a neutral frame is sent (unless --no-reset).",
        epilog="example: facs-rig stream happiness --rig arkit --to 127.0.0.1:39539 --loop")
    stream.add_argument("source", metavar="TIMELINE|CODE",
                        help="timeline file (.json, .notes/.txt, .eaf, .csv) or FACS code / expression")
    stream.add_argument("--hold", type=hold_type, default=None, metavar="SECONDS",
                        help="apex hold of a code's expression, seconds (default 2)")
    stream.add_argument("--loop", action="store_true", help="repeat until stopped")
    _add_output_arguments(stream)
    stream.set_defaults(handler=run_stream)

    bridge = subparsers.add_parser(
        "bridge", help="receive AU values over OSC, mix them and forward rig frames live",
        description="Listen for /facs/au/12 f, /facs/au/12/L f, /facs/code s '6+12C' and "
                    "/facs/reset; mix at a fixed rate with the rig and send on. Bad input is "
                    "counted and ignored (summary at exit).",
        epilog="example: facs-rig bridge --listen 127.0.0.1:9000 --rig arkit "
               "--to 127.0.0.1:39539")
    bridge.add_argument("--listen", type=_endpoint(allow_any_port=True), default="127.0.0.1:9000",
                        metavar="HOST:PORT",
                        help="address to receive AU values on (default 127.0.0.1:9000, "
                             "loopback only)")
    _add_output_arguments(bridge)
    bridge.set_defaults(handler=run_bridge)


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rig", default="arkit", metavar="NAME|FILE",
                        help="rig profile name or file (default arkit)")
    parser.add_argument("--to", action="append", type=_endpoint(), metavar="HOST:PORT",
                        help="receiver; repeat for several (default 127.0.0.1 on the protocol's "
                             "port: vmc 39539, vrchat/facecap/template 9000)")
    add_fps_argument(parser, "frames per second (default 60)", default=60.0)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="vmc",
                        help="message layout (default vmc)")
    # Options that apply to some protocols only default to None, so that _options can refuse
    # them given where they would change nothing.
    parser.add_argument("--names", choices=NAME_CONVENTIONS, default=None,
                        help="target name convention (auto, the default: Perfect Sync for arkit, "
                             "VRM0 presets for vrm, else as in the rig; not facecap, which sends "
                             "indices)")
    parser.add_argument("--address", type=_address_template, default=None, metavar="TEMPLATE",
                        help="template protocol address: {target}, or {au}/{side}/{channel} for "
                             "raw AU values (default /facs/{target})")
    parser.add_argument("--bones", choices=("auto", "on", "off"), default=None,
                        help="vmc's Head/LeftEye/RightEye bones from AUs 51-58, 61-66 (auto, the "
                             "default: when those AUs occur)")
    parser.add_argument("--head-max", type=_numbers(3), default=None, metavar="YAW,PITCH,ROLL",
                        help="vmc head bone angles at AU intensity 1, degrees (default 40,30,25)")
    parser.add_argument("--eye-max", type=_numbers(2), default=None, metavar="YAW,PITCH",
                        help="vmc eye bone angles at AU intensity 1, degrees (default 30,25)")
    parser.add_argument("--vmc-ok", action="store_true", help="vmc: also send /VMC/Ext/OK 1")
    parser.add_argument("--vmc-time", action="store_true", help="vmc: also send /VMC/Ext/T seconds")
    parser.add_argument("--no-bundle", action="store_true",
                        help="one datagram per message instead of bundles (vrchat's way "
                             "already)")
    parser.add_argument("--max-bytes", type=bounded(int, low=64, high=MAX_UDP_PAYLOAD, unit="bytes"),
                        default=MAX_PACKET_BYTES, metavar="BYTES",
                        help=f"bundle size limit in bytes (default {MAX_PACKET_BYTES}: a UDP "
                             f"payload no IPv4 or IPv6 link fragments; VMC allows up to 1500)")
    parser.add_argument("--every-frame", action="store_true",
                        help="send every value in every frame (vrchat's default is to send only "
                             "values that changed, plus a full frame every --refresh seconds)")
    parser.add_argument("--refresh", type=bounded(float, positive=True, unit="seconds"),
                        default=None, metavar="SECONDS",
                        help="with changed-values-only frames (vrchat), a full frame every "
                             "SECONDS seconds (default 1)")
    parser.add_argument("--precise", action="store_true",
                        help="sleep then spin before each frame: sub-millisecond timing, one busy "
                             "core")
    parser.add_argument("--no-reset", action="store_true",
                        help="do not send the neutral frame when stopping")
    parser.add_argument("--duration", type=bounded(float, positive=True, unit="seconds"),
                        metavar="SECONDS", help="stop after SECONDS seconds")
    parser.add_argument("--dry-run", "--print", dest="dry_run", action="store_true",
                        help="print the messages on stdout instead of sending them")


def _numbers(count: int):
    """argparse ``type``: ``count`` comma-separated numbers (a usage error if not)."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {count} comma-separated numbers")
        return values

    return parse


def _address_template(text: str) -> str:
    """argparse ``type`` of ``--address``: a well-formed template (``/x/{nope}`` was exit 1)."""
    problem = address_template_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}{problem}")
    return text


def _endpoint(allow_any_port: bool = False):
    """argparse ``type``: a ``HOST:PORT`` the OSC code can read (kept as text); a usage error if not."""

    def parse(text: str) -> str:
        from facs_rig.io.osc.stream import parse_endpoint

        try:
            parse_endpoint(text, allow_any_port=allow_any_port)
        except OscError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


#: ``--address`` when it is not given.
DEFAULT_ADDRESS = "/facs/{target}"


#: ``--head-max`` and ``--eye-max`` when they are not given (BoneLimits' defaults).
DEFAULT_HEAD_MAX, DEFAULT_EYE_MAX = (40.0, 30.0, 25.0), (30.0, 25.0)


def _refuse_options_that_change_nothing(args: argparse.Namespace) -> None:
    """Refuse an option given where the protocol (and the other options) ignore it.

    Each was accepted and changed no message, silently (``--vmc-ok`` with vrchat, ``--every-frame``
    with vmc, ``--names`` with facecap...): the rule, as ``preview`` refuses ``--hold`` on a PNG.
    ``--max-bytes`` applies everywhere (unbundled, it bounds each datagram), and so do
    ``--to``, ``--precise``, ``--no-reset`` and ``--duration`` with ``--dry-run``: the printed
    run keeps the clock and the summary names the receivers, so ``--dry-run`` can be added to a
    working command line as it is.

    Raises
    ------
    UsageError
        One line naming the option and why it would change nothing.
    """
    protocol = args.protocol
    if args.address is not None and protocol != "template":
        raise UsageError(f"--address applies to --protocol template, not {protocol}")
    for option, given, what in (("--vmc-ok", args.vmc_ok, "/VMC/Ext/OK"),
                                ("--vmc-time", args.vmc_time, "/VMC/Ext/T"),
                                ("--bones", args.bones is not None, "its head and eye bones"),
                                ("--head-max", args.head_max is not None, "its head bone"),
                                ("--eye-max", args.eye_max is not None, "its eye bones")):
        if given and protocol != "vmc":
            raise UsageError(f"{option} applies to --protocol vmc ({what}), not {protocol}")
    for option, given in (("--head-max", args.head_max), ("--eye-max", args.eye_max)):
        if given is not None and args.bones == "off":
            raise UsageError(f"{option} sets the head and eye bones' angles, and --bones off "
                             f"sends no bones")
    if args.names is not None and protocol == "facecap":
        raise UsageError("--names: --protocol facecap sends Face Cap's shape indices, not names")
    if (args.names is not None and protocol == "template"
            and "{target}" not in (args.address or DEFAULT_ADDRESS)):
        raise UsageError(f"--names: the --address template {args.address} sends AU values, "
                         f"not target names")
    if args.no_bundle and protocol == "vrchat":
        raise UsageError("--no-bundle: --protocol vrchat sends one datagram per message already")
    if args.every_frame and protocol != "vrchat":
        raise UsageError(f"--every-frame applies to --protocol vrchat (which sends changed values "
                         f"only); {protocol} sends every value every frame already")
    if args.refresh is not None and (protocol != "vrchat" or args.every_frame):
        why = ("--every-frame sends every value every frame" if args.every_frame
               else f"{protocol} sends every value every frame")
        raise UsageError(f"--refresh sets how often vrchat's changed-values-only frames are full "
                         f"ones, and {why}")


def _options(args: argparse.Namespace) -> ProtocolOptions:
    _refuse_options_that_change_nothing(args)
    yaw, pitch, roll = args.head_max or DEFAULT_HEAD_MAX
    eye_yaw, eye_pitch = args.eye_max or DEFAULT_EYE_MAX
    limits = BoneLimits(head_yaw=yaw, head_pitch=pitch, head_roll=roll, eye_yaw=eye_yaw,
                        eye_pitch=eye_pitch)
    return ProtocolOptions(protocol=args.protocol, names=args.names or "auto",
                           address_template=args.address or DEFAULT_ADDRESS,
                           bones=args.bones or "auto", limits=limits, send_ok=args.vmc_ok,
                           send_time=args.vmc_time, bundle=False if args.no_bundle else None,
                           max_bytes=args.max_bytes, changes_only=False if args.every_frame else None,
                           refresh=1.0 if args.refresh is None else args.refresh)


def _common(args: argparse.Namespace):
    options = _options(args)
    destinations = args.to or [f"127.0.0.1:{DEFAULT_PORTS[args.protocol]}"]
    from facs_rig.io.rig_files import load_rig

    rig = load_rig(args.rig)
    transport = None
    if args.dry_run:
        from facs_rig.io.osc.stream import PacketPrinter
        transport = PacketPrinter(destinations)
    return options, destinations, rig, transport


def _interrupted(exc: KeyboardInterrupt) -> int:
    return 128 + getattr(exc, "signum", signal.SIGINT)


def note_stream_unshown(rig, channels, options: ProtocolOptions) -> None:
    """:func:`note_unshown` for a stream: the head and eye AUs a rig has no shape for are sent
    as VMC bones when the protocol sends bones, so they are named only where it does not (with
    why), and a VRM preset the receiver's VRM version lacks is named (VRM 0.x has no
    ``surprised``)."""
    from facs_rig.io.osc.protocols import HEAD_EYE_AUS, names_without_counterpart

    channels = list(channels)
    bones = options.protocol == "vmc" and options.bones != "off"
    moving = [c for c in channels if c.au in HEAD_EYE_AUS]
    note_unshown(rig, [c for c in channels if c.au not in HEAD_EYE_AUS])
    unread = [c for c in moving if rig.unshown_notes([c])] if not bones else []
    if unread:
        why = ("--bones off sends no head or eye bones" if options.protocol == "vmc"
               else f"--protocol {options.protocol} sends no bones (vmc sends them)")
        print(f"facs-rig: note: {', '.join(sorted({str(c) for c in unread}))} move the head or "
              f"eyes, which {rig.name} has no shape for and {why}: not sent", file=sys.stderr)
    missing = names_without_counterpart(rig.targets, options.names, rig_name=rig.name)
    if missing:
        print(f"facs-rig: note: {', '.join(missing)} has no VRM 0.x preset: sent under that "
              f"name, which a VRM 0.x model shows only through a clip of its own so named "
              f"(--names vrm1 for a VRM 1.0 receiver)", file=sys.stderr)


def run_stream(args: argparse.Namespace) -> int:
    """Play a timeline or code to the receivers and print the summary on stderr."""
    from facs_rig.io.osc.stream import FaceStream, terminate_on_sigterm
    from facs_rig.io.timeline_files import load_timeline_argument
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    hold = code_hold(args.source, args.hold, vocabulary)
    options, destinations, rig, transport = _common(args)
    timeline = load_timeline_argument(args.source, vocabulary, hold=hold, fps=args.fps)
    n_frames = check_frame_count(timeline.duration, args.fps, file_input(args.source))
    refuse_a_rate_that_misses_every_event(timeline, args.fps, n_frames, file_input(args.source),
                                          given=True, result="only neutral would be sent")
    note_stream_unshown(rig, played_channels(timeline), options)
    stream = FaceStream(rig, destinations, fps=args.fps, protocol=options, precise=args.precise,
                        reset=not args.no_reset, vocabulary=vocabulary, transport=transport)
    status = 0
    with terminate_on_sigterm():
        try:
            stream.play(timeline, loop=args.loop, duration=args.duration)
        except KeyboardInterrupt as exc:
            status = _interrupted(exc)
        finally:
            summary = stream.close()
    print(f"facs-rig stream: {summary.line()}", file=sys.stderr)
    if summary.skipped_targets:
        print(f"facs-rig stream: {args.protocol} cannot address {len(summary.skipped_targets)} "
              f"target(s): {', '.join(summary.skipped_targets)}", file=sys.stderr)
    _say_stopped(status)
    return status


def _say_stopped(status: int) -> None:
    """The line every other command ends with when stopped (facs_rig.cli.main prints it for
    those; stream and bridge catch the interrupt themselves to send the neutral frame first)."""
    if status:
        print(f"facs-rig: {'terminated' if status == 128 + signal.SIGTERM else 'interrupted'}",
              file=sys.stderr)


def run_bridge(args: argparse.Namespace) -> int:
    """Run the AU bridge until Ctrl-C, SIGTERM or --duration, then print both summaries."""
    from facs_rig.io.osc.bridge import AUBridge
    from facs_rig.io.osc.stream import terminate_on_sigterm

    options, destinations, rig, transport = _common(args)
    bridge = AUBridge(rig, args.listen, destinations, fps=args.fps, protocol=options,
                      precise=args.precise, reset=not args.no_reset, transport=transport)
    if bridge.exposed:
        print(f"facs-rig bridge: warning: listening on {bridge.address}, beyond this machine: "
              f"anyone on the network who can reach the port can drive the face "
              f"(--listen 127.0.0.1:PORT keeps it local)", file=sys.stderr, flush=True)
    print(f"facs-rig bridge: listening on {bridge.address}, sending {args.protocol} to "
          f"{', '.join(destinations)} at {args.fps:g} fps (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    status = 0
    with terminate_on_sigterm():
        try:
            bridge.run(duration=args.duration)
        except KeyboardInterrupt as exc:
            status = _interrupted(exc)
        finally:
            bridge.close()
    print(f"facs-rig bridge: {bridge.stream.summary().line()}", file=sys.stderr)
    print(f"facs-rig bridge: {bridge.counters.line()}", file=sys.stderr)
    _say_stopped(status)
    return status
