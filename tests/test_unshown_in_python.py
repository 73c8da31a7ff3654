"""What a rig cannot show is in ``mix()``'s result, as the CLI says it (review: technical
animator, finding 4): also after the documented ``sample(timeline, channels=rig.channels)``,
for AUs a rig shows only in combination (``vrm``'s brow flash), and for erased sides."""

from __future__ import annotations

import numpy as np
import pytest

from facs_rig import load_rig, load_vocabulary, mix
from facs_rig.cli import main
from facs_rig.core.timeline import Timeline, sample

VOCABULARY = load_vocabulary()
FLASH_NOTE = ("vrm cannot show AU01, AU02 without the AUs it combines them with, and none of those "
              "combinations played: AU01 only in AU01+AU04+AU15 (sad) or AU01+AU02+AU05+AU26 "
              "(surprised); AU02 only in AU01+AU02+AU05+AU26 (surprised)")
ARKIT_53 = ("arkit cannot show: AU53 (head movement is a transform in ARKit (Live Link Face "
            "HeadYaw/Pitch/Roll), not a blendshape; the OSC bridge sends head bones)")


def _timeline(*beats: tuple[str, float]) -> Timeline:
    timeline = Timeline()
    for code, at in beats:
        timeline = timeline.add_code(code, VOCABULARY, at=at)
    return timeline


def test_the_documented_recipe_keeps_the_lost_aus():
    arkit = load_rig("arkit")
    timeline = _timeline(("12C", 0.0), ("53C", 2.0))
    curves = sample(timeline, channels=arkit.channels)
    assert curves.metadata["unsampled_channels"] == ("AU53",)
    for weights in (mix(curves, arkit), mix(sample(timeline), arkit)):
        assert weights.metadata["unshown_channels"] == ("AU53",)
        assert weights.metadata["unshown_notes"] == (ARKIT_53,)
    # Nothing left out, no key: the timeline's metadata stays as it was.
    assert "unsampled_channels" not in sample(_timeline(("12C", 0.0)), channels=arkit.channels).metadata


def test_a_brow_flash_on_vrm_is_named_in_python_and_in_the_cli(capsys):
    vrm = load_rig("vrm")
    weights = mix(sample(_timeline(("1C+2C", 0.0))), vrm)
    assert float(weights.weights.max()) == 0.0
    assert weights.metadata["unshown_channels"] == ("AU01", "AU02")
    assert weights.metadata["unshown_notes"] == (FLASH_NOTE,)
    assert main(["mix", "1C+2C", "--rig", "vrm"]) == 0
    assert capsys.readouterr().out == f"1C+2C on vrm\n(every target is 0)\n\n{FLASH_NOTE}\n"
    # With the rest of surprise the flash shows: nothing is lost.
    weights = mix(sample(_timeline(("1C+2C+5B+26", 0.0))), vrm)
    assert weights.metadata["unshown_channels"] == ()
    assert weights.metadata["unshown_notes"] == ()
    assert float(weights.weights[:, vrm.target_index("surprised")].max()) == pytest.approx(0.55, abs=1e-3)


def test_a_combination_counts_only_when_its_aus_play_on_one_frame():
    vrm = load_rig("vrm")
    # 1 ends (2.2 s at the latest) long before 2+5+26 starts: no frame has all of surprise.
    apart = mix(sample(_timeline(("1C", 0.0), ("2C+5B+26", 5.0))), vrm)
    assert apart.metadata["unshown_channels"] == ("AU01", "AU02", "AU05", "AU26")
    assert np.all(apart.weights[:, vrm.target_index("surprised")] == 0)
    together = mix(sample(_timeline(("1C+2C+5B+26", 0.0), ("1C", 5.0))), vrm)
    assert together.metadata["unshown_channels"] == ()


def test_a_smirk_erased_to_both_sides_is_named_in_python():
    vrm = load_rig("vrm")
    weights = mix(sample(_timeline(("L12C", 0.0))), vrm)
    assert weights.metadata["unshown_sides"] == ("AU12_L",)
    assert weights.metadata["unshown_notes"] == ("L12: vrm shows AU12 on both sides (one shape, happy)",)
    # Sampled with the rig's channels (AU12_R among them, all zero): only the played side.
    weights = mix(sample(_timeline(("L12C", 0.0)), channels=vrm.channels), vrm)
    assert weights.metadata["unshown_sides"] == ("AU12_L",)
    assert weights.metadata["unshown_notes"] == ("L12: vrm shows AU12 on both sides (one shape, happy)",)


def test_the_neutral_code_has_no_notes(capsys):
    # "0" holds no channel: one frame of no values (it raised ValueError from a reshape).
    assert load_rig("vrm").unshown_notes([], [[]]) == ()
    assert main(["mix", "0", "--rig", "vrm"]) == 0
    assert capsys.readouterr().out == "0 on vrm\n(every target is 0)\n"
