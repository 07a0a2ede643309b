"""Schemas of the token resource: a token's record (never the token), and what a revocation did."""

from __future__ import annotations

from marshmallow import Schema, fields


class TokenOut(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True, metadata={"description": "within a minute"})
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class TokensQuery(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "include revoked tokens"})


class RevokedOut(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True)
    sessions_ended = fields.Integer(dump_only=True, metadata={"description": "admin sessions of these tokens"})
