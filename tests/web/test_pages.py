"""The admin pages through Flask's test client: sign-in, roles, CSRF, and each page rendering."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from router import review
from router.auth import create_token
from router.services import rules as rules_service
from router.services.intake import submit
from tests.web.conftest import csrf_of

PAGES = ["/admin/rules", "/admin/models", "/admin/monitoring", "/admin/tickets?q=card"]


def active_rules(ctx: Any) -> str:
    return rules_service.active_text(ctx.db, ctx.file_ruleset_text())[1]


def session_payload(client: Any) -> dict[str, Any]:
    cookie = client.get_cookie("session")
    assert cookie is not None
    data = cookie.value.split(".")[0] if not cookie.value.startswith(".") else cookie.value[1:].split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return json.loads(zlib.decompress(raw) if cookie.value.startswith(".") else raw)


def test_pages_send_strangers_to_sign_in(client) -> None:
    for path in ["/admin/", "/admin/review", *PAGES]:
        resp = client.get(path)
        assert resp.status_code == 302 and "/admin/sign-in" in resp.headers["Location"], path
    assert client.post("/admin/api/review/next", headers={"Accept": "application/json"}).status_code in (400, 401)


def test_sign_in_keeps_name_and_role_in_an_httponly_cookie_never_the_token(client, ctx) -> None:
    token = create_token(ctx.db, "reviewer", "ann")
    form = client.get("/admin/sign-in?next=/admin/rules")
    resp = client.post(
        "/admin/sign-in", data={"token": token, "csrf_token": csrf_of(form.text), "next": "/admin/rules"}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/rules"
    cookie_header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header
    assert token not in cookie_header
    stored = session_payload(client)
    assert stored["user"] == {"name": "ann", "role": "reviewer"} and token not in json.dumps(stored)
    page = client.get("/admin/rules")
    assert page.status_code == 200 and "ann" in page.text and page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    out = client.post("/admin/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 302
    assert client.get("/admin/rules").status_code == 302


@pytest.mark.parametrize(
    ("token_role", "status", "words"),
    [("bogus", 401, "unknown or revoked"), ("ingest", 403, "Ingest tokens may only post tickets")],
    ids=["unknown-token", "ingest-token"],
)
def test_sign_in_refuses_bad_tokens(client, ctx, token_role: str, status: int, words: str) -> None:
    token = "tr_nothing" if token_role == "bogus" else create_token(ctx.db, token_role)
    form = client.get("/admin/sign-in")
    resp = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(form.text)})
    assert resp.status_code == status and words in resp.text
    assert client.get("/admin/rules").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\nSet-Cookie: x=1",
        "/\\evil.example/",
        "/ /evil.example/",
        "https://evil.example/",
        "/\u2028/evil.example/",
    ],
    ids=["scheme-relative", "tab", "newline", "header-injection", "backslash", "space", "absolute", "u2028"],
)
def test_a_next_link_to_another_site_is_ignored(client, ctx, target: str) -> None:
    form = client.get("/admin/sign-in", query_string={"next": target})
    assert form.status_code == 200 and "evil.example" not in form.text
    token = create_token(ctx.db, "viewer")
    resp = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(form.text), "next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_a_local_next_link_with_a_query_is_followed(client, ctx) -> None:
    form = client.get("/admin/sign-in")
    token = create_token(ctx.db, "viewer")
    target = "/admin/tickets?q=card%20stolen&page=2"
    resp = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_of(form.text), "next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == target


def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(client, ctx, signed_in) -> None:
    csrf = signed_in("admin")
    before = active_rules(ctx)
    content = ctx.file_ruleset_text().replace("Everything else", "Everything else, really")
    for data in [
        {"action": "save", "content": content, "etag": before, "reason": "no token"},
        {"action": "save", "content": content, "etag": before, "reason": "bad token", "csrf_token": "x" + csrf},
    ]:
        resp = client.post("/admin/rules", data=data)
        assert resp.status_code == 400 and "nothing was changed" in resp.text
    assert active_rules(ctx) == before
    refused = client.post("/admin/api/review/next", json={}, headers={"X-CSRF-Token": "wrong"})
    assert refused.status_code == 400 and "CSRF" in refused.json["message"]
    no_form = client.post("/admin/sign-in", data={"token": create_token(ctx.db, "admin")})
    assert no_form.status_code == 400


def test_a_viewer_reads_but_every_write_is_refused_with_a_clear_message(client, ctx, signed_in) -> None:
    csrf = signed_in("viewer", "vic")
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    refused = client.get("/admin/review")
    assert refused.status_code == 403 and "needs the reviewer role" in refused.text
    before = active_rules(ctx)
    content = ctx.file_ruleset_text().replace("Everything else", "Everything else, really")
    writes = [
        ("/admin/rules", {"action": "save", "content": content, "etag": before, "reason": "try"}, "save rules"),
        ("/admin/rules/rollback", {"reason": "try"}, "roll back rules"),
        ("/admin/models/rollback", {"reason": "try"}, "roll back a model"),
        ("/admin/models/v1/activate", {"reason": "try"}, "activate a model"),
    ]
    for path, data, action in writes:
        resp = client.post(path, data={**data, "csrf_token": csrf})
        assert resp.status_code == 403, path
        assert f"You cannot {action}: it needs the admin role" in resp.text and "Nothing was changed" in resp.text
    assert active_rules(ctx) == before
    # validating and dry-running a draft only read: a viewer may
    assert (
        client.post("/admin/rules", data={"action": "validate", "content": content, "csrf_token": csrf}).status_code
        == 200
    )


def test_review_item_ids_beyond_the_column_are_404(client, signed_in) -> None:
    headers = {"X-CSRF-Token": signed_in("reviewer", "ann")}
    for action in ("open", "resolve", "release"):
        resp = client.post(f"/admin/api/review/{2**63}/{action}", json={"intent": "x", "queue": "y"}, headers=headers)
        assert resp.status_code == 404, (action, resp.status_code)


def test_a_reviewer_works_the_queue_but_cannot_change_models(client, ctx, signed_in) -> None:
    csrf = signed_in("reviewer", "ann")
    assert client.post("/admin/models/rollback", data={"reason": "x", "csrf_token": csrf}).status_code == 403
    submit(ctx, "generic", {"id": "W-1", "body": "Refund me now or I will file a chargeback"})
    page = client.get("/admin/review")
    assert page.status_code == 200 and "generic/W-1" in page.text
    headers = {"X-CSRF-Token": csrf}
    shown = client.post("/admin/api/review/next", json={}, headers=headers)
    assert shown.status_code == 200 and shown.json["item_id"]
    item_id = shown.json["item_id"]
    assert "chargeback" in shown.json["html"] and 'class="toward"' in shown.json["html"]
    assert review.get_item(ctx, item_id)["claimed_by"] is None  # shown, not claimed
    assert shown.json["figures"] == {"open": 1, "claimed": 0, "resolved": 0}
    claimed = client.post(f"/admin/api/review/{item_id}/claim", headers=headers)
    assert claimed.status_code == 200 and claimed.json["figures"]["claimed"] == 1
    assert review.get_item(ctx, item_id)["claimed_by"] == "ann"
    unknown = client.post(
        f"/admin/api/review/{item_id}/resolve", json={"intent": "nope", "queue": "x"}, headers=headers
    )
    assert unknown.status_code == 422 and "unknown intent or queue" in unknown.json["message"]
    done = client.post(
        f"/admin/api/review/{item_id}/resolve",
        json={"intent": "request_refund", "queue": "card_payments"},
        headers=headers,
    )
    assert done.status_code == 200 and done.json["status"] == "resolved"
    assert done.json["figures"] == {"open": 0, "claimed": 0, "resolved": 1}
    again = client.post(
        f"/admin/api/review/{item_id}/resolve",
        json={"intent": "request_refund", "queue": "card_payments"},
        headers=headers,
    )
    assert again.status_code == 409 and "already resolved by ann" in again.json["message"]
    empty = client.post("/admin/api/review/next", json={}, headers=headers)
    assert empty.json["item_id"] is None and "Nothing more to review" in empty.json["html"]


def test_rules_validate_shows_lines_and_a_stale_save_is_a_conflict(client, ctx, signed_in) -> None:
    csrf = signed_in("admin")
    etag = active_rules(ctx)
    broken = ctx.file_ruleset_text().replace("  - queue: fees\n", "  - queue: feez\n", 1)
    line = broken.splitlines().index("  - queue: feez") + 1
    resp = client.post("/admin/rules", data={"action": "validate", "content": broken, "etag": etag, "csrf_token": csrf})
    assert resp.status_code == 422
    assert f'data-goto-line="{line}"' in resp.text and "unknown queue &#39;feez&#39;" in resp.text
    assert f'data-bad-line="{line}"' in resp.text

    fixed = ctx.file_ruleset_text().replace("Everything else", "Everything else, really")
    saved = client.post(
        "/admin/rules", data={"action": "save", "content": fixed, "etag": etag, "reason": "wording", "csrf_token": csrf}
    )
    assert saved.status_code == 302 and active_rules(ctx) != etag
    stale = client.post(
        "/admin/rules",
        data={"action": "save", "content": fixed + "\n", "etag": etag, "reason": "late", "csrf_token": csrf},
    )
    assert stale.status_code == 409 and "someone changed the rules" in stale.text
    page = client.get("/admin/rules")
    assert "wording" in page.text and "Roll back to this version" not in page.text  # only one saved version
    dry = client.post("/admin/rules", data={"action": "dry_run", "content": fixed, "etag": etag, "csrf_token": csrf})
    assert dry.status_code == 200 and "decisions would change" in dry.text


def test_every_page_renders_for_an_admin(client, ctx, signed_in) -> None:
    signed_in("admin")
    submit(ctx, "generic", {"id": "T-7", "subject": "Card", "body": "Where is my new card? It has not arrived"})
    for path in ["/admin/review", *PAGES, "/admin/tickets?q=T-7", "/admin/tickets/generic/T-7"]:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text[:500])
    found = client.get("/admin/tickets?q=arrived")
    assert "generic/T-7" in found.text
    detail = client.get("/admin/tickets/generic/T-7")
    assert "card_arrival" in detail.text and "rs-" in detail.text
    assert client.get("/admin/tickets/generic/missing").status_code == 404
    monitoring = client.get("/admin/monitoring")
    assert "<svg" in monitoring.text and "Intent mix" in monitoring.text


def test_a_gate_failure_says_which_gate_and_why(client, ctx, signed_in, monkeypatch) -> None:
    from router.services import lifecycle

    report = {
        "version": "v-new",
        "compared_with": "v-old",
        "passed": False,
        "gates": [
            {"name": "smoke", "passed": True, "summary": "decided 12 smoke tickets"},
            {"name": "accuracy", "passed": False, "summary": "accuracy 0.81 is 0.10 below the active model's 0.91"},
        ],
    }

    def failing(*args: Any, **kwargs: Any) -> None:
        raise lifecycle.GateFailed("model v-new did not pass the accuracy gate(s); it stays candidate", errors=report)

    monkeypatch.setattr(lifecycle, "promote", failing)
    csrf = signed_in("admin")
    resp = client.post("/admin/models/v-new/activate", data={"reason": "try it", "csrf_token": csrf})
    assert resp.status_code == 409
    assert "<strong>accuracy</strong> gate failed: accuracy 0.81 is 0.10 below" in resp.text
    assert "smoke</strong> gate failed" not in resp.text and "Nothing was changed" in resp.text
    no_reason = client.post(
        "/admin/models/v-new/activate", data={"reason": " ", "csrf_token": csrf}, follow_redirects=True
    )
    assert "write a reason" in no_reason.text


def test_monitoring_says_what_failed_instead_of_failing(client, ctx, signed_in, monkeypatch) -> None:
    from router.monitoring import service

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("drift table unreadable")

    monkeypatch.setattr(service, "history", broken)
    signed_in("viewer")
    submit(ctx, "generic", {"id": "M-1", "body": "Where is my new card? It has not arrived"})
    page = client.get("/admin/monitoring")
    assert page.status_code == 200
    assert "Drift data is not available: could not be computed: drift table unreadable" in page.text
    assert "Confidence histogram" in page.text and "shown to reviewers and admins" in page.text


def _copy_of_session(client: Any, app: Any) -> Any:
    """A second browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def test_a_copied_session_cookie_stops_working_at_sign_out(client, app, signed_in) -> None:
    csrf = signed_in("admin", "ada")
    copy = _copy_of_session(client, app)
    assert copy.get("/admin/rules").status_code == 200
    assert client.post("/admin/sign-out", data={"csrf_token": csrf}).status_code == 302
    refused = copy.get("/admin/rules")
    assert refused.status_code == 302 and "/admin/sign-in" in refused.headers["Location"]


