"""Shipped data, docs and docstrings cite primary sources, never the project's private research notes
(``../shared/reference/*.md`` are not in the repository or the wheel, so a reader cannot follow
such a citation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted([*REPO.glob("rigs/*.json"), *REPO.glob("facs_rig/data/*.json"),
                  *REPO.glob("docs/*.md"), REPO / "README.md", *REPO.glob("examples/*.*"),
                  *REPO.glob("facs_rig/**/*.py")])
# landscape.md, formats.md, house-style.md or any path into shared/reference; timeline-formats.md
# is the repository's own doc.
PRIVATE = re.compile(r"(?<![\w-])(landscape|formats|house-style)\.md|shared/reference")


def test_the_shipped_files_are_found():
    assert any(p.name == "arkit.json" for p in SHIPPED) and REPO / "README.md" in SHIPPED
    assert REPO / "facs_rig" / "io" / "osc" / "encoding.py" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_citation_of_files_outside_the_repository(path):
    if path.suffix in (".glb", ".png", ".gif", ".mp4"):
        return
    text = path.read_text(encoding="utf-8")
    found = [f"{number}: {line.strip()[:120]}" for number, line in enumerate(text.splitlines(), 1)
             if PRIVATE.search(line)]
    assert not found, found
