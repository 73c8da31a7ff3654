"""Rig profiles: which targets each AU channel drives, how contributions combine, and the rules.

A rig profile is data (``rigs/*.json``, specified in ``rigs/README.md``); this module validates its
JSON-shaped form and builds an immutable :class:`RigProfile`. The mixing itself is in
:mod:`facs_rig.core.mixing`. Reading the files is :mod:`facs_rig.io.rig_files`' job.

The one validator, :func:`validate_rig`, collects every problem with its JSON path, e.g.
``action_units.AU12[1].target: 'mouthSmileLft' is not a target of this rig``.

Laterality: each mapping entry may carry ``"side": "L"`` or ``"R"``. A sided entry is driven by the
bilateral channel and its own side only (``R12`` never reaches a ``side: "L"`` entry); an entry
without a side (ARKit's ``browInnerUp``) is driven by whichever of the bilateral, left and right
channels is strongest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from facs_rig.core.channels import Channel, parse_channel, sort_channels
from facs_rig.core.naming import normalize_target_name
from facs_rig.core.nodes import NodeMotion
from facs_rig.errors import RigError, RigValidationError, cut, shown

if TYPE_CHECKING:
    from facs_rig.core.vocabulary import Vocabulary

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "COMBINE_MODES",
    "RULE_KINDS",
    "RigIssue",
    "AUMapping",
    "CorrectiveRule",
    "ExclusiveRule",
    "SuppressRule",
    "ClampRule",
    "Rule",
    "RigProfile",
    "validate_rig",
    "rig_from_dict",
    "describe_rig",
]

SCHEMA_NAME = "facs_rig.rig"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
#: How the contributions to one target combine: add then clamp, take the largest, or
#: "probabilistic or" 1 - prod(1 - w_i) (bounded, smooth, never lower than the largest).
COMBINE_MODES = ("sum", "max", "soft")
#: The closed rule vocabulary; each kind is implemented in :mod:`facs_rig.core.mixing`.
RULE_KINDS = ("corrective", "exclusive", "suppress", "clamp")
#: RigLogic's PSD weights reach the tens (Epic's RigLogic PSD unit tests: weight 40 on
#: 0.1 x 0.2 gives 0.8); 100 is a generous bound that still catches typos such as 1000.
MAX_CORRECTIVE_WEIGHT = 100.0
#: Deepest nesting of objects and lists in a profile (the format itself uses 4; free ``metadata``
#: gets room). Validation, freezing and ``to_dict`` walk values recursively, so deeper data is
#: refused up front instead of exhausting Python's stack (a RecursionError at 800 levels).
MAX_NESTING = 32

_TOP_KEYS = {"schema", "name", "description", "targets", "combine", "range", "target_ranges",
             "action_units", "rules", "unsupported", "metadata", "notes", "node_motion"}
_ENTRY_KEYS = {"target", "weight", "side", "curve", "without", "without_full_at", "notes"}
_RULE_KEYS = {
    "corrective": {"rule", "target", "aus", "targets", "weight", "notes"},
    "exclusive": {"rule", "chain", "notes"},
    "suppress": {"rule", "target", "by_au", "by_target", "k", "notes"},
    "clamp": {"rule", "target", "max_target", "notes"},
}
_MOTION_KEYS = {"node", "axis", "degrees", "pivot", "translation", "notes"}
#: Largest node rotation a motion entry may declare: a half turn (beyond it the quaternion path
#: is ambiguous, and no eye or head turns that far).
MAX_MOTION_DEGREES = 180.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SCHEMA_PATTERN = re.compile(r"facs_rig\.rig/(\d{1,9})")  # fullmatched; bounded: int() refuses 4,301 digits
#: Upgrades from older schema versions, ``{old_version: function(dict) -> dict of old_version+1}``,
#: applied in order before validation (OpenTimelineIO's pattern). Version 1 is the first.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


@dataclass(frozen=True, slots=True)
class RigIssue:
    """One problem in a rig profile: the JSON path and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True, slots=True)
class AUMapping:
    """One AU driving one target.

    Attributes
    ----------
    au : int
        FACS number.
    target : str
        Target name (one of the profile's targets).
    weight : float
        Target value at full AU intensity, in (0, 1].
    side : {None, 'L', 'R'}
        ``'L'``/``'R'``: driven by the bilateral channel and that side only. ``None``: driven by
        the strongest of the bilateral, left and right channels.
    curve : tuple of (x, y)
        Optional piecewise-linear response (in-betweens): AU value x -> fraction y of
        ``weight``. Empty means linear. Starts at x = 0 and ends at x = 1.
    without : tuple of Channel
        AUs whose presence fades the entry out: its contribution is multiplied by
        ``1 - min(1, b / without_full_at)`` for each (``b`` read through its side like a rule's
        AU driver). ARKit's AU26 closes the lips with ``mouthClose`` ``without`` AU25: FACS
        scores 25 beside 26 exactly when the lips part. Empty: the entry does not depend on
        other AUs.
    without_full_at : float
        The value of a ``without`` AU at which the entry is gone, in (0, 1]; below it the entry
        fades in proportion. 1 (the default): ``1 - b``, a fade in proportion to the whole
        range. The bundled profiles' lips-together entries use 0.1, the trace (A) on the
        default scale: FACS 2002 scores 25 whenever the lips part, at any intensity, so a
        scored 25 leaves no closure.
    """

    au: int
    target: str
    weight: float = 1.0
    side: str | None = None
    curve: tuple[tuple[float, float], ...] = ()
    without: tuple[Channel, ...] = ()
    without_full_at: float = 1.0

    def fade(self, value: float) -> float:
        """The fraction of the entry one ``without`` AU at ``value`` (0-1) takes away."""
        return min(1.0, max(0.0, value) / self.without_full_at)


