"""``facs-rig retarget`` and ``facs-rig code`` end to end."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_ASSETS, shared_asset, write_openface_smile_lost_midway
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.io.captures import read_live_link_face


def test_code_prints_one_line_per_segment(capsys):
    path = shared_asset("captures/pyfeat/001.csv")
    assert main(["code", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # A 1.27 s clip is too short for the automatic neutral: said, and no neutral is used.
    assert lines[0] == ("# neutral: none (take too short: 1.27 s, the automatic neutral needs "
                        "5 s; give --neutral START-END)")
    out = lines[1:]
    assert out and all(" s  " in line for line in out)
    assert main(["code", str(path), "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert segments[0]["start"] == 0.0 and "+" in segments[0]["code"]


def test_code_trace_option_codes_or_drops_held_traces(capsys):
    # S07-001 holds AU63 (eyes up) between off (0.08) and on (0.15) for over a second at
    # 14.9-16.1 s, as the mouth relaxes after a smile: a sustained trace that `code` codes by
    # default; --trace none codes only what reaches on. (Before the automatic neutral picked a
    # resting second, the trace here was a 15B held through the whole take.)
    path = str(shared_asset("captures/livelinkface/S07-001.csv"))
    assert main(["code", path, "--json"]) == 0
    traced = json.loads(capsys.readouterr().out)["segments"]
    assert main(["code", path, "--json", "--trace", "none"]) == 0
    untraced = json.loads(capsys.readouterr().out)["segments"]
    held = [s for s in traced if 14.0 < s["start"] < 16.5 and "63B" in s["code"].split("+")]
    assert sum(s["end"] - s["start"] for s in held) >= 0.5
    assert all("63" not in s["code"] for s in untraced if s["start"] < 17.0)
    assert len(traced) > len(untraced)
    assert main(["code", path, "--trace", "soon"]) == 2
    assert "--trace 'soon': give a number of seconds >= 0, or none" in capsys.readouterr().err


def test_retarget_arkit_capture_to_live_link_face_take(tmp_path, capsys):
    source = shared_asset("captures/livelinkface/S07-001.csv")
    out = tmp_path / "take.csv"
    assert main(["retarget", str(source), "--rig", "arkit", "-o", str(out)]) == 0
    # 2028 rows and 2 frames the app dropped, restored as gaps and filled.
    assert ("2030 frames at 30 fps, livelinkface, ARKit weights copied, rig arkit, repaired: 2 "
            "dropped frames (missing rows) filled as gaps") in capsys.readouterr().out
    original, written = read_live_link_face(source), read_live_link_face(out)
    recorded = ~original.gaps
    assert int(original.gaps.sum()) == 2 and written.repairs == ()
    np.testing.assert_allclose(written.blendshapes.weights[recorded],
                               original.blendshapes.weights[recorded], atol=1e-9)
    # A dropped frame is halfway between its neighbours (one frame each side).
    [gap] = np.flatnonzero(original.gaps)[:1]
    np.testing.assert_allclose(written.blendshapes.weights[gap],
                               original.blendshapes.weights[[gap - 1, gap + 1]].mean(axis=0),
                               atol=1e-6)


def test_retarget_writes_timeline_curves_and_weights(tmp_path, capsys):
    source = shared_asset("captures/openface/facsvatar_demo_full.csv")
    for name in ("timeline.json", "notes.txt", "curves.csv"):
        assert main(["retarget", str(source), "-o", str(tmp_path / name)]) == 0
    document = json.loads((tmp_path / "timeline.json").read_text())
    assert document  # a timeline document the timeline area can read back
    header = (tmp_path / "curves.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["time", "AU01", "AU02"]
    assert main(["retarget", str(source), "--rig", "facs", "-o", str(tmp_path / "w.csv")]) == 0
    rows = (tmp_path / "w.csv").read_text().splitlines()
    assert rows[0].startswith("time,") and len(rows) == 491


def test_many_captures_with_jobs_and_progress(tmp_path, capsys):
    sources = [str(shared_asset(f"captures/openface/{n}.csv"))
               for n in ("facsvatar_head_test_clean", "facsvatar_2people_60fps_p0_clean")]
    template = str(tmp_path / "{stem}.json")
    assert main(["retarget", *sources, "--jobs", "2", "-o", template]) == 0
    captured = capsys.readouterr()
    assert "retarget: 2/2" in captured.err
    assert (tmp_path / "facsvatar_head_test_clean.json").exists()
    assert (tmp_path / "facsvatar_2people_60fps_p0_clean.json").exists()


def test_bad_capture_is_one_error_line_and_nothing_written(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,AU01_r\n0,1\n0.1,oops\n")
    out = tmp_path / "out.json"
    assert main(["retarget", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"facs-rig: error: {bad}: line 3, column 2 (AU01_r): 'oops' is not a number"]
    assert not out.exists()
    good = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    assert main(["retarget", str(bad), str(good), "-o", str(tmp_path / "{stem}.json")]) == 1
    assert (tmp_path / "facsvatar_head_test_clean.json").exists()


@pytest.mark.parametrize("arguments, message", [
    (["retarget", "a.csv", "b.csv", "-o", "out.json"], "must contain {stem}"),
    (["retarget", "a.csv", "-o", "out.xyz"], "cannot write .xyz"),
    (["retarget", "a.csv", "-o", "o.json", "--neutral", "3-1"], "start must be before"),
    (["retarget", "a.csv", "-o", "o.json", "--jobs", "0"], "--jobs/-j: 0: must be at least 1"),
])
def test_usage_errors(capsys, arguments, message):
    status = main(arguments)
    assert status in (1, 2)
    assert message in capsys.readouterr().err


def test_retarget_onto_a_real_glb_validates(tmp_path, capsys):
    from gltf_validator import validate_gltf

    from facs_rig.io.gltf import read_gltf

    mesh = shared_asset("rigs/facecap/facecap_decoded_float_notextures.glb")
    source = shared_asset("captures/openface/facsvatar_demo_full.csv")
    out = tmp_path / "face.glb"
    assert main(["retarget", str(source), "--mesh", str(mesh), "-o", str(out)]) == 0
    assert "490 frames at 25 fps" in capsys.readouterr().out
    document = read_gltf(out, geometry=False).source.document
    assert document["animations"][-1]["name"] == "facs-rig"
    report = validate_gltf(out)
    assert report["issues"]["numErrors"] == 0


class _Terminal:
    """A stderr that says it is a terminal, recording what is written."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_code_draws_a_progress_bar_on_a_terminal_only(monkeypatch, capsys):
    path = shared_asset("captures/livelinkface/S07-001.csv")
    assert main(["code", str(path)]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""  # off a terminal: no bar in logs
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["code", str(path)]) == 0
    drawn = "".join(terminal.parts)
    assert "code" in drawn and "4/4" in drawn
    assert capsys.readouterr().out == quiet.out  # the summary itself is unchanged


