"""Write-back fixtures: the stand-in helpdesks on loopback and an app configured to write to them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from router.app import create_app
from router.testing.helpdesk_standins import CallbackReceiver, FreshdeskStandin, ZendeskStandin
from router.testing.webhooks import freshdesk_headers, zendesk_headers
from tests.conftest import prepare_home

QUEUES = (
    "fraud",
    "cards",
    "card_payments",
    "cash",
    "transfers",
    "top_ups",
    "fx",
    "fees",
    "identity",
    "account",
    "general",
)


@pytest.fixture
def zendesk() -> Iterator[ZendeskStandin]:
    with ZendeskStandin() as zd:
        for q in QUEUES:
            zd.add_group(q.replace("_", " ").title())
        yield zd


@pytest.fixture
def freshdesk() -> Iterator[FreshdeskStandin]:
    with FreshdeskStandin() as fd:
        for q in QUEUES:
            fd.add_group(q.replace("_", "-").title())
        yield fd


@pytest.fixture
def callback() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as cb:
        yield cb


def writeback_env(
    zendesk: ZendeskStandin, freshdesk: FreshdeskStandin | None = None, mode: str = "route", **extra: str
) -> dict[str, str]:
    env = {
        "ROUTER_ZENDESK_URL": zendesk.url,
        "ROUTER_ZENDESK_EMAIL": zendesk.email,
        "ROUTER_ZENDESK_API_TOKEN": zendesk.api_token,
        "ROUTER_WRITEBACK_ZENDESK": mode,
        "ROUTER_DELIVERY_BACKOFF_BASE_S": "0.05",
        "ROUTER_DELIVERY_BACKOFF_CAP_S": "0.2",
        "ROUTER_DELIVERY_TIMEOUT_S": "2",
        "ROUTER_ZENDESK_RATE_PER_MIN": "100",  # a burst of 10: the tests' handfuls of tickets go at once
        "ROUTER_FRESHDESK_RATE_PER_MIN": "100",
        **extra,
    }
    if freshdesk is not None:
        env.update(
            ROUTER_FRESHDESK_URL=freshdesk.url,
            ROUTER_FRESHDESK_API_KEY=freshdesk.api_key,
            ROUTER_WRITEBACK_FRESHDESK=mode,
        )
    return env


@pytest.fixture
def make_app(tmp_path: Path, trained) -> Iterator[Callable[..., Flask]]:  # type: ignore[no-untyped-def]
    made: list[Flask] = []

    def make(env: dict[str, str], database_url: str | None = None) -> Flask:
        home = tmp_path / f"home-{len(made)}"
        ctx = prepare_home(home, trained, database_url, **env)
        ctx.db.dispose()
        app = create_app({"TESTING": True}, settings=ctx.settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["router"].delivery.stop()
        app.extensions["router"].db.dispose()


def zendesk_event(zd: ZendeskStandin, ticket_id: int, kind: str = "ticket.created", **event: Any) -> dict[str, Any]:
    """An event-subscribed webhook body as Zendesk documents it, for a stand-in ticket."""
    t = zd.tickets[ticket_id]
    detail = {
        "actor_id": str(t["requester_id"]),
        "created_at": t["created_at"],
        "description": t["description"],
        "group_id": None if t["group_id"] is None else str(t["group_id"]),
        "id": str(ticket_id),
        "priority": (t["priority"] or "").upper() or None,
        "requester_id": str(t["requester_id"]),
        "status": t["status"].upper(),
        "subject": t["subject"],
        "tags": t["tags"],
        "updated_at": t["updated_at"],
        "via": {"channel": "web_service"},
    }
    return {
        "account_id": 22129848,
        "detail": detail,
        "event": event,
        "id": str(uuid.uuid4()),
        "subject": f"zen:ticket:{ticket_id}",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "type": f"zen:event-type:{kind}",
        "zendesk_event_version": "2022-11-06",
    }


def post_zendesk(client: Any, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return client.post("/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"))


def post_freshdesk(client: Any, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return client.post("/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"))
