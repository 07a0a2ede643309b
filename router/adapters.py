"""Webhook adapters: a helpdesk's payload and signature scheme in, the generic ticket out.

Each adapter is a small registered object; the built-in ones below are registered as a plugin
through :func:`router_webhook_adapters`, and a third-party plugin adds others the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import AuthError
from .hooks import hookimpl

Verifier = Callable[[Mapping[str, str], bytes, str, float, int], None]


@dataclass(frozen=True)
class Adapter:
    source: str
    verify: Verifier
    to_ticket: Callable[[Any], dict[str, Any]]
    description: str = ""


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _check_fresh(sent_at: float, now: float, window_s: int) -> None:
    if abs(now - sent_at) > window_s:
        raise AuthError(
            f"webhook timestamp is {int(abs(now - sent_at))} s away from the server's clock; "
            f"more than {window_s} s is treated as a replay and refused",
            errors={"timestamp": ["outside the replay window"]},
        )


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise AuthError(f"missing header {name}", errors={name: ["required"]})
    return value


def verify_generic(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """``X-Router-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>``, ``X-Router-Timestamp``."""
    stamp = _header(headers, "X-Router-Timestamp")
    given = _header(headers, "X-Router-Signature")
    try:
        sent_at = float(stamp)
    except ValueError:
        raise AuthError("X-Router-Timestamp must be Unix seconds", errors={"X-Router-Timestamp": ["invalid"]}) from None
    expected = "sha256=" + _hmac(secret, stamp.encode() + b"." + body).hex()
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise AuthError("webhook signature does not match", errors={"X-Router-Signature": ["mismatch"]})
    _check_fresh(sent_at, now, window_s)


def verify_zendesk(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """Zendesk: ``X-Zendesk-Webhook-Signature`` = base64 HMAC-SHA256 of timestamp + body."""
    stamp = _header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    given = _header(headers, "X-Zendesk-Webhook-Signature")
    expected = base64.b64encode(_hmac(secret, stamp.encode() + body))
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
    _check_fresh(sent_at.timestamp(), now, window_s)


def verify_freshdesk(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """Freshdesk does not sign automation webhooks: the generic HMAC scheme when a relay signs,
    otherwise the shared secret sent as the custom header ``X-Router-Token``."""
    if headers.get("X-Router-Signature"):
        verify_generic(headers, body, secret, now, window_s)
        return
    given = _header(headers, "X-Router-Token")
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        raise AuthError("Freshdesk webhook token does not match", errors={"X-Router-Token": ["mismatch"]})


def _obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        from .errors import ValidationError

        raise ValidationError(f"{name} must be a JSON object", errors={name: ["must be an object"]})
    return value


def generic_to_ticket(payload: Any) -> dict[str, Any]:
    return _obj(payload, "body")


def zendesk_to_ticket(payload: Any) -> dict[str, Any]:
    """A Zendesk trigger/webhook body: ``{"ticket": {...}}`` or the ticket fields at the top level."""
    payload = _obj(payload, "body")
    t = _obj(payload.get("ticket", payload), "ticket")
    requester = t.get("requester") if isinstance(t.get("requester"), dict) else {}
    via = t.get("via")
    channel = via.get("channel") if isinstance(via, dict) else t.get("via_channel", via)
    tags = t.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split()
    out = {
        "id": t.get("id"),
        "subject": t.get("subject") or t.get("title") or "",
        "body": t.get("description") or t.get("latest_comment") or "",
        "requester": {k: requester.get(k) for k in ("email", "name", "tier") if requester.get(k) is not None},
        "channel": channel,
        "tags": tags,
        "created_at": t.get("created_at"),
        "language": t.get("locale") or requester.get("locale"),
        "metadata": {"zendesk": {k: t[k] for k in ("status", "priority", "group_id", "brand_id") if k in t}},
    }
    return {k: v for k, v in out.items() if v is not None}


def freshdesk_to_ticket(payload: Any) -> dict[str, Any]:
    """A Freshdesk automation webhook body: ``{"freshdesk_webhook": {"ticket_id": ..., ...}}``."""
    payload = _obj(payload, "body")
    t = _obj(payload.get("freshdesk_webhook"), "freshdesk_webhook")
    tags = t.get("ticket_tags") or []
    if isinstance(tags, str):
        tags = [x.strip() for x in tags.split(",") if x.strip()]
    requester = {"email": t.get("ticket_contact_email"), "name": t.get("ticket_contact_name")}
    out = {
        "id": t.get("ticket_id"),
        "subject": t.get("ticket_subject") or "",
        "body": t.get("ticket_description") or "",
        "requester": {k: v for k, v in requester.items() if v},
        "channel": (t.get("ticket_source") or "").lower() or None,
        "tags": tags,
        "metadata": {"freshdesk": {k: t[k] for k in ("ticket_status", "ticket_priority", "ticket_url") if k in t}},
    }
    return {k: v for k, v in out.items() if v is not None}


BUILTIN_ADAPTERS = (
    Adapter("generic", verify_generic, generic_to_ticket, "the router's own ticket JSON, HMAC-signed"),
    Adapter("zendesk", verify_zendesk, zendesk_to_ticket, "Zendesk webhook, Zendesk's signature scheme"),
    Adapter("freshdesk", verify_freshdesk, freshdesk_to_ticket, "Freshdesk automation webhook"),
)


class BuiltinAdapters:
    """The built-in adapters, registered like any other plugin."""

    @hookimpl
    def router_webhook_adapters(self) -> list[Adapter]:
        return list(BUILTIN_ADAPTERS)
