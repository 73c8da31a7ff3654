"""Run the Khronos glTF-Validator (npm ``gltf-validator``, a library) under node from the tests.

``.ci/run`` installs the package into ``tests/.node``; :func:`validate_gltf` skips the calling test
when node or the package is missing, and fails it instead under ``FACS_RIG_REQUIRE_INTEROP=1``
(the same rule as :func:`conftest.require_tool`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import missing_interop, require_tool

HERE = Path(__file__).resolve().parent
NODE_PREFIX = HERE / ".node"
SCRIPT = HERE / "gltf_validator.mjs"


def validator_module_dir() -> Path:
    """The folder whose ``node_modules`` holds gltf-validator, or skip/fail when absent."""
    if (NODE_PREFIX / "node_modules" / "gltf-validator").is_dir():
        return NODE_PREFIX
    missing_interop("the npm package gltf-validator is not installed in tests/.node "
                    "(npm install --prefix tests/.node gltf-validator@2.0.0-dev.3.10)")


def validate_gltf(path: str | Path) -> dict:
    """The validator's report for ``path`` (``.glb`` or ``.gltf`` with its resources).

    The report is the package's JSON: ``report["issues"]["numErrors"]``, ``["messages"]`` with
    ``code``, ``severity`` (0 error, 1 warning, 2 info, 3 hint) and ``pointer``.
    """
    node = require_tool("node")
    module_dir = validator_module_dir()
    completed = subprocess.run([node, str(SCRIPT), str(path), str(module_dir)],
                               capture_output=True, text=True, timeout=300, check=False)
    if completed.returncode != 0:
        raise AssertionError(f"gltf-validator could not run on {path}: {completed.stderr.strip()}")
    return json.loads(completed.stdout)


def errors_and_warnings(report: dict) -> list[tuple[int, str, str]]:
    """``(severity, code, pointer)`` of every error and warning in ``report``."""
    return [(m["severity"], m["code"], m.get("pointer", "")) for m in report["issues"]["messages"]
            if m["severity"] <= 1]
