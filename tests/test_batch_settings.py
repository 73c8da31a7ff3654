"""``facs-rig batch``: what is the same for every take is checked once, before any work.

A batch-wide setting (rig, mesh, tracker, outputs, scheduler address) that cannot work is one
error line before a cluster starts or a file is written, instead of the same error once per
take; an override of one manifest row names that row. No cluster is started here: the tests
make sure of it by replacing the engine with one that fails when called.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, shared_asset
from hypothesis import given
from hypothesis import strategies as st

from facs_rig.cli import build_parser, main

LLF = "captures/livelinkface/S07-001.csv"
PYFEAT = "captures/pyfeat/001.csv"
DEFAULT_HEAD = REPO / "rigs" / "default_head.glb"


@pytest.fixture
def no_cluster(monkeypatch):
    """Fail the test if the batch gets as far as starting its cluster."""

    def run_jobs(*args, **kwargs):
        raise AssertionError("the cluster was started")

    monkeypatch.setattr("facs_rig.cluster.batch.run_jobs", run_jobs)


def _takes(tmp_path: Path) -> Path:
    folder = tmp_path / "t2"
    folder.mkdir()
    for asset in (LLF, PYFEAT):
        (folder / Path(asset).name).write_bytes(shared_asset(asset).read_bytes())
    return folder


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("facs-rig: error: "), err
    return err.rstrip("\n")[len("facs-rig: error: "):]


RIG_NAMES = "arkit, facs, metahuman, unified, vrm"


@pytest.mark.parametrize("options, message", [
    # The --help example as it was: the bundled head is a FACS rig.
    (["--formats", "glb,json", "--rig", "arkit"],
     f"{DEFAULT_HEAD}: rig 'arkit' drives none of the file's targets (AU01_L, AU01_R, AU02_L, "
     "AU02_R, AU04_L, ... (92 in all)); the best bundled fit is 'facs'"),
    (["--formats", "glb", "--rig", "nosuchrig"],
     f"unknown rig 'nosuchrig': not a bundled profile ({RIG_NAMES}) and no such file"),
    (["--formats", "csv", "--rig", "metahumn"],
     f"unknown rig 'metahumn': not a bundled profile ({RIG_NAMES}) and no such file; "
     "did you mean 'metahuman'?"),
    (["--formats", "glb", "--mesh", "nosuch.glb"], "nosuch.glb: no such file"),
    (["--formats", "json", "--tracker", "nosuch"],
     "nosuch: no such tracker profile (bundled: arkit, mediapipe, facecap, openface, generic, or a "
     ".json file)"),
])
def test_a_batch_wide_setting_that_cannot_work_is_one_line_before_any_work(
        tmp_path, capsys, monkeypatch, no_cluster, options, message):
    folder = _takes(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out2"
    status = main(["batch", str(folder), "-o", f"{out}/{{stem}}.{{ext}}", *options])
    assert status == 1
    assert _one_line(capsys) == message
    assert not out.exists()


def test_a_manifest_override_that_cannot_work_names_the_manifest_and_its_line(
        tmp_path, capsys, no_cluster):
    folder = _takes(tmp_path)
    manifest = tmp_path / "takes.csv"
    manifest.write_text("capture,rig\nt2/S07-001.csv,arkit\nt2/001.csv,metahumn\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", f"{out}/{{stem}}.csv"]) == 1
    assert _one_line(capsys) == (
        f"{manifest}: line 3: field rig: unknown rig 'metahumn': not a bundled profile "
        f"({RIG_NAMES}) and no such file; did you mean 'metahuman'?")
    as_json = tmp_path / "takes.json"
    as_json.write_text(json.dumps([{"capture": "t2/001.csv", "rig": "arkit"}]))
    assert main(["batch", str(as_json), "-o", f"{out}/{{stem}}.glb"]) == 1
    assert _one_line(capsys).startswith(
        f"{as_json}: take 1: field rig: {DEFAULT_HEAD}: rig 'arkit' drives none of the file's")
    assert not out.exists() and folder.exists()


def test_each_rig_and_mesh_is_resolved_once_whatever_the_number_of_takes(tmp_path, monkeypatch):
    from facs_rig.cluster import BatchSettings, OutputNames, plan_jobs
    from facs_rig.cluster import batch as batch_module

    folder = tmp_path / "many"
    folder.mkdir()
    source = shared_asset(LLF).read_bytes()
    for k in range(30):
        (folder / f"take{k:02d}.csv").write_bytes(source)
    calls = []
    real = batch_module.check_rig_settings
    monkeypatch.setattr(batch_module, "check_rig_settings",
                        lambda *args: calls.append(args) or real(*args))
    jobs, _ = plan_jobs([str(folder)], BatchSettings(OutputNames(
        str(tmp_path / "out" / "{stem}.{ext}"), ("glb", "csv")), rig="facs"))
    assert len(jobs) == 30
    assert calls == [("facs", None, ("glb", "csv"))]


def test_a_failed_take_names_its_capture_even_when_the_error_names_another_file(tmp_path):
    from facs_rig.cluster.work import TakeJob, process_take
    from facs_rig.io.captures.retarget import RetargetOptions

    take = tmp_path / "take.csv"
    take.write_bytes(shared_asset(LLF).read_bytes())
    mesh = tmp_path / "face.glb"
    mesh.write_bytes(b"glTF but not really")  # damaged after the client checked it
    request = RetargetOptions(mesh=str(mesh)).request(str(take), str(tmp_path / "o" / "take.glb"))
    from facs_rig.io.captures.pipeline import CleaningOptions

    result = process_take(TakeJob(str(tmp_path / "o" / "take.glb"), str(take), (request,),
                                  str(tmp_path / "o" / "take.facs.txt"),
                                  str(tmp_path / "o" / "take.qc.png"), CleaningOptions()))
    assert result["status"] == "failed"
    assert result["error"].startswith(f"{take}: {mesh}: ")


# --- the examples of --help and docs/batch.md ------------------------------------------------


def _docs_examples() -> list[str]:
    """The ``facs-rig batch`` command lines of docs/batch.md's and the README's code blocks
    (joined at ``\\``)."""
    lines = []
    for document in (REPO / "docs" / "batch.md", REPO / "README.md"):
        text = document.read_text(encoding="utf-8").replace("\\\n", " ")
        lines += [line.strip()[len("facs-rig batch "):] for line in text.splitlines()
                  if line.strip().startswith("facs-rig batch ")]
    return lines


def test_help_shows_the_examples():
    from facs_rig.cli.batch_command import EXAMPLES

    epilog = build_parser("batch")._subparsers._group_actions[0].choices["batch"].epilog
    assert epilog == ("Examples: " + "; ".join(f"facs-rig batch {e}" for e in EXAMPLES)
                      + ". See docs/batch.md.")
    assert len(_docs_examples()) >= 7


@pytest.mark.parametrize("example", [*__import__("facs_rig.cli.batch_command",
                                                 fromlist=["EXAMPLES"]).EXAMPLES,
                                     *_docs_examples()])
def test_every_example_parses_and_passes_the_batch_wide_checks(example):
    from facs_rig.cli.batch_command import batch_settings
    from facs_rig.cluster import check_rig_settings

    args = build_parser("batch").parse_args(["batch", *shlex.split(example)])
    settings = batch_settings(args)  # the usage checks (-o, --formats, --scheduler, ...)
    if settings.mesh is None or Path(settings.mesh).exists():  # /shared/rigs/hero.glb is not here
        check_rig_settings(settings.rig, settings.mesh, settings.outputs.formats)


def test_docs_yaml_for_an_existing_cluster_is_the_local_clusters_settings():
    """docs/batch.md's Dask configuration for the workers of an existing cluster says what the
    local cluster sets, value for value (it is loaded as Dask loads such a file)."""
    import yaml  # Dask's own dependency: it reads ~/.config/dask/*.yaml with it

    from facs_rig.cluster.engine import LOCAL_CLUSTER_CONFIG

    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    flat = {}

    def flatten(prefix: str, node) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                flatten(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    flatten("", yaml.safe_load(blocks[0]))
    assert flat == {key: LOCAL_CLUSTER_CONFIG[key] for key in flat}
    assert "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_" in flat


# --- --scheduler -----------------------------------------------------------------------------


@pytest.mark.parametrize("address, message", [
    ("http://x", "unknown address scheme 'http': Dask connects with tcp://, tls://, ucx://, "
                 "ws://, wss://"),
    ("tcp://", "no port (give tcp://HOST:PORT; `dask scheduler` listens on 8786 by default)"),
    (":8786", "no host (give tcp://HOST:PORT)"),
    # Second review: Dask's client waited 20 s and refused these ("missing port number").
    ("foo", "no port (give tcp://HOST:PORT; `dask scheduler` listens on 8786 by default)"),
    ("tcp://host", "no port (give tcp://HOST:PORT; `dask scheduler` listens on 8786 by default)"),
    ("tcp://127.0.0.1:99999", "port 99999 is not in 1-65535"),
    ("tcp://127.0.0.1:0", "port 0 is not in 1-65535"),
    ("tcp://host:port", "the port is not a number (give tcp://HOST:PORT)"),
    ("inproc://x", "unknown address scheme 'inproc'"),
    ("ucx://127.0.0.1:8786", "Dask's ucx:// comms are not installed here"),
    ("tls://127.0.0.1:8786", "tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file"),
])
def test_a_malformed_scheduler_is_a_usage_error_before_anything_is_read(
        tmp_path, capsys, monkeypatch, no_cluster, address, message):
    monkeypatch.chdir(tmp_path)  # nothing.csv does not exist: no input is looked at before
    assert main(["batch", "nothing.csv", "-o", "s/{stem}.json", "--scheduler", address]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"--scheduler {address}: {message}")
    assert line.endswith("(see 'facs-rig batch --help')")
    assert list(tmp_path.iterdir()) == []


@given(st.text(max_size=40))
def test_scheduler_address_problem_answers_for_any_text(text):
    from facs_rig.cluster.batch import scheduler_address_problem

    problem = scheduler_address_problem(text)
    assert problem is None or (isinstance(problem, str) and "\n" not in problem)


@given(scheme=st.sampled_from(["tcp://", "ws://", "wss://", ""]),
       host=st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
       port=st.integers(1, 65535))
def test_well_formed_scheduler_addresses_are_accepted(scheme, host, port):
    from facs_rig.cluster.batch import scheduler_address_problem

    assert scheduler_address_problem(f"{scheme}{host}:{port}") is None
    assert scheduler_address_problem(f"{scheme}[::1]:{port}") is None


def test_an_unreachable_scheduler_is_one_line_without_noise_and_writes_nothing(tmp_path):
    take = shared_asset(LLF)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "s"
    # A process of its own: Dask's "Exception ignored in Client.__del__" would print at exit.
    script = ("import sys, facs_rig.cluster.engine as engine; engine.CONNECT_TIMEOUT = '1s'; "
              "from facs_rig.cli import main; sys.exit(main(sys.argv[1:]))")
    completed = subprocess.run(
        [sys.executable, "-c", script, "batch", str(take), "-o", f"{out}/{{stem}}.json",
         "--scheduler", f"tcp://127.0.0.1:{port}"], cwd=REPO, capture_output=True, text=True,
        timeout=120)
    assert completed.returncode == 1
    assert completed.stderr == (f"facs-rig: error: no Dask scheduler answers at "
                                f"tcp://127.0.0.1:{port} (waited 1 s)\n")
    assert not out.exists()


# --- the summary line of an interrupted batch ------------------------------------------------


def test_an_interrupted_batch_says_how_many_takes_are_not_done(tmp_path, capsys, monkeypatch):
    from facs_rig.cluster import BatchOutcome
    from facs_rig.cluster.engine import BatchResult

    def interrupted(inputs, settings, **kwargs):
        kwargs["on_plan"](30)
        result = BatchResult(entries=[{"status": "ok", "lines": []}] * 5, done=5, interrupted=True)
        return BatchOutcome(result, 30, [], report_html=tmp_path / "batch-report.html")

    monkeypatch.setattr("facs_rig.cluster.run_batch", interrupted)
    assert main(["batch", "takes/", "-o", f"{tmp_path}/{{stem}}.json"]) == 130
    captured = capsys.readouterr()
    assert captured.out == (f"batch: 30 takes: 5 done, 0 up to date, 0 failed, 25 not done: rerun "
                            f"to continue; report {tmp_path / 'batch-report.html'}\n")
    assert captured.err.splitlines()[-1] == ("facs-rig: interrupted: 5 of 30 takes finished "
                                             "(kept); rerun the same command to continue")


# --- exit statuses and wording shared with retarget ------------------------------------------


def test_output_template_mistakes_exit_2_as_in_retarget(tmp_path, capsys, no_cluster):
    folder = _takes(tmp_path)
    assert main(["batch", str(folder), "-o", str(tmp_path / "s" / "x.json")]) == 2
    assert _one_line(capsys) == ("with several takes, -o must contain {stem} (e.g. -o "
                                 "out/{stem}.glb) (see 'facs-rig batch --help')")
    assert main(["retarget", *map(str, sorted(folder.iterdir())),
                 "-o", str(tmp_path / "s" / "x.json")]) == 2
    assert "-o must contain {stem}" in _one_line(capsys)
    url = (tmp_path / "u").as_uri()
    assert main(["batch", str(folder), "-o", f"{url}/{{stem}}.gltf"]) == 2
    assert _one_line(capsys) == (
        f"-o {url}/{{stem}}.gltf: a .gltf is two files (the JSON and its .bin) that an object "
        f"store cannot replace together; write .glb at a URL (see 'facs-rig batch --help')")
    assert not (tmp_path / "s").exists() and not (tmp_path / "u").exists()


def test_an_output_folder_that_is_a_file_is_said_as_retarget_says_it(tmp_path, capsys, no_cluster):
    take = shared_asset(LLF)
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    assert main(["retarget", str(take), "-o", str(afile / "S07-001.json")]) == 1
    retarget_line = _one_line(capsys)
    assert main(["batch", str(take), "-o", str(afile / "{stem}.json")]) == 1
    assert _one_line(capsys) == retarget_line == (
        f"{afile / 'S07-001.json'}: cannot write, {afile} is a file, not a folder")
    assert afile.read_text() == "mine\n"


def test_too_many_local_workers_is_a_usage_error_before_anything_starts(tmp_path, capsys,
                                                                       monkeypatch, no_cluster):
    # Second review: --workers 999 started hundreds of processes (load average 167).
    from facs_rig.cluster.engine import most_local_workers

    monkeypatch.chdir(tmp_path)
    limit = most_local_workers()
    assert limit == max(8, 4 * (os.cpu_count() or 1))
    assert main(["batch", "nothing.csv", "-o", "s/{stem}.json", "--workers", str(limit + 1)]) == 2
    assert _one_line(capsys) == (
        f"--workers {limit + 1}: at most {limit} on this machine (4 per core: "
        f"more only compete for the cores; to use more machines, start Dask workers there and "
        f"give --scheduler) (see 'facs-rig batch --help')")
    assert list(tmp_path.iterdir()) == []