@dataclass(frozen=True, slots=True)
class CorrectiveRule:
    """``target = clamp(weight * prod(drivers), 0, 1)`` (RigLogic's PSD rule).

    Drivers are AU channels (``AU12_L`` reads the left view: the larger of ``AU12`` and
    ``AU12_L``; an unsided ``AU01`` reads the strongest of both sides) and/or targets (their
    value after the AU mappings and earlier correctives).
    """

    kind: ClassVar[str] = "corrective"
    target: str
    aus: tuple[Channel, ...] = ()
    targets: tuple[str, ...] = ()
    weight: float = 1.0
    notes: str = ""


@dataclass(frozen=True, slots=True)
class ExclusiveRule:
    """An ordinal chain of AUs that do not add up (25 < 26 < 27; 41 < 42 < 43/45/46).

    ``chain`` lists ranks from weakest to strongest; each rank holds one or more AU numbers.
    Where several members drive one target, their contributions are not summed: the largest
    one wins. The validator requires a stronger member to drive every shared target at least
    as much as a weaker one, so ``26+27`` gives the same ``jawOpen`` as ``27`` alone.
    """

    kind: ClassVar[str] = "exclusive"
    chain: tuple[tuple[int, ...], ...]
    notes: str = ""

    @property
    def members(self) -> tuple[int, ...]:
        """Every AU of the chain, weakest rank first."""
        return tuple(au for rank in self.chain for au in rank)


@dataclass(frozen=True, slots=True)
class SuppressRule:
    """``target <- target * (1 - k * b)`` for antagonists; ``b`` is an AU channel or a target."""

    kind: ClassVar[str] = "suppress"
    target: str
    k: float = 1.0
    by_au: Channel | None = None
    by_target: str | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class ClampRule:
    """``target <- min(target, max_target)`` (ARKit ``mouthClose`` <= ``jawOpen``)."""

    kind: ClassVar[str] = "clamp"
    target: str
    max_target: str
    notes: str = ""


Rule = CorrectiveRule | ExclusiveRule | SuppressRule | ClampRule


