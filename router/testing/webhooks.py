"""Sign webhook bodies the way each helpdesk does, for tests and integration checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any


def body_bytes(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def generic_headers(body: bytes, secret: str, timestamp: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    sig = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Router-Timestamp": stamp, "X-Router-Signature": f"sha256={sig}", "Content-Type": "application/json"}


def zendesk_headers(body: bytes, secret: str, timestamp: float | None = None) -> dict[str, str]:
    when = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": sig,
        "Content-Type": "application/json",
    }


def freshdesk_headers(secret: str) -> dict[str, str]:
    return {"X-Router-Token": secret, "Content-Type": "application/json"}
