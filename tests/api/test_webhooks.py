"""Helpdesk webhooks: Zendesk and Freshdesk payloads and their signature schemes."""

from __future__ import annotations

import json
import time

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
