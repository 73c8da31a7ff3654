"""facs-rig: FACS Action Unit codes and timelines to animation for 3D face rigs.

The pure core (:mod:`facs_rig.core`) holds the FACS vocabulary, code notation, timelines, rig
profiles, mixing and deformation; adapters (:mod:`facs_rig.io`) read and write files, glTF and
OSC; :mod:`facs_rig.cli` is the ``facs-rig`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The package's names are imported when first used (PEP 562), so that `import facs_rig` costs
# nothing: the `facs-rig` command (facs_rig._console) can then catch a Ctrl-C pressed while the
# rest of it imports, and print one line, not a traceback of the import.
_EXPORTS = {
    "Channel": "facs_rig.core.channels", "parse_channel": "facs_rig.core.channels",
    "sort_channels": "facs_rig.core.channels",
    "explain": "facs_rig.core.mixing", "mix": "facs_rig.core.mixing",
    "mix_frame": "facs_rig.core.mixing",
    "Code": "facs_rig.core.notation", "CodedAU": "facs_rig.core.notation",
    "format_code": "facs_rig.core.notation", "parse_code": "facs_rig.core.notation",
    "RigProfile": "facs_rig.core.rig",
    "AUEvent": "facs_rig.core.timeline", "Timeline": "facs_rig.core.timeline",
    "timeline_from_code": "facs_rig.core.timeline",
    "ActionUnit": "facs_rig.core.vocabulary", "Expression": "facs_rig.core.vocabulary",
    "IntensityScale": "facs_rig.core.vocabulary", "Vocabulary": "facs_rig.core.vocabulary",
    "FacsRigError": "facs_rig.errors",
    "list_rigs": "facs_rig.io.rig_files", "load_rig": "facs_rig.io.rig_files",
    "read_timeline": "facs_rig.io.timeline_files", "write_timeline": "facs_rig.io.timeline_files",
    "load_vocabulary": "facs_rig.resources",
}

if TYPE_CHECKING:  # what static checkers and IDEs see
    from facs_rig.core.channels import Channel, parse_channel, sort_channels
    from facs_rig.core.mixing import explain, mix, mix_frame
    from facs_rig.core.notation import Code, CodedAU, format_code, parse_code
    from facs_rig.core.rig import RigProfile
    from facs_rig.core.timeline import AUEvent, Timeline, timeline_from_code
    from facs_rig.core.vocabulary import ActionUnit, Expression, IntensityScale, Vocabulary
    from facs_rig.errors import FacsRigError
    from facs_rig.io.rig_files import list_rigs, load_rig
    from facs_rig.io.timeline_files import read_timeline, write_timeline
    from facs_rig.resources import load_vocabulary


__all__ = [
    "__version__",
    "ActionUnit",
    "AUEvent",
    "Channel",
    "Code",
    "CodedAU",
    "Expression",
    "FacsRigError",
    "IntensityScale",
    "RigProfile",
    "Timeline",
    "Vocabulary",
    "explain",
    "format_code",
    "list_rigs",
    "load_rig",
    "load_vocabulary",
    "mix",
    "mix_frame",
    "parse",
    "parse_channel",
    "parse_code",
    "read_timeline",
    "sort_channels",
    "timeline_from_code",
    "write_timeline",
]


def parse(text: str) -> Code:
    """Parse a FACS code string or expression name with the bundled vocabulary.

    >>> str(parse("AU12D+6C"))
    '6C+12D'
    """
    from facs_rig.resources import load_vocabulary

    return load_vocabulary().parse(text)


#: Subpackages and modules reachable as attributes after `import facs_rig` alone, as they were
#: when this file imported them (`facs_rig.io.timeline_files.read_timeline(path)` in the docs).
_SUBMODULES = ("cli", "cluster", "core", "errors", "io", "render", "resources", "studio")


def __getattr__(name: str):
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        if name in _SUBMODULES:
            # Everything the old eager imports made reachable (facs_rig.io.timeline_files, ...).
            for path in dict.fromkeys(_EXPORTS.values()):
                importlib.import_module(path)
            return importlib.import_module(f"facs_rig.{name}")  # which sets the attribute
        raise AttributeError(f"module 'facs_rig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
