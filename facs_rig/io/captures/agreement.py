"""How well the blendshape -> AU solve agrees with an independent AU detector.

Py-Feat's MediaPipe-based detector writes, for the same frames, its own AU estimates and the
52 ARKit-style blendshapes. Solving the blendshapes through a rig profile and correlating the
result with Py-Feat's AUs, AU by AU, measures the profile's AU -> shape mapping on real faces:
an AU that the detector sees but the solve does not (or the reverse) points at a mapping entry
to fix. ``facs-rig`` reports the table in its README (issue 8, point 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facs_rig.io.captures._common import Capture
from facs_rig.io.captures.pipeline import capture_to_aus

__all__ = ["AUAgreement", "au_agreement", "format_agreement"]


@dataclass(frozen=True)
class AUAgreement:
    """Pearson correlation of one AU between the detector and the solve.

    Attributes
    ----------
    au : int
    r : float or None
        None when either series is constant (no correlation defined).
    frames : int
    detector_mean, solved_mean : float
    """

    au: int
    r: float | None
    frames: int
    detector_mean: float
    solved_mean: float


def au_agreement(captures: Sequence[Capture], rig=None) -> list[AUAgreement]:
    """Correlate the detector's AUs with the AUs solved from the same frames' blendshapes.

    Frames of all captures are pooled (gaps left out). A sided solve (``AU12_L``, ``AU12_R``)
    is compared through the mean of both sides, as Py-Feat's AUs are bilateral.
    """
    detector: dict[int, list[np.ndarray]] = {}
    solved: dict[int, list[np.ndarray]] = {}
    for capture in captures:
        if capture.aus is None or capture.blendshapes is None:
            raise ValueError(f"{capture.path}: needs both AUs and blendshapes")
        result = capture_to_aus(capture, source="blendshapes", rig=rig).curves
        good = ~capture.gaps
        by_au: dict[int, list[np.ndarray]] = {}
        for k, channel in enumerate(result.channels):
            by_au.setdefault(channel.au, []).append(result.values[:, k].astype(np.float64))
        for k, channel in enumerate(capture.aus.channels):
            if channel.au not in by_au:
                continue
            detector.setdefault(channel.au, []).append(capture.aus.values[good, k].astype(np.float64))
            solved.setdefault(channel.au, []).append(np.mean(by_au[channel.au], axis=0)[good])
    rows = []
    for au in sorted(detector):
        a = np.concatenate(detector[au])
        b = np.concatenate(solved[au])
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        r = None
        if a.size > 2 and a.std() > 1e-9 and b.std() > 1e-9:
            r = float(np.corrcoef(a, b)[0, 1])
        rows.append(AUAgreement(au, r, int(a.size), float(a.mean()) if a.size else 0.0,
                                float(b.mean()) if b.size else 0.0))
    return rows


def format_agreement(rows: Sequence[AUAgreement]) -> str:
    """A Markdown table: AU, r, frames, mean detector value, mean solved value."""
    lines = ["| AU | Pearson r | frames | Py-Feat mean | solved mean |",
             "|---:|---:|---:|---:|---:|"]
    for row in rows:
        r = "n/a (constant)" if row.r is None else f"{row.r:+.2f}"
        lines.append(f"| {row.au} | {r} | {row.frames} | {row.detector_mean:.2f} | "
                     f"{row.solved_mean:.2f} |")
    return "\n".join(lines) + "\n"
