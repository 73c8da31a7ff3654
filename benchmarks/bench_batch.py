"""Benchmarks of ``facs-rig batch`` on a local Dask cluster (issue 15, point 8).

N one-minute, 60 fps Live Link Face takes (made from the real ``alex_rom_3.csv`` take by
``bench_captures.make_take``; N = 200, or ``FACS_RIG_BENCH_BATCH_TAKES``) in a temporary
folder, each batched to an AU timeline ``.json`` plus its FACS summary, QC and heat map.

Every run is a fresh Python process started the same way and timed the same way, from before it
imports facs-rig to its end (so imports, Dask's included, count):

* **serial**: the serial loop: :func:`~facs_rig.cluster.plan_jobs` then
  :func:`~facs_rig.cluster.work.process_take` per take, in one process (the same work per take
  as a batch: the outputs, the FACS summary, the QC figures, the heat map);
* **batch, 1 and 2 workers**: :func:`~facs_rig.cluster.run_batch` on a local cluster of that many
  workers: cluster start and stop, the results manifest and the QC report included;
* **empty tasks**: the engine (:func:`~facs_rig.cluster.engine.run_jobs`, 1 worker) sending the
  same N takes to a task that does nothing: what Dask and the manifest cost per take alone.

The figures, each against its target:

* speed-up = takes/s of the 2-worker batch / takes/s of the serial loop (target >= 1.8 on 2
  cores). The two alternate, ``FACS_RIG_BENCH_BATCH_PAIRS`` (3) pairs of runs, and the figure
  is the median of the pairs' ratios: on this shared machine the serial loop alone moved from
  33 to 54 s between runs, more than the margin, and a single pair read that noise as a result;
* overhead per take = (wall of the 1-worker batch - wall of the serial loop) / N (target
  <= 50 ms): both do the takes one at a time, so the difference is everything a batch adds
  (importing Dask, starting and stopping the cluster, a scheduler round trip and a manifest line
  per take, the report), whatever the speed of the takes themselves;
* CPU overhead per take = (CPU seconds of every process of the 2-worker batch - those of the
  serial loop) / N (same 50 ms): the work a batch adds, which the takes' own work competes with
  when the cores are busy. CPU time is much less sensitive than wall time to other programs on the
  machine, so this is the figure to trust on a loaded one;
* client memory: the client's peak RSS with N takes minus its peak with N/4 takes (target
  <= 20 MB: tasks return small summaries, never arrays).

A pure-CPU control (two busy loops in two processes against one) prints the parallel speed-up the
machine gives at the moment: on a loaded shared machine it is well under 2, and no batch can beat
it. The load average is printed too. A second control is the takes' own ceiling: each pair also
runs two serial loops at once, each on half the takes, with no Dask at all; their speed-up over
the pair's serial loop is the most any engine could give this work on this machine (two
processes' numpy work share caches and memory bandwidth, which busy loops do not).

The runs get every core: ``run.py`` pins itself to one core, which they would otherwise inherit.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_captures import make_take
from run import Benchmark, every_core

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
#: Alternating serial/batch pairs; the speed-up is their median ratio.
PAIRS = int(os.environ.get("FACS_RIG_BENCH_BATCH_PAIRS", 3))

# One run in a fresh process: MODE FOLDER OUT WORKERS; prints one JSON line.
_RUN = r"""
import json, resource, sys, time


def cpu_seconds():
    # Reaped children (the cluster's worker processes, once it is closed) included.
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def peak_rss_mb():
    # VmHWM is this process's own peak: ru_maxrss starts from the parent's RSS at fork time
    # (Linux keeps it across exec), which hid the client's growth behind run.py's ~140 MB.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_for_fork_server(timeout=30.0):
    # The local cluster's workers are forked by a fork server that ends just after the batch
    # returns (facs-rig reaps it in a thread): the CPU of the server and of every worker it
    # reaped reaches RUSAGE_CHILDREN once it is reaped. Wall time is read before this wait.
    # A server is known by its command line while it runs; once seen, it is waited for until
    # it is no longer a child at all (its command line reads empty while it exits).
    import os
    servers = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = set()
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/children", encoding="ascii") as listing:
                    children.update(listing.read().split())
            except OSError:
                pass
        for pid in children - servers:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as command:
                    if b"multiprocessing.forkserver" in command.read():
                        servers.add(pid)
            except OSError:
                pass
        if not servers & children:
            return
        time.sleep(0.01)


def empty_take(job):
    return {"key": job.key, "status": "ok", "capture": job.capture, "outputs": []}


