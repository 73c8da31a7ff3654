"""The mixer's semantics, with numbers: sides, combine modes, chains, correctives, suppress, clamp."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.core.channels import Channel
from facs_rig.core.curves import AUCurves
from facs_rig.core.mixing import explain, mix, mix_array, mix_frame
from facs_rig.core.naming import normalize_target_name
from facs_rig.core.rig import RigProfile, rig_from_dict
from facs_rig.errors import RigError
from facs_rig.io.rig_files import load_rig

BUNDLED = sorted(path.stem for path in (REPO / "rigs").glob("*.json"))


def channel_values(vocabulary, code: str) -> dict[Channel, float]:
    """The channel values of a code, or of several joined by ``&``: channels a capture or a
    curves file can hold at once though no one code scores them (26 and 27, 5 and 43E are FACS
    alternatives, refused together by the parser), which the rig's rules must still mix."""
    values: dict[Channel, float] = {}
    for part in code.split("&"):
        values.update(vocabulary.channel_values(vocabulary.parse(part)))
    return values


def frame(vocabulary, code: str, rig: RigProfile) -> dict[str, float]:
    weights = mix_frame(channel_values(vocabulary, code), rig)
    return dict(zip(rig.targets, weights.tolist()))


def tiny(**overrides) -> RigProfile:
    data = {
        "schema": "facs_rig.rig/1", "name": "tiny",
        "targets": ["a", "b", "c", "d"],
        "combine": {"default": "sum"},
        "action_units": {
            "AU01": [{"target": "a", "weight": 0.5}],
            "AU02": [{"target": "a", "weight": 0.75}, {"target": "b", "weight": 1.0}],
        },
        "rules": [],
    }
    data.update(overrides)
    return rig_from_dict(data)


def values(**aus: float) -> dict[Channel, float]:
    return {Channel(int(name[2:])): v for name, v in aus.items()}


# --------------------------------------------------------------------------------------------
# the semantics, on the bundled profiles


@pytest.mark.parametrize("name, target", [("arkit", "jawOpen"), ("metahuman", "CTRL_expressions_jawOpen"),
                                          ("unified", "JawOpen"), ("facs", "AU26")])
@pytest.mark.parametrize("letter", ["", "A", "C", "E"])
def test_26_plus_27_opens_the_jaw_as_27_alone(vocabulary, name, target, letter):
    rig = load_rig(name)
    both = frame(vocabulary, f"26{letter} & 27{letter}", rig)
    alone = frame(vocabulary, f"27{letter}", rig)
    assert both[target] == alone[target] > 0
    # 26 also closes the lips while 25 and 27 are absent (its entries ``without`` them), and
    # 27 at any letter from its trace on takes that away (without_full_at 0.1: the mouth
    # stretched open parts the lips), so 26 beside 27 is exactly 27 at every letter, lips too
    # (a fade by 1 - 27 left 26C+27C 0.7 x 0.55 x 0.45 of closure).
    lips = {m.target: m.weight for m in rig.mappings_of(26) if m.without}
    assert lips
    for name_ in lips:
        assert both[name_] == alone[name_] == 0.0
    assert both == alone


@pytest.mark.parametrize("name, targets", [("arkit", ("eyeWideLeft", "eyeWideRight")),
                                           ("facs", ("AU05_L", "AU05_R")),
                                           ("metahuman", ("CTRL_expressions_eyeWidenL",
                                                          "CTRL_expressions_eyeWidenR")),
                                           ("unified", ("EyeWideLeft", "EyeWideRight"))])
def test_closed_lids_cancel_the_upper_lid_raiser(vocabulary, name, targets):
    rig = load_rig(name)
    closed = frame(vocabulary, "43E & 5E", rig)
    assert all(closed[t] == pytest.approx(0.0, abs=1e-6) for t in targets)
    assert all(frame(vocabulary, "5E", rig)[t] == 1.0 for t in targets)


@pytest.mark.parametrize("name", BUNDLED)
def test_6E_12E_keeps_every_target_within_one(vocabulary, name):
    rig = load_rig(name)
    weights = frame(vocabulary, "6E+12E", rig)
    assert max(weights.values()) <= 1.0
    if name == "arkit":
        assert weights["cheekSquintLeft"] == weights["cheekSquintRight"] == 1.0
        assert weights["mouthSmileLeft"] == 1.0


@pytest.mark.parametrize("name", BUNDLED)
def test_right_side_code_moves_no_left_target(vocabulary, name):
    rig = load_rig(name)
    weights = frame(vocabulary, "R12A+R14A", rig)
    moved = {t for t, w in weights.items() if w != 0}
    assert moved, "R12A+R14A moved nothing"
    assert not [t for t in moved if normalize_target_name(t).endswith("_left")]


