"""Feature extraction shared by the batch (scikit-learn) path and the one-ticket fast path.

The classifier uses three TF-IDF blocks:

* ``word``: word n-grams over :data:`TOKEN_PATTERN` tokens (scikit-learn's own ``analyzer="word"``);
* ``char``: ``char_wb`` character n-grams (scikit-learn's own ``analyzer="char_wb"``);
* ``pair``: unordered pairs of non-adjacent tokens inside a small window (:class:`PairAnalyzer`),
  which lets a linear model see combinations such as ``top … failed`` vs ``top … pending``.

:func:`analyse_one` re-implements the three analyzers in plain Python for one text, but also
records which *word of the ticket* every n-gram came from, so the fast path can both score and
explain a ticket in well under a millisecond.  ``tests/ml`` checks it against the vectorizers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

#: Word tokens: runs of word characters, plus a few punctuation marks that carry meaning
#: in support tickets ("?" for questions, currency signs).
TOKEN_PATTERN = r"(?u)\b\w+\b|[?!$£€]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_CHUNK_RE = re.compile(r"\S+")
_WORD_SPAN_RE = re.compile(r"\w(?:.*\w)?", re.DOTALL)


class PairAnalyzer:
    """Analyzer yielding ``"a|b"`` for token pairs ``i < j`` with ``2 <= j - i <= window``.

    Adjacent pairs are left out because word bigrams already cover them.  A picklable class
    (not a closure) so a fitted model can be saved with joblib.
    """

    def __init__(self, window: int) -> None:
        self.window = window

    def __call__(self, doc: str) -> list[str]:
        tokens = _TOKEN_RE.findall(doc.lower())
        return [key for key, _, _ in _pairs(tokens, self.window)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PairAnalyzer) and other.window == self.window

    def __hash__(self) -> int:
        return hash(("PairAnalyzer", self.window))


def _pairs(tokens: list[str], window: int) -> list[tuple[str, int, int]]:
    """Pair keys with the two token positions they came from."""
    out: list[tuple[str, int, int]] = []
    n = len(tokens)
    for i in range(n):
        a = tokens[i]
        for j in range(i + 2, min(n, i + window + 1)):
            b = tokens[j]
            out.append((a + "|" + b if a < b else b + "|" + a, i, j))
    return out


@dataclass
class FastVocab:
    """Fitted lookup tables for one TF-IDF block, in the global feature numbering."""

    kind: str  # "word" | "char" | "pair"
    vocab: dict[str, int]  # term -> global column
    ngram_range: tuple[int, int] = (1, 1)
    window: int = 0
    #: char blocks only: whitespace chunk -> its in-vocabulary n-gram columns, precomputed for
    #: every chunk seen in training (the vast majority of chunks at prediction time).
    chunk_cache: dict[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass
class Analysis:
    """One text, analysed: feature occurrences and the words they belong to."""

    feats: list[int] = field(default_factory=list)  # global column per in-vocabulary occurrence
    unit_a: list[int] = field(default_factory=list)  # word (unit) index the occurrence belongs to
    unit_b: list[int] = field(default_factory=list)  # second word for n-grams spanning two words
    words: list[str] = field(default_factory=list)  # display form of each unit (original casing)


def _unit_words(text: str, lower: str) -> tuple[list[int], list[str]]:
    """Whitespace chunks of the text: their start offsets and display words.

    A display word is the chunk with surrounding punctuation stripped ("stolen?" -> "stolen"),
    in the ticket's own casing when lower-casing kept the offsets aligned.
    """
    source = text if len(text) == len(lower) else lower
    starts: list[int] = []
    words: list[str] = []
    for m in _CHUNK_RE.finditer(lower):
        starts.append(m.start())
        chunk = source[m.start() : m.end()]
        inner = _WORD_SPAN_RE.search(chunk)
        words.append(inner.group(0) if inner else "")
    return starts, words


def char_wb_columns(chunk: str, vocab: dict[str, int], ngram_range: tuple[int, int]) -> tuple[int, ...]:
    """In-vocabulary ``char_wb`` n-gram columns of one lower-cased whitespace chunk, in order."""
    cols: list[int] = []
    w = " " + chunk + " "
    w_len = len(w)
    min_n, max_n = ngram_range
    for n in range(min_n, max_n + 1):
        last = max(w_len - n, 0)
        for off in range(last + 1):
            col = vocab.get(w[off : off + n])
            if col is not None:
                cols.append(col)
        if last == 0:  # scikit-learn counts a short word only once
            break
    return tuple(cols)


def analyse_one(text: str, blocks: list[FastVocab]) -> Analysis:
    """Tokenise ``text`` exactly like the fitted vectorizers and attribute n-grams to words."""
    lower = text.lower()
    starts, words = _unit_words(text, lower)
    out = Analysis(words=words)
    feats, ua, ub = out.feats, out.unit_a, out.unit_b
    tokens: list[str] | None = None
    tok_units: list[int] = []
    for block in blocks:
        vocab = block.vocab
        if block.kind == "char":
            cache = block.chunk_cache
            for u, chunk in enumerate(lower.split()):
                cols = cache.get(chunk)
                if cols is None:
                    cols = char_wb_columns(chunk, vocab, block.ngram_range)
                if cols:
                    units = [u] * len(cols)
                    feats.extend(cols)
                    ua.extend(units)
                    ub.extend(units)
            continue
        if tokens is None:
            tokens = []
            unit = -1
            n_units = len(starts)
            for m in _TOKEN_RE.finditer(lower):
                pos = m.start()
                while unit + 1 < n_units and starts[unit + 1] <= pos:
                    unit += 1
                tokens.append(m.group(0))
                tok_units.append(unit)
        if block.kind == "word":
            min_n, max_n = block.ngram_range
            n_tok = len(tokens)
            for n in range(min_n, min(max_n, n_tok) + 1):
                for i in range(n_tok - n + 1):
                    col = vocab.get(tokens[i] if n == 1 else " ".join(tokens[i : i + n]))
                    if col is not None:
                        feats.append(col)
                        ua.append(tok_units[i])
                        ub.append(tok_units[i + n - 1])
        else:  # pair
            for key, i, j in _pairs(tokens, block.window):
                col = vocab.get(key)
                if col is not None:
                    feats.append(col)
                    ua.append(tok_units[i])
                    ub.append(tok_units[j])
    return out


def tfidf_values(
    feats: np.ndarray,
    idf: np.ndarray,
    block_of: np.ndarray,
    block_weight: np.ndarray,
    sublinear_tf: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-block l2-normalised, weighted TF-IDF values of one document.

    Returns ``(columns, values, inverse, counts)`` where ``columns`` are the distinct feature
    columns, ``inverse`` maps each occurrence to its column and ``counts`` is the term frequency.
    """
    cols, inverse, counts = np.unique(feats, return_inverse=True, return_counts=True)
    tf = counts.astype(np.float64)
    if sublinear_tf:
        tf = np.log(tf) + 1.0
    val = tf * idf[cols]
    blk = block_of[cols]
    norms = np.sqrt(np.bincount(blk, weights=val * val, minlength=len(block_weight)))
    scale = np.divide(block_weight, norms, out=np.zeros_like(norms), where=norms > 0)
    return cols, val * scale[blk], inverse, counts


def sparse_dot(Xm: sp.csr_matrix, coef: np.ndarray, chunk_rows: int = 256) -> np.ndarray:
    """``Xm @ coef`` accumulated in float64 without up-casting the whole (float32) ``coef``.

    scipy would convert the full coefficient matrix to float64 on every call (tens of MB,
    milliseconds even for one row); gathering only the rows each chunk needs is cheaper and
    matches the one-text fast path's arithmetic.
    """
    n = Xm.shape[0]
    out = np.zeros((n, coef.shape[1]), dtype=np.float64)
    for start in range(0, n, chunk_rows):
        sub = Xm[start : start + chunk_rows]
        if sub.nnz == 0:
            continue
        contrib = np.empty((sub.nnz + 1, coef.shape[1]), dtype=np.float64)
        np.multiply(coef[sub.indices], sub.data[:, None], out=contrib[:-1])
        contrib[-1] = 0.0
        sums = np.add.reduceat(contrib, sub.indptr[:-1], axis=0)
        sums[np.diff(sub.indptr) == 0] = 0.0
        out[start : start + sub.shape[0]] = sums
    return out
