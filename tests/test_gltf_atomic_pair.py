"""Issue 11 point 13: a ``.gltf`` and its ``.bin`` are replaced together. A run killed (SIGKILL,
for real, in a child process) before, between or after the two renames leaves a consistent pair,
old or new, and the next write removes the ``.part`` files it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO
from gltf_samples import quad_rig
from gltf_validator import validate_gltf

from facs_rig.errors import OutputError
from facs_rig.io.atomic import remove_stale_parts
from facs_rig.io.gltf import read_gltf, read_gltf_source
from facs_rig.io.gltf.accessors import read_accessor_float

#: A child process that bakes ``code`` onto ``rig`` as ``out`` and SIGKILLs itself at one step:
#: the n-th ``os.replace`` (1: the .bin, 2: the .gltf) or the first ``os.unlink`` of a .bin
#: (the old buffer's removal, after the switch).
_CHILD = textwrap.dedent("""
    import os, signal, sys
    stage, code, rig, out = sys.argv[1:5]
    replaces = []
    real_replace, real_unlink = os.replace, os.unlink
    def replace(src, dst):
        replaces.append(dst)
        if stage.startswith("replace") and len(replaces) == int(stage[-1]):
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
    def unlink(path, *args, **kwargs):
        if stage == "unlink-old-bin" and str(path).endswith(".bin"):
            os.kill(os.getpid(), signal.SIGKILL)
        real_unlink(path, *args, **kwargs)
    os.replace, os.unlink = replace, unlink
    from facs_rig.cli import main
    sys.exit(main(["bake", code, "--mesh", rig, "--rig", "arkit", "--no-reduce", "-o", out]))
""")


def _bake_in_child(stage: str, code: str, rig, out) -> int:
    completed = subprocess.run([sys.executable, "-c", _CHILD, stage, code, str(rig), str(out)],
                               cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return completed.returncode


def _apex_weights(path) -> np.ndarray:
    """The weights of the pair's (first) animation at its largest key, per target (jaw, smile)."""
    source = read_gltf_source(path)  # refuses a .gltf whose buffer is missing or short
    sampler = source.document["animations"][0]["samplers"][0]
    times = read_accessor_float(source, sampler["input"])[:, 0]
    values = read_accessor_float(source, sampler["output"])[:, 0].reshape(times.size, -1)
    return values.max(axis=0)


@pytest.fixture
def rig(tmp_path):
    builder, _ = quad_rig(names=("jawOpen", "mouthSmileLeft"))
    path = tmp_path / "quad.glb"
    path.write_bytes(builder.glb())
    return path


def _files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("stage", ["replace1", "replace2", "unlink-old-bin"])
def test_a_kill_at_any_step_leaves_a_consistent_pair(tmp_path, rig, stage):
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    out = out_folder / "face.gltf"
    assert _bake_in_child("none", "26", rig, out) == 0  # old pair: jaw open, no smile
    old = _apex_weights(out)
    assert old[0] > 0.3 and old[1] == 0.0
    assert _files(out_folder) == ["face.bin", "face.gltf"]

    assert _bake_in_child(stage, "12", rig, out) == -9  # killed by SIGKILL
    weights = _apex_weights(out)
    if stage == "unlink-old-bin":  # killed after the switch: the new pair, old .bin left over
        assert weights[0] == 0.0 and weights[1] > 0.3
    else:  # killed before the switch: the old pair, untouched
        np.testing.assert_array_equal(weights, old)
        assert json.loads(out.read_text())["buffers"][0]["uri"] == "face.bin"
    leftovers = [name for name in _files(out_folder) if name.endswith(".part")]
    assert len(leftovers) == (0 if stage == "unlink-old-bin" else 1)

    # The next write cleans up the killed run's .part files and leaves exactly one valid pair.
    assert _bake_in_child("none", "1+2", rig, out) == 0
    names = _files(out_folder)
    assert not [name for name in names if name.endswith(".part")]
    uri = json.loads(out.read_text())["buffers"][0]["uri"]
    assert uri in names and uri.startswith("face")
    assert validate_gltf(out)["issues"]["numErrors"] == 0
    np.testing.assert_array_equal(_apex_weights(out), [0.0, 0.0])  # 1+2 moves neither target
    assert names == sorted(["face.gltf", uri])  # the old and any orphaned buffer are gone


def test_rewriting_alternates_the_buffer_name_and_removes_the_old_one(tmp_path, rig):
    out = tmp_path / "face.gltf"
    seen = []
    for code in ("26", "12", "26"):
        assert _bake_in_child("none", code, rig, out) == 0
        uri = json.loads(out.read_text())["buffers"][0]["uri"]
        seen.append(uri)
        assert _files(tmp_path) == sorted(["face.gltf", uri, "quad.glb"])
    assert seen == ["face.bin", "face.gltf.bin", "face.bin"]
    assert read_gltf(out).source.buffers


def test_stale_parts_of_dead_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".face.bin.{dead_pid}.abc_1234.part"
    live = tmp_path / f".face.bin.{os.getpid()}.xyz_5678.part"
    other = tmp_path / f".notes.txt.{dead_pid}.abcd1234.part"
    not_ours = tmp_path / f".face.bin.{dead_pid}.part"
    for path in (stale, live, other, not_ours):
        path.write_bytes(b"x")
    assert remove_stale_parts(tmp_path, r"face\.bin") == [stale]
    assert _files(tmp_path) == sorted([live.name, other.name, not_ours.name])
    assert remove_stale_parts(tmp_path) == [other]  # any name of ours
    assert _files(tmp_path) == sorted([live.name, not_ours.name])


def test_an_output_whose_buffer_name_is_an_input_buffer_is_refused(tmp_path, rig):
    # face.gltf would write or remove face.gltf.bin: the input reads it.
    builder, _ = quad_rig(names=("jawOpen",))
    source_path = builder.write_gltf_external(tmp_path, "input")
    (tmp_path / "face.gltf.bin").write_bytes((tmp_path / "input.bin").read_bytes())
    document = json.loads(source_path.read_text())
    document["buffers"][0]["uri"] = "face.gltf.bin"
    source_path.write_text(json.dumps(document))
    from facs_rig.io.gltf.pipeline import bake_timeline
    from facs_rig.io.timeline_files import load_timeline_argument
    from facs_rig.resources import load_vocabulary

    timeline = load_timeline_argument("26", load_vocabulary(), hold=1.0)
    with pytest.raises(OutputError, match="face.gltf.bin: output is the input file"):
        bake_timeline(timeline, source_path, tmp_path / "face.gltf", rig="arkit")
    assert not (tmp_path / "face.gltf").exists()
