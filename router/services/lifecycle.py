"""Model lifecycle: candidate → shadow / canary → active → retired, gated, audited, reversible.

The state lives in the database (``model_versions.state`` and the ``model_slots`` rows), so every
worker of every instance follows it; each change is recorded in the audit log with actor, reason
and the state before and after.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..db import Decision, ModelSlot, ModelVersion
from ..db.lifecycle import GateReport, ShadowResult
from ..db.review import ReviewLabel
from ..errors import Conflict, NotFound, RouterError, ValidationError
from ..monitoring import metrics
from ..registry.gates import run_gates
from ..services import rules as rules_service

log = logging.getLogger(__name__)
TARGETS = ("shadow", "canary", "active")


class GateFailed(RouterError):
    status = 409
    code = "gate_failed"


def _slots(s: Session) -> dict[str, ModelSlot]:
    return {row.slot: row for row in s.scalars(select(ModelSlot))}


def _snapshot(s: Session) -> dict[str, Any]:
    return {
        slot: {"version": row.version, **({"percent": row.percent} if row.percent else {})}
        for slot, row in _slots(s).items()
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


def _clear_slot(s: Session, slot: str) -> None:
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
        slots = _slots(s)
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
        before = _snapshot(s)
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
                **_snapshot(s),
                "gates": {g["name"]: g["passed"] for g in report["gates"]},
                "ruleset_version": ruleset_version,
            },
        )
        after = _snapshot(s)
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
    slots = _slots(s)
    since = _last_decision_id(s)
    for slot in ("shadow", "canary"):  # leaving its old slot
        if slot in slots and slots[slot].version == row.version and slot != target:
            _clear_slot(s, slot)
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
        before = _snapshot(s)
        _transition(s, row, "active", None)
        audit.record(
            s, actor=actor, action="model.active", target=version, reason=reason, before=before, after=_snapshot(s)
        )
        return _snapshot(s)


def retire(ctx: Any, version: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Take a shadow or canary version out of service."""
    with ctx.db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        if row.state == "active":
            raise Conflict("the active version cannot be retired; activate or roll back to another one")
        before = _snapshot(s)
        for slot in ("shadow", "canary"):
            current = s.get(ModelSlot, slot)
            if current is not None and current.version == version:
                _clear_slot(s, slot)
        row.state = "retired"
        s.flush()
        audit.record(
            s, actor=actor, action="model.retire", target=version, reason=reason, before=before, after=_snapshot(s)
        )
        after = _snapshot(s)
    ctx.runtime.invalidate()
    return {"version": version, "state": "retired", "slots": after}


