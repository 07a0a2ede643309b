"""Automatic rollback: compare a version in its watch window with the one before it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..db.lifecycle import ModelError, end_watch
from ..errors import Conflict
from ..monitoring import metrics
from .lifecycle import retire, rollback, slots_by_name
from .model_info import decision_stats

log = logging.getLogger(__name__)


MIN_REVIEWED = 20  # labels each side needs before override rates are compared


def _breaches(new: dict[str, Any], base: dict[str, Any], settings: Any) -> list[str]:
    found = []
    errors = 100 * (new.get("error_share", 0.0) - base.get("error_share", 0.0))
    if errors > settings.guard_error_points:
        found.append(
            f"it failed on {new['errors']} tickets, {errors:.1f} points more often than the version "
            f"before ({base.get('error_share', 0.0):.1%} → {new['error_share']:.1%}); "
            f"guardrail {settings.guard_error_points:g}"
        )
    if not new.get("decisions") or not base.get("decisions"):
        return found
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
    if min(new.get("agent_judged", 0), base.get("agent_judged", 0)) >= MIN_REVIEWED:
        rise = 100 * (new["agent_override_rate"] - base["agent_override_rate"])
        if rise > settings.guard_override_points:
            found.append(
                f"agents moved its tickets to another queue {rise:.1f} points more often "
                f"({base['agent_override_rate']:.1%} of {base['agent_judged']} → "
                f"{new['agent_override_rate']:.1%} of {new['agent_judged']}); "
                f"guardrail {settings.guard_override_points:g}"
            )
    return found


def _add_errors(s: Session, stats: dict[str, Any], version: str, start: datetime, end: datetime) -> None:
    """Add the version's failed tickets in [start, end] and its error share to ``stats``."""
    errors = int(
        s.scalar(
            select(func.count(ModelError.id)).where(
                ModelError.version == version, ModelError.at >= start, ModelError.at <= end
            )
        )
        or 0
    )
    stats["errors"] = errors
    stats["error_share"] = round(errors / (stats["decisions"] + errors), 4) if stats["decisions"] + errors else 0.0


def watch(ctx: Any) -> list[dict[str, Any]]:
    """Compare each version in its watch window with the one before; roll back on a breached guardrail."""
    settings, now = ctx.settings, datetime.now(UTC)
    breached: list[dict[str, Any]] = []
    with ctx.db.session() as s:
        slots = slots_by_name(s)
        for slot in ("canary", "active"):
            row = slots.get(slot)
            if row is None or row.since_decision_id is None:
                continue
            baseline = row.previous_version if slot == "active" else getattr(slots.get("active"), "version", None)
            if baseline is None or baseline == row.version:
                end_watch(s, slot, row.version)
                continue
            new = decision_stats(s, row.version, since_id=row.since_decision_id)
            window_over = (now - row.updated_at).total_seconds() / 60 > settings.watch_minutes or new[
                "decisions"
            ] >= settings.watch_tickets
            if slot == "canary":
                base = decision_stats(s, baseline, since_id=row.since_decision_id)
                base_from = row.updated_at
            else:
                base = decision_stats(s, baseline, until_id=row.since_decision_id, last=settings.watch_tickets)
                base_from = row.updated_at - (now - row.updated_at)  # as long a span, before the swap
            _add_errors(s, new, row.version, row.updated_at, now)
            _add_errors(s, base, baseline, base_from, row.updated_at if slot == "active" else now)
            seen = min(new["decisions"] + new["errors"], base["decisions"] + base["errors"])
            if seen < settings.watch_min_tickets:
                if window_over:
                    end_watch(s, slot, row.version)  # too little traffic to judge: the watch ends
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
                end_watch(s, slot, row.version)
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
    retire(
        ctx, version, actor="watch", reason=reason, only_from="canary", action="model.auto_rollback", figures=figures
    )