def test_left_smile_on_arkit_and_bilateral_brow(vocabulary):
    rig = load_rig("arkit")
    left = frame(vocabulary, "L12E", rig)
    assert left["mouthSmileLeft"] == 1.0 and left["mouthSmileRight"] == 0.0
    # ARKit's browInnerUp has no sides: AU1, L1 and R1 all drive it (landscape.md §5.1).
    for code in ("1E", "L1E", "R1E"):
        assert frame(vocabulary, code, rig)["browInnerUp"] == 1.0


@given(a=st.floats(0, 1), b=st.floats(0, 1))
def test_a_corrective_is_the_product_of_its_drivers_times_its_weight(a, b):
    rig = load_rig("facs")
    weights = mix_frame({Channel(6, "L"): a, Channel(12): b}, rig)
    rule = next(r for r in rig.rules if getattr(r, "target", None) == "AU06_AU12_L")
    assert weights[rig.target_index("AU06_AU12_L")] == pytest.approx(rule.weight * a * b, abs=1e-6)
    assert weights[rig.target_index("AU06_AU12_R")] == 0.0  # R reads max(AU06, AU06_R) = 0


def test_riglogic_corrective_numbers():
    # RigLogic PSD (landscape.md §2.6): inputs 0.1 and 0.2 with weight 12 -> 0.24; 40 -> 0.8;
    # weight 100 on 0.1 x 0.2 -> 2.0, clamped to 1.
    for weight, expected in ((12, 0.24), (40, 0.8), (100, 1.0)):
        rig = tiny(rules=[{"rule": "corrective", "target": "c", "aus": ["AU01", "AU02"],
                           "weight": weight}])
        assert mix_frame(values(AU01=0.1, AU02=0.2), rig)[2] == pytest.approx(expected, rel=1e-5)


def _primary_targets(rig: RigProfile) -> dict[int, set[str]]:
    primary = {}
    for au in rig.mapped_aus:
        entries = rig.mappings_of(au)
        top = max(m.weight for m in entries)
        primary[au] = {m.target for m in entries if m.weight == top}
    return primary


@pytest.mark.parametrize("name", BUNDLED)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_raising_an_au_never_lowers_its_own_primary_target(name, data):
    rig = load_rig(name)
    primary = _primary_targets(rig)
    au = data.draw(st.sampled_from(sorted(primary)))
    background = {channel: data.draw(st.floats(0, 1)) for channel in
                  data.draw(st.lists(st.sampled_from(rig.channels), max_size=8, unique=True))}
    channel = data.draw(st.sampled_from([c for c in rig.channels if c.au == au]))
    low = data.draw(st.floats(0, 1))
    high = data.draw(st.floats(low, 1))
    before = mix_frame({**background, channel: low}, rig)
    after = mix_frame({**background, channel: high}, rig)
    for target in primary[au]:
        i = rig.target_index(target)
        if channel.side and normalize_target_name(target).endswith(
                "_right" if channel.side == "L" else "_left"):
            continue  # a sided channel does not drive the other side's primary target
        assert after[i] >= before[i] - 1e-6, (target, channel, low, high)


@pytest.mark.parametrize("name", BUNDLED)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_no_output_outside_the_range(name, data):
    rig = load_rig(name)
    chosen = data.draw(st.lists(st.sampled_from(rig.channels), max_size=20, unique=True))
    frame_values = {c: data.draw(st.floats(-2, 3) | st.just(float("nan"))) for c in chosen}
    weights = mix_frame(frame_values, rig)
    low = np.array([r[0] for r in rig.ranges], dtype=np.float32)
    high = np.array([r[1] for r in rig.ranges], dtype=np.float32)
    assert weights.dtype == np.float32 and weights.shape == (len(rig.targets),)
    assert np.all(weights >= low) and np.all(weights <= high)


@pytest.mark.parametrize("name", BUNDLED)
def test_every_mapped_au_reaches_a_target(name, vocabulary):
    rig = load_rig(name)
    for au in rig.mapped_aus:
        channel = Channel(au)
        # Some shapes only show in context (ARKit mouthClose needs an open jaw with the lips
        # parted, 8+25+26: 26 without 25 closes them already): try a few.
        contexts = [{}, {Channel(26): 0.6}, {Channel(25): 0.6, Channel(26): 0.6},
                    {Channel(1): 0.6, Channel(4): 0.6, Channel(15): 0.6}]
        assert any(np.any(mix_frame({**ctx, channel: 1.0}, rig) != mix_frame(ctx, rig))
                   for ctx in contexts), f"AU{au} drives nothing on {name}"