def test_code_of_a_take_cut_mid_row_reports_the_repair(tmp_path, capsys):
    source = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    data = source.read_bytes().rstrip(b"\r\n")
    cut = tmp_path / "killed.csv"
    cut.write_bytes(data[:len(data) - 7])
    assert main(["code", str(cut)]) == 0
    assert "# repaired: 1 last row cut short (the tracker stopped mid-write) dropped" in \
        capsys.readouterr().out


def _die_in_worker(request):
    os._exit(9)  # what the kernel's OOM killer leaves behind: no result, no exception


def test_a_worker_that_dies_fails_its_takes_in_one_line_each(tmp_path, capsys, monkeypatch):
    # Review finding: BrokenProcessPool escaped retarget --jobs as a traceback.
    import facs_rig.io.captures.parallel as parallel

    monkeypatch.setattr(parallel, "_work", _die_in_worker)
    takes = [shared_asset(f"captures/livelinkface/{name}.csv") for name in ("S07-001", "alex_rom_3")]
    assert main(["retarget", *map(str, takes), "--jobs", "2",
                 "-o", str(tmp_path / "{stem}.csv")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "worker process died" in err
    assert not list(tmp_path.iterdir())


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.sampled_from(["none", "NONE", " None ", "0", "0.5", "-0", "1e-3"]),
                      st.text(max_size=12)))
def test_trace_option_parses_seconds_or_none_and_refuses_the_rest(text):
    """--trace: a non-negative number of seconds or 'none'; anything else is a usage error
    naming the option, never a traceback."""
    import argparse

    from facs_rig.cli import UsageError
    from facs_rig.cli._capture_options import event_options as _events

    args = argparse.Namespace(on=0.15, off=0.08, min_duration=0.1, whole_events=False,
                              trace=text)
    try:
        expected = None if text.strip().lower() == "none" else float(text)
    except ValueError:
        expected = "bad"
    if expected == "bad" or (expected is not None and not 0 <= expected < float("inf")):
        with pytest.raises(UsageError, match="trace"):
            _events(args)
    else:
        assert _events(args).trace_duration == expected


def _every_tenth_row_dropped(tmp_path, relative):
    lines = shared_asset(relative).read_text().splitlines()
    path = tmp_path / "drop.csv"  # awk 'NR==1 || NR%10!=0' of the real take
    path.write_text("\n".join(line for n, line in enumerate(lines, start=1) if n == 1 or n % 10)
                    + "\n")
    return path


