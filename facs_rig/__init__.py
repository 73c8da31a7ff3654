"""facs-rig: FACS Action Unit codes and timelines to animation for 3D face rigs.

The pure core (:mod:`facs_rig.core`) holds the FACS vocabulary, code notation, timelines, rig
profiles, mixing and deformation; adapters (:mod:`facs_rig.io`) read and write files, glTF and
OSC; :mod:`facs_rig.cli` is the ``facs-rig`` command.
"""

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

__version__ = "0.1.0"

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
    return load_vocabulary().parse(text)
