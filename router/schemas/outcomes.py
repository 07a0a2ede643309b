"""Outcomes: the measured routing accuracy from what agents did with routed tickets."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class OutcomeArgs(Schema):
    class Meta:
        unknown = RAISE

    weeks = fields.Integer(load_default=12, validate=validate.Range(min=1, max=520), metadata={"description": "weeks"})


class FiguresOut(Schema):
    solved = fields.Integer(metadata={"description": "solved or closed tickets with an outcome"})
    correct = fields.Integer(metadata={"description": "of those, solved in the router's queue"})
    accuracy = fields.Float(allow_none=True, metadata={"description": "correct / solved"})
    ci95 = fields.List(fields.Float(), metadata={"description": "Wilson 95 % interval of the accuracy"})
    expected_accuracy = fields.Float(allow_none=True, metadata={"description": "from calibrated confidences"})
    overridden = fields.Integer(metadata={"description": "moved by an agent to another queue"})
    median_first_change_s = fields.Float(allow_none=True, metadata={"description": "decision to first agent change"})


class GroupedOut(FiguresOut):
    model_version = fields.String()
    queue = fields.String()
    intent = fields.String()
    week = fields.String(metadata={"description": "Monday of the week the tickets were solved"})


class OpenOut(Schema):
    tickets = fields.Integer(metadata={"description": "outcomes not solved yet"})
    overridden = fields.Integer()


class OutcomeStatsOut(Schema):
    overall = fields.Nested(FiguresOut)
    open = fields.Nested(OpenOut)
    by_version = fields.List(fields.Nested(GroupedOut))
    by_queue = fields.List(fields.Nested(GroupedOut))
    by_intent = fields.List(fields.Nested(GroupedOut))
    by_week = fields.List(fields.Nested(GroupedOut))
    note = fields.String()
