"""Run every facs-rig benchmark and print a table of results against the issues' targets.

Usage::

    python benchmarks/run.py [--quick] [--json FILE] [--only SUBSTRING]

Each ``benchmarks/bench_*.py`` module defines ``benchmarks(quick: bool) -> list[Benchmark]``; a
benchmark's ``measure()`` returns its value in ``unit``. Benchmarks are never timed tests: the
test suite does not fail on speed; this script reports, and exits 0 unless a benchmark crashed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


@dataclass
class Benchmark:
    """One measurement: ``measure()`` returns the value in ``unit``; ``better`` says which way wins.

    ``target`` is ``None`` for a figure shown for information that no issue sets a target for
    (the table prints ``n/a``, not a failing ``NO``).
    """

    name: str
    unit: str
    target: float | None
    better: str  # "lower" or "higher"
    measure: Callable[[], float]

    def meets(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value <= self.target if self.better == "lower" else value >= self.target


def best_of(function: Callable[[], object], *, repeat: int = 5) -> float:
    """Best wall time in seconds of ``repeat`` calls (the least disturbed by other work)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def pin_to_one_core() -> None:
    """Keep numpy's BLAS and this process on one core, as the issues' targets are per core."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        except OSError:
            pass


def every_core(pid: int = 0) -> None:
    """Let process ``pid`` (0: this one) run on every core again: :func:`pin_to_one_core`'s
    affinity is inherited by children, and a benchmark's peers (a sender, a browser, Dask
    workers, the processes of a scaling run) must not share its one core. Also usable as a
    ``preexec_fn``."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, range(os.cpu_count() or 1))


def discover() -> list:
    modules = []
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--only", metavar="TEXT",
                        help="run only the benchmarks whose name starts with TEXT (head, studio, "
                             "batch, fidelity, ...); when none does, those whose name contains it")
    args = parser.parse_args(argv)
    pin_to_one_core()
    results, failures = [], 0
    print(f"{'benchmark':58} {'value':>12} {'unit':10} {'target':>10}  ok")
    benches = [bench for module in discover() for bench in module.benchmarks(args.quick)]
    if args.only:
        # A group's prefix first: "head" is the head-vs-scan rows, not "batch overhead per take".
        chosen = [b for b in benches if b.name.startswith(args.only)]
        benches = chosen or [b for b in benches if args.only in b.name]
    for bench in benches:
        try:
            value = float(bench.measure())
        except Exception as exc:  # report and go on: one broken benchmark hides no others
            failures += 1
            print(f"{bench.name:58} {'FAILED':>12} {type(exc).__name__}: {exc}")
            continue
        met = bench.meets(value)
        ok = "n/a" if met is None else "yes" if met else "NO"
        sign = "<=" if bench.better == "lower" else ">="
        target = "-" if bench.target is None else f"{sign}{bench.target:<9g}"
        print(f"{bench.name:58} {value:12.4g} {bench.unit:10} {target:<11}  {ok}", flush=True)
        results.append({"name": bench.name, "value": value, "unit": bench.unit,
                        "target": bench.target, "better": bench.better})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
