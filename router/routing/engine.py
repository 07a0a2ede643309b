"""The routing engine: a prediction and a ticket in; queue, priority, escalation and a trace out.

The intent routes give the base decision; then each enabled rule is evaluated in order. A rule
that holds applies its actions and, unless it says ``stop: false``, ends the evaluation. The trace
records every rule: matched or not, and for the first condition that did not hold, the assertion
and the values of its parts, the way pytest explains a failing ``assert``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..monitoring import metrics
from .expr import EvaluationError, evaluate, prediction_record, ticket_record
from .rules import AnyOf, Rule
from .ruleset import RuleSet

log = logging.getLogger(__name__)
_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@dataclass
class Routing:
    queue: str
    priority: str
    escalation: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)
    notify: list[dict[str, Any]] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)


def raise_priority(current: str, proposed: str) -> str:
    """The more urgent of two priorities."""
    return proposed if _PRIORITY_RANK.get(proposed, 0) > _PRIORITY_RANK.get(current, 0) else current


def _holds(
    rule: Rule, names: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> tuple[bool, str | None]:
    """Whether every condition holds; when one does not, its pytest-style explanation."""
    for cond in rule.when:
        if isinstance(cond, AnyOf):
            failures = []
            for alt in cond.conditions:
                outcome = evaluate(alt, names, functions)
                if outcome.passed:
                    break
                failures.append(outcome.explanation or f"assert {alt.source}")
            else:
                return False, "none of the alternatives held:\n" + "\n".join(failures)
            continue
        outcome = evaluate(cond, names, functions)
        if not outcome.passed:
            return False, outcome.explanation or f"assert {cond.source}"
    return True, None


def _apply(rule: Rule, result: Routing) -> None:
    then = rule.then
    if "queue" in then:
        result.queue = then["queue"]
    if "priority" in then:  # raises, never lowers: an urgent route stays urgent
        result.priority = raise_priority(result.priority, then["priority"])
    if "escalate" in then:
        esc = then["escalate"] if isinstance(then["escalate"], dict) else {}
        result.escalation = {
            "level": esc.get("level", 1),
            "team": esc.get("team"),
            "reason": esc.get("reason") or rule.description or rule.id,
            "rule": rule.id,
        }
    for tag in then.get("tags", []):
        if tag not in result.tags:
            result.tags.append(tag)
    if "review" in then:
        review = then["review"] if isinstance(then["review"], dict) else {}
        reason = str(review.get("reason") or "rule")
        if reason not in result.review_reasons:
            result.review_reasons.append(reason)
    if "notify" in then:
        result.notify.append({**then["notify"], "rule": rule.id})


def route(
    ruleset: RuleSet,
    ticket: Mapping[str, Any],
    prediction: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
    now: datetime | None = None,
) -> Routing:
    """Apply the intent routes, then the rules, recording every step in the trace."""
    intent = prediction["intent"]
    base = ruleset.by_intent.get(intent)
    if base is None:
        result = Routing(ruleset.default_queue, ruleset.default_priority)
        why = f"no route lists intent {intent!r}; default queue {ruleset.default_queue!r}"
        result.trace.append({"rule": "default", "matched": True, "why": why})
    else:
        result = Routing(base.queue, base.priority)
        why = f"intent {intent!r} is routed to queue {base.queue!r} with priority {base.priority!r}"
        result.trace.append({"rule": f"route:{base.queue}", "matched": True, "why": why})
    if not ruleset.rules:
        return result
    names = {
        "ticket": ticket_record(ticket),
        "prediction": prediction_record(prediction),
        "now": now or datetime.now(UTC),
    }
    functions = functions or {}
    stopped_by: str | None = None
    for rule in ruleset.rules:
        entry: dict[str, Any] = {"rule": rule.id, "description": rule.description}
        if stopped_by is not None:
            entry.update(matched=False, skipped=f"not evaluated: rule {stopped_by!r} matched and stops")
        elif not rule.enabled:
            entry.update(matched=False, skipped="disabled")
        else:
            try:
                matched, explanation = _holds(rule, names, functions)
            except EvaluationError as exc:
                metrics.RULE_ERRORS.labels(rule=rule.id).inc()
                log.warning("rule %s failed at run time: %s", rule.id, exc)
                matched, explanation = False, None
                entry["error"] = str(exc)
            entry["matched"] = matched
            if matched:
                _apply(rule, result)
                entry["actions"] = rule.then
                if rule.stop:
                    stopped_by = rule.id
            elif explanation:
                entry["explanation"] = explanation
        result.trace.append(entry)
    return result
