"""Outcomes (router.services.outcomes) from the helpdesk's events: what agents did with routed tickets, measured."""

from __future__ import annotations

from typing import Any

import pytest

from router.services import outcomes
from router.testing.helpdesk_standins import ZendeskStandin
from tests.delivery.conftest import post_zendesk, writeback_env, zendesk_event
from tests.delivery.helpers import drain
from tests.delivery.helpers import ticket as _ticket
from tests.delivery.helpers import viewer as _viewer

STOLEN = ("Card stolen", "Someone stole my card yesterday, please block it")
FX = ("Exchange rate", "What exchange rate will I get if I pay in euros with my card?")


def _event(zd: ZendeskStandin, tid: int, kind: str, **event: Any) -> dict[str, Any]:
    return zendesk_event(zd, tid, kind, **event)


def _routed(app, zd: ZendeskStandin, text: tuple[str, str]) -> int:  # type: ignore[no-untyped-def]
    tid = _ticket(zd, *text)
    assert post_zendesk(app.test_client(), zendesk_event(zd, tid)).status_code == 201
    drain(app)
    return tid


def _group(zd: ZendeskStandin, name: str) -> int:
    return next(g for g, n in zd.groups.items() if n == name)


def _solve(app, zd: ZendeskStandin, tid: int) -> None:  # type: ignore[no-untyped-def]
    zd.agent_update(tid, status="solved")
    resp = post_zendesk(app.test_client(), _event(zd, tid, "ticket.status_changed", current="SOLVED", previous="OPEN"))
    assert resp.status_code == 202


def _move(app, zd: ZendeskStandin, tid: int, group: str):  # type: ignore[no-untyped-def]
    gid = _group(zd, group)
    before = zd.tickets[tid]["group_id"]
    zd.agent_update(tid, group_id=gid)
    event = _event(zd, tid, "ticket.group_assignment_changed", current=str(gid), previous=str(before))
    return post_zendesk(app.test_client(), event), event


@pytest.fixture
def app(make_app, zendesk: ZendeskStandin, database_url: str):  # type: ignore[no-untyped-def]
    return make_app(writeback_env(zendesk), database_url)


def test_a_ticket_moved_by_an_agent_counts_as_overridden_once(app, zendesk: ZendeskStandin) -> None:  # type: ignore[no-untyped-def]
    tid = _routed(app, zendesk, STOLEN)
    # Zendesk reports the router's own write-back too: it is not an agent's change
    own = _event(zendesk, tid, "ticket.group_assignment_changed", current=str(zendesk.tickets[tid]["group_id"]))
    assert post_zendesk(app.test_client(), own).status_code == 202
    decision = app.test_client().get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).json["decisions"][0]
    assert decision["outcome"]["overridden"] is False and decision["outcome"]["current_queue"] == "fraud"
    resp, event = _move(app, zendesk, tid, "Cards")
    assert resp.status_code == 202
    for _ in range(3):  # Zendesk redelivers
        assert post_zendesk(app.test_client(), event).json["duplicate"] is True
    _solve(app, zendesk, tid)
    outcome = app.test_client().get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).json["decisions"][0]["outcome"]
    assert outcome["overridden"] is True and outcome["final_queue"] == "cards" and outcome["correct"] is False
    assert outcome["first_change_s"] is not None and outcome["first_change_s"] >= 0
    figures = outcomes.stats(app.extensions["router"])
    assert figures["overall"]["solved"] == 1 and figures["overall"]["overridden"] == 1


def test_the_accuracy_figures_match_a_hand_count(app, zendesk: ZendeskStandin) -> None:  # type: ignore[no-untyped-def]
    # five routed tickets: three solved where the router put them, one moved then solved, one still open
    left = [_routed(app, zendesk, STOLEN) for _ in range(2)] + [_routed(app, zendesk, FX)]
    moved = _routed(app, zendesk, FX)
    still_open = _routed(app, zendesk, STOLEN)
    for tid in left:
        _solve(app, zendesk, tid)
    _move(app, zendesk, moved, "Fees")
    _solve(app, zendesk, moved)
    _move(app, zendesk, still_open, "General")
    figures = outcomes.stats(app.extensions["router"])
    overall = figures["overall"]
    assert (overall["solved"], overall["correct"], overall["overridden"]) == (4, 3, 1)
    assert overall["accuracy"] == 0.75
    low, high = overall["ci95"]
    assert 0.3 < low < 0.75 < high < 1.0  # Wilson interval of 3/4
    assert 0.5 < overall["expected_accuracy"] <= 1.0
    assert figures["open"] == {"tickets": 1, "overridden": 1}
    by_queue = {q["queue"]: (q["solved"], q["correct"]) for q in figures["by_queue"]}
    assert by_queue == {"fraud": (2, 2), "fx": (2, 1)}
    assert [w["solved"] for w in figures["by_week"]] == [4]
    served = app.test_client().get("/v1/monitoring/outcomes", headers=_viewer(app))
    assert served.status_code == 200 and served.json["overall"]["accuracy"] == 0.75


