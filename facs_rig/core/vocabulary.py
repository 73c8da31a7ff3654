"""The FACS vocabulary: codes, intensity scales and named expressions, built from data.

The facts themselves live in data files (``facs_rig/data/*.json``, each citing its sources); this
module validates their JSON-shaped content and gives it a small API. Reading the files is the job
of :mod:`facs_rig.resources`; everything here works on plain dicts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from facs_rig.core.channels import Channel
from facs_rig.core.notation import Code, CodedAU, format_code, parse_code
from facs_rig.errors import CodeParseError, VocabularyError

__all__ = [
    "ActionUnit",
    "IntensityScale",
    "Expression",
    "Vocabulary",
    "Alternative",
    "NotationRules",
    "INTENSITY_LETTERS",
    "REGIONS",
    "KINDS",
]

#: FACS 2002 intensity letters, weakest first: trace, slight, marked, severe, maximum.
INTENSITY_LETTERS = ("A", "B", "C", "D", "E")
REGIONS = ("brows", "eyes", "nose", "cheeks", "mouth", "jaw", "head", "gaze")
KINDS = ("action_unit", "action_descriptor", "head", "eye", "visibility", "behaviour")
#: Kinds that move the face or head; visibility and behaviour codes are kept but drive nothing.
DRIVING_KINDS = frozenset({"action_unit", "action_descriptor", "head", "eye"})


@dataclass(frozen=True, slots=True)
class ActionUnit:
    """One FACS code: an action unit, action descriptor, head or eye position, or other code.

    Attributes
    ----------
    code : int
        The FACS number (12).
    name : str
        FACS 2002 name ("Lip Corner Puller").
    kind : str
        One of :data:`KINDS`.
    region : str or None
        One of :data:`REGIONS`, or None for codes not confined to one region.
    unilateral : bool
        Whether FACS allows an ``L``/``R`` prefix for this code.
    muscles : tuple of str
        Muscular basis where FACS names one.
    scores_intensity : bool
        Whether FACS scores this code's intensity A-E; False for the blink and the wink, AU45
        and AU46 (FACS 2002 gives them no intensity criteria: the eye closes or it does not),
        whose letter is not written and which, unlettered, play at full closure.
    """

    code: int
    name: str
    kind: str
    region: str | None
    unilateral: bool
    muscles: tuple[str, ...] = ()
    scores_intensity: bool = True

    @property
    def drives(self) -> bool:
        """True when the code moves the face, head or eyes (so can drive a rig)."""
        return self.kind in DRIVING_KINDS


@dataclass(frozen=True, slots=True)
class IntensityScale:
    """A numeric reading of the FACS letters A-E.

    Attributes
    ----------
    name : str
        Preset name (``facshuman``, ``hapfacs``, ``openface``).
    maximum : float
        Top of the scale's own range (1 for 0-1 scales, 5 for OpenFace).
    minimum : float
        Values at or below this read as absent.
    values : Mapping[str, float]
        The value each letter drives, on the scale's own range.
    upper : Mapping[str, float]
        Upper edge of each letter's band, for value -> letter.
    unscored : str
        The letter assumed when a code has no intensity.
    source : str
        Where the numbers come from.
    """

    name: str
    maximum: float
    minimum: float
    values: Mapping[str, float]
    upper: Mapping[str, float]
    unscored: str
    source: str = ""

    def letter_to_value(self, letter: str | None, *, normalized: bool = True) -> float:
        """Number driven by an intensity letter (``None``: the scale's unscored letter).

        With ``normalized`` (the default) the result is divided by :attr:`maximum`, giving 0-1.
        """
        key = self.unscored if letter is None else letter.upper()
        if key not in self.values:
            raise VocabularyError(f"intensity letter {letter!r} is not one of A-E")
        value = self.values[key]
        return value / self.maximum if normalized else value

    def value_to_letter(self, value: float, *, normalized: bool = True) -> str | None:
        """Band letter of a number, or None when it is at or below the scale's minimum.

        With ``normalized`` (the default) the value is read on 0-1 and scaled by :attr:`maximum`.
        Values above the top band read as ``E``.
        """
        if not math.isfinite(value):
            raise VocabularyError(f"intensity value {value!r} is not a finite number")
        raw = value * self.maximum if normalized else value
        # A tiny tolerance so that a letter's own value, after float32 storage, maps back to it.
        tolerance = 1e-6 * self.maximum
        if raw <= self.minimum + tolerance:
            return None
        for letter in INTENSITY_LETTERS:
            if raw <= self.upper[letter] + tolerance:
                return letter
        return "E"


    def value_text(self, value: float, letter: str | None = None, *, decimals: int = 2,
                   normalized: bool = True) -> str:
        """``value`` with at least ``decimals`` decimals and as many more as it takes for the
        number shown to fall in ``letter``'s band (default: the band of ``value`` itself), so a
        table never shows ``0.10 (B)`` when A's band ends at 0.10: it shows ``0.1003 (B)``.
        Where no rounding reaches the band (a letter given with an explicit intensity outside
        it), the shortest text that reads back as ``value``.
        """
        target = self.value_to_letter(value, normalized=normalized) if letter is None else letter
        for places in range(decimals, 17):
            text = f"{value:.{places}f}"
            if self.value_to_letter(float(text), normalized=normalized) == target:
                return text
        return repr(float(value))


@dataclass(frozen=True, slots=True)
class Expression:
    """A named expression: a FACS code string with its source (``happiness`` = ``6+12``).

    Emotions also carry their EMFACS forms (the FACS Investigator's Guide's emotion prediction
    table, Ekman, Friesen & Hager 2002, Table 10-1): ``prototypes`` and ``variants`` (major
    variants) are codes, each term at least at its letter (no letter: any intensity); a face
    is named after the emotion only when it shows one of them in full. ``variants_omitting_one_of``
    is the table's rule for anger: every prototype without any one of these AUs is a variant
    too (``code_segments`` writes them out). A form's unsided term is a bilateral action, shown
    only on both sides, unless ``either_side`` (pain, whose PSPI scores each action's intensity
    without a side): then the AU on either side shows it. ``code`` stays the shape the name
    animates.

    ``companions`` (AU numbers) are the AUs the table adds to a row that is
    a row of the same emotion without them (disgust's 15, 16, 17, 25, 26 beside its 9 or 10):
    they complete rows but do not carry the emotion, so only the other AUs of a row, its core,
    weigh as evidence when a face is named (:func:`facs_rig.core.events.code_segments`). The
    loader checks that each companion is such an addition in every row that holds it, and so
    that every row keeps a core AU (:meth:`Vocabulary.from_dicts`).
    """

    name: str
    code: str
    source: str
    prototypes: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    variants_omitting_one_of: str | None = None
    either_side: bool = False
    companions: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Alternative:
    """Two FACS scores of which a coder writes one, never both in one code (FACS 2002 Table 9-1's
    "alternatives"): ``51+52``, ``43E+45``.

    Attributes
    ----------
    first, second : int
        The two codes, in ascending order.
    first_letter, second_letter : {None, 'A', ..., 'E'}
        A letter the term must carry for the rule to apply (``43E``: only a closed eye); None:
        any letter or none.
    reason : str
        Why, for the error message.
    source : str
        Short citation, a key of the rules' ``sources`` (its full reference).
    """

    first: int
    first_letter: str | None
    second: int
    second_letter: str | None
    reason: str
    source: str

    def __str__(self) -> str:
        return f"{self.first}{self.first_letter or ''}+{self.second}{self.second_letter or ''}"

    def matches(self, a: CodedAU, b: CodedAU) -> bool:
        """Whether terms ``a`` and ``b`` (in either order) break this rule: their AUs and letters
        match and they concern the same eye or side (a bilateral term concerns both; ``L45``
        and ``R46`` are two eyes, fine)."""
        if a.side is not None and b.side is not None and a.side != b.side:
            return False
        for x, y in ((a, b), (b, a)):
            if (x.au == self.first and y.au == self.second
                    and self.first_letter in (None, x.intensity)
                    and self.second_letter in (None, y.intensity)):
                return True
        return False


@dataclass(frozen=True, slots=True)
class NotationRules:
    """What FACS does not score in one code, from ``action_units.json``'s ``rules`` (each rule
    cites its source there).

    Attributes
    ----------
    letterless_kinds : frozenset of str
        Kinds of code that take no intensity letter (visibility and behaviour codes).
    letterless_source : str
        Short citation of that rule (a key of ``sources``).
    needs_side : Mapping[int, str]
        Code -> what to write instead when it is coded without a side (46: a wink is one eye).
    hides : Mapping[int, frozenset of str]
        Visibility code -> the regions it says cannot be seen; no code of a driving kind in
        those regions can be scored with it.
    hides_source : Mapping[int, str]
        Visibility code -> short citation of its rule (a key of ``sources``).
    alternatives : tuple of Alternative
    sources : Mapping[str, str]
        Short citation -> full reference.
    meet_frames : int
        On a timeline, how many frames (of its fps) two separate events may overlap where one
        ends as the other begins and still be read as meeting, one after the other, not as
        both at once (``rules.meet_within_frames``; 0: any overlap is both at once).
    meet_why : str
        Why, from the data file.
    """

    letterless_kinds: frozenset[str] = frozenset()
    letterless_source: str = ""
    needs_side: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    hides: Mapping[int, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    hides_source: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    alternatives: tuple[Alternative, ...] = ()
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    meet_frames: int = 0
    meet_why: str = ""
    #: The alternatives by their two codes (lower first): a code's pairs of terms are looked up
    #: here, not tested against every rule (parsing a code took 13 -> 52 us with the scan).
    by_pair: Mapping[tuple[int, int], tuple[Alternative, ...]] = field(
        init=False, repr=False, compare=False, default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        pairs: dict[tuple[int, int], list[Alternative]] = {}
        for rule in self.alternatives:
            pairs.setdefault((rule.first, rule.second), []).append(rule)
        object.__setattr__(self, "by_pair", MappingProxyType(
            {pair: tuple(rules) for pair, rules in pairs.items()}))


_RULE_TERM = re.compile(r"(\d+)([A-E])?")


def _rules_from_dict(data: Any, units: Mapping[int, ActionUnit], source: str) -> NotationRules:
    """Validate ``action_units.json``'s ``rules`` against the codes it lists."""
    if data is None:
        return NotationRules()
    if not isinstance(data, Mapping):
        raise VocabularyError(f"{source}: rules: expected an object")
    problems: list[str] = []

    def cited(value: Any, path: str) -> str:
        _require(isinstance(value, str) and bool(value), problems,
                 f"{path}: every rule cites its source")
        return value if isinstance(value, str) else ""

    def known(code: Any, path: str) -> bool:
        ok = isinstance(code, int) and not isinstance(code, bool) and code in units
        _require(ok, problems, f"{path}: {code!r} is not a code of this file")
        return ok

    def entries(section: str):
        """``(path, entry, citation)`` of a section's objects whose source is one of
        ``sources`` (what is not an object is a problem, and skipped)."""
        for index, entry in enumerate(data.get(section, [])):
            path = f"rules.{section}[{index}]"
            if not isinstance(entry, Mapping):
                problems.append(f"{path}: expected an object")
                continue
            cite = cited(entry.get("source"), f"{path}.source")
            _require(cite in sources, problems,
                     f"{path}.source: {cite!r} is not one of rules.sources")
            yield path, entry, cite

    sources = data.get("sources", {})
    if not (isinstance(sources, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) and v for k, v in sources.items())):
        problems.append("rules.sources: expected an object of citation -> reference")
        sources = {}
    letterless = data.get("letterless_kinds", {"kinds": [], "source": "-"})
    letterless = letterless if isinstance(letterless, Mapping) else {}
    kinds = letterless.get("kinds") if isinstance(letterless, Mapping) else None
    _require(isinstance(kinds, list) and all(kind in KINDS for kind in kinds), problems,
             f"rules.letterless_kinds.kinds: expected a list of {', '.join(KINDS)}")
    letterless_source = cited(letterless.get("source") if isinstance(letterless, Mapping) else None,
                              "rules.letterless_kinds.source")
    _require(not kinds or letterless_source in sources, problems,
             f"rules.letterless_kinds.source: {letterless_source!r} is not one of rules.sources")
    needs_side: dict[int, str] = {}
    for index, entry in enumerate(data.get("needs_side", [])):
        path = f"rules.needs_side[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{path}: expected an object")
            continue
        cited(entry.get("source"), f"{path}.source")
        _require(isinstance(entry.get("hint"), str) and bool(entry.get("hint")), problems,
                 f"{path}.hint: expected what to write instead")
        if known(entry.get("code"), f"{path}.code"):
            _require(units[entry["code"]].unilateral, problems,
                     f"{path}.code: {entry['code']} takes no side")
            needs_side[entry["code"]] = str(entry.get("hint"))
    hides: dict[int, frozenset[str]] = {}
    hides_source: dict[int, str] = {}
    for path, entry, cite in entries("visibility"):
        _require(isinstance(entry.get("why"), str) and bool(entry.get("why")), problems,
                 f"{path}.why: expected what the code hides, in words")
        regions = entry.get("hides")
        _require(isinstance(regions, list) and bool(regions)
                 and all(region in REGIONS for region in regions), problems,
                 f"{path}.hides: expected a list of {', '.join(REGIONS)}")
        if known(entry.get("code"), f"{path}.code"):
            _require(units[entry["code"]].kind == "visibility", problems,
                     f"{path}.code: {entry['code']} is not a visibility code")
            hides[entry["code"]] = frozenset(regions if isinstance(regions, list) else ())
            hides_source[entry["code"]] = cite
    meet = data.get("meet_within_frames", {"frames": 0, "why": "-", "source": "-"})
    meet = meet if isinstance(meet, Mapping) else {}
    meet_frames = meet.get("frames")
    _require(isinstance(meet_frames, int) and not isinstance(meet_frames, bool)
             and meet_frames >= 0, problems,
             "rules.meet_within_frames.frames: expected a whole number of frames, 0 or more")
    _require(isinstance(meet.get("why"), str) and bool(meet.get("why")), problems,
             "rules.meet_within_frames.why: expected the reason in words")
    cited(meet.get("source"), "rules.meet_within_frames.source")
    alternatives: list[Alternative] = []
    for path, entry, cite in entries("alternatives"):
        reason = entry.get("reason")
        _require(isinstance(reason, str) and bool(reason), problems,
                 f"{path}.reason: expected the rule in words")
        pairs = entry.get("pairs")
        if not (isinstance(pairs, list) and pairs and all(isinstance(p, str) for p in pairs)):
            problems.append(f"{path}.pairs: expected a list of codes such as '51+52'")
            continue
        for pair in pairs:
            halves = [_RULE_TERM.fullmatch(half) for half in pair.split("+")]
            if len(halves) != 2 or None in halves:
                problems.append(f"{path}.pairs: {pair!r} is not two AUs such as '43E+45'")
                continue
            (a, a_letter), (b, b_letter) = ((int(m[1]), m[2]) for m in halves)
            if not (known(a, f"{path}.pairs {pair!r}") and known(b, f"{path}.pairs {pair!r}")):
                continue
            _require(a < b, problems, f"{path}.pairs: {pair!r} must list the lower code first")
            alternatives.append(Alternative(a, a_letter, b, b_letter, str(reason), cite))
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return NotationRules(frozenset(kinds), letterless_source, MappingProxyType(needs_side),
                         MappingProxyType(hides), MappingProxyType(hides_source),
                         tuple(alternatives),
                         MappingProxyType(dict(sources)), int(meet_frames),
                         str(meet.get("why")))


