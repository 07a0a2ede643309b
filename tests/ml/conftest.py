"""Shared fixtures for the ML tests: BANKING77 data and models trained at most once per session."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from router.ml.classifier import IntentClassifier
from router.ml.data import TrainingData, load_training_csv
from router.ml.train import TrainResult, train_model

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "banking77"

#: Intents of the small, fast model: a few easy ones plus look-alike pairs.
SMALL_INTENTS = (
    "lost_or_stolen_card",
    "lost_or_stolen_phone",
    "card_arrival",
    "card_delivery_estimate",
    "exchange_rate",
    "top_up_failed",
    "pending_top_up",
    "cash_withdrawal_charge",
    "atm_support",
    "balance_not_updated_after_bank_transfer",
)


@pytest.fixture(scope="session")
def banking_train() -> TrainingData:
    return load_training_csv(FIXTURES / "train.csv")


@pytest.fixture(scope="session")
def banking_test() -> TrainingData:
    return load_training_csv(FIXTURES / "test.csv")


def _subset(data: TrainingData, per_intent: int) -> tuple[list[str], list[str]]:
    taken: dict[str, int] = defaultdict(int)
    texts, labels = [], []
    for text, label in zip(data.texts, data.labels, strict=True):
        if label in SMALL_INTENTS and taken[label] < per_intent:
            taken[label] += 1
            texts.append(text)
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="session")
def small_data(banking_train: TrainingData) -> tuple[list[str], list[str]]:
    """40 examples of each of 10 intents (400 rows)."""
    return _subset(banking_train, 40)


@pytest.fixture(scope="session")
def small_clf(small_data: tuple[list[str], list[str]]) -> IntentClassifier:
    texts, labels = small_data
    return IntentClassifier(calibration_cv=3).fit(texts, labels)


@pytest.fixture(scope="session")
def small_test(banking_test: TrainingData) -> tuple[list[str], list[str]]:
    return _subset(banking_test, 40)


@pytest.fixture(scope="session")
def full_result(banking_train: TrainingData) -> TrainResult:
    """The default pipeline on the full BANKING77 train set — trained once per session (slow)."""
    return train_model(banking_train.texts, banking_train.labels)
