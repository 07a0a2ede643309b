"""POST /v1/tickets and GET /v1/tickets/<source>/<id> through the Flask test client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from router.db import Decision, Ticket
from router.testing.webhooks import body_bytes, generic_headers

STOLEN = {"id": "T-1", "subject": "Card stolen", "body": "Someone stole my card yesterday, please block it"}


def post(client: Any, payload: Any, headers: dict[str, str]) -> Any:
    return client.post("/v1/tickets", data=body_bytes(payload), headers={"Content-Type": "application/json", **headers})


def counts(ctx: Any) -> tuple[int, int]:
    with ctx.db.session() as s:
        return s.scalar(select(func.count(Ticket.id))), s.scalar(select(func.count(Decision.id)))


def test_a_ticket_is_acknowledged_in_brief_by_default(client, token) -> None:
    resp = post(client, STOLEN, token("ingest"))
    assert resp.status_code == 201, resp.json
    assert set(resp.json) == {"decision_id", "ticket_id", "source", "revision", "intent", "queue", "needs_review"}
    assert resp.json["ticket_id"] == "T-1" and resp.json["queue"] == "fraud"
    assert "Preference-Applied" not in resp.headers
    shown = client.get("/v1/tickets/generic/T-1", headers=token("viewer")).json["decisions"][0]
    assert {k: shown[k] for k in resp.json} == resp.json  # the stored decision is the whole one


@pytest.mark.parametrize(
    ("query", "prefer"), [("", "return=representation"), ("?explain=full", None)], ids=["prefer-header", "query"]
)
def test_a_ticket_gets_an_explained_decision_when_asked(client, token, query, prefer) -> None:
    headers = {"Content-Type": "application/json", **token("ingest"), **({"Prefer": prefer} if prefer else {})}
    resp = client.post("/v1/tickets" + query, data=body_bytes(STOLEN), headers=headers)
    assert resp.status_code == 201, resp.json
    assert resp.headers["Preference-Applied"] == "return=representation"
    d = resp.json
    assert d["ticket_id"] == "T-1"
    assert d["intent"] in {"lost_or_stolen_card", "compromised_card"}
    assert d["queue"] == "fraud" and d["priority"] == "urgent"
    assert 0 < d["confidence"] <= 1
    assert len(d["alternatives"]) == 3 and d["alternatives"][0]["intent"] == d["intent"]
    words = [w["word"].lower() for w in d["explanation"]["words"]["toward"]]
    assert any(w in STOLEN["subject"].lower() + " " + STOLEN["body"].lower() for w in words)
    assert "stole" in " ".join(words) or "stolen" in " ".join(words)
    assert d["explanation"]["rules"][0]["matched"] is True
    assert d["model_version"].startswith("v") and d["ruleset_version"].startswith("rs-")
    assert isinstance(d["needs_review"], bool) and isinstance(d["review_reasons"], list)


def test_a_retry_returns_the_stored_decision_and_stores_nothing_new(client, token, ctx) -> None:
    headers = token("ingest")
    first = post(client, STOLEN, headers)
    again = post(client, STOLEN, headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert counts(ctx) == (1, 1)


def test_changed_content_is_decided_again_as_a_new_revision(client, token, ctx) -> None:
    headers = token("ingest")
    post(client, STOLEN, headers)
    edited = {**STOLEN, "body": "Actually I found it. How do I change my PIN?"}
    resp = post(client, edited, headers)
    assert resp.status_code == 201 and resp.json["revision"] == 2
    assert counts(ctx) == (1, 2)
    shown = client.get("/v1/tickets/generic/T-1", headers=token("viewer")).json
    assert [d["revision"] for d in shown["decisions"]] == [2, 1]
    assert shown["decisions"][0]["intent"] == resp.json["intent"]
    assert shown["decisions"][1]["intent"] != resp.json["intent"]


def test_values_beyond_64_bits_or_unicode_in_metadata_are_stored_and_answered(client, token) -> None:
    # The JSON columns and answers are written by orjson, which refuses integers beyond 64 bits: such a
    # value still round-trips (the standard encoder takes over), and text outside ASCII comes back as sent.
    ticket = {**STOLEN, "metadata": {"order": 2**70, "name": "Zoë 東京", "ratio": 0.25}}
    assert post(client, ticket, token("ingest")).status_code == 201
    shown = client.get("/v1/tickets/generic/T-1", headers=token("viewer"))
    assert shown.status_code == 200 and shown.json["metadata"] == ticket["metadata"]


def test_html_quotes_and_signatures_are_cut_before_classifying(client, token) -> None:
    body = (
        "<p>I want to change my PIN &amp; I can&#39;t find where.</p><p>Best regards,<br>Ann</p>"
        "<p>On Mon, 1 Jan 2026 at 10:00, Support wrote:</p><blockquote>&gt; Your card has been sent</blockquote>"
    )
    resp = post(client, {"id": "H-1", "body": body}, token("ingest"))
    assert resp.status_code == 201
    shown = client.get("/v1/tickets/generic/H-1", headers=token("viewer")).json
    assert shown["text"] == "I want to change my PIN & I can't find where."
    assert resp.json["intent"] == "change_pin"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"subject": "hi", "body": "lost card"}, "id", id="missing-id"),
        pytest.param({"id": "1", "subject": "", "body": "  "}, "body", id="no-text"),
        pytest.param({"id": "1", "body": "x", "requester": {"email": "not-an-email"}}, "requester", id="bad-email"),
        pytest.param({"id": "1", "body": "x", "tags": "vip"}, "tags", id="tags-not-list"),
        pytest.param({"id": "1", "body": "x", "created_at": "yesterday"}, "created_at", id="bad-date"),
        pytest.param({"id": "1", "body": "x", "bdy": "typo"}, "bdy", id="unknown-field"),
        pytest.param({"id": {"a": 1}, "body": "x"}, "id", id="id-object"),
        pytest.param({"id": "1", "body": 42}, "body", id="body-number"),
    ],
)
def test_schema_errors_are_422_with_field_messages_and_store_nothing(client, token, ctx, payload, field) -> None:
    resp = post(client, payload, token("ingest"))
    assert resp.status_code == 422
    assert set(resp.json) == {"code", "status", "message", "errors"}
    assert field in resp.json["errors"], resp.json
    assert counts(ctx) == (0, 0)


def test_malformed_json_is_400(client, token, ctx) -> None:
    resp = post(client, b'{"id": "1", "body": ', token("ingest"))
    assert resp.status_code == 400 and resp.json["code"] == "malformed_request"
    assert counts(ctx) == (0, 0)


def test_wrong_content_type_is_415(client, token) -> None:
    resp = client.post("/v1/tickets", data="id=1", headers={**token("ingest"), "Content-Type": "text/plain"})
    assert resp.status_code == 415 and resp.json["status"] == 415


def test_body_over_one_mebibyte_is_413(client, token, ctx) -> None:
    payload = {"id": "big", "body": "a" * (1024 * 1024 + 10)}
    resp = post(client, payload, token("ingest"))
    assert resp.status_code == 413 and resp.json["status"] == 413
    assert counts(ctx) == (0, 0)


def test_no_token_or_a_viewer_token_cannot_post(client, token) -> None:
    assert post(client, STOLEN, {}).status_code == 401
    assert post(client, STOLEN, {"Authorization": "Bearer nope"}).status_code == 401
    assert post(client, STOLEN, token("viewer")).status_code == 403


def test_generic_signature_is_accepted_and_a_bad_one_refused(client, ctx) -> None:
    body = body_bytes(STOLEN)
    assert post(client, body, generic_headers(body, "generic-secret")).status_code == 201
    forged = generic_headers(body, "wrong-secret")
    resp = post(client, body, forged)
    assert resp.status_code == 401 and "signature" in resp.json["message"]
    old = generic_headers(body, "generic-secret", timestamp=1_000_000_000)
    assert post(client, body, old).status_code == 401


def test_reading_a_ticket_needs_a_token_and_unknown_is_404(client, token) -> None:
    assert client.get("/v1/tickets/generic/T-1").status_code == 401
    resp = client.get("/v1/tickets/generic/nope", headers=token("viewer"))
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_unknown_route_is_a_json_404(client) -> None:
    resp = client.get("/v1/nothing-here")
    assert resp.status_code == 404 and json.loads(resp.data)["status"] == 404


def correct_by_review(client: Any, token: Any, ticket_id: str, body: str) -> dict[str, Any]:
    """Post a ticket that needs a person, and have a reviewer correct it; returns the stored decision."""
    resp = post(client, {"id": ticket_id, "body": body}, token("ingest"))
    assert resp.status_code == 201 and resp.json["needs_review"], resp.json
    reviewer = token("reviewer")
    items = client.get("/v1/review", headers=reviewer).json["items"]
    [item] = [i for i in items if i["ticket"]["id"] == ticket_id]
    assert client.post(f"/v1/review/{item['id']}/claim", headers=reviewer).status_code == 200
    intent = "card_arrival" if resp.json["intent"] != "card_arrival" else "card_delivery_estimate"
    resolved = client.post(
        f"/v1/review/{item['id']}/resolve",
        json={"intent": intent, "queue": "cards", "note": "it is a card"},
        headers=reviewer,
    )
    assert resolved.status_code == 200, resolved.json
    return dict(resp.json, corrected_to=intent)


def test_a_reviewers_correction_shows_beside_the_decision(client, token) -> None:
    answered = correct_by_review(client, token, "R-1", "I will sue you if my card does not come")
    shown = client.get("/v1/tickets/generic/R-1", headers=token("viewer")).json
    [decision] = shown["decisions"]
    assert decision["intent"] == answered["intent"]  # the model's, kept as it was
    review = decision["review"]
    assert review["status"] == "resolved" and (review["intent"], review["queue"]) == (answered["corrected_to"], "cards")
    [label] = review["labels"]
    assert label["reviewer"] == "reviewer" and label["note"] == "it is a card" and label["corrected"] is True
    untouched = post(client, {"id": "R-2", "body": "What exchange rate do you use for euros?"}, token("ingest")).json
    if not untouched["needs_review"]:
        assert client.get("/v1/tickets/generic/R-2", headers=token("viewer")).json["decisions"][0]["review"] is None
