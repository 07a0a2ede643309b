"""The outbox's promises: ordering per ticket, one delivery per row, backoff, rate limits, settings."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time

import pytest

from router.app import create_app
from router.config import load_settings
from router.db import Database, upgrade
from router.delivery import outbox
from router.delivery.budget import SharedBudget
from router.errors import ConfigError
from router.testing.helpdesk_standins import CallbackReceiver, ZendeskStandin
from router.testing.webhooks import generic_headers
from tests.delivery.conftest import post_zendesk, writeback_env, zendesk_event
from tests.delivery.helpers import admin as _admin
from tests.delivery.helpers import drain, sign_in
from tests.delivery.helpers import ticket as _ticket


def test_a_newer_decision_supersedes_an_undelivered_older_one(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    reply = zendesk_event(
        zendesk,
        tid,
        "ticket.comment_added",
        comment={"author": {"id": "1", "is_staff": False}, "body": "Please hurry", "id": "5"},
    )
    assert post_zendesk(client, reply).status_code == 201
    drain(app)
    rows = client.get("/v1/deliveries", headers=_admin(app)).json["items"]
    assert [r["status"] for r in rows] == ["delivered", "superseded"]
    assert rows[1]["superseded_by"] == rows[0]["id"]
    assert len(zendesk.notes(tid)) == 1 and "decision" in zendesk.notes(tid)[0]["body"]


def test_concurrent_claimers_take_each_row_once(make_app, zendesk: ZendeskStandin, database_url: str) -> None:
    app = make_app(writeback_env(zendesk), database_url)
    ctx = app.extensions["router"]
    client = app.test_client()
    ticket_ids = [_ticket(zendesk, f"Card stolen {i}", "My card was stolen, block it") for i in range(30)]
    for tid in ticket_ids:
        assert post_zendesk(client, zendesk_event(zendesk, tid)).status_code == 201
    claimed: list[int] = []
    lock = threading.Lock()

    def grab(owner: str) -> None:
        for _ in range(10):
            rows = outbox.claim(ctx.db, owner, ["zendesk"], limit=3, lease_s=60)
            with lock:
                claimed.extend(r["id"] for r in rows)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == len(set(claimed)) == 30


def test_backoff_is_capped_and_fully_jittered() -> None:
    rng = random.Random(7)
    waits = [outbox.backoff_s(attempt, 2.0, 300.0, rng) for attempt in range(1, 12) for _ in range(50)]
    assert all(0 <= w <= 300 for w in waits)
    first = [outbox.backoff_s(1, 2.0, 300.0, rng) for _ in range(200)]
    assert max(first) <= 2.0 and min(first) < 0.5  # full jitter: anywhere from 0 to the ceiling


def test_every_process_draws_on_one_budget_and_one_pause(database_url: str) -> None:
    upgrade(database_url)
    dbs = [Database(database_url) for _ in range(4)]  # four processes' engines on one database
    now = [1_000_000.0]
    budgets = [SharedBudget(db, clock=lambda: now[0]) for db in dbs]
    taken: list[int] = []

    def take(budget: SharedBudget) -> None:
        taken.extend(budget.take("zendesk", 60)[0] for _ in range(10))

    threads = [threading.Thread(target=take, args=(b,)) for b in budgets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sum(taken) == 6  # 60 a minute bursts to 6 between them all, not 6 each
        assert budgets[0].take("zendesk", 60) == (0, pytest.approx(1.0))  # the next token is a second away
        now[0] += 2.0
        assert budgets[1].take("zendesk", 60, want=5) == (2, 0.0) and budgets[2].take("zendesk", 60)[0] == 0
        budgets[2].refund("zendesk", 1, 60)  # taken for a row another worker claimed first
        assert budgets[0].take("zendesk", 60, want=5) == (1, 0.0)
        budgets[3].pause("zendesk", 30, 60)  # one process got a 429 with Retry-After: 30
        now[0] += 5.0
        assert budgets[0].take("zendesk", 60) == (0, pytest.approx(25.0))
        assert budgets[1].paused() == {"zendesk": pytest.approx(25.0)}
        assert budgets[2].take("freshdesk", 60) == (1, 0.0)  # each connector has its own budget
    finally:
        for db in dbs:
            db.dispose()


def _second_worker(app):  # type: ignore[no-untyped-def]
    """Another worker process's service on the same home and database."""
    return create_app({"TESTING": True}, settings=app.extensions["router"].settings)


