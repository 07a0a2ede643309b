"""The outbox: delivery rows written with the decision, claimed with a lease, finished once.

Statuses: ``pending`` (waiting, possibly for a retry time), ``sending`` (claimed by a worker until
``lease_until``), ``delivered``, ``dead`` (a permanent failure or too many attempts; an operator
may retry it) and ``superseded`` (a newer decision on the same ticket replaced it before it went).

Every write is one conditional statement, so any number of workers and instances deliver each
row once: a claim takes a row only while it is due and not leased (on PostgreSQL ``FOR UPDATE
SKIP LOCKED`` lets concurrent claimers pass each other); finishing requires still holding the
lease. A worker killed mid-delivery leaves its lease to expire, and the row is claimed again.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from ..db import Decision, Ticket
from ..db.delivery import Delivery
from ..db.session import Database
from ..errors import Conflict, NotFound, ValidationError
from .budget import SharedBudget

STATUSES = ("pending", "sending", "delivered", "dead", "superseded")
OPEN = ("pending", "sending")
_T = cast(Table, Delivery.__table__)


def now_utc() -> datetime:
    return datetime.now(UTC)


def enqueue(
    conn: Connection,
    *,
    ticket_id: int,
    decision_id: int,
    source: str,
    connector: str,
    mode: str,
    kind: str = "decision",
    payload: Mapping[str, Any] | None = None,
    new_ticket: bool = False,
) -> int:
    """Add a delivery inside the caller's transaction; older undelivered ones of the ticket are
    superseded (a row being sent finishes first, then this one goes). A ``new_ticket`` has none."""
    at = now_utc()
    new_id = conn.execute(
        insert(_T).returning(_T.c.id),
        {
            "ticket_id": ticket_id,
            "decision_id": decision_id,
            "source": source,
            "connector": connector,
            "kind": kind,
            "mode": mode,
            "status": "pending",
            "payload": dict(payload or {}),
            "attempts": 0,
            "created_at": at,
            "next_attempt_at": at,
            "last_error": "",
        },
    ).scalar_one()
    if not new_ticket:
        conn.execute(
            update(_T)
            .where(_T.c.ticket_id == ticket_id, _T.c.id < new_id, _T.c.status == "pending")
            .values(status="superseded", superseded_by=new_id, finished_at=at, lease_owner=None, lease_until=None)
        )
    return int(new_id)


def _claimable(at: datetime, connectors: Sequence[str]) -> Any:
    older = aliased(_T)
    due = or_(
        and_(_T.c.status == "pending", _T.c.next_attempt_at <= at),
        and_(_T.c.status == "sending", _T.c.lease_until < at),
    )
    # per ticket, in order: nothing older still open, nothing else being sent right now
    blocked = exists().where(
        older.c.ticket_id == _T.c.ticket_id,
        older.c.id != _T.c.id,
        or_(
            and_(older.c.id < _T.c.id, older.c.status.in_(OPEN)),
            and_(older.c.status == "sending", older.c.lease_until >= at),
        ),
    )
    return and_(due, ~blocked, _T.c.connector.in_(list(connectors)))


def due(db: Database, connector: str, limit: int) -> int:
    """How many of ``connector``'s rows could be claimed now, counted up to ``limit`` (a read)."""
    ids = select(_T.c.id).where(_claimable(now_utc(), [connector])).limit(limit).subquery()
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ids)) or 0)