SMALL_RULES = """
version: 1
default: {queue: general, priority: normal}
queues: {general: Everything else, fraud: Fraud, cards: Cards, refunds: Refunds}
routes:
  - {queue: fraud, priority: urgent, intents: [lost_or_stolen_card, compromised_card]}
  - {queue: cards, priority: normal, intents: [card_arrival, card_not_working, activate_my_card]}
  - {queue: refunds, priority: normal, intents: [request_refund]}
"""


def test_a_move_to_a_queue_one_intent_reaches_is_a_weak_intent_label(app, zendesk: ZendeskStandin) -> None:  # type: ignore[no-untyped-def]
    from tests.delivery.helpers import admin

    zendesk.add_group("Refunds")
    client = app.test_client()
    etag = client.get("/v1/rules", headers=admin(app)).headers["ETag"]
    saved = client.put(
        "/v1/rules", json={"content": SMALL_RULES, "reason": "a refunds desk"}, headers={**admin(app), "If-Match": etag}
    )
    assert saved.status_code == 200, saved.json
    app.extensions["router"].rules.invalidate()
    tid = _routed(app, zendesk, STOLEN)
    _move(app, zendesk, tid, "Refunds")
    outcome = client.get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).json["decisions"][0]["outcome"]
    assert outcome["current_queue"] == "refunds" and outcome["intent_label"] == "request_refund"
    other = _routed(app, zendesk, STOLEN)
    _move(app, zendesk, other, "Cards")  # a queue three intents reach: a queue label, no intent label
    outcome = client.get(f"/v1/tickets/zendesk/{other}", headers=_viewer(app)).json["decisions"][0]["outcome"]
    assert outcome["current_queue"] == "cards" and outcome["intent_label"] is None


def test_measured_accuracy_below_held_out_raises_an_alert(make_app, zendesk: ZendeskStandin) -> None:  # type: ignore[no-untyped-def]
    from router.monitoring import checks

    app = make_app(writeback_env(zendesk, ROUTER_OUTCOME_MIN="4"))
    ctx = app.extensions["router"]
    tickets = [_routed(app, zendesk, STOLEN) for _ in range(4)]
    assert checks.outcome_accuracy(ctx)["skipped"].startswith("0 solved")
    for tid in tickets[:3]:
        _move(app, zendesk, tid, "General")
    for tid in tickets:
        _solve(app, zendesk, tid)
    out = checks.outcome_accuracy(ctx)
    assert out["solved"] == 4 and out["accuracy"] == 0.25 and out["drop"] > 0.5
    [alert] = [
        a
        for a in app.test_client().get("/v1/monitoring/alerts", headers=_viewer(app)).json
        if a["key"].startswith("outcomes:")
    ]
    assert alert["active"] and "1 were solved in the router's queue" in alert["message"]


