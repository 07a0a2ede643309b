"""Intake: store a ticket idempotently and answer with its decision.

Helpdesks retry. The same source + id with the same subject and body gets the stored decision
back without deciding again; changed content is decided again and stored as a new revision.
The caller gets an answer only after the ticket and its decision are committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Context
from ..db import Decision, Ticket
from ..errors import NotFound, ValidationError
from ..ml.normalize import normalize_text
from ..review import queue as review_queue
from . import shadow
from .decide import decide, observe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    decision: dict[str, Any]
    created: bool  # False when a retry got the stored decision back


def content_hash(subject: str, body: str) -> str:
    return hashlib.sha256(json.dumps([subject, body], ensure_ascii=False).encode()).hexdigest()


def _normalised(source: str, data: dict[str, Any]) -> dict[str, Any]:
    subject, body = data.get("subject") or "", data.get("body") or ""
    norm_subject, norm_body = normalize_text(subject), normalize_text(body)
    text = " ".join(p for p in (norm_subject, norm_body) if p)
    if not text:
        raise ValidationError(
            "the ticket has no words left after removing markup, quotes and signatures",
            errors={"body": ["no text to classify"]},
        )
    requester = data.get("requester") or {}
    return {
        "source": source,
        "id": str(data["id"]),
        "subject": norm_subject,
        "body": norm_body,
        "raw_subject": subject,
        "raw_body": body,
        "text": text,
        "requester": {k: requester.get(k) for k in ("email", "name", "tier")},
        "channel": data.get("channel"),
        "language": data.get("language"),
        "tags": list(data.get("tags") or []),
        "metadata": dict(data.get("metadata") or {}),
        "created_at": data.get("created_at"),
        "content_hash": content_hash(subject, body),
    }


def decision_dict(ticket: Ticket, row: Decision) -> dict[str, Any]:
    return {
        "decision_id": row.id,
        "ticket_id": ticket.external_id,
        "source": ticket.source,
        "revision": row.revision,
        "intent": row.intent,
        "confidence": row.confidence,
        "alternatives": row.alternatives,
        "queue": row.queue,
        "priority": row.priority,
        "escalation": row.escalation,
        "tags": row.tags,
        "needs_review": row.needs_review,
        "review_reasons": row.review_reasons,
        "explanation": row.explanation,
        "novelty": row.novelty,
        "model_version": row.model_version,
        "ruleset_version": row.ruleset_version,
        "decided_at": row.decided_at,
    }


def _find(session: Session, source: str, external_id: str, lock: bool = False) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def _latest(session: Session, ticket: Ticket) -> Decision:
    row = session.scalars(
        select(Decision).where(Decision.ticket_id == ticket.id).order_by(Decision.revision.desc()).limit(1)
    ).first()
    assert row is not None, "a stored ticket always has a decision"
    return row


def _replay(ctx: Context, t: dict[str, Any]) -> IntakeResult | None:
    with ctx.db.session() as s:
        existing = _find(s, t["source"], t["id"])
        if existing is not None and existing.content_hash == t["content_hash"]:
            return IntakeResult(decision_dict(existing, _latest(s, existing)), created=False)
    return None


def submit(ctx: Context, source: str, data: dict[str, Any]) -> IntakeResult:
    """Store the ticket and its decision in one transaction, or return the stored decision."""
    t = _normalised(source, data)
    replay = _replay(ctx, t)
    if replay is not None:
        return replay
    decision = decide(ctx, t)
    try:
        result = _store(ctx, t, decision)
    except IntegrityError:
        # A concurrent retry of the same new ticket committed first: answer with what it stored.
        replay = _replay(ctx, t)
        if replay is None:
            raise
        return replay
    if result.created:
        observe(result.decision)
        stored = result.decision
        if stored["escalation"]:
            ctx.plugins.call_each("router_on_escalation", decision=stored, ticket=t)
        if stored["needs_review"]:
            ctx.plugins.call_each("router_on_review_request", decision=stored, ticket=t)
        shadow.submit(ctx, t, stored, stored["decision_id"])
    return result


def _store(ctx: Context, t: dict[str, Any], decision: dict[str, Any]) -> IntakeResult:
    now = datetime.now(UTC)
    with ctx.db.session() as s:
        ticket = _find(s, t["source"], t["id"], lock=True)
        if ticket is not None and ticket.content_hash == t["content_hash"]:
            return IntakeResult(decision_dict(ticket, _latest(s, ticket)), created=False)
        if ticket is None:
            ticket = Ticket(source=t["source"], external_id=t["id"], received_at=now)
            s.add(ticket)
            revision = 1
        else:
            revision = (s.scalar(select(func.max(Decision.revision)).where(Decision.ticket_id == ticket.id)) or 0) + 1
        ticket.subject, ticket.body, ticket.text = t["raw_subject"], t["raw_body"], t["text"]
        ticket.requester, ticket.channel, ticket.language = t["requester"], t["channel"], t["language"]
        ticket.tags, ticket.extra, ticket.created_at = t["tags"], t["metadata"], t["created_at"]
        ticket.content_hash, ticket.updated_at = t["content_hash"], now
        s.flush()
        fields = {k: v for k, v in decision.items() if k in Decision.__table__.columns}
        row = Decision(ticket_id=ticket.id, revision=revision, content_hash=t["content_hash"], **fields)
        s.add(row)
        s.flush()
        if row.needs_review or revision > 1:  # queue it; a new revision supersedes the open older item
            review_queue.record_decision(s, ticket, row)
        return IntakeResult(decision_dict(ticket, row), created=True)


def stored_ticket(ticket: Ticket) -> dict[str, Any]:
    """A stored ticket as rules, plugins and readers see it."""
    return {
        "source": ticket.source,
        "id": ticket.external_id,
        "subject": ticket.subject,
        "body": ticket.body,
        "text": ticket.text,
        "requester": ticket.requester,
        "channel": ticket.channel,
        "language": ticket.language,
        "tags": ticket.tags,
        "metadata": ticket.extra,
        "created_at": ticket.created_at,
    }


def ticket_with_decisions(ctx: Context, source: str, external_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        ticket = _find(s, source, external_id)
        if ticket is None:
            raise NotFound(f"no ticket {external_id!r} from source {source!r}")
        return {
            **stored_ticket(ticket),
            "received_at": ticket.received_at,
            "decisions": [decision_dict(ticket, d) for d in reversed(ticket.decisions)],
        }
