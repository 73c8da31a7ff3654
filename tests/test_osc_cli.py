"""``facs-rig stream`` and ``facs-rig bridge`` end to end, as subprocesses: dry runs, the neutral
frame on SIGINT and SIGTERM, the bridge's summary, and one-line errors."""

from __future__ import annotations

import errno
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO
from osc_support import OscRecorder, blend_frames, free_udp_port

from facs_rig.io.osc.encoding import encode_message


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "facs_rig", *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _default_sigint() -> None:
    # A shell runs background jobs with SIGINT ignored, and Python keeps an ignored SIGINT
    # ignored (no KeyboardInterrupt). Give the child the disposition a terminal user's
    # process has, so the test sees what Ctrl-C does, however pytest itself was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args):
    return subprocess.Popen([sys.executable, "-m", "facs_rig", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def printed_frames(stdout):
    frames, current = [], {}
    for line in stdout.splitlines():
        if line.startswith("/VMC/Ext/Blend/Val"):
            _, _, name, value = line.split(" ")
            current[name.strip('"')] = float(value)
        elif line.startswith("# end of frame"):
            frames.append(current)
            current = {}
    return frames


def test_dry_run_prints_every_frame_then_the_neutral_one():
    result = run_cli("stream", "6+12C", "--rig", "arkit", "--dry-run", "--duration", "0.1",
                     "--fps", "50")
    assert result.returncode == 0, result.stderr
    frames = printed_frames(result.stdout)
    assert len(frames) == 5 + 1  # 0.1 s at 50 fps, then neutral
    assert all(len(frame) == 52 for frame in frames)
    assert "EyeBlinkLeft" in frames[0] and "MouthSmileLeft" in frames[0]  # Perfect Sync names
    assert frames[-2]["MouthSmileLeft"] > frames[1]["MouthSmileLeft"] > 0  # the onset ramps up
    assert set(frames[-1].values()) == {0.0}
    assert "5 frames" in result.stderr and "none sent (dry run); neutral frame printed" in result.stderr


def test_vrm_rig_sends_vrm0_preset_names_and_vrm1_on_request():
    result = run_cli("stream", "6+12", "--rig", "vrm", "--dry-run", "--duration", "0.05")
    assert result.returncode == 0, result.stderr
    names = set(printed_frames(result.stdout)[0])
    assert {"Joy", "Blink_L", "Blink_R", "LookUp"} <= names and "happy" not in names
    result = run_cli("stream", "6+12", "--rig", "vrm", "--names", "vrm1", "--dry-run",
                     "--duration", "0.05")
    assert {"happy", "blinkLeft"} <= set(printed_frames(result.stdout)[0])


def test_dry_run_of_a_timeline_file_with_head_turn(tmp_path, vocabulary):
    from facs_rig.core.timeline import timeline_from_code
    from facs_rig.io.timeline_files import write_timeline
    path = tmp_path / "turn.json"
    write_timeline(timeline_from_code(vocabulary.parse("12+51"), vocabulary, hold=0.2), path)
    result = run_cli("stream", str(path), "--rig", "arkit", "--print", "--fps", "30",
                     "--vmc-ok", "--no-reset")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    heads = [line for line in lines if line.startswith('/VMC/Ext/Bone/Pos sfffffff "Head"')]
    assert heads and lines.count("/VMC/Ext/OK i 1") == len(heads)
    yaws = [float(line.split()[7]) for line in heads]
    # AU51 (unscored: the default scale's value) turns the head left by 40° × value: a negative
    # Unity yaw, quaternion y = -sin(angle / 2) at the apex.
    apex = 40 * vocabulary.scale().letter_to_value(None)
    assert min(yaws) == pytest.approx(-math.sin(math.radians(apex / 2)), abs=1e-5)
    assert "no neutral frame" in result.stderr


def _signal_once_smiling(process, receiver, sig):
    """Send ``sig`` once three smiling frames have arrived; return (stderr, received frames)."""
    try:
        receiver.wait_for(lambda m: sum(f.get("MouthSmileLeft", 0) > 0.2
                                        for f in blend_frames(m)) >= 3, timeout=30)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(0.2)  # let the last datagrams (the neutral frame) reach the recorder
    return stderr, blend_frames(receiver.snapshot())


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_stream_with_a_neutral_frame(sig, status):
    with OscRecorder() as receiver:
        # A long apex hold: the signal arrives while the smile is held, never mid-ramp.
        process = start_cli("stream", "happiness", "--rig", "arkit", "--loop", "--hold", "60",
                            "--to", f"127.0.0.1:{receiver.port}", "--fps", "60")
        stderr, frames = _signal_once_smiling(process, receiver, sig)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert len(frames[-1]) == 52 and set(frames[-1].values()) == {0.0}
    assert frames[-2]["MouthSmileLeft"] > 0.2  # the neutral frame follows a smiling one
    assert "neutral frame sent" in stderr
    # The last line, as every other command stopped so ends (it printed none).
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    assert stderr.splitlines()[-1] == f"facs-rig: {word}", stderr


def test_no_reset_leaves_the_last_expression():
    with OscRecorder() as receiver:
        process = start_cli("stream", "happiness", "--rig", "arkit", "--loop", "--no-reset",
                            "--hold", "60", "--to", f"127.0.0.1:{receiver.port}")
        stderr, frames = _signal_once_smiling(process, receiver, signal.SIGINT)
    assert process.returncode == 130
    assert frames[-1]["MouthSmileLeft"] > 0.2 and "no neutral frame" in stderr


def test_a_stream_to_nobody_still_runs_to_the_end():
    port = free_udp_port()
    result = run_cli("stream", "12", "--rig", "arkit", "--to", f"127.0.0.1:{port}",
                     "--to", f"127.0.0.1:{free_udp_port()}", "--duration", "0.2")
    assert result.returncode == 0, result.stderr
    # 0.2 s at 60 fps: 12 frames, sent or (on a busy machine) skipped by the clock.
    counts = re.search(r"(\d+) frames in .*?(\d+) skipped", result.stderr)
    assert "refused" in result.stderr and int(counts[1]) + int(counts[2]) == 12, result.stderr


def test_bridge_forwards_and_summarises_bad_input():
    listen = free_udp_port()
    with OscRecorder() as receiver:
        process = start_cli("bridge", "--listen", f"127.0.0.1:{listen}", "--rig", "arkit",
                            "--to", f"127.0.0.1:{receiver.port}", "--fps", "100")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not any(
                        f.get("MouthSmileLeft", 0) > 0 for f in blend_frames(receiver.snapshot())):
                    sender.sendto(encode_message("/facs/au/12", 1.0), ("127.0.0.1", listen))
                    time.sleep(0.05)
                sender.sendto(b"\x00garbage", ("127.0.0.1", listen))
                sender.sendto(encode_message("/facs/au/12", float("nan")), ("127.0.0.1", listen))
                time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        time.sleep(0.2)
        frames = blend_frames(receiver.snapshot())
    assert process.returncode == 130, stderr
    assert any(f.get("MouthSmileLeft", 0) > 0 for f in frames)
    assert set(frames[-1].values()) == {0.0}
    assert "1 malformed packets" in stderr and "1 NaN/inf" in stderr
    assert "listening on 127.0.0.1:" in stderr
    assert stderr.splitlines()[-1] == "facs-rig: interrupted", stderr  # as stream and the rest


@pytest.mark.parametrize(("args", "status", "message"), [
    (["stream", "12", "--to", "nowhere"], 2, "argument --to: endpoint 'nowhere'"),
    (["stream", "12", "--duration", "0"], 2, "argument --duration: 0: must be a positive number"),
    (["stream", "12", "--head-max", "1,2"], 2, "argument --head-max: '1,2': expected 3"),
    (["stream", "12", "--max-bytes", "63"], 2, "argument --max-bytes: 63: must lie between 64"),
    (["stream", "12", "--rig", "no-such-rig"], 1, "no-such-rig"),
    (["stream", "12", "--protocol", "template", "--address", "/x/{bad}"], 2,
     "argument --address: '/x/{bad}': unknown field(s) {bad}"),
    # The rig's targets decide (a rig may be any file): bad input, not a usage error.
    (["stream", "12", "--protocol", "facecap", "--rig", "facs"], 1,
     "none of the rig's 92 targets is one of Face Cap's 52 ARKit shapes"),
    (["stream", "not a code at all", "--dry-run"], 1, "not a code"),
    (["bridge", "--listen", "127.0.0.1:99999"], 2, "argument --listen: endpoint"),
])
def test_bad_arguments_give_one_line_errors(args, status, message):
    # A value wrong in itself is a usage error (2); what the rig library or the vocabulary
    # refuses is bad input (1).
    result = run_cli(*args)
    assert result.returncode == status
    assert result.stderr.startswith("facs-rig: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# Each was accepted and changed no message: the dry run printed the same bytes without it.
_CHANGES_NOTHING = [
    (["--protocol", "vrchat", "--vmc-ok"], "--vmc-ok applies to --protocol vmc (/VMC/Ext/OK), "
                                           "not vrchat"),
    (["--protocol", "facecap", "--vmc-time"], "--vmc-time applies to --protocol vmc "
                                              "(/VMC/Ext/T), not facecap"),
    (["--protocol", "template", "--bones", "on"], "--bones applies to --protocol vmc (its head "
                                                  "and eye bones), not template"),
    (["--protocol", "vrchat", "--head-max", "10,10,10"], "--head-max applies to --protocol vmc "
                                                         "(its head bone), not vrchat"),
    (["--protocol", "vrchat", "--eye-max", "10,10"], "--eye-max applies to --protocol vmc (its "
                                                     "eye bones), not vrchat"),
    (["--bones", "off", "--head-max", "10,10,10"], "--head-max sets the head and eye bones' "
                                                   "angles, and --bones off sends no bones"),
    (["--bones", "off", "--eye-max", "10,10"], "--eye-max sets the head and eye bones' angles, "
                                               "and --bones off sends no bones"),
    (["--every-frame"], "--every-frame applies to --protocol vrchat (which sends changed values "
                        "only); vmc sends every value every frame already"),
    (["--protocol", "facecap", "--every-frame"], "--every-frame applies to --protocol vrchat "
                                                 "(which sends changed values only); facecap "
                                                 "sends every value every frame already"),
    (["--refresh", "0.5"], "--refresh sets how often vrchat's changed-values-only frames are "
                           "full ones, and vmc sends every value every frame"),
    (["--protocol", "vrchat", "--every-frame", "--refresh", "0.5"],
     "--refresh sets how often vrchat's changed-values-only frames are full ones, and "
     "--every-frame sends every value every frame"),
    (["--protocol", "vrchat", "--no-bundle"], "--no-bundle: --protocol vrchat sends one datagram "
                                              "per message already"),
    (["--protocol", "facecap", "--names", "arkit"], "--names: --protocol facecap sends Face "
                                                    "Cap's shape indices, not names"),
    (["--protocol", "template", "--address", "/facs/au/{au}", "--names", "arkit"],
     "--names: the --address template /facs/au/{au} sends AU values, not target names"),
]


@pytest.mark.parametrize("command", ["stream", "bridge"])
@pytest.mark.parametrize(("options", "message"), _CHANGES_NOTHING,
                         ids=[" ".join(options) for options, _ in _CHANGES_NOTHING])
def test_an_option_that_would_change_nothing_is_a_usage_error(capsys, command, options,
                                                              message):
    from facs_rig.cli import main

    argv = ["stream", "51+12"] if command == "stream" else ["bridge"]
    assert main([*argv, *options, "--dry-run", "--duration", "0.05"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"facs-rig: error: {message} (see 'facs-rig {command} --help')\n"


@pytest.mark.parametrize(("base", "option"), [
    (["--protocol", "vrchat"], ["--names", "arkit"]),
    (["--protocol", "template"], ["--names", "arkit"]),
    (["--protocol", "vmc"], ["--head-max", "10,10,10"]),
    (["--protocol", "vmc"], ["--eye-max", "10,10"]),
    (["--protocol", "vmc", "--bones", "on"], ["--head-max", "10,10,10"]),
    (["--protocol", "vmc"], ["--vmc-ok"]),
    (["--protocol", "vmc"], ["--bones", "off"]),
    (["--protocol", "vmc"], ["--no-bundle"]),
    (["--protocol", "facecap"], ["--no-bundle"]),
    (["--protocol", "vrchat"], ["--every-frame"]),
    (["--protocol", "vrchat", "--duration", "0.3"], ["--refresh", "0.1"]),
    # Each unbundled datagram's limit: metahuman's longest vrchat message is 68 bytes.
    (["--protocol", "vrchat", "--rig", "metahuman"], ["--max-bytes", "64"]),
])
def test_the_options_kept_change_what_is_sent(capsys, base, option):
    """What is not refused has its effect: the dry run differs with it (--no-bundle: in its
    count of datagrams; --max-bytes on vrchat's unbundled datagrams: the limit refuses a
    message over it)."""
    from facs_rig.cli import main

    argv = ["stream", "51+12+61", "--dry-run", "--fps", "30", "--duration", "0.1", *base]
    assert main(argv) == 0
    without = capsys.readouterr()
    status = main([*argv, *option])
    captured = capsys.readouterr()
    if option[0] == "--max-bytes":
        assert status == 1 and "over the 64-byte limit" in captured.err, captured.err
    elif option[0] == "--no-bundle":
        packets = re.compile(r"(\d+) packets printed")
        assert status == 0 and captured.out == without.out
        assert int(packets.search(captured.err)[1]) > int(packets.search(without.err)[1])
    else:
        assert status == 0 and captured.out != without.out, captured.err


class _LoopbackOnlySocket(socket.socket):
    """A real socket that records what facs-rig asks of it and lets nothing leave loopback.

    ``connect``/``sendto`` to any other address raise ``EACCES`` here, as Linux's ``connect``
    does for a broadcast address without ``SO_BROADCAST``, and are recorded.
    """

    calls: list = []

    def setsockopt(self, level, option, *value):
        self.calls.append(("setsockopt", level, option))
        return super().setsockopt(level, option, *value)

    def connect(self, address):
        self.calls.append(("connect", address[0]))
        if address[0] not in ("127.0.0.1", "::1"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return super().connect(address)

    def send(self, data, *args):
        self.calls.append(("send", self.getpeername()[0]))
        return super().send(data, *args)

    def sendto(self, data, *args):
        address = args[-1]
        self.calls.append(("sendto", address[0]))
        assert address[0] in ("127.0.0.1", "::1"), f"a datagram to {address} left loopback"
        return super().sendto(data, *args)


@pytest.fixture
def loopback_only(monkeypatch):
    calls: list = []
    monkeypatch.setattr(_LoopbackOnlySocket, "calls", calls)
    monkeypatch.setattr(socket, "socket", _LoopbackOnlySocket)
    return calls


@pytest.mark.parametrize("command", [["stream", "12", "--duration", "0.1"],
                                     ["bridge", "--listen", "127.0.0.1:0", "--duration", "0.1"]])
def test_the_broadcast_address_is_refused_before_any_socket_is_opened(loopback_only, capsys,
                                                                      command):
    from facs_rig.cli import main

    status = main([*command, "--to", "255.255.255.255:9000"])
    err = capsys.readouterr().err
    assert status == 1, err
    assert err == ("facs-rig: error: cannot send to 255.255.255.255:9000: a broadcast address "
                   "(facs-rig sends to one receiver per --to: give each receiver's own "
                   "address)\n")
    # No socket was asked to reach it, and broadcast was never switched on.
    assert not [call for call in loopback_only if call[0] == "connect"
                or call[1:] == (socket.SOL_SOCKET, socket.SO_BROADCAST)]


def test_a_subnet_broadcast_refused_by_connect_is_one_line_and_sends_nothing(loopback_only,
                                                                             capsys):
    # 192.0.2.255 (TEST-NET-1, RFC 5737) stands for a subnet's broadcast address: the kernel's
    # connect() refuses it with EACCES, which the socket above reproduces without the network.
    from facs_rig.cli import main

    receiver = f"127.0.0.1:{free_udp_port()}"
    status = main(["stream", "12", "--duration", "0.1", "--to", receiver,
                   "--to", "192.0.2.255:9000"])
    err = capsys.readouterr().err
    assert status == 1, err
    assert err == ("facs-rig: error: cannot send to 192.0.2.255:9000: Permission denied "
                   "(a broadcast address? facs-rig sends to one receiver per --to)\n")
    assert ("connect", "192.0.2.255") in loopback_only
    assert not [call for call in loopback_only if call[0] in ("send", "sendto")
                or call[1:] == (socket.SOL_SOCKET, socket.SO_BROADCAST)]


@pytest.mark.parametrize(("exposed", "warned"), [(False, False), (True, True)])
def test_bridge_warns_in_one_line_when_it_listens_beyond_loopback(monkeypatch, capsys, exposed,
                                                                  warned):
    # Tests stay on loopback, so the address check itself is stubbed here (it is tested below).
    import facs_rig.io.osc.bridge as bridge_module
    from facs_rig.cli import main
    monkeypatch.setattr(bridge_module, "listens_beyond_loopback", lambda host: exposed)
    status = main(["bridge", "--listen", "127.0.0.1:0", "--duration", "0.05", "--to",
                   f"127.0.0.1:{free_udp_port()}"])
    stderr = capsys.readouterr().err.splitlines()
    assert status == 0
    address = next(line for line in stderr if line.startswith(
        "facs-rig bridge: listening on ")).split()[4].rstrip(",")
    warnings = [line for line in stderr if "warning" in line]
    assert warnings == [f"facs-rig bridge: warning: listening on {address}, beyond this machine: "
                        "anyone on the network who can reach the port can drive the face "
                        "(--listen 127.0.0.1:PORT keeps it local)"] * warned


@pytest.mark.parametrize(("host", "exposed"), [
    ("127.0.0.1", False), ("127.8.0.1", False), ("::1", False), ("0.0.0.0", True), ("::", True),
    ("192.168.1.20", True), ("fe80::1%eth0", True), ("not-an-ip", True)])
def test_which_listen_addresses_reach_beyond_this_machine(host, exposed):
    from facs_rig.io.osc.bridge import listens_beyond_loopback
    assert listens_beyond_loopback(host) is exposed


def test_a_frame_rate_that_misses_the_whole_expression_is_refused_and_sends_nothing(tmp_path):
    """`stream 12 --hold 0.1 --fps 0.5` sent frame 0 (neutral, before the onset) and said
    "1 frames in 0.00 s": the smile never played. Refused, with the rate that shows it."""
    beat = tmp_path / "beat.notes"
    beat.write_text("0 12C\n", encoding="utf-8")
    with OscRecorder() as receiver:
        to = f"127.0.0.1:{receiver.port}"
        result = run_cli("stream", "12", "--hold", "0.1", "--fps", "0.5", "--to", to)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            "facs-rig: error: --fps 0.5 samples one frame every 2 s: none of the 1 frame(s) of "
            "the 0.9 s clip shows its expression (only neutral would be sent); use --fps 2.22 or "
            "more (see 'facs-rig stream --help')\n")
        # A timeline file with --fps: the option is still the mistake (exit 2), the file named.
        result = run_cli("stream", str(beat), "--fps", "0.1", "--to", to)
        assert result.returncode == 2
        assert result.stderr == (
            f"facs-rig: error: {beat}: --fps 0.1 samples one frame every 10 s: none of the 1 "
            f"frame(s) of the 1.8 s clip shows its expression (only neutral would be sent); use "
            f"--fps 1.11 or more\n")
        time.sleep(0.2)
        assert receiver.snapshot() == []
        # At the rate suggested the smile reaches the receiver, then the neutral frame.
        result = run_cli("stream", "12", "--hold", "0.1", "--fps", "2.3", "--rig", "arkit",
                         "--to", to)
        assert result.returncode == 0, result.stderr
        frames = blend_frames(receiver.wait_for(
            lambda messages: len(blend_frames(messages)) == 4))
    assert "3 frames in" in result.stderr and "neutral frame sent" in result.stderr
    smile = [round(frame["MouthSmileLeft"], 4) for frame in frames]
    assert smile == [0.0, 0.5424, 0.0059, 0.0]  # frames at 0, 0.43, 0.87 s, then the neutral one