def test_revoking_a_token_ends_its_sessions(client, app, ctx, signed_in) -> None:
    from router.auth import revoke_tokens

    signed_in("reviewer", "rita")
    assert client.get("/admin/review").status_code == 200
    [revoked] = revoke_tokens(ctx.db, "rita")
    assert revoked["sessions_ended"] == 1
    refused = client.get("/admin/review")
    assert refused.status_code == 302 and "/admin/sign-in" in refused.headers["Location"]


def test_the_ticket_page_shows_a_reviewers_correction(client, ctx, signed_in) -> None:
    from router.review import claim, resolve
    from router.services.intake import ticket_with_decisions

    decided = submit(ctx, "generic", {"id": "RV-1", "body": "I will sue you if my card does not come"}).decision
    assert decided["needs_review"]
    item_id = ticket_with_decisions(ctx, "generic", "RV-1")["decisions"][0]["review"]["item_id"]
    corrected = "card_arrival" if decided["intent"] != "card_arrival" else "card_delivery_estimate"
    claim(ctx, item_id, "rita")
    resolve(ctx, item_id, "rita", corrected, "cards", "a late card")
    signed_in("viewer", "vic")
    page = client.get("/admin/tickets/generic/RV-1").text
    assert f"reviewed: <strong>{corrected}</strong> / cards" in page
    assert "rita: " in page and "a late card" in page


