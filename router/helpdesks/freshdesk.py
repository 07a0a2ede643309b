"""Freshdesk: automation-rule webhooks in, ticket updates and private notes out.

Freshdesk does not sign webhooks: the automation rule sends the shared secret as a custom header
(``X-Router-Token``), or a relay signs the body with the generic scheme. Its body is either the
"simple" JSON Freshdesk builds (``{"freshdesk_webhook": {"ticket_id": ...}}``) or the "advanced"
body the admin writes with placeholders (``{"ticket": {"id": "{{ticket.id}}", ...}}``, see the README).
Out: ``PUT /api/v2/tickets/{id}`` (``group_id``, ``priority`` 1-4, ``tags``: Freshdesk replaces
the list, so the router sends the ticket's tags with its own merged in) and
``POST /api/v2/tickets/{id}/notes`` with ``private: true``. Freshdesk has no conditional update:
the router reads the ticket right before writing and leaves it alone if a person moved it.

API reference: https://developers.freshdesk.com/api/#update_ticket, #add_note_to_a_ticket,
#list_all_groups, #view_a_ticket, #ratelimit.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Mapping
from typing import Any

from ..errors import AuthError
from . import generic
from .base import (
    HelpdeskConnector,
    HttpClient,
    Inbound,
    Job,
    RateHeaders,
    changed_by_agent,
    delivered,
    group_key,
    header,
    mapping,
    note_lines,
    obj,
    router_tags,
    stale_router_tags,
)

SOURCE = "freshdesk"
PRIORITY_OUT = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
PRIORITY_IN = {"low": 1, "medium": 2, "high": 3, "urgent": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """The generic HMAC scheme when a relay signs, otherwise the shared secret in ``X-Router-Token``."""
    if headers.get("X-Router-Signature"):
        generic.verify(headers, body, secret, now, window_s)
        return
    given = header(headers, "X-Router-Token")
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        raise AuthError("Freshdesk webhook token does not match", errors={"X-Router-Token": ["mismatch"]})


def _text(value: Any) -> Any:
    """Placeholders render as text; numbers and words pass, anything else is left for the schema to refuse."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _split_tags(value: Any) -> Any:
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    return value if value is not None else []


def _snapshot(priority: Any, group: Any, status: Any, url: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    p = PRIORITY_IN.get(str(priority).strip().lower()) if priority not in (None, "") else None
    if p is not None:
        out["priority"] = p
    if isinstance(group, str) and group.strip():
        out["group"] = group.strip()
    if isinstance(status, str | int) and str(status).strip():
        out["status"] = str(status).strip()
    if isinstance(url, str) and url:
        out["url"] = url
    return out


def _simple(t: Mapping[str, Any]) -> dict[str, Any]:
    requester = {"email": t.get("ticket_contact_email"), "name": t.get("ticket_contact_name")}
    source = t.get("ticket_source")
    return {
        "id": _text(t.get("ticket_id")),
        "subject": t.get("ticket_subject") or "",
        "body": t.get("ticket_description") or "",
        "requester": {k: v for k, v in requester.items() if v},
        "channel": source.lower() if isinstance(source, str) and source else source or None,
        "tags": _split_tags(t.get("ticket_tags")),
        "metadata": {
            "freshdesk": _snapshot(
                t.get("ticket_priority"), t.get("ticket_group_name"), t.get("ticket_status"), t.get("ticket_url")
            )
        },
    }


def _advanced(t: Mapping[str, Any]) -> dict[str, Any]:
    requester = mapping(t.get("requester"))
    source = t.get("source")
    return {
        "id": _text(t.get("id")),
        "subject": t.get("subject") or "",
        "body": t.get("description") or "",
        "requester": {k: requester.get(k) for k in ("email", "name", "tier") if requester.get(k)},
        "channel": source.lower() if isinstance(source, str) and source else source or None,
        "tags": _split_tags(t.get("tags")),
        "metadata": {"freshdesk": _snapshot(t.get("priority"), t.get("group"), t.get("status"), t.get("url"))},
    }


def to_ticket(payload: Any) -> dict[str, Any]:
    payload = obj(payload, "body")
    if "freshdesk_webhook" in payload:
        out = _simple(obj(payload["freshdesk_webhook"], "freshdesk_webhook"))
    else:
        out = _advanced(obj(payload.get("ticket"), "ticket"))
    return {k: v for k, v in out.items() if v is not None}


def parse(payload: Any) -> Inbound:
    """Intake by default; a body with ``"event"`` other than ``ticket_created`` is recorded only."""
    payload = obj(payload, "body")
    event = payload.get("event")
    if event in (None, "", "ticket_created"):
        return Inbound("ticket", ticket=to_ticket(payload))
    if not isinstance(event, str):
        return Inbound("ignored", reason="event must be a string")
    ticket = mapping(payload.get("ticket"))
    # Freshdesk sends no event id: the same body twice is the same event delivered twice
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]
    state = _snapshot(ticket.get("priority"), ticket.get("group"), ticket.get("status"), None)
    if "group" in ticket and not state.get("group"):
        state["group"] = ""  # unassigned
    return Inbound(
        "event",
        event_id=str(payload.get("event_id") or digest),
        event_type=event,
        external_id=str(ticket.get("id") or ""),
        occurred_at=ticket.get("updated_at") if isinstance(ticket.get("updated_at"), str) else None,
        payload=payload,
        state=state,
    )


