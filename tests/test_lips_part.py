"""26 without 25 keeps the lips together; 25+26 parts them (a FACS coder's find).

FACS 2002 (Ekman, Friesen & Hager, AU25 and AU26 sections) scores 25 beside 26 or 27 whenever
the lips part, so 26 alone is a jaw drop behind closed lips. The bundled profiles say so with
entries ``without`` 25 (and 27) on their lips-together shape; ``explain`` no longer calls a
chain member scored beside another "dropped". Every number here was different before the fix
(mouthClose 0 under 26C, "dropped by the exclusive chain" for 25E+26A, 8+26 read for 26).
"""

from __future__ import annotations

import numpy as np
import pytest

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.mixing import explain, mix_frame
from facs_rig.core.rig import rig_from_dict, validate_rig
from facs_rig.core.solve import BlendshapeSolver, read_back_facts
from facs_rig.io.rig_files import load_rig
from facs_rig.resources import load_vocabulary

VOCABULARY = load_vocabulary()
#: Each profile's lips-together shapes: closed over the dropped jaw at the jaw's own value.
LIPS = {
    "arkit": ("jawOpen", ("mouthClose",)),
    "unified": ("JawOpen", ("MouthClosed",)),
    "metahuman": ("CTRL_expressions_jawOpen",
                  tuple(f"CTRL_expressions_mouthLipsTogether{q}" for q in ("UL", "UR", "DL", "DR"))),
}


def frame(code: str, rig_name: str) -> dict[str, float]:
    rig = load_rig(rig_name)
    weights = mix_frame(VOCABULARY.channel_values(VOCABULARY.parse(code)), rig)
    return dict(zip(rig.targets, weights.tolist()))


@pytest.mark.parametrize("rig_name", sorted(LIPS))
@pytest.mark.parametrize("letter, x", [("A", 0.1), ("C", 0.55), ("E", 1.0)])
def test_26_alone_closes_the_lips_over_the_dropped_jaw(rig_name, letter, x):
    jaw, lips = LIPS[rig_name]
    weights = frame(f"26{letter}", rig_name)
    assert weights[jaw] == pytest.approx(0.7 * x)
    for shape in lips:  # as much as the jaw opens: lips together (was 0: parted)
        assert weights[shape] == pytest.approx(0.7 * x)


@pytest.mark.parametrize("rig_name", sorted(LIPS))
def test_25_with_26_parts_the_lips_as_much_as_25_is_scored(rig_name):
    jaw, lips = LIPS[rig_name]
    full = frame("25E+26E", rig_name)
    assert full[jaw] == pytest.approx(0.7)
    assert all(full[shape] == 0.0 for shape in lips)
    partly = frame("25C+26E", rig_name)  # the lips part by 25's 0.55 of the jaw's opening
    assert all(partly[shape] == pytest.approx(0.7 * (1 - 0.55)) for shape in lips)


def test_arkit_lips_close_exactly_to_the_jaw_and_8_still_shows_with_25_and_26():
    weights = frame("26C", "arkit")
    assert weights["mouthClose"] == weights["jawOpen"] == pytest.approx(0.385)
    # 8+25+26: lips toward each other over the parted, dropped jaw, clamped to jawOpen.
    assert frame("8C+25E+26E", "arkit")["mouthClose"] == pytest.approx(0.55)
    assert frame("25E+26E", "arkit")["mouthClose"] == 0.0


def test_the_default_heads_facs_profile_closes_the_lips_with_its_au08_target():
    weights = frame("26C", "facs")
    assert weights["AU26"] == pytest.approx(0.55)
    assert weights["AU08"] == pytest.approx(0.55)  # the lip closure, at most AU26 (clamp)
    assert frame("25E+26C", "facs")["AU08"] == 0.0
    assert frame("25E+26C", "facs")["AU25"] == pytest.approx(1.0)


def test_vrm_cannot_show_a_jaw_or_lips_so_it_has_no_such_entry():
    rig = load_rig("vrm")
    assert not any(m.without for m in rig.mappings)
    assert not rig.mappings_of(25) and not rig.mappings_of(26)


def test_explain_says_25_and_26_are_both_scored_not_dropped(capsys):
    assert main(["explain", "25E+26A", "--rig", "arkit"]) == 0
    out = capsys.readouterr().out
    assert "dropped" not in out
    assert ("  AU26               0.100 x 0.7 = 0.070   within the chain's largest (not added)"
            in out)
    assert ("exclusive: chain 25 < 26 < 27 (their movements do not add): jawOpen takes the "
            "largest, AU25's 0.2, which contains AU26's 0.07") in out
    assert ("mouthClose = 0.000   (combine: soft)\n"
            "  AU26               0.100 x 0.7 x (1 - AU25 1.000) x (1 - AU27 0.000) = 0.000\n"
            ) in out


