"""Build review items straight in the database, without the model, for fast and exact tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from router.context import Context
from router.db import Decision, Ticket
from router.db.review import ReviewItem
from router.review import record_decision


def add_decision(
    ctx: Context,
    ticket_id: str,
    *,
    text: str | None = None,
    intent: str = "card_arrival",
    queue: str = "cards",
    priority: str = "normal",
    reasons: tuple[str, ...] = ("low_confidence",),
    escalation: dict[str, Any] | None = None,
    model_version: str = "v-test",
    age_s: float = 0.0,
    source: str = "generic",
    now: datetime | None = None,
) -> int | None:
    """Store a ticket revision and its decision as intake would; returns the review item's id."""
    now = now or datetime.now(UTC)
    text = text or f"ticket {ticket_id} text"
    with ctx.db.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.source == source, Ticket.external_id == ticket_id)).first()
        if ticket is None:
            ticket = Ticket(source=source, external_id=ticket_id, content_hash="", received_at=now)
            s.add(ticket)
            s.flush()
            revision = 1
        else:
            revision = len(ticket.decisions) + 1
        ticket.subject, ticket.body, ticket.text, ticket.content_hash = "", text, text, f"h{revision}"
        s.flush()
        row = Decision(
            ticket_id=ticket.id,
            revision=revision,
            content_hash=f"h{revision}",
            intent=intent,
            confidence=0.4,
            alternatives=[],
            queue=queue,
            priority=priority,
            escalation=escalation,
            tags=[],
            needs_review=bool(reasons),
            review_reasons=list(reasons),
            explanation={},
            novelty=None,
            model_version=model_version,
            ruleset_version="rs-test",
            decided_at=now - timedelta(seconds=age_s),
        )
        s.add(row)
        s.flush()
        fields = {c.name: getattr(row, c.key) for c in row.__table__.columns}
        return record_decision(s.connection(), ticket.id, ticket.text, fields)


def expire_claim(ctx: Context, item_id: int) -> None:
    """Move the item's claim expiry into the past, as if its reviewer walked away."""
    with ctx.db.session() as s:
        s.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id)
            .values(claim_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
