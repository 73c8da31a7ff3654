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
@pytest.mark.parametrize("letter", ["A", "B", "C", "D", "E", ""])
def test_25_at_any_letter_with_26_leaves_no_closure(rig_name, letter):
    # FACS 2002 (AU25): 25 is scored whenever the lips part, at any intensity; so 25 scored
    # beside 26 leaves the lips apart. A fade in proportion to 25's letter (1 - b) left 25C
    # 0.7 x 0.45 of closure, which the round trip of fear on unified read back as an 8.
    jaw, lips = LIPS[rig_name]
    weights = frame(f"25{letter}+26E", rig_name)
    assert weights[jaw] == pytest.approx(0.7)
    assert [weights[shape] for shape in lips] == [0.0] * len(lips)


@pytest.mark.parametrize("rig_name", sorted(LIPS))
def test_below_25s_trace_the_lips_part_in_proportion(rig_name):
    # Between rest and the trace (A, 0.1 on the default scale) the lips come apart smoothly,
    # so an animated 25 rising from 0 does not snap them open: half way, half the closure.
    rig = load_rig(rig_name)
    _, lips = LIPS[rig_name]
    weights = dict(zip(rig.targets, mix_frame({Channel(25): 0.05, Channel(26): 1.0},
                                              rig).tolist()))
    assert [weights[shape] for shape in lips] == pytest.approx([0.7 * 0.5] * len(lips))


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
    assert frame("25A+26C", "facs")["AU08"] == 0.0  # the trace parts them too (was 0.495)
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
            "  AU26               0.100 x 0.7 x (1 - min(1, AU25 1.000 / 0.1)) x "
            "(1 - min(1, AU27 0.000 / 0.1)) = 0.000\n") in out


def test_explain_shows_25s_trace_fading_the_closure_fully(capsys):
    assert main(["explain", "25A+26E", "--rig", "unified"]) == 0
    out = capsys.readouterr().out
    assert ("MouthClosed = 0.000   (combine: soft)\n"
            "  AU26               1.000 x 0.7 x (1 - min(1, AU25 0.100 / 0.1)) x "
            "(1 - min(1, AU27 0.000 / 0.1)) = 0.000\n") in out


def test_explain_lists_the_faded_contribution_with_its_without_values():
    rig = load_rig("arkit")
    result = explain({Channel(25): 0.05, Channel(26): 1.0}, rig)
    close = next(t for t in result.targets if t.target == "mouthClose")
    (contribution,) = close.contributions
    assert contribution.without == ((Channel(25), pytest.approx(0.05)), (Channel(27), 0.0))
    assert contribution.without_full_at == 0.1
    assert contribution.value == pytest.approx(0.35)  # 0.7 x (1 - 0.05 / 0.1)
    data = result.to_dict()
    entry = next(t for t in data["targets"] if t["target"] == "mouthClose")
    assert entry["contributions"][0]["without"] == {"AU25": 0.05, "AU27": 0.0}
    assert entry["contributions"][0]["without_full_at"] == 0.1


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
    # 8 is still read beside 25 and 26, at its own 0.55: 25 reads partly as the mix 16+26
    # (rig show's "told apart by prior"), but any 25 left beside that 26 takes its closed lips
    # away (without_full_at 0.1), so all of mouthClose is 8's (0.432 while 25's fade was in
    # proportion to its value and 26's closure kept a little of it).
    assert values[1, column["AU08"]] == pytest.approx(0.55, abs=0.005)


def test_rig_show_names_the_faded_shapes_and_what_they_read_back_as(capsys):
    facts = read_back_facts(load_rig("arkit"))["faded_in_solve"]
    assert [(f["au"], f["targets"], f["without"], f["read_as"]) for f in facts] == [
        ("AU26", ["mouthClose"], ["AU25", "AU27"], ["AU08"])]
    assert main(["rig", "show", "arkit"]) == 0
    out = capsys.readouterr().out
    assert "AU26  mouthClose  AU25+AU27  AU08" in out
    assert "                              mouthClose           0.7     any   without AU25+AU27" in out