def test_two_workers_keep_one_rate_limit(make_app, zendesk: ZendeskStandin, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(writeback_env(zendesk, ROUTER_ZENDESK_RATE_PER_MIN="10"), database_url)  # a burst of 1
    other = _second_worker(app)
    try:
        client = app.test_client()
        tickets = [_ticket(zendesk, f"Card stolen {i}", "My card was stolen, block it") for i in range(3)]
        for tid, worker in zip(tickets, (app, other, app), strict=True):
            post_zendesk(client, zendesk_event(zendesk, tid))
            worker.extensions["router"].delivery.run_once()
        assert sum(len(zendesk.notes(t)) for t in tickets) == 1  # not one per worker
    finally:
        other.extensions["router"].db.dispose()


def test_a_429_to_one_worker_holds_back_the_other(make_app, zendesk: ZendeskStandin) -> None:
    from router.monitoring import checks

    app = make_app(writeback_env(zendesk, ROUTER_ALERT_DELIVERY_LAG_S="0.5"))
    other = _second_worker(app)
    try:
        client = app.test_client()
        first, second = (_ticket(zendesk, f"Card stolen {i}", "My card was stolen, block it") for i in range(2))
        post_zendesk(client, zendesk_event(zendesk, first))
        zendesk.fail_next(429, headers={"Retry-After": "30"}, only="PUT /api/v2/tickets")
        app.extensions["router"].delivery.run_once()
        post_zendesk(client, zendesk_event(zendesk, second))
        assert other.extensions["router"].delivery.run_once() == 0
        sent = [r for r in zendesk.requests if r.path.startswith("/api/v2/tickets/")]
        assert [r.method for r in sent] == ["GET", "PUT"]  # the first delivery's read and its refused write
        asked = zendesk.tickets[second]["requester_id"]
        assert not any(r.path == f"/api/v2/users/{asked}.json" for r in zendesk.requests)  # nor looked up
        assert zendesk.notes(first) == zendesk.notes(second) == []
        pending = client.get("/v1/deliveries?status=pending", headers=_admin(app)).json
        assert pending["total"] == 2
        # the maintainers see why nothing moves: in the alert, the metrics and the admin page
        time.sleep(0.6)
        left = checks.delivery_lag(other.extensions["router"])["paused"]["zendesk"]
        assert 25 < left <= 30
        alerts = client.get("/v1/monitoring/alerts", headers=_admin(app)).json
        [alert] = [a for a in alerts if a["key"] == "delivery.lag"]
        assert f"Paused for the helpdesk: zendesk for {left:.0f} s more (its Retry-After" in alert["message"]
        metrics = client.get("/metrics").text
        gauge = re.search(r'router_delivery_paused_seconds\{connector="zendesk"\} ([0-9.]+)', metrics)
        assert gauge is not None and 25 < float(gauge.group(1)) <= left
        sign_in(client, app)
        assert "zendesk paused for" in client.get("/admin/deliveries").text
    finally:
        other.extensions["router"].db.dispose()


def test_a_client_rate_limit_spaces_deliveries(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk, ROUTER_ZENDESK_RATE_PER_MIN="10"))  # a burst of 1
    client = app.test_client()
    tickets = [_ticket(zendesk, f"Card stolen {i}", "My card was stolen, block it") for i in range(3)]
    for tid in tickets:
        post_zendesk(client, zendesk_event(zendesk, tid))
    worker = app.extensions["router"].delivery
    assert worker.run_once() == 1
    assert sum(len(zendesk.notes(t)) for t in tickets) == 1
    pending = client.get("/v1/deliveries?status=pending", headers=_admin(app)).json
    assert pending["total"] == 2 and all(r["attempts"] == 0 for r in pending["items"])
    # the backlog waits where it is for the next token: not claimed and handed back on every pass
    assert [worker.run_once() for _ in range(5)] == [0] * 5
    again = client.get("/v1/deliveries?status=pending", headers=_admin(app)).json["items"]
    assert [r["next_attempt_at"] for r in again] == [r["created_at"] for r in again]


