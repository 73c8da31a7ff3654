"""Packaging: the built wheel carries the package data and the bundled rigs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the 'build' package (test extra) builds the wheel")
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    wheels = list(out.glob("facs_rig-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contains_data_and_rigs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("action_units.json", "intensity_scales.json", "expressions.json"):
        assert f"facs_rig/data/{data}" in names
    tracked_rigs = subprocess.run(["git", "ls-files", "rigs"], cwd=REPO, capture_output=True,
                                  text=True, check=True).stdout.split()
    assert tracked_rigs, "rigs/ holds the bundled profiles"
    for path in tracked_rigs:
        assert "facs_rig/_rigs/" + path.removeprefix("rigs/") in names
    assert "facs_rig/py.typed" in names
    assert any(name.endswith("entry_points.txt") for name in names)


def test_installed_wheel_finds_its_data(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), str(wheel)], check=True)
    code = ("import facs_rig, facs_rig.resources as r; "
            "assert '_rigs' in str(r.rigs_dir()), r.rigs_dir(); "
            "assert str(facs_rig.__file__).startswith(%r); "
            "print(facs_rig.parse('surprise'))" % str(target))
    environment = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1+2+5B+25+26"
