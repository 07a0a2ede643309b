"""evaluate() and friends on hand-made examples whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from router.ml.evaluate import coverage_at_precision, evaluate, expected_calibration_error, global_cutoff

CLASSES = ["a", "b", "c"]
# Four tickets: confidences 0.9 (right), 0.8 (right), 0.6 (wrong), 0.5 (right).
PROBA = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.1, 0.8, 0.1],
        [0.6, 0.3, 0.1],
        [0.25, 0.25, 0.5],
    ]
)
Y = ["a", "b", "b", "c"]


def test_ece_by_hand() -> None:
    # bins of width 1/15: 0.9 -> bin 13, 0.8 -> 11, 0.6 -> 8, 0.5 -> 7 (each alone)
    expected = (abs(1 - 0.9) + abs(1 - 0.8) + abs(0 - 0.6) + abs(1 - 0.5)) / 4
    assert expected_calibration_error([0.9, 0.8, 0.6, 0.5], [1, 1, 0, 1]) == pytest.approx(expected)
    # two tickets in one bin: |mean acc - mean conf|
    assert expected_calibration_error([0.95, 0.97], [1, 0]) == pytest.approx(abs(0.5 - 0.96))
    assert expected_calibration_error([1.0, 0.0], [1, 0]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) == 0.0
    with pytest.raises(ValueError):
        expected_calibration_error([0.5], [1, 0])


def test_global_cutoff_and_coverage() -> None:
    conf = np.array([0.9, 0.8, 0.6, 0.5])
    correct = np.array([1.0, 1.0, 0.0, 1.0])
    assert global_cutoff(conf, correct, 0.97) == (0.8, 0.5)
    assert global_cutoff(conf, correct, 0.75) == (0.5, 1.0)  # 3/4 correct overall
    assert global_cutoff(conf, np.zeros(4), 0.5) == (None, 0.0)
    # ties cannot be split: both 0.9 tickets go together -> precision 0.5
    assert global_cutoff(np.array([0.9, 0.9, 0.1]), np.array([1.0, 0.0, 1.0]), 0.97) == (None, 0.0)
    assert coverage_at_precision(conf, correct) == {"0.95": 0.5, "0.97": 0.5, "0.99": 0.5}


def test_evaluate_by_hand() -> None:
    result = evaluate(Y, PROBA, CLASSES)
    assert result["n"] == 4
    assert result["accuracy"] == pytest.approx(0.75)
    # per intent: a: P=1/2 R=1/1; b: P=1/1 R=1/2; c: P=R=1
    assert result["per_intent"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert result["per_intent"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert result["ece"] == pytest.approx((0.1 + 0.2 + 0.6 + 0.5) / 4)
    assert result["coverage_at_precision"]["0.97"] == 0.5
    assert "auto_routed_share" not in result
    json.dumps(result)  # JSON-serialisable


def test_evaluate_with_thresholds() -> None:
    result = evaluate(Y, PROBA, CLASSES, thresholds={"a": 0.95, "b": 0.7}, default_threshold=0.4)
    # a@0.9 < 0.95 -> review; b@0.8 routed (right); a@0.6 review; c@0.5 >= default 0.4 routed (right)
    assert result["auto_routed_share"] == 0.5
    assert result["auto_routed_accuracy"] == 1.0
    none = evaluate(Y, PROBA, CLASSES, thresholds={"a": 0.95})  # others never routed
    assert none["auto_routed_share"] == 0.0 and none["auto_routed_accuracy"] == 0.0


def test_unknown_labels_count_as_errors_and_shape_is_checked() -> None:
    result = evaluate(["a", "b", "b", "zzz"], PROBA, CLASSES)
    assert result["accuracy"] == 0.5
    assert result["per_intent"]["zzz"]["support"] == 1
    with pytest.raises(ValueError, match="shape"):
        evaluate(["a"], PROBA, CLASSES)
