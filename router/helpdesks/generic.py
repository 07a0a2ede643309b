"""The router's own JSON: HMAC-signed intake in, a signed callback of the decision out.

Signature: ``X-Router-Signature: sha256=<hex HMAC-SHA256 of X-Router-Timestamp + "." + body>``,
the same scheme both ways, so a receiver verifies the callback with the code it signs intake with.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AuthError
from .base import HttpClient, Inbound, Job, check_fresh, header, hmac_sha256, obj, sign

SOURCE = "generic"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float, window_s: int) -> None:
    """``X-Router-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>``, ``X-Router-Timestamp``."""
    stamp = header(headers, "X-Router-Timestamp")
    given = header(headers, "X-Router-Signature")
    try:
        sent_at = float(stamp)
    except ValueError:
        raise AuthError("X-Router-Timestamp must be Unix seconds", errors={"X-Router-Timestamp": ["invalid"]}) from None
    expected = "sha256=" + hmac_sha256(secret, stamp.encode() + b"." + body).hex()
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise AuthError("webhook signature does not match", errors={"X-Router-Signature": ["mismatch"]})
    check_fresh(sent_at, now, window_s)


def to_ticket(payload: Any) -> dict[str, Any]:
    return obj(payload, "body")


def parse(payload: Any) -> Inbound:
    return Inbound("ticket", ticket=to_ticket(payload))


class CallbackConnector:
    """POSTs the decision JSON, signed, to ``ROUTER_CALLBACK_URL``; a 2xx means it was taken.

    ``X-Router-Delivery`` carries the delivery id: the same id on every retry of one delivery,
    so a receiver can ignore a repeat.
    """

    name = "callback"
    source = SOURCE

    def __init__(self, settings: Any) -> None:
        self.url = settings.callback_url
        self.secret = settings.callback_secret
        self.http = HttpClient(self.url, None, settings.delivery_timeout_s, "the callback URL")
        self.rate_per_min = settings.callback_rate_per_min

    def close(self) -> None:
        self.http.close()

    def missing_groups(self, queues: Iterable[str], mapping: Mapping[str, Any]) -> list[str]:
        return []  # the receiver routes by queue name

    def deliver(self, job: Job) -> dict[str, Any]:
        message = {
            "delivery_id": job.delivery_id,
            "kind": job.kind,
            "mode": job.mode,
            "ticket": {"source": job.ticket["source"], "id": job.ticket["id"]},
            "decision": job.decision,
            "correction": job.correction,
        }
        body = json.dumps(message, default=str, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Router-Delivery": str(job.delivery_id),
            **sign(self.secret, body),
        }
        self.http.request("POST", "", data=body, headers=headers, url=self.url)
        outcome = "routed" if job.mode == "route" else "suggested"
        return {"outcome": outcome, "wrote": {"queue": job.decision["queue"]} if job.mode == "route" else {}}
