"""Monitoring page: intent mix over time, confidence histogram, review rate, drift p-values with their
thresholds, novelty clusters, and the alert history in plain words.

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
from ..monitoring import service
from ..monitoring import summary as figures
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
    return render_template(
        "admin/monitoring.html",
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
