"""Key accounts: escalate tickets from configured tiers or e-mail domains."""

from __future__ import annotations

from typing import Any

from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"tiers": ["enterprise", "vip"], "domains": [], "level": 1, "team": "key-accounts"}


@hookimpl
def router_configure(config: dict[str, Any]) -> None:
    CONFIG.update(config or {})


def is_key_account(requester: dict[str, Any]) -> str | None:
    tier = str(requester.get("tier") or "").lower()
    if tier and tier in {t.lower() for t in CONFIG["tiers"]}:
        return f"requester tier {tier!r} is a key-account tier"
    domain = str(requester.get("email") or "").rpartition("@")[2].lower()
    if domain and domain in {d.lower() for d in CONFIG["domains"]}:
        return f"requester domain {domain!r} is a key account"
    return None


@hookimpl
def router_rule_functions() -> dict[str, Any]:
    return {"key_account": lambda requester: is_key_account(dict(requester or {})) is not None}


@hookimpl
def router_adjust_decision(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    why = is_key_account(ticket.get("requester") or {})
    if why is None:
        return
    if decision.get("escalation") is None:
        decision["escalation"] = {
            "level": CONFIG["level"],
            "team": CONFIG["team"],
            "reason": why,
            "plugin": "key_accounts",
        }
    decision["priority"] = raise_priority(decision["priority"], "high")
    if "key_account" not in decision["tags"]:
        decision["tags"].append("key_account")
