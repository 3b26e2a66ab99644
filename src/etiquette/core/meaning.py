"""Phrases by meaning: a model learnt from labelled example sentences.

The rules' phrases and variants cannot list every way a clerk says a thing (墙上贴着电话号码，自己抄
is 有指示牌，自己看 too; 同学你好，开证明吗 is a greeting), and sentences written without looking at
the lists are where a list fails. The model reads an utterance by its characters and by its
sounds (toneless pinyin, so Whisper's homophones 讲起多变了 for 讲几多遍了 read alike) and says
which phrase it means, if any, and how sure it is. Forbidden phrases and the greeting and
farewell are read by two models of one set of examples, each seeing the other's sentences as
saying none of its phrases. Each flag it gives names the example sentence nearest in meaning,
so a supervisor sees why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
import pypinyin
import sklearn
from pypinyin import lazy_pinyin
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from etiquette.core.rules import NO_RULE, Example

logger = logging.getLogger("etiquette.meaning")

_BREAKS = re.compile(r"[\s，,。.！!？?；;：:、/…—]+")
# Weak regularisation: thousands of short sentences, few words each (chosen once, not tuned).
_C = 10.0


def _characters(text: str) -> str:
    return _BREAKS.sub("，", text)


def _sounds(text: str) -> str:
    return " ".join(lazy_pinyin(_BREAKS.sub(" ", text)))


class MeaningModel:
    """A classifier of texts into rules and `NO_RULE`, fitted on examples."""

    def __init__(self, examples: Sequence[Example]) -> None:
        """`examples`: of NO_RULE and of one rule at least."""
        rules = {e.rule for e in examples}
        self._features = FeatureUnion([
            ("characters", TfidfVectorizer(analyzer="char", ngram_range=(1, 3),
                                           sublinear_tf=True, min_df=2, preprocessor=_characters)),
            ("sounds", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                       min_df=2, preprocessor=_sounds, token_pattern=r"\S+")),
        ])
        texts = [e.text for e in examples]
        x = csr_matrix(self._features.fit_transform(texts))
        labels = [e.rule for e in examples]
        self._classifier = LogisticRegression(C=_C, max_iter=3000).fit(x, labels)
        self._classes: list[str] = [str(c) for c in self._classifier.classes_]
        # each rule's examples and their features, for the nearest one
        self._examples = {r: [i for i, e in enumerate(examples) if e.rule == r] for r in rules}
        self._texts = texts
        self._x = x
        self._read: dict[str, dict[str, float]] = {}  # judging reads an utterance several times

    def probabilities(self, text: str) -> dict[str, float]:
        """How likely `text` means each rule (empty where it has no words)."""
        read = self._read.get(text)
        if read is None:
            if len(self._read) > 10_000:  # a live window runs for months
                self._read.clear()
            read = self._read[text] = self._reading(text)
        return read

    def nearest(self, text: str, rule_id: str) -> str:
        """The example of `rule_id` nearest to `text`: what a supervisor reads as the reason."""
        own = self._examples[rule_id]
        similarity = (self._x[own] @ self._vector(text).T).toarray().ravel()
        return self._texts[own[int(np.argmax(similarity))]]

    def _vector(self, text: str) -> csr_matrix:
        return csr_matrix(self._features.transform([text]))

    def _reading(self, text: str) -> dict[str, float]:
        if not _BREAKS.sub("", text):
            return {}
        p = self._classifier.predict_proba(self._vector(text))[0]
        return {c: float(p[i]) for i, c in enumerate(self._classes) if c != NO_RULE}


def meaning_model(examples: Sequence[Example], rule_ids: set[str]) -> MeaningModel | None:
    """The model reading `examples` for `rule_ids` alone (None where none of them has an
    example): another rule's sentence says none of these (a greeting is no forbidden phrase),
    and a sentence that says one of them is not also an example of none."""
    theirs = {e.text for e in examples if e.rule in rule_ids}
    view = tuple(dict.fromkeys(
        Example(rule=e.rule if e.rule in rule_ids else NO_RULE, text=e.text, source=e.source)
        for e in examples if e.rule in rule_ids or e.text not in theirs))
    return _fitted(view) if theirs else None


# Fitting takes seconds for thousands of examples, in every process that judges (each batch
# run, each live start): the fitted model is kept on disk, under a name made of its examples,
# this module and the versions of scikit-learn and pypinyin. joblib reads pickles: the folder
# is the user's own.
_USER_CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")  # never raises
CACHE_DIR = Path(os.environ.get("ETIQUETTE_CACHE_DIR") or Path(_USER_CACHE) / "etiquette")
_KEPT = 8  # fitted models kept, 10-15 MB each (one rules file needs two)
_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@lru_cache(maxsize=8)
def _fitted(examples: tuple[Example, ...]) -> MeaningModel:
    """The model of these examples: from the disk cache, or fitted and put there."""
    lines = [sklearn.__version__, pypinyin.__version__, _CODE,
             *(f"{e.rule}\t{e.text}" for e in examples)]
    key = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24]
    path = CACHE_DIR / f"meaning-{key}.joblib"
    try:
        model = joblib.load(path)
        if isinstance(model, MeaningModel):
            os.utime(path)  # in use: the last to be let go
            return model
    except FileNotFoundError:
        pass
    except Exception as e:  # a cache file cut short, or of another version: fit again
        logger.warning("meaning model cache %s unreadable (%s): fitting again", path, e)
    model = MeaningModel(examples)
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
        joblib.dump(model, partial)
        os.replace(partial, path)  # another process reads the whole file or none
        for old in sorted(CACHE_DIR.glob("meaning-*.joblib"), key=lambda p: p.stat().st_mtime,
                          reverse=True)[_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError as e:
        logger.warning("meaning model not cached in %s (%s): fitted again next time", CACHE_DIR, e)
    return model
