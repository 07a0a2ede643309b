"""The one error body every JSON error answers with."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorOut(Schema):
    """``{code, status, message, errors}``: what went wrong, for programs and for people."""

    code = fields.String(metadata={"description": "machine-readable, e.g. not_found, validation_error"})
    status = fields.Integer(metadata={"description": "the HTTP status, repeated"})
    message = fields.String(metadata={"description": "what went wrong and, where it helps, what to do"})
    errors = fields.Dict(
        metadata={
            "description": "by field (a dotted path for nested ones, `where` for a rule set): "
            "a list of messages; empty when no field is to blame"
        }
    )
