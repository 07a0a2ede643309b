"""Model versions: list, detail, promotion requests, audit."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ..registry.runtime import CANARY_MAX_PERCENT, CANARY_MIN_PERCENT


class PromoteIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    force = fields.Boolean(load_default=False, metadata={"description": "override failing gates (needs a reason)"})


class CanaryIn(PromoteIn):
    percent = fields.Float(
        required=True,
        validate=validate.Range(min=CANARY_MIN_PERCENT, max=CANARY_MAX_PERCENT),
        metadata={"description": f"share of tickets, {CANARY_MIN_PERCENT} to {CANARY_MAX_PERCENT:g} %"},
    )


class ReasonIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ModelSummaryOut(Schema):
    version = fields.String()
    state = fields.String()
    created_at = fields.String(allow_none=True)
    metrics = fields.Dict()
    rows = fields.Integer(allow_none=True)


class ModelOut(Schema):
    version = fields.String()
    state = fields.String()
    created_at = fields.DateTime()
    sha256 = fields.String()
    slots = fields.List(fields.String())
    canary_percent = fields.Float(allow_none=True)
    card = fields.Dict()
    live = fields.Dict(metadata={"description": "decisions, and shadow agreement when it shadowed"})
    gate_reports = fields.List(fields.Dict())


class TransitionOut(Schema):
    version = fields.String()
    state = fields.String()
    rolled_back = fields.String()
    slots = fields.Dict()
    gate_report = fields.Dict()
    smoke = fields.Dict()


class AuditOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    target = fields.String()
    reason = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
