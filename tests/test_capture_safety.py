"""Captures are never lost, misread or waited on forever (the mocap lead's review, findings 1-6).

- An output never replaces a raw capture (a take facs-rig did not write), in ``retarget``,
  ``batch`` and every command that checks its output; facs-rig's own outputs are replaced as
  before (they carry the mark of :mod:`facs_rig.io.atomic`).
- ``--from mediapipe``/``facecap`` refuse a Live Link Face take (its timecode would be lost) and
  a Py-Feat file; Live Link Face's two columns are found in any case.
- A named pipe is refused before it is opened (every test on one runs the command in a child
  process with a timeout, so that a regression fails instead of hanging the suite).
- A take whose header line was lost is a failed take, not a file skipped with a note.
- ``--tracker`` naming another tracker's profile than the capture's format implies is noted
  (``facs-rig: note:``), and still applied.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_asset
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.errors import OutputError
from facs_rig.io.atomic import OWN_OUTPUT_ATTRIBUTE, is_own_output, write_text_atomic
from facs_rig.io.captures import (
    ARKIT_NAMES,
    detect_format,
    existing_capture_format,
    header_is_data,
    is_capture_or_lost_header,
    read_capture,
    refuse_replacing_capture,
)
from facs_rig.io.captures.arkit_names import pascal_case

LLF = "captures/livelinkface/S07-001.csv"
OTHER_LLF = "captures/livelinkface/alex_rom_3.csv"
OPENFACE = "captures/openface/facsvatar_demo_full.csv"
PYFEAT = "captures/pyfeat/001.csv"
FACECAP = "captures/facecap/facecap_animation_weights.csv"

#: An address no Dask scheduler listens on: a batch refused while it plans never connects.
NO_SCHEDULER = "tcp://127.0.0.1:9"


def one_error(capsys) -> str:
    """The one stderr line of a failed command (nothing else may be printed there)."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _capture_copy(tmp_path: Path, relative: str, name: str) -> Path:
    """A copy of a shared capture, as a user's file: copied without extended attributes."""
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_asset(relative), target)
    return target


# --- 1. an output never replaces a raw capture -------------------------------------------------


@pytest.mark.parametrize("relative, name", [
    (OPENFACE, "OpenFace"), (OTHER_LLF, "Live Link Face"), (PYFEAT, "Py-Feat"),
    (FACECAP, "Face Cap")])
def test_retarget_refuses_to_replace_a_capture_that_is_not_its_input(tmp_path, capsys,
                                                                      relative, name):
    take = _capture_copy(tmp_path, LLF, "dayA/take01.csv")
    existing = _capture_copy(tmp_path, relative, "dayB/of.csv")
    before = existing.read_bytes()
    assert main(["retarget", str(take), "-o", str(existing), "--rig", "arkit"]) == 1
    article = "an" if name == "OpenFace" else "a"
    assert one_error(capsys) == (
        f"facs-rig: error: {existing}: would replace {article} {name} capture (a file facs-rig "
        f"did not write); choose another output, or remove the file first if it is to be "
        f"replaced")
    assert existing.read_bytes() == before


def test_retarget_replaces_its_own_earlier_output(tmp_path, capsys):
    take = _capture_copy(tmp_path, LLF, "take01.csv")
    out = tmp_path / "take01_arkit.csv"
    assert main(["retarget", str(take), "-o", str(out), "--rig", "arkit"]) == 0
    first = out.read_bytes()
    assert first.startswith(b"Timecode,BlendShapeCount,EyeBlinkLeft,")  # a Live Link Face CSV
    assert is_own_output(out)
    assert main(["retarget", str(take), "-o", str(out), "--rig", "arkit"]) == 0
    assert out.read_bytes() == first
    # The same bytes copied without the mark are a take as far as anyone can tell: kept.
    copy = tmp_path / "copy.csv"
    shutil.copyfile(out, copy)
    capsys.readouterr()
    assert main(["retarget", str(take), "-o", str(copy), "--rig", "arkit"]) == 1
    assert "would replace a Live Link Face capture" in one_error(capsys)


