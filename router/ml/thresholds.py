"""Per-intent confidence thresholds for auto-routing, chosen on out-of-fold predictions.

A ticket is auto-routed when the model's confidence in its top intent is at least that intent's
threshold; otherwise it goes to human review (``low_confidence``).

**Data.**  Thresholds are chosen on the out-of-fold (OOF) predictions of the calibration folds
(:meth:`IntentClassifier.fit_oof`): every training row is predicted by a model that did not see
it, so all ~9,000 BANKING77 training rows count instead of the ~1,000 hold-out rows (10-20 per
intent).  The hold-out split stays untouched for the card's metrics and the quality gate.

**Promise.**  The target precision is a promise about the auto-routed traffic *as a whole*
(``ROUTER_TARGET_PRECISION``), with a floor per intent (``ROUTER_INTENT_PRECISION_FLOOR``): no
intent's auto-routed tickets may fall below it.  Subject to both, the share auto-routed is
maximised.

**Method: one cutoff on estimated correctness.**  To route the most tickets at a given overall
precision, route them in order of their probability of being right.  That probability is the
confidence recalibrated per intent: ``logit P(correct) = a + b * logit(confidence) + offset[intent]``,
with ``a, b`` fitted on all OOF tickets and each intent's ``offset`` fitted on its own OOF
predictions with a normal prior of scale :data:`OFFSET_SCALE` (shrunk toward 0, in both
directions: an intent the model over-trusts gets a higher cutoff, one it under-trusts a lower
one).  One cutoff ``lambda`` on that score, the lowest whose OOF precision reaches the target,
gives every intent its confidence threshold.  The floor: an intent whose auto-routed OOF tickets
would fall below it (on the estimate ``(k + m * p) / (n + m)``, ``m`` = :data:`FLOOR_PSEUDO`
pseudo-tickets at the overall precision ``p``, so an intent with few predictions is not judged on
three tickets) has its cutoff raised until it reaches the floor, and ``lambda`` is chosen again
with those raised cutoffs in place, so the precision they free goes to the other intents.  No
extra correction on the overall target: the OOF models see 4/5 of the training part, so they are
a little less accurate than the final model and their precision errs low (on BANKING77 the OOF
choice promised 0.970 and gave 0.971 on the test set; 0.970 with the current classifier).

**Alternatives measured** (BANKING77 test set, never used for choosing; auto-routed share /
precision of the auto-routed tickets at target 0.97, low-confidence reason only):

* per-intent cutoffs on the hold-out, each intent reaching the target on its ~20 tickets
  (the previous method): 0.802 / 0.976; the same on OOF predictions: 0.822 / 0.975;
* one global cutoff on the hold-out: 0.863 / 0.973; on OOF predictions: 0.872 / 0.971;
* this method (offset scale 0.3, floor 0.90): 0.875 / 0.971.  Offset scale 0.1: 0.873 / 0.971;
  0.5, 1.0 and 2.0: 0.875 / 0.971, but with 20 examples per intent 1.0 and 2.0 let precision fall
  to 0.967 and 0.959 with 9-10 intents under the floor, where 0.3 keeps 0.973;
* a logistic correctness model on the top-1/2/3 probabilities, entropy and intent: 0.869-0.873;
* for reference, the best single cutoff chosen *on the test set itself*: 0.878 / 0.970.  No
  threshold rule on that classifier reached 88 % at 0.97; the lever left was the classifier.

**The current classifier** (balanced class weights, training on 90 % with a 10 % hold-out; the
settings measured are in :mod:`router.ml.classifier`): this method gives 0.884 / 0.970 on the test
set (OOF expectation 0.865 / 0.970; test accuracy 0.9214 instead of 0.9182), three intents below
the floor on the test set instead of four; the best single cutoff chosen on the test set itself is
now 0.881.

With the first 20 training rows per intent (previous classifier): previous 0.349 / 0.980, global
cutoff on OOF 0.510 / 0.975, this method 0.526 / 0.973.  Three random samples in
``bench/bench_thresholds.py``: 0.545 / 0.967 on average, lowest precision 0.958, with the previous
classifier; 0.571 / 0.967, lowest 0.964, with the current one (the samples are balanced, so only the
larger training part changes them).

Ambiguity: a ticket whose top-1 minus top-2 probability is below the model's ambiguity margin
is flagged ``ambiguous`` even when it clears its threshold.  :func:`reason_value` measures on the
OOF predictions what ``ambiguous`` and ``novel`` add to ``low_confidence``; training drops
``ambiguous`` when it sends to review only tickets at least as precise as the target, and always
keeps ``novel``, whose purpose (intents never taught) known-intent evidence cannot show.  At 0.97 neither flags a
single ticket that clears its threshold (OOF or test: the lowest threshold, 0.67, implies a margin
of 0.34 and a low entropy), so both cost nothing (with the current classifier ``novel`` flags 2
OOF tickets there, both right, and none on the test set); at 0.95 ``ambiguous`` adds 11 OOF tickets (64 %
right) and ``novel`` 64 (78 % right), at 0.90 246 and 469: there they buy precision and stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, logit

from router.ml.evaluate import global_cutoff

DEFAULT_TARGET_PRECISION = 0.97
DEFAULT_INTENT_FLOOR = 0.90
DEFAULT_AMBIGUITY_MARGIN = 0.10
#: prior scale (logits) of an intent's calibration offset
OFFSET_SCALE = 0.3
#: pseudo-tickets at the overall precision added to an intent's count when checking its floor
FLOOR_PSEUDO = 10.0
NEVER = 1.0
#: the target precisions an admin may choose
MIN_TARGET, MAX_TARGET = 0.5, 0.999
_EPS = 1e-6


@dataclass(frozen=True)
class OutOfFold:
    """What threshold choice needs of each out-of-fold prediction, in a few bytes per ticket."""

    confidence: np.ndarray  # top-1 probability, float32
    predicted: np.ndarray  # class index of the top intent, int16
    correct: np.ndarray  # bool
    margin: np.ndarray  # top-1 minus top-2 probability, float32
    novelty: np.ndarray | None = None  # normalised entropy, float32

    @classmethod
    def from_proba(cls, y_idx: Sequence[int] | np.ndarray, proba: np.ndarray, novelty: Any = None) -> OutOfFold:
        """Summarise probability rows ``proba`` (columns in class order) against label indices."""
        proba = np.asarray(proba, dtype=np.float64)
        y = np.asarray(y_idx)
        if proba.ndim != 2 or len(proba) != len(y):
            raise ValueError(f"proba must have shape ({len(y)}, n_classes), got {proba.shape}")
        top2 = -np.partition(-proba, 1, axis=1)[:, :2] if proba.shape[1] > 1 else np.hstack([proba, 0 * proba])
        pred = np.argmax(proba, axis=1)
        return cls(
            confidence=top2[:, 0].astype(np.float32),
            predicted=pred.astype(np.int16),
            correct=pred == y,
            margin=(top2[:, 0] - top2[:, 1]).astype(np.float32),
            novelty=None if novelty is None else np.asarray(novelty, dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.confidence)


@dataclass(frozen=True)
class ThresholdChoice:
    """The thresholds for one target, and what the OOF predictions expect of them."""

    thresholds: dict[str, float]
    default: float  # the cutoff of an intent with no evidence either way (offset 0, no floor)
    target_precision: float
    intent_floor: float
    expected_share: float  # OOF share auto-routed (low_confidence only)
    expected_precision: float  # OOF precision of those tickets
    raised: list[str] = field(default_factory=list)  # intents whose cutoff the floor raised

    def as_array(self, classes: Sequence[str]) -> np.ndarray:
        return np.array([self.thresholds.get(str(c), self.default) for c in classes], dtype=np.float64)


def _recalibration(
    z: np.ndarray, correct: np.ndarray, predicted: np.ndarray, n_classes: int, scale: float
) -> tuple[float, float, np.ndarray]:
    """``a, b`` of the overall logistic recalibration and each intent's shrunk offset (MAP, Newton)."""
    a, b = 0.0, 1.0
    if 0 < correct.sum() < len(correct):
        for _ in range(50):
            q = expit(a + b * z)
            w = q * (1 - q)
            grad = np.array([(correct - q).sum(), ((correct - q) * z).sum()])
            hess = np.array([[w.sum(), (w * z).sum()], [(w * z).sum(), (w * z * z).sum()]]) + 1e-6 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            a, b = a + step[0], b + step[1]
            if np.abs(step).max() < 1e-8:
                break
    b = max(b, 1e-3)  # confidence must keep ranking tickets the same way
    base = a + b * z
    offsets = np.zeros(n_classes)
    if scale > 0:
        for c in np.unique(predicted):
            m = predicted == c
            d = 0.0
            for _ in range(30):
                q = expit(base[m] + d)
                step = ((correct[m] - q).sum() - d / scale**2) / ((q * (1 - q)).sum() + 1 / scale**2)
                d += step
                if abs(step) < 1e-8:
                    break
            offsets[c] = d
    return a, b, offsets


