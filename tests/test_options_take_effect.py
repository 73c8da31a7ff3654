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
from pathlib import Path

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
    (["--solve", "--rig", "arkit"], "x.csv"), (["--solve"], "x.glb"), (["--rig", "facs"], "x.glb"),
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
