"""FACS code notation: parse and format strings such as ``1+2+5B+26`` or ``R12A+R14A``.

Grammar (FACS 2002 conventions, see ``docs/notation.md``)::

    code   := term ('+' term)*          whitespace around terms is ignored
    term   := [side] ['AU'] number [letter] | expression-name | '0'
    side   := 'L' | 'R'                 the subject's own left or right; no side = bilateral
    letter := 'A' .. 'E'                trace, slight, marked, severe, maximum; none = not scored

Case is ignored (``au4``, ``r12a``). The canonical form lists AUs in ascending order, bilateral
before left before right, with no ``AU`` prefix and no spaces: ``format_code(parse_code(s))``.
``0`` is FACS's neutral face, the empty code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facs_rig.core.channels import Channel
from facs_rig.errors import CodeParseError

if TYPE_CHECKING:
    from facs_rig.core.vocabulary import Alternative, IntensityScale, Vocabulary

__all__ = ["CodedAU", "Code", "parse_code", "format_code", "combination_problem",
           "combination_rule", "names_expression"]

# Fullmatched on a stripped term: one run of digits between literals, so matching is linear.
_TERM = re.compile(r"(?P<side>[LR])?(?P<prefix>AU)?(?P<number>\d+)(?P<letter>[A-Z])?", re.IGNORECASE)
#: Most significant digits an AU number is read with. FACS numbers have at most two digits; a
#: longer number is no AU, and ``int()`` of over 4,300 digits raises ValueError (CPython's
#: integer string conversion limit), so a longer one is refused before it is converted.
_MAX_AU_DIGITS = 6
_SIDE_ORDER = {None: 0, "L": 1, "R": 2}
_LETTER_RANK = {None: 0, "A": 1, "B": 2, "C": 3, "D": 4, "E": 5}


@dataclass(frozen=True, slots=True)
class CodedAU:
    """One AU as coded: number, optional side and optional intensity letter.

    Attributes
    ----------
    au : int
        FACS number.
    side : {None, 'L', 'R'}
        The subject's own side; None is bilateral.
    intensity : {None, 'A', 'B', 'C', 'D', 'E'}
        Intensity letter; None when not scored.
    """

    au: int
    side: str | None = None
    intensity: str | None = None

    def __str__(self) -> str:
        return f"{self.side or ''}{self.au}{self.intensity or ''}"

    @property
    def channel(self) -> Channel:
        """The AU channel this term drives."""
        return Channel(self.au, self.side)

    def value(self, scale: IntensityScale) -> float:
        """The 0-1 intensity of this term on ``scale`` (unscored terms take the scale's default).

        Blind to the AU: :meth:`Vocabulary.term_value` is what plays, where an unlettered blink
        or wink (AU45, AU46) closes the eye (E) instead.
        """
        return scale.letter_to_value(self.intensity)


@dataclass(frozen=True, slots=True)
class Code:
    """A parsed FACS code: AU terms in canonical order (see :func:`format_code`)."""

    aus: tuple[CodedAU, ...] = ()

    def __str__(self) -> str:
        return format_code(self)

    def __iter__(self) -> Iterator[CodedAU]:
        return iter(self.aus)

    def __len__(self) -> int:
        return len(self.aus)


def format_code(code: Code) -> str:
    """Canonical string of a code: ascending AUs joined by ``+``; ``0`` for the neutral face."""
    if not code.aus:
        return "0"
    return "+".join(str(term) for term in code.aus)


def _canonical(terms: dict[tuple[int, str | None], CodedAU]) -> Code:
    ordered = sorted(terms.values(), key=lambda t: (t.au, _SIDE_ORDER[t.side]))
    return Code(tuple(ordered))


def _split_terms(text: str) -> Iterator[tuple[str, int]]:
    """Yield each '+'-separated term, stripped, with its 1-based column in ``text``."""
    start = 0
    for piece in text.split("+"):
        stripped = piece.strip()
        leading = len(piece) - len(piece.lstrip())
        yield stripped, start + leading + 1
        start += len(piece) + 1


#: Longest code quoted whole in an error message; longer ones are quoted around the column.
_QUOTE_LIMIT = 120


def _where(text: str, column: int) -> str:
    """``at column N of '...'`` for an error message, built only when an error is raised.

    (Formatting it for every term made parsing quadratic: 10,000 terms took seconds.) A long
    code is quoted as an excerpt around the column, so the message stays one readable line.
    """
    if len(text) <= _QUOTE_LIMIT:
        return f"at column {column} of {text!r}"
    first = max(0, column - 1 - _QUOTE_LIMIT // 2)
    excerpt = text[first:first + _QUOTE_LIMIT]
    return (f"at column {column} of the {len(text)}-character code "
            f"{'...' if first else ''}{excerpt!r}{'...' if first + _QUOTE_LIMIT < len(text) else ''}")


def _excerpt(token: str) -> str:
    """A token for a message: whole when short, else its start and its length."""
    return token if len(token) <= 20 else f"{token[:20]}..."


def _strength(term: CodedAU, vocabulary: Vocabulary) -> int:
    """Rank of a term's intensity; an unlettered AU plays at the default scale's unscored letter
    (C), or at E where FACS scores it only present (a blink or wink closes the eye)."""
    return _LETTER_RANK[term.intensity or vocabulary.unlettered_letter(term.au)]


def _did_you_mean(token: str, vocabulary: Vocabulary) -> str:
    """``"did you mean 'happiness'?"`` for a misspelled expression name (difflib), else ``""``."""
    from difflib import get_close_matches

    from facs_rig.core.vocabulary import normalize_expression_name

    if len(token) > 64:  # no name is that long; spare the comparison on hostile input
        return ""
    name = normalize_expression_name(token)
    if name in vocabulary.everyday_words:  # a word for one ('scared'), not a misspelling
        return f"did you mean {vocabulary.everyday_words[name]!r}?"
    close = get_close_matches(name, list(vocabulary.expressions), n=1, cutoff=0.75)
    if not close and len(name) >= 3:
        # A word form rather than a misspelling ('happy', 'sad', 'smile', 'wink'): a name that
        # starts with its first four letters, or one with it as a part (duchenne_smile).
        close = [known for known in vocabulary.expressions
                 if known.startswith(name[:4]) or name in known.split("_")][:2]
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(known) for known in close) + "?"


def names_expression(text: str, vocabulary: Vocabulary) -> bool:
    """Whether a code string names an expression among its terms (``surprise``,
    ``surprise + 25``), rather than only AUs (``1+2+5B+26``): the words behind the AUs, which
    timelines keep (:attr:`facs_rig.core.timeline.AUEvent.expression`)."""
    return any(_TERM.fullmatch(token) is None and vocabulary.expression(token) is not None
               for token, _ in _split_terms(text))


def parse_code(text: str, vocabulary: Vocabulary, *, allow_names: bool = True) -> Code:
    """Parse a FACS code string or named expression into a canonical :class:`Code`.

    Parameters
    ----------
    text : str
        For example ``1+2+5B+26``, ``AU6C+AU12D``, ``R12A+L14``, ``6 + 12E``, ``au4``,
        ``surprise+25``.
    vocabulary : Vocabulary
        The codes, expression names and combination rules (``vocabulary.rules``) to apply.
    allow_names : bool
        Accept named expressions as terms.

    Returns
    -------
    Code
        Terms sorted by AU, then bilateral, left, right. A term written explicitly replaces what
        a named expression in the same string says about that AU on the sides the term names
        (``happiness+12E`` is ``6+12E``; ``happiness+L12E`` is ``6+L12E+R12``: the right corner
        keeps the expression's 12; ``contempt+L12`` is ``L12+R12C+R14C``), and the expression's
        FACS alternatives of it (``surprise+27`` is ``1+2+5B+27``: 27 replaces surprise's 26);
        where two expressions overlap the stronger intensity wins, side by side.

    Raises
    ------
    CodeParseError
        Naming the token and its 1-based column: an unknown AU, an intensity letter outside
        A-E (or a side written after the AU, ``12L``), a letter on a code FACS scores only
        present (visibility and behaviour codes), a side on an AU that cannot be unilateral, an
        unsided AU that needs one (46), the same AU twice with different intensities, an AU
        coded both bilaterally and on one side, ``0`` with another AU, two FACS alternatives
        (``51+52``), an AU in a region a visibility code says is not visible (``70+1``), or an
        unrecognised term.
    """
    if not isinstance(text, str):
        raise CodeParseError(f"a FACS code must be a string, not {type(text).__name__}")
    if not text.strip():
        raise CodeParseError("empty FACS code (write 0 for the neutral face)", text=text)
    rules = vocabulary.rules
    explicit: dict[tuple[int, str | None], tuple[CodedAU, int]] = {}
    # Terms from expression names, with the column of the name that brought them.
    from_names: dict[tuple[int, str | None], tuple[CodedAU, int]] = {}
    neutral_column: int | None = None
    for token, column in _split_terms(text):
        if not token:
            raise CodeParseError(f"empty term {_where(text, column)}", text=text, column=column)
        match = _TERM.fullmatch(token)
        if match is None:
            expression = vocabulary.expression(token) if allow_names else None
            if expression is None:
                raise CodeParseError(
                    f"unrecognised term {_excerpt(token)!r} {_where(text, column)}: "
                    + ((allow_names and _did_you_mean(token, vocabulary))
                       or "expected an AU such as 12, R12A or AU6C, or an expression name such as "
                          "happiness"), text=text, column=column)
            named = parse_code(expression.code, vocabulary, allow_names=False)
            if not named.aus and neutral_column is None:
                neutral_column = column  # 'neutral' is the code 0
            for term in named:
                _merge_stronger(from_names, term, column, vocabulary)
            continue
        digits = match["number"].lstrip("0") or "0"
        if len(digits) > _MAX_AU_DIGITS:
            raise CodeParseError(f"unknown action unit {_excerpt(digits)} ({len(digits)} digits) "
                                 f"{_where(text, column)}", text=text, column=column)
        number = int(digits)
        side = match["side"].upper() if match["side"] else None
        letter = match["letter"].upper() if match["letter"] else None
        if number == 0 and side is None and letter is None:
            # FACS code 0: neutral face, adds nothing (and takes nothing: checked below).
            if neutral_column is None:
                neutral_column = column
            continue
        unit = vocabulary.action_units.get(number)
        if unit is None:
            raise CodeParseError(f"unknown action unit {number} {_where(text, column)}",
                                 text=text, column=column)
        if letter is not None and letter not in _LETTER_RANK:
            letter_column = column + len(token) - 1
            if letter in _SIDE_ORDER:
                # '12L': a coder's side written after the number, as some tools print it.
                raise CodeParseError(
                    f"{_excerpt(token)!r}: the side goes before the AU: {letter}{number} "
                    f"{_where(text, letter_column)}", text=text, column=letter_column)
            raise CodeParseError(
                f"intensity letter {letter!r} is outside A-E {_where(text, letter_column)}",
                text=text, column=letter_column)
        if letter is not None and unit.kind in rules.letterless_kinds:
            letter_column = column + len(token) - 1
            raise CodeParseError(
                f"{_excerpt(token)!r}: AU{number} ({unit.name}) is a {unit.kind} code, scored "
                f"present without an intensity letter ({rules.letterless_source}): write "
                f"{number} {_where(text, letter_column)}", text=text, column=letter_column)
        if side is not None and not unit.unilateral:
            raise CodeParseError(
                f"AU{number} ({unit.name}) cannot be unilateral: {_excerpt(token)!r} {_where(text, column)}",
                text=text, column=column)
        if side is None and number in rules.needs_side:
            raise CodeParseError(f"{_excerpt(token)} is {rules.needs_side[number]} "
                                 f"{_where(text, column)}", text=text, column=column)
        term = CodedAU(number, side, letter)
        key = (number, side)
        if key in explicit:
            earlier, earlier_column = explicit[key]
            if earlier.intensity != letter:
                raise CodeParseError(
                    f"AU{number} appears twice with different intensities: {str(earlier)!r} at "
                    f"column {earlier_column} and {_excerpt(token)!r} {_where(text, column)}",
                    text=text, column=column)
            continue
        for other_side in (None, "L", "R"):
            clash = explicit.get((number, other_side))
            if clash is not None and (other_side is None) != (side is None):
                raise CodeParseError(
                    f"AU{number} is coded both bilaterally and on one side: {str(clash[0])!r} at "
                    f"column {clash[1]} and {_excerpt(token)!r} {_where(text, column)}",
                    text=text, column=column)
        explicit[key] = (term, column)
    merged = _override(from_names, explicit, vocabulary)
    if neutral_column is not None and merged:
        other, other_column = min(merged.values(), key=lambda item: item[1])
        raise CodeParseError(
            f"0 is the neutral face: it takes no other AU, yet {str(other)!r} is coded "
            f"{_where(text, other_column)}", text=text, column=other_column)
    _check_combinations(text, merged, vocabulary)
    return _canonical({key: term for key, (term, _) in merged.items()})


_Placed = dict[tuple[int, str | None], tuple[CodedAU, int]]


def _merge_stronger(terms: _Placed, term: CodedAU, column: int, vocabulary: Vocabulary) -> None:
    """Add an expression's term to ``terms``: where two expressions give the same AU, the
    stronger wins side by side (a bilateral term is both sides: ``contempt+happiness`` keeps
    happiness's 12 on the left and the stronger of the two on the right)."""
    same = {side: terms[(term.au, side)] for side in (None, "L", "R") if (term.au, side) in terms}
    if not same:
        terms[(term.au, term.side)] = (term, column)
        return
    by_side: dict[str, tuple[CodedAU, int]] = {}
    for side, placed in [*same.items(), (term.side, (term, column))]:
        for one in ((side,) if side else ("L", "R")):
            held = by_side.get(one)
            candidate = (CodedAU(term.au, one, placed[0].intensity), placed[1])
            if held is None or _strength(candidate[0], vocabulary) > _strength(held[0], vocabulary):
                by_side[one] = candidate
    for side in same:
        del terms[(term.au, side)]
    _join_sides(terms, term.au, by_side, vocabulary)


def _join_sides(terms: _Placed, au: int, by_side: dict[str, tuple[CodedAU, int]],
                vocabulary: Vocabulary) -> None:
    """Store an AU's per-side terms: as one bilateral term when both sides say the same (not
    for an AU FACS codes on one side only: two winks stay ``L46+R46``)."""
    left, right = by_side.get("L"), by_side.get("R")
    if (left and right and left[0].intensity == right[0].intensity
            and au not in vocabulary.rules.needs_side):
        terms[(au, None)] = (CodedAU(au, None, left[0].intensity), min(left[1], right[1]))
    else:
        terms.update(((au, side), placed) for side, placed in by_side.items())


def _overlap(a: str | None, b: str | None) -> bool:
    """Whether two sides share a side of the face (a bilateral term has both)."""
    return a is None or b is None or a == b


def _override(from_names: _Placed, explicit: _Placed, vocabulary: Vocabulary) -> _Placed:
    """The expressions' terms overridden by the explicit ones, side by side.

    An explicit term replaces what the expressions say about its AU on its sides (a bilateral
    term: both), and the expressions' terms that are a FACS alternative of it on those sides
    (``surprise+27``: 27 replaces 26). The other side of a bilateral expression term keeps its
    value: ``happiness+L12E`` is ``6+L12E+R12``, ``eyes_closed+L45`` is ``R43E+L45``.
    """
    merged: _Placed = {}
    for (au, side), (term, column) in from_names.items():
        replacing = [t for t, _ in explicit.values()
                     if t.au == au or any(rule.matches(t, CodedAU(term.au, None, term.intensity))
                                          for rule in vocabulary.rules.by_pair.get(
                                              (min(t.au, au), max(t.au, au)), ()))]
        sides = ("L", "R") if side is None else (side,)
        kept = [one for one in sides if not any(_overlap(t.side, one) for t in replacing)]
        if len(kept) == len(sides):
            merged[(au, side)] = (term, column)
        else:
            merged.update(((au, one), (CodedAU(au, one, term.intensity), column)) for one in kept)
    merged.update(explicit)
    return merged


def combination_problem(a: CodedAU, b: CodedAU, vocabulary: Vocabulary) -> str | None:
    """Why FACS does not score terms ``a`` and ``b`` in one code, or None when it does.

    ``"51+52: the head cannot turn left and right at once (FACS 2002, Table 9-1)"``: a FACS
    alternative (``vocabulary.rules.alternatives``) on a shared side, or an AU of a region a
    visibility code says is not visible (``vocabulary.rules.hides``).
    """
    found = combination_rule(a, b, vocabulary)
    return found[0] if found is not None else None


def combination_rule(a: CodedAU, b: CodedAU, vocabulary: Vocabulary
                     ) -> tuple[str, Alternative | None] | None:
    """:func:`combination_problem`'s message with the alternative that gives it (None for a
    visibility rule), or None when FACS scores ``a`` and ``b`` together. A timeline's overlap
    check names the rule as the data writes it."""
    rules = vocabulary.rules
    for rule in rules.by_pair.get((min(a.au, b.au), max(a.au, b.au)), ()):
        if rule.matches(a, b):
            first, second = sorted((a, b), key=lambda t: t.au)
            return f"{first}+{second}: {rule.reason} ({rule.source})", rule
    for hider, hidden in ((a, b), (b, a)):
        regions = rules.hides.get(hider.au)
        unit = vocabulary.action_units.get(hidden.au)
        if regions and unit is not None and unit.drives and unit.region in regions:
            hiding = vocabulary.action_units[hider.au]
            return (f"{hider}+{hidden}: {hiding.name.lower()} ({hider.au}), yet AU{hidden.au} "
                    f"({unit.name}) is scored ({rules.hides_source[hider.au]})"), None
    return None


def _check_combinations(text: str, terms: _Placed, vocabulary: Vocabulary) -> None:
    """Refuse two terms FACS never scores in one code (:func:`combination_problem`).

    Raises
    ------
    CodeParseError
        At the later of the two terms' columns, naming both and the rule's source.
    """
    placed = sorted(terms.values(), key=lambda item: (item[1], item[0].au))
    for index, (later, later_column) in enumerate(placed):
        for earlier, _ in placed[:index]:
            problem = combination_problem(earlier, later, vocabulary)
            if problem:
                raise CodeParseError(f"{problem} {_where(text, later_column)}",
                                     text=text, column=later_column)
