"""Issue 11 point 4, checked in Blender itself: a baked GLB imported with Blender's glTF importer
(``bpy.ops.import_scene.gltf``) makes facs-rig's animation the active action of the shape keys,
with one F-curve per shape key, and the values at the apex equal ``facs-rig mix``.

``bpy`` pins numpy 1.26, so it lives in its own venv and runs as a child process: the
interpreter is ``$FACS_RIG_BPY_PYTHON``, else ``tests/.bpy-venv/bin/python`` (made by ``.ci/run``),
else ``/opt/bpy-venv/bin/python``. Without one the tests skip, and fail under
``FACS_RIG_REQUIRE_INTEROP=1``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import shared_asset
from interop_tools import bpy_python, mixed_file_weights

from facs_rig.cli import main

HERE = Path(__file__).resolve().parent
FACECAP = "rigs/facecap/facecap_decoded_float_notextures.glb"
#: Every code here is held from 0.3 s (onset) to 2.3 s (apex end): 1.0 s is mid-apex, frame 24
#: at Blender's default 24 fps.
APEX_SECONDS = 1.0


def blender_import(path: Path) -> dict:
    completed = subprocess.run([bpy_python(), str(HERE / "blender_import_check.py"), str(path),
                                str(APEX_SECONDS)], capture_output=True, text=True, timeout=300,
                               check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert completed.returncode == 0 and lines, completed.stderr[-2000:]
    return json.loads(lines[-1][len("REPORT "):])


@pytest.mark.parametrize("keep", [False, True])
def test_blender_makes_the_baked_animation_active_with_mix_values(tmp_path, capsys, keep):
    rig = shared_asset(FACECAP)  # has its own 'Key|Take 001|BaseLayer' shape-key animation
    output = tmp_path / "smile.glb"
    argv = ["bake", "6+12", "--mesh", str(rig), "-o", str(output)]
    assert main(argv + (["--keep-animations"] if keep else [])) == 0
    report = blender_import(output)
    face = report["objects"]["Mesh_2"]  # Face Cap's head: the only mesh with shape keys
    assert face["active_action"] == "6+12" and face["slot"] == "KEMesh_2"
    names = list(face["values"])
    assert len(names) == 52
    assert sorted(face["fcurves"]) == sorted(f'key_blocks["{name}"].value' for name in names)
    if keep:  # the capture's own animation is stashed, not active
        assert face["nla_tracks"] == ["Key|Take 001|BaseLayer", "6+12"]
    else:
        assert face["nla_tracks"] == ["6+12"]
    expected = mixed_file_weights("6+12", "arkit", rig, capsys)
    assert expected["mouthSmile_L"] == 0.55 and expected["cheekSquint_L"] > 0.6
    for name in names:
        assert face["values"][name] == pytest.approx(expected.get(name, 0.0), abs=1e-6), name


def test_blender_after_a_rebake_has_one_facs_rig_action(tmp_path):
    first, second = tmp_path / "first.glb", tmp_path / "second.glb"
    rig = shared_asset(FACECAP)
    assert main(["bake", "12", "--mesh", str(rig), "--name", "take", "-o", str(first)]) == 0
    assert main(["bake", "26", "--mesh", str(first), "--name", "take", "-o", str(second)]) == 0
    face = blender_import(second)["objects"]["Mesh_2"]
    assert face["active_action"] == "take" and face["nla_tracks"] == ["take"]
    assert face["values"]["jawOpen"] > 0.3 and face["values"]["mouthSmile_L"] == 0.0

