"""``facs-rig batch`` as a library call: takes -> jobs -> Dask -> manifest and QC report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from facs_rig.cluster.engine import (
    BatchResult,
    ResultsManifest,
    refuse_while_a_worker_starts,
    release_interrupts,
    run_jobs,
    start_worker_server,
    terminate_as_interrupt,
)
from facs_rig.cluster.remote import is_url, join, url_exists
from facs_rig.cluster.report import ordered, write_reports
from facs_rig.cluster.takes import (
    BatchInputError,
    BatchUsageError,
    OutputNames,
    Take,
    expand_inputs,
    report_folder,
    with_overrides,
)
from facs_rig.cluster.work import TakeJob
from facs_rig.errors import FacsRigError, OutputError, Terminated
from facs_rig.io.captures.pipeline import CleaningOptions
from facs_rig.io.captures.retarget import TIMELINE_EXTENSIONS, RetargetOptions

__all__ = ["BatchSettings", "BatchOutcome", "plan_jobs", "run_batch", "check_rig_settings",
           "scheduler_address_problem"]


@dataclass(frozen=True)
class BatchSettings(RetargetOptions):
    """The options of ``facs-rig batch`` (every take's defaults; a manifest overrides per take).

    The retarget options (``rig``, ``mesh``, ..., ``cleaning``, ``events``; keyword-only) are
    :class:`~facs_rig.io.captures.retarget.RetargetOptions`, declared once for both commands.
    ``cleaning`` is what the retarget outputs on a rig or as curves use (``retarget``'s
    defaults); ``code_cleaning`` is what the FACS summary, the QC and the timeline outputs
    (``.json``, ``.txt``, ``.notes``, ``.eaf``: ``code``'s events) use (``code``'s defaults:
    zero-phase smoothing and an automatic neutral, unless the batch set them).
    """

    outputs: OutputNames
    code_cleaning: CleaningOptions = field(
        default_factory=lambda: CleaningOptions(smoothing="zero-phase", neutral="auto"))
    force: bool = False


@dataclass
class BatchOutcome:
    """A finished (or interrupted) batch: the run's result and where the reports are."""

    result: BatchResult
    total: int
    notes: list[str]
    report_json: Path | str | None = None
    report_html: Path | str | None = None

    @property
    def failures(self) -> list[dict]:
        return [e for e in self.result.entries if e.get("status") == "failed"]


def _face_for(take: Take, settings: BatchSettings) -> int | None:
    """The batch's ``--face`` for ``take``: given to every OpenFace take, not to a take of a
    format with one face per row (Live Link Face, MediaPipe, Face Cap, Py-Feat), which would
    fail on it ("--face applies to OpenFace captures"): a reviewer's mixed folder lost 6 of 8
    takes to `--face 0`. A manifest's own ``face`` for a take stays as strict as ``retarget``'s.
    The format is read from the header (``--from`` when given); a take whose header cannot
    be read keeps the face, and fails with its own error.
    """
    if settings.face is None or "face" in take.overrides:
        return settings.face
    chosen = take.overrides.get("from", settings.format)
    if chosen is None and not is_url(take.capture):
        from facs_rig.io.captures import detect_format, read_header

        try:
            chosen = detect_format(read_header(take.capture))
        except (FacsRigError, OSError):
            return settings.face
    return settings.face if chosen in (None, "openface") else None


def _job(take: Take, settings: BatchSettings, manifest: ResultsManifest | None) -> TakeJob:
    options = with_overrides(take, rig=settings.rig, mesh=settings.mesh, format=settings.format,
                             face=_face_for(take, settings))
    fps = take.overrides.get("fps", settings.cleaning.fps)
    neutral = take.overrides.get("neutral")
    cleaning = replace(settings.cleaning, fps=fps,
                       neutral=neutral or settings.cleaning.neutral)
    code_cleaning = replace(settings.code_cleaning, fps=fps,
                            neutral=neutral or settings.code_cleaning.neutral)
    per_take = {name: options[name] for name in ("rig", "mesh", "format", "face")}
    # A timeline output holds code's events: code's cleaning (an automatic neutral, zero-phase
    # smoothing, unless the batch set them), as `retarget` gives it one.
    requests = tuple(settings.request(
        take.capture, output, **per_take,
        cleaning=code_cleaning if Path(output).suffix.lower() in TIMELINE_EXTENSIONS
        else cleaning)
        for output in settings.outputs.outputs(take))
    job = TakeJob(key=requests[0].output, capture=take.capture, requests=requests,
                  summary_path=settings.outputs.extra(take, "facs.txt"),
                  heat_map_path=settings.outputs.extra(take, "qc.png"),
                  code_cleaning=code_cleaning,
                  origin=take.origin).with_settings()  # once: the manifest records them
    if manifest is not None and not settings.force and job.key in manifest.entries:
        # Through JSON, as the manifest stores it (tuples become lists); a take the manifest
        # does not know (every take of a first run) has nothing to compare.
        current = json.loads(json.dumps(job.settings))
        job = replace(job, previous_sha256=manifest.up_to_date_hash(job.key, current))
    return job


def plan_jobs(inputs: list[str], settings: BatchSettings,
              manifest: ResultsManifest | None = None) -> tuple[list[TakeJob], list[str]]:
    """The jobs of a batch and notes on skipped files.

    Raises
    ------
    BatchInputError
        No takes, an output that would replace a capture or a file the batch writes itself.
    OutputError
        An output would replace a raw capture that is not a take of the batch.
    BatchUsageError
        Several takes without ``{stem}`` in ``-o``, two takes writing one file (a usage error,
        as ``retarget``'s). (An output extension ``retarget`` cannot write is refused by
        :class:`OutputNames`.)
    """
    if settings.tracker:
        # The same for every take: resolved once here, not failed by each worker in turn.
        from facs_rig.io.captures.trackers import load_tracker

        load_tracker(settings.tracker)
    folder = report_folder(settings.outputs.template)
    recorded = frozenset(
        os.path.realpath(path) for entry in (manifest.entries.values() if manifest else ())
        for path in entry.get("outputs", []) if isinstance(path, str) and not is_url(path))
    takes, notes = expand_inputs(inputs, exclude=None if is_url(folder) else folder,
                                 outputs=recorded)
    if not takes:
        raise BatchInputError("no takes: the inputs name no capture files"
                              + (f" ({'; '.join(notes)})" if notes else ""))
    template = settings.outputs.template
    if len(takes) > 1 and "{stem}" not in template:
        raise BatchUsageError("with several takes, -o must contain {stem} "
                              "(e.g. -o out/{stem}.glb)")
    if all(not (url_exists(t.capture) if is_url(t.capture) else os.path.exists(t.capture))
           for t in takes):
        # Every input missing is a mistyped command, not a batch of failed takes: nothing is
        # run or written (one missing take among others fails alone, and the rest go on).
        missing = ", ".join(dict.fromkeys(f"{t.origin}: capture {t.capture}" if t.origin
                                          else t.capture for t in takes))
        raise BatchInputError(f"no takes: {missing}: no such file or folder")
    _check_rigs(takes, settings)
    jobs = [_job(take, settings, manifest) for take in takes]
    _check_one_writer_per_file(jobs, folder)
    _check_no_capture_replaced(jobs, folder, recorded)
    _check_output_folders(path for job in jobs for path in job.output_paths())
    return jobs, notes


def _check_no_capture_replaced(jobs: list[TakeJob], folder: Path | str,
                               recorded: frozenset[str]) -> None:
    """Refuse, before any take runs, a plan that would write over a raw capture that is not a
    take of this batch (those are refused by :func:`_check_one_writer_per_file`): a reviewer's
    ``-o 'dayB/{stem}.csv'`` (meant: ``dayA_out``) replaced yesterday's Live Link Face take
    ``dayB/take01.csv`` and said "1 done". Outputs an earlier run of this batch wrote (its
    results manifest lists them: ``recorded``, real paths) are replaced as before.

    Raises
    ------
    OutputError
        Naming the file and its format (:func:`~facs_rig.io.captures.refuse_replacing_capture`).
    """
    from facs_rig.cluster.engine import MANIFEST_NAME
    from facs_rig.cluster.report import REPORT_HTML, REPORT_JSON
    from facs_rig.io.captures import refuse_replacing_capture

    paths = [path for job in jobs for path in job.output_paths()]
    paths += [join(folder, name) for name in (REPORT_JSON, REPORT_HTML, MANIFEST_NAME)]
    for path in dict.fromkeys(paths):
        if not is_url(path) and os.path.isfile(path):
            refuse_replacing_capture(path, recorded)


def _check_one_writer_per_file(jobs: list[TakeJob], folder: Path | str) -> None:
    """Refuse a plan in which one file would be written twice: by two takes, by one take as two
    of its files (an output named like its FACS summary ``{stem}.facs.txt`` or its heat map
    ``{stem}.qc.png``), or as the batch's own report or manifest. A reviewer's
    ``-o out/{stem}.{ext} --formats facs.txt`` printed a timeline written, then the summary
    replaced it; ``-o out/batch-report.json`` lost the timeline to the report.

    Raises
    ------
    BatchInputError
        An output would replace a take's capture, or be two files of one take or the batch's.
    BatchUsageError
        Two takes would write one file (``retarget``'s usage error for the same captures).
    """
    from facs_rig.cluster.engine import MANIFEST_NAME
    from facs_rig.cluster.report import REPORT_HTML, REPORT_JSON

    def key(path: str) -> str:
        return path if is_url(path) else str(Path(path).resolve())

    # Each file's writer: (the take's capture, or None for the batch itself; what the file is).
    writers: dict[str, tuple[str | None, str]] = {key(join(folder, name)): (None, what) for name, what in (
        (REPORT_JSON, "the batch's JSON report"), (REPORT_HTML, "the batch's HTML report"),
        (MANIFEST_NAME, "the batch's results manifest"))}
    # No output may replace a take's capture (a reviewer's `-o DIR/{stem}_w.csv` over a folder
    # holding A.csv and A_w.csv replaced the capture A_w.csv with A's curves).
    captures = {key(job.capture): job.capture for job in jobs}
    for job in jobs:
        for path in job.output_paths():
            if key(path) in captures:
                raise BatchInputError(f"{path}: an output of {job.capture} would replace the "
                                      f"capture {captures[key(path)]}, a take of this batch; "
                                      f"choose other output names in -o")
    for job in jobs:
        paths = job.output_paths()  # the outputs, then the FACS summary and the heat map
        roles = ["output"] * (len(paths) - 2) + ["FACS summary", "QC heat map"]
        for path, role in zip(paths, roles):
            other = writers.get(key(path))
            if other is None:
                writers[key(path)] = (job.capture, role)
                continue
            capture, what = other
            if capture is None or capture == job.capture:
                first = what if capture is None else f"{capture}'s {what}"
                raise BatchInputError(f"{path} would be both {first} and {job.capture}'s {role}; "
                                      f"choose other output names in -o or --formats")
            # A usage error (exit 2), as retarget's for the same two captures: the -o template
            # does not tell the takes apart (the README's "Errors"); it was exit 1 here.
            raise BatchUsageError(
                f"{capture} and {job.capture} would both write {path}; use {{parent}} in -o "
                f"or a manifest with a stem per take")


def check_rig_settings(rig: str | None, mesh: str | None, formats: tuple[str, ...]) -> None:
    """Resolve the rig and mesh that takes with these settings put their outputs on.

    What ``retarget`` finds for each output (an unknown rig, a mesh that cannot be read, a rig
    that drives none of the mesh's targets) is found here once, on the client, before a cluster
    starts or a file is written, instead of by every worker for every take.

    Raises
    ------
    FacsRigError
        As :func:`~facs_rig.io.captures.retarget.retarget_file` would for each take.
    """
    from facs_rig.io.rig_files import load_rig

    if rig is not None:
        load_rig(rig)
    if any(extension in ("glb", "gltf") for extension in formats):
        from facs_rig.io.captures.retarget import mesh_and_rig

        mesh_and_rig(rig, mesh)


def _check_rigs(takes: list[Take], settings: BatchSettings) -> None:
    """:func:`check_rig_settings` once per rig and mesh the takes use; an error in a manifest's
    override names the manifest's file and line (or take number)."""
    checked: set[tuple[str | None, str | None]] = set()
    for take in takes:
        options = with_overrides(take, rig=settings.rig, mesh=settings.mesh)
        pair = (options["rig"], options["mesh"])
        if pair in checked:
            continue
        try:
            check_rig_settings(*pair, settings.outputs.formats)
        except FacsRigError as exc:
            overridden = [name for name in ("rig", "mesh") if name in take.overrides]
            if take.origin and overridden:
                raise BatchInputError(f"{take.origin}: field {'/'.join(overridden)}: "
                                      f"{' '.join(str(exc).split())}") from None
            raise
        checked.add(pair)


def _check_output_folders(paths) -> None:
    """Refuse, before any work, an output folder that cannot be made because a file has its
    name (in ``retarget``'s words)."""
    seen: set[Path] = set()
    for path in paths:
        if is_url(path):
            continue
        folder = Path(path).parent
        if folder in seen:
            continue
        seen.add(folder)
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.exists() and not existing.is_dir():
            raise OutputError(f"{path}: cannot write, {existing} is a file, not a folder")


def scheduler_address_problem(address: str) -> str | None:
    """What is wrong with a Dask scheduler address, or None when it is well formed.

    Well formed is what ``dask.distributed`` can connect to: ``[SCHEME://]HOST[:PORT]`` with a
    scheme among the comm backends Dask knows (its registry, ``distributed.comm.registry``: tcp,
    tls, ws, wss, ucx and any installed through the ``distributed.comm.backends`` entry point;
    tcp when none is given; ``inproc`` is only within one process), a host, and a port 1-65535
    (which Dask's client needs written out); a scheme whose comms are usable here (``ucx`` needs its
    own package, ``tls`` Dask's TLS settings). Checked before anything is read, so that a typo
    is one line instead of a connection attempt that times out.
    """
    from importlib.metadata import entry_points

    try:
        from distributed.comm import registry
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        return None  # the batch then stops on the missing dependency, with its own line

    schemes = sorted((set(registry.backends)
                      | {e.name for e in entry_points(group="distributed.comm.backends")})
                     - {"inproc"})
    try:
        scheme, location = parse_address(address, strict=False)
    except ValueError as exc:
        return str(exc)
    if scheme not in schemes:
        return (f"unknown address scheme {scheme!r}: Dask connects with "
                f"{', '.join(known + '://' for known in schemes)}")
    try:
        # No default port: Dask's Client refuses an address without one ("missing port number")
        # after a 20 s wait, though `dask scheduler` listens on 8786 unless told otherwise.
        host, port = parse_host_port(location)
    except ValueError as exc:
        if "missing port" in str(exc):
            return "no port (give tcp://HOST:PORT; `dask scheduler` listens on 8786 by default)"
        return "the port is not a number (give tcp://HOST:PORT)"
    if not host or any(character.isspace() or character in "/?#@" for character in host):
        return "no host (give tcp://HOST:PORT)"
    if not 1 <= port <= 65535:
        return f"port {port} is not in 1-65535"
    # A scheme Dask lists but cannot use here fails inside Client(), whose half-made object then
    # prints "Exception ignored in Client.__del__" at exit: refuse it here instead.
    try:
        registry.get_backend(scheme).get_connector()
    except Exception:  # noqa: BLE001 (ucx without its package: an abstract class, TypeError)
        return f"Dask's {scheme}:// comms are not installed here"
    if scheme == "tls":
        from distributed.security import Security

        if Security().get_connection_args("client").get("ssl_context") is None:
            return ("tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file and the "
                    "client's certificate in the Dask configuration)")
    return None


def run_batch(inputs: list[str], settings: BatchSettings, *, scheduler: str | None = None,
              workers: int | None = None, on_plan: Callable[[int], None] | None = None,
              on_start: Callable[[str | None], None] | None = None,
              on_result: Callable[[dict], None] | None = None,
              on_wait: Callable[[float], None] | None = None) -> BatchOutcome:
    """Run a whole batch and write its results manifest and QC reports.

    Parameters
    ----------
    inputs : list of str
        Capture files, folders, globs and manifests (see :mod:`facs_rig.cluster.takes`).
    settings : BatchSettings
    scheduler, workers :
        See :func:`facs_rig.cluster.engine.run_jobs`.
    on_plan, on_start, on_result, on_wait : callable, optional
        Called with the number of takes, with the dashboard link, with each take's entry, and
        with the seconds waited when no take has finished for a while
        (:data:`~facs_rig.cluster.engine.STALL_NOTICE`).
    """
    if scheduler is None:
        refuse_while_a_worker_starts("run_batch()")
    if scheduler is not None:
        problem = scheduler_address_problem(scheduler)
        if problem is not None:
            raise BatchUsageError(f"--scheduler {scheduler}: {problem}")
    else:
        # The local workers' fork server imports what they need while this process plans the
        # takes and imports Dask (a bad input leaves it idle, until the next batch or exit).
        start_worker_server()
    folder = report_folder(settings.outputs.template)
    manifest = ResultsManifest(folder)  # only read here: nothing is written before the plan holds
    jobs, notes = plan_jobs(inputs, settings, manifest)
    if on_plan is not None:
        on_plan(len(jobs))

    def started(dashboard: str | None) -> None:
        # The output folder is made once the cluster is up: a cluster that cannot be started or
        # reached leaves nothing behind.
        if not is_url(folder):
            folder.mkdir(parents=True, exist_ok=True)
        if on_start is not None:
            on_start(dashboard)

    order = {job.key: index for index, job in enumerate(jobs)}
    try:
        # After a Ctrl-C, a second one waits until the report is written (hold_interrupts);
        # a SIGTERM stops the batch as a Ctrl-C does.
        with terminate_as_interrupt() as term:
            try:
                result = run_jobs(jobs, manifest, scheduler=scheduler, workers=workers,
                                  on_result=on_result, on_start=started, keep_holding=True,
                                  on_wait=on_wait)
            except KeyboardInterrupt:
                # Stopped before the takes were sent (the cluster starting): nothing to report,
                # but a SIGTERM is said as one.
                if term.signalled:
                    raise Terminated from None
                raise
            result.terminated = term.signalled
            result.entries.sort(key=lambda entry: order.get(entry.get("key"), len(order)))
            result.entries[:] = ordered(result.entries)
            outcome = BatchOutcome(result, len(jobs), notes)
            # The report covers every take of this batch with an entry (finished now or before).
            entries = [manifest.entries[job.key] for job in jobs if job.key in manifest.entries]
            not_done = [job.capture for job in jobs if job.key not in manifest.entries]
            outcome.report_json, outcome.report_html = write_reports(
                folder, entries, interrupted=result.interrupted, not_done=not_done, notes=notes,
                lost=result.lost)
            manifest.compact()
    finally:
        release_interrupts()
    return outcome
