"""Novelty scores per decision: calibrated on held-out tickets, cheap, and `novel` above the threshold."""

from __future__ import annotations

import time

import numpy as np

from router.registry.store import ModelStore

OFF_TOPIC = [
    "what is the best recipe for lasagna with spinach",
    "who won the football match last night",
    "the printer on the third floor is jammed again",
    "can you recommend a good hiking trail near the lake",
]


def test_about_five_percent_of_known_tickets_are_novel_and_off_topic_ones_are(trained) -> None:
    models_dir, version = trained
    store = ModelStore(models_dir)
    model = store.load(version)
    held_out, _ = store.holdout(version)
    preds = model.predict_batch(held_out, explain=False)
    novel_share = np.mean(["novel" in p.review_reasons for p in preds])
    assert 0.02 <= novel_share <= 0.08  # calibrated at the 95th percentile of these very tickets
    off = [model.predict(t) for t in OFF_TOPIC]
    assert all(p.novelty is not None and p.novelty > model.novelty_threshold for p in off)
    assert all("novel" in p.review_reasons and p.needs_review for p in off)
    one = model.predict(held_out[0])
    assert one.novelty == float(model.novelty_detector.score_one(held_out[0]))
    assert np.allclose(model.novelty_detector.score_batch(held_out[:20]), [p.novelty for p in preds[:20]])


def test_novelty_adds_microseconds_per_decision(trained) -> None:
    models_dir, version = trained
    model = ModelStore(models_dir).load(version)
    proba = model.classifier.predict_proba_one("I want to cancel a transfer I made yesterday")
    start = time.perf_counter()
    for _ in range(2000):
        model.novelty_detector.score_proba(proba)
    per_ticket = (time.perf_counter() - start) / 2000
    assert per_ticket < 50e-6  # the decide p50 is ~200 µs; novelty must stay a small part of it
