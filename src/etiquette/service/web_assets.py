"""Front-end files the workbench serves that are not committed: ECharts (the report charts),
taken from the npm registry at set-up (`make test` / `make demo` run `python -m
etiquette.service.web_assets`) the way a package manager would, and verified by sha256.

`npm pack` fetches the pinned release's tarball (npm checks it against the registry's own
integrity hash, and uses the machine's npm configuration: registry, proxy, cache); the one file
the pages need is taken out of it and refused unless its sha256 is the one committed here.
npm is on every machine of this project (Node.js 20 with npm); a machine without it gets a
clear error instead of a half-installed file. The file lands in static/vendor/ (git-ignored)
and is served at /static/vendor/<name>.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from etiquette.files import atomic_write
from etiquette.models import sha256_of

logger = logging.getLogger("etiquette.service.web_assets")
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"


class AssetError(RuntimeError):
    """A file could not be fetched, or is not the one pinned."""


@dataclass(frozen=True)
class NpmAsset:
    package: str
    version: str
    member: str  # the file inside the package's tarball
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.member).name


ECHARTS = NpmAsset("echarts", "6.1.0", "package/dist/echarts.min.js",
                   "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0")
ASSETS = (ECHARTS,)


def installed(asset: NpmAsset, vendor_dir: Path = VENDOR_DIR) -> Path | None:
    """The asset's file if it is there and is the pinned one."""
    path = vendor_dir / asset.name
    return path if path.is_file() and sha256_of(path) == asset.sha256 else None


def install_from_tarball(asset: NpmAsset, tarball: Path, vendor_dir: Path = VENDOR_DIR) -> Path:
    """Take the asset's file out of its package tarball into `vendor_dir`, only if its sha256
    is the pinned one (otherwise nothing is written)."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.extractfile(asset.member)
            if member is None:
                raise KeyError(asset.member)
            data = member.read()
    except (OSError, tarfile.TarError, KeyError) as e:
        raise AssetError(f"{tarball.name}: no readable {asset.member} ({e})") from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != asset.sha256:
        raise AssetError(f"{asset.package}@{asset.version} {asset.member}: sha256 {digest} is "
                         f"not the pinned {asset.sha256}; refusing to install it")
    path = vendor_dir / asset.name
    atomic_write(path, data)
    return path


def fetch(asset: NpmAsset, vendor_dir: Path = VENDOR_DIR, npm: str = "npm") -> Path:
    """The asset's verified file, fetched with `npm pack` unless already there."""
    if (path := installed(asset, vendor_dir)) is not None:
        return path
    command = shutil.which(npm)
    if command is None:
        raise AssetError(f"{npm} not found: install Node.js with npm to fetch "
                         f"{asset.package}@{asset.version}")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([command, "pack", f"{asset.package}@{asset.version}", "--json",
                               "--pack-destination", tmp], capture_output=True, text=True,
                              timeout=600, check=False)
        if done.returncode != 0:
            raise AssetError(f"npm pack {asset.package}@{asset.version} failed: "
                             f"{done.stderr.strip()[-500:]}")
        try:
            filename = json.load(io.StringIO(done.stdout))[0]["filename"]
        except (ValueError, LookupError, TypeError) as e:
            raise AssetError(f"npm pack {asset.package}@{asset.version}: unexpected output") from e
        return install_from_tarball(asset, Path(tmp) / Path(filename).name, vendor_dir)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for asset in ASSETS:
            path = fetch(asset)
            logger.info("%s@%s: %s (sha256 verified)", asset.package, asset.version, path)
    except AssetError as e:
        logger.error("web assets: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
