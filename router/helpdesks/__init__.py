"""One module per helpdesk: its payloads and signature in, its REST client out.

``connectors(settings)`` builds the connectors that write decisions back, from the built-in
modules and the plugins' ``router_connectors`` hook; a ticket is written back by the connector of
the source it came from, in the mode ``ROUTER_WRITEBACK_<SOURCE>`` sets.
"""

from __future__ import annotations

from typing import Any

from ..hooks import hookimpl
from .base import Connector, DeliveryFailed, Inbound, Job

__all__ = ["BuiltinConnectors", "Connector", "DeliveryFailed", "Inbound", "Job"]


class BuiltinConnectors:
    """The connectors shipped with the router, registered like any other plugin.

    Only those whose source has write-back on (``suggest`` or ``route``) are built.
    """

    @hookimpl
    def router_connectors(self, settings: Any) -> list[Any]:
        from .freshdesk import FreshdeskConnector
        from .generic import CallbackConnector
        from .zendesk import ZendeskConnector

        built: list[Any] = []
        for source, cls in (
            ("zendesk", ZendeskConnector),
            ("freshdesk", FreshdeskConnector),
            ("generic", CallbackConnector),
        ):
            if settings.writeback_mode(source) != "off":
                built.append(cls(settings))
        return built
