"""``--neutral auto`` subtracts a neutral only where the face is at rest: a take that never
rests gets none (and ``code`` says why), and AUs already relative to the person's neutral
(OpenFace) get none subtracted from them.

Reviewer's repros (before this check): ``facsvatar_demo_full.csv`` (OpenFace) took 9.88-10.84 s,
a brow and lid raise (AU01_r 2.0-2.3), as its neutral, and of the 91 frames with AU01_r > 2 only
31 fell in a segment coding 1 (174 of 200 with AU12_r > 2 coding 12); the Face Cap take took
1.31-2.28 s, a smile (mouthSmile 0.69-0.75), and of the 95 frames with both mouthSmile > 0.5 only
22 were coded 12 (its 0.8 smile at 4.3-5.0 s read R12A).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.curves import TargetWeights
from facs_rig.core.filters import REST_CEILING, REST_TOLERANCE, off_rest, resting_window
from facs_rig.io.captures._common import Capture
from facs_rig.io.captures.arkit_names import ARKIT_NAMES
from facs_rig.io.captures.pipeline import CleaningOptions, capture_curves

FPS = 30


def _face(seconds: float, seed: int = 0, **levels: float) -> tuple[np.ndarray, np.ndarray]:
    """A take of ARKit's 52 shapes at ``levels`` (default 0.02) with small tracker jitter."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * FPS))
    rest = np.array([levels.get(name, 0.02) for name in ARKIT_NAMES])
    return np.arange(n) / FPS, np.clip(rest + rng.normal(0.0, 0.005, (n, rest.size)), 0, 1)


def _column(name: str) -> int:
    return ARKIT_NAMES.index(name)


# --- core: off_rest ---------------------------------------------------------------------------

def test_a_held_smile_is_not_rest_however_still():
    times, values = _face(10.0, mouthSmileLeft=0.7, mouthSmileRight=0.7)
    window = resting_window(times, values)
    problem = off_rest(times, values, window)
    assert problem is not None and problem.channel in (_column("mouthSmileLeft"),
                                                       _column("mouthSmileRight"))
    assert problem.value == pytest.approx(0.7, abs=0.01) and problem.limit == REST_CEILING


def test_a_biased_resting_face_is_rest():
    # ARKit's resting biases on the Live Link Face takes: eyeWide 0.37-0.43, eyeBlink 0.28,
    # mouthFrown 0.27, and the eyes looking down 0.42 (not checked: the camera's doing).
    times, values = _face(10.0, eyeWideLeft=0.43, eyeWideRight=0.43, eyeBlinkLeft=0.28,
                          mouthFrownLeft=0.27, eyeLookDownLeft=0.6)
    checked = np.array([not name.startswith("eyeLook") for name in ARKIT_NAMES])
    assert off_rest(times, values, resting_window(times, values), checked=checked) is None
    # Unchecked, the eyes looking down at 0.6 count.
    assert off_rest(times, values, (0.0, 1.0)).channel == _column("eyeLookDownLeft")


def test_a_second_an_action_above_the_take_is_not_rest():
    # A smile of 0.3 (under the ceiling) held for a second of a take that rests otherwise.
    times, values = _face(10.0)
    values[(times >= 4.0) & (times < 5.0), _column("mouthSmileLeft")] = 0.3
    problem = off_rest(times, values, (4.0, 4.97))
    assert problem.channel == _column("mouthSmileLeft")
    assert problem.limit == pytest.approx(problem.usual + REST_TOLERANCE)
    assert problem.usual == pytest.approx(0.02, abs=0.01)
    assert off_rest(times, values, (6.0, 6.97)) is None


def test_off_rest_refuses_a_window_with_no_frame_and_a_bad_mask():
    times, values = _face(2.0)
    with pytest.raises(ValueError, match="holds no frame"):
        off_rest(times, values, (5.0, 6.0))
    with pytest.raises(ValueError, match="checked"):
        off_rest(times, values, (0.0, 1.0), checked=np.ones(3, dtype=bool))
    assert off_rest(times, values, (0.0, 1.0), checked=np.zeros(52, dtype=bool)) is None


@settings(max_examples=40, deadline=None)
@given(smile=st.floats(REST_CEILING + 0.01, 1.0), seconds=st.floats(5.0, 30.0),
       seed=st.integers(0, 2**16))
