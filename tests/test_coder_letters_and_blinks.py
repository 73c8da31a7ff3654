"""A certified FACS coder's review of what ``code`` and ``retarget``'s timelines write: OpenFace
intensities read in their own letter bands, and blinks (45) told from closures (43) as FACS
2002 scores them (45 without a letter, bilateral as one ``45``, a closure held over half a
second as 43)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.openface import openface_intensity
from facs_rig.resources import load_vocabulary


def write_openface(path: Path, columns: dict[str, list[tuple[float, float, float]]],
                   duration: float, fps: float = 25.0) -> Path:
    """An OpenFace CSV at ``path``: each ``AUxx_r`` column holds ``value`` from ``start`` to
    ``end`` seconds (``(start, end, value)`` triples) and 0 elsewhere."""
    names = sorted(columns)
    rows = ["frame, face_id, timestamp, confidence, success, " + ", ".join(names)]
    for frame in range(int(round(duration * fps))):
        time = frame / fps
        values = [next((v for a, b, v in columns[n] if a <= time < b), 0.0) for n in names]
        rows.append(f"{frame + 1}, 0, {time:.3f}, 0.98, 1, "
                    + ", ".join(f"{v:.2f}" for v in values))
    path.write_text("\n".join(rows) + "\n")
    return path


# --- OpenFace's letter bands onto the default scale's ------------------------------------------

def test_openface_band_edges_land_on_the_default_scales_band_edges():
    vocabulary = load_vocabulary()
    source, target = vocabulary.scale("openface"), vocabulary.scale()
    # The openface scale's band edges 0.5, 1.5, ..., 4.5 (intensity_scales.json) onto the
    # facshuman ones 0.03, 0.10, 0.20, 0.55, 0.90 (FACSHuman's slider bands).
    edges = np.array([0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.0, 6.0])
    assert openface_intensity(edges, source, target).tolist() == pytest.approx(
        [0.0, 0.03, 0.10, 0.20, 0.55, 0.90, 1.0, 1.0])
    # The reviewer's values: 1.4 was 0.14 (B), 3.2 0.62 (D), 4.4 0.97 (E).
    raw = np.array([1.4, 2.6, 3.2, 3.45, 4.4])
    mapped = openface_intensity(raw, source, target)
    assert mapped.tolist() == pytest.approx([0.093, 0.235, 0.445, 0.5325, 0.865])
    # Every raw value reads the same letter on both scales.
    grid = np.round(np.arange(0.0, 5.001, 0.01), 2)
    assert [target.value_to_letter(float(v)) for v in openface_intensity(grid, source, target)] \
        == [source.value_to_letter(float(v), normalized=False) for v in grid]


def test_code_reads_an_openface_smile_in_openfaces_own_letters(tmp_path, capsys):
    # AU12_r held 2 s at each of 1.4, 2.6, 3.2, 3.45, 4.4 (the `openface` scale: A, C, C, C, D)
    # was coded 12B, 12C, 12D, 12D, 12E.
    levels = [1.4, 2.6, 3.2, 3.45, 4.4]
    path = write_openface(tmp_path / "smile.csv",
                          {"AU12_r": [(1 + 4 * k, 3 + 4 * k, v) for k, v in enumerate(levels)]},
                          duration=21.0)
    assert main(["code", str(path)]) == 0
    assert [line.split("  ")[1] for line in capsys.readouterr().out.splitlines()
            if not line.startswith("#")] == ["12A", "12C", "12C", "12C", "12D"]


def test_code_reads_the_demo_smiles_squint_and_lip_corners_at_c(capsys):
    # facsvatar_demo_full.csv 14.12-17.64 s: AU07_r peaks at 3.25 and AU12_r at 3.48, both
    # C on OpenFace's scale; they were coded 7D and 12D.
    path = shared_asset("captures/openface/facsvatar_demo_full.csv")
    assert main(["code", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    smile = [line for line in lines if line[:1].isdigit()
             and float(line.split("–")[0]) <= 15.0 < float(line.split("–")[1].split()[0])]
    assert len(smile) == 1 and "+7C+" in smile[0] and "+12C+" in smile[0], smile


# --- blinks (45) and closures (43) ------------------------------------------------------------

def test_an_openface_closure_held_two_seconds_is_43e_and_a_short_one_a_blink(tmp_path, capsys):
    # FACS 2002, AU45: "If bilateral and the eyes remain closed more than 1/2 second, then the
    # action should be scored as eyes closed (43E)". AU45_r at 5 for 2 s read `45`.
    path = write_openface(tmp_path / "eyes.csv",
                          {"AU45_r": [(2.0, 4.0, 5.0), (6.0, 6.2, 5.0)]}, duration=8.0)
    assert main(["code", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["1.92–4.04 s  43E", "5.92–6.24 s  45"]
    notes = tmp_path / "eyes.notes"
    assert main(["retarget", str(path), "-o", str(notes)]) == 0
    assert notes.read_text().splitlines()[4:] == [  # after the comment, measured, fps, duration
        "1.92  43E  onset 0.12  apex 1.88  offset 0.12  ease linear",
        "5.92  45   onset 0.12  apex 0.08  offset 0.12  ease linear"]


def test_retarget_writes_the_blinks_code_finds_as_bilateral_unlettered_45(tmp_path, capsys):
    # alex_rom_3: EyeBlink peaks 0.94 at ~1.2 s and 0.97 at ~2.47 s over a rest of 0.12-0.16.
    # retarget (no neutral, no smoothing) wrote `0 L43E onset 1.233...` and `1.766 L43E` (and
    # R43E) for them, and with a neutral `L45D`/`R45D`; code says 1.17-1.37 s and 2.40-2.60 s 45.
    path = str(shared_asset("captures/livelinkface/alex_rom_3.csv"))
    assert main(["code", path]) == 0
    code_lines = capsys.readouterr().out.splitlines()
    assert code_lines[3:5] == ["1.17–1.37 s  45", "2.40–2.60 s  45"]
    notes = tmp_path / "alex.notes"
    assert main(["retarget", path, "-o", str(notes)]) == 0
    eyes = [line.split()[:2] for line in notes.read_text().splitlines()
            if len(line.split()) > 1 and line.split()[1].lstrip("LR")[:2] in ("43", "45")]
    assert eyes[:3] == [["1.1665", "45"], ["2.399666667", "45"], ["6.76575", "45"]]
    # No blink carries a letter or a side where both eyes blinked, in the whole take.
    assert not [code for _, code in eyes if code.startswith(("L45", "R45")) or code[2:]
                and code.lstrip("LR").startswith("45")]
    # The .json timeline holds the same events as code's (one pipeline, code's cleaning).
    assert main(["retarget", path, "-o", str(tmp_path / "alex.json")]) == 0
    import json

    events = json.loads((tmp_path / "alex.json").read_text())["events"]
    blinks = [e for e in events if "AU45" in e["channel"]]
    assert {e["channel"] for e in blinks} == {"AU45"} and {e["intensity"] for e in blinks} == {1.0}
    assert not any("letter" in e for e in blinks)
    assert [round(e["start"], 4) for e in blinks[:2]] == [1.1665, 2.3997]


def _blink_cover(take, segment) -> float:
    """Seconds of ``segment`` that the take's blink events (45, either side) cover."""
    spans = sorted((max(e.start, segment.start), min(e.end, segment.end))
                   for e in take.timeline.events if e.channel.au == 45)
    covered, reach = 0.0, segment.start
    for first, last in spans:
        first = max(first, reach)
        if last > first:
            covered += last - first
            reach = last
    return covered