def _require(condition: bool, problems: list[str], message: str) -> None:
    if not condition:
        problems.append(message)


def _action_units_from_dict(data: Mapping[str, Any], source: str) -> dict[int, ActionUnit]:
    problems: list[str] = []
    if data.get("schema") != "facs_rig.action_units/1":
        problems.append(f"schema: expected 'facs_rig.action_units/1', got {data.get('schema')!r}")
    entries = data.get("codes")
    if not isinstance(entries, list) or not entries:
        raise VocabularyError(f"{source}: codes: expected a non-empty list")
    units: dict[int, ActionUnit] = {}
    for index, entry in enumerate(entries):
        path = f"codes[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{path}: expected an object")
            continue
        code = entry.get("code")
        _require(isinstance(code, int) and not isinstance(code, bool) and 0 <= code < 100,
                 problems, f"{path}.code: expected an integer 0-99, got {code!r}")
        _require(isinstance(entry.get("name"), str) and entry.get("name"), problems,
                 f"{path}.name: expected a non-empty string")
        _require(entry.get("kind") in KINDS, problems,
                 f"{path}.kind: {entry.get('kind')!r} is not one of {', '.join(KINDS)}")
        _require(entry.get("region") is None or entry.get("region") in REGIONS, problems,
                 f"{path}.region: {entry.get('region')!r} is not one of {', '.join(REGIONS)}")
        _require(isinstance(entry.get("unilateral"), bool), problems,
                 f"{path}.unilateral: expected true or false")
        muscles = entry.get("muscles", [])
        _require(isinstance(muscles, list) and all(isinstance(m, str) for m in muscles), problems,
                 f"{path}.muscles: expected a list of strings")
        intensity = entry.get("intensity", True)
        _require(isinstance(intensity, bool), problems,
                 f"{path}.intensity: expected true or false")
        if isinstance(code, int) and code in units:
            problems.append(f"{path}.code: {code} is listed twice")
        if not problems:
            units[code] = ActionUnit(code, entry["name"], entry["kind"], entry.get("region"),
                                     entry["unilateral"], tuple(muscles), intensity)
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return units


