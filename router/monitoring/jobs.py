"""The scheduled jobs, declared as data with stable ids. Each calls one service in ``checks``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import checks


@dataclass(frozen=True)
class JobSpec:
    id: str  # stable: the lease, the run records and the metrics are keyed by it
    func: Callable[[Any], dict[str, Any]]
    interval_setting: str  # the Settings attribute holding the period in seconds
    description: str


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "monitoring.drift",
        checks.drift,
        "drift_interval_s",
        "drift check of the last window of decisions against the model's reference; alert on drift",
    ),
    JobSpec(
        "monitoring.calibration",
        checks.accuracy,
        "calibration_interval_s",
        "expected accuracy from calibrated confidences against held-out accuracy; alert on a drop",
    ),
    JobSpec(
        "monitoring.review_backlog",
        checks.review_backlog,
        "backlog_interval_s",
        "review-queue backlog and oldest wait; alert past the limits",
    ),
    JobSpec(
        "monitoring.outcomes",
        checks.outcome_accuracy,
        "calibration_interval_s",
        "measured routing accuracy of recent solved tickets against held-out accuracy; alert on a drop",
    ),
    JobSpec(
        "delivery.lag",
        checks.delivery_lag,
        "delivery_lag_interval_s",
        "write-back backlog: alert when the oldest undelivered decision waits longer than the limit",
    ),
    JobSpec(
        "models.watch",
        checks.model_watch,
        "watch_interval_s",
        "model guardrail watch: roll back a new version that breaches a guardrail",
    ),
)


def by_id(job_id: str) -> JobSpec:
    for spec in JOBS:
        if spec.id == job_id:
            return spec
    raise KeyError(job_id)