def _floor_cutoffs(oof: OutOfFold, n_classes: int, floor: float, prior: float, pseudo: float) -> np.ndarray:
    """Per intent, the lowest confidence cutoff whose tickets reach ``floor`` on the shrunk estimate."""
    out = np.zeros(n_classes)
    conf, correct = oof.confidence.astype(np.float64), oof.correct.astype(np.float64)
    for c in np.unique(oof.predicted):
        m = oof.predicted == c
        o = np.argsort(-conf[m], kind="stable")
        t, k = conf[m][o], np.cumsum(correct[m][o])
        est = (k + pseudo * prior) / (np.arange(1, len(t) + 1) + pseudo)
        valid = np.append(t[1:] < t[:-1], True)  # a cut keeps ties together
        ok = np.flatnonzero(valid & (est >= floor))
        if len(ok) == 0:
            out[c] = NEVER
        elif ok[-1] < len(t) - 1:
            out[c] = t[ok[-1]]
    return out


def choose(
    oof: OutOfFold,
    classes: Sequence[str],
    target_precision: float = DEFAULT_TARGET_PRECISION,
    intent_floor: float = DEFAULT_INTENT_FLOOR,
    *,
    offset_scale: float = OFFSET_SCALE,
    floor_pseudo: float = FLOOR_PSEUDO,
) -> ThresholdChoice:
    """Thresholds for every class in ``classes`` (see the module docstring)."""
    n_classes = len(classes)
    conf = np.clip(oof.confidence.astype(np.float64), _EPS, 1 - _EPS)
    correct = oof.correct.astype(np.float64)
    pred = oof.predicted.astype(np.intp)
    if len(conf) == 0:
        return ThresholdChoice({str(c): NEVER for c in classes}, NEVER, target_precision, intent_floor, 0.0, 0.0)
    z = logit(conf)
    a, b, offsets = _recalibration(z, correct, pred, n_classes, offset_scale)
    score = a + b * z + offsets[pred]

    def solve(floors: np.ndarray) -> tuple[float | None, np.ndarray]:
        blocked = conf < floors[pred]
        lam, _ = global_cutoff(np.where(blocked, -np.inf, score), correct, target_precision)
        if lam is None or not np.isfinite(lam):
            return None, np.full(n_classes, NEVER)
        return lam, np.maximum(expit((lam - a - offsets) / b), floors)

    lam, cuts = solve(np.zeros(n_classes))
    raised: list[str] = []
    if lam is not None and intent_floor > 0:
        routed = conf >= cuts[pred]
        prior = float(correct[routed].mean()) if routed.any() else target_precision
        floors = _floor_cutoffs(oof, n_classes, intent_floor, prior, floor_pseudo)
        lam2, cuts2 = solve(floors)
        if lam2 is not None:
            raised = [str(classes[c]) for c in range(n_classes) if floors[c] > expit((lam2 - a - offsets[c]) / b)]
            lam, cuts = lam2, cuts2
    routed = conf >= cuts[pred] - 1e-12
    default = NEVER if lam is None else float(expit((lam - a) / b))
    return ThresholdChoice(
        thresholds={str(c): float(min(t, NEVER)) for c, t in zip(classes, cuts, strict=True)},
        default=default,
        target_precision=float(target_precision),
        intent_floor=float(intent_floor),
        expected_share=float(routed.mean()),
        expected_precision=float(correct[routed].mean()) if routed.any() else 0.0,
        raised=raised,
    )