def _scales_from_dict(data: Mapping[str, Any], source: str) -> tuple[dict[str, IntensityScale], str]:
    problems: list[str] = []
    if data.get("schema") != "facs_rig.intensity_scales/1":
        problems.append(f"schema: expected 'facs_rig.intensity_scales/1', got {data.get('schema')!r}")
    scales: dict[str, IntensityScale] = {}
    raw_scales = data.get("scales")
    if not isinstance(raw_scales, Mapping) or not raw_scales:
        raise VocabularyError(f"{source}: scales: expected a non-empty object")
    for name, entry in raw_scales.items():
        path = f"scales.{name}"
        try:
            maximum = float(entry["maximum"])
            minimum = float(entry["minimum"])
            values = {k: float(entry["values"][k]) for k in INTENSITY_LETTERS}
            upper = {k: float(entry["upper"][k]) for k in INTENSITY_LETTERS}
            unscored = entry["unscored"]
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{path}: missing or non-numeric field {exc}")
            continue
        ordered = [values[k] for k in INTENSITY_LETTERS]
        edges = [upper[k] for k in INTENSITY_LETTERS]
        _require(maximum > 0, problems, f"{path}.maximum: must be positive")
        _require(0 <= minimum < ordered[0], problems, f"{path}.minimum: must lie below A's value")
        _require(all(a < b for a, b in zip(ordered, ordered[1:])), problems,
                 f"{path}.values: must increase from A to E")
        _require(all(a < b for a, b in zip(edges, edges[1:])), problems,
                 f"{path}.upper: must increase from A to E")
        _require(all(v <= e for v, e in zip(ordered, edges)), problems,
                 f"{path}: each letter's value must lie within its band")
        _require(abs(edges[-1] - maximum) < 1e-9 and ordered[-1] <= maximum, problems,
                 f"{path}.upper.E: must equal the maximum")
        _require(unscored in INTENSITY_LETTERS, problems, f"{path}.unscored: must be a letter A-E")
        scales[name] = IntensityScale(name, maximum, minimum, MappingProxyType(values),
                                      MappingProxyType(upper), unscored, str(entry.get("source", "")))
    default = data.get("default")
    _require(default in scales, problems, f"default: {default!r} is not a scale in this file")
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return scales, default


