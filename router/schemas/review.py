"""The review queue: query arguments, the label in, items, stats."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_AGE_S = 100 * 365 * 86400  # older than that would reach before any ticket (and past datetime's range)
MAX_PAGE = 1_000_000  # keeps the row offset inside a 64-bit integer on both databases


class QueueArgs(Schema):
    """Filters and paging of ``GET /v1/review``."""

    class Meta:
        unknown = RAISE

    status = fields.String(
        load_default="open",
        validate=validate.OneOf(["open", "resolved", "superseded", "all"]),
        metadata={"description": "items in this state (default open)"},
    )
    reason = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        metadata={"description": "any of these review reasons (repeat the parameter)"},
    )
    intent = fields.String(load_default=None, validate=validate.Length(max=128), metadata={"description": "model's"})
    queue = fields.String(load_default=None, validate=validate.Length(max=128), metadata={"description": "decided"})
    min_age_s = fields.Float(
        load_default=None, validate=validate.Range(min=0, max=MAX_AGE_S), metadata={"description": "waiting"}
    )
    max_age_s = fields.Float(
        load_default=None, validate=validate.Range(min=0, max=MAX_AGE_S), metadata={"description": "waiting"}
    )
    available = fields.Boolean(load_default=False, metadata={"description": "only items the caller could claim now"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @validates_schema
    def _ages(self, data: dict[str, Any], **kwargs: Any) -> None:
        low, high = data.get("min_age_s"), data.get("max_age_s")
        if low is not None and high is not None and low > high:
            raise ValidationError("must not be below min_age_s", field_name="max_age_s")


class ResolveIn(Schema):
    """A reviewer's label: the right intent and queue (confirming the model's is fine)."""

    class Meta:
        unknown = RAISE

    intent = fields.String(required=True, validate=validate.Length(min=1, max=128))
    queue = fields.String(required=True, validate=validate.Length(min=1, max=128))
    note = fields.String(load_default="", validate=validate.Length(max=5000))


class TicketRefOut(Schema):
    source = fields.String(dump_only=True)
    id = fields.String(dump_only=True)


class LabelOut(Schema):
    id = fields.Integer(dump_only=True)
    reviewer = fields.String(dump_only=True)
    intent = fields.String(dump_only=True)
    queue = fields.String(dump_only=True)
    note = fields.String(dump_only=True)
    model_intent = fields.String(dump_only=True)
    model_queue = fields.String(dump_only=True)
    model_version = fields.String(dump_only=True)
    overridden = fields.Boolean(dump_only=True, metadata={"description": "intent differs from the model's"})
    corrected = fields.Boolean(dump_only=True, metadata={"description": "intent or queue differs"})
    created_at = fields.DateTime(dump_only=True)


class ReviewItemOut(Schema):
    """One ticket revision waiting for (or given) a person's label."""

    id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "open, resolved or superseded"})
    ticket = fields.Nested(TicketRefOut, dump_only=True)
    revision = fields.Integer(dump_only=True)
    decision_id = fields.Integer(dump_only=True)
    text = fields.String(dump_only=True, metadata={"description": "the normalised text of that revision"})
    intent = fields.String(dump_only=True)
    queue = fields.String(dump_only=True)
    priority = fields.String(dump_only=True)
    escalated = fields.Boolean(dump_only=True)
    reasons = fields.List(fields.String(), dump_only=True)
    model_version = fields.String(dump_only=True)
    enqueued_at = fields.DateTime(dump_only=True)
    waiting_s = fields.Float(dump_only=True)
    claimed_by = fields.String(dump_only=True, allow_none=True, metadata={"description": "while the claim holds"})
    claim_expires_at = fields.DateTime(dump_only=True, allow_none=True)
    labels_needed = fields.Integer(dump_only=True)
    labels = fields.List(fields.Nested(LabelOut), dump_only=True)
    resolved_at = fields.DateTime(dump_only=True, allow_none=True)
    superseded_by = fields.Integer(dump_only=True, allow_none=True)


class QueuePageOut(Schema):
    items = fields.List(fields.Nested(ReviewItemOut), dump_only=True)
    total = fields.Integer(dump_only=True)
    page = fields.Integer(dump_only=True)
    page_size = fields.Integer(dump_only=True)


class RateOut(Schema):
    labels = fields.Integer(dump_only=True)
    overridden = fields.Integer(dump_only=True)
    rate = fields.Float(dump_only=True)


class AgreementOut(Schema):
    items = fields.Integer(dump_only=True, metadata={"description": "items with two or more labels"})
    pairs = fields.Integer(dump_only=True)
    agreeing = fields.Integer(dump_only=True)
    rate = fields.Float(dump_only=True, allow_none=True)


class StatsOut(Schema):
    open = fields.Integer(dump_only=True)
    claimed = fields.Integer(dump_only=True)
    resolved = fields.Integer(dump_only=True)
    superseded = fields.Integer(dump_only=True)
    backlog_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)
    median_wait_s = fields.Float(dump_only=True, allow_none=True, metadata={"description": "of open items"})
    oldest_wait_s = fields.Float(dump_only=True, allow_none=True)
    labels = fields.Integer(dump_only=True)
    override_rate = fields.Float(dump_only=True, allow_none=True)
    override_by_intent = fields.Dict(keys=fields.String(), values=fields.Nested(RateOut), dump_only=True)
    override_by_model_version = fields.Dict(keys=fields.String(), values=fields.Nested(RateOut), dump_only=True)
    agreement = fields.Nested(AgreementOut, dump_only=True)
