"""``facs-rig batch``: retarget many takes on a Dask cluster, resumable, with a QC report."""

from __future__ import annotations

import argparse
import sys
import time

from facs_rig.cli._capture_options import (
    add_capture_options,
    add_rig_options,
    check_neutral,
    check_rig_options_used,
    check_tracker_source,
    cleaning_options,
    retarget_options,
)
from facs_rig.cli._output import bounded
from facs_rig.cli._progress import ProgressBar

#: Off a terminal (a CI log, a file) a progress line is written at most this often.
LOG_INTERVAL = 5.0
#: The examples of ``--help`` (tests/test_batch_settings.py runs them, and docs/batch.md's,
#: through the parser and the batch-wide checks): the bundled head is a FACS rig, so its .glb
#: takes no --rig; an ARKit rig writes Live Link Face CSV.
EXAMPLES = ("takes/ -o out/{stem}.{ext} --formats glb,json --workers 2",
            "'session1/*.csv' -o out/{stem}.csv --rig arkit")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``batch``."""
    batch = subparsers.add_parser(
        "batch", help="retarget many captures on a Dask cluster, resumable, with a QC report",
        description="Retarget every take named by INPUTS (capture files, folders searched for "
        "captures, glob patterns, or a CSV/JSON manifest with per-take rig, mesh, fps, neutral, "
        "from, face, stem) exactly as 'retarget' would, plus each take's FACS summary "
        "(.facs.txt, as 'code' prints it) and AU heat map (.qc.png). The work runs on a local "
        "Dask cluster, or on an existing one with --scheduler. The output folder gets "
        "batch-manifest.jsonl (a rerun skips takes that are up to date) and "
        "batch-report.html/.json (QC per take, failures first).",
        epilog="Examples: " + "; ".join(f"facs-rig batch {example}" for example in EXAMPLES)
        + ". See docs/batch.md.")
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="capture file, folder, glob pattern or manifest (.json / .csv whose "
                            "first column is 'capture'); a file, folder or glob may be an fsspec "
                            "URL (s3://bucket/day1/)")
    batch.add_argument("-o", "--output", required=True, metavar="TEMPLATE",
                       help="output path with {stem} (the take's name), optionally {parent} (its "
                            "folder's name) and {ext} (each of --formats), e.g. out/{stem}.{ext}; "
                            "may be an fsspec URL (s3://bucket/out/{stem}.{ext})")
    batch.add_argument("--formats", default=None, metavar="EXT[,EXT...]",
                       help="outputs per take when -o has {ext}: glb, gltf, csv, json, txt, "
                            "notes, eaf (as 'retarget' writes them)")
    add_rig_options(batch)
    batch.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="use this existing Dask scheduler (its workers must reach the input "
                            "and output paths); default: a local cluster started for the batch")
    batch.add_argument("--workers", type=bounded(int, low=1), default=None, metavar="N",
                       help="worker processes of the local cluster (default: CPU count, at most 8)")
    batch.add_argument("--force", action="store_true",
                       help="redo every take, even those the manifest says are up to date")
    add_capture_options(batch)
    batch.set_defaults(handler=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    """Parse, run the batch through :func:`facs_rig.cluster.run_batch`, print the outcome."""
    from facs_rig.cli import UsageError
    from facs_rig.cluster import BatchUsageError, run_batch

    settings = batch_settings(args)
    progress = _Progress()
    try:
        outcome = run_batch(args.inputs, settings, scheduler=args.scheduler,
                            workers=args.workers, on_plan=progress.start,
                            on_start=progress.cluster_up, on_result=progress.step,
                            on_wait=progress.waiting)
    except BatchUsageError as exc:  # -o naming several takes alike: as in retarget
        raise UsageError(str(exc)) from None
    finally:
        progress.finish()
    for note in outcome.notes:
        print(f"facs-rig: note: {note}", file=sys.stderr)
    result = outcome.result
    for entry in outcome.failures:
        print(f"facs-rig: error: {entry['error']}", file=sys.stderr)
    mismatched: dict[str, list[str]] = {}  # a --tracker note: the takes it applies to
    for entry in result.entries:
        if entry.get("status") == "ok" and entry.get("status_this_run") != "up to date":
            for line in entry.get("lines", []):
                print(line)
            for note in entry.get("qc", {}).get("not_applied", []):
                print(f"facs-rig: note: {note}", file=sys.stderr)
            note = entry.get("qc", {}).get("tracker_mismatch")
            if note:
                mismatched.setdefault(note, []).append(entry.get("capture", "?"))
    for note, captures in mismatched.items():
        # Once per kind of take, not once per take (a day is hundreds of takes).
        which = captures[0] if len(captures) == 1 else f"{len(captures)} takes ({captures[0]}, ...)"
        print(f"facs-rig: note: {which}: {note}", file=sys.stderr)
    finished = result.done + result.skipped + result.failed
    not_done = (f", {outcome.total - finished} not done: rerun to continue"
                if (result.interrupted or result.lost) and finished < outcome.total else "")
    print(f"batch: {outcome.total} takes: {result.done} done, {result.skipped} up to date, "
          f"{result.failed} failed{not_done}; report {outcome.report_html}")
    if result.interrupted:
        # 128 + the signal's number, as a shell reports a command the signal ended.
        word, status = ("terminated", 143) if result.terminated else ("interrupted", 130)
        print(f"facs-rig: {word}: {finished} of {outcome.total} takes finished (kept); "
              f"rerun the same command to continue", file=sys.stderr)
        return status
    if result.lost:
        print(f"facs-rig: error: {result.lost}: {finished} of {outcome.total} takes finished "
              f"(kept); rerun the same command to continue", file=sys.stderr)
        return 1
    if result.failed:
        print(f"facs-rig: error: {result.failed} of {outcome.total} takes failed "
              f"(listed first in {outcome.report_html})", file=sys.stderr)
        return 1
    return 0


def batch_settings(args: argparse.Namespace):
    """The :class:`~facs_rig.cluster.BatchSettings` of parsed ``batch`` options.

    Raises
    ------
    UsageError
        Options that contradict each other or are malformed (``--scheduler``, ``-o`` and
        ``--formats``, ``--neutral``): found before any file is read.
    """
    from facs_rig.cli import UsageError
    from facs_rig.cluster import BatchInputError, BatchSettings, OutputNames
    from facs_rig.cluster.batch import scheduler_address_problem

    check_neutral(args.neutral)
    check_tracker_source(args)
    if args.workers is not None and args.scheduler:
        raise UsageError("--workers applies to the local cluster, not to --scheduler")
    if args.workers is not None:
        from facs_rig.cluster.engine import most_local_workers

        if args.workers > most_local_workers():
            raise UsageError(f"--workers {args.workers}: at most {most_local_workers()} on this "
                             f"machine (4 per core: more only compete for the cores; to use more "
                             f"machines, start Dask workers there and give --scheduler)")
    if args.scheduler is not None:
        problem = scheduler_address_problem(args.scheduler)
        if problem is not None:
            raise UsageError(f"--scheduler {args.scheduler}: {problem}")
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip()) if args.formats else ()
    try:
        outputs = OutputNames(args.output, formats)
    except BatchInputError as exc:  # -o and --formats contradict, or name no output: usage
        raise UsageError(str(exc)) from None
    check_rig_options_used(args, outputs.formats,
                           f"--formats {args.formats} names none" if args.formats
                           else f"-o {args.output} is not one")
    return BatchSettings(
        outputs=outputs,
        code_cleaning=cleaning_options(args, neutral_default="auto", smooth_default="zero-phase"),
        force=args.force, **retarget_options(args, check_cutoff=False))


class _Progress:
    """One bar over the takes on a terminal; a line every few seconds off one."""

    def __init__(self) -> None:
        self.bar: ProgressBar | None = None
        self.done = 0
        self.failed = 0
        self._last_line = 0.0
        self._interactive = bool(getattr(sys.stderr, "isatty", lambda: False)())

    def start(self, total: int) -> None:
        self.bar = ProgressBar(total, sys.stderr, label="batch", unit="takes", log_steps=True)
        self._last_line = time.monotonic()

    def cluster_up(self, dashboard: str | None) -> None:
        if dashboard:
            print(f"batch: Dask dashboard at {dashboard}", file=sys.stderr)

    def waiting(self, seconds: float) -> None:
        if self.bar is not None:
            self.bar.clear()  # a line of its own, not across the bar
        print(f"batch: no take has finished for {seconds:.0f} s; still waiting for the Dask "
              f"cluster (are its workers running?); Ctrl-C stops and keeps what finished",
              file=sys.stderr)

    def step(self, entry: dict) -> None:
        self.done += 1
        self.failed += entry.get("status") == "failed"
        if self.bar is None:
            return
        now = time.monotonic()
        last = self.done >= self.bar.total
        if self._interactive or last or now - self._last_line >= LOG_INTERVAL:
            self._last_line = now
            item = f"{self.failed} failed" if self.failed else ""
            self.bar(self.done, item)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.finish()