def _expressions_from_dict(data: Mapping[str, Any], source: str) -> dict[str, Expression]:
    problems: list[str] = []
    if data.get("schema") != "facs_rig.expressions/1":
        problems.append(f"schema: expected 'facs_rig.expressions/1', got {data.get('schema')!r}")
    expressions: dict[str, Expression] = {}
    for index, entry in enumerate(data.get("expressions") or []):
        path = f"expressions[{index}]"
        name, code, cite = entry.get("name"), entry.get("code"), entry.get("source")
        if not (isinstance(name, str) and name and normalize_expression_name(name) == name):
            problems.append(f"{path}.name: {name!r} must be lowercase letters, digits and '_'")
            continue
        if not isinstance(code, str) or not code:
            problems.append(f"{path}.code: expected a FACS code string")
            continue
        if not isinstance(cite, str) or not cite:
            problems.append(f"{path}.source: every expression cites its source")
            continue
        if "requires" in entry:
            problems.append(f"{path}.requires: replaced by prototypes and variants (the EMFACS "
                            f"table's rows, each shown in full names the emotion)")
            continue
        forms = {key: entry.get(key, []) for key in ("prototypes", "variants")}
        bad = [key for key, value in forms.items()
               if not (isinstance(value, list) and all(isinstance(item, str) and item
                                                       for item in value))]
        if bad:
            problems.extend(f"{path}.{key}: expected a list of FACS code strings" for key in bad)
            continue
        omitting = entry.get("variants_omitting_one_of")
        if omitting is not None and not (isinstance(omitting, str) and omitting):
            problems.append(f"{path}.variants_omitting_one_of: expected a FACS code string")
            continue
        if (forms["variants"] or omitting) and not forms["prototypes"]:
            problems.append(f"{path}: variants need the prototypes they vary")
            continue
        either_side = entry.get("either_side", False)
        if not isinstance(either_side, bool):
            problems.append(f"{path}.either_side: expected true or false")
            continue
        if either_side and not forms["prototypes"]:
            problems.append(f"{path}.either_side: says how prototypes are read, and there are none")
            continue
        companions = entry.get("companions", [])
        if not (isinstance(companions, list) and all(
                isinstance(au, int) and not isinstance(au, bool) for au in companions)):
            problems.append(f"{path}.companions: expected a list of AU numbers")
            continue
        if companions and not forms["prototypes"]:
            problems.append(f"{path}.companions: support the rows of prototypes, and there are none")
            continue
        if name in expressions:
            problems.append(f"{path}.name: {name!r} is listed twice")
        expressions[name] = Expression(name, code, cite, tuple(forms["prototypes"]),
                                       tuple(forms["variants"]), omitting, either_side,
                                       tuple(companions))
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return expressions


