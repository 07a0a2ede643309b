"""Decisions written back to the stand-in Zendesk and Freshdesk: what an agent would see there."""

from __future__ import annotations

import time

from router.testing.helpdesk_standins import FreshdeskStandin, ZendeskStandin
from tests.delivery.conftest import post_freshdesk, post_zendesk, writeback_env, zendesk_event
from tests.delivery.helpers import admin as _admin
from tests.delivery.helpers import drain, sign_in
from tests.delivery.helpers import ticket as _ticket
from tests.delivery.helpers import viewer as _viewer


def _customer_reply(zendesk: ZendeskStandin, tid: int, body: str, comment_id: str) -> dict:
    author = {"id": "1", "is_staff": False, "name": "Maria"}
    comment = {"author": author, "body": body, "id": comment_id, "is_public": True}
    return zendesk_event(zendesk, tid, "ticket.comment_added", comment=comment)


def test_a_zendesk_event_is_routed_in_zendesk(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "Someone took my wallet with my card, please block it", tags=["vip"])
    resp = post_zendesk(client, zendesk_event(zendesk, tid))
    assert resp.status_code == 201, resp.json
    assert resp.json["ticket_id"] == str(tid) and resp.json["queue"] == "fraud"
    drain(app)
    ticket = zendesk.tickets[tid]
    assert zendesk.groups[ticket["group_id"]] == "Fraud"
    assert ticket["priority"] == "urgent"
    assert "vip" in ticket["tags"] and "router" in ticket["tags"] and "queue_fraud" in ticket["tags"]
    notes = zendesk.notes(tid)
    assert len(notes) == 1 and "Routed to queue fraud" in notes[0]["body"]
    assert "lost_or_stolen_card" in notes[0]["body"] and f"decision {resp.json['decision_id']}" in notes[0]["body"]
    # the requester's e-mail was looked up (events carry only the id), so requester rules can work
    stored = client.get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).json
    assert stored["requester"]["email"] == "maria@example.com"


def test_a_redelivered_event_writes_nothing_twice(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen yesterday")
    event = zendesk_event(zendesk, tid)
    first = post_zendesk(client, event)
    again = post_zendesk(client, event)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["decision_id"] == first.json["decision_id"]
    drain(app)
    assert len(zendesk.updates(tid)) == 1 and len(zendesk.notes(tid)) == 1


def test_suggest_mode_adds_tags_and_a_note_but_reassigns_nothing(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk, mode="suggest"))
    tid = _ticket(zendesk, "Exchange rate", "What exchange rate do I get when paying in euros?")
    assert post_zendesk(app.test_client(), zendesk_event(zendesk, tid)).status_code == 201
    drain(app)
    ticket = zendesk.tickets[tid]
    assert ticket["group_id"] is None and ticket["priority"] is None
    assert "router" in ticket["tags"]
    assert "Suggested: queue fx" in zendesk.notes(tid)[0]["body"]


