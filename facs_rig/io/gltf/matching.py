"""Pair a rig profile's targets with a glTF file's morph-target names, and detect the best profile.

Names are compared with the rig work's convention-insensitive keys
(:func:`facs_rig.core.naming.match_names`: case, ``Left``/``_L``/``.L``, separators), so the ARKit
profile drives ICT FaceKit's ``mouthSmile_L`` and Face Cap's ``mouthSmile_L`` as well as Apple's
``mouthSmileLeft``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from facs_rig.core.naming import NameMatch, match_names
from facs_rig.core.rig import RigProfile
from facs_rig.errors import RigError, quoted
from facs_rig.io.gltf.reader import GltfRig
from facs_rig.io.rig_files import list_rigs, load_rig

__all__ = ["TargetMatch", "column_map", "match_rig", "detect_rigs", "resolve_rig",
           "require_morph_targets"]


@dataclass(frozen=True)
class TargetMatch:
    """How a rig profile drives a glTF file's targets.

    Attributes
    ----------
    profile : RigProfile
        The rig profile.
    names : NameMatch
        Profile target -> file name(s), plus the profile targets the file lacks (``missing``) and
        the file targets nothing drives (``unused``).
    column_of_target : Mapping[str, int]
        File target name -> column of the profile's weights that drives it.
    n_file_targets : int
        Distinct target names in the file.
    file_nodes : tuple of str
        The names of the file's nodes, in file order (once each): the profile's ``node_motion``
        turns nodes by name.
    """

    profile: RigProfile
    names: NameMatch
    column_of_target: Any
    n_file_targets: int
    file_nodes: tuple[str, ...] = ()

    @property
    def missing_nodes(self) -> tuple[str, ...]:
        """Nodes the profile's ``node_motion`` turns that the file has no node of that name for:
        their targets move nothing on this file (a misspelled node kept a nod from moving with no
        word, a technical-animator reviewer found)."""
        present = set(self.file_nodes)
        return tuple(dict.fromkeys(m.node for m in self.profile.node_motions
                                   if m.node not in present))

    @property
    def missing_targets(self) -> tuple[str, ...]:
        """Profile targets the file lacks, leaving out those shown by turning a node the file has
        (a head nod done by ``node_motion`` needs no morph target)."""
        present = set(self.file_nodes)
        turned = {m.target for m in self.profile.node_motions if m.node in present}
        return tuple(target for target in self.names.missing if target not in turned)

    def node_motion_note(self) -> str | None:
        """One line naming the :attr:`missing_nodes`, the targets they leave unmoved, a close
        node name of the file when there is one, and the file's nodes; None when none is missing.
        """
        missing = self.missing_nodes
        if not missing:
            return None
        parts = []
        for node in missing:
            targets = dict.fromkeys(m.target for m in self.profile.node_motions if m.node == node)
            close = difflib.get_close_matches(node, self.file_nodes, n=1, cutoff=0.6)
            hint = f", did you mean {quoted(close[0])}?" if close else ""
            parts.append(f"{quoted(node)} (for {', '.join(targets)}{hint})")
        shown = ", ".join(quoted(name) for name in self.file_nodes[:8])
        if len(self.file_nodes) > 8:
            shown += f", ... ({len(self.file_nodes)} in all)"
        nodes = f"its nodes: {shown}" if self.file_nodes else "it has no named nodes"
        return (f"rig {self.profile.name}'s node_motion turns node(s) the file does not have, so "
                f"they stay still: {'; '.join(parts)}; {nodes}")

    @property
    def profile_coverage(self) -> float:
        """Fraction of the profile's targets found in the file (0-1)."""
        return self.names.coverage

    @property
    def file_coverage(self) -> float:
        """Fraction of the file's targets the profile drives (0-1)."""
        return len(self.column_of_target) / self.n_file_targets if self.n_file_targets else 0.0

    @property
    def undriven_file_targets(self) -> tuple[str, ...]:
        """Matched file targets whose profile target no FACS code drives (no mapping or
        corrective: ARKit's ``mouthLeft``/``mouthRight``); they stay at the bottom of their range.
        """
        undriven = set(self.profile.undriven_targets)
        return tuple(name for name, column in self.column_of_target.items()
                     if self.profile.targets[column] in undriven)

    @property
    def n_driven_file_targets(self) -> int:
        """Matched file targets some FACS code of the profile drives."""
        return len(self.column_of_target) - len(self.undriven_file_targets)

    def to_dict(self) -> dict:
        """A JSON-ready report: coverage, matched pairs, missing and unused names.

        ``matched_file_targets`` counts the file targets paired with a profile target;
        ``driven_file_targets`` those of them some FACS code drives (it counted every matched
        one, a new-user reviewer found), ``undriven_file_targets`` names the others.
        """
        return {
            "rig": self.profile.name,
            "file_targets": self.n_file_targets,
            "matched_file_targets": len(self.column_of_target),
            "driven_file_targets": self.n_driven_file_targets,
            "undriven_file_targets": list(self.undriven_file_targets),
            "file_coverage": round(self.file_coverage, 4),
            "profile_coverage": round(self.profile_coverage, 4),
            "matched": {target: list(names) for target, names in self.names.matched.items()},
            "missing": list(self.missing_targets),
            "missing_nodes": list(self.missing_nodes),
            "unused": list(self.names.unused),
            "ambiguous": list(self.names.ambiguous),
        }


