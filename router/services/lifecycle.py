"""Model lifecycle: candidate → shadow / canary → active → retired, gated, audited, reversible.

The state lives in the database (``model_versions.state`` and the ``model_slots`` rows), so every
worker of every instance follows it; each change is recorded in the audit log with actor, reason
and the state before and after.

The states form a validated state machine (:data:`ALLOWED`). A version is in at most one serving
slot (shadow, canary, active) and its state names that slot; the active version is never retired
directly, it leaves only when another version is activated or by a rollback. Every transition is a
few conditional updates in one transaction (see :mod:`router.db.lifecycle`): when two requests race,
one applies and the other gets a 409, never a half-applied change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..db import Decision, ModelSlot
from ..db import lifecycle as db
from ..db.lifecycle import GateReport
from ..errors import Conflict, NotFound, RouterError, ValidationError
from ..registry.gates import run_gates
from ..registry.runtime import CANARY_MAX_PERCENT, CANARY_MIN_PERCENT
from ..services import rules as rules_service

log = logging.getLogger(__name__)
TARGETS = ("shadow", "canary", "active")
SERVING = ("shadow", "canary", "active")
# state -> the states it may go to; canary -> canary changes the percentage
ALLOWED: dict[str, frozenset[str]] = {
    "candidate": frozenset({"shadow", "canary", "active", "retired"}),
    "shadow": frozenset({"canary", "active", "retired"}),
    "canary": frozenset({"shadow", "canary", "active", "retired"}),
    "active": frozenset(),  # replaced by activating another version, or by a rollback
    "retired": frozenset({"shadow", "canary", "active"}),
}


class GateFailed(RouterError):
    status = 409
    code = "gate_failed"


def slots_by_name(s: Session) -> dict[str, ModelSlot]:
    return {row.slot: row for row in s.scalars(select(ModelSlot))}


def _snapshot(slots: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {
        slot: {"version": row["version"], **({"percent": row["percent"]} if row["percent"] else {})}
        for slot, row in slots.items()
    }


def slot_snapshot(s: Session) -> dict[str, Any]:
    return _snapshot({slot: {"version": r.version, "percent": r.percent} for slot, r in slots_by_name(s).items()})


def check_transition(version: str, state: str, target: str) -> None:
    """Refuse (409) a move the state machine does not have, saying what to do instead."""
    if target in ALLOWED.get(state, frozenset()):
        return
    if state == "active":
        verb = "be retired" if target == "retired" else f"become {target}"
        raise Conflict(
            f"model {version} is active and cannot {verb}; activate another version or roll back first",
            errors={"state": [f"active cannot become {target}"]},
        )
    if state == target:
        raise Conflict(f"model {version} is already {target}", errors={"state": [f"already {target}"]})
    raise Conflict(f"model {version} is {state} and cannot become {target}", errors={"state": [f"{state} -> {target}"]})


def check_percent(percent: float | None) -> float:
    if percent is None or not math.isfinite(percent) or not CANARY_MIN_PERCENT <= percent <= CANARY_MAX_PERCENT:
        raise ValidationError(
            f"a canary decides between {CANARY_MIN_PERCENT} % and {CANARY_MAX_PERCENT:g} % of tickets",
            errors={"percent": [f"{CANARY_MIN_PERCENT} <= percent <= {CANARY_MAX_PERCENT:g}"]},
        )
    return percent


_ANY = object()


def _move(
    conn: Connection,
    version: str,
    target: str,
    *,
    percent: float | None = None,
    only_from: str | None = None,
    expected_active: Any = _ANY,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply one transition inside the caller's transaction; returns the slots before and after."""
    slots = db.read_slots(conn, lock=True)
    state = db.read_state(conn, version)
    if state is None:
        raise NotFound(f"model version {version!r} is not registered")
    if only_from is not None and state != only_from:
        raise Conflict(f"model {version} is no longer {only_from} (it is {state}); nothing was changed")
    active = slots["active"]["version"] if "active" in slots else None
    if expected_active is not _ANY and active != expected_active:
        raise Conflict(f"the active version changed ({active} now) while this request ran; nothing was changed")
    check_transition(version, state, target)
    if target == "canary":
        percent = check_percent(percent)
        if state == "canary" and slots["canary"]["percent"] == percent:
            raise Conflict(f"model {version} is already canary at {percent:g} %", errors={"percent": ["unchanged"]})
    before = _snapshot(slots)
    since = int(conn.scalar(select(func.max(Decision.id))) or 0)
    db.set_state(conn, version, state, target)
    if state in ("shadow", "canary") and state != target:
        db.leave_slot(conn, state, version)
    if target in ("shadow", "canary"):
        held = slots[target]["version"] if target in slots else None
        if held is not None and held != version:
            db.set_state(conn, held, target, "candidate")  # displaced: back to a candidate
        db.take_slot(
            conn,
            target,
            version,
            held,
            percent=percent if target == "canary" else None,
            since_decision_id=since,
            previous_version=active,
        )
    elif target == "active":
        if active is not None:
            db.set_state(conn, active, "active", "retired")
        db.take_slot(conn, "active", version, active, since_decision_id=since, previous_version=active)
        if active is not None:
            previous = slots["previous"]["version"] if "previous" in slots else None
            db.take_slot(conn, "previous", active, previous)
    return before, _snapshot(db.read_slots(conn))