@pytest.mark.parametrize("name", BUNDLED)
def test_bulk_mix_equals_frame_by_frame(name):
    rig = load_rig(name)
    rng = np.random.default_rng(7)
    channels = rig.channels
    dense = rng.random((50, len(channels)), dtype=np.float32)
    dense[dense < 0.5] = 0.0  # sparse, like real codes
    curves = AUCurves(np.arange(50) / 30.0, dense, channels, fps=30.0)
    mixed = mix(curves, rig)
    assert mixed.weights.shape == (50, len(rig.targets)) and mixed.weights.dtype == np.float32
    assert mixed.names == rig.targets and mixed.fps == 30.0
    for i in range(50):
        expected = mix_frame(dict(zip(channels, dense[i].tolist())), rig)
        np.testing.assert_allclose(mixed.weights[i], expected, atol=1e-6)


def test_channel_order_and_unknown_channels_do_not_matter():
    rig = load_rig("arkit")
    a = np.array([[0.3, 0.8, 0.5]], dtype=np.float32)
    forward = mix_array(a, (Channel(12, "L"), Channel(26), Channel(11)), rig)
    backward = mix_array(a[:, ::-1], (Channel(11), Channel(26), Channel(12, "L")), rig)
    np.testing.assert_array_equal(forward, backward)
    curves = AUCurves(np.zeros(1), a, (Channel(12, "L"), Channel(26), Channel(11)))
    assert mix(curves, rig).metadata["unshown_channels"] == ("AU11",)


def test_bilateral_and_sided_channels_of_one_au_take_the_maximum():
    rig = load_rig("arkit")
    a = np.array([[0.2, 0.7, 0.4]], dtype=np.float32)
    out = mix_array(a, (Channel(12), Channel(12, "L"), Channel(12, "R")), rig)[0]
    assert out[rig.target_index("mouthSmileLeft")] == pytest.approx(0.7)
    assert out[rig.target_index("mouthSmileRight")] == pytest.approx(0.4)


def test_nan_and_out_of_range_inputs_are_clipped():
    rig = tiny()
    out = mix_array(np.array([[np.nan, 2.0], [-1.0, 0.5]], np.float32), (Channel(1), Channel(2)), rig)
    np.testing.assert_allclose(out, [[0.75, 1.0, 0, 0], [0.375, 0.5, 0, 0]])
    assert mix_frame({Channel(1): float("nan"), Channel(2): 5.0}, rig)[1] == 1.0


def test_wrong_shapes_and_non_profiles_are_rig_errors():
    with pytest.raises(RigError, match="shape"):
        mix_array(np.zeros((3, 2)), (Channel(1),), tiny())
    with pytest.raises(RigError, match="RigProfile"):
        mix_frame({}, "arkit")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# each mechanism on a tiny profile, with exact numbers


def test_combine_modes():
    both = values(AU01=0.8, AU02=0.8)  # contributions to a: 0.4 and 0.6
    assert mix_frame(both, tiny())[0] == pytest.approx(1.0)                 # 0.4 + 0.6 clamped
    assert mix_frame(values(AU01=0.4, AU02=0.4), tiny())[0] == pytest.approx(0.5)
    assert mix_frame(both, tiny(combine={"default": "max"}))[0] == pytest.approx(0.6)
    assert mix_frame(both, tiny(combine={"default": "sum", "a": "soft"}))[0] == \
        pytest.approx(1 - 0.6 * 0.4)


def test_response_curve_in_between():
    rig = tiny(action_units={"AU01": [{"target": "a", "weight": 0.5,
                                       "curve": [[0, 0], [0.5, 1], [1, 0]]}]})
    got = [float(mix_frame(values(AU01=x), rig)[0]) for x in (0, 0.25, 0.5, 0.75, 1)]
    assert got == pytest.approx([0, 0.25, 0.5, 0.25, 0])


def test_exclusive_chain_keeps_the_largest_contribution_per_target():
    rig = tiny(combine={"default": "sum"}, action_units={
        "AU25": [{"target": "a", "weight": 0.2}, {"target": "c", "weight": 1.0}],
        "AU26": [{"target": "a", "weight": 0.6}, {"target": "b", "weight": 1.0}],
        "AU27": [{"target": "a", "weight": 1.0}]},
        rules=[{"rule": "exclusive", "chain": ["AU25", "AU26", "AU27"]}])
    out = mix_frame(values(AU25=1, AU26=0.5, AU27=0.2), rig)
    # a: max(0.2, 0.3, 0.2) = 0.3, not 0.7; b and c are driven by one member only.
    assert out.tolist() == pytest.approx([0.3, 0.5, 1.0, 0.0])


