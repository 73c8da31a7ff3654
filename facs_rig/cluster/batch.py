"""``facs-rig batch`` as a library call: takes -> jobs -> Dask -> manifest and QC report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from facs_rig.cluster.engine import BatchResult, ResultsManifest, run_jobs, start_worker_server
from facs_rig.cluster.remote import is_url, url_exists
from facs_rig.cluster.report import ordered, write_reports
from facs_rig.cluster.takes import (
    BatchInputError,
    OutputNames,
    Take,
    expand_inputs,
    report_folder,
    with_overrides,
)
from facs_rig.cluster.work import TakeJob, job_settings
from facs_rig.io.captures.pipeline import CleaningOptions
from facs_rig.io.captures.retarget import RetargetOptions

__all__ = ["BatchSettings", "BatchOutcome", "plan_jobs", "run_batch"]


@dataclass(frozen=True)
class BatchSettings(RetargetOptions):
    """The options of ``facs-rig batch`` (every take's defaults; a manifest overrides per take).

    The retarget options (``rig``, ``mesh``, ..., ``cleaning``, ``events``; keyword-only) are
    :class:`~facs_rig.io.captures.retarget.RetargetOptions`, declared once for both commands.
    ``cleaning`` is what the retarget outputs use (``retarget``'s defaults); ``code_cleaning``
    is what the FACS summary and the QC use (``code``'s defaults: zero-phase smoothing and an
    automatic neutral, unless the batch set them).
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


def _job(take: Take, settings: BatchSettings, manifest: ResultsManifest | None) -> TakeJob:
    options = with_overrides(take, rig=settings.rig, mesh=settings.mesh, format=settings.format,
                             face=settings.face)
    fps = take.overrides.get("fps", settings.cleaning.fps)
    neutral = take.overrides.get("neutral")
    cleaning = replace(settings.cleaning, fps=fps,
                       neutral=neutral or settings.cleaning.neutral)
    code_cleaning = replace(settings.code_cleaning, fps=fps,
                            neutral=neutral or settings.code_cleaning.neutral)
    per_take = {name: options[name] for name in ("rig", "mesh", "format", "face")}
    requests = tuple(settings.request(take.capture, output, cleaning=cleaning, **per_take)
                     for output in settings.outputs.outputs(take))
    job = TakeJob(key=requests[0].output, capture=take.capture, requests=requests,
                  summary_path=settings.outputs.extra(take, "facs.txt"),
                  heat_map_path=settings.outputs.extra(take, "qc.png"),
                  code_cleaning=code_cleaning)
    if manifest is not None and not settings.force and job.key in manifest.entries:
        # Through JSON, as the manifest stores it (tuples become lists); a take the manifest
        # does not know (every take of a first run) has nothing to compare.
        current = json.loads(json.dumps(job_settings(job)))
        job = replace(job, previous_sha256=manifest.up_to_date_hash(job.key, current))
    return job


def plan_jobs(inputs: list[str], settings: BatchSettings,
              manifest: ResultsManifest | None = None) -> tuple[list[TakeJob], list[str]]:
    """The jobs of a batch and notes on skipped files.

    Raises
    ------
    BatchInputError
        No takes, several takes without ``{stem}`` in ``-o``, two takes writing one file.
        (An output extension ``retarget`` cannot write is refused by :class:`OutputNames`.)
    """
    folder = report_folder(settings.outputs.template)
    takes, notes = expand_inputs(inputs, exclude=None if is_url(folder) else folder)
    if not takes:
        raise BatchInputError("no takes: the inputs name no capture files"
                              + (f" ({'; '.join(notes)})" if notes else ""))
    template = settings.outputs.template
    if len(takes) > 1 and "{stem}" not in template:
        raise BatchInputError("with several takes, -o must contain {stem} "
                              "(e.g. -o out/{stem}.glb)")
    if is_url(template) and "gltf" in settings.outputs.formats:
        raise BatchInputError(f"-o {template}: a .gltf is two files (the JSON and its .bin) that "
                              f"an object store cannot replace together; write .glb at a URL")
    if all(not (url_exists(t.capture) if is_url(t.capture) else os.path.exists(t.capture))
           for t in takes):
        # Every input missing is a mistyped command, not a batch of failed takes: nothing is
        # run or written (one missing take among others fails alone, and the rest go on).
        missing = ", ".join(dict.fromkeys(t.capture for t in takes))
        raise BatchInputError(f"no takes: {missing}: no such file or folder")
    jobs = [_job(take, settings, manifest) for take in takes]
    writers: dict[str, str] = {}
    for job in jobs:
        for path in job.output_paths():
            name = path if is_url(path) else str(Path(path).resolve())
            other = writers.setdefault(name, job.capture)
            if other != job.capture:
                raise BatchInputError(
                    f"{other} and {job.capture} would both write {path}; use {{parent}} in -o "
                    f"or a manifest with a stem per take")
    return jobs, notes


def run_batch(inputs: list[str], settings: BatchSettings, *, scheduler: str | None = None,
              workers: int | None = None, on_plan: Callable[[int], None] | None = None,
              on_start: Callable[[str | None], None] | None = None,
              on_result: Callable[[dict], None] | None = None) -> BatchOutcome:
    """Run a whole batch and write its results manifest and QC reports.

    Parameters
    ----------
    inputs : list of str
        Capture files, folders, globs and manifests (see :mod:`facs_rig.cluster.takes`).
    settings : BatchSettings
    scheduler, workers :
        See :func:`facs_rig.cluster.engine.run_jobs`.
    on_plan, on_start, on_result : callable, optional
        Called with the number of takes, with the dashboard link, and with each take's entry.
    """
    if scheduler is None:
        # The local workers' fork server imports what they need while this process plans the
        # takes and imports Dask (a bad input leaves it idle, until the next batch or exit).
        start_worker_server()
    folder = report_folder(settings.outputs.template)
    manifest = ResultsManifest(folder)  # only read here: nothing is written before the plan holds
    jobs, notes = plan_jobs(inputs, settings, manifest)
    if not is_url(folder):
        folder.mkdir(parents=True, exist_ok=True)
    if on_plan is not None:
        on_plan(len(jobs))
    order = {job.key: index for index, job in enumerate(jobs)}
    result = run_jobs(jobs, manifest, scheduler=scheduler, workers=workers,
                      on_result=on_result, on_start=on_start)
    result.entries.sort(key=lambda entry: order.get(entry.get("key"), len(order)))
    result.entries[:] = ordered(result.entries)
    outcome = BatchOutcome(result, len(jobs), notes)
    # The report covers every take of this batch that has an entry (finished now or before).
    entries = [manifest.entries[job.key] for job in jobs if job.key in manifest.entries]
    outcome.report_json, outcome.report_html = write_reports(folder, entries,
                                                             interrupted=result.interrupted)
    manifest.compact()
    return outcome
