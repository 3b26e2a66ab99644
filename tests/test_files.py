"""The atomic write: a file is the old one or the new one, never half; on disk when it returns."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from etiquette import files
from etiquette.files import OWNER_ONLY, atomic_write, atomic_writer


def test_a_new_file_and_its_folder_are_made(tmp_path: Path) -> None:
    target = tmp_path / "evidence" / "ab" / "clip.wav"
    atomic_write(target, b"RIFF")
    assert target.read_bytes() == b"RIFF"
    assert os.listdir(target.parent) == ["clip.wav"]  # no temporary left beside it


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "rules_in_force.yaml"
    target.write_bytes(b"old")
    atomic_write(target, b"new and longer")
    assert target.read_bytes() == b"new and longer"


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.jpg"
    target.write_bytes(b"the old snapshot")
    with pytest.raises(RuntimeError, match="camera gone"), atomic_writer(target) as f:
        f.write(b"half of a new")
        f.flush()  # on disk in the temporary, still not the target
        assert target.read_bytes() == b"the old snapshot"
        raise RuntimeError("camera gone")
    assert target.read_bytes() == b"the old snapshot"
    assert os.listdir(tmp_path) == ["snapshot.jpg"]


def test_a_failed_rename_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a folder in the way: the rename fails
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_the_file_is_synced_before_its_name_and_the_name_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        steps.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    atomic_write(tmp_path / "a", b"x")
    assert steps == ["fsync file", "rename", "fsync folder"]
    steps.clear()
    atomic_write(tmp_path / "b", b"x", sync_dir=False)  # the caller syncs the folder itself
    assert steps == ["fsync file", "rename"]


def test_permissions_are_those_of_open_unless_asked_for_owner_only(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "clip.wav", b"x")
        atomic_write(tmp_path / "snapshot.jpg", b"x", mode=OWNER_ONLY)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "clip.wav").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "snapshot.jpg").stat().st_mode) == 0o600
