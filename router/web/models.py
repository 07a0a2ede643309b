"""Models page: every version with its state, metrics, gate reports and live shadow/canary figures;
shadow, canary, activate, retire and roll back, each confirmed and with a reason; each version's
trade-off between target precision and auto-routed share, and its target, which an admin changes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..errors import RouterError, ValidationError
from ..registry.versions import list_versions
from ..services import lifecycle, model_info
from ..services import thresholds as threshold_service
from . import _errors, _session, _threshold_chart

bp = _errors.attach(Blueprint("web_models", __name__, url_prefix="/admin"))
ACTIONS = {"shadow": "shadow", "canary": "canary", "activate": "active"}


def _versions() -> list[dict[str, Any]]:
    context = _session.ctx()
    out = []
    for summary in reversed(list_versions(context.db)):  # newest first
        described = model_info.describe(context, summary["version"])
        routing = threshold_service.status(context, summary["version"])
        routing["chart"] = _threshold_chart.precision_curve(
            routing["precision_curve"],
            routing["operating_point"]["target_precision"],
            f"Target precision against tickets auto-routed, {summary['version']}",
        )
        gates = model_info.gate_reports(context, summary["version"])[:5]
        out.append({**summary, **described, "gate_reports": gates, "routing": routing})
    return out


def _render(status: int = 200, **extra: Any) -> tuple[str, int]:
    versions = _versions()
    return render_template(
        "admin/models.html",
        versions=versions,
        active=next((v["version"] for v in versions if v["state"] == "active"), None),
        audit=model_info.audit_log(_session.ctx(), limit=20),
        **extra,
    ), status


@bp.get("/models")
@_session.page("viewer", "see the models")
def index() -> tuple[str, int]:
    return _render()


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationError("write a reason for the change", errors={"reason": ["required"]})
    return reason


@bp.post("/models/<string:version>/<string:action>")
@_session.page("viewer", "see the models")
def change(version: str, action: str) -> Any:
    """Shadow, canary, activate (after the gates) or retire one version."""
    user = _session.need("admin", f"{action} a model")
    try:
        reason = _reason()
        if action == "retire":
            lifecycle.retire(_session.ctx(), version, actor=user.name, reason=reason)
            flash(f"Model {version} is retired.", "ok")
        elif action in ACTIONS:
            percent = request.form.get("percent") if action == "canary" else None
            lifecycle.promote(
                _session.ctx(),
                version,
                ACTIONS[action],
                actor=user.name,
                reason=reason,
                percent=float(percent) if percent else None,
            )
            flash(f"Model {version} passed its gates and is now {ACTIONS[action]}.", "ok")
        else:
            raise ValidationError(f"unknown action {action!r}", errors={"action": [*ACTIONS, "retire"]})
    except lifecycle.GateFailed as exc:
        return _render(409, gate_failure={"version": version, "message": exc.message, "report": exc.errors})
    except ValueError:
        flash("Not changed: the canary percentage must be a number.", "error")
    except RouterError as exc:
        flash(f"Not changed: {exc.message}", "error")
    return redirect(url_for("web_models.index"))


@bp.post("/models/<string:version>/thresholds")
@_session.page("viewer", "see the models")
def retarget(version: str) -> Any:
    """Choose the version's thresholds again for another target precision, without retraining."""
    user = _session.need("admin", "change a model's target precision")
    try:
        reason = _reason()
        target = float(request.form.get("target_precision", ""))
        done = threshold_service.retarget(_session.ctx(), version, target, actor=user.name, reason=reason)
    except ValueError:
        flash("Not changed: the target precision must be a number.", "error")
    except RouterError as exc:
        flash(f"Not changed: {exc.message}", "error")
    else:
        flash(
            f"Model {version} now aims at precision {done['target_precision']:g}: "
            f"{done['expected_share']:.1%} of tickets expected auto-routed; every worker follows within 2 s.",
            "ok",
        )
    return redirect(url_for("web_models.index"))


@bp.post("/models/rollback")
@_session.page("viewer", "see the models")
def rollback() -> Any:
    """Back to the version that was active before this one."""
    user = _session.need("admin", "roll back a model")
    try:
        done = lifecycle.rollback(_session.ctx(), actor=user.name, reason=_reason())
    except RouterError as exc:
        flash(f"Not rolled back: {exc.message}", "error")
    else:
        flash(f"Rolled back: {done['version']} is active again ({done['rolled_back']} is retired).", "ok")
    return redirect(url_for("web_models.index"))