class FreshdeskConnector(HelpdeskConnector):
    """Writes decisions to Freshdesk tickets: group, priority, merged tags, a private note."""

    name = SOURCE
    source = SOURCE
    label = "Freshdesk"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings.helpdesk_cache_s)
        self.http = HttpClient(
            settings.freshdesk_url,
            (settings.freshdesk_api_key, "X"),
            settings.delivery_timeout_s,
            self.label,
            RateHeaders("X-RateLimit-Total", "X-RateLimit-Remaining"),
        )
        self.rate_per_min = settings.freshdesk_rate_per_min

    def _fetch_groups(self) -> dict[str, int]:
        """Every group, page by page (``per_page`` 100)."""
        found: dict[str, int] = {}
        for page in range(1, 101):
            batch = self.http.get_json("/api/v2/groups", params={"page": page, "per_page": 100}) or []
            for g in batch:
                found[group_key(g["name"])] = int(g["id"])
            if len(batch) < 100:
                break
        return found

    def _note_posted(self, ticket_id: str, marker: str) -> bool:
        notes = self.http.get_json(f"/api/v2/tickets/{ticket_id}/conversations", params={"per_page": 100})
        text = html.escape(marker)
        return any(text in (n.get("body") or "") or marker in (n.get("body_text") or "") for n in notes or [])

    def deliver(self, job: Job) -> dict[str, Any]:
        ticket_id = self.ticket_id(job)
        decision = job.decision
        route = job.mode == "route"
        target: dict[str, Any] = {}
        if route:
            target = {
                "group_id": self.group_for(decision["queue"], job.groups),
                "priority": PRIORITY_OUT.get(decision["priority"]),
            }
        job = self.with_group_ids(job)
        current = self.http.get_json(f"/api/v2/tickets/{ticket_id}")
        seen = {k: current.get(k) for k in ("group_id", "priority", "updated_at")}
        agent = route and changed_by_agent(current, job, target)
        tags = router_tags(decision)
        stale = stale_router_tags(job, tags)
        merged = [t for t in current.get("tags") or [] if t not in stale]
        merged += [t for t in tags if t not in merged]
        update: dict[str, Any] = {}
        if merged != list(current.get("tags") or []):
            update["tags"] = merged
        wrote = {k: v for k, v in target.items() if v is not None} if route and not agent else {}
        update.update({k: v for k, v in wrote.items() if current.get(k) != v})
        if update:
            self.http.request("PUT", f"/api/v2/tickets/{ticket_id}", json=update)
        if not (job.attempt > 1 and self._note_posted(ticket_id, job.marker)):
            group_name = f"{decision['queue']} #{target['group_id']}" if route else None
            lines = note_lines(job, group_name, routed=bool(wrote), agent_changed=agent)
            body = "<br>".join(html.escape(line) for line in lines)
            self.http.request("POST", f"/api/v2/tickets/{ticket_id}/notes", json={"body": body, "private": True})
        return delivered(wrote, seen, tags, agent)
