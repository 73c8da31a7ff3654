"""Adversarial input for every command: one ``facs-rig: error:`` line, no traceback, no output.

Each test here is a regression for a bad input that once escaped as a traceback (or a misleading
message). Commands run in-process through :func:`facs_rig.cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facs_rig.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_failing(capsys: pytest.CaptureFixture[str], argv: list[str], *, status: int = 1,
                names: tuple[str, ...] = ()) -> str:
    """Run ``facs-rig argv``, assert one error line naming ``names``, and return it."""
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("facs-rig: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def example_timeline(**changes: object) -> dict:
    data = json.loads((EXAMPLES / "surprise_then_smile.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


# --- timeline files ---------------------------------------------------------------------------

def test_timeline_json_integer_beyond_float_range(tmp_path, capsys):
    path = tmp_path / "big.json"
    # 10**400 as JSON digits: Python's json reads it as an int that math.isfinite cannot take.
    path.write_text(json.dumps(example_timeline(fps=10**400)), encoding="utf-8")
    out = tmp_path / "out.csv"
    run_failing(capsys, ["timeline", "sample", str(path), "-o", str(out)],
                names=(str(path), "$.fps"))
    assert not out.exists()


def test_sampling_beyond_float_range_is_refused_not_overflowed(tmp_path, capsys):
    out = tmp_path / "out.csv"
    message = run_failing(capsys, ["timeline", "sample", "12", "--fps", "1e308", "--hold", "1e10",
                                   "-o", str(out)])
    assert "frames, more than" in message
    assert not out.exists()


def test_timeline_show_counts_frames_without_sampling_them(tmp_path, capsys):
    path = tmp_path / "long.notes"
    path.write_text("fps 1e300\n1e300 12\n", encoding="utf-8")
    assert main(["timeline", "show", str(path)]) == 0
    assert "(too many frames)" in capsys.readouterr().out
    path.write_text("1e12 12\n", encoding="utf-8")
    assert main(["timeline", "show", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] > 10**13


def test_absurd_sample_duration_message_is_short(tmp_path, capsys):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(example_timeline(duration=1e300)), encoding="utf-8")
    out = tmp_path / "out.csv"
    message = run_failing(capsys, ["timeline", "sample", str(path), "-o", str(out)])
    assert "3e+301 frames" in message and len(message) < 200
    assert not out.exists()
