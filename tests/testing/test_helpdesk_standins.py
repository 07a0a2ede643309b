"""The helpdesk stand-ins answer the way the Zendesk and Freshdesk documentation says, over a real socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from router.config import REPO_ROOT
from router.testing.helpdesk_standins import CallbackReceiver, FreshdeskStandin, ZendeskStandin

ZD_AUTH = ("router@example.com/token", "zd-token")
FD_AUTH = ("fd-key", "X")
WEBHOOKS = Path(REPO_ROOT) / "fixtures" / "webhooks"


@pytest.fixture
def zd() -> Iterator[ZendeskStandin]:
    with ZendeskStandin(page_size=2) as standin:
        yield standin


@pytest.fixture
def fd() -> Iterator[FreshdeskStandin]:
    with FreshdeskStandin(page_size=2) as standin:
        yield standin


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def zd_ticket(zd: ZendeskStandin, http: requests.Session, ticket_id: int) -> dict:
    reply = http.get(f"{zd.url}/api/v2/tickets/{ticket_id}.json", auth=ZD_AUTH)
    assert reply.status_code == 200
    return reply.json()["ticket"]


def zd_put(zd: ZendeskStandin, http: requests.Session, ticket_id: int, **changes: object) -> requests.Response:
    return http.put(f"{zd.url}/api/v2/tickets/{ticket_id}.json", auth=ZD_AUTH, json={"ticket": changes})


# -- Zendesk ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        ("router@example.com", "zd-token"),
        ("router@example.com/token", "wrong"),
        ("other@example.com/token", "zd-token"),
    ],
    ids=["none", "password-style", "wrong-token", "wrong-email"],
)
def test_zendesk_refuses_anything_but_its_api_token_auth(zd: ZendeskStandin, http: requests.Session, auth) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    reply = http.get(f"{zd.url}/api/v2/tickets/{ticket}.json", auth=auth)
    assert reply.status_code == 401
    assert reply.json() == {"error": "Couldn't authenticate you"}


def test_zendesk_ticket_has_the_documented_fields(zd: ZendeskStandin, http: requests.Session) -> None:
    maria = zd.add_user("Maria Lopez", "maria@example.com")
    ticket = zd.add_ticket("Card stolen", "Please block my card", requester_id=maria, priority="high", tags=["vip"])
    shown = zd_ticket(zd, http, ticket)
    assert shown["id"] == ticket and isinstance(shown["id"], int)
    assert (shown["subject"], shown["description"], shown["priority"], shown["status"]) == (
        "Card stolen",
        "Please block my card",
        "high",
        "new",
    )
    assert shown["tags"] == ["vip"] and shown["group_id"] is None and shown["requester_id"] == maria
    assert shown["updated_at"].endswith("Z")
    user = http.get(f"{zd.url}/api/v2/users/{maria}.json", auth=ZD_AUTH).json()["user"]
    assert (user["id"], user["name"], user["email"]) == (maria, "Maria Lopez", "maria@example.com")
    both = {"/api/v2/tickets/{}", "/api/v2/tickets/{}.json"}
    assert all(http.get(zd.url + p.format(ticket), auth=ZD_AUTH).status_code == 200 for p in both)


def test_zendesk_unknown_ticket_is_404_with_zendesk_body(zd: ZendeskStandin, http: requests.Session) -> None:
    reply = zd_put(zd, http, 999999, priority="high")
    assert reply.status_code == 404
    assert reply.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_zendesk_update_sets_group_priority_and_a_private_note_by_the_api_user(
    zd: ZendeskStandin, http: requests.Session
) -> None:
    cards = zd.add_group("Cards")
    ticket = zd.add_ticket("Card stolen", "Block it")
    reply = zd_put(zd, http, ticket, group_id=cards, priority="urgent", comment={"body": "Routed", "public": False})
    assert reply.status_code == 200
    assert (reply.json()["ticket"]["group_id"], reply.json()["ticket"]["priority"]) == (cards, "urgent")
    comments = http.get(f"{zd.url}/api/v2/tickets/{ticket}/comments.json", auth=ZD_AUTH).json()["comments"]
    assert [(c["body"], c["public"]) for c in comments] == [("Block it", True), ("Routed", False)]
    assert comments[-1]["author_id"] == zd.api_user_id
    assert len(zd.updates(ticket)) == 1 and [n["body"] for n in zd.notes(ticket)] == ["Routed"]


def test_zendesk_updated_at_changes_on_every_update_even_within_a_second(
    zd: ZendeskStandin, http: requests.Session
) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    stamps = [zd_ticket(zd, http, ticket)["updated_at"]]
    for priority in ("low", "normal", "high"):
        stamps.append(zd_put(zd, http, ticket, priority=priority).json()["ticket"]["updated_at"])
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


def test_zendesk_safe_update_with_a_stale_stamp_is_409_and_changes_nothing(
    zd: ZendeskStandin, http: requests.Session
) -> None:
    cards, fraud = zd.add_group("Cards"), zd.add_group("Fraud")
    ticket = zd.add_ticket("Card stolen", "Block it")
    seen = zd_ticket(zd, http, ticket)["updated_at"]
    zd.agent_update(ticket, group_id=fraud, comment="Moving this to fraud")
    before = zd_ticket(zd, http, ticket)
    reply = zd_put(zd, http, ticket, group_id=cards, safe_update=True, updated_stamp=seen)
    assert reply.status_code == 409
    assert reply.json() == {
        "error": "UpdateConflict",
        "description": "Safe Update prevented the update due to outdated ticket data. "
        "Please fetch the latest ticket data and try again.",
    }
    assert zd_ticket(zd, http, ticket) == before and before["group_id"] == fraud
    assert zd.updates(ticket) == [] and len(zd.updates(ticket, by="agent")) == 1
    fresh = zd_put(zd, http, ticket, group_id=cards, safe_update=True, updated_stamp=before["updated_at"])
    assert fresh.status_code == 200 and fresh.json()["ticket"]["group_id"] == cards


def test_zendesk_tags_replace_additional_tags_merge_remove_tags_remove(
    zd: ZendeskStandin, http: requests.Session
) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it", tags=["vip", "card"])
    assert zd_put(zd, http, ticket, additional_tags=["routed", "vip"]).json()["ticket"]["tags"] == [
        "vip",
        "card",
        "routed",
    ]
    assert zd_put(zd, http, ticket, remove_tags=["card"]).json()["ticket"]["tags"] == ["vip", "routed"]
    assert zd_put(zd, http, ticket, tags=["only"]).json()["ticket"]["tags"] == ["only"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"group_id": 424242}, "group"),
        ({"group_id": "Cards"}, "group"),
        ({"priority": "critical"}, "priority"),
        ({"status": "done"}, "status"),
        ({"additional_tags": "routed"}, "additional_tags"),
        ({"comment": {"body": "", "public": False}}, "comment"),
    ],
    ids=["unknown-group", "group-name", "bad-priority", "bad-status", "tags-not-a-list", "blank-comment"],
)
def test_zendesk_bad_values_are_422_record_invalid_and_change_nothing(
    zd: ZendeskStandin, http: requests.Session, changes: dict, field: str
) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    before = zd_ticket(zd, http, ticket)
    reply = zd_put(zd, http, ticket, **changes)
    assert reply.status_code == 422
    body = reply.json()
    assert (body["error"], body["description"]) == ("RecordInvalid", "Record validation errors")
    assert field in body["details"] and body["details"][field][0]["description"]
    assert zd_ticket(zd, http, ticket) == before


def test_zendesk_closed_ticket_refuses_updates(zd: ZendeskStandin, http: requests.Session) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it", status="closed")
    reply = zd_put(zd, http, ticket, priority="high")
    assert reply.status_code == 422 and "closed" in reply.json()["details"]["status"][0]["description"]


def test_zendesk_groups_paginate_through_next_page(zd: ZendeskStandin, http: requests.Session) -> None:
    names = ["Cards", "Fraud", "Transfers", "Accounts", "General"]
    for name in names:
        zd.add_group(name)
    seen, url, pages = [], f"{zd.url}/api/v2/groups.json", 0
    while url:
        body = http.get(url, auth=ZD_AUTH).json()
        assert body["count"] == 5
        seen += [g["name"] for g in body["groups"]]
        url, pages = body["next_page"], pages + 1
    assert seen == names and pages == 3


def test_zendesk_agent_update_is_not_the_api_user(zd: ZendeskStandin, http: requests.Session) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    before = zd_ticket(zd, http, ticket)["updated_at"]
    zd.agent_update(ticket, status="solved", comment={"body": "Done", "public": True})
    after = zd_ticket(zd, http, ticket)
    assert after["status"] == "solved" and after["updated_at"] > before
    assert zd.comments[ticket][-1]["author_id"] == zd.agent_id != zd.api_user_id
    assert zd.updates(ticket) == []


def test_zendesk_rate_limit_answers_429_with_retry_after(zd: ZendeskStandin, http: requests.Session) -> None:
    zd.rate_limit(2)
    first = http.get(f"{zd.url}/api/v2/groups.json", auth=ZD_AUTH)
    assert (first.headers["X-Rate-Limit"], first.headers["X-Rate-Limit-Remaining"]) == ("2", "1")
    http.get(f"{zd.url}/api/v2/groups.json", auth=ZD_AUTH)
    limited = http.get(f"{zd.url}/api/v2/groups.json", auth=ZD_AUTH)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["Content-Type"].startswith("text/html") and limited.text
    zd.rate_limit(None)
    assert http.get(f"{zd.url}/api/v2/groups.json", auth=ZD_AUTH).status_code == 200


# -- Freshdesk -------------------------------------------------------------------------------------------------


def fd_put(fd: FreshdeskStandin, http: requests.Session, ticket_id: int, **changes: object) -> requests.Response:
    return http.put(f"{fd.url}/api/v2/tickets/{ticket_id}", auth=FD_AUTH, json=changes)


@pytest.mark.parametrize("auth", [None, ("other-key", "X")], ids=["none", "wrong-key"])
def test_freshdesk_refuses_a_wrong_api_key(fd: FreshdeskStandin, http: requests.Session, auth) -> None:
    reply = http.get(f"{fd.url}/api/v2/tickets/{fd.add_ticket('Hi', '<p>Hi</p>')}", auth=auth)
    assert reply.status_code == 401
    assert reply.json()["code"] == "invalid_credentials"


def test_freshdesk_ticket_update_replaces_tags_and_keeps_numeric_codes(
    fd: FreshdeskStandin, http: requests.Session
) -> None:
    sam = fd.add_contact("Sam Patel", "sam@example.org")
    cards = fd.add_group("Cards")
    ticket = fd.add_ticket("Transfer", "<div>Sent money &amp; waited</div>", requester_id=sam, tags=["transfers"])
    shown = http.get(f"{fd.url}/api/v2/tickets/{ticket}", auth=FD_AUTH).json()
    assert (shown["description_text"], shown["priority"], shown["status"]) == ("Sent money & waited", 1, 2)
    reply = fd_put(fd, http, ticket, group_id=cards, priority=4, status=3, tags=["routed"])
    assert reply.status_code == 200
    assert (reply.json()["group_id"], reply.json()["priority"], reply.json()["tags"]) == (cards, 4, ["routed"])
    assert reply.json()["updated_at"] > shown["updated_at"] and len(fd.updates(ticket)) == 1
    contact = http.get(f"{fd.url}/api/v2/contacts/{sam}", auth=FD_AUTH).json()
    assert (contact["name"], contact["email"]) == ("Sam Patel", "sam@example.org")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"priority": 7}, "priority", "invalid_value"),
        ({"priority": "high"}, "priority", "datatype_mismatch"),
        ({"status": 9}, "status", "invalid_value"),
        ({"group_id": 424242}, "group_id", "invalid_value"),
        ({"tags": "routed"}, "tags", "datatype_mismatch"),
        ({"colour": "red"}, "colour", "invalid_field"),
    ],
    ids=["priority-range", "priority-word", "status-range", "unknown-group", "tags-not-a-list", "unknown-field"],
)
def test_freshdesk_bad_values_are_400_validation_failed_and_change_nothing(
    fd: FreshdeskStandin, http: requests.Session, changes: dict, field: str, code: str
) -> None:
    ticket = fd.add_ticket("Transfer", "<p>Hi</p>")
    before = http.get(f"{fd.url}/api/v2/tickets/{ticket}", auth=FD_AUTH).json()
    reply = fd_put(fd, http, ticket, **changes)
    assert reply.status_code == 400
    body = reply.json()
    assert body["description"] == "Validation failed"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)] and body["errors"][0]["message"]
    assert http.get(f"{fd.url}/api/v2/tickets/{ticket}", auth=FD_AUTH).json() == before


def test_freshdesk_private_note_is_201_and_listed_in_conversations(
    fd: FreshdeskStandin, http: requests.Session
) -> None:
    ticket = fd.add_ticket("Transfer", "<p>Hi</p>")
    reply = http.post(f"{fd.url}/api/v2/tickets/{ticket}/notes", auth=FD_AUTH, json={"body": "Routed", "private": True})
    assert reply.status_code == 201
    assert (reply.json()["body"], reply.json()["private"], reply.json()["ticket_id"]) == ("Routed", True, ticket)
    fd.agent_update(ticket, status=4, note="Solved on the phone")
    listed = http.get(f"{fd.url}/api/v2/tickets/{ticket}/conversations", auth=FD_AUTH).json()
    assert [(c["body"], c["user_id"]) for c in listed] == [
        ("Routed", fd.api_agent_id),
        ("Solved on the phone", fd.agent_id),
    ]
    assert len(fd.notes(ticket)) == 2
    missing = http.post(f"{fd.url}/api/v2/tickets/{ticket}/notes", auth=FD_AUTH, json={"private": True})
    assert missing.status_code == 400 and missing.json()["errors"][0]["code"] == "missing_field"


def test_freshdesk_groups_paginate_through_the_link_header(fd: FreshdeskStandin, http: requests.Session) -> None:
    names = ["Cards", "Fraud", "Transfers"]
    for name in names:
        fd.add_group(name)
    seen, url = [], f"{fd.url}/api/v2/groups"
    while url:
        reply = http.get(url, auth=FD_AUTH)
        assert isinstance(reply.json(), list)
        seen += [g["name"] for g in reply.json()]
        url = reply.links.get("next", {}).get("url")
    assert seen == names
    assert [g["name"] for g in http.get(f"{fd.url}/api/v2/groups?per_page=100", auth=FD_AUTH).json()] == names


def test_freshdesk_rate_limit_headers_and_429(fd: FreshdeskStandin, http: requests.Session) -> None:
    fd.rate_limit(1)
    ok = http.get(f"{fd.url}/api/v2/groups", auth=FD_AUTH)
    assert (ok.headers["X-RateLimit-Total"], ok.headers["X-RateLimit-Remaining"]) == ("1", "0")
    assert ok.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    limited = http.get(f"{fd.url}/api/v2/groups", auth=FD_AUTH)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "X-RateLimit-Remaining" not in limited.headers and limited.json()["message"]


def test_freshdesk_unknown_ticket_is_404_with_a_blank_body(fd: FreshdeskStandin, http: requests.Session) -> None:
    reply = fd_put(fd, http, 999999, priority=2)
    assert (reply.status_code, reply.text) == (404, " ")


def test_freshdesk_update_drops_empty_tags(fd: FreshdeskStandin, http: requests.Session) -> None:
    ticket = fd.add_ticket("Transfer", "<p>Hi</p>", tags=["old"])
    assert fd_put(fd, http, ticket, tags=["routed", "", None]).json()["tags"] == ["routed"]


# -- fault injection, common to all three ----------------------------------------------------------------------


def test_injected_429_carries_retry_after_and_changes_nothing(zd: ZendeskStandin, http: requests.Session) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    zd.fail_next(429, times=2)
    for _ in range(2):
        reply = zd_put(zd, http, ticket, priority="urgent")
        assert reply.status_code == 429 and reply.headers["Retry-After"] == "1"
    assert zd_ticket(zd, http, ticket)["priority"] is None
    zd.fail_next(503, headers={"Retry-After": "7"}, body={"error": "Maintenance"})
    reply = zd_put(zd, http, ticket, priority="urgent")
    assert (reply.status_code, reply.headers["Retry-After"], reply.json()) == (503, "7", {"error": "Maintenance"})
    assert zd_put(zd, http, ticket, priority="urgent").status_code == 200
    assert len(zd.requests_to("PUT", f"/api/v2/tickets/{ticket}")) == 4


def test_clear_faults_forgets_queued_failures_and_delays(zd: ZendeskStandin, http: requests.Session) -> None:
    zd.fail_next(503, times=5)
    zd.delay_next(5, times=5)
    zd.clear_faults()
    started = time.monotonic()
    assert http.get(f"{zd.url}/api/v2/groups.json", auth=ZD_AUTH).status_code == 200
    assert time.monotonic() - started < 1


def test_delay_makes_a_client_time_out_but_the_change_lands(fd: FreshdeskStandin, http: requests.Session) -> None:
    ticket = fd.add_ticket("Transfer", "<p>Hi</p>")
    fd.delay_next(0.6)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        http.put(f"{fd.url}/api/v2/tickets/{ticket}", auth=FD_AUTH, json={"priority": 3}, timeout=0.2)
    assert time.monotonic() - started < 0.5
    assert fd.tickets[ticket]["priority"] == 3
    assert http.get(f"{fd.url}/api/v2/tickets/{ticket}", auth=FD_AUTH, timeout=2).status_code == 200


def test_callback_receiver_records_bodies_and_headers_and_answers_its_status(http: requests.Session) -> None:
    with CallbackReceiver(status=500) as hook:
        payload = {"ticket": {"id": "T-1"}, "decision": {"queue": "cards"}}
        failed = http.post(f"{hook.url}/router", json=payload, headers={"X-Router-Signature": "sha256=abc"})
        hook.status = 200
        hook.fail_next(503)
        assert http.post(f"{hook.url}/router", json=payload).status_code == 503
        assert http.post(f"{hook.url}/router", json=payload).status_code == 200
    assert failed.status_code == 500
    assert hook.bodies() == [payload] * 3
    assert hook.received[0].header("x-router-signature") == "sha256=abc" and hook.received[0].path == "/router"


def test_every_request_is_recorded(zd: ZendeskStandin, http: requests.Session) -> None:
    ticket = zd.add_ticket("Card stolen", "Block it")
    zd_put(zd, http, ticket, priority="high")
    recorded = zd.requests[-1]
    assert (recorded.method, recorded.path, recorded.body) == (
        "PUT",
        f"/api/v2/tickets/{ticket}.json",
        {"ticket": {"priority": "high"}},
    )
    assert recorded.header("authorization").startswith("Basic ") and recorded.time <= time.time()


# -- webhook samples -------------------------------------------------------------------------------------------


def test_webhook_samples_are_json_and_listed_in_sources() -> None:
    sources = (WEBHOOKS / "SOURCES.md").read_text()
    samples = sorted(
        p for p in WEBHOOKS.glob("*.json") if p.name not in {"zendesk.json", "freshdesk.json", "generic.json"}
    )
    assert len(samples) >= 10
    for sample in samples:
        assert sample.name in sources, sample.name
        json.loads(sample.read_text())
    for event in samples:
        if event.name.startswith("zendesk_event_"):
            body = json.loads(event.read_text())
            assert (
                body["type"].startswith("zen:event-type:ticket.")
                and body["subject"] == f"zen:ticket:{body['detail']['id']}"
            )
