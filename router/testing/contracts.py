"""The ``router`` fixture's harness and the decision objects contract tests assert on.

Fields of a :class:`Decision` are plain values with a reference back to the decision, so when an
``assert`` on one fails, the pytest plugin can print the whole explanation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..config import load_settings
from ..context import build_context
from ..db import upgrade
from ..registry.runtime import Loaded
from ..routing.ruleset import load_ruleset_file
from ..services.decide import decide
from ..services.intake import _normalised


class DecisionValue(str):
    """A text field of a decision that remembers the decision it came from."""

    decision: Decision

    def __new__(cls, value: str, decision: Decision) -> DecisionValue:
        obj = super().__new__(cls, value)
        obj.decision = decision
        return obj


class DecisionNumber(float):
    decision: Decision

    def __new__(cls, value: float, decision: Decision) -> DecisionNumber:
        obj = super().__new__(cls, value)
        obj.decision = decision
        return obj


class DecisionFlag:
    """A yes/no field of a decision (``escalated``, ``needs_review``)."""

    def __init__(self, value: bool, decision: Decision) -> None:
        self.value, self.decision = bool(value), decision

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        return self.value == bool(other) if isinstance(other, bool | DecisionFlag) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


class Decision:
    """A routing decision as contract tests see it."""

    def __init__(self, data: Mapping[str, Any], text: str) -> None:
        self.data, self.text = dict(data), text

    @property
    def intent(self) -> DecisionValue:
        return DecisionValue(self.data["intent"], self)

    @property
    def queue(self) -> DecisionValue:
        return DecisionValue(self.data["queue"], self)

    @property
    def priority(self) -> DecisionValue:
        return DecisionValue(self.data["priority"], self)

    @property
    def confidence(self) -> DecisionNumber:
        return DecisionNumber(self.data["confidence"], self)

    @property
    def escalated(self) -> DecisionFlag:
        return DecisionFlag(self.data.get("escalation") is not None, self)

    @property
    def needs_review(self) -> DecisionFlag:
        return DecisionFlag(self.data["needs_review"], self)

    @property
    def escalation(self) -> dict[str, Any] | None:
        return self.data.get("escalation")

    @property
    def escalation_team(self) -> DecisionValue:
        return DecisionValue(str((self.data.get("escalation") or {}).get("team")), self)

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("tags") or [])

    @property
    def review_reasons(self) -> list[str]:
        return list(self.data.get("review_reasons") or [])

    @property
    def alternatives(self) -> list[dict[str, Any]]:
        return list(self.data.get("alternatives") or [])

    @property
    def explanation(self) -> dict[str, Any]:
        return dict(self.data.get("explanation") or {})

    def __repr__(self) -> str:
        d = self.data
        return (
            f"<Decision {self.text[:60]!r}: intent={d['intent']!r} ({d['confidence']:.2f}) queue={d['queue']!r} "
            f"priority={d['priority']!r} escalated={d.get('escalation') is not None}>"
        )


def explain_decision(decision: Decision) -> list[str]:
    """The decision's explanation as lines, for a failing assertion."""
    d = decision.data
    words = (d.get("explanation") or {}).get("words") or {}
    lines = [
        f"decision for {decision.text[:120]!r}:",
        f"  intent: {d['intent']} (confidence {d['confidence']:.2f})",
        "  alternatives: " + ", ".join(f"{a['intent']} {a['confidence']:.2f}" for a in d.get("alternatives", [])),
        "  words toward: " + ", ".join(f"{w['word']} ({w['weight']:+.2f})" for w in words.get("toward", [])),
        "  words against: " + ", ".join(f"{w['word']} ({w['weight']:+.2f})" for w in words.get("against", [])),
        f"  queue: {d['queue']}  priority: {d['priority']}  escalation: {d.get('escalation')}",
        f"  needs_review: {d['needs_review']} {d.get('review_reasons')}",
        "  rule trace:",
    ]
    for step in (d.get("explanation") or {}).get("rules", []):
        mark = "✓" if step.get("matched") else "✗"
        lines.append(f"    {mark} {step['rule']}" + (f" — {step['skipped']}" if step.get("skipped") else ""))
        for text in (step.get("explanation") or step.get("why") or step.get("error") or "").splitlines():
            lines.append(f"        {text}")
    for step in (d.get("explanation") or {}).get("plugins", []):
        lines.append(f"    plugin {step['plugin']}: {step['why']}")
    return lines


class RouterHarness:
    """Decides tickets without storing them: the model and rule set under test, the plugins in force."""

    def __init__(self, home: str | None = None, model: str | None = None, rules_file: str | None = None) -> None:
        env = dict(os.environ)
        if home:
            env["ROUTER_HOME"] = home
        settings = load_settings(env)
        if rules_file:
            settings = settings.with_overrides(rules_file=Path(rules_file))
        upgrade(settings.database_url)
        self.ctx = build_context(settings)
        self._model_version = model
        self._loaded: Loaded | None = None
        self.ruleset = load_ruleset_file(Path(rules_file), functions=self.functions) if rules_file else None

    @property
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return self.ctx.rule_functions

    @property
    def loaded(self) -> Loaded:
        if self._loaded is None:
            if self._model_version:
                self._loaded = Loaded(self._model_version, self.ctx.store.load(self._model_version))
            else:
                self._loaded = self.ctx.runtime.current()
        return self._loaded

    def predict(self, text: str) -> dict[str, Any]:
        result: dict[str, Any] = self.loaded.model.predict(text).to_dict()
        return result

    def decide(self, ticket: str | Mapping[str, Any]) -> Decision:
        data = {"id": "contract", "body": ticket} if isinstance(ticket, str) else {"id": "contract", **ticket}
        normalised = _normalised("contract", data)
        result = decide(self.ctx, normalised, ruleset=self.ruleset, loaded=self.loaded)
        return Decision(result, normalised["text"])
