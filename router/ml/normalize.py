"""Ticket text normalisation, applied before anything classifies or stores ``text``.

Helpdesks send HTML, entities, quoted replies and signatures. The model was trained on one
plain sentence or two, so we cut what the customer did not write *this time*: markup, the
quoted thread below "On ... wrote:" and the signature block.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "hr",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})
_HTML_HINT = re.compile(r"<[a-zA-Z!/][^>]*>")

# A line at which everything after is a quoted earlier message.
_QUOTE_HEADERS = [
    re.compile(r"^\s*On .{1,200}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*From:\s.+$", re.IGNORECASE),
    re.compile(r"^\s*_{5,}\s*$"),
    re.compile(r"^\s*#{2,}.*reply above this line.*$", re.IGNORECASE),
]
# A line at which the signature starts.
_SIGNATURE_STARTS = [
    re.compile(r"^--\s*$"),
    re.compile(r"^\s*Sent from my \w+", re.IGNORECASE),
    re.compile(r"^\s*Get Outlook for \w+", re.IGNORECASE),
    re.compile(r"^\s*(best|kind|warm)?\s*(regards|wishes|thanks|cheers|sincerely|thank you)\s*,?\s*$", re.IGNORECASE),
]
_WS = re.compile(r"[ \t\f\v\u00a0\u200b]+")
# A salutation at the very start ("Hi team,", "Hello Anna!", "Dear support", "Good morning,"): it
# says nothing about the intent, and the training data has none, so it only blurs the confidence.
_GREETING = re.compile(
    r"\A\s*(?i:hi+|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day))"
    r"(?:[ \t]+(?:(?i:the\s+)?(?i:team|there|all|everyone|folks|guys|support(?:\s+team)?|sir(?:\s+or\s+madam)?|madam)"
    r"|[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?))?"
    r"[ \t]*(?:[,!:;]+|\n)",
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Markup to plain text, keeping line breaks where blocks end."""
    if not _HTML_HINT.search(text):
        return html.unescape(text)
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def cut_quoted_and_signature(text: str) -> str:
    """Drop quoted earlier messages and the signature, when they can be recognised.

    Never returns empty when the input had words: if cutting would remove everything, the
    text is kept as it was (a ticket that *is* only a forwarded message is still a ticket).
    """
    kept: list[str] = []
    for line in text.split("\n"):
        if line.lstrip().startswith(">"):
            continue
        if any(p.match(line) for p in _QUOTE_HEADERS) or any(p.match(line) for p in _SIGNATURE_STARTS):
            break
        kept.append(line)
    result = "\n".join(kept)
    return result if result.strip() else text


def cut_greeting(text: str) -> str:
    """Drop a leading salutation; never leaves nothing (a ticket that is only "Hello!" stays)."""
    rest = _GREETING.sub("", text, count=1)
    return rest if rest.strip() else text


def normalize_text(text: str | None) -> str:
    """Plain, single-spaced text of what the customer wrote in this message."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_html(text)
    text = cut_quoted_and_signature(text)
    text = cut_greeting(text)
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return " ".join(line for line in lines if line)


def ticket_text(subject: str | None, body: str | None) -> str:
    """The text the model sees: subject and body, normalised, joined."""
    parts = [normalize_text(subject), normalize_text(body)]
    return " ".join(p for p in parts if p)
