"""Every script in examples/ runs to completion (each in its own temporary folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "examples").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_runs(script, tmp_path):
    environment = dict(os.environ, PYTHONPATH=str(REPO), FACS_RIG_EXAMPLE_OUTPUT=str(tmp_path))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example shows what it did"


def test_the_suspicion_beat_ends_on_a_one_sided_contempt():
    """Its last beat says "settles into a knowing contempt": past 6 s the smile's bilateral 12
    has gone and only the right corner (12+14) is held, at C. It had been a symmetric fading
    smile (the 12 of the happiness beat, fading, over a trace R12A)."""
    from facs_rig.core.channels import Channel
    from facs_rig.core.timeline import sample
    from facs_rig.io.timeline_files import read_timeline
    from facs_rig.resources import load_vocabulary

    curves = sample(read_timeline(REPO / "examples" / "suspicion_beat.notes", load_vocabulary()),
                    fps=24)
    frame = int(round(6.2 * 24))
    at = {channel.name: round(float(curves.column(channel)[frame]), 3) for channel in curves.channels}
    assert at == {"AU04": 0.0, "AU06": 0.0, "AU07": 0.0, "AU12": 0.0, "AU12_L": 0.0,
                  "AU12_R": 0.55, "AU14_R": 0.55}
    assert curves.column(Channel(12))[int(4.5 * 24)] == pytest.approx(0.55)  # the smile before
