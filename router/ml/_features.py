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

import functools
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Word tokens: runs of word characters, plus a few punctuation marks that carry meaning
#: in support tickets ("?" for questions, currency signs).
TOKEN_PATTERN = r"(?u)\b\w+\b|[?!$£€]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
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


_NO_UNITS: np.ndarray = np.zeros(0, dtype=np.intp)
_NO_UNITS.flags.writeable = False


@dataclass
class Analysis:
    """One text, analysed: feature occurrences and the words they belong to."""

    feats: list[int] = field(default_factory=list)  # global column per in-vocabulary occurrence
    unit_a: np.ndarray = field(default_factory=lambda: _NO_UNITS)  # word (unit) index of each occurrence
    unit_b: np.ndarray = field(default_factory=lambda: _NO_UNITS)  # second word, for n-grams spanning two
    words: list[str] = field(default_factory=list)  # display form of each unit (original casing)


def _concat_units(parts: list[Any]) -> np.ndarray:
    """The unit indices gathered block by block (lists and arrays) as one array."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return _NO_UNITS
    return np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0], dtype=np.intp)


def _display_word(chunk: str) -> str:
    """The chunk with surrounding punctuation stripped ("stolen?" -> "stolen"); "" if it has no word."""
    first, last = chunk[0], chunk[-1]
    # ``\w`` is exactly ``str.isalnum()`` or "_": most chunks start and end with one, so skip the regex
    if (first.isalnum() or first == "_") and (last.isalnum() or last == "_"):
        return chunk
    inner = _WORD_SPAN_RE.search(chunk)
    return inner.group(0) if inner else ""


def _unit_words(text: str, lower: str) -> list[str]:
    """Display words of the whitespace chunks of the text, in the ticket's own casing when
    lower-casing kept the offsets aligned (then every character maps to one, and whitespace to
    itself, so ``text.split()`` gives the same chunks as ``lower.split()``)."""
    return [_display_word(c) for c in (text.split() if len(text) == len(lower) else lower.split())]


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


def _tokens(chunks: list[str]) -> tuple[list[str], list[int]]:
    """Word tokens of the text and the chunk (unit) each one is in.

    Tokenising chunk by chunk gives the tokens of the whole text: no token contains whitespace,
    and ``\\b`` sees whitespace and the end of a string alike.
    """
    tokens: list[str] = []
    units: list[int] = []
    findall = _TOKEN_RE.findall
    for u, chunk in enumerate(chunks):
        toks = findall(chunk)
        if toks:
            tokens += toks
            units += [u] * len(toks)
    return tokens, units


@functools.lru_cache(maxsize=256)
def _pair_positions(n: int, window: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token positions ``i < j`` of the pairs :func:`_pairs` makes from ``n`` tokens, in its order."""
    pairs = [(i, j) for i in range(n) for j in range(i + 2, min(n, i + window + 1))]
    return tuple(i for i, _ in pairs), tuple(j for _, j in pairs)


def analyse_one(text: str, blocks: list[FastVocab]) -> Analysis:
    """Tokenise ``text`` exactly like the fitted vectorizers and attribute n-grams to words."""
    lower = text.lower()
    chunks = lower.split()
    out = Analysis(words=_unit_words(text, lower))
    if not chunks:
        return out
    feats = out.feats
    parts_a: list[Any] = []
    parts_b: list[Any] = []
    tokens: list[str] | None = None
    tok_units: list[int] = []
    for block in blocks:
        vocab = block.vocab
        get = vocab.get
        if block.kind == "char":
            cache = block.chunk_cache
            lens: list[int] = []
            for chunk in chunks:
                cols = cache.get(chunk)
                if cols is None:
                    cols = char_wb_columns(chunk, vocab, block.ngram_range)
                feats += cols
                lens.append(len(cols))
            units = np.repeat(np.arange(len(chunks)), lens)  # every n-gram stays inside its chunk
            parts_a.append(units)
            parts_b.append(units)
            continue
        if tokens is None:
            tokens, tok_units = _tokens(chunks)
        n_tok = len(tokens)
        ua: list[int] = []
        ub: list[int] = []
        add, add_a, add_b = feats.append, ua.append, ub.append
        if block.kind == "word":
            min_n, max_n = block.ngram_range
            for n in range(min_n, min(max_n, n_tok) + 1):
                if n == 1:
                    keys = tokens
                elif n == 2:
                    keys = [a + " " + b for a, b in pairwise(tokens)]
                else:
                    keys = [" ".join(tokens[i : i + n]) for i in range(n_tok - n + 1)]
                for col, first, last in zip(map(get, keys), tok_units, tok_units[n - 1 :], strict=False):
                    if col is not None:
                        add(col)
                        add_a(first)
                        add_b(last)
        else:  # pair: the keys of _pairs, in the same order
            bars = [t + "|" for t in tokens]
            first_pos, second_pos = _pair_positions(n_tok, block.window)
            keys = [
                bars[i] + tokens[j] if tokens[i] < tokens[j] else bars[j] + tokens[i]
                for i, j in zip(first_pos, second_pos, strict=True)
            ]
            for col, i, j in zip(map(get, keys), first_pos, second_pos, strict=True):
                if col is not None:
                    add(col)
                    add_a(tok_units[i])
                    add_b(tok_units[j])
        parts_a.append(ua)
        parts_b.append(ub)
    out.unit_a = _concat_units(parts_a)
    out.unit_b = _concat_units(parts_b)
    return out


#: Documents with fewer feature occurrences than this look their term frequency up in a table.
_TF_TABLE_SIZE = 4096


@functools.cache
def _tf_table(sublinear_tf: bool) -> np.ndarray:
    """``tf(count)`` for counts below :data:`_TF_TABLE_SIZE` (index 0 unused), with the same numpy
    arithmetic as the direct computation, so a lookup gives the same bits."""
    counts = np.arange(_TF_TABLE_SIZE, dtype=np.float64)
    if not sublinear_tf:
        return counts
    table = np.zeros(_TF_TABLE_SIZE)
    table[1:] = np.log(counts[1:]) + 1.0
    return table


def unique_counts(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(feats, return_inverse=True, return_counts=True)`` for a non-empty 1-D array,
    in a third of the time on the few hundred occurrences of one ticket."""
    s = np.sort(feats)
    first = np.empty(len(s), dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    cols = s[first]
    inverse = cols.searchsorted(feats)
    return cols, inverse, np.bincount(inverse)


def tfidf_values(
    feats: np.ndarray,
    idf: np.ndarray,
    block_of: np.ndarray,
    block_weight: np.ndarray,
    sublinear_tf: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-block l2-normalised, weighted TF-IDF values of one document (``feats`` non-empty).

    Returns ``(columns, values, inverse, counts)`` where ``columns`` are the distinct feature
    columns (sorted), ``inverse`` maps each occurrence to its column and ``counts`` is the term
    frequency.  Few numpy calls: on arrays this small each call costs more than its arithmetic.
    """
    cols, inverse, counts = unique_counts(feats)
    if len(feats) < _TF_TABLE_SIZE:
        tf = _tf_table(sublinear_tf).take(counts)
    else:
        tf = counts.astype(np.float64)
        if sublinear_tf:
            tf = np.log(tf) + 1.0
    val = tf * idf.take(cols)
    blk = block_of.take(cols)
    norms = np.sqrt(np.bincount(blk, weights=val * val, minlength=len(block_weight)))
    scale = np.divide(block_weight, norms, out=np.zeros_like(norms), where=norms > 0)
    val *= scale.take(blk)
    return cols, val, inverse, counts


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
