"""Blendshape -> AU solving: exactness, bounds, residuals, the arkit profile, real agreement."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import lsq_linear

from facs_rig.core.channels import Channel
from facs_rig.core.rig import rig_from_dict
from facs_rig.core.solve import BlendshapeSolver, PoseScale, basis_from_rig, pose_to_aus, solve_bounded
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.agreement import au_agreement, format_agreement
from facs_rig.io.captures.pipeline import capture_to_aus
from facs_rig.io.rig_files import load_rig


@pytest.fixture(scope="module")
def arkit():
    return load_rig("arkit")


def test_basis_folds_indistinguishable_aus(arkit):
    basis, channels = basis_from_rig(arkit)
    names = {c.name for c in channels}
    # eyeBlink is driven by 41-46; only AU43 (full closure, lowest number of the strongest)
    # is solvable. eyeSquint: AU7 over AU44. AU25 has its own lip shapes, so it stays.
    assert {"AU43_L", "AU43_R", "AU07_L", "AU25", "AU26"} <= names
    assert not {"AU45_L", "AU46_L", "AU41_L", "AU44_L"} & names
    assert basis.shape == (52, len(channels))


def test_exact_recovery_of_known_aus(arkit):
    # The linear and soft model, exactly invertible. ARKit's 26 closing the lips without 25
    # (a faded entry, modelled on top, tests/test_lips_part.py) is left out here: the basis's
    # 26 is the jaw drop alone, so where 26 is one of several readings of one jaw (27 = 26 +
    # 20, rig show's mixes) its mouthClose does not tell them apart.
    full = BlendshapeSolver.from_rig(arkit)
    assert any(faded for _, _, faded in full.combined)
    solver = dataclasses.replace(full, combined=tuple((row, columns, ())
                                                      for row, columns, _ in full.combined))
    rng = np.random.default_rng(7)
    shape = (200, len(solver.channels))
    truth = rng.uniform(0, 1, size=shape) * (rng.random(shape) < 0.3)
    # The shapes as the rig makes them: linear, but softly combined where AUs share a target.
    observed = solver.combine_values(truth)
    result = solver.solve(observed, tolerance=1e-10, max_sweeps=2000)
    np.testing.assert_allclose(solver.combine_values(result.values), observed, atol=1e-4)
    assert result.residual.max() < 1e-4


def test_smile_alone_is_the_least_squares_au12(arkit):
    solver = BlendshapeSolver.from_rig(arkit)
    weights = np.zeros((1, 52))
    weights[0, arkit.targets.index("mouthSmileLeft")] = 0.8
    weights[0, arkit.targets.index("mouthSmileRight")] = 0.8
    result = solver.solve(weights, tolerance=1e-9)
    values = dict(zip(solver.channels, result.values[0]))
    # The profile maps AU12 to mouthSmile 1.0 and cheekSquint 0.3: with no cheek squint
    # captured, least squares on that pair gives 0.8 / (1 + 0.3^2).
    expected = 0.8 / 1.09
    assert values[Channel(12, "L")] == pytest.approx(expected, abs=1e-5)
    assert values[Channel(12, "R")] == pytest.approx(expected, abs=1e-5)
    assert values[Channel(6, "L")] == 0.0
    misfit = 2 * ((0.8 - expected) ** 2 + (0.3 * expected) ** 2)
    assert result.residual[0] == pytest.approx(np.sqrt(misfit / 52), abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(extra=arrays(np.float64, (6, 4), elements=st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.3, 0.5])),
       observed=arrays(np.float64, (3, 6), elements=st.floats(-0.5, 1.5)))
def test_matches_scipy_bounded_least_squares(extra, observed):
    # Rig-like bases: each channel drives its own shape fully and a few others partly (as
    # AU12 drives mouthSmile and a little cheekSquint); exactly colinear channels are folded
    # before solving, so they are not generated here.
    basis = np.vstack([np.eye(4), np.zeros((2, 4))]) + extra
    result = solve_bounded(basis, observed, tolerance=1e-10, max_sweeps=5000)
    assert np.all(result.values >= 0) and np.all(result.values <= 1)
    for frame in range(observed.shape[0]):
        reference = lsq_linear(basis, observed[frame], bounds=(0, 1), tol=1e-12)
        ours = np.sum((basis @ result.values[frame].astype(np.float64) - observed[frame]) ** 2)
        best = np.sum((basis @ reference.x - observed[frame]) ** 2)
        assert ours <= best + 1e-5


def test_nan_is_refused():
    with pytest.raises(ValueError, match="fill gaps first"):
        solve_bounded(np.eye(2), np.array([[np.nan, 0.0]]))


def test_pose_to_aus_signs_and_scale():
    values, channels = pose_to_aus(yaw=np.array([np.deg2rad(20), -np.deg2rad(80)]),
                                   gaze_pitch=np.array([0.0, -np.deg2rad(10)]), n_frames=2,
                                   scale=PoseScale())
    table = dict(zip([c.au for c in channels], values.T))
    assert table[51].tolist() == pytest.approx([0.5, 0.0])
    assert table[52].tolist() == pytest.approx([0.0, 1.0])
    assert table[64].tolist() == pytest.approx([0.0, 0.5])


def test_live_link_face_solve_fits_well():
    capture = read_capture(shared_asset("captures/livelinkface/S07-001.csv"))
    solved = capture_to_aus(capture)
    assert solved.source == "blendshapes"
    assert solved.residual.shape == (capture.n_frames,)
    # Real ARKit takes are explained by the arkit profile to a few hundredths of a weight.
    assert float(np.nanmean(solved.residual)) < 0.03


def test_pyfeat_agreement_table_is_computed():
    captures = [read_capture(shared_asset(f"captures/pyfeat/{n}.csv")) for n in ("001", "002", "003")]
    rows = au_agreement(captures)
    by_au = {row.au: row for row in rows}
    assert by_au[1].frames == 58
    # Brow raises are seen by both: strong agreement on AU1 and AU2 in these clips.
    assert by_au[1].r > 0.6 and by_au[2].r > 0.8
    # Lips part became solvable with the profile's AU25 -> mouthLowerDown entries.
    assert by_au[25].r > 0.5
    assert format_agreement(rows).startswith("| AU | Pearson r |")


def test_folded_channels_say_what_a_capture_reads_back_as():
    from facs_rig.core.solve import folded_channels
    from facs_rig.io.rig_files import load_rig

    arkit = dict(folded_channels(load_rig("arkit")))
    assert arkit[Channel(45, "L")] == Channel(43, "L")  # eyeBlink: a blink reads as closure
    assert arkit[Channel(44, "R")] == Channel(7, "R")  # eyeSquint
    metahuman = dict(folded_channels(load_rig("metahuman")))
    assert metahuman[Channel(25)] == Channel(26)
    basis_channels = set(BlendshapeSolver.from_rig(load_rig("arkit")).channels)
    assert not basis_channels & set(arkit)


# --- priors (issue 13 point 2) --------------------------------------------------------------

def _jaw_frame(arkit, **weights):
    frame = np.zeros((1, len(arkit.targets)))
    for name, value in weights.items():
        frame[0, arkit.targets.index(name)] = value
    return frame


def _active(solver, result, floor=0.05):
    return {c.name for c, x in zip(solver.channels, result.values[0]) if x > floor}


def test_sparsity_reads_the_single_au_where_others_mix_to_the_same_shapes(arkit):
    from facs_rig.core.solve import SolvePriors

    # AU27 at 0.55 on the arkit profile: jawOpen 0.55, mouthStretch 0.165 each side. AU26/0.7
    # + 0.3 AU20 makes the same shapes; plain least squares splits, the L1 prior does not.
    frame = _jaw_frame(arkit, jawOpen=0.55, mouthStretchLeft=0.165, mouthStretchRight=0.165)
    plain = BlendshapeSolver.from_rig(arkit)
    assert _active(plain, plain.solve(frame)) == {"AU20_L", "AU20_R", "AU26"}
    sparse = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(0.01))
    result = sparse.solve(frame, tolerance=1e-9, max_sweeps=5000)
    assert _active(sparse, result) == {"AU27"}
    # The lone AU is lowered by lambda / ||a_27|| exactly (the L1 term's closed form).
    au27 = result.values[0, sparse.channels.index(Channel(27))]
    assert au27 == pytest.approx(0.55 - 0.01 / np.sqrt(1 + 2 * 0.3 ** 2), abs=1e-4)
    # AU25 (0.2 jawOpen + 0.3 lowerDown) against AU26 + AU16.
    frame = _jaw_frame(arkit, jawOpen=0.11, mouthLowerDownLeft=0.165, mouthLowerDownRight=0.165)
    assert _active(plain, plain.solve(frame), 0.02) != {"AU25"}
    assert _active(sparse, sparse.solve(frame, tolerance=1e-9, max_sweeps=5000), 0.02) == {"AU25"}


def test_pair_priors_couple_smile_and_cheek_and_oppose_inner_brow(arkit):
    from facs_rig.core.solve import PairPrior, SolvePriors

    smile = _jaw_frame(arkit, mouthSmileLeft=0.8, mouthSmileRight=0.8, cheekSquintLeft=0.3,
                       cheekSquintRight=0.3)
    plain = BlendshapeSolver.from_rig(arkit)
    sparse = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(0.01))
    together = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(
        0.01, (PairPrior(6, 12, "together", 0.2),)))
    six, twelve = plain.channels.index(Channel(6, "L")), plain.channels.index(Channel(12, "L"))
    values = {name: solver.solve(smile, tolerance=1e-9).values[0]
              for name, solver in (("plain", plain), ("sparse", sparse), ("together", together))}
    # 6 beside 12 is spared the sparsity's price (it reads more than with sparsity alone) ...
    assert values["together"][six] > values["sparse"][six] + 0.005
    # ... but the prior is never a reward: the coupling is capped at that price, so the priors'
    # term of the objective, p.x + x'Px/2, is >= 0 on the whole box (at every corner, where a
    # bilinear form is least), and 12, whose shapes decide it, reads no more than least
    # squares says. Uncapped (0.2 x ||a_6|| ||a_12||) 12 read 0.05 above it.
    assert values["together"][twelve] <= values["plain"][twelve] + 1e-6
    penalty, coupling = together.prior_terms()
    corners = np.array(np.meshgrid(*[[0.0, 1.0]] * 4)).reshape(4, -1).T
    pair = [six, twelve, plain.channels.index(Channel(6, "R")), plain.channels.index(Channel(12, "R"))]
    terms = corners @ penalty[pair] + 0.5 * np.einsum("fi,ij,fj->f", corners,
                                                      coupling[np.ix_(pair, pair)], corners)
    assert terms.min() >= -1e-12 and terms.max() > 0
    # A `together` prior without a sparsity price to waive does nothing.
    alone = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(
        0.0, (PairPrior(6, 12, "together", 0.2),)))
    np.testing.assert_array_equal(alone.solve(smile, tolerance=1e-9).values, plain.solve(
        smile, tolerance=1e-9).values)
    brows = _jaw_frame(arkit, browInnerUp=0.5, browDownLeft=0.5, browDownRight=0.5)
    against = BlendshapeSolver.from_rig(arkit, priors=SolvePriors(
        0.0, (PairPrior(1, 4, "against", 0.2),)))
    one = plain.channels.index(Channel(1))
    np.testing.assert_allclose(plain.solve(brows, tolerance=1e-9).values[0, one], 0.5, atol=1e-5)
    # An `against` prior is a price, like the sparsity, and is not capped.
    assert against.solve(brows, tolerance=1e-9).values[0, one] < 0.45
    with pytest.raises(ValueError, match="non-convex"):
        BlendshapeSolver.from_rig(arkit, priors=SolvePriors(
            0.01, (PairPrior(20, 26, "together", 0.2),))).solve(brows)  # 27 = 26 + 20: singular


def test_priors_keep_the_solve_bounded_and_optimal():
    # With a penalty, the solve is the minimiser of the penalised problem: compare with scipy
    # on the equivalent least squares (sqrt-free: the linear term shifts A^T y).
    rng = np.random.default_rng(3)
    basis = np.vstack([np.eye(4), np.zeros((2, 4))]) + 0.3 * (rng.random((6, 4)) < 0.3)
    observed = rng.uniform(-0.2, 1.2, size=(50, 6))
    penalty = np.full(4, 0.05)
    result = solve_bounded(basis, observed, penalty=penalty, tolerance=1e-12, max_sweeps=20000)
    assert np.all(result.values >= 0) and np.all(result.values <= 1)

    def cost(x, y):
        return 0.5 * np.sum((basis @ x - y) ** 2) + penalty @ x

    for frame in range(observed.shape[0]):
        ours = result.values[frame].astype(np.float64)
        for _ in range(20):  # no feasible random step lowers the penalised cost
            trial = np.clip(ours + rng.normal(0, 0.02, 4), 0, 1)
            assert cost(ours, observed[frame]) <= cost(trial, observed[frame]) + 1e-6


def test_dependent_and_silent_channels_of_the_bundled_rigs():
    from facs_rig.core.solve import dependent_channels, silent_channels

    arkit = dict(dependent_channels(load_rig("arkit")))
    assert set(arkit) == {Channel(25), Channel(27)}
    assert dict(arkit[Channel(27)]) == {Channel(20, "L"): 0.3, Channel(20, "R"): 0.3,
                                        Channel(26): 1.429}
    assert dependent_channels(load_rig("metahuman")) == []
    assert silent_channels(load_rig("arkit")) == [Channel(8)]


def test_read_back_facts_name_what_a_solved_capture_reads_back_as(arkit):
    """`rig show`'s read-back facts come from the core (the CLI only prints them)."""
    from facs_rig.core.solve import read_back_facts

    facts = read_back_facts(arkit)
    assert list(facts) == ["read_back_as", "told_apart_by_prior", "nonlinear_in_solve",
                           "faded_in_solve"]
    read_as = {f["au"]: f["read_as"] for f in facts["read_back_as"]}
    assert len(read_as) == 20 and read_as["AU45_L"] == "AU43_L" and read_as["AU08"] == "nothing"
    assert read_as["AU01_L"] == read_as["AU01_R"] == "AU01"  # one browInnerUp for both brows
    assert {f["au"]: {m["au"]: m["times"] for m in f["mix"]}
            for f in facts["told_apart_by_prior"]}["AU27"] == {"AU20_L": 0.3, "AU20_R": 0.3,
                                                                "AU26": 1.429}
    assert facts["nonlinear_in_solve"] == []
    metahuman = read_back_facts(load_rig("metahuman"))["nonlinear_in_solve"]
    assert [(f["au"], f["targets"]) for f in metahuman] == [
        ("AU27", ["CTRL_expressions_jawOpenExtreme"])]
    assert metahuman[0]["knee"] == 0.5
    assert {m["au"]: m["times"] for m in metahuman[0]["below_knee_mix"]} == {
        "AU20_L": 0.3, "AU20_R": 0.3, "AU26": 1.429}


