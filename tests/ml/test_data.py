"""load_training_csv: every kind of problem is reported, all at once, with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.errors import TrainingDataError
from router.ml.data import fingerprint_rows, load_training_csv


def _write(tmp_path: Path, content: str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _rows(label: str, n: int, stem: str) -> str:
    return "".join(f"{stem} number {i},{label}\n" for i in range(n))


def test_valid_file_loads_and_normalises(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "text,category\n"
        + '"  <b>My</b>   card\n is lost ",lost\n'
        + _rows("lost", 4, "lost card")
        + _rows("fx", 5, "exchange rate"),
    )
    data = load_training_csv(path)
    assert data.n_rows == 10
    assert data.texts[0] == "My card is lost"
    assert data.label_counts == {"fx": 5, "lost": 5}
    assert len(data.fingerprint) == 64
    assert data.fingerprint == fingerprint_rows(data.texts, data.labels)


def test_fingerprint_ignores_row_order_but_not_content() -> None:
    fp = fingerprint_rows(["a b", "c"], ["x", "y"])
    assert fp == fingerprint_rows(["c", "a   b"], ["y", "x"])
    assert fp != fingerprint_rows(["a b", "c"], ["x", "z"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="not found") as info:
        load_training_csv(tmp_path / "nope.csv")
    assert info.value.errors[0]["problem"] == "file_missing"


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,category\n\xff\xfe\xfa,broken\n")
    with pytest.raises(TrainingDataError, match="UTF-8") as info:
        load_training_csv(path)
    assert info.value.errors[0]["problem"] == "file_unreadable"
    with pytest.raises(TrainingDataError, match="cannot read"):
        load_training_csv(tmp_path)  # a directory


def test_missing_columns_names_the_existing_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "body,intent\nhello,greet\n")
    with pytest.raises(TrainingDataError) as info:
        load_training_csv(path)
    assert "text, category" in info.value.message and "body, intent" in info.value.message
    assert info.value.errors == [
        {"problem": "missing_columns", "missing": ["text", "category"], "found": ["body", "intent"]}
    ]
    with pytest.raises(TrainingDataError, match="two different labels"):
        load_training_csv(path, text_column="body", label_column="intent", min_examples=1)


def test_all_problems_are_collected(tmp_path: Path) -> None:
    content = (
        "text,category\n"
        + _rows("lost", 5, "lost card")
        + _rows("fx", 5, "exchange rate")
        + ",lost\n"  # line 12: empty text
        + "<p> </p>,fx\n"  # line 13: empty after normalisation
        + "Where is my card?,card_arrival\n"  # card_arrival has 2 rows (< 5)
        + "where is my   CARD?,card_delivery\n"  # conflicts with line 14 after normalisation
        + "where is my card?,card_arrival\n"
        + "no label here,\n"
    )
    with pytest.raises(TrainingDataError) as info:
        load_training_csv(_write(tmp_path, content))
    problems = {p["problem"]: p for p in info.value.errors}
    assert set(problems) == {"empty_text", "empty_label", "too_few_examples", "conflicting_labels"}
    assert problems["empty_text"]["lines"] == [12, 13]
    assert problems["empty_label"]["lines"] == [17]
    assert problems["too_few_examples"]["labels"] == {"card_arrival": 2, "card_delivery": 1}
    conflict = problems["conflicting_labels"]["conflicts"][0]
    assert conflict["labels"] == {"card_arrival": [14, 16], "card_delivery": [15]}
    message = info.value.message
    assert "empty text" in message and "fewer than 5" in message and "different labels" in message
    assert info.value.to_dict()["code"] == "invalid_training_data"


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no data rows"):
        load_training_csv(_write(tmp_path, "text,category\n"))


def test_banking77_loads(banking_train) -> None:
    assert banking_train.n_rows == 10003
    assert len(banking_train.label_counts) == 77
