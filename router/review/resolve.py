"""Resolve a claimed item with the reviewer's intent and queue, then tell the plugins about corrections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..context import Context
from ..db import Decision, Ticket
from ..db.review import ReviewItem, ReviewLabel
from ..delivery import enqueue_decision
from ..errors import ValidationError
from ..monitoring import metrics
from ._rows import items_out, label_dict, ticket_dict
from .queue import held_by, update_or_refuse, utcnow


def check_label(ctx: Context, intent: str, queue: str) -> None:
    """422 unless ``intent`` is one of the active model's labels and ``queue`` one of the rule set's."""
    errors: dict[str, list[str]] = {}
    labels = set(ctx.runtime.current().model.classes)
    if intent not in labels:
        errors["intent"] = [f"{intent!r} is not one of the active model's {len(labels)} intents"]
    queues = ctx.ruleset().queues
    if queue not in queues:
        errors["queue"] = [f"{queue!r} is not a queue of the rule set in force; choose one of {', '.join(queues)}"]
    if errors:
        raise ValidationError("the label names an unknown intent or queue", errors=errors)


def resolve(
    ctx: Context, item_id: int, reviewer: str, intent: str, queue: str, note: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """Store ``reviewer``'s label on an item they hold; the item is resolved once it has enough labels.

    The claim is released and checked in one conditional UPDATE (the transaction's first statement),
    so a second resolve, or one without the claim, matches nothing and is refused with 409.
    """
    check_label(ctx, intent, queue)
    now = now or utcnow()
    with ctx.db.session() as s:
        item = update_or_refuse(
            s,
            item_id,
            reviewer,
            now,
            "resolved",
            held_by(reviewer),
            claimed_by=None,
            claimed_at=None,
            claim_expires_at=None,
            labels_count=ReviewItem.labels_count + 1,
        )
        decision = s.get(Decision, item.decision_id)
        ticket = s.get(Ticket, item.ticket_id)
        assert decision is not None and ticket is not None
        label = ReviewLabel(
            item_id=item.id,
            ticket_id=item.ticket_id,
            decision_id=item.decision_id,
            reviewer=reviewer,
            intent=intent,
            queue=queue,
            note=note,
            model_intent=decision.intent,
            model_queue=decision.queue,
            model_version=decision.model_version,
            overridden=intent != decision.intent,
            corrected=intent != decision.intent or queue != decision.queue,
            created_at=now,
        )
        s.add(label)
        if item.labels_count >= item.labels_needed:
            item.status, item.resolved_at = "resolved", now
        s.flush()
        queued = None
        if label.corrected and item.status == "resolved":
            # the correction reaches the helpdesk like a decision does (same transaction, same outbox)
            queued = enqueue_decision(
                s.connection(),
                ctx.settings,
                ctx.connectors(),
                ticket_id=item.ticket_id,
                decision_id=item.decision_id,
                source=ticket.source,
                kind="correction",
                payload={"correction": {"reviewer": reviewer, "intent": intent, "queue": queue, "note": note}},
            )
        out = items_out(s, [item], now)[0]
        outcome = {
            **label_dict(label),
            "item_id": item.id,
            "item_status": item.status,
            "labels_needed": item.labels_needed,
            "labels_count": item.labels_count,
            "decision_id": item.decision_id,
            "revision": item.revision,
            "ticket": out["ticket"],
        }
        ticket_seen = ticket_dict(ticket)
    if queued is not None:
        ctx.delivery.wake()
    metrics.REVIEW_LABELS.labels(outcome="corrected" if label.corrected else "confirmed").inc()
    if label.corrected:
        ctx.plugins.call_each("router_on_review_outcome", outcome=outcome, ticket=ticket_seen)
    return out
