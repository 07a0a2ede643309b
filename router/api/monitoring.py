"""Monitoring: drift checks and references, traffic summary, novel-ticket clusters, calibration,
alerts and scheduled jobs. Viewers read; admins run checks and pin references; the clusters show
customers' ticket texts, so they need the reviewer role like the review queue."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from ..monitoring import alerts, calibration, service
from ..monitoring.scheduler import job_status
from ..monitoring.summary import novel_clusters, summary
from ..schemas.monitoring import (
    AlertOut,
    CalibrationArgs,
    CalibrationOut,
    CheckIn,
    CheckOut,
    DriftCheckOut,
    HistoryArgs,
    JobOut,
    ModelArgs,
    NovelArgs,
    NovelOut,
    PinIn,
    ReferenceOut,
    SummaryArgs,
    SummaryOut,
)
from ._common import Blueprint, ctx, requires

blp = Blueprint("monitoring", __name__, url_prefix="/v1/monitoring", description="Drift, novelty, calibration, alerts")
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


@blp.route("/drift")
class Drift(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(HistoryArgs, location="query")
    @blp.response(200, DriftCheckOut(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Stored drift checks, newest first: window, sizes, each detector's statistic and p-value."""
        return service.history(ctx(), args["limit"], args["model"])


@blp.route("/drift/check")
class DriftCheck(MethodView):
    @requires("admin")
    @blp.doc(security=_BEARER)
    @blp.arguments(CheckIn)
    @blp.response(200, CheckOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run a drift check now, on the given texts or the last stored decisions; the result is stored."""
        source = f"api:{g.principal.name}" if data["texts"] else "decisions"
        return service.check(ctx(), data["texts"], version=data["model"], source=source)


@blp.route("/reference")
class Reference(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(ModelArgs, location="query")
    @blp.response(200, ReferenceOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The drift reference in force for a model version, and its pinned windows."""
        return service.reference_info(ctx(), args["model"])

    @requires("admin")
    @blp.doc(security=_BEARER)
    @blp.arguments(PinIn)
    @blp.response(200, ReferenceOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Pin the last `last` decisions as the version's reference instead of its held-out sample."""
        return service.pin_reference(
            ctx(), actor=g.principal.name, reason=data["reason"], version=data["model"], last=data["last"]
        )

    @requires("admin")
    @blp.doc(security=_BEARER)
    @blp.arguments(ModelArgs, location="query")
    @blp.response(200, ReferenceOut)
    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        """Back to the held-out sample kept with the version."""
        return service.unpin_reference(ctx(), version=args["model"])


@blp.route("/summary")
class Summary(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(SummaryArgs, location="query")
    @blp.response(200, SummaryOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Intent mix over time, confidence histogram, review rate and novelty rate of stored decisions."""
        return summary(ctx(), days=args["days"], bucket=args["bucket"])


@blp.route("/novel")
class Novel(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(NovelArgs, location="query")
    @blp.response(200, NovelOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Recent novel tickets grouped into clusters with their top terms: candidate new intents."""
        return novel_clusters(ctx(), days=args["days"], max_clusters=args["clusters"])


@blp.route("/calibration")
class Calibration(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(CalibrationArgs, location="query")
    @blp.response(200, CalibrationOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Accuracy and ECE of reviewed tickets per model version and week, and the expected accuracy."""
        return calibration.report(ctx(), args["weeks"])


@blp.route("/alerts")
class Alerts(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, AlertOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every alert key with its state: active, last sent, cleared."""
        return alerts.states(ctx())


@blp.route("/jobs")
class Jobs(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, JobOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The scheduled jobs with their periods and latest runs across the cluster."""
        return job_status(ctx())
