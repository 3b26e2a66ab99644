"""The fitted meaning model is kept on disk: a process that judges does not fit it again."""

from __future__ import annotations

import logging

import pytest

from etiquette.core import meaning
from etiquette.core.rules import Example

EXAMPLES = (Example(rule="F1-1", text="这个我哪知道"), Example(rule="F1-1", text="不晓得，别问我"),
            Example(rule="none", text="您好，请坐"), Example(rule="none", text="请您出示身份证"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(meaning, "CACHE_DIR", tmp_path)
    meaning._fitted.cache_clear()
    yield tmp_path
    meaning._fitted.cache_clear()


def test_a_fitted_model_is_read_back_instead_of_fitted_again(cache, monkeypatch):
    first = meaning.meaning_model(EXAMPLES, {"F1-1"})
    assert first is not None and len(list(cache.glob("meaning-*.joblib"))) == 1
    meaning._fitted.cache_clear()  # as a new process

    def no_fitting(*args):
        raise AssertionError("fitted again")

    monkeypatch.setattr(meaning.MeaningModel, "__init__", no_fitting)
    again = meaning.meaning_model(EXAMPLES, {"F1-1"})
    assert again is not None and again.probabilities("我哪知道") == first.probabilities("我哪知道")


def test_other_examples_are_another_model_and_a_spoilt_file_is_fitted_again(cache, caplog):
    meaning.meaning_model(EXAMPLES, {"F1-1"})
    meaning.meaning_model((*EXAMPLES, Example(rule="none", text="我帮您问问")), {"F1-1"})
    files = sorted(cache.glob("meaning-*.joblib"))
    assert len(files) == 2
    for f in files:
        f.write_bytes(b"cut short")
    meaning._fitted.cache_clear()
    with caplog.at_level(logging.WARNING, logger="etiquette.meaning"):
        model = meaning.meaning_model(EXAMPLES, {"F1-1"})
    assert model is not None and "fitting again" in caplog.text
    assert any(f.stat().st_size > 1000 for f in cache.glob("meaning-*.joblib"))  # written anew
