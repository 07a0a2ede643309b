"""Helpers for the write-back tests: drive the delivery worker, make tickets and tokens."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from router.auth import create_token
from router.testing.helpdesk_standins import ZendeskStandin


def drain(app: Any, rounds: int = 20) -> None:
    """Run the delivery worker until nothing is due (retries wait out their short test backoff)."""
    ctx = app.extensions["router"]
    for _ in range(rounds):
        if ctx.delivery.run_once():
            continue
        with ctx.db.engine.connect() as conn:
            pending = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
            ).scalar()
        if not pending:
            return
        time.sleep(0.15)


def ticket(zd: ZendeskStandin, subject: str, body: str, **kw: Any) -> int:
    """A stand-in Zendesk ticket from a requester with an e-mail address."""
    requester = zd.add_user("Maria Lopez", "maria@example.com")
    return zd.add_ticket(subject, body, requester_id=requester, **kw)


def viewer(app: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(app.extensions['router'].db, 'viewer')}"}


def sign_in(client: Any, app: Any, role: str = "admin", name: str = "ada") -> None:
    """Sign the test client in to the admin pages through the form."""
    from tests.web.conftest import csrf_of

    token = create_token(app.extensions["router"].db, role, name)
    page = client.get("/admin/sign-in")
    client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(page.text), "next": "/admin/"})


def admin(app: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(app.extensions['router'].db, 'admin')}"}
