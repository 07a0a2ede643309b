"""The review queue service on SQLite and PostgreSQL: order, filters, claims, resolves, stats, the hook."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from router import review
from router.context import Context
from router.errors import Conflict, NotFound, ValidationError
from router.hooks import hookimpl
from tests.conftest import prepare_home

from .helpers import add_decision, expire_claim


@pytest.fixture
def qctx(tmp_path: Path, trained: tuple[Path, str], database_url: str):  # type: ignore[no-untyped-def]
    """A context on each backend, with the test model active."""
    context = prepare_home(tmp_path / "home", trained, database_url)
    # Load the model before any race below: ModelRuntime.refresh marks itself fresh before it has
    # swapped the first model in, so threads arriving meanwhile see "no active model".
    context.runtime.current()
    yield context
    context.db.dispose()


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_order_is_escalated_then_priority_then_waiting_time(qctx: Context) -> None:
    low_old = add_decision(qctx, "low-old", priority="low", age_s=9000)
    normal_old = add_decision(qctx, "normal-old", priority="normal", age_s=5000)
    normal_new = add_decision(qctx, "normal-new", priority="normal", age_s=100)
    urgent = add_decision(qctx, "urgent", priority="urgent", age_s=10)
    high = add_decision(qctx, "high", priority="high", age_s=50)
    escalated_low = add_decision(qctx, "esc-low", priority="low", escalation={"team": "fraud-ops"}, age_s=1)
    escalated_urgent = add_decision(qctx, "esc-urgent", priority="urgent", escalation={"team": "x"}, age_s=0)
    page = review.list_items(qctx, review.QueueFilter())
    assert ids(page) == [escalated_urgent, escalated_low, urgent, high, normal_old, normal_new, low_old]
    assert page["total"] == 7
    second = review.list_items(qctx, review.QueueFilter(page=2, page_size=3))
    assert ids(second) == [high, normal_old, normal_new] and second["total"] == 7


def test_filters_by_reason_intent_queue_and_age(qctx: Context) -> None:
    a = add_decision(qctx, "a", reasons=("low_confidence", "ambiguous"), intent="card_arrival", age_s=3600)
    b = add_decision(qctx, "b", reasons=("novel",), intent="exchange_rate", queue="fx", age_s=600)
    c = add_decision(qctx, "c", reasons=("high_stakes",), intent="compromised_card", queue="fraud", age_s=60)

    def found(**kw: Any) -> set[int]:
        return set(ids(review.list_items(qctx, review.QueueFilter(**kw))))

    assert found(reasons=["ambiguous"]) == {a}
    assert found(reasons=["novel", "high_stakes"]) == {b, c}
    assert found(intent="exchange_rate") == {b}
    assert found(queue="fraud") == {c}
    assert found(min_age_s=300) == {a, b}
    assert found(max_age_s=1200) == {b, c}
    assert found(min_age_s=300, max_age_s=1200) == {b}
    item = review.get_item(qctx, a)
    assert item["reasons"] == ["ambiguous", "low_confidence"] and item["waiting_s"] >= 3600


def test_a_new_revision_supersedes_the_open_item_of_the_older_one(qctx: Context) -> None:
    first = add_decision(qctx, "T-9", text="first words")
    assert first is not None
    review.claim(qctx, first, "ann")
    second = add_decision(qctx, "T-9", text="second words")
    assert review.get_item(qctx, first)["status"] == "superseded"
    assert review.get_item(qctx, first)["superseded_by"] == second
    assert ids(review.list_items(qctx, review.QueueFilter())) == [second]
    with pytest.raises(Conflict, match=f"superseded by item {second}"):
        review.resolve(qctx, first, "ann", "card_arrival", "cards")
    # a third revision the model is sure about still closes the open one: its text is stale
    assert add_decision(qctx, "T-9", text="third words", reasons=()) is None
    assert review.get_item(qctx, second)["status"] == "superseded"
    assert review.list_items(qctx, review.QueueFilter())["total"] == 0


def test_a_claim_keeps_others_out_until_it_expires(qctx: Context) -> None:
    item = add_decision(qctx, "c-1")
    assert item is not None
    claimed = review.claim(qctx, item, "ann")
    assert claimed["claimed_by"] == "ann"
    assert claimed["claim_expires_at"] - datetime.now(UTC) > timedelta(minutes=14)
    with pytest.raises(Conflict, match="claimed by ann until"):
        review.claim(qctx, item, "bob")
    with pytest.raises(Conflict, match="claimed by ann"):
        review.resolve(qctx, item, "bob", "card_arrival", "cards")
    assert review.claim(qctx, item, "ann")["claimed_by"] == "ann"  # renewing is fine
    assert ids(review.list_items(qctx, review.QueueFilter(available_to="bob"))) == []

    expire_claim(qctx, item)  # ann walked away
    assert ids(review.list_items(qctx, review.QueueFilter(available_to="bob"))) == [item]
    assert review.get_item(qctx, item)["claimed_by"] is None
    assert review.claim(qctx, item, "bob")["claimed_by"] == "bob"
    with pytest.raises(Conflict, match="claimed by bob"):
        review.resolve(qctx, item, "ann", "card_arrival", "cards")
    unclaimed = add_decision(qctx, "c-1b")
    with pytest.raises(Conflict, match="do not hold the claim"):
        review.resolve(qctx, unclaimed or 0, "ann", "card_arrival", "cards")
    done = review.resolve(qctx, item, "bob", "card_arrival", "cards", "fine")
    assert done["status"] == "resolved" and done["labels"][0]["reviewer"] == "bob"


def test_claim_expiry_comes_from_the_environment(qctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_REVIEW_CLAIM_MINUTES", "2")
    item = add_decision(qctx, "c-2")
    assert item is not None
    expires = review.claim(qctx, item, "ann")["claim_expires_at"]
    assert timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(minutes=2)


def test_release_gives_the_item_back(qctx: Context) -> None:
    item = add_decision(qctx, "c-3")
    assert item is not None
    review.claim(qctx, item, "ann")
    with pytest.raises(Conflict):
        review.release(qctx, item, "bob")
    assert review.release(qctx, item, "ann")["claimed_by"] is None
    assert review.claim(qctx, item, "bob")["claimed_by"] == "bob"


def race(n: int, action: Any) -> tuple[list[Any], list[Exception]]:
    """Run ``action(i)`` in ``n`` threads released at the same moment."""
    barrier = threading.Barrier(n)
    wins: list[Any] = []
    losses: list[Exception] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            result = action(i)
        except Exception as exc:
            with lock:
                losses.append(exc)
        else:
            with lock:
                wins.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return wins, losses


def test_concurrent_claims_have_exactly_one_winner(qctx: Context) -> None:
    for round_ in range(4):
        item = add_decision(qctx, f"race-{round_}")
        assert item is not None
        wins, losses = race(6, lambda i, item=item: review.claim(qctx, item, f"reviewer-{i}"))
        assert len(wins) == 1, losses
        assert len(losses) == 5 and all(isinstance(e, Conflict) for e in losses), losses
        assert review.get_item(qctx, item)["claimed_by"] == wins[0]["claimed_by"]


def test_concurrent_resolves_by_the_holder_store_one_label(qctx: Context) -> None:
    item = add_decision(qctx, "double-click")
    assert item is not None
    review.claim(qctx, item, "ann")
    wins, losses = race(4, lambda i: review.resolve(qctx, item, "ann", "card_arrival", "cards"))
    assert len(wins) == 1 and len(losses) == 3
    assert all(isinstance(e, Conflict) and "already resolved by ann" in e.message for e in losses), losses
    assert len(review.get_item(qctx, item)["labels"]) == 1


def test_a_second_resolve_and_unknown_items_are_refused(qctx: Context) -> None:
    item = add_decision(qctx, "r-1")
    assert item is not None
    review.claim(qctx, item, "ann")
    review.resolve(qctx, item, "ann", "card_arrival", "cards")
    with pytest.raises(Conflict, match=f"review item {item} was already resolved by ann"):
        review.resolve(qctx, item, "ann", "card_arrival", "cards")
    with pytest.raises(Conflict, match="already resolved"):
        review.claim(qctx, item, "bob")
    with pytest.raises(NotFound):
        review.claim(qctx, 99999, "ann")


@pytest.mark.parametrize(
    ("intent", "queue", "field"),
    [
        pytest.param("not_an_intent", "cards", "intent", id="unknown-intent"),
        pytest.param("card_arrival", "nowhere", "queue", id="unknown-queue"),
    ],
)
def test_labels_must_name_known_intents_and_queues(qctx: Context, intent: str, queue: str, field: str) -> None:
    item = add_decision(qctx, "v-1")
    assert item is not None
    review.claim(qctx, item, "ann")
    with pytest.raises(ValidationError) as exc:
        review.resolve(qctx, item, "ann", intent, queue)
    assert set(exc.value.errors) == {field}
    assert review.get_item(qctx, item)["claimed_by"] == "ann"  # nothing changed


def test_reasons_can_ask_for_several_reviewers(qctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_REVIEW_LABELS", "high_stakes=2")
    item = add_decision(qctx, "fraud-1", reasons=("high_stakes",), intent="compromised_card", queue="fraud")
    single = add_decision(qctx, "plain-1", reasons=("low_confidence",))
    assert item is not None and single is not None
    assert review.get_item(qctx, single)["labels_needed"] == 1
    review.claim(qctx, item, "ann")
    after_one = review.resolve(qctx, item, "ann", "compromised_card", "fraud")
    assert after_one["status"] == "open" and after_one["labels_needed"] == 2 and after_one["claimed_by"] is None
    with pytest.raises(Conflict, match="already labelled"):
        review.claim(qctx, item, "ann")
    assert ids(review.list_items(qctx, review.QueueFilter(available_to="ann"))) == [single]
    review.claim(qctx, item, "bob")
    done = review.resolve(qctx, item, "bob", "lost_or_stolen_card", "fraud")
    assert done["status"] == "resolved" and [lab["reviewer"] for lab in done["labels"]] == ["ann", "bob"]
    agreement = review.stats(qctx)["agreement"]
    assert agreement == {"items": 1, "pairs": 1, "agreeing": 0, "rate": 0.0}


def label(ctx: Context, item: int | None, reviewer: str, intent: str, queue: str = "cards") -> dict[str, Any]:
    assert item is not None
    review.claim(ctx, item, reviewer)
    return review.resolve(ctx, item, reviewer, intent, queue)


def test_stats_on_a_small_hand_built_set(qctx: Context) -> None:
    now = datetime.now(UTC)
    add_decision(qctx, "o1", reasons=("low_confidence",), age_s=60, now=now)
    add_decision(qctx, "o2", reasons=("low_confidence", "ambiguous"), age_s=120, now=now)
    add_decision(qctx, "o3", reasons=("novel",), age_s=600, now=now)
    r1 = add_decision(qctx, "r1", intent="card_arrival", model_version="v1")
    r2 = add_decision(qctx, "r2", intent="card_arrival", model_version="v1")
    r3 = add_decision(qctx, "r3", intent="exchange_rate", queue="fx", model_version="v2")
    r4 = add_decision(qctx, "r4", intent="exchange_rate", queue="fx", model_version="v2")
    label(qctx, r1, "ann", "card_arrival")  # confirmed
    label(qctx, r2, "ann", "card_delivery_estimate")  # overridden
    label(qctx, r3, "bob", "exchange_rate", "fees")  # queue corrected, intent confirmed
    label(qctx, r4, "bob", "exchange_via_app", "fx")  # overridden
    figures = review.stats(qctx, now=now)
    assert (figures["open"], figures["resolved"], figures["superseded"], figures["labels"]) == (3, 4, 0, 4)
    assert figures["backlog_by_reason"] == {"ambiguous": 1, "low_confidence": 2, "novel": 1}
    assert figures["median_wait_s"] == pytest.approx(120, abs=0.01)
    assert figures["oldest_wait_s"] == pytest.approx(600, abs=0.01)
    assert figures["override_rate"] == 0.5
    assert figures["override_by_intent"] == {
        "card_arrival": {"labels": 2, "overridden": 1, "rate": 0.5},
        "exchange_rate": {"labels": 2, "overridden": 1, "rate": 0.5},
    }
    assert figures["override_by_model_version"]["v1"] == {"labels": 2, "overridden": 1, "rate": 0.5}
    assert figures["agreement"]["rate"] is None


class Recorder:
    """A helpdesk adapter that writes corrected queues back."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    @hookimpl
    def router_on_review_outcome(self, outcome: dict[str, Any], ticket: dict[str, Any]) -> None:
        self.calls.append((outcome, ticket))


