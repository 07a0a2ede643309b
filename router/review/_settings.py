"""Review settings read from the environment (kept out of ``router/config.py`` on purpose).

``ROUTER_REVIEW_CLAIM_MINUTES`` (default 15): how long a claim holds before the item comes back.
``ROUTER_REVIEW_LABELS`` (default none): reviewers needed per reason, e.g. ``high_stakes=2,novel=2``;
a reason not listed needs one. An item needs the most any of its reasons asks for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from ..errors import ConfigError

DEFAULT_CLAIM_MINUTES = 15.0


def claim_ttl(env: Mapping[str, str] | None = None) -> timedelta:
    raw = (env if env is not None else os.environ).get("ROUTER_REVIEW_CLAIM_MINUTES", "")
    try:
        minutes = float(raw) if raw.strip() else DEFAULT_CLAIM_MINUTES
    except ValueError as exc:
        raise ConfigError(f"ROUTER_REVIEW_CLAIM_MINUTES must be a number of minutes, got {raw!r}") from exc
    if minutes <= 0:
        raise ConfigError(f"ROUTER_REVIEW_CLAIM_MINUTES must be positive, got {raw!r}")
    return timedelta(minutes=minutes)


def labels_per_reason(env: Mapping[str, str] | None = None) -> dict[str, int]:
    raw = (env if env is not None else os.environ).get("ROUTER_REVIEW_LABELS", "")
    found: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        reason, _, count = part.partition("=")
        try:
            n = int(count)
        except ValueError:
            n = 0
        if not reason.strip() or n < 1:
            raise ConfigError(f"ROUTER_REVIEW_LABELS must look like 'high_stakes=2,novel=2', got {raw!r}")
        found[reason.strip()] = n
    return found


def labels_needed(reasons: list[str], env: Mapping[str, str] | None = None) -> int:
    per_reason = labels_per_reason(env)
    return max([1, *(per_reason.get(r, 1) for r in reasons)])
