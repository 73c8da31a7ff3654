"""``code``'s event thresholds from the capture's tracker profile: OpenFace's A band is coded.

OpenFace scores an AU 0 (not present), 1 (present at minimum intensity) to 5 (OpenFace wiki,
"Action Units"), and facs-rig reads its values band by band (A 0.5-1.5, ...). With the global
thresholds (0.15/0.08 on the output scale: OpenFace 2.0/1.21) an OpenFace A was an event only
above 1.21 and held half a second: ``facsvatar_demo_full.csv``'s AU10_r 1.47 at 11.0 s was no
event. The bundled ``openface`` profile's ``events`` start an event at 1.0 and end it below 0.5.
"""

from __future__ import annotations

import json

import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.events import EventOptions
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.pipeline import CleaningOptions, event_thresholds, take_events
from facs_rig.io.captures.trackers import (
    TRACE_UNSET,
    TrackerProfileError,
    load_tracker,
    parse_tracker,
    tracker_document,
)
from facs_rig.resources import load_vocabulary

DEMO = "captures/openface/facsvatar_demo_full.csv"


def _openface_take(path, columns: dict) -> str:
    """10 s of OpenFace at 30 fps: each column ``AUxx_r`` a function of the time."""
    rows = ["frame, timestamp, confidence, success, " + ", ".join(columns)]
    for frame in range(300):
        time = frame / 30
        values = ", ".join(f"{value(time):g}" for value in columns.values())
        rows.append(f"{frame + 1}, {time:.4f}, 0.98, 1, {values}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _code(capsys, *argv: str) -> list[str]:
    assert main(["code", *argv]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def a_band_take(tmp_path):
    return _openface_take(tmp_path / "a_band.csv", {
        # An A held 2 s, under the old end threshold (1.21): no event before.
        "AU12_r": lambda t: 1.2 if 2 <= t < 4 else 0.0,
        # A 0.4 s A (the demo's AU10_r 1.47): too short for a held trace before.
        "AU10_r": lambda t: 1.47 if 6 <= t < 6.4 else 0.0,
        # Inside A's band but under OpenFace's 1 (present at minimum intensity): no event.
        "AU06_r": lambda t: 0.8 if 8 <= t < 9 else 0.0,
    })


def test_openface_a_band_values_are_events_lettered_a(a_band_take, capsys):
    # Before: "no AU events".
    assert _code(capsys, a_band_take)[1:] == ["1.97–4.00 s  12A", "5.97–6.40 s  10A  disgust 1/1"]


def test_the_demo_takes_upper_lip_raise_at_1_47_is_an_a_event():
    take = take_events(read_capture(shared_asset(DEMO)),
                       CleaningOptions(neutral="auto", smoothing="zero-phase"),
                       EventOptions(follow_intensity=True))
    around_11 = [(e.letter, round(e.start, 2), round(e.end, 2)) for e in take.timeline.events
                 if e.channel.au == 10 and e.start < 11.0 < e.end]
    # Before: [] (AU10_r 1.47 at 11.0-11.04 s, AU10_c 0 there: presence does not gate).
    assert around_11 == [("A", 10.8, 12.28)]


def test_the_demo_codes_its_a_band_actions(capsys):
    lines = _code(capsys, str(shared_asset(DEMO)))
    # Before: `11.00–11.88 s  4C+6B+7E+56C+63C` (no 9 or 10: AU09_r/AU10_r are As there).
    assert "11.32–11.88 s  4C+6B+7E+9A+10A+56C+63C  disgust 1/1" in lines
    # Before: `0.00–0.68 s  7B+12B+14C+56D+58D+61C`.
    assert lines[1] == "0.00–0.68 s  1A+6A+7B+10A+12B+14C+17A+54B+56D+58D+61C  happiness 2/2"
    assert len(lines) == 40


def test_the_resting_take_still_codes_no_facial_action(capsys):
    # The head-movement take (face at rest): OpenFace's resting values reach 0.5-0.8 for up to
    # 1.4 s; with a held trace above 0.5 they made 11 A events (the profile's trace: null).
    lines = _code(capsys, str(shared_asset("captures/openface/facsvatar_head_test_clean.csv")))
    codes = [term for line in lines[1:] for term in line.split("  ")[1].split("+")]
    assert codes and all(int(term.lstrip("LR").rstrip("ABCDE")) > 50 for term in codes)


def test_given_thresholds_win_over_the_profile(capsys):
    # --on/--off/--trace as typed apply to every AU: the demo codes as with the global ones.
    lines = _code(capsys, str(shared_asset(DEMO)), "--on", "0.15", "--off", "0.08",
                  "--trace", "0.5")
    assert "11.00–11.88 s  4C+6B+7E+56C+63C" in lines and len(lines) == 40


def test_openface_thresholds_on_the_output_scale():
    thresholds = event_thresholds(load_tracker("openface"), EventOptions(),
                                  scale=load_vocabulary().scale())
    # OpenFace 1.0 and 0.5 on FACSHuman's scale: half-way up A's band (0.03, 0.10], its edge.
    assert thresholds[12] == pytest.approx((0.065, 0.03, None))
    # The eye closures keep the global thresholds (blink or closure by its length), the head
    # and eye positions their own.
    assert 43 not in thresholds and 45 not in thresholds and 55 not in thresholds
    given = event_thresholds(load_tracker("openface"), EventOptions(on=0.2, off=0.1),
                             given=frozenset({"on", "trace"}))
    assert given[12] == pytest.approx((0.2, 0.03))


def _profile_with(tmp_path, events: dict) -> str:
    document = tracker_document(load_tracker("openface"))
    document["events"] = events
    path = tmp_path / "openface_strict.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_a_tracker_file_overrides_the_thresholds(a_band_take, tmp_path, capsys):
    # Events from B only (OpenFace 2.0), ending below 1.5: the As of the take are not coded.
    strict = _profile_with(tmp_path, {"scale": "openface", "on": 2.0, "off": 1.5, "trace": None,
                                      "source": "a stricter coder"})
    # Before: refused (exit 2: an OpenFace capture has no blendshapes for a profile to map).
    assert _code(capsys, a_band_take, "--tracker", strict)[1:] == ["no AU events"]
    lenient = _profile_with(tmp_path, {"scale": "openface", "on": 0.7, "off": 0.5,
                                       "source": "a lenient coder"})
    assert _code(capsys, a_band_take, "--tracker", lenient)[1:] == [
        "1.97–4.00 s  12A", "5.97–6.40 s  10A  disgust 1/1", "7.97–9.00 s  6A"]


def test_a_profile_without_events_is_still_refused_on_openface(a_band_take, capsys):
    assert main(["code", a_band_take, "--tracker", "mediapipe"]) == 2
    assert "no blendshapes for a tracker profile to map" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(on=6), r"\$\.events\.on: 6\.0 is outside 0\.\.5"),
    (lambda e: e.update(off=1.5), r"\$\.events\.off: 1\.5 is above on \(1\)"),
    (lambda e: e.update(off="0.5"), r"\$\.events\.off: expected a number, got str"),
    (lambda e: e.update(scale="percent"), r"\$\.events\.scale: 'percent' is not an intensity "
                                          r"scale \(facshuman, hapfacs, openface\)"),
    (lambda e: e.update(trace=-1), r"\$\.events\.trace: -1\.0 is outside 0\.\.3600"),
    (lambda e: e.update(trace=True), r"\$\.events\.trace: expected a number, got a boolean"),
    (lambda e: e.update(source=" "), r"\$\.events\.source: event thresholds need their source"),
    (lambda e: e.pop("source"), r"\$\.events\.source: expected a string"),
    (lambda e: e.update(start=1), r"\$\.events\.start: unknown key \(known: scale, on, off, "
                                  r"trace, source\)"),
])
def test_bad_event_thresholds_name_file_and_json_path(tmp_path, capsys, change, message):
    events = dict(tracker_document(load_tracker("openface"))["events"])
    change(events)
    path = _profile_with(tmp_path, events)
    with pytest.raises(TrackerProfileError, match="openface_strict.json: " + message):
        load_tracker(path)
    # On the command line: one error line, exit 1, before any work.
    take = shared_asset(DEMO)
    assert main(["code", str(take), "--tracker", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("facs-rig: error: ") and err.count("\n") == 1


def test_event_thresholds_round_trip():
    profile = load_tracker("openface")
    again = parse_tracker(json.loads(json.dumps(tracker_document(profile))), "again")
    assert again.events == profile.events and again.events.trace is None
    del_trace = tracker_document(profile)
    del del_trace["events"]["trace"]
    assert parse_tracker(del_trace, "x").events.trace == TRACE_UNSET


_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 9),
                    st.booleans(), st.none(), st.text(max_size=3),
                    st.sampled_from(["openface", "facshuman", "hapfacs", "OpenFace"]))


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.one_of(
    st.dictionaries(st.sampled_from(["scale", "on", "off", "trace", "source", "x"]), _VALUES,
                    max_size=6),
    _VALUES, st.lists(_VALUES, max_size=2)))
