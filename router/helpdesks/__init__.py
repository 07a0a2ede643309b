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


def check_groups(ruleset: Any, connectors: dict[str, Any], settings: Any) -> None:
    """Refuse a rule set with a queue that has no group in a helpdesk the router routes in.

    Raises :class:`~router.errors.ValidationError` naming each queue and helpdesk, or
    :class:`~router.errors.ServiceUnavailable` when a helpdesk could not be asked.
    """
    from ..errors import ServiceUnavailable, ValidationError

    problems = []
    for source, connector in connectors.items():
        if settings.writeback_mode(source) != "route":
            continue
        mapping = ruleset.helpdesk_groups.get(connector.name, {})
        try:
            missing = connector.missing_groups(sorted(ruleset.queues), mapping)
        except DeliveryFailed as exc:
            raise ServiceUnavailable(
                f"could not read the groups of {connector.name} to check the rule set: {exc.message}; try again"
            ) from None
        for queue in missing:
            wanted = mapping.get(queue, queue)
            problems.append(
                {
                    "where": f"queues.{queue}",
                    "message": f"queue {queue!r} has no group {wanted!r} in {connector.name}: create the group, "
                    f"or map the queue to an existing one under helpdesk_groups.{connector.name}",
                }
            )
    if problems:
        raise ValidationError(f"rule set has {len(problems)} problem(s)", errors=problems)
