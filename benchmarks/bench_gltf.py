"""Benchmarks of the glTF bridge: the deformation engine and baking onto the ICT FaceKit rig.

Rigs are synthetic unless said otherwise. "every vertex" rigs are the worst case for the engine
(each target moves every vertex, so no target can be skipped cheaply); "local" rigs are what real
scanned heads look like (each target moves one contiguous region of the vertex order; ICT FaceKit's
targets move 9-67 % of its vertices).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from run import Benchmark, best_of

from facs_rig.core.deform import Deformer
from facs_rig.core.mesh import MorphMesh

ICT = Path(__file__).resolve().parents[2] / "shared" / "assets" / "rigs" / "ict_facekit" / \
    "ict_facekit_53_expressions_sparse.glb"


def synthetic_rig(n_vertices: int, n_targets: int, region: float, seed: int = 0) -> MorphMesh:
    """A rig whose targets each move ``region`` of the vertices (1.0: every vertex)."""
    rng = np.random.default_rng(seed)
    positions = rng.normal(size=(n_vertices, 3)).astype(np.float32)
    deltas = np.zeros((n_targets, n_vertices, 3), dtype=np.float32)
    width = max(1, int(n_vertices * region))
    for k in range(n_targets):
        start = int(rng.integers(0, n_vertices - width + 1))
        deltas[k, start:start + width] = rng.normal(0, 0.01, size=(width, 3))
    return MorphMesh("bench", positions, np.zeros((0, 3), np.uint32),
                     tuple(f"t{k}" for k in range(n_targets)), deltas)


def _frames_per_second(deformer: Deformer, weights: np.ndarray, *, batch: int | None,
                       repeat: int) -> float:
    n_vertices = deformer.n_vertices
    if batch is None:
        out = np.zeros((n_vertices, 3), np.float32)

        def run() -> None:
            for row in weights:
                deformer(row, out=out)
    else:
        out = np.zeros((batch, n_vertices, 3), np.float32)

        def run() -> None:
            for start in range(0, weights.shape[0], batch):
                deformer(weights[start:start + batch], out=out)
    return weights.shape[0] / best_of(run, repeat=repeat)


def _few_active(n_frames: int, n_targets: int, active: int, rng) -> np.ndarray:
    weights = np.zeros((n_frames, n_targets), np.float32)
    for row in weights:
        row[rng.choice(n_targets, size=active, replace=False)] = rng.random(active)
    return weights


def benchmarks(quick: bool) -> list[Benchmark]:
    repeat = 1 if quick else 5
    rng = np.random.default_rng(7)
    cache: dict[str, Deformer] = {}

    def deformer(key: str, n_vertices: int, n_targets: int, region: float) -> Deformer:
        if key not in cache:
            cache.clear()  # one large rig in memory at a time
            cache[key] = Deformer(synthetic_rig(n_vertices, n_targets, region))
        return cache[key]

    small_frames = 300 if quick else 2000

    def small_single() -> float:
        engine = deformer("20k", 20_000, 52, 1.0)
        return _frames_per_second(engine, rng.random((small_frames, 52)).astype(np.float32),
                                  batch=None, repeat=repeat)

    def small_batch() -> float:
        engine = deformer("20k", 20_000, 52, 1.0)
        return _frames_per_second(engine, rng.random((4000, 52)).astype(np.float32),
                                  batch=1000, repeat=repeat)

    large_frames = 20 if quick else 100

    def large_all(region: float) -> float:
        engine = deformer(f"100k-{region}", 100_000, 250, region)
        return _frames_per_second(engine, rng.random((large_frames, 250)).astype(np.float32),
                                  batch=None, repeat=repeat)

    def large_few(region: float) -> float:
        engine = deformer(f"100k-{region}", 100_000, 250, region)
        return _frames_per_second(engine, _few_active(large_frames * 5, 250, 12, rng),
                                  batch=None, repeat=repeat)

    def bake_hour() -> float:
        if not ICT.exists():
            raise FileNotFoundError(f"{ICT} (the shared assets) is not present")
        from facs_rig.core.channels import Channel
        from facs_rig.core.timeline import AUEvent, Timeline
        from facs_rig.io.gltf.pipeline import bake_timeline

        duration = 3600.0  # even with --quick: it takes about a second, and a shorter take
        # scaled up would multiply the fixed costs (reading the rig) by the scale factor
        aus = (1, 2, 4, 6, 7, 12, 15, 17, 20, 25, 26, 43)
        events, start = [], 0.0
        event_rng = np.random.default_rng(11)
        while start < duration - 4:  # a new expression every 1.5 s, about 2,400 in an hour
            for au in event_rng.choice(aus, size=3, replace=False):
                events.append(AUEvent(channel=Channel(int(au)), intensity=float(
                    event_rng.uniform(0.3, 1.0)), start=start, onset=0.3, apex=1.0, offset=0.4))
            start += 1.5
        timeline = Timeline(events=tuple(events), duration=duration, fps=60.0)
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "hour.glb"
            started = time.perf_counter()
            bake_timeline(timeline, ICT, output, rig="arkit", fps=60.0)
            elapsed = time.perf_counter() - started
        return elapsed

    return [
        Benchmark("deform 20k verts x 52 targets (every vertex), frame by frame", "frames/s",
                  3000, "higher", small_single),
        Benchmark("deform 20k verts x 52 targets (every vertex), batches of 1000", "frames/s",
                  8000, "higher", small_batch),
        Benchmark("deform 100k x 250 (every vertex), all targets active", "frames/s", 55,
                  "higher", lambda: large_all(1.0)),
        Benchmark("deform 100k x 250 (every vertex), 12 targets active", "frames/s", 1000,
                  "higher", lambda: large_few(1.0)),
        Benchmark("deform 100k x 250 (local, 15% each), all targets active", "frames/s", 55,
                  "higher", lambda: large_all(0.15)),
        Benchmark("deform 100k x 250 (local, 15% each), 12 targets active", "frames/s", 1000,
                  "higher", lambda: large_few(0.15)),
        Benchmark("bake 1 h at 60 fps onto ICT FaceKit (sample+mix+reduce+write)", "s", 3.0,
                  "lower", bake_hour),
    ]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through benchmarks/run.py --only deform (or --only bake)")
