"""Rule sets: read, save, validate, dry-run, versions, rollback."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class RulesOut(Schema):
    version = fields.String(dump_only=True, metadata={"description": "content version; also the ETag"})
    source = fields.String(dump_only=True, metadata={"description": "`file` until a version is saved, then `database`"})
    id = fields.Integer(dump_only=True, allow_none=True)
    content = fields.String(dump_only=True)


class RulesIn(Schema):
    class Meta:
        unknown = RAISE

    content = fields.String(required=True, validate=validate.Length(min=1, max=512 * 1024))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class RulesDraftIn(Schema):
    class Meta:
        unknown = RAISE

    content = fields.String(required=True, validate=validate.Length(min=1, max=512 * 1024))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=50_000))


class ValidationOut(Schema):
    valid = fields.Boolean()
    version = fields.String(allow_none=True)
    problems = fields.List(fields.Dict())


class DryRunOut(Schema):
    replayed = fields.Integer()
    changed = fields.Integer()
    unchanged = fields.Integer()
    current_version = fields.String()
    proposed_version = fields.String()
    by_rule = fields.Dict()


class RulesVersionOut(Schema):
    id = fields.Integer()
    version = fields.String()
    author = fields.String()
    reason = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()
    diff = fields.String()


class RollbackIn(Schema):
    class Meta:
        unknown = RAISE

    to = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=2**31 - 1),  # the ids are 32-bit INTEGERs
        metadata={"description": "a saved version's id"},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
