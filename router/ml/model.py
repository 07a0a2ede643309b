"""The deployable model artefact: classifier + routing thresholds, pickled with joblib.

:class:`RouterModel` turns calibrated probabilities into a routing decision: the top intent,
its confidence, the top-3 alternatives, an explanation, and the reasons (if any) a human should
review the ticket instead of auto-routing it.

Extension point: ``novelty_detector`` is an optional learned component (anything satisfying
:class:`NoveltyScorer`) whose score is reported as ``Prediction.novelty``; it is ``None`` until
the novelty work adds one, and models pickled without it keep loading.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from router.ml.classifier import IntentClassifier
from router.ml.thresholds import (
    DEFAULT_AMBIGUITY_MARGIN,
    DEFAULT_INTENT_FLOOR,
    DEFAULT_TARGET_PRECISION,
    OutOfFold,
    ambiguous_text,
    low_confidence_text,
    novel_text,
    review_reasons,
)

N_ALTERNATIVES = 3
EXPLANATION_WORDS = 5


@runtime_checkable
class NoveltyScorer(Protocol):
    """What a novelty detector must offer to plug into :class:`RouterModel`."""

    def score_one(self, text: str) -> float: ...

    def score_batch(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Prediction:
    """One routing decision for one ticket."""

    intent: str
    confidence: float
    alternatives: list[dict[str, Any]]  # top-3 {"intent", "confidence"}, chosen intent first
    margin: float  # top-1 minus top-2 probability
    review_reasons: tuple[str, ...]  # subset of ("low_confidence", "ambiguous", "novel")
    explanation: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # the cutoff the confidence was compared with
    novelty: float | None = None
    #: each of the model's review reasons in a reviewer's words, e.g. ``low_confidence``:
    #: ``confidence 0.62 below the 0.71 needed for card_arrival``
    review_notes: dict[str, str] = field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        """True when the ticket should go to a human instead of being auto-routed."""
        return bool(self.review_reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "alternatives": [dict(a) for a in self.alternatives],
            "margin": self.margin,
            "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
            "threshold": self.threshold,
            "explanation": self.explanation,
            "novelty": self.novelty,
            "review_notes": dict(self.review_notes),
        }


class RouterModel:
    """Fitted classifier plus per-intent thresholds, the ambiguity rule and the novel rule.

    ``out_of_fold`` keeps the predictions the thresholds were chosen on, so they can be chosen
    again for another target precision without retraining.  ``ambiguity_margin=0`` turns the
    ambiguity rule off; ``novel_review=False`` keeps the novelty score but never gives ``novel``.
    """

    def __init__(
        self,
        classifier: IntentClassifier,
        thresholds: dict[str, float],
        default_threshold: float,
        ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN,
        target_precision: float = DEFAULT_TARGET_PRECISION,
        novelty_detector: NoveltyScorer | None = None,
        *,
        intent_floor: float = DEFAULT_INTENT_FLOOR,
        novel_review: bool = True,
        out_of_fold: OutOfFold | None = None,
    ) -> None:
        self.classifier = classifier
        self.thresholds = {str(k): float(v) for k, v in thresholds.items()}
        self.default_threshold = float(default_threshold)
        self.ambiguity_margin = float(ambiguity_margin)
        self.target_precision = float(target_precision)
        self.novelty_detector = novelty_detector
        self.intent_floor = float(intent_floor)
        self.novel_review = bool(novel_review)
        self.out_of_fold = out_of_fold

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("novelty_detector", None)  # artefacts older than the novelty component
        state.setdefault("intent_floor", DEFAULT_INTENT_FLOOR)  # ... and than the out-of-fold thresholds
        state.setdefault("novel_review", True)
        state.setdefault("out_of_fold", None)
        self.__dict__.update(state)

    def retargeted(
        self,
        thresholds: dict[str, float],
        default_threshold: float,
        target_precision: float,
        ambiguity_margin: float,
        novel_review: bool,
    ) -> RouterModel:
        """A copy routing with other thresholds; the classifier and novelty detector are shared, not copied."""
        model = copy.copy(self)
        model.thresholds = {str(k): float(v) for k, v in thresholds.items()}
        model.default_threshold = float(default_threshold)
        model.target_precision = float(target_precision)
        model.ambiguity_margin = float(ambiguity_margin)
        model.novel_review = bool(novel_review)
        return model

    @property
    def classes(self) -> list[str]:
        """Intent names in probability-column order."""
        return [str(c) for c in self.classifier.classes_]

    def threshold_for(self, intent: str) -> float:
        """The confidence an ``intent`` prediction needs to be auto-routed."""
        return self.thresholds.get(intent, self.default_threshold)

    def _decide(self, proba: np.ndarray, explanation: dict[str, Any], novelty: float | None) -> Prediction:
        classes = self.classifier.classes_
        k = min(N_ALTERNATIVES, len(proba))
        neg = -proba
        top = np.argpartition(neg, k - 1)[:k]
        top = top[neg.take(top).argsort(kind="stable")].tolist()
        top_p = proba.take(top).tolist()
        names = [str(classes[i]) for i in top]
        conf = top_p[0]
        margin = conf - top_p[1] if k > 1 else conf
        intent = names[0]
        threshold = self.threshold_for(intent)
        reasons = review_reasons(conf, margin, threshold, self.ambiguity_margin)
        if self.novel_review and novelty is not None and novelty > self.novelty_threshold:
            reasons += ("novel",)
        notes = {}
        if "low_confidence" in reasons:
            notes["low_confidence"] = low_confidence_text(conf, threshold, intent)
        if "ambiguous" in reasons and k > 1:
            notes["ambiguous"] = ambiguous_text(margin, self.ambiguity_margin, names[1])
        if "novel" in reasons and novelty is not None:
            notes["novel"] = novel_text(novelty, self.novelty_threshold)
        return Prediction(
            intent=intent,
            confidence=conf,
            alternatives=[{"intent": n, "confidence": c} for n, c in zip(names, top_p, strict=True)],
            margin=margin,
            review_reasons=reasons,
            explanation=explanation,
            threshold=threshold,
            novelty=novelty,
            review_notes=notes,
        )

    @property
    def novelty_threshold(self) -> float:
        """Above this novelty score a ticket gets the review reason ``novel`` (calibrated on held-out data)."""
        return float(getattr(self.novelty_detector, "threshold", float("inf")))

    def _novelty(self, text: str, proba: np.ndarray) -> float | None:
        det = self.novelty_detector
        if det is None:
            return None
        from_proba = getattr(det, "score_proba", None)  # reuses the probabilities: no second pass
        return float(from_proba(proba) if from_proba is not None else det.score_one(text))

    def predict(self, text: str) -> Prediction:
        """Route one (already normalised) ticket text via the classifier's fast path."""
        proba, explanation = self.classifier.predict_one_explained(text, EXPLANATION_WORDS)
        return self._decide(proba, explanation, self._novelty(text, proba))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, columns in :attr:`classes` order."""
        return self.classifier.predict_proba(list(texts))

    def predict_batch(self, texts: Sequence[str], explain: bool = True) -> list[Prediction]:
        """Route many texts; probabilities are computed in one vectorised call."""
        texts = list(texts)
        if not texts:
            return []
        proba = self.predict_proba(texts)
        novelty: list[float | None] = [None] * len(texts)
        det = self.novelty_detector
        if det is not None:
            scores = det.score_proba(proba) if hasattr(det, "score_proba") else det.score_batch(texts)
            novelty = [float(v) for v in scores]
        out = []
        for text, p, nov in zip(texts, proba, novelty, strict=True):
            expl = self.classifier.explain(text, int(np.argmax(p)), EXPLANATION_WORDS) if explain else {}
            out.append(self._decide(p, expl, nov))
        return out
