"""Everything a service needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
        return PluginHost(self.settings.plugin_dirs)

    @cached_property
    def _file_ruleset(self) -> RuleSet:
        return load_ruleset_file(self.settings.rules_file)

    def ruleset(self) -> RuleSet:
        """The rule set in force."""
        return self._file_ruleset


def build_context(settings: Settings) -> Context:
    db = Database(settings.database_url)
    store = ModelStore(settings.models_dir)
    return Context(settings, db, store, ModelRuntime(db, store, settings.model_poll_s))