def test_every_atomic_write_marks_its_file_and_nothing_else_is_marked(tmp_path):
    written = tmp_path / "a.csv"
    write_text_atomic(written, "time,AU12\n0,0.5\n")
    assert os.getxattr(written, OWN_OUTPUT_ATTRIBUTE) == b"1"
    assert is_own_output(written)
    plain = tmp_path / "b.csv"
    plain.write_text("time,AU12\n0,0.5\n")
    assert not is_own_output(plain)
    assert not is_own_output(tmp_path / "missing.csv")


def test_other_commands_refuse_to_replace_a_capture(tmp_path, capsys):
    existing = _capture_copy(tmp_path, PYFEAT, "take.csv")
    before = existing.read_bytes()
    assert main(["timeline", "sample", "12", "-o", str(existing)]) == 1
    assert one_error(capsys) == (
        f"facs-rig: error: {existing}: would replace a Py-Feat capture (a file facs-rig did not "
        f"write); choose another output, or remove the file first if it is to be replaced")
    assert existing.read_bytes() == before


def test_a_file_that_is_no_capture_is_replaced_as_documented(tmp_path, capsys):
    take = _capture_copy(tmp_path, LLF, "take01.csv")
    notes = tmp_path / "old.csv"
    notes.write_text("eggs,milk\n2,1\n", encoding="utf-8")
    assert existing_capture_format(notes) is None
    assert main(["retarget", str(take), "-o", str(notes)]) == 0
    assert notes.read_text(encoding="utf-8").startswith("time,")


def test_batch_refuses_before_any_take_when_an_output_would_replace_a_capture(tmp_path, capsys):
    take = _capture_copy(tmp_path, LLF, "dayA/take01.csv")
    yesterday = _capture_copy(tmp_path, OTHER_LLF, "dayB/take01.csv")
    before = yesterday.read_bytes()
    # A mistyped -o: dayB, yesterday's takes, not dayA_out.
    status = main(["batch", str(take.parent), "-o", str(tmp_path / "dayB" / "{stem}.csv"),
                   "--rig", "metahuman", "--scheduler", NO_SCHEDULER])
    assert status == 1
    assert one_error(capsys) == (
        f"facs-rig: error: {yesterday}: would replace a Live Link Face capture (a file facs-rig "
        f"did not write); choose another output, or remove the file first if it is to be "
        f"replaced")
    assert yesterday.read_bytes() == before
    assert sorted(p.name for p in yesterday.parent.iterdir()) == ["take01.csv"]  # no report


def test_a_batch_replaces_outputs_its_manifest_lists_where_no_mark_is_kept(tmp_path):
    output = _capture_copy(tmp_path, LLF, "out/take01.csv")  # as on a file system without marks
    with pytest.raises(OutputError, match=r"take01\.csv: would replace a Live Link Face capture"):
        refuse_replacing_capture(output)
    refuse_replacing_capture(output, frozenset({os.path.realpath(output)}))


# --- 2. a Live Link Face or Py-Feat file is not read as a MediaPipe or Face Cap table -----------


@pytest.mark.parametrize("chosen", ["mediapipe", "facecap"])
def test_a_live_link_face_take_is_refused_as_another_blendshape_table(tmp_path, capsys, chosen):
    take = shared_asset(LLF)
    out = tmp_path / "wrong.json"
    assert main(["retarget", str(take), "--from", chosen, "-o", str(out)]) == 1
    assert one_error(capsys) == (
        f"facs-rig: error: {take}: line 1: this is a Live Link Face CSV (Timecode, "
        f"BlendShapeCount columns): drop --from {chosen} or use --from livelinkface")
    assert not out.exists()
    assert main(["code", str(take), "--from", chosen]) == 1
    assert "this is a Live Link Face CSV" in one_error(capsys)


def test_a_py_feat_file_is_refused_as_a_mediapipe_table(capsys):
    fex = shared_asset(PYFEAT)
    assert main(["code", str(fex), "--from", "mediapipe"]) == 1
    assert one_error(capsys) == (
        f"facs-rig: error: {fex}: line 1: this is a Py-Feat Fex CSV (AU01-style columns with "
        f"FaceRectX or frame): drop --from mediapipe or use --from pyfeat")