def match_rig(profile: RigProfile, rig: GltfRig) -> TargetMatch:
    """Match ``profile``'s targets to the target names of every mesh in ``rig``.

    A file name driven by several profile targets takes the first in profile order.
    """
    file_names = rig.target_names
    names = match_names(profile.targets, file_names)
    column_of_target = _columns(profile.targets, names.matched)
    return TargetMatch(profile=profile, names=names,
                       column_of_target=MappingProxyType(column_of_target),
                       n_file_targets=len(file_names), file_nodes=_node_names(rig))


def _node_names(rig: GltfRig) -> tuple[str, ...]:
    nodes = rig.source.document.get("nodes") if isinstance(rig.source.document, dict) else None
    names = (node.get("name") for node in nodes or () if isinstance(node, dict))
    return tuple(dict.fromkeys(name for name in names if isinstance(name, str)))


def column_map(columns: Sequence[str], file_names: Iterable[str]) -> dict[str, int]:
    """File target name -> index of the column of ``columns`` that drives it, names compared as
    the CLI compares them (:func:`~facs_rig.core.naming.match_names`: ``mouthSmileLeft`` drives
    ``mouthSmile_L``). A file name several columns match takes the first; file names no column
    matches are absent.

    Parameters
    ----------
    columns : sequence of str
        Weight column names (``TargetWeights.names``, a profile's targets), in column order.
    file_names : iterable of str
        A file's morph target names.
    """
    return _columns(columns, match_names(columns, file_names).matched)


def _columns(columns: Sequence[str], matched: Mapping[str, Sequence[str]]) -> dict[str, int]:
    column_of_target: dict[str, int] = {}
    for column, target in enumerate(columns):
        for name in matched.get(target, ()):
            column_of_target.setdefault(name, column)
    return column_of_target


def detect_rigs(rig: GltfRig, candidates: Sequence[RigProfile] | None = None) -> list[TargetMatch]:
    """Every candidate profile's match with ``rig``, best first.

    The best profile drives the most of the file's targets; ties go to the profile with the
    larger share of its own targets found (the tighter fit), then to the name.
    """
    if candidates is None:
        candidates = [load_rig(bundled.name) for bundled in list_rigs()]
    matches = [match_rig(profile, rig) for profile in candidates]
    return sorted(matches, key=lambda m: (-len(m.column_of_target), -m.profile_coverage,
                                          m.profile.name))


def require_morph_targets(rig: GltfRig) -> None:
    """Refuse a file with no morph targets: no profile can drive it.

    A mesh without morph targets (a plain box) gave ``rig detect`` an empty table and exit 0,
    and ``bake`` the advice to "pass --rig with a profile", which cannot help.

    Raises
    ------
    RigError
    """
    if not rig.target_names:
        raise RigError(f"{rig.path}: no morph targets (blend shapes), so nothing to drive: a "
                       f"face rig for facs-rig needs morph targets")


def resolve_rig(name_or_path: str | RigProfile | None, rig: GltfRig) -> TargetMatch:
    """The named profile's match with ``rig``, or the best bundled profile's when ``None``.

    Raises
    ------
    RigError
        When the file has no morph targets, or the profile drives none of them (the message
        lists a few of them and the best bundled profile).
    """
    require_morph_targets(rig)
    if name_or_path is not None:
        match = match_rig(load_rig(name_or_path), rig)
        if not match.column_of_target:
            best = detect_rigs(rig)
            hint = (f"; the best bundled fit is {best[0].profile.name!r}"
                    if best and best[0].column_of_target else "")
            raise RigError(f"{rig.path}: rig {match.profile.name!r} drives none of the file's "
                           f"targets ({_sample(rig)}){hint}")
        return match
    ranked = detect_rigs(rig)
    if not ranked or not ranked[0].column_of_target:
        raise RigError(f"{rig.path}: no bundled rig profile matches any of its targets "
                       f"({_sample(rig)}); pass --rig with a profile for this rig")
    return ranked[0]


def _sample(rig: GltfRig) -> str:
    names = rig.target_names
    if not names:
        return "it has no morph targets"
    more = f", ... ({len(names)} in all)" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more
