"""Intake under concurrent retries: helpdesks resend a ticket while the first attempt is in flight."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from router.db import Decision, Ticket
from router.services import intake
from tests.conftest import prepare_home

THREADS = 8
TICKET = {"id": "T-9", "subject": "Card stolen", "body": "Someone stole my card yesterday, please block it"}


def submit_together(ctx: Any, data: dict[str, Any]) -> list[intake.IntakeResult]:
    """``THREADS`` threads submit ``data`` at the same moment; every result (or error) is returned."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = intake.submit(ctx, "generic", dict(data))
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"concurrent submissions failed: {errors!r}"
    return results


def stored(ctx: Any) -> tuple[int, list[int]]:
    """Tickets stored, and the revisions of their decisions."""
    with ctx.db.session() as s:
        return (
            s.scalar(select(func.count(Ticket.id))),
            list(s.scalars(select(Decision.revision).order_by(Decision.revision))),
        )


def test_concurrent_retries_store_one_decision_and_all_get_it(
    tmp_path: Path, trained: tuple[Path, str], database_url: str
) -> None:
    ctx = prepare_home(tmp_path / "home", trained, database_url)
    results = submit_together(ctx, TICKET)
    assert sum(r.created for r in results) == 1
    assert len({r.decision["decision_id"] for r in results}) == 1
    assert stored(ctx) == (1, [1])

    edits = ["Actually I found it. How do I change my PIN?", "Now my top-up failed", "Where is my refund?"]
    for revision, body in enumerate(edits, start=2):
        results = submit_together(ctx, {**TICKET, "body": body})
        assert sum(r.created for r in results) == 1, "one edit, retried concurrently, is one new revision"
        assert {r.decision["revision"] for r in results} == {revision}
    assert stored(ctx) == (1, [1, 2, 3, 4])
    ctx.db.dispose()