class Broken:
    @hookimpl
    def router_on_review_outcome(self, outcome: dict[str, Any]) -> None:
        raise RuntimeError("the helpdesk is down")


def test_corrections_reach_the_outcome_hook_after_commit(qctx: Context) -> None:
    recorder = Recorder()
    qctx.plugins.pm.register(Broken(), name="broken-adapter")
    qctx.plugins.pm.register(recorder, name="test-adapter")
    same = add_decision(qctx, "h-1", intent="card_arrival", queue="cards")
    moved = add_decision(qctx, "h-2", intent="card_arrival", queue="cards", text="where is my new card")
    label(qctx, same, "ann", "card_arrival", "cards")
    assert recorder.calls == []  # a confirmation is not a correction
    label(qctx, moved, "ann", "card_arrival", "general")
    assert len(recorder.calls) == 1
    outcome, ticket = recorder.calls[0]
    assert outcome["item_id"] == moved and outcome["item_status"] == "resolved"
    assert (outcome["queue"], outcome["model_queue"], outcome["corrected"], outcome["overridden"]) == (
        "general",
        "cards",
        True,
        False,
    )
    assert outcome["ticket"] == {"source": "generic", "id": "h-2"} and ticket["text"] == "where is my new card"
    assert review.get_item(qctx, moved)["status"] == "resolved"  # a failing plugin changes nothing


def test_a_long_free_text_reason_from_a_rule_is_cut_not_fatal(qctx: Context) -> None:
    item = add_decision(qctx, "long", reasons=("legal threat " * 30, "low_confidence"))
    assert item is not None
    assert [len(r) for r in review.get_item(qctx, item)["reasons"]] == [128, 14]
