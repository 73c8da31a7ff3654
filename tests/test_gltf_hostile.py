"""Bad and hostile glTF input: every case is a GltfError, nothing outside the folder is read."""

from __future__ import annotations

import json
import pathlib
import struct

import pytest
from gltf_samples import DocumentBuilder, glb_from, quad_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.errors import FacsRigError, GltfError
from facs_rig.io.gltf import parse_gltf_bytes, read_gltf
from facs_rig.io.gltf.reader import rig_from_source


@pytest.fixture
def valid_glb() -> bytes:
    builder, _ = quad_rig(sparse=True)
    return builder.glb()


def read_in(folder: pathlib.Path, data: bytes, name: str = "rig.glb"):
    path = folder / name
    path.write_bytes(data)
    return read_gltf(path)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a glTF file"),
    (b"PK\x03\x04 zip file", "not a glTF file"),
    (b"solid cube\nfacet normal 0 0 1\n", "not a glTF file"),
    (b"[1, 2, 3]", "not a glTF file"),
    (b"{\"asset\": {\"version\": \"1.0\"}}", "only glTF 2.0"),
    (b"{\"meshes\": []}", "/asset/version is missing"),
    (b"{\"asset\": {\"version\": \"2.0\"}, ", "not valid JSON: .* line 1 column"),
    (b"{\"asset\": {\"version\": \"2.0\"}, \"x\": NaN}", "not valid JSON"),
    (b"{" * 100000, "not valid JSON"),
])
def test_not_a_gltf(tmp_path, data, message):
    with pytest.raises(GltfError, match=message):
        read_in(tmp_path, data, "rig.gltf")


def test_every_truncation_of_a_glb_is_refused(tmp_path, valid_glb):
    for length in range(len(valid_glb)):
        with pytest.raises(GltfError):
            parse_gltf_bytes(valid_glb[:length], path=tmp_path / "cut.glb")


def test_glb_header_declaring_more_than_the_file(tmp_path, valid_glb):
    data = bytearray(valid_glb)
    struct.pack_into("<I", data, 8, len(data) + 4)
    with pytest.raises(GltfError, match="truncated GLB: the header declares"):
        parse_gltf_bytes(bytes(data), path=tmp_path / "x.glb")


def test_glb_json_chunk_that_is_not_json(tmp_path):
    text = b"this is not json"
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    data = struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body
    with pytest.raises(GltfError, match="GLB JSON chunk is not a JSON object"):
        parse_gltf_bytes(data, path=tmp_path / "x.glb")
    text = b"{\"asset\": \xff\xfe}   "
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    data = struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body
    with pytest.raises(GltfError, match="not UTF-8"):
        parse_gltf_bytes(data, path=tmp_path / "x.glb")


def test_glb_version_1_is_refused(tmp_path, valid_glb):
    data = bytearray(valid_glb)
    struct.pack_into("<I", data, 4, 1)
    with pytest.raises(GltfError, match="container version 1"):
        parse_gltf_bytes(bytes(data), path=tmp_path / "x.glb")


@pytest.mark.parametrize("uri", [
    "../secret.bin", "../../etc/passwd", "sub/../../secret.bin", "%2e%2e/secret.bin",
    "/etc/passwd", "file:///etc/passwd", "http://example.com/rig.bin", "https://x/y.bin",
    "ftp://x/y.bin", "C:/Windows/win.ini", "\\\\server\\share\\x.bin", "//host/x.bin",
])
def test_buffer_uris_leaving_the_folder_are_refused_without_reading(tmp_path, monkeypatch, uri):
    folder = tmp_path / "rig"
    folder.mkdir()
    (folder / "sub").mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 64)
    document = {"asset": {"version": "2.0"}, "buffers": [{"uri": uri, "byteLength": 48}]}
    path = folder / "rig.gltf"
    path.write_text(json.dumps(document))
    opened = []
    real_open, real_read_bytes = pathlib.Path.open, pathlib.Path.read_bytes

    def spy_open(self, *args, **kwargs):
        opened.append(self.resolve())
        return real_open(self, *args, **kwargs)

    def spy_read_bytes(self):
        opened.append(self.resolve())
        return real_read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "open", spy_open)
    monkeypatch.setattr(pathlib.Path, "read_bytes", spy_read_bytes)
    with pytest.raises(GltfError, match="/buffers/0"):
        read_gltf(path)
    assert set(opened) == {path.resolve()}  # only the glTF file itself was opened


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "rig"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 64)
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    document = {"asset": {"version": "2.0"}, "buffers": [{"uri": "link.bin", "byteLength": 48}]}
    (folder / "rig.gltf").write_text(json.dumps(document))
    with pytest.raises(GltfError, match="leaves the file's folder"):
        read_gltf(folder / "rig.gltf")