def test_event_thresholds_parse_or_are_refused_by_path(events):
    document = tracker_document(load_tracker("openface"))
    document["events"] = events
    try:
        profile = parse_tracker(document, "fuzz.json")
    except TrackerProfileError as error:
        assert str(error).startswith("fuzz.json: $.events")
        return
    parsed = profile.events
    maximum = load_vocabulary().scale(parsed.scale).maximum
    assert 0.0 <= parsed.off <= parsed.on <= maximum and parsed.source.strip()
    assert parsed.trace is None or parsed.trace == TRACE_UNSET or 0 <= parsed.trace <= 3600
    again = parse_tracker(json.loads(json.dumps(tracker_document(profile))), "again")
    assert again.events == parsed


def test_a_timeline_says_which_thresholds_its_events_started_at(a_band_take, tmp_path, capsys):
    # Before: only "hysteresis on/off 0.15/0.08", which OpenFace's facial AUs no longer use.
    out = tmp_path / "a_band.json"
    assert main(["retarget", a_band_take, "-o", str(out)]) == 0
    assert json.loads(out.read_text())["metadata"]["events_from"] == (
        "captured curves (hysteresis on/off 0.15/0.08, min 0.1 s); AUs 1-49 but 43 and 45: "
        "on 1 and off 0.5 on the openface scale (tracker profile openface)")
    assert main(["retarget", a_band_take, "--on", "0.2", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["metadata"]["events_from"].endswith(
        "; AUs 1-49 but 43 and 45: off 0.5 on the openface scale (tracker profile openface)")
    assert main(["retarget", a_band_take, "--on", "0.2", "--off", "0.1", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["metadata"]["events_from"] == (
        "captured curves (hysteresis on/off 0.2/0.1, min 0.1 s)")