def _everyday_words_from_dict(data: Mapping[str, Any], expressions: Mapping[str, Expression],
                              source: str) -> dict[str, str]:
    """``everyday_words.words`` of expressions.json: word -> the expression name it suggests
    (``scared`` -> ``fear``), validated: each word a name-shaped string that is no expression's
    own name, each target a named expression, and the section cites its source."""
    section = data.get("everyday_words")
    if section is None:
        return {}
    path = "everyday_words"
    if not isinstance(section, Mapping):
        raise VocabularyError(f"{source}: {path}: expected an object with source and words")
    problems: list[str] = []
    if not (isinstance(section.get("source"), str) and section["source"]):
        problems.append(f"{path}.source: the words cite their source")
    words = section.get("words")
    if not isinstance(words, Mapping):
        raise VocabularyError(f"{source}: {path}.words: expected an object of word -> name")
    known: dict[str, str] = {}
    for word, name in words.items():
        if normalize_expression_name(word) != word or not word:
            problems.append(f"{path}.words.{word}: must be lowercase letters, digits and '_'")
        elif word in expressions:
            problems.append(f"{path}.words.{word}: is an expression's own name")
        elif name not in expressions:
            problems.append(f"{path}.words.{word}: {name!r} is not a named expression")
        else:
            known[word] = name
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems[:5]))
    return known


