"""Issue 11 point 5, three.js: a baked GLB loaded with three's ``GLTFLoader.parse`` and its first
clip played in an ``AnimationMixer`` (under node, as ``docs/use-in-your-tool.md`` shows) sets
``morphTargetInfluences`` at the apex to the weights ``facs-rig mix`` prints.

The npm package ``three`` is in ``tests/.node`` (git-ignored; ``.ci/run`` installs it). Without node
or the package the tests skip, and fail under ``FACS_RIG_REQUIRE_INTEROP=1``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, require_tool, shared_asset
from interop_tools import mixed_file_weights, node_modules

from facs_rig.cli import main

HERE = Path(__file__).resolve().parent
FACECAP = "rigs/facecap/facecap_decoded_float_notextures.glb"
#: ``6+12`` is held from 0.3 s to 2.3 s: 1.0 s is mid-apex.
APEX_SECONDS = 1.0


def play_in_threejs(path: Path, seconds: float) -> dict:
    modules = node_modules("three")
    completed = subprocess.run([require_tool("node"), str(HERE / "threejs_mixer_check.mjs"),
                                str(path), str(seconds), str(modules.parent)],
                               capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout)


@pytest.mark.parametrize("keep", [False, True])
def test_threejs_plays_the_baked_clip_first_with_mix_values(tmp_path, capsys, keep):
    rig = shared_asset(FACECAP)
    output = tmp_path / "smile.glb"
    assert main(["bake", "6+12", "--mesh", str(rig), "-o", str(output)]
                + (["--keep-animations"] if keep else [])) == 0
    shown = play_in_threejs(output, APEX_SECONDS)
    assert shown["clips"][0] == "6+12" and len(shown["clips"]) == (5 if keep else 1)
    assert shown["duration"] == pytest.approx(2.8, abs=1e-6)
    influences = shown["meshes"]["mesh_2"]
    expected = mixed_file_weights("6+12", "arkit", rig, capsys)
    assert len(influences) == 52 and expected["mouthSmile_L"] == 0.55
    for name, value in influences.items():
        assert value == pytest.approx(expected.get(name, 0.0), abs=1e-6), name


def test_threejs_plays_a_bake_onto_the_default_head(tmp_path, capsys):
    output = tmp_path / "head.glb"
    assert main(["bake", "6+12", "-o", str(output)]) == 0
    shown = play_in_threejs(output, APEX_SECONDS)
    influences = shown["meshes"]["facs_rig_default_head"]
    expected = mixed_file_weights("6+12", "facs", REPO / "rigs" / "default_head.glb", capsys)
    assert len(influences) == 92 and influences["AU12_L"] == pytest.approx(0.55, abs=1e-6)
    for name, value in influences.items():
        assert value == pytest.approx(expected.get(name, 0.0), abs=1e-6), name