def claim(db: Database, owner: str, connectors: Sequence[str], *, limit: int, lease_s: float) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due rows for ``owner``; each row is claimed by exactly one caller.

    It takes the write lock: callers read :func:`due` first, since most polls find nothing."""
    if not connectors:
        return []
    at = now_utc()
    until = at + timedelta(seconds=lease_s)
    with db.write() as conn:
        _supersede_abandoned(conn, at)
        query = select(_T.c.id).where(_claimable(at, connectors)).order_by(_T.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=_T)
        ids = list(conn.execute(query).scalars())
        claimed = []
        for row_id in ids:
            done = conn.execute(
                update(_T)
                .where(_T.c.id == row_id, _claimable(at, connectors))
                .values(status="sending", lease_owner=owner, lease_until=until, attempts=_T.c.attempts + 1)
            )
            if done.rowcount == 1:
                claimed.append(row_id)
        if not claimed:
            return []
        rows = conn.execute(select(_T).where(_T.c.id.in_(claimed)).order_by(_T.c.id)).mappings()
        return [dict(r) for r in rows]


def _supersede_abandoned(conn: Connection, at: datetime) -> None:
    """A row whose worker died mid-send is not sent again once a newer decision waits behind it."""
    newer = aliased(_T)
    conn.execute(
        update(_T)
        .where(
            _T.c.status == "sending",
            _T.c.lease_until < at,
            exists().where(newer.c.ticket_id == _T.c.ticket_id, newer.c.id > _T.c.id, newer.c.status == "pending"),
        )
        .values(status="superseded", finished_at=at, lease_owner=None, lease_until=None)
    )


def finish(db: Database, row_id: int, owner: str, result: Mapping[str, Any], status_code: int | None = None) -> bool:
    """Mark a leased row delivered; False when the lease was lost (another worker has it now)."""
    at = now_utc()
    with db.write() as conn:
        done = conn.execute(
            update(_T)
            .where(_T.c.id == row_id, _T.c.status == "sending", _T.c.lease_owner == owner)
            .values(
                status="delivered",
                result=dict(result),
                finished_at=at,
                lease_owner=None,
                lease_until=None,
                last_status=status_code,
                last_error="",
            )
        )
        return done.rowcount == 1


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def fail(
    db: Database,
    row: Mapping[str, Any],
    owner: str,
    *,
    error: str,
    status_code: int | None,
    response: str,
    permanent: bool,
    retry_after: float | None,
    max_attempts: int,
    base_s: float,
    cap_s: float,
) -> str:
    """Record a failed attempt: back to ``pending`` after the backoff (``Retry-After`` wins when
    longer), or ``dead`` when permanent or out of attempts. Returns the new status."""
    at = now_utc()
    dead = permanent or row["attempts"] >= max_attempts
    delay = backoff_s(row["attempts"], base_s, cap_s)
    if retry_after is not None:
        delay = max(delay, retry_after)
    values: dict[str, Any] = {
        "last_error": error[:2000],
        "last_status": status_code,
        "result": {"response": response[:2000]} if response else None,
        "lease_owner": None,
        "lease_until": None,
    }
    if dead:
        values.update(status="dead", finished_at=at)
    else:
        values.update(status="pending", next_attempt_at=at + timedelta(seconds=delay))
    with db.write() as conn:
        conn.execute(
            update(_T).where(_T.c.id == row["id"], _T.c.status == "sending", _T.c.lease_owner == owner).values(values)
        )
    return "dead" if dead else "pending"


def release(db: Database, row_id: int, owner: str, delay_s: float) -> None:
    """Give a claimed row back without counting the attempt (the worker is stopping, or the helpdesk's
    budget ran low before the row's turn)."""
    with db.write() as conn:
        conn.execute(
            update(_T)
            .where(_T.c.id == row_id, _T.c.status == "sending", _T.c.lease_owner == owner)
            .values(
                status="pending",
                lease_owner=None,
                lease_until=None,
                attempts=_T.c.attempts - 1,
                next_attempt_at=now_utc() + timedelta(seconds=delay_s),
            )
        )


def retry(db: Database, ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Send dead letters again (all of them when ``ids`` is None). A dead row whose ticket has a
    newer delivery is superseded instead: the newer decision is what the helpdesk should get."""
    at = now_utc()
    newer = aliased(_T)
    wanted = None if ids is None else [int(i) for i in ids]
    with db.write() as conn:
        if wanted is not None:
            found = {r.id: r.status for r in conn.execute(select(_T.c.id, _T.c.status).where(_T.c.id.in_(wanted)))}
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound(f"no delivery {missing[0]}", errors={"id": [f"no delivery {i}" for i in missing]})
            not_dead = [i for i in wanted if found[i] != "dead"]
            if not_dead:
                raise Conflict(
                    f"delivery {not_dead[0]} is {found[not_dead[0]]}, not dead: only dead letters are retried",
                    errors={"id": [f"{i} is {found[i]}" for i in not_dead]},
                )
        scope = [_T.c.status == "dead"] + ([_T.c.id.in_(wanted)] if wanted is not None else [])
        has_newer = exists().where(newer.c.ticket_id == _T.c.ticket_id, newer.c.id > _T.c.id)
        superseded = conn.execute(
            update(_T).where(*scope, has_newer).values(status="superseded", finished_at=at)
        ).rowcount
        retried = conn.execute(
            update(_T)
            .where(*scope, ~has_newer)
            .values(status="pending", attempts=0, next_attempt_at=at, finished_at=None, last_error="")
        ).rowcount
    return {"retried": retried, "superseded": superseded}


# -- reading --------------------------------------------------------------------------------------


def _out(row: Any, external_id: str | None = None) -> dict[str, Any]:
    out = {
        k: row[k]
        for k in (
            "id",
            "decision_id",
            "source",
            "connector",
            "kind",
            "mode",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "finished_at",
            "last_status",
            "last_error",
            "result",
            "superseded_by",
        )
    }
    out["ticket_id"] = external_id if external_id is not None else row.get("external_id")
    out["outcome"] = (row["result"] or {}).get("outcome") if row["status"] == "delivered" else None
    return out


def list_deliveries(
    db: Database,
    *,
    status: str | None = None,
    source: str | None = None,
    ticket: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}", errors={"status": [f"one of {', '.join(STATUSES)}"]})
    conds = []
    if status:
        conds.append(_T.c.status == status)
    if source:
        conds.append(_T.c.source == source)
    tickets = cast(Table, Ticket.__table__)
    if ticket:
        conds.append(tickets.c.external_id == ticket)
    base = select(_T, tickets.c.external_id).join(tickets, tickets.c.id == _T.c.ticket_id).where(*conds)
    with db.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = conn.execute(base.order_by(_T.c.id.desc()).limit(page_size).offset((page - 1) * page_size)).mappings()
        items = [_out(r) for r in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def get_delivery(db: Database, row_id: int) -> dict[str, Any]:
    tickets = cast(Table, Ticket.__table__)
    with db.engine.connect() as conn:
        row = (
            conn.execute(
                select(_T, tickets.c.external_id).join(tickets, tickets.c.id == _T.c.ticket_id).where(_T.c.id == row_id)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no delivery {row_id}")
    out = _out(row)
    out["payload"] = row["payload"]
    return out


def for_decisions(conn: Connection, decision_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Deliveries by decision id, oldest first (for the ticket view)."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not decision_ids:
        return found
    rows = conn.execute(select(_T).where(_T.c.decision_id.in_(list(decision_ids))).order_by(_T.c.id)).mappings()
    for r in rows:
        found.setdefault(r["decision_id"], []).append(_out(r, external_id=""))
    for items in found.values():
        for item in items:
            item.pop("ticket_id", None)
    return found


def backlog(db: Database) -> dict[str, Any]:
    """Open deliveries: how many, the oldest one's age, dead letters, and the connectors paused by a
    helpdesk's ``Retry-After`` with the seconds left (for metrics, alerts and pages)."""
    at = now_utc()
    with db.engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(_T.c.created_at)).where(_T.c.status.in_(OPEN))
        ).one()
        dead = conn.scalar(select(func.count()).where(_T.c.status == "dead")) or 0
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (at - oldest).total_seconds() if oldest is not None else 0.0
    paused = {name: round(left, 1) for name, left in sorted(SharedBudget(db).paused().items())}
    return {"pending": int(pending or 0), "oldest_age_s": round(max(0.0, age), 3), "dead": int(dead), "paused": paused}