def test_explain_lists_the_faded_contribution_with_its_without_values():
    rig = load_rig("arkit")
    result = explain({Channel(25): 0.5, Channel(26): 1.0}, rig)
    close = next(t for t in result.targets if t.target == "mouthClose")
    (contribution,) = close.contributions
    assert contribution.without == ((Channel(25), 0.5), (Channel(27), 0.0))
    assert contribution.value == pytest.approx(0.35)
    data = result.to_dict()
    entry = next(t for t in data["targets"] if t["target"] == "mouthClose")
    assert entry["contributions"][0]["without"] == {"AU25": 0.5, "AU27": 0.0}


# --- the field itself ----------------------------------------------------------------------------

def tiny(entry_extra: dict) -> dict:
    return {"schema": "facs_rig.rig/1", "name": "tiny", "targets": ["a", "b"],
            "combine": {"default": "sum"},
            "action_units": {"AU26": [{"target": "a", "weight": 0.5, **entry_extra}],
                             "AU12": [{"target": "b", "side": "L"}, {"target": "b", "side": "R"}]},
            "rules": []}


def test_without_multiplies_by_one_minus_each_au_read_through_its_side():
    rig = rig_from_dict(tiny({"without": ["AU25", "AU12_L"]}))
    assert rig.mappings_of(26)[0].without == (Channel(25), Channel(12, "L"))
    assert 25 in rig.aus  # read though not mapped
    values = {Channel(26): 1.0, Channel(25): 0.2, Channel(12, "R"): 1.0}
    assert mix_frame(values, rig)[0] == pytest.approx(0.5 * 0.8)  # R12 is not the left side
    values[Channel(12)] = 0.5  # a bilateral 12 is read by the left view
    assert mix_frame(values, rig)[0] == pytest.approx(0.5 * 0.8 * 0.5)
    assert rig_from_dict(rig.to_dict()).mappings == rig.mappings
    assert rig.to_dict()["action_units"]["AU26"][0]["without"] == ["AU25", "AU12_L"]


@pytest.mark.parametrize("without, message", [
    ([], "action_units.AU26[0].without: expected a non-empty list of AU channels such as "
         "[\"AU25\"]"),
    ("AU25", "action_units.AU26[0].without: expected a non-empty list of AU channels such as "
             "[\"AU25\"]"),
    (["AU26"], "action_units.AU26[0].without[0]: an entry cannot fade out by its own AU ('AU26')"),
    (["AU25", "AU25"], "action_units.AU26[0].without[1]: 'AU25' is listed twice"),
    (["mouth"], "action_units.AU26[0].without[0]: 'mouth' is not an AU channel such as 'AU12' "
                "or 'AU12_L'"),
])
def test_a_bad_without_is_named_with_its_path(without, message):
    issues = [str(issue) for issue in validate_rig(tiny({"without": without}),
                                                     vocabulary=VOCABULARY)]
    assert issues == [message]


# --- the solve ----------------------------------------------------------------------------------

def test_a_capture_of_the_jaw_dropped_behind_closed_lips_reads_26_not_8_plus_26():
    rig = load_rig("arkit")
    solver = BlendshapeSolver.from_rig(rig)
    weights = np.zeros((2, len(solver.targets)), dtype=np.float32)
    row = {name: k for k, name in enumerate(solver.targets)}
    weights[0, row["jawOpen"]] = weights[0, row["mouthClose"]] = 0.385  # 26C: lips together
    # 8C+25E+26E as the rig mixes it: lips parted and pulled toward each other.
    weights[1] = mix_frame(VOCABULARY.channel_values(VOCABULARY.parse("8C+25E+26E")), rig)
    assert weights[1, row["mouthClose"]] == pytest.approx(0.55)
    values = solver.solve(weights, tolerance=1e-9).values
    column = {c.name: k for k, c in enumerate(solver.channels)}
    assert values[0, column["AU26"]] == pytest.approx(0.55, abs=1e-4)
    assert values[0, column["AU08"]] == pytest.approx(0.0, abs=1e-4)  # was 0.385: 8+26
    # 8 is still read beside 25 and 26: 0.43, where 25 reads partly as the mix 16+26 (rig
    # show's "told apart by prior"), which leaves a little of mouthClose to 26's closed lips.
    assert values[1, column["AU08"]] == pytest.approx(0.432, abs=0.005)


def test_rig_show_names_the_faded_shapes_and_what_they_read_back_as(capsys):
    facts = read_back_facts(load_rig("arkit"))["faded_in_solve"]
    assert [(f["au"], f["targets"], f["without"], f["read_as"]) for f in facts] == [
        ("AU26", ["mouthClose"], ["AU25", "AU27"], ["AU08"])]
    assert main(["rig", "show", "arkit"]) == 0
    out = capsys.readouterr().out
    assert "AU26  mouthClose  AU25+AU27  AU08" in out
    assert "                              mouthClose           0.7     any   without AU25+AU27" in out
