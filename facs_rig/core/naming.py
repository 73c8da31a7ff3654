"""Convention-tolerant target names: one key for ``mouthSmileLeft``, ``MouthSmile_L``, ``mouth_smile_left``.

Rigs spell the same shape many ways: Apple's lowerCamel
with ``Left``/``Right`` (``eyeBlinkLeft``), UpperCamel (Unreal, Live Link Face, VMC Perfect Sync:
``EyeBlinkLeft``), lowerCamel with ``_L``/``_R`` (iFacialMocap, Face Cap, ICT-FaceKit:
``eyeBlink_L``), Blender's ``.L``, snake case, MetaHuman's bare ``L``/``R`` suffix
(``browDownL``), VRM 0.x's ``Blink_L``. :func:`normalize_target_name` folds all of them into one
key; :func:`match_names` pairs a rig profile's targets with the names found in a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["normalize_target_name", "NameMatch", "match_names"]

# A token is an upper-case run not followed by lower case (an acronym: "UL", "L", "AU"), a
# capitalised or lower-case word, or a number.
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SIDE_WORDS = {"l": "left", "left": "left", "r": "right", "right": "right"}


def _tokens(name: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(name)]


def normalize_target_name(name: str) -> str:
    """The convention-insensitive key of a blendshape or rig-control name.

    Case, separators (``_``, ``.``, ``-``, space) and the spelling of the side (``Left``, ``L``,
    ``_L``, ``.L``, ``left``, as a prefix or a suffix) are ignored; numbers lose leading zeros.
    A side is recognised only at either end of the name, so ``EyeLeftX`` keeps its inner
    ``Left``.

    Parameters
    ----------
    name : str
        A target name as a rig or file spells it.

    Returns
    -------
    str
        Lower-case letters and digits, with ``_left`` or ``_right`` appended for a sided name.

    Examples
    --------
    >>> normalize_target_name("MouthSmileLeft") == normalize_target_name("mouthSmile_L")
    True
    >>> normalize_target_name("mouth_smile_left")
    'mouthsmile_left'
    >>> normalize_target_name("AU01_L") == normalize_target_name("au1L")
    True
    """
    tokens = _tokens(name)
    if not tokens:  # no ASCII letters or digits at all: compare the stripped, folded spelling
        return name.strip().casefold()
    side = ""
    if len(tokens) > 1 and tokens[-1] in _SIDE_WORDS:
        side = _SIDE_WORDS[tokens.pop()]
    elif len(tokens) > 1 and tokens[0] in _SIDE_WORDS and tokens[1].isalpha():
        side = _SIDE_WORDS[tokens.pop(0)]
    parts: list[str] = []
    for token in tokens:
        if token.isdigit():
            # Leading zeros dropped as text: int() refuses over 4,300 digits (a ValueError
            # from a hostile target name), and the key needs no arithmetic.
            token = token.lstrip("0") or "0"
            if parts and parts[-1][-1].isdigit():
                parts.append("_")  # keep "1 2" apart from "12"
        parts.append(token)
    core = "".join(parts)
    if not side:
        # Names without separators ("mouthsmileleft") still carry a spelled-out side.
        for word in ("left", "right"):
            if core.endswith(word) and len(core) > len(word):
                core, side = core[: -len(word)], word
                break
    return f"{core}_{side}" if side else core


def _side_of(key: str) -> tuple[str, str]:
    for side in ("left", "right"):
        if key.endswith("_" + side):
            return key[: -len(side) - 1], side
    return key, ""


@dataclass(frozen=True)
class NameMatch:
    """How a rig profile's targets pair with the names found in a file (a glTF's morph targets).

    Attributes
    ----------
    matched : Mapping[str, tuple[str, ...]]
        Profile target -> the file name(s) it drives, in profile order. Usually one name; two
        when the file splits an unsided target into sides (ICT-FaceKit's ``browInnerUp_L`` and
        ``browInnerUp_R`` for ARKit's ``browInnerUp``): the weight then goes to both.
    missing : tuple of str
        Profile targets with no counterpart in the file.
    unused : tuple of str
        File names no profile target drives, in file order.
    ambiguous : tuple of str
        File names that normalise to the same key as an earlier file name (the earlier one, or
        an exact spelling match, was used).
    """

    matched: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    missing: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()

    @property
    def coverage(self) -> float:
        """Fraction of the profile's targets found in the file (0-1)."""
        total = len(self.matched) + len(self.missing)
        return len(self.matched) / total if total else 0.0


def match_names(profile_targets: Sequence[str], file_names: Iterable[str]) -> NameMatch:
    """Pair a profile's target names with a file's names, whatever their naming convention.

    An exact spelling wins; otherwise names are compared by :func:`normalize_target_name`. An
    unsided profile target absent from the file falls back to the file's left and right halves
    when both exist.

    Parameters
    ----------
    profile_targets : sequence of str
        The rig profile's targets, in order.
    file_names : iterable of str
        Names found in a file (morph target names, CSV columns, ...).

    Returns
    -------
    NameMatch

    Examples
    --------
    >>> m = match_names(["mouthSmileLeft", "browInnerUp", "tongueOut"],
    ...                 ["MouthSmile_L", "browInnerUp_L", "browInnerUp_R", "extra"])
    >>> dict(m.matched)
    {'mouthSmileLeft': ('MouthSmile_L',), 'browInnerUp': ('browInnerUp_L', 'browInnerUp_R')}
    >>> m.missing, m.unused
    (('tongueOut',), ('extra',))
    """
    names = list(file_names)
    exact = {name: name for name in names}
    by_key: dict[str, str] = {}
    ambiguous: list[str] = []
    for name in names:
        key = normalize_target_name(name)
        if key in by_key:
            ambiguous.append(name)
        else:
            by_key[key] = name
    matched: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    used: set[str] = set()
    for target in profile_targets:
        if target in exact:
            found: tuple[str, ...] = (target,)
        else:
            key = normalize_target_name(target)
            found = (by_key[key],) if key in by_key else ()
            core, side = _side_of(key)
            if not found and not side and f"{core}_left" in by_key and f"{core}_right" in by_key:
                found = (by_key[f"{core}_left"], by_key[f"{core}_right"])
        if found:
            matched[target] = found
            used.update(found)
        else:
            missing.append(target)
    unused = tuple(name for name in names if name not in used and name not in ambiguous)
    return NameMatch(MappingProxyType(matched), tuple(missing), unused, tuple(ambiguous))
