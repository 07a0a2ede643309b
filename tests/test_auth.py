"""Tokens: listed without the secret, revoked by name; revocation reaches every worker within CACHE_S."""

from __future__ import annotations

import time

import pytest

from router import auth
from router.errors import AuthError, NotFound


def test_a_listed_token_shows_when_it_was_last_used_but_never_itself(ctx) -> None:
    token = auth.create_token(ctx.db, "reviewer", "ann")
    [row] = [r for r in auth.list_tokens(ctx.db) if r["name"] == "ann"]
    assert row["role"] == "reviewer" and row["created_at"] and row["last_used_at"] is None
    assert token not in repr(row) and "token_hash" not in row
    auth._CACHE.clear()
    auth.authenticate(ctx.db, f"Bearer {token}")
    [row] = [r for r in auth.list_tokens(ctx.db) if r["name"] == "ann"]
    assert row["last_used_at"] is not None


def test_revoking_a_token_refuses_it_at_once_in_this_worker(ctx) -> None:
    token = auth.create_token(ctx.db, "admin", "bob")
    assert auth.authenticate(ctx.db, f"Bearer {token}").name == "bob"  # now cached
    [revoked] = auth.revoke_tokens(ctx.db, "bob")
    assert revoked["name"] == "bob" and revoked["revoked_at"]
    with pytest.raises(AuthError, match="unknown or revoked"):
        auth.authenticate(ctx.db, f"Bearer {token}")
    assert [r["name"] for r in auth.list_tokens(ctx.db, include_revoked=True) if r["revoked_at"]] == ["bob"]
    with pytest.raises(NotFound):
        auth.revoke_tokens(ctx.db, "bob")


def test_another_workers_revocation_is_seen_within_the_cache_time(ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CACHE_S", 0.3)
    token = auth.create_token(ctx.db, "viewer", "cy")
    auth.authenticate(ctx.db, f"Bearer {token}")
    auth.revoke_tokens(ctx.db, "cy")
    auth._CACHE[auth._hash(token)] = (time.monotonic(), auth.Principal("cy", "viewer"))  # as another worker has it
    assert auth.authenticate(ctx.db, f"Bearer {token}").name == "cy"
    time.sleep(0.35)
    with pytest.raises(AuthError):
        auth.authenticate(ctx.db, f"Bearer {token}")


def test_a_session_ends_with_its_token_and_at_sign_out(ctx) -> None:
    token = auth.create_token(ctx.db, "admin", "dee")
    who = auth.authenticate(ctx.db, f"Bearer {token}")
    first, second = auth.start_session(ctx.db, who), auth.start_session(ctx.db, who)
    assert auth.session_alive(ctx.db, first) and auth.session_alive(ctx.db, second)
    auth.end_session(ctx.db, first)
    assert not auth.session_alive(ctx.db, first) and auth.session_alive(ctx.db, second)
    [revoked] = auth.revoke_tokens(ctx.db, "dee")
    assert revoked["sessions_ended"] == 1
    assert not auth.session_alive(ctx.db, second)
