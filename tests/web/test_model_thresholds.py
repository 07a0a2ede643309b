"""The Models page draws each version's precision/auto-routed curve and lets an admin change its target."""

from __future__ import annotations

import html

from router.services import thresholds


def test_an_admin_sees_the_curve_and_changes_the_target(client, ctx, signed_in) -> None:  # type: ignore[no-untyped-def]
    version = ctx.runtime.current().version
    csrf = signed_in("admin")
    page = client.get("/admin/models")
    assert page.status_code == 200
    assert 'class="operating-point"' in page.text and "target precision" in page.text
    assert "Auto-routing: target precision 0.97" in html.unescape(page.text)

    missing_reason = client.post(
        f"/admin/models/{version}/thresholds", data={"target_precision": "0.95", "reason": "", "csrf_token": csrf}
    )
    assert missing_reason.status_code == 302
    assert thresholds.revisions(ctx, version) == []
    done = client.post(
        f"/admin/models/{version}/thresholds",
        data={"target_precision": "0.95", "reason": "queue is too long", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert done.status_code == 200
    text = html.unescape(done.text)
    assert "now aims at precision 0.95" in text and "Auto-routing: target precision 0.95" in text
    [revision] = thresholds.revisions(ctx, version)
    assert revision["actor"] == "admin" and revision["reason"] == "queue is too long"


def test_a_viewer_cannot_change_the_target(client, ctx, signed_in) -> None:  # type: ignore[no-untyped-def]
    version = ctx.runtime.current().version
    csrf = signed_in("viewer")
    refused = client.post(
        f"/admin/models/{version}/thresholds", data={"target_precision": "0.9", "reason": "x", "csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert thresholds.revisions(ctx, version) == []
