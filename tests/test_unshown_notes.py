"""Every command that plays codes or timelines on a rig names what the rig cannot show.

New-user review: ``bake 11+12 --mesh face.glb`` and ``stream 11+12 --rig arkit`` said nothing of
AU11 (only ``mix`` and ``explain`` named it), and ``L1``, ``R1`` and ``1`` all give ARKit's one
``browInnerUp`` with no word that the side was lost. The README's rule: an AU a rig cannot show
is named, never dropped silently.
"""

from __future__ import annotations

import json

import pytest
from conftest import shared_asset

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.io.rig_files import load_rig

FACECAP = "rigs/facecap/facecap_decoded_float_notextures.glb"
ELEVEN = ("facs-rig: note: arkit cannot show: AU11 (ARKit has no nasolabial-deepener shape "
          "(Ozel; ICT-FaceKit's README table maps mouthUpperUp to it, a mistranslation))")
LEFT_BROW = "facs-rig: note: L1: arkit shows AU1 on both sides (one shape, browInnerUp)"


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("facs-rig: note: ")]


@pytest.fixture(scope="module")
def facecap():
    return str(shared_asset(FACECAP))


@pytest.mark.parametrize("command", [
    ["bake", "11+L1+12", "--mesh", "{mesh}", "-o", "{tmp}/face.glb"],
    ["bake", "11+L1+12", "--mesh", "{mesh}", "-o", "{tmp}/weights.csv"],
    ["pose", "11+L1+12", "--mesh", "{mesh}", "-o", "{tmp}/face.obj"],
    ["preview", "11+L1+12", "--mesh", "{mesh}", "--size", "16", "-o", "{tmp}/face.png"],
    ["preview", "11+L1+12", "--mesh", "{mesh}", "--rig", "arkit", "--size", "16", "--fps", "4",
     "--hold", "0.2", "-o", "{tmp}/face.gif"],
    ["sheet", "11,L1+12,11", "--mesh", "{mesh}", "--size", "16", "-o", "{tmp}/sheet.png"],
    ["stream", "11+L1+12", "--rig", "arkit", "--hold", "0.05", "--dry-run"],
    ["mix", "11+L1+12", "--json"],
    ["explain", "11+L1+12", "--json"],
])
def test_every_command_playing_a_code_names_what_the_rig_cannot_show_once(
        command, facecap, tmp_path, capsys):
    argv = [part.format(mesh=facecap, tmp=tmp_path) for part in command]
    assert main(argv) == 0
    assert notes(capsys.readouterr().err) == [ELEVEN, LEFT_BROW]


def test_a_timeline_file_names_what_the_rig_cannot_show(facecap, tmp_path, capsys):
    timeline = tmp_path / "take.json"
    timeline.write_text(json.dumps({"schema": "facs_rig.timeline/1", "events": [
        {"channel": "AU11", "start": 0}, {"channel": "AU11", "start": 2},
        {"channel": "AU28_R", "start": 1}, {"channel": "AU12_L", "start": 1},
        {"channel": "AU27", "start": 1, "intensity": 0}]}))
    assert main(["bake", str(timeline), "--mesh", facecap, "-o", str(tmp_path / "w.csv")]) == 0
    assert notes(capsys.readouterr().err) == [
        ELEVEN,
        "facs-rig: note: R28: arkit shows AU28 on both sides (unsided shapes mouthRollUpper, "
        "mouthRollLower)"]


def test_mix_prints_the_lost_side_under_its_table(capsys):
    assert main(["mix", "L1"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("browInnerUp  0.550\n\n"
                        "L1: arkit shows AU1 on both sides (one shape, browInnerUp)\n")
    assert main(["mix", "L12"]) == 0  # sided shapes: nothing lost, nothing said
    assert "both sides" not in capsys.readouterr().out


def test_sides_unshown_are_the_aus_with_unsided_mappings_only():
    assert dict(load_rig("arkit").sides_unshown) == {
        1: ("browInnerUp",), 28: ("mouthRollUpper", "mouthRollLower"), 33: ("cheekPuff",),
        34: ("cheekPuff",)}
    assert dict(load_rig("vrm").sides_unshown) == {12: ("happy",), 15: ("sad",)}
    for name in ("facs", "metahuman", "unified"):
        assert dict(load_rig(name).sides_unshown) == {}
    arkit = load_rig("arkit")
    assert arkit.unshown_notes([Channel(1), Channel(12, "L")]) == ()
    assert arkit.unshown_notes([Channel(34, "L"), Channel(34, "R"), Channel(34)]) == (
        "L34, R34: arkit shows AU34 on both sides (one shape, cheekPuff)",)


def test_rig_show_lists_the_sides_a_capture_reads_back_as_both(capsys):
    assert main(["rig", "show", "arkit"]) == 0
    out = capsys.readouterr().out
    assert "AUs a capture solved through arkit reads back as another (20):" in out
    assert "AU01_L  AU01     one shape for both sides (browInnerUp)" in out
    assert "AU28_R  AU28     the same shapes for both sides (mouthRollUpper, mouthRollLower)" in out
    # AU34 itself reads as AU33 (cheekPuff alike), so one side of it does too.
    assert "AU34_L  AU33     one shape for both sides (cheekPuff)" in out
    assert main(["rig", "show", "arkit", "--json"]) == 0
    facts = {f["au"]: f for f in json.loads(capsys.readouterr().out)["read_back_as"]}
    assert facts["AU01_R"] == {
        "au": "AU01_R", "read_as": "AU01", "shapes": ["browInnerUp"],
        "reason": "AU01 drives one shape for both sides (browInnerUp): a capture of one side "
                  "is solved, and coded, as both"}
