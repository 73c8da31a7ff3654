"""Shared fixtures: the bundled vocabulary, the shared real-asset folder, interop tool lookup."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

from facs_rig import load_vocabulary

# No per-example deadline: speed is measured in benchmarks/run.py, never in tests, and Hypothesis's
# 200 ms default failed a rig-validation property on a machine with a load average of 10.
settings.register_profile("facs-rig", deadline=None)
settings.load_profile("facs-rig")

REPO = Path(__file__).resolve().parents[1]
#: Real third-party rigs and captures, beside the repository (never copied into it).
SHARED_ASSETS = REPO.parent / "shared" / "assets"
REQUIRE_INTEROP = os.environ.get("FACS_RIG_REQUIRE_INTEROP") == "1"


@pytest.fixture(scope="session")
def vocabulary():
    return load_vocabulary()


def shared_asset(relative: str) -> Path:
    """Path of a file under ../shared/assets, or skip the test when the folder is absent."""
    path = SHARED_ASSETS / relative
    if not path.exists():
        pytest.skip(f"real asset {relative} not present (../shared/assets is not beside the repo)")
    return path


def missing_interop(message: str) -> NoReturn:
    """An outside interop tool or package is missing: skip, or fail under
    FACS_RIG_REQUIRE_INTEROP=1 (as .ci/run sets, so that CI never skips them)."""
    if REQUIRE_INTEROP:
        pytest.fail(message + " and FACS_RIG_REQUIRE_INTEROP=1 is set")
    pytest.skip(message)


def require_tool(name: str, path: str | None = None) -> str:
    """Locate an outside interop tool; skip when missing, or fail under FACS_RIG_REQUIRE_INTEROP=1."""
    found = path if path and Path(path).exists() else shutil.which(name)
    if found:
        return found
    missing_interop(f"interop tool {name!r} is not installed (see .ci/run for how CI installs it)")


def end_with_this_process() -> None:
    """``preexec_fn`` for a test's long-lived child (a ``dask scheduler``, a ``dask worker``):
    on Linux it gets SIGTERM when the pytest process ends, however it ends. A ``finally`` stops
    it when the test ends, but not when pytest itself is killed (a timeout, a hang killed by
    hand): a scheduler and two workers left that way ran on for half an hour, using ~11 % of
    this machine's CPU under the next benchmark."""
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def write_openface_smile_lost_midway(path: Path) -> Path:
    """30 s of OpenFace at 30 fps at ``path``: 6+12 at 3.0 from 8 to 22 s, the face lost
    (success 0) from 10 to 20 s."""
    rows = ["frame,timestamp,confidence,success,AU06_r,AU12_r"]
    for frame in range(900):
        time = frame / 30
        value = "3.0" if 8 <= time < 22 else "0.0"
        rows.append(f"{frame + 1},{time:.4f},0.98,{0 if 10 <= time < 20 else 1},{value},{value}")
    path.write_text("\n".join(rows) + "\n")
    return path


def write_mediapipe_smile(path: Path, fps: float = 30.0) -> Path:
    """A 10 s MediaPipe take at ``path``: at rest (a resting squint, as MediaPipe reads one),
    a Duchenne smile from 4 to 6 s (squint and smile raised), rest again to 10 s."""
    import csv

    import numpy as np

    from facs_rig.io.captures.arkit_names import ARKIT_NAMES

    times = np.arange(int(10 * fps)) / fps
    names = [n for n in ARKIT_NAMES if n != "tongueOut"]
    values = np.zeros((times.size, len(names)))
    smiling = (times >= 4.0) & (times < 6.0)
    for shape, rest, peak in (("eyeSquintLeft", 0.21, 0.42), ("eyeSquintRight", 0.22, 0.43),
                              ("mouthSmileLeft", 0.01, 0.51), ("mouthSmileRight", 0.02, 0.52)):
        values[:, names.index(shape)] = np.where(smiling, peak, rest)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["time_s", "_neutral", *names]] + [
            [f"{t:.6f}", "0", *(f"{v:g}" for v in row)] for t, row in zip(times, values)])
    return path
