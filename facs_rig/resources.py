"""Bundled data: the FACS vocabulary files and the ``rigs/`` folder.

This is the one adapter that reads the project's own data files. The FACS facts ship inside the
package (``facs_rig/data``). Rig profiles live in the repository's top-level ``rigs/`` folder; a
built wheel carries a copy at ``facs_rig/_rigs`` (see ``pyproject.toml``), so :func:`rigs_dir`
finds them from a checkout, an editable install and an installed wheel alike.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from facs_rig.core.vocabulary import Vocabulary
from facs_rig.errors import VocabularyError
from facs_rig.io import bounded_json

__all__ = ["load_vocabulary", "rigs_dir", "read_bundled_json"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def read_bundled_json(name: str) -> Any:
    """Read ``facs_rig/data/<name>`` as JSON; a malformed file raises :class:`VocabularyError`."""
    resource = resources.files("facs_rig").joinpath("data", name)
    try:
        return bounded_json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VocabularyError(f"bundled data file facs_rig/data/{name}: {exc}") from None


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The bundled FACS 2002 vocabulary: codes, intensity scales and named expressions (cached)."""
    return Vocabulary.from_dicts(
        read_bundled_json("action_units.json"),
        read_bundled_json("intensity_scales.json"),
        read_bundled_json("expressions.json"),
        source="facs_rig/data",
    )


def rigs_dir() -> Path:
    """The folder of bundled rig profiles and the default head.

    An installed wheel has it at ``facs_rig/_rigs``; a checkout (or editable install) has it at
    the repository's top level, next to the package.
    """
    for candidate in (_PACKAGE_DIR / "_rigs", _PACKAGE_DIR.parent / "rigs"):
        if candidate.is_dir():
            return candidate
    raise VocabularyError(
        f"the bundled rigs folder is missing (looked in {_PACKAGE_DIR / '_rigs'} and "
        f"{_PACKAGE_DIR.parent / 'rigs'}); reinstall facs-rig")
