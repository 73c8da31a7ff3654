"""Issue 11 point 5: every step of ``docs/use-in-your-tool.md`` runs as written.

The page's ``facs-rig`` commands run in a temporary folder holding the inputs it names
(``take.json``, ``face.glb``, ``take.csv``); its Blender block runs under Blender's ``bpy``, its
three.js block under node with the npm ``three`` of ``tests/.node``; the VRChat stream is received
on a loopback port. Values are compared with ``facs-rig mix`` of the same timeline.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require_tool, shared_asset
from gltf_validator import validate_gltf
from interop_tools import bpy_python, node_modules
from pythonosc.osc_message import OscMessage

from facs_rig import load_vocabulary
from facs_rig.cli import main
from facs_rig.core.mixing import mix
from facs_rig.core.timeline import sample
from facs_rig.io.gltf import read_gltf
from facs_rig.io.gltf.matching import match_rig
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_files import read_timeline

PAGE = REPO / "docs" / "use-in-your-tool.md"
HERE = Path(__file__).resolve().parent
TAKE = REPO / "examples" / "surprise_then_smile.json"
TITLE = "surprise, then a smile"  # the take's metadata.title: the animation's default name
#: The time the page's Blender and three.js blocks look at: the smile's apex.
APEX = 2.5


def fenced_blocks(language: str) -> list[tuple[str, str]]:
    """``(previous non-blank line, code)`` of every ```language block of the page."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == f"```{language}":
            end = lines.index("```", index + 1)
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            blocks.append((previous, "\n".join(lines[index + 1:end]) + "\n"))
            index = end
        index += 1
    return blocks


