"""Functions rule conditions may call, registered as the router's own plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..hooks import hookimpl


@hookimpl
def router_rule_functions() -> Mapping[str, Callable[..., Any]]:
    try:
        from .expr import builtin_functions
    except ImportError:  # the evaluator is optional until rules are used
        return {}
    return builtin_functions()
