"""Plain dicts out of review rows, shared by the queue, resolve and export modules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Ticket
from ..db.review import ReviewItem, ReviewItemReason, ReviewLabel


def label_dict(label: ReviewLabel) -> dict[str, Any]:
    return {
        "id": label.id,
        "reviewer": label.reviewer,
        "intent": label.intent,
        "queue": label.queue,
        "note": label.note,
        "model_intent": label.model_intent,
        "model_queue": label.model_queue,
        "model_version": label.model_version,
        "overridden": label.overridden,
        "corrected": label.corrected,
        "created_at": label.created_at,
    }


def item_dict(
    item: ReviewItem,
    source: str,
    external_id: str,
    reasons: list[str],
    labels: list[ReviewLabel],
    now: datetime,
) -> dict[str, Any]:
    end = item.resolved_at or now
    return {
        "id": item.id,
        "status": item.status,
        "ticket": {"source": source, "id": external_id},
        "revision": item.revision,
        "decision_id": item.decision_id,
        "text": item.text,
        "intent": item.intent,
        "queue": item.queue,
        "priority": item.priority,
        "escalated": item.escalated,
        "reasons": reasons,
        "model_version": item.model_version,
        "enqueued_at": item.enqueued_at,
        "waiting_s": max(0.0, round((end - item.enqueued_at).total_seconds(), 3)),
        "claimed_by": item.claimed_by if item.claim_expires_at and item.claim_expires_at >= now else None,
        "claim_expires_at": item.claim_expires_at if item.claim_expires_at and item.claim_expires_at >= now else None,
        "labels_needed": item.labels_needed,
        "labels": [label_dict(lab) for lab in labels],
        "resolved_at": item.resolved_at,
        "superseded_by": item.superseded_by,
    }


def items_out(session: Session, items: Iterable[ReviewItem], now: datetime) -> list[dict[str, Any]]:
    """Dicts for ``items`` with their ticket, reasons and labels, in three queries whatever the count."""
    items = list(items)
    if not items:
        return []
    ids = [i.id for i in items]
    tickets = {
        row.id: (row.source, row.external_id)
        for row in session.execute(
            select(Ticket.id, Ticket.source, Ticket.external_id).where(Ticket.id.in_({i.ticket_id for i in items}))
        )
    }
    reasons: dict[int, list[str]] = defaultdict(list)
    for item_id, reason in session.execute(
        select(ReviewItemReason.item_id, ReviewItemReason.reason).where(ReviewItemReason.item_id.in_(ids))
    ):
        reasons[item_id].append(reason)
    labels: dict[int, list[ReviewLabel]] = defaultdict(list)
    for label in session.scalars(select(ReviewLabel).where(ReviewLabel.item_id.in_(ids)).order_by(ReviewLabel.id)):
        labels[label.item_id].append(label)
    return [item_dict(i, *tickets[i.ticket_id], sorted(reasons[i.id]), labels[i.id], now) for i in items]


def ticket_dict(ticket: Ticket) -> dict[str, Any]:
    """The ticket as plugins see it (the same keys intake hands to ``router_on_review_request``)."""
    from ..services.intake import stored_ticket

    return stored_ticket(ticket)
