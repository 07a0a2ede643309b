"""Rule sets: the one in force, validating with examples, saving versions, dry runs, rollback.

Until a rule set is saved through the API the file (``ROUTER_RULES_FILE``, by default
``rules/default.yaml``) is in force; after that, the active row of ``ruleset_versions``. Every
worker polls that row's id at most every ``model_poll_s`` seconds and recompiles when it changes.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .. import audit
from ..db import Database, Decision, RulesetVersion, Ticket
from ..errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired, ValidationError
from ..ml.normalize import ticket_text
from ..routing.engine import Routing, route
from ..routing.ruleset import RuleSet, parse_ruleset
from .decide import decision_for

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger(__name__)
Functions = Mapping[str, Callable[..., Any]]


class RulesHolder:
    """The rule set in force in this process, following the database."""

    def __init__(
        self, db: Database, file_loader: Callable[[], RuleSet], functions: Callable[[], Functions], poll_s: float = 1.0
    ) -> None:
        self.db = db
        self._file_loader = file_loader
        self._functions = functions
        self.poll_s = poll_s
        self._current: RuleSet | None = None
        self._row_id: int | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read the database on the next call (after this process saved or rolled back)."""
        self._checked_at = 0.0

    def current(self) -> RuleSet:
        if self._current is not None and time.monotonic() - self._checked_at < self.poll_s:
            return self._current
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked_at < self.poll_s:
                return self._current
            try:
                with self.db.session() as s:
                    row = s.execute(
                        select(RulesetVersion.id, RulesetVersion.content).where(RulesetVersion.active.is_(True))
                    ).first()
            except Exception:
                if self._current is None:
                    raise
                log.exception("could not read the active rule set; keeping %s", self._current.version)
                return self._current
            self._checked_at = time.monotonic()
            row_id = row.id if row else None
            if self._current is None or row_id != self._row_id:
                self._current = parse_ruleset(row.content, functions=self._functions()) if row else self._file_loader()
                self._row_id = row_id
                log.info("rule set %s in force", self._current.version)
            return self._current


def _diff(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "before", "after"))


# --- examples --------------------------------------------------------------------------------------------


def _example_ticket(raw: Mapping[str, Any]) -> dict[str, Any]:
    ticket = dict(raw)
    ticket.setdefault("text", ticket_text(ticket.get("subject"), ticket.get("body")))
    ticket.setdefault("requester", {})
    ticket.setdefault("tags", [])
    ticket.setdefault("metadata", {})
    return ticket


def outcome_of(routing: Routing, prediction: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "intent": prediction["intent"],
        "queue": routing.queue,
        "priority": routing.priority,
        "escalate": routing.escalation is not None,
        "team": (routing.escalation or {}).get("team"),
        "review": bool(routing.review_reasons),
        "review_reasons": routing.review_reasons,
        "tags": routing.tags,
    }


def expectation_failures(expect: Mapping[str, Any], outcome: Mapping[str, Any]) -> list[str]:
    """Each expected field that the outcome does not meet, as ``field: expected X, got Y``."""
    failures = []
    for key, want in expect.items():
        if key == "tags":
            missing = [t for t in want or [] if t not in outcome["tags"]]
            if missing:
                failures.append(f"tags: expected to include {missing!r}, got {outcome['tags']!r}")
        elif key == "review" and isinstance(want, str):
            if want not in outcome["review_reasons"]:
                failures.append(f"review: expected reason {want!r}, got {outcome['review_reasons']!r}")
        elif key == "escalate" and isinstance(want, str):
            if outcome["team"] != want:
                failures.append(f"escalate: expected team {want!r}, got {outcome['team']!r}")
        elif key not in outcome:
            failures.append(f"{key}: not something an example can expect")
        elif outcome[key] != want:
            failures.append(f"{key}: expected {want!r}, got {outcome[key]!r}")
    return failures


