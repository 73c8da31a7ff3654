"""Every ``>>>`` example in facs-rig's own docstrings runs and gives the output it shows.

The Markdown pages' examples are tested in ``test_docs_examples.py``; these are the ones in the
package's docstrings (numpydoc ``Examples`` sections and inline ones), which a reader sees with
``help()``. Each module is imported and its examples are found with :class:`doctest.DocTestFinder`,
one test per docstring, so a stale example (a code that no longer parses, an output the code no
longer gives) fails here and names its function.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import facs_rig


def _docstring_tests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for module_info in pkgutil.walk_packages(facs_rig.__path__, "facs_rig."):
        if module_info.name.endswith(".__main__"):  # importing it runs the command line
            continue
        module = importlib.import_module(module_info.name)
        found.extend(test for test in finder.find(module, module.__name__) if test.examples)
    return sorted(found, key=lambda test: test.name)


DOCSTRING_TESTS = _docstring_tests()


def test_the_package_has_docstring_examples():
    # The finder must see the examples this file exists for (a broken walk would pass vacuously).
    names = {test.name for test in DOCSTRING_TESTS}
    assert {"facs_rig.core.timeline.Timeline.add_code", "facs_rig.core.mixing.mix_frame",
            "facs_rig.core.vocabulary.Vocabulary.term_value"} <= names
    assert len(DOCSTRING_TESTS) >= 20


@pytest.mark.parametrize("test", DOCSTRING_TESTS, ids=lambda test: test.name)
def test_docstring_example(test: doctest.DocTest):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(output)
