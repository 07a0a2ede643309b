"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from ..monitoring.metrics import delivery_gauges, render
from ._common import ctx

blp = Blueprint("health", __name__, description="Health and metrics")


class HealthOut(Schema):
    status = fields.String()


class ReadyOut(Schema):
    status = fields.String()
    model_version = fields.String(allow_none=True)
    ruleset_version = fields.String(allow_none=True)
    checks = fields.Dict()


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self) -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadyOut)
    @blp.alt_response(503, schema=ReadyOut, description="not ready")
    def get(self) -> tuple[dict[str, object], int]:
        """The database answers and a model is loaded; names the active model version."""
        context = ctx()
        checks: dict[str, str] = {}
        try:
            with context.db.session() as s:
                s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports, it does not raise
            checks["database"] = f"error: {type(exc).__name__}"
        version = None
        try:
            version = context.runtime.current().version
            checks["model"] = "ok"
        except Exception as exc:
            checks["model"] = f"error: {exc}"
        ruleset = None
        try:
            ruleset = context.ruleset().version
            checks["rules"] = "ok"
        except Exception as exc:
            checks["rules"] = f"error: {exc}"
        ok = all(v == "ok" for v in checks.values())
        body = {
            "status": "ready" if ok else "not ready",
            "model_version": version,
            "ruleset_version": ruleset,
            "checks": checks,
        }
        return body, 200 if ok else 503


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Response:
        """Prometheus metrics: requests, latency, decisions, confidence, review rate, active model."""
        payload, content_type = render()
        payload += delivery_gauges(ctx().db)
        return Response(payload, mimetype=content_type.split(";")[0], content_type=content_type)