@dataclass(frozen=True, eq=False)
class RigProfile:
    """A validated rig profile. Build with :func:`rig_from_dict` or :func:`facs_rig.io.rig_files.load_rig`.

    Attributes
    ----------
    name : str
        Profile name (``arkit``).
    targets : tuple of str
        Target names in the rig's order: the columns of mixed weights.
    mappings : tuple of AUMapping
        Every AU -> target entry, in file order.
    combine : tuple of str
        Combine mode of each target (``len == len(targets)``).
    rules : tuple of Rule
        Combination rules in file order.
    ranges : tuple of (float, float)
        Output range of each target; mixing maps 0-1 linearly onto it.
    unsupported : Mapping[int, str]
        AUs the profile declares it cannot show, with the reason.
    default_combine : str
        The profile-wide combine mode.
    description : str
    metadata : Mapping
        Sources, licence, choices between disagreeing sources.
    sided_aus : frozenset of int or None
        AUs FACS allows on one side (from the vocabulary used at load time); ``None`` when the
        profile was built without a vocabulary (then every AU is taken as sideable).
    node_motions : tuple of NodeMotion
        Nodes the targets turn or move (gaze: the eyeball nodes), from ``node_motion``; see
        :mod:`facs_rig.core.nodes`. Empty for rigs whose targets are morph targets only.
    """

    name: str
    targets: tuple[str, ...]
    mappings: tuple[AUMapping, ...]
    combine: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    ranges: tuple[tuple[float, float], ...] = ()
    unsupported: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    default_combine: str = "sum"
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sided_aus: frozenset[int] | None = None
    node_motions: tuple[NodeMotion, ...] = ()

    def __repr__(self) -> str:
        return (f"RigProfile(name={self.name!r}, {len(self.targets)} targets, "
                f"{len(self.aus)} AUs, {len(self.rules)} rules)")

    @property
    def aus(self) -> tuple[int, ...]:
        """Every AU the profile reads (mapped or named by a rule), ascending."""
        found = {m.au for m in self.mappings}
        found.update(channel.au for m in self.mappings for channel in m.without)
        for rule in self.rules:
            if isinstance(rule, CorrectiveRule):
                found.update(channel.au for channel in rule.aus)
            elif isinstance(rule, SuppressRule) and rule.by_au is not None:
                found.add(rule.by_au.au)
        return tuple(sorted(found))

    @property
    def mapped_aus(self) -> tuple[int, ...]:
        """AUs with at least one mapping entry, ascending."""
        return tuple(sorted({m.au for m in self.mappings}))

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The AU channels this profile reads, in stable order.

        Every AU it reads appears bilaterally and, where FACS allows one side, as ``_L`` and
        ``_R``: sample AU curves with these columns so no coded side is lost.
        """
        channels = []
        for au in self.aus:
            channels.append(Channel(au))
            if self.sided_aus is None or au in self.sided_aus:
                channels.extend((Channel(au, "L"), Channel(au, "R")))
        return sort_channels(channels)

    @property
    def undriven_targets(self) -> tuple[str, ...]:
        """Targets no mapping or corrective drives (they stay at the bottom of their range)."""
        driven = {m.target for m in self.mappings}
        driven.update(r.target for r in self.rules if isinstance(r, CorrectiveRule))
        return tuple(t for t in self.targets if t not in driven)

    def unshown_aus(self, vocabulary: Vocabulary) -> tuple[tuple[int, str], ...]:
        """Every FACS code that moves the face but that this profile does not read, with why.

        The reason is the profile's own (``unsupported``) where it gives one.
        """
        known = set(self.aus)
        return tuple((code, self.unsupported.get(code, "not mapped by this profile"))
                     for code, unit in sorted(vocabulary.action_units.items())
                     if unit.drives and code not in known)

    @property
    def target_names(self) -> tuple[str, ...]:
        """:attr:`targets` under the name meshes and glTF rigs give their targets
        (``mesh.target_names``), so code written for one reads the other."""
        return self.targets

    def target_index(self, name: str) -> int:
        """Column of a target; raises :class:`RigError` naming the rig when it is not one."""
        try:
            return self.targets.index(name)
        except ValueError:
            raise RigError(f"rig {self.name!r} has no target {name!r}") from None

    def mappings_of(self, au: int) -> tuple[AUMapping, ...]:
        """The mapping entries of one AU, in file order."""
        return tuple(m for m in self.mappings if m.au == au)

    def cannot_show(self, channels: Iterable[Channel]) -> tuple[Channel, ...]:
        """The given channels whose AU this profile does not read (they would be dropped)."""
        known = set(self.aus)
        return sort_channels(c for c in channels if c.au not in known)

    @property
    def sides_unshown(self) -> Mapping[int, tuple[str, ...]]:
        """AUs FACS codes on one side whose every mapping is unsided, with their targets.

        ARKit's ``AU01`` drives ``browInnerUp``, one shape for both brows: ``L1``, ``R1`` and
        ``1`` all give ``browInnerUp``, so the side a code or a capture gives is lost. An AU
        with at least one sided entry shows its side there and is not listed. ``{au: targets}``
        in ascending AU order.
        """
        sides: dict[int, list[str]] = {}
        for m in self.mappings:
            if self.sided_aus is None or m.au in self.sided_aus:
                sides.setdefault(m.au, []).append(m.target if m.side is None else "")
        return MappingProxyType({au: tuple(dict.fromkeys(targets))
                                 for au, targets in sorted(sides.items()) if all(targets)})

    def unshown_notes(self, channels: Iterable[Channel]) -> tuple[str, ...]:
        """What of ``channels`` this profile cannot show, for people: the AUs it does not read,
        then each AU whose coded side it cannot show.

        Returns
        -------
        tuple of str
            ``arkit cannot show: AU11 (why)`` (one line for every such AU) and ``L1: arkit shows
            AU1 on both sides (one shape, browInnerUp)`` (one line per AU); empty when the
            profile shows every channel as coded.
        """
        channels = sort_channels(set(channels))
        notes = []
        unshown = self.cannot_show(channels)
        if unshown:
            parts = []
            for channel in unshown:
                reason = self.unsupported.get(channel.au)
                parts.append(f"{channel.name} ({reason})" if reason else channel.name)
            notes.append(f"{self.name} cannot show: " + "; ".join(parts))
        sides = self.sides_unshown
        coded: dict[int, list[str]] = {}
        for channel in channels:
            if channel.side is not None and channel.au in sides:
                coded.setdefault(channel.au, []).append(f"{channel.side}{channel.au}")
        for au, labels in coded.items():
            targets = sides[au]
            shapes = (f"one shape, {targets[0]}" if len(targets) == 1
                      else f"unsided shapes {', '.join(targets)}")
            notes.append(f"{', '.join(labels)}: {self.name} shows AU{au} on both sides ({shapes})")
        return tuple(notes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-shaped form (``rig_from_dict(p.to_dict())`` rebuilds an equal profile)."""
        action_units: dict[str, list[dict[str, Any]]] = {}
        for m in self.mappings:
            entry: dict[str, Any] = {"target": m.target, "weight": m.weight}
            if m.side:
                entry["side"] = m.side
            if m.curve:
                entry["curve"] = [list(point) for point in m.curve]
            if m.without:
                entry["without"] = [c.name for c in m.without]
            if m.without_full_at != 1.0:
                entry["without_full_at"] = m.without_full_at
            action_units.setdefault(Channel(m.au).name, []).append(entry)
        rules: list[dict[str, Any]] = []
        for rule in self.rules:
            if isinstance(rule, CorrectiveRule):
                item: dict[str, Any] = {"rule": "corrective", "target": rule.target,
                                        "weight": rule.weight}
                if rule.aus:
                    item["aus"] = [c.name for c in rule.aus]
                if rule.targets:
                    item["targets"] = list(rule.targets)
            elif isinstance(rule, ExclusiveRule):
                item = {"rule": "exclusive", "chain": [
                    [Channel(a).name for a in rank] if len(rank) > 1 else Channel(rank[0]).name
                    for rank in rule.chain]}
            elif isinstance(rule, SuppressRule):
                item = {"rule": "suppress", "target": rule.target, "k": rule.k}
                if rule.by_au is not None:
                    item["by_au"] = rule.by_au.name
                else:
                    item["by_target"] = rule.by_target
            else:
                item = {"rule": "clamp", "target": rule.target, "max_target": rule.max_target}
            if rule.notes:
                item["notes"] = rule.notes
            rules.append(item)
        data: dict[str, Any] = {
            "schema": SCHEMA, "name": self.name, "description": self.description,
            "targets": list(self.targets),
            "combine": {"default": self.default_combine, **{
                t: mode for t, mode in zip(self.targets, self.combine)
                if mode != self.default_combine}},
            "action_units": action_units, "rules": rules,
            "unsupported": {Channel(au).name: why for au, why in self.unsupported.items()},
            "metadata": _thaw(self.metadata),
        }
        ranges = {t: list(r) for t, r in zip(self.targets, self.ranges) if r != (0.0, 1.0)}
        if ranges:
            data["target_ranges"] = ranges
        if self.node_motions:
            motion: dict[str, list[dict[str, Any]]] = {}
            for m in self.node_motions:
                item: dict[str, Any] = {"node": m.node}
                if m.axis is not None:
                    item.update(axis=list(m.axis), degrees=m.degrees)
                if m.pivot is not None:
                    item["pivot"] = list(m.pivot)
                if m.translation is not None:
                    item["translation"] = list(m.translation)
                motion.setdefault(m.target, []).append(item)
            data["node_motion"] = motion
        return data


# --------------------------------------------------------------------------------------------
# validation


def _key(key: Any) -> str:
    """A JSON object key as a path component, cut to :data:`~facs_rig.errors.QUOTE_LIMIT`
    characters."""
    return cut(str(key))