def test_relative_buffer_in_a_subfolder_is_fine(tmp_path):
    builder, deltas = quad_rig()
    (tmp_path / "data").mkdir()
    document = builder.finish()
    document["buffers"][0]["uri"] = "data/quad%20rig.bin"
    (tmp_path / "data" / "quad rig.bin").write_bytes(bytes(builder.binary))
    (tmp_path / "rig.gltf").write_text(json.dumps(document))
    assert read_gltf(tmp_path / "rig.gltf").meshes[0].deltas.shape == deltas.shape


def test_missing_external_buffer(tmp_path):
    document = {"asset": {"version": "2.0"}, "buffers": [{"uri": "nothere.bin", "byteLength": 4}]}
    (tmp_path / "rig.gltf").write_text(json.dumps(document))
    with pytest.raises(GltfError, match="'nothere.bin' not found"):
        read_gltf(tmp_path / "rig.gltf")


def test_declared_buffer_far_larger_than_the_file(tmp_path, valid_glb):
    builder, _ = quad_rig()
    document = builder.finish()
    document["buffers"][0]["byteLength"] = 1 << 40
    with pytest.raises(GltfError, match=r"/buffers/0 declares byteLength 1099511627776"):
        parse_gltf_bytes(glb_from(document, bytes(builder.binary)), path=tmp_path / "x.glb")
    document["buffers"][0]["uri"] = "data:application/octet-stream;base64,AAAA"
    with pytest.raises(GltfError, match="declares byteLength"):
        parse_gltf_bytes(json.dumps(document).encode(), path=tmp_path / "x.gltf")


@pytest.mark.parametrize(("where", "value", "message"), [
    ("accessor.byteOffset", 10_000, "need .* bytes but the buffer view has"),
    ("accessor.count", 5, "5 elements from byte 0 need 60 bytes but the buffer view has 48"),
    ("accessor.count", 1 << 31, "would need 48.0 GiB of deltas"),
    ("accessor.count", -1, "must be a non-negative integer"),
    ("view.byteOffset", 1 << 20, r"/bufferViews/0 .* runs past the end of buffer 0"),
    ("view.byteLength", 1 << 20, r"runs past the end of buffer 0"),
    ("view.byteStride", 2, "byteStride 2 is outside 4..252"),
    ("view.buffer", 3, r"refers to buffers\[3\]"),
    ("accessor.bufferView", 99, r"refers to bufferViews\[99\]"),
    ("accessor.componentType", 5130, "is not a glTF component type"),
    ("accessor.type", "VEC7", "is not a glTF accessor type"),
])
def test_accessor_and_view_bounds(tmp_path, where, value, message):
    builder, _ = quad_rig()
    document = builder.finish()
    kind, key = where.split(".")
    target = document["accessors"][0] if kind == "accessor" else document["bufferViews"][0]
    target[key] = value
    with pytest.raises(GltfError, match=message):
        read_in(tmp_path, glb_from(document, bytes(builder.binary)))


def test_sparse_indices_out_of_range_or_unordered(tmp_path):
    for indices in ([0, 4], [2, 1], [1, 1]):
        builder = DocumentBuilder()
        position = builder.accessor(
            __import__("numpy").zeros((4, 3), dtype="float32"), bounds=True)
        target = builder.sparse_accessor(4, indices, [[1, 1, 1], [2, 2, 2]])
        builder.mesh_node({"primitives": [{"attributes": {"POSITION": position},
                                           "targets": [{"POSITION": target}]}]})
        with pytest.raises(GltfError, match="strictly increasing and below"):
            read_in(tmp_path, builder.glb())


def test_indices_pointing_past_the_vertices(tmp_path):
    builder, _ = quad_rig()
    document = builder.finish()
    data = bytearray(builder.binary)
    offset = document["bufferViews"][document["accessors"][1]["bufferView"]]["byteOffset"]
    struct.pack_into("<H", data, offset, 9)
    with pytest.raises(GltfError, match="refer to vertex 9"):
        read_in(tmp_path, glb_from(document, bytes(data)))


def test_target_count_mismatch_with_the_base(tmp_path):
    builder, _ = quad_rig()
    document = builder.finish()
    document["accessors"][2]["count"] = 3
    with pytest.raises(GltfError, match="count differs from the primitive's POSITION count 4"):
        read_in(tmp_path, glb_from(document, bytes(builder.binary)))


def test_many_targets_sharing_one_accessor_cannot_exhaust_memory(tmp_path):
    builder = DocumentBuilder()
    position = builder.sparse_accessor(3_000_000, [0], [[0, 0, 0]])
    builder.mesh_node({"primitives": [{"attributes": {"POSITION": position},
                                       "targets": [{"POSITION": position}] * 200}]})
    with pytest.raises(GltfError, match="would need .* GiB of deltas"):
        read_in(tmp_path, builder.glb())


