"""Ticket in, decision out."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema


class TicketId(fields.Field):
    """The helpdesk's ticket id: a string or an integer, stored as a string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a string or an integer")
        text = str(value).strip()
        if not text or len(text) > 255:
            raise ValidationError("must be 1 to 255 characters")
        return text


class RequesterIn(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    tier = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class TicketIn(Schema):
    """A ticket as the generic webhook sends it."""

    class Meta:
        unknown = RAISE

    id = TicketId(required=True, metadata={"description": "the helpdesk's ticket id"})
    subject = fields.String(load_default="", validate=validate.Length(max=10_000))
    body = fields.String(load_default="", validate=validate.Length(max=500_000))
    requester = fields.Nested(RequesterIn, load_default=dict)
    channel = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), load_default=list, validate=validate.Length(max=100)
    )
    created_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(max=100)), load_default=dict)

    @validates_schema
    def _has_text(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not (data.get("subject") or "").strip() and not (data.get("body") or "").strip():
            raise ValidationError("subject or body must be non-empty", field_name="body")


class AlternativeOut(Schema):
    intent = fields.String()
    confidence = fields.Float()


class DecisionOut(Schema):
    """An explained routing decision."""

    decision_id = fields.Integer(dump_only=True, metadata={"description": "the stored decision's id"})
    ticket_id = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    revision = fields.Integer(dump_only=True)
    intent = fields.String(dump_only=True)
    confidence = fields.Float(dump_only=True)
    alternatives = fields.List(fields.Nested(AlternativeOut), dump_only=True)
    queue = fields.String(dump_only=True)
    priority = fields.String(dump_only=True)
    escalation = fields.Dict(dump_only=True, allow_none=True)
    tags = fields.List(fields.String(), dump_only=True)
    needs_review = fields.Boolean(dump_only=True)
    review_reasons = fields.List(fields.String(), dump_only=True)
    explanation = fields.Dict(dump_only=True, metadata={"description": "words that decided it and the rule trace"})
    novelty = fields.Float(dump_only=True, allow_none=True)
    model_version = fields.String(dump_only=True)
    ruleset_version = fields.String(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)
    review = fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "on the ticket view: the decision's review item (item_id, status) and the reviewers' "
            "labels, oldest first; intent and queue are the latest label's (null until someone labels it)"
        },
    )
    outcome = fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "on the ticket view: where agents moved the ticket, when it was solved, and in which queue"
        },
    )
    deliveries = fields.List(
        fields.Dict(),
        dump_only=True,
        metadata={"description": "on the ticket view: what was written back to the helpdesk, when, and its answer"},
    )


class TicketOut(Schema):
    """A stored ticket with every decision made on it, latest first."""

    source = fields.String(dump_only=True)
    id = fields.String(dump_only=True)
    subject = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    text = fields.String(dump_only=True)
    requester = fields.Dict(dump_only=True)
    channel = fields.String(dump_only=True, allow_none=True)
    language = fields.String(dump_only=True, allow_none=True)
    tags = fields.List(fields.String(), dump_only=True)
    metadata = fields.Dict(dump_only=True)
    created_at = fields.DateTime(dump_only=True, allow_none=True)
    received_at = fields.DateTime(dump_only=True)
    decisions = fields.List(fields.Nested(DecisionOut), dump_only=True)
