"""``facs-rig batch`` with fsspec URLs for inputs and outputs (issue 15, point 2).

The unit tests use fsspec's in-process ``memory://`` file system; the batch runs use ``file://``
URLs, which go through exactly the same fsspec code (staging, ``.part`` upload and move, the
manifest written whole) as ``s3://`` would, on a real Dask cluster whose worker processes cannot
share the client's memory.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import shared_asset
from test_batch import scheduler  # noqa: F401, F811 (test_batch's two-worker LocalCluster fixture)

from facs_rig.cli import main
from facs_rig.cluster import expand_inputs, remote
from facs_rig.cluster.takes import report_folder

LLF = "captures/livelinkface/S07-001.csv"


@pytest.fixture()
def memory_fs():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


@pytest.mark.parametrize("text, expected", [
    ("s3://bucket/day1/take.csv", True),
    ("file:///tmp/take.csv", True),
    ("simplecache::s3://bucket/take.csv", True),
    ("takes/a::b.csv", False),  # '::' inside a path is not an fsspec chain
    ("gs://b/*.csv", True),
    ("takes/take.csv", False),
    ("/data/takes/take.csv", False),
    ("C:\\takes\\take.csv", False),  # a Windows drive letter is not a scheme
    ("c://weird", False),
    ("out/{stem}.{ext}", False),
])
def test_is_url_tells_urls_from_paths(text, expected):
    assert remote.is_url(text) is expected


def test_report_folder_of_a_url_template_keeps_the_scheme():
    assert report_folder("s3://bucket/out/{parent}/{stem}.{ext}") == "s3://bucket/out"
    assert report_folder("file:///data/out/{stem}.glb") == "file:///data/out"


def test_stage_input_copies_and_hashes_and_publish_leaves_no_part(tmp_path, memory_fs):
    import hashlib

    data = shared_asset(LLF).read_bytes()
    memory_fs.pipe("/takes/S07-001.csv", data)
    local, sha = remote.stage_input("memory://takes/S07-001.csv", str(tmp_path))
    assert local.endswith("S07-001.csv")
    with open(local, "rb") as stream:
        assert stream.read() == data
    assert sha == hashlib.sha256(data).hexdigest() == remote.url_sha256("memory://takes/S07-001.csv")

    (tmp_path / "out.glb").write_bytes(b"glTF-bytes")
    remote.publish(str(tmp_path / "out.glb"), "memory://results/day1/out.glb")
    assert memory_fs.cat("/results/day1/out.glb") == b"glTF-bytes"
    assert memory_fs.ls("/results/day1", detail=False) == ["/results/day1/out.glb"]


def test_a_missing_url_is_one_line_naming_it(tmp_path, memory_fs):
    with pytest.raises(remote.RemoteError, match=r"^memory://takes/nope.csv: no such file$"):
        remote.stage_input("memory://takes/nope.csv", str(tmp_path))
    with pytest.raises(remote.RemoteError, match=r"^nosuchproto://x/y.csv: fsspec cannot open"):
        remote.url_filesystem("nosuchproto://x/y.csv")


def test_remote_text_uploads_whole_and_at_most_every_interval(memory_fs):
    now = [0.0]
    text = remote.RemoteText("memory://out/batch-manifest.jsonl", flush_seconds=2.0,
                             clock=lambda: now[0])
    text.start(text.read())
    text.append('{"key": "a"}\n')
    assert not memory_fs.exists("/out/batch-manifest.jsonl")  # not yet: within the interval
    now[0] = 2.5
    text.append('{"key": "b"}\n')
    assert memory_fs.cat("/out/batch-manifest.jsonl") == b'{"key": "a"}\n{"key": "b"}\n'
    text.append('{"key": "c"}\n')
    text.flush()
    assert memory_fs.cat("/out/batch-manifest.jsonl").count(b"\n") == 3
    # A later run starts after what is there, dropping a line cut short.
    memory_fs.pipe("/out/batch-manifest.jsonl", b'{"key": "a"}\n{"key": "b')
    again = remote.RemoteText("memory://out/batch-manifest.jsonl")
    again.start(again.read())
    again.append('{"key": "d"}\n')
    again.flush()
    assert memory_fs.cat("/out/batch-manifest.jsonl") == b'{"key": "a"}\n{"key": "d"}\n'


def test_expand_a_url_folder_skips_non_captures_and_hidden_files(tmp_path):
    folder = tmp_path / "day1"
    (folder / ".cache").mkdir(parents=True)
    shutil.copy(shared_asset(LLF), folder / "a.csv")
    shutil.copy(shared_asset("captures/pyfeat/001.csv"), folder / "b.csv")
    shutil.copy(shared_asset(LLF), folder / ".cache" / "hidden.csv")
    (folder / "notes.csv").write_text("when,who\n1,me\n")
    takes, notes = expand_inputs([folder.as_uri()])
    assert [t.capture for t in takes] == [(folder / "a.csv").as_uri(), (folder / "b.csv").as_uri()]
    assert [(t.stem, t.parent) for t in takes] == [("a", "day1"), ("b", "day1")]
    assert notes == [f"{folder.as_uri()}: 1 CSV file(s) skipped, not a capture format facs-rig "
                     f"knows: notes.csv"]
    globbed, _ = expand_inputs([f"{folder.as_uri()}/*.csv"])
    assert [t.stem for t in globbed] == ["a", "b", "notes"]


def test_batch_with_url_inputs_and_outputs_equals_local_batch(tmp_path, scheduler, capsys):  # noqa: F811
    takes = tmp_path / "store" / "takes"
    takes.mkdir(parents=True)
    shutil.copy(shared_asset(LLF), takes / "S07-001.csv")
    shutil.copy(shared_asset("captures/pyfeat/001.csv"), takes / "001.csv")
    (takes / "broken.csv").write_bytes(shared_asset(LLF).read_bytes()[:0])  # empty: fails alone

    local_out = tmp_path / "local"
    status = main(["batch", str(takes), "-o", f"{local_out}/{{stem}}.{{ext}}",
                   "--formats", "csv,json", "--scheduler", scheduler])
    assert status == 1  # the empty take
    url_out = (tmp_path / "store" / "results").as_uri()
    capsys.readouterr()
    status = main(["batch", takes.as_uri(), "-o", f"{url_out}/{{stem}}.{{ext}}",
                   "--formats", "csv,json", "--scheduler", scheduler])
    printed = capsys.readouterr()
    assert status == 1
    results = tmp_path / "store" / "results"
    for name in ("S07-001.csv", "S07-001.facs.txt", "S07-001.qc.png",
                 "001.csv", "001.facs.txt", "001.qc.png"):
        assert (results / name).read_bytes() == (local_out / name).read_bytes(), name
    for stem in ("S07-001", "001"):
        # A timeline records its source: the URL, where the local batch recorded the path.
        local_text = (local_out / f"{stem}.json").read_text()
        assert f'"source": "{takes / stem}.csv"' in local_text
        assert (results / f"{stem}.json").read_text() == local_text.replace(
            f'"source": "{takes / stem}.csv"', f'"source": "{(takes / stem).as_uri()}.csv"')
    assert not list(results.glob("*.part")) and not list(results.glob(".*"))
    report = json.loads((results / "batch-report.json").read_text())
    failed = [t for t in report["takes"] if t["status"] == "failed"]
    assert [t["capture"] for t in failed] == [(takes / "broken.csv").as_uri()]
    assert failed[0]["error"].startswith((takes / "broken.csv").as_uri() + ": ")
    import tempfile

    staging = os.path.join(tempfile.gettempdir(), "facs-rig-take-")
    assert staging not in printed.out + printed.err  # staged copies never named
    html = (results / "batch-report.html").read_text()
    assert 'src="S07-001.qc.png"' in html
    manifest = [json.loads(line) for line in
                (results / "batch-manifest.jsonl").read_text().splitlines()]
    assert sorted(e["status"] for e in manifest) == ["failed", "ok", "ok"]

    # A rerun skips the takes whose input is unchanged, and redoes an edited one.
    before = (results / "001.json").stat().st_mtime_ns
    shutil.copy(shared_asset("captures/pyfeat/002.csv"), takes / "S07-001.csv")
    capsys.readouterr()
    main(["batch", takes.as_uri(), "-o", f"{url_out}/{{stem}}.{{ext}}",
          "--formats", "csv,json", "--scheduler", scheduler])
    out = capsys.readouterr().out
    assert "1 done, 1 up to date" in out.replace("\n", " ")
    assert (results / "001.json").stat().st_mtime_ns == before


def test_a_gltf_at_a_url_and_a_missing_url_input_are_one_error_line(tmp_path, capsys):
    take = tmp_path / "S07-001.csv"
    shutil.copy(shared_asset(LLF), take)
    out = (tmp_path / "out").as_uri()
    assert main(["batch", take.as_uri(), "-o", f"{out}/{{stem}}.gltf"]) == 2  # usage, as -o is
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a .gltf is two files" in err and "write .glb" in err
    missing = (tmp_path / "typo").as_uri() + "/"
    assert main(["batch", missing, "-o", f"{out}/{{stem}}.json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no takes:" in err and "no such file or folder" in err
    assert not (tmp_path / "out").exists()
