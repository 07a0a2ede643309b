"""Tickets: the generic intake and the stored ticket with its decisions."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ..schemas.tickets import TicketIn, TicketOut
from ..schemas.webhooks import DecisionAckOut
from ..services import intake
from ._common import ctx, principal, requires
from .webhooks import FULL_DECISION_DOC, receive

blp = Blueprint("tickets", __name__, url_prefix="/v1/tickets", description="Ticket intake and decisions")


@blp.route("")
class Tickets(MethodView):
    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": TicketIn}}},
        security=[{"bearer": []}],
        description="Authenticate with a bearer token (role ingest or admin) or sign the body like a webhook "
        "(`X-Router-Signature: sha256=<hex HMAC of timestamp + '.' + body>` and `X-Router-Timestamp`). "
        + FULL_DECISION_DOC,
    )
    @blp.response(201, DecisionAckOut, description="decided and stored (new ticket or changed content)")
    @blp.alt_response(200, schema=DecisionAckOut, description="a retry: the stored decision, nothing new stored")
    def post(self) -> tuple[dict[str, Any], int] | Response:
        """Decide a ticket sent as the router's generic JSON."""
        if "X-Router-Signature" in request.headers:
            return receive("generic")
        principal("ingest")
        return receive("generic", verified=True)


@blp.route("/<string:source>/<path:ticket_id>")
class TicketDetail(MethodView):
    @requires("viewer")
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, TicketOut)
    def get(self, source: str, ticket_id: str) -> dict[str, Any]:
        """A stored ticket and every decision made on it, latest first."""
        return intake.ticket_with_decisions(ctx(), source, ticket_id)
