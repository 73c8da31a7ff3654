"""Outside tools for the DCC interop tests: Blender's Python (``bpy``) and npm packages under node.

Each lookup skips the calling test when the tool is missing and fails it instead under
``FACS_RIG_REQUIRE_INTEROP=1`` (the rule of :func:`conftest.require_tool`). ``.ci/run`` installs
them: ``tests/.bpy-venv`` (bpy pins numpy 1.26, so it never goes into the test environment) and
``tests/.node`` (npm ``three``, ``gltf-validator``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import missing_interop, require_tool

from facs_rig.cli import main
from facs_rig.io.gltf import read_gltf
from facs_rig.io.gltf.matching import match_rig
from facs_rig.io.rig_files import load_rig

HERE = Path(__file__).resolve().parent
NODE_PREFIX = HERE / ".node"


def bpy_python() -> str:
    """The interpreter that can ``import bpy``: ``$FACS_RIG_BPY_PYTHON``, else
    ``tests/.bpy-venv/bin/python`` (made by ``.ci/run``), else ``/opt/bpy-venv/bin/python``."""
    candidates = [os.environ.get("FACS_RIG_BPY_PYTHON"), str(HERE / ".bpy-venv" / "bin" / "python"),
                  "/opt/bpy-venv/bin/python"]
    found = next((c for c in candidates if c and Path(c).exists()), None)
    return require_tool("python with bpy (FACS_RIG_BPY_PYTHON)", path=found)


def node_modules(package: str) -> Path:
    """``tests/.node/node_modules`` once node and the npm ``package`` are there."""
    require_tool("node")
    modules = NODE_PREFIX / "node_modules"
    if not (modules / package).is_dir():
        missing_interop(f"the npm package {package} is not installed in tests/.node "
                        f"(npm install --prefix tests/.node {package})")
    return modules


def mixed_file_weights(code: str, rig_name: str, rig_file: Path, capsys) -> dict[str, float]:
    """``facs-rig mix CODE --rig RIG --json``, under the glTF file's own target names."""
    capsys.readouterr()
    assert main(["mix", code, "--rig", rig_name, "--json"]) == 0
    by_profile = json.loads(capsys.readouterr().out)
    profile = load_rig(rig_name)
    match = match_rig(profile, read_gltf(rig_file, geometry=False))
    return {name: by_profile[profile.targets[column]]
            for name, column in match.column_of_target.items()}
