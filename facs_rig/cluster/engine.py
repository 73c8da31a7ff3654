"""Run a batch of takes on Dask (``dask.distributed``): a local cluster, or an existing one.

The client submits tasks of a few takes each (:func:`facs_rig.cluster.work.process_take` per
take), keeps at most a few tasks per worker thread in flight, and records each take's result in
the results manifest as it arrives. Tasks return small dicts, so the client never holds a take's
arrays. A take finished inside a task that has more to do is announced at once, as a Dask event
(``Worker.log_event`` on a topic of this run, which the client subscribes to), so it is recorded
without waiting for its task: the task's own result is the fallback and the rest.

Resuming
    The manifest (``batch-manifest.jsonl`` in the output folder) gets one JSON line per finished
    take, flushed and fsynced, so an interrupted run loses at most the takes running. A take is
    up to date when its last entry has the same settings and facs-rig version, its input still
    has the recorded SHA-256 (computed by the worker) and its outputs exist.

Ctrl-C
    The local cluster's worker processes are started with SIGINT ignored (a terminal's Ctrl-C
    reaches the whole process group), so only the client handles it: it cancels what is in
    flight, closes the cluster and returns; nothing prints a traceback.

Start-up of the local cluster
    Its workers are forked by a *fork server* (``multiprocessing``'s ``forkserver`` method, which
    Dask supports: ``distributed.worker.multiprocessing-method``), started by
    :func:`start_worker_server` as soon as a batch begins: while the client imports Dask and
    plans the takes, the server imports, on another core, what every worker needs (Dask,
    facs-rig's take code, numpy, Pillow; :data:`WORKER_PRELOAD`) once, and each worker is a
    fork of it, ready for its first take, instead of a new interpreter importing all of that
    itself (Dask's default ``spawn``). The server ignores SIGINT from its first import on, and
    its workers inherit that. Takes are submitted as soon as the first worker is up; the others join
    as they come.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facs_rig import __version__
from facs_rig.cluster.work import TakeJob, job_settings, process_take
from facs_rig.errors import FacsRigError, MissingDependencyError
from facs_rig.io import bounded_json

__all__ = ["ClusterError", "BatchResult", "ResultsManifest", "run_jobs", "MANIFEST_NAME"]

MANIFEST_NAME = "batch-manifest.jsonl"
#: Tasks in flight per worker thread: enough to keep workers busy between round trips, few
#: enough that the client's bookkeeping does not grow with the batch.
IN_FLIGHT_PER_THREAD = 4
#: Most takes one Dask task runs. Each task costs the scheduler, the client and the worker a few
#: round trips and serialisations (an empty task: ~6 ms a take); a task of a few takes pays them
#: once. Tasks shrink to one take as the batch nears its end (:func:`_takes_per_task`), so that
#: no worker is left with a long task while the others idle.
MOST_TAKES_PER_TASK = 4
#: How often (seconds) the client's loop wakes when nothing arrives (to see Ctrl-C).
WAKE_INTERVAL = 0.25
#: After Ctrl-C, how long to wait for a finished task's result (a small dict) from its worker.
RESULT_TIMEOUT = 5
#: Seconds without any take finishing after which the command says it is still waiting (once
#: per such stretch): a cluster whose workers are all gone leaves Dask waiting for new ones,
#: and the batch looked frozen.
STALL_NOTICE = 60.0
#: How long a Dask client may take to start (connect, register) before the batch gives up; the
#: connection itself is bounded by CONNECT_TIMEOUT, this catches a start that never returns.
CLIENT_START_TIMEOUT = 60.0
#: How long to try reaching a --scheduler before giving up.
CONNECT_TIMEOUT = "10s"
#: The local cluster's dashboard: loopback, a free port (Dask's default 8787 clashes between runs).
DASHBOARD_ADDRESS = "127.0.0.1:0"
#: Dask settings of the local cluster the command starts (an existing ``--scheduler``'s cluster
#: keeps its own; docs/batch.md says which to set there). Each was measured on a batch of
#: one-minute takes (``benchmarks/bench_batch.py``; a take is ~0.2 s of CPU):
#:
#: * glibc's malloc thresholds, fixed at the ceiling its adaptive rule would reach: arrays up to
#:   32 MiB come from the heap, and the heap is given back past 64 MiB free (mallopt(3):
#:   ``M_MMAP_THRESHOLD`` rises to at most 32 MiB on 64-bit systems, and ``M_TRIM_THRESHOLD``
#:   follows at twice it). Dask's nanny would start workers with ``MALLOC_TRIM_THRESHOLD_=65536``,
#:   which turns the adaptive rule off at a 128 KiB mmap threshold: ~17,000 page faults and ~45 ms
#:   more system time a take. Without it the rule should adapt, and does in a plain loop (50
#:   faults a take), but a worker's task thread still took ~3,100 faults and 12-16 ms of system
#:   time a take (measured with ``RUSAGE_THREAD`` around each take; ``MALLOC_ARENA_MAX=1`` did
#:   not change it); with both thresholds set, 1 fault and ~4 ms. A value of the user's own
#:   environment wins (as Dask's nanny does it).
#: * The worker's statistical profiler samples the task thread every 10 ms (the dashboard's
#:   profile plots, not needed here); the event-loop "tick" watchdog runs every 20 ms in the
#:   scheduler, each nanny and each worker; the system monitor every 500 ms; the nannies' and
#:   workers' memory monitors every 100 ms (a take's memory does not change that fast; the
#:   nanny still stops a worker past 95 % of the machine's memory). Together, off or slowed
#:   down, they take the idle 2-worker cluster's background CPU from ~100 to ~15 ms a second.
#: * Workers forked by a fork server that imported Dask and facs-rig once (~1 s of CPU, on
#:   another core while the client plans; module notes), where it exists (not on Windows),
#:   instead of spawned interpreters that import them each (~1.1 s of CPU a worker, after the
#:   client's own start); see docs/batch.md "What starts when".
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": str(64 << 20),
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}
if "forkserver" in multiprocessing.get_all_start_methods():
    LOCAL_CLUSTER_CONFIG["distributed.worker.multiprocessing-method"] = "forkserver"
#: What the fork server imports for every local worker: first what ignores SIGINT in it and its
#: workers (:mod:`facs_rig._ignore_ctrl_c`), then Dask and what a take needs (the modules
#: :func:`~facs_rig.cluster.work.process_take` imports, some of them lazily). A name that does
#: not import is skipped (``multiprocessing`` ignores it): the take imports it then.
WORKER_PRELOAD = ("facs_rig._ignore_ctrl_c", "distributed", "facs_rig.cluster.work",
                  "facs_rig.io.captures.retarget",
                  "facs_rig.io.captures.pipeline", "facs_rig.io.captures.trackers",
                  "facs_rig.io.timeline_json", "facs_rig.core.events", "numpy.ma", "PIL.Image",
                  "PIL.ImageDraw", "PIL.ImageFont", "PIL.PngImagePlugin",
                  # Pillow's Image.save() imports these first (PIL.Image.preinit)
                  "PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.JpegImagePlugin",
                  "PIL.PpmImagePlugin")
#: The thread-pool sizes Dask's nanny gives worker processes (its default
#: ``distributed.nanny.pre-spawn-environ``): numpy reads them once, when the fork server
#: imports it, so the server must have them from the start.
_NUMPY_THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: glibc reads these once, when a process starts: the fork server's are its workers'.
_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
#: How long the first local worker may take to start before the batch gives up.
WORKER_START_TIMEOUT = 120.0
#: The thread in which the last batch's fork server is being stopped (see _stop_worker_server).
_server_stopper: threading.Thread | None = None


class ClusterError(FacsRigError, RuntimeError):
    """The Dask cluster could not be started or reached."""


@dataclass
class BatchResult:
    """What a run did: every take's latest entry, and whether it was interrupted."""

    entries: list[dict] = field(default_factory=list)
    done: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: bool = False
    #: The interruption was a SIGTERM (a job scheduler's or ``kill``'s stop), not a Ctrl-C.
    terminated: bool = False
    #: Why the run stopped before every take was sent back (the scheduler went away), or None.
    lost: str | None = None
    dashboard: str | None = None


