"""Ticket text normalisation: what the model sees is what the customer wrote this time."""

from __future__ import annotations

import pytest

from router.ml.normalize import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("<p>Hi &amp; <b>there</b></p><p>line</p>", "Hi & there line", id="html-and-entities"),
        pytest.param("<style>p{}</style><script>alert(1)</script>card lost", "card lost", id="script-and-style"),
        pytest.param("a\t\t b\u00a0 c\r\n\r\nd", "a b c d", id="whitespace"),
        pytest.param(
            "My card is lost!\n\nOn Mon, Jan 1, 2024 at 10:00 Support <s@x.com> wrote:\n> earlier",
            "My card is lost!",
            id="quoted-reply",
        ),
        pytest.param("Help with PIN\n> quoted line\nit is blocked", "Help with PIN it is blocked", id="quote-markers"),
        pytest.param("Where is my card?\n-- \nJohn Smith\nCEO, Acme", "Where is my card?", id="dash-signature"),
        pytest.param("Top up failed\n\nSent from my iPhone", "Top up failed", id="mobile-signature"),
        pytest.param("Refund please\n\nKind regards,\nAnn", "Refund please", id="regards-signature"),
        pytest.param(
            "Issue\n-----Original Message-----\nFrom: a@b.c\nold text", "Issue", id="outlook-original-message"
        ),
        pytest.param("&lt;b&gt;not a tag&lt;/b&gt;", "<b>not a tag</b>", id="escaped-markup-is-text"),
        pytest.param("Hi team,\nMy card was stolen", "My card was stolen", id="greeting-line"),
        pytest.param("Hello Anna! Where is my card?", "Where is my card?", id="greeting-with-a-name"),
        pytest.param("Dear Sir or Madam, please refund me", "please refund me", id="formal-greeting"),
        pytest.param("Hi, I was charged twice\n\nThanks,\nAnna", "I was charged twice", id="greeting-and-signature"),
        pytest.param("Hi my card.\nPlease block it", "Hi my card. Please block it", id="not-a-greeting"),
        pytest.param("Hiking fees?", "Hiking fees?", id="greeting-prefix-of-a-word"),
        pytest.param("Hello!", "Hello!", id="only-a-greeting-is-kept"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_normalize(raw: str | None, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_a_message_that_is_only_a_quote_is_kept() -> None:
    assert normalize_text("> my card was stolen") == "> my card was stolen"
