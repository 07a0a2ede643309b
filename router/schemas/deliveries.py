"""Deliveries: query arguments, one delivery, a page of them, retry in and out."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ..db.delivery import ID_MAX
from ..delivery.outbox import STATUSES

MAX_PAGE = 1_000_000


class DeliveryArgs(Schema):
    """Filters and paging of ``GET /v1/deliveries``."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES), metadata={"description": "state"})
    source = fields.String(load_default=None, validate=validate.Length(max=32), metadata={"description": "helpdesk"})
    ticket = fields.String(load_default=None, validate=validate.Length(max=255), metadata={"description": "its id"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DeliveryOut(Schema):
    id = fields.Integer()
    decision_id = fields.Integer()
    ticket_id = fields.String(metadata={"description": "the helpdesk's ticket id"})
    source = fields.String()
    connector = fields.String()
    kind = fields.String(metadata={"description": "decision, or a reviewer's correction"})
    mode = fields.String(metadata={"description": "suggest or route"})
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    outcome = fields.String(allow_none=True, metadata={"description": "routed, suggested, agent_changed..."})
    attempts = fields.Integer()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True, metadata={"description": "the helpdesk's last HTTP status"})
    last_error = fields.String()
    result = fields.Dict(allow_none=True, metadata={"description": "what was written, or the helpdesk's answer"})
    superseded_by = fields.Integer(allow_none=True)
    payload = fields.Dict()


class DeliveryPageOut(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class RetryIn(Schema):
    class Meta:
        unknown = RAISE

    ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=ID_MAX)),
        load_default=None,
        metadata={"description": "dead letters to retry; all of them when absent"},
    )


class RetryOut(Schema):
    retried = fields.Integer()
    superseded = fields.Integer(metadata={"description": "dead letters replaced by a newer decision instead"})