def test_without_full_at_ends_the_fade_at_its_value_and_round_trips():
    rig = rig_from_dict(tiny({"without": ["AU25"], "without_full_at": 0.2}))
    assert rig.mappings_of(26)[0].without_full_at == 0.2
    for b, kept in [(0.0, 1.0), (0.05, 0.75), (0.1, 0.5), (0.2, 0.0), (0.9, 0.0)]:
        weights = mix_frame({Channel(26): 1.0, Channel(25): b}, rig)
        assert weights[0] == pytest.approx(0.5 * kept)
    assert rig.to_dict()["action_units"]["AU26"][0]["without_full_at"] == 0.2
    assert rig_from_dict(rig.to_dict()).mappings == rig.mappings
    # The default, 1, is the fade in proportion (1 - b), and is not written out.
    plain = rig_from_dict(tiny({"without": ["AU25"]}))
    assert plain.mappings_of(26)[0].without_full_at == 1.0
    assert "without_full_at" not in plain.to_dict()["action_units"]["AU26"][0]
    assert mix_frame({Channel(26): 1.0, Channel(25): 0.2}, plain)[0] == pytest.approx(0.4)


@pytest.mark.parametrize("extra, message", [
    ({"without": ["AU25"], "without_full_at": 0},
     "action_units.AU26[0].without_full_at: expected a number in (0, 1], got 0"),
    ({"without": ["AU25"], "without_full_at": 1.5},
     "action_units.AU26[0].without_full_at: expected a number in (0, 1], got 1.5"),
    ({"without": ["AU25"], "without_full_at": "A"},
     "action_units.AU26[0].without_full_at: expected a number in (0, 1], got 'A'"),
    ({"without_full_at": 0.1},
     "action_units.AU26[0].without_full_at: applies to a 'without' fade: give the entry a "
     "'without' list (or remove without_full_at)"),
])
def test_a_bad_without_full_at_is_named_with_its_path(extra, message):
    issues = [str(issue) for issue in validate_rig(tiny(extra), vocabulary=VOCABULARY)]
    assert issues == [message]


@pytest.mark.parametrize("rig_name", ["arkit", "unified"])
def test_fear_solved_back_reads_no_8_for_lips_25_has_parted(rig_name):
    # Round trip code -> mix -> solve (benchmarks/bench_fidelity.py): fear is 1+2+4+5+7+20+25+26
    # (every AU at C). With 25C fading the closed lips only to 45 %, the solve read the rest
    # of MouthClosed/mouthClose as AU8 (0.17 on both profiles).
    from facs_rig.io.captures.trackers import load_tracker

    rig = load_rig(rig_name)
    solver = BlendshapeSolver.from_rig(rig, priors=load_tracker("generic").solve_priors)
    weights = mix_frame(VOCABULARY.channel_values(VOCABULARY.parse("fear")), rig)
    _, lips = LIPS[rig_name]
    assert [weights[rig.targets.index(shape)] for shape in lips] == [0.0]
    values = solver.solve(weights[None, :], tolerance=1e-9).values[0]
    column = {c.name: k for k, c in enumerate(solver.channels)}
    assert values[column["AU08"]] == pytest.approx(0.0, abs=1e-4)


# --- the solve reads 25 from the closure a capture lacks ------------------------------------------

def arkit_frames(*frames: tuple[float, float]) -> tuple[BlendshapeSolver, np.ndarray]:
    """The arkit solver with the bundled tracker profile's priors, and (jawOpen, mouthClose)
    frames as its weights."""
    from facs_rig.io.captures.trackers import load_tracker

    solver = BlendshapeSolver.from_rig(load_rig("arkit"),
                                       priors=load_tracker("arkit").solve_priors)
    weights = np.zeros((len(frames), len(solver.targets)), dtype=np.float32)
    for k, (jaw, close) in enumerate(frames):
        weights[k, solver.targets.index("jawOpen")] = jaw
        weights[k, solver.targets.index("mouthClose")] = close
    return solver, weights


