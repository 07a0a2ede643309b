"""Zendesk: webhook payloads and signature in, ticket updates out.

In: event-subscribed webhooks (``{"type": "zen:event-type:ticket.created", "detail": {...}, ...}``)
and trigger webhooks whose JSON body the admin writes with placeholders (``{"ticket": {...}}``).
Out: ``PUT /api/v2/tickets/{id}`` with ``group_id``, ``priority``, ``additional_tags`` and a private
comment, as a safe update (``safe_update`` + ``updated_stamp``) so a person's change in between
makes Zendesk answer 409 instead of being overwritten.

API reference: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (update,
safe update), https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/
(event webhooks), https://developer.zendesk.com/documentation/webhooks/verifying/ (signatures).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import AuthError
from .base import (
    DeliveryFailed,
    HelpdeskConnector,
    HttpClient,
    Inbound,
    Job,
    RateHeaders,
    TtlCache,
    changed_by_agent,
    check_fresh,
    delivered,
    group_key,
    header,
    hmac_sha256,
    mapping,
    note_lines,
    obj,
    router_tags,
    stale_router_tags,
)

SOURCE = "zendesk"
EVENT_PREFIX = "zen:event-type:"
CREATED = "zen:event-type:ticket.created"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
PRIORITIES = ("low", "normal", "high", "urgent")
REQUESTER_TIMEOUT_S = 2.0  # looked up while the webhook waits for its answer


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """``X-Zendesk-Webhook-Signature`` = base64 HMAC-SHA256 of the timestamp header + body."""
    import hmac

    stamp = header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    given = header(headers, "X-Zendesk-Webhook-Signature")
    expected = base64.b64encode(hmac_sha256(secret, stamp.encode() + body))
    if not hmac.compare_digest(expected, given.strip().encode()):
        raise AuthError(
            "Zendesk webhook signature does not match", errors={"X-Zendesk-Webhook-Signature": ["mismatch"]}
        )
    try:
        sent_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise AuthError("Zendesk signature timestamp is not ISO 8601", errors={"timestamp": ["invalid"]}) from None
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    check_fresh(sent_at.timestamp(), now, window_s)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _tags(value: Any) -> Any:
    # ``{{ticket.tags}}`` renders as one space-separated string
    return value.split() if isinstance(value, str) else value if value is not None else []


def _snapshot(t: Mapping[str, Any]) -> dict[str, Any]:
    """What Zendesk said the ticket looked like when it came in (the agent-wins baseline).

    ``group_id`` and ``priority`` are kept even when empty: "unassigned" is a state an agent changes.
    """
    out = {k: t[k] for k in ("brand_id", "requester_id", "updated_at") if t.get(k) not in (None, "")}
    if t.get("status") not in (None, ""):
        out["status"] = _lower(t["status"])
    if "priority" in t:
        out["priority"] = _lower(t["priority"]) or None
    if "group_id" in t:
        group = t["group_id"]
        out["group_id"] = int(group) if str(group).isdigit() and int(group) > 0 else None
    elif isinstance(t.get("group"), str):  # a trigger's {{ticket.group.name}} ("" or "-" when unassigned)
        out["group"] = t["group"].strip().strip("-").strip()
    return out


# ``{{ticket.description}}`` renders the first comment after a rule and an "author, date, time" line
_TRIGGER_PREAMBLE = re.compile(r"\A\s*-{10,}\s*\n\s*\n[^\n]{1,200}\d{1,2}:\d{2}[^\n]{0,20}\n\s*\n")


def to_ticket(payload: Any) -> dict[str, Any]:
    """A trigger webhook body: ``{"ticket": {...}}`` or the ticket fields at the top level."""
    payload = obj(payload, "body")
    t = obj(payload.get("ticket", payload), "ticket")
    requester = mapping(t.get("requester"))
    via = t.get("via")
    channel = via.get("channel") if isinstance(via, dict) else t.get("via_channel", via)
    description = t.get("description") or t.get("latest_comment") or ""
    out = {
        "id": t.get("id"),
        "subject": t.get("subject") or t.get("title") or "",
        "body": _TRIGGER_PREAMBLE.sub("", description) if isinstance(description, str) else description,
        "requester": {k: requester.get(k) for k in ("email", "name", "tier") if requester.get(k) not in (None, "")},
        "channel": _lower(channel) if channel not in ("", None) else None,
        "tags": _tags(t.get("tags")),
        "created_at": t.get("created_at") or None,
        "language": t.get("locale") or requester.get("locale"),
        "metadata": {"zendesk": _snapshot(t)},
    }
    return {k: v for k, v in out.items() if v is not None}


def parse(payload: Any) -> Inbound:
    """Event webhooks by their type; anything else is a trigger body with the ticket."""
    payload = obj(payload, "body")
    kind = payload.get("type")
    if not (isinstance(kind, str) and kind.startswith(EVENT_PREFIX)):
        return Inbound("ticket", ticket=to_ticket(payload))
    event_id = str(payload.get("id") or "")
    subject = str(payload.get("subject") or "")
    detail = mapping(payload.get("detail"))
    event = mapping(payload.get("event"))
    external_id = str(detail.get("id") or (subject.rsplit(":", 1)[-1] if subject.startswith("zen:ticket:") else ""))
    common = {
        "event_id": event_id,
        "event_type": kind,
        "external_id": external_id,
        "occurred_at": payload.get("time"),
        "actor": str(detail.get("actor_id") or ""),
        "payload": payload,
        "state": _event_state(kind, detail, event),
    }
    if not event_id or not external_id:
        return Inbound("ignored", reason=f"{kind} without an event id or ticket id", **common)
    if kind == CREATED:
        ticket = to_ticket({**detail, "id": external_id})
        return Inbound("ticket", ticket=ticket, requester_id=_str(detail.get("requester_id")), **common)
    if kind == COMMENT_ADDED:
        comment = mapping(event.get("comment"))
        author = mapping(comment.get("author"))
        common["actor"] = str(author.get("id") or common["actor"])
        if author.get("is_staff") is False and comment.get("body"):
            return Inbound("comment", comment=str(comment["body"]), **common)
        return Inbound("event", **common)
    if kind.startswith(EVENT_PREFIX + "ticket."):
        return Inbound("event", **common)
    return Inbound("ignored", reason=f"event type {kind} is not one the router acts on", **common)


def _event_state(kind: str, detail: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """Group, priority and status after the event: the ticket snapshot, with the event's ``current``."""
    state = {k: v for k, v in _snapshot(detail).items() if k in ("group_id", "priority", "status")}
    current = event.get("current")
    if kind.endswith(".group_assignment_changed") and "current" in event:
        state["group_id"] = int(str(current)) if str(current).isdigit() and int(str(current)) > 0 else None
    elif kind.endswith(".priority_changed") and "current" in event:
        state["priority"] = _lower(current) or None
    elif kind.endswith(".status_changed") and "current" in event:
        state["status"] = _lower(current) or None
    return state


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


