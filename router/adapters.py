"""Webhook adapters: a helpdesk's payload and signature scheme in, what it asks for out.

Each adapter is a small registered object; the built-in ones (from the modules in
``router/helpdesks/``) are registered as a plugin through :func:`router_webhook_adapters`, and a
third-party plugin adds others the same way. ``parse`` tells intake whether the body is a ticket
to decide, a requester's new comment, an event to record, or nothing to act on; an adapter that
only knows tickets gives ``to_ticket`` and no ``parse``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .helpdesks import freshdesk, generic, zendesk
from .helpdesks.base import Inbound
from .hooks import hookimpl

Verifier = Callable[[Mapping[str, str], bytes, str, float, int], None]


@dataclass(frozen=True)
class Adapter:
    source: str
    verify: Verifier
    to_ticket: Callable[[Any], dict[str, Any]]
    description: str = ""
    parse: Callable[[Any], Inbound] | None = None

    def inbound(self, payload: Any) -> Inbound:
        if self.parse is not None:
            return self.parse(payload)
        return Inbound("ticket", ticket=self.to_ticket(payload))


BUILTIN_ADAPTERS = (
    Adapter("generic", generic.verify, generic.to_ticket, "the router's own ticket JSON, HMAC-signed", generic.parse),
    Adapter(
        "zendesk",
        zendesk.verify,
        zendesk.to_ticket,
        "Zendesk event or trigger webhook, Zendesk's signature",
        zendesk.parse,
    ),
    Adapter("freshdesk", freshdesk.verify, freshdesk.to_ticket, "Freshdesk automation webhook", freshdesk.parse),
)


class BuiltinAdapters:
    """The built-in adapters, registered like any other plugin."""

    @hookimpl
    def router_webhook_adapters(self) -> list[Adapter]:
        return list(BUILTIN_ADAPTERS)
