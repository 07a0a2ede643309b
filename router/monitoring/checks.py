"""The services the scheduled jobs call: each checks one thing and raises or clears its alert."""

from __future__ import annotations

import logging
from typing import Any

from ..review import stats as review_stats
from . import alerts, calibration, explain, metrics, service, surge
from .effects import ALERTING

log = logging.getLogger(__name__)


def _fired(result: dict[str, Any]) -> list[str]:
    """The voting detectors at warning or critical, with their effect."""
    return explain.why(result["detectors"])


def _drift_figures(result: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        name: {
            "p_val": round(r["data"]["p_val"], 6),
            "distance": round(r["data"]["distance"], 4),
            "severity": r["data"].get("severity"),
            "is_drift": r["data"]["is_drift"],
        }
        for name, r in result.get("detectors", {}).items()
    }
    figures["estimate"] = result.get("estimate")
    figures["window"] = {
        "size": result.get("sizes", {}).get("window", result.get("window_size")),
        "reference": result.get("reference"),
        "check_id": result.get("id"),
    }
    return figures


def _drift_title(version: str, severity: str, result: dict[str, Any]) -> str:
    acc = (result.get("estimate") or {}).get("expected_accuracy")
    cost = f": expected accuracy {100 * acc['window']:.1f} % ({acc['change_points']:+.1f} points)" if acc else ""
    return f"Routing at risk on model {version} ({severity}){cost}"


def drift(ctx: Any) -> dict[str, Any]:
    """Check the last window (and the last hour) of the active model; alert at warning or critical,
    send a recovery notice when it falls below; info is stored with the check and shown, never sent."""
    result = service.check(ctx)
    key = f"drift:{result['model_version']}"
    if "skipped" in result:
        out = {k: result[k] for k in ("skipped", "model_version", "window_size")}
        hour = result.get("surge")
        if hour is not None and hour["data"]["severity"] in ALERTING:  # the hour speaks while the window fills
            hourly = {"detectors": {surge.NAME: hour}}
            if alerts.fire(
                ctx,
                key,
                hour["data"]["severity"],
                f"Intent surge on model {result['model_version']}",
                explain.message(hourly),
                _drift_figures(hourly),
            ):
                metrics.ALERTS_SENT.labels(severity=hour["data"]["severity"]).inc()
            out["severity"] = hour["data"]["severity"]
        return out
    version, severity = result["model_version"], result["severity"]
    metrics.DRIFT_CHECKS.labels(drift=str(result["is_drift"]).lower()).inc()
    figures = _drift_figures(result)
    if severity in ALERTING:
        if alerts.fire(ctx, key, severity, _drift_title(version, severity, result), explain.message(result), figures):
            metrics.ALERTS_SENT.labels(severity=severity).inc()
    else:
        alerts.clear(
            ctx,
            key,
            f"drift check {result.get('id')} on model {version}: {explain.lead(result.get('estimate'))}",
            figures,
        )
    return {
        "id": result.get("id"),
        "is_drift": result["is_drift"],
        "severity": severity,
        "estimate": result.get("estimate"),
        "model_version": version,
        "fired": _fired(result),
        "seconds": result["seconds"],
    }


def accuracy(ctx: Any) -> dict[str, Any]:
    """Expected accuracy of recent traffic (mean calibrated confidence) against held-out accuracy."""
    from ..registry.versions import active_version

    version = active_version(ctx.db)
    if version is None:
        return {"skipped": "no active model"}
    est = calibration.expected_accuracy(ctx, version, ctx.settings.drift_window)
    key = f"accuracy:{version}"
    if (
        est["expected_accuracy"] is None
        or est["held_out_accuracy"] is None
        or est["decisions"] < ctx.settings.drift_min_window
    ):
        return {**est, "skipped": "too few decisions"}
    drop = est["held_out_accuracy"] - est["expected_accuracy"]
    est["drop"] = round(drop, 4)
    if drop > ctx.settings.alert_accuracy_drop:
        if alerts.fire(
            ctx,
            key,
            "warning",
            f"Expected accuracy of model {version} dropped",
            f"recent tickets' mean calibrated confidence is {est['expected_accuracy']:.3f}, "
            f"held-out accuracy was {est['held_out_accuracy']:.3f} (drop {drop:.3f} > "
            f"{ctx.settings.alert_accuracy_drop:g})",
            est,
        ):
            metrics.ALERTS_SENT.labels(severity="warning").inc()
    else:
        alerts.clear(
            ctx,
            key,
            f"expected accuracy {est['expected_accuracy']:.3f} is back within "
            f"{ctx.settings.alert_accuracy_drop:g} of held-out {est['held_out_accuracy']:.3f}",
            est,
        )
    return est