def _retyped_header(tmp_path: Path, old: str, new: str) -> Path:
    lines = shared_asset(LLF).read_text(encoding="utf-8").split("\n")
    lines[0] = lines[0].replace(old, new)
    path = tmp_path / "retyped.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_timecode_header_in_another_case_is_still_a_live_link_face_take(tmp_path, capsys):
    take = _retyped_header(tmp_path, "Timecode,BlendShapeCount", "TimeCode,blendshapecount")
    capture = read_capture(take)
    assert capture.format == "livelinkface"
    assert capture.metadata["start_timecode"] == "12:27:47:47.169"
    assert (capture.n_frames, capture.fps) == (2030, 30.0)  # 2 dropped frames restored
    out = tmp_path / "copy.csv"
    assert main(["retarget", str(take), "--rig", "arkit", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").split("\n")[1].startswith("12:27:47:47.169,61,")


def test_a_timecode_without_its_blend_shape_count_is_no_mediapipe_table(tmp_path, capsys):
    take = _retyped_header(tmp_path, "Timecode,BlendShapeCount", "TimeCode,Count")
    assert main(["code", str(take)]) == 1
    assert one_error(capsys) == (f"facs-rig: error: {take}: line 1: missing Live Link Face "
                                 f"column BlendShapeCount (the header has TimeCode)")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["Timecode", "BlendShapeCount"]).flatmap(
    lambda word: st.tuples(st.just(word), st.lists(st.booleans(), min_size=len(word),
                                                   max_size=len(word)))))
def test_live_link_face_is_detected_whatever_the_case_of_its_two_columns(spelling):
    word, upper = spelling
    respelled = "".join(c.upper() if u else c.lower() for c, u in zip(word, upper))
    header = ["Timecode", "BlendShapeCount"] + [pascal_case(n) for n in ARKIT_NAMES]
    header[0 if word == "Timecode" else 1] = respelled
    assert detect_format(tuple(header)) == "livelinkface"


# --- 3. a named pipe is refused before it is opened: nothing waits on it forever --------------

#: Seconds a command on a named pipe may take before the test gives up on it (a hang).
PIPE_TIMEOUT = 180


