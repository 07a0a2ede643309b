"""Helpdesk webhooks: Zendesk and Freshdesk payloads and their signature schemes."""

from __future__ import annotations

import json
import time

import pytest

from router.config import REPO_ROOT
from router.testing.webhooks import freshdesk_headers, zendesk_headers

SAMPLES = REPO_ROOT / "fixtures" / "webhooks"


def test_zendesk_sample_is_verified_adapted_and_decided(client, token) -> None:
    body = (SAMPLES / "zendesk.json").read_bytes()
    resp = client.post("/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"))
    assert resp.status_code == 201, resp.json
    assert resp.json["ticket_id"] == "35436" and resp.json["queue"] == "fraud"
    stored = client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).json
    assert stored["requester"]["email"] == "maria@example.com"
    assert stored["channel"] == "email" and stored["tags"] == ["vip", "card"]
    assert "Thanks" not in stored["text"] and "<p>" not in stored["text"]


def test_zendesk_bad_signature_and_replay_are_refused(client) -> None:
    body = (SAMPLES / "zendesk.json").read_bytes()
    bad = zendesk_headers(body, "other-secret")
    assert client.post("/v1/webhooks/zendesk", data=body, headers=bad).status_code == 401
    tampered = zendesk_headers(body, "zendesk-secret")
    assert client.post("/v1/webhooks/zendesk", data=body + b" ", headers=tampered).status_code == 401
    old = zendesk_headers(body, "zendesk-secret", timestamp=time.time() - 301)
    resp = client.post("/v1/webhooks/zendesk", data=body, headers=old)
    assert resp.status_code == 401 and "replay" in resp.json["message"]


def test_freshdesk_sample_with_its_token(client, token) -> None:
    body = (SAMPLES / "freshdesk.json").read_bytes()
    resp = client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"))
    assert resp.status_code == 201, resp.json
    assert resp.json["queue"] == "transfers"
    stored = client.get("/v1/tickets/freshdesk/1042", headers=token("viewer")).json
    assert stored["tags"] == ["transfers", "urgent"] and "iPhone" not in stored["text"]
    wrong = client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("nope"))
    assert wrong.status_code == 401


def test_adapter_payload_problems_are_422(client) -> None:
    body = json.dumps({"freshdesk_webhook": {"ticket_subject": "no id"}}).encode()
    resp = client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"))
    assert resp.status_code == 422 and "id" in resp.json["errors"]
    body = json.dumps([1, 2]).encode()
    resp = client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"))
    assert resp.status_code == 422


def test_unknown_source_is_404(client) -> None:
    resp = client.post("/v1/webhooks/jira", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 404


def _zendesk(client, name: str):  # type: ignore[no-untyped-def]
    body = (SAMPLES / name).read_bytes()
    return client.post("/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"))


def test_zendesk_ticket_created_event_is_decided_from_its_detail(client, token) -> None:
    resp = _zendesk(client, "zendesk_event_ticket_created.json")
    assert resp.status_code == 201, resp.json
    assert resp.json["ticket_id"] == "35436" and resp.json["queue"] == "fraud"
    stored = client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).json
    assert stored["subject"] == "Card stolen" and "wallet was stolen" in stored["text"]
    assert stored["tags"] == ["vip", "card"] and stored["channel"] == "email"
    # no connector configured: the event carries no e-mail, so the requester stays empty
    assert not stored["requester"].get("email")
    again = _zendesk(client, "zendesk_event_ticket_created.json")
    assert again.status_code == 200 and again.json["decision_id"] == resp.json["decision_id"]


def test_a_requesters_comment_is_a_new_revision_and_a_staff_comment_is_not(client, token) -> None:
    first = _zendesk(client, "zendesk_event_ticket_created.json")
    comment = _zendesk(client, "zendesk_event_comment_added.json")
    assert comment.status_code == 201 and comment.json["revision"] == 2
    assert comment.json["decision_id"] != first.json["decision_id"]
    stored = client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).json
    assert "electronics shop" in stored["text"] and "wallet was stolen" in stored["text"]
    assert _zendesk(client, "zendesk_event_comment_added.json").status_code == 200  # redelivered
    staff = _zendesk(client, "zendesk_event_comment_added_staff.json")
    assert staff.status_code == 202 and staff.json["recorded"].endswith("comment_added")
    assert len(client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).json["decisions"]) == 2


@pytest.mark.parametrize(
    "name",
    [
        "zendesk_event_group_assignment_changed.json",
        "zendesk_event_status_changed.json",
        "zendesk_event_priority_changed.json",
        "zendesk_event_tags_changed.json",
    ],
)
def test_other_ticket_events_are_recorded_once_and_never_decided(client, token, name: str) -> None:
    resp = _zendesk(client, name)
    assert resp.status_code == 202 and resp.json["duplicate"] is False and resp.json["ticket_id"] == "35436"
    assert _zendesk(client, name).json["duplicate"] is True
    assert client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).status_code == 404


def test_an_unknown_zendesk_event_type_is_answered_200_so_zendesk_does_not_retry(client) -> None:
    payload = json.loads((SAMPLES / "zendesk_event_status_changed.json").read_text())
    payload["type"] = "zen:event-type:organization.created"
    body = json.dumps(payload).encode()
    resp = client.post("/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"))
    assert resp.status_code == 200 and "organization.created" in resp.json["ignored"]


def test_zendesk_trigger_body_as_zendesk_renders_it(client, token) -> None:
    resp = _zendesk(client, "zendesk_trigger_rendered.json")
    assert resp.status_code == 201, resp.json
    assert resp.json["queue"] == "fraud"
    stored = client.get("/v1/tickets/zendesk/35436", headers=token("viewer")).json
    assert stored["requester"]["email"] == "maria@example.com" and stored["tags"] == ["vip", "card"]
    assert "Nov 28" not in stored["text"] and "-----" not in stored["text"]


def test_freshdesk_automation_body_as_freshdesk_renders_it(client, token) -> None:
    body = (SAMPLES / "freshdesk_automation_rendered.json").read_bytes()
    resp = client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"))
    assert resp.status_code == 201, resp.json
    assert resp.json["queue"] == "transfers"
    stored = client.get("/v1/tickets/freshdesk/1042", headers=token("viewer")).json
    assert stored["requester"]["email"] == "sam@example.org" and stored["tags"] == ["transfers", "urgent"]
    assert "iPhone" not in stored["text"] and '"completed"' in stored["text"]
