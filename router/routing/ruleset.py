"""Rule sets: the YAML file admins edit, validated completely before it is used.

A rule set has a ``default`` queue and priority, the declared ``queues``, ``routes`` that map
predicted intents to a queue and priority, and ordered ``rules`` that refine the decision.
Its version is derived from its content, so the same file always has the same version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ValidationError
from .rules import Problems, Rule, compile_rules

PRIORITIES = ("low", "normal", "high", "urgent")
_TOP_LEVEL = {"version", "description", "default", "queues", "routes", "rules", "helpdesk_groups"}


@dataclass(frozen=True)
class Route:
    queue: str
    priority: str
    intents: frozenset[str]


@dataclass(frozen=True)
class RuleSet:
    version: str
    source: str
    default_queue: str
    default_priority: str
    queues: dict[str, str]
    routes: tuple[Route, ...]
    rules: tuple[Rule, ...] = ()
    by_intent: dict[str, Route] = field(default_factory=dict)
    # per helpdesk, queue -> group name or id, where the group is not named like the queue
    helpdesk_groups: dict[str, dict[str, str | int]] = field(default_factory=dict)


def content_version(text: str) -> str:
    return "rs-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _problem(problems: list[dict[str, Any]], where: str, message: str) -> None:
    problems.append({"where": where, "message": message})


def parse_ruleset(
    text: str, *, functions: Iterable[str] | None = None, known_intents: set[str] | None = None
) -> RuleSet:
    """Parse and validate; raises ``ValidationError`` listing every problem found.

    ``functions`` are the names rule conditions may call (the plugins' rule functions); by default
    the evaluator's built-ins.
    """
    problems: list[dict[str, Any]] = []
    if functions is None:
        from .expr import builtin_functions

        functions = builtin_functions()
    try:
        doc = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        raise ValidationError("rule set is not valid YAML", errors=[{"where": where, "message": str(exc)}]) from exc
    if not isinstance(doc, dict):
        raise ValidationError("rule set must be a mapping", errors=[{"where": "document", "message": "not a mapping"}])
    for key in sorted(set(doc) - _TOP_LEVEL):
        _problem(problems, key, f"unknown field {key!r}; allowed: {', '.join(sorted(_TOP_LEVEL))}")

    queues = doc.get("queues") or {}
    if not isinstance(queues, dict) or not queues:
        _problem(problems, "queues", "must map each queue name to a description")
        queues = {}
    default = doc.get("default") or {}
    if not isinstance(default, dict):
        _problem(problems, "default", "must be a mapping with queue and priority")
        default = {}
    default_queue = default.get("queue", "general")
    default_priority = default.get("priority", "normal")
    if queues and default_queue not in queues:
        _problem(problems, "default.queue", f"unknown queue {default_queue!r}")
    if default_priority not in PRIORITIES:
        _problem(problems, "default.priority", f"must be one of {', '.join(PRIORITIES)}")

    routes: list[Route] = []
    seen: dict[str, int] = {}
    raw_routes = doc.get("routes") or []
    if not isinstance(raw_routes, list):
        _problem(problems, "routes", "must be a list")
        raw_routes = []
    for i, raw in enumerate(raw_routes):
        where = f"routes[{i}]"
        if not isinstance(raw, dict):
            _problem(problems, where, "must be a mapping with queue, priority and intents")
            continue
        for key in sorted(set(raw) - {"queue", "priority", "intents"}):
            _problem(problems, f"{where}.{key}", f"unknown field {key!r}")
        queue, priority, intents = raw.get("queue"), raw.get("priority", default_priority), raw.get("intents")
        if queue not in queues:
            _problem(problems, f"{where}.queue", f"unknown queue {queue!r}")
        if priority not in PRIORITIES:
            _problem(problems, f"{where}.priority", f"must be one of {', '.join(PRIORITIES)}")
        if not isinstance(intents, list) or not all(isinstance(x, str) for x in intents):
            _problem(problems, f"{where}.intents", "must be a list of intent names")
            continue
        for intent in intents:
            if intent in seen:
                _problem(problems, f"{where}.intents", f"intent {intent!r} is already routed by routes[{seen[intent]}]")
            seen[intent] = i
            if known_intents is not None and intent not in known_intents:
                _problem(problems, f"{where}.intents", f"intent {intent!r} is not one the model knows")
        routes.append(Route(str(queue), str(priority), frozenset(intents)))

    helpdesk_groups = _helpdesk_groups(doc.get("helpdesk_groups"), queues, problems)

    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        _problem(problems, "rules", "must be a list")
        raw_rules = []
    found = Problems()
    rules = compile_rules(
        raw_rules, queues=set(queues), priorities=PRIORITIES, functions=set(functions), root=root, problems=found
    )
    problems.extend(found.items)
    if problems:
        raise ValidationError(f"rule set has {len(problems)} problem(s)", errors=problems)
    by_intent = {intent: route for route in routes for intent in route.intents}
    return RuleSet(
        version=content_version(text),
        source=text,
        default_queue=str(default_queue),
        default_priority=str(default_priority),
        queues={str(k): str(v) for k, v in queues.items()},
        routes=tuple(routes),
        rules=tuple(rules),
        by_intent=by_intent,
        helpdesk_groups=helpdesk_groups,
    )


def _helpdesk_groups(
    raw: Any, queues: dict[str, Any], problems: list[dict[str, Any]]
) -> dict[str, dict[str, str | int]]:
    """``helpdesk_groups: {zendesk: {fraud: "Fraud & Security", cards: 360001234}}``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        _problem(problems, "helpdesk_groups", "must map a helpdesk (zendesk, freshdesk) to {queue: group name or id}")
        return {}
    out: dict[str, dict[str, str | int]] = {}
    for helpdesk, mapping in raw.items():
        where = f"helpdesk_groups.{helpdesk}"
        if not isinstance(mapping, dict):
            _problem(problems, where, "must map each queue to a group name or id")
            continue
        out[str(helpdesk)] = {}
        for queue, group in mapping.items():
            if queue not in queues:
                _problem(problems, f"{where}.{queue}", f"unknown queue {queue!r}")
            elif (
                isinstance(group, bool)
                or not isinstance(group, str | int)
                or (isinstance(group, str) and not group.strip())
            ):
                _problem(problems, f"{where}.{queue}", "must be a group name or a numeric group id")
            else:
                out[str(helpdesk)][str(queue)] = group.strip() if isinstance(group, str) else group
    return out


def load_ruleset_file(path: Path, functions: Iterable[str] | None = None) -> RuleSet:
    return parse_ruleset(Path(path).read_text(), functions=functions)