def reason_value(
    oof: OutOfFold, thresholds: np.ndarray, ambiguity_margin: float, novelty_threshold: float
) -> dict[str, dict[str, float]]:
    """Share auto-routed and precision with ``low_confidence`` alone and with each other reason added.

    ``thresholds`` is per class index.  Each entry also says how many tickets the reason sends to
    review that ``low_confidence`` lets through (``extra``) and how precise those were.
    """
    conf_ok = oof.confidence >= thresholds[oof.predicted.astype(np.intp)] - 1e-7
    flags = {"ambiguous": oof.margin < ambiguity_margin}
    if oof.novelty is not None:
        flags["novel"] = oof.novelty > novelty_threshold
    n = max(1, len(oof))

    def summary(routed: np.ndarray) -> dict[str, float]:
        return {
            "share": float(routed.sum() / n),
            "precision": float(oof.correct[routed].mean()) if routed.any() else 0.0,
        }

    out = {"low_confidence": summary(conf_ok)}
    for name, flag in flags.items():
        extra = conf_ok & flag
        out[name] = {
            **summary(conf_ok & ~flag),
            "extra": int(extra.sum()),
            "extra_precision": float(oof.correct[extra].mean()) if extra.any() else 0.0,
        }
    return out


def label_indices(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Each label's column in ``classes``; ``-1`` for a label the model does not know (never correct)."""
    index = {str(c): i for i, c in enumerate(classes)}
    return np.array([index.get(str(lab), -1) for lab in labels], dtype=np.intp)


def precision_curve(
    oof: OutOfFold,
    classes: Sequence[str],
    targets: Sequence[float],
    intent_floor: float = DEFAULT_INTENT_FLOOR,
    evaluation: OutOfFold | None = None,
) -> list[dict[str, float]]:
    """For each target: OOF-chosen thresholds' expected share and precision, and (when given) the
    share and precision they give on ``evaluation`` predictions (held-out data)."""
    rows = []
    for target in targets:
        choice = choose(oof, classes, target, min(intent_floor, target))
        row = {
            "target": float(target),
            "expected_share": round(choice.expected_share, 4),
            "expected_precision": round(choice.expected_precision, 4),
        }
        if evaluation is not None:
            cut = choice.as_array(classes)[evaluation.predicted.astype(np.intp)]
            routed = evaluation.confidence >= cut - 1e-7
            row["share"] = round(float(routed.mean()) if len(routed) else 0.0, 4)
            row["precision"] = round(float(evaluation.correct[routed].mean()) if routed.any() else 0.0, 4)
        rows.append(row)
    return rows


#: the target precisions of the trade-off curve (``router evaluate``, the Models page)
CURVE_TARGETS: tuple[float, ...] = (0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995)


def _pair(value: float, bound: float) -> tuple[str, str]:
    """Both numbers with the fewest decimals (2 to 4) that keep them apart."""
    for digits in (2, 3, 4):
        a, b = f"{value:.{digits}f}", f"{bound:.{digits}f}"
        if a != b:
            return a, b
    return a, b


def low_confidence_text(confidence: float, threshold: float, intent: str) -> str:
    """A reviewer's reading of ``low_confidence``: ``confidence 0.62 below the 0.71 needed for card_arrival``."""
    if threshold >= NEVER:
        return f"confidence {confidence:.2f}, but {intent} is never auto-routed (no cutoff reaches the target)"
    conf, need = _pair(confidence, threshold)
    return f"confidence {conf} below the {need} needed for {intent}"


def ambiguous_text(margin: float, ambiguity_margin: float, runner_up: str) -> str:
    """``only 0.06 ahead of card_delivery_estimate (0.10 needed)``."""
    gap, need = _pair(margin, ambiguity_margin)
    return f"only {gap} ahead of {runner_up} ({need} needed)"


def novel_text(novelty: float, novelty_threshold: float) -> str:
    """``novelty 0.52 above the 0.40 of known tickets``."""
    score, bound = _pair(novelty, novelty_threshold)
    return f"novelty {score} above the {bound} of known tickets"


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
