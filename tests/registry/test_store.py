"""Artefacts: checksums before unpickling, paths inside the registry, atomic writes."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from router.errors import ModelIntegrityError
from router.registry.store import ModelStore


@pytest.fixture
def store(tmp_path: Path, trained) -> tuple[ModelStore, str]:  # type: ignore[no-untyped-def]
    models_dir, version = trained
    shutil.copytree(models_dir, tmp_path / "models")
    return ModelStore(tmp_path / "models"), version


def test_card_records_lineage_metrics_and_library_versions(store) -> None:
    s, version = store
    card = s.verify(version)
    assert card["version"] == version
    assert len(card["artefact"]["sha256"]) == 64
    assert len(card["training_data"]["fingerprint"]) == 64 and card["training_data"]["rows"] > 8000
    assert len(card["labels"]) == 77 and len(card["thresholds"]) == 77
    assert {"python", "scikit-learn", "numpy", "scipy", "joblib"} <= set(card["libraries"])
    assert card["metrics"]["accuracy"] > 0.85 and card["holdout"]["rows"] > 1000


def test_a_corrupted_artefact_is_refused_before_unpickling(store) -> None:
    s, version = store
    artefact = s.path_for(version) / "model.joblib"
    data = bytearray(artefact.read_bytes())
    data[100] ^= 0xFF
    artefact.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match the card"):
        s.load(version)


def test_a_card_from_another_scikit_learn_is_refused(store) -> None:
    s, version = store
    card_path = s.path_for(version) / "card.json"
    card = json.loads(card_path.read_text())
    card["libraries"]["scikit-learn"] = "0.24.2"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match=r"scikit-learn 0\.24\.2"):
        s.load(version)


@pytest.mark.parametrize("name", ["../escape", "/etc", "a/b", "..", "", "x" * 100, "-rf"])
def test_versions_outside_the_registry_are_refused(store, name: str) -> None:
    s, _ = store
    with pytest.raises(ModelIntegrityError):
        s.path_for(name)


def test_a_failed_save_leaves_nothing_behind(store) -> None:
    s, _ = store
    before = sorted(p.name for p in s.root.iterdir())
    with pytest.raises(Exception):  # noqa: B017 - any pickling failure
        s.save("v-broken", threading.Lock(), {"metrics": {}})
    assert sorted(p.name for p in s.root.iterdir()) == before
