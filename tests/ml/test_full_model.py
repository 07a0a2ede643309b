"""The default pipeline on BANKING77 meets its quality targets (trains once per session)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest

from router.ml.data import TrainingData
from router.ml.evaluate import evaluate
from router.ml.train import TrainResult

pytestmark = pytest.mark.slow


def test_quality_targets_on_test_set(full_result: TrainResult, banking_test: TrainingData) -> None:
    model = full_result.model
    proba = model.predict_proba(banking_test.texts)
    metrics = evaluate(
        banking_test.labels,
        proba,
        model.classes,
        thresholds=model.thresholds,
        default_threshold=model.default_threshold,
    )
    assert metrics["accuracy"] >= 0.918
    assert metrics["ece"] <= 0.03
    assert metrics["coverage_at_precision"]["0.97"] >= 0.85
    # thresholds chosen on the out-of-fold predictions of the training part, 0.97 overall
    assert full_result.threshold_choice is not None
    assert full_result.threshold_choice["source"] == "out_of_fold"
    assert full_result.threshold_choice["rows"] == 10003 - len(full_result.holdout_texts)
    assert metrics["auto_routed_accuracy"] >= 0.965
    assert metrics["auto_routed_share"] >= 0.86
    preds = model.predict_batch(banking_test.texts, explain=False)
    assert np.mean([not p.needs_review for p in preds]) >= 0.875
    assert full_result.metrics["n"] == len(full_result.holdout_texts) > 1000  # the 10 % hold-out
    assert full_result.train_seconds < 120


def test_fast_path_and_explanations_on_real_tickets(full_result: TrainResult, banking_test: TrainingData) -> None:
    clf = full_result.model.classifier
    texts = banking_test.texts[::3]
    fast = np.array([clf.predict_proba_one(t) for t in texts])
    assert np.allclose(fast, clf.predict_proba(texts))
    for text in texts[:300]:
        pred = full_result.model.predict(text)
        for item in pred.explanation["toward"] + pred.explanation["against"]:
            assert item["word"] in text
    pred = full_result.model.predict("my card was stolen")
    assert pred.intent == "lost_or_stolen_card"
    assert "stolen" in [item["word"] for item in pred.explanation["toward"]]


def test_joblib_round_trip_identical(full_result: TrainResult, banking_test: TrainingData, tmp_path: Path) -> None:
    path = tmp_path / "router.joblib"
    joblib.dump(full_result.model, path)
    loaded = joblib.load(path)
    texts = banking_test.texts[:500]
    assert np.array_equal(loaded.predict_proba(texts), full_result.model.predict_proba(texts))
    assert [loaded.predict(t) for t in texts[:100]] == [full_result.model.predict(t) for t in texts[:100]]
