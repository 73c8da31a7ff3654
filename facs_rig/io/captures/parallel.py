"""Retarget many captures, one after another or on a pool of worker processes (``retarget --jobs``).

:func:`retarget_each` reports each capture's outcome as it finishes, so a caller can draw progress
and, on Ctrl-C, still report the takes that finished. Nothing is half-written: every output goes
through an atomic write (:mod:`facs_rig.io.atomic`), which removes its temporary file when
interrupted, and a take interrupted in a worker is simply not reported.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from facs_rig.errors import FacsRigError, Terminated, naming
from facs_rig.io.captures.retarget import RetargetReport, RetargetRequest, retarget_file

__all__ = ["Outcome", "retarget_each", "retarget_one", "retarget_safely"]

#: One capture's outcome: its report, or ``None`` and a one-line error message.
Outcome = tuple[RetargetReport | None, str | None]

#: What a worker returns for a take stopped by Ctrl-C (nothing was written for it).
_INTERRUPTED = "interrupted"
_TERMINATED = "terminated"
_STOPPED = (_INTERRUPTED, _TERMINATED)
_busy = False
#: The stop signal a worker received (SIGINT or SIGTERM), busy or idle: it runs no take after.
_stop_signal: int | None = None


def retarget_one(request: RetargetRequest) -> RetargetReport:
    """:func:`retarget_file`, with the capture named in a timeline error that lacks it."""
    with naming(request.capture):
        return retarget_file(request)


def retarget_safely(request: RetargetRequest) -> Outcome:
    """Run one request; bad input comes back as a one-line message, not an exception."""
    try:
        return retarget_one(request), None
    except FacsRigError as exc:
        return None, " ".join(str(exc).split())
    except OSError as exc:
        return None, f"{request.capture}: {exc.strerror or exc}"


def retarget_each(requests: Sequence[RetargetRequest], jobs: int,
                  record: Callable[[int, Outcome], None]) -> None:
    """Retarget every request, calling ``record(index, outcome)`` as each finishes.

    ``jobs`` 1 runs them in this process, in order; more runs them on that many worker
    processes, recording in the order they finish. On Ctrl-C, raises :class:`KeyboardInterrupt`
    after recording the takes that had finished.
    """
    if jobs == 1:
        for index, request in enumerate(requests):
            record(index, retarget_safely(request))
    else:
        _run_pool(requests, jobs, record)


def _run_pool(requests: Sequence[RetargetRequest], jobs: int,
              record: Callable[[int, Outcome], None]) -> None:
    """Run ``requests`` on ``jobs`` worker processes, recording each outcome as it finishes.

    Ctrl-C reaches the workers too (the terminal signals the whole process group; a SIGINT sent
    to this process alone is passed on): a worker busy with a take stops it (its atomic write
    cleans up), an idle one ignores it, so no worker prints a traceback. The takes that finished
    before the workers stopped are still recorded; the rest are cancelled.
    """
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_setup)
    futures = {pool.submit(_work, request): index for index, request in enumerate(requests)}
    recorded: set[int] = set()
    try:
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:  # a worker was killed (out of memory, SIGKILL)
                outcome = (None, "its worker process died (killed, or out of memory); "
                                 "run it again, or with --jobs 1")
            if outcome[1] in _STOPPED:  # the worker saw the Ctrl-C or SIGTERM before we did
                raise Terminated if outcome[1] == _TERMINATED else KeyboardInterrupt
            record(futures[future], outcome)
            recorded.add(futures[future])
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still clean
        try:
            # ProcessPoolExecutor has no public way to signal its workers; _processes maps
            # pid -> process (CPython 3.8-3.13).
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(process.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
            for future, index in futures.items():
                if (index not in recorded and future.done() and not future.cancelled()
                        and future.exception() is None and future.result()[1] not in _STOPPED):
                    record(index, future.result())
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    pool.shutdown(wait=True)


def _worker_setup() -> None:
    # SIGTERM too: `timeout`, job schedulers and service managers send it to the whole process
    # group, and a forked worker inherits the command's handler (facs_rig.cli), which raised in
    # an idle worker's queue code and left the pool hanging at exit.
    signal.signal(signal.SIGINT, _worker_interrupt)
    signal.signal(signal.SIGTERM, _worker_interrupt)


def _worker_interrupt(signum, frame) -> None:
    global _busy, _stop_signal
    _stop_signal = signum
    if _busy:  # stop the take; an idle worker has nothing to stop and waits to be shut down
        _busy = False
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _stopped() -> Outcome:
    return None, _TERMINATED if _stop_signal == signal.SIGTERM else _INTERRUPTED


def _work(request: RetargetRequest) -> Outcome:
    """One take in a worker process (see :func:`_run_pool`)."""
    global _busy
    _busy = True
    try:
        if _stop_signal is not None:
            # Stopped while idle, between two takes: the pool had already queued this one for
            # it (one more than the workers), and running it would keep the command waiting.
            return _stopped()
        return retarget_safely(request)
    except KeyboardInterrupt:  # Terminated included
        return _stopped()
    finally:
        _busy = False
