"""Decide: classify a normalised ticket and route it. No storage here; intake commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..context import Context
from ..monitoring import metrics
from ..registry.runtime import Loaded
from ..routing.engine import route
from ..routing.ruleset import RuleSet


def decide(
    ctx: Context, ticket: dict[str, Any], *, ruleset: RuleSet | None = None, loaded: Loaded | None = None
) -> dict[str, Any]:
    """An explained decision for ``ticket`` (a dict with at least ``text``).

    ``ruleset`` and ``loaded`` replace the rule set and model in force (contract tests, dry runs).
    """
    if loaded is None:
        key = f"{ticket.get('source', '')}:{ticket.get('id', '')}"
        loaded = ctx.runtime.for_ticket(key)
    prediction = loaded.model.predict(ticket["text"])
    pred = prediction.to_dict()
    ruleset = ruleset or ctx.ruleset()
    routing = route(ruleset, ticket, pred, ctx.rule_functions)
    reasons = list(dict.fromkeys([*prediction.review_reasons, *routing.review_reasons]))
    decision: dict[str, Any] = {
        "intent": prediction.intent,
        "confidence": prediction.confidence,
        "alternatives": pred["alternatives"],
        "queue": routing.queue,
        "priority": routing.priority,
        "escalation": routing.escalation,
        "tags": routing.tags,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "explanation": {"words": prediction.explanation, "rules": routing.trace},
        "novelty": prediction.novelty,
        "model_version": loaded.version,
        "ruleset_version": ruleset.version,
        "decided_at": datetime.now(UTC),
    }
    if routing.notify:
        decision["explanation"]["notify"] = routing.notify
    ctx.plugins.call_each("router_adjust_decision", decision=decision, ticket=ticket, prediction=pred)
    decision["needs_review"] = bool(decision["review_reasons"])
    return decision


def observe(decision: dict[str, Any]) -> None:
    """Count a committed decision in the metrics."""
    metrics.DECISIONS.labels(intent=decision["intent"], queue=decision["queue"]).inc()
    metrics.CONFIDENCE.observe(decision["confidence"])
    for reason in decision["review_reasons"]:
        metrics.REVIEWS.labels(reason=reason).inc()
