"""RouterModel / Prediction on the small model; train_model on a small data set."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

from router.errors import TrainingDataError
from router.ml.classifier import IntentClassifier
from router.ml.model import Prediction, RouterModel
from router.ml.train import train_model


@pytest.fixture(scope="module")
def small_model(small_clf: IntentClassifier) -> RouterModel:
    thresholds = {name: 0.6 for name in small_clf.classes_}
    thresholds["exchange_rate"] = 0.999999
    return RouterModel(small_clf, thresholds=thresholds, default_threshold=0.8, ambiguity_margin=0.1)


def test_prediction_fields(small_model: RouterModel) -> None:
    pred = small_model.predict("my card was stolen at the station")
    assert isinstance(pred, Prediction)
    assert pred.intent == "lost_or_stolen_card"
    assert pred.alternatives[0]["intent"] == pred.intent
    assert len(pred.alternatives) == 3
    confs = [a["confidence"] for a in pred.alternatives]
    assert confs == sorted(confs, reverse=True) and confs[0] == pred.confidence
    assert pred.margin == pytest.approx(confs[0] - confs[1])
    assert pred.review_reasons == () and not pred.needs_review
    assert pred.threshold == 0.6 and pred.novelty is None
    assert any(item["word"] == "stolen" for item in pred.explanation["toward"])
    data = pred.to_dict()
    json.dumps(data)
    assert data["needs_review"] is False and data["review_reasons"] == [] and data["review_notes"] == {}
    with pytest.raises(AttributeError):
        pred.intent = "x"  # type: ignore[misc]


def test_review_reasons_from_thresholds(small_model: RouterModel) -> None:
    pred = small_model.predict("what exchange rate do you use for euros")
    assert pred.intent == "exchange_rate"
    assert "low_confidence" in pred.review_reasons and pred.needs_review
    note = pred.review_notes["low_confidence"]  # e.g. "confidence 0.9999 below the 1.0000 needed for exchange_rate"
    assert note.startswith("confidence 0.9") and note.endswith(" below the 1.0000 needed for exchange_rate")
    assert pred.to_dict()["review_notes"] == pred.review_notes
    vague = small_model.predict("hello")
    assert vague.needs_review
    assert set(vague.review_notes) == set(vague.review_reasons)


def test_batch_matches_single(small_model: RouterModel, small_test) -> None:
    texts = small_test[0][:60]
    batch = small_model.predict_batch(texts)
    for text, b in zip(texts, batch, strict=True):
        one = small_model.predict(text)
        assert one.intent == b.intent and one.review_reasons == b.review_reasons
        assert one.confidence == pytest.approx(b.confidence)
        assert one.explanation == b.explanation
    assert small_model.predict_batch([]) == []
    assert small_model.predict_batch(texts[:2], explain=False)[0].explanation == {}
    assert small_model.classes == sorted(small_model.classes)


class _FakeNovelty:
    def score_one(self, text: str) -> float:
        return float(len(text))

    def score_batch(self, texts: list[str]) -> np.ndarray:
        return np.array([len(t) for t in texts], dtype=float)


def test_novelty_component_plugs_in(small_clf: IntentClassifier) -> None:
    model = RouterModel(small_clf, {}, 0.5, novelty_detector=_FakeNovelty())
    assert model.predict("abc").novelty == 3.0
    assert [p.novelty for p in model.predict_batch(["a", "bb"])] == [1.0, 2.0]
    # artefacts pickled before the novelty component existed still load
    state = dict(vars(model))
    del state["novelty_detector"]
    old = RouterModel.__new__(RouterModel)
    old.__setstate__(state)
    assert old.novelty_detector is None


def test_joblib_round_trip(small_model: RouterModel, small_test, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(small_model, path)
    loaded = joblib.load(path)
    texts = small_test[0][:40]
    assert [p.to_dict() for p in loaded.predict_batch(texts)] == [p.to_dict() for p in small_model.predict_batch(texts)]
    assert loaded.predict(texts[0]) == small_model.predict(texts[0])
    assert pickle.loads(pickle.dumps(small_model)).thresholds == small_model.thresholds


def test_train_model_small(small_data) -> None:
    texts, labels = small_data
    steps: list[str] = []
    result = train_model(texts, labels, holdout_fraction=0.25, params={"calibration_cv": 3}, progress=steps.append)
    assert steps[0] == "splitting" and {"calibrating", "fitting", "thresholds", "evaluating"} <= set(steps)
    assert len(result.holdout_texts) == 100 and len(result.holdout_labels) == 100
    assert sorted(set(result.holdout_labels)) == result.model.classes
    assert result.metrics["n"] == 100 and result.metrics["accuracy"] > 0.8
    assert set(result.model.thresholds) == set(result.model.classes)
    assert result.params["calibration_cv"] == 3 and result.params["char_ngram_range"] == [2, 5]
    json.dumps(result.params)
    json.dumps(result.metrics)
    assert len(result.holdout_fingerprint) == 64 and result.train_seconds > 0
    assert result.model.target_precision == 0.97
    # hold-out texts are not in the training part
    again = train_model(texts, labels, holdout_fraction=0.25, params={"calibration_cv": 3})
    assert again.holdout_fingerprint == result.holdout_fingerprint


def test_train_model_rejects_bad_input() -> None:
    with pytest.raises(TrainingDataError, match="single example"):
        train_model(["a", "b", "c", "d"], ["x", "x", "x", "y"])
    with pytest.raises(TrainingDataError, match="too few"):
        train_model(["a b"] * 4, ["x", "x", "y", "y"], holdout_fraction=0.1)
    with pytest.raises(TrainingDataError, match="0 labels"):
        train_model(["a"], [])
    with pytest.raises(TrainingDataError, match="invalid classifier parameters"):
        train_model(["a b"] * 20, ["x", "y"] * 10, params={"nonsense": 1})
