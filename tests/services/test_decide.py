"""Every command that decides builds the decision the way the service does (rule functions and plugins)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from router.app import create_app
from router.auth import create_token
from router.cli import main
from router.config import REPO_ROOT
from router.testing.webhooks import body_bytes
from tests.conftest import make_env, prepare_home

#: Texts whose decisions use a rule function (`matches`), a plugin (legal_churn, sentiment) or neither.
TEXTS = [
    "I want to speak to a lawyer about fees",
    "Refund me now or I will file a chargeback",
    "Someone stole my card yesterday, please block it",
    "What exchange rate do you use for euros?",
    "This is the worst bank ever, my top up failed again and nobody helps",
    "I am cancelling my account, how do I close it?",
]
FIELDS = ("intent", "queue", "priority", "needs_review", "review_reasons", "tags")


@pytest.fixture
def service(tmp_path: Path, trained) -> Any:  # type: ignore[no-untyped-def]
    """The app with the shipped plugins loaded, its CLI environment, and the decisions it answered."""
    env_extra = {"ROUTER_PLUGIN_DIRS": str(REPO_ROOT / "plugins")}
    home = tmp_path / "home"
    ctx = prepare_home(home, trained, **env_extra)
    ctx.db.dispose()
    app = create_app({"TESTING": True}, settings=ctx.settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {create_token(ctx.db, 'ingest')}", "Content-Type": "application/json"}
    answered = []
    for i, text in enumerate(TEXTS, start=1):
        resp = client.post("/v1/tickets?explain=full", data=body_bytes({"id": str(i), "body": text}), headers=headers)
        assert resp.status_code == 201, resp.json
        answered.append(resp.json)
    yield make_env(home, **env_extra), answered
    app.extensions["router"].db.dispose()


def fields(decision: dict[str, Any]) -> dict[str, Any]:
    out = {k: decision[k] for k in FIELDS}
    out["confidence"] = round(decision["confidence"], 4)
    out["escalation"] = (decision.get("escalation") or {}).get("team")
    return out


def run(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_service_escalates_legal_language(service) -> None:  # type: ignore[no-untyped-def]
    _env, answered = service
    lawyer = answered[0]
    assert lawyer["priority"] == "urgent" and "high_stakes" in lawyer["review_reasons"]
    assert lawyer["escalation"]["team"] == "retention-legal"
    assert not [t for t in lawyer["explanation"]["rules"] if t.get("error")]


def test_predict_decides_each_row_as_the_service_does(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, answered = service
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows([["text"], *[[t] for t in TEXTS]])
    run(["predict", "--data", str(data), "--out", str(out)], env)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    for row, api in zip(rows, answered, strict=True):
        cli = {
            "intent": row["intent"],
            "queue": row["queue"],
            "priority": row["priority"],
            "needs_review": row["needs_review"] == "true",
            "review_reasons": row["review_reasons"].split(";") if row["review_reasons"] else [],
            "tags": row["tags"].split(";") if row["tags"] else [],
            "confidence": round(float(row["confidence"]), 4),
            "escalation": row["escalation"] or None,
        }
        assert cli == fields(api), row["text"]


def test_evaluate_counts_the_routing_the_service_gives(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, answered = service
    data = tmp_path / "labelled.csv"
    with data.open("w", newline="") as fh:
        rows = [[t, a["intent"]] for t, a in zip(TEXTS, answered, strict=True)]
        csv.writer(fh).writerows([["text", "category"], *rows])
    report = json.loads(run(["evaluate", "--data", str(data)], env))
    routing = report["routing"]
    assert routing["needs_review"] == sum(a["needs_review"] for a in answered)
    assert routing["escalated"] == sum(a["escalation"] is not None for a in answered)
    queues: dict[str, int] = {}
    for a in answered:
        queues[a["queue"]] = queues.get(a["queue"], 0) + 1
    assert routing["queues"] == queues


def test_a_rules_dry_run_starts_from_the_stored_decisions(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, answered = service
    # A draft that sends every ticket to one queue changes them all; "before" must be what the service answered.
    draft = (REPO_ROOT / "rules" / "default.yaml").read_text()
    draft_path = tmp_path / "draft.yaml"
    draft_path.write_text(_without_routes(draft))
    result = json.loads(run(["rules", "dry-run", str(draft_path)], env))
    assert result["replayed"] == len(TEXTS) and result["changed"] >= 1
    by_id = {a["ticket_id"]: a for a in answered}
    seen = 0
    for entry in result["by_rule"].values():
        for example in entry["examples"]:
            api = by_id[example["ticket"]["id"]]
            before = example["before"]
            assert before["queue"] == api["queue"] and before["priority"] == api["priority"]
            assert before["escalate"] == (api["escalation"] is not None)
            assert before["review_reasons"] == api["review_reasons"] and before["tags"] == api["tags"]
            seen += 1
    assert seen >= 1


def _without_routes(text: str) -> str:
    """The rule set with every intent route pointed at one queue."""
    import yaml

    data = yaml.safe_load(text)
    for route in data.get("routes", []):
        route["queue"] = data["default"]["queue"]
    return yaml.safe_dump(data, sort_keys=False)


def test_the_contract_harness_decides_as_the_service_does(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, answered = service
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    expected = {t: fields(a) for t, a in zip(TEXTS, answered, strict=True)}
    (contracts / "test_same.py").write_text(
        "import json\n"
        f"EXPECTED = json.loads({json.dumps(json.dumps(expected))})\n"
        "def test_same(router):\n"
        "    for text, want in EXPECTED.items():\n"
        "        d = router.decide(text)\n"
        "        got = {k: d.data[k] for k in " + repr(FIELDS) + "}\n"
        "        got['confidence'] = round(d.data['confidence'], 4)\n"
        "        got['escalation'] = (d.data.get('escalation') or {}).get('team')\n"
        "        assert got == want, text\n"
    )
    summary = json.loads(run(["rules", "test", "--contracts", str(contracts)], env).strip().splitlines()[-1])
    assert summary["ok"], summary["failures"]
    assert summary["passed"] >= 1


def test_a_low_confidence_reason_names_the_threshold(ctx) -> None:  # type: ignore[no-untyped-def]
    from router.services.decide import decision_for

    prediction = {
        "intent": "card_arrival",
        "confidence": 0.9988,
        "threshold": 0.99887,
        "alternatives": [{"intent": "card_arrival", "confidence": 0.9988}],
        "review_reasons": ["low_confidence"],
    }
    decision = decision_for(ctx, {"text": "where is my card", "requester": {}}, prediction, model_version="v")
    assert decision["explanation"]["threshold"] == 0.99887
    note = decision["explanation"]["review"]["low_confidence"]
    assert note == "confidence 99.88 % is below the threshold of card_arrival, 99.89 %"
    confident = {**prediction, "confidence": 0.45, "threshold": 0.40, "review_reasons": []}
    routed = decision_for(ctx, {"text": "where is my card", "requester": {}}, confident, model_version="v")
    assert "low_confidence" not in routed["explanation"].get("review", {})
    assert routed["explanation"]["threshold"] == 0.40
