"""Helpdesk webhooks: verify the source's signature, adapt its payload, decide the ticket."""

from __future__ import annotations

import time
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError as SchemaError

from ..errors import AuthError, NotFound, ValidationError
from ..schemas.tickets import DecisionOut, TicketIn
from ..services import intake
from ._common import ctx, json_body_bytes, parse_json

_TICKET_IN = TicketIn()
blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks", description="Helpdesk webhooks")


def receive(source: str, verified: bool = False) -> tuple[dict[str, Any], int]:
    """The intake path every webhook shares: type and size, signature, JSON, adapter, schema, decide."""
    context = ctx()
    adapter = context.plugins.adapters.get(source)
    if adapter is None:
        raise NotFound(f"no webhook adapter for source {source!r}")
    body = json_body_bytes()
    if not verified:
        secret = context.settings.webhook_secrets.get(source)
        if not secret:
            raise AuthError(f"no secret is configured for source {source!r} (ROUTER_WEBHOOK_SECRET_{source.upper()})")
        adapter.verify(request.headers, body, secret, time.time(), context.settings.replay_window_s)
    payload = parse_json(body)
    try:
        data = _TICKET_IN.load(adapter.to_ticket(payload))
    except SchemaError as exc:
        raise ValidationError("the ticket did not pass validation", errors=exc.messages) from None
    result = intake.submit(context, source, data)
    return result.decision, 201 if result.created else 200


@blp.route("/<string:source>")
class Webhook(MethodView):
    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        description="Sources: `zendesk` (Zendesk's signature headers), `freshdesk` (`X-Router-Token` or the "
        "generic signature) and `generic` (`X-Router-Signature`, `X-Router-Timestamp`).",
    )
    @blp.response(201, DecisionOut, description="decided and stored")
    @blp.alt_response(200, schema=DecisionOut, description="a retry: the stored decision")
    def post(self, source: str) -> tuple[dict[str, Any], int]:
        """Decide a ticket sent by a helpdesk's webhook."""
        return receive(source)
