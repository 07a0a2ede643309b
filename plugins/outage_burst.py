"""Outage burst: many tickets of one intent within minutes, across the whole service, escalate as a
probable incident and link the tickets. Counted in the database, so every worker and instance agrees."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from router.db import Database, Decision, Ticket
from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"tickets": 20, "minutes": 10, "team": "incident-response", "cache_seconds": 2.0}
_STATE: dict[str, Any] = {"db": None}
_MAX_LINKED = 50


@hookimpl
def router_configure(config: dict[str, Any], db: Database) -> None:
    CONFIG.update(config or {})
    _STATE["db"] = db
    _CACHE.clear()
    _LINKED.clear()


_CACHE: dict[tuple[str, float], tuple[float, Any]] = {}


def count_recent(intent: str, minutes: float = 10) -> int:
    """Decisions with ``intent`` in the last ``minutes`` minutes, across the service.

    Read from the database at most every ``cache_seconds`` (2 s) per worker and intent (a count per
    ticket would cost more than deciding it); a burst is minutes long, so seconds of lag are harmless.
    """
    return int(_cached(_CACHE, (str(intent), float(minutes)), _count))


def _cached(store: dict[Any, tuple[float, Any]], key: tuple[str, float], compute: Any) -> Any:
    """``compute(*key)``, remembered for ``cache_seconds`` per worker."""
    now = time.monotonic()
    hit = store.get(key)
    if hit is not None and now - hit[0] < float(CONFIG["cache_seconds"]):
        return hit[1]
    value = compute(*key)
    if len(store) > 10_000:
        store.clear()
    store[key] = (now, value)
    return value


_COUNT = select(func.count()).where(Decision.intent == bindparam("intent"), Decision.decided_at >= bindparam("since"))


def _count(intent: str, minutes: float) -> int:
    db: Database | None = _STATE["db"]
    if db is None:
        return 0
    since = datetime.now(UTC) - timedelta(minutes=max(0.0, min(float(minutes), 24 * 60)))
    with db.engine.connect() as conn:  # a Core read: the (intent, decided_at) index answers it alone
        return int(conn.scalar(_COUNT, {"intent": intent, "since": since}) or 0)


_LINKED: dict[tuple[str, float], tuple[float, Any]] = {}


def recent_tickets(intent: str, minutes: float) -> list[dict[str, str]]:
    """The latest tickets of the burst (cached like the counts: a burst links the same tickets)."""
    linked: list[dict[str, str]] = _cached(_LINKED, (str(intent), float(minutes)), _recent_tickets)
    return linked


def _recent_tickets(intent: str, minutes: float) -> list[dict[str, str]]:
    db: Database | None = _STATE["db"]
    if db is None:
        return []
    since = datetime.now(UTC) - timedelta(minutes=float(minutes))
    with db.session() as s:
        rows = s.execute(
            select(Ticket.source, Ticket.external_id)
            .join(Decision, Decision.ticket_id == Ticket.id)
            .where(Decision.intent == intent, Decision.decided_at >= since)
            .order_by(Decision.decided_at.desc())
            .limit(_MAX_LINKED)
        ).all()
    return [{"source": r.source, "id": r.external_id} for r in rows]


@hookimpl
def router_rule_functions(db: Database) -> dict[str, Any]:
    _STATE["db"] = _STATE["db"] or db
    return {"count_recent": count_recent}


@hookimpl
def router_adjust_decision(decision: dict[str, Any]) -> None:
    intent, minutes, needed = decision["intent"], CONFIG["minutes"], int(CONFIG["tickets"])
    seen = count_recent(intent, minutes) + 1  # this ticket is not stored yet
    if seen < needed:
        return
    reason = f"{seen} tickets of intent {intent!r} in {minutes} min (threshold {needed}): probable incident"
    decision["escalation"] = {
        "level": 2,
        "team": CONFIG["team"],
        "reason": reason,
        "plugin": "outage_burst",
        "incident": f"{intent}@{datetime.now(UTC):%Y-%m-%dT%H:%M}",
        "linked_tickets": recent_tickets(intent, minutes),
    }
    decision["priority"] = raise_priority(decision["priority"], "high")
    if "probable_incident" not in decision["tags"]:
        decision["tags"].append("probable_incident")
    decision["explanation"].setdefault("plugins", []).append({"plugin": "outage_burst", "why": reason})
