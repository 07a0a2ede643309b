"""Reviewer labels as training data: the merge rule, then `router train --from-feedback` end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from router import review
from router.cli import main
from router.config import REPO_ROOT
from router.ml.data import fingerprint_rows, load_training_csv
from router.ml.normalize import normalize_text
from router.ml.train import DEFAULT_HOLDOUT_FRACTION, _split
from router.review.feedback import FeedbackLabel, FeedbackSet, merge
from tests.conftest import make_env, prepare_home

from .helpers import add_decision

TRAIN = REPO_ROOT / "fixtures" / "banking77" / "train.csv"


def fb(text: str, intent: str, reviewer: str = "ann", ticket: str = "generic/1") -> FeedbackLabel:
    return FeedbackLabel(text, intent, reviewer, ticket)


BASE_TEXTS = ["where is my card", "my card has not arrived", "what is the rate", "rate for euros please"]
BASE_LABELS = ["card_arrival", "card_arrival", "exchange_rate", "exchange_rate"]


def test_agreeing_labels_add_one_row_that_is_never_held_out() -> None:
    merged = merge(
        FeedbackSet([fb("Card still missing!", "card_arrival"), fb("card still missing!", "card_arrival", "bob")]),
        BASE_TEXTS,
        BASE_LABELS,
    )
    assert merged.train_only_texts == ["Card still missing!"] and merged.train_only_labels == ["card_arrival"]
    assert merged.split_texts == BASE_TEXTS
    assert merged.summary["rows"] == 1 and merged.summary["left_out"] == 0 and merged.conflicts == []
    assert merged.summary["reviewers"] == 2 and len(merged.summary["fingerprint"]) == 64


def test_conflicts_are_left_out_and_listed() -> None:
    labels = [
        fb("which card is it", "card_arrival", "ann", "generic/7"),
        fb("Which card is it", "exchange_rate", "bob", "generic/7"),  # reviewers disagree
        fb("What is the rate", "card_arrival", "ann", "generic/8"),  # base data says exchange_rate
        fb("open a mortgage", "mortgage", "ann", "generic/9"),  # the base data has no such intent
        fb("where is my card", "card_arrival", "ann", "generic/10"),  # same as the base: nothing to add
    ]
    merged = merge(FeedbackSet(labels), BASE_TEXTS, BASE_LABELS)
    kinds = {c["kind"]: c for c in merged.conflicts}
    assert set(kinds) == {"reviewers", "base_data", "unknown_label"}
    assert kinds["reviewers"]["labels"] == {
        "card_arrival": ["ann on generic/7"],
        "exchange_rate": ["bob on generic/7"],
    }
    assert kinds["base_data"]["feedback"] == "card_arrival" and kinds["base_data"]["base"] == ["exchange_rate"]
    assert merged.summary["rows"] == 0 and merged.summary["left_out"] == 4
    # base rows whose text was reviewed still train, with their own label, but are never held out
    assert sorted(zip(merged.train_only_texts, merged.train_only_labels, strict=True)) == [
        ("what is the rate", "exchange_rate"),
        ("where is my card", "card_arrival"),
    ]
    assert merged.split_texts == ["my card has not arrived", "rate for euros please"]
    assert merged.summary["base_rows_kept_out_of_holdout"] == 2
    assert merged.summary["fingerprint"] == fingerprint_rows([], [])


def subset(n_intents: int, per_intent: int) -> list[dict[str, str]]:
    with TRAIN.open() as fh:
        rows = list(csv.DictReader(fh))
    intents = sorted({r["category"] for r in rows})[:n_intents]
    return [r for intent in intents for r in [r for r in rows if r["category"] == intent][:per_intent]]


def small_training_csv(path: Path, n_intents: int = 6, per_intent: int = 40) -> list[str]:
    """A BANKING77 subset written to ``path``; returns its intents, sorted."""
    rows = subset(n_intents, per_intent)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return sorted({r["category"] for r in rows})


def resolve_as(ctx, item: int | None, reviewer: str, intent: str, queue: str = "general") -> None:  # type: ignore[no-untyped-def]
    assert item is not None
    review.claim(ctx, item, reviewer)
    review.resolve(ctx, item, reviewer, intent, queue)


def test_train_from_feedback_reports_conflicts_and_keeps_reviewed_tickets_out_of_the_holdout(
    tmp_path: Path, trained: tuple[Path, str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    ctx = prepare_home(home, trained)
    data = tmp_path / "small.csv"
    intents = small_training_csv(data)
    reviewed = "My activation code never showed up in the app, what now"
    resolve_as(ctx, add_decision(ctx, "fb-1", text=reviewed, intent=intents[1]), "ann", intents[0])
    # a base text the plain split would hold out, labelled differently by a reviewer
    base = load_training_csv(data)
    _, held, _, held_labels = _split(base.texts, base.labels, DEFAULT_HOLDOUT_FRACTION, 0)
    planted, planted_label = held[0], held_labels[0]
    other = next(i for i in intents if i != planted_label)
    resolve_as(ctx, add_decision(ctx, "fb-2", text=planted), "ann", other)
    monkeypatch.setenv("ROUTER_REVIEW_LABELS", "high_stakes=2")
    torn = add_decision(ctx, "fb-3", text="is this even the right place", reasons=("high_stakes",))
    resolve_as(ctx, torn, "ann", intents[2])
    resolve_as(ctx, torn, "bob", intents[3])
    ctx.db.dispose()

    result = CliRunner().invoke(
        main, ["train", "--from-feedback", "--data", str(data)], env=make_env(home), catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    assert "feedback conflict" in result.stderr and "reviewers disagree" in result.stderr
    assert f"but {planted_label} in the base data" in result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["feedback"]["rows"] == 1 and out["feedback"]["conflict_count"] == 2
    assert {c["kind"] for c in out["feedback"]["conflicts"]} == {"reviewers", "base_data"}

    version_dir = home / "models" / out["version"]
    card = json.loads((version_dir / "card.json").read_text())
    assert card["feedback"]["fingerprint"] == out["feedback"]["fingerprint"]
    assert card["feedback"]["rows"] == 1 and card["feedback"]["labels_read"] == 4
    assert card["feedback"]["fingerprint"] != card["training_data"]["fingerprint"]
    assert {c["kind"] for c in card["feedback"]["conflicts"]} == {"reviewers", "base_data"}
    with (version_dir / "holdout.csv").open() as fh:
        held_out = {r["text"].casefold() for r in csv.DictReader(fh)}
    assert held_out and not {normalize_text(t).casefold() for t in (reviewed, planted)} & held_out