def test_a_take_that_is_one_held_expression_gets_no_neutral(smile, seconds, seed):
    times, values = _face(seconds, seed, mouthSmileLeft=smile, mouthSmileRight=smile,
                          cheekSquintLeft=smile / 2)
    assert off_rest(times, values, resting_window(times, values)) is not None


@settings(max_examples=40, deadline=None)
@given(smile=st.floats(REST_CEILING + 0.01, 1.0), rest_share=st.floats(0.1, 0.9),
       seed=st.integers(0, 2**16))
def test_a_smile_is_never_the_neutral_and_a_real_rest_is_taken(smile, rest_share, seed):
    # Smiling except for a stretch at rest: the neutral is that stretch, or none at all (when
    # the smile fills most of the take its calmer half is the smile's, and the stillest second
    # a smile), never a second of the smile.
    times, values = _face(12.0, seed, mouthSmileLeft=smile, mouthSmileRight=smile)
    resting = times < 12.0 * rest_share
    values[np.ix_(resting, [_column("mouthSmileLeft"), _column("mouthSmileRight")])] = 0.02
    window = resting_window(times, values)
    if off_rest(times, values, window) is None:
        assert window[1] < 12.0 * rest_share
    if rest_share >= 0.5:  # the rest is the calmer half: it is found
        assert off_rest(times, values, window) is None


def test_a_smile_held_below_the_ceiling_through_most_of_the_take_is_taken_for_rest():
    # The check's limit, stated: a smile of 0.375 held for 10 of 12 s, with 2 s at rest, is
    # the calmer half of the take and under REST_CEILING, so its stillest second passes. Give
    # --neutral START-END (the 2 s at rest) on such a take.
    times, values = _face(12.0, mouthSmileLeft=0.375, mouthSmileRight=0.375)
    values[np.ix_(times < 2.0, [_column("mouthSmileLeft"), _column("mouthSmileRight")])] = 0.02
    window = resting_window(times, values)
    assert window[0] > 2.0 and off_rest(times, values, window) is None


# --- the pipeline -----------------------------------------------------------------------------

def _capture(times, values) -> Capture:
    frames = TargetWeights(times, values.astype(np.float32), tuple(ARKIT_NAMES), float(FPS))
    return Capture("take.csv", "facecap", None, frames, np.zeros(times.size, dtype=bool))


def test_a_held_smile_is_coded_as_a_smile_not_subtracted():
    times, values = _face(10.0, mouthSmileLeft=0.7, mouthSmileRight=0.7)
    solved = capture_curves(_capture(times, values), CleaningOptions(neutral="auto"))
    assert solved.neutral_window is None
    assert solved.neutral_note.startswith("no resting second found: the stillest, ")
    assert "give --neutral START-END" in solved.neutral_note
    twelve = [k for k, c in enumerate(solved.curves.channels) if c.au == 12]
    assert np.asarray(solved.curves.values)[:, twelve].min() > 0.5


def test_a_take_with_a_rest_is_calibrated_on_it():
    times, values = _face(10.0, eyeWideLeft=0.4, eyeWideRight=0.4)
    smiling = (times >= 5.0) & (times < 8.0)
    values[np.ix_(smiling, [_column("mouthSmileLeft"), _column("mouthSmileRight")])] = 0.7
    solved = capture_curves(_capture(times, values), CleaningOptions(neutral="auto"))
    assert solved.neutral_note is None and solved.neutral_window[1] <= 5.0
    five = [k for k, c in enumerate(solved.curves.channels) if c.au == 5]
    assert np.asarray(solved.curves.values)[:, five].max() < 0.05  # eyeWide's bias is gone


# --- the reviewer's repros ----------------------------------------------------------------------

def _coded(segments, time: float, au: int) -> bool:
    for segment in segments:
        if segment["start"] <= time <= segment["end"]:
            if any(int(term.lstrip("LR").rstrip("ABCDE")) == au
                   for term in segment["code"].split("+")):
                return True
    return False