def test_arkit_jaw_open_with_the_lips_held_together_reads_26_without_25():
    # Apple: mouthClose is the lips closed independently of the jaw. jawOpen 0.5 with
    # mouthClose 0.45: the lips (nearly) together over the dropped jaw, 26 alone.
    solver, weights = arkit_frames((0.5, 0.45))
    values = solver.solve(weights, tolerance=1e-9).values[0]
    column = {c.name: k for k, c in enumerate(solver.channels)}
    assert values[column["AU26"]] == pytest.approx(0.5 / 0.7, abs=0.02)
    # 25 under the default scale's minimum (0.03: absent): the 0.05 short of full closure
    # is a hundredth of 25's trace, no parting.
    assert values[column["AU25"]] == pytest.approx(0.008, abs=0.002)
    assert values[column["AU25"]] < VOCABULARY.scale().minimum
    assert values[column["AU08"]] == 0.0


def test_arkit_jaw_open_with_no_closure_reads_25_with_26():
    # jawOpen 0.5 with mouthClose 0: the lips apart over the dropped jaw, 25+26 (FACS 2002
    # scores 25 whenever the lips part). Before, the solve read 26 alone (0.714), its closed
    # lips 0.5 of mouthClose never shown; 25 read 0.
    solver, weights = arkit_frames((0.5, 0.0), (0.7, 0.0), (0.0, 0.0))
    result = solver.solve(weights, tolerance=1e-9)
    column = {c.name: k for k, c in enumerate(solver.channels)}
    values = result.values
    np.testing.assert_allclose(values[:2, column["AU26"]], [0.5 / 0.7, 1.0], atol=0.02)
    # 25 at its trace (A, 0.1 on the default scale): what takes the closure away. The gap
    # says 25 is scored; its letter comes from its own shapes (mouthLowerDown), none here.
    np.testing.assert_allclose(values[:2, column["AU25"]], [0.099, 0.099], atol=0.002)
    assert values[2, column["AU25"]] == 0.0
    # The rig's own mix of what was read fits the frame: 26's closed lips faded out.
    assert float(result.residual[0]) < 0.01


def test_the_closure_gap_reads_nothing_without_the_from_fade_prior():
    # The same frames with the priors but the from_fade entry: the linear solve cannot see the
    # gap (the faded entry is out of its basis), so 25 stays at 0: what the prior changes.
    import dataclasses

    solver, weights = arkit_frames((0.5, 0.0))
    priors = solver.priors
    plain = BlendshapeSolver.from_rig(load_rig("arkit"), priors=dataclasses.replace(
        priors, aus=tuple(p for p in priors.aus if not p.from_fade)))
    values = plain.solve(weights, tolerance=1e-9).values[0]
    column = {c.name: k for k, c in enumerate(plain.channels)}
    assert values[column["AU25"]] == 0.0
    assert values[column["AU26"]] == pytest.approx(0.5 / 0.7, abs=0.02)


@pytest.mark.parametrize("code, au25, au26", [("25A+26C", 0.1, 0.511),
                                               ("25C+26C", 0.535, 0.383)])
def test_a_capture_of_25_plus_26_as_the_rig_mixes_it_reads_both_and_no_8(code, au25, au26):
    # Mixed on arkit, the lips parted: mouthClose 0. Before, 25's fade in proportion left
    # 26's closed lips partly in the solve's model, and it read AU8 0.013 and 0.044 beside;
    # 25A read 0.085 from mouthLowerDown alone, under its trace.
    rig = load_rig("arkit")
    solver, _ = arkit_frames()
    weights = mix_frame(VOCABULARY.channel_values(VOCABULARY.parse(code)), rig)[None, :]
    assert weights[0, rig.targets.index("mouthClose")] == 0.0
    values = solver.solve(weights, tolerance=1e-9).values[0]
    column = {c.name: k for k, c in enumerate(solver.channels)}
    assert values[column["AU25"]] == pytest.approx(au25, abs=0.003)
    # 26 reads a little low beside 25: the linear solve adds the chain's jawOpen shares
    # (25's 0.2) where the rig keeps the largest.
    assert values[column["AU26"]] == pytest.approx(au26, abs=0.003)
    assert values[column["AU08"]] == 0.0
