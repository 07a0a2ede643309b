"""Functions rule conditions may call, registered as the router's own plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..hooks import hookimpl
from .expr import builtin_functions


@hookimpl
def router_rule_functions() -> Mapping[str, Callable[..., Any]]:
    return builtin_functions()
