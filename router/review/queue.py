"""The review queue: enqueue decisions that need a person, list them in order, claim and release.

A claim is a lease: the reviewer holds the item until ``claim_expires_at``; after that anyone may
claim it again. Claiming is one conditional UPDATE checked by its row count, so two reviewers
(two threads, two gunicorn workers, two instances on PostgreSQL) can never both hold an item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Result,
    Table,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from ..context import Context
from ..db.review import REASON_MAX, ReviewItem, ReviewItemReason, ReviewLabel
from ..errors import Conflict, NotFound
from ..routing.ruleset import PRIORITIES
from . import _settings
from ._rows import items_out

_RANK = {p: len(PRIORITIES) - 1 - i for i, p in enumerate(PRIORITIES)}  # urgent 0 .. low 3
_ITEMS = cast(Table, ReviewItem.__table__)
_REASONS = cast(Table, ReviewItemReason.__table__)


_INSERT_ITEM = insert(_ITEMS).returning(_ITEMS.c.id)  # built once: its cache key is computed once
_INSERT_REASON = insert(_REASONS)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (the conditional UPDATEs here decide who wins by this count)."""
    return int(cast(CursorResult[Any], result).rowcount)


def record_decision(conn: Connection, ticket_id: int, text: str, decision: Mapping[str, Any]) -> int | None:
    """Inside intake's transaction: close the ticket's older open items, and queue this decision
    when it needs a person; returns the new item's id. ``decision`` is the stored decision row
    (``id``, ``revision``, ``intent``, ``queue``, ``priority``, ...). Older items are closed as
    ``superseded`` whatever the new decision, because the text they show is no longer the ticket's."""
    item_id = None
    if decision["needs_review"]:
        # rule and plugin reasons are free text: cut to the column so a long one cannot fail intake
        reasons = list(dict.fromkeys(str(r)[:REASON_MAX] for r in decision["review_reasons"]))
        item_id = conn.execute(
            _INSERT_ITEM,
            {
                "ticket_id": ticket_id,
                "decision_id": decision["id"],
                "revision": decision["revision"],
                "status": "open",
                "text": text,
                "intent": decision["intent"],
                "queue": decision["queue"],
                "priority": decision["priority"],
                "priority_rank": _RANK.get(decision["priority"], _RANK["normal"]),
                "escalated": bool(decision["escalation"]),
                "model_version": decision["model_version"],
                "labels_needed": _settings.labels_needed(reasons),
                "labels_count": 0,
                "enqueued_at": decision["decided_at"] or utcnow(),
            },
        ).scalar_one()
        conn.execute(_INSERT_REASON, [{"item_id": item_id, "reason": r} for r in reasons])
    if decision["revision"] > 1:
        conn.execute(
            update(_ITEMS)
            .where(
                _ITEMS.c.ticket_id == ticket_id,
                _ITEMS.c.status == "open",
                _ITEMS.c.revision < decision["revision"],
            )
            .values(
                status="superseded",
                superseded_by=item_id,
                claimed_by=None,
                claimed_at=None,
                claim_expires_at=None,
            )
        )
    return item_id


@dataclass(frozen=True)
class QueueFilter:
    """What ``GET /v1/review`` may ask for; ages in seconds of waiting."""

    status: str = "open"
    reasons: list[str] = field(default_factory=list)
    intent: str | None = None
    queue: str | None = None
    min_age_s: float | None = None
    max_age_s: float | None = None
    available_to: str | None = None  # only items this reviewer could claim now
    page: int = 1
    page_size: int = 50


def _claimable(reviewer: str, now: datetime) -> ColumnElement[bool]:
    """Open, not held by someone else, and not already labelled by this reviewer."""
    labelled = exists().where(ReviewLabel.item_id == ReviewItem.id, ReviewLabel.reviewer == reviewer)
    return and_(
        ReviewItem.status == "open",
        or_(
            ReviewItem.claimed_by.is_(None),
            ReviewItem.claimed_by == reviewer,
            ReviewItem.claim_expires_at < now,
        ),
        ~labelled,
    )


def list_items(ctx: Context, filters: QueueFilter, now: datetime | None = None) -> dict[str, Any]:
    """One page of the queue: escalated first, then priority (urgent first), then longest waiting."""
    now = now or utcnow()
    conditions: list[ColumnElement[bool]] = []
    if filters.status != "all":
        conditions.append(ReviewItem.status == filters.status)
    if filters.reasons:
        conditions.append(
            ReviewItem.id.in_(select(ReviewItemReason.item_id).where(ReviewItemReason.reason.in_(filters.reasons)))
        )
    if filters.intent:
        conditions.append(ReviewItem.intent == filters.intent)
    if filters.queue:
        conditions.append(ReviewItem.queue == filters.queue)
    if filters.min_age_s is not None:
        conditions.append(ReviewItem.enqueued_at <= now - timedelta(seconds=filters.min_age_s))
    if filters.max_age_s is not None:
        conditions.append(ReviewItem.enqueued_at >= now - timedelta(seconds=filters.max_age_s))
    if filters.available_to:
        conditions.append(_claimable(filters.available_to, now))
    with ctx.db.session() as s:
        total = s.scalar(select(func.count(ReviewItem.id)).where(*conditions)) or 0
        page = s.scalars(
            select(ReviewItem)
            .where(*conditions)
            .order_by(
                ReviewItem.escalated.desc(),
                ReviewItem.priority_rank,
                ReviewItem.enqueued_at,
                ReviewItem.id,
            )
            .limit(filters.page_size)
            .offset((filters.page - 1) * filters.page_size)
        ).all()
        items = items_out(s, page, now)
    return {"items": items, "total": total, "page": filters.page, "page_size": filters.page_size}