def emotion_rows(expression: Expression, vocabulary: Vocabulary) -> tuple[Code, ...]:
    """Every row of an emotion's EMFACS table that names it, parsed: its prototypes, its major
    variants, then the rows ``variants_omitting_one_of`` writes out (each prototype holding one
    of those AUs, without it, as Table 10-1 says for anger), first occurrence kept.

    Returns
    -------
    tuple of Code
        Prototypes first (``expression.prototypes`` order), then the variants.
    """
    prototypes = [vocabulary.parse(text) for text in expression.prototypes]
    rows = prototypes + [vocabulary.parse(text) for text in expression.variants]
    if expression.variants_omitting_one_of:
        for au in (term.au for term in vocabulary.parse(expression.variants_omitting_one_of)):
            rows.extend(Code(tuple(term for term in prototype if term.au != au))
                        for prototype in prototypes
                        if any(term.au == au for term in prototype) and len(prototype) > 1)
    return tuple(dict.fromkeys(rows))


#: A row's lowest letter per term as a rank (no letter: -1, any intensity), to compare rows.
_FLOOR = {None: -1} | {letter: rank for rank, letter in enumerate(INTENSITY_LETTERS)}


def _holds(row: Mapping[tuple[int, str | None], int],
           smaller: Mapping[tuple[int, str | None], int]) -> bool:
    """Whether every face that shows ``row`` in full shows ``smaller`` too: each of its terms
    ((AU, side) -> lowest letter's rank) is in ``row`` on the same side at a letter at least as
    high."""
    return all(key in row and row[key] >= floor for key, floor in smaller.items())