def test_suppress_by_au_and_by_target_read_values_before_any_suppression():
    rig = tiny(action_units={"AU01": [{"target": "a"}], "AU02": [{"target": "b"}],
                             "AU04": [{"target": "c"}]},
               rules=[{"rule": "suppress", "target": "a", "by_target": "b", "k": 0.5},
                      {"rule": "suppress", "target": "b", "by_au": "AU04", "k": 1.0},
                      {"rule": "suppress", "target": "a", "by_au": "AU04", "k": 0.5}])
    out = mix_frame(values(AU01=1, AU02=0.8, AU04=0.5), rig)
    # a = 1 * (1 - 0.5*0.8) * (1 - 0.5*0.5) = 0.45; b = 0.8 * (1 - 0.5) = 0.4
    assert out.tolist() == pytest.approx([0.45, 0.4, 0.5, 0.0])


def test_clamp_caps_a_target_by_another():
    rig = tiny(action_units={"AU08": [{"target": "a"}], "AU26": [{"target": "b", "weight": 0.7}]},
               rules=[{"rule": "clamp", "target": "a", "max_target": "b"}])
    assert mix_frame(values(AU08=1.0, AU26=0.5), rig).tolist()[:2] == pytest.approx([0.35, 0.35])
    assert mix_frame(values(AU08=0.2, AU26=0.5), rig).tolist()[:2] == pytest.approx([0.2, 0.35])
    assert mix_frame(values(AU08=1.0), rig)[0] == 0.0


def test_corrective_reading_targets_and_other_correctives():
    rig = tiny(rules=[
        {"rule": "corrective", "target": "d", "targets": ["c", "b"], "weight": 2.0},
        {"rule": "corrective", "target": "c", "aus": ["AU01"], "targets": ["a"]}])
    out = mix_frame(values(AU01=0.5, AU02=0.4), rig)
    a = 0.5 * 0.5 + 0.75 * 0.4
    c = 0.5 * a
    assert out.tolist() == pytest.approx([a, 0.4, c, 2 * c * 0.4])


def test_declared_ranges_map_zero_to_one_onto_them():
    rig = tiny(range=[0, 100], target_ranges={"b": [-1, 1]})
    out = mix_frame(values(AU02=0.5), rig)
    assert out.tolist() == pytest.approx([37.5, 0.0, 0.0, 0.0])
    assert mix_frame({}, rig).tolist() == pytest.approx([0, -1, 0, 0])


# --------------------------------------------------------------------------------------------
# explain


def test_explain_shows_contributions_modes_and_rules(vocabulary):
    rig = load_rig("arkit")
    inputs = channel_values(vocabulary, "5E+11+26 & 27+43C")
    result = explain(inputs, rig)
    np.testing.assert_array_equal(result.weights, mix_frame(inputs, rig))
    by_target = {t.target: t for t in result.targets}
    jaw = by_target["jawOpen"]
    assert jaw.combine == "soft" and jaw.value == pytest.approx(0.55)
    assert [(c.au, c.kept) for c in jaw.contributions] == [(26, False), (27, True)]
    assert jaw.rules[0].kind == "exclusive" and "AU27" in jaw.rules[0].description
    wide = by_target["eyeWideLeft"]
    assert wide.rules[0].kind == "suppress"
    assert wide.value == pytest.approx(1 - 0.55, abs=1e-6)
    assert result.unshown == (Channel(11),)
    # A target shows when it moves, a rule acts on it, or its only contribution was faded out
    # (26's closed lips under 27, which 27 at any letter takes away: mouthClose 0).
    assert all(t.value > 0 or t.rules or all(c.without for c in t.contributions)
               for t in result.targets)
    assert {t.target: t.value for t in result.targets}["mouthClose"] == 0.0
    as_dict = result.to_dict()
    assert as_dict["unshown"] == ["AU11"] and as_dict["rig"] == "arkit"


def test_explain_reports_correctives_and_clamps(vocabulary):
    facs = explain(vocabulary.channel_values(vocabulary.parse("6E+12C")), load_rig("facs"))
    corrective = {t.target: t for t in facs.targets}["AU06_AU12_L"]
    assert corrective.rules[0].kind == "corrective"
    assert corrective.value == pytest.approx(0.55)
    arkit = explain(vocabulary.channel_values(vocabulary.parse("8E+26A")), load_rig("arkit"))
    close = {t.target: t for t in arkit.targets}["mouthClose"]
    assert [r.kind for r in close.rules] == ["clamp"] and close.value == pytest.approx(0.07)