def get_item(ctx: Context, item_id: int, now: datetime | None = None) -> dict[str, Any]:
    with ctx.db.session() as s:
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFound(f"no review item {item_id}")
        return items_out(s, [item], now or utcnow())[0]


def claim(ctx: Context, item_id: int, reviewer: str, now: datetime | None = None) -> dict[str, Any]:
    """Claim the item for ``reviewer`` (renewing their own claim); 409 when someone else holds it.

    The conditional UPDATE is the transaction's first statement: on SQLite it takes the write lock
    before anything is read, on PostgreSQL a concurrent claimer waits for the row and re-checks.
    """
    now = now or utcnow()
    expires = now + _settings.claim_ttl()
    with ctx.db.session() as s:
        item = update_or_refuse(
            s,
            item_id,
            reviewer,
            now,
            "claimed",
            _claimable(reviewer, now),
            claimed_by=reviewer,
            claimed_at=now,
            claim_expires_at=expires,
        )
        return items_out(s, [item], now)[0]


def release(ctx: Context, item_id: int, reviewer: str, now: datetime | None = None) -> dict[str, Any]:
    """Give a claimed item back before its claim expires (a reviewer skips it)."""
    now = now or utcnow()
    with ctx.db.session() as s:
        item = update_or_refuse(
            s,
            item_id,
            reviewer,
            now,
            "released",
            held_by(reviewer),
            claimed_by=None,
            claimed_at=None,
            claim_expires_at=None,
        )
        return items_out(s, [item], now)[0]


def held_by(reviewer: str) -> ColumnElement[bool]:
    """Open and claimed by ``reviewer``."""
    return and_(ReviewItem.status == "open", ReviewItem.claimed_by == reviewer)


def update_or_refuse(
    session: Session, item_id: int, reviewer: str, now: datetime, action: str, condition: Any, **values: Any
) -> ReviewItem:
    """One conditional UPDATE of the item, decided by its row count: the updated item when it
    matched, otherwise the error explaining why (see :func:`refusal`)."""
    matched = rowcount(
        session.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id, condition)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    )
    if matched != 1:
        raise refusal(session, item_id, reviewer, now, action)
    item = session.get(ReviewItem, item_id)
    assert item is not None
    return item


def refusal(session: Session, item_id: int, reviewer: str, now: datetime, action: str) -> Exception:
    """The error explaining why a conditional UPDATE on the item matched nothing."""
    item = session.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        return NotFound(f"no review item {item_id}")
    if item.status == "resolved":
        who = ", ".join(
            session.scalars(select(ReviewLabel.reviewer).where(ReviewLabel.item_id == item_id).order_by(ReviewLabel.id))
        )
        when = item.resolved_at.isoformat() if item.resolved_at else "earlier"
        return Conflict(
            f"review item {item_id} was already resolved by {who or 'a reviewer'} at {when}; it cannot be {action}",
            errors={"status": ["resolved"]},
        )
    if item.status == "superseded":
        newer = f"item {item.superseded_by}" if item.superseded_by else "a newer revision that needs no review"
        return Conflict(
            f"review item {item_id} was superseded by {newer} of the same ticket; review that instead",
            errors={"status": ["superseded"], "superseded_by": [item.superseded_by]},
        )
    labelled = session.scalar(
        select(func.count(ReviewLabel.id)).where(ReviewLabel.item_id == item_id, ReviewLabel.reviewer == reviewer)
    )
    if labelled:
        return Conflict(
            f"you already labelled review item {item_id}; it is waiting for another reviewer",
            errors={"reviewer": ["already labelled this item"]},
        )
    held = item.claimed_by and item.claim_expires_at and item.claim_expires_at >= now
    if held and item.claimed_by != reviewer:
        assert item.claim_expires_at is not None
        return Conflict(
            f"review item {item_id} is claimed by {item.claimed_by} until {item.claim_expires_at.isoformat()}",
            errors={"claimed_by": [item.claimed_by]},
        )
    return Conflict(
        f"you do not hold the claim on review item {item_id}; claim it first (POST /v1/review/{item_id}/claim)",
        errors={"claim": ["not held"]},
    )


def for_decisions(conn: Connection, decision_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each reviewed decision's review (for the ticket view): its item, status and reviewers' labels.

    ``labels`` are oldest first; ``intent`` and ``queue`` are the latest label's, i.e. what a
    person decided the ticket is, beside the model's own intent on the decision.
    """
    found: dict[int, dict[str, Any]] = {}
    if not decision_ids:
        return found
    items = _ITEMS
    labels = cast(Table, ReviewLabel.__table__)
    for row in conn.execute(
        select(items.c.id, items.c.decision_id, items.c.status).where(items.c.decision_id.in_(decision_ids))
    ).mappings():
        found[row["decision_id"]] = {"item_id": row["id"], "status": row["status"], "labels": []}
    rows = conn.execute(
        select(labels).where(labels.c.decision_id.in_(decision_ids)).order_by(labels.c.created_at, labels.c.id)
    ).mappings()
    for label in rows:
        review = found.setdefault(label["decision_id"], {"item_id": label["item_id"], "status": None, "labels": []})
        review["labels"].append(
            {
                "reviewer": label["reviewer"],
                "intent": label["intent"],
                "queue": label["queue"],
                "note": label["note"],
                "corrected": label["corrected"],
                "at": label["created_at"],
            }
        )
    for review in found.values():
        latest = review["labels"][-1] if review["labels"] else None
        review["intent"] = latest["intent"] if latest else None
        review["queue"] = latest["queue"] if latest else None
    return found
