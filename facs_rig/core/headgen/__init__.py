"""Head generation (pure numpy): the muscle model, a procedural test head, and the ICT-based default head.

- :mod:`facs_rig.core.headgen.ict` builds the bundled ``rigs/default_head.glb`` from the ICT
  FaceKit scan: per target a scan, the muscle model re-placed on ICT's landmarks, or both, as the
  recipe ``facs_rig/data/default_head_recipe.json`` says (``tools/build_default_head.py``).
- :mod:`~facs_rig.core.headgen.muscles` and :mod:`~facs_rig.core.headgen.actions` are the Waters
  muscle model and its AU recipes, placed from landmarks.
- ``build_default_head(target_names)`` builds the earlier procedural head (a parametric neutral
  rigged by the muscle model alone): the muscle model's own test bed, no longer the bundled head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.headgen.actions import FaceModel, available_targets, build_targets, parse_target_name
from facs_rig.core.headgen.neutral import PART_NAMES, NeutralHead, build_neutral_head
from facs_rig.core.mesh import MorphMesh

__all__ = [
    "RiggedHead",
    "build_default_head",
    "face_model",
    "HEAD_MOVEMENT_TARGETS",
    "available_targets",
    "parse_target_name",
    "PART_NAMES",
    "NeutralHead",
    "build_neutral_head",
]

#: Head movements as morph targets (the ``facs`` profile sends them as bones over OSC; a morph
#: target plays in every glTF viewer, so the default head carries them too).
HEAD_MOVEMENT_TARGETS = tuple(f"AU{au}" for au in range(51, 59))


@dataclass(frozen=True)
class RiggedHead:
    """The default head with its morph targets.

    Attributes
    ----------
    mesh : MorphMesh
        Positions, faces, targets (deltas in metres).
    colours : (n_vertices, 3) float32
        Linear RGB albedo per vertex (glTF ``COLOR_0``).
    parts : (n_vertices,) uint8
        Index into :data:`PART_NAMES` per vertex.
    landmarks : Mapping[str, tuple[float, float, float]]
        The landmarks the muscles were placed from.
    skipped : tuple of str
        Requested target names the muscle model has no recipe for.
    """

    mesh: MorphMesh
    colours: np.ndarray
    parts: np.ndarray
    landmarks: Any
    skipped: tuple[str, ...]


def face_model(head: NeutralHead) -> FaceModel:
    """The muscle model's view of a neutral head (positions, parts, landmarks, lid margins)."""
    grid = head.grid
    eye_upper, eye_lower = np.asarray(grid["eye_upper"]), np.asarray(grid["eye_lower"])
    left = head.positions[eye_upper, 0] > 0
    margins = MappingProxyType(
        {
            "upper_L": tuple(int(i) for i in eye_upper[left]),
            "lower_L": tuple(int(i) for i in eye_lower[left]),
            "upper_R": tuple(int(i) for i in eye_upper[~left]),
            "lower_R": tuple(int(i) for i in eye_lower[~left]),
            "mouth_upper": tuple(grid["mouth_upper"]),
            "mouth_lower": tuple(grid["mouth_lower"]),
        }
    )
    return FaceModel(head.positions, head.faces.astype(np.int64), head.parts, head.landmarks, margins)


def build_default_head(
    target_names: Sequence[str] | None = None, *, name: str = "facs_rig_default_head"
) -> RiggedHead:
    """Build the procedural head with the named morph targets (default: every one the model knows).

    Parameters
    ----------
    target_names : sequence of str, optional
        Target names in the order wanted (normally the ``facs`` profile's targets, which include
        :data:`HEAD_MOVEMENT_TARGETS`). Names with no recipe are left out and listed in ``skipped``.
    name : str
        Mesh name.
    """
    head = build_neutral_head()
    model = face_model(head)
    names = tuple(target_names) if target_names is not None else available_targets()
    built, deltas, skipped = build_targets(model, names)
    mesh = MorphMesh(
        name=name,
        positions=head.positions.astype(np.float32),
        faces=head.faces.astype(np.uint32),
        target_names=built,
        deltas=deltas,
        normals=None,
        metadata=MappingProxyType({"generator": "facs_rig.core.headgen", "units": "metres"}),
    )
    return RiggedHead(mesh, head.colours, head.parts, head.landmarks, skipped)
