"""Waiting too long: tickets created longer ago than the SLA get a higher priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"hours": 24, "priority": "high"}


@hookimpl
def router_configure(config: dict[str, Any]) -> None:
    CONFIG.update(config or {})


def waited_hours(created_at: Any, now: datetime | None = None) -> float | None:
    if isinstance(created_at, str):
        try:
            created_at = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(created_at, datetime):
        return None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - created_at) / timedelta(hours=1)


@hookimpl
def router_rule_functions() -> dict[str, Any]:
    return {"hours_waiting": lambda created_at: waited_hours(created_at)}


@hookimpl
def router_adjust_decision(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    hours = waited_hours(ticket.get("created_at"))
    if hours is None or hours < float(CONFIG["hours"]):
        return
    decision["priority"] = raise_priority(decision["priority"], CONFIG["priority"])
    if "sla_breached" not in decision["tags"]:
        decision["tags"].append("sla_breached")
    decision["explanation"].setdefault("plugins", []).append(
        {"plugin": "sla", "why": f"created {hours:.1f} h ago, over the {CONFIG['hours']} h SLA"}
    )
