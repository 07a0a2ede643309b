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
    NoveltyRateDrift,
    PredictionDrift,
    PredictionShareDrift,
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
    assert reference["label_prior"].shape == (len(model.classes),)
    assert reference["label_prior"].sum() == pytest.approx(1.0, abs=1e-5)
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
    assert {"prediction_share", "input_ks"} <= fired
    assert loud["detectors"]["prediction_share"]["data"]["votes"]
    assert loud["sizes"] == {"reference": len(reference["confidence"]), "window": len(cards) + len(other)}


# the intent-mix test against the training priors, and the novelty rate against the calibrated rate


def _prior(k: int = 60) -> np.ndarray:
    """An uneven mix over ``k`` intents (shares from ~0.6 % to ~2.4 %), like BANKING77's."""
    w = np.linspace(1.0, 4.0, k)
    return w / w.sum()


def _window(prior: np.ndarray, rng: np.random.Generator, n: int = 500) -> np.ndarray:
    return rng.choice(len(prior), size=n, p=prior).astype(np.float32)[:, None]


def _typical_tripled(prior: np.ndarray, intent: int, n: int = 500) -> np.ndarray:
    """A window with the expected counts when ``intent``'s share triples (deterministic)."""
    p = prior.copy()
    p[intent] *= 3
    counts = np.round(n * p / p.sum()).astype(np.int64)
    return np.repeat(np.arange(len(p)), counts).astype(np.float32)[:, None]


@pytest.mark.parametrize("backend", BACKENDS)
def test_prediction_share_finds_a_tripled_intent_and_not_the_priors(backend: str) -> None:
    rng = np.random.default_rng(3)
    prior = _prior()
    ref = _window(prior, rng, n=1000)
    det = PredictionShareDrift(ref, p_val=0.01, backend=backend, expected=prior)
    calm = [det.predict(_window(prior, rng)) for _ in range(40)]
    assert sum(r["data"]["is_drift"] for r in calm) <= 1  # level 1 %: at most one of 40 by chance
    moved = det.predict(_typical_tripled(prior, 55))  # a 2.5 % intent at ~7.3 %
    data = moved["data"]
    # more extreme than every simulated window drawn from the expected mix
    assert data["is_drift"] and data["p_val"] == 1 / (det.simulations + 1) and data["n_features"] == len(prior)
    assert data["largest_increases"][0]["class"] == 55
    assert moved["meta"] == {"name": "prediction_share", "version": "1", "backend": backend, "statistic": "binomial"}


def test_prediction_share_p_value_is_the_chance_of_an_intent_this_over_represented() -> None:
    from itertools import product

    from scipy.stats import binom, multinomial

    prior = np.array([0.5, 0.3, 0.2])
    n = 30
    x = np.array([0] * 12 + [1] * 9 + [2] * 9, dtype=np.float32)[:, None]  # intent 2 at 30 % instead of 20 %
    det = PredictionShareDrift(x, p_val=0.05, expected=prior * 7)  # normalised

    def smallest(counts: tuple[int, ...]) -> float:
        return float(min(binom.sf(k - 1, n, q) for k, q in zip(counts, prior, strict=True)))

    observed = smallest((12, 9, 9))
    # exact: every way 30 tickets can fall into the three intents, weighted by its probability
    exact = sum(
        multinomial.pmf((a, b, n - a - b), n, prior)
        for a, b in product(range(n + 1), repeat=2)
        if a + b <= n and smallest((a, b, n - a - b)) <= observed * (1 + 1e-9)
    )
    got = det.predict(x)["data"]["p_val"]
    assert got == pytest.approx(exact, abs=0.01)
    assert got < 3 * observed  # less conservative than Bonferroni on discrete counts
    # one-sided: an intent losing traffic is not what this detector reports
    fewer = np.array([0] * 24 + [1] * 3 + [2] * 3, dtype=np.float32)[:, None]
    assert det.predict(fewer)["data"]["is_drift"] is True  # intent 0 rose from 50 % to 80 %
    same = np.array([0] * 15 + [1] * 9 + [2] * 6, dtype=np.float32)[:, None]
    assert det.predict(same)["data"]["p_val"] > 0.5
    assert not det.predict(same)["data"]["is_drift"]
    # the same window gets the same answer from a detector built later (another worker, a re-run)
    assert PredictionShareDrift(x, p_val=0.05, expected=prior).predict(x)["data"]["p_val"] == got


def test_prediction_share_false_alarms_stay_within_the_threshold() -> None:
    rng = np.random.default_rng(11)
    prior = _prior()
    det = PredictionShareDrift(_window(prior, rng, n=1000), p_val=0.05, expected=prior)
    alarms = [
        det.predict(rng.choice(len(prior), 500, p=prior).astype(np.float32)[:, None])["data"]["is_drift"]
        for _ in range(300)
    ]
    assert sum(alarms) / len(alarms) <= 0.09  # level 5 %; 9 % allows for chance over 300 windows


@pytest.mark.parametrize("backend", BACKENDS)
def test_novelty_rate_against_the_calibrated_rate(backend: str) -> None:
    rng = np.random.default_rng(4)
    ref = rng.uniform(size=(1000, 1)).astype(np.float32)
    cut = float(np.quantile(ref, 0.95))
    det = NoveltyRateDrift(ref, p_val=0.01, backend=backend, novelty_threshold=cut)
    assert det.rate == pytest.approx(0.05, abs=1e-3)
    calm = rng.uniform(size=(500, 1))
    assert not det.predict(calm)["data"]["is_drift"]
    novel = np.concatenate([rng.uniform(size=(450, 1)), rng.uniform(cut, 1.0, size=(50, 1))])  # ~15 % above
    data = det.predict(novel)["data"]
    assert data["is_drift"] and data["p_val"] < 1e-6
    assert det.predict(novel)["meta"]["statistic"] == "binomial"


def test_suite_votes_with_the_priors_and_falls_back_without_them() -> None:
    rng = np.random.default_rng(5)
    ref = _synthetic(False, rng)
    prior = np.full(10, 0.1, dtype=np.float32)
    with_prior = DriftSuite({**ref, "label_prior": prior}, backend="scipy", n_classes=10)
    assert with_prior.calibrated and with_prior.n_reference == 400
    assert with_prior.votes == {
        "input_ks": True,
        "prediction_chi2": False,
        "prediction_share": True,
        "confidence_ks": True,
        "vocabulary": True,
        "novelty_rate": True,
        "input_classifier": False,
    }
    assert {d.p_val for d in with_prior.detectors} == {0.05 / 5}
    assert isinstance(next(d for d in with_prior.detectors if d.name == "novelty_rate"), NoveltyRateDrift)
    result = with_prior.check(_synthetic(True, rng))
    assert result["is_drift"] and result["detectors"]["prediction_share"]["data"]["is_drift"]
    # an older model (no priors), a pinned window, or priors for another class list: as before
    for reference in (ref, {**ref, "label_prior": np.full(7, 1 / 7)}):
        old = DriftSuite(reference, backend="scipy", n_classes=10)
        assert not old.calibrated and "prediction_share" not in old.votes and old.votes["prediction_chi2"]
        assert type(next(d for d in old.detectors if d.name == "novelty_rate")) is NoveltyDrift
