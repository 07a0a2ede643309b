"""Thresholds chosen on out-of-fold predictions keep the overall promise and each intent's floor."""

from __future__ import annotations

import numpy as np
import pytest

from router.ml.thresholds import (
    NEVER,
    OutOfFold,
    ambiguous_text,
    choose,
    low_confidence_text,
    novel_text,
    precision_curve,
    reason_value,
    review_reasons,
)


def _synthetic(
    n: int = 6000, n_classes: int = 6, seed: int = 0, overconfident: int | None = None
) -> tuple[OutOfFold, list[str]]:
    """Calibrated-ish predictions (correct with probability = confidence); ``overconfident``
    names a class whose predictions are right far less often than their confidence says."""
    rng = np.random.default_rng(seed)
    classes = [f"intent_{i}" for i in range(n_classes)]
    pred = rng.integers(n_classes, size=n)
    conf = rng.uniform(0.3, 1.0, size=n)
    p_right = np.where(pred == overconfident, conf**6, conf) if overconfident is not None else conf
    right = rng.uniform(size=n) < p_right
    y = np.where(right, pred, (pred + 1 + rng.integers(n_classes - 1, size=n)) % n_classes)
    proba = np.repeat(((1 - conf) / (n_classes - 1))[:, None], n_classes, axis=1)
    proba[np.arange(n), pred] = conf
    return OutOfFold.from_proba(y, proba), classes


def _routed(oof: OutOfFold, cuts: np.ndarray) -> np.ndarray:
    return oof.confidence >= cuts[oof.predicted.astype(int)] - 1e-7


@pytest.mark.parametrize("target", [0.9, 0.97])
def test_overall_target_is_met_on_the_evidence(target: float) -> None:
    oof, classes = _synthetic()
    choice = choose(oof, classes, target, intent_floor=0.8)
    assert set(choice.thresholds) == set(classes)
    routed = _routed(oof, choice.as_array(classes))
    assert oof.correct[routed].mean() >= target
    assert choice.expected_share == pytest.approx(routed.mean())
    assert choice.expected_precision == pytest.approx(oof.correct[routed].mean())
    # calibrated classes share one cutoff, near the confidence that is right as often as the target asks
    assert max(choice.thresholds.values()) - min(choice.thresholds.values()) < 0.05


def test_every_intent_keeps_its_floor() -> None:
    oof, classes = _synthetic()
    choice = choose(oof, classes, 0.97)
    cuts = choice.as_array(classes)
    for c in range(len(classes)):
        mine = oof.predicted == c
        routed = _routed(oof, cuts) & mine
        assert oof.correct[routed].mean() >= 0.9  # the floor
    assert choice.expected_share > 0.05


def test_overconfident_intent_gets_a_higher_cutoff_and_the_floor() -> None:
    oof, classes = _synthetic(overconfident=2)
    choice = choose(oof, classes, 0.95, 0.90)
    cuts = choice.as_array(classes)
    assert cuts[2] > max(np.delete(cuts, 2)) + 0.02
    routed = _routed(oof, cuts) & (oof.predicted == 2)
    assert not routed.any() or oof.correct[routed].mean() >= 0.88  # floor, on the shrunk estimate
    without_floor = choose(oof, classes, 0.95, 0.0)
    assert without_floor.as_array(classes)[2] <= cuts[2]


def test_hopeless_intent_is_never_auto_routed() -> None:
    classes = ["good", "bad"]
    proba = np.array([[0.99, 0.01]] * 200 + [[0.1, 0.9]] * 40)
    y = [0] * 240  # every "bad" prediction is wrong
    choice = choose(OutOfFold.from_proba(y, proba), classes, 0.97)
    assert choice.thresholds["bad"] == NEVER
    assert choice.thresholds["good"] == pytest.approx(0.99)
    assert choice.raised == ["bad"]


def test_no_cutoff_reaches_the_target() -> None:
    classes = ["a", "b"]
    proba = np.array([[0.6, 0.4]] * 10)
    choice = choose(OutOfFold.from_proba([1] * 10, proba), classes, 0.97)
    assert choice.thresholds == {"a": NEVER, "b": NEVER}
    assert choice.expected_share == 0.0


def test_a_class_without_evidence_gets_the_default() -> None:
    oof, classes = _synthetic()
    choice = choose(oof, [*classes, "unseen"], 0.97)
    assert choice.thresholds["unseen"] == pytest.approx(choice.default)


def test_curve_is_monotone_in_the_target() -> None:
    oof, classes = _synthetic()
    rows = precision_curve(oof, classes, (0.9, 0.95, 0.97, 0.99), evaluation=_synthetic(seed=1)[0])
    shares = [r["expected_share"] for r in rows]
    assert shares == sorted(shares, reverse=True)
    assert all(abs(r["share"] - r["expected_share"]) < 0.05 for r in rows)


def test_reason_value_counts_what_each_rule_adds() -> None:
    proba = np.array([[0.9, 0.1]] * 8 + [[0.52, 0.48]] * 2)
    oof = OutOfFold.from_proba([0] * 8 + [1] * 2, proba, novelty=[0.1] * 8 + [0.9] * 2)
    value = reason_value(oof, np.array([0.5, 0.5]), ambiguity_margin=0.1, novelty_threshold=0.5)
    assert value["low_confidence"] == {"share": 1.0, "precision": 0.8}
    assert value["ambiguous"]["extra"] == 2 and value["ambiguous"]["extra_precision"] == 0.0
    assert value["ambiguous"]["precision"] == 1.0
    assert value["novel"]["share"] == 0.8


def test_review_reasons() -> None:
    assert review_reasons(0.99, 0.98, 0.9) == ()
    assert review_reasons(0.5, 0.3, 0.9) == ("low_confidence",)
    assert review_reasons(0.5, 0.05, 0.4) == ("ambiguous",)
    assert review_reasons(0.45, 0.02, 0.9, ambiguity_margin=0.1) == ("low_confidence", "ambiguous")


def test_reasons_in_a_reviewers_words() -> None:
    assert (
        low_confidence_text(0.6234, 0.7071, "card_arrival") == "confidence 0.62 below the 0.71 needed for card_arrival"
    )
    # as many decimals as it takes to tell them apart
    assert low_confidence_text(0.7061, 0.7089, "x") == "confidence 0.706 below the 0.709 needed for x"
    assert "never auto-routed" in low_confidence_text(0.99, NEVER, "x")
    assert (
        ambiguous_text(0.06, 0.1, "card_delivery_estimate") == "only 0.06 ahead of card_delivery_estimate (0.10 needed)"
    )
    assert novel_text(0.523, 0.399) == "novelty 0.52 above the 0.40 of known tickets"
