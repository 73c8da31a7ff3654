"""Rig profiles: the validator (every issue, with its path), building, loading, bundled profiles."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.rig import RigIssue, RigProfile, rig_from_dict, validate_rig
from facs_rig.errors import FacsRigError, RigError, RigValidationError, UnknownRigError
from facs_rig.io.rig_files import check_rig_file, list_rigs, load_rig, read_rig_json

BUNDLED = sorted(path.stem for path in (REPO / "rigs").glob("*.json"))


def _tiny() -> dict:
    return {
        "schema": "facs_rig.rig/1",
        "name": "tiny",
        "targets": ["smileL", "smileR", "jaw", "combo"],
        "action_units": {
            "AU12": [{"target": "smileL", "weight": 1.0, "side": "L"},
                     {"target": "smileR", "weight": 1.0, "side": "R"}],
            "AU26": [{"target": "jaw", "weight": 0.5}],
            "AU27": [{"target": "jaw", "weight": 1.0}],
        },
        "rules": [
            {"rule": "exclusive", "chain": ["AU26", "AU27"]},
            {"rule": "corrective", "target": "combo", "aus": ["AU12_L"], "targets": ["jaw"]},
        ],
        "metadata": {"sources": ["test"]},
    }


# --------------------------------------------------------------------------------------------
# bundled profiles


def test_the_five_profiles_are_bundled():
    assert {"arkit", "metahuman", "facs", "unified", "vrm"} <= set(BUNDLED)
    assert [rig.name for rig in list_rigs()] == BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_profile_validates_and_cites_sources(name, vocabulary):
    data = json.loads((REPO / "rigs" / f"{name}.json").read_text(encoding="utf-8"))
    assert validate_rig(data, vocabulary=vocabulary) == []
    rig = load_rig(name)
    assert rig.name == name
    assert len(rig.metadata["sources"]) >= 2
    assert all(isinstance(source, str) and source for source in rig.metadata["sources"])


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profiles_round_trip_through_to_dict(name, vocabulary):
    rig = load_rig(name)
    again = rig_from_dict(json.loads(json.dumps(rig.to_dict())), vocabulary=vocabulary)
    assert again.to_dict() == rig.to_dict()
    assert again.targets == rig.targets and again.mappings == rig.mappings
    assert again.rules == rig.rules and again.combine == rig.combine


def test_arkit_has_apples_52_names():
    apple = {
        "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
        "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
        "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
        "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
        "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
        "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
        "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
        "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
        "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
        "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
        "noseSneerLeft", "noseSneerRight", "tongueOut"}
    rig = load_rig("arkit")
    assert len(rig.targets) == 52 and set(rig.targets) == apple


def test_arkit_lists_what_it_cannot_show_and_metahuman_shows_it():
    arkit, metahuman = load_rig("arkit"), load_rig("metahuman")
    for au in (11, 13, 23, 35, 38, 39):
        assert au in arkit.unsupported and au not in arkit.mapped_aus
        assert au in metahuman.mapped_aus
    assert "nasolabial" in arkit.unsupported[11]
    assert arkit.cannot_show([Channel(11), Channel(12, "L")]) == (Channel(11),)


def test_facs_profile_targets_follow_channel_names(vocabulary):
    rig = load_rig("facs")
    for au, unit in vocabulary.action_units.items():
        if au in rig.mapped_aus and Channel(au).name in rig.targets:
            assert not unit.unilateral
        if unit.unilateral and Channel(au, "L").name in rig.targets:
            assert Channel(au, "R").name in rig.targets
    for name in ("AU12_L", "AU12_R", "AU17", "AU25", "AU26", "AU27", "AU01_AU02_L",
                 "AU06_AU12_L", "AU06_AU12_R", "AU01_AU04_R"):
        assert name in rig.targets


def test_channels_cover_both_sides_of_sideable_aus():
    rig = load_rig("arkit")
    assert {Channel(12), Channel(12, "L"), Channel(12, "R"), Channel(26)} <= set(rig.channels)
    assert Channel(26, "L") not in rig.channels  # FACS never codes 26 on one side


# --------------------------------------------------------------------------------------------
# the validator


def test_the_issue_message_names_the_path():
    data = json.loads((REPO / "rigs" / "arkit.json").read_text(encoding="utf-8"))
    data["action_units"]["AU12"][1]["target"] = "mouthSmileLft"
    issues = validate_rig(data)
    assert issues == [RigIssue("action_units.AU12[1].target",
                               "'mouthSmileLft' is not a target of this rig")]
    assert str(issues[0]) == ("action_units.AU12[1].target: 'mouthSmileLft' is not a target of "
                              "this rig")


def test_every_problem_is_reported_at_once():
    data = _tiny()
    data["schema"] = "facs_rig.rig/9"
    data["targets"].append("jaw")
    data["action_units"]["AU12"][0]["weight"] = 1.5
    data["action_units"]["AU26"][0]["target"] = "nope"
    data["rules"].append({"rule": "blend", "target": "jaw"})
    paths = [issue.path for issue in validate_rig(data)]
    assert paths == ["schema", "targets[4]", "action_units.AU12[0].weight",
                     "action_units.AU26[0].target", "rules[2].rule"]
    with pytest.raises(RigValidationError) as caught:
        rig_from_dict(data, source="tiny.json")
    assert len(caught.value.issues) == 5
    assert str(caught.value).startswith("tiny.json: 5 problems: schema: ")


MUTATIONS = [
    ("not-a-name", lambda d: d.__setitem__("name", "Bad Name"), "name"),
    ("unknown top field", lambda d: d.__setitem__("colour", 1), "colour"),
    ("empty targets", lambda d: d.__setitem__("targets", []), "targets"),
    ("clashing normalised names", lambda d: d["targets"].append("Smile_L"), "targets[4]"),
    ("bad combine mode", lambda d: d.__setitem__("combine", {"default": "avg"}), "combine.default"),
    ("combine of unknown target", lambda d: d.__setitem__("combine", {"x": "max"}), "combine.x"),
    ("bad range", lambda d: d.__setitem__("range", [1, 0]), "range"),
    ("bad target range", lambda d: d.__setitem__("target_ranges", {"jaw": [0]}), "target_ranges.jaw"),
    ("AU key not an AU", lambda d: d["action_units"].__setitem__("smile", [{"target": "jaw"}]),
     "action_units.smile"),
    ("sided AU key", lambda d: d["action_units"].__setitem__("AU06_L", [{"target": "jaw"}]),
     "action_units.AU06_L"),
    ("same AU twice", lambda d: d["action_units"].__setitem__("AU012", [{"target": "jaw"}]),
     "action_units.AU012"),
    ("unknown FACS code", lambda d: d["action_units"].__setitem__("AU03", [{"target": "jaw"}]),
     "action_units.AU03"),
    ("visibility code", lambda d: d["action_units"].__setitem__("AU70", [{"target": "jaw"}]),
     "action_units.AU70"),
    ("empty entry list", lambda d: d["action_units"].__setitem__("AU01", []), "action_units.AU01"),
    ("zero weight", lambda d: d["action_units"]["AU26"][0].__setitem__("weight", 0),
     "action_units.AU26[0].weight"),
    ("bad side", lambda d: d["action_units"]["AU12"][0].__setitem__("side", "left"),
     "action_units.AU12[0].side"),
    ("side on a bilateral-only AU", lambda d: d["action_units"]["AU26"][0].__setitem__("side", "L"),
     "action_units.AU26[0].side"),
    ("duplicate target and side", lambda d: d["action_units"]["AU12"].append(
        {"target": "smileL", "side": "L"}), "action_units.AU12[2]"),
    ("unknown entry field", lambda d: d["action_units"]["AU26"][0].__setitem__("gain", 2),
     "action_units.AU26[0].gain"),
    ("curve not starting at 0,0", lambda d: d["action_units"]["AU26"][0].__setitem__(
        "curve", [[0, 0.2], [1, 1]]), "action_units.AU26[0].curve[0]"),
    ("curve x not increasing", lambda d: d["action_units"]["AU26"][0].__setitem__(
        "curve", [[0, 0], [0.5, 0.5], [0.5, 0.6], [1, 1]]), "action_units.AU26[0].curve"),
    ("curve y above 1", lambda d: d["action_units"]["AU26"][0].__setitem__(
        "curve", [[0, 0], [1, 2]]), "action_units.AU26[0].curve[1]"),
    ("rules not a list", lambda d: d.__setitem__("rules", {}), "rules"),
    ("corrective with one driver", lambda d: d["rules"][1].__setitem__("targets", []), "rules[1]"),
    ("corrective drives itself", lambda d: d["rules"][1].__setitem__("targets", ["combo"]),
     "rules[1].targets[0]"),
    ("corrective weight too big", lambda d: d["rules"][1].__setitem__("weight", 1000),
     "rules[1].weight"),
    ("corrective bad driver AU", lambda d: d["rules"][1].__setitem__("aus", ["AU12_X"]),
     "rules[1].aus[0]"),
    ("two correctives on one target", lambda d: d["rules"].append(
        {"rule": "corrective", "target": "combo", "aus": ["AU12", "AU26"]}), "rules[2].target"),
    ("corrective cycle", lambda d: d["rules"].append(
        {"rule": "corrective", "target": "jaw", "aus": ["AU12"], "targets": ["combo"]}),
     "rules[1]"),
    ("chain too short", lambda d: d["rules"][0].__setitem__("chain", ["AU26"]), "rules[0].chain"),
    ("chain stronger member drives less", lambda d: d["action_units"]["AU27"][0].__setitem__(
        "weight", 0.4), "rules[0].chain"),
    ("AU in two chains", lambda d: d["rules"].append({"rule": "exclusive", "chain": ["AU27", "AU12"]}),
     "rules[2].chain[0]"),
    ("suppress with both operands", lambda d: d["rules"].append(
        {"rule": "suppress", "target": "jaw", "by_au": "AU12", "by_target": "smileL"}), "rules[2]"),
    ("suppress k out of range", lambda d: d["rules"].append(
        {"rule": "suppress", "target": "jaw", "by_au": "AU12", "k": 2}), "rules[2].k"),
    ("suppress by itself", lambda d: d["rules"].append(
        {"rule": "suppress", "target": "jaw", "by_target": "jaw"}), "rules[2].by_target"),
    ("clamp by itself", lambda d: d["rules"].append(
        {"rule": "clamp", "target": "jaw", "max_target": "jaw"}), "rules[2].max_target"),
    ("clamp by unknown target", lambda d: d["rules"].append(
        {"rule": "clamp", "target": "jaw", "max_target": "mouth"}), "rules[2].max_target"),
    ("unsupported but mapped", lambda d: d.__setitem__("unsupported", {"AU26": "no jaw"}),
     "unsupported.AU26"),
    ("unsupported without reason", lambda d: d.__setitem__("unsupported", {"AU11": ""}),
     "unsupported.AU11"),
    ("sources not strings", lambda d: d["metadata"].__setitem__("sources", [1]), "metadata.sources"),
]


@pytest.mark.parametrize("mutate, path", [(m, p) for _, m, p in MUTATIONS],
                         ids=[name for name, _, _ in MUTATIONS])
def test_each_kind_of_problem_is_reported_at_its_path(mutate, path, vocabulary):
    data = _tiny()
    assert validate_rig(data, vocabulary=vocabulary) == []
    mutate(data)
    issues = validate_rig(data, vocabulary=vocabulary)
    assert path in [issue.path for issue in issues], issues
    with pytest.raises(RigValidationError):
        rig_from_dict(data, vocabulary=vocabulary)


def test_non_object_profile_is_one_issue():
    assert validate_rig([1, 2]) == [RigIssue("", "a rig profile must be a JSON object, not list")]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True)
    | st.sampled_from(["AU12", "AU12_L", "smileL", "jaw", "L", "sum", "soft", "corrective",
                       "exclusive", "suppress", "clamp", "facs_rig.rig/1", ""]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["target", "weight", "side", "curve", "rule", "aus",
                                       "targets", "chain", "k", "by_au", "by_target",
                                       "max_target", "default", "AU12", "AU26"]), children,
                      max_size=4),
    max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["targets", "combine", "range", "target_ranges", "action_units", "rules",
                        "unsupported", "metadata", "schema", "name"]), JSON_VALUES)
def test_any_mangled_field_validates_or_reports_never_crashes(field, value):
    data = _tiny()
    data[field] = value
    issues = validate_rig(data)
    assert all(isinstance(issue, RigIssue) for issue in issues)
    try:
        rig = rig_from_dict(data)
    except RigValidationError as exc:
        assert exc.issues == issues and issues
    else:
        assert issues == [] and isinstance(rig, RigProfile)


@settings(max_examples=200)
@given(st.sampled_from(["AU12", "AU26", "AU27"]), st.integers(0, 1), JSON_VALUES)
def test_any_mangled_entry_validates_or_reports(au, index, value):
    data = _tiny()
    entries = data["action_units"][au]
    entries[min(index, len(entries) - 1)] = value
    try:
        rig_from_dict(data)
    except RigValidationError as exc:
        assert exc.issues
    except FacsRigError:  # pragma: no cover - any other project error would be a validator gap
        raise


@settings(max_examples=200)
@given(st.integers(0, 1), JSON_VALUES)
def test_any_mangled_rule_validates_or_reports(index, value):
    data = _tiny()
    data["rules"][index] = value
    try:
        rig_from_dict(data)
    except RigValidationError as exc:
        assert exc.issues


# --------------------------------------------------------------------------------------------
# loading


def test_load_rig_by_name_by_path_and_profile(tmp_path):
    rig = load_rig("arkit")
    assert load_rig("arkit") is rig  # bundled profiles are cached (their mixing plan too)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_tiny()), encoding="utf-8")
    tiny = load_rig(str(path))
    assert tiny.name == "tiny" and tiny.targets == ("smileL", "smileR", "jaw", "combo")
    assert load_rig(path).name == "tiny"
    assert load_rig(tiny) is tiny


def test_unknown_rig_names_the_bundled_ones():
    with pytest.raises(UnknownRigError, match=r"unknown rig 'arkti'.*arkit.*facs"):
        load_rig("arkti")


def test_bad_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "schema": "facs_rig.rig/1",\n  "name": tiny\n}', encoding="utf-8")
    with pytest.raises(RigError, match=r"broken.json: line 3, column 11: invalid JSON"):
        load_rig(str(path))


def test_invalid_profile_file_lists_every_issue(tmp_path):
    data = _tiny()
    data["action_units"]["AU12"][1]["target"] = "smileRR"
    data["rules"][0]["chain"] = ["AU26"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RigValidationError) as caught:
        load_rig(str(path))
    assert str(path) in str(caught.value)
    assert [i.path for i in caught.value.issues] == ["action_units.AU12[1].target", "rules[0].chain"]
    assert [i.path for i in check_rig_file(path)] == ["action_units.AU12[1].target", "rules[0].chain"]


def test_non_utf8_file_is_a_rig_error(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(RigError, match="not UTF-8"):
        read_rig_json(path)


def test_profiles_are_immutable():
    rig = load_rig("arkit")
    with pytest.raises(AttributeError):
        rig.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rig.metadata["sources"] = ()  # type: ignore[index]
    assert isinstance(copy.deepcopy(rig.to_dict()), dict)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | st.sampled_from([b"{}", b"[]", b"null", b'{"schema": "facs_rig.rig/1"}', b"\xff\xfe{",
                          b'{"targets": ["a"], "action_units": {"AU12": [{"target": "a"}]}}']))
def test_any_file_content_loads_or_raises_a_project_error(tmp_path, content):
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    try:
        rig = load_rig(str(path))
    except FacsRigError:
        return
    assert isinstance(rig, RigProfile)


def test_a_bundled_name_wins_over_a_same_named_file_in_the_folder(tmp_path, monkeypatch):
    (tmp_path / "arkit").write_text("not json", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_rig("arkit").name == "arkit"
    with pytest.raises(RigError, match="invalid JSON"):
        load_rig("./arkit")


def _pyfeat_table() -> list[dict[str, str]]:
    import csv

    from conftest import shared_asset

    with shared_asset("tables/pyfeat_au_reference_table.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_arkit_agrees_with_pyfeats_table_except_the_recorded_choices():
    rig = load_rig("arkit")
    disagreements = {}
    for row in _pyfeat_table():
        shapes = {name.split("(")[0].strip() for name in row["ARKit Blendshape"].split(",")
                  if name.strip()}
        if not shapes:
            continue
        au = int(row["AU"])
        driven = {m.target for m in rig.mappings_of(au)}
        if not shapes <= driven:
            disagreements[au] = shapes - driven
    # Recorded in arkit.json metadata.choices: AU23 follows Ozel (no ARKit shape), and AU61/62
    # follow formats.md §3.4 (eyeLookIn is toward the nose), where Py-Feat swaps In and Out.
    assert disagreements == {23: {"mouthPressLeft", "mouthPressRight"},
                             61: {"eyeLookInLeft", "eyeLookOutRight"},
                             62: {"eyeLookOutLeft", "eyeLookInRight"}}
    choices = " ".join(rig.metadata["choices"])
    assert "AU23" in choices and "AU61/62" in choices
    assert {m.target for m in rig.mappings_of(61)} == {"eyeLookOutLeft", "eyeLookInRight"}


def test_arkit_targets_follow_live_link_face_column_order():
    import csv

    from conftest import shared_asset

    with shared_asset("captures/livelinkface/alex_rom_3.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    shapes = [name for name in header if name not in ("Timecode", "BlendShapeCount")][:52]
    assert [name[0].lower() + name[1:] for name in shapes] == list(load_rig("arkit").targets)


def test_a_profile_names_its_targets_as_meshes_do():
    """``rig.target_names`` (the name glTF rigs and meshes use) is the profile's ``targets``,
    in column order, and ``target_index`` finds each there."""
    rig = load_rig("arkit")
    assert rig.target_names == rig.targets and len(rig.target_names) == 52
    assert [rig.target_index(name) for name in rig.target_names] == list(range(52))


# --------------------------------------------------------------------------------------------
# new-user review: what a wrong or incomplete profile is told


def test_a_profile_without_targets_is_one_problem_not_52():
    """Without targets every mapping was also "'jawOpen' is not a target of this rig" (51 of a
    reviewer's 52 problems, one 3,747-character line); the validator now stops there."""
    data = copy.deepcopy(load_rig("arkit").to_dict())
    del data["targets"]
    assert validate_rig(data) == [
        RigIssue("targets", "missing (expected a non-empty list of target names)")]
    data["targets"] = []
    assert validate_rig(data) == [
        RigIssue("targets", "expected a non-empty list of target names, got []")]


@pytest.mark.parametrize(("field", "message"), [
    ("schema", "schema: missing (expected 'facs_rig.rig/1')"),
    ("name", "name: missing (expected a name of lower-case letters, digits, '_', '-' or '.')"),
    ("action_units", 'action_units: missing (expected an object: {"AU12": [{"target": ..., '
                     '"weight": ...}]})'),
])
def test_a_missing_field_is_said_missing_not_got_none(field, message):
    data = _tiny()
    del data[field]
    with pytest.raises(RigValidationError) as caught:
        rig_from_dict(data, source="tiny.json")
    assert str(caught.value) == f"tiny.json: {message}"


def test_a_null_reads_as_json_spells_it_and_a_missing_entry_target_is_missing():
    data = _tiny()
    data["name"] = None
    del data["action_units"]["AU26"][0]["target"]
    assert [str(issue) for issue in validate_rig(data)] == [
        "name: expected lower-case letters, digits, '_', '-' or '.', got null",
        "action_units.AU26[0].target: missing (expected a target name)"]


@pytest.mark.parametrize(("schema", "kind"), [
    ("facs_rig.timeline/1", "an AU timeline"),
    ("facs_rig.curves/1", "dense AU curves"),
    ("facs_rig.expressions/1", "the expression vocabulary"),
    ("facs_rig.someday/3", "another facs-rig format"),
])
def test_another_facs_rig_format_is_named_as_such(schema, kind):
    """A timeline given as a profile said "7 problem(s): fps: unknown field ..."."""
    data = {"schema": schema, "fps": 30, "events": []}
    assert validate_rig(data) == [RigIssue(
        "schema", f"this is a {schema} file ({kind}), not a rig profile (expected "
                  f"'facs_rig.rig/1')")]


def test_a_gltf_file_given_as_a_profile_asks_for_mesh(tmp_path):
    """`--rig face.glb` said "not UTF-8 text (byte 9)"."""
    told = ("this is a glTF file, not a rig profile: did you mean --mesh? (--rig takes a bundled "
            "profile name or a facs_rig.rig/1 .json file)")
    glb = tmp_path / "face.glb"
    glb.write_bytes(b"glTF\x02\x00\x00\x00\x14\x00\x00\x00" + b"\xff" * 8)
    with pytest.raises(RigError) as caught:
        load_rig(glb)
    assert str(caught.value) == f"{glb}: {told}"
    gltf = tmp_path / "face.gltf"
    gltf.write_text('{"asset": {"version": "2.0"}, "meshes": []}')
    with pytest.raises(RigValidationError) as caught:
        load_rig(gltf)
    assert str(caught.value) == f"{gltf}: {told}"


def test_many_problems_are_capped_in_the_message_and_all_kept_in_issues():
    data = _tiny()
    for k in range(8):
        data["action_units"]["AU12"].append({"target": f"nope{k}"})
    with pytest.raises(RigValidationError) as caught:
        rig_from_dict(data, source="tiny.json")
    assert len(caught.value.issues) == 8
    assert str(caught.value) == (
        "tiny.json: 8 problems: " + "; ".join(
            f"action_units.AU12[{k + 2}].target: 'nope{k}' is not a target of this rig"
            for k in range(5))
        + "; ... and 3 more (facs-rig rig validate FILE lists them all)")