def page_commands() -> list[str]:
    return [line for _, code in fenced_blocks("bash") for line in code.splitlines()
            if line.startswith("facs-rig ")]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A reader's folder: the page's inputs under the names it uses, as the working folder."""
    shutil.copy(TAKE, tmp_path / "take.json")
    shutil.copy(shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb"),
                tmp_path / "face.glb")
    shutil.copy(shared_asset("captures/openface/facsvatar_head_test_clean.csv"),
                tmp_path / "take.csv")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_page_command(line: str) -> None:
    assert main(shlex.split(line)[1:]) == 0, line


def expected_at(seconds: float, rig_name: str, rig_file: Path | None = None) -> dict[str, float]:
    """The mixed weights of the take at ``seconds`` (a frame at 30 fps), under the file's names
    when ``rig_file`` is given."""
    profile = load_rig(rig_name)
    weights = mix(sample(read_timeline(TAKE, load_vocabulary()), fps=30,
                         channels=profile.channels), profile)
    frame = int(np.argmin(np.abs(weights.times - seconds)))
    assert abs(weights.times[frame] - seconds) < 1e-9
    by_target = dict(zip(profile.targets, weights.weights[frame].tolist()))
    if rig_file is None:
        return by_target
    match = match_rig(profile, read_gltf(rig_file, geometry=False))
    return {name: by_target[profile.targets[column]]
            for name, column in match.column_of_target.items()}


def test_the_page_lists_the_commands_it_documents():
    commands = page_commands()
    assert [line.split()[1] for line in commands] == ["bake", "bake", "stream", "retarget",
                                                      "retarget"]


def test_bake_commands_write_one_named_animation_first(folder):
    for line in page_commands()[:2]:
        run_page_command(line)
    first = read_gltf(folder / "face_take.glb", geometry=False).source.document
    assert [a["name"] for a in first["animations"]] == [TITLE]
    third = read_gltf(folder / "face_take3.glb", geometry=False).source.document
    assert [a["name"] for a in third["animations"]] == [
        "take 3", "Key|Take 001|BaseLayer", "grp_eyeLeft|Take 001|BaseLayer",
        "grp_eyeRight|Take 001|BaseLayer", "grp_transform|Take 001|BaseLayer"]
    for name in ("face_take.glb", "face_take3.glb"):
        assert validate_gltf(folder / name)["issues"]["numErrors"] == 0


def test_the_blender_block_runs_in_blender(folder):
    (previous, code), = [block for block in fenced_blocks("python") if "under bpy" in block[0]]
    assert previous.startswith("<!-- not-run:")  # the docs runner leaves it to this test
    run_page_command(page_commands()[0])
    (folder / "blender_step.py").write_text(code)
    completed = subprocess.run([bpy_python(), "blender_step.py"], cwd=folder, capture_output=True,
                               text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [line for line in completed.stdout.splitlines() if not re.match(r"\d\d:\d\d:\d\d", line)]
    assert lines[0] == TITLE  # the active action is facs-rig's
    shown = ast.literal_eval(lines[1])
    expected = expected_at(APEX, "arkit", folder / "face.glb")
    assert {name for name, value in expected.items() if value > 0.001} == set(shown)
    for name, value in shown.items():  # printed to 3 decimals; keys reduced within 1e-3
        assert value == pytest.approx(expected[name], abs=1.5e-3), name


@pytest.mark.parametrize("rig", ["face.glb", "default head"])
def test_the_threejs_block_runs_under_node(folder, rig):
    """On the page's rig (Face Cap: ``mouthSmile_L``) and, as the page allows, without
    ``--mesh`` (the default head: ``AU12_L``), where a fixed ``"mouthSmile_L"`` threw."""
    modules = node_modules("three")
    (_, code), = fenced_blocks("js")
    command = page_commands()[0]
    if rig == "default head":
        command = command.replace(" --mesh face.glb", "")
    run_page_command(command)
    (folder / "node_modules").symlink_to(modules)  # bare "three" imports resolve from here
    (folder / "play.mjs").write_text(code)
    completed = subprocess.run([require_tool("node"), "play.mjs"], cwd=folder, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    clip, mesh, name, smile = completed.stdout.strip().rsplit(" ", 3)
    if rig == "default head":
        assert (clip, mesh, name) == (TITLE, "facs_rig_default_head", "AU12_L")
        expected = expected_at(APEX, "facs", REPO / "rigs" / "default_head.glb")["AU12_L"]
    else:
        assert (clip, mesh, name) == (TITLE, "mesh_2", "mouthSmile_L")
        expected = expected_at(APEX, "arkit", folder / "face.glb")["mouthSmile_L"]
    assert expected > 0.5 and float(smile) == pytest.approx(expected, abs=1.5e-3)


def test_the_vrchat_stream_reaches_an_osc_receiver(folder):
    line, = [line for line in page_commands() if " stream " in line]
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # ~16,000 datagrams
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    received: dict[str, list[float]] = {}
    stop = threading.Event()

    def receive() -> None:  # until the stream is over and the socket has been drained
        while True:
            try:
                data = receiver.recv(65536)
            except OSError:
                if stop.is_set():
                    return
                continue
            message = OscMessage(data)
            received.setdefault(message.address, []).append(message.params[0])

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:  # the page's command, aimed at the test's port and cut after the smile's apex
        run_page_command(line.replace("127.0.0.1:9000", f"127.0.0.1:{port}")
                         + " --duration 2.6")
    finally:
        stop.set()
        thread.join(timeout=5)
        receiver.close()
    smile = received["/avatar/parameters/MouthCornerPullLeft"]
    expected = expected_at(APEX, "unified")["MouthCornerPullLeft"]
    assert expected > 0.5 and max(smile) == pytest.approx(expected, abs=1e-6)
    assert set(received) <= {f"/avatar/parameters/{name}" for name in load_rig("unified").targets}


def test_the_live_link_face_csv_has_the_apps_layout(folder):
    line, = [line for line in page_commands() if "take_livelinkface.csv" in line]
    run_page_command(line)
    written = (folder / "take_livelinkface.csv").read_text().splitlines()
    recorded = shared_asset("captures/livelinkface/alex_rom_3.csv").read_text().splitlines()
    assert written[0] == recorded[0]  # the same columns in the same order as the app's own take
    from facs_rig.io.captures import read_capture

    capture = read_capture(folder / "take_livelinkface.csv")  # detected from its header
    assert capture.format == "livelinkface" and capture.n_frames == len(written) - 1
    assert len(capture.blendshapes.names) == 52


def test_the_metahuman_csv_has_one_column_per_control(folder):
    line, = [line for line in page_commands() if "metahuman_weights.csv" in line]
    run_page_command(line)
    header = (folder / "metahuman_weights.csv").read_text().splitlines()[0].split(",")
    assert header == ["time", *load_rig("metahuman").targets]
    (_, code), = [block for block in fenced_blocks("python") if "metahuman_take.csv" in block[1]]
    exec(compile(code, str(PAGE), "exec"), {})  # the page's Python, as a reader runs it
    rows = (folder / "metahuman_take.csv").read_text().splitlines()
    assert rows[0].split(",") == header and len(rows) == 1 + 181  # 6 s at 30 fps, both ends
    smile_column = header.index("CTRL_expressions_mouthCornerPullL")
    apex = rows[1 + 75].split(",")
    expected = expected_at(APEX, "metahuman")["CTRL_expressions_mouthCornerPullL"]
    assert expected > 0.3 and float(apex[smile_column]) == pytest.approx(expected, abs=1e-6)
