"""Novelty: how unlike anything the model was trained on a ticket is, and the fixed text embedding.

:class:`TextEmbedding` is a small, fixed representation of ticket text (word uni- and bigram
TF-IDF reduced with TruncatedSVD, L2-normalised), fitted once at training time and stored with
the model.  The drift detectors test it, and :class:`NoveltyDetector` scores tickets in it.

:class:`NoveltyDetector` scores a ticket by its cosine distance to the nearest training tickets
(the mean of the ``k`` largest similarities to a per-intent set of prototypes, so the cost is a
handful of small numpy calls, ~20 µs).  Its :attr:`NoveltyDetector.threshold_` is calibrated on the
held-out split so that ``1 - quantile`` (5 % by default) of known-intent tickets exceed it; above
it a ticket gets the review reason ``novel``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from router.ml._features import TOKEN_PATTERN

_TOKEN_RE = re.compile(TOKEN_PATTERN)
DEFAULT_QUANTILE = 0.95


def tokens(text: str) -> list[str]:
    """The word tokens of ``text``, as the classifier's word block sees them."""
    return _TOKEN_RE.findall(text.lower())


class TextEmbedding:
    """Word TF-IDF (1-2 grams) → TruncatedSVD → L2 norm; ``transform`` gives float32 ``(n, d)``."""

    def __init__(self, n_components: int = 64, min_df: int = 2, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.min_df = min_df
        self.random_state = random_state

    def fit(self, texts: Sequence[str]) -> TextEmbedding:
        texts = list(texts)
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, min_df=self.min_df, sublinear_tf=True
        )
        X = self.vectorizer_.fit_transform(texts)
        d = max(1, min(self.n_components, X.shape[1] - 1, len(texts) - 1))
        self.svd_ = TruncatedSVD(n_components=d, random_state=self.random_state).fit(X)
        self.vectorizer_.stop_words_ = None  # only for introspection, and large
        self.vocab_ = dict(self.vectorizer_.vocabulary_)
        self.idf_ = self.vectorizer_.idf_.astype(np.float64)
        self.components_ = np.ascontiguousarray(self.svd_.components_.T, dtype=np.float32)  # (n_terms, d)
        #: every word token of the training texts: "seen" for the vocabulary-drift statistic
        self.seen_tokens_ = frozenset(tok for t in texts for tok in tokens(t))
        return self

    @property
    def dim(self) -> int:
        return int(self.components_.shape[1])

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        Z = np.asarray(self.vectorizer_.transform(list(texts)) @ self.components_, dtype=np.float32)
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        return np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)

    def embed_one(self, text: str) -> np.ndarray:
        """Same as ``transform([text])[0]`` without scikit-learn's per-call overhead."""
        toks = tokens(text)
        vocab = self.vocab_
        cols = [c for c in (vocab.get(t) for t in toks) if c is not None]
        cols += [c for c in (vocab.get(a + " " + b) for a, b in zip(toks, toks[1:], strict=False)) if c is not None]
        if not cols:
            return np.zeros(self.dim, dtype=np.float32)
        u, counts = np.unique(np.asarray(cols, dtype=np.intp), return_counts=True)
        w = (np.log(counts) + 1.0) * self.idf_[u]
        w /= np.sqrt(w @ w)
        z = w.astype(np.float32) @ self.components_[u]
        n = float(np.sqrt(z @ z))
        return z / n if n > 0 else z

    def unseen_share(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, the share of its word tokens never seen in training (0 for a text without tokens)."""
        seen = self.seen_tokens_
        out = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            toks = tokens(text)
            if toks:
                out[i] = sum(t not in seen for t in toks) / len(toks)
        return out


class NoveltyDetector:
    """Distance to the nearest intent prototypes in :class:`TextEmbedding` space (implements NoveltyScorer)."""

    def __init__(
        self,
        embedding: TextEmbedding | None = None,
        prototypes_per_intent: int = 4,
        k: int = 3,
        quantile: float = DEFAULT_QUANTILE,
        random_state: int | None = 0,
    ) -> None:
        self.embedding = embedding
        self.prototypes_per_intent = prototypes_per_intent
        self.k = k
        self.quantile = quantile
        self.random_state = random_state

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> NoveltyDetector:
        """Fit the embedding (unless given fitted) and the per-intent prototypes."""
        texts, labels_a = list(texts), np.asarray(list(labels))
        if self.embedding is None or not hasattr(self.embedding, "components_"):
            self.embedding = (self.embedding or TextEmbedding(random_state=self.random_state)).fit(texts)
        Z = self.embedding.transform(texts)
        protos = []
        for label in np.unique(labels_a):
            Zc = Z[labels_a == label]
            n = min(self.prototypes_per_intent, len(Zc))
            if n <= 1:
                protos.append(Zc.mean(axis=0, keepdims=True))
                continue
            km = KMeans(n_clusters=n, n_init=3, random_state=self.random_state).fit(Zc)
            protos.append(km.cluster_centers_)
        P = np.vstack(protos).astype(np.float32)
        norms = np.linalg.norm(P, axis=1, keepdims=True)
        self.prototypes_ = np.ascontiguousarray(np.divide(P, norms, out=np.zeros_like(P), where=norms > 0).T)
        self.threshold_ = float("inf")
        return self

    def calibrate(self, texts: Sequence[str]) -> NoveltyDetector:
        """Set :attr:`threshold_` so that ``1 - quantile`` of these held-out known tickets exceed it."""
        scores = self.score_batch(texts)
        self.threshold_ = float(np.quantile(scores, self.quantile)) if len(scores) else float("inf")
        return self

    @property
    def threshold(self) -> float:
        return float(getattr(self, "threshold_", float("inf")))

    def _from_sims(self, sims: np.ndarray) -> np.ndarray:
        k = min(self.k, sims.shape[-1])
        top = -np.partition(-sims, k - 1, axis=-1)[..., :k]
        return 1.0 - top.mean(axis=-1)

    def score_one(self, text: str) -> float:
        assert self.embedding is not None
        return float(self._from_sims(self.embedding.embed_one(text) @ self.prototypes_))

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        assert self.embedding is not None
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float64)
        return self._from_sims(self.embedding.transform(texts) @ self.prototypes_).astype(np.float64)


def reference_arrays(model: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """What the drift checks compare production windows with, computed on held-out ``texts``.

    ``embedding`` (n, d), ``confidence``, ``margin``, ``predicted`` (class index), ``unseen``
    (share of never-seen tokens) and ``novelty``; all float32.  Needs a model with a novelty
    detector (the embedding lives there).
    """
    texts = list(texts)
    det = model.novelty_detector
    proba = model.predict_proba(texts)
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return {
        "embedding": det.embedding.transform(texts).astype(np.float32),
        "confidence": top2[:, 0].astype(np.float32),
        "margin": (top2[:, 0] - top2[:, 1]).astype(np.float32),
        "predicted": np.argmax(proba, axis=1).astype(np.float32),
        "unseen": det.embedding.unseen_share(texts).astype(np.float32),
        "novelty": det.score_batch(texts).astype(np.float32),
    }
