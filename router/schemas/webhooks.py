"""What a webhook (or ``POST /v1/tickets``) answers by default: a compact acknowledgement."""

from __future__ import annotations

from marshmallow import Schema, fields


class DecisionAckOut(Schema):
    """The stored decision in brief; ``Prefer: return=representation`` or ``?explain=full`` for all of it."""

    decision_id = fields.Integer(dump_only=True, metadata={"description": "the stored decision's id"})
    ticket_id = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    revision = fields.Integer(dump_only=True)
    intent = fields.String(dump_only=True)
    queue = fields.String(dump_only=True)
    needs_review = fields.Boolean(dump_only=True)
