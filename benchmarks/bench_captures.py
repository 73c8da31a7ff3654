"""Benchmarks of capture retargeting (issue 8, point 8) and ``facs-rig code`` (issue 11, point 8).

A one-hour, 60 fps Live Link Face take (216,000 rows) is made by tiling the real
``alex_rom_3.csv`` take (or a synthetic take when ../shared/assets is absent) into a temporary
file with fresh timecodes. ``retarget`` measures import + blendshape->AU solve + gap filling +
mixing onto the ``metahuman`` profile, target 5 s. ``code`` runs the whole command
(``python -m facs_rig code TAKE``, its defaults: automatic neutral, zero-phase smoothing,
events, segments) in a fresh process, so its wall time includes start-up and its peak resident
memory is the command's own: targets 5 s and 300 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from run import Benchmark, best_of

from facs_rig.core.curves import TargetWeights
from facs_rig.io.captures import ARKIT_NAMES, read_capture, write_live_link_face
from facs_rig.io.captures.pipeline import CleaningOptions, capture_to_aus, prepare_curves
from facs_rig.io.rig_files import load_rig

REAL_TAKE = (Path(__file__).resolve().parents[2] / "shared" / "assets" / "captures"
             / "livelinkface" / "alex_rom_3.csv")


def _source_rows() -> tuple[str, list[str]]:
    """Header and data rows (without their timecode) of the real take, or a synthetic one."""
    if REAL_TAKE.exists():
        lines = REAL_TAKE.read_text(encoding="utf-8").splitlines()
        return lines[0], [line.split(",", 1)[1] for line in lines[1:] if line]
    rng = np.random.default_rng(0)
    t = np.arange(4000)[:, None] / 30.0
    weights = np.clip(0.5 + 0.5 * np.sin(t * rng.uniform(0.2, 3, 52) + rng.uniform(0, 6, 52)), 0, 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.csv"
        write_live_link_face(TargetWeights(t[:, 0], weights.astype(np.float32), ARKIT_NAMES, 30.0),
                             path)
        lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], [line.split(",", 1)[1] for line in lines[1:] if line]


def make_take(path: Path, rows: int, fps: int = 60) -> None:
    """Write a ``rows``-frame Live Link Face take at ``fps`` by tiling a real take's rows under
    fresh ``HH:MM:SS:FF.000`` timecodes (one frame per row at a ``fps`` timecode rate)."""
    header, source = _source_rows()
    start = 10 * 3600 * fps
    with open(path, "w", encoding="utf-8") as stream:  # line by line: no 170 MB string in memory
        stream.write(header + "\n")
        for row in range(rows):
            frame = start + row
            seconds, ff = divmod(frame, fps)
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            stream.write(f"{hours:02d}:{minutes:02d}:{secs:02d}:{ff:02d}.000,"
                         f"{source[row % len(source)]}\n")


def benchmarks(quick: bool) -> list[Benchmark]:
    rows = 21_600 if quick else 216_000
    rig_name = "metahuman" if _has_rig("metahuman") else "facs"
    state: dict[str, Path] = {}

    def retarget() -> None:
        from facs_rig.core.mixing import mix
        from facs_rig.io.captures.trackers import tracker_for_format

        capture = read_capture(state["path"])
        # With the tracker profile retarget picks (its solve priors: sparsity, pair priors).
        tracker = tracker_for_format(capture.format)
        curves = prepare_curves(capture_to_aus(capture, tracker=tracker).curves, CleaningOptions())
        weights = mix(curves, load_rig(rig_name))
        assert weights.n_frames == rows

    def measure() -> float:
        with tempfile.TemporaryDirectory() as folder:
            state["path"] = Path(folder) / "hour.csv"
            make_take(state["path"], rows)
            load_rig(rig_name)  # profile parsing is not part of the measure
            return best_of(retarget, repeat=1 if quick else 3)

    label = "one hour" if not quick else "six minutes (quick)"
    code_runs: dict[str, float] = {}

    def code_run() -> dict[str, float]:
        """Run ``facs-rig code`` on the take once (best wall time of the repeats, max memory)."""
        if not code_runs:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "hour.csv"
                make_take(path, rows)
                walls, peaks = [], []
                for _ in range(1 if quick else 3):
                    wall, peak = _run_code(path)
                    walls.append(wall)
                    peaks.append(peak)
                code_runs.update(seconds=min(walls), megabytes=max(peaks))
        return code_runs

    return [Benchmark(f"retarget {label} 60 fps Live Link Face -> {rig_name}", "s",
                      5.0 if not quick else 0.5, "lower", measure),
            Benchmark(f"code {label} 60 fps Live Link Face", "s", 5.0 if not quick else 1.0,
                      "lower", lambda: code_run()["seconds"]),
            Benchmark(f"code {label} 60 fps Live Link Face peak memory", "MB",
                      300.0, "lower", lambda: code_run()["megabytes"])]


# VmHWM (the peak resident set of this process image, in kB) rather than ru_maxrss: Linux keeps
# ru_maxrss across exec, so a child forked from this large benchmark process would report the
# parent's size.
_CODE_CHILD = """
import sys
from facs_rig.cli import main
status = main(["code", sys.argv[1]])
with open("/proc/self/status", encoding="ascii") as status_file:
    peak = next(line.split()[1] for line in status_file if line.startswith("VmHWM:"))
print(peak, file=sys.stderr)
sys.exit(status)
"""


def _run_code(path: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of ``facs-rig code PATH`` in a fresh process."""
    root = Path(__file__).resolve().parents[1]
    environment = dict(os.environ, PYTHONPATH=str(root))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CODE_CHILD, str(path)], cwd=root,
                          env=environment, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    kilobytes = float(done.stderr.strip().splitlines()[-1])
    return wall, kilobytes / 1024.0


def _has_rig(name: str) -> bool:
    try:
        load_rig(name)
        return True
    except Exception:  # noqa: BLE001 (a missing profile only changes the benchmark's target)
        return False