def test_a_low_confidence_reason_shows_the_threshold_beside_the_confidence(client, ctx, signed_in) -> None:
    decided = submit(ctx, "generic", {"id": "LC-1", "body": "my card"}).decision
    assert "low_confidence" in decided["review_reasons"]
    headers = {"X-CSRF-Token": signed_in("reviewer", "ann")}
    shown = client.post("/admin/api/review/next", json={}, headers=headers).json["html"]
    assert "this intent's threshold" in shown.split("Model says")[1]
    ticket_page = client.get("/admin/tickets/generic/LC-1").text
    note = decided["explanation"]["review"]["low_confidence"]
    assert "threshold" in note or "needed" in note
    assert note in shown and note in ticket_page


def test_the_tickets_page_lists_the_latest_tickets_before_any_search(client, ctx, signed_in) -> None:
    signed_in("viewer", "vic")
    assert "No tickets yet" in client.get("/admin/tickets").text
    for i in range(3):
        submit(ctx, "generic", {"id": f"LT-{i}", "body": f"My card number {i} has not arrived"})
    page = client.get("/admin/tickets").text
    assert "Latest tickets" in page
    positions = [page.index(f"generic/LT-{i}") for i in (2, 1, 0)]
    assert positions == sorted(positions)  # newest first


def test_counts_of_one_read_as_one(client, ctx, signed_in) -> None:
    from router.web import plural

    assert (plural(1, "decision"), plural(2, "group"), plural(0, "ticket")) == ("1 decision", "2 groups", "0 tickets")
    submit(ctx, "generic", {"id": "ONE-1", "body": "What exchange rate do you use for euros?"})
    signed_in("admin", "ada")
    for path in ("/admin/monitoring", "/admin/models"):
        page = client.get(path).text
        assert "1 decision" in page.replace("<strong>", "").replace("</strong>", ""), path
        assert "1 decisions" not in page.replace("<strong>", "").replace("</strong>", ""), path


def test_the_sign_in_error_has_no_markdown(client) -> None:
    form = client.get("/admin/sign-in")
    resp = client.post("/admin/sign-in", data={"token": "tr_nope", "csrf_token": csrf_of(form.text), "next": "/admin/"})
    assert resp.status_code == 401 and "router tokens create" in resp.text and "`" not in resp.text
