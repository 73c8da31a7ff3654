"""glTF 2.0 bridge: read any morph-target face rig safely, write animated copies and new files.

Reading goes through :mod:`~facs_rig.io.gltf.container` (GLB/JSON parsing with every size and
buffer URI checked) and :mod:`~facs_rig.io.gltf.accessors` (sparse and normalized accessors);
:func:`read_gltf` returns a :class:`GltfRig` of :class:`~facs_rig.core.mesh.MorphMesh` objects
plus the untouched JSON document. :func:`write_animated_gltf` appends a weights animation to a
copy; :func:`write_glb` writes new files. See ``docs/gltf.md``.
"""

from facs_rig.io.gltf.container import GltfSource, parse_gltf_bytes, read_gltf_source
from facs_rig.io.gltf.reader import GltfRig, MeshTargets, read_gltf, world_matrices
from facs_rig.io.gltf.writer import (
    DEFAULT_TOLERANCE,
    BakeResult,
    WeightTrack,
    write_animated_gltf,
    write_glb,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "BakeResult",
    "GltfRig",
    "GltfSource",
    "MeshTargets",
    "WeightTrack",
    "parse_gltf_bytes",
    "read_gltf",
    "read_gltf_source",
    "world_matrices",
    "write_animated_gltf",
    "write_glb",
]
