"""A certified FACS coder's review of what ``code`` and ``retarget``'s timelines write: OpenFace
intensities read in their own letter bands, and blinks (45) told from closures (43) as FACS
2002 scores them (45 without a letter, bilateral as one ``45``, a closure held over half a
second as 43)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.openface import openface_intensity
from facs_rig.resources import load_vocabulary


def write_openface(path: Path, columns: dict[str, list[tuple[float, float, float]]],
                   duration: float, fps: float = 25.0) -> Path:
    """An OpenFace CSV at ``path``: each ``AUxx_r`` column holds ``value`` from ``start`` to
    ``end`` seconds (``(start, end, value)`` triples) and 0 elsewhere."""
    names = sorted(columns)
    rows = ["frame, face_id, timestamp, confidence, success, " + ", ".join(names)]
    for frame in range(int(round(duration * fps))):
        time = frame / fps
        values = [next((v for a, b, v in columns[n] if a <= time < b), 0.0) for n in names]
        rows.append(f"{frame + 1}, 0, {time:.3f}, 0.98, 1, "
                    + ", ".join(f"{v:.2f}" for v in values))
    path.write_text("\n".join(rows) + "\n")
    return path


# --- OpenFace's letter bands onto the default scale's ------------------------------------------

def test_openface_band_edges_land_on_the_default_scales_band_edges():
    vocabulary = load_vocabulary()
    source, target = vocabulary.scale("openface"), vocabulary.scale()
    # The openface scale's band edges 0.5, 1.5, ..., 4.5 (intensity_scales.json) onto the
    # facshuman ones 0.03, 0.10, 0.20, 0.55, 0.90 (FACSHuman's slider bands).
    edges = np.array([0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.0, 6.0])
    assert openface_intensity(edges, source, target).tolist() == pytest.approx(
        [0.0, 0.03, 0.10, 0.20, 0.55, 0.90, 1.0, 1.0])
    # The reviewer's values: 1.4 was 0.14 (B), 3.2 0.62 (D), 4.4 0.97 (E).
    raw = np.array([1.4, 2.6, 3.2, 3.45, 4.4])
    mapped = openface_intensity(raw, source, target)
    assert mapped.tolist() == pytest.approx([0.093, 0.235, 0.445, 0.5325, 0.865])
    # Every raw value reads the same letter on both scales.
    grid = np.round(np.arange(0.0, 5.001, 0.01), 2)
    assert [target.value_to_letter(float(v)) for v in openface_intensity(grid, source, target)] \
        == [source.value_to_letter(float(v), normalized=False) for v in grid]


def test_code_reads_an_openface_smile_in_openfaces_own_letters(tmp_path, capsys):
    # AU12_r held 2 s at each of 1.4, 2.6, 3.2, 3.45, 4.4 (the `openface` scale: A, C, C, C, D)
    # was coded 12B, 12C, 12D, 12D, 12E.
    levels = [1.4, 2.6, 3.2, 3.45, 4.4]
    path = write_openface(tmp_path / "smile.csv",
                          {"AU12_r": [(1 + 4 * k, 3 + 4 * k, v) for k, v in enumerate(levels)]},
                          duration=21.0)
    assert main(["code", str(path)]) == 0
    assert [line.split("  ")[1] for line in capsys.readouterr().out.splitlines()
            if not line.startswith("#")] == ["12A", "12C", "12C", "12C", "12D"]


def test_code_reads_the_demo_smiles_squint_and_lip_corners_at_c(capsys):
    # facsvatar_demo_full.csv 14.12-17.64 s: AU07_r peaks at 3.25 and AU12_r at 3.48, both
    # C on OpenFace's scale; they were coded 7D and 12D.
    path = shared_asset("captures/openface/facsvatar_demo_full.csv")
    assert main(["code", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    smile = [line for line in lines if line[:1].isdigit()
             and float(line.split("–")[0]) <= 15.0 < float(line.split("–")[1].split()[0])]
    assert len(smile) == 1 and "+7C+" in smile[0] and "+12C+" in smile[0], smile
