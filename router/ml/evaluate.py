"""Model quality metrics on labelled data: accuracy, calibration, auto-routing coverage.

Everything returned is plain Python (``float``/``int``/``str``/``dict``) so it can go straight
into JSON, the database or a model card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

#: Precision levels reported by :func:`coverage_at_precision`.
PRECISION_LEVELS: tuple[float, ...] = (0.95, 0.97, 0.99)


def expected_calibration_error(
    conf: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, n_bins: int = 15
) -> float:
    """ECE with ``n_bins`` equal-width bins over the top-class confidence.

    Bin ``i`` holds confidences in ``(i/n_bins, (i+1)/n_bins]`` (0 goes to the first bin); the
    ECE is the support-weighted mean of ``|accuracy - mean confidence|`` over non-empty bins.
    """
    conf_a = np.asarray(conf, dtype=np.float64)
    correct_a = np.asarray(correct, dtype=np.float64)
    if conf_a.shape != correct_a.shape or conf_a.ndim != 1:
        raise ValueError("conf and correct must be 1-D and of the same length")
    if len(conf_a) == 0:
        return 0.0
    bins = np.clip(np.ceil(conf_a * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=correct_a, minlength=n_bins) - np.bincount(bins, weights=conf_a, minlength=n_bins)
    )
    return float(gap.sum() / len(conf_a)) if count.any() else 0.0


def global_cutoff(conf: np.ndarray, correct: np.ndarray, target: float) -> tuple[float | None, float]:
    """Lowest single confidence cutoff keeping precision ``>= target`` among tickets at/above it.

    Returns ``(cutoff, share)``: ``share`` is the fraction of all tickets at/above the cutoff.
    Ties in confidence are kept together (a cutoff cannot split them).  ``(None, 0.0)`` when no
    cutoff reaches the target.
    """
    n = len(conf)
    if n == 0:
        return None, 0.0
    order = np.argsort(-conf, kind="stable")
    c_sorted = conf[order]
    precision = np.cumsum(correct[order]) / np.arange(1, n + 1)
    # Only positions at the end of a run of equal confidences are valid cut points.
    valid = np.append(c_sorted[1:] < c_sorted[:-1], True)
    ok = np.flatnonzero(valid & (precision >= target))
    if len(ok) == 0:
        return None, 0.0
    last = int(ok[-1])
    return float(c_sorted[last]), (last + 1) / n


def coverage_at_precision(
    conf: np.ndarray, correct: np.ndarray, levels: Sequence[float] = PRECISION_LEVELS
) -> dict[str, float]:
    """Max share of tickets auto-routable with one global cutoff keeping precision ``>= p``."""
    return {f"{p:.2f}": float(global_cutoff(conf, correct, p)[1]) for p in levels}


def evaluate(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float | None = None,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Metrics of probability predictions ``proba`` (columns in ``classes`` order) against labels.

    With per-intent ``thresholds`` (intent -> minimum confidence; intents missing from the
    mapping use ``default_threshold``, or are never auto-routed if that is ``None``), also
    reports ``auto_routed_share`` and ``auto_routed_accuracy`` of the tickets that clear them.
    Labels unknown to the model count as errors.
    """
    proba = np.asarray(proba, dtype=np.float64)
    classes_a = np.asarray(list(classes), dtype=object)
    y = np.asarray(list(y_true), dtype=object)
    if proba.ndim != 2 or proba.shape != (len(y), len(classes_a)):
        raise ValueError(f"proba must have shape ({len(y)}, {len(classes_a)}), got {proba.shape}")
    n = len(y)
    pred = classes_a[np.argmax(proba, axis=1)] if n else np.asarray([], dtype=object)
    conf = proba.max(axis=1) if n else np.zeros(0)
    correct = pred == y

    labels = sorted(set(classes_a.tolist()) | set(y.tolist()))
    prec, rec, f1, support = precision_recall_fscore_support(
        y.astype(str), pred.astype(str), labels=labels, zero_division=0
    )
    per_intent = {
        str(lab): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for lab, p, r, f, s in zip(labels, prec, rec, f1, support, strict=True)
    }
    present = [i for i, s in enumerate(support) if s > 0]
    result: dict[str, Any] = {
        "n": int(n),
        "accuracy": float(correct.mean()) if n else 0.0,
        "macro_f1": float(np.mean(f1[present])) if present else 0.0,
        "ece": expected_calibration_error(conf, correct, n_bins),
        "mean_confidence": float(conf.mean()) if n else 0.0,
        "coverage_at_precision": coverage_at_precision(conf, correct.astype(float)),
        "per_intent": per_intent,
    }
    if thresholds is not None:
        cut = np.array(
            [thresholds.get(str(p), np.inf if default_threshold is None else default_threshold) for p in pred],
            dtype=np.float64,
        )
        routed = conf >= cut
        result["auto_routed_share"] = float(routed.mean()) if n else 0.0
        result["auto_routed_accuracy"] = float(correct[routed].mean()) if routed.any() else 0.0
    return result