def main():
    mode, folder, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    part, parts = (int(n) for n in sys.argv[5].split("/")) if len(sys.argv) > 5 else (0, 1)
    start = time.perf_counter()
    marks = {}
    from facs_rig.cluster import BatchSettings, OutputNames, ResultsManifest, plan_jobs, run_batch
    from facs_rig.cluster.engine import run_jobs
    from facs_rig.cluster.takes import report_folder

    settings = BatchSettings(OutputNames(out + "/{stem}.json"))
    on_start = lambda link: marks.setdefault("up", time.perf_counter() - start)
    on_result = lambda entry: marks.__setitem__("last", time.perf_counter() - start)
    if mode == "serial":
        from facs_rig.cluster.work import process_take

        jobs, _ = plan_jobs([folder], settings)
        jobs = jobs[part::parts]  # one share of the takes, for the side-by-side control
        for job in jobs:
            result = process_take(job)
            assert result["status"] == "ok", result
        takes = len(jobs)
    elif mode == "empty":
        folder_out = report_folder(settings.outputs.template)
        folder_out.mkdir(parents=True)
        jobs, _ = plan_jobs([folder], settings)
        result = run_jobs(jobs, ResultsManifest(folder_out), workers=workers, task=empty_take,
                          on_start=on_start, on_result=on_result)
        assert result.done == len(jobs), result
        takes = len(jobs)
    else:
        outcome = run_batch([folder], settings, workers=workers, on_start=on_start,
                            on_result=on_result)
        assert outcome.result.failed == 0 and outcome.result.done == outcome.total, \
            outcome.failures[:3]
        takes = outcome.total
    seconds = time.perf_counter() - start
    wait_for_fork_server()
    print(json.dumps({"seconds": seconds, "takes": takes, "cpu": cpu_seconds(), **marks,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":  # the cluster's worker processes are spawned: they import this file
    main()
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
        processes = [subprocess.Popen([sys.executable, "-c", _BUSY], preexec_fn=every_core)
                     for _ in range(copies)]
        for process in processes:
            process.wait(timeout=600)
        return time.perf_counter() - start

    return 2 * run(1) / run(2)


def _command(script: Path, mode: str, folder: Path, out: Path, workers: int = 0,
             share: str = "0/1") -> list[str]:
    return [sys.executable, str(script), mode, str(folder), str(out), str(workers), share]


def _environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = "1"  # one BLAS thread per process, as Dask's nanny sets for its workers
    return env


def _result(mode: str, returncode: int, stdout: str, stderr: str) -> dict:
    if returncode != 0:
        raise RuntimeError(stderr.strip().splitlines()[-1] if stderr.strip() else
                           f"{mode} run exited {returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def _run(script: Path, mode: str, folder: Path, out: Path, workers: int = 0) -> dict:
    completed = subprocess.run(_command(script, mode, folder, out, workers), env=_environment(),
                               capture_output=True, text=True, check=False,
                               preexec_fn=every_core, timeout=3600)
    return _result(mode, completed.returncode, completed.stdout, completed.stderr)


def _side_by_side(script: Path, folder: Path, out: Path, copies: int) -> tuple[float, float]:
    """Wall seconds of ``copies`` serial loops run at once, each on its share of the takes, and
    their CPU seconds together.

    No engine can run the takes faster than this on this machine: it is the take work's own
    parallel ceiling (two processes' numpy work share caches and memory bandwidth, which the
    pure-Python control does not touch), with no Dask, no manifest and no report.
    """
    start = time.perf_counter()
    processes = [subprocess.Popen(_command(script, "serial", folder, out / f"share-{k}", 0,
                                           f"{k}/{copies}"), env=_environment(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=every_core) for k in range(copies)]
    cpu = 0.0
    for process in processes:
        stdout, stderr = process.communicate(timeout=3600)
        cpu += _result("side-by-side serial", process.returncode, stdout, stderr)["cpu"]
    return time.perf_counter() - start, cpu


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def benchmarks(quick: bool) -> list[Benchmark]:
    count = int(os.environ.get("FACS_RIG_BENCH_BATCH_TAKES", 16 if quick else 200))
    rows = 600 if quick else 3600  # 10 s or one minute at 60 fps
    state: dict[str, float] = {}

    def run_all() -> dict[str, float]:
        if state:
            return state
        with tempfile.TemporaryDirectory() as temporary:
            root = Path(temporary)
            script = root / "batch_run.py"
            script.write_text(_RUN, encoding="utf-8")
            many, few = root / "many", root / "few"
            many.mkdir(), few.mkdir()
            _takes(many, count, rows)
            for path in sorted(many.iterdir())[: max(2, count // 4)]:
                shutil.copyfile(path, few / path.name)
            load_before = _load()
            ceiling = parallel_ceiling()
            # The serial loop and the batch alternate, PAIRS times, each into a folder of its
            # own: a burst of other work on the machine then slows one run of one pair, not one
            # side of the comparison, and the median pair ratio is the figure.
            # Each pair also runs the workload's own ceiling: WORKERS serial loops side by side.
            pairs, ceilings, ceiling_cpus = [], [], []
            for pair in range(PAIRS):
                pairs.append((_run(script, "serial", many, root / f"pair-{pair}-serial"),
                              _run(script, "batch", many, root / f"pair-{pair}-batch",
                                   workers=WORKERS)))
                seconds, cpu = _side_by_side(script, many, root / f"pair-{pair}-side", WORKERS)
                ceilings.append(pairs[-1][0]["seconds"] / seconds)
                ceiling_cpus.append(cpu)
            ratios = sorted(serial["seconds"] / batch["seconds"] for serial, batch in pairs)
            median_pair = min(range(PAIRS), key=lambda k: abs(
                pairs[k][0]["seconds"] / pairs[k][1]["seconds"] - statistics.median(ratios)))
            serial, batch = pairs[median_pair]
            ceiling_cpu = ceiling_cpus[median_pair]
            empty = _run(script, "empty", many, root / "empty", workers=1)
            one = _run(script, "batch", many, root / "batch-1", workers=1)
            small = _run(script, "batch", few, root / "batch-few", workers=WORKERS)
            load_after = _load()
        state.update(
            speedup=statistics.median(ratios),
            overhead_ms=(one["seconds"] - serial["seconds"]) / count * 1000.0,
            cpu_overhead_ms=(batch["cpu"] - serial["cpu"]) / count * 1000.0,
            memory_growth_mb=batch["peak_rss_mb"] - small["peak_rss_mb"])
        running = batch["last"] - batch["up"]
        # Pair by pair, in the order run: the ratio and the takes' own ceiling of that moment.
        pair_lines = "; ".join(
            f"{serial_run['seconds']:.1f} / {batch_run['seconds']:.1f} s = "
            f"{serial_run['seconds'] / batch_run['seconds']:.2f}x (ceiling {ceiling:.2f}x)"
            for (serial_run, batch_run), ceiling in zip(pairs, ceilings))
        print(f"# batch: {count} takes of {rows} rows; load average {load_before} before, "
              f"{load_after} after; machine's parallel ceiling now {ceiling:.2f}x\n"
              f"#   {PAIRS} alternating pairs, serial / {WORKERS} workers (the takes' own "
              f"ceiling: {WORKERS} serial loops side by side on shares of the takes, no Dask, "
              f"over the pair's serial loop): {pair_lines}; median ratio "
              f"{statistics.median(ratios):.2f}x, median ceiling "
              f"{statistics.median(ceilings):.2f}x (the median pair below)\n"
              f"#   serial loop {serial['seconds']:.1f} s ({count / serial['seconds']:.2f} "
              f"takes/s, {serial['cpu'] / count * 1000:.0f} ms CPU a take)\n"
              f"#   {WORKERS} workers {batch['seconds']:.1f} s ({count / batch['seconds']:.2f} "
              f"takes/s): first worker up at {batch['up']:.1f} s, takes {running:.1f} s "
              f"({count / running:.2f} takes/s), close and report "
              f"{batch['seconds'] - batch['last']:.1f} s; CPU {batch['cpu']:.1f} s "
              f"({batch['cpu'] / count * 1000:.0f} ms a take; the side-by-side loops of the "
              f"same pair {ceiling_cpu / count * 1000:.0f} ms a take: what two processes at "
              f"once cost the takes themselves)\n"
              f"#   1 worker {one['seconds']:.1f} s; empty tasks on 1 worker "
              f"{empty['seconds']:.1f} s: worker up at {empty['up']:.1f} s, "
              f"{(empty['last'] - empty['up']) / count * 1000:.1f} ms a take, close "
              f"{empty['seconds'] - empty['last']:.1f} s\n"
              f"#   client peak RSS {small['peak_rss_mb']:.0f} MB ({small['takes']} takes) -> "
              f"{batch['peak_rss_mb']:.0f} MB ({batch['takes']} takes)", flush=True)
        return state

    label = f"{count} x {'10 s' if rows == 600 else '1 min'} takes"
    return [
        Benchmark(f"batch speed-up, {WORKERS}-worker local cluster vs serial ({label})", "x",
                  1.8, "higher", lambda: run_all()["speedup"]),
        Benchmark(f"batch overhead per take, 1 worker vs serial ({label})", "ms", 50.0, "lower",
                  lambda: run_all()["overhead_ms"]),
        Benchmark(f"batch CPU overhead per take, {WORKERS} workers vs serial ({label})", "ms",
                  50.0, "lower", lambda: run_all()["cpu_overhead_ms"]),
        Benchmark(f"batch client peak memory growth, N/4 -> N takes ({label})", "MB", 20.0,
                  "lower", lambda: run_all()["memory_growth_mb"]),
    ]
