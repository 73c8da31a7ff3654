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


def test_the_readmes_rigs_table_shows_what_facs_rig_rigs_prints(capsys):
    """The README's `facs-rig rigs` block said arkit had 10 rules after the profile grew to 12:
    console blocks are not run by the docs tests, so its numbers are compared here (the
    description is cut by hand in the README)."""
    from facs_rig.cli import main

    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("$ facs-rig rigs") + 1
    shown = [line for line in lines[start:start + 12] if not line.startswith(("-", "$"))]
    shown = shown[:next(i for i, line in enumerate(shown) if line == "...")]
    assert main(["rigs"]) == 0
    printed = {line.split()[0]: line.split()[:4] for line in capsys.readouterr().out.splitlines()}
    assert len(shown) >= 2
    for line in shown:
        assert line.split()[:4] == printed[line.split()[0]], line
