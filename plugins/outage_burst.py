"""Outage burst: many tickets of one intent within minutes, across the whole service, escalate as a
probable incident and link the tickets. Counted in the database, so every worker and instance agrees."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from router.db import Database, Decision, Ticket
from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {
    "tickets": 20,
    "minutes": 10,
    "team": "incident-response",
    "cache_seconds": 2.0,
    "recount_seconds": 60.0,
}
_STATE: dict[str, Any] = {"db": None}
_MAX_LINKED = 50


@hookimpl
def router_configure(config: dict[str, Any], db: Database) -> None:
    CONFIG.update(config or {})
    _STATE["db"] = db
    _WINDOWS.clear()
    _LINKED.clear()


@dataclass(frozen=True)
class _Window:
    """One intent's count over the last ``minutes``, as of the last refresh: ``settled`` decisions in
    ``(since, settled_until]`` plus ``fresh`` ones after that."""

    settled: int
    fresh: int
    since: datetime
    settled_until: datetime
    refreshed: float  # monotonic times of the last refresh and of the last whole count
    counted: float


_WINDOWS: dict[tuple[str, float], _Window] = {}
#: A decision's row is in the database this soon after its ``decided_at`` (the commit that follows
#: the decision waits at most SQLite's 10 s busy timeout); only rows older than this are settled.
_SETTLE = timedelta(seconds=15)


def count_recent(intent: str, minutes: float = 10) -> int:
    """Decisions with ``intent`` in the last ``minutes`` minutes, across the service.

    Read from the database at most every ``cache_seconds`` (2 s) per worker and intent (a count per
    ticket would cost more than deciding it); a burst is minutes long, so seconds of lag are harmless.
    A refresh does not count the whole window again: it adds what settled since the last one, takes
    away what left the window, and counts the last 15 s afresh (a decision may commit a little after
    it was made), so its cost follows the traffic of those seconds, not of the whole window. Every
    ``recount_seconds`` (60 s) the window is counted whole, which takes in purged and imported rows.
    """
    key = (str(intent), max(0.0, min(float(minutes), 24 * 60)))
    now = time.monotonic()
    window = _WINDOWS.get(key)
    if window is not None and now - window.refreshed < float(CONFIG["cache_seconds"]):
        return window.settled + window.fresh
    db: Database | None = _STATE["db"]
    if db is None:
        return 0
    at = _utcnow()
    since = at - timedelta(minutes=key[1])
    settled_until = max(since, at - _SETTLE)
    if window is not None and (
        now - window.counted >= float(CONFIG["recount_seconds"]) or since >= window.settled_until
    ):
        window = None  # counted whole again
    if window is None:
        ranges = ((since, settled_until), (at, at), (settled_until, at))  # the middle one is empty
    else:  # what settled since the last refresh, what left the window, the last seconds
        ranges = ((window.settled_until, settled_until), (window.since, since), (settled_until, at))
    params: dict[str, Any] = {"intent": key[0]}
    for i, (after, until) in enumerate(ranges):
        params[f"after{i}"], params[f"until{i}"] = after, until
    with db.engine.connect() as conn:  # one Core read: the (intent, decided_at) index answers it alone
        first, left, fresh = (int(n or 0) for n in conn.execute(_COUNTS, params).one())
    if window is None:
        settled, counted = first, now
    else:
        settled, counted = max(0, window.settled + first - left), window.counted
    if len(_WINDOWS) > 10_000:
        _WINDOWS.clear()
    # a new window rather than a changed one: two threads refreshing at once both start from the same
    _WINDOWS[key] = _Window(settled, fresh, since, settled_until, now, counted)
    return settled + fresh


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


def _range(n: int) -> Any:
    """Decisions of the intent made in ``(after<n>, until<n>]``."""
    return (
        select(func.count())
        .where(
            Decision.intent == bindparam("intent"),
            Decision.decided_at > bindparam(f"after{n}"),
            Decision.decided_at <= bindparam(f"until{n}"),
        )
        .scalar_subquery()
    )


_COUNTS = select(_range(0), _range(1), _range(2))


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
