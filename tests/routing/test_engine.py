"""The routing engine: routes, ordered rules, stop, and rules that fail at run time."""

from __future__ import annotations

from prometheus_client import REGISTRY

from router.routing.engine import route
from router.routing.expr import builtin_functions
from router.routing.ruleset import parse_ruleset

RULES = """
version: 1
default: {queue: general, priority: normal}
queues: {cards: Cards, fraud: Fraud, general: General}
routes:
  - {queue: cards, priority: low, intents: [card_arrival]}
rules:
  - id: broken-at-run-time
    when: ["len(ticket.tags) // (len(ticket.tags) - 1) > 5"]
    then: {queue: fraud}
  - id: vip-tag
    when: ["'vip' in ticket.tags"]
    then: {priority: high, tags: [vip]}
    stop: false
  - id: everything
    when: ["True"]
    then: {tags: [seen]}
  - id: never-reached
    when: ["True"]
    then: {queue: fraud}
"""


def errors(rule: str) -> float:
    return REGISTRY.get_sample_value("router_rule_errors_total", {"rule": rule}) or 0.0


def test_rules_apply_in_order_and_stop() -> None:
    ruleset = parse_ruleset(RULES, functions=builtin_functions())
    result = route(
        ruleset, {"text": "x", "tags": ["vip", "b"]}, {"intent": "card_arrival", "confidence": 0.9}, builtin_functions()
    )
    assert (result.queue, result.priority, result.tags) == ("cards", "high", ["vip", "seen"])
    trace = {t["rule"]: t for t in result.trace}
    assert trace["broken-at-run-time"]["matched"] is False and "error" not in trace["broken-at-run-time"]
    assert trace["never-reached"]["skipped"].startswith("not evaluated: rule 'everything'")


def test_a_rule_failing_at_run_time_does_not_match_and_is_counted() -> None:
    ruleset = parse_ruleset(RULES, functions=builtin_functions())
    before = errors("broken-at-run-time")
    result = route(
        ruleset, {"text": "x", "tags": ["vip"]}, {"intent": "card_arrival", "confidence": 0.9}, builtin_functions()
    )
    broken = next(t for t in result.trace if t["rule"] == "broken-at-run-time")
    assert broken["matched"] is False and "division by zero" in broken["error"]
    assert result.queue == "cards" and "vip" in result.tags
    assert errors("broken-at-run-time") == before + 1


def test_an_unknown_intent_gets_the_default_queue() -> None:
    ruleset = parse_ruleset(RULES, functions=builtin_functions())
    result = route(
        ruleset, {"text": "x", "tags": []}, {"intent": "something_new", "confidence": 0.4}, builtin_functions()
    )
    assert result.queue == "general" and "default queue" in result.trace[0]["why"]