def test_below_the_knee_an_in_between_au_is_the_mix_the_solve_reads():
    """MetaHuman's 27 drives jawOpenExtreme through [[0, 0], [0.5, 0], [1, 1]]: up to 0.5 its
    other targets (jawOpen 1, mouthStretch 0.3) are 1.429 x 26 + 0.3 x 20, and a capture of 27C
    there is solved as that mix, which `rig show` now says (the fidelity round trip's 27 ->
    20+27 on metahuman)."""
    from facs_rig.core.solve import BlendshapeSolver, below_knee_mixes

    rig = load_rig("metahuman")
    ((channel, knee, terms),) = below_knee_mixes(rig)
    assert (channel, knee, dict(terms)) == (
        Channel(27), 0.5, {Channel(20, "L"): 0.3, Channel(20, "R"): 0.3, Channel(26): 1.429})
    # What that means for a solve: 27 at C (0.55) on the rig, solved back.
    solver = BlendshapeSolver.from_rig(rig)
    weights = np.zeros((1, len(solver.targets)), dtype=np.float32)
    for target, value in (("CTRL_expressions_jawOpen", 0.55), ("CTRL_expressions_jawOpenExtreme",
                                                               0.1),
                          ("CTRL_expressions_mouthStretchL", 0.165),
                          ("CTRL_expressions_mouthStretchR", 0.165)):
        weights[0, solver.targets.index(target)] = value
    solved = dict(zip(solver.channels, solver.solve(weights).values[0]))
    assert solved[Channel(20, "L")] > 0.05 and solved[Channel(26)] > 0.3
    assert solved[Channel(27)] < 0.2
    # The rigs without curves have no such AU; a curve rising from 0 has no knee.
    assert below_knee_mixes(load_rig("arkit")) == []
    raw = json.loads((Path(__file__).parents[1] / "rigs" / "metahuman.json").read_text(
        encoding="utf-8"))
    for entry in raw["action_units"]["AU27"]:
        if "curve" in entry:
            entry["curve"] = [[0, 0], [0.5, 0.2], [1, 1]]
    assert below_knee_mixes(rig_from_dict(raw)) == []


