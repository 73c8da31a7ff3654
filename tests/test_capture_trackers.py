"""Tracker profiles (validated data files) and calibration from coded takes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.errors import FacsRigError
from facs_rig.io.captures.calibrate import CodedTake, coded_take, fit_mapping, pearson
from facs_rig.io.captures.trackers import (
    TRACKERS,
    TrackerProfileError,
    load_tracker,
    parse_tracker,
    tracker_document,
    tracker_for_format,
)


def test_bundled_profiles_load_with_sources_and_defaults_by_format():
    for name in TRACKERS:
        profile = load_tracker(name)
        assert profile.name == name and profile.sources
    assert tracker_for_format("livelinkface").name == "arkit"
    assert tracker_for_format("mediapipe").name == "mediapipe"
    assert tracker_for_format("pyfeat").name == "mediapipe"
    assert tracker_for_format("facecap").name == "facecap"
    assert tracker_for_format("openface").name == "openface"


def test_mediapipe_profile_marks_the_shapes_that_barely_move():
    profile = load_tracker("mediapipe")
    assert set(profile.dead_shapes) == {
        "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
        "mouthFrownLeft", "mouthFrownRight", "mouthStretchLeft", "mouthStretchRight",
        "mouthFunnel", "mouthLeft", "mouthRight", "cheekPuff", "jawForward", "jawLeft",
        "jawRight"}
    # Small shapes that move beyond rounding are live; no gain is measured (the clips never
    # reach most shapes' full pose: read on ARKit's scale).
    for shape, high in (("eyeWideLeft", 0.039), ("mouthShrugLower", 0.0443),
                        ("browDownLeft", 0.0316), ("jawOpen", 0.3602)):
        assert shape not in profile.dead_shapes
        assert profile.shapes[shape]["range"][1] == high and profile.gain(shape) == 1.0
        assert "gain" not in profile.shapes[shape]
    mapping = profile.mapping
    # AUs whose every shape is dead on MediaPipe (noseSneer, mouthFrown) or that no ARKit shape
    # expresses (AU11) are not read: no weight, no r.
    unread = {9, 11, 15, 20}
    for column, channel in enumerate(mapping.channels):
        assert (not mapping.weights[:, column].any()) == (channel.au in unread), channel
        assert (channel in mapping.held_out_r) == (channel.au not in unread | {8, 18}), channel
    # No mapped AU uses a shape the profile declares dead.
    used = {s for row, s in enumerate(mapping.shapes) if mapping.weights[row].any()}
    assert not used & set(profile.dead_shapes)


def test_shapes_are_measured_live_by_movement_beyond_rounding_and_noise():
    from facs_rig.io.captures.trackers import measure_shapes

    frames = np.arange(200)
    ramp = 0.5 - 0.5 * np.cos(2 * np.pi * frames / 100)  # smooth, 0-1, two cycles
    noise = np.random.default_rng(7).normal(0.0, 0.02, 200)
    columns = np.stack([np.zeros(200), 0.04 * ramp, 0.019 * ramp, 0.5 + noise,
                        0.5 + noise + 0.4 * ramp], axis=1)
    names = ("noseSneerLeft", "eyeWideLeft", "mouthFrownLeft", "jawOpen", "browInnerUp")
    facts = measure_shapes(names, [columns[:120], columns[120:]])
    assert facts["noseSneerLeft"] == {"live": False, "range": [0.0, 0.0]}
    # 0.04 at most but smooth: live; no gain measured (its typical high need not be its pose).
    assert facts["eyeWideLeft"]["live"] and facts["eyeWideLeft"]["range"][0] == 0.0
    high = facts["eyeWideLeft"]["range"][1]
    assert 0.039 < high <= 0.04 and "gain" not in facts["eyeWideLeft"]
    assert facts["mouthFrownLeft"]["live"] is False  # 0.019: under five 8-bit steps
    assert "gain" not in facts["mouthFrownLeft"]
    assert facts["jawOpen"]["live"] is False  # jitter of 0.02 only: range ~4.7 noise SDs
    assert facts["browInnerUp"]["live"] is True  # the same jitter over a real movement


def test_document_round_trips():
    profile = load_tracker("mediapipe")
    again = parse_tracker(json.loads(json.dumps(tracker_document(profile))), "again")
    assert again.mapping.channels == profile.mapping.channels
    assert again.mapping.event_fractions == profile.mapping.event_fractions == (0.5, 0.85)
    assert again.relations == profile.relations and len(profile.relations) == 4
    assert again.mapping.method == profile.mapping.method
    assert "chosen among 8 by 10-fold by take" in profile.mapping.method
    np.testing.assert_allclose(again.mapping.weights, profile.mapping.weights, atol=1e-6)
    assert again.shapes == profile.shapes
    assert again.solve_priors == profile.solve_priors


def test_bundled_profiles_carry_the_solve_priors_with_sources():
    # The openface profile has no blendshapes to solve: it sets code's event thresholds.
    for name in (name for name in TRACKERS if name != "openface"):
        priors = load_tracker(name).solve_priors
        assert priors.sparsity == 0.01
        assert {(p.first, p.second, p.kind) for p in priors.pairs} == {
            (6, 12, "together"), (1, 4, "against")}
        assert all("Ekman" in p.source for p in priors.pairs)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=2), r"\$\.version: version 2 is not supported"),
    (lambda d: d.update(colour=1), r"\$\.colour: unknown key"),
    (lambda d: d["shapes"]["jawOpen"].update(range=[0.5, 0.1]), r"\$\.shapes\.jawOpen\.range: low"),
    (lambda d: d["shapes"].update(noSuchShape={}), r"\$\.shapes\.noSuchShape: 'noSuchShape' is not"),
    (lambda d: d["mapping"]["aus"]["AU12"]["weights"].update(jawOpen="x"),
     r"\$\.mapping\.aus\.AU12\.weights\.jawOpen: expected a number, got str"),
    (lambda d: d["mapping"]["aus"].update(AUX={}), r"\$\.mapping\.aus\.AUX: 'AUX' is not an AU key"),
    (lambda d: d["capture_formats"].append("bvh"), r"\$\.capture_formats\[2\]: 'bvh'"),
    (lambda d: d.update(sources=[]), r"\$\.sources: a tracker profile needs at least one source"),
    (lambda d: d["mapping"]["aus"]["AU4"].update(range=[0.2, 0.1]),
     r"\$\.mapping\.aus\.AU4\.range: low is above high"),
    (lambda d: d["solve"].update(sparsity=2), r"\$\.solve\.sparsity: 2\.0 is outside 0\.\.1"),
    (lambda d: d["solve"]["pairs"][0].update(kind="with"),
     r"\$\.solve\.pairs\[0\]\.kind: 'with' is not 'together' or 'against'"),
    (lambda d: d["solve"]["pairs"][1].update(aus=[4, 4]),
     r"\$\.solve\.pairs\[1\]\.aus: expected two different whole AU numbers"),
    (lambda d: d["solve"]["pairs"][0].pop("source"),
     r"\$\.solve\.pairs\[0\]\.source: expected a string"),
    (lambda d: d["mapping"]["events"].update(on=1.5), r"\$\.mapping\.events\.on: 1\.5 is outside 0\.\.1"),
    (lambda d: d["mapping"]["events"].update(start=0.2),
     r"\$\.mapping\.events\.start: unknown key \(known: on, off\)"),
    (lambda d: d["mapping"].update(events=[0.3, 0.7]), r"\$\.mapping\.events: expected an object"),
    (lambda d: d["mapping"]["aus"]["AU12"]["weights"].update(jawOpen=2000),
     r"\$\.mapping\.aus\.AU12\.weights\.jawOpen: 2000\.0 is outside -1000\.\.1000"),
    (lambda d: d["relations"][0].update(au=61),
     r"\$\.relations\[0\]\.au: expected a facial AU number 1-49, got 61"),
    (lambda d: d["relations"][1].update(shapes=["mouthPresLeft"]),
     r"\$\.relations\[1\]\.shapes\[0\]: 'mouthPresLeft' is not"),
    (lambda d: d["relations"][1].update(shapes=[]), r"\$\.relations\[1\]\.shapes: expected at least"),
    (lambda d: d["relations"][2].update(kind="for"),
     r"\$\.relations\[2\]\.kind: 'for' is not 'drives' or 'against'"),
    (lambda d: d["relations"][3].update(source=" "),
     r"\$\.relations\[3\]\.source: a relation needs its source"),
    (lambda d: d["relations"][0].update(weight=0), r"\$\.relations\[0\]\.weight: expected a weight"),
    (lambda d: d["relations"][0].update(gain=1), r"\$\.relations\[0\]\.gain: unknown key"),
    (lambda d: d.update(relations={}), r"\$\.relations: expected a list"),
])
def test_bad_profiles_name_file_and_json_path(tmp_path, change, message):
    document = tracker_document(load_tracker("mediapipe"))
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TrackerProfileError, match="bad.json: " + message):
        load_tracker(path)


def test_unknown_tracker_name_is_one_error_line(capsys):
    path = shared_asset("captures/livelinkface/S07-001.csv")
    assert main(["code", str(path), "--tracker", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("facs-rig: error: nosuch: no such tracker profile") and err.count("\n") == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20).map(json.dumps)))
def test_profile_parser_parses_or_refuses(tmp_path, text):
    path = tmp_path / "fuzz.json"
    path.write_text(text)
    try:
        load_tracker(path)
    except FacsRigError:
        pass


def _synthetic_takes(n_takes: int = 4) -> list[CodedTake]:
    rng = np.random.default_rng(3)
    shapes = ("browInnerUp", "jawOpen", "mouthSmileLeft", "mouthSmileRight")
    takes = []
    for k in range(n_takes):
        x = rng.uniform(0, 1, (60, 4))
        coded = np.stack([0.1 + 0.8 * x[:, 0], 0.5 * (x[:, 2] + x[:, 3])], axis=1)
        takes.append(CodedTake(f"take{k}", shapes, x, (Channel(1), Channel(12)), coded))
    return takes


def test_fit_recovers_a_known_non_negative_mapping_on_held_out_takes():
    calibration = fit_mapping(_synthetic_takes(), ridge=1e-6)
    assert calibration.folds == 4
    assert calibration.held_out_r[Channel(1)] > 0.999
    assert calibration.held_out_r[Channel(12)] > 0.999
    mapping = calibration.mapping
    assert np.all(mapping.weights >= 0)
    weights = dict(zip(mapping.shapes, mapping.weights[:, 0]))
    assert weights["browInnerUp"] == pytest.approx(0.8, abs=1e-3)
    assert weights.get("jawOpen", 0.0) == 0.0  # sparse: a shape unrelated to AU1 gets no weight
    assert mapping.intercept[0] == pytest.approx(0.1, abs=1e-3)
    # The AU's typical range: 1st and 99th percentile of the mapping's output on the takes
    # (which leaves out a positive intercept, the coding's floor: AUMapping.apply).
    output = np.concatenate([0.8 * t.blendshapes[:, 0] for t in _synthetic_takes()])
    low, high = mapping.ranges[Channel(1)]
    assert low == pytest.approx(np.percentile(output, 1), abs=2e-3)
    assert high == pytest.approx(np.percentile(output, 99), abs=2e-3)


def test_fit_needs_two_takes():
    with pytest.raises(ValueError, match="at least two coded takes"):
        fit_mapping(_synthetic_takes(1))


def test_pearson_ignores_non_finite_frames_and_flat_series():
    assert pearson(np.array([0, 1, 2, np.nan]), np.array([0, 2, 4, 9.0])) == pytest.approx(1.0)
    assert np.isnan(pearson(np.ones(5), np.arange(5.0)))


def test_calibrate_cli_on_real_pyfeat_clips_writes_a_usable_profile(tmp_path, capsys):
    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3, 4)]
    out = tmp_path / "studio.json"
    assert main(["calibrate", *clips, "--coded", *clips, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out r per AU (4-fold by take, frames pooled)" in printed
    profile = load_tracker(out)
    assert profile.mapping is not None and profile.capture_formats == ("mediapipe", "pyfeat")
    stored = profile.mapping.held_out_r[Channel(1)]
    assert f"AU01     {stored:6.3f}" in printed
    on, off = profile.mapping.event_fractions
    assert printed.splitlines()[-2] == (
        f"penalty: {profile.mapping.method.split(', ')[1]} (chosen by 4-fold by take); in the "
        f"held-out fits, the penalty chosen again inside each fold; code's events start {on:g} "
        f"of the way from each AU's low to its high and end at {off:g} of that rise (chosen by "
        f"4-fold by take)")
    assert main(["code", clips[0], "--source", "blendshapes", "--tracker", str(out)]) == 0
    # A named profile is used on a Py-Feat take without --source: the blendshapes go through it
    # (auto alone reads the detector's own AUs, which would leave the profile silently unused).
    held_out = str(shared_asset("captures/pyfeat/005.csv"))
    outputs = {}
    for label, extra in (("detector", []), ("profile", ["--tracker", str(out)]),
                         ("profile, explicit", ["--tracker", str(out), "--source", "blendshapes"])):
        outputs[label] = tmp_path / f"{len(outputs)}.csv"
        assert main(["retarget", held_out, "-o", str(outputs[label]), *extra]) == 0
    capsys.readouterr()
    assert outputs["profile"].read_bytes() == outputs["profile, explicit"].read_bytes()
    assert outputs["profile"].read_bytes() != outputs["detector"].read_bytes()


def test_calibrate_tracker_assembles_the_profile_the_cli_writes(tmp_path):
    """The profile assembly is library work (the CLI only checks its options and prints)."""
    from facs_rig.io.captures.calibrate import calibrate_tracker, write_tracker_profile

    clips = [str(shared_asset(f"captures/pyfeat/{i:03d}.csv")) for i in (1, 2, 3)]
    profile, calibration = calibrate_tracker(clips, clips, name="studio", folds=3)
    base = load_tracker("mediapipe")
    assert calibration.folds == 3 and profile.mapping is calibration.mapping
    assert profile.name == "studio" and profile.shapes == base.shapes
    assert profile.description == "mediapipe calibrated on 3 coded takes by facs-rig calibrate"
    assert profile.sources == base.sources + (
        "mapping fitted on 001.csv, 002.csv, 003.csv coded by 001.csv, 002.csv, 003.csv; "
        "held_out_r is 3-fold by take",)
    write_tracker_profile(profile, tmp_path / "studio.json")
    again = load_tracker(tmp_path / "studio.json")
    assert again.name == "studio" and again.sources == profile.sources
    assert again.mapping.held_out_r == pytest.approx(
        {c: round(r, 4) for c, r in calibration.held_out_r.items() if np.isfinite(r)})
    assert again.relations == base.relations


def test_calibrate_refuses_mismatched_codings(capsys):
    clip = str(shared_asset("captures/pyfeat/001.csv"))
    assert main(["calibrate", clip, clip, "--coded", clip, "-o", "x.json"]) == 2
    assert "2 captures but 1 codings" in capsys.readouterr().err


def test_coded_take_pairs_frames_and_refuses_captures_without_blendshapes():
    clip = shared_asset("captures/pyfeat/001.csv")
    take = coded_take(clip, clip)
    assert take.blendshapes.shape[0] == take.coded.shape[0] == 20
    openface = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    with pytest.raises(FacsRigError, match="has no blendshapes to calibrate"):
        coded_take(openface, openface)


def test_short_take_keeps_its_signal_with_the_automatic_neutral():
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, capture_curves

    capture = read_capture(shared_asset("captures/pyfeat/001.csv"))
    auto = capture_curves(capture, CleaningOptions(neutral="auto"), source="blendshapes").curves
    none = capture_curves(capture, CleaningOptions(neutral="none"), source="blendshapes").curves
    np.testing.assert_array_equal(auto.values, none.values)


def test_a_tracker_profile_path_without_a_size_is_not_read():
    # /dev/zero reports size 0 and never ends: a size check before read() let it fill memory;
    # read bounded, it was "more than ... too large"; a device is now refused before it is opened
    # (a named pipe, which reports size 0 too, blocked the open forever).
    with pytest.raises(FacsRigError, match=r"^/dev/zero: not a regular file \(a character device\)$"):
        load_tracker("/dev/zero")


def test_a_capture_over_the_limit_is_refused_naming_it(tmp_path, monkeypatch):
    import facs_rig.io.captures._table as table
    from facs_rig.io.captures import read_capture

    monkeypatch.setattr(table, "MAX_CAPTURE_BYTES", 1000)
    path = tmp_path / "long.csv"
    path.write_text(shared_asset("captures/facecap/facecap_animation_weights.csv").read_text())
    with pytest.raises(FacsRigError, match="long.csv: more than 1,000 bytes is too large for a capture"):
        read_capture(path)


def test_each_au_is_fitted_on_its_own_live_shapes_only():
    """The FACS structure (rigs/arkit.json + the profile's relations, live shapes only)."""
    from facs_rig.io.captures.calibrate import au_structure

    profile = load_tracker("mediapipe")
    shapes = tuple(profile.shapes)
    channels = tuple(Channel(au) for au in (1, 4, 5, 6, 7, 12, 23, 25)) + (Channel(12, "L"),)
    structure = au_structure(profile, shapes, channels)

    def own(channel, sign=1):
        column = channels.index(channel)
        return {s for k, s in enumerate(shapes) if structure.support[k, column] == sign}

    assert own(Channel(12)) == {"mouthSmileLeft", "mouthSmileRight"}  # cheekSquint: not live
    assert own(Channel(12, "L")) == {"mouthSmileLeft"}
    assert own(Channel(7)) == {"eyeSquintLeft", "eyeSquintRight"}  # never eyeWide (AU5)
    # eyeWide moves little on MediaPipe (0.039 at most) but beyond rounding: live, AU5's.
    assert own(Channel(5)) == {"eyeWideLeft", "eyeWideRight"}
    assert own(Channel(4)) == {"browDownLeft", "browDownRight"}
    assert own(Channel(4), -1) == {"browInnerUp", "browOuterUpLeft", "browOuterUpRight"}
    assert own(Channel(23)) == {"mouthPressLeft", "mouthPressRight"}
    assert own(Channel(25)) == {"jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight"}
    assert own(Channel(25), -1) == {"mouthClose"}
    # The pose: the rig's (AU6: eyeSquint 0.25 on arkit, 1 by MediaPipe's relation) divided
    # by the shape's gain on the tracker (none measured on the bundled profiles: ARKit's
    # scale); and the ties.
    six, twelve = channels.index(Channel(6)), channels.index(Channel(12))
    five = channels.index(Channel(5))
    assert profile.gain("eyeSquintLeft") == 1.0 and profile.gain("eyeWideRight") == 1.0
    assert structure.pose[shapes.index("eyeSquintLeft"), six] == 1.0
    assert structure.pose[shapes.index("eyeWideRight"), five] == 1.0
    assert load_tracker("arkit").gain("eyeWideRight") == 1.0
    # A gain a profile gives (measured on a range-of-motion take) divides the pose.
    document = tracker_document(profile)
    document["shapes"]["eyeWideRight"]["gain"] = 25.0
    gained = parse_tracker(document, "gained")
    assert au_structure(gained, shapes, channels).pose[shapes.index("eyeWideRight"), five] == \
        1.0 / 25.0
    assert structure.tied[shapes.index("mouthSmileLeft"), twelve] == \
        structure.tied[shapes.index("mouthSmileRight"), twelve] >= 0


def test_the_structured_fit_is_the_stacked_bounded_fit_on_each_aus_own_shapes():
    """Per AU: lsq_linear on the frames' own-shape columns (Left + Right summed, an antagonist
    negated), bounds >= 0, ridge rows; then scaled so the rig's pose reads 1, the intercept's
    part below 0 kept; an AU the fit gives no weight keeps the rig's reading; an AU read beyond
    its rest (calibrate.read_beyond_rest: AU4 here) has that rest subtracted too."""
    from scipy.optimize import lsq_linear

    from facs_rig.io.captures.calibrate import au_structure

    clips = [shared_asset(f"captures/pyfeat/{i:03d}.csv") for i in range(1, 6)]
    takes = [coded_take(c, c) for c in clips]
    profile = load_tracker("mediapipe")
    ridge = 0.002
    calibration = fit_mapping(takes, ridge=ridge, tracker=profile, score=False)
    mapping = calibration.mapping
    # "AU04: read beyond its rest 0.056 (...)": the rest subtracted, to three decimals.
    rests = {line.split(":")[0]: float(line.split("its rest ")[1].split()[0])
             for line in calibration.beyond_rest}
    assert list(rests) == ["AU04"]
    shapes = takes[0].shapes
    structure = au_structure(profile, shapes, mapping.channels)
    x = np.concatenate([t.blendshapes for t in takes])
    checked = 0
    for column, channel in enumerate(mapping.channels):
        y = np.concatenate([t.coded[:, t.channels.index(channel)] for t in takes])
        used = np.flatnonzero(structure.support[:, column])
        expected = np.zeros(len(shapes))
        intercept = 0.0
        if used.size:
            groups = structure.tied[used, column]
            combine = np.zeros((used.size, groups.max() + 1))
            combine[np.arange(used.size), groups] = structure.support[used, column]
            ok = np.isfinite(y)
            frames = x[ok][:, used] @ combine
            centred = frames - frames.mean(axis=0)
            system = np.vstack([centred, np.sqrt(ridge * ok.sum()) * np.sqrt(
                np.diag(combine.T ** 2 @ np.ones(used.size)))])
            rhs = np.concatenate([y[ok] - y[ok].mean(), np.zeros(combine.shape[1])])
            solution = lsq_linear(system, rhs, bounds=(0.0, np.inf), method="bvls").x
            expected[used] = combine @ solution
            expected[np.abs(expected) < 1e-4] = 0.0
            pose = structure.pose[:, column]
            full = expected @ pose
            if full > 1e-9:
                rest = y[ok].mean() - x[ok].mean(axis=0) @ expected
                expected, intercept = expected / full, min(rest / full, 0.0)
                checked += 1
            else:
                expected = pose / (pose @ pose)
        fitted = np.zeros(len(shapes))
        for row, shape in enumerate(mapping.shapes):
            fitted[shapes.index(shape)] = mapping.weights[row, column]
        np.testing.assert_allclose(fitted, expected, rtol=0, atol=1e-7, err_msg=channel.name)
        intercept = round(intercept - rests[channel.name], 6) if channel.name in rests \
            else intercept
        assert mapping.intercept[column] == pytest.approx(intercept, abs=1e-7), channel.name
    assert checked >= 8


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=st.dictionaries(
    st.sampled_from(["au", "shapes", "kind", "weight", "source", "x"]),
    st.one_of(st.integers(-5, 70), st.floats(allow_nan=True), st.booleans(), st.none(),
              st.sampled_from(["drives", "against", "mouthPucker", ""]),
              st.lists(st.sampled_from(["jawOpen", "mouthPucker", "nope", ""]), max_size=3)),
    max_size=6))
def test_a_relation_parses_or_is_refused_by_path(entry):
    document = tracker_document(load_tracker("mediapipe"))
    document["relations"] = [entry]
    try:
        profile = parse_tracker(document, "fuzz.json")
    except TrackerProfileError as error:
        assert str(error).startswith("fuzz.json: $.relations[0]")
        return
    relation, = profile.relations
    assert 1 <= relation.au <= 49 and relation.kind in ("drives", "against")
    assert relation.shapes and relation.source.strip() and 0 < relation.weight <= 1
