"""A version's auto-routing thresholds: the target precision an admin sets, its revisions, its curve."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ..ml.thresholds import MAX_TARGET, MIN_TARGET


class ThresholdsIn(Schema):
    class Meta:
        unknown = RAISE

    target_precision = fields.Float(
        required=True,
        validate=validate.Range(min=MIN_TARGET, max=MAX_TARGET),
        metadata={"description": "precision the auto-routed tickets as a whole must reach (out of fold)"},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class RevisionOut(Schema):
    revision = fields.Integer(allow_none=True, dump_only=True, metadata={"description": "null: as trained"})
    version = fields.String(dump_only=True)
    target_precision = fields.Float(allow_none=True, dump_only=True)
    intent_floor = fields.Float(allow_none=True, dump_only=True)
    expected_share = fields.Float(
        allow_none=True, dump_only=True, metadata={"description": "share auto-routed on out-of-fold predictions"}
    )
    expected_precision = fields.Float(allow_none=True, dump_only=True)
    ambiguity_rule = fields.Boolean(dump_only=True)
    novel_rule = fields.Boolean(dump_only=True)
    default_threshold = fields.Float(dump_only=True)
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float(), dump_only=True)
    actor = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    created_at = fields.String(dump_only=True)


class CurvePointOut(Schema):
    target = fields.Float(dump_only=True)
    expected_share = fields.Float(dump_only=True)
    expected_precision = fields.Float(dump_only=True)
    share = fields.Float(dump_only=True, metadata={"description": "on the version's hold-out"})
    precision = fields.Float(dump_only=True)


class ThresholdStatusOut(Schema):
    version = fields.String(dump_only=True)
    operating_point = fields.Nested(RevisionOut, dump_only=True)
    trained_with = fields.Nested(RevisionOut, dump_only=True)
    precision_curve = fields.List(fields.Nested(CurvePointOut), allow_none=True, dump_only=True)
    revisions = fields.List(fields.Nested(RevisionOut), dump_only=True)