class ResultsManifest:
    """The append-only results manifest: one JSON object per line, the last per key wins.

    Appending a line is cheap whatever the batch's size (rewriting a whole JSON document after
    each take would cost O(n) per take); a line cut short by a crash is ignored on reading.
    :meth:`compact` rewrites it atomically with one line per take at the end of a run.
    """

    def __init__(self, folder: Path | str):
        from facs_rig.cluster.remote import RemoteText, is_url, join

        self.entries: dict[str, dict] = {}
        self._stream = None
        # An fsspec URL folder (s3://...) cannot be appended to: the lines are uploaded whole.
        self._remote = RemoteText(join(folder, MANIFEST_NAME)) if is_url(folder) else None
        if self._remote is not None:
            self.path = self._remote.url
            text = self._remote.read()
            self._remote.start(text)
            lines = text.splitlines() if text else []
        else:
            self.path = Path(folder) / MANIFEST_NAME
            lines = []
            if self.path.exists():
                # errors="replace": a damaged line (not UTF-8, cut short, too deep) is one take
                # to redo, never a traceback.
                with open(self.path, encoding="utf-8", errors="replace") as stream:
                    lines = list(stream)
        for line in lines:
            try:
                entry = bounded_json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted write, or damaged
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                self.entries[entry["key"]] = entry

    def up_to_date_hash(self, key: str, settings: dict) -> str | None:
        """The recorded input hash when ``key``'s last run succeeded with these settings."""
        entry = self.entries.get(key)
        if (entry and entry.get("status") == "ok" and entry.get("settings") == settings
                and entry.get("facs_rig_version") == __version__):
            return entry.get("input_sha256")
        return None

    def record(self, entry: dict) -> None:
        """Append ``entry`` and push it to disk before the next take is reported."""
        if self._remote is not None:
            self._remote.append(json.dumps(entry, sort_keys=True) + "\n")
            self.entries[entry["key"]] = entry
            return
        if self._stream is None:
            self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._stream.write(json.dumps(entry, sort_keys=True) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self.entries[entry["key"]] = entry

    def close(self) -> None:
        if self._remote is not None:
            self._remote.flush()
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def compact(self) -> None:
        """Rewrite the manifest with one line per take (atomically)."""
        from facs_rig.io.atomic import write_text_atomic

        self.close()
        text = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in self.entries.values())
        if self._remote is not None:
            self._remote.write(text)
        else:
            write_text_atomic(self.path, text)


def _import_dask():
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("facs-rig batch needs Dask, a dependency of "
                                     "facs-rig: pip install 'dask[distributed]>=2023.6'") from None
    return distributed


