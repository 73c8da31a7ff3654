"""Atomic writes: the previous file survives a failure; new files get ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from facs_rig.errors import OutputError
from facs_rig.io.atomic import atomic_write, write_bytes_atomic, write_text_atomic


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "one\n")
    write_text_atomic(target, "two\n")
    assert target.read_bytes() == b"two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    write_bytes_atomic(target, b"precious")
    with pytest.raises(RuntimeError), atomic_write(target) as stream:
        stream.write(b"half-writ")
        raise RuntimeError("failed mid-write")
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_permissions_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "shared.glb", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.glb").stat().st_mode) == 0o644


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OutputError, match="folder .* does not exist"):
        write_bytes_atomic(tmp_path / "nope" / "out.bin", b"x")


def test_a_folder_is_not_overwritten(tmp_path):
    with pytest.raises(OutputError, match="it is a folder"):
        write_bytes_atomic(tmp_path, b"x")