def test_a_429_to_a_requester_lookup_holds_back_the_deliveries(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    zendesk.fail_next(429, headers={"Retry-After": "30"}, only="GET /api/v2/users")
    assert post_zendesk(client, zendesk_event(zendesk, tid)).status_code == 201  # decided all the same
    assert app.extensions["router"].delivery.run_once() == 0
    assert not any(r.path.startswith("/api/v2/tickets/") for r in zendesk.requests)
    assert 25 < outbox.backlog(app.extensions["router"].db)["paused"]["zendesk"] <= 30


def test_the_router_stops_before_the_account_budget_runs_out(make_app, zendesk: ZendeskStandin) -> None:
    zendesk.rate_limit(20)  # the account's API budget for the minute, shared with agents and other apps
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tickets = [_ticket(zendesk, f"Card stolen {i}", "My card was stolen, block it") for i in range(8)]
    for tid in tickets:
        assert post_zendesk(client, zendesk_event(zendesk, tid)).status_code == 201
    for _ in range(5):
        app.extensions["router"].delivery.run_once()
    rows = client.get("/v1/deliveries", headers=_admin(app)).json["items"]
    assert len(zendesk.requests) <= 20  # Zendesk never had to refuse a request
    assert not any(r["last_status"] == 429 for r in rows)
    assert {r["status"] for r in rows} == {"delivered", "pending"}  # the rest wait for the budget
    assert 5 < outbox.backlog(app.extensions["router"].db)["paused"]["zendesk"] <= 10


@pytest.mark.parametrize("helpdesk", ["zendesk", "freshdesk"])
def test_each_helpdesks_rate_headers_are_read(helpdesk: str, zendesk: ZendeskStandin, freshdesk) -> None:  # type: ignore[no-untyped-def]
    from router.helpdesks.freshdesk import FreshdeskConnector
    from router.helpdesks.zendesk import ZendeskConnector

    settings = load_settings(writeback_env(zendesk, freshdesk))
    standin, connector = (
        (zendesk, ZendeskConnector(settings)) if helpdesk == "zendesk" else (freshdesk, FreshdeskConnector(settings))
    )
    standin.rate_limit(10)
    try:
        for _ in range(8):
            connector.groups(fresh=True)
            assert connector.http.low_budget_pause() is None  # 2 or more of the 10 left
        connector.groups(fresh=True)
        assert connector.http.low_budget_pause() == 10.0  # 1 left: stop for a while
        assert connector.http.low_budget_pause() is None  # reported once
    finally:
        connector.close()


def test_the_generic_callback_is_signed_and_carries_the_decision(make_app, zendesk: ZendeskStandin) -> None:
    with CallbackReceiver() as cb:
        env = writeback_env(
            zendesk,
            ROUTER_WRITEBACK_GENERIC="route",
            ROUTER_CALLBACK_URL=f"{cb.url}/hook",
            ROUTER_CALLBACK_SECRET="callback-secret",
        )
        app = make_app(env)
        body = json.dumps({"id": "T-9", "subject": "Card stolen", "body": "My card was stolen, block it"}).encode()
        resp = app.test_client().post(
            "/v1/webhooks/generic", data=body, headers=generic_headers(body, "generic-secret")
        )
        assert resp.status_code == 201
        drain(app)
        [sent] = cb.received
        stamp = sent.header("X-Router-Timestamp")
        assert (
            sent.header("X-Router-Signature")
            == generic_headers(sent.raw, "callback-secret", float(stamp))["X-Router-Signature"]
        )
        assert sent.body["decision"]["queue"] == "fraud" and sent.body["ticket"] == {"source": "generic", "id": "T-9"}
        assert sent.header("X-Router-Delivery") == str(sent.body["delivery_id"])


def test_a_connector_from_a_plugin_writes_back_like_the_built_ins(make_app, zendesk: ZendeskStandin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(writeback_env(zendesk))
    ctx = app.extensions["router"]
    seen: list[dict] = []  # type: ignore[type-arg]

    class Jira:
        name, source, rate_per_min = "jira", "generic", 60.0

        def deliver(self, job):  # type: ignore[no-untyped-def]
            seen.append(job.decision)
            return {"outcome": "routed"}

        def missing_groups(self, queues, mapping):  # type: ignore[no-untyped-def]
            return []

    class Plugin:
        from router.hooks import hookimpl

        @hookimpl
        def router_connectors(self, settings):  # type: ignore[no-untyped-def]
            return [Jira()]

    ctx.plugins.register(Plugin(), "jira", "test")
    ctx.plugins._connectors = None
    ctx.settings = ctx.settings.with_overrides(writeback={**ctx.settings.writeback, "generic": "route"})
    body = json.dumps({"id": "J-1", "subject": "Card stolen", "body": "My card was stolen, block it"}).encode()
    app.test_client().post("/v1/webhooks/generic", data=body, headers=generic_headers(body, "generic-secret"))
    ctx.delivery.settings = ctx.settings
    drain(app)
    assert [d["queue"] for d in seen] == ["fraud"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROUTER_ZENDESK_URL": "http://acme.zendesk.com"}, "must use https"),
        ({"ROUTER_ZENDESK_URL": "http://127.0.0.1:9", "ROUTER_ENV": "production"}, "must use https"),
        ({"ROUTER_ZENDESK_URL": "https://user:pw@acme.zendesk.com"}, "plain base URL"),
        ({"ROUTER_WRITEBACK_ZENDESK": "route"}, "needs ROUTER_ZENDESK_URL"),
        ({"ROUTER_WRITEBACK_FRESHDESK": "always"}, "must be one of off, suggest, route"),
    ],
    ids=["http-remote", "http-in-production", "credentials-in-url", "route-without-url", "unknown-mode"],
)
def test_unsafe_or_incomplete_connector_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"ROUTER_HOME": "/tmp/router-settings-test", **env})