def rollback(
    ctx: Any, *, actor: str, reason: str = "", expected_active: str | None = None, figures: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make the previously active version active again (no gates: it served before)."""
    with ctx.db.session() as s:
        slots = _slots(s)
        if "active" not in slots or "previous" not in slots:
            raise Conflict("there is no previously active version to roll back to")
        bad, good = slots["active"].version, slots["previous"].version
        if expected_active is not None and bad != expected_active:
            raise Conflict(f"{expected_active} is no longer active ({bad} is); nothing rolled back")
        before = _snapshot(s)
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
            after={**_snapshot(s), **({"figures": figures} if figures else {})},
        )
        after = _snapshot(s)
    ctx.runtime.invalidate()
    ctx.runtime.refresh()  # this worker answers with the old version at once
    return {"version": good, "rolled_back": bad, "slots": after}


def gate_reports(ctx: Any, version: str) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(GateReport).where(GateReport.version == version).order_by(GateReport.id.desc()))
        return [
            {
                "id": r.id,
                "target": r.target,
                "passed": r.passed,
                "forced": r.forced,
                "reason": r.reason,
                "ruleset_version": r.ruleset_version,
                "at": r.at,
                "report": r.report,
            }
            for r in rows
        ]


def decision_stats(
    s: Session, version: str, since_id: int = 0, until_id: int | None = None, last: int | None = None
) -> dict[str, Any]:
    """Live figures of one version's decisions: count, mean confidence, low-confidence and review shares."""
    stmt = select(Decision.confidence, Decision.review_reasons, Decision.needs_review).where(
        Decision.model_version == version, Decision.id > since_id
    )
    if until_id is not None:
        stmt = stmt.where(Decision.id <= until_id)
    stmt = stmt.order_by(Decision.id.desc())
    if last is not None:
        stmt = stmt.limit(last)
    rows = s.execute(stmt).all()
    n = len(rows)
    if not n:
        return {"decisions": 0}
    out = {
        "decisions": n,
        "mean_confidence": round(sum(r.confidence for r in rows) / n, 4),
        "low_confidence_share": round(sum("low_confidence" in (r.review_reasons or []) for r in rows) / n, 4),
        "review_share": round(sum(bool(r.needs_review) for r in rows) / n, 4),
    }
    labels = s.execute(
        select(func.count(ReviewLabel.id), func.sum(cast(ReviewLabel.overridden, Integer))).where(
            ReviewLabel.model_version == version,
            ReviewLabel.decision_id > since_id,
            *([ReviewLabel.decision_id <= until_id] if until_id is not None else []),
        )
    ).one()
    if labels[0]:
        out["reviewed"] = int(labels[0])
        out["override_rate"] = round(int(labels[1] or 0) / int(labels[0]), 4)
    return out


def shadow_stats(s: Session, version: str) -> dict[str, Any]:
    row = s.execute(
        select(
            func.count(ShadowResult.id),
            func.avg(ShadowResult.confidence),
            func.avg(cast(ShadowResult.agrees, Integer)),
            func.avg(cast(ShadowResult.needs_review, Integer)),
            func.avg(ShadowResult.ms),
        ).where(ShadowResult.version == version)
    ).one()
    if not row[0]:
        return {"scored": 0}
    return {
        "scored": int(row[0]),
        "mean_confidence": round(float(row[1]), 4),
        "agreement": round(float(row[2]), 4),
        "review_share": round(float(row[3]), 4),
        "mean_ms": round(float(row[4]), 3),
    }


def describe(ctx: Any, version: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        row = s.get(ModelVersion, version)
        if row is None:
            raise NotFound(f"model version {version!r} is not registered")
        slots = {slot: r for slot, r in _slots(s).items() if r.version == version}
        live: dict[str, Any] = {"decisions": decision_stats(s, version)}
        if "shadow" in slots or s.scalar(select(func.count(ShadowResult.id)).where(ShadowResult.version == version)):
            live["shadow"] = shadow_stats(s, version)
        return {
            "version": version,
            "state": row.state,
            "created_at": row.created_at,
            "sha256": row.sha256,
            "slots": sorted(slots),
            "canary_percent": slots["canary"].percent if "canary" in slots else None,
            "card": row.card,
            "live": live,
        }


def audit_log(ctx: Any, limit: int = 200) -> list[dict[str, Any]]:
    from ..db import AuditEntry

    with ctx.db.session() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("model.%")).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "reason": r.reason,
                "before": r.before,
                "after": r.after,
            }
            for r in rows
        ]


def lineage(ctx: Any, version: str) -> list[dict[str, Any]]:
    """The chain of parents back from ``version``, each with its fingerprints and gate results."""
    chain, seen = [], set()
    current: str | None = version
    while current and current not in seen:
        seen.add(current)
        card = ctx.store.card(current)
        reports = gate_reports(ctx, current)
        chain.append(
            {
                "version": current,
                "created_at": card.get("created_at"),
                "training_data": card.get("training_data", {}).get("fingerprint"),
                "feedback": (card.get("feedback") or {}).get("fingerprint"),
                "holdout": card.get("holdout", {}).get("fingerprint"),
                "code_version": card.get("code_version"),
                "metrics": {k: card.get("metrics", {}).get(k) for k in ("accuracy", "macro_f1", "ece")},
                "gates": [
                    {
                        "target": r["target"],
                        "passed": r["passed"],
                        "forced": r["forced"],
                        "ruleset_version": r["ruleset_version"],
                        "at": r["at"],
                    }
                    for r in reports
                ],
            }
        )
        current = card.get("parent")
    return chain


# --- automatic rollback ----------------------------------------------------------------------------------


MIN_REVIEWED = 20  # labels each side needs before override rates are compared


def _breaches(new: dict[str, Any], base: dict[str, Any], settings: Any) -> list[str]:
    found = []
    low = 100 * (new["low_confidence_share"] - base["low_confidence_share"])
    if low > settings.guard_low_confidence_points:
        found.append(
            f"low-confidence share rose by {low:.1f} points "
            f"({base['low_confidence_share']:.1%} → {new['low_confidence_share']:.1%}); "
            f"guardrail {settings.guard_low_confidence_points:g}"
        )
    drop = base["mean_confidence"] - new["mean_confidence"]
    if drop > settings.guard_mean_confidence_drop:
        found.append(
            f"mean confidence fell by {drop:.3f} ({base['mean_confidence']:.3f} → "
            f"{new['mean_confidence']:.3f}); guardrail {settings.guard_mean_confidence_drop:g}"
        )
    if min(new.get("reviewed", 0), base.get("reviewed", 0)) >= MIN_REVIEWED:
        rise = 100 * (new["override_rate"] - base["override_rate"])
        if rise > settings.guard_override_points:
            found.append(
                f"reviewers override its intent {rise:.1f} points more often "
                f"({base['override_rate']:.1%} → {new['override_rate']:.1%}); "
                f"guardrail {settings.guard_override_points:g}"
            )
    return found


