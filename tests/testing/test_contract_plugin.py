"""The pytest plugin for routing contracts, run with pytester, and `router rules test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.config import REPO_ROOT

from ..conftest import make_env, prepare_home

RULES = """
version: 1
default: {queue: general, priority: normal}
queues: {cards: Cards, fraud: Fraud, general: Everything else}
routes:
  - {queue: fraud, priority: urgent, intents: [lost_or_stolen_card]}
  - {queue: cards, priority: normal, intents: [card_arrival]}
rules:
  - id: enterprise-first
    description: Enterprise customers first
    when:
      - ticket.requester.tier == "enterprise"
    then: {priority: high}
    examples:
      - name: enterprise
        ticket: {body: "Where is my card?", requester: {tier: enterprise}}
        prediction: {intent: card_arrival, confidence: 0.9}
        expect: {queue: cards, priority: high}
      - name: free-tier-wrongly-expected-high
        ticket: {body: "Where is my card?", requester: {tier: free}}
        prediction: {intent: card_arrival, confidence: 0.9}
        expect: {priority: high}
      - name: with-the-model
        ticket: {body: "My card was stolen last night"}
        expect: {queue: fraud}
"""


@pytest.fixture
def home(tmp_path: Path, trained) -> Path:  # type: ignore[no-untyped-def]
    home = tmp_path / "contracts-home"
    prepare_home(home, trained).db.dispose()
    return home


def test_rule_examples_become_test_items_with_readable_ids(pytester: pytest.Pytester, home: Path) -> None:
    (pytester.path / "rules").mkdir()
    (pytester.path / "rules" / "mine.yaml").write_text(RULES)
    result = pytester.runpytest("rules", f"--router-home={home}", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*enterprise-first?enterprise? PASSED*",
            "*enterprise-first?free-tier-wrongly-expected-high? FAILED*",
            "*enterprise-first?with-the-model? PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*priority: expected 'high', got 'normal'*",
            "*assert ticket.requester.tier == 'enterprise'*",
            "*where ticket.requester.tier = 'free'*",
        ]
    )


def test_a_failing_contract_assert_shows_the_decision_explanation(pytester: pytest.Pytester, home: Path) -> None:
    pytester.makepyfile(
        test_contract="""
        def test_stolen_card_goes_to_cards(router):
            decision = router.decide("Someone stole my card, block it please")
            assert decision.queue == "cards"

        def test_stolen_card_goes_to_fraud(router):
            assert router.decide("Someone stole my card, block it please").queue == "fraud"
    """
    )
    rules = pytester.path / "rules.yaml"
    rules.write_text(RULES)
    result = pytester.runpytest(f"--router-home={home}", f"--router-rules={rules}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*assert 'fraud' == 'cards'*",
            "*intent: lost_or_stolen_card (confidence*",
            "*alternatives: lost_or_stolen_card*",
            "*words toward: *stole*",
            "*rule trace:*",
            "*route:fraud*",
            "*enterprise-first*",
            "*assert ticket.requester.tier == 'enterprise'*",
        ]
    )


def test_an_unknown_model_version_is_an_error(pytester: pytest.Pytester, home: Path) -> None:
    pytester.makepyfile(
        test_contract="""
        def test_any(router):
            router.decide("hello")
    """
    )
    result = pytester.runpytest(f"--router-home={home}", "--router-model=v-nope", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(["*no model version 'v-nope'*"])


def test_router_rules_test_runs_the_default_suite_headless(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, **make_env(home)}
    router = str(Path(sys.executable).parent / "router")
    ok = subprocess.run([router, "rules", "test"], env=env, capture_output=True, text=True, timeout=300)
    summary = json.loads(ok.stdout.strip().splitlines()[-1])
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert summary["ok"] is True and summary["failed"] == summary["error"] == 0 and summary["passed"] >= 15
    assert summary["rules_file"].endswith("default.yaml")

    bad = tmp_path / "contracts"
    bad.mkdir()
    (bad / "test_bad.py").write_text(
        "def test_wrong(router):\n    assert router.decide('my card was stolen').queue == 'fx'\n"
    )
    failed = subprocess.run(
        [router, "rules", "test", "--contracts", str(bad)], env=env, capture_output=True, text=True, timeout=300
    )
    summary = json.loads(failed.stdout.strip().splitlines()[-1])
    assert failed.returncode == 1 and summary["ok"] is False and summary["failed"] == 1
    assert "test_wrong" in summary["failures"][0]["test"]
    assert (REPO_ROOT / "fixtures" / "contracts").is_dir()
