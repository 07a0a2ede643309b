"""Real alerts to a local SMTP server and a local webhook receiver: one problem, one alert, one recovery."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.config import REPO_ROOT
from router.monitoring import alerts, checks
from router.services.intake import submit

from ..conftest import prepare_home


@pytest.fixture
def alerting(tmp_path: Path, trained, smtp_server, webhook_server, database_url: str):  # type: ignore[no-untyped-def]
    smtp_port, mails = smtp_server
    url, posts = webhook_server
    ctx = prepare_home(
        tmp_path / "home",
        trained,
        database_url,
        ROUTER_ALERT_WEBHOOK_URL=url,
        ROUTER_ALERT_SMTP_HOST="127.0.0.1",
        ROUTER_ALERT_SMTP_PORT=str(smtp_port),
        ROUTER_ALERT_SMTP_FROM="router@example.com",
        ROUTER_ALERT_SMTP_TO="oncall@example.com,ml@example.com",
        ROUTER_ALERT_COOLDOWN_S="600",
        ROUTER_DRIFT_BACKEND="scipy",
        ROUTER_DRIFT_WINDOW="200",
        ROUTER_DRIFT_MIN_WINDOW="50",
    )
    yield ctx, mails, posts
    ctx.db.dispose()


def test_one_problem_is_one_alert_then_one_recovery(alerting) -> None:
    ctx, mails, posts = alerting
    now = datetime.now(UTC)
    assert alerts.fire(ctx, "drift:v1", "warning", "Drift on v1", "input moved", {"p_val": 0.001}, now=now)
    assert not alerts.fire(ctx, "drift:v1", "warning", "Drift on v1", "still moved", now=now + timedelta(minutes=5))
    assert len(posts.items) == 1 and len(mails.items) == 1
    post = posts.items[0]
    assert post["content_type"] == "application/json" and post["path"] == "/hooks/router"
    assert post["json"]["text"].startswith("[WARNING] Drift on v1")
    assert post["json"]["alert"]["key"] == "drift:v1" and post["json"]["alert"]["recovered"] is False
    assert "p_val" in post["json"]["attachments"][0]["text"]
    mail = mails.items[0]
    assert mail["to"] == ["oncall@example.com", "ml@example.com"]
    assert mail["message"]["Subject"] == "[ticket-router] [WARNING] Drift on v1"
    assert mail["message"]["X-Router-Alert-Key"] == "drift:v1"

    assert alerts.fire(ctx, "drift:v1", "warning", "Drift on v1", "after the cooldown", now=now + timedelta(minutes=11))
    assert len(posts.items) == 2

    assert alerts.clear(ctx, "drift:v1", "back to normal")
    assert not alerts.clear(ctx, "drift:v1", "still normal")
    assert len(posts.items) == 3 and len(mails.items) == 3
    recovery = posts.items[-1]["json"]
    assert recovery["alert"]["recovered"] is True and recovery["text"].startswith("[RECOVERED] Recovered: Drift on v1")
    assert "RECOVERED" in mails.items[-1]["message"]["Subject"]
    state = {s["key"]: s for s in alerts.states(ctx)}["drift:v1"]
    assert state["active"] is False and state["sent_count"] == 2


def _texts(name: str, intents: set[str] | None = None) -> list[str]:
    with (REPO_ROOT / "fixtures" / "banking77" / f"{name}.csv").open(newline="") as fh:
        return [r["text"] for r in csv.DictReader(fh) if intents is None or r["category"] in intents]


def test_a_shifted_stream_raises_a_drift_alert_and_a_calm_one_clears_it(alerting) -> None:
    ctx, mails, posts = alerting
    version = ctx.runtime.current().version
    held_out, _ = ctx.store.holdout(version)
    for i, text in enumerate(held_out[:200]):
        submit(ctx, "generic", {"id": f"calm-{i}", "body": text})
    calm = checks.drift(ctx)
    assert calm["is_drift"] is False and not posts.items
    shifted = _texts("test", {"card_arrival", "lost_or_stolen_card", "card_not_working"})[:110]
    shifted += ["my flight to paris was cancelled, please rebook me", "the printer upstairs is jammed"] * 45
    for i, text in enumerate(shifted):
        submit(ctx, "generic", {"id": f"shift-{i}", "body": text})
    loud = checks.drift(ctx)
    assert loud["is_drift"] is True and loud["fired"]
    assert len(posts.items) == 1 and len(mails.items) == 1
    alert = posts.items[0]["json"]["alert"]
    # a third of the window about other things: the estimated routing accuracy falls by far more
    # than ROUTER_DRIFT_CRITICAL_POINTS, and the alert says so before naming the detectors
    assert alert["key"] == f"drift:{version}" and alert["severity"] == "critical"
    assert alert["message"].startswith("Expected routing accuracy ")
    assert alert["message"].index("expected review load") < alert["message"].index("Why: ")
    assert "novelty_rate: novel share" in alert["message"] and alert["title"].startswith("Routing at risk")
    assert alert["figures"]["estimate"]["expected_accuracy"]["change_points"] < -5
    assert alert["figures"]["window"]["size"] == 200
    checks.drift(ctx)  # still drifting: no second alert within the cooldown
    assert len(posts.items) == 1
    for i, text in enumerate(held_out[200:400]):
        submit(ctx, "generic", {"id": f"calm2-{i}", "body": text})
    assert checks.drift(ctx)["is_drift"] is False
    assert len(posts.items) == 2 and posts.items[1]["json"]["alert"]["recovered"] is True


def test_a_failing_notifier_does_not_stop_the_others(tmp_path: Path, trained, webhook_server) -> None:
    url, posts = webhook_server
    ctx = prepare_home(
        tmp_path / "h",
        trained,
        ROUTER_ALERT_WEBHOOK_URL=url,
        ROUTER_ALERT_SMTP_HOST="127.0.0.1",
        ROUTER_ALERT_SMTP_PORT="1",
        ROUTER_ALERT_SMTP_TO="x@example.com",
    )
    assert alerts.fire(ctx, "k", "critical", "Something broke", "details")
    assert len(posts.items) == 1 and posts.items[0]["json"]["text"].startswith("[CRITICAL]")
    ctx.db.dispose()
