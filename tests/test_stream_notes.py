"""What ``facs-rig stream`` says a receiver will not get (a technical animator's review).

A VMC stream that sends the head bone printed "arkit cannot show: AU53 (... the OSC bridge sends
head bones)", and the vrchat protocol, which sends no bones, printed the same; over VMC the
``vrm`` rig's ``surprised`` went out under a name a VRM 0.x receiver has no preset for, and
nothing said so.
"""

from __future__ import annotations

from facs_rig.cli import main


def _notes(capsys, *argv):
    assert main(["stream", *argv, "--dry-run", "--duration", "0.02"]) == 0
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("facs-rig: note:")]


def test_head_aus_are_named_only_where_no_bone_carries_them(tmp_path, capsys):
    notes = tmp_path / "nod.notes"
    notes.write_text("0 53C+12\n1 51C\n", encoding="utf-8")
    assert _notes(capsys, str(notes), "--rig", "arkit", "--protocol", "vmc") == []
    assert _notes(capsys, str(notes), "--rig", "arkit", "--protocol", "vrchat") == [
        "facs-rig: note: AU51, AU53 move the head or eyes, which arkit has no shape for and "
        "--protocol vrchat sends no bones (vmc sends them): not sent"]
    assert _notes(capsys, str(notes), "--rig", "arkit", "--protocol", "vmc", "--bones", "off") == [
        "facs-rig: note: AU51, AU53 move the head or eyes, which arkit has no shape for and "
        "--bones off sends no head or eye bones: not sent"]


def test_a_vrm_preset_a_vrm0_receiver_lacks_is_named(capsys):
    notes = _notes(capsys, "happiness", "--rig", "vrm")
    assert ("facs-rig: note: surprised has no VRM 0.x preset: sent under that name, which a VRM "
            "0.x model shows only through a clip of its own so named (--names vrm1 for a VRM 1.0 "
            "receiver)") in notes
    assert not any("VRM 0.x" in note for note in _notes(capsys, "happiness", "--rig", "vrm",
                                                        "--names", "vrm1"))
