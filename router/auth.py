"""Bearer tokens: printed once when created, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from .db import ApiToken, Database
from .errors import AuthError, ForbiddenError, ValidationError

# Each role includes the permissions of those after it; `ingest` may only post tickets.
ROLES = ("admin", "reviewer", "viewer", "ingest")
_RANK = {"admin": 3, "reviewer": 2, "viewer": 1, "ingest": 0}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

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
        return Principal(row.name, row.role)


def require(principal: Principal, role: str) -> None:
    if not principal.allows(role):
        raise ForbiddenError(f"this needs the {role} role; your token has {principal.role}")
