"""Everything a service needs, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .config import Settings
from .db import Database
from .errors import ServiceUnavailable
from .plugins import PluginHost
from .registry.runtime import ModelRuntime
from .registry.store import ModelStore
from .routing.ruleset import RuleSet, load_ruleset_file


@dataclass
class Context:
    settings: Settings
    db: Database
    store: ModelStore
    runtime: ModelRuntime

    @cached_property
    def plugins(self) -> PluginHost:
        host = PluginHost(self.settings.plugin_dirs)
        host.configure(self.settings.plugin_config, self.settings, self.db)
        return host

    @cached_property
    def rule_functions(self) -> dict[str, Callable[..., Any]]:
        """Every function rule conditions may call, from the built-ins and the plugins."""
        found: dict[str, Callable[..., Any]] = {}
        for group in self.plugins.call_each("router_rule_functions", settings=self.settings, db=self.db):
            for name, fn in dict(group).items():
                found.setdefault(name, fn)
        return found

    @cached_property
    def delivery(self) -> Any:
        """This process's delivery worker (started by ``router serve``; tests drive ``run_once``)."""
        from .delivery import DeliveryWorker

        return DeliveryWorker(self)

    def connectors(self) -> dict[str, Any]:
        """Write-back connectors by the source whose tickets they write to."""
        found: dict[str, Any] = self.plugins.connectors(self.settings)
        return found

    def check_helpdesk_groups(self, ruleset: RuleSet) -> None:
        """Refuse a rule set whose queues have no group in a helpdesk the router routes in."""
        from .helpdesks import check_groups

        check_groups(ruleset, self.connectors(), self.settings)

    def file_ruleset_text(self) -> str:
        return self.settings.rules_file.read_text()

    @cached_property
    def rules(self) -> Any:
        from .services.rules import RulesHolder

        return RulesHolder(
            self.db,
            lambda: load_ruleset_file(self.settings.rules_file, functions=self.rule_functions),
            lambda: self.rule_functions,
            self.settings.model_poll_s,
        )

    def ruleset(self) -> RuleSet:
        """The rule set in force (the saved active version, or the file until one is saved)."""
        ruleset: RuleSet = self.rules.current()
        return ruleset

    def predictor(self) -> Callable[[str], Mapping[str, Any]] | None:
        """The active model's prediction as a dict, or None when no model is active."""
        try:
            model = self.runtime.current().model
        except ServiceUnavailable:
            return None
        return lambda text: model.predict(text).to_dict()


def build_context(settings: Settings) -> Context:
    db = Database(settings.database_url)
    store = ModelStore(settings.models_dir)
    return Context(settings, db, store, ModelRuntime(db, store, settings.model_poll_s))