@contextlib.contextmanager
def _interrupt_held(*, children: str):
    """Hold Ctrl-C while local cluster processes start, and deliver it once they have.

    A terminal sends Ctrl-C to the whole foreground process group; worker processes that
    ignore it leave the client to stop them cleanly instead of each printing a traceback. A
    Ctrl-C pressed inside is raised as KeyboardInterrupt on leaving, not dropped: a user who
    pressed it once and walked away found the whole batch run. A SIGINT this process was
    started with ignored (a job started with ``&`` from a script) stays ignored.

    Parameters
    ----------
    children : {'server', 'forked', 'spawned'}
        What starts inside. ``'server'``: the fork server, a new interpreter that ignores
        SIGINT itself from its first preload (:mod:`facs_rig._ignore_ctrl_c`); SIGINT is blocked
        in this thread, which the server inherits across exec, so a Ctrl-C before that import
        stays pending there and is discarded when it ignores it; here a handler records it
        (ignoring it here lost it whenever a thread that does not block it, numpy's OpenBLAS
        threads, took it, or when multiprocessing's resource tracker unblocked it: hence the
        tracker is started first, by the caller). ``'forked'``: workers forked by that server,
        which inherit its disposition, not this process's: a handler records. ``'spawned'``:
        new worker interpreters with nothing of ours in them (where there is no fork server):
        they must start with SIGINT ignored, which survives exec, so it is ignored here too,
        blocked first where the platform can, so that it stays pending (Linux does not discard
        a blocked signal: kernel/signal.c ``sig_ignored``); where it cannot (Windows), a Ctrl-C
        in that second is lost.

    Yields
    ------
    held : types.SimpleNamespace
        ``pressed``: whether Ctrl-C was pressed (recorded by a handler).
    """
    import types

    held = types.SimpleNamespace(pressed=False)
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) == signal.SIG_IGN):
        yield held
        return

    def record(signum, frame) -> None:
        held.pressed = True

    blocking = children in ("server", "spawned") and hasattr(signal, "pthread_sigmask")
    if blocking:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if children == "spawned" else record)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
        if blocking:
            # A Ctrl-C pending in this thread is delivered now, to the handler just restored.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if held.pressed:
        raise KeyboardInterrupt


def refuse_while_a_worker_starts(call: str) -> None:
    """Stop a worker process that is running the caller's script again, before it starts a
    cluster of its own.

    A worker started by the fork server (or spawned) imports the script that started the batch,
    as ``__mp_main__``, so that functions defined there can be its tasks (Python's
    ``multiprocessing`` docs, "Safe importing of main module"). A script that calls
    ``run_batch`` outside ``if __name__ == "__main__":`` would call it again in every worker,
    and multiprocessing refused that with a RuntimeError traceback from each, then Dask's
    "Nanny failed to start worker process" ones. ``_inheriting`` is the flag multiprocessing's
    own check (``spawn._check_not_importing_main``) reads: set while a child imports the
    parent's main module.

    Raises
    ------
    SystemExit
        Code 1, after one ``facs-rig: error:`` line on stderr: an exception would only be
        printed as a traceback by the worker's bootstrap, and the batch's own process then
        says that none of its workers started.
    """
    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        return
    line = (f"facs-rig: error: {call} ran again in a worker process as it imported the script "
            f"that started the batch: call it under `if __name__ == \"__main__\":` "
            f"(docs/batch.md)\n")
    # One write, so that the lines of workers starting at once do not interleave (a pipe's
    # writes of up to PIPE_BUF bytes are atomic, POSIX write(2)).
    try:
        sys.stderr.flush()
        os.write(sys.stderr.fileno(), line.encode())
    except (AttributeError, OSError, ValueError):  # no file descriptor behind sys.stderr
        sys.stderr.write(line)
        sys.stderr.flush()
    raise SystemExit(1)


def start_worker_server() -> None:
    """Start the fork server of the local cluster's workers, in the background (returns at once).

    The server imports :data:`WORKER_PRELOAD` while the caller goes on; the cluster's nannies
    then ask it for workers. It inherits this process's environment and SIGINT disposition at
    this moment: numpy's thread-pool variables and glibc's malloc thresholds are set first, in
    this process's environment, as Dask's nanny sets them there a moment later anyway (a value
    already in the environment wins over Dask's configuration), and SIGINT is ignored while it
    starts.
    A server already running (an earlier call) is reused. Nothing happens where there is no
    fork server (Windows: workers are spawned).
    """
    if not _forked_workers():
        return
    import multiprocessing.forkserver
    import multiprocessing.resource_tracker

    import dask  # the user's Dask configuration (distributed's own defaults load later)

    if _server_stopper is not None:
        # The previous batch's server is still exiting (a batch right after another in this
        # process): wait, so that this batch gets a server of its own, not one about to end.
        _server_stopper.join()

    for name in _NUMPY_THREADS:
        value = dask.config.get(f"distributed.nanny.pre-spawn-environ.{name}", default=1)
        if value is not None:
            os.environ.setdefault(name, str(value))
    for name in _MALLOC_SETTINGS:
        os.environ.setdefault(name,
                              LOCAL_CLUSTER_CONFIG[f"distributed.nanny.pre-spawn-environ.{name}"])
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
    # The server is a new interpreter, and Python 3.11's ignores the sys.path multiprocessing
    # hands it: PYTHONPATH makes it import facs-rig from where this process does (not, say,
    # another installed copy, whose code the workers would then run).
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        entry for entry in sys.path if isinstance(entry, str) and os.pathsep not in entry)
    try:
        # Started first: its own start unblocks SIGINT in this thread (resource_tracker's
        # ensure_running), which would leave the window below open; it ignores SIGINT itself.
        multiprocessing.resource_tracker.ensure_running()
        with _interrupt_held(children="server"):
            multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def _forked_workers() -> bool:
    return LOCAL_CLUSTER_CONFIG.get("distributed.worker.multiprocessing-method") == "forkserver"


