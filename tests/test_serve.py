"""A real `router serve` process with two gunicorn workers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from router.auth import create_token
from router.testing.models import register_copy
from router.testing.webhooks import body_bytes, zendesk_headers

from .conftest import make_env, prepare_home

ROUTER = str(Path(sys.executable).parent / "router")
pytestmark = pytest.mark.server


served_home: dict[str, tuple[str, str]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, trained, database_url: str) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    home = tmp_path / "served"
    ctx = prepare_home(home, trained, database_url)
    token = create_token(ctx.db, "admin")
    ctx.db.dispose()
    port = free_port()
    env = {**os.environ, **make_env(home, database_url)}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [ROUTER, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
        pytest.fail(f"router serve did not become ready:\n{(tmp_path / 'serve.log').read_text()[-3000:]}")
    served_home[base] = (str(home), database_url)
    try:
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_served_ticket_round_trip_across_workers(served) -> None:
    base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    ready = requests.get(f"{base}/readyz", timeout=5).json()
    assert ready["status"] == "ready" and ready["model_version"]
    payload = {"ticket": {"id": 77, "subject": "Where is my card?", "description": "It has been two weeks."}}
    body = body_bytes(payload)
    with requests.Session() as http:
        statuses = []
        for _ in range(6):  # retries land on both workers; one decision is stored
            resp = http.post(f"{base}/v1/webhooks/zendesk", data=body, headers=zendesk_headers(body, "zendesk-secret"))
            statuses.append(resp.status_code)
        assert statuses[0] == 201 and set(statuses[1:]) == {200}
        assert resp.json()["intent"] == "card_arrival" and resp.json()["queue"] == "cards"
        stored = http.get(f"{base}/v1/tickets/zendesk/77", headers=auth, timeout=5).json()
        assert len(stored["decisions"]) == 1
        metrics = http.get(f"{base}/metrics", timeout=5).text
    assert 'router_decisions_total{intent="card_arrival",queue="cards"} 1.0' in metrics
    assert "router_active_model_info" in metrics
    spec = requests.get(f"{base}/openapi.json", timeout=5).json()
    assert "/v1/tickets" in spec["paths"] and "/v1/webhooks/{source}" in spec["paths"]
    assert requests.get(f"{base}/docs", timeout=5).status_code == 200


def test_a_saved_rule_set_reaches_every_worker_within_two_seconds(served) -> None:
    base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    with requests.Session() as http:
        current = http.get(f"{base}/v1/rules", headers=auth, timeout=5)
        content = current.json()["content"] + (
            '\n  - id: tag-everything\n    when: ["True"]\n    then: {tags: [seen-by-new-rules]}\n    stop: false\n'
        )
        saved = http.put(
            f"{base}/v1/rules",
            json={"content": content, "reason": "hot reload test"},
            headers={**auth, "If-Match": current.headers["ETag"]},
            timeout=10,
        )
        assert saved.status_code == 200, saved.text
        new_version = saved.json()["version"]
        saved_at = time.monotonic()
        time.sleep(2.0)
        versions = set()
        for i in range(20):  # several connections, so both workers answer
            resp = requests.post(
                f"{base}/v1/tickets?explain=full",
                json={"id": f"hot-{i}", "body": "How do I top up?"},
                headers=auth,
                timeout=10,
            )
            assert resp.status_code == 201
            versions.add(resp.json()["ruleset_version"])
            assert "seen-by-new-rules" in resp.json()["tags"]
        assert versions == {new_version}
        assert time.monotonic() - saved_at < 10


def _second_version(home: Path, database_url: str, version: str) -> str:
    from router.config import load_settings
    from router.context import build_context

    ctx = build_context(load_settings(make_env(home, database_url)))
    try:
        return register_copy(ctx, version)
    finally:
        ctx.db.dispose()


def test_activate_and_roll_back_under_load_without_a_failed_request(served, trained) -> None:
    base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    old = requests.get(f"{base}/readyz", timeout=5).json()["model_version"]
    home, database_url = served_home[base]
    new = _second_version(Path(home), database_url, old)
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load(name: str) -> None:  # each thread its own tickets: a repeated id is a retry, answered as stored
        with requests.Session() as http:
            i = 0
            while not stop.is_set():
                resp = http.post(
                    f"{base}/v1/tickets?explain=full",
                    json={"id": f"load-{name}-{i}", "body": "Where is my new card?"},
                    headers=auth,
                    timeout=30,
                )
                results.append((resp.status_code, resp.json().get("model_version")))
                i += 1

    threads = [threading.Thread(target=load, args=(name,)) for name in "ab"]
    for t in threads:
        t.start()
    try:
        resp = requests.post(
            f"{base}/v1/models/{new}/activate", json={"reason": "under load"}, headers=auth, timeout=300
        )
        assert resp.status_code == 200, resp.text
        time.sleep(2.0)
        mark = len(results)
        time.sleep(1.0)
        assert {v for _, v in results[mark:]} == {new}
        back = requests.post(f"{base}/v1/models/rollback", json={"reason": "under load"}, headers=auth, timeout=30)
        assert back.status_code == 200 and back.json()["version"] == old
        time.sleep(2.0)
        mark = len(results)
        time.sleep(1.0)
        assert {v for _, v in results[mark:]} == {old}
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert results and all(200 <= code < 300 for code, _ in results)
    audit = requests.get(f"{base}/v1/models/audit", headers=auth, timeout=5).json()
    # The guardrail watch may pass the new version meanwhile (model.watch_passed): not a transition.
    moves = [a["action"] for a in audit if not a["action"].startswith("model.watch")]
    assert moves[:2] == ["model.rollback", "model.active"]


def _admin_cookie(base: str, token: str) -> str:
    """Sign in to the admin pages with ``token``; returns the session cookie."""
    import re

    with requests.Session() as http:
        form = http.get(f"{base}/admin/sign-in", timeout=5)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        resp = http.post(
            f"{base}/admin/sign-in",
            data={"token": token, "csrf_token": csrf.group(1), "next": "/admin/tickets"},
            allow_redirects=False,
            timeout=5,
        )
        assert resp.status_code == 302, resp.text
        return str(http.cookies["session"])


def _tickets_page(base: str, cookie: str) -> int:
    # A new connection each time, so the requests land on both workers.
    resp = requests.get(
        f"{base}/admin/tickets",
        cookies={"session": cookie},
        allow_redirects=False,
        timeout=5,
        headers={"Connection": "close"},
    )
    return resp.status_code


def test_a_revoked_token_and_its_sessions_end_in_every_worker(served) -> None:
    base, admin = served
    home, database_url = served_home[base]
    from router.config import load_settings
    from router.context import build_context

    ctx = build_context(load_settings(make_env(Path(home), database_url)))
    try:
        token = create_token(ctx.db, "reviewer", "rita")
        copy_holder = _admin_cookie(base, create_token(ctx.db, "viewer", "vic"))
        cookie = _admin_cookie(base, token)
        auth = {"Authorization": f"Bearer {token}", "Connection": "close"}
        assert {_tickets_page(base, cookie) for _ in range(8)} == {200}
        assert {requests.get(f"{base}/v1/rules", headers=auth, timeout=5).status_code for _ in range(8)} == {200}
        revoked = requests.delete(f"{base}/v1/tokens/rita", headers={"Authorization": f"Bearer {admin}"}, timeout=5)
        assert revoked.status_code == 200 and revoked.json()[0]["sessions_ended"] == 1
        time.sleep(5.2)  # the token cache's lifetime
        assert {_tickets_page(base, cookie) for _ in range(8)} == {302}
        assert {requests.get(f"{base}/v1/rules", headers=auth, timeout=5).status_code for _ in range(8)} == {401}

        # Signing out ends the session for a copy of the cookie too, in every worker.
        assert {_tickets_page(base, copy_holder) for _ in range(8)} == {200}
        with requests.Session() as http:
            http.cookies.set("session", copy_holder)
            page = http.get(f"{base}/admin/tickets", timeout=5)
            import re

            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            http.post(f"{base}/admin/sign-out", data={"csrf_token": csrf.group(1)}, timeout=5)
        time.sleep(5.2)
        assert {_tickets_page(base, copy_holder) for _ in range(8)} == {302}
    finally:
        ctx.db.dispose()