def _round_trip(rig_name: str, code: str) -> str:
    """``code`` held 1 s, mixed onto ``rig_name``, solved back with the bundled tracker
    profiles' priors and coded, as benchmarks/bench_fidelity.py's round trip does: the code of
    the segment in the middle of the hold, with its letters."""
    from facs_rig.core.curves import AUCurves
    from facs_rig.core.events import code_segments, extract_events
    from facs_rig.core.mixing import mix
    from facs_rig.core.notation import format_code
    from facs_rig.core.timeline import sample, timeline_from_code
    from facs_rig.io.captures.trackers import load_tracker
    from facs_rig.resources import load_vocabulary

    vocabulary = load_vocabulary()
    rig = load_rig(rig_name)
    solver = BlendshapeSolver.from_rig(rig, priors=load_tracker("generic").solve_priors)
    timeline = timeline_from_code(code, vocabulary, hold=1.0, fps=60.0)
    curves = sample(timeline, fps=60.0)
    solved = solver.solve(mix(curves, rig).weights)
    back = AUCurves(curves.times, solved.values, solver.channels, 60.0)
    segments = code_segments(extract_events(back, vocabulary.scale()), vocabulary)
    middle = 0.5 * timeline.duration
    return format_code(next(s for s in segments if s.start <= middle < s.end).code)


@pytest.mark.parametrize("rig_name", ["arkit", "metahuman", "unified"])
@pytest.mark.parametrize("code", ["6B+12B", "6C+12C", "6D+12D", "6E+12E", "happiness",
                                  "12C", "6C"])
def test_a_face_the_rig_made_reads_back_at_its_letters(rig_name, code):
    # Each letter drives the top of its band (facshuman: C = 0.55, band (0.20, 0.55]), so a
    # solve that reads a hair high reads the next letter. 6C+12C read 6C+12D on all three rigs:
    # the 6-with-12 prior (a reward, uncapped) raised AU12 to 0.567; and linearly, AU6 read
    # 0.46 (cheekSquint combines 6 and 12's 0.3 softly, 0.624 where the basis said 0.715), so
    # 6E+12E read 6D. Capping that prior at the sparsity's price and solving the soft targets
    # as the rig combines them reads every letter back.
    expected = {"happiness": "6C+12C"}.get(code, code)
    assert _round_trip(rig_name, code) == expected
