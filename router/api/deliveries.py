"""Write-back deliveries: what was sent to each helpdesk, the dead letters, retries."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from ..db.delivery import ID_MAX
from ..delivery import outbox
from ..schemas.deliveries import DeliveryArgs, DeliveryOut, DeliveryPageOut, RetryIn, RetryOut
from ._common import Blueprint, ctx, requires

blp = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries", description="Write-back to the helpdesks")
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
DELIVERY = f"<int(max={ID_MAX}):delivery_id>"  # a larger id names no delivery: 404


@blp.route("")
class Deliveries(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(DeliveryArgs, location="query", unknown=RAISE)
    @blp.response(200, DeliveryPageOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Deliveries, newest first, filtered by status, source and ticket."""
        return outbox.list_deliveries(ctx().db, **args)


@blp.route(f"/{DELIVERY}")
class Delivery(MethodView):
    @requires("viewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, DeliveryOut)
    def get(self, delivery_id: int) -> dict[str, Any]:
        """One delivery with its attempts, the helpdesk's last answer and what was written."""
        return outbox.get_delivery(ctx().db, delivery_id)


@blp.route(f"/{DELIVERY}/retry")
class RetryOne(MethodView):
    @requires("admin")
    @blp.doc(security=_BEARER)
    @blp.response(200, RetryOut)
    def post(self, delivery_id: int) -> dict[str, Any]:
        """Send a dead letter again (409 if it is not dead)."""
        result = outbox.retry(ctx().db, [delivery_id])
        ctx().delivery.wake()
        return result


@blp.route("/retry")
class RetryMany(MethodView):
    @requires("admin")
    @blp.doc(security=_BEARER)
    @blp.arguments(RetryIn)
    @blp.response(200, RetryOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Send dead letters again: those listed in ``ids``, or all of them."""
        result = outbox.retry(ctx().db, data.get("ids"))
        ctx().delivery.wake()
        return result
