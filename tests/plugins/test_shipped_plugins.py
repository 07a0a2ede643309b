"""The escalation plugins shipped in plugins/, loaded by path as in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.config import REPO_ROOT
from router.db import Database, upgrade
from router.plugins import PluginHost

from ..conftest import store_decisions


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    return Database(url)


def host_with(tmp_path: Path, db: Database, config: dict[str, Any] | None = None) -> PluginHost:
    host = PluginHost([REPO_ROOT / "plugins"], entry_points=False)
    cfg = tmp_path / "plugins.yaml"
    cfg.write_text(yaml.safe_dump(config or {}))
    host.configure(cfg, None, db)
    return host


def adjusted(host: PluginHost, text: str, intent: str = "exchange_rate", **ticket: Any) -> dict[str, Any]:
    decision = {
        "intent": intent,
        "confidence": 0.9,
        "queue": "fx",
        "priority": "low",
        "escalation": None,
        "tags": [],
        "review_reasons": [],
        "explanation": {"words": {}, "rules": []},
    }
    host.call_each(
        "router_adjust_decision",
        decision=decision,
        ticket={"text": text, "requester": {}, **ticket},
        prediction={"intent": intent},
    )
    return decision


def test_every_shipped_plugin_loads(tmp_path, db) -> None:
    host = host_with(tmp_path, db)
    loaded = {i.name: i for i in host.infos}
    for name in ("key_accounts", "legal_churn", "outage_burst", "sentiment", "sla"):
        assert name in loaded and loaded[name].error is None
        assert "router_adjust_decision" in loaded[name].hooks


def test_key_accounts_by_tier_and_by_configured_domain(tmp_path, db) -> None:
    host = host_with(tmp_path, db, {"key_accounts": {"tiers": ["platinum"], "domains": ["bigcorp.com"]}})
    by_tier = adjusted(host, "What rate?", requester={"tier": "Platinum"})
    assert by_tier["escalation"]["team"] == "key-accounts" and by_tier["priority"] == "high"
    by_domain = adjusted(host, "What rate?", requester={"email": "cfo@BigCorp.com"})
    assert "key_account" in by_domain["tags"]
    assert adjusted(host, "What rate?", requester={"tier": "enterprise", "email": "a@small.org"})["escalation"] is None


@pytest.mark.parametrize(
    ("text", "risks"),
    [
        pytest.param("I will sue you if this is not fixed", {"legal"}, id="sue"),
        pytest.param("My lawyers are looking at this", {"legal"}, id="lawyers"),
        pytest.param("I'm filing a chargeback with my card issuer", {"chargeback"}, id="chargeback"),
        pytest.param("I will report you to the financial ombudsman", {"regulator"}, id="ombudsman"),
        pytest.param("Please close my account today", {"churn"}, id="close-account"),
        pytest.param("I'm switching banks after this", {"churn"}, id="switching"),
        pytest.param("Not happy, I am cancelling my card", {"churn"}, id="negation-in-another-clause"),
        pytest.param("I'm not cancelling my account, just asking", set(), id="not-cancelling"),
        pytest.param("I don't want to sue anyone, I just want my money", set(), id="dont-want-to-sue"),
        pytest.param("I have no intention of closing my account", set(), id="no-intention"),
        pytest.param("Never going to file a chargeback, relax", set(), id="never-chargeback"),
        pytest.param("How do I cancel a transfer?", set(), id="cancel-transfer-is-not-churn"),
        pytest.param("What is the exchange rate?", set(), id="neutral"),
    ],
)
def test_legal_and_churn_risk_in_words_with_negation(text: str, risks: set[str]) -> None:
    from router_plugin_legal_churn import find_risks  # type: ignore[import-not-found]

    assert set(find_risks(text)) == risks


@pytest.fixture(autouse=True)
def _loaded_plugins(tmp_path: Path, db: Database) -> None:
    host_with(tmp_path, db)  # makes the plugin modules importable by their load names


def test_legal_risk_escalates_to_legal_and_is_urgent(tmp_path, db) -> None:
    decision = adjusted(host_with(tmp_path, db), "Fix this or I will take legal action")
    assert decision["escalation"]["level"] == 2 and decision["priority"] == "urgent"
    assert "legal_risk" in decision["tags"]
    assert adjusted(host_with(tmp_path, db), "I won't take legal action, relax")["escalation"] is None


def test_negative_sentiment_raises_priority(tmp_path, db) -> None:
    host = host_with(tmp_path, db)
    angry = adjusted(host, "This is terrible, awful service, I am furious and disgusted")
    assert angry["priority"] == "high" and "negative_sentiment" in angry["tags"]
    calm = adjusted(host, "Thanks, what is the exchange rate for euros?")
    assert calm["priority"] == "low" and "negative_sentiment" not in calm["tags"]


def test_sla_breach_raises_priority(tmp_path, db) -> None:
    host = host_with(tmp_path, db, {"sla": {"hours": 24, "priority": "urgent"}})
    old = adjusted(host, "rate?", created_at=(datetime.now(UTC) - timedelta(hours=30)).isoformat())
    assert old["priority"] == "urgent" and "sla_breached" in old["tags"]
    fresh = adjusted(host, "rate?", created_at=datetime.now(UTC) - timedelta(hours=1))
    assert fresh["priority"] == "low"


def _store(db: Database, n: int, intent: str, minutes_ago: float = 1) -> None:
    store_decisions(db, n, intent=intent, decided_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))


def test_outage_burst_escalates_a_probable_incident_and_links_the_tickets(tmp_path, db) -> None:
    host = host_with(tmp_path, db, {"outage_burst": {"tickets": 5, "minutes": 10, "cache_seconds": 0}})
    _store(db, 3, "card_not_working")
    _store(db, 10, "card_not_working", minutes_ago=30)  # outside the window
    assert adjusted(host, "card broken", intent="card_not_working")["escalation"] is None
    _store(db, 1, "card_not_working", minutes_ago=0)
    decision = adjusted(host, "card broken", intent="card_not_working")
    assert decision["escalation"]["team"] == "incident-response"
    assert len(decision["escalation"]["linked_tickets"]) == 4
    assert "probable_incident" in decision["tags"]
    assert adjusted(host, "rate?", intent="exchange_rate")["escalation"] is None


def test_the_burst_count_follows_its_window_without_counting_it_whole(tmp_path, db, monkeypatch) -> None:
    host = host_with(tmp_path, db, {"outage_burst": {"cache_seconds": 0, "recount_seconds": 3600}})
    plugin = host.pm.get_plugin("outage_burst")
    count = plugin.count_recent
    start = datetime.now(UTC)
    clock = [start]
    monkeypatch.setattr(plugin, "_utcnow", lambda: clock[0])

    def stored(seconds: float, n: int = 1) -> None:  # n decisions made ``seconds`` after the start
        store_decisions(db, n, intent="card_not_working", decided_at=start + timedelta(seconds=seconds))

    stored(-594, 3)  # leave the 10-minute window 6 s after the start
    stored(-5, 2)
    assert count("card_not_working", 10) == 5  # the whole window, counted once
    whole = plugin._WINDOWS[("card_not_working", 10.0)].counted
    stored(1)
    clock[0] = start + timedelta(seconds=2)
    assert count("card_not_working", 10) == 6
    clock[0] = start + timedelta(seconds=40)
    assert count("card_not_working", 10) == 3  # three left the window
    stored(30)  # made 30 s after the start, committed 10 s later
    clock[0] = start + timedelta(seconds=42)
    assert count("card_not_working", 10) == 4
    clock[0] = start + timedelta(seconds=100)
    assert count("card_not_working", 10) == 4 and count("card_not_working", 1.5) == 1
    assert plugin._WINDOWS[("card_not_working", 10.0)].counted == whole  # never counted whole again


def test_a_broken_plugin_is_isolated(tmp_path, db) -> None:
    plugins = tmp_path / "more"
    plugins.mkdir()
    (plugins / "does_not_import.py").write_text("import nosuchmodule_xyz\n")
    (plugins / "raises.py").write_text(
        "from router.hooks import hookimpl\n\n@hookimpl\ndef router_adjust_decision(decision):\n"
        "    raise RuntimeError('boom')\n"
    )
    (plugins / "tags.py").write_text(
        "from router.hooks import hookimpl\n\n@hookimpl\ndef router_adjust_decision(decision):\n"
        "    decision['tags'].append('seen')\n"
    )
    host = PluginHost([plugins], entry_points=False)
    failed = {i.name: i.error for i in host.infos if i.error}
    assert "does_not_import" in failed and "nosuchmodule_xyz" in failed["does_not_import"]
    decision = adjusted(host, "rate?")
    assert decision["tags"] == ["seen"]
