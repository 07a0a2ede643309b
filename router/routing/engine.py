"""The routing engine: a prediction and a ticket in, queue, priority and a trace out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ruleset import RuleSet


@dataclass
class Routing:
    queue: str
    priority: str
    escalation: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)


def route(ruleset: RuleSet, ticket: dict[str, Any], prediction: dict[str, Any]) -> Routing:
    """Apply the intent routes, then the rules, recording every step in the trace."""
    intent = prediction["intent"]
    base = ruleset.by_intent.get(intent)
    if base is None:
        result = Routing(ruleset.default_queue, ruleset.default_priority)
        result.trace.append(
            {
                "rule": "default",
                "matched": True,
                "why": f"no route lists intent {intent!r}; default queue {ruleset.default_queue!r}",
            }
        )
    else:
        result = Routing(base.queue, base.priority)
        result.trace.append(
            {
                "rule": f"route:{base.queue}",
                "matched": True,
                "why": f"intent {intent!r} is routed to queue {base.queue!r} with priority {base.priority!r}",
            }
        )
    return result
