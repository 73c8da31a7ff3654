"""Options have their effect or are refused in one line, never accepted and ignored.

The event options (``--on``, ``--off``, ``--min-duration``, ``--trace``, ``--whole-events``)
have their effect on every path that makes events, or are refused; so are the rig options
(``--mesh``, ``--rig``, ``--solve``) where no output uses them.

``code`` applies a given ``--on``/``--off`` to every AU as it is (a rise above its rest) instead
of the tracker profile's per-AU fractions. ``retarget``'s timeline outputs (.notes, .json, .eaf)
and ``batch`` (its timelines and its FACS summary, which must be what ``code`` prints) once
ignored which of them were given and kept the profile's fractions; ``retarget`` to an output
without events (.glb, .csv) accepted them and changed nothing.

The take is the ten-second MediaPipe smile of test_capture_meaning: a squint (AU6, AU7) of 0.21
above its rest with a smile (AU12) of 0.5. With ``--on 0.3 --off 0.25`` given, ``code`` codes
12C alone; the profile's fractions (a start at most 0.3 above rest, at half the AU's range)
kept AU6 at C.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_asset, write_mediapipe_smile

from facs_rig.cli import main
from facs_rig.io.timeline_files import read_timeline
from facs_rig.resources import load_vocabulary

FPS = 30.0
GIVEN = ["--on", "0.3", "--off", "0.25"]
#: retarget's cleaning made code's (an automatic neutral, zero-phase smoothing).
AS_CODE = ["--neutral", "auto", "--smooth", "zero-phase"]


@pytest.fixture
def smile(tmp_path: Path) -> Path:
    """A MediaPipe take: 4 s at rest, a Duchenne smile 4-6 s, rest to 10 s."""
    return write_mediapipe_smile(tmp_path / "smile.csv", FPS)


def _code(capsys, take: Path, *options: str) -> str:
    capsys.readouterr()
    assert main(["code", str(take), *options]) == 0
    return capsys.readouterr().out


def _codes(path: Path) -> list[str]:
    """The events of a timeline file as ``start code`` (the code with its intensity's letter:
    ELAN keeps a measured intensity as a number, not the letter)."""
    scale = load_vocabulary().scale()
    timeline = read_timeline(str(path), load_vocabulary())
    return [f"{e.start:.3f} {e.channel.name}{scale.value_to_letter(e.intensity)}"
            for e in sorted(timeline.events, key=lambda e: (e.start, e.channel.sort_key))]


def test_code_is_the_reference(smile, capsys):
    assert _code(capsys, smile).splitlines()[1].split("  ")[1] == "6C+7B+12C"
    assert _code(capsys, smile, *GIVEN).splitlines()[1:] == ["3.97–6.00 s  12C  happiness 1/1"]


def test_retarget_notes_apply_on_and_off_as_given(smile, tmp_path, capsys):
    out = tmp_path / "smile.notes"
    assert main(["retarget", str(smile), *AS_CODE, *GIVEN, "-o", str(out)]) == 0
    assert capsys.readouterr().out.endswith("mapped by tracker profile mediapipe, 1 events\n")
    # The profile's fractions wrote 6C at 3.966667 and 7B at 4 as well.
    assert out.read_text(encoding="utf-8") == (
        "# facs-rig AU notes: time  code  phases (see docs/timeline-formats.md)\n"
        "measured captured curves (hysteresis on/off 0.3/0.25, min 0.1 s)\n"
        "fps 30\n"
        "duration 9.966667\n"
        "3.966667  12C  onset 0.056768867  apex 1.919794689  offset 0.056769445  ease linear  "
        "intensity 0.5\n")


@pytest.mark.parametrize("extension", ["json", "eaf", "txt"])
def test_every_timeline_output_of_retarget_applies_them(smile, tmp_path, extension):
    given, profile = tmp_path / f"given.{extension}", tmp_path / f"profile.{extension}"
    assert main(["retarget", str(smile), *AS_CODE, *GIVEN, "-o", str(given)]) == 0
    assert main(["retarget", str(smile), *AS_CODE, "-o", str(profile)]) == 0
    assert _codes(given) == ["3.967 AU12C"]
    assert _codes(profile) == ["3.967 AU06C", "3.967 AU12C", "4.000 AU07B"]


@pytest.mark.parametrize("options, given", [
    (["--on", "0.3"], "--on"),
    (["--off", "0.01"], "--off"),
    (["--min-duration", "3"], "--min-duration"),
    (["--trace", "none"], "--trace"),
    (["--whole-events"], "--whole-events"),
    (["--on", "0.3", "--whole-events"], "--on, --whole-events"),
])
@pytest.mark.parametrize("output", ["x.glb", "x.csv"])
def test_retarget_refuses_event_options_for_an_output_without_events(
        smile, tmp_path, capsys, options, given, output):
    capsys.readouterr()
    out = tmp_path / output
    assert main(["retarget", str(smile), *options, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    verb = "these options change" if "," in given else "it changes"
    assert err == (f"facs-rig: error: {given}: {verb} the events of timeline outputs (.json, "
                   f".txt, .notes, .eaf); {out} holds no events (see 'facs-rig retarget "
                   f"--help')\n")
    assert not out.exists()


def test_retarget_with_several_outputs_refuses_them_before_any_work(smile, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_bytes(smile.read_bytes())
    assert main(["retarget", str(smile), str(other), "--trace", "1", "-o",
                 str(tmp_path / "out" / "{stem}.glb")]) == 2
    assert not (tmp_path / "out").exists()


def test_the_other_event_options_change_retarget_timelines(smile, tmp_path):
    """--min-duration, --trace and --whole-events reach retarget's events (as in code)."""
    def codes(*options: str) -> list[str]:
        out = tmp_path / "t.json"
        assert main(["retarget", str(smile), *AS_CODE, *options, "-o", str(out)]) == 0
        return _codes(out)

    assert codes("--min-duration", "3") == []  # the smile lasts 2 s
    # 7B is a trace of AU7 above --off that never reaches --on: gone without the trace rule.
    assert codes("--trace", "none") == ["3.967 AU06C", "3.967 AU12C"]
    assert codes("--whole-events") == ["3.967 AU06C", "3.967 AU12C", "4.000 AU07B"]