def test_an_agent_change_between_decision_and_delivery_is_not_overwritten(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    assert post_zendesk(app.test_client(), zendesk_event(zendesk, tid)).status_code == 201
    vip = zendesk.add_group("VIP desk")
    zendesk.agent_update(tid, group_id=vip, priority="high")
    drain(app)
    ticket = zendesk.tickets[tid]
    assert ticket["group_id"] == vip and ticket["priority"] == "high"
    assert "Not reassigned" in zendesk.notes(tid)[0]["body"]
    rows = app.test_client().get("/v1/deliveries", headers=_admin(app)).json["items"]
    assert rows[0]["status"] == "delivered" and rows[0]["outcome"] == "agent_changed"


def test_a_customer_reply_never_reassigns_a_ticket_an_agent_moved(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    drain(app)
    routed = zendesk.tickets[tid]["group_id"]
    other = zendesk.add_group("Second line")
    zendesk.agent_update(tid, group_id=other)
    reply = _customer_reply(zendesk, tid, "Also what is the exchange rate?", "77")
    resp = post_zendesk(client, reply)
    assert resp.status_code == 201 and resp.json["revision"] == 2
    drain(app)
    assert zendesk.tickets[tid]["group_id"] == other != routed
    assert post_zendesk(client, reply).status_code == 200  # redelivered comment: no third revision


def test_a_staff_comment_and_other_events_are_recorded_not_decided(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    staff = zendesk_event(
        zendesk,
        tid,
        "ticket.comment_added",
        comment={"author": {"id": "9", "is_staff": True, "name": "Alex"}, "body": "On it", "id": "78"},
    )
    assert post_zendesk(client, staff).status_code == 202
    moved = zendesk_event(zendesk, tid, "ticket.group_assignment_changed", current="5", previous="4")
    first = post_zendesk(client, moved)
    assert first.status_code == 202 and first.json["recorded"].endswith("group_assignment_changed")
    assert post_zendesk(client, moved).json["duplicate"] is True
    unknown = {**moved, "id": "x-1", "type": "zen:event-type:user.created"}
    resp = post_zendesk(client, unknown)
    assert resp.status_code == 200 and "ignored" in resp.json
    assert client.get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).status_code == 404


def test_429_is_retried_after_retry_after_and_then_delivered(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    zendesk.fail_next(429, headers={"Retry-After": "1"})
    started = time.monotonic()
    drain(app, rounds=40)
    assert time.monotonic() - started >= 0.9
    assert len(zendesk.notes(tid)) == 1 and zendesk.tickets[tid]["priority"] == "urgent"


def test_a_timeout_after_zendesk_applied_the_update_adds_no_second_note(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk, ROUTER_DELIVERY_TIMEOUT_S="0.5"))
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    zendesk.delay_next(1.5, only="PUT /api/v2/tickets")  # applied at once, answered after the client gave up
    drain(app, rounds=40)
    assert len(zendesk.updates(tid)) == 1 and len(zendesk.notes(tid)) == 1
    [row] = app.test_client().get("/v1/deliveries", headers=_admin(app)).json["items"]
    assert row["attempts"] == 2 and row["outcome"] == "already_delivered"
    assert row["result"]["wrote"]["priority"] == "urgent"  # what the lost answer had written is recorded


def test_a_timeout_after_freshdesk_took_the_note_posts_no_second_one(
    make_app, zendesk: ZendeskStandin, freshdesk: FreshdeskStandin
) -> None:
    app = make_app(writeback_env(zendesk, freshdesk, ROUTER_DELIVERY_TIMEOUT_S="0.5"))
    tid = freshdesk.add_ticket("Transfer missing", "My transfer to my brother has not arrived after three days")
    payload = {
        "freshdesk_webhook": {
            "ticket_id": tid,
            "ticket_subject": "Transfer missing",
            "ticket_description": "My transfer to my brother has not arrived",
        }
    }
    assert post_freshdesk(app.test_client(), payload).status_code == 201
    freshdesk.delay_next(1.5, only=f"POST /api/v2/tickets/{tid}/notes")
    drain(app, rounds=40)
    assert len(freshdesk.notes(tid)) == 1
    [row] = app.test_client().get("/v1/deliveries", headers=_admin(app)).json["items"]
    assert row["attempts"] == 2 and row["status"] == "delivered"


def test_a_dead_letter_is_shown_and_retried(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    zendesk.fail_next(401)
    drain(app)
    dead = client.get("/v1/deliveries?status=dead", headers=_admin(app)).json["items"]
    assert len(dead) == 1 and dead[0]["last_status"] == 401 and "401" in dead[0]["last_error"]
    assert zendesk.api_token not in str(dead)
    resp = client.post(f"/v1/deliveries/{dead[0]['id']}/retry", headers=_admin(app))
    assert resp.status_code == 200 and resp.json["retried"] == 1
    drain(app)
    assert len(zendesk.notes(tid)) == 1
    assert client.get("/v1/deliveries?status=dead", headers=_admin(app)).json["total"] == 0


def test_a_queue_without_a_group_is_a_permanent_failure(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    for gid, name in list(zendesk.groups.items()):
        if name == "Fraud":
            del zendesk.groups[gid]
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    drain(app)
    dead = app.test_client().get("/v1/deliveries?status=dead", headers=_admin(app)).json["items"]
    assert "no group 'fraud'" in dead[0]["last_error"]


def test_freshdesk_ticket_is_routed_with_merged_tags_and_a_private_note(
    make_app, zendesk: ZendeskStandin, freshdesk: FreshdeskStandin
) -> None:
    app = make_app(writeback_env(zendesk, freshdesk))
    tid = freshdesk.add_ticket(
        "Transfer not arrived", "I sent money three days ago and it has not arrived", tags=["from-email"]
    )
    payload = {
        "freshdesk_webhook": {
            "ticket_id": tid,
            "ticket_subject": "Transfer not arrived",
            "ticket_description": "I sent money three days ago and it has not arrived",
            "ticket_priority": "Low",
            "ticket_tags": "from-email",
        }
    }
    resp = post_freshdesk(app.test_client(), payload)
    assert resp.status_code == 201 and resp.json["queue"] == "transfers"
    drain(app)
    ticket = freshdesk.tickets[tid]
    assert freshdesk.groups[ticket["group_id"]] == "Transfers" and ticket["priority"] == 2
    assert "from-email" in ticket["tags"] and "queue_transfers" in ticket["tags"]
    notes = freshdesk.notes(tid)
    assert len(notes) == 1 and notes[0]["private"] is True and "Routed to queue transfers" in notes[0]["body"]


def test_the_ticket_shows_what_was_written_back(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    drain(app)
    decision = client.get(f"/v1/tickets/zendesk/{tid}", headers=_viewer(app)).json["decisions"][0]
    [sent] = decision["deliveries"]
    assert sent["status"] == "delivered" and sent["outcome"] == "routed" and sent["connector"] == "zendesk"
    assert sent["result"]["wrote"]["priority"] == "urgent"


def test_deliveries_from_the_command_line(make_app, zendesk: ZendeskStandin) -> None:
    from click.testing import CliRunner

    from router.cli import main

    app = make_app(writeback_env(zendesk))
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    zendesk.fail_next(403)
    drain(app)
    env = {"ROUTER_HOME": str(app.extensions["router"].settings.home)}
    runner = CliRunner()
    listed = runner.invoke(main, ["deliveries", "list", "--status", "dead"], env=env)
    assert listed.exit_code == 0 and "dead" in listed.output and "403" in listed.output
    assert runner.invoke(main, ["deliveries", "retry"], env=env).exit_code != 0
    retried = runner.invoke(main, ["deliveries", "retry", "--all"], env=env)
    assert retried.exit_code == 0 and '"retried": 1' in retried.output
    drain(app)
    assert len(zendesk.notes(tid)) == 1


def _corrected_by_ann(app, zendesk: ZendeskStandin) -> int:  # type: ignore[no-untyped-def]
    """A Zendesk ticket the router sent to cards, corrected by reviewer ann to fraud and delivered."""
    from router.review import claim, resolve
    from tests.review.helpers import add_decision

    ctx = app.extensions["router"]
    tid = _ticket(zendesk, "Card question", "Something odd happened with my card")
    item = add_decision(ctx, str(tid), intent="card_arrival", queue="cards", source="zendesk")
    assert item is not None
    claim(ctx, item, "ann")
    resolve(ctx, item, "ann", "compromised_card", "fraud", "the customer says someone else used it")
    drain(app)
    return tid


def test_a_reviewers_correction_moves_the_ticket_with_a_note_saying_who_and_why(
    make_app, zendesk: ZendeskStandin
) -> None:
    app = make_app(writeback_env(zendesk))
    tid = _corrected_by_ann(app, zendesk)
    ticket = zendesk.tickets[tid]
    assert zendesk.groups[ticket["group_id"]] == "Fraud"
    [note] = zendesk.notes(tid)
    assert "Corrected by reviewer ann" in note["body"] and "someone else used it" in note["body"]


def test_a_customer_reply_keeps_a_ticket_where_a_reviewer_routed_it(make_app, zendesk: ZendeskStandin) -> None:
    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _corrected_by_ann(app, zendesk)
    fraud = zendesk.tickets[tid]["group_id"]
    assert zendesk.groups[fraud] == "Fraud"
    reply = _customer_reply(zendesk, tid, "What exchange rate do I get when I pay in euros abroad?", "91")
    resp = post_zendesk(client, reply)
    assert resp.status_code == 201 and resp.json["revision"] == 2
    assert resp.json["queue"] != "fraud"  # the router reads the reply elsewhere ...
    drain(app)
    ticket = zendesk.tickets[tid]
    assert ticket["group_id"] == fraud  # ... and the ticket stays where the reviewer sent it
    assert "queue_fraud" in ticket["tags"] and f"queue_{resp.json['queue']}" not in ticket["tags"]
    latest = zendesk.notes(tid)[-1]["body"]
    assert "Kept where reviewer ann routed it: compromised_card" in latest
    assert f"The router read this revision as {resp.json['intent']}" in latest


def test_a_delivery_backlog_raises_an_alert_and_shows_in_metrics(make_app, zendesk: ZendeskStandin) -> None:
    from router.monitoring import checks

    app = make_app(writeback_env(zendesk, ROUTER_ALERT_DELIVERY_LAG_S="0.5"))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    time.sleep(0.7)  # Zendesk is unreachable for longer than the limit: nothing delivered yet
    out = checks.delivery_lag(app.extensions["router"])
    assert out["pending"] == 1 and out["oldest_age_s"] > 0.5
    alerts = client.get("/v1/monitoring/alerts", headers=_viewer(app)).json
    assert any(a["key"] == "delivery.lag" and a["active"] for a in alerts), alerts
    text = client.get("/metrics").get_data(as_text=True)
    assert "router_deliveries_pending 1" in text
    drain(app)
    assert "router_deliveries_pending 0" in client.get("/metrics").get_data(as_text=True)
    assert "router_deliveries_total" in client.get("/metrics").get_data(as_text=True)


def _save_rules(app, text: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    current = client.get("/v1/rules", headers=_admin(app))
    return client.put(
        "/v1/rules",
        json={"content": text, "reason": "map queues to groups"},
        headers={**_admin(app), "If-Match": current.headers["ETag"]},
    )


def test_a_rule_set_whose_queue_has_no_group_is_refused_naming_the_queue(make_app, zendesk: ZendeskStandin) -> None:
    from router.config import REPO_ROOT

    app = make_app(writeback_env(zendesk))
    base = (REPO_ROOT / "rules" / "default.yaml").read_text()
    for gid, name in list(zendesk.groups.items()):
        if name == "Fx":
            del zendesk.groups[gid]
    refused = _save_rules(app, base)
    assert refused.status_code == 422
    assert any("queue 'fx' has no group" in m for m in refused.json["errors"]["queues.fx"]), refused.json
    desk = zendesk.add_group("Foreign Exchange Desk")
    mapped = _save_rules(app, base + "\nhelpdesk_groups:\n  zendesk:\n    fx: Foreign Exchange Desk\n")
    assert mapped.status_code == 200, mapped.json
    tid = _ticket(zendesk, "Exchange rate", "What exchange rate do I get when I pay in euros?")
    post_zendesk(app.test_client(), zendesk_event(zendesk, tid))
    drain(app)
    assert zendesk.tickets[tid]["group_id"] == desk


def test_the_deliveries_page_lists_dead_letters_and_retries_them(make_app, zendesk: ZendeskStandin) -> None:
    from tests.web.conftest import csrf_of

    app = make_app(writeback_env(zendesk))
    client = app.test_client()
    tid = _ticket(zendesk, "Card stolen", "My card was stolen, block it")
    post_zendesk(client, zendesk_event(zendesk, tid))
    zendesk.fail_next(404)
    drain(app)
    sign_in(client, app)
    listed = client.get("/admin/deliveries")
    assert listed.status_code == 200 and f"zendesk/{tid}" in listed.text and "HTTP 404" in listed.text
    resp = client.post("/admin/deliveries/retry", data={"id": "all", "csrf_token": csrf_of(listed.text)})
    assert resp.status_code == 302
    assert "1 delivery(ies) will be sent again" in client.get("/admin/deliveries").text
    drain(app)
    assert len(zendesk.notes(tid)) == 1
    assert "No dead deliveries" in client.get("/admin/deliveries").text
    beyond = client.post("/admin/deliveries/retry", data={"id": str(2**31), "csrf_token": csrf_of(listed.text)})
    assert beyond.status_code == 302 and f"no delivery {2**31}" in client.get("/admin/deliveries").text