def _too_deep(data: Any) -> str | None:
    """Path of the first value nested deeper than :data:`MAX_NESTING`, else None.

    Walks with an explicit stack, not recursion, so any depth is measured safely.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, Mapping):
            items = [(f"{path}.{_key(key)}" if path else _key(key), item)
                     for key, item in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
        else:
            continue
        if depth >= MAX_NESTING:
            return path
        stack.extend((item, where, depth + 1) for where, item in reversed(items))
    return None


def _got(value: Any) -> str:
    """A value as the JSON file spells it where JSON and Python differ (``null``, ``true``),
    else :func:`~facs_rig.errors.shown`: a profile is JSON, and "got None" read as Python's."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return shown(value)


#: What a glTF file given as a profile is told (the JSON .gltf here, the binary .glb by
#: :func:`facs_rig.io.rig_files.read_rig_json`).
GLTF_NOT_A_PROFILE = (f"this is a glTF file, not a rig profile: did you mean --mesh? (--rig takes a "
                      f"bundled profile name or a {SCHEMA} .json file)")
#: The project's other JSON formats, by schema name: what a file of each is, for the message
#: when one is given as a rig profile.
_OTHER_FORMATS = {
    "timeline": "an AU timeline",
    "curves": "dense AU curves",
    "action_units": "the FACS vocabulary",
    "intensity_scales": "the intensity scales",
    "expressions": "the expression vocabulary",
    "head_recipe": "a default-head recipe",
}
_ANY_SCHEMA = re.compile(r"facs_rig\.([a-z_]{1,40})/(\d{1,9})")


def _another_format(data: Mapping[str, Any]) -> RigIssue | None:
    """The issue of a file of another known format (a facs-rig timeline, a glTF file), or None."""
    schema = data.get("schema")
    match = _ANY_SCHEMA.fullmatch(schema) if isinstance(schema, str) else None
    if match and match.group(1) != SCHEMA_NAME.split(".")[1]:
        kind = _OTHER_FORMATS.get(match.group(1), "another facs-rig format")
        return RigIssue("schema", f"this is a {schema} file ({kind}), not a rig profile "
                        f"(expected {SCHEMA!r})")
    asset = data.get("asset")
    if "schema" not in data and isinstance(asset, Mapping) and "version" in asset:
        # glTF 2.0 section 5.1: every glTF file has "asset" with its "version".
        return RigIssue("", GLTF_NOT_A_PROFILE)
    return None


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer beyond float range, e.g. 1 followed by 400 zeros
        return False


