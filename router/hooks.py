"""Hook specifications: how plugins extend the router.

Every hook is prefixed ``router_``. A plugin implements the ones it needs with
``@hookimpl`` and may accept fewer arguments than the spec, so specs can grow without breaking
plugins. The router's own behaviour (webhook adapters, rule functions) is registered as plugins too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

PROJECT = "ticket_router"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def router_configure(config: Mapping[str, Any], settings: Any, db: Any) -> None:
    """Receive configuration once, after all plugins are loaded.

    ``config`` is this plugin's own section of the plugin configuration file (by plugin name,
    empty when absent); ``settings`` and ``db`` are the router's settings and database.
    """


@hookspec
def router_webhook_adapters() -> list[Any]:
    """Return :class:`router.adapters.Adapter` objects, one per helpdesk source.

    Called once when the plugin manager is built. Not ``firstresult``: every plugin's adapters are
    collected; a later plugin cannot replace a source that is already registered.
    """


@hookspec
def router_connectors(settings: Any) -> list[Any]:
    """Return connectors (:class:`router.helpdesks.Connector`) that write decisions back.

    Called once per process when delivery starts. Each connector has a ``source``: tickets that
    came from that source are written back by it, in the mode ``ROUTER_WRITEBACK_<SOURCE>``
    sets (``suggest`` or ``route``). Not ``firstresult``: every plugin's connectors are collected;
    the first connector for a source keeps it. The built-in Zendesk, Freshdesk and callback
    connectors are registered as a plugin (``router.helpdesks``).
    """


@hookspec
def router_rule_functions(settings: Any, db: Any) -> Mapping[str, Callable[..., Any]]:
    """Return functions that rule conditions may call, by name (e.g. ``sentiment``).

    ``settings`` is the :class:`router.config.Settings`, ``db`` the :class:`router.db.Database`
    (for functions that count stored decisions). Collected once per process from every plugin;
    the first plugin to register a name keeps it. Functions receive plain values and must be
    quick: a rule's evaluation is bounded in time.
    """


@hookspec
def router_adjust_decision(decision: dict[str, Any], ticket: dict[str, Any], prediction: dict[str, Any]) -> None:
    """Change ``decision`` in place after the rules ran (queue, priority, tags, escalation, review).

    Called for every decision, in plugin registration order. A plugin that raises is logged and
    counted; the decision is still returned.
    """


@hookspec
def router_on_escalation(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    """React to an escalated decision (notify someone, open an incident) after it is committed."""


@hookspec
def router_on_review_request(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    """React to a decision that needs a person, after it is committed."""


@hookspec
def router_alert(alert: dict[str, Any]) -> None:
    """Tell the maintainers something moved: ``alert`` has ``key`` (stable, for de-duplication),
    ``severity`` (info, warning, critical), ``title``, ``message`` and optional ``figures``;
    monitoring alerts also carry ``recovered`` (True on the one notice sent when a problem clears)
    and ``at`` (ISO time).

    Notifier plugins implement this; every implementation is called. The built-in log, webhook
    and e-mail notifiers (``router.monitoring.notifiers``) are registered as plugins.
    """


@hookspec
def router_on_review_outcome(outcome: dict[str, Any], ticket: dict[str, Any]) -> None:
    """React to a reviewer's correction, after the label is committed (e.g. write the queue back).

    Called once per committed label whose intent or queue differs from the model's decision; not
    ``firstresult``: every plugin is called. ``outcome`` is the label (``reviewer``, ``intent``,
    ``queue``, ``note``, ``model_intent``, ``model_queue``, ``model_version``, ``overridden``,
    ``corrected``) with ``item_id``, ``item_status`` (``resolved``, or ``open`` while an item still
    waits for more reviewers), ``labels_needed``, ``labels_count``, ``decision_id``, ``revision`` and
    ``ticket`` (``source``, ``id``); ``ticket`` is the stored ticket (subject, body, text, requester, ...).
    """