def _facs_rig(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``facs-rig argv`` in a child process that is killed after :data:`PIPE_TIMEOUT` s, so
    that a command blocked on a pipe fails this test instead of hanging the suite."""
    try:
        return subprocess.run([sys.executable, "-m", "facs_rig", *argv], cwd=cwd,
                              capture_output=True, text=True, timeout=PIPE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"facs-rig {' '.join(argv)} still running after {PIPE_TIMEOUT} s (blocked "
                    f"on the named pipe)")


@pytest.mark.parametrize("command", [["code", "takes/live_take.csv"],
                                     ["retarget", "takes/live_take.csv", "-o", "live.json"]])
def test_code_and_retarget_refuse_a_named_pipe(tmp_path, command):
    (tmp_path / "takes").mkdir()
    os.mkfifo(tmp_path / "takes" / "live_take.csv")
    done = _facs_rig(*command, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1, "facs-rig: error: takes/live_take.csv: not a regular file (a named pipe)\n")
    assert not (tmp_path / "live.json").exists()


def test_a_named_pipe_is_refused_by_the_readers_without_being_opened(tmp_path):
    pipe = tmp_path / "live_take.csv"
    os.mkfifo(pipe)
    code = ("import sys\nfrom facs_rig.io.captures import read_capture, read_header\n"
            "from facs_rig.cluster.work import file_sha256\n"
            "for call in (read_header, read_capture, file_sha256):\n"
            "    try:\n        call(sys.argv[1])\n"
            "    except Exception as exc:\n        print(type(exc).__name__, exc)\n")
    try:
        done = subprocess.run([sys.executable, "-c", code, str(pipe)], capture_output=True,
                              text=True, timeout=PIPE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("a reader blocked on the named pipe")
    assert done.stdout == f"CaptureFormatError {pipe}: not a regular file (a named pipe)\n" * 3


def test_a_named_pipe_among_the_takes_fails_alone_and_the_batch_ends(tmp_path):
    takes = tmp_path / "takes"
    takes.mkdir()
    for name in ("001.csv", "002.csv"):
        shutil.copyfile(shared_asset(f"captures/pyfeat/{name}"), takes / name)
    os.mkfifo(takes / "live_take.csv")
    done = _facs_rig("batch", "takes", "-o", "out/{stem}.json", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("facs-rig: error:")]
    assert errors == ["facs-rig: error: takes/live_take.csv: not a regular file (a named pipe)",
                      "facs-rig: error: 1 of 3 takes failed (listed first in "
                      "out/batch-report.html)"]
    assert "batch: 3 takes: 2 done, 0 up to date, 1 failed;" in done.stdout
    report = json.loads((tmp_path / "out" / "batch-report.json").read_text(encoding="utf-8"))
    assert [(t["capture"], t["status"], t.get("error")) for t in report["takes"]] == [
        ("takes/live_take.csv", "failed", "takes/live_take.csv: not a regular file (a named pipe)"),
        ("takes/001.csv", "ok", None), ("takes/002.csv", "ok", None)]


# --- 4. a take whose header line was lost fails; it is not skipped as "some other CSV" ---------


def _headerless(tmp_path: Path, relative: str, name: str) -> Path:
    """A take whose header line was lost (``tail -n +2``)."""
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    data = shared_asset(relative).read_bytes()
    target.write_bytes(data[data.index(b"\n") + 1:])
    return target


def test_a_take_without_its_header_line_is_refused_naming_the_lost_header(tmp_path, capsys):
    take = _headerless(tmp_path, OTHER_LLF, "take03.csv")
    assert main(["code", str(take)]) == 1
    assert one_error(capsys) == (
        f"facs-rig: error: {take}: line 1: no header line: the first line is data (63 cells: "
        f"13:13:04:31.652, 61, 0.1236470118, ...); the take's header was lost (copy it back "
        f"from another take of the same tracker, or from the original file)")


@pytest.mark.parametrize("relative", [OTHER_LLF, OPENFACE, PYFEAT, FACECAP])
def test_a_folder_search_takes_a_headerless_take_and_skips_other_csv(tmp_path, relative):
    from facs_rig.cluster import expand_inputs

    take = _headerless(tmp_path, relative, "day/take03.csv")
    (tmp_path / "day" / "list.csv").write_text("eggs,milk,bread\n2,1,1\n", encoding="utf-8")
    takes, notes = expand_inputs([str(tmp_path / "day")])
    assert [t.capture for t in takes] == [str(take)]
    assert notes == [f"{tmp_path / 'day'}: 1 CSV file(s) skipped, not a capture format "
                     f"facs-rig knows: list.csv"]


def test_a_batch_counts_a_headerless_take_as_failed(tmp_path):
    (tmp_path / "takes").mkdir()
    shutil.copyfile(shared_asset(LLF), tmp_path / "takes" / "take01.csv")
    shutil.copyfile(shared_asset(PYFEAT), tmp_path / "takes" / "take02.csv")
    _headerless(tmp_path, OTHER_LLF, "takes/take03.csv")
    done = _facs_rig("batch", "takes", "-o", "out/{stem}.json", "--workers", "1", cwd=tmp_path)
    reason = ("takes/take03.csv: line 1: no header line: the first line is data (63 cells: "
              "13:13:04:31.652, 61, 0.1236470118, ...); the take's header was lost (copy it back "
              "from another take of the same tracker, or from the original file)")
    assert done.returncode == 1, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("facs-rig: ")] == [
        f"facs-rig: error: {reason}",
        "facs-rig: error: 1 of 3 takes failed (listed first in out/batch-report.html)"]
    assert "batch: 3 takes: 2 done, 0 up to date, 1 failed;" in done.stdout
    report = json.loads((tmp_path / "out" / "batch-report.json").read_text(encoding="utf-8"))
    assert report["skipped_files"] == []
    assert (report["totals"]["takes"], report["totals"]["ok"], report["totals"]["failed"]) == \
        (3, 2, 1)
    assert [(t["capture"], t["status"], t.get("error")) for t in report["takes"]][0] == \
        ("takes/take03.csv", "failed", reason)


# --- 5. a --tracker profile of another tracker is noted, and still applied ---------------------


def _code_segments(stdout: str) -> tuple[int, int]:
    """(segments, segments whose code holds AU5) of ``code``'s printed summary."""
    codes = [line.split("  ")[1].split()[0] for line in stdout.splitlines()
             if line and not line.startswith("#")]
    return len(codes), sum(bool(re.search(r"(?:^|\+)5[A-E]", code)) for code in codes)


def test_code_notes_a_tracker_profile_of_another_tracker_and_applies_it(capsys):
    take = shared_asset(LLF)
    assert main(["code", str(take)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and _code_segments(captured.out) == (64, 6)
    assert main(["code", str(take), "--tracker", "mediapipe"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"facs-rig: note: {take}: --tracker mediapipe is the profile of MediaPipe and Py-Feat "
        f"captures; this Live Link Face capture's is arkit (mediapipe's gains and thresholds "
        f"are applied as asked)\n")
    # Applied as asked: MediaPipe's eyeWide gain on the iPhone's resting eyeWide reads AU5.
    assert _code_segments(captured.out) == (70, 26)


@pytest.mark.parametrize("tracker", ["arkit", "generic"])
def test_no_note_for_the_format_s_own_profile_or_one_for_any_tracker(capsys, tracker):
    assert main(["code", str(shared_asset(LLF)), "--tracker", tracker]) == 0
    assert capsys.readouterr().err == ""


def test_retarget_notes_a_tracker_profile_of_another_tracker(tmp_path, capsys):
    fex = shared_asset(PYFEAT)
    out = tmp_path / "aus.json"
    assert main(["retarget", str(fex), "--tracker", "arkit", "-o", str(out)]) == 0
    assert capsys.readouterr().err == (
        f"facs-rig: note: {fex}: --tracker arkit is the profile of Live Link Face captures; "
        f"this Py-Feat capture's is mediapipe (arkit's gains and thresholds are applied as "
        f"asked)\n")
    assert out.exists()


def test_a_batch_notes_a_tracker_profile_of_another_tracker_once_per_kind_of_take(tmp_path):
    (tmp_path / "takes").mkdir()
    for name in ("a.csv", "b.csv"):
        shutil.copyfile(shared_asset(LLF), tmp_path / "takes" / name)
    shutil.copyfile(shared_asset(PYFEAT), tmp_path / "takes" / "c.csv")
    done = _facs_rig("batch", "takes", "-o", "out/{stem}.json", "--tracker", "mediapipe",
                     "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    note = ("--tracker mediapipe is the profile of MediaPipe and Py-Feat captures; this Live "
            "Link Face capture's is arkit (mediapipe's gains and thresholds are applied as asked)")
    assert [line for line in done.stderr.splitlines() if line.startswith("facs-rig: ")] == [
        f"facs-rig: note: 2 takes (takes/a.csv, ...): {note}"]
    report = json.loads((tmp_path / "out" / "batch-report.json").read_text(encoding="utf-8"))
    assert {t["capture"]: t["qc"]["tracker_mismatch"] for t in report["takes"]} == {
        "takes/a.csv": note, "takes/b.csv": note, "takes/c.csv": None}
    page = (tmp_path / "out" / "batch-report.html").read_text(encoding="utf-8")
    assert page.count(html.escape(note)) == 2  # under each Live Link Face take's name


_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_ ]{0,15}", fullmatch=True).filter(
    lambda name: name.strip().lower() not in ("nan", "inf", "infinity", "-nan"))


@settings(max_examples=100, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=40), st.lists(
    st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=3, max_size=80))
def test_a_header_of_names_is_no_data_and_a_row_of_numbers_is(names, values):
    assert not header_is_data(tuple(names))
    row = [repr(float(v)) for v in values]
    assert header_is_data(tuple(row))
    assert header_is_data(tuple(["13:13:04:31.652", *row]))  # a Live Link Face row
    assert is_capture_or_lost_header(tuple(row))


@pytest.mark.parametrize("command", [
    ["code", "take.csv", "--tracker", "pipe.json"],
    ["retarget", "take.csv", "--mesh", "pipe.glb", "-o", "out.glb"]])
def test_a_named_pipe_given_as_a_tracker_profile_or_mesh_is_refused(tmp_path, command):
    shutil.copyfile(shared_asset(PYFEAT), tmp_path / "take.csv")
    os.mkfifo(tmp_path / command[3])
    done = _facs_rig(*command, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1, f"facs-rig: error: {command[3]}: not a regular file (a named pipe)\n")
