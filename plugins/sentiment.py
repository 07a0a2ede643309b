"""Negative sentiment with VADER (its lexicon ships in the package): ``sentiment(text)`` for rules,
and a higher priority for clearly negative tickets."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

from router.hooks import hookimpl
from router.routing.engine import raise_priority

CONFIG: dict[str, Any] = {"threshold": -0.5, "priority": "high"}
_MAX_CHARS = 5000


class _Analyzer(SentimentIntensityAnalyzer):
    """VADER without its character-by-character copy of a text that holds no emoji (nearly every ticket).

    ``polarity_scores`` first rebuilds the text one character at a time, replacing each emoji with its
    description; with no emoji the rebuilt text is the text itself. The rest is VADER 3.3.2's method
    as it is, so the scores are the same.
    """

    def polarity_scores(self, text: str) -> Any:
        if not self.emojis.keys().isdisjoint(text):
            return super().polarity_scores(text)
        text = text.strip()
        sentitext = SentiText(text)
        sentiments: list[float] = []
        words_and_emoticons = sentitext.words_and_emoticons
        for i, item in enumerate(words_and_emoticons):
            valence = 0
            if item.lower() in BOOSTER_DICT:
                sentiments.append(valence)
                continue
            if (
                i < len(words_and_emoticons) - 1
                and item.lower() == "kind"
                and words_and_emoticons[i + 1].lower() == "of"
            ):
                sentiments.append(valence)
                continue
            sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        return self.score_valence(sentiments, text)


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # The shortcut repeats the body of VADER 3.3.2's polarity_scores; any other version runs as shipped.
    return _Analyzer() if version("vaderSentiment") == "3.3.2" else SentimentIntensityAnalyzer()


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
