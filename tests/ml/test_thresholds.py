"""Per-intent thresholds reach the target precision on the held-out data they were chosen on."""

from __future__ import annotations

import numpy as np
import pytest

from router.ml.evaluate import evaluate
from router.ml.thresholds import NEVER, choose_default_threshold, choose_thresholds, review_reasons


def _synthetic(n: int = 3000, n_classes: int = 6, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    """Calibrated-ish synthetic predictions: correct with probability = confidence."""
    rng = np.random.default_rng(seed)
    classes = [f"intent_{i}" for i in range(n_classes)]
    proba = np.zeros((n, n_classes))
    y = []
    for row in range(n):
        pred = rng.integers(n_classes)
        conf = rng.uniform(0.3, 1.0)
        proba[row] = (1 - conf) / (n_classes - 1)
        proba[row, pred] = conf
        if rng.uniform() < conf:
            y.append(classes[pred])
        else:
            y.append(classes[(pred + 1 + rng.integers(n_classes - 1)) % n_classes])
    return y, proba, classes


@pytest.mark.parametrize("target", [0.9, 0.97])
def test_each_intent_reaches_target_on_heldout(target: float) -> None:
    y, proba, classes = _synthetic()
    thresholds = choose_thresholds(y, proba, classes, target)
    assert set(thresholds) == set(classes)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    conf = proba.max(axis=1)
    for name, cut in thresholds.items():
        routed = (pred == name) & (conf >= cut)
        assert routed.sum() > 0
        assert (np.asarray(y)[routed] == name).mean() >= target
    overall = evaluate(y, proba, classes, thresholds=thresholds)
    assert overall["auto_routed_accuracy"] >= target
    # the cutoff is the *lowest* one: a bit lower would include tickets below it
    assert 0.3 < min(thresholds.values()) < 1.0


def test_sparse_intents_fall_back_to_global_cutoff() -> None:
    y, proba, classes = _synthetic()
    proba = np.hstack([proba, np.zeros((len(y), 1))])
    proba[0] = 0.0
    proba[0, -1] = 0.99  # a single held-out prediction of the rare intent
    classes = [*classes, "rare"]
    default = choose_default_threshold(y, proba, classes, 0.97)
    thresholds = choose_thresholds(y, proba, classes, 0.97)
    assert thresholds["rare"] == default
    assert choose_thresholds(y, proba, classes, 0.97, default_threshold=0.5)["rare"] == 0.5


def test_hopeless_intent_is_never_auto_routed() -> None:
    classes = ["good", "bad"]
    proba = np.array([[0.99, 0.01]] * 20 + [[0.1, 0.9]] * 20)
    y = ["good"] * 20 + ["good"] * 20  # every "bad" prediction is wrong
    thresholds = choose_thresholds(y, proba, classes, 0.97)
    assert thresholds["bad"] == NEVER
    assert thresholds["good"] == pytest.approx(0.99)


def test_few_predictions_are_shrunk_toward_caution() -> None:
    # 4 correct predictions at low confidence, where the model is globally unreliable
    classes = ["x", "y"]
    proba = np.array([[0.55, 0.45]] * 4 + [[0.45, 0.55]] * 40)
    y = ["x"] * 4 + ["y"] * 20 + ["x"] * 20
    assert choose_thresholds(y, proba, classes, 0.97, prior_strength=0.0)["x"] == pytest.approx(0.55)
    assert choose_thresholds(y, proba, classes, 0.97)["x"] == NEVER


def test_review_reasons() -> None:
    assert review_reasons(0.99, 0.98, 0.9) == ()
    assert review_reasons(0.5, 0.3, 0.9) == ("low_confidence",)
    assert review_reasons(0.5, 0.05, 0.4) == ("ambiguous",)
    assert review_reasons(0.45, 0.02, 0.9, ambiguity_margin=0.1) == ("low_confidence", "ambiguous")
