"""Per-intent confidence thresholds for auto-routing, chosen on held-out data.

A ticket is auto-routed when the model's confidence in its top intent is at least that intent's
threshold; otherwise it goes to human review (``low_confidence``).  Thresholds are chosen so
that, on held-out tickets, the auto-routed tickets *of each predicted intent* reach the target
precision (default 0.97).

Small-sample smoothing: each intent has only ~20 held-out predictions, so raw per-intent
precision is noisy.  At a candidate cutoff ``t`` with ``k`` correct out of ``n`` predictions at
or above it we use the shrunk estimate::

    (k + m * prior(t)) / (n + m),   prior(t) = min(global precision at t, target)

``m`` = ``prior_strength`` pseudo-tickets.  Capping the prior at the target means smoothing can
never *loosen* a threshold (raw precision must itself reach the target); it only tightens
cutoffs where the model overall is unreliable or where an intent has few held-out tickets.
Intents with fewer than ``min_support`` held-out predictions use the global cutoff (the lowest
single cutoff reaching the target over all held-out tickets).  ``1.0`` means "never auto-route".

Ambiguity: a ticket whose top-1 minus top-2 probability is below :data:`DEFAULT_AMBIGUITY_MARGIN`
is flagged ``ambiguous`` even when it clears its threshold.  With calibrated probabilities a
margin of 0.10 means the runner-up is nearly as plausible as the winner, so a human should look.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router.ml.evaluate import global_cutoff

DEFAULT_TARGET_PRECISION = 0.97
DEFAULT_AMBIGUITY_MARGIN = 0.10
NEVER = 1.0


def _prepare(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, ...]:
    proba = np.asarray(proba, dtype=np.float64)
    classes_a = np.asarray(list(classes), dtype=object)
    y = np.asarray(list(y_true), dtype=object)
    if proba.ndim != 2 or proba.shape != (len(y), len(classes_a)):
        raise ValueError(f"proba must have shape ({len(y)}, {len(classes_a)}), got {proba.shape}")
    top = np.argmax(proba, axis=1)
    conf = proba[np.arange(len(y)), top]
    correct = (classes_a[top] == y).astype(np.float64)
    return classes_a, top, conf, correct


def choose_default_threshold(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    target_precision: float = DEFAULT_TARGET_PRECISION,
) -> float:
    """Lowest global cutoff with precision ``>= target`` on the held-out set (``1.0`` if none)."""
    _, _, conf, correct = _prepare(y_true, proba, classes)
    cut, _ = global_cutoff(conf, correct, target_precision)
    return NEVER if cut is None else cut


def choose_thresholds(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    target_precision: float = DEFAULT_TARGET_PRECISION,
    *,
    min_support: int = 3,
    prior_strength: float = 10.0,
    default_threshold: float | None = None,
) -> dict[str, float]:
    """Per-intent cutoffs (every class gets one) reaching ``target_precision`` on held-out data.

    See the module docstring for the smoothing and fallback rules.  ``default_threshold`` is
    the fallback for sparse intents; by default it is :func:`choose_default_threshold`.
    """
    classes_a, top, conf, correct = _prepare(y_true, proba, classes)
    if default_threshold is None:
        cut, _ = global_cutoff(conf, correct, target_precision)
        default_threshold = NEVER if cut is None else cut

    # Global precision at/above every cutoff, evaluated by lookup in the sorted confidences.
    order = np.argsort(-conf, kind="stable")
    g_conf = conf[order]
    g_prec = np.cumsum(correct[order]) / np.arange(1, len(conf) + 1) if len(conf) else np.zeros(0)

    def global_precision_at(t: np.ndarray) -> np.ndarray:
        # number of held-out tickets with confidence >= t
        idx = np.searchsorted(-g_conf, -t, side="right") - 1
        return g_prec[np.maximum(idx, 0)]

    out: dict[str, float] = {}
    for c, name in enumerate(classes_a):
        mask = top == c
        if int(mask.sum()) < min_support:
            out[str(name)] = float(default_threshold)
            continue
        c_conf = conf[mask]
        o = np.argsort(-c_conf, kind="stable")
        t = c_conf[o]
        k = np.cumsum(correct[mask][o])
        n = np.arange(1, len(t) + 1)
        prior = np.minimum(global_precision_at(t), target_precision)
        smoothed = (k + prior_strength * prior) / (n + prior_strength)
        valid = np.append(t[1:] < t[:-1], True)  # cut only at the end of a run of ties
        ok = np.flatnonzero(valid & (smoothed >= target_precision))
        out[str(name)] = float(t[ok[-1]]) if len(ok) else NEVER
    return out


def review_reasons(
    confidence: float, margin: float, threshold: float, ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN
) -> tuple[str, ...]:
    """Why a prediction needs a human: ``low_confidence`` and/or ``ambiguous`` (empty: auto-route)."""
    reasons: list[str] = []
    if confidence < threshold:
        reasons.append("low_confidence")
    if margin < ambiguity_margin:
        reasons.append("ambiguous")
    return tuple(reasons)