class ZendeskConnector(HelpdeskConnector):
    """Writes decisions to Zendesk tickets: group, priority, tags and a private note."""

    name = SOURCE
    source = SOURCE
    label = "Zendesk"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings.helpdesk_cache_s)
        self.http = HttpClient(
            settings.zendesk_url,
            (f"{settings.zendesk_email}/token", settings.zendesk_api_token),
            settings.delivery_timeout_s,
            self.label,
            RateHeaders("X-Rate-Limit", "X-Rate-Limit-Remaining", "ratelimit-reset"),
        )
        self.rate_per_min = settings.zendesk_rate_per_min
        self._users = TtlCache(settings.helpdesk_cache_s)

    # -- reads ---------------------------------------------------------------------------------

    def _fetch_groups(self) -> dict[str, int]:
        """Every group that is not deleted, following ``next_page``."""
        found: dict[str, int] = {}
        url: str | None = f"{self.http.base_url}/api/v2/groups.json"
        for _ in range(100):
            if not url:
                break
            page = self.http.get_json("/api/v2/groups.json", url=url)
            for g in page.get("groups") or []:
                if not g.get("deleted"):
                    found[group_key(g["name"])] = int(g["id"])
            url = page.get("next_page")
        return found

    def requester(self, user_id: str, may_ask: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The requester's e-mail and name (cached), for rules on ``ticket.requester``. On a cache
        miss, ``may_ask()`` False means Zendesk must not be asked now (DeliveryFailed, nothing cached)."""
        if not str(user_id).isdigit():
            return {}

        def fetch() -> dict[str, Any]:
            if may_ask is not None and not may_ask():
                raise DeliveryFailed(f"{self.label} asked the router to wait; requester {user_id} not looked up")
            user = self.http.get_json(f"/api/v2/users/{user_id}.json", timeout_s=REQUESTER_TIMEOUT_S).get("user") or {}
            return {k: user[k] for k in ("email", "name") if user.get(k)}

        found: dict[str, Any] = self._users.get(str(user_id), fetch)
        return found

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        ticket: dict[str, Any] = self.http.get_json(f"/api/v2/tickets/{ticket_id}.json").get("ticket") or {}
        return ticket

    def _note_posted(self, ticket_id: str, marker: str) -> bool:
        page = self.http.get_json(
            f"/api/v2/tickets/{ticket_id}/comments.json", params={"sort_order": "desc", "per_page": 100}
        )
        return any(marker in (c.get("body") or c.get("plain_body") or "") for c in page.get("comments") or [])

    # -- the write -----------------------------------------------------------------------------

    def deliver(self, job: Job) -> dict[str, Any]:
        ticket_id = self.ticket_id(job)
        decision = job.decision
        route = job.mode == "route"
        group_id = self.group_for(decision["queue"], job.groups) if route else None
        priority = decision["priority"] if decision["priority"] in PRIORITIES else None
        target = {"group_id": group_id, "priority": priority} if route else {}
        tags = router_tags(decision)
        stale = sorted(stale_router_tags(job, tags))
        job = self.with_group_ids(job)
        if job.attempt > 1 and self._note_posted(ticket_id, job.marker):
            # an earlier attempt was applied but its answer was lost: record what the ticket holds
            current = self._ticket(ticket_id)
            wrote = {k: v for k, v in target.items() if v is not None and current.get(k) == v}
            return {"outcome": "already_delivered", "wrote": wrote, "tags": tags, "note": True}
        for _ in range(3):
            current = self._ticket(ticket_id)
            seen = {k: current.get(k) for k in ("group_id", "priority", "updated_at")}
            agent = route and changed_by_agent(current, job, target)
            update: dict[str, Any] = {"additional_tags": tags}
            if stale:
                update["remove_tags"] = stale
            wrote = {k: v for k, v in target.items() if v is not None} if route and not agent else {}
            update.update(wrote)
            group_name = f"{decision['queue']} #{group_id}" if route else None
            body = "\n".join(note_lines(job, group_name, routed=bool(wrote), agent_changed=agent))
            update["comment"] = {"body": body, "public": False}
            if current.get("updated_at"):
                update["safe_update"] = True
                update["updated_stamp"] = current["updated_at"]
            try:
                self.http.request("PUT", f"/api/v2/tickets/{ticket_id}.json", json={"ticket": update})
            except DeliveryFailed as exc:
                if exc.status == 409:
                    continue  # someone changed the ticket between our read and write: read again
                raise
            return delivered(wrote, seen, tags, agent)
        raise DeliveryFailed("Zendesk's safe update conflicted three times in a row", status=409)
