"""The drift check: every detector on one window against one reference, combined into one answer.

The overall answer is drift when any voting detector says so (the classifier-based input test is
a second opinion: reported, not voting). Each detector runs at ``alpha / n_voting`` (Bonferroni
across the detectors), so a window from the reference's own distribution raises a
false alarm with probability at most ``alpha`` (``bench/drift_power.py`` measures it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .detectors import DETECTORS, SECOND_OPINIONS, Detector, NoveltyDrift, PredictionDrift

DEFAULT_ALPHA = 0.05


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
    ) -> None:
        self.backend, self.alpha = backend, float(alpha)
        self.n_reference = len(next(iter(reference.values())))
        voting = [cls for cls in detectors if cls not in SECOND_OPINIONS]
        level = self.alpha / max(1, len(voting))
        self.detectors: list[Detector] = []
        for cls in detectors:
            x_ref = cls.select(dict(reference))
            if cls is PredictionDrift:
                self.detectors.append(PredictionDrift(x_ref, level, backend, n_classes=n_classes))
            elif cls is NoveltyDrift:
                self.detectors.append(NoveltyDrift(x_ref, level, backend, novelty_threshold=novelty_threshold))
            else:
                self.detectors.append(cls(x_ref, level, backend))

    def check(self, window: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Run every detector on ``window`` (arrays as :func:`router.ml.novelty.reference_arrays` makes)."""
        start = time.perf_counter()
        n = len(next(iter(window.values())))
        if n < 2:
            raise ValueError("a drift check needs a window of at least two tickets")
        results = {d.name: d.predict(d.select(dict(window))) for d in self.detectors}
        for d in self.detectors:
            results[d.name]["data"]["votes"] = type(d) not in SECOND_OPINIONS
        return {
            "is_drift": any(r["data"]["is_drift"] and r["data"]["votes"] for r in results.values()),
            "alpha": self.alpha,
            "backend": self.backend,
            "sizes": {"reference": self.n_reference, "window": n},
            "detectors": results,
            "seconds": round(time.perf_counter() - start, 4),
        }
