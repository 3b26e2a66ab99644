"""Forbidden phrases by meaning: a model learnt from labelled example sentences.

The rules' phrases and variants cannot list every way a clerk says a thing (墙上贴着电话号码，自己抄
is 有指示牌，自己看 too), and sentences written without looking at the lists are where a list
fails. The model reads an utterance by its characters and by its sounds (toneless pinyin, so
Whisper's homophones 讲起多变了 for 讲几多遍了 read alike) and says which forbidden phrase it
means, if any, and how sure it is. Each flag it gives names the example sentence nearest in
meaning, so a supervisor sees why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pypinyin import lazy_pinyin
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from etiquette.core.rules import NOT_FORBIDDEN, Example

_BREAKS = re.compile(r"[\s，,。.！!？?；;：:、/…—]+")
# Weak regularisation: thousands of short sentences, few words each (chosen once, not tuned).
_C = 10.0


def _characters(text: str) -> str:
    return _BREAKS.sub("，", text)


def _sounds(text: str) -> str:
    return " ".join(lazy_pinyin(_BREAKS.sub(" ", text)))


class MeaningModel:
    """A classifier of texts into the forbidden rules and `NOT_FORBIDDEN`, fitted on examples."""

    def __init__(self, examples: Sequence[Example]) -> None:
        """`examples`: of NOT_FORBIDDEN and of one forbidden rule at least (the rules loader
        refuses a file with fewer)."""
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
        """How likely `text` means each forbidden rule (empty where it has no words)."""
        if text not in self._read:
            if len(self._read) > 10_000:  # a live window runs for months
                self._read.clear()
            self._read[text] = self._reading(text)
        return self._read[text]

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
        return {c: float(p[i]) for i, c in enumerate(self._classes) if c != NOT_FORBIDDEN}


@lru_cache(maxsize=4)
def meaning_model(examples: tuple[Example, ...]) -> MeaningModel:
    """The model of these examples, fitted once per process (a few seconds for thousands)."""
    return MeaningModel(examples)