def _check_companions(expression: Expression, vocabulary: Vocabulary, source: str) -> None:
    """Hold ``companions`` to what they claim of the table's rows (:class:`Expression`): each
    is an AU number found in a row, and every row that holds one also holds a row of the
    emotion without it (so it only adds to a row that names the emotion already). So every row
    keeps a core AU, which must be shown to name the emotion: a row of companions only would
    hold a smaller row of companions only, down to a row of one AU holding no other row."""
    where = f"{source}: {expression.name}: companions"
    if len(set(expression.companions)) < len(expression.companions):
        raise VocabularyError(f"{where}: lists an AU twice")
    rows = [(row, {(term.au, term.side): _FLOOR[term.intensity] for term in row},
             {term.au for term in row}) for row in emotion_rows(expression, vocabulary)]
    for au in expression.companions:
        holding = [(row, terms) for row, terms, aus in rows if au in aus]
        if not holding:
            raise VocabularyError(f"{where}: {au} is in none of its rows")
        without = [terms for _, terms, aus in rows if au not in aus]
        for row, terms in holding:
            if not any(_holds(terms, other) for other in without):
                raise VocabularyError(
                    f"{where}: {au} is needed by the row {format_code(row)} (it holds no row "
                    f"without {au}), so it carries the emotion there")


def normalize_expression_name(name: str) -> str:
    """Lowercase a name and fold ``-`` and spaces into ``_`` (``Duchenne smile`` -> ``duchenne_smile``)."""
    return "_".join(name.strip().lower().replace("-", " ").split())


