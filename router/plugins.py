"""The plugin manager: built-ins, modules in the plugin directories, and installed entry points.

A plugin that fails to import, or raises inside a hook, is isolated: logged, counted in
``router_plugin_errors_total``, and the ticket still gets its decision.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import yaml

from . import hooks
from .adapters import Adapter, BuiltinAdapters
from .errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    name: str
    origin: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


class PluginHost:
    """The pluggy manager plus a record of where each plugin came from and what failed."""

    def __init__(self, plugin_dirs: Iterable[Path] = (), entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hooks.PROJECT)
        self.pm.add_hookspecs(hooks)
        self.infos: list[PluginInfo] = []
        self._connectors: dict[str, Any] | None = None
        self._dispatch: dict[str, tuple[list[Any], tuple[tuple[Any, str, tuple[str, ...]], ...]]] = {}
        self.register(BuiltinAdapters(), "builtin-adapters", "router.adapters")
        from .helpdesks import BuiltinConnectors

        self.register(BuiltinConnectors(), "builtin-connectors", "router.helpdesks")
        from .routing import functions

        self.register(functions, "builtin-functions", "router.routing.functions")
        from .monitoring.notifiers import builtin_notifiers

        for notifier, name in builtin_notifiers():
            self.register(notifier, name, f"router.monitoring.notifiers.{type(notifier).__name__}")
        for directory in plugin_dirs:
            self._load_dir(Path(directory))
        if entry_points:
            self._load_entry_points()
        self.pm.check_pending()

    def register(self, plugin: Any, name: str, origin: str) -> None:
        self.pm.register(plugin, name=name)
        impls = [h.name for h in self.pm.get_hookcallers(plugin) or []]
        self.infos.append(PluginInfo(name, origin, sorted(impls)))

    def _load_dir(self, directory: Path) -> None:
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            name = f"router_plugin_{path.stem}"
            try:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                self.register(module, path.stem, str(path))
            except Exception as exc:
                sys.modules.pop(name, None)
                self._failed(path.stem, str(path), exc)

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=hooks.PROJECT):
            try:
                self.register(ep.load(), ep.name, f"entry point {ep.value}")
            except Exception as exc:
                self._failed(ep.name, f"entry point {ep.value}", exc)

    def _failed(self, name: str, origin: str, exc: BaseException) -> None:
        from .monitoring.metrics import PLUGIN_ERRORS

        log.error("plugin %s from %s failed to load: %s", name, origin, exc, exc_info=exc)
        PLUGIN_ERRORS.labels(plugin=name, hook="load").inc()
        self.infos.append(PluginInfo(name, origin, [], f"{type(exc).__name__}: {exc}"))

    def configure(self, config_file: Path | None, settings: Any, db: Any) -> None:
        """Hand each plugin its section of the configuration file (by plugin name)."""
        config: dict[str, Any] = {}
        if config_file is not None and Path(config_file).is_file():
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"plugin configuration {config_file} must be a mapping of plugin name to settings")
            config = loaded
        from .monitoring.metrics import PLUGIN_ERRORS

        for impl in self.pm.hook.router_configure.get_hookimpls():
            section = config.get(impl.plugin_name) or {}
            args = {"config": section, "settings": settings, "db": db}
            try:
                impl.function(**{k: args[k] for k in impl.argnames})
            except Exception as exc:
                log.error("plugin %s failed to configure: %s", impl.plugin_name, exc, exc_info=exc)
                PLUGIN_ERRORS.labels(plugin=impl.plugin_name, hook="router_configure").inc()

    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of a hook on its own, so one failing plugin cannot stop the others."""
        results = []
        for function, plugin_name, argnames in self._calls(hook_name):
            try:
                result = function(**{k: kwargs[k] for k in argnames if k in kwargs})
            except Exception as exc:
                from .monitoring.metrics import PLUGIN_ERRORS

                log.error("plugin %s raised in %s: %s", plugin_name, hook_name, exc, exc_info=exc)
                PLUGIN_ERRORS.labels(plugin=plugin_name, hook=hook_name).inc()
                continue
            if result is not None:
                results.append(result)
        return results

    def _calls(self, hook_name: str) -> tuple[tuple[Any, str, tuple[str, ...]], ...]:
        """A hook's implementations in call order with the arguments each takes, worked out again only
        when a plugin is registered or unregistered (hooks run several times for every ticket)."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        cached = self._dispatch.get(hook_name)
        if cached is None or cached[0] != impls:
            calls = tuple((i.function, i.plugin_name, tuple(i.argnames)) for i in reversed(impls))
            cached = self._dispatch[hook_name] = (impls, calls)
        return cached[1]

    def connectors(self, settings: Any) -> dict[str, Any]:
        """Write-back connectors by source, built once per process from every plugin."""
        if self._connectors is None:
            found: dict[str, Any] = {}
            for group in self.call_each("router_connectors", settings=settings):
                for connector in group:
                    if connector.source in found:
                        log.warning("connector for source %r registered twice; keeping the first", connector.source)
                        continue
                    found[connector.source] = connector
            self._connectors = found
        return self._connectors

    @functools.cached_property
    def adapters(self) -> dict[str, Adapter]:
        """Webhook adapters by source, collected once (plugins are loaded when the host is built)."""
        found: dict[str, Adapter] = {}
        for group in self.call_each("router_webhook_adapters"):
            for adapter in group:
                if adapter.source in found:
                    log.warning("webhook adapter %r registered twice; keeping the first", adapter.source)
                    continue
                found[adapter.source] = adapter
        return found
