"""Benchmarks of ``facs-rig batch`` on a local Dask cluster (issue 15, point 8).

N one-minute, 60 fps Live Link Face takes (made from the real ``alex_rom_3.csv`` take by
``bench_captures.make_take``; N = 200, or ``FACS_RIG_BENCH_BATCH_TAKES``) in a temporary
folder, each batched to an AU timeline ``.json`` plus its FACS summary, QC and heat map:

* speed-up: takes per second of ``run_batch`` on a 2-worker local cluster (cluster start and
  report included) over the serial loop doing the same work per take in one process
  (:func:`facs_rig.cluster.work.process_take`), target >= 1.8 on 2 cores;
* overhead per take: the wall time of a batch on a 1-worker local cluster (cluster start and
  report included) minus the serial loop's, per take, target <= 50 ms: both run the takes one
  at a time, so the difference is what Dask and the batch bookkeeping add, whatever the load;
* client memory: the client's peak RSS with N takes minus its peak with N/4 takes, target
  <= 20 MB (it must not grow with the batch: tasks return small summaries only).

Before measuring, a pure-CPU control (two busy loops in two processes against one) prints the
parallel speed-up the machine gives at the moment: on a loaded shared machine it is well under 2,
and no batch can beat it.

The batches run in fresh subprocesses (so each peak RSS is the client's own), on every core:
``run.py`` pins itself to one core, which the cluster's workers would otherwise inherit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_captures import make_take
from run import Benchmark

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2

_CLIENT = r"""
import json, resource, sys, time
from facs_rig.cluster import BatchSettings, OutputNames, run_batch
folder, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
started = []
outcome = run_batch([folder], BatchSettings(OutputNames(out + "/{stem}.json")), workers=workers,
                    on_start=lambda link: started.append(time.perf_counter() - start))
seconds = time.perf_counter() - start
assert outcome.result.failed == 0 and outcome.result.done == outcome.total, outcome.failures[:3]
print(json.dumps({"seconds": seconds, "takes": outcome.total, "start": started[0],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _takes(folder: Path, count: int, rows: int) -> None:
    first = folder / "take0000.csv"
    make_take(first, rows)
    for k in range(1, count):
        shutil.copyfile(first, folder / f"take{k:04d}.csv")


_BUSY = "total = 0\nfor k in range(8_000_000):\n    total += k\n"


def parallel_ceiling() -> float:
    """How much faster two busy processes finish two loops than one process finishes one twice."""
    def run(copies: int) -> float:
        start = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", _BUSY], preexec_fn=_every_core)
                     for _ in range(copies)]
        for process in processes:
            process.wait(timeout=600)
        return time.perf_counter() - start

    return 2 * run(1) / run(2)


def _every_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _batch_in_subprocess(folder: Path, out: Path, workers: int = WORKERS) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = "1"  # one BLAS thread per worker process, as Dask's nanny sets
    # Every core for the client and its cluster (run.py pinned this process to one).
    completed = subprocess.run([sys.executable, "-c", _CLIENT, str(folder), str(out), str(workers)],
                               env=env, capture_output=True, text=True, check=False,
                               preexec_fn=_every_core, timeout=3600)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip().splitlines()[-1] if completed.stderr else
                           f"batch exited {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _serial_seconds(folder: Path, out: Path) -> float:
    from facs_rig.cluster import BatchSettings, OutputNames, plan_jobs
    from facs_rig.cluster.work import process_take

    out.mkdir()
    jobs, _ = plan_jobs([str(folder)], BatchSettings(OutputNames(str(out / "{stem}.json"))))
    start = time.perf_counter()
    for job in jobs:
        result = process_take(job)
        assert result["status"] == "ok", result
    return time.perf_counter() - start


def benchmarks(quick: bool) -> list[Benchmark]:
    count = int(os.environ.get("FACS_RIG_BENCH_BATCH_TAKES", 16 if quick else 200))
    rows = 600 if quick else 3600  # 10 s or one minute at 60 fps
    state: dict[str, float] = {}

    def run_all() -> dict[str, float]:
        if state:
            return state
        with tempfile.TemporaryDirectory() as temporary:
            root = Path(temporary)
            many, few = root / "many", root / "few"
            many.mkdir(), few.mkdir()
            _takes(many, count, rows)
            for path in sorted(many.iterdir())[: max(2, count // 4)]:
                shutil.copyfile(path, few / path.name)
            ceiling = parallel_ceiling()
            serial = _serial_seconds(many, root / "serial")
            one = _batch_in_subprocess(many, root / "batch-1", workers=1)
            batch = _batch_in_subprocess(many, root / "batch")
            small = _batch_in_subprocess(few, root / "batch-few")
        state.update(
            speedup=(count / batch["seconds"]) / (count / serial),
            overhead_ms=(one["seconds"] - serial) / count * 1000.0,
            memory_growth_mb=batch["peak_rss_mb"] - small["peak_rss_mb"],
            serial_rate=count / serial, batch_rate=count / batch["seconds"])
        print(f"# batch: {count} takes of {rows} rows: serial {state['serial_rate']:.2f} takes/s, "
              f"local cluster ({WORKERS} workers) {state['batch_rate']:.2f} takes/s (cluster up "
              f"in {batch['start']:.1f} s), 1 worker {count / one['seconds']:.2f} takes/s; "
              f"machine's parallel ceiling now {ceiling:.2f}x; client peak "
              f"RSS {small['peak_rss_mb']:.0f} MB ({small['takes']} takes) -> "
              f"{batch['peak_rss_mb']:.0f} MB ({batch['takes']} takes)", flush=True)
        return state

    label = f"{count} x {'10 s' if rows == 600 else '1 min'} takes"
    return [
        Benchmark(f"batch speed-up, {WORKERS}-worker local cluster vs serial ({label})", "x",
                  1.8, "higher", lambda: run_all()["speedup"]),
        Benchmark(f"batch overhead per take ({label})", "ms", 50.0, "lower",
                  lambda: run_all()["overhead_ms"]),
        Benchmark(f"batch client peak memory growth, N/4 -> N takes ({label})", "MB", 20.0,
                  "lower", lambda: run_all()["memory_growth_mb"]),
    ]
