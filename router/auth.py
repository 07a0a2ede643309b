"""Bearer tokens and the admin sessions signed in with them.

A token is printed once when created and stored only as its SHA-256. It can be listed (never
shown again) and revoked; revoking it ends the admin sessions signed in with it. Each worker keeps
what it looked up for at most ``CACHE_S`` seconds, so a revocation or a sign-out reaches every
worker within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from .db import ApiToken, Database
from .db.web_sessions import WebSession
from .errors import AuthError, ForbiddenError, NotFound, ValidationError

# Each role includes the permissions of those after it; `ingest` may only post tickets.
ROLES = ("admin", "reviewer", "viewer", "ingest")
_RANK = {"admin": 3, "reviewer": 2, "viewer": 1, "ingest": 0}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token_id: int | None = field(default=None, compare=False)

    def allows(self, needed: str) -> bool:
        if needed == "ingest":
            return self.role in ("admin", "ingest")
        return self.role != "ingest" and _RANK[self.role] >= _RANK[needed]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, role: str, name: str = "") -> str:
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", errors={"role": ["unknown"]})
    token = "tr_" + secrets.token_urlsafe(32)
    with db.session() as s:
        s.add(ApiToken(name=name or role, role=role, token_hash=_hash(token)))
    return token


_CACHE: dict[str, tuple[float, Principal]] = {}
CACHE_S = 5.0  # a token revoked in the database keeps working in a worker for at most this long
LAST_USED_EVERY_S = 60.0  # `last_used_at` is written at most this often per token (it is a hint, not a log)


def authenticate(db: Database, authorization: str | None) -> Principal:
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthError("a bearer token is required: Authorization: Bearer <token>")
    digest = _hash(authorization[len("Bearer ") :].strip())
    cached = _CACHE.get(digest)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    principal = _lookup(db, digest)
    if len(_CACHE) > 10_000:
        _CACHE.clear()
    _CACHE[digest] = (time.monotonic(), principal)
    return principal


def _lookup(db: Database, digest: str) -> Principal:
    with db.session() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))).first()
        if row is None:
            raise AuthError("unknown or revoked token")
        now = datetime.now(UTC)
        if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=LAST_USED_EVERY_S):
            row.last_used_at = now
        return Principal(row.name, row.role, row.id)


def list_tokens(db: Database, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Every token's name, role, id and dates, oldest first; never the token or its hash."""
    with db.session() as s:
        query = select(ApiToken).order_by(ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        return [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in s.scalars(query)
        ]


def revoke_tokens(db: Database, name: str) -> list[dict[str, Any]]:
    """Revoke every live token named ``name`` and end the admin sessions signed in with them."""
    now = datetime.now(UTC)
    with db.session() as s:
        rows = list(s.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))))
        if not rows:
            raise NotFound(f"no live token is named {name!r}; `router tokens list` shows them")
        ids = [t.id for t in rows]
        for t in rows:
            t.revoked_at = now
            _CACHE.pop(t.token_hash, None)
        result = s.execute(
            update(WebSession)
            .where(WebSession.token_id.in_(ids), WebSession.ended_at.is_(None))
            .values(ended_at=now, ended_why="token revoked")
        )
        ended = int(getattr(result, "rowcount", 0) or 0)
        revoked = [{"id": t.id, "name": t.name, "role": t.role, "revoked_at": now} for t in rows]
    _SESSIONS.clear()  # this worker forgets at once; the others within CACHE_S
    return [{**r, "sessions_ended": ended} for r in revoked]


# --- admin sessions ------------------------------------------------------------------------------------

_SESSIONS: dict[str, tuple[float, bool]] = {}


def start_session(db: Database, principal: Principal) -> str:
    """A new session id for ``principal`` (signed in with a token); only its hash is stored."""
    if principal.token_id is None:
        raise ValidationError("a session needs the token it was signed in with")
    sid = secrets.token_urlsafe(32)
    with db.session() as s:
        s.add(WebSession(sid_hash=_hash(sid), token_id=principal.token_id))
    return sid


def session_alive(db: Database, sid: str) -> bool:
    """True while the session has not ended and its token is not revoked (looked up at most every CACHE_S)."""
    digest = _hash(sid)
    cached = _SESSIONS.get(digest)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    with db.session() as s:
        alive = (
            s.scalar(
                select(WebSession.id)
                .join(ApiToken, ApiToken.id == WebSession.token_id)
                .where(WebSession.sid_hash == digest, WebSession.ended_at.is_(None), ApiToken.revoked_at.is_(None))
            )
            is not None
        )
    if len(_SESSIONS) > 10_000:
        _SESSIONS.clear()
    _SESSIONS[digest] = (time.monotonic(), alive)
    return alive


def end_session(db: Database, sid: str, why: str = "signed out") -> None:
    """End a session in every worker (this one at once, the others within CACHE_S)."""
    digest = _hash(sid)
    with db.session() as s:
        s.execute(
            update(WebSession)
            .where(WebSession.sid_hash == digest, WebSession.ended_at.is_(None))
            .values(ended_at=datetime.now(UTC), ended_why=why)
        )
    _SESSIONS[digest] = (time.monotonic(), False)


def require(principal: Principal, role: str) -> None:
    if not principal.allows(role):
        raise ForbiddenError(f"this needs the {role} role; your token has {principal.role}")