def watch(ctx: Any) -> list[dict[str, Any]]:
    """Compare each version in its watch window with the one before; roll back on a breached guardrail."""
    settings, now = ctx.settings, datetime.now(UTC)
    breached: list[dict[str, Any]] = []
    with ctx.db.session() as s:
        slots = _slots(s)
        for slot in ("canary", "active"):
            row = slots.get(slot)
            if row is None or row.since_decision_id is None:
                continue
            baseline = row.previous_version if slot == "active" else getattr(slots.get("active"), "version", None)
            if baseline is None or baseline == row.version:
                row.since_decision_id = None
                continue
            new = decision_stats(s, row.version, since_id=row.since_decision_id)
            window_over = (now - row.updated_at).total_seconds() / 60 > settings.watch_minutes or new[
                "decisions"
            ] >= settings.watch_tickets
            if slot == "canary":
                base = decision_stats(s, baseline, since_id=row.since_decision_id)
            else:
                base = decision_stats(s, baseline, until_id=row.since_decision_id, last=settings.watch_tickets)
            if min(new["decisions"], base["decisions"]) < settings.watch_min_tickets:
                if window_over:
                    row.since_decision_id = None  # too little traffic to judge: the watch ends
                continue
            problems = _breaches(new, base, settings)
            if problems:
                breached.append(
                    {
                        "slot": slot,
                        "version": row.version,
                        "baseline": baseline,
                        "figures": {"version": new, "baseline": base},
                        "breaches": problems,
                    }
                )
            elif window_over:
                row.since_decision_id = None
                audit.record(
                    s,
                    actor="watch",
                    action="model.watch_passed",
                    target=row.version,
                    after={"figures": {"version": new, "baseline": base}},
                )
    for b in breached:
        reason = "automatic rollback: " + "; ".join(b["breaches"])
        try:
            if b["slot"] == "active":
                rollback(ctx, actor="watch", reason=reason, expected_active=b["version"], figures=b["figures"])
            else:
                _auto_retire_canary(ctx, b["version"], reason, b["figures"])
        except Conflict:
            continue  # another worker acted first
        metrics.AUTO_ROLLBACKS.labels(slot=b["slot"]).inc()
        log.error(
            "%s: %s rolled back to %s — %s",
            b["slot"],
            b["version"],
            b["baseline"],
            reason,
            extra={"alert": "model.auto_rollback", "figures": b["figures"]},
        )
        ctx.plugins.call_each(
            "router_alert",
            alert={
                "key": f"model.auto_rollback:{b['version']}",
                "severity": "critical",
                "title": f"{b['slot']} model {b['version']} rolled back automatically",
                "message": reason,
                "figures": b["figures"],
            },
        )
    return breached


def _auto_retire_canary(ctx: Any, version: str, reason: str, figures: dict[str, Any]) -> None:
    with ctx.db.session() as s:
        canary = s.get(ModelSlot, "canary")
        if canary is None or canary.version != version:
            raise Conflict(f"{version} is no longer the canary")
        before = _snapshot(s)
        _clear_slot(s, "canary")
        row = s.get(ModelVersion, version)
        if row is not None:
            row.state = "retired"
        s.flush()
        audit.record(
            s,
            actor="watch",
            action="model.auto_rollback",
            target=version,
            reason=reason,
            before=before,
            after={**_snapshot(s), "figures": figures},
        )
    ctx.runtime.invalidate()


def upload(ctx: Any, artefact: Any, card: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Register an artefact produced elsewhere as a candidate, after it loads in a separate process."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..registry import versions
    from ..registry.gates import _last_json, _run
    from ..registry.store import import_artefact

    if not isinstance(card, dict) or not isinstance(card.get("artefact"), dict):
        raise ValidationError("the card must be a JSON object with an artefact section", errors={"card": ["invalid"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.joblib"
        with path.open("wb") as fh:
            shutil.copyfileobj(artefact, fh)
        card = import_artefact(ctx.store, path, card)
    version = card["version"]
    import sys

    code, out, err = _run(
        [
            sys.executable,
            "-m",
            "router.registry.probe",
            str(ctx.store.root),
            version,
            "--smoke",
            str(ctx.settings.smoke_file),
        ]
    )
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