def test_take_with_dropped_frames_is_retargeted_at_its_own_rate(tmp_path, capsys):
    """The review's repro: 10 % of S07-001.csv's rows left out came out at 27 fps with
    timecodes between frames; it keeps 30 fps and the timecodes of the take."""
    drop = _every_tenth_row_dropped(tmp_path, "captures/livelinkface/S07-001.csv")
    out = tmp_path / "drop_llf.csv"
    assert main(["retarget", str(drop), "--rig", "arkit", "-o", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"{drop} -> {out}: 2030 frames at 30 fps, livelinkface, ARKit weights copied, rig arkit, "
        f"repaired: 204 dropped frames (missing rows) filled as gaps\n")
    stamps = [line.split(",", 1)[0] for line in out.read_text().splitlines()[1:]]
    kept = [line.split(",", 1)[0] for line in drop.read_text().splitlines()[1:]]
    assert len(stamps) == 2030 and set(kept) <= set(stamps)
    # Data row 9 (line 10) was left out: restored halfway, at the take's own timecode for it.
    assert stamps[7:10] == ["12:27:48:01.167", "12:27:48:03.167", "12:27:48:05.166"]

    # OpenFace at 25 fps through the AU cleaning chain: 490 frames 0.04 s apart, not 22 fps.
    drop = _every_tenth_row_dropped(tmp_path, "captures/openface/facsvatar_demo_full.csv")
    out = tmp_path / "drop_aus.csv"
    assert main(["retarget", str(drop), "-o", str(out)]) == 0
    assert "490 frames at 25 fps" in capsys.readouterr().out
    times = np.array([float(line.split(",", 1)[0]) for line in out.read_text().splitlines()[1:]])
    np.testing.assert_allclose(times, np.arange(490) * 0.04, atol=1e-9)


def test_code_retarget_timelines_and_batch_summaries_share_one_pipeline(tmp_path, capsys,
                                                                         monkeypatch):
    """`code`, `retarget -o .json` and a batch take each go through take_events once (the
    pipeline was written three times), and give what take_events gives."""
    from facs_rig.cluster.work import TakeJob, coded_curves, heat_map_png, process_take
    from facs_rig.core.events import EventOptions
    from facs_rig.io.captures import pipeline, read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, take_events
    from facs_rig.io.captures.retarget import RetargetRequest
    from facs_rig.io.timeline_files import write_timeline
    from facs_rig.resources import load_vocabulary

    path = str(shared_asset("captures/livelinkface/S07-001.csv"))
    code_cleaning = CleaningOptions(smoothing="zero-phase", neutral="auto")
    events = EventOptions(follow_intensity=True)  # the CLI's default (--whole-events unset)
    take = take_events(read_capture(path), code_cleaning, events, code=True)
    expected_json = tmp_path / "expected.json"
    # A timeline output holds code's events, with code's cleaning by default.
    write_timeline(take_events(read_capture(path), code_cleaning, events).timeline,
                   str(expected_json), load_vocabulary())
    calls = []
    real = pipeline.take_curves
    monkeypatch.setattr(pipeline, "take_curves", lambda *a, **k: calls.append(1) or real(*a, **k))

    capsys.readouterr()
    assert main(["code", path]) == 0
    assert capsys.readouterr().out == take.summary_text("auto") and len(calls) == 1
    assert main(["retarget", path, "-o", str(tmp_path / "cli.json")]) == 0
    assert (tmp_path / "cli.json").read_bytes() == expected_json.read_bytes() and len(calls) == 2
    job = TakeJob(key="k", capture=path,
                  requests=(RetargetRequest(path, str(tmp_path / "batch.json"), events=events,
                                            cleaning=code_cleaning),),
                  summary_path=str(tmp_path / "batch.facs.txt"),
                  heat_map_path=str(tmp_path / "batch.qc.png"), code_cleaning=code_cleaning)
    assert process_take(job)["status"] == "ok" and len(calls) == 4  # the .json, the summary
    assert (tmp_path / "batch.facs.txt").read_text() == take.summary_text("auto")
    assert (tmp_path / "batch.json").read_bytes() == expected_json.read_bytes()
    # The heat map names its rows as the summary does (blinks on AU45 rows).
    assert (tmp_path / "batch.qc.png").read_bytes() == heat_map_png(
        coded_curves(take.solved.curves, take.timeline))


def test_take_events_reports_its_steps_and_lets_the_capture_go(tmp_path):
    """The pipeline drops a capture its caller does not keep before finding events (an hour
    of blendshapes is 45 MB), and keep_curves=False drops the curves too."""
    import weakref

    from facs_rig.core.events import EventOptions
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CODE_STEPS, CleaningOptions, take_events

    holder = [read_capture(shared_asset("captures/livelinkface/S07-001.csv"))]
    alive = weakref.ref(holder[0])
    steps = []
    take = take_events(holder.pop(), CleaningOptions(), EventOptions(), code=True,
                       keep_curves=False, progress=lambda k: steps.append((k, alive() is None)))
    assert steps == [(1, False), (2, True), (3, True), (4, True)]
    assert len(CODE_STEPS) == 4 and take.solved is None and take.segments
    # 2028 rows and the 2 frames the app dropped, put back as gaps.
    assert take.times.shape == (2030,)
    assert take.repairs == ("2 dropped frames (missing rows) filled as gaps",)


@pytest.mark.parametrize("take, options, header", [
    # The resting seconds docs/captures.md ("Short takes and the automatic neutral") names.
    ("livelinkface/S07-001.csv", [], ["# repaired: 2 dropped frames (missing rows) filled as gaps",
                                      "# neutral: 59.86–60.86 s (automatic)"]),
    ("livelinkface/alex_rom_3.csv", [], ["# repaired: 1 blendshape weights outside 0-1 clipped",
                                         "# repaired: 3 dropped frames (missing rows) filled as gaps",
                                         "# neutral: 52.49–53.49 s (automatic)"]),
    ("livelinkface/S07-001.csv", ["--neutral", "42.5-43.5"],
     ["# repaired: 2 dropped frames (missing rows) filled as gaps",
      "# neutral: 42.50–43.50 s (given)"]),
    ("livelinkface/S07-001.csv", ["--neutral", "none"],
     ["# repaired: 2 dropped frames (missing rows) filled as gaps", "# neutral: none"]),
    # OpenFace's AU intensities are already relative to the person's neutral: nothing is
    # subtracted from them (its stillest second, 9.88-10.84 s, was a brow and lid raise, and
    # subtracting it lost the brow raise). Its head and eye angles are relative to the camera:
    # they are measured from the pose over a second where no facial AU is coded, and this take
    # has none, so from the take's median pose (FACS 2002 ch. 9: against the person's neutral).
    ("openface/facsvatar_demo_full.csv", [],
     ["# neutral: none (OpenFace AU intensities are already relative to the person's neutral; "
      "the head and eyes against their median over the take: no second with every facial AU "
      "below 0.15)"]),
    ("openface/facsvatar_head_test_clean.csv", [],
     ["# neutral: 0.00–0.97 s (automatic, head and eyes only: OpenFace AU intensities are "
      "already relative to the person's neutral)"]),
    ("openface/facsvatar_demo_full.csv", ["--neutral", "9.88-10.84"],
     ["# neutral: 9.88–10.84 s (given)"]),
    # Face Cap: the stillest second is a smile (mouthSmile 0.69-0.75); the stillest second at
    # rest, the face before the performance, is the neutral.
    ("facecap/facecap_animation_weights.csv", [],
     ["# neutral: 0.15–1.11 s (automatic)"]),
])
def test_code_prints_the_neutral_it_subtracted(capsys, take, options, header):
    assert main(["code", str(shared_asset(f"captures/{take}")), *options]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:len(header)] == header
    assert not lines[len(header)].startswith("#")


def test_the_automatic_neutral_window_is_the_one_subtracted():
    # The window printed is the one the calibration used: refitting on it by hand
    # (--neutral START-END) gives the same curves.
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, capture_curves

    capture = read_capture(shared_asset("captures/livelinkface/S07-001.csv"))
    automatic = capture_curves(capture, CleaningOptions(neutral="auto"))
    start, end = automatic.neutral_window
    assert (round(start, 2), round(end, 2)) == (59.86, 60.86)
    given = capture_curves(capture, CleaningOptions(neutral=f"{start!r}-{end!r}"))
    assert given.neutral_window == (start, end)
    np.testing.assert_array_equal(automatic.curves.values, given.curves.values)
    assert capture_curves(capture, CleaningOptions()).neutral_window is None


def test_code_names_emotions_as_the_emfacs_table_does_on_a_real_take(capsys):
    # alex_rom_3 (Live Link Face range of motion): nose wrinkles with the upper lip raised and
    # a weak smile read happiness 2/2 (6+12 all of happiness, 9 a third of 9+15+16); the EMFACS
    # table's disgust rows 9+17 and 10+17 explain more of the face, and with the brows lowered
    # and the eyes closed too (4, 6 or 7, 9 or 10, 43) it is the core pain expression (Prkachin
    # & Solomon 2008), which explains more again (it read disgust 2/2 before pain was named).
    # The ROM's 1+2 with the mouth open read surprise (it read sadness 2/3 for 15; its jaw
    # opening, below 26's full jawOpen, reads 26 since the arkit profile's 27-beyond-26 prior;
    # its 20B and 29B were ARKit's crosstalk from the jaw, taken out since round 9). The 12 at
    # 32.43 s and the 14 at 45.86 s read on both sides since round 10 (R12B, R14B: the other
    # side's trace, 0.09 and 0.07 against 0.09 and 0.10, counts).
    path = str(shared_asset("captures/livelinkface/alex_rom_3.csv"))
    assert main(["code", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    for line in ("30.60–30.93 s  4C+6B+9C+10C+12B+17C+24A+43C  pain 4/4",
                 "32.43–32.90 s  4D+6C+9C+10C+12B+17C+18B+22B+24B+43D  pain 4/4",
                 "45.86–46.33 s  4D+6C+9C+10C+12B+14B+17C+18B+24B+43C  pain 4/4",
                 # 8C: 26 closes the lips without 25, but a scored 25 (C) leaves none of that
                 # closure (rigs/arkit.json, without_full_at), so mouthClose is 8's (8B while
                 # 25's fade was in proportion and 26's closed lips kept part of it)
                 "42.53–43.59 s  1B+2B+8C+15C+22A+25C+26C+28C  surprise 3/4",
                 "4.01–6.79 s  1D+2D+5D  surprise 3/4",
                 "36.43–36.80 s  1C+2C+12C+17B+18B+24B+33C  happiness 1/1"):
        assert line in lines
    # A nose wrinkle or upper lip raise stronger than the smile is never happiness; a smile
    # at a letter above both (60.96 s, 9C+10C+12D) is, 9 and 10 being alternatives that weigh
    # once (it read disgust 2/2 by 9C+10C's 1.10 against 12D's 0.90).
    def letter(code: str, au: int) -> str:
        found = re.search(rf"(?:^|\+)[LR]?{au}([A-E])", code)
        return found.group(1) if found else ""

    smiles = [line.split()[2] for line in lines if line.endswith("happiness 1/1")]
    assert not [code for code in smiles
                if max(letter(code, 9), letter(code, 10)) > letter(code, 12)]
    assert "60.96–62.09 s  9C+10C+12D+14B+16C+25D+43C  happiness 1/1" in lines
    assert "108.82–109.49 s  4C+9C+10D+12C+16B+17C+18C+22B+43D+64B  disgust 2/2" in lines


def test_code_segments_a_real_take_into_stretches_a_coder_would_score(capsys):
    # New-user review: flicker under 0.25 s chained 7.28-16.48 s of this take into one line of
    # 20 AUs; inside it are a brow lowering with upper lip raise (4+7+10, then +9, 10.8-12.1 s)
    # and a smile (6+10+12+14+25 from 14 s), each a line of its own now.
    path = str(shared_asset("captures/openface/facsvatar_demo_full.csv"))
    assert main(["code", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The upper lip raise is the EMFACS disgust row 10; 4+7 without 23 or 24 is no anger row.
    # (OpenFace's AUs get no automatic neutral: the head and eye positions are measured from
    # the take's median pose; against 0 rad the eyes read down (64D-E) and the head tilted
    # (55C-D) all through.)
    # (AU10_r peaks at 1.47 there, an A on OpenFace's scale: it read 10B, and disgust, before
    # OpenFace's letters were read band to band, then nothing (under the global end threshold,
    # OpenFace 1.21) until the openface profile's thresholds coded OpenFace's A band: 10A, and
    # AU09_r's A, 9A; AU04_r's 3.3 is a C, not a D.)
    assert "11.32–11.88 s  4C+6B+7E+9A+10A+56C+63C  disgust 1/1" in lines
    assert "11.88–12.36 s  4C+6B+7E+9A+10A+45+56C+63C  disgust 1/1" in lines
    # The smile from 14 s, held to 17.8 s (cut around its blinks).
    assert "14.32–15.40 s  6B+7C+10B+12C+14B+25C  happiness 2/2" in lines
    assert "15.56–17.08 s  6B+7C+10B+12C+14B+25C+55C  happiness 2/2" in lines
    assert main(["code", path, "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert max(s["end"] - s["start"] for s in segments) <= 3.6
    assert max(sum(int(code.lstrip("LR").rstrip("ABCDE")) < 50 for code in s["code"].split("+"))
               for s in segments) <= 11
    # Face Cap: 5.48-9.38 s was one segment of ~30 AUs labelled fear 7/7.
    # Segmented against the neutral it had when this was measured, now given by hand: the
    # automatic neutral refuses that second (a smile), and with none the tracker's bias reads
    # 17C and 28B all through the take.
    facecap = str(shared_asset("captures/facecap/facecap_animation_weights.csv"))
    assert main(["code", facecap, "--json", "--neutral", "1.314167-2.280833"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert max(s["end"] - s["start"] for s in segments) <= 2.2
    assert max(len(s["code"].split("+")) for s in segments) <= 15
    # The raised brows and lids with dropped jaw (1+2+5B+26) and the mouth pulled to the right
    # (mouthRight 0.97, mouthStretch_R 0.75, the left 0.09: R20C+R30C) read as surprise 4/4, no
    # longer 7/7 of 30 AUs. It read fear 5/6 by the variant 5+20 while a one-sided 20 counted
    # as the table's bilateral one. (R20 at C, D before the ARKit jaw crosstalk was taken out
    # of mouthStretch on Face Cap too.)
    assert [(s["code"], s["emotion"], s["matched"]) for s in segments
            if round(s["start"], 2) == 7.78] == [
        # 8B (8C before 26 closed the lips without 25, none while 25 and 27 faded that in
        # proportion): the solve reads 27 at 0.024 through the stretch, under its trace but a
        # quarter of the way to the 0.1 at which it takes 26's closed lips away
        # (rigs/arkit.json, without_full_at), so part of mouthClose is left to 8.
        ("1D+2D+5D+8B+15C+18C+R20C+22B+26C+28B+R30C+33B+61C+64B", "surprise", 4)]

#: A segment line quoted inline in the docs, with its mark: ``<!-- code TAKE [OPTIONS] -->`` (a
#: line ``facs-rig code TAKE`` prints today, checked) or ``<!-- unchecked: WHY -->`` (an earlier
#: version's output, an example).
_QUOTED_SEGMENT = re.compile(r"`(\d+\.\d\d–\d+\.\d\d s  [^`]+)`"
                             r"(?:\s*<!--\s*(code|unchecked:)\s*([^<>]*?)\s*-->)?")
#: A fenced block of segment lines marked as ``code``'s output on a take (``...`` skips lines).
_QUOTED_BLOCK = re.compile(r"<!--\s*code\s+([^<>]*?)\s*-->\n```text\n(.*?)```", re.S)


def test_every_code_line_docs_captures_quotes_is_one_code_prints(capsys):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "captures.md").read_text("utf-8")
    quoted: dict[str, list[str]] = {}
    unmarked = []
    for line, mark, take in _QUOTED_SEGMENT.findall(docs):
        if mark == "code":
            quoted.setdefault(" ".join(take.split()), []).append(line)
        elif not mark:
            unmarked.append(line)
    in_blocks = set()
    for take, block in _QUOTED_BLOCK.findall(docs):
        lines = [line for line in block.splitlines() if line != "..."]
        quoted.setdefault(" ".join(take.split()), []).extend(lines)
        in_blocks.update(lines)
    unmarked += [line for line in docs.splitlines()
                 if re.match(r"\d+\.\d\d–\d+\.\d\d s  ", line) and line not in in_blocks]
    assert unmarked == [], "mark each quoted segment line <!-- code TAKE --> or <!-- unchecked: WHY -->"
    assert sum(len(lines) for lines in quoted.values()) >= 10
    for take, lines in quoted.items():
        name, *options = take.split()
        found = sorted((SHARED_ASSETS / "captures").glob(f"*/{name}"))
        assert len(found) == 1 or not SHARED_ASSETS.exists(), f"{name}: no such take"
        path = shared_asset(str(found[0].relative_to(SHARED_ASSETS)) if found else name)
        assert main(["code", str(path), *options]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert [line for line in lines if line not in printed] == [], take


def test_the_readme_quotes_a_line_code_prints(capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"`facs-rig code` prints the neutral it subtracted \(`([^`]+)`.*?then "
                       r"lines such as\s+`([^`]+)`", readme, re.S)
    assert main(["code", str(shared_asset("captures/openface/facsvatar_demo_full.csv"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == quoted.group(1) and quoted.group(2) in lines


def test_code_lists_head_and_eye_positions_held_while_the_face_is_at_rest(capsys):
    # Second reader: positions only cut nothing, so where no facial action was near they were
    # lost; the head-movement take (positions only) printed "no AU events", and S07-001's
    # eyes-left (61B) and eyes-up (63B) events at rest were in the timeline but not the summary.
    # FACS 2002 (chapter 9) scores head and eye positions: held ones now make their own lines.
    head = str(shared_asset("captures/openface/facsvatar_head_test_clean.csv"))
    assert main(["code", head]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The head and eyes are measured from their pose over the neutral second, each opposed
    # pair as one signed angle (core.solve.pose_relative_to): the eyes, a little down in that
    # second, read up (63) where they come back level.
    assert lines[:4] == ["# neutral: 0.00–0.97 s (automatic, head and eyes only: OpenFace AU "
                         "intensities are already relative to the person's neutral)",
                         "0.00–0.37 s  54B", "2.30–2.60 s  56D", "2.60–3.40 s  56E+61C+63C"]
    assert lines[-1] == "22.07–23.80 s  52B+64C" and len(lines) == 34
    llf = str(shared_asset("captures/livelinkface/S07-001.csv"))
    assert main(["code", llf]) == 0
    lines = capsys.readouterr().out.splitlines()
    # (Positions held within the A band, 0.10, are the neutral's minor variations since
    # pipeline.position_thresholds: 2.60-3.57 s 63B and 4.30-5.07 s 61B never reached 0.15
    # and were held traces; 0.47-1.40 s read 45+61B. The lids lowered to 0.28 of closed at
    # 1.37 s read 45 until a blink had to come near closed: they are 43C.)
    assert lines[3:5] == ["0.47–1.13 s  61B", "1.37–1.53 s  43C"]
    assert "17.86–18.96 s  63B" in lines


def test_retarget_names_the_two_captures_that_would_write_one_output(tmp_path, capsys):
    """Two takes of one name in two folders: the error said only 'two captures would write the
    same output'; with hundreds of takes, which two is what the user needs."""
    first, second = tmp_path / "day1" / "take.csv", tmp_path / "day2" / "take.csv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("timestamp,AU01_r\n0,1\n0.1,2\n")
    template = str(tmp_path / "{stem}.json")
    assert main(["retarget", str(first), str(second), "-o", template]) == 2
    assert capsys.readouterr().err == (
        f"facs-rig: error: {first} and {second} would both write {tmp_path / 'take.json'}; "
        f"rename one, or use facs-rig batch with -o .../{{parent}}/{{stem}} "
        f"(see 'facs-rig retarget --help')\n")
    assert not (tmp_path / "take.json").exists()


def test_retarget_does_a_capture_named_twice_once(tmp_path, capsys):
    """Overlapping globs (take*.csv take01.csv) name a take twice: batch does it once, and so
    does retarget (it was refused as 'two captures would write the same output')."""
    take = tmp_path / "take01.csv"
    take.write_text("timestamp,AU01_r\n0,1\n0.1,2\n")
    assert main(["retarget", str(take), str(take), "-o", str(tmp_path / "{stem}.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{take} -> {tmp_path / 'take01.json'}: 2 frames")
    # Spelt two ways, one file: still one capture (the first spelling).
    relative = os.path.relpath(take)
    assert main(["retarget", str(take), relative, "-o", str(tmp_path / "{stem}.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{take} -> ")


def test_a_given_neutral_where_the_face_was_lost_is_refused(tmp_path, capsys):
    """`--neutral 2-3` over frames the tracker lost subtracted nothing (a NaN median), while
    `code` printed 'neutral: 2.00–3.00 s (given)' above segments coded against no neutral."""
    rows = ["frame,timestamp,confidence,success,AU12_r"]
    for frame in range(50):
        time = frame / 10
        rows.append(f"{frame + 1},{time:.1f},0.98,{0 if 2 <= time <= 3 else 1},2.5")
    take = tmp_path / "lost.csv"
    take.write_text("\n".join(rows) + "\n")
    out = tmp_path / "lost.json"
    assert main(["retarget", str(take), "--neutral", "2-3", "-o", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"facs-rig: error: {take}: neutral window 2-3 s holds no frame with a tracked face (all "
        f"11 are gaps where the tracker lost it); give a window where the face was tracked\n")
    assert not out.exists()
    assert main(["code", str(take), "--neutral", "1.9-3"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "# repaired: 11 rows with success 0 or confidence below 0.75 treated as gaps",
        "# neutral: 1.90–3.00 s (given)"]


def test_code_of_a_take_whose_face_was_never_tracked_subtracts_no_neutral(tmp_path, capsys):
    """Every row lost (success 0): code printed '# neutral: 0.00–0.97 s (automatic)', a
    resting second chosen among frames with no face."""
    rows = ["frame,timestamp,confidence,success,AU12_r"]
    rows += [f"{frame + 1},{frame / 10:.1f},0.98,0,2.5" for frame in range(80)]
    take = tmp_path / "lost.csv"
    take.write_text("\n".join(rows) + "\n")
    assert main(["code", str(take)]) == 0
    assert capsys.readouterr().out == (
        "# repaired: 80 rows with success 0 or confidence below 0.75 treated as gaps\n"
        "# neutral: none (OpenFace AU intensities are already relative to the person's "
        "neutral)\n"
        "# untracked: 0.00–7.90 s (the face was lost: nothing coded there)\n"
        "no AU events\n")


def _smile_lost_midway(tmp_path):
    return write_openface_smile_lost_midway(tmp_path / "lost_midway.csv")


def test_code_codes_nothing_where_the_face_was_lost_and_says_so(tmp_path, capsys):
    """`code` read the 10 s with no face as interpolated frames and coded
    `7.96–22.00 s  6C+12C  happiness 2/2` across them; a coder scores nothing there. The smile
    is coded up to where the face is lost and from where it is found again, and the summary
    names the untracked stretch (first and last lost frame)."""
    take = _smile_lost_midway(tmp_path)
    assert main(["code", str(take)]) == 0
    assert capsys.readouterr().out == (
        "# repaired: 300 rows with success 0 or confidence below 0.75 treated as gaps\n"
        "# neutral: none (OpenFace AU intensities are already relative to the person's "
        "neutral)\n"
        "# untracked: 10.00–19.97 s (the face was lost: nothing coded there)\n"
        "7.94–9.97 s  6C+12C  happiness 2/2\n"
        "20.00–22.03 s  6C+12C  happiness 2/2\n")
    assert main(["code", str(take), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["untracked"] == [{"start": 10.0, "end": 19.9667}]
    # --max-gap sets how long a lost stretch may be and still be read across.
    assert main(["code", str(take), "--max-gap", "11"]) == 0
    assert "7.94–22.03 s  6C+12C  happiness 2/2" in capsys.readouterr().out


def test_retarget_writes_every_frame_but_no_event_where_the_face_was_lost(tmp_path, capsys):
    """The weights keep every frame (filled across the gap, for animation); the timeline's
    events stop at the lost stretch, which its metadata names."""
    take = _smile_lost_midway(tmp_path)
    assert main(["retarget", str(take), "--rig", "arkit", "-o", str(tmp_path / "w.csv")]) == 0
    assert ": 900 frames at 30 fps" in capsys.readouterr().out
    assert main(["retarget", str(take), "-o", str(tmp_path / "t.json")]) == 0
    assert "4 events" in capsys.readouterr().out
    timeline = json.loads((tmp_path / "t.json").read_text())
    assert timeline["metadata"]["untracked"] == [[10.0, 19.9667]]
    for event in timeline["events"]:
        end = event["start"] + event["onset"] + event["apex"] + event["offset"]
        assert end <= 10.0 or event["start"] >= 19.99, event


def test_a_live_link_face_take_retargeted_to_live_link_face_keeps_its_eye_rotations(tmp_path,
                                                                                     capsys):
    """The nine rotation columns were written as zeros: S07-001 copied to a new Live Link Face
    take (the lossless path) lost LeftEyeYaw (-0.43 to 0.16 rad) and the other eye angles."""
    import csv

    source = shared_asset("captures/livelinkface/S07-001.csv")
    rotations = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                 "RightEyeYaw", "RightEyePitch", "RightEyeRoll")

    def table(path):
        with open(path, encoding="utf-8", newline="") as stream:
            rows = list(csv.reader(stream))
        columns = [rows[0].index(name) for name in rotations]
        return {row[0]: [float(row[k]) for k in columns] for row in rows[1:]}

    recorded = table(source)
    for extra in ([], ["--solve", "--fps", "24"]):
        out = tmp_path / f"copy{len(extra)}.csv"
        assert main(["retarget", str(source), "--rig", "arkit", *extra, "-o", str(out)]) == 0
        written = table(out)
        if not extra:  # every recorded row is written back at its own timecode
            assert len(written) == len(recorded) + 2  # and S07-001's 2 dropped frames
            for timecode, values in recorded.items():
                np.testing.assert_allclose(written[timecode], values, atol=1e-7)
        values = np.array(list(written.values()))
        assert values[:, 3].min() == pytest.approx(-0.4299, abs=2e-3)
        assert values[:, 3].max() == pytest.approx(0.1564, abs=2e-3)
        assert not values[:, :3].any()  # the take recorded no head rotation
    capsys.readouterr()


@pytest.mark.parametrize(("command", "asset"), [
    ("code", "captures/facecap/facecap_animation_weights.csv"),
    ("code", "captures/livelinkface/S07-001.csv"),
    ("retarget", "captures/facecap/facecap_animation_weights.csv"),
])
def test_source_aus_on_a_blendshape_capture_is_one_error(command, asset, capsys, tmp_path):
    """A reviewer's `--source aus` on Face Cap printed a 20-line AttributeError traceback, and on
    Live Link Face coded only the head and eye AUs measured from its angles, silently."""
    arguments = [command, str(shared_asset(asset)), "--source", "aus"]
    if command == "retarget":
        arguments += ["-o", str(tmp_path / "out.json")]
    assert main(arguments) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"facs-rig: error: {shared_asset(asset)}: ")
    assert lines[0].endswith("capture has no facial AU columns of its own (--source aus); its "
                             "AUs are solved from its blendshapes: --source auto or blendshapes")
    assert list(tmp_path.iterdir()) == []
