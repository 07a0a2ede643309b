"""The admin pages in headless Chromium against a real server: what an admin or reviewer would do."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from router import review
from router.registry import versions
from router.services import lifecycle, model_info
from router.services import rules as rules_service
from router.services.intake import submit
from router.testing.models import register_copy
from tests.web.conftest import LiveServer, sign_in_browser

pytestmark = pytest.mark.browser

VIP_RULE = """
  - id: vip-words
    description: Tickets that mention VIP status are tagged
    when:
      - ticket.text contains "vip"
    then:
      tags: [vip]
    stop: false
"""


def accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_sign_in_with_a_token(page, live: LiveServer) -> None:
    page.goto(live.url + "/admin/models")
    assert "/admin/sign-in" in page.url
    page.fill("#token", "tr_not-a-token")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text("#sign-in-error")
    page.fill("#token", live.token("admin", "ada"))
    page.click("button[type=submit]")
    page.wait_for_selector("#active-model")
    assert page.url.endswith("/admin/models") and page.inner_text("#who") == "ada"
    page.click("text=Sign out")
    page.wait_for_selector("#token")
    page.goto(live.url + "/admin/models")
    assert "/admin/sign-in" in page.url


def test_resolve_review_items_with_the_keyboard(page, live: LiveServer) -> None:
    for i, body in enumerate(
        ["Refund me now or I will file a chargeback", "I will sue you, my card was charged twice"]
    ):
        assert submit(live.ctx, "generic", {"id": f"K-{i}", "body": body}).decision["needs_review"]
    sign_in_browser(page, live, "reviewer", "rita", "/admin/review")
    shown = page.wait_for_selector("#review-panel .review-item")
    first = shown.get_attribute("data-item")
    model_intent, model_queue = shown.get_attribute("data-intent"), shown.get_attribute("data-queue")
    assert page.locator("#ticket-text mark.toward").count() >= 1  # the words that decided it
    assert page.locator("#review-panel .trace li").count() >= 1  # the rule trace
    assert "confirm the model's intent and queue" in page.inner_text(".shortcuts")
    assert review.get_item(live.ctx, int(first))["claimed_by"] is None  # showing it claims nothing

    page.keyboard.press("c")
    page.wait_for_selector(f'#review-panel .review-item:not([data-item="{first}"])')
    assert "confirmed as" in page.inner_text("#review-status")
    # the figures follow what was done on the page
    counts = review.counts(live.ctx)
    assert (counts["open"], counts["resolved"]) == (1, 1)
    assert page.inner_text("#open-count") == "1" and page.inner_text("#resolved-count") == "1"
    second = page.get_attribute("#review-panel .review-item", "data-item")
    alternative = page.get_attribute('.alternatives li[data-key="2"]', "data-intent")
    page.keyboard.press("2")
    page.keyboard.press("s")
    page.wait_for_selector("#review-empty")
    assert "corrected to" in page.inner_text("#review-status")

    labels = {i: review.get_item(live.ctx, int(i))["labels"] for i in (first, second)}
    assert [(x["reviewer"], x["intent"], x["queue"]) for x in labels[first]] == [("rita", model_intent, model_queue)]
    assert labels[second][0]["intent"] == alternative and labels[second][0]["reviewer"] == "rita"
    assert page.url.endswith("/admin/review")  # never left the page


def test_edit_a_rule_with_an_error_then_fix_and_save_it(page, live: LiveServer) -> None:
    before = rules_service.active_text(live.ctx.db, live.ctx.file_ruleset_text())[1]
    sign_in_browser(page, live, "admin", "ada", "/admin/rules")
    accept_dialogs(page)
    draft = page.input_value("#rules-content").rstrip("\n") + "\n" + VIP_RULE
    bad_line = draft.splitlines().index('      - ticket.text contains "vip"') + 1
    page.fill("#rules-content", draft)
    page.click("#validate-button")
    problem = page.wait_for_selector("#problems li")
    assert problem.get_attribute("data-line") == str(bad_line)
    assert f"line {bad_line}" in problem.inner_text() and "invalid syntax" in problem.inner_text()
    assert page.get_attribute(f'#rules-gutter [data-bad-line="{bad_line}"]', "title")  # the line is marked
    assert page.input_value("#rules-content").rstrip("\n") == draft.rstrip("\n")  # the draft is kept

    page.fill(
        "#rules-content",
        page.input_value("#rules-content").replace('ticket.text contains "vip"', 'ticket.requester.tier == "vip"'),
    )
    page.click("#validate-button")
    assert "The draft is valid" in page.inner_text("#rules-outcome")
    page.fill("#save-reason", "tag VIP tickets")
    page.click("#save-button")
    page.wait_for_selector(".flash.ok")
    assert "Saved rule set" in page.inner_text(".flash.ok")
    after = rules_service.active_text(live.ctx.db, live.ctx.file_ruleset_text())
    assert after[1] != before and "vip-words" in after[0]
    assert page.inner_text("#active-version") == after[1]
    assert "tag VIP tickets" in page.inner_text("#versions")


def test_roll_back_a_model(page, live: LiveServer) -> None:
    old = versions.active_version(live.ctx.db)
    assert old is not None
    new = register_copy(live.ctx, old)
    lifecycle.activate_ungated(live.ctx.db, new, actor="test", reason="a newer model")
    sign_in_browser(page, live, "admin", "ada", "/admin/models")
    assert page.inner_text("#active-model") == new
    accept_dialogs(page)
    page.fill("#model-rollback-reason", "the new model routes worse")
    page.click("#model-rollback")
    page.wait_for_selector(".flash.ok")
    assert f"{old} is active again" in page.inner_text(".flash.ok")
    assert page.inner_text("#active-model") == old
    assert versions.active_version(live.ctx.db) == old
    entry = model_info.audit_log(live.ctx)[0]
    assert (entry["action"], entry["actor"], entry["reason"]) == ("model.rollback", "ada", "the new model routes worse")


def test_a_viewer_cannot_save_rules(page, live: LiveServer) -> None:
    before = rules_service.active_text(live.ctx.db, live.ctx.file_ruleset_text())[1]
    sign_in_browser(page, live, "viewer", "vic", "/admin/rules")
    assert "(admin only)" in page.inner_text("#save-button")
    accept_dialogs(page)
    page.fill("#rules-content", page.input_value("#rules-content").replace("Everything else", "Anything else"))
    page.fill("#save-reason", "I am only a viewer")
    page.click("#save-button")
    message = page.wait_for_selector("#error-message").inner_text()
    assert "You cannot save rules: it needs the admin role" in message and "Nothing was changed" in message
    assert page.get_attribute(".error-page", "data-status") == "403"
    assert rules_service.active_text(live.ctx.db, live.ctx.file_ruleset_text())[1] == before
    assert page.locator("nav >> text=Review").count() == 0  # no review queue for viewers


def test_the_api_docs_page_renders_the_operations(page, live: LiveServer) -> None:
    elsewhere: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((live.url, "data:", "blob:")) else elsewhere.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.failure} {r.url}"))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(live.url + "/docs")
    # a locator, not wait_for_function: the page's policy forbids eval, which a string predicate needs
    page.get_by_text("Decide a ticket sent as").first.wait_for(state="attached", timeout=20_000)
    body = page.inner_text("body")
    for summary in ("Decide a ticket sent as", "The rule set in force", "Every reviewer label as CSV"):
        assert summary in body, summary
    assert page.locator("[data-section-id]").count() > 20  # one section per operation
    # Redoc's footer logo lives on a CDN: the page's policy stops the browser before it leaves the machine.
    assert all(any(f.endswith(f" {u}") and "csp" in f.lower() for f in failed) for u in elsewhere), failed
    assert not [f for f in failed if "csp" not in f.lower()], failed


def test_showing_a_review_item_claims_nothing_until_the_first_action(page, live: LiveServer) -> None:
    assert submit(live.ctx, "generic", {"id": "L-1", "body": "I will sue you over these fees"}).decision["needs_review"]
    sign_in_browser(page, live, "admin", "ada", "/admin/review")
    item_id = int(page.wait_for_selector("#review-panel .review-item").get_attribute("data-item"))
    assert review.get_item(live.ctx, item_id)["claimed_by"] is None
    assert page.inner_text("#claimed-count") == "0"
    # another reviewer can still take it while ada only looks
    review.claim(live.ctx, item_id, "rita")
    review.release(live.ctx, item_id, "rita")

    page.keyboard.press("o")  # the first action: focus the note
    expect(page.locator("#claimed-count")).to_have_text("1")
    assert review.get_item(live.ctx, item_id)["claimed_by"] == "ada"

    page.goto(live.url + "/admin/models")  # leaving the page gives it back
    deadline = time.monotonic() + 5
    while review.get_item(live.ctx, item_id)["claimed_by"] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert review.get_item(live.ctx, item_id)["claimed_by"] is None


def test_an_item_someone_else_claimed_first_is_skipped_on_the_first_action(page, live: LiveServer) -> None:
    for i in range(2):
        assert submit(live.ctx, "generic", {"id": f"M-{i}", "body": "I will sue you over fees"}).decision[
            "needs_review"
        ]
    sign_in_browser(page, live, "reviewer", "rita", "/admin/review")
    item_id = page.wait_for_selector("#review-panel .review-item").get_attribute("data-item")
    review.claim(live.ctx, int(item_id), "sam")
    page.keyboard.press("c")
    page.wait_for_selector(f'#review-panel .review-item:not([data-item="{item_id}"])')
    assert "sam" in page.inner_text("#review-status")
    assert (
        review.get_item(live.ctx, int(item_id))["claimed_by"] == "sam"
        and not review.get_item(live.ctx, int(item_id))["labels"]
    )


LAPTOP = {"width": 1366, "height": 768}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/review",
        "/admin/rules",
        "/admin/models",
        "/admin/monitoring",
        "/admin/tickets",
        "/admin/tickets/generic/W-0",
        "/admin/deliveries",
    ],
    ids=["review", "rules", "models", "monitoring", "tickets", "ticket", "deliveries"],
)
def test_no_page_scrolls_sideways_on_a_laptop(browser, live: LiveServer, path: str) -> None:
    for i, body in enumerate(
        [
            "I will sue you over these fees, " * 12 + "https://example.com/a/very/long/link/" + "x" * 180,
            "Refund me now or I will file a chargeback",
        ]
    ):
        submit(live.ctx, "generic", {"id": f"W-{i}", "subject": "Fees " * 30, "body": body})
    context = browser.new_context(viewport=LAPTOP)
    try:
        tab = context.new_page()
        sign_in_browser(tab, live, "admin", "ada", path)
        if path == "/admin/review":
            tab.wait_for_selector("#review-panel .review-item")
        tab.wait_for_load_state("networkidle")
        width = tab.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            tab.screenshot(path=f"tests/artifacts/laptop-{path.strip('/').replace('/', '-')}.png", full_page=True)
        assert width[0] <= width[1], f"{path} is {width[0]} px wide in a {width[1]} px window"
    finally:
        context.close()
