"""Outcomes: what agents did with routed tickets, as the measured accuracy of the live model.

Every helpdesk event on a ticket the router decided updates one outcome per decision (the
ticket's latest decision when the event arrived): the group the ticket is in, mapped back to a
queue; whether an agent moved it away from the router's queue (``overridden``) and how long after
the decision the first change came; when it was solved and in which queue (``correct``: solved in
the router's queue). The router's own write-back is recognised (the group it wrote) and never
counts. A reassignment to a queue that exactly one intent of the rule set routes to is also a
weak intent label (kept apart from reviewers' labels, with ``source: agent``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from ..context import Context
from ..db import Decision, Ticket
from ..db.outcomes import Outcome
from ..delivery import outbox
from ..helpdesks.base import DeliveryFailed, Inbound, group_key, resolve_group
from ..helpdesks.freshdesk import PRIORITY_OUT
from ..review.feedback import FeedbackSet

SOLVED = frozenset({"solved", "closed", "resolved", "4", "5"})
_O = cast(Table, Outcome.__table__)
_D = cast(Table, Decision.__table__)
_T = cast(Table, Ticket.__table__)


def _now() -> datetime:
    return datetime.now(UTC)


class GroupMap:
    """Helpdesk groups back to queues: the rule set's mapping, else the group named like the queue."""

    def __init__(self, ctx: Context, source: str) -> None:
        self.ruleset = ctx.ruleset()
        connector = ctx.connectors().get(source)
        self.name = getattr(connector, "name", source)
        self.mapping = self.ruleset.helpdesk_groups.get(self.name, {})
        self.groups: dict[str, int] = {}
        lookup = getattr(connector, "groups", None)
        if lookup is not None:
            try:
                self.groups = lookup()
            except DeliveryFailed:
                self.groups = {}

    def queue_of(self, group_id: int | None = None, name: str | None = None) -> str | None:
        if name is not None:
            key = group_key(name)
            for queue in self.ruleset.queues:
                wanted = self.mapping.get(queue, queue)
                if isinstance(wanted, str) and group_key(wanted) == key:
                    return queue
            group_id = self.groups.get(key)
        if group_id is None:
            return None
        for queue in self.ruleset.queues:
            if resolve_group(self.groups, queue, self.mapping) == group_id:
                return queue
        return None

    def single_intent(self, queue: str | None) -> str | None:
        """The intent when exactly one intent of the routes reaches ``queue``."""
        intents = [i for r in self.ruleset.routes if r.queue == queue for i in r.intents]
        return intents[0] if len(intents) == 1 else None


def _when(inbound: Inbound) -> datetime:
    from .events import parse_time

    return parse_time(inbound.occurred_at) or _now()


def apply(conn: Connection, groups: GroupMap, source: str, inbound: Inbound) -> dict[str, Any] | None:
    """Fold one event into the outcome of the ticket's latest decision (inside the caller's transaction)."""
    ticket = conn.execute(select(_T.c.id).where(_T.c.source == source, _T.c.external_id == inbound.external_id)).first()
    if ticket is None:
        return None
    d = conn.execute(
        select(_D.c.id, _D.c.intent, _D.c.queue, _D.c.priority, _D.c.model_version, _D.c.decided_at)
        .where(_D.c.ticket_id == ticket.id)
        .order_by(_D.c.revision.desc())
        .limit(1)
    ).first()
    if d is None:
        return None
    row = conn.execute(select(_O).where(_O.c.decision_id == d.id)).mappings().first()
    out: dict[str, Any] = (
        dict(row)
        if row is not None
        else {
            "decision_id": d.id,
            "ticket_id": ticket.id,
            "source": source,
            "model_version": d.model_version,
            "intent": d.intent,
            "queue": d.queue,
            "decided_at": d.decided_at,
            "current_group": None,
            "current_queue": None,
            "overridden": False,
            "priority_changed": False,
            "first_change_at": None,
            "first_change_s": None,
            "solved_at": None,
            "final_queue": None,
            "correct": None,
            "intent_label": None,
            "events": 0,
        }
    )
    at = _when(inbound)
    state = inbound.state
    wrote = outbox.written(r["result"] for r in outbox.history(conn, ticket.id))
    changed = False
    if "group_id" in state or "group" in state:
        gid, name = state.get("group_id"), state.get("group")
        own = gid is not None and gid == wrote.get("group_id")
        queue = d.queue if own else groups.queue_of(gid, name if name else None)
        out["current_group"] = name or (str(gid) if gid is not None else None)
        out["current_queue"] = queue
        moved = not own and (gid is not None or bool(name)) and queue != d.queue
        if moved and not out["overridden"]:
            out["overridden"] = changed = True
            out["intent_label"] = groups.single_intent(queue)
    if state.get("priority") is not None:
        # the router's priority in either spelling (Zendesk's words, Freshdesk's 1-4)
        mine = {str(v) for v in (wrote.get("priority"), d.priority, PRIORITY_OUT.get(d.priority))}
        if str(state["priority"]) not in mine and not out["priority_changed"]:
            out["priority_changed"] = changed = True
    if changed and out["first_change_at"] is None:
        out["first_change_at"] = at
        decided = d.decided_at if d.decided_at.tzinfo else d.decided_at.replace(tzinfo=UTC)
        out["first_change_s"] = round(max(0.0, (at - decided).total_seconds()), 3)
    status = str(state.get("status") or "").lower()
    if status in SOLVED and out["solved_at"] is None:
        out["solved_at"] = at
        # no group known: it stayed where the router put it, unless an agent moved it (then unassigned)
        final = out["current_queue"] if out["current_group"] is not None else (None if out["overridden"] else d.queue)
        out["final_queue"] = final
        out["correct"] = final == d.queue
    out["events"] = int(out["events"]) + 1
    out["updated_at"] = _now()
    if row is None:
        conn.execute(insert(_O), out)
    else:
        conn.execute(update(_O).where(_O.c.decision_id == d.id), {k: v for k, v in out.items() if k != "decision_id"})
    return out