@dataclass(frozen=True)
class Vocabulary:
    """The FACS codes, intensity scales and named expressions facs-rig knows.

    Build one with :meth:`from_dicts` (validated) or get the bundled one from
    :func:`facs_rig.load_vocabulary`. Parsing and formatting code strings is in
    :mod:`facs_rig.core.notation`; :meth:`parse` and :meth:`format` are shortcuts.
    """

    action_units: Mapping[int, ActionUnit]
    scales: Mapping[str, IntensityScale]
    default_scale: str
    expressions: Mapping[str, Expression] = field(default_factory=dict)
    rules: NotationRules = field(default_factory=NotationRules)
    #: Everyday words -> the expression each suggests (``scared`` -> ``fear``): for "did you
    #: mean", never read as names (expressions.json ``everyday_words`` cites why).
    everyday_words: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dicts(cls, action_units: Mapping[str, Any], intensity_scales: Mapping[str, Any],
                   expressions: Mapping[str, Any] | None = None, *,
                   source: str = "vocabulary") -> Vocabulary:
        """Validate the JSON-shaped FACS data and build a vocabulary.

        Raises
        ------
        VocabularyError
            Naming every problem found, each with its path; also when an expression's code
            does not parse.
        """
        units = _action_units_from_dict(action_units, f"{source} (action units)")
        rules = _rules_from_dict(action_units.get("rules"), units, f"{source} (action units)")
        scales, default = _scales_from_dict(intensity_scales, f"{source} (intensity scales)")
        named = _expressions_from_dict(expressions or {"schema": "facs_rig.expressions/1",
                                                       "expressions": []},
                                       f"{source} (expressions)")
        words = _everyday_words_from_dict(expressions or {}, named, f"{source} (expressions)")
        vocabulary = cls(MappingProxyType(units), MappingProxyType(scales), default,
                         MappingProxyType(named), rules, MappingProxyType(words))
        # Every expression must be a valid code of this very vocabulary.
        for expression in named.values():
            try:
                parse_code(expression.code, vocabulary, allow_names=False)
                for text in (*expression.prototypes, *expression.variants):
                    parse_code(text, vocabulary, allow_names=False)
                omitted = (parse_code(expression.variants_omitting_one_of, vocabulary,
                                      allow_names=False)
                           if expression.variants_omitting_one_of else ())
            except CodeParseError as exc:
                raise VocabularyError(
                    f"{source} (expressions): {expression.name}: {exc}") from None
            # The omission rule names AUs, not sided or graded terms.
            graded = [str(term) for term in omitted if term.side or term.intensity]
            if graded:
                raise VocabularyError(
                    f"{source} (expressions): {expression.name}: variants_omitting_one_of "
                    f"lists AU numbers only, not {'+'.join(graded)}")
            if expression.companions:
                _check_companions(expression, vocabulary, f"{source} (expressions)")
        return vocabulary

    def action_unit(self, code: int) -> ActionUnit:
        """The catalogue entry of a FACS number; raises :class:`VocabularyError` if unknown."""
        try:
            return self.action_units[code]
        except KeyError:
            raise VocabularyError(f"unknown action unit {code}") from None

    def scores_intensity(self, code: int) -> bool:
        """Whether a letter A-E is written for this code (False for AU45, the blink; True for
        codes the vocabulary does not know, whose letters are kept as given)."""
        unit = self.action_units.get(code)
        return unit is None or unit.scores_intensity

    def letter_of(self, au: int, letter: str | None) -> str | None:
        """``letter`` as written for ``au``: None where FACS scores no intensity (AU45, AU46)."""
        return letter if self.scores_intensity(au) else None

    def unlettered_letter(self, au: int, scale: str | None = None) -> str:
        """The letter an AU written without one plays at, on ``scale`` (None: the default).

        The scale's unscored letter (C) for the AUs FACS scores A-E; E for those it scores only
        present (AU45 blink, AU46 wink): a blink or wink closes the eye (FACS 2002 manual,
        AU45 section), and C would leave the lid half open.
        """
        return self.scale(scale).unscored if self.scores_intensity(au) else INTENSITY_LETTERS[-1]

    def term_value(self, term: CodedAU, scale: str | None = None) -> float:
        """The 0-1 value a coded AU drives on ``scale``: its letter's, else its unlettered one.

        >>> from facs_rig import load_vocabulary
        >>> vocabulary = load_vocabulary()
        >>> [vocabulary.term_value(term) for term in vocabulary.parse("5B+12+L46")]
        [0.2, 0.55, 1.0]
        """
        return self.scale(scale).letter_to_value(
            term.intensity or self.unlettered_letter(term.au, scale))

    def scale(self, name: str | None = None) -> IntensityScale:
        """An intensity scale by name (``None``: the default scale)."""
        key = self.default_scale if name is None else name
        try:
            return self.scales[key]
        except KeyError:
            raise VocabularyError(
                f"unknown intensity scale {name!r}; known: {', '.join(sorted(self.scales))}"
            ) from None

    def expression(self, name: str) -> Expression | None:
        """The named expression, matched leniently, or None."""
        return self.expressions.get(normalize_expression_name(name))

    def channel_values(self, code: Code, scale: str | None = None) -> dict[Channel, float]:
        """The 0-1 value each AU channel of a code drives, on ``scale`` (default scale if None).

        Visibility and behaviour codes drive nothing and are left out.

        >>> from facs_rig import load_vocabulary
        >>> vocabulary = load_vocabulary()
        >>> vocabulary.channel_values(vocabulary.parse("R12A+50"))
        {Channel(au=12, side='R'): 0.1}
        """
        intensity_scale = self.scale(scale)
        return {term.channel: self.term_value(term, intensity_scale.name) for term in code
                if self.action_unit(term.au).drives}

    def parse(self, text: str) -> Code:
        """Parse a FACS code string or expression name; see :func:`facs_rig.core.notation.parse_code`."""
        return parse_code(text, self)

    def format(self, code: Code) -> str:
        """Canonical string of a parsed code; see :func:`facs_rig.core.notation.format_code`."""
        return format_code(code)