@pytest.mark.parametrize("relative, lines", [
    # The 5.605-5.835 s blink was listed in `5.64-7.72 s ...+45` (0.23 s of 2.08 s).
    # (5.64 and 7.68 s since OpenFace's A band is coded: 1B+6B+7E+10A+... before it.)
    ("openface/facsvatar_demo_full.csv",
     ["5.64–5.84 s  6C+7C+10B+12C+14B+25C+45  happiness 2/2",
      "5.84–7.68 s  6C+7C+10B+12C+14B+25C  happiness 2/2"]),
    # `29.30-29.56 s 4E+6C+7C+L9D+43D+45`: the closure held, then a blink mostly after it.
    ("livelinkface/alex_rom_3.csv",
     ["29.30–29.56 s  4E+6C+7D+9D+43D  pain 4/4", "29.56–29.76 s  45"]),
])
def test_code_lists_a_blink_over_its_own_time_and_never_with_43(relative, lines, capsys):
    from facs_rig.core.events import EventOptions
    from facs_rig.io.captures.pipeline import CleaningOptions, take_events

    path = shared_asset(f"captures/{relative}")
    assert main(["code", str(path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line not in printed] == []
    take = take_events(read_capture(path), CleaningOptions(smoothing="zero-phase", neutral="auto"),
                       EventOptions(follow_intensity=True), code=True)
    blinking = [s for s in take.segments if any(t.au == 45 for t in s.code)]
    assert len(blinking) >= 5
    # FACS scores one closure at a time; "present for at least half" holds for blinks too.
    assert not [s for s in blinking if any(t.au == 43 for t in s.code)]
    assert [str(s) for s in blinking
            if _blink_cover(take, s) < 0.5 * (s.end - s.start) - 1e-9] == []


def test_extract_events_writes_a_blink_of_both_eyes_as_one_unlettered_45(vocabulary):
    from facs_rig.core.channels import Channel
    from facs_rig.core.curves import AUCurves
    from facs_rig.core.events import EventOptions, extract_events

    times = np.arange(120) / 30.0  # 4 s at 30 fps
    left = np.zeros(120)
    left[30:36] = 0.9  # 1.00-1.20 s: both eyes blink (the right a frame later)
    left[60:90] = 0.7  # 2.00-3.00 s: the left eye held closed
    right = np.zeros(120)
    right[31:37] = 0.8
    right[100:106] = 0.9  # 3.33-3.53 s: the right eye alone
    curves = AUCurves(times, np.stack([left, right], axis=1).astype(np.float32),
                      (Channel(43, "L"), Channel(43, "R")), 30.0)
    events = extract_events(curves, vocabulary.scale(), options=EventOptions()).events
    assert [(e.channel.name, e.letter, round(e.start, 4), round(e.end, 4), e.intensity)
            for e in sorted(events, key=lambda e: e.start)] == [
        ("AU45", None, 0.9667, 1.2333, 1.0),
        ("AU43_L", "D", 1.9667, 3.0, pytest.approx(0.7)),
        ("AU45_R", None, 3.3, 3.5333, 1.0)]


def test_code_segments_cuts_a_smile_around_a_blink(vocabulary):
    from facs_rig.core.channels import Channel
    from facs_rig.core.events import code_segments
    from facs_rig.core.timeline import AUEvent, Timeline

    smile = AUEvent.from_times(Channel(12), 0.5, 0.0, 0.2, 1.8, 2.0, letter="C")
    blink = AUEvent.from_times(Channel(45), 1.0, 1.0, 1.05, 1.1, 1.2)
    # 0.05 s of smile would be left after it: shorter than min_duration, it joins the blink,
    # which still covers 0.10 s of 0.15.
    late = AUEvent.from_times(Channel(45), 1.0, 1.85, 1.88, 1.9, 1.95)
    segments = code_segments(Timeline((smile, blink, late), 2.0, 30.0), vocabulary)
    assert [str(s) for s in segments] == [
        "0.00–1.00 s  12C  happiness 1/1", "1.00–1.20 s  12C+45  happiness 1/1",
        "1.20–1.85 s  12C  happiness 1/1", "1.85–2.00 s  12C+45  happiness 1/1"]


def test_a_held_closure_read_from_openfaces_au45_scores_and_shows_on_its_own_channel(vocabulary):
    # sampled_code_events (what calibrate scores) and the batch heat map (coded_curves) put a
    # closure coded 43 back on, and beside, the AU45 channel OpenFace measured it on.
    from facs_rig.cluster.work import coded_curves
    from facs_rig.core.channels import Channel
    from facs_rig.core.curves import AUCurves
    from facs_rig.core.events import EventOptions, extract_events
    from facs_rig.io.captures.pipeline import sampled_code_events
    from facs_rig.io.captures.trackers import load_tracker

    times = np.arange(0, 4.0, 1 / 25)
    closed = np.where((times >= 1.0) & (times < 3.0), 1.0, 0.0).astype(np.float32)
    curves = AUCurves(times, closed[:, None], (Channel(45),), 25.0)
    sampled = sampled_code_events(curves, load_tracker("generic"), vocabulary)
    assert sampled.channels == (Channel(45),)
    assert sampled.values[(times > 1.2) & (times < 2.8), 0].min() == pytest.approx(1.0)
    timeline = extract_events(curves, vocabulary.scale(), options=EventOptions())
    assert [(e.channel.name, e.letter) for e in timeline.events] == [("AU43", "E")]
    shown = coded_curves(curves, timeline)
    assert shown.channels == (Channel(43), Channel(45))
    assert shown.values[:, 0].max() == 1.0 and shown.values[:, 1].max() == 0.0


def test_a_piece_cut_around_a_blink_lists_only_what_is_present_in_it(vocabulary):
    # Hypothesis's find: 1C from 1.25 s, held in the segment 1.06-2.25 s, was listed in the
    # blink's piece 1.06-1.25 s too, where AU1 was not on at all.
    from facs_rig.core.channels import Channel
    from facs_rig.core.events import code_segments
    from facs_rig.core.timeline import AUEvent, Timeline

    events = (AUEvent.from_times(Channel(1), 0.55, 1.25, 1.25, 2.25, 2.25, letter="C"),
              AUEvent.from_times(Channel(4), 0.55, 0.8125, 0.8125, 1.0625, 1.0625, letter="C"),
              AUEvent.from_times(Channel(45), 1.0, 1.0, 1.0, 1.25, 1.25))
    assert [str(s) for s in code_segments(Timeline(events, 8.0), vocabulary)] == [
        "0.81–1.06 s  4C", "1.06–1.25 s  45", "1.25–2.25 s  1C"]


def test_a_blink_of_one_eye_beside_the_other_eye_held_closed_is_scored(vocabulary):
    """A second reader's find: a left blink inside a segment holding R43E was dropped, as if any
    43 closed both eyes. FACS scores one closure per eye: L45 beside R43E is scored (and parses
    back), a blink of the closed eye or under a bilateral 43 is not."""
    from facs_rig.core.events import code_segments, format_summary
    from facs_rig.core.timeline import AUEvent, Timeline

    def closure(channel, start, end, letter=None):
        return AUEvent.from_times(channel, 1.0, start, start, end, end, letter=letter)

    def summary(*events):
        return format_summary(code_segments(Timeline(events, 2.0, 30.0, {}), vocabulary))

    assert summary(closure(Channel(43, "R"), 0.0, 2.0, "E"), closure(Channel(45, "L"), 1.0, 1.2)) \
        == "0.00–1.00 s  R43E\n1.00–1.20 s  R43E+L45\n1.20–2.00 s  R43E\n"
    vocabulary.parse("R43E+L45")  # a code FACS allows
    assert summary(closure(Channel(43, "R"), 0.0, 2.0, "E"), closure(Channel(45, "R"), 1.0, 1.2)) \
        == "0.00–2.00 s  R43E\n"
    assert summary(closure(Channel(43), 0.0, 2.0, "E"), closure(Channel(45, "L"), 1.0, 1.2)) \
        == "0.00–2.00 s  43E\n"
