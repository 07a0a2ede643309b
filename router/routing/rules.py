"""Rules: ordered assertions over the ticket and the prediction, with actions when they hold.

Each rule's ``when`` is a list of conditions that must all hold; an ``{any: [...]}`` item inside it
holds when one of its alternatives does. Conditions are compiled by the safe evaluator in
``expr.py`` when the rule set is loaded, so a rule set that cannot run is refused before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .expr import Condition, ExpressionSyntaxError, Limits, compile_condition

RULE_FIELDS = {"id", "description", "when", "then", "stop", "enabled", "examples"}
ACTIONS = {"queue", "priority", "escalate", "tags", "review", "notify"}
ESCALATE_FIELDS = {"level", "team", "reason"}


@dataclass(frozen=True)
class AnyOf:
    """Alternatives: holds when one of them holds."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: tuple[Condition | AnyOf, ...]
    then: dict[str, Any]
    stop: bool = True
    enabled: bool = True
    examples: tuple[dict[str, Any], ...] = ()
    line: int | None = None


@dataclass
class Problems:
    """Every problem found while validating, each with where it is and, when known, its line."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, where: str, message: str, line: int | None = None, column: int | None = None) -> None:
        item: dict[str, Any] = {"where": where, "message": message}
        if line is not None:
            item["line"] = line
        if column is not None:
            item["column"] = column
        self.items.append(item)


def node_line(root: yaml.Node | None, *path: str | int) -> int | None:
    """The 1-based line of the YAML node at ``path`` (mapping keys and sequence indexes)."""
    node = root
    for step in path:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            node = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return None
    return node.start_mark.line + 1 if node is not None else None


def _compile(
    source: Any, functions: set[str], limits: Limits, where: str, line: int | None, problems: Problems
) -> Condition | None:
    if not isinstance(source, str | bool | int | float):
        problems.add(where, "a condition must be an expression written as text", line)
        return None
    try:
        return compile_condition(str(source), functions, limits)
    except ExpressionSyntaxError as exc:
        # Expression line 1 is the YAML line of the condition.
        at = (line + (exc.line or 1) - 1) if line is not None else exc.line
        problems.add(where, exc.message, at, exc.column)
        return None


def compile_rules(
    raw_rules: list[Any],
    *,
    queues: set[str],
    priorities: tuple[str, ...],
    functions: set[str],
    root: yaml.Node | None,
    problems: Problems,
    limits: Limits | None = None,
) -> tuple[Rule, ...]:
    limits = limits or Limits()
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where, line = f"rules[{i}]", node_line(root, "rules", i)
        if not isinstance(raw, dict):
            problems.add(where, "a rule must be a mapping with id, when and then", line)
            continue
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            problems.add(f"{where}.id", "every rule needs an id", line)
            rule_id = f"rule-{i}"
        elif rule_id in seen:
            problems.add(f"{where}.id", f"duplicate rule id {rule_id!r}", node_line(root, "rules", i, "id"))
        seen.add(rule_id)
        where = f"rules[{rule_id}]"
        for key in sorted(set(raw) - RULE_FIELDS):
            problems.add(
                f"{where}.{key}",
                f"unknown field {key!r}; allowed: {', '.join(sorted(RULE_FIELDS))}",
                node_line(root, "rules", i, key),
            )
        when = _compile_when(raw.get("when"), functions, limits, where, root, i, problems)
        then = _check_then(raw.get("then"), queues, priorities, where, root, i, problems)
        for key in ("stop", "enabled"):
            if key in raw and not isinstance(raw[key], bool):
                problems.add(f"{where}.{key}", "must be true or false", node_line(root, "rules", i, key))
        examples = raw.get("examples") or []
        if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
            problems.add(
                f"{where}.examples",
                "must be a list of {ticket, prediction, expect}",
                node_line(root, "rules", i, "examples"),
            )
            examples = []
        rules.append(
            Rule(
                rule_id,
                str(raw.get("description", "")),
                when,
                then,
                bool(raw.get("stop", True)),
                bool(raw.get("enabled", True)),
                tuple(examples),
                line,
            )
        )
    return tuple(rules)


def _compile_when(
    raw: Any, functions: set[str], limits: Limits, where: str, root: yaml.Node | None, i: int, problems: Problems
) -> tuple[Condition | AnyOf, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.add(f"{where}.when", "must be a non-empty list of conditions", node_line(root, "rules", i))
        return ()
    out: list[Condition | AnyOf] = []
    for j, item in enumerate(raw):
        line = node_line(root, "rules", i, "when", j)
        if isinstance(item, dict):
            alternatives = item.get("any")
            if set(item) != {"any"} or not isinstance(alternatives, list) or not alternatives:
                problems.add(f"{where}.when[{j}]", "a group must be {any: [condition, ...]}", line)
                continue
            compiled = [
                _compile(
                    alt,
                    functions,
                    limits,
                    f"{where}.when[{j}].any[{k}]",
                    node_line(root, "rules", i, "when", j, "any", k),
                    problems,
                )
                for k, alt in enumerate(alternatives)
            ]
            if all(c is not None for c in compiled):
                out.append(AnyOf(tuple(c for c in compiled if c is not None)))
        else:
            cond = _compile(item, functions, limits, f"{where}.when[{j}]", line, problems)
            if cond is not None:
                out.append(cond)
    return tuple(out)


def _check_then(
    raw: Any,
    queues: set[str],
    priorities: tuple[str, ...],
    where: str,
    root: yaml.Node | None,
    i: int,
    problems: Problems,
) -> dict[str, Any]:
    def at(*path: str) -> int | None:
        return node_line(root, "rules", i, "then", *path)

    if not isinstance(raw, dict) or not raw:
        problems.add(f"{where}.then", "must be a mapping of actions", node_line(root, "rules", i))
        return {}
    for key in sorted(set(raw) - ACTIONS):
        problems.add(f"{where}.then.{key}", f"unknown action {key!r}; allowed: {', '.join(sorted(ACTIONS))}", at(key))
    if "queue" in raw and raw["queue"] not in queues:
        problems.add(f"{where}.then.queue", f"unknown queue {raw['queue']!r}", at("queue"))
    if "priority" in raw and raw["priority"] not in priorities:
        problems.add(f"{where}.then.priority", f"must be one of {', '.join(priorities)}", at("priority"))
    if "escalate" in raw:
        esc = raw["escalate"]
        if esc is True:
            raw = {**raw, "escalate": {}}
        elif not isinstance(esc, dict) or set(esc) - ESCALATE_FIELDS:
            problems.add(f"{where}.then.escalate", "must be true or a mapping of level, team, reason", at("escalate"))
    if "tags" in raw and (not isinstance(raw["tags"], list) or not all(isinstance(t, str) for t in raw["tags"])):
        problems.add(f"{where}.then.tags", "must be a list of strings", at("tags"))
    if "review" in raw:
        review = raw["review"]
        if review is True:
            raw = {**raw, "review": {"reason": "rule"}}
        elif not isinstance(review, dict) or set(review) - {"reason"}:
            problems.add(f"{where}.then.review", "must be true or {reason: ...}", at("review"))
    if "notify" in raw and (not isinstance(raw["notify"], dict) or set(raw["notify"]) - {"channel"}):
        problems.add(f"{where}.then.notify", "must be {channel: ...}", at("notify"))
    return dict(raw)
