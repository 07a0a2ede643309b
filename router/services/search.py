"""Ticket search: by helpdesk id, or by words of the normalised text (the admin Tickets page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from ..context import Context
from ..db import Decision, Ticket


def search_tickets(ctx: Context, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Tickets whose helpdesk id is ``query``, then those whose text contains it, newest first,
    each with its latest decision. An empty query gives the latest tickets."""
    query = query.strip()
    latest = (
        select(Decision.ticket_id, func.max(Decision.revision).label("revision"))
        .group_by(Decision.ticket_id)
        .subquery()
    )
    stmt = (
        select(Ticket, Decision)
        .join(latest, latest.c.ticket_id == Ticket.id)
        .join(Decision, (Decision.ticket_id == Ticket.id) & (Decision.revision == latest.c.revision))
    )
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Ticket.external_id == query, Ticket.text.ilike(pattern, escape="\\"))).order_by(
            (Ticket.external_id == query).desc()
        )
    stmt = stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)
    with ctx.db.session() as s:
        return [
            {
                "source": t.source,
                "id": t.external_id,
                "text": t.text[:240],
                "received_at": t.received_at,
                "revision": d.revision,
                "intent": d.intent,
                "confidence": d.confidence,
                "queue": d.queue,
                "needs_review": d.needs_review,
                "decided_at": d.decided_at,
            }
            for t, d in s.execute(stmt)
        ]
