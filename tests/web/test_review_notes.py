"""A ``low_confidence`` reason says which threshold the ticket missed: in the decision, the ticket page
and the Review page."""

from __future__ import annotations

import html
import re

from router.services.intake import submit

#: "confidence 0.41 below the 0.77 needed for card_arrival"
NOTE = re.compile(r"confidence (0\.\d+) below the (0\.\d+|1\.0+) needed for ([a-z_]+)")


def test_a_low_confidence_reason_carries_the_threshold(client, ctx, signed_in) -> None:  # type: ignore[no-untyped-def]
    csrf = signed_in("admin")
    stored = submit(ctx, "generic", {"id": "N-1", "subject": "Question", "body": "hello, something about my account"})
    decision = stored.decision
    assert "low_confidence" in decision["review_reasons"]
    note = decision["explanation"]["review"]["low_confidence"]
    found = NOTE.fullmatch(note)
    assert found, note
    assert float(found.group(1)) < float(found.group(2))
    assert found.group(3) == decision["intent"]
    assert float(found.group(1)) == round(decision["confidence"], len(found.group(1)) - 2)

    ticket = client.get("/admin/tickets/generic/N-1")
    assert ticket.status_code == 200 and note in html.unescape(ticket.text)
    shown = client.post("/admin/api/review/next", json={}, headers={"X-CSRF-Token": csrf})
    assert shown.status_code == 200 and shown.json["item_id"]
    assert note in html.unescape(shown.json["html"])
