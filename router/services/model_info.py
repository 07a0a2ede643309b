"""What the registry knows about a version: live figures, shadow agreement, gate reports, audit, lineage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from ..db import AuditEntry, Decision, ModelVersion
from ..db.lifecycle import GateReport, ShadowResult
from ..db.outcomes import Outcome
from ..db.review import ReviewLabel
from ..errors import NotFound
from .lifecycle import slots_by_name


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
    """Live figures of one version's decisions: count, mean confidence, low-confidence and review shares.

    Aggregated in the database, so a version with millions of decisions costs one query.
    """
    stmt = select(Decision.confidence, Decision.review_reasons, Decision.needs_review).where(
        Decision.model_version == version, Decision.id > since_id
    )
    if until_id is not None:
        stmt = stmt.where(Decision.id <= until_id)
    if last is not None:
        stmt = stmt.order_by(Decision.id.desc()).limit(last)
    rows = stmt.subquery()
    low = cast(rows.c.review_reasons, String).like('%"low_confidence"%')
    n, mean, reviewed, low_count = s.execute(
        select(
            func.count(),
            func.avg(rows.c.confidence),
            func.sum(case((rows.c.needs_review.is_(True), 1), else_=0)),
            func.sum(case((low, 1), else_=0)),
        )
    ).one()
    if not n:
        return {"decisions": 0}
    out = {
        "decisions": int(n),
        "mean_confidence": round(float(mean), 4),
        "low_confidence_share": round(int(low_count or 0) / n, 4),
        "review_share": round(int(reviewed or 0) / n, 4),
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
    # what agents did in the helpdesk: a ticket is judged once it was moved or solved
    judged, moved = s.execute(
        select(func.count(Outcome.decision_id), func.sum(cast(Outcome.overridden, Integer))).where(
            Outcome.model_version == version,
            Outcome.decision_id > since_id,
            *([Outcome.decision_id <= until_id] if until_id is not None else []),
            or_(Outcome.overridden.is_(True), Outcome.solved_at.is_not(None)),
        )
    ).one()
    if judged:
        out["agent_judged"] = int(judged)
        out["agent_override_rate"] = round(int(moved or 0) / int(judged), 4)
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
        slots = {slot: r for slot, r in slots_by_name(s).items() if r.version == version}
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
