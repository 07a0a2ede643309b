"""The drift check: every detector on one window against one reference, combined into one answer.

A change is significant when any voting detector's p-value is below its level (the
classifier-based input test is a second opinion: reported, not voting). Each detector runs at
``alpha / n_voting`` (Bonferroni across the detectors), so a window from the reference's own
distribution is significant with probability at most ``alpha`` (``bench/drift_power.py`` measures it).

A held-out reference written at training time also carries ``label_prior`` (the training labels'
intent shares, one value per class, not one per ticket).  With it, the prediction vote goes to
:class:`PredictionShareDrift` (exact binomial per intent against the priors; the two-sample
``prediction_chi2`` against the ~1,200 held-out tickets stays as a reported second opinion) and the
novelty vote to :class:`NoveltyRateDrift` (exact binomial against the calibrated rate).  Older
models and pinned production windows have no priors: the two-sample tests vote, as before.

The statistics decide whether a change is *significant*; :mod:`router.monitoring.effects` decides
whether it *matters*: every check carries ``estimate`` (the window's expected routing accuracy and
review load against the reference's), each detector an ``effect`` and a ``severity``
(ok / info / warning / critical), and the check the highest severity among the voting detectors.
``is_drift`` is true from ``warning`` up: significant *and* at least the minimum material effect.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import effects
from .detectors import (
    DETECTORS,
    SECOND_OPINIONS,
    Detector,
    NoveltyDrift,
    NoveltyRateDrift,
    PredictionDrift,
    PredictionShareDrift,
)

DEFAULT_ALPHA = 0.05
#: the reference entry holding the training labels' intent shares (see router.ml.train)
LABEL_PRIOR = "label_prior"


class DriftSuite:
    """Detectors built once per reference (a model version's held-out sample or a pinned window)."""

    def __init__(
        self,
        reference: Mapping[str, np.ndarray],
        *,
        backend: str = "alibi",
        alpha: float = DEFAULT_ALPHA,
        n_classes: int | None = None,
        novelty_threshold: float | None = None,
        detectors: Sequence[type[Detector]] = DETECTORS,
        routing: effects.Routing | None = None,
        minimums: effects.Minimums | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.backend, self.alpha = backend, float(alpha)
        self.routing, self.minimums = routing, minimums or effects.Minimums()
        self.classes = list(classes) if classes is not None else None
        reference = dict(reference)
        prior = reference.pop(LABEL_PRIOR, None)
        if prior is not None and n_classes is not None and len(prior) != n_classes:
            prior = None  # recorded for another class list: fall back to the two-sample tests
        self.calibrated = prior is not None
        rows = reference.get("confidence", next(iter(reference.values())))
        self.n_reference = len(rows)
        self.reference_figures = effects.figures(reference, routing)
        plan: list[tuple[type[Detector], bool]] = []
        for cls in detectors:
            if cls is PredictionDrift and prior is not None:
                plan += [(PredictionDrift, False), (PredictionShareDrift, True)]
            elif cls is NoveltyDrift and prior is not None:
                plan.append((NoveltyRateDrift, True))
            else:
                plan.append((cls, cls not in SECOND_OPINIONS))
        level = self.alpha / max(1, sum(votes for _, votes in plan))
        self.detectors: list[Detector] = []
        self.votes: dict[str, bool] = {}
        for cls, votes in plan:
            x_ref = cls.select(reference)
            det: Detector
            if cls is PredictionShareDrift:
                det = PredictionShareDrift(x_ref, level, backend, expected=np.asarray(prior))
            elif cls is PredictionDrift:
                det = PredictionDrift(x_ref, level, backend, n_classes=n_classes)
            elif issubclass(cls, NoveltyDrift):
                det = cls(x_ref, level, backend, novelty_threshold=novelty_threshold)
            else:
                det = cls(x_ref, level, backend)
            self.detectors.append(det)
            self.votes[det.name] = votes

    def check(self, window: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Run every detector on ``window`` (arrays as :func:`router.ml.novelty.reference_arrays` makes)."""
        start = time.perf_counter()
        n = len(next(iter(window.values())))
        if n < 2:
            raise ValueError("a drift check needs a window of at least two tickets")
        results = {d.name: d.predict(d.select(dict(window))) for d in self.detectors}
        for d in self.detectors:
            results[d.name]["data"]["votes"] = self.votes[d.name]
            self._name_intents(results[d.name]["data"])
        estimate = effects.estimate(self.reference_figures, effects.figures(dict(window), self.routing))
        severity = effects.judge(results, estimate, self.minimums)
        return {
            "is_drift": severity in effects.ALERTING,
            "severity": severity,
            "estimate": estimate,
            "alpha": self.alpha,
            "backend": self.backend,
            "sizes": {"reference": self.n_reference, "window": n},
            "detectors": results,
            "seconds": round(time.perf_counter() - start, 4),
        }

    def _name_intents(self, data: dict[str, Any]) -> None:
        """Intent names instead of class indices in a detector's lists of intents."""
        if self.classes is None:
            return
        for key in ("largest_moves", "largest_increases", "increases"):
            for move in data.get(key, []):
                c = move.pop("class", None)
                move["intent"] = self.classes[c] if c is not None and 0 <= c < len(self.classes) else None
