"""Capture work on one BLAS thread, so that its outputs do not depend on where it runs.

numpy's matrix products (the solve's ``observed @ basis``, the mixing's ``curves @ matrix``)
go to the BLAS library numpy was built with, and OpenBLAS splits a product among its threads
differently for each thread count: the same take retargeted by a process with two BLAS threads
and by one with one thread differed in the 10th decimal of a weight (OpenBLAS 0.3.31, numpy 2.4;
alex_rom_3.csv). A batch's workers run one thread (Dask's nanny sets ``OMP_NUM_THREADS=1`` and
its kin, as the local cluster's fork server does), and ``facs-rig batch`` promises the bytes
``facs-rig retarget`` writes, so capture work runs on one thread too: a batch take, and
:func:`retarget_file`, :func:`take_curves` (the solve, which ``code`` and ``take_events`` reach
through it) and :func:`calibrate_tracker`. Not :func:`take_events` itself: a wrapper holds its
arguments for the whole call, and ``take_events`` lets go of a capture its caller does not keep
before finding events (an hour of blendshapes is 45 MB); what follows the solve there does no
matrix products.

One thread costs nothing here: a one-minute take's products are a few million multiply-adds,
where a second thread's start-up costs about what it saves (an hour at 60 fps, ~3.4e8 of them,
is ~20 ms on one core). threadpoolctl (the scikit-learn team's) sets the limit in the libraries
loaded in this process and restores it afterwards; the limits nest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from threadpoolctl import threadpool_limits

Result = TypeVar("Result")


def on_one_blas_thread(function: Callable[..., Result]) -> Callable[..., Result]:
    """Decorate ``function`` to run with numpy's BLAS limited to one thread (then restored)."""

    @functools.wraps(function)
    def limited(*args, **kwargs) -> Result:
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return limited
