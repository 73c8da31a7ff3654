#!/usr/bin/env python3
"""Measure ARKit's crosstalk into jawForward and mouthStretch on the Live Link Face takes.

Usage::

    python tools/measure_arkit_crosstalk.py

Prints, for each of ``../shared/assets/captures/livelinkface/S07-001.csv`` and
``alex_rom_3.csv`` and for both pooled (each take with its own intercept, its rest), the
least-squares fit of

* jawForward on jawOpen and the smile (the mean of mouthSmileLeft/Right), with r;
* mouthStretchLeft and mouthStretchRight each on jawOpen and the smile, with r;

and the median of jawForward by jawOpen and smile band (the fits' shape, and where a take's
points lie). The ``arkit`` profile's ``solve.crosstalk`` entries cite these figures
(docs/captures.md, "What ``code`` says on real takes", round 9). The fits read every frame
(gaps filled as ``code`` fills them); a real jaw thrust or lip stretch is a movement of its
own that the opening and the smile do not predict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facs_rig.core.filters import fill_gaps  # noqa: E402
from facs_rig.io.captures import read_capture  # noqa: E402

TAKES = ("S07-001", "alex_rom_3")
FOLDER = ROOT.parent / "shared" / "assets" / "captures" / "livelinkface"


def shapes_of(take: str) -> dict[str, np.ndarray]:
    """Each shape's weights over the take (``(n_frames,)`` float64), gaps filled."""
    capture = read_capture(FOLDER / f"{take}.csv")
    blendshapes = capture.blendshapes
    filled, _ = fill_gaps(blendshapes.times, blendshapes.weights)
    return {name: filled[:, k].astype(np.float64) for k, name in enumerate(blendshapes.names)}


def fit(rows: list[tuple[int, dict[str, np.ndarray]]], target: str, n_takes: int
        ) -> tuple[np.ndarray, float]:
    """Least squares of ``target`` on one intercept per take, jawOpen and the smile."""
    design, observed = [], []
    for index, shapes in rows:
        smile = (shapes["mouthSmileLeft"] + shapes["mouthSmileRight"]) / 2
        intercepts = np.zeros((smile.size, n_takes))
        intercepts[:, index] = 1.0
        design.append(np.column_stack([intercepts, shapes["jawOpen"], smile]))
        observed.append(shapes[target])
    x, y = np.vstack(design), np.concatenate(observed)
    coefficients = np.linalg.lstsq(x, y, rcond=None)[0]
    return coefficients, float(np.corrcoef(x @ coefficients, y)[0, 1])


def say(text: str) -> None:
    """One line of the report on standard output (a tool's output, not a log)."""
    sys.stdout.write(text + "\n")


def main() -> int:
    takes = [shapes_of(take) for take in TAKES]
    for target in ("jawForward", "mouthStretchLeft", "mouthStretchRight"):
        say(f"{target} = rest + a * jawOpen + b * smile")
        for index, take in enumerate(TAKES):
            (rest, a, b), r = fit([(0, takes[index])], target, 1)
            say(f"  {take:12s} rest {rest:.3f}  a {a:.3f}  b {b:.3f}  r {r:.2f}")
        coefficients, r = fit(list(enumerate(takes)), target, len(TAKES))
        a, b = coefficients[-2:]
        say(f"  {'pooled':12s} a {a:.3f}  b {b:.3f}  r {r:.2f}")
    say("median jawForward by jawOpen (columns, 0.1 wide) and smile (rows); (frames)")
    for take, shapes in zip(TAKES, takes):
        say(f"  {take}")
        smile = (shapes["mouthSmileLeft"] + shapes["mouthSmileRight"]) / 2
        jaw = shapes["jawOpen"]
        for low, high in ((0.0, 0.05), (0.05, 0.3), (0.3, 0.6), (0.6, 1.01)):
            cells = []
            for start in np.arange(0.0, 1.0, 0.1):
                kept = (jaw >= start) & (jaw < start + 0.1) & (smile >= low) & (smile < high)
                cells.append(f"{np.median(shapes['jawForward'][kept]):.3f}({kept.sum():4d})"
                             if kept.sum() >= 5 else "     -     ")
            say(f"    smile {low:.2f}-{high:.2f} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
