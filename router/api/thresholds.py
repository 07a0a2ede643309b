"""A version's auto-routing thresholds: read the curve and revisions (viewer); set the target precision (admin)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from ..schemas.thresholds import RevisionOut, ThresholdsIn, ThresholdStatusOut
from ..services import thresholds
from ._common import Blueprint, ctx, requires

blp = Blueprint(
    "model_thresholds", __name__, url_prefix="/v1/models", description="Auto-routing thresholds of a model version"
)


@blp.route("/<string:version>/thresholds")
class Thresholds(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, ThresholdStatusOut)
    def get(self, version: str) -> dict[str, Any]:
        """The version's operating point, its target-precision/auto-routed-share curve and its revisions."""
        return thresholds.status(ctx(), version)

    @requires("admin")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(ThresholdsIn)
    @blp.response(201, RevisionOut)
    def post(self, data: dict[str, Any], version: str) -> tuple[dict[str, Any], int]:
        """Choose the version's thresholds again for another target precision, without retraining; every
        worker routes with them within its next poll (audited)."""
        out = thresholds.retarget(
            ctx(), version, data["target_precision"], actor=g.principal.name, reason=data["reason"]
        )
        return out, 201
