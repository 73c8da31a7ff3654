"""Per-frame blendshape weights as CSV: a ``time`` column and one column per target.

::

    time,browInnerUp,browDownLeft,...
    0.000000,0,0.125,...

``time`` is seconds with microsecond resolution, like the AU curves CSV
(:mod:`facs_rig.io.curves_csv`); weights use 9 significant digits, enough for every float32 to
read back bit for bit. Target names are the rig's (or the mesh's) own spelling. Written atomically.
"""

from __future__ import annotations

import io
import os

import numpy as np

from facs_rig.core.curves import TargetWeights
from facs_rig.errors import UnsupportedFormatError
from facs_rig.io.atomic import write_bytes_atomic

__all__ = ["weights_to_csv_text", "write_weights_csv"]


def weights_to_csv_text(weights: TargetWeights, *, source: str = "CSV") -> str:
    """The CSV text of ``weights`` (``time`` + one column per target, one row per frame)."""
    for name in weights.names:
        if any(character in name for character in ',"\n\r'):
            raise UnsupportedFormatError(f"{source}: target name {name!r} cannot be a CSV column")
    buffer = io.StringIO()
    buffer.write(",".join(("time",) + tuple(weights.names)) + "\n")
    table = np.column_stack([np.asarray(weights.times, dtype=np.float64),
                             np.asarray(weights.weights, dtype=np.float32).astype(np.float64)])
    np.savetxt(buffer, table, fmt=["%.6f"] + ["%.9g"] * len(weights.names), delimiter=",")
    return buffer.getvalue()


def write_weights_csv(weights: TargetWeights, path: str | os.PathLike[str]) -> None:
    """Write ``weights`` to ``path`` as CSV, atomically."""
    write_bytes_atomic(path, weights_to_csv_text(weights, source=str(path)).encode("utf-8"))