def _record(conn: Connection, **entry: Any) -> None:
    with Session(bind=conn) as s:
        audit.record(s, **entry)
        s.flush()


def transition(
    database: Any,
    version: str,
    target: str,
    *,
    actor: str,
    reason: str = "",
    percent: float | None = None,
    action: str | None = None,
    extra: dict[str, Any] | None = None,
    only_from: str | None = None,
    expected_active: Any = _ANY,
) -> dict[str, Any]:
    """One ungated transition, audited, in one transaction (see :func:`_move` for the conditions)."""
    with database.write() as conn:
        before, after = _move(
            conn, version, target, percent=percent, only_from=only_from, expected_active=expected_active
        )
        _record(
            conn,
            actor=actor,
            action=action or f"model.{'retire' if target == 'retired' else target}",
            target=version,
            reason=reason,
            before=before,
            after={**after, **(extra or {})},
        )
    return after


def promote(
    ctx: Any,
    version: str,
    target: str,
    *,
    actor: str,
    reason: str = "",
    percent: float | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the gates, then move ``version`` into ``target`` (shadow, canary or active)."""
    if target not in TARGETS:
        raise ValidationError(f"unknown target {target!r}", errors={"target": [f"one of {', '.join(TARGETS)}"]})
    if target == "canary":
        percent = check_percent(percent)
    if force and not reason.strip():
        raise ValidationError("--force needs a written reason", errors={"reason": ["required with force"]})
    with ctx.db.engine.connect() as conn:  # refuse an impossible move before spending time on the gates
        state = db.read_state(conn, version)
        if state is None:
            raise NotFound(f"model version {version!r} is not registered")
        slots = db.read_slots(conn)
        check_transition(version, state, target)
        if target == "canary" and state == "canary" and slots["canary"]["percent"] == percent:
            raise Conflict(f"model {version} is already canary at {percent:g} %", errors={"percent": ["unchanged"]})
        active = slots["active"]["version"] if "active" in slots else None
    ruleset_version = ctx.ruleset().version
    compared_with = active if active != version else None
    report = _recent_pass(ctx, version, target, compared_with, ruleset_version) or run_gates(
        ctx, version, compared_with, _ruleset_text(ctx)
    )
    with ctx.db.session() as s:
        s.add(
            GateReport(
                version=version,
                target=target,
                passed=report["passed"],
                forced=force and not report["passed"],
                reason=reason,
                report=report,
                ruleset_version=ruleset_version,
            )
        )
    if not report["passed"] and not force:
        failed = [g["name"] for g in report["gates"] if not g["passed"]]
        raise GateFailed(
            f"model {version} did not pass the {', '.join(failed)} gate(s); it stays {state}", errors=report
        )
    after = transition(
        ctx.db,
        version,
        target,
        actor=actor,
        reason=reason,
        percent=percent,
        action=f"model.{target}" + (".forced" if force and not report["passed"] else ""),
        extra={"gates": {g["name"]: g["passed"] for g in report["gates"]}, "ruleset_version": ruleset_version},
        expected_active=active,  # the gates compared with this version
    )
    ctx.runtime.invalidate()
    return {"version": version, "state": target, "slots": after, "gate_report": report}


def _ruleset_text(ctx: Any) -> str:
    content, _, _ = rules_service.active_text(ctx.db, ctx.file_ruleset_text())
    return content


REUSE_GATES_S = 24 * 3600


def _recent_pass(
    ctx: Any, version: str, target: str, compared_with: str | None, ruleset_version: str
) -> dict[str, Any] | None:
    """A passing report for the same version, target, baseline and rule set from the last day.

    Artefacts are immutable, so re-running the gates would measure the same thing again; an
    operator flipping between two versions is not slowed down by them.
    """
    since = datetime.now(UTC).timestamp() - REUSE_GATES_S
    with ctx.db.session() as s:
        rows = s.scalars(
            select(GateReport)
            .where(
                GateReport.version == version,
                GateReport.target == target,
                GateReport.passed.is_(True),
                GateReport.ruleset_version == ruleset_version,
            )
            .order_by(GateReport.id.desc())
            .limit(5)
        )
        for row in rows:
            if row.at.timestamp() >= since and row.report.get("compared_with") == compared_with:
                return {**row.report, "reused_from": row.id}
    return None


def activate_ungated(db_: Any, version: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Make ``version`` active without gates: for the first model of a new installation and for tests."""
    return transition(db_, version, "active", actor=actor, reason=reason)


def retire(
    ctx: Any,
    version: str,
    *,
    actor: str,
    reason: str = "",
    only_from: str | None = None,
    action: str = "model.retire",
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Take a candidate, shadow or canary version out of service (never the active one)."""
    after = transition(
        ctx.db,
        version,
        "retired",
        actor=actor,
        reason=reason,
        action=action,
        extra={"figures": figures} if figures else None,
        only_from=only_from,
    )
    ctx.runtime.invalidate()
    return {"version": version, "state": "retired", "slots": after}


def rollback(
    ctx: Any, *, actor: str, reason: str = "", expected_active: str | None = None, figures: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make the previously active version active again (no gates: it served before)."""
    with ctx.db.write() as conn:
        slots = db.read_slots(conn, lock=True)
        if "active" not in slots or "previous" not in slots:
            raise Conflict("there is no previously active version to roll back to")
        bad, good = slots["active"]["version"], slots["previous"]["version"]
        if expected_active is not None and bad != expected_active:
            raise Conflict(f"{expected_active} is no longer active ({bad} is); nothing rolled back")
        good_state = db.read_state(conn, good)
        assert good_state is not None, "slots reference registered versions"
        before = _snapshot(slots)
        if good_state in ("shadow", "canary"):
            db.leave_slot(conn, good_state, good)
        db.set_state(conn, good, good_state, "active")
        db.set_state(conn, bad, "active", "retired")
        db.take_slot(conn, "active", good, bad)
        db.take_slot(conn, "previous", bad, good)
        after = _snapshot(db.read_slots(conn))
        _record(
            conn,
            actor=actor,
            action="model.auto_rollback" if figures is not None else "model.rollback",
            target=good,
            reason=reason,
            before=before,
            after={**after, **({"figures": figures} if figures else {})},
        )
    ctx.runtime.invalidate()
    ctx.runtime.refresh()  # this worker answers with the old version at once
    return {"version": good, "rolled_back": bad, "slots": after}


def upload(ctx: Any, artefact: Any, card: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Register an artefact produced elsewhere as a candidate, after it loads in a separate process."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..registry import versions
    from ..registry.gates import _last_json, _run, probe_command
    from ..registry.store import import_artefact

    if not isinstance(card, dict) or not isinstance(card.get("artefact"), dict):
        raise ValidationError("the card must be a JSON object with an artefact section", errors={"card": ["invalid"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.joblib"
        with path.open("wb") as fh:
            shutil.copyfileobj(artefact, fh)
        card = import_artefact(ctx.store, path, card)
    version = card["version"]
    code, out, err = _run(probe_command(ctx, version))
    probe = _last_json(out) or {}
    if code != 0 or not probe.get("loaded") or probe.get("smoke", {}).get("error_count"):
        shutil.rmtree(ctx.store.path_for(version), ignore_errors=True)
        raise ValidationError(
            f"the uploaded model does not work: {probe.get('error') or err.strip()[-300:]}",
            errors={"artefact": [probe.get("error") or "failed the smoke tickets"]},
        )
    card.setdefault("uploaded_by", actor)
    versions.register(ctx.db, card, actor=actor)
    return {"version": version, "state": "candidate", "smoke": probe.get("smoke")}