def _code_json(capsys, path, *options):
    assert main(["code", str(path), "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)["segments"]


def test_openface_brow_raise_and_smile_are_all_coded(capsys):
    path = shared_asset("captures/openface/facsvatar_demo_full.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, skipinitialspace=True))
    segments = _code_json(capsys, path)
    for column, au, count in (("AU01_r", 1, 91), ("AU12_r", 12, 200)):
        strong = [float(row["timestamp"]) for row in rows if float(row[column]) > 2]
        assert len(strong) == count
        assert sum(_coded(segments, time, au) for time in strong) == count


def test_face_cap_smiles_are_coded(capsys):
    path = shared_asset("captures/facecap/facecap_animation_weights.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    segments = _code_json(capsys, path)
    smiles = [float(row["time_s"]) for row in rows
              if float(row["mouthSmile_L"]) > 0.5 and float(row["mouthSmile_R"]) > 0.5]
    assert len(smiles) == 95
    assert sum(_coded(segments, time, 12) for time in smiles) >= 93  # was 22
    # The 0.8 smile at 4.3-5.0 s read R12A against the smile subtracted as the neutral.
    at_the_smile = [s["code"] for s in segments if s["start"] <= 4.6 < s["end"]]
    assert len(at_the_smile) == 1 and "+12D+" in at_the_smile[0]


# --- code --json carries the neutral ------------------------------------------------------------

@pytest.mark.parametrize("take, options, neutral", [
    ("livelinkface/S07-001.csv", [],
     {"start": 59.8585, "end": 60.8583, "kind": "automatic",
      "text": "neutral: 59.86–60.86 s (automatic)"}),
    ("livelinkface/S07-001.csv", ["--neutral", "42.5-43.5"],
     {"start": 42.5, "end": 43.5, "kind": "given", "text": "neutral: 42.50–43.50 s (given)"}),
    ("livelinkface/S07-001.csv", ["--neutral", "none"],
     {"start": None, "end": None, "kind": "none", "text": "neutral: none"}),
    # Face Cap: the stillest second (1.31-2.28 s) is a held smile; the stillest at rest is the
    # performer's face before the performance.
    ("facecap/facecap_animation_weights.csv", [],
     {"start": 0.1475, "end": 1.1142, "kind": "automatic",
      "text": "neutral: 0.15–1.11 s (automatic)"}),
])
def test_code_json_names_the_neutral_the_text_prints(capsys, take, options, neutral):
    path = str(shared_asset(f"captures/{take}"))
    document = _code_json_document(capsys, path, *options)
    assert document["neutral"] == neutral
    assert main(["code", path, *options]) == 0
    text = capsys.readouterr().out.splitlines()
    repairs = [line.removeprefix("# repaired: ") for line in text if line.startswith("# rep")]
    assert document["repairs"] == repairs
    assert f"# {neutral['text']}" in text
    # The segments are the lines printed, one for one.
    segments = [line for line in text if not line.startswith("#")]
    assert len(document["segments"]) == len(segments)
    assert all(f"  {s['code']}" in line for s, line in zip(document["segments"], segments))


def _code_json_document(capsys, path, *options):
    assert main(["code", str(path), "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_blendshape_take_never_tracked_gets_no_neutral_and_no_note():
    # No face in any frame: no resting second to choose, and none to find fault with.
    times, values = _face(8.0)
    values[:] = np.nan
    capture = Capture("take.csv", "facecap", None,
                      TargetWeights(times, values.astype(np.float32), tuple(ARKIT_NAMES),
                                    float(FPS)), np.ones(times.size, dtype=bool))
    solved = capture_curves(capture, CleaningOptions(neutral="auto"))
    assert solved.neutral_window is None and solved.neutral_note is None


def test_openface_aus_are_left_as_measured_and_the_head_calibrated_at_rest():
    # The head-movement take: its face rests at the top, so the head and eye angles are
    # calibrated there; the facial AUs are the tracker's own, untouched.
    from facs_rig.io.captures import read_capture

    capture = read_capture(shared_asset("captures/openface/facsvatar_head_test_clean.csv"))
    solved = capture_curves(capture, CleaningOptions(neutral="auto"))
    assert solved.neutral_window == pytest.approx((0.0, 0.967), abs=0.01)
    assert solved.neutral_note.startswith("head and eyes only: OpenFace AU intensities")
    raw = capture_curves(capture, CleaningOptions(neutral="none")).curves
    facial = [k for k, c in enumerate(raw.channels) if c.au < 50]
    angles = [k for k, c in enumerate(raw.channels) if c.au >= 51]
    np.testing.assert_array_equal(np.asarray(solved.curves.values)[:, facial],
                                  np.asarray(raw.values)[:, facial])
    assert not np.array_equal(np.asarray(solved.curves.values)[:, angles],
                              np.asarray(raw.values)[:, angles])
