"""Write-back through a real `router serve` with two workers, on SQLite and PostgreSQL.

What a helpdesk team would see: a ticket posted the way Zendesk or Freshdesk posts it ends up
with its group, priority, tags and note set, once, even when the service is killed with
``kill -9`` between acknowledging tickets and delivering them.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from router.testing.helpdesk_standins import FreshdeskStandin, ZendeskStandin
from router.testing.server import RouterProcess
from router.testing.webhooks import freshdesk_headers, zendesk_headers
from tests.conftest import make_env, prepare_home
from tests.delivery.conftest import writeback_env, zendesk_event

pytestmark = pytest.mark.server


@pytest.fixture
def serve(tmp_path: Path, trained, database_url: str) -> Iterator[Callable[[dict[str, str]], RouterProcess]]:  # type: ignore[no-untyped-def]
    started: list[RouterProcess] = []

    def make(extra: dict[str, str]) -> RouterProcess:
        home = tmp_path / "served"
        ctx = prepare_home(home, trained, database_url, **extra)
        ctx.db.dispose()
        served = RouterProcess(make_env(home, database_url, **extra), log=tmp_path / "serve.log").start()
        started.append(served)
        return served

    yield make
    for served in started:
        served.kill(signal.SIGTERM)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s")


def post_event(base: str, payload: dict) -> requests.Response:  # type: ignore[type-arg]
    body = json.dumps(payload).encode()
    return requests.post(
        f"{base}/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"), timeout=10
    )


@pytest.fixture
def helpdesks() -> Iterator[tuple[ZendeskStandin, FreshdeskStandin]]:
    with ZendeskStandin() as zd, FreshdeskStandin() as fd:
        for name in (
            "Fraud",
            "Cards",
            "Transfers",
            "General",
            "FX",
            "Fees",
            "Card payments",
            "Top ups",
            "Cash",
            "Identity",
            "Account",
        ):
            zd.add_group(name)
            fd.add_group(name)
        yield zd, fd


def test_tickets_posted_as_the_helpdesks_post_them_are_routed_there(serve, helpdesks) -> None:  # type: ignore[no-untyped-def]
    zd, fd = helpdesks
    served = serve(writeback_env(zd, fd))
    tid = zd.add_ticket("Card stolen", "Someone stole my card, please block it", requester_id=zd.add_user("Ann"))
    event = zendesk_event(zd, tid)
    assert post_event(served.base, event).status_code == 201
    took = wait_for(lambda: len(zd.notes(tid)) == 1)
    assert took < 2.0, f"routed in Zendesk after {took:.2f} s"
    assert zd.groups[zd.tickets[tid]["group_id"]] == "Fraud" and zd.tickets[tid]["priority"] == "urgent"
    assert post_event(served.base, event).status_code == 200  # Zendesk redelivers: nothing is written twice
    fid = fd.add_ticket("Transfer missing", "My transfer to my brother has not arrived after three days")
    body = json.dumps(
        {
            "ticket": {
                "id": str(fid),
                "subject": "Transfer missing",
                "description": "My transfer to my brother has not arrived after three days",
                "priority": "Low",
                "tags": "",
            }
        }
    ).encode()
    resp = requests.post(
        f"{served.base}/v1/webhooks/freshdesk", data=body, headers=freshdesk_headers("freshdesk-secret"), timeout=10
    )
    assert resp.status_code == 201, resp.text
    wait_for(lambda: len(fd.notes(fid)) == 1)
    assert fd.groups[fd.tickets[fid]["group_id"]] == "Transfers"
    time.sleep(1.5)
    assert len(zd.updates(tid)) == 1 and len(zd.notes(tid)) == 1 and len(fd.notes(fid)) == 1


def test_kill_9_between_commit_and_delivery_loses_nothing_and_duplicates_nothing(serve, helpdesks) -> None:  # type: ignore[no-untyped-def]
    zd, _ = helpdesks
    extra = writeback_env(zd, ROUTER_DELIVERY_LEASE_S="3", ROUTER_DELIVERY_POLL_S="0.2")
    served = serve(extra)
    zd.delay_next(4, times=2)  # two deliveries are mid-request when the service dies ...
    zd.fail_next(503, times=10_000, headers={"Retry-After": "1"})  # ... the rest wait for Zendesk to come back
    tickets = [zd.add_ticket(f"Card stolen {i}", "My card was stolen, please block it") for i in range(12)]
    for tid in tickets:
        assert post_event(served.base, zendesk_event(zd, tid)).status_code == 201
    time.sleep(1.0)
    served.kill(signal.SIGKILL)
    zd.clear_faults()
    served.start()
    wait_for(lambda: all(len(zd.notes(t)) >= 1 for t in tickets), timeout=40)
    time.sleep(2.0)
    assert {t: len(zd.notes(t)) for t in tickets} == {t: 1 for t in tickets}
    assert all(zd.groups[zd.tickets[t]["group_id"]] == "Fraud" for t in tickets)


def test_agent_changes_429s_and_dead_letters_through_the_service(serve, helpdesks) -> None:  # type: ignore[no-untyped-def]
    zd, _ = helpdesks
    served = serve(writeback_env(zd, ROUTER_DELIVERY_POLL_S="0.2"))
    from router.auth import create_token
    from router.config import load_settings
    from router.db import Database

    db = Database(load_settings(served.env).database_url)
    admin = {"Authorization": f"Bearer {create_token(db, 'admin')}"}
    db.dispose()
    # an agent moves the ticket between the decision and its delivery: Zendesk is slow to answer the read
    moved = zd.add_ticket("Card stolen", "My card was stolen, block it")
    vip = zd.add_group("VIP desk")
    zd.fail_next(503, headers={"Retry-After": "1"}, only="GET /api/v2/tickets")
    assert post_event(served.base, zendesk_event(zd, moved)).status_code == 201
    zd.agent_update(moved, group_id=vip)
    # Zendesk rate-limits once, then accepts
    limited = zd.add_ticket("Exchange rate", "What exchange rate will I get in euros?")
    wait_for(lambda: len(zd.notes(moved)) == 1)
    zd.fail_next(429, headers={"Retry-After": "1"}, only="PUT /api/v2/tickets")
    assert post_event(served.base, zendesk_event(zd, limited)).status_code == 201
    wait_for(lambda: len(zd.notes(limited)) == 1, timeout=20)
    assert zd.tickets[moved]["group_id"] == vip and "Not reassigned" in zd.notes(moved)[0]["body"]
    assert any(r.method == "PUT" and r.path.endswith(f"/{limited}.json") for r in zd.requests)
    # a revoked API token: a dead letter until an operator retries it
    dead = zd.add_ticket("Top up failed", "My top up failed twice today")
    zd.fail_next(401, only="GET /api/v2/tickets")
    assert post_event(served.base, zendesk_event(zd, dead)).status_code == 201

    def dead_letters() -> list[dict]:  # type: ignore[type-arg]
        return requests.get(f"{served.base}/v1/deliveries?status=dead", headers=admin, timeout=5).json()["items"]

    wait_for(lambda: len(dead_letters()) == 1)
    [letter] = dead_letters()
    assert letter["last_status"] == 401 and letter["ticket_id"] == str(dead)
    resp = requests.post(f"{served.base}/v1/deliveries/{letter['id']}/retry", headers=admin, timeout=5)
    assert resp.status_code == 200 and resp.json()["retried"] == 1
    wait_for(lambda: len(zd.notes(dead)) == 1)
    time.sleep(1.0)
    assert [len(zd.notes(t)) for t in (moved, limited, dead)] == [1, 1, 1]