def _stop_worker_server(workers: Iterable = ()) -> None:
    """Let the fork server end with the cluster (it would otherwise idle on until this process
    ends), without waiting for its exit: the interpreter's teardown of all it imported takes it
    0.2-0.5 s, which nobody needs to wait for.

    ``workers`` (the cluster's worker processes, closed by now) are first waited for, a few
    ms, until the server has reaped them: a server told to stop while its last worker exits
    would end without reaping it, and that worker's CPU time would be missing from this
    process's ``RUSAGE_CHILDREN`` (the benchmark's CPU figures read it).
    """
    if not _forked_workers():
        return
    import multiprocessing.forkserver

    deadline = time.monotonic() + 5
    remaining = set(workers)
    while remaining and time.monotonic() < deadline:
        # active_children() keeps those whose exit code the server has not yet reported,
        # which it does once it has reaped them.
        remaining &= set(multiprocessing.active_children())
        time.sleep(0.002)
    # ForkServer has no public stop: _stop() closes the pipe that keeps the server alive, then
    # waits for it to exit (and reaps it) -- here in a thread of its own, which a batch started
    # meanwhile joins (start_worker_server).
    global _server_stopper

    def stop() -> None:
        # A server that died (its socket file gone, already reaped) has nothing left to stop.
        # _stop is private (CPython 3.8-3.13): where a Python lacks it, the server idles on
        # until this process ends, as it would without this function.
        stop_server = getattr(getattr(multiprocessing.forkserver, "_forkserver", None),
                              "_stop", None)
        if stop_server is not None:
            with contextlib.suppress(OSError):
                stop_server()

    _server_stopper = threading.Thread(target=stop, name="facs-rig fork server stop",
                                       daemon=True)
    _server_stopper.start()


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A Dask client: on a new local cluster (closed on exit) or on ``scheduler``'s cluster.

    A local cluster's client is yielded once its first worker is up; the others start
    meanwhile (see the module notes).
    """
    distributed = _import_dask()
    # Dask logs its own trouble with tracebacks (a worker's heartbeat that finds the scheduler
    # gone after Ctrl-C, a reconnect); facs-rig reports what matters itself (ClusterError, each
    # take's error line), so only Dask's critical messages reach the terminal.
    _quiet_dask_logs()
    client = cluster = None
    others: set = set()  # child processes that are not the cluster's (a local cluster sets it)
    try:
        if scheduler:
            try:
                client = _new_client(distributed, scheduler, f"the Dask scheduler at {scheduler}",
                                     timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                from dask.utils import parse_timedelta

                raise ClusterError(f"no Dask scheduler answers at {scheduler} (waited "
                                   f"{parse_timedelta(CONNECT_TIMEOUT):g} s)") from None
            _check_remote_environment(client, scheduler)
        else:
            import dask

            count = local_worker_count(workers)
            others = set(multiprocessing.active_children())  # not the cluster's workers
            start_worker_server()  # no-op when run_batch started it before planning
            _skip_dask_forkserver_preload(distributed)
            # Forked workers inherit the fork server's SIGINT disposition, not this process's:
            # a Ctrl-C while the cluster starts is then only recorded, and raised once the
            # cluster exists (below), where it is closed cleanly.
            with _interrupt_held(children="forked" if _forked_workers() else "spawned") as held, \
                    dask.config.set(LOCAL_CLUSTER_CONFIG):
                # No workers yet: the constructor would wait for all of them.
                cluster = distributed.LocalCluster(
                    n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                    scheduler_port=0, dashboard_address=DASHBOARD_ADDRESS,
                    silence_logs=logging.CRITICAL)
                _quiet_failed_worker_starts(cluster)
                cluster.scale(count)  # starts them all at once, in the background
                client = _new_client(distributed, cluster, "the local Dask cluster's scheduler")
                _wait_for_a_worker(client, cluster, count, stop=lambda: held.pressed)
    except KeyboardInterrupt:
        # Ctrl-C while the cluster started: nothing ran; close what was started, then report it.
        _close_started(client, cluster, others)
        raise
    except ClusterError:
        # None of its workers could start, its client did not, or the scheduler's environment
        # was refused.
        _close_started(client, cluster, others)
        raise
    except Exception as exc:  # noqa: BLE001 (Dask raises many kinds; the user needs one line)
        _close_started(client, cluster, others)
        what = f"cannot use the Dask scheduler at {scheduler}" if scheduler else \
            "cannot start the local Dask cluster"
        raise ClusterError(f"{what}: {type(exc).__name__}: "
                           f"{' '.join(str(exc).split())}") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            if cluster is not None and not _forked_workers():
                # Our own cluster of spawned workers: the scheduler stops them at once
                # (0.6-0.7 s here), where closing the cluster first retires them one by one
                # (0.8-1.9 s: each spawned interpreter's exit is slow). Forked workers end with
                # os._exit: closing the client then the cluster stops them in ~0.05 s, where
                # the scheduler's shutdown takes ~0.13 s.
                client.shutdown()
            else:
                # Someone else's cluster: only disconnect. Our forked workers: the cluster's
                # close, next, stops them.
                client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)
            _stop_worker_server(set(multiprocessing.active_children()) - others)


def _new_client(distributed, address, where: str, **options):
    """``distributed.Client(address, **options)``, given up on after :data:`CLIENT_START_TIMEOUT`.

    Dask's ``Client.start`` waits for its start coroutine with no limit of its own (a
    ``timeout`` bounds the connection, not that wait), and twice here, once in a test run on a
    loaded machine, it never returned: the batch hung before its first take. The constructor
    runs in a thread of its own, so that this one can stop waiting: a ClusterError then, and
    the stuck thread is left to end with the process.
    """
    outcome: dict = {}

    def construct() -> None:
        try:
            outcome["client"] = distributed.Client(address, set_as_default=False, **options)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=construct, name="facs-rig Dask client start", daemon=True)
    thread.start()
    thread.join(CLIENT_START_TIMEOUT)
    if "error" in outcome:
        raise outcome["error"]
    if "client" not in outcome:
        # A string address is a --scheduler (the local cluster's client gets the cluster).
        hint = ("" if not isinstance(address, str) else
                " (is that the scheduler's port? `dask scheduler` listens on 8786 by default, "
                "its dashboard on 8787)")
        raise ClusterError(f"Dask's client did not start: no Dask answer from {where} within "
                           f"{CLIENT_START_TIMEOUT:g} s{hint}")
    return outcome["client"]


def _environment() -> dict:
    """What a batch needs of a scheduler or worker process, run there by Dask: importing this
    function is the first test (Dask unpickles a batch's tasks on the scheduler and the workers,
    so both need facs-rig), its version the second (the manifest records the client's)."""
    import importlib.util

    return {"facs_rig": __version__, "bokeh": importlib.util.find_spec("bokeh") is not None}


def _check_remote_environment(client, scheduler: str) -> None:
    """Refuse, in one line and before any take is sent, an existing cluster whose scheduler or
    workers cannot run facs-rig's tasks or run another version of it.

    Without this, a scheduler without facs-rig failed every take with Dask's "Error during
    deserialization of the task graph", one long line per take. Workers that join later are
    checked by each task (:func:`_run_takes`): a take they cannot run fails with its own line.
    """
    need = (f"Dask unpickles the tasks on the scheduler and the workers, so each needs "
            f"facs-rig {__version__} installed (docs/batch.md)")

    def refuse(who: str, answer) -> None:
        if isinstance(answer, BaseException):
            raise ClusterError(f"{who} cannot run facs-rig ({_what_was_raised(answer)}): {need}")
        theirs = answer.get("facs_rig") if isinstance(answer, dict) else None
        if theirs != __version__:
            raise ClusterError(f"{who} runs facs-rig {theirs}, this command {__version__}: {need}")

    try:
        answer = client.run_on_scheduler(_environment)
    except Exception as exc:  # noqa: BLE001 (what the scheduler raised, or could not import)
        answer = exc
    refuse(f"the Dask scheduler at {scheduler}", answer)
    for worker, answer in sorted(client.run(_environment, on_error="return").items()):
        refuse(f"the Dask worker {worker} of {scheduler}", answer)


def _what_was_raised(error: BaseException) -> str:
    """``Name: message`` of an exception a scheduler or worker raised. ``Client.run`` hands a
    worker's back as ``Exception("ModuleNotFoundError(\"No module named 'facs_rig'\")")``:
    its repr in a plain Exception, which is unwrapped here."""
    import re

    if type(error) is Exception and len(error.args) == 1:
        inner = error.args[0]
        if isinstance(inner, BaseException):
            return _what_was_raised(inner)
        wrapped = re.fullmatch(r"([A-Za-z_][\w.]*)\((['\"])(.*)\2\)", str(inner), re.DOTALL)
        if wrapped:
            return f"{wrapped.group(1)}: {wrapped.group(3)}"
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _quiet_dask_logs() -> None:
    """Only Dask's critical messages reach the terminal: its own ``logging`` configuration gives
    some loggers a level of their own (``distributed.client`` at warning printed "Failed to
    reconnect to scheduler ... closing client" beside facs-rig's own line for the same event),
    so each configured one is set, not only the packages' roots."""
    roots = ("distributed", "tornado", "bokeh")
    names = [name for name in list(logging.root.manager.loggerDict)
             if name.split(".")[0] in roots]
    for name in (*roots, *names):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _quiet_failed_worker_starts(cluster) -> None:
    """Keep a worker that failed to start from printing asyncio's "Task exception was never
    retrieved" traceback: Dask's cluster starts each worker in a task whose exception
    (``RuntimeError: Nanny failed to start worker process``) nobody awaits, and asyncio reports
    it when the task is collected. What matters is said once: a ClusterError when none started
    (:func:`_wait_for_a_worker`), and the worker's own line when it printed one
    (:func:`refuse_while_a_worker_starts`). Only that exception is passed over, and only on the
    cluster's own event loop (Dask's thread), whose other reports go where they went."""
    loop = getattr(getattr(cluster, "loop", None), "asyncio_loop", None)
    if loop is None:
        return
    previous = loop.get_exception_handler()

    def report(loop, context) -> None:
        error = context.get("exception")
        if isinstance(error, RuntimeError) and "failed to start worker process" in str(error):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(report)


def _close_started(client, cluster, others: set) -> None:
    """Close what :func:`dask_client` started before it failed: the client, whichever step it
    reached, then the local cluster and its worker processes (``others``: children that were
    there before)."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)
        _stop_worker_server(set(multiprocessing.active_children()) - others)


def _skip_dask_forkserver_preload(distributed) -> None:
    """Keep Dask from importing its own preload list in the client.

    On its first use of the fork server context Dask imports numpy, pandas and lz4 (when
    installed) in *this* process to preload them in the server; ours runs already, with
    :data:`WORKER_PRELOAD`, so that list would never reach it, and importing pandas alone would
    put ~0.4 s in front of the first take. The flag is Dask's own "done once" marker.
    """
    utils = getattr(distributed, "utils", None)
    if hasattr(utils, "_forkserver_preload_set"):
        utils._forkserver_preload_set = True


def local_worker_count(workers: int | None) -> int:
    """Worker processes of a local cluster: ``workers``, or the CPU count (at most 8)."""
    return workers or max(1, min(os.cpu_count() or 1, 8))


#: Worker processes a local cluster may have per core: each runs one take at a time on one
#: thread, so past a few per core they only compete for the cores (and 999 of them, as a
#: reviewer asked for, took the machine's load to 167 and leaked thousands of semaphores).
LOCAL_WORKERS_PER_CORE = 4


def most_local_workers() -> int:
    """The most worker processes :func:`dask_client` starts on this machine: 4 per core, and at
    least 8."""
    return max(8, LOCAL_WORKERS_PER_CORE * (os.cpu_count() or 1))


def _wait_for_a_worker(client, cluster, count: int,
                       stop: Callable[[], bool] = lambda: False) -> None:
    """Return once a worker of ``cluster`` is running, or ``stop()`` is true (Ctrl-C was
    pressed); ClusterError when none can start."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    # scheduler_info is the scheduler's list of workers as it pushes it to the cluster object
    # (no round trip to poll); the cluster lists a worker in .workers once its start has ended,
    # well or not, so all listed and none registered (asked for certain) means none could start.
    while not cluster.scheduler_info.get("workers") and not stop():
        if ((len(cluster.workers) >= count and not client.nthreads())
                or time.monotonic() > deadline):
            raise ClusterError(f"cannot start the local Dask cluster: none of its {count} worker "
                               f"processes started")
        time.sleep(0.01)


def dashboard_link(client, local: bool = False) -> str | None:
    """The dashboard's address, when the scheduler serves one with its plots.

    Dask lists a dashboard service even where Bokeh, which draws every page of it, is not
    installed; its pages then answer 404, so that link is not shown (docs/batch.md says how to
    get it). ``local``: the scheduler runs in this process (the local cluster), so Bokeh is
    looked for here, with no round trip before the first take.
    """
    import importlib.util

    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        if local:
            if importlib.util.find_spec("bokeh") is None:
                return None
        elif not client.run_on_scheduler(_environment)["bokeh"]:
            return None
    except Exception:  # noqa: BLE001 (an unreachable scheduler has no dashboard to show)
        return None
    return client.dashboard_link


#: The SIGINT handler to put back once an interrupted batch has stopped (see hold_interrupts).
_handler_after_stop: list = []


def hold_interrupts() -> None:
    """After a first Ctrl-C, record the next ones instead of raising them, until
    :func:`release_interrupts`: the batch is stopping (cancelling, closing the cluster, writing
    the manifest and the report, a second or two), and an impatient second Ctrl-C cut that
    short, leaving no report (a second reader's). In the main thread only; a SIGINT ignored
    stays ignored."""
    if (threading.current_thread() is threading.main_thread() and not _handler_after_stop
            and signal.getsignal(signal.SIGINT) != signal.SIG_IGN):
        _handler_after_stop.append(signal.signal(signal.SIGINT, lambda signum, frame: None))


@contextlib.contextmanager
def terminate_as_interrupt():
    """Inside, SIGTERM stops the batch as Ctrl-C does: finished takes kept, the report written.

    SIGTERM is how job schedulers, ``timeout``, ``kill`` and service managers stop a command;
    its default action ended the client at once, with no report and no line (the manifest kept
    the finished takes). The handler sends this process a SIGINT, so the rules of Ctrl-C hold
    (held while the cluster starts); where SIGINT is ignored (a job started with ``&``), it
    raises KeyboardInterrupt itself. A second SIGTERM inside is ignored, so the report is
    written (SIGKILL still ends the command at once).

    Yields
    ------
    received : types.SimpleNamespace
        ``signalled``: whether SIGTERM arrived.
    """
    import types

    received = types.SimpleNamespace(signalled=False)
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(signum, frame) -> None:
        if received.signalled:
            return  # a second one waits for the report, as a second Ctrl-C does
        received.signalled = True
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
            raise KeyboardInterrupt
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def release_interrupts() -> None:
    """Put back the SIGINT handler :func:`hold_interrupts` replaced (nothing when it did not)."""
    if _handler_after_stop:
        signal.signal(signal.SIGINT, _handler_after_stop.pop())


def run_jobs(jobs: Iterable[TakeJob], manifest: ResultsManifest, *,
             scheduler: str | None = None, workers: int | None = None,
             on_result: Callable[[dict], None] | None = None,
             on_start: Callable[[str | None], None] | None = None,
             task: Callable[[TakeJob], dict] = process_take,
             keep_holding: bool = False,
             on_wait: Callable[[float], None] | None = None) -> BatchResult:
    """Run ``jobs`` on Dask, recording each result in ``manifest`` as it arrives.

    Parameters
    ----------
    jobs : iterable of TakeJob
        Their ``previous_sha256`` decides whether a take is up to date (see the module notes).
    manifest : ResultsManifest
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing scheduler; default a new local cluster.
    workers : int, optional
        Worker processes of the local cluster (default: the CPU count, at most 8).
    on_result : callable, optional
        Called with each take's entry (for progress).
    on_start : callable, optional
        Called with the dashboard link (or None) once the cluster is up (a local cluster:
        once its first worker is).
    task : callable, optional
        What a worker runs per take (default :func:`~facs_rig.cluster.work.process_take`; the
        benchmark times the engine alone with an empty one).
    keep_holding : bool
        After Ctrl-C, further ones are held (:func:`hold_interrupts`) until the caller calls
        :func:`release_interrupts` (``run_batch``, once its report is written), not only until
        this returns.
    on_wait : callable, optional
        Called with the seconds waited when no take has finished for :data:`STALL_NOTICE`
        seconds (once per such stretch): Dask waits for workers as long as it takes, so a
        cluster that lost every worker would otherwise look frozen.

    Returns
    -------
    BatchResult
        ``interrupted`` is True after Ctrl-C: finished takes are in the manifest, the rest are
        not, and a rerun continues from there.
    """
    if scheduler is None:
        refuse_while_a_worker_starts("run_jobs()")
    distributed = _import_dask()  # a clear error when Dask is missing, before anything starts
    result = BatchResult()
    queued = list(jobs)
    pending = iter(queued)
    left = len(queued)
    with dask_client(scheduler, workers) as client:
        result.dashboard = dashboard_link(client, local=not scheduler)
        if on_start is not None:
            on_start(result.dashboard)
        # A local cluster's workers are still joining: size the window for all of them.
        threads = (sum(client.nthreads().values()) if scheduler
                   else local_worker_count(workers)) or 1
        in_flight: dict[str, tuple[object, list[TakeJob]]] = {}
        # Takes sent and not yet recorded, by key: a take is recorded once, from whichever comes
        # first, its event or its task's result.
        unrecorded: dict[str, TakeJob] = {}
        # What arrives, in the order Dask delivers it on its own threads: a take's outcome
        # (a dict, from its event) or a task that is done (its future). This thread records.
        arrivals: queue.SimpleQueue = queue.SimpleQueue()
        topic = f"facs-rig-takes-{uuid.uuid4().hex}"  # this run's own, on a shared scheduler too
        client.subscribe_topic(topic, lambda event: arrivals.put(event[1]["outcome"]))

        def submit_next() -> bool:
            nonlocal left
            batch = [job for _, job in zip(range(_takes_per_task(left, threads)), pending)]
            if not batch:
                return False
            left -= len(batch)
            unrecorded.update((job.key, job) for job in batch)
            future = client.submit(_run_takes, task, batch, topic, __version__, pure=False)
            in_flight[future.key] = (future, batch)
            future.add_done_callback(arrivals.put)
            return True

        def record(outcome: dict) -> None:
            job = unrecorded.pop(outcome.get("key"), None)
            if job is None:  # recorded already (its event came after its task's result)
                return
            entry = _entry(outcome, job, manifest)
            if outcome["status"] != "skipped":
                manifest.record(entry)
            _count(result, entry)
            result.entries.append(_brief(entry))
            if on_result is not None:
                on_result(entry)

        def record_announced() -> None:
            """Record the takes announced so far (tasks that are done are left to ``finish``)."""
            while True:
                try:
                    arrival = arrivals.get_nowait()
                except queue.Empty:
                    return
                if isinstance(arrival, dict):
                    record(arrival)

        def finish(future, timeout: float | None = None) -> None:
            _, batch = in_flight.pop(future.key)
            try:
                outcomes = future.result(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 (a worker that died: KilledWorker, ...)
                if _connection_lost(client, exc):
                    # Not the takes' failure: the scheduler went away, and Dask cancelled every
                    # future with it. Its takes stay unrecorded, so a rerun does them.
                    raise _SchedulerLost from None
                # Only the takes not announced as finished failed with it.
                why = _task_failure(client, future.key, exc)
                outcomes = [{"key": job.key, "status": "failed", "capture": job.capture,
                             "error": f"{job.capture}: {why}"} for job in batch]
            future.release()
            for outcome in outcomes:
                record(outcome)

        try:
            for _ in range(threads * IN_FLIGHT_PER_THREAD):
                if not submit_next():
                    break
            last_arrival, waited_told = time.monotonic(), False
            while in_flight:
                try:
                    # A timeout, so that Ctrl-C is seen at once whatever the platform.
                    arrival = arrivals.get(timeout=WAKE_INTERVAL)
                except queue.Empty:
                    if client.status in ("closing", "closed"):
                        raise _SchedulerLost from None
                    waited = time.monotonic() - last_arrival
                    if waited >= STALL_NOTICE and not waited_told and on_wait is not None:
                        waited_told = True
                        on_wait(waited)
                    continue
                last_arrival, waited_told = time.monotonic(), False
                if isinstance(arrival, dict):
                    record(arrival)
                elif getattr(arrival, "key", None) in in_flight:
                    finish(arrival)
                    submit_next()
        except (_SchedulerLost, distributed.client.ClosedClientError):
            # Takes announced before the loss are kept; the rest are left for a rerun.
            with contextlib.suppress(Exception):
                record_announced()
            result.lost = (f"lost the Dask scheduler at {scheduler}" if scheduler
                           else "lost the local Dask cluster's scheduler")
        except KeyboardInterrupt:
            result.interrupted = True
            hold_interrupts()
            # Takes whose results are already here (finished while Ctrl-C arrived) are kept like
            # the others; the rest are cancelled (docs/batch.md says what they leave).
            with contextlib.suppress(Exception, KeyboardInterrupt):
                record_announced()  # takes finished inside tasks that are still running
                for future in [f for f, _ in in_flight.values() if f.status == "finished"]:
                    finish(future, timeout=RESULT_TIMEOUT)
            with contextlib.suppress(Exception):
                client.cancel([future for future, _ in in_flight.values()], force=True)
        finally:
            manifest.close()  # whatever stopped the loop, what finished stays recorded
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(topic)
            if not keep_holding:
                release_interrupts()
    return result


class _SchedulerLost(Exception):
    """The client lost its scheduler during a run: what was in flight is gone with it."""


def _connection_lost(client, exc: Exception) -> bool:
    """Whether ``exc``, raised by a task's future, means the client lost the scheduler (Dask
    cancels every future then, reason ``scheduler-connection-lost``), not that the task failed.

    Nothing else cancels this run's futures before its loop ends (a Ctrl-C cancels them after).
    """
    from concurrent.futures import CancelledError

    return (isinstance(exc, CancelledError)
            or getattr(exc, "reason", None) == "scheduler-connection-lost"
            or client.status not in ("running", "connecting", "newly-created"))


def _task_failure(client, key: str, exc: Exception) -> str:
    """Why a task failed as a whole (its takes' own failures are outcomes, not exceptions), in
    one line that names the worker that ran it and, when that worker's facs-rig is another
    version than this command's, both versions.

    A worker with an older facs-rig, joined after the client's check (:func:`_run_takes` checks
    the version only from the release that added the check), failed every take with a bare
    ``TypeError: _run_takes() takes from 2 to 3 positional arguments but 4 were given``. The
    scheduler knows which worker a task erred on (``TaskState.erred_on``, until the future is
    released), and ``Client.run`` asks that worker its version. Both are best effort: a worker
    that died cannot be asked, and the line is then what Dask raised.
    """
    what = f"{type(exc).__name__}: {' '.join(str(exc).split())}"

    # Defined here, so that Dask pickles them by value: the scheduler's or the worker's
    # facs-rig may not have a function of this module's.
    def erred_on(dask_scheduler, key):
        task = dask_scheduler.tasks.get(key)
        return sorted(task.erred_on or ()) if task is not None else []

    def version():
        import facs_rig

        return facs_rig.__version__

    try:
        [worker] = client.run_on_scheduler(erred_on, key=key)
        theirs = client.run(version, workers=[worker], on_error="return").get(worker)
    except Exception:  # noqa: BLE001 (no one worker, or the scheduler cannot tell)
        return f"the worker failed ({what})"
    if not isinstance(theirs, str):  # the worker went away, or cannot import facs_rig
        return f"the Dask worker {worker} failed ({what})"
    if theirs != __version__:
        return (f"the Dask worker {worker} runs facs-rig {theirs}, this command {__version__}: "
                f"install the same version there (docs/batch.md; the task raised {what})")
    if isinstance(exc, TypeError) and "_run_takes()" in str(exc):
        # A worker of the same version number whose code is older (a development checkout).
        return (f"the Dask worker {worker} runs other code as facs-rig {theirs} than this "
                f"command (its _run_takes takes other arguments): install this command's "
                f"facs-rig there (docs/batch.md)")
    return f"the Dask worker {worker} failed ({what})"


def _takes_per_task(left: int, threads: int) -> int:
    """How many of the ``left`` takes the next task runs: up to :data:`MOST_TAKES_PER_TASK`
    while there are many, down to one near the end ("guided" scheduling: a task holds at most a
    quarter of an even share per worker thread of what is left, so the last tasks are short and
    the workers finish together)."""
    return max(1, min(MOST_TAKES_PER_TASK, left // (4 * max(1, threads))))


def _run_takes(task: Callable[[TakeJob], dict], jobs: list[TakeJob],
               topic: str | None = None, version: str | None = None) -> list[dict]:
    """A task's takes, one after the other on the worker (``task`` reports each take's own
    failure, so one bad take does not fail the others).

    Each take but the last is also announced on ``topic`` as it finishes (the last comes back
    with the task's result as soon), so that a Ctrl-C while the task runs keeps it.
    A worker whose facs-rig is not ``version`` (the client's) runs none of them: each fails with
    one line. The client checks the workers there are when it connects; this catches those that
    join later, whose outputs would otherwise be recorded under the client's version.
    """
    if version is not None and version != __version__:
        import distributed

        try:
            who = f"the Dask worker {distributed.get_worker().address}"
        except ValueError:  # not on a worker (called directly)
            who = "this process"
        return [{"key": job.key, "status": "failed", "capture": job.capture,
                 "error": f"{job.capture}: {who} runs facs-rig {__version__}, this command "
                          f"{version}: install the same version there (docs/batch.md)"}
                for job in jobs]
    outcomes = []
    for number, job in enumerate(jobs, 1):
        outcomes.append(task(job))
        if topic is not None and number < len(jobs):
            _announce(topic, outcomes[-1])
    return outcomes


def _announce(topic: str, outcome: dict) -> None:
    """Send ``outcome`` to the client as a Dask event; best effort (the task's result carries it
    too, so a take is never lost or failed for want of its event)."""
    import distributed

    with contextlib.suppress(Exception):
        # Through JSON first: an event must be msgpack-able, and a take's outcome is written as
        # JSON to the manifest anyway; what JSON refuses is left to the task's result.
        # Wrapped: the scheduler adds a "worker" field to a dict it relays.
        plain = json.loads(json.dumps(outcome))
        distributed.get_worker().log_event(topic, {"outcome": plain})


def _entry(outcome: dict, job: TakeJob, manifest: ResultsManifest) -> dict:
    if outcome["status"] == "skipped":
        previous = dict(manifest.entries.get(outcome["key"], {}))
        previous["status_this_run"] = "up to date"
        return previous
    entry = dict(outcome)
    entry["facs_rig_version"] = __version__
    entry["settings"] = job_settings(job)
    entry.setdefault("capture", job.capture)
    return entry


def _count(result: BatchResult, entry: dict) -> None:
    if entry.get("status_this_run") == "up to date":
        result.skipped += 1
    elif entry.get("status") == "failed":
        result.failed += 1
    else:
        result.done += 1


def _brief(entry: dict) -> dict:
    """The entry without what the report does not need (keeps the client's memory small)."""
    brief = dict(entry)
    brief.pop("settings", None)
    return brief
