"""ECharts comes from the npm registry at set-up and is served only if it is the pinned file:
its sha256 is checked against the committed one, and anything else is refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from etiquette.service.web_assets import (
    ECHARTS,
    AssetError,
    fetch,
    install_from_tarball,
    installed,
)


@pytest.fixture(scope="module")
def genuine() -> bytes:
    path = installed(ECHARTS)
    assert path is not None, "ECharts is not fetched: `make web-assets` (make test runs it)"
    return path.read_bytes()


def tarball(at: Path, data: bytes) -> Path:
    """A package tarball as npm packs it, holding `data` as ECharts' minified file."""
    with tarfile.open(at, "w:gz") as tar:
        info = tarfile.TarInfo(ECHARTS.member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return at


def test_the_pinned_file_is_installed(genuine: bytes, tmp_path: Path) -> None:
    path = install_from_tarball(ECHARTS, tarball(tmp_path / "e.tgz", genuine), tmp_path / "v")
    assert path == tmp_path / "v" / "echarts.min.js" and installed(ECHARTS, tmp_path / "v")
    assert b"echarts" in genuine[:2000]


def test_a_file_that_is_not_the_pinned_one_is_refused(genuine: bytes, tmp_path: Path) -> None:
    tampered = genuine.replace(b"echarts", b"ECHARTS", 1)
    with pytest.raises(AssetError, match="sha256 .* is not the pinned"):
        install_from_tarball(ECHARTS, tarball(tmp_path / "bad.tgz", tampered), tmp_path / "v")
    assert not (tmp_path / "v" / "echarts.min.js").exists()
    empty = tmp_path / "empty.tgz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(AssetError, match="no readable package/dist/echarts.min.js"):
        install_from_tarball(ECHARTS, empty, tmp_path / "v")


def test_a_damaged_installed_file_is_fetched_again(genuine: bytes, tmp_path: Path) -> None:
    """npm stands in for the registry here: a script that packs the genuine file."""
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "echarts.min.js").write_bytes(genuine[:1000])  # a download cut short
    assert installed(ECHARTS, vendor) is None
    tarball(tmp_path / "echarts-6.1.0.tgz", genuine)
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\n"  # npm pack NAME@VERSION --json --pack-destination DIR
                   f'cp {tmp_path}/echarts-6.1.0.tgz "$5/"\n'
                   f"echo '{json.dumps([{'filename': 'echarts-6.1.0.tgz'}])}'\n")
    npm.chmod(0o755)
    assert fetch(ECHARTS, vendor, npm=str(npm)) == vendor / "echarts.min.js"
    assert (vendor / "echarts.min.js").read_bytes() == genuine
    with pytest.raises(AssetError, match="not found"):
        fetch(ECHARTS, tmp_path / "other", npm=str(tmp_path / "no-npm"))
