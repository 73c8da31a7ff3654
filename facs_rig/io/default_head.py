"""Write and find the bundled default head, ``rigs/default_head.glb``.

The head itself is pure computation (:mod:`facs_rig.core.headgen`); this adapter names its
targets after the bundled ``facs`` rig profile, writes it with the glTF bridge's
:func:`~facs_rig.io.gltf.write_glb` (one mesh, one primitive, ``COLOR_0`` vertex colours, a
vertex-coloured material) and returns the bytes-exact same file on every run: nothing in it
depends on the clock, the machine or dictionary order.
"""

from __future__ import annotations

import os
from pathlib import Path

from facs_rig.core.curves import TargetWeights
from facs_rig.core.headgen import RiggedHead, build_default_head
from facs_rig.core.mesh import MorphMesh
from facs_rig.errors import RigError
from facs_rig.io.rig_files import load_rig
from facs_rig.resources import rigs_dir

__all__ = [
    "DEFAULT_HEAD_FILE",
    "default_head_path",
    "default_head_target_names",
    "build_head",
    "write_head_glb",
    "write_default_head",
]

DEFAULT_HEAD_FILE = "default_head.glb"
#: The material: white base colour times the vertex colours, a dielectric with soft highlights.
_MATERIAL = {
    "name": "skin_vertex_colour",
    "pbrMetallicRoughness": {
        "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
        "metallicFactor": 0.0,
        "roughnessFactor": 0.6,
    },
    "doubleSided": False,
}


def default_head_path() -> Path:
    """Where the bundled default head lives (``rigs/default_head.glb`` or the wheel's copy)."""
    return rigs_dir() / DEFAULT_HEAD_FILE


def default_head_target_names() -> tuple[str, ...]:
    """The default head's targets: exactly the ``facs`` profile's, in its order."""
    return tuple(load_rig("facs").targets)


def build_head() -> RiggedHead:
    """Build the default head with the ``facs`` profile's target names.

    Raises
    ------
    RigError
        When the profile names a target the muscle model has no recipe for (the head would
        silently lack it otherwise).
    """
    head = build_default_head(default_head_target_names())
    if head.skipped:
        raise RigError(
            f"the facs rig profile names targets the default head's muscle model cannot "
            f"build: {', '.join(head.skipped)}"
        )
    return head


def write_head_glb(
    mesh: MorphMesh, colours, path: str | os.PathLike[str], *, animation: TargetWeights | None = None
) -> None:
    """Write a head mesh with vertex colours (and optionally a weights animation) as GLB, atomically."""
    from facs_rig.io.gltf import write_glb  # the glTF bridge imports pygltflib lazily too

    write_glb(
        [mesh],
        path,
        animation=animation,
        materials=[_MATERIAL],
        vertex_colors=[colours],
        extras={
            "generator": "facs-rig default head (facs_rig.core.headgen)",
            "units": "metres",
            "up": "+Y",
            "forward": "+Z",
            "target_naming": "facs rig profile (rigs/facs.json) + AU51-AU58 head movements",
        },
    )


def write_default_head(path: str | os.PathLike[str] | None = None) -> Path:
    """Regenerate the default head GLB (default: the bundled ``rigs/default_head.glb``)."""
    target = (
        Path(path) if path is not None else Path(__file__).resolve().parents[2] / "rigs" / DEFAULT_HEAD_FILE
    )
    head = build_head()
    write_head_glb(head.mesh, head.colours, target)
    return target
