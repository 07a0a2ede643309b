"""Monitoring: drift checks, references, summary, novel clusters, calibration, alerts, jobs."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class HistoryArgs(_Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    model = fields.String(load_default=None, metadata={"description": "only checks of this model version"})


class CheckIn(_Strict):
    model = fields.String(load_default=None, metadata={"description": "model version (default: the active one)"})
    texts = fields.List(
        fields.String(),
        load_default=None,
        validate=validate.Length(min=2, max=20000),
        metadata={"description": "a window to check (default: the last stored decisions)"},
    )


class DriftCheckOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    model_version = fields.String()
    reference = fields.String()
    source = fields.String()
    window_start = fields.DateTime(allow_none=True)
    window_end = fields.DateTime(allow_none=True)
    window_size = fields.Integer()
    reference_size = fields.Integer()
    backend = fields.String()
    is_drift = fields.Boolean(metadata={"description": "severity is warning or critical"})
    severity = fields.String(metadata={"description": "ok, info, warning or critical (the highest voting detector's)"})
    estimate = fields.Dict(
        allow_none=True,
        metadata={"description": "expected_accuracy (window, low, high, reference, change_points) and review_load"},
    )
    first_decision_id = fields.Integer(allow_none=True)
    last_decision_id = fields.Integer(allow_none=True)
    seconds = fields.Float()
    detectors = fields.Dict(
        metadata={
            "description": "per detector: {data: {is_drift, significant, severity, effect, p_val, threshold, "
            "distance}, meta: {name, version, backend}}"
        }
    )


class CheckOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    is_drift = fields.Boolean(allow_none=True, metadata={"description": "null when the check was skipped"})
    severity = fields.String(metadata={"description": "ok, info, warning or critical"})
    estimate = fields.Dict(metadata={"description": "expected routing accuracy and review load against the reference"})
    skipped = fields.String()
    model_version = fields.String()
    reference = fields.String()
    source = fields.String()
    backend = fields.String()
    alpha = fields.Float()
    sizes = fields.Dict()
    window = fields.Dict()
    window_size = fields.Integer()
    detectors = fields.Dict()
    seconds = fields.Float()


class SummaryArgs(_Strict):
    days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=365))
    bucket = fields.String(load_default="day", validate=validate.OneOf(["day", "hour"]))


class SummaryOut(Schema):
    since = fields.DateTime()
    decisions = fields.Integer()
    intent_mix = fields.List(fields.Dict())
    top_intents = fields.List(fields.String())
    confidence_histogram = fields.Dict()
    mean_confidence = fields.Float(allow_none=True)
    review_rate = fields.Float(allow_none=True)
    novelty_rate = fields.Float(allow_none=True)
    review_reasons = fields.Dict()
    by_model_version = fields.Dict()


class NovelArgs(_Strict):
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))
    clusters = fields.Integer(load_default=8, validate=validate.Range(min=1, max=50))


class NovelOut(Schema):
    since = fields.DateTime()
    novel_tickets = fields.Integer()
    clusters = fields.List(fields.Dict(), metadata={"description": "size, top_terms, predicted_intents, examples"})


class CalibrationArgs(_Strict):
    weeks = fields.Integer(load_default=8, validate=validate.Range(min=1, max=104))


class CalibrationOut(Schema):
    since = fields.DateTime()
    weeks = fields.List(fields.Dict())
    reviewed_by_model_version = fields.Dict()
    note = fields.String()


class PinIn(_Strict):
    model = fields.String(load_default=None)
    last = fields.Integer(load_default=None, validate=validate.Range(min=2, max=100000))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ReferenceOut(Schema):
    id = fields.Integer()
    model_version = fields.String()
    reference = fields.String()
    rows = fields.Integer()
    source = fields.String()
    unpinned = fields.Integer()
    mean_confidence = fields.Float()
    pinned = fields.List(fields.Dict())


class ModelArgs(_Strict):
    model = fields.String(load_default=None)


class AlertOut(Schema):
    key = fields.String()
    severity = fields.String()
    title = fields.String()
    message = fields.String()
    active = fields.Boolean()
    first_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    last_sent_at = fields.DateTime(allow_none=True)
    cleared_at = fields.DateTime(allow_none=True)
    sent_count = fields.Integer()
    figures = fields.Dict(allow_none=True)


class JobOut(Schema):
    id = fields.String()
    description = fields.String()
    interval_s = fields.Float()
    runs = fields.List(fields.Dict())