def test_bad_input_never_writes_output_and_keeps_the_old_file(tmp_path):
    (tmp_path / "bad.glb").write_bytes(b"glTF\x02\x00\x00\x00\xff\xff\x00\x00")
    output = tmp_path / "out.glb"
    output.write_bytes(b"previous")
    status = main(["bake", "6+12", "--mesh", str(tmp_path / "bad.glb"), "-o", str(output)])
    assert status == 1
    assert output.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.glb", "out.glb"]


def test_cli_error_is_one_line(tmp_path, capsys):
    (tmp_path / "x.gltf").write_text("not json at all")
    assert main(["rig", "detect", str(tmp_path / "x.gltf")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("facs-rig: error: ")
    assert "x.gltf: not a glTF file" in error


# ------------------------------------------------------------------------ fuzzing

def _read_all(data: bytes, path: pathlib.Path) -> None:
    source = parse_gltf_bytes(data, path=path, load_external=False)
    rig_from_source(source, geometry=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_glb_parses_or_raises_gltf_error(tmp_path, data):
    builder, _ = quad_rig(sparse=data.draw(st.booleans()))
    original = bytearray(builder.glb())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    try:
        _read_all(bytes(original[:cut] if data.draw(st.booleans()) else original),
                  tmp_path / "fuzz.glb")
    except FacsRigError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 1 << 33) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["buffer", "byteOffset", "byteLength", "byteStride", "count", "type",
                         "componentType", "bufferView", "sparse", "indices", "values",
                         "POSITION", "targets", "attributes", "mode", "extras", "targetNames",
                         "normalized", "mesh", "uri"]), children, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_json_structures_parse_or_raise_gltf_error(tmp_path, data):
    builder, _ = quad_rig(sparse=True)
    document = builder.finish()
    # Replace one part of a valid document with random JSON.
    section = data.draw(st.sampled_from(["accessors", "bufferViews", "meshes", "nodes", "buffers"]))
    items = document[section]
    index = data.draw(st.integers(0, len(items) - 1))
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(items[index]) or ["x"]))
        items[index][key] = data.draw(_json_values)
    else:
        document[section] = data.draw(_json_values)
    try:
        _read_all(glb_from(document, bytes(builder.binary)), tmp_path / "fuzz.glb")
    except FacsRigError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["..", ".", "a", "b.bin", "%2e%2e", "%2F", "/", "\\", ":", "C:",
                                 "file:", "data", "//", "~", "%00", "é"]), max_size=8).map("".join)
       | st.text(max_size=30))
def test_property_resolved_uris_stay_inside_the_folder(tmp_path, uri):
    from facs_rig.io.gltf.container import resolve_relative_uri

    folder = (tmp_path / "rig").resolve()
    folder.mkdir(exist_ok=True)
    try:
        resolved = resolve_relative_uri(uri, "/buffers/0/uri", folder / "rig.gltf")
    except GltfError:
        return
    assert resolved == folder or folder in resolved.parents


def test_images_by_uri_are_read_and_typed_in_one_place_for_the_writer_and_the_studio(tmp_path):
    """read_uri_image and sniff_image serve the GLB writer (embedding images) and the studio
    (textures for the page); each had its own copy."""
    import base64

    from facs_rig.io.gltf.container import read_uri_image, sniff_image

    png = b"\x89PNG\r\n\x1a\n" + bytes(24)
    assert sniff_image(png) == "image/png" and sniff_image(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"\xabKTX 20\xbb\r\n") == "image/ktx2"
    assert sniff_image(b"\x89PNG") is None and sniff_image(b"GIF89a") is None
    where = tmp_path / "rig.gltf"
    (tmp_path / "skin.png").write_bytes(png)
    assert read_uri_image("skin.png", "/images/0/uri", where) == (png, "image/png")
    assert read_uri_image("data:image/jpeg;base64," + base64.b64encode(png).decode(),
                          "/images/0/uri", where) == (png, "image/jpeg")
    assert read_uri_image("data:;base64," + base64.b64encode(png).decode(),
                          "/images/0/uri", where) == (png, None)
    with pytest.raises(GltfError, match=r"/images/0/uri: image 'skin.png' is larger than 8 bytes"):
        read_uri_image("skin.png", "/images/0/uri", where, max_bytes=8)
    with pytest.raises(GltfError, match=r"/images/0/uri: cannot read image 'gone.png'"):
        read_uri_image("gone.png", "/images/0/uri", where)
    with pytest.raises(GltfError, match="leaves the file's folder"):
        read_uri_image("../skin.png", "/images/0/uri", where)