def outcome_accuracy(ctx: Any) -> dict[str, Any]:
    """Measured routing accuracy of the active version's last ``ROUTER_OUTCOME_WINDOW`` solved tickets
    (agents left them in the router's queue) against its held-out accuracy; alert on a drop."""
    from ..registry.versions import active_version
    from ..services.outcomes import _figures, solved_rows

    version = active_version(ctx.db)
    if version is None:
        return {"skipped": "no active model"}
    st = ctx.settings
    rows = solved_rows(ctx, last=st.outcome_window, version=version)
    held = calibration.expected_accuracy(ctx, version, 1)["held_out_accuracy"]
    out = {"model_version": version, **_figures(rows), "held_out_accuracy": held, "window": st.outcome_window}
    if held is None or len(rows) < st.outcome_min:
        return {**out, "skipped": f"{len(rows)} solved tickets with an outcome; {st.outcome_min} needed"}
    drop = held - out["accuracy"]
    out["drop"] = round(drop, 4)
    key = f"outcomes:{version}"
    if drop > st.alert_accuracy_drop:
        low, high = out["ci95"]
        if alerts.fire(
            ctx,
            key,
            "warning",
            f"Agents disagree with model {version} more than its held-out figures promised",
            f"of the last {len(rows)} solved tickets, {out['correct']} were solved in the router's queue: "
            f"measured routing accuracy {out['accuracy']:.3f} (95 % {low:.3f}-{high:.3f}) against held-out "
            f"{held:.3f} (drop {drop:.3f} > {st.alert_accuracy_drop:g}); expected from confidences "
            f"{out['expected_accuracy']:.3f}. See GET /v1/monitoring/outcomes.",
            out,
        ):
            metrics.ALERTS_SENT.labels(severity="warning").inc()
    else:
        alerts.clear(ctx, key, f"measured routing accuracy {out['accuracy']:.3f} against held-out {held:.3f}", out)
    return out


def review_backlog(ctx: Any) -> dict[str, Any]:
    """Open review items and the oldest wait; alert when either passes its limit."""
    figures = review_stats(ctx)
    open_items, oldest = figures.get("open", 0), figures.get("oldest_wait_s") or 0.0
    st = ctx.settings
    out = {"open": open_items, "oldest_wait_s": oldest, "backlog_by_reason": figures.get("backlog_by_reason")}
    if open_items > st.alert_backlog_open or oldest > st.alert_backlog_wait_h * 3600:
        if alerts.fire(
            ctx,
            "review.backlog",
            "warning",
            "The review queue is backing up",
            f"{open_items} open items (limit {st.alert_backlog_open}), oldest waiting "
            f"{oldest / 3600:.1f} h (limit {st.alert_backlog_wait_h:g} h)",
            out,
        ):
            metrics.ALERTS_SENT.labels(severity="warning").inc()
    else:
        alerts.clear(ctx, "review.backlog", f"{open_items} open items, oldest waiting {oldest / 3600:.1f} h", out)
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _paused(paused: dict[str, float]) -> str:
    """The helpdesks that asked the router to wait, in words ("" when none did)."""
    waits = [f"{name} for {_duration(left)} more" for name, left in paused.items()]
    why = "its Retry-After, or the account's API budget for the minute nearly spent"
    return f"Paused for the helpdesk: {', '.join(waits)} ({why}). " if waits else ""


def delivery_lag(ctx: Any) -> dict[str, Any]:
    """Write-back backlog: alert when the oldest undelivered decision waits past the limit, so a
    helpdesk outage, revoked credentials or a renamed group is noticed before agents are."""
    from ..delivery.outbox import backlog

    out = backlog(ctx.db)
    limit = ctx.settings.alert_delivery_lag_s
    if out["pending"] and out["oldest_age_s"] > limit:
        if alerts.fire(
            ctx,
            "delivery.lag",
            "critical" if out["oldest_age_s"] > 4 * limit else "warning",
            "Routing decisions are not reaching the helpdesk",
            f"{_count(out['pending'], 'decision')} waiting to be written back; the oldest for "
            f"{_duration(out['oldest_age_s'])} (limit {_duration(limit)}); {_count(out['dead'], 'dead letter')}. "
            f"{_paused(out['paused'])}See `router deliveries list`.",
            out,
        ):
            metrics.ALERTS_SENT.labels(severity="warning").inc()
    else:
        alerts.clear(ctx, "delivery.lag", f"{out['pending']} decisions wait, oldest {out['oldest_age_s']:.0f} s", out)
    return out


def model_watch(ctx: Any) -> dict[str, Any]:
    """The model guardrail watch (automatic rollback), once per cluster."""
    from ..services.model_watch import watch

    return {"breaches": watch(ctx)}