def _batch(smile: Path, out: Path, *options: str) -> int:
    return main(["batch", str(smile), "-o", f"{out}/{{stem}}.{{ext}}", "--formats",
                 "notes,eaf", "--workers", "1", *options])


def test_batch_applies_on_and_off_to_its_summary_and_timelines(smile, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(smile, out, *AS_CODE, *GIVEN) == 0
    assert "1 done" in capsys.readouterr().out
    summary = (out / "smile.facs.txt").read_text(encoding="utf-8")
    assert summary == _code(capsys, smile, *GIVEN)  # 6C+12C under the profile's fractions
    assert summary.splitlines()[1] == "3.97–6.00 s  12C  happiness 1/1"
    for extension in ("notes", "eaf"):
        assert _codes(out / f"smile.{extension}") == ["3.967 AU12C"]
    report = json.loads((out / "batch-report.json").read_text())
    qc = report["takes"][0]["qc"]
    assert qc["events"] == 1 and [d["au"] for d in qc["dominant_aus"]] == ["AU12"]


@pytest.mark.parametrize("options", [["--min-duration", "3"], ["--trace", "none"],
                                     ["--whole-events"], ["--off", "0.02"]])
def test_batch_summary_is_what_code_prints_with_each_event_option(smile, tmp_path, capsys,
                                                                   options):
    out = tmp_path / "out"
    assert _batch(smile, out, *options) == 0
    assert (out / "smile.facs.txt").read_text(encoding="utf-8") == _code(capsys, smile, *options)


def test_the_manifest_records_which_thresholds_were_given_and_a_change_redoes_the_take(
        smile, tmp_path, capsys):
    out = tmp_path / "out"

    def run(*options: str) -> str:
        capsys.readouterr()
        assert _batch(smile, out, *options) == 0
        return capsys.readouterr().out.splitlines()[-1]

    def recorded() -> list:
        lines = (out / "batch-manifest.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["settings"]["requests"][0]["thresholds_given"]

    assert run().startswith("batch: 1 takes: 1 done, 0 up to date")
    assert recorded() == []
    # --on 0.15 is the default value, but given it applies as it is: not the same settings.
    assert run("--on", "0.15").startswith("batch: 1 takes: 1 done, 0 up to date")
    assert recorded() == ["on"]
    assert run("--on", "0.15").startswith("batch: 1 takes: 0 done, 1 up to date")
    assert run("--on", "0.15", "--off", "0.08").startswith("batch: 1 takes: 1 done")
    assert recorded() == ["off", "on"]


@pytest.mark.parametrize("options, output, message", [
    (["--rig", "arkit"], "x.json", "--rig only changes .glb/.gltf/.csv outputs (AU timelines hold "
                                   "AUs, not rig weights), and {out} is not one"),
    (["--rig", "arkit"], "x.notes", "--rig only changes .glb/.gltf/.csv outputs (AU timelines "
                                    "hold AUs, not rig weights), and {out} is not one"),
    (["--mesh", "face.glb"], "x.csv", "--mesh only changes .glb/.gltf outputs (the mesh they "
                                      "animate), and {out} is not one"),
    (["--mesh", "face.glb", "--rig", "arkit"], "x.csv",
     "--mesh only changes .glb/.gltf outputs (the mesh they animate), and {out} is not one"),
    (["--solve"], "x.eaf", "--solve only changes outputs on a rig (.glb, .gltf, .csv with --rig), "
                           "and {out} is not one"),
    # AU curves: a capture is solved to AUs whatever --solve says.
    (["--solve"], "x.csv", "--solve only changes outputs on a rig (.glb, .gltf, .csv with "
                           "--rig), and {out} is not one"),
])
def test_retarget_refuses_rig_options_no_output_uses(smile, tmp_path, capsys, options, output,
                                                     message):
    out = tmp_path / output
    capsys.readouterr()
    assert main(["retarget", str(smile), *options, "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"facs-rig: error: {message.format(out=out)} (see "
                                       f"'facs-rig retarget --help')\n")
    assert not out.exists()


@pytest.mark.parametrize("options, output", [
    (["--solve", "--rig", "arkit"], "x.csv"), (["--rig", "facs"], "x.glb"),
])
def test_retarget_keeps_rig_options_an_output_uses(smile, tmp_path, options, output):
    assert main(["retarget", str(smile), *options, "-o", str(tmp_path / output)]) == 0


@pytest.mark.parametrize("options, message", [
    (["--formats", "json,notes", "--rig", "arkit"],
     "--rig only changes .glb/.gltf/.csv outputs (AU timelines hold AUs, not rig weights), and "
     "--formats json,notes names none"),
    (["--formats", "csv,eaf", "--mesh", "face.glb"],
     "--mesh only changes .glb/.gltf outputs (the mesh they animate), and --formats csv,eaf "
     "names none"),
])
def test_batch_refuses_rig_options_no_output_uses_before_any_work(smile, tmp_path, capsys,
                                                                  options, message):
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["batch", str(smile), "-o", f"{out}/{{stem}}.{{ext}}", *options]) == 2
    assert capsys.readouterr().err == f"facs-rig: error: {message} (see 'facs-rig batch --help')\n"
    assert not out.exists()


def test_cutoff_is_refused_where_no_zero_phase_smoothing_uses_it(tmp_path, capsys):
    """`--smooth one-euro --cutoff 1` gave byte-identical files: --cutoff only sets the
    zero-phase filter's cutoff. It is refused where nothing smooths that way (retarget's
    default is no smoothing), and kept where something does (code's default; a batch's summary)."""
    take = str(shared_asset("captures/livelinkface/S07-001.csv"))
    for arguments, smoothing in (([], "none"), (["--smooth", "one-euro"], "one-euro")):
        assert main(["retarget", take, "-o", str(tmp_path / "x.csv"), "--cutoff", "1",
                     *arguments]) == 2
        assert capsys.readouterr().err == (
            f"facs-rig: error: --cutoff sets the zero-phase smoothing's cutoff, and the smoothing "
            f"here is {smoothing}: add --smooth zero-phase (see 'facs-rig retarget --help')\n")
    assert not (tmp_path / "x.csv").exists()
    assert main(["code", take, "--cutoff", "1"]) == 0
    slow = capsys.readouterr().out
    assert main(["code", take]) == 0
    assert capsys.readouterr().out != slow  # a 1 Hz cutoff smooths more than the default 6 Hz


# --tracker where the AUs are the capture's own AU columns -------------------------------------

OPENFACE = "captures/openface/facsvatar_2people_60fps_p0_clean.csv"
#: A Py-Feat file of the Fex test, with Py-Feat's AUs and no MediaPipe blendshapes.
PYFEAT_AUS_ONLY = "captures/pyfeat/fex_test_001.csv"
NOT_APPLIED = ("is an openface capture with no blendshapes for a tracker profile to map (its AUs "
               "are its own AU columns)")


@pytest.mark.parametrize("command", ["code", "retarget"])
def test_tracker_is_refused_on_an_openface_take(tmp_path, capsys, command):
    """`code --tracker mediapipe` on an OpenFace take read OpenFace's AUs with the MediaPipe
    mapping's event thresholds (other lines: 1.48-2.31 s 52C+53C+62C split in three);
    `--tracker arkit` was ignored without a word."""
    take = str(shared_asset(OPENFACE))
    out = tmp_path / "x.json"
    arguments = [take] if command == "code" else [take, "-o", str(out)]
    for tracker in ("mediapipe", "arkit"):
        capsys.readouterr()
        assert main([command, *arguments, "--tracker", tracker]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (f"facs-rig: error: --tracker {tracker}: {take} {NOT_APPLIED} "
                                f"(see 'facs-rig {command} --help')\n")
    assert not out.exists()


def test_tracker_is_refused_on_a_pyfeat_file_without_blendshapes(capsys):
    take = str(shared_asset(PYFEAT_AUS_ONLY))
    assert main(["code", take, "--tracker", "arkit"]) == 2
    assert capsys.readouterr().err == (
        f"facs-rig: error: --tracker arkit: {take} is a pyfeat capture with no blendshapes for a "
        f"tracker profile to map (its AUs are its own AU columns) (see 'facs-rig code --help')\n")


@pytest.mark.parametrize("command", ["code", "retarget", "batch"])
def test_tracker_is_refused_with_source_aus(tmp_path, capsys, command):
    """With --source aus a Py-Feat file's own AUs were read and --tracker changed nothing."""
    take = str(shared_asset("captures/pyfeat/005.csv"))
    outputs = {"code": [], "retarget": ["-o", str(tmp_path / "x.json")],
               "batch": ["-o", f"{tmp_path}/out/{{stem}}.json"]}[command]
    assert main([command, take, *outputs, "--source", "aus", "--tracker", "mediapipe"]) == 2
    assert capsys.readouterr().err == (
        f"facs-rig: error: --tracker mediapipe: --source aus reads the capture's own AU columns, "
        f"not blendshapes for a tracker profile to map (see 'facs-rig {command} --help')\n")
    assert list(tmp_path.iterdir()) == []


def test_retarget_refuses_tracker_for_one_openface_take_among_several_before_any_work(
        tmp_path, capsys):
    llf, openface = (str(shared_asset(name)) for name in ("captures/livelinkface/S07-001.csv",
                                                          OPENFACE))
    assert main(["retarget", llf, openface, "--tracker", "arkit", "-o",
                 str(tmp_path / "{stem}.json")]) == 2
    assert capsys.readouterr().err.startswith(f"facs-rig: error: --tracker arkit: {openface} ")
    assert list(tmp_path.iterdir()) == []


def test_tracker_still_applies_where_there_are_blendshapes(tmp_path, capsys):
    """A Py-Feat file with MediaPipe's blendshapes: --tracker means them (not refused)."""
    take = str(shared_asset("captures/pyfeat/005.csv"))
    assert main(["retarget", take, "--tracker", "arkit", "-o", str(tmp_path / "x.csv")]) == 0
    assert "pyfeat, solved from blendshapes" in capsys.readouterr().out


def test_the_library_refuses_a_tracker_on_a_take_of_its_own_aus():
    from facs_rig.errors import CaptureFormatError
    from facs_rig.io.captures import read_capture
    from facs_rig.io.captures.pipeline import CleaningOptions, take_curves

    capture = read_capture(shared_asset(OPENFACE))
    with pytest.raises(CaptureFormatError, match=f"^--tracker mediapipe: .* {re.escape(NOT_APPLIED)}$"):
        take_curves(capture, CleaningOptions(), tracker="mediapipe")
    # The format's own: openface (its event thresholds; nothing to map).
    solved, profile = take_curves(capture, CleaningOptions())
    assert solved.source == "aus" and profile.name == "openface"


def test_docs_quote_the_refusal(tmp_path, capsys, monkeypatch):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "captures.md").read_text("utf-8")
    quoted = re.search(r"```text\n(facs-rig: error: --tracker [^\n]+)\n```", docs).group(1)
    take = shared_asset("captures/openface/facsvatar_demo_full.csv")
    monkeypatch.chdir(take.parent)
    assert main(["code", take.name, "--tracker", "mediapipe"]) == 2
    assert capsys.readouterr().err == quoted + "\n"


def _folder_of(tmp_path: Path, *names: str) -> Path:
    """A folder holding copies of the shared takes ``names``."""
    folder = tmp_path / "takes"
    folder.mkdir()
    for name in names:
        (folder / Path(name).name).write_bytes(shared_asset(name).read_bytes())
    return folder


def test_batch_gives_tracker_to_the_blendshape_takes_and_says_which_it_did_not(tmp_path, capsys):
    """As --face goes to the OpenFace takes only, --tracker goes to the takes with blendshapes:
    the OpenFace take is done without it (its outputs are retarget's and code's without
    --tracker), its QC and a note line say so; the Live Link Face take is solved with it."""
    folder = _folder_of(tmp_path, OPENFACE, "captures/livelinkface/S07-001.csv")
    openface = folder / Path(OPENFACE).name
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["batch", str(folder), "-o", f"{out}/{{stem}}.{{ext}}", "--formats", "json,csv",
                 "--workers", "1", "--tracker", "arkit"]) == 0
    note = f"--tracker arkit not applied: {openface} {NOT_APPLIED}"
    assert f"facs-rig: note: {note}\n" in capsys.readouterr().err
    takes = {Path(t["capture"]).name: t["qc"]
             for t in json.loads((out / "batch-report.json").read_text())["takes"]}
    assert takes[openface.name]["tracker"] is None
    assert takes[openface.name]["not_applied"] == [note]
    assert takes["S07-001.csv"]["tracker"] == "arkit"
    assert takes["S07-001.csv"]["not_applied"] == []
    assert f"<div>{note}</div>" in (out / "batch-report.html").read_text(encoding="utf-8")
    # The OpenFace take's files are those made without --tracker.
    alone = tmp_path / "alone.csv"
    assert main(["retarget", str(openface), "-o", str(alone)]) == 0
    assert (out / f"{openface.stem}.csv").read_bytes() == alone.read_bytes()
    assert (out / f"{openface.stem}.facs.txt").read_text(encoding="utf-8") == \
        _code(capsys, openface)


def test_a_manifest_has_no_per_take_tracker(tmp_path, capsys):
    """There is no per-take tracker field: a manifest naming one is refused, not ignored."""
    manifest = tmp_path / "takes.csv"
    manifest.write_text(f"capture,tracker\n{shared_asset(OPENFACE)},mediapipe\n")
    assert main(["batch", str(manifest), "-o", f"{tmp_path}/out/{{stem}}.json"]) == 1
    assert capsys.readouterr().err == (
        f"facs-rig: error: {manifest}: line 1: unknown column(s) tracker; known: capture, rig, "
        f"mesh, fps, neutral, from, face, stem\n")


# --gain on the head and eye positions of a blendshape take -------------------------------------

def _llf_cut(frames: int, smile: float | None = None):
    """The first ``frames`` of S07-001.csv (its eye angles measured: AU61-64), with both
    mouthSmile shapes held at ``smile`` when given (then no second of it is at rest)."""
    from dataclasses import replace

    from facs_rig.io.captures import read_capture

    capture = read_capture(shared_asset("captures/livelinkface/S07-001.csv"))
    weights = capture.blendshapes.weights[:frames].copy()
    if smile is not None:
        for k, name in enumerate(capture.blendshapes.names):
            if name.startswith("mouthSmile"):
                weights[:, k] = smile
    return replace(capture, gaps=capture.gaps[:frames],
                   aus=replace(capture.aus, times=capture.aus.times[:frames],
                               values=capture.aus.values[:frames]),
                   blendshapes=replace(capture.blendshapes,
                                       times=capture.blendshapes.times[:frames], weights=weights))


def _p95(solved, name: str) -> float:
    names = [c.name for c in solved.curves.channels]
    return round(float(np.nanpercentile(solved.curves.values[:, names.index(name)], 95)), 3)


def test_gain_reaches_the_angle_aus_under_the_automatic_neutral_without_a_rest():
    """--gain 95 rescaled the blendshapes (so AU12) but not the measured eye positions when the
    automatic neutral subtracted nothing: a take too short for it (they stayed as measured,
    AU63 0.575 at its 95th percentile) or one with no resting second (AU64 0.53 against the
    median pose). Every other path gained them; now these do too, by the same rule: from 0 on
    the short take (as --neutral none), from the median pose the positions are read against."""
    from facs_rig.io.captures.pipeline import capture_to_aus

    short = _llf_cut(90)  # 3 s: under the automatic neutral's 5 s
    plain = capture_to_aus(short, neutral="auto")
    gained = capture_to_aus(short, neutral="auto", gain_percentile=95.0)
    assert [_p95(plain, n) for n in ("AU61", "AU63", "AU64")] == [0.251, 0.575, 0.301]
    assert [_p95(gained, n) for n in ("AU61", "AU63", "AU64")] == [0.999, 0.999, 0.903]
    # From 0, as with no neutral at all: the very same curves.
    none = capture_to_aus(short, neutral="none", gain_percentile=95.0)
    np.testing.assert_array_equal(gained.curves.values, none.curves.values)

    smiling = _llf_cut(240, smile=0.8)  # 8 s, never at rest
    plain = capture_to_aus(smiling, neutral="auto")
    gained = capture_to_aus(smiling, neutral="auto", gain_percentile=95.0)
    assert gained.neutral_window is None and gained.neutral_note.startswith("no resting second")
    assert [_p95(plain, n) for n in ("AU12_L", "AU61", "AU62", "AU64")] == \
        [0.739, 0.053, 0.118, 0.53]
    # AU61 and AU62 move less than 0.2 from the median pose: stretched at most 5 times.
    assert [_p95(gained, n) for n in ("AU12_L", "AU61", "AU62", "AU64")] == \
        [0.943, 0.264, 0.591, 0.999]


@pytest.mark.parametrize("command", ["code", "retarget", "batch"])
@pytest.mark.parametrize("value", ["0", "0.0", "-0"])
def test_gain_0_is_refused_by_every_command_that_takes_it(smile, tmp_path, capsys, command, value):
    """--gain 0 was accepted: the 0th percentile (each channel's lowest value) read 1, so every
    channel that returns to rest got the largest stretch, 5 times, the opposite of a user's
    "no gain". Refused while parsing, before the take is read."""
    output = {"code": [], "retarget": ["-o", str(tmp_path / "x.csv")],
              "batch": ["-o", str(tmp_path / "out" / "{stem}.csv")]}[command]
    capsys.readouterr()
    assert main([command, str(smile), *output, "--gain", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"facs-rig: error: argument --gain: {value}: would make each channel's lowest value read "
        f"1 (every channel that returns to rest gets the largest stretch, 5 times); give the "
        f"percentile that should read 1 (such as 95), or leave --gain out to rescale nothing "
        f"(see 'facs-rig {command} --help')\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["smile.csv"]


def test_what_gain_0_did_and_a_small_gain_still_does(smile, capsys):
    """The refusal's numbers: the 0th percentile of a channel that rests is at or below its
    rest, so its gain is the cap, 1 / 0.2. A small percentile (0.5) is refused by nothing: on
    this take it is the same cap, but a take that never rests has a real 0.5th percentile."""
    from facs_rig.core.filters import NeutralCalibration

    values = np.array([[0.0, 0.5], [0.1, 0.6], [0.6, 0.9]])
    assert NeutralCalibration.gain_only(values, 0.0).gain.tolist() == [5.0, 2.0]
    assert NeutralCalibration.gain_only(values, 100.0).gain.tolist() == \
        pytest.approx([1 / 0.6, 1 / 0.9])
    assert _code(capsys, smile, "--gain", "0.5") != _code(capsys, smile)


@pytest.mark.parametrize("percentile", [0.0, -1.0, 100.5, float("nan")])
def test_the_library_refuses_the_gains_the_cli_refuses(percentile):
    """--gain 0 is refused where every caller's cleaning is checked, CleaningOptions, not only by
    the CLI's option: a Python caller's gain_percentile=0 stretched every resting channel 5x."""
    from facs_rig.io.captures.pipeline import CleaningOptions

    with pytest.raises(ValueError, match="gain percentile must be more than 0 and at most 100"):
        CleaningOptions(gain_percentile=percentile)
    assert CleaningOptions(gain_percentile=95.0).gain_percentile == 95.0


# Cleaning options where ARKit weights are copied as recorded -----------------------------------

@pytest.mark.parametrize("options, named", [
    (["--neutral", "auto"], "--neutral auto: "),
    (["--gain", "95", "--smooth", "zero-phase"], "--gain 95, --smooth zero-phase: "),
    (["--gaps", "hold", "--max-gap", "0.5"], "--gaps hold, --max-gap 0.5: "),
    (["--tracker", "generic"], "--tracker generic: "),
])
def test_retarget_refuses_cleaning_a_copy_of_arkit_weights(tmp_path, capsys, options, named):
    """A Live Link Face take onto --rig arkit copies its weights as recorded (lossless): with
    --neutral auto, --gain 95, --smooth zero-phase, --gaps hold or --tracker the file was
    byte-identical to the plain copy. Refused, naming --solve, which applies them."""
    take = str(shared_asset("captures/livelinkface/S07-001.csv"))
    out = tmp_path / "take.csv"
    capsys.readouterr()
    assert main(["retarget", take, "--rig", "arkit", *options, "-o", str(out)]) == 1
    verb = "these options do" if "," in named else "it does"
    assert capsys.readouterr().err == (
        f"facs-rig: error: {take}: {named}the livelinkface take's ARKit weights are copied onto "
        f"arkit as recorded, which {verb} not change; add --solve to solve, clean and mix them\n")
    assert not out.exists()
    # With --solve they go through the AU route, and change the file.
    plain, solved = tmp_path / "plain.csv", tmp_path / "solved.csv"
    assert main(["retarget", take, "--rig", "arkit", "--solve", "-o", str(plain)]) == 0
    assert main(["retarget", take, "--rig", "arkit", "--solve", *options, "-o",
                 str(solved)]) == 0
    assert solved.read_bytes() != plain.read_bytes()


def test_the_copy_still_takes_fps(tmp_path):
    take = str(shared_asset("captures/livelinkface/S07-001.csv"))
    out = tmp_path / "take.csv"
    assert main(["retarget", take, "--rig", "arkit", "--fps", "60", "-o", str(out)]) == 0
    # 2030 frames at 30 fps (67.63 s) copied at 60 fps: 4058 rows under the header.
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 4058


def test_docs_quote_the_copys_refusal(capsys, monkeypatch, tmp_path):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "captures.md").read_text("utf-8")
    quoted = re.search(r"```text\n(facs-rig: error: S07-001\.csv: [^\n]+)\n```", docs).group(1)
    take = shared_asset("captures/livelinkface/S07-001.csv")
    monkeypatch.chdir(take.parent)
    assert main(["retarget", take.name, "--rig", "arkit", "--neutral", "auto", "-o",
                 str(tmp_path / "x.csv")]) == 1
    assert capsys.readouterr().err == quoted + "\n"


def test_batch_copies_the_weights_as_recorded_and_applies_the_cleaning_where_it_acts(
        tmp_path, capsys):
    """In a batch the cleaning options still shape the take's timelines, its summary and QC, so
    the take is done: the weights copy is written as retarget writes it without them, and a note
    says so (a second reader's batch to {csv,json} failed the whole take)."""
    take = tmp_path / "S07-001.csv"
    take.write_bytes(shared_asset("captures/livelinkface/S07-001.csv").read_bytes())
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["batch", str(take), "-o", f"{out}/{{stem}}.{{ext}}", "--formats", "csv,json",
                 "--rig", "arkit", "--smooth", "zero-phase", "--workers", "1"]) == 0
    note = (f"--smooth zero-phase not applied to {out}/S07-001.csv: the livelinkface take's ARKit "
            f"weights are copied onto arkit as recorded (--solve solves, cleans and mixes them)")
    assert f"facs-rig: note: {note}\n" in capsys.readouterr().err
    (qc,) = [t["qc"] for t in json.loads((out / "batch-report.json").read_text())["takes"]]
    assert qc["not_applied"] == [note]
    copy, smoothed = tmp_path / "copy.csv", tmp_path / "smoothed.json"
    assert main(["retarget", str(take), "--rig", "arkit", "-o", str(copy)]) == 0
    assert main(["retarget", str(take), "--smooth", "zero-phase", "-o", str(smoothed)]) == 0
    assert (out / "S07-001.csv").read_bytes() == copy.read_bytes()
    assert (out / "S07-001.json").read_bytes() == smoothed.read_bytes()
    assert (out / "S07-001.facs.txt").read_text(encoding="utf-8") == \
        _code(capsys, take, "--smooth", "zero-phase")


# --trace and --whole-events on AUs coded as presence (a Py-Feat file's own) ------------------

PRESENCE = ("is a pyfeat capture whose AU columns are presence probabilities, coded present or "
            "absent, with no trace and no intensity to follow")


@pytest.mark.parametrize("options, named", [(["--trace", "2"], "--trace 2"),
                                            (["--whole-events"], "--whole-events"),
                                            (["--trace", "none", "--whole-events"],
                                             "--trace none, --whole-events")])
def test_code_refuses_trace_and_whole_events_on_presence_aus(capsys, options, named):
    """Py-Feat's own AUs are coded present or absent (pipeline.presence_events): `code 005.csv`
    printed the same bytes with --trace 2, --trace none or --whole-events."""
    take = str(shared_asset("captures/pyfeat/005.csv"))
    capsys.readouterr()
    assert main(["code", take, *options]) == 2
    assert capsys.readouterr().err == (
        f"facs-rig: error: {named}: {take} {PRESENCE}; --source blendshapes codes its "
        f"blendshapes (see 'facs-rig code --help')\n")
    # Its blendshapes are intensities: there the options apply.
    assert main(["code", take, "--source", "blendshapes", *options]) == 0


def test_retarget_refuses_them_too_and_names_no_blendshapes_where_there_are_none(tmp_path,
                                                                                capsys):
    take = str(shared_asset(PYFEAT_AUS_ONLY))
    out = tmp_path / "x.json"
    assert main(["retarget", take, "--whole-events", "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"facs-rig: error: --whole-events: {take} {PRESENCE} "
                                       f"(see 'facs-rig retarget --help')\n")
    assert not out.exists()


def test_batch_notes_the_presence_take_its_trace_did_nothing_to(tmp_path, capsys):
    folder = _folder_of(tmp_path, "captures/pyfeat/005.csv", "captures/livelinkface/S07-001.csv")
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["batch", str(folder), "-o", f"{out}/{{stem}}.json", "--trace", "none",
                 "--workers", "1"]) == 0
    note = (f"--trace none not applied: {folder / '005.csv'} {PRESENCE}; --source blendshapes "
            f"codes its blendshapes")
    assert f"facs-rig: note: {note}\n" in capsys.readouterr().err
    takes = {Path(t["capture"]).name: t["qc"]
             for t in json.loads((out / "batch-report.json").read_text())["takes"]}
    assert takes["005.csv"]["not_applied"] == [note]
    assert takes["S07-001.csv"]["not_applied"] == []


# --solve where no ARKit weights would be copied ------------------------------------------------

SOLVED_ANYWAY = ("goes onto {rig} through its AUs anyway; --solve only changes a take whose ARKit "
                 "weights would be copied onto an ARKit-named rig whose targets it recorded")


@pytest.mark.parametrize("take, options, output, rig", [
    ("captures/livelinkface/S07-001.csv", ["--rig", "metahuman"], "x.csv", "metahuman"),
    ("captures/livelinkface/S07-001.csv", [], "x.glb", "facs"),  # the bundled head
    (OPENFACE, ["--rig", "arkit"], "x.csv", "arkit"),
])
def test_retarget_refuses_solve_where_the_take_is_solved_anyway(tmp_path, capsys, take, options,
                                                                output, rig):
    """--solve only turns a copy of ARKit weights into a solve: onto metahuman, the bundled
    head, or from an OpenFace take the files were byte-identical with it and without."""
    path = str(shared_asset(take))
    out = tmp_path / output
    capsys.readouterr()
    assert main(["retarget", path, *options, "--solve", "-o", str(out)]) == 1
    kind = "livelinkface" if "livelinkface" in take else "openface"
    assert capsys.readouterr().err == (f"facs-rig: error: {path}: --solve: the {kind} take "
                                       f"{SOLVED_ANYWAY.format(rig=rig)}\n")
    assert not out.exists()


def test_batch_solves_what_it_can_and_notes_the_take_solved_anyway(tmp_path, capsys):
    folder = _folder_of(tmp_path, OPENFACE, "captures/livelinkface/S07-001.csv")
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["batch", str(folder), "-o", f"{out}/{{stem}}_w.csv", "--rig", "arkit",
                 "--solve", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    openface = folder / Path(OPENFACE).name
    note = (f"--solve not applied: {openface}: the openface take "
            f"{SOLVED_ANYWAY.format(rig='arkit')}")
    assert f"facs-rig: note: {note}\n" in captured.err
    assert "S07-001_w.csv: 2030 frames at 30 fps, livelinkface, solved from blendshapes" in \
        captured.out
    takes = {Path(t["capture"]).name: t["qc"]
             for t in json.loads((out / "batch-report.json").read_text())["takes"]}
    assert takes[openface.name]["not_applied"] == [note]
    assert takes["S07-001.csv"]["not_applied"] == []
