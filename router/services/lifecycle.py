"""Model lifecycle: candidate → shadow / canary → active → retired, gated, audited, reversible.

The state lives in the database (``model_versions.state`` and the ``model_slots`` rows), so every
worker of every instance follows it; each change is recorded in the audit log with actor, reason
and the state before and after.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..db import Decision, ModelSlot, ModelVersion
from ..db.lifecycle import GateReport
from ..errors import Conflict, NotFound, RouterError, ValidationError
from ..registry.gates import run_gates
from ..services import rules as rules_service

log = logging.getLogger(__name__)
TARGETS = ("shadow", "canary", "active")


class GateFailed(RouterError):
    status = 409
    code = "gate_failed"


def slots_by_name(s: Session) -> dict[str, ModelSlot]:
    return {row.slot: row for row in s.scalars(select(ModelSlot))}


def slot_snapshot(s: Session) -> dict[str, Any]:
    return {
        slot: {"version": row.version, **({"percent": row.percent} if row.percent else {})}
        for slot, row in slots_by_name(s).items()
    }


def _set_slot(s: Session, slot: str, version: str, **fields: Any) -> None:
    row = s.get(ModelSlot, slot)
    now = datetime.now(UTC)
    if row is None:
        s.add(ModelSlot(slot=slot, version=version, updated_at=now, **fields))
        return
    row.version, row.updated_at = version, now
    row.percent = fields.get("percent")
    row.since_decision_id = fields.get("since_decision_id")
    row.previous_version = fields.get("previous_version")


def clear_slot(s: Session, slot: str) -> None:
    row = s.get(ModelSlot, slot)
    if row is not None:
        s.delete(row)


def _last_decision_id(s: Session) -> int:
    return int(s.scalar(select(func.max(Decision.id))) or 0)


def _ruleset_text(ctx: Any) -> str:
    content, _, _ = rules_service.active_text(ctx.db, ctx.file_ruleset_text())
    return content


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
    if target == "canary" and (percent is None or not 0 < percent < 100):
        raise ValidationError(
            "a canary needs a percentage between 0 and 100", errors={"percent": ["0 < percent < 100"]}
        )
    if force and not reason.strip():
        raise ValidationError("--force needs a written reason", errors={"reason": ["required with force"]})
    with ctx.db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        slots = slots_by_name(s)
        if row.state == target and not (target == "canary" and slots["canary"].percent != percent):
            raise Conflict(f"model {version} is already {target}")
        active = slots["active"].version if "active" in slots else None
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
            f"model {version} did not pass the {', '.join(failed)} gate(s); it stays {row.state}", errors=report
        )
    with ctx.db.session() as s:
        before = slot_snapshot(s)
        row = s.get(ModelVersion, version)
        assert row is not None
        _transition(s, row, target, percent)
        audit.record(
            s,
            actor=actor,
            action=f"model.{target}" + (".forced" if force and not report["passed"] else ""),
            target=version,
            reason=reason,
            before=before,
            after={
                **slot_snapshot(s),
                "gates": {g["name"]: g["passed"] for g in report["gates"]},
                "ruleset_version": ruleset_version,
            },
        )
        after = slot_snapshot(s)
    ctx.runtime.invalidate()
    return {"version": version, "state": target, "slots": after, "gate_report": report}


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


def _transition(s: Session, row: ModelVersion, target: str, percent: float | None) -> None:
    slots = slots_by_name(s)
    since = _last_decision_id(s)
    for slot in ("shadow", "canary"):  # leaving its old slot
        if slot in slots and slots[slot].version == row.version and slot != target:
            clear_slot(s, slot)
    if target in ("shadow", "canary"):
        displaced = slots.get(target)
        if displaced is not None and displaced.version != row.version:
            old = s.get(ModelVersion, displaced.version)
            if old is not None:
                old.state = "candidate"
        active = slots.get("active")
        _set_slot(
            s,
            target,
            row.version,
            percent=percent if target == "canary" else None,
            since_decision_id=since,
            previous_version=active.version if active else None,
        )
    else:
        current = slots.get("active")
        if current is not None and current.version != row.version:
            old = s.get(ModelVersion, current.version)
            if old is not None:
                old.state = "retired"
            _set_slot(s, "previous", current.version)
        _set_slot(
            s, "active", row.version, since_decision_id=since, previous_version=current.version if current else None
        )
    row.state = target
    s.flush()


def activate_ungated(db: Any, version: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Make ``version`` active without gates: for the first model of a new installation and for tests."""
    with db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        before = slot_snapshot(s)
        _transition(s, row, "active", None)
        audit.record(
            s, actor=actor, action="model.active", target=version, reason=reason, before=before, after=slot_snapshot(s)
        )
        return slot_snapshot(s)


def retire(ctx: Any, version: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Take a shadow or canary version out of service."""
    with ctx.db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        if row.state == "active":
            raise Conflict("the active version cannot be retired; activate or roll back to another one")
        before = slot_snapshot(s)
        for slot in ("shadow", "canary"):
            current = s.get(ModelSlot, slot)
            if current is not None and current.version == version:
                clear_slot(s, slot)
        row.state = "retired"
        s.flush()
        audit.record(
            s, actor=actor, action="model.retire", target=version, reason=reason, before=before, after=slot_snapshot(s)
        )
        after = slot_snapshot(s)
    ctx.runtime.invalidate()
    return {"version": version, "state": "retired", "slots": after}


def rollback(
    ctx: Any, *, actor: str, reason: str = "", expected_active: str | None = None, figures: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make the previously active version active again (no gates: it served before)."""
    with ctx.db.session() as s:
        slots = slots_by_name(s)
        if "active" not in slots or "previous" not in slots:
            raise Conflict("there is no previously active version to roll back to")
        bad, good = slots["active"].version, slots["previous"].version
        if expected_active is not None and bad != expected_active:
            raise Conflict(f"{expected_active} is no longer active ({bad} is); nothing rolled back")
        before = slot_snapshot(s)
        bad_row, good_row = s.get(ModelVersion, bad), s.get(ModelVersion, good)
        assert bad_row is not None and good_row is not None
        bad_row.state, good_row.state = "retired", "active"
        _set_slot(s, "active", good)
        _set_slot(s, "previous", bad)
        s.flush()
        action = "model.auto_rollback" if figures is not None else "model.rollback"
        audit.record(
            s,
            actor=actor,
            action=action,
            target=good,
            reason=reason,
            before=before,
            after={**slot_snapshot(s), **({"figures": figures} if figures else {})},
        )
        after = slot_snapshot(s)
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
