"""Drift detectors: one small class per statistic, results shaped like alibi-detect's.

Every detector compares a production window with a reference sample (the held-out tickets kept
with the model version, or a pinned production window) and answers::

    {"data": {"is_drift": bool, "p_val": float, "threshold": float, "distance": float, ...},
     "meta": {"name": ..., "version": ..., "backend": "alibi" | "scipy", "statistic": ...}}

``p_val`` is the smallest per-feature p-value after the Bonferroni correction (for
``prediction_share``, calibrated by simulation instead; either way a detector alone says drift
exactly when ``p_val < threshold``), ``distance`` the largest per-feature statistic.  Each also
measures its change in a maintainer's units (mean confidence, unseen share, novel share, the share
of embedding components that moved, the classifier's AUC, the intents that rose with their counts);
:mod:`router.monitoring.effects` weighs those against the minimum material effects, and inside a
:class:`~router.monitoring.drift.DriftSuite` ``is_drift`` means "significant *and* material".

Two backends compute the same statistics: ``alibi`` (alibi-detect's KSDrift, ChiSquareDrift and
ClassifierDrift with the scikit-learn backend; BSL 1.1 licensed, imported only when a check runs
because it takes seconds to import) and ``scipy`` (scipy.stats and scikit-learn directly).
alibi-detect has no one-sample (exact binomial) test, so :class:`PredictionShareDrift` and
:class:`NoveltyRateDrift` compute theirs with scipy.stats under both backends.
No Flask here, and nothing is imported at module import time beyond numpy/scipy.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from scipy.stats import binom, chi2_contingency, ks_2samp

from . import effects

BACKENDS = ("alibi", "scipy")


def _alibi_cd() -> Any:
    """alibi-detect's drift module, imported without the notices a user of this service cannot act on.

    alibi-detect imports transformers, which announces that no deep-learning framework is installed
    (none is needed here), and its scikit-learn ClassifierDrift warns that ``retrain_from_scratch``
    turns ``warm_start`` off, which is what a check wants. Errors still show.
    """
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.getLogger("alibi_detect.cd.sklearn.classifier").setLevel(logging.ERROR)
    import alibi_detect.cd

    return alibi_detect.cd


VERSION = "1"


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"drift backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def increases(
    classes: np.ndarray,
    counts: np.ndarray,
    expected: np.ndarray,
    p_vals: np.ndarray,
    top: int = 5,
    beyond: Callable[[int, float], float] | None = None,
) -> list[dict[str, Any]]:
    """The intents whose window count exceeds its expectation, most significant first (at most ``top``).

    ``ratio`` is the window count over the expected count (``None`` when none was expected);
    ``mix_spread`` how far the other intents sit from their expected shares beyond sampling, and
    ``p_beyond_mix`` whether this one rose more than that explains (read by the severity, see
    :mod:`router.monitoring.effects`; not part of the detector's p-value). ``beyond(i, spread)``
    gives that p-value for intent ``i``; without it, :func:`~router.monitoring.effects.beyond_mix_p`.
    """
    n = int(np.sum(counts))
    up = [i for i in np.argsort(p_vals, kind="stable") if counts[i] > expected[i]][:top]
    out = []
    for i in up:
        spread = effects.mix_spread(counts, expected, int(i))
        if beyond is not None:
            p_mix = beyond(int(i), spread)
        else:
            p_mix = effects.beyond_mix_p(int(counts[i]), n, float(expected[i]) / max(1, n), spread, len(counts))
        out.append(
            {
                "class": int(classes[i]),
                "window_count": int(counts[i]),
                "expected_count": round(float(expected[i]), 2),
                "ratio": round(float(counts[i] / expected[i]), 3) if expected[i] > 0 else None,
                "p_val": float(p_vals[i]),
                "mix_spread": round(spread, 4),
                "p_beyond_mix": float(p_mix),
            }
        )
    return out


class Detector:
    """Base: ``x_ref`` is a 2-D float array; :meth:`predict` tests one window ``x`` against it."""

    name: ClassVar[str] = "detector"
    statistic: ClassVar[str] = ""
    #: which reference/window arrays the detector reads (see router.ml.novelty.reference_arrays)
    inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, x_ref: np.ndarray, p_val: float = 0.05, backend: str = "scipy") -> None:
        self.x_ref = np.asarray(x_ref, dtype=np.float32).reshape(len(x_ref), -1)
        self.p_val = float(p_val)
        self.backend = _check_backend(backend)
        self._alibi: Any = None

    @classmethod
    def select(cls, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The detector's input matrix from a dict of reference or window arrays."""
        cols = [np.asarray(arrays[k], dtype=np.float32).reshape(len(arrays[k]), -1) for k in cls.inputs]
        return np.hstack(cols) if len(cols) > 1 else cols[0]

    @property
    def n_features(self) -> int:
        return int(self.x_ref.shape[1])

    def predict(self, x: np.ndarray) -> dict[str, Any]:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != self.n_features:
            raise ValueError(f"{self.name}: window has {x.shape[1]} features, reference {self.n_features}")
        scored = self._score_alibi(x) if self.backend == "alibi" else self._score_scipy(x)
        p_vals, dist = scored[0], scored[1]
        measured: dict[str, Any] = scored[2] if len(scored) > 2 else {}
        p_vals = np.atleast_1d(np.asarray(p_vals, dtype=np.float64))
        dist = np.atleast_1d(np.asarray(dist, dtype=np.float64))
        p_adj = self._corrected(p_vals, x) if len(p_vals) else 1.0
        return {
            "data": {
                "is_drift": bool(p_adj < self.p_val),
                "p_val": p_adj,
                "threshold": self.p_val,
                "distance": float(np.nanmax(dist)) if len(dist) else 0.0,
                "n_features": len(p_vals),
                **self._extra(x),
                **self._effect(x, p_vals),
                **measured,
            },
            "meta": {"name": self.name, "version": VERSION, "backend": self.backend, "statistic": self.statistic},
        }

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        return {}

    def _effect(self, x: np.ndarray, p_vals: np.ndarray) -> dict[str, Any]:
        """Figures that need the per-feature p-values (the effect in a maintainer's units)."""
        return {}

    def _corrected(self, p_vals: np.ndarray, x: np.ndarray) -> float:
        """The smallest per-feature p-value, Bonferroni-corrected for the number of features."""
        return float(min(1.0, float(np.nanmin(p_vals)) * len(p_vals)))

    def _score_scipy(self, x: np.ndarray) -> tuple[Any, ...]:
        """``(p_vals, distances)`` per feature, optionally a dict of measured figures third."""
        raise NotImplementedError

    def _score_alibi(self, x: np.ndarray) -> tuple[Any, ...]:
        raise NotImplementedError


class _KSDetector(Detector):
    """Two-sample Kolmogorov-Smirnov per feature, Bonferroni-corrected (alibi's KSDrift)."""

    statistic = "ks"
    alternative: ClassVar[str] = "two-sided"

    def _score_scipy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [
            ks_2samp(self.x_ref[:, f], x[:, f], alternative=self.alternative, method="asymp")
            for f in range(self.n_features)
        ]
        return np.array([r.pvalue for r in out]), np.array([r.statistic for r in out])

    def _score_alibi(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._alibi is None:
            KSDrift = _alibi_cd().KSDrift

            self._alibi = KSDrift(self.x_ref, p_val=self.p_val, correction="bonferroni", alternative=self.alternative)
        p_vals, dist = self._alibi.score(x)
        return p_vals, dist


class InputDrift(_KSDetector):
    """Input drift: KS on each component of the fixed text embedding (TF-IDF → TruncatedSVD)."""

    name = "input_ks"
    inputs = ("embedding",)

    def _effect(self, x: np.ndarray, p_vals: np.ndarray) -> dict[str, Any]:
        # a component moved when its own KS test passes the Bonferroni-corrected level
        moved = int(np.sum(p_vals * len(p_vals) < self.p_val)) if len(p_vals) else 0
        return {"components_moved": {"count": moved, "of": len(p_vals), "share": round(moved / max(1, len(p_vals)), 4)}}


class ConfidenceDrift(_KSDetector):
    """Confidence drift: one-sided KS on the top confidence and on the top-1 minus top-2 margin
    (lower than the reference's: the direction that costs accuracy)."""

    name = "confidence_ks"
    inputs = ("confidence", "margin")
    alternative = "less"  # scipy: the reference's CDF lies below the window's, i.e. smaller values

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        return {"mean_confidence": {"reference": float(self.x_ref[:, 0].mean()), "window": float(x[:, 0].mean())}}


class VocabularyDrift(_KSDetector):
    """Vocabulary drift: one-sided KS on each ticket's share of never-seen tokens (more unseen words)."""

    name = "vocabulary"
    inputs = ("unseen",)
    alternative = "greater"  # scipy: the reference's CDF lies above the window's, i.e. larger shares

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        return {"unseen_share": {"reference": float(self.x_ref.mean()), "window": float(x.mean())}}


class PredictionDrift(Detector):
    """Prediction drift: chi-square on the predicted-intent counts, one 2x2 table per intent
    (the intent's share against the rest) with Bonferroni, so one intent whose share moves is
    found as well as a broad change of the mix (alibi's ChiSquareDrift on one-hot intents)."""

    name = "prediction_chi2"
    statistic = "chi2"
    inputs = ("predicted",)

    def __init__(
        self, x_ref: np.ndarray, p_val: float = 0.05, backend: str = "scipy", n_classes: int | None = None
    ) -> None:
        super().__init__(x_ref, p_val, backend)
        ref = self.x_ref[:, 0].astype(np.int64)
        self.n_classes = int(n_classes if n_classes is not None else (ref.max() + 1 if len(ref) else 1))

    @property
    def n_features(self) -> int:
        return 1

    def _counts(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(x[:, 0].astype(np.int64), minlength=self.n_classes)

    def _onehot(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return (x[:, :1].astype(np.int64) == classes[None, :]).astype(np.float32)

    def _present(self, x: np.ndarray) -> np.ndarray:
        return np.flatnonzero(self._counts(self.x_ref) + self._counts(x))

    def _score_scipy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref_c, win_c = self._counts(self.x_ref), self._counts(x)
        p_vals, dist = [], []
        for c in self._present(x):
            table = np.array([[ref_c[c], len(self.x_ref) - ref_c[c]], [win_c[c], len(x) - win_c[c]]])
            if (table.sum(axis=0) == 0).any():
                p_vals.append(1.0)
                dist.append(0.0)
                continue
            stat, p, _, _ = chi2_contingency(table)
            p_vals.append(p)
            dist.append(stat)
        return np.array(p_vals), np.array(dist)

    def _score_alibi(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ChiSquareDrift = _alibi_cd().ChiSquareDrift

        classes = self._present(x)  # intents never seen in either sample carry no information
        cats = {f: [0, 1] for f in range(len(classes))}
        det = ChiSquareDrift(self._onehot(self.x_ref, classes), p_val=self.p_val, categories_per_feature=cats)
        p_vals, dist = det.score(self._onehot(x, classes))
        return p_vals, dist

    def _effect(self, x: np.ndarray, p_vals: np.ndarray) -> dict[str, Any]:
        classes = self._present(x)  # the order both backends score the intents in
        ref_share = self._counts(self.x_ref)[classes] / max(1, len(self.x_ref))
        p_adj = np.minimum(1.0, p_vals * len(p_vals))  # each intent's own Bonferroni-corrected p-value
        return {"increases": increases(classes, self._counts(x)[classes], ref_share * len(x), p_adj)}

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        ref = self._counts(self.x_ref) / max(1, len(self.x_ref))
        win = self._counts(x) / max(1, len(x))
        moved = np.argsort(-np.abs(win - ref))[:3]
        return {
            "largest_moves": [
                {"class": int(c), "reference": round(float(ref[c]), 4), "window": round(float(win[c]), 4)}
                for c in moved
            ]
        }


class PredictionShareDrift(Detector):
    """Prediction drift against the model's expected intent mix: for each intent, an exact
    one-sided binomial test of its predicted count in the window against its share of the
    training labels (``expected``, recorded with the model).

    The detector's p-value is the chance that a window of the same size drawn from the expected
    mix has some intent at least this over-represented (its smallest per-intent p-value at least
    this small), read off simulated multinomial windows. Bonferroni would be valid too but is
    conservative on discrete counts of many small intents: on 500-ticket windows of BANKING77's
    mix its real false-alarm rate is about 60 % of the nominal one, and the unused budget is
    detection power lost.

    The held-out reference has ~18 tickets per intent, too few to see one intent's share triple;
    the training priors rest on every labelled row.  One-sided: an intent taking more traffic
    (a broad change of the mix raises some intents too).  alibi-detect has no per-category
    binomial test: both backends compute it with ``scipy.stats.binom``.
    """

    name = "prediction_share"
    statistic = "binomial"
    inputs = ("predicted",)
    SEED = 20240607  # fixed: the same window always gets the same p-value

    def __init__(self, x_ref: np.ndarray, p_val: float = 0.05, backend: str = "scipy", *, expected: np.ndarray) -> None:
        super().__init__(x_ref, p_val, backend)
        q = np.clip(np.asarray(expected, dtype=np.float64).ravel(), 0.0, None)
        if not len(q) or q.sum() <= 0:
            raise ValueError("prediction_share needs a non-empty expected intent mix")
        self.expected = q / q.sum()
        self.n_classes = len(self.expected)
        # enough simulated windows that the smallest reachable p-value is far below the threshold
        self.simulations = int(min(200_000, max(4_000, np.ceil(40 / max(self.p_val, 1e-9)))))
        self._null: dict[int, np.ndarray] = {}  # window size -> sorted smallest p-values under the mix

    def _null_min_p(self, n: int) -> np.ndarray:
        if n not in self._null:
            rng = np.random.default_rng(self.SEED + n)
            counts = rng.multinomial(n, self.expected, size=self.simulations)
            self._null[n] = np.sort(binom.sf(counts - 1, n, self.expected).min(axis=1))
        return self._null[n]

    def _corrected(self, p_vals: np.ndarray, x: np.ndarray) -> float:
        null = self._null_min_p(len(x))
        as_small = np.searchsorted(null, float(np.nanmin(p_vals)) * (1 + 1e-9), side="right")
        return float((1 + as_small) / (1 + len(null)))

    @property
    def n_features(self) -> int:
        return 1

    def _counts(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(x[:, 0].astype(np.int64), minlength=self.n_classes)[: self.n_classes]

    def _p_values(self, x: np.ndarray) -> np.ndarray:
        # P(X >= k) for X ~ Binomial(n, expected share): the exact upper tail
        return np.asarray(binom.sf(self._counts(x) - 1, len(x), self.expected), dtype=np.float64)

    def _score_scipy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratio = self._counts(x) / (len(x) * np.maximum(self.expected, 1e-12))
        return self._p_values(x), ratio

    _score_alibi = _score_scipy  # no binomial test in alibi-detect: the same scipy computation

    def _effect(self, x: np.ndarray, p_vals: np.ndarray) -> dict[str, Any]:
        # each intent's own p-value calibrated like the detector's: the chance that some intent of a
        # window drawn from the expected mix is at least this over-represented
        null = self._null_min_p(len(x))

        def calibrate(p: np.ndarray | float) -> np.ndarray:
            return (1 + np.searchsorted(null, np.asarray(p) * (1 + 1e-9), side="right")) / (1 + len(null))

        counts, n = self._counts(x), len(x)

        def beyond(i: int, spread: float) -> float:
            # the intent's own test with its share as uncertain as the other intents' shares are;
            # with no spread, exactly its calibrated p-value above
            return float(calibrate(effects.share_tail(int(counts[i]), n, float(self.expected[i]), spread)))

        classes = np.arange(self.n_classes)
        return {"increases": increases(classes, counts, self.expected * n, calibrate(p_vals), beyond=beyond)}

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        p = self._p_values(x)
        win = self._counts(x) / max(1, len(x))
        return {
            "largest_increases": [
                {
                    "class": int(c),
                    "expected": round(float(self.expected[c]), 4),
                    "window": round(float(win[c]), 4),
                    "p_val": float(p[c]),
                }
                for c in np.argsort(p, kind="stable")[:3]
            ]
        }


class NoveltyDrift(Detector):
    """Novelty drift: chi-square (2x2) on the share of tickets above the model's calibrated novelty
    threshold, one-sided (more novel tickets than the reference): tickets of intents the model
    was never taught cluster above the threshold long before they move the other statistics."""

    name = "novelty_rate"
    statistic = "chi2"
    inputs = ("novelty",)

    def __init__(
        self, x_ref: np.ndarray, p_val: float = 0.05, backend: str = "scipy", novelty_threshold: float | None = None
    ) -> None:
        super().__init__(x_ref, p_val, backend)
        # the held-out reference calibrated the threshold at its 95th percentile
        self.cut = float(novelty_threshold if novelty_threshold is not None else np.quantile(self.x_ref, 0.95))

    def _flags(self, x: np.ndarray) -> np.ndarray:
        return (x[:, :1] > self.cut).astype(np.float32)

    def _one_sided(self, x: np.ndarray, p_two: np.ndarray) -> np.ndarray:
        up = self._flags(x).mean() > self._flags(self.x_ref).mean()
        return np.where(up, p_two / 2, 1 - p_two / 2)

    def _score_scipy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = self._flags(self.x_ref)[:, 0], self._flags(x)[:, 0]
        table = np.array([[a.sum(), len(a) - a.sum()], [b.sum(), len(b) - b.sum()]])
        if (table.sum(axis=0) == 0).any():
            return np.array([1.0]), np.array([0.0])
        stat, p, _, _ = chi2_contingency(table)
        return self._one_sided(x, np.array([p])), np.array([stat])

    def _score_alibi(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ChiSquareDrift = _alibi_cd().ChiSquareDrift

        ref, win = self._flags(self.x_ref), self._flags(x)
        if len(np.unique(np.concatenate([ref, win]))) < 2:
            return np.array([1.0]), np.array([0.0])
        det = ChiSquareDrift(ref, p_val=self.p_val, categories_per_feature={0: [0, 1]})
        p_vals, dist = det.score(win)
        return self._one_sided(x, np.asarray(p_vals, dtype=np.float64)), dist

    def _extra(self, x: np.ndarray) -> dict[str, Any]:
        return {
            "novel_share": {
                "reference": float(self._flags(self.x_ref).mean()),
                "window": float(self._flags(x).mean()),
                "threshold": self.cut,
            }
        }


class NoveltyRateDrift(NoveltyDrift):
    """Novelty drift against the calibrated rate: an exact one-sided binomial test of the number of
    window tickets above the novelty threshold against the share of the reference above it, for
    a reference that is the held-out set the threshold was calibrated on (5 % by construction).

    More powerful than the two-sample chi-square because it takes the calibrated rate as known;
    that rate is itself estimated from the held-out set (~1,200 tickets: a standard error of about
    0.6 points against about 1 point for a 500-ticket window), so the detector's false-alarm rate
    is somewhat above its nominal level (``bench/drift_power.py`` measures the whole check's).
    Used only with the held-out reference: a pinned production window falls back to
    :class:`NoveltyDrift`.  Both backends compute it with ``scipy.stats.binom``.
    """

    statistic = "binomial"

    def __init__(
        self, x_ref: np.ndarray, p_val: float = 0.05, backend: str = "scipy", novelty_threshold: float | None = None
    ) -> None:
        super().__init__(x_ref, p_val, backend, novelty_threshold=novelty_threshold)
        self.rate = float(self._flags(self.x_ref).mean()) if len(self.x_ref) else 0.0

    def _score_scipy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = int(self._flags(x).sum())
        p = float(binom.sf(k - 1, len(x), self.rate))
        return np.array([p]), np.array([k / max(1, len(x)) / max(self.rate, 1e-12)])

    _score_alibi = _score_scipy  # no one-sample binomial test in alibi-detect


def _auc(ref: np.ndarray, win: np.ndarray) -> float:
    """Area under the ROC curve of the out-of-fold scores: 0.5 when window and reference look alike."""
    from scipy.stats import mannwhitneyu

    if not len(ref) or not len(win):
        return 0.5
    u = mannwhitneyu(win.ravel(), ref.ravel(), alternative="two-sided").statistic
    return round(float(u) / (len(ref) * len(win)), 4)


class ClassifierInputDrift(Detector):
    """Second opinion on input drift: a classifier learns to tell reference from window tickets
    (5-fold, out-of-fold probabilities); a one-sided KS test of its window vs reference scores
    (alibi's ClassifierDrift with the scikit-learn backend)."""

    name = "input_classifier"
    statistic = "classifier_ks"
    inputs = ("embedding",)
    n_folds = 5
    seed = 0

    def _model(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, solver="liblinear")

    def _score_scipy(self, x: np.ndarray) -> tuple[Any, ...]:
        from sklearn.model_selection import StratifiedKFold

        X = np.concatenate([self.x_ref, x])
        y = np.concatenate([np.zeros(len(self.x_ref)), np.ones(len(x))]).astype(np.int64)
        probs = np.empty(len(X))
        for tr, te in StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed).split(X, y):
            probs[te] = self._model().fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        res = ks_2samp(probs[y == 0], probs[y == 1], alternative="greater", method="asymp")
        return np.array([res.pvalue]), np.array([res.statistic]), {"auc": _auc(probs[y == 0], probs[y == 1])}

    def _score_alibi(self, x: np.ndarray) -> tuple[Any, ...]:
        ClassifierDrift = _alibi_cd().ClassifierDrift

        if self._alibi is None:
            self._alibi = ClassifierDrift(
                self.x_ref,
                self._model(),
                backend="sklearn",
                p_val=self.p_val,
                n_folds=self.n_folds,
                train_size=None,
                seed=self.seed,
                preds_type="probs",
            )
        with warnings.catch_warnings():  # alibi calls ks_2samp without a method; it falls back to asymp
            warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
            p_val, dist, probs_ref, probs_win, *_ = self._alibi._detector.score(x)
        return np.array([p_val]), np.array([dist]), {"auc": _auc(np.asarray(probs_ref), np.asarray(probs_win))}


DETECTORS: tuple[type[Detector], ...] = (
    InputDrift,
    PredictionDrift,
    ConfidenceDrift,
    VocabularyDrift,
    NoveltyDrift,
    ClassifierInputDrift,
)
#: detectors whose answer is reported but does not make the overall answer (a second opinion)
SECOND_OPINIONS: tuple[type[Detector], ...] = (ClassifierInputDrift,)
