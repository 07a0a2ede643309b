"""When the router speaks: effects in a maintainer's units, severities, hourly surges, alerts and the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from router.monitoring import checks, effects, explain, service, surge
from router.monitoring.drift import DriftSuite
from router.services.intake import submit

from ..conftest import store_decisions
from ..web.conftest import signed_in  # noqa: F401  (the fixture)

K = 10  # intents


def _arrays(n: int, rng: np.random.Generator, conf_shift: float = 0.0, novel: float = 0.05) -> dict[str, np.ndarray]:
    conf = np.clip(rng.beta(18, 2, size=n) - conf_shift, 0.0, 1.0)
    return {
        "embedding": rng.normal(size=(n, 4)).astype(np.float32),
        "confidence": conf.astype(np.float32),
        "margin": (conf * 0.9).astype(np.float32),
        "predicted": rng.integers(0, K, size=n).astype(np.float32),
        "unseen": rng.beta(1, 40, size=n).astype(np.float32),
        "novelty": (rng.uniform(size=n) < novel).astype(np.float32),
    }


def _suite(ref: dict[str, np.ndarray], **kw: Any) -> DriftSuite:
    routing = effects.Routing(thresholds=np.full(K, 0.8), novelty_threshold=0.5)
    return DriftSuite(
        {**ref, "label_prior": np.full(K, 1 / K)},
        backend="scipy",
        n_classes=K,
        routing=routing,
        novelty_threshold=0.5,
        **kw,
    )


def test_a_significant_but_small_change_is_info_and_not_drift() -> None:
    rng = np.random.default_rng(0)
    suite = _suite(_arrays(20_000, rng))
    # mean confidence 0.8 points lower: certain with 20,000 tickets, below the 2-point minimum
    result = suite.check(_arrays(20_000, rng, conf_shift=0.008))
    conf = result["detectors"]["confidence_ks"]["data"]
    assert conf["significant"] and conf["p_val"] < conf["threshold"]
    assert conf["severity"] == "info" and conf["is_drift"] is False
    assert result["severity"] == "info" and result["is_drift"] is False
    acc = result["estimate"]["expected_accuracy"]
    assert -1.2 < acc["change_points"] < -0.4 and acc["low"] < acc["window"] < acc["high"]
    assert "below_threshold" in conf["effect"] and "review_load" in result["estimate"]


def test_a_material_drop_is_a_warning_and_past_the_critical_points_critical() -> None:
    rng = np.random.default_rng(1)
    suite = _suite(_arrays(2000, rng))
    warning = suite.check(_arrays(500, rng, conf_shift=0.035))
    assert warning["detectors"]["confidence_ks"]["data"]["severity"] == "warning"
    assert warning["severity"] == "warning" and warning["is_drift"] is True
    critical = suite.check(_arrays(500, rng, conf_shift=0.09))
    assert critical["estimate"]["expected_accuracy"]["change_points"] < -5
    assert critical["severity"] == "critical" and critical["detectors"]["confidence_ks"]["data"]["is_drift"]
    # the same check with a looser minimum: critical only past ROUTER_DRIFT_CRITICAL_POINTS
    loose = _suite(_arrays(2000, rng), minimums=effects.Minimums(critical_points=20.0))
    assert loose.check(_arrays(500, rng, conf_shift=0.09))["severity"] == "warning"


def test_novel_share_below_its_minimum_is_info_unless_the_review_load_rises() -> None:
    rng = np.random.default_rng(2)
    ref = _arrays(2000, rng, novel=0.05)
    suite = _suite(ref, minimums=effects.Minimums(novel_points=30.0, review_points=50.0))
    result = suite.check(_arrays(500, rng, novel=0.20))
    novel = result["detectors"]["novelty_rate"]["data"]
    assert novel["significant"] and novel["severity"] == "info"
    assert 10 < novel["effect"]["novel_share"]["change_points"] < 20
    strict = _suite(ref).check(_arrays(500, rng, novel=0.20))  # defaults: 3 points
    assert strict["detectors"]["novelty_rate"]["data"]["severity"] == "warning"


def test_an_intent_share_is_material_when_doubled_with_ten_more_tickets() -> None:
    def judged(count: int, expected: float, p_val: float = 1e-6, beyond_mix: float = 1e-4) -> bool:
        data = {
            "threshold": 0.01,
            "increases": [
                {
                    "intent": "a",
                    "window_count": count,
                    "expected_count": expected,
                    "ratio": count / expected,
                    "p_val": p_val,
                    "p_beyond_mix": beyond_mix,
                }
            ],
        }
        return effects.effect("prediction_share", data, None, effects.Minimums())[1]

    assert judged(22, 7.5)  # tripled-ish: 2.9 times, 14.5 more tickets
    assert not judged(12, 3.0)  # 4 times but 9 more tickets: a small intent, not an outage
    assert not judged(30, 18.0)  # 12 more tickets but 1.7 times
    assert not judged(22, 7.5, p_val=0.02)  # not significant on its own
    assert not judged(22, 7.5, beyond_mix=0.2)  # no more than the whole mix moved
    # the spread of the other intents widens the test: 22 tickets for 7.5 stand out from a mix that
    # sits where expected, not from one whose intents sit 30 % off their shares
    assert effects.beyond_mix_p(22, 500, 0.015, 0.0, 67) < 0.01 < effects.beyond_mix_p(22, 500, 0.015, 0.3, 67)
    assert effects.beyond_mix_p(40, 1000, 0.015, 0.1, 67) < 0.01
    # the spread leaves the judged intent out: a surge does not widen its own test
    counts, expected = np.array([10, 10, 10, 30]), np.full(4, 15.0)
    assert effects.mix_spread(counts, expected, 3) == 0.0 < 0.4 < effects.mix_spread(counts, expected, 0)


def _share_severities(windows: list[np.ndarray], prior: np.ndarray) -> list[dict[str, Any]]:
    """``prediction_share`` on each window, judged as a check judges it (level 1 %: 5 % over 5 votes)."""
    from router.monitoring.detectors import PredictionShareDrift

    det = PredictionShareDrift(windows[0], p_val=0.01, expected=prior)
    out = []
    for x in windows:
        result = det.predict(x)
        effects.judge({"prediction_share": result}, None, effects.Minimums())
        out.append(result["data"])
    return out


def test_a_bounded_mix_shift_is_not_a_surge_and_a_tripled_intent_is() -> None:
    rng = np.random.default_rng(12)
    w = np.linspace(1.0, 3.0, 67)  # 67 intents from 0.7 % to 2.2 %, like BANKING77's known ones
    prior = w / w.sum()
    shifted = []
    for _ in range(300):  # every intent's share times a factor from [0.5, 1.5], per window
        p = prior * rng.uniform(0.5, 1.5, len(prior))
        shifted.append(rng.choice(len(prior), 500, p=p / p.sum()).astype(np.float32)[:, None])
    judged = _share_severities(shifted, prior)
    # windows with one intent at twice its expected count, 10 tickets above it and significant on
    # its own: judged on that intent's point estimate alone, every one of them was an alert
    lookalikes = [
        d
        for d in judged
        if any(
            s["p_val"] < d["threshold"] and s["ratio"] >= 2 and s["window_count"] - s["expected_count"] >= 10
            for s in d["increases"]
        )
    ]
    assert len(lookalikes) >= 20  # 7 % of the windows or more
    assert sum(d["is_drift"] for d in judged) <= 3  # at most 1 % of the windows alert
    assert sum(d["severity"] == "info" for d in lookalikes) >= len(lookalikes) - 3
    # the rest of the window moved as much: a factor from [0.5, 1.5] is a spread of about 0.29
    assert float(np.median([d["increases"][0]["mix_spread"] for d in lookalikes])) > 0.2

    tripled = []
    for _ in range(60):  # one intent's share tripled, the rest of the mix as expected
        p = prior.copy()
        p[rng.integers(len(p))] *= 3
        tripled.append(rng.choice(len(prior), 1000, p=p / p.sum()).astype(np.float32)[:, None])
    found = _share_severities(tripled, prior)
    assert sum(d["severity"] == "warning" for d in found) >= 57
    assert all(d["effect"]["material_intents"] for d in found if d["is_drift"])


def test_the_hour_gives_a_verdict_against_the_same_hour_of_previous_days() -> None:
    history = {"card_arrival": 7 * 3, "exchange_rate": 7 * 10, "top_up_failed": 7 * 7, "other": 7 * 30}
    calm = surge.hourly({"card_arrival": 3, "exchange_rate": 11, "top_up_failed": 6, "other": 30}, history, days=7)
    assert calm["data"]["severity"] == "ok" and calm["meta"]["name"] == "intent_surge_hour"
    outage = surge.hourly({"card_arrival": 25, "exchange_rate": 10, "top_up_failed": 7, "other": 30}, history, days=7)
    data = outage["data"]
    assert data["severity"] == "warning" and data["is_drift"]
    top = data["effect"]["largest_increase"]
    assert top["intent"] == "card_arrival" and top["window_count"] == 25 and top["ratio"] > 5
    assert "card_arrival: 25 tickets in the last hour" in explain.effect_text(surge.NAME, data)
    # a busier hour for every intent is volume, not a surge
    busy = surge.hourly({k: 2 * v // 7 for k, v in history.items()}, history, days=7)
    assert busy["data"]["severity"] == "ok"
    empty = surge.hourly({"card_arrival": 4}, {}, days=7)
    assert "skipped" in empty["data"] and empty["data"]["severity"] == "ok"


def _result(severity: str, version: str) -> dict[str, Any]:
    est = {
        "expected_accuracy": {"reference": 0.92, "window": 0.9, "low": 0.88, "high": 0.92, "change_points": -2.0},
        "review_load": {"reference": 0.1, "window": 0.12, "change_points": 2.0},
    }
    data = {
        "p_val": 1e-4,
        "threshold": 0.01,
        "distance": 0.3,
        "votes": True,
        "significant": True,
        "severity": severity,
        "is_drift": severity in effects.ALERTING,
        "mean_confidence": {"reference": 0.92, "window": 0.9},
        "effect": {"mean_confidence": {"reference": 0.92, "window": 0.9}},
    }
    return {
        "model_version": version,
        "severity": severity,
        "is_drift": severity in effects.ALERTING,
        "estimate": est,
        "detectors": {"confidence_ks": {"data": data, "meta": {"name": "confidence_ks"}}},
        "sizes": {"window": 500, "reference": 1200},
        "reference": "holdout",
        "id": 1,
        "seconds": 0.1,
    }


def test_info_is_never_sent_and_warning_leads_with_the_cost(ctx, monkeypatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("router.monitoring.alerts._send", lambda _ctx, alert: sent.append(alert))
    monkeypatch.setattr(service, "check", lambda _ctx: _result("info", "v1"))
    assert checks.drift(ctx)["severity"] == "info" and not sent
    monkeypatch.setattr(service, "check", lambda _ctx: _result("warning", "v1"))
    out = checks.drift(ctx)
    assert out["is_drift"] and len(sent) == 1
    alert = sent[0]
    assert alert["severity"] == "warning" and alert["key"] == "drift:v1"
    assert alert["message"].startswith(
        "Expected routing accuracy 90.0 % (95 % interval 88.0 % to 92.0 %) against 92.0 %"
    )
    assert "review load 12.0 % against 10.0 %" in alert["message"]
    assert "Why: confidence_ks: mean confidence 0.900 against 0.920" in alert["message"]
    monkeypatch.setattr(service, "check", lambda _ctx: _result("info", "v1"))
    checks.drift(ctx)  # back to info: the recovery notice
    assert len(sent) == 2 and sent[1]["recovered"] is True


def test_a_scheduled_check_stores_severity_estimate_and_the_hour(ctx) -> None:
    version = ctx.runtime.current().version
    held_out, _ = ctx.store.holdout(version)
    for i, text in enumerate(held_out[:120]):
        submit(ctx, "generic", {"id": f"h-{i}", "body": text})
    result = service.check(ctx)
    assert result["severity"] in effects.SEVERITIES
    assert surge.NAME in result["detectors"]  # the hour has no history yet: skipped, ok
    assert "skipped" in result["detectors"][surge.NAME]["data"]
    [stored] = service.history(ctx, limit=1)
    assert stored["severity"] == result["severity"] and stored["estimate"] == result["estimate"]
    assert stored["first_decision_id"] is not None
    # intents named in the lists, not class indices
    top = stored["detectors"]["prediction_share"]["data"]["increases"]
    assert all("intent" in s and "class" not in s for s in top)


def test_the_hour_counts_come_from_the_same_clock_hour(ctx) -> None:
    from router.monitoring.summary import hour_counts

    now = datetime.now(UTC)
    store_decisions(ctx.db, 4, intent="card_arrival", decided_at=now - timedelta(minutes=10))
    store_decisions(ctx.db, 3, intent="card_arrival", decided_at=now - timedelta(days=2, minutes=30))
    store_decisions(ctx.db, 5, intent="card_arrival", decided_at=now - timedelta(days=2, hours=3))  # another hour
    counts = hour_counts(ctx, days=7, now=now)
    assert counts["last"]["card_arrival"] == 4 and counts["history"]["card_arrival"] == 3


def test_the_page_leads_with_the_cost_to_routing(client, ctx, signed_in) -> None:  # noqa: F811
    signed_in("viewer")
    empty = client.get("/admin/monitoring")
    assert "the estimate of routing accuracy comes with the first one" in empty.text
    version = ctx.runtime.current().version
    held_out, _ = ctx.store.holdout(version)
    for i, text in enumerate(held_out[:120]):
        submit(ctx, "generic", {"id": f"p-{i}", "body": text})
    service.check(ctx)
    page = client.get("/admin/monitoring").text
    assert page.index('id="routing-estimate"') < page.index('id="alerts"') < page.index('id="drift"')
    assert 'id="expected-accuracy"' in page and 'id="expected-review-load"' in page
    assert "against" in page and 'id="drift-severity"' in page


def test_each_backend_measures_the_same_effects() -> None:
    from router.monitoring.detectors import ClassifierInputDrift, InputDrift

    rng = np.random.default_rng(7)
    ref = rng.normal(size=(400, 6)).astype(np.float32)
    win = rng.normal(size=(300, 6)).astype(np.float32)
    win[:, :2] += 0.5  # two of six components moved
    for cls in (InputDrift, ClassifierInputDrift):
        a = cls(ref, p_val=0.01, backend="alibi").predict(win)["data"]
        s = cls(ref, p_val=0.01, backend="scipy").predict(win)["data"]
        if cls is InputDrift:
            assert a["components_moved"] == s["components_moved"] == {"count": 2, "of": 6, "share": 0.3333}
        else:
            assert a["auc"] == pytest.approx(s["auc"], abs=0.02) and s["auc"] > 0.6
