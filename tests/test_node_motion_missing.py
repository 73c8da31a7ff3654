"""A profile's ``node_motion`` naming a node the glTF file lacks is named, not silent.

A misspelled node kept a profile's head nod from moving: ``bake`` wrote identity keys and said
"rotation of 1 node(s) ... (gaze)" (review: technical animator, finding 6).
"""

from __future__ import annotations

import json

from facs_rig.cli import main
from facs_rig.io.default_head import default_head_path
from facs_rig.io.gltf.matching import match_rig
from facs_rig.io.gltf.reader import read_gltf
from facs_rig.io.rig_files import load_rig


def _profile(tmp_path, *, node: str, nod: str | None = None):
    """The ``facs`` profile with AU61's right-eye motion on ``node``, and (with ``nod``) a
    ``HeadNod`` target, not a morph target of the head, turning the node ``nod``."""
    data = load_rig("facs").to_dict()
    data["name"] = "typo"
    data["node_motion"]["AU61"][1]["node"] = node
    if nod is not None:
        data["targets"].append("HeadNod")
        data["node_motion"]["HeadNod"] = [{"node": nod, "axis": [1, 0, 0], "degrees": 20}]
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


NOTE = ("rig typo's node_motion turns node(s) the file does not have, so they stay still: "
        "'eyebal_R' (for AU61, did you mean 'eyeball_R'?); its nodes: 'facs_rig_default_head', "
        "'eyeball_L', 'eyeball_R'")


def test_a_misspelled_node_is_named_with_the_files_nodes(tmp_path, capsys):
    profile = _profile(tmp_path, node="eyebal_R")
    match = match_rig(load_rig(profile), read_gltf(default_head_path(), geometry=False))
    assert match.missing_nodes == ("eyebal_R",)
    assert match.node_motion_note() == NOTE
    assert match.to_dict()["missing_nodes"] == ["eyebal_R"]
    assert main(["rig", "detect", str(default_head_path()), "--rig", str(profile)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [NOTE]
    assert main(["bake", "61", "--rig", str(profile), "-o", str(tmp_path / "out.glb")]) == 0
    assert NOTE in capsys.readouterr().out.splitlines()
    # The bundled profile names every node the default head has: no note.
    assert match_rig(load_rig("facs"), read_gltf(default_head_path(), geometry=False)
                     ).node_motion_note() is None


def test_a_target_shown_by_turning_a_node_is_not_a_missing_target(tmp_path, capsys):
    profile = _profile(tmp_path, node="eyeball_R", nod="facs_rig_default_head")
    assert main(["rig", "detect", str(default_head_path()), "--rig", str(profile), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["missing"], report["missing_nodes"]) == ([], [])
    # On a node the file lacks the target shows nothing: it is missing, and its node is named.
    profile = _profile(tmp_path, node="eyeball_R", nod="head")
    assert main(["rig", "detect", str(default_head_path()), "--rig", str(profile)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "profile targets not in the file: HeadNod",
        "rig typo's node_motion turns node(s) the file does not have, so they stay still: "
        "'head' (for HeadNod); its nodes: 'facs_rig_default_head', 'eyeball_L', 'eyeball_R'"]


def test_bake_names_the_targets_that_turn_the_nodes_not_gaze(tmp_path, capsys):
    profile = _profile(tmp_path, node="eyeball_R", nod="facs_rig_default_head")
    assert main(["bake", "53C", "--rig", str(profile), "-o", str(tmp_path / "nod.glb")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ("rotation of 3 node(s) (facs_rig_default_head, eyeball_L, eyeball_R): the profile's "
            "node motion for AU61, AU62, AU63, AU64, ... (15 in all), in the same animation"
            ) in lines
