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

import signal

import pytest

import facs_rig


#: Modules whose import does something: ``__main__`` runs the command line, and
#: ``_ignore_ctrl_c`` makes the process ignore Ctrl-C (the batch's fork server imports it), which
#: the Ctrl-C tests of every later test file would inherit.
_RUN_ON_IMPORT = frozenset({"facs_rig.__main__", "facs_rig._ignore_ctrl_c"})


def _docstring_tests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for module_info in pkgutil.walk_packages(facs_rig.__path__, "facs_rig."):
        if module_info.name in _RUN_ON_IMPORT:
            continue
        module = importlib.import_module(module_info.name)
        found.extend(test for test in finder.find(module, module.__name__) if test.examples)
    return sorted(found, key=lambda test: test.name)


DOCSTRING_TESTS = _docstring_tests()


def test_collecting_the_examples_leaves_ctrl_c_alone():
    # Importing every module must not change the test process's Ctrl-C handling.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


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
