"""pytest plugin: routing contracts as plain ``assert``s, explained like pytest explains them.

- every rule's ``examples`` in ``rules/*.yaml`` become test items (``pytest rules/``);
- the ``router`` fixture decides tickets with the active model (or ``--router-model``) and the rule
  set in force (or ``--router-rules FILE``);
- a failing ``assert decision.queue == "fraud"`` shows the decision's explanation: intent,
  confidence, alternatives, the words that decided it and the rule trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .contracts import RouterHarness


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ticket_router", "Ticket Router routing contracts")
    group.addoption("--router-model", default=None, help="model version to decide with (default: the active one)")
    group.addoption("--router-rules", default=None, help="rule set file to route with (default: the one in force)")
    group.addoption("--router-home", default=None, help="ROUTER_HOME to read models from (default: $ROUTER_HOME)")


def _harness(config: pytest.Config) -> RouterHarness:
    harness: RouterHarness | None = getattr(config, "_router_harness", None)
    if harness is None:
        from .contracts import RouterHarness

        harness = RouterHarness(
            home=config.getoption("--router-home"),
            model=config.getoption("--router-model"),
            rules_file=config.getoption("--router-rules"),
        )
        config._router_harness = harness  # type: ignore[attr-defined]
        _show_whole_explanations(config)
    return harness


def _show_whole_explanations(config: pytest.Config) -> None:
    """A decision's explanation is the point of a failing contract: don't cut it at 8 lines,
    unless the project configured its own truncation limits."""
    cache = getattr(config, "_inicache", None)
    if not isinstance(cache, dict):
        return
    for name in ("truncation_limit_lines", "truncation_limit_chars"):
        if config.getini(name) is None:
            cache[name] = 0


@pytest.fixture(scope="session")
def router(request: pytest.FixtureRequest) -> Iterator[RouterHarness]:
    """``router.decide("text" or a ticket dict)`` returns a :class:`Decision`."""
    yield _harness(request.config)


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> list[str] | None:
    if not hasattr(config, "_router_harness"):
        return None  # no decision was made in this session: nothing to explain
    from .contracts import Decision, DecisionFlag, DecisionNumber, DecisionValue, explain_decision

    decision = None
    for side in (left, right):
        if isinstance(side, DecisionValue | DecisionNumber | DecisionFlag | Decision):
            decision = side if isinstance(side, Decision) else side.decision
            break
    if decision is None:
        return None
    return [f"{left!r} {op} {right!r}", *explain_decision(decision)]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "rules":
        return RulesFile.from_parent(parent, path=file_path)
    return None


class RulesFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from ..routing.ruleset import parse_ruleset

        harness = _harness(self.config)
        ruleset = parse_ruleset(self.path.read_text(), functions=harness.functions)
        for rule in ruleset.rules:
            for i, example in enumerate(rule.examples):
                name = example.get("name") or f"example{i + 1}"
                yield RuleExample.from_parent(
                    self, name=f"{rule.id}[{name}]", ruleset=ruleset, rule=rule, example=example
                )


class RuleExampleFailed(Exception):
    pass


class RuleExample(pytest.Item):
    def __init__(self, *, ruleset: Any, rule: Any, example: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ruleset, self.rule, self.example = ruleset, rule, example

    def runtest(self) -> None:
        from ..services.rules import run_example

        harness = _harness(self.config)
        needs_model = self.example.get("prediction") is None
        failures, routing, prediction = run_example(
            self.ruleset, self.example, harness.functions, harness.predict if needs_model else None
        )
        if failures:
            raise RuleExampleFailed(failures, routing, prediction)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, RuleExampleFailed):
            return str(super().repr_failure(excinfo))
        failures, routing, prediction = excinfo.value.args
        lines = [f"rule {self.rule.id!r}: example {self.name} does not hold"]
        lines += [f"  {f}" for f in failures]
        lines.append(f"  prediction: {prediction.get('intent')!r} ({prediction.get('confidence', 0):.2f})")
        lines.append("  rule trace:")
        for step in routing.trace:
            mark = "✓" if step.get("matched") else "✗"
            lines.append(f"    {mark} {step['rule']}" + (f" — {step['skipped']}" if step.get("skipped") else ""))
            for text in (step.get("explanation") or step.get("why") or step.get("error") or "").splitlines():
                lines.append(f"        {text}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.rule.line or 1) - 1, f"rule {self.rule.id}: {self.name}"
