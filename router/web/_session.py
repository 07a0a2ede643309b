"""Who is signed in, what their role allows, and the CSRF token every form carries.

The session cookie (Flask's signed cookie: HttpOnly, SameSite=Lax) holds the reviewer's name and
role, when they signed in, a random session id and a random CSRF token; never the bearer token
itself. The session id's row (``web_sessions``) ends at sign-out or when the token is revoked, and
every worker checks it, so a copied cookie stops working too. Every POST to
the admin pages must echo the CSRF token, in the form field ``csrf_token`` or the header
``X-CSRF-Token``; the comparison is constant-time.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..auth import Principal, end_session, session_alive, start_session
from ..context import Context

F = TypeVar("F", bound=Callable[..., Any])
SESSION_HOURS = 12  # a session ends after this long even if the browser stays open
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_WORDS = {
    "viewer": "read the pages",
    "reviewer": "work the review queue",
    "admin": "change rules and models",
}


class Refused(Exception):
    """The signed-in person's role does not allow this; rendered as a 403 page (or JSON)."""

    def __init__(self, needed: str, action: str) -> None:
        super().__init__(action)
        self.needed = needed
        self.action = action


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


def ctx() -> Context:
    context: Context = current_app.extensions["router"]
    return context


def csrf_token() -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one too)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf") or ""
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not expected or not given or not secrets.compare_digest(str(expected), str(given)):
        raise CsrfFailed()


def sign_in(principal: Principal) -> None:
    """Start a fresh session for ``principal`` (a new session id and CSRF token: no fixation).

    The session is recorded with the token it was signed in with, so it ends everywhere when the
    person signs out or the token is revoked, even in a copy of the cookie.
    """
    session.clear()
    g.pop("router_user", None)
    session["sid"] = start_session(ctx().db, principal)
    session["user"] = {"name": principal.name, "role": principal.role}
    session["since"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        end_session(ctx().db, sid)
    session.clear()
    g.pop("router_user", None)


def current_user() -> Principal | None:
    if "router_user" in g:
        user_now: Principal | None = g.router_user
        return user_now
    g.router_user = found = _session_user()
    return found


def _session_user() -> Principal | None:
    user, sid = session.get("user"), session.get("sid")
    if not isinstance(user, dict) or not isinstance(sid, str) or not sid:
        return None
    if time.time() - float(session.get("since") or 0) > SESSION_HOURS * 3600 or not session_alive(ctx().db, sid):
        session.clear()
        return None
    return Principal(str(user.get("name", "")), str(user.get("role", "")))


def wants_json() -> bool:
    return request.path.startswith("/admin/api/") or request.accept_mimetypes.best == "application/json"


def need(role: str, action: str) -> Principal:
    """The signed-in person, when their role allows ``action``; otherwise ``Refused`` (403)."""
    user = current_user()
    if user is None:
        abort(401)
    if not user.allows(role):
        raise Refused(role, action)
    return user


def page(role: str, action: str = "see this page") -> Callable[[F], F]:
    """The view needs a signed-in person with at least ``role``; others go to sign-in or get 403."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user() is None:
                if wants_json():
                    abort(401)
                return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
            need(role, action)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def refused_page(exc: Refused) -> tuple[str, int]:
    user = current_user()
    role = user.role if user else "none"
    message = (
        f"You cannot {exc.action}: it needs the {exc.needed} role, and you are signed in as "
        f"{user.name if user else 'nobody'} ({role}, who may {ROLE_WORDS.get(role, 'do nothing here')}). "
        "Nothing was changed."
    )
    return render_template("admin/error.html", title="Not allowed", message=message, status=403), 403


def csrf_page() -> tuple[str, int]:
    message = (
        "This form was not sent from a page of this site in your current session (its security token "
        "is missing or out of date), so it was refused and nothing was changed. Reload the page and try again."
    )
    return render_template("admin/error.html", title="Form refused", message=message, status=400), 400


def safe_next(target: str | None) -> str:
    """Only a local path: a sign-in link must not send people to another site.

    Browsers drop tabs and newlines from a Location (``/%09/evil.example/`` becomes ``//evil.example/``)
    and treat a backslash as a slash, so any whitespace, control character or backslash is refused,
    as is anything with a scheme or host; the fallback is the home page.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(c.isspace() or not c.isprintable() for c in target)
    ):
        return url_for("web.home")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("web.home")


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response
