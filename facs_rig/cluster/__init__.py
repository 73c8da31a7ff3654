"""Batches of captures on a Dask cluster: ``facs-rig batch`` (an adapter over the retarget library).

:func:`run_batch` expands the inputs into takes (:mod:`~facs_rig.cluster.takes`), sends one task
per take to ``dask.distributed`` workers (:mod:`~facs_rig.cluster.engine`; a local cluster by
default), each of which retargets the take with the same code as ``facs-rig retarget`` and
computes its FACS summary and QC (:mod:`~facs_rig.cluster.work`), records results in a resumable
manifest and writes an HTML + JSON QC report (:mod:`~facs_rig.cluster.report`). Dask is a
runtime dependency, imported only when a batch runs (the rest of the tool starts without it).
See ``docs/batch.md``.
"""

from facs_rig.cluster.batch import BatchOutcome, BatchSettings, check_rig_settings, plan_jobs, run_batch
from facs_rig.cluster.engine import ClusterError, ResultsManifest
from facs_rig.cluster.takes import BatchInputError, BatchUsageError, OutputNames, Take, expand_inputs

__all__ = ["run_batch", "plan_jobs", "check_rig_settings", "BatchSettings", "BatchOutcome",
           "OutputNames", "Take", "expand_inputs", "BatchInputError", "BatchUsageError",
           "ClusterError", "ResultsManifest"]
