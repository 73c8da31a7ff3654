"""The README's setup and test commands (its Python examples run in tests/test_docs_examples.py)."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_gives_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert "python -m pip install . && facs-rig demo" in text
    assert 'python -m pip install ".[test]" && python -m pytest -q' in text


def test_ci_runs_exactly_the_readme_test_command():
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python -m pip install ".[test]" && python -m pytest -q'
    assert command in README.read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == command
