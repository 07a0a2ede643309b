"""Review page: the queue, and one ticket at a time worked with the keyboard.

The page lists the queue (same order and filters as ``GET /v1/review``). Its script asks
``/admin/api/review/next`` for the next item it may claim and shows it, rendered as HTML, without
leaving the page. Showing does not claim: someone who only looks blocks nobody. The reviewer's
first action on the item (a key, a field, a button) claims it; skipping or leaving the page gives
it back. Every answer carries the queue's open/claimed/resolved counts, so the page's figures
stay current. The POSTs are small JSON requests carrying the CSRF token in a header.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.datastructures import MultiDict

from .. import review as service
from ..db.review import ITEM_ID_MAX
from ..errors import Conflict, ValidationError
from ..services.decide import percent_pair
from ..services.intake import ticket_with_decisions
from . import _errors, _session, _text

bp = _errors.attach(Blueprint("web_review", __name__, url_prefix="/admin"))
ITEM = f"<int(max={ITEM_ID_MAX}):item_id>"
REASONS = ("low_confidence", "ambiguous", "novel", "high_stakes")
SHORTCUTS = (
    ("c", "confirm the model's intent and queue"),
    ("1 2 3", "take alternative 1, 2 or 3 as the intent (its queue follows)"),
    ("i", "focus the intent"),
    ("q", "focus the queue"),
    ("o", "focus the note"),
    ("s or Enter", "save the intent and queue as chosen"),
    ("n", "skip to the next item (gives this one back)"),
    ("Esc", "leave a field, so the keys above work again"),
)


def _number(value: str | None, scale: float = 1.0) -> float | None:
    try:
        return float(value) * scale if value not in (None, "") else None
    except ValueError:
        raise ValidationError(f"not a number: {value!r}", errors={"age": ["must be a number"]}) from None


def _filters(args: MultiDict[str, str], **extra: Any) -> service.QueueFilter:
    return service.QueueFilter(
        status="open",
        reasons=[r for r in args.getlist("reason") if r],
        intent=args.get("intent") or None,
        queue=args.get("queue") or None,
        min_age_s=_number(args.get("min_age_min"), 60.0),
        max_age_s=_number(args.get("max_age_min"), 60.0),
        **extra,
    )


def _choices() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(intents of the active model, queues of the rule set with descriptions, intent -> routed queue)."""
    context = _session.ctx()
    ruleset = context.ruleset()
    intents = sorted(context.runtime.current().model.classes)
    routed = {i: (ruleset.by_intent[i].queue if i in ruleset.by_intent else ruleset.default_queue) for i in intents}
    return intents, dict(ruleset.queues), routed


@bp.get("/review")
@_session.page("reviewer", "work the review queue")
def queue() -> str:
    """The queue, its figures, and the panel where items are worked."""
    filters = _filters(request.args, page_size=50)
    intents, queues, _ = _choices()
    return render_template(
        "admin/review.html",
        page=service.list_items(_session.ctx(), filters),
        stats=service.stats(_session.ctx()),
        filters=filters,
        reasons=REASONS,
        intents=intents,
        queues=queues,
        shortcuts=SHORTCUTS,
    )


def _decision_of(item: dict[str, Any]) -> dict[str, Any]:
    ticket = ticket_with_decisions(_session.ctx(), item["ticket"]["source"], item["ticket"]["id"])
    found = next((d for d in ticket["decisions"] if d["decision_id"] == item["decision_id"]), None)
    return found or {}


def _rendered(item: dict[str, Any]) -> dict[str, Any]:
    decision = _decision_of(item)
    intents, queues, routed = _choices()
    confidence, threshold = decision.get("confidence"), (decision.get("explanation") or {}).get("threshold")
    html = render_template(
        "admin/_review_item.html",
        item=item,
        decision=decision,
        against=percent_pair(confidence, threshold) if confidence is not None and threshold is not None else None,
        segments=_text.highlight(item["text"], decision.get("explanation")),
        alternatives=(decision.get("alternatives") or [])[:3],
        trace=(decision.get("explanation") or {}).get("rules") or [],
        intents=intents,
        queues=queues,
        routed=routed,
    )
    return {"item_id": item["id"], "html": html}


def _figures() -> dict[str, int]:
    return service.counts(_session.ctx())


@bp.post("/api/review/next")
@_session.page("reviewer", "work the review queue")
def next_item() -> dict[str, Any]:
    """Show the first item this reviewer may claim, leaving out the ones they skipped (nothing is claimed)."""
    me = _session.need("reviewer", "work the review queue").name
    body = request.get_json(silent=True) or {}
    skipped = {int(i) for i in body.get("skip") or [] if str(i).isdigit()}
    page = service.list_items(_session.ctx(), _filters(request.args, available_to=me, page_size=len(skipped) + 10))
    for candidate in page["items"]:
        if candidate["id"] not in skipped:
            return {**_rendered(candidate), "remaining": page["total"], "figures": _figures()}
    return {
        "item_id": None,
        "html": render_template("admin/_review_empty.html", skipped=len(skipped)),
        "remaining": 0,
        "figures": _figures(),
    }


@bp.post(f"/api/review/{ITEM}/open")
@_session.page("reviewer", "work the review queue")
def open_item(item_id: int) -> dict[str, Any]:
    """Show one chosen item (from the queue table) without claiming it."""
    return {**_rendered(service.get_item(_session.ctx(), item_id)), "figures": _figures()}


@bp.post(f"/api/review/{ITEM}/claim")
@_session.page("reviewer", "work the review queue")
def claim(item_id: int) -> dict[str, Any]:
    """Claim the shown item: the reviewer's first action on it. 409 when someone else holds it."""
    me = _session.need("reviewer", "work the review queue").name
    item = service.claim(_session.ctx(), item_id, me)
    return {"item_id": item_id, "claimed_by": item["claimed_by"], "figures": _figures()}


@bp.post(f"/api/review/{ITEM}/resolve")
@_session.page("reviewer", "work the review queue")
def resolve(item_id: int) -> dict[str, Any]:
    me = _session.need("reviewer", "work the review queue").name
    body = request.get_json(silent=True) or {}
    intent, queue_name = str(body.get("intent") or "").strip(), str(body.get("queue") or "").strip()
    note = str(body.get("note") or "")[:2000]
    if not intent or not queue_name:
        raise ValidationError("choose an intent and a queue", errors={"intent": ["required"], "queue": ["required"]})
    done = service.resolve(_session.ctx(), item_id, me, intent, queue_name, note)
    label = done["labels"][-1] if done["labels"] else {}
    verb = "corrected to" if label.get("corrected") else "confirmed as"
    message = f"Item {item_id} {verb} {intent} → {queue_name}."
    return {"item_id": item_id, "status": done["status"], "message": message, "figures": _figures()}


@bp.post(f"/api/review/{ITEM}/release")
@_session.page("reviewer", "work the review queue")
def release(item_id: int) -> dict[str, Any]:
    me = _session.need("reviewer", "work the review queue").name
    with contextlib.suppress(Conflict):  # the claim lapsed or was taken: nothing to give back
        service.release(_session.ctx(), item_id, me)
    return {"item_id": item_id, "released": True, "figures": _figures()}
