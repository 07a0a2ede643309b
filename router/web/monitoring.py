"""Monitoring page: the estimated cost to routing first (expected accuracy and review load of the
last checked window against the reference, reviewers' measured accuracy beside it, the detectors
that explain it), then the alert history in plain words, intent mix over time, confidence
histogram, review rate, drift checks with their severity, effect and p-value, novelty clusters.

The figures come from ``router.monitoring`` (summary, drift history, novel clusters, alerts); each
is computed on its own, so a part that fails leaves a note on the page instead of taking the page
down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, render_template, request

from ..monitoring import alerts as alert_states
from ..monitoring import calibration, explain, service
from ..monitoring import summary as figures
from ..services.outcomes import stats as outcome_stats
from . import _charts, _errors, _session

bp = _errors.attach(Blueprint("web_monitoring", __name__, url_prefix="/admin"))
log = logging.getLogger(__name__)


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    try:
        return fn(_session.ctx(), *args, **kwargs), None
    except Exception as exc:  # one failing figure must not hide the others
        log.exception("monitoring figure %s.%s failed", fn.__module__, fn.__name__)
        return None, f"could not be computed: {exc}"


def _days() -> int:
    try:
        return max(1, min(int(request.args.get("days", "14")), 90))
    except ValueError:
        return 14


def _routing_estimate(checks: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The newest drift check in words: its cost to routing, then the detectors that explain it."""
    if not checks:
        return None
    latest = checks[0]
    detectors = latest.get("detectors") or {}
    measured, measured_note = _call(
        calibration.window_accuracy,
        latest["model_version"],
        latest.get("first_decision_id"),
        latest.get("last_decision_id"),
    )
    return {
        "check": latest,
        "severity": latest.get("severity", "ok"),
        "estimate": latest.get("estimate"),
        "lead": explain.lead(latest.get("estimate")),
        "material": explain.why(detectors),
        "minor": explain.why(detectors, ("info",)),
        "measured": measured,
        "measured_note": measured_note,
    }


@bp.get("/monitoring")
@_session.page("viewer", "see monitoring")
def index() -> str:
    days = _days()
    summary, summary_note = _call(figures.summary, days=days)
    checks, drift_note = _call(service.history, limit=30)
    alerts, alerts_note = _call(alert_states.states)
    user = _session.current_user()
    novel: Any = None
    novel_note: str | None = "shown to reviewers and admins (the examples are customers' texts)"
    if user is not None and user.allows("reviewer"):
        novel, novel_note = _call(figures.novel_clusters, days=min(days, 30))
    charts: dict[str, Any] = {}
    if summary:
        charts["mix"] = _charts.stacked_bars(summary["intent_mix"], summary["top_intents"], "Intent mix per day")
        charts["mix_colours"] = _charts.colours([*summary["top_intents"], "other"])
        hist = summary["confidence_histogram"]
        charts["confidence"] = _charts.histogram(hist["edges"], hist["counts"], "Confidence of decisions")
        n = summary["decisions"] or 1
        reasons = {r: c / n for r, c in sorted(summary.get("review_reasons", {}).items(), key=lambda kv: -kv[1])}
        charts["reasons"] = _charts.hbars(reasons, "Share of decisions sent to review, by reason")
    if checks:
        charts["pvalues"] = _charts.pvalues(checks, "Drift p-values per check, thresholds dashed")
        charts["detector_colours"] = _charts.colours(_charts.detector_names(checks))
    routing = _routing_estimate(checks)
    measured, measured_note = _call(outcome_stats)
    return render_template(
        "admin/monitoring.html",
        routing=routing,
        measured=measured,
        measured_note=measured_note,
        effect_text=explain.effect_text,
        days=days,
        summary=summary,
        summary_note=summary_note,
        checks=checks or [],
        drift_note=drift_note,
        alerts=alerts or [],
        alerts_note=alerts_note,
        novel=novel,
        novel_note=novel_note,
        charts=charts,
    )