def test_agents_labels_reach_training_with_their_own_fingerprint(tmp_path, trained) -> None:  # type: ignore[no-untyped-def]
    import csv
    import json

    from click.testing import CliRunner

    from router.cli import main
    from router.db import Decision
    from router.db.outcomes import Outcome
    from router.ml.normalize import normalize_text
    from tests.conftest import make_env, prepare_home
    from tests.review.helpers import add_decision
    from tests.review.test_feedback import resolve_as, small_training_csv

    home = tmp_path / "home"
    ctx = prepare_home(home, trained)
    data = tmp_path / "small.csv"
    intents = small_training_csv(data)
    moved = "the agent put this one in the right place after all"
    torn = "two agents filed this same text in two places"
    reviewed = "a reviewer looked at this one too"

    def agent_label(external_id: str, text: str, intent: str) -> None:
        add_decision(ctx, external_id, text=text, intent=intents[5], reasons=(), source="zendesk")
        with ctx.db.session() as s:
            d = s.query(Decision).order_by(Decision.id.desc()).first()
            s.add(
                Outcome(
                    decision_id=d.id,
                    ticket_id=d.ticket_id,
                    source="zendesk",
                    model_version="v",
                    intent=d.intent,
                    queue=d.queue,
                    decided_at=d.decided_at,
                    overridden=True,
                    current_queue="q",
                    intent_label=intent,
                    events=1,
                )
            )

    agent_label("1", moved, intents[0])
    agent_label("2", torn, intents[1])
    agent_label("3", torn, intents[2])
    agent_label("4", reviewed, intents[3])
    resolve_as(ctx, add_decision(ctx, "r-1", text=reviewed, intent=intents[5]), "ann", intents[4])
    ctx.db.dispose()

    result = CliRunner().invoke(
        main,
        ["train", "--from-feedback", "--with-outcomes", "--data", str(data)],
        env=make_env(home),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert "outcome conflict" in result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["outcomes"]["rows"] == 1 and out["outcomes"]["conflict_count"] == 1
    card = json.loads((home / "models" / out["version"] / "card.json").read_text())
    assert card["outcomes"]["fingerprint"] == out["outcomes"]["fingerprint"] != card["feedback"]["fingerprint"]
    assert card["outcomes"]["source"] == "agent" and card["outcomes"]["skipped_reviewed"] == 1
    assert card["outcomes"]["label_counts"] == {intents[0]: 1}
    assert card["feedback"]["label_counts"] == {intents[4]: 1}  # the reviewer's label, not the agent's
    with (home / "models" / out["version"] / "holdout.csv").open() as fh:
        held_out = {r["text"].casefold() for r in csv.DictReader(fh)}
    assert normalize_text(moved).casefold() not in held_out
    assert CliRunner().invoke(main, ["train", "--with-outcomes"], env=make_env(home)).exit_code != 0


def test_freshdesk_updates_become_outcomes(make_app, zendesk: ZendeskStandin, freshdesk) -> None:  # type: ignore[no-untyped-def]
    import json

    from router.config import REPO_ROOT
    from tests.delivery.conftest import post_freshdesk

    app = make_app(writeback_env(zendesk, freshdesk))
    client = app.test_client()
    tid = freshdesk.add_ticket("Transfer missing", "My transfer to my brother has not arrived after three days")
    intake = {
        "freshdesk_webhook": {
            "ticket_id": str(tid),
            "ticket_subject": "Transfer missing",
            "ticket_description": "My transfer to my brother has not arrived after three days",
            "ticket_priority": "Low",
            "ticket_group_name": "",
        }
    }
    assert post_freshdesk(client, intake).status_code == 201
    drain(app)
    assert freshdesk.groups[freshdesk.tickets[tid]["group_id"]] == "Transfers"
    update = json.loads((REPO_ROOT / "fixtures" / "webhooks" / "freshdesk_ticket_updated_rendered.json").read_text())
    update["ticket"].update(id=str(tid), group="Transfers", status="Open")  # the router's own write-back
    assert post_freshdesk(client, update).status_code == 202
    update["ticket"].update(group="Card-Payments", status="Resolved")  # an agent moved and solved it
    resp = post_freshdesk(client, update)
    assert resp.status_code == 202 and post_freshdesk(client, update).json["duplicate"] is True
    outcome = client.get(f"/v1/tickets/freshdesk/{tid}", headers=_viewer(app)).json["decisions"][0]["outcome"]
    assert outcome["overridden"] is True and outcome["final_queue"] == "card_payments" and outcome["correct"] is False
    assert outcome["priority_changed"] is False  # "Medium" is the router's "normal"


def test_the_monitoring_and_ticket_pages_show_what_agents_did(app, zendesk: ZendeskStandin) -> None:  # type: ignore[no-untyped-def]
    from router.auth import create_token
    from tests.web.conftest import csrf_of

    tid = _routed(app, zendesk, STOLEN)
    _move(app, zendesk, tid, "Cards")
    _solve(app, zendesk, tid)
    kept = _routed(app, zendesk, STOLEN)
    _solve(app, zendesk, kept)
    client = app.test_client()
    page = client.get("/admin/sign-in")
    token = create_token(app.extensions["router"].db, "viewer", "vic")
    client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(page.text), "next": "/admin/"})
    monitoring = client.get("/admin/monitoring").text
    assert 'id="measured-accuracy">50.0 %' in monitoring and "2 solved tickets, 1 moved by agents" in monitoring
    ticket = client.get(f"/admin/tickets/zendesk/{tid}").text
    assert "moved by an agent" in ticket and "not the router&#39;s queue" in ticket
    assert "the router was right" in client.get(f"/admin/tickets/zendesk/{kept}").text
