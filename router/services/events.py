"""Helpdesk events: recorded once per event id, and what intake makes of them.

Zendesk delivers every event at least once, so each is stored by its own id: a redelivered
``ticket.created`` gets the stored decision back, a redelivered comment or status change is not
counted twice. Events the router does not decide on (reassignments, status and tag changes) are
stored for the outcome measures.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..context import Context
from ..db import Decision, Ticket
from ..db.delivery import HelpdeskEvent
from ..delivery.budget import SharedBudget
from ..helpdesks.base import DeliveryFailed, Inbound
from ..ml.normalize import normalize_text
from . import outcomes
from .intake import IntakeResult, decision_out, submit

log = logging.getLogger(__name__)
_E = cast(Table, HelpdeskEvent.__table__)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """Zendesk's event times (``2024-05-03T21:31:53.843338362Z``: nanoseconds, ``Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None


def stored_event(ctx: Context, source: str, event_id: str) -> dict[str, Any] | None:
    with ctx.db.engine.connect() as conn:
        row = conn.execute(select(_E).where(_E.c.source == source, _E.c.event_id == event_id)).mappings().first()
    return dict(row) if row is not None else None


def record(ctx: Context, source: str, inbound: Inbound, decision_id: int | None = None) -> bool:
    """Store the event; False when it was stored before (a redelivery). An event the router does not
    decide on also updates the outcome of the ticket's decision, in the same transaction."""
    groups = outcomes.GroupMap(ctx, source) if inbound.kind == "event" else None
    try:
        with ctx.db.write() as conn:
            conn.execute(
                insert(_E),
                {
                    "source": source,
                    "event_id": inbound.event_id,
                    "event_type": inbound.event_type,
                    "external_id": inbound.external_id,
                    "occurred_at": parse_time(inbound.occurred_at),
                    "actor": inbound.actor[:255],
                    "payload": inbound.payload,
                    "decision_id": decision_id,
                },
            )
            if groups is not None:
                outcomes.apply(conn, groups, source, inbound)
    except IntegrityError:
        return False
    return True


def _link(ctx: Context, source: str, event_id: str, decision_id: int) -> None:
    with ctx.db.write() as conn:
        conn.execute(update(_E).where(_E.c.source == source, _E.c.event_id == event_id).values(decision_id=decision_id))


def _replayed(ctx: Context, source: str, event: dict[str, Any]) -> IntakeResult | None:
    """The decision a redelivered event made the first time."""
    if event.get("decision_id") is None:
        return None
    decisions, tickets = cast(Table, Decision.__table__), cast(Table, Ticket.__table__)
    with ctx.db.engine.connect() as conn:
        row = conn.execute(select(decisions).where(decisions.c.id == event["decision_id"])).mappings().first()
        external = conn.scalar(select(tickets.c.external_id).where(tickets.c.id == row["ticket_id"])) if row else None
    if row is None or external is None:
        return None
    return IntakeResult(decision_out(source, external, row), created=False)


def enrich_requester(ctx: Context, source: str, data: dict[str, Any], requester_id: str | None) -> None:
    """Zendesk's events carry only the requester's id: look the person up when a connector can.

    Not while the helpdesk has the router paused (its ``Retry-After`` or a nearly spent budget,
    shared with the deliveries): the request would only be refused again. A lookup refused with ``Retry-After``
    pauses the deliveries too, since the helpdesk's rate limit is one for the account.
    """
    if not requester_id or (data.get("requester") or {}).get("email"):
        return
    connector = ctx.connectors().get(source)
    lookup = getattr(connector, "requester", None)
    if connector is None or lookup is None:
        return
    budget = SharedBudget(ctx.db)
    try:  # the pause is read only when the person is not cached
        found = lookup(requester_id, may_ask=lambda: connector.name not in budget.paused())
    except DeliveryFailed as exc:
        if exc.retry_after is not None:
            budget.pause(connector.name, exc.retry_after, float(connector.rate_per_min))
        log.warning("could not look up requester %s in %s: %s", requester_id, source, exc.message)
        return
    finally:
        budget.heed(connector)
    if found:
        data["requester"] = {**(data.get("requester") or {}), **found}


def decide_event(ctx: Context, source: str, inbound: Inbound, data: dict[str, Any]) -> IntakeResult:
    """A ``ticket.created`` event: decided once, however often it is delivered."""
    if inbound.event_id:
        event = stored_event(ctx, source, inbound.event_id)
        if event is not None:
            replay = _replayed(ctx, source, event)
            if replay is not None:
                return replay
        else:
            record(ctx, source, inbound)
    result = submit(ctx, source, data)
    if inbound.event_id:
        _link(ctx, source, inbound.event_id, result.decision["decision_id"])
    return result


def revision_from_comment(ctx: Context, source: str, inbound: Inbound) -> dict[str, Any] | None:
    """The stored ticket with the requester's new comment added, as intake data; None when the
    router never saw the ticket."""
    with ctx.db.session() as s:
        ticket = s.scalars(
            select(Ticket).where(Ticket.source == source, Ticket.external_id == inbound.external_id)
        ).first()
        if ticket is None:
            return None
        return {
            "id": ticket.external_id,
            "subject": ticket.subject,
            # the earlier text already cleaned, so its signature does not cut the new comment off
            "body": f"{normalize_text(ticket.body)}\n\n{inbound.comment}".strip(),
            "requester": {k: v for k, v in (ticket.requester or {}).items() if v},
            "channel": ticket.channel,
            "language": ticket.language,
            "tags": list(ticket.tags or []),
            "metadata": dict(ticket.extra or {}),
        }


def decide_comment(ctx: Context, source: str, inbound: Inbound, load: Any) -> IntakeResult | None:
    """A requester's comment: a new revision of the stored ticket (once per event id)."""
    event = stored_event(ctx, source, inbound.event_id or "")
    if event is not None:
        return _replayed(ctx, source, event) or None
    data = revision_from_comment(ctx, source, inbound)
    if not record(ctx, source, inbound):
        event = stored_event(ctx, source, inbound.event_id or "")
        return _replayed(ctx, source, event) if event else None
    if data is None:
        return None
    result = submit(ctx, source, load(data))
    _link(ctx, source, inbound.event_id or "", result.decision["decision_id"])
    return result


def event_answer(inbound: Inbound, stored: bool) -> dict[str, Any]:
    return {
        "recorded": inbound.event_type,
        "event_id": inbound.event_id,
        "ticket_id": inbound.external_id,
        "duplicate": not stored,
    }
