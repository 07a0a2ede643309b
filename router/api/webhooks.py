"""Helpdesk webhooks: verify the source's signature, adapt its payload, decide the ticket."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError as SchemaError

from ..errors import AuthError, NotFound, ValidationError
from ..schemas.tickets import DecisionOut, TicketIn
from ..schemas.webhooks import DecisionAckOut
from ..services import events, intake
from ._common import ctx, json_body_bytes, parse_json

_TICKET_IN = TicketIn()
_FULL = DecisionOut()
ACK_FIELDS = tuple(DecisionAckOut._declared_fields)
FULL_DECISION_DOC = (
    "The answer is a compact acknowledgement (decision_id, ticket_id, source, revision, intent, queue, "
    "needs_review): helpdesks ignore it, routing reaches them by write-back. Send `Prefer: return=representation` "
    "or `?explain=full` for the whole explained decision (as `GET /v1/tickets/<source>/<id>` shows it)."
)
blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks", description="Helpdesk webhooks")


def _load(data: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = _TICKET_IN.load(data)
    except SchemaError as exc:
        raise ValidationError("the ticket did not pass validation", errors=exc.messages) from None
    return loaded


def receive(source: str, verified: bool = False) -> tuple[dict[str, Any], int] | Response:
    """The intake path every webhook shares: type and size, signature, JSON, adapter, schema, decide.

    Events the router does not decide on are recorded and answered 202; event types it does not
    know are answered 200 with ``ignored``, so the helpdesk does not retry them.
    """
    context = ctx()
    adapter = context.plugins.adapters.get(source)
    if adapter is None:
        raise NotFound(f"no webhook adapter for source {source!r}")
    body = json_body_bytes()
    if not verified:
        secret = context.settings.webhook_secrets.get(source)
        if not secret:
            raise AuthError(f"no secret is configured for source {source!r} (ROUTER_WEBHOOK_SECRET_{source.upper()})")
        adapter.verify(
            cast(Mapping[str, str], request.headers), body, secret, time.time(), context.settings.replay_window_s
        )
    inbound = adapter.inbound(parse_json(body))
    if inbound.kind == "ignored":
        return _json({"ignored": inbound.reason or "nothing to do", "event_id": inbound.event_id}, 200)
    if inbound.kind == "event":
        stored = events.record(context, source, inbound)
        return _json(events.event_answer(inbound, stored), 202)
    if inbound.kind == "comment":
        result = events.decide_comment(context, source, inbound, _load)
        if result is None:
            return _json({**events.event_answer(inbound, True), "decided": False}, 202)
        return _decided(result.decision, result.created)
    data = dict(inbound.ticket or {})
    events.enrich_requester(context, source, data, inbound.requester_id)
    loaded = _load(data)
    result = (
        events.decide_event(context, source, inbound, loaded)
        if inbound.event_id
        else intake.submit(context, source, loaded)
    )
    return _decided(result.decision, result.created)


def wants_full() -> bool:
    """The caller asked for the whole decision (RFC 7240 ``Prefer: return=representation``, or the query)."""
    if request.args.get("explain") == "full":
        return True
    prefer = request.headers.get("Prefer", "")
    return "return=representation" in prefer.replace(" ", "").lower()


def _decided(decision: dict[str, Any], created: bool) -> tuple[dict[str, Any], int] | Response:
    """The acknowledgement (dumped by the view's schema), or the full decision when asked for."""
    status = 201 if created else 200
    if not wants_full():
        return {k: decision[k] for k in ACK_FIELDS}, status
    response = _json(_FULL.dump(decision), status)
    response.headers["Preference-Applied"] = "return=representation"
    return response


def _json(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@blp.route("/<string:source>")
class Webhook(MethodView):
    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        description="Sources: `zendesk` (Zendesk's signature headers), `freshdesk` (`X-Router-Token` or the "
        "generic signature) and `generic` (`X-Router-Signature`, `X-Router-Timestamp`). " + FULL_DECISION_DOC,
    )
    @blp.response(201, DecisionAckOut, description="decided and stored")
    @blp.alt_response(200, schema=DecisionAckOut, description="a retry: the stored decision")
    @blp.alt_response(202, description="an event recorded, not decided (`{recorded, event_id, ticket_id}`)")
    def post(self, source: str) -> tuple[dict[str, Any], int] | Response:
        """Decide a ticket sent by a helpdesk's webhook."""
        return receive(source)
