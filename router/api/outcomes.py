"""Outcomes: routing accuracy measured from what agents did with routed tickets."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from ..schemas.outcomes import OutcomeArgs, OutcomeStatsOut
from ..services import outcomes
from ._common import Blueprint, ctx, requires

blp = Blueprint("outcomes", __name__, url_prefix="/v1/monitoring/outcomes", description="Measured accuracy")


@blp.route("")
class Outcomes(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.arguments(OutcomeArgs, location="query", unknown=RAISE)
    @blp.response(200, OutcomeStatsOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Routing accuracy of solved tickets per model version, queue, intent and week, with 95 %
        intervals and the expected accuracy from calibrated confidences beside it."""
        return outcomes.stats(ctx(), weeks=args["weeks"])
