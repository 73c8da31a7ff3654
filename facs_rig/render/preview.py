"""Previews: FACS codes and timelines as images and clips of a rig, end to end.

The chain is the project's own: a code goes through ``Vocabulary.channel_values`` (or a timeline
through :func:`~facs_rig.core.timeline.sample`), the rig profile mixes AU values into target
weights (:func:`~facs_rig.core.mixing.mix`), :class:`~facs_rig.core.deform.Deformer` poses the
mesh and :func:`~facs_rig.render.raster.render` draws it. Profile targets are paired with the
mesh's morph targets by the naming rules of :func:`~facs_rig.core.naming.match_names`, so any
rig a profile fits can be previewed. Head-movement channels (AU51-AU58) that the profile leaves
to bones drive same-named morph targets directly when the mesh has them (the default head does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.deform import Deformer
from facs_rig.core.mixing import mix, mix_frame
from facs_rig.core.naming import match_names
from facs_rig.core.rig import RigProfile
from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import RigError
from facs_rig.render.camera import Camera, frame_camera
from facs_rig.render.raster import render
from facs_rig.render.scene import RenderRig

__all__ = ["Driver", "make_driver", "FaceRenderer", "code_values", "side_by_side"]


@dataclass(frozen=True)
class Driver:
    """Maps AU values to the weights of one mesh's morph targets through a rig profile.

    Attributes
    ----------
    profile : RigProfile
        The profile that mixes AUs into its targets.
    columns : (n_mesh_targets,) int64
        Profile column driving each mesh target, -1 when none does.
    direct : Mapping[Channel, int]
        Channels the profile does not read whose name is a mesh target (head movements).
    n_targets : int
        Number of mesh targets.
    """

    profile: RigProfile
    columns: np.ndarray
    direct: Mapping[Channel, int]
    n_targets: int

    def _apply(self, profile_weights: np.ndarray) -> np.ndarray:
        padded = np.concatenate([profile_weights, np.zeros(profile_weights.shape[:-1] + (1,), np.float32)], -1)
        return padded[..., self.columns].astype(np.float32)

    def frame(self, values: Mapping[Channel, float]) -> np.ndarray:
        """Mesh target weights ``(n_mesh_targets,)`` float32 for one frame of AU values."""
        weights = self._apply(mix_frame(values, self.profile))
        for channel, index in self.direct.items():
            weights[index] = max(weights[index], float(values.get(channel, 0.0)))
        return weights

    def curves(self, curves: AUCurves) -> np.ndarray:
        """Mesh target weights ``(n_frames, n_mesh_targets)`` float32 for AU curves."""
        weights = self._apply(mix(curves, self.profile).weights)
        for channel, index in self.direct.items():
            weights[:, index] = np.maximum(weights[:, index], curves.column(channel))
        return weights


def make_driver(profile: RigProfile, mesh_target_names: Sequence[str]) -> Driver:
    """Pair a profile's targets with a mesh's target names (exact, then convention-insensitive).

    Raises
    ------
    RigError
        When the profile drives none of the mesh's targets.
    """
    matched = match_names(profile.targets, mesh_target_names)
    position = {name: i for i, name in enumerate(mesh_target_names)}
    columns = np.full(len(mesh_target_names), len(profile.targets), np.int64)  # last = zero column
    for target, found in matched.matched.items():
        for name in found:
            if columns[position[name]] == len(profile.targets):
                columns[position[name]] = profile.targets.index(target)
    read = set(profile.channels)
    direct = {}
    for name, index in position.items():
        if name.startswith("AU") and name[2:].isdigit():
            channel = Channel(int(name[2:]))
            if channel not in read and columns[index] == len(profile.targets):
                direct[channel] = index
    if not (columns < len(profile.targets)).any() and not direct:
        sample = ", ".join(list(mesh_target_names)[:5]) or "none"
        raise RigError(f"rig profile {profile.name!r} drives none of the mesh's morph targets "
                       f"(it has: {sample}); choose another with --rig")
    return Driver(profile, columns, direct, len(mesh_target_names))


def code_values(text: str, vocabulary: Vocabulary, *, scale: str | None = None) -> dict[Channel, float]:
    """AU channel values of a FACS code or expression name (``6+12D``, ``surprise``)."""
    return vocabulary.channel_values(vocabulary.parse(text), scale)


class FaceRenderer:
    """Renders poses of one rig from one fixed camera.

    Parameters
    ----------
    rig : RenderRig
        What to draw.
    width, height : int
        Image size in pixels.
    supersample : int
        Anti-aliasing factor (2 renders four samples per pixel; stills use 2, clips 1).
    yaw, pitch : float
        Camera orbit in degrees: a slight three-quarter view reads depth better than a frontal one.
    """

    def __init__(self, rig: RenderRig, *, width: int = 512, height: int = 512, supersample: int = 1,
                 yaw: float = 12.0, pitch: float = 4.0):
        self.rig = rig
        self.supersample = supersample
        self.camera: Camera = frame_camera(rig.focus, width=width, height=height, yaw=yaw, pitch=pitch,
                                           margin=1.0)
        self._deformer = Deformer(rig.mesh)
        self._faces = rig.mesh.faces.astype(np.int64)

    @property
    def n_targets(self) -> int:
        """Number of morph targets the weights address."""
        return len(self.rig.mesh.target_names)

    def render(self, weights: np.ndarray | None = None) -> np.ndarray:
        """One ``(height, width, 3)`` uint8 image of the mesh posed by ``weights`` ``(n_targets,)``."""
        if weights is None:
            positions = self.rig.mesh.positions
        else:
            positions = self._deformer(np.asarray(weights, np.float32))
        return render(positions, self._faces, self.camera, colours=self.rig.colours,
                      supersample=self.supersample)

    def frames(self, weights: np.ndarray, *, progress: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
        """Images of successive poses ``(n_frames, n_targets)``; ``progress(k)`` after each."""
        for index, row in enumerate(np.asarray(weights, np.float32)):
            yield self.render(row)
            if progress is not None:
                progress(index + 1)


def side_by_side(left: np.ndarray, right: np.ndarray, *, gap: int = 4) -> np.ndarray:
    """Two images next to each other with a dark gap (neutral | pose)."""
    height = max(left.shape[0], right.shape[0])
    spacer = np.full((height, gap, 3), 20, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)
