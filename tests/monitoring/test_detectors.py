"""Drift detectors on synthetic and real shifts, with both backends giving the same statistics."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from router.config import REPO_ROOT
from router.ml.normalize import normalize_text
from router.ml.novelty import reference_arrays
from router.monitoring.detectors import (
    ClassifierInputDrift,
    ConfidenceDrift,
    InputDrift,
    NoveltyDrift,
    PredictionDrift,
    VocabularyDrift,
)
from router.monitoring.drift import DriftSuite
from router.registry.store import ModelStore

BACKENDS = ["scipy", "alibi"]


def _synthetic(shift: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 400
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    conf = rng.beta(8, 2, size=n)
    pred = rng.choice(10, size=n, p=np.full(10, 0.1))
    unseen = rng.beta(1, 20, size=n)
    novelty = rng.beta(2, 8, size=n)
    if shift:
        emb[:, 0] += 0.6
        conf = rng.beta(4, 3, size=n)
        pred = rng.choice(10, size=n, p=np.array([0.37, *np.full(9, 0.07)]))
        unseen = rng.beta(2, 10, size=n)
        novelty = rng.beta(4, 5, size=n)
    return {
        "embedding": emb,
        "confidence": conf,
        "margin": conf * 0.8,
        "predicted": pred.astype(np.float32),
        "unseen": unseen,
        "novelty": novelty,
    }


DETECTORS = [InputDrift, ClassifierInputDrift, PredictionDrift, ConfidenceDrift, VocabularyDrift, NoveltyDrift]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.name)
def test_each_detector_finds_its_shift_and_not_noise(cls, backend: str) -> None:
    rng = np.random.default_rng(1)
    ref = _synthetic(False, rng)
    det = cls(cls.select(ref), p_val=0.01, backend=backend)
    same = det.predict(cls.select(_synthetic(False, rng)))
    moved = det.predict(cls.select(_synthetic(True, rng)))
    assert not same["data"]["is_drift"] and same["data"]["p_val"] > 0.01
    assert moved["data"]["is_drift"] and moved["data"]["p_val"] < 0.01 <= same["data"]["p_val"]
    assert moved["meta"] == {"name": cls.name, "version": "1", "backend": backend, "statistic": cls.statistic}
    assert set(moved["data"]) >= {"is_drift", "p_val", "threshold", "distance"}


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.name)
def test_both_backends_compute_the_same_statistic(cls) -> None:
    rng = np.random.default_rng(2)
    ref, win = _synthetic(False, rng), _synthetic(True, rng)
    a = cls(cls.select(ref), p_val=0.01, backend="alibi").predict(cls.select(win))["data"]
    s = cls(cls.select(ref), p_val=0.01, backend="scipy").predict(cls.select(win))["data"]
    assert a["is_drift"] == s["is_drift"]
    assert a["distance"] == pytest.approx(s["distance"], rel=1e-4)
    assert a["p_val"] == pytest.approx(s["p_val"], rel=1e-3, abs=1e-12)


def _banking(name: str) -> list[tuple[str, str]]:
    with (REPO_ROOT / "fixtures" / "banking77" / f"{name}.csv").open(newline="") as fh:
        return [(normalize_text(r["text"]), r["category"]) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_shift_on_banking77(trained, backend: str) -> None:
    models_dir, version = trained
    store = ModelStore(models_dir)
    model, reference = store.load(version), store.reference(version)
    assert store.card(version)["reference"]["rows"] == len(reference["confidence"])
    assert reference["embedding"].dtype == np.float32
    suite = DriftSuite(
        reference, backend=backend, n_classes=len(model.classes), novelty_threshold=model.novelty_threshold
    )
    held_out, _ = store.holdout(version)
    rng = np.random.default_rng(0)
    calm = [held_out[i] for i in rng.choice(len(held_out), 400, replace=False)]
    quiet = suite.check(reference_arrays(model, calm))
    assert not quiet["is_drift"], quiet
    # a shifted stream: cards only (five intents) plus tickets about something else entirely
    cards = [
        t
        for t, lab in _banking("test")
        if lab
        in {"card_arrival", "card_delivery_estimate", "lost_or_stolen_card", "card_not_working", "activate_my_card"}
    ]
    other = [
        "what is the best recipe for lasagna",
        "my flight to paris was cancelled, rebook me",
        "the printer on floor 3 is jammed again",
        "can you recommend a good hiking trail nearby",
    ] * 10
    loud = suite.check(reference_arrays(model, cards + other))
    assert loud["is_drift"]
    fired = {n for n, r in loud["detectors"].items() if r["data"]["is_drift"]}
    assert {"prediction_chi2", "input_ks"} <= fired
    assert loud["sizes"] == {"reference": len(reference["confidence"]), "window": len(cards) + len(other)}