def run_example(
    ruleset: RuleSet,
    example: Mapping[str, Any],
    functions: Functions,
    predict: Callable[[str], Mapping[str, Any]] | None,
) -> tuple[list[str], Routing, dict[str, Any]]:
    """Route one example; returns (failures, routing, prediction)."""
    ticket = _example_ticket(example.get("ticket") or {})
    if example.get("prediction") is not None:
        prediction = {"confidence": 1.0, "alternatives": [], "novelty": None, **example["prediction"]}
    elif predict is not None:
        prediction = dict(predict(ticket["text"]))
    else:
        return ["no prediction given and no active model to make one"], Routing("", ""), {}
    routing = route(ruleset, ticket, prediction, functions)
    return expectation_failures(example.get("expect") or {}, outcome_of(routing, prediction)), routing, prediction


def example_problems(
    ruleset: RuleSet, functions: Functions, predict: Callable[[str], Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    problems = []
    for rule in ruleset.rules:
        for i, example in enumerate(rule.examples):
            if not isinstance(example.get("expect"), dict):
                problems.append(
                    {
                        "where": f"rules[{rule.id}].examples[{i}]",
                        "line": rule.line,
                        "message": "an example needs an expect mapping",
                    }
                )
                continue
            failures, routing, _ = run_example(ruleset, example, functions, predict)
            if failures:
                trace = [t.get("explanation") for t in routing.trace if t.get("rule") == rule.id]
                problems.append(
                    {
                        "where": f"rules[{rule.id}].examples[{i}]",
                        "line": rule.line,
                        "message": "; ".join(failures),
                        "explanation": trace[0] if trace and trace[0] else None,
                    }
                )
    return problems


def validate_text(text: str, functions: Functions, predict: Callable[[str], Mapping[str, Any]] | None) -> RuleSet:
    """Parse, compile and run every example; raises ``ValidationError`` listing all problems."""
    ruleset = parse_ruleset(text, functions=functions)
    problems = example_problems(ruleset, functions, predict)
    if problems:
        raise ValidationError(f"{len(problems)} rule example(s) do not hold", errors=problems)
    return ruleset


# --- versions ----------------------------------------------------------------------------------------


def _row_dict(row: RulesetVersion, with_content: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id,
        "version": row.version,
        "author": row.author,
        "reason": row.reason,
        "active": row.active,
        "created_at": row.created_at,
        "diff": row.diff,
    }
    if with_content:
        out["content"] = row.content
    return out


def active_text(db: Database, file_text: str) -> tuple[str, str, int | None]:
    """(content, version, row id) of the rule set in force; row id None while the file is."""
    with db.session() as s:
        row = s.scalars(select(RulesetVersion).where(RulesetVersion.active.is_(True))).first()
        if row is None:
            return file_text, parse_version(file_text), None
        return row.content, row.version, row.id


def parse_version(text: str) -> str:
    from ..routing.ruleset import content_version

    return content_version(text)


def save(
    db: Database,
    file_text: str,
    text: str,
    *,
    if_match: str | None,
    author: str,
    reason: str,
    functions: Functions,
    predict: Callable[[str], Mapping[str, Any]] | None,
    check_groups: Callable[[RuleSet], None] | None = None,
) -> dict[str, Any]:
    """Store ``text`` as the new active version if ``if_match`` names the one in force.

    ``check_groups`` refuses queues that have no group in a helpdesk the router routes in."""
    if not if_match:
        raise PreconditionRequired("send If-Match with the ETag of the rule set you edited (GET /v1/rules)")
    ruleset = validate_text(text, functions, predict)
    if check_groups is not None:
        check_groups(ruleset)
    with db.session() as s:
        current = s.scalars(select(RulesetVersion).where(RulesetVersion.active.is_(True)).with_for_update()).first()
        current_text = current.content if current else file_text
        current_version = current.version if current else parse_version(file_text)
        if if_match.strip().strip('"') != current_version:
            raise PreconditionFailed(
                f"the rule set changed since you read it (now {current_version}); reload, merge and save again",
                errors={"If-Match": [f"expected {current_version}"]},
            )
        if current is not None:
            current.active = False
        row = RulesetVersion(
            version=ruleset.version,
            content=text,
            author=author,
            reason=reason,
            diff=_diff(current_text, text),
            active=True,
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            actor=author,
            action="rules.save",
            target=ruleset.version,
            reason=reason,
            before={"version": current_version},
            after={"version": ruleset.version, "id": row.id},
        )
        return _row_dict(row)


def list_versions(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        return [_row_dict(r) for r in s.scalars(select(RulesetVersion).order_by(RulesetVersion.id.desc()))]


def rollback(db: Database, *, author: str, reason: str, to: int | None = None) -> dict[str, Any]:
    """Make an earlier saved version active again (by default the one saved before the active one)."""
    with db.session() as s:
        current = s.scalars(select(RulesetVersion).where(RulesetVersion.active.is_(True)).with_for_update()).first()
        if to is not None:
            target = s.get(RulesetVersion, to)
            if target is None:
                raise NotFound(f"no saved rule set with id {to}")
        else:
            if current is None:
                raise Conflict("no saved rule set is in force; there is nothing to roll back")
            target = s.scalars(
                select(RulesetVersion).where(RulesetVersion.id < current.id).order_by(RulesetVersion.id.desc())
            ).first()
            if target is None:
                raise Conflict("the active rule set is the first saved one; there is no earlier version")
        if current is not None and current.id == target.id:
            raise Conflict(f"rule set {target.id} is already active")
        if current is not None:
            current.active = False
        target.active = True
        audit.record(
            s,
            actor=author,
            action="rules.rollback",
            target=target.version,
            reason=reason,
            before={"id": current.id if current else None, "version": current.version if current else None},
            after={"id": target.id, "version": target.version},
        )
        return _row_dict(target)


# --- dry run ---------------------------------------------------------------------------------------------


def dry_run(
    ctx: Context,
    current: RuleSet,
    proposed: RuleSet,
    limit: int = 1000,
    examples_per_rule: int = 3,
) -> dict[str, Any]:
    """Replay the last ``limit`` stored tickets, with their stored predictions, through both rule sets.

    Each side is decided the way the service decides (rule functions and plugins included), so the
    current rule set reproduces the stored decisions and only the draft's changes are counted.
    """
    with ctx.db.session() as s:
        rows = s.execute(
            select(Ticket, Decision)
            .join(Decision, Decision.ticket_id == Ticket.id)
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
            .limit(max(1, min(limit, 50_000)))
        ).all()
        items = [(_stored_ticket(t), _stored_prediction(d), t.source, t.external_id) for t, d in rows]
    changed, by_rule = 0, {}  # type: ignore[var-annotated]
    keys = ("queue", "priority", "escalate", "review_reasons", "tags")
    for ticket, (prediction, version), source, external_id in items:
        before = _outcome(decision_for(ctx, ticket, prediction, model_version=version, ruleset=current))
        after_decision = decision_for(ctx, ticket, prediction, model_version=version, ruleset=proposed)
        after = _outcome(after_decision)
        if all(before[k] == after[k] for k in keys):
            continue
        changed += 1
        trace = after_decision["explanation"]["rules"]
        matched = [t["rule"] for t in trace[1:] if t.get("matched")] or ["(no rule matched)"]
        entry = by_rule.setdefault(", ".join(matched), {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < examples_per_rule:
            entry["examples"].append(
                {
                    "ticket": {"source": source, "id": external_id, "text": ticket["text"][:200]},
                    "before": {k: before[k] for k in keys},
                    "after": {k: after[k] for k in keys},
                }
            )
    return {
        "replayed": len(items),
        "changed": changed,
        "unchanged": len(items) - changed,
        "current_version": current.version,
        "proposed_version": proposed.version,
        "by_rule": by_rule,
    }


def _outcome(decision: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "queue": decision["queue"],
        "priority": decision["priority"],
        "escalate": decision["escalation"] is not None,
        "review_reasons": decision["review_reasons"],
        "tags": decision["tags"],
    }


def _stored_ticket(t: Ticket) -> dict[str, Any]:
    from .intake import stored_ticket

    return stored_ticket(t)


#: Review reasons the model itself gives; the others come from rules and plugins.
MODEL_REASONS = frozenset({"low_confidence", "ambiguous", "novel"})


def _stored_prediction(d: Decision) -> tuple[dict[str, Any], str]:
    prediction = {
        "intent": d.intent,
        "confidence": d.confidence,
        "alternatives": d.alternatives,
        "novelty": d.novelty,
        "review_reasons": [r for r in d.review_reasons or [] if r in MODEL_REASONS],
    }
    return prediction, d.model_version
