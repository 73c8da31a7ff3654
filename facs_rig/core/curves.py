"""Dense, time-first arrays with their labels: AU curves and blendshape weights.

Both are sampled on a regular grid: row ``i`` is the frame at ``times[i]`` seconds. Arrays are
time-first, ``(n_frames, n_columns)``, and float32, so one row is one frame to send over OSC and
``weights.astype('<f4').tobytes()`` is already the layout of a glTF weights sampler output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.channels import Channel

__all__ = ["AUCurves", "TargetWeights", "UNSAMPLED_KEY"]

#: ``AUCurves.metadata`` key of :func:`~facs_rig.core.timeline.sample`: names of the timeline's
#: played channels (an event above 0) left out of the columns asked for; absent when none was.
UNSAMPLED_KEY = "unsampled_channels"


def _check_grid(times: np.ndarray, values: np.ndarray, n_columns: int, what: str) -> None:
    if times.ndim != 1:
        raise ValueError(f"{what}: times must be 1-D, got shape {times.shape}")
    if values.ndim != 2 or values.shape != (times.shape[0], n_columns):
        raise ValueError(f"{what}: values must have shape ({times.shape[0]}, {n_columns}), "
                         f"got {values.shape}")


@dataclass(frozen=True)
class AUCurves:
    """Dense AU intensities over time.

    Attributes
    ----------
    times : (n_frames,) float64
        Seconds of each row.
    values : (n_frames, n_channels) float32
        Intensity of each channel, 0-1.
    channels : tuple of Channel
        Column labels, ``len == n_channels``, normally in :func:`sort_channels` order.
    fps : float or None
        Sampling rate when the rows are evenly spaced.
    metadata : Mapping
        Free provenance (source file, capture format, ...).
    """

    times: np.ndarray
    values: np.ndarray
    channels: tuple[Channel, ...]
    fps: float | None = None
    metadata: Any = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        _check_grid(self.times, self.values, len(self.channels), "AUCurves")

    @property
    def n_frames(self) -> int:
        """Number of rows."""
        return int(self.times.shape[0])

    def column(self, channel: Channel) -> np.ndarray:
        """The ``(n_frames,)`` curve of one channel (zeros if the channel is absent)."""
        try:
            return self.values[:, self.channels.index(channel)]
        except ValueError:
            return np.zeros(self.n_frames, dtype=np.float32)


@dataclass(frozen=True)
class TargetWeights:
    """Blendshape (morph target or rig control) weights over time.

    Attributes
    ----------
    times : (n_frames,) float64
        Seconds of each row.
    weights : (n_frames, n_targets) float32
        One row per frame, columns in ``names`` order.
    names : tuple of str
        Target names, the rig profile's target order.
    fps : float or None
        Sampling rate when the rows are evenly spaced.
    metadata : Mapping
        Free provenance (rig name, source timeline, ...).
    """

    times: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]
    fps: float | None = None
    metadata: Any = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        _check_grid(self.times, self.weights, len(self.names), "TargetWeights")

    @property
    def n_frames(self) -> int:
        """Number of rows."""
        return int(self.times.shape[0])
