"""Intake: store a ticket idempotently and answer with its decision.

Helpdesks retry. The same source + id with the same subject and body gets the stored decision
back and nothing new is stored; changed content is decided again and stored as a new revision.
The caller gets an answer only after the ticket and its decision are committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, RowMapping, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..context import Context
from ..db import Decision, Ticket
from ..db.driver import DriverStatement
from ..delivery import enqueue_decision, outbox
from ..errors import NotFound, ValidationError
from ..ml.normalize import normalize_text
from ..review import queue as review_queue
from . import shadow
from .decide import decide, observe
from .outcomes import for_decisions as outcome_rows

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


_TICKETS = cast(Table, Ticket.__table__)
_DECISIONS = cast(Table, Decision.__table__)
_DECISION_FIELDS = tuple(c.name for c in _DECISIONS.columns if c.name not in ("id", "ticket_id", "content_hash"))
_FIND = select(_TICKETS.c.id, _TICKETS.c.content_hash).where(
    _TICKETS.c.source == bindparam("source"), _TICKETS.c.external_id == bindparam("external_id")
)
_DECISIONS_OF = (
    select(_DECISIONS).where(_DECISIONS.c.ticket_id == bindparam("ticket_id")).order_by(_DECISIONS.c.revision.desc())
)
# The write path's statements, built once: SQLAlchemy then computes each one's cache key once too.
# A new ticket's three statements (and a retry's find) run on the driver's cursor (see router.db.driver).
_TICKET_VALUES = (
    "subject", "body", "text", "requester", "channel", "language", "tags", "metadata", "created_at",
    "content_hash", "updated_at",
)  # fmt: skip
_FIND_ANY = DriverStatement(_FIND, ("source", "external_id"))
_FIND_LOCKED = DriverStatement(_FIND.with_for_update(), ("source", "external_id"))
_LATEST = _DECISIONS_OF.limit(1)
_INSERT_TICKET = DriverStatement(
    insert(_TICKETS).returning(_TICKETS.c.id), ("source", "external_id", "received_at", *_TICKET_VALUES)
)
_UPDATE_TICKET = update(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_pk"))
_LAST_REVISION = select(func.max(_DECISIONS.c.revision)).where(_DECISIONS.c.ticket_id == bindparam("ticket_id"))
_INSERT_DECISION = DriverStatement(
    insert(_DECISIONS).returning(_DECISIONS.c.id), (*_DECISION_FIELDS, "ticket_id", "content_hash")
)


def decision_out(source: str, external_id: str, row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """A stored decision row as the API answers it."""
    return {
        "decision_id": row["id"],
        "ticket_id": external_id,
        "source": source,
        **{k: row[k] for k in _DECISION_FIELDS},
    }


def _find(conn: Connection, source: str, external_id: str, lock: bool = False) -> tuple[int, str] | None:
    """The stored ticket's ``(id, content_hash)``; ``lock`` holds it until the transaction ends."""
    found: tuple[int, str] | None = (_FIND_LOCKED if lock else _FIND_ANY).one(
        conn, {"source": source, "external_id": external_id}
    )
    return found


def _latest(conn: Connection, t: dict[str, Any], ticket_id: int) -> IntakeResult:
    row = conn.execute(_LATEST, {"ticket_id": ticket_id}).mappings().first()
    assert row is not None, "a stored ticket always has a decision"
    return IntakeResult(decision_out(t["source"], t["id"], row), created=False)


def _replay(ctx: Context, t: dict[str, Any]) -> IntakeResult | None:
    with ctx.db.engine.connect() as conn:
        existing = _find(conn, t["source"], t["id"])
        if existing is not None and existing[1] == t["content_hash"]:
            return _latest(conn, t, existing[0])
    return None


def submit(ctx: Context, source: str, data: dict[str, Any]) -> IntakeResult:
    """Store the ticket and its decision in one transaction, or return the stored decision."""
    t = _normalised(source, data)
    # No read before deciding: the write transaction finds a retry (same content) and answers with
    # the stored decision, so a new ticket, nearly every request, costs one transaction.
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
    """One transaction: the ticket row (new or updated), the decision revision, the review item."""
    now = datetime.now(UTC)
    values = {
        "subject": t["raw_subject"],
        "body": t["raw_body"],
        "text": t["text"],
        "requester": t["requester"],
        "channel": t["channel"],
        "language": t["language"],
        "tags": t["tags"],
        "metadata": t["metadata"],
        "created_at": t["created_at"],
        "content_hash": t["content_hash"],
        "updated_at": now,
    }
    with ctx.db.write() as conn:
        ticket = _find(conn, t["source"], t["id"], lock=True)
        if ticket is not None and ticket[1] == t["content_hash"]:
            return _latest(conn, t, ticket[0])
        if ticket is None:
            ticket_id = _INSERT_TICKET.one(
                conn, {"source": t["source"], "external_id": t["id"], "received_at": now, **values}
            )[0]
            revision = 1
        else:
            ticket_id = ticket[0]
            conn.execute(_UPDATE_TICKET, {**values, "ticket_pk": ticket_id})
            last = conn.scalar(_LAST_REVISION, {"ticket_id": ticket_id})
            revision = (last or 0) + 1
        row = {**{k: decision[k] for k in _DECISION_FIELDS if k != "revision"}, "revision": revision}
        row["id"] = _INSERT_DECISION.one(conn, {**row, "ticket_id": ticket_id, "content_hash": t["content_hash"]})[0]
        review_queue.record_decision(conn, ticket_id, t["text"], row)
        queued = enqueue_decision(
            conn,
            ctx.settings,
            ctx.connectors(),
            ticket_id=ticket_id,
            decision_id=row["id"],
            source=t["source"],
            new_ticket=ticket is None,
        )
    if queued is not None:
        ctx.delivery.wake()
    return IntakeResult(decision_out(t["source"], t["id"], row), created=True)


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
        ticket = s.scalars(select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)).first()
        if ticket is None:
            raise NotFound(f"no ticket {external_id!r} from source {source!r}")
        conn = s.connection()
        decisions = [
            decision_out(source, external_id, row)
            for row in conn.execute(_DECISIONS_OF, {"ticket_id": ticket.id}).mappings()
        ]
        ids = [d["decision_id"] for d in decisions]
        sent, reviews, seen = (
            outbox.for_decisions(conn, ids),
            review_queue.for_decisions(conn, ids),
            outcome_rows(conn, ids),
        )
        for d in decisions:
            d["deliveries"] = sent.get(d["decision_id"], [])
            d["review"] = reviews.get(d["decision_id"])
            d["outcome"] = seen.get(d["decision_id"])
        return {**stored_ticket(ticket), "received_at": ticket.received_at, "decisions": decisions}