def _schema_version(value: Any) -> int | None:
    match = _SCHEMA_PATTERN.fullmatch(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def _upgrade(data: Mapping[str, Any]) -> Mapping[str, Any]:
    version = _schema_version(data.get("schema"))
    if version is None or version >= SCHEMA_VERSION:
        return data
    upgraded = dict(data)
    while version in _UPGRADES:
        upgraded = _UPGRADES[version](upgraded)
        version += 1
    return upgraded


class _Checker:
    """Collects issues while walking one profile dict."""

    def __init__(self, data: Mapping[str, Any], vocabulary: Vocabulary | None):
        self.data = data
        self.vocabulary = vocabulary
        self.issues: list[RigIssue] = []
        self.targets: set[str] = set()

    def add(self, path: str, message: str) -> None:
        self.issues.append(RigIssue(path, message))

    def keys(self, value: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for key in value:
            if key not in allowed:
                where = f"{path}.{_key(key)}" if path else _key(key)
                self.add(where, f"unknown field (expected one of {', '.join(sorted(allowed))})")

    def target(self, value: Any, path: str) -> bool:
        if not isinstance(value, str):
            self.add(path, f"expected a target name, got {_got(value)}")
            return False
        if value not in self.targets:
            self.add(path, f"{shown(value)} is not a target of this rig")
            return False
        return True

    def au_key(self, value: Any, path: str, *, sided: bool) -> Channel | None:
        """A channel string: an AU code, with a side when ``sided`` allows it."""
        channel = parse_channel(value) if isinstance(value, str) else None
        if channel is None:
            self.add(path, f"{shown(value)} is not an AU channel such as 'AU12'"
                     + (" or 'AU12_L'" if sided else ""))
            return None
        if channel.side and not sided:
            self.add(path, f"{shown(value)}: name the AU without a side here ('{Channel(channel.au).name}'); "
                     "sides go in each entry's \"side\"")
            return None
        return self.known_au(channel, path)

    def known_au(self, channel: Channel, path: str) -> Channel | None:
        if self.vocabulary is None:
            return channel
        unit = self.vocabulary.action_units.get(channel.au)
        if unit is None:
            self.add(path, f"AU{channel.au} is not a FACS code")
            return None
        if not unit.drives:
            self.add(path, f"AU{channel.au} ({unit.name}) is a {unit.kind} code and moves nothing")
            return None
        if channel.side and not unit.unilateral:
            self.add(path, f"AU{channel.au} ({unit.name}) cannot be coded on one side")
            return None
        return channel


def validate_rig(data: Any, *, vocabulary: Vocabulary | None = None) -> list[RigIssue]:
    """Every problem of a JSON-shaped rig profile, each with its path (empty list: valid).

    Parameters
    ----------
    data : Any
        The parsed JSON of a profile.
    vocabulary : Vocabulary, optional
        When given, AU numbers must be FACS codes that move the face and sides are allowed only
        on AUs FACS codes unilaterally.

    Returns
    -------
    list of RigIssue
        In document order.
    """
    if not isinstance(data, Mapping):
        return [RigIssue("", f"a rig profile must be a JSON object, not {type(data).__name__}")]
    too_deep = _too_deep(data)
    if too_deep is not None:  # checked first: the checks below and the build recurse into values
        return [RigIssue(too_deep, f"nested deeper than {MAX_NESTING} levels of objects and lists")]
    other = _another_format(data)
    if other is not None:
        # Every field of another format would be reported as unknown and every required one as
        # missing (a timeline given as a profile said "7 problem(s): fps: unknown field ...").
        return [other]
    data = _upgrade(data)
    check = _Checker(data, vocabulary)
    check.keys(data, _TOP_KEYS, "")
    version = _schema_version(data.get("schema"))
    if "schema" not in data:
        check.add("schema", f"missing (expected {SCHEMA!r})")
    elif version is None:
        check.add("schema", f"expected {SCHEMA!r}, got {_got(data['schema'])}")
    elif version > SCHEMA_VERSION:
        check.add("schema", f"{shown(data['schema'])} is newer than this facs-rig reads ({SCHEMA!r}); "
                  "upgrade facs-rig")
    name = data.get("name")
    if "name" not in data:
        check.add("name", "missing (expected a name of lower-case letters, digits, '_', '-' or '.')")
    elif not (isinstance(name, str) and _NAME.match(name)):
        check.add("name", f"expected lower-case letters, digits, '_', '-' or '.', got {_got(name)}")
    if "description" in data and not isinstance(data["description"], str):
        check.add("description", "expected a string")
    _check_targets(check, data.get("targets"), present="targets" in data)
    if not check.targets:
        # Without targets every mapping, combine entry and rule would also be reported, each as
        # "'jawOpen' is not a target of this rig" (51 of a reviewer's 52 problems): stop here.
        return check.issues
    _check_combine(check, data.get("combine", {"default": "sum"}))
    _check_ranges(check, data)
    mapped = _check_action_units(check, data.get("action_units"))
    _check_rules(check, data.get("rules", []), mapped)
    _check_unsupported(check, data.get("unsupported", {}), mapped)
    _check_node_motion(check, data.get("node_motion", {}))
    metadata = data.get("metadata", {})
    if not isinstance(metadata, Mapping):
        check.add("metadata", "expected an object")
    elif "sources" in metadata and not (isinstance(metadata["sources"], list)
                                        and all(isinstance(s, str) for s in metadata["sources"])):
        check.add("metadata.sources", "expected a list of strings")
    return check.issues


def _check_targets(check: _Checker, targets: Any, *, present: bool = True) -> None:
    if not present:
        check.add("targets", "missing (expected a non-empty list of target names)")
        return
    if not isinstance(targets, list) or not targets:
        check.add("targets", f"expected a non-empty list of target names, got {_got(targets)}")
        return
    seen: dict[str, int] = {}
    keys: dict[str, int] = {}
    for index, target in enumerate(targets):
        path = f"targets[{index}]"
        if not isinstance(target, str) or not target.strip():
            check.add(path, f"expected a non-empty string, got {_got(target)}")
            continue
        if target in seen:
            check.add(path, f"{shown(target)} is listed twice (first at targets[{seen[target]}])")
            continue
        key = normalize_target_name(target)
        if key in keys:
            check.add(path, f"{shown(target)} would match the same file names as "
                      f"{shown(targets[keys[key]])} (targets[{keys[key]}]); rename one")
        seen[target] = index
        keys.setdefault(key, index)
    check.targets = set(seen)


def _check_combine(check: _Checker, combine: Any) -> None:
    if not isinstance(combine, Mapping):
        check.add("combine", "expected an object: {\"default\": mode, target: mode, ...}")
        return
    for key, mode in combine.items():
        path = f"combine.{_key(key)}"
        if key != "default" and key not in check.targets:
            check.add(path, f"{shown(key)} is not a target of this rig")
        if mode not in COMBINE_MODES:
            check.add(path, f"{shown(mode)} is not a combine mode ({', '.join(COMBINE_MODES)})")


def _valid_range(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
            and value[0] < value[1])


def _check_ranges(check: _Checker, data: Mapping[str, Any]) -> None:
    if "range" in data and not _valid_range(data["range"]):
        check.add("range", f"expected [low, high] with low < high, got {_got(data['range'])}")
    ranges = data.get("target_ranges", {})
    if not isinstance(ranges, Mapping):
        check.add("target_ranges", "expected an object: {target: [low, high]}")
        return
    for key, value in ranges.items():
        path = f"target_ranges.{_key(key)}"
        if key not in check.targets:
            check.add(path, f"{shown(key)} is not a target of this rig")
        if not _valid_range(value):
            check.add(path, f"expected [low, high] with low < high, got {_got(value)}")


def _check_curve(check: _Checker, curve: Any, path: str) -> None:
    if not isinstance(curve, list) or len(curve) < 2:
        check.add(path, "expected a list of at least two [x, y] points")
        return
    xs: list[float] = []
    for index, point in enumerate(curve):
        if not (isinstance(point, list) and len(point) == 2 and all(_is_number(v) for v in point)):
            check.add(f"{path}[{index}]", f"expected [x, y] numbers, got {_got(point)}")
            return
        x, y = point
        if not 0 <= y <= 1:
            check.add(f"{path}[{index}]", f"y = {y} is outside [0, 1]")
        xs.append(float(x))
    if xs[0] != 0 or xs[-1] != 1:
        check.add(path, f"x must run from 0 to 1, got {xs[0]} to {xs[-1]}")
    if any(b <= a for a, b in zip(xs, xs[1:])):
        check.add(path, "x must increase strictly")
    if curve[0][1] != 0:
        check.add(f"{path}[0]", "an absent AU must drive nothing: the curve must start at [0, 0]")


def _check_action_units(check: _Checker, action_units: Any) -> dict[int, list[tuple[str, float]]]:
    """Validate the mappings; return AU -> [(target, weight)] of the valid entries."""
    mapped: dict[int, list[tuple[str, float]]] = {}
    if action_units is None and "action_units" not in check.data:
        check.add("action_units", "missing (expected an object: {\"AU12\": [{\"target\": ..., "
                  "\"weight\": ...}]})")
        return mapped
    if not isinstance(action_units, Mapping):
        check.add("action_units", "expected an object: {\"AU12\": [{\"target\": ..., \"weight\": ...}]}")
        return mapped
    seen_au: dict[int, str] = {}
    for key, entries in action_units.items():
        base = f"action_units.{_key(key)}"
        channel = check.au_key(key, base, sided=False)
        if channel is not None:
            if channel.au in seen_au:
                check.add(base, f"AU{channel.au} is already mapped as {shown(seen_au[channel.au])}")
                channel = None
            else:
                seen_au[channel.au] = key
        if not isinstance(entries, list) or not entries:
            check.add(base, "expected a non-empty list of {\"target\", \"weight\"} entries")
            continue
        seen_pairs: dict[tuple[str, str | None], int] = {}
        for index, entry in enumerate(entries):
            path = f"{base}[{index}]"
            if not isinstance(entry, Mapping):
                check.add(path, f"expected an object, got {_got(entry)}")
                continue
            check.keys(entry, _ENTRY_KEYS, path)
            if "target" not in entry:
                check.add(f"{path}.target", "missing (expected a target name)")
                ok = False
            else:
                ok = check.target(entry["target"], f"{path}.target")
            weight = entry.get("weight", 1.0)
            if not _is_number(weight) or not 0 < weight <= 1:
                check.add(f"{path}.weight", f"expected a number in (0, 1], got {_got(weight)}")
                ok = False
            side = entry.get("side")
            if side not in (None, "L", "R"):
                check.add(f"{path}.side", f"expected \"L\" or \"R\", got {_got(side)}")
                ok = False  # and keep an unhashable side (a list) out of seen_pairs
            elif side is not None and channel is not None:
                check.known_au(Channel(channel.au, side), f"{path}.side")
            if "curve" in entry:
                _check_curve(check, entry["curve"], f"{path}.curve")
            if "without" in entry:
                _check_without(check, entry["without"], f"{path}.without", channel)
            if "without_full_at" in entry:
                full_at = entry["without_full_at"]
                if not _is_number(full_at) or not 0 < full_at <= 1:
                    check.add(f"{path}.without_full_at",
                              f"expected a number in (0, 1], got {_got(full_at)}")
                elif "without" not in entry:
                    check.add(f"{path}.without_full_at",
                              "applies to a 'without' fade: give the entry a 'without' list "
                              "(or remove without_full_at)")
            if "notes" in entry and not isinstance(entry["notes"], str):
                check.add(f"{path}.notes", "expected a string")
            pair = (entry.get("target"), side)
            if ok and pair in seen_pairs:
                check.add(path, f"{shown(pair[0])} is already driven by {base}[{seen_pairs[pair]}]"
                          + (f" on side {side}" if side else ""))
            elif ok:
                seen_pairs[pair] = index
                if channel is not None:
                    mapped.setdefault(channel.au, []).append((entry["target"], float(weight)))
    return mapped


def _check_without(check: _Checker, without: Any, path: str, channel: Channel | None) -> None:
    """An entry's ``without``: a non-empty list of distinct AU channels other than its own AU."""
    if not isinstance(without, list) or not without:
        check.add(path, "expected a non-empty list of AU channels such as [\"AU25\"]")
        return
    seen: set[Channel] = set()
    for index, value in enumerate(without):
        gate = check.au_key(value, f"{path}[{index}]", sided=True)
        if gate is None:
            continue
        if channel is not None and gate.au == channel.au:
            check.add(f"{path}[{index}]", f"an entry cannot fade out by its own AU ({shown(value)})")
        elif gate in seen:
            check.add(f"{path}[{index}]", f"{shown(value)} is listed twice")
        seen.add(gate)


def _string_list(check: _Checker, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.add(path, f"expected a list, got {_got(value)}")
        return []
    return value


def _check_rules(check: _Checker, rules: Any, mapped: dict[int, list[tuple[str, float]]]) -> None:
    if not isinstance(rules, list):
        check.add("rules", "expected a list of rule objects")
        return
    in_chain: dict[int, str] = {}
    corrective_of: dict[str, int] = {}
    corrective_deps: dict[str, list[str]] = {}
    for index, rule in enumerate(rules):
        path = f"rules[{index}]"
        if not isinstance(rule, Mapping):
            check.add(path, f"expected an object, got {_got(rule)}")
            continue
        kind = rule.get("rule")
        if kind not in RULE_KINDS:
            check.add(f"{path}.rule", f"{shown(kind)} is not a rule kind ({', '.join(RULE_KINDS)})")
            continue
        check.keys(rule, _RULE_KEYS[kind], path)
        if "notes" in rule and not isinstance(rule["notes"], str):
            check.add(f"{path}.notes", "expected a string")
        if kind == "corrective":
            target = rule.get("target")
            if check.target(target, f"{path}.target"):
                if target in corrective_of:
                    check.add(f"{path}.target", f"{shown(target)} is already the target of corrective "
                              f"rules[{corrective_of[target]}]")
                corrective_of.setdefault(target, index)
            aus = _string_list(check, rule.get("aus"), f"{path}.aus")
            targets = _string_list(check, rule.get("targets"), f"{path}.targets")
            for i, au in enumerate(aus):
                check.au_key(au, f"{path}.aus[{i}]", sided=True)
            for i, driver in enumerate(targets):
                if check.target(driver, f"{path}.targets[{i}]") and driver == target:
                    check.add(f"{path}.targets[{i}]", f"a corrective cannot drive itself ({shown(driver)})")
            if len(aus) + len(targets) < 2:
                check.add(path, "a corrective needs at least two drivers (\"aus\" and/or \"targets\")")
            if len(set(map(str, aus))) != len(aus) or len(set(map(str, targets))) != len(targets):
                check.add(path, "a driver is listed twice")
            if isinstance(target, str):
                corrective_deps[target] = [t for t in targets if isinstance(t, str)]
            weight = rule.get("weight", 1.0)
            if not _is_number(weight) or not 0 < weight <= MAX_CORRECTIVE_WEIGHT:
                check.add(f"{path}.weight", f"expected a number in (0, {MAX_CORRECTIVE_WEIGHT:g}], "
                          f"got {_got(weight)}")
        elif kind == "exclusive":
            _check_chain(check, rule.get("chain"), f"{path}.chain", in_chain, mapped)
        elif kind == "suppress":
            check.target(rule.get("target"), f"{path}.target")
            has_au, has_target = "by_au" in rule, "by_target" in rule
            if has_au == has_target:
                check.add(path, "give exactly one of \"by_au\" and \"by_target\"")
            elif has_au:
                check.au_key(rule["by_au"], f"{path}.by_au", sided=True)
            elif check.target(rule["by_target"], f"{path}.by_target") and \
                    rule["by_target"] == rule.get("target"):
                check.add(f"{path}.by_target", "a target cannot suppress itself")
            k = rule.get("k", 1.0)
            if not _is_number(k) or not 0 < k <= 1:
                check.add(f"{path}.k", f"expected a number in (0, 1], got {_got(k)}")
        else:  # clamp
            ok = check.target(rule.get("target"), f"{path}.target")
            if check.target(rule.get("max_target"), f"{path}.max_target") and ok and \
                    rule["max_target"] == rule["target"]:
                check.add(f"{path}.max_target", "a target cannot be clamped by itself")
    _check_corrective_cycles(check, corrective_deps, corrective_of)


def _check_chain(check: _Checker, chain: Any, path: str, in_chain: dict[int, str],
                 mapped: dict[int, list[tuple[str, float]]]) -> None:
    if not isinstance(chain, list) or len(chain) < 2:
        check.add(path, "expected a list of at least two ranks, weakest first (an AU or a list of AUs)")
        return
    ranks: list[list[int]] = []
    for i, rank in enumerate(chain):
        members = rank if isinstance(rank, list) else [rank]
        if not members:
            check.add(f"{path}[{i}]", "an empty rank")
        found = []
        for j, member in enumerate(members):
            where = f"{path}[{i}]" + (f"[{j}]" if isinstance(rank, list) else "")
            channel = check.au_key(member, where, sided=False)
            if channel is None:
                continue
            if channel.au in in_chain:
                check.add(where, f"AU{channel.au} is already a member of {in_chain[channel.au]}")
                continue
            in_chain[channel.au] = path.rsplit(".", 1)[0]
            found.append(channel.au)
        ranks.append(found)
    # A stronger member must drive every target it shares with a weaker one at least as much:
    # otherwise adding the stronger AU (26+27) would give less than the weaker alone.
    for i, weaker_rank in enumerate(ranks):
        for weaker in weaker_rank:
            for j in range(i + 1, len(ranks)):
                for stronger in ranks[j]:
                    strong_weights = dict(mapped.get(stronger, []))
                    for target, weight in mapped.get(weaker, []):
                        if target in strong_weights and strong_weights[target] < weight:
                            check.add(path, f"AU{stronger} is stronger than AU{weaker} in this "
                                      f"chain but drives {shown(target)} less ({strong_weights[target]:g} "
                                      f"< {weight:g})")


def _check_corrective_cycles(check: _Checker, deps: dict[str, list[str]],
                             rule_of: dict[str, int]) -> None:
    state: dict[str, int] = {}

    def visit(target: str, trail: list[str]) -> None:
        if state.get(target) == 2 or target not in deps:
            return
        if state.get(target) == 1:
            cycle = trail[trail.index(target):] + [target]
            check.add(f"rules[{rule_of.get(target, 0)}]",
                      "correctives drive each other in a cycle: " + " -> ".join(cycle))
            return
        state[target] = 1
        for driver in deps[target]:
            visit(driver, [*trail, target])
        state[target] = 2

    for target in deps:
        visit(target, [])


def _check_unsupported(check: _Checker, unsupported: Any,
                       mapped: dict[int, list[tuple[str, float]]]) -> None:
    if not isinstance(unsupported, Mapping):
        check.add("unsupported", "expected an object: {\"AU11\": \"why the rig cannot show it\"}")
        return
    for key, reason in unsupported.items():
        path = f"unsupported.{_key(key)}"
        channel = check.au_key(key, path, sided=False)
        if not isinstance(reason, str) or not reason:
            check.add(path, "expected a reason (a non-empty string)")
        if channel is not None and channel.au in mapped:
            check.add(path, f"AU{channel.au} is mapped in action_units; it cannot also be unsupported")


def _vector(check: _Checker, value: Any, path: str, *, nonzero: bool = False) -> bool:
    if not (isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value)):
        check.add(path, f"expected 3 finite numbers, got {_got(value)}")
        return False
    if nonzero and not math.hypot(*(float(v) for v in value)) > 1e-9:
        check.add(path, "the axis must not be zero (length above 1e-9)")
        return False
    return True


def _check_node_motion(check: _Checker, motion: Any) -> None:
    """``{"AU61": [{"node": "eyeball_L", "axis": [0, 1, 0], "degrees": 28}, ...], "notes": ...}``."""
    if not isinstance(motion, Mapping):
        check.add("node_motion", 'expected an object: {"AU61": [{"node": "eyeball_L", "axis": '
                  '[0, 1, 0], "degrees": 28}]}')
        return
    for target, entries in motion.items():
        path = f"node_motion.{_key(target)}"
        if target == "notes":
            if not isinstance(entries, str):
                check.add(path, "expected a string")
            continue
        check.target(target, path)
        if not isinstance(entries, list) or not entries:
            check.add(path, "expected a non-empty list of {node, axis, degrees} entries")
            continue
        for index, entry in enumerate(entries):
            where = f"{path}[{index}]"
            if not isinstance(entry, Mapping):
                check.add(where, "expected an object")
                continue
            check.keys(entry, _MOTION_KEYS, where)
            if not (isinstance(entry.get("node"), str) and entry["node"]):
                check.add(f"{where}.node", f"expected a node name, got {_got(entry.get('node'))}")
            rotates = "axis" in entry or "degrees" in entry
            if rotates:
                _vector(check, entry.get("axis"), f"{where}.axis", nonzero=True)
                degrees = entry.get("degrees")
                if not (_is_number(degrees) and abs(float(degrees)) <= MAX_MOTION_DEGREES):
                    check.add(f"{where}.degrees", f"expected a number within ±{MAX_MOTION_DEGREES:g}, "
                              f"got {_got(degrees)}")
            if "pivot" in entry:
                if not rotates:
                    check.add(f"{where}.pivot", "a pivot needs an axis and degrees")
                _vector(check, entry["pivot"], f"{where}.pivot")
            if "translation" in entry:
                _vector(check, entry["translation"], f"{where}.translation")
            elif not rotates:
                check.add(where, "expected an axis and degrees, or a translation")
            if "notes" in entry and not isinstance(entry["notes"], str):
                check.add(f"{where}.notes", "expected a string")


def _node_motions(motion: Mapping[str, Any]) -> tuple[NodeMotion, ...]:
    def vector(value: Any) -> tuple[float, float, float] | None:
        return None if value is None else (float(value[0]), float(value[1]), float(value[2]))

    return tuple(
        NodeMotion(target=target, node=entry["node"], axis=vector(entry.get("axis")),
                   degrees=float(entry.get("degrees", 0.0)), pivot=vector(entry.get("pivot")),
                   translation=vector(entry.get("translation")))
        for target, entries in motion.items() if target != "notes" for entry in entries)


# --------------------------------------------------------------------------------------------
# building


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def rig_from_dict(data: Any, *, vocabulary: Vocabulary | None = None,
                  source: str = "rig profile") -> RigProfile:
    """Validate a JSON-shaped profile and build a :class:`RigProfile`.

    Older schema versions are upgraded first.

    Raises
    ------
    RigValidationError
        Listing every problem (``.issues``), each with its path; ``source`` (a file name)
        starts the message.
    """
    issues = validate_rig(data, vocabulary=vocabulary)
    if issues:
        raise RigValidationError(issues, source=source)
    data = _upgrade(data)
    targets = tuple(data["targets"])
    combine_spec = data.get("combine", {})
    default = combine_spec.get("default", "sum")
    combine = tuple(combine_spec.get(t, default) for t in targets)
    low, high = data.get("range", [0.0, 1.0])
    target_ranges = data.get("target_ranges", {})
    ranges = tuple(tuple(float(v) for v in target_ranges.get(t, (low, high))) for t in targets)
    mappings = []
    for key, entries in data["action_units"].items():
        au = parse_channel(key).au
        for entry in entries:
            mappings.append(AUMapping(
                au, entry["target"], float(entry.get("weight", 1.0)), entry.get("side"),
                tuple((float(x), float(y)) for x, y in entry.get("curve", ())),
                tuple(parse_channel(a) for a in entry.get("without", ())),
                float(entry.get("without_full_at", 1.0))))
    rules: list[Rule] = []
    for rule in data.get("rules", []):
        notes = rule.get("notes", "")
        kind = rule["rule"]
        if kind == "corrective":
            rules.append(CorrectiveRule(rule["target"],
                                        tuple(parse_channel(a) for a in rule.get("aus", [])),
                                        tuple(rule.get("targets", [])),
                                        float(rule.get("weight", 1.0)), notes))
        elif kind == "exclusive":
            rules.append(ExclusiveRule(tuple(
                tuple(parse_channel(a).au for a in (rank if isinstance(rank, list) else [rank]))
                for rank in rule["chain"]), notes))
        elif kind == "suppress":
            by_au = parse_channel(rule["by_au"]) if "by_au" in rule else None
            rules.append(SuppressRule(rule["target"], float(rule.get("k", 1.0)), by_au,
                                      rule.get("by_target"), notes))
        else:
            rules.append(ClampRule(rule["target"], rule["max_target"], notes))
    unsupported = {parse_channel(k).au: v for k, v in data.get("unsupported", {}).items()}
    sided = None
    if vocabulary is not None:
        sided = frozenset(code for code, unit in vocabulary.action_units.items() if unit.unilateral)
    return RigProfile(
        name=data["name"], targets=targets, mappings=tuple(mappings), combine=combine,
        rules=tuple(rules), ranges=ranges,
        unsupported=MappingProxyType(dict(sorted(unsupported.items()))),
        default_combine=default, description=data.get("description", ""),
        metadata=_freeze(data.get("metadata", {})), sided_aus=sided,
        node_motions=_node_motions(data.get("node_motion", {})))


def describe_rig(rig: RigProfile, vocabulary: Vocabulary) -> dict[str, Any]:
    """A JSON-ready summary of a profile for people: what each AU drives and what it cannot show.

    Returns
    -------
    dict
        ``name``, ``description``, ``targets`` (each with its combine mode and range),
        ``action_units`` (per AU: its FACS name and entries), ``rules``, ``cannot_show``
        (every face-moving FACS code the profile does not read, with the reason),
        ``undriven_targets``, ``node_motion`` (``{target: [entries]}``, empty when none) and
        ``metadata``.
    """
    data = rig.to_dict()
    action_units = []
    for au in rig.mapped_aus:
        unit = vocabulary.action_units.get(au)
        action_units.append({
            "au": Channel(au).name, "name": unit.name if unit else "",
            "drives": [{"target": m.target, "weight": m.weight, "side": m.side,
                        "curve": [list(p) for p in m.curve] if m.curve else None,
                        "without": [c.name for c in m.without] or None,
                        **({"without_full_at": m.without_full_at}
                           if m.without_full_at != 1.0 else {})}
                       for m in rig.mappings_of(au)]})
    return {
        "name": rig.name,
        "description": rig.description,
        "targets": [{"name": t, "combine": mode, "range": list(r)}
                    for t, mode, r in zip(rig.targets, rig.combine, rig.ranges)],
        "default_combine": rig.default_combine,
        "action_units": action_units,
        "rules": data["rules"],
        "cannot_show": [{"au": Channel(au).name, "name": vocabulary.action_units[au].name,
                         "reason": reason} for au, reason in rig.unshown_aus(vocabulary)],
        "undriven_targets": list(rig.undriven_targets),
        "node_motion": data.get("node_motion", {}),
        "metadata": data["metadata"],
    }
