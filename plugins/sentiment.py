"""Negative sentiment with VADER (its lexicon ships in the package): ``sentiment(text)`` for rules,
and a higher priority for clearly negative tickets."""

from __future__ import annotations

from functools import cache
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"threshold": -0.5, "priority": "high"}
_MAX_CHARS = 5000


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score in [-1, 1]; negative is unhappy."""
    return float(_analyzer().polarity_scores(str(text or "")[:_MAX_CHARS])["compound"])


@hookimpl
def router_configure(config: dict[str, Any]) -> None:
    CONFIG.update(config or {})


@hookimpl
def router_rule_functions() -> dict[str, Any]:
    return {"sentiment": sentiment}


@hookimpl
def router_adjust_decision(decision: dict[str, Any], ticket: dict[str, Any]) -> None:
    score = sentiment(ticket.get("text", ""))
    if score > float(CONFIG["threshold"]):
        return
    decision["priority"] = raise_priority(decision["priority"], CONFIG["priority"])
    if "negative_sentiment" not in decision["tags"]:
        decision["tags"].append("negative_sentiment")
    decision["explanation"].setdefault("plugins", []).append(
        {"plugin": "sentiment", "why": f"sentiment {score:.2f} <= {CONFIG['threshold']}"}
    )
