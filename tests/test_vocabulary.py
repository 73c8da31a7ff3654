"""The FACS catalogue, intensity scales and named expressions as data."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from facs_rig import load_vocabulary
from facs_rig.core.vocabulary import INTENSITY_LETTERS, KINDS, REGIONS, Vocabulary
from facs_rig.errors import CodeParseError, VocabularyError
from facs_rig.resources import read_bundled_json

# FACS 2002 codes the Foundation issue lists, by kind.
ACTION_UNITS = [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                25, 26, 27, 28, 38, 39, 41, 42, 43, 44, 45, 46]
DESCRIPTORS = list(range(29, 38))
HEAD = list(range(51, 59))
EYES = [61, 62, 63, 64, 65, 66, 69]
VISIBILITY = [70, 71, 72, 73, 74]
BEHAVIOUR = [40, 50, 80, 81, 82, 84, 85, 91, 92, 97, 98]


def test_catalogue_has_every_facs_2002_code(vocabulary):
    expected = set(ACTION_UNITS + DESCRIPTORS + HEAD + EYES + VISIBILITY + BEHAVIOUR)
    assert set(vocabulary.action_units) == expected


@pytest.mark.parametrize(("codes", "kind"), [
    (ACTION_UNITS, "action_unit"), (DESCRIPTORS, "action_descriptor"), (HEAD, "head"),
    (EYES, "eye"), (VISIBILITY, "visibility"), (BEHAVIOUR, "behaviour")])
def test_kinds(vocabulary, codes, kind):
    assert {vocabulary.action_unit(code).kind for code in codes} == {kind}


def test_every_entry_is_well_formed(vocabulary):
    for code, unit in vocabulary.action_units.items():
        assert unit.code == code
        assert unit.name and unit.name[0].isupper()
        assert unit.kind in KINDS
        assert unit.region is None or unit.region in REGIONS
        assert isinstance(unit.unilateral, bool)
        assert all(isinstance(m, str) and m for m in unit.muscles)
        # Head and eye positions carry their direction in the number, never a side.
        if unit.kind in ("head", "eye", "visibility", "behaviour"):
            assert not unit.unilateral


@pytest.mark.parametrize(("code", "name", "region", "muscle"), [
    (1, "Inner Brow Raiser", "brows", "frontalis, pars medialis"),
    (4, "Brow Lowerer", "brows", "corrugator supercilii"),
    (6, "Cheek Raiser", "cheeks", "orbicularis oculi, pars orbitalis"),
    (12, "Lip Corner Puller", "mouth", "zygomaticus major"),
    (26, "Jaw Drop", "jaw", None),
    (45, "Blink", "eyes", None),
    (51, "Head Turn Left", "head", None),
    (61, "Eyes Turn Left", "gaze", None),
])
def test_known_facts(vocabulary, code, name, region, muscle):
    unit = vocabulary.action_unit(code)
    assert (unit.name, unit.region) == (name, region)
    if muscle:
        assert muscle in unit.muscles


def test_only_face_head_and_eye_codes_drive(vocabulary):
    assert vocabulary.action_unit(12).drives and vocabulary.action_unit(51).drives
    assert not vocabulary.action_unit(50).drives and not vocabulary.action_unit(73).drives


def test_unknown_code_raises(vocabulary):
    with pytest.raises(VocabularyError, match="unknown action unit 3"):
        vocabulary.action_unit(3)


@pytest.mark.parametrize(("scale", "values"), [
    ("facshuman", [0.10, 0.20, 0.55, 0.90, 1.0]),
    ("hapfacs", [0.15, 0.30, 0.55, 0.85, 1.0]),
    ("openface", [0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_letter_to_value(vocabulary, scale, values):
    got = [vocabulary.scale(scale).letter_to_value(letter) for letter in INTENSITY_LETTERS]
    assert got == pytest.approx(values)


def test_openface_raw_scale(vocabulary):
    openface = vocabulary.scale("openface")
    assert openface.letter_to_value("C", normalized=False) == 3.0
    assert openface.value_to_letter(2.4, normalized=False) == "B"
    assert openface.value_to_letter(0.4, normalized=False) is None


@pytest.mark.parametrize(("value", "letter"), [
    (0.0, None), (0.03, None), (0.031, "A"), (0.10, "A"), (0.1001, "B"), (0.2, "B"),
    (0.21, "C"), (0.55, "C"), (0.56, "D"), (0.9, "D"), (0.95, "E"), (1.0, "E"), (1.5, "E")])
def test_facshuman_bands(vocabulary, value, letter):
    assert vocabulary.scale("facshuman").value_to_letter(value) == letter


@pytest.mark.parametrize("scale", ["facshuman", "hapfacs", "openface"])
def test_letters_round_trip_through_values(vocabulary, scale):
    intensity = vocabulary.scale(scale)
    for letter in INTENSITY_LETTERS:
        assert intensity.value_to_letter(intensity.letter_to_value(letter)) == letter


def test_default_scale_is_facshuman(vocabulary):
    assert vocabulary.scale().name == "facshuman"
    assert vocabulary.scale().letter_to_value(None) == pytest.approx(0.55)


def test_unknown_scale(vocabulary):
    with pytest.raises(VocabularyError, match="unknown intensity scale 'nope'"):
        vocabulary.scale("nope")


@pytest.mark.parametrize(("name", "code"), [
    ("happiness", "6+12"), ("sadness", "1+4+15"), ("surprise", "1+2+5B+25+26"),
    ("fear", "1+2+4+5+7+20+25+26"), ("anger", "4+5+7+23"), ("disgust", "9+15+16"),
    ("contempt", "R12C+R14C")])
def test_emfacs_prototypes(vocabulary, name, code):
    assert str(vocabulary.parse(name)) == code
    assert vocabulary.expression(name).source


def test_contempt_plays_a_visible_smirk_and_keeps_its_emfacs_trace_as_prototype(vocabulary):
    """EMFACS contempt, R12A+R14A, drives 0.10: a neutral face on screen. The name plays it at
    C (0.55, one side only); the EMFACS code stays the prototype that names captured faces."""
    values = vocabulary.channel_values(vocabulary.parse("contempt"))
    assert {channel.name: value for channel, value in values.items()} == {
        "AU12_R": 0.55, "AU14_R": 0.55}
    contempt = vocabulary.expression("contempt")
    assert contempt.prototypes[0] == "R12A+R14A" and "R12A+R14A" in contempt.source


def test_every_expression_parses_and_cites_a_source(vocabulary):
    for expression in vocabulary.expressions.values():
        vocabulary.parse(expression.code)
        assert len(expression.source) > 10


def _bundled():
    return [read_bundled_json(name) for name in
            ("action_units.json", "intensity_scales.json", "expressions.json")]


def test_validator_reports_every_problem_with_its_path():
    units, scales, expressions = _bundled()
    units = copy.deepcopy(units)
    units["codes"][0]["kind"] = "muscle"
    units["codes"][1]["region"] = "forehead"
    with pytest.raises(VocabularyError) as caught:
        Vocabulary.from_dicts(units, scales, expressions)
    message = str(caught.value)
    assert "codes[0].kind: 'muscle' is not one of" in message
    assert "codes[1].region: 'forehead' is not one of" in message


def test_validator_rejects_non_monotonic_scale():
    units, scales, expressions = _bundled()
    scales = copy.deepcopy(scales)
    scales["scales"]["hapfacs"]["values"]["B"] = 0.9
    with pytest.raises(VocabularyError, match="scales.hapfacs.values: must increase"):
        Vocabulary.from_dicts(units, scales, expressions)


def test_validator_rejects_expression_with_bad_code():
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    expressions["expressions"].append({"name": "broken", "code": "1+3", "source": "a test case"})
    with pytest.raises(VocabularyError, match="broken: unknown action unit 3 at column 3"):
        Vocabulary.from_dicts(units, scales, expressions)


@pytest.mark.parametrize(("words", "problem"), [
    ({"fear": "fear"}, "everyday_words.words.fear: is an expression's own name"),
    ({"scared": "terror"}, "everyday_words.words.scared: 'terror' is not a named expression"),
    ({"Forced smile": "polite_smile"},
     "everyday_words.words.Forced smile: must be lowercase letters, digits and '_'"),
])
def test_validator_checks_everyday_words(words, problem):
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    expressions["everyday_words"]["words"] = words
    with pytest.raises(VocabularyError) as caught:
        Vocabulary.from_dicts(units, scales, expressions)
    assert str(caught.value) == f"vocabulary (expressions): {problem}"


def test_everyday_words_suggest_and_are_never_read_as_names():
    vocabulary = load_vocabulary()
    assert vocabulary.everyday_words["scared"] == "fear"
    assert set(vocabulary.everyday_words.values()) <= set(vocabulary.expressions)
    with pytest.raises(CodeParseError, match="did you mean 'fear'"):
        vocabulary.parse("scared")
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    del expressions["everyday_words"]["source"]
    with pytest.raises(VocabularyError, match="everyday_words.source: the words cite their source"):
        Vocabulary.from_dicts(units, scales, expressions)


def test_data_files_cite_sources():
    for data in _bundled():
        assert data.get("sources") or data.get("notes") or data.get("scales")
    scales = _bundled()[1]["scales"]
    assert all(len(scale["source"]) > 20 for scale in scales.values())


def test_bundled_vocabulary_is_cached():
    assert load_vocabulary() is load_vocabulary()


def test_data_files_are_valid_json_on_disk():
    folder = Path(__file__).resolve().parents[1] / "facs_rig" / "data"
    for path in folder.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_emotions_carry_the_emfacs_table(vocabulary):
    # The FACS Investigator's Guide's emotion prediction table (Ekman, Friesen & Hager 2002,
    # Table 10-1): disgust is 9 and/or 10; 27 stands for 26 in surprise; anger's variants are
    # its prototypes without one of 4, 5, 7, 10; happiness is 6+12 or 12C/D.
    assert vocabulary.expression("disgust").prototypes == (
        "9", "9+15+16", "9+16+26", "9+17", "10", "10+16+25", "10+16+26", "10+17")
    assert vocabulary.expression("surprise").prototypes == ("1+2+5B+26", "1+2+5B+27")
    assert vocabulary.expression("surprise").variants == (
        "1+2+5B", "1+2+26", "1+2+27", "5B+26", "5B+27")
    assert vocabulary.expression("anger").variants_omitting_one_of == "4+5+7+10"
    assert vocabulary.expression("happiness").prototypes == ("6+12", "12C")
    assert vocabulary.expression("contempt").prototypes == ("R12A+R14A", "L12A+L14A")
    # Pain is in no EMFACS row: its prototypes are the core pain expression, each of the four
    # PSPI terms present (Prkachin & Solomon 2008: AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43).
    assert vocabulary.expression("pain").prototypes == (
        "4+6+9+43", "4+6+10+43", "4+7+9+43", "4+7+10+43")
    assert vocabulary.expression("pain").variants == ()
    assert vocabulary.expression("pain").variants_omitting_one_of is None
    # The PSPI scores each action's intensity with no side: pain's terms on either side; the
    # table's unsided terms are bilateral actions.
    assert vocabulary.expression("pain").either_side is True
    assert not any(vocabulary.expression(name).either_side for name in (
        "happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt"))
    assert "Prkachin & Solomon (2008)" in vocabulary.expression("pain").source or \
        "Prkachin, K. M. & Solomon, P. E. (2008)" in vocabulary.expression("pain").source
    for name in ("happiness", "sadness", "surprise", "fear", "anger", "disgust", "contempt"):
        assert "Table 10-1" in vocabulary.expression(name).source or name == "contempt"
    # Companions: the AUs the table adds to a row that is a row without them (disgust is 9
    # and/or 10; 15, 16, 17, 25, 26 come only beside them). Only the rest of a row weighs.
    assert vocabulary.expression("disgust").companions == (15, 16, 17, 25, 26)
    assert vocabulary.expression("anger").companions == (10, 17, 22, 25, 26)
    assert vocabulary.expression("fear").companions == (25, 26, 27)
    assert all(vocabulary.expression(name).companions == () for name in (
        "happiness", "sadness", "surprise", "contempt", "pain"))
    assert "Companions: 15, 16, 17, 25 and 26" in vocabulary.expression("disgust").source


@pytest.mark.parametrize("name, companions, message", [
    ("disgust", "17", "expressions[5].companions: expected a list of AU numbers"),
    ("disgust", [17.0], "expressions[5].companions: expected a list of AU numbers"),
    ("disgust", [True], "expressions[5].companions: expected a list of AU numbers"),
    ("disgust", [17, 17], "disgust: companions: lists an AU twice"),
    ("disgust", [4], "disgust: companions: 4 is in none of its rows"),
    # Disgust's core: the row 9 holds no row without 9.
    ("disgust", [9, 17], "disgust: companions: 9 is needed by the row 9 (it holds no row "
                         "without 9), so it carries the emotion there"),
    # Sadness's 17 completes 1+4+15B (a row) in 1+4+15B+17, but 11+17 needs it.
    ("sadness", [17], "sadness: companions: 17 is needed by the row 11+17"),
    # Letters count: 6+12 holds no row without 6, as 12C asks more of 12 than 6+12 does.
    ("happiness", [6], "happiness: companions: 6 is needed by the row 6+12 "),
    ("surprise", [26], "surprise: companions: 26 is needed by the row 1+2+26 "),
    ("fear", [20], "fear: companions: 20 is needed by the row 5+20 "),
])
def test_validator_holds_companions_to_the_table(name, companions, message):
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    entry = next(e for e in expressions["expressions"] if e["name"] == name)
    assert expressions["expressions"].index(entry) == 5 or name != "disgust"
    entry["companions"] = companions
    with pytest.raises(VocabularyError, match=re.escape(message)):
        Vocabulary.from_dicts(units, scales, expressions)


def test_validator_wants_prototypes_for_companions():
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    neutral = next(e for e in expressions["expressions"] if e["name"] == "neutral")
    neutral["companions"] = [17]
    index = expressions["expressions"].index(neutral)
    with pytest.raises(VocabularyError, match=re.escape(
            f"expressions[{index}].companions: support the rows of prototypes, and there are "
            f"none")):
        Vocabulary.from_dicts(units, scales, expressions)


@pytest.mark.parametrize("field, value, message", [
    ("prototypes", ["4+"], "anger: "),
    ("prototypes", "4", "expressions[4].prototypes: expected a list of FACS code strings"),
    ("variants", [""], "expressions[4].variants: expected a list of FACS code strings"),
    ("variants", ["4+99"], "anger: "),
    ("variants_omitting_one_of", "4B+5", "anger: variants_omitting_one_of lists AU numbers "
                                         "only, not 4B"),
    ("variants_omitting_one_of", ["4"], "expressions[4].variants_omitting_one_of: expected a "
                                        "FACS code string"),
    ("requires", ["4"], "expressions[4].requires: replaced by prototypes and variants"),
    ("either_side", "yes", "expressions[4].either_side: expected true or false"),
    ("either_side", 1, "expressions[4].either_side: expected true or false"),
])
def test_validator_checks_the_emfacs_forms(field, value, message):
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    anger = next(e for e in expressions["expressions"] if e["name"] == "anger")
    assert expressions["expressions"].index(anger) == 4
    anger[field] = value
    with pytest.raises(VocabularyError, match=re.escape(message)):
        Vocabulary.from_dicts(units, scales, expressions)


def test_validator_wants_prototypes_for_variants():
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    anger = next(e for e in expressions["expressions"] if e["name"] == "anger")
    del anger["prototypes"]
    with pytest.raises(VocabularyError,
                       match=re.escape("expressions[4]: variants need the prototypes they vary")):
        Vocabulary.from_dicts(units, scales, expressions)


def test_validator_wants_prototypes_for_either_side():
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    neutral = next(e for e in expressions["expressions"] if e["name"] == "neutral")
    neutral["either_side"] = True
    index = expressions["expressions"].index(neutral)
    with pytest.raises(VocabularyError, match=re.escape(
            f"expressions[{index}].either_side: says how prototypes are read, and there are none")):
        Vocabulary.from_dicts(units, scales, expressions)


def test_intensity_flag_is_validated():
    units, scales, expressions = _bundled()
    units = copy.deepcopy(units)
    units["codes"][0]["intensity"] = "no"
    with pytest.raises(VocabularyError, match=re.escape("codes[0].intensity: expected true or false")):
        Vocabulary.from_dicts(units, scales, expressions)
    blink = load_vocabulary().action_unit(45)
    assert blink.scores_intensity is False and load_vocabulary().action_unit(43).scores_intensity


@pytest.mark.parametrize("value, letter, text", [
    (0.1003, None, "0.1003"), (0.1003, "B", "0.1003"), (0.1, "A", "0.10"), (0.55, "C", "0.55"),
    (0.5504, "D", "0.5504"), (0.20000001, "B", "0.20"), (0.0, None, "0.00"), (0.3, "D", "0.3")])
def test_value_text_agrees_with_the_band(vocabulary, value, letter, text):
    assert vocabulary.scale().value_text(value, letter) == text


# ---------------------------------------------------------------- combination rules (data)

def _with_rules(change):
    units, scales, expressions = _bundled()
    units = copy.deepcopy(units)
    change(units["rules"])
    return units, scales, expressions


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["alternatives"][0].update(source="FACS 1978"),
     "rules.alternatives[0].source: 'FACS 1978' is not one of rules.sources"),
    (lambda r: r["alternatives"][0].pop("source"),
     "rules.alternatives[0].source: every rule cites its source"),
    (lambda r: r["alternatives"][0].update(pairs=["51+3"]),
     "rules.alternatives[0].pairs '51+3': 3 is not a code of this file"),
    (lambda r: r["alternatives"][0].update(pairs=["51+52+53"]),
     "rules.alternatives[0].pairs: '51+52+53' is not two AUs such as '43E+45'"),
    (lambda r: r["alternatives"][0].update(pairs=["52+51"]),
     "rules.alternatives[0].pairs: '52+51' must list the lower code first"),
    (lambda r: r["alternatives"][0].update(reason=""),
     "rules.alternatives[0].reason: expected the rule in words"),
    (lambda r: r["visibility"][0].update(hides=["forehead"]),
     "rules.visibility[0].hides: expected a list of brows, eyes"),
    (lambda r: r["visibility"][0].update(code=12),
     "rules.visibility[0].code: 12 is not a visibility code"),
    (lambda r: r["visibility"][0].pop("why"),
     "rules.visibility[0].why: expected what the code hides, in words"),
    (lambda r: r["needs_side"][0].update(code=26),
     "rules.needs_side[0].code: 26 takes no side"),
    (lambda r: r["needs_side"][0].pop("source"),
     "rules.needs_side[0].source: every rule cites its source"),
    (lambda r: r["letterless_kinds"].update(kinds=["gesture"]),
     "rules.letterless_kinds.kinds: expected a list of action_unit"),
    (lambda r: r["letterless_kinds"].update(source="somewhere"),
     "rules.letterless_kinds.source: 'somewhere' is not one of rules.sources"),
])
def test_the_combination_rules_are_validated_and_cited(change, message):
    with pytest.raises(VocabularyError) as caught:
        Vocabulary.from_dicts(*_with_rules(change))
    assert message in str(caught.value)


def test_every_combination_rule_cites_a_full_reference(vocabulary):
    rules = vocabulary.rules
    cited = {rule.source for rule in rules.alternatives} | set(rules.hides_source.values()) \
        | {rules.letterless_source}
    assert cited <= set(rules.sources)
    assert all(len(rules.sources[key]) > 60 for key in cited)
    assert [str(rule) for rule in rules.alternatives if rule.source == "FACS 2002, Table 9-1"] == [
        "51+52", "53+54", "55+56", "57+58", "61+62", "61+65", "61+66", "62+65", "62+66",
        "63+64", "65+66"]  # Table 9-1, every row


def test_an_expression_breaking_a_rule_is_refused_when_loaded():
    units, scales, expressions = _bundled()
    expressions = copy.deepcopy(expressions)
    expressions["expressions"][0]["code"] = "51+52"
    with pytest.raises(VocabularyError, match=r"happiness: 51\+52: the head cannot turn left and "
                                              r"right at once \(FACS 2002, Table 9-1\)"):
        Vocabulary.from_dicts(units, scales, expressions)
