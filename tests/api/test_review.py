"""The review queue over HTTP: from a posted ticket to a label, roles, errors, stats and the CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from router.auth import create_token
from router.testing.webhooks import body_bytes
from tests.review.helpers import add_decision

UNSURE = {"id": "U-1", "subject": "asdf", "body": "asdf qwerty zxcv"}


def post(client: Any, path: str, headers: dict[str, str], payload: Any = None) -> Any:
    if payload is None:
        return client.post(path, headers=headers)
    return client.post(path, data=body_bytes(payload), headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def ann(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {create_token(ctx.db, 'reviewer', 'ann')}"}


@pytest.fixture
def bob(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {create_token(ctx.db, 'admin', 'bob')}"}


def test_an_unsure_ticket_is_queued_claimed_and_resolved(client, token, ann, bob) -> None:
    decided = post(client, "/v1/tickets?explain=full", token("ingest"), UNSURE)
    assert decided.status_code == 201 and decided.json["needs_review"]
    queue = client.get("/v1/review", headers=ann)
    assert queue.status_code == 200 and queue.json["total"] == 1
    item = queue.json["items"][0]
    assert item["ticket"] == {"source": "generic", "id": "U-1"} and item["status"] == "open"
    assert "low_confidence" in item["reasons"] and item["reasons"] == sorted(decided.json["review_reasons"])
    assert item["intent"] == decided.json["intent"] and item["model_version"] == decided.json["model_version"]
    assert item["text"] == "asdf asdf qwerty zxcv"

    claimed = post(client, f"/v1/review/{item['id']}/claim", ann)
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == "ann"
    taken = post(client, f"/v1/review/{item['id']}/claim", bob)
    assert taken.status_code == 409 and "claimed by ann" in taken.json["message"]
    label = {"intent": "card_arrival", "queue": "cards", "note": "customer asks where the card is"}
    assert post(client, f"/v1/review/{item['id']}/resolve", bob, label).status_code == 409

    done = post(client, f"/v1/review/{item['id']}/resolve", ann, label)
    assert done.status_code == 200, done.json
    assert done.json["status"] == "resolved" and done.json["resolved_at"]
    stored = done.json["labels"][0]
    assert (stored["reviewer"], stored["intent"], stored["queue"]) == ("ann", "card_arrival", "cards")
    assert stored["model_intent"] == decided.json["intent"]
    assert stored["overridden"] == (decided.json["intent"] != "card_arrival")

    again = post(client, f"/v1/review/{item['id']}/resolve", ann, label)
    assert again.status_code == 409 and again.json["code"] == "conflict"
    assert again.json["message"].startswith(f"review item {item['id']} was already resolved by ann at ")
    assert client.get("/v1/review", headers=ann).json["total"] == 0
    assert client.get("/v1/review?status=resolved", headers=ann).json["total"] == 1


def test_a_rule_review_reason_is_queued_escalated_first(client, token, ann) -> None:
    post(client, "/v1/tickets", token("ingest"), UNSURE)
    fraud = {"id": "F-1", "body": "There is a payment on my card that I did not make"}
    full = {**token("ingest"), "Prefer": "return=representation"}
    assert post(client, "/v1/tickets", full, fraud).json["review_reasons"] == ["high_stakes"]
    items = client.get("/v1/review", headers=ann).json["items"]
    assert [i["ticket"]["id"] for i in items] == ["F-1", "U-1"]
    assert items[0]["escalated"] and items[0]["priority"] == "urgent"
    only = client.get("/v1/review?reason=high_stakes&reason=no_such_reason", headers=ann).json
    assert [i["ticket"]["id"] for i in only["items"]] == ["F-1"]


@pytest.mark.parametrize(
    ("label", "field"),
    [
        pytest.param({"intent": "no_such_intent", "queue": "cards"}, "intent", id="unknown-intent"),
        pytest.param({"intent": "card_arrival", "queue": "no_such_queue"}, "queue", id="unknown-queue"),
        pytest.param({"queue": "cards"}, "intent", id="missing-intent"),
        pytest.param({"intent": "card_arrival", "queue": "cards", "extra": 1}, "extra", id="unknown-field"),
    ],
)
def test_a_label_with_an_unknown_intent_or_queue_is_422(client, ctx, ann, label, field) -> None:
    item = add_decision(ctx, "bad-label")
    post(client, f"/v1/review/{item}/claim", ann)
    resp = post(client, f"/v1/review/{item}/resolve", ann, label)
    assert resp.status_code == 422 and field in resp.json["errors"], resp.json
    assert client.get(f"/v1/review/{item}", headers=ann).json["labels"] == []


def test_resolving_without_a_claim_is_refused(client, ctx, ann) -> None:
    item = add_decision(ctx, "no-claim")
    resp = post(client, f"/v1/review/{item}/resolve", ann, {"intent": "card_arrival", "queue": "cards"})
    assert resp.status_code == 409 and "claim it first" in resp.json["message"]
    assert post(client, "/v1/review/4242/claim", ann).status_code == 404


def test_a_claim_can_be_given_back(client, ctx, ann, bob) -> None:
    item = add_decision(ctx, "skip")
    post(client, f"/v1/review/{item}/claim", ann)
    assert client.delete(f"/v1/review/{item}/claim", headers=ann).json["claimed_by"] is None
    assert post(client, f"/v1/review/{item}/claim", bob).json["claimed_by"] == "bob"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", "/v1/review", id="list"),
        pytest.param("get", "/v1/review/1", id="item"),
        pytest.param("post", "/v1/review/1/claim", id="claim"),
        pytest.param("post", "/v1/review/1/resolve", id="resolve"),
        pytest.param("get", "/v1/review/stats", id="stats"),
        pytest.param("get", "/v1/review/export", id="export"),
    ],
)
def test_only_reviewers_and_admins_may_use_the_queue(client, ctx, token, method, path) -> None:
    add_decision(ctx, "roles")
    call = getattr(client, method)
    assert call(path).status_code == 401
    assert call(path, headers=token("viewer")).status_code == 403
    assert call(path, headers=token("ingest")).status_code == 403
    kwargs: dict[str, Any] = {"headers": token("reviewer")}
    if path.endswith("resolve"):
        kwargs["json"] = {"intent": "card_arrival", "queue": "cards"}
    assert call(path, **kwargs).status_code in (200, 409)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("page_size=0", id="page-size-zero"),
        pytest.param("page=0", id="page-zero"),
        pytest.param("status=lost", id="bad-status"),
        pytest.param("min_age_s=60&max_age_s=10", id="ages-reversed"),
        pytest.param("colour=red", id="unknown-parameter"),
    ],
)
def test_bad_queue_queries_are_422(client, ann, query) -> None:
    resp = client.get(f"/v1/review?{query}", headers=ann)
    assert resp.status_code == 422 and set(resp.json) == {"code", "status", "message", "errors"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("max_age_s=1e11", "max_age_s", id="max-age-3000-years"),
        pytest.param("min_age_s=1e11", "min_age_s", id="min-age-3000-years"),
        pytest.param("page=1000000000000000000", "page", id="page-1e18"),
    ],
)
def test_out_of_range_queue_queries_are_422_on_both_databases(api, query: str, field: str) -> None:
    resp = api.client.get(f"/v1/review?{query}", headers=api.token("reviewer"))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert field in resp.json["errors"]


def test_ids_beyond_the_column_are_404_on_both_databases(api) -> None:
    reviewer = api.token("reviewer")
    for big in (2**31, 2**63, 10**30):
        assert api.client.get(f"/v1/review/{big}", headers=reviewer).status_code == 404
        assert api.client.post(f"/v1/review/{big}/claim", headers=reviewer).status_code == 404
        assert api.client.delete(f"/v1/review/{big}/claim", headers=reviewer).status_code == 404
        resolve = post(api.client, f"/v1/review/{big}/resolve", reviewer, {"intent": "x", "queue": "y"})
        assert resolve.status_code == 404 and resolve.json["code"] == "not_found"
    assert api.client.get(f"/v1/review/{2**31 - 1}", headers=reviewer).status_code == 404  # in range, no such item


def test_stats_and_export_describe_the_labels(client, ctx, ann, bob) -> None:
    first = add_decision(ctx, "S-1", text="card not here", intent="card_arrival", model_version="v1")
    second = add_decision(ctx, "S-2", text="rate?", intent="exchange_rate", queue="fx", reasons=("novel",))
    add_decision(ctx, "S-3", reasons=("ambiguous",), age_s=30)
    for item, who, intent, queue in ((first, ann, "card_arrival", "cards"), (second, bob, "exchange_via_app", "fx")):
        post(client, f"/v1/review/{item}/claim", who)
        assert post(client, f"/v1/review/{item}/resolve", who, {"intent": intent, "queue": queue}).status_code == 200

    stats = client.get("/v1/review/stats", headers=ann).json
    assert stats["open"] == 1 and stats["resolved"] == 2 and stats["backlog_by_reason"] == {"ambiguous": 1}
    assert stats["median_wait_s"] >= 30 and stats["override_rate"] == 0.5
    assert stats["override_by_intent"]["exchange_rate"] == {"labels": 1, "overridden": 1, "rate": 1.0}
    assert stats["override_by_model_version"]["v1"]["rate"] == 0.0

    resp = client.get("/v1/review/export", headers=ann)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["text"], r["intent"], r["queue"], r["model_intent"], r["reviewer"]) for r in rows] == [
        ("card not here", "card_arrival", "cards", "card_arrival", "ann"),
        ("rate?", "exchange_via_app", "fx", "exchange_rate", "bob"),
    ]
    assert rows[0]["model_version"] == "v1" and rows[1]["overridden"] == "true"
    assert (rows[1]["source"], rows[1]["ticket_id"]) == ("generic", "S-2") and rows[1]["resolved_at"]


def test_the_review_endpoints_are_in_the_openapi_document(client) -> None:
    paths = client.get("/openapi.json").json["paths"]
    assert {
        "/v1/review",
        "/v1/review/{item_id}/claim",
        "/v1/review/{item_id}/resolve",
        "/v1/review/stats",
        "/v1/review/export",
    } <= set(paths)
