"""The review queue for reviewers and admins: list, claim, resolve, stats, export.

Only ``reviewer`` and ``admin`` tokens see the queue: items carry customers' ticket texts, and a
viewer has no part in reviewing. The reviewer is identified by the token's name, so give each
person their own token (``router tokens create --role reviewer --name ann``).
"""

from __future__ import annotations

from typing import Any

from flask import Response, g
from flask.views import MethodView
from marshmallow import RAISE

from .. import review as service
from ..db.review import ITEM_ID_MAX
from ..schemas.review import QueueArgs, QueuePageOut, ResolveIn, ReviewItemOut, StatsOut
from ._common import Blueprint, ctx, requires

blp = Blueprint("review", __name__, url_prefix="/v1/review", description="Human review queue")
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_CSV = {"type": "string"}
ITEM = f"<int(max={ITEM_ID_MAX}):item_id>"  # a larger id names no item: 404, never sent to the database


@blp.route("")
class Queue(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(QueueArgs, location="query", unknown=RAISE)  # a mistyped filter must not pass silently
    @blp.response(200, QueuePageOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The queue: escalated first, then priority, then longest waiting; filtered and paged."""
        filters = service.QueueFilter(
            status=args["status"],
            reasons=args["reason"],
            intent=args["intent"],
            queue=args["queue"],
            min_age_s=args["min_age_s"],
            max_age_s=args["max_age_s"],
            available_to=g.principal.name if args["available"] else None,
            page=args["page"],
            page_size=args["page_size"],
        )
        return service.list_items(ctx(), filters)


@blp.route(f"/{ITEM}")
class Item(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, ReviewItemOut)
    def get(self, item_id: int) -> dict[str, Any]:
        """One review item with its labels."""
        return service.get_item(ctx(), item_id)


@blp.route(f"/{ITEM}/claim")
class Claim(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, ReviewItemOut)
    def post(self, item_id: int) -> dict[str, Any]:
        """Claim an item (or renew your claim); 409 while someone else holds it. Claims expire."""
        return service.claim(ctx(), item_id, g.principal.name)

    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, ReviewItemOut)
    def delete(self, item_id: int) -> dict[str, Any]:
        """Give back an item you claimed, before the claim expires."""
        return service.release(ctx(), item_id, g.principal.name)


@blp.route(f"/{ITEM}/resolve")
class Resolve(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.arguments(ResolveIn)
    @blp.response(200, ReviewItemOut)
    def post(self, data: dict[str, Any], item_id: int) -> dict[str, Any]:
        """Confirm or correct the intent and queue of an item you hold; 409 if already resolved."""
        return service.resolve(ctx(), item_id, g.principal.name, data["intent"], data["queue"], data["note"])


@blp.route("/stats")
class Stats(MethodView):
    @requires("reviewer")
    @blp.doc(security=_BEARER)
    @blp.response(200, StatsOut)
    def get(self) -> dict[str, Any]:
        """Backlog by reason, median waiting time, override rate by intent and model version, agreement."""
        return service.stats(ctx())


@blp.route("/export")
class Export(MethodView):
    @requires("reviewer")
    @blp.doc(
        security=_BEARER,
        responses={
            "200": {"description": "one row per label", "content": {"text/csv": {"schema": {"type": "string"}}}}
        },
    )
    def get(self) -> Response:
        """Every reviewer label as CSV (text, the reviewer's intent and queue, the model's, ticket, reviewer)."""
        return Response(
            service.export_csv(ctx()),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="review-labels.csv"'},
        )