def test_a_sampled_timeline_mixes_frame_by_frame(vocabulary):
    from facs_rig.core.timeline import Timeline, sample

    timeline = Timeline(fps=30).add_code("R12D+26", vocabulary, at=0.5, onset=0.5, apex=1.0,
                                         offset=0.5)
    curves = sample(timeline, fps=30)
    rig = load_rig("arkit")
    weights = mix(curves, rig)
    np.testing.assert_array_equal(weights.times, curves.times)
    smile_right = weights.weights[:, rig.target_index("mouthSmileRight")]
    jaw = weights.weights[:, rig.target_index("jawOpen")]
    assert smile_right.max() == pytest.approx(0.9) and jaw.max() == pytest.approx(0.7 * 0.55)
    assert not weights.weights[:, rig.target_index("mouthSmileLeft")].any()
    assert smile_right[0] == 0 and np.all(np.diff(smile_right[:30]) >= 0)  # onset rises


@pytest.mark.parametrize(("name", "smile", "frown"), [
    ("facs", "AU12_L", "AU15_L"), ("arkit", "mouthSmileLeft", "mouthFrownLeft"),
    ("unified", "MouthCornerPullLeft", "MouthFrownLeft"),
    ("metahuman", "CTRL_expressions_mouthCornerPullL", "CTRL_expressions_mouthCornerDepressL")])
def test_a_lip_corner_depressor_dampens_the_smile(vocabulary, name, smile, frown):
    """12+15, the miserable smile: the depressor holds the corner down against the pull (the
    pull counts 1 - 0.5 x AU15), so 12E+15E is no longer the plain smile 12E + the frown."""
    rig = load_rig(name)
    assert frame(vocabulary, "12E", rig)[smile] == pytest.approx(1.0)
    both = frame(vocabulary, "12E+15E", rig)
    assert (both[smile], both[frown]) == pytest.approx((0.5, 1.0))   # was (1.0, 1.0)
    assert frame(vocabulary, "12E+15A", rig)[smile] == pytest.approx(0.95)
    assert frame(vocabulary, "12C+15C", rig)[smile] == pytest.approx(0.55 * (1 - 0.5 * 0.55))
    assert frame(vocabulary, "12E+R15E", rig)[smile] == pytest.approx(1.0)  # the other side's 15


def test_12E_15E_flattens_the_lip_corner_on_the_default_head():
    """The picture: the corner that 12E lifts 1.47 cm rises 0.29 cm under 12E+15E (1.03 cm
    before the dampening, a plain smile); 15E alone lowers it 0.44 cm."""
    from facs_rig.render.preview import code_values, preview_setup
    from facs_rig.resources import load_vocabulary

    setup, vocabulary = preview_setup(size=32), load_vocabulary()

    def positions(code: str) -> np.ndarray:
        weights = setup.driver.frame(code_values(code, vocabulary)) if code else np.zeros(
            setup.renderer.n_targets, np.float32)
        return setup.renderer._deformer(np.asarray(weights, np.float32))

    rest, smile = positions(""), positions("L12E")
    corner = int(np.argmax(np.linalg.norm(smile - rest, axis=1)))  # the lip corner 12 moves most
    rise = {code: float(positions(code)[corner, 1] - rest[corner, 1]) for code in ("L12E+L15E", "L15E")}
    lifted = float(smile[corner, 1] - rest[corner, 1])
    assert lifted > 0.01                                          # 12E lifts it over a centimetre
    assert rise["L15E"] < 0 < rise["L12E+L15E"] < 0.25 * lifted    # flattened, between the two


@pytest.mark.parametrize(("code", "happy"), [
    ("6A+12A", 0.05), ("6B+12B", 0.10), ("happiness", 0.55), ("6C+12C", 0.55), ("6D+12D", 1.0),
    ("6E+12E", 1.0), ("12C", 0.275)])
def test_vrm_happy_is_graded_up_to_C_instead_of_full_at_C(vocabulary, code, happy):
    """The happy preset was 1.0 for 6C+12C (a corrective 3.31 x 0.55 x 0.55): C, D and E showed
    one face. It is now 0.55 at C, the value C drives on every other profile."""
    assert frame(vocabulary, code, load_rig("vrm"))["happy"] == pytest.approx(happy, abs=1e-4)


@pytest.mark.parametrize(("code", "target"), [
    ("sadness", "sad"), ("surprise", "surprised"), ("anger", "angry")])
def test_vrm_emotion_presets_read_C_as_C(vocabulary, code, target):
    assert frame(vocabulary, code, load_rig("vrm"))[target] == pytest.approx(0.55, abs=1e-4)