def test_credentials_never_reach_logs_errors_or_the_database(make_app, zendesk: ZendeskStandin, caplog) -> None:  # type: ignore[no-untyped-def]
    app = make_app(writeback_env(zendesk))
    caplog.set_level(logging.DEBUG)
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    zendesk.fail_next(500)
    zendesk.fail_next(401)
    drain(app)
    assert zendesk.api_token not in caplog.text
    assert zendesk.api_token not in repr(app.extensions["router"].settings)
    dump = app.test_client().get("/v1/deliveries", headers=_admin(app)).get_data(as_text=True)
    assert zendesk.api_token not in dump and "401" in dump


def test_an_id_beyond_the_id_column_names_no_delivery(make_app, zendesk: ZendeskStandin, database_url: str) -> None:
    app = make_app(writeback_env(zendesk), database_url)
    client, headers = app.test_client(), _admin(app)
    too_large = 2**31  # deliveries.id is 32 bits: PostgreSQL refused the query with a 500
    assert client.get(f"/v1/deliveries/{too_large}", headers=headers).status_code == 404
    assert client.post(f"/v1/deliveries/{too_large}/retry", headers=headers).status_code == 404
    answer = client.post("/v1/deliveries/retry", json={"ids": [too_large]}, headers=headers)
    assert answer.status_code == 422 and "ids" in answer.json["errors"]
