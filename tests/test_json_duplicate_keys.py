"""A key repeated in one JSON object is refused in every JSON file facs-rig reads.

Python's ``json`` keeps the last value silently: a pasted second ``"AU12"`` block in a rig profile
replaced the smile with a dimple and ``rig validate`` said ``valid`` (review: technical animator,
finding 3). RFC 8259 section 4: names within an object SHOULD be unique.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.cluster.takes import BatchInputError, read_manifest
from facs_rig.errors import (
    CaptureFormatError,
    GltfError,
    RigError,
    TimelineFormatError,
)
from facs_rig.io import bounded_json
from facs_rig.io.captures.trackers import load_tracker
from facs_rig.io.gltf.container import read_gltf_source
from facs_rig.io.rig_files import check_rig_file, load_rig
from facs_rig.io.timeline_files import read_timeline

TAIL = "keys must be unique in a JSON object (the later one would silently replace the earlier)"

PROFILE = """{
  "schema": "facs_rig.rig/1",
  "name": "puppet",
  "targets": ["Grin.Lf", "Grin.Rt", "Dimple.Lf"],
  "action_units": {
    "AU12": [{"target": "Grin.Lf"}, {"target": "Grin.Rt"}],
    "AU14": [{"target": "Dimple.Lf"}],
    "AU12": [{"target": "Dimple.Lf"}]
  }
}
"""


def test_a_pasted_second_au_block_in_a_rig_profile_is_refused(tmp_path, capsys):
    path = tmp_path / "puppet.json"
    path.write_text(PROFILE, encoding="utf-8")
    message = (f"{path}: line 8, column 5: invalid JSON: duplicate key action_units.AU12 "
               f"(first at line 6); {TAIL}")
    with pytest.raises(RigError) as caught:
        check_rig_file(path)
    assert str(caught.value) == message
    with pytest.raises(RigError):
        load_rig(path)
    assert main(["rig", "validate", str(path)]) == 1
    assert capsys.readouterr().out.strip() == message
    # Without the repeat the same file is a valid profile whose smile drives both Grin targets.
    path.write_text(PROFILE.replace(',\n    "AU12": [{"target": "Dimple.Lf"}]', ""), "utf-8")
    assert check_rig_file(path) == []


def test_a_repeated_field_in_a_timeline_event_is_refused(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"schema": "facs_rig.timeline/1", "fps": 30,\n "events": [{"channel": "AU12", '
                    '"letter": "D", "start": 1.0, "start": 3.0}]}\n', encoding="utf-8")
    with pytest.raises(TimelineFormatError) as caught:
        read_timeline(path)
    assert str(caught.value) == (f"{path}: line 2 column 62: invalid JSON: duplicate key "
                                 f"events[0].start (first at line 2); {TAIL}")


def test_a_repeated_key_in_a_tracker_profile_is_refused(tmp_path):
    path = tmp_path / "tracker.json"
    path.write_text('{"schema": "facs_rig.tracker/1",\n "schema": "facs_rig.tracker/1"}',
                    encoding="utf-8")
    with pytest.raises(CaptureFormatError) as caught:
        load_tracker(path)
    assert str(caught.value) == (f"{path}: not valid JSON: duplicate key schema (first at line 1); "
                                 f"{TAIL}: line 2 column 2 (char 34)")


def test_a_repeated_key_in_a_gltf_file_is_refused(tmp_path):
    document = '{"asset": {"version": "2.0", "version": "2.0"}}'
    gltf = tmp_path / "head.gltf"
    gltf.write_text(document, encoding="utf-8")
    with pytest.raises(GltfError) as caught:
        read_gltf_source(gltf)
    assert str(caught.value) == (f"{gltf}: the file is not valid JSON: duplicate key asset.version "
                                 f"(first at line 1); {TAIL} at line 1 column 30")
    chunk = document.encode() + b" " * (-len(document) % 4)
    glb = tmp_path / "head.glb"
    glb.write_bytes(b"glTF" + struct.pack("<II", 2, 20 + len(chunk))
                    + struct.pack("<I", len(chunk)) + b"JSON" + chunk)
    with pytest.raises(GltfError, match=r"GLB JSON chunk is not valid JSON: duplicate key "
                                        r"asset\.version \(first at line 1\)"):
        read_gltf_source(glb)


def test_a_repeated_key_in_a_batch_manifest_is_refused(tmp_path):
    path = tmp_path / "takes.json"
    path.write_text('{"takes": [{"capture": "a.csv",\n "capture": "b.csv"}]}', encoding="utf-8")
    with pytest.raises(BatchInputError) as caught:
        read_manifest(str(path))
    assert str(caught.value) == (f"{path}: line 2: not valid JSON (duplicate key "
                                 f"takes[0].capture (first at line 1); {TAIL})")


def test_json_paths_name_odd_keys_and_the_repeat_position():
    with pytest.raises(json.JSONDecodeError) as caught:
        bounded_json.loads('[{"a b": 1},\n {"x": {"a b": 1, "a b": 2}}]')
    assert caught.value.msg == f"duplicate key [1].x['a b'] (first at line 2); {TAIL}"
    assert (caught.value.lineno, caught.value.colno) == (2, 19)
    # The same key in different objects is no repeat.
    assert bounded_json.loads('{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}') == {
        "a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(before=st.dictionaries(st.text(max_size=4), _VALUES, max_size=3),
       key=st.text(max_size=4), first=_VALUES, second=_VALUES,
       wrappers=st.lists(st.sampled_from(["list", "object"]), max_size=3),
       indent=st.sampled_from([None, 1]))
def test_any_json_object_with_a_repeated_key_is_refused(before, key, first, second, wrappers,
                                                        indent):
    """However deep the object and whatever the values, a repeated key is refused at the repeat."""
    members = [json.dumps(k) + ": " + json.dumps(v, indent=indent)
               for k, v in before.items() if k != key]
    middle = len(members) // 2
    first_member = json.dumps(key) + ": " + json.dumps(first, indent=indent)
    repeat = json.dumps(key) + ":" + json.dumps(second, indent=indent)

    def document(inner: list[str]) -> str:
        text = "{" + ",\n".join(members[:middle] + inner + members[middle:]) + "}"
        for wrapper in wrappers:
            text = "[" + text + "]" if wrapper == "list" else '{"w": ' + text + "}"
        return text

    text = document([first_member, repeat])
    with pytest.raises(json.JSONDecodeError) as caught:
        bounded_json.loads(text)
    assert caught.value.msg.startswith("duplicate key ")
    assert caught.value.msg.endswith(TAIL)
    assert text[caught.value.pos:].startswith(repeat)
    # Without the repeat it reads as Python's own parser reads it.
    unique = document([first_member])
    assert bounded_json.loads(unique) == json.loads(unique)
