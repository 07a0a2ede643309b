"""Prometheus metrics. Under ``router serve`` they are aggregated across gunicorn workers
(``PROMETHEUS_MULTIPROC_DIR`` is set before the workers start)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "router_http_requests_total", "HTTP requests by endpoint and status", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "router_http_request_seconds",
    "HTTP request latency by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DECISIONS = Counter("router_decisions_total", "Decisions by intent and queue", ["intent", "queue"])
REVIEWS = Counter("router_review_requests_total", "Decisions that need a person, by reason", ["reason"])
CONFIDENCE = Histogram(
    "router_decision_confidence",
    "Top-intent confidence of decisions",
    buckets=tuple(round(x * 0.05, 2) for x in range(1, 21)),
)
ACTIVE_MODEL = Gauge(
    "router_active_model_info",
    "The model version deciding tickets (value 1)",
    ["version"],
    multiprocess_mode="liveall",
)
PLUGIN_ERRORS = Counter("router_plugin_errors_total", "Plugin failures by plugin and hook", ["plugin", "hook"])
RULE_ERRORS = Counter("router_rule_errors_total", "Rule conditions that failed at run time", ["rule"])


def render() -> tuple[bytes, str]:
    """The exposition text: every worker's metrics when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


SHADOW_DROPPED = Counter("router_shadow_dropped_total", "Shadow scores dropped because the queue was full")
AUTO_ROLLBACKS = Counter("router_auto_rollbacks_total", "Automatic rollbacks by the guardrail watch", ["slot"])


REVIEW_LABELS = Counter(
    "router_review_labels_total", "Reviewer labels by outcome (confirmed or corrected the model)", ["outcome"]
)

JOB_RUNS = Counter("router_job_runs_total", "Scheduled job runs this process ran, by outcome", ["job", "status"])
JOB_EVENTS = Counter("router_job_events_total", "Scheduler trouble: missed, failed, overlapping runs", ["job", "event"])
DRIFT_CHECKS = Counter("router_drift_checks_total", "Drift checks by outcome", ["drift"])
ALERTS_SENT = Counter("router_alerts_sent_total", "Alerts sent to the notifiers, by severity", ["severity"])
MODEL_ERRORS = Counter("router_model_errors_total", "Tickets a model version failed to classify", ["version"])

DELIVERIES = Counter(
    "router_deliveries_total",
    "Write-back attempts by connector and outcome (routed, suggested, agent_changed, retry, dead...)",
    ["connector", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "router_delivery_seconds",
    "Time from the decision's commit to the helpdesk's 2xx, by connector",
    ["connector"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
)


def _label(value: str) -> str:
    """A Prometheus label value, escaped as the text format asks."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def delivery_gauges(db: object) -> bytes:
    """Outbox gauges read from the database at scrape time (one figure for the whole cluster)."""
    from ..delivery.outbox import backlog

    try:
        b = backlog(db)  # type: ignore[arg-type]
    except Exception:  # a scrape must not fail because the database hiccups
        return b""
    lines = [
        "# HELP router_deliveries_pending Decisions waiting to be written back to their helpdesk",
        "# TYPE router_deliveries_pending gauge",
        f"router_deliveries_pending {b['pending']}",
        "# HELP router_delivery_oldest_pending_seconds Age of the oldest decision waiting to be written back",
        "# TYPE router_delivery_oldest_pending_seconds gauge",
        f"router_delivery_oldest_pending_seconds {b['oldest_age_s']}",
        "# HELP router_deliveries_dead Deliveries in the dead-letter state",
        "# TYPE router_deliveries_dead gauge",
        f"router_deliveries_dead {b['dead']}",
        "# HELP router_delivery_paused_seconds Seconds left of the pause a helpdesk asked for (Retry-After)",
        "# TYPE router_delivery_paused_seconds gauge",
        *(f'router_delivery_paused_seconds{{connector="{_label(name)}"}} {left}' for name, left in b["paused"].items()),
    ]
    return ("\n".join(lines) + "\n").encode()
