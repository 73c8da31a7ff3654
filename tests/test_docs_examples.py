"""Every Python example in README.md and docs/**/*.md runs as written.

Each Markdown file's Python blocks (```python, ```py, ```pycon, or an unlabelled block that starts
with ``>>>``) run in order in one fresh namespace per file, so a later block may use what an
earlier one defined, as a reader would. Doctest blocks (``>>>``) compare their output; other
blocks must run without an exception. The working folder is a temporary one holding a copy of
``examples/`` and the input files the pages name (:data:`DOC_INPUTS`), so relative paths in the
pages resolve and outputs land in the temporary folder.

A block that cannot run here (an outside receiver, a long run) is preceded by a visible marker,
``<!-- not-run: reason -->``, on the line before its fence; each such block is reported as a
skipped test with its reason, so the count shows in every run. New pages are picked up
automatically.
"""

from __future__ import annotations

import doctest
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ASSETS = REPO.parent / "shared" / "assets"
#: The Markdown pages whose examples are tested: the README and every page under docs/.
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
#: Input files the pages' examples name, as a reader would have them in their folder, and where
#: the test takes them from (the repository, or ../shared/assets for real third-party files).
DOC_INPUTS = {
    "face.glb": REPO / "rigs" / "default_head.glb",
    "take.csv": SHARED_ASSETS / "captures" / "openface" / "facsvatar_head_test_clean.csv",
}
PYTHON_LANGUAGES = {"python", "py", "python3", "pycon", "doctest"}
_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)")
_NOT_RUN = re.compile(r"\s*<!--\s*not-run:(?P<reason>.*?)-->\s*")


@dataclass(frozen=True)
class Block:
    """One fenced Python block of a page."""

    page: Path
    line: int  # 1-based line of the first line of code
    code: str
    not_run: str | None  # the reason given by a not-run marker, or None

    @property
    def name(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page.name
        return f"{page}:{self.line}"

    @property
    def is_doctest(self) -> bool:
        return any(line.lstrip().startswith(">>>") for line in self.code.splitlines())


def python_blocks(page: Path) -> list[Block]:
    """The fenced Python blocks of a Markdown page, in order (CommonMark fences)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.fullmatch(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.fullmatch(
                rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]):
            body.append(lines[end])
            end += 1
        language = info.split()[0].lower() if info else ""
        first_code = next((text.strip() for text in body if text.strip()), "")
        if language in PYTHON_LANGUAGES or (not language and first_code.startswith(">>>")):
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = _NOT_RUN.fullmatch(previous)
            blocks.append(Block(page, index + 2, "\n".join(body) + "\n",
                                marker["reason"].strip() if marker else None))
        index = end + 1
    return blocks


BLOCKS = {page: python_blocks(page) for page in PAGES}
RUN_PAGES = [page for page, blocks in BLOCKS.items() if any(not b.not_run for b in blocks)]
NOT_RUN = [block for blocks in BLOCKS.values() for block in blocks if block.not_run is not None]


def _prepare_folder(folder: Path, page_text: str) -> None:
    shutil.copytree(REPO / "examples", folder / "examples")
    for name, source in DOC_INPUTS.items():
        if name not in page_text:
            continue
        if not source.is_file():
            pytest.skip(f"{name} comes from {source}, which is not present "
                        f"(../shared/assets is not beside the repository)")
        shutil.copyfile(source, folder / name)


def _run(block: Block, namespace: dict) -> str | None:
    """Run one block in ``namespace``; the failure report, or None when it passed."""
    if block.is_doctest:
        test = doctest.DocTestParser().get_doctest(block.code, namespace, block.name,
                                                   str(block.page), block.line - 1)
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, out=report.append, clear_globs=False)
        return "".join(report) if runner.failures else None
    # Padded with blank lines so a traceback names the page's own line numbers.
    code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
    exec(code, namespace)  # noqa: S102 -- the documentation's own example, run as a reader would
    return None


@pytest.mark.parametrize("page", RUN_PAGES, ids=[str(p.relative_to(REPO)) for p in RUN_PAGES])
def test_page_python_examples_run(page, tmp_path, monkeypatch):
    _prepare_folder(tmp_path, page.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for block in BLOCKS[page]:
        if block.not_run is not None:
            continue
        failure = _run(block, namespace)
        assert failure is None, f"{block.name}:\n{failure}"


@pytest.mark.parametrize("block", NOT_RUN or [pytest.param(None, marks=pytest.mark.skip(
    reason="no documentation block is marked not-run"))], ids=[b.name for b in NOT_RUN] or ["none"])
def test_block_marked_not_run(block):
    assert block.not_run, f"{block.name}: a not-run marker must give its reason"
    pytest.skip(f"{block.name} marked not-run: {block.not_run}")


def test_every_page_is_collected_and_the_examples_are_found():
    names = {str(page.relative_to(REPO)) for page in PAGES}
    assert {"README.md", "docs/osc.md", "docs/gltf.md", "docs/captures.md"} <= names
    readme = BLOCKS[REPO / "README.md"]
    assert len(readme) >= 4 and all(block.is_doctest for block in readme)
    osc = [block for block in BLOCKS[REPO / "docs" / "osc.md"] if "FaceStream(" in block.code]
    assert osc and osc[0].not_run is None  # the NameError example runs now


def test_block_finder_reads_fences_languages_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# Title", "", "```python", "x = 1", "```", "",
        "<!-- not-run: needs a receiver on port 9000 -->", "", "~~~py", "send()", "~~~",
        "```bash", "echo no", "```", "```", ">>> 1 + 1", "2", "```",
        "````pycon", ">>> print('```')", "```", "````",
    ]) + "\n", encoding="utf-8")
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (4, "x = 1\n", None),
        (10, "send()\n", "needs a receiver on port 9000"),
        (16, ">>> 1 + 1\n2\n", None),
        (20, ">>> print('```')\n```\n", None),
    ]


def test_a_failing_example_is_reported_with_its_page_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nvalue = 1\nprint(timeline)\n```\n\n```\n>>> value + 1\n3\n```\n",
                    encoding="utf-8")
    first, second = python_blocks(page)
    namespace: dict = {}
    with pytest.raises(NameError, match="timeline") as caught:
        _run(first, namespace)
    assert caught.traceback[-1].lineno + 1 == 5  # the page's own line of print(timeline)
    report = _run(second, namespace)
    assert report is not None and "Expected:\n    3\nGot:\n    2" in report


def stray_markers(page: Path) -> list[int]:
    """Lines of not-run markers that are not right before a Python block (they would hide nothing)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    marked = {block.line - 1 for block in python_blocks(page) if block.not_run is not None}
    stray = []
    for number, text in enumerate(lines, start=1):
        if _NOT_RUN.fullmatch(text):
            fence = next((i for i in range(number, len(lines)) if lines[i].strip()), None)
            if fence is None or fence + 1 not in marked:
                stray.append(number)
    return stray


def test_not_run_markers_sit_right_before_a_python_block(tmp_path):
    assert {str(page.relative_to(REPO)): stray_markers(page) for page in PAGES
            if stray_markers(page)} == {}
    page = tmp_path / "page.md"
    page.write_text("<!-- not-run: x -->\n\n```bash\nls\n```\n<!-- not-run: y -->\n```python\n"
                    "pass\n```\n", encoding="utf-8")
    assert stray_markers(page) == [1]
