"""Everything a service needs, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .config import Settings
from .db import Database
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
    def _file_ruleset(self) -> RuleSet:
        return load_ruleset_file(self.settings.rules_file, functions=self.rule_functions)

    def ruleset(self) -> RuleSet:
        """The rule set in force."""
        return self._file_ruleset


def build_context(settings: Settings) -> Context:
    db = Database(settings.database_url)
    store = ModelStore(settings.models_dir)
    return Context(settings, db, store, ModelRuntime(db, store, settings.model_poll_s))
