"""Model lifecycle: gates against purpose-built bad candidates, transitions, canary, shadow, rollback."""

from __future__ import annotations

import csv
import json
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from router.config import REPO_ROOT, load_settings
from router.context import Context, build_context
from router.db import Decision, ModelVersion, upgrade
from router.db.lifecycle import ShadowResult
from router.errors import Conflict, ValidationError
from router.registry.runtime import canary_bucket
from router.services import lifecycle, model_info, model_watch, shadow
from router.services.intake import submit
from router.services.training import train

from ..conftest import make_env, store_decisions

INTENTS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "terminate_account", "change_pin"]
RULES = """
version: 1
default: {queue: general, priority: normal}
queues: {cards: Cards, fraud: Fraud, fx: FX, general: Everything else}
routes:
  - {queue: fraud, priority: urgent, intents: [lost_or_stolen_card]}
  - {queue: cards, priority: normal, intents: [card_arrival, change_pin]}
  - {queue: fx, priority: low, intents: [exchange_rate]}
rules: []
"""
CONTRACT = """
def test_a_missing_card_is_a_cards_ticket(router):
    assert router.decide("My new card has still not arrived, where is it?").queue == "cards"
"""


def rows_for(intents: list[str], per_intent: int = 70) -> list[dict[str, str]]:
    with (REPO_ROOT / "fixtures/banking77/train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    out: list[dict[str, str]] = []
    for intent in intents:
        out += [r for r in rows if r["category"] == intent][:per_intent]
    return out


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A home with a small active model and candidates built to fail one gate each (trained once)."""
    root = tmp_path_factory.mktemp("lifecycle")
    (root / "contracts").mkdir()
    (root / "contracts" / "test_small.py").write_text(CONTRACT)
    (root / "rules.yaml").write_text(RULES)
    env = make_env(
        root / "home", ROUTER_CONTRACTS_DIR=str(root / "contracts"), ROUTER_RULES_FILE=str(root / "rules.yaml")
    )
    settings = load_settings(env)
    upgrade(settings.database_url)
    ctx = build_context(settings)
    good_rows = rows_for(INTENTS)
    versions = {"base": train(ctx, write(root / "base.csv", good_rows), activate=True)["version"]}
    versions["good"] = train(ctx, write(root / "good.csv", good_rows))["version"]  # a retrain of the same data
    random.Random(1).shuffle(good_rows)
    shuffled = [dict(r) for r in good_rows]
    labels = [r["category"] for r in shuffled]
    random.Random(2).shuffle(labels)
    for r, label in zip(shuffled, labels, strict=True):
        r["category"] = label
    versions["shuffled"] = train(ctx, write(root / "shuffled.csv", shuffled))["version"]
    versions["dropped"] = train(ctx, write(root / "dropped.csv", rows_for(INTENTS[1:])))["version"]
    broken = [dict(r, category="exchange_rate") if r["category"] == "card_arrival" else r for r in rows_for(INTENTS)]
    versions["contract"] = train(ctx, write(root / "contract.csv", broken))["version"]
    ctx.db.dispose()
    return {"root": root, "env": env, "versions": versions}


@pytest.fixture
def ctx(small: dict[str, Any], tmp_path: Path) -> Context:
    """A private copy of the small home, so each test starts from the same state."""
    home = tmp_path / "home"
    shutil.copytree(small["root"] / "home", home)
    env = {**small["env"], "ROUTER_HOME": str(home)}
    env.pop("ROUTER_DATABASE_URL", None)
    context = build_context(load_settings(env))
    yield context
    context.db.dispose()


def gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["gates"] if g["name"] == name)


def test_a_good_candidate_passes_every_gate_and_becomes_active(ctx: Context, small) -> None:
    v = small["versions"]
    result = lifecycle.promote(ctx, v["good"], "active", actor="ops", reason="better model")
    assert result["gate_report"]["passed"] and result["slots"]["active"]["version"] == v["good"]
    assert [g["name"] for g in result["gate_report"]["gates"]] == ["integrity", "smoke", "quality", "contracts"]
    assert result["slots"]["previous"]["version"] == v["base"]
    assert ctx.runtime.current().version == v["good"]
    with pytest.raises(Conflict):
        lifecycle.promote(ctx, v["good"], "active", actor="ops")


def test_shuffled_labels_fail_the_quality_gate(ctx: Context, small) -> None:
    with pytest.raises(lifecycle.GateFailed) as err:
        lifecycle.promote(ctx, small["versions"]["shuffled"], "canary", actor="ops", percent=10)
    quality = gate(err.value.errors, "quality")
    assert not quality["passed"] and "accuracy" in quality["summary"]
    assert model_info.describe(ctx, small["versions"]["shuffled"])["state"] == "candidate"
    assert ctx.runtime.current().version == small["versions"]["base"]


def test_a_dropped_intent_is_listed_as_a_regression(ctx: Context, small) -> None:
    with pytest.raises(lifecycle.GateFailed) as err:
        lifecycle.promote(ctx, small["versions"]["dropped"], "shadow", actor="ops")
    quality = gate(err.value.errors, "quality")
    assert list(quality["regressed_intents"]) == ["card_arrival"]
    assert quality["regressed_intents"]["card_arrival"]["candidate"] == 0.0
    assert "card_arrival" in quality["summary"]


def test_a_broken_contract_fails_the_contract_gate(ctx: Context, small) -> None:
    with pytest.raises(lifecycle.GateFailed) as err:
        lifecycle.promote(ctx, small["versions"]["contract"], "active", actor="ops")
    contracts = gate(err.value.errors, "contracts")
    assert not contracts["passed"] and "test_a_missing_card_is_a_cards_ticket" in contracts["summary"]


def test_corrupted_bytes_and_a_wrong_checksum_fail_integrity(ctx: Context, small) -> None:
    v = small["versions"]["good"]
    artefact = ctx.store.path_for(v) / "model.joblib"
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artefact.write_bytes(bytes(data))
    with pytest.raises(lifecycle.GateFailed) as err:
        lifecycle.promote(ctx, v, "active", actor="ops")
    assert [g["name"] for g in err.value.errors["gates"]] == ["integrity"]
    assert "does not match the card" in gate(err.value.errors, "integrity")["summary"]

    card_path = ctx.store.path_for(small["versions"]["dropped"]) / "card.json"
    card = json.loads(card_path.read_text())
    card["artefact"]["sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(lifecycle.GateFailed):
        lifecycle.promote(ctx, small["versions"]["dropped"], "shadow", actor="ops")


def test_force_needs_a_reason_and_is_audited(ctx: Context, small) -> None:
    v = small["versions"]["shuffled"]
    with pytest.raises(ValidationError, match="reason"):
        lifecycle.promote(ctx, v, "shadow", actor="ops", force=True)
    result = lifecycle.promote(ctx, v, "shadow", actor="ops", force=True, reason="want to see its errors live")
    assert result["state"] == "shadow" and not result["gate_report"]["passed"]
    entry = model_info.audit_log(ctx)[0]
    assert entry["action"] == "model.shadow.forced" and entry["reason"] == "want to see its errors live"
    assert entry["after"]["gates"]["quality"] is False
    reports = model_info.gate_reports(ctx, v)
    assert len(reports) == 1 and reports[0]["forced"] and not reports[0]["passed"]


def test_transitions_rollback_and_a_complete_audit_log(ctx: Context, small) -> None:
    v = small["versions"]
    lifecycle.promote(ctx, v["good"], "shadow", actor="ann", reason="try it")
    lifecycle.promote(ctx, v["good"], "canary", actor="ann", reason="10 percent", percent=10)
    described = model_info.describe(ctx, v["good"])
    assert described["state"] == "canary" and described["slots"] == ["canary"] and described["canary_percent"] == 10
    lifecycle.promote(ctx, v["good"], "active", actor="bob", reason="looks fine")
    back = lifecycle.rollback(ctx, actor="bob", reason="complaints")
    assert back == {"version": v["base"], "rolled_back": v["good"], "slots": back["slots"]}
    assert ctx.runtime.current().version == v["base"]
    with ctx.db.session() as s:
        states = {r.version: r.state for r in s.scalars(select(ModelVersion))}
    assert states[v["base"]] == "active" and states[v["good"]] == "retired"
    actions = [(e["action"], e["actor"], e["reason"]) for e in reversed(model_info.audit_log(ctx))]
    assert actions[-4:] == [
        ("model.shadow", "ann", "try it"),
        ("model.canary", "ann", "10 percent"),
        ("model.active", "bob", "looks fine"),
        ("model.rollback", "bob", "complaints"),
    ]
    last = model_info.audit_log(ctx)[0]
    assert last["before"]["active"]["version"] == v["good"] and last["after"]["active"]["version"] == v["base"]
    with pytest.raises(Conflict):
        lifecycle.rollback(ctx, actor="bob", reason="again", expected_active=v["good"])
    again = lifecycle.promote(ctx, v["good"], "active", actor="bob", reason="fixed the complaint")
    assert again["gate_report"]["passed"] and again["gate_report"]["reused_from"]  # same artefact, baseline, rules


def test_canary_share_is_within_tolerance_and_stable_per_ticket() -> None:
    ids = [f"zendesk:{i}" for i in range(10_000)]
    share = sum(canary_bucket(i) < 10 for i in ids) / len(ids)
    assert 0.09 <= share <= 0.11
    assert [canary_bucket(i) for i in ids[:100]] == [canary_bucket(i) for i in ids[:100]]


def test_canary_decides_its_share_and_every_decision_names_its_version(ctx: Context, small) -> None:
    v = small["versions"]
    lifecycle.promote(ctx, v["good"], "canary", actor="ops", percent=30)
    seen: dict[str, str] = {}
    for i in range(120):
        result = submit(ctx, "generic", {"id": f"c{i}", "body": "What is the exchange rate for euros?"})
        seen[f"c{i}"] = result.decision["model_version"]
    expected = {f"c{i}": v["good"] if canary_bucket(f"generic:c{i}") < 30 else v["base"] for i in range(120)}
    assert seen == expected and len(set(seen.values())) == 2
    again = submit(ctx, "generic", {"id": "c7", "body": "What is the exchange rate for euros? (edited)"})
    assert again.decision["model_version"] == expected["c7"]


class _Blocking:
    """A shadow model that waits until the test lets it go."""

    def __init__(self, model: Any) -> None:
        self.model, self.release = model, threading.Event()

    def predict(self, text: str) -> Any:
        assert self.release.wait(30)
        return self.model.predict(text)


def test_shadow_scores_off_the_critical_path(ctx: Context, small) -> None:
    v = small["versions"]
    lifecycle.promote(ctx, v["good"], "shadow", actor="ops")
    serving = ctx.runtime.serving()
    blocking = _Blocking(serving.shadow.model)
    ctx.runtime._serving = serving.__class__(
        **{**serving.__dict__, "shadow": serving.shadow.__class__(v["good"], blocking)}
    )
    result = submit(ctx, "generic", {"id": "s1", "body": "I lost my card yesterday"})
    assert result.created and result.decision["model_version"] == v["base"]  # answered while the shadow waits
    with ctx.db.session() as s:
        assert s.scalars(select(ShadowResult)).all() == []
    blocking.release.set()
    shadow.drain()
    stats = model_info.describe(ctx, v["good"])["live"]["shadow"]
    assert stats["scored"] == 1 and stats["agreement"] in (0.0, 1.0)


def _decisions(ctx: Context, version: str, n: int, confidence: float, low: bool) -> None:
    store_decisions(ctx.db, n, version=version, confidence=confidence, low_confidence=low)


def test_a_bad_version_is_rolled_back_automatically_with_the_figures(ctx: Context, small) -> None:
    v = small["versions"]
    _decisions(ctx, v["base"], 80, 0.95, low=False)
    lifecycle.promote(ctx, v["good"], "active", actor="ops", reason="ship it")
    _decisions(ctx, v["good"], 30, 0.95, low=False)
    assert model_watch.watch(ctx) == []  # fewer tickets than the guardrails need
    _decisions(ctx, v["good"], 40, 0.40, low=True)
    breaches = model_watch.watch(ctx)
    assert len(breaches) == 1 and breaches[0]["version"] == v["good"]
    assert ctx.runtime.current().version == v["base"]
    entry = model_info.audit_log(ctx)[0]
    assert entry["action"] == "model.auto_rollback" and entry["actor"] == "watch"
    assert "low-confidence share rose" in entry["reason"]
    assert entry["after"]["figures"]["version"]["decisions"] == 70
    assert model_watch.watch(ctx) == []  # acted once


class _Failing:
    """A canary whose model fails on every ticket."""

    def predict(self, text: str) -> Any:
        raise RuntimeError("feature mismatch")


def test_a_failing_canary_never_fails_a_ticket_and_is_retired_for_its_errors(ctx: Context, small) -> None:
    v = small["versions"]
    lifecycle.promote(ctx, v["good"], "canary", actor="ops", percent=50, reason="try half")
    serving = ctx.runtime.serving()
    ctx.runtime._serving = serving.__class__(
        **{**serving.__dict__, "canary": serving.canary.__class__(v["good"], _Failing())}
    )
    versions = {
        submit(ctx, "generic", {"id": f"f{i}", "body": "What is the rate for euros?"}).decision["model_version"]
        for i in range(120)
    }
    assert versions == {v["base"]}  # the active version decided the canary's share
    breaches = model_watch.watch(ctx)
    assert [b["slot"] for b in breaches] == ["canary"]
    assert "failed on" in breaches[0]["breaches"][0]
    assert model_info.describe(ctx, v["good"])["state"] == "retired"
    entry = model_info.audit_log(ctx)[0]
    assert entry["action"] == "model.auto_rollback" and entry["after"]["figures"]["version"]["errors"] > 40


def _agents_judge(ctx: Context, version: str, moved_share: float) -> None:
    """Outcomes for every decision of ``version``: solved, the given share moved by agents first."""
    from router.db.outcomes import Outcome

    with ctx.db.session() as s:
        rows = s.execute(
            select(Decision.id, Decision.ticket_id, Decision.queue, Decision.decided_at).where(
                Decision.model_version == version
            )
        ).all()
        for i, d in enumerate(rows):
            moved = i < round(moved_share * len(rows))
            s.add(
                Outcome(
                    decision_id=d.id,
                    ticket_id=d.ticket_id,
                    source="zendesk",
                    model_version=version,
                    intent="exchange_rate",
                    queue=d.queue,
                    decided_at=d.decided_at,
                    overridden=moved,
                    solved_at=d.decided_at,
                    final_queue="other" if moved else d.queue,
                    correct=not moved,
                    events=2,
                )
            )


def test_a_canary_agents_move_more_often_is_rolled_back_with_the_figures(ctx: Context, small) -> None:
    v = small["versions"]
    lifecycle.promote(ctx, v["good"], "canary", actor="ops", percent=20, reason="try a fifth")
    _decisions(ctx, v["base"], 60, 0.95, low=False)
    _decisions(ctx, v["good"], 60, 0.95, low=False)
    _agents_judge(ctx, v["base"], 0.05)
    _agents_judge(ctx, v["good"], 0.40)
    breaches = model_watch.watch(ctx)
    assert [b["slot"] for b in breaches] == ["canary"]
    assert any("agents moved its tickets" in b for b in breaches[0]["breaches"]), breaches
    assert model_info.describe(ctx, v["good"])["state"] == "retired"
    entry = model_info.audit_log(ctx)[0]
    assert entry["action"] == "model.auto_rollback"
    assert entry["after"]["figures"]["version"]["agent_override_rate"] == 0.4
    assert entry["after"]["figures"]["baseline"]["agent_override_rate"] == 0.05