# -- the measured accuracy --------------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def expected_routing(decision: Mapping[str, Any], by_intent: Mapping[str, Any], default_queue: str) -> float:
    """The calibrated chance the decision's queue is right: the probability of every listed intent
    that the rule set routes to the same queue (at least the top intent's confidence)."""
    queue = decision["queue"]
    mass = sum(
        float(a.get("confidence", 0.0))
        for a in decision.get("alternatives") or []
        if getattr(by_intent.get(a.get("intent")), "queue", default_queue) == queue
    )
    return min(1.0, max(float(decision["confidence"]), mass))


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    correct = sum(1 for r in rows if r["correct"])
    low, high = wilson(correct, n)
    changes = [r["first_change_s"] for r in rows if r["first_change_s"] is not None]
    return {
        "solved": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else None,
        "ci95": [low, high],
        "expected_accuracy": round(statistics.fmean(r["expected"] for r in rows), 4) if n else None,
        "overridden": sum(1 for r in rows if r["overridden"]),
        "median_first_change_s": round(statistics.median(changes), 1) if changes else None,
    }


def _grouped(rows: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[str(r[key])].append(r)
    return [{key: k, **_figures(v)} for k, v in sorted(groups.items())]


def solved_rows(ctx: Context, *, last: int | None = None, version: str | None = None) -> list[dict[str, Any]]:
    ruleset = ctx.ruleset()
    stmt = (
        select(_O, _D.c.confidence, _D.c.alternatives)
        .join(_D, _D.c.id == _O.c.decision_id)
        .where(_O.c.solved_at.is_not(None))
        .order_by(_O.c.solved_at.desc())
    )
    if version is not None:
        stmt = stmt.where(_O.c.model_version == version)
    if last is not None:
        stmt = stmt.limit(last)
    with ctx.db.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["expected"] = expected_routing(r, ruleset.by_intent, ruleset.default_queue)
        solved = r["solved_at"]
        solved = solved if solved.tzinfo else solved.replace(tzinfo=UTC)
        monday = (solved - timedelta(days=solved.weekday())).date()
        r["week"] = monday.isoformat()
    return rows


def stats(ctx: Context, *, weeks: int = 12) -> dict[str, Any]:
    """Routing accuracy of solved tickets (share left in the router's queue) with 95 % intervals and
    the expected accuracy from calibrated confidences beside it: overall, per model version, queue,
    intent and week."""
    rows = solved_rows(ctx)
    since = (_now() - timedelta(weeks=weeks)).date().isoformat()
    with ctx.db.engine.connect() as conn:
        open_rows = conn.execute(select(_O.c.overridden).where(_O.c.solved_at.is_(None))).scalars().all()
    return {
        "overall": _figures(rows),
        "open": {"tickets": len(open_rows), "overridden": sum(1 for o in open_rows if o)},
        "by_version": _grouped(rows, "model_version"),
        "by_queue": _grouped(rows, "queue"),
        "by_intent": _grouped(rows, "intent"),
        "by_week": _grouped([r for r in rows if r["week"] >= since], "week"),
        "note": "accuracy: solved tickets left in the router's queue; expected: from calibrated confidences",
    }


def for_decisions(conn: Connection, decision_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not decision_ids:
        return {}
    rows = conn.execute(select(_O).where(_O.c.decision_id.in_(decision_ids))).mappings()
    keep = (
        "current_queue",
        "current_group",
        "overridden",
        "priority_changed",
        "first_change_s",
        "solved_at",
        "final_queue",
        "correct",
        "intent_label",
        "events",
    )
    return {r["decision_id"]: {k: r[k] for k in keep} for r in rows}


def outcome_labels(ctx: Context) -> FeedbackSet:
    """Agents' intent labels (a move to a queue one intent reaches), as training feedback."""
    from ..review.feedback import FeedbackLabel

    with ctx.db.engine.connect() as conn:
        rows = conn.execute(
            select(_O.c.intent_label, _T.c.text, _T.c.source, _T.c.external_id)
            .join(_T, _T.c.id == _O.c.ticket_id)
            .where(_O.c.intent_label.is_not(None))
            .order_by(_O.c.decision_id)
        ).all()
    return FeedbackSet([FeedbackLabel(r.text, r.intent_label, "agent", f"{r.source}/{r.external_id}") for r in rows])