def history(conn: Connection, ticket_id: int, before_id: int | None = None) -> list[dict[str, Any]]:
    """The ticket's delivered rows (before ``before_id`` when given), oldest first."""
    conds = [_T.c.ticket_id == ticket_id, _T.c.status == "delivered"]
    if before_id is not None:
        conds.append(_T.c.id < before_id)
    columns = (_T.c.id, _T.c.result, _T.c.connector, _T.c.kind, _T.c.payload)
    rows = conn.execute(select(*columns).where(*conds).order_by(_T.c.id)).mappings()
    return [dict(r) for r in rows]


def written(results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """What the router's delivered write-backs set on a ticket: the latest value of each field."""
    wrote: dict[str, Any] = {}
    for result in results:
        wrote.update((result or {}).get("wrote") or {})
    return wrote


def job_inputs(db: Database, row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The stored decision, the stored ticket and the ticket's earlier deliveries of one row."""
    decisions = cast(Table, Decision.__table__)
    tickets = cast(Table, Ticket.__table__)
    with db.engine.connect() as conn:
        d = conn.execute(select(decisions).where(decisions.c.id == row["decision_id"])).mappings().one()
        t = conn.execute(select(tickets).where(tickets.c.id == row["ticket_id"])).mappings().one()
        earlier = history(conn, row["ticket_id"], row["id"])
    decision = {
        "decision_id": d["id"],
        **{c.name: d[c.name] for c in decisions.columns if c.name not in ("id", "ticket_id", "content_hash")},
        "ticket_id": t["external_id"],
        "source": t["source"],
    }
    ticket = {
        "source": t["source"],
        "id": t["external_id"],
        "metadata": t["metadata"] or {},
        "requester": t["requester"] or {},
    }
    return decision, ticket, earlier
