"""The FACS code notation: parsing, formatting, round trips and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig import Code, CodedAU, format_code, load_vocabulary, parse
from facs_rig.core.channels import Channel, parse_channel, sort_channels
from facs_rig.errors import CodeParseError, FacsRigError

VOCABULARY = load_vocabulary()


@pytest.mark.parametrize(("text", "canonical"), [
    ("1+2+5B+26", "1+2+5B+26"),
    ("AU6C+AU12D", "6C+12D"),
    ("R12A+L14", "R12A+L14"),
    ("6 + 12E", "6+12E"),
    ("au4", "4"),
    ("26+1+2+5b", "1+2+5B+26"),
    ("r12a + R14A", "R12A+R14A"),
    ("L12+R12B", "L12+R12B"),
    ("12D+12D", "12D"),
    ("0", "0"),
    ("0+12", "12"),
    ("50+12C", "12C+50"),
    ("AU06C + AU12D", "6C+12D"),
])
def test_canonical_form(text, canonical):
    assert format_code(parse(text)) == canonical


def test_parsed_terms():
    code = parse("R12A+L14+5B")
    assert code.aus == (CodedAU(5, None, "B"), CodedAU(12, "R", "A"), CodedAU(14, "L", None))


@pytest.mark.parametrize(("text", "canonical"), [
    ("happiness", "6+12"),
    ("Surprise+25", "1+2+5B+25+26"),
    ("happiness+12E", "6+12E"),          # an explicit term replaces the expression's AU12
    ("happiness + sadness", "1+4+6+12+15"),
    ("duchenne smile", "6+12"),
    ("wink-left", "L46"),
    ("neutral", "0"),
    ("contempt+L12A", "L12A+R14C"),      # explicit AU12 replaces every side of the expression's
    # Overlapping expressions: the stronger wins, an unlettered AU counting as C (0.55), so
    # fear's AU5 beats surprise's 5B (0.20) whichever comes first.
    ("fear+surprise", "1+2+4+5+7+20+26"),
    ("surprise+fear", "1+2+4+5+7+20+26"),
    ("embarrassment+polite_smile", "12C+24+54+64"),
])
def test_names_are_accepted_wherever_codes_are(text, canonical):
    assert format_code(parse(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    ("1+3", "unknown action unit 3 at column 3 of '1+3'"),
    ("1+2+3B", "unknown action unit 3 at column 5 of '1+2+3B'"),
    ("12F", "intensity letter 'F' is outside A-E at column 3 of '12F'"),
    ("6+ 12T", "intensity letter 'T' is outside A-E at column 6 of '6+ 12T'"),
    ("R26", "AU26 (Jaw Drop) cannot be unilateral: 'R26' at column 1 of 'R26'"),
    ("12C+12D", "AU12 appears twice with different intensities: '12C' at column 1 and '12D' at column 5"),
    ("12+R12", "AU12 is coded both bilaterally and on one side"),
    ("1++2", "empty term at column 3 of '1++2'"),
    ("1+2+", "empty term at column 5 of '1+2+'"),
    ("smile!", "unrecognised term 'smile!' at column 1 of 'smile!'"),
    ("", "empty FACS code"),
    ("   ", "empty FACS code"),
    ("R51", "AU51 (Head Turn Left) cannot be unilateral"),
])
def test_errors_name_token_and_column(text, message):
    with pytest.raises(CodeParseError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_error_carries_column():
    with pytest.raises(CodeParseError) as caught:
        parse("1+3")
    assert (caught.value.column, caught.value.text) == (3, "1+3")


def test_error_is_a_value_error_and_the_root_error():
    with pytest.raises(ValueError):
        parse("1+3")
    with pytest.raises(FacsRigError):
        parse("1+3")


def test_non_string_input():
    with pytest.raises(CodeParseError, match="must be a string"):
        VOCABULARY.parse(12)  # type: ignore[arg-type]


# ---------------------------------------------------------------- property tests

_units = sorted(VOCABULARY.action_units.values(), key=lambda unit: unit.code)


@st.composite
def codes(draw) -> Code:
    """Any valid code: distinct (AU, side) keys, no AU both bilateral and sided."""
    chosen = draw(st.lists(st.sampled_from(_units), unique_by=lambda u: u.code, max_size=8))
    terms = []
    for unit in chosen:
        letter = draw(st.sampled_from([None, "A", "B", "C", "D", "E"]))
        if unit.unilateral and draw(st.booleans()):
            for side in draw(st.sampled_from([("L",), ("R",), ("L", "R")])):
                terms.append(CodedAU(unit.code, side, draw(st.sampled_from([None, "A", "E"]))))
        else:
            terms.append(CodedAU(unit.code, None, letter))
    order = {None: 0, "L": 1, "R": 2}
    return Code(tuple(sorted(terms, key=lambda t: (t.au, order[t.side]))))


@given(codes())
def test_parse_of_format_is_identity(code):
    assert VOCABULARY.parse(format_code(code)) == code


@given(codes(), st.data())
def test_spelling_variants_parse_to_the_same_code(code, data):
    spelled = []
    for term in code:
        prefix = data.draw(st.sampled_from(["", "AU", "au", "Au"]))
        side = (term.side or "")
        side = data.draw(st.sampled_from([side, side.lower()]))
        letter = term.intensity or ""
        letter = data.draw(st.sampled_from([letter, letter.lower()]))
        spelled.append(f"{side}{prefix}{term.au}{letter}")
    shuffled = data.draw(st.permutations(spelled))
    separator = data.draw(st.sampled_from(["+", " + ", "+ ", " +"]))
    text = separator.join(shuffled) if shuffled else "0"
    assert VOCABULARY.parse(text) == code


@given(st.text(max_size=40))
@settings(max_examples=500)
def test_any_string_parses_or_raises_our_error(text):
    try:
        code = VOCABULARY.parse(text)
    except CodeParseError:
        return
    assert VOCABULARY.parse(format_code(code)) == code


@given(st.text(alphabet="0123456789ABCDELRUTau+ ", max_size=30))
@settings(max_examples=500)
def test_code_like_strings_parse_or_raise_our_error(text):
    try:
        code = VOCABULARY.parse(text)
    except CodeParseError as error:
        assert 0 <= error.column <= len(text) + 1
        return
    canonical = format_code(code)
    assert format_code(VOCABULARY.parse(canonical)) == canonical


# ---------------------------------------------------------------- channels

@pytest.mark.parametrize(("text", "channel"), [
    ("AU12", Channel(12)), ("AU12_L", Channel(12, "L")), ("au01", Channel(1)),
    ("AU12R", Channel(12, "R")), ("R AU12", Channel(12, "R")), ("AU 6", Channel(6)),
])
def test_parse_channel(text, channel):
    assert parse_channel(text) == channel


@pytest.mark.parametrize("text", ["AU", "12", "LAU12_R", "AU12_X", "mouthSmileLeft", ""])
def test_parse_channel_rejects(text):
    assert parse_channel(text) is None


def test_channel_names_and_order():
    channels = [Channel(12, "R"), Channel(1), Channel(12), Channel(12, "L"), Channel(1)]
    assert [c.name for c in sort_channels(channels)] == ["AU01", "AU12", "AU12_L", "AU12_R"]


@given(st.integers(0, 999), st.sampled_from([None, "L", "R"]))
def test_channel_name_round_trip(au, side):
    assert parse_channel(Channel(au, side).name) == Channel(au, side)


def test_channel_values_on_default_scale():
    values = VOCABULARY.channel_values(parse("1+5B+R12A+50"))
    assert values == {Channel(1): pytest.approx(0.55), Channel(5): pytest.approx(0.2),
                      Channel(12, "R"): pytest.approx(0.1)}


def test_channel_values_on_another_scale():
    values = VOCABULARY.channel_values(parse("12A"), scale="hapfacs")
    assert values == {Channel(12): pytest.approx(0.15)}
