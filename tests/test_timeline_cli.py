"""``facs-rig timeline show|convert|sample``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.timeline import sample
from facs_rig.io.curves_csv import read_curves_csv
from facs_rig.io.timeline_files import read_timeline

REPO = Path(__file__).resolve().parents[1]
SUSPICION = str(REPO / "examples" / "suspicion_beat.notes")


def run(capsys, *arguments: str) -> tuple[int, str, str]:
    status = main(["timeline", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_show_lists_duration_channels_and_events(capsys):
    status, out, err = run(capsys, "show", SUSPICION)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "duration  7.5 s at 24 fps (181 frames)"
    assert lines[1] == "events    7"
    assert lines[2] == "channels  AU04 AU06 AU07 AU12 AU12_L AU12_R AU14_R"
    assert lines[3] == "title: suspicion, a smile, then contempt"
    assert "1.000  AU04     0.55 (C)   0.400  1.200  0.600   3.200  smooth/smooth" in lines


def test_show_accepts_a_code_and_prints_json(capsys):
    status, out, _ = run(capsys, "show", "6+12D", "--hold", "1", "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary["channels"] == ["AU06", "AU12"]
    assert summary["duration"] == pytest.approx(1.8)
    assert summary["metadata"] == {"code": "6+12D"}
    assert [(e["channel"], e["letter"], e["apex"]) for e in summary["events"]] == [
        ("AU06", None, 1.0), ("AU12", "D", 1.0)]


def test_show_a_real_elan_file_reports_the_ignored_tiers(capsys):
    status, out, _ = run(capsys, "show", str(shared_asset("elan/sample_3.0.eaf")))
    assert status == 0
    assert "events    0" in out
    assert "ignored tiers: text, words-timesub, words-symsub, gestures, gest_included, words-pos" in out


def test_convert_between_formats(capsys, tmp_path):
    for name in ("beats.json", "beats.eaf", "beats.txt"):
        status, out, _ = run(capsys, "convert", SUSPICION, str(tmp_path / name))
        assert status == 0
        assert out == f"wrote {tmp_path / name}: 7 events, 7.5 s\n"
    assert read_timeline(tmp_path / "beats.json") == read_timeline(SUSPICION)
    assert read_timeline(tmp_path / "beats.txt") == read_timeline(SUSPICION)
    status, _, _ = run(capsys, "convert", "surprise", str(tmp_path / "held.csv"), "--fps", "10")
    assert status == 0
    curves = read_curves_csv(tmp_path / "held.csv")
    assert curves.fps == 10.0 and curves.n_frames == 29


def test_convert_to_notes_with_timecode(capsys, tmp_path):
    output = tmp_path / "beats.notes"
    status, _, _ = run(capsys, "convert", SUSPICION, str(output), "--timecode")
    assert status == 0
    lines = output.read_text().splitlines()
    # The director's comments stay on their lines, the names typed stay names.
    assert lines[4].startswith("# AU notes: a director's beat sheet") and len(lines) == 11
    assert lines[7:9] == [
        "00:00:01:00  4C+7B      onset 0.4  apex 1.2  offset 0.6  # the suspicion beat: lowered "
        "brows, narrowed lids",
        "00:00:01:12  L12A       onset 0.25  apex 0.5  offset 0.4  # a one-sided flicker of the lip "
        "corner"]
    assert [line.split("  ")[1].strip() for line in lines[9:]] == ["happiness", "contempt"]
    assert read_timeline(output) == read_timeline(SUSPICION)
    status, _, err = run(capsys, "convert", SUSPICION, str(tmp_path / "beats.json"), "--timecode")
    assert status == 1 and "timecode output applies to AU notes" in err
    assert not (tmp_path / "beats.json").exists()


def test_sample_writes_csv_and_json(capsys, tmp_path):
    output = tmp_path / "curves.csv"
    status, out, _ = run(capsys, "sample", SUSPICION, "--fps", "60", "-o", str(output))
    assert status == 0
    assert out == f"wrote {output}: 451 frames x 7 channels at 60 fps\n"
    curves = read_curves_csv(output)
    expected = sample(read_timeline(SUSPICION), fps=60)
    np.testing.assert_array_equal(curves.values, expected.values)
    assert output.read_text().splitlines()[0] == "time,AU04,AU06,AU07,AU12,AU12_L,AU12_R,AU14_R"
    status, _, _ = run(capsys, "sample", "happiness", "-o", str(tmp_path / "curves.json"))
    data = json.loads((tmp_path / "curves.json").read_text())
    assert status == 0 and data["channels"] == ["AU06", "AU12"] and data["fps"] == 30.0


def test_sample_with_chosen_channels(capsys, tmp_path):
    output = tmp_path / "curves.csv"
    status, _, _ = run(capsys, "sample", "happiness", "--channels", "AU12, 6,AU45", "-o", str(output))
    assert status == 0
    curves = read_curves_csv(output)
    assert [c.name for c in curves.channels] == ["AU12", "AU06", "AU45"]
    assert curves.values[:, 2].max() == 0.0 and curves.values[:, 0].max() == np.float32(0.55)


@pytest.mark.parametrize(("arguments", "message"), [
    (("sample", "happiness", "--channels", "AU12,smile", "-o", "out.csv"),
     "facs-rig: error: channel list 'AU12,smile': 'smile' is not an AU channel such as AU12 or "
     "AU12_L\n"),
    (("sample", "happiness", "--channels", "AU12,12", "-o", "out.csv"),
     "facs-rig: error: channel list 'AU12,12': AU12 is listed twice\n"),
    (("show", "6+99"), "facs-rig: error: '6+99' is neither a timeline file nor a FACS code: "
                       "unknown action unit 99 at column 3 of '6+99'\n"),
    (("show", "missing.notes"), "facs-rig: error: missing.notes: no such timeline file\n"),
    (("sample", "happiness", "-o", "out.npy"),
     "facs-rig: error: out.npy: cannot write .npy as AU curves; use .csv or .json\n"),
    (("convert", "happiness", "out.xml"),
     "facs-rig: error: out.xml: cannot write .xml as a timeline; use .json, .notes, .txt, .eaf or "
     ".csv\n"),
    (("convert", "happiness", "-o", "no/out.json"),
     "facs-rig: error: no/out.json: cannot write, folder no does not exist\n"),
])
def test_errors_are_one_line_and_write_nothing(capsys, tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *arguments)
    assert (status, out, err) == (1, "", message)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_leaves_an_existing_output_untouched(capsys, tmp_path):
    bad = tmp_path / "bad.notes"
    bad.write_text("fps 24\n1 12\n00:00:00:30 6\n")
    output = tmp_path / "curves.csv"
    output.write_text("previous\n")
    status, _, err = run(capsys, "sample", str(bad), "-o", str(output))
    assert status == 1
    assert err == (f"facs-rig: error: {bad}, line 3, column 1: timecode '00:00:00:30': frame 30 "
                   f"must be below the frame rate (24 frames per second, so 0-23)\n")
    assert output.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.notes", "curves.csv"]


def test_timeline_without_subcommand_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == 2
    assert "choose a subcommand: show, convert or sample" in err


def test_show_prints_intensities_that_agree_with_their_letter(tmp_path, capsys):
    # New-user review: `0.10 (B)` and `0.55 (D)` contradicted the bands (A up to 0.10, C up to
    # 0.55 on the default scale); enough digits are shown for the number to lie in the band.
    path = tmp_path / "edges.json"
    events = [{"channel": channel, "intensity": value, "letter": letter, "start": 0.0,
               "onset": 0.1, "apex": 0.5, "offset": 0.1}
              for channel, value, letter in [("AU1", 0.1003, "B"), ("AU2", 0.5504, "D"),
                                             ("AU4", 0.17100000381469727, "B"), ("AU6", 0.1, "A"),
                                             ("AU7", 0.9003, "E"), ("AU9", 0.3, "D")]]
    path.write_text(json.dumps({"schema": "facs_rig.timeline/1", "events": events}))
    assert main(["timeline", "show", str(path)]) == 0
    rows = {line.split()[1]: line.split()[2:4] for line in capsys.readouterr().out.splitlines()
            if line.startswith("0.000")}
    assert rows == {"AU01": ["0.1003", "(B)"], "AU02": ["0.5504", "(D)"], "AU04": ["0.17", "(B)"],
                    "AU06": ["0.10", "(A)"], "AU07": ["0.9003", "(E)"],
                    # A letter given against its value: no rounding agrees, the exact value.
                    "AU09": ["0.3", "(D)"]}


def test_show_says_which_events_the_duration_hides_or_cuts(tmp_path, capsys):
    """A 'duration' shorter than the beats: the beat after it never shows and the one across it
    is cut (sampling, previews and bakes stop at the duration); show used to list both silently."""
    notes = tmp_path / "short.notes"
    notes.write_text("fps 24\nduration 1\n0.5 6\n1 L14 onset 0\n00:00:01:12 12D\n")
    code, out, _ = run(capsys, "show", str(notes))
    assert code == 0
    assert out.splitlines()[-2:] == [
        "note: 1 event(s) start at or after the duration (1 s) and never show: AU12 at 1.5 s",
        "note: 1 event(s) run past the duration (1 s) and are cut off there",
    ]
    notes.write_text("fps 24\n0.5 6\n00:00:01:12 12D\n")
    code, out, _ = run(capsys, "show", str(notes))
    assert code == 0 and "note:" not in out


def test_show_and_convert_keep_speech_and_unscorable(capsys, tmp_path):
    """A coder's 50 (speech) and 74 (unscorable) were dropped by show and convert without a
    word; they are listed, written back by every timeline format, and said to be left out of a
    per-frame CSV."""
    notes = tmp_path / "coder.notes"
    notes.write_text("fps 30\n1.0  6+12+50  apex 1\n3.0  74  apex 1\n", encoding="utf-8")
    status, out, err = run(capsys, "show", str(notes))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[:4] == ["duration  4.8 s at 30 fps (145 frames)", "events    2",
                         "channels  AU06 AU12",
                         "marks     2 (codes that drive nothing: kept, not played)"]
    assert lines[-4:] == ["start  code  name        end", "-----  ----  ----------  -----",
                          "1.000  50    Speech      2.800", "3.000  74    Unscorable  4.800"]
    for extension in ("json", "eaf", "notes"):
        output = tmp_path / f"copy.{extension}"
        status, out, _ = run(capsys, "convert", str(notes), str(output))
        assert status == 0 and out == f"wrote {output}: 2 events, 2 marks, 4.8 s\n"
        assert [(m.code, m.start, m.end) for m in read_timeline(output).marks] == [
            (50, 1.0, 2.8), (74, 3.0, 4.8)]
    status, out, _ = run(capsys, "convert", str(notes), str(tmp_path / "frames.csv"))
    assert status == 0 and out.splitlines()[1] == (
        "note: a CSV holds per-frame values: the 2 mark(s) of codes that drive nothing (50, 74) "
        "are not in it; keep them in .json, .notes or .eaf")
    status, out, _ = run(capsys, "show", "74", "--json")
    assert json.loads(out)["marks"] == [{"code": 74, "start": 0.0, "end": 2.8}]


@pytest.mark.parametrize(("code", "message"), [
    ("51+52", "51+52: the head cannot turn left and right at once (FACS 2002, Table 9-1) at "
              "column 4 of '51+52'"),
    ("46", "46 is a wink of one eye: write L46 or R46 (both eyes: 45 or 43) at column 1 of '46'"),
])
def test_a_code_facs_does_not_score_is_one_line_error(capsys, code, message):
    status, out, err = run(capsys, "show", code)
    assert status == 1 and out == ""
    assert err.endswith(f"{message}\n") and err.count("\n") == 1
